/*
 * steps.c — grokspicy.steps: the pipeline steps over a provider, run on the
 * worker pool (pool.c), with refcounted futures and one bounded event queue
 * per context. The Lua face (grokspicy.steps) is steps_lua.c; what a running
 * step shares is steps_run.c, each step kind has its file (steps_sheet.c,
 * steps_keyframe.c, steps_video.c, steps_assemble.c), and the default prompt
 * templates are steps_prompts.c.
 *
 * Owns: step contexts, futures, step arguments and results, the queue of what
 * the steps' provider calls were charged (the ledger's source), the files a
 * step writes under run_dir/{characters,keyframes,videos,frames}. Never touches a
 * Lua state from a worker (workers see only the plain C structs of gs_steps.h),
 * never speaks a provider wire format, never builds an ffmpeg command line.
 *
 * Locking: ctx->mu guards the event ring, future states and every refcount;
 * it is never held across a provider or media call. Workers ring ctx->cv (the
 * doorbell carries no data). A "done" event has a slot reserved at submit time
 * so it is never dropped; progress events are dropped (and counted) when only
 * reserved slots remain.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_steps.h"
#include "gs_util.h"
#include "steps_internal.h"

/* ---- small helpers ---- */

char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void gs_steps_slug(const char *name, char *out, size_t len)
{
    size_t n = 0;
    int gap = 0;
    for (const unsigned char *s = (const unsigned char *)name; *s && n + 2 < len; s++) {
        unsigned char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
            if (gap && n > 0)
                out[n++] = '_';
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            gap = 0;
        } else {
            gap = 1;
        }
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, len, "character");
}

/* ---- options ---- */

int gs_steps_options_default(gs_steps_options *o)
{
    memset(o, 0, sizeof *o);
    o->character_threshold = 0.80;
    o->character_max_attempts = 3;
    o->keyframe_threshold = 0.80;
    o->keyframe_max_fix_edits = 3;
    o->video_threshold = 0.80;
    o->video_max_corrections = 2;
    o->video_max_edit_input = 8.7;
    o->long_clip_regen_threshold = 0.50;
    snprintf(o->resolution, sizeof o->resolution, "720p");
    o->tpl_portrait = xstrdup(gs_steps_default_template("portrait"));
    o->tpl_keyframe = xstrdup(gs_steps_default_template("keyframe"));
    o->tpl_fix = xstrdup(gs_steps_default_template("fix"));
    o->tpl_video_motion = xstrdup(gs_steps_default_template("video_motion"));
    o->tpl_video_correction = xstrdup(gs_steps_default_template("video_correction"));
    if (!o->tpl_portrait || !o->tpl_keyframe || !o->tpl_fix || !o->tpl_video_motion || !o->tpl_video_correction) {
        gs_steps_options_free(o);
        return -1;
    }
    return 0;
}

void gs_steps_options_free(gs_steps_options *o)
{
    free(o->tpl_portrait);
    free(o->tpl_keyframe);
    free(o->tpl_fix);
    free(o->tpl_video_motion);
    free(o->tpl_video_correction);
    o->tpl_portrait = o->tpl_keyframe = o->tpl_fix = o->tpl_video_motion = o->tpl_video_correction = NULL;
}

static int options_copy(gs_steps_options *dst, const gs_steps_options *src)
{
    *dst = *src;
    dst->tpl_portrait = xstrdup(src->tpl_portrait);
    dst->tpl_keyframe = xstrdup(src->tpl_keyframe);
    dst->tpl_fix = xstrdup(src->tpl_fix);
    dst->tpl_video_motion = xstrdup(src->tpl_video_motion);
    dst->tpl_video_correction = xstrdup(src->tpl_video_correction);
    if (!dst->tpl_portrait || !dst->tpl_keyframe || !dst->tpl_fix || !dst->tpl_video_motion ||
        !dst->tpl_video_correction) {
        gs_steps_options_free(dst);
        return -1;
    }
    return 0;
}

/* ---- media hooks ---- */

