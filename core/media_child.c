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

int run_child(const char *const argv[], const void *in, size_t in_len, feed_fn feed, void *feed_ud,
              double timeout_s, unsigned char **out, size_t *out_len, char *err, size_t errlen)
{
    int rc = -1;
    int errp[2] = {-1, -1}, outp[2] = {-1, -1}, inp[2] = {-1, -1}, devnull = -1;
    pid_t pid = -1;
    unsigned char *obuf = NULL;
    size_t olen = 0, ocap = 0, in_off = 0;
    char tail[STDERR_KEEP];
    size_t tail_len = 0;
    int timed_out = 0;
    const char *prog = argv[0];
    const char *tool = tool_name(prog);

    if (out) {
        *out = NULL;
        *out_len = 0;
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || pipe2(errp, O_CLOEXEC) != 0 || (out && pipe2(outp, O_CLOEXEC) != 0) ||
        ((in || feed) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inp) != 0)) {
        gs_seterr(err, errlen, "%s: cannot create pipes: %s", tool, strerror(errno));
        goto done;
    }
    /* Pipes are close-on-exec, so children spawned by other threads never
     * inherit them; dup2 onto 0/1/2 clears the flag for this child only.
     * stdin is a socket so that writing after the child exits gives EPIPE
     * through MSG_NOSIGNAL instead of a process-wide SIGPIPE. Its own process
     * group: Ctrl+C in the terminal reaches the host, which decides; a
     * deadline kills the whole group. */
    int fds[3] = {in || feed ? inp[1] : devnull, out ? outp[1] : devnull, errp[1]};
    int e = gs_spawn(&pid, argv, environ, fds, -1, GS_SPAWN_GROUP);
    if (e != 0) {
        pid = -1;
        if (e == ENOENT && (strcmp(tool, "ffmpeg") == 0 || strcmp(tool, "ffprobe") == 0))
            gs_seterr(err, errlen, "%s not found on PATH: install ffmpeg (could not run '%s')", tool, prog);
        else if (e == ENOENT)
            gs_seterr(err, errlen, "%s not found on PATH", prog);
        else
            gs_seterr(err, errlen, "%s: cannot run '%s': %s", tool, prog, strerror(e));
        goto done;
    }
    close_fd(&errp[1]);
    close_fd(&outp[1]);
    close_fd(&inp[1]);
    if (in && in_len == 0 && !feed)
        close_fd(&inp[0]);

    double deadline = timeout_s > 0 ? gs_monotonic() + timeout_s : 0;
    while (errp[0] >= 0 || outp[0] >= 0 || inp[0] >= 0) {
        struct pollfd pf[3];
        int np = 0, ie = -1, io = -1, ii = -1;
        if (errp[0] >= 0) {
            ie = np;
            pf[np++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
        }
        if (outp[0] >= 0) {
            io = np;
            pf[np++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
        }
        if (inp[0] >= 0) {
            ii = np;
            pf[np++] = (struct pollfd){.fd = inp[0], .events = POLLOUT};
        }
        int ms = -1;
        if (deadline > 0) {
            double left = deadline - gs_monotonic();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            ms = (int)(left * 1000.0) + 1;
        }
        if (gs_media_cancelled()) {
            gs_seterr(err, errlen, "%s: cancelled, killed", tool);
            goto kill_child;
        }
        if ((cancel_a || cancel_b) && (ms < 0 || ms > CANCEL_POLL_MS))
            ms = CANCEL_POLL_MS;
        int r = poll(pf, (nfds_t)np, ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            gs_seterr(err, errlen, "%s: poll: %s", tool, strerror(errno));
            goto kill_child;
        }
        if (r == 0)
            continue; /* the deadline check above decides */
        if (ie >= 0 && pf[ie].revents) {
            char buf[4096];
            ssize_t n = read(errp[0], buf, sizeof buf);
            if (n > 0)
                tail_append(tail, &tail_len, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                close_fd(&errp[0]);
        }
        if (io >= 0 && pf[io].revents) {
            if (ocap - olen < 65536) {
                size_t ncap = ocap ? ocap * 2 : 262144;
                unsigned char *nb = ncap <= MAX_CAPTURE ? realloc(obuf, ncap) : NULL;
                if (!nb) {
                    gs_seterr(err, errlen, "%s: output too large or out of memory", tool);
                    goto kill_child;
                }
                obuf = nb;
                ocap = ncap;
            }
            ssize_t n = read(outp[0], obuf + olen, ocap - olen);
            if (n > 0)
                olen += (size_t)n;
            else if (n == 0 || errno != EINTR)
                close_fd(&outp[0]);
        }
        if (ii >= 0 && pf[ii].revents) {
            if (in_off == in_len && feed) {
                const unsigned char *next = NULL;
                size_t next_len = 0;
                if (feed(feed_ud, &next, &next_len, err, errlen) != 0)
                    goto kill_child;
                in = next;
                in_len = next_len;
                in_off = 0;
                if (!next_len) {
                    close_fd(&inp[0]);
                    continue;
                }
            }
            size_t chunk = in_len - in_off > 65536 ? 65536 : in_len - in_off;
            ssize_t n = send(inp[0], (const char *)in + in_off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                in_off += (size_t)n;
            else if (n < 0 && errno != EINTR && errno != EAGAIN)
                close_fd(&inp[0]); /* the child stopped reading; its exit status tells */
            if (in_off == in_len && !feed)
                close_fd(&inp[0]);
        }
    }

    int status = 0;
    if (!timed_out) {
        /* Pipes closed; the child may still be exiting (or hung with closed fds). */
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                break;
            if (w < 0 && errno != EINTR) {
                gs_seterr(err, errlen, "%s: waitpid: %s", tool, strerror(errno));
                pid = -1;
                goto done;
            }
            if (deadline > 0 && gs_monotonic() >= deadline) {
                timed_out = 1;
                break;
            }
            if (gs_media_cancelled()) {
                gs_seterr(err, errlen, "%s: cancelled, killed", tool);
                goto kill_child;
            }
            nanosleep(&(struct timespec){0, 2000000}, NULL);
        }
        if (!timed_out)
            pid = -1;
    }
    if (timed_out) {
        char q[1024];
        tail_quote(tail, tail_len, q, sizeof q);
        gs_seterr(err, errlen, "%s: timeout after %.1f s, killed%s%s%s", tool, timeout_s,
               *q ? ": \"" : "", q, *q ? "\"" : "");
        goto kill_child;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = 0;
        goto done;
    }
    {
        char q[2048];
        tail_quote(tail, tail_len, q, sizeof q);
        if (WIFEXITED(status))
            gs_seterr(err, errlen, "%s failed (exit status %d)%s%s%s", tool, WEXITSTATUS(status),
                   *q ? ": \"" : "", q, *q ? "\"" : "");
        else
            gs_seterr(err, errlen, "%s killed by signal %d%s%s%s", tool, WTERMSIG(status),
                   *q ? ": \"" : "", q, *q ? "\"" : "");
    }
    goto done;

kill_child:
    if (pid > 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        pid = -1;
    }
done:
    close_fd(&devnull);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&inp[0]);
    close_fd(&inp[1]);
    if (rc == 0 && out) {
        if (!obuf)
            obuf = malloc(1);
        *out = obuf;
        *out_len = olen;
        obuf = NULL;
    }
    free(obuf);
    return rc;
}
