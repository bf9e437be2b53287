/*
 * gs_store.h — the C API of the grok-spicy store (SQLite): the events log and the
 * bits a server or another host needs without a Lua state. The full run/asset API
 * is the Lua module grokspicy.store (core/store*.c).
 *
 * Threads: a gs_db is one SQLite connection; use it from one thread at a time
 * (open one per thread). Errors: functions returning int give 0 on success and -1
 * on failure with a message "operation: detail" written to err (errlen bytes;
 * err may be NULL). GS_STORE_ERRLEN is a comfortable size for err buffers.
 */
#ifndef GS_STORE_H
#define GS_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_STORE_SCHEMA_VERSION 5
#define GS_STORE_ERRLEN 512

typedef struct gs_db gs_db;
struct sqlite3;

/*
 * Opens (creating it and its parent folders) the database at path, enables WAL,
 * busy_timeout 10 s, foreign keys and synchronous=NORMAL, and creates or migrates
 * the schema to GS_STORE_SCHEMA_VERSION. Refuses files written by a newer schema
 * and files that are not SQLite databases. Returns NULL with err set on failure.
 */
gs_db *gs_store_open(const char *path, char *err, size_t errlen);

/* Limits this connection's page cache to kb KiB (PRAGMA cache_size = -kb;
   SQLite's default is 2,000 KiB). For long-lived readers that only touch a few
   hot pages: the memory otherwise stays with the connection once a scan fills it. */
int gs_store_cache_kb(gs_db *db, int kb, char *err, size_t errlen);

/* Closes the connection (rolling back an open transaction). NULL is a no-op. */
void gs_store_close(gs_db *db);

/* The underlying SQLite connection, for tests and advanced hosts. */
struct sqlite3 *gs_store_handle(gs_db *db);

/*
 * Explicit transactions. The outermost begin is BEGIN IMMEDIATE; nested begins are
 * savepoints. Store writes made in between join the caller's transaction.
 * gs_store_rollback undoes the innermost level; it never fails.
 */
int gs_store_begin(gs_db *db, char *err, size_t errlen);
int gs_store_commit(gs_db *db, char *err, size_t errlen);
void gs_store_rollback(gs_db *db);
/* Current nesting depth of explicit transactions (0 = none). */
int gs_store_depth(gs_db *db);

/*
 * Appends one row to the events log, in its own BEGIN IMMEDIATE transaction unless
 * the caller has one open. run_id <= 0 stores NULL (an event for no run); data_json
 * and html may be NULL. The new event id (the SSE id) goes to *out_id if not NULL.
 */
int gs_store_append_event(gs_db *db, int64_t run_id, const char *type, const char *data_json,
                          const char *html, int64_t *out_id, char *err, size_t errlen);

/*
 * Called once per event in id order; data and html may be NULL. Pointers are valid
 * only during the call. Return non-zero to stop early.
 */
typedef int (*gs_store_event_fn)(void *ud, int64_t id, int64_t run_id, const char *type,
                                 const char *created_at, const char *data, const char *html);

/*
 * Delivers up to limit events with id > after_id (run_id 0 = every run) to fn.
 * Returns the number delivered, or -1 with err set.
 */
int gs_store_events_since(gs_db *db, int64_t run_id, int64_t after_id, int limit,
                          gs_store_event_fn fn, void *ud, char *err, size_t errlen);

/* The highest event id (of run_id, or of all runs when run_id is 0); 0 when none. */
int gs_store_max_event_id(gs_db *db, int64_t run_id, int64_t *out, char *err, size_t errlen);

/*
 * PRAGMA data_version: changes whenever another connection (any process) commits.
 * A dashboard polls it to notice new events without querying the events table.
 */
int gs_store_data_version(gs_db *db, int64_t *out, char *err, size_t errlen);

/* Sets heartbeat_at = now and owner_pid, owner_start = this process on a run. Returns 1, 0 if no such run, -1 on error. */
int gs_store_heartbeat(gs_db *db, int64_t run_id, char *err, size_t errlen);

/*
 * Marks as 'interrupted' every run in a running status (pending .. assembly) whose
 * owner is gone, and appends an "interrupted" event per run. Returns the count or
 * -1. This is the one test of a run's death (every sweep and claim goes through
 * it; see gs_owner.h): the run's lock file is free, or, when it names no lock
 * file that can be opened, its owner pid is gone or now another process (start
 * time). A heartbeat's age never decides alone: it counts (older than
 * stale_seconds, <= 0 means 60) only for rows that record no owner start time,
 * written before owners were recorded.
 */
