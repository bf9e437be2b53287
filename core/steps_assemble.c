/*
 * steps_assemble.c — grokspicy.steps, step kind assemble: the clips normalised
 * (each as run_dir/videos/clip_NN_normalized.mp4, unless args.normalized names
 * one made before) and joined into the final video.
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

int step_assemble(run *w)
{
    const gs_step_args *a = w->a;
    gs_steps_media *m = &w->ctx->media;
    char **norm = calloc(a->n_clips, sizeof(char *));
    char *out = NULL, *rel = NULL;
    int rc = -1;
    if (!norm) {
        fail(w, "out of memory");
        return -1;
    }
    if (a->out) {
        out = resolve_in(w->ctx, a->out);
    } else {
        gs_sbuf b = {0};
        gs_sb_printf(&b, "%s/final.mp4", w->ctx->run_dir);
        out = gs_sb_take(&b);
    }
    char *slash = out ? strrchr(out, '/') : NULL;
    if (slash && slash != out) { /* the folder of out may be new */
        *slash = '\0';
        int mrc = gs_mkdir_p(out);
        *slash = '/';
        if (mrc != 0) {
            fail(w, "%s: %s", out, strerror(errno));
            goto done;
        }
    }
    for (size_t i = 0; i < a->n_clips; i++) {
        if (cancelled(w))
            goto done;
        if (a->normalized && a->normalized[i] && *a->normalized[i]) {
            /* normalised before (the result cache placed it in this run's folder) */
            if (!(norm[i] = resolve_in(w->ctx, a->normalized[i]))) {
                fail(w, "out of memory");
                goto done;
            }
            progress(w, (int)i + 1, -1, "clip %zu of %zu normalised before", i + 1, a->n_clips);
            continue;
        }
        if (!out || !(norm[i] = run_path(w, "videos", "clip_%02zu_normalized.mp4", i + 1))) {
            fail(w, "out of memory");
            goto done;
        }
        char *clip = resolve_in(w->ctx, a->clips[i]);
        int nrc = clip ? m->normalize(m->ud, clip, norm[i], w->err, sizeof w->err)
                       : (snprintf(w->err, sizeof w->err, "out of memory"), -1);
        free(clip);
        if (nrc != 0) {
            fail(w, "clip %zu: %s", i + 1, w->err);
            goto done;
        }
        progress(w, (int)i + 1, -1, "normalised clip %zu of %zu", i + 1, a->n_clips);
    }
    double dur = 0;
    if (m->concat(m->ud, (const char *const *)norm, a->n_clips, out, w->err, sizeof w->err) != 0 ||
        m->probe_duration(m->ud, out, &dur, w->err, sizeof w->err) != 0) {
        fail(w, "%s", w->err);
        goto done;
    }
    if (!(rel = rel_out(w->ctx, out)) || add_field(w->r, "path", GS_FIELD_STR, rel, 0) ||
        add_field(w->r, "duration", GS_FIELD_NUM, NULL, dur) ||
        add_field(w->r, "clips", GS_FIELD_INT, NULL, (double)a->n_clips))
        fail(w, "out of memory");
    else
        rc = 0;
done:
    gs_free_strv(norm, a->n_clips);
    free(out);
    free(rel);
    return rc;
}
