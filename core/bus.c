/*
 * bus.c — grokspicy.bus: the in-process event bus and its Lua binding.
 *
 * Owns events (immutable, refcounted, one allocation each), buses, the
 * bounded ring of each subscriber, the process-wide default bus and the
 * doorbells that wake consumers. Never touches SQLite (the store is the
 * source of truth; a lagged subscriber re-syncs from it), HTTP, or any Lua
 * state but the caller's: C threads only ever see plain C data.
 *
 * Locking: one mutex per bus guards the subscriber list and every ring; it
 * is held only to push or pop pointers, never across a callback. Wake
 * callbacks run after the lock is released; a subscriber is "pinned" while a
 * publisher holds it for a wake call, and unsubscribe waits for the pins to
 * drain, so after it returns the callback is never called again (the same
 * idea as mpv's client wakeup + Redis bio.c's handshake on a condition).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "grokspicy.h"
#include "gs_internal.h"
#include "gs_util.h"

/* ---------------------------------------------------------------- events */

struct ev_impl {
    gs_event pub;               /* first: a gs_event * is a struct ev_impl * */
    atomic_uint refs;
    char buf[];                 /* type, data and html, each NUL-terminated */
};

/* Copies len bytes of src and a NUL at *p; returns the copy (NULL for NULL). */
static const char *put(char **p, const char *src, size_t len)
{
    if (!src)
        return NULL;
    char *dst = *p;
    memcpy(dst, src, len);
    dst[len] = '\0';
    *p += len + 1;
    return dst;
}

gs_event *gs_event_new(const char *type, int64_t run_id, int64_t id,
                       const char *data, size_t data_len, const char *html, size_t html_len)
{
    if (!type || data_len > SIZE_MAX / 4 || html_len > SIZE_MAX / 4) {
        errno = EINVAL;
        return NULL;
    }
    size_t tl = strlen(type);
    struct ev_impl *e = malloc(sizeof *e + tl + 1 + (data ? data_len + 1 : 0) + (html ? html_len + 1 : 0));
    if (!e)
        return NULL;
    char *p = e->buf;
    e->pub = (gs_event){
        .type = put(&p, type, tl), .type_len = tl, .run_id = run_id, .id = id,
        .data = put(&p, data, data_len), .data_len = data ? data_len : 0,
        .html = put(&p, html, html_len), .html_len = html ? html_len : 0,
    };
    atomic_init(&e->refs, 1);
    return &e->pub;
}

gs_event *gs_event_retain(gs_event *ev)
{
    if (ev)
        atomic_fetch_add_explicit(&((struct ev_impl *)ev)->refs, 1, memory_order_relaxed);
    return ev;
}

void gs_event_release(gs_event *ev)
{
    if (ev && atomic_fetch_sub_explicit(&((struct ev_impl *)ev)->refs, 1, memory_order_acq_rel) == 1)
        free(ev);
}

/* ------------------------------------------------------------ structures */

struct gs_bus_sub {
    gs_bus *bus;                /* holds a reference */
    gs_bus_sub *prev, *next;    /* in bus->subs while subscribed */
    gs_event **ring;
    size_t cap, head, count;
    pthread_cond_t cond;        /* consumers waiting in gs_bus_sub_next */
    void (*wake)(void *ud);     /* immutable after subscribe */
    void *ud;
    int nwaiters;
    int lag_pending;            /* overflowed, not yet reported: drop until then */
    int signalled;              /* doorbell rung, consumer has not seen EMPTY since */
    int orphan;                 /* unsubscribed from its own wake: last unpin frees */
    unsigned pins;              /* publishers holding it for a wake call */
    atomic_int dead;            /* unsubscribed (set under the lock, read outside) */
    uint64_t dropped, delivered;
};

struct gs_bus {
    pthread_mutex_t mu;
    pthread_cond_t unpinned;    /* signalled when a dead subscriber loses its last pin */
    gs_bus_sub *subs;
    size_t nsubs;
    atomic_size_t nsubs_hint;   /* lets a publish with no subscriber skip the lock */
    atomic_int closed;
    atomic_uint refs;
    atomic_uint_fast64_t published;
    uint64_t dropped, lags;
};

/*
 * The subscribers a publisher (or close) will ring once the lock is released.
 * Lists in progress on this thread are chained through tls_wakes so that an
 * unsubscribe called from inside a wake callback knows which pins are its own.
 */