static int ff_probe(void *ud, const char *path, double *duration, char *err, size_t errlen)
{
    (void)ud;
    gs_media_info info;
    if (gs_media_probe(path, &info, err, errlen) != 0)
        return -1;
    *duration = info.duration;
    return 0;
}

static int ff_frame(void *ud, const char *video, const char *out, int last, char *err, size_t errlen)
{
    (void)ud;
    return gs_media_extract_frame(video, out, last, err, errlen);
}

static int ff_normalize(void *ud, const char *in, const char *out, char *err, size_t errlen)
{
    (void)ud;
    return gs_media_normalize(in, out, err, errlen);
}

static int ff_concat(void *ud, const char *const clips[], size_t n, const char *out, char *err, size_t errlen)
{
    (void)ud;
    return gs_media_concat(clips, n, out, err, errlen);
}

static const gs_steps_media ffmpeg_media = {ff_probe, ff_frame, ff_normalize, ff_concat, NULL};
static const gs_steps_media *_Atomic default_media;

const gs_steps_media *gs_steps_media_ffmpeg(void)
{
    return &ffmpeg_media;
}

void gs_steps_set_default_media(const gs_steps_media *m)
{
    default_media = m;
}

/* ---- arguments and results ---- */

const char *gs_step_kind_name(gs_step_kind k)
{
    switch (k) {
    case GS_STEP_CHARACTER_SHEET: return "generate_character_sheet";
    case GS_STEP_COMPOSE_KEYFRAME: return "compose_keyframe";
    case GS_STEP_SCENE_VIDEO: return "generate_scene_video";
    case GS_STEP_ASSEMBLE: return "assemble_final_video";
    }
    return "?";
}

void gs_step_args_free(gs_step_args *a)
{
    if (!a)
        return;
    free(a->style);
    free(a->aspect);
    free(a->reference);
    for (size_t i = 0; i < a->n_chars; i++) {
        free(a->chars[i].name);
        free(a->chars[i].role);
        free(a->chars[i].visual_description);
        free(a->chars[i].portrait_path);
    }
    free(a->chars);
    gs_step_scene *s = &a->scene;
    free(s->title);
    free(s->description);
    free(s->setting);
    free(s->camera);
    free(s->mood);
    free(s->action);
    gs_free_strv(s->present, s->n_present);
    free(a->previous_keyframe);
    free(a->keyframe_path);
    free(a->video_prompt);
    free(a->pending_video);
    gs_free_strv(a->clips, a->n_clips);
    gs_free_strv(a->normalized, a->n_normalized);
    free(a->out);
    memset(a, 0, sizeof *a);
}

void gs_step_result_free(gs_step_result *r)
{
    for (size_t i = 0; i < r->n_fields; i++)
        free(r->fields[i].s);
    for (size_t i = 0; i < r->n_attempts; i++) {
        free(r->attempts[i].path);
        free(r->attempts[i].issues);
    }
    free(r->attempts);
    gs_free_strv(r->refs, r->n_refs);
    memset(r, 0, sizeof *r);
}

static const gs_step_field *find_field(const gs_step_result *r, const char *key)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (!strcmp(r->fields[i].key, key))
            return &r->fields[i];
    return NULL;
}

const char *gs_step_result_str(const gs_step_result *r, const char *key)
{
    const gs_step_field *f = find_field(r, key);
    return f && f->type == GS_FIELD_STR ? f->s : NULL;
}

double gs_step_result_num(const gs_step_result *r, const char *key)
{
    const gs_step_field *f = find_field(r, key);
    return f && f->type != GS_FIELD_STR ? f->n : NAN;
}

int add_field(gs_step_result *r, const char *key, int type, const char *s, double n)
{
    if (r->n_fields == GS_STEP_MAX_FIELDS)
        return -1;
    gs_step_field *f = &r->fields[r->n_fields];
    f->key = key;
    f->type = type;
    f->n = n;
    f->s = NULL;
    if (type == GS_FIELD_STR && !(f->s = strdup(s ? s : "")))
        return -1;
    r->n_fields++;
    return 0;
}

/* ---- context, futures, event ring ---- */

