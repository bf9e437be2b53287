/*
 * gs_steps.h — the pipeline steps (character sheets, keyframes, scene videos,
 * assembly) run on a C worker pool over a provider, with futures and one
 * bounded event queue per context. Workers run pure C; the Lua face
 * (grokspicy.steps) copies arguments into the plain structs below at submit
 * time and converts results to tables on the owner thread.
 *
 * Paths: every path a step reads may be absolute or relative to output_dir;
 * every path a result reports is relative to output_dir when the file lies
 * under it (the dashboard serves /output/<path>), else absolute.
 */
#ifndef GS_STEPS_H
#define GS_STEPS_H

#include <stddef.h>

#include "gs_provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- worker pool (core/pool.c) ---- */

typedef struct gs_pool gs_pool;
typedef void (*gs_pool_fn)(void *arg);

/* Starts n threads (1..64). NULL with err on failure. */
gs_pool *gs_pool_new(int n, char *err, size_t errlen);
/* Queues fn(arg) (FIFO). Returns -1 once the pool is closing or on OOM. */
int gs_pool_submit(gs_pool *pool, gs_pool_fn fn, void *arg);
/* Stops accepting work, hands every job not yet started to discard (may be
 * NULL), waits for running jobs, joins and frees. */
void gs_pool_free(gs_pool *pool, gs_pool_fn discard);
int gs_pool_size(const gs_pool *pool);

/* ---- options ---- */

typedef struct gs_steps_options {
    double character_threshold;     /* 0.80 */
    int character_max_attempts;     /* 3 */
    double keyframe_threshold;      /* 0.80 */
    int keyframe_max_fix_edits;     /* 3 */
    double video_threshold;         /* 0.80, last-frame check */
    int video_max_corrections;      /* 2, clips <= 8 s */
    double video_max_edit_input;    /* 8.7 s: longer inputs are never sent to edit_video */
    double long_clip_regen_threshold; /* 0.50, 9-15 s clips regenerated at most once below it */
    char resolution[16];            /* "720p" */
    /* Prompt templates with {style} {description} {name} {setting} {mood}
     * {action} {camera} {issues} {fix_prompt} {ref_bindings}; owned (malloc'd). */
    char *tpl_portrait, *tpl_keyframe, *tpl_fix, *tpl_video_motion, *tpl_video_correction;
} gs_steps_options;

/* Fills the DESIGN defaults (templates are strdup'd). 0, or -1 on OOM. */
int gs_steps_options_default(gs_steps_options *o);
void gs_steps_options_free(gs_steps_options *o);
/* The built-in template text by name ("portrait", ...), or NULL. */
const char *gs_steps_default_template(const char *name);

/* ---- media hooks (tests and benchmarks swap ffmpeg out) ---- */

typedef struct gs_steps_media {
    int (*probe_duration)(void *ud, const char *path, double *duration, char *err, size_t errlen);
    int (*extract_frame)(void *ud, const char *video, const char *out_png, int last, char *err, size_t errlen);
    int (*normalize)(void *ud, const char *in, const char *out, char *err, size_t errlen);
    int (*concat)(void *ud, const char *const clips[], size_t n, const char *out, char *err, size_t errlen);
    void *ud;
} gs_steps_media;

/* The gs_media_* implementation. */
const gs_steps_media *gs_steps_media_ffmpeg(void);
/* Process-wide default for contexts opened from Lua (NULL: ffmpeg). A test
 * hook: set it before opening contexts. */
void gs_steps_set_default_media(const gs_steps_media *m);

/* ---- step arguments (plain C, owned by the step once submitted) ---- */

typedef enum gs_step_kind {
    GS_STEP_CHARACTER_SHEET,
    GS_STEP_COMPOSE_KEYFRAME,
    GS_STEP_SCENE_VIDEO,
    GS_STEP_ASSEMBLE,
} gs_step_kind;

