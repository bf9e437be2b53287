/*
 * local_draw.h — internal to the local preview renderer (provider_local.c,
 * local_draw.c, local_words.c, local_figure.c, local_read.c, local_scene.c,
 * local_motion.c, local_recipe.c, local_score.c, preview.c); not installed. The words the renderer
 * understands, the figures and settings it paints, the motions it animates,
 * and the geometry that portraits, keyframes, clips and the scorer share.
 */
#ifndef GS_LOCAL_DRAW_H
#define GS_LOCAL_DRAW_H

#include <stddef.h>
#include <stdint.h>

/* Short names inside these files, gs_ld_* symbols in the library. */
#define hash_str gs_ld_hash_str
#define rng_next gs_ld_rng_next
#define rng_unit gs_ld_rng_unit
#define tokenize gs_ld_tokenize
#define tok_is gs_ld_tok_is
#define tok_any gs_ld_tok_any
#define colour_word gs_ld_colour_word
#define kind_word gs_ld_kind_word
#define kind_named gs_ld_kind_named
#define contains_any gs_ld_contains_any
#define parse_figure gs_ld_parse_figure
#define figure_from_text gs_ld_figure_from_text
#define canvas_init gs_ld_canvas_init
#define shade gs_ld_shade
#define mix gs_ld_mix
#define plot gs_ld_plot
#define ellipse gs_ld_ellipse
#define circle gs_ld_circle
#define blob gs_ld_blob
#define triangle gs_ld_triangle
#define rect gs_ld_rect
#define quad gs_ld_quad
#define line_seg gs_ld_line_seg
#define vgradient gs_ld_vgradient
#define draw_figure gs_ld_draw_figure
#define portrait_geometry gs_ld_portrait_geometry
#define keyframe_geometry gs_ld_keyframe_geometry
#define aspect_size gs_ld_aspect_size
#define portrait_backdrop gs_ld_portrait_backdrop
#define read_scene gs_ld_read_scene
#define read_motion gs_ld_read_motion
#define narration_of gs_ld_narration_of
#define place_defaults gs_ld_place_defaults
#define paint_setting gs_ld_paint_setting
#define paint_weather gs_ld_paint_weather
#define palette_bands gs_ld_palette_bands
#define apply_bands gs_ld_apply_bands
#define is_figure gs_ld_is_figure
#define colour_name gs_ld_colour_name
#define colours gs_ld_colours
#define n_colours gs_ld_n_colours
#define kinds gs_ld_kinds
#define n_kinds gs_ld_n_kinds
#define eye_words gs_ld_eye_words
#define word_tag gs_ld_word_tag
#define vocab gs_ld_vocab
#define vocab_index gs_ld_vocab_index
#define motion_pose gs_ld_motion_pose
#define motion_offset gs_ld_motion_offset
#define camera_window gs_ld_camera_window

typedef struct rgb {
    unsigned char r, g, b;
} rgb;

enum { CF_RED, CF_ORANGE, CF_YELLOW, CF_GREEN, CF_BLUE, CF_PURPLE, CF_PINK, CF_BROWN, CF_GREY, CF_BLACK, CF_WHITE };

enum { FAM_ANIMAL, FAM_BIRD, FAM_HUMAN, FAM_ROBOT, FAM_FISH, FAM_GHOST };

enum { EAR_NONE, EAR_POINTY, EAR_ROUND, EAR_LONG, EAR_TUFT, EAR_FLOPPY, EAR_HORNS, EAR_BIG };

enum { TAIL_NONE, TAIL_BUSHY, TAIL_THIN, TAIL_SHORT, TAIL_DRAGON, TAIL_CURLY };

enum { X_BEAK = 1, X_WINGS = 2, X_MUZZLE = 4, X_WIZARD_HAT = 8, X_DETECTIVE_HAT = 16, X_ANTENNA = 32,
       X_HELMET = 64, X_TIP = 128, X_TRUNK = 256, X_SNOUT = 512, X_SHELL = 1024, X_MANE = 2048,
       X_SPOTS = 4096, X_STRIPES = 8192, X_HORN = 16384, X_SPIKES = 32768, X_COMB = 65536,
       X_TENTACLES = 131072, X_CHILD = 262144 };

