/*
 * test_steps.c — the steps against a scripted fake provider (fake_provider.h):
 * retry loops, best-of-N, attempt files, the 3-image budget, fix edits, video
 * tiers and the 8.7 s edit limit, error propagation, parallelism, the event
 * queue under a progress flood, close with work queued, the charge queue (a
 * failing step's spending included) and the one regeneration of a failed job.
 */
#define _GNU_SOURCE
#include <math.h>
#include <time.h>

#include "fake_provider.h"
#include "gs_util.h"
#include "testutil.h"

static const char *tmp;
static int run_no;

/* A context over f writing under <tmp>/out/runs/<n>. */
static gs_steps_ctx *open_ctx(fake *f, gs_steps_media *m, int workers, int queue, const gs_steps_options *o)
{
    char out[1024], run[64], err[512];
    snprintf(out, sizeof out, "%s/out", tmp);
    snprintf(run, sizeof run, "runs/%d", ++run_no);
    *m = fake_media(f);
    gs_steps_config cfg = {.provider = &f->base, .output_dir = out, .run_dir = run, .workers = workers,
                           .queue_size = queue, .options = o, .media = m};
    gs_steps_ctx *ctx = gs_steps_open(&cfg, err, sizeof err);
    if (!ctx)
        fprintf(stderr, "gs_steps_open: %s\n", err);
    return ctx;
}

static int exists_rel(gs_steps_ctx *ctx, const char *rel)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", gs_steps_output_dir(ctx), rel);
    return access(p, F_OK) == 0;
}

static void sheet_args(gs_step_args *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->kind = GS_STEP_CHARACTER_SHEET;
    a->style = strdup("watercolour");
    a->aspect = strdup("16:9");
    a->chars = calloc(1, sizeof *a->chars);
    a->n_chars = 1;
    a->chars[0].name = strdup(name);
    a->chars[0].role = strdup("hero");
    a->chars[0].visual_description = strdup("a red fox with a green scarf");
}

/* Submits and waits; the future is returned for inspection (release it). */
static gs_future *run_step(gs_steps_ctx *ctx, gs_step_args *a)
{
    char err[512];
    gs_future *fu = gs_steps_submit(ctx, a, err, sizeof err);
    if (!fu) {
        fprintf(stderr, "submit: %s\n", err);
        return NULL;
    }
    gs_future_wait(fu, -1);
    return fu;
}

static void set_scores(fake *f, const double *s, size_t n)
{
    memcpy(f->scores, s, n * sizeof *s);
    f->n_scores = n;
    f->next_score = 0;
}

static void test_sheet_stops_at_threshold(void)
{
    fake f;
    fake_init(&f);
    set_scores(&f, (double[]){0.5, 0.85, 0.99}, 3);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    sheet_args(&a, "Mr. Fox");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "generate_image") == 2);
    CHECK(r->n_attempts == 2);
    CHECK(fabs(gs_step_result_num(r, "consistency_score") - 0.85) < 1e-9);
    CHECK(gs_step_result_num(r, "generation_attempts") == 2);
    CHECK(gs_step_result_num(r, "accepted") == 1);
    const char *pp = gs_step_result_str(r, "portrait_path");
    REQUIRE(pp);
    CHECK(pp[0] != '/');
    CHECK(strstr(pp, "characters/mr_fox_attempt2.png") != NULL);
    CHECK(exists_rel(ctx, r->attempts[0].path) && exists_rel(ctx, r->attempts[1].path));
    /* the retry asks for what the first check missed */
    CHECK(strstr(fake_nth(&f, "generate_image", 1)->prompt, "make the scarf green") != NULL);
    CHECK(strstr(fake_nth(&f, "generate_image", 0)->prompt, "a red fox with a green scarf") != NULL);
    CHECK(fabs(r->cost - 0.14) < 1e-9);
    /* Each attempt: what the check found (the first fell short), its cost and its time. */
    CHECK_STR(r->attempts[0].issues, "scarf colour is wrong");
    CHECK(r->attempts[1].issues == NULL);
    CHECK(r->attempts[0].ticks == (int64_t)(0.07 * (double)GS_TICKS_PER_USD + 0.5));
    CHECK(r->attempts[1].ticks == r->attempts[0].ticks);
    CHECK(r->attempts[0].seconds >= 0 && r->attempts[1].seconds >= 0 && r->attempts[0].seconds < 600);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_sheet_best_of_n(void)
{
    fake f;
    fake_init(&f);
    set_scores(&f, (double[]){0.5, 0.7, 0.6}, 3);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    sheet_args(&a, "Fox");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(r->n_attempts == 3);
    CHECK(fake_count(&f, "generate_image") == 3);
    CHECK(fabs(gs_step_result_num(r, "consistency_score") - 0.7) < 1e-9);
    CHECK(gs_step_result_num(r, "accepted") == 0);
    CHECK(strstr(gs_step_result_str(r, "portrait_path"), "fox_attempt2.png") != NULL);
    for (size_t i = 0; i < r->n_attempts; i++)
        CHECK(exists_rel(ctx, r->attempts[i].path));
    CHECK(fabs(r->attempts[2].score - 0.6) < 1e-9);
    /* The run page shows why the step went round again. */
    CHECK_STR(gs_step_result_str(r, "note"), "scarf colour is wrong");
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void add_char(gs_step_args *a, const char *name, const char *sheet)
{
    a->chars = realloc(a->chars, (a->n_chars + 1) * sizeof *a->chars);
    gs_step_character *c = &a->chars[a->n_chars++];
    c->name = strdup(name);
    c->role = strdup("");
    c->visual_description = strdup("described in detail");
    c->portrait_path = sheet ? strdup(sheet) : NULL;
}

static void scene_args(gs_step_args *a, gs_step_kind kind, int id, double dur)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->style = strdup("watercolour");
    a->aspect = strdup("16:9");
    a->scene.scene_id = id;
    a->scene.setting = strdup("a forest");
    a->scene.camera = strdup("slow push in");
    a->scene.mood = strdup("curious");
    a->scene.action = strdup("they meet");
    a->scene.duration = dur;
}

