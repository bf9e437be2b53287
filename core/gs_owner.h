/*
 * gs_owner.h — who owns a run. The owning process holds an open file description
 * write lock (F_OFD_SETLK) on the run's lock file, <output>/runs/<id>/.owner.lock,
 * for as long as it runs the run; the runs table names it by pid and start time.
 * The lock ends with the process (a crash, SIGKILL) and nothing else, so a
 * stopped process (SIGSTOP) or one waiting on a database lock keeps its run.
 *
 * Locks are per open file description, not per process: a child that inherits
 * the descriptor shares the lock (the dashboard hands a claimed run to the
 * process it spawns that way), and a second open() of the file in the same
 * process is a different holder (so a test can probe its own lock).
 *
 * The store (core/store*.c) is the only caller that decides anything with these;
 * this file never touches the database. Thread-safe: the table of held locks is
 * process-wide and guarded by a mutex.
 */
#ifndef GS_OWNER_H
#define GS_OWNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for an identity string: "<start ticks>@<boot id>". */
#define GS_OWNER_IDLEN 80

/* Results of gs_owner_take and gs_owner_adopt besides 0 (done) and -1 (error). */
enum {
    GS_OWNER_HELD = 1,  /* another holder has the lock: the run is alive */
    GS_OWNER_GONE = 2,  /* the lock file's folder does not exist */
};

/*
 * The identity of process pid: its start time (clock ticks after boot, field 22
 * of /proc/<pid>/stat) and the boot it belongs to, so a reused pid never passes
 * for the process that had it. 0 with out filled, -1 when there is no such
 * process (or no /proc).
 */
int gs_owner_identity(pid_t pid, char *out, size_t n);

/*
 * The one liveness test of a run's owner, from what the runs table records:
 * 1 alive, 0 dead.
 *   - lock names a lock file that can be opened: alive while some process
 *     holds its lock, whatever the pid says;
 *   - otherwise, when start is known: alive while pid runs with that identity;
 *   - otherwise (rows written before owners were recorded): alive while pid
 *     exists and legacy_fresh (its heartbeat is recent) holds.
 */
int gs_owner_alive(int64_t pid, const char *start, const char *lock, int legacy_fresh);

/*
 * Takes the lock of run_id at path for this process (creating the file, and
 * with make_dir its folder), without waiting. On 0, abs (n bytes) receives the
 * lock file's absolute path and the lock is held until gs_owner_release or
 * exit. GS_OWNER_HELD, GS_OWNER_GONE (folder missing and make_dir 0), or -1
 * with err set. The locks a process holds are known by run id (one store's
 * runs): taking a second lock for a run id it holds answers GS_OWNER_HELD.
 */
int gs_owner_take(int64_t run_id, const char *path, int make_dir, char *abs, size_t n, char *err, size_t errlen);

/*
 * Makes fd (inherited from the process that claimed run_id) this process's
 * lock of run_id: fd must be open on the same file as lock_path and its lock
 * must be ours alone (no other holder). 0 done (fd is then close-on-exec and
 * owned here), GS_OWNER_HELD, GS_OWNER_GONE (lock_path missing), or -1 with
 * err set (fd is not that file).
 */
int gs_owner_adopt(int64_t run_id, int fd, const char *lock_path, char *err, size_t errlen);

/* Whether this process holds run_id's lock; its descriptor, or -1. */
int gs_owner_fd(int64_t run_id);

/* Lets go of run_id's lock (closes this process's descriptor). 1 when one was held. */
int gs_owner_release(int64_t run_id);

#ifdef __cplusplus
}
#endif

#endif
