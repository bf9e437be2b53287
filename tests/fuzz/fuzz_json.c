/*
 * fuzz_json.c — core/json.c, the provider's JSON reader and writer: parse hostile
 * text; what parses must write back (jw) to text that parses to the same tree,
 * and the path readers must not crash on whatever shape came back.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

static void write_val(jw *w, const jv *v)
{
    switch (v->t) {
    case JV_NULL: jw_null(w); break;
    case JV_BOOL: jw_bool(w, v->b); break;
    case JV_NUM: jw_num(w, v->n); break;
    case JV_STR: jw_str(w, v->s); break;
    case JV_ARR:
        jw_begin_arr(w);
        for (size_t i = 0; i < v->len; i++)
            write_val(w, &v->items[i]);
        jw_end_arr(w);
        break;
    case JV_OBJ:
        jw_begin_obj(w);
        for (size_t i = 0; i < v->len; i++) {
            jw_key(w, v->keys[i]);
            write_val(w, &v->items[i]);
        }
        jw_end_obj(w);
        break;
    }
}

static int same(const jv *a, const jv *b)
{
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case JV_NULL: return 1;
    case JV_BOOL: return !a->b == !b->b;
    case JV_NUM: return !isfinite(a->n) ? b->n == 0 : a->n == b->n;
    case JV_STR: return strcmp(a->s, b->s) == 0;
    case JV_ARR:
    case JV_OBJ:
        if (a->len != b->len)
            return 0;
        for (size_t i = 0; i < a->len; i++)
            if ((a->t == JV_OBJ && strcmp(a->keys[i], b->keys[i]) != 0) || !same(&a->items[i], &b->items[i]))
                return 0;
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    jv *v = json_parse((const char *)data, size, err, sizeof err);
    if (!v) {
        if (!memchr(err, '\0', sizeof err) || strncmp(err, "json: ", 6) != 0)
            abort();
        return 0;
    }
    /* The provider's own reads, and a few shapes the input may or may not have. */
    static const char *const paths[] = {"choices.0.message.content", "data.0.url", "error.message", "0", "0.0",
                                        "a.b.c", "", ".", "..", "4294967296", "18446744073709551616.x"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        (void)json_str(v, paths[i], NULL);
        (void)json_num(v, paths[i], 0);
    }
    if (v->t == JV_OBJ)
        for (size_t i = 0; i < v->len; i++)
            if (json_get(v, v->keys[i]) == NULL)
                abort(); /* every key finds a member */
    jw w = {0};
    write_val(&w, v);
    char *text = jw_take(&w);
    if (!text)
        abort();
    jv *again = json_parse(text, strlen(text), err, sizeof err);
    if (!again || !same(v, again)) {
        fprintf(stderr, "fuzz_json: round trip changed the tree: %s (%s)\n", text, again ? "differs" : err);
        abort();
    }
    json_free(again);
    free(text);
    json_free(v);
    return 0;
}
