/*
 * steps_keyframe.c — grokspicy.steps, step kind compose_keyframe: a scene's
 * keyframe from the cast's sheets, scored, fixed by edits, and its video prompt.
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
#include <unistd.h>

#include "gs_media.h"
#include "gs_steps.h"
#include "gs_util.h"
#include "steps_internal.h"

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

/* The 3-image budget: sheets first (max 2), then the previous keyframe. */
static int pick_refs(run *w, const cast *k, char *refs[3], size_t *n_refs, size_t *n_sheet_refs)
{
    for (size_t i = 0; i < k->n_sheets && *n_refs < 2; i++)
        refs[(*n_refs)++] = xstrdup(k->sheets[i]);
    *n_sheet_refs = *n_refs;
    if (w->a->previous_keyframe && *n_refs < 3)
        refs[(*n_refs)++] = resolve_in(w->ctx, w->a->previous_keyframe);
    for (size_t i = 0; i < *n_refs; i++)
        if (!refs[i])
            return fail(w, "out of memory");
    return 0;
}

/* The reference bindings of the prompt: the previous keyframe's first, so no
 * character binding sits next to words like "previous" or "scene". NULL when
 * out of memory. */
static char *ref_bindings(const cast *k, size_t n_refs, size_t n_sheet_refs)
{
    gs_sbuf bind = {0};
    if (n_refs > n_sheet_refs)
        gs_sb_printf(&bind, "Continue from the previous scene keyframe in reference image %zu: keep its setting, "
                         "lighting and composition. ", n_refs);
    for (size_t i = 0; i < k->n; i++) {
        if (i < n_sheet_refs)
            gs_sb_printf(&bind, "Draw %s from reference image %zu, exactly as on that character sheet. ", k->names[i],
                      i + 1);
        else
            gs_sb_printf(&bind, "Draw %s from the description below. ", k->names[i]);
    }
    return gs_sb_take(&bind);
}

/* A surgical fix: only the best keyframe so far, and what to change, into path. */
static int fix_edit(run *w, const best *b, const char *descs, const char *names, const char *path)
{
    tvar fv[4] = {{"fix_prompt", b->fix}, {"issues", b->issues}, {"description", descs}, {"name", names}};
    char *fix = render_tpl(w->o->tpl_fix, fv, 4);
    const char *one[1] = {b->path};
    int grc = fix ? gs_provider_edit_image(w->ctx->provider, fix, one, 1, path, &w->meter, w->err, sizeof w->err)
                  : (snprintf(w->err, sizeof w->err, "out of memory"), -1);
    free(fix);
    return grc;
}

/* Scores attempt n (path, taken) against the cast and offers it as the best. 0, or -1 (the step failed). */
static int score_keyframe(run *w, const cast *k, best *b, int n, char *path)
{
    gs_score s;
    double score = 0;
    report_phase(w, n, "scoring");
    if (score_cast(w, k, path, &score, &s) != 0) {
        free(path);
        return -1;
    }
    if (add_attempt(w, path, score, n == 1 ? "generate" : "fix", &s) != 0) {
        free(path);
        gs_score_free(&s);
        return -1;
    }
    progress(w, n, score, n == 1 ? "keyframe scored %.2f" : "fix edit scored %.2f", score);
    note_retry(w, score, w->o->keyframe_threshold, &s);
    best_offer(b, score, path, &s, 0, NULL, NULL);
    gs_score_free(&s);
    return 0;
}

/* The step's result: the best keyframe, the references it was drawn from, its prompts. */
static int keyframe_result(run *w, const best *b, const char *note, char *const refs[], size_t n_refs, int fixes,
                           const char *prompt, const char *video_prompt)
{
    gs_step_result *r = w->r;
    char *rel = b->path ? rel_out(w->ctx, b->path) : strdup("");
    if (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0)))
        goto oom;
    if (!(r->refs = calloc(n_refs ? n_refs : 1, sizeof(char *))))
        goto oom;
    for (size_t i = 0; i < n_refs; i++)
        if (!(r->refs[r->n_refs++] = rel_out(w->ctx, refs[i])))
            goto oom;
    if (!rel || add_field(r, "scene_id", GS_FIELD_INT, NULL, w->a->scene.scene_id) ||
        add_field(r, "keyframe_path", GS_FIELD_STR, rel, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b->path ? b->score : 0) ||
        add_field(r, "generation_attempts", GS_FIELD_INT, NULL, (double)r->n_attempts) ||
        add_field(r, "edit_passes", GS_FIELD_INT, NULL, fixes) ||
        add_field(r, "video_prompt", GS_FIELD_STR, video_prompt, 0) ||
        add_field(r, "prompt", GS_FIELD_STR, prompt, 0) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b->path && b->score >= w->o->keyframe_threshold))
        goto oom;
    free(rel);
    return 0;
oom:
    free(rel);
    return fail(w, "out of memory");
}

int step_compose_keyframe(run *w)
{
    const gs_step_args *a = w->a;
    const gs_steps_options *o = w->o;
    cast k;
    best b = {.score = -1};
    char *refs[3] = {NULL, NULL, NULL};
    size_t n_refs = 0, n_sheet_refs = 0;
    char *descs = NULL, *names = NULL, *prompt = NULL, *video_prompt = NULL;
    int rc = -1, fixes = 0;
    char note[768] = "";
    if (cast_build(w, &k) != 0)
        goto done;
    if (pick_refs(w, &k, refs, &n_refs, &n_sheet_refs) != 0)
        goto done;
    char *bindings = ref_bindings(&k, n_refs, n_sheet_refs);
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
        char *path = run_path(w, "keyframes", "scene_%d_attempt%d.png", a->scene.scene_id, n);
        if (!path) {
            fail(w, "out of memory");
            goto done;
        }
        int grc;
        report_phase(w, n, n == 1 ? "generating" : "fixing");
        if (n == 1) {
            image_job job = {.aspect = a->aspect, .path = path, .refs = (const char *const *)refs, .n_refs = n_refs};
            grc = render_moderated(w, prompt, render_image, &job);
            if (grc == GS_PROVIDER_MODERATED) {
                free(path);
                skip_note(w, note, sizeof note);
                break;
            }
        } else {
            grc = fix_edit(w, &b, descs, names, path);
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
        if (score_keyframe(w, &k, &b, n, path) != 0)
            goto done;
    }
    rc = keyframe_result(w, &b, note, refs, n_refs, fixes, prompt, video_prompt);
done:
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
