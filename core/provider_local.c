/*
 * provider_local.c — the "local" provider: an offline preview renderer.
 * Plans a story from the concept's words, composes portraits and keyframes
 * (painted by local_draw.c), animates keyframes and measures colour
 * consistency with histograms. Never builds an ffmpeg command line (media.c
 * does) and never talks to a network. Deterministic: the same inputs and
 * seed give the same bytes.
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
#include "local_draw.h"
#include "gs_util.h"



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

static const char *const features[] = {"eyes", "eye", "fur", "tail", "ears", "hat", "scarf", "coat", "cloak",
                                       "wings", "feathers", "mane", "stripes", "spots", "hair", "beard", "boots",
                                       "dress", "armor", "armour", "shell", "scales", "horns", NULL};

/* The plot follows "set out to ...", so a verb in the third person loses its
 * ending: explores -> explore, crosses -> cross, flies -> fly. */
static const char *base_verb(const char *w, char *buf, size_t len)
{
    size_t n = strlen(w);
    if (n < 4 || n >= len || w[n - 1] != 's' || w[n - 2] == 's' || w[n - 2] == 'u' || w[n - 2] == 'i')
        return w;
    memcpy(buf, w, n + 1);
    if (n > 4 && strcmp(w + n - 3, "ies") == 0) {
        strcpy(buf + n - 3, "y");
    } else if (strcmp(w + n - 4, "sses") == 0 || strcmp(w + n - 4, "shes") == 0 ||
               strcmp(w + n - 4, "ches") == 0 || strcmp(w + n - 3, "xes") == 0) {
        buf[n - 2] = '\0';
    } else {
        buf[n - 1] = '\0';
    }
    return buf;
}

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
    if (last_kind < 0) {
        /* No creature we know ("a tiny purple octopus paints ..."): the plot
         * starts at the first word that reads as a verb in the third person. */
        for (int i = 1; i < t->n; i++) {
            const char *w = t->w[i];
            size_t n = strlen(w);
            if (n >= 4 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i' &&
                !tok_any(t, i - 1, skip_words)) {
                last_kind = i - 1;
                break;
            }
        }
    }
    for (int i = last_kind + 1; i < t->n; i++) {
        const char *w = t->w[i];
        if (tok_any(t, i, preps) || strcmp(w, ",") == 0)
            break;
        if (!started && strcmp(w, "with") == 0) {
            /* "with dark amber eyes" describes the character, not the plot. */
            int j = i + 1;
            while (j < t->n && j <= i + 5 && !tok_any(t, j, features))
                j++;
            if (j < t->n && tok_any(t, j, features))
                i = j;
            continue;
        }
        if (!started && tok_any(t, i, skip_words))
            continue;
        if (!started && colour_word(w))
            continue;
        if (!started && tok_any(t, i + 1, eye_words))
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
        found[0] = &kinds[n_kinds - 2]; /* an explorer */
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
            for (size_t c = 0; c < n_colours; c++) {
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
    gs_sbuf b = {0};
    const char *belly = colour_name(f->belly), *body = c->colour_word;
    gs_sb_printf(&b, "%s is a small %s %s with smooth %s %s (#%02x%02x%02x) and a soft %s chest and belly "
                  "(#%02x%02x%02x). ",
              c->name, body, k->label, body, k->cover, f->body.r, f->body.g, f->body.b, belly, f->belly.r,
              f->belly.g, f->belly.b);
    gs_sb_printf(&b, "%s has large round %s eyes (#%02x%02x%02x) with dark pupils and a bright white highlight",
              c->name, c->eye_word, f->eye.r, f->eye.g, f->eye.b);
    switch (k->ears) {
    case EAR_POINTY: gs_sb_printf(&b, ", tall pointed ears with %s insides", belly); break;
    case EAR_ROUND: gs_sb_printf(&b, ", small rounded ears"); break;
    case EAR_LONG: gs_sb_printf(&b, ", long upright ears with %s insides", belly); break;
    case EAR_TUFT: gs_sb_printf(&b, ", two dark feather tufts like ears"); break;
    case EAR_FLOPPY: gs_sb_printf(&b, ", soft floppy ears a shade darker than the body"); break;
    case EAR_HORNS: gs_sb_printf(&b, ", two short pale horns"); break;
    default: break;
    }
    if (k->extras & X_MUZZLE)
        gs_sb_printf(&b, ", a %s muzzle and a small black nose", belly);
    if (k->extras & X_BEAK)
        gs_sb_printf(&b, ", a short orange beak");
    gs_sb_printf(&b, ". ");
    if (k->tail == TAIL_BUSHY)
        gs_sb_printf(&b, "A big bushy %s tail curls behind %s%s. ", body, c->name, (k->extras & X_TIP) ? ", tipped in white" : "");
    else if (k->tail == TAIL_THIN)
        gs_sb_printf(&b, "A thin %s tail curls behind. ", body);
    else if (k->tail != TAIL_NONE)
        gs_sb_printf(&b, "A short %s tail peeks out behind. ", body);
    if (k->extras & X_WINGS)
        gs_sb_printf(&b, "Folded wings a shade darker than the body rest at the sides. ");
    if (k->extras & X_WIZARD_HAT)
        gs_sb_printf(&b, "A tall pointed hat sits on the head. ");
    if (k->extras & X_DETECTIVE_HAT)
        gs_sb_printf(&b, "A flat-brimmed hat sits on the head. ");
    if (k->extras & X_ANTENNA)
        gs_sb_printf(&b, "A thin antenna with a glowing tip rises from the square head. ");
    if (f->has_accent)
        gs_sb_printf(&b, "%s always wears a %s scarf (#%02x%02x%02x) around the neck. ", c->name, f->accent_word,
                  f->accent.r, f->accent.g, f->accent.b);
    gs_sb_printf(&b, "%s stands upright in a friendly storybook pose, facing the viewer, drawn with a darker %s "
                  "outline and soft painterly shading. ",
              c->name, body);
    gs_sb_printf(&b, "Consistency notes: the %s %s is identical in every image, never another colour and never "
                  "patterned; the %s eyes, the %s belly and the proportions never change.",
              body, k->cover, c->eye_word, belly);
    return gs_sb_take(&b);
}

static const char *const cameras[] = {"slow drift", "push-in", "pan left", "static"};

/* The local renderer bills nothing: its calls never charge their meter. */
static gs_plan *local_plan_story(gs_provider *p, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                                 char *err, size_t errlen)
{
    (void)p, (void)meter;
    if (!concept || !*concept) {
        gs_seterr(err, errlen, "plan_story: empty concept");
        return NULL;
    }
    if (n_scenes < 1 || n_scenes > GS_PLAN_MAX_SCENES) {
        gs_seterr(err, errlen, "plan_story: scenes must be 1..%d, got %d", GS_PLAN_MAX_SCENES, n_scenes);
        return NULL;
    }
    tokens t;
    if (tokenize(concept, &t) != 0) {
        gs_seterr(err, errlen, "plan_story: out of memory");
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
        gs_seterr(err, errlen, "plan_story: out of memory");
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
        gs_sbuf b = {0};
        gs_sb_printf(&b, "%s %s", names, plot_title);
        plan->title = gs_sb_take(&b);
    }
    plan->style = xstrdup(style, &oom);
    plan->aspect_ratio = xstrdup("16:9", &oom);
    {
        gs_sbuf b = {0};
        for (int i = 0; i < nc; i++)
            gs_sb_printf(&b, "%s%s", i ? ", " : "", cs[i].colour_word);
        gs_sb_printf(&b, ", %s", cs[0].eye_word);
        if (strstr(setting, "forest"))
            gs_sb_printf(&b, strstr(setting, "autumn") ? ", burnt orange, moss green, deep gold" : ", moss green, bark brown, dappled gold");
        else if (strstr(setting, "city") || strstr(setting, "town"))
            gs_sb_printf(&b, ", brick red, slate grey, lamplight yellow");
        else if (strstr(setting, "beach") || strstr(setting, "sea") || strstr(setting, "ocean"))
            gs_sb_printf(&b, ", sea blue, sand beige, coral");
        else
            gs_sb_printf(&b, ", meadow green, sky blue, soft cream");
        plan->color_palette = gs_sb_take(&b);
    }
    for (int i = 0; i < nc; i++) {
        gs_character *c = &plan->characters[i];
        static const char *const roles[] = {"protagonist", "companion", "wildcard"};
        gs_sbuf b = {0};
        if (cs[i].fig.kind->family == FAM_HUMAN)
            gs_sb_printf(&b, "%s — the %s in %s", roles[i], cs[i].fig.kind->label, cs[i].colour_word);
        else
            gs_sb_printf(&b, "%s — the %s %s", roles[i], cs[i].colour_word, cs[i].fig.kind->label);
        c->role = gs_sb_take(&b);
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
    static const char *const spots[] = {"a quiet clearing at the edge of the", "a winding path deep in the", "the hidden heart of the"};
    static const char *const moods[] = {"curious and hopeful", "tense and mysterious", "warm and triumphant", "playful"};
    static const char *const titles_first[] = {"The First Clue", "Setting Out", "A Strange Sign"};
    static const char *const titles_mid[] = {"Into the Shadows", "A Turn in the Path", "The Hidden Trail"};
    static const char *const titles_last[] = {"The Answer", "Together at Last", "Home Again"};
    /* The plot as an infinitive for "set out to ...": "explores" -> "explore". */
    char plot_inf[256], verb[64];
    {
        size_t first = strcspn(plot, " ");
        if (first < sizeof verb) {
            memcpy(verb, plot, first);
            verb[first] = '\0';
            char base[64];
            snprintf(plot_inf, sizeof plot_inf, "%s%s", base_verb(verb, base, sizeof base), plot + first);
        } else {
            snprintf(plot_inf, sizeof plot_inf, "%s", plot);
        }
    }
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
        gs_sbuf sb = {0};
        gs_sb_printf(&sb, "%s %s %s", spots[phase], setting, times[tphase]);
        sc->setting = gs_sb_take(&sb);
        sc->camera = xstrdup(cameras[s % 4], &oom);
        sc->mood = xstrdup(phase == 1 && s % 2 == 0 ? moods[3] : moods[phase], &oom);
        char who[80];
        snprintf(who, sizeof who, "%s%s%s", a, b2 ? " and " : "", b2 ? b2 : "");
        gs_sbuf ab = {0};
        if (phase == 0)
            gs_sb_printf(&ab, "%s set out to %s; %s points ahead at the first clue", who, plot_inf, a);
        else if (phase == 1)
            gs_sb_printf(&ab, "%s hit a setback while trying to %s; %s leans in to study a clue", who, plot_inf,
                      b2 ? b2 : a);
        else if (b2)
            gs_sb_printf(&ab, "%s finally manage to %s and celebrate together", who, plot_inf);
        else
            gs_sb_printf(&ab, "%s finally manages to %s and celebrates", who, plot_inf);
        sc->action = gs_sb_take(&ab);
        gs_sbuf db = {0};
        gs_sb_printf(&db, "%s in %s: %s.", who, sc->setting ? sc->setting : "", sc->action ? sc->action : "");
        sc->description = gs_sb_take(&db);
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
            gs_seterr(err, errlen, "plan_story: description of %s too short", plan->characters[i].name);
            gs_plan_free(plan);
            return NULL;
        }
    return plan;
oom:
    gs_plan_free(plan);
    gs_seterr(err, errlen, "plan_story: out of memory");
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
                                gs_meter *meter, char *err, size_t errlen)
{
    (void)meter;
    int w, h;
    aspect_size(aspect, 720, &w, &h);
    figure f;
    figure_from_text(prompt, &f);
    canvas c;
    if (canvas_init(&c, w, h) != 0) {
        gs_seterr(err, errlen, "generate_image: out of memory");
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
        gs_seterr(err, errlen, "%s: not an image", path);
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

/* The part of a keyframe prompt that describes the scene: from "Scene:" up to
 * "Characters:" when the prompt has them, else all of it. Caller frees. */
static char *scene_words(const char *prompt)
{
    const char *start = strstr(prompt, "Scene:");
    const char *end = start ? strstr(start, "Characters:") : NULL;
    if (!start)
        start = prompt;
    size_t n = end ? (size_t)(end - start) : strlen(start);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, start, n);
        out[n] = '\0';
    }
    return out;
}

static int local_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                            const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    (void)meter;
    if (n_refs < 1 || n_refs > 3) {
        gs_seterr(err, errlen, "edit_image: 1 to 3 reference images expected, got %zu", n_refs);
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
        gs_seterr(err, errlen, "edit_image: out of memory");
        return -1;
    }
    int rc = -1;
    unsigned char *prev = NULL;
    tokens t;
    /* The background follows the scene's words only: a character described
     * with "dark eyes" must not turn a morning clearing into night. */
    char *scene = scene_words(prompt);
    int tok_rc = scene ? tokenize(scene, &t) : -1;
    free(scene);
    if (tok_rc != 0) {
        gs_seterr(err, errlen, "edit_image: out of memory");
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
                                const char *aspect, const char *resolution, const char *out_path, gs_meter *meter,
                                char *err, size_t errlen)
{
    (void)p, (void)meter;
    if (duration_s < 1 || duration_s > 15) {
        gs_seterr(err, errlen, "generate_video: duration must be 1..15 s, got %g", duration_s);
        return -1;
    }
    int w, h;
    video_size(aspect, resolution, &w, &h);
    return gs_media_animate(image_path, out_path, duration_s, w, h, motion_from_text(prompt), err, errlen);
}

/* Re-renders a clip from its first frame with the prompt's change: colours the
 * prompt names tint the frame slightly, the camera words pick the motion. */
static int local_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                            gs_meter *meter, char *err, size_t errlen)
{
    (void)p, (void)meter;
    gs_media_info info;
    if (gs_media_probe(video_path, &info, err, errlen) != 0)
        return -1;
    if (!info.has_video || info.width <= 0) {
        gs_seterr(err, errlen, "edit_video: %s has no video stream", video_path);
        return -1;
    }
    if (info.duration > 8.7) {
        gs_seterr(err, errlen, "edit_video: input is %.1f s, at most 8.7 s can be edited", info.duration);
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
            gs_seterr(err, errlen, "score_consistency: out of memory");
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
        gs_seterr(err, errlen, "score_consistency: no figure found in %s", ref ? ref : "the description");
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
                                   gs_score *out, gs_meter *meter, char *err, size_t errlen)
{
    (void)p, (void)meter;
    memset(out, 0, sizeof *out);
    if (n < 1 || n > 8 || n_refs > n) {
        gs_seterr(err, errlen, "score_consistency: 1..8 characters and at most one ref each expected");
        return -1;
    }
    gs_media_info info;
    if (gs_media_probe(image_path, &info, err, errlen) != 0)
        return -1;
    if (info.width <= 0 || info.height <= 0) {
        gs_seterr(err, errlen, "%s: not an image", image_path);
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
    gs_sbuf fix = {0};
    if (!ref || !region || !out->names || !out->scores || !out->issues) {
        gs_seterr(err, errlen, "score_consistency: out of memory");
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
            gs_seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
        out->scores[i] = sc;
        if (sc < overall)
            overall = sc;
        if (sc < 0.8) {
            const char *want1 = colour_name(hist_dominant(ref, 0)), *want2 = colour_name(hist_dominant(ref, 1));
            rgb d = hist_dominant(ref, 0);
            gs_sbuf is = {0};
            gs_sb_printf(&is, "%s: colour match %.2f below 0.80; expected mostly %s and %s, the frame shows mostly %s",
                      names[i], sc, want1, want2, colour_name(hist_dominant(region, 0)));
            out->issues[out->n_issues++] = gs_sb_take(&is);
            gs_sb_printf(&fix, "%sRestore %s's colours exactly as in the character sheet: %s (#%02x%02x%02x) with %s accents.",
                      fix.n ? " " : "", names[i], want1, d.r, d.g, d.b, want2);
        }
    }
    if (fix.n)
        gs_sb_printf(&fix, " Keep the pose, framing and background unchanged.");
    out->overall_score = overall;
    out->fix_prompt = gs_sb_take(&fix);
    if (!out->fix_prompt) {
        gs_seterr(err, errlen, "score_consistency: out of memory");
        goto done;
    }
    for (size_t i = 0; i < out->n_issues; i++)
        if (!out->issues[i]) {
            gs_seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
    rc = 0;
done:
    free(fix.p);
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
        gs_seterr(err, errlen, "local provider: out of memory");
        *out = NULL;
        return -1;
    }
    lp->base.ops = &local_ops;
    *out = &lp->base;
    return 0;
}
