/*
 * local_figure.c — the local renderer's characters: the kinds it can draw
 * (animals, birds, people, robots, sea creatures, ghosts), reading a figure
 * from its description (colours of fur, eyes, scarf; a person's clothes, hair,
 * beard, hat, skin and glasses), and painting it in a pose (walking, jumping,
 * pointing, looking aside). Pure computation, safe from any thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_draw.h"

#define RGB(r, g, b) {r, g, b}
#define CUES(a, b, c) {a, b, c}

/* The fallback "creature" stays last; gs_ld_kind_words lists the same words in the same order. */
const struct kind kinds[] = {
    {"fox", "fox", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE | X_TIP, RGB(214, 100, 35), RGB(246, 236, 220), RGB(250, 172, 10), CUES("clever", "quick-witted", "curious"), 0, 0},
    {"owl", "owl", "feathers", FAM_BIRD, EAR_TUFT, TAIL_NONE, X_BEAK | X_WINGS, RGB(125, 90, 60), RGB(214, 190, 150), RGB(240, 200, 40), CUES("wise", "calm", "observant"), 0, 0},
    {"cat", "cat", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_THIN, X_MUZZLE, RGB(120, 120, 125), RGB(235, 230, 222), RGB(90, 180, 80), CUES("independent", "graceful", "sly"), 0, 0},
    {"kitten", "kitten", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_THIN, X_MUZZLE, RGB(230, 150, 70), RGB(245, 236, 222), RGB(90, 180, 80), CUES("playful", "curious", "bold"), 0, 0},
    {"dog", "dog", "fur", FAM_ANIMAL, EAR_FLOPPY, TAIL_SHORT, X_MUZZLE, RGB(170, 120, 70), RGB(240, 225, 200), RGB(90, 60, 35), CUES("loyal", "cheerful", "eager"), 0, 0},
    {"puppy", "puppy", "fur", FAM_ANIMAL, EAR_FLOPPY, TAIL_SHORT, X_MUZZLE, RGB(190, 140, 85), RGB(245, 232, 210), RGB(90, 60, 35), CUES("bouncy", "loyal", "excitable"), 0, 0},
    {"wolf", "wolf", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE, RGB(120, 122, 130), RGB(222, 222, 225), RGB(230, 190, 60), CUES("proud", "protective", "fierce"), 0, 0},
    {"bear", "bear", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_NONE, X_MUZZLE, RGB(120, 78, 45), RGB(210, 170, 120), RGB(45, 30, 20), CUES("gentle", "strong", "sleepy"), 0, 0},
    {"panda", "panda", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_NONE, X_MUZZLE, RGB(245, 245, 242), RGB(245, 245, 242), RGB(36, 36, 42), CUES("peaceful", "hungry", "kind"), 0, 0},
    {"rabbit", "rabbit", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, RGB(200, 185, 165), RGB(250, 245, 238), RGB(120, 70, 50), CUES("nervous", "quick", "kind"), 0, 0},
    {"bunny", "bunny", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, RGB(230, 220, 210), RGB(250, 245, 238), RGB(120, 70, 50), CUES("shy", "sweet", "quick"), 0, 0},
    {"hare", "hare", "fur", FAM_ANIMAL, EAR_LONG, TAIL_NONE, X_MUZZLE, RGB(170, 130, 90), RGB(240, 228, 210), RGB(200, 140, 40), CUES("fast", "boastful", "restless"), 0, 0},
    {"mouse", "mouse", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE, RGB(150, 145, 140), RGB(240, 225, 225), RGB(36, 36, 42), CUES("brave", "tiny", "resourceful"), 0, 0},
    {"squirrel", "squirrel", "fur", FAM_ANIMAL, EAR_TUFT, TAIL_BUSHY, X_MUZZLE, RGB(175, 90, 40), RGB(240, 220, 190), RGB(45, 30, 20), CUES("hyper", "chatty", "thrifty"), 0, 0},
    {"raccoon", "raccoon", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE | X_STRIPES, RGB(125, 125, 130), RGB(225, 225, 222), RGB(45, 30, 20), CUES("mischievous", "nimble", "crafty"), 0, 0},
    {"deer", "deer", "fur", FAM_ANIMAL, EAR_HORNS, TAIL_SHORT, X_MUZZLE | X_SPOTS, RGB(170, 110, 60), RGB(240, 225, 200), RGB(60, 40, 25), CUES("graceful", "shy", "gentle"), 0, 0},
    {"lion", "lion", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE | X_MANE, RGB(215, 160, 70), RGB(240, 220, 170), RGB(200, 140, 40), CUES("brave", "regal", "warm"), 0, 0},
    {"tiger", "tiger", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_THIN, X_MUZZLE | X_STRIPES, RGB(230, 125, 35), RGB(245, 238, 225), RGB(90, 160, 70), CUES("fierce", "proud", "loyal"), 0, 0},
    {"frog", "frog", "skin", FAM_ANIMAL, EAR_NONE, TAIL_NONE, 0, RGB(80, 170, 70), RGB(220, 230, 150), RGB(230, 190, 40), CUES("jolly", "bouncy", "chatty"), 0, 0},
    {"pig", "pig", "skin", FAM_ANIMAL, EAR_POINTY, TAIL_CURLY, X_SNOUT, RGB(240, 165, 175), RGB(250, 205, 210), RGB(60, 40, 35), CUES("cheerful", "greedy", "warm-hearted"), 0, 0},
    {"cow", "cow", "hide", FAM_ANIMAL, EAR_HORNS, TAIL_THIN, X_MUZZLE | X_SPOTS, RGB(245, 244, 240), RGB(240, 200, 200), RGB(50, 35, 30), CUES("calm", "patient", "motherly"), 0, 0},
    {"horse", "horse", "coat", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE | X_MANE, RGB(140, 90, 50), RGB(200, 160, 120), RGB(50, 35, 30), CUES("spirited", "loyal", "swift"), 0, 0},
    {"unicorn", "unicorn", "coat", FAM_ANIMAL, EAR_POINTY, TAIL_BUSHY, X_MUZZLE | X_MANE | X_HORN, RGB(248, 246, 250), RGB(240, 200, 230), RGB(120, 80, 170), CUES("dreamy", "kind", "magical"), 0, 0},
    {"sheep", "sheep", "wool", FAM_ANIMAL, EAR_FLOPPY, TAIL_SHORT, X_SPOTS, RGB(244, 240, 228), RGB(70, 62, 60), RGB(50, 40, 35), CUES("gentle", "woolly", "timid"), 0, 0},
    {"goat", "goat", "coat", FAM_ANIMAL, EAR_HORNS, TAIL_SHORT, X_MUZZLE, RGB(235, 232, 222), RGB(215, 205, 190), RGB(200, 150, 40), CUES("stubborn", "nimble", "funny"), 0, 0},
    {"elephant", "elephant", "skin", FAM_ANIMAL, EAR_BIG, TAIL_THIN, X_TRUNK, RGB(150, 155, 165), RGB(190, 192, 200), RGB(50, 40, 35), CUES("wise", "gentle", "mighty"), 0, 0},
    {"monkey", "monkey", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_CURLY, X_MUZZLE, RGB(140, 95, 55), RGB(230, 200, 160), RGB(60, 40, 25), CUES("cheeky", "quick", "playful"), 0, 0},
    {"turtle", "turtle", "shell", FAM_ANIMAL, EAR_NONE, TAIL_SHORT, X_SHELL, RGB(110, 170, 90), RGB(200, 210, 140), RGB(40, 35, 30), CUES("patient", "steady", "wise"), 0, 0},
    {"hedgehog", "hedgehog", "spines", FAM_ANIMAL, EAR_ROUND, TAIL_NONE, X_SPIKES | X_SNOUT, RGB(130, 95, 60), RGB(235, 215, 185), RGB(36, 36, 42), CUES("prickly", "shy", "brave"), 0, 0},
    {"penguin", "penguin", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(40, 42, 52), RGB(245, 245, 242), RGB(36, 36, 42), CUES("earnest", "clumsy", "determined"), 0, 0},
    {"bird", "bird", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(60, 120, 210), RGB(235, 235, 220), RGB(36, 36, 42), CUES("cheerful", "chatty", "free"), 0, 0},
    {"robin", "robin", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(120, 90, 70), RGB(220, 90, 40), RGB(36, 36, 42), CUES("cheerful", "brave", "early"), 0, 0},
    {"crow", "crow", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(36, 36, 46), RGB(70, 70, 90), RGB(230, 230, 230), CUES("clever", "sardonic", "watchful"), 0, 0},
    {"raven", "raven", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(32, 32, 44), RGB(70, 70, 95), RGB(230, 230, 230), CUES("cryptic", "wise", "watchful"), 0, 0},
    {"duck", "duck", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(240, 220, 80), RGB(250, 240, 180), RGB(36, 36, 42), CUES("silly", "optimistic", "loud"), 0, 0},
    {"chicken", "chicken", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS | X_COMB, RGB(245, 240, 230), RGB(250, 248, 240), RGB(36, 36, 42), CUES("fussy", "brave", "busy"), 0, 0},
    {"parrot", "parrot", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(50, 170, 80), RGB(235, 200, 60), RGB(36, 36, 42), CUES("talkative", "bright", "cheeky"), 0, 0},
    {"seagull", "seagull", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(240, 242, 245), RGB(250, 250, 250), RGB(230, 190, 60), CUES("bold", "noisy", "hungry"), 0, 0},
    {"eagle", "eagle", "feathers", FAM_BIRD, EAR_NONE, TAIL_NONE, X_BEAK | X_WINGS, RGB(110, 75, 45), RGB(245, 245, 240), RGB(230, 180, 40), CUES("proud", "keen-eyed", "noble"), 0, 0},
    {"bat", "bat", "fur", FAM_ANIMAL, EAR_POINTY, TAIL_NONE, X_WINGS, RGB(70, 55, 80), RGB(120, 100, 130), RGB(230, 200, 60), CUES("shy", "nocturnal", "clever"), 0, 0},
    {"fish", "fish", "scales", FAM_FISH, EAR_NONE, TAIL_NONE, 0, RGB(240, 130, 40), RGB(250, 220, 170), RGB(36, 36, 42), CUES("curious", "darting", "bright"), 0, 0},
    {"octopus", "octopus", "skin", FAM_FISH, EAR_NONE, TAIL_NONE, X_TENTACLES, RGB(160, 80, 170), RGB(225, 170, 225), RGB(36, 36, 42), CUES("clever", "artistic", "shy"), 0, 0},
    {"dragon", "dragon", "scales", FAM_ANIMAL, EAR_HORNS, TAIL_DRAGON, X_WINGS | X_MUZZLE, RGB(60, 150, 80), RGB(225, 210, 140), RGB(240, 190, 30), CUES("proud", "fiery", "secretly kind"), 0, 0},
    {"dinosaur", "dinosaur", "scales", FAM_ANIMAL, EAR_NONE, TAIL_DRAGON, X_SPIKES | X_MUZZLE, RGB(90, 160, 90), RGB(215, 220, 150), RGB(240, 190, 30), CUES("big-hearted", "clumsy", "loud"), 0, 0},
    {"monster", "monster", "fur", FAM_ANIMAL, EAR_HORNS, TAIL_SHORT, 0, RGB(90, 150, 200), RGB(200, 225, 240), RGB(240, 200, 40), CUES("shy", "misunderstood", "gentle"), 0, 0},
    {"alien", "alien", "skin", FAM_ANIMAL, EAR_NONE, TAIL_NONE, X_ANTENNA, RGB(120, 200, 110), RGB(200, 240, 190), RGB(36, 36, 42), CUES("curious", "polite", "puzzled"), 0, 0},
    {"ghost", "ghost", "sheet", FAM_GHOST, EAR_NONE, TAIL_NONE, 0, RGB(240, 242, 250), RGB(220, 225, 240), RGB(36, 36, 42), CUES("lonely", "playful", "gentle"), 0, 0},
    {"robot", "robot", "plating", FAM_ROBOT, EAR_NONE, TAIL_NONE, X_ANTENNA, RGB(170, 180, 195), RGB(90, 100, 115), RGB(60, 200, 240), CUES("literal", "helpful", "earnest"), 0, 0},
    {"person", "person", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(70, 110, 170), RGB(60, 62, 80), RGB(90, 60, 35), CUES("kind", "steady", "curious"), TOP_SHORT, HAT_NONE},
    {"girl", "girl", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_CHILD, RGB(205, 55, 65), RGB(70, 70, 120), RGB(90, 60, 35), CUES("brave", "curious", "stubborn"), TOP_DRESS, HAT_NONE},
    {"boy", "boy", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_CHILD, RGB(60, 110, 200), RGB(70, 70, 90), RGB(90, 60, 35), CUES("energetic", "loyal", "reckless"), TOP_SHORT, HAT_NONE},
    {"child", "child", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_CHILD, RGB(240, 200, 60), RGB(70, 90, 140), RGB(90, 60, 35), CUES("curious", "hopeful", "brave"), TOP_SHORT, HAT_NONE},
    {"knight", "knight", "armour", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(180, 185, 195), RGB(150, 40, 40), RGB(60, 90, 160), CUES("noble", "steadfast", "earnest"), TOP_ARMOUR, HAT_HELMET},
    {"wizard", "wizard", "robes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(70, 60, 160), RGB(230, 200, 80), RGB(60, 90, 160), CUES("wise", "eccentric", "forgetful"), TOP_ROBE, HAT_POINTED},
    {"witch", "witch", "robes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(60, 40, 80), RGB(120, 200, 90), RGB(90, 170, 80), CUES("sharp", "wry", "secretly warm"), TOP_ROBE, HAT_POINTED},
    {"detective", "detective", "coat", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(160, 130, 90), RGB(90, 70, 50), RGB(70, 50, 35), CUES("methodical", "dry-witted", "patient"), TOP_LONG, HAT_FEDORA},
    {"pirate", "pirate", "coat", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(150, 30, 40), RGB(40, 40, 50), RGB(70, 50, 35), CUES("bold", "boastful", "generous"), TOP_LONG, HAT_TRICORN},
    {"astronaut", "astronaut", "spacesuit", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(235, 235, 238), RGB(230, 230, 232), RGB(70, 90, 140), CUES("calm", "precise", "adventurous"), TOP_SUIT, HAT_HELMET},
    {"explorer", "explorer", "clothes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(120, 140, 80), RGB(150, 110, 70), RGB(70, 50, 35), CUES("adventurous", "resourceful", "optimistic"), TOP_SHORT, HAT_BRIM},
    {"chef", "chef", "whites", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(246, 246, 244), RGB(50, 50, 60), RGB(70, 50, 35), CUES("passionate", "exacting", "generous"), TOP_SHORT, HAT_CHEF},
    {"king", "king", "robes", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(150, 30, 50), RGB(240, 230, 210), RGB(70, 50, 35), CUES("proud", "generous", "lonely"), TOP_ROBE, HAT_CROWN},
    {"queen", "queen", "gown", FAM_HUMAN, EAR_NONE, TAIL_NONE, 0, RGB(110, 50, 150), RGB(240, 230, 210), RGB(70, 50, 35), CUES("wise", "gracious", "determined"), TOP_DRESS, HAT_CROWN},
    {"fairy", "fairy", "dress", FAM_HUMAN, EAR_NONE, TAIL_NONE, X_WINGS | X_CHILD, RGB(150, 210, 120), RGB(220, 240, 200), RGB(60, 140, 90), CUES("quick", "mischievous", "kind"), TOP_DRESS, HAT_NONE},
    {"creature", "creature", "fur", FAM_ANIMAL, EAR_ROUND, TAIL_SHORT, X_MUZZLE, RGB(150, 110, 190), RGB(235, 225, 240), RGB(50, 40, 60), CUES("curious", "friendly", "odd"), 0, 0},
};
const size_t n_kinds = sizeof kinds / sizeof kinds[0];

const char *const gs_ld_kind_words[] = {
    "fox", "owl", "cat", "kitten", "dog", "puppy", "wolf", "bear", "panda", "rabbit", "bunny", "hare", "mouse",
    "squirrel", "raccoon", "deer", "lion", "tiger", "frog", "pig", "cow", "horse", "unicorn", "sheep", "goat",
    "elephant", "monkey", "turtle", "hedgehog", "penguin", "bird", "robin", "crow", "raven", "duck", "chicken",
    "parrot", "seagull", "eagle", "bat", "fish", "octopus", "dragon", "dinosaur", "monster", "alien", "ghost",
    "robot", "person", "girl", "boy", "child", "knight", "wizard", "witch", "detective", "pirate", "astronaut",
    "explorer", "chef", "king", "queen", "fairy", "creature", NULL};

const struct kind *kind_named(const char *canonical)
{
    if (!canonical)
        return NULL;
    for (size_t i = 0; i < n_kinds; i++)
        if (strcmp(kinds[i].word, canonical) == 0)
            return &kinds[i];
    return NULL;
}

const struct kind *kind_word(const char *w)
{
    return kind_named(word_tag(w, WC_KIND));
}

/* ---- reading a figure ---- */

const char *const eye_words[] = {"eyes", "eye", "eyed", NULL};
static const char *const accent_words[] = {"scarf", "cap", "cloak", "cape", "bandana", "collar", "bow", "ribbon", "hood", "hat", NULL};
static const char *const cover_words[] = {"fur", "feathers", "plumage", "coat", "scales", "body", "plating", "robes",
                                          "clothes", "armour", "armor", "spacesuit", "skin", "wool", "hide", "shell", NULL};

/* A colour word at i, adjusted by a "dark"/"light" word before it. */
static rgb colour_at(const tokens *t, int i, const struct colour *c)
{
    rgb v = c->c;
    if (tok_is(t, i - 1, "dark") || tok_is(t, i - 1, "deep"))
        v = shade(v, 0.65);
    else if (tok_is(t, i - 1, "light") || tok_is(t, i - 1, "pale") || tok_is(t, i - 1, "pastel"))
        v = mix(v, (rgb){255, 255, 255}, 0.45);
    return v;
}

static int top_style(const char *garment)
{
    static const struct {
        const char *g;
        int top;
    } map[] = {{"coat", TOP_LONG},      {"raincoat", TOP_LONG},   {"cloak", TOP_LONG},     {"dress", TOP_DRESS},
               {"robe", TOP_ROBE},      {"armour", TOP_ARMOUR},   {"spacesuit", TOP_SUIT}, {"overalls", TOP_OVERALLS},
               {"jacket", TOP_SHORT},   {"sweater", TOP_SHORT},   {"shirt", TOP_SHORT},    {"hoodie", TOP_SHORT},
               {"uniform", TOP_SHORT},  {"suit", TOP_SHORT},      {"tunic", TOP_SHORT},    {"vest", TOP_SHORT}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].g, garment) == 0)
            return map[i].top;
    return -1;
}

/* The hat named at token i: "knit hat", "top hat", "sou'wester", "cap". */
static int hat_at(const tokens *t, int i)
{
    const char *w = i >= 0 && i < t->n ? t->w[i] : "";
    const char *tag = word_tag(w, WC_HAT);
    if (tag)
        return vocab_index(WC_HAT, tag) + 1; /* HAT_CAP == 1, in vocab order */
    if (strcmp(w, "hat") != 0)
        return HAT_NONE;
    static const struct {
        const char *mod;
        int hat;
    } mods[] = {{"top", HAT_TOP},         {"bowler", HAT_TOP},     {"sun", HAT_BRIM},       {"straw", HAT_BRIM},
                {"cowboy", HAT_BRIM},     {"wide-brimmed", HAT_BRIM}, {"knit", HAT_BEANIE}, {"knitted", HAT_BEANIE},
                {"woolly", HAT_BEANIE},   {"wool", HAT_BEANIE},    {"bobble", HAT_BEANIE},  {"chef's", HAT_CHEF},
                {"chef", HAT_CHEF},       {"hard", HAT_HARD},      {"wizard", HAT_POINTED}, {"witch", HAT_POINTED},
                {"wizard's", HAT_POINTED}, {"witch's", HAT_POINTED}, {"pointed", HAT_POINTED}, {"pointy", HAT_POINTED},
                {"party", HAT_POINTED},   {"sailor", HAT_CAP},     {"rain", HAT_SOUWESTER}, {"fishing", HAT_BRIM}};
    for (int back = 1; back <= 2; back++)
        for (size_t m = 0; m < sizeof mods / sizeof mods[0]; m++)
            if (tok_is(t, i - back, mods[m].mod))
                return mods[m].hat;
    return HAT_FEDORA;
}

static void person_defaults(figure *f, const struct kind *kind)
{
    f->top = kind->top;
    f->hat = kind->hat;
    f->legs = kind->belly;
    f->shoes = (rgb){70, 48, 34};
    f->hair = (rgb){90, 60, 35};
    f->hair_style = HAIR_SHORT;
    f->beard_colour = f->hair;
    f->hat_colour = shade(kind->body, 0.7);
    f->apron_colour = (rgb){245, 245, 240};
    f->child = (kind->extras & X_CHILD) != 0;
    if (kind->hat == HAT_CHEF)
        f->hat_colour = (rgb){250, 250, 250};
    else if (kind->hat == HAT_CROWN)
        f->hat_colour = (rgb){235, 190, 50};
    else if (kind->hat == HAT_HELMET)
        f->hat_colour = kind->body;
}

static const char *const she_words[] = {"she", "her", "woman", "girl", "lady", "grandmother", "grandma", "queen", "mother", "aunt", NULL};
static const char *const he_words[] = {"he", "his", "him", "man", "boy", "gentleman", "grandfather", "grandpa", "king", "father", "uncle", NULL};

/* Hair style words near "hair" (or standing alone: "bald", "ponytail"). */
static void read_hair_style(const tokens *t, int from, int to, figure *f, int *style_set)
{
    for (int i = from; i < to; i++) {
        const char *w = t->w[i];
        int near_hair = tok_is(t, i + 1, "hair") || tok_is(t, i + 2, "hair") || tok_is(t, i + 3, "hair");
        int style = -1;
        if (!strcmp(w, "bald"))
            style = HAIR_BALD;
        else if (!strcmp(w, "ponytail") || !strcmp(w, "braid") || !strcmp(w, "braids") || !strcmp(w, "plait") || !strcmp(w, "plaits"))
            style = HAIR_PONYTAIL;
        else if (!strcmp(w, "bun"))
            style = HAIR_BUN;
        else if ((!strcmp(w, "curly") || !strcmp(w, "frizzy") || !strcmp(w, "wild")) && near_hair)
            style = HAIR_CURLY;
        else if (!strcmp(w, "long") && near_hair)
            style = HAIR_LONG;
        else if ((!strcmp(w, "short") || !strcmp(w, "cropped")) && near_hair)
            style = HAIR_SHORT;
        if (style >= 0 && !*style_set) {
            f->hair_style = style;
            *style_set = 1;
        }
    }
}

static void read_skin(const tokens *t, int from, int to, figure *f)
{
    static const struct {
        const char *w;
        rgb c;
    } tones[] = {{"pale", {245, 212, 190}}, {"fair", {242, 205, 180}}, {"light", {236, 195, 160}},
                 {"olive", {205, 160, 115}}, {"tan", {200, 150, 105}}, {"tanned", {200, 150, 105}},
                 {"brown", {150, 100, 65}},  {"dark", {105, 70, 48}},  {"freckled", {238, 190, 150}}};
    for (int i = from; i < to; i++) {
        if (!tok_is(t, i + 1, "skin") && !tok_is(t, i + 1, "skinned") && !tok_is(t, i + 1, "complexion"))
            continue;
        for (size_t k = 0; k < sizeof tones / sizeof tones[0]; k++)
            if (tok_is(t, i, tones[k].w))
                f->skin = tones[k].c;
    }
}

/* What a colour word at i colours on a person: returns 1 when it was used. */
static int person_colour(const tokens *t, int i, rgb v, const char *word, figure *f, int *top_set, int *hair_set)
{
    for (int j = i + 1; j <= i + 3 && j < t->n; j++) {
        const char *w = t->w[j];
        if (!strcmp(w, ",") || !strcmp(w, "and") || !strcmp(w, "with") || colour_word(w))
            return 0;
        if (!strcmp(w, "hair") || !strcmp(w, "curls") || !strcmp(w, "ponytail") || !strcmp(w, "bun")) {
            if (!*hair_set) {
                f->hair = v;
                if (!f->beard)
                    f->beard_colour = v;
                *hair_set = 1;
            }
            return 1;
        }
        if (!strcmp(w, "beard") || !strcmp(w, "moustache") || !strcmp(w, "mustache")) {
            f->beard_colour = v;
            return 1;
        }
        if (tok_any(t, j, eye_words)) {
            if (!f->eye_word) {
                f->eye = v;
                f->eye_word = word;
            }
            return 1;
        }
        int hat = hat_at(t, j);
        if (hat != HAT_NONE) {
            f->hat = hat;
            f->hat_colour = v;
            return 1;
        }
        const char *g = word_tag(w, WC_GARMENT);
        if (!g)
            continue;
        int top = top_style(g);
        if (top >= 0) {
            if (!*top_set) {
                f->top = top;
                f->body = v;
                f->body_word = word;
                *top_set = 1;
            }
        } else if (!strcmp(g, "trousers") || !strcmp(g, "jeans") || !strcmp(g, "skirt") || !strcmp(g, "shorts")) {
            f->legs = v;
        } else if (!strcmp(g, "apron")) {
            f->apron = 1;
            f->apron_colour = v;
        } else if (!strcmp(g, "boots") || !strcmp(g, "shoes")) {
            f->shoes = v;
        } else if (!strcmp(g, "scarf")) {
            f->accent = v;
            f->accent_word = word;
            f->has_accent = 1;
        }
        return 1;
    }
    return 0;
}

static void parse_person(const tokens *t, int from, int to, figure *f)
{
    int top_set = 0, hair_set = 0, style_set = 0, she = 0, he = 0, old = 0;
    for (int i = from; i < to; i++) {
        const char *w = t->w[i];
        she |= tok_any(t, i, she_words);
        he |= tok_any(t, i, he_words);
        old |= !strcmp(w, "old") || !strcmp(w, "elderly") || !strcmp(w, "grandmother") || !strcmp(w, "grandfather") ||
               !strcmp(w, "grandma") || !strcmp(w, "grandpa") || !strcmp(w, "aged");
        if (!strcmp(w, "beard") || !strcmp(w, "bearded"))
            f->beard = 1;
        if (!strcmp(w, "moustache") || !strcmp(w, "mustache"))
            f->moustache = 1;
        if (!strcmp(w, "glasses") || !strcmp(w, "spectacles") || !strcmp(w, "goggles"))
            f->glasses = 1;
        const char *g = word_tag(w, WC_GARMENT);
        if (g && !strcmp(g, "apron"))
            f->apron = 1;
        if (g && !top_set && top_style(g) >= 0)
            f->top = top_style(g); /* "wears a raincoat": the cut even without a colour */
        int hat = hat_at(t, i);
        if (hat != HAT_NONE && f->hat == HAT_NONE)
            f->hat = hat;
        const struct colour *c = colour_word(w);
        if (c)
            person_colour(t, i, colour_at(t, i, c), c->word, f, &top_set, &hair_set);
    }
    read_hair_style(t, from, to, f, &style_set);
    read_skin(t, from, to, f);
    if (!style_set && she && !he)
        f->hair_style = HAIR_LONG;
    if (!hair_set && old)
        f->hair = f->beard_colour = (rgb){200, 200, 205};
    if (f->hat == HAT_HELMET && f->top == TOP_SUIT)
        f->hat_colour = f->body;
}

static void parse_animal(const tokens *t, int k, int from, int to, figure *f, int body_set)
{
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
        } else if (tok_is(t, i + 1, "hair") || tok_is(t, i + 1, "mane")) {
            f->hair = colour_at(t, i, c);
        } else if (tok_any(t, i + 1, accent_words) || tok_any(t, i + 2, accent_words)) {
            if (!f->has_accent) {
                f->accent = colour_at(t, i, c);
                f->accent_word = c->word;
                f->has_accent = 1;
            }
        } else if (tok_is(t, i + 1, "belly") || tok_is(t, i + 1, "chest") || tok_is(t, i + 2, "belly")) {
            f->belly = colour_at(t, i, c);
        } else if (!body_set && (tok_any(t, i + 1, cover_words) || i > k)) {
            f->body = colour_at(t, i, c);
            f->body_word = c->word;
            body_set = 1;
        }
    }
}

