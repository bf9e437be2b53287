/*
 * local_scene.c — the local renderer's settings: painting a scene (read by
 * local_read.c) as the sky or the back wall, the ground, the landmarks (a lighthouse, a
 * skyline, shelves of books, a kitchen counter, a moon over the stars ...), and
 * what moves over time (rain, snow, waves, the lighthouse beam, drifting
 * clouds, lightning). Pure computation, safe from any thread.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_draw.h"

#define LM(x) (1ull << (x))

enum { G_GRASS, G_SAND, G_SNOW, G_STREET, G_ROCK, G_LUNAR, G_FLOOR, G_TILE, G_DIRT, G_SHORE, G_SEABED, G_CLOUD,
       G_QUAY };

static const struct place_def {
    int indoor, ground;
    uint64_t landmarks;
    int default_time; /* -1: follows the words, else TIME_* */
} places[PL_N] = {
    [PL_MEADOW] = {0, G_GRASS, LM(LM_HILLS) | LM(LM_FLOWERS), -1},
    [PL_FOREST] = {0, G_GRASS, LM(LM_TREES), -1},
    [PL_JUNGLE] = {0, G_GRASS, LM(LM_TREES), -1},
    [PL_CITY] = {0, G_STREET, LM(LM_SKYLINE) | LM(LM_LAMPPOST), -1},
    [PL_STREET] = {0, G_STREET, LM(LM_SKYLINE) | LM(LM_LAMPPOST), -1},
    [PL_BEACH] = {0, G_SAND, LM(LM_WAVES), -1},
    [PL_SEA] = {0, G_SHORE, LM(LM_WAVES) | LM(LM_BOAT), -1},
    [PL_HARBOUR] = {0, G_QUAY, LM(LM_WAVES) | LM(LM_BOAT) | LM(LM_PIER), -1},
    [PL_COAST] = {0, G_ROCK, LM(LM_WAVES) | LM(LM_ROCKS), -1},
    [PL_ISLAND] = {0, G_SAND, LM(LM_WAVES) | LM(LM_TREES), -1},
    [PL_DESERT] = {0, G_SAND, LM(LM_CACTUS) | LM(LM_HILLS), -1},
    [PL_MOUNTAINS] = {0, G_GRASS, LM(LM_PEAKS), -1},
    [PL_SNOWFIELD] = {0, G_SNOW, LM(LM_PEAKS), -1},
    [PL_SPACE] = {0, G_LUNAR, LM(LM_PLANET) | LM(LM_STARS), TIME_NIGHT},
    [PL_MOON] = {0, G_LUNAR, LM(LM_EARTH) | LM(LM_STARS), TIME_NIGHT},
    [PL_GARDEN] = {0, G_GRASS, LM(LM_FLOWERS) | LM(LM_FENCE), -1},
    [PL_FARM] = {0, G_DIRT, LM(LM_BARN) | LM(LM_FENCE), -1},
    [PL_RIVER] = {0, G_GRASS, LM(LM_WAVES) | LM(LM_TREES), -1},
    [PL_LAKE] = {0, G_GRASS, LM(LM_WAVES) | LM(LM_HILLS), -1},
    [PL_PARK] = {0, G_GRASS, LM(LM_TREES) | LM(LM_BENCH) | LM(LM_LAMPPOST), -1},
    [PL_UNDERWATER] = {0, G_SEABED, LM(LM_SEAWEED), -1},
    [PL_MARKET] = {0, G_STREET, LM(LM_STALLS), -1},
    [PL_SKY] = {0, G_CLOUD, 0, -1},
    [PL_CAMPSITE] = {0, G_GRASS, LM(LM_TENT) | LM(LM_CAMPFIRE) | LM(LM_TREES), -1},
    [PL_LIBRARY] = {1, G_FLOOR, LM(LM_SHELVES) | LM(LM_WINDOW), -1},
    [PL_KITCHEN] = {1, G_TILE, LM(LM_COUNTER) | LM(LM_WINDOW), -1},
    [PL_HOME] = {1, G_FLOOR, LM(LM_WINDOW) | LM(LM_TABLE), -1},
    [PL_CLASSROOM] = {1, G_FLOOR, LM(LM_BLACKBOARD) | LM(LM_WINDOW), -1},
    [PL_CASTLE] = {0, G_GRASS, LM(LM_CASTLE) | LM(LM_HILLS), -1},
    [PL_CAVE] = {1, G_ROCK, LM(LM_ROCKS), -1},
    [PL_STAGE] = {1, G_FLOOR, LM(LM_CURTAINS), -1},
    [PL_WORKSHOP] = {1, G_FLOOR, LM(LM_WORKBENCH) | LM(LM_WINDOW), -1},
    [PL_CAFE] = {1, G_TILE, LM(LM_TABLE) | LM(LM_WINDOW) | LM(LM_COUNTER), -1},
    [PL_SHOP] = {1, G_FLOOR, LM(LM_SHELVES) | LM(LM_COUNTER) | LM(LM_WINDOW), -1},
};

/* What a place draws anyway and its time of day when the words name none. */
void place_defaults(int place, uint64_t *landmarks, int *default_time)
{
    *landmarks = places[place].landmarks;
    *default_time = places[place].default_time;
}

/* ---- painting ---- */

typedef struct light {
    rgb sky_top, sky_low, ground;
    double dim, hz;
} light;

static int has(const scene *s, int lm)
{
    return (s->landmarks & LM(lm)) != 0;
}

static int wx(const scene *s, int w)
{
    return (s->weather & W_FLAG(w)) != 0;
}

static rgb ground_colour(const scene *s)
{
    switch (places[s->place].ground) {
    case G_SAND: return s->place == PL_DESERT ? (rgb){222, 182, 112} : (rgb){232, 212, 165};
    case G_SHORE: return (rgb){225, 205, 160};
    case G_SNOW: return (rgb){236, 240, 248};
    case G_STREET: return (rgb){112, 112, 120};
    case G_QUAY: return (rgb){150, 140, 130};
    case G_ROCK: return s->place == PL_CAVE ? (rgb){90, 80, 78} : (rgb){120, 115, 110};
    case G_LUNAR: return (rgb){150, 148, 155};
    case G_FLOOR: return s->place == PL_STAGE ? (rgb){150, 100, 60} : (rgb){135, 92, 58};
    case G_TILE: return (rgb){205, 200, 190};
    case G_DIRT: return (rgb){150, 165, 80};
    case G_SEABED: return (rgb){210, 195, 150};
    case G_CLOUD: return (rgb){245, 246, 252};
    default:
        if (s->place == PL_JUNGLE)
            return (rgb){50, 120, 50};
        return s->autumn ? (rgb){170, 140, 60} : s->place == PL_FOREST ? (rgb){70, 125, 55} : (rgb){100, 165, 72};
    }
}

