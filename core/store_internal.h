/*
 * store_internal.h — shared by the store_*.c files only; not installed. The
 * connection object, the cached statement ids, the row specs the Lua API writes,
 * and the helpers one part of the store lends another. The short names are
 * macros for gs_si_* symbols, so nothing of these leaks into an embedder's
 * namespace under a common name.
 */
#ifndef GS_STORE_INTERNAL_H
#define GS_STORE_INTERNAL_H

#include <stdint.h>
#include <lua.h>
#include <sqlite3.h>

#include "gs_store.h"
#include "gs_vocab.h"

#define DB_MT "grokspicy.Db"
#define GS_XSTR(x) #x
#define GS_STR(x) GS_XSTR(x)
#define STALE_DEFAULT 60.0

enum {
    ST_BEGIN_IMM, ST_BEGIN_READ, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_EVENT_INSERT, ST_EVENTS_ALL, ST_EVENTS_RUN, ST_MAX_EVENT_ALL, ST_MAX_EVENT_RUN,
    ST_DATA_VERSION, ST_HEARTBEAT, ST_RUN_INSERT, ST_RUN_GET,
    ST_GET_CHARS, ST_GET_SCENES, ST_GET_CASSETS, ST_GET_KASSETS, ST_GET_VASSETS, ST_GET_TIMELINE,
    ST_LIST0, ST_LIST1, ST_LIST2, ST_LIST3, ST_COUNT0, ST_COUNT1, ST_COUNT2, ST_COUNT3,
    ST_LIST_UNENDED0, ST_LIST_UNENDED1, ST_COUNT_UNENDED0, ST_COUNT_UNENDED1,
    ST_UP_CHAR, ST_UP_SCENE, ST_UP_CASSET, ST_UP_KASSET, ST_UP_VASSET,
    ST_GET_FORKS, ST_CACHE_GET, ST_CACHE_PUT,
    ST_N
};
/* Fields of the rows the Lua API writes: name, kind, required, default. */
enum { F_STR, F_INT, F_NUM, F_JARR, F_JOBJ };
struct field {
    const char *name;
    unsigned char kind;
    unsigned char required;
    unsigned char key;    /* part of the upsert's conflict key */
    const char *dflt;     /* bound when the field is nil; NULL = SQL NULL */
};

struct rowspec {
    const char *op;
    const char *table;
    const char *what;     /* how errors name a row: "asset", "scenes" (array) */
    int stmt;
    const struct field *f;
    int nf;
};
/* A remembered count_runs result: valid while PRAGMA data_version (other
   connections' commits) and sqlite3_total_changes64 (this connection's writes)
   are unchanged. Filters longer than the buffers are never remembered. */
#define COUNT_MEMOS 4
struct count_memo {
    int used, filters; /* filters: 1 = status given, 2 = q given */
    int64_t data_version, changes, count;
    char status[16], q[64];
};

struct gs_db {
    sqlite3 *h;
    int depth;                  /* open transaction levels (BEGIN + savepoints) */
    sqlite3_stmt *st[ST_N];     /* cached, prepared on first use, SQLITE_PREPARE_PERSISTENT */
    sqlite3_stmt *tmp;          /* a one-off statement, finalized by abort_op on error */
    struct count_memo memo[COUNT_MEMOS]; /* count_runs results, see count_runs_body */
    unsigned memo_next;
    int fail_rc;                /* SQLite's code for this connection's last failure (see l_try) */
    char path[];
};
typedef struct {
    gs_db *db; /* NULL when closed: userdata are born closed */
} ldb;

static inline gs_db *arg_db(lua_State *L) { return ((ldb *)lua_touserdata(L, 1))->db; }

#define JSON_UV lua_upvalueindex(1) /* a private cjson instance, upvalue of every function */

#define get_stmt gs_si_get_stmt
#define tx_commit gs_si_tx_commit
#define tx_begin gs_si_tx_begin
#define raise_msg gs_si_raise_msg
#define raise_db gs_si_raise_db
#define push_rows gs_si_push_rows
#define push_run_found gs_si_push_run_found
#define op_end gs_si_op_end
#define op_begin gs_si_op_begin
#define guarded gs_si_guarded
#define fail gs_si_fail
#define fail_db gs_si_fail_db
#define check_open gs_si_check_open
#define step_write gs_si_step_write
#define query_int gs_si_query_int
#define abort_op gs_si_abort_op
#define write_once gs_si_write_once
#define push_row gs_si_push_row
#define push_ledger gs_si_push_ledger
#define push_json gs_si_push_json
#define push_field gs_si_push_field
#define iso_time gs_si_iso_time
#define exec gs_si_exec
#define bind_self_start gs_si_bind_self_start
#define bind_opt_text gs_si_bind_opt_text
#define bind_field gs_si_bind_field
#define append_event_at gs_si_append_event_at
#define ledger_ensure gs_si_ledger_ensure
#define valid_status gs_si_valid_status
#define spec_casset gs_si_spec_casset
#define spec_chars gs_si_spec_chars
#define spec_kasset gs_si_spec_kasset
#define spec_scenes gs_si_spec_scenes
#define spec_vasset gs_si_spec_vasset
#define spec_cache gs_si_spec_cache
#define fail_code gs_si_fail_code
#define l_try gs_si_l_try
#define l_adopt_run gs_si_l_adopt_run
#define l_append_event gs_si_l_append_event
#define l_busy_timeout gs_si_l_busy_timeout
#define l_cancel_requested gs_si_l_cancel_requested
#define l_claim_run gs_si_l_claim_run
#define l_close gs_si_l_close
#define l_count_runs gs_si_l_count_runs
#define l_data_version gs_si_l_data_version
#define l_events_since gs_si_l_events_since
#define l_get_run gs_si_l_get_run
#define l_heartbeat gs_si_l_heartbeat
#define l_init_db gs_si_l_init_db
#define l_insert_run gs_si_l_insert_run
#define l_integrity_check gs_si_l_integrity_check
#define l_list_runs gs_si_l_list_runs
#define l_mark_interrupted gs_si_l_mark_interrupted
#define l_max_event_id gs_si_l_max_event_id
#define l_monotonic gs_si_l_monotonic
#define l_now gs_si_l_now
#define l_own_run gs_si_l_own_run
#define l_owner_fd gs_si_l_owner_fd
#define l_owner_identity gs_si_l_owner_identity
#define l_record_charge gs_si_l_record_charge
#define l_release_run gs_si_l_release_run
#define l_request_cancel gs_si_l_request_cancel
#define l_tostring gs_si_l_tostring
#define l_transaction gs_si_l_transaction
#define l_update_run gs_si_l_update_run

