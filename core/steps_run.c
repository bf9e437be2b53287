/*
 * steps_run.c — grokspicy.steps: what every step kind shares while it runs on
 * a worker: the run record, failure and progress reporting, the ledger meter,
 * attempts and the best one so far, the cast of a scene, moderation rewording,
 * and run_job, which picks the step kind.
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

int fail(run *w, const char *fmt, ...)
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

int cancelled(run *w)
{
    if (atomic_load(&w->f->cancel) || atomic_load(&w->ctx->closing))
        return fail(w, "cancelled");
    return 0;
}

void progress(run *w, int attempt, double score, const char *fmt, ...)
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

void report_phase(run *w, int attempt, const char *phase)
{
    gs_step_event ev;
    fill_event(&ev, GS_EVENT_PROGRESS, w->f, w->asset);
    ev.attempt = attempt;
    snprintf(ev.phase, sizeof ev.phase, "%s", phase);
    snprintf(ev.message, sizeof ev.message, "%s", phase);
    pthread_mutex_lock(&w->ctx->mu);
    push_event_locked(w->ctx, &ev, NULL);
    pthread_mutex_unlock(&w->ctx->mu);
}

static char *join_issues(const gs_score *s);

/* Keeps what the vision check said the first time it sent the step round
 * again: the run page shows it beside the accepted asset. */
void note_retry(run *w, double score, double threshold, const gs_score *s)
{
    if (score < threshold && !w->why && s && s->n_issues > 0)
        w->why = join_issues(s);
}

int add_attempt(run *w, const char *abs, double score, const char *action, const gs_score *s)
{
    gs_step_result *r = w->r;
    gs_step_attempt *v = realloc(r->attempts, (r->n_attempts + 1) * sizeof *v);
    if (!v)
        return fail(w, "out of memory");
    r->attempts = v;
    gs_step_attempt *a = &v[r->n_attempts];
    memset(a, 0, sizeof *a);
    if (!(a->path = rel_out(w->ctx, abs)))
        return fail(w, "out of memory");
    if (s && s->n_issues > 0 && !(a->issues = join_issues(s))) {
        free(a->path);
        return fail(w, "out of memory");
    }
    a->score = score;
    a->action = action;
    double now = gs_monotonic();
    a->seconds = now - w->attempt_t0;
    a->ticks = w->meter.ticks - w->attempt_ticks0;
    w->attempt_t0 = now;
    w->attempt_ticks0 = w->meter.ticks;
    r->n_attempts++;
    return 0;
}

char *run_path(run *w, const char *sub, const char *fmt, ...)
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

void best_free(best *b)
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
void best_offer(best *b, double score, char *path, const gs_score *s, double duration, char *first,
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

void cast_free(cast *k)
{
    for (size_t i = 0; i < k->n_sheets; i++)
        free(k->sheets[i]);
}

int cast_build(run *w, cast *k)
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
char *cast_descriptions(const cast *k)
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
int score_cast(run *w, const cast *k, const char *image, double *score, gs_score *s)
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

/* Renders with prompt; on a moderation refusal asks the provider for a gentler
 * prompt and tries again, at most MAX_REWORDS times. Returns 0, -1 (w->err),
 * or GS_PROVIDER_MODERATED with the last reason in w->err. */
int render_moderated(run *w, const char *prompt, render_fn fn, const void *ud)
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
void skip_note(run *w, char *note, size_t len)
{
    snprintf(note, len, "content moderation refused it after %d rewordings: %.600s", MAX_REWORDS, w->err);
}

int render_image(run *w, const char *prompt, const void *ud)
{
    const image_job *j = ud;
    if (j->n_refs == 0)
        return gs_provider_generate_image(w->ctx->provider, prompt, j->aspect, j->path, &w->meter, w->err,
                                          sizeof w->err);
    return gs_provider_edit_image(w->ctx->provider, prompt, j->refs, j->n_refs, j->path, &w->meter, w->err,
                                  sizeof w->err);
}

void run_job(void *arg)
{
    gs_future *f = arg;
    run w = {.ctx = f->ctx, .f = f, .a = &f->args, .r = &f->res, .o = &f->ctx->opt};
    asset_of(&f->args, w.asset, sizeof w.asset);
    ledger_asset_of(&f->args, w.ledger_asset, sizeof w.ledger_asset);
    w.meter = (gs_meter){queue_charge, &w, 0, f->ctx->provider->budget, 0};
    w.attempt_t0 = gs_monotonic();
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
    gs_meter_release(&w.meter);
    f->res.cost = (double)w.meter.ticks / (double)GS_TICKS_PER_USD;
    f->res.ok = rc == 0;
    if (f->res.ok)
        f->res.err[0] = '\0';
    future_finish(f, w.asset);
}
