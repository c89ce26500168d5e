/* common/tr_file: state files replaced as data is written (temporary file, fsync, rename, fsync of
 * the directory), shared by gvwstate.dat and grastate.dat so that both keep the same guarantees. */
#ifndef TR_FILE_H
#define TR_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with the len bytes at buf: path.tmp is created afresh (O_EXCL, O_NOFOLLOW) with
 * mode (the umask may only make it tighter), written whole, fsync'ed, closed and renamed over
 * path, then the directory is fsync'ed. A failure before the rename leaves path as it was and
 * removes the temporary file. Returns 0, or -errno with err saying which step failed on which
 * file. Failure injection points (tests): file.create, file.write, file.fsync, file.rename,
 * file.dirsync. */
int tr_file_replace(const char *path, const void *buf, size_t len, mode_t mode, char *err,
                    size_t errlen);

/* Removes path (absent is fine) and fsyncs its directory. 0 or -errno with err set. */
int tr_file_remove(const char *path, char *err, size_t errlen);

#endif
