/*
 * http_parts.h — shared by http.c (routing, daemon), http_files.c, http_app.c,
 * http_lua.c and http_admit.c only; not installed. A request's state, a worker's Lua state,
 * and the helpers one part lends another. Short names are macros for gs_hp_*
 * symbols.
 */
#ifndef GS_HTTP_PARTS_H
#define GS_HTTP_PARTS_H

#include <time.h>
#include <lua.h>
#include <microhttpd.h>
#include "gs_internal.h"
#include "http_internal.h"

/* A worker's Lua state, handed out by pool_take (http_app.c). */
struct lstate {
    lua_State *L;
    int handle_ref;     /* registry ref of app.handle */
    int busy;
};

/* One request, from its first callback to on_completed (http.c). */
struct req {
    double t0;
    unsigned status;
    int too_big;
    size_t max_body;    /* body_limit's answer: GS_HTTP_MAX_BODY, or GS_HTTP_MAX_RUN_BODY for a new run */
    gs_http_buf body;
    char line[200];     /* "METHOD /path" for the log */
};

#define body_limit gs_hp_body_limit
#define check_token gs_hp_check_token
#define is_database gs_hp_is_database
#define lua_new_state gs_hp_lua_new_state
#define queue gs_hp_queue
#define send_error gs_hp_send_error
#define serve_file gs_hp_serve_file
#define serve_lua gs_hp_serve_lua
#define serve_static gs_hp_serve_static
#define text_response gs_hp_text_response

int lua_new_state(gs_http_server *s, struct lstate *ls, char *err, size_t errlen);
enum MHD_Result queue(struct req *rq, struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
enum MHD_Result send_error(struct req *rq, struct MHD_Connection *c, unsigned status, const char *path,
                           const char *msg, const char *allow);
enum MHD_Result serve_file(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *path,
                           const char *rel, const char *cookie);
enum MHD_Result serve_lua(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *method,
                          const char *path, const char *raw, const char *cookie);
enum MHD_Result serve_static(struct MHD_Connection *c, struct req *rq, const char *path, const char *name,
                             const char *cookie);
struct MHD_Response *text_response(const char *ctype, const char *body);
struct stat;
/* 1 when st is the server's database or one of its -wal, -shm, -journal files (http_files.c). */
int is_database(gs_http_server *s, const struct stat *st);
/* A zip streamed from a run's folder (http_bundle.c): the app answered {zip = {...}}.
 * gs_bundle_from_lua reads it while the Lua state is held (NULL: *status and err
 * say why); gs_bundle_response makes the streamed response, which owns b. */
struct gs_bundle;
struct gs_bundle *gs_bundle_from_lua(gs_http_server *s, lua_State *L, int idx, unsigned *status, char *err,
                                     size_t errlen);
struct MHD_Response *gs_bundle_response(struct gs_bundle *b, char *err, size_t errlen);
/* 1 if the request carries the token (or the server has none); *set_cookie is 1
 * when it came as ?token= (http.c). */
int check_token(gs_http_server *s, struct MHD_Connection *c, int *set_cookie);
/* The most a request's body may be, from its headers alone (http_admit.c);
 * *refuse is 401 or 403 (why says which) when POST /api/runs comes without the
 * token or from another origin, else 0. */
size_t body_limit(gs_http_server *s, struct MHD_Connection *c, const char *method, const char *url,
                  unsigned *refuse, const char **why);

#endif
