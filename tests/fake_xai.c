/*
 * fake_xai.c — a local stand-in for the xAI REST API (xai-api.md §7) for the
 * tests and the benchmark. Never the real service: binds 127.0.0.1 only.
 *
 *   fake_xai [--script FILE.json] [--log FILE.jsonl] [--dir DIR] [--idle SECONDS]
 *
 * Picks a free port and prints "PORT <n>" on stdout; exits after --idle
 * seconds without a request (default 120) or on POST /control/quit. Serves
 * real media made with ffmpeg at start from its own /assets/ URLs. Every
 * request is logged as one JSON line {method, path, status, fault, prompt,
 * client_id, request_id, ticks}.
 *
 * It bills like the service (xai-api.md §6), in ticks (1 USD = 10^10), and
 * keeps its own billing log, read with GET /control/billing
 * ({"total_ticks": N, "requests": [{endpoint, request_id, client_id, ticks}]}):
 *   chat          $0.20 / M prompt tokens + $0.50 / M completion tokens
 *                 (prompt: 200 + text bytes / 4 + 1,000 per image; completion: content bytes / 4)
 *   images        $0.02 per image, an edit also per input image
 *   videos        $0.07 / s at 720p ($0.05 at 480p) + $0.002 for an input image, billed
 *                 when the job finishes (polled or not); a failed or expired job is not billed
 * A request processed after its client gave up is billed all the same.
 *
 * Script (all optional):
 *   {"latency_ms": {"chat": 30, "image": 50, "video": 600},
 *    "poll_pending": 1,            202 answers before a video can be done
 *    "score": 0.9,                 the vision check's overall_score
 *    "reject_key": "bad-key",      this key gets 401
 *    "plan_text": "{...}",         the planner's answer, verbatim (default: a plan
 *                                  of the scenes asked for)
 *    "faults": [{"match": "POST /v1/images/generations", "skip": 0, "times": 1,
 *                "body_contains": "Fox", "status": 429, "retry_after": "1",
 *                "delay_ms": 0, "kind": "moderation|malformed|empty_data|failed|expired|respect_false|
 *                                        refusal400|truncated|slow|hang"}]}
 * A fault fires on the requests whose "METHOD path" starts with match (and whose
 * body contains body_contains), after skip of them, times times. refusal400: an
 * image request refused by moderation with HTTP 400 and a billed usage;
 * truncated: an asset sent half, with no Content-Length (the connection closes);
 * slow: the request is processed (and billed) only once its client has closed
 * the connection (timed out), so "answers after the client's timeout" holds on
 * any machine; hang: the request is held until its client goes away (killed,
 * or timed out), then dropped unprocessed and unbilled.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "gs_util.h"
#include "json.h"

typedef struct fault {
    char match[128], body_contains[128], kind[32], retry_after[32];
    int skip, times, status, delay_ms;
    int seen, fired;
} fault;

#define MAX_FAULTS 32
#define MAX_JOBS 1024

typedef struct job {
    char id[40];
    char endpoint[40];          /* the create: "POST /v1/videos/generations" */
    char client_id[64];
    double ready_at;
    int polls, duration;
    long long ticks;            /* what the job bills when it finishes */
    int outcome;                /* JOB_*: decided at the poll that saw it end */
    int fate;                   /* JOB_*: how it will end, when a fault on its create said so */
} job;

enum { JOB_DONE, JOB_MODERATED, JOB_FAILED, JOB_EXPIRED };

#define MAX_BILLS 4096

typedef struct bill {
    char endpoint[48], request_id[64], client_id[64];
    long long ticks;
} bill;

#define TICKS_PER_IMAGE 200000000LL       /* $0.02 */
#define TICKS_PER_S_720 700000000LL       /* $0.07 */
#define TICKS_PER_S_480 500000000LL       /* $0.05 */
#define TICKS_VIDEO_INPUT_IMAGE 20000000LL /* $0.002 */
#define TICKS_PER_PROMPT_TOKEN 2000LL     /* $0.20 / M */
#define TICKS_PER_COMPLETION_TOKEN 5000LL /* $0.50 / M */

/* The request being handled (one thread per connection): its ids. */
static _Thread_local char cur_rid[64], cur_cid[64];
static _Thread_local long long cur_ticks = -1;

static struct {
    pthread_mutex_t mu;
    int lat_chat, lat_image, lat_video, poll_pending;
    double score;
    char reject_key[128];
    char *plan_text;
    fault faults[MAX_FAULTS];
    int n_faults;
    job jobs[MAX_JOBS];
    int n_jobs;
    bill bills[MAX_BILLS];
    int n_bills;
    FILE *log;
    char dir[1024], image[1100], video[1100];
    unsigned port;
    double last_request;
    int quit;
    long counter;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .poll_pending = 1, .score = 0.9};

