/*
 * test_media.c — grokspicy.media against the real ffmpeg: probe, frames,
 * normalise, concat, stdin/stdout pipes, deadlines, missing programs, the
 * quoting of ffmpeg's stderr in error messages, the whole-file check of
 * downloads, and painted clips (frames streamed in, captions, the corner
 * mark, espeak-ng's voice, re-grading).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <time.h>

#include "grokspicy.h"
#include "gs_util.h"
#include "testutil.h"

static const char *dir;
static char red_blue[1024], noaudio[1024], tone[1024];

static const char *path(const char *name)
{
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* Test inputs made by ffmpeg itself: 1 s red then 1 s blue (no audio), and
 * 1 s of 640x480 30 fps test pattern with a tone. */
static int make_inputs(void)
{
    char err[4096];
    snprintf(red_blue, sizeof red_blue, "%s/red_blue.mp4", dir);
    snprintf(noaudio, sizeof noaudio, "%s/pattern.mkv", dir);
    snprintf(tone, sizeof tone, "%s/tone.mp4", dir);
    const char *a1[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-filter_complex",
                        "color=c=red:s=320x240:r=24:d=1[a];color=c=blue:s=320x240:r=24:d=1[b];[a][b]concat=n=2:v=1:a=0[v]",
                        "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", red_blue, NULL};
    const char *a2[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=30:duration=1.5",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", noaudio, NULL};
    const char *a3[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=1",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", tone, NULL};
    if (gs_media_run(a1, NULL, 0, 60, NULL, NULL, err, sizeof err) != 0 ||
        gs_media_run(a2, NULL, 0, 60, NULL, NULL, err, sizeof err) != 0 ||
        gs_media_run(a3, NULL, 0, 60, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "cannot make test inputs: %s\n", err);
        return -1;
    }
    return 0;
}

static void mean_rgb(const unsigned char *px, int n, double m[3])
{
    m[0] = m[1] = m[2] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            m[k] += px[i * 3 + k];
    for (int k = 0; k < 3; k++)
        m[k] /= n;
}

static int no_part_files(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int clean = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".part-")) {
            fprintf(stderr, "left behind: %s\n", e->d_name);
            clean = 0;
        }
    closedir(d);
    return clean;
}

static void test_probe(void)
{
    gs_media_info info;
    char err[4096];
    REQUIRE(gs_media_probe(noaudio, &info, err, sizeof err) == 0);
    CHECK(fabs(info.duration - 1.5) < 0.1);
    CHECK(info.width == 640 && info.height == 480);
    CHECK(fabs(info.fps - 30) < 0.01);
    CHECK_STR(info.video_codec, "h264");
    CHECK_STR(info.pix_fmt, "yuv420p");
    CHECK(!info.has_audio);
    CHECK_STR(info.audio_codec, "");
    REQUIRE(gs_media_probe(tone, &info, err, sizeof err) == 0);
    CHECK(info.has_audio && strcmp(info.audio_codec, "aac") == 0 && info.sample_rate == 48000);
    CHECK(gs_media_probe(path("missing.mp4"), &info, err, sizeof err) == -1);
    CHECK(strstr(err, "missing.mp4") != NULL);
}

static void test_frames(void)
{
    char err[4096];
    double m[3];
    REQUIRE(gs_media_extract_frame(red_blue, path("first.png"), 0, err, sizeof err) == 0);
    REQUIRE(gs_media_extract_frame(red_blue, path("last.png"), 1, err, sizeof err) == 0);
    unsigned char *px = gs_media_read_rgb(path("first.png"), 32, 24, err, sizeof err);
    REQUIRE(px);
    mean_rgb(px, 32 * 24, m);
    CHECK(m[0] > 200 && m[2] < 60); /* red */
    free(px);
    px = gs_media_read_rgb(path("last.png"), 32, 24, err, sizeof err);
    REQUIRE(px);
    mean_rgb(px, 32 * 24, m);
    CHECK(m[2] > 200 && m[0] < 60); /* blue */
    free(px);
    /* read_rgb straight from a video takes its first frame */
    px = gs_media_read_rgb(red_blue, 8, 6, err, sizeof err);
    REQUIRE(px);
    mean_rgb(px, 48, m);
    CHECK(m[0] > 200);
    free(px);
    CHECK(no_part_files());
}

