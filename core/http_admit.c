/*
 * http_admit.c — how large a request's body may be, decided from its headers
 * before any of the body is read. Every POST may send GS_HTTP_MAX_BODY;
 * POST /api/runs (a new run with its plan and reference images) and POST
 * /api/runs/{id}/fork (a re-render with its edited plan) may send
 * GS_HTTP_MAX_RUN_BODY, but only a request that already carries the token (when
 * the server has one) and says it comes from the dashboard's own origin (the
 * rule grokspicy.web applies to every POST). Anyone else is answered 401 or
 * 403 at once, so a stranger never makes the server take 24 MiB. Owns no state.
 */
#include <stdio.h>
#include <string.h>

#include "http_parts.h"

/* grokspicy.web's same_origin, on the headers: HX-Request: true, or
 * Sec-Fetch-Site same-origin, or an Origin that is this Host; never a request
 * a browser marked as cross-site. */
static int same_origin(struct MHD_Connection *c)
{
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return 0;
    const char *hx = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "HX-Request");
    if ((hx && strcmp(hx, "true") == 0) || (site && strcmp(site, "same-origin") == 0))
        return 1;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!origin || !host)
        return 0;
    char want[600];
    for (int tls = 0; tls < 2; tls++) {
        int n = snprintf(want, sizeof want, "%s://%s", tls ? "https" : "http", host);
        if (n > 0 && (size_t)n < sizeof want && strcmp(origin, want) == 0)
            return 1;
    }
    return 0;
}

/* POST /api/runs/{id}/fork: a re-render carries a whole plan (up to 1 MiB). */
static int is_fork_url(const char *url)
{
    static const char pre[] = "/api/runs/", post[] = "/fork";
    if (strncmp(url, pre, sizeof pre - 1) != 0)
        return 0;
    const char *p = url + sizeof pre - 1, *digits = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > digits && strcmp(p, post) == 0;
}

size_t body_limit(gs_http_server *s, struct MHD_Connection *c, const char *method, const char *url,
                  unsigned *refuse, const char **why)
{
    *refuse = 0;
    if (strcmp(method, "POST") != 0 || (strcmp(url, "/api/runs") != 0 && !is_fork_url(url)))
        return GS_HTTP_MAX_BODY;
    int set_cookie;
    if (!check_token(s, c, &set_cookie)) {
        *refuse = 401;
        *why = "unauthorized: open the URL with ?token=... printed by the server";
    } else if (!same_origin(c)) {
        *refuse = 403;
        *why = "cross-site request refused: send HX-Request: true or a same-origin Origin";
    }
    return GS_HTTP_MAX_RUN_BODY;
}