static void sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

static void load_script(const char *path)
{
    size_t len;
    char *text = slurp(path, &len);
    char err[200];
    jv *j = text ? json_parse(text, len, err, sizeof err) : NULL;
    if (!j) {
        fprintf(stderr, "fake_xai: cannot read the script %s: %s\n", path, text ? err : strerror(errno));
        exit(2);
    }
    S.lat_chat = (int)json_num(j, "latency_ms.chat", 0);
    S.lat_image = (int)json_num(j, "latency_ms.image", 0);
    S.lat_video = (int)json_num(j, "latency_ms.video", 0);
    S.poll_pending = (int)json_num(j, "poll_pending", 1);
    S.score = json_num(j, "score", 0.9);
    snprintf(S.reject_key, sizeof S.reject_key, "%s", json_str(j, "reject_key", ""));
    if (json_str(j, "plan_text", NULL))
        S.plan_text = strdup(json_str(j, "plan_text", NULL));
    const jv *fs = json_get(j, "faults");
    for (size_t i = 0; fs && fs->t == JV_ARR && i < fs->len && S.n_faults < MAX_FAULTS; i++) {
        const jv *f = &fs->items[i];
        fault *d = &S.faults[S.n_faults++];
        snprintf(d->match, sizeof d->match, "%s", json_str(f, "match", ""));
        snprintf(d->body_contains, sizeof d->body_contains, "%s", json_str(f, "body_contains", ""));
        snprintf(d->kind, sizeof d->kind, "%s", json_str(f, "kind", ""));
        snprintf(d->retry_after, sizeof d->retry_after, "%s", json_str(f, "retry_after", ""));
        d->skip = (int)json_num(f, "skip", 0);
        d->times = (int)json_num(f, "times", 1);
        d->status = (int)json_num(f, "status", 0);
        d->delay_ms = (int)json_num(f, "delay_ms", 0);
    }
    json_free(j);
    free(text);
}

/* The first fault that fires for this request (a copy), or 0. */
static int pick_fault(const char *method, const char *path, const char *body, fault *out)
{
    char route[600];
    snprintf(route, sizeof route, "%s %s", method, path);
    int hit = 0;
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < S.n_faults && !hit; i++) {
        fault *f = &S.faults[i];
        if (strncmp(route, f->match, strlen(f->match)) != 0)
            continue;
        if (f->body_contains[0] && (!body || !strstr(body, f->body_contains)))
            continue;
        f->seen++;
        if (f->seen > f->skip && f->fired < f->times) {
            f->fired++;
            *out = *f;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&S.mu);
    return hit;
}

/* Bills the request being handled (a chat or an image answer). */
static void bill_now(const char *endpoint, long long ticks)
{
    pthread_mutex_lock(&S.mu);
    if (S.n_bills < MAX_BILLS) {
        bill *b = &S.bills[S.n_bills++];
        snprintf(b->endpoint, sizeof b->endpoint, "%s", endpoint);
        snprintf(b->request_id, sizeof b->request_id, "%s", cur_rid);
        snprintf(b->client_id, sizeof b->client_id, "%s", cur_cid);
        b->ticks = ticks;
    }
    pthread_mutex_unlock(&S.mu);
    cur_ticks = ticks;
}

/* What a video job has billed by now: a job bills when it finishes, whether
 * anyone polls it or not; one seen to fail or expire bills nothing. Under S.mu. */
static long long job_billed_locked(const job *j)
{
    int end = j->outcome != JOB_DONE ? j->outcome : j->fate;
    if (end == JOB_FAILED || end == JOB_EXPIRED)
        return 0;
    return j->outcome != JOB_DONE || gs_monotonic() >= j->ready_at ? j->ticks : 0;
}

static void log_request(const char *method, const char *path, int status, const char *fault_desc, const char *prompt)
{
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "t");
    jw_num(&w, gs_monotonic());
    jw_key(&w, "method");
    jw_str(&w, method);
    jw_key(&w, "path");
    jw_str(&w, path);
    jw_key(&w, "status");
    jw_int(&w, status);
    jw_key(&w, "fault");
    if (fault_desc)
        jw_str(&w, fault_desc);
    else
        jw_null(&w);
    jw_key(&w, "prompt");
    jw_strn(&w, prompt ? prompt : "", prompt ? (strlen(prompt) > 300 ? 300 : strlen(prompt)) : 0);
    jw_key(&w, "client_id");
    jw_str(&w, cur_cid);
    jw_key(&w, "request_id");
    jw_str(&w, cur_rid);
    if (cur_ticks >= 0) {
        jw_key(&w, "ticks");
        jw_int(&w, cur_ticks);
    }
    jw_end_obj(&w);
    char *line = jw_take(&w);
    pthread_mutex_lock(&S.mu);
    S.last_request = gs_monotonic();
    if (S.log && line) {
        fprintf(S.log, "%s\n", line);
        fflush(S.log);
    }
    pthread_mutex_unlock(&S.mu);
    free(line);
}

