/*
 * provider_local.c — the "local" provider: an offline preview renderer.
 * Plans a story from the concept's words, draws character figures and scene
 * backgrounds in C into RGB buffers, animates keyframes and measures colour
 * consistency. Owns the figure/background geometry (portraits and keyframes
 * share it with the scorer); every ffmpeg command line lives in media.c.
 * Deterministic: the same inputs and seed give the same bytes.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_provider.h"

typedef struct rgb {
    unsigned char r, g, b;
} rgb;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- deterministic randomness ---- */

static uint64_t hash_str(const char *s, uint64_t h)
{
    h ^= 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t rng_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *st)
{
    return (double)(rng_next(st) >> 11) / 9007199254740992.0;
}

/* ---- words ---- */

enum { CF_RED, CF_ORANGE, CF_YELLOW, CF_GREEN, CF_BLUE, CF_PURPLE, CF_PINK, CF_BROWN, CF_GREY, CF_BLACK, CF_WHITE };

static const struct colour {
    const char *word;
    rgb c;
    int family;
} colours[] = {
    {"red", {200, 48, 40}, CF_RED},          {"crimson", {175, 25, 50}, CF_RED},
    {"scarlet", {222, 40, 32}, CF_RED},      {"rust", {183, 65, 20}, CF_RED},
    {"orange", {232, 122, 30}, CF_ORANGE},   {"ginger", {212, 110, 45}, CF_ORANGE},
    {"copper", {184, 110, 60}, CF_ORANGE},   {"amber", {250, 172, 10}, CF_YELLOW},
    {"yellow", {238, 208, 45}, CF_YELLOW},   {"gold", {212, 170, 45}, CF_YELLOW},
    {"golden", {215, 168, 50}, CF_YELLOW},   {"green", {60, 160, 72}, CF_GREEN},
    {"emerald", {25, 150, 95}, CF_GREEN},    {"olive", {118, 128, 45}, CF_GREEN},
    {"mint", {150, 220, 180}, CF_GREEN},     {"teal", {25, 135, 140}, CF_BLUE},
    {"turquoise", {60, 195, 190}, CF_BLUE},  {"blue", {50, 100, 212}, CF_BLUE},
    {"navy", {30, 42, 110}, CF_BLUE},        {"azure", {70, 150, 230}, CF_BLUE},
    {"purple", {128, 60, 172}, CF_PURPLE},   {"violet", {150, 92, 205}, CF_PURPLE},
    {"lavender", {182, 160, 222}, CF_PURPLE}, {"pink", {240, 130, 172}, CF_PINK},
    {"magenta", {205, 40, 150}, CF_PINK},    {"brown", {125, 80, 45}, CF_BROWN},
    {"chestnut", {150, 75, 40}, CF_BROWN},   {"tawny", {200, 140, 78}, CF_BROWN},
    {"tan", {210, 178, 135}, CF_BROWN},      {"cream", {244, 230, 198}, CF_WHITE},
    {"beige", {225, 208, 175}, CF_BROWN},    {"grey", {135, 136, 142}, CF_GREY},
    {"gray", {135, 136, 142}, CF_GREY},      {"silver", {192, 195, 202}, CF_GREY},
    {"charcoal", {62, 62, 68}, CF_GREY},     {"black", {36, 36, 42}, CF_BLACK},
    {"white", {245, 245, 242}, CF_WHITE},    {"ivory", {250, 244, 225}, CF_WHITE},
};
#define N_COLOURS (sizeof colours / sizeof colours[0])

static const char *const colour_names[][3] = {
    [CF_RED] = {"Rusty", "Ember", "Scarlet"},     [CF_ORANGE] = {"Ginger", "Marmalade", "Clementine"},
    [CF_YELLOW] = {"Sunny", "Goldie", "Honey"},   [CF_GREEN] = {"Moss", "Fern", "Basil"},
    [CF_BLUE] = {"Indigo", "Skye", "Bluebell"},   [CF_PURPLE] = {"Plum", "Violet", "Mauve"},
    [CF_PINK] = {"Rosie", "Blossom", "Peony"},    [CF_BROWN] = {"Hazel", "Bramble", "Cocoa"},
    [CF_GREY] = {"Ash", "Sterling", "Smoky"},     [CF_BLACK] = {"Shadow", "Onyx", "Midnight"},
    [CF_WHITE] = {"Snowy", "Pearl", "Frost"},
};

enum { FAM_ANIMAL, FAM_BIRD, FAM_HUMAN, FAM_ROBOT };
enum { EAR_NONE, EAR_POINTY, EAR_ROUND, EAR_LONG, EAR_TUFT, EAR_FLOPPY, EAR_HORNS };
enum { TAIL_NONE, TAIL_BUSHY, TAIL_THIN, TAIL_SHORT, TAIL_DRAGON };
enum { X_BEAK = 1, X_WINGS = 2, X_MUZZLE = 4, X_WIZARD_HAT = 8, X_DETECTIVE_HAT = 16, X_ANTENNA = 32,
       X_HELMET = 64, X_TIP = 128 };