/* What a person wears and looks like (FAM_HUMAN only). */
enum { TOP_SHORT, TOP_LONG, TOP_DRESS, TOP_ROBE, TOP_ARMOUR, TOP_SUIT, TOP_OVERALLS };
enum { HAT_NONE, HAT_CAP, HAT_BEANIE, HAT_BRIM, HAT_TOP, HAT_CHEF, HAT_HELMET, HAT_HOOD, HAT_CROWN,
       HAT_BERET, HAT_POINTED, HAT_TRICORN, HAT_FEDORA, HAT_HARD, HAT_SOUWESTER };
enum { HAIR_SHORT, HAIR_LONG, HAIR_CURLY, HAIR_BALD, HAIR_BUN, HAIR_PONYTAIL };

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
    int has_accent; /* scarf for animals and people */
    /* people */
    rgb legs, shoes, hat_colour, beard_colour, apron_colour;
    int top, hat, hair_style, beard, moustache, glasses, apron, child;
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
    int top, hat; /* people: TOP_*, HAT_* */
};

extern const struct colour colours[];
extern const size_t n_colours;
extern const struct kind kinds[];   /* the last entry is the fallback "creature" */
extern const size_t n_kinds;
#define KIND_FALLBACK (&kinds[n_kinds - 1])
extern const char *const eye_words[];

/* ---- the renderer's vocabulary ---- */

/*
 * Every word the painter draws has one canonical name per class; grokspicy's
 * lexicon (lua/grokspicy/preview/lexicon.lua) maps everyday words onto them, and
 * word_tag() reads both: the canonical names and the lexicon's words.
 */
enum { WC_KIND, WC_PLACE, WC_LANDMARK, WC_WEATHER, WC_TIME, WC_MOTION, WC_CAMERA, WC_GARMENT, WC_HAT,
       WC_N };

enum { PL_MEADOW, PL_FOREST, PL_JUNGLE, PL_CITY, PL_STREET, PL_BEACH, PL_SEA, PL_HARBOUR, PL_COAST,
       PL_ISLAND, PL_DESERT, PL_MOUNTAINS, PL_SNOWFIELD, PL_SPACE, PL_MOON, PL_GARDEN, PL_FARM, PL_RIVER,
       PL_LAKE, PL_PARK, PL_UNDERWATER, PL_MARKET, PL_SKY, PL_CAMPSITE, PL_LIBRARY, PL_KITCHEN, PL_HOME,
       PL_CLASSROOM, PL_CASTLE, PL_CAVE, PL_STAGE, PL_WORKSHOP, PL_CAFE, PL_SHOP, PL_N };

enum { LM_LIGHTHOUSE, LM_MOON, LM_SUN, LM_STARS, LM_RAINBOW, LM_BOAT, LM_TENT, LM_CAMPFIRE, LM_HOUSE,
       LM_BARN, LM_BRIDGE, LM_CASTLE, LM_TREES, LM_TRUCK, LM_BENCH, LM_LAMPPOST, LM_FENCE, LM_FLOWERS,
       LM_ROCKET, LM_PLANET, LM_BALLOON, LM_SNOWMAN, LM_WINDMILL, LM_SKYLINE, LM_SHELVES, LM_COUNTER,
       LM_TABLE, LM_WINDOW, LM_BLACKBOARD, LM_CURTAINS, LM_WORKBENCH, LM_SEAWEED, LM_CACTUS, LM_PIER,
       LM_STALLS, LM_WAVES, LM_HILLS, LM_PEAKS, LM_ROCKS, LM_EARTH, LM_N };

enum { WX_CLEAR, WX_SUNNY, WX_CLOUDY, WX_RAIN, WX_STORM, WX_SNOW, WX_FOG, WX_WIND, WX_N };
#define W_FLAG(x) (1u << (x))

enum { MO_IDLE, MO_WALK, MO_RACE, MO_JUMP, MO_DANCE, MO_FLY, MO_SWIM, MO_POINT, MO_MEET, MO_TALK,
       MO_SEARCH, MO_WAVE, MO_CELEBRATE, MO_WORK, MO_CHASE, MO_N };

enum { CAM_DRIFT, CAM_STATIC, CAM_PUSH_IN, CAM_PULL_OUT, CAM_PAN_LEFT, CAM_PAN_RIGHT, CAM_TRACKING, CAM_N };

