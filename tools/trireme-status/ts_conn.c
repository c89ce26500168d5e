/* tools/trireme-status/ts_conn.c: one node's status over MariaDB Connector/C, with the mariadb
 * client's option files read by Connector/C itself and bounded connect/read/write timeouts. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <mysql.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"

const char *const ts_field_names[F_COUNT] = {
    [F_LOCAL_STATE] = "wsrep_local_state",
    [F_STATE_COMMENT] = "wsrep_local_state_comment",
    [F_CLUSTER_STATUS] = "wsrep_cluster_status",
    [F_CLUSTER_SIZE] = "wsrep_cluster_size",
    [F_CONF_ID] = "wsrep_cluster_conf_id",
    [F_STATE_UUID] = "wsrep_cluster_state_uuid",
    [F_CLUSTER_WEIGHT] = "wsrep_cluster_weight",
    [F_READY] = "wsrep_ready",
    [F_CONNECTED] = "wsrep_connected",
    [F_LAST_COMMITTED] = "wsrep_last_committed",
    [F_CERT_FAILURES] = "wsrep_local_cert_failures",
    [F_BF_ABORTS] = "wsrep_local_bf_aborts",
    [F_LOCAL_COMMITS] = "wsrep_local_commits",
    [F_REPLICATED] = "wsrep_replicated",
    [F_RECEIVED] = "wsrep_received",
    [F_FC_SENT] = "wsrep_flow_control_sent",
    [F_FC_RECV] = "wsrep_flow_control_recv",
    [F_FC_PAUSED_NS] = "wsrep_flow_control_paused_ns",
    [F_FC_ACTIVE] = "wsrep_flow_control_active",
    [F_SEND_QUEUE] = "wsrep_local_send_queue",
    [F_SEND_QUEUE_AVG] = "wsrep_local_send_queue_avg",
    [F_RECV_QUEUE] = "wsrep_local_recv_queue",
    [F_RECV_QUEUE_AVG] = "wsrep_local_recv_queue_avg",
    [F_DESYNC_COUNT] = "wsrep_desync_count",
    [F_CACHED_DOWNTO] = "wsrep_local_cached_downto",
    [F_REPL_LATENCY] = "wsrep_evs_repl_latency",
    [F_INCOMING] = "wsrep_incoming_addresses",
    [F_PROVIDER_NAME] = "wsrep_provider_name",
    [F_PROVIDER_VERSION] = "wsrep_provider_version",
    [F_GCOMM_UUID] = "wsrep_gcomm_uuid",
    [F_NODE_NAME] = "wsrep_node_name",
    [F_CLUSTER_NAME] = "wsrep_cluster_name",
    [F_READ_ONLY] = "read_only",
    [F_WSREP_ON] = "wsrep_on",
};

/* The option group read besides [client], [client-server] and [client-mariadb]. */
#define TS_OPTION_GROUP "trireme-status"

/* --defaults-extra-file: the client reads it after the default files. Connector/C reads either
 * one named file or the defaults, so an in-memory file !includes the defaults (the places
 * Connector/C reads on Unix) and then the extra file; Connector/C still parses every file. */
static char extra_path[64];
static int extra_fd = -1;

static void add_include(FILE *f, const char *dir, const char *name)
{
    char p[4096];
    if (!dir || !dir[0]) return;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (access(p, R_OK) == 0) fprintf(f, "!include %s\n", p);
}

