/*
 * testutil.h — the smallest test harness that reports like a real one:
 * CHECK records a failure and goes on, REQUIRE stops the test function.
 * Each test binary ends with "N passed, N failed".
 */
#ifndef GS_TESTUTIL_H
#define GS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tu_passed, tu_failed, tu_current_failed;
static const char *tu_current;

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, tu_current, #cond); \
        tu_current_failed = 1; \
    } } while (0)

#define REQUIRE(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "%s:%d: %s: requirement failed: %s\n", __FILE__, __LINE__, tu_current, #cond); \
        tu_current_failed = 1; \
        return; \
    } } while (0)

#define CHECK_STR(a, b) do { \
    const char *tu_a = (a), *tu_b = (b); \
    if (!tu_a || !tu_b || strcmp(tu_a, tu_b) != 0) { \
        fprintf(stderr, "%s:%d: %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, tu_current, \
                tu_a ? tu_a : "(null)", tu_b ? tu_b : "(null)"); \
        tu_current_failed = 1; \
    } } while (0)

#define RUN(fn) do { \
    tu_current = #fn; tu_current_failed = 0; \
    fn(); \
    if (tu_current_failed) { tu_failed++; fprintf(stderr, "FAIL %s\n", #fn); } \
    else { tu_passed++; printf("ok %s\n", #fn); } \
    fflush(stdout); \
} while (0)

#define TU_REPORT() (printf("%d passed, %d failed\n", tu_passed, tu_failed), tu_failed ? 1 : 0)

/* A fresh scratch directory for this test binary under $GS_TEST_TMP (or /tmp). */
static inline const char *tu_tmpdir(const char *name)
{
    static char path[1024];
    const char *base = getenv("GS_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0755);
    snprintf(path, sizeof path, "%s/%s.%d", base, name, (int)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) { /* best effort */ }
    mkdir(path, 0755);
    return path;
}

#endif
