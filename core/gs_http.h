/*
 * gs_http.h — the dashboard server (libmicrohttpd): pages and JSON from a Lua
 * app running in Lua states the server owns, SSE streams and files in C.
 *
 * Threads: a server owns its MHD worker threads, one tail thread (the only
 * reader of the events table for streaming) and its Lua states. It never
 * touches the caller's Lua state. gs_http_stop and gs_http_wait may be called
 * from any thread; gs_http_free once, after which the pointer is gone.
 *
 * The pure helpers at the end (gs_http_decode ... gs_http_sse_frame) are
 * exported for the unit tests and for hosts that frame SSE themselves.
 */
#ifndef GS_HTTP_H
#define GS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_HTTP_MAX_BODY (64 * 1024)    /* larger POST bodies get 413 */
/* POST /api/runs, a new run with its plan and reference images (grokspicy.newrun
 * and grokspicy.refs bound each part): larger gets 413. */
#define GS_HTTP_MAX_RUN_BODY (24 * 1024 * 1024)
/* The request target as sent (path and query, still percent-encoded): longer gets
 * 414. It keeps room for the headers in the per-connection memory (16 KB). */
#define GS_HTTP_MAX_URL (12 * 1024)
#define GS_HTTP_MAX_TOKEN 1024          /* bytes; the cookie carries it percent-encoded */

struct lua_State;

typedef struct gs_http_config {
    const char *host;       /* NULL = "127.0.0.1"; IPv6 literals work ("::1"); a name is
                               resolved (getaddrinfo, IPv4 first) and accepted as a Host */
    int port;               /* 0 = a free port */
    const char *app;        /* Lua module with init(opts) and handle(req) -> {status=, headers=, body=}
                               or {status=, headers=, zip={root=, entries=, dirs=}} (a zip streamed from
                               root, a folder under output_dir: core/http_bundle.c); NULL = "grokspicy.web" */
    const char *output_dir; /* served under /output/; NULL = "output" */
    const char *db_path;    /* NULL = output_dir .. "/grok_spicy.db" */
    const char *token;      /* NULL or "" = no token required */
    const char *flow_script; /* app.init's flow_script: the pipeline a resumed run goes on with; NULL = none */
    int threads;            /* MHD worker threads = Lua states; <= 0 means 2 */
    int log;                /* one line per request on stderr */
    int timeout_s;          /* idle timeout of normal requests; <= 0 means 30 */
    int max_connections;    /* <= 0 means 16384 */
} gs_http_config;

typedef struct gs_http_server gs_http_server;

typedef struct gs_http_stats {
    uint64_t requests;      /* requests answered */
    uint64_t streams_open;  /* SSE streams alive now */
    uint64_t streams_parked;/* of which suspended (idle) */
    uint64_t events_sent;   /* SSE events written, keep-alives excluded */
    uint64_t resyncs;       /* lagged streams that re-read the store */
    uint64_t tail_events;   /* rows the tail thread published */
} gs_http_stats;

/*
 * Starts a server: opens the Lua states (each runs require(app) and
 * app.init{output_dir=, db=, token=, flow_script=}), the tail thread and the daemon.
 * Returns NULL with err set ("http.serve: ...") on failure.
 */
gs_http_server *gs_http_start(const gs_http_config *cfg, char *err, size_t errlen);
/*
 * The numeric address a host binds to: an IP literal as it is, a name through
 * getaddrinfo (its first IPv4 address, else its first IPv6 one). 0, or -1 with
 * err set ("cannot resolve host 'x' (...)...").
 */
