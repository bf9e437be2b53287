/*
 * test_provider_local.c — the offline preview renderer: planning, portraits,
 * keyframes, clips and consistency scores, with real ffmpeg and no network.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <time.h>

#include "grokspicy.h"
#include "gs_util.h"
#include "testutil.h"

#define CONCEPT "a red fox with amber eyes and a grey owl solve a mystery in an autumn forest"

static const char *dir;
static gs_provider *prov;
static gs_plan *plan;
static char sheet[3][1024], key1[1024], blue_sheet[1024];

static const char *path(const char *name)
{
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static int words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        int w = !isspace((unsigned char)*s);
        n += w && !in;
        in = w;
    }
    return n;
}

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int same_bytes(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void test_plan(void)
{
    char err[1024];
    plan = gs_provider_plan_story(prov, CONCEPT, 3, 42, NULL, err, sizeof err);
    REQUIRE(plan);
    CHECK(plan->title && *plan->title);
    CHECK_STR(plan->aspect_ratio, "16:9");
    CHECK(plan->n_characters == 2);
    CHECK(plan->n_scenes == 3);
    CHECK(strstr(plan->characters[0].role, "fox") != NULL);
    CHECK(strstr(plan->characters[1].role, "owl") != NULL);
    for (size_t i = 0; i < plan->n_characters; i++) {
        const gs_character *c = &plan->characters[i];
        CHECK(c->name && *c->name);
        CHECK(words(c->visual_description) >= 80);
        CHECK(c->n_personality_cues >= 1);
    }
    CHECK(strstr(plan->characters[0].visual_description, "red") != NULL);
    CHECK(strstr(plan->characters[0].visual_description, "amber eyes") != NULL);
    CHECK(strstr(plan->characters[1].visual_description, "grey") != NULL);
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const gs_scene *s = &plan->scenes[i];
        CHECK(s->scene_id == (int)i + 1);
        CHECK(s->n_characters_present >= 1 && s->n_characters_present <= 2);
        CHECK(s->duration_seconds == 8);
        CHECK_STR(s->transition, "cut");
        CHECK(strstr(s->setting, "forest") != NULL);
        CHECK(*s->camera && *s->mood && *s->action && *s->title && *s->description);
    }
    printf("  \"%s\": %s, %s\n", plan->title, plan->characters[0].name, plan->characters[1].name);

    /* three characters, still at most two per scene; same seed, same plan */
    gs_plan *p3 = gs_provider_plan_story(prov, "a girl, a robot and a green dragon cross a snowy mountain", 4, 1, NULL, err, sizeof err);
    REQUIRE(p3);
    CHECK(p3->n_characters == 3 && p3->n_scenes == 4);
    for (size_t i = 0; i < p3->n_scenes; i++)
        CHECK(p3->scenes[i].n_characters_present <= 2);
    gs_plan *again = gs_provider_plan_story(prov, "a girl, a robot and a green dragon cross a snowy mountain", 4, 1, NULL, err, sizeof err);
    REQUIRE(again);
    CHECK_STR(p3->title, again->title);
    CHECK_STR(p3->characters[2].visual_description, again->characters[2].visual_description);
    gs_plan_free(again);
    gs_plan_free(p3);

    /* a concept without any known character still gets a cast */
    gs_plan *p0 = gs_provider_plan_story(prov, "something happens somewhere", 3, 1, NULL, err, sizeof err);
    REQUIRE(p0);
    CHECK(p0->n_characters >= 1 && words(p0->characters[0].visual_description) >= 80);
    gs_plan_free(p0);
    CHECK(gs_provider_plan_story(prov, "", 3, 1, NULL, err, sizeof err) == NULL);
}