/* GET /control/billing: every billed request, and the total. */
static char *billing_json(void)
{
    jw w = {0};
    long long total = 0;
    jw_begin_obj(&w);
    jw_key(&w, "requests");
    jw_begin_arr(&w);
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < S.n_bills; i++) {
        const bill *b = &S.bills[i];
        jw_begin_obj(&w);
        jw_key(&w, "endpoint");
        jw_str(&w, b->endpoint);
        jw_key(&w, "request_id");
        jw_str(&w, b->request_id);
        jw_key(&w, "client_id");
        jw_str(&w, b->client_id);
        jw_key(&w, "ticks");
        jw_int(&w, b->ticks);
        jw_end_obj(&w);
        total += b->ticks;
    }
    for (int i = 0; i < S.n_jobs; i++) {
        long long t = job_billed_locked(&S.jobs[i]);
        jw_begin_obj(&w);
        jw_key(&w, "endpoint");
        jw_str(&w, S.jobs[i].endpoint);
        jw_key(&w, "request_id");
        jw_str(&w, S.jobs[i].id);
        jw_key(&w, "client_id");
        jw_str(&w, S.jobs[i].client_id);
        jw_key(&w, "ticks");
        jw_int(&w, t);
        jw_key(&w, "finished");
        jw_bool(&w, S.jobs[i].outcome != JOB_DONE || gs_monotonic() >= S.jobs[i].ready_at);
        jw_end_obj(&w);
        total += t;
    }
    pthread_mutex_unlock(&S.mu);
    jw_end_arr(&w);
    jw_key(&w, "total_ticks");
    jw_int(&w, total);
    jw_end_obj(&w);
    return jw_take(&w);
}

static enum MHD_Result send_body(struct MHD_Connection *c, int status, const char *type, const char *body,
                                 size_t len, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "x-request-id", cur_rid);
    if (retry_after && *retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const char *json, const char *retry_after)
{
    return send_body(c, status, "application/json", json, strlen(json), retry_after);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg, const char *retry_after)
{
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "error");
    jw_begin_obj(&w);
    jw_key(&w, "message");
    jw_str(&w, msg);
    jw_key(&w, "type");
    jw_str(&w, status == 401 ? "authentication_error" : status == 429 ? "rate_limit_error" : "invalid_request_error");
    jw_end_obj(&w);
    jw_end_obj(&w);
    char *b = jw_take(&w);
    enum MHD_Result r = send_json(c, status, b ? b : "{}", retry_after);
    free(b);
    return r;
}

/* A body of unknown length: the reader hands out what it holds, then ends the stream. */
typedef struct half_body {
    char *b;
    size_t len;
} half_body;

static ssize_t half_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    half_body *h = cls;
    if (pos >= h->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = h->len - (size_t)pos < max ? h->len - (size_t)pos : max;
    memcpy(buf, h->b + pos, n);
    return (ssize_t)n;
}

static void half_free(void *cls)
{
    half_body *h = cls;
    free(h->b);
    free(h);
}

/* truncated: half the file, no Content-Length, no chunked encoding: the
 * connection closes where the body stops, as a server dying mid-answer looks. */
