/*
 * test_http.c — the server's pure helpers (decoding, path checks, MIME, Range,
 * ids, token comparison, SSE framing, SQLite magic, Host names, encoding, the
 * query pusher) and the C API end to end over a raw socket: /health, the Host
 * check, the headers every answer carries, an SSE stream fed by
 * gs_store_append_event, and a stop with the stream still open (run under ASan
 * in the sanitizer build), and a tail that starts where serve() returned.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"
#include "testutil.h"

static void test_decode(void)
{
    char out[64];
    CHECK(gs_http_decode("a%20b+c", 7, out, 0) == 5);
    CHECK_STR(out, "a b+c");
    CHECK(gs_http_decode("a%20b+c", 7, out, 1) == 5);
    CHECK_STR(out, "a b c");
    CHECK(gs_http_decode("%2e%2E/%2F", 10, out, 0) == 4);
    CHECK_STR(out, "..//");
    CHECK(gs_http_decode("%00", 3, out, 0) == -1);
    CHECK(gs_http_decode("%2", 2, out, 0) == -1);
    CHECK(gs_http_decode("%", 1, out, 0) == -1);
    CHECK(gs_http_decode("%zz", 3, out, 0) == -1);
    CHECK(gs_http_decode("", 0, out, 0) == 0);
}

static void test_paths(void)
{
    CHECK(gs_http_safe_relpath("runs/1/a.png"));
    CHECK(gs_http_safe_relpath("a..b/c"));
    CHECK(!gs_http_safe_relpath(""));
    CHECK(!gs_http_safe_relpath("/etc/passwd"));
    CHECK(!gs_http_safe_relpath("../x"));
    CHECK(!gs_http_safe_relpath("a/../x"));
    CHECK(!gs_http_safe_relpath("a/.."));
    CHECK(!gs_http_safe_relpath("./a"));
    CHECK(!gs_http_safe_relpath("a//b"));
    CHECK(!gs_http_safe_relpath("a/"));
    CHECK(!gs_http_safe_relpath("a\\..\\b"));
    CHECK(!gs_http_safe_relpath("a\nb"));
    CHECK(gs_http_forbidden_name("out/grok_spicy.db"));
    CHECK(gs_http_forbidden_name("x.DB-WAL"));
    CHECK(gs_http_forbidden_name("x.db-shm"));
    CHECK(gs_http_forbidden_name("x.db-journal"));
    CHECK(gs_http_forbidden_name("x.sqlite"));
    CHECK(gs_http_forbidden_name("run.LOG"));
    CHECK(gs_http_forbidden_name("runs/3/.owner.lock"));
    CHECK(!gs_http_forbidden_name("frame.png"));
    CHECK(!gs_http_forbidden_name("db.png"));
}

static void test_mime(void)
{
    CHECK_STR(gs_http_mime("a.PNG"), "image/png");
    CHECK_STR(gs_http_mime("a.jpg"), "image/jpeg");
    CHECK_STR(gs_http_mime("a.webp"), "image/webp");
    CHECK_STR(gs_http_mime("a.mp4"), "video/mp4");
    CHECK_STR(gs_http_mime("a.webm"), "video/webm");
    CHECK_STR(gs_http_mime("state.json"), "application/json");
    CHECK_STR(gs_http_mime("script.md"), "text/markdown; charset=utf-8");
    CHECK_STR(gs_http_mime("x.html"), "text/plain; charset=utf-8");
    CHECK_STR(gs_http_mime("noext"), "application/octet-stream");
}

static void test_range(void)
{
    uint64_t a = 0, b = 0;
    CHECK(gs_http_parse_range(NULL, 100, &a, &b) == 0);
    CHECK(gs_http_parse_range("bytes=0-9", 100, &a, &b) == 1 && a == 0 && b == 9);
    CHECK(gs_http_parse_range("bytes=90-", 100, &a, &b) == 1 && a == 90 && b == 99);
    CHECK(gs_http_parse_range("bytes=90-500", 100, &a, &b) == 1 && a == 90 && b == 99);
    CHECK(gs_http_parse_range("bytes=-10", 100, &a, &b) == 1 && a == 90 && b == 99);
    CHECK(gs_http_parse_range("bytes=-500", 100, &a, &b) == 1 && a == 0 && b == 99);
    CHECK(gs_http_parse_range("bytes=100-", 100, &a, &b) == -1);
    CHECK(gs_http_parse_range("bytes=-0", 100, &a, &b) == -1);
    CHECK(gs_http_parse_range("bytes=0-0", 0, &a, &b) == -1);
    CHECK(gs_http_parse_range("bytes=5-1", 100, &a, &b) == 0);
    CHECK(gs_http_parse_range("bytes=0-1,5-6", 100, &a, &b) == 0);
    CHECK(gs_http_parse_range("items=0-1", 100, &a, &b) == 0);
    CHECK(gs_http_parse_range("bytes=x-1", 100, &a, &b) == 0);
    CHECK(gs_http_parse_range("bytes=99999999999999999999999-", 100, &a, &b) == 0);
}

static void test_ids_tokens(void)
{
    int64_t v = 0;
    CHECK(gs_http_parse_id("7", 1, &v) && v == 7);
    CHECK(gs_http_parse_id("123456789012345678", 18, &v) && v == 123456789012345678LL);
    CHECK(!gs_http_parse_id("", 0, &v));
    CHECK(!gs_http_parse_id("0", 1, &v));
    CHECK(!gs_http_parse_id("07", 2, &v));
    CHECK(!gs_http_parse_id("-1", 2, &v));
    CHECK(!gs_http_parse_id("1x", 2, &v));
    CHECK(!gs_http_parse_id("1234567890123456789", 19, &v));
    CHECK(gs_http_token_eq("abc", "abc"));
    CHECK(!gs_http_token_eq("abd", "abc"));
    CHECK(!gs_http_token_eq("ab", "abc"));
    CHECK(!gs_http_token_eq("abcd", "abc"));
    CHECK(!gs_http_token_eq("", ""));
}

static void test_sqlite_magic(void)
{
    CHECK(gs_http_sqlite_magic((const unsigned char *)"SQLite format 3\0\x10\0", 18));
    CHECK(!gs_http_sqlite_magic((const unsigned char *)"SQLite format 3", 15)); /* no NUL: text */
    CHECK(!gs_http_sqlite_magic((const unsigned char *)"SQLite format 3!", 16));
    CHECK(gs_http_sqlite_magic((const unsigned char *)"\x37\x7f\x06\x82rest", 8));
    CHECK(gs_http_sqlite_magic((const unsigned char *)"\x37\x7f\x06\x83", 4));
    CHECK(gs_http_sqlite_magic((const unsigned char *)"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", 8));
    CHECK(!gs_http_sqlite_magic((const unsigned char *)"\x89PNG\r\n\x1a\n", 8));
    CHECK(!gs_http_sqlite_magic((const unsigned char *)"", 0));
}

