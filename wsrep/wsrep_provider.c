/* wsrep/wsrep_provider: the wsrep v26 entry points: wsrep_loader fills the 45-slot table.
 * Each slot converts ABI arguments to the node's types (by cast where layouts are identical). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "trireme_revision.h" /* generated: wsrep/CMakeLists.txt */
#include "replicator/repl_node.h"
#include "wsrep/wsrep_api.h"
#include "wsrep/wsrep_services.h"

/* The node's value types are the ABI's, byte for byte: pass pointers through. */
_Static_assert(sizeof(struct repl_meta) == sizeof(wsrep_trx_meta_t), "meta layout");
_Static_assert(offsetof(struct repl_meta, depends_on) == offsetof(wsrep_trx_meta_t, depends_on),
               "meta layout");
_Static_assert(sizeof(tr_gtid) == sizeof(wsrep_gtid_t), "gtid layout");
_Static_assert(sizeof(struct repl_buf) == sizeof(wsrep_buf_t), "buf layout");
_Static_assert(sizeof(struct repl_key) == sizeof(wsrep_key_t), "key layout");
_Static_assert(sizeof(struct repl_member) == sizeof(wsrep_member_info_t), "member layout");
_Static_assert(offsetof(struct repl_view, members) == offsetof(wsrep_view_info_t, members) &&
                   offsetof(struct repl_view, my_idx) == offsetof(wsrep_view_info_t, my_idx) &&
                   offsetof(struct repl_view, status) == offsetof(wsrep_view_info_t, status),
               "view layout");
_Static_assert(sizeof(struct repl_stat) == sizeof(struct wsrep_stats_var) &&
                   offsetof(struct repl_stat, v) == offsetof(struct wsrep_stats_var, value),
               "stats layout");
_Static_assert(WSREP_TRX_FAIL == (int)REPL_TRX_FAIL && WSREP_NOT_ALLOWED == (int)REPL_NOT_ALLOWED,
               "status values");
_Static_assert(WSREP_FLAG_ISOLATION == REPL_F_ISOLATION && WSREP_FLAG_TRX_START == REPL_F_TRX_START,
               "flag values");

struct provider_ctx {
    struct repl_node *node;
    struct wsrep_init_args args; /* callbacks and app_ctx */
};

#define NODE(w) (((struct provider_ctx *)(w)->ctx)->node)

static _Atomic(wsrep_log_cb_t) host_logger;

static void log_to_host(enum tr_log_level level, const char *msg)
{
    wsrep_log_cb_t cb = atomic_load(&host_logger);
    if (cb) cb((wsrep_log_level_t)level, msg);
}

/* ---- host callbacks, seen from the node ---- */

static int cb_connected(void *app_ctx, const struct repl_view *v)
{
    struct provider_ctx *p = app_ctx;
    if (!p->args.connected_cb) return 0;
    return p->args.connected_cb(p->args.app_ctx, (const wsrep_view_info_t *)v) != WSREP_CB_SUCCESS;
}

static int cb_view(void *app_ctx, void *recv_ctx, const struct repl_view *v)
{
    struct provider_ctx *p = app_ctx;
    if (!p->args.view_cb) return 0;
    return p->args.view_cb(p->args.app_ctx, recv_ctx, (const wsrep_view_info_t *)v, NULL, 0) !=
           WSREP_CB_SUCCESS;
}

static int cb_apply(void *app_ctx, void *recv_ctx, uint64_t trx_id, void *opaque, uint32_t flags,
                    const struct repl_buf *data, const struct repl_meta *meta, bool *exit_loop)
{
    struct provider_ctx *p = app_ctx;
    if (!p->args.apply_cb) return -1;
    wsrep_ws_handle_t ws = {trx_id, opaque};
    wsrep_bool_t ex = false;
    wsrep_cb_status_t rc = p->args.apply_cb(recv_ctx, &ws, flags, (const wsrep_buf_t *)data,
                                            (const wsrep_trx_meta_t *)meta, &ex);
    *exit_loop = ex;
    return rc != WSREP_CB_SUCCESS;
}

static int cb_synced(void *app_ctx)
{
    struct provider_ctx *p = app_ctx;
    if (!p->args.synced_cb) return 0;
    return p->args.synced_cb(p->args.app_ctx) != WSREP_CB_SUCCESS;
}

static int cb_sst_request(void *app_ctx, void **req, size_t *len)
{
    struct provider_ctx *p = app_ctx;
    *req = NULL;
    *len = 0;
    if (!p->args.sst_request_cb) return -1;
    return p->args.sst_request_cb(p->args.app_ctx, req, len) != WSREP_CB_SUCCESS;
}

