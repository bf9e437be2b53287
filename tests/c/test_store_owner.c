/*
 * test_store_owner.c — who owns a run: process identities, the run lock and
 * its probe (from the same process too), a stopped owner that keeps its run
 * however old its heartbeat, concurrent claims (exactly one wins), a claim on
 * a deleted folder, and the hand-over of a claim to a child process.
 */
#define _GNU_SOURCE /* kill, raise with -std=c11 */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/wait.h>

#include "grokspicy.h"
#include "gs_owner.h"
#include "testutil.h"

static const char *dir;
static char err[GS_STORE_ERRLEN];

static const char *path_in(const char *fmt, long long n)
{
    static char buf[4][1200];
    static int slot;
    char *p = buf[slot++ % 4];
    char name[256];
    snprintf(name, sizeof name, fmt, n);
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static int exec_sql(gs_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(gs_store_handle(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql failed: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

static int64_t add_run(gs_db *db, const char *status)
{
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO runs (concept, status, started_at) VALUES ('c', '%s', 'now')", status);
    return exec_sql(db, sql) == SQLITE_OK ? sqlite3_last_insert_rowid(gs_store_handle(db)) : -1;
}

static const char *status_of(gs_db *db, int64_t id)
{
    static char out[32];
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(gs_store_handle(db), "SELECT status FROM runs WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

static int64_t owner_pid_of(gs_db *db, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(gs_store_handle(db), "SELECT owner_pid FROM runs WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* The run folder <db>-runs/<id> under dir (each database its own output
   folder, as in a real run), made; its lock path. */
static const char *run_lock(gs_db *db, int64_t id)
{
    char sub[300], cmd[1500];
    const char *name = strrchr(sqlite3_db_filename(gs_store_handle(db), "main"), '/');
    snprintf(sub, sizeof sub, "%s-runs/%%lld", name ? name + 1 : "db");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path_in(sub, (long long)id));
    if (system(cmd) != 0)
        fprintf(stderr, "mkdir failed\n");
    snprintf(sub, sizeof sub, "%s-runs/%%lld/.owner.lock", name ? name + 1 : "db");
    return path_in(sub, (long long)id);
}

static char read_byte(int fd)
{
    char c = 0;
    while (read(fd, &c, 1) < 0) {
    }
    return c;
}

static void test_identity(void)
{
    char a[GS_OWNER_IDLEN], b[GS_OWNER_IDLEN], one[GS_OWNER_IDLEN];
    REQUIRE(gs_owner_identity(getpid(), a, sizeof a) == 0);
    REQUIRE(gs_owner_identity(getpid(), b, sizeof b) == 0);
    CHECK_STR(a, b);
    CHECK(strchr(a, '@') != NULL && a[0] != '@');
    CHECK(gs_owner_identity(1, one, sizeof one) == 0 && strcmp(one, a) != 0);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    REQUIRE(child > 0);
    waitpid(child, NULL, 0);
    CHECK(gs_owner_identity(child, b, sizeof b) == -1);
    /* A pid alive under another identity (reused) is not the recorded owner. */
    CHECK(gs_owner_alive(getpid(), a, NULL, 0) == 1);
    CHECK(gs_owner_alive(getpid(), "1@another-boot", NULL, 0) == 0);
    CHECK(gs_owner_alive(child, a, NULL, 1) == 0);
    /* Rows without an identity (older writers): pid and a fresh heartbeat. */
    CHECK(gs_owner_alive(getpid(), NULL, NULL, 1) == 1);
    CHECK(gs_owner_alive(getpid(), NULL, NULL, 0) == 0);
    CHECK(gs_owner_alive(0, NULL, NULL, 1) == 0);
}

/* OFD locks: a second open of the file in the same process is another holder. */
static void test_lock_probe_same_process(void)
{
    const char *lock = path_in("probe/runs/%lld/.owner.lock", 7);
    char abs[4096];
    REQUIRE(gs_owner_take(7, lock, 1, abs, sizeof abs, err, sizeof err) == 0);
    CHECK(abs[0] == '/');
    CHECK(gs_owner_fd(7) >= 0);
    CHECK(gs_owner_alive(0, NULL, abs, 0) == 1);
    CHECK(gs_owner_take(7, lock, 1, abs, sizeof abs, err, sizeof err) == GS_OWNER_HELD);
    /* The lock decides when it can be asked: free means dead, whoever has the pid. */
    char me[GS_OWNER_IDLEN];
    REQUIRE(gs_owner_identity(getpid(), me, sizeof me) == 0);
    CHECK(gs_owner_release(7) == 1);
    CHECK(gs_owner_release(7) == 0);
    CHECK(gs_owner_fd(7) == -1);
    CHECK(gs_owner_alive(getpid(), me, abs, 0) == 0);
    /* No lock file to ask: the pid and its start time. */
    CHECK(gs_owner_alive(getpid(), me, path_in("probe/nowhere/%lld.lock", 0), 0) == 1);
    CHECK(gs_owner_take(8, path_in("probe/missing/%lld/.owner.lock", 8), 0, abs, sizeof abs, err, sizeof err) ==
          GS_OWNER_GONE);
}

/* A stopped owner (SIGSTOP) keeps its run whatever its heartbeat says; only its
   death frees the run. */
static void test_stopped_owner_keeps_run(void)
{
    gs_db *db = gs_store_open(path_in("stopped.db", 0), err, sizeof err);
    REQUIRE(db != NULL);
    int64_t id = add_run(db, "videos");
    const char *lock = run_lock(db, id);
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        gs_db *mine = gs_store_open(path_in("stopped.db", 0), err, sizeof err);
        int ok = mine && gs_store_own_run(mine, id, lock, err, sizeof err) == 1;
        if (write(ready[1], ok ? "1" : "0", 1) != 1)
            _exit(3);
        raise(SIGSTOP);
        for (;;)
            pause();
    }
    REQUIRE(child > 0);
    close(ready[1]);
    CHECK(read_byte(ready[0]) == '1');
    close(ready[0]);
    int ws;
    REQUIRE(waitpid(child, &ws, WUNTRACED) == child && WIFSTOPPED(ws));
    CHECK(owner_pid_of(db, id) == child);
    CHECK(exec_sql(db, "UPDATE runs SET heartbeat_at = '2001-01-01T00:00:00.000Z'") == SQLITE_OK);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 0);
    CHECK_STR(status_of(db, id), "videos");
    int why = 0;
    CHECK(gs_store_claim_run(db, id, lock, &why, err, sizeof err) == 0);
    CHECK(why == GS_CLAIM_RUNNING);
    /* With its lock file gone, the pid and its start time still say alive. */
    char moved[1300];
    snprintf(moved, sizeof moved, "%s.moved", lock);
    REQUIRE(rename(lock, moved) == 0);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 0);
    REQUIRE(rename(moved, lock) == 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 1);
    CHECK_STR(status_of(db, id), "interrupted");
    CHECK(gs_store_claim_run(db, id, lock, &why, err, sizeof err) == 1);
    CHECK_STR(status_of(db, id), "pending");
    CHECK(owner_pid_of(db, id) == getpid());
    CHECK(gs_owner_fd(id) >= 0);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 0); /* we hold it */
    gs_owner_release(id);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 1);
    gs_store_close(db);
}

/* Claimers started together: exactly one wins, the others see a live owner. */
static void test_claim_race(void)
{
    enum { N = 8 };
    gs_db *db = gs_store_open(path_in("race.db", 0), err, sizeof err);
    REQUIRE(db != NULL);
    int64_t id = add_run(db, "interrupted");
    const char *lock = run_lock(db, id);
    int go[2], results[2], release[2];
    REQUIRE(pipe(go) == 0 && pipe(results) == 0 && pipe(release) == 0);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(go[1]);
            close(release[1]);
            gs_db *mine = gs_store_open(path_in("race.db", 0), err, sizeof err);
            read_byte(go[0]); /* everyone starts when the parent closes go */
            int why = 0;
            int rc = mine ? gs_store_claim_run(mine, id, lock, &why, err, sizeof err) : -1;
            char r = rc == 1 ? 'W' : rc == 0 && why == GS_CLAIM_RUNNING ? 'R' : 'E';
            if (r == 'E')
                fprintf(stderr, "claimer %d: rc %d why %d: %s\n", i, rc, why, err);
            if (write(results[1], &r, 1) != 1)
                _exit(3);
            read_byte(release[0]); /* the winner holds its lock until the parent has counted */
            gs_store_close(mine);
            _exit(0);
        }
        REQUIRE(kids[i] > 0);
    }
    close(go[0]);
    close(results[1]);
    close(release[0]);
    close(go[1]);
    int won = 0, running = 0;
    for (int i = 0; i < N; i++) {
        char r = read_byte(results[0]);
        won += r == 'W';
        running += r == 'R';
    }
    CHECK(won == 1);
    CHECK(running == N - 1);
    CHECK_STR(status_of(db, id), "pending");
    close(release[1]);
    for (int i = 0; i < N; i++)
        waitpid(kids[i], NULL, 0);
    close(results[0]);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 1); /* the winner exited */
    gs_store_close(db);
}

