/*
 * store_query.c — grokspicy.store, C API: events (append, read since, max id),
 * heartbeats, the sweep of dead runs (dead_runs, the one place that decides a
 * run is dead) and cancel requests.
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

/* ---------------------------------------------------------------- C API */

void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* created_at NULL: now. */
int append_event_at(gs_db *db, int64_t run_id, const char *type, const char *data_json, const char *html,
                    const char *created_at, int64_t *out_id, char *err, size_t n)
{
    const char *op = "append_event";
    if (!db || !type || !*type)
        return fail(err, n, "%s: an event needs a type", op);
    sqlite3_stmt *st = get_stmt(db, ST_EVENT_INSERT, op, err, n);
    if (!st)
        return -1;
    char now[32];
    if (created_at)
        snprintf(now, sizeof now, "%s", created_at);
    else
        gs_store_now_iso(now, sizeof now);
    if (run_id > 0)
        sqlite3_bind_int64(st, 1, run_id);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    bind_opt_text(st, 4, data_json);
    bind_opt_text(st, 5, html);
    if (step_write(db, st, op, err, n))
        return -1;
    int64_t id = sqlite3_last_insert_rowid(db->h);
    if (out_id)
        *out_id = id;
    return 0;
}

int gs_store_append_event(gs_db *db, int64_t run_id, const char *type, const char *data_json,
                          const char *html, int64_t *out_id, char *err, size_t n)
{
    return append_event_at(db, run_id, type, data_json, html, NULL, out_id, err, n);
}

