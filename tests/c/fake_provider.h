/*
 * fake_provider.h — a scripted provider and media hooks for the steps tests and
 * the steps benchmark. Scores come from a script array, one per
 * score_consistency call (then default_score); calls are recorded with their
 * ref counts and prompts; failures and latency on demand; files are tiny text
 * files (or none with write_files = 0); probe durations are remembered per
 * rendered clip. Thread-safe: one mutex around the script and the records.
 */
#ifndef GS_FAKE_PROVIDER_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define GS_FAKE_PROVIDER_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gs_provider.h"
#include "gs_steps.h"

#define FAKE_MAX_CALLS 512

typedef struct fake_call {
    char op[24];
    size_t n_refs;
    char prompt[2048];
    char input[512];
    double duration;
} fake_call;

typedef struct fake_clip {
    char path[512];
    double duration;
} fake_clip;

typedef struct fake {
    gs_provider base;
    pthread_mutex_t mu;
    double scores[64];
    size_t n_scores, next_score;
    double default_score;
    double clip_durations[16];  /* per generate_video call; 0 or exhausted: the requested one */
    size_t n_clip_durations, next_clip;
    char fail_op[24];           /* fail this op ... */
    char fail_msg[256];         /* ... with this message */
    int fail_rc;                /* ... returning this (0: -1) */
    int fail_times;             /* ... this many times (0: always) */
    int sleep_ms;               /* per image/video call */
    int write_files;
    int maxc;
    fake_call calls[FAKE_MAX_CALLS];
    size_t n_calls;
    fake_clip clips[FAKE_MAX_CALLS];
    size_t n_clips, clip_wrap;
    int running, max_running;
} fake;

static inline void fake_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0) {
    }
}

static inline void fake_touch(fake *f, const char *path, const char *what)
{
    if (!f->write_files)
        return;
    FILE *fp = fopen(path, "w");
    if (fp) {
        fprintf(fp, "%s\n", what);
        fclose(fp);
    }
}

/* Records a call; returns 1 when it must fail. Tracks concurrency. */
static inline int fake_enter(fake *f, const char *op, const char *prompt, size_t n_refs, const char *input, double dur,
                      char *err, size_t errlen)
{
    pthread_mutex_lock(&f->mu);
    if (f->n_calls < FAKE_MAX_CALLS) {
        fake_call *c = &f->calls[f->n_calls++];
        snprintf(c->op, sizeof c->op, "%s", op);
        snprintf(c->prompt, sizeof c->prompt, "%s", prompt ? prompt : "");
        snprintf(c->input, sizeof c->input, "%s", input ? input : "");
        c->n_refs = n_refs;
        c->duration = dur;
    }
    int fails = f->fail_op[0] && !strcmp(f->fail_op, op);
    if (fails)
        snprintf(err, errlen, "%s", f->fail_msg);
    if (fails && f->fail_times > 0 && --f->fail_times == 0)
        f->fail_op[0] = '\0';
    if (++f->running > f->max_running)
        f->max_running = f->running;
    pthread_mutex_unlock(&f->mu);
    if (!fails && f->sleep_ms > 0 && strcmp(op, "score_consistency") != 0)
        fake_sleep(f->sleep_ms);
    pthread_mutex_lock(&f->mu);
    f->running--;
    pthread_mutex_unlock(&f->mu);
    return fails;
}

static inline void fake_add_clip(fake *f, const char *path, double dur)
{
    pthread_mutex_lock(&f->mu);
    size_t i = 0;
    while (i < f->n_clips && strcmp(f->clips[i].path, path) != 0)
        i++;
    if (i == FAKE_MAX_CALLS) /* full: reuse the oldest slots (long benchmarks) */
        i = f->clip_wrap++ % FAKE_MAX_CALLS;
    snprintf(f->clips[i].path, sizeof f->clips[0].path, "%s", path);
    f->clips[i].duration = dur;
    if (i == f->n_clips)
        f->n_clips++;
    pthread_mutex_unlock(&f->mu);
}

static inline double fake_clip_duration(fake *f, const char *path)
{
    double d = -1;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n_clips; i++)
        if (!strcmp(f->clips[i].path, path))
            d = f->clips[i].duration;
    pthread_mutex_unlock(&f->mu);
    return d;
}

/* One charge of usd on the meter (the fake bills in round figures). */
static inline void fake_charge(gs_meter *m, const char *endpoint, double usd)
{
    static int seq;
    gs_charge c;
    memset(&c, 0, sizeof c);
    snprintf(c.endpoint, sizeof c.endpoint, "%s", endpoint);
    snprintf(c.model, sizeof c.model, "fake");
    snprintf(c.request_id, sizeof c.request_id, "fake-%d", __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    snprintf(c.outcome, sizeof c.outcome, "ok");
    c.ticks = (int64_t)(usd * (double)GS_TICKS_PER_USD + 0.5);
    gs_meter_charge(m, &c);
}

static inline gs_plan *fake_plan(gs_provider *p, const char *concept, int n, uint64_t seed, gs_meter *meter, char *err,
                                 size_t errlen)
{
    (void)p, (void)concept, (void)n, (void)seed, (void)meter;
    snprintf(err, errlen, "fake: no planner");
    return NULL;
}

static inline int fake_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out,
                                      gs_meter *cost, char *err, size_t errlen)
{
    (void)aspect;
    fake *f = (fake *)p;
    if (fake_enter(f, "generate_image", prompt, 0, NULL, 0, err, errlen))
        return -1;
    fake_touch(f, out, "image");
    fake_charge(cost, "generate_image", 0.07);
    return 0;
}

