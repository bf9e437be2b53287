/*
 * xai.c — grokspicy.xai: the xAI REST client on libcurl (chat with JSON-schema
 * output and image inputs, image generations and edits, video jobs polled to
 * the end, downloads of temporary result URLs checked whole, retries with
 * backoff where repeating is safe) and the "xai" provider over it. Owns every
 * xAI wire format (docs: xai-api.md) and what each answer costs: every billed
 * answer is charged to the caller's meter the moment it arrives. Never touches
 * the store, the steps' retry policy or Lua states other than its own module
 * table. The API key is read from the environment, sent only in the
 * Authorization header, and never logged, stored or put in a message.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "gs_media.h"
#include "gs_provider.h"
#include "gs_util.h"
#include "json.h"

/* ---- configuration (environment; every model configurable) ---- */

typedef struct xai_cfg {
    char base_url[512];
    char key[512];
    char text_model[96], vision_model[96], image_model[96], edit_model[96], video_model[96];
    double timeout_s, video_timeout_s, connect_timeout_s, max_retry_after_s;
    int poll_ms, retries, retry_base_ms, retry_max_ms, max_concurrency;
} xai_cfg;

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static double env_num(const char *name, double dflt)
{
    const char *v = getenv(name);
    char *e;
    if (!v || !*v)
        return dflt;
    double d = strtod(v, &e);
    return *e || d < 0 ? dflt : d;
}

static void cfg_load(xai_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->base_url, sizeof c->base_url, "%s", env_or("XAI_BASE_URL", "https://api.x.ai/v1"));
    size_t n = strlen(c->base_url);
    while (n && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    snprintf(c->key, sizeof c->key, "%s", env_or("XAI_API_KEY", env_or("GROK_API_KEY", "")));
    snprintf(c->text_model, sizeof c->text_model, "%s", env_or("XAI_TEXT_MODEL", "grok-4-1-fast-non-reasoning"));
    snprintf(c->vision_model, sizeof c->vision_model, "%s", env_or("XAI_VISION_MODEL", "grok-4-1-fast-reasoning"));
    snprintf(c->image_model, sizeof c->image_model, "%s", env_or("XAI_IMAGE_MODEL", "grok-imagine-image"));
    snprintf(c->edit_model, sizeof c->edit_model, "%s", env_or("XAI_EDIT_MODEL", c->image_model));
    snprintf(c->video_model, sizeof c->video_model, "%s", env_or("XAI_VIDEO_MODEL", "grok-imagine-video"));
    c->timeout_s = env_num("XAI_TIMEOUT", 120);
    c->connect_timeout_s = env_num("XAI_CONNECT_TIMEOUT", 10);
    c->video_timeout_s = env_num("XAI_VIDEO_TIMEOUT", 600);
    c->max_retry_after_s = env_num("XAI_MAX_RETRY_AFTER", 60);
    c->poll_ms = (int)env_num("XAI_POLL_MS", 1000);
    c->retries = (int)env_num("XAI_RETRIES", 4);
    c->retry_base_ms = (int)env_num("XAI_RETRY_BASE_MS", 500);
    c->retry_max_ms = (int)env_num("XAI_RETRY_MAX_MS", 20000);
    c->max_concurrency = (int)env_num("XAI_MAX_CONCURRENCY", 8);
    if (c->max_concurrency < 2)
        c->max_concurrency = 2;
}

/* ---- HTTP ---- */

typedef struct xresp {
    long status;
    char *body;
    size_t len, cap;
    int oom;
    FILE *sink;                 /* downloads: the body goes here */
    int sink_errno;             /* why writing to sink failed (ENOSPC...) */
    char request_id[128];       /* the service's x-request-id header */
    double retry_after;         /* seconds; < 0 when absent */
    int sent;                   /* bytes of the request went out: the server may have it */
} xresp;

static void resp_reset(xresp *r)
{
    free(r->body);
    FILE *sink = r->sink;
    memset(r, 0, sizeof *r);
    r->sink = sink;
    r->retry_after = -1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    xresp *r = ud;
    size_t n = size * nmemb;
    if (r->sink) {
        size_t w = fwrite(data, 1, n, r->sink);
        if (w < n)
            r->sink_errno = errno ? errno : EIO;
        return w;
    }
    if (r->len + n + 1 > r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 4096;
        while (nc < r->len + n + 1)
            nc *= 2;
        char *nb = realloc(r->body, nc);
        if (!nb) {
            r->oom = 1;
            return 0;
        }
        r->body = nb;
        r->cap = nc;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    xresp *r = ud;
    size_t n = size * nmemb;
    char line[256];
    size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, data, m);
    line[m] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *colon = strchr(line, ':');
    if (!colon)
        return n;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!strcasecmp(line, "x-request-id")) {
        snprintf(r->request_id, sizeof r->request_id, "%s", v);
    } else if (!strcasecmp(line, "retry-after")) {
        char *e;
        double s = strtod(v, &e);
        if (e != v && *e == '\0') {
            r->retry_after = s;
        } else {
            time_t t = curl_getdate(v, NULL);
            if (t > 0)
                r->retry_after = difftime(t, time(NULL)) > 0 ? difftime(t, time(NULL)) : 0;
        }
    }
    return n;
}

typedef struct xai_provider {
    gs_provider base;
    xai_cfg cfg;
} xai_provider;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One request. url is absolute; auth adds the key. Returns the curl code. */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ud, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return gs_media_cancelled(); /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

/* A fresh id for one logical request, sent as X-Client-Request-Id on it and on
 * every retry of it: the ledger's key for a request that got no answer, and
 * what lets the service's logs (and the test fake) tie a retry to its first
 * try. xAI is not known to deduplicate on it. */
static void new_client_id(char *out, size_t len)
{
    static atomic_uint seq;
    snprintf(out, len, "gs-%ld-%lx-%u", (long)getpid(), (unsigned long)time(NULL), atomic_fetch_add(&seq, 1) + 1);
}

static CURLcode http_once(const xai_cfg *c, const char *method, const char *url, const char *body, int auth,
                          const char *cid, double timeout_s, xresp *r, char *cerr)
{
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdr = NULL;
    char authz[600];
    if (auth && c->key[0]) {
        snprintf(authz, sizeof authz, "Authorization: Bearer %s", c->key);
        hdr = curl_slist_append(hdr, authz);
        memset(authz, 0, sizeof authz);
    }
    if (body)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    char cid_hdr[200];
    if (cid && *cid) {
        snprintf(cid_hdr, sizeof cid_hdr, "X-Client-Request-Id: %s", cid);
        hdr = curl_slist_append(hdr, cid_hdr);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "grok-spicy/0.1");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo); /* a cancelled step aborts its transfer */
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(method, "GET") && strcmp(method, "POST"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    cerr[0] = '\0';
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    long req_size = 0;
    curl_off_t up = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req_size);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
    r->sent = req_size > 0 || up > 0;
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    if (rc == CURLE_OK && r->oom)
        rc = CURLE_OUT_OF_MEMORY;
    return rc;
}