static light light_of(const scene *s, int H)
{
    light L;
    L.hz = 0.62 * H;
    switch (s->when) {
    case TIME_NIGHT: L.sky_top = (rgb){10, 14, 42}; L.sky_low = (rgb){38, 48, 96}; L.dim = 0.45; break;
    case TIME_DUSK: L.sky_top = (rgb){110, 70, 140}; L.sky_low = (rgb){250, 145, 90}; L.dim = 0.75; break;
    case TIME_DAWN: L.sky_top = (rgb){160, 170, 220}; L.sky_low = (rgb){252, 205, 175}; L.dim = 0.9; break;
    default: L.sky_top = (rgb){105, 170, 232}; L.sky_low = (rgb){205, 228, 246}; L.dim = 1.0; break;
    }
    if (wx(s, WX_STORM)) {
        L.sky_top = shade((rgb){60, 64, 78}, s->when == TIME_NIGHT ? 0.45 : 1);
        L.sky_low = shade((rgb){110, 115, 128}, s->when == TIME_NIGHT ? 0.5 : 1);
        L.dim *= 0.75;
    } else if (wx(s, WX_RAIN) || wx(s, WX_FOG) || wx(s, WX_SNOW)) {
        L.sky_top = mix(L.sky_top, (rgb){150, 155, 165}, 0.55);
        L.sky_low = mix(L.sky_low, (rgb){200, 202, 208}, 0.5);
        L.dim *= 0.9;
    }
    if (s->place == PL_SPACE || s->place == PL_MOON) {
        L.sky_top = (rgb){4, 4, 14};
        L.sky_low = (rgb){20, 18, 44};
    } else if (s->place == PL_UNDERWATER) {
        L.sky_top = shade((rgb){40, 130, 180}, L.dim);
        L.sky_low = shade((rgb){20, 70, 120}, L.dim);
        L.hz = 0.75 * H;
    } else if (s->place == PL_SKY) {
        L.hz = 0.7 * H;
    }
    L.ground = ground_colour(s);
    if (wx(s, WX_SNOW) && !places[s->place].indoor && places[s->place].ground != G_SEABED)
        L.ground = mix(L.ground, (rgb){240, 244, 250}, 0.8);
    return L;
}

static rgb dimmed(rgb c, const light *L)
{
    return shade(c, L->dim);
}

/* ---- landmarks ---- */

static void paint_lighthouse(canvas *c, const light *L, double x, double scale)
{
    int H = c->h;
    double base = L->hz + 0.02 * H, top = base - 0.5 * H * scale, w0 = 0.05 * H * scale, w1 = 0.032 * H * scale;
    rgb wall = dimmed((rgb){240, 238, 230}, L), stripe = dimmed((rgb){200, 45, 45}, L);
    double xs[4] = {x - w1, x + w1, x + w0, x - w0}, ys[4] = {top, top, base, base};
    quad(c, xs, ys, wall, 1);
    for (int i = 0; i < 3; i++) {
        double y0 = top + (0.15 + 0.28 * i) * (base - top), y1 = y0 + 0.12 * (base - top);
        double f0 = (y0 - top) / (base - top), f1 = (y1 - top) / (base - top);
        double a0 = w1 + (w0 - w1) * f0, a1 = w1 + (w0 - w1) * f1;
        double sx[4] = {x - a0, x + a0, x + a1, x - a1}, sy[4] = {y0, y0, y1, y1};
        quad(c, sx, sy, stripe, 1);
    }
    rect(c, x - w1 * 1.3, top - 0.008 * H, x + w1 * 1.3, top, dimmed((rgb){60, 60, 70}, L), 1);
    rect(c, x - w1 * 0.8, top - 0.055 * H * scale, x + w1 * 0.8, top - 0.008 * H, (rgb){255, 236, 140}, 1);
    triangle(c, x - w1 * 1.1, top - 0.055 * H * scale, x + w1 * 1.1, top - 0.055 * H * scale, x,
             top - 0.09 * H * scale, dimmed((rgb){160, 40, 40}, L));
    rect(c, x - 0.008 * H, base - 0.05 * H * scale, x + 0.008 * H, base, dimmed((rgb){90, 60, 40}, L), 1);
}

static void paint_trees(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h, n = s->place == PL_FOREST || s->place == PL_JUNGLE ? 14 : 5;
    int palms = places[s->place].ground == G_SAND || s->place == PL_ISLAND;
    for (int i = 0; i < n; i++) {
        double x = rng_unit(rs) * W, th = (0.18 + 0.12 * rng_unit(rs)) * H, tw = 0.018 * W;
        if (n < 10) /* a few trees: at the sides, clear of the cast */
            x = (i % 2 ? 0.04 + 0.1 * rng_unit(rs) : 0.86 + 0.1 * rng_unit(rs)) * W;
        double fy = L->hz + rng_unit(rs) * 0.08 * H;
        rgb trunk = dimmed((rgb){95, 62, 38}, L), leaf;
        if (s->autumn) {
            static const rgb fall[] = {{205, 90, 30}, {225, 150, 40}, {175, 55, 35}, {200, 170, 60}};
            leaf = fall[rng_next(rs) % 4];
        } else if (wx(s, WX_SNOW)) {
            leaf = mix((rgb){60, 110, 70}, (rgb){240, 244, 250}, 0.5);
        } else {
            leaf = mix((rgb){40, 120, 50}, (rgb){80, 150, 60}, rng_unit(rs));
        }
        if (palms) {
            line_seg(c, x, fy, x + 0.02 * W, fy - th * 1.1, tw * 0.8, trunk, 1);
            for (int k = 0; k < 5; k++)
                ellipse(c, x + 0.02 * W + cos(k * 1.26) * 0.04 * W, fy - th * 1.1 + sin(k * 1.26) * 0.015 * H,
                        0.05 * W, 0.015 * H, k * 1.26, dimmed((rgb){50, 140, 60}, L), 1);
            continue;
        }
        rect(c, x - tw / 2, fy - th, x + tw / 2, fy, trunk, 1);
        ellipse(c, x, fy - th, 0.06 * W, 0.13 * H, 0, dimmed(leaf, L), 1);
        ellipse(c, x - 0.03 * W, fy - th + 0.05 * H, 0.045 * W, 0.09 * H, 0, shade(dimmed(leaf, L), 0.85), 1);
    }
}

static void paint_skyline(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h;
    for (double x = 0; x < W;) {
        double bw = (0.06 + 0.07 * rng_unit(rs)) * W, bh = (0.2 + 0.3 * rng_unit(rs)) * H;
        rgb wall = dimmed(mix((rgb){120, 110, 120}, (rgb){170, 150, 130}, rng_unit(rs)), L);
        rect(c, x, L->hz - bh, x + bw - 4, L->hz, wall, 1);
        for (double wy = L->hz - bh + 12; wy < L->hz - 16; wy += 0.05 * H)
            for (double wxp = x + 8; wxp < x + bw - 16; wxp += 0.025 * W)
                rect(c, wxp, wy, wxp + 0.012 * W, wy + 0.025 * H,
                     (s->when == TIME_NIGHT || s->when == TIME_DUSK) && rng_unit(rs) < 0.6 ? (rgb){250, 215, 110}
                                                                                          : shade(wall, 0.6), 1);
        x += bw;
    }
}

