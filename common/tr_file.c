/* common/tr_file: durable replacement of small state files (see tr_file.h). A crash or a failed
 * step at any point leaves either the old file or the new one whole, never a mix or nothing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common/tr_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/tr_fail.h"

__attribute__((format(printf, 4, 5))) static int fail_with(int e, char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    if (err && errlen) {
        char what[PATH_MAX + 64], eb[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "%s: %s", what, strerror_r(e, eb, sizeof eb));
    }
    return -e;
}

/* An injected failure: the step behaves as if the system call had failed with e. */
static bool injected(const char *point, int e)
{
    if (!tr_fail_hit(point)) return false;
    errno = e;
    return true;
}

/* fsync of the directory that holds path, so that a rename or unlink in it is durable. File
 * systems that cannot sync a directory (EINVAL) have nothing more to make durable. */
static int sync_dir(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_with(errno, err, errlen, "cannot open directory %s to fsync it", dir);
    int rc = 0;
    if (injected("file.dirsync", EIO) || (fsync(fd) && errno != EINVAL && errno != ENOTSUP))
        rc = fail_with(errno, err, errlen, "cannot fsync directory %s", dir);
    close(fd);
    return rc;
}

int tr_file_replace(const char *path, const void *buf, size_t len, mode_t mode, char *err,
                    size_t errlen)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fail_with(ENAMETOOLONG, err, errlen, "cannot write %s", path);
    /* a temporary file left by a crash (or planted as a symlink) is never written through */
    if (unlink(tmp) && errno != ENOENT)
        return fail_with(errno, err, errlen, "cannot remove the old %s", tmp);
    int fd = injected("file.create", EACCES)
                 ? -1
                 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return fail_with(errno, err, errlen, "cannot create %s", tmp);
    const char *step = NULL;
    int e = 0;
    for (size_t off = 0; off < len;) {
        ssize_t w = injected("file.write", ENOSPC) ? -1 : write(fd, (const char *)buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { /* a short write is retried; 0 bytes means no progress is possible */
            e = w < 0 ? errno : EIO;
            step = "write";
            break;
        }
        off += (size_t)w;
    }
    if (!step && (injected("file.fsync", EIO) || fsync(fd))) {
        e = errno;
        step = "fsync";
    }
    if (close(fd) && !step) {
        e = errno;
        step = "close";
    }
    if (!step && (injected("file.rename", EXDEV) || rename(tmp, path))) {
        e = errno;
        step = "rename";
    }
    if (step) {
        unlink(tmp);
        if (!strcmp(step, "rename"))
            return fail_with(e, err, errlen, "cannot rename %s to %s (%s is left as it was)", tmp, path, path);
        return fail_with(e, err, errlen, "cannot %s %s (%s is left as it was)", step, tmp, path);
    }
    return sync_dir(path, err, errlen);
}

int tr_file_remove(const char *path, char *err, size_t errlen)
{
    if (unlink(path) && errno != ENOENT) return fail_with(errno, err, errlen, "cannot remove %s", path);
    return sync_dir(path, err, errlen);
}
