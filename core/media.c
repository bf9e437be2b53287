/*
 * media.c — grokspicy.media: every ffmpeg and ffprobe command line of the
 * project, and the temp-name-then-rename discipline for outputs (child
 * processes: spawn, pipes, deadline, reaping, are media_child.c). Never
 * decides what a picture shows (that is the provider's job) and never touches
 * a Lua state from C API calls, which are safe to use from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "gs_media.h"
#include "gs_util.h"
#include "media_internal.h"

const char *gs_media_ffmpeg(void)
{
    const char *e = getenv("GS_FFMPEG");
    return e && *e ? e : "ffmpeg";
}

const char *gs_media_ffprobe(void)
{
    const char *e = getenv("GS_FFPROBE");
    return e && *e ? e : "ffprobe";
}

/* ---- argument vectors ----------------------------------------------------- */

void av_init(argv_t *a, const char *prog)
{
    a->n = 0;
    a->used = 0;
    a->overflow = 0;
    a->v[a->n++] = prog;
    a->v[a->n] = NULL;
}

void av_add(argv_t *a, const char *s)
{
    if (a->n >= AV_MAX) {
        a->overflow = 1;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void av_addv(argv_t *a, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        av_add(a, s);
    va_end(ap);
}

const char *av_fmt(argv_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof a->store - a->used;
    int n = vsnprintf(a->store + a->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        a->overflow = 1;
        return "";
    }
    const char *s = a->store + a->used;
    a->used += (size_t)n + 1;
    av_add(a, s);
    return s;
}

void av_ffmpeg(argv_t *a)
{
    av_init(a, gs_media_ffmpeg());
    av_addv(a, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", NULL);
}

int av_run(argv_t *a, const void *in, size_t in_len, double timeout, unsigned char **out, size_t *out_len,
           char *err, size_t errlen)
{
    if (a->overflow) {
        gs_seterr(err, errlen, "%s: command line too long", tool_name(a->v[0]));
        return -1;
    }
    return gs_media_run(a->v, in, in_len, timeout, out, out_len, err, errlen);
}

/* ---- temp names ------------------------------------------------------------ */

static atomic_uint tmp_counter;

/* "<dir>/.<base>.part-<pid>-<n><ext>": same folder (rename is atomic), same
 * extension (ffmpeg picks the muxer from it). */
int tmp_name(const char *final, char *buf, size_t len)
{
    const char *slash = strrchr(final, '/');
    const char *base = slash ? slash + 1 : final;
    int dirlen = slash ? (int)(slash - final + 1) : 0;
    const char *dot = strrchr(base, '.');
    const char *ext = dot && dot != base ? dot : "";
    int baselen = (int)(strlen(base) - strlen(ext));
    unsigned n = atomic_fetch_add(&tmp_counter, 1);
    int w = snprintf(buf, len, "%.*s.%.*s.part-%d-%u%s", dirlen, final, baselen, base, (int)getpid(), n, ext);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* ffmpeg often reports a read-only or full disk only as "Input/output error"
 * (the image2 muxer) or in a long tail that gets cut: when a step failed, the
 * output folder's trouble goes first. Called before the temp file is removed,
 * while the disk is still full. */
static void explain_output_dir(const char *final, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    char dir[4096];
    const char *slash = strrchr(final, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - final) : 1, slash ? final : ".");
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0)
        return;
    const char *why = (sv.f_flag & ST_RDONLY) ? strerror(EROFS) : sv.f_bavail == 0 ? strerror(ENOSPC) : NULL;
    if (!why || strstr(err, why))
        return;
    char was[2048];
    snprintf(was, sizeof was, "%s", err);
    gs_seterr(err, errlen, "%s: %s; %s", dir, why, was);
}

int commit_tmp(const char *tmp, const char *final, int ok, char *err, size_t errlen)
{
    if (!ok) {
        explain_output_dir(final, err, errlen);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        gs_seterr(err, errlen, "cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int check_input(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        gs_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- probe ------------------------------------------------------------------ */

static double parse_rate(const char *s)
{
    double num = atof(s);
    const char *slash = strchr(s, '/');
    if (slash) {
        double den = atof(slash + 1);
        return den > 0 ? num / den : 0;
    }
    return num;
}

int gs_media_probe(const char *path, gs_media_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    if (check_input(path, err, errlen) != 0)
        return -1;
    argv_t a;
    av_init(&a, gs_media_ffprobe());
    av_addv(&a, "-v", "error", "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,avg_frame_rate,pix_fmt,"
            "sample_rate,channels",
            "-of", "compact", "--", path, NULL);
    unsigned char *out = NULL;
    size_t len = 0;
    if (av_run(&a, NULL, 0, 60.0, &out, &len, err, errlen) != 0)
        return -1;
    /* Lines like "stream|codec_name=h264|width=1280|...|codec_type=video" and
     * "format|duration=8.000000". */
    char *save_line = NULL;
    char *buf = malloc(len + 1);
    if (!buf) {
        free(out);
        gs_seterr(err, errlen, "out of memory");
        return -1;
    }
    memcpy(buf, out, len);
    buf[len] = '\0';
    free(out);
    for (char *line = strtok_r(buf, "\n", &save_line); line; line = strtok_r(NULL, "\n", &save_line)) {
        char type[16] = "", codec[32] = "", pix[32] = "";
        int w = 0, h = 0, rate = 0, ch = 0;
        double fps = 0, dur = 0;
        int is_format = strncmp(line, "format|", 7) == 0;
        char *save_f = NULL;
        for (char *f = strtok_r(line, "|", &save_f); f; f = strtok_r(NULL, "|", &save_f)) {
            char *eq = strchr(f, '=');
            if (!eq)
                continue;
            *eq = '\0';
            const char *k = f, *v = eq + 1;
            if (strcmp(k, "codec_type") == 0)
                snprintf(type, sizeof type, "%s", v);
            else if (strcmp(k, "codec_name") == 0)
                snprintf(codec, sizeof codec, "%s", v);
            else if (strcmp(k, "pix_fmt") == 0)
                snprintf(pix, sizeof pix, "%s", v);
            else if (strcmp(k, "width") == 0)
                w = atoi(v);
            else if (strcmp(k, "height") == 0)
                h = atoi(v);
            else if (strcmp(k, "avg_frame_rate") == 0)
                fps = parse_rate(v);
            else if (strcmp(k, "sample_rate") == 0)
                rate = atoi(v);
            else if (strcmp(k, "channels") == 0)
                ch = atoi(v);
            else if (strcmp(k, "duration") == 0)
                dur = atof(v);
        }
        if (is_format) {
            info->duration = dur;
        } else if (strcmp(type, "video") == 0 && !info->has_video) {
            info->has_video = 1;
            snprintf(info->video_codec, sizeof info->video_codec, "%s", codec);
            snprintf(info->pix_fmt, sizeof info->pix_fmt, "%s", pix);
            info->width = w;
            info->height = h;
            info->fps = fps;
        } else if (strcmp(type, "audio") == 0 && !info->has_audio) {
            info->has_audio = 1;
            snprintf(info->audio_codec, sizeof info->audio_codec, "%s", codec);
            info->sample_rate = rate;
            info->channels = ch;
        }
    }
    free(buf);
    if (!info->has_video && !info->has_audio) {
        gs_seterr(err, errlen, "%s: no audio or video stream", path);
        return -1;
    }
    return 0;
}

/* ---- whole files ---------------------------------------------------------------- */

/*
 * A download cut short looks complete to HTTP when the server sent no
 * Content-Length, so a result file is checked by its own structure: an image
 * must run to its end marker, an MP4's boxes must add up to the file, and
 * ffprobe must read a video stream with a duration.
 */
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le32(const unsigned char *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

/* PNG ends with its IEND chunk; a JPEG with EOI (FF D9); a WebP's RIFF size is the file's. */
static const char *image_damage(const unsigned char *b, size_t n)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    if (n >= 8 && !memcmp(b, png_sig, 8))
        return n >= 8 + 12 && !memcmp(b + n - 12, iend, 12) ? NULL : "a PNG without its IEND chunk";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        while (n > 2 && b[n - 1] == 0) /* some encoders pad after EOI */
            n--;
        return n >= 4 && b[n - 2] == 0xff && b[n - 1] == 0xd9 ? NULL : "a JPEG without its end marker";
    }
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        return (size_t)le32(b + 4) + 8 == n ? NULL : "a WebP shorter or longer than its RIFF size";
    return "not a PNG, JPEG or WebP image";
}

/* An MP4 (ISO BMFF): top-level boxes that tile the file exactly, moov among them. */
static const char *mp4_damage(const unsigned char *b, size_t n)
{
    size_t at = 0;
    int moov = 0;
    if (n < 8 || memcmp(b + 4, "ftyp", 4) != 0)
        return "not an MP4 (no ftyp box first)";
    while (at < n) {
        if (n - at < 8)
            return "an MP4 that ends inside a box header";
        uint64_t size = be32(b + at);
        size_t head = 8;
        if (size == 1) {
            if (n - at < 16)
                return "an MP4 that ends inside a box header";
            size = (uint64_t)be32(b + at + 8) << 32 | be32(b + at + 12);
            head = 16;
        } else if (size == 0) {
            size = n - at; /* the last box runs to the end */
        }
        if (size < head || size > n - at)
            return "an MP4 cut short (a box runs past the end of the file)";
        moov |= !memcmp(b + at + 4, "moov", 4);
        at += (size_t)size;
    }
    return moov ? NULL : "an MP4 without its moov box";
}

int gs_media_check_whole(const char *path, int video, char *err, size_t errlen)
{
    size_t n = 0;
    unsigned char *b = (unsigned char *)gs_read_file(path, &n);
    if (!b) {
        gs_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    const char *why = n == 0 ? "an empty file" : video ? mp4_damage(b, n) : image_damage(b, n);
    free(b);
    gs_media_info info;
    char perr[400] = "";
    if (!why && video && gs_media_probe(path, &info, perr, sizeof perr) != 0)
        why = "ffprobe cannot read it";
    else if (!why && video && (!info.has_video || !(info.duration > 0)))
        why = "ffprobe finds no video stream with a duration in it";
    if (why)
        gs_seterr(err, errlen, "%s%s%s", why, perr[0] ? ": " : "", perr);
    return why ? -1 : 0;
}

/* ---- frames ------------------------------------------------------------------ */

int gs_media_extract_frame(const char *video, const char *out_png, int last, char *err, size_t errlen)
{
    if (check_input(video, err, errlen) != 0)
        return -1;
    char tmp[4096];
    if (tmp_name(out_png, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out_png);
        return -1;
    }
    argv_t a;
    av_ffmpeg(&a);
    /* Last frame: decode the final second and hand on only its last frame
     * (reversed, the first), which works for clips shorter than the window and
     * for any GOP layout, and encodes one PNG instead of one per frame. */
    if (last)
        av_addv(&a, "-sseof", "-1", NULL);
    av_addv(&a, "-i", video, "-map", "0:v:0", "-an", NULL);
    if (last)
        av_addv(&a, "-vf", "reverse", NULL);
    av_addv(&a, "-frames:v", "1", NULL);
    av_addv(&a, "-f", "image2", "-c:v", "png", tmp, NULL);
    int ok = av_run(&a, NULL, 0, 120.0, NULL, NULL, err, errlen) == 0;
    if (ok && access(tmp, F_OK) != 0) {
        gs_seterr(err, errlen, "ffmpeg: %s: no frame decoded", video);
        ok = 0;
    }
    return commit_tmp(tmp, out_png, ok, err, errlen);
}

unsigned char *gs_media_read_rgb(const char *path, int w, int h, char *err, size_t errlen)
{
    if (w <= 0 || h <= 0 || w > 8192 || h > 8192) {
        gs_seterr(err, errlen, "read_rgb: bad size %dx%d", w, h);
        return NULL;
    }
    if (check_input(path, err, errlen) != 0)
        return NULL;
    argv_t a;
    av_ffmpeg(&a);
    av_addv(&a, "-i", path, "-map", "0:v:0", "-frames:v", "1", "-vf", NULL);
    av_fmt(&a, "scale=%d:%d:flags=area", w, h);
    av_addv(&a, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1", NULL);
    unsigned char *out = NULL;
    size_t len = 0;
    if (av_run(&a, NULL, 0, 60.0, &out, &len, err, errlen) != 0)
        return NULL;
    if (len != (size_t)w * (size_t)h * 3) {
        gs_seterr(err, errlen, "ffmpeg: %s: expected %d bytes of RGB, got %zu", path, w * h * 3, len);
        free(out);
        return NULL;
    }
    return out;
}

int gs_media_write_png(const unsigned char *rgb, int w, int h, const char *out, char *err, size_t errlen)
{
    if (w <= 0 || h <= 0) {
        gs_seterr(err, errlen, "write_png: bad size %dx%d", w, h);
        return -1;
    }
    char tmp[4096];
    if (tmp_name(out, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    argv_t a;
    av_init(&a, gs_media_ffmpeg());
    av_addv(&a, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", NULL);
    av_fmt(&a, "%dx%d", w, h);
    av_addv(&a, "-i", "pipe:0", "-frames:v", "1", "-f", "image2", "-c:v", "png", "-pred", "mixed",
            "-compression_level", "3", "-fflags", "+bitexact", tmp, NULL);
    int ok = av_run(&a, rgb, (size_t)w * (size_t)h * 3, 60.0, NULL, NULL, err, errlen) == 0;
    return commit_tmp(tmp, out, ok, err, errlen);
}

/* ---- clips --------------------------------------------------------------------- */

void av_encode(argv_t *a, const char *preset)
{
    av_addv(a, "-c:v", "libx264", "-preset", preset, "-crf", "20", "-pix_fmt", "yuv420p", "-r", "24",
            "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2", "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-movflags", "+faststart", NULL);
}

int gs_media_normalize(const char *in, const char *out, char *err, size_t errlen)
{
    gs_media_info info;
    if (gs_media_probe(in, &info, err, errlen) != 0)
        return -1;
    if (!info.has_video) {
        gs_seterr(err, errlen, "%s: no video stream", in);
        return -1;
    }
    char tmp[4096];
    if (tmp_name(out, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    int conformant = strcmp(info.video_codec, "h264") == 0 && strcmp(info.pix_fmt, "yuv420p") == 0 &&
                     info.width == 1280 && info.height == 720 && info.fps > 23.99 && info.fps < 24.01 &&
                     strcmp(info.audio_codec, "aac") == 0 && info.sample_rate == 44100 && info.channels == 2;
    argv_t a;
    av_ffmpeg(&a);
    av_addv(&a, "-i", in, NULL);
    if (conformant) {
        av_addv(&a, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-map_metadata", "-1",
                "-movflags", "+faststart", tmp, NULL);
    } else {
        if (!info.has_audio)
            av_addv(&a, "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", NULL);
        av_addv(&a, "-map", "0:v:0", "-map", info.has_audio ? "0:a:0" : "1:a:0", "-vf",
                "scale=1280:720:force_original_aspect_ratio=decrease,"
                "pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps=24,format=yuv420p",
                NULL);
        av_encode(&a, "veryfast");
        if (!info.has_audio)
            av_add(&a, "-shortest");
        av_add(&a, tmp);
    }
    int ok = av_run(&a, NULL, 0, GS_MEDIA_TIMEOUT, NULL, NULL, err, errlen) == 0;
    return commit_tmp(tmp, out, ok, err, errlen);
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        gs_seterr(err, errlen, "%s: %s", from, strerror(errno));
        return -1;
    }
    FILE *o = fopen(to, "wb");
    if (!o) {
        gs_seterr(err, errlen, "%s: %s", to, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, o) != n) {
            ok = 0;
            break;
        }
    if (ferror(in))
        ok = 0;
    fclose(in);
    if (fclose(o) != 0)
        ok = 0;
    if (!ok)
        gs_seterr(err, errlen, "cannot copy '%s' to '%s': %s", from, to, strerror(errno));
    return ok ? 0 : -1;
}

/* One "file '...'" line of a concat list; ' is written as '\'' . */
static int write_concat_entry(FILE *f, const char *path)
{
    char cwd[4096];
    fputs("file '", f);
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        for (const char *p = cwd; *p; p++)
            *p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
        fputc('/', f);
    }
    for (const char *p = path; *p; p++)
        *p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
    fputs("'\n", f);
    return 0;
}

int gs_media_concat(const char *const clips[], size_t n, const char *out, char *err, size_t errlen)
{
    if (n == 0) {
        gs_seterr(err, errlen, "concat: no clips");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (check_input(clips[i], err, errlen) != 0)
            return -1;
    char tmp[4096], list[4096];
    if (tmp_name(out, tmp, sizeof tmp) != 0 || tmp_name(out, list, sizeof list - 8) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    if (n == 1)
        return commit_tmp(tmp, out, copy_file(clips[0], tmp, err, errlen) == 0, err, errlen);
    strcat(list, ".txt");
    FILE *f = fopen(list, "w");
    if (!f) {
        gs_seterr(err, errlen, "%s: %s", list, strerror(errno));
        return -1;
    }
    int bad = 0;
    fputs("ffconcat version 1.0\n", f);
    for (size_t i = 0; i < n; i++)
        bad |= write_concat_entry(f, clips[i]);
    if (fclose(f) != 0 || bad) {
        gs_seterr(err, errlen, "%s: cannot write the concat list", list);
        unlink(list);
        return -1;
    }
    argv_t a;
    av_ffmpeg(&a);
    av_addv(&a, "-f", "concat", "-safe", "0", "-i", list, "-map", "0", "-c", "copy", "-map_metadata", "-1",
            "-movflags", "+faststart", tmp, NULL);
    int ok = av_run(&a, NULL, 0, GS_MEDIA_TIMEOUT, NULL, NULL, err, errlen) == 0;
    unlink(list);
    return commit_tmp(tmp, out, ok, err, errlen);
}

int gs_media_animate(const char *image, const char *out, double duration_s, int width, int height,
                     gs_motion motion, char *err, size_t errlen)
{
    if (duration_s <= 0 || duration_s > 60 || width < 16 || height < 16 || width > 4096 || height > 4096) {
        gs_seterr(err, errlen, "animate: bad duration or size");
        return -1;
    }
    if (check_input(image, err, errlen) != 0)
        return -1;
    char tmp[4096];
    if (tmp_name(out, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    int frames = (int)(duration_s * 24.0 + 0.5);
    int last = frames > 1 ? frames - 1 : 1;
    /* zoompan over one still: z is the zoom, x/y the top-left of the window in
     * input pixels; 'on' counts output frames, so p = on/last runs 0..1. */
    char z[160], x[200], y[160];
    switch (motion) {
    case GS_MOTION_PUSH_IN:
        snprintf(z, sizeof z, "1+0.18*on/%d", last);
        snprintf(x, sizeof x, "iw/2-iw/zoom/2");
        snprintf(y, sizeof y, "ih/2-ih/zoom/2");
        break;
    case GS_MOTION_PULL_OUT:
        snprintf(z, sizeof z, "1.18-0.18*on/%d", last);
        snprintf(x, sizeof x, "iw/2-iw/zoom/2");
        snprintf(y, sizeof y, "ih/2-ih/zoom/2");
        break;
    case GS_MOTION_PAN_LEFT: /* the camera turns left: the window slides right to left */
        snprintf(z, sizeof z, "1.15");
        snprintf(x, sizeof x, "(iw-iw/zoom)*(1-on/%d)", last);
        snprintf(y, sizeof y, "ih/2-ih/zoom/2");
        break;
    case GS_MOTION_PAN_RIGHT:
        snprintf(z, sizeof z, "1.15");
        snprintf(x, sizeof x, "(iw-iw/zoom)*on/%d", last);
        snprintf(y, sizeof y, "ih/2-ih/zoom/2");
        break;
    case GS_MOTION_DRIFT:
        snprintf(z, sizeof z, "1.04+0.06*on/%d", last);
        snprintf(x, sizeof x, "(iw-iw/zoom)*(0.35+0.3*on/%d)", last);
        snprintf(y, sizeof y, "(ih-ih/zoom)*(0.55-0.1*on/%d)", last);
        break;
    case GS_MOTION_STATIC:
    default:
        snprintf(z, sizeof z, "1.03+0.015*sin(2*PI*on/48)");
        snprintf(x, sizeof x, "iw/2-iw/zoom/2");
        snprintf(y, sizeof y, "ih/2-ih/zoom/2");
        break;
    }
    argv_t a;
    av_ffmpeg(&a);
    av_addv(&a, "-i", image, "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-filter_complex", NULL);
    av_fmt(&a,
           "[0:v]scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,setsar=1,"
           "zoompan=z='%s':x='%s':y='%s':d=%d:s=%dx%d:fps=24,format=yuv420p[v]",
           width, height, width, height, z, x, y, frames, width, height);
    av_addv(&a, "-map", "[v]", "-map", "1:a", NULL);
    av_encode(&a, "ultrafast");
    av_add(&a, "-frames:v");
    av_fmt(&a, "%d", frames);
    av_add(&a, "-t");
    av_fmt(&a, "%.3f", frames / 24.0);
    av_add(&a, tmp);
    int ok = av_run(&a, NULL, 0, GS_MEDIA_TIMEOUT, NULL, NULL, err, errlen) == 0;
    return commit_tmp(tmp, out, ok, err, errlen);
}

int gs_media_ffmpeg_version(char *buf, size_t len, char *err, size_t errlen)
{
    const char *argv[] = {gs_media_ffmpeg(), "-hide_banner", "-version", NULL};
    unsigned char *out = NULL;
    size_t n = 0;
    if (gs_media_run(argv, NULL, 0, 30.0, &out, &n, err, errlen) != 0)
        return -1;
    size_t i = 0;
    while (i < n && out[i] != '\n' && i + 1 < len) {
        buf[i] = (char)out[i];
        i++;
    }
    if (len)
        buf[i] = '\0';
    free(out);
    return 0;
}

/* ---- Lua binding ------------------------------------------------------------------ */

static int push_fail(lua_State *L, const char *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

/* media.probe(path) -> {duration, width, height, fps, video_codec, audio_codec, has_audio, ...} | nil, err */
static int l_probe(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    gs_media_info info;
    char err[2048];
    if (gs_media_probe(path, &info, err, sizeof err) != 0)
        return push_fail(L, err);
    lua_createtable(L, 0, 12);
    lua_pushnumber(L, info.duration);
    lua_setfield(L, -2, "duration");
    lua_pushinteger(L, info.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, info.height);
    lua_setfield(L, -2, "height");
    lua_pushnumber(L, info.fps);
    lua_setfield(L, -2, "fps");
    lua_pushstring(L, info.video_codec);
    lua_setfield(L, -2, "video_codec");
    lua_pushstring(L, info.pix_fmt);
    lua_setfield(L, -2, "pix_fmt");
    lua_pushstring(L, info.audio_codec);
    lua_setfield(L, -2, "audio_codec");
    lua_pushboolean(L, info.has_video);
    lua_setfield(L, -2, "has_video");
    lua_pushboolean(L, info.has_audio);
    lua_setfield(L, -2, "has_audio");
    lua_pushinteger(L, info.sample_rate);
    lua_setfield(L, -2, "sample_rate");
    lua_pushinteger(L, info.channels);
    lua_setfield(L, -2, "channels");
    return 1;
}

static int push_result(lua_State *L, int rc, const char *err)
{
    if (rc != 0)
        return push_fail(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* media.extract_frame(video, out, "first"|"last") -> true | nil, err */
static int l_extract_frame(lua_State *L)
{
    const char *video = luaL_checkstring(L, 1);
    const char *out = luaL_checkstring(L, 2);
    static const char *const which[] = {"first", "last", NULL};
    int last = luaL_checkoption(L, 3, "first", which);
    char err[2048];
    return push_result(L, gs_media_extract_frame(video, out, last, err, sizeof err), err);
}

/* media.normalize(in, out) -> true | nil, err */
static int l_normalize(lua_State *L)
{
    const char *in = luaL_checkstring(L, 1);
    const char *out = luaL_checkstring(L, 2);
    char err[2048];
    return push_result(L, gs_media_normalize(in, out, err, sizeof err), err);
}

/* media.concat({clips...}, out) -> true | nil, err */
static int l_concat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *out = luaL_checkstring(L, 2);
    lua_Integer n = luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1000, 1, "media.concat: 1 to 1000 clips expected");
    /* Validate every entry before allocating, so nothing leaks when one raises. */
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
            return luaL_argerror(L, 1, "media.concat: clip paths must be strings");
        lua_pop(L, 1);
    }
    const char **clips = lua_newuserdatauv(L, sizeof(char *) * (size_t)n, 0); /* stack: clips udata */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        clips[i - 1] = lua_tostring(L, -1); /* kept alive by the table at index 1 */
        lua_pop(L, 1);
    }
    char err[2048];
    int rc = gs_media_concat(clips, (size_t)n, out, err, sizeof err);
    return push_result(L, rc, err);
}

/* media.read_rgb(path, w, h) -> string of w*h*3 bytes | nil, err */
static int l_read_rgb(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3);
    luaL_argcheck(L, w > 0 && w <= 8192, 2, "media.read_rgb: width out of range");
    luaL_argcheck(L, h > 0 && h <= 8192, 3, "media.read_rgb: height out of range");
    char err[2048];
    unsigned char *rgb = gs_media_read_rgb(path, (int)w, (int)h, err, sizeof err);
    if (!rgb)
        return push_fail(L, err);
    lua_pushlstring(L, (const char *)rgb, (size_t)(w * h * 3)); /* may raise: free first */
    free(rgb);
    return 1;
}

/* media.write_png(rgb, w, h, out) -> true | nil, err */
static int l_write_png(lua_State *L)
{
    size_t len = 0;
    const char *rgb = luaL_checklstring(L, 1, &len);
    lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3);
    const char *out = luaL_checkstring(L, 4);
    luaL_argcheck(L, w > 0 && h > 0 && (size_t)(w * h * 3) == len, 1, "media.write_png: expected w*h*3 bytes");
    char err[2048];
    return push_result(L, gs_media_write_png((const unsigned char *)rgb, (int)w, (int)h, out, err, sizeof err), err);
}

/* media.ffmpeg_version() -> "ffmpeg version ..." | nil, err */
static int l_ffmpeg_version(lua_State *L)
{
    char buf[512], err[2048];
    if (gs_media_ffmpeg_version(buf, sizeof buf, err, sizeof err) != 0)
        return push_fail(L, err);
    lua_pushstring(L, buf);
    return 1;
}

int luaopen_grokspicy_core_media(lua_State *L);
int luaopen_grokspicy_core_media(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"probe", l_probe},
        {"extract_frame", l_extract_frame},
        {"normalize", l_normalize},
        {"concat", l_concat},
        {"read_rgb", l_read_rgb},
        {"write_png", l_write_png},
        {"ffmpeg_version", l_ffmpeg_version},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