/* Waits on ctx->cv until deadline (< 0: for ever). 0 on timeout. */
static int cv_wait_until(gs_steps_ctx *ctx, double deadline)
{
    if (deadline < 0) {
        pthread_cond_wait(&ctx->cv, &ctx->mu);
        return 1;
    }
    double t = deadline;
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts) != ETIMEDOUT;
}

static double deadline_of(double timeout_s)
{
    return timeout_s < 0 ? -1 : gs_monotonic() + timeout_s;
}

static void ctx_destroy(gs_steps_ctx *ctx)
{
    free(ctx->charges);
    gs_steps_options_free(&ctx->opt);
    free(ctx->ring);
    free(ctx->out_dir);
    free(ctx->run_dir);
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    free(ctx);
}

static void future_free(gs_future *f)
{
    gs_step_args_free(&f->args);
    gs_step_result_free(&f->res);
    free(f);
}

/* Drops one reference under ctx->mu; returns 1 when the future must be freed
 * (after unlocking) and sets *ctx_last when the context went with it. */
static int future_unref_locked(gs_future *f, int *ctx_last)
{
    if (--f->refs > 0)
        return 0;
    *ctx_last = --f->ctx->refs == 0;
    return 1;
}

void gs_future_release(gs_future *f)
{
    if (!f)
        return;
    gs_steps_ctx *ctx = f->ctx;
    int ctx_last = 0;
    pthread_mutex_lock(&ctx->mu);
    int dead = future_unref_locked(f, &ctx_last);
    pthread_mutex_unlock(&ctx->mu);
    if (dead)
        future_free(f);
    if (ctx_last)
        ctx_destroy(ctx);
}

/* Under ctx->mu. Progress only when a free, unreserved slot remains. */
void push_event_locked(gs_steps_ctx *ctx, const gs_step_event *ev, gs_future *done_f)
{
    if (!done_f && ctx->count + ctx->reserved >= ctx->cap) {
        ctx->dropped++;
        return;
    }
    qev *q = &ctx->ring[(ctx->head + ctx->count) % ctx->cap];
    q->ev = *ev;
    q->f = done_f;
    ctx->count++;
    pthread_cond_broadcast(&ctx->cv);
}

void fill_event(gs_step_event *ev, int kind, const gs_future *f, const char *asset)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->future_id = f->id;
    ev->score = -1;
    snprintf(ev->step, sizeof ev->step, "%s", gs_step_kind_name(f->args.kind));
    snprintf(ev->asset, sizeof ev->asset, "%s", asset ? asset : "");
}

/* A worker (or discard) finished f: publish the result and the done event. */
void future_finish(gs_future *f, const char *asset)
{
    gs_steps_ctx *ctx = f->ctx;
    gs_step_event ev;
    fill_event(&ev, GS_EVENT_DONE, f, asset);
    ev.ok = f->res.ok;
    const char *msg = f->res.ok ? "done" : f->res.err;
    size_t len = strlen(msg);
    if (len >= sizeof ev.message)
        len = sizeof ev.message - 1;
    memcpy(ev.message, msg, len);
    ev.message[len] = '\0';
    int ctx_last = 0;
    pthread_mutex_lock(&ctx->mu);
    f->done = 1;
    ctx->pending--;
    ctx->reserved--;
    f->refs++; /* the event's */
    push_event_locked(ctx, &ev, f);
    int dead = future_unref_locked(f, &ctx_last); /* the worker's */
    pthread_mutex_unlock(&ctx->mu);
    if (dead)
        future_free(f);
    if (ctx_last)
        ctx_destroy(ctx);
}

void asset_of(const gs_step_args *a, char *buf, size_t len)
{
    switch (a->kind) {
    case GS_STEP_CHARACTER_SHEET:
        snprintf(buf, len, "%s", a->n_chars ? a->chars[0].name : "?");
        break;
    case GS_STEP_COMPOSE_KEYFRAME:
    case GS_STEP_SCENE_VIDEO:
        snprintf(buf, len, "scene %d", a->scene.scene_id);
        break;
    case GS_STEP_ASSEMBLE:
        snprintf(buf, len, "final");
        break;
    }
}

