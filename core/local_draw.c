/*
 * local_draw.c — the local renderer's drawing primitives: deterministic
 * randomness, words split into tokens, the colour words, anti-aliased shapes on
 * an RGB canvas, and the palette bands that carry light from one keyframe to the
 * next. Pure computation: no files, no processes, no globals that change, so
 * any thread may call it.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_draw.h"

/* ---- deterministic randomness ---- */

uint64_t hash_str(const char *s, uint64_t h)
{
    h ^= 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

uint64_t rng_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rng_unit(uint64_t *st)
{
    return (double)(rng_next(st) >> 11) / 9007199254740992.0;
}

/* ---- words ---- */

const struct colour colours[] = {
    {"red", {200, 48, 40}, CF_RED},          {"crimson", {175, 25, 50}, CF_RED},
    {"scarlet", {222, 40, 32}, CF_RED},      {"rust", {183, 65, 20}, CF_RED},
    {"maroon", {120, 30, 40}, CF_RED},       {"orange", {232, 122, 30}, CF_ORANGE},
    {"ginger", {212, 110, 45}, CF_ORANGE},   {"copper", {184, 110, 60}, CF_ORANGE},
    {"amber", {250, 172, 10}, CF_YELLOW},    {"yellow", {238, 208, 45}, CF_YELLOW},
    {"gold", {212, 170, 45}, CF_YELLOW},     {"golden", {215, 168, 50}, CF_YELLOW},
    {"mustard", {205, 165, 40}, CF_YELLOW},  {"green", {60, 160, 72}, CF_GREEN},
    {"emerald", {25, 150, 95}, CF_GREEN},    {"olive", {118, 128, 45}, CF_GREEN},
    {"mint", {150, 220, 180}, CF_GREEN},     {"lime", {150, 210, 60}, CF_GREEN},
    {"teal", {25, 135, 140}, CF_BLUE},       {"turquoise", {60, 195, 190}, CF_BLUE},
    {"blue", {50, 100, 212}, CF_BLUE},       {"navy", {30, 42, 110}, CF_BLUE},
    {"azure", {70, 150, 230}, CF_BLUE},      {"denim", {70, 100, 150}, CF_BLUE},
    {"purple", {128, 60, 172}, CF_PURPLE},   {"violet", {150, 92, 205}, CF_PURPLE},
    {"lavender", {182, 160, 222}, CF_PURPLE}, {"pink", {240, 130, 172}, CF_PINK},
    {"magenta", {205, 40, 150}, CF_PINK},    {"brown", {125, 80, 45}, CF_BROWN},
    {"chestnut", {150, 75, 40}, CF_BROWN},   {"tawny", {200, 140, 78}, CF_BROWN},
    {"tan", {210, 178, 135}, CF_BROWN},      {"cream", {244, 230, 198}, CF_WHITE},
    {"beige", {225, 208, 175}, CF_BROWN},    {"khaki", {190, 175, 120}, CF_BROWN},
    {"grey", {135, 136, 142}, CF_GREY},      {"gray", {135, 136, 142}, CF_GREY},
    {"silver", {192, 195, 202}, CF_GREY},    {"charcoal", {62, 62, 68}, CF_GREY},
    {"black", {36, 36, 42}, CF_BLACK},       {"white", {245, 245, 242}, CF_WHITE},
    {"ivory", {250, 244, 225}, CF_WHITE},    {"blonde", {232, 200, 120}, CF_YELLOW},
    {"blond", {232, 200, 120}, CF_YELLOW},   {"auburn", {150, 60, 35}, CF_RED},
};
const size_t n_colours = sizeof colours / sizeof colours[0];

int tokenize(const char *text, tokens *t)
{
    size_t len = strlen(text);
    t->n = 0;
    t->buf = malloc(len * 2 + 2);
    if (!t->buf)
        return -1;
    char *o = t->buf;
    for (const char *p = text; *p && t->n < MAX_TOKENS;) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || ((c == '-' || c == '\'') && o != t->buf && isalnum((unsigned char)p[1]))) {
            t->w[t->n++] = o;
            while (*p && (isalnum((unsigned char)*p) || ((*p == '-' || *p == '\'') && isalnum((unsigned char)p[1]))))
                *o++ = (char)tolower((unsigned char)*p++);
            *o++ = '\0';
        } else {
            if (c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?') {
                t->w[t->n++] = o;
                *o++ = ',';
                *o++ = '\0';
            }
            p++;
        }
    }
    return 0;
}

int tok_is(const tokens *t, int i, const char *w)
{
    return i >= 0 && i < t->n && strcmp(t->w[i], w) == 0;
}

