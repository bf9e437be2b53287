/*
 * http_bundle.c — grokspicy.http, a zip streamed from one run's folder: the
 * answer a web app gives as {zip = {root =, entries =, dirs =}} (web.lua's
 * GET /api/runs/{id}/bundle). The app says what goes in and under which names;
 * this file decides what may: only regular files whose real path lies inside
 * root (a symlink that leaves the run's folder is refused, as /output refuses
 * one that leaves the output folder), never the database, a log, a lock or
 * anything that reads as SQLite.
 *
 * Streamed: the archive is written by libarchive (loaded on first use,
 * archive_loader.c) into a small buffer as libmicrohttpd asks for bytes, one
 * 64 KiB slice of one file at a time; nothing is built in memory or on disk
 * first, so a bundle of gigabytes costs the server the same few hundred KB as a
 * small one. Media (already compressed) are stored, text is deflated.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <lauxlib.h>
#include "gs_internal.h"
#include "http_internal.h"
#include "http_parts.h"

#define SLICE (64 * 1024)          /* bytes of a file read and written per step */
#define MAX_ENTRIES 100000         /* files in one bundle */
#define MAX_DATA (8 * 1024 * 1024) /* bytes of the app's own entries (the plan) in one bundle */

struct bentry {
    char *name;     /* the name in the zip */
    char *real;     /* the file's real path; NULL: data below */
    char *data;
    size_t len;
    dev_t dev;      /* the file as checked when listed: what is opened must be it */
    ino_t ino;
};

struct gs_bundle {
    gs_http_server *s;
    struct bentry *e;
    size_t n, cap, data_bytes;
    char root[PATH_MAX]; /* the real path of the run's folder */

    /* streaming */
    struct archive *a;
    size_t next;      /* the entry to open next */
    int fd;           /* the file being written, -1 between files */
    uint64_t left;    /* its bytes still to write */
    int done;
    char *out;        /* what libarchive wrote and the client has not taken yet */
    size_t out_len, out_off, out_cap;
    char *slice;
};

static void bundle_free(struct gs_bundle *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    archive_write_free(b->a); /* NULL-safe in archive_loader.c */
    for (size_t i = 0; i < b->n; i++) {
        free(b->e[i].name);
        free(b->e[i].real);
        free(b->e[i].data);
    }
    free(b->e);
    free(b->out);
    free(b->slice);
    free(b);
}

static struct bentry *add_entry(struct gs_bundle *b, const char *name)
{
    if (b->n >= MAX_ENTRIES)
        return NULL;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 32;
        struct bentry *e = realloc(b->e, cap * sizeof *e);
        if (!e)
            return NULL;
        b->e = e;
        b->cap = cap;
    }
    struct bentry *e = &b->e[b->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return NULL;
    b->n++;
    return e;
}

/* 1 when full names a regular file whose real path is inside the run's folder
 * and may be served (real gets that path); 0 otherwise. */
static int admissible(struct gs_bundle *b, const char *full, char *real, struct stat *st)
{
    size_t rn = strlen(b->root);
    if (!realpath(full, real) || strncmp(real, b->root, rn) != 0 || real[rn] != '/')
        return 0;
    return !gs_http_forbidden_name(real) && stat(real, st) == 0 && S_ISREG(st->st_mode) &&
           !is_database(b->s, st);
}