static void paint_shelves(canvas *c, const light *L, uint64_t *rs, int goods)
{
    int W = c->w, H = c->h;
    for (int i = 0; i < 4; i++) {
        double x = (0.02 + 0.25 * i) * W, x1 = x + 0.21 * W;
        rect(c, x - 4, 0.06 * H, x1 + 4, L->hz, dimmed((rgb){95, 62, 40}, L), 1);
        for (int r = 0; r < 5; r++) {
            double y0 = 0.09 * H + r * 0.105 * H, y1 = y0 + 0.085 * H;
            rect(c, x, y0, x1, y1 + 6, dimmed((rgb){70, 45, 30}, L), 1);
            for (double bx = x + 3; bx < x1 - 8;) {
                double bw = goods ? 0.03 * W : (0.008 + 0.01 * rng_unit(rs)) * W;
                double bh = goods ? 0.04 * H : (0.06 + 0.025 * rng_unit(rs)) * H;
                static const rgb spines[] = {{160, 45, 45}, {45, 90, 150}, {60, 120, 70}, {200, 160, 60}, {120, 70, 140}};
                rgb col = spines[rng_next(rs) % 5];
                if (goods)
                    ellipse(c, bx + bw / 2, y1 - bh / 2, bw / 2, bh / 2, 0, dimmed(col, L), 1);
                else
                    rect(c, bx, y1 - bh, bx + bw - 1, y1, dimmed(col, L), 1);
                bx += bw + (goods ? 6 : 1);
            }
        }
    }
}

/* A kitchen's counter, oven, pot and plate, and its wall cabinets: four when a
 * window takes the right of the wall (a fifth would cover it). */
static void paint_counter(canvas *c, const light *L, int window)
{
    int W = c->w, H = c->h;
    rgb cab = dimmed((rgb){150, 190, 200}, L), top = dimmed((rgb){235, 230, 220}, L);
    for (int i = 0; i < (window ? 4 : 5); i++) /* wall cabinets */
        rect(c, (0.05 + 0.19 * i) * W, 0.08 * H, (0.05 + 0.19 * i + 0.16) * W, 0.26 * H, cab, 1);
    rect(c, 0, L->hz - 0.17 * H, W, L->hz, dimmed((rgb){120, 160, 175}, L), 1);
    rect(c, 0, L->hz - 0.19 * H, W, L->hz - 0.16 * H, top, 1);
    rect(c, 0.42 * W, L->hz - 0.16 * H, 0.58 * W, L->hz, dimmed((rgb){60, 60, 66}, L), 1); /* oven */
    rect(c, 0.45 * W, L->hz - 0.12 * H, 0.55 * W, L->hz - 0.03 * H, dimmed((rgb){30, 30, 34}, L), 1);
    ellipse(c, 0.3 * W, L->hz - 0.22 * H, 0.045 * W, 0.03 * H, 0, dimmed((rgb){190, 60, 50}, L), 1); /* a pot */
    rect(c, 0.255 * W, L->hz - 0.22 * H, 0.345 * W, L->hz - 0.19 * H, dimmed((rgb){190, 60, 50}, L), 1);
    ellipse(c, 0.7 * W, L->hz - 0.205 * H, 0.05 * W, 0.012 * H, 0, dimmed((rgb){240, 240, 235}, L), 1); /* a plate */
}

