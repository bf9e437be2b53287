/*
 * media_child.c — grokspicy.media: child processes. Spawns ffmpeg and ffprobe
 * (and any argv the media API is given), feeds stdin, captures stdout and the
 * tail of stderr, enforces the deadline and the calling thread's cancel flags,
 * and reaps the child. Safe to call from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gs_media.h"
#include "gs_util.h"
#include "media_internal.h"

extern char **environ;

#define STDERR_KEEP 4096
#define CANCEL_POLL_MS 100

/* The calling thread's cancel flags (gs_media_set_cancel): a child is killed
 * within CANCEL_POLL_MS once either reads non-zero. */
static _Thread_local const atomic_int *cancel_a, *cancel_b;

void gs_media_set_cancel(const atomic_int *a, const atomic_int *b)
{
    cancel_a = a;
    cancel_b = b;
}

int gs_media_cancelled(void)
{
    return (cancel_a && atomic_load(cancel_a)) || (cancel_b && atomic_load(cancel_b));
}
#define MAX_CAPTURE ((size_t)1 << 30)

/* ---- child processes ---------------------------------------------------- */

/* The tool's name for messages: "ffmpeg" for whatever $GS_FFMPEG names. */
const char *tool_name(const char *prog)
{
    if (strcmp(prog, gs_media_ffmpeg()) == 0)
        return "ffmpeg";
    if (strcmp(prog, gs_media_ffprobe()) == 0)
        return "ffprobe";
    const char *slash = strrchr(prog, '/');
    return slash ? slash + 1 : prog;
}

/* Appends to the stderr tail, keeping at most the last STDERR_KEEP bytes. */
static void tail_append(char *tail, size_t *len, const char *data, size_t n)
{
    if (n >= STDERR_KEEP) {
        memcpy(tail, data + n - STDERR_KEEP, STDERR_KEEP);
        *len = STDERR_KEEP;
        return;
    }
    if (*len + n > STDERR_KEEP) {
        size_t drop = *len + n - STDERR_KEEP;
        memmove(tail, tail + drop, *len - drop);
        *len -= drop;
    }
    memcpy(tail + *len, data, n);
    *len += n;
}

/* The stderr tail as one quoted line: newlines become " | ", cut to fit max. */
static void tail_quote(const char *tail, size_t len, char *q, size_t max)
{
    char flat[STDERR_KEEP * 3 + 1];
    size_t n = 0;
    int pending_sep = 0;
    for (size_t i = 0; i < len; i++) {
        char c = tail[i];
        if (c == '\n' || c == '\r') {
            pending_sep = n > 0;
            continue;
        }
        if (pending_sep) {
            memcpy(flat + n, " | ", 3);
            n += 3;
            pending_sep = 0;
        }
        flat[n++] = (c == '"') ? '\'' : ((unsigned char)c < 32 ? ' ' : c);
    }
    while (n > 0 && flat[n - 1] == ' ')
        n--;
    flat[n] = '\0';
    if (max == 0)
        return;
    if (n + 1 > max && max > 4) {
        size_t keep = max - 4;
        memcpy(q, "...", 3);
        memcpy(q + 3, flat + n - keep, keep + 1);
        return;
    }
    memcpy(q, flat, n + 1);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

int gs_media_run(const char *const argv[], const void *in, size_t in_len, double timeout_s,
                 unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    return run_child(argv, in, in_len, NULL, NULL, timeout_s, out, out_len, err, errlen);
}

/* One child process being run: its pipes, what it was given and what it said. */
typedef struct child {
    const char *prog, *tool;
    int errp[2], outp[2], inp[2], devnull;
    pid_t pid;
    const void *in;
    size_t in_len, in_off;
    feed_fn feed;
    void *feed_ud;
    unsigned char *obuf;
    size_t olen, ocap;
    char tail[STDERR_KEEP];
    size_t tail_len;
    char *err;
    size_t errlen;
} child;

/* Pipes, then the child. want_out: capture stdout (else /dev/null). */
static int child_start(child *ch, const char *const argv[], int want_out)
{
    int want_in = ch->in || ch->feed;
    ch->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (ch->devnull < 0 || pipe2(ch->errp, O_CLOEXEC) != 0 || (want_out && pipe2(ch->outp, O_CLOEXEC) != 0) ||
        (want_in && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch->inp) != 0)) {
        gs_seterr(ch->err, ch->errlen, "%s: cannot create pipes: %s", ch->tool, strerror(errno));
        return -1;
    }
    /* Pipes are close-on-exec, so children spawned by other threads never
     * inherit them; dup2 onto 0/1/2 clears the flag for this child only.
     * stdin is a socket so that writing after the child exits gives EPIPE
     * through MSG_NOSIGNAL instead of a process-wide SIGPIPE. Its own process
     * group: Ctrl+C in the terminal reaches the host, which decides; a
     * deadline kills the whole group. */
    int fds[3] = {want_in ? ch->inp[1] : ch->devnull, want_out ? ch->outp[1] : ch->devnull, ch->errp[1]};
    int e = gs_spawn(&ch->pid, argv, environ, fds, -1, GS_SPAWN_GROUP);
    if (e != 0) {
        ch->pid = -1;
        if (e == ENOENT && (strcmp(ch->tool, "ffmpeg") == 0 || strcmp(ch->tool, "ffprobe") == 0))
            gs_seterr(ch->err, ch->errlen, "%s not found on PATH: install ffmpeg (could not run '%s')", ch->tool,
                      ch->prog);
        else if (e == ENOENT)
            gs_seterr(ch->err, ch->errlen, "%s not found on PATH", ch->prog);
        else
            gs_seterr(ch->err, ch->errlen, "%s: cannot run '%s': %s", ch->tool, ch->prog, strerror(e));
        return -1;
    }
    close_fd(&ch->errp[1]);
    close_fd(&ch->outp[1]);
    close_fd(&ch->inp[1]);
    if (ch->in && ch->in_len == 0 && !ch->feed)
        close_fd(&ch->inp[0]);
    return 0;
}

