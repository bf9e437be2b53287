/*
 * steps.c — grokspicy.steps: the pipeline steps over a provider, run on the
 * worker pool (pool.c), with refcounted futures and one bounded event queue
 * per context. The Lua face (grokspicy.steps) is steps_lua.c.
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

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

typedef struct tvar {
    const char *key, *value;
} tvar;

/* Replaces {key} with its value; unknown placeholders stay as written. */
static char *render_tpl(const char *tpl, const tvar *vars, size_t n)
{
    gs_sbuf b = {0};
    const char *s = tpl;
    while (*s) {
        const char *open = strchr(s, '{');
        if (!open) {
            gs_sb_add(&b, s);
            break;
        }
        gs_sb_addn(&b, s, (size_t)(open - s));
        const char *close = strchr(open + 1, '}');
        const char *val = NULL;
        if (close)
            for (size_t i = 0; i < n && !val; i++)
                if (strlen(vars[i].key) == (size_t)(close - open - 1) &&
                    !strncmp(vars[i].key, open + 1, (size_t)(close - open - 1)))
                    val = vars[i].value ? vars[i].value : "";
        if (val) {
            gs_sb_add(&b, val);
            s = close + 1;
        } else {
            gs_sb_addn(&b, open, 1);
            s = open + 1;
        }
    }
    return gs_sb_take(&b);
}

/* Lower-case ASCII letters and digits, runs of anything else as one '_'. */
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

static const struct {
    const char *name, *text;
} default_templates[] = {
    {"portrait", "{style}. Character reference sheet of {name}: one full-body figure, front view, centred, "
                 "plain light background, even lighting. {description}"},
    {"keyframe", "{style}. {ref_bindings}Scene: {setting}. Action: {action}. Camera: {camera}. Mood: {mood}. "
                 "Characters: {description}"},
    {"fix", "Edit the current keyframe in reference image 1 and change only this: {fix_prompt} "
            "Issues: {issues}. Keep everything else identical. Characters: {description}"},
    {"video_motion", "{camera}. {action}. Mood: {mood}. {style}."},
    {"video_correction", "{fix_prompt} Issues: {issues}. Keep the camera motion, timing and framing."},
};

const char *gs_steps_default_template(const char *name)
{
    for (size_t i = 0; i < sizeof default_templates / sizeof default_templates[0]; i++)
        if (!strcmp(default_templates[i].name, name))
            return default_templates[i].text;
    return NULL;
}

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
    free(a->out);
    memset(a, 0, sizeof *a);
}

void gs_step_result_free(gs_step_result *r)
{
    for (size_t i = 0; i < r->n_fields; i++)
        free(r->fields[i].s);
    for (size_t i = 0; i < r->n_attempts; i++)
        free(r->attempts[i].path);
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

static int add_field(gs_step_result *r, const char *key, int type, const char *s, double n)
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

typedef struct qev {
    gs_step_event ev;
    gs_future *f;               /* done events hold a reference */
} qev;

struct gs_steps_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* the doorbell: events, completions */
    int refs;                   /* the handle + one per live future */
    int closed;
    atomic_int closing;
    gs_provider *provider;
    int own_provider;
    gs_pool *pool;
    int workers;
    char *out_dir, *run_dir;    /* canonical absolute paths */
    gs_steps_options opt;
    gs_steps_media media;
    qev *ring;
    size_t cap, head, count;
    size_t reserved;            /* slots promised to the "done" of pending steps */
    size_t dropped;             /* progress events lost to a full queue */
    size_t pending;
    int next_id;
    gs_step_charge *charges;    /* billed requests not yet taken, oldest first */
    size_t n_charges, cap_charges;
    unsigned charge_seq;        /* bumped per charge: wakes next_event once */
    size_t lost_charges;        /* could not be queued (out of memory) */
};

struct gs_future {
    gs_steps_ctx *ctx;
    int id;
    int refs;                   /* under ctx->mu */
    int done;                   /* under ctx->mu */
    int collected;              /* owner thread */
    atomic_int cancel;
    gs_step_args args;
    gs_step_result res;
    struct gs_future *next_free;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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
    return timeout_s < 0 ? -1 : now_mono() + timeout_s;
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
static void push_event_locked(gs_steps_ctx *ctx, const gs_step_event *ev, gs_future *done_f)
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

static void fill_event(gs_step_event *ev, int kind, const gs_future *f, const char *asset)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->future_id = f->id;
    ev->score = -1;
    snprintf(ev->step, sizeof ev->step, "%s", gs_step_kind_name(f->args.kind));
    snprintf(ev->asset, sizeof ev->asset, "%s", asset ? asset : "");
}

/* A worker (or discard) finished f: publish the result and the done event. */
static void future_finish(gs_future *f, const char *asset)
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

