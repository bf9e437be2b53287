/*
 * test_bus.c — the event bus: ordering, refcounts, lag, many publishers and
 * consumers, unsubscribe racing publish, re-entrant wake callbacks, close and
 * timeouts. `--quick` shrinks the stress sizes (valgrind runs it that way).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "grokspicy.h"
#include "gs_util.h"
#include "testutil.h"

static int quick;

static int pub(gs_bus *bus, const char *type, int64_t run_id, int64_t id, const char *data)
{
    return gs_bus_publish(bus, type, run_id, id, data, data ? strlen(data) : 0, NULL, 0);
}

static void test_order_and_fields(void)
{
    gs_bus *bus = gs_bus_new();
    REQUIRE(bus);
    gs_bus_sub *a = gs_bus_subscribe(bus, 0, NULL, NULL);
    gs_bus_sub *b = gs_bus_subscribe(bus, 200, NULL, NULL);
    REQUIRE(a && b);
    CHECK(gs_bus_subscriber_count(bus) == 2);
    CHECK(gs_bus_publish(bus, "scene", 7, 42, "{\"n\":1}", 7, "<p>x</p>", 8) == 2);
    for (int i = 1; i <= 150; i++) {
        char d[16];
        snprintf(d, sizeof d, "%d", i);
        CHECK(pub(bus, "tick", 7, 100 + i, d) == 2);
    }
    gs_event *ev = NULL;
    CHECK(gs_bus_sub_next(a, &ev, 0) == GS_BUS_EVENT);
    REQUIRE(ev);
    CHECK_STR(ev->type, "scene");
    CHECK(ev->type_len == 5 && ev->run_id == 7 && ev->id == 42);
    CHECK_STR(ev->data, "{\"n\":1}");
    CHECK(ev->data_len == 7);
    CHECK_STR(ev->html, "<p>x</p>");
    gs_event *ev2 = NULL;
    CHECK(gs_bus_sub_try_next(b, &ev2) == GS_BUS_EVENT);
    CHECK(ev2 == ev);                   /* shared, not copied per subscriber */
    gs_event_release(ev);
    gs_event_release(ev2);
    for (int i = 1; i <= 150; i++) {
        CHECK(gs_bus_sub_next(a, &ev, 0) == GS_BUS_EVENT);
        CHECK(ev && ev->id == 100 + i && ev->html == NULL);
        gs_event_release(ev);
    }
    CHECK(gs_bus_sub_try_next(a, &ev) == GS_BUS_EMPTY && ev == NULL);
    CHECK(gs_bus_sub_delivered(a) == 151);
    CHECK(gs_bus_sub_pending(b) == 150);
    gs_bus_unsubscribe(b);              /* releases its 150 queued events */
    gs_bus_unsubscribe(a);
    CHECK(gs_bus_subscriber_count(bus) == 0);
    CHECK(pub(bus, "nobody", 0, 0, NULL) == 0);
    gs_bus_stats st;
    gs_bus_get_stats(bus, &st);
    CHECK(st.published == 152 && st.dropped == 0 && st.subscribers == 0);
    gs_bus_release(bus);
}

static void test_refcount(void)
{
    gs_bus *bus = gs_bus_new();
    gs_event *ev = gs_event_new("t", 1, 2, NULL, 0, "h", 1);
    REQUIRE(bus && ev);
    gs_bus_sub *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = gs_bus_subscribe(bus, 4, NULL, NULL);
    CHECK(gs_bus_publish_event(bus, ev) == 3);
    gs_event_release(ev);               /* the rings keep it alive */
    gs_event *got = NULL;
    CHECK(gs_bus_sub_next(s[0], &got, 0) == GS_BUS_EVENT);
    CHECK(got == ev && got->data == NULL && strcmp(got->html, "h") == 0);
    gs_event_release(got);
    gs_bus_unsubscribe(s[1]);
    CHECK(gs_bus_sub_next(s[2], &got, 0) == GS_BUS_EVENT);
    CHECK_STR(got->type, "t");          /* the last reference: ASan/valgrind watch this */
    gs_event_release(got);
    /* A subscriber outliving the caller's bus reference keeps the bus alive. */
    gs_bus_release(bus);
    CHECK(gs_bus_sub_next(s[0], &got, 0) == GS_BUS_EMPTY);
    gs_bus_unsubscribe(s[0]);
    gs_bus_unsubscribe(s[2]);
    CHECK(gs_event_new(NULL, 0, 0, NULL, 0, NULL, 0) == NULL);
    CHECK(gs_bus_subscribe(gs_bus_default(), GS_BUS_MAX_CAPACITY + 1, NULL, NULL) == NULL);
}