static int cb_sst_donate(void *app_ctx, void *recv_ctx, const void *req, size_t req_len,
                         const tr_gtid *state_id, bool bypass)
{
    struct provider_ctx *p = app_ctx;
    if (!p->args.sst_donate_cb) return -1;
    wsrep_buf_t msg = {req, req_len};
    return p->args.sst_donate_cb(p->args.app_ctx, recv_ctx, &msg, (const wsrep_gtid_t *)state_id,
                                 NULL, bypass) != WSREP_CB_SUCCESS;
}

/* The host's allowlist service (MariaDB's wsrep_allowlist), asked about each incoming group
 * link. MariaDB allows every address while the list is empty. */
static bool allow_peer(void *ctx, const char *addr)
{
    (void)ctx;
    return wsrep_services_allow_ip(addr);
}

/* ---- the 45 slots ---- */

static wsrep_status_t p_init(wsrep_t *w, const struct wsrep_init_args *args)
{
    if (!args) return WSREP_NODE_FAIL;
    if (w->ctx) {
        tr_error("init called twice");
        return WSREP_NODE_FAIL;
    }
    atomic_store(&host_logger, args->logger_cb);
    tr_log_set_sink(args->logger_cb ? log_to_host : NULL);
    struct provider_ctx *p = calloc(1, sizeof *p);
    if (!p) return WSREP_FATAL;
    p->args = *args;
    struct repl_init_args ra = {
        .node_name = args->node_name,
        .node_address = args->node_address,
        .node_incoming = args->node_incoming,
        .data_dir = args->data_dir,
        .options = args->options,
        .proto_ver = args->proto_ver,
        .state_id = (const tr_gtid *)args->state_id,
        .host = {p, cb_connected, cb_view, cb_apply, cb_synced, cb_sst_request, cb_sst_donate},
        .allow_peer = allow_peer,
    };
    int rc = repl_node_new(&ra, &p->node);
    if (rc != REPL_OK) {
        free(p);
        return (wsrep_status_t)rc;
    }
    w->ctx = p;
    tr_info("trireme %s initialized", TRIREME_VERSION "(r" TRIREME_REVISION ")");
    return WSREP_OK;
}

static wsrep_cap_t p_capabilities(wsrep_t *w)
{
    return w->ctx ? repl_node_capabilities(NODE(w)) : 0;
}

static wsrep_status_t p_options_set(wsrep_t *w, const char *conf)
{
    if (!w->ctx) return WSREP_NODE_FAIL;
    return (wsrep_status_t)repl_node_options_set(NODE(w), conf);
}

static char *p_options_get(wsrep_t *w)
{
    return w->ctx ? repl_node_options_get(NODE(w)) : NULL;
}

static wsrep_status_t p_enc_set_key(wsrep_t *w, const wsrep_enc_key_t *key)
{
    (void)w;
    (void)key;
    /* Encrypted group traffic is on the roadmap; refuse rather than pretend. */
    return WSREP_NOT_IMPLEMENTED;
}

static wsrep_status_t p_connect(wsrep_t *w, const char *cluster_name, const char *url,
                                const char *donor, wsrep_bool_t bootstrap)
{
    if (!w->ctx) return WSREP_NODE_FAIL;
    return (wsrep_status_t)repl_node_connect(NODE(w), cluster_name, url, donor, bootstrap);
}

static wsrep_status_t p_disconnect(wsrep_t *w)
{
    return w->ctx ? (wsrep_status_t)repl_node_disconnect(NODE(w)) : WSREP_OK;
}

static wsrep_status_t p_recv(wsrep_t *w, void *recv_ctx)
{
    return w->ctx ? (wsrep_status_t)repl_node_recv(NODE(w), recv_ctx) : WSREP_NODE_FAIL;
}

static wsrep_status_t p_assign_read_view(wsrep_t *w, wsrep_ws_handle_t *h, const wsrep_gtid_t *rv)
{
    return (wsrep_status_t)repl_node_assign_read_view(NODE(w), h->trx_id, (const tr_gtid *)rv);
}

static wsrep_status_t p_certify(wsrep_t *w, wsrep_conn_id_t conn, wsrep_ws_handle_t *h,
                                uint32_t flags, wsrep_trx_meta_t *meta)
{
    return (wsrep_status_t)repl_node_certify(NODE(w), conn, h->trx_id, &h->opaque, flags,
                                             (struct repl_meta *)meta);
}

static wsrep_status_t p_commit_order_enter(wsrep_t *w, const wsrep_ws_handle_t *h,
                                           const wsrep_trx_meta_t *meta)
{
    return (wsrep_status_t)repl_node_commit_order_enter(NODE(w), h->trx_id, h->opaque,
                                                        (const struct repl_meta *)meta);
}