static void test_keyframe_two_sheets_and_previous(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    scene_args(&a, GS_STEP_COMPOSE_KEYFRAME, 2, 8);
    add_char(&a, "Fox", "runs/x/characters/fox.png");
    add_char(&a, "Owl", "runs/x/characters/owl.png");
    add_char(&a, "Bear", "runs/x/characters/bear.png");
    a.previous_keyframe = strdup("runs/x/keyframes/scene_1.png");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    const fake_call *c = fake_nth(&f, "edit_image", 0);
    REQUIRE(c);
    CHECK(c->n_refs == 3);
    CHECK(strstr(c->prompt, "Draw Fox from reference image 1") != NULL);
    CHECK(strstr(c->prompt, "Draw Owl from reference image 2") != NULL);
    CHECK(strstr(c->prompt, "previous scene keyframe in reference image 3") != NULL);
    CHECK(strstr(c->prompt, "Draw Bear from the description") != NULL);
    CHECK(strstr(c->input, "keyframes/scene_1.png") != NULL); /* the last ref */
    REQUIRE(r->n_refs == 3);
    CHECK_STR(r->refs[0], "runs/x/characters/fox.png");
    CHECK_STR(r->refs[2], "runs/x/keyframes/scene_1.png");
    /* scored against all three sheets */
    CHECK(fake_nth(&f, "score_consistency", 0)->n_refs == 3);
    const char *vp = gs_step_result_str(r, "video_prompt");
    REQUIRE(vp);
    CHECK(strstr(vp, "slow push in") && strstr(vp, "they meet") && !strstr(vp, "described in detail"));
    CHECK(gs_step_result_num(r, "edit_passes") == 0);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_keyframe_one_sheet_and_previous(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    scene_args(&a, GS_STEP_COMPOSE_KEYFRAME, 3, 8);
    add_char(&a, "Fox", "runs/x/characters/fox.png");
    add_char(&a, "Owl", "runs/x/characters/owl.png");
    a.scene.present = calloc(1, sizeof(char *));
    a.scene.present[0] = strdup("Fox");
    a.scene.n_present = 1;
    a.previous_keyframe = strdup("/abs/keyframes/scene_2.png");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    CHECK(gs_future_result(fu)->ok);
    const fake_call *c = fake_nth(&f, "edit_image", 0);
    REQUIRE(c);
    CHECK(c->n_refs == 2);
    CHECK(strstr(c->prompt, "from reference image 1") != NULL);
    CHECK(strstr(c->prompt, "previous scene keyframe in reference image 2") != NULL);
    CHECK(strstr(c->prompt, "Owl") == NULL);
    CHECK_STR(c->input, "/abs/keyframes/scene_2.png");
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_keyframe_fix_edits(void)
{
    fake f;
    fake_init(&f);
    f.default_score = 0.5; /* never good enough */
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    scene_args(&a, GS_STEP_COMPOSE_KEYFRAME, 1, 8);
    add_char(&a, "Fox", "runs/x/characters/fox.png");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "edit_image") == 4); /* compose + 3 fixes */
    CHECK(gs_step_result_num(r, "edit_passes") == 3);
    CHECK(r->n_attempts == 4);
    for (size_t k = 1; k < 4; k++) {
        const fake_call *c = fake_nth(&f, "edit_image", k);
        CHECK(c->n_refs == 1);
        CHECK(strstr(c->prompt, "make the scarf green") != NULL);
        CHECK(strstr(c->input, "keyframes/scene_1_attempt") != NULL);
    }
    for (size_t i = 0; i < r->n_attempts; i++)
        CHECK(exists_rel(ctx, r->attempts[i].path));
    gs_future_release(fu);

    /* stops once a fix reaches the threshold, keeps the best */
    set_scores(&f, (double[]){0.5, 0.9}, 2);
    f.n_calls = 0;
    scene_args(&a, GS_STEP_COMPOSE_KEYFRAME, 4, 8);
    add_char(&a, "Fox", "runs/x/characters/fox.png");
    fu = run_step(ctx, &a);
    REQUIRE(fu);
    r = gs_future_result(fu);
    CHECK(fake_count(&f, "edit_image") == 2);
    CHECK(gs_step_result_num(r, "edit_passes") == 1);
    CHECK(strstr(gs_step_result_str(r, "keyframe_path"), "scene_4_attempt2.png") != NULL);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static gs_future *run_video(fake *f, gs_steps_ctx *ctx, int id, double dur)
{
    gs_step_args a;
    scene_args(&a, GS_STEP_SCENE_VIDEO, id, dur);
    add_char(&a, "Fox", "runs/x/characters/fox.png");
    a.keyframe_path = strdup("runs/x/keyframes/scene_1_attempt1.png");
    a.video_prompt = strdup("slow push in. they meet.");
    f->n_calls = 0;
    return run_step(ctx, &a);
}

static void test_video_short_clip_corrections(void)
{
    fake f;
    fake_init(&f);
    set_scores(&f, (double[]){0.5, 0.6, 0.7}, 3);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_future *fu = run_video(&f, ctx, 1, 8);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "generate_video") == 1);
    CHECK(fake_count(&f, "edit_video") == 2);
    CHECK(gs_step_result_num(r, "correction_passes") == 2);
    CHECK(fabs(gs_step_result_num(r, "consistency_score") - 0.7) < 1e-9);
    CHECK(gs_step_result_num(r, "duration") == 8);
    CHECK(strstr(gs_step_result_str(r, "last_frame_path"), "frames/scene_1_attempt3_last.png") != NULL);
    CHECK(strstr(fake_nth(&f, "edit_video", 0)->prompt, "make the scarf green") != NULL);
    for (size_t i = 0; i < r->n_attempts; i++)
        CHECK(exists_rel(ctx, r->attempts[i].path));
    CHECK(exists_rel(ctx, gs_step_result_str(r, "first_frame_path")));
    gs_future_release(fu);

    set_scores(&f, (double[]){0.5, 0.9}, 2);
    fu = run_video(&f, ctx, 2, 6);
    CHECK(fake_count(&f, "edit_video") == 1);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_video_long_clip_regeneration(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    set_scores(&f, (double[]){0.4, 0.3}, 2);
    gs_future *fu = run_video(&f, ctx, 1, 12);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "generate_video") == 2); /* one regeneration, not two */
    CHECK(fake_count(&f, "edit_video") == 0);
    CHECK(gs_step_result_num(r, "regenerations") == 1);
    CHECK(fabs(gs_step_result_num(r, "consistency_score") - 0.4) < 1e-9); /* best kept */
    CHECK(strstr(gs_step_result_str(r, "video_path"), "scene_1_attempt1.mp4") != NULL);
    gs_future_release(fu);

    set_scores(&f, (double[]){0.6}, 1);
    fu = run_video(&f, ctx, 2, 12);
    CHECK(fake_count(&f, "generate_video") == 1);
    CHECK(fake_count(&f, "edit_video") == 0);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_video_edit_input_limit(void)
{
    fake f;
    fake_init(&f);
    f.default_score = 0.3;
    f.clip_durations[0] = 9.0; /* an 8 s scene that came back 9 s long */
    f.n_clip_durations = 1;
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_future *fu = run_video(&f, ctx, 1, 8);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "edit_video") == 0);
    CHECK(gs_step_result_num(r, "duration") == 9.0);
    CHECK(gs_step_result_num(r, "correction_passes") == 0);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_failure_propagates(void)
{
    fake f;
    fake_init(&f);
    snprintf(f.fail_op, sizeof f.fail_op, "generate_image");
    snprintf(f.fail_msg, sizeof f.fail_msg, "HTTP 429: quota exceeded");
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    sheet_args(&a, "Fox");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(!r->ok);
    CHECK_STR(r->err, "generate_character_sheet(Fox): HTTP 429: quota exceeded");
    gs_step_event ev;
    int saw_failed_done = 0;
    while (gs_steps_next_event(ctx, &ev, 0))
        if (ev.kind == GS_EVENT_DONE && !ev.ok && strstr(ev.message, "quota exceeded"))
            saw_failed_done = 1;
    CHECK(saw_failed_done);
    gs_future_release(fu);

    f.fail_op[0] = '\0';
    gs_step_args v;
    scene_args(&v, GS_STEP_SCENE_VIDEO, 5, 8);
    v.keyframe_path = strdup("k.png");
    snprintf(f.fail_op, sizeof f.fail_op, "edit_video");
    snprintf(f.fail_msg, sizeof f.fail_msg, "edit failed");
    add_char(&v, "Fox", "fox.png");
    f.default_score = 0.1;
    fu = run_step(ctx, &v);
    REQUIRE(fu);
    CHECK_STR(gs_future_result(fu)->err, "generate_scene_video(scene 5): edit failed");
    gs_future_release(fu);
    gs_steps_free(ctx);
}

