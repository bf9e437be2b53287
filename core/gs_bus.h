/*
 * gs_bus.h — the in-process event bus: publish from any thread, bounded
 * per-subscriber rings, a doorbell (wake callback or condition variable).
 *
 * The bus only wakes streams; SQLite's events table is the source of truth.
 * A subscriber that falls behind is never waited for: when its ring is full
 * its queued events are released and it is marked lagged ("choked" in mpv's
 * terms). It then sees GS_BUS_LAGGED once and must re-sync from the store
 * (events with id > the last one it sent); after that delivery resumes.
 */
#ifndef GS_BUS_H
#define GS_BUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes of gs_bus_sub_next / gs_bus_sub_try_next / gs_bus_publish. */
#define GS_BUS_EVENT 1      /* *out holds an event; release it */
#define GS_BUS_EMPTY 0      /* timeout, or nothing queued (try_next) */
#define GS_BUS_LAGGED (-1)  /* overflowed: events were dropped; re-sync from the store */
#define GS_BUS_CLOSED (-2)  /* the bus was closed and this subscriber is drained */
#define GS_BUS_ERROR (-3)   /* invalid argument or out of memory (errno is set) */

#define GS_BUS_DEFAULT_CAPACITY 256
#define GS_BUS_MAX_CAPACITY (1u << 20)

/*
 * An event: immutable once published and shared by every subscriber. The
 * strings live in the same allocation and are NUL-terminated; data and html
 * are NULL when absent. The reference count is private.
 */
typedef struct gs_event {
    const char *type;
    size_t type_len;
    int64_t run_id;
    int64_t id;             /* the store's events row id, 0 if none */
    const char *data;       /* JSON text or NULL */
    size_t data_len;
    const char *html;       /* an HTML fragment or NULL */
    size_t html_len;
} gs_event;

typedef struct gs_bus gs_bus;
typedef struct gs_bus_sub gs_bus_sub;

typedef struct gs_bus_stats {
    uint64_t published;     /* events accepted by gs_bus_publish */
    uint64_t dropped;       /* events dropped by lagging subscribers, over the bus's life */
    uint64_t lags;          /* times a subscriber overflowed */
    size_t subscribers;     /* current subscriber count */
} gs_bus_stats;

/* Events. gs_event_new copies the strings into one allocation (refcount 1). */
gs_event *gs_event_new(const char *type, int64_t run_id, int64_t id,
                       const char *data, size_t data_len, const char *html, size_t html_len);
gs_event *gs_event_retain(gs_event *ev);
void gs_event_release(gs_event *ev);    /* NULL is fine */

/* A new bus with one reference. NULL when out of memory. */
gs_bus *gs_bus_new(void);

/*
 * The process-wide bus, created on first use (pthread_once). It is never
 * freed: it lives until the process exits, so a caller never needs to retain
 * or release it (doing so is harmless). Do not gs_bus_close it unless the
 * process is shutting down.
 */
gs_bus *gs_bus_default(void);

gs_bus *gs_bus_retain(gs_bus *bus);
void gs_bus_release(gs_bus *bus);       /* each subscriber also holds a reference */

/*
 * Publishes one event to every current subscriber; callable from any thread.
 * Never blocks on a subscriber: the bus lock is held only to push pointers.
 * type must be a NUL-terminated string; data/html may be NULL.
 * Wake callbacks run on the publishing thread, after the lock is released.
 * Returns the number of subscribers the event was queued for (>= 0),
 * GS_BUS_CLOSED, or GS_BUS_ERROR.
 */
int gs_bus_publish(gs_bus *bus, const char *type, int64_t run_id, int64_t id,
                   const char *data, size_t data_len, const char *html, size_t html_len);
/* Same with a prebuilt event; the caller keeps its own reference. */
int gs_bus_publish_event(gs_bus *bus, gs_event *ev);

/*
 * Subscribes with a ring of capacity events (0 = GS_BUS_DEFAULT_CAPACITY,
 * at most GS_BUS_MAX_CAPACITY). NULL when the bus is closed or out of memory.
 *
 * wake (may be NULL) is a doorbell: it carries no data and wake-ups coalesce.
 * It is called once when the subscriber has something new to read (an event,
 * a lag or the close) and not again until the subscriber has observed an
 * empty ring (try_next/next returned GS_BUS_EMPTY), like an edge-triggered
 * eventfd. So after a wake, read until GS_BUS_EMPTY or GS_BUS_CLOSED.
 * It runs on a publisher's thread without the bus lock held; it must be
 * cheap and must not block: write to an eventfd or pipe, call
 * MHD_resume_connection. It may publish (that never deadlocks) and may
 * unsubscribe its own subscriber. Without wake, wait with gs_bus_sub_next.
 */
gs_bus_sub *gs_bus_subscribe(gs_bus *bus, size_t capacity, void (*wake)(void *ud), void *ud);

/*
 * Unsubscribes and frees the subscriber and the events still queued for it.
 * Safe while publishers run concurrently: when it returns, wake is never
 * called again (it waits for a wake call in progress on another thread).
 * NULL is fine. Not while another thread is inside gs_bus_sub_next on it.
 */
void gs_bus_unsubscribe(gs_bus_sub *sub);

/*
 * Takes the next event. timeout_s: 0 polls, < 0 waits forever, else waits at
 * most that long (CLOCK_MONOTONIC). Returns GS_BUS_EVENT with *out set (the
 * caller releases it), GS_BUS_EMPTY on timeout, GS_BUS_LAGGED once after an
 * overflow, GS_BUS_CLOSED once the bus is closed and the ring is drained.
 * One consumer thread per subscriber.
 */
int gs_bus_sub_next(gs_bus_sub *sub, gs_event **out, double timeout_s);
int gs_bus_sub_try_next(gs_bus_sub *sub, gs_event **out);   /* never blocks */

/* 1 while an overflow has not yet been reported by next/try_next, else 0. */
int gs_bus_sub_lagged(gs_bus_sub *sub);
uint64_t gs_bus_sub_dropped(gs_bus_sub *sub);    /* events this subscriber lost */
uint64_t gs_bus_sub_delivered(gs_bus_sub *sub);  /* events handed out by next */
size_t gs_bus_sub_pending(gs_bus_sub *sub);      /* events queued now */

size_t gs_bus_subscriber_count(gs_bus *bus);
void gs_bus_get_stats(gs_bus *bus, gs_bus_stats *st);

/*
 * Closes the bus: later publishes return GS_BUS_CLOSED and subscribe returns
 * NULL; every waiter wakes, every wake callback is rung, and each subscriber
 * gets its queued events then GS_BUS_CLOSED. Idempotent. Does not free.
 */
void gs_bus_close(gs_bus *bus);

/* The Lua module grokspicy.bus (preloaded by gs_openlibs). */
struct lua_State;
int luaopen_grokspicy_core_bus(struct lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
