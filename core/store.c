/*
 * store.c — grokspicy.store: the SQLite store. Owns the schema, its migrations,
 * the text of every cached SQL statement, the connection ("gs_db": open,
 * close, transactions and savepoints). The rest of the store lives beside it:
 * store_query.c (events, heartbeats, dead runs, cancel requests), store_owner.c
 * (who owns a run), store_ledger.c (the money ledger), and the Lua binding in
 * store_lua.c (the "grokspicy.Db" userdata, luaopen_grokspicy_core_store),
 * store_lua_runs.c and store_lua_events.c. None of them touches files other
 * than the database and the run lock files (through gs_owner.h: a run's owner
 * is decided in store_query.c's dead_runs and nowhere else), and none talks
 * HTTP or the bus.
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
#include "gs_util.h"
#include "store_internal.h"

/* ---------------------------------------------------------------- schema */

struct table_def {
    const char *name;
    const char *body;
    const char *unique; /* the upsert key, NULL for runs */
};

/* Schema 5: the card's tables + the columns, keys and cascades the product needs
 * (3 adds runs.cancel_requested: a dashboard in another process asks a run to stop;
 * 4 adds runs.owner_start and owner_lock: who owns a run, see gs_owner.h;
 * 5 adds runs.parent_id, the run a fork was made from, and the result cache). */
