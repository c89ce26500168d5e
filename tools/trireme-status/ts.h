/* tools/trireme-status/ts.h: shared types of trireme-status, the cluster status CLI and HAProxy
 * health check. Talks to MariaDB nodes over Connector/C only; links nothing of trireme. */
#ifndef TS_H
#define TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TS_MAX_NODES 32
#define TS_ADDR_LEN 300
#define TS_ERR_LEN 256

/* Exit statuses (documented in --help and docs/operations.md). */
enum { TS_EXIT_HEALTHY = 0, TS_EXIT_DEGRADED = 1, TS_EXIT_DOWN = 2, TS_EXIT_USAGE = 3 };

/* Connection settings, as the mariadb client takes them. NULL means "not given": Connector/C then
 * takes the value from the option files (or its default), as the client does. */
struct ts_conn_opts {
    const char *host, *socket, *user, *password;
    unsigned port;
    int protocol; /* 0: as Connector/C decides; else MYSQL_PROTOCOL_TCP or _SOCKET */
    const char *defaults_file, *defaults_extra_file;
    bool no_defaults;
    unsigned timeout_s; /* connect, read and write timeout of every connection */
};

struct ts_opts {
    struct ts_conn_opts conn;
    const char *nodes;  /* --nodes: extra HOST:PORT,... expected in the cluster */
    double interval_s;  /* between the two samples */
    double watch_s;     /* 0: once */
    bool json;
    long long max_lag;  /* write-sets behind the most advanced node before a warning */
    bool check, donor_ok, read_only_not_ok;
    const char *disable_file;
    const char *serve;  /* --serve-check ADDR:PORT */
    int max_clients;
};

/* The status and variables trireme-status reads. Values are kept as the server's strings; NULL
 * means the server does not have the variable (an older provider, or wsrep off). */
enum ts_field {
    F_LOCAL_STATE, F_STATE_COMMENT, F_CLUSTER_STATUS, F_CLUSTER_SIZE, F_CONF_ID, F_STATE_UUID,
    F_CLUSTER_WEIGHT, F_READY, F_CONNECTED, F_LAST_COMMITTED, F_CERT_FAILURES, F_BF_ABORTS,
    F_LOCAL_COMMITS, F_REPLICATED, F_RECEIVED, F_FC_SENT, F_FC_RECV, F_FC_PAUSED_NS, F_FC_ACTIVE,
    F_SEND_QUEUE, F_SEND_QUEUE_AVG, F_RECV_QUEUE, F_RECV_QUEUE_AVG, F_DESYNC_COUNT,
    F_CACHED_DOWNTO, F_REPL_LATENCY, F_INCOMING, F_PROVIDER_NAME, F_PROVIDER_VERSION,
    F_GCOMM_UUID,
    /* SHOW GLOBAL VARIABLES */
    F_NODE_NAME, F_CLUSTER_NAME, F_READ_ONLY, F_WSREP_ON,
    F_COUNT
};
extern const char *const ts_field_names[F_COUNT];
#define TS_FIRST_VARIABLE F_NODE_NAME

struct ts_sample {
    bool ok;
    char error[TS_ERR_LEN];
    double at; /* monotonic seconds when the status was read */
    char *v[F_COUNT];
};

/* ts_conn.c */
/* Connects to one server; NULL host and socket: the option files' or Connector/C's default.
 * peer: a node found in wsrep_incoming_addresses, reached over TCP at host:port. */
void *ts_connect(const struct ts_conn_opts *o, const char *host, unsigned port, bool peer,
                 char *err, size_t errlen);
/* Reads the status into s (s->ok, or s->error). Returns false if the connection broke. */
bool ts_read(void *conn, struct ts_sample *s);
void ts_disconnect(void *conn);
/* connect, read, disconnect */
void ts_sample_node(const struct ts_conn_opts *o, const char *host, unsigned port, bool peer,
                    struct ts_sample *s);
void ts_sample_clear(struct ts_sample *s);
int ts_conn_setup(const struct ts_conn_opts *o, char *err, size_t errlen);
void ts_conn_teardown(void);

/* value helpers: false/NAN when absent or not a number */
bool ts_int(const struct ts_sample *s, enum ts_field f, long long *out);
bool ts_dbl(const struct ts_sample *s, enum ts_field f, double *out);
const char *ts_str(const struct ts_sample *s, enum ts_field f); /* "" when absent */
bool ts_is(const struct ts_sample *s, enum ts_field f, const char *value); /* case-insensitive */
double ts_now(void); /* monotonic seconds */

/* ts_check.c: whether one node should take traffic, clustercheck's rules */
struct ts_verdict {
    bool ok;
    char reason[TS_ERR_LEN + 64]; /* one line, no newline */
};
void ts_check_verdict(const struct ts_opts *o, const struct ts_sample *s, struct ts_verdict *v);
int ts_check_once(const struct ts_opts *o);

/* ts_serve.c */
int ts_serve(const struct ts_opts *o);

/* ts_cluster.c */
struct ts_node {
    char addr[TS_ADDR_LEN]; /* host:port, or how the entry node was reached */
    char host[TS_ADDR_LEN];
    unsigned port;
    bool entry;       /* reached with the user's own -h/-P/-S */
    bool listed;      /* in some node's wsrep_incoming_addresses now */
    struct ts_sample prev, cur;
};
struct ts_cluster {
    struct ts_node nodes[TS_MAX_NODES];
    int n;
    int arbitrators; /* members without an incoming address (garbd, trireme-arbd) */
    char warnings[64][400];
    int nwarn;
    int exit_code;
    double window_s; /* between prev and cur */
};
void ts_cluster_refresh(const struct ts_opts *o, struct ts_cluster *c);
void ts_cluster_free(struct ts_cluster *c);
/* derived per-node figures; false when they cannot be computed */
bool ts_rate(const struct ts_node *n, enum ts_field f, double *per_s);
bool ts_fc_paused_share(const struct ts_node *n, double *share);
bool ts_latency_ms(const struct ts_node *n, double *avg_ms);
long long ts_max_committed(const struct ts_cluster *c);
const char *ts_node_label(const struct ts_node *n);

/* ts_render.c */
void ts_render_table(FILE *f, const struct ts_opts *o, const struct ts_cluster *c);
void ts_render_json(FILE *f, const struct ts_opts *o, const struct ts_cluster *c);

/* ts_opts.c */
int ts_parse_args(int argc, char **argv, struct ts_opts *o);
bool ts_split_addr(const char *in, char *host, size_t hostlen, unsigned *port, unsigned defport);

#endif
