/*
 * provider_local.c — the "local" provider: an offline preview renderer. Draws
 * character sheets and keyframes (painted by local_figure.c and local_scene.c,
 * each keyframe carrying its recipe), paints each clip frame by frame from its
 * keyframe's recipe with the cast moving as the scene's verbs say and the
 * camera as its camera says, burns the narration in as a caption, speaks it
 * with espeak-ng (unless no_voice) and marks the clip "preview". The story
 * planner is Lua (grokspicy.preview.planner). Never builds an ffmpeg command
 * line (media.c does) and never talks to a network. Deterministic: the same
 * inputs and seed give the same bytes.
 */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_provider.h"
#include "gs_util.h"
#include "local_draw.h"

#define FIGURE_KEY "grokspicy:figure"
#define RECIPE_KEY "grokspicy:recipe"

typedef struct local_provider {
    gs_provider base;
} local_provider;

static atomic_uint scratch_counter;

/* A scratch file beside out, named like grokspicy.media's temp files (so
 * anything that sweeps those sees it): "<dir>/.<base>.part-<tag>-<pid>-<n>.<ext>". */
static void scratch_name(const char *out, const char *tag, const char *ext, char *buf, size_t len)
{
    const char *slash = strrchr(out, '/');
    int dirlen = slash ? (int)(slash - out + 1) : 0;
    snprintf(buf, len, "%.*s.%s.part-%s-%d-%u.%s", dirlen, out, out + dirlen, tag, (int)getpid(),
             atomic_fetch_add(&scratch_counter, 1), ext);
}

/* ---- character sheets ---- */

static int local_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                                gs_meter *meter, char *err, size_t errlen)
{
    (void)meter; /* the local renderer bills nothing */
    int w, h;
    aspect_size(aspect, 720, &w, &h);
    figure f;
    figure_from_text(prompt, &f);
    canvas c;
    if (canvas_init(&c, w, h) != 0) {
        gs_seterr(err, errlen, "generate_image: out of memory");
        return -1;
    }
    rgb top, bottom;
    portrait_backdrop(&f, &top, &bottom);
    /* a touch of the mood in the backdrop, kept vertical so it stays keyable */
    uint64_t rs = hash_str(prompt, p->seed);
    double warm = 0.06 * rng_unit(&rs);
    top = mix(top, (rgb){250, 210, 170}, warm);
    vgradient(&c, 0, h, top, bottom);
    double cx, base, s;
    portrait_geometry(w, h, &cx, &base, &s);
    draw_figure(&c, &f, cx, base, s, NULL);
    /* the sheet keeps the words its figure was read from: keyframes and clips draw it again */
    int rc = gs_media_write_png_text(c.px, w, h, out_path, FIGURE_KEY, prompt, err, errlen);
    free(c.px);
    return rc;
}

/* ---- keyframes ---- */

/* Which refs are character sheets and which is the previous keyframe: a ref the
 * prompt mentions near "previous", "scene", "keyframe" or "continuity" is the
 * keyframe; without such words a third ref is. Sheets are ordered by the first
 * "reference image N" that mentions them. */
static size_t classify_refs(const char *prompt, size_t n_refs, int order[3], int *base)
{
    tokens t;
    int is_base[3] = {0, 0, 0}, mentioned[3] = {0, 0, 0};
    size_t n_fig = 0;
    *base = -1;
    if (tokenize(prompt, &t) == 0) {
        static const char *const prev_words[] = {"previous", "prior", "keyframe", "continuity", "last", "earlier", NULL};
        for (int i = 0; i + 2 < t.n; i++) {
            if (!(tok_is(&t, i, "reference") && (tok_is(&t, i + 1, "image") || tok_is(&t, i + 1, "images"))))
                continue;
            int r = atoi(t.w[i + 2]) - 1;
            if (r < 0 || r >= (int)n_refs)
                continue;
            int prev = 0;
            for (int j = i - 4; j <= i + 7; j++)
                prev |= tok_any(&t, j, prev_words) || (j > i + 2 && tok_is(&t, j, "scene"));
            if (prev && *base < 0 && !mentioned[r]) {
                is_base[r] = 1;
                *base = r;
            } else if (!is_base[r] && !mentioned[r]) {
                mentioned[r] = 1;
                order[n_fig++] = r;
            }
        }
        free(t.buf);
    }
    if (*base < 0 && n_refs == 3 && !mentioned[2]) {
        is_base[2] = 1;
        *base = 2;
    }
    for (size_t r = 0; r < n_refs && n_fig < 3; r++)
        if (!is_base[r] && !mentioned[r])
            order[n_fig++] = (int)r;
    return n_fig;
}

