/*
 * store.c — grokspicy.store: the SQLite store. Owns the schema, its migrations,
 * every SQL statement of the product, and the "grokspicy.Db" userdata. Never
 * touches files other than the database and the run lock files (through
 * gs_owner.h: a run's owner is decided here, in dead_runs, and nowhere else),
 * and never talks HTTP or the bus.
 *
 * Transactions: writes run in BEGIN IMMEDIATE (or join the caller's transaction,
 * as a savepoint when they write several rows). Lua entry points validate their
 * arguments first, then run their body through guarded(), which on any error
 * resets the cached statements and rolls back what the call opened before the
 * error goes on to the caller: no transaction is ever left open by a raise.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "gs_owner.h"
#include "gs_store.h"
#include "gs_vocab.h"

int luaopen_grokspicy_store(lua_State *L);

/* The money ledger has sections of its own ("ledger", "ledger (Lua)"). */
static int ledger_ensure(gs_db *db, char *err, size_t n);
static void push_ledger(lua_State *L, gs_db *db, int depth, lua_Integer run_id);

#define DB_MT "grokspicy.Db"
#define GS_XSTR(x) #x
#define GS_STR(x) GS_XSTR(x)
#define STALE_DEFAULT 60.0

/* ---------------------------------------------------------------- schema */

struct table_def {
    const char *name;
    const char *body;
    const char *unique; /* the upsert key, NULL for runs */
};

/* Schema 4: the card's tables + the columns, keys and cascades the product needs
 * (3 adds runs.cancel_requested: a dashboard in another process asks a run to stop;
 * 4 adds runs.owner_start and owner_lock: who owns a run, see gs_owner.h). */
static const struct table_def tables[] = {
    {"runs",
     "id INTEGER PRIMARY KEY AUTOINCREMENT, concept TEXT NOT NULL, title TEXT, style TEXT,"
     " aspect_ratio TEXT, color_palette TEXT, status TEXT NOT NULL DEFAULT " GS_VOCAB_SQL(GS_ST_PENDING) ","
     " script_path TEXT, final_video_path TEXT, started_at TEXT NOT NULL, completed_at TEXT,"
     " error TEXT, cost_usd REAL NOT NULL DEFAULT 0, updated_at TEXT, owner_pid INTEGER,"
     " heartbeat_at TEXT, provider TEXT, plan_json TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,"
     " owner_start TEXT, owner_lock TEXT",
     NULL},
    {"characters",
     "id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL, role TEXT NOT NULL, visual_description TEXT NOT NULL,"
     " personality_cues TEXT NOT NULL, UNIQUE (run_id, name)",
     "run_id, name"},
    {"scenes",
     "id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     " scene_id INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,"
     " characters_present TEXT NOT NULL, setting TEXT NOT NULL, camera TEXT NOT NULL,"
     " mood TEXT NOT NULL, action TEXT NOT NULL, duration_seconds INTEGER NOT NULL,"
     " transition TEXT NOT NULL DEFAULT 'cut', UNIQUE (run_id, scene_id)",
     "run_id, scene_id"},
    {"character_assets",
     "id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL, portrait_url TEXT NOT NULL, portrait_path TEXT NOT NULL,"
     " visual_description TEXT NOT NULL, consistency_score REAL NOT NULL,"
     " generation_attempts INTEGER NOT NULL, cost_usd REAL NOT NULL DEFAULT 0, note TEXT,"
     " UNIQUE (run_id, name)",
     "run_id, name"},
    {"keyframe_assets",
     "id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     " scene_id INTEGER NOT NULL, keyframe_url TEXT NOT NULL, keyframe_path TEXT NOT NULL,"
     " consistency_score REAL NOT NULL, generation_attempts INTEGER NOT NULL,"
     " edit_passes INTEGER NOT NULL, video_prompt TEXT NOT NULL,"
     " cost_usd REAL NOT NULL DEFAULT 0, note TEXT, UNIQUE (run_id, scene_id)",
     "run_id, scene_id"},
    {"video_assets",
     "id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     " scene_id INTEGER NOT NULL, video_url TEXT NOT NULL, video_path TEXT NOT NULL,"
     " duration REAL NOT NULL, first_frame_path TEXT NOT NULL, last_frame_path TEXT NOT NULL,"
     " consistency_score REAL NOT NULL, correction_passes INTEGER NOT NULL,"
     " cost_usd REAL NOT NULL DEFAULT 0, note TEXT, UNIQUE (run_id, scene_id)",
     "run_id, scene_id"},
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* New in schema 2 besides the table rebuilds. */
static const char schema2_extras[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,"
    " type TEXT NOT NULL, created_at TEXT NOT NULL, data TEXT, html TEXT);"
    "CREATE INDEX IF NOT EXISTS events_run_id ON events(run_id, id);"
    "CREATE INDEX IF NOT EXISTS runs_status_id ON runs(status, id);";

/* Schema 2 -> 3. */
static const char schema3_alter[] = "ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0";

/* Schema 3 -> 4: the owner's start time and lock file (tables made at 0 or
   rebuilt from 1 already have them). */
static const char *const schema4_columns[][2] = {{"owner_start", "TEXT"}, {"owner_lock", "TEXT"}};

/* Statuses and event types come from gs_vocab.h. */
#define RUNNING_STATUSES GS_VOCAB_SQL_LIST(GS_STATUSES_RUNNING)
#define PENDING GS_VOCAB_SQL(GS_ST_PENDING)
#define INTERRUPTED GS_VOCAB_SQL(GS_ST_INTERRUPTED)
#define EV_INTERRUPTED GS_VOCAB_SQL(GS_EV_INTERRUPTED)

/* ---------------------------------------------------------------- statements */

enum {
    ST_BEGIN_IMM, ST_BEGIN_READ, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,
    ST_EVENT_INSERT, ST_EVENTS_ALL, ST_EVENTS_RUN, ST_MAX_EVENT_ALL, ST_MAX_EVENT_RUN,
    ST_DATA_VERSION, ST_HEARTBEAT, ST_RUN_INSERT, ST_RUN_GET,
    ST_GET_CHARS, ST_GET_SCENES, ST_GET_CASSETS, ST_GET_KASSETS, ST_GET_VASSETS, ST_GET_TIMELINE,
    ST_LIST0, ST_LIST1, ST_LIST2, ST_LIST3, ST_COUNT0, ST_COUNT1, ST_COUNT2, ST_COUNT3,
    ST_UP_CHAR, ST_UP_SCENE, ST_UP_CASSET, ST_UP_KASSET, ST_UP_VASSET,
    ST_N
};

#define RUN_SUMMARY "id, concept, title, style, aspect_ratio, color_palette, status, script_path," \
    " final_video_path, started_at, completed_at, error, cost_usd, updated_at, owner_pid," \
    " heartbeat_at, provider"
#define W_STATUS " WHERE status = ?1"
/* q is a plain substring: LIKE's %, _ and the escape char itself are escaped. */
#define PAT "'%' || replace(replace(replace(?2, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%' ESCAPE '\\'"
#define Q_MATCH "(concept LIKE " PAT " OR title LIKE " PAT ")"
#define W_Q " WHERE " Q_MATCH
#define W_BOTH W_STATUS " AND " Q_MATCH
#define LIST(w) "SELECT " RUN_SUMMARY " FROM runs" w " ORDER BY id DESC LIMIT ?3 OFFSET ?4"
#define COUNT(w) "SELECT count(*) FROM runs" w

/* NULL entries are generated from their row spec (the upserts). */
static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN_IMM] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT gs_sp",
    [ST_RELEASE] = "RELEASE gs_sp",
    [ST_ROLLBACK_TO] = "ROLLBACK TO gs_sp",
    [ST_EVENT_INSERT] = "INSERT INTO events (run_id, type, created_at, data, html) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_EVENTS_ALL] = "SELECT id, run_id, type, created_at, data, html FROM events"
                      " WHERE id > ?2 ORDER BY id LIMIT ?3",
    [ST_EVENTS_RUN] = "SELECT id, run_id, type, created_at, data, html FROM events"
                      " WHERE run_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [ST_MAX_EVENT_ALL] = "SELECT coalesce(max(id), 0) FROM events",
    [ST_MAX_EVENT_RUN] = "SELECT coalesce(max(id), 0) FROM events WHERE run_id = ?1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_HEARTBEAT] = "UPDATE runs SET heartbeat_at = ?2, owner_pid = ?3, owner_start = ?4 WHERE id = ?1",
    [ST_RUN_INSERT] = "INSERT INTO runs (concept, status, started_at, updated_at, owner_pid, heartbeat_at, owner_start)"
                      " VALUES (?1, " PENDING ", ?2, ?2, ?3, ?2, ?4)",
    [ST_RUN_GET] = "SELECT * FROM runs WHERE id = ?1",
    [ST_GET_CHARS] = "SELECT * FROM characters WHERE run_id = ?1 ORDER BY name",
    [ST_GET_SCENES] = "SELECT * FROM scenes WHERE run_id = ?1 ORDER BY scene_id",
    [ST_GET_CASSETS] = "SELECT * FROM character_assets WHERE run_id = ?1 ORDER BY name",
    [ST_GET_KASSETS] = "SELECT * FROM keyframe_assets WHERE run_id = ?1 ORDER BY scene_id",
    [ST_GET_VASSETS] = "SELECT * FROM video_assets WHERE run_id = ?1 ORDER BY scene_id",
    /* What happened to a run, without the fragments: the run page derives its
       step states and its active time from it ("run" events only repeat the status). */
    [ST_GET_TIMELINE] = "SELECT id, type, created_at, data FROM events WHERE run_id = ?1 AND type <> " GS_VOCAB_SQL(GS_EV_RUN) " ORDER BY id",
    [ST_LIST0] = LIST(""), [ST_LIST1] = LIST(W_STATUS), [ST_LIST2] = LIST(W_Q), [ST_LIST3] = LIST(W_BOTH),
    [ST_COUNT0] = COUNT(""), [ST_COUNT1] = COUNT(W_STATUS), [ST_COUNT2] = COUNT(W_Q),
    [ST_COUNT3] = COUNT(W_BOTH),
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

static const struct field character_fields[] = {
    {"name", F_STR, 1, 1, NULL}, {"role", F_STR, 1, 0, NULL},
    {"visual_description", F_STR, 1, 0, NULL}, {"personality_cues", F_JARR, 0, 0, "[]"},
};
static const struct field scene_fields[] = {
    {"scene_id", F_INT, 1, 1, NULL}, {"title", F_STR, 1, 0, NULL},
    {"description", F_STR, 1, 0, NULL}, {"characters_present", F_JARR, 0, 0, "[]"},
    {"setting", F_STR, 1, 0, NULL}, {"camera", F_STR, 1, 0, NULL}, {"mood", F_STR, 1, 0, NULL},
    {"action", F_STR, 1, 0, NULL}, {"duration_seconds", F_INT, 0, 0, "8"},
    {"transition", F_STR, 0, 0, "cut"},
};
static const struct field casset_fields[] = {
    {"name", F_STR, 1, 1, NULL}, {"portrait_url", F_STR, 1, 0, NULL},
    {"portrait_path", F_STR, 1, 0, NULL}, {"visual_description", F_STR, 1, 0, NULL},
    {"consistency_score", F_NUM, 1, 0, NULL}, {"generation_attempts", F_INT, 1, 0, NULL},
    {"cost_usd", F_NUM, 0, 0, "0"}, {"note", F_STR, 0, 0, NULL},
};
static const struct field kasset_fields[] = {
    {"scene_id", F_INT, 1, 1, NULL}, {"keyframe_url", F_STR, 1, 0, NULL},
    {"keyframe_path", F_STR, 1, 0, NULL}, {"consistency_score", F_NUM, 1, 0, NULL},
    {"generation_attempts", F_INT, 1, 0, NULL}, {"edit_passes", F_INT, 1, 0, NULL},
    {"video_prompt", F_STR, 1, 0, NULL}, {"cost_usd", F_NUM, 0, 0, "0"}, {"note", F_STR, 0, 0, NULL},
};
static const struct field vasset_fields[] = {
    {"scene_id", F_INT, 1, 1, NULL}, {"video_url", F_STR, 1, 0, NULL},
    {"video_path", F_STR, 1, 0, NULL}, {"duration", F_NUM, 1, 0, NULL},
    {"first_frame_path", F_STR, 1, 0, NULL}, {"last_frame_path", F_STR, 1, 0, NULL},
    {"consistency_score", F_NUM, 1, 0, NULL}, {"correction_passes", F_INT, 1, 0, NULL},
    {"cost_usd", F_NUM, 0, 0, "0"}, {"note", F_STR, 0, 0, NULL},
};
#define NF(a) (int)(sizeof a / sizeof a[0])

static const struct rowspec spec_chars = {"insert_characters", "characters", "chars", ST_UP_CHAR,
                                          character_fields, NF(character_fields)};
static const struct rowspec spec_scenes = {"insert_scenes", "scenes", "scenes", ST_UP_SCENE,
                                           scene_fields, NF(scene_fields)};
static const struct rowspec spec_casset = {"upsert_character_asset", "character_assets", "asset",
                                           ST_UP_CASSET, casset_fields, NF(casset_fields)};
static const struct rowspec spec_kasset = {"upsert_keyframe_asset", "keyframe_assets", "asset",
                                           ST_UP_KASSET, kasset_fields, NF(kasset_fields)};
static const struct rowspec spec_vasset = {"upsert_video_asset", "video_assets", "asset",
                                           ST_UP_VASSET, vasset_fields, NF(vasset_fields)};
static const struct rowspec *const upsert_specs[] = {&spec_chars, &spec_scenes, &spec_casset,
                                                     &spec_kasset, &spec_vasset};

/* update_run's whitelist; updated_at is set by the store. */
static const struct field run_fields[] = {
    {"title", F_STR, 0, 0, NULL}, {"style", F_STR, 0, 0, NULL}, {"aspect_ratio", F_STR, 0, 0, NULL},
    {"color_palette", F_STR, 0, 0, NULL}, {"status", F_STR, 0, 0, NULL},
    {"script_path", F_STR, 0, 0, NULL}, {"final_video_path", F_STR, 0, 0, NULL},
    {"completed_at", F_STR, 0, 0, NULL}, {"error", F_STR, 0, 0, NULL}, {"cost_usd", F_NUM, 0, 0, NULL},
    {"provider", F_STR, 0, 0, NULL}, {"plan_json", F_JOBJ, 0, 0, NULL},
    {"owner_pid", F_INT, 0, 0, NULL}, {"heartbeat_at", F_STR, 0, 0, NULL},
};

/* ---------------------------------------------------------------- connection */

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

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int fail_db(gs_db *db, char *err, size_t n, const char *op)
{
    db->fail_rc = sqlite3_errcode(db->h);
    return fail(err, n, "%s: %s", op, sqlite3_errmsg(db->h));
}

/* The stable code Lua callers branch on for a failure SQLite reported as rc
   (its primary code), or NULL when the failure is not one a caller can expect
   (a constraint, a misuse: a defect, raised as it is). */
static const char *fail_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "busy";
    case SQLITE_FULL:
        return "full";
    case SQLITE_READONLY:
        return "readonly";
    case SQLITE_IOERR:
        return "io";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "corrupt";
    case SQLITE_CANTOPEN:
        return "cantopen";
    case SQLITE_NOMEM:
        return "nomem";
    default:
        return NULL;
    }
}