/* stdout into the capture buffer. -1: too large or out of memory. */
static int read_out(child *ch)
{
    if (ch->ocap - ch->olen < 65536) {
        size_t ncap = ch->ocap ? ch->ocap * 2 : 262144;
        unsigned char *nb = ncap <= MAX_CAPTURE ? realloc(ch->obuf, ncap) : NULL;
        if (!nb) {
            gs_seterr(ch->err, ch->errlen, "%s: output too large or out of memory", ch->tool);
            return -1;
        }
        ch->obuf = nb;
        ch->ocap = ncap;
    }
    ssize_t n = read(ch->outp[0], ch->obuf + ch->olen, ch->ocap - ch->olen);
    if (n > 0)
        ch->olen += (size_t)n;
    else if (n == 0 || errno != EINTR)
        close_fd(&ch->outp[0]);
    return 0;
}

/* The next piece of stdin; more from feed() when the last is written. -1: feed failed. */
static int write_in(child *ch)
{
    if (ch->in_off == ch->in_len && ch->feed) {
        const unsigned char *next = NULL;
        size_t next_len = 0;
        if (ch->feed(ch->feed_ud, &next, &next_len, ch->err, ch->errlen) != 0)
            return -1;
        ch->in = next;
        ch->in_len = next_len;
        ch->in_off = 0;
        if (!next_len) {
            close_fd(&ch->inp[0]);
            return 0;
        }
    }
    size_t chunk = ch->in_len - ch->in_off > 65536 ? 65536 : ch->in_len - ch->in_off;
    ssize_t n = send(ch->inp[0], (const char *)ch->in + ch->in_off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
        ch->in_off += (size_t)n;
    else if (n < 0 && errno != EINTR && errno != EAGAIN)
        close_fd(&ch->inp[0]); /* the child stopped reading; its exit status tells */
    if (ch->in_off == ch->in_len && !ch->feed)
        close_fd(&ch->inp[0]);
    return 0;
}

/* Moves bytes until the child closes every pipe. 0: closed; 1: the deadline
 * passed; -1: cancelled or failed (err says which): kill it. */
static int pump(child *ch, double deadline)
{
    while (ch->errp[0] >= 0 || ch->outp[0] >= 0 || ch->inp[0] >= 0) {
        struct pollfd pf[3];
        int np = 0, ie = -1, io = -1, ii = -1;
        if (ch->errp[0] >= 0) {
            ie = np;
            pf[np++] = (struct pollfd){.fd = ch->errp[0], .events = POLLIN};
        }
        if (ch->outp[0] >= 0) {
            io = np;
            pf[np++] = (struct pollfd){.fd = ch->outp[0], .events = POLLIN};
        }
        if (ch->inp[0] >= 0) {
            ii = np;
            pf[np++] = (struct pollfd){.fd = ch->inp[0], .events = POLLOUT};
        }
        int ms = -1;
        if (deadline > 0) {
            double left = deadline - gs_monotonic();
            if (left <= 0)
                return 1;
            ms = (int)(left * 1000.0) + 1;
        }
        if (gs_media_cancelled()) {
            gs_seterr(ch->err, ch->errlen, "%s: cancelled, killed", ch->tool);
            return -1;
        }
        if ((cancel_a || cancel_b) && (ms < 0 || ms > CANCEL_POLL_MS))
            ms = CANCEL_POLL_MS;
        int r = poll(pf, (nfds_t)np, ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            gs_seterr(ch->err, ch->errlen, "%s: poll: %s", ch->tool, strerror(errno));
            return -1;
        }
        if (r == 0)
            continue; /* the deadline check above decides */
        if (ie >= 0 && pf[ie].revents) {
            char buf[4096];
            ssize_t n = read(ch->errp[0], buf, sizeof buf);
            if (n > 0)
                tail_append(ch->tail, &ch->tail_len, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                close_fd(&ch->errp[0]);
        }
        if ((io >= 0 && pf[io].revents && read_out(ch) != 0) || (ii >= 0 && pf[ii].revents && write_in(ch) != 0))
            return -1;
    }
    return 0;
}

/* Pipes closed; the child may still be exiting (or hung with closed fds).
 * 0 with *status (ch->pid reaped: -1); 1: the deadline passed; -1: kill it;
 * -2: waitpid failed (ch->pid forgotten). */
static int child_wait(child *ch, double deadline, int *status)
{
    for (;;) {
        pid_t w = waitpid(ch->pid, status, WNOHANG);
        if (w == ch->pid) {
            ch->pid = -1;
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            gs_seterr(ch->err, ch->errlen, "%s: waitpid: %s", ch->tool, strerror(errno));
            ch->pid = -1;
            return -2;
        }
        if (deadline > 0 && gs_monotonic() >= deadline)
            return 1;
        if (gs_media_cancelled()) {
            gs_seterr(ch->err, ch->errlen, "%s: cancelled, killed", ch->tool);
            return -1;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

/* What an exit status says: 0 for a clean exit, else -1 with the stderr tail in err. */
static int exit_verdict(child *ch, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char q[2048];
    tail_quote(ch->tail, ch->tail_len, q, sizeof q);
    if (WIFEXITED(status))
        gs_seterr(ch->err, ch->errlen, "%s failed (exit status %d)%s%s%s", ch->tool, WEXITSTATUS(status),
                  *q ? ": \"" : "", q, *q ? "\"" : "");
    else
        gs_seterr(ch->err, ch->errlen, "%s killed by signal %d%s%s%s", ch->tool, WTERMSIG(status),
                  *q ? ": \"" : "", q, *q ? "\"" : "");
    return -1;
}

/* Kills the child's group and reaps it; closes every pipe. */
static void child_end(child *ch)
{
    if (ch->pid > 0) {
        int status;
        kill(-ch->pid, SIGKILL);
        kill(ch->pid, SIGKILL);
        while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR) {
        }
        ch->pid = -1;
    }
    close_fd(&ch->devnull);
    for (int i = 0; i < 2; i++) {
        close_fd(&ch->errp[i]);
        close_fd(&ch->outp[i]);
        close_fd(&ch->inp[i]);
    }
}

int run_child(const char *const argv[], const void *in, size_t in_len, feed_fn feed, void *feed_ud,
              double timeout_s, unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    child ch = {.prog = argv[0], .tool = tool_name(argv[0]), .errp = {-1, -1}, .outp = {-1, -1}, .inp = {-1, -1},
                .devnull = -1, .pid = -1, .in = in, .in_len = in_len, .feed = feed, .feed_ud = feed_ud,
                .err = err, .errlen = errlen};
    int rc = -1, status = 0;
    if (out) {
        *out = NULL;
        *out_len = 0;
    }
    if (child_start(&ch, argv, out != NULL) == 0) {
        double deadline = timeout_s > 0 ? gs_monotonic() + timeout_s : 0;
        int pumped = pump(&ch, deadline);
        int waited = pumped == 0 ? child_wait(&ch, deadline, &status) : pumped;
        if (waited == 1) {
            char q[1024];
            tail_quote(ch.tail, ch.tail_len, q, sizeof q);
            gs_seterr(err, errlen, "%s: timeout after %.1f s, killed%s%s%s", ch.tool, timeout_s, *q ? ": \"" : "",
                      q, *q ? "\"" : "");
        } else if (waited == 0) {
            rc = exit_verdict(&ch, status);
        }
    }
    child_end(&ch);
    if (rc == 0 && out) {
        if (!ch.obuf)
            ch.obuf = malloc(1);
        *out = ch.obuf;
        *out_len = ch.olen;
        ch.obuf = NULL;
    }
    free(ch.obuf);
    return rc;
}