/* Sleeps in slices of at most 100 ms and returns early once the step is cancelled. */
static void sleep_ms(double ms)
{
    while (ms > 0 && !gs_media_cancelled()) {
        double slice = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(slice / 1000), (long)(fmod(slice, 1000) * 1e6)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= slice;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double jitter(void)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    return (double)rand_r(&seed) / RAND_MAX;
}

static int retryable_curl(CURLcode rc)
{
    return rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_RECV_ERROR ||
           rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE;
}

/* The server's message from an error body ({"error":{"message"}}, {"error":"..."}, {"detail"}). */
static void server_message(const xresp *r, char *out, size_t len)
{
    out[0] = '\0';
    if (!r->body || !r->len)
        return;
    jv *j = json_parse(r->body, r->len, NULL, 0);
    const char *m = NULL;
    if (j) {
        m = json_str(j, "error.message", NULL);
        if (!m)
            m = json_str(j, "error", NULL);
        if (!m)
            m = json_str(j, "detail", NULL);
        if (!m)
            m = json_str(j, "message", NULL);
    }
    if (m)
        snprintf(out, len, "%s", m);
    else
        snprintf(out, len, "%.200s", r->body);
    json_free(j);
}

static const char *status_hint(long s)
{
    switch (s) {
    case 400: return "bad request";
    case 401: return "the API key is missing or invalid (XAI_API_KEY / GROK_API_KEY)";
    case 403: return "the API key has no permission for this";
    case 404: return "model or endpoint not found";
    case 422: return "a field has a bad format";
    case 429: return "rate limited";
    default: return s >= 500 ? "server error" : "request failed";
    }
}

static int api_error(const xresp *r, const char *what, char *err, size_t errlen)
{
    char msg[600];
    server_message(r, msg, sizeof msg);
    snprintf(err, errlen, "xai %s: HTTP %ld (%s)%s%s%s%s%s", what, r->status, status_hint(r->status),
             msg[0] ? ": " : "", msg, r->request_id[0] ? " [request id " : "", r->request_id,
             r->request_id[0] ? "]" : "");
    return -1;
}

static int contains_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

enum { CALL_OK = 0, CALL_FAILED = -1, CALL_UNSURE = -6 };

/* Errors that prove the request never reached a server. */
static int never_sent(CURLcode rc, const xresp *r)
{
    return !r->sent && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                        rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_OPERATION_TIMEDOUT);
}

/*
 * One logical request, retried with exponential backoff and jitter (Retry-After
 * honoured). A safe request (GET: idempotent) is retried on timeouts,
 * connection errors, 429 and 5xx. A create (POST: it makes and bills
 * something) is sent again only when the error proves nothing was made: the
 * connection or the name lookup failed before a byte went out, or the answer
 * was 429 or 503, given before any work. Any other error after sending (a
 * timeout, a reset, a cancel) returns CALL_UNSURE: the request may have run and
 * been billed, so it is not sent again and the caller records it at its list
 * price. CALL_OK with r filled for any other answer (the caller decides), or
 * CALL_FAILED with err.
 */
static int http_call(const xai_cfg *c, const char *method, const char *url, const char *body, int auth,
                     const char *cid, double timeout_s, xresp *r, const char *what, char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = ""; /* read even when no handle could be made */
    int create = strcmp(method, "GET") != 0;
    pthread_once(&curl_once, curl_init_once);
    for (int attempt = 0;; attempt++) {
        resp_reset(r);
        if (r->sink) {
            rewind(r->sink);
            if (ftruncate(fileno(r->sink), 0) != 0) {
                snprintf(err, errlen, "xai %s: %s", what, strerror(errno));
                return CALL_FAILED;
            }
        }
        CURLcode rc = http_once(c, method, url, body, auth, cid, timeout_s, r, cerr);
        const char *cmsg = cerr[0] ? cerr : curl_easy_strerror(rc);
        int again;
        if (rc != CURLE_OK && create && !never_sent(rc, r) && r->sent) {
            snprintf(err, errlen,
                     "xai %s: %s after the request was sent: not sent again (it may have run and been billed)", what,
                     rc == CURLE_ABORTED_BY_CALLBACK ? "cancelled" : cmsg);
            return CALL_UNSURE;
        }
        if (rc != CURLE_OK)
            again = create ? never_sent(rc, r) : retryable_curl(rc);
        else
            again = create ? r->status == 429 || r->status == 503 : r->status == 429 || r->status >= 500;
        if (!again && rc != CURLE_OK) {
            snprintf(err, errlen, "xai %s: %s", what, cmsg);
            return CALL_FAILED;
        }
        if (!again)
            return CALL_OK;
        if (attempt >= c->retries || gs_media_cancelled()) {
            if (rc != CURLE_OK)
                snprintf(err, errlen, "xai %s: %s (gave up after %d attempts)", what, cmsg, attempt + 1);
            else {
                char e2[900];
                api_error(r, what, e2, sizeof e2);
                snprintf(err, errlen, "%s (gave up after %d attempts)", e2, attempt + 1);
            }
            return CALL_FAILED;
        }
        double ms;
        if (rc == CURLE_OK && r->retry_after >= 0)
            ms = fmin(r->retry_after, c->max_retry_after_s) * 1000;
        else {
            ms = c->retry_base_ms * pow(2, attempt);
            if (ms > c->retry_max_ms)
                ms = c->retry_max_ms;
            ms = ms / 2 + ms / 2 * jitter();
        }
        sleep_ms(ms);
    }
}

/* ---- files, data URLs, downloads ---- */

static const char *sniff_mime(const unsigned char *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG", 4))
        return "image/png";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8)
        return "image/jpeg";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        return "image/webp";
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4))
        return "video/mp4";
    return "application/octet-stream";
}