/*
 * The palette carried from the previous keyframe: only into the same place at
 * the same time of day (a night scene must not grey the next morning). A
 * previous keyframe without a recipe carries it as it always did.
 */
static int carried_palette(const char *prev_path, const unsigned char *prev, int w, int h, const scene *now,
                           recipe *r)
{
    char *json = gs_media_png_text(prev_path, RECIPE_KEY);
    recipe pr;
    int have = json && recipe_decode(json, &pr) == 0;
    free(json);
    double amount = 0.22;
    if (have) {
        scene before;
        read_scene(pr.scene_text, &before);
        amount = before.place == now->place && before.when == now->when ? 0.12 : 0;
        recipe_free(&pr);
    }
    r->blend = amount;
    if (amount > 0)
        palette_bands(prev, w, h, r->bands);
    return 0;
}

/* Keys a figure out of a sheet without a recipe (a sheet made elsewhere). */
static int paste_sheet(canvas *c, const char *sheet_path, size_t i, size_t n, char *err, size_t errlen)
{
    double kcx, kbase, ks;
    keyframe_geometry(c->w, c->h, i, n, &kcx, &kbase, &ks);
    ellipse(c, kcx, kbase, 0.28 * ks, 0.035 * ks, 0, (rgb){0, 0, 0}, 0.28); /* ground shadow */
    int rw, rh;
    double scx, sbase;
    unsigned char *sheet = read_sheet(sheet_path, ks, &rw, &rh, &scx, &sbase, err, errlen);
    if (!sheet)
        return -1;
    int dx = (int)lround(kcx - scx), dy = (int)lround(kbase - sbase);
    for (int y = (int)fmax(0, sbase - ks); y < (int)fmin(rh, sbase + 1); y++)
        for (int x = (int)fmax(7, scx - 0.5 * ks); x < (int)fmin(rw - 4, scx + 0.5 * ks); x++)
            if (is_figure(sheet, rw, x, y)) {
                const unsigned char *q = sheet + ((size_t)y * rw + x) * 3;
                plot(c, x + dx, y + dy, (rgb){q[0], q[1], q[2]}, 1);
            }
    free(sheet);
    return 0;
}

/* A single-image edit (a fix): the picture as it is, its recipe kept. */
static int copy_keyframe(const char *ref, int w, int h, const char *out_path, char *err, size_t errlen)
{
    unsigned char *px = gs_media_read_rgb(ref, w, h, err, errlen);
    if (!px)
        return -1;
    char *recipe_json = gs_media_png_text(ref, RECIPE_KEY);
    int rc = gs_media_write_png_text(px, w, h, out_path, RECIPE_KEY, recipe_json, err, errlen);
    free(recipe_json);
    free(px);
    return rc;
}

/* Paints the keyframe from r: the first frame of its clip, without the camera. */
static int paint_keyframe(const recipe *r, int w, int h, canvas *c)
{
    stage st;
    if (stage_open(&st, r, w, h) != 0)
        return -1;
    stage_frame(&st, c, NULL, 0, 8, st.sc.motion, st.sc.camera);
    stage_close(&st);
    return 0;
}

