/*
 * steps_prompts.c — grokspicy.steps: the default prompt templates (the
 * portrait, keyframe, fix, video_motion and video_correction options), the
 * {key} substitution that fills them, and the scene variables they read.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_steps.h"
#include "gs_util.h"
#include "steps_internal.h"

/* Replaces {key} with its value; unknown placeholders stay as written. */
char *render_tpl(const char *tpl, const tvar *vars, size_t n)
{
    gs_sbuf b = {0};
    const char *s = tpl;
    while (*s) {
        const char *open = strchr(s, '{');
        if (!open) {
            gs_sb_add(&b, s);
            break;
        }
        gs_sb_addn(&b, s, (size_t)(open - s));
        const char *close = strchr(open + 1, '}');
        const char *val = NULL;
        if (close)
            for (size_t i = 0; i < n && !val; i++)
                if (strlen(vars[i].key) == (size_t)(close - open - 1) &&
                    !strncmp(vars[i].key, open + 1, (size_t)(close - open - 1)))
                    val = vars[i].value ? vars[i].value : "";
        if (val) {
            gs_sb_add(&b, val);
            s = close + 1;
        } else {
            gs_sb_addn(&b, open, 1);
            s = open + 1;
        }
    }
    return gs_sb_take(&b);
}

/* Lower-case ASCII letters and digits, runs of anything else as one '_'. */

static const struct {
    const char *name, *text;
} default_templates[] = {
    {"portrait", "{style}. Character reference sheet of {name}: one full-body figure, front view, centred, "
                 "plain light background, even lighting. {description}"},
    {"keyframe", "{style}. {ref_bindings}Scene: {setting}. Action: {action}. Camera: {camera}. Mood: {mood}. "
                 "Characters: {description}"},
    {"fix", "Edit the current keyframe in reference image 1 and change only this: {fix_prompt} "
            "Issues: {issues}. Keep everything else identical. Characters: {description}"},
    {"video_motion", "{camera}. {action}. Mood: {mood}. {style}."},
    {"video_correction", "{fix_prompt} Issues: {issues}. Keep the camera motion, timing and framing."},
};

const char *gs_steps_default_template(const char *name)
{
    for (size_t i = 0; i < sizeof default_templates / sizeof default_templates[0]; i++)
        if (!strcmp(default_templates[i].name, name))
            return default_templates[i].text;
    return NULL;
}

void scene_vars(run *w, tvar *v, const char *description, const char *names)
{
    const gs_step_scene *s = &w->a->scene;
    v[0] = (tvar){"style", w->a->style};
    v[1] = (tvar){"setting", s->setting};
    v[2] = (tvar){"mood", s->mood};
    v[3] = (tvar){"action", s->action};
    v[4] = (tvar){"camera", s->camera};
    v[5] = (tvar){"description", description};
    v[6] = (tvar){"name", names};
}