struct wake_list {
    gs_bus_sub **v;
    size_t n, cap;
    struct wake_list *up;
    gs_bus_sub *stack[32];
};

static _Thread_local struct wake_list *tls_wakes;

static void wl_init(struct wake_list *w)
{
    w->v = w->stack;
    w->n = 0;
    w->cap = sizeof w->stack / sizeof w->stack[0];
    w->up = NULL;
}

/* Under the lock. On allocation failure the doorbell is not rung and the
 * subscriber stays unsignalled, so the next publish tries again. */
static void wl_push(struct wake_list *w, gs_bus_sub *s, size_t hint)
{
    if (w->n == w->cap) {
        size_t ncap = hint > w->cap * 2 ? hint : w->cap * 2;
        gs_bus_sub **nv = malloc(ncap * sizeof *nv);
        if (!nv)
            return;
        memcpy(nv, w->v, w->n * sizeof *nv);
        if (w->v != w->stack)
            free(w->v);
        w->v = nv;
        w->cap = ncap;
    }
    w->v[w->n++] = s;
    s->pins++;
    s->signalled = 1;
}

/* Under the lock: wakes a waiting consumer and queues the doorbell. */
static void notify_locked(gs_bus *bus, gs_bus_sub *s, struct wake_list *wl, int force)
{
    if (s->nwaiters)
        pthread_cond_broadcast(&s->cond);
    if (s->wake && (force || !s->signalled))
        wl_push(wl, s, bus->nsubs);
}

static void sub_free(gs_bus_sub *s)
{
    gs_bus *bus = s->bus;
    free(s->ring);
    pthread_cond_destroy(&s->cond);
    free(s);
    gs_bus_release(bus);
}

/* Without the lock: rings every doorbell in wl, then drops the pins. */
static void run_wakes(gs_bus *bus, struct wake_list *wl)
{
    if (wl->n == 0)
        return;
    wl->up = tls_wakes;
    tls_wakes = wl;
    for (size_t i = 0; i < wl->n; i++) {
        gs_bus_sub *s = wl->v[i];
        if (!atomic_load_explicit(&s->dead, memory_order_acquire))
            s->wake(s->ud);
    }
    tls_wakes = wl->up;

    gs_bus_sub *orphans = NULL;
    int broadcast = 0;
    pthread_mutex_lock(&bus->mu);
    for (size_t i = 0; i < wl->n; i++) {
        gs_bus_sub *s = wl->v[i];
        if (--s->pins == 0 && atomic_load_explicit(&s->dead, memory_order_relaxed)) {
            if (s->orphan) {
                s->next = orphans;
                orphans = s;
            } else {
                broadcast = 1;
            }
        }
    }
    if (broadcast)
        pthread_cond_broadcast(&bus->unpinned);
    pthread_mutex_unlock(&bus->mu);
    while (orphans) {
        gs_bus_sub *next = orphans->next;
        sub_free(orphans);
        orphans = next;
    }
    if (wl->v != wl->stack)
        free(wl->v);
}

/* ------------------------------------------------------------------ bus */

static int cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

gs_bus *gs_bus_new(void)
{
    gs_bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    if (pthread_mutex_init(&bus->mu, NULL) != 0) {
        free(bus);
        return NULL;
    }
    if (pthread_cond_init(&bus->unpinned, NULL) != 0) {
        pthread_mutex_destroy(&bus->mu);
        free(bus);
        return NULL;
    }
    atomic_init(&bus->nsubs_hint, 0);
    atomic_init(&bus->closed, 0);
    atomic_init(&bus->refs, 1);
    atomic_init(&bus->published, 0);
    return bus;
}

static gs_bus *default_bus;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_bus = gs_bus_new();
}

gs_bus *gs_bus_default(void)
{
    pthread_once(&default_once, default_init);
    return default_bus;
}

gs_bus *gs_bus_retain(gs_bus *bus)
{
    if (bus)
        atomic_fetch_add_explicit(&bus->refs, 1, memory_order_relaxed);
    return bus;
}

