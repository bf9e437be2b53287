/*
 * filehash.c — what the result cache needs of files: the SHA-256 of a file's
 * bytes (libcrypto's EVP digest, read in 64 KiB slices, never the whole file
 * in memory) and placing a cached file into another run's folder (a hard link,
 * or a copy through a temp name then a rename when the two folders are on
 * different file systems or links are refused). Lua has them as
 * sys.sha256, sys.sha256_file and sys.link_or_copy. Never decides what is cached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gs_util.h"

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int gs_sha256_bytes(const void *data, size_t len, char hex[65])
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    to_hex(out, n, hex);
    return 0;
}

int gs_sha256_file(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(65536);
    int rc = -1, saved = ENOMEM;
    if (md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
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
                if (EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32) {
                    to_hex(out, n, hex);
                    rc = 0;
                } else {
                    saved = EIO;
                }
                break;
            }
            if (EVP_DigestUpdate(md, buf, (size_t)got) != 1) {
                saved = EIO;
                break;
            }
        }
    }
    free(buf);
    EVP_MD_CTX_free(md);
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
