/*
 * http_sse.c — Server-Sent Events for the dashboard: one tail thread per
 * server and one suspended MHD connection per idle stream.
 *
 * The tail thread is the only reader of the events table for streaming. It
 * sleeps in poll() on a doorbell (an eventfd) rung by the process-wide bus (an
 * event was appended in this process) and on inotify of the DB file and its
 * WAL (another process wrote), and wakes every 50 ms anyway; each wake compares
 * PRAGMA data_version (another process committed). It reads new rows in id order and publishes each into
 * the server's own bus, whose subscribers are the streams. A stream's wake
 * callback resumes its connection; the content reader drains the ring and
 * suspends again when it is empty. Streams replay missed events from the store
 * with a per-thread read connection, and a lagged stream re-reads the store
 * instead of queueing more. Owns no Lua state and never writes to the store
 * (the server's one writer is the sweeper, http_sweep.c, started here).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include "gs_vocab.h"
#include "http_internal.h"

#define SSE_RING 64             /* events queued per stream before it lags */
#define SSE_REPLAY_BATCH 500
#define SSE_OUT_HIGH (64 * 1024) /* stop framing once this much is waiting */
#define TAIL_POLL_MS 50
#define TAIL_RECHECK_MS 1       /* after a file change that data_version did not show yet */
#define TAIL_RECHECKS 5
#define KEEPALIVE_S 15.0
#define SSE_CACHE_KB 256       /* page cache of the tail's and the replay connections */

/* ---- per-thread read connections (replay) -------------------------------- */

struct tl_db {
    char *path;
    gs_db *db;
};

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_free(void *p)
{
    struct tl_db *t = p;
    gs_store_close(t->db);
    free(t->path);
    free(t);
}

static void tl_init(void)
{
    (void)pthread_key_create(&tl_key, tl_free);
}

/* This thread's read connection to path, opened on first use. */
static gs_db *thread_db(const char *path, char *err, size_t errlen)
{
    pthread_once(&tl_once, tl_init);
    struct tl_db *t = pthread_getspecific(tl_key);
    if (t && strcmp(t->path, path) == 0)
        return t->db;
    if (t) {
        pthread_setspecific(tl_key, NULL);
        tl_free(t);
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        snprintf(err, errlen, "sse: out of memory");
        return NULL;
    }
    t->db = gs_store_open(path, err, errlen);
    if (t->db && gs_store_cache_kb(t->db, SSE_CACHE_KB, err, errlen)) {
        gs_store_close(t->db);
        t->db = NULL;
    }
    if (!t->db) {
        free(t->path);
        free(t);
        return NULL;
    }
    pthread_setspecific(tl_key, t);
    return t->db;
}

/* ---- the tail thread ------------------------------------------------------ */

static void tail_kick(void *ud)
{
    gs_http_server *s = ud;
    pthread_mutex_lock(&s->tail_mu);
    s->tail_kick = 1;
    pthread_mutex_unlock(&s->tail_mu);
    uint64_t one = 1;
    (void)!write(s->tail_efd, &one, sizeof one); /* coalesces; never blocks (EFD_NONBLOCK) */
}

/* Waits up to ms for the doorbell or a change to the DB files; returns 1 when
   the files changed. Both fds are drained: wake-ups coalesce. */
static int tail_wait(gs_http_server *s, int ms)
{
    struct pollfd p[2] = {{s->tail_efd, POLLIN, 0}, {s->tail_ifd, POLLIN, 0}};
    int nfds = s->tail_ifd >= 0 ? 2 : 1, files = 0;
    if (poll(p, (nfds_t)nfds, ms) <= 0)
        return 0;
    if (p[0].revents & POLLIN) {
        uint64_t v;
        (void)!read(s->tail_efd, &v, sizeof v);
    }
    if (nfds == 2 && (p[1].revents & POLLIN)) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(s->tail_ifd, buf, sizeof buf) > 0)
            ;
        files = 1;
    }
    return files;
}