static const struct kind {
    const char *word, *label, *cover;
    int family, ears, tail, extras;
    rgb body, belly, eye;
    const char *cues[3];
} kinds[] = {
    {"fox", "fox", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE | X_TIP, {214, 100, 35}, {246, 236, 220}, {250, 172, 10}, {"clever", "quick-witted", "curious"}},
    {"owl", "owl", "feathers", FAM_BIRD, EAR_TUFT, TAIL_NONE, X_BEAK | X_WINGS, {125, 90, 60}, {214, 190, 150}, {240, 200, 40}, {"wise", "calm", "observant"}},
    {"cat", "cat", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_THIN, X_MUZZLE, {120, 120, 125}, {235, 230, 222}, {90, 180, 80}, {"independent", "graceful", "sly"}},
    {"kitten", "kitten", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_THIN, X_MUZZLE, {230, 150, 70}, {245, 236, 222}, {90, 180, 80}, {"playful", "curious", "bold"}},
    {"dog", "dog", "fur", FAM_ANIMAL, EAR_FLOPPY, TAIL_SHORT, X_MUZZLE, {170, 120, 70}, {240, 225, 200}, {90, 60, 35}, {"loyal", "cheerful", "eager"}},
    {"puppy", "puppy", "fur", FAM_ANIMAL, EAR_FLOPPY, TAIL_SHORT, X_MUZZLE, {190, 140, 85}, {245, 232, 210}, {90, 60, 35}, {"bouncy", "loyal", "excitable"}},
    {"wolf", "wolf", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE, {120, 122, 130}, {222, 222, 225}, {230, 190, 60}, {"proud", "protective", "fierce"}},
    {"bear", "bear", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_NONE, X_MUZZLE, {120, 78, 45}, {210, 170, 120}, {45, 30, 20}, {"gentle", "strong", "sleepy"}},
    {"panda", "panda", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_NONE, X_MUZZLE, {245, 245, 242}, {245, 245, 242}, {36, 36, 42}, {"peaceful", "hungry", "kind"}},
    {"rabbit", "rabbit", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, {200, 185, 165}, {250, 245, 238}, {120, 70, 50}, {"nervous", "quick", "kind"}},
    {"bunny", "bunny", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, {230, 220, 210}, {250, 245, 238}, {120, 70, 50}, {"shy", "sweet", "quick"}},
    {"hare", "hare", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, {170, 130, 90}, {240, 228, 210}, {200, 140, 40}, {"fast", "boastful", "restless"}},
    {"mouse", "mouse", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE, {150, 145, 140}, {240, 225, 225}, {36, 36, 42}, {"brave", "tiny", "resourceful"}},
    {"squirrel", "squirrel", "fur", FAM_ANIMAL, EAR_TUFT, TAIL_BUSHY, X_MUZZLE, {175, 90, 40}, {240, 220, 190}, {45, 30, 20}, {"hyper", "chatty", "thrifty"}},
    {"raccoon", "raccoon", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE, {125, 125, 130}, {225, 225, 222}, {45, 30, 20}, {"mischievous", "nimble", "crafty"}},
    {"deer", "deer", "fur", FAM_ANIMAL, EAR_HORNS, TAIL_SHORT, X_MUZZLE, {170, 110, 60}, {240, 225, 200}, {60, 40, 25}, {"graceful", "shy", "gentle"}},
    {"lion", "lion", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE, {215, 160, 70}, {240, 220, 170}, {200, 140, 40}, {"brave", "regal", "warm"}},
    {"tiger", "tiger", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE, {230, 125, 35}, {245, 238, 225}, {90, 160, 70}, {"fierce", "proud", "loyal"}},
    {"frog", "frog", "skin", FAM_ANIMAL, EAR_NONE, TAIL_NONE, 0, {80, 170, 70}, {220, 230, 150}, {230, 190, 40}, {"jolly", "bouncy", "chatty"}},
    {"penguin", "penguin", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {40, 42, 52}, {245, 245, 242}, {36, 36, 42}, {"earnest", "clumsy", "determined"}},
    {"bird", "bird", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {60, 120, 210}, {235, 235, 220}, {36, 36, 42}, {"cheerful", "chatty", "free"}},
    {"robin", "robin", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {120, 90, 70}, {220, 90, 40}, {36, 36, 42}, {"cheerful", "brave", "early"}},
    {"crow", "crow", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {36, 36, 46}, {70, 70, 90}, {230, 230, 230}, {"clever", "sardonic", "watchful"}},
    {"raven", "raven", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {32, 32, 44}, {70, 70, 95}, {230, 230, 230}, {"cryptic", "wise", "watchful"}},
    {"duck", "duck", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, {240, 220, 80}, {250, 240, 180}, {36, 36, 42}, {"silly", "optimistic", "loud"}},
    {"dragon", "dragon", "scales", FAM_ANIMAL, EAR_HORNS, TAIL_DRAGON, X_WINGS | X_MUZZLE, {60, 150, 80}, {225, 210, 140}, {240, 190, 30}, {"proud", "fiery", "secretly kind"}},
    {"robot", "robot", "plating", FAM_ROBOT, EAR_NONE, TAIL_NONE, X_ANTENNA, {170, 180, 195}, {90, 100, 115}, {60, 200, 240}, {"literal", "helpful", "earnest"}},
    {"girl", "girl", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, {220, 80, 90}, {70, 70, 120}, {90, 60, 35}, {"brave", "curious", "stubborn"}},
    {"boy", "boy", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, {60, 110, 200}, {70, 70, 90}, {90, 60, 35}, {"energetic", "loyal", "reckless"}},
    {"child", "child", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, {240, 200, 60}, {70, 90, 140}, {90, 60, 35}, {"curious", "hopeful", "brave"}},
    {"knight", "knight", "armour", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_HELMET, {180, 185, 195}, {150, 40, 40}, {60, 90, 160}, {"noble", "steadfast", "earnest"}},
    {"wizard", "wizard", "robes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_WIZARD_HAT, {70, 60, 160}, {230, 200, 80}, {60, 90, 160}, {"wise", "eccentric", "forgetful"}},
    {"witch", "witch", "robes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_WIZARD_HAT, {60, 40, 80}, {120, 200, 90}, {90, 170, 80}, {"sharp", "wry", "secretly warm"}},
    {"detective", "detective", "coat", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_DETECTIVE_HAT, {160, 130, 90}, {90, 70, 50}, {70, 50, 35}, {"methodical", "dry-witted", "patient"}},
    {"pirate", "pirate", "coat", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_DETECTIVE_HAT, {150, 30, 40}, {40, 40, 50}, {70, 50, 35}, {"bold", "boastful", "generous"}},
    {"astronaut", "astronaut", "spacesuit", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_HELMET, {235, 235, 238}, {230, 120, 40}, {70, 90, 140}, {"calm", "precise", "adventurous"}},
    {"explorer", "explorer", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_DETECTIVE_HAT, {120, 140, 80}, {150, 110, 70}, {70, 50, 35}, {"adventurous", "resourceful", "optimistic"}},
    {"creature", "creature", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_SHORT, X_MUZZLE, {150, 110, 190}, {235, 225, 240}, {50, 40, 60}, {"curious", "friendly", "odd"}},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])
#define KIND_FALLBACK (&kinds[N_KINDS - 1])

/* ---- tokens ---- */

#define MAX_TOKENS 2048

typedef struct tokens {
    char *buf;                 /* lowercased copy, NUL-separated words */
    const char *w[MAX_TOKENS]; /* "," and "." mark clause breaks */
    int n;
} tokens;

static int tokenize(const char *text, tokens *t)
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

static int tok_is(const tokens *t, int i, const char *w)
{
    return i >= 0 && i < t->n && strcmp(t->w[i], w) == 0;
}

static int tok_any(const tokens *t, int i, const char *const *ws)
{
    for (; *ws; ws++)
        if (tok_is(t, i, *ws))
            return 1;
    return 0;
}

static const struct colour *colour_word(const char *w)
{
    for (size_t i = 0; i < N_COLOURS; i++)
        if (strcmp(colours[i].word, w) == 0)
            return &colours[i];
    return NULL;
}

static const struct kind *kind_word(const char *w)
{
    size_t n = strlen(w);
    for (size_t i = 0; i < N_KINDS; i++) {
        size_t k = strlen(kinds[i].word);
        if (strcmp(kinds[i].word, w) == 0)
            return &kinds[i];
        /* plurals: foxes, owls */
        if (n == k + 1 && w[k] == 's' && strncmp(w, kinds[i].word, k) == 0)
            return &kinds[i];
        if (n == k + 2 && strcmp(w + k, "es") == 0 && strncmp(w, kinds[i].word, k) == 0)
            return &kinds[i];
    }
    return NULL;
}

static int contains_any(const tokens *t, const char *const *ws)
{
    for (int i = 0; i < t->n; i++)
        if (tok_any(t, i, ws))
            return 1;
    return 0;
}

/* A colour word at i, adjusted by a "dark"/"light" word before it. */
static rgb colour_at(const tokens *t, int i, const struct colour *c)
{
    rgb v = c->c;
    if (tok_is(t, i - 1, "dark") || tok_is(t, i - 1, "deep")) {
        v.r = (unsigned char)(v.r * 0.65);
        v.g = (unsigned char)(v.g * 0.65);
        v.b = (unsigned char)(v.b * 0.65);
    } else if (tok_is(t, i - 1, "light") || tok_is(t, i - 1, "pale")) {
        v.r = (unsigned char)(v.r + (255 - v.r) * 0.45);
        v.g = (unsigned char)(v.g + (255 - v.g) * 0.45);
        v.b = (unsigned char)(v.b + (255 - v.b) * 0.45);
    }
    return v;
}

/* ---- figures ---- */

typedef struct figure {
    const struct kind *kind;
    rgb body, belly, eye, accent, hair, skin;
    const char *body_word, *eye_word, *accent_word;
    int has_accent; /* scarf for animals, hat band for people */
} figure;

static const char *const eye_words[] = {"eyes", "eye", "eyed", NULL};
static const char *const accent_words[] = {"scarf", "hat", "cap", "cloak", "cape", "bandana", "collar", "bow", "ribbon", "hood", NULL};
static const char *const cover_words[] = {"fur", "feathers", "plumage", "coat", "scales", "body", "plating", "robes", "clothes", "armour", "armor", "spacesuit", NULL};

/* Reads colours for the kind at token k, from the clause [from, to). */
static void parse_figure(const tokens *t, const struct kind *kind, int k, int from, int to, figure *f)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->body = kind->body;
    f->belly = kind->belly;
    f->eye = kind->eye;
    f->skin = (rgb){236, 190, 150};
    f->hair = (rgb){90, 60, 35};
    int body_set = 0;
    /* "a bright red fox": a colour just before the noun names the body */
    for (int i = k - 1; i >= from && i >= k - 3; i--) {
        if (tok_is(t, i, ",") || tok_is(t, i, "and"))
            break;
        const struct colour *c = colour_word(t->w[i]);
        if (c) {
            f->body = colour_at(t, i, c);
            f->body_word = c->word;
            body_set = 1;
            break;
        }
    }
    for (int i = from; i < to; i++) {
        const struct colour *c = colour_word(t->w[i]);
        if (!c)
            continue;
        if (tok_any(t, i + 1, eye_words) || tok_any(t, i + 2, eye_words)) {
            if (!f->eye_word) {
                f->eye = colour_at(t, i, c);
                f->eye_word = c->word;
            }
        } else if (tok_is(t, i + 1, "hair")) {
            f->hair = colour_at(t, i, c);
        } else if (tok_any(t, i + 1, accent_words) || tok_any(t, i + 2, accent_words)) {
            if (!f->has_accent) {
                f->accent = colour_at(t, i, c);
                f->accent_word = c->word;
                f->has_accent = 1;
            }
        } else if (!body_set && (tok_any(t, i + 1, cover_words) || i > k)) {
            f->body = colour_at(t, i, c);
            f->body_word = c->word;
            body_set = 1;
        }
    }
    if (!f->has_accent)
        f->accent = (rgb){(unsigned char)(255 - f->body.r / 2), (unsigned char)(200 - f->body.g / 3),
                          (unsigned char)(90 + f->body.b / 3)};
}

/* The first character described in text, or the fallback creature. */
static void figure_from_text(const char *text, figure *f)
{
    tokens t;
    if (tokenize(text, &t) != 0) {
        parse_figure(&t, KIND_FALLBACK, 0, 0, 0, f);
        return;
    }
    int k = -1;
    const struct kind *kind = KIND_FALLBACK;
    for (int i = 0; i < t.n; i++)
        if ((kind = kind_word(t.w[i])) != NULL) {
            k = i;
            break;
        }
    if (k < 0) {
        kind = KIND_FALLBACK;
        k = 0;
    }
    int to = t.n;
    for (int i = k + 1; i < t.n; i++)
        if (kind_word(t.w[i]) && kind_word(t.w[i]) != kind) {
            to = i;
            break;
        }
    parse_figure(&t, kind, k, 0, to, f);
    free(t.buf);
}

/* ---- canvas ---- */

typedef struct canvas {
    int w, h;
    unsigned char *px;
} canvas;

static int canvas_init(canvas *c, int w, int h)
{
    c->w = w;
    c->h = h;
    c->px = calloc((size_t)w * (size_t)h, 3);
    return c->px ? 0 : -1;
}

static rgb shade(rgb c, double k)
{
    double r = c.r * k, g = c.g * k, b = c.b * k;
    return (rgb){(unsigned char)(r > 255 ? 255 : r), (unsigned char)(g > 255 ? 255 : g),
                 (unsigned char)(b > 255 ? 255 : b)};
}

static rgb mix(rgb a, rgb b, double t)
{
    return (rgb){(unsigned char)(a.r + (b.r - a.r) * t), (unsigned char)(a.g + (b.g - a.g) * t),
                 (unsigned char)(a.b + (b.b - a.b) * t)};
}

static inline void plot(canvas *c, int x, int y, rgb col, double a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0)
        return;
    unsigned char *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
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

/* A filled ellipse rotated by ang radians, anti-aliased over about one pixel. */
static void ellipse(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double alpha)
{
    double R = (rx > ry ? rx : ry) + 2, ca = cos(ang), sa = sin(ang), m = rx < ry ? rx : ry;
    int x0 = (int)floor(cx - R), x1 = (int)ceil(cx + R), y0 = (int)floor(cy - R), y1 = (int)ceil(cy + R);
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 >= c->w)
        x1 = c->w - 1;
    if (y1 >= c->h)
        y1 = c->h - 1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double u = dx * ca + dy * sa, v = -dx * sa + dy * ca;
            double d = sqrt((u * u) / (rx * rx) + (v * v) / (ry * ry));
            double cov = 0.5 - (d - 1) * m;
            if (cov > 0)
                plot(c, x, y, col, (cov > 1 ? 1 : cov) * alpha);
        }
}

static void circle(canvas *c, double cx, double cy, double r, rgb col)
{
    ellipse(c, cx, cy, r, r, 0, col, 1);
}

/* Ellipse with a darker rim, the storybook outline. */
static void blob(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double s)
{
    double o = s * 0.012 + 1;
    ellipse(c, cx, cy, rx + o, ry + o, ang, shade(col, 0.45), 1);
    ellipse(c, cx, cy, rx, ry, ang, col, 1);
}