static void asset_of(const gs_step_args *a, char *buf, size_t len)
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
static void ledger_asset_of(const gs_step_args *a, char *buf, size_t len)
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
static char *resolve_in(const gs_steps_ctx *ctx, const char *p)
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
static char *rel_out(const gs_steps_ctx *ctx, const char *abs)
{
    size_t n = strlen(ctx->out_dir);
    if (n == 1 && ctx->out_dir[0] == '/')
        return strdup(abs + 1);
    if (!strncmp(abs, ctx->out_dir, n) && abs[n] == '/')
        return strdup(abs + n + 1);
    return strdup(abs);
}

/* ---- step runner ---- */

typedef struct run {
    gs_steps_ctx *ctx;
    gs_future *f;
    const gs_step_args *a;
    gs_step_result *r;
    const gs_steps_options *o;
    char *kf;                   /* video: the keyframe, resolved */
    char asset[64];
    char ledger_asset[96];      /* what the ledger charges: "scene:2:clip" */
    gs_meter meter;             /* every provider call of the step: charges go to the queue */
    char err[1024];
    char *why;                  /* the issues of the first check that fell short */
} run;

/* The step's meter: a charge is queued the moment the provider reports it. */
static void queue_charge(void *ud, const gs_charge *c)
{
    run *w = ud;
    gs_steps_ctx *ctx = w->ctx;
    pthread_mutex_lock(&ctx->mu);
    while (ctx->n_charges >= GS_STEPS_MAX_CHARGES && !atomic_load(&ctx->closing))
        pthread_cond_wait(&ctx->cv, &ctx->mu);
    if (ctx->n_charges == ctx->cap_charges) {
        size_t nc = ctx->cap_charges ? ctx->cap_charges * 2 : 16;
        gs_step_charge *nv = realloc(ctx->charges, nc * sizeof *nv);
        if (nv) {
            ctx->charges = nv;
            ctx->cap_charges = nc;
        }
    }
    if (ctx->n_charges < ctx->cap_charges) {
        gs_step_charge *q = &ctx->charges[ctx->n_charges++];
        snprintf(q->step, sizeof q->step, "%s", gs_step_kind_name(w->a->kind));
        snprintf(q->asset, sizeof q->asset, "%s", w->ledger_asset);
        q->c = *c;
    } else {
        ctx->lost_charges++;
    }
    ctx->charge_seq++;
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
}

static int fail(run *w, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->r->ok = 0;
    snprintf(w->r->err, sizeof w->r->err, "%s(%s): %s", gs_step_kind_name(w->a->kind), w->asset, msg);
    return -1;
}

static int cancelled(run *w)
{
    if (atomic_load(&w->f->cancel) || atomic_load(&w->ctx->closing))
        return fail(w, "cancelled");
    return 0;
}

static void progress(run *w, int attempt, double score, const char *fmt, ...)
{
    gs_step_event ev;
    fill_event(&ev, GS_EVENT_PROGRESS, w->f, w->asset);
    ev.attempt = attempt;
    ev.score = score;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.message, sizeof ev.message, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&w->ctx->mu);
    push_event_locked(w->ctx, &ev, NULL);
    pthread_mutex_unlock(&w->ctx->mu);
}

static char *join_issues(const gs_score *s);

/* Keeps what the vision check said the first time it sent the step round
 * again: the run page shows it beside the accepted asset. */
static void note_retry(run *w, double score, double threshold, const gs_score *s)
{
    if (score < threshold && !w->why && s && s->n_issues > 0)
        w->why = join_issues(s);
}

static int add_attempt(run *w, const char *abs, double score, const char *action)
{
    gs_step_result *r = w->r;
    gs_step_attempt *v = realloc(r->attempts, (r->n_attempts + 1) * sizeof *v);
    if (!v)
        return fail(w, "out of memory");
    r->attempts = v;
    if (!(v[r->n_attempts].path = rel_out(w->ctx, abs)))
        return fail(w, "out of memory");
    v[r->n_attempts].score = score;
    v[r->n_attempts].action = action;
    r->n_attempts++;
    return 0;
}

static char *run_path(run *w, const char *sub, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    gs_sbuf b = {0};
    gs_sb_printf(&b, "%s/%s/", w->ctx->run_dir, sub);
    gs_sb_add(&b, name);
    return gs_sb_take(&b);
}

static char *join_issues(const gs_score *s)
{
    gs_sbuf b = {0};
    for (size_t i = 0; i < s->n_issues; i++) {
        if (i)
            gs_sb_add(&b, "; ");
        gs_sb_add(&b, s->issues[i]);
    }
    return gs_sb_take(&b);
}

/* The best attempt so far, with what its score asked to fix. */
typedef struct best {
    double score;
    char *path;                 /* absolute */
    char *fix, *issues;
    double duration;            /* videos */
    char *first, *last;
} best;

