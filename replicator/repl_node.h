/* replicator/repl_node: one trireme node: local commit path, ordered stream, node states.
 * The wsrep adapter calls these; the node calls its host back through struct repl_host. */
#ifndef REPL_NODE_H
#define REPL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replicator/repl_types.h"

struct repl_node;

/* Same layout as wsrep_key_t. */
struct repl_key {
    const struct repl_buf *parts;
    size_t nparts;
};

/* Callbacks into the host (the DBMS); return 0 on success. */
struct repl_host {
    void *app_ctx;
    int (*connected)(void *app_ctx, const struct repl_view *view);
    int (*view)(void *app_ctx, void *recv_ctx, const struct repl_view *view);
    /* handle = {trx_id, opaque}; the host may call commit_order_enter/leave with it. */
    int (*apply)(void *app_ctx, void *recv_ctx, uint64_t trx_id, void *opaque, uint32_t flags,
                 const struct repl_buf *data, const struct repl_meta *meta, bool *exit_loop);
    int (*synced)(void *app_ctx);
    /* A joiner asks the host how to receive state: *req is malloc'ed by the host ("trivial":
     * the host already has the group's state, e.g. MariaDB's wsrep_sst_method=skip). */
    int (*sst_request)(void *app_ctx, void **req, size_t *len);
    /* A donor: send the state at state_id to the joiner that asked with req; the host answers
     * later with repl_node_sst_sent. Called from an applier thread (recv_ctx). */
    int (*sst_donate)(void *app_ctx, void *recv_ctx, const void *req, size_t req_len,
                      const tr_gtid *state_id, bool bypass);
};

struct repl_group;
struct repl_group_args;

struct repl_init_args {
    const char *node_name;
    const char *node_address;
    const char *node_incoming;
    const char *data_dir;
    const char *options;
    int proto_ver;
    const tr_gtid *state_id; /* the host's own idea of its position, may be NULL */
    struct repl_host host;
    /* Which group to join; NULL: the built-in one. Tests put several nodes on one bus. */
    struct repl_group *(*group_factory)(const struct repl_group_args *args, void *ctx);
    void *group_ctx;
    /* The host's allowlist (MariaDB's wsrep_allowlist): asked for the address of each incoming
     * group link before it may say anything; false refuses it. NULL: all may try. */
    bool (*allow_peer)(void *ctx, const char *addr);
    void *allow_ctx;
};

/* Statistics row: same layout as struct wsrep_stats_var. */
enum repl_stat_type { REPL_STAT_STRING = 0, REPL_STAT_INT64, REPL_STAT_DOUBLE };
struct repl_stat {
    const char *name;
    int type;
    union {
        int64_t i;
        double d;
        const char *s;
    } v;
};

int repl_node_new(const struct repl_init_args *args, struct repl_node **out);
/* group_factory for repl_init_args: gcomm over TCP with the node's own options. */
struct repl_group *repl_node_gcomm_factory(const struct repl_group_args *args, void *ctx);
/* Idempotent teardown; disconnects first if still connected. */
void repl_node_free(struct repl_node *n);

int repl_node_options_set(struct repl_node *n, const char *conf);
char *repl_node_options_get(struct repl_node *n); /* malloc'ed */
uint32_t repl_node_capabilities(struct repl_node *n);

int repl_node_connect(struct repl_node *n, const char *cluster_name, const char *url,
                      const char *donor, bool bootstrap);
int repl_node_disconnect(struct repl_node *n);
int repl_node_recv(struct repl_node *n, void *recv_ctx);

int repl_node_append_key(struct repl_node *n, uint64_t trx_id, void **opaque,
                         const struct repl_key *keys, size_t count, int type);
int repl_node_append_data(struct repl_node *n, uint64_t trx_id, void **opaque,
                          const struct repl_buf *data, size_t count, int type);
int repl_node_certify(struct repl_node *n, uint64_t conn_id, uint64_t trx_id, void **opaque,
                      uint32_t flags, struct repl_meta *meta);
int repl_node_commit_order_enter(struct repl_node *n, uint64_t trx_id, void *opaque,
                                 const struct repl_meta *meta);
int repl_node_commit_order_leave(struct repl_node *n, uint64_t trx_id, void *opaque,
                                 const struct repl_meta *meta, const struct repl_buf *error);
int repl_node_release(struct repl_node *n, uint64_t trx_id, void **opaque);
int repl_node_replay(struct repl_node *n, uint64_t trx_id, void *opaque, void *trx_ctx);
int repl_node_abort_certification(struct repl_node *n, int64_t bf_seqno, uint64_t victim_trx,
                                  int64_t *victim_seqno);
int repl_node_rollback(struct repl_node *n, uint64_t trx_id, const struct repl_buf *data);
int repl_node_assign_read_view(struct repl_node *n, uint64_t trx_id, const tr_gtid *rv);

int repl_node_to_execute_start(struct repl_node *n, uint64_t conn_id, const struct repl_key *keys,
                               size_t nkeys, const struct repl_buf *action, size_t count,
                               uint32_t flags, struct repl_meta *meta);
int repl_node_to_execute_end(struct repl_node *n, uint64_t conn_id, const struct repl_buf *error);
int repl_node_free_connection(struct repl_node *n, uint64_t conn_id);

int repl_node_sync_wait(struct repl_node *n, const tr_gtid *upto, int timeout_s, tr_gtid *out);
int repl_node_last_committed(struct repl_node *n, tr_gtid *out);

int repl_node_sst_sent(struct repl_node *n, const tr_gtid *state_id, int rcode);
int repl_node_sst_received(struct repl_node *n, const tr_gtid *state_id, int rcode);

int64_t repl_node_pause(struct repl_node *n);
int repl_node_resume(struct repl_node *n);
int repl_node_desync(struct repl_node *n);
int repl_node_resync(struct repl_node *n);

/* Named locks, node-local: tout_ns 0 tries, < 0 waits forever. 0 or -EBUSY/-EDEADLK/-EPERM. */
int repl_node_lock(struct repl_node *n, const char *name, bool shared, uint64_t owner,
                   int64_t tout_ns);
int repl_node_unlock(struct repl_node *n, const char *name, uint64_t owner);
bool repl_node_is_locked(struct repl_node *n, const char *name, uint64_t *owner, tr_uuid *node);

/* A NULL-name-terminated array in one allocation; free with repl_node_stats_free. */
struct repl_stat *repl_node_stats(struct repl_node *n);
void repl_node_stats_free(struct repl_stat *s);
void repl_node_stats_reset(struct repl_node *n);

#endif