void gs_bus_release(gs_bus *bus)
{
    if (!bus || atomic_fetch_sub_explicit(&bus->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* Every subscriber holds a reference, so none is left here. */
    pthread_cond_destroy(&bus->unpinned);
    pthread_mutex_destroy(&bus->mu);
    free(bus);
}

int gs_bus_publish_event(gs_bus *bus, gs_event *ev)
{
    if (!bus || !ev) {
        errno = EINVAL;
        return GS_BUS_ERROR;
    }
    struct wake_list wl;
    wl_init(&wl);
    unsigned queued = 0;

    pthread_mutex_lock(&bus->mu);
    if (atomic_load_explicit(&bus->closed, memory_order_relaxed)) {
        pthread_mutex_unlock(&bus->mu);
        return GS_BUS_CLOSED;
    }
    for (gs_bus_sub *s = bus->subs; s; s = s->next) {
        if (s->lag_pending) {
            /* Choked: the re-sync from the store will cover this event. */
            s->dropped++;
            bus->dropped++;
            continue;
        }
        if (s->count == s->cap) {
            /* Overflow: release the backlog (bounded by cap), mark lagged. */
            for (size_t i = 0; i < s->count; i++) {
                size_t k = (s->head + i) % s->cap;
                gs_event_release(s->ring[k]);
                s->ring[k] = NULL;
            }
            s->dropped += s->count + 1;
            bus->dropped += s->count + 1;
            bus->lags++;
            s->head = s->count = 0;
            s->lag_pending = 1;
            notify_locked(bus, s, &wl, 0);
            continue;
        }
        s->ring[(s->head + s->count) % s->cap] = ev;
        s->count++;
        queued++;
        notify_locked(bus, s, &wl, 0);
    }
    /* One atomic add for every ring: no consumer can pop before the unlock. */
    if (queued)
        atomic_fetch_add_explicit(&((struct ev_impl *)ev)->refs, queued, memory_order_relaxed);
    atomic_fetch_add_explicit(&bus->published, 1, memory_order_relaxed);
    pthread_mutex_unlock(&bus->mu);

    run_wakes(bus, &wl);
    return (int)queued;
}

int gs_bus_publish(gs_bus *bus, const char *type, int64_t run_id, int64_t id,
                   const char *data, size_t data_len, const char *html, size_t html_len)
{
    if (!bus || !type) {
        errno = EINVAL;
        return GS_BUS_ERROR;
    }
    if (atomic_load_explicit(&bus->closed, memory_order_relaxed))
        return GS_BUS_CLOSED;
    if (atomic_load_explicit(&bus->nsubs_hint, memory_order_relaxed) == 0) {
        /* Nobody listens (the common case without a dashboard): no allocation. */
        atomic_fetch_add_explicit(&bus->published, 1, memory_order_relaxed);
        return 0;
    }
    gs_event *ev = gs_event_new(type, run_id, id, data, data_len, html, html_len);
    if (!ev)
        return GS_BUS_ERROR;
    int rc = gs_bus_publish_event(bus, ev);
    gs_event_release(ev);
    return rc;
}

gs_bus_sub *gs_bus_subscribe(gs_bus *bus, size_t capacity, void (*wake)(void *ud), void *ud)
{
    if (!bus || capacity > GS_BUS_MAX_CAPACITY) {
        errno = EINVAL;
        return NULL;
    }
    if (capacity == 0)
        capacity = GS_BUS_DEFAULT_CAPACITY;
    gs_bus_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ring = calloc(capacity, sizeof *s->ring);
    if (!s->ring || cond_init_monotonic(&s->cond) != 0) {
        free(s->ring);
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    s->cap = capacity;
    s->wake = wake;
    s->ud = ud;
    atomic_init(&s->dead, 0);

    pthread_mutex_lock(&bus->mu);
    if (atomic_load_explicit(&bus->closed, memory_order_relaxed)) {
        pthread_mutex_unlock(&bus->mu);
        pthread_cond_destroy(&s->cond);
        free(s->ring);
        free(s);
        errno = EPIPE;
        return NULL;
    }
    s->bus = gs_bus_retain(bus);
    s->next = bus->subs;
    if (bus->subs)
        bus->subs->prev = s;
    bus->subs = s;
    bus->nsubs++;
    atomic_store_explicit(&bus->nsubs_hint, bus->nsubs, memory_order_relaxed);
    pthread_mutex_unlock(&bus->mu);
    return s;
}

/* Pins this thread holds on s: wake lists being run further up our stack. */
static unsigned own_pins(const gs_bus_sub *s)
{
    unsigned n = 0;
    for (const struct wake_list *w = tls_wakes; w; w = w->up)
        for (size_t i = 0; i < w->n; i++)
            n += w->v[i] == s;
    return n;
}

void gs_bus_unsubscribe(gs_bus_sub *s)
{
    if (!s)
        return;
    gs_bus *bus = s->bus;
    pthread_mutex_lock(&bus->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        bus->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    bus->nsubs--;
    atomic_store_explicit(&bus->nsubs_hint, bus->nsubs, memory_order_relaxed);
    atomic_store_explicit(&s->dead, 1, memory_order_release);
    for (size_t i = 0; i < s->count; i++)
        gs_event_release(s->ring[(s->head + i) % s->cap]);
    s->count = 0;

    /* Wait out wake calls in progress on other threads; our own (we are
     * inside a wake callback) finish after we return and free s then. */
    unsigned mine = own_pins(s);
    while (s->pins > mine)
        pthread_cond_wait(&bus->unpinned, &bus->mu);
    int later = s->pins > 0;
    if (later)
        s->orphan = 1;
    pthread_mutex_unlock(&bus->mu);
    if (!later)
        sub_free(s);
}

static int take_locked(gs_bus_sub *s, gs_event **out)
{
    if (s->lag_pending) {
        s->lag_pending = 0;
        return GS_BUS_LAGGED;
    }
    if (s->count) {
        *out = s->ring[s->head];
        s->ring[s->head] = NULL;
        s->head = (s->head + 1) % s->cap;
        s->count--;
        s->delivered++;
        return GS_BUS_EVENT;
    }
    if (atomic_load_explicit(&s->bus->closed, memory_order_relaxed))
        return GS_BUS_CLOSED;
    return GS_BUS_EMPTY;
}

int gs_bus_sub_next(gs_bus_sub *s, gs_event **out, double timeout_s)
{
    if (!s || !out) {
        errno = EINVAL;
        return GS_BUS_ERROR;
    }
    *out = NULL;
    struct timespec deadline = {0, 0};
    if (timeout_s > 0) {
        if (timeout_s > 1e8)
            timeout_s = 1e8;    /* about three years: keeps tv_sec in range */
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        time_t sec = (time_t)timeout_s;
        long nsec = deadline.tv_nsec + (long)((timeout_s - (double)sec) * 1e9);
        deadline.tv_sec += sec + nsec / 1000000000L;
        deadline.tv_nsec = nsec % 1000000000L;
    }
    gs_bus *bus = s->bus;
    pthread_mutex_lock(&bus->mu);
    int rc;
    for (;;) {
        rc = take_locked(s, out);
        if (rc != GS_BUS_EMPTY || !(timeout_s != 0))   /* also stops on NaN */
            break;
        s->nwaiters++;
        int e = timeout_s < 0 ? pthread_cond_wait(&s->cond, &bus->mu)
                              : pthread_cond_timedwait(&s->cond, &bus->mu, &deadline);
        s->nwaiters--;
        if (e == ETIMEDOUT) {
            rc = take_locked(s, out);
            break;
        }
    }
    if (rc == GS_BUS_EMPTY)
        s->signalled = 0;       /* the consumer goes to sleep: ring next time */
    pthread_mutex_unlock(&bus->mu);
    return rc;
}

int gs_bus_sub_try_next(gs_bus_sub *s, gs_event **out)
{
    return gs_bus_sub_next(s, out, 0);
}

#define SUB_READ(type, expr) \
    do { \
        if (!s) \
            return 0; \
        pthread_mutex_lock(&s->bus->mu); \
        type v_ = (expr); \
        pthread_mutex_unlock(&s->bus->mu); \
        return v_; \
    } while (0)

int gs_bus_sub_lagged(gs_bus_sub *s) { SUB_READ(int, s->lag_pending); }
uint64_t gs_bus_sub_dropped(gs_bus_sub *s) { SUB_READ(uint64_t, s->dropped); }
uint64_t gs_bus_sub_delivered(gs_bus_sub *s) { SUB_READ(uint64_t, s->delivered); }
size_t gs_bus_sub_pending(gs_bus_sub *s) { SUB_READ(size_t, s->count); }

size_t gs_bus_subscriber_count(gs_bus *bus)
{
    return bus ? atomic_load_explicit(&bus->nsubs_hint, memory_order_relaxed) : 0;
}

void gs_bus_get_stats(gs_bus *bus, gs_bus_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!bus)
        return;
    pthread_mutex_lock(&bus->mu);
    st->published = atomic_load_explicit(&bus->published, memory_order_relaxed);
    st->dropped = bus->dropped;
    st->lags = bus->lags;
    st->subscribers = bus->nsubs;
    pthread_mutex_unlock(&bus->mu);
}

void gs_bus_close(gs_bus *bus)
{
    if (!bus)
        return;
    struct wake_list wl;
    wl_init(&wl);
    pthread_mutex_lock(&bus->mu);
    if (!atomic_load_explicit(&bus->closed, memory_order_relaxed)) {
        atomic_store_explicit(&bus->closed, 1, memory_order_relaxed);
        for (gs_bus_sub *s = bus->subs; s; s = s->next)
            notify_locked(bus, s, &wl, 1);
    }
    pthread_mutex_unlock(&bus->mu);
    run_wakes(bus, &wl);
}

/* ------------------------------------------------------------ Lua binding */

#define BUS_MT "grokspicy.Bus"
#define SUB_MT "grokspicy.BusSub"

typedef struct { gs_bus *bus; } lbus;
/* held: the event being turned into a table, released on the next call or
 * on close if building the table raised. Uservalue 1: the Bus userdata (or
 * nil for the default bus), so a live subscription keeps its bus open. */
typedef struct { gs_bus_sub *sub; gs_event *held; } lsub;

static gs_bus *check_bus(lua_State *L, int idx, const char *fname)
{
    lbus *u = luaL_checkudata(L, idx, BUS_MT);
    if (!u->bus)
        luaL_error(L, "%s: bus is closed", fname);
    return u->bus;
}

static lsub *check_sub(lua_State *L, const char *fname)
{
    lsub *u = luaL_checkudata(L, 1, SUB_MT);
    if (!u->sub)
        luaL_error(L, "%s: subscription is closed", fname);
    return u;
}

/* publish{type=, run_id=, id=, data=<JSON string | table>, html=} -> n | nil, err */
static int publish_from(lua_State *L, gs_bus *bus, int t, const char *fname)
{
    if (!lua_istable(L, t))
        return luaL_error(L, "%s: expected a table, got %s", fname, luaL_typename(L, t));
    size_t tl, dl, hl;
    const gs_opts o = {L, fname, "field '", "'"};
    const char *type = gs_opt_str(&o, t, "type", 0, NULL, &tl); /* strings stay alive in the table */
    if (!type)
        return luaL_error(L, "%s: field 'type' must be a string", fname);
    int64_t run_id = gs_opt_int(&o, t, "run_id", 0, 0, LUA_MININTEGER, LUA_MAXINTEGER);
    int64_t id = gs_opt_int(&o, t, "id", 0, 0, LUA_MININTEGER, LUA_MAXINTEGER);
    int ty = lua_getfield(L, t, "data");                               /* stack: data */
    if (ty == LUA_TTABLE) {
        /* Encode through the cjson module, as Lua code would. */
        lua_getglobal(L, "require");
        lua_pushliteral(L, "cjson");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "encode");
        lua_pushvalue(L, -3);
        lua_call(L, 1, 1);                                             /* stack: data cjson json */
        lua_replace(L, -3);
        lua_pop(L, 1);                                                 /* stack: json */
    } else if (ty != LUA_TNIL && ty != LUA_TSTRING) {
        return luaL_error(L, "%s: field 'data' must be a string or a table, got %s", fname,
                          luaL_typename(L, -1));
    }
    const char *data = ty == LUA_TNIL ? NULL : lua_tolstring(L, -1, &dl);
    if (!data)
        dl = 0;
    const char *html = gs_opt_str(&o, t, "html", 0, NULL, &hl);
    /* No raising from here on: the strings stay anchored (the table, and data on the stack). */
    int rc = gs_bus_publish(bus, type, run_id, id, data, dl, html, hl);
    if (rc >= 0) {
        lua_pushinteger(L, rc);
        return 1;
    }
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", fname, rc == GS_BUS_CLOSED ? "bus is closed" : "out of memory");
    return 2;
}

/* bus.publish{type=, run_id=, id=, data=, html=} -> subscribers reached | nil, err: on the default
 * bus. */
static int l_publish(lua_State *L)
{
    return publish_from(L, gs_bus_default(), 1, "bus.publish");
}

/* b:publish{type=, run_id=, id=, data=, html=} -> subscribers reached | nil, err */
static int l_bus_publish(lua_State *L)
{
    return publish_from(L, check_bus(L, 1, "Bus:publish"), 2, "Bus:publish");
}

/* Pushes a new subscription on bus; bus_idx is the Bus userdata or 0. */
static int subscribe_to(lua_State *L, gs_bus *bus, int bus_idx, int cap_idx, const char *fname)
{
    lua_Integer cap = luaL_optinteger(L, cap_idx, GS_BUS_DEFAULT_CAPACITY);
    if (cap < 1 || cap > (lua_Integer)GS_BUS_MAX_CAPACITY)
        return luaL_error(L, "%s: capacity must be between 1 and %d", fname, (int)GS_BUS_MAX_CAPACITY);
    lsub *u = lua_newuserdatauv(L, sizeof *u, 1);   /* born closed */
    u->sub = NULL;
    u->held = NULL;
    luaL_setmetatable(L, SUB_MT);
    if (bus_idx) {
        lua_pushvalue(L, bus_idx);
        lua_setiuservalue(L, -2, 1);
    }
    u->sub = gs_bus_subscribe(bus, (size_t)cap, NULL, NULL);
    if (!u->sub) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", fname, errno == EPIPE ? "bus is closed" : "out of memory");
        return 2;
    }
    return 1;
}

/* bus.subscribe([capacity = DEFAULT_CAPACITY]) -> sub: a bounded queue on the default bus. */
static int l_subscribe(lua_State *L)
{
    return subscribe_to(L, gs_bus_default(), 0, 1, "bus.subscribe");
}

/* b:subscribe([capacity = DEFAULT_CAPACITY]) -> sub */
static int l_bus_subscribe(lua_State *L)
{
    gs_bus *bus = check_bus(L, 1, "Bus:subscribe");
    return subscribe_to(L, bus, 1, 2, "Bus:subscribe");
}

static void push_stats(lua_State *L, gs_bus *bus)
{
    gs_bus_stats st;
    gs_bus_get_stats(bus, &st);
    const struct { const char *k; uint64_t v; } f[] = {
        {"published", st.published}, {"dropped", st.dropped}, {"lags", st.lags}, {"subscribers", st.subscribers},
    };
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        lua_pushinteger(L, (lua_Integer)f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
}

/* bus.stats([b]) and b:stats() -> {published, dropped, lags, subscribers} */
static int l_stats(lua_State *L)
{
    push_stats(L, lua_isnoneornil(L, 1) ? gs_bus_default() : check_bus(L, 1, "bus.stats"));
    return 1;
}

/* bus.new() -> b: a bus of its own (the module functions use the process-wide default bus). */
static int l_new(lua_State *L)
{
    lbus *u = lua_newuserdatauv(L, sizeof *u, 0);   /* born closed */
    u->bus = NULL;
    luaL_setmetatable(L, BUS_MT);
    u->bus = gs_bus_new();
    if (!u->bus)
        return luaL_error(L, "bus.new: out of memory");
    return 1;
}

/* close / __gc / __close: closes the bus (waking its subscribers) and drops
 * this handle's reference. Idempotent. */
static int l_bus_close(lua_State *L)
{
    lbus *u = luaL_checkudata(L, 1, BUS_MT);
    if (u->bus) {
        gs_bus_close(u->bus);
        gs_bus_release(u->bus);
        u->bus = NULL;
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    lbus *b = luaL_testudata(L, 1, BUS_MT);
    lsub *u = b ? NULL : luaL_checkudata(L, 1, SUB_MT);
    void *p = b ? (void *)b->bus : (void *)u->sub;
    const char *name = b ? BUS_MT : SUB_MT;
    if (p)
        lua_pushfstring(L, "%s (%p)", name, p);
    else
        lua_pushfstring(L, "%s (closed)", name);
    return 1;
}

static void push_lstring_or_nil(lua_State *L, const char *s, size_t len)
{
    if (s)
        lua_pushlstring(L, s, len);
    else
        lua_pushnil(L);
}

/* sub:next([timeout_s = 0]) -> event | nil | nil, "lagged" | nil, "closed"
 * timeout 0 polls, < 0 waits forever; the Lua state is blocked meanwhile. */
static int l_sub_next(lua_State *L)
{
    lsub *u = check_sub(L, "BusSub:next");
    lua_Number t = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, t == t, 2, "BusSub:next: timeout is NaN");
    if (u->held) {
        gs_event_release(u->held);
        u->held = NULL;
    }
    gs_event *ev = NULL;
    int rc = gs_bus_sub_next(u->sub, &ev, (double)t);
    switch (rc) {
    case GS_BUS_EVENT:
        break;
    case GS_BUS_EMPTY:
        luaL_pushfail(L);
        return 1;
    case GS_BUS_LAGGED:
        luaL_pushfail(L);
        lua_pushliteral(L, "lagged");
        return 2;
    case GS_BUS_CLOSED:
        luaL_pushfail(L);
        lua_pushliteral(L, "closed");
        return 2;
    default:
        return luaL_error(L, "BusSub:next: internal error");
    }
    u->held = ev;                   /* released below, or next time if we raise */
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, ev->type, ev->type_len);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)ev->run_id);
    lua_setfield(L, -2, "run_id");
    lua_pushinteger(L, (lua_Integer)ev->id);
    lua_setfield(L, -2, "id");
    push_lstring_or_nil(L, ev->data, ev->data_len);
    lua_setfield(L, -2, "data");
    push_lstring_or_nil(L, ev->html, ev->html_len);
    lua_setfield(L, -2, "html");
    u->held = NULL;
    gs_event_release(ev);
    return 1;
}