static enum MHD_Result send_file(struct MHD_Connection *c, const char *path, const char *type, int truncated)
{
    size_t len;
    char *b = slurp(path, &len);
    if (!b)
        return send_error(c, 404, "no such asset", NULL);
    if (!truncated) {
        enum MHD_Result r = send_body(c, 200, type, b, len, NULL);
        free(b);
        return r;
    }
    half_body *h = malloc(sizeof *h);
    if (!h) {
        free(b);
        return MHD_NO;
    }
    h->b = b;
    h->len = len / 2;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, half_read, h, half_free);
    MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- route handlers: fill *status and return the JSON body (malloc'd) ---- */

static const char *LOREM = "with a distinctive silhouette, expressive eyes, a textured coat in warm and cool tones, "
                           "a small scar above the left brow, a patched satchel worn across the chest, sturdy boots, "
                           "a woven scarf in deep red, careful posture, quick hands, a calm but alert expression, "
                           "soft rim light on the fur, clean outlines and consistent proportions in every shot, "
                           "always seen from a readable three-quarter angle with the same colours and markings";

static char *chat_plan(const char *text)
{
    int n = 3;
    const char *e = strstr(text ? text : "", "exactly ");
    if (e)
        n = atoi(e + 8);
    if (n < 1 || n > 12)
        n = 3;
    jw w = {0};
    static const char *names[] = {"Fox", "Owl"};
    jw_begin_obj(&w);
    jw_key(&w, "title");
    jw_str(&w, "The Fake Mystery");
    jw_key(&w, "style");
    jw_str(&w, "storybook watercolour");
    jw_key(&w, "aspect_ratio");
    jw_str(&w, "16:9");
    jw_key(&w, "color_palette");
    jw_str(&w, "amber, teal, cream");
    jw_key(&w, "characters");
    jw_begin_arr(&w);
    for (int i = 0; i < 2; i++) {
        char desc[1024];
        snprintf(desc, sizeof desc, "%s is a storybook %s %s", names[i], i ? "grey owl" : "red fox", LOREM);
        jw_begin_obj(&w);
        jw_key(&w, "name");
        jw_str(&w, names[i]);
        jw_key(&w, "role");
        jw_str(&w, i ? "sidekick" : "hero");
        jw_key(&w, "visual_description");
        jw_str(&w, desc);
        jw_key(&w, "personality_cues");
        jw_begin_arr(&w);
        jw_str(&w, "curious");
        jw_end_arr(&w);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_key(&w, "scenes");
    jw_begin_arr(&w);
    for (int i = 0; i < n; i++) {
        char title[64];
        snprintf(title, sizeof title, "Scene %d", i + 1);
        jw_begin_obj(&w);
        jw_key(&w, "scene_id");
        jw_int(&w, i + 1);
        jw_key(&w, "title");
        jw_str(&w, title);
        jw_key(&w, "description");
        jw_str(&w, "Fox and Owl follow the clue through the forest.");
        jw_key(&w, "characters_present");
        jw_begin_arr(&w);
        jw_str(&w, "Fox");
        if (i % 2 == 0)
            jw_str(&w, "Owl");
        jw_end_arr(&w);
        jw_key(&w, "setting");
        jw_str(&w, "a misty forest clearing");
        jw_key(&w, "camera");
        jw_str(&w, "slow dolly in");
        jw_key(&w, "mood");
        jw_str(&w, "curious");
        char action[64]; /* a word per scene, so a fault can pick one scene's video by its prompt */
        snprintf(action, sizeof action, "they look around for clue %d", i + 1);
        jw_key(&w, "action");
        jw_str(&w, action);
        jw_key(&w, "duration_seconds");
        jw_int(&w, 3);
        jw_key(&w, "transition");
        jw_str(&w, "cut");
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    return jw_take(&w);
}

static char *chat_reword(const char *text)
{
    const char *p = strstr(text ? text : "", "Prompt:\n");
    char *out = strdup(p ? p + 8 : "a gentle scene");
    char *bad;
    while (out && (bad = strstr(out, "forbidden")))
        memcpy(bad, "friendly ", 9);
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "prompt");
    jw_str(&w, out);
    jw_end_obj(&w);
    free(out);
    return jw_take(&w);
}

static char *route_chat(const jv *req, int *status)
{
    const char *schema = json_str(req, "response_format.json_schema.name", "");
    const char *text = json_str(req, "messages.1.content.0.text", "");
    if (!json_get(req, "messages")) {
        *status = 400;
        return NULL;
    }
    char *content;
    if (!strcmp(schema, "StoryPlan")) {
        content = S.plan_text ? strdup(S.plan_text) : chat_plan(text);
    } else if (!strcmp(schema, "RewordedPrompt")) {
        content = chat_reword(text);
    } else if (!strcmp(schema, "ConsistencyScore")) {
        jw w = {0};
        jw_begin_obj(&w);
        jw_key(&w, "overall_score");
        jw_num(&w, S.score);
        jw_key(&w, "per_character");
        jw_begin_arr(&w);
        jw_end_arr(&w);
        jw_key(&w, "issues");
        jw_begin_arr(&w);
        if (S.score < 0.8)
            jw_str(&w, "the colours drift from the sheet");
        jw_end_arr(&w);
        jw_key(&w, "fix_prompt");
        jw_str(&w, S.score < 0.8 ? "restore the sheet's colours" : "");
        jw_end_obj(&w);
        content = jw_take(&w);
    } else {
        content = strdup("{}");
    }
    jw w = {0};
    jw_begin_obj(&w);
    jw_key(&w, "id");
    jw_str(&w, "chatcmpl-fake");
    jw_key(&w, "object");
    jw_str(&w, "chat.completion");
    jw_key(&w, "model");
    jw_str(&w, json_str(req, "model", ""));
    jw_key(&w, "choices");
    jw_begin_arr(&w);
    jw_begin_obj(&w);
    jw_key(&w, "index");
    jw_int(&w, 0);
    jw_key(&w, "message");
    jw_begin_obj(&w);
    jw_key(&w, "role");
    jw_str(&w, "assistant");
    jw_key(&w, "content");
    jw_str(&w, content);
    jw_end_obj(&w);
    jw_key(&w, "finish_reason");
    jw_str(&w, "stop");
    jw_end_obj(&w);
    jw_end_arr(&w);
    /* Tokens as a tokenizer might count them: about 4 bytes each, images a flat 1,000. */
    long long prompt_tokens = 200 + (long long)strlen(text) / 4, images = 0;
    const jv *parts = json_path(req, "messages.1.content");
    for (size_t i = 0; parts && parts->t == JV_ARR && i < parts->len; i++)
        images += !strcmp(json_str(&parts->items[i], "type", ""), "image_url");
    prompt_tokens += 1000 * images;
    long long completion_tokens = (long long)strlen(content) / 4 + 1;
    long long ticks = prompt_tokens * TICKS_PER_PROMPT_TOKEN + completion_tokens * TICKS_PER_COMPLETION_TOKEN;
    char usage[400];
    snprintf(usage, sizeof usage,
             "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
             "\"prompt_tokens_details\":{\"cached_tokens\":0},"
             "\"completion_tokens_details\":{\"reasoning_tokens\":0},\"cost_in_usd_ticks\":%lld}",
             prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, ticks);
    jw_key(&w, "usage");
    jw_raw(&w, usage);
    jw_end_obj(&w);
    free(content);
    bill_now("POST /v1/chat/completions", ticks);
    *status = 200;
    return jw_take(&w);
}

static int valid_aspect(const char *a)
{
    static const char *ok[] = {"1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9", "9:20",
                               "20:9", "1:2", "2:1", "auto"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(a, ok[i]))
            return 1;
    return 0;
}

static char *route_image(const jv *req, int edit, const fault *f, int *status, char *msg, size_t msglen)
{
    double n = json_num(req, "n", 1);
    const char *aspect = json_str(req, "aspect_ratio", "1:1");
    const jv *images = json_get(req, "images"), *image = json_get(req, "image");
    if (!json_str(req, "prompt", NULL) || n < 1 || n > 10 || !valid_aspect(aspect)) {
        snprintf(msg, msglen, "invalid argument: prompt, n (1..10) or aspect_ratio");
        *status = 400;
        return NULL;
    }
    if (edit && ((images && image) || (!images && !image) || (images && (images->t != JV_ARR || images->len > 3)))) {
        snprintf(msg, msglen, "invalid argument: give image or images (at most 3)");
        *status = 400;
        return NULL;
    }
    sleep_ms(S.lat_image);
    *status = 200;
    const char *endpoint = edit ? "POST /v1/images/edits" : "POST /v1/images/generations";
    if (f && !strcmp(f->kind, "empty_data")) {
        bill_now(endpoint, 0);
        return strdup("{\"data\":[],\"usage\":{\"cost_in_usd_ticks\":0}}");
    }
    if (f && !strcmp(f->kind, "moderation")) {
        bill_now(endpoint, 0);
        return strdup("{\"data\":[{\"url\":\"\",\"respect_moderation\":false}],\"usage\":{\"cost_in_usd_ticks\":0}}");
    }
    /* Edits bill their input images too (xai-api.md §2). */
    size_t inputs = !edit ? 0 : images ? images->len : 1;
    long long ticks = (long long)n * TICKS_PER_IMAGE + (long long)inputs * TICKS_PER_IMAGE;
    char body[512];
    if (f && !strcmp(f->kind, "refusal400")) {
        /* Refused after the work was done: HTTP 400, and billed (the shape of §5's video refusal). */
        *status = 400;
        bill_now(endpoint, ticks);
        snprintf(body, sizeof body,
                 "{\"code\":\"Client specified an invalid argument\",\"error\":\"Generated image rejected by "
                 "content moderation.\",\"usage\":{\"cost_in_usd_ticks\":%lld}}",
                 ticks);
        return strdup(body);
    }
    long id;
    pthread_mutex_lock(&S.mu);
    id = ++S.counter;
    pthread_mutex_unlock(&S.mu);
    bill_now(endpoint, ticks);
    snprintf(body, sizeof body,
             "{\"data\":[{\"url\":\"http://127.0.0.1:%u/assets/img-%ld.jpg\",\"mime_type\":\"image/jpeg\","
             "\"respect_moderation\":true}],\"usage\":{\"cost_in_usd_ticks\":%lld}}",
             S.port, id, ticks);
    return strdup(body);
}

static int fault_outcome(const fault *f)
{
    if (!f)
        return JOB_DONE;
    return !strcmp(f->kind, "moderation") ? JOB_MODERATED
           : !strcmp(f->kind, "failed")   ? JOB_FAILED
           : !strcmp(f->kind, "expired")  ? JOB_EXPIRED
                                          : JOB_DONE;
}

/* A fault on the create (failed, expired, moderation) decides how that job ends. */
static char *route_video_create(const jv *req, int edit, const fault *f, int *status, char *msg, size_t msglen)
{
    const char *prompt = json_str(req, "prompt", NULL);
    int dur = (int)json_num(req, "duration", 8);
    if (!prompt || strlen(prompt) > 4096 || dur < 1 || dur > 15) {
        snprintf(msg, msglen, "invalid argument: prompt or duration");
        *status = 400;
        return NULL;
    }
    pthread_mutex_lock(&S.mu);
    if (S.n_jobs == MAX_JOBS) {
        pthread_mutex_unlock(&S.mu);
        *status = 503;
        snprintf(msg, msglen, "too many jobs");
        return NULL;
    }
    job *j = &S.jobs[S.n_jobs++];
    snprintf(j->id, sizeof j->id, "vid-%04d-%ld", S.n_jobs, ++S.counter);
    snprintf(j->client_id, sizeof j->client_id, "%s", cur_cid);
    snprintf(j->endpoint, sizeof j->endpoint, "POST /v1/videos/%s", edit ? "edits" : "generations");
    j->ready_at = gs_monotonic() + S.lat_video / 1000.0;
    j->duration = dur;
    j->outcome = JOB_DONE;
    j->fate = fault_outcome(f);
    /* An edit keeps its input's resolution: ours are 720p. */
    int p480 = !edit && !strcmp(json_str(req, "resolution", "480p"), "480p");
    j->ticks = dur * (p480 ? TICKS_PER_S_480 : TICKS_PER_S_720) + (json_get(req, "image") ? TICKS_VIDEO_INPUT_IMAGE : 0);
    char body[128];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\"}", j->id);
    pthread_mutex_unlock(&S.mu);
    *status = 200;
    return strdup(body);
}

static enum MHD_Result route_video_poll(struct MHD_Connection *c, const char *id, const fault *f, int *status)
{
    pthread_mutex_lock(&S.mu);
    job *j = NULL;
    for (int i = 0; i < S.n_jobs; i++)
        if (!strcmp(S.jobs[i].id, id))
            j = &S.jobs[i];
    int pending = j && (gs_monotonic() < j->ready_at || j->polls < S.poll_pending);
    if (j)
        j->polls++;
    int dur = j ? j->duration : 0;
    long long ticks = j ? j->ticks : 0;
    /* A fault decides how the job ended (and so what it bills); it stays so. */
    if (j && !pending && j->outcome == JOB_DONE)
        j->outcome = j->fate != JOB_DONE ? j->fate : fault_outcome(f);
    int outcome = j ? j->outcome : JOB_DONE;
    pthread_mutex_unlock(&S.mu);
    if (!j) {
        *status = 404;
        return send_error(c, 404, "no such video request", NULL);
    }
    if (pending) {
        *status = 202;
        return send_body(c, 202, NULL, "", 0, NULL);
    }
    char body[600];
    *status = 200;
    if (outcome == JOB_MODERATED) {
        *status = 400;
        snprintf(body, sizeof body,
                 "{\"code\":\"Client specified an invalid argument\",\"error\":\"Generated video rejected by "
                 "content moderation.\",\"usage\":{\"cost_in_usd_ticks\":%lld}}",
                 ticks);
        return send_json(c, 400, body, NULL);
    }
    if (outcome == JOB_FAILED)
        return send_json(c, 200, "{\"status\":\"failed\",\"progress\":0,\"error\":{\"code\":\"internal_error\","
                                 "\"message\":\"the fake video worker crashed\"}}", NULL);
    if (outcome == JOB_EXPIRED)
        return send_json(c, 200, "{\"status\":\"expired\"}", NULL);
    int respect = !(f && !strcmp(f->kind, "respect_false"));
    if (respect)
        snprintf(body, sizeof body,
                 "{\"status\":\"done\",\"video\":{\"url\":\"http://127.0.0.1:%u/assets/%s.mp4\",\"duration\":%d,"
                 "\"respect_moderation\":true},\"model\":\"grok-imagine-video\",\"usage\":{\"cost_in_usd_ticks\":%lld},"
                 "\"progress\":100}",
                 S.port, id, dur, ticks);
    else
        snprintf(body, sizeof body, "{\"status\":\"done\",\"video\":{\"url\":\"\",\"duration\":%d,"
                                    "\"respect_moderation\":false},\"usage\":{\"cost_in_usd_ticks\":%lld},\"progress\":100}",
                 dur, ticks);
    return send_json(c, 200, body, NULL);
}

/* ---- MHD glue ---- */

typedef struct conn_state {
    char *body;
    size_t len, cap;
} conn_state;

/* A video job that will answer 202 to its next poll (faults wait for the real answer). */
static int job_pending(const char *id)
{
    int pending = 0;
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < S.n_jobs; i++)
        if (!strcmp(S.jobs[i].id, id))
            pending = gs_monotonic() < S.jobs[i].ready_at || S.jobs[i].polls < S.poll_pending;
    pthread_mutex_unlock(&S.mu);
    return pending;
}