static int add_file(struct gs_bundle *b, const char *name, const char *full)
{
    char real[PATH_MAX];
    struct stat st;
    if (!admissible(b, full, real, &st))
        return 0; /* left out: missing, outside the folder, or never served */
    struct bentry *e = add_entry(b, name);
    if (!e || !(e->real = strdup(real)))
        return -1;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    return 0;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every admissible file directly in dir (a path relative to the output
 * folder), named prefix + its own name, in name order. */
static int add_dir(struct gs_bundle *b, const char *prefix, const char *dir)
{
    char full[PATH_MAX], real[PATH_MAX];
    size_t rn = strlen(b->root);
    if (!gs_http_safe_relpath(dir) || snprintf(full, sizeof full, "%s/%s", b->s->output_real, dir) >= (int)sizeof full ||
        !realpath(full, real) || strncmp(real, b->root, rn) != 0 || (real[rn] != '/' && real[rn] != '\0'))
        return 0;
    DIR *d = opendir(real);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.' || !gs_http_safe_relpath(nm) || strlen(prefix) + strlen(nm) >= PATH_MAX)
            continue; /* dot files (.owner.lock) and names no zip reader should be handed */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(names, cap * sizeof *g);
            if (!g) {
                rc = -1;
                break;
            }
            names = g;
        }
        if (!(names[n] = strdup(nm))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n)
        qsort(names, n, sizeof *names, by_name);
    char name[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && snprintf(full, sizeof full, "%s/%s", real, names[i]) < (int)sizeof full) {
            snprintf(name, sizeof name, "%s%s", prefix, names[i]);
            rc = add_file(b, name, full);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* A name in the zip: a relative path without . or .. segments, backslashes or
 * control bytes (gs_http_safe_relpath), so no reader can be led outside the
 * folder it unpacks into. */
static int good_name(const char *name)
{
    return gs_http_safe_relpath(name) && strlen(name) < 1024;
}

/* One {name=, path=|data=} of zip.entries at the top of L's stack: 0, 1 (a bad
 * entry: err says which) or -1 (out of memory or too many). */
static int read_entry(struct gs_bundle *b, lua_State *L, lua_Integer i, char *err, size_t errlen)
{
    char full[PATH_MAX];
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "path");
    lua_getfield(L, -3, "data");
    const char *name = lua_tostring(L, -3), *path = lua_tostring(L, -2);
    size_t dlen = 0;
    const char *data = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &dlen) : NULL;
    int rc = 0;
    if (!name || !good_name(name) || (!path && !data)) {
        snprintf(err, errlen, "the handler's zip entry %lld has a bad name or no content", (long long)i);
        rc = 1;
    } else if (data) {
        struct bentry *e = NULL;
        if ((b->data_bytes += dlen) > MAX_DATA || !(e = add_entry(b, name)) || !(e->data = malloc(dlen ? dlen : 1)))
            rc = -1;
        else {
            memcpy(e->data, data, dlen);
            e->len = dlen;
        }
    } else if (gs_http_safe_relpath(path) && !gs_http_forbidden_name(path) &&
               snprintf(full, sizeof full, "%s/%s", b->s->output_real, path) < (int)sizeof full) {
        rc = add_file(b, name, full); /* a path that may not be served is left out */
    }
    lua_pop(L, 3);
    return rc;
}

/* One {prefix=, path=} of zip.dirs at the top of L's stack: as read_entry. */
static int read_dir(struct gs_bundle *b, lua_State *L, lua_Integer i, char *err, size_t errlen)
{
    lua_getfield(L, -1, "prefix");
    lua_getfield(L, -2, "path");
    const char *prefix = lua_tostring(L, -2), *path = lua_tostring(L, -1);
    size_t pn = prefix ? strlen(prefix) : 0;
    char stem[1024];
    int rc;
    if (!path || pn == 0 || pn >= sizeof stem || prefix[pn - 1] != '/' ||
        (memcpy(stem, prefix, pn - 1), stem[pn - 1] = '\0', !good_name(stem))) {
        snprintf(err, errlen, "the handler's zip folder %lld has a bad prefix or no path", (long long)i);
        rc = 1;
    } else {
        rc = add_dir(b, prefix, path);
    }
    lua_pop(L, 2);
    return rc;
}