int tok_any(const tokens *t, int i, const char *const *ws)
{
    for (; *ws; ws++)
        if (tok_is(t, i, *ws))
            return 1;
    return 0;
}

int contains_any(const tokens *t, const char *const *ws)
{
    for (int i = 0; i < t->n; i++)
        if (tok_any(t, i, ws))
            return 1;
    return 0;
}

const struct colour *colour_word(const char *w)
{
    for (size_t i = 0; i < n_colours; i++)
        if (strcmp(colours[i].word, w) == 0)
            return &colours[i];
    return NULL;
}

const char *colour_name(rgb c)
{
    static const struct {
        const char *name;
        rgb c;
    } basic[] = {
        {"red", {200, 48, 40}},     {"orange", {232, 122, 30}}, {"amber", {250, 172, 10}},
        {"yellow", {238, 208, 45}}, {"green", {60, 160, 72}},   {"teal", {25, 135, 140}},
        {"blue", {50, 100, 212}},   {"navy", {30, 42, 110}},    {"purple", {128, 60, 172}},
        {"pink", {240, 130, 172}},  {"brown", {125, 80, 45}},   {"tan", {210, 178, 135}},
        {"cream", {244, 230, 198}}, {"grey", {135, 136, 142}},  {"silver", {192, 195, 202}},
        {"black", {36, 36, 42}},    {"white", {245, 245, 242}},
    };
    int best = 0;
    double bd = 1e18;
    for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++) {
        double dr = c.r - basic[i].c.r, dg = c.g - basic[i].c.g, db = c.b - basic[i].c.b;
        double d = 2 * dr * dr + 4 * dg * dg + 3 * db * db;
        if (d < bd) {
            bd = d;
            best = (int)i;
        }
    }
    return basic[best].name;
}

/* ---- canvas ---- */

int canvas_init(canvas *c, int w, int h)
{
    c->w = w;
    c->h = h;
    c->px = calloc((size_t)w * (size_t)h, 3);
    return c->px ? 0 : -1;
}

rgb shade(rgb c, double k)
{
    double r = c.r * k, g = c.g * k, b = c.b * k;
    return (rgb){(unsigned char)(r > 255 ? 255 : r), (unsigned char)(g > 255 ? 255 : g),
                 (unsigned char)(b > 255 ? 255 : b)};
}

rgb mix(rgb a, rgb b, double t)
{
    return (rgb){(unsigned char)(a.r + (b.r - a.r) * t), (unsigned char)(a.g + (b.g - a.g) * t),
                 (unsigned char)(a.b + (b.b - a.b) * t)};
}

static inline void blend_px(unsigned char *p, rgb col, double a)
{
    if (a >= 1) {
        p[0] = col.r;
        p[1] = col.g;
        p[2] = col.b;
        return;
    }
    p[0] = (unsigned char)(p[0] + (col.r - p[0]) * a);
    p[1] = (unsigned char)(p[1] + (col.g - p[1]) * a);
    p[2] = (unsigned char)(p[2] + (col.b - p[2]) * a);
}

void plot(canvas *c, int x, int y, rgb col, double a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0)
        return;
    blend_px(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, col, a);
}

/* The dx interval where a*dx^2 + b*dx + c <= 0; 0 when there is none. */
static int span(double a, double b, double c, double *lo, double *hi)
{
    double disc = b * b - 4 * a * c;
    if (disc < 0)
        return 0;
    double r = sqrt(disc);
    *lo = (-b - r) / (2 * a);
    *hi = (-b + r) / (2 * a);
    return 1;
}

/* A filled ellipse rotated by ang radians, anti-aliased over about one pixel.
 * Each row is solved for where the rim lies: inside it the coverage is whole
 * and only the rim's pixels need a square root. */
