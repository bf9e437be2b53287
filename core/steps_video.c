/*
 * steps_video.c — grokspicy.steps, step kind scene_video: a clip from the
 * keyframe, its first and last frames checked, corrected when it falls short.
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
    report_phase(w, n, input ? "correcting" : "generating");
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
    report_phase(w, n, "scoring");
    if (score_cast(w, k, last, &score, &s) != 0)
        goto fail;
    if (add_attempt(w, path, score, action, &s) != 0)
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

/* Short clips: video edits of the best clip so far, until it passes or the
 * corrections run out. 0, or -1 when the step fails. */
static int correct_clip(run *w, const cast *k, best *b, int *n, double *score, int *corrections)
{
    const gs_steps_options *o = w->o;
    while (b->score < o->video_threshold && *corrections < o->video_max_corrections) {
        if (b->duration > o->video_max_edit_input) {
            progress(w, *n - 1, b->score, "%.1f s clip is longer than the %.1f s edit limit: not corrected",
                     b->duration, o->video_max_edit_input);
            break;
        }
        tvar fv[2] = {{"fix_prompt", b->fix}, {"issues", b->issues}};
        char *fix = render_tpl(o->tpl_video_correction, fv, 2);
        char *input = xstrdup(b->path);
        int arc = fix && input && !cancelled(w)
                      ? video_attempt(w, k, (*n)++, "correct", fix, input, NULL, b, score)
                      : (fix && input ? -1 : fail(w, "out of memory"));
        free(fix);
        free(input);
        if (arc == GS_PROVIDER_MODERATED || arc == GS_PROVIDER_JOB_FAILED) { /* keep the best clip */
            progress(w, *n - 1, b->score, "correction %s: keeping the best clip",
                     arc == GS_PROVIDER_MODERATED ? "refused by moderation" : "job failed");
            *corrections += arc == GS_PROVIDER_JOB_FAILED;
            break;
        }
        if (arc != 0)
            return -1;
        (*corrections)++;
    }
    return 0;
}

/* The step's result: the best clip and its frames (none when skipped: note says why). */
static int video_result(run *w, const best *b, const char *note, const char *prompt, int corrections, int regens)
{
    const gs_steps_options *o = w->o;
    gs_step_result *r = w->r;
    int rc = 0;
    char *rel = b->path ? rel_out(w->ctx, b->path) : strdup("");
    char *rf = b->first ? rel_out(w->ctx, b->first) : strdup(""), *rl = b->last ? rel_out(w->ctx, b->last) : strdup("");
    if (!rel || !rf || !rl ||
        (note[0] && (add_field(r, "skipped", GS_FIELD_BOOL, NULL, 1) || add_field(r, "note", GS_FIELD_STR, note, 0))) ||
        add_field(r, "scene_id", GS_FIELD_INT, NULL, w->a->scene.scene_id) ||
        add_field(r, "video_path", GS_FIELD_STR, rel, 0) || add_field(r, "duration", GS_FIELD_NUM, NULL, b->duration) ||
        add_field(r, "first_frame_path", GS_FIELD_STR, rf, 0) ||
        add_field(r, "last_frame_path", GS_FIELD_STR, rl, 0) ||
        add_field(r, "consistency_score", GS_FIELD_NUM, NULL, b->path ? b->score : 0) ||
        add_field(r, "correction_passes", GS_FIELD_INT, NULL, corrections) ||
        add_field(r, "regenerations", GS_FIELD_INT, NULL, regens) ||
        add_field(r, "video_prompt", GS_FIELD_STR, prompt, 0) ||
        add_field(r, "accepted", GS_FIELD_BOOL, NULL, b->path && b->score >= o->video_threshold))
        rc = fail(w, "out of memory");
    free(rel);
    free(rf);
    free(rl);
    return rc;
}

int step_scene_video(run *w)
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
        if (correct_clip(w, &k, &b, &n, &score, &corrections) != 0)
            goto done;
    } else if (b.score < o->long_clip_regen_threshold && regen_left > 0) {
        /* 9-15 s clips cannot be edited: one regeneration when clearly off */
        int vrc = cancelled(w) ? -1 : video_attempt(w, &k, n++, "regenerate", prompt, NULL, NULL, &b, &score);
        if (vrc == GS_PROVIDER_JOB_FAILED)
            progress(w, n - 1, b.score, "%.200s: keeping the first clip", w->err);
        else if (vrc != 0 && vrc != GS_PROVIDER_MODERATED)
            goto done;
        regens += vrc == 0;
    }
    rc = video_result(w, &b, note, prompt, corrections, regens);
done:
    free(prompt);
    free(w->kf);
    best_free(&b);
    cast_free(&k);
    return rc;
}
