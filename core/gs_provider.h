/*
 * gs_provider.h — the provider interface: what the pipeline asks of an image,
 * video and vision backend. A provider is a struct whose first member is
 * gs_provider; its ops table is the vtable. Calls are thread-safe: steps call
 * them from a worker pool. Every call returns 0 (or a non-NULL plan) on success
 * and -1 (NULL) on failure with a message in err; costs are in USD. An image
 * or video call the service refused on content grounds returns
 * GS_PROVIDER_MODERATED instead, with the reason in err (and any billed cost
 * in *cost): the steps reword the prompt and, failing that, skip the asset.
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

typedef struct gs_character {
    char *name;
    char *role;
    char *visual_description;   /* 80+ words, used verbatim in every image prompt */
    char **personality_cues;
    size_t n_personality_cues;
} gs_character;

typedef struct gs_scene {
    int scene_id;               /* 1-based */
    char *title;
    char *description;
    char **characters_present;  /* names; at most 2 for the local planner */
    size_t n_characters_present;
    char *setting;
    char *camera;
    char *mood;
    char *action;
    int duration_seconds;       /* 3..15, default 8 */
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

typedef struct gs_provider_ops {
    const char *name;
    gs_plan *(*plan_story)(gs_provider *p, const char *concept, int n_scenes, uint64_t seed,
                           char *err, size_t errlen);
    /* aspect: "16:9", "1:1" or "9:16". */
    int (*generate_image)(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                          double *cost, char *err, size_t errlen);
    /* refs: at most 3 images; "from reference image N" in the prompt binds to refs[N-1]. */
    int (*edit_image)(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                      const char *out_path, double *cost, char *err, size_t errlen);
    /* resolution: "720p" or "480p". */
    int (*generate_video)(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                          const char *aspect, const char *resolution, const char *out_path, double *cost,
                          char *err, size_t errlen);
    int (*edit_video)(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                      double *cost, char *err, size_t errlen);
    /* Scores image against n characters: refs[i] (i < n_refs) is character i's sheet,
     * descriptions[i] and names[i] describe it. out is filled on success. */
    int (*score_consistency)(gs_provider *p, const char *image_path, const char *const refs[], size_t n_refs,
                             const char *const descriptions[], const char *const names[], size_t n,
                             gs_score *out, char *err, size_t errlen);
    int (*max_concurrency)(gs_provider *p);
    void (*destroy)(gs_provider *p);
    /* Optional (NULL: a fixed softening is used). Rewrites a prompt that
     * moderation refused; *out is malloc'd. */
    int (*reword_prompt)(gs_provider *p, const char *prompt, const char *reason, char **out, double *cost,
                         char *err, size_t errlen);
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
};

/* Calls through the vtable; cost may be NULL. */
gs_plan *gs_provider_plan_story(gs_provider *p, const char *concept, int n_scenes, uint64_t seed,
                                char *err, size_t errlen);
int gs_provider_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                               double *cost, char *err, size_t errlen);
int gs_provider_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                           const char *out_path, double *cost, char *err, size_t errlen);
int gs_provider_generate_video(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                               const char *aspect, const char *resolution, const char *out_path,
                               double *cost, char *err, size_t errlen);
int gs_provider_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                           double *cost, char *err, size_t errlen);
int gs_provider_score_consistency(gs_provider *p, const char *image_path, const char *const refs[],
                                  size_t n_refs, const char *const descriptions[], const char *const names[],
                                  size_t n, gs_score *out, char *err, size_t errlen);
/* A gentler prompt after a moderation refusal: the provider's reword_prompt,
 * else a fixed softening. Returns a malloc'd string, or NULL with err. */
char *gs_provider_reword(gs_provider *p, const char *prompt, const char *reason, double *cost, char *err,
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
