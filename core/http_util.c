/*
 * http_util.c — the server's pure helpers: percent-decoding, path checks,
 * MIME types, Range parsing, ids, token comparison and SSE framing. No I/O,
 * no globals, no MHD: everything here is unit-tested in tests/c/test_http.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "gs_http.h"
#include "gs_vocab.h"

int gs_http_buf_add(gs_http_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void gs_http_buf_free(gs_http_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = b->off = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long gs_http_decode(const char *in, size_t len, char *out, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int h = hexval((unsigned char)in[i + 1]), l = hexval((unsigned char)in[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == 0)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

int gs_http_safe_relpath(const char *p)
{
    if (!p || !*p || *p == '/')
        return 0;
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);
            if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            if (*c == '\0')
                return 1;
            seg = c + 1;
        } else if (*c == '\\' || (unsigned char)*c < 0x20 || *c == 0x7f) {
            return 0;
        }
    }
}

static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int gs_http_forbidden_name(const char *p)
{
    static const char *const bad[] = {".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite",
                                      ".sqlite3", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal",
                                      ".log", "-wal", "-shm", "-journal", ".lock"};
    size_t n = strlen(p);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ends_with_ci(p, n, bad[i]))
            return 1;
    return 0;
}

int gs_http_sqlite_magic(const unsigned char *p, size_t n)
{
    static const unsigned char db[16] = "SQLite format 3"; /* the 16th byte is the NUL */
    static const unsigned char wal1[4] = {0x37, 0x7f, 0x06, 0x82}, wal2[4] = {0x37, 0x7f, 0x06, 0x83};
    static const unsigned char journal[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    return (n >= sizeof db && memcmp(p, db, sizeof db) == 0) ||
           (n >= 4 && (memcmp(p, wal1, 4) == 0 || memcmp(p, wal2, 4) == 0)) ||
           (n >= sizeof journal && memcmp(p, journal, sizeof journal) == 0);
}

int gs_http_host_is(const char *host, const char *name, int port)
{
    size_t n = strlen(name);
    if (!host || strncasecmp(host, name, n) != 0)
        return 0;
    const char *rest = host + n;
    if (*rest == '\0')
        return port == 80;
    if (*rest != ':' || rest[1] < '1' || rest[1] > '9') /* a port as browsers write it: no sign, no leading 0 */
        return 0;
    long v = 0;
    for (const char *c = rest + 1; *c; c++) {
        if (*c < '0' || *c > '9' || v > 65535)
            return 0;
        v = v * 10 + (*c - '0');
    }
    return v == port;
}

size_t gs_http_pct_encode(const char *in, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            out[o++] = (char)*c;
        } else {
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

const char *gs_http_mime(const char *p)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".mp4", "video/mp4"},
        {".webm", "video/webm"},
        {".mov", "video/quicktime"},
        {".mp3", "audio/mpeg"},
        {".wav", "audio/wav"},
        {".json", "application/json"},
        {".md", "text/markdown; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".html", "text/plain; charset=utf-8"},
        {".htm", "text/plain; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    size_t n = strlen(p);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (ends_with_ci(p, n, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Parses digits at *s into *out (no sign, no overflow); 1 if any digit. */
static int parse_u64(const char **s, uint64_t *out)
{
    const char *c = *s;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*c))
        return 0;
    while (isdigit((unsigned char)*c)) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
        c++;
    }
    *s = c;
    *out = v;
    return 1;
}

int gs_http_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "bytes=", 6) != 0)
        return 0;
    h += 6;
    while (*h == ' ')
        h++;
    if (strchr(h, ','))
        return 0; /* several ranges: a full 200 is allowed (RFC 9110 14.2) */
    uint64_t a = 0, b = 0;
    if (*h == '-') { /* suffix: the last N bytes */
        h++;
        if (!parse_u64(&h, &b))
            return 0;
        while (*h == ' ')
            h++;
        if (*h)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *start = b >= size ? 0 : size - b;
        *end = size - 1;
        return 1;
    }
    if (!parse_u64(&h, &a) || *h != '-')
        return 0;
    h++;
    int has_b = parse_u64(&h, &b);
    while (*h == ' ')
        h++;
    if (*h || (has_b && b < a))
        return 0;
    if (a >= size)
        return -1;
    *start = a;
    *end = (!has_b || b >= size) ? size - 1 : b;
    return 1;
}

int gs_http_parse_id(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18 || s[0] == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int gs_http_token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[lb ? i % lb : 0]);
    return lb > 0 && d == 0;
}

/* Appends "prefix" + each line of s + "\n", one line per CR, LF or CRLF break. */
static int add_lines(gs_http_buf *b, const char *prefix, const char *s)
{
    size_t pl = strlen(prefix);
    for (;;) {
        size_t n = strcspn(s, "\r\n");
        if (gs_http_buf_add(b, prefix, pl) || gs_http_buf_add(b, s, n) || gs_http_buf_add(b, "\n", 1))
            return -1;
        s += n;
        if (!*s)
            return 0;
        s += (s[0] == '\r' && s[1] == '\n') ? 2 : 1;
    }
}

int gs_http_sse_frame(gs_http_buf *b, int64_t id, const char *type, const char *data,
                      const char *html)
{
    char num[40];
    if (id > 0) {
        int n = 0;
        char tmp[24];
        int64_t v = id;
        while (v > 0) {
            tmp[n++] = (char)('0' + v % 10);
            v /= 10;
        }
        memcpy(num, "id: ", 4);
        for (int i = 0; i < n; i++)
            num[4 + i] = tmp[n - 1 - i];
        num[4 + n] = '\n';
        if (gs_http_buf_add(b, num, (size_t)n + 5))
            return -1;
    }
    if (type && *type) {
        type = gs_event_wire(type);
        size_t n = strcspn(type, "\r\n"); /* a newline would end the field */
        if (gs_http_buf_add(b, "event: ", 7) || gs_http_buf_add(b, type, n) || gs_http_buf_add(b, "\n", 1))
            return -1;
    }
    const char *payload = html ? html : data ? data : "";
    if (add_lines(b, "data: ", payload) || gs_http_buf_add(b, "\n", 1))
        return -1;
    return 0;
}

int gs_http_sse_terminal(const char *type)
{
    return gs_event_terminal(type);
}
