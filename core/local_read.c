/*
 * local_read.c — what the local renderer reads from a scene's words: the
 * place, time of day, weather and landmarks of its setting, the motion of its
 * action, its camera move, and the narration a clip captions and speaks. The
 * words themselves are local_words.c's; painting is local_scene.c's. Pure
 * text work, safe from any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_draw.h"

#define LM(x) (1ull << (x))

/* ---- reading a scene ---- */

static const char *const labels[] = {"Scene:", "Action:", "Camera:", "Mood:", "Characters:", NULL};

/* The text after label up to the next label (malloc'd), or NULL when absent. */
static char *segment(const char *text, const char *label)
{
    const char *start = strstr(text, label);
    if (!start)
        return NULL;
    start += strlen(label);
    const char *end = text + strlen(text);
    for (int i = 0; labels[i]; i++) {
        const char *e = strstr(start, labels[i]);
        if (e && e < end)
            end = e;
    }
    size_t n = (size_t)(end - start);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, start, n);
        out[n] = '\0';
    }
    return out;
}

/* The text without its "Characters:" part: the scene's own words (descriptions
 * say "dark eyes", not night). */
char *scene_words(const char *text)
{
    const char *cut = strstr(text, "Characters:");
    size_t n = cut ? (size_t)(cut - text) : strlen(text);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, text, n);
        out[n] = '\0';
    }
    return out;
}

/* Place, time, weather and landmarks named in text; returns 1 when any was. */
static int read_setting_words(const char *text, scene *s)
{
    tokens t;
    if (!text || tokenize(text, &t) != 0)
        return 0;
    int any = 0;
    for (int i = 0; i < t.n; i++) {
        const char *w = t.w[i];
        const char *tag;
        if (!s->place_named && (tag = word_tag(w, WC_PLACE))) {
            s->place = vocab_index(WC_PLACE, tag);
            s->place_named = any = 1;
        }
        if ((tag = word_tag(w, WC_LANDMARK))) {
            s->landmarks |= LM(vocab_index(WC_LANDMARK, tag));
            any = 1;
        }
        if ((tag = word_tag(w, WC_WEATHER))) {
            s->weather |= W_FLAG(vocab_index(WC_WEATHER, tag));
            any = 1;
        }
        if (!s->when_named && (tag = word_tag(w, WC_TIME))) {
            int k = vocab_index(WC_TIME, tag);
            s->when = k == 0 ? TIME_DAY : k == 1 ? TIME_DAWN : k == 2 ? TIME_DUSK : TIME_NIGHT;
            s->when_named = any = 1;
        }
        if (!strcmp(w, "autumn") || !strcmp(w, "autumnal") || !strcmp(w, "fall"))
            s->autumn = any = 1;
    }
    free(t.buf);
    return any;
}

static int read_camera_tokens(const tokens *t)
{
    for (int i = 0; i < t->n; i++) {
        const char *w = t->w[i];
        if (!strcmp(w, "push-in") || !strcmp(w, "dolly-in") ||
            ((!strcmp(w, "push") || !strcmp(w, "pushes") || !strcmp(w, "zoom") || !strcmp(w, "dolly")) &&
             tok_is(t, i + 1, "in")))
            return CAM_PUSH_IN;
        if (!strcmp(w, "pull-out") || !strcmp(w, "pull-back") ||
            ((!strcmp(w, "pull") || !strcmp(w, "pulls") || !strcmp(w, "zoom")) &&
             (tok_is(t, i + 1, "out") || tok_is(t, i + 1, "back"))))
            return CAM_PULL_OUT;
        if (!strcmp(w, "pan") || !strcmp(w, "pans") || !strcmp(w, "panning") || !strcmp(w, "pan-left") ||
            !strcmp(w, "pan-right"))
            return tok_is(t, i + 1, "right") || !strcmp(w, "pan-right") ? CAM_PAN_RIGHT : CAM_PAN_LEFT;
        if (!strcmp(w, "tracking") || !strcmp(w, "tracks") || !strcmp(w, "follows") || !strcmp(w, "following"))
            return CAM_TRACKING;
        if (!strcmp(w, "static") || !strcmp(w, "still") || !strcmp(w, "locked") || !strcmp(w, "locked-off"))
            return CAM_STATIC;
        if (!strcmp(w, "drift") || !strcmp(w, "drifting") || !strcmp(w, "orbit"))
            return CAM_DRIFT;
        const char *tag = word_tag(w, WC_CAMERA);
        if (tag)
            return vocab_index(WC_CAMERA, tag);
    }
    return CAM_DRIFT;
}