static void best_free(best *b)
{
    free(b->path);
    free(b->fix);
    free(b->issues);
    free(b->first);
    free(b->last);
    memset(b, 0, sizeof *b);
    b->score = -1;
}

/* Takes path, first, last (may be NULL); copies the score's texts. */
static void best_offer(best *b, double score, char *path, const gs_score *s, double duration, char *first,
                       char *last)
{
    if (score <= b->score && b->path) {
        free(path);
        free(first);
        free(last);
        return;
    }
    best_free(b);
    b->score = score;
    b->path = path;
    b->first = first;
    b->last = last;
    b->duration = duration;
    b->fix = xstrdup(s && s->fix_prompt ? s->fix_prompt : "");
    b->issues = s ? join_issues(s) : strdup("");
}

/* Cast of a keyframe or video: the scene's characters_present that have an
 * asset (all given characters when the scene names none), those with a sheet
 * first so refs[i] is character i's sheet for score_consistency. */
#define MAX_CAST 8

typedef struct cast {
    const gs_step_character *c[MAX_CAST];
    size_t n, n_sheets;
    char *sheets[MAX_CAST];     /* absolute, n_sheets of them */
    const char *names[MAX_CAST], *descs[MAX_CAST];
} cast;

static void cast_free(cast *k)
{
    for (size_t i = 0; i < k->n_sheets; i++)
        free(k->sheets[i]);
}

