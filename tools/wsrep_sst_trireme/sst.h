/* tools/wsrep_sst_trireme/sst: the pieces of MariaDB's SST method "trireme" (docs/operations.md, "State transfer"):
 * options, log, transport, child processes, datadir moves, donor and joiner. */
#ifndef SST_H
#define SST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/tr_uuid.h"

#define SST_PATH_MAX 4096
#define SST_DEFAULT_PORT 4444

/* Exit codes: errno values, as MariaDB's own SST scripts use. */
enum {
    SST_EXIT_FAIL = 1,
    SST_EXIT_NOENT = 2,     /* a program or file is missing */
    SST_EXIT_INVAL = 22,    /* bad options or configuration */
    SST_EXIT_PIPE = 32,     /* the peer or the parent went away */
    SST_EXIT_PROTO = 71,    /* the stream is corrupt or truncated */
    SST_EXIT_TIMEOUT = 110,
};

enum sst_role { SST_ROLE_NONE, SST_ROLE_DONOR, SST_ROLE_JOINER, SST_ROLE_RECOVER };

struct sst_opts {
    enum sst_role role;
    char address[512];        /* as given */
    char host[256];           /* without brackets */
    uint16_t port;
    char datadir[SST_PATH_MAX];
    char defaults_file[SST_PATH_MAX], defaults_extra_file[SST_PATH_MAX], group_suffix[64];
    long parent;              /* --parent: mariadbd's PID, 0 = none */
    bool progress;
    unsigned local_port;
    char socket[SST_PATH_MAX];
    bool have_gtid;
    tr_uuid uuid;
    int64_t seqno;
    uint32_t domain_id;
    char binlog[SST_PATH_MAX], binlog_index[SST_PATH_MAX];
    bool bypass;
    char user[128], password[256]; /* WSREP_SST_OPT_AUTH, or --user/--password */
    /* [sst] group */
    int64_t initial_timeout_ns;  /* sst-initial-timeout: joiner waits this long for a donor */
    int64_t idle_timeout_ns;     /* sst-idle-timeout: longest silence mid-stream */
    int zstd_level;              /* zstd-level: 0 = none, 1..19 */
    char tcert[SST_PATH_MAX], tkey[SST_PATH_MAX], tca[SST_PATH_MAX];
    /* layout options seen in --mysqld-args or my.cnf that put files outside the datadir */
    char outside[512];
    bool want_tls;               /* [sst] encrypt=2..4 or ssl-mode=REQUIRED/VERIFY_* */
};

/* ---- log (sst_log.c): "WSREP_SST: [INFO] ... (timestamp)" on stderr, as MariaDB expects ---- */
void sst_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sst_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sst_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* snprintf that says when it cut: 0, or -1 if the text did not fit (buffers are sized for
 * paths below SST_PATH_MAX - 256, which sst_opts_parse enforces) */
int sst_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct sst_progress {
    const char *what;
    uint64_t total;      /* 0 = unknown */
    uint64_t done, wire;
    int64_t start_ns, last_ns, every_ns;
};
void sst_progress_start(struct sst_progress *p, const char *what, uint64_t total, bool often);
void sst_progress_add(struct sst_progress *p, uint64_t raw, uint64_t wire);
void sst_progress_end(struct sst_progress *p);

/* ---- options (sst_opts.c) ---- */
/* argv as MariaDB passes it; then the [sst] group and the environment. 0 or an SST_EXIT_*. */
int sst_opts_parse(struct sst_opts *o, int argc, char **argv);
/* --defaults-file/--defaults-extra-file/--defaults-group-suffix as given to us, for a MariaDB
 * program's argv (into bufs); returns how many. */
int sst_defaults_args(const struct sst_opts *o, char bufs[3][SST_PATH_MAX + 32], char **argv);
/* "host:port", "[v6]:port", "host", with an optional "/module/..." tail. 0 or -1. */
int sst_parse_address(const char *s, char *host, size_t hostlen, uint16_t *port);
/* "uuid:seqno". 0 or -1. */
int sst_parse_gtid(const char *s, tr_uuid *uuid, int64_t *seqno);