/* Takes every queued charge; returns how many were of asset (all when NULL). */
static size_t take_charges(gs_steps_ctx *ctx, const char *asset, int64_t *ticks)
{
    size_t n = 0, lost = 0, hits = 0;
    gs_step_charge *v = gs_steps_take_charges(ctx, &n, &lost);
    *ticks = 0;
    for (size_t i = 0; i < n; i++)
        if (!asset || !strcmp(v[i].asset, asset)) {
            hits++;
            *ticks += v[i].c.ticks;
        }
    free(v);
    return lost ? (size_t)-1 : hits;
}

static void test_charges_queued(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_step_args a;
    sheet_args(&a, "Fox");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    CHECK(gs_future_result(fu)->ok);
    CHECK(fabs(gs_future_result(fu)->cost - 0.07) < 1e-12);
    gs_future_release(fu);
    int64_t ticks;
    CHECK(take_charges(ctx, "character:Fox", &ticks) == 1);
    CHECK(ticks == 700000000);
    CHECK(take_charges(ctx, NULL, &ticks) == 0); /* taken once */

    /* a step that fails keeps what it spent in the queue, and it outlives the close */
    snprintf(f.fail_op, sizeof f.fail_op, "generate_video");
    snprintf(f.fail_msg, sizeof f.fail_msg, "xai video vid-1 failed: internal_error: boom");
    f.fail_rc = GS_PROVIDER_JOB_FAILED;
    fu = run_video(&f, ctx, 3, 4);
    REQUIRE(fu);
    CHECK(!gs_future_result(fu)->ok);
    CHECK(strstr(gs_future_result(fu)->err, "generate_scene_video(scene 3): xai video vid-1 failed") != NULL);
    CHECK(strstr(gs_future_result(fu)->err, "generated again once and failed again") != NULL);
    CHECK(fake_count(&f, "generate_video") == 2); /* one regeneration, not more */
    gs_future_release(fu);
    gs_steps_close(ctx);
    CHECK(take_charges(ctx, "scene:3:clip", &ticks) == 2);
    CHECK(ticks == 2 * 2000000000LL);
    gs_steps_free(ctx);
}