static void test_host_names(void)
{
    CHECK(gs_http_host_is("127.0.0.1:8420", "127.0.0.1", 8420));
    CHECK(gs_http_host_is("LocalHost:8420", "localhost", 8420));
    CHECK(gs_http_host_is("[::1]:8420", "[::1]", 8420));
    CHECK(!gs_http_host_is("127.0.0.1:8421", "127.0.0.1", 8420));
    CHECK(!gs_http_host_is("127.0.0.1", "127.0.0.1", 8420)); /* no port means 80 */
    CHECK(gs_http_host_is("localhost", "localhost", 80));
    CHECK(gs_http_host_is("localhost:80", "localhost", 80));
    CHECK(!gs_http_host_is("localhost.evil.example:8420", "localhost", 8420));
    CHECK(!gs_http_host_is("evil.example:8420", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:8420x", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:99999999999999999999", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:8420 ", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:08420", "localhost", 8420));
    CHECK(!gs_http_host_is("localhost:+8420", "localhost", 8420));
    CHECK(!gs_http_host_is("", "localhost", 8420));
    CHECK(!gs_http_host_is(NULL, "localhost", 8420));
}

static void test_pct_encode(void)
{
    char out[64];
    CHECK(gs_http_pct_encode("a;b c,d\"e", out) == 17);
    CHECK_STR(out, "a%3Bb%20c%2Cd%22e");
    CHECK(gs_http_pct_encode("Az09-._~", out) == 8);
    CHECK_STR(out, "Az09-._~");
    CHECK(gs_http_pct_encode("%+/\xff", out) == 12);
    CHECK_STR(out, "%25%2B%2F%FF");
    char back[64];
    CHECK(gs_http_decode(out, strlen(out), back, 0) == 4);
    CHECK_STR(back, "%+/\xff");
}