int ts_conn_setup(const struct ts_conn_opts *o, char *err, size_t errlen)
{
    if (mysql_library_init(0, NULL, NULL)) {
        snprintf(err, errlen, "cannot initialise MariaDB Connector/C");
        return -1;
    }
    const char *files[2] = {o->defaults_file, o->defaults_extra_file};
    for (int i = 0; i < 2; i++)
        if (!o->no_defaults && files[i] && access(files[i], R_OK) != 0) {
            snprintf(err, errlen, "cannot read option file %s: %s", files[i], strerror(errno));
            return -1;
        }
    if (o->no_defaults || o->defaults_file || !o->defaults_extra_file) return 0;
    extra_fd = memfd_create("trireme-status-options", MFD_CLOEXEC);
    if (extra_fd < 0) {
        snprintf(err, errlen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    FILE *f = fdopen(dup(extra_fd), "w");
    if (!f) {
        snprintf(err, errlen, "fdopen: %s", strerror(errno));
        return -1;
    }
    add_include(f, "/etc", "my.cnf");
    add_include(f, "/etc/mysql", "my.cnf");
    const char *home = getenv("MARIADB_HOME");
    add_include(f, home ? home : getenv("MYSQL_HOME"), "my.cnf");
    add_include(f, getenv("HOME"), ".my.cnf");
    fprintf(f, "!include %s\n", o->defaults_extra_file);
    fclose(f);
    snprintf(extra_path, sizeof extra_path, "/proc/self/fd/%d", extra_fd);
    return 0;
}

void ts_conn_teardown(void)
{
    if (extra_fd >= 0) close(extra_fd);
    extra_fd = -1;
    mysql_library_end();
}

void *ts_connect(const struct ts_conn_opts *o, const char *host, unsigned port, bool peer,
                 char *err, size_t errlen)
{
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!o->no_defaults) {
        const char *file = o->defaults_file ? o->defaults_file : extra_fd >= 0 ? extra_path : NULL;
        if (file) mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, file);
        mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, TS_OPTION_GROUP);
    }
    unsigned t = o->timeout_s;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &t);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &t);
    const char *sock = NULL;
    if (peer) {
        unsigned proto = MYSQL_PROTOCOL_TCP;
        mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    } else {
        host = o->host;
        port = o->port;
        sock = o->socket;
        if (o->protocol) {
            unsigned proto = (unsigned)o->protocol;
            mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
        }
    }
    if (!mysql_real_connect(m, host, o->user, o->password, NULL, port, sock, 0)) {
        snprintf(err, errlen, "%s", mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

void ts_disconnect(void *conn)
{
    if (conn) mysql_close(conn);
}

static int field_of(const char *name)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strcasecmp(name, ts_field_names[f]) == 0) return f;
    return -1;
}

static bool run(MYSQL *m, const char *sql, struct ts_sample *s)
{
    if (mysql_query(m, sql)) return false;
    MYSQL_RES *r = mysql_store_result(m);
    if (!r) return false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        if (!row[0]) continue;
        int f = field_of(row[0]);
        if (f < 0) continue;
        free(s->v[f]);
        s->v[f] = strdup(row[1] ? row[1] : "");
    }
    mysql_free_result(r);
    return true;
}

void ts_sample_clear(struct ts_sample *s)
{
    for (int f = 0; f < F_COUNT; f++) free(s->v[f]);
    memset(s, 0, sizeof *s);
}

bool ts_read(void *conn, struct ts_sample *s)
{
    MYSQL *m = conn;
    ts_sample_clear(s);
    s->at = ts_now();
    if (!run(m, "SHOW GLOBAL STATUS LIKE 'wsrep%'", s) ||
        !run(m, "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
                "('wsrep_node_name', 'wsrep_cluster_name', 'read_only', 'wsrep_on')", s)) {
        snprintf(s->error, sizeof s->error, "%s", mysql_error(m));
        for (int f = 0; f < F_COUNT; f++) {
            free(s->v[f]);
            s->v[f] = NULL;
        }
        return false;
    }
    s->ok = true;
    return true;
}

void ts_sample_node(const struct ts_conn_opts *o, const char *host, unsigned port, bool peer,
                    struct ts_sample *s)
{
    char err[TS_ERR_LEN];
    ts_sample_clear(s);
    void *m = ts_connect(o, host, port, peer, err, sizeof err);
    if (!m) {
        s->at = ts_now();
        snprintf(s->error, sizeof s->error, "%s", err);
        return;
    }
    ts_read(m, s);
    ts_disconnect(m);
}

double ts_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

const char *ts_str(const struct ts_sample *s, enum ts_field f)
{
    return s->v[f] ? s->v[f] : "";
}

bool ts_is(const struct ts_sample *s, enum ts_field f, const char *value)
{
    return s->v[f] && strcasecmp(s->v[f], value) == 0;
}

bool ts_dbl(const struct ts_sample *s, enum ts_field f, double *out)
{
    if (!s->ok || !s->v[f] || !s->v[f][0]) return false;
    char *end;
    errno = 0;
    double d = strtod(s->v[f], &end);
    while (*end && isspace((unsigned char)*end)) end++;
    if (errno || *end || !isfinite(d)) return false;
    *out = d;
    return true;
}

bool ts_int(const struct ts_sample *s, enum ts_field f, long long *out)
{
    if (!s->ok || !s->v[f] || !s->v[f][0]) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s->v[f], &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}