static wsrep_status_t p_commit_order_leave(wsrep_t *w, const wsrep_ws_handle_t *h,
                                           const wsrep_trx_meta_t *meta, const wsrep_buf_t *err)
{
    return (wsrep_status_t)repl_node_commit_order_leave(NODE(w), h->trx_id, h->opaque,
                                                        (const struct repl_meta *)meta,
                                                        (const struct repl_buf *)err);
}

static wsrep_status_t p_release(wsrep_t *w, wsrep_ws_handle_t *h)
{
    return (wsrep_status_t)repl_node_release(NODE(w), h->trx_id, &h->opaque);
}

static wsrep_status_t p_replay_trx(wsrep_t *w, const wsrep_ws_handle_t *h, void *trx_ctx)
{
    return (wsrep_status_t)repl_node_replay(NODE(w), h->trx_id, h->opaque, trx_ctx);
}

static wsrep_status_t p_abort_certification(wsrep_t *w, wsrep_seqno_t bf_seqno,
                                            wsrep_trx_id_t victim, wsrep_seqno_t *victim_seqno)
{
    int64_t vs = WSREP_SEQNO_UNDEFINED;
    wsrep_status_t rc =
        (wsrep_status_t)repl_node_abort_certification(NODE(w), bf_seqno, victim, &vs);
    if (victim_seqno) *victim_seqno = vs;
    return rc;
}

static wsrep_status_t p_rollback(wsrep_t *w, wsrep_trx_id_t trx, const wsrep_buf_t *data)
{
    return (wsrep_status_t)repl_node_rollback(NODE(w), trx, (const struct repl_buf *)data);
}

static wsrep_status_t p_append_key(wsrep_t *w, wsrep_ws_handle_t *h, const wsrep_key_t *keys,
                                   size_t count, enum wsrep_key_type type, wsrep_bool_t copy)
{
    (void)copy; /* always copied: the host's buffers do not outlive the call */
    return (wsrep_status_t)repl_node_append_key(NODE(w), h->trx_id, &h->opaque,
                                                (const struct repl_key *)keys, count, (int)type);
}

static wsrep_status_t p_append_data(wsrep_t *w, wsrep_ws_handle_t *h, const wsrep_buf_t *data,
                                    size_t count, enum wsrep_data_type type, wsrep_bool_t copy)
{
    (void)copy;
    return (wsrep_status_t)repl_node_append_data(NODE(w), h->trx_id, &h->opaque,
                                                 (const struct repl_buf *)data, count, (int)type);
}

static wsrep_status_t p_sync_wait(wsrep_t *w, wsrep_gtid_t *upto, int tout, wsrep_gtid_t *gtid)
{
    return (wsrep_status_t)repl_node_sync_wait(NODE(w), (const tr_gtid *)upto, tout,
                                               (tr_gtid *)gtid);
}

static wsrep_status_t p_last_committed_id(wsrep_t *w, wsrep_gtid_t *gtid)
{
    if (!w->ctx) return WSREP_NODE_FAIL;
    return (wsrep_status_t)repl_node_last_committed(NODE(w), (tr_gtid *)gtid);
}

static wsrep_status_t p_free_connection(wsrep_t *w, wsrep_conn_id_t conn)
{
    return (wsrep_status_t)repl_node_free_connection(NODE(w), conn);
}

static wsrep_status_t p_to_execute_start(wsrep_t *w, wsrep_conn_id_t conn, const wsrep_key_t *keys,
                                         size_t nkeys, const wsrep_buf_t *action, size_t count,
                                         uint32_t flags, wsrep_trx_meta_t *meta)
{
    return (wsrep_status_t)repl_node_to_execute_start(NODE(w), conn, (const struct repl_key *)keys,
                                                      nkeys, (const struct repl_buf *)action,
                                                      count, flags, (struct repl_meta *)meta);
}

static wsrep_status_t p_to_execute_end(wsrep_t *w, wsrep_conn_id_t conn, const wsrep_buf_t *err)
{
    return (wsrep_status_t)repl_node_to_execute_end(NODE(w), conn, (const struct repl_buf *)err);
}

static wsrep_status_t p_preordered_collect(wsrep_t *w, wsrep_po_handle_t *h,
                                           const wsrep_buf_t *data, size_t count,
                                           wsrep_bool_t copy)
{
    (void)w, (void)h, (void)data, (void)count, (void)copy;
    return WSREP_NOT_IMPLEMENTED; /* WSREP_CAP_PREORDERED is not offered */
}

static wsrep_status_t p_preordered_commit(wsrep_t *w, wsrep_po_handle_t *h,
                                          const wsrep_uuid_t *source, uint32_t flags,
                                          int pa_range, wsrep_bool_t commit)
{
    (void)w, (void)h, (void)source, (void)flags, (void)pa_range, (void)commit;
    return WSREP_NOT_IMPLEMENTED;
}

