/*
 * archive_loader.c — libarchive loaded on first use. Defines the archive_*
 * entry points the run bundle (http_bundle.c) calls and forwards each to
 * libarchive.so.13, opened with dlopen by the first archive_write_new. Why:
 * libarchive brings its compressors, crypto and XML libraries (a dozen); only
 * GET /api/runs/{id}/bundle needs it, so start-up, flows and a server that
 * never zips pay nothing. When the library cannot be loaded, archive_write_new
 * returns NULL and gs_archive_load_error says which library and why; every
 * other entry point only ever runs on objects archive_write_new made, so after
 * a failed load none is reached. GS_LIBARCHIVE names another library file.
 *
 * The definitions are hidden, as in curl_loader.c: they bind the core's own
 * calls and are never exported.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "gs_internal.h"
#include "gs_util.h"

#define GS_HIDDEN __attribute__((visibility("hidden")))

static struct {
    struct archive *(*write_new)(void);
    int (*set_format_zip)(struct archive *);
    int (*set_bytes_per_block)(struct archive *, int);
    int (*set_bytes_in_last_block)(struct archive *, int);
    int (*zip_store)(struct archive *);
    int (*zip_deflate)(struct archive *);
    int (*open2)(struct archive *, void *, archive_open_callback *, archive_write_callback *,
                 archive_close_callback *, archive_free_callback *);
    int (*write_header)(struct archive *, struct archive_entry *);
    la_ssize_t (*write_data)(struct archive *, const void *, size_t);
    int (*finish_entry)(struct archive *);
    int (*write_close)(struct archive *);
    int (*write_free)(struct archive *);
    const char *(*error_string)(struct archive *);
    struct archive_entry *(*entry_new)(void);
    void (*entry_free)(struct archive_entry *);
    void (*entry_set_pathname_utf8)(struct archive_entry *, const char *);
    void (*entry_set_size)(struct archive_entry *, la_int64_t);
    void (*entry_set_filetype)(struct archive_entry *, unsigned int);
    void (*entry_set_perm)(struct archive_entry *, mode_t);
    void (*entry_set_mtime)(struct archive_entry *, time_t, long);
} fn;

static int loaded;
static char load_error[600];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {
        "archive_write_new",          "archive_write_set_format_zip",
        "archive_write_set_bytes_per_block", "archive_write_set_bytes_in_last_block",
        "archive_write_zip_set_compression_store", "archive_write_zip_set_compression_deflate",
        "archive_write_open2",        "archive_write_header",
        "archive_write_data",         "archive_write_finish_entry",
        "archive_write_close",        "archive_write_free",
        "archive_error_string",       "archive_entry_new",
        "archive_entry_free",         "archive_entry_set_pathname_utf8",
        "archive_entry_set_size",     "archive_entry_set_filetype",
        "archive_entry_set_perm",     "archive_entry_set_mtime"};
    void *const slots[] = {&fn.write_new, &fn.set_format_zip, &fn.set_bytes_per_block, &fn.set_bytes_in_last_block,
                           &fn.zip_store, &fn.zip_deflate, &fn.open2, &fn.write_header, &fn.write_data,
                           &fn.finish_entry, &fn.write_close, &fn.write_free, &fn.error_string, &fn.entry_new,
                           &fn.entry_free, &fn.entry_set_pathname_utf8, &fn.entry_set_size, &fn.entry_set_filetype,
                           &fn.entry_set_perm, &fn.entry_set_mtime};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    loaded = gs_dl_bind("GS_LIBARCHIVE", "libarchive.so.13", names, slots, sizeof names / sizeof names[0],
                        "the run bundle needs libarchive", "libarchive 3.6 or later", load_error, sizeof load_error);
}

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

const char *gs_archive_load_error(void)
{
    return ready() ? NULL : load_error;
}

GS_HIDDEN struct archive *archive_write_new(void)
{
    return ready() ? fn.write_new() : NULL;
}

/* Every entry point below runs on an archive or entry that the loaded library made. */

GS_HIDDEN int archive_write_set_format_zip(struct archive *a)
{
    return fn.set_format_zip(a);
}

GS_HIDDEN int archive_write_set_bytes_per_block(struct archive *a, int n)
{
    return fn.set_bytes_per_block(a, n);
}

GS_HIDDEN int archive_write_set_bytes_in_last_block(struct archive *a, int n)
{
    return fn.set_bytes_in_last_block(a, n);
}

GS_HIDDEN int archive_write_zip_set_compression_store(struct archive *a)
{
    return fn.zip_store(a);
}

GS_HIDDEN int archive_write_zip_set_compression_deflate(struct archive *a)
{
    return fn.zip_deflate(a);
}

GS_HIDDEN int archive_write_open2(struct archive *a, void *cls, archive_open_callback *o, archive_write_callback *w,
                                  archive_close_callback *c, archive_free_callback *f)
{
    return fn.open2(a, cls, o, w, c, f);
}

GS_HIDDEN int archive_write_header(struct archive *a, struct archive_entry *e)
{
    return fn.write_header(a, e);
}

GS_HIDDEN la_ssize_t archive_write_data(struct archive *a, const void *p, size_t n)
{
    return fn.write_data(a, p, n);
}

GS_HIDDEN int archive_write_finish_entry(struct archive *a)
{
    return fn.finish_entry(a);
}

GS_HIDDEN int archive_write_close(struct archive *a)
{
    return fn.write_close(a);
}

GS_HIDDEN int archive_write_free(struct archive *a)
{
    return a ? fn.write_free(a) : ARCHIVE_OK;
}

GS_HIDDEN const char *archive_error_string(struct archive *a)
{
    return ready() ? fn.error_string(a) : load_error;
}

GS_HIDDEN struct archive_entry *archive_entry_new(void)
{
    return ready() ? fn.entry_new() : NULL;
}

GS_HIDDEN void archive_entry_free(struct archive_entry *e)
{
    if (e)
        fn.entry_free(e);
}

GS_HIDDEN void archive_entry_set_pathname_utf8(struct archive_entry *e, const char *p)
{
    fn.entry_set_pathname_utf8(e, p);
}

GS_HIDDEN void archive_entry_set_size(struct archive_entry *e, la_int64_t n)
{
    fn.entry_set_size(e, n);
}

GS_HIDDEN void archive_entry_set_filetype(struct archive_entry *e, unsigned int t)
{
    fn.entry_set_filetype(e, t);
}

GS_HIDDEN void archive_entry_set_perm(struct archive_entry *e, mode_t m)
{
    fn.entry_set_perm(e, m);
}

GS_HIDDEN void archive_entry_set_mtime(struct archive_entry *e, time_t t, long ns)
{
    fn.entry_set_mtime(e, t, ns);
}
