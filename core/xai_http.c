/*
 * xai_http.c — grokspicy.xai: HTTP over libcurl (one request, then the retry
 * policy: backoff, Retry-After, what is safe to send again), error messages
 * from answers, data URLs of local images, and downloads of temporary result
 * URLs checked whole. The API key goes only into the Authorization header.
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

#include "gs_media.h"
#include "gs_provider.h"
#include "gs_util.h"
#include "json.h"
#include "xai_internal.h"

/* ---- HTTP ---- */

void resp_reset(xresp *r)
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
void new_client_id(char *out, size_t len)
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
void sleep_ms(double ms)
{
    while (ms > 0 && !gs_media_cancelled()) {
        double slice = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(slice / 1000), (long)(fmod(slice, 1000) * 1e6)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= slice;
    }
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
void server_message(const xresp *r, char *out, size_t len)
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

int api_error(const xresp *r, const char *what, char *err, size_t errlen)
{
    char msg[600];
    server_message(r, msg, sizeof msg);
    snprintf(err, errlen, "xai %s: HTTP %ld (%s)%s%s%s%s%s", what, r->status, status_hint(r->status),
             msg[0] ? ": " : "", msg, r->request_id[0] ? " [request id " : "", r->request_id,
             r->request_id[0] ? "]" : "");
    return -1;
}

int contains_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

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
int http_call(const xai_cfg *c, const char *method, const char *url, const char *body, int auth,
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
int jw_data_url(jw *w, const char *path, char *err, size_t errlen)
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
int write_b64_file(const char *b64, const char *out_path, char *err, size_t errlen)
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
int download(const xai_cfg *c, const char *url, const char *out_path, int video, char *err, size_t errlen)
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
