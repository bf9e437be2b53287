/*
 * http_sweep.c — the server's sweeper: the one place a running server writes
 * on its own. Every SWEEP_S (and once at start) it asks the store to mark the
 * runs whose process died interrupted (gs_store_mark_interrupted, the store's
 * single test of a run's death), so open pages hear of it through their stream.
 * Pages, the JSON API and the SSE tail only read; a write a request asks for
 * (cancel, resume) lets the store decide about dead runs inside that write.
 *
 * Its own thread and connection: a sweep that waits on another process's
 * lock never holds up the tail or a request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "http_internal.h"

#define SWEEP_S 5
#define SWEEP_BUSY_MS 1000 /* a sweep gives way soon to a writer: the next one comes in SWEEP_S */

struct gs_sweeper {
    gs_db *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC: signalled at stop */
    int stop;          /* under mu */
};

static void *sweep_main(void *arg)
{
    struct gs_sweeper *w = arg;
    char err[GS_STORE_ERRLEN];
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        if (gs_store_mark_interrupted(w->db, 0, err, sizeof err) < 0)
            fprintf(stderr, "grok-spicy http: sweep: %s\n", err);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += SWEEP_S;
        pthread_mutex_lock(&w->mu);
        while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int gs_sweep_start(gs_http_server *s, char *err, size_t errlen)
{
    char e[GS_STORE_ERRLEN];
    struct gs_sweeper *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    w->db = gs_store_open(s->db_path, e, sizeof e);
    if (!w->db) {
        snprintf(err, errlen, "http.serve: %s", e);
        free(w);
        return -1;
    }
    sqlite3_busy_timeout(gs_store_handle(w->db), SWEEP_BUSY_MS);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (pthread_create(&w->thread, NULL, sweep_main, w) != 0) {
        snprintf(err, errlen, "http.serve: cannot start the sweeper thread");
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        gs_store_close(w->db);
        free(w);
        return -1;
    }
    s->sweeper = w;
    return 0;
}

void gs_sweep_stop(gs_http_server *s)
{
    struct gs_sweeper *w = s->sweeper;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    gs_store_close(w->db);
    free(w);
    s->sweeper = NULL;
}