static void paint_window(canvas *c, const scene *s, const light *L0, double x0, double y0, double x1, double y1)
{
    light L = light_of(&(scene){.place = PL_MEADOW, .when = s->when, .weather = s->weather}, c->h);
    (void)L0;
    rect(c, x0 - 8, y0 - 8, x1 + 8, y1 + 8, (rgb){235, 230, 220}, 1);
    for (int y = (int)y0; y < (int)y1; y++)
        rect(c, x0, y, x1, y + 1, mix(L.sky_top, L.sky_low, (y - y0) / (y1 - y0)), 1);
    if (s->when == TIME_NIGHT && !wx(s, WX_CLOUDY)) {
        circle(c, x1 - (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3, (y1 - y0) * 0.12, (rgb){245, 240, 210});
        for (int i = 0; i < 6; i++)
            circle(c, x0 + (x1 - x0) * (0.1 + 0.13 * i), y0 + (y1 - y0) * (0.2 + 0.1 * (i % 3)), 1.5, (rgb){255, 250, 225});
    }
    rect(c, (x0 + x1) / 2 - 3, y0, (x0 + x1) / 2 + 3, y1, (rgb){235, 230, 220}, 1);
    rect(c, x0, (y0 + y1) / 2 - 3, x1, (y0 + y1) / 2 + 3, (rgb){235, 230, 220}, 1);
}

static void paint_castle(canvas *c, const light *L, double x, double scale)
{
    int H = c->h;
    rgb stone = dimmed((rgb){165, 160, 170}, L), dark = shade(stone, 0.7);
    double base = L->hz + 0.01 * H, w = 0.16 * H * scale;
    rect(c, x - w, base - 0.2 * H * scale, x + w, base, stone, 1);
    for (int i = -1; i <= 1; i += 2) {
        rect(c, x + i * w - 0.04 * H * scale, base - 0.32 * H * scale, x + i * w + 0.04 * H * scale, base, stone, 1);
        triangle(c, x + i * w - 0.05 * H * scale, base - 0.32 * H * scale, x + i * w + 0.05 * H * scale,
                 base - 0.32 * H * scale, x + i * w, base - 0.42 * H * scale, dimmed((rgb){150, 50, 60}, L));
    }
    for (double bx = x - w; bx < x + w; bx += 0.04 * H * scale)
        rect(c, bx, base - 0.23 * H * scale, bx + 0.02 * H * scale, base - 0.2 * H * scale, stone, 1);
    ellipse(c, x, base - 0.04 * H * scale, 0.035 * H * scale, 0.06 * H * scale, 0, dark, 1);
    rect(c, x - 0.035 * H * scale, base - 0.04 * H * scale, x + 0.035 * H * scale, base, dark, 1);
}

static void paint_truck(canvas *c, const light *L, double x)
{
    int H = c->h, W = c->w;
    double base = L->hz + 0.1 * H, w = 0.22 * W;
    rgb body = dimmed((rgb){235, 200, 70}, L);
    rect(c, x, base - 0.28 * H, x + w, base - 0.05 * H, body, 1);
    rect(c, x + w, base - 0.18 * H, x + w + 0.06 * W, base - 0.05 * H, body, 1);
    rect(c, x + 0.03 * W, base - 0.22 * H, x + w - 0.03 * W, base - 0.13 * H, dimmed((rgb){60, 50, 45}, L), 1);
    for (int i = 0; i < 6; i++) /* striped awning */
        rect(c, x + i * w / 6, base - 0.31 * H, x + (i + 1) * w / 6, base - 0.27 * H,
             dimmed(i % 2 ? (rgb){250, 250, 245} : (rgb){210, 60, 60}, L), 1);
    circle(c, x + 0.05 * W, base - 0.04 * H, 0.035 * H, (rgb){40, 40, 44});
    circle(c, x + w, base - 0.04 * H, 0.035 * H, (rgb){40, 40, 44});
}

static void paint_sea(canvas *c, const scene *s, const light *L, double y0, double y1)
{
    rgb deep = s->place == PL_LAKE || s->place == PL_RIVER ? (rgb){60, 120, 170} : (rgb){40, 110, 170};
    if (wx(s, WX_STORM))
        deep = (rgb){50, 70, 90};
    vgradient(c, (int)y0, (int)y1, dimmed(shade(deep, 0.85), L), dimmed(mix(deep, (rgb){160, 210, 220}, 0.4), L));
}

static void paint_boat(canvas *c, const light *L, double x, double y, double scale)
{
    int H = c->h;
    double w = 0.08 * H * scale;
    double hx[4] = {x - w, x + w, x + w * 0.7, x - w * 0.7}, hy[4] = {y - 0.02 * H * scale, y - 0.02 * H * scale, y + 0.02 * H * scale, y + 0.02 * H * scale};
    quad(c, hx, hy, dimmed((rgb){150, 60, 40}, L), 1);
    rect(c, x - 2, y - 0.13 * H * scale, x + 2, y - 0.02 * H * scale, dimmed((rgb){90, 60, 40}, L), 1);
    triangle(c, x + 3, y - 0.12 * H * scale, x + 3, y - 0.03 * H * scale, x + w * 0.8, y - 0.03 * H * scale,
             dimmed((rgb){245, 240, 225}, L));
}

static void paint_sky_objects(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h;
    int night = s->when == TIME_NIGHT || s->place == PL_SPACE || s->place == PL_MOON;
    int overcast = wx(s, WX_CLOUDY) || wx(s, WX_FOG);
    if ((night && !wx(s, WX_STORM)) || has(s, LM_STARS))
        for (int i = 0; i < 150; i++) {
            double x = rng_unit(rs) * W, y = rng_unit(rs) * L->hz * 0.95, r = 0.6 + rng_unit(rs) * 1.6;
            ellipse(c, x, y, r, r, 0, (rgb){255, 250, 225}, (overcast ? 0.3 : 0.6) + 0.4 * rng_unit(rs));
        }
    if ((night && s->place != PL_SPACE && s->place != PL_MOON && !wx(s, WX_STORM)) || has(s, LM_MOON)) {
        double mx = 0.8 * W, my = 0.16 * H, r = (has(s, LM_MOON) ? 0.09 : 0.05) * H;
        ellipse(c, mx, my, r * 1.8, r * 1.8, 0, (rgb){245, 240, 210}, 0.12);
        circle(c, mx, my, r, (rgb){245, 240, 210});
        circle(c, mx - r * 0.3, my - r * 0.2, r * 0.18, (rgb){220, 215, 190});
        circle(c, mx + r * 0.35, my + r * 0.25, r * 0.12, (rgb){220, 215, 190});
    } else if (!night && !overcast && !places[s->place].indoor && s->place != PL_UNDERWATER) {
        double sy = s->when == TIME_DUSK ? 0.5 : s->when == TIME_DAWN ? 0.45 : 0.16;
        double sx = s->when == TIME_DAWN ? 0.82 : 0.18;
        rgb sun = s->when == TIME_DAY ? (rgb){255, 236, 150} : (rgb){255, 190, 110};
        ellipse(c, sx * W, sy * H, 0.14 * H, 0.14 * H, 0, sun, 0.18);
        circle(c, sx * W, sy * H, 0.07 * H, sun);
    }
    if (has(s, LM_PLANET)) {
        circle(c, 0.75 * W, 0.3 * H, 0.14 * H, (rgb){200, 120, 90});
        ellipse(c, 0.75 * W, 0.3 * H, 0.25 * H, 0.03 * H, -0.2, (rgb){230, 200, 160}, 0.7);
    }
    if (has(s, LM_EARTH)) {
        circle(c, 0.2 * W, 0.2 * H, 0.09 * H, (rgb){60, 120, 210});
        ellipse(c, 0.18 * W, 0.18 * H, 0.04 * H, 0.03 * H, 0.4, (rgb){80, 170, 90}, 1);
        ellipse(c, 0.22 * W, 0.24 * H, 0.03 * H, 0.02 * H, -0.3, (rgb){80, 170, 90}, 1);
    }
    if (has(s, LM_RAINBOW) && !night) {
        static const rgb bands[] = {{230, 60, 60}, {240, 150, 50}, {240, 220, 70}, {80, 180, 90}, {70, 120, 220}, {130, 80, 180}};
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 240; k++) {
                double a = M_PI * k / 239, r = (0.55 - 0.018 * i) * H;
                ellipse(c, 0.5 * W + cos(a) * r * 1.5, L->hz - sin(a) * r, 0.009 * H, 0.009 * H, 0, bands[i], 0.5);
            }
    }
    if (has(s, LM_BALLOON)) {
        double bx = 0.84 * W, by = 0.2 * H;
        ellipse(c, bx, by, 0.05 * H, 0.065 * H, 0, dimmed((rgb){220, 70, 70}, L), 1);
        rect(c, bx - 0.015 * H, by + 0.08 * H, bx + 0.015 * H, by + 0.1 * H, dimmed((rgb){140, 90, 50}, L), 1);
    }
}