struct tail_ctx {
    gs_http_server *s;
    int64_t last;
    gs_http_buf frame; /* reused for each event's frame */
};

/* Publishes one stored event to the streams, framed for the wire once here:
   the server's bus carries the SSE frame as the event's data, and each stream
   writes those shared bytes (reference-counted with the event) to its socket. */
static int tail_publish(void *ud, int64_t id, int64_t run_id, const char *type, const char *created_at,
                        const char *data, const char *html)
{
    (void)created_at;
    struct tail_ctx *t = ud;
    gs_http_buf *f = &t->frame;
    f->len = f->off = 0;
    if (gs_http_sse_frame(f, id, type, data, html) == 0)
        gs_bus_publish(t->s->bus, type, run_id, id, f->p, f->len, NULL, 0);
    else
        fprintf(stderr, "grok-spicy http: tail: out of memory framing event %lld\n", (long long)id);
    if (f->cap > 256 * 1024)
        gs_http_buf_free(f); /* a rare huge fragment: not kept for ever */
    t->last = id;
    atomic_fetch_add(&t->s->tail_events, 1);
    return 0;
}

static double now_s(void)
{
    return gs_store_monotonic();
}

static void *tail_main(void *arg)
{
    gs_http_server *s = arg;
    char err[GS_STORE_ERRLEN];
    struct tail_ctx t = {s, s->tail_from, {0}};
    int64_t dv = s->tail_dv, ndv = 0;
    double next_ka = now_s() + KEEPALIVE_S;
    int rechecks = 0;
    while (!atomic_load(&s->stopping)) {
        /* A commit's last WAL write lands just before its wal-index update makes
           it visible: when the files changed but data_version did not, look again
           shortly instead of waiting for the next poll. */
        int files = tail_wait(s, rechecks ? TAIL_RECHECK_MS : TAIL_POLL_MS);
        pthread_mutex_lock(&s->tail_mu);
        int kicked = s->tail_kick;
        s->tail_kick = 0;
        pthread_mutex_unlock(&s->tail_mu);
        if (atomic_load(&s->stopping))
            break;
        /* The default bus is only a doorbell: drain it so its wake re-arms. */
        if (kicked && s->default_sub) {
            gs_event *ev;
            int rc;
            while ((rc = gs_bus_sub_try_next(s->default_sub, &ev)) != GS_BUS_EMPTY && rc != GS_BUS_CLOSED)
                if (rc == GS_BUS_EVENT)
                    gs_event_release(ev);
        }
        int changed = kicked, dv_changed = 0;
        if (gs_store_data_version(s->tail_db, &ndv, err, sizeof err) == 0 && ndv != dv) {
            dv = ndv;
            changed = dv_changed = 1;
        }
        if (dv_changed)
            rechecks = 0;
        else if (files)
            rechecks = TAIL_RECHECKS;
        else if (rechecks)
            rechecks--;
        if (changed) {
            int n;
            do {
                n = gs_store_events_since(s->tail_db, 0, t.last, SSE_REPLAY_BATCH, tail_publish, &t, err,
                                          sizeof err);
                if (n < 0)
                    fprintf(stderr, "grok-spicy http: tail: %s\n", err);
            } while (n == SSE_REPLAY_BATCH && !atomic_load(&s->stopping));
        }
        double now = now_s();
        if (now >= next_ka) {
            gs_bus_publish(s->bus, "", 0, 0, NULL, 0, NULL, 0); /* keep-alive tick */
            next_ka = now + KEEPALIVE_S;
        }
    }
    gs_http_buf_free(&t.frame);
    return NULL;
}