static inline int fake_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                           const char *out, gs_meter *cost, char *err, size_t errlen)
{
    fake *f = (fake *)p;
    if (fake_enter(f, "edit_image", prompt, n_refs, n_refs ? refs[n_refs - 1] : NULL, 0, err, errlen))
        return -1;
    fake_touch(f, out, "image");
    fake_charge(cost, "edit_image", 0.07);
    return 0;
}

static inline int fake_generate_video(gs_provider *p, const char *prompt, const char *image, double dur, const char *aspect,
                               const char *res, const char *out, gs_meter *cost, char *err, size_t errlen)
{
    (void)aspect, (void)res;
    fake *f = (fake *)p;
    int rc = f->fail_rc ? f->fail_rc : -1;
    if (fake_enter(f, "generate_video", prompt, 1, image, dur, err, errlen)) {
        fake_charge(cost, "generate_video", 0.05 * dur); /* a job that ran and failed is still charged */
        return rc;
    }
    pthread_mutex_lock(&f->mu);
    double d = f->next_clip < f->n_clip_durations ? f->clip_durations[f->next_clip++] : 0;
    pthread_mutex_unlock(&f->mu);
    fake_add_clip(f, out, d > 0 ? d : dur);
    fake_touch(f, out, "video");
    fake_charge(cost, "generate_video", 0.05 * dur);
    return 0;
}

static inline int fake_edit_video(gs_provider *p, const char *prompt, const char *video, const char *out, gs_meter *cost,
                           char *err, size_t errlen)
{
    fake *f = (fake *)p;
    double d = fake_clip_duration(f, video);
    if (fake_enter(f, "edit_video", prompt, 1, video, d, err, errlen))
        return -1;
    fake_add_clip(f, out, d);
    fake_touch(f, out, "video");
    fake_charge(cost, "edit_video", 0.3);
    return 0;
}

static inline int fake_score(gs_provider *p, const char *image, const char *const refs[], size_t n_refs,
                      const char *const descs[], const char *const names[], size_t n, gs_score *out, gs_meter *meter,
                      char *err, size_t errlen)
{
    (void)refs, (void)descs, (void)meter;
    fake *f = (fake *)p;
    if (fake_enter(f, "score_consistency", image, n_refs, NULL, 0, err, errlen))
        return -1;
    pthread_mutex_lock(&f->mu);
    double s = f->next_score < f->n_scores ? f->scores[f->next_score++] : f->default_score;
    pthread_mutex_unlock(&f->mu);
    memset(out, 0, sizeof *out);
    out->overall_score = s;
    out->n = n;
    out->names = calloc(n, sizeof(char *));
    out->scores = calloc(n, sizeof(double));
    for (size_t i = 0; i < n && out->names && out->scores; i++) {
        out->names[i] = strdup(names[i]);
        out->scores[i] = s;
    }
    out->n_issues = s < 0.8 ? 1 : 0;
    out->issues = calloc(1, sizeof(char *));
    if (out->issues && out->n_issues)
        out->issues[0] = strdup("scarf colour is wrong");
    out->fix_prompt = strdup(s < 0.8 ? "make the scarf green" : "");
    return 0;
}

static inline int fake_maxc(gs_provider *p)
{
    return ((fake *)p)->maxc;
}

static inline void fake_destroy(gs_provider *p)
{
    (void)p; /* owned by the test */
}

static const gs_provider_ops fake_ops = {
    "fake", fake_plan, fake_generate_image, fake_edit_image, fake_generate_video,
    fake_edit_video, fake_score, fake_maxc, fake_destroy, NULL, NULL, NULL,
};

static inline void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
    pthread_mutex_init(&f->mu, NULL);
    f->default_score = 0.9;
    f->write_files = 1;
    f->maxc = 8;
}

static inline size_t fake_count(fake *f, const char *op)
{
    size_t n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n_calls; i++)
        n += !strcmp(f->calls[i].op, op);
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* The k-th (0-based) call of op, or NULL. */
static inline const fake_call *fake_nth(fake *f, const char *op, size_t k)
{
    for (size_t i = 0; i < f->n_calls; i++)
        if (!strcmp(f->calls[i].op, op) && k-- == 0)
            return &f->calls[i];
    return NULL;
}

/* ---- media hooks ---- */

static inline int fm_probe(void *ud, const char *path, double *d, char *err, size_t errlen)
{
    fake *f = ud;
    double v = fake_clip_duration(f, path);
    if (v < 0) {
        snprintf(err, errlen, "fake probe: unknown clip %s", path);
        return -1;
    }
    *d = v;
    return 0;
}

static inline int fm_frame(void *ud, const char *video, const char *out, int last, char *err, size_t errlen)
{
    (void)video, (void)last, (void)err, (void)errlen;
    fake_touch(ud, out, "frame");
    return 0;
}

static inline int fm_normalize(void *ud, const char *in, const char *out, char *err, size_t errlen)
{
    fake *f = ud;
    double d = fake_clip_duration(f, in);
    if (d < 0) {
        snprintf(err, errlen, "fake normalize: unknown clip %s", in);
        return -1;
    }
    fake_add_clip(f, out, d);
    fake_touch(f, out, "video");
    return 0;
}

static inline int fm_concat(void *ud, const char *const clips[], size_t n, const char *out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    fake *f = ud;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += fake_clip_duration(f, clips[i]);
    fake_add_clip(f, out, total);
    fake_touch(f, out, "video");
    return 0;
}

static inline gs_steps_media fake_media(fake *f)
{
    gs_steps_media m = {fm_probe, fm_frame, fm_normalize, fm_concat, f};
    return m;
}

#endif
