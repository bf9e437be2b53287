/*
 * fuzz_sse.c — gs_http_sse_frame, the SSE framing of every event the dashboard
 * streams. Input: 8 bytes of id, then type NUL data NUL html (html absent when
 * there is no second NUL). Properties: every output line starts with a field
 * name the browser knows (data:, id:, event:, retry:) or is a comment or blank;
 * no CR anywhere; exactly one blank line, at the end (one event per call); the
 * id line is the id in decimal; the data lines joined with LF give back the
 * payload with CRLF and CR read as LF.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gs_http.h"

#define FAIL(...) (fprintf(stderr, "fuzz_sse: " __VA_ARGS__), fputc('\n', stderr), abort())

static int starts(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && memcmp(s, p, k) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    int64_t id;
    memcpy(&id, data, 8);
    char *in = malloc(size - 8 + 2);
    memcpy(in, data + 8, size - 8);
    in[size - 8] = in[size - 7] = '\0';
    const char *type = in;
    const char *d = in + strlen(type) + 1;
    if (d > in + size - 8)
        d = in + size - 8; /* no NUL in the input: data is empty */
    const char *html = NULL;
    if (d + strlen(d) < in + size - 8)
        html = d + strlen(d) + 1;
    gs_http_buf b = {0};
    if (gs_http_sse_frame(&b, id, type, d, html) != 0)
        FAIL("out of memory");
    const char *payload = html ? html : d;
    if (memchr(b.p, '\r', b.len))
        FAIL("CR in output");
    if (b.len < 2 || memcmp(b.p + b.len - 2, "\n\n", 2) != 0)
        FAIL("event does not end with a blank line");
    if (strlen(b.p) != b.len)
        FAIL("NUL in output");
    /* Rebuild the payload from the data lines. */
    gs_http_buf got = {0};
    int ndata = 0, nid = 0, nevent = 0;
    const char *line = b.p, *end = b.p + b.len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)(nl - line);
        if (n == 0) {
            if (nl + 1 != end)
                FAIL("blank line inside the event");
        } else if (starts(line, n, "data: ")) {
            if (ndata++)
                gs_http_buf_add(&got, "\n", 1);
            gs_http_buf_add(&got, line + 6, n - 6);
        } else if (starts(line, n, "id: ")) {
            char want[32];
            snprintf(want, sizeof want, "id: %" PRId64, id);
            if (nid++ || id <= 0 || n != strlen(want) || memcmp(line, want, n) != 0)
                FAIL("bad id line for %" PRId64, id);
        } else if (starts(line, n, "event: ")) {
            if (nevent++ || memchr(line, '\0', n))
                FAIL("bad event line");
        } else if (!starts(line, n, "retry:") && line[0] != ':') {
            FAIL("unknown field line '%.*s'", (int)n, line);
        }
        line = nl + 1;
    }
    if (id > 0 && nid != 1)
        FAIL("missing id line");
    if (*type && nevent != 1)
        FAIL("missing event line");
    if (ndata == 0)
        FAIL("no data line");
    /* The payload with CRLF and CR as LF. */
    gs_http_buf want = {0};
    gs_http_buf_add(&want, "", 0);
    for (const char *c = payload; *c; c++) {
        if (*c == '\r') {
            gs_http_buf_add(&want, "\n", 1);
            if (c[1] == '\n')
                c++;
        } else {
            gs_http_buf_add(&want, c, 1);
        }
    }
    if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
        FAIL("data does not round-trip");
    gs_http_buf_free(&want);
    gs_http_buf_free(&got);
    gs_http_buf_free(&b);
    free(in);
    return 0;
}