static void test_video_job_failed_regenerated(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    snprintf(f.fail_op, sizeof f.fail_op, "generate_video");
    snprintf(f.fail_msg, sizeof f.fail_msg, "xai video vid-1 expired before it was done");
    f.fail_rc = GS_PROVIDER_JOB_FAILED;
    f.fail_times = 1;
    gs_future *fu = run_video(&f, ctx, 1, 12);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    CHECK(fake_count(&f, "generate_video") == 2);
    CHECK(gs_step_result_num(r, "regenerations") == 1);
    CHECK(strstr(gs_step_result_str(r, "video_path"), "scene_1_attempt2.mp4") != NULL);
    gs_future_release(fu);
    /* the regeneration was the scene's one: a long clip that scores low is not regenerated again */
    f.default_score = 0.3;
    f.fail_op[0] = '\0';
    snprintf(f.fail_op, sizeof f.fail_op, "generate_video");
    f.fail_times = 1;
    fu = run_video(&f, ctx, 2, 12);
    REQUIRE(fu);
    CHECK(gs_future_result(fu)->ok);
    CHECK(fake_count(&f, "generate_video") == 2);
    gs_future_release(fu);
    gs_steps_free(ctx);
}

static void test_parallel_characters(void)
{
    fake f;
    fake_init(&f);
    f.sleep_ms = 200;
    f.maxc = 4;
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 3, 0, NULL);
    REQUIRE(ctx);
    CHECK(gs_steps_workers(ctx) == 3);
    const char *names[] = {"Fox", "Owl", "Bear"};
    gs_future *fu[3];
    char err[256];
    double t0 = gs_monotonic();
    for (int i = 0; i < 3; i++) {
        gs_step_args a;
        sheet_args(&a, names[i]);
        fu[i] = gs_steps_submit(ctx, &a, err, sizeof err);
        REQUIRE(fu[i]);
    }
    for (int i = 0; i < 3; i++)
        gs_future_wait(fu[i], -1);
    double dt = gs_monotonic() - t0;
    printf("# 3 x 200 ms character sheets on 3 workers: %.0f ms\n", dt * 1000);
    /* In parallel: the provider saw all three at once (a count, not a race
       against the clock, which a loaded machine can lose). */
    CHECK(f.max_running >= 3);
    for (int i = 0; i < 3; i++) {
        CHECK(gs_future_result(fu[i])->ok);
        gs_future_release(fu[i]);
    }
    gs_steps_free(ctx);

    /* the worker count is capped by the provider, and is at least 2 */
    f.maxc = 1;
    ctx = open_ctx(&f, &m, 8, 0, NULL);
    REQUIRE(ctx);
    CHECK(gs_steps_workers(ctx) == 2);
    gs_steps_free(ctx);
}

