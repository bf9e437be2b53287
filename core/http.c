/*
 * http.c — the dashboard server (module grokspicy.http): a libmicrohttpd
 * daemon with a small worker pool. Owns the daemon (start, stop, wait), the
 * routing, the token check, the Host check (DNS rebinding) and the headers
 * every answer carries. Serving lives beside it: /output and /static files in
 * http_files.c, the Lua states that run the web app in http_app.c, SSE streams
 * and the tail thread in http_sse.c; the Lua module is http_lua.c and pure
 * helpers are http_util.c.
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
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"
#include "gs_internal.h"
#include "gs_util.h"
#include "http_internal.h"
#include "http_parts.h"

/* Per connection: the request (a URL of up to GS_HTTP_MAX_URL, 12 KB, and its
   headers) and the response's headers. Every idle SSE stream holds one, so it
   is most of a stream's RSS: 15 KB leaves 3 KB for headers past a longest URL. */
#define MEMORY_LIMIT (15 * 1024)

/* ---- small response helpers -------------------------------------------- */

/* Only the server's own scripts, styles, images, media and streams; no inline
 * script or style (the templates carry none), no plugins, no <base>, and no
 * page may frame ours (the Cancel button must not be clickjacked). */
static const char CSP[] = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

void gs_http_secure_headers(struct MHD_Response *r)
{
    static const char *const h[][2] = {
        {"Content-Security-Policy", CSP},
        {"X-Frame-Options", "DENY"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "same-origin"},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (!MHD_get_response_header(r, h[i][0])) /* an app's own policy wins */
            MHD_add_response_header(r, h[i][0], h[i][1]);
}

enum MHD_Result queue(struct req *rq, struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    rq->status = status;
    gs_http_secure_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

struct MHD_Response *text_response(const char *ctype, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r)
        MHD_add_response_header(r, "Content-Type", ctype);
    return r;
}

/* A short error: JSON under /api/ and /sse, HTML elsewhere. */
enum MHD_Result send_error(struct req *rq, struct MHD_Connection *c, unsigned status, const char *path,
                           const char *msg, const char *allow)
{
    char body[512];
    int json = strncmp(path, "/api/", 5) == 0 || strncmp(path, "/sse", 4) == 0;
    if (json)
        snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    else
        snprintf(body, sizeof body,
                 "<!doctype html><meta charset=utf-8><title>%u</title><h1>%u</h1><p>%s</p>\n", status,
                 status, msg);
    struct MHD_Response *r = text_response(json ? "application/json" : "text/html; charset=utf-8", body);
    if (r && allow)
        MHD_add_response_header(r, "Allow", allow);
    return queue(rq, c, status, r);
}

/* ---- token ---------------------------------------------------------------- */

/* 1 if the request may proceed; *set_cookie is 1 when ?token= was valid. */
int check_token(gs_http_server *s, struct MHD_Connection *c, int *set_cookie)
{
    *set_cookie = 0;
    if (!s->token)
        return 1;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (q) {
        size_t n = strlen(q);
        char *d = malloc(n + 1);
        int ok = d && gs_http_decode(q, n, d, 1) >= 0 && gs_http_token_eq(d, s->token);
        free(d);
        if (ok) {
            *set_cookie = 1;
            return 1;
        }
    }
    /* The cookie carries the token percent-encoded (see make_cookie); a cookie
     * set raw by an older server still matches as it is. */
    const char *ck = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "gs_token");
    if (!ck)
        return 0;
    size_t n = strlen(ck);
    char *d = malloc(n + 1);
    int ok = d && gs_http_decode(ck, n, d, 0) >= 0 && gs_http_token_eq(d, s->token);
    free(d);
    return ok || gs_http_token_eq(ck, s->token);
}

/* ---- Host ------------------------------------------------------------------ */

/* 1 when the Host header names this server: a page of another site that its DNS
 * turned into 127.0.0.1 (DNS rebinding) sends its own name and is refused. With
 * a token every Host is accepted: the token is the check then. A request
 * without Host passes: HTTP/1.0 tools (dispatch refuses HTTP/1.1 without it
 * first, with 400); a browser always sends one. */
static int host_allowed(gs_http_server *s, struct MHD_Connection *c)
{
    if (s->token)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!h)
        return 1;
    for (int i = 0; i < s->n_host_names; i++)
        if (gs_http_host_is(h, s->host_names[i], s->port))
            return 1;
    return 0;
}

