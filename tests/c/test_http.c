/*
 * test_http.c — the server's pure helpers (decoding, path checks, MIME, Range,
 * ids, token comparison, SSE framing) and the C API end to end over a raw
 * socket: /health, an SSE stream fed by gs_store_append_event, and a stop with
 * the stream still open (run under ASan in the sanitizer build).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
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
    CHECK(gs_http_sse_terminal("failed"));
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
static size_t read_until(int fd, char *buf, size_t cap, size_t len, const char *needle, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (len + 1 < cap && !strstr(buf, needle) && poll(&p, 1, timeout_ms) > 0) {
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
    const char get[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CHECK(send(fd, get, sizeof get - 1, 0) == (ssize_t)(sizeof get - 1));
    read_until(fd, buf, sizeof buf, 0, "\"ok\"", 20000);
    CHECK(strstr(buf, "200 OK") != NULL);
    CHECK(strstr(buf, "{\"status\":\"ok\"}") != NULL);
    close(fd);

    /* An every-run stream gets an event appended through the C API. */
    fd = dial(gs_http_port(s));
    REQUIRE(fd >= 0);
    const char sse[] = "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(send(fd, sse, sizeof sse - 1, 0) == (ssize_t)(sizeof sse - 1));
    buf[0] = '\0';
    size_t len = read_until(fd, buf, sizeof buf, 0, "retry: 3000", 20000);
    CHECK(strstr(buf, "text/event-stream") != NULL);
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
    cfg.host = "not-an-ip";
    cfg.output_dir = tu_tmpdir("test_http_bad");
    CHECK(gs_http_start(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "host must be an IP") != NULL);
    cfg.host = NULL;
    cfg.app = "no.such.app";
    CHECK(gs_http_start(&cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "no.such.app") != NULL);
}

int main(void)
{
    RUN(test_decode);
    RUN(test_paths);
    RUN(test_mime);
    RUN(test_range);
    RUN(test_ids_tokens);
    RUN(test_framing);
    RUN(test_server);
    RUN(test_bad_start);
    return TU_REPORT();
}
