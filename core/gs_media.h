/*
 * gs_media.h — ffmpeg and ffprobe behind a small, thread-safe C API.
 *
 * Every call spawns a child with an argument vector (never a shell), with stdin
 * from /dev/null or a byte buffer, stderr captured (its tail is quoted in error
 * messages) and a deadline after which the child is killed. Outputs are written
 * under a temporary name in the destination folder and renamed into place, so a
 * killed process never leaves a truncated file under the final name.
 *
 * Functions return 0 on success and -1 on failure with a message in err
 * (err may be NULL). The program names come from $GS_FFMPEG / $GS_FFPROBE,
 * default "ffmpeg" / "ffprobe" looked up on PATH.
 */
#ifndef GS_MEDIA_H
#define GS_MEDIA_H

#include <stdatomic.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default deadline of the media operations, in seconds. */
#define GS_MEDIA_TIMEOUT 300.0

const char *gs_media_ffmpeg(void);
const char *gs_media_ffprobe(void);

/*
 * Runs argv[0] (looked up on PATH) with argv, NULL-terminated. in/in_len are fed
 * to its stdin (in == NULL: /dev/null). When out is not NULL, stdout is captured
 * into a malloc'd buffer (*out, *out_len; free it), else discarded. timeout_s <= 0
 * means no deadline. Fails on spawn errors, a non-zero exit, a signal, or the
 * deadline (the child is SIGKILLed and reaped before returning).
 */
int gs_media_run(const char *const argv[], const void *in, size_t in_len, double timeout_s,
                 unsigned char **out, size_t *out_len, char *err, size_t errlen);

/*
 * Cancellation for the calling thread: while set, every child this thread runs
 * is polled at least every 100 ms and killed (process group, SIGKILL, reaped)
 * as soon as *a or *b is non-zero; the call then fails with "cancelled". The
 * steps' workers set their future's flag and their context's closing flag
 * around each step. NULL, NULL clears. gs_media_cancelled() reads them.
 */
void gs_media_set_cancel(const atomic_int *a, const atomic_int *b);
int gs_media_cancelled(void);

typedef struct gs_media_info {
    double duration;          /* seconds, 0 when unknown (still images) */
    int width, height;        /* first video stream */
    double fps;               /* average frame rate of the first video stream */
    char video_codec[32];     /* "" when there is no video stream */
    char pix_fmt[32];
    char audio_codec[32];     /* "" when there is no audio stream */
    int has_video, has_audio;
    int sample_rate, channels; /* first audio stream */
} gs_media_info;

int gs_media_probe(const char *path, gs_media_info *info, char *err, size_t errlen);

/* 0 when a downloaded file is whole: an image (video == 0) is a PNG, JPEG or
 * WebP that runs to its end marker; a clip's MP4 boxes tile the file, moov
 * among them, and ffprobe reads a video stream with a duration. Else -1 with
 * what is wrong in err. */
int gs_media_check_whole(const char *path, int video, char *err, size_t errlen);

/* Writes the first (last == 0) or last (last != 0) frame of video as a PNG. */
int gs_media_extract_frame(const char *video, const char *out_png, int last, char *err, size_t errlen);

/*
 * Re-encodes to the assembly format: 24 fps, 1280x720 letterboxed, H.264 yuv420p,
 * AAC 44.1 kHz stereo (silence added when the input has no audio). A clip that
 * already has exactly that format is remuxed without re-encoding.
 */
int gs_media_normalize(const char *in, const char *out, char *err, size_t errlen);

/* Concatenates normalised clips (concat demuxer, stream copy); one clip is copied. */
int gs_media_concat(const char *const clips[], size_t n, const char *out, char *err, size_t errlen);

/* The first frame of an image or video scaled to w x h, as malloc'd w*h*3 RGB bytes. */
unsigned char *gs_media_read_rgb(const char *path, int w, int h, char *err, size_t errlen);

/* Writes a w x h RGB24 buffer as a PNG file. */
int gs_media_write_png(const unsigned char *rgb, int w, int h, const char *out, char *err, size_t errlen);

/*
 * Writes a PNG carrying one iTXt chunk key = text (UTF-8; key 1..79 bytes);
 * text NULL writes a plain PNG. Renamed into place whole, like every output.
 */
int gs_media_write_png_text(const unsigned char *rgb, int w, int h, const char *out, const char *key,
                            const char *text, char *err, size_t errlen);
/* The text of a PNG's iTXt chunk key (malloc'd), or NULL when it has none. */
char *gs_media_png_text(const char *path, const char *key);
/* A PNG's size from its header, without a process; -1 when path is no PNG. */
int gs_media_png_size(const char *path, int *w, int *h);

/* Camera moves for gs_media_animate. */
typedef enum gs_motion {
    GS_MOTION_STATIC,    /* subtle breathing zoom */
    GS_MOTION_PUSH_IN,
    GS_MOTION_PULL_OUT,
    GS_MOTION_PAN_LEFT,
    GS_MOTION_PAN_RIGHT,
    GS_MOTION_DRIFT      /* slow zoom with a sideways offset */
} gs_motion;

/*
 * Renders a still image as a clip of duration_s seconds at 24 fps, width x height,
 * H.264 yuv420p with silent AAC 44.1 kHz stereo, moving the camera over it.
 */
int gs_media_animate(const char *image, const char *out, double duration_s, int width, int height,
                     gs_motion motion, char *err, size_t errlen);

/*
 * A clip painted frame by frame (24 fps), encoded like gs_media_animate's
 * clips: frame(ud, i, rgb) fills width*height*3 RGB bytes for frame i, or
 * returns -1 with a message in err. Each frame is asked for when ffmpeg can
 * take it, so a clip of any length needs one frame of memory.
 */
typedef int (*gs_media_frame_fn)(void *ud, int i, unsigned char *rgb, char *err, size_t errlen);

typedef struct gs_media_clip {
    int width, height, frames;
    gs_media_frame_fn frame;
    void *ud;
    const char *caption;         /* burned in from caption_from to caption_to s; NULL or "": none */
    double caption_from, caption_to;
    const char *mark;            /* a small mark in the top right corner ("preview"); NULL: none */
    const char *voice;           /* a WAV file mixed in from voice_at s; NULL: a silent track */
    double voice_at;
} gs_media_clip;

int gs_media_encode_clip(const gs_media_clip *clip, const char *out, char *err, size_t errlen);

/* The text-to-speech program ($GS_ESPEAK, default "espeak-ng") and the caption
 * font ($GS_FONT, default Debian's fonts-dejavu-core DejaVuSans). */
const char *gs_media_espeak(void);
const char *gs_media_font(void);

/*
 * Speaks text into a mono WAV file with espeak-ng at wpm words per minute
 * (80..450); *seconds is its length. The text goes in on stdin, never as an
 * argument. Same text and rate, same bytes.
 */
int gs_media_speak(const char *text, int wpm, const char *out_wav, double *seconds, char *err, size_t errlen);

/*
 * Re-grades a clip's colours and keeps its sound: contrast about mid-grey, then
 * a blend of amount (0..1) toward tint. Motion, captions and voice stay.
 */
int gs_media_grade(const char *in, const char *out, double contrast, const unsigned char tint[3], double amount,
                   char *err, size_t errlen);

/* The first line of `ffmpeg -version` into buf. */
int gs_media_ffmpeg_version(char *buf, size_t len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
