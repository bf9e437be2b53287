/*
 * pool.c — a fixed-size pthread worker pool with a FIFO job list (the shape of
 * Redis bio.c). Owns its threads and job nodes; knows nothing about steps,
 * providers or Lua: jobs are fn(arg) pairs in pure C. The job list is not
 * bounded here: its owner (steps.c) bounds the steps in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_steps.h"

typedef struct job {
    gs_pool_fn fn;
    void *arg;
    struct job *next;
} job;

struct gs_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int closing;
    int n;
    pthread_t threads[];
};

static void *worker_main(void *arg)
{
    gs_pool *pool = arg;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->head && !pool->closing)
            pthread_cond_wait(&pool->cv, &pool->mu);
        if (!pool->head)
            break; /* closing and drained */
        job *j = pool->head;
        pool->head = j->next;
        if (!pool->head)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

gs_pool *gs_pool_new(int n, char *err, size_t errlen)
{
    if (n < 1 || n > 64) {
        snprintf(err, errlen, "pool: 1..64 workers expected, got %d", n);
        return NULL;
    }
    gs_pool *pool = calloc(1, sizeof *pool + (size_t)n * sizeof(pthread_t));
    if (!pool) {
        snprintf(err, errlen, "pool: out of memory");
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (rc != 0) {
            snprintf(err, errlen, "pool: pthread_create: %s", strerror(rc));
            pool->n = i;
            gs_pool_free(pool, NULL);
            return NULL;
        }
    }
    pool->n = n;
    return pool;
}

int gs_pool_submit(gs_pool *pool, gs_pool_fn fn, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&pool->mu);
    if (pool->closing) {
        pthread_mutex_unlock(&pool->mu);
        free(j);
        return -1;
    }
    if (pool->tail)
        pool->tail->next = j;
    else
        pool->head = j;
    pool->tail = j;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

void gs_pool_free(gs_pool *pool, gs_pool_fn discard)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->closing = 1;
    job *pending = pool->head;
    pool->head = pool->tail = NULL;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    /* discard outside the lock: it may take other locks */
    while (pending) {
        job *next = pending->next;
        if (discard)
            discard(pending->arg);
        free(pending);
        pending = next;
    }
    for (int i = 0; i < pool->n; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool);
}

int gs_pool_size(const gs_pool *pool)
{
    return pool->n;
}