static void test_png_roundtrip(void)
{
    enum { W = 97, H = 31 };
    static unsigned char rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (unsigned char)(i * 7 + i / 5);
    char err[4096];
    REQUIRE(gs_media_write_png(rgb, W, H, path("pattern.png"), err, sizeof err) == 0);
    unsigned char *back = gs_media_read_rgb(path("pattern.png"), W, H, err, sizeof err);
    REQUIRE(back);
    CHECK(memcmp(rgb, back, sizeof rgb) == 0);
    free(back);
    gs_media_info info;
    REQUIRE(gs_media_probe(path("pattern.png"), &info, err, sizeof err) == 0);
    CHECK(info.width == W && info.height == H && strcmp(info.video_codec, "png") == 0);
}

static void test_normalize(void)
{
    char err[4096];
    gs_media_info info;
    double t0 = gs_monotonic();
    REQUIRE(gs_media_normalize(noaudio, path("norm_a.mp4"), err, sizeof err) == 0);
    printf("  normalise 1.5 s 640x480 -> 720p: %.2f s\n", gs_monotonic() - t0);
    REQUIRE(gs_media_probe(path("norm_a.mp4"), &info, err, sizeof err) == 0);
    CHECK(info.width == 1280 && info.height == 720);
    CHECK(fabs(info.fps - 24) < 0.01);
    CHECK_STR(info.video_codec, "h264");
    CHECK_STR(info.pix_fmt, "yuv420p");
    CHECK(info.has_audio);
    CHECK_STR(info.audio_codec, "aac");
    CHECK(info.sample_rate == 44100 && info.channels == 2);
    CHECK(fabs(info.duration - 1.5) < 0.15);
    /* letterboxed: 4:3 inside 16:9 leaves black bars left and right */
    unsigned char *px = gs_media_read_rgb(path("norm_a.mp4"), 128, 72, err, sizeof err);
    REQUIRE(px);
    double bar = 0;
    for (int y = 0; y < 72; y++)
        bar += px[(y * 128 + 2) * 3] + px[(y * 128 + 2) * 3 + 1] + px[(y * 128 + 2) * 3 + 2];
    CHECK(bar / 72 < 30);
    free(px);
    REQUIRE(gs_media_normalize(tone, path("norm_b.mp4"), err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("norm_b.mp4"), &info, err, sizeof err) == 0);
    CHECK(info.sample_rate == 44100 && info.channels == 2 && fabs(info.fps - 24) < 0.01);
    /* an already normalised clip is remuxed, not re-encoded */
    REQUIRE(gs_media_normalize(path("norm_b.mp4"), path("norm_c.mp4"), err, sizeof err) == 0);
    gs_media_info again;
    REQUIRE(gs_media_probe(path("norm_c.mp4"), &again, err, sizeof err) == 0);
    CHECK(fabs(again.duration - info.duration) < 0.05);
    CHECK(no_part_files());
}

static void test_concat(void)
{
    char err[4096];
    gs_media_info a, b, out;
    REQUIRE(gs_media_probe(path("norm_a.mp4"), &a, err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("norm_b.mp4"), &b, err, sizeof err) == 0);
    /* a quote in a path must survive the concat list */
    REQUIRE(rename(path("norm_b.mp4"), path("it's b.mp4")) == 0);
    const char *clips[] = {path("norm_a.mp4"), path("it's b.mp4")};
    REQUIRE(gs_media_concat(clips, 2, path("final.mp4"), err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("final.mp4"), &out, err, sizeof err) == 0);
    CHECK(fabs(out.duration - (a.duration + b.duration)) < 0.2);
    CHECK(out.has_audio && out.width == 1280);
    const char *one[] = {path("norm_a.mp4")};
    REQUIRE(gs_media_concat(one, 1, path("single.mp4"), err, sizeof err) == 0);
    REQUIRE(gs_media_probe(path("single.mp4"), &out, err, sizeof err) == 0);
    CHECK(fabs(out.duration - a.duration) < 0.01);
    CHECK(gs_media_concat(clips, 0, path("none.mp4"), err, sizeof err) == -1);
    CHECK(no_part_files());
}

