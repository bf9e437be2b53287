/*
 * media_png.c — grokspicy.media's PNG extras: a text chunk (iTXt, UTF-8)
 * written into ffmpeg's PNG before it is renamed into place, read back, and a
 * PNG's size from its header without starting a process. The local renderer
 * keeps what a sheet or a keyframe was drawn from this way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_util.h"
#include "media_internal.h"


static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void make_crc_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t k = i;
        for (int j = 0; j < 8; j++)
            k = k & 1 ? 0xedb88320u ^ (k >> 1) : k >> 1;
        crc_table[i] = k;
    }
}

static uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t c)
{
    pthread_once(&crc_once, make_crc_table);
    c ^= 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void be32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The whole file (gs_read_file's, NUL-terminated, the NUL not counted). */
static unsigned char *slurp(const char *path, size_t *len)
{
    return (unsigned char *)gs_read_file(path, len);
}

int gs_media_write_png_text(const unsigned char *px, int w, int h, const char *out, const char *key,
                            const char *text, char *err, size_t errlen)
{
    if (!text)
        return gs_media_write_png(px, w, h, out, err, errlen);
    if (!key || !*key || strlen(key) > 79) {
        gs_seterr(err, errlen, "write_png_text: a keyword of 1..79 bytes expected");
        return -1;
    }
    char plain[4096], part[4096];
    if (tmp_name(out, plain, sizeof plain) != 0 || tmp_name(out, part, sizeof part) != 0) {
        gs_seterr(err, errlen, "%s: path too long", out);
        return -1;
    }
    if (gs_media_write_png(px, w, h, plain, err, errlen) != 0)
        return -1;
    size_t len = 0;
    unsigned char *png = slurp(plain, &len);
    unlink(plain);
    if (!png || len < 33 || memcmp(png + 12, "IHDR", 4) != 0) {
        free(png);
        gs_seterr(err, errlen, "%s: ffmpeg wrote no PNG", out);
        return -1;
    }
    /* iTXt: keyword NUL, compression flag 0, method 0, language NUL, translated NUL, UTF-8 text */
    size_t klen = strlen(key), tlen = strlen(text), dlen = klen + 5 + tlen;
    unsigned char *chunk = malloc(dlen + 12);
    if (!chunk) {
        free(png);
        gs_seterr(err, errlen, "%s: out of memory", out);
        return -1;
    }
    be32(chunk, (uint32_t)dlen);
    memcpy(chunk + 4, "iTXt", 4);
    memcpy(chunk + 8, key, klen);
    memset(chunk + 8 + klen, 0, 5);
    memcpy(chunk + 8 + klen + 5, text, tlen);
    be32(chunk + 8 + dlen, crc32_of(chunk + 4, dlen + 4, 0));
    FILE *f = fopen(part, "wb");
    int ok = f && fwrite(png, 1, 33, f) == 33 && fwrite(chunk, 1, dlen + 12, f) == dlen + 12 &&
             fwrite(png + 33, 1, len - 33, f) == len - 33;
    int e = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    free(png);
    free(chunk);
    if (!ok)
        gs_seterr(err, errlen, "%s: %s", part, strerror(e));
    return commit_tmp(part, out, ok, err, errlen);
}

char *gs_media_png_text(const char *path, const char *key)
{
    size_t len = 0;
    unsigned char *png = slurp(path, &len);
    if (!png || len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0) {
        free(png);
        return NULL;
    }
    char *found = NULL;
    size_t klen = strlen(key);
    for (size_t off = 8; off + 12 <= len && !found;) {
        uint32_t n = rd32(png + off);
        if (n > len - off - 12)
            break;
        const unsigned char *type = png + off + 4, *data = png + off + 8;
        if (memcmp(type, "iTXt", 4) == 0 && n > klen + 5 && memcmp(data, key, klen) == 0 && data[klen] == 0 &&
            data[klen + 1] == 0) {
            /* skip the language tag and the translated keyword (NUL-terminated each) */
            size_t p = klen + 3;
            while (p < n && data[p])
                p++;
            p++;
            while (p < n && data[p])
                p++;
            p++;
            if (p <= n && (found = malloc(n - p + 1))) {
                memcpy(found, data + p, n - p);
                found[n - p] = '\0';
            }
        }
        if (memcmp(type, "IEND", 4) == 0)
            break;
        off += (size_t)n + 12;
    }
    free(png);
    return found;
}

int gs_media_png_size(const char *path, int *w, int *h)
{
    unsigned char head[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n != sizeof head || memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(head + 12, "IHDR", 4) != 0)
        return -1;
    uint32_t pw = rd32(head + 16), ph = rd32(head + 20);
    if (pw < 1 || ph < 1 || pw > 16384 || ph > 16384)
        return -1;
    *w = (int)pw;
    *h = (int)ph;
    return 0;
}

