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
 *
 * This file: the configuration, money (what an answer costs), chat with
 * structured output, the provider's table and the Lua face. Beside it:
 * xai_http.c (requests, retries, downloads), xai_plan.c (plans, scores,
 * rewording) and xai_media.c (images and videos).
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
#include "xai_internal.h"

/* ---- configuration (environment; every model configurable) ---- */

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

/* ---- money (xai-api.md §6): usage.cost_in_usd_ticks, else list prices ---- */

/* The service's figure, or -1 when the answer has none. */
int64_t usage_ticks(const jv *j)
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

int64_t video_list_ticks(double duration_s, int p480, int with_image)
{
    return (int64_t)llround(duration_s) * (p480 ? TICKS_VIDEO_480_S : TICKS_VIDEO_720_S) +
           (with_image ? TICKS_VIDEO_INPUT_IMAGE : 0);
}

/* The answer named itself: its charge goes under the service's id. */
static void bill_answered(bill *b, const xresp *r)
{
    if (r->request_id[0])
        snprintf(b->id, sizeof b->id, "%s", r->request_id);
}

/* A charge for b; update amends the one recorded before (ticks or estimated
 * -1: unchanged; prior: what this meter counted for it). */
void bill_charge(const bill *b, int update, int64_t ticks, int64_t prior, int estimated, const char *outcome,
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
int post(const xai_cfg *c, bill *b, const char *path, const char *body, int64_t guess, xresp *r, jv **j,
         char *err, size_t errlen)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", c->base_url, path);
    new_client_id(b->id, sizeof b->id);
    *j = NULL;
    if (gs_meter_permit(b->m, guess, err, errlen) != 0) /* the run's budget: not sent */
        return CALL_FAILED;
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

/* An error answer: its message in err; charged when it carries a cost.
 * Returns GS_PROVIDER_MODERATED for a refusal, else -1. */
int answered_error(const bill *b, const xresp *r, const jv *j, const char *what, char *err, size_t errlen)
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

/* The request body of chat_json; NULL with err set (an image that cannot be read, out of memory). */
static char *chat_body(const char *model, const char *system, const char *text, const char *const images[],
                       size_t n_images, const char *schema_name, const char *schema, char *err, size_t errlen)
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
    if (!body)
        snprintf(err, errlen, "xai chat: out of memory");
    return body;
}

/* Sends a system + user message (text and images as data URLs) and asks for
 * JSON matching schema; returns the parsed content. */
jv *chat_json(const xai_cfg *c, gs_meter *meter, const char *model, const char *system, const char *text,
              const char *const images[], size_t n_images, const char *schema_name, const char *schema,
              char *err, size_t errlen)
{
    char *body = chat_body(model, system, text, images, n_images, schema_name, schema, err, errlen);
    if (!body)
        return NULL;
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

int luaopen_grokspicy_core_xai(lua_State *L);
int luaopen_grokspicy_core_xai(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"check", l_check},
        {"config", l_config},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    /* xai.LIST_PRICES: what the provider holds on the budget before a request
       (USD): image (a generation; an edit is this per input image plus the
       output), video_480p_s and video_720p_s (per second), video_input_image. */
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, (double)TICKS_IMAGE / GS_TICKS_PER_USD);
    lua_setfield(L, -2, "image");
    lua_pushnumber(L, (double)TICKS_VIDEO_480_S / GS_TICKS_PER_USD);
    lua_setfield(L, -2, "video_480p_s");
    lua_pushnumber(L, (double)TICKS_VIDEO_720_S / GS_TICKS_PER_USD);
    lua_setfield(L, -2, "video_720p_s");
    lua_pushnumber(L, (double)TICKS_VIDEO_INPUT_IMAGE / GS_TICKS_PER_USD);
    lua_setfield(L, -2, "video_input_image");
    lua_setfield(L, -2, "LIST_PRICES");
    return 1;
}
