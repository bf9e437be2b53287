/*
 * xai_plan.c — grokspicy.xai, the provider's text answers: the JSON schemas it
 * asks chat for, the story plan checked and read from its answer, consistency
 * scores, and rewording a prompt moderation refused.
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

/* ---- the provider ---- */

/* The story plan's schema is gs_provider.h's (one definition, checked by tests/lua/vocab_spec.lua). */
static const char PLAN_SCHEMA[] = GS_PLAN_SCHEMA_JSON;

static const char SCORE_SCHEMA[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"overall_score\",\"per_character\",\"issues\",\"fix_prompt\"],"
    "\"properties\":{\"overall_score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"per_character\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"name\",\"score\"],\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1}}}},"
    "\"issues\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"fix_prompt\":{\"type\":\"string\"}}}";

static const char REWORD_SCHEMA[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"prompt\"],"
    "\"properties\":{\"prompt\":{\"type\":\"string\"}}}";

static char *dup_str(const jv *j, const char *path, const char *dflt)
{
    const char *s = json_str(j, path, dflt);
    return strdup(s ? s : "");
}

static char **dup_strv(const jv *arr, size_t *n)
{
    *n = 0;
    if (!arr || arr->t != JV_ARR)
        return calloc(1, sizeof(char *));
    char **v = calloc(arr->len + 1, sizeof(char *));
    for (size_t i = 0; v && i < arr->len; i++)
        if (arr->items[i].t == JV_STR)
            v[(*n)++] = strdup(arr->items[i].s);
    return v;
}

/* A string C would cut (an escaped NUL inside), or a number (int)v would change. */
static int nul_inside(const jv *v) { return v && v->t == JV_STR && strlen(v->s) != v->len; }
static int not_int(const jv *v)
{
    return v && v->t == JV_NUM && !(v->n >= INT_MIN && v->n <= INT_MAX && v->n == floor(v->n));
}

/* Checks the string fields keys[] of obj and each string of its arrays arrs[]. */
static int plan_strings_problem(const jv *obj, const char *where, const char *const keys[], size_t nk,
                                const char *const arrs[], size_t na, char *err, size_t errlen)
{
    for (size_t k = 0; k < nk; k++)
        if (nul_inside(json_get(obj, keys[k]))) {
            snprintf(err, errlen, "xai plan: %s%s: contains a NUL character", where, keys[k]);
            return 1;
        }
    for (size_t k = 0; k < na; k++) {
        const jv *a = json_get(obj, arrs[k]);
        for (size_t i = 0; a && a->t == JV_ARR && i < a->len; i++)
            if (nul_inside(&a->items[i])) {
                snprintf(err, errlen, "xai plan: %s%s[%zu]: contains a NUL character", where, arrs[k], i + 1);
                return 1;
            }
    }
    return 0;
}

/* What the plan's JSON holds that the C plan cannot carry as grokspicy.plan
   must see it (it checks everything else): a NUL inside a string, a scene
   number that is not a whole int. 1 with "xai plan: <field>: ..." in err. */
static int plan_json_problem(const jv *j, char *err, size_t errlen)
{
    static const char *const top[] = {"title", "style", "aspect_ratio", "color_palette"};
    static const char *const chr[] = {"name", "role", "visual_description"};
    static const char *const chr_arrs[] = {"personality_cues"};
    static const char *const scn[] = {"title", "description", "setting", "camera", "mood", "action", "transition"};
    static const char *const scn_arrs[] = {"characters_present"};
    if (plan_strings_problem(j, "", top, 4, NULL, 0, err, errlen))
        return 1;
    char where[64];
    const jv *cs = json_get(j, "characters"), *ss = json_get(j, "scenes");
    for (size_t i = 0; cs && cs->t == JV_ARR && i < cs->len; i++) {
        snprintf(where, sizeof where, "characters[%zu].", i + 1);
        if (plan_strings_problem(&cs->items[i], where, chr, 3, chr_arrs, 1, err, errlen))
            return 1;
    }
    for (size_t i = 0; ss && ss->t == JV_ARR && i < ss->len; i++) {
        const jv *s = &ss->items[i];
        snprintf(where, sizeof where, "scenes[%zu].", i + 1);
        if (plan_strings_problem(s, where, scn, 7, scn_arrs, 1, err, errlen))
            return 1;
        if (not_int(json_get(s, "scene_id"))) {
            snprintf(err, errlen, "xai plan: %sscene_id: must be a whole number 1..%d, got %g", where,
                     GS_PLAN_MAX_SCENE_ID, json_get(s, "scene_id")->n);
            return 1;
        }
        if (not_int(json_get(s, "duration_seconds"))) {
            snprintf(err, errlen, "xai plan: %sduration_seconds: must be a whole number of seconds %d..%d, got %g",
                     where, GS_PLAN_MIN_DURATION, GS_PLAN_MAX_DURATION, json_get(s, "duration_seconds")->n);
            return 1;
        }
    }
    return 0;
}

static gs_plan *plan_from_json(const jv *j)
{
    gs_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->title = dup_str(j, "title", "");
    p->style = dup_str(j, "style", "");
    p->aspect_ratio = dup_str(j, "aspect_ratio", "16:9");
    p->color_palette = dup_str(j, "color_palette", "");
    const jv *cs = json_get(j, "characters"), *ss = json_get(j, "scenes");
    size_t nc = cs && cs->t == JV_ARR ? cs->len : 0, ns = ss && ss->t == JV_ARR ? ss->len : 0;
    p->characters = calloc(nc ? nc : 1, sizeof *p->characters);
    p->scenes = calloc(ns ? ns : 1, sizeof *p->scenes);
    if (!p->characters || !p->scenes) {
        gs_plan_free(p);
        return NULL;
    }
    for (size_t i = 0; i < nc; i++) {
        const jv *c = &cs->items[i];
        gs_character *d = &p->characters[p->n_characters++];
        d->name = dup_str(c, "name", "");
        d->role = dup_str(c, "role", "");
        d->visual_description = dup_str(c, "visual_description", "");
        d->personality_cues = dup_strv(json_get(c, "personality_cues"), &d->n_personality_cues);
    }
    for (size_t i = 0; i < ns; i++) {
        const jv *s = &ss->items[i];
        gs_scene *d = &p->scenes[p->n_scenes++];
        d->scene_id = (int)json_num(s, "scene_id", (double)i + 1);
        d->title = dup_str(s, "title", "");
        d->description = dup_str(s, "description", "");
        d->characters_present = dup_strv(json_get(s, "characters_present"), &d->n_characters_present);
        d->setting = dup_str(s, "setting", "");
        d->camera = dup_str(s, "camera", "");
        d->mood = dup_str(s, "mood", "");
        d->action = dup_str(s, "action", "");
        d->duration_seconds = (int)json_num(s, "duration_seconds", GS_PLAN_DEFAULT_DURATION);
        d->transition = dup_str(s, "transition", "cut");
    }
    return p;
}

gs_plan *xai_plan_story(gs_provider *pp, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                        char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    (void)seed;
    char text[6000];
    snprintf(text, sizeof text,
             "Concept: %s\n\nWrite a story plan of exactly %d scenes. Give every character a visual_description "
             "of at least 80 words (appearance only, reused verbatim in every image prompt). Each scene lists "
             "the characters_present by name (at most 2), lasts 3 to 15 seconds (8 by default) and ends with "
             "a cut. Use aspect_ratio 16:9.",
             concept, n_scenes);
    jv *j = chat_json(&x->cfg, meter, x->cfg.text_model,
                      "You are a film director planning a short video with consistent characters.", text, NULL,
                      0, "StoryPlan", PLAN_SCHEMA, err, errlen);
    if (!j)
        return NULL;
    if (plan_json_problem(j, err, errlen)) {
        json_free(j);
        return NULL;
    }
    gs_plan *p = plan_from_json(j);
    json_free(j);
    if (!p)
        snprintf(err, errlen, "xai plan: out of memory");
    return p;
}

int xai_score(gs_provider *pp, const char *image, const char *const refs[], size_t n_refs,
              const char *const descs[], const char *const names[], size_t n, gs_score *out,
              gs_meter *meter, char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    jw t = {0};
    const char *intro = n_refs ? "Image 1 is the image to check; the next images are character reference sheets, "
                                 "in the order of the characters below."
                               : "Check this image against the character descriptions below.";
    jw_append(&t, intro, strlen(intro));
    jw_append(&t, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        char line[256];
        snprintf(line, sizeof line, "\nCharacter %zu: %s%s. ", i + 1, names[i],
                 i < n_refs ? " (has a reference sheet)" : "");
        jw_append(&t, line, strlen(line));
        jw_append(&t, descs[i], strlen(descs[i]));
    }
    const char *ask = "\n\nScore how faithfully the image shows each character (0..1), list concrete issues, and "
                      "write a short fix_prompt for an image edit (empty when nothing needs fixing).";
    jw_append(&t, ask, strlen(ask));
    char *text = jw_take(&t);
    const char *imgs[9];
    size_t ni = 0;
    imgs[ni++] = image;
    for (size_t i = 0; i < n_refs && ni < 9; i++)
        imgs[ni++] = refs[i];
    jv *j = text ? chat_json(&x->cfg, meter, x->cfg.vision_model, "You are a strict visual consistency checker.",
                             text, imgs, ni, "ConsistencyScore", SCORE_SCHEMA, err, errlen)
                 : (snprintf(err, errlen, "xai score: out of memory"), NULL);
    free(text);
    if (!j)
        return -1;
    double overall = json_num(j, "overall_score", -1);
    if (overall < 0 || overall > 1) {
        json_free(j);
        snprintf(err, errlen, "xai score: overall_score missing or out of 0..1");
        return -1;
    }
    out->overall_score = overall;
    out->names = calloc(n + 1, sizeof(char *));
    out->scores = calloc(n + 1, sizeof(double));
    const jv *pc = json_get(j, "per_character");
    for (size_t i = 0; out->names && out->scores && i < n; i++) {
        double s = overall;
        for (size_t k = 0; pc && pc->t == JV_ARR && k < pc->len; k++)
            if (!strcmp(json_str(&pc->items[k], "name", ""), names[i]))
                s = json_num(&pc->items[k], "score", overall);
        out->names[out->n] = strdup(names[i]);
        out->scores[out->n++] = s;
    }
    out->issues = dup_strv(json_get(j, "issues"), &out->n_issues);
    out->fix_prompt = dup_str(j, "fix_prompt", "");
    json_free(j);
    return 0;
}

int xai_reword(gs_provider *pp, const char *prompt, const char *reason, char **out, gs_meter *meter,
               char *err, size_t errlen)
{
    xai_provider *x = (xai_provider *)pp;
    size_t len = strlen(prompt) + strlen(reason) + 256;
    char *text = malloc(len);
    if (!text) {
        snprintf(err, errlen, "xai reword: out of memory");
        return -1;
    }
    snprintf(text, len, "Moderation said: %s\n\nPrompt:\n%s", reason, prompt);
    jv *j = chat_json(&x->cfg, meter, x->cfg.text_model,
                      "Rewrite this image or video prompt so that it passes content moderation: keep the "
                      "characters, their appearance, the setting and the composition; soften or remove anything "
                      "violent, sexual or otherwise unsafe. Reply with the new prompt only.",
                      text, NULL, 0, "RewordedPrompt", REWORD_SCHEMA, err, errlen);
    free(text);
    if (!j)
        return -1;
    const char *p = json_str(j, "prompt", NULL);
    *out = p && *p ? strdup(p) : NULL;
    json_free(j);
    if (!*out) {
        snprintf(err, errlen, "xai reword: no prompt in the reply");
        return -1;
    }
    return 0;
}

/* Where an image reply put the image: 0 with *url or *b64 set, or
 * GS_PROVIDER_MODERATED with the reason in err. */