/* The ledger's name of what a step pays for. */
void ledger_asset_of(const gs_step_args *a, char *buf, size_t len)
{
    switch (a->kind) {
    case GS_STEP_CHARACTER_SHEET:
        snprintf(buf, len, "character:%s", a->n_chars ? a->chars[0].name : "?");
        break;
    case GS_STEP_COMPOSE_KEYFRAME:
        snprintf(buf, len, "scene:%d:keyframe", a->scene.scene_id);
        break;
    case GS_STEP_SCENE_VIDEO:
        snprintf(buf, len, "scene:%d:clip", a->scene.scene_id);
        break;
    case GS_STEP_ASSEMBLE:
        snprintf(buf, len, "final");
        break;
    }
}

static void discard_job(void *arg)
{
    gs_future *f = arg;
    char asset[64];
    asset_of(&f->args, asset, sizeof asset);
    f->res.ok = 0;
    snprintf(f->res.err, sizeof f->res.err, "%s(%s): context closed", gs_step_kind_name(f->args.kind), asset);
    future_finish(f, asset);
}

/* ---- paths ---- */

/* Absolute paths stay; relative ones are under output_dir. Malloc'd. */
char *resolve_in(const gs_steps_ctx *ctx, const char *p)
{
    if (!p)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    gs_sbuf b = {0};
    gs_sb_add(&b, ctx->out_dir);
    gs_sb_add(&b, "/");
    gs_sb_add(&b, p[0] == '.' && p[1] == '/' ? p + 2 : p);
    return gs_sb_take(&b);
}

/* What a result reports: relative to output_dir when the file lies under it.
 * Both sides are canonical (realpath of the directories, our own file names). */
char *rel_out(const gs_steps_ctx *ctx, const char *abs)
{
    size_t n = strlen(ctx->out_dir);
    if (n == 1 && ctx->out_dir[0] == '/')
        return strdup(abs + 1);
    if (!strncmp(abs, ctx->out_dir, n) && abs[n] == '/')
        return strdup(abs + n + 1);
    return strdup(abs);
}

/* ---- context API ---- */