/* slow: waits (at most 120 s) until the client closes its side, i.e. it timed out. */
static void wait_for_hangup(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    int fd = ci->connect_fd;
    for (double t0 = gs_monotonic(); gs_monotonic() - t0 < 120;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
        if (poll(&p, 1, 100) > 0) {
            char b;
            ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) || n == 0)
                return;
        }
    }
}

static enum MHD_Result handle(struct MHD_Connection *c, const char *method, const char *url, const char *body)
{
    fault f;
    pthread_mutex_lock(&S.mu);
    snprintf(cur_rid, sizeof cur_rid, "fake-req-%ld", ++S.counter);
    pthread_mutex_unlock(&S.mu);
    const char *cid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Client-Request-Id");
    snprintf(cur_cid, sizeof cur_cid, "%s", cid ? cid : "");
    cur_ticks = -1;
    int poll = !strcmp(method, "GET") && !strncmp(url, "/v1/videos/", 11);
    int has_fault = !(poll && job_pending(url + 11)) && pick_fault(method, url, body, &f);
    int status = 500;
    char fdesc[64] = "";
    const char *prompt = NULL;
    jv *req = NULL;
    if (body && *body)
        req = json_parse(body, strlen(body), NULL, 0);
    prompt = json_str(req, "prompt", NULL);
    if (has_fault) {
        snprintf(fdesc, sizeof fdesc, "%s%s%d", f.kind, f.kind[0] ? ":" : "", f.status);
        sleep_ms(f.delay_ms);
        if (!strcmp(f.kind, "slow") || !strcmp(f.kind, "hang"))
            wait_for_hangup(c);
    }
    if (has_fault && !strcmp(f.kind, "hang")) {
        log_request(method, url, 0, fdesc, prompt);
        json_free(req);
        return MHD_NO; /* closes the connection: nothing was processed */
    }
    enum MHD_Result ret;
    if (!strcmp(url, "/control/quit")) {
        pthread_mutex_lock(&S.mu);
        S.quit = 1;
        pthread_mutex_unlock(&S.mu);
        status = 200;
        ret = send_json(c, 200, "{\"ok\":true}", NULL);
        goto out;
    }
    if (!strcmp(url, "/control/billing")) {
        char *b = billing_json();
        status = b ? 200 : 500;
        ret = b ? send_json(c, 200, b, NULL) : send_error(c, 500, "out of memory", NULL);
        free(b);
        goto out;
    }
    if (has_fault && f.status) {
        status = f.status;
        char m[128];
        snprintf(m, sizeof m, "fake fault: HTTP %d", f.status);
        ret = send_error(c, f.status, m, f.retry_after);
        goto out;
    }
    if (!strncmp(url, "/assets/", 8)) {
        status = 200;
        int cut = has_fault && !strcmp(f.kind, "truncated");
        ret = strstr(url, ".mp4") ? send_file(c, S.video, "video/mp4", cut) : send_file(c, S.image, "image/jpeg", cut);
        goto out;
    }
    if (strncmp(url, "/v1/", 4) != 0) {
        status = 404;
        ret = send_error(c, 404, "not found", NULL);
        goto out;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || !auth[7] || (S.reject_key[0] && !strcmp(auth + 7, S.reject_key))) {
        status = 401;
        ret = send_error(c, 401, "Incorrect API key provided. You can obtain an API key from https://console.x.ai.",
                         NULL);
        goto out;
    }
    if (has_fault && !strcmp(f.kind, "malformed")) {
        status = 200;
        ret = send_json(c, 200, "{\"data\": [ {\"url\": ", NULL);
        goto out;
    }
    int post = !strcmp(method, "POST");
    char msg[256] = "bad request";
    char *out = NULL;
    if (post && !req) {
        status = 400;
        ret = send_error(c, 400, "the body is not JSON", NULL);
        goto out;
    }
    if (!post && !strcmp(url, "/v1/models")) {
        status = 200;
        ret = send_json(c, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"grok-4-1-fast-reasoning\"},"
                                "{\"id\":\"grok-imagine-image\"},{\"id\":\"grok-imagine-video\"}]}", NULL);
        goto out;
    }
    if (post && !strcmp(url, "/v1/chat/completions")) {
        sleep_ms(S.lat_chat);
        out = route_chat(req, &status);
        const char *t = json_str(req, "messages.1.content.0.text", NULL);
        prompt = t;
    } else if (post && !strcmp(url, "/v1/images/generations")) {
        out = route_image(req, 0, has_fault ? &f : NULL, &status, msg, sizeof msg);
    } else if (post && !strcmp(url, "/v1/images/edits")) {
        out = route_image(req, 1, has_fault ? &f : NULL, &status, msg, sizeof msg);
    } else if (post && (!strcmp(url, "/v1/videos/generations") || !strcmp(url, "/v1/videos/edits") ||
                        !strcmp(url, "/v1/videos/extensions"))) {
        out = route_video_create(req, strcmp(url, "/v1/videos/generations") != 0, has_fault ? &f : NULL, &status, msg,
                                 sizeof msg);
    } else if (!post && !strncmp(url, "/v1/videos/", 11)) {
        ret = route_video_poll(c, url + 11, has_fault ? &f : NULL, &status);
        goto out;
    } else {
        status = 404;
        ret = send_error(c, 404, "no such route", NULL);
        goto out;
    }
    ret = out ? send_json(c, status, out, NULL) : send_error(c, status, msg, NULL);
    free(out);
out:
    log_request(method, url, status, has_fault ? fdesc : NULL, prompt);
    json_free(req);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ptr)
{
    (void)cls;
    (void)version;
    conn_state *st = *ptr;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *ptr = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->len + *upload_size + 1 > st->cap) {
            size_t nc = st->cap ? st->cap * 2 : 65536;
            while (nc < st->len + *upload_size + 1)
                nc *= 2;
            char *nb = realloc(st->body, nc);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = nc;
        }
        memcpy(st->body + st->len, upload, *upload_size);
        st->len += *upload_size;
        st->body[st->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(c, method, url, st->body);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    conn_state *st = *ptr;
    if (st) {
        free(st->body);
        free(st);
    }
    *ptr = NULL;
}