static void triangle(canvas *c, double ax, double ay, double bx, double by, double qx, double qy, rgb col)
{
    double xs[3] = {ax, bx, qx}, ys[3] = {ay, by, qy};
    double minx = fmin(ax, fmin(bx, qx)), maxx = fmax(ax, fmax(bx, qx));
    double miny = fmin(ay, fmin(by, qy)), maxy = fmax(ay, fmax(by, qy));
    double area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax);
    double sign = area < 0 ? -1 : 1;
    for (int y = (int)fmax(0, floor(miny)); y <= (int)fmin(c->h - 1, ceil(maxy)); y++)
        for (int x = (int)fmax(0, floor(minx)); x <= (int)fmin(c->w - 1, ceil(maxx)); x++) {
            double px = x + 0.5, py = y + 0.5, dmin = 1e9;
            for (int e = 0; e < 3; e++) {
                double x0 = xs[e], y0 = ys[e], x1 = xs[(e + 1) % 3], y1 = ys[(e + 1) % 3];
                double len = hypot(x1 - x0, y1 - y0);
                if (len <= 0)
                    continue;
                double d = sign * ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) / len;
                if (d < dmin)
                    dmin = d;
            }
            double cov = dmin + 0.5;
            if (cov > 0)
                plot(c, x, y, col, cov > 1 ? 1 : cov);
        }
}

static void rect(canvas *c, double x0, double y0, double x1, double y1, rgb col, double alpha)
{
    for (int y = (int)fmax(0, y0); y < (int)fmin(c->h, y1); y++)
        for (int x = (int)fmax(0, x0); x < (int)fmin(c->w, x1); x++)
            plot(c, x, y, col, alpha);
}

static void vgradient(canvas *c, int y0, int y1, rgb top, rgb bottom)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++) {
        rgb col = mix(top, bottom, (double)(y - y0) / (y1 - y0 > 1 ? y1 - y0 - 1 : 1));
        for (int x = 0; x < c->w; x++)
            plot(c, x, y, col, 1);
    }
}

/*
 * Draws a figure standing on (cx, base), s pixels tall, inside the box
 * [cx - s/2, cx + s/2] x [base - s, base] that the scorer measures.
 */
static void draw_figure(canvas *c, const figure *f, double cx, double base, double s)
{
    const struct kind *k = f->kind;
    rgb body = f->body, dark = shade(body, 0.7), belly = f->belly;
    rgb white = {250, 250, 248}, black = {25, 22, 28};
    double hy = base - 0.7 * s, hr = 0.19 * s;

    if (k->family == FAM_HUMAN) {
        rgb skin = f->skin;
        blob(c, cx - 0.07 * s, base - 0.1 * s, 0.05 * s, 0.1 * s, 0, shade(belly, 0.8), s); /* legs */
        blob(c, cx + 0.07 * s, base - 0.1 * s, 0.05 * s, 0.1 * s, 0, shade(belly, 0.8), s);
        blob(c, cx - 0.2 * s, base - 0.36 * s, 0.05 * s, 0.15 * s, 0.35, dark, s);          /* arms */
        blob(c, cx + 0.2 * s, base - 0.36 * s, 0.05 * s, 0.15 * s, -0.35, dark, s);
        blob(c, cx, base - 0.34 * s, 0.17 * s, 0.22 * s, 0, body, s);                       /* coat */
        rect(c, cx - 0.17 * s, base - 0.3 * s, cx + 0.17 * s, base - 0.26 * s, belly, 1);   /* belt */
        if (!(k->extras & X_HELMET))
            blob(c, cx, hy - 0.03 * s, 0.17 * s, 0.16 * s, 0, f->hair, s); /* hair */
        else
            blob(c, cx, hy, 0.2 * s, 0.2 * s, 0, body, s); /* helmet */
        blob(c, cx, hy + 0.02 * s, 0.15 * s, 0.15 * s, 0, skin, s);
        hr = 0.15 * s;
        hy += 0.02 * s;
    } else if (k->family == FAM_ROBOT) {
        rect(c, cx - 0.005 * s, base - 1.0 * s, cx + 0.005 * s + 2, base - 0.88 * s, shade(body, 0.5), 1);
        circle(c, cx, base - 0.97 * s, 0.03 * s, f->eye);
        rect(c, cx - 0.14 * s, base - 0.14 * s, cx - 0.06 * s, base, dark, 1);
        rect(c, cx + 0.06 * s, base - 0.14 * s, cx + 0.14 * s, base, dark, 1);
        rect(c, cx - 0.22 * s, base - 0.56 * s, cx + 0.22 * s, base - 0.13 * s, shade(body, 0.45), 1);
        rect(c, cx - 0.2 * s, base - 0.54 * s, cx + 0.2 * s, base - 0.15 * s, body, 1);
        rect(c, cx - 0.1 * s, base - 0.45 * s, cx + 0.1 * s, base - 0.25 * s, belly, 1);
        rect(c, cx - 0.19 * s, base - 0.89 * s, cx + 0.19 * s, base - 0.57 * s, shade(body, 0.45), 1);
        rect(c, cx - 0.17 * s, base - 0.87 * s, cx + 0.17 * s, base - 0.59 * s, body, 1);
        hy = base - 0.73 * s;
        hr = 0.16 * s;
    } else {
        /* tail and wings first: they sit behind the body */
        if (k->tail == TAIL_BUSHY) {
            double a = 0.65, tx = cx + 0.27 * s, ty = base - 0.2 * s;
            blob(c, tx, ty, 0.08 * s, 0.2 * s, a, body, s);
            if (k->extras & X_TIP) /* the far end of the tail's long axis */
                ellipse(c, tx + 0.15 * s * sin(a), ty - 0.15 * s * cos(a), 0.06 * s, 0.07 * s, a, white, 1);
        } else if (k->tail == TAIL_THIN) {
            blob(c, cx + 0.26 * s, base - 0.18 * s, 0.025 * s, 0.16 * s, -0.5, body, s);
        } else if (k->tail == TAIL_SHORT) {
            blob(c, cx + 0.22 * s, base - 0.2 * s, 0.05 * s, 0.07 * s, -0.6, body, s);
        } else if (k->tail == TAIL_DRAGON) {
            triangle(c, cx + 0.1 * s, base - 0.1 * s, cx + 0.1 * s, base - 0.22 * s, cx + 0.46 * s, base - 0.05 * s, dark);
        }
        if (k->extras & X_WINGS) {
            double wy = k->family == FAM_BIRD ? base - 0.36 * s : base - 0.5 * s;
            blob(c, cx - 0.23 * s, wy, 0.08 * s, 0.19 * s, 0.3, dark, s);
            blob(c, cx + 0.23 * s, wy, 0.08 * s, 0.19 * s, -0.3, dark, s);
        }
        blob(c, cx - 0.09 * s, base - 0.03 * s, 0.065 * s, 0.035 * s, 0, dark, s); /* feet */
        blob(c, cx + 0.09 * s, base - 0.03 * s, 0.065 * s, 0.035 * s, 0, dark, s);
        double bw = k->family == FAM_BIRD ? 0.22 * s : 0.19 * s;
        blob(c, cx, base - 0.3 * s, bw, 0.27 * s, 0, body, s);
        ellipse(c, cx, base - 0.25 * s, bw * 0.6, 0.18 * s, 0, belly, 1);
        if (k->family == FAM_BIRD) {
            hy = base - 0.66 * s;
            hr = 0.2 * s;
        }
        /* ears behind the head */
        for (int side = -1; side <= 1; side += 2) {
            double sx = side;
            switch (k->ears) {
            case EAR_POINTY:
                triangle(c, cx + sx * 0.04 * s, hy - 0.12 * s, cx + sx * 0.19 * s, hy - 0.08 * s,
                         cx + sx * 0.17 * s, hy - 0.3 * s, shade(body, 0.45));
                triangle(c, cx + sx * 0.06 * s, hy - 0.12 * s, cx + sx * 0.17 * s, hy - 0.09 * s,
                         cx + sx * 0.155 * s, hy - 0.27 * s, body);
                triangle(c, cx + sx * 0.09 * s, hy - 0.12 * s, cx + sx * 0.15 * s, hy - 0.11 * s,
                         cx + sx * 0.145 * s, hy - 0.22 * s, belly);
                break;
            case EAR_ROUND:
                blob(c, cx + sx * 0.14 * s, hy - 0.15 * s, 0.065 * s, 0.065 * s, 0, body, s);
                ellipse(c, cx + sx * 0.14 * s, hy - 0.15 * s, 0.035 * s, 0.035 * s, 0, belly, 1);
                break;
            case EAR_LONG:
                blob(c, cx + sx * 0.07 * s, hy - 0.28 * s, 0.045 * s, 0.15 * s, sx * 0.15, body, s);
                ellipse(c, cx + sx * 0.07 * s, hy - 0.27 * s, 0.022 * s, 0.11 * s, sx * 0.15, belly, 1);
                break;
            case EAR_TUFT:
                triangle(c, cx + sx * 0.08 * s, hy - 0.14 * s, cx + sx * 0.18 * s, hy - 0.1 * s,
                         cx + sx * 0.19 * s, hy - 0.24 * s, dark);
                break;
            case EAR_HORNS:
                triangle(c, cx + sx * 0.06 * s, hy - 0.15 * s, cx + sx * 0.12 * s, hy - 0.14 * s,
                         cx + sx * 0.14 * s, hy - 0.3 * s, (rgb){235, 220, 180});
                break;
            default:
                break;
            }
        }
        blob(c, cx, hy, hr, hr * 0.95, 0, body, s);
        if (k->ears == EAR_FLOPPY) {
            blob(c, cx - 0.19 * s, hy + 0.02 * s, 0.05 * s, 0.11 * s, 0.3, dark, s);
            blob(c, cx + 0.19 * s, hy + 0.02 * s, 0.05 * s, 0.11 * s, -0.3, dark, s);
        }
        if (k->extras & X_MUZZLE) {
            ellipse(c, cx, hy + 0.07 * s, 0.09 * s, 0.06 * s, 0, belly, 1);
            circle(c, cx, hy + 0.045 * s, 0.022 * s, black);
        }
        if (f->has_accent)
            blob(c, cx, base - 0.52 * s, 0.17 * s, 0.04 * s, 0, f->accent, s); /* scarf */
    }
    /* eyes */
    double er = k->family == FAM_BIRD ? 0.06 * s : 0.042 * s, ex = k->family == FAM_BIRD ? 0.08 * s : 0.07 * s;
    for (int side = -1; side <= 1; side += 2) {
        double x = cx + side * ex, y = hy - 0.02 * s;
        circle(c, x, y, er + 0.006 * s, shade(body, 0.4));
        circle(c, x, y, er, white);
        circle(c, x, y + er * 0.1, er * 0.72, f->eye);
        circle(c, x, y + er * 0.1, er * 0.36, black);
        circle(c, x - er * 0.3, y - er * 0.3, er * 0.18, white);
    }
    if (k->extras & X_BEAK)
        triangle(c, cx - 0.035 * s, hy + 0.04 * s, cx + 0.035 * s, hy + 0.04 * s, cx, hy + 0.11 * s,
                 (rgb){240, 160, 40});
    if (k->extras & X_WIZARD_HAT) {
        rgb hat = f->has_accent ? f->accent : shade(body, 0.8);
        ellipse(c, cx, hy - 0.12 * s, 0.22 * s, 0.035 * s, 0, shade(hat, 0.6), 1);
        triangle(c, cx - 0.14 * s, hy - 0.12 * s, cx + 0.14 * s, hy - 0.12 * s, cx + 0.04 * s, base - 1.0 * s, hat);
    } else if (k->extras & X_DETECTIVE_HAT) {
        rgb hat = f->has_accent ? f->accent : shade(body, 0.6);
        ellipse(c, cx, hy - 0.11 * s, 0.21 * s, 0.035 * s, 0, shade(hat, 0.7), 1);
        rect(c, cx - 0.12 * s, hy - 0.23 * s, cx + 0.12 * s, hy - 0.11 * s, hat, 1);
    }
}

