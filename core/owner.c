/*
 * owner.c — who owns a run (gs_owner.h): a process's identity (pid start time
 * and boot id), the run lock files (an OFD write lock on runs/<id>/.owner.lock
 * held for the run's life), the process-wide table of the locks this process
 * holds, and the one liveness test the store applies to a run's recorded owner.
 * Never touches the database: the store records and decides.
 *
 * OFD locks (not flock, not classic fcntl locks) because:
 *   - a probe can ask F_OFD_GETLK without taking the lock, so probing never
 *     makes a claimer fail, and never releases anything (closing any descriptor
 *     of a file drops a process's classic fcntl locks on it; OFD locks go only
 *     with their own open file description);
 *   - the lock belongs to the open file description, so a spawned child that
 *     inherits the descriptor holds it too: a claim can be handed over with no
 *     moment where nobody holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gs_owner.h"
#include "gs_util.h"

/* ---------------------------------------------------------------- identity */

static char boot_id[48];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return;
    if (fgets(boot_id, sizeof boot_id, f))
        boot_id[strcspn(boot_id, "\r\n")] = '\0';
    else
        boot_id[0] = '\0';
    fclose(f);
}

/* Field 22 (starttime) of /proc/<pid>/stat; 0 when unreadable. Field 2 (comm)
   is in parentheses and may hold spaces and ')' itself: count from the last ')'. */
static unsigned long long start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 3; field <= 22; field++) { /* field 3 (state) is the first after ") " */
        while (*p == ' ')
            p++;
        if (!*p)
            return 0;
        if (field == 22)
            return strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

int gs_owner_identity(pid_t pid, char *out, size_t n)
{
    if (pid <= 0)
        return -1;
    unsigned long long t = start_ticks(pid);
    if (!t)
        return -1;
    pthread_once(&boot_once, read_boot_id);
    snprintf(out, n, "%llu@%s", t, boot_id);
    return 0;
}

/* ---------------------------------------------------------------- probing */

static struct flock whole_file(short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl); /* l_pid must be 0 for OFD locks */
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fl;
}

/* 1 when someone holds the lock of the file at path, 0 when nobody does, -1
   when that cannot be known (no such file, not a regular file, no OFD locks). */
static int lock_held(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat sb;
    struct flock fl = whole_file(F_WRLCK);
    int rc = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? fcntl(fd, F_OFD_GETLK, &fl) : -1;
    close(fd);
    if (rc != 0)
        return -1;
    return fl.l_type != F_UNLCK;
}

int gs_owner_alive(int64_t pid, const char *start, const char *lock, int legacy_fresh)
{
    if (lock && *lock) {
        int held = lock_held(lock);
        if (held >= 0)
            return held;
    }
    if (pid <= 0 || pid > INT_MAX)
        return 0;
    if (start && *start) {
        char id[GS_OWNER_IDLEN];
        if (gs_owner_identity((pid_t)pid, id, sizeof id) == 0)
            return strcmp(id, start) == 0;
        if (access("/proc/self/stat", R_OK) == 0)
            return 0; /* /proc works and has no such pid */
        /* no /proc here: the pid is all there is */
    }
    int exists = kill((pid_t)pid, 0) == 0 || errno != ESRCH; /* EPERM: exists */
    return exists && (start && *start ? 1 : legacy_fresh);
}

/* ---------------------------------------------------------------- held locks */

#define MAX_HELD 64

static struct {
    int64_t run_id;
    int fd;
} held[MAX_HELD];
static int n_held;
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;

/* Index of run_id in held[], or -1. Call with held_mu locked. */
static int find_held(int64_t run_id)
{
    for (int i = 0; i < n_held; i++)
        if (held[i].run_id == run_id)
            return i;
    return -1;
}

/* 0, or -1 with err set when the table is full. Call with held_mu locked. */
static int add_held(int64_t run_id, int fd, char *err, size_t errlen)
{
    if (n_held == MAX_HELD) {
        gs_seterr(err, errlen, "run %lld: this process already owns %d runs", (long long)run_id, MAX_HELD);
        return -1;
    }
    held[n_held].run_id = run_id;
    held[n_held].fd = fd;
    n_held++;
    return 0;
}

