/*
 * http_internal.h — the server object shared by http.c (daemon, routes, Lua
 * states), http_sse.c (tail thread, SSE streams) and http_sweep.c (the
 * sweeper). Not installed.
 */
#ifndef GS_HTTP_INTERNAL_H
#define GS_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <microhttpd.h>
#include "gs_bus.h"
#include "gs_http.h"
#include "gs_store.h"

struct lstate;

struct gs_http_server {
    /* configuration (owned copies) */
    char *host, *app, *output_dir, *output_real, *db_path, *token, *url;
    char *flow_script; /* handed to app.init as flow_script (resume); NULL: none */
    char *bind_addr;   /* host resolved to a numeric address */
    char *cookie;      /* the Set-Cookie value for the token (percent-encoded); NULL without a token */
    char **host_names; /* Host values accepted without a token (with the port) */
    int n_host_names;
    int port, threads, log, timeout_s, max_connections;

    /* the database as opened at start: /output never serves it */
    int db_known;
    dev_t db_dev;
    ino_t db_ino;

    struct MHD_Daemon *daemon;

    /* Lua states: one per worker thread, handed out under pool_mu */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct lstate *states;
    int nstates;

    /* SSE: the tail thread reads the store and publishes into bus */
    gs_bus *bus;
    gs_bus_sub *default_sub;    /* on gs_bus_default(): rings the tail's doorbell */
    gs_db *tail_db;
    pthread_t tail;
    int tail_started;
    int64_t tail_from, tail_dv; /* the store's last event id and data_version when serving began */
    pthread_mutex_t tail_mu;    /* guards tail_kick */
    int tail_kick;
    int tail_efd;               /* the tail's doorbell (eventfd), -1 before gs_sse_start */
    int tail_ifd;               /* inotify on the DB and its WAL, -1 when unavailable */
    atomic_int stopping;
    struct gs_sweeper *sweeper; /* http_sweep.c: marks dead runs interrupted; NULL when not running */

    /* stop / wait */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopped;

    /* stats */
    atomic_uint_fast64_t requests, streams_open, streams_parked, events_sent, resyncs, tail_events;
};

/* http.c: the headers every answer carries (CSP, framing, nosniff, referrer). */
void gs_http_secure_headers(struct MHD_Response *r);

/* http_sse.c */
int gs_sse_start(gs_http_server *s, char *err, size_t errlen);
/* Stops the tail thread, then closes the bus: every parked stream is resumed and ends. */
void gs_sse_shutdown(gs_http_server *s);
/* After MHD_stop_daemon: frees the bus and the tail's connection. */
void gs_sse_free(gs_http_server *s);
/* http_sweep.c: the thread that marks runs whose process died interrupted,
   every few seconds; stop joins it (a no-op when it is not running). */
int gs_sweep_start(gs_http_server *s, char *err, size_t errlen);
void gs_sweep_stop(gs_http_server *s);
/* Queues the SSE response for /sse (run_id 0) or /sse/{run_id}. */
enum MHD_Result gs_sse_serve(gs_http_server *s, struct MHD_Connection *c, int64_t run_id,
                             int64_t after_id, int has_after, const char *cookie);

#endif
