/*
 * local_score.c — the local provider's consistency scorer: how much of each
 * character's colours (from its sheet, else drawn from its description) an
 * image shows where the character can be. A keyframe shows the cast in its
 * slots; a clip's last frame may show it walked, raced or flew elsewhere and
 * the camera pushed in or panned, so every figure is searched across the
 * frame. Reads images through grokspicy.media; no other I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_media.h"
#include "gs_provider.h"
#include "gs_util.h"
#include "local_draw.h"

#define HL 5 /* levels per channel of the soft histogram */
#define HN (HL * HL * HL)

typedef struct hist {
    double b[HN];                /* soft (trilinear) counts */
    double hard[HN], sum[HN][3]; /* hard bins with colour sums, for naming */
    double total;
} hist;

/* The soft-bin share of one pixel: 8 bins and weights. */
static void soft_bins(const unsigned char *p, int bins[8], double w[8])
{
    int i0[3];
    double t[3];
    for (int k = 0; k < 3; k++) {
        double f = p[k] * (HL - 1) / 255.0;
        i0[k] = (int)f;
        if (i0[k] > HL - 2)
            i0[k] = HL - 2;
        t[k] = f - i0[k];
    }
    for (int c = 0; c < 8; c++) {
        int r = i0[0] + (c & 1), g = i0[1] + ((c >> 1) & 1), b = i0[2] + ((c >> 2) & 1);
        bins[c] = (r * HL + g) * HL + b;
        w[c] = (c & 1 ? t[0] : 1 - t[0]) * (c & 2 ? t[1] : 1 - t[1]) * (c & 4 ? t[2] : 1 - t[2]);
    }
}

static void hist_add(hist *h, const unsigned char *p, double wgt)
{
    int bins[8];
    double w[8];
    soft_bins(p, bins, w);
    for (int c = 0; c < 8; c++)
        h->b[bins[c]] += w[c] * wgt;
    int hb = ((int)(p[0] * HL / 256) * HL + (int)(p[1] * HL / 256)) * HL + (int)(p[2] * HL / 256);
    h->hard[hb] += wgt;
    for (int k = 0; k < 3; k++)
        h->sum[hb][k] += p[k] * wgt;
    h->total += wgt;
}

/* The mean colour of the nth most populated hard bin (n = 0, 1). */
static rgb hist_dominant(const hist *h, int nth)
{
    int best[2] = {-1, -1};
    for (int i = 0; i < HN; i++) {
        if (best[0] < 0 || h->hard[i] > h->hard[best[0]]) {
            best[1] = best[0];
            best[0] = i;
        } else if (best[1] < 0 || h->hard[i] > h->hard[best[1]]) {
            best[1] = i;
        }
    }
    int i = best[nth < 0 || nth > 1 ? 0 : nth];
    if (i < 0 || h->hard[i] <= 0)
        return (rgb){0, 0, 0};
    return (rgb){(unsigned char)(h->sum[i][0] / h->hard[i]), (unsigned char)(h->sum[i][1] / h->hard[i]),
                 (unsigned char)(h->sum[i][2] / h->hard[i])};
}

/* Histogram of the region around (bx, by), half-size (hw, hh), every stride-th
 * pixel each way, weighted back to full counts. */
static void region_hist(const unsigned char *img, int w, int h, double bx, double by, double hw, double hh, int stride,
                        hist *out)
{
    memset(out, 0, sizeof *out);
    int x0 = (int)fmax(0, bx - hw), x1 = (int)fmin(w, bx + hw), y0 = (int)fmax(0, by - hh), y1 = (int)fmin(h, by + hh);
    for (int y = y0; y < y1; y += stride)
        for (int x = x0; x < x1; x += stride)
            hist_add(out, img + ((size_t)y * w + x) * 3, (double)stride * stride);
}

/* Fraction of the expected figure colours found in the region: expected is the
 * reference histogram scaled to `expect` pixels; 1.0 when all are there. */
static double hist_match(const hist *ref, const hist *region, double expect)
{
    if (ref->total <= 0 || expect <= 0)
        return 0;
    double hit = 0;
    for (int i = 0; i < HN; i++) {
        double want = ref->b[i] / ref->total * expect;
        hit += want < region->b[i] ? want : region->b[i];
    }
    double s = hit / expect;
    return s > 1 ? 1 : s;
}

/* An image's size: a PNG's from its header, anything else from ffprobe. */
static int image_size(const char *path, int *w, int *h, char *err, size_t errlen)
{
    if (gs_media_png_size(path, w, h) == 0)
        return 0;
    gs_media_info info;
    if (gs_media_probe(path, &info, err, errlen) != 0)
        return -1;
    if (info.width <= 0 || info.height <= 0) {
        gs_seterr(err, errlen, "%s: not an image", path);
        return -1;
    }
    *w = info.width;
    *h = info.height;
    return 0;
}