/* The query pusher with halves longer than Lua's buffer (LUAL_BUFFERSIZE, 1 KB
 * here): it once read a buffer luaL_pushresultsize had freed. */
static void test_query_pair(void)
{
    lua_State *L = luaL_newstate();
    REQUIRE(L);
    size_t kn = 700, vn = 3 * LUAL_BUFFERSIZE;
    char *key = malloc(kn + 1), *val = malloc(vn + 1), *enc = malloc(3 * vn + 1);
    REQUIRE(key && val && enc);
    for (size_t i = 0; i < kn; i++)
        key[i] = (char)('a' + i % 26);
    key[kn] = '\0';
    for (size_t i = 0; i < vn; i++)
        val[i] = (char)(' ' + i % 90);
    val[vn] = '\0';
    gs_http_pct_encode(val, enc);
    lua_newtable(L);
    gs_http_push_query_pair(L, key, enc);
    gs_http_push_query_pair(L, "b+c", "x%20y+z");
    gs_http_push_query_pair(L, "bad", "%zz");
    gs_http_push_query_pair(L, "nul", "a%00b");
    CHECK(lua_gettop(L) == 1);
    size_t n = 0;
    lua_getfield(L, 1, key);
    const char *got = lua_tolstring(L, -1, &n);
    CHECK(got && n == vn && memcmp(got, val, vn) == 0);
    lua_getfield(L, 1, "b c");
    CHECK_STR(lua_tostring(L, -1), "x y z");
    lua_getfield(L, 1, "bad");
    CHECK_STR(lua_tostring(L, -1), "%zz");
    lua_getfield(L, 1, "nul");
    CHECK_STR(lua_tostring(L, -1), "a%00b");
    lua_close(L);
    free(key);
    free(val);
    free(enc);
}

static void test_framing(void)
{
    gs_http_buf b = {0};
    CHECK(gs_http_sse_frame(&b, 12, "plan", "{\"a\":1}", "<p>a</p>\n<p>b</p>\r\nc\rd") == 0);
    CHECK_STR(b.p, "id: 12\nevent: plan\ndata: <p>a</p>\ndata: <p>b</p>\ndata: c\ndata: d\n\n");
    b.len = 0;
    CHECK(gs_http_sse_frame(&b, 3, "error", "{\"x\":\n1}", NULL) == 0);
    CHECK_STR(b.p, "id: 3\nevent: run-error\ndata: {\"x\":\ndata: 1}\n\n");
    b.len = 0;
    CHECK(gs_http_sse_frame(&b, 0, "x\ny", NULL, NULL) == 0);
    CHECK_STR(b.p, "event: x\ndata: \n\n");
    b.len = 0;
    CHECK(gs_http_sse_frame(&b, 5, "t", NULL, "line\n") == 0);
    CHECK_STR(b.p, "id: 5\nevent: t\ndata: line\ndata: \n\n");
    gs_http_buf_free(&b);
    CHECK(gs_http_sse_terminal("complete"));
    CHECK(!gs_http_sse_terminal("failed")); /* a status, not an event */
    CHECK(gs_http_sse_terminal("error"));
    CHECK(gs_http_sse_terminal("cancelled"));
    CHECK(gs_http_sse_terminal("interrupted"));
    CHECK(!gs_http_sse_terminal("plan"));
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    return fd;
}

/* Reads into buf until needle appears or timeout_ms passes. */
/* Reads until needle shows, the peer closes, or timeout_ms pass in all: a
 * stream's keep-alive comments (every 15 s) must not stretch a wait for ever. */
