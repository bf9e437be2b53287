/*
 * curl_loader.c — libcurl loaded on first use. Defines the curl_* entry points
 * the xAI client calls and forwards each to libcurl.so.4, opened with dlopen the
 * first time one of them runs. Why: libcurl pulls in some thirty libraries (TLS,
 * Kerberos, LDAP, SSH ...) whose loading and symbol binding cost every process
 * about 10 ms; only the xai provider needs them, so the host, the local flow and
 * --web start without. When libcurl cannot be loaded nothing crashes:
 * curl_easy_init returns NULL, curl_global_init an error, and curl_easy_strerror
 * says which library failed and why, which the xAI client puts in its message.
 * GS_LIBCURL names another library file to load (e.g. libcurl-gnutls.so.4).
 *
 * The definitions are hidden: they bind the core's own calls and are never
 * exported, so a Lua module linked to the real libcurl in the same process
 * still binds to libcurl itself.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the typecheck macros would rename curl_easy_setopt below */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_util.h"

#define GS_HIDDEN __attribute__((visibility("hidden")))

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    time_t (*getdate)(const char *, const time_t *);
} fn;

static int loaded;
static char load_error[600];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"curl_global_init",  "curl_easy_init",    "curl_easy_setopt",
                                        "curl_easy_perform", "curl_easy_getinfo", "curl_easy_cleanup",
                                        "curl_easy_strerror", "curl_slist_append", "curl_slist_free_all",
                                        "curl_getdate"};
    void *const slots[] = {&fn.global_init, &fn.easy_init, &fn.easy_setopt, &fn.easy_perform, &fn.easy_getinfo,
                           &fn.easy_cleanup, &fn.easy_strerror, &fn.slist_append, &fn.slist_free_all, &fn.getdate};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    loaded = gs_dl_bind("GS_LIBCURL", "libcurl.so.4", names, slots, sizeof names / sizeof names[0],
                        "the xai provider needs libcurl", "libcurl 7.x or later", load_error, sizeof load_error);
}

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

GS_HIDDEN CURLcode curl_global_init(long flags)
{
    return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

GS_HIDDEN CURL *curl_easy_init(void)
{
    return ready() ? fn.easy_init() : NULL;
}

/* The one argument after the option has the type its number range says
 * (curl.h: CURLOPTTYPE_*); it is read as that type and passed on as it. */
GS_HIDDEN CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = fn.easy_setopt(h, opt, v);
    } else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
        void *v = va_arg(ap, void *);
        rc = fn.easy_setopt(h, opt, v);
    } else if (opt < CURLOPTTYPE_OFF_T) {
        void (*v)(void) = va_arg(ap, void (*)(void));
        rc = fn.easy_setopt(h, opt, v);
    } else if (opt < CURLOPTTYPE_BLOB) {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = fn.easy_setopt(h, opt, v);
    } else {
        void *v = va_arg(ap, void *);
        rc = fn.easy_setopt(h, opt, v);
    }
    va_end(ap);
    return rc;
}

GS_HIDDEN CURLcode curl_easy_perform(CURL *h)
{
    return ready() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

/* Every CURLINFO_* takes one pointer to where the answer goes. */
GS_HIDDEN CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *);
    va_end(ap);
    return fn.easy_getinfo(h, info, out);
}

GS_HIDDEN void curl_easy_cleanup(CURL *h)
{
    if (h && ready())
        fn.easy_cleanup(h);
}

GS_HIDDEN const char *curl_easy_strerror(CURLcode rc)
{
    return ready() ? fn.easy_strerror(rc) : load_error;
}

GS_HIDDEN struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return ready() ? fn.slist_append(list, s) : NULL;
}

GS_HIDDEN void curl_slist_free_all(struct curl_slist *list)
{
    if (list && ready())
        fn.slist_free_all(list);
}

GS_HIDDEN time_t curl_getdate(const char *s, const time_t *unused)
{
    return ready() ? fn.getdate(s, unused) : -1;
}