static int cast_build(run *w, cast *k)
{
    const gs_step_args *a = w->a;
    const gs_step_character *pick[MAX_CAST];
    size_t n = 0;
    memset(k, 0, sizeof *k);
    if (a->scene.n_present) {
        for (size_t i = 0; i < a->scene.n_present && n < MAX_CAST; i++)
            for (size_t j = 0; j < a->n_chars; j++)
                if (!strcmp(a->scene.present[i], a->chars[j].name)) {
                    pick[n++] = &a->chars[j];
                    break;
                }
    } else {
        for (size_t j = 0; j < a->n_chars && n < MAX_CAST; j++)
            pick[n++] = &a->chars[j];
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if ((pick[i]->portrait_path != NULL) == (pass == 0)) {
                k->c[k->n] = pick[i];
                k->names[k->n] = pick[i]->name;
                k->descs[k->n] = pick[i]->visual_description ? pick[i]->visual_description : "";
                if (pass == 0 && !(k->sheets[k->n_sheets++] = resolve_in(w->ctx, pick[i]->portrait_path)))
                    return fail(w, "out of memory");
                k->n++;
            }
    return 0;
}

/* "Fox (hero): <description> Owl: <description>" */
static char *cast_descriptions(const cast *k)
{
    gs_sbuf b = {0};
    for (size_t i = 0; i < k->n; i++) {
        if (i)
            gs_sb_add(&b, " ");
        gs_sb_add(&b, k->c[i]->name);
        if (k->c[i]->role && *k->c[i]->role) {
            gs_sb_add(&b, " (");
            gs_sb_add(&b, k->c[i]->role);
            gs_sb_add(&b, ")");
        }
        gs_sb_add(&b, ": ");
        gs_sb_add(&b, k->descs[i]);
    }
    return gs_sb_take(&b);
}

/* Scores image against the cast. With no cast there is nothing to check: 1. */
static int score_cast(run *w, const cast *k, const char *image, double *score, gs_score *s)
{
    memset(s, 0, sizeof *s);
    if (k->n == 0) {
        *score = 1.0;
        return 0;
    }
    if (gs_provider_score_consistency(w->ctx->provider, image, (const char *const *)k->sheets, k->n_sheets,
                                      k->descs, k->names, k->n, s, &w->meter, w->err, sizeof w->err) != 0)
        return fail(w, "%s", w->err);
    *score = s->overall_score;
    return 0;
}

/* ---- moderation: reword up to twice, then the caller skips the asset ---- */

#define MAX_REWORDS 2

typedef int (*render_fn)(run *w, const char *prompt, const void *ud);

/* Renders with prompt; on a moderation refusal asks the provider for a gentler
 * prompt and tries again, at most MAX_REWORDS times. Returns 0, -1 (w->err),
 * or GS_PROVIDER_MODERATED with the last reason in w->err. */
static int render_moderated(run *w, const char *prompt, render_fn fn, const void *ud)
{
    char *cur = NULL;
    const char *p = prompt;
    int rc;
    for (int tries = 0;; tries++) {
        rc = fn(w, p, ud);
        if (rc != GS_PROVIDER_MODERATED || tries >= MAX_REWORDS || cancelled(w))
            break;
        char reason[512];
        snprintf(reason, sizeof reason, "%.500s", w->err);
        progress(w, 0, -1, "moderation refused the prompt (%s): rewording, try %d of %d", reason, tries + 1,
                 MAX_REWORDS);
        char *next = gs_provider_reword(w->ctx->provider, p, reason, &w->meter, w->err, sizeof w->err);
        if (!next) {
            snprintf(w->err, sizeof w->err, "%s (rewording failed)", reason);
            break;
        }
        free(cur);
        p = cur = next;
    }
    free(cur);
    return rc;
}

/* The note of a skipped asset. */
static void skip_note(run *w, char *note, size_t len)
{
    snprintf(note, len, "content moderation refused it after %d rewordings: %.600s", MAX_REWORDS, w->err);
}

typedef struct image_job {
    const char *aspect, *path;
    const char *const *refs;
    size_t n_refs;
} image_job;

static int render_image(run *w, const char *prompt, const void *ud)
{
    const image_job *j = ud;
    if (j->n_refs == 0)
        return gs_provider_generate_image(w->ctx->provider, prompt, j->aspect, j->path, &w->meter, w->err,
                                          sizeof w->err);
    return gs_provider_edit_image(w->ctx->provider, prompt, j->refs, j->n_refs, j->path, &w->meter, w->err,
                                  sizeof w->err);
}

static int step_character_sheet(run *w)
{
    const gs_step_character *c = &w->a->chars[0];
    const gs_steps_options *o = w->o;
    char slug[GS_STEPS_SLUG_LEN];
    gs_steps_slug(c->name, slug, sizeof slug);
    tvar vars[] = {{"style", w->a->style}, {"name", c->name}, {"description", c->visual_description}};
    char *base = render_tpl(o->tpl_portrait, vars, 3);
    if (!base)
        return fail(w, "out of memory");
    best b = {.score = -1};
    int rc = -1;
    char note[768] = "";
    for (int n = 1; n <= o->character_max_attempts; n++) {
        if (cancelled(w))
            goto done;
        char *path = run_path(w, "characters", "%s_attempt%d.png", slug, n);
        gs_sbuf pb = {0};
        gs_sb_add(&pb, base);
        if (b.fix && *b.fix) { /* ask the retry for what the last check missed */
            gs_sb_add(&pb, " ");
            gs_sb_add(&pb, b.fix);
        }
        char *prompt = gs_sb_take(&pb);
        if (!path || !prompt) {
            free(path);
            free(prompt);
            fail(w, "out of memory");
            goto done;
        }
        image_job job = {.aspect = w->a->aspect, .path = path};
        int grc = render_moderated(w, prompt, render_image, &job);
        free(prompt);
        if (grc == GS_PROVIDER_MODERATED) {
            free(path);
            if (b.path) /* keep the best attempt so far */
                break;
            skip_note(w, note, sizeof note);
            break;
        }
        if (grc != 0) {
            free(path);
            fail(w, "%s", w->err);
            goto done;
        }
        gs_score s;
        const char *desc = c->visual_description, *name = c->name;
        if (gs_provider_score_consistency(w->ctx->provider, path, NULL, 0, &desc, &name, 1, &s, &w->meter, w->err,
                                          sizeof w->err) != 0) {
            free(path);
            fail(w, "%s", w->err);
            goto done;
        }
        double score = s.overall_score;
        if (add_attempt(w, path, score, "generate") != 0) {
            free(path);
            gs_score_free(&s);
            goto done;
        }
        progress(w, n, score, "portrait attempt %d scored %.2f", n, score);
        note_retry(w, score, o->character_threshold, &s);
        best_offer(&b, score, path, &s, 0, NULL, NULL);
        gs_score_free(&s);
        if (score >= o->character_threshold)
            break;
    }
    char *rel = b.path ? rel_out(w->ctx, b.path) : strdup("");
    gs_step_result *r = w->r;
    if (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0))) {
        free(rel);
        fail(w, "out of memory");
        goto done;
    }
    if (!rel || add_field(r, "name", GS_FIELD_STR, c->name, 0) || add_field(r, "role", GS_FIELD_STR, c->role, 0) ||
        add_field(r, "visual_description", GS_FIELD_STR, c->visual_description, 0) ||
        add_field(r, "portrait_path", GS_FIELD_STR, rel, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b.path ? b.score : 0) ||
        add_field(r, "generation_attempts", GS_FIELD_INT, NULL, (double)r->n_attempts) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b.path && b.score >= o->character_threshold))
        fail(w, "out of memory");
    else
        rc = 0;
    free(rel);
done:
    free(base);
    best_free(&b);
    return rc;
}

static void scene_vars(run *w, tvar *v, const char *description, const char *names)
{
    const gs_step_scene *s = &w->a->scene;
    v[0] = (tvar){"style", w->a->style};
    v[1] = (tvar){"setting", s->setting};
    v[2] = (tvar){"mood", s->mood};
    v[3] = (tvar){"action", s->action};
    v[4] = (tvar){"camera", s->camera};
    v[5] = (tvar){"description", description};
    v[6] = (tvar){"name", names};
}

