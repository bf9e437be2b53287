/*
 * sse_clients.c — N concurrent SSE clients on one epoll loop, for
 * bench/sse_bench.lua. Usage: sse_clients PORT N EVENTS [PATH] [TIMEOUT_S]
 *
 * Opens N streams to 127.0.0.1:PORT/PATH (default /sse) in batches, prints
 * "ready N" once every stream got its "retry:" line, then waits until each
 * stream has received EVENTS events whose data is "SEQ NS" (NS = the
 * publisher's CLOCK_MONOTONIC in ns) and prints, per event, the time from
 * publish to the last client receiving it, plus the p50/p99/max of every
 * delivery. Prints figures; the exit code is 0 unless setup failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 4096

struct client {
    int fd;
    int ready;
    int got;            /* events received */
    char buf[2048];
    size_t len;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t *lat;           /* every delivery, ns */
static size_t nlat, caplat;
static int64_t last_arrival[MAX_EVENTS], published[MAX_EVENTS];

/* Consumes complete lines; returns 1 when the client became ready. */
static int consume(struct client *c, int64_t t)
{
    int became_ready = 0;
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
        *nl = '\0';
        if (!c->ready && strncmp(start, "retry:", 6) == 0) {
            c->ready = 1;
            became_ready = 1;
        } else if (strncmp(start, "data: ", 6) == 0) {
            long long seq, ns;
            if (sscanf(start + 6, "%lld %lld", &seq, &ns) == 2 && seq >= 0 && seq < MAX_EVENTS) {
                c->got++;
                published[seq] = ns;
                if (t > last_arrival[seq])
                    last_arrival[seq] = t;
                if (nlat == caplat) {
                    caplat = caplat ? caplat * 2 : 65536;
                    lat = realloc(lat, caplat * sizeof *lat);
                    if (!lat)
                        exit(2);
                }
                lat[nlat++] = t - ns;
            }
        }
        start = nl + 1;
    }
    size_t rest = c->len - (size_t)(start - c->buf);
    memmove(c->buf, start, rest);
    c->len = rest;
    if (c->len == sizeof c->buf) /* an oversized line: drop it */
        c->len = 0;
    return became_ready;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sse_clients PORT N EVENTS [PATH] [TIMEOUT_S]\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]), want = atoi(argv[3]);
    const char *path = argc > 4 ? argv[4] : "/sse";
    double timeout = argc > 5 ? atof(argv[5]) : 60;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct client *cl = calloc((size_t)n, sizeof *cl);
    int ep = epoll_create1(0);
    if (!cl || ep < 0)
        return 2;
    char req[512];
    int rlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n\r\n", path,
                        port);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int opened = 0, ready = 0, done = 0;
    int64_t t_end = now_ns() + (int64_t)(timeout * 1e9);
    int printed_ready = 0;
    struct epoll_event evs[256];
    while (now_ns() < t_end) {
        /* Open in batches of 256 so the listen backlog never overflows. */
        while (opened < n && opened - ready < 256) {
            struct client *c = &cl[opened];
            c->fd = socket(AF_INET, SOCK_STREAM, 0);
            if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
                fprintf(stderr, "connect %d: %s\n", opened, strerror(errno));
                return 2;
            }
            if (write(c->fd, req, (size_t)rlen) != rlen)
                return 2;
            fcntl(c->fd, F_SETFL, O_NONBLOCK);
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
            opened++;
        }
        if (ready == n && !printed_ready) {
            printf("ready %d\n", n);
            fflush(stdout);
            printed_ready = 1;
        }
        if (done == n && want > 0)
            break;
        int k = epoll_wait(ep, evs, 256, 100);
        int64_t t = now_ns();
        for (int i = 0; i < k; i++) {
            struct client *c = &cl[evs[i].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
                if (r <= 0)
                    break;
                c->len += (size_t)r;
                int before = c->got;
                ready += consume(c, t);
                if (before < want && c->got >= want)
                    done++;
            }
        }
    }
    printf("streams %d ready %d complete %d\n", n, ready, done);
    if (nlat) {
        qsort(lat, nlat, sizeof *lat, cmp64);
        printf("deliveries %zu p50_us %.0f p99_us %.0f max_us %.0f\n", nlat, lat[nlat / 2] / 1e3,
               lat[(size_t)((double)nlat * 0.99)] / 1e3, lat[nlat - 1] / 1e3);
        int64_t worst = 0, sum = 0;
        int m = 0;
        for (int i = 0; i < want && i < MAX_EVENTS; i++)
            if (published[i]) {
                int64_t d = last_arrival[i] - published[i];
                sum += d;
                m++;
                if (d > worst)
                    worst = d;
            }
        if (m)
            printf("all_clients_ms mean %.1f max %.1f over %d events\n", (double)sum / m / 1e6, worst / 1e6, m);
    }
    fflush(stdout);
    return 0;
}
