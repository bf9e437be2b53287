/*
 * local_draw.h — internal to the local provider (provider_local.c and
 * local_draw.c); not installed. The words the renderer understands, the
 * figure and background painter, and the geometry portraits, keyframes and
 * the scorer share.
 */
#ifndef GS_LOCAL_DRAW_H
#define GS_LOCAL_DRAW_H

#include <stddef.h>
#include <stdint.h>

/* Short names inside the two files, gs_ld_* symbols in the library. */
#define hash_str gs_ld_hash_str
#define rng_next gs_ld_rng_next
#define rng_unit gs_ld_rng_unit
#define tokenize gs_ld_tokenize
#define tok_is gs_ld_tok_is
#define tok_any gs_ld_tok_any
#define colour_word gs_ld_colour_word
#define kind_word gs_ld_kind_word
#define contains_any gs_ld_contains_any
#define parse_figure gs_ld_parse_figure
#define figure_from_text gs_ld_figure_from_text
#define canvas_init gs_ld_canvas_init
#define shade gs_ld_shade
#define mix gs_ld_mix
#define plot gs_ld_plot
#define ellipse gs_ld_ellipse
#define circle gs_ld_circle
#define vgradient gs_ld_vgradient
#define draw_figure gs_ld_draw_figure
#define portrait_geometry gs_ld_portrait_geometry
#define keyframe_geometry gs_ld_keyframe_geometry
#define aspect_size gs_ld_aspect_size
#define portrait_backdrop gs_ld_portrait_backdrop
#define scene_time gs_ld_scene_time
#define draw_background gs_ld_draw_background
#define blend_palette gs_ld_blend_palette
#define is_figure gs_ld_is_figure
#define colour_name gs_ld_colour_name
#define colours gs_ld_colours
#define n_colours gs_ld_n_colours
#define kinds gs_ld_kinds
#define n_kinds gs_ld_n_kinds
#define colour_names gs_ld_colour_names
#define eye_words gs_ld_eye_words

typedef struct rgb {
    unsigned char r, g, b;
} rgb;

enum { CF_RED, CF_ORANGE, CF_YELLOW, CF_GREEN, CF_BLUE, CF_PURPLE, CF_PINK, CF_BROWN, CF_GREY, CF_BLACK, CF_WHITE };

enum { FAM_ANIMAL, FAM_BIRD, FAM_HUMAN, FAM_ROBOT };

enum { EAR_NONE, EAR_POINTY, EAR_ROUND, EAR_LONG, EAR_TUFT, EAR_FLOPPY, EAR_HORNS };

enum { TAIL_NONE, TAIL_BUSHY, TAIL_THIN, TAIL_SHORT, TAIL_DRAGON };

enum { X_BEAK = 1, X_WINGS = 2, X_MUZZLE = 4, X_WIZARD_HAT = 8, X_DETECTIVE_HAT = 16, X_ANTENNA = 32,
       X_HELMET = 64, X_TIP = 128 };

#define MAX_TOKENS 2048

typedef struct tokens {
    char *buf;                 /* lowercased copy, NUL-separated words */
    const char *w[MAX_TOKENS]; /* "," and "." mark clause breaks */
    int n;
} tokens;

typedef struct figure {
    const struct kind *kind;
    rgb body, belly, eye, accent, hair, skin;
    const char *body_word, *eye_word, *accent_word;
    int has_accent; /* scarf for animals, hat band for people */
} figure;

typedef struct canvas {
    int w, h;
    unsigned char *px;
} canvas;

enum { TIME_DAY, TIME_DAWN, TIME_DUSK, TIME_NIGHT };

struct colour {
    const char *word;
    rgb c;
    int family; /* CF_* */
};

struct kind {
    const char *word, *label, *cover;
    int family, ears, tail, extras; /* FAM_*, EAR_*, TAIL_*, X_* */
    rgb body, belly, eye;
    const char *cues[3];
};

extern const struct colour colours[];
extern const size_t n_colours;
extern const struct kind kinds[];   /* the last entry is the fallback "creature" */
extern const size_t n_kinds;
#define KIND_FALLBACK (&kinds[n_kinds - 1])
extern const char *const colour_names[][3]; /* three names per CF_* family */
extern const char *const eye_words[];

uint64_t hash_str(const char *s, uint64_t h);
uint64_t rng_next(uint64_t *st);
double rng_unit(uint64_t *st);
int tokenize(const char *text, tokens *t);
int tok_is(const tokens *t, int i, const char *w);
int tok_any(const tokens *t, int i, const char *const *ws);
const struct colour *colour_word(const char *w);
const struct kind *kind_word(const char *w);
int contains_any(const tokens *t, const char *const *ws);
void parse_figure(const tokens *t, const struct kind *kind, int k, int from, int to, figure *f);
void figure_from_text(const char *text, figure *f);
int canvas_init(canvas *c, int w, int h);
rgb shade(rgb c, double k);
rgb mix(rgb a, rgb b, double t);
void plot(canvas *c, int x, int y, rgb col, double a);
void ellipse(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double alpha);
void circle(canvas *c, double cx, double cy, double r, rgb col);
void vgradient(canvas *c, int y0, int y1, rgb top, rgb bottom);
void draw_figure(canvas *c, const figure *f, double cx, double base, double s);
void portrait_geometry(int w, int h, double *cx, double *base, double *s);
void keyframe_geometry(int w, int h, size_t i, size_t n, double *cx, double *base, double *s);
void aspect_size(const char *aspect, int short_side, int *w, int *h);
void portrait_backdrop(const figure *f, rgb *top, rgb *bottom);
int scene_time(const tokens *t);
void draw_background(canvas *c, const tokens *t, uint64_t seed);
void blend_palette(canvas *c, const unsigned char *prev, double amount);
int is_figure(const unsigned char *px, int w, int x, int y);
const char *colour_name(rgb c);

#endif