static char *cast_names(const cast *k)
{
    gs_sbuf b = {0};
    for (size_t i = 0; i < k->n; i++) {
        if (i)
            gs_sb_add(&b, ", ");
        gs_sb_add(&b, k->names[i]);
    }
    return gs_sb_take(&b);
}

static int step_compose_keyframe(run *w)
{
    const gs_step_args *a = w->a;
    const gs_steps_options *o = w->o;
    const int id = a->scene.scene_id;
    cast k;
    best b = {.score = -1};
    char *refs[3] = {NULL, NULL, NULL};
    size_t n_refs = 0, n_sheet_refs = 0;
    char *descs = NULL, *names = NULL, *prompt = NULL, *video_prompt = NULL;
    gs_sbuf bind = {0};
    int rc = -1, fixes = 0;
    char note[768] = "";
    if (cast_build(w, &k) != 0)
        goto done;
    /* the 3-image budget: sheets first (max 2), then the previous keyframe */
    for (size_t i = 0; i < k.n_sheets && n_refs < 2; i++)
        refs[n_refs++] = xstrdup(k.sheets[i]);
    n_sheet_refs = n_refs;
    if (a->previous_keyframe && n_refs < 3)
        refs[n_refs++] = resolve_in(w->ctx, a->previous_keyframe);
    for (size_t i = 0; i < n_refs; i++)
        if (!refs[i]) {
            fail(w, "out of memory");
            goto done;
        }
    /* The previous keyframe's binding goes first, so no character binding sits
     * next to words like "previous" or "scene". */
    if (n_refs > n_sheet_refs)
        gs_sb_printf(&bind, "Continue from the previous scene keyframe in reference image %zu: keep its setting, "
                         "lighting and composition. ", n_refs);
    for (size_t i = 0; i < k.n; i++) {
        if (i < n_sheet_refs)
            gs_sb_printf(&bind, "Draw %s from reference image %zu, exactly as on that character sheet. ", k.names[i],
                      i + 1);
        else
            gs_sb_printf(&bind, "Draw %s from the description below. ", k.names[i]);
    }
    char *bindings = gs_sb_take(&bind);
    bind.p = NULL;
    descs = cast_descriptions(&k);
    names = cast_names(&k);
    if (!bindings || !descs || !names) {
        free(bindings);
        fail(w, "out of memory");
        goto done;
    }
    tvar vars[8];
    scene_vars(w, vars, descs, names);
    vars[7] = (tvar){"ref_bindings", bindings};
    prompt = render_tpl(o->tpl_keyframe, vars, 8);
    video_prompt = render_tpl(o->tpl_video_motion, vars, 7);
    free(bindings);
    if (!prompt || !video_prompt) {
        fail(w, "out of memory");
        goto done;
    }
    for (int n = 1; n == 1 || (b.score < o->keyframe_threshold && fixes < o->keyframe_max_fix_edits); n++) {
        if (cancelled(w))
            goto done;
        char *path = run_path(w, "keyframes", "scene_%d_attempt%d.png", id, n);
        if (!path) {
            fail(w, "out of memory");
            goto done;
        }
        int grc;
        if (n == 1) {
            image_job job = {.aspect = a->aspect, .path = path, .refs = (const char *const *)refs, .n_refs = n_refs};
            grc = render_moderated(w, prompt, render_image, &job);
            if (grc == GS_PROVIDER_MODERATED) {
                free(path);
                skip_note(w, note, sizeof note);
                break;
            }
        } else { /* surgical fix: only the best keyframe so far, and what to change */
            tvar fv[4] = {{"fix_prompt", b.fix}, {"issues", b.issues}, {"description", descs}, {"name", names}};
            char *fix = render_tpl(o->tpl_fix, fv, 4);
            const char *one[1] = {b.path};
            grc = fix ? gs_provider_edit_image(w->ctx->provider, fix, one, 1, path, &w->meter, w->err, sizeof w->err)
                      : (snprintf(w->err, sizeof w->err, "out of memory"), -1);
            free(fix);
            fixes++;
        }
        if (grc == GS_PROVIDER_MODERATED) { /* a fix edit refused: keep the best keyframe */
            free(path);
            progress(w, n, b.score, "fix edit refused by moderation: keeping the best keyframe");
            break;
        }
        if (grc != 0) {
            free(path);
            fail(w, "%s", w->err);
            goto done;
        }
        gs_score s;
        double score = 0;
        if (score_cast(w, &k, path, &score, &s) != 0) {
            free(path);
            goto done;
        }
        if (add_attempt(w, path, score, n == 1 ? "generate" : "fix") != 0) {
            free(path);
            gs_score_free(&s);
            goto done;
        }
        progress(w, n, score, n == 1 ? "keyframe scored %.2f" : "fix edit scored %.2f", score);
        note_retry(w, score, o->keyframe_threshold, &s);
        best_offer(&b, score, path, &s, 0, NULL, NULL);
        gs_score_free(&s);
    }
    gs_step_result *r = w->r;
    char *rel = b.path ? rel_out(w->ctx, b.path) : strdup("");
    if (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0))) {
        free(rel);
        goto oom;
    }
    if (!(r->refs = calloc(n_refs ? n_refs : 1, sizeof(char *)))) {
        free(rel);
        goto oom;
    }
    for (size_t i = 0; i < n_refs; i++)
        if (!(r->refs[r->n_refs++] = rel_out(w->ctx, refs[i])))
            goto oom;
    if (!rel || add_field(r, "scene_id", GS_FIELD_INT, NULL, id) ||
        add_field(r, "keyframe_path", GS_FIELD_STR, rel, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b.path ? b.score : 0) ||
        add_field(r, "generation_attempts", GS_FIELD_INT, NULL, (double)r->n_attempts) ||
        add_field(r, "edit_passes", GS_FIELD_INT, NULL, fixes) ||
        add_field(r, "video_prompt", GS_FIELD_STR, video_prompt, 0) ||
        add_field(r, "prompt", GS_FIELD_STR, prompt, 0) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b.path && b.score >= o->keyframe_threshold)) {
        free(rel);
        goto oom;
    }
    free(rel);
    rc = 0;
    goto done;
