/*
 * local_motion.c — how the local renderer moves a scene's cast and camera over
 * a clip: a pose and a sideways offset per figure for each motion (walking
 * across, racing, jumping, dancing, flying, pointing, facing each other ...)
 * and the camera window (push-in, pull-out, pans, drift, tracking the cast).
 * Frame 0 is the keyframe's pose, and a figure is back on the ground for the
 * last frame, which the scorer reads. Pure functions of time.
 */
#include <math.h>
#include <string.h>

#include "local_draw.h"

static double ease(double x)
{
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    return x * x * (3 - 2 * x);
}

/* 1 in the middle of the clip, falling to 0 over the last 0.5 s (landing). */
static double settle(double t, double dur)
{
    double left = dur - t;
    return left >= 0.6 ? 1 : left <= 0.1 ? 0 : (left - 0.1) / 0.5;
}

/* Which way the figure at slot i of n faces the other one: +1 right, -1 left. */
static double toward_other(size_t i, size_t n)
{
    if (n < 2)
        return 1;
    return i + 1 <= n / 2 ? 1 : -1;
}

double motion_offset(int motion, size_t i, size_t n, double t, double dur)
{
    double u = dur > 0 ? t / dur : 0, k = n >= 3 ? 0.7 : 1;
    switch (motion) {
    case MO_WALK: return 0.16 * k * ease(u) * (u < 0.05 ? u / 0.05 : 1);
    case MO_RACE:
    case MO_CHASE: {
        /* the figure at the left is the faster one: it closes the gap */
        double speed = n < 2 ? 0.24 : (i == 0 ? 0.3 : 0.14);
        return speed * k * (u * u * 0.35 + u * 0.65);
    }
    case MO_SWIM: return 0.12 * k * ease(u);
    case MO_FLY: return 0.1 * k * ease(u);
    case MO_MEET: return n < 2 ? 0.08 * ease(u) : toward_other(i, n) * 0.085 * ease(u / 0.75);
    case MO_SEARCH: return 0.07 * sin(2 * M_PI * u * 1.2) * (i % 2 ? -1 : 1);
    case MO_DANCE: return 0.025 * sin(2 * M_PI * t / 1.6 + i);
    case MO_POINT: return i == 0 ? 0.03 * ease(u) : 0;
    default: return 0;
    }
}

/* Going somewhere: walking, racing, chasing, swimming, flying. */
static void travel_pose(int motion, size_t i, double t, double u, double land, pose *p)
{
    switch (motion) {
    case MO_WALK:
        p->step = t * 2 * M_PI * 1.6;
        p->lift = 0.008 * fabs(sin(p->step));
        p->look = 0.8;
        break;
    case MO_SWIM:
        p->step = t * 2 * M_PI * 0.8;
        p->lift = 0.02 * (1 + sin(p->step)) * land;
        p->look = 0.9;
        break;
    case MO_FLY:
        p->step = t * 2 * M_PI * 1.2;
        p->lift = (0.12 * ease(u / 0.35) + 0.02 * sin(p->step)) * land;
        p->arm = 0.5 + 0.3 * sin(p->step);
        p->arm_side = i % 2 ? -1 : 1;
        p->look = 0.7;
        break;
    default: /* a race or a chase */
        p->step = t * 2 * M_PI * 2.6;
        p->lift = 0.02 * fabs(sin(p->step)) * land;
        p->look = 1;
        p->lean = 0.12;
        break;
    }
}

/* For joy or show: jumping, celebrating, dancing. */
static void play_pose(int motion, size_t i, size_t n, double t, double land, double face, pose *p)
{
    if (motion == MO_DANCE) {
        p->lean = 0.14 * sin(2 * M_PI * t / 1.6 + i);
        p->lift = 0.03 * fabs(sin(2 * M_PI * t / 0.8)) * land;
        p->arm = 0.6 + 0.35 * sin(2 * M_PI * t / 1.6);
        p->arm_side = sin(2 * M_PI * t / 3.2) > 0 ? 1 : -1;
        p->step = t * 2 * M_PI * 1.25;
        p->look = 0.5 * sin(2 * M_PI * t / 3.2);
        return;
    }
    double phase = fmod(t + 0.15 * i, 0.9) / 0.9;
    p->lift = 0.11 * sin(M_PI * phase) * land;
    if (motion == MO_CELEBRATE) {
        p->arm = 0.95;
        p->arm_side = i % 2 ? -1 : 1;
    }
    p->look = n >= 2 ? 0.4 * face : 0;
}

