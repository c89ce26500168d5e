/* tools/wsrep_sst_trireme/sst_donor: mariabackup's xbstream (backup locks: the donor keeps
 * serving), compressed and framed, to the joiner over one connection; "done uuid:seqno" on success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tr_time.h"
#include "tools/wsrep_sst_trireme/sst.h"
#include "tools/wsrep_sst_trireme/sst_codec.h"

/* Test-only fault injection (tests/mariadb/sst_trireme.sh): when the file named by
 * TRIREME_SST_TEST_FAULT_FILE exists it says "flip OFFSET" (invert one byte of the wire stream)
 * or "cut OFFSET" (drop the connection there). Never set in production. */
struct fault {
    char kind[8];
    uint64_t at;
};

static void fault_load(struct fault *f)
{
    memset(f, 0, sizeof *f);
    const char *path = getenv("TRIREME_SST_TEST_FAULT_FILE");
    FILE *fp = path && *path ? fopen(path, "r") : NULL;
    if (!fp) return;
    unsigned long long at = 0;
    if (fscanf(fp, "%7s %llu", f->kind, &at) == 2 && (!strcmp(f->kind, "flip") || !strcmp(f->kind, "cut"))) {
        f->at = at;
        sst_warn("TEST FAULT INJECTION: %s at stream offset %llu (%s)", f->kind, at, path);
    } else {
        f->kind[0] = '\0';
    }
    fclose(fp);
}

struct out {
    struct sst_conn *c;
    struct fault fault;
    uint64_t off;
    bool cut;
};

static int send_bytes(struct out *o, const uint8_t *p, size_t n)
{
    if (o->cut) return -1;
    if (o->fault.kind[0] && o->fault.at >= o->off && o->fault.at < o->off + n) {
        size_t i = (size_t)(o->fault.at - o->off);
        if (!strcmp(o->fault.kind, "cut")) {
            o->cut = true;
            if (i && sst_conn_write(o->c, p, i)) return -1;
            sst_warn("TEST FAULT INJECTION: connection dropped at offset %llu",
                     (unsigned long long)o->fault.at);
            return -1;
        }
        uint8_t *copy = malloc(n);
        if (!copy) return -1;
        memcpy(copy, p, n);
        copy[i] ^= 0xff;
        int rc = sst_conn_write(o->c, copy, n);
        free(copy);
        o->off += n;
        return rc;
    }
    o->off += n;
    return sst_conn_write(o->c, p, n);
}

/* the joiner's verdict on the stream: 0 if it got everything intact */
static int read_ack(struct sst_conn *c, char *msg, size_t msglen)
{
    uint8_t buf[SST_FRAME_HDR + 4 + SST_TEXT_MAX + SST_DIGEST_LEN];
    size_t got = 0, want = SST_FRAME_HDR;
    while (got < want) {
        long n = sst_conn_read(c, buf + got, want - got);
        if (n <= 0) {
            sst_fmt(msg, msglen, "no answer from the joiner: %s",
                     n == 0 ? "it closed the connection" : sst_conn_why(c));
            return -1;
        }
        got += (size_t)n;
        if (got == SST_FRAME_HDR && want == SST_FRAME_HDR) {
            want = sst_ack_len(buf);
            if (!want) {
                sst_fmt(msg, msglen, "the joiner's answer is malformed");
                return -1;
            }
        }
    }
    int32_t status;
    if (sst_ack_decode(buf, got, &status, msg, msglen)) {
        sst_fmt(msg, msglen, "the joiner's answer is malformed");
        return -1;
    }
    return status;
}