oom:
    fail(w, "out of memory");
done:
    free(bind.p);
    for (size_t i = 0; i < 3; i++)
        free(refs[i]);
    free(descs);
    free(names);
    free(prompt);
    free(video_prompt);
    best_free(&b);
    cast_free(&k);
    return rc;
}

static int render_video(run *w, const char *prompt, const void *ud)
{
    const gs_step_args *a = w->a;
    return gs_provider_generate_video(w->ctx->provider, prompt, w->kf, a->scene.duration, a->aspect,
                                      w->o->resolution, (const char *)ud, &w->meter, w->err, sizeof w->err);
}

/* A generation: the job an earlier process paid for when there is one (polled,
 * not created again), else a new one, reworded past moderation. */
static int generate_clip(run *w, const char *prompt, const char *path, const char *adopt)
{
    if (adopt && *adopt) {
        int rc = gs_provider_resume_video(w->ctx->provider, adopt, path, &w->meter, w->err, sizeof w->err);
        if (rc != GS_PROVIDER_LOST && rc != GS_PROVIDER_MODERATED)
            return rc;
        progress(w, 0, -1, "the video job paid for before (%s) brought no clip (%.120s): generating a new one", adopt,
                 w->err);
    }
    return render_moderated(w, prompt, render_video, path);
}

/* One video attempt: render (generate, or edit input), probe, frames,
 * last-frame check. GS_PROVIDER_MODERATED when moderation refused it (after
 * rewording, for a generation), GS_PROVIDER_JOB_FAILED when the job ended
 * failed or expired: the step is not failed then, the reason is in w->err. */
static int video_attempt(run *w, const cast *k, int n, const char *action, const char *prompt, const char *input,
                         const char *adopt, best *b, double *score_out)
{
    const gs_step_args *a = w->a;
    const int id = a->scene.scene_id;
    gs_steps_media *m = &w->ctx->media;
    char *path = run_path(w, "videos", "scene_%d_attempt%d.mp4", id, n);
    char *first = run_path(w, "frames", "scene_%d_attempt%d_first.png", id, n);
    char *last = run_path(w, "frames", "scene_%d_attempt%d_last.png", id, n);
    gs_score s;
    int rc = -1;
    memset(&s, 0, sizeof s);
    if (!path || !first || !last) {
        fail(w, "out of memory");
        goto fail;
    }
    double dur = 0, score = 0;
    int grc;
    if (input)
        grc = gs_provider_edit_video(w->ctx->provider, prompt, input, path, &w->meter, w->err, sizeof w->err);
    else
        grc = generate_clip(w, prompt, path, adopt);
    if (grc == GS_PROVIDER_MODERATED || grc == GS_PROVIDER_JOB_FAILED) {
        rc = grc;
        goto fail;
    }
    if (grc != 0 || m->probe_duration(m->ud, path, &dur, w->err, sizeof w->err) != 0 ||
        m->extract_frame(m->ud, path, first, 0, w->err, sizeof w->err) != 0 ||
        m->extract_frame(m->ud, path, last, 1, w->err, sizeof w->err) != 0) {
        fail(w, "%s", w->err);
        goto fail;
    }
    if (score_cast(w, k, last, &score, &s) != 0)
        goto fail;
    if (add_attempt(w, path, score, action) != 0)
        goto fail;
    progress(w, n, score, "%s: %.1f s clip, last frame scored %.2f", action, dur, score);
    note_retry(w, score, w->o->video_threshold, &s);
    *score_out = score;
    best_offer(b, score, path, &s, dur, first, last);
    gs_score_free(&s);
    return 0;
fail:
    gs_score_free(&s);
    free(path);
    free(first);
    free(last);
    return rc;
}

