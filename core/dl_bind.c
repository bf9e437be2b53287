/*
 * dl_bind.c — the one loader behind the libraries grok-spicy opens on first
 * use (curl_loader.c, mhd_loader.c, archive_loader.c, filehash.c): dlopen by
 * name (an environment variable may name another file), dlsym each entry point
 * on the library's own handle, and say which library or symbol is missing.
 * Owns no state: each caller keeps its table of pointers and its once-flag.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_util.h"

int gs_dl_bind(const char *env, const char *def, const char *const names[], void *const slots[], size_t n,
               const char *need, const char *version, char *err, size_t errlen)
{
    const char *name = getenv(env);
    if (!name || !*name)
        name = def;
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        if (err)
            snprintf(err, errlen, "%s, which could not be loaded: %s", need, dlerror());
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* dlsym on the library's own handle: its definitions, never the caller's wrappers. */
        void *p = dlsym(h, names[i]);
        if (!p) {
            if (err)
                snprintf(err, errlen, "%s, but %s has no %s (not %s?)", need, name, names[i], version);
            for (size_t j = 0; j < n; j++)
                memset(slots[j], 0, sizeof p);
            dlclose(h);
            return 0;
        }
        memcpy(slots[i], &p, sizeof p); /* a data pointer into a function pointer, as POSIX allows */
    }
    return 1;
}