static const struct table_def tables[] = {
    {"runs",
     "id INTEGER PRIMARY KEY AUTOINCREMENT, concept TEXT NOT NULL, title TEXT, style TEXT,"
     " aspect_ratio TEXT, color_palette TEXT, status TEXT NOT NULL DEFAULT " GS_VOCAB_SQL(GS_ST_PENDING) ","
     " script_path TEXT, final_video_path TEXT, started_at TEXT NOT NULL, completed_at TEXT,"
     " error TEXT, cost_usd REAL NOT NULL DEFAULT 0, updated_at TEXT, owner_pid INTEGER,"
     " heartbeat_at TEXT, provider TEXT, plan_json TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,"
     " owner_start TEXT, owner_lock TEXT, parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL",
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

/* Schema 4 -> 5: the run a fork was made from (tables made at 0 or rebuilt
   from 1 already have it), and the result cache: an accepted asset under the
   key of what produced it (grokspicy.cache computes keys), so a later run that
   needs the same result reuses the file instead of paying for it again. The
   row goes with the run that made it: its files go with that run's folder. */
static const char *const schema5_columns[][2] = {{"parent_id", "INTEGER REFERENCES runs(id) ON DELETE SET NULL"}};
static const char schema5_extras[] =
    "CREATE TABLE IF NOT EXISTS result_cache ("
    " key TEXT PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " score REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, asset_json TEXT, created_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS result_cache_run ON result_cache(run_id);"
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent_id);";


/* ---------------------------------------------------------------- statements */

/* thumb: the run list's picture of a run, its first keyframe (the opening of
   the story, there early and never replaced), else its last clip's final frame;
   both looked up by their (run_id, scene_id) index. */
#define RUN_SUMMARY "id, concept, title, style, aspect_ratio, color_palette, status, script_path," \
    " final_video_path, started_at, completed_at, error, cost_usd, updated_at, owner_pid," \
    " heartbeat_at, provider," \
    " coalesce((SELECT keyframe_path FROM keyframe_assets k WHERE k.run_id = runs.id AND keyframe_path <> ''" \
    " ORDER BY scene_id LIMIT 1), (SELECT last_frame_path FROM video_assets v WHERE v.run_id = runs.id" \
    " AND last_frame_path <> '' ORDER BY scene_id DESC LIMIT 1)) AS thumb"
#define W_STATUS " WHERE status = ?1"
/* The filter GS_FILTER_UNENDED: every run not ended yet. */
#define W_UNENDED " WHERE status IN " GS_VOCAB_SQL_LIST(GS_STATUSES_UNENDED)
#define W_UNENDED_Q W_UNENDED " AND " Q_MATCH
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
    [ST_GET_TIMELINE] = "SELECT id, type, created_at, data FROM events WHERE run_id = ?1 AND type NOT IN ("
                        GS_VOCAB_SQL(GS_EV_RUN) ", " GS_VOCAB_SQL(GS_EV_RUN_NEW) ") ORDER BY id",
    [ST_LIST0] = LIST(""), [ST_LIST1] = LIST(W_STATUS), [ST_LIST2] = LIST(W_Q), [ST_LIST3] = LIST(W_BOTH),
    [ST_COUNT0] = COUNT(""), [ST_COUNT1] = COUNT(W_STATUS), [ST_COUNT2] = COUNT(W_Q),
    [ST_COUNT3] = COUNT(W_BOTH),
    [ST_GET_FORKS] = "SELECT id, status FROM runs WHERE parent_id = ?1 ORDER BY id",
    [ST_CACHE_GET] = "SELECT * FROM result_cache WHERE key = ?1",
    [ST_CACHE_PUT] = "INSERT INTO result_cache (run_id, key, kind, path, sha256, score, attempts, cost_usd,"
                     " asset_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                     " strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT (key) DO UPDATE SET"
                     " run_id = excluded.run_id, kind = excluded.kind, path = excluded.path,"
                     " sha256 = excluded.sha256, score = excluded.score, attempts = excluded.attempts,"
                     " cost_usd = excluded.cost_usd, asset_json = excluded.asset_json, created_at = excluded.created_at",
    [ST_LIST_UNENDED0] = LIST(W_UNENDED), [ST_LIST_UNENDED1] = LIST(W_UNENDED_Q),
    [ST_COUNT_UNENDED0] = COUNT(W_UNENDED), [ST_COUNT_UNENDED1] = COUNT(W_UNENDED_Q),
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
static const struct field cache_fields[] = {
    {"key", F_STR, 1, 1, NULL}, {"kind", F_STR, 1, 0, NULL}, {"path", F_STR, 1, 0, NULL},
    {"sha256", F_STR, 1, 0, NULL}, {"score", F_NUM, 0, 0, "0"}, {"attempts", F_INT, 0, 0, "0"},
    {"cost_usd", F_NUM, 0, 0, "0"}, {"asset_json", F_JOBJ, 0, 0, NULL},
};
#define NF(a) (int)(sizeof a / sizeof a[0])

const struct rowspec spec_chars = {"insert_characters", "characters", "chars", ST_UP_CHAR,
                                          character_fields, NF(character_fields)};
const struct rowspec spec_scenes = {"insert_scenes", "scenes", "scenes", ST_UP_SCENE,
                                           scene_fields, NF(scene_fields)};
const struct rowspec spec_casset = {"upsert_character_asset", "character_assets", "asset",
                                           ST_UP_CASSET, casset_fields, NF(casset_fields)};
const struct rowspec spec_kasset = {"upsert_keyframe_asset", "keyframe_assets", "asset",
                                           ST_UP_KASSET, kasset_fields, NF(kasset_fields)};
const struct rowspec spec_vasset = {"upsert_video_asset", "video_assets", "asset",
                                           ST_UP_VASSET, vasset_fields, NF(vasset_fields)};
const struct rowspec spec_cache = {"cache_put", "result_cache", "entry", ST_CACHE_PUT, cache_fields,
                                   NF(cache_fields)};
static const struct rowspec *const upsert_specs[] = {&spec_chars, &spec_scenes, &spec_casset,
                                                     &spec_kasset, &spec_vasset};

/* ---------------------------------------------------------------- connection */

int fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int fail_db(gs_db *db, char *err, size_t n, const char *op)
{
    db->fail_rc = sqlite3_errcode(db->h);
    return fail(err, n, "%s: %s", op, sqlite3_errmsg(db->h));
}

/* The stable code Lua callers branch on for a failure SQLite reported as rc
   (its primary code), or NULL when the failure is not one a caller can expect
   (a constraint, a misuse: a defect, raised as it is). */
const char *fail_code(int rc)
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
void iso_time(char *buf, size_t len, double seconds_ago)
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

double gs_store_monotonic(void) { return gs_monotonic(); }

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

sqlite3_stmt *get_stmt(gs_db *db, int id, const char *op, char *err, size_t n)
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

int tx_begin(gs_db *db, int immediate, const char *op, char *err, size_t n)
{
    int id = db->depth ? ST_SAVEPOINT : immediate ? ST_BEGIN_IMM : ST_BEGIN_READ;
    if (run_simple(db, id, op, err, n))
        return -1;
    db->depth++;
    return 0;
}

int tx_commit(gs_db *db, const char *op, char *err, size_t n)
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
int op_begin(gs_db *db, int multi, const char *op, char *err, size_t n)
{
    if (db->depth && !multi)
        return 0;
    return tx_begin(db, 1, op, err, n) ? -1 : 1;
}

int op_end(gs_db *db, int opened, int ok, const char *op, char *err, size_t n)
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
int step_write(gs_db *db, sqlite3_stmt *st, const char *op, char *err, size_t n)
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
void abort_op(gs_db *db, int depth)
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
        if (gs_mkdir_p(dir) != 0)
            rc = fail(err, n, "open: cannot create folder '%s': %s", dir, strerror(errno));
    }
    free(dir);
    return rc;
}

int exec(gs_db *db, const char *sql, const char *op, char *err, size_t n)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail(err, n, "%s: %s: %s", op, db->path, msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int64_t query_int(gs_db *db, const char *sql, const char *arg, int *ok)
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
    if (v < 5 && (add_missing_columns(db, "runs", schema5_columns, NF(schema5_columns), err, n) ||
                  exec(db, schema5_extras, "migrate", err, n)))
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
    double deadline = gs_monotonic() + 10.0;
    for (;;) {
        int busy = 0;
        gs_db *db = open_once(path, err, n, &busy);
        if (db || !busy || gs_monotonic() > deadline)
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