/* Writes "data:<mime>;base64,<...>" as one JSON string value. */
static int jw_data_url(jw *w, const char *path, char *err, size_t errlen)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n;
    unsigned char *b = (unsigned char *)gs_read_file(path, &n);
    if (!b) {
        snprintf(err, errlen, "xai: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char head[64];
    snprintf(head, sizeof head, "data:%s;base64,", sniff_mime(b, n));
    if (w->comma)
        jw_append(w, ",", 1);
    w->comma = 1;
    jw_append(w, "\"", 1);
    jw_append(w, head, strlen(head));
    char chunk[4096];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        chunk[k++] = tbl[(v >> 18) & 63];
        chunk[k++] = tbl[(v >> 12) & 63];
        chunk[k++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        chunk[k++] = i + 2 < n ? tbl[v & 63] : '=';
        if (k + 4 > sizeof chunk) {
            jw_append(w, chunk, k);
            k = 0;
        }
    }
    jw_append(w, chunk, k);
    jw_append(w, "\"", 1);
    free(b);
    return 0;
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Writes out_path through a temp file renamed into place. */
static int write_b64_file(const char *b64, const char *out_path, char *err, size_t errlen)
{
    size_t n = strlen(b64), k = 0;
    unsigned char *buf = malloc(n / 4 * 3 + 4);
    if (!buf) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)b64[i]);
        if (v < 0)
            continue;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (unsigned char)(acc >> bits);
        }
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", out_path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(buf, 1, k, f) == k;
    if (f && fclose(f) != 0)
        ok = 0;
    free(buf);
    if (!ok || rename(tmp, out_path) != 0) {
        snprintf(err, errlen, "xai: cannot write %s: %s", out_path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

enum { DL_OK = 0, DL_FAIL = -1, DL_EXPIRED = -3 };

/* Fetches a temporary result URL into tmp (a GET: retried freely). */
static int fetch(const xai_cfg *c, const char *url, const char *tmp, char *err, size_t errlen)
{
    xresp r = {.retry_after = -1};
    if (!(r.sink = fopen(tmp, "w+b"))) {
        snprintf(err, errlen, "xai download: cannot write %s: %s", tmp, strerror(errno));
        return DL_FAIL;
    }
    errno = 0;
    int rc = http_call(c, "GET", url, NULL, 0, NULL, c->timeout_s, &r, "download", err, errlen);
    int werr = fclose(r.sink) != 0 ? errno : 0;
    r.sink = NULL;
    /* curl says only "Failure writing output": name the file and the cause (a full disk). */
    if (rc != 0 && r.sink_errno)
        snprintf(err, errlen, "xai download: cannot write %s: %s", tmp, strerror(r.sink_errno));
    if (rc == 0 && (r.status == 403 || r.status == 404 || r.status == 410)) {
        snprintf(err, errlen, "xai download: the result URL has expired (HTTP %ld)", r.status);
        rc = DL_EXPIRED;
    } else if (rc == 0 && (r.status < 200 || r.status >= 300)) {
        snprintf(err, errlen, "xai download: HTTP %ld", r.status);
        rc = DL_FAIL;
    } else if (rc == 0 && werr) {
        snprintf(err, errlen, "xai download: cannot write %s: %s", tmp, strerror(werr));
        rc = DL_FAIL;
    }
    resp_reset(&r);
    free(r.body);
    return rc == 0 ? DL_OK : rc == DL_EXPIRED ? DL_EXPIRED : DL_FAIL;
}

#define DOWNLOAD_TRIES 3

/* Downloads a temporary result URL at once, to <out>.part, checks the file is
 * whole (a body cut short with no Content-Length looks complete to HTTP: the
 * image must run to its end marker, the clip must parse and probe), fetches
 * it again when it is not, then renames it into place. video: a clip. */
static int download(const xai_cfg *c, const char *url, const char *out_path, int video, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.part", out_path);
    for (int try = 1;; try++) {
        int rc = fetch(c, url, tmp, err, errlen);
        char why[300];
        if (rc == DL_OK && gs_media_check_whole(tmp, video, why, sizeof why) != 0) {
            snprintf(err, errlen, "xai download: the %s came damaged %d time%s (%s)", video ? "clip" : "image", try,
                     try == 1 ? "" : "s", why);
            rc = try < DOWNLOAD_TRIES && !gs_media_cancelled() ? 1 : DL_FAIL;
        } else if (rc == DL_OK && rename(tmp, out_path) != 0) {
            snprintf(err, errlen, "xai download: %s: %s", out_path, strerror(errno));
            rc = DL_FAIL;
        }
        if (rc != 1) {
            if (rc != DL_OK)
                unlink(tmp);
            return rc;
        }
    }
}

/* ---- money (xai-api.md §6): usage.cost_in_usd_ticks, else list prices ---- */

#define TICKS_IMAGE 200000000LL             /* $0.02 per image; an edit also per input image */
#define TICKS_VIDEO_480_S 500000000LL       /* $0.05 / s */
#define TICKS_VIDEO_720_S 700000000LL       /* $0.07 / s */
#define TICKS_VIDEO_INPUT_IMAGE 20000000LL  /* $0.002 for an image-to-video input (3rd: a measured bill) */
#define TICKS_TEXT_IN 2000LL                /* $0.20 / M tokens */
#define TICKS_TEXT_OUT 5000LL               /* $0.50 / M tokens */

/* The service's figure, or -1 when the answer has none. */
static int64_t usage_ticks(const jv *j)
{
    double t = json_num(j, "usage.cost_in_usd_ticks", -1);
    return t >= 0 ? (int64_t)llround(t) : -1;
}

static int64_t chat_list_ticks(const jv *j)
{
    return (int64_t)json_num(j, "usage.prompt_tokens", 0) * TICKS_TEXT_IN +
           (int64_t)json_num(j, "usage.completion_tokens", 0) * TICKS_TEXT_OUT;
}

/* A chat that brought no answer: about 4 bytes a token, an image about 1,000,
 * and a short reply. */
static int64_t chat_guess_ticks(size_t text_bytes, size_t n_images)
{
    return (int64_t)(200 + text_bytes / 4 + 1000 * n_images) * TICKS_TEXT_IN + 500 * TICKS_TEXT_OUT;
}

static int64_t video_list_ticks(double duration_s, int p480, int with_image)
{
    return (int64_t)llround(duration_s) * (p480 ? TICKS_VIDEO_480_S : TICKS_VIDEO_720_S) +
           (with_image ? TICKS_VIDEO_INPUT_IMAGE : 0);
}

/* One request's identity for its charges. */
typedef struct bill {
    gs_meter *m;
    const char *endpoint;       /* "POST /images/edits" */
    const char *model;
    char id[128];               /* the service's request id once known, else our client id */
} bill;

/* The answer named itself: its charge goes under the service's id. */
static void bill_answered(bill *b, const xresp *r)
{
    if (r->request_id[0])
        snprintf(b->id, sizeof b->id, "%s", r->request_id);
}

/* A charge for b; update amends the one recorded before (ticks or estimated
 * -1: unchanged; prior: what this meter counted for it). */
static void bill_charge(const bill *b, int update, int64_t ticks, int64_t prior, int estimated, const char *outcome,
                        const char *detail)
{
    gs_charge c;
    memset(&c, 0, sizeof c);
    snprintf(c.endpoint, sizeof c.endpoint, "%s", b->endpoint);
    snprintf(c.model, sizeof c.model, "%s", b->model);
    snprintf(c.request_id, sizeof c.request_id, "%s", b->id);
    snprintf(c.outcome, sizeof c.outcome, "%s", outcome);
    snprintf(c.detail, sizeof c.detail, "%s", detail ? detail : "");
    c.ticks = ticks;
    c.prior = prior;
    c.estimated = estimated;
    c.update = update;
    gs_meter_charge(b->m, &c);
}

/* POSTs a create under a fresh client id (see http_call for when it is sent
 * again). CALL_UNSURE: charged at guess, estimated, "no answer". CALL_OK: r
 * filled, *j parsed when the body is JSON (any status), b named after it. */
static int post(const xai_cfg *c, bill *b, const char *path, const char *body, int64_t guess, xresp *r, jv **j,
                char *err, size_t errlen)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", c->base_url, path);
    new_client_id(b->id, sizeof b->id);
    *j = NULL;
    int rc = http_call(c, "POST", url, body, 1, b->id, c->timeout_s, r, path + 1, err, errlen);
    if (rc == CALL_UNSURE)
        bill_charge(b, 0, guess, 0, 1, "no answer", err);
    if (rc != CALL_OK)
        return rc;
    bill_answered(b, r);
    if (r->len)
        *j = json_parse(r->body, r->len, NULL, 0);
    return CALL_OK;
}

static int is_2xx(const xresp *r) { return r->status >= 200 && r->status < 300; }

/* A refusal answered as an error (HTTP 400 naming moderation, xai-api.md §5). */
static int refusal_400(const xresp *r) { return r->status == 400 && r->body && contains_ci(r->body, "moderation"); }

/* An error answer: its message in err; charged when it carries a cost.
 * Returns GS_PROVIDER_MODERATED for a refusal, else -1. */
static int answered_error(const bill *b, const xresp *r, const jv *j, const char *what, char *err, size_t errlen)
{
    int refused = refusal_400(r);
    if (refused) {
        char msg[600];
        server_message(r, msg, sizeof msg);
        snprintf(err, errlen, "%s", msg[0] ? msg : "rejected by content moderation");
    } else {
        api_error(r, what, err, errlen);
    }
    int64_t u = usage_ticks(j);
    if (u >= 0)
        bill_charge(b, 0, u, 0, 0, refused ? "refused" : "failed", err);
    return refused ? GS_PROVIDER_MODERATED : -1;
}

/* ---- chat with structured output ---- */

/* Sends a system + user message (text and images as data URLs) and asks for
 * JSON matching schema; returns the parsed content. */
static jv *chat_json(const xai_cfg *c, gs_meter *meter, const char *model, const char *system, const char *text,
                     const char *const images[], size_t n_images, const char *schema_name, const char *schema,
                     char *err, size_t errlen)
{
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "model");
    jw_str(&w, model);
    jw_key(&w, "messages");
    jw_begin_arr(&w);
    jw_begin_obj(&w);
    jw_key(&w, "role");
    jw_str(&w, "system");
    jw_key(&w, "content");
    jw_str(&w, system);
    jw_end_obj(&w);
    jw_begin_obj(&w);
    jw_key(&w, "role");
    jw_str(&w, "user");
    jw_key(&w, "content");
    jw_begin_arr(&w);
    jw_begin_obj(&w);
    jw_key(&w, "type");
    jw_str(&w, "text");
    jw_key(&w, "text");
    jw_str(&w, text);
    jw_end_obj(&w);
    for (size_t i = 0; i < n_images; i++) {
        jw_begin_obj(&w);
        jw_key(&w, "type");
        jw_str(&w, "image_url");
        jw_key(&w, "image_url");
        jw_begin_obj(&w);
        jw_key(&w, "url");
        if (jw_data_url(&w, images[i], err, errlen) != 0) {
            jw_reset(&w);
            return NULL;
        }
        jw_key(&w, "detail");
        jw_str(&w, "high");
        jw_end_obj(&w);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    jw_end_arr(&w);
    jw_key(&w, "response_format");
    jw_begin_obj(&w);
    jw_key(&w, "type");
    jw_str(&w, "json_schema");
    jw_key(&w, "json_schema");
    jw_begin_obj(&w);
    jw_key(&w, "name");
    jw_str(&w, schema_name);
    jw_key(&w, "strict");
    jw_bool(&w, 1);
    jw_key(&w, "schema");
    jw_raw(&w, schema);
    jw_end_obj(&w);
    jw_end_obj(&w);
    if (n_images) {
        jw_key(&w, "store");
        jw_bool(&w, 0);
    }
    jw_end_obj(&w);
    char *body = jw_take(&w);
    if (!body) {
        snprintf(err, errlen, "xai chat: out of memory");
        return NULL;
    }
    xresp r = {.retry_after = -1};
    bill b = {.m = meter, .endpoint = "POST /chat/completions", .model = model};
    jv *j = NULL, *content = NULL;
    int64_t guess = chat_guess_ticks(strlen(system) + strlen(text), n_images);
    int rc = post(c, &b, "/chat/completions", body, guess, &r, &j, err, errlen);
    free(body);
    if (rc == CALL_OK && !is_2xx(&r)) {
        answered_error(&b, &r, j, "chat/completions", err, errlen);
    } else if (rc == CALL_OK && !j) {
        snprintf(err, errlen, "xai chat/completions: malformed JSON reply%s%s%s", r.request_id[0] ? " [request id " : "",
                 r.request_id, r.request_id[0] ? "]" : "");
        bill_charge(&b, 0, guess, 0, 1, "unusable", err);
    } else if (rc == CALL_OK) {
        const char *s = json_str(j, "choices.0.message.content", NULL);
        char perr[128];
        if (!s)
            snprintf(err, errlen, "xai chat/completions: the reply has no message content");
        else if (!(content = json_parse(s, strlen(s), perr, sizeof perr)))
            snprintf(err, errlen, "xai chat/completions: the structured output is not JSON (%s)", perr);
        int64_t u = usage_ticks(j);
        bill_charge(&b, 0, u >= 0 ? u : chat_list_ticks(j), 0, u < 0, content ? "ok" : "unusable",
                    content ? "" : err);
    }
    json_free(j);
    resp_reset(&r);
    return content;
}

/* ---- the provider ---- */

/* The story plan's schema is gs_provider.h's (one definition, checked by tests/lua/vocab_spec.lua). */
static const char PLAN_SCHEMA[] = GS_PLAN_SCHEMA_JSON;

static const char SCORE_SCHEMA[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"overall_score\",\"per_character\",\"issues\",\"fix_prompt\"],"
    "\"properties\":{\"overall_score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"per_character\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"name\",\"score\"],\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1}}}},"
    "\"issues\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"fix_prompt\":{\"type\":\"string\"}}}";

static const char REWORD_SCHEMA[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"prompt\"],"
    "\"properties\":{\"prompt\":{\"type\":\"string\"}}}";

static char *dup_str(const jv *j, const char *path, const char *dflt)
{
    const char *s = json_str(j, path, dflt);
    return strdup(s ? s : "");
}

static char **dup_strv(const jv *arr, size_t *n)
{
    *n = 0;
    if (!arr || arr->t != JV_ARR)
        return calloc(1, sizeof(char *));
    char **v = calloc(arr->len + 1, sizeof(char *));
    for (size_t i = 0; v && i < arr->len; i++)
        if (arr->items[i].t == JV_STR)
            v[(*n)++] = strdup(arr->items[i].s);
    return v;
}

/* A string C would cut (an escaped NUL inside), or a number (int)v would change. */
static int nul_inside(const jv *v) { return v && v->t == JV_STR && strlen(v->s) != v->len; }
static int not_int(const jv *v)
{
    return v && v->t == JV_NUM && !(v->n >= INT_MIN && v->n <= INT_MAX && v->n == floor(v->n));
}

/* Checks the string fields keys[] of obj and each string of its arrays arrs[]. */
static int plan_strings_problem(const jv *obj, const char *where, const char *const keys[], size_t nk,
                                const char *const arrs[], size_t na, char *err, size_t errlen)
{
    for (size_t k = 0; k < nk; k++)
        if (nul_inside(json_get(obj, keys[k]))) {
            snprintf(err, errlen, "xai plan: %s%s: contains a NUL character", where, keys[k]);
            return 1;
        }
    for (size_t k = 0; k < na; k++) {
        const jv *a = json_get(obj, arrs[k]);
        for (size_t i = 0; a && a->t == JV_ARR && i < a->len; i++)
            if (nul_inside(&a->items[i])) {
                snprintf(err, errlen, "xai plan: %s%s[%zu]: contains a NUL character", where, arrs[k], i + 1);
                return 1;
            }
    }
    return 0;
}

/* What the plan's JSON holds that the C plan cannot carry as grokspicy.plan
   must see it (it checks everything else): a NUL inside a string, a scene
   number that is not a whole int. 1 with "xai plan: <field>: ..." in err. */
static int plan_json_problem(const jv *j, char *err, size_t errlen)
{
    static const char *const top[] = {"title", "style", "aspect_ratio", "color_palette"};
    static const char *const chr[] = {"name", "role", "visual_description"};
    static const char *const chr_arrs[] = {"personality_cues"};
    static const char *const scn[] = {"title", "description", "setting", "camera", "mood", "action", "transition"};
    static const char *const scn_arrs[] = {"characters_present"};
    if (plan_strings_problem(j, "", top, 4, NULL, 0, err, errlen))
        return 1;
    char where[64];
    const jv *cs = json_get(j, "characters"), *ss = json_get(j, "scenes");
    for (size_t i = 0; cs && cs->t == JV_ARR && i < cs->len; i++) {
        snprintf(where, sizeof where, "characters[%zu].", i + 1);
        if (plan_strings_problem(&cs->items[i], where, chr, 3, chr_arrs, 1, err, errlen))
            return 1;
    }
    for (size_t i = 0; ss && ss->t == JV_ARR && i < ss->len; i++) {
        const jv *s = &ss->items[i];
        snprintf(where, sizeof where, "scenes[%zu].", i + 1);
        if (plan_strings_problem(s, where, scn, 7, scn_arrs, 1, err, errlen))
            return 1;
        if (not_int(json_get(s, "scene_id"))) {
            snprintf(err, errlen, "xai plan: %sscene_id: must be a whole number 1..%d, got %g", where,
                     GS_PLAN_MAX_SCENE_ID, json_get(s, "scene_id")->n);
            return 1;
        }
        if (not_int(json_get(s, "duration_seconds"))) {
            snprintf(err, errlen, "xai plan: %sduration_seconds: must be a whole number of seconds %d..%d, got %g",
                     where, GS_PLAN_MIN_DURATION, GS_PLAN_MAX_DURATION, json_get(s, "duration_seconds")->n);
            return 1;
        }
    }
    return 0;
}

static gs_plan *plan_from_json(const jv *j)
{
    gs_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->title = dup_str(j, "title", "");
    p->style = dup_str(j, "style", "");
    p->aspect_ratio = dup_str(j, "aspect_ratio", "16:9");
    p->color_palette = dup_str(j, "color_palette", "");
    const jv *cs = json_get(j, "characters"), *ss = json_get(j, "scenes");
    size_t nc = cs && cs->t == JV_ARR ? cs->len : 0, ns = ss && ss->t == JV_ARR ? ss->len : 0;
    p->characters = calloc(nc ? nc : 1, sizeof *p->characters);
    p->scenes = calloc(ns ? ns : 1, sizeof *p->scenes);
    if (!p->characters || !p->scenes) {
        gs_plan_free(p);
        return NULL;
    }
    for (size_t i = 0; i < nc; i++) {
        const jv *c = &cs->items[i];
        gs_character *d = &p->characters[p->n_characters++];
        d->name = dup_str(c, "name", "");
        d->role = dup_str(c, "role", "");
        d->visual_description = dup_str(c, "visual_description", "");
        d->personality_cues = dup_strv(json_get(c, "personality_cues"), &d->n_personality_cues);
    }
    for (size_t i = 0; i < ns; i++) {
        const jv *s = &ss->items[i];
        gs_scene *d = &p->scenes[p->n_scenes++];
        d->scene_id = (int)json_num(s, "scene_id", (double)i + 1);
        d->title = dup_str(s, "title", "");
        d->description = dup_str(s, "description", "");
        d->characters_present = dup_strv(json_get(s, "characters_present"), &d->n_characters_present);
        d->setting = dup_str(s, "setting", "");
        d->camera = dup_str(s, "camera", "");
        d->mood = dup_str(s, "mood", "");
        d->action = dup_str(s, "action", "");
        d->duration_seconds = (int)json_num(s, "duration_seconds", GS_PLAN_DEFAULT_DURATION);
        d->transition = dup_str(s, "transition", "cut");
    }
    return p;
}

static gs_plan *xai_plan_story(gs_provider *pp, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                               char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    (void)seed;
    char text[6000];
    snprintf(text, sizeof text,
             "Concept: %s\n\nWrite a story plan of exactly %d scenes. Give every character a visual_description "
             "of at least 80 words (appearance only, reused verbatim in every image prompt). Each scene lists "
             "the characters_present by name (at most 2), lasts 3 to 15 seconds (8 by default) and ends with "
             "a cut. Use aspect_ratio 16:9.",
             concept, n_scenes);
    jv *j = chat_json(&x->cfg, meter, x->cfg.text_model,
                      "You are a film director planning a short video with consistent characters.", text, NULL,
                      0, "StoryPlan", PLAN_SCHEMA, err, errlen);
    if (!j)
        return NULL;
    if (plan_json_problem(j, err, errlen)) {
        json_free(j);
        return NULL;
    }
    gs_plan *p = plan_from_json(j);
    json_free(j);
    if (!p)
        snprintf(err, errlen, "xai plan: out of memory");
    return p;
}

static int xai_score(gs_provider *pp, const char *image, const char *const refs[], size_t n_refs,
                     const char *const descs[], const char *const names[], size_t n, gs_score *out,
                     gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw t = {0};
    const char *intro = n_refs ? "Image 1 is the image to check; the next images are character reference sheets, "
                                 "in the order of the characters below."
                               : "Check this image against the character descriptions below.";
    jw_append(&t, intro, strlen(intro));
    jw_append(&t, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        char line[256];
        snprintf(line, sizeof line, "\nCharacter %zu: %s%s. ", i + 1, names[i],
                 i < n_refs ? " (has a reference sheet)" : "");
        jw_append(&t, line, strlen(line));
        jw_append(&t, descs[i], strlen(descs[i]));
    }
    const char *ask = "\n\nScore how faithfully the image shows each character (0..1), list concrete issues, and "
                      "write a short fix_prompt for an image edit (empty when nothing needs fixing).";
    jw_append(&t, ask, strlen(ask));
    char *text = jw_take(&t);
    const char *imgs[9];
    size_t ni = 0;
    imgs[ni++] = image;
    for (size_t i = 0; i < n_refs && ni < 9; i++)
        imgs[ni++] = refs[i];
    jv *j = text ? chat_json(&x->cfg, meter, x->cfg.vision_model, "You are a strict visual consistency checker.",
                             text, imgs, ni, "ConsistencyScore", SCORE_SCHEMA, err, errlen)
                 : (snprintf(err, errlen, "xai score: out of memory"), NULL);
    free(text);
    if (!j)
        return -1;
    double overall = json_num(j, "overall_score", -1);
    if (overall < 0 || overall > 1) {
        json_free(j);
        snprintf(err, errlen, "xai score: overall_score missing or out of 0..1");
        return -1;
    }
    out->overall_score = overall;
    out->names = calloc(n + 1, sizeof(char *));
    out->scores = calloc(n + 1, sizeof(double));
    const jv *pc = json_get(j, "per_character");
    for (size_t i = 0; out->names && out->scores && i < n; i++) {
        double s = overall;
        for (size_t k = 0; pc && pc->t == JV_ARR && k < pc->len; k++)
            if (!strcmp(json_str(&pc->items[k], "name", ""), names[i]))
                s = json_num(&pc->items[k], "score", overall);
        out->names[out->n] = strdup(names[i]);
        out->scores[out->n++] = s;
    }
    out->issues = dup_strv(json_get(j, "issues"), &out->n_issues);
    out->fix_prompt = dup_str(j, "fix_prompt", "");
    json_free(j);
    return 0;
}

static int xai_reword(gs_provider *pp, const char *prompt, const char *reason, char **out, gs_meter *meter,
                      char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    size_t len = strlen(prompt) + strlen(reason) + 256;
    char *text = malloc(len);
    if (!text) {
        snprintf(err, errlen, "xai reword: out of memory");
        return -1;
    }
    snprintf(text, len, "Moderation said: %s\n\nPrompt:\n%s", reason, prompt);
    jv *j = chat_json(&x->cfg, meter, x->cfg.text_model,
                      "Rewrite this image or video prompt so that it passes content moderation: keep the "
                      "characters, their appearance, the setting and the composition; soften or remove anything "
                      "violent, sexual or otherwise unsafe. Reply with the new prompt only.",
                      text, NULL, 0, "RewordedPrompt", REWORD_SCHEMA, err, errlen);
    free(text);
    if (!j)
        return -1;
    const char *p = json_str(j, "prompt", NULL);
    *out = p && *p ? strdup(p) : NULL;
    json_free(j);
    if (!*out) {
        snprintf(err, errlen, "xai reword: no prompt in the reply");
        return -1;
    }
    return 0;
}

/* Where an image reply put the image: 0 with *url or *b64 set, or
 * GS_PROVIDER_MODERATED with the reason in err. */
static int image_source(const jv *j, const char **url, const char **b64, char *err, size_t errlen)
{
    const jv *data = json_get(j, "data");
    *url = *b64 = NULL;
    if (!data || data->t != JV_ARR || data->len == 0) {
        snprintf(err, errlen, "image rejected by content moderation (no image returned)");
        return GS_PROVIDER_MODERATED;
    }
    const jv *item = &data->items[0];
    const jv *rm = json_get(item, "respect_moderation");
    *url = json_str(item, "url", NULL);
    *b64 = json_str(item, "b64_json", NULL);
    if ((rm && rm->t == JV_BOOL && !rm->b) || contains_ci(*url, "moderated_content")) {
        snprintf(err, errlen, "image rejected by content moderation");
        return GS_PROVIDER_MODERATED;
    }
    if (!*b64 && (!*url || !**url)) {
        snprintf(err, errlen, "image rejected by content moderation (no URL)");
        return GS_PROVIDER_MODERATED;
    }
    return 0;
}

/* Bytes sent inside the answer: written, then checked like a download. */
static int write_image(const char *b64, const char *out_path, char *err, size_t errlen)
{
    char why[300];
    if (write_b64_file(b64, out_path, err, errlen) != 0)
        return -1;
    if (gs_media_check_whole(out_path, 0, why, sizeof why) != 0) {
        snprintf(err, errlen, "xai: the image in the answer is damaged (%s)", why);
        unlink(out_path);
        return -1;
    }
    return 0;
}

/*
 * POSTs an image request (generation or edit) and fetches its result. The
 * answer is charged as soon as it arrives (usage, else list_ticks); a refusal
 * answered with HTTP 400 too, when it carries a cost. An expired result URL
 * earns one regeneration: a new request, charged on its own.
 */
static int image_call(xai_provider *x, const char *path, const char *model, const char *body, int64_t list_ticks,
                      const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    char endpoint[48];
    snprintf(endpoint, sizeof endpoint, "POST %s", path);
    int rc = -1;
    for (int gen = 0; gen < 2; gen++) {
        xresp r = {.retry_after = -1};
        bill b = {.m = meter, .endpoint = endpoint, .model = model};
        jv *j = NULL;
        rc = post(&x->cfg, &b, path, body, list_ticks, &r, &j, err, errlen);
        if (rc == CALL_OK && !is_2xx(&r)) {
            rc = answered_error(&b, &r, j, path + 1, err, errlen);
        } else if (rc == CALL_OK && !j) {
            snprintf(err, errlen, "xai %s: malformed JSON reply%s%s%s", path + 1, r.request_id[0] ? " [request id " : "",
                     r.request_id, r.request_id[0] ? "]" : "");
            bill_charge(&b, 0, list_ticks, 0, 1, "unusable", err);
            rc = -1;
        } else if (rc == CALL_OK) {
            const char *url, *b64;
            int64_t u = usage_ticks(j);
            int src = image_source(j, &url, &b64, err, errlen);
            bill_charge(&b, 0, u >= 0 ? u : list_ticks, 0, u < 0, src ? "refused" : "ok", src ? err : "");
            rc = src ? src : b64 ? write_image(b64, out_path, err, errlen) : download(&x->cfg, url, out_path, 0, err, errlen);
            if (rc != 0 && !src)
                bill_charge(&b, 1, -1, 0, -1, "bad download", err);
        } else {
            rc = -1;
        }
        json_free(j);
        resp_reset(&r);
        if (rc != DL_EXPIRED)
            break;
    }
    return rc == DL_EXPIRED ? -1 : rc;
}

static int xai_generate_image(gs_provider *pp, const char *prompt, const char *aspect, const char *out_path,
                              gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "model");
    jw_str(&w, x->cfg.image_model);
    jw_key(&w, "prompt");
    jw_str(&w, prompt);
    jw_key(&w, "n");
    jw_int(&w, 1);
    jw_key(&w, "aspect_ratio");
    jw_str(&w, aspect && *aspect ? aspect : "16:9");
    jw_key(&w, "response_format");
    jw_str(&w, "url");
    jw_end_obj(&w);
    char *body = jw_take(&w);
    if (!body) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    int rc = image_call(x, "/images/generations", x->cfg.image_model, body, TICKS_IMAGE, out_path, meter, err,
                        errlen);
    free(body);
    return rc;
}

static int xai_edit_image(gs_provider *pp, const char *prompt, const char *const refs[], size_t n_refs,
                          const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    if (n_refs < 1 || n_refs > 3) {
        snprintf(err, errlen, "xai edit_image: 1 to 3 reference images, got %zu", n_refs);
        return -1;
    }
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "model");
    jw_str(&w, x->cfg.edit_model);
    jw_key(&w, "prompt");
    jw_str(&w, prompt);
    jw_key(&w, "n");
    jw_int(&w, 1);
    jw_key(&w, "response_format");
    jw_str(&w, "url");
    /* one source: "image"; several: "images" (xai-api.md §2; the two never mix) */
    jw_key(&w, n_refs == 1 ? "image" : "images");
    if (n_refs > 1)
        jw_begin_arr(&w);
    for (size_t i = 0; i < n_refs; i++) {
        jw_begin_obj(&w);
        jw_key(&w, "url");
        if (jw_data_url(&w, refs[i], err, errlen) != 0) {
            jw_reset(&w);
            return -1;
        }
        jw_key(&w, "type");
        jw_str(&w, "image_url");
        jw_end_obj(&w);
    }
    if (n_refs > 1)
        jw_end_arr(&w);
    jw_end_obj(&w);
    char *body = jw_take(&w);
    if (!body) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    /* an edit is billed for its input images and its output (xai-api.md §2) */
    int rc = image_call(x, "/images/edits", x->cfg.edit_model, body, TICKS_IMAGE * (int64_t)(n_refs + 1), out_path,
                        meter, err, errlen);
    free(body);
    return rc;
}

/* A poll answered with a status: done (settled, then downloaded), failed or
 * expired (settled: such an answer has no cost, so 0 unless it says one), or
 * still running (*pending). */
static int job_ended(xai_provider *x, const bill *b, int64_t prior, const jv *p, int64_t u, const char *out_path,
                     int *pending, char *err, size_t errlen)
{
    const char *st = json_str(p, "status", "");
    if (!strcmp(st, "done")) {
        const jv *rm = json_path(p, "video.respect_moderation");
        const char *vurl = json_str(p, "video.url", NULL);
        int64_t list = prior > 0 ? prior : video_list_ticks(json_num(p, "video.duration", 8), 0, 0);
        if ((rm && rm->t == JV_BOOL && !rm->b) || !vurl || !*vurl) {
            snprintf(err, errlen, "video rejected by content moderation");
            bill_charge(b, 1, u >= 0 ? u : list, prior, u < 0, "refused", err);
            return GS_PROVIDER_MODERATED;
        }
        bill_charge(b, 1, u >= 0 ? u : list, prior, u < 0, "ok", "");
        int rc = download(&x->cfg, vurl, out_path, 1, err, errlen);
        if (rc != 0)
            bill_charge(b, 1, -1, 0, -1, "bad download", err);
        return rc;
    }
    if (!strcmp(st, "failed") || !strcmp(st, "expired")) {
        if (!strcmp(st, "failed"))
            snprintf(err, errlen, "xai video %s failed: %s: %s", b->id, json_str(p, "error.code", "error"),
                     json_str(p, "error.message", "no message"));
        else
            snprintf(err, errlen, "xai video %s expired before it was done", b->id);
        bill_charge(b, 1, u >= 0 ? u : 0, prior, u < 0, st, err);
        return GS_PROVIDER_JOB_FAILED;
    }
    *pending = 1;
    return 0;
}

/*
 * Polls the video job b names until it ends or the video deadline passes, and
 * downloads the clip. Polling is a safe GET: a failed poll, an error status or
 * a garbled reply is noted and polling goes on until the deadline. The job's
 * charge (recorded at its list price, prior ticks, when it was created) is
 * settled by the answer that ends it; a job the client stops waiting for
 * (deadline, cancel) stays at its estimate, marked abandoned, and a resumed
 * run can poll it again. Returns 0, DL_EXPIRED (the clip's URL expired),
 * GS_PROVIDER_MODERATED, GS_PROVIDER_JOB_FAILED (failed or expired job),
 * GS_PROVIDER_LOST (the service does not know it) or -1, with err.
 */
static int poll_job(xai_provider *x, const bill *b, int64_t prior, const char *out_path, char *err, size_t errlen)
{
    const xai_cfg *c = &x->cfg;
    char url[1024], last[400] = "";
    snprintf(url, sizeof url, "%s/videos/%s", c->base_url, b->id);
    double deadline = now_s() + c->video_timeout_s;
    for (;;) {
        if (gs_media_cancelled()) {
            snprintf(err, errlen, "xai video %s: cancelled while the job ran (it stays recorded at its list price; "
                     "a resumed run polls it)", b->id);
            bill_charge(b, 1, -1, prior, -1, "abandoned", "cancelled while the job ran");
            return -1;
        }
        if (now_s() > deadline) {
            snprintf(err, errlen, "xai video %s: not done after %.0f s (video timeout)%s%s; it stays recorded at its "
                     "list price and a resumed run polls it", b->id, c->video_timeout_s, last[0] ? "; last poll: " : "",
                     last);
            bill_charge(b, 1, -1, prior, -1, "abandoned", "not done by the video deadline");
            return -1;
        }
        xresp r = {.retry_after = -1};
        int pending = 0, rc = 0;
        jv *p = NULL;
        if (http_call(c, "GET", url, NULL, 1, NULL, c->timeout_s, &r, "video poll", err, errlen) != CALL_OK) {
            snprintf(last, sizeof last, "%.390s", err);
            pending = 1;
        } else if (r.status == 202 || (r.status == 200 && r.len == 0)) { /* pending, empty body */
            pending = 1;
        } else {
            p = r.len ? json_parse(r.body, r.len, NULL, 0) : NULL;
            int64_t u = usage_ticks(p);
            if (refusal_400(&r)) {
                char msg[400];
                server_message(&r, msg, sizeof msg);
                snprintf(err, errlen, "%s", msg[0] ? msg : "video rejected by content moderation");
                bill_charge(b, 1, u >= 0 ? u : prior, prior, u < 0, "refused", err);
                rc = GS_PROVIDER_MODERATED;
            } else if (r.status == 401 || r.status == 403 || r.status == 404) {
                api_error(&r, "video poll", err, errlen);
                bill_charge(b, 1, -1, prior, -1, r.status == 404 ? "lost" : "abandoned", err);
                rc = r.status == 404 ? GS_PROVIDER_LOST : -1;
            } else if (r.status != 200 || !p) {
                if (r.status != 200)
                    api_error(&r, "video poll", last, sizeof last);
                else
                    snprintf(last, sizeof last, "a garbled reply (not JSON) [request id %s]", r.request_id);
                pending = 1;
            } else {
                rc = job_ended(x, b, prior, p, u, out_path, &pending, err, errlen);
            }
        }
        json_free(p);
        resp_reset(&r);
        if (!pending)
            return rc;
        sleep_ms(c->poll_ms);
    }
}

/* Starts a video job (charged at its list price, estimated, the moment its id
 * comes back), polls it to the end, downloads the clip. An expired result URL
 * earns one new job. */
static int video_job(xai_provider *x, const char *path, const char *body, int64_t estimate, const char *out_path,
                     gs_meter *meter, char *err, size_t errlen)
{
    char endpoint[48];
    snprintf(endpoint, sizeof endpoint, "POST %s", path);
    int rc = -1;
    for (int gen = 0; gen < 2; gen++) {
        xresp r = {.retry_after = -1};
        bill b = {.m = meter, .endpoint = endpoint, .model = x->cfg.video_model};
        jv *j = NULL;
        rc = post(&x->cfg, &b, path, body, estimate, &r, &j, err, errlen);
        const char *id = json_str(j, "request_id", NULL);
        if (rc == CALL_OK && !is_2xx(&r)) {
            rc = answered_error(&b, &r, j, path + 1, err, errlen);
        } else if (rc == CALL_OK && (!id || !*id)) {
            /* a job may exist that nobody can poll: its price stands */
            snprintf(err, errlen, "xai %s: no request_id in the reply", path + 1);
            bill_charge(&b, 0, estimate, 0, 1, "lost", err);
            rc = -1;
        } else if (rc == CALL_OK) {
            snprintf(b.id, sizeof b.id, "%s", id);
            bill_charge(&b, 0, estimate, 0, 1, "pending", "");
        } else {
            rc = -1;
        }
        json_free(j);
        resp_reset(&r);
        if (rc != CALL_OK || !b.id[0])
            return rc;
        rc = poll_job(x, &b, estimate, out_path, err, errlen);
        if (rc != DL_EXPIRED)
            break;
    }
    return rc == DL_EXPIRED ? -1 : rc;
}

static int xai_generate_video(gs_provider *pp, const char *prompt, const char *image_path, double duration_s,
                              const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                              char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "model");
    jw_str(&w, x->cfg.video_model);
    jw_key(&w, "prompt");
    jw_str(&w, prompt);
    if (image_path) {
        jw_key(&w, "image");
        jw_begin_obj(&w);
        jw_key(&w, "url");
        if (jw_data_url(&w, image_path, err, errlen) != 0) {
            jw_reset(&w);
            return -1;
        }
        jw_end_obj(&w);
    }
    jw_key(&w, "duration");
    jw_int(&w, (long long)lround(duration_s));
    jw_key(&w, "aspect_ratio");
    jw_str(&w, aspect && *aspect ? aspect : "16:9");
    jw_key(&w, "resolution");
    jw_str(&w, resolution && *resolution ? resolution : "720p");
    jw_end_obj(&w);
    char *body = jw_take(&w);
    if (!body) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    int64_t estimate = video_list_ticks(duration_s, resolution && !strcmp(resolution, "480p"), image_path != NULL);
    int rc = video_job(x, "/videos/generations", body, estimate, out_path, meter, err, errlen);
    free(body);
    return rc;
}

