/* tools/wsrep_sst_trireme/sst_joiner: "ready <addr>", one donor, every frame checked into
 * mbstream in a staging dir, mariabackup --prepare, the journaled swap, then "uuid:seqno domain". */
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tr_time.h"
#include "tools/wsrep_sst_trireme/sst.h"
#include "tools/wsrep_sst_trireme/sst_codec.h"

static long conn_reader(void *ctx, void *buf, size_t len)
{
    return sst_conn_read(ctx, buf, len);
}

static void send_ack(struct sst_conn *c, int32_t status, const char *msg)
{
    uint8_t buf[SST_FRAME_HDR + 4 + SST_TEXT_MAX + SST_DIGEST_LEN];
    size_t n = sst_ack_encode(status, msg, buf, sizeof buf);
    if (n && sst_conn_write(c, buf, n)) sst_warn("cannot answer the donor: %s", sst_conn_why(c));
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int run_prepare(const char *stage, const char *datadir)
{
    static const char *const names[] = {"mariadb-backup", "mariabackup", NULL};
    char bin[SST_PATH_MAX], a_def[SST_PATH_MAX + 32], a_target[SST_PATH_MAX + 32], log[SST_PATH_MAX];
    if (sst_which(names, bin, sizeof bin)) {
        sst_error("mariadb-backup not found in PATH (package mariadb-backup)");
        return SST_EXIT_NOENT;
    }
    sst_fmt(log, sizeof log, "%s/mariabackup.prepare.log", datadir);
    unlink(log);
    /* the backup's own settings only (page size, log size): not this host's my.cnf */
    sst_fmt(a_def, sizeof a_def, "--defaults-file=%s/backup-my.cnf", stage);
    sst_fmt(a_target, sizeof a_target, "--target-dir=%s", stage);
    char *argv[] = {bin, a_def, "--prepare", "--no-version-check", a_target, NULL};
    sst_info("preparing the backup: %s --prepare (log %s)", bin, log);
    struct sst_child c;
    if (sst_spawn(&c, argv, true, log, NULL)) return SST_EXIT_NOENT;
    char sink[4096]; /* it writes nothing to stdout; drain it anyway */
    while (read(c.fd, sink, sizeof sink) > 0) {}
    int st = sst_child_wait(&c);
    if (st != 0) {
        sst_error("mariadb-backup --prepare failed (exit %d); see %s", st, log);
        sst_log_tail(log, 8);
        return SST_EXIT_FAIL;
    }
    return 0;
}

/* the position the prepared data holds, from mariabackup --galera-info, when it is readable */
static bool data_position(const char *stage, tr_uuid *uuid, int64_t *seqno)
{
    static const char *const files[] = {"xtrabackup_galera_info", "mariadb_backup_galera_info"};
    for (size_t i = 0; i < 2; i++) {
        char p[SST_PATH_MAX], line[256];
        sst_fmt(p, sizeof p, "%s/%s", stage, files[i]);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        bool ok = fgets(line, sizeof line, f) && sst_parse_gtid(line, uuid, seqno) == 0;
        fclose(f);
        if (ok) return true;
    }
    return false;
}

/* old binary logs outside the datadir (those inside left with the old contents): the joiner
 * starts a fresh binary log, as with MariaDB's mariabackup SST */
static void drop_old_binlogs(const struct sst_opts *o)
{
    if (!*o->binlog) return;
    char base[SST_PATH_MAX], pat[SST_PATH_MAX + 16];
    if (o->binlog[0] == '/')
        sst_fmt(base, sizeof base, "%s", o->binlog);
    else
        sst_fmt(base, sizeof base, "%s/%s", o->datadir, o->binlog);
    size_t dl = strlen(o->datadir);
    if (!strncmp(base, o->datadir, dl) && base[dl] == '/' && !strchr(base + dl + 1, '/')) return;
    sst_fmt(pat, sizeof pat, "%s.[0-9]*", base);
    glob_t g;
    if (glob(pat, 0, NULL, &g) == 0) {
        sst_info("removing %zu old binary log file(s) %s", g.gl_pathc, pat);
        for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    sst_fmt(pat, sizeof pat, "%s.index", base);
    unlink(*o->binlog_index ? o->binlog_index : pat);
}

/* receives the data frames into mbstream -x in stage; 0, or an exit code after telling the donor */
static int receive(struct sst_opts *o, struct sst_conn *c, struct sst_dec *d,
                   const struct sst_head *h, const char *stage)
{
    static const char *const names[] = {"mbstream", "mariadb-backup-mbstream", NULL};
    char bin[SST_PATH_MAX], log[SST_PATH_MAX], err[768];
    if (sst_which(names, bin, sizeof bin)) {
        sst_error("mbstream not found in PATH (package mariadb-backup)");
        send_ack(c, SST_EXIT_NOENT, "mbstream not found on the joiner");
        return SST_EXIT_NOENT;
    }
    sst_fmt(log, sizeof log, "%s/mbstream.log", o->datadir);
    unlink(log);
    char *argv[] = {bin, "-x", "-C", (char *)stage, NULL};
    struct sst_child m;
    if (sst_spawn(&m, argv, false, log, NULL)) {
        send_ack(c, SST_EXIT_NOENT, "cannot run mbstream on the joiner");
        return SST_EXIT_NOENT;
    }
    struct sst_progress pr;
    sst_progress_start(&pr, "SST joiner", h->size_hint, o->progress);
    for (;;) {
        const uint8_t *data;
        size_t len;
        uint64_t before = d->off;
        enum sst_next r = sst_dec_next(d, &data, &len, err, sizeof err);
        if (r == SST_NEXT_ERR) {
            sst_error("SST stream from %s rejected: %s%s%s", sst_conn_peer(c), err,
                      d->io_failed ? ": " : "", d->io_failed ? sst_conn_why(c) : "");
            send_ack(c, SST_EXIT_PROTO, err);
            sst_child_kill(&m);
            return d->io_failed ? SST_EXIT_TIMEOUT : SST_EXIT_PROTO;
        }
        if (r == SST_NEXT_END) break;
        if (write_all(m.fd, data, len)) {
            sst_error("mbstream stopped taking data (%s); see %s", strerror(errno), log);
            sst_log_tail(log, 8);
            send_ack(c, SST_EXIT_FAIL, "mbstream failed on the joiner");
            sst_child_kill(&m);
            return SST_EXIT_FAIL;
        }
        sst_progress_add(&pr, len, d->off - before);
    }
    int st = sst_child_wait(&m);
    if (st != 0) {
        sst_error("mbstream -x failed (exit %d); see %s", st, log);
        sst_log_tail(log, 8);
        send_ack(c, SST_EXIT_FAIL, "mbstream failed on the joiner");
        return SST_EXIT_FAIL;
    }
    sst_progress_end(&pr);
    send_ack(c, 0, "");
    return 0;
}

int sst_joiner(struct sst_opts *o)
{
    char err[768], uuid[TR_UUID_STR_LEN + 1], stage[SST_PATH_MAX];
    if (*o->outside) {
        /* mariabackup would put these files elsewhere; moving only the datadir would lose them */
        sst_error("files outside the datadir (%s) are not supported by the trireme SST method yet",
                  o->outside);
        return SST_EXIT_INVAL;
    }
    struct sst_tls *tls;
    int rc = sst_secure_setup(o, &tls);
    if (rc) return rc;
    if (sst_fs_recover(o->datadir)) {
        sst_tls_free(tls);
        return SST_EXIT_FAIL;
    }
    int lfd = sst_listen(o->host, o->port, err, sizeof err);
    if (lfd < 0) {
        sst_error("%s", err);
        sst_tls_free(tls);
        return SST_EXIT_FAIL;
    }
    bool v6 = strchr(o->host, ':') != NULL;
    printf("ready %s%s%s:%u\n", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
    fflush(stdout);
    sst_info("joiner: waiting for a donor on %s%s%s:%u (up to %lld s)%s", v6 ? "[" : "", o->host,
             v6 ? "]" : "", o->port, (long long)(o->initial_timeout_ns / TR_NS_PER_SEC),
             tls ? ", TLS" : "");
    int64_t t0 = tr_now_ns();
    struct sst_conn *c = sst_accept(lfd, tls, t0 + o->initial_timeout_ns, o->parent, err, sizeof err);
    close(lfd); /* exactly one donor */
    if (!c) {
        sst_error("%s", err);
        sst_tls_free(tls);
        return strstr(err, "in time") ? SST_EXIT_TIMEOUT : SST_EXIT_PIPE;
    }
    sst_conn_set_idle(c, o->idle_timeout_ns);
    struct sst_dec d;
    struct sst_head h;
    if (sst_dec_init(&d, conn_reader, c)) {
        sst_error("out of memory");
        rc = SST_EXIT_FAIL;
    } else if (sst_dec_head(&d, &h, err, sizeof err)) {
        sst_error("SST stream from %s rejected: %s%s%s", sst_conn_peer(c), err,
                  d.io_failed ? ": " : "", d.io_failed ? sst_conn_why(c) : "");
        rc = d.io_failed ? SST_EXIT_TIMEOUT : SST_EXIT_PROTO;
    }
    if (rc) goto out;
    tr_uuid_print(&h.uuid, uuid);
    sst_info("donor %s sends %s %s:%lld (domain %u)%s", sst_conn_peer(c),
             h.flags & SST_HEAD_BYPASS ? "the position only (bypass), at" : "state",
             uuid, (long long)h.seqno, h.domain_id, "");
    sst_fmt(stage, sizeof stage, "%s/%s", o->datadir, SST_STAGE_NEW);
    if (h.flags & SST_HEAD_BYPASS) {
        const uint8_t *data;
        size_t len;
        if (sst_dec_next(&d, &data, &len, err, sizeof err) != SST_NEXT_END) {
            sst_error("bypass stream from %s rejected: %s", sst_conn_peer(c),
                      *err ? err : "data where only the position was expected");
            send_ack(c, SST_EXIT_PROTO, "bypass stream carries data");
            rc = SST_EXIT_PROTO;
        } else {
            send_ack(c, 0, "");
        }
        goto out;
    }
    if (mkdir(stage, 0750) != 0) {
        sst_error("cannot create %s: %s", stage, strerror(errno));
        send_ack(c, SST_EXIT_FAIL, "cannot create the staging directory on the joiner");
        rc = SST_EXIT_FAIL;
        goto out;
    }
    rc = receive(o, c, &d, &h, stage);
    sst_conn_close(c);
    c = NULL;
    if (!rc) rc = run_prepare(stage, o->datadir);
    if (!rc) {
        tr_uuid du;
        int64_t ds;
        if (data_position(stage, &du, &ds) && tr_uuid_compare(&du, &h.uuid) == 0 && ds >= h.seqno) {
            if (ds != h.seqno) sst_info("the backup holds the state up to %s:%lld", uuid, (long long)ds);
            h.seqno = ds;
        } else {
            sst_info("no usable galera info in the backup: reporting the donor's position");
        }
        sst_info("moving the new data into %s", o->datadir);
        if (sst_fs_install(o->datadir)) rc = SST_EXIT_FAIL;
    }
    if (rc) {
        sst_error("state transfer failed; %s is unchanged", o->datadir);
        sst_fs_rmrf(stage);
    } else {
        drop_old_binlogs(o);
    }
out:
    sst_dec_free(&d);
    sst_conn_close(c);
    sst_tls_free(tls);
    if (rc) return rc;
    sst_info("state transfer complete in %.1f s", (double)(tr_now_ns() - t0) / 1e9);
    printf("%s:%lld %u\n", uuid, (long long)h.seqno, h.domain_id);
    fflush(stdout);
    return 0;
}
