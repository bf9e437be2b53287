/*
 * preview_frames.c — what painting one frame of an offline preview clip
 * costs: the local renderer's stage (a keyframe's recipe) painted at 720p
 * for 96 frames, without a camera and with a push-in, in CPU time per frame.
 * Prints figures; never fails a suite.
 *
 *   preview_frames ["Scene: ... Action: ... Camera: ..."]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "local_draw.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    recipe r = {0};
    r.scene_text = argc > 1 ? argv[1] : "Scene: the park in the afternoon. Action: Mara and Rusty walk. Camera: tracking.";
    r.seed = 7;
    r.n_fig = 2;
    r.fig_text[0] = "Mara is a lighthouse keeper: a woman with long grey hair. She wears a yellow raincoat, navy "
                    "trousers and a black knit hat.";
    r.fig_text[1] = "Rusty is a small red fox with amber eyes and a green scarf.";
    stage st;
    canvas work, out;
    if (stage_open(&st, &r, 1280, 720) != 0 || canvas_init(&work, 1280, 720) != 0 || canvas_init(&out, 1280, 720) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double t0 = cpu_s();
    for (int i = 0; i < 96; i++)
        stage_frame(&st, &work, NULL, i / 24.0, 8, MO_WALK, CAM_STATIC);
    double paint = (cpu_s() - t0) / 96 * 1000;
    t0 = cpu_s();
    for (int i = 0; i < 96; i++)
        stage_frame(&st, &work, &out, i / 24.0, 8, MO_WALK, CAM_PUSH_IN);
    printf("%s\n  paint %.2f ms, with a push-in camera %.2f ms (CPU per 720p frame)\n", r.scene_text, paint,
           (cpu_s() - t0) / 96 * 1000);
    stage_close(&st);
    free(work.px);
    free(out.px);
    return 0;
}