static void test_timeout_kills(void)
{
    const char *argv[] = {"sleep", "10", NULL};
    char err[4096];
    double t0 = gs_monotonic();
    CHECK(gs_media_run(argv, NULL, 0, 0.3, NULL, NULL, err, sizeof err) == -1);
    double took = gs_monotonic() - t0;
    CHECK(took < 5.0); /* killed at 0.3 s, not after the child's 10 s; room for a loaded machine */
    CHECK(strstr(err, "timeout") != NULL);
    printf("  hung child killed after %.2f s: %s\n", took, err);
}

static void test_stdin_stdout(void)
{
    const char *argv[] = {"cat", NULL};
    char err[4096];
    size_t n = 3 * 1024 * 1024 + 17; /* bigger than any pipe buffer */
    unsigned char *in = malloc(n), *out = NULL;
    REQUIRE(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (unsigned char)(i * 31);
    size_t out_len = 0;
    CHECK(gs_media_run(argv, in, n, 10, &out, &out_len, err, sizeof err) == 0);
    CHECK(out_len == n && out && memcmp(in, out, n) == 0);
    free(out);
    /* a child that exits without reading stdin is an exit status, not SIGPIPE */
    const char *t[] = {"true", NULL};
    CHECK(gs_media_run(t, in, n, 10, NULL, NULL, err, sizeof err) == 0);
    free(in);
}

static void test_missing_ffmpeg(void)
{
    char err[4096];
    setenv("GS_FFMPEG", "/nonexistent/ffmpeg", 1);
    CHECK(gs_media_extract_frame(red_blue, path("never.png"), 0, err, sizeof err) == -1);
    CHECK(strstr(err, "ffmpeg not found on PATH: install ffmpeg") != NULL);
    CHECK(access(path("never.png"), F_OK) != 0);
    unsetenv("GS_FFMPEG");
    setenv("GS_FFPROBE", "/nonexistent", 1);
    gs_media_info info;
    CHECK(gs_media_probe(red_blue, &info, err, sizeof err) == -1);
    CHECK(strstr(err, "ffprobe not found on PATH: install ffmpeg") != NULL);
    unsetenv("GS_FFPROBE");
    printf("  %s\n", err);
}

static void test_stderr_quoted(void)
{
    char err[4096];
    FILE *f = fopen(path("garbage.mp4"), "w");
    REQUIRE(f);
    fputs("this is not a video\n", f);
    fclose(f);
    CHECK(gs_media_extract_frame(path("garbage.mp4"), path("g.png"), 0, err, sizeof err) == -1);
    CHECK(strstr(err, "ffmpeg failed (exit status") != NULL);
    CHECK(strstr(err, "Invalid data") != NULL);
    CHECK(strchr(err, '"') != NULL);
    CHECK(access(path("g.png"), F_OK) != 0);
    printf("  %s\n", err);
    gs_media_info info;
    CHECK(gs_media_probe(path("garbage.mp4"), &info, err, sizeof err) == -1);
    CHECK(strstr(err, "ffprobe") != NULL && strstr(err, "Invalid data") != NULL);
    CHECK(no_part_files());
}

/* Writes the first n bytes of src (all when n is 0) to dst, then extra bytes. */
static long copy_prefix(const char *src, const char *dst, long n, const char *extra, size_t extra_len)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    long size = -1;
    if (in && out) {
        fseek(in, 0, SEEK_END);
        size = ftell(in);
        fseek(in, 0, SEEK_SET);
        char buf[8192];
        long left = n ? n : size;
        size_t got;
        while (left > 0 && (got = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, in)) > 0) {
            fwrite(buf, 1, got, out);
            left -= (long)got;
        }
        if (extra_len)
            fwrite(extra, 1, extra_len, out);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return size;
}