/* ISO-8601 UTC with milliseconds for (now - seconds_ago). */
static void iso_time(char *buf, size_t len, double seconds_ago)
{
    struct timespec ts;
    struct tm tm;
    char tmp[96];
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec - (time_t)seconds_ago;
    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
    /* A plain copy: snprintf("%s") trips -Wformat-truncation at -O2 and up. */
    size_t n = strlen(tmp);
    if (n >= len)
        n = len ? len - 1 : 0;
    if (len) {
        memcpy(buf, tmp, n);
        buf[n] = '\0';
    }
}

void gs_store_now_iso(char *buf, size_t len) { iso_time(buf, len, 0); }

double gs_store_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sqlite3 *gs_store_handle(gs_db *db) { return db ? db->h : NULL; }
int gs_store_depth(gs_db *db) { return db ? db->depth : 0; }

/* "INSERT INTO t (run_id, a, b) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET b = excluded.b" */
static char *upsert_sql(const struct rowspec *rs)
{
    const char *key = NULL;
    for (size_t i = 0; i < NTABLES; i++)
        if (strcmp(tables[i].name, rs->table) == 0)
            key = tables[i].unique;
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendf(s, "INSERT INTO %s (run_id", rs->table);
    for (int i = 0; i < rs->nf; i++)
        sqlite3_str_appendf(s, ", %s", rs->f[i].name);
    sqlite3_str_appendall(s, ") VALUES (?1");
    for (int i = 0; i < rs->nf; i++)
        sqlite3_str_appendf(s, ", ?%d", i + 2);
    sqlite3_str_appendf(s, ") ON CONFLICT (%s) DO UPDATE SET ", key);
    int first = 1;
    for (int i = 0; i < rs->nf; i++) {
        if (rs->f[i].key)
            continue;
        sqlite3_str_appendf(s, "%s%s = excluded.%s", first ? "" : ", ", rs->f[i].name, rs->f[i].name);
        first = 0;
    }
    return sqlite3_str_finish(s);
}

static sqlite3_stmt *get_stmt(gs_db *db, int id, const char *op, char *err, size_t n)
{
    if (db->st[id])
        return db->st[id];
    char *gen = NULL;
    const char *sql = stmt_sql[id];
    if (!sql) {
        for (size_t i = 0; i < sizeof upsert_specs / sizeof upsert_specs[0]; i++)
            if (upsert_specs[i]->stmt == id)
                sql = gen = upsert_sql(upsert_specs[i]);
        if (!sql) {
            fail(err, n, "%s: out of memory", op);
            return NULL;
        }
    }
    int rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->st[id], NULL);
    sqlite3_free(gen);
    if (rc != SQLITE_OK) {
        fail_db(db, err, n, op);
        db->st[id] = NULL;
        return NULL;
    }
    return db->st[id];
}

