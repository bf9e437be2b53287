/*
 * local_recipe.c — what a local keyframe was painted from, kept in its own PNG
 * (grokspicy.media writes and reads the chunk): the recipe as JSON, and the
 * stage that paints a recipe's frames again: the setting once, then per frame
 * the weather, the cast in its pose and the camera window. Painting is
 * local_scene.c's and local_figure.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "local_draw.h"

/* ---- recipes ---- */

void recipe_free(recipe *r)
{
    free(r->scene_text);
    for (size_t i = 0; i < r->n_fig; i++)
        free(r->fig_text[i]);
    memset(r, 0, sizeof *r);
}

char *recipe_encode(const recipe *r)
{
    jw w = {0};
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    jw_begin_obj(&w);
    jw_key(&w, "v");
    jw_int(&w, 1);
    jw_key(&w, "scene");
    jw_str(&w, r->scene_text ? r->scene_text : "");
    jw_key(&w, "seed");
    jw_str(&w, seed);
    jw_key(&w, "blend");
    jw_num(&w, r->blend);
    jw_key(&w, "bands");
    jw_begin_arr(&w);
    for (int i = 0; i < 36; i++)
        jw_num(&w, r->bands[i]);
    jw_end_arr(&w);
    jw_key(&w, "figures");
    jw_begin_arr(&w);
    for (size_t i = 0; i < r->n_fig; i++)
        jw_str(&w, r->fig_text[i]);
    jw_end_arr(&w);
    jw_end_obj(&w);
    return jw_take(&w);
}

int recipe_decode(const char *json, recipe *r)
{
    memset(r, 0, sizeof *r);
    char err[128];
    jv *v = json ? json_parse(json, strlen(json), err, sizeof err) : NULL;
    if (!v)
        return -1;
    const jv *bands = json_get(v, "bands"), *figs = json_get(v, "figures");
    const char *words = json_str(v, "scene", NULL), *seed = json_str(v, "seed", NULL);
    int ok = json_num(v, "v", 0) == 1 && words && seed && bands && bands->t == JV_ARR && bands->len == 36 && figs &&
             figs->t == JV_ARR && figs->len <= MAX_STAGE_FIGURES;
    if (ok) {
        r->scene_text = strdup(words);
        r->seed = strtoull(seed, NULL, 10);
        r->blend = json_num(v, "blend", 0);
        for (int i = 0; i < 36; i++)
            r->bands[i] = bands->items[i].t == JV_NUM ? bands->items[i].n : 0;
        for (size_t i = 0; i < figs->len && ok; i++) {
            ok = figs->items[i].t == JV_STR && (r->fig_text[i] = strdup(figs->items[i].s)) != NULL;
            r->n_fig += ok;
        }
        ok = ok && r->scene_text;
    }
    json_free(v);
    if (!ok)
        recipe_free(r);
    return ok ? 0 : -1;
}

/* ---- stage: a recipe painted frame by frame ---- */

int stage_open(stage *st, const recipe *r, int w, int h)
{
    memset(st, 0, sizeof *st);
    read_scene(r->scene_text, &st->sc);
    st->seed = r->seed;
    if (canvas_init(&st->still, w, h) != 0)
        return -1;
    paint_setting(&st->still, &st->sc, st->seed);
    if (r->blend > 0)
        apply_bands(&st->still, r->bands, r->blend);
    st->n = r->n_fig;
    for (size_t i = 0; i < st->n; i++)
        figure_from_text(r->fig_text[i], &st->figs[i]);
    return 0;
}

void stage_close(stage *st)
{
    free(st->still.px);
    free(st->rows);
    free(st->taps);
    st->still.px = NULL;
    st->rows = NULL;
    st->taps = NULL;
}

/* Source row r of src resampled across into o (values scaled by 128). */
static void resample_row(const canvas *src, int r, const int *xa, const int *fx, uint16_t *o)
{
    const unsigned char *s = src->px + (size_t)r * src->w * 3;
    for (int x = 0; x < src->w; x++, o += 3) {
        const unsigned char *a = s + xa[x] * 3;
        unsigned f = (unsigned)fx[x], g = 256u - f;
        o[0] = (uint16_t)((a[0] * g + a[3] * f) >> 1);
        o[1] = (uint16_t)((a[1] * g + a[4] * f) >> 1);
        o[2] = (uint16_t)((a[2] * g + a[5] * f) >> 1);
    }
}

