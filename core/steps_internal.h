/*
 * steps_internal.h — shared by steps.c and the steps_*.c files only; not
 * installed. The context, futures, the run record a worker fills, and the
 * helpers the step kinds share. Short names are macros for gs_sti_* symbols.
 */
#ifndef GS_STEPS_INTERNAL_H
#define GS_STEPS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "gs_provider.h"
#include "gs_steps.h"

/* A {key} of a prompt template and its value (render_tpl). */
typedef struct tvar {
    const char *key, *value;
} tvar;

/* ---- context, futures (steps.c) ---- */

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

/* ---- a step running on a worker (steps_run.c) ---- */

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
    double attempt_t0;          /* gs_monotonic() when the next attempt began (the step's start, then each attempt's end) */
    int64_t attempt_ticks0;     /* meter.ticks then */
} run;

/* The best attempt so far, with what its score asked to fix. */
typedef struct best {
    double score;
    char *path;                 /* absolute */
    char *fix, *issues;
    double duration;            /* videos */
    char *first, *last;
} best;

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

#define MAX_REWORDS 2

typedef int (*render_fn)(run *w, const char *prompt, const void *ud);

typedef struct image_job {
    const char *aspect, *path;
    const char *const *refs;
    size_t n_refs;
} image_job;

#define add_attempt gs_sti_add_attempt
#define add_field gs_sti_add_field
#define asset_of gs_sti_asset_of
#define best_free gs_sti_best_free
#define best_offer gs_sti_best_offer
#define cancelled gs_sti_cancelled
#define cast_build gs_sti_cast_build
#define cast_descriptions gs_sti_cast_descriptions
#define cast_free gs_sti_cast_free
#define fail gs_sti_fail
#define fill_event gs_sti_fill_event
#define future_finish gs_sti_future_finish
#define ledger_asset_of gs_sti_ledger_asset_of
#define note_retry gs_sti_note_retry
#define progress gs_sti_progress
#define report_phase gs_sti_report_phase
#define push_event_locked gs_sti_push_event_locked
#define rel_out gs_sti_rel_out
#define render_moderated gs_sti_render_moderated
#define render_tpl gs_sti_render_tpl
#define resolve_in gs_sti_resolve_in
#define run_path gs_sti_run_path
#define scene_vars gs_sti_scene_vars
#define score_cast gs_sti_score_cast
#define skip_note gs_sti_skip_note
#define step_assemble gs_sti_step_assemble
#define step_character_sheet gs_sti_step_character_sheet
#define step_compose_keyframe gs_sti_step_compose_keyframe
#define step_scene_video gs_sti_step_scene_video
#define xstrdup gs_sti_xstrdup
#define render_image gs_sti_render_image
#define run_job gs_sti_run_job

/* Keeps attempt abs (its score, what made it, the check's issues s may give,
   its time and cost since the attempt before); 0, or -1 (the step failed). */
int add_attempt(run *w, const char *abs, double score, const char *action, const gs_score *s);
int add_field(gs_step_result *r, const char *key, int type, const char *s, double n);
void asset_of(const gs_step_args *a, char *buf, size_t len);
void best_free(best *b);
void best_offer(best *b, double score, char *path, const gs_score *s, double duration, char *first,
                char *last);
int cancelled(run *w);
int cast_build(run *w, cast *k);
char *cast_descriptions(const cast *k);
void cast_free(cast *k);
int fail(run *w, const char *fmt, ...);
void fill_event(gs_step_event *ev, int kind, const gs_future *f, const char *asset);
void future_finish(gs_future *f, const char *asset);
void ledger_asset_of(const gs_step_args *a, char *buf, size_t len);
void note_retry(run *w, double score, double threshold, const gs_score *s);
void progress(run *w, int attempt, double score, const char *fmt, ...);
/* Attempt n begins what phase names ("generating", "scoring", ...): the run page says so while it lasts. */
void report_phase(run *w, int attempt, const char *phase);
void push_event_locked(gs_steps_ctx *ctx, const gs_step_event *ev, gs_future *done_f);
char *rel_out(const gs_steps_ctx *ctx, const char *abs);
int render_moderated(run *w, const char *prompt, render_fn fn, const void *ud);
char *render_tpl(const char *tpl, const tvar *vars, size_t n);
char *resolve_in(const gs_steps_ctx *ctx, const char *p);
char *run_path(run *w, const char *sub, const char *fmt, ...);
void scene_vars(run *w, tvar *v, const char *description, const char *names);
int score_cast(run *w, const cast *k, const char *image, double *score, gs_score *s);
void skip_note(run *w, char *note, size_t len);
int step_assemble(run *w);
int step_character_sheet(run *w);
int step_compose_keyframe(run *w);
int step_scene_video(run *w);
char *xstrdup(const char *s);
int render_image(run *w, const char *prompt, const void *ud);
void run_job(void *arg);

#endif