/* Runs a cached statement that returns no rows (BEGIN, COMMIT, ...). */
static int run_simple(gs_db *db, int id, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = get_stmt(db, id, op, err, n);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail_db(db, err, n, op);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int tx_begin(gs_db *db, int immediate, const char *op, char *err, size_t n)
{
    int id = db->depth ? ST_SAVEPOINT : immediate ? ST_BEGIN_IMM : ST_BEGIN_READ;
    if (run_simple(db, id, op, err, n))
        return -1;
    db->depth++;
    return 0;
}

static int tx_commit(gs_db *db, const char *op, char *err, size_t n)
{
    if (db->depth == 0)
        return fail(err, n, "%s: no transaction is open", op);
    if (sqlite3_get_autocommit(db->h)) {
        db->depth = 0; /* SQLite rolled it back itself (I/O error, disk full ...) */
        return fail(err, n, "%s: the transaction was rolled back by SQLite", op);
    }
    if (run_simple(db, db->depth == 1 ? ST_COMMIT : ST_RELEASE, op, err, n))
        return -1;
    db->depth--;
    return 0;
}

void gs_store_rollback(gs_db *db)
{
    if (!db || db->depth == 0)
        return;
    if (sqlite3_get_autocommit(db->h)) {
        db->depth = 0;
        return;
    }
    if (db->depth == 1) {
        run_simple(db, ST_ROLLBACK, "rollback", NULL, 0);
    } else {
        run_simple(db, ST_ROLLBACK_TO, "rollback", NULL, 0);
        run_simple(db, ST_RELEASE, "rollback", NULL, 0);
    }
    db->depth--;
    if (sqlite3_get_autocommit(db->h))
        db->depth = 0;
}

int gs_store_begin(gs_db *db, char *err, size_t errlen) { return tx_begin(db, 1, "begin", err, errlen); }
int gs_store_commit(gs_db *db, char *err, size_t errlen)
{
    return tx_commit(db, "commit", err, errlen);
}

/*
 * An operation's own level: BEGIN IMMEDIATE when no transaction is open, a
 * savepoint inside the caller's when the operation writes several rows, nothing
 * otherwise. Returns 1 when a level was opened, 0 when not, -1 on error.
 */
static int op_begin(gs_db *db, int multi, const char *op, char *err, size_t n)
{
    if (db->depth && !multi)
        return 0;
    return tx_begin(db, 1, op, err, n) ? -1 : 1;
}

static int op_end(gs_db *db, int opened, int ok, const char *op, char *err, size_t n)
{
    if (!opened)
        return ok ? 0 : -1;
    if (!ok) {
        gs_store_rollback(db);
        return -1;
    }
    if (tx_commit(db, op, err, n)) {
        gs_store_rollback(db);
        return -1;
    }
    return 0;
}

/* Steps a bound one-statement write in its own transaction (or the caller's). */
static int step_write(gs_db *db, sqlite3_stmt *st, const char *op, char *err, size_t n)
{
    int opened = op_begin(db, 0, op, err, n);
    int rc = opened < 0 ? SQLITE_ERROR : sqlite3_step(st);
    if (opened >= 0 && rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    sqlite3_reset(st);
    if (opened < 0)
        return -1;
    return op_end(db, opened, rc == SQLITE_DONE, op, err, n);
}

/* Resets every statement and rolls back to depth: the cleanup of a failed operation. */
static void abort_op(gs_db *db, int depth)
{
    for (int i = 0; i < ST_N; i++)
        if (db->st[i])
            sqlite3_reset(db->st[i]);
    if (db->tmp) {
        sqlite3_finalize(db->tmp);
        db->tmp = NULL;
    }
    while (db->depth > depth)
        gs_store_rollback(db);
}

/* mkdir -p of the folder holding path. */
static int make_parents(const char *path, char *err, size_t n)
{
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return 0;
    char *dir = strdup(path);
    if (!dir)
        return fail(err, n, "open: out of memory");
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *q = dir + 1;; q++) {
            if (*q != '/' && *q != '\0')
                continue;
            char c = *q;
            *q = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                rc = fail(err, n, "open: cannot create folder '%s': %s", dir, strerror(errno));
                break;
            }
            *q = c;
            if (!c)
                break;
        }
        struct stat sb;
        if (rc == 0 && stat(dir, &sb) != 0)
            rc = fail(err, n, "open: cannot create folder '%s': %s", dir, strerror(errno));
        else if (rc == 0 && !S_ISDIR(sb.st_mode))
            rc = fail(err, n, "open: cannot create folder '%s': %s", dir, strerror(ENOTDIR));
    }
    free(dir);
    return rc;
}

static int exec(gs_db *db, const char *sql, const char *op, char *err, size_t n)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail(err, n, "%s: %s: %s", op, db->path, msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int64_t query_int(gs_db *db, const char *sql, const char *arg, int *ok)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *ok = 0;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    *ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    sqlite3_finalize(st);
    return v;
}

