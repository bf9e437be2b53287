/*
 * preview.c — grokspicy.preview: the raw Lua face of the local renderer's
 * vocabulary and readers. The Lua planner (grokspicy.preview.planner) asks it
 * what a kind looks like and which canonical names exist; tests ask it what
 * the renderer reads from a scene's or a character's words, which is what it
 * draws. Owns no state; every function is pure.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "local_draw.h"

static const char *const class_names[WC_N] = {"kind", "place", "landmark", "weather", "time",
                                              "motion", "camera", "garment", "hat"};

static void push_names(lua_State *L, const char *const *names)
{
    lua_newtable(L);
    for (int i = 0; names[i]; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* preview.vocabulary() -> { kind = {...}, place = {...}, ..., colour = {...} } */
static int l_vocabulary(lua_State *L)
{
    lua_newtable(L);
    for (int c = 0; c < WC_N; c++) {
        push_names(L, vocab[c]);
        lua_setfield(L, -2, class_names[c]);
    }
    lua_createtable(L, (int)n_colours, 0);
    for (size_t i = 0; i < n_colours; i++) {
        lua_pushstring(L, colours[i].word);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "colour");
    return 1;
}

static int class_arg(lua_State *L, int idx)
{
    const char *name = luaL_checkstring(L, idx);
    for (int c = 0; c < WC_N; c++)
        if (!strcmp(class_names[c], name))
            return c;
    return luaL_argerror(L, idx, "unknown word class");
}

/* preview.word_tag(word, class) -> canonical name | nil */
static int l_word_tag(lua_State *L)
{
    const char *w = luaL_checkstring(L, 1);
    const char *tag = word_tag(w, class_arg(L, 2));
    if (tag)
        lua_pushstring(L, tag);
    else
        lua_pushnil(L);
    return 1;
}

static void set_s(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* preview.kind_info(kind) -> { family, cover, body, belly, eye, ears, tail, cues, extras } | nil */
static int l_kind_info(lua_State *L)
{
    const struct kind *k = kind_named(luaL_checkstring(L, 1));
    if (!k) {
        lua_pushnil(L);
        return 1;
    }
    static const char *const fams[] = {"animal", "bird", "person", "robot", "fish", "ghost"};
    static const char *const ears[] = {"none", "pointy", "round", "long", "tuft", "floppy", "horns", "big"};
    static const char *const tails[] = {"none", "bushy", "thin", "short", "dragon", "curly"};
    lua_newtable(L);
    set_s(L, "family", fams[k->family]);
    set_s(L, "cover", k->cover);
    set_s(L, "body", colour_name(k->body));
    set_s(L, "belly", colour_name(k->belly));
    set_s(L, "eye", colour_name(k->eye));
    set_s(L, "ears", ears[k->ears]);
    set_s(L, "tail", tails[k->tail]);
    lua_createtable(L, 3, 0);
    for (int i = 0; i < 3; i++) {
        lua_pushstring(L, k->cues[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "cues");
    static const struct {
        int bit;
        const char *name;
    } xs[] = {{X_BEAK, "beak"},   {X_WINGS, "wings"},   {X_MUZZLE, "muzzle"}, {X_ANTENNA, "antenna"},
              {X_TIP, "tip"},     {X_TRUNK, "trunk"},   {X_SNOUT, "snout"},   {X_SHELL, "shell"},
              {X_MANE, "mane"},   {X_SPOTS, "spots"},   {X_STRIPES, "stripes"}, {X_HORN, "horn"},
              {X_SPIKES, "spikes"}, {X_COMB, "comb"},   {X_TENTACLES, "tentacles"}, {X_CHILD, "child"}};
    lua_newtable(L);
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        if (k->extras & xs[i].bit) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, xs[i].name);
        }
    lua_setfield(L, -2, "extras");
    return 1;
}

static void push_flags(lua_State *L, int cls, uint64_t bits)
{
    lua_newtable(L);
    for (int i = 0; vocab[cls][i]; i++)
        if (bits & (1ull << i)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, vocab[cls][i]);
        }
}