static void test_claim_gone(void)
{
    gs_db *db = gs_store_open(path_in("gone.db", 0), err, sizeof err);
    REQUIRE(db != NULL);
    int64_t id = add_run(db, "failed");
    int why = 0;
    CHECK(gs_store_claim_run(db, id, path_in("runs-gone/%lld/.owner.lock", id), &why, err, sizeof err) == 0);
    CHECK(why == GS_CLAIM_GONE);
    CHECK_STR(gs_store_claim_reason(why), "gone");
    CHECK_STR(status_of(db, id), "failed");
    CHECK(gs_owner_fd(id) == -1);
    int64_t done = add_run(db, "complete");
    CHECK(gs_store_claim_run(db, done, run_lock(db, done), &why, err, sizeof err) == 0 && why == GS_CLAIM_COMPLETE);
    CHECK(gs_store_claim_run(db, 999, run_lock(db, 999), &why, err, sizeof err) == 0 && why == GS_CLAIM_MISSING);
    gs_store_close(db);
}

/* The claimer hands its lock to a child through an inherited descriptor; the
   run is never free in between, and only the child can adopt it. */
static void test_adopt(void)
{
    gs_db *db = gs_store_open(path_in("adopt.db", 0), err, sizeof err);
    REQUIRE(db != NULL);
    int64_t id = add_run(db, "cancelled");
    const char *lock = run_lock(db, id);
    REQUIRE(gs_store_claim_run(db, id, lock, NULL, err, sizeof err) == 1);
    int ready[2], release[2];
    REQUIRE(pipe(ready) == 0 && pipe(release) == 0);
    pid_t child = fork();
    if (child == 0) {
        close(release[1]);
        /* What exec does to the table of held locks, by hand: keep a copy of the
           descriptor, forget the parent's entry. */
        int fd = dup(gs_owner_fd(id));
        gs_owner_release(id);
        gs_db *mine = gs_store_open(path_in("adopt.db", 0), err, sizeof err);
        int why = 0;
        int rc = mine ? gs_store_adopt_run(mine, id, fd, &why, err, sizeof err) : -1;
        if (rc != 1)
            fprintf(stderr, "adopt: rc %d why %d: %s\n", rc, why, err);
        if (write(ready[1], rc == 1 ? "A" : "E", 1) != 1)
            _exit(3);
        read_byte(release[0]);
        gs_store_close(mine);
        _exit(0);
    }
    REQUIRE(child > 0);
    close(ready[1]);
    close(release[0]);
    CHECK(read_byte(ready[0]) == 'A');
    CHECK(owner_pid_of(db, id) == child);
    gs_owner_release(id); /* the parent lets go: the child's copy keeps the lock */
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 0);
    int why = 0;
    CHECK(gs_store_claim_run(db, id, lock, &why, err, sizeof err) == 0 && why == GS_CLAIM_RUNNING);
    /* A descriptor of the same file that does not hold the lock cannot adopt it. */
    int other = open(lock, O_RDWR);
    CHECK(gs_store_adopt_run(db, id, other, &why, err, sizeof err) == 0 && why == GS_CLAIM_HELD);
    close(other);
    close(release[1]);
    waitpid(child, NULL, 0);
    close(ready[0]);
    CHECK(gs_store_mark_interrupted(db, 1, err, sizeof err) == 1);
    /* Not claimed for anyone: nothing to adopt. */
    other = open(lock, O_RDWR);
    CHECK(gs_store_adopt_run(db, id, other, &why, err, sizeof err) == 0 && why == GS_CLAIM_NOT_HANDED);
    close(other);
    gs_store_close(db);
}

