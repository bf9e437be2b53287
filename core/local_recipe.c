/*
 * local_recipe.c — what a local keyframe was painted from, kept in its own PNG:
 * the recipe as JSON, the PNG iTXt chunk that carries it (written after
 * ffmpeg's PNG, renamed into place whole), and the stage that paints a
 * recipe's frames again: the setting once, then per frame the weather, the
 * cast in its pose and the camera window. Files are read and written here;
 * painting is local_scene.c and local_figure.c.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_util.h"
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

/* ---- PNG iTXt ---- */

static uint32_t crc_table[256];
static atomic_int crc_ready;

static uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t c)
{
    if (!atomic_load(&crc_ready)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t k = i;
            for (int j = 0; j < 8; j++)
                k = k & 1 ? 0xedb88320u ^ (k >> 1) : k >> 1;
            crc_table[i] = k; /* the same values from any thread */
        }
        atomic_store(&crc_ready, 1);
    }
    c ^= 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void be32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static atomic_uint scratch_n;

int png_write_text(const unsigned char *px, int w, int h, const char *out, const char *key, const char *text,
                   char *err, size_t errlen)
{
    if (!text)
        return gs_media_write_png(px, w, h, out, err, errlen);
    char plain[4200], part[4200];
    unsigned n = atomic_fetch_add(&scratch_n, 1);
    snprintf(plain, sizeof plain, "%s.plain-%d-%u.png", out, (int)getpid(), n);
    snprintf(part, sizeof part, "%s.part-%d-%u.png", out, (int)getpid(), n);
    if (gs_media_write_png(px, w, h, plain, err, errlen) != 0)
        return -1;
    size_t len = 0;
    unsigned char *png = slurp(plain, &len);
    unlink(plain);
    if (!png || len < 33 || memcmp(png + 12, "IHDR", 4) != 0) {
        free(png);
        gs_seterr(err, errlen, "%s: ffmpeg wrote no PNG", out);
        return -1;
    }
    /* iTXt: keyword NUL, compression flag 0, method 0, language NUL, translated NUL, UTF-8 text */
    size_t klen = strlen(key), tlen = strlen(text), dlen = klen + 5 + tlen;
    unsigned char *chunk = malloc(dlen + 12);
    if (!chunk) {
        free(png);
        gs_seterr(err, errlen, "%s: out of memory", out);
        return -1;
    }
    be32(chunk, (uint32_t)dlen);
    memcpy(chunk + 4, "iTXt", 4);
    memcpy(chunk + 8, key, klen);
    memset(chunk + 8 + klen, 0, 5);
    memcpy(chunk + 8 + klen + 5, text, tlen);
    be32(chunk + 8 + dlen, crc32_of(chunk + 4, dlen + 4, 0));
    FILE *f = fopen(part, "wb");
    int ok = f && fwrite(png, 1, 33, f) == 33 && fwrite(chunk, 1, dlen + 12, f) == dlen + 12 &&
             fwrite(png + 33, 1, len - 33, f) == len - 33;
    int e = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    free(png);
    free(chunk);
    if (!ok || rename(part, out) != 0) {
        gs_seterr(err, errlen, "%s: %s", out, strerror(ok ? errno : e));
        unlink(part);
        return -1;
    }
    return 0;
}

char *png_read_text(const char *path, const char *key)
{
    size_t len = 0;
    unsigned char *png = slurp(path, &len);
    if (!png || len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0) {
        free(png);
        return NULL;
    }
    char *found = NULL;
    size_t klen = strlen(key);
    for (size_t off = 8; off + 12 <= len && !found;) {
        uint32_t n = rd32(png + off);
        if (n > len - off - 12)
            break;
        const unsigned char *type = png + off + 4, *data = png + off + 8;
        if (memcmp(type, "iTXt", 4) == 0 && n > klen + 5 && memcmp(data, key, klen) == 0 && data[klen] == 0 &&
            data[klen + 1] == 0) {
            /* skip the language tag and the translated keyword (NUL-terminated each) */
            size_t p = klen + 3;
            while (p < n && data[p])
                p++;
            p++;
            while (p < n && data[p])
                p++;
            p++;
            if (p <= n && (found = malloc(n - p + 1))) {
                memcpy(found, data + p, n - p);
                found[n - p] = '\0';
            }
        }
        if (memcmp(type, "IEND", 4) == 0)
            break;
        off += (size_t)n + 12;
    }
    free(png);
    return found;
}

int png_size(const char *path, int *w, int *h)
{
    unsigned char head[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n != sizeof head || memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(head + 12, "IHDR", 4) != 0)
        return -1;
    uint32_t pw = rd32(head + 16), ph = rd32(head + 20);
    if (pw < 1 || ph < 1 || pw > 16384 || ph > 16384)
        return -1;
    *w = (int)pw;
    *h = (int)ph;
    return 0;
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