static int xai_edit_video(gs_provider *pp, const char *prompt, const char *video_path, const char *out_path,
                          gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    /* the output keeps the input's length, at 720p (xai-api.md §3): its list price */
    gs_media_info info;
    char perr[200];
    double dur = gs_media_probe(video_path, &info, perr, sizeof perr) == 0 && info.duration > 0 ? info.duration : 8;
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "model");
    jw_str(&w, x->cfg.video_model);
    jw_key(&w, "prompt");
    jw_str(&w, prompt);
    jw_key(&w, "video");
    jw_begin_obj(&w);
    jw_key(&w, "url");
    if (jw_data_url(&w, video_path, err, errlen) != 0) {
        jw_reset(&w);
        return -1;
    }
    jw_end_obj(&w);
    jw_end_obj(&w);
    char *body = jw_take(&w);
    if (!body) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    int rc = video_job(x, "/videos/edits", body, video_list_ticks(dur, 0, 0), out_path, meter, err, errlen);
    free(body);
    return rc;
}

/* A job an earlier process created (its charge is in the ledger under
 * request_id): polled and settled here, never created again. */
static int xai_resume_video(gs_provider *pp, const char *request_id, const char *out_path, gs_meter *meter, char *err,
                            size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    bill b = {.m = meter, .endpoint = "POST /videos/generations", .model = x->cfg.video_model};
    snprintf(b.id, sizeof b.id, "%s", request_id);
    int rc = poll_job(x, &b, 0, out_path, err, errlen);
    if (rc == DL_EXPIRED) /* the clip's URL expired: the caller makes a new one */
        rc = -1;
    return rc;
}