/* Rebuilds a schema-1 table as schema 2, keeping rows (the last of duplicates, no orphans). */
static int rebuild_table(gs_db *db, const struct table_def *t, char *err, size_t n)
{
    char *sql = sqlite3_mprintf("CREATE TABLE gs_new_%s (%s)", t->name, t->body);
    int rc = sql ? exec(db, sql, "migrate", err, n) : fail(err, n, "migrate: out of memory");
    sqlite3_free(sql);
    if (rc)
        return -1;
    /* The old columns the new table also has (all of them, for a real schema-1 file). */
    sqlite3_stmt *st = NULL;
    sqlite3_str *cols = sqlite3_str_new(db->h);
    char *newname = sqlite3_mprintf("gs_new_%s", t->name);
    if (sqlite3_prepare_v2(db->h,
                           "SELECT name FROM pragma_table_info(?1) WHERE name IN"
                           " (SELECT name FROM pragma_table_info(?2))",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
        int first = 1;
        while (sqlite3_step(st) == SQLITE_ROW) {
            sqlite3_str_appendf(cols, "%s\"%w\"", first ? "" : ", ", (const char *)sqlite3_column_text(st, 0));
            first = 0;
        }
    }
    sqlite3_finalize(st);
    sqlite3_free(newname);
    char *c = sqlite3_str_finish(cols);
    if (!c || !*c) {
        sqlite3_free(c);
        return fail(err, n, "migrate: %s: cannot read the columns of %s", db->path, t->name);
    }
    sqlite3_str *s = sqlite3_str_new(db->h);
    sqlite3_str_appendf(s, "INSERT INTO gs_new_%s (%s) SELECT %s FROM %s", t->name, c, c, t->name);
    if (t->unique)
        sqlite3_str_appendf(s, " WHERE id IN (SELECT max(id) FROM %s GROUP BY %s)"
                               " AND run_id IN (SELECT id FROM runs)", t->name, t->unique);
    sqlite3_str_appendf(s, ";INSERT INTO sqlite_sequence (name, seq) SELECT 'gs_new_%s', seq"
                           " FROM sqlite_sequence WHERE name = '%s'"
                           " AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'gs_new_%s');"
                           "UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = '%s')"
                           " WHERE name = 'gs_new_%s' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = '%s');"
                           "DROP TABLE %s; ALTER TABLE gs_new_%s RENAME TO %s;",
                        t->name, t->name, t->name, t->name, t->name, t->name, t->name, t->name, t->name);
    sqlite3_free(c);
    sql = sqlite3_str_finish(s);
    rc = sql ? exec(db, sql, "migrate", err, n) : fail(err, n, "migrate: out of memory");
    sqlite3_free(sql);
    return rc;
}

/* ALTER TABLE ADD COLUMN for each of cols ({name, type}) the table lacks. */
static int add_missing_columns(gs_db *db, const char *table, const char *const cols[][2], int ncols, char *err,
                               size_t n)
{
    for (int i = 0; i < ncols; i++) {
        int ok;
        char *q = sqlite3_mprintf("SELECT count(*) FROM pragma_table_info(%Q) WHERE name = ?1", table);
        int64_t have = q ? query_int(db, q, cols[i][0], &ok) : (ok = 0);
        sqlite3_free(q);
        if (!ok)
            return fail(err, n, "migrate: %s: cannot read the columns of %s", db->path, table);
        if (have)
            continue;
        char *sql = sqlite3_mprintf("ALTER TABLE %s ADD COLUMN %s %s", table, cols[i][0], cols[i][1]);
        int rc = sql ? exec(db, sql, "migrate", err, n) : fail(err, n, "migrate: out of memory");
        sqlite3_free(sql);
        if (rc)
            return -1;
    }
    return 0;
}

/* Brings the file to schema GS_STORE_SCHEMA_VERSION in one transaction. */
static int migrate(gs_db *db, char *err, size_t n)
{
    int ok;
    int64_t v = query_int(db, "PRAGMA user_version", NULL, &ok);
    if (!ok)
        return fail(err, n, "%s: %s", db->path, sqlite3_errmsg(db->h));
    if (v == GS_STORE_SCHEMA_VERSION)
        return 0;
    if (v > GS_STORE_SCHEMA_VERSION)
        goto newer;
    /* Rebuilding tables needs foreign keys off; the pragma is a no-op inside a transaction. */
    if (exec(db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", "migrate", err, n))
        return -1;
    v = query_int(db, "PRAGMA user_version", NULL, &ok); /* another process may have won */
    if (ok && v == 0 && query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                                  "runs", &ok) > 0)
        v = 1; /* the card's own code never set user_version */
    if (!ok) {
        fail(err, n, "migrate: %s: %s", db->path, sqlite3_errmsg(db->h));
        goto rollback;
    }
    if (v > GS_STORE_SCHEMA_VERSION) {
        exec(db, "ROLLBACK", "migrate", NULL, 0);
        goto newer;
    }
    for (size_t i = 0; i < NTABLES && v < GS_STORE_SCHEMA_VERSION; i++) {
        if (v == 0) {
            char *sql = sqlite3_mprintf("CREATE TABLE IF NOT EXISTS %s (%s)", tables[i].name, tables[i].body);
            int rc = sql ? exec(db, sql, "migrate", err, n) : fail(err, n, "migrate: out of memory");
            sqlite3_free(sql);
            if (rc)
                goto rollback;
        } else if (v == 1 && rebuild_table(db, &tables[i], err, n)) {
            goto rollback;
        }
    }
    if (v < 2) {
        if (exec(db, schema2_extras, "migrate", err, n))
            goto rollback;
        if (query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", NULL, &ok) != 0 || !ok) {
            fail(err, n, "migrate: %s: foreign key check failed after the upgrade", db->path);
            goto rollback;
        }
    } else if (v == 2 && exec(db, schema3_alter, "migrate", err, n)) {
        goto rollback; /* tables made at 0 or rebuilt from 1 already have the column */
    }
    if (v < 4 && add_missing_columns(db, "runs", schema4_columns, NF(schema4_columns), err, n))
        goto rollback;
    if (v < GS_STORE_SCHEMA_VERSION && exec(db, "PRAGMA user_version = " GS_STR(GS_STORE_SCHEMA_VERSION), "migrate",
                                            err, n))
        goto rollback;
    return exec(db, "COMMIT", "migrate", err, n);
rollback:
    exec(db, "ROLLBACK", "migrate", NULL, 0);
    return -1;
newer:
    return fail(err, n, "%s was written by a newer grok-spicy (schema %lld); this build knows schema %d",
                db->path, (long long)v, GS_STORE_SCHEMA_VERSION);
}

int gs_store_cache_kb(gs_db *db, int kb, char *err, size_t n)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", kb > 0 ? kb : 1);
    return exec(db, sql, "cache_kb", err, n);
}

static gs_db *open_once(const char *path, char *err, size_t n, int *busy);

/* Two processes opening a database that does not exist yet (a flow and the
 * dashboard, or anything polling for it) race to make it: the one that loses
 * may be told SQLITE_BUSY at once, without the busy handler (seen once in 150
 * simultaneous first opens; a CI flow failed that way). Opening is idempotent,
 * so a busy open is tried again for as long as a busy statement would wait. */
gs_db *gs_store_open(const char *path, char *err, size_t n)
{
    if (!path || !*path) {
        fail(err, n, "open: empty database path");
        return NULL;
    }
    if (make_parents(path, err, n))
        return NULL;
    double deadline = gs_store_monotonic() + 10.0;
    for (;;) {
        int busy = 0;
        gs_db *db = open_once(path, err, n, &busy);
        if (db || !busy || gs_store_monotonic() > deadline)
            return db;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static gs_db *open_once(const char *path, char *err, size_t n, int *busy)
{
    size_t len = strlen(path);
    gs_db *db = calloc(1, sizeof *db + len + 1);
    if (!db) {
        fail(err, n, "open: out of memory");
        return NULL;
    }
    memcpy(db->path, path, len + 1);
    /* NOMUTEX: a connection is used by one thread at a time (its Lua state's, the
       tail's, a worker's replay connection), so SQLite need not lock on every call. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        fail(err, n, "open: %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, 10000);
    /* journal_mode is the first statement to read the file: a non-database fails here. */
    if (exec(db, "PRAGMA journal_mode = WAL", "open", NULL, 0)) {
        fail(err, n, "%s: %s", path, sqlite3_errmsg(db->h));
        goto fail;
    }
    if (exec(db, "PRAGMA synchronous = NORMAL", "open", err, n) || migrate(db, err, n) || ledger_ensure(db, err, n) ||
        exec(db, "PRAGMA foreign_keys = ON", "open", err, n))
        goto fail;
    return db;
fail:
    if (db->h) {
        int code = sqlite3_errcode(db->h) & 0xff;
        *busy = code == SQLITE_BUSY || code == SQLITE_LOCKED;
    }
    gs_store_close(db);
    return NULL;
}

void gs_store_close(gs_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_finalize(db->tmp);
    sqlite3_close_v2(db->h); /* rolls back an open transaction */
    free(db);
}

/* ---------------------------------------------------------------- C API */

static void bind_self_start(sqlite3_stmt *st, int i);

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* created_at NULL: now. */
static int append_event_at(gs_db *db, int64_t run_id, const char *type, const char *data_json, const char *html,
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
static int write_once(gs_db *db, const char *sql, int64_t run_id, const char *op, char *err, size_t n)
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
static void bind_self_start(sqlite3_stmt *st, int i)
{
    char id[GS_OWNER_IDLEN];
    if (gs_owner_identity(getpid(), id, sizeof id) == 0)
        sqlite3_bind_text(st, i, id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* The status of run_id into buf ("" when there is no such run); 0 or -1. */
static int run_status(gs_db *db, int64_t run_id, char *buf, size_t len, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db->h, "SELECT status FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The recorded lock file of run_id into buf ("" when none); 0 or -1. */
static int run_lock(gs_db *db, int64_t run_id, char *buf, size_t len, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db->h, "SELECT owner_lock FROM runs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
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

static int valid_status(const char *s);

/* Why a run in status s cannot be claimed (0: it can). */
static int refusal_of(const char *s)
{
    if (!*s)
        return GS_CLAIM_MISSING;
    if (strcmp(s, GS_VOCAB_STR(GS_ST_COMPLETE)) == 0)
        return GS_CLAIM_COMPLETE;
    if (gs_status_resumable(s))
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
                              " WHERE id = ?1 AND status IN " GS_VOCAB_SQL_LIST(GS_STATUSES_RESUMABLE)
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

/* ---------------------------------------------------------------- ledger */

/*
 * The money ledger: one row per billed request, keyed by (run_id, request_id),
 * written when the answer arrives; an estimated row (a list price) is settled
 * by a later update. runs.cost_usd is the ledger's sum, refreshed with every
 * write. The table is additive: it is created when missing at open, whatever
 * the schema version, so it needs no migration step of its own.
 */
static const char ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS ledger ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " step TEXT NOT NULL, asset TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " request_id TEXT NOT NULL, ticks INTEGER NOT NULL, estimated INTEGER NOT NULL DEFAULT 0,"
    " outcome TEXT NOT NULL, detail TEXT, created_at TEXT NOT NULL, settled_at TEXT,"
    " UNIQUE (run_id, request_id))";

static int ledger_ensure(gs_db *db, char *err, size_t n)
{
    int ok;
    if (query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", "ledger", &ok) > 0 && ok)
        return 0;
    if (exec(db, "BEGIN IMMEDIATE", "ledger", err, n))
        return -1;
    if (exec(db, ledger_schema, "ledger", err, n)) {
        exec(db, "ROLLBACK", "ledger", NULL, 0);
        return -1;
    }
    return exec(db, "COMMIT", "ledger", err, n);
}

/* Outcomes that are not failed attempts (gs_provider.h lists them all). */
#define LEDGER_FAILED "outcome NOT IN ('ok', 'pending')"

static int ledger_step(gs_db *db, const char *sql, int64_t run_id, const gs_store_charge *c, const char *now,
                       int *changed, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    bind_opt_text(st, 2, c->request_id);
    sqlite3_bind_int64(st, 3, c->ticks);
    sqlite3_bind_int(st, 4, c->estimated);
    bind_opt_text(st, 5, c->outcome);
    bind_opt_text(st, 6, c->detail && *c->detail ? c->detail : NULL);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 8) {
        bind_opt_text(st, 8, c->step);
        bind_opt_text(st, 9, c->asset);
        bind_opt_text(st, 10, c->endpoint);
        sqlite3_bind_text(st, 11, c->model ? c->model : "", -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    else if (changed)
        *changed = sqlite3_changes(db->h);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int gs_store_record_charge(gs_db *db, int64_t run_id, const gs_store_charge *c, char *err, size_t n)
{
    const char *op = "record_charge";
    if (!c->request_id || !*c->request_id || !c->step || !c->asset || !c->endpoint || !c->outcome)
        return fail(err, n, "%s: a charge needs step, asset, endpoint, request_id and outcome", op);
    char now[32];
    gs_store_now_iso(now, sizeof now);
    int opened = op_begin(db, 1, op, err, n);
    if (opened < 0)
        return -1;
    int changed = 0, rc = 0;
    /* a final outcome settles the row; pending and abandoned leave it open */
    static const char settle[] = "CASE WHEN ?5 IN ('pending', 'abandoned') THEN NULL ELSE ?7 END";
    if (c->update)
        rc = ledger_step(db, "UPDATE ledger SET ticks = CASE WHEN ?3 >= 0 THEN ?3 ELSE ticks END,"
                         " estimated = CASE WHEN ?4 >= 0 THEN ?4 ELSE estimated END, outcome = ?5, detail = ?6,"
                         " settled_at = CASE WHEN ?5 IN ('pending', 'abandoned') THEN settled_at ELSE ?7 END"
                         " WHERE run_id = ?1 AND request_id = ?2",
                         run_id, c, now, &changed, op, err, n);
    if (rc == 0 && !changed) {
        /* a new charge, or an update whose row another process never wrote;
           one already recorded (a replay) stays as it is */
        char *sql = sqlite3_mprintf("INSERT INTO ledger (run_id, request_id, ticks, estimated, outcome, detail,"
                                    " created_at, settled_at, step, asset, endpoint, model)"
                                    " VALUES (?1, ?2, max(?3, 0), max(?4, 0), ?5, ?6, ?7, %s, ?8, ?9, ?10, ?11)"
                                    " ON CONFLICT (run_id, request_id) DO NOTHING", settle);
        rc = sql ? ledger_step(db, sql, run_id, c, now, NULL, op, err, n) : fail(err, n, "%s: out of memory", op);
        sqlite3_free(sql);
    }
    if (rc == 0)
        rc = write_once(db, "UPDATE runs SET cost_usd = (SELECT coalesce(sum(ticks), 0) FROM ledger WHERE run_id = ?1)"
                        " / 1e10 WHERE id = ?1", run_id, op, err, n) < 0 ? -1 : 0;
    return op_end(db, opened, rc == 0, op, err, n);
}

/* ---------------------------------------------------------------- Lua binding */

typedef struct {
    gs_db *db; /* NULL when closed: userdata are born closed */
} ldb;

#define JSON_UV lua_upvalueindex(1) /* a private cjson instance, upvalue of every function */

static gs_db *check_open(lua_State *L, int idx)
{
    ldb *u = luaL_checkudata(L, idx, DB_MT);
    if (!u->db)
        luaL_error(L, "attempt to use a closed store connection");
    return u->db;
}

static gs_db *arg_db(lua_State *L) { return ((ldb *)lua_touserdata(L, 1))->db; }

/*
 * Runs body(args...) protected. On error: reset statements, roll back every level
 * the body opened, then re-raise the same error value.
 */
static int guarded(lua_State *L, lua_CFunction body)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    int nargs = lua_gettop(L);
    lua_pushvalue(L, JSON_UV);
    lua_pushcclosure(L, body, 1);
    lua_insert(L, 1);                                  /* body, args... */
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) { /* err */
        abort_op(db, depth);
        return lua_error(L);
    }
    return lua_gettop(L);
}

/* Raises "op: <sqlite message>" after resetting st and rolling back to depth. */
static int raise_db(lua_State *L, gs_db *db, int depth, const char *op)
{
    db->fail_rc = sqlite3_errcode(db->h);
    lua_pushfstring(L, "%s: %s", op, sqlite3_errmsg(db->h));
    abort_op(db, depth);
    return lua_error(L);
}

static int raise_msg(lua_State *L, gs_db *db, int depth, const char *msg)
{
    lua_pushstring(L, msg);
    abort_op(db, depth);
    return lua_error(L);
}

/* Pushes the JSON text for the value at idx (string kept, table encoded). */
static const char *push_json(lua_State *L, int idx, int as_array, const char *op, const char *what)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: %s must be a table or a JSON string, got %s", op, what, luaL_typename(L, idx));
    lua_pushnil(L);
    if (!lua_next(L, idx)) {
        lua_pushstring(L, as_array ? "[]" : "{}"); /* cjson writes {} for every empty table */
        return lua_tostring(L, -1);
    }
    lua_pop(L, 2);
    lua_getfield(L, JSON_UV, "encode");
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        luaL_error(L, "%s: %s: %s", op, what, lua_tostring(L, -1));
    return lua_tostring(L, -1);
}

/* cjson 2.1 decodes every number as a float: 3 comes back as 3.0 and prints "3.0". */
static void integers_back(lua_State *L, int idx, int depth)
{
    if (depth > 32 || !lua_checkstack(L, 3))
        return;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* key, value */
        lua_Integer v;
        if (lua_type(L, -1) == LUA_TTABLE) {
            integers_back(L, -1, depth + 1);
        } else if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
                   lua_numbertointeger(lua_tonumber(L, -1), &v) && (lua_Number)v == lua_tonumber(L, -1)) {
            lua_pushvalue(L, -2);
            lua_pushinteger(L, v);
            lua_rawset(L, idx); /* replacing an existing key's value is allowed during lua_next */
        }
        lua_pop(L, 1);
    }
}

static void push_decoded(lua_State *L, const char *s, size_t len)
{
    lua_getfield(L, JSON_UV, "decode");
    lua_pushlstring(L, s, len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { /* not JSON after all: hand back the text */
        lua_pop(L, 1);
        lua_pushlstring(L, s, len);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        integers_back(L, -1, 0);
    }
}

static int is_json_column(const char *name)
{
    return strcmp(name, "personality_cues") == 0 || strcmp(name, "characters_present") == 0 ||
           strcmp(name, "data") == 0;
}

/* Pushes the current row as a table; NULL columns are absent. */
static void push_row(lua_State *L, sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, i)); break;
        case SQLITE_NULL: continue;
        default: {
            const char *s = (const char *)sqlite3_column_text(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (is_json_column(name))
                push_decoded(L, s, len);
            else
                lua_pushlstring(L, s, len);
        }
        }
        lua_setfield(L, -2, name);
    }
}

/* Pushes an array of every row st returns; returns the last sqlite3_step code. */
static int push_rows(lua_State *L, sqlite3_stmt *st)
{
    int rc;
    lua_Integer n = 0;
    lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        push_row(L, st);
        lua_rawseti(L, -2, ++n);
    }
    return rc;
}

/*
 * Pushes row[f->name] checked against f (nil when absent and optional); raises
 * naming op, the row and the field. JSON fields are pushed encoded.
 */
static void push_field(lua_State *L, int row, const struct field *f, const char *op, const char *label)
{
    lua_getfield(L, row, f->name);
    int t = lua_type(L, -1);
    const char *want = NULL;
    if (t == LUA_TNIL) {
        if (f->required)
            luaL_error(L, "%s: %s.%s is required", op, label, f->name);
        return;
    }
    switch (f->kind) {
    case F_STR:
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            want = "a string";
        else
            lua_tostring(L, -1); /* numbers become text in place */
        break;
    case F_INT:
        if (!lua_isinteger(L, -1)) {
            int exact = 0;
            lua_Integer v = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &exact) : 0; /* 3.0 yes, 3.5 no */
            if (exact) {
                lua_pop(L, 1);
                lua_pushinteger(L, v);
            } else {
                want = "an integer";
            }
        }
        break;
    case F_NUM:
        if (t != LUA_TNUMBER)
            want = "a number";
        break;
    default: {
        char what[160];
        snprintf(what, sizeof what, "%s.%s", label, f->name);
        push_json(L, -1, f->kind == F_JARR, op, what);
        lua_remove(L, -2);
    }
    }
    if (want)
        luaL_error(L, "%s: %s.%s must be %s, got %s", op, label, f->name, want, luaL_typename(L, -1));
}

static void bind_field(lua_State *L, sqlite3_stmt *st, int param, int idx, const struct field *f)
{
    if (lua_isnil(L, idx)) {
        if (!f->dflt)
            sqlite3_bind_null(st, param);
        else if (f->kind == F_INT)
            sqlite3_bind_int64(st, param, atoll(f->dflt));
        else if (f->kind == F_NUM)
            sqlite3_bind_double(st, param, atof(f->dflt));
        else
            sqlite3_bind_text(st, param, f->dflt, -1, SQLITE_STATIC);
        return;
    }
    if (f->kind == F_INT) {
        sqlite3_bind_int64(st, param, lua_tointeger(L, idx));
    } else if (f->kind == F_NUM) {
        sqlite3_bind_double(st, param, lua_tonumber(L, idx));
    } else {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        sqlite3_bind_text64(st, param, s, len, SQLITE_STATIC, SQLITE_UTF8);
    }
}

/* Checks every field of the row at idx, leaving the stack as it was. */
static void check_row(lua_State *L, int idx, const struct rowspec *rs, const char *label)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a table, got %s", rs->op, label, luaL_typename(L, idx));
    int top = lua_gettop(L);
    luaL_checkstack(L, rs->nf + 4, NULL);
    for (int i = 0; i < rs->nf; i++)
        push_field(L, idx, &rs->f[i], rs->op, label);
    lua_settop(L, top);
}

static void row_label(char *buf, size_t n, const struct rowspec *rs, int single, lua_Integer i)
{
    if (single)
        snprintf(buf, n, "%s", rs->what);
    else
        snprintf(buf, n, "%s[%lld]", rs->what, (long long)i);
}

/* Validates (conn, run_id, row-or-array): everything before any SQL. */
static lua_Integer check_rows(lua_State *L, const struct rowspec *rs, int single)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_Integer n = single ? 1 : luaL_len(L, 3);
    char label[64];
    for (lua_Integer i = 1; i <= n; i++) {
        row_label(label, sizeof label, rs, single, i);
        if (single)
            lua_pushvalue(L, 3);
        else
            lua_geti(L, 3, i);
        check_row(L, 4, rs, label);
        lua_pop(L, 1);
    }
    return n;
}

/* Body of the row writers: upvalue 2 carries the spec, upvalue 3 "single". */
static int write_rows_body(lua_State *L, const struct rowspec *rs, int single)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    lua_Integer n = single ? 1 : luaL_len(L, 3);
    sqlite3_stmt *st = get_stmt(db, rs->stmt, rs->op, err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    int opened = op_begin(db, n > 1, rs->op, err, sizeof err);
    if (opened < 0)
        return raise_msg(L, db, depth, err);
    char label[64];
    luaL_checkstack(L, rs->nf + 8, NULL);
    for (lua_Integer i = 1; i <= n; i++) {
        row_label(label, sizeof label, rs, single, i);
        if (single)
            lua_pushvalue(L, 3);
        else
            lua_geti(L, 3, i);
        int row = lua_gettop(L);
        sqlite3_bind_int64(st, 1, run_id);
        for (int k = 0; k < rs->nf; k++) {
            push_field(L, row, &rs->f[k], rs->op, label); /* pushes one value, nil when absent */
            bind_field(L, st, k + 2, -1, &rs->f[k]);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            return raise_db(L, db, depth, rs->op);
        sqlite3_reset(st);
        lua_settop(L, row - 1);
    }
    if (op_end(db, opened, 1, rs->op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    lua_pushboolean(L, 1);
    return 1;
}

#define ROW_WRITER(fname, spec, single)                                                   \
    static int fname##_body(lua_State *L) { return write_rows_body(L, &spec, single); }   \
    static int l_##fname(lua_State *L)                                                    \
    {                                                                                     \
        check_rows(L, &spec, single);                                                     \
        return guarded(L, fname##_body);                                                  \
    }
ROW_WRITER(insert_characters, spec_chars, 0)
ROW_WRITER(insert_scenes, spec_scenes, 0)
ROW_WRITER(upsert_character_asset, spec_casset, 1)
ROW_WRITER(upsert_keyframe_asset, spec_kasset, 1)
ROW_WRITER(upsert_video_asset, spec_vasset, 1)

/* store.init_db(path) -> conn | nil, "path: why" */
static int l_init_db(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer cache_kb = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "cache_kb") != LUA_TNIL) {
            if (!lua_isinteger(L, -1) || (cache_kb = lua_tointeger(L, -1)) < 1 || cache_kb > 1048576)
                return luaL_error(L, "init_db: opts.cache_kb must be an integer from 1 to 1048576");
        }
        lua_pop(L, 1);
    }
    ldb *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->db = NULL;
    luaL_setmetatable(L, DB_MT); /* born closed: a failed open leaves nothing to free */
    char err[GS_STORE_ERRLEN];
    u->db = gs_store_open(path, err, sizeof err);
    if (u->db && cache_kb && gs_store_cache_kb(u->db, (int)cache_kb, err, sizeof err)) {
        gs_store_close(u->db);
        u->db = NULL;
    }
    if (!u->db) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static int l_close(lua_State *L)
{
    ldb *u = luaL_checkudata(L, 1, DB_MT);
    gs_store_close(u->db);
    u->db = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static int l_tostring(lua_State *L)
{
    ldb *u = luaL_checkudata(L, 1, DB_MT);
    if (u->db)
        lua_pushfstring(L, "grokspicy.Db (%s)", u->db->path);
    else
        lua_pushliteral(L, "grokspicy.Db (closed)");
    return 1;
}

static int insert_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    const char *op = "insert_run";
    char err[GS_STORE_ERRLEN], now[32];
    sqlite3_stmt *st = get_stmt(db, ST_RUN_INSERT, op, err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    size_t len;
    const char *concept = lua_tolstring(L, 2, &len);
    gs_store_now_iso(now, sizeof now);
    sqlite3_bind_text64(st, 1, concept, len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    bind_self_start(st, 4);
    if (step_write(db, st, op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    lua_Integer id = sqlite3_last_insert_rowid(db->h);
    lua_pushinteger(L, id);
    return 1;
}

/* store.insert_run(conn, concept) -> run_id */
static int l_insert_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    return guarded(L, insert_run_body);
}

static int valid_status(const char *s) { return gs_status_known(s); }

static int is_terminal(const char *s) { return gs_status_terminal(s); }

#define NRUNF (int)(sizeof run_fields / sizeof run_fields[0])

static int update_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    const char *op = "update_run";
    char err[GS_STORE_ERRLEN], now[32];
    lua_Integer run_id = lua_tointeger(L, 2);
    int base = lua_gettop(L); /* conn, id, fields */
    /* Present fields pushed in whitelist order; SET clause built alongside. */
    luaL_Buffer b;
    luaL_buffinit(L, &b); /* buffer sits at base + 1 */
    int present[NRUNF], np = 0, auto_done = 0;
    luaL_addstring(&b, "UPDATE runs SET ");
    for (int i = 0; i < NRUNF; i++) {
        lua_getfield(L, 3, run_fields[i].name);
        int nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil)
            continue;
        present[np++] = i;
        lua_pushfstring(L, "%s = ?%d, ", run_fields[i].name, np);
        luaL_addvalue(&b);
    }
    lua_getfield(L, 3, "status");
    if (lua_type(L, -1) == LUA_TSTRING && is_terminal(lua_tostring(L, -1))) {
        lua_getfield(L, 3, "completed_at");
        auto_done = lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* completed_at (when the status is terminal and none was given) is now, bound
       once as ?N for both: "= updated_at" would read the row's old value. */
    lua_pushfstring(L, "updated_at = ?%d", np + 1);
    luaL_addvalue(&b);
    if (auto_done) {
        lua_pushfstring(L, ", completed_at = ?%d", np + 1);
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, " WHERE id = ?%d", np + 2);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    int sqlidx = lua_gettop(L);
    for (int k = 0; k < np; k++)
        push_field(L, 3, &run_fields[present[k]], op, "fields");
    if (sqlite3_prepare_v2(db->h, lua_tostring(L, sqlidx), -1, &db->tmp, NULL) != SQLITE_OK)
        return raise_db(L, db, depth, op);
    for (int k = 0; k < np; k++)
        bind_field(L, db->tmp, k + 1, sqlidx + 1 + k, &run_fields[present[k]]);
    gs_store_now_iso(now, sizeof now);
    sqlite3_bind_text(db->tmp, np + 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(db->tmp, np + 2, run_id);
    if (step_write(db, db->tmp, op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    int changed = sqlite3_changes(db->h);
    sqlite3_finalize(db->tmp);
    db->tmp = NULL;
    lua_settop(L, base);
    if (!changed) {
        luaL_pushfail(L);
        lua_pushfstring(L, "run %I not found", run_id);
        lua_pushliteral(L, "notfound");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* store.update_run(conn, run_id, fields) -> true | nil, "run N not found", "notfound" */
static int l_update_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_pushnil(L);
    while (lua_next(L, 3)) { /* key, value */
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "update_run: field names must be strings, got %s", luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; i < NRUNF && !known; i++)
            known = strcmp(run_fields[i].name, k) == 0;
        if (!known)
            return luaL_error(L, "update_run: unknown field '%s'", k);
    }
    for (int i = 0; i < NRUNF; i++) {
        push_field(L, 3, &run_fields[i], "update_run", "fields");
        lua_settop(L, 3);
    }
    lua_getfield(L, 3, "status");
    if (!lua_isnil(L, -1) && !valid_status(lua_tostring(L, -1)))
        return luaL_error(L, "update_run: invalid status '%s' (expected %s)", lua_tostring(L, -1),
                          GS_STATUSES(GS_VOCAB_STR, ", "));
    lua_settop(L, 3);
    return guarded(L, update_run_body);
}

/* Runs st (bound with ?1 = id) and stores its rows as an array in the table on top. */
static void push_children(lua_State *L, gs_db *db, int depth, int id, lua_Integer run_id, const char *field)
{
    char err[GS_STORE_ERRLEN];
    sqlite3_stmt *st = get_stmt(db, id, "get_run", err, sizeof err);
    if (!st)
        raise_msg(L, db, depth, err);
    sqlite3_bind_int64(st, 1, run_id);
    if (push_rows(L, st) != SQLITE_DONE)
        raise_db(L, db, depth, "get_run");
    sqlite3_reset(st);
    lua_setfield(L, -2, field);
}

static int get_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    sqlite3_stmt *st = get_stmt(db, ST_RUN_GET, "get_run", err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    /* One read transaction: the run and its children come from one snapshot. */
    int opened = depth == 0;
    if (opened && tx_begin(db, 0, "get_run", err, sizeof err))
        return raise_msg(L, db, depth, err);
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        push_row(L, st);
        sqlite3_reset(st);
        push_children(L, db, depth, ST_GET_CHARS, run_id, "characters");
        push_children(L, db, depth, ST_GET_SCENES, run_id, "scenes");
        push_children(L, db, depth, ST_GET_CASSETS, run_id, "character_assets");
        push_children(L, db, depth, ST_GET_KASSETS, run_id, "keyframe_assets");
        push_children(L, db, depth, ST_GET_VASSETS, run_id, "video_assets");
        if (lua_toboolean(L, 3))
            push_children(L, db, depth, ST_GET_TIMELINE, run_id, "timeline");
        push_ledger(L, db, depth, run_id);
    } else if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        lua_pushnil(L);
    } else {
        return raise_db(L, db, depth, "get_run");
    }
    if (opened && tx_commit(db, "get_run", err, sizeof err))
        return raise_msg(L, db, depth, err);
    return 1;
}

/* store.get_run(conn, id [, {timeline = true}]) -> run table with nested arrays | nil;
 * timeline adds the run's events (id, type, created_at, data) in order, read
 * in the same snapshot as the rows. */
static int l_get_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    int timeline = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "timeline");
        timeline = lua_toboolean(L, -1);
    }
    lua_settop(L, 2);
    lua_pushboolean(L, timeline);
    return guarded(L, get_run_body);
}

/* Validates list_runs/count_runs options; leaves conn, opts(table) on the stack. */
static void check_list_opts(lua_State *L, const char *op, int with_paging)
{
    check_open(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    else {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    lua_settop(L, 2);
    static const char *const names[] = {"status", "q", "limit", "offset"};
    for (int i = 0; i < (with_paging ? 4 : 2); i++) {
        int t = lua_getfield(L, 2, names[i]);
        if (t != LUA_TNIL) {
            if (i < 2 && t != LUA_TSTRING)
                luaL_error(L, "%s: opts.%s must be a string, got %s", op, names[i], luaL_typename(L, -1));
            if (i >= 2 && (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0))
                luaL_error(L, "%s: opts.%s must be a non-negative integer", op, names[i]);
        }
        lua_pop(L, 1);
    }
}

/* Picks the statement variant for the filters and binds status (?1) and q (?2). */
static int bind_filters(lua_State *L, sqlite3_stmt **stp, gs_db *db, int base_id, int depth, const char *op)
{
    char err[GS_STORE_ERRLEN];
    int has_status = lua_getfield(L, 2, "status") == LUA_TSTRING;
    int has_q = lua_getfield(L, 2, "q") == LUA_TSTRING;
    sqlite3_stmt *st = get_stmt(db, base_id + has_status + 2 * has_q, op, err, sizeof err);
    if (!st)
        raise_msg(L, db, depth, err);
    if (has_status)
        sqlite3_bind_text(st, 1, lua_tostring(L, 3), -1, SQLITE_STATIC);
    if (has_q)
        sqlite3_bind_text(st, 2, lua_tostring(L, 4), -1, SQLITE_STATIC);
    *stp = st;
    return 0;
}

static int list_runs_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    sqlite3_stmt *st;
    lua_getfield(L, 2, "limit");
    lua_Integer limit = luaL_optinteger(L, -1, 50);
    lua_getfield(L, 2, "offset");
    lua_Integer offset = luaL_optinteger(L, -1, 0);
    lua_pop(L, 2);
    if (limit > 500)
        limit = 500;
    bind_filters(L, &st, db, ST_LIST0, depth, "list_runs");
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    if (push_rows(L, st) != SQLITE_DONE)
        return raise_db(L, db, depth, "list_runs");
    sqlite3_reset(st);
    return 1;
}

/* store.list_runs(conn, {limit=50, offset=0, status=, q=}) -> array, newest first */
static int l_list_runs(lua_State *L)
{
    check_list_opts(L, "list_runs", 1);
    return guarded(L, list_runs_body);
}

/* The memo slot for filters (status, q) at (dv, changes), or NULL; *fits is 0
   when the filters are too long to remember. */
static struct count_memo *memo_find(gs_db *db, const char *status, const char *q, int64_t dv, int64_t changes,
                                    int *fits)
{
    size_t ns = status ? strlen(status) : 0, nq = q ? strlen(q) : 0;
    int filters = (status != NULL) + 2 * (q != NULL);
    *fits = ns < sizeof db->memo[0].status && nq < sizeof db->memo[0].q;
    if (!*fits)
        return NULL;
    for (int i = 0; i < COUNT_MEMOS; i++) {
        struct count_memo *m = &db->memo[i];
        if (m->used && m->filters == filters && m->data_version == dv && m->changes == changes && strcmp(m->status, status ? status : "") == 0 &&
            strcmp(m->q, q ? q : "") == 0)
            return m;
    }
    return NULL;
}

/* COUNT(*) over 100k runs reads the whole index on every call (about 0.4 ms,
   more when the pages are not in SQLite's cache); the dashboard's run list asks
   for it on every page view while the table rarely changes. Outside a
   transaction the result is remembered until the database changes. */
static int count_runs_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    sqlite3_stmt *st;
    char err[GS_STORE_ERRLEN];
    int64_t dv = 0;
    int fits = 0;
    int memo = sqlite3_get_autocommit(db->h) && gs_store_data_version(db, &dv, err, sizeof err) == 0;
    int64_t changes = sqlite3_total_changes64(db->h);
    const char *status = lua_getfield(L, 2, "status") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    const char *q = lua_getfield(L, 2, "q") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 2); /* the strings stay alive in opts */
    if (memo) {
        struct count_memo *m = memo_find(db, status, q, dv, changes, &fits);
        if (m) {
            lua_pushinteger(L, m->count);
            return 1;
        }
    }
    bind_filters(L, &st, db, ST_COUNT0, db->depth, "count_runs");
    if (sqlite3_step(st) != SQLITE_ROW)
        return raise_db(L, db, db->depth, "count_runs");
    int64_t count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (memo && fits) {
        struct count_memo *m = &db->memo[db->memo_next++ % COUNT_MEMOS];
        m->used = 1;
        m->filters = (status != NULL) + 2 * (q != NULL);
        m->data_version = dv;
        m->changes = changes;
        m->count = count;
        snprintf(m->status, sizeof m->status, "%s", status ? status : "");
        snprintf(m->q, sizeof m->q, "%s", q ? q : "");
    }
    lua_pushinteger(L, count);
    return 1;
}

/* store.count_runs(conn, {status=, q=}) -> integer */
static int l_count_runs(lua_State *L)
{
    check_list_opts(L, "count_runs", 0);
    return guarded(L, count_runs_body);
}

static int append_event_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    char err[GS_STORE_ERRLEN];
    lua_getfield(L, 2, "run_id");
    int64_t run_id = lua_isnil(L, -1) ? 0 : lua_tointeger(L, -1);
    lua_getfield(L, 2, "type");
    const char *type = lua_tostring(L, -1);
    lua_getfield(L, 2, "html");
    const char *html = lua_tostring(L, -1);
    lua_getfield(L, 2, "created_at");
    const char *created_at = lua_tostring(L, -1);
    const char *data = NULL;
    if (lua_getfield(L, 2, "data") != LUA_TNIL)
        data = push_json(L, -1, 0, "append_event", "data");
    int64_t id;
    if (append_event_at(db, run_id, type, data, html, created_at, &id, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, id);
    return 1;
}

/* A stored timestamp: "2026-11-26T23:31:02.120Z" (what store.now gives). */
static int is_iso_time(const char *s, size_t len)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

/* store.append_event(conn, {run_id=, type=, data=, html=, created_at=}) -> id;
 * created_at (default now) lets a caller render the event's fragment with the
 * very time the event will carry. */
static int l_append_event(lua_State *L)
{
    check_open(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int t = lua_getfield(L, 2, "type");
    if (t != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        return luaL_error(L, "append_event: event.type must be a non-empty string, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "run_id");
    if (t != LUA_TNIL && !lua_isinteger(L, -1))
        return luaL_error(L, "append_event: event.run_id must be an integer, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "html");
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return luaL_error(L, "append_event: event.html must be a string, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "data");
    if (t != LUA_TNIL && t != LUA_TSTRING && t != LUA_TTABLE)
        return luaL_error(L, "append_event: event.data must be a table or a JSON string, got %s",
                          luaL_typename(L, -1));
    t = lua_getfield(L, 2, "created_at");
    size_t tlen = 0;
    const char *tval = t == LUA_TSTRING ? lua_tolstring(L, -1, &tlen) : NULL;
    if (t != LUA_TNIL && (!tval || !is_iso_time(tval, tlen)))
        return luaL_error(L, "append_event: event.created_at must be a time as store.now() gives it");
    lua_settop(L, 2);
    return guarded(L, append_event_body);
}

static int events_since_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    sqlite3_stmt *st = get_stmt(db, run_id > 0 ? ST_EVENTS_RUN : ST_EVENTS_ALL, "events_since", err, sizeof err);
    if (!st)
        return raise_msg(L, db, db->depth, err);
    if (run_id > 0)
        sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, lua_tointeger(L, 3));
    sqlite3_bind_int64(st, 3, lua_tointeger(L, 4));
    if (push_rows(L, st) != SQLITE_DONE) /* "data" is decoded by push_row */
        return raise_db(L, db, db->depth, "events_since");
    sqlite3_reset(st);
    return 1;
}

/* store.events_since(conn, run_id|nil, after_id=0, limit=1000) -> array of events, in id order */
static int l_events_since(lua_State *L)
{
    check_open(L, 1);
    lua_Integer run_id = luaL_opt(L, luaL_checkinteger, 2, 0);
    lua_Integer after = luaL_optinteger(L, 3, 0);
    lua_Integer limit = luaL_optinteger(L, 4, 1000);
    luaL_argcheck(L, limit >= 0, 4, "limit must be >= 0");
    if (limit > 10000)
        limit = 10000;
    lua_settop(L, 1);
    lua_pushinteger(L, run_id);
    lua_pushinteger(L, after);
    lua_pushinteger(L, limit);
    return guarded(L, events_since_body);
}

static int l_max_event_id(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_opt(L, luaL_checkinteger, 2, 0);
    char err[GS_STORE_ERRLEN];
    int64_t v;
    if (gs_store_max_event_id(db, run_id, &v, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, v);
    return 1;
}

static int l_data_version(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    char err[GS_STORE_ERRLEN];
    int64_t v;
    if (gs_store_data_version(db, &v, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, v);
    return 1;
}

/* store.heartbeat(conn, run_id) -> true | nil, "run N not found", "notfound" */
static int l_heartbeat(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_heartbeat(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    if (rc == 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "run %I not found", run_id);
        lua_pushliteral(L, "notfound");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* store.mark_interrupted(conn [, stale_seconds=60]) -> number of runs marked */
static int l_mark_interrupted(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    double stale = (double)luaL_optnumber(L, 2, STALE_DEFAULT);
    char err[GS_STORE_ERRLEN];
    int n = gs_store_mark_interrupted(db, stale, err, sizeof err);
    if (n < 0)
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, n);
    return 1;
}

/* store.request_cancel(conn, run_id) -> true | nil, "run N is not running", "notrunning" */
static int l_request_cancel(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_request_cancel(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    if (rc == 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "run %I is not running", run_id);
        lua_pushliteral(L, "notrunning");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* store.cancel_requested(conn, run_id) -> boolean (cheap: one column of one row) */
static int l_cancel_requested(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_cancel_requested(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    lua_pushboolean(L, rc);
    return 1;
}

/* Pushes a refusal: nil, "run N cannot be claimed: <reason>" (or err when it
   says more), and the reason's name. */
static int push_refusal(lua_State *L, lua_Integer run_id, int why, const char *err)
{
    luaL_pushfail(L);
    if (err && *err)
        lua_pushstring(L, err);
    else
        lua_pushfstring(L, "run %I cannot be claimed: %s", run_id, gs_store_claim_reason(why));
    lua_pushstring(L, gs_store_claim_reason(why));
    return 3;
}

static gs_db *check_no_tx(lua_State *L, const char *op)
{
    gs_db *db = check_open(L, 1);
    if (db->depth)
        luaL_error(L, "%s: cannot run inside a transaction (the lock would outlive a rollback)", op);
    return db;
}

/* store.claim_run(conn, run_id [, lock_path]) -> true | nil, message, reason: this
 * process becomes the owner of a failed, interrupted or cancelled run whose
 * owner is gone (gs_store_claim_run). reason: "missing", "complete", "running",
 * "not_resumable", "gone" (its folder was deleted), "held". */
static int l_claim_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "claim_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    const char *lock = luaL_optstring(L, 3, NULL);
    char err[GS_STORE_ERRLEN] = "";
    int why = 0;
    int rc = gs_store_claim_run(db, run_id, lock, &why, err, sizeof err);
    if (rc < 0)
        return luaL_error(L, "%s", err);
    if (rc == 0)
        return push_refusal(L, run_id, why, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.busy_timeout(conn [, ms]) -> the wait before this call, in ms: how long
 * SQLite waits on another process's lock before a statement fails with
 * "database is locked" (10000 when opened). A caller bounding its own total
 * wait retries in short slices instead of whole 10 s waits. */
static int l_busy_timeout(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer ms = -1; /* none: only read it */
    if (!lua_isnoneornil(L, 2)) {
        ms = luaL_checkinteger(L, 2);
        luaL_argcheck(L, ms >= 0 && ms <= INT_MAX, 2, "busy_timeout: ms must be 0..2^31-1");
    }
    int ok;
    int64_t before = query_int(db, "PRAGMA busy_timeout", NULL, &ok);
    if (!ok)
        return luaL_error(L, "busy_timeout: %s", sqlite3_errmsg(db->h));
    if (ms >= 0)
        sqlite3_busy_timeout(db->h, (int)ms);
    lua_pushinteger(L, before);
    return 1;
}

/* store.adopt_run(conn, run_id, fd) -> true | nil, message, reason: takes over
 * the claim a spawning process made for us, through the inherited descriptor fd
 * (gs_store_adopt_run); reason as claim_run's, or "not_handed". */
static int l_adopt_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "adopt_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    lua_Integer fd = luaL_checkinteger(L, 3);
    luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 3, "adopt_run: fd must be a descriptor number");
    char err[GS_STORE_ERRLEN] = "";
    int why = 0;
    int rc = gs_store_adopt_run(db, run_id, (int)fd, &why, err, sizeof err);
    if (rc < 0)
        return luaL_error(L, "%s", err);
    if (rc == 0)
        return push_refusal(L, run_id, why, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.own_run(conn, run_id, lock_path) -> true | nil, message, code ("notrunning",
 * or a failure's code as store.try gives it, "db" for another): the lock of a
 * run this process just started (gs_store_own_run). */
static int l_own_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "own_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    const char *lock = luaL_checkstring(L, 3);
    char err[GS_STORE_ERRLEN] = "";
    db->fail_rc = 0;
    int rc = gs_store_own_run(db, run_id, lock, err, sizeof err);
    if (rc == 1) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    if (rc == 0)
        lua_pushfstring(L, "run %I is not running", run_id);
    else
        lua_pushstring(L, err);
    const char *code = rc == 0 ? "notrunning" : fail_code(db->fail_rc);
    lua_pushstring(L, code ? code : "db");
    return 3;
}

/* store.release_run(run_id) -> boolean: lets go of the run's lock (this
 * process's; a child that inherited it keeps it). */
static int l_release_run(lua_State *L)
{
    lua_pushboolean(L, gs_owner_release(luaL_checkinteger(L, 1)));
    return 1;
}

/* store.owner_fd(run_id) -> descriptor of the run's lock this process holds | nil */
static int l_owner_fd(lua_State *L)
{
    int fd = gs_owner_fd(luaL_checkinteger(L, 1));
    if (fd < 0)
        luaL_pushfail(L);
    else
        lua_pushinteger(L, fd);
    return 1;
}

/* store.owner_identity([pid]) -> "<start ticks>@<boot id>" | nil: what owner_start records. */
static int l_owner_identity(lua_State *L)
{
    lua_Integer pid = luaL_optinteger(L, 1, (lua_Integer)getpid());
    char id[GS_OWNER_IDLEN];
    if (pid <= 0 || pid > INT_MAX || gs_owner_identity((pid_t)pid, id, sizeof id) != 0)
        luaL_pushfail(L);
    else
        lua_pushstring(L, id);
    return 1;
}

/* store.integrity_check(conn) -> "ok" | the problems SQLite lists, one per line */
static int l_integrity_check(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return luaL_error(L, "integrity_check: %s", sqlite3_errmsg(db->h));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++)
            luaL_addchar(&b, '\n');
        const char *t = (const char *)sqlite3_column_text(st, 0);
        luaL_addstring(&b, t ? t : "");
    }
    if (rc != SQLITE_DONE) {
        lua_pushfstring(L, "integrity_check: %s", sqlite3_errmsg(db->h));
        sqlite3_finalize(st);
        return lua_error(L); /* the buffer is on the stack, nothing held */
    }
    sqlite3_finalize(st);
    luaL_pushresult(&b);
    return 1;
}

/* store.transaction(conn, fn) -> fn's results; nested calls are savepoints. */
static int l_transaction(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    char err[GS_STORE_ERRLEN];
    if (tx_begin(db, 1, "transaction", err, sizeof err))
        return luaL_error(L, "%s", err);
    int level = db->depth;
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, LUA_MULTRET, 0);
    db = arg_db(L);
    if (!db) { /* closed inside fn: SQLite rolled the transaction back */
        if (status != LUA_OK)
            return lua_error(L);
        return luaL_error(L, "transaction: the connection was closed inside the transaction");
    }
    if (status != LUA_OK) {
        abort_op(db, level - 1);
        return lua_error(L);
    }
    if (tx_commit(db, "transaction", err, sizeof err)) {
        abort_op(db, level - 1);
        return luaL_error(L, "%s", err);
    }
    return lua_gettop(L) - 2;
}

/* store.try(conn, fn, ...) -> true, fn's results | nil, message, code. fn(...)
 * runs protected; a failure of this connection's database that a caller can
 * expect comes back with its stable code: "busy" (locked by another
 * connection past busy_timeout), "full", "readonly", "io", "corrupt",
 * "cantopen", "nomem". fn rolled back what it opened (every store call and
 * transaction does). Any other error, and a Ctrl+C, is raised again as it is. */
static int l_try(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    db->fail_rc = 0;
    int nargs = lua_gettop(L) - 2;
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) == LUA_OK) { /* conn, results... */
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    db = arg_db(L);
    const char *code = db ? fail_code(db->fail_rc) : NULL;
    if (!code || lua_type(L, -1) != LUA_TSTRING)
        return lua_error(L);
    luaL_pushfail(L);
    lua_insert(L, -2);
    lua_pushstring(L, code);
    return 3;
}

static int l_now(lua_State *L)
{
    char buf[32];
    gs_store_now_iso(buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, gs_store_monotonic());
    return 1;
}

/* ---------------------------------------------------------------- ledger (Lua) */

/* Runs sql (?1 = run_id) into a new array at field of the table on top. */
static void push_ledger_query(lua_State *L, gs_db *db, int depth, lua_Integer run_id, const char *sql,
                              const char *field)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, &db->tmp, NULL) != SQLITE_OK)
        raise_db(L, db, depth, "get_run");
    sqlite3_bind_int64(db->tmp, 1, run_id);
    if (push_rows(L, db->tmp) != SQLITE_DONE)
        raise_db(L, db, depth, "get_run");
    sqlite3_finalize(db->tmp);
    db->tmp = NULL;
    lua_setfield(L, -2, field);
}

#define LEDGER_SUM(key)                                                                                          \
    "SELECT " key ", sum(ticks) AS ticks, count(*) AS requests,"                                                 \
    " sum(CASE WHEN " LEDGER_FAILED " THEN ticks ELSE 0 END) AS failed_ticks,"                                   \
    " sum(CASE WHEN " LEDGER_FAILED " THEN 1 ELSE 0 END) AS failed_requests,"                                    \
    " sum(CASE WHEN estimated THEN ticks ELSE 0 END) AS estimated_ticks"                                         \
    " FROM ledger WHERE run_id = ?1 GROUP BY " key " ORDER BY min(id)"

/* get_run's run.ledger (every row, oldest first) and run.costs = {assets =
 * {{asset, ticks, requests, failed_ticks, failed_requests, estimated_ticks}},
 * steps = {... by step}}: what the run page and the API show. */
static void push_ledger(lua_State *L, gs_db *db, int depth, lua_Integer run_id)
{
    push_ledger_query(L, db, depth, run_id,
                      "SELECT id, step, asset, endpoint, model, request_id, ticks, estimated, outcome, detail,"
                      " created_at, settled_at FROM ledger WHERE run_id = ?1 ORDER BY id",
                      "ledger");
    lua_createtable(L, 0, 2);
    push_ledger_query(L, db, depth, run_id, LEDGER_SUM("asset"), "assets");
    push_ledger_query(L, db, depth, run_id, LEDGER_SUM("step"), "steps");
    lua_setfield(L, -2, "costs");
}

static const char *charge_str(lua_State *L, int t, const char *key, int required)
{
    int ty = lua_getfield(L, t, key);
    const char *s = ty == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (ty != LUA_TSTRING && (required || ty != LUA_TNIL))
        luaL_error(L, "record_charge: charge.%s must be a string, got %s", key, luaL_typename(L, -1));
    if (required && !*s)
        luaL_error(L, "record_charge: charge.%s must not be empty", key);
    lua_pop(L, 1); /* the string stays alive in the charge table */
    return s;
}

/* Reads the charge at index 3 (raises on a bad field; allocates nothing). */
static void read_charge(lua_State *L, gs_store_charge *c)
{
    luaL_checktype(L, 3, LUA_TTABLE);
    memset(c, 0, sizeof *c);
    c->step = charge_str(L, 3, "step", 1);
    c->asset = charge_str(L, 3, "asset", 1);
    c->endpoint = charge_str(L, 3, "endpoint", 1);
    c->request_id = charge_str(L, 3, "request_id", 1);
    c->outcome = charge_str(L, 3, "outcome", 1);
    c->model = charge_str(L, 3, "model", 0);
    c->detail = charge_str(L, 3, "detail", 0);
    lua_getfield(L, 3, "ticks");
    if (!lua_isinteger(L, -1))
        luaL_error(L, "record_charge: charge.ticks must be an integer, got %s", luaL_typename(L, -1));
    c->ticks = lua_tointeger(L, -1);
    lua_getfield(L, 3, "update");
    c->update = lua_toboolean(L, -1);
    lua_getfield(L, 3, "estimated");
    c->estimated = lua_isnil(L, -1) ? (c->update ? -1 : 0) : lua_toboolean(L, -1);
    lua_pop(L, 3);
    if (!c->update && c->ticks < 0)
        luaL_error(L, "record_charge: charge.ticks must be >= 0");
}

static int record_charge_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    gs_store_charge c;
    char err[GS_STORE_ERRLEN];
    read_charge(L, &c);
    if (gs_store_record_charge(db, lua_tointeger(L, 2), &c, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.record_charge(conn, run_id, charge) -> true: one billed request into
 * the run's ledger (charge as ctx:charges() and provider:charges() give it,
 * plus step and asset); an update settles the row under request_id. */
static int l_record_charge(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    lua_settop(L, 3);
    gs_store_charge c;
    read_charge(L, &c); /* validate before any SQL */
    return guarded(L, record_charge_body);
}

/* Shared by the module table and the connection methods: both call styles work. */
static const luaL_Reg db_methods[] = {
    {"insert_run", l_insert_run},
    {"update_run", l_update_run},
    {"insert_characters", l_insert_characters},
    {"insert_scenes", l_insert_scenes},
    {"upsert_character_asset", l_upsert_character_asset},
    {"upsert_keyframe_asset", l_upsert_keyframe_asset},
    {"upsert_video_asset", l_upsert_video_asset},
    {"get_run", l_get_run},
    {"list_runs", l_list_runs},
    {"count_runs", l_count_runs},
    {"append_event", l_append_event},
    {"events_since", l_events_since},
    {"max_event_id", l_max_event_id},
    {"heartbeat", l_heartbeat},
    {"mark_interrupted", l_mark_interrupted},
    {"request_cancel", l_request_cancel},
    {"cancel_requested", l_cancel_requested},
    {"claim_run", l_claim_run},
    {"adopt_run", l_adopt_run},
    {"own_run", l_own_run},
    {"record_charge", l_record_charge},
    {"integrity_check", l_integrity_check},
    {"busy_timeout", l_busy_timeout},
    {"transaction", l_transaction},
    {"try", l_try},
    {"data_version", l_data_version},
    {"close", l_close},
    {NULL, NULL},
};

static const luaL_Reg module_only[] = {
    {"init_db", l_init_db},
    {"now", l_now},
    {"monotonic", l_monotonic},
    {"release_run", l_release_run},
    {"owner_fd", l_owner_fd},
    {"owner_identity", l_owner_identity},
    {NULL, NULL},
};

int luaopen_grokspicy_store(lua_State *L)
{
    /* A private cjson instance, so another module's cjson settings do not change ours. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson");
    lua_call(L, 1, 1);
    if (lua_getfield(L, -1, "new") == LUA_TFUNCTION) {
        lua_call(L, 0, 1);
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
    }
    int json = lua_gettop(L);

    if (luaL_newmetatable(L, DB_MT)) {
        lua_newtable(L);
        lua_pushvalue(L, json);
        luaL_setfuncs(L, db_methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);

    lua_newtable(L);
    lua_pushvalue(L, json);
    luaL_setfuncs(L, db_methods, 1);
    luaL_setfuncs(L, module_only, 0);
    lua_pushinteger(L, GS_STORE_SCHEMA_VERSION);
    lua_setfield(L, -2, "SCHEMA_VERSION");
    lua_newtable(L);
    for (int i = 0; gs_statuses[i]; i++) {
        lua_pushstring(L, gs_statuses[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "STATUSES");
    lua_remove(L, json);
    return 1;
}