/* ---- geometry shared by the renderer and the scorer ---- */

/* A portrait: one figure centred, 80% of the short side tall. */
static void portrait_geometry(int w, int h, double *cx, double *base, double *s)
{
    *s = 0.8 * (w < h ? w : h);
    *cx = w / 2.0;
    *base = h / 2.0 + *s / 2;
}

/* A keyframe: slot i of n figures standing near the bottom. */
static void keyframe_geometry(int w, int h, size_t i, size_t n, double *cx, double *base, double *s)
{
    *s = 0.56 * (w < h ? w : h);
    *base = 0.93 * h;
    if (n <= 1)
        *cx = 0.5 * w;
    else if (n == 2)
        *cx = (i == 0 ? 0.3 : 0.7) * w;
    else
        *cx = (0.2 + 0.6 * (double)i / (double)(n - 1)) * w;
}

static void aspect_size(const char *aspect, int short_side, int *w, int *h)
{
    int long_side = short_side * 16 / 9;
    long_side += long_side & 1;
    if (aspect && strcmp(aspect, "1:1") == 0) {
        *w = *h = short_side;
    } else if (aspect && strcmp(aspect, "9:16") == 0) {
        *w = short_side;
        *h = long_side;
    } else {
        *w = long_side;
        *h = short_side;
    }
}

/* Portrait backdrop: a plain vertical gradient that contrasts with the body, so
 * the figure can be keyed back out of the portrait row by row. */
static void portrait_backdrop(const figure *f, rgb *top, rgb *bottom)
{
    double lum = 0.3 * f->body.r + 0.59 * f->body.g + 0.11 * f->body.b;
    if (lum > 140) {
        *top = (rgb){78, 88, 110};
        *bottom = (rgb){40, 46, 62};
    } else {
        *top = (rgb){232, 232, 236};
        *bottom = (rgb){196, 200, 212};
    }
}

/* ---- scene backgrounds ---- */

enum { BG_MEADOW, BG_FOREST, BG_CITY, BG_BEACH, BG_DESERT, BG_SNOW, BG_SPACE, BG_INTERIOR, BG_MOUNTAIN };
enum { TIME_DAY, TIME_DAWN, TIME_DUSK, TIME_NIGHT };

static const char *const w_forest[] = {"forest", "woods", "wood", "jungle", "trees", "grove", NULL};
static const char *const w_city[] = {"city", "town", "street", "streets", "rooftops", "alley", "market", NULL};
static const char *const w_beach[] = {"beach", "sea", "ocean", "coast", "shore", "harbor", "harbour", "island", NULL};
static const char *const w_desert[] = {"desert", "dunes", "sand", "canyon", NULL};
static const char *const w_snow[] = {"snow", "snowy", "winter", "ice", "arctic", "frozen", "blizzard", NULL};
static const char *const w_space[] = {"space", "planet", "moonbase", "galaxy", "spaceship", "asteroid", NULL};
static const char *const w_interior[] = {"room", "library", "house", "kitchen", "castle", "school", "cave", "inside", "shop", "museum", NULL};
static const char *const w_mountain[] = {"mountain", "mountains", "peak", "cliff", "hills", "valley", NULL};
static const char *const w_night[] = {"night", "midnight", "moonlight", "moonlit", "starry", "stars", "dark", NULL};
static const char *const w_dusk[] = {"dusk", "sunset", "evening", "twilight", NULL};
static const char *const w_dawn[] = {"dawn", "sunrise", "morning", NULL};
static const char *const w_autumn[] = {"autumn", "fall", "autumnal", NULL};

static int scene_kind(const tokens *t)
{
    if (contains_any(t, w_space))
        return BG_SPACE;
    if (contains_any(t, w_interior))
        return BG_INTERIOR;
    if (contains_any(t, w_forest))
        return BG_FOREST;
    if (contains_any(t, w_city))
        return BG_CITY;
    if (contains_any(t, w_beach))
        return BG_BEACH;
    if (contains_any(t, w_desert))
        return BG_DESERT;
    if (contains_any(t, w_snow))
        return BG_SNOW;
    if (contains_any(t, w_mountain))
        return BG_MOUNTAIN;
    return BG_MEADOW;
}

static int scene_time(const tokens *t)
{
    if (contains_any(t, w_night))
        return TIME_NIGHT;
    if (contains_any(t, w_dusk))
        return TIME_DUSK;
    if (contains_any(t, w_dawn))
        return TIME_DAWN;
    return TIME_DAY;
}

static void draw_background(canvas *c, const tokens *t, uint64_t seed)
{
    uint64_t rs = seed;
    int kind = scene_kind(t), when = scene_time(t), autumn = contains_any(t, w_autumn);
    int W = c->w, H = c->h;
    double hz = 0.62 * H;
    rgb sky_top, sky_low;
    switch (when) {
    case TIME_NIGHT: sky_top = (rgb){10, 14, 42}; sky_low = (rgb){38, 48, 96}; break;
    case TIME_DUSK: sky_top = (rgb){110, 70, 140}; sky_low = (rgb){250, 145, 90}; break;
    case TIME_DAWN: sky_top = (rgb){160, 170, 220}; sky_low = (rgb){252, 205, 175}; break;
    default: sky_top = (rgb){105, 170, 232}; sky_low = (rgb){205, 228, 246}; break;
    }
    double dim = when == TIME_NIGHT ? 0.45 : when == TIME_DUSK ? 0.75 : 1.0;
    rgb ground;
    switch (kind) {
    case BG_FOREST: ground = autumn ? (rgb){140, 95, 45} : (rgb){55, 110, 50}; break;
    case BG_CITY: ground = (rgb){95, 95, 102}; break;
    case BG_BEACH: ground = (rgb){232, 212, 165}; break;
    case BG_DESERT: ground = (rgb){222, 182, 112}; break;
    case BG_SNOW: ground = (rgb){236, 240, 248}; break;
    case BG_SPACE: ground = (rgb){120, 115, 130}; sky_top = (rgb){4, 4, 14}; sky_low = (rgb){20, 18, 44}; break;
    case BG_MOUNTAIN: ground = (rgb){90, 130, 70}; break;
    case BG_INTERIOR: ground = (rgb){120, 82, 52}; sky_top = (rgb){175, 145, 112}; sky_low = (rgb){196, 168, 130}; break;
    default: ground = autumn ? (rgb){170, 140, 60} : (rgb){100, 165, 72}; break;
    }
    if (kind == BG_INTERIOR)
        dim = when == TIME_NIGHT ? 0.7 : 1.0;
    vgradient(c, 0, (int)hz, sky_top, sky_low);
    vgradient(c, (int)hz, H, shade(ground, dim), shade(ground, dim * 0.8));
    if (kind == BG_SPACE || when == TIME_NIGHT)
        for (int i = 0; i < 140; i++) {
            double x = rng_unit(&rs) * W, y = rng_unit(&rs) * hz * 0.95, r = 0.6 + rng_unit(&rs) * 1.6;
            ellipse(c, x, y, r, r, 0, (rgb){255, 250, 225}, 0.6 + 0.4 * rng_unit(&rs));
        }
    if (when == TIME_NIGHT && kind != BG_INTERIOR)
        circle(c, 0.82 * W, 0.16 * H, 0.05 * H, (rgb){245, 240, 210});
    else if (kind == BG_DESERT || kind == BG_BEACH || when == TIME_DUSK)
        circle(c, 0.18 * W, (when == TIME_DUSK ? 0.5 : 0.18) * H, 0.07 * H, (rgb){255, 220, 120});
    switch (kind) {
    case BG_FOREST:
        for (int i = 0; i < 14; i++) {
            double x = rng_unit(&rs) * W, th = (0.18 + 0.12 * rng_unit(&rs)) * H, tw = 0.018 * W;
            double fy = hz + rng_unit(&rs) * 0.12 * H;
            rgb trunk = shade((rgb){95, 62, 38}, dim), leaf;
            if (autumn) {
                static const rgb fall[] = {{205, 90, 30}, {225, 150, 40}, {175, 55, 35}, {200, 170, 60}};
                leaf = fall[rng_next(&rs) % 4];
            } else {
                leaf = mix((rgb){40, 120, 50}, (rgb){80, 150, 60}, rng_unit(&rs));
            }
            rect(c, x - tw / 2, fy - th, x + tw / 2, fy, trunk, 1);
            ellipse(c, x, fy - th, 0.06 * W, 0.13 * H, 0, shade(leaf, dim), 1);
            ellipse(c, x - 0.03 * W, fy - th + 0.05 * H, 0.045 * W, 0.09 * H, 0, shade(leaf, dim * 0.85), 1);
        }
        break;
    case BG_CITY:
        for (double x = 0; x < W;) {
            double bw = (0.06 + 0.07 * rng_unit(&rs)) * W, bh = (0.2 + 0.3 * rng_unit(&rs)) * H;
            rgb wall = shade(mix((rgb){120, 110, 120}, (rgb){170, 150, 130}, rng_unit(&rs)), dim);
            rect(c, x, hz - bh, x + bw - 4, hz, wall, 1);
            for (double wy = hz - bh + 12; wy < hz - 16; wy += 0.05 * H)
                for (double wx = x + 8; wx < x + bw - 16; wx += 0.025 * W)
                    rect(c, wx, wy, wx + 0.012 * W, wy + 0.025 * H,
                         when == TIME_NIGHT && rng_unit(&rs) < 0.6 ? (rgb){250, 215, 110} : shade(wall, 0.6), 1);
            x += bw;
        }
        break;
    case BG_BEACH:
        vgradient(c, (int)hz, (int)(hz + 0.1 * H), shade((rgb){40, 120, 185}, dim), shade((rgb){90, 170, 200}, dim));
        break;
    case BG_DESERT:
        for (int i = 0; i < 4; i++)
            ellipse(c, rng_unit(&rs) * W, hz + 0.03 * H, 0.25 * W, 0.06 * H, 0, shade((rgb){210, 165, 95}, dim), 1);
        break;
    case BG_SNOW:
    case BG_MOUNTAIN:
        for (int i = 0; i < 5; i++) {
            double x = rng_unit(&rs) * W, mh = (0.2 + 0.2 * rng_unit(&rs)) * H, mw = (0.15 + 0.1 * rng_unit(&rs)) * W;
            triangle(c, x - mw, hz, x + mw, hz, x, hz - mh, shade((rgb){120, 125, 140}, dim));
            triangle(c, x - mw * 0.3, hz - mh * 0.7, x + mw * 0.3, hz - mh * 0.7, x, hz - mh, shade((rgb){245, 248, 252}, dim));
        }
        if (kind == BG_SNOW)
            for (int i = 0; i < 120; i++)
                circle(c, rng_unit(&rs) * W, rng_unit(&rs) * H, 1.5 + 2 * rng_unit(&rs), (rgb){250, 252, 255});
        break;
    case BG_SPACE:
        circle(c, 0.75 * W, 0.3 * H, 0.14 * H, (rgb){200, 120, 90});
        ellipse(c, 0.75 * W, 0.3 * H, 0.25 * H, 0.03 * H, -0.2, (rgb){230, 200, 160}, 0.7);
        break;
    case BG_INTERIOR:
        for (int i = 0; i < 3; i++) {
            double x = (0.15 + 0.33 * i) * W;
            rect(c, x, 0.12 * H, x + 0.16 * W, 0.42 * H, shade((rgb){90, 60, 40}, dim), 1);
            for (int r = 0; r < 4; r++)
                rect(c, x + 6, 0.14 * H + r * 0.07 * H, x + 0.16 * W - 6, 0.19 * H + r * 0.07 * H,
                     shade(mix((rgb){150, 40, 40}, (rgb){40, 90, 140}, rng_unit(&rs)), dim), 1);
        }
        break;
    default:
        for (int i = 0; i < 3; i++)
            ellipse(c, (0.2 + 0.3 * i) * W, hz + 0.02 * H, 0.3 * W, 0.08 * H, 0,
                    shade(mix(ground, (rgb){60, 130, 60}, 0.3 * i), dim), 1);
        break;
    }
}

