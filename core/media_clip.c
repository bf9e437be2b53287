/*
 * media_clip.c — grokspicy.media's painted clips: frames streamed into ffmpeg
 * as raw RGB, a caption burned in with drawtext (read from a text file, so no
 * text is ever parsed as filter syntax), a corner mark, a voice spoken by
 * espeak-ng mixed into the sound track, and re-grading a finished clip. Child
 * processes and temp names come from media.c; what a frame shows is the
 * caller's.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_util.h"
#include "media_internal.h"

const char *gs_media_espeak(void)
{
    const char *e = getenv("GS_ESPEAK");
    return e && *e ? e : "espeak-ng";
}

const char *gs_media_font(void)
{
    const char *e = getenv("GS_FONT");
    return e && *e ? e : "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
}

/*
 * A file name as a drawtext option value inside a filtergraph: first the
 * option level (\ ' : escaped), then the graph level (\ ' [ ] , ; escaped).
 */
static int filter_path(char *dst, size_t len, const char *path)
{
    char mid[8400];
    size_t n = 0;
    for (const char *p = path; *p; p++) {
        if (n + 3 >= sizeof mid)
            return -1;
        if (strchr("\\':", *p))
            mid[n++] = '\\';
        mid[n++] = *p;
    }
    mid[n] = '\0';
    n = 0;
    for (const char *p = mid; *p; p++) {
        if (n + 3 >= len)
            return -1;
        if (strchr("\\'[],;", *p))
            dst[n++] = '\\';
        dst[n++] = *p;
    }
    dst[n] = '\0';
    return 0;
}

/* Breaks text into at most max_lines lines of at most width characters
 * (counting UTF-8 sequences once); 1 when it all fits. */
static int wrap_caption(const char *text, int width, int max_lines, gs_sbuf *out)
{
    int lines = 1, col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (!*p)
            break;
        const char *e = p;
        int chars = 0;
        while (*e && *e != ' ' && *e != '\n' && *e != '\t' && *e != '\r') {
            chars += ((unsigned char)*e & 0xC0) != 0x80;
            e++;
        }
        if (col > 0 && col + 1 + chars > width) {
            if (lines == max_lines) {
                gs_sb_add(out, "\xe2\x80\xa6"); /* … */
                return 0;
            }
            gs_sb_add(out, "\n");
            lines++;
            col = 0;
        } else if (col > 0) {
            gs_sb_add(out, " ");
            col++;
        }
        gs_sb_addn(out, p, (size_t)(e - p));
        col += chars;
        p = e;
    }
    return 1;
}

typedef struct feeder {
    const gs_media_clip *clip;
    unsigned char *frame;
    int next;
} feeder;

static int feed_frame(void *ud, const unsigned char **chunk, size_t *len, char *err, size_t errlen)
{
    feeder *f = ud;
    const gs_media_clip *c = f->clip;
    if (f->next >= c->frames) {
        *chunk = NULL;
        *len = 0;
        return 0;
    }
    if (gs_media_cancelled()) {
        gs_seterr(err, errlen, "ffmpeg: cancelled, killed");
        return -1;
    }
    if (c->frame(c->ud, f->next, f->frame, err, errlen) != 0)
        return -1;
    f->next++;
    *chunk = f->frame;
    *len = (size_t)c->width * (size_t)c->height * 3;
    return 0;
}