gs_steps_ctx *gs_steps_open(const gs_steps_config *cfg, char *err, size_t errlen)
{
    gs_steps_ctx *ctx = calloc(1, sizeof *ctx);
    char path[PATH_MAX];
    if (!ctx) {
        snprintf(err, errlen, "steps: out of memory");
        goto fail_provider;
    }
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->cv, &ca);
    pthread_condattr_destroy(&ca);
    ctx->refs = 1;
    ctx->provider = cfg->provider;
    ctx->own_provider = cfg->own_provider;
    ctx->media = cfg->media ? *cfg->media : default_media ? *default_media : ffmpeg_media;
    ctx->cap = cfg->queue_size > 0 ? (size_t)cfg->queue_size : 256;
    ctx->next_id = 1;
    if (cfg->options ? options_copy(&ctx->opt, cfg->options) : gs_steps_options_default(&ctx->opt)) {
        snprintf(err, errlen, "steps: out of memory");
        goto fail;
    }
    const char *out = cfg->output_dir ? cfg->output_dir : "output";
    if (gs_mkdir_p(out) != 0 || !realpath(out, path)) {
        snprintf(err, errlen, "steps: output_dir %s: %s", out, strerror(errno));
        goto fail;
    }
    if (!(ctx->out_dir = strdup(path)))
        goto oom;
    char *rdir = cfg->run_dir ? resolve_in(ctx, cfg->run_dir) : strdup(ctx->out_dir);
    if (!rdir)
        goto oom;
    if (gs_mkdir_p(rdir) != 0 || !realpath(rdir, path)) {
        snprintf(err, errlen, "steps: run_dir %s: %s", rdir, strerror(errno));
        free(rdir);
        goto fail;
    }
    free(rdir);
    if (!(ctx->run_dir = strdup(path)))
        goto oom;
    static const char *const subdirs[] = {"characters", "keyframes", "videos", "frames"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", ctx->run_dir, subdirs[i]);
        if (gs_mkdir_p(path) != 0) {
            snprintf(err, errlen, "steps: %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (!(ctx->ring = calloc(ctx->cap, sizeof *ctx->ring)))
        goto oom;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cfg->workers > 0 ? cfg->workers : (int)(cores > 0 ? cores : 2);
    int maxc = gs_provider_max_concurrency(ctx->provider);
    if (maxc > 0 && n > maxc)
        n = maxc;
    n = n < 2 ? 2 : n > 64 ? 64 : n;
    if (!(ctx->pool = gs_pool_new(n, err, errlen)))
        goto fail;
    ctx->workers = n;
    return ctx;
oom:
    snprintf(err, errlen, "steps: out of memory");
fail:
    ctx_destroy(ctx);
fail_provider:
    if (cfg->own_provider)
        gs_provider_destroy(cfg->provider);
    return NULL;
}

void gs_steps_close(gs_steps_ctx *ctx)
{
    if (!ctx || ctx->closed)
        return;
    ctx->closed = 1;
    atomic_store(&ctx->closing, 1);
    pthread_mutex_lock(&ctx->mu); /* a worker waiting for room in the charge queue goes on */
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
    gs_pool_free(ctx->pool, discard_job);
    ctx->pool = NULL;
    if (ctx->own_provider)
        gs_provider_destroy(ctx->provider);
    ctx->provider = NULL;
}

void gs_steps_free(gs_steps_ctx *ctx)
{
    if (!ctx)
        return;
    gs_steps_close(ctx);
    /* queued done events hold futures, which hold the context: drop them */
    gs_future *dead = NULL;
    int ctx_last = 0;
    pthread_mutex_lock(&ctx->mu);
    for (; ctx->count; ctx->count--, ctx->head = (ctx->head + 1) % ctx->cap) {
        gs_future *f = ctx->ring[ctx->head].f;
        if (f && future_unref_locked(f, &ctx_last)) {
            f->next_free = dead;
            dead = f;
        }
    }
    ctx_last = --ctx->refs == 0;
    pthread_mutex_unlock(&ctx->mu);
    while (dead) {
        gs_future *next = dead->next_free;
        future_free(dead);
        dead = next;
    }
    if (ctx_last)
        ctx_destroy(ctx);
}

const char *gs_steps_output_dir(const gs_steps_ctx *ctx) { return ctx->out_dir; }
const char *gs_steps_run_dir(const gs_steps_ctx *ctx) { return ctx->run_dir; }
int gs_steps_workers(const gs_steps_ctx *ctx) { return ctx->workers; }
const gs_steps_options *gs_steps_get_options(const gs_steps_ctx *ctx) { return &ctx->opt; }

/* Under ctx->mu: drops queued progress and the done events whose results the
 * owner already took, to make room for a new step. */
static gs_future *evict_droppable_locked(gs_steps_ctx *ctx)
{
    gs_future *dead = NULL;
    size_t keep = 0;
    int ctx_last = 0; /* cannot reach 0: the caller holds the context */
    for (size_t i = 0; i < ctx->count; i++) {
        qev q = ctx->ring[(ctx->head + i) % ctx->cap];
        if (!q.f) {
            /* Progress is droppable by contract: a new step's "done" slot
             * matters more than a stale progress line. */
            ctx->dropped++;
            continue;
        }
        if (q.f->collected) {
            if (future_unref_locked(q.f, &ctx_last)) {
                q.f->next_free = dead;
                dead = q.f;
            }
            continue;
        }
        ctx->ring[(ctx->head + keep++) % ctx->cap] = q;
    }
    ctx->count = keep;
    return dead;
}

gs_future *gs_steps_submit(gs_steps_ctx *ctx, gs_step_args *args, char *err, size_t errlen)
{
    gs_future *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", gs_step_kind_name(args->kind));
        gs_step_args_free(args);
        return NULL;
    }
    f->args = *args;
    memset(args, 0, sizeof *args);
    f->ctx = ctx;
    f->refs = 2; /* the caller's and the worker's */
    pthread_mutex_lock(&ctx->mu);
    gs_future *dead = NULL;
    if (ctx->closed) {
        snprintf(err, errlen, "%s: the steps context is closed", gs_step_kind_name(f->args.kind));
    } else if (ctx->count + ctx->reserved >= ctx->cap && ((dead = evict_droppable_locked(ctx)), 1) &&
               ctx->count + ctx->reserved >= ctx->cap) {
        snprintf(err, errlen, "%s: %zu steps are pending or undelivered (queue of %zu); read events or wait",
                 gs_step_kind_name(f->args.kind), ctx->count + ctx->reserved, ctx->cap);
    } else {
        f->id = ctx->next_id++;
        ctx->reserved++;
        ctx->pending++;
        ctx->refs++;
        pthread_mutex_unlock(&ctx->mu);
        while (dead) {
            gs_future *next = dead->next_free;
            future_free(dead);
            dead = next;
        }
        if (gs_pool_submit(ctx->pool, run_job, f) != 0)
            discard_job(f);
        return f;
    }
    pthread_mutex_unlock(&ctx->mu);
    while (dead) {
        gs_future *next = dead->next_free;
        future_free(dead);
        dead = next;
    }
    future_free(f);
    return NULL;
}

int gs_future_id(const gs_future *f) { return f->id; }

int gs_future_done(gs_future *f)
{
    pthread_mutex_lock(&f->ctx->mu);
    int d = f->done;
    pthread_mutex_unlock(&f->ctx->mu);
    return d;
}

int gs_future_wait(gs_future *f, double timeout_s)
{
    gs_steps_ctx *ctx = f->ctx;
    double deadline = deadline_of(timeout_s);
    pthread_mutex_lock(&ctx->mu);
    while (!f->done && cv_wait_until(ctx, deadline))
        ;
    int d = f->done;
    pthread_mutex_unlock(&ctx->mu);
    return d;
}

const gs_step_result *gs_future_result(gs_future *f)
{
    return gs_future_done(f) ? &f->res : NULL;
}

void gs_future_cancel(gs_future *f) { atomic_store(&f->cancel, 1); }
gs_step_kind gs_future_kind(const gs_future *f) { return f->args.kind; }
void gs_future_mark_collected(gs_future *f) { f->collected = 1; }

int gs_steps_next_event(gs_steps_ctx *ctx, gs_step_event *ev, double timeout_s)
{
    double deadline = deadline_of(timeout_s);
    gs_future *f = NULL;
    pthread_mutex_lock(&ctx->mu);
    unsigned seq = ctx->charge_seq;
    while (ctx->count == 0 && ctx->pending > 0 && ctx->charge_seq == seq && cv_wait_until(ctx, deadline))
        ;
    int got = ctx->count > 0;
    if (got) {
        qev *q = &ctx->ring[ctx->head];
        *ev = q->ev;
        f = q->f;
        ctx->head = (ctx->head + 1) % ctx->cap;
        ctx->count--;
    }
    pthread_mutex_unlock(&ctx->mu);
    gs_future_release(f);
    return got;
}

gs_step_charge *gs_steps_take_charges(gs_steps_ctx *ctx, size_t *n, size_t *lost)
{
    pthread_mutex_lock(&ctx->mu);
    *lost = ctx->lost_charges;
    ctx->lost_charges = 0;
    gs_step_charge *v = ctx->charges;
    *n = ctx->n_charges;
    ctx->charges = NULL;
    ctx->n_charges = ctx->cap_charges = 0;
    pthread_cond_broadcast(&ctx->cv); /* workers waiting for room */
    pthread_mutex_unlock(&ctx->mu);
    return v;
}

void gs_steps_get_stats(gs_steps_ctx *ctx, gs_steps_stats *st)
{
    pthread_mutex_lock(&ctx->mu);
    st->queued = ctx->count;
    st->capacity = ctx->cap;
    st->dropped = ctx->dropped;
    st->pending = ctx->pending;
    st->workers = ctx->workers;
    pthread_mutex_unlock(&ctx->mu);
}