int gs_sse_start(gs_http_server *s, char *err, size_t errlen)
{
    char e[GS_STORE_ERRLEN];
    s->bus = gs_bus_new();
    if (!s->bus) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    s->tail_db = gs_store_open(s->db_path, e, sizeof e);
    if (s->tail_db && gs_store_cache_kb(s->tail_db, SSE_CACHE_KB, e, sizeof e)) {
        gs_store_close(s->tail_db);
        s->tail_db = NULL;
    }
    if (!s->tail_db) {
        snprintf(err, errlen, "http.serve: %s", e);
        return -1;
    }
    s->tail_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->tail_efd < 0) {
        snprintf(err, errlen, "http.serve: eventfd: %s", strerror(errno));
        return -1;
    }
    /* Optional: without inotify another process's writes are seen at the next poll. */
    s->tail_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->tail_ifd >= 0) {
        size_t n = strlen(s->db_path) + 5;
        char *wal = malloc(n);
        int watches = inotify_add_watch(s->tail_ifd, s->db_path, IN_MODIFY) >= 0;
        if (wal) {
            snprintf(wal, n, "%s-wal", s->db_path);
            watches += inotify_add_watch(s->tail_ifd, wal, IN_MODIFY) >= 0;
            free(wal);
        }
        if (!watches) {
            close(s->tail_ifd);
            s->tail_ifd = -1;
        }
    }
    /* Where the tail starts is read here, not in the thread: an event committed
     * once serve() has returned is always published, however late the thread
     * first runs (a loaded machine once ran it after a stream's first event,
     * which that stream then never got). */
    if (gs_store_max_event_id(s->tail_db, 0, &s->tail_from, e, sizeof e) ||
        gs_store_data_version(s->tail_db, &s->tail_dv, e, sizeof e)) {
        snprintf(err, errlen, "http.serve: %s", e);
        return -1;
    }
    s->default_sub = gs_bus_subscribe(gs_bus_default(), 16, tail_kick, s);
    if (pthread_create(&s->tail, NULL, tail_main, s) != 0) {
        snprintf(err, errlen, "http.serve: cannot start the tail thread");
        return -1;
    }
    s->tail_started = 1;
    /* A run whose process died turns interrupted on open pages too: the
       sweeper's write is another connection's commit, which the tail reads. */
    return gs_sweep_start(s, err, errlen);
}

void gs_sse_shutdown(gs_http_server *s)
{
    gs_sweep_stop(s);
    atomic_store(&s->stopping, 1);
    if (s->tail_started) {
        uint64_t one = 1;
        (void)!write(s->tail_efd, &one, sizeof one);
        pthread_join(s->tail, NULL);
        s->tail_started = 0;
    }
    gs_bus_unsubscribe(s->default_sub);
    s->default_sub = NULL;
    if (s->bus)
        gs_bus_close(s->bus); /* rings every stream: parked ones are resumed and end */
}

void gs_sse_free(gs_http_server *s)
{
    gs_bus_release(s->bus);
    s->bus = NULL;
    gs_store_close(s->tail_db);
    s->tail_db = NULL;
    if (s->tail_efd >= 0)
        close(s->tail_efd);
    if (s->tail_ifd >= 0)
        close(s->tail_ifd);
    s->tail_efd = s->tail_ifd = -1;
}

/* ---- streams ---------------------------------------------------------------- */

struct sse {
    gs_http_server *srv;
    struct MHD_Connection *c;
    gs_bus_sub *sub;
    pthread_mutex_t mu;
    int parked, kick;   /* under mu: suspended by us / woken while running */
    int64_t run_id;     /* 0 = every run */
    int64_t last;       /* the last event id sent */
    int replay;         /* read the store before the ring */
    int ended;          /* nothing more after out */
    int close_after;    /* cur is the run's terminal event: the stream ends after it */
    gs_http_buf out;    /* this stream's own bytes: retry hint, replayed events, keep-alives */
    gs_event *cur;      /* a live event being written: its data is the shared frame */
    size_t cur_off;
};