static void test_done_never_dropped(void)
{
    fake f;
    fake_init(&f);
    f.default_score = 0.1; /* every sheet uses all its attempts: a progress flood */
    f.write_files = 0;
    gs_steps_options o;
    REQUIRE(gs_steps_options_default(&o) == 0);
    o.character_max_attempts = 20;
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 16, &o);
    REQUIRE(ctx);
    gs_future *fu[8];
    char err[256];
    for (int i = 0; i < 8; i++) {
        gs_step_args a;
        sheet_args(&a, "Fox");
        fu[i] = gs_steps_submit(ctx, &a, err, sizeof err);
        REQUIRE(fu[i]);
    }
    for (int i = 0; i < 8; i++)
        gs_future_wait(fu[i], -1);
    gs_steps_stats st;
    gs_steps_get_stats(ctx, &st);
    CHECK(st.dropped > 0);
    int done = 0, progress = 0;
    gs_step_event ev;
    while (gs_steps_next_event(ctx, &ev, 0)) {
        done += ev.kind == GS_EVENT_DONE;
        progress += ev.kind == GS_EVENT_PROGRESS;
    }
    printf("# flood: %d done, %d progress delivered, %zu progress dropped\n", done, progress, st.dropped);
    CHECK(done == 8);
    /* three per attempt: generating and scoring begin, then its score */
    CHECK(progress + (int)st.dropped == 8 * 20 * 3);
    for (int i = 0; i < 8; i++)
        gs_future_release(fu[i]);
    gs_steps_free(ctx);

    /* a queue full of promised "done" slots refuses new steps rather than
     * losing an event; collected results make room again */
    o.character_max_attempts = 1;
    ctx = open_ctx(&f, &m, 2, 8, &o);
    gs_steps_options_free(&o);
    REQUIRE(ctx);
    for (int i = 0; i < 8; i++) {
        gs_step_args a;
        sheet_args(&a, "Fox");
        fu[i] = gs_steps_submit(ctx, &a, err, sizeof err);
        REQUIRE(fu[i]);
    }
    gs_step_args a;
    sheet_args(&a, "Owl");
    gs_future *extra = gs_steps_submit(ctx, &a, err, sizeof err);
    CHECK(extra == NULL);
    CHECK(strstr(err, "queue of 8") != NULL);
    for (int i = 0; i < 8; i++) {
        gs_future_wait(fu[i], -1);
        if (i < 3)
            gs_future_mark_collected(fu[i]);
        gs_future_release(fu[i]);
    }
    sheet_args(&a, "Owl");
    extra = gs_steps_submit(ctx, &a, err, sizeof err);
    REQUIRE(extra != NULL);
    gs_future_wait(extra, -1);
    done = 0;
    while (gs_steps_next_event(ctx, &ev, 0))
        done += ev.kind == GS_EVENT_DONE;
    CHECK(done == 5 + 1); /* three collected ones made room; the rest are still delivered */
    gs_future_release(extra);
    gs_steps_free(ctx);
}