static int make_media(void)
{
    char cmd[4096];
    snprintf(S.image, sizeof S.image, "%s/fake_image.jpg", S.dir);
    snprintf(S.video, sizeof S.video, "%s/fake_video.mp4", S.dir);
    if (access(S.image, R_OK) == 0 && access(S.video, R_OK) == 0)
        return 0;
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x180:rate=1 "
             "-frames:v 1 '%s' && ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x180:rate=24 "
             "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac "
             "-shortest '%s'",
             S.dir, S.image, S.video);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *script = NULL, *log = NULL;
    double idle = 120;
    snprintf(S.dir, sizeof S.dir, "/tmp/fake_xai_%d", (int)getpid());
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--script") && i + 1 < argc)
            script = argv[++i];
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(S.dir, sizeof S.dir, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--idle") && i + 1 < argc)
            idle = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: fake_xai [--script FILE] [--log FILE] [--dir DIR] [--idle SECONDS]\n");
            return 2;
        }
    }
    if (script)
        load_script(script);
    if (log && !(S.log = fopen(log, "a"))) {
        fprintf(stderr, "fake_xai: %s: %s\n", log, strerror(errno));
        return 2;
    }
    if (make_media() != 0) {
        fprintf(stderr, "fake_xai: ffmpeg could not make the media in %s\n", S.dir);
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                            NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                            (unsigned)60, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_xai: cannot start the server\n");
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    S.port = info ? info->port : 0;
    S.last_request = gs_monotonic();
    printf("PORT %u\n", S.port);
    fflush(stdout);
    for (;;) {
        sleep_ms(50);
        pthread_mutex_lock(&S.mu);
        int stop = S.quit || gs_monotonic() - S.last_request > idle;
        pthread_mutex_unlock(&S.mu);
        if (stop)
            break;
    }
    sleep_ms(50); /* let the quit reply go out */
    MHD_stop_daemon(d);
    if (S.log)
        fclose(S.log);
    return 0;
}