/* ---- routing ---------------------------------------------------------------- */

static int is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* Parses a non-negative event id; 1 when present and valid, 0 absent, -1 malformed. */
static int parse_after(const char *v, int64_t *out)
{
    if (!v)
        return 0;
    if (strcmp(v, "0") == 0) {
        *out = 0;
        return 1;
    }
    return gs_http_parse_id(v, strlen(v), out) ? 1 : -1;
}

/* Adds the length of one query argument as sent ("&key=value") to *cls. */
static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    *(size_t *)cls += 2 + (key ? strlen(key) : 0) + (value ? strlen(value) : 0);
    return MHD_YES;
}

/* /sse and /sse/{run_id}: the stream from Last-Event-ID (or ?after=). */
static enum MHD_Result route_sse(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *method,
                                 const char *path, const char *ck)
{
    int64_t run_id = 0, after = 0;
    if (!is_get(method))
        return send_error(rq, c, 405, path, "method not allowed", "GET, HEAD");
    if (path[4] == '/' && !gs_http_parse_id(path + 5, strlen(path + 5), &run_id))
        return send_error(rq, c, 400, path, "bad run id", NULL);
    int has = parse_after(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID"), &after);
    if (has == 0)
        has = parse_after(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after"), &after);
    if (has < 0)
        return send_error(rq, c, 400, path, "bad event id", NULL);
    if (strcmp(method, "HEAD") == 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
        return queue(rq, c, 200, r);
    }
    rq->status = 200;
    return gs_sse_serve(s, c, run_id, after, has > 0, ck);
}

static enum MHD_Result dispatch(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *url,
                                const char *method, const char *version)
{
    size_t ulen = strlen(url);
    if (s->log)
        snprintf(rq->line, sizeof rq->line, "%s %s", method, url);
    if (strcmp(version, MHD_HTTP_VERSION_1_0) != 0 && !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))
        return send_error(rq, c, 400, url, "bad request: HTTP/1.1 needs a Host header", NULL);
    if (!host_allowed(s, c))
        return send_error(rq, c, 421, url,
                          "misdirected request: this server answers to 127.0.0.1, localhost and [::1] on its port "
                          "(start it with --host NAME to be reached by that name, or set a token)",
                          NULL);
    size_t target = ulen; /* MHD hands the path and the query apart */
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_arg, &target);
    if (target > GS_HTTP_MAX_URL)
        return send_error(rq, c, 414, url, "URI too long: path and query may be at most 12 KB", NULL);
    char *path = malloc(ulen + 1);
    if (!path)
        return MHD_NO;
    enum MHD_Result ret;
    int set_cookie = 0;
    const char *ck = NULL;
    if (gs_http_decode(url, ulen, path, 0) < 0 || path[0] != '/') {
        ret = send_error(rq, c, 400, url, "bad request path", NULL);
        goto done;
    }
    if (!check_token(s, c, &set_cookie)) {
        ret = send_error(rq, c, 401, path, "unauthorized: open the URL with ?token=... printed by the server",
                         NULL);
        goto done;
    }
    if (set_cookie)
        ck = s->cookie;
    if (rq->too_big) {
        ret = send_error(rq, c, 413, path, "request body too large", NULL);
        goto done;
    }
    if (strcmp(path, "/sse") == 0 || strncmp(path, "/sse/", 5) == 0) {
        ret = route_sse(s, c, rq, method, path, ck);
    } else if (strcmp(path, "/favicon.ico") == 0) { /* browsers ask for it on every page, error pages too */
        if (!is_get(method))
            ret = send_error(rq, c, 405, path, "method not allowed", "GET, HEAD");
        else
            ret = serve_static(c, rq, path, "favicon.ico", ck);
    } else if (strncmp(path, "/output/", 8) == 0 || strncmp(path, "/static/", 8) == 0) {
        if (!is_get(method))
            ret = send_error(rq, c, 405, path, "method not allowed", "GET, HEAD");
        else if (path[1] == 'o')
            ret = serve_file(s, c, rq, path, path + 8, ck);
        else
            ret = serve_static(c, rq, path, path + 8, ck);
    } else {
        ret = serve_lua(s, c, rq, method, path, url, ck);
    }
done:
    free(path);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    gs_http_server *s = cls;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->t0 = gs_monotonic();
        *con_cls = rq;
        unsigned refuse;
        const char *why = NULL;
        rq->max_body = body_limit(s, c, method, url, &refuse, &why);
        if (refuse) { /* before its body is read (http_admit.c); a body that comes anyway is dropped */
            rq->max_body = 0;
            return send_error(rq, c, refuse, url, why, NULL);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > rq->max_body) {
            rq->too_big = 1;
            return send_error(rq, c, 413, url, "request body too large", NULL);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && rq->body.len + *upload_size <= rq->max_body) {
            if (gs_http_buf_add(&rq->body, upload, *upload_size))
                return MHD_NO;
        } else {
            rq->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, rq, url, method, version);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    gs_http_server *s = cls;
    struct req *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    atomic_fetch_add(&s->requests, 1);
    if (s->log) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char addr[64] = "-";
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof addr);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr,
                          sizeof addr);
        }
        fprintf(stderr, "%s %s %u %.1fms\n", addr, rq->line[0] ? rq->line : "-", rq->status, (gs_monotonic() - rq->t0) * 1e3);
    }
    gs_http_buf_free(&rq->body);
    free(rq);
}