static int backup(struct sst_opts *o, struct sst_enc *e, struct out *out, uint64_t total, char *why,
                  size_t wl)
{
    static const char *const names[] = {"mariadb-backup", "mariabackup", NULL};
    char bin[SST_PATH_MAX], tmpl[SST_PATH_MAX], log[SST_PATH_MAX];
    if (sst_which(names, bin, sizeof bin)) {
        sst_fmt(why, wl, "mariadb-backup not found in PATH (package mariadb-backup)");
        return SST_EXIT_NOENT;
    }
    const char *tmp = getenv("TMPDIR");
    sst_fmt(tmpl, sizeof tmpl, "%s/wsrep_sst_trireme.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpl)) {
        sst_fmt(why, wl, "cannot create a directory in %s: %s", tmp ? tmp : "/tmp", strerror(errno));
        return SST_EXIT_FAIL;
    }
    sst_fmt(log, sizeof log, "%s/mariabackup.backup.log", o->datadir);
    unlink(log);
    char a_target[SST_PATH_MAX + 32],
        a_tmp[SST_PATH_MAX + 32], a_data[SST_PATH_MAX + 32], a_sock[SST_PATH_MAX + 32], a_user[200],
        pwd[300];
    char *argv[24], defs[3][SST_PATH_MAX + 32];
    int n = 0;
    argv[n++] = bin;
    n += sst_defaults_args(o, defs, argv + n);
    argv[n++] = "--backup";
    argv[n++] = "--galera-info";
    argv[n++] = "--stream=xbstream";
    argv[n++] = "--no-version-check";
    argv[n++] = "--databases-exclude=lost+found";
    sst_fmt(a_target, sizeof a_target, "--target-dir=%s", tmpl);
    argv[n++] = a_target;
    sst_fmt(a_tmp, sizeof a_tmp, "--tmpdir=%s", tmpl);
    argv[n++] = a_tmp;
    sst_fmt(a_data, sizeof a_data, "--datadir=%s", o->datadir);
    argv[n++] = a_data;
    if (*o->socket) {
        sst_fmt(a_sock, sizeof a_sock, "--socket=%s", o->socket);
        argv[n++] = a_sock;
    }
    if (*o->user) {
        sst_fmt(a_user, sizeof a_user, "--user=%s", o->user);
        argv[n++] = a_user;
    }
    argv[n] = NULL;
    /* the password through the environment, never on a command line others can read */
    sst_fmt(pwd, sizeof pwd, "MYSQL_PWD=%s", o->password);
    char *env[] = {pwd, NULL};
    sst_info("streaming a backup of %s: %s --backup --stream=xbstream (log %s)", o->datadir, bin, log);
    struct sst_child c;
    if (sst_spawn(&c, argv, true, log, *o->password ? env : NULL)) {
        sst_fs_rmrf(tmpl);
        sst_fmt(why, wl, "cannot run %s", bin);
        return SST_EXIT_NOENT;
    }
    uint8_t *buf = malloc(SST_RAW_MAX);
    struct sst_progress pr;
    sst_progress_start(&pr, "SST donor", total, o->progress);
    int rc = 0;
    bool eof = false;
    while (buf && !eof) {
        size_t fill = 0;
        while (fill < SST_RAW_MAX) {
            ssize_t r = read(c.fd, buf + fill, SST_RAW_MAX - fill);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                eof = true;
                break;
            }
            fill += (size_t)r;
        }
        if (!fill) break;
        const uint8_t *f;
        size_t fl = sst_enc_data(e, buf, fill, &f);
        if (!fl) {
            sst_fmt(why, wl, "compressing a frame failed");
            rc = SST_EXIT_FAIL;
            break;
        }
        if (send_bytes(out, f, fl)) {
            sst_fmt(why, wl, "sending to the joiner failed: %s",
                     out->cut ? "test fault injection" : sst_conn_why(out->c));
            rc = SST_EXIT_PIPE;
            break;
        }
        sst_progress_add(&pr, fill, fl);
    }
    if (!buf) sst_fmt(why, wl, "out of memory"), rc = SST_EXIT_FAIL;
    free(buf);
    int st_rc = rc ? (sst_child_kill(&c), 0) : sst_child_wait(&c);
    sst_fs_rmrf(tmpl);
    if (!rc && st_rc != 0) {
        sst_fmt(why, wl, "mariadb-backup failed (exit %d); see %s", st_rc, log);
        sst_log_tail(log, 8);
        return SST_EXIT_FAIL;
    }
    if (!rc) sst_progress_end(&pr);
    return rc;
}

int sst_donor(struct sst_opts *o)
{
    char err[512], uuid[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&o->uuid, uuid);
    struct sst_tls *tls;
    int rc = sst_secure_setup(o, &tls);
    if (rc) return rc;
    struct sst_head h = {.version = SST_VERSION, .flags = o->bypass ? SST_HEAD_BYPASS : 0,
                         .domain_id = o->domain_id, .uuid = o->uuid, .seqno = o->seqno};
    if (!o->bypass) h.size_hint = sst_fs_size(o->datadir);
    sst_info("donor: %s %s:%lld to %s port %u%s", o->bypass ? "position only (bypass) at" : "state",
             uuid, (long long)o->seqno, o->host, o->port, tls ? " over TLS" : "");
    int64_t t0 = tr_now_ns();
    struct sst_conn *c = sst_connect(o->host, o->port, tls, t0 + 30 * TR_NS_PER_SEC, err, sizeof err);
    if (!c) {
        sst_error("%s", err);
        sst_tls_free(tls);
        return SST_EXIT_PIPE;
    }
    sst_conn_set_idle(c, o->idle_timeout_ns);
    struct sst_enc e;
    if (sst_enc_init(&e, o->bypass ? 0 : o->zstd_level)) {
        sst_error("out of memory");
        sst_conn_close(c);
        sst_tls_free(tls);
        return SST_EXIT_FAIL;
    }
    struct out out = {.c = c};
    fault_load(&out.fault);
    const uint8_t *f;
    size_t fl = sst_enc_head(&e, &h, &f);
    rc = send_bytes(&out, f, fl) ? SST_EXIT_PIPE : 0;
    char why[600] = "";
    if (rc) sst_fmt(why, sizeof why, "sending to the joiner failed: %s", sst_conn_why(c));
    if (!rc && !o->bypass) rc = backup(o, &e, &out, h.size_hint, why, sizeof why);
    if (rc) {
        sst_error("%s", why);
        if (!out.cut) { /* tell the joiner why, so its log says it too */
            fl = sst_enc_abort(&e, why, &f);
            sst_conn_write(c, f, fl);
        }
    } else {
        fl = sst_enc_end(&e, &f);
        if (send_bytes(&out, f, fl)) {
            sst_error("sending the END frame failed: %s", out.cut ? "test fault injection" : sst_conn_why(c));
            rc = SST_EXIT_PIPE;
        }
    }
    if (!rc) {
        sst_conn_shutdown(c);
        char msg[SST_TEXT_MAX + 64];
        int st = read_ack(c, msg, sizeof msg);
        if (st != 0) {
            sst_error("the joiner did not take the stream: %s", msg);
            rc = st > 0 ? SST_EXIT_PROTO : SST_EXIT_PIPE;
        } else {
            sst_info("the joiner verified %llu bytes in %llu frames (%.1f s)",
                     (unsigned long long)e.raw_total, (unsigned long long)e.data_frames,
                     (double)(tr_now_ns() - t0) / 1e9);
        }
    }
    sst_enc_free(&e);
    sst_conn_close(c);
    sst_tls_free(tls);
    if (rc) return rc;
    printf("done %s:%lld\n", uuid, (long long)o->seqno);
    fflush(stdout);
    return 0;
}
