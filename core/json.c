/*
 * json.c — the JSON reader and writer of json.h. Recursive descent with a depth
 * limit; numbers through strtod; \u escapes (surrogate pairs included) to UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "json.h"

#define MAX_DEPTH 64

typedef struct jp {
    const char *s, *end, *start;
    char *err;
    size_t errlen;
    int failed;
} jp;

static int perr(jp *p, const char *msg)
{
    if (!p->failed && p->err && p->errlen)
        snprintf(p->err, p->errlen, "json: %s at offset %ld", msg, (long)(p->s - p->start));
    p->failed = 1;
    return -1;
}

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static void free_val(jv *v)
{
    if (v->t == JV_STR)
        free(v->s);
    if (v->t == JV_ARR || v->t == JV_OBJ) {
        for (size_t i = 0; i < v->len; i++) {
            free_val(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

void json_free(jv *v)
{
    if (!v)
        return;
    free_val(v);
    free(v);
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote; returns a malloc'd string, its length (which counts
   what follows an escaped NUL) in *len when len is not NULL. */
static char *parse_string(jp *p, size_t *len)
{
    p->s++;
    const char *start = p->s;
    size_t max = 0;
    while (p->s < p->end && *p->s != '"') {
        if (*p->s == '\\')
            p->s++;
        p->s++;
        max++;
    }
    if (p->s >= p->end) {
        perr(p, "unterminated string");
        return NULL;
    }
    const char *stop = p->s;
    p->s++;
    char *out = malloc((size_t)(stop - start) + 4 + 1);
    if (!out) {
        perr(p, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (const char *c = start; c < stop; c++) {
        if (*c != '\\') {
            if ((unsigned char)*c < 0x20) {
                free(out);
                perr(p, "control character in string");
                return NULL;
            }
            out[n++] = *c;
            continue;
        }
        c++;
        switch (*c) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (stop - c < 5 || hex4(c + 1, &cp) != 0) {
                free(out);
                perr(p, "bad \\u escape");
                return NULL;
            }
            c += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && stop - c >= 7 && c[1] == '\\' && c[2] == 'u' &&
                hex4(c + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c += 6;
            }
            /* \uXXXX (6 bytes) never yields more than 4 UTF-8 bytes; pairs (12) at most 4 */
            n += utf8_put(out + n, cp);
            break;
        }
        default:
            free(out);
            perr(p, "bad escape");
            return NULL;
        }
    }
    (void)max;
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

static int parse_value(jp *p, jv *v, int depth);

static int push_item(jp *p, jv *v, size_t *cap, char *key)
{
    if (v->len == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        jv *ni = realloc(v->items, nc * sizeof *ni);
        if (!ni)
            return perr(p, "out of memory");
        v->items = ni;
        if (v->t == JV_OBJ) {
            char **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk)
                return perr(p, "out of memory");
            v->keys = nk;
        }
        *cap = nc;
    }
    memset(&v->items[v->len], 0, sizeof v->items[0]);
    if (v->t == JV_OBJ)
        v->keys[v->len] = key;
    v->len++;
    return 0;
}

static int parse_container(jp *p, jv *v, int depth)
{
    int obj = *p->s == '{';
    char close = obj ? '}' : ']';
    v->t = obj ? JV_OBJ : JV_ARR;
    size_t cap = 0;
    p->s++;
    ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return 0;
    }
    for (;;) {
        ws(p);
        char *key = NULL;
        if (obj) {
            if (p->s >= p->end || *p->s != '"')
                return perr(p, "expected a key");
            if (!(key = parse_string(p, NULL)))
                return -1;
            ws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                return perr(p, "expected ':'");
            }
            p->s++;
        }
        if (push_item(p, v, &cap, key) != 0) {
            free(key);
            return -1;
        }
        if (parse_value(p, &v->items[v->len - 1], depth + 1) != 0)
            return -1;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return 0;
        }
        return perr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(jp *p, jv *v, int depth)
{
    if (depth > MAX_DEPTH)
        return perr(p, "nested too deeply");
    ws(p);
    if (p->s >= p->end)
        return perr(p, "unexpected end");
    char c = *p->s;
    if (c == '{' || c == '[')
        return parse_container(p, v, depth);
    if (c == '"') {
        v->t = JV_STR;
        v->s = parse_string(p, &v->len);
        return v->s ? 0 : -1;
    }
    size_t left = (size_t)(p->end - p->s);
    if (left >= 4 && !memcmp(p->s, "true", 4)) {
        v->t = JV_BOOL;
        v->b = 1;
        p->s += 4;
        return 0;
    }
    if (left >= 5 && !memcmp(p->s, "false", 5)) {
        v->t = JV_BOOL;
        p->s += 5;
        return 0;
    }
    if (left >= 4 && !memcmp(p->s, "null", 4)) {
        v->t = JV_NULL;
        p->s += 4;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (p->s + n < p->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", p->s[n]))
            n++;
        memcpy(buf, p->s, n);
        buf[n] = '\0';
        char *e;
        v->t = JV_NUM;
        v->n = strtod(buf, &e);
        if (e != buf + n || n == 0)
            return perr(p, "bad number");
        p->s += n;
        return 0;
    }
    return perr(p, "unexpected character");
}

jv *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    jp p = {.s = text, .end = text + len, .start = text, .err = err, .errlen = errlen};
    jv *v = calloc(1, sizeof *v);
    if (!v) {
        if (err && errlen)
            snprintf(err, errlen, "json: out of memory");
        return NULL;
    }
    if (!text || parse_value(&p, v, 0) != 0) {
        if (!text)
            perr(&p, "no text");
        json_free(v);
        return NULL;
    }
    ws(&p);
    if (p.s != p.end) {
        perr(&p, "trailing characters");
        json_free(v);
        return NULL;
    }
    return v;
}