/* Keeps the URL and query arguments raw: dispatch and push_kv decode them. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ---- start / stop ------------------------------------------------------------ */

static char *dup_or(const char *s, const char *def)
{
    return strdup(s ? s : def);
}

static void server_free_states(gs_http_server *s)
{
    for (int i = 0; i < s->nstates; i++)
        if (s->states[i].L)
            lua_close(s->states[i].L);
    free(s->states);
    s->states = NULL;
    s->nstates = 0;
}

int gs_http_resolve(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    unsigned char probe[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1) {
        if (snprintf(addr, addrlen, "%s", host) >= (int)addrlen) {
            snprintf(err, errlen, "host '%s' is too long", host);
            return -1;
        }
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM; /* no AI_ADDRCONFIG: it hides loopback on a machine with no other address */
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve host '%s' (%s): give an IP address or a name this machine knows",
                 host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        if (res)
            freeaddrinfo(res);
        return -1;
    }
    const struct addrinfo *pick = NULL; /* IPv4 first: what 127.0.0.1 users expect of "localhost" */
    for (const struct addrinfo *a = res; a && !pick; a = a->ai_next)
        if (a->ai_family == AF_INET)
            pick = a;
    for (const struct addrinfo *a = res; a && !pick; a = a->ai_next)
        if (a->ai_family == AF_INET6)
            pick = a;
    const char *ok = NULL;
    if (pick && pick->ai_family == AF_INET)
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)pick->ai_addr)->sin_addr, addr,
                       (socklen_t)addrlen);
    else if (pick)
        ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)pick->ai_addr)->sin6_addr, addr,
                       (socklen_t)addrlen);
    freeaddrinfo(res);
    if (!ok) {
        snprintf(err, errlen, "host '%s' has no IPv4 or IPv6 address", host);
        return -1;
    }
    return 0;
}

/* The names a browser may send as Host (see host_allowed): the loopback names,
 * the bound address, and the --host name as given. */
static int host_names(gs_http_server *s)
{
    char bound[INET6_ADDRSTRLEN + 2], given[1100];
    int v6 = strchr(s->bind_addr, ':') != NULL;
    snprintf(bound, sizeof bound, v6 ? "[%s]" : "%s", s->bind_addr);
    snprintf(given, sizeof given, strchr(s->host, ':') ? "[%s]" : "%s", s->host);
    const char *names[] = {"127.0.0.1", "localhost", "[::1]", bound, given};
    s->host_names = calloc(sizeof names / sizeof names[0], sizeof *s->host_names);
    if (!s->host_names)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(names[i], "0.0.0.0") == 0 || strcmp(names[i], "[::]") == 0)
            continue; /* a wildcard is no name; such a server needs a token (the CLI asks for one) */
        if (!(s->host_names[s->n_host_names++] = strdup(names[i])))
            return -1;
    }
    return 0;
}

/* "gs_token=<token percent-encoded>; ...": a token may hold ; , " or spaces,
 * which a raw cookie value would cut or break. */
