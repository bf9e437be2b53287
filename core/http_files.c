/*
 * http_files.c — grokspicy.http, serving files: /output (never the database,
 * nothing outside the output folder, ETag and Last-Modified) and /static (the
 * embedded assets).
 */
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
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"
#include "gs_internal.h"
#include "http_internal.h"
#include "http_parts.h"

/* ---- /output ------------------------------------------------------------- */

static int same_file(const struct stat *st, const char *path)
{
    struct stat o;
    return stat(path, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

/* 1 for the database by identity, whatever it is named (a hard link, --db
 * out/state): the file the server found at start, and the database and its
 * -wal, -shm and -journal as they are now (a checkpoint or a new journal makes
 * new files). Decided by stat alone, before any open: closing a descriptor of
 * the database would drop every POSIX lock this process's SQLite holds on it. */
int is_database(gs_http_server *s, const struct stat *st)
{
    if (s->db_known && st->st_dev == s->db_dev && st->st_ino == s->db_ino)
        return 1;
    static const char *const sidecar[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof sidecar / sizeof sidecar[0]; i++)
        if (snprintf(p, sizeof p, "%s%s", s->db_path, sidecar[i]) < (int)sizeof p && same_file(st, p))
            return 1;
    return 0;
}

/* 1 when an open file starts like a SQLite database, WAL or journal: copies and
 * backups (x.db.bak, x.db~, x.db.1) and other databases are never served. */
static int sqlite_content(int fd)
{
    unsigned char head[16];
    ssize_t n = pread(fd, head, sizeof head, 0);
    return n > 0 && gs_http_sqlite_magic(head, (size_t)n);
}

static void http_date(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int etag_match(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    return strstr(inm, etag) != NULL;
}

enum MHD_Result serve_file(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *path,
                           const char *rel, const char *cookie)
{
    if (!gs_http_safe_relpath(rel) || gs_http_forbidden_name(rel))
        return send_error(rq, c, 404, path, "not found", NULL);
    char full[PATH_MAX], real[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", s->output_real, rel) >= (int)sizeof full || !realpath(full, real))
        return send_error(rq, c, 404, path, "not found", NULL);
    size_t rn = strlen(s->output_real);
    if (strncmp(real, s->output_real, rn) != 0 || real[rn] != '/' || gs_http_forbidden_name(real))
        return send_error(rq, c, 404, path, "not found", NULL);
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) || is_database(s, &st))
        return send_error(rq, c, 404, path, "not found", NULL);
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    /* Checked again on what was opened: the name may have been swapped meanwhile. */
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || is_database(s, &st) || sqlite_content(fd)) {
        if (fd >= 0)
            close(fd);
        return send_error(rq, c, 404, path, "not found", NULL);
    }
    char etag[64], lm[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
    http_date(st.st_mtime, lm, sizeof lm);
    uint64_t size = (uint64_t)st.st_size, start = 0, end = size ? size - 1 : 0;
    unsigned status = MHD_HTTP_OK;
    struct MHD_Response *r;
    int range = 0;
    if (etag_match(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"), etag)) {
        close(fd);
        status = MHD_HTTP_NOT_MODIFIED;
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
        range = gs_http_parse_range(rh, size, &start, &end);
        if (range < 0) {
            close(fd);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            r = text_response("text/plain; charset=utf-8", "range not satisfiable\n");
            if (r)
                MHD_add_response_header(r, "Content-Range", cr);
            return queue(rq, c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
        }
        if (size == 0) {
            close(fd);
            r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        } else {
            if (range == 0) {
                start = 0;
                end = size - 1;
            }
            r = MHD_create_response_from_fd_at_offset64(end - start + 1, fd, (int64_t)start);
            if (!r)
                close(fd);
        }
        if (range > 0)
            status = MHD_HTTP_PARTIAL_CONTENT;
    }
    if (!r)
        return MHD_NO;
    if (status != MHD_HTTP_NOT_MODIFIED)
        MHD_add_response_header(r, "Content-Type", gs_http_mime(real));
    if (range > 0) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)start, (unsigned long long)end,
                 (unsigned long long)size);
        MHD_add_response_header(r, "Content-Range", cr);
    }
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Last-Modified", lm);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    return queue(rq, c, status, r);
}

/* ---- /static ------------------------------------------------------------- */

enum MHD_Result serve_static(struct MHD_Connection *c, struct req *rq, const char *path, const char *name,
                             const char *cookie)
{
    char res[512];
    if (!gs_http_safe_relpath(name) || snprintf(res, sizeof res, "static/%s", name) >= (int)sizeof res)
        return send_error(rq, c, 404, path, "not found", NULL);
    size_t len = 0;
    const char *err = NULL;
    char *data = gs_resource_read(res, &len, &err);
    if (!data)
        return send_error(rq, c, 404, path, "not found", NULL);
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the content */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    char etag[40];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)h);
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    if (etag_match(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"), etag)) {
        free(data);
        status = MHD_HTTP_NOT_MODIFIED;
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(data);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", gs_http_mime(name));
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Cache-Control", "public, max-age=86400");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    return queue(rq, c, status, r);
}