/* Blends the background toward a coarse 16x9 colour grid of the previous
 * keyframe: the same light and palette carry over between scenes. */
static void blend_palette(canvas *c, const unsigned char *prev, double amount)
{
    enum { GX = 16, GY = 9 };
    double grid[GY][GX][3] = {{{0}}};
    int cnt[GY][GX] = {{0}};
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            const unsigned char *p = prev + ((size_t)y * c->w + x) * 3;
            int gx = x * GX / c->w, gy = y * GY / c->h;
            grid[gy][gx][0] += p[0];
            grid[gy][gx][1] += p[1];
            grid[gy][gx][2] += p[2];
            cnt[gy][gx]++;
        }
    for (int gy = 0; gy < GY; gy++)
        for (int gx = 0; gx < GX; gx++)
            for (int k = 0; k < 3; k++)
                grid[gy][gx][k] /= cnt[gy][gx] ? cnt[gy][gx] : 1;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            const double *g = grid[y * GY / c->h][x * GX / c->w];
            unsigned char *p = c->px + ((size_t)y * c->w + x) * 3;
            for (int k = 0; k < 3; k++)
                p[k] = (unsigned char)(p[k] * (1 - amount) + g[k] * amount);
        }
}

/* ---- keying figures back out of portraits ---- */

/* 1 where the pixel differs from its row's backdrop (sampled at both edges). */
static int is_figure(const unsigned char *px, int w, int x, int y)
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

/* ---- colour statistics ---- */

#define HL 5 /* levels per channel of the soft histogram */
#define HN (HL * HL * HL)

typedef struct hist {
    double b[HN];                 /* soft (trilinear) counts */
    double hard[HN], sum[HN][3];  /* hard bins with colour sums, for naming */
    double total;
} hist;

static void hist_add(hist *h, const unsigned char *p)
{
    int i0[3], i1[3];
    double t[3];
    for (int k = 0; k < 3; k++) {
        double f = p[k] * (HL - 1) / 255.0;
        i0[k] = (int)f;
        if (i0[k] > HL - 2)
            i0[k] = HL - 2;
        t[k] = f - i0[k];
        i1[k] = i0[k] + 1;
    }
    for (int c = 0; c < 8; c++) {
        int r = c & 1 ? i1[0] : i0[0], g = c & 2 ? i1[1] : i0[1], b = c & 4 ? i1[2] : i0[2];
        double w = (c & 1 ? t[0] : 1 - t[0]) * (c & 2 ? t[1] : 1 - t[1]) * (c & 4 ? t[2] : 1 - t[2]);
        h->b[(r * HL + g) * HL + b] += w;
    }
    int hb = ((int)(p[0] * HL / 256) * HL + (int)(p[1] * HL / 256)) * HL + (int)(p[2] * HL / 256);
    h->hard[hb] += 1;
    for (int k = 0; k < 3; k++)
        h->sum[hb][k] += p[k];
    h->total += 1;
}

/* The mean colour of the nth most populated hard bin (n = 0, 1). */
static rgb hist_dominant(const hist *h, int nth)
{
    int best[2] = {-1, -1};
    for (int i = 0; i < HN; i++) {
        if (best[0] < 0 || h->hard[i] > h->hard[best[0]]) {
            best[1] = best[0];
            best[0] = i;
        } else if (best[1] < 0 || h->hard[i] > h->hard[best[1]]) {
            best[1] = i;
        }
    }
    int i = best[nth < 0 || nth > 1 ? 0 : nth];
    if (i < 0 || h->hard[i] <= 0)
        return (rgb){0, 0, 0};
    return (rgb){(unsigned char)(h->sum[i][0] / h->hard[i]), (unsigned char)(h->sum[i][1] / h->hard[i]),
                 (unsigned char)(h->sum[i][2] / h->hard[i])};
}

static const char *colour_name(rgb c)
{
    static const struct { const char *name; rgb c; } basic[] = {
        {"red", {200, 48, 40}},    {"orange", {232, 122, 30}}, {"amber", {250, 172, 10}},
        {"yellow", {238, 208, 45}}, {"green", {60, 160, 72}},  {"teal", {25, 135, 140}},
        {"blue", {50, 100, 212}},  {"navy", {30, 42, 110}},    {"purple", {128, 60, 172}},
        {"pink", {240, 130, 172}}, {"brown", {125, 80, 45}},   {"tan", {210, 178, 135}},
        {"cream", {244, 230, 198}}, {"grey", {135, 136, 142}}, {"silver", {192, 195, 202}},
        {"black", {36, 36, 42}},   {"white", {245, 245, 242}},
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

/* Histogram of the region of img (w x h) around box centre (bx, by) half-size (hw, hh). */
static void region_hist(const unsigned char *img, int w, int h, double bx, double by, double hw, double hh, hist *out)
{
    memset(out, 0, sizeof *out);
    int x0 = (int)fmax(0, bx - hw), x1 = (int)fmin(w, bx + hw), y0 = (int)fmax(0, by - hh), y1 = (int)fmin(h, by + hh);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            hist_add(out, img + ((size_t)y * w + x) * 3);
}

/* Fraction of the expected figure colours found in the region: expected is the
 * reference histogram scaled to `expect` pixels; 1.0 when all are there. */
static double hist_match(const hist *ref, const hist *region, double expect)
{
    if (ref->total <= 0 || expect <= 0)
        return 0;
    double hit = 0;
    for (int i = 0; i < HN; i++) {
        double want = ref->b[i] / ref->total * expect;
        hit += want < region->b[i] ? want : region->b[i];
    }
    double s = hit / expect;
    return s > 1 ? 1 : s;
}

/* ---- text helpers ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n + 64) * 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
}

/* Takes the buffer's string (never NULL unless out of memory). */
static char *sb_take(sbuf *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s)
        return strdup("");
    return b->s;
}

static char *xstrdup(const char *s, int *oom)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *oom = 1;
    return d;
}

static int word_count(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        int w = !isspace((unsigned char)*s);
        if (w && !in)
            n++;
        in = w;
    }
    return n;
}

static void capitalize_into(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
    if (dst[0])
        dst[0] = (char)toupper((unsigned char)dst[0]);
}

/* ---- the planner ---- */

#define MAX_CAST 3

typedef struct cast {
    figure fig;
    char name[32];
    const char *colour_word; /* the body colour as a word */
    const char *eye_word;
} cast;

static const char *const preps[] = {"in", "at", "on", "through", "across", "under", "near", "inside", "by", "into", "beneath", "during", "within", NULL};
static const char *const skip_words[] = {"a", "an", "the", "and", "who", "to", "together", "with", "two", "three", NULL};