/* Canonical names by class, NULL-terminated: vocab[WC_PLACE][PL_COAST] == "coast". */
extern const char *const *const vocab[WC_N];
/* Index of a canonical name in its class, or -1. */
int vocab_index(int cls, const char *name);
/*
 * The canonical name of class cls that word w stands for ("keeper" -> "person",
 * "storm" -> "storm"), or NULL. Reads the canonical names, then the lexicon's
 * words; a plural ("lighthouses", "foxes", "ponies") is tried singular.
 */
const char *word_tag(const char *w, int cls);

/* What a scene shows, read from its words (read_scene). */
typedef struct scene {
    int place;          /* PL_* */
    int when;           /* TIME_* */
    unsigned weather;   /* W_FLAG(WX_*) bits */
    uint64_t landmarks; /* 1 << LM_* */
    int autumn;
    int motion;         /* MO_*, from the action */
    int camera;         /* CAM_* */
    int place_named, when_named; /* the words said so (else defaults) */
} scene;

/*
 * Reads a scene from a prompt. With "Scene:" / "Action:" / "Camera:" labels
 * (the keyframe template) the place, time and weather come from the setting,
 * the motion from the action and the camera from the camera; without labels
 * from the whole text.
 */
void read_scene(const char *prompt, scene *s);
/* The motion and camera words of a clip prompt ("{camera}. {action}. Mood: ..."). */
void read_motion(const char *prompt, int *motion, int *camera);
/* The landmarks a place draws anyway, and its own time of day (-1: none). */
void place_defaults(int place, uint64_t *landmarks, int *default_time);
/* The narration a clip speaks and captions (malloc'd; "" when the prompt is only a camera move). */
char *narration_of(const char *prompt);
/* The prompt before its "Characters:" part, malloc'd (NULL when out of memory). */
char *scene_words(const char *text);

/* ---- poses and motion ---- */

typedef struct pose {
    double step;   /* walking phase in radians (legs swing) */
    double lift;   /* height above the ground, in figure heights */
    double look;   /* -1 left .. 1 right: eyes and head turn */
    double arm;    /* 0 down .. 1 raised: the pointing or waving arm */
    int arm_side;  /* -1 left arm, 1 right arm */
    double lean;   /* radians, positive leans right */
    double squash; /* 0 .. 0.2: crouch before a jump */
} pose;

/* Pose and offset of figure i of n at time t (seconds) of a clip lasting dur. */
void motion_pose(int motion, size_t i, size_t n, double t, double dur, pose *p);
/* Horizontal offset (fraction of the width) of figure i at time t. */
double motion_offset(int motion, size_t i, size_t n, double t, double dur);
/* Camera window at time t: zoom >= 1 and the window's centre in canvas pixels. */
void camera_window(int camera, int motion, double t, double dur, int w, int h, double follow_x, double *zoom,
                   double *cx, double *cy);