/* Calls read on each table of the array field key of the table at idx; stops at the first failure. */
static int read_list(struct gs_bundle *b, lua_State *L, int idx, const char *key,
                     int (*read)(struct gs_bundle *, lua_State *, lua_Integer, char *, size_t), char *err,
                     size_t errlen)
{
    int rc = 0;
    if (lua_getfield(L, idx, key) == LUA_TTABLE) {
        for (lua_Integer i = 1; rc == 0; i++) {
            int is_table = lua_rawgeti(L, -1, i) == LUA_TTABLE;
            if (is_table)
                rc = read(b, L, i, err, errlen);
            lua_pop(L, 1); /* the entry, or the first non-table that ends the list */
            if (!is_table)
                break;
        }
    }
    lua_pop(L, 1);
    return rc;
}

/* Reads zip = {root=, entries={{name=, path=|data=}...}, dirs={{prefix=, path=}...}}
 * at idx. NULL with *status and err set when the answer cannot be served. */
struct gs_bundle *gs_bundle_from_lua(gs_http_server *s, lua_State *L, int idx, unsigned *status, char *err,
                                     size_t errlen)
{
    *status = 500;
    struct gs_bundle *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->s = s;
    b->fd = -1;
    idx = lua_absindex(L, idx);
    char full[PATH_MAX];
    lua_getfield(L, idx, "root");
    const char *root = lua_tostring(L, -1);
    size_t on = strlen(s->output_real);
    if (!root || !gs_http_safe_relpath(root)) {
        snprintf(err, errlen, "the handler's zip has no root folder");
        goto fail;
    }
    if (snprintf(full, sizeof full, "%s/%s", s->output_real, root) >= (int)sizeof full || !realpath(full, b->root) ||
        strncmp(b->root, s->output_real, on) != 0 || b->root[on] != '/') {
        *status = 410;
        snprintf(err, errlen, "the run's folder is gone");
        goto fail;
    }
    lua_pop(L, 1);
    int rc = read_list(b, L, idx, "entries", read_entry, err, errlen);
    if (rc == 0)
        rc = read_list(b, L, idx, "dirs", read_dir, err, errlen);
    if (rc < 0)
        snprintf(err, errlen, "the bundle is too large to list (out of memory or over %d files)", MAX_ENTRIES);
    if (rc)
        goto fail;
    return b;
fail:
    bundle_free(b);
    return NULL;
}

/* ---- streaming ------------------------------------------------------------ */

static la_ssize_t on_write(struct archive *a, void *cls, const void *p, size_t n)
{
    (void)a;
    struct gs_bundle *b = cls;
    if (b->out_len + n > b->out_cap) {
        size_t cap = b->out_cap ? b->out_cap : SLICE + 4096;
        while (cap < b->out_len + n)
            cap *= 2;
        char *o = realloc(b->out, cap);
        if (!o)
            return -1;
        b->out = o;
        b->out_cap = cap;
    }
    memcpy(b->out + b->out_len, p, n);
    b->out_len += n;
    return (la_ssize_t)n;
}

static int compressible(const char *name)
{
    size_t n = strlen(name);
    static const char *const text[] = {".md", ".json", ".txt"};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        size_t k = strlen(text[i]);
        if (n >= k && strcasecmp(name + n - k, text[i]) == 0)
            return 1;
    }
    return 0;
}

static int write_header(struct gs_bundle *b, const char *name, uint64_t size, time_t mtime)
{
    struct archive_entry *ae = archive_entry_new();
    if (!ae)
        return -1;
    archive_entry_set_pathname_utf8(ae, name);
    archive_entry_set_size(ae, (la_int64_t)size);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_mtime(ae, mtime, 0);
    if (compressible(name))
        archive_write_zip_set_compression_deflate(b->a);
    else
        archive_write_zip_set_compression_store(b->a);
    int rc = archive_write_header(b->a, ae);
    archive_entry_free(ae);
    return rc < ARCHIVE_WARN ? -1 : 0;
}

static int finish_entry(struct gs_bundle *b)
{
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
    return archive_write_finish_entry(b->a) < ARCHIVE_WARN ? -1 : 0;
}