unsigned char *read_sheet(const char *path, double s, int *rw, int *rh, double *cx, double *base, char *err,
                          size_t errlen)
{
    gs_media_info info;
    if (image_size(path, &info.width, &info.height, err, errlen) != 0)
        return NULL;
    double pcx, pbase, ps;
    portrait_geometry(info.width, info.height, &pcx, &pbase, &ps);
    double f = s / ps;
    *rw = (int)(info.width * f + 0.5);
    *rh = (int)(info.height * f + 0.5);
    if (*rw < 16)
        *rw = 16;
    if (*rh < 16)
        *rh = 16;
    *cx = pcx * *rw / info.width;
    *base = pbase * *rh / info.height;
    return gs_media_read_rgb(path, *rw, *rh, err, errlen);
}

/* The expected figure of a character as a histogram: from its sheet when there
 * is one, else drawn from its description. */
static int reference_hist(const char *ref, const char *desc, double s, hist *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rw, rh;
    double cx, base;
    unsigned char *px = NULL;
    /* a local sheet says what it shows: drawing that is the sheet, without ffmpeg */
    char *drawn = ref ? gs_media_png_text(ref, "grokspicy:figure") : NULL;
    if (ref && !drawn) {
        px = read_sheet(ref, s, &rw, &rh, &cx, &base, err, errlen);
        if (!px)
            return -1;
    } else {
        figure f;
        figure_from_text(drawn ? drawn : desc, &f);
        free(drawn);
        canvas c;
        rw = (int)(s * 1.3) + 16;
        rh = (int)(s * 1.1) + 8;
        if (canvas_init(&c, rw, rh) != 0) {
            gs_seterr(err, errlen, "score_consistency: out of memory");
            return -1;
        }
        rgb top, bottom;
        portrait_backdrop(&f, &top, &bottom);
        vgradient(&c, 0, rh, top, bottom);
        cx = rw / 2.0;
        base = rh - 0.05 * s;
        draw_figure(&c, &f, cx, base, s, NULL);
        px = c.px;
    }
    for (int y = (int)fmax(0, base - s); y < (int)fmin(rh, base + 1); y++)
        for (int x = (int)fmax(7, cx - 0.5 * s); x < (int)fmin(rw - 4, cx + 0.5 * s); x++)
            if (is_figure(px, rw, x, y))
                hist_add(out, px + ((size_t)y * rw + x) * 3, 1);
    free(px);
    if (out->total < 16) {
        gs_seterr(err, errlen, "score_consistency: no figure found in %s", ref ? ref : "the description");
        return -1;
    }
    return 0;
}

/*
 * Best match of ref over the places a figure can be: its slot zoomed about the
 * centre (push-in, pull-out, drift), moved sideways anywhere a walk, a race or
 * a pan can take it, and up where a flight or a jump can. For each zoom and
 * height the band of rows is binned once into per-column running sums, so a
 * window at any x costs one subtraction per bin.
 */
static double best_match(const unsigned char *img, int w, int h, const hist *ref, double cx, double base, double s,
                         hist *best_region)
{
    static const double zooms[] = {1.0, 1.08, 1.16};
    static const double lifts[] = {0, 0.12};
    double best = -1, best_bx = cx, best_by = base - 0.5 * s, best_half = 0.56 * s;
    double *cols = malloc(sizeof(double) * HN * (size_t)(w + 1));
    hist region;
    if (!cols)
        return 0;
    for (size_t zi = 0; zi < 3; zi++)
        for (size_t li = 0; li < 2; li++) {
            double z = zooms[zi], half = 0.56 * s * z;
            double by = h / 2.0 + (base - (0.5 + lifts[li]) * s - h / 2.0) * z;
            int y0 = (int)fmax(0, by - half), y1 = (int)fmin(h, by + half);
            memset(cols, 0, sizeof(double) * HN);
            for (int x = 0; x < w; x++) {
                double *prev = cols + (size_t)x * HN, *cur = prev + HN;
                memcpy(cur, prev, sizeof(double) * HN);
                for (int y = y0; y < y1; y++) {
                    int bins[8];
                    double wt[8];
                    soft_bins(img + ((size_t)y * w + x) * 3, bins, wt);
                    for (int c = 0; c < 8; c++)
                        cur[bins[c]] += wt[c];
                }
            }
            for (int si = -10; si <= 10; si++) {
                double bx = w / 2.0 + (cx - w / 2.0) * z + si * 0.034 * w;
                if (bx < 0.05 * w || bx > 0.95 * w)
                    continue;
                int x0 = (int)fmax(0, bx - half), x1 = (int)fmin(w, bx + half);
                const double *a = cols + (size_t)x0 * HN, *b = cols + (size_t)x1 * HN;
                for (int k = 0; k < HN; k++)
                    region.b[k] = b[k] - a[k];
                double m = hist_match(ref, &region, ref->total * z * z);
                if (m > best) {
                    best = m;
                    best_bx = bx, best_by = by, best_half = half;
                }
            }
        }
    free(cols);
    if (best_region) /* the colours the best window shows, for the issue text */
        region_hist(img, w, h, best_bx, best_by, best_half, best_half, 1, best_region);
    return best;
}