void ellipse(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double alpha)
{
    if (rx <= 0 || ry <= 0 || alpha <= 0)
        return;
    double R = (rx > ry ? rx : ry) + 2, ca = cos(ang), sa = sin(ang), m = rx < ry ? rx : ry;
    int y0 = (int)floor(cy - R), y1 = (int)ceil(cy + R);
    if (y0 < 0)
        y0 = 0;
    if (y1 >= c->h)
        y1 = c->h - 1;
    double irx2 = 1 / (rx * rx), iry2 = 1 / (ry * ry);
    double outer = (1 + 1.5 / m) * (1 + 1.5 / m), inner = m > 1.5 ? (1 - 0.5 / m) * (1 - 0.5 / m) : 0;
    double A = ca * ca * irx2 + sa * sa * iry2, Bk = 2 * ca * sa * (irx2 - iry2), Ck = sa * sa * irx2 + ca * ca * iry2;
    for (int y = y0; y <= y1; y++) {
        double dy = y + 0.5 - cy, B = Bk * dy, C = Ck * dy * dy, olo, ohi, ilo = 1, ihi = 0;
        if (!span(A, B, C - outer, &olo, &ohi))
            continue;
        if (inner > 0 && !span(A, B, C - inner, &ilo, &ihi))
            ilo = 1, ihi = 0;
        int xa = (int)floor(cx + olo - 0.5), xb = (int)ceil(cx + ohi - 0.5);
        if (xa < 0)
            xa = 0;
        if (xb >= c->w)
            xb = c->w - 1;
        unsigned char *row = c->px + (size_t)y * c->w * 3;
        for (int x = xa; x <= xb; x++) {
            double dx = x + 0.5 - cx;
            double cov;
            if (dx >= ilo && dx <= ihi) {
                cov = 1;
            } else {
                double q = A * dx * dx + B * dx + C;
                if (q >= outer)
                    continue;
                cov = q <= inner ? 1 : 0.5 - (sqrt(q) - 1) * m;
            }
            if (cov > 0)
                blend_px(row + x * 3, col, (cov > 1 ? 1 : cov) * alpha);
        }
    }
}

void circle(canvas *c, double cx, double cy, double r, rgb col)
{
    ellipse(c, cx, cy, r, r, 0, col, 1);
}

/* Ellipse with a darker rim, the storybook outline. */
void blob(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double s)
{
    double o = s * 0.012 + 1;
    ellipse(c, cx, cy, rx + o, ry + o, ang, shade(col, 0.45), 1);
    ellipse(c, cx, cy, rx, ry, ang, col, 1);
}

/*
 * A convex polygon (n <= 4 corners in order) by scanlines: each row is sampled
 * at four heights and each pixel covered by the share of its width inside, so
 * edges are smooth without a distance per pixel.
 */
static void polygon(canvas *c, const double *xs, const double *ys, int n, rgb col, double alpha)
{
    double miny = ys[0], maxy = ys[0];
    for (int i = 1; i < n; i++) {
        miny = fmin(miny, ys[i]);
        maxy = fmax(maxy, ys[i]);
    }
    int y0 = (int)fmax(0, floor(miny)), y1 = (int)fmin(c->h - 1, ceil(maxy));
    double *cov = NULL;
    int cov_n = 0;
    for (int y = y0; y <= y1; y++) {
        double l[4], r[4], lmin = 1e18, rmax = -1e18;
        int any = 0;
        for (int k = 0; k < 4; k++) {
            double sy = y + 0.125 + 0.25 * k, lo = 1e18, hi = -1e18;
            for (int e = 0; e < n; e++) {
                double ax = xs[e], ay = ys[e], bx = xs[(e + 1) % n], by = ys[(e + 1) % n];
                if ((sy < ay && sy < by) || (sy > ay && sy > by) || ay == by)
                    continue;
                double x = ax + (sy - ay) / (by - ay) * (bx - ax);
                lo = fmin(lo, x);
                hi = fmax(hi, x);
            }
            l[k] = lo;
            r[k] = hi;
            if (hi > lo) {
                any = 1;
                lmin = fmin(lmin, lo);
                rmax = fmax(rmax, hi);
            }
        }
        if (!any)
            continue;
        int xa = (int)fmax(0, floor(lmin)), xb = (int)fmin(c->w - 1, ceil(rmax));
        if (xb < xa)
            continue;
        if (xb - xa + 1 > cov_n) {
            double *nc = realloc(cov, sizeof *nc * (size_t)(xb - xa + 1));
            if (!nc)
                break;
            cov = nc;
            cov_n = xb - xa + 1;
        }
        for (int x = xa; x <= xb; x++)
            cov[x - xa] = 0;
        for (int k = 0; k < 4; k++) {
            if (r[k] <= l[k])
                continue;
            double lo = l[k] < xa ? xa : l[k], hi = r[k] > xb + 1 ? xb + 1 : r[k];
            if (hi <= lo)
                continue; /* off the canvas */
            int fa = (int)lo, fb = (int)hi;
            if (fa == fb) {
                cov[fa - xa] += (hi - lo) * 0.25;
                continue;
            }
            cov[fa - xa] += (fa + 1 - lo) * 0.25;
            for (int x = fa + 1; x < fb; x++)
                cov[x - xa] += 0.25;
            if (fb <= xb)
                cov[fb - xa] += (hi - fb) * 0.25;
        }
        unsigned char *row = c->px + (size_t)y * c->w * 3;
        for (int x = xa; x <= xb; x++)
            if (cov[x - xa] > 0.002)
                blend_px(row + x * 3, col, (cov[x - xa] > 1 ? 1 : cov[x - xa]) * alpha);
    }
    free(cov);
}

