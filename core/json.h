/*
 * json.h — a small JSON reader (a DOM of jv values) and writer (jw) in plain C,
 * for the xAI provider's wire format and its test fake, and the buffer under
 * grokspicy.sorted_json: the one JSON writer in C. Owns no I/O and no
 * Lua; provider code on worker threads uses it where cjson (Lua) cannot run.
 */
#ifndef GS_JSON_H
#define GS_JSON_H

#include <stddef.h>

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
    jv_type t;
    int b;
    double n;
    char *s;                    /* JV_STR: NUL-terminated; an escaped NUL (\u0000) inside
                                   makes strlen(s) < len */
    struct jv *items;           /* JV_ARR, JV_OBJ */
    char **keys;                /* JV_OBJ: keys[i] names items[i] */
    size_t len;                 /* JV_STR: bytes of s; JV_ARR, JV_OBJ: items */
} jv;

/* Parses text (len bytes). NULL with err on a syntax error or OOM. */
jv *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(jv *v);

/* Member of an object (NULL when v is not an object or has no such key). */
const jv *json_get(const jv *v, const char *key);
/* Dotted path: "choices.0.message.content". */
const jv *json_path(const jv *v, const char *path);
/* Typed reads through a path; the default when absent or of another type. */
const char *json_str(const jv *v, const char *path, const char *dflt);
double json_num(const jv *v, const char *path, double dflt);

/* ---- writer ---- */

typedef struct jw {
    char *p;
    size_t len, cap;
    int oom;
    int comma;                  /* a value was written at this level */
} jw;

void jw_begin_obj(jw *w);
void jw_end_obj(jw *w);
void jw_begin_arr(jw *w);
void jw_end_arr(jw *w);
void jw_key(jw *w, const char *k);
void jw_str(jw *w, const char *s);
void jw_strn(jw *w, const char *s, size_t n);
void jw_num(jw *w, double n);
void jw_int(jw *w, long long n);
void jw_bool(jw *w, int b);
void jw_null(jw *w);
/* Raw JSON text as one value (e.g. a schema kept as a string). */
void jw_raw(jw *w, const char *json);
/* Appends raw bytes with no separator handling (for data URLs built piecewise). */
void jw_append(jw *w, const char *s, size_t n);
/* Room for n more bytes (and a NUL) at p + len, for a caller writing in place:
   it writes there, adds what it wrote to len and ends the text with a NUL.
   NULL after OOM. */
char *jw_reserve(jw *w, size_t n);
/* The text (NUL-terminated), ownership to the caller; NULL after OOM. */
char *jw_take(jw *w);
void jw_reset(jw *w);

#endif