/* A cut download must not pass for whole: each format by its own structure. */
static void test_check_whole(void)
{
    char err[1024];
    const char *jpg = path("whole.jpg"), *png = path("whole.png");
    const char *mk[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x90",
                        "-frames:v", "1", jpg, NULL};
    REQUIRE(gs_media_run(mk, NULL, 0, 60, NULL, NULL, err, sizeof err) == 0);
    unsigned char rgb[8 * 8 * 3] = {0};
    REQUIRE(gs_media_write_png(rgb, 8, 8, png, err, sizeof err) == 0);
    CHECK(gs_media_check_whole(jpg, 0, err, sizeof err) == 0);
    CHECK(gs_media_check_whole(png, 0, err, sizeof err) == 0);
    CHECK(gs_media_check_whole(red_blue, 1, err, sizeof err) == 0);
    CHECK(gs_media_check_whole(tone, 1, err, sizeof err) == 0);

    long size = copy_prefix(jpg, path("half.jpg"), 0, NULL, 0);
    copy_prefix(jpg, path("half.jpg"), size / 2, NULL, 0);
    CHECK(gs_media_check_whole(path("half.jpg"), 0, err, sizeof err) == -1);
    CHECK_STR(err, "a JPEG without its end marker");
    copy_prefix(jpg, path("padded.jpg"), 0, "\0\0\0", 3); /* zero padding after EOI is fine */
    CHECK(gs_media_check_whole(path("padded.jpg"), 0, err, sizeof err) == 0);
    size = copy_prefix(png, path("half.png"), 0, NULL, 0);
    copy_prefix(png, path("half.png"), size - 5, NULL, 0);
    CHECK(gs_media_check_whole(path("half.png"), 0, err, sizeof err) == -1);
    CHECK_STR(err, "a PNG without its IEND chunk");
    size = copy_prefix(red_blue, path("half.mp4"), 0, NULL, 0);
    copy_prefix(red_blue, path("half.mp4"), size / 2, NULL, 0);
    CHECK(gs_media_check_whole(path("half.mp4"), 1, err, sizeof err) == -1);
    CHECK_STR(err, "an MP4 cut short (a box runs past the end of the file)");
    CHECK(gs_media_check_whole(noaudio, 1, err, sizeof err) == -1); /* Matroska, not an MP4 */
    CHECK_STR(err, "not an MP4 (no ftyp box first)");
    CHECK(gs_media_check_whole(jpg, 1, err, sizeof err) == -1);

    /* WebP: the RIFF size must be the file's */
    static const unsigned char webp[20] = {'R', 'I', 'F', 'F', 12, 0, 0, 0, 'W', 'E', 'B', 'P',
                                           'V', 'P', '8', ' ', 0, 0, 0, 0};
    FILE *f = fopen(path("w.webp"), "wb");
    REQUIRE(f);
    fwrite(webp, 1, sizeof webp, f);
    fclose(f);
    CHECK(gs_media_check_whole(path("w.webp"), 0, err, sizeof err) == 0);
    copy_prefix(path("w.webp"), path("cut.webp"), 16, NULL, 0);
    CHECK(gs_media_check_whole(path("cut.webp"), 0, err, sizeof err) == -1);
    CHECK(gs_media_check_whole(path("missing.jpg"), 0, err, sizeof err) == -1);
    CHECK(strstr(err, "missing.jpg") != NULL);
    f = fopen(path("empty.jpg"), "wb");
    REQUIRE(f);
    fclose(f);
    CHECK(gs_media_check_whole(path("empty.jpg"), 0, err, sizeof err) == -1);
    CHECK_STR(err, "an empty file");
}

/* ---- painted clips ---- */

typedef struct flat {
    int grey, fail_at, asked;
} flat;

static int flat_frame(void *ud, int i, unsigned char *px, char *err, size_t errlen)
{
    flat *f = ud;
    f->asked++;
    if (f->fail_at >= 0 && i == f->fail_at) {
        snprintf(err, errlen, "frame %d could not be painted", i);
        return -1;
    }
    memset(px, f->grey, 320 * 180 * 3);
    return 0;
}