static void test_lag(void)
{
    gs_bus *bus = gs_bus_new();
    gs_bus_sub *s = gs_bus_subscribe(bus, 4, NULL, NULL);
    gs_bus_sub *big = gs_bus_subscribe(bus, 64, NULL, NULL);
    for (int i = 1; i <= 10; i++)
        pub(bus, "e", 1, i, NULL);
    CHECK(gs_bus_sub_lagged(s) == 1);
    CHECK(gs_bus_sub_dropped(s) == 10);
    gs_event *ev = NULL;
    CHECK(gs_bus_sub_next(s, &ev, 1.0) == GS_BUS_LAGGED);   /* once, immediately */
    CHECK(gs_bus_sub_lagged(s) == 0);
    CHECK(gs_bus_sub_next(s, &ev, 0) == GS_BUS_EMPTY);
    pub(bus, "e", 1, 11, NULL);
    CHECK(gs_bus_sub_next(s, &ev, 0) == GS_BUS_EVENT && ev && ev->id == 11);
    gs_event_release(ev);
    CHECK(gs_bus_sub_pending(big) == 11 && gs_bus_sub_dropped(big) == 0);
    gs_bus_stats st;
    gs_bus_get_stats(bus, &st);
    CHECK(st.dropped == 10 && st.lags == 1 && st.published == 11);
    gs_bus_unsubscribe(s);
    gs_bus_unsubscribe(big);
    gs_bus_release(bus);
}

/* ---- many publishers, concurrent consumers, one slow subscriber ---- */

#define NPUB 8
#define NCONS 4

struct stress {
    gs_bus *bus;
    int per_pub;
    atomic_int go;
};

struct pub_arg {
    struct stress *st;
    int index;
};

static void *publisher(void *p)
{
    struct pub_arg *a = p;
    while (!atomic_load(&a->st->go)) {
    }
    for (int i = 1; i <= a->st->per_pub; i++)
        gs_bus_publish(a->st->bus, "p", a->index, i, "x", 1, NULL, 0);
    return NULL;
}

struct cons_arg {
    gs_bus_sub *sub;
    int slow;
    long received, lags, order_errors;
    int64_t last[NPUB];
};