/* The setting phrase ("autumn forest") and the plot phrase ("solve a mystery"). */
static void concept_phrases(const tokens *t, int last_kind, char *setting, size_t slen, char *plot, size_t plen)
{
    static const char *const places[] = {"forest", "woods", "jungle", "city", "town", "village", "beach", "sea",
                                         "ocean", "coast", "island", "desert", "mountains", "mountain", "valley",
                                         "library", "castle", "house", "kitchen", "school", "cave", "space",
                                         "planet", "meadow", "garden", "river", "lake", "harbor", "market", NULL};
    const char *place = NULL, *season = NULL;
    for (int i = 0; i < t->n && !place; i++)
        if (tok_any(t, i, places))
            place = t->w[i];
    static const char *const seasons[] = {"autumn", "winter", "spring", "summer", "snowy", "misty", "rainy", "enchanted", "haunted", "moonlit", "sunny", "ancient", NULL};
    for (int i = 0; i < t->n && !season; i++)
        if (tok_any(t, i, seasons))
            season = t->w[i];
    if (!place)
        place = "meadow";
    snprintf(setting, slen, "%s%s%s", season ? season : "", season ? " " : "", place);

    size_t pl = 0;
    plot[0] = '\0';
    int started = 0;
    for (int i = last_kind + 1; i < t->n; i++) {
        const char *w = t->w[i];
        if (tok_any(t, i, preps) || strcmp(w, ",") == 0)
            break;
        if (!started && tok_any(t, i, skip_words))
            continue;
        if (!started && colour_word(w))
            continue;
        if (!started && (strcmp(w, "with") == 0 || tok_any(t, i + 1, eye_words)))
            continue;
        started = 1;
        int n = snprintf(plot + pl, plen - pl, "%s%s", pl ? " " : "", w);
        if (n < 0 || (size_t)n >= plen - pl)
            break;
        pl += (size_t)n;
    }
    if (!plot[0])
        snprintf(plot, plen, "go on an adventure");
}

static int find_cast(const tokens *t, uint64_t *rs, cast *out, int *last_kind)
{
    int n = 0, pos[MAX_CAST];
    const struct kind *found[MAX_CAST];
    *last_kind = -1;
    for (int i = 0; i < t->n && n < MAX_CAST; i++) {
        const struct kind *k = kind_word(t->w[i]);
        if (!k || k == KIND_FALLBACK)
            continue;
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= found[j] == k;
        if (dup)
            continue;
        found[n] = k;
        pos[n++] = i;
        *last_kind = i;
    }
    if (n == 0) {
        found[0] = &kinds[N_KINDS - 2]; /* an explorer */
        pos[0] = 0;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        int from = i > 0 ? pos[i - 1] + 1 : 0, to = i + 1 < n ? pos[i + 1] : t->n;
        /* the clause of this character: from the previous noun to the next */
        parse_figure(t, found[i], pos[i], from, to, &out[i].fig);
        figure *f = &out[i].fig;
        out[i].colour_word = f->body_word;
        out[i].eye_word = f->eye_word;
        if (!out[i].colour_word) {
            /* name the kind's default body colour after the nearest colour word */
            double bd = 1e18;
            for (size_t c = 0; c < N_COLOURS; c++) {
                double dr = f->body.r - colours[c].c.r, dg = f->body.g - colours[c].c.g, db = f->body.b - colours[c].c.b;
                double d = dr * dr + dg * dg + db * db;
                if (d < bd) {
                    bd = d;
                    out[i].colour_word = colours[c].word;
                }
            }
        }
        if (!out[i].eye_word)
            out[i].eye_word = colour_name(f->eye);
        const struct colour *cw = colour_word(out[i].colour_word);
        int fam = cw ? cw->family : CF_BROWN;
        int pick = (int)(rng_next(rs) % 3);
        for (int tries = 0; tries < 3; tries++) {
            const char *nm = colour_names[fam][(pick + tries) % 3];
            int taken = 0;
            for (int j = 0; j < i; j++)
                taken |= strcmp(out[j].name, nm) == 0;
            snprintf(out[i].name, sizeof out[i].name, "%s", nm);
            if (!taken)
                break;
        }
    }
    return n;
}

static char *describe(const cast *c)
{
    const figure *f = &c->fig;
    const struct kind *k = f->kind;
    sbuf b = {0};
    const char *belly = colour_name(f->belly), *body = c->colour_word;
    sb_printf(&b, "%s is a small %s %s with smooth %s %s (#%02x%02x%02x) and a soft %s chest and belly "
                  "(#%02x%02x%02x). ",
              c->name, body, k->label, body, k->cover, f->body.r, f->body.g, f->body.b, belly, f->belly.r,
              f->belly.g, f->belly.b);
    sb_printf(&b, "%s has large round %s eyes (#%02x%02x%02x) with dark pupils and a bright white highlight",
              c->name, c->eye_word, f->eye.r, f->eye.g, f->eye.b);
    switch (k->ears) {
    case EAR_POINTY: sb_printf(&b, ", tall pointed ears with %s insides", belly); break;
    case EAR_ROUND: sb_printf(&b, ", small rounded ears"); break;
    case EAR_LONG: sb_printf(&b, ", long upright ears with %s insides", belly); break;
    case EAR_TUFT: sb_printf(&b, ", two dark feather tufts like ears"); break;
    case EAR_FLOPPY: sb_printf(&b, ", soft floppy ears a shade darker than the body"); break;
    case EAR_HORNS: sb_printf(&b, ", two short pale horns"); break;
    default: break;
    }
    if (k->extras & X_MUZZLE)
        sb_printf(&b, ", a %s muzzle and a small black nose", belly);
    if (k->extras & X_BEAK)
        sb_printf(&b, ", a short orange beak");
    sb_printf(&b, ". ");
    if (k->tail == TAIL_BUSHY)
        sb_printf(&b, "A big bushy %s tail curls behind %s%s. ", body, c->name, (k->extras & X_TIP) ? ", tipped in white" : "");
    else if (k->tail == TAIL_THIN)
        sb_printf(&b, "A thin %s tail curls behind. ", body);
    else if (k->tail != TAIL_NONE)
        sb_printf(&b, "A short %s tail peeks out behind. ", body);
    if (k->extras & X_WINGS)
        sb_printf(&b, "Folded wings a shade darker than the body rest at the sides. ");
    if (k->extras & X_WIZARD_HAT)
        sb_printf(&b, "A tall pointed hat sits on the head. ");
    if (k->extras & X_DETECTIVE_HAT)
        sb_printf(&b, "A flat-brimmed hat sits on the head. ");
    if (k->extras & X_ANTENNA)
        sb_printf(&b, "A thin antenna with a glowing tip rises from the square head. ");
    if (f->has_accent)
        sb_printf(&b, "%s always wears a %s scarf (#%02x%02x%02x) around the neck. ", c->name, f->accent_word,
                  f->accent.r, f->accent.g, f->accent.b);
    sb_printf(&b, "%s stands upright in a friendly storybook pose, facing the viewer, drawn with a darker %s "
                  "outline and soft painterly shading. ",
              c->name, body);
    sb_printf(&b, "Consistency notes: the %s %s is identical in every image, never another colour and never "
                  "patterned; the %s eyes, the %s belly and the proportions never change.",
              body, k->cover, c->eye_word, belly);
    return sb_take(&b);
}

static const char *const cameras[] = {"slow drift", "push-in", "pan left", "static"};