static int set_lock(int fd)
{
    struct flock fl = whole_file(F_WRLCK);
    return fcntl(fd, F_OFD_SETLK, &fl);
}

int gs_owner_take(int64_t run_id, const char *path, int make_dir, char *abs, size_t n, char *err, size_t errlen)
{
    if (make_dir) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (gs_mkdir_p(dir) != 0) {
                gs_seterr(err, errlen, "cannot create the run folder %s: %s", dir, strerror(errno));
                return -1;
            }
        }
    }
    pthread_mutex_lock(&held_mu);
    int rc = -1;
    int fd = -1;
    if (find_held(run_id) >= 0) { /* this process has it already: not a second time */
        rc = GS_OWNER_HELD;
        goto out;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = GS_OWNER_GONE;
        else
            gs_seterr(err, errlen, "cannot open the run lock %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        gs_seterr(err, errlen, "the run lock %s is not a regular file", path);
        goto out;
    }
    if (set_lock(fd) != 0) {
        if (errno == EAGAIN || errno == EACCES)
            rc = GS_OWNER_HELD;
        else
            gs_seterr(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        goto out;
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        gs_seterr(err, errlen, "cannot resolve %s: %s", path, strerror(errno));
        goto out;
    }
    if (strlen(real) >= n) {
        gs_seterr(err, errlen, "the run lock path %s is too long", real);
        goto out;
    }
    memcpy(abs, real, strlen(real) + 1);
    if (add_held(run_id, fd, err, errlen) == 0) {
        rc = 0;
        fd = -1; /* the table has it */
    }
out:
    if (fd >= 0)
        close(fd); /* drops the lock if it was taken */
    pthread_mutex_unlock(&held_mu);
    return rc;
}

int gs_owner_adopt(int64_t run_id, int fd, const char *lock_path, char *err, size_t errlen)
{
    struct stat mine, there;
    if (fd < 0 || fstat(fd, &mine) != 0) {
        gs_seterr(err, errlen, "run %lld: the inherited lock descriptor %d is not open", (long long)run_id, fd);
        return -1;
    }
    if (!lock_path || stat(lock_path, &there) != 0)
        return GS_OWNER_GONE;
    if (!S_ISREG(mine.st_mode) || mine.st_dev != there.st_dev || mine.st_ino != there.st_ino) {
        gs_seterr(err, errlen, "run %lld: the inherited descriptor %d is not the run's lock %s", (long long)run_id,
                  fd, lock_path);
        return -1;
    }
    /* Setting the lock succeeds when our description holds it already (it was
       handed over locked) or when nobody does; it fails only for another holder. */
    pthread_mutex_lock(&held_mu);
    int rc = -1;
    if (find_held(run_id) >= 0) {
        rc = GS_OWNER_HELD;
    } else if (set_lock(fd) != 0) {
        if (errno == EAGAIN || errno == EACCES)
            rc = GS_OWNER_HELD;
        else
            gs_seterr(err, errlen, "cannot lock %s: %s", lock_path, strerror(errno));
    } else if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        gs_seterr(err, errlen, "run %lld: fcntl: %s", (long long)run_id, strerror(errno));
    } else {
        rc = add_held(run_id, fd, err, errlen);
    }
    pthread_mutex_unlock(&held_mu);
    return rc;
}

int gs_owner_fd(int64_t run_id)
{
    pthread_mutex_lock(&held_mu);
    int i = find_held(run_id);
    int fd = i >= 0 ? held[i].fd : -1;
    pthread_mutex_unlock(&held_mu);
    return fd;
}

int gs_owner_release(int64_t run_id)
{
    pthread_mutex_lock(&held_mu);
    int i = find_held(run_id);
    if (i >= 0) {
        close(held[i].fd);
        held[i] = held[--n_held];
    }
    pthread_mutex_unlock(&held_mu);
    return i >= 0;
}