static int local_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                            const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    (void)meter; /* the local renderer bills nothing */
    if (n_refs < 1 || n_refs > 3) {
        gs_seterr(err, errlen, "edit_image: 1 to 3 reference images expected, got %zu", n_refs);
        return -1;
    }
    int w = 0, h = 0;
    if (gs_media_png_size(refs[0], &w, &h) != 0) {
        gs_media_info info;
        if (gs_media_probe(refs[0], &info, err, errlen) != 0)
            return -1;
        w = info.width > 0 ? info.width : 1280;
        h = info.height > 0 ? info.height : 720;
    }
    int order[3], base_ref;
    size_t n_fig = classify_refs(prompt, n_refs, order, &base_ref);
    if (base_ref >= 0 && n_fig == 0)
        return copy_keyframe(refs[base_ref], w, h, out_path, err, errlen);
    recipe r;
    memset(&r, 0, sizeof r);
    canvas c = {w, h, NULL};
    unsigned char *prev = NULL;
    char *json = NULL;
    int rc = -1, whole = 1;
    /* The setting follows the scene's words only: a character described with
     * "dark eyes" must not turn a morning clearing into night. */
    if (!(r.scene_text = scene_words(prompt)) || canvas_init(&c, w, h) != 0) {
        gs_seterr(err, errlen, "edit_image: out of memory");
        goto done;
    }
    r.seed = hash_str(prompt, p->seed);
    scene now;
    read_scene(r.scene_text, &now);
    if (base_ref >= 0) {
        if (!(prev = gs_media_read_rgb(refs[base_ref], w, h, err, errlen)))
            goto done;
        carried_palette(refs[base_ref], prev, w, h, &now, &r);
    }
    for (size_t i = 0; i < n_fig; i++) {
        char *text = gs_media_png_text(refs[order[i]], FIGURE_KEY);
        if (text)
            r.fig_text[r.n_fig++] = text;
        else
            whole = 0;
    }
    if (whole) {
        if (paint_keyframe(&r, w, h, &c) != 0 || !(json = recipe_encode(&r))) {
            gs_seterr(err, errlen, "edit_image: out of memory");
            goto done;
        }
    } else {
        /* sheets made elsewhere: a still keyframe, keyed as before, animated as a still */
        paint_setting(&c, &now, r.seed);
        if (r.blend > 0)
            apply_bands(&c, r.bands, r.blend);
        paint_weather(&c, &now, r.seed, 0);
        for (size_t i = 0; i < n_fig; i++)
            if (paste_sheet(&c, refs[order[i]], i, n_fig, err, errlen) != 0)
                goto done;
    }
    rc = gs_media_write_png_text(c.px, w, h, out_path, RECIPE_KEY, json, err, errlen);
done:
    free(json);
    free(prev);
    free(c.px);
    recipe_free(&r);
    return rc;
}

/* ---- clips ---- */

static int video_size(const char *aspect, const char *resolution, int *w, int *h)
{
    int short_side = 720;
    if (resolution && strstr(resolution, "480"))
        short_side = 480;
    else if (resolution && strstr(resolution, "1080"))
        short_side = 1080;
    aspect_size(aspect, short_side, w, h);
    return 0;
}

static int word_count(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        int w = !isspace((unsigned char)*s);
        n += w && !in;
        in = w;
    }
    return n;
}

/* Speaks the narration to fit between 0.4 s and 0.6 s before the end. */
static int speak_narration(const char *text, double dur, const char *wav, double *secs, char *err, size_t errlen)
{
    double room = dur - 1.0;
    int words = word_count(text);
    int wpm = (int)ceil(words * 60.0 / (room > 1 ? room : 1) * 1.05);
    wpm = wpm < 165 ? 165 : wpm > 320 ? 320 : wpm;
    if (gs_media_speak(text, wpm, wav, secs, err, errlen) != 0)
        return -1;
    if (*secs > room + 0.2 && wpm < 400) {
        int faster = (int)ceil(wpm * *secs / room);
        return gs_media_speak(text, faster > 400 ? 400 : faster, wav, secs, err, errlen);
    }
    return 0;
}

typedef struct clip_job {
    stage st;
    canvas work;
    int motion, camera, still; /* still: a keyframe without a recipe */
    double dur;
} clip_job;

static int clip_frame(void *ud, int i, unsigned char *px, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    clip_job *j = ud;
    canvas out = {j->work.w, j->work.h, px};
    stage_frame(&j->st, &j->work, &out, i / 24.0, j->dur, j->still ? MO_IDLE : j->motion, j->camera);
    return 0;
}

/* The stage of a keyframe: its recipe painted again, else the picture as a still. */
static int open_stage(const char *image_path, int w, int h, clip_job *j, char *err, size_t errlen)
{
    char *json = gs_media_png_text(image_path, RECIPE_KEY);
    recipe r;
    int rc = -1;
    if (json && recipe_decode(json, &r) == 0) {
        rc = stage_open(&j->st, &r, w, h);
        recipe_free(&r);
        if (rc != 0)
            gs_seterr(err, errlen, "generate_video: out of memory");
    } else {
        memset(&j->st, 0, sizeof j->st);
        j->st.sc.place = PL_MEADOW;
        j->still = 1;
        j->st.still = (canvas){w, h, gs_media_read_rgb(image_path, w, h, err, errlen)};
        rc = j->st.still.px ? 0 : -1;
    }
    free(json);
    return rc;
}