/* The caption's text file and its drawtext filter, appended to vf. */
static int caption_filter(const gs_media_clip *c, const char *out, char *textfile, size_t tflen, gs_sbuf *vf,
                          char *err, size_t errlen)
{
    int size = c->height / 24 < 14 ? 14 : c->height / 24;
    gs_sbuf text = {0};
    for (int tries = 0; tries < 3; tries++) {
        free(text.p);
        memset(&text, 0, sizeof text);
        int width = (int)(0.86 * c->width / (size * 0.56));
        if (wrap_caption(c->caption, width, 3, &text) || tries == 2)
            break;
        size = size * 85 / 100;
    }
    char *wrapped = gs_sb_take(&text), as_text[4200];
    /* "<dir>/.<clip>.part-<pid>-<n>.txt": a temp name like every other */
    snprintf(as_text, sizeof as_text, "%s.txt", out);
    if (tmp_name(as_text, textfile, tflen) != 0)
        textfile[0] = '\0';
    FILE *f = wrapped && textfile[0] ? fopen(textfile, "wb") : NULL;
    int ok = f && fputs(wrapped, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(wrapped);
    char font[8800], tf[8800];
    if (!ok || filter_path(font, sizeof font, gs_media_font()) != 0 ||
        filter_path(tf, sizeof tf, textfile) != 0) {
        gs_seterr(err, errlen, "%s: cannot write the caption", textfile);
        return -1;
    }
    gs_sb_printf(vf,
                 ",drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%d:fontcolor=white:line_spacing=%d"
                 ":box=1:boxcolor=black@0.6:boxborderw=%d:x=(w-text_w)/2:y=h-text_h-%d"
                 ":enable='between(t,%.3f,%.3f)'",
                 font, tf, size, size / 4, size / 2, c->height / 14, c->caption_from, c->caption_to);
    return 0;
}

/* The filtergraph of a clip: caption, mark, voice. NULL with err on failure;
 * textfile names the caption's file (removed by the caller). */
static char *clip_graph(const gs_media_clip *c, const char *out, char *textfile, size_t tflen, char *err,
                        size_t errlen)
{
    gs_sbuf vf = {0};
    gs_sb_add(&vf, "[0:v]setsar=1,format=yuv420p"); /* drawtext on the planar frame: less to blend */
    if (c->caption && *c->caption && caption_filter(c, out, textfile, tflen, &vf, err, errlen) != 0) {
        free(vf.p);
        return NULL;
    }
    if (c->mark) {
        char font[8800];
        if (filter_path(font, sizeof font, gs_media_font()) != 0) {
            gs_seterr(err, errlen, "caption font path too long");
            free(vf.p);
            return NULL;
        }
        int size = c->height / 38 < 11 ? 11 : c->height / 38;
        /* the mark is fixed text of letters only: no escaping needed */
        gs_sb_printf(&vf, ",drawtext=fontfile=%s:text=%s:expansion=none:fontsize=%d:fontcolor=white@0.9"
                          ":box=1:boxcolor=black@0.35:boxborderw=%d:x=w-text_w-%d:y=%d",
                     font, c->mark, size, size / 3, size, size);
    }
    gs_sb_add(&vf, "[v];");
    if (c->voice)
        gs_sb_printf(&vf, "[1:a]aresample=44100,aformat=sample_fmts=fltp:channel_layouts=stereo,"
                          "adelay=delays=%d:all=1,apad[a]", (int)lround(c->voice_at * 1000));
    else
        gs_sb_add(&vf, "[1:a]anull[a]");
    char *graph = gs_sb_take(&vf);
    if (!graph)
        gs_seterr(err, errlen, "encode_clip: out of memory");
    return graph;
}

int gs_media_encode_clip(const gs_media_clip *c, const char *out, char *err, size_t errlen)
{
    if (c->frames < 1 || c->frames > 24 * 60 || c->width < 16 || c->height < 16 || c->width > 4096 ||
        c->height > 4096 || !c->frame) {
        gs_seterr(err, errlen, "encode_clip: bad frame count or size");
        return -1;
    }
    if (access(gs_media_font(), R_OK) != 0 && ((c->caption && *c->caption) || c->mark)) {
        gs_seterr(err, errlen, "caption font %s is missing: install fonts-dejavu-core or set GS_FONT",
                  gs_media_font());
        return -1;
    }
    char tmp[4096], textfile[4200] = "";
    if (tmp_name(out, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    char *graph = clip_graph(c, out, textfile, sizeof textfile, err, errlen);
    int rc = -1;
    if (graph) {
        argv_t a;
        av_ffmpeg(&a);
        av_addv(&a, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", NULL);
        av_fmt(&a, "%dx%d", c->width, c->height);
        av_addv(&a, "-r", "24", "-i", "pipe:0", NULL);
        if (c->voice)
            av_addv(&a, "-i", c->voice, NULL);
        else
            av_addv(&a, "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", NULL);
        av_addv(&a, "-filter_complex", graph, "-map", "[v]", "-map", "[a]", NULL);
        av_encode(&a, "ultrafast");
        av_add(&a, "-frames:v");
        av_fmt(&a, "%d", c->frames);
        av_add(&a, "-t");
        av_fmt(&a, "%.3f", c->frames / 24.0);
        av_add(&a, tmp);
        feeder fd = {c, malloc((size_t)c->width * (size_t)c->height * 3), 0};
        int ok = 0;
        if (a.overflow)
            gs_seterr(err, errlen, "ffmpeg: command line too long");
        else if (!fd.frame)
            gs_seterr(err, errlen, "encode_clip: out of memory");
        else
            ok = run_child(a.v, NULL, 0, feed_frame, &fd, GS_MEDIA_TIMEOUT, NULL, NULL, err, errlen) == 0;
        if (ok && fd.next != c->frames) {
            gs_seterr(err, errlen, "ffmpeg stopped after %d of %d frames", fd.next, c->frames);
            ok = 0;
        }
        free(fd.frame);
        free(graph);
        rc = commit_tmp(tmp, out, ok, err, errlen);
    }
    if (*textfile)
        unlink(textfile);
    return rc;
}

/* Length of a PCM WAV file in seconds (0 when it cannot be read). */
static double wav_seconds(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char h[12], ck[8];
    double secs = 0, byte_rate = 0;
    if (fread(h, 1, 12, f) == 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WAVE", 4)) {
        while (fread(ck, 1, 8, f) == 8) {
            unsigned long n = ck[4] | ck[5] << 8 | ck[6] << 16 | (unsigned long)ck[7] << 24;
            if (!memcmp(ck, "fmt ", 4) && n >= 16) {
                unsigned char fmt[16];
                if (fread(fmt, 1, 16, f) != 16)
                    break;
                byte_rate = fmt[8] | fmt[9] << 8 | fmt[10] << 16 | (unsigned long)fmt[11] << 24;
                if (fseek(f, (long)(n - 16 + (n & 1)), SEEK_CUR) != 0)
                    break;
            } else if (!memcmp(ck, "data", 4)) {
                /* espeak-ng writes to a pipe-friendly header: a 0x7fffffff size means "to the end" */
                if (n >= 0x7ffff000ul) {
                    long here = ftell(f);
                    fseek(f, 0, SEEK_END);
                    n = (unsigned long)(ftell(f) - here);
                }
                secs = byte_rate > 0 ? n / byte_rate : 0;
                break;
            } else if (fseek(f, (long)(n + (n & 1)), SEEK_CUR) != 0) {
                break;
            }
        }
    }
    fclose(f);
    return secs;
}

int gs_media_speak(const char *text, int wpm, const char *out_wav, double *seconds, char *err, size_t errlen)
{
    if (wpm < 80 || wpm > 450) {
        gs_seterr(err, errlen, "speak: rate must be 80..450 words per minute, got %d", wpm);
        return -1;
    }
    char tmp[4096], rate[16];
    if (tmp_name(out_wav, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out_wav);
        return -1;
    }
    snprintf(rate, sizeof rate, "%d", wpm);
    const char *argv[] = {gs_media_espeak(), "-v", "en-us", "-s", rate, "-w", tmp, "--stdin", NULL};
    char why[2048] = "";
    int ok = gs_media_run(argv, text, strlen(text), 60.0, NULL, NULL, why, sizeof why) == 0;
    if (!ok && strstr(why, "not found on PATH"))
        gs_seterr(err, errlen, "%s not found on PATH: install espeak-ng (tools/install-deps) or run with --no-voice",
                  gs_media_espeak());
    else if (!ok)
        gs_seterr(err, errlen, "%s", why);
    if (ok && (*seconds = wav_seconds(tmp)) <= 0) {
        gs_seterr(err, errlen, "%s: espeak-ng wrote no speech", out_wav);
        ok = 0;
    }
    return commit_tmp(tmp, out_wav, ok, err, errlen);
}

int gs_media_grade(const char *in, const char *out, double contrast, const unsigned char tint[3], double amount,
                   char *err, size_t errlen)
{
    if (check_input(in, err, errlen) != 0)
        return -1;
    char tmp[4096];
    if (tmp_name(out, tmp, sizeof tmp) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    gs_media_info info;
    if (gs_media_probe(in, &info, err, errlen) != 0)
        return -1;
    amount = amount < 0 ? 0 : amount > 1 ? 1 : amount;
    argv_t a;
    av_ffmpeg(&a);
    av_addv(&a, "-i", in, "-vf", NULL);
    av_fmt(&a,
           "format=rgb24,lutrgb=r='clip((val-128)*%.4f+128,0,255)*%.4f+%.4f':g='clip((val-128)*%.4f+128,0,255)*%.4f+%.4f'"
           ":b='clip((val-128)*%.4f+128,0,255)*%.4f+%.4f',format=yuv420p",
           contrast, 1 - amount, tint[0] * amount, contrast, 1 - amount, tint[1] * amount, contrast, 1 - amount,
           tint[2] * amount);
    av_addv(&a, "-map", "0:v:0", NULL);
    if (info.has_audio)
        av_addv(&a, "-map", "0:a:0", NULL);
    av_encode(&a, "ultrafast");
    av_add(&a, tmp);
    int ok = av_run(&a, NULL, 0, GS_MEDIA_TIMEOUT, NULL, NULL, err, errlen) == 0;
    return commit_tmp(tmp, out, ok, err, errlen);
}
