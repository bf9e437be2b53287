/*
 * filehash.c — what the result cache needs of files: the SHA-256 of a file's
 * bytes (libcrypto's EVP digest, read in 64 KiB slices, never the whole file
 * in memory) and of a string (a cache key), and placing a cached file into
 * another run's folder (a hard link, or a copy through a temp name then a
 * rename when the two folders are on different file systems or links are
 * refused). Lua has them as sys.sha256, sys.sha256_file and sys.link_or_copy.
 * Never decides what is cached.
 *
 * libcrypto (libcrypto.so.3, Debian's libssl3; headers from libssl-dev) is
 * opened with dlopen the first time a digest is asked for, as curl_loader.c
 * does for libcurl: it is some 4 MB of code whose loading and relocations every
 * process would pay at start, and only runs that reuse or record results need
 * it. When it cannot be loaded a digest fails with ELIBACC ("Can not access a
 * needed shared library"), which the caller reports. GS_LIBCRYPTO names
 * another library file to load.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gs_util.h"

static struct {
    EVP_MD_CTX *(*ctx_new)(void);
    void (*ctx_free)(EVP_MD_CTX *);
    const EVP_MD *(*sha256)(void);
    int (*init)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
    int (*update)(EVP_MD_CTX *, const void *, size_t);
    int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
    int (*digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, ENGINE *);
} fn;

static int loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {"EVP_MD_CTX_new",    "EVP_MD_CTX_free",   "EVP_sha256", "EVP_DigestInit_ex",
                                        "EVP_DigestUpdate", "EVP_DigestFinal_ex", "EVP_Digest"};
    void *const slots[] = {&fn.ctx_new, &fn.ctx_free, &fn.sha256, &fn.init, &fn.update, &fn.final, &fn.digest};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    loaded = gs_dl_bind("GS_LIBCRYPTO", "libcrypto.so.3", names, slots, sizeof names / sizeof names[0],
                        "the result cache needs libcrypto", "OpenSSL 3", NULL, 0);
}

/* 1 once libcrypto is loaded; 0 with errno ELIBACC when it cannot be. */
static int ready(void)
{
    pthread_once(&load_once, load);
    if (!loaded)
        errno = ELIBACC;
    return loaded;
}

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int gs_sha256_bytes(const void *data, size_t len, char hex[65])
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ready())
        return -1;
    if (fn.digest(data, len, out, &n, fn.sha256(), NULL) != 1 || n != 32) {
        errno = EIO;
        return -1;
    }
    to_hex(out, n, hex);
    return 0;
}

int gs_sha256_file(const char *path, char hex[65])
{
    if (!ready())
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *md = fn.ctx_new();
    unsigned char *buf = malloc(65536);
    int rc = -1, saved = ENOMEM;
    if (md && buf && fn.init(md, fn.sha256(), NULL) == 1) {
        for (;;) {
            ssize_t got = read(fd, buf, 65536);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                saved = errno;
                break;
            }
            if (got == 0) {
                unsigned char out[EVP_MAX_MD_SIZE];
                unsigned int n = 0;
                if (fn.final(md, out, &n) == 1 && n == 32) {
                    to_hex(out, n, hex);
                    rc = 0;
                } else {
                    saved = EIO;
                }
                break;
            }
            if (fn.update(md, buf, (size_t)got) != 1) {
                saved = EIO;
                break;
            }
        }
    }
    free(buf);
    fn.ctx_free(md);
    close(fd);
    if (rc)
        errno = saved;
    return rc;
}

/* Copies src to dst through dst.tmp-PID then a rename: a reader never sees half a file. */
static int copy_whole(const char *src, const char *dst)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dst, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        errno = e;
        return -1;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t got = read(in, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -1 : 0;
            break;
        }
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(out, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                rc = -1;
                break;
            }
            off += put;
        }
        if (rc)
            break;
    }
    int e = errno;
    close(in);
    if (close(out) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, dst) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc) {
        unlink(tmp);
        errno = e;
    }
    return rc;
}

int gs_link_or_copy(const char *src, const char *dst)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    /* A file already at dst (a resumed run placing it again) is replaced. */
    if (unlink(dst) != 0 && errno != ENOENT)
        return -1;
    if (link(src, dst) == 0)
        return 0;
    return copy_whole(src, dst);
}
