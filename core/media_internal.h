/*
 * media_internal.h — shared by media.c, media_child.c, media_clip.c and media_png.c only; not installed.
 * Argument vectors for ffmpeg, child processes fed from a stream, and the
 * temp-name-then-rename discipline for outputs.
 */
#ifndef GS_MEDIA_INTERNAL_H
#define GS_MEDIA_INTERNAL_H

#include <stddef.h>

#define run_child gs_mi_run_child
#define av_init gs_mi_av_init
#define av_add gs_mi_av_add
#define av_addv gs_mi_av_addv
#define av_fmt gs_mi_av_fmt
#define av_ffmpeg gs_mi_av_ffmpeg
#define av_run gs_mi_av_run
#define av_encode gs_mi_av_encode
#define tmp_name gs_mi_tmp_name
#define commit_tmp gs_mi_commit_tmp
#define check_input gs_mi_check_input
#define tool_name gs_mi_tool_name

#define AV_MAX 96

typedef struct argv_t {
    const char *v[AV_MAX + 1];
    int n;
    char store[4096];
    size_t used;
    int overflow;
} argv_t;

/*
 * Where a child's stdin comes from: a fixed buffer, or more chunks from feed()
 * each time the last one is written (0 and *len == 0: the end; -1: stop with
 * the message it left in err).
 */
typedef int (*feed_fn)(void *ud, const unsigned char **chunk, size_t *len, char *err, size_t errlen);

/* gs_media_run with an optional feed for stdin (in/in_len then start it). */
int run_child(const char *const argv[], const void *in, size_t in_len, feed_fn feed, void *feed_ud,
              double timeout_s, unsigned char **out, size_t *out_len, char *err, size_t errlen);

void av_init(argv_t *a, const char *prog);
void av_add(argv_t *a, const char *s);
void av_addv(argv_t *a, const char *first, ...);
const char *av_fmt(argv_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ffmpeg with the flags every call uses (quiet, no stdin prompts, overwrite). */
void av_ffmpeg(argv_t *a);
int av_run(argv_t *a, const void *in, size_t in_len, double timeout, unsigned char **out, size_t *out_len,
           char *err, size_t errlen);
/* The assembly format's encoder flags: H.264 yuv420p 24 fps, AAC 44.1 kHz stereo, bit-exact. */
void av_encode(argv_t *a, const char *preset);
/* "<dir>/.<base>.part-<pid>-<n><ext>" beside final. */
int tmp_name(const char *final, char *buf, size_t len);
/* Renames tmp to final when ok, else removes it (saying first why the folder refused). */
int commit_tmp(const char *tmp, const char *final, int ok, char *err, size_t errlen);
int check_input(const char *path, char *err, size_t errlen);
/* The tool's name for messages: "ffmpeg" for whatever $GS_FFMPEG names. */
const char *tool_name(const char *prog);

#endif