/* ---- transport (sst_net.c): plain TCP, or TLS with tcert/tkey/tca (fails closed) ---- */
struct sst_conn;
struct sst_tls;
/* NULL with *err empty when TLS is not configured; NULL with err set when it cannot load. */
struct sst_tls *sst_tls_new(const struct sst_opts *o, char *err, size_t errlen);
void sst_tls_free(struct sst_tls *t);
/* libgcrypt and, when configured, TLS: 0 with *tls (NULL = plaintext), or an SST_EXIT_* */
int sst_secure_setup(const struct sst_opts *o, struct sst_tls **tls);
/* Listening socket on host (or any address when host cannot be bound here), port. fd or -1. */
int sst_listen(const char *host, uint16_t port, char *err, size_t errlen);
/* One donor, until deadline_ns (monotonic); gives up early when pid parent is gone. */
struct sst_conn *sst_accept(int lfd, struct sst_tls *tls, int64_t deadline_ns, long parent,
                            char *err, size_t errlen);
struct sst_conn *sst_connect(const char *host, uint16_t port, struct sst_tls *tls,
                             int64_t deadline_ns, char *err, size_t errlen);
/* > 0 bytes, 0 at the peer's end of stream, -1 on failure or idle_ns without a byte. */
long sst_conn_read(struct sst_conn *c, void *buf, size_t len);
int sst_conn_write(struct sst_conn *c, const void *buf, size_t len); /* 0 or -1 */
/* no more writes: the peer reads end of stream */
void sst_conn_shutdown(struct sst_conn *c);
void sst_conn_set_idle(struct sst_conn *c, int64_t idle_ns);
const char *sst_conn_why(const struct sst_conn *c);   /* the last failure */
const char *sst_conn_peer(const struct sst_conn *c);
void sst_conn_close(struct sst_conn *c);

/* ---- child processes (sst_proc.c) ---- */
struct sst_child {
    pid_t pid;
    int fd;            /* our end of its stdin or stdout pipe, -1 when none */
};
/* Runs argv[0] (found in PATH) with stdout or stdin on a pipe (dir_out: we read its stdout) and
 * stderr appended to logfile; env_add: "K=V" entries added to the environment, NULL-ended. */
int sst_spawn(struct sst_child *c, char *const argv[], bool dir_out, const char *logfile,
              char *const env_add[]);
int sst_child_wait(struct sst_child *c); /* exit status, or 128+signal */
void sst_child_kill(struct sst_child *c); /* SIGTERM our child by its PID, then reap */
/* The first of names found in PATH, into out. 0 or -1. */
int sst_which(const char *const names[], char *out, size_t outlen);
void sst_log_tail(const char *file, int lines);
bool sst_parent_gone(long parent);

/* ---- datadir (sst_fs.c) ---- */
#define SST_STAGE_NEW ".trireme-sst.new"
#define SST_STAGE_OLD ".trireme-sst.old"
#define SST_STAGE_MARK ".trireme-sst.state"
/* Finishes or undoes a move an earlier run left half done; removes stale staging dirs. 0 or -1. */
int sst_fs_recover(const char *datadir);
/* Replaces the datadir's contents by those of datadir/SST_STAGE_NEW, keeping the node's own
 * files (grastate.dat, logs, keys...). Journaled: sst_fs_recover completes it after a crash. */
int sst_fs_install(const char *datadir);
int sst_fs_rmrf(const char *path);
uint64_t sst_fs_size(const char *dir); /* bytes of regular files below dir */
bool sst_fs_keep(const char *name);    /* the datadir entry stays the node's own */

int sst_donor(struct sst_opts *o);
int sst_joiner(struct sst_opts *o);

#endif