/* preview.read_scene(text) -> { place, time, weather = {set}, landmarks = {set}, motion, camera, autumn } */
static int l_read_scene(lua_State *L)
{
    scene s;
    read_scene(luaL_checkstring(L, 1), &s);
    lua_newtable(L);
    set_s(L, "place", vocab[WC_PLACE][s.place]);
    static const int time_index[] = {[TIME_DAY] = 0, [TIME_DAWN] = 1, [TIME_DUSK] = 2, [TIME_NIGHT] = 3};
    set_s(L, "time", vocab[WC_TIME][time_index[s.when]]);
    push_flags(L, WC_WEATHER, s.weather);
    lua_setfield(L, -2, "weather");
    push_flags(L, WC_LANDMARK, s.landmarks);
    lua_setfield(L, -2, "landmarks");
    set_s(L, "motion", vocab[WC_MOTION][s.motion]);
    set_s(L, "camera", vocab[WC_CAMERA][s.camera]);
    lua_pushboolean(L, s.autumn);
    lua_setfield(L, -2, "autumn");
    return 1;
}

/* preview.read_motion(clip_prompt) -> motion, camera */
static int l_read_motion(lua_State *L)
{
    int m, c;
    read_motion(luaL_checkstring(L, 1), &m, &c);
    lua_pushstring(L, vocab[WC_MOTION][m]);
    lua_pushstring(L, vocab[WC_CAMERA][c]);
    return 2;
}

/* preview.narration(clip_prompt) -> the text a clip captions and speaks */
static int l_narration(lua_State *L)
{
    char *n = narration_of(luaL_checkstring(L, 1));
    if (!n)
        return luaL_error(L, "narration: out of memory");
    lua_pushstring(L, n);
    free(n);
    return 1;
}

/* preview.read_figure(text) -> { kind, family, body, eye, hair, legs, hat, top, beard, glasses, ... } */
static int l_read_figure(lua_State *L)
{
    figure f;
    figure_from_text(luaL_checkstring(L, 1), &f);
    static const char *const tops[] = {"short", "long", "dress", "robe", "armour", "suit", "overalls"};
    static const char *const hairs[] = {"short", "long", "curly", "bald", "bun", "ponytail"};
    lua_newtable(L);
    set_s(L, "kind", f.kind->word);
    set_s(L, "body", f.body_word ? f.body_word : colour_name(f.body));
    set_s(L, "eye", f.eye_word ? f.eye_word : colour_name(f.eye));
    if (f.has_accent)
        set_s(L, "scarf", f.accent_word ? f.accent_word : colour_name(f.accent));
    if (f.kind->family == FAM_HUMAN) {
        set_s(L, "hair", colour_name(f.hair));
        set_s(L, "hair_style", hairs[f.hair_style]);
        set_s(L, "legs", colour_name(f.legs));
        set_s(L, "top", tops[f.top]);
        set_s(L, "hat", f.hat == HAT_NONE ? "none" : vocab[WC_HAT][f.hat - 1]);
        if (f.hat != HAT_NONE)
            set_s(L, "hat_colour", colour_name(f.hat_colour));
        lua_pushboolean(L, f.beard);
        lua_setfield(L, -2, "beard");
        if (f.beard)
            set_s(L, "beard_colour", colour_name(f.beard_colour));
        lua_pushboolean(L, f.glasses);
        lua_setfield(L, -2, "glasses");
        lua_pushboolean(L, f.apron);
        lua_setfield(L, -2, "apron");
        lua_pushboolean(L, f.child);
        lua_setfield(L, -2, "child");
    }
    return 1;
}

int luaopen_grokspicy_core_preview(lua_State *L);
int luaopen_grokspicy_core_preview(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"vocabulary", l_vocabulary}, {"word_tag", l_word_tag},     {"kind_info", l_kind_info},
        {"read_scene", l_read_scene}, {"read_motion", l_read_motion}, {"read_figure", l_read_figure},
        {"narration", l_narration},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