/* Schema 3 -> 4 adds the owner columns in place; rows and their ids stay. */
static void test_migrate_v3(void)
{
    const char *p = path_in("v3.db", 0);
    gs_db *db = gs_store_open(p, err, sizeof err);
    REQUIRE(db != NULL);
    int64_t id = add_run(db, "interrupted");
    REQUIRE(exec_sql(db, "ALTER TABLE runs DROP COLUMN owner_start; ALTER TABLE runs DROP COLUMN owner_lock;"
                         "PRAGMA user_version = 3") == SQLITE_OK);
    gs_store_close(db);
    db = gs_store_open(p, err, sizeof err);
    REQUIRE(db != NULL);
    sqlite3_stmt *st = NULL;
    int64_t cols = -1, version = -1;
    if (sqlite3_prepare_v2(gs_store_handle(db), "SELECT (SELECT count(*) FROM pragma_table_info('runs') WHERE name"
                                                " IN ('owner_start', 'owner_lock')), (SELECT user_version FROM"
                                                " pragma_user_version)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        cols = sqlite3_column_int64(st, 0);
        version = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    CHECK(cols == 2);
    CHECK(version == GS_STORE_SCHEMA_VERSION);
    CHECK_STR(status_of(db, id), "interrupted");
    CHECK(gs_store_claim_run(db, id, run_lock(db, id), NULL, err, sizeof err) == 1);
    gs_owner_release(id);
    gs_store_close(db);
}

int main(void)
{
    dir = tu_tmpdir("test_store_owner");
    RUN(test_identity);
    RUN(test_lock_probe_same_process);
    RUN(test_stopped_owner_keeps_run);
    RUN(test_claim_race);
    RUN(test_claim_gone);
    RUN(test_adopt);
    RUN(test_migrate_v3);
    return TU_REPORT();
}