uint64_t hash_str(const char *s, uint64_t h);
uint64_t rng_next(uint64_t *st);
double rng_unit(uint64_t *st);
int tokenize(const char *text, tokens *t);
int tok_is(const tokens *t, int i, const char *w);
int tok_any(const tokens *t, int i, const char *const *ws);
const struct colour *colour_word(const char *w);
const struct kind *kind_word(const char *w);
const struct kind *kind_named(const char *canonical);
int contains_any(const tokens *t, const char *const *ws);
void parse_figure(const tokens *t, const struct kind *kind, int k, int from, int to, figure *f);
void figure_from_text(const char *text, figure *f);
int canvas_init(canvas *c, int w, int h);
rgb shade(rgb c, double k);
rgb mix(rgb a, rgb b, double t);
void plot(canvas *c, int x, int y, rgb col, double a);
void ellipse(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double alpha);
void circle(canvas *c, double cx, double cy, double r, rgb col);
void blob(canvas *c, double cx, double cy, double rx, double ry, double ang, rgb col, double s);
void triangle(canvas *c, double ax, double ay, double bx, double by, double qx, double qy, rgb col);
void rect(canvas *c, double x0, double y0, double x1, double y1, rgb col, double alpha);
/* A convex quadrilateral (corners in order), alpha blended. */
void quad(canvas *c, const double xs[4], const double ys[4], rgb col, double alpha);
/* A thick line from (x0, y0) to (x1, y1) with round ends. */
void line_seg(canvas *c, double x0, double y0, double x1, double y1, double width, rgb col, double alpha);
void vgradient(canvas *c, int y0, int y1, rgb top, rgb bottom);
/* Draws figure f standing on (cx, base), s pixels tall; p NULL is the neutral pose. */
void draw_figure(canvas *c, const figure *f, double cx, double base, double s, const pose *p);
void portrait_geometry(int w, int h, double *cx, double *base, double *s);
void keyframe_geometry(int w, int h, size_t i, size_t n, double *cx, double *base, double *s);
void aspect_size(const char *aspect, int short_side, int *w, int *h);
void portrait_backdrop(const figure *f, rgb *top, rgb *bottom);
/* The setting without what moves (sky, ground, landmarks), for seed. */
void paint_setting(canvas *c, const scene *s, uint64_t seed);
/* What moves at time t: rain, snow, waves, the lighthouse beam, clouds, lightning. */
void paint_weather(canvas *c, const scene *s, uint64_t seed, double t);
/* The 12 row-band mean colours of an image (36 values), and blending them in. */
void palette_bands(const unsigned char *px, int w, int h, double bands[36]);
void apply_bands(canvas *c, const double bands[36], double amount);
int is_figure(const unsigned char *px, int w, int x, int y);
const char *colour_name(rgb c);

/* ---- keyframe recipes: what a local keyframe shows, kept inside its PNG ---- */

#define MAX_STAGE_FIGURES 3
#define recipe_free gs_ld_recipe_free
#define recipe_encode gs_ld_recipe_encode
#define recipe_decode gs_ld_recipe_decode
#define stage_open gs_ld_stage_open
#define stage_close gs_ld_stage_close
#define stage_frame gs_ld_stage_frame

/*
 * A local keyframe carries the words and numbers it was painted from (an iTXt
 * chunk "grokspicy:recipe" in its PNG), so its clip can paint the same setting
 * again with the weather moving and the cast walking, jumping or pointing. A
 * character sheet carries the description its figure was drawn from
 * ("grokspicy:figure"). Images without them animate as stills.
 */
typedef struct recipe {
    char *scene_text;   /* the scene's words (setting, action, camera, mood) */
    uint64_t seed;      /* the background's randomness */
    double bands[36];   /* palette carried from the previous keyframe */
    double blend;       /* 0: none carried */
    size_t n_fig;
    char *fig_text[MAX_STAGE_FIGURES]; /* each figure's description, left to right */
} recipe;

void recipe_free(recipe *r);
/* JSON text (malloc'd), NULL when out of memory. */
char *recipe_encode(const recipe *r);
/* 0, or -1 when json is not a recipe (r is then empty). */
int recipe_decode(const char *json, recipe *r);

/* A recipe ready to paint frames at w x h. */
typedef struct stage {
    scene sc;
    uint64_t seed;
    canvas still;   /* the setting with the carried palette */
    size_t n;
    figure figs[MAX_STAGE_FIGURES];
    uint16_t *rows; /* the camera's scratch, made on first use */
    int *taps;
} stage;

int stage_open(stage *st, const recipe *r, int w, int h);
void stage_close(stage *st);
/* Paints the frame at t of a dur-second clip into out (work is scratch of the same size). */
void stage_frame(stage *st, canvas *work, canvas *out, double t, double dur, int motion, int camera);

/* ---- the scorer (local_score.c) ---- */

#define read_sheet gs_ld_read_sheet
#define score_figures gs_ld_score_figures

/* A character sheet scaled so its figure is s pixels tall; its centre and base. */
unsigned char *read_sheet(const char *path, double s, int *rw, int *rh, double *cx, double *base, char *err,
                          size_t errlen);

struct gs_score;
/* The local provider's score_consistency: colour histograms of each figure
 * searched over where a clip's motion and camera can have taken it. */
int score_figures(const char *image_path, const char *const refs[], size_t n_refs, const char *const descriptions[],
                  const char *const names[], size_t n, struct gs_score *out, char *err, size_t errlen);

#endif