sqlite3_stmt *get_stmt(gs_db *db, int id, const char *op, char *err, size_t n);
int tx_commit(gs_db *db, const char *op, char *err, size_t n);
int tx_begin(gs_db *db, int immediate, const char *op, char *err, size_t n);
int raise_msg(lua_State *L, gs_db *db, int depth, const char *msg);
int raise_db(lua_State *L, gs_db *db, int depth, const char *op);
int push_rows(lua_State *L, sqlite3_stmt *st);
/* true, or nil, "run N not found", "notfound" when found is 0: what a run's writers answer. */
int push_run_found(lua_State *L, int found, lua_Integer run_id);
int op_end(gs_db *db, int opened, int ok, const char *op, char *err, size_t n);
int op_begin(gs_db *db, int multi, const char *op, char *err, size_t n);
int guarded(lua_State *L, lua_CFunction body);
int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail_db(gs_db *db, char *err, size_t n, const char *op);
const char *fail_code(int rc); /* the stable code of a SQLite failure, or NULL */
gs_db *check_open(lua_State *L, int idx);
int step_write(gs_db *db, sqlite3_stmt *st, const char *op, char *err, size_t n);
int64_t query_int(gs_db *db, const char *sql, const char *arg, int *ok);
void abort_op(gs_db *db, int depth);
int write_once(gs_db *db, const char *sql, int64_t run_id, const char *op, char *err, size_t n);
void push_row(lua_State *L, sqlite3_stmt *st);
void push_ledger(lua_State *L, gs_db *db, int depth, lua_Integer run_id);
const char *push_json(lua_State *L, int idx, int as_array, const char *op, const char *what);
void push_field(lua_State *L, int row, const struct field *f, const char *op, const char *label);
void iso_time(char *buf, size_t len, double seconds_ago);
int exec(gs_db *db, const char *sql, const char *op, char *err, size_t n);
void bind_self_start(sqlite3_stmt *st, int i);
void bind_opt_text(sqlite3_stmt *st, int i, const char *s);
void bind_field(lua_State *L, sqlite3_stmt *st, int param, int idx, const struct field *f);
int append_event_at(gs_db *db, int64_t run_id, const char *type, const char *data_json, const char *html,
                    const char *created_at, int64_t *out_id, char *err, size_t n);
int ledger_ensure(gs_db *db, char *err, size_t n);
int valid_status(const char *s);
extern const struct rowspec spec_casset;
extern const struct rowspec spec_chars;
extern const struct rowspec spec_kasset;
extern const struct rowspec spec_scenes;
extern const struct rowspec spec_vasset;
extern const struct rowspec spec_cache;
extern const char *const statuses[];
/* Statuses and event types come from gs_vocab.h. */
#define RUNNING_STATUSES GS_VOCAB_SQL_LIST(GS_STATUSES_RUNNING)
#define PENDING GS_VOCAB_SQL(GS_ST_PENDING)
#define INTERRUPTED GS_VOCAB_SQL(GS_ST_INTERRUPTED)
#define EV_INTERRUPTED GS_VOCAB_SQL(GS_EV_INTERRUPTED)

int luaopen_grokspicy_core_store(lua_State *L);
int l_adopt_run(lua_State *L);
int l_append_event(lua_State *L);
int l_busy_timeout(lua_State *L);
int l_cancel_requested(lua_State *L);
int l_claim_run(lua_State *L);
int l_close(lua_State *L);
int l_count_runs(lua_State *L);
int l_data_version(lua_State *L);
int l_events_since(lua_State *L);
int l_get_run(lua_State *L);
int l_heartbeat(lua_State *L);
int l_init_db(lua_State *L);
int l_insert_run(lua_State *L);
int l_integrity_check(lua_State *L);
int l_list_runs(lua_State *L);
int l_mark_interrupted(lua_State *L);
int l_max_event_id(lua_State *L);
int l_monotonic(lua_State *L);
int l_now(lua_State *L);
int l_own_run(lua_State *L);
int l_owner_fd(lua_State *L);
int l_owner_identity(lua_State *L);
int l_record_charge(lua_State *L);
int l_release_run(lua_State *L);
int l_request_cancel(lua_State *L);
int l_tostring(lua_State *L);
int l_transaction(lua_State *L);
int l_try(lua_State *L);
int l_update_run(lua_State *L);

#endif