static gs_plan *local_plan_story(gs_provider *p, const char *concept, int n_scenes, uint64_t seed, char *err,
                                 size_t errlen)
{
    (void)p;
    if (!concept || !*concept) {
        seterr(err, errlen, "plan_story: empty concept");
        return NULL;
    }
    if (n_scenes < 1 || n_scenes > 12)
        n_scenes = 3;
    tokens t;
    if (tokenize(concept, &t) != 0) {
        seterr(err, errlen, "plan_story: out of memory");
        return NULL;
    }
    uint64_t rs = hash_str(concept, seed);
    cast cs[MAX_CAST];
    int last_kind = -1;
    int nc = find_cast(&t, &rs, cs, &last_kind);
    char setting[96], plot[256];
    concept_phrases(&t, last_kind, setting, sizeof setting, plot, sizeof plot);
    int when = scene_time(&t);
    const char *style = "warm storybook illustration, soft painterly shading, gentle rim light";
    static const char *const w_water[] = {"watercolor", "watercolour", NULL};
    static const char *const w_pixel[] = {"pixel", "8-bit", "retro", NULL};
    static const char *const w_noir[] = {"noir", NULL};
    if (contains_any(&t, w_water))
        style = "soft watercolour storybook illustration, textured paper, loose washes";
    else if (contains_any(&t, w_pixel))
        style = "crisp pixel-art look, limited palette, clean silhouettes";
    else if (contains_any(&t, w_noir))
        style = "moody film-noir illustration, deep shadows, single warm light";
    free(t.buf);

    int oom = 0;
    gs_plan *plan = calloc(1, sizeof *plan);
    if (!plan) {
        seterr(err, errlen, "plan_story: out of memory");
        return NULL;
    }
    plan->characters = calloc((size_t)nc, sizeof *plan->characters);
    plan->scenes = calloc((size_t)n_scenes, sizeof *plan->scenes);
    if (!plan->characters || !plan->scenes)
        goto oom;
    plan->n_characters = (size_t)nc;
    plan->n_scenes = (size_t)n_scenes;

    char names[160] = "", plot_title[256];
    for (int i = 0; i < nc; i++) {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", i == 0 ? "" : (i == nc - 1 ? " and " : ", "), cs[i].name);
    }
    capitalize_into(plot_title, sizeof plot_title, plot);
    for (char *q = plot_title; *q; q++)
        if (q > plot_title && q[-1] == ' ' && strncmp(q, "a ", 2) && strncmp(q, "the ", 4) && strncmp(q, "of ", 3))
            *q = (char)toupper((unsigned char)*q);
    {
        sbuf b = {0};
        sb_printf(&b, "%s %s", names, plot_title);
        plan->title = sb_take(&b);
    }
    plan->style = xstrdup(style, &oom);
    plan->aspect_ratio = xstrdup("16:9", &oom);
    {
        sbuf b = {0};
        for (int i = 0; i < nc; i++)
            sb_printf(&b, "%s%s", i ? ", " : "", cs[i].colour_word);
        sb_printf(&b, ", %s", cs[0].eye_word);
        if (strstr(setting, "forest"))
            sb_printf(&b, strstr(setting, "autumn") ? ", burnt orange, moss green, deep gold" : ", moss green, bark brown, dappled gold");
        else if (strstr(setting, "city") || strstr(setting, "town"))
            sb_printf(&b, ", brick red, slate grey, lamplight yellow");
        else if (strstr(setting, "beach") || strstr(setting, "sea") || strstr(setting, "ocean"))
            sb_printf(&b, ", sea blue, sand beige, coral");
        else
            sb_printf(&b, ", meadow green, sky blue, soft cream");
        plan->color_palette = sb_take(&b);
    }
    for (int i = 0; i < nc; i++) {
        gs_character *c = &plan->characters[i];
        static const char *const roles[] = {"protagonist", "companion", "wildcard"};
        sbuf b = {0};
        sb_printf(&b, "%s — the %s %s", roles[i], cs[i].colour_word, cs[i].fig.kind->label);
        c->role = sb_take(&b);
        c->name = xstrdup(cs[i].name, &oom);
        c->visual_description = describe(&cs[i]);
        c->personality_cues = calloc(3, sizeof(char *));
        if (!c->role || !c->visual_description || !c->personality_cues)
            goto oom;
        c->n_personality_cues = 3;
        for (int k = 0; k < 3; k++)
            c->personality_cues[k] = xstrdup(cs[i].fig.kind->cues[k], &oom);
    }
    static const char *const times[] = {"in warm morning light", "as dusk falls", "under a starry night sky"};
    static const char *const spots[] = {"a sunlit clearing at the edge of the", "a winding path deep in the", "the hidden heart of the"};
    static const char *const moods[] = {"curious and hopeful", "tense and mysterious", "warm and triumphant", "playful"};
    static const char *const titles_first[] = {"The First Clue", "Setting Out", "A Strange Sign"};
    static const char *const titles_mid[] = {"Into the Shadows", "A Turn in the Path", "The Hidden Trail"};
    static const char *const titles_last[] = {"The Answer", "Together at Last", "Home Again"};
    for (int s = 0; s < n_scenes; s++) {
        gs_scene *sc = &plan->scenes[s];
        int phase = s == 0 ? 0 : (s == n_scenes - 1 ? 2 : 1);
        int tphase = (s * 3) / n_scenes;
        if (tphase > 2)
            tphase = 2;
        if (when == TIME_NIGHT)
            tphase = 2;
        const char *a, *b2 = NULL;
        if (nc == 1) {
            a = cs[0].name;
        } else if (nc == 2) {
            a = cs[0].name;
            b2 = cs[1].name;
        } else {
            static const int pairs[3][2] = {{0, 1}, {1, 2}, {0, 2}};
            a = cs[pairs[s % 3][0]].name;
            b2 = cs[pairs[s % 3][1]].name;
        }
        sc->scene_id = s + 1;
        sc->n_characters_present = b2 ? 2 : 1;
        sc->characters_present = calloc(sc->n_characters_present, sizeof(char *));
        if (!sc->characters_present)
            goto oom;
        sc->characters_present[0] = xstrdup(a, &oom);
        if (b2)
            sc->characters_present[1] = xstrdup(b2, &oom);
        const char *const *tl = phase == 0 ? titles_first : phase == 1 ? titles_mid : titles_last;
        sc->title = xstrdup(tl[rng_next(&rs) % 3], &oom);
        sbuf sb = {0};
        sb_printf(&sb, "%s %s %s", spots[phase], setting, times[tphase]);
        sc->setting = sb_take(&sb);
        sc->camera = xstrdup(cameras[s % 4], &oom);
        sc->mood = xstrdup(phase == 1 && s % 2 == 0 ? moods[3] : moods[phase], &oom);
        char who[80];
        snprintf(who, sizeof who, "%s%s%s", a, b2 ? " and " : "", b2 ? b2 : "");
        sbuf ab = {0};
        if (phase == 0)
            sb_printf(&ab, "%s set out to %s; %s points ahead at the first clue", who, plot, a);
        else if (phase == 1)
            sb_printf(&ab, "%s hit a setback while trying to %s; %s leans in to study a clue", who, plot, b2 ? b2 : a);
        else
            sb_printf(&ab, "%s finally %s and celebrate together", who, plot);
        sc->action = sb_take(&ab);
        sbuf db = {0};
        sb_printf(&db, "%s in %s: %s.", who, sc->setting ? sc->setting : "", sc->action ? sc->action : "");
        sc->description = sb_take(&db);
        sc->duration_seconds = 8;
        sc->transition = xstrdup("cut", &oom);
        if (!sc->title || !sc->setting || !sc->camera || !sc->mood || !sc->action || !sc->description || !sc->transition)
            goto oom;
    }
    for (int i = 0; i < nc; i++)
        if (!plan->characters[i].name)
            goto oom;
    if (oom || !plan->title || !plan->style || !plan->aspect_ratio || !plan->color_palette)
        goto oom;
    for (int i = 0; i < nc; i++)
        if (word_count(plan->characters[i].visual_description) < 80) {
            seterr(err, errlen, "plan_story: description of %s too short", plan->characters[i].name);
            gs_plan_free(plan);
            return NULL;
        }
    return plan;
oom:
    gs_plan_free(plan);
    seterr(err, errlen, "plan_story: out of memory");
    return NULL;
}

/* ---- the provider ---- */

typedef struct local_provider {
    gs_provider base;
} local_provider;

static atomic_uint scratch_counter;

/* A scratch file next to out: "<out>.local-<pid>-<n>.<ext>". */
static void scratch_name(const char *out, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s.local-%d-%u.%s", out, (int)getpid(), atomic_fetch_add(&scratch_counter, 1), ext);
}

static int local_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                                double *cost, char *err, size_t errlen)
{
    *cost = 0;
    int w, h;
    aspect_size(aspect, 720, &w, &h);
    figure f;
    figure_from_text(prompt, &f);
    canvas c;
    if (canvas_init(&c, w, h) != 0) {
        seterr(err, errlen, "generate_image: out of memory");
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
    draw_figure(&c, &f, cx, base, s);
    int rc = gs_media_write_png(c.px, w, h, out_path, err, errlen);
    free(c.px);
    return rc;
}

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

/* Reads a character sheet scaled so its figure is s pixels tall; sets the
 * figure's centre and base in the scaled image. */
static unsigned char *read_sheet(const char *path, double s, int *rw, int *rh, double *cx, double *base,
                                 char *err, size_t errlen)
{
    gs_media_info info;
    if (gs_media_probe(path, &info, err, errlen) != 0)
        return NULL;
    if (info.width <= 0 || info.height <= 0) {
        seterr(err, errlen, "%s: not an image", path);
        return NULL;
    }
    double pcx, pbase, ps;
    portrait_geometry(info.width, info.height, &pcx, &pbase, &ps);
    double f = s / ps;
    *rw = (int)(info.width * f + 0.5);
    *rh = (int)(info.height * f + 0.5);
    if (*rw < 16)
        *rw = 16;
    if (*rh < 16)
        *rh = 16;
    *cx = pcx * *rw / info.width;
    *base = pbase * *rh / info.height;
    return gs_media_read_rgb(path, *rw, *rh, err, errlen);
}

static int local_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                            const char *out_path, double *cost, char *err, size_t errlen)
{
    *cost = 0;
    if (n_refs < 1 || n_refs > 3) {
        seterr(err, errlen, "edit_image: 1 to 3 reference images expected, got %zu", n_refs);
        return -1;
    }
    gs_media_info info;
    if (gs_media_probe(refs[0], &info, err, errlen) != 0)
        return -1;
    int w = info.width > 0 ? info.width : 1280, h = info.height > 0 ? info.height : 720;
    int order[3], base_ref;
    size_t n_fig = classify_refs(prompt, n_refs, order, &base_ref);
    canvas c;
    if (canvas_init(&c, w, h) != 0) {
        seterr(err, errlen, "edit_image: out of memory");
        return -1;
    }
    int rc = -1;
    unsigned char *prev = NULL;
    tokens t;
    if (tokenize(prompt, &t) != 0) {
        seterr(err, errlen, "edit_image: out of memory");
        goto done;
    }
    draw_background(&c, &t, hash_str(prompt, p->seed));
    free(t.buf);
    if (base_ref >= 0) {
        if (!(prev = gs_media_read_rgb(refs[base_ref], w, h, err, errlen)))
            goto done;
        if (n_fig == 0) {
            /* a single-image edit: keep the picture, apply the prompt's light */
            memcpy(c.px, prev, (size_t)w * h * 3);
        } else {
            blend_palette(&c, prev, 0.22);
        }
    }
    for (size_t i = 0; i < n_fig; i++) {
        double kcx, kbase, ks;
        keyframe_geometry(w, h, i, n_fig, &kcx, &kbase, &ks);
        ellipse(&c, kcx, kbase, 0.28 * ks, 0.035 * ks, 0, (rgb){0, 0, 0}, 0.28); /* ground shadow */
        int rw, rh;
        double scx, sbase;
        unsigned char *sheet = read_sheet(refs[order[i]], ks, &rw, &rh, &scx, &sbase, err, errlen);
        if (!sheet)
            goto done;
        int dx = (int)lround(kcx - scx), dy = (int)lround(kbase - sbase);
        for (int y = (int)fmax(0, sbase - ks); y < (int)fmin(rh, sbase + 1); y++)
            for (int x = (int)fmax(7, scx - 0.5 * ks); x < (int)fmin(rw - 4, scx + 0.5 * ks); x++)
                if (is_figure(sheet, rw, x, y)) {
                    const unsigned char *q = sheet + ((size_t)y * rw + x) * 3;
                    plot(&c, x + dx, y + dy, (rgb){q[0], q[1], q[2]}, 1);
                }
        free(sheet);
    }
    rc = gs_media_write_png(c.px, w, h, out_path, err, errlen);
done:
    free(prev);
    free(c.px);
    return rc;
}

static gs_motion motion_from_text(const char *prompt)
{
    tokens t;
    gs_motion m = GS_MOTION_DRIFT;
    if (tokenize(prompt, &t) != 0)
        return m;
    for (int i = 0; i < t.n; i++) {
        const char *w = t.w[i];
        if (!strcmp(w, "push-in") || !strcmp(w, "dolly-in") ||
            ((!strcmp(w, "push") || !strcmp(w, "zoom") || !strcmp(w, "dolly")) && tok_is(&t, i + 1, "in"))) {
            m = GS_MOTION_PUSH_IN;
            break;
        }
        if (!strcmp(w, "pull-out") || !strcmp(w, "pull-back") ||
            ((!strcmp(w, "pull") || !strcmp(w, "zoom")) && (tok_is(&t, i + 1, "out") || tok_is(&t, i + 1, "back")))) {
            m = GS_MOTION_PULL_OUT;
            break;
        }
        if (!strcmp(w, "pan") || !strcmp(w, "pans") || !strcmp(w, "panning")) {
            m = tok_is(&t, i + 1, "right") ? GS_MOTION_PAN_RIGHT : GS_MOTION_PAN_LEFT;
            break;
        }
        if (!strcmp(w, "static") || !strcmp(w, "still") || !strcmp(w, "locked")) {
            m = GS_MOTION_STATIC;
            break;
        }
        if (!strcmp(w, "drift") || !strcmp(w, "drifting") || !strcmp(w, "tracking") || !strcmp(w, "orbit")) {
            m = GS_MOTION_DRIFT;
            break;
        }
    }
    free(t.buf);
    return m;
}

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