static int read_motion_tokens(const tokens *t)
{
    for (int i = 0; i < t->n; i++) {
        const char *tag = word_tag(t->w[i], WC_MOTION);
        if (tag)
            return vocab_index(WC_MOTION, tag);
        /* "face each other", "turn to each other": two figures meet */
        if (tok_is(t, i, "each") && tok_is(t, i + 1, "other"))
            return MO_MEET;
    }
    return MO_IDLE;
}

static int motion_of(const char *text)
{
    tokens t;
    if (!text || tokenize(text, &t) != 0)
        return MO_IDLE;
    int m = read_motion_tokens(&t);
    free(t.buf);
    return m;
}

static int camera_of(const char *text)
{
    tokens t;
    if (!text || tokenize(text, &t) != 0)
        return CAM_DRIFT;
    int c = read_camera_tokens(&t);
    free(t.buf);
    return c;
}

void read_scene(const char *prompt, scene *s)
{
    memset(s, 0, sizeof *s);
    s->place = PL_MEADOW;
    s->when = TIME_DAY;
    char *setting = segment(prompt, "Scene:"), *action = segment(prompt, "Action:");
    char *camera = segment(prompt, "Camera:"), *rest = scene_words(prompt);
    if (!read_setting_words(setting, s) || !s->place_named)
        read_setting_words(rest, s);
    s->motion = motion_of(action ? action : rest);
    s->camera = camera_of(camera ? camera : rest);
    uint64_t lm;
    int default_time;
    place_defaults(s->place, &lm, &default_time);
    if (!s->when_named && default_time >= 0)
        s->when = default_time;
    s->landmarks |= lm;
    if (s->weather & W_FLAG(WX_STORM))
        s->weather |= W_FLAG(WX_RAIN) | W_FLAG(WX_CLOUDY);
    if (s->weather & (W_FLAG(WX_RAIN) | W_FLAG(WX_SNOW)))
        s->weather |= W_FLAG(WX_CLOUDY);
    free(setting);
    free(action);
    free(camera);
    free(rest);
}

/* A copy of s[0..n). */
static char *copy_n(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

void read_motion(const char *prompt, int *motion, int *camera)
{
    char *action = segment(prompt, "Action:"), *cam = segment(prompt, "Camera:");
    char *head = NULL, *rest = NULL;
    if (!action) {
        /* "{camera}. {action}. Mood: {mood}. {style}.": the camera is the first
         * sentence, the action what follows it up to "Mood:" */
        const char *mood = strstr(prompt, "Mood:");
        size_t n = mood ? (size_t)(mood - prompt) : strlen(prompt), cut = n;
        for (size_t i = 0; i + 1 < n; i++)
            if (prompt[i] == '.' && (prompt[i + 1] == ' ' || prompt[i + 1] == '\n')) {
                cut = i;
                break;
            }
        head = copy_n(prompt, cut);
        if (cut < n)
            rest = copy_n(prompt + cut + 1, n - cut - 1);
    }
    *motion = motion_of(action ? action : rest ? rest : head);
    *camera = camera_of(cam ? cam : (head ? head : prompt));
    free(action);
    free(cam);
    free(head);
    free(rest);
}

/* s[0..n) without surrounding space, ending in a full stop (or ! or ?). */
static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 1 && s[n - 1] == '.' && (s[n - 2] == '.' || s[n - 2] == '!' || s[n - 2] == '?'))
        n--; /* "hello." in a template's "{action}." */
    char *out = malloc(n + 2);
    if (out) {
        memcpy(out, s, n);
        size_t k = n;
        if (n && !strchr(".!?", s[n - 1]))
            out[k++] = '.';
        out[k] = '\0';
    }
    return out;
}

/*
 * The narration of a clip prompt: after "Action:" when it has one, else the
 * default "{camera}. {action}. Mood: ..." shape: what follows the first
 * sentence, up to "Mood:". "" when the prompt is only a camera move.
 */
char *narration_of(const char *prompt)
{
    const char *a = strstr(prompt, "Action:");
    if (a) {
        a += 7;
        const char *end = a + strlen(a);
        static const char *const next[] = {"Camera:", "Mood:", "Characters:", "Scene:"};
        for (size_t i = 0; i < 4; i++) {
            const char *e = strstr(a, next[i]);
            if (e && e < end)
                end = e;
        }
        return trimmed(a, (size_t)(end - a));
    }
    const char *mood = strstr(prompt, "Mood:");
    size_t n = mood ? (size_t)(mood - prompt) : strlen(prompt);
    const char *dot = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (prompt[i] == '.' && isspace((unsigned char)prompt[i + 1])) {
            dot = prompt + i + 1;
            break;
        }
    if (!dot)
        return strdup("");
    return trimmed(dot, n - (size_t)(dot - prompt));
}