/* Reads colours and features for the kind at token k, from the clause [from, to). */
void parse_figure(const tokens *t, const struct kind *kind, int k, int from, int to, figure *f)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->body = kind->body;
    f->belly = kind->belly;
    f->eye = kind->eye;
    f->skin = (rgb){236, 190, 150};
    f->hair = kind->family == FAM_ANIMAL && (kind->extras & X_MANE) ? shade(kind->body, 0.7) : (rgb){90, 60, 35};
    if (kind->family == FAM_HUMAN)
        person_defaults(f, kind);
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
    if (kind->family == FAM_HUMAN)
        parse_person(t, from, to, f);
    else
        parse_animal(t, k, from, to, f, body_set);
    if (!f->has_accent)
        f->accent = (rgb){(unsigned char)(255 - f->body.r / 2), (unsigned char)(200 - f->body.g / 3),
                          (unsigned char)(90 + f->body.b / 3)};
}

/* The first character described in text, or the fallback creature. */
void figure_from_text(const char *text, figure *f)
{
    tokens t;
    if (tokenize(text, &t) != 0) {
        t.n = 0;
        t.buf = NULL;
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
    for (int i = k + 1; i < t.n; i++) {
        const struct kind *other = kind_word(t.w[i]);
        /* a person's clause runs on past "a man" or "a woman" (same family) */
        if (other && other != kind && !(other->family == FAM_HUMAN && kind->family == FAM_HUMAN)) {
            to = i;
            break;
        }
    }
    parse_figure(&t, kind, k, 0, to, f);
    free(t.buf);
}

/* ---- drawing ---- */

static const rgb white = {250, 250, 248}, black = {25, 22, 28};

/* Big round storybook eyes looking toward look (-1..1). */
static void draw_eyes(canvas *c, const figure *f, double cx, double y, double ex, double er, double look, double s)
{
    for (int side = -1; side <= 1; side += 2) {
        double x = cx + side * ex, dx = look * er * 0.35;
        circle(c, x, y, er + 0.006 * s, shade(f->kind->family == FAM_HUMAN ? f->skin : f->body, 0.4));
        circle(c, x, y, er, white);
        circle(c, x + dx, y + er * 0.1, er * 0.72, f->eye);
        circle(c, x + dx, y + er * 0.1, er * 0.36, black);
        circle(c, x + dx - er * 0.3, y - er * 0.3, er * 0.18, white);
    }
}

/* A ring of n short segments (glasses, portholes). */
static void ring(canvas *c, double cx, double cy, double r, double width, rgb col)
{
    for (int i = 0; i < 16; i++) {
        double a0 = i * M_PI / 8, a1 = (i + 1) * M_PI / 8;
        line_seg(c, cx + r * cos(a0), cy + r * sin(a0), cx + r * cos(a1), cy + r * sin(a1), width, col, 1);
    }
}

/* A hat sitting on the brow line (just above the eyes) of a head of radius hr. */
static void draw_hat(canvas *c, const figure *f, double hx, double hy, double hr, double top, double s)
{
    rgb h = f->hat_colour, rim = shade(h, 0.7);
    double brow = hy - 0.22 * hr;
    switch (f->hat) {
    case HAT_CAP:
        ellipse(c, hx, brow - 0.45 * hr, hr * 1.03, hr * 0.5, 0, h, 1);
        ellipse(c, hx + hr * 0.55, brow, hr * 0.62, hr * 0.13, 0.08, rim, 1);
        break;
    case HAT_BEANIE:
        ellipse(c, hx, brow - 0.5 * hr, hr * 1.06, hr * 0.58, 0, h, 1);
        rect(c, hx - hr * 1.06, brow - 0.3 * hr, hx + hr * 1.06, brow + 0.02 * hr, rim, 1);
        circle(c, hx, fmax(top + 0.2 * hr, brow - 1.2 * hr), hr * 0.2, mix(h, white, 0.3));
        break;
    case HAT_BRIM:
    case HAT_SOUWESTER:
        if (f->hat == HAT_SOUWESTER) /* the long back flap over the neck */
            ellipse(c, hx, brow + 0.2 * hr, hr * 1.25, hr * 0.45, 0, h, 1);
        ellipse(c, hx, brow - 0.05 * hr, hr * (f->hat == HAT_BRIM ? 1.8 : 1.45), hr * 0.2, 0, rim, 1);
        ellipse(c, hx, brow - 0.45 * hr, hr * 0.92, hr * 0.5, 0, h, 1);
        break;
    case HAT_TOP:
        ellipse(c, hx, brow - 0.05 * hr, hr * 1.4, hr * 0.16, 0, rim, 1);
        rect(c, hx - hr * 0.75, fmax(top, brow - 1.4 * hr), hx + hr * 0.75, brow - 0.05 * hr, h, 1);
        rect(c, hx - hr * 0.75, brow - 0.35 * hr, hx + hr * 0.75, brow - 0.2 * hr, shade(h, 0.6), 1);
        break;
    case HAT_CHEF:
        rect(c, hx - hr * 0.82, brow - 0.55 * hr, hx + hr * 0.82, brow + 0.02 * hr, h, 1);
        ellipse(c, hx, fmax(top + 0.5 * hr, brow - 0.95 * hr), hr * 1.02, hr * 0.55, 0, h, 1);
        break;
    case HAT_HELMET:
        blob(c, hx, hy, hr * 1.3, hr * 1.3, 0, h, s);
        ellipse(c, hx, hy + hr * 0.1, hr * 0.95, hr * 0.8, 0, mix((rgb){60, 80, 120}, h, 0.1), 0.35);
        break;
    case HAT_HOOD:
        blob(c, hx, hy - hr * 0.1, hr * 1.25, hr * 1.2, 0, h, s);
        break;
    case HAT_CROWN: {
        double y0 = brow, y1 = fmax(top, brow - 0.9 * hr), mid = (y0 + y1) / 2;
        rect(c, hx - hr * 0.75, mid, hx + hr * 0.75, y0, h, 1);
        for (int i = -1; i <= 1; i++)
            triangle(c, hx + i * hr * 0.5 - hr * 0.25, mid, hx + i * hr * 0.5 + hr * 0.25, mid, hx + i * hr * 0.5, y1, h);
        circle(c, hx, (mid + y0) / 2, hr * 0.1, (rgb){200, 40, 60});
        break;
    }
    case HAT_BERET:
        ellipse(c, hx - hr * 0.2, brow - 0.35 * hr, hr * 1.1, hr * 0.35, -0.2, h, 1);
        break;
    case HAT_POINTED:
        ellipse(c, hx, brow, hr * 1.6, hr * 0.22, 0, rim, 1);
        triangle(c, hx - hr, brow, hx + hr, brow, hx + hr * 0.3, top, h);
        break;
    case HAT_TRICORN:
        triangle(c, hx - hr * 1.5, brow, hx + hr * 1.5, brow, hx, fmax(top, brow - 1.0 * hr), h);
        ellipse(c, hx, brow, hr * 1.5, hr * 0.15, 0, rim, 1);
        break;
    case HAT_FEDORA:
        ellipse(c, hx, brow - 0.05 * hr, hr * 1.5, hr * 0.18, 0, rim, 1);
        rect(c, hx - hr * 0.85, brow - 0.7 * hr, hx + hr * 0.85, brow - 0.05 * hr, h, 1);
        rect(c, hx - hr * 0.85, brow - 0.3 * hr, hx + hr * 0.85, brow - 0.15 * hr, shade(h, 0.5), 1);
        break;
    case HAT_HARD:
        ellipse(c, hx, brow, hr * 1.3, hr * 0.15, 0, rim, 1);
        ellipse(c, hx, brow - 0.3 * hr, hr * 1.0, hr * 0.6, 0, h, 1);
        break;
    default:
        break;
    }
}

/* Hair behind the head (long, ponytail, bun): drawn before the body. */
static void draw_hair_back(canvas *c, const figure *f, double hx, double hy, double hr, double s)
{
    if (f->hair_style == HAIR_LONG)
        blob(c, hx, hy + hr * 0.45, hr * 1.18, hr * 1.25, 0, f->hair, s);
    else if (f->hair_style == HAIR_PONYTAIL)
        blob(c, hx + hr * 0.95, hy + hr * 0.35, hr * 0.32, hr * 0.8, -0.35, f->hair, s);
    else if (f->hair_style == HAIR_BUN)
        blob(c, hx, hy - hr * 1.05, hr * 0.42, hr * 0.36, 0, f->hair, s);
}

static void draw_hair_top(canvas *c, const figure *f, double hx, double hy, double hr)
{
    if (f->hair_style == HAIR_BALD) {
        ellipse(c, hx - hr * 0.92, hy + hr * 0.05, hr * 0.18, hr * 0.35, 0, f->hair, 1);
        ellipse(c, hx + hr * 0.92, hy + hr * 0.05, hr * 0.18, hr * 0.35, 0, f->hair, 1);
        return;
    }
    if (f->hair_style == HAIR_CURLY) {
        for (int i = 0; i < 7; i++) {
            double a = M_PI * (0.05 + 0.9 * i / 6.0);
            circle(c, hx - cos(a) * hr * 0.95, hy - sin(a) * hr * 0.8 - hr * 0.1, hr * 0.33, f->hair);
        }
        return;
    }
    /* the top of the head down to the forehead */
    ellipse(c, hx, hy - hr * 0.55, hr * 1.03, hr * 0.55, 0, f->hair, 1);
    if (f->hair_style == HAIR_LONG || f->hair_style == HAIR_PONYTAIL) {
        ellipse(c, hx - hr * 0.88, hy + hr * 0.05, hr * 0.22, hr * 0.55, 0, f->hair, 1);
        ellipse(c, hx + hr * 0.88, hy + hr * 0.05, hr * 0.22, hr * 0.55, 0, f->hair, 1);
    }
}

static void draw_face(canvas *c, const figure *f, double hx, double hy, double hr, double look, double s)
{
    double ex = hr * 0.38, er = hr * 0.22, ey = hy + hr * 0.12;
    if (f->beard) /* the jaw and chin, below the cheeks */
        blob(c, hx, hy + hr * 0.8, hr * 0.72, hr * 0.47, 0, f->beard_colour, s);
    draw_eyes(c, f, hx + look * hr * 0.08, ey, ex, er, look, s);
    ellipse(c, hx - hr * 0.58, hy + hr * 0.45, hr * 0.16, hr * 0.09, 0, (rgb){235, 120, 120}, 0.3);
    ellipse(c, hx + hr * 0.58, hy + hr * 0.45, hr * 0.16, hr * 0.09, 0, (rgb){235, 120, 120}, 0.3);
    if (f->moustache || f->beard)
        ellipse(c, hx, hy + hr * 0.5, hr * 0.36, hr * 0.1, 0, shade(f->beard_colour, 0.85), 1);
    ellipse(c, hx, hy + hr * 0.64, hr * 0.2, hr * 0.07, 0, f->beard ? shade(f->beard_colour, 0.45) : (rgb){150, 60, 60},
            1);
    if (f->glasses) {
        rgb frame = {40, 38, 45};
        for (int side = -1; side <= 1; side += 2)
            ring(c, hx + look * hr * 0.08 + side * ex, ey, er * 1.3, fmax(1.5, s * 0.006), frame);
        line_seg(c, hx - ex + er * 1.3, ey, hx + ex - er * 1.3, ey, fmax(1.5, s * 0.006), frame, 1);
    }
}

/* The torso of a person by the cut of the top. */
static void draw_torso(canvas *c, const figure *f, double cx, double base, double s, double lx)
{
    rgb body = f->body, outline = shade(body, 0.45);
    double sy = base - 0.66 * s, hem_y, half_top = 0.15 * s, half_hem;
    switch (f->top) {
    case TOP_LONG: hem_y = base - 0.17 * s; half_hem = 0.19 * s; break;
    case TOP_DRESS: hem_y = base - 0.2 * s; half_hem = 0.23 * s; half_top = 0.13 * s; break;
    case TOP_ROBE: hem_y = base - 0.05 * s; half_hem = 0.21 * s; break;
    case TOP_SUIT: hem_y = base - 0.3 * s; half_hem = 0.19 * s; half_top = 0.17 * s; break;
    default: hem_y = base - 0.33 * s; half_hem = 0.16 * s; break;
    }
    double o = s * 0.012 + 1;
    double xs[4] = {cx + lx - half_top - o, cx + lx + half_top + o, cx + half_hem + o, cx - half_hem - o};
    double ys[4] = {sy - o, sy - o, hem_y + o, hem_y + o};
    quad(c, xs, ys, outline, 1);
    double xi[4] = {cx + lx - half_top, cx + lx + half_top, cx + half_hem, cx - half_hem};
    double yi[4] = {sy, sy, hem_y, hem_y};
    quad(c, xi, yi, body, 1);
    blob(c, cx + lx, sy + 0.03 * s, half_top + 0.02 * s, 0.05 * s, 0, body, s); /* shoulders */
    if (f->top == TOP_OVERALLS) {
        double bx[4] = {cx + lx * 0.6 - 0.09 * s, cx + lx * 0.6 + 0.09 * s, cx + 0.15 * s, cx - 0.15 * s};
        double by[4] = {base - 0.55 * s, base - 0.55 * s, hem_y, hem_y};
        quad(c, bx, by, f->legs, 1);
    } else if (f->top == TOP_ARMOUR) {
        ellipse(c, cx + lx, base - 0.5 * s, 0.09 * s, 0.11 * s, 0, mix(body, white, 0.45), 0.6);
    } else if (f->top == TOP_LONG || f->top == TOP_SHORT) {
        for (int i = 0; i < 3; i++) /* buttons or toggles down the front */
            circle(c, cx + lx * (1 - i * 0.3), sy + (0.09 + 0.09 * i) * s, 0.012 * s, shade(body, 0.55));
    }
    if (f->apron) {
        double ax[4] = {cx + lx * 0.7 - 0.1 * s, cx + lx * 0.7 + 0.1 * s, cx + 0.14 * s, cx - 0.14 * s};
        double ay[4] = {base - 0.58 * s, base - 0.58 * s, base - 0.2 * s, base - 0.2 * s};
        quad(c, ax, ay, f->apron_colour, 1);
    }
    if (f->has_accent)
        blob(c, cx + lx, sy + 0.005 * s, 0.12 * s, 0.035 * s, 0, f->accent, s);
}

static void draw_arm(canvas *c, const figure *f, double sx, double sy, int side, double raise, double s)
{
    /* raise 0: hanging by the side; 0.6: pointing level; 1: straight up */
    double theta = 0.25 + raise * 2.6, len = 0.27 * s;
    double hx = sx + side * sin(theta) * len, hy = sy + cos(theta) * len;
    double w = f->top == TOP_SUIT ? 0.09 * s : 0.07 * s;
    line_seg(c, sx, sy, hx, hy, w + s * 0.024 + 2, shade(f->body, 0.45), 1);
    line_seg(c, sx, sy, hx, hy, w, f->body, 1);
    circle(c, hx, hy, 0.036 * s, f->top == TOP_SUIT ? f->body : f->skin);
}

static void draw_person(canvas *c, const figure *f, double cx, double base, double s, const pose *p)
{
    double full = s;
    if (f->child)
        s *= 0.82;
    double lx = p->lean * 0.3 * s, look = p->look;
    double hr = 0.125 * s, hx = cx + lx * 1.3 + look * 0.015 * s, hy = base - 0.8 * s;
    /* wings (a fairy) and long hair sit behind */
    if (f->kind->extras & X_WINGS) {
        ellipse(c, cx + lx - 0.2 * s, base - 0.62 * s, 0.1 * s, 0.2 * s, 0.5, (rgb){220, 235, 250}, 0.75);
        ellipse(c, cx + lx + 0.2 * s, base - 0.62 * s, 0.1 * s, 0.2 * s, -0.5, (rgb){220, 235, 250}, 0.75);
    }
    if (f->hat != HAT_HELMET)
        draw_hair_back(c, f, hx, hy, hr, s);
    /* legs and shoes */
    for (int side = -1; side <= 1; side += 2) {
        double swing = sin(p->step) * side * 0.04 * s, up = fmax(0, side * sin(p->step)) * 0.04 * s;
        double hipx = cx + side * 0.055 * s, fx = cx + side * 0.065 * s + swing, fy = base - 0.04 * s - up;
        line_seg(c, hipx, base - 0.36 * s, fx, fy, 0.085 * s + s * 0.024 + 2, shade(f->legs, 0.45), 1);
        line_seg(c, hipx, base - 0.36 * s, fx, fy, 0.085 * s, f->legs, 1);
        blob(c, fx + side * 0.01 * s, fy + 0.015 * s, 0.062 * s, 0.03 * s, 0, f->shoes, s);
    }
    double sy = base - 0.62 * s;
    int pointing = p->arm > 0.05;
    for (int side = -1; side <= 1; side += 2)
        if (!(pointing && side == p->arm_side))
            draw_arm(c, f, cx + lx + side * 0.14 * s, sy, side, 0.05 + fabs(sin(p->step)) * 0.04, s);
    draw_torso(c, f, cx, base, s, lx);
    if (pointing)
        draw_arm(c, f, cx + lx + p->arm_side * 0.14 * s, sy, p->arm_side, p->arm, s);
    rect(c, hx - 0.035 * s, hy + hr * 0.7, hx + 0.035 * s, sy + 0.01 * s, shade(f->skin, 0.85), 1); /* neck */
    if (f->hat == HAT_HOOD)
        draw_hat(c, f, hx, hy, hr, base - full, s);
    blob(c, hx, hy, hr, hr * 1.02, 0, f->skin, s);
    if (f->hat != HAT_HELMET && f->hat != HAT_HOOD)
        draw_hair_top(c, f, hx, hy, hr);
    draw_face(c, f, hx, hy, hr, look, s);
    if (f->hat != HAT_HOOD)
        draw_hat(c, f, hx, hy, hr, base - full + 2, s);
}

static void draw_robot(canvas *c, const figure *f, double cx, double base, double s, const pose *p)
{
    rgb body = f->body, dark = shade(body, 0.7);
    double lx = p->lean * 0.3 * s;
    for (int side = -1; side <= 1; side += 2) {
        double up = fmax(0, side * sin(p->step)) * 0.04 * s;
        rect(c, cx + side * 0.1 * s - 0.04 * s, base - 0.14 * s - up, cx + side * 0.1 * s + 0.04 * s, base - up, dark, 1);
    }
    for (int side = -1; side <= 1; side += 2) {
        double raise = (p->arm > 0.05 && side == p->arm_side) ? p->arm : 0.05;
        double theta = 0.2 + raise * 2.6, len = 0.25 * s, sx = cx + lx + side * 0.21 * s, sy = base - 0.5 * s;
        double hx = sx + side * sin(theta) * len, hy = sy + cos(theta) * len;
        line_seg(c, sx, sy, hx, hy, 0.06 * s, shade(body, 0.45), 1);
        line_seg(c, sx, sy, hx, hy, 0.04 * s, body, 1);
        circle(c, hx, hy, 0.035 * s, dark);
    }
    rect(c, cx + lx - 0.22 * s, base - 0.56 * s, cx + lx + 0.22 * s, base - 0.13 * s, shade(body, 0.45), 1);
    rect(c, cx + lx - 0.2 * s, base - 0.54 * s, cx + lx + 0.2 * s, base - 0.15 * s, body, 1);
    rect(c, cx + lx - 0.1 * s, base - 0.45 * s, cx + lx + 0.1 * s, base - 0.25 * s, f->belly, 1);
    double hx = cx + lx * 1.3 + p->look * 0.015 * s;
    rect(c, hx - 0.005 * s, base - 1.0 * s, hx + 0.005 * s + 2, base - 0.88 * s, shade(body, 0.5), 1);
    circle(c, hx, base - 0.97 * s, 0.03 * s, f->eye);
    rect(c, hx - 0.19 * s, base - 0.89 * s, hx + 0.19 * s, base - 0.57 * s, shade(body, 0.45), 1);
    rect(c, hx - 0.17 * s, base - 0.87 * s, hx + 0.17 * s, base - 0.59 * s, body, 1);
    draw_eyes(c, f, hx, base - 0.75 * s, 0.07 * s, 0.042 * s, p->look, s);
    rect(c, hx - 0.07 * s, base - 0.66 * s, hx + 0.07 * s, base - 0.64 * s, shade(body, 0.4), 1);
}

/* Fish and octopus float in the middle of their box; a ghost hovers. */
static void draw_floater(canvas *c, const figure *f, double cx, double base, double s, const pose *p)
{
    const struct kind *k = f->kind;
    double cy = base - 0.5 * s + sin(p->step) * 0.02 * s;
    if (k->family == FAM_GHOST) {
        double xs[4] = {cx - 0.22 * s, cx + 0.22 * s, cx + 0.24 * s, cx - 0.24 * s};
        double ys[4] = {cy - 0.1 * s, cy - 0.1 * s, base - 0.08 * s, base - 0.08 * s};
        blob(c, cx, cy - 0.15 * s, 0.22 * s, 0.25 * s, 0, f->body, s);
        quad(c, xs, ys, f->body, 1);
        for (int i = 0; i < 4; i++)
            circle(c, cx - 0.18 * s + i * 0.12 * s, base - 0.08 * s, 0.06 * s, f->body);
        draw_eyes(c, f, cx + p->look * 0.02 * s, cy - 0.2 * s, 0.08 * s, 0.05 * s, p->look, s);
        ellipse(c, cx, cy - 0.06 * s, 0.04 * s, 0.05 * s, 0, (rgb){60, 50, 70}, 1);
        return;
    }
    if (k->extras & X_TENTACLES) {
        for (int i = 0; i < 6; i++) {
            double x0 = cx - 0.16 * s + i * 0.064 * s, wave = sin(p->step + i) * 0.04 * s;
            line_seg(c, x0, cy + 0.05 * s, x0 + wave + (i - 2.5) * 0.03 * s, base - 0.08 * s, 0.055 * s,
                     shade(f->body, 0.85), 1);
        }
        blob(c, cx, cy - 0.08 * s, 0.22 * s, 0.24 * s, 0, f->body, s);
        draw_eyes(c, f, cx, cy - 0.08 * s, 0.08 * s, 0.05 * s, p->look, s);
        return;
    }
    double dir = p->look < 0 ? -1 : 1;
    triangle(c, cx - dir * 0.2 * s, cy, cx - dir * 0.38 * s, cy - 0.14 * s, cx - dir * 0.38 * s, cy + 0.14 * s,
             shade(f->body, 0.8));
    blob(c, cx, cy, 0.26 * s, 0.17 * s, 0, f->body, s);
    ellipse(c, cx, cy + 0.06 * s, 0.17 * s, 0.07 * s, 0, f->belly, 1);
    triangle(c, cx - 0.05 * s, cy - 0.15 * s, cx + 0.08 * s, cy - 0.15 * s, cx - 0.02 * s, cy - 0.27 * s,
             shade(f->body, 0.8));
    circle(c, cx + dir * 0.13 * s, cy - 0.04 * s, 0.045 * s, white);
    circle(c, cx + dir * 0.14 * s, cy - 0.035 * s, 0.025 * s, black);
}

static void draw_tail(canvas *c, const figure *f, double cx, double base, double s, double side)
{
    const struct kind *k = f->kind;
    rgb body = f->body, dark = shade(body, 0.7);
    if (k->tail == TAIL_BUSHY) {
        double a = 0.65 * side, tx = cx + side * 0.27 * s, ty = base - 0.2 * s;
        blob(c, tx, ty, 0.08 * s, 0.2 * s, a, (k->extras & X_MANE) ? f->hair : body, s);
        if (k->extras & X_TIP) /* the far end of the tail's long axis */
            ellipse(c, tx + 0.15 * s * sin(a), ty - 0.15 * s * cos(a), 0.06 * s, 0.07 * s, a, white, 1);
    } else if (k->tail == TAIL_THIN) {
        blob(c, cx + side * 0.26 * s, base - 0.18 * s, 0.025 * s, 0.16 * s, -0.5 * side, body, s);
    } else if (k->tail == TAIL_SHORT) {
        blob(c, cx + side * 0.22 * s, base - 0.2 * s, 0.05 * s, 0.07 * s, -0.6 * side, body, s);
    } else if (k->tail == TAIL_CURLY) {
        for (int i = 0; i < 6; i++) {
            double a = i * 0.9;
            circle(c, cx + side * (0.24 * s + 0.05 * s * cos(a)), base - 0.22 * s - 0.05 * s * sin(a) - i * 0.01 * s,
                   0.022 * s, shade(body, 0.8));
        }
    } else if (k->tail == TAIL_DRAGON) {
        triangle(c, cx + side * 0.1 * s, base - 0.1 * s, cx + side * 0.1 * s, base - 0.22 * s, cx + side * 0.46 * s,
                 base - 0.05 * s, dark);
    }
}

static void draw_ears(canvas *c, const figure *f, double cx, double hy, double s)
{
    const struct kind *k = f->kind;
    rgb body = f->body, belly = f->belly, dark = shade(body, 0.7);
    for (int side = -1; side <= 1; side += 2) {
        double sx = side;
        switch (k->ears) {
        case EAR_POINTY:
            triangle(c, cx + sx * 0.04 * s, hy - 0.12 * s, cx + sx * 0.19 * s, hy - 0.08 * s, cx + sx * 0.17 * s,
                     hy - 0.3 * s, shade(body, 0.45));
            triangle(c, cx + sx * 0.06 * s, hy - 0.12 * s, cx + sx * 0.17 * s, hy - 0.09 * s, cx + sx * 0.155 * s,
                     hy - 0.27 * s, body);
            triangle(c, cx + sx * 0.09 * s, hy - 0.12 * s, cx + sx * 0.15 * s, hy - 0.11 * s, cx + sx * 0.145 * s,
                     hy - 0.22 * s, belly);
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
            triangle(c, cx + sx * 0.08 * s, hy - 0.14 * s, cx + sx * 0.18 * s, hy - 0.1 * s, cx + sx * 0.19 * s,
                     hy - 0.24 * s, dark);
            break;
        case EAR_HORNS:
            triangle(c, cx + sx * 0.06 * s, hy - 0.15 * s, cx + sx * 0.12 * s, hy - 0.14 * s, cx + sx * 0.14 * s,
                     hy - 0.3 * s, (rgb){235, 220, 180});
            break;
        case EAR_BIG:
            blob(c, cx + sx * 0.2 * s, hy - 0.02 * s, 0.12 * s, 0.15 * s, 0, shade(body, 0.9), s);
            ellipse(c, cx + sx * 0.2 * s, hy - 0.02 * s, 0.07 * s, 0.1 * s, 0, mix(body, (rgb){240, 170, 170}, 0.4), 1);
            break;
        default:
            break;
        }
    }
}

static void draw_animal_body(canvas *c, const figure *f, double cx, double base, double s, const pose *p, double *hy,
                             double *hr)
{
    const struct kind *k = f->kind;
    rgb body = f->body, dark = shade(body, 0.7), belly = f->belly;
    draw_tail(c, f, cx, base, s, p->look > 0.3 ? -1 : 1); /* the tail trails behind where it looks */
    if (k->extras & X_WINGS) {
        double wy = k->family == FAM_BIRD ? base - 0.36 * s : base - 0.5 * s;
        for (int sd = -1; sd <= 1; sd += 2) {
            double up = (p->arm > 0.05 && sd == p->arm_side) ? p->arm * 1.2 : 0;
            blob(c, cx + sd * (0.23 + 0.05 * up) * s, wy - 0.1 * up * s, 0.08 * s, 0.19 * s, -sd * (0.3 + up), dark, s);
        }
    }
    for (int sd = -1; sd <= 1; sd += 2) { /* feet */
        double up = fmax(0, sd * sin(p->step)) * 0.04 * s;
        blob(c, cx + sd * 0.09 * s, base - 0.03 * s - up, 0.065 * s, 0.035 * s, 0, dark, s);
    }
    double bw = k->family == FAM_BIRD ? 0.22 * s : 0.19 * s, lx = p->lean * 0.25 * s;
    if (k->extras & X_SHELL) {
        blob(c, cx + lx, base - 0.3 * s, 0.24 * s, 0.24 * s, 0, body, s);
        for (int i = 0; i < 5; i++)
            ellipse(c, cx + lx + (i - 2) * 0.08 * s, base - 0.32 * s - (i % 2) * 0.06 * s, 0.05 * s, 0.04 * s, 0,
                    shade(body, 0.75), 1);
    } else {
        blob(c, cx + lx, base - 0.3 * s, bw, 0.27 * s, 0, body, s);
        ellipse(c, cx + lx, base - 0.25 * s, bw * 0.6, 0.18 * s, 0, belly, 1);
    }
    if (k->extras & X_SPIKES)
        for (int i = 0; i < 7; i++) {
            double a = M_PI * (0.15 + 0.7 * i / 6.0);
            triangle(c, cx + lx - cos(a) * bw * 0.8, base - 0.3 * s - sin(a) * 0.2 * s,
                     cx + lx - cos(a + 0.2) * bw * 0.8, base - 0.3 * s - sin(a + 0.2) * 0.2 * s,
                     cx + lx - cos(a + 0.1) * bw * 1.25, base - 0.3 * s - sin(a + 0.1) * 0.33 * s, dark);
        }
    if (k->extras & X_SPOTS)
        for (int i = 0; i < 4; i++)
            ellipse(c, cx + lx + ((i % 2) ? 0.09 : -0.1) * s, base - (0.38 - 0.12 * (i / 2)) * s, 0.035 * s, 0.03 * s,
                    0.4, k->family == FAM_ANIMAL && body.r > 200 && body.g > 200 ? (rgb){40, 38, 40} : mix(body, white, 0.5), 1);
    if (k->extras & X_STRIPES)
        for (int i = 0; i < 3; i++)
            rect(c, cx + lx - bw * 0.8, base - (0.42 - 0.08 * i) * s, cx + lx - bw * 0.45, base - (0.4 - 0.08 * i) * s,
                 shade(body, 0.35), 1);
    if (p->arm > 0.05 && !(k->extras & X_WINGS)) { /* a paw raised to point or wave */
        double theta = 0.3 + p->arm * 2.4, len = 0.2 * s, sx = cx + lx + p->arm_side * 0.15 * s, sy = base - 0.4 * s;
        line_seg(c, sx, sy, sx + p->arm_side * sin(theta) * len, sy + cos(theta) * len, 0.07 * s, body, 1);
        circle(c, sx + p->arm_side * sin(theta) * len, sy + cos(theta) * len, 0.04 * s, belly);
    }
    *hy = base - 0.7 * s;
    *hr = 0.19 * s;
    if (k->family == FAM_BIRD) {
        *hy = base - 0.66 * s;
        *hr = 0.2 * s;
    }
}

static void draw_animal(canvas *c, const figure *f, double cx, double base, double s, const pose *p)
{
    const struct kind *k = f->kind;
    rgb body = f->body, dark = shade(body, 0.7), belly = f->belly;
    double hy, hr;
    draw_animal_body(c, f, cx, base, s, p, &hy, &hr);
    double hx = cx + p->lean * 0.33 * s + p->look * 0.015 * s;
    if (k->extras & X_MANE)
        blob(c, hx, hy + 0.01 * s, hr * 1.35, hr * 1.3, 0, f->hair, s);
    draw_ears(c, f, hx, hy, s);
    blob(c, hx, hy, hr, hr * 0.95, 0, body, s);
    if (k->ears == EAR_FLOPPY) {
        blob(c, hx - 0.19 * s, hy + 0.02 * s, 0.05 * s, 0.11 * s, 0.3, dark, s);
        blob(c, hx + 0.19 * s, hy + 0.02 * s, 0.05 * s, 0.11 * s, -0.3, dark, s);
    }
    if (k->extras & X_MUZZLE) {
        ellipse(c, hx, hy + 0.07 * s, 0.09 * s, 0.06 * s, 0, belly, 1);
        circle(c, hx, hy + 0.045 * s, 0.022 * s, black);
    }
    if (k->extras & X_SNOUT) {
        blob(c, hx, hy + 0.07 * s, 0.07 * s, 0.05 * s, 0, mix(body, (rgb){230, 120, 130}, 0.4), s);
        circle(c, hx - 0.022 * s, hy + 0.07 * s, 0.012 * s, shade(body, 0.4));
        circle(c, hx + 0.022 * s, hy + 0.07 * s, 0.012 * s, shade(body, 0.4));
    }
    if (f->has_accent)
        blob(c, cx + p->lean * 0.25 * s, base - 0.52 * s, 0.17 * s, 0.04 * s, 0, f->accent, s); /* scarf */
    double er = k->family == FAM_BIRD ? 0.06 * s : 0.042 * s, ex = k->family == FAM_BIRD ? 0.08 * s : 0.07 * s;
    if (!strcmp(k->word, "alien"))
        er = 0.06 * s;
    draw_eyes(c, f, hx, hy - 0.02 * s, ex, er, p->look, s);
    if (k->extras & X_BEAK)
        triangle(c, hx - 0.035 * s, hy + 0.04 * s, hx + 0.035 * s, hy + 0.04 * s, hx, hy + 0.11 * s, (rgb){240, 160, 40});
    if (k->extras & X_COMB)
        for (int i = -1; i <= 1; i++)
            circle(c, hx + i * 0.035 * s, hy - hr * 0.95 - (i == 0) * 0.02 * s, 0.035 * s, (rgb){215, 40, 40});
    if (k->extras & X_TRUNK) {
        line_seg(c, hx, hy + 0.05 * s, hx + 0.02 * s, hy + 0.2 * s, 0.07 * s + s * 0.02, shade(body, 0.45), 1);
        line_seg(c, hx, hy + 0.05 * s, hx + 0.02 * s, hy + 0.2 * s, 0.07 * s, body, 1);
        line_seg(c, hx + 0.02 * s, hy + 0.2 * s, hx + 0.07 * s, hy + 0.24 * s, 0.06 * s, body, 1);
    }
    if (k->extras & X_HORN)
        triangle(c, hx - 0.03 * s, hy - hr * 0.8, hx + 0.03 * s, hy - hr * 0.8, hx + 0.01 * s, hy - hr * 0.8 - 0.17 * s,
                 (rgb){245, 215, 110});
    if (k->extras & X_ANTENNA) {
        line_seg(c, hx, hy - hr, hx + 0.03 * s, hy - hr - 0.1 * s, 0.012 * s, shade(body, 0.5), 1);
        circle(c, hx + 0.03 * s, hy - hr - 0.1 * s, 0.03 * s, (rgb){250, 230, 90});
    }
}

void draw_figure(canvas *c, const figure *f, double cx, double base, double s, const pose *p)
{
    static const pose neutral = {0, 0, 0, 0, 1, 0, 0};
    if (!p)
        p = &neutral;
    base -= p->lift * s;
    switch (f->kind->family) {
    case FAM_HUMAN: draw_person(c, f, cx, base, s, p); break;
    case FAM_ROBOT: draw_robot(c, f, cx, base, s, p); break;
    case FAM_FISH:
    case FAM_GHOST: draw_floater(c, f, cx, base, s, p); break;
    default: draw_animal(c, f, cx, base, s, p); break;
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
