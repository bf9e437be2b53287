/*
 * gs_provider.h — the provider interface: what the pipeline asks of an image,
 * video and vision backend. A provider is a struct whose first member is
 * gs_provider; its ops table is the vtable. Calls are thread-safe: steps call
 * them from a worker pool. Every call returns 0 (or a non-NULL plan) on success
 * and -1 (NULL) on failure with a message in err. An image or video call the
 * service refused on content grounds returns GS_PROVIDER_MODERATED instead,
 * with the reason in err: the steps reword the prompt and, failing that, skip
 * the asset.
 *
 * Money: every call takes a meter (NULL: not counted) and hands it one charge
 * per billed answer, the moment the answer arrives, whatever the call does
 * next (a download that fails, a step that fails later). A request that may
 * have been billed but brought no answer (a timeout after sending, a video job
 * abandoned) is charged at its list price, marked estimated, and settled by a
 * later update when its answer comes.
 *
 * Providers: "local" (offline preview renderer on ffmpeg, core/provider_local.c);
 * "xai" registers itself later through gs_provider_register.
 */
#ifndef GS_PROVIDER_H
#define GS_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- StoryPlan (Pipeline facts, step 1) ---- */

/* Bounds of a story plan that C relies on. grokspicy.plan, the one gate every
   plan passes, enforces them (provider.PLAN_LIMITS) and tighter, configurable
   counts (GROK_SPICY_MAX_SCENES, GROK_SPICY_MAX_CHARACTERS: at most these). */
#define GS_PLAN_MIN_DURATION 3
#define GS_PLAN_MAX_DURATION 15
#define GS_PLAN_MAX_SCENE_ID 10000
#define GS_PLAN_MAX_SCENES 100
#define GS_PLAN_MAX_CHARACTERS 64
#define GS_PLAN_DEFAULT_DURATION 8
/* The aspect ratios a plan may ask for (the image and video endpoints take each). */
#define GS_PLAN_ASPECTS(X, SEP) X("16:9") SEP X("9:16") SEP X("1:1") SEP X("4:3") SEP X("3:4")
#define GS_PLAN_STR_(x) #x
#define GS_PLAN_STR(x) GS_PLAN_STR_(x)
#define GS_PLAN_JSON_STR(s) "\"" s "\""

/* The story plan as a JSON schema: the one definition of its fields. The xAI
   planner asks for it as structured output; provider.PLAN_SCHEMA gives it to
   Lua, where tests/lua/vocab_spec.lua checks grokspicy.plan, the store's
   tables and the providers' plans against it. */
#define GS_PLAN_SCHEMA_JSON \
    "{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"title\",\"style\",\"aspect_ratio\",\"color_palette\",\"characters\",\"scenes\"]," \
    "\"properties\":{\"title\":{\"type\":\"string\"},\"style\":{\"type\":\"string\"}," \
    "\"aspect_ratio\":{\"type\":\"string\",\"enum\":[" GS_PLAN_ASPECTS(GS_PLAN_JSON_STR, ",") "]}," \
    "\"color_palette\":{\"type\":\"string\"}," \
    "\"characters\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"name\",\"role\",\"visual_description\",\"personality_cues\"]," \
    "\"properties\":{\"name\":{\"type\":\"string\"},\"role\":{\"type\":\"string\"}," \
    "\"visual_description\":{\"type\":\"string\"}," \
    "\"personality_cues\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}," \
    "\"scenes\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\",\"additionalProperties\":false," \
    "\"required\":[\"scene_id\",\"title\",\"description\",\"characters_present\",\"setting\",\"camera\",\"mood\"," \
    "\"action\",\"duration_seconds\",\"transition\"]," \
    "\"properties\":{\"scene_id\":{\"type\":\"integer\"},\"title\":{\"type\":\"string\"}," \
    "\"description\":{\"type\":\"string\"}," \
    "\"characters_present\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}," \
    "\"setting\":{\"type\":\"string\"},\"camera\":{\"type\":\"string\"},\"mood\":{\"type\":\"string\"}," \
    "\"action\":{\"type\":\"string\"}," \
    "\"duration_seconds\":{\"type\":\"integer\",\"minimum\":" GS_PLAN_STR(GS_PLAN_MIN_DURATION) ",\"maximum\":" GS_PLAN_STR(GS_PLAN_MAX_DURATION) "}," \
    "\"transition\":{\"type\":\"string\",\"enum\":[\"cut\"]}}}}}}"

typedef struct gs_character {
    char *name;
    char *role;
    char *visual_description;   /* 80+ words, used verbatim in every image prompt */
    char **personality_cues;
    size_t n_personality_cues;
} gs_character;

