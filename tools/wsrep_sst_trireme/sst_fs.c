/* tools/wsrep_sst_trireme/sst_fs: the joiner's datadir swap, journaled so that a crash at any
 * point leaves either the old or the new contents (sst_fs_recover), never a mix. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/wsrep_sst_trireme/sst.h"

/* The node's own files, not part of a backup: they stay (Galera's mariabackup SST keeps the
 * same kinds: keys, logs, the provider's state files). */
bool sst_fs_keep(const char *name)
{
    static const char *const keep[] = {
        ".trireme-sst*", "grastate.dat", "gvwstate.dat", "galera.cache", "gcache.*", "*.pem",
        "*.err", "*.log", "*.pid", "*.sock", "sst_in_progress", "lost+found", "wsrep_recovery.*",
        "RPM_UPGRADE_MARKER", "RPM_UPGRADE_HISTORY", NULL};
    for (size_t i = 0; keep[i]; i++)
        if (fnmatch(keep[i], name, 0) == 0) return true;
    return false;
}

/* mariabackup's own bookkeeping in a prepared backup: not server files */
static bool backup_meta(const char *name)
{
    return fnmatch("xtrabackup_*", name, 0) == 0 || fnmatch("mariadb_backup_*", name, 0) == 0 ||
           strcmp(name, "backup-my.cnf") == 0 || strcmp(name, "donor_galera_info") == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc && errno != ENOENT) sst_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int sst_fs_rmrf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) == 0 && lstat(path, &st) != 0 ? 0 : -1;
}

static uint64_t size_sum;
static int add_size(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    if (f->level == 1 && strncmp(path + f->base, ".trireme-sst", 12) == 0) return FTW_SKIP_SUBTREE;
    if (flag == FTW_F && S_ISREG(st->st_mode)) size_sum += (uint64_t)st->st_size;
    return 0;
}

uint64_t sst_fs_size(const char *dir)
{
    size_sum = 0;
    nftw(dir, add_size, 32, FTW_PHYS | FTW_ACTIONRETVAL);
    return size_sum;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* the journal: which way a swap was going, written atomically */
static int mark(const char *datadir, const char *phase)
{
    char p[SST_PATH_MAX], t[SST_PATH_MAX];
    sst_fmt(p, sizeof p, "%s/%s", datadir, SST_STAGE_MARK);
    if (!phase) {
        if (unlink(p) && errno != ENOENT) return -1;
        return sync_dir(datadir);
    }
    sst_fmt(t, sizeof t, "%s.tmp", p);
    int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    size_t n = strlen(phase);
    int rc = write(fd, phase, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc || rename(t, p)) return -1;
    return sync_dir(datadir);
}

static int read_mark(const char *datadir, char *phase, size_t len)
{
    char p[SST_PATH_MAX];
    sst_fmt(p, sizeof p, "%s/%s", datadir, SST_STAGE_MARK);
    FILE *f = fopen(p, "r");
    if (!f) return errno == ENOENT ? 0 : -1;
    if (!fgets(phase, (int)len, f)) phase[0] = '\0';
    fclose(f);
    phase[strcspn(phase, "\r\n")] = '\0';
    return 1;
}

/* renames every entry of from (that sel accepts) into to; 0 or -1 naming the entry */
static int move_all(const char *from, const char *to, bool (*sel)(const char *))
{
    DIR *d = opendir(from);
    if (!d) {
        if (errno == ENOENT) return 0;
        sst_error("cannot read %s: %s", from, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !sel(e->d_name)) continue;
        char a[SST_PATH_MAX], b[SST_PATH_MAX];
        sst_fmt(a, sizeof a, "%s/%s", from, e->d_name);
        sst_fmt(b, sizeof b, "%s/%s", to, e->d_name);
        if (rename(a, b) != 0) {
            sst_error("cannot move %s to %s: %s", a, b, strerror(errno));
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

static bool not_kept(const char *name) { return !sst_fs_keep(name); }
static bool server_file(const char *name) { return !backup_meta(name); }
static bool any(const char *name) { (void)name; return true; }

static int roll_forward(const char *datadir, const char *newd, const char *oldd)
{
    if (move_all(newd, datadir, server_file) || sync_dir(datadir) || mark(datadir, NULL)) return -1;
    sst_fs_rmrf(oldd);
    sst_fs_rmrf(newd);
    return 0;
}

int sst_fs_install(const char *datadir)
{
    char newd[SST_PATH_MAX], oldd[SST_PATH_MAX];
    sst_fmt(newd, sizeof newd, "%s/%s", datadir, SST_STAGE_NEW);
    sst_fmt(oldd, sizeof oldd, "%s/%s", datadir, SST_STAGE_OLD);
    sst_fs_rmrf(oldd);
    if (mkdir(oldd, 0750) != 0) {
        sst_error("cannot create %s: %s", oldd, strerror(errno));
        return -1;
    }
    /* 1. the old contents out of the way; a crash here rolls back */
    if (mark(datadir, "out")) {
        sst_error("cannot write %s/%s: %s", datadir, SST_STAGE_MARK, strerror(errno));
        return -1;
    }
    if (move_all(datadir, oldd, not_kept) || sync_dir(oldd) || sync_dir(datadir)) {
        sst_error("moving the old contents aside failed: putting them back");
        if (move_all(oldd, datadir, any) == 0 && mark(datadir, NULL) == 0) sst_fs_rmrf(oldd);
        return -1;
    }
    /* 2. the new contents in; from here a crash rolls forward (they are whole and prepared) */
    if (mark(datadir, "in")) {
        sst_error("cannot write %s/%s: %s", datadir, SST_STAGE_MARK, strerror(errno));
        return -1; /* journal still says "out": recovery puts the old contents back */
    }
    if (roll_forward(datadir, newd, oldd)) {
        sst_error("moving the new contents in failed; run 'wsrep_sst_trireme --role recover "
                  "--datadir %s' once the cause is fixed", datadir);
        return -1;
    }
    return 0;
}

int sst_fs_recover(const char *datadir)
{
    char newd[SST_PATH_MAX], oldd[SST_PATH_MAX], phase[32] = "";
    sst_fmt(newd, sizeof newd, "%s/%s", datadir, SST_STAGE_NEW);
    sst_fmt(oldd, sizeof oldd, "%s/%s", datadir, SST_STAGE_OLD);
    int m = read_mark(datadir, phase, sizeof phase);
    if (m < 0) {
        sst_error("cannot read %s/%s: %s", datadir, SST_STAGE_MARK, strerror(errno));
        return -1;
    }
    if (m == 1 && !strcmp(phase, "in")) {
        sst_warn("an earlier state transfer stopped while moving its data in: finishing it");
        return roll_forward(datadir, newd, oldd);
    }
    if (m == 1) { /* "out", or a journal cut short: the old contents go back */
        sst_warn("an earlier state transfer stopped while moving the old data aside: putting it back");
        if (move_all(oldd, datadir, any) || sync_dir(datadir) || mark(datadir, NULL)) return -1;
    }
    struct stat st;
    if (lstat(newd, &st) == 0) sst_info("removing %s left by an earlier state transfer", newd);
    if (sst_fs_rmrf(newd) || sst_fs_rmrf(oldd)) {
        sst_error("cannot remove %s or %s", newd, oldd);
        return -1;
    }
    return 0;
}
