/*
 * steps_sheet.c — grokspicy.steps, step kind character_sheet: a portrait per
 * character, scored and retried up to the threshold.
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

/* The step's result: the best portrait (none when moderation refused every try: note says why). */
static int sheet_result(run *w, const best *b, const char *note)
{
    const gs_step_character *c = &w->a->chars[0];
    const gs_steps_options *o = w->o;
    char *rel = b->path ? rel_out(w->ctx, b->path) : strdup("");
    gs_step_result *r = w->r;
    if (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0))) {
        free(rel);
        return fail(w, "out of memory");
    }
    int rc = 0;
    if (!rel || add_field(r, "name", GS_FIELD_STR, c->name, 0) || add_field(r, "role", GS_FIELD_STR, c->role, 0) ||
        add_field(r, "visual_description", GS_FIELD_STR, c->visual_description, 0) ||
        add_field(r, "portrait_path", GS_FIELD_STR, rel, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b->path ? b->score : 0) ||
        add_field(r, "generation_attempts", GS_FIELD_INT, NULL, (double)r->n_attempts) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b->path && b->score >= o->character_threshold))
        rc = fail(w, "out of memory");
    free(rel);
    return rc;
}

/* A reference (--ref) is drawn from by an image edit: *base gets the edit's
 * lead and *ref the reference's path. The local preview renderer's edits
 * compose keyframes from its own sheets: it draws the character from the
 * description, as without a reference (*ref stays NULL). */
static int sheet_reference(run *w, char **base, char **ref)
{
    *ref = NULL;
    if (!w->a->reference || strcmp(gs_provider_name(w->ctx->provider), "local") == 0)
        return 0;
    gs_sbuf rb = {0};
    gs_sb_add(&rb, "Draw this character as in reference image 1 (same face, hair, build, clothes and colours). ");
    gs_sb_add(&rb, *base);
    free(*base);
    if (!(*base = gs_sb_take(&rb)) || !(*ref = resolve_in(w->ctx, w->a->reference)))
        return -1;
    return 0;
}

/* Attempt n's sheet at path against the character's description: 0 with *s, or -1 (w->err says why). */
static int score_sheet(run *w, const gs_step_character *c, int n, const char *path, gs_score *s)
{
    const char *desc = c->visual_description, *name = c->name;
    report_phase(w, n, "scoring");
    return gs_provider_score_consistency(w->ctx->provider, path, NULL, 0, &desc, &name, 1, s, &w->meter, w->err,
                                         sizeof w->err);
}

int step_character_sheet(run *w)
{
    const gs_step_character *c = &w->a->chars[0];
    const gs_steps_options *o = w->o;
    char slug[GS_STEPS_SLUG_LEN];
    gs_steps_slug(c->name, slug, sizeof slug);
    tvar vars[] = {{"style", w->a->style}, {"name", c->name}, {"description", c->visual_description}};
    char *base = render_tpl(o->tpl_portrait, vars, 3);
    char *ref = NULL;
    if (!base || sheet_reference(w, &base, &ref) != 0) {
        free(base);
        return fail(w, "out of memory");
    }
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
        if (ref) { /* an image edit from the character's reference */
            job.refs = (const char *const *)&ref;
            job.n_refs = 1;
        }
        report_phase(w, n, "generating");
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
        if (score_sheet(w, c, n, path, &s) != 0) {
            free(path);
            fail(w, "%s", w->err);
            goto done;
        }
        double score = s.overall_score;
        if (add_attempt(w, path, score, "generate", &s) != 0) {
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
    rc = sheet_result(w, &b, note);
done:
    free(base);
    free(ref);
    best_free(&b);
    return rc;
}
