/*
 * xai_media.c — grokspicy.xai, the provider's images and videos: generations
 * and edits, video jobs polled to the end and downloaded, and resuming a job an
 * earlier process paid for.
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

/* What every generation and edit body opens with: the model and the prompt. */
static void body_begin(jw *w, const char *model, const char *prompt)
{
    jw_begin_obj(w);
    jw_key(w, "model");
    jw_str(w, model);
    jw_key(w, "prompt");
    jw_str(w, prompt);
}

/* An image body's opening: one image of model from prompt. */
static void image_body_begin(jw *w, const char *model, const char *prompt)
{
    body_begin(w, model, prompt);
    jw_key(w, "n");
    jw_int(w, 1);
}

/* "key": {"url": <path as a data URL>}; -1 with err (the body reset) when the
 * file cannot be read. */
static int media_url(jw *w, const char *key, const char *path, char *err, size_t errlen)
{
    if (key)
        jw_key(w, key);
    jw_begin_obj(w);
    jw_key(w, "url");
    if (jw_data_url(w, path, err, errlen) != 0) {
        jw_reset(w);
        return -1;
    }
    return 0;
}

/* The body written so far, NULL with err when memory ran out. */
static char *body_take(jw *w, char *err, size_t errlen)
{
    char *body = jw_take(w);
    if (!body)
        snprintf(err, errlen, "xai: out of memory");
    return body;
}

int xai_generate_image(gs_provider *pp, const char *prompt, const char *aspect, const char *out_path,
                       gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw w = {0};
    image_body_begin(&w, x->cfg.image_model, prompt);
    jw_key(&w, "aspect_ratio");
    jw_str(&w, aspect && *aspect ? aspect : "16:9");
    jw_key(&w, "response_format");
    jw_str(&w, "url");
    jw_end_obj(&w);
    char *body = body_take(&w, err, errlen);
    if (!body)
        return -1;
    int rc = image_call(x, "/images/generations", x->cfg.image_model, body, TICKS_IMAGE, out_path, meter, err,
                        errlen);
    free(body);
    return rc;
}

int xai_edit_image(gs_provider *pp, const char *prompt, const char *const refs[], size_t n_refs,
                   const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    if (n_refs < 1 || n_refs > 3) {
        snprintf(err, errlen, "xai edit_image: 1 to 3 reference images, got %zu", n_refs);
        return -1;
    }
    jw w = {0};
    image_body_begin(&w, x->cfg.edit_model, prompt);
    jw_key(&w, "response_format");
    jw_str(&w, "url");
    /* one source: "image"; several: "images" (xai-api.md §2; the two never mix) */
    jw_key(&w, n_refs == 1 ? "image" : "images");
    if (n_refs > 1)
        jw_begin_arr(&w);
    for (size_t i = 0; i < n_refs; i++) {
        if (media_url(&w, NULL, refs[i], err, errlen) != 0)
            return -1;
        jw_key(&w, "type");
        jw_str(&w, "image_url");
        jw_end_obj(&w);
    }
    if (n_refs > 1)
        jw_end_arr(&w);
    jw_end_obj(&w);
    char *body = body_take(&w, err, errlen);
    if (!body)
        return -1;
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
    double deadline = gs_monotonic() + c->video_timeout_s;
    for (;;) {
        if (gs_media_cancelled()) {
            snprintf(err, errlen, "xai video %s: cancelled while the job ran (it stays recorded at its list price; "
                     "a resumed run polls it)", b->id);
            bill_charge(b, 1, -1, prior, -1, "abandoned", "cancelled while the job ran");
            return -1;
        }
        if (gs_monotonic() > deadline) {
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

int xai_generate_video(gs_provider *pp, const char *prompt, const char *image_path, double duration_s,
                       const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                       char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw w = {0};
    body_begin(&w, x->cfg.video_model, prompt);
    if (image_path) {
        if (media_url(&w, "image", image_path, err, errlen) != 0)
            return -1;
        jw_end_obj(&w);
    }
    jw_key(&w, "duration");
    jw_int(&w, (long long)lround(duration_s));
    jw_key(&w, "aspect_ratio");
    jw_str(&w, aspect && *aspect ? aspect : "16:9");
    jw_key(&w, "resolution");
    jw_str(&w, resolution && *resolution ? resolution : "720p");
    jw_end_obj(&w);
    char *body = body_take(&w, err, errlen);
    if (!body)
        return -1;
    int64_t estimate = video_list_ticks(duration_s, resolution && !strcmp(resolution, "480p"), image_path != NULL);
    int rc = video_job(x, "/videos/generations", body, estimate, out_path, meter, err, errlen);
    free(body);
    return rc;
}

int xai_edit_video(gs_provider *pp, const char *prompt, const char *video_path, const char *out_path,
                   gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    /* the output keeps the input's length, at 720p (xai-api.md §3): its list price */
    gs_media_info info;
    char perr[200];
    double dur = gs_media_probe(video_path, &info, perr, sizeof perr) == 0 && info.duration > 0 ? info.duration : 8;
    jw w = {0};
    body_begin(&w, x->cfg.video_model, prompt);
    if (media_url(&w, "video", video_path, err, errlen) != 0)
        return -1;
    jw_end_obj(&w);
    jw_end_obj(&w);
    char *body = body_take(&w, err, errlen);
    if (!body)
        return -1;
    int rc = video_job(x, "/videos/edits", body, video_list_ticks(dur, 0, 0), out_path, meter, err, errlen);
    free(body);
    return rc;
}

/* A job an earlier process created (its charge is in the ledger under
 * request_id): polled and settled here, never created again. */
int xai_resume_video(gs_provider *pp, const char *request_id, const char *out_path, gs_meter *meter, char *err,
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