/* Pixels of the rows [y0, y1) darker than lo and brighter than hi. */
static void band(const unsigned char *px, int y0, int y1, int x0, int x1, int lo, int hi, int *dark, int *light)
{
    *dark = *light = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const unsigned char *p = px + (y * 320 + x) * 3;
            int l = (p[0] + p[1] + p[2]) / 3;
            *dark += l < lo;
            *light += l > hi;
        }
}

static void test_encode_clip(void)
{
    char err[4096], odd[1024], out[1200], plain[1200], frame[1200];
    /* a folder a filtergraph would choke on, unescaped */
    snprintf(odd, sizeof odd, "%s/it's: a, [odd]; folder\\", dir);
    REQUIRE(mkdir(odd, 0755) == 0);
    snprintf(out, sizeof out, "%s/captioned.mp4", odd);
    snprintf(plain, sizeof plain, "%s/plain.mp4", dir);
    flat f = {128, -1, 0};
    gs_media_clip clip = {.width = 320, .height = 180, .frames = 48, .frame = flat_frame, .ud = &f,
                          .caption = "It's 100% {fine}: [ok], %{pts} \\n 'quoted' \"twice\".",
                          .caption_from = 0.2, .caption_to = 1.5, .mark = "preview"};
    REQUIRE(gs_media_encode_clip(&clip, out, err, sizeof err) == 0);
    CHECK(f.asked == 48);
    gs_media_info info;
    REQUIRE(gs_media_probe(out, &info, err, sizeof err) == 0);
    CHECK(info.width == 320 && info.height == 180 && fabs(info.duration - 2) < 0.05 && info.has_audio);
    CHECK(strcmp(info.video_codec, "h264") == 0 && info.sample_rate == 44100 && info.channels == 2);
    /* at 1 s the caption's dark box and white letters are in the bottom band, the mark top right */
    snprintf(frame, sizeof frame, "%s/captioned_1s.png", dir);
    const char *grab[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-ss", "1", "-i", out, "-frames:v", "1", frame, NULL};
    REQUIRE(gs_media_run(grab, NULL, 0, 60, NULL, NULL, err, sizeof err) == 0);
    unsigned char *px = gs_media_read_rgb(frame, 320, 180, err, sizeof err);
    REQUIRE(px);
    int dark, light;
    band(px, 120, 178, 0, 320, 80, 200, &dark, &light);
    CHECK(dark > 300 && light > 100);
    band(px, 0, 14, 250, 320, 80, 200, &dark, &light);
    CHECK(light > 10);
    band(px, 30, 110, 0, 320, 110, 145, &dark, &light);
    CHECK(dark == 0 && light == 0); /* the middle is the painted grey, untouched */
    free(px);
    /* after caption_to the band is plain grey again */
    const char *grab2[] = {gs_media_ffmpeg(), "-v", "error", "-y", "-ss", "1.8", "-i", out, "-frames:v", "1", frame, NULL};
    REQUIRE(gs_media_run(grab2, NULL, 0, 60, NULL, NULL, err, sizeof err) == 0);
    REQUIRE((px = gs_media_read_rgb(frame, 320, 180, err, sizeof err)));
    band(px, 120, 178, 0, 320, 110, 145, &dark, &light);
    CHECK(dark == 0 && light == 0);
    free(px);
    /* no caption, no mark: silence and the grey only */
    flat g = {128, -1, 0};
    gs_media_clip bare = {.width = 320, .height = 180, .frames = 24, .frame = flat_frame, .ud = &g};
    REQUIRE(gs_media_encode_clip(&bare, plain, err, sizeof err) == 0);
    /* a frame that fails stops the clip with its message and leaves nothing behind */
    flat h = {128, 5, 0};
    gs_media_clip broken = {.width = 320, .height = 180, .frames = 24, .frame = flat_frame, .ud = &h};
    CHECK(gs_media_encode_clip(&broken, path("broken.mp4"), err, sizeof err) == -1);
    CHECK(strstr(err, "frame 5 could not be painted") != NULL);
    CHECK(access(path("broken.mp4"), F_OK) != 0);
    CHECK(no_part_files());
    /* the caption font missing is said plainly */
    setenv("GS_FONT", "/nonexistent/font.ttf", 1);
    CHECK(gs_media_encode_clip(&clip, path("nofont.mp4"), err, sizeof err) == -1);
    CHECK(strstr(err, "fonts-dejavu-core") != NULL);
    unsetenv("GS_FONT");
}

static void test_speak(void)
{
    char err[2048];
    double secs = 0, again = 0;
    REQUIRE(gs_media_speak("The storm grows calm, and Mara waves to a new friend.", 170, path("v1.wav"), &secs, err,
                           sizeof err) == 0);
    CHECK(secs > 1.5 && secs < 8);
    REQUIRE(gs_media_speak("The storm grows calm, and Mara waves to a new friend.", 170, path("v2.wav"), &again, err,
                           sizeof err) == 0);
    FILE *a = fopen(path("v1.wav"), "rb"), *b = fopen(path("v2.wav"), "rb");
    REQUIRE(a && b);
    int same = 1, ca, cb;
    do {
        ca = fgetc(a);
        cb = fgetc(b);
        same &= ca == cb;
    } while (ca != EOF && cb != EOF);
    fclose(a);
    fclose(b);
    CHECK(same);
    /* faster speech is shorter; text starting with a dash is read, not taken as an option */
    double fast = 0;
    REQUIRE(gs_media_speak("-v The storm grows calm, and Mara waves to a new friend.", 320, path("v3.wav"), &fast, err,
                           sizeof err) == 0);
    CHECK(fast < secs);
    CHECK(gs_media_speak("x", 20, path("v4.wav"), &fast, err, sizeof err) == -1);
    setenv("GS_ESPEAK", "/nonexistent/espeak-ng", 1);
    CHECK(gs_media_speak("hello", 170, path("v5.wav"), &fast, err, sizeof err) == -1);
    CHECK(strstr(err, "install espeak-ng") != NULL && strstr(err, "--no-voice") != NULL);
    unsetenv("GS_ESPEAK");
    CHECK(no_part_files());
}

static void test_grade(void)
{
    char err[2048];
    const unsigned char warm[3] = {250, 172, 10};
    REQUIRE(gs_media_grade(tone, path("graded.mp4"), 1.06, warm, 0.1, err, sizeof err) == 0);
    gs_media_info info;
    REQUIRE(gs_media_probe(path("graded.mp4"), &info, err, sizeof err) == 0);
    CHECK(info.has_audio && fabs(info.duration - 1) < 0.1);
    unsigned char *px = gs_media_read_rgb(path("graded.mp4"), 32, 24, err, sizeof err);
    unsigned char *was = gs_media_read_rgb(tone, 32, 24, err, sizeof err);
    REQUIRE(px && was);
    double m[3], w[3];
    mean_rgb(px, 32 * 24, m);
    mean_rgb(was, 32 * 24, w);
    CHECK(m[2] < w[2]); /* toward amber: less blue */
    free(px);
    free(was);
    CHECK(gs_media_grade(path("missing.mp4"), path("x.mp4"), 1, warm, 0.1, err, sizeof err) == -1);
}

static void test_version(void)
{
    char buf[256], err[1024];
    REQUIRE(gs_media_ffmpeg_version(buf, sizeof buf, err, sizeof err) == 0);
    CHECK(strncmp(buf, "ffmpeg version", 14) == 0);
}

int main(void)
{
    dir = tu_tmpdir("media");
    if (make_inputs() != 0)
        return 1;
    RUN(test_probe);
    RUN(test_frames);
    RUN(test_png_roundtrip);
    RUN(test_normalize);
    RUN(test_concat);
    RUN(test_timeout_kills);
    RUN(test_stdin_stdout);
    RUN(test_missing_ffmpeg);
    RUN(test_stderr_quoted);
    RUN(test_version);
    RUN(test_check_whole);
    RUN(test_encode_clip);
    RUN(test_speak);
    RUN(test_grade);
    return TU_REPORT();
}
