/*
 * local_words.c — the local renderer's vocabulary: the canonical name of every
 * kind, place, landmark, weather, time of day, motion, camera move, garment and
 * hat it can draw, and the everyday words that stand for them. Those words live
 * in grokspicy's lexicon (lua/grokspicy/preview/lexicon.lua, the one place a
 * user extends them); they are read once per process from a private Lua state,
 * so worker threads never touch the caller's state. Without the lexicon the
 * canonical names still work.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "grokspicy.h"
#include "local_draw.h"

extern const char *const gs_ld_kind_words[]; /* local_figure.c, in the order of kinds[] */

static const char *const place_words[] = {
    "meadow", "forest", "jungle", "city", "street", "beach", "sea", "harbour", "coast", "island", "desert",
    "mountains", "snowfield", "space", "moonscape", "garden", "farm", "river", "lake", "park", "underwater",
    "market", "cloudtops", "campsite", "library", "kitchen", "home", "classroom", "castle", "cave", "stage",
    "workshop", "cafe", "shop", NULL};

static const char *const landmark_words[] = {
    "lighthouse", "moon", "sun", "stars", "rainbow", "boat", "tent", "campfire", "house", "barn", "bridge",
    "castle", "trees", "truck", "bench", "lamppost", "fence", "flowers", "rocket", "planet", "balloon",
    "snowman", "windmill", "skyline", "shelves", "counter", "table", "window", "blackboard", "curtains",
    "workbench", "seaweed", "cactus", "pier", "stalls", "waves", "hills", "peaks", "rocks", "earth", NULL};

static const char *const weather_words[] = {"clear", "sunny", "cloudy", "rain", "storm", "snow", "fog", "wind", NULL};

static const char *const time_words[] = {"day", "dawn", "dusk", "night", NULL};

static const char *const motion_words[] = {"idle", "walk", "race", "jump", "dance", "fly", "swim", "point",
                                           "meet", "talk", "search", "wave", "celebrate", "work", "chase", NULL};

static const char *const camera_words[] = {"drift", "static", "push-in", "pull-out", "pan-left", "pan-right",
                                           "tracking", NULL};

static const char *const garment_words[] = {
    "coat", "raincoat", "jacket", "sweater", "shirt", "hoodie", "dress", "robe", "uniform", "overalls", "suit",
    "armour", "spacesuit", "cloak", "tunic", "vest", "trousers", "jeans", "skirt", "shorts", "apron", "boots",
    "shoes", "scarf", "glasses", NULL};

static const char *const hat_words[] = {"cap", "beanie", "sunhat", "tophat", "toque", "helmet", "hood", "crown",
                                        "beret", "pointed-hat", "tricorn", "fedora", "hardhat", "souwester", NULL};

const char *const *const vocab[WC_N] = {
    [WC_KIND] = gs_ld_kind_words, [WC_PLACE] = place_words,     [WC_LANDMARK] = landmark_words,
    [WC_WEATHER] = weather_words, [WC_TIME] = time_words,       [WC_MOTION] = motion_words,
    [WC_CAMERA] = camera_words,   [WC_GARMENT] = garment_words, [WC_HAT] = hat_words,
};

static const char *const class_names[WC_N] = {"kind", "place", "landmark", "weather", "time",
                                              "motion", "camera", "garment", "hat"};

int vocab_index(int cls, const char *name)
{
    if (cls < 0 || cls >= WC_N || !name)
        return -1;
    for (int i = 0; vocab[cls][i]; i++)
        if (strcmp(vocab[cls][i], name) == 0)
            return i;
    return -1;
}

/* ---- the lexicon's words, read once ---- */

typedef struct entry {
    char *word;
    int cls, idx;
} entry;

static entry *entries;
static size_t n_entries;
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->word, y->word);
    return c ? c : (x->cls - y->cls);
}

/* Adds "cls:name cls:name" tags of one word; unknown tags are skipped (the
 * lexicon spec reports them). */
static void add_tags(const char *word, const char *tags, size_t *cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", tags);
    for (char *save = NULL, *tag = strtok_r(buf, " ", &save); tag; tag = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tag, ':');
        if (!colon)
            continue;
        *colon = '\0';
        int cls = -1;
        for (int c = 0; c < WC_N; c++)
            if (strcmp(class_names[c], tag) == 0)
                cls = c;
        int idx = vocab_index(cls, colon + 1);
        if (idx < 0)
            continue;
        if (n_entries == *cap) {
            size_t ncap = *cap ? *cap * 2 : 1024;
            entry *ne = realloc(entries, ncap * sizeof *ne);
            if (!ne)
                return;
            entries = ne;
            *cap = ncap;
        }
        char *w = strdup(word);
        if (!w)
            return;
        entries[n_entries++] = (entry){w, cls, idx};
    }
}

static void load_lexicon(void)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return;
    luaL_openlibs(L);
    gs_openlibs(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "grokspicy.preview.lexicon");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "grok-spicy: local renderer: the lexicon did not load (%s); only canonical words are read\n",
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "not a table");
        lua_close(L);
        return;
    }
    lua_getfield(L, -1, "drawing_words");
    if (lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "grok-spicy: local renderer: lexicon.drawing_words failed (%s)\n",
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "not a table");
        lua_close(L);
        return;
    }
    size_t cap = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
            add_tags(lua_tostring(L, -2), lua_tostring(L, -1), &cap);
        lua_pop(L, 1);
    }
    lua_close(L);
    qsort(entries, n_entries, sizeof *entries, cmp_entry);
}

static const char *lookup(const char *w, int cls)
{
    int i = vocab_index(cls, w);
    if (i >= 0)
        return vocab[cls][i];
    size_t lo = 0, hi = n_entries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(entries[mid].word, w);
        if (c == 0)
            c = entries[mid].cls - cls;
        if (c == 0)
            return vocab[cls][entries[mid].idx];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *word_tag(const char *w, int cls)
{
    pthread_once(&loaded, load_lexicon);
    const char *t = lookup(w, cls);
    if (t)
        return t;
    /* plurals: foxes, lighthouses, ponies, wolves */
    size_t n = strlen(w);
    char buf[64];
    if (n < 3 || n >= sizeof buf || w[n - 1] != 's' || w[n - 2] == 's')
        return NULL;
    memcpy(buf, w, n + 1);
    buf[n - 1] = '\0';
    if ((t = lookup(buf, cls)))
        return t;
    if (n > 3 && w[n - 2] == 'e') {
        buf[n - 2] = '\0';
        if ((t = lookup(buf, cls)))
            return t;
        if (w[n - 3] == 'i') {
            strcpy(buf + n - 3, "y");
            if ((t = lookup(buf, cls)))
                return t;
        } else if (w[n - 3] == 'v') {
            strcpy(buf + n - 3, "f");
            if ((t = lookup(buf, cls)))
                return t;
        }
    }
    return NULL;
}
