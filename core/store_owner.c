/*
 * store_owner.c — grokspicy.store, C API: who owns a run (claim, adopt, own),
 * each decided in one transaction against the run lock files (gs_owner.h).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "gs_owner.h"
#include "store_internal.h"

/* ---------------------------------------------------------------- run owners */

static const char *const claim_reasons[] = {
    [GS_CLAIM_MISSING] = "missing", [GS_CLAIM_COMPLETE] = "complete", [GS_CLAIM_RUNNING] = "running",
    [GS_CLAIM_NOT_RESUMABLE] = "not_resumable", [GS_CLAIM_GONE] = "gone", [GS_CLAIM_HELD] = "held",
    [GS_CLAIM_NOT_HANDED] = "not_handed",
};

const char *gs_store_claim_reason(int why)
{
    if (why > 0 && why < (int)(sizeof claim_reasons / sizeof claim_reasons[0]) && claim_reasons[why])
        return claim_reasons[why];
    return "unknown";
}

/* Binds this process's identity (gs_owner_identity) at i, NULL when unknown. */
void bind_self_start(sqlite3_stmt *st, int i)
{
    char id[GS_OWNER_IDLEN];
    if (gs_owner_identity(getpid(), id, sizeof id) == 0)
        sqlite3_bind_text(st, i, id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* One text column of run_id's row (sql selects it, ?1 = run_id) into buf: ""
 * when there is no such run or the column is NULL; 0 or -1. */
static int run_text(gs_db *db, const char *sql, int64_t run_id, char *buf, size_t len, const char *op, char *err,
                    size_t n)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The status of run_id into buf ("" when there is no such run); 0 or -1. */
static int run_status(gs_db *db, int64_t run_id, char *buf, size_t len, const char *op, char *err, size_t n)
{
    return run_text(db, "SELECT status FROM runs WHERE id = ?1", run_id, buf, len, op, err, n);
}

/* The recorded lock file of run_id into buf ("" when none); 0 or -1. */
static int run_lock(gs_db *db, int64_t run_id, char *buf, size_t len, const char *op, char *err, size_t n)
{
    return run_text(db, "SELECT owner_lock FROM runs WHERE id = ?1", run_id, buf, len, op, err, n);
}

/* Why a run in status s cannot be claimed (0: it can). */
static int refusal_of(const char *s)
{
    if (!*s)
        return GS_CLAIM_MISSING;
    if (strcmp(s, GS_VOCAB_STR(GS_ST_COMPLETE)) == 0)
        return GS_CLAIM_COMPLETE;
    if (gs_status_resumable(s) || gs_status_waiting(s))
        return 0;
    return valid_status(s) ? GS_CLAIM_RUNNING : GS_CLAIM_NOT_RESUMABLE;
}

/* Makes this process the recorded owner of run_id: pid, identity, and (when
   lock is not NULL) the lock file; with claim also the fresh state of a resumed
   run. Only where the row is in one of the statuses of cond. 1, 0 or -1. */
static int set_owner(gs_db *db, int64_t run_id, const char *lock, int claim, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    const char *sql = claim ? "UPDATE runs SET status = " PENDING ", owner_pid = ?3, owner_start = ?4, owner_lock = ?5,"
                              " heartbeat_at = ?2, updated_at = ?2, cancel_requested = 0, error = NULL,"
                              " completed_at = NULL, final_video_path = NULL"
                              " WHERE id = ?1 AND status IN " GS_VOCAB_SQL_LIST(GS_STATUSES_CLAIMABLE)
                            : "UPDATE runs SET owner_pid = ?3, owner_start = ?4, owner_lock = coalesce(?5, owner_lock),"
                              " heartbeat_at = ?2 WHERE id = ?1 AND status IN " RUNNING_STATUSES;
    char now[32];
    gs_store_now_iso(now, sizeof now);
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    bind_self_start(st, 4);
    if (lock && *lock)
        sqlite3_bind_text(st, 5, lock, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? sqlite3_changes(db->h) > 0 : fail_db(db, err, n, op);
    sqlite3_finalize(st);
    return out;
}

/* Body of gs_store_claim_run inside its transaction; *locked says whether it took the lock. */
static int claim_in_tx(gs_db *db, int64_t run_id, const char *lock_path, int *why, int *locked, char *err, size_t n)
{
    const char *op = "claim_run";
    char status[32], lock[PATH_MAX] = "";
    /* A run whose owner died reads interrupted first: the same test as every sweep. */
    if (gs_store_mark_interrupted(db, 0, err, n) < 0 || run_status(db, run_id, status, sizeof status, op, err, n))
        return -1;
    if ((*why = refusal_of(status)))
        return 0;
    if (lock_path) {
        int rc = gs_owner_take(run_id, lock_path, 0, lock, sizeof lock, err, n);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            *why = rc == GS_OWNER_GONE ? GS_CLAIM_GONE : GS_CLAIM_HELD;
            return 0;
        }
        *locked = 1;
    }
    int rc = set_owner(db, run_id, lock, 1, op, err, n);
    if (rc == 0)
        *why = GS_CLAIM_NOT_RESUMABLE;
    return rc;
}

/* Runs body in one BEGIN IMMEDIATE (never inside the caller's transaction: a
   lock taken inside one that rolls back later would outlive its record). A
   refusal commits what the sweep marked; a lock taken by a claim that did not
   commit is let go. */
static int owner_tx(gs_db *db, int64_t run_id, const char *op, int *why, char *err, size_t n,
                    int (*body)(gs_db *, int64_t, const void *, int *, int *, char *, size_t), const void *arg)
{
    int dummy = 0, locked = 0;
    if (!why)
        why = &dummy;
    *why = 0;
    if (db->depth)
        return fail(err, n, "%s: cannot run inside a transaction", op);
    if (tx_begin(db, 1, op, err, n))
        return -1;
    int rc = body(db, run_id, arg, why, &locked, err, n);
    if (rc < 0) {
        gs_store_rollback(db);
    } else if (tx_commit(db, op, err, n)) {
        gs_store_rollback(db);
        rc = -1;
    }
    if (rc != 1 && locked)
        gs_owner_release(run_id);
    return rc;
}

static int claim_body(gs_db *db, int64_t run_id, const void *arg, int *why, int *locked, char *err, size_t n)
{
    return claim_in_tx(db, run_id, arg, why, locked, err, n);
}

int gs_store_claim_run(gs_db *db, int64_t run_id, const char *lock_path, int *why, char *err, size_t n)
{
    return owner_tx(db, run_id, "claim_run", why, err, n, claim_body, lock_path);
}

static int adopt_body(gs_db *db, int64_t run_id, const void *arg, int *why, int *locked, char *err, size_t n)
{
    const char *op = "adopt_run";
    int fd = *(const int *)arg;
    char status[32], lock[PATH_MAX];
    if (run_status(db, run_id, status, sizeof status, op, err, n) || run_lock(db, run_id, lock, sizeof lock, op, err, n))
        return -1;
    *why = refusal_of(status);
    if (*why == GS_CLAIM_RUNNING && strcmp(status, GS_VOCAB_STR(GS_ST_PENDING)) == 0)
        *why = 0; /* claimed and not started: what a hand-over looks like */
    else if (*why == 0)
        *why = GS_CLAIM_NOT_HANDED; /* stopped short, not claimed for us */
    if (*why == 0 && !*lock)
        *why = GS_CLAIM_NOT_HANDED;
    if (*why)
        return 0;
    int rc = gs_owner_adopt(run_id, fd, lock, err, n);
    if (rc > 0) {
        *why = rc == GS_OWNER_GONE ? GS_CLAIM_GONE : GS_CLAIM_HELD;
        return 0;
    }
    if (rc < 0) {
        *why = GS_CLAIM_NOT_HANDED; /* err says which descriptor is not which lock */
        return 0;
    }
    *locked = 1;
    return set_owner(db, run_id, NULL, 0, op, err, n);
}

int gs_store_adopt_run(gs_db *db, int64_t run_id, int fd, int *why, char *err, size_t n)
{
    return owner_tx(db, run_id, "adopt_run", why, err, n, adopt_body, &fd);
}

static int own_body(gs_db *db, int64_t run_id, const void *arg, int *why, int *locked, char *err, size_t n)
{
    const char *op = "own_run";
    char lock[PATH_MAX];
    int rc = gs_owner_take(run_id, arg, 1, lock, sizeof lock, err, n);
    if (rc == GS_OWNER_HELD)
        return fail(err, n, "%s: run %lld: another process holds %s", op, (long long)run_id, (const char *)arg);
    if (rc)
        return rc < 0 ? -1 : fail(err, n, "%s: run %lld: cannot create %s", op, (long long)run_id, (const char *)arg);
    *locked = 1;
    rc = set_owner(db, run_id, lock, 0, op, err, n);
    if (rc == 0)
        *why = GS_CLAIM_NOT_RESUMABLE;
    return rc;
}

int gs_store_own_run(gs_db *db, int64_t run_id, const char *lock_path, char *err, size_t n)
{
    return owner_tx(db, run_id, "own_run", NULL, err, n, own_body, lock_path);
}
