/*
 * mhd_loader.c — libmicrohttpd loaded when the first server starts. Defines the
 * MHD_* entry points the HTTP server calls and forwards each to
 * libmicrohttpd.so.12, opened with dlopen by the first MHD_start_daemon. Why:
 * libmicrohttpd brings GnuTLS and its nine libraries, whose loading and
 * constructors cost every process a few milliseconds; a flow or a script that
 * serves nothing should not pay them. When the library cannot be loaded,
 * MHD_start_daemon returns NULL with errno ELIBACC (the server reports "cannot
 * listen ... (Can not access a needed shared library)"); every other entry point
 * only ever runs on a daemon's objects, so after a failed load none is reached.
 * GS_LIBMICROHTTPD names another library file to load.
 *
 * The definitions are hidden, as in curl_loader.c: they bind the core's own
 * calls and are never exported.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "gs_util.h"

#define GS_HIDDEN __attribute__((visibility("hidden")))

static struct {
    struct MHD_Daemon *(*start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                          MHD_AccessHandlerCallback, void *, va_list);
    void (*stop_daemon)(struct MHD_Daemon *);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *, enum MHD_ConnectionInfoType,
                                                           ...);
    int (*get_connection_values)(struct MHD_Connection *, enum MHD_ValueKind, MHD_KeyValueIterator, void *);
    const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*suspend_connection)(struct MHD_Connection *);
    void (*resume_connection)(struct MHD_Connection *);
    struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    struct MHD_Response *(*from_callback)(uint64_t, size_t, MHD_ContentReaderCallback, void *,
                                          MHD_ContentReaderFreeCallback);
    struct MHD_Response *(*from_fd_at_offset64)(uint64_t, int, uint64_t);
    void (*destroy_response)(struct MHD_Response *);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
    const char *(*get_response_header)(struct MHD_Response *, const char *);
} fn;

static int loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void load(void);

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

static void load(void)
{
    static const char *const names[] = {
        "MHD_start_daemon_va",         "MHD_stop_daemon",
        "MHD_get_daemon_info",         "MHD_get_connection_info",
        "MHD_get_connection_values",   "MHD_lookup_connection_value",
        "MHD_queue_response",          "MHD_suspend_connection",
        "MHD_resume_connection",       "MHD_create_response_from_buffer",
        "MHD_create_response_from_callback", "MHD_create_response_from_fd_at_offset64",
        "MHD_destroy_response",        "MHD_add_response_header",
        "MHD_get_response_header"};
    void *const slots[] = {&fn.start_daemon_va, &fn.stop_daemon, &fn.get_daemon_info, &fn.get_connection_info,
                           &fn.get_connection_values, &fn.lookup_connection_value, &fn.queue_response,
                           &fn.suspend_connection, &fn.resume_connection, &fn.from_buffer, &fn.from_callback,
                           &fn.from_fd_at_offset64, &fn.destroy_response, &fn.add_response_header,
                           &fn.get_response_header};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    loaded = gs_dl_bind("GS_LIBMICROHTTPD", "libmicrohttpd.so.12", names, slots, sizeof names / sizeof names[0],
                        "the dashboard needs libmicrohttpd", "libmicrohttpd 0.9.71 or later", NULL, 0);
}

GS_HIDDEN struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                              void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    if (!ready()) {
        errno = ELIBACC;
        return NULL;
    }
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = fn.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

/* Responses may be built before any daemon starts: each loads on first use too. */

GS_HIDDEN void MHD_stop_daemon(struct MHD_Daemon *d)
{
    if (ready())
        fn.stop_daemon(d);
}

/* The info types the server asks for take no argument after the type. */
GS_HIDDEN const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType t, ...)
{
    if (!ready())
        return NULL;
    return fn.get_daemon_info(d, t);
}

GS_HIDDEN const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
                                                                  enum MHD_ConnectionInfoType t, ...)
{
    if (!ready())
        return NULL;
    return fn.get_connection_info(c, t);
}

GS_HIDDEN int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind k, MHD_KeyValueIterator it,
                                        void *cls)
{
    if (!ready())
        return MHD_NO;
    return fn.get_connection_values(c, k, it, cls);
}

GS_HIDDEN const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind k, const char *key)
{
    if (!ready())
        return NULL;
    return fn.lookup_connection_value(c, k, key);
}

GS_HIDDEN enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r)
{
    if (!ready())
        return MHD_NO;
    return fn.queue_response(c, status, r);
}

GS_HIDDEN void MHD_suspend_connection(struct MHD_Connection *c)
{
    if (ready())
        fn.suspend_connection(c);
}

GS_HIDDEN void MHD_resume_connection(struct MHD_Connection *c)
{
    if (ready())
        fn.resume_connection(c);
}

GS_HIDDEN struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buf,
                                                               enum MHD_ResponseMemoryMode mode)
{
    if (!ready())
        return NULL;
    return fn.from_buffer(size, buf, mode);
}

GS_HIDDEN struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block,
                                                                 MHD_ContentReaderCallback crc, void *cls,
                                                                 MHD_ContentReaderFreeCallback crfc)
{
    if (!ready())
        return NULL;
    return fn.from_callback(size, block, crc, cls, crfc);
}

GS_HIDDEN struct MHD_Response *MHD_create_response_from_fd_at_offset64(uint64_t size, int fd, uint64_t offset)
{
    if (!ready())
        return NULL;
    return fn.from_fd_at_offset64(size, fd, offset);
}

GS_HIDDEN void MHD_destroy_response(struct MHD_Response *r)
{
    if (ready())
        fn.destroy_response(r);
}

GS_HIDDEN enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{
    if (!ready())
        return MHD_NO;
    return fn.add_response_header(r, h, v);
}

GS_HIDDEN const char *MHD_get_response_header(struct MHD_Response *r, const char *key)
{
    if (!ready())
        return NULL;
    return fn.get_response_header(r, key);
}