static int step_scene_video(run *w)
{
    const gs_step_args *a = w->a;
    const gs_steps_options *o = w->o;
    cast k;
    best b = {.score = -1};
    char *prompt = NULL;
    int rc = -1, corrections = 0, regens = 0, n = 1;
    double score = 0;
    if (cast_build(w, &k) != 0)
        goto done;
    if (!(w->kf = resolve_in(w->ctx, a->keyframe_path))) {
        fail(w, "out of memory");
        goto done;
    }
    if (a->video_prompt && *a->video_prompt) {
        prompt = strdup(a->video_prompt);
    } else {
        tvar vars[7];
        scene_vars(w, vars, "", "");
        prompt = render_tpl(o->tpl_video_motion, vars, 7);
    }
    if (!prompt) {
        fail(w, "out of memory");
        goto done;
    }
    char note[768] = "";
    /* One regeneration per scene at most, whichever asks first: a job that
     * ended failed or expired, or a long clip that scored clearly off. */
    int regen_left = 1;
    int grc = cancelled(w) ? -1 : video_attempt(w, &k, n++, "generate", prompt, NULL, a->pending_video, &b, &score);
    if (grc == GS_PROVIDER_JOB_FAILED && !cancelled(w)) {
        progress(w, n - 1, -1, "%.200s: generating it again (once)", w->err);
        regen_left--;
        grc = video_attempt(w, &k, n++, "regenerate", prompt, NULL, NULL, &b, &score);
        regens += grc == 0;
        if (grc == GS_PROVIDER_JOB_FAILED) {
            fail(w, "%s (the job was generated again once and failed again: the scene has no clip)", w->err);
            goto done;
        }
    }
    if (grc == GS_PROVIDER_MODERATED)
        skip_note(w, note, sizeof note);
    else if (grc != 0)
        goto done;
    if (note[0]) {
        /* skipped: nothing to correct */
    } else if (a->scene.duration <= 8) {
        /* short clips: surgical video edits of the best clip so far */
        while (b.score < o->video_threshold && corrections < o->video_max_corrections) {
            if (b.duration > o->video_max_edit_input) {
                progress(w, n - 1, b.score, "%.1f s clip is longer than the %.1f s edit limit: not corrected",
                         b.duration, o->video_max_edit_input);
                break;
            }
            tvar fv[2] = {{"fix_prompt", b.fix}, {"issues", b.issues}};
            char *fix = render_tpl(o->tpl_video_correction, fv, 2);
            char *input = xstrdup(b.path);
            int arc = fix && input && !cancelled(w)
                          ? video_attempt(w, &k, n++, "correct", fix, input, NULL, &b, &score)
                          : (fix && input ? -1 : fail(w, "out of memory"));
            free(fix);
            free(input);
            if (arc == GS_PROVIDER_MODERATED || arc == GS_PROVIDER_JOB_FAILED) { /* keep the best clip */
                progress(w, n - 1, b.score, "correction %s: keeping the best clip",
                         arc == GS_PROVIDER_MODERATED ? "refused by moderation" : "job failed");
                corrections += arc == GS_PROVIDER_JOB_FAILED;
                break;
            }
            if (arc != 0)
                goto done;
            corrections++;
        }
    } else if (b.score < o->long_clip_regen_threshold && regen_left > 0) {
        /* 9-15 s clips cannot be edited: one regeneration when clearly off */
        int vrc = cancelled(w) ? -1 : video_attempt(w, &k, n++, "regenerate", prompt, NULL, NULL, &b, &score);
        if (vrc == GS_PROVIDER_JOB_FAILED)
            progress(w, n - 1, b.score, "%.200s: keeping the first clip", w->err);
        else if (vrc != 0 && vrc != GS_PROVIDER_MODERATED)
            goto done;
        regens += vrc == 0;
    }
    gs_step_result *r = w->r;
    char *rel = b.path ? rel_out(w->ctx, b.path) : strdup(""), *rf = b.first ? rel_out(w->ctx, b.first) : strdup(""),
         *rl = b.last ? rel_out(w->ctx, b.last) : strdup("");
    if (!rel || !rf || !rl ||
        (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0))) ||
        add_field(r, "scene_id", GS_FIELD_INT, NULL, a->scene.scene_id) ||
        add_field(r, "video_path", GS_FIELD_STR, rel, 0) || add_field(r, "duration", GS_FIELD_NUM, NULL, b.duration) ||
        add_field(r, "first_frame_path", GS_FIELD_STR, rf, 0) ||
        add_field(r, "last_frame_path", GS_FIELD_STR, rl, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b.path ? b.score : 0) ||
        add_field(r, "correction_passes", GS_FIELD_INT, NULL, corrections) ||
        add_field(r, "regenerations", GS_FIELD_INT, NULL, regens) ||
        add_field(r, "video_prompt", GS_FIELD_STR, prompt, 0) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b.path && b.score >= o->video_threshold))
        fail(w, "out of memory");
    else
        rc = 0;
    free(rel);
    free(rf);
    free(rl);