/* The issue and the fix sentence of a character whose colours drifted. */
static int note_drift(gs_score *out, gs_sbuf *fix, const char *name, double sc, const hist *ref, const hist *region)
{
    const char *want1 = colour_name(hist_dominant(ref, 0)), *want2 = colour_name(hist_dominant(ref, 1));
    rgb d = hist_dominant(ref, 0);
    gs_sbuf is = {0};
    gs_sb_printf(&is, "%s: colour match %.2f below 0.80; expected mostly %s and %s, the frame shows mostly %s", name,
                 sc, want1, want2, colour_name(hist_dominant(region, 0)));
    out->issues[out->n_issues++] = gs_sb_take(&is);
    gs_sb_printf(fix, "%sRestore %s's colours exactly as in the character sheet: %s (#%02x%02x%02x) with %s accents.",
                 fix->n ? " " : "", name, want1, d.r, d.g, d.b, want2);
    return out->issues[out->n_issues - 1] ? 0 : -1;
}

static double score_one(const unsigned char *img, int w, int h, size_t i, size_t n, const hist *ref, hist *region)
{
    double cx, base, s;
    keyframe_geometry(w, h, i, n, &cx, &base, &s);
    double sc = best_match(img, w, h, ref, cx, base, s, region);
    if (n == 1) {
        /* a lone character may be a portrait: try the portrait framing too */
        double pcx, pbase, ps;
        hist alt;
        portrait_geometry(w, h, &pcx, &pbase, &ps);
        hist scaled = *ref;
        double f = (ps * ps) / (s * s);
        scaled.total *= f;
        for (int b = 0; b < HN; b++)
            scaled.b[b] *= f;
        double sp = best_match(img, w, h, &scaled, pcx, pbase, ps, &alt);
        if (sp > sc) {
            sc = sp;
            *region = alt;
        }
    }
    return sc;
}

int score_figures(const char *image_path, const char *const refs[], size_t n_refs, const char *const descriptions[],
                  const char *const names[], size_t n, gs_score *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || n > 8 || n_refs > n) {
        gs_seterr(err, errlen, "score_consistency: 1..8 characters and at most one ref each expected");
        return -1;
    }
    gs_media_info info;
    if (image_size(image_path, &info.width, &info.height, err, errlen) != 0)
        return -1;
    /* analyse at most 640 pixels wide or tall */
    double k = 640.0 / (info.width > info.height ? info.width : info.height);
    if (k > 1)
        k = 1;
    int w = (int)(info.width * k + 0.5), h = (int)(info.height * k + 0.5);
    unsigned char *img = gs_media_read_rgb(image_path, w, h, err, errlen);
    if (!img)
        return -1;
    int rc = -1;
    hist *ref = malloc(sizeof *ref), *region = malloc(sizeof *region);
    out->names = calloc(n, sizeof(char *));
    out->scores = calloc(n, sizeof(double));
    out->issues = calloc(n, sizeof(char *));
    out->n = n;
    gs_sbuf fix = {0};
    if (!ref || !region || !out->names || !out->scores || !out->issues) {
        gs_seterr(err, errlen, "score_consistency: out of memory");
        goto done;
    }
    double overall = 1;
    for (size_t i = 0; i < n; i++) {
        double cx, base, s;
        keyframe_geometry(w, h, i, n, &cx, &base, &s);
        const char *desc = descriptions[i] && *descriptions[i] ? descriptions[i] : names[i];
        if (reference_hist(i < n_refs ? refs[i] : NULL, desc, s, ref, err, errlen) != 0)
            goto done;
        double sc = score_one(img, w, h, i, n, ref, region);
        if (!(out->names[i] = strdup(names[i]))) {
            gs_seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
        out->scores[i] = sc;
        if (sc < overall)
            overall = sc;
        if (sc < 0.8 && note_drift(out, &fix, names[i], sc, ref, region) != 0) {
            gs_seterr(err, errlen, "score_consistency: out of memory");
            goto done;
        }
    }
    if (fix.n)
        gs_sb_printf(&fix, " Keep the pose, framing and background unchanged.");
    out->overall_score = overall;
    out->fix_prompt = gs_sb_take(&fix);
    fix.p = NULL;
    if (!out->fix_prompt) {
        gs_seterr(err, errlen, "score_consistency: out of memory");
        goto done;
    }
    rc = 0;
done:
    free(fix.p);
    free(img);
    free(ref);
    free(region);
    if (rc != 0)
        gs_score_free(out);
    return rc;
}