/* sub:lagged() -> pending (an overflow not yet reported by next), dropped */
static int l_sub_lagged(lua_State *L)
{
    lsub *u = check_sub(L, "BusSub:lagged");
    lua_pushboolean(L, gs_bus_sub_lagged(u->sub));
    lua_pushinteger(L, (lua_Integer)gs_bus_sub_dropped(u->sub));
    return 2;
}

/* sub:pending() -> events queued and not yet taken by next */
static int l_sub_pending(lua_State *L)
{
    lsub *u = check_sub(L, "BusSub:pending");
    lua_pushinteger(L, (lua_Integer)gs_bus_sub_pending(u->sub));
    return 1;
}

/* close / __gc / __close / bus.unsubscribe: idempotent. */
static int l_sub_close(lua_State *L)
{
    lsub *u = luaL_checkudata(L, 1, SUB_MT);
    if (u->held) {
        gs_event_release(u->held);
        u->held = NULL;
    }
    if (u->sub) {
        gs_bus_unsubscribe(u->sub);
        u->sub = NULL;
    }
    return 0;
}

/* ---- for tests and benchmarks (the thread that publishes from C is
   tests/c/hooks.c, built only with the tests) ---- */

/* bus.monotonic_ns() -> integer: CLOCK_MONOTONIC in nanoseconds. */
static int l_monotonic_ns(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gs_monotonic_ns());
    return 1;
}