done:
    free(prompt);
    free(w->kf);
    best_free(&b);
    cast_free(&k);
    return rc;
}

static int step_assemble(run *w)
{
    const gs_step_args *a = w->a;
    gs_steps_media *m = &w->ctx->media;
    char **norm = calloc(a->n_clips, sizeof(char *));
    char *out = NULL, *rel = NULL;
    int rc = -1;
    if (!norm) {
        fail(w, "out of memory");
        return -1;
    }
    if (a->out) {
        out = resolve_in(w->ctx, a->out);
    } else {
        gs_sbuf b = {0};
        gs_sb_printf(&b, "%s/final.mp4", w->ctx->run_dir);
        out = gs_sb_take(&b);
    }
    char *slash = out ? strrchr(out, '/') : NULL;
    if (slash && slash != out) { /* the folder of out may be new */
        *slash = '\0';
        int mrc = gs_mkdir_p(out);
        *slash = '/';
        if (mrc != 0) {
            fail(w, "%s: %s", out, strerror(errno));
            goto done;
        }
    }
    for (size_t i = 0; i < a->n_clips; i++) {
        if (cancelled(w))
            goto done;
        if (!out || !(norm[i] = run_path(w, "videos", "clip_%02zu_normalized.mp4", i + 1))) {
            fail(w, "out of memory");
            goto done;
        }
        char *clip = resolve_in(w->ctx, a->clips[i]);
        int nrc = clip ? m->normalize(m->ud, clip, norm[i], w->err, sizeof w->err)
                       : (snprintf(w->err, sizeof w->err, "out of memory"), -1);
        free(clip);
        if (nrc != 0) {
            fail(w, "clip %zu: %s", i + 1, w->err);
            goto done;
        }
        progress(w, (int)i + 1, -1, "normalised clip %zu of %zu", i + 1, a->n_clips);
    }
    double dur = 0;
    if (m->concat(m->ud, (const char *const *)norm, a->n_clips, out, w->err, sizeof w->err) != 0 ||
        m->probe_duration(m->ud, out, &dur, w->err, sizeof w->err) != 0) {
        fail(w, "%s", w->err);
        goto done;
    }
    if (!(rel = rel_out(w->ctx, out)) || add_field(w->r, "path", GS_FIELD_STR, rel, 0) ||
        add_field(w->r, "duration", GS_FIELD_NUM, NULL, dur) ||
        add_field(w->r, "clips", GS_FIELD_INT, NULL, (double)a->n_clips))
        fail(w, "out of memory");
    else
        rc = 0;
done:
    gs_free_strv(norm, a->n_clips);
    free(out);
    free(rel);
    return rc;
}

static void run_job(void *arg)
{
    gs_future *f = arg;
    run w = {.ctx = f->ctx, .f = f, .a = &f->args, .r = &f->res, .o = &f->ctx->opt};
    asset_of(&f->args, w.asset, sizeof w.asset);
    ledger_asset_of(&f->args, w.ledger_asset, sizeof w.ledger_asset);
    w.meter = (gs_meter){queue_charge, &w, 0};
    int rc = -1;
    gs_media_set_cancel(&f->cancel, &f->ctx->closing); /* ffmpeg children die with the step */
    if (!cancelled(&w)) {
        switch (f->args.kind) {
        case GS_STEP_CHARACTER_SHEET: rc = step_character_sheet(&w); break;
        case GS_STEP_COMPOSE_KEYFRAME: rc = step_compose_keyframe(&w); break;
        case GS_STEP_SCENE_VIDEO: rc = step_scene_video(&w); break;
        case GS_STEP_ASSEMBLE: rc = step_assemble(&w); break;
        }
    }
    if (rc == 0 && w.why && *w.why && f->args.kind != GS_STEP_ASSEMBLE && !gs_step_result_str(&f->res, "note") &&
        add_field(&f->res, "note", GS_FIELD_STR, w.why, 0) != 0)
        rc = fail(&w, "out of memory");
    free(w.why);
    gs_media_set_cancel(NULL, NULL);
    f->res.cost = (double)w.meter.ticks / (double)GS_TICKS_PER_USD;
    f->res.ok = rc == 0;
    if (f->res.ok)
        f->res.err[0] = '\0';
    future_finish(f, w.asset);
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
    gs_steps_options_free(&ctx->opt);
    free(ctx->ring);
    free(ctx->out_dir);
    free(ctx->run_dir);
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    free(ctx);
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