static void paint_ground_features(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h;
    if (has(s, LM_HILLS))
        for (int i = 0; i < 3; i++)
            ellipse(c, (0.2 + 0.3 * i) * W, L->hz + 0.02 * H, 0.3 * W, 0.08 * H, 0,
                    dimmed(mix(L->ground, (rgb){60, 130, 60}, 0.25 * i), L), 1);
    if (has(s, LM_PEAKS))
        for (int i = 0; i < 5; i++) {
            double x = rng_unit(rs) * W, mh = (0.2 + 0.2 * rng_unit(rs)) * H, mw = (0.15 + 0.1 * rng_unit(rs)) * W;
            triangle(c, x - mw, L->hz, x + mw, L->hz, x, L->hz - mh, dimmed((rgb){120, 125, 140}, L));
            triangle(c, x - mw * 0.3, L->hz - mh * 0.7, x + mw * 0.3, L->hz - mh * 0.7, x, L->hz - mh,
                     dimmed((rgb){245, 248, 252}, L));
        }
    if (has(s, LM_WAVES)) {
        double y0 = L->hz, y1 = L->hz + (s->place == PL_SEA ? 0.22 : s->place == PL_RIVER ? 0.08 : 0.12) * H;
        if (s->place == PL_RIVER)
            y0 += 0.03 * H, y1 += 0.03 * H;
        paint_sea(c, s, L, y0, y1);
    }
    if (has(s, LM_ROCKS))
        for (int i = 0; i < 6; i++)
            blob(c, (i < 3 ? 0.03 + 0.06 * i : 0.8 + 0.06 * (i - 3)) * W, L->hz + (0.05 + 0.04 * (i % 2)) * H,
                 (0.04 + 0.02 * rng_unit(rs)) * W, 0.04 * H, 0, dimmed((rgb){100, 96, 94}, L), 6);
    if (has(s, LM_FENCE))
        for (double x = 0; x < W; x += 0.04 * W) {
            rect(c, x, L->hz - 0.06 * H, x + 0.012 * W, L->hz + 0.02 * H, dimmed((rgb){230, 225, 210}, L), 1);
            if (x + 0.04 * W < W)
                rect(c, x, L->hz - 0.04 * H, x + 0.04 * W, L->hz - 0.03 * H, dimmed((rgb){230, 225, 210}, L), 1);
        }
    if (has(s, LM_FLOWERS))
        for (int i = 0; i < 60; i++) {
            static const rgb petals[] = {{240, 90, 110}, {250, 220, 80}, {245, 245, 250}, {170, 110, 220}};
            double x = rng_unit(rs) * W, y = L->hz + (0.04 + 0.3 * rng_unit(rs)) * H;
            circle(c, x, y, 0.006 * H + 0.004 * H * rng_unit(rs), dimmed(petals[rng_next(rs) % 4], L));
        }
    if (has(s, LM_CACTUS))
        for (int i = 0; i < 2; i++) {
            double x = (i ? 0.9 : 0.08) * W, b = L->hz + 0.06 * H;
            rgb g = dimmed((rgb){70, 140, 70}, L);
            line_seg(c, x, b, x, b - 0.22 * H, 0.04 * W, g, 1);
            line_seg(c, x - 0.03 * W, b - 0.1 * H, x - 0.03 * W, b - 0.17 * H, 0.02 * W, g, 1);
            line_seg(c, x - 0.03 * W, b - 0.1 * H, x, b - 0.1 * H, 0.02 * W, g, 1);
        }
    if (has(s, LM_SEAWEED))
        for (int i = 0; i < 9; i++) {
            double x = (0.05 + 0.11 * i) * W;
            for (int k = 0; k < 6; k++)
                ellipse(c, x + sin(k * 0.9 + i) * 0.01 * W, L->hz - k * 0.05 * H, 0.01 * W, 0.035 * H, 0.3,
                        dimmed((rgb){40, 140, 80}, L), 1);
        }
}

/* Landmarks standing at the horizon and behind the cast. */
static void paint_far_props(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h;
    if (has(s, LM_SKYLINE))
        paint_skyline(c, s, L, rs);
    if (has(s, LM_CASTLE))
        paint_castle(c, L, 0.15 * W, 1.0);
    if (has(s, LM_TREES))
        paint_trees(c, s, L, rs);
    if (has(s, LM_LIGHTHOUSE))
        paint_lighthouse(c, L, 0.87 * W, 1.0);
    if (has(s, LM_BOAT))
        paint_boat(c, L, 0.82 * W, L->hz + 0.05 * H, 1.0);
    if (has(s, LM_PIER))
        rect(c, 0, L->hz + 0.06 * H, 0.3 * W, L->hz + 0.09 * H, dimmed((rgb){120, 85, 55}, L), 1);
    if (has(s, LM_HOUSE) || has(s, LM_BARN)) {
        double x = 0.12 * W, b = L->hz + 0.02 * H, w = 0.09 * W;
        rgb wall = dimmed(has(s, LM_BARN) ? (rgb){170, 50, 45} : (rgb){235, 220, 190}, L);
        rect(c, x - w, b - 0.16 * H, x + w, b, wall, 1);
        triangle(c, x - w * 1.15, b - 0.16 * H, x + w * 1.15, b - 0.16 * H, x, b - 0.28 * H,
                 dimmed((rgb){110, 60, 50}, L));
        rect(c, x - 0.02 * W, b - 0.08 * H, x + 0.02 * W, b, dimmed((rgb){90, 60, 40}, L), 1);
        rect(c, x + 0.04 * W, b - 0.13 * H, x + 0.07 * W, b - 0.09 * H,
             s->when == TIME_NIGHT ? (rgb){250, 215, 110} : dimmed((rgb){150, 190, 220}, L), 1);
    }
    if (has(s, LM_WINDMILL)) {
        double x = 0.88 * W, b = L->hz + 0.01 * H;
        double xs[4] = {x - 0.02 * W, x + 0.02 * W, x + 0.035 * W, x - 0.035 * W}, ys[4] = {b - 0.25 * H, b - 0.25 * H, b, b};
        quad(c, xs, ys, dimmed((rgb){230, 220, 200}, L), 1);
        for (int k = 0; k < 4; k++)
            line_seg(c, x, b - 0.25 * H, x + cos(k * M_PI / 2 + 0.4) * 0.12 * H, b - 0.25 * H + sin(k * M_PI / 2 + 0.4) * 0.12 * H,
                     0.012 * W, dimmed((rgb){120, 90, 60}, L), 1);
    }
    if (has(s, LM_BRIDGE))
        for (int k = 0; k < 80; k++) {
            double a = M_PI * k / 79;
            ellipse(c, 0.5 * W + cos(a) * 0.3 * W, L->hz + 0.1 * H - sin(a) * 0.08 * H, 0.01 * W, 0.01 * W, 0,
                    dimmed((rgb){150, 110, 80}, L), 1);
        }
    if (has(s, LM_STALLS))
        for (int i = 0; i < 4; i++) {
            double x = (0.02 + 0.25 * i) * W, w = 0.2 * W;
            rect(c, x, L->hz - 0.12 * H, x + w, L->hz, dimmed((rgb){150, 110, 70}, L), 1);
            for (int k = 0; k < 5; k++)
                rect(c, x - 0.01 * W + k * (w + 0.02 * W) / 5, L->hz - 0.2 * H, x - 0.01 * W + (k + 1) * (w + 0.02 * W) / 5,
                     L->hz - 0.14 * H, dimmed(k % 2 ? (rgb){250, 248, 240} : (i % 2 ? (rgb){60, 120, 200} : (rgb){210, 70, 60}), L), 1);
            for (int k = 0; k < 5; k++)
                circle(c, x + 0.025 * W + k * 0.037 * W, L->hz - 0.13 * H, 0.012 * W,
                       dimmed(k % 2 ? (rgb){230, 120, 40} : (rgb){120, 180, 60}, L));
        }
    if (has(s, LM_TENT)) {
        double x = 0.12 * W, b = L->hz + 0.05 * H;
        triangle(c, x - 0.1 * W, b, x + 0.1 * W, b, x, b - 0.2 * H, dimmed((rgb){230, 130, 50}, L));
        triangle(c, x - 0.025 * W, b, x + 0.025 * W, b, x, b - 0.12 * H, dimmed((rgb){80, 50, 30}, L));
    }
    if (has(s, LM_ROCKET)) {
        double x = 0.1 * W, b = L->hz + 0.02 * H;
        rect(c, x - 0.025 * W, b - 0.32 * H, x + 0.025 * W, b - 0.05 * H, (rgb){235, 235, 240}, 1);
        triangle(c, x - 0.025 * W, b - 0.32 * H, x + 0.025 * W, b - 0.32 * H, x, b - 0.42 * H, (rgb){210, 60, 60});
        triangle(c, x - 0.025 * W, b - 0.12 * H, x - 0.06 * W, b - 0.02 * H, x - 0.025 * W, b - 0.05 * H, (rgb){210, 60, 60});
        triangle(c, x + 0.025 * W, b - 0.12 * H, x + 0.06 * W, b - 0.02 * H, x + 0.025 * W, b - 0.05 * H, (rgb){210, 60, 60});
        circle(c, x, b - 0.24 * H, 0.013 * W, (rgb){80, 150, 220});
    }
}

