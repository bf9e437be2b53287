/*
 * fuzz_http.c — the request parsing helpers of the dashboard server, fed what a
 * client controls: the request path (percent-decoding, the path checks that
 * guard /output/ and /static/), the query string (split on & and = as MHD
 * splits it, then pushed into a Lua table by the server's own pusher,
 * gs_http_push_query_pair, and read back), the Range header, event and run ids
 * (Last-Event-ID, ?after=, /run/{id}), the Host header and the token.
 * Properties are checked against slow, obvious re-implementations.
 *
 * Inputs run up to -max_len=16384 (tests/fuzz/CMakeLists.txt), past the
 * server's 12 KB request target and far past Lua's buffer size (1 KB): the
 * pusher once read a buffer Lua had freed, but only for a key plus value over
 * 1 KB, which the old 8 KB inputs grown from short seeds never reached. The
 * corpus seeds long queries (query-1k, query-4k, query-12k).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
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

/* What the server's table must hold for one half: decoded (+ as space), or as
 * sent when it has a bad escape or a NUL. Returns the length; *out is set. */
static size_t expected_half(const char *raw, size_t n, char *buf, const char **out)
{
    long r = decode(raw, n, buf, 1);
    *out = r < 0 ? raw : buf;
    return r < 0 ? n : (size_t)r;
}

static void check_query(const char *q, size_t n)
{
    /* As MHD splits it (on & then the first =; the server keeps halves raw),
     * and as the server's pusher sets req.query[key] = value in Lua. A fresh
     * state per input: every allocation is freed by lua_close. */
    lua_State *L = luaL_newstate();
    char *key = malloc(n + 1), *val = malloc(n + 1), *kd = malloc(n + 1), *vd = malloc(n + 1);
    if (!L || !key || !val || !kd || !vd)
        FAIL("out of memory");
    lua_newtable(L);
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kn = eq ? (size_t)(eq - (q + i)) : j - i;
        size_t vn = eq ? (size_t)(q + j - eq - 1) : 0;
        memcpy(key, q + i, kn);
        key[kn] = '\0';
        if (eq)
            memcpy(val, eq + 1, vn);
        val[vn] = '\0';
        const char *ek, *ev;
        size_t ekn = expected_half(key, kn, kd, &ek), evn = expected_half(val, vn, vd, &ev);
        gs_http_push_query_pair(L, key, val);
        if (lua_gettop(L) != 1 || !lua_istable(L, 1))
            FAIL("the pusher left %d values on the stack", lua_gettop(L));
        lua_pushlstring(L, ek, ekn);
        lua_rawget(L, 1);
        size_t gn = 0;
        const char *got = lua_tolstring(L, -1, &gn);
        if (!got || gn != evn || memcmp(got, ev, evn) != 0)
            FAIL("query[%.40s] is %zu bytes '%.40s', want %zu bytes '%.40s'", ek, gn, got ? got : "(nil)", evn, ev);
        lua_pop(L, 1);
        i = j + 1;
    }
    lua_close(L);
    free(key);
    free(val);
    free(kd);
    free(vd);
}

static void check_host(const char *h)
{
    /* the Host check: "name:port" exactly, or the name alone for port 80 */
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        int ok = gs_http_host_is(h, names[i], 8420);
        int want = strncasecmp(h, names[i], n) == 0 && strcmp(h + n, ":8420") == 0;
        if (ok != want)
            FAIL("host_is('%s', '%s', 8420) = %d", h, names[i], ok);
        want = strncasecmp(h, names[i], n) == 0 && (h[n] == '\0' || strcmp(h + n, ":80") == 0);
        if (gs_http_host_is(h, names[i], 80) != want)
            FAIL("host_is('%s', '%s', 80) != %d", h, names[i], want);
    }
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
    const char *qm = strchr(s, '?'); /* the server sees C strings: a NUL ends them */
    const char *qs = qm ? qm + 1 : s;
    check_query(qs, strlen(qs));
    check_host(s);
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