int gs_store_events_since(gs_db *db, int64_t run_id, int64_t after_id, int limit,
                          gs_store_event_fn fn, void *ud, char *err, size_t n)
{
    const char *op = "events_since";
    sqlite3_stmt *st = get_stmt(db, run_id > 0 ? ST_EVENTS_RUN : ST_EVENTS_ALL, op, err, n);
    if (!st)
        return -1;
    if (run_id > 0)
        sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int(st, 3, limit < 0 ? 0 : limit);
    int count = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        count++;
        if (fn(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
               (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
               (const char *)sqlite3_column_text(st, 4), (const char *)sqlite3_column_text(st, 5))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? count : -1;
}

/* A cached one-row, one-integer query, with an optional integer parameter ?1. */
static int stmt_int(gs_db *db, int id, int bind, int64_t arg, int64_t *out, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = get_stmt(db, id, op, err, n);
    if (!st)
        return -1;
    if (bind)
        sqlite3_bind_int64(st, 1, arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        fail_db(db, err, n, op);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int gs_store_max_event_id(gs_db *db, int64_t run_id, int64_t *out, char *err, size_t n)
{
    return stmt_int(db, run_id > 0 ? ST_MAX_EVENT_RUN : ST_MAX_EVENT_ALL, run_id > 0, run_id, out,
                    "max_event_id", err, n);
}

int gs_store_data_version(gs_db *db, int64_t *out, char *err, size_t n)
{
    return stmt_int(db, ST_DATA_VERSION, 0, 0, out, "data_version", err, n);
}

int gs_store_heartbeat(gs_db *db, int64_t run_id, char *err, size_t n)
{
    const char *op = "heartbeat";
    sqlite3_stmt *st = get_stmt(db, ST_HEARTBEAT, op, err, n);
    if (!st)
        return -1;
    char now[32];
    gs_store_now_iso(now, sizeof now);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    bind_self_start(st, 4);
    if (step_write(db, st, op, err, n))
        return -1;
    int changed = sqlite3_changes(db->h) > 0;
    return changed;
}

/*
 * The one place that decides which runs are dead: those in a running status
 * whose recorded owner fails gs_owner_alive (the run's lock is free, or with no
 * lock file to ask, its pid is gone or now another process). A heartbeat's age
 * counts only for rows that name no owner start time (written before owners
 * were recorded): fresh means a heartbeat at or after cutoff. The ids go to
 * *ids (sqlite3_malloc'd, the caller frees); returns their count or -1.
 */
static int dead_runs(gs_db *db, const char *cutoff, int64_t **ids, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    *ids = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT id, owner_pid, owner_start, owner_lock, coalesce(heartbeat_at, '') >= ?1"
                                  " FROM runs WHERE status IN " RUNNING_STATUSES, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, "mark_interrupted");
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
    int count = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_type(st, 1) == SQLITE_INTEGER ? sqlite3_column_int64(st, 1) : 0;
        if (gs_owner_alive(pid, (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                           sqlite3_column_int(st, 4)))
            continue;
        if (count == cap) {
            int64_t *grown = sqlite3_realloc64(*ids, (sqlite3_uint64)(cap = cap ? cap * 2 : 8) * sizeof **ids);
            if (!grown) {
                rc = SQLITE_NOMEM;
                break;
            }
            *ids = grown;
        }
        (*ids)[count++] = sqlite3_column_int64(st, 0);
    }
    if (rc == SQLITE_NOMEM)
        fail(err, n, "mark_interrupted: out of memory");
    else if (rc != SQLITE_DONE)
        fail_db(db, err, n, "mark_interrupted");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? count : -1;
}

/* The last sign of life of a run's process: its heartbeat or the last event it
   wrote, whichever is later (the interrupted event itself excluded). */
#define LAST_SEEN "max(coalesce(heartbeat_at, started_at), coalesce((SELECT max(e.created_at) FROM events e" \
    " WHERE e.run_id = runs.id AND e.type <> " EV_INTERRUPTED "), started_at))"

int gs_store_mark_interrupted(gs_db *db, double stale_seconds, char *err, size_t n)
{
    const char *op = "mark_interrupted";
    char cutoff[32], now[32];
    iso_time(cutoff, sizeof cutoff, stale_seconds > 0 ? stale_seconds : STALE_DEFAULT);
    gs_store_now_iso(now, sizeof now);
    static const char reason[] = "interrupted: the process running it is gone";
    /* Look before taking the write lock: a dashboard calls this often, and
       nearly always there is nothing to mark. */
    int64_t *ids = NULL;
    int found = dead_runs(db, cutoff, &ids, err, n);
    sqlite3_free(ids);
    if (found <= 0)
        return found;
    int opened = op_begin(db, 1, op, err, n);
    if (opened < 0)
        return -1;
    /* Decide again under the write lock: a claim in between made a run live. */
    found = dead_runs(db, cutoff, &ids, err, n);
    sqlite3_stmt *ev = NULL, *upd = NULL;
    int count = found < 0 ? -1 : 0;
    if (found > 0) {
        /* One event per run, then its status change. The run ended when its
           process was last seen, not when someone noticed: that time is its
           completed_at and the event's last_seen (the run page's active time
           stops there). */
        if (sqlite3_prepare_v2(db->h, "INSERT INTO events (run_id, type, created_at, data)"
                               " SELECT id, " EV_INTERRUPTED ", ?2, json_object('status', " INTERRUPTED ", 'reason',"
                               " 'the process running it is gone', 'last_seen', " LAST_SEEN ") FROM runs WHERE id = ?1",
                               -1, &ev, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db->h, "UPDATE runs SET status = " INTERRUPTED ", updated_at = ?2,"
                                      " completed_at = coalesce(completed_at, " LAST_SEEN "), error = coalesce(error, ?3)"
                                      " WHERE id = ?1",
                               -1, &upd, NULL) == SQLITE_OK) {
            sqlite3_bind_text(ev, 2, now, -1, SQLITE_STATIC);
            sqlite3_bind_text(upd, 2, now, -1, SQLITE_STATIC);
            sqlite3_bind_text(upd, 3, reason, -1, SQLITE_STATIC);
            for (int i = 0; i < found && count >= 0; i++) {
                sqlite3_bind_int64(ev, 1, ids[i]);
                sqlite3_bind_int64(upd, 1, ids[i]);
                if (sqlite3_step(ev) == SQLITE_DONE && sqlite3_step(upd) == SQLITE_DONE)
                    count += sqlite3_changes(db->h);
                else
                    count = fail_db(db, err, n, op);
                sqlite3_reset(ev);
                sqlite3_reset(upd);
            }
        } else {
            count = fail_db(db, err, n, op);
        }
    }
    sqlite3_free(ids);
    sqlite3_finalize(ev);
    sqlite3_finalize(upd);
    return op_end(db, opened, count >= 0, op, err, n) ? -1 : count;
}

/* One bound write outside the statement cache; 1 when a row changed, 0 when none, -1 on error. */
int write_once(gs_db *db, const char *sql, int64_t run_id, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    char now[32];
    gs_store_now_iso(now, sizeof now);
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_int64(st, 3, (int64_t)getpid());
    int rc = step_write(db, st, op, err, n);
    int changed = rc == 0 ? sqlite3_changes(db->h) > 0 : -1;
    sqlite3_finalize(st);
    return changed;
}

int gs_store_request_cancel(gs_db *db, int64_t run_id, char *err, size_t n)
{
    /* A run whose process died cannot be asked to stop: it reads interrupted
       first (the store decides, for whoever asks, as a claim does). */
    if (gs_store_mark_interrupted(db, 0, err, n) < 0)
        return -1;
    return write_once(db, "UPDATE runs SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1 AND status IN "
                      RUNNING_STATUSES, run_id, "request_cancel", err, n);
}

int gs_store_cancel_requested(gs_db *db, int64_t run_id, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT cancel_requested FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, "cancel_requested");
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st), out = 0;
    if (rc == SQLITE_ROW)
        out = sqlite3_column_int(st, 0) != 0;
    else if (rc != SQLITE_DONE)
        out = fail_db(db, err, n, "cancel_requested");
    sqlite3_finalize(st);
    return out;
}