/* Things standing near the front: a food truck, a lamppost, a bench, a snowman, a campfire. */
static void paint_near_props(canvas *c, const scene *s, const light *L)
{
    int W = c->w, H = c->h;
    if (has(s, LM_TRUCK))
        paint_truck(c, L, 0.01 * W);
    if (has(s, LM_LAMPPOST)) {
        double x = 0.07 * W, b = L->hz + 0.12 * H;
        rect(c, x - 3, b - 0.36 * H, x + 3, b, dimmed((rgb){50, 50, 56}, L), 1);
        circle(c, x, b - 0.37 * H, 0.02 * H,
               s->when == TIME_NIGHT || s->when == TIME_DUSK ? (rgb){255, 230, 150} : dimmed((rgb){230, 230, 210}, L));
    }
    if (has(s, LM_BENCH)) {
        double x = 0.9 * W, b = L->hz + 0.14 * H;
        rect(c, x - 0.07 * W, b - 0.06 * H, x + 0.07 * W, b - 0.045 * H, dimmed((rgb){140, 95, 60}, L), 1);
        rect(c, x - 0.07 * W, b - 0.11 * H, x + 0.07 * W, b - 0.095 * H, dimmed((rgb){140, 95, 60}, L), 1);
        rect(c, x - 0.065 * W, b - 0.045 * H, x - 0.06 * W, b, dimmed((rgb){50, 50, 56}, L), 1);
        rect(c, x + 0.06 * W, b - 0.045 * H, x + 0.065 * W, b, dimmed((rgb){50, 50, 56}, L), 1);
    }
    if (has(s, LM_SNOWMAN)) {
        double x = 0.9 * W, b = L->hz + 0.16 * H;
        circle(c, x, b - 0.06 * H, 0.06 * H, (rgb){248, 250, 255});
        circle(c, x, b - 0.16 * H, 0.045 * H, (rgb){248, 250, 255});
        triangle(c, x, b - 0.165 * H, x, b - 0.15 * H, x + 0.04 * H, b - 0.158 * H, (rgb){240, 130, 40});
    }
    if (has(s, LM_CAMPFIRE)) {
        double x = 0.88 * W, b = L->hz + 0.2 * H;
        line_seg(c, x - 0.04 * W, b, x + 0.04 * W, b - 0.01 * H, 0.012 * W, (rgb){100, 65, 40}, 1);
        line_seg(c, x - 0.04 * W, b - 0.01 * H, x + 0.04 * W, b, 0.012 * W, (rgb){100, 65, 40}, 1);
    }
}

static void paint_props(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    paint_far_props(c, s, L, rs);
    paint_near_props(c, s, L);
}

static void paint_interior(canvas *c, const scene *s, const light *L, uint64_t *rs)
{
    int W = c->w, H = c->h;
    int window = has(s, LM_WINDOW) && !has(s, LM_SHELVES);
    if (window)
        paint_window(c, s, L, 0.78 * W, 0.1 * H, 0.95 * W, 0.36 * H);
    if (has(s, LM_SHELVES))
        paint_shelves(c, L, rs, s->place == PL_SHOP);
    if (has(s, LM_COUNTER) && s->place != PL_SHOP && s->place != PL_CAFE)
        paint_counter(c, L, window);
    if (has(s, LM_COUNTER) && (s->place == PL_SHOP || s->place == PL_CAFE))
        rect(c, 0.6 * W, L->hz - 0.14 * H, W, L->hz, dimmed((rgb){150, 100, 70}, L), 1);
    if (has(s, LM_BLACKBOARD)) {
        rect(c, 0.25 * W - 8, 0.08 * H - 8, 0.7 * W + 8, 0.34 * H + 8, dimmed((rgb){130, 90, 60}, L), 1);
        rect(c, 0.25 * W, 0.08 * H, 0.7 * W, 0.34 * H, dimmed((rgb){40, 70, 55}, L), 1);
        for (int i = 0; i < 3; i++)
            rect(c, 0.29 * W, (0.13 + 0.06 * i) * H, (0.45 + 0.07 * i) * W, (0.135 + 0.06 * i) * H, (rgb){230, 230, 220}, 0.8);
    }
    if (has(s, LM_CURTAINS)) {
        for (int side = 0; side < 2; side++)
            for (int k = 0; k < 5; k++) {
                double x = side ? W - (k + 1) * 0.035 * W : k * 0.035 * W;
                rect(c, x, 0, x + 0.035 * W, L->hz + 0.05 * H, dimmed(k % 2 ? (rgb){170, 30, 45} : (rgb){140, 20, 35}, L), 1);
            }
        rect(c, 0, 0, W, 0.08 * H, dimmed((rgb){150, 25, 40}, L), 1);
        ellipse(c, 0.5 * W, 0.86 * H, 0.3 * W, 0.08 * H, 0, (rgb){255, 245, 200}, 0.25);
    }
    if (has(s, LM_WORKBENCH)) {
        rect(c, 0.05 * W, 0.1 * H, 0.7 * W, 0.35 * H, dimmed((rgb){190, 160, 120}, L), 1); /* pegboard */
        for (int i = 0; i < 8; i++)
            line_seg(c, (0.1 + 0.075 * i) * W, 0.15 * H, (0.1 + 0.075 * i) * W + 0.01 * W, 0.28 * H, 0.01 * W,
                     dimmed(i % 2 ? (rgb){90, 90, 100} : (rgb){190, 70, 50}, L), 1);
        rect(c, 0, L->hz - 0.1 * H, 0.75 * W, L->hz - 0.07 * H, dimmed((rgb){130, 85, 50}, L), 1);
        rect(c, 0.02 * W, L->hz - 0.07 * H, 0.04 * W, L->hz, dimmed((rgb){110, 70, 40}, L), 1);
        rect(c, 0.7 * W, L->hz - 0.07 * H, 0.72 * W, L->hz, dimmed((rgb){110, 70, 40}, L), 1);
    }
    if (has(s, LM_TABLE))
        for (int i = 0; i < 2; i++) {
            double x = (i ? 0.9 : 0.1) * W, b = L->hz + 0.1 * H;
            ellipse(c, x, b - 0.12 * H, 0.07 * W, 0.02 * H, 0, dimmed((rgb){150, 100, 60}, L), 1);
            rect(c, x - 4, b - 0.12 * H, x + 4, b, dimmed((rgb){110, 70, 40}, L), 1);
        }
    if (s->place == PL_CAVE)
        for (int i = 0; i < 10; i++) {
            double x = (0.05 + 0.1 * i) * W;
            triangle(c, x - 0.03 * W, 0, x + 0.03 * W, 0, x, (0.08 + 0.1 * rng_unit(rs)) * H, dimmed((rgb){70, 62, 60}, L));
        }
}