static int xai_max_concurrency(gs_provider *pp)
{
    return ((xai_provider *)pp)->cfg.max_concurrency;
}

static void xai_destroy(gs_provider *pp)
{
    xai_provider *x = (xai_provider *)pp;
    memset(x->cfg.key, 0, sizeof x->cfg.key);
    free(x);
}

static const gs_provider_ops xai_ops = {
    .name = "xai",
    .plan_story = xai_plan_story,
    .generate_image = xai_generate_image,
    .edit_image = xai_edit_image,
    .generate_video = xai_generate_video,
    .edit_video = xai_edit_video,
    .score_consistency = xai_score,
    .max_concurrency = xai_max_concurrency,
    .destroy = xai_destroy,
    .reword_prompt = xai_reword,
    .resume_video = xai_resume_video,
};

int gs_provider_xai_open(gs_provider **out, char *err, size_t errlen)
{
    *out = NULL;
    xai_provider *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "xai: out of memory");
        return -1;
    }
    cfg_load(&x->cfg);
    if (!x->cfg.key[0]) {
        free(x);
        snprintf(err, errlen, "xai: no API key: set XAI_API_KEY or GROK_API_KEY (or use --provider local)");
        return -1;
    }
    x->base.ops = &xai_ops;
    *out = &x->base;
    return 0;
}