/* Toward someone or something: pointing, meeting, talking, waving. */
static void social_pose(int motion, size_t i, size_t n, double t, double u, double face, pose *p)
{
    switch (motion) {
    case MO_POINT:
        if (i == 0) {
            p->arm = 0.6 + 0.05 * sin(t * 3);
            p->arm_side = 1;
            p->look = 1;
            p->step = u < 0.5 ? t * 2 * M_PI * 1.2 : 0;
        } else {
            p->look = -0.8 + 1.8 * ease((u - 0.3) / 0.3); /* looks back, then where it points */
        }
        break;
    case MO_MEET:
        p->look = n < 2 ? 0.8 : face;
        p->step = u < 0.75 ? t * 2 * M_PI * 1.4 : 0;
        p->lift = 0.006 * fabs(sin(p->step));
        if (u > 0.78 && i == 0) { /* a wave hello once they meet */
            p->arm = 0.75 + 0.12 * sin(t * 12);
            p->arm_side = (int)face;
        }
        break;
    case MO_TALK: {
        int speaking = ((int)(t / 1.5) % 2) == (int)(i % 2);
        p->look = n < 2 ? 0 : face;
        p->lift = speaking ? 0.012 * fabs(sin(t * 7)) : 0;
        p->arm = speaking ? 0.35 + 0.1 * sin(t * 5) : 0;
        p->arm_side = (int)face;
        break;
    }
    default: /* a wave */
        p->arm = 0.8 + 0.15 * sin(t * 10);
        p->arm_side = n >= 2 ? (int)face : 1;
        p->look = n >= 2 ? 0.5 * face : 0;
        break;
    }
}

void motion_pose(int motion, size_t i, size_t n, double t, double dur, pose *p)
{
    memset(p, 0, sizeof *p);
    p->arm_side = 1;
    double u = dur > 0 ? t / dur : 0, land = settle(t, dur), face = toward_other(i, n);
    switch (motion) {
    case MO_WALK:
    case MO_RACE:
    case MO_CHASE:
    case MO_SWIM:
    case MO_FLY:
        travel_pose(motion, i, t, u, land, p);
        break;
    case MO_JUMP:
    case MO_CELEBRATE:
    case MO_DANCE:
        play_pose(motion, i, n, t, land, face, p);
        break;
    case MO_POINT:
    case MO_MEET:
    case MO_TALK:
    case MO_WAVE:
        social_pose(motion, i, n, t, u, face, p);
        break;
    case MO_SEARCH: {
        double v = cos(2 * M_PI * u * 1.2) * (i % 2 ? -1 : 1);
        p->look = v > 0 ? 0.9 : -0.9;
        p->step = t * 2 * M_PI * 1.3;
        p->lean = 0.05 * v;
        break;
    }
    case MO_WORK:
        p->lean = 0.05 * sin(t * 2 * M_PI * 1.3 + i);
        p->arm = 0.35 + 0.12 * sin(t * 2 * M_PI * 2 + i);
        p->arm_side = i % 2 ? -1 : 1;
        p->look = n >= 2 ? 0.4 * face : 0.2;
        break;
    default:
        p->lift = 0.004 * (1 + sin(t * 2.5 + i));
        p->look = n >= 2 ? 0.3 * face : 0;
        break;
    }
}

void camera_window(int camera, int motion, double t, double dur, int w, int h, double follow_x, double *zoom,
                   double *cx, double *cy)
{
    double u = dur > 0 ? t / dur : 0, z = 1, x = w / 2.0, y = h / 2.0;
    (void)motion;
    switch (camera) {
    case CAM_PUSH_IN:
        z = 1 + 0.16 * ease(u);
        y = h / 2.0 - 0.04 * h * ease(u);
        break;
    case CAM_PULL_OUT:
        z = 1.16 - 0.16 * ease(u);
        y = h / 2.0 - 0.04 * h * (1 - ease(u));
        break;
    case CAM_PAN_LEFT:
    case CAM_PAN_RIGHT: {
        z = 1.14;
        double room = (w - w / z) / 2, d = camera == CAM_PAN_LEFT ? 1 - 2 * ease(u) : 2 * ease(u) - 1;
        x = w / 2.0 + room * d;
        break;
    }
    case CAM_TRACKING: {
        z = 1.12;
        double room = (w - w / z) / 2;
        x = follow_x;
        x = x < w / 2.0 - room ? w / 2.0 - room : x > w / 2.0 + room ? w / 2.0 + room : x;
        break;
    }
    case CAM_STATIC:
        z = 1.02 + 0.008 * sin(2 * M_PI * t / 4);
        break;
    default: /* drift */
        z = 1.03 + 0.07 * u;
        x = w / 2.0 + (w - w / z) / 2 * (0.6 * u - 0.3);
        y = h / 2.0 + (h - h / z) / 2 * (0.2 - 0.3 * u);
        break;
    }
    *zoom = z;
    *cx = x;
    *cy = y;
}
