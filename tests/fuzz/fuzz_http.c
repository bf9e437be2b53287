/*
 * fuzz_http.c — the request parsing helpers of the dashboard server, fed what a
 * client controls: the request path (percent-decoding, the path checks that
 * guard /output/ and /static/), the query string (split on & and = and decoded
 * as the server decodes it), the Range header, event and run ids
 * (Last-Event-ID, ?after=, /run/{id}) and the token. Properties are checked
 * against slow, obvious re-implementations.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gs_http.h"

#define FAIL(...) (fprintf(stderr, "fuzz_http: " __VA_ARGS__), fputc('\n', stderr), abort())

/* Decodes and checks the decoder's contract; returns the length or -1. */
static long decode(const char *in, size_t n, char *out, int plus)
{
    long r = gs_http_decode(in, n, out, plus);
    if (r < 0)
        return r;
    if ((size_t)r > n || out[r] != '\0' || strlen(out) != (size_t)r)
        FAIL("decode broke its contract");
    if (!plus && memchr(in, '%', n) == NULL && ((size_t)r != n || memcmp(in, out, n) != 0))
        FAIL("decode changed a string without escapes");
    return r;
}

/* The slow safe-path rule: relative, and every segment non-empty, not . or .., clean bytes. */
static int safe_slow(const char *p)
{
    if (!*p || *p == '/')
        return 0;
    for (const char *c = p; *c; c++)
        if (*c == '\\' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    char *copy = strdup(p), *save = NULL;
    int ok = 1;
    size_t n = strlen(copy);
    if (copy[n - 1] == '/' || strstr(copy, "//"))
        ok = 0;
    for (char *seg = strtok_r(copy, "/", &save); ok && seg; seg = strtok_r(NULL, "/", &save))
        if (!strcmp(seg, ".") || !strcmp(seg, ".."))
            ok = 0;
    free(copy);
    return ok;
}

static void check_path(const char *raw, size_t n)
{
    char *path = malloc(n + 1);
    if (decode(raw, n, path, 0) >= 0) {
        /* dispatch: "/output/" + rel, rel must be safe to join under the output dir */
        int safe = gs_http_safe_relpath(path);
        if (safe != safe_slow(path))
            FAIL("safe_relpath(\"%s\") = %d", path, safe);
        (void)gs_http_forbidden_name(path);
        const char *m = gs_http_mime(path);
        if (!m || !*m)
            FAIL("no mime type");
        if (safe && strstr(path, ".."))
            for (const char *c = strstr(path, ".."); c; c = strstr(c + 1, ".."))
                if ((c == path || c[-1] == '/') && (c[2] == '/' || c[2] == '\0'))
                    FAIL("a .. segment passed");
    }
    free(path);
}

static void check_query(const char *q, size_t n)
{
    /* as MHD splits it and push_kv decodes both halves (+ as space) */
    char *buf = malloc(n + 1);
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kn = eq ? (size_t)(eq - (q + i)) : j - i;
        decode(q + i, kn, buf, 1);
        if (eq)
            decode(eq + 1, (size_t)(q + j - eq - 1), buf, 1);
        i = j + 1;
    }
    free(buf);
}

static void check_range(const char *h, uint64_t size)
{
    uint64_t a = 7, b = 7;
    int r = gs_http_parse_range(h, size, &a, &b);
    if (r == 1 && !(a <= b && b < size))
        FAIL("range %" PRIu64 "-%" PRIu64 " of %" PRIu64 " from '%s'", a, b, size, h);
    if (r < -1 || r > 1)
        FAIL("range result %d", r);
}

static void check_id(const char *s, size_t n)
{
    int64_t v = -1;
    if (gs_http_parse_id(s, n, &v)) {
        char back[32];
        snprintf(back, sizeof back, "%" PRId64, v);
        if (v <= 0 || strlen(back) != n || memcmp(back, s, n) != 0)
            FAIL("id '%.*s' read as %" PRId64, (int)n, s, v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    /* The whole input as each thing a client sends. */
    check_path(s, size);
    const char *qm = memchr(s, '?', size);
    check_query(qm ? qm + 1 : s, qm ? size - (size_t)(qm + 1 - s) : size);
    check_id(s, size);
    uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_range(s, sizes[i]);
    if (size >= 8) {
        uint64_t fsize;
        memcpy(&fsize, data, 8);
        check_range(s + 8, fsize);
    }
    /* token: the first NUL splits the input into presented and expected */
    const char *t2 = s + strlen(s) + (strlen(s) < size);
    int eq = gs_http_token_eq(s, t2);
    if (eq != (*t2 && strcmp(s, t2) == 0))
        FAIL("token_eq('%s', '%s') = %d", s, t2, eq);
    free(s);
    return 0;
}