static int make_cookie(gs_http_server *s)
{
    static const char attrs[] = "; HttpOnly; SameSite=Strict; Path=/";
    size_t n = strlen(s->token);
    if (!(s->cookie = malloc(9 + 3 * n + sizeof attrs)))
        return -1;
    memcpy(s->cookie, "gs_token=", 9);
    size_t e = gs_http_pct_encode(s->token, s->cookie + 9);
    memcpy(s->cookie + 9 + e, attrs, sizeof attrs);
    return 0;
}

static int resolve(gs_http_server *s, char *err, size_t errlen)
{
    char real[PATH_MAX];
    if (mkdir(s->output_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "http.serve: %s: %s", s->output_dir, strerror(errno));
        return -1;
    }
    if (!realpath(s->output_dir, real) || !(s->output_real = strdup(real))) {
        snprintf(err, errlen, "http.serve: %s: %s", s->output_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* The server's owned copy of cfg, with its defaults. */
static int copy_config(gs_http_server *s, const gs_http_config *cfg, char *err, size_t errlen)
{
    s->host = dup_or(cfg->host, "127.0.0.1");
    s->app = dup_or(cfg->app, "grokspicy.web");
    s->output_dir = dup_or(cfg->output_dir, "output");
    s->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
    s->flow_script = cfg->flow_script && *cfg->flow_script ? strdup(cfg->flow_script) : NULL;
    s->threads = cfg->threads > 0 ? cfg->threads : 2;
    s->log = cfg->log;
    s->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 30;
    s->max_connections = cfg->max_connections > 0 ? cfg->max_connections : 16384;
    if (cfg->db_path) {
        s->db_path = strdup(cfg->db_path);
    } else if (s->output_dir) {
        size_t n = strlen(s->output_dir) + 16;
        if ((s->db_path = malloc(n)))
            snprintf(s->db_path, n, "%s/grok_spicy.db", s->output_dir);
    }
    if (!s->host || !s->app || !s->output_dir || !s->db_path || (cfg->token && *cfg->token && !s->token)) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    if (s->token && strlen(s->token) > GS_HTTP_MAX_TOKEN) {
        snprintf(err, errlen, "http.serve: the token is too long (%zu bytes, at most %d)", strlen(s->token),
                 GS_HTTP_MAX_TOKEN);
        return -1;
    }
    if (s->token && make_cookie(s)) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    return 0;
}

/* Resolves s->host to the address MHD binds (*addr points into a4 or a6). */
static int bind_address(gs_http_server *s, int port, struct sockaddr_in *a4, struct sockaddr_in6 *a6,
                        const struct sockaddr **addr, unsigned *flags, char *err, size_t errlen)
{
    char bind_addr[INET6_ADDRSTRLEN], rerr[1200];
    if (gs_http_resolve(s->host, bind_addr, sizeof bind_addr, rerr, sizeof rerr)) {
        snprintf(err, errlen, "http.serve: %s", rerr);
        return -1;
    }
    if (!(s->bind_addr = strdup(bind_addr))) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    memset(a6, 0, sizeof *a6);
    memset(a4, 0, sizeof *a4);
    if (inet_pton(AF_INET, s->bind_addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *addr = (const struct sockaddr *)a4;
    } else if (inet_pton(AF_INET6, s->bind_addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *addr = (const struct sockaddr *)a6;
        *flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "http.serve: host '%s' resolved to '%s', which is not an address", s->host,
                 s->bind_addr);
        return -1;
    }
    return 0;
}

/* The URL printed for people: a wildcard bind is reached on loopback, the token rides along. */
static int make_url(gs_http_server *s)
{
    const char *h = s->host;
    int v6 = strchr(h, ':') != NULL;
    if (strcmp(s->bind_addr, "0.0.0.0") == 0)
        h = "127.0.0.1", v6 = 0;
    else if (strcmp(s->bind_addr, "::") == 0)
        h = "::1", v6 = 1;
    size_t cap = strlen(h) + 40 + (s->token ? 3 * strlen(s->token) : 0);
    if (!(s->url = malloc(cap)))
        return -1;
    int n = snprintf(s->url, cap, "http://%s%s%s:%d/", v6 ? "[" : "", h, v6 ? "]" : "", s->port);
    if (s->token && n > 0) {
        memcpy(s->url + n, "?token=", 8);
        gs_http_pct_encode(s->token, s->url + n + 7);
    }
    return 0;
}

gs_http_server *gs_http_start(const gs_http_config *cfg, char *err, size_t errlen)
{
    gs_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "http.serve: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->tail_mu, NULL);
    s->tail_efd = s->tail_ifd = -1;
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_cond_init(&s->stop_cv, NULL);
    if (copy_config(s, cfg, err, errlen) || resolve(s, err, errlen))
        goto fail;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (bind_address(s, cfg->port, &a4, &a6, &addr, &flags, err, errlen))
        goto fail;

    s->states = calloc((size_t)s->threads, sizeof *s->states);
    if (!s->states) {
        snprintf(err, errlen, "http.serve: out of memory");
        goto fail;
    }
    s->nstates = s->threads;
    for (int i = 0; i < s->nstates; i++)
        if (lua_new_state(s, &s->states[i], err, errlen))
            goto fail;
    struct stat dbst; /* the app opened (or made) the database by now; /output never serves it */
    if (stat(s->db_path, &dbst) == 0) {
        s->db_known = 1;
        s->db_dev = dbst.st_dev;
        s->db_ino = dbst.st_ino;
    }
    if (gs_sse_start(s, err, errlen))
        goto fail;

    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(s->threads > 1 ? s->threads : 0), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "http.serve: cannot listen on %s:%d (%s)", s->host, cfg->port,
                 errno ? strerror(errno) : "MHD_start_daemon failed");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    if (host_names(s)) {
        snprintf(err, errlen, "http.serve: out of memory");
        goto fail;
    }
    if (make_url(s)) {
        snprintf(err, errlen, "http.serve: out of memory");
        goto fail;
    }
    return s;
fail:
    gs_http_free(s);
    return NULL;
}

int gs_http_port(const gs_http_server *s)
{
    return s->port;
}

const char *gs_http_url(const gs_http_server *s)
{
    return s->url ? s->url : "";
}

void gs_http_stop(gs_http_server *s)
{
    pthread_mutex_lock(&s->stop_mu);
    if (s->stopped) { /* 1 = in progress elsewhere, 2 = done */
        while (s->stopped != 2)
            pthread_cond_wait(&s->stop_cv, &s->stop_mu);
        pthread_mutex_unlock(&s->stop_mu);
        return;
    }
    s->stopped = 1;
    pthread_mutex_unlock(&s->stop_mu);
    gs_sse_shutdown(s); /* every parked stream is resumed and ends */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    pthread_mutex_lock(&s->stop_mu);
    s->stopped = 2;
    pthread_cond_broadcast(&s->stop_cv);
    pthread_mutex_unlock(&s->stop_mu);
}

int gs_http_stopped(gs_http_server *s)
{
    pthread_mutex_lock(&s->stop_mu);
    int done = s->stopped == 2;
    pthread_mutex_unlock(&s->stop_mu);
    return done;
}

int gs_http_wait(gs_http_server *s, double timeout_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_s >= 0) {
        double whole = (double)(long)timeout_s;
        ts.tv_sec += (time_t)whole;
        ts.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->stop_mu);
    while (s->stopped != 2) {
        if (timeout_s < 0)
            pthread_cond_wait(&s->stop_cv, &s->stop_mu);
        else if (pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts) == ETIMEDOUT)
            break;
    }
    int done = s->stopped == 2;
    pthread_mutex_unlock(&s->stop_mu);
    return done;
}

void gs_http_get_stats(gs_http_server *s, gs_http_stats *st)
{
    st->requests = atomic_load(&s->requests);
    st->streams_open = atomic_load(&s->streams_open);
    st->streams_parked = atomic_load(&s->streams_parked);
    st->events_sent = atomic_load(&s->events_sent);
    st->resyncs = atomic_load(&s->resyncs);
    st->tail_events = atomic_load(&s->tail_events);
}

void gs_http_free(gs_http_server *s)
{
    if (!s)
        return;
    gs_http_stop(s);
    gs_sse_free(s);
    server_free_states(s);
    free(s->host);
    free(s->app);
    free(s->output_dir);
    free(s->output_real);
    free(s->db_path);
    free(s->token);
    free(s->cookie);
    free(s->bind_addr);
    for (int i = 0; i < s->n_host_names; i++)
        free(s->host_names[i]);
    free(s->host_names);
    free(s->flow_script);
    free(s->url);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->tail_mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    free(s);
}