int gs_store_mark_interrupted(gs_db *db, double stale_seconds, char *err, size_t errlen);

/* Asks a running run to stop (runs.cancel_requested = 1): 1 done, 0 when the
 * run is missing or not running (a run whose owner is gone is marked
 * interrupted first: gs_store_mark_interrupted), -1 on error. The run's own process polls
 * gs_store_cancel_requested (1 asked, 0 not, -1 error) at its safe points. */
int gs_store_request_cancel(gs_db *db, int64_t run_id, char *err, size_t errlen);
int gs_store_cancel_requested(gs_db *db, int64_t run_id, char *err, size_t errlen);

/* Why a claim was refused (gs_store_claim_reason names them for Lua). */
enum {
    GS_CLAIM_MISSING = 1,   /* no such run */
    GS_CLAIM_COMPLETE,      /* it finished: nothing to resume */
    GS_CLAIM_RUNNING,       /* its owner is alive */
    GS_CLAIM_NOT_RESUMABLE, /* another status (or it changed meanwhile) */
    GS_CLAIM_GONE,          /* its folder (where the lock lives) was deleted */
    GS_CLAIM_HELD,          /* another live process holds its lock */
    GS_CLAIM_NOT_HANDED,    /* adopt: the run was not claimed for this process */
};
const char *gs_store_claim_reason(int why);

/*
 * The money ledger: one row per billed request of a run, keyed by request_id.
 * A new charge is inserted (a replay of one already recorded changes nothing);
 * an update settles or amends the row under request_id (ticks or estimated
 * < 0 keep what is recorded; inserted when no row is there). runs.cost_usd is
 * then the ledger's sum. One transaction (or a savepoint in the caller's).
 */
typedef struct gs_store_charge {
    const char *step, *asset;       /* "generate_scene_video", "scene:2:clip" */
    const char *endpoint, *model, *request_id;
    const char *outcome, *detail;   /* detail may be NULL */
    int64_t ticks;                  /* 1 USD = 10^10 */
    int estimated;
    int update;
} gs_store_charge;

int gs_store_record_charge(gs_db *db, int64_t run_id, const gs_store_charge *c, char *err, size_t errlen);

/*
 * Makes this process the owner of a failed, interrupted or cancelled run again
 * (status pending, cancel request and error cleared), atomically: in one
 * BEGIN IMMEDIATE it marks dead runs interrupted, checks the status, takes the
 * run's lock at lock_path (its folder must exist) and records pid, start time
 * and lock. Two claimers cannot both win, and a live owner (even a stopped one)
 * is never taken over. lock_path NULL records no lock (pid and start time only).
 * 1 claimed (the lock is held until gs_owner_release or exit), 0 refused with
 * *why set (why may be NULL), -1 on error. Not inside a transaction.
 */
int gs_store_claim_run(gs_db *db, int64_t run_id, const char *lock_path, int *why, char *err, size_t errlen);

/*
 * The hand-over of a claim: a process spawned by the claimer inherited fd, an
 * open description of the run's lock that holds it. Checks that the run is
 * claimed and not started (pending), that fd is its recorded lock file, and
 * that no other process holds the lock; then records this process as the
 * owner and keeps fd (close-on-exec). 1, 0 with *why, or -1.
 */
int gs_store_adopt_run(gs_db *db, int64_t run_id, int fd, int *why, char *err, size_t errlen);

/*
 * For a run this process just started: creates the run's folder and its lock
 * at lock_path, takes the lock and records it with pid and start time. 1, 0
 * when the run is not running, -1 with err (another process holds the lock).
 */
int gs_store_own_run(gs_db *db, int64_t run_id, const char *lock_path, char *err, size_t errlen);

/* Now as ISO-8601 UTC with milliseconds, "2026-11-26T09:15:02.123Z" (buf >= 32 bytes). */
void gs_store_now_iso(char *buf, size_t len);

/* Seconds from CLOCK_MONOTONIC, for measuring durations. */
double gs_store_monotonic(void);

#ifdef __cplusplus
}
#endif

#endif