static void paint_clouds(canvas *c, const scene *s, const light *L, uint64_t seed)
{
    int W = c->w, H = c->h, storm = wx(s, WX_STORM);
    uint64_t rs = seed ^ 0x5eedc10dull;
    int n = storm ? 9 : 5;
    rgb col = storm ? (rgb){70, 72, 84} : wx(s, WX_RAIN) ? (rgb){150, 152, 160} : (rgb){245, 246, 250};
    if (s->when == TIME_NIGHT)
        col = shade(col, 0.45);
    else if (s->when == TIME_DUSK)
        col = mix(col, (rgb){240, 170, 150}, storm ? 0.1 : 0.3);
    for (int i = 0; i < n; i++) {
        double x0 = rng_unit(&rs), y = (0.06 + 0.22 * rng_unit(&rs)) * H * (L->hz / (0.62 * H));
        double r = (storm ? 0.09 : 0.06) * W * (0.8 + 0.5 * rng_unit(&rs));
        double x = (x0 * 1.4 - 0.2) * W;
        for (int k = 0; k < 4; k++)
            ellipse(c, x + (k - 1.5) * r * 0.6, y + (k % 2) * r * 0.15, r * 0.55, r * 0.32, 0, shade(col, 1 - 0.04 * k),
                    storm ? 0.95 : 0.9);
    }
}

void paint_setting(canvas *c, const scene *s, uint64_t seed)
{
    uint64_t rs = seed;
    int W = c->w, H = c->h;
    light L = light_of(s, H);
    const struct place_def *pd = &places[s->place];
    if (pd->indoor) {
        rgb wall = s->place == PL_CAVE ? (rgb){60, 54, 52} : s->place == PL_STAGE ? (rgb){40, 30, 40}
                 : s->place == PL_KITCHEN ? (rgb){235, 225, 200} : (rgb){196, 168, 130};
        double d = s->when == TIME_NIGHT ? 0.7 : 1.0;
        L.dim = d;
        vgradient(c, 0, (int)L.hz, shade(wall, d * 0.9), shade(wall, d));
        vgradient(c, (int)L.hz, H, shade(L.ground, d), shade(L.ground, d * 0.8));
        if (pd->ground == G_TILE)
            for (int y = (int)L.hz; y < H; y += (int)(0.05 * H) + 1)
                rect(c, 0, y, W, y + 2, shade(L.ground, d * 0.85), 1);
        paint_interior(c, s, &L, &rs);
        return;
    }
    vgradient(c, 0, (int)L.hz, L.sky_top, L.sky_low);
    if (pd->ground == G_CLOUD) {
        vgradient(c, (int)L.hz, H, (rgb){245, 246, 252}, (rgb){215, 222, 240});
        for (int i = 0; i < 12; i++)
            circle(c, (i + 0.5) * W / 12.0, L.hz + 0.01 * H, 0.06 * W, (rgb){248, 249, 253});
    } else {
        vgradient(c, (int)L.hz, H, dimmed(L.ground, &L), shade(dimmed(L.ground, &L), 0.8));
    }
    paint_sky_objects(c, s, &L, &rs);
    if (wx(s, WX_CLOUDY) || wx(s, WX_STORM))
        paint_clouds(c, s, &L, seed);
    paint_ground_features(c, s, &L, &rs);
    if (pd->ground == G_SHORE || pd->ground == G_QUAY) /* the near shore the cast stands on */
        vgradient(c, (int)(L.hz + 0.22 * H), H, dimmed(L.ground, &L), shade(dimmed(L.ground, &L), 0.85));
    paint_props(c, s, &L, &rs);
}

/* ---- what moves ---- */

static double frac(double x)
{
    return x - floor(x);
}

/* A thin, mostly vertical streak: two pixels per row shared by the fraction. */
static void streak(canvas *c, double x0, double y0, double x1, double y1, rgb col, double alpha)
{
    if (y1 < y0) {
        double tx = x0, ty = y0;
        x0 = x1, y0 = y1, x1 = tx, y1 = ty;
    }
    double slope = (x1 - x0) / (y1 - y0 > 1e-9 ? y1 - y0 : 1e-9);
    for (int y = (int)fmax(0, ceil(y0)); y <= (int)fmin(c->h - 1, floor(y1)); y++) {
        double x = x0 + (y - y0) * slope;
        int xi = (int)floor(x);
        double f = x - xi;
        plot(c, xi, y, col, alpha * (1 - f));
        plot(c, xi + 1, y, col, alpha * f);
        plot(c, xi + (f < 0.5 ? -1 : 2), y, col, alpha * 0.25);
    }
}

static void paint_rain(canvas *c, const scene *s, uint64_t seed, double t, double x0, double y0, double x1, double y1)
{
    uint64_t rs = seed ^ 0x7a1b0ull;
    int n = wx(s, WX_STORM) ? 260 : 160;
    double hgt = y1 - y0, len = 0.05 * c->h;
    rgb col = s->when == TIME_NIGHT ? (rgb){150, 160, 190} : (rgb){200, 210, 230};
    for (int i = 0; i < n; i++) {
        double fx = rng_unit(&rs), fy = rng_unit(&rs), speed = 1.6 + rng_unit(&rs);
        double y = y0 + frac(fy + t * speed * 0.55) * hgt, x = x0 + frac(fx + (y - y0) / hgt * 0.05) * (x1 - x0);
        streak(c, x, y, x - len * 0.25, y + len, col, 0.6);
    }
}

static void paint_snow(canvas *c, const scene *s, uint64_t seed, double t, double x0, double y0, double x1, double y1)
{
    (void)s;
    uint64_t rs = seed ^ 0x5a0f1aull;
    double hgt = y1 - y0;
    for (int i = 0; i < 170; i++) {
        double fx = rng_unit(&rs), fy = rng_unit(&rs), speed = 0.08 + 0.08 * rng_unit(&rs), r = 1.5 + 2.5 * rng_unit(&rs);
        double y = y0 + frac(fy + t * speed) * hgt;
        double x = x0 + frac(fx + 0.01 * sin(t * 1.5 + i)) * (x1 - x0);
        circle(c, x, y, r, (rgb){250, 252, 255});
    }
}