typedef struct gs_scene {
    int scene_id;               /* 1..GS_PLAN_MAX_SCENE_ID */
    char *title;
    char *description;
    char **characters_present;  /* names; at most 2 for the local planner */
    size_t n_characters_present;
    char *setting;
    char *camera;
    char *mood;
    char *action;
    int duration_seconds;       /* GS_PLAN_MIN_DURATION..GS_PLAN_MAX_DURATION, default 8 */
    char *transition;           /* "cut" */
} gs_scene;

typedef struct gs_plan {
    char *title;
    char *style;
    char *aspect_ratio;         /* "16:9" */
    char *color_palette;
    gs_character *characters;
    size_t n_characters;
    gs_scene *scenes;
    size_t n_scenes;
} gs_plan;

void gs_plan_free(gs_plan *plan);

/* ---- ConsistencyScore ---- */

typedef struct gs_score {
    double overall_score;       /* 0..1 */
    size_t n;                   /* per-character entries */
    char **names;
    double *scores;             /* 0..1, parallel to names */
    char **issues;
    size_t n_issues;
    char *fix_prompt;           /* "" when nothing to fix */
} gs_score;

/* Frees what a score_consistency call filled in (not the struct itself). */
void gs_score_free(gs_score *score);

/* ---- the vtable ---- */

typedef struct gs_provider gs_provider;

#define GS_PROVIDER_MODERATED (-2)
/* A video job the service ran and that ended failed or expired (err says which
 * and why): the steps generate it again, once. */
#define GS_PROVIDER_JOB_FAILED (-4)
/* resume_video: the service does not know that job (any more). */
#define GS_PROVIDER_LOST (-5)
/* The run's budget (--budget) does not cover the request's list price: it was
 * not sent; err says "budget reached: $X of $Y". */
#define GS_PROVIDER_BUDGET (-6)

/* ---- billing ---- */

#define GS_TICKS_PER_USD 10000000000LL /* the service's unit: usage.cost_in_usd_ticks */

/*
 * One billed request. outcome is one of:
 *   ok         the answer was used (or, for a create, is being used)
 *   pending    a video job was created and is running: charged at list price, estimated
 *   refused    content moderation refused it (often billed all the same)
 *   failed     the service answered an error, or the job ended failed
 *   expired    the video job expired
 *   abandoned  the client stopped waiting (video deadline, cancel): estimated until settled
 *   no answer  sent, but no answer came (timeout, reset): estimated, never sent again
 *   unusable   billed, but the answer could not be used (malformed, no content)
 *   bad download  billed, but its result could not be downloaded whole
 *   lost       the service no longer knows the job: its estimate stands
 * "ok" and "pending" are the outcomes that are not failed attempts.
 */
typedef struct gs_charge {
    char endpoint[48];          /* "POST /images/edits" */
    char model[64];
    char request_id[128];       /* the service's, else the one the client sent (X-Client-Request-Id) */
    char outcome[16];
    char detail[240];           /* why, when not ok */
    int64_t ticks;              /* update: -1 leaves the recorded figure */
    int64_t prior;              /* update: what this meter counted for request_id before */
    int estimated;              /* a list price or a guess, not the service's usage figure; update: -1 leaves it */
    int update;                 /* settles or amends the charge recorded under request_id */
} gs_charge;

/* A run's spending limit, shared by every meter of its provider (core/budget.c). */
typedef struct gs_budget gs_budget;

typedef struct gs_meter {
    /* Called on the provider's thread, once per charge; may be NULL. */
    void (*on_charge)(void *ud, const gs_charge *c);
    void *ud;
    int64_t ticks;              /* the sum this meter saw (updates count their difference) */
    gs_budget *budget;          /* NULL: no limit */
    int64_t held;               /* the list price this meter holds on budget for its request in flight */
} gs_meter;

/* Adds c to m's sum (and its budget's) and hands it on. m may be NULL. */
void gs_meter_charge(gs_meter *m, const gs_charge *c);

/* limit and spent in ticks; spent: what the run was charged before. */
gs_budget *gs_budget_new(int64_t limit, int64_t spent);
void gs_budget_free(gs_budget *b);
/* Before a billed request is sent: 0 when what the run spent, what requests
 * in flight hold and price (the request's list price) stay within the budget
 * (price is then held until the request's charge comes), else
 * GS_PROVIDER_BUDGET with "budget reached: $X of $Y" in err. No budget: 0. */
int gs_meter_permit(gs_meter *m, int64_t price, char *err, size_t errlen);
/* Lets go of what m holds (its call is over, charged or not). */
void gs_meter_release(gs_meter *m);
/* gs_meter_charge's part: a charge moves m's hold to spent. */
void gs_budget_count(gs_meter *m, const gs_charge *c);