static int local_generate_video(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                                const char *aspect, const char *resolution, const char *out_path, double *cost,
                                char *err, size_t errlen)
{
    (void)p;
    *cost = 0;
    if (duration_s < 1 || duration_s > 15) {
        seterr(err, errlen, "generate_video: duration must be 1..15 s, got %g", duration_s);
        return -1;
    }
    int w, h;
    video_size(aspect, resolution, &w, &h);
    return gs_media_animate(image_path, out_path, duration_s, w, h, motion_from_text(prompt), err, errlen);
}

/* Re-renders a clip from its first frame with the prompt's change: colours the
 * prompt names tint the frame slightly, the camera words pick the motion. */
static int local_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                            double *cost, char *err, size_t errlen)
{
    (void)p;
    *cost = 0;
    gs_media_info info;
    if (gs_media_probe(video_path, &info, err, errlen) != 0)
        return -1;
    if (!info.has_video || info.width <= 0) {
        seterr(err, errlen, "edit_video: %s has no video stream", video_path);
        return -1;
    }
    if (info.duration > 8.7) {
        seterr(err, errlen, "edit_video: input is %.1f s, at most 8.7 s can be edited", info.duration);
        return -1;
    }
    char frame[4200], still[4200];
    scratch_name(out_path, "png", frame, sizeof frame);
    scratch_name(out_path, "png", still, sizeof still);
    int rc = -1, w = info.width, h = info.height;
    unsigned char *px = NULL;
    if (gs_media_extract_frame(video_path, frame, 0, err, errlen) != 0)
        goto done;
    if (!(px = gs_media_read_rgb(frame, w, h, err, errlen)))
        goto done;
    tokens t;
    rgb tint = {128, 128, 128};
    int have_tint = 0;
    if (tokenize(prompt, &t) == 0) {
        for (int i = 0; i < t.n && !have_tint; i++) {
            const struct colour *c = colour_word(t.w[i]);
            if (c) {
                tint = c->c;
                have_tint = 1;
            }
        }
        free(t.buf);
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        unsigned char *q = px + i * 3;
        const unsigned char tc[3] = {tint.r, tint.g, tint.b};
        for (int k = 0; k < 3; k++) {
            double v = 128 + (q[k] - 128) * 1.06; /* a little more contrast */
            if (have_tint)
                v = v * 0.9 + tc[k] * 0.1;
            q[k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    if (gs_media_write_png(px, w, h, still, err, errlen) != 0)
        goto done;
    double dur = info.duration > 1 ? info.duration : 1;
    rc = gs_media_animate(still, out_path, dur, w, h, motion_from_text(prompt), err, errlen);
done:
    free(px);
    unlink(frame);
    unlink(still);
    return rc;
}

/* The expected figure of character i as a histogram: from its sheet when there
 * is one, else drawn from its description. */
static int reference_hist(const char *ref, const char *desc, double s, hist *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rw, rh;
    double cx, base;
    unsigned char *px = NULL;
    if (ref) {
        px = read_sheet(ref, s, &rw, &rh, &cx, &base, err, errlen);
        if (!px)
            return -1;
    } else {
        figure f;
        figure_from_text(desc, &f);
        canvas c;
        rw = (int)(s * 1.3) + 16;
        rh = (int)(s * 1.1) + 8;
        if (canvas_init(&c, rw, rh) != 0) {
            seterr(err, errlen, "score_consistency: out of memory");
            return -1;
        }
        rgb top, bottom;
        portrait_backdrop(&f, &top, &bottom);
        vgradient(&c, 0, rh, top, bottom);
        cx = rw / 2.0;
        base = rh - 0.05 * s;
        draw_figure(&c, &f, cx, base, s);
        px = c.px;
    }
    for (int y = (int)fmax(0, base - s); y < (int)fmin(rh, base + 1); y++)
        for (int x = (int)fmax(7, cx - 0.5 * s); x < (int)fmin(rw - 4, cx + 0.5 * s); x++)
            if (is_figure(px, rw, x, y))
                hist_add(out, px + ((size_t)y * rw + x) * 3);
    free(px);
    if (out->total < 16) {
        seterr(err, errlen, "score_consistency: no figure found in %s", ref ? ref : "the description");
        return -1;
    }
    return 0;
}

/* Best match of ref over the places a figure can be: its slot, moved by the
 * camera moves gs_media_animate makes (zoom about the centre, sideways pan). */
static double best_match(const unsigned char *img, int w, int h, const hist *ref, double cx, double base, double s,
                         hist *best_region)
{
    static const double zooms[] = {1.0, 1.09, 1.18};
    static const double shifts[] = {-0.08, -0.04, 0, 0.04, 0.08};
    double best = -1;
    hist region;
    for (size_t zi = 0; zi < 3; zi++)
        for (size_t si = 0; si < 5; si++) {
            double z = zooms[zi];
            double bx = w / 2.0 + (cx - w / 2.0) * z + shifts[si] * w;
            double by = h / 2.0 + (base - 0.5 * s - h / 2.0) * z;
            region_hist(img, w, h, bx, by, 0.56 * s * z, 0.56 * s * z, &region);
            double expect = ref->total * z * z;
            double m = hist_match(ref, &region, expect);
            if (m > best) {
                best = m;
                if (best_region)
                    *best_region = region;
            }
        }
    return best;
}

static int local_score_consistency(gs_provider *p, const char *image_path, const char *const refs[], size_t n_refs,
                                   const char *const descriptions[], const char *const names[], size_t n,
                                   gs_score *out, char *err, size_t errlen)
{
    (void)p;
    memset(out, 0, sizeof *out);
    if (n < 1 || n > 8 || n_refs > n) {
        seterr(err, errlen, "score_consistency: 1..8 characters and at most one ref each expected");
        return -1;
    }
    gs_media_info info;
    if (gs_media_probe(image_path, &info, err, errlen) != 0)
        return -1;
    if (info.width <= 0 || info.height <= 0) {
        seterr(err, errlen, "%s: not an image", image_path);
        return -1;
    }
    /* analyse at most 640 pixels wide or tall */
    double k = 640.0 / (info.width > info.height ? info.width : info.height);
    if (k > 1)
        k = 1;
    int w = (int)(info.width * k + 0.5), h = (int)(info.height * k + 0.5);
    unsigned char *img = gs_media_read_rgb(image_path, w, h, err, errlen);
    if (!img)
        return -1;
    int rc = -1;
    hist *ref = malloc(sizeof *ref), *region = malloc(sizeof *region);
    out->names = calloc(n, sizeof(char *));
    out->scores = calloc(n, sizeof(double));
    out->issues = calloc(n, sizeof(char *));
    out->n = n;
    sbuf fix = {0};
    if (!ref || !region || !out->names || !out->scores || !out->issues) {
        seterr(err, errlen, "score_consistency: out of memory");
        goto done;
    }
    double overall = 1;
    for (size_t i = 0; i < n; i++) {
        double cx, base, s;
        keyframe_geometry(w, h, i, n, &cx, &base, &s);
        if (reference_hist(i < n_refs ? refs[i] : NULL, descriptions[i] && *descriptions[i] ? descriptions[i] : names[i],
                           s, ref, err, errlen) != 0)
            goto done;
        double sc = best_match(img, w, h, ref, cx, base, s, region);
        if (n == 1) {
            /* a lone character may be a portrait: try the portrait framing too */
            double pcx, pbase, ps;
            hist alt;
            portrait_geometry(w, h, &pcx, &pbase, &ps);
            hist scaled = *ref;
            double f = (ps * ps) / (s * s);
            scaled.total *= f;
            for (int b = 0; b < HN; b++)
                scaled.b[b] *= f;
            double sp = best_match(img, w, h, &scaled, pcx, pbase, ps, &alt);
            if (sp > sc) {
                sc = sp;
                *region = alt;
            }
        }
        out->names[i] = strdup(names[i]);
        if (!out->names[i]) {
            seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
        out->scores[i] = sc;
        if (sc < overall)
            overall = sc;
        if (sc < 0.8) {
            const char *want1 = colour_name(hist_dominant(ref, 0)), *want2 = colour_name(hist_dominant(ref, 1));
            rgb d = hist_dominant(ref, 0);
            sbuf is = {0};
            sb_printf(&is, "%s: colour match %.2f below 0.80; expected mostly %s and %s, the frame shows mostly %s",
                      names[i], sc, want1, want2, colour_name(hist_dominant(region, 0)));
            out->issues[out->n_issues++] = sb_take(&is);
            sb_printf(&fix, "%sRestore %s's colours exactly as in the character sheet: %s (#%02x%02x%02x) with %s accents.",
                      fix.len ? " " : "", names[i], want1, d.r, d.g, d.b, want2);
        }
    }
    if (fix.len)
        sb_printf(&fix, " Keep the pose, framing and background unchanged.");
    out->overall_score = overall;
    out->fix_prompt = sb_take(&fix);
    fix.s = NULL;
    if (!out->fix_prompt) {
        seterr(err, errlen, "score_consistency: out of memory");
        goto done;
    }
    for (size_t i = 0; i < out->n_issues; i++)
        if (!out->issues[i]) {
            seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
    rc = 0;
done:
    free(fix.s);
    free(img);
    free(ref);
    free(region);
    if (rc != 0)
        gs_score_free(out);
    return rc;
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
    .plan_story = local_plan_story,
    .generate_image = local_generate_image,
    .edit_image = local_edit_image,
    .generate_video = local_generate_video,
    .edit_video = local_edit_video,
    .score_consistency = local_score_consistency,
    .max_concurrency = local_max_concurrency,
    .destroy = local_destroy,
};

int gs_provider_local_open(gs_provider **out, char *err, size_t errlen)
{
    local_provider *lp = calloc(1, sizeof *lp);
    if (!lp) {
        seterr(err, errlen, "local provider: out of memory");
        *out = NULL;
        return -1;
    }
    lp->base.ops = &local_ops;
    *out = &lp->base;
    return 0;
}