static void paint_waves(canvas *c, const scene *s, const light *L, double t)
{
    int W = c->w, H = c->h;
    double y0 = L->hz, y1 = L->hz + (s->place == PL_SEA ? 0.22 : s->place == PL_RIVER ? 0.08 : 0.12) * H;
    if (s->place == PL_RIVER)
        y0 += 0.03 * H, y1 += 0.03 * H;
    int rough = wx(s, WX_STORM) || wx(s, WX_WIND);
    rgb crest = shade((rgb){235, 245, 250}, L->dim);
    for (int row = 0; row < 5; row++) {
        double y = y0 + (row + 0.5) * (y1 - y0) / 5, amp = (rough ? 0.012 : 0.005) * H * (1 + row * 0.3);
        double speed = (row % 2 ? 0.6 : -0.45) * (rough ? 2 : 1);
        for (double x = -0.05 * W; x < W * 1.05; x += 0.06 * W) {
            double xx = x + frac(t * speed * 0.05 + row * 0.17) * 0.06 * W;
            double yy = y + sin(xx * 0.02 + t * 2 + row) * amp;
            ellipse(c, xx, yy, 0.02 * W * (1 + row * 0.2), 0.003 * H * (1 + row * 0.3), 0, crest, rough ? 0.8 : 0.55);
        }
    }
}

static void paint_beam(canvas *c, const scene *s, const light *L, double t)
{
    int W = c->w, H = c->h;
    double x = 0.87 * W, y = L->hz + 0.02 * H - 0.5 * H - 0.03 * H;
    double a = t * 1.3 + 0.6, reach = cos(a), spread = 0.05 * H;
    double strong = s->when == TIME_NIGHT || s->when == TIME_DUSK || wx(s, WX_STORM) ? 0.45 : 0.25;
    double len = fabs(reach) * 0.9 * W;
    if (len < 0.02 * W)
        return;
    double dir = reach < 0 ? -1 : 1;
    double xs[4] = {x, x, x + dir * len, x + dir * len}, ys[4] = {y - 6, y + 6, y + spread, y - spread};
    if (dir < 0) {
        double tx = xs[2], ty = ys[2];
        xs[2] = xs[3], ys[2] = ys[3];
        xs[3] = tx, ys[3] = ty;
    }
    quad(c, xs, ys, (rgb){255, 240, 170}, strong);
    circle(c, x, y, 0.018 * H, (rgb){255, 250, 210});
}

static void paint_lightning(canvas *c, uint64_t seed, double t)
{
    /* a bolt at the start (the keyframe shows it) and again at 3.2 s and 6.1 s */
    static const double at[] = {0.0, 3.2, 6.1};
    int W = c->w, H = c->h;
    for (size_t k = 0; k < 3; k++) {
        double dt = t - at[k];
        if (dt < 0 || dt > 0.35)
            continue;
        uint64_t rs = seed ^ (0xb017ull + k);
        double x = (0.3 + 0.4 * rng_unit(&rs)) * W, y = 0.05 * H;
        for (int i = 0; i < 7; i++) {
            double nx = x + (rng_unit(&rs) - 0.5) * 0.06 * W, ny = y + 0.06 * H;
            line_seg(c, x, y, nx, ny, 0.006 * H, (rgb){255, 255, 235}, 1);
            x = nx, y = ny;
        }
        if (dt > 0.02 && dt < 0.12) /* the flash */
            rect(c, 0, 0, W, H, (rgb){255, 255, 255}, 0.25);
    }
}

void paint_weather(canvas *c, const scene *s, uint64_t seed, double t)
{
    int W = c->w, H = c->h;
    light L = light_of(s, H);
    const struct place_def *pd = &places[s->place];
    if (pd->indoor) {
        if (has(s, LM_WINDOW) && !has(s, LM_SHELVES)) {
            double x0 = 0.78 * W, y0 = 0.1 * H, x1 = 0.95 * W, y1 = 0.36 * H;
            if (wx(s, WX_RAIN))
                paint_rain(c, s, seed, t, x0, y0, x1, y1);
            if (wx(s, WX_SNOW))
                paint_snow(c, s, seed, t, x0, y0, x1, y1);
        }
        if (s->place == PL_STAGE) /* a slow spotlight sweep */
            ellipse(c, (0.5 + 0.15 * sin(t * 0.7)) * W, 0.86 * H, 0.12 * W, 0.05 * H, 0, (rgb){255, 250, 220}, 0.2);
        return;
    }
    if (s->place == PL_UNDERWATER) {
        uint64_t rs = seed ^ 0xb0bb1eull;
        for (int i = 0; i < 40; i++) {
            double x = rng_unit(&rs) * W, y = (1 - frac(rng_unit(&rs) + t * 0.12)) * H;
            circle(c, x + sin(t * 2 + i) * 6, y, 2 + 4 * rng_unit(&rs), (rgb){200, 235, 250});
        }
    }
    if (has(s, LM_WAVES))
        paint_waves(c, s, &L, t);
    if (has(s, LM_LIGHTHOUSE))
        paint_beam(c, s, &L, t);
    if (has(s, LM_CAMPFIRE)) {
        double x = 0.88 * W, b = L.hz + 0.2 * H, f = 1 + 0.15 * sin(t * 11) + 0.1 * sin(t * 7.3);
        triangle(c, x - 0.03 * W, b - 0.01 * H, x + 0.03 * W, b - 0.01 * H, x, b - 0.1 * H * f, (rgb){250, 140, 40});
        triangle(c, x - 0.015 * W, b - 0.01 * H, x + 0.015 * W, b - 0.01 * H, x, b - 0.06 * H * f, (rgb){255, 220, 90});
    }
    if (wx(s, WX_FOG))
        for (int i = 0; i < 4; i++)
            ellipse(c, (frac(0.25 * i + t * 0.01) * 1.6 - 0.3) * W, L.hz - (0.05 - 0.05 * i) * H, 0.5 * W, 0.06 * H, 0,
                    (rgb){235, 238, 242}, 0.35);
    if (wx(s, WX_WIND)) {
        uint64_t rs = seed ^ 0x1eafull;
        for (int i = 0; i < 24; i++) {
            double x = frac(rng_unit(&rs) + t * 0.18) * W, y = (0.2 + 0.6 * rng_unit(&rs)) * H + sin(t * 3 + i) * 0.02 * H;
            ellipse(c, x, y, 0.008 * W, 0.004 * W, t * 4 + i, s->autumn ? (rgb){210, 120, 40} : (rgb){90, 150, 70}, 0.9);
        }
    }
    if (wx(s, WX_STORM))
        paint_lightning(c, seed, t);
    if (wx(s, WX_RAIN))
        paint_rain(c, s, seed, t, 0, 0, W, H);
    if (wx(s, WX_SNOW))
        paint_snow(c, s, seed, t, 0, 0, W, H);
}