static int render_clip(gs_provider *p, const char *prompt, const char *image_path, double duration_s, int w, int h,
                       const char *out_path, char *err, size_t errlen)
{
    clip_job j;
    memset(&j, 0, sizeof j);
    j.dur = duration_s;
    read_motion(prompt, &j.motion, &j.camera);
    char wav[4200] = "";
    double voice_secs = 0;
    int rc = -1;
    char *narration = narration_of(prompt);
    if (!narration) {
        gs_seterr(err, errlen, "generate_video: out of memory");
        return -1;
    }
    if (open_stage(image_path, w, h, &j, err, errlen) != 0)
        goto done;
    if (canvas_init(&j.work, w, h) != 0) {
        gs_seterr(err, errlen, "generate_video: out of memory");
        goto done;
    }
    if (*narration && !p->no_voice) {
        scratch_name(out_path, "voice", "wav", wav, sizeof wav);
        if (speak_narration(narration, duration_s, wav, &voice_secs, err, errlen) != 0)
            goto done;
    }
    double until = *wav ? fmin(duration_s - 0.5, 0.4 + voice_secs + 0.5) : duration_s - 0.6;
    gs_media_clip clip = {
        .width = w, .height = h, .frames = (int)(duration_s * 24.0 + 0.5), .frame = clip_frame, .ud = &j,
        .caption = narration, .caption_from = 0.25, .caption_to = until > 1.25 ? until : duration_s - 0.5,
        .mark = "preview", .voice = *wav ? wav : NULL, .voice_at = 0.4,
    };
    rc = gs_media_encode_clip(&clip, out_path, err, errlen);
done:
    if (*wav)
        unlink(wav);
    free(narration);
    free(j.work.px);
    stage_close(&j.st);
    return rc;
}

static int local_generate_video(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                                const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                                char *err, size_t errlen)
{
    (void)meter; /* the local renderer bills nothing */
    if (duration_s < 1 || duration_s > 15) {
        gs_seterr(err, errlen, "generate_video: duration must be 1..15 s, got %g", duration_s);
        return -1;
    }
    int w, h;
    video_size(aspect, resolution, &w, &h);
    return render_clip(p, prompt, image_path, duration_s, w, h, out_path, err, errlen);
}

/* A correction: the clip re-graded a little (more contrast, toward the colour
 * the prompt names), its motion, caption and voice kept. */
static int local_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                            gs_meter *meter, char *err, size_t errlen)
{
    (void)p;
    (void)meter; /* the local renderer bills nothing */
    gs_media_info info;
    if (gs_media_probe(video_path, &info, err, errlen) != 0)
        return -1;
    if (!info.has_video || info.width <= 0) {
        gs_seterr(err, errlen, "edit_video: %s has no video stream", video_path);
        return -1;
    }
    if (info.duration > 8.7) {
        gs_seterr(err, errlen, "edit_video: input is %.1f s, at most 8.7 s can be edited", info.duration);
        return -1;
    }
    tokens t;
    unsigned char tint[3] = {128, 128, 128};
    double amount = 0;
    if (tokenize(prompt, &t) == 0) {
        for (int i = 0; i < t.n && amount == 0; i++) {
            const struct colour *c = colour_word(t.w[i]);
            if (c) {
                tint[0] = c->c.r, tint[1] = c->c.g, tint[2] = c->c.b;
                amount = 0.1;
            }
        }
        free(t.buf);
    }
    return gs_media_grade(video_path, out_path, 1.06, tint, amount, err, errlen);
}

static int local_score_consistency(gs_provider *p, const char *image_path, const char *const refs[], size_t n_refs,
                                   const char *const descriptions[], const char *const names[], size_t n,
                                   gs_score *out, gs_meter *meter, char *err, size_t errlen)
{
    (void)p, (void)meter;
    return score_figures(image_path, refs, n_refs, descriptions, names, n, out, err, errlen);
}

static int local_max_concurrency(gs_provider *p)
{
    (void)p;
    return 2; /* ffmpeg already uses the cores; more only thrashes */
}

static void local_destroy(gs_provider *p)
{
    free(p);
}

static const gs_provider_ops local_ops = {
    .name = "local",
    .plan_story = NULL,
    .generate_image = local_generate_image,
    .edit_image = local_edit_image,
    .generate_video = local_generate_video,
    .edit_video = local_edit_video,
    .score_consistency = local_score_consistency,
    .max_concurrency = local_max_concurrency,
    .destroy = local_destroy,
    .lua_planner = "grokspicy.preview.planner",
};

int gs_provider_local_open(gs_provider **out, char *err, size_t errlen)
{
    local_provider *lp = calloc(1, sizeof *lp);
    if (!lp) {
        gs_seterr(err, errlen, "local provider: out of memory");
        *out = NULL;
        return -1;
    }
    lp->base.ops = &local_ops;
    *out = &lp->base;
    return 0;
}