/*
 * Bilinear sample of src through the camera window into dst (same size), in
 * 8-bit fixed point and two passes: source rows are resampled across as the
 * output rows come to need them (two kept at a time, so it all stays in the
 * cache), then each output row blends its two. Scratch lives in the stage.
 */
static void camera_resample(stage *st, const canvas *src, canvas *dst, double zoom, double wcx, double wcy)
{
    int W = src->w, H = src->h;
    if (fabs(zoom - 1) < 1e-9 && fabs(wcx - W / 2.0) < 1e-6 && fabs(wcy - H / 2.0) < 1e-6) {
        memcpy(dst->px, src->px, (size_t)W * H * 3);
        return;
    }
    if (!st->rows) {
        st->rows = malloc(sizeof(uint16_t) * (size_t)W * 3 * 2);
        st->taps = malloc(sizeof(int) * (size_t)W * 2);
        if (!st->rows || !st->taps) {
            free(st->rows);
            free(st->taps);
            st->rows = NULL;
            st->taps = NULL;
            memcpy(dst->px, src->px, (size_t)W * H * 3);
            return;
        }
    }
    int *xa = st->taps, *fx = xa + W;
    for (int x = 0; x < W; x++) {
        double sx = wcx + (x + 0.5 - W / 2.0) / zoom - 0.5;
        int x0 = (int)floor(sx);
        fx[x] = (int)((sx - x0) * 256);
        xa[x] = x0 < 0 ? 0 : x0 >= W - 1 ? W - 2 : x0;
        if (x0 < 0 || x0 >= W - 1)
            fx[x] = x0 < 0 ? 0 : 256;
    }
    uint16_t *ra = st->rows, *rb = ra + (size_t)W * 3;
    int have = -2; /* ra holds source row have, rb row have + 1 */
    for (int y = 0; y < H; y++) {
        double sy = wcy + (y + 0.5 - H / 2.0) / zoom - 0.5;
        int y0 = (int)floor(sy), fyi = (int)((sy - y0) * 256);
        if (y0 < 0)
            y0 = 0, fyi = 0;
        if (y0 >= H - 1)
            y0 = H - 2, fyi = 256;
        if (y0 == have + 1) { /* the next pair shares a row with this one */
            uint16_t *t = ra;
            ra = rb;
            rb = t;
            resample_row(src, y0 + 1, xa, fx, rb);
        } else if (y0 != have) {
            resample_row(src, y0, xa, fx, ra);
            resample_row(src, y0 + 1, xa, fx, rb);
        }
        have = y0;
        unsigned fy = (unsigned)fyi, gy = 256u - fy;
        unsigned char *o = dst->px + (size_t)y * W * 3;
        for (int i = 0; i < W * 3; i++)
            o[i] = (unsigned char)((ra[i] * gy + rb[i] * fy) >> 15);
    }
}

void stage_frame(stage *st, canvas *work, canvas *out, double t, double dur, int motion, int camera)
{
    int W = work->w, H = work->h;
    memcpy(work->px, st->still.px, (size_t)W * H * 3);
    paint_weather(work, &st->sc, st->seed, t);
    double follow = 0;
    for (size_t i = 0; i < st->n; i++) {
        double cx, base, s;
        keyframe_geometry(W, H, i, st->n, &cx, &base, &s);
        pose p;
        motion_pose(motion, i, st->n, t, dur, &p);
        cx += motion_offset(motion, i, st->n, t, dur) * W;
        follow += cx / (double)st->n;
        double shadow = 0.28 * (1 - fmin(0.8, p.lift * 4));
        ellipse(work, cx, base, 0.28 * s * (1 - p.lift), 0.035 * s, 0, (rgb){0, 0, 0}, shadow);
        draw_figure(work, &st->figs[i], cx, base, s, &p);
    }
    if (!out)
        return;
    double zoom, wcx, wcy;
    camera_window(camera, motion, t, dur, W, H, st->n ? follow : W / 2.0, &zoom, &wcx, &wcy);
    camera_resample(st, work, out, zoom, wcx, wcy);
}