void triangle(canvas *c, double ax, double ay, double bx, double by, double qx, double qy, rgb col)
{
    double xs[3] = {ax, bx, qx}, ys[3] = {ay, by, qy};
    polygon(c, xs, ys, 3, col, 1);
}

void quad(canvas *c, const double xs[4], const double ys[4], rgb col, double alpha)
{
    polygon(c, xs, ys, 4, col, alpha);
}

void line_seg(canvas *c, double x0, double y0, double x1, double y1, double width, rgb col, double alpha)
{
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy, r = width / 2;
    if (len2 < 1e-12) {
        ellipse(c, x0, y0, r, r, 0, col, alpha);
        return;
    }
    int xa = (int)fmax(0, floor(fmin(x0, x1) - r - 1)), xb = (int)fmin(c->w - 1, ceil(fmax(x0, x1) + r + 1));
    int ya = (int)fmax(0, floor(fmin(y0, y1) - r - 1)), yb = (int)fmin(c->h - 1, ceil(fmax(y0, y1) + r + 1));
    double reach = (r + 0.5) * (r + 0.5), solid = r > 0.5 ? (r - 0.5) * (r - 0.5) : -1;
    for (int y = ya; y <= yb; y++) {
        unsigned char *row = c->px + (size_t)y * c->w * 3;
        double py = y + 0.5 - y0;
        for (int x = xa; x <= xb; x++) {
            double px = x + 0.5 - x0;
            double u = (px * dx + py * dy) / len2;
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            double ex = px - u * dx, ey = py - u * dy, d2 = ex * ex + ey * ey;
            if (d2 >= reach)
                continue;
            double cov = d2 <= solid ? 1 : r - sqrt(d2) + 0.5;
            if (cov > 0)
                blend_px(row + x * 3, col, (cov > 1 ? 1 : cov) * alpha);
        }
    }
}

void rect(canvas *c, double x0, double y0, double x1, double y1, rgb col, double alpha)
{
    for (int y = (int)fmax(0, y0); y < (int)fmin(c->h, y1); y++)
        for (int x = (int)fmax(0, x0); x < (int)fmin(c->w, x1); x++)
            plot(c, x, y, col, alpha);
}

void vgradient(canvas *c, int y0, int y1, rgb top, rgb bottom)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++) {
        rgb col = mix(top, bottom, (double)(y - y0) / (y1 - y0 > 1 ? y1 - y0 - 1 : 1));
        unsigned char *row = c->px + (size_t)y * c->w * 3;
        for (int x = 0; x < c->w; x++) {
            row[x * 3] = col.r;
            row[x * 3 + 1] = col.g;
            row[x * 3 + 2] = col.b;
        }
    }
}

/* ---- palette carried between keyframes ---- */

enum { BANDS = 12 };

/* The mean colour of each of 12 full-width row bands: no ghosts of old figures. */
void palette_bands(const unsigned char *px, int w, int h, double bands[36])
{
    double sum[BANDS][3] = {{0}};
    long cnt[BANDS] = {0};
    for (int y = 0; y < h; y++) {
        int b = y * BANDS / h;
        const unsigned char *row = px + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                sum[b][k] += row[x * 3 + k];
        cnt[b] += w;
    }
    for (int b = 0; b < BANDS; b++)
        for (int k = 0; k < 3; k++)
            bands[b * 3 + k] = cnt[b] ? sum[b][k] / (double)cnt[b] : 0;
}

void apply_bands(canvas *c, const double bands[36], double amount)
{
    for (int y = 0; y < c->h; y++) {
        const double *g = bands + (y * BANDS / c->h) * 3;
        unsigned char *row = c->px + (size_t)y * c->w * 3;
        for (int x = 0; x < c->w; x++)
            for (int k = 0; k < 3; k++)
                row[x * 3 + k] = (unsigned char)(row[x * 3 + k] * (1 - amount) + g[k] * amount);
    }
}

/* ---- keying figures back out of portraits ---- */

/* 1 where the pixel differs from its row's backdrop (sampled at both edges). */
int is_figure(const unsigned char *px, int w, int x, int y)
{
    const unsigned char *row = px + (size_t)y * w * 3, *l = row + 6, *r = row + (size_t)(w - 3) * 3;
    const unsigned char *p = row + (size_t)x * 3;
    int d = 0;
    for (int k = 0; k < 3; k++) {
        int bg = (l[k] + r[k]) / 2;
        d += abs(p[k] - bg);
    }
    return d > 48;
}