static size_t read_until(int fd, char *buf, size_t cap, size_t len, const char *needle, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    double deadline = gs_store_monotonic() + timeout_ms / 1000.0;
    while (len + 1 < cap && !strstr(buf, needle)) {
        int left = (int)((deadline - gs_store_monotonic()) * 1000.0);
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            fprintf(stderr, "read_until: no '%s' within %d ms; got %zu bytes: %.300s\n", needle, timeout_ms, len, buf);
            break;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return len;
}

static void test_server(void)
{
    const char *dir = tu_tmpdir("test_http");
    char db_path[1200], err[512];
    snprintf(db_path, sizeof db_path, "%s/grok_spicy.db", dir);
    gs_db *db = gs_store_open(db_path, err, sizeof err);
    REQUIRE(db);
    gs_http_config cfg = {0};
    cfg.output_dir = dir;
    cfg.threads = 2;
    gs_http_server *s = gs_http_start(&cfg, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    REQUIRE(s);
    CHECK(gs_http_port(s) > 0);
    CHECK(strncmp(gs_http_url(s), "http://127.0.0.1:", 17) == 0);

    char buf[8192] = "";
    int fd = dial(gs_http_port(s));
    REQUIRE(fd >= 0);
    char get[256];
    int glen = snprintf(get, sizeof get, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                        gs_http_port(s));
    CHECK(send(fd, get, (size_t)glen, 0) == (ssize_t)glen);
    read_until(fd, buf, sizeof buf, 0, "\"ok\"", 20000);
    CHECK(strstr(buf, "200 OK") != NULL);
    CHECK(strstr(buf, "{\"status\":\"ok\"}") != NULL);
    CHECK(strstr(buf, "\r\nContent-Security-Policy: default-src 'self';") != NULL);
    CHECK(strstr(buf, "frame-ancestors 'none'") != NULL);
    CHECK(strstr(buf, "\r\nX-Frame-Options: DENY\r\n") != NULL);
    CHECK(strstr(buf, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL);
    CHECK(strstr(buf, "\r\nReferrer-Policy: same-origin\r\n") != NULL);
    close(fd);

    /* Host: a name that is not this server's is refused (DNS rebinding), the
     * loopback names pass, HTTP/1.1 without Host is a bad request. */
    static const struct {
        const char *host; /* NULL: no Host line; "%d" takes the port */
        const char *version, *status;
    } hosts[] = {
        {"evil.example:%d", "1.1", " 421 "}, {"localhost:%d", "1.1", " 200 "}, {"[::1]:%d", "1.1", " 200 "},
        {"127.0.0.1", "1.1", " 421 "},      {"localhost:1", "1.1", " 421 "},  {NULL, "1.1", " 400 "},
        {NULL, "1.0", " 200 "},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char line[128] = "", req[512];
        if (hosts[i].host) {
            char h[96];
            snprintf(h, sizeof h, hosts[i].host, gs_http_port(s));
            snprintf(line, sizeof line, "Host: %s\r\n", h);
        }
        int rlen = snprintf(req, sizeof req, "GET /health HTTP/%s\r\n%sConnection: close\r\n\r\n", hosts[i].version,
                            line);
        fd = dial(gs_http_port(s));
        REQUIRE(fd >= 0);
        CHECK(send(fd, req, (size_t)rlen, 0) == (ssize_t)rlen);
        buf[0] = '\0';
        read_until(fd, buf, sizeof buf, 0, "}", 20000);
        if (!strstr(buf, hosts[i].status))
            fprintf(stderr, "Host %s HTTP/%s: want%sgot %.40s\n", hosts[i].host ? hosts[i].host : "(none)",
                    hosts[i].version, hosts[i].status, buf);
        CHECK(strstr(buf, hosts[i].status) != NULL);
        CHECK(strstr(buf, "X-Content-Type-Options: nosniff") != NULL);
        close(fd);
    }

    /* An every-run stream gets an event appended through the C API. */
    fd = dial(gs_http_port(s));
    REQUIRE(fd >= 0);
    char sse[128];
    int slen = snprintf(sse, sizeof sse, "GET /sse HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", gs_http_port(s));
    CHECK(send(fd, sse, (size_t)slen, 0) == (ssize_t)slen);
    buf[0] = '\0';
    size_t len = read_until(fd, buf, sizeof buf, 0, "retry: 3000", 20000);
    CHECK(strstr(buf, "text/event-stream") != NULL);
    CHECK(strstr(buf, "X-Content-Type-Options: nosniff") != NULL);
    CHECK(strstr(buf, "frame-ancestors 'none'") != NULL);
    int64_t id = 0;
    CHECK(gs_store_append_event(db, 0, "note", "{\"n\":1}", "<b>hi</b>\n<i>there</i>", &id, err, sizeof err) == 0);
    gs_bus_publish(gs_bus_default(), "note", 0, id, NULL, 0, NULL, 0);
    len = read_until(fd, buf, sizeof buf, len, "there</i>", 20000);
    char want[128];
    snprintf(want, sizeof want, "id: %lld\nevent: note\ndata: <b>hi</b>\ndata: <i>there</i>\n", (long long)id);
    CHECK(strstr(buf, want) != NULL);

    gs_http_stats st;
    gs_http_get_stats(s, &st);
    CHECK(st.streams_open == 1);
    CHECK(st.events_sent == 1);

    /* Stop with the stream open: it ends, and stop is quick. */
    double t0 = gs_store_monotonic();
    gs_http_stop(s);
    CHECK(gs_store_monotonic() - t0 < 10.0); /* generous; a stop that waited for the open stream would hang */
    CHECK(gs_http_stopped(s));
    CHECK(gs_http_wait(s, 0) == 1);
    read_until(fd, buf, sizeof buf, len, "\r\n0\r\n\r\n", 20000);
    close(fd);
    gs_http_free(s);
    gs_store_close(db);
}

static void test_bad_start(void)
{
    char err[512];
    gs_http_config cfg = {0};
    cfg.host = "no-such-host.invalid";
    cfg.output_dir = tu_tmpdir("test_http_bad");
    CHECK(gs_http_start(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot resolve host 'no-such-host.invalid'") != NULL);
    /* A name this machine knows is resolved, bound and kept in the URL. */
    cfg.host = "localhost";
    gs_http_server *s = gs_http_start(&cfg, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        char want[64];
        snprintf(want, sizeof want, "http://localhost:%d/", gs_http_port(s));
        CHECK_STR(gs_http_url(s), want);
        int fd = dial(gs_http_port(s)); /* 127.0.0.1: localhost resolves IPv4 first */
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
        gs_http_free(s);
    }
    char addr[64];
    CHECK(gs_http_resolve("::1", addr, sizeof addr, err, sizeof err) == 0);
    CHECK_STR(addr, "::1");
    CHECK(gs_http_resolve("localhost", addr, sizeof addr, err, sizeof err) == 0);
    CHECK_STR(addr, "127.0.0.1");
    /* A token too long for a cookie is refused up front. */
    char *tok = malloc(GS_HTTP_MAX_TOKEN + 2);
    REQUIRE(tok);
    memset(tok, 't', GS_HTTP_MAX_TOKEN + 1);
    tok[GS_HTTP_MAX_TOKEN + 1] = '\0';
    cfg.host = NULL;
    cfg.token = tok;
    CHECK(gs_http_start(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "token is too long") != NULL);
    free(tok);
    cfg.token = NULL;
    cfg.host = NULL;
    cfg.app = "no.such.app";
    CHECK(gs_http_start(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "no.such.app") != NULL);
}

/* An event committed as soon as serve() has returned is published, however
 * late the tail thread first runs. Pinned to one CPU, the new thread usually
 * runs only once this one blocks, i.e. after the commit: the tail used to
 * take that event as its starting point and never publish it. */
static void test_tail_from_start(void)
{
    cpu_set_t one, all;
    REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
    CPU_ZERO(&one);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &all)) {
            CPU_SET(i, &one);
            break;
        }
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    const char *dir = tu_tmpdir("test_http_tail");
    char db_path[1200], err[512];
    snprintf(db_path, sizeof db_path, "%s/grok_spicy.db", dir);
    gs_db *db = gs_store_open(db_path, err, sizeof err);
    REQUIRE(db);
    int missed = 0;
    for (int round = 0; round < 5; round++) {
        gs_http_config cfg = {0};
        cfg.output_dir = dir;
        cfg.threads = 1;
        gs_http_server *s = gs_http_start(&cfg, err, sizeof err);
        REQUIRE(s);
        int64_t id = 0;
        CHECK(gs_store_append_event(db, 0, "note", "{}", "<b>x</b>", &id, err, sizeof err) == 0);
        gs_bus_publish(gs_bus_default(), "note", 0, id, NULL, 0, NULL, 0);
        gs_http_stats st = {0};
        /* A condition with a generous limit: published at once when all is well. */
        for (int i = 0; i < 2000 && st.tail_events == 0; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            gs_http_get_stats(s, &st);
        }
        missed += st.tail_events != 1;
        gs_http_stop(s);
        gs_http_free(s);
    }
    CHECK(missed == 0);
    gs_store_close(db);
    REQUIRE(sched_setaffinity(0, sizeof all, &all) == 0);
}

int main(void)
{
    RUN(test_decode);
    RUN(test_paths);
    RUN(test_mime);
    RUN(test_range);
    RUN(test_ids_tokens);
    RUN(test_sqlite_magic);
    RUN(test_host_names);
    RUN(test_pct_encode);
    RUN(test_query_pair);
    RUN(test_framing);
    RUN(test_server);
    RUN(test_tail_from_start);
    RUN(test_bad_start);
    return TU_REPORT();
}