static void test_portrait(void)
{
    REQUIRE(plan);
    char err[2048], prompt[4096];
    for (size_t i = 0; i < plan->n_characters; i++) {
        snprintf(sheet[i], sizeof sheet[i], "%s/sheet_%zu.png", dir, i);
        snprintf(prompt, sizeof prompt, "%s. %s", plan->style, plan->characters[i].visual_description);
        double t0 = gs_monotonic();
        gs_meter meter = {NULL, NULL, 0, NULL, 0};
        REQUIRE(gs_provider_generate_image(prov, prompt, "16:9", sheet[i], &meter, err, sizeof err) == 0);
        if (i == 0)
            printf("  portrait: %.2f s\n", gs_monotonic() - t0);
        CHECK(meter.ticks == 0); /* the local renderer bills nothing */
    }
    gs_media_info info;
    REQUIRE(gs_media_probe(sheet[0], &info, err, sizeof err) == 0);
    CHECK(info.width == 1280 && info.height == 720);
    REQUIRE(gs_provider_generate_image(prov, "a red fox with amber eyes", "16:9", path("fox.png"), NULL, err, sizeof err) == 0);
    /* the figure's body region (a box in the middle) is dominated by red */
    unsigned char *px = gs_media_read_rgb(path("fox.png"), 128, 72, err, sizeof err);
    REQUIRE(px);
    double m[3] = {0, 0, 0};
    int n = 0;
    for (int y = 38; y < 62; y++)
        for (int x = 54; x < 74; x++, n++)
            for (int k = 0; k < 3; k++)
                m[k] += px[(y * 128 + x) * 3 + k];
    for (int k = 0; k < 3; k++)
        m[k] /= n;
    free(px);
    printf("  red fox body mean RGB %.0f %.0f %.0f\n", m[0], m[1], m[2]);
    CHECK(m[0] > 150 && m[0] > m[1] + 60 && m[0] > m[2] + 60);
    /* other aspects */
    snprintf(blue_sheet, sizeof blue_sheet, "%s/blue_fox.png", dir);
    REQUIRE(gs_provider_generate_image(prov, "a blue fox with amber eyes", "16:9", blue_sheet, NULL, err, sizeof err) == 0);
    REQUIRE(gs_provider_generate_image(prov, "a purple cat", "9:16", path("tall.png"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("tall.png"), &info, err, sizeof err) == 0);
    CHECK(info.width == 720 && info.height == 1280);
    REQUIRE(gs_provider_generate_image(prov, "a silver robot", "1:1", path("square.png"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("square.png"), &info, err, sizeof err) == 0);
    CHECK(info.width == 720 && info.height == 720);
}

static void test_determinism(void)
{
    char err[2048];
    gs_provider *other = NULL;
    REQUIRE(gs_provider_open("local", &other, err, sizeof err) == 0);
    other->seed = prov->seed;
    const char *prompt = "storybook. Rusty is a small red fox with amber eyes and a blue scarf";
    REQUIRE(gs_provider_generate_image(prov, prompt, "16:9", path("d1.png"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_provider_generate_image(other, prompt, "16:9", path("d2.png"), NULL, err, sizeof err) == 0);
    CHECK(same_bytes(path("d1.png"), path("d2.png")));
    const char *refs[] = {sheet[0], sheet[1]};
    const char *kp = "a clearing in the autumn forest at dusk, fox from reference image 1, owl from reference image 2";
    REQUIRE(gs_provider_edit_image(prov, kp, refs, 2, path("k1.png"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_provider_edit_image(other, kp, refs, 2, path("k2.png"), NULL, err, sizeof err) == 0);
    CHECK(same_bytes(path("k1.png"), path("k2.png")));
    REQUIRE(gs_provider_generate_video(prov, "static", path("k1.png"), 2, "16:9", "480p", path("v1.mp4"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_provider_generate_video(other, "static", path("k1.png"), 2, "16:9", "480p", path("v2.mp4"), NULL, err, sizeof err) == 0);
    CHECK(same_bytes(path("v1.mp4"), path("v2.mp4")));
    /* a different seed draws a different scene */
    other->seed = prov->seed + 1;
    REQUIRE(gs_provider_edit_image(other, kp, refs, 2, path("k3.png"), NULL, err, sizeof err) == 0);
    CHECK(!same_bytes(path("k1.png"), path("k3.png")));
    gs_provider_destroy(other);
}

static void test_keyframe_and_scores(void)
{
    REQUIRE(plan);
    char err[2048], prompt[4096];
    snprintf(key1, sizeof key1, "%s/key1.png", dir);
    snprintf(prompt, sizeof prompt, "%s. %s from reference image 1 on the left, %s from reference image 2 on the right. %s",
             plan->scenes[0].setting, plan->characters[0].name, plan->characters[1].name, plan->scenes[0].action);
    const char *refs[] = {sheet[0], sheet[1]};
    double t0 = gs_monotonic();
    REQUIRE(gs_provider_edit_image(prov, prompt, refs, 2, key1, NULL, err, sizeof err) == 0);
    printf("  keyframe: %.2f s\n", gs_monotonic() - t0);

    const char *names[] = {plan->characters[0].name, plan->characters[1].name};
    const char *descs[] = {plan->characters[0].visual_description, plan->characters[1].visual_description};
    gs_score s;
    t0 = gs_monotonic();
    REQUIRE(gs_provider_score_consistency(prov, key1, refs, 2, descs, names, 2, &s, NULL, err, sizeof err) == 0);
    printf("  score vs own sheets: %.3f (%s %.3f, %s %.3f) in %.2f s\n", s.overall_score, s.names[0], s.scores[0],
           s.names[1], s.scores[1], gs_monotonic() - t0);
    CHECK(s.overall_score > 0.8);
    CHECK(s.n == 2 && s.n_issues == 0 && strcmp(s.fix_prompt, "") == 0);
    gs_score_free(&s);

    /* the fox slot against a blue fox's sheet */
    const char *wrong[] = {blue_sheet, sheet[1]};
    REQUIRE(gs_provider_score_consistency(prov, key1, wrong, 2, descs, names, 2, &s, NULL, err, sizeof err) == 0);
    printf("  score vs a blue fox sheet: %.3f; fix: %s\n", s.scores[0], s.fix_prompt);
    CHECK(s.scores[0] < 0.6);
    CHECK(s.scores[1] > 0.8);
    CHECK(s.overall_score == s.scores[0]);
    CHECK(s.n_issues == 1 && strstr(s.issues[0], names[0]) != NULL);
    CHECK(strstr(s.fix_prompt, "blue") != NULL);
    gs_score_free(&s);

    /* a portrait against its own description, and against another one */
    const char *one[] = {names[0]};
    REQUIRE(gs_provider_score_consistency(prov, sheet[0], NULL, 0, descs, one, 1, &s, NULL, err, sizeof err) == 0);
    CHECK(s.overall_score > 0.8);
    gs_score_free(&s);
    const char *green[] = {"a small green frog with yellow eyes"};
    REQUIRE(gs_provider_score_consistency(prov, sheet[0], NULL, 0, green, one, 1, &s, NULL, err, sizeof err) == 0);
    printf("  red fox portrait vs a green frog description: %.3f\n", s.overall_score);
    CHECK(s.overall_score < 0.6);
    gs_score_free(&s);

    /* scene 2 keeps scene 1's palette: the previous keyframe as third ref */
    const char *three[] = {sheet[0], sheet[1], key1};
    snprintf(prompt, sizeof prompt, "%s. Fox from reference image 1, owl from reference image 2, keep the look of the previous scene in reference image 3",
             plan->scenes[1].setting);
    REQUIRE(gs_provider_edit_image(prov, prompt, three, 3, path("key2.png"), NULL, err, sizeof err) == 0);
    REQUIRE(gs_provider_score_consistency(prov, path("key2.png"), refs, 2, descs, names, 2, &s, NULL, err, sizeof err) == 0);
    CHECK(s.overall_score > 0.8);
    gs_score_free(&s);
    /* swapped bindings put the owl on the left */
    snprintf(prompt, sizeof prompt, "forest. owl from reference image 2 on the left, fox from reference image 1");
    REQUIRE(gs_provider_edit_image(prov, prompt, refs, 2, path("swapped.png"), NULL, err, sizeof err) == 0);
    const char *swapped_refs[] = {sheet[1], sheet[0]};
    REQUIRE(gs_provider_score_consistency(prov, path("swapped.png"), swapped_refs, 2, descs, names, 2, &s, NULL, err, sizeof err) == 0);
    CHECK(s.overall_score > 0.8);
    gs_score_free(&s);
}

static void test_clip(void)
{
    char err[2048];
    double t0 = gs_monotonic();
    REQUIRE(gs_provider_generate_video(prov, "slow push-in on the two friends, curious mood", key1, 8, "16:9", "720p",
                                       path("clip1.mp4"), NULL, err, sizeof err) == 0);
    printf("  8 s clip: %.2f s\n", gs_monotonic() - t0);
    gs_media_info info;
    REQUIRE(gs_media_probe(path("clip1.mp4"), &info, err, sizeof err) == 0);
    CHECK(fabs(info.duration - 8) <= 0.1);
    CHECK(fabs(info.fps - 24) < 0.01);
    CHECK(info.width == 1280 && info.height == 720);
    CHECK_STR(info.video_codec, "h264");
    CHECK_STR(info.pix_fmt, "yuv420p");
    CHECK(info.has_audio && info.sample_rate == 44100);
    /* the last frame still shows both characters */
    REQUIRE(gs_media_extract_frame(path("clip1.mp4"), path("last.png"), 1, err, sizeof err) == 0);
    const char *refs[] = {sheet[0], sheet[1]};
    const char *names[] = {"fox", "owl"};
    const char *descs[] = {"", ""};
    gs_score s;
    REQUIRE(gs_provider_score_consistency(prov, path("last.png"), refs, 2, descs, names, 2, &s, NULL, err, sizeof err) == 0);
    printf("  last frame score: %.3f\n", s.overall_score);
    CHECK(s.overall_score > 0.8);
    gs_score_free(&s);
    /* pan and edit */
    REQUIRE(gs_provider_generate_video(prov, "pan left", key1, 3, "16:9", "720p", path("pan.mp4"), NULL, err, sizeof err) == 0);
    t0 = gs_monotonic();
    REQUIRE(gs_provider_edit_video(prov, "make the light warmer, golden", path("pan.mp4"), path("pan_edit.mp4"), NULL, err, sizeof err) == 0);
    printf("  edit of a 3 s clip: %.2f s\n", gs_monotonic() - t0);
    REQUIRE(gs_media_probe(path("pan_edit.mp4"), &info, err, sizeof err) == 0);
    CHECK(fabs(info.duration - 3) < 0.15);
    CHECK(!same_bytes(path("pan.mp4"), path("pan_edit.mp4")));
    CHECK(gs_provider_generate_video(prov, "x", key1, 30, "16:9", "720p", path("long.mp4"), NULL, err, sizeof err) == -1);
    t0 = gs_monotonic();
    REQUIRE(gs_media_normalize(path("clip1.mp4"), path("clip1_norm.mp4"), err, sizeof err) == 0);
    printf("  normalise an 8 s clip: %.2f s\n", gs_monotonic() - t0);
}

static void test_open(void)
{
    char err[256];
    gs_provider *p = NULL;
    CHECK(gs_provider_open("nope", &p, err, sizeof err) == -1 && p == NULL);
    CHECK(strstr(err, "nope") != NULL);
    REQUIRE(gs_provider_open("local", &p, err, sizeof err) == 0);
    CHECK_STR(gs_provider_name(p), "local");
    CHECK(gs_provider_max_concurrency(p) >= 1);
    gs_provider_destroy(p);
}

int main(void)
{
    dir = tu_tmpdir("provider_local");
    char err[256];
    if (gs_provider_open("local", &prov, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    prov->seed = 7;
    RUN(test_open);
    RUN(test_plan);
    RUN(test_portrait);
    RUN(test_determinism);
    RUN(test_keyframe_and_scores);
    RUN(test_clip);
    gs_plan_free(plan);
    gs_provider_destroy(prov);
    return TU_REPORT();
}