int luaopen_grokspicy_core_bus(lua_State *L)
{
    static const luaL_Reg bus_methods[] = {
        {"publish", l_bus_publish},
        {"subscribe", l_bus_subscribe},
        {"stats", l_stats},
        {"close", l_bus_close},
        {NULL, NULL},
    };
    static const luaL_Reg bus_meta[] = {
        {"__gc", l_bus_close},
        {"__close", l_bus_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    static const luaL_Reg sub_methods[] = {
        {"next", l_sub_next},
        {"lagged", l_sub_lagged},
        {"pending", l_sub_pending},
        {"close", l_sub_close},
        {NULL, NULL},
    };
    static const luaL_Reg sub_meta[] = {
        {"__gc", l_sub_close},
        {"__close", l_sub_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"publish", l_publish},
        {"subscribe", l_subscribe},
        {"unsubscribe", l_sub_close},
        {"new", l_new},
        {"stats", l_stats},
        {"monotonic_ns", l_monotonic_ns},
        {NULL, NULL},
    };
    /* metatable.__index = methods, for each userdata type */
    luaL_newmetatable(L, BUS_MT);
    luaL_setfuncs(L, bus_meta, 0);
    luaL_newlib(L, bus_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, SUB_MT);
    luaL_setfuncs(L, sub_meta, 0);
    luaL_newlib(L, sub_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newlib(L, fns);
    lua_pushinteger(L, GS_BUS_DEFAULT_CAPACITY);
    lua_setfield(L, -2, "DEFAULT_CAPACITY");
    return 1;
}