int gs_http_resolve(const char *host, char *addr, size_t addrlen, char *err, size_t errlen);
int gs_http_port(const gs_http_server *s);
/* "http://host:port/" plus "?token=T" when a token is set. */
const char *gs_http_url(const gs_http_server *s);
/* Ends every stream, stops the daemon and the tail thread. Idempotent; ≤ ~2 s. */
void gs_http_stop(gs_http_server *s);
/* Waits until stopped or timeout_s passes (< 0 = for ever). 1 = stopped, 0 = timeout. */
int gs_http_wait(gs_http_server *s, double timeout_s);
int gs_http_stopped(gs_http_server *s);
void gs_http_get_stats(gs_http_server *s, gs_http_stats *st);
/* Stops (if needed) and frees. NULL is fine. */
void gs_http_free(gs_http_server *s);

/* ---- pure helpers ---------------------------------------------------- */

/* A growable byte buffer; every append returns -1 when out of memory. */
typedef struct gs_http_buf {
    char *p;
    size_t len, cap, off;   /* off: bytes already consumed from the front */
} gs_http_buf;
int gs_http_buf_add(gs_http_buf *b, const char *s, size_t n);
void gs_http_buf_free(gs_http_buf *b);

/*
 * Percent-decodes in[0..len) into out (at least len + 1 bytes, NUL-terminated),
 * '+' as space when plus is set. Returns the decoded length, or -1 on a bad
 * escape or a NUL byte (raw or %00).
 */
long gs_http_decode(const char *in, size_t len, char *out, int plus);

/*
 * 1 when a decoded relative path is safe to join below a root: not empty, not
 * absolute, no "." or ".." or empty segment, no backslash, no control bytes.
 */
int gs_http_safe_relpath(const char *p);

/* 1 for names never served: *.db *.db-wal *.db-shm *.db-journal *.sqlite* *.log (any case). */
int gs_http_forbidden_name(const char *p);

/*
 * 1 when the first n bytes of a file (n >= 16 is enough) start like a SQLite
 * database ("SQLite format 3\0"), a SQLite WAL or a rollback journal: such a file
 * is never served, whatever its name.
 */
int gs_http_sqlite_magic(const unsigned char *p, size_t n);

/*
 * 1 when a Host header names `name` on `port`: "name:port", or "name" alone when
 * port is 80 (HTTP's default, which browsers leave out). Names compare without
 * case; an IPv6 name is given in brackets ("[::1]").
 */
int gs_http_host_is(const char *host, const char *name, int port);

/*
 * Percent-encodes every byte of in but A-Z a-z 0-9 - . _ ~ into out, which has
 * room for 3 * strlen(in) + 1 bytes. Returns the length written.
 */
size_t gs_http_pct_encode(const char *in, char *out);

/*
 * Sets t[decode(key)] = decode(value) in the table on top of L's stack, both
 * percent-decoded with '+' as space; a half with a bad escape or a NUL stays as
 * sent. Holds no heap memory of its own while Lua may raise (memory errors only).
 */
void gs_http_push_query_pair(struct lua_State *L, const char *key, const char *value);

/* The Content-Type for a file name (HTML and unknown text are served as text/plain). */
const char *gs_http_mime(const char *p);

/*
 * A Range header against a size: 1 = one satisfiable range [*start, *end]
 * (inclusive), 0 = ignore it (absent, malformed or several ranges: send 200),
 * -1 = unsatisfiable (send 416).
 */
int gs_http_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end);

/* A positive decimal id that fits int64 ("7" yes; "", "0", "07x", "-1" no). */
int gs_http_parse_id(const char *s, size_t len, int64_t *out);

/* Constant-time string equality (the time depends on the lengths only). */
int gs_http_token_eq(const char *a, const char *b);

/*
 * Appends one SSE event: "id: N\nevent: TYPE\ndata: ...\n\n" with one data line
 * per line of html (or of data when html is NULL); CRLF and CR count as line
 * breaks. type "error" is sent as "run-error". id <= 0 omits the id line.
 */
int gs_http_sse_frame(gs_http_buf *b, int64_t id, const char *type, const char *data,
                      const char *html);

/* 1 when a per-run stream ends after an event of this type. */
int gs_http_sse_terminal(const char *type);

/* The Lua module grokspicy.http. */
int luaopen_grokspicy_core_http(struct lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