typedef struct gs_provider_ops {
    const char *name;
    gs_plan *(*plan_story)(gs_provider *p, const char *concept, int n_scenes, uint64_t seed,
                           gs_meter *meter, char *err, size_t errlen);
    /* aspect: "16:9", "1:1" or "9:16". */
    int (*generate_image)(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                          gs_meter *meter, char *err, size_t errlen);
    /* refs: at most 3 images; "from reference image N" in the prompt binds to refs[N-1]. */
    int (*edit_image)(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                      const char *out_path, gs_meter *meter, char *err, size_t errlen);
    /* resolution: "720p" or "480p". */
    int (*generate_video)(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                          const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                          char *err, size_t errlen);
    int (*edit_video)(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                      gs_meter *meter, char *err, size_t errlen);
    /* Scores image against n characters: refs[i] (i < n_refs) is character i's sheet,
     * descriptions[i] and names[i] describe it. out is filled on success. */
    int (*score_consistency)(gs_provider *p, const char *image_path, const char *const refs[], size_t n_refs,
                             const char *const descriptions[], const char *const names[], size_t n,
                             gs_score *out, gs_meter *meter, char *err, size_t errlen);
    int (*max_concurrency)(gs_provider *p);
    void (*destroy)(gs_provider *p);
    /* Optional (NULL: a fixed softening is used). Rewrites a prompt that
     * moderation refused; *out is malloc'd. */
    int (*reword_prompt)(gs_provider *p, const char *prompt, const char *reason, char **out, gs_meter *meter,
                         char *err, size_t errlen);
    /* Optional (NULL: jobs cannot be taken over). Waits for a video job an
     * earlier process created and paid for (request_id from its charge) and
     * downloads the clip, as generate_video would; GS_PROVIDER_LOST when the
     * service does not know it. */
    int (*resume_video)(gs_provider *p, const char *request_id, const char *out_path, gs_meter *meter, char *err,
                        size_t errlen);
    /* Optional: a provider whose planner is Lua names its module here (plan_story
     * is then NULL). The module's plan(concept, {scenes=, seed=}) returns a plan
     * table; gs_provider_plan_story runs it in a private Lua state, the Lua face
     * (provider:plan_story) in the caller's, so changes made there apply. */
    const char *lua_planner;
} gs_provider_ops;

struct gs_provider {
    const gs_provider_ops *ops;
    uint64_t seed;              /* render seed: same inputs + seed -> same bytes */
    int no_voice;               /* the local preview: clips without the spoken narration (--no-voice) */
    gs_budget *budget;          /* the run's limit (provider.open{budget=}); NULL: none; freed with p */
};

/* Calls through the vtable; meter may be NULL. */
gs_plan *gs_provider_plan_story(gs_provider *p, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                                char *err, size_t errlen);
int gs_provider_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                               gs_meter *meter, char *err, size_t errlen);
int gs_provider_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                           const char *out_path, gs_meter *meter, char *err, size_t errlen);
int gs_provider_generate_video(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                               const char *aspect, const char *resolution, const char *out_path,
                               gs_meter *meter, char *err, size_t errlen);
int gs_provider_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                           gs_meter *meter, char *err, size_t errlen);
/* GS_PROVIDER_LOST too when the provider cannot take jobs over. */
int gs_provider_resume_video(gs_provider *p, const char *request_id, const char *out_path, gs_meter *meter,
                             char *err, size_t errlen);
int gs_provider_score_consistency(gs_provider *p, const char *image_path, const char *const refs[],
                                  size_t n_refs, const char *const descriptions[], const char *const names[],
                                  size_t n, gs_score *out, gs_meter *meter, char *err, size_t errlen);
/* A gentler prompt after a moderation refusal: the provider's reword_prompt,
 * else a fixed softening. Returns a malloc'd string, or NULL with err. */
char *gs_provider_reword(gs_provider *p, const char *prompt, const char *reason, gs_meter *meter, char *err,
                         size_t errlen);
const char *gs_provider_name(const gs_provider *p);
int gs_provider_max_concurrency(gs_provider *p);
void gs_provider_destroy(gs_provider *p);

/* Opens a provider by name ("local", or one registered). *out is NULL on failure. */
int gs_provider_open(const char *name, gs_provider **out, char *err, size_t errlen);

/* Adds a named provider constructor (e.g. "xai"); up to 8. Not thread-safe:
 * register at startup. Returns 0, or -1 when the table is full. */
typedef int (*gs_provider_ctor)(gs_provider **out, char *err, size_t errlen);
int gs_provider_register(const char *name, gs_provider_ctor ctor);

/* The offline preview renderer. */
int gs_provider_local_open(gs_provider **out, char *err, size_t errlen);
/* The xAI REST provider (core/xai.c); fails without XAI_API_KEY/GROK_API_KEY. */
int gs_provider_xai_open(gs_provider **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