static void *consumer(void *p)
{
    struct cons_arg *c = p;
    for (;;) {
        gs_event *ev = NULL;
        int rc = gs_bus_sub_next(c->sub, &ev, -1);
        if (rc == GS_BUS_CLOSED)
            break;
        if (rc == GS_BUS_LAGGED) {
            c->lags++;
            continue;
        }
        if (rc != GS_BUS_EVENT)
            continue;
        int pidx = (int)ev->run_id;
        /* Fast consumers must see every id of each publisher in order;
         * the slow one may skip (it lagged) but never goes backwards. */
        if (c->slow ? ev->id <= c->last[pidx] : ev->id != c->last[pidx] + 1)
            c->order_errors++;
        c->last[pidx] = ev->id;
        c->received++;
        gs_event_release(ev);
        if (c->slow) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void test_stress(void)
{
    struct stress st = {gs_bus_new(), quick ? 500 : 20000, 0};
    REQUIRE(st.bus);
    long total = (long)NPUB * st.per_pub;
    struct cons_arg cons[NCONS + 1];
    pthread_t ct[NCONS + 1], pt[NPUB];
    struct pub_arg pa[NPUB];
    memset(cons, 0, sizeof cons);
    for (int i = 0; i <= NCONS; i++) {
        cons[i].slow = i == NCONS;
        cons[i].sub = gs_bus_subscribe(st.bus, cons[i].slow ? 16 : (size_t)total, NULL, NULL);
        REQUIRE(cons[i].sub);
        pthread_create(&ct[i], NULL, consumer, &cons[i]);
    }
    for (int i = 0; i < NPUB; i++) {
        pa[i].st = &st;
        pa[i].index = i;
        pthread_create(&pt[i], NULL, publisher, &pa[i]);
    }
    double t0 = gs_monotonic();
    atomic_store(&st.go, 1);
    for (int i = 0; i < NPUB; i++)
        pthread_join(pt[i], NULL);
    double dt = gs_monotonic() - t0;
    gs_bus_close(st.bus);
    for (int i = 0; i <= NCONS; i++)
        pthread_join(ct[i], NULL);
    printf("# stress: %d publishers x %d events, %d consumers + 1 slow: %.0f events/s published\n",
           NPUB, st.per_pub, NCONS, (double)total / dt);
    for (int i = 0; i < NCONS; i++) {
        CHECK(cons[i].received == total);
        CHECK(cons[i].lags == 0 && cons[i].order_errors == 0);
        CHECK(gs_bus_sub_dropped(cons[i].sub) == 0);
    }
    struct cons_arg *slow = &cons[NCONS];
    CHECK(slow->lags >= 1);
    CHECK(slow->order_errors == 0);
    CHECK(slow->received + (long)gs_bus_sub_dropped(slow->sub) == total);
    printf("# slow subscriber: %ld received, %ld lags, %llu dropped\n", slow->received, slow->lags,
           (unsigned long long)gs_bus_sub_dropped(slow->sub));
    for (int i = 0; i <= NCONS; i++)
        gs_bus_unsubscribe(cons[i].sub);
    gs_bus_release(st.bus);
}

/* ---- unsubscribe racing publish ---- */

struct race_ud {
    atomic_int unsubscribed;
    atomic_long wakes;
};

static atomic_long race_violations;

static void race_wake(void *ud)
{
    struct race_ud *r = ud;
    if (atomic_load(&r->unsubscribed))
        atomic_fetch_add(&race_violations, 1);
    atomic_fetch_add(&r->wakes, 1);
}

struct race_pub {
    gs_bus *bus;
    atomic_int stop;
    atomic_long published;
};

static void *race_publisher(void *p)
{
    struct race_pub *rp = p;
    while (!atomic_load(&rp->stop)) {
        long n = atomic_fetch_add(&rp->published, 1) + 1;
        gs_bus_publish(rp->bus, "r", 0, n, NULL, 0, NULL, 0);
        if (n % 64 == 0)
            sched_yield();      /* lets the subscribing thread run under valgrind */
    }
    return NULL;
}

static void test_unsubscribe_race(void)
{
    int loops = quick ? 300 : 5000;
    /* Under valgrind the publishers may not get scheduled during the first
       cycles: go on (up to 20x) until a wake has raced with an unsubscribe. */
    int max_loops = loops * 20, cycles = 0;
    struct race_pub rp = {gs_bus_new(), 0, 0};
    struct race_ud *uds = calloc((size_t)max_loops, sizeof *uds);
    REQUIRE(rp.bus && uds);
    pthread_t th[2];
    pthread_create(&th[0], NULL, race_publisher, &rp);
    pthread_create(&th[1], NULL, race_publisher, &rp);
    while (atomic_load(&rp.published) == 0)
        sched_yield();
    long wakes = 0, got = 0;
    for (int i = 0; i < loops || (wakes == 0 && i < max_loops); i++, cycles++) {
        gs_bus_sub *s = gs_bus_subscribe(rp.bus, 8, race_wake, &uds[i]);
        REQUIRE(s);
        gs_event *ev;
        for (int k = 0; k < 3; k++) {
            int rc;
            while ((rc = gs_bus_sub_try_next(s, &ev)) == GS_BUS_EVENT || rc == GS_BUS_LAGGED) {
                if (rc == GS_BUS_EVENT) {
                    got++;
                    gs_event_release(ev);
                }
            }
            sched_yield();
        }
        gs_bus_unsubscribe(s);
        atomic_store(&uds[i].unsubscribed, 1);
        wakes += atomic_load(&uds[i].wakes);
    }
    atomic_store(&rp.stop, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    CHECK(atomic_load(&race_violations) == 0);
    long after = 0;
    for (int i = 0; i < cycles; i++)
        after += atomic_load(&uds[i].wakes);
    CHECK(after == wakes);              /* nothing rang after unsubscribe returned */
    CHECK(wakes > 0);
    CHECK(wakes <= atomic_load(&rp.published));       /* doorbells coalesce: at most one per event */
    printf("# race: %d subscribe/unsubscribe cycles, %ld published, %ld wakes, %ld received\n",
           cycles, atomic_load(&rp.published), wakes, got);
    free(uds);
    gs_bus_release(rp.bus);
}

/* ---- wake callbacks: coalescing, re-entrant publish, self-unsubscribe ---- */

struct reent {
    gs_bus *bus;
    gs_bus_sub *sub;
    int wakes;
    int republish;
    int unsubscribe_self;
};

static void reent_wake(void *ud)
{
    struct reent *r = ud;
    r->wakes++;
    if (r->republish)
        CHECK(pub(r->bus, "from-wake", 0, 0, NULL) >= 0);   /* must not deadlock */
    if (r->unsubscribe_self) {
        gs_bus_unsubscribe(r->sub);
        r->sub = NULL;
    }
}

static void test_wake_callbacks(void)
{
    gs_bus *bus = gs_bus_new();
    struct reent r = {bus, NULL, 0, 0, 0};
    r.sub = gs_bus_subscribe(bus, 16, reent_wake, &r);
    REQUIRE(r.sub);
    /* Edge-triggered: one ring until the consumer has seen the ring empty. */
    pub(bus, "a", 0, 1, NULL);
    pub(bus, "a", 0, 2, NULL);
    CHECK(r.wakes == 1);
    gs_event *ev;
    while (gs_bus_sub_try_next(r.sub, &ev) == GS_BUS_EVENT)
        gs_event_release(ev);
    pub(bus, "a", 0, 3, NULL);
    CHECK(r.wakes == 2);
    while (gs_bus_sub_try_next(r.sub, &ev) == GS_BUS_EVENT)
        gs_event_release(ev);

    /* Publishing from inside the callback: the lock is not held. */
    r.republish = 1;
    CHECK(pub(bus, "a", 0, 4, NULL) == 1);
    CHECK(r.wakes == 3);                /* the nested publish coalesced */
    CHECK(gs_bus_sub_pending(r.sub) == 2);
    r.republish = 0;
    while (gs_bus_sub_try_next(r.sub, &ev) == GS_BUS_EVENT)
        gs_event_release(ev);

    /* Unsubscribing itself from inside its own callback. */
    r.unsubscribe_self = 1;
    pub(bus, "a", 0, 5, NULL);
    CHECK(r.sub == NULL && r.wakes == 4);
    CHECK(gs_bus_subscriber_count(bus) == 0);
    pub(bus, "a", 0, 6, NULL);
    CHECK(r.wakes == 4);
    gs_bus_release(bus);
}

/* ---- close ---- */

static atomic_int close_wakes;

static void count_wake(void *ud)
{
    (void)ud;
    atomic_fetch_add(&close_wakes, 1);
}

static void *close_waiter(void *p)
{
    gs_event *ev;
    int rc;
    while ((rc = gs_bus_sub_next(p, &ev, -1)) == GS_BUS_EVENT)
        gs_event_release(ev);
    return (void *)(intptr_t)rc;
}

static void test_close(void)
{
    gs_bus *bus = gs_bus_new();
    gs_bus_sub *s[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        s[i] = gs_bus_subscribe(bus, 8, NULL, NULL);
        pthread_create(&th[i], NULL, close_waiter, s[i]);
    }
    gs_bus_sub *w = gs_bus_subscribe(bus, 8, count_wake, NULL);
    pub(bus, "before", 0, 1, NULL);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    gs_bus_close(bus);
    gs_bus_close(bus);                  /* idempotent */
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        CHECK((intptr_t)rc == GS_BUS_CLOSED);
    }
    CHECK(atomic_load(&close_wakes) == 2);   /* the event, then the close */
    gs_event *ev;
    CHECK(gs_bus_sub_next(w, &ev, 1.0) == GS_BUS_EVENT);     /* queued events still arrive */
    gs_event_release(ev);
    CHECK(gs_bus_sub_next(w, &ev, 1.0) == GS_BUS_CLOSED);
    CHECK(pub(bus, "after", 0, 2, NULL) == GS_BUS_CLOSED);
    CHECK(gs_bus_subscribe(bus, 0, NULL, NULL) == NULL);
    for (int i = 0; i < 3; i++)
        gs_bus_unsubscribe(s[i]);
    gs_bus_unsubscribe(w);
    gs_bus_release(bus);
}

static void test_timeout(void)
{
    gs_bus *bus = gs_bus_new();
    gs_bus_sub *s = gs_bus_subscribe(bus, 0, NULL, NULL);
    gs_event *ev = NULL;
    double t0 = gs_monotonic();
    CHECK(gs_bus_sub_next(s, &ev, 0.05) == GS_BUS_EMPTY);
    double dt = gs_monotonic() - t0;
    CHECK(dt >= 0.045);
    CHECK(dt < 1.0);
    t0 = gs_monotonic();
    CHECK(gs_bus_sub_next(s, &ev, 0) == GS_BUS_EMPTY);
    CHECK(gs_monotonic() - t0 < 1.0); /* does not block; generous: a loaded machine may not run us for a while */
    printf("# next(0.05) returned after %.1f ms\n", dt * 1e3);
    gs_bus_unsubscribe(s);
    gs_bus_release(bus);
}

static void *get_default(void *p)
{
    (void)p;
    return gs_bus_default();
}

static void test_default(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, get_default, NULL);
    for (int i = 0; i < 4; i++) {
        void *b;
        pthread_join(th[i], &b);
        CHECK(b == gs_bus_default());
    }
    CHECK(gs_bus_default() != NULL);
    gs_bus_release(gs_bus_retain(gs_bus_default()));
    CHECK(pub(gs_bus_default(), "x", 0, 0, NULL) == 0);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    RUN(test_order_and_fields);
    RUN(test_refcount);
    RUN(test_lag);
    RUN(test_stress);
    RUN(test_unsubscribe_race);
    RUN(test_wake_callbacks);
    RUN(test_close);
    RUN(test_timeout);
    RUN(test_default);
    return TU_REPORT();
}