/* Opens the next entry's file and checks it is the file that was listed (the
 * name may have been swapped for a link or the database meanwhile): 1 opened,
 * 0 left out, -1 failed. */
static int open_file(struct gs_bundle *b, struct bentry *e)
{
    int fd = open(e->real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    unsigned char head[16];
    if (fd < 0)
        return 0;
    ssize_t hn = pread(fd, head, sizeof head, 0);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != e->dev || st.st_ino != e->ino ||
        is_database(b->s, &st) || (hn > 0 && gs_http_sqlite_magic(head, (size_t)hn))) {
        close(fd);
        return 0;
    }
    if (write_header(b, e->name, (uint64_t)st.st_size, st.st_mtime)) {
        close(fd);
        return -1;
    }
    b->fd = fd;
    b->left = (uint64_t)st.st_size;
    return 1;
}

/* One step: a slice of the open file, the next entry, or the zip's end. 0 or -1. */
static int step(struct gs_bundle *b)
{
    if (b->fd >= 0) {
        size_t want = b->left < SLICE ? (size_t)b->left : SLICE;
        ssize_t got = want ? read(b->fd, b->slice, want) : 0;
        if (got < 0 && errno == EINTR)
            return 0;
        if (got < 0)
            return -1;
        if (got == 0) /* shorter than when it was opened: libarchive pads the entry to its size */
            b->left = 0;
        else if (archive_write_data(b->a, b->slice, (size_t)got) < 0)
            return -1;
        b->left -= (uint64_t)got < b->left ? (uint64_t)got : b->left;
        return b->left == 0 ? finish_entry(b) : 0;
    }
    if (b->next < b->n) {
        struct bentry *e = &b->e[b->next++];
        if (e->real)
            return open_file(b, e) < 0 ? -1 : 0;
        if (write_header(b, e->name, e->len, time(NULL)) ||
            (e->len && archive_write_data(b->a, e->data, e->len) < 0))
            return -1;
        return finish_entry(b);
    }
    b->done = 1;
    return archive_write_close(b->a) < ARCHIVE_WARN ? -1 : 0;
}

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct gs_bundle *b = cls;
    while (b->out_off == b->out_len) {
        b->out_off = b->out_len = 0;
        if (b->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (step(b)) {
            /* Headers are gone: cutting the stream short is how the client learns. */
            fprintf(stderr, "grok-spicy http: bundle: %s\n",
                    archive_error_string(b->a) ? archive_error_string(b->a) : strerror(errno));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = b->out_len - b->out_off < max ? b->out_len - b->out_off : max;
    memcpy(buf, b->out + b->out_off, n);
    b->out_off += n;
    return (ssize_t)n;
}

static void on_free(void *cls)
{
    bundle_free(cls);
}

/* The streamed response of b (which it then owns), or NULL with err set
 * (libarchive could not be loaded or set up; b is freed). */
struct MHD_Response *gs_bundle_response(struct gs_bundle *b, char *err, size_t errlen)
{
    const char *why = gs_archive_load_error();
    if (why) {
        snprintf(err, errlen, "%s", why);
        bundle_free(b);
        return NULL;
    }
    b->a = archive_write_new();
    b->slice = malloc(SLICE);
    /* bytes_per_block 0: every write goes straight to on_write, unblocked and unpadded. */
    if (!b->a || !b->slice || archive_write_set_format_zip(b->a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(b->a, 0) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(b->a, 1) != ARCHIVE_OK ||
        archive_write_open2(b->a, b, NULL, on_write, NULL, NULL) != ARCHIVE_OK) {
        snprintf(err, errlen, "the zip writer could not start: %s",
                 b->a && archive_error_string(b->a) ? archive_error_string(b->a) : "out of memory");
        bundle_free(b);
        return NULL;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SLICE, on_read, b, on_free);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        bundle_free(b);
    }
    return r;
}