const jv *json_get(const jv *v, const char *key)
{
    if (!v || v->t != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (!strcmp(v->keys[i], key))
            return &v->items[i];
    return NULL;
}

const jv *json_path(const jv *v, const char *path)
{
    char part[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        path += n + (path[n] == '.');
        if (v->t == JV_ARR) {
            char *e;
            unsigned long i = strtoul(part, &e, 10);
            v = (*e || i >= v->len) ? NULL : &v->items[i];
        } else {
            v = json_get(v, part);
        }
    }
    return v;
}

const char *json_str(const jv *v, const char *path, const char *dflt)
{
    const jv *x = json_path(v, path);
    return x && x->t == JV_STR ? x->s : dflt;
}

double json_num(const jv *v, const char *path, double dflt)
{
    const jv *x = json_path(v, path);
    return x && x->t == JV_NUM ? x->n : dflt;
}

/* ---- writer ---- */

char *jw_reserve(jw *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (w->len + n + 1 > w->cap) {
        size_t nc = w->cap ? w->cap : 256;
        while (nc < w->len + n + 1)
            nc *= 2;
        char *np = realloc(w->p, nc);
        if (!np) {
            w->oom = 1;
            return NULL;
        }
        w->p = np;
        w->cap = nc;
    }
    return w->p + w->len;
}

void jw_append(jw *w, const char *s, size_t n)
{
    if (!jw_reserve(w, n))
        return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void sep(jw *w)
{
    if (w->comma)
        jw_append(w, ",", 1);
    w->comma = 1;
}

void jw_begin_obj(jw *w)
{
    sep(w);
    jw_append(w, "{", 1);
    w->comma = 0;
}

void jw_end_obj(jw *w)
{
    jw_append(w, "}", 1);
    w->comma = 1;
}

void jw_begin_arr(jw *w)
{
    sep(w);
    jw_append(w, "[", 1);
    w->comma = 0;
}

void jw_end_arr(jw *w)
{
    jw_append(w, "]", 1);
    w->comma = 1;
}

static void put_string(jw *w, const char *s, size_t n)
{
    jw_append(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        jw_append(w, s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"': jw_append(w, "\\\"", 2); break;
        case '\\': jw_append(w, "\\\\", 2); break;
        case '\n': jw_append(w, "\\n", 2); break;
        case '\r': jw_append(w, "\\r", 2); break;
        case '\t': jw_append(w, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            jw_append(w, esc, 6);
        }
    }
    jw_append(w, s + n - run, run);
    jw_append(w, "\"", 1);
}

void jw_key(jw *w, const char *k)
{
    sep(w);
    put_string(w, k, strlen(k));
    jw_append(w, ":", 1);
    w->comma = 0;
}

void jw_strn(jw *w, const char *s, size_t n)
{
    sep(w);
    put_string(w, s ? s : "", s ? n : 0);
}

void jw_str(jw *w, const char *s)
{
    jw_strn(w, s, s ? strlen(s) : 0);
}

void jw_num(jw *w, double n)
{
    char buf[64];
    if (!isfinite(n))
        n = 0;
    snprintf(buf, sizeof buf, "%.17g", n);
    sep(w);
    jw_append(w, buf, strlen(buf));
}

void jw_int(jw *w, long long n)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", n);
    sep(w);
    jw_append(w, buf, strlen(buf));
}

void jw_bool(jw *w, int b)
{
    sep(w);
    jw_append(w, b ? "true" : "false", b ? 4 : 5);
}

void jw_null(jw *w)
{
    sep(w);
    jw_append(w, "null", 4);
}

void jw_raw(jw *w, const char *json)
{
    sep(w);
    jw_append(w, json, strlen(json));
}

char *jw_take(jw *w)
{
    char *p = w->oom ? NULL : w->p;
    if (w->oom)
        free(w->p);
    if (p == NULL && !w->oom)
        p = strdup("");
    memset(w, 0, sizeof *w);
    return p;
}

void jw_reset(jw *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}