typedef struct gs_step_character {
    char *name, *role, *visual_description;
    char *portrait_path;            /* NULL when the character has no sheet yet */
} gs_step_character;

typedef struct gs_step_scene {
    int scene_id;
    char *title, *description, *setting, *camera, *mood, *action;
    char **present;                 /* characters_present */
    size_t n_present;
    double duration;                /* seconds, 1..15 */
} gs_step_scene;

typedef struct gs_step_args {
    gs_step_kind kind;
    char *style, *aspect;
    gs_step_character *chars;       /* sheet: chars[0]; keyframe/video: the cast */
    size_t n_chars;
    gs_step_scene scene;
    char *previous_keyframe;        /* keyframe */
    char *keyframe_path, *video_prompt; /* video */
    char *pending_video;            /* video: a job an earlier process paid for, polled before creating one */
    char *reference;                /* sheet: an image of the character (--ref) to draw it from; NULL: none */
    char **clips;                   /* assemble */
    size_t n_clips;
    char **normalized;              /* assemble: clips already normalised (a reused result), "" where the step
                                       normalises; NULL or n_clips entries */
    size_t n_normalized;
    char *out;                      /* NULL: run_dir/final.mp4 */
} gs_step_args;

void gs_step_args_free(gs_step_args *a);
const char *gs_step_kind_name(gs_step_kind k);

/* The file-name form of a character name ("Fox" and "fox!" both give "fox";
   no letter or digit gives "character"), cut to len - 2 bytes: a sheet's files
   are runs/<id>/characters/<slug>_attempt<n>.png, so names of one plan must
   give different slugs (grokspicy.plan checks it). GS_STEPS_SLUG_LEN fits. */
#define GS_STEPS_SLUG_LEN 64
void gs_steps_slug(const char *name, char *out, size_t len);

/* ---- results ---- */

enum { GS_FIELD_STR, GS_FIELD_NUM, GS_FIELD_INT, GS_FIELD_BOOL };

typedef struct gs_step_field {
    const char *key;                /* static */
    int type;
    char *s;
    double n;
} gs_step_field;

typedef struct gs_step_attempt {
    char *path;                     /* relative to output_dir when under it */
    double score;                   /* -1: not scored */
    const char *action;             /* "generate", "fix", "correct", "regenerate" */
    char *issues;                   /* what the vision check found, "; "-joined; NULL: nothing */
    double seconds;                 /* from the end of the attempt before (or the step's start) to its score */
    int64_t ticks;                  /* what the step was charged over those seconds (1 USD = 10^10) */
} gs_step_attempt;

#define GS_STEP_MAX_FIELDS 24

typedef struct gs_step_result {
    int ok;
    char err[1024];                 /* "generate_character_sheet(Fox): <message>" */
    double cost;                    /* USD the step's requests were charged (gs_steps_take_charges has each) */
    gs_step_field fields[GS_STEP_MAX_FIELDS];
    size_t n_fields;
    gs_step_attempt *attempts;
    size_t n_attempts;
    char **refs;                    /* keyframe: the reference images sent, in order */
    size_t n_refs;
} gs_step_result;

void gs_step_result_free(gs_step_result *r);
const char *gs_step_result_str(const gs_step_result *r, const char *key);
double gs_step_result_num(const gs_step_result *r, const char *key); /* NaN when absent */

/* ---- contexts, futures, events ---- */

typedef struct gs_steps_ctx gs_steps_ctx;
typedef struct gs_future gs_future;

typedef struct gs_steps_config {
    gs_provider *provider;
    int own_provider;               /* destroy it on close */
    const char *output_dir;         /* created when missing */
    const char *run_dir;            /* absolute, or relative to output_dir; NULL: output_dir */
    int workers;                    /* <= 0: cores; capped by max_concurrency; >= 2 */
    int queue_size;                 /* <= 0: 256 */
    const gs_steps_options *options; /* copied; NULL: defaults */
    const gs_steps_media *media;    /* NULL: the process default */
} gs_steps_config;

