/*
 * gs_util.h — the few string, error, clock and file helpers the C modules share; not installed.
 */
#ifndef GS_UTIL_H
#define GS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable string. Out of memory is sticky and checked once, at gs_sb_take. */
typedef struct gs_sbuf {
    char *p;
    size_t n, cap;
    int oom;
} gs_sbuf;

void gs_sb_addn(gs_sbuf *b, const char *s, size_t len);
void gs_sb_add(gs_sbuf *b, const char *s);              /* NULL adds nothing */
void gs_sb_printf(gs_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over ("" when nothing was added); NULL when out of memory. */
char *gs_sb_take(gs_sbuf *b);

/* Formats into err (errlen bytes); err may be NULL. */
void gs_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Frees n strings and the array; NULL is fine. */
void gs_free_strv(char **v, size_t n);

/* The one monotonic clock (CLOCK_MONOTONIC): for elapsed times and deadlines. */
int64_t gs_monotonic_ns(void);
double gs_monotonic(void); /* seconds */

/* How gs_spawn places the child: a new session (it outlives this terminal and
   its Ctrl+C), or a process group of its own (a deadline kills the group). */
enum { GS_SPAWN_SESSION = 1, GS_SPAWN_GROUP = 2 };

/* The one posix_spawn setup: starts argv[0] (a path, or a name on PATH) with
   envp, fds[0..2] as its stdin, stdout and stderr and, when pass >= 0, pass as
   its fd 3 (pass must not be 0..3). Every other descriptor must be
   close-on-exec. The child starts with no signal blocked and the signals a
   host catches (INT, TERM, HUP, QUIT, PIPE, CHLD) at their defaults. 0 with
   *pid set, or posix_spawnp's error number. */
int gs_spawn(pid_t *pid, const char *const argv[], char *const envp[], const int fds[3], int pass, int how);

/* mkdir -p (mode 0755): 0 when each folder of path was made or already there, -1 with errno
   (ENOTDIR when a file stands where a folder should). The one mkdir -p: C calls it, Lua has
   it as sys.mkdir_p. */
int gs_mkdir_p(const char *path);

/* The whole file, malloc'd and NUL-terminated (*len excludes the NUL), or
   NULL with errno set (ENOMEM, EIO, or fopen's). */
char *gs_read_file(const char *path, size_t *len);

/* The SHA-256 of the file's bytes as 64 lowercase hex digits and a NUL in hex:
   0, or -1 with errno (open's or read's; ENOMEM, EIO). filehash.c. */
int gs_sha256_file(const char *path, char hex[65]);
/* The SHA-256 of len bytes at data, as gs_sha256_file writes it: 0, or -1. */
int gs_sha256_bytes(const void *data, size_t len, char hex[65]);

/* Puts regular file src at dst (replacing what is there): a hard link, or a
   copy through a temp name and a rename when linking is refused. 0, or -1
   with errno. filehash.c. */
int gs_link_or_copy(const char *src, const char *dst);

/* A library loaded on first use (libcurl, libmicrohttpd, libarchive, libcrypto):
   dlopen()s the file named by the environment variable env, or def, and binds
   each of the n symbols names[i] into *slots[i] (the address of a function
   pointer). 1 when every symbol is bound (the handle then stays open for the
   life of the process); 0 otherwise, every slot left NULL and, when err is
   given, "<need>, which could not be loaded: <why>" or "<need>, but <file> has
   no <symbol> (not <version>?)" in it. dl_bind.c. */
int gs_dl_bind(const char *env, const char *def, const char *const names[], void *const slots[], size_t n,
               const char *need, const char *version, char *err, size_t errlen);

#endif
