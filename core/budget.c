/*
 * budget.c — a run's spending limit (--budget): the one place that says
 * whether a billed request may be sent. Every create goes through a meter; the
 * provider asks gs_meter_permit with the request's list price before sending
 * it, and the answer's charge (gs_meter_charge) moves the money from "held"
 * to "spent". Requests of parallel steps hold their list price while they are
 * in flight, so workers together never pass the limit either.
 */
#include "gs_provider.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct gs_budget {
    pthread_mutex_t mu;
    int64_t limit;              /* ticks the run may spend in all */
    int64_t spent;              /* what the run was charged: the ledger before this process, then every charge */
    int64_t held;               /* list prices of the requests in flight */
};

gs_budget *gs_budget_new(int64_t limit, int64_t spent)
{
    gs_budget *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->limit = limit;
    b->spent = spent;
    return b;
}

void gs_budget_free(gs_budget *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static double usd(int64_t ticks) { return (double)ticks / (double)GS_TICKS_PER_USD; }

int gs_meter_permit(gs_meter *m, int64_t price, char *err, size_t errlen)
{
    if (!m || !m->budget)
        return 0;
    gs_budget *b = m->budget;
    if (price < 0)
        price = 0;
    pthread_mutex_lock(&b->mu);
    b->held -= m->held; /* a meter runs one request at a time: its last one is over */
    m->held = 0;
    int ok = b->spent + b->held + price <= b->limit;
    int64_t spent = b->spent + b->held, limit = b->limit;
    if (ok) {
        b->held += price;
        m->held = price;
    }
    pthread_mutex_unlock(&b->mu);
    if (!ok)
        snprintf(err, errlen, "budget reached: $%.4f of $%.4f (the next request costs $%.4f at list price)", usd(spent),
                 usd(limit), usd(price));
    return ok ? 0 : GS_PROVIDER_BUDGET;
}

void gs_meter_release(gs_meter *m)
{
    if (!m || !m->budget || !m->held)
        return;
    pthread_mutex_lock(&m->budget->mu);
    m->budget->held -= m->held;
    m->held = 0;
    pthread_mutex_unlock(&m->budget->mu);
}

void gs_budget_count(gs_meter *m, const gs_charge *c)
{
    if (!m || !m->budget)
        return;
    gs_budget *b = m->budget;
    pthread_mutex_lock(&b->mu);
    if (!c->update) { /* the answer to the request this meter held for */
        b->spent += c->ticks;
        b->held -= m->held;
        m->held = 0;
    } else if (c->ticks >= 0) {
        b->spent += c->ticks - c->prior;
    }
    pthread_mutex_unlock(&b->mu);
}