/* On failure returns NULL with err; an owned provider is destroyed then too. */
gs_steps_ctx *gs_steps_open(const gs_steps_config *cfg, char *err, size_t errlen);
/* Cancels running steps at their next checkpoint, fails queued ones with
 * "context closed", joins the workers, releases the provider. Idempotent. The
 * memory lives on until the last future is released. */
void gs_steps_close(gs_steps_ctx *ctx);
/* close + release the caller's reference. */
void gs_steps_free(gs_steps_ctx *ctx);
const char *gs_steps_output_dir(const gs_steps_ctx *ctx);
const char *gs_steps_run_dir(const gs_steps_ctx *ctx);
int gs_steps_workers(const gs_steps_ctx *ctx);
const gs_steps_options *gs_steps_get_options(const gs_steps_ctx *ctx);

/* Takes ownership of *args (zeroed on return, success or not). Returns a
 * future holding one caller reference, or NULL with err (closed, queue full). */
gs_future *gs_steps_submit(gs_steps_ctx *ctx, gs_step_args *args, char *err, size_t errlen);

int gs_future_id(const gs_future *f);
int gs_future_done(gs_future *f);
/* 1 when done, 0 on timeout; timeout_s < 0 waits for ever. */
int gs_future_wait(gs_future *f, double timeout_s);
/* The result once done (NULL before). Valid until the future is released. */
const gs_step_result *gs_future_result(gs_future *f);
void gs_future_cancel(gs_future *f);
gs_step_kind gs_future_kind(const gs_future *f);
/* Marks the result as collected: its queued "done" event may then be evicted
 * when the queue needs room for a new step. */
void gs_future_mark_collected(gs_future *f);
void gs_future_release(gs_future *f);

enum { GS_EVENT_PROGRESS = 1, GS_EVENT_DONE = 2 };

typedef struct gs_step_event {
    int kind;
    int future_id;
    int ok;                         /* done */
    int attempt;                    /* progress; 0: none */
    double score;                   /* < 0: none */
    char step[32];
    char asset[64];                 /* character name, "scene 2", "final" */
    char message[256];
    char phase[16];                 /* progress: what the attempt does now ("generating", "scoring",
                                       "fixing", "correcting"), "" when the event says a result */
} gs_step_event;

/* 1 with *ev filled, 0 on timeout, when nothing can arrive (no step pending
 * and the queue empty) or when charges came to be taken; timeout_s < 0 waits
 * for ever. */
int gs_steps_next_event(gs_steps_ctx *ctx, gs_step_event *ev, double timeout_s);

/*
 * Every billed request of every step, in the order the answers came, tagged
 * with the step and the ledger's asset key ("character:Fox",
 * "scene:2:keyframe", "scene:2:clip"). A worker queues a charge the moment its
 * provider reports it, whatever the step does next, and a new charge makes
 * gs_steps_next_event return (0 when it brought no event). A charge is never
 * dropped: when GS_STEPS_MAX_CHARGES wait untaken, workers wait for the owner
 * (except while the context closes: the owner takes them once it is closed).
 */
#define GS_STEPS_MAX_CHARGES 4096

typedef struct gs_step_charge {
    char step[32];
    char asset[96];
    gs_charge c;
} gs_step_charge;

/* Moves the queued charges out: a malloc'd array of *n (NULL when none);
 * *lost counts those that could not be queued (out of memory). Works on a
 * closed context. */
gs_step_charge *gs_steps_take_charges(gs_steps_ctx *ctx, size_t *n, size_t *lost);

typedef struct gs_steps_stats {
    size_t queued, capacity, dropped, pending;
    int workers;
} gs_steps_stats;
void gs_steps_get_stats(gs_steps_ctx *ctx, gs_steps_stats *st);

#ifdef __cplusplus
}
#endif

#endif
