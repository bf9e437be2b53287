/*
 * local_draw.c — the local provider's painter: the words it understands
 * (colours, characters, places, times of day), figures and scene backgrounds
 * drawn into RGB buffers, and the framing of portraits and keyframes that the
 * scorer measures. Pure computation: no files, no processes, no globals that
 * change, so any thread may call it.
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
const size_t n_colours = sizeof colours / sizeof colours[0];

const char *const colour_names[][3] = {
    [CF_RED] = {"Rusty", "Ember", "Scarlet"},     [CF_ORANGE] = {"Ginger", "Marmalade", "Clementine"},
    [CF_YELLOW] = {"Sunny", "Goldie", "Honey"},   [CF_GREEN] = {"Moss", "Fern", "Basil"},
    [CF_BLUE] = {"Indigo", "Skye", "Bluebell"},   [CF_PURPLE] = {"Plum", "Violet", "Mauve"},
    [CF_PINK] = {"Rosie", "Blossom", "Peony"},    [CF_BROWN] = {"Hazel", "Bramble", "Cocoa"},
    [CF_GREY] = {"Ash", "Sterling", "Smoky"},     [CF_BLACK] = {"Shadow", "Onyx", "Midnight"},
    [CF_WHITE] = {"Snowy", "Pearl", "Frost"},
};


const struct kind kinds[] = {
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
    {"girl", "girl", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, {205, 55, 65}, {70, 70, 120}, {90, 60, 35}, {"brave", "curious", "stubborn"}},
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
const size_t n_kinds = sizeof kinds / sizeof kinds[0];

/* ---- tokens ---- */



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

const struct colour *colour_word(const char *w)
{
    for (size_t i = 0; i < n_colours; i++)
        if (strcmp(colours[i].word, w) == 0)
            return &colours[i];
    return NULL;
}

const struct kind *kind_word(const char *w)
{
    size_t n = strlen(w);
    for (size_t i = 0; i < n_kinds; i++) {
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

int contains_any(const tokens *t, const char *const *ws)
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


const char *const eye_words[] = {"eyes", "eye", "eyed", NULL};
static const char *const accent_words[] = {"scarf", "hat", "cap", "cloak", "cape", "bandana", "collar", "bow", "ribbon", "hood", NULL};
static const char *const cover_words[] = {"fur", "feathers", "plumage", "coat", "scales", "body", "plating", "robes", "clothes", "armour", "armor", "spacesuit", NULL};

/* Reads colours for the kind at token k, from the clause [from, to). */
void parse_figure(const tokens *t, const struct kind *kind, int k, int from, int to, figure *f)
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
        /* "... and a silver robot": a colour right before another noun is its own */
        int owner = -1;
        for (int j = i + 1; j <= i + 3 && j < t->n && owner < 0; j++) {
            if (tok_is(t, j, ",") || tok_is(t, j, "and"))
                break;
            if (kind_word(t->w[j]))
                owner = j;
        }
        if (owner >= 0 && owner != k)
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
void figure_from_text(const char *text, figure *f)
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

void plot(canvas *c, int x, int y, rgb col, double a)
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
void ellipse(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double alpha)
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

void circle(canvas *c, double cx, double cy, double r, rgb col)
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

void vgradient(canvas *c, int y0, int y1, rgb top, rgb bottom)
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
void draw_figure(canvas *c, const figure *f, double cx, double base, double s)
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
void portrait_geometry(int w, int h, double *cx, double *base, double *s)
{
    *s = 0.8 * (w < h ? w : h);
    *cx = w / 2.0;
    *base = h / 2.0 + *s / 2;
}

/* A keyframe: slot i of n figures standing near the bottom. */
void keyframe_geometry(int w, int h, size_t i, size_t n, double *cx, double *base, double *s)
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

void aspect_size(const char *aspect, int short_side, int *w, int *h)
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
void portrait_backdrop(const figure *f, rgb *top, rgb *bottom)
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

static const char *const w_forest[] = {"forest", "woods", "wood", "jungle", "trees", "grove", NULL};
static const char *const w_city[] = {"city", "town", "street", "streets", "rooftops", "alley", "market", NULL};
static const char *const w_beach[] = {"beach", "sea", "ocean", "coast", "shore", "harbor", "harbour", "island", NULL};
static const char *const w_desert[] = {"desert", "dunes", "sand", "canyon", NULL};
static const char *const w_snow[] = {"snow", "snowy", "winter", "ice", "arctic", "frozen", "blizzard", NULL};
static const char *const w_space[] = {"space", "planet", "moonbase", "galaxy", "spaceship", "asteroid", NULL};
static const char *const w_interior[] = {"room", "library", "house", "kitchen", "castle", "school", "cave", "inside", "shop", "museum", NULL};
static const char *const w_mountain[] = {"mountain", "mountains", "peak", "cliff", "hills", "valley", NULL};
/* Not "dark": it describes colours ("dark amber eyes") far more often than time. */
static const char *const w_night[] = {"night", "midnight", "moonlight", "moonlit", "starry", "stars", NULL};
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

int scene_time(const tokens *t)
{
    if (contains_any(t, w_night))
        return TIME_NIGHT;
    if (contains_any(t, w_dusk))
        return TIME_DUSK;
    if (contains_any(t, w_dawn))
        return TIME_DAWN;
    return TIME_DAY;
}

void draw_background(canvas *c, const tokens *t, uint64_t seed)
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

/* Blends the background toward the row-band colours (1x12 grid) of the previous
 * keyframe: the same light and palette carry over between scenes. */
void blend_palette(canvas *c, const unsigned char *prev, double amount)
{
    enum { GX = 1, GY = 12 }; /* full-width bands: no ghosts of old figures */
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


const char *colour_name(rgb c)
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