static void sse_wake(void *ud)
{
    struct sse *s = ud;
    pthread_mutex_lock(&s->mu);
    if (s->parked) {
        s->parked = 0;
        atomic_fetch_sub(&s->srv->streams_parked, 1);
        MHD_resume_connection(s->c);
    } else {
        s->kick = 1;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Whether this stream sends the event: not one already sent, nor another
   run's, nor the run list's row on a run's stream (its page has no use for it;
   it counts as seen). */
static int sse_wants(struct sse *s, int64_t id, int64_t run_id, const char *type)
{
    if (id <= s->last || (s->run_id && run_id != s->run_id))
        return 0;
    if (s->run_id && gs_event_list_only(type)) {
        s->last = id;
        return 0;
    }
    return 1;
}

static int sse_close(struct sse *s)
{
    s->ended = 1;
    return gs_http_buf_add(&s->out, "event: close\ndata: done\n\n", 25);
}

/* Frames one stored event into the stream's own buffer (a replay); ends
   per-run streams on a terminal type. */
static int sse_emit(struct sse *s, int64_t id, int64_t run_id, const char *type, const char *data,
                    const char *html)
{
    if (!sse_wants(s, id, run_id, type))
        return 0;
    if (gs_http_sse_frame(&s->out, id, type, data, html))
        return -1;
    s->last = id;
    atomic_fetch_add(&s->srv->events_sent, 1);
    if (s->run_id && gs_http_sse_terminal(type) && sse_close(s))
        return -1;
    return 0;
}

static int replay_row(void *ud, int64_t id, int64_t run_id, const char *type, const char *created_at,
                      const char *data, const char *html)
{
    (void)created_at;
    struct sse *s = ud;
    if (sse_emit(s, id, run_id, type, data, html))
        return -1;
    return s->ended || s->out.len >= SSE_OUT_HIGH;
}

/*
 * Adds output to s->out. Returns 1 when it produced output or ended, 0 when
 * the ring was observed empty (the wake is re-armed; parking is safe), -1 on
 * error.
 */
static int sse_fill(struct sse *s)
{
    for (;;) {
        if (s->replay) {
            char err[GS_STORE_ERRLEN];
            gs_db *db = thread_db(s->srv->db_path, err, sizeof err);
            if (!db) {
                fprintf(stderr, "grok-spicy http: sse: %s\n", err);
                return -1;
            }
            size_t before = s->out.len;
            int n = gs_store_events_since(db, s->run_id, s->last, SSE_REPLAY_BATCH, replay_row, s, err,
                                          sizeof err);
            if (n < 0) {
                fprintf(stderr, "grok-spicy http: sse: %s\n", err);
                return -1;
            }
            if (n < SSE_REPLAY_BATCH && !s->ended && s->out.len < SSE_OUT_HIGH)
                s->replay = 0; /* caught up with the store */
            if (s->ended || s->out.len > before)
                return 1;
            continue;
        }
        int ka = 0;
        for (;;) {
            gs_event *ev;
            int rc = gs_bus_sub_try_next(s->sub, &ev);
            if (rc == GS_BUS_EVENT) {
                int r = 0;
                if (ev->id == 0) {
                    if (!ka && s->out.len == s->out.off)
                        r = gs_http_buf_add(&s->out, ": keep-alive\n\n", 14);
                    ka = 1;
                } else if (sse_wants(s, ev->id, ev->run_id, ev->type)) {
                    /* A live event: its frame is written as it is, after what
                       this stream has of its own. */
                    s->last = ev->id;
                    atomic_fetch_add(&s->srv->events_sent, 1);
                    s->close_after = s->run_id && gs_http_sse_terminal(ev->type);
                    s->cur = ev;
                    s->cur_off = 0;
                    return 1;
                }
                gs_event_release(ev);
                if (r)
                    return -1;
                if (s->ended || s->out.len >= SSE_OUT_HIGH)
                    return 1;
            } else if (rc == GS_BUS_LAGGED) {
                atomic_fetch_add(&s->srv->resyncs, 1);
                s->replay = 1;
                break;
            } else if (rc == GS_BUS_CLOSED) {
                s->ended = 1;
                return 1;
            } else if (rc == GS_BUS_EMPTY) {
                return s->out.len > s->out.off ? 1 : 0;
            } else {
                return -1;
            }
        }
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse *s = cls;
    for (;;) {
        size_t avail = s->out.len - s->out.off;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, s->out.p + s->out.off, n);
            s->out.off += n;
            if (s->out.off == s->out.len)
                s->out.off = s->out.len = 0;
            return (ssize_t)n;
        }
        if (s->cur) {
            size_t left = s->cur->data_len - s->cur_off;
            if (left) {
                size_t n = left < max ? left : max;
                memcpy(buf, s->cur->data + s->cur_off, n);
                s->cur_off += n;
                return (ssize_t)n;
            }
            gs_event_release(s->cur);
            s->cur = NULL;
            if (s->close_after && sse_close(s))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (s->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        int r = sse_fill(s);
        if (r < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (r > 0)
            continue;
        /* Observed empty: park unless a wake slipped in since. */
        pthread_mutex_lock(&s->mu);
        if (s->kick) {
            s->kick = 0;
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        s->parked = 1;
        atomic_fetch_add(&s->srv->streams_parked, 1);
        MHD_suspend_connection(s->c); /* under mu: a wake resumes only after this */
        pthread_mutex_unlock(&s->mu);
        if (s->out.cap > 4096) { /* idle streams keep no big buffer */
            gs_http_buf_free(&s->out);
        }
        return 0;
    }
}

static void sse_free(void *cls)
{
    struct sse *s = cls;
    gs_bus_unsubscribe(s->sub); /* waits for a wake in flight; none after this */
    if (s->parked)
        atomic_fetch_sub(&s->srv->streams_parked, 1);
    atomic_fetch_sub(&s->srv->streams_open, 1);
    pthread_mutex_destroy(&s->mu);
    gs_http_buf_free(&s->out);
    gs_event_release(s->cur);
    free(s);
}

enum MHD_Result gs_sse_serve(gs_http_server *srv, struct MHD_Connection *c, int64_t run_id,
                             int64_t after_id, int has_after, const char *cookie)
{
    struct sse *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->srv = srv;
    s->c = c;
    s->run_id = run_id;
    pthread_mutex_init(&s->mu, NULL);
    /* Subscribe first, then replay: an event committed meanwhile is either in
     * the store read or in the ring (or both; ids dedupe). */
    s->sub = gs_bus_subscribe(srv->bus, SSE_RING, sse_wake, s);
    if (!s->sub) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        static const char msg[] = "server stopping\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg,
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        gs_http_secure_headers(r);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (has_after) {
        s->last = after_id;
        s->replay = 1;
    } else if (run_id) {
        /* Not the run's whole history (its pages pass ?after=): its latest event,
         * sent again so that a finished run's stream still ends at once. */
        char err[GS_STORE_ERRLEN];
        gs_db *db = thread_db(srv->db_path, err, sizeof err);
        int64_t latest = 0;
        if (db && gs_store_max_event_id(db, run_id, &latest, err, sizeof err) == 0) {
            s->last = latest > 0 ? latest - 1 : 0;
            s->replay = 1;
        }
    } else {
        /* The every-run stream starts now; the tail may lag the store by a poll. */
        char err[GS_STORE_ERRLEN];
        gs_db *db = thread_db(srv->db_path, err, sizeof err);
        if (db && gs_store_max_event_id(db, 0, &s->last, err, sizeof err) == 0)
            s->replay = 1;
    }
    atomic_fetch_add(&srv->streams_open, 1);
    gs_http_buf_add(&s->out, "retry: 3000\n\n", 13);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    gs_http_secure_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