static wsrep_status_t p_sst_sent(wsrep_t *w, const wsrep_gtid_t *state_id, int rcode)
{
    return (wsrep_status_t)repl_node_sst_sent(NODE(w), (const tr_gtid *)state_id, rcode);
}

static wsrep_status_t p_sst_received(wsrep_t *w, const wsrep_gtid_t *state_id,
                                     const wsrep_buf_t *state, int rcode)
{
    (void)state;
    return (wsrep_status_t)repl_node_sst_received(NODE(w), (const tr_gtid *)state_id, rcode);
}

static wsrep_status_t p_snapshot(wsrep_t *w, const wsrep_buf_t *msg, const char *donor_spec)
{
    (void)w, (void)msg, (void)donor_spec;
    return WSREP_NOT_IMPLEMENTED;
}

static struct wsrep_stats_var *p_stats_get(wsrep_t *w)
{
    return w->ctx ? (struct wsrep_stats_var *)repl_node_stats(NODE(w)) : NULL;
}

static void p_stats_free(wsrep_t *w, struct wsrep_stats_var *vars)
{
    (void)w;
    repl_node_stats_free((struct repl_stat *)vars);
}

static void p_stats_reset(wsrep_t *w)
{
    if (w->ctx) repl_node_stats_reset(NODE(w));
}

static wsrep_seqno_t p_pause(wsrep_t *w)
{
    return repl_node_pause(NODE(w));
}

static wsrep_status_t p_resume(wsrep_t *w)
{
    return (wsrep_status_t)repl_node_resume(NODE(w));
}

static wsrep_status_t p_desync(wsrep_t *w)
{
    return (wsrep_status_t)repl_node_desync(NODE(w));
}

static wsrep_status_t p_resync(wsrep_t *w)
{
    return (wsrep_status_t)repl_node_resync(NODE(w));
}

static wsrep_status_t p_lock(wsrep_t *w, const char *name, wsrep_bool_t shared, uint64_t owner,
                             int64_t tout)
{
    return (wsrep_status_t)repl_node_lock(NODE(w), name, shared, owner, tout);
}

static wsrep_status_t p_unlock(wsrep_t *w, const char *name, uint64_t owner)
{
    return (wsrep_status_t)repl_node_unlock(NODE(w), name, owner);
}

static wsrep_bool_t p_is_locked(wsrep_t *w, const char *name, uint64_t *conn, wsrep_uuid_t *node)
{
    return repl_node_is_locked(NODE(w), name, conn, (tr_uuid *)node);
}

static void p_free(wsrep_t *w)
{
    struct provider_ctx *p = w->ctx;
    if (!p) return; /* wsrep-lib calls free twice */
    w->ctx = NULL;
    repl_node_free(p->node);
    free(p);
    tr_log_set_sink(NULL);
    atomic_store(&host_logger, NULL);
}

static const wsrep_t provider_template = {
    .version = WSREP_INTERFACE_VERSION,
    .init = p_init,
    .capabilities = p_capabilities,
    .options_set = p_options_set,
    .options_get = p_options_get,
    .enc_set_key = p_enc_set_key,
    .connect = p_connect,
    .disconnect = p_disconnect,
    .recv = p_recv,
    .assign_read_view = p_assign_read_view,
    .certify = p_certify,
    .commit_order_enter = p_commit_order_enter,
    .commit_order_leave = p_commit_order_leave,
    .release = p_release,
    .replay_trx = p_replay_trx,
    .abort_certification = p_abort_certification,
    .rollback = p_rollback,
    .append_key = p_append_key,
    .append_data = p_append_data,
    .sync_wait = p_sync_wait,
    .last_committed_id = p_last_committed_id,
    .free_connection = p_free_connection,
    .to_execute_start = p_to_execute_start,
    .to_execute_end = p_to_execute_end,
    .preordered_collect = p_preordered_collect,
    .preordered_commit = p_preordered_commit,
    .sst_sent = p_sst_sent,
    .sst_received = p_sst_received,
    .snapshot = p_snapshot,
    .stats_get = p_stats_get,
    .stats_free = p_stats_free,
    .stats_reset = p_stats_reset,
    .pause = p_pause,
    .resume = p_resume,
    .desync = p_desync,
    .resync = p_resync,
    .lock = p_lock,
    .unlock = p_unlock,
    .is_locked = p_is_locked,
    .provider_name = "trireme",
    .provider_version = TRIREME_VERSION "(r" TRIREME_REVISION ")",
    .provider_vendor = "The trireme developers",
    .free = p_free,
    .dlh = NULL,
    .ctx = NULL,
};

__attribute__((visibility("default"))) const char *wsrep_interface_version =
    WSREP_INTERFACE_VERSION;

__attribute__((visibility("default"))) int wsrep_loader(wsrep_t *hptr)
{
    if (!hptr) return 22; /* EINVAL */
    *hptr = provider_template;
    return 0;
}