static void test_assemble(void)
{
    fake f;
    fake_init(&f);
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_future *v1 = run_video(&f, ctx, 1, 8), *v2 = run_video(&f, ctx, 2, 4);
    REQUIRE(v1 && v2);
    gs_step_args a;
    memset(&a, 0, sizeof a);
    a.kind = GS_STEP_ASSEMBLE;
    a.clips = calloc(2, sizeof(char *));
    a.clips[0] = strdup(gs_step_result_str(gs_future_result(v1), "video_path"));
    a.clips[1] = strdup(gs_step_result_str(gs_future_result(v2), "video_path"));
    a.n_clips = 2;
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    const gs_step_result *r = gs_future_result(fu);
    CHECK(r->ok);
    char want[64];
    snprintf(want, sizeof want, "runs/%d/final.mp4", run_no);
    CHECK_STR(gs_step_result_str(r, "path"), want);
    CHECK(gs_step_result_num(r, "duration") == 12);
    gs_future_release(fu);
    gs_future_release(v1);
    gs_future_release(v2);
    gs_steps_free(ctx);
}

static void test_close_with_work_queued(void)
{
    fake f;
    fake_init(&f);
    f.sleep_ms = 50;
    f.default_score = 0.1; /* keep the running ones looping to a checkpoint */
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, NULL);
    REQUIRE(ctx);
    gs_future *fu[6];
    char err[256];
    for (int i = 0; i < 6; i++) {
        gs_step_args a;
        sheet_args(&a, "Fox");
        fu[i] = gs_steps_submit(ctx, &a, err, sizeof err);
        REQUIRE(fu[i]);
    }
    gs_future_cancel(fu[5]);
    gs_steps_close(ctx);
    for (int i = 0; i < 6; i++) {
        const gs_step_result *r = gs_future_result(fu[i]);
        REQUIRE(r);
        CHECK(!r->ok);
        CHECK(strstr(r->err, "context closed") || strstr(r->err, "cancelled"));
    }
    char e2[128];
    gs_step_args a;
    sheet_args(&a, "Fox");
    CHECK(gs_steps_submit(ctx, &a, e2, sizeof e2) == NULL);
    /* futures outlive the handle */
    gs_steps_free(ctx);
    for (int i = 0; i < 6; i++)
        gs_future_release(fu[i]);
}

static void test_templates(void)
{
    fake f;
    fake_init(&f);
    gs_steps_options o;
    REQUIRE(gs_steps_options_default(&o) == 0);
    free(o.tpl_portrait);
    o.tpl_portrait = strdup("[{style}] {name} = {description} {unknown}");
    gs_steps_media m;
    gs_steps_ctx *ctx = open_ctx(&f, &m, 2, 0, &o);
    gs_steps_options_free(&o);
    REQUIRE(ctx);
    gs_step_args a;
    sheet_args(&a, "Fox");
    gs_future *fu = run_step(ctx, &a);
    REQUIRE(fu);
    CHECK_STR(fake_nth(&f, "generate_image", 0)->prompt, "[watercolour] Fox = a red fox with a green scarf {unknown}");
    gs_future_release(fu);
    gs_steps_free(ctx);
}

int main(void)
{
    tmp = tu_tmpdir("test_steps");
    RUN(test_sheet_stops_at_threshold);
    RUN(test_sheet_best_of_n);
    RUN(test_keyframe_two_sheets_and_previous);
    RUN(test_keyframe_one_sheet_and_previous);
    RUN(test_keyframe_fix_edits);
    RUN(test_video_short_clip_corrections);
    RUN(test_video_long_clip_regeneration);
    RUN(test_video_edit_input_limit);
    RUN(test_failure_propagates);
    RUN(test_charges_queued);
    RUN(test_video_job_failed_regenerated);
    RUN(test_parallel_characters);
    RUN(test_done_never_dropped);
    RUN(test_assemble);
    RUN(test_close_with_work_queued);
    RUN(test_templates);
    return TU_REPORT();
}