/* ---- Lua face: grokspicy.xai ---- */

/* xai.check() -> true | nil, err: a cheap authenticated call (GET /models)
 * that proves the key before any work starts. */
static int l_check(lua_State *L)
{
    xai_cfg c;
    cfg_load(&c);
    char err[1024] = "";
    int ok = 0;
    if (!c.key[0]) {
        snprintf(err, sizeof err, "no xAI API key: set XAI_API_KEY or GROK_API_KEY, or use --provider local");
    } else {
        xresp r = {.retry_after = -1};
        char url[700];
        snprintf(url, sizeof url, "%s/models", c.base_url);
        if (http_call(&c, "GET", url, NULL, 1, NULL, c.timeout_s < 30 ? c.timeout_s : 30, &r, "GET /models", err,
                      sizeof err) == 0) {
            if (r.status == 401 || r.status == 403 || r.status == 400) {
                char msg[600];
                server_message(&r, msg, sizeof msg);
                snprintf(err, sizeof err, "the xAI API rejected the API key (HTTP %ld)%s%s", r.status,
                         msg[0] ? ": " : "", msg);
            } else if (r.status < 200 || r.status >= 300) {
                api_error(&r, "GET /models", err, sizeof err);
            } else {
                ok = 1;
            }
        }
        resp_reset(&r);
        memset(c.key, 0, sizeof c.key);
    }
    if (ok) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

/* xai.config() -> the settings in use (never the key: only whether one is set). */
static int l_config(lua_State *L)
{
    xai_cfg c;
    cfg_load(&c);
    lua_createtable(L, 0, 12);
    lua_pushstring(L, c.base_url);
    lua_setfield(L, -2, "base_url");
    lua_pushboolean(L, c.key[0] != '\0');
    lua_setfield(L, -2, "has_key");
    memset(c.key, 0, sizeof c.key);
    const char *names[] = {"text_model", "vision_model", "image_model", "edit_model", "video_model"};
    const char *vals[] = {c.text_model, c.vision_model, c.image_model, c.edit_model, c.video_model};
    for (int i = 0; i < 5; i++) {
        lua_pushstring(L, vals[i]);
        lua_setfield(L, -2, names[i]);
    }
    lua_pushnumber(L, c.timeout_s);
    lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, c.video_timeout_s);
    lua_setfield(L, -2, "video_timeout");
    lua_pushinteger(L, c.retries);
    lua_setfield(L, -2, "retries");
    lua_pushinteger(L, c.poll_ms);
    lua_setfield(L, -2, "poll_ms");
    return 1;
}

int luaopen_grokspicy_xai(lua_State *L);
int luaopen_grokspicy_xai(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"check", l_check},
        {"config", l_config},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
