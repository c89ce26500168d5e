/* wsrep/wsrep_api.h: trireme's own statement of the wsrep API v26 binary interface.
 * Written from the published layouts; every size and offset MariaDB relies on is asserted below. */
#ifndef TRIREME_WSREP_API_H
#define TRIREME_WSREP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSREP_INTERFACE_VERSION "26"
#define WSREP_NONE "none"

/* ---- scalars ---- */
typedef uint64_t wsrep_trx_id_t;
typedef uint64_t wsrep_conn_id_t;
typedef int64_t wsrep_seqno_t;
typedef bool wsrep_bool_t; /* one byte, as C++ bool on the host side */
typedef uint32_t wsrep_cap_t;

#define WSREP_SEQNO_UNDEFINED ((wsrep_seqno_t)-1)

/* ---- logging ---- */
typedef enum wsrep_log_level {
    WSREP_LOG_FATAL = 0,
    WSREP_LOG_ERROR,
    WSREP_LOG_WARN,
    WSREP_LOG_INFO,
    WSREP_LOG_DEBUG
} wsrep_log_level_t;

typedef void (*wsrep_log_cb_t)(wsrep_log_level_t level, const char *msg);

/* ---- results ---- */
typedef enum wsrep_status {
    WSREP_OK = 0,
    WSREP_WARNING,         /* minor, recoverable */
    WSREP_TRX_MISSING,     /* transaction unknown to the provider */
    WSREP_TRX_FAIL,        /* certification or replication failed: roll back */
    WSREP_BF_ABORT,        /* aborted by a higher-priority transaction */
    WSREP_SIZE_EXCEEDED,   /* write-set over the size limit */
    WSREP_CONN_FAIL,       /* client connection must close */
    WSREP_NODE_FAIL,       /* node must be restarted */
    WSREP_FATAL,           /* the process must abort */
    WSREP_NOT_IMPLEMENTED,
    WSREP_NOT_ALLOWED
} wsrep_status_t;

typedef enum wsrep_cb_status {
    WSREP_CB_SUCCESS = 0,
    WSREP_CB_FAILURE
} wsrep_cb_status_t;

/* ---- capability bits (wsrep_cap_t) ---- */
#define WSREP_CAP_MULTI_MASTER (1ULL << 0)
#define WSREP_CAP_CERTIFICATION (1ULL << 1)
#define WSREP_CAP_PARALLEL_APPLYING (1ULL << 2)
#define WSREP_CAP_TRX_REPLAY (1ULL << 3)
#define WSREP_CAP_ISOLATION (1ULL << 4)
#define WSREP_CAP_PAUSE (1ULL << 5)
#define WSREP_CAP_CAUSAL_READS (1ULL << 6)
#define WSREP_CAP_CAUSAL_TRX (1ULL << 7)
#define WSREP_CAP_INCREMENTAL_WRITESET (1ULL << 8)
#define WSREP_CAP_SESSION_LOCKS (1ULL << 9)
#define WSREP_CAP_DISTRIBUTED_LOCKS (1ULL << 10)
#define WSREP_CAP_CONSISTENCY_CHECK (1ULL << 11)
#define WSREP_CAP_UNORDERED (1ULL << 12)
#define WSREP_CAP_ANNOTATION (1ULL << 13)
#define WSREP_CAP_PREORDERED (1ULL << 14)
#define WSREP_CAP_STREAMING (1ULL << 15)
#define WSREP_CAP_SNAPSHOT (1ULL << 16)
#define WSREP_CAP_NBO (1ULL << 17)

/* ---- write-set flags (uint32_t in calls) ---- */
#define WSREP_FLAG_TRX_END (1ULL << 0)
#define WSREP_FLAG_ROLLBACK (1ULL << 1)
#define WSREP_FLAG_ISOLATION (1ULL << 2)
#define WSREP_FLAG_PA_UNSAFE (1ULL << 3)
#define WSREP_FLAG_COMMUTATIVE (1ULL << 4)
#define WSREP_FLAG_NATIVE (1ULL << 5)
#define WSREP_FLAG_TRX_START (1ULL << 6)
#define WSREP_FLAG_TRX_PREPARE (1ULL << 7)
#define WSREP_FLAG_SNAPSHOT (1ULL << 8)
#define WSREP_FLAG_IMPLICIT_DEPS (1ULL << 9)
#define WSREP_FLAGS_LAST WSREP_FLAG_IMPLICIT_DEPS
#define WSREP_FLAGS_MASK ((WSREP_FLAGS_LAST << 1) - 1)

/* ---- identifiers ---- */
typedef union wsrep_uuid {
    uint8_t data[16];
    size_t alignment;
} wsrep_uuid_t;

#define WSREP_UUID_STR_LEN 36
#define WSREP_GTID_STR_LEN (WSREP_UUID_STR_LEN + 1 + 20)
#define WSREP_MEMBER_NAME_LEN 32
#define WSREP_INCOMING_LEN 256

typedef struct wsrep_gtid {
    wsrep_uuid_t uuid;
    wsrep_seqno_t seqno;
} wsrep_gtid_t;

/* source transaction id: which node, which transaction, which connection */
typedef struct wsrep_stid {
    wsrep_uuid_t node;
    wsrep_trx_id_t trx;
    wsrep_conn_id_t conn;
} wsrep_stid_t;

typedef struct wsrep_trx_meta {
    wsrep_gtid_t gtid;        /* global position, undefined until ordered */
    wsrep_stid_t stid;
    wsrep_seqno_t depends_on; /* last seqno this one must wait for before applying */
} wsrep_trx_meta_t;

/* ---- membership and views ---- */
typedef enum wsrep_member_status {
    WSREP_MEMBER_UNDEFINED = 0,
    WSREP_MEMBER_JOINER,
    WSREP_MEMBER_DONOR,
    WSREP_MEMBER_JOINED,
    WSREP_MEMBER_SYNCED,
    WSREP_MEMBER_ERROR,
    WSREP_MEMBER_MAX
} wsrep_member_status_t;

typedef struct wsrep_member_info {
    wsrep_uuid_t id;
    char name[WSREP_MEMBER_NAME_LEN];
    char incoming[WSREP_INCOMING_LEN];
} wsrep_member_info_t;

typedef enum wsrep_view_status {
    WSREP_VIEW_PRIMARY = 0,
    WSREP_VIEW_NON_PRIMARY,
    WSREP_VIEW_DISCONNECTED,
    WSREP_VIEW_MAX
} wsrep_view_status_t;

typedef struct wsrep_view_info {
    wsrep_gtid_t state_id;       /* group state at this view */
    wsrep_seqno_t view;          /* view number (cluster conf id) */
    wsrep_view_status_t status;
    wsrep_cap_t capabilities;    /* common to all members */
    int my_idx;                  /* receiver's index, -1 if not a member */
    int memb_num;
    int proto_ver;               /* application protocol agreed on */
    wsrep_member_info_t members[1]; /* memb_num entries follow */
} wsrep_view_info_t;

/* ---- buffers, handles, keys ---- */
typedef struct wsrep_buf {
    const void *ptr;
    size_t len;
} wsrep_buf_t;

typedef struct wsrep_ws_handle {
    wsrep_trx_id_t trx_id;
    void *opaque; /* provider's per-transaction state, written back by the host */
} wsrep_ws_handle_t;

typedef enum wsrep_key_type {
    WSREP_KEY_SHARED = 0,
    WSREP_KEY_REFERENCE,
    WSREP_KEY_UPDATE,
    WSREP_KEY_EXCLUSIVE
} wsrep_key_type_t;

typedef enum wsrep_data_type {
    WSREP_DATA_ORDERED = 0,
    WSREP_DATA_UNORDERED,
    WSREP_DATA_ANNOTATION
} wsrep_data_type_t;

typedef struct wsrep_key {
    const wsrep_buf_t *key_parts;
    size_t key_parts_num;
} wsrep_key_t;

typedef struct wsrep_po_handle {
    void *opaque;
} wsrep_po_handle_t;

#define WSREP_PO_INITIALIZER {NULL}

/* ---- status variables ---- */
typedef enum wsrep_var_type {
    WSREP_VAR_STRING = 0,
    WSREP_VAR_INT64,
    WSREP_VAR_DOUBLE
} wsrep_var_type_t;

struct wsrep_stats_var {
    const char *name; /* NULL terminates the array */
    wsrep_var_type_t type;
    union {
        int64_t _int64;
        double _double;
        const char *_string;
    } value;
};

/* ---- encryption ---- */
typedef wsrep_buf_t wsrep_enc_key_t;
typedef char wsrep_enc_iv_t[32];

typedef struct wsrep_enc_ctx {
    const wsrep_enc_key_t *key;
    const wsrep_enc_iv_t *iv;
    void *ctx;
} wsrep_enc_ctx_t;

typedef enum wsrep_enc_direction {
    WSREP_ENC = 0,
    WSREP_DEC
} wsrep_enc_direction_t;

/* ---- callbacks from provider to host ---- */
typedef wsrep_cb_status_t (*wsrep_connected_cb_t)(void *app_ctx, const wsrep_view_info_t *view);
typedef wsrep_cb_status_t (*wsrep_view_cb_t)(void *app_ctx, void *recv_ctx,
                                             const wsrep_view_info_t *view, const char *state,
                                             size_t state_len);
typedef wsrep_cb_status_t (*wsrep_sst_request_cb_t)(void *app_ctx, void **sst_req,
                                                    size_t *sst_req_len);
typedef int (*wsrep_encrypt_cb_t)(void *app_ctx, wsrep_enc_ctx_t *enc_ctx,
                                  const wsrep_buf_t *input, void *output,
                                  wsrep_enc_direction_t direction, wsrep_bool_t last);
typedef wsrep_cb_status_t (*wsrep_apply_cb_t)(void *recv_ctx, const wsrep_ws_handle_t *ws_handle,
                                             uint32_t flags, const wsrep_buf_t *data,
                                             const wsrep_trx_meta_t *meta,
                                             wsrep_bool_t *exit_loop);
typedef wsrep_cb_status_t (*wsrep_unordered_cb_t)(void *recv_ctx, const wsrep_buf_t *data);
typedef wsrep_cb_status_t (*wsrep_sst_donate_cb_t)(void *app_ctx, void *recv_ctx,
                                                  const wsrep_buf_t *str_msg,
                                                  const wsrep_gtid_t *state_id,
                                                  const wsrep_buf_t *state, wsrep_bool_t bypass);
typedef wsrep_cb_status_t (*wsrep_synced_cb_t)(void *app_ctx);

#define WSREP_STATE_TRANSFER_TRIVIAL "trivial"
#define WSREP_STATE_TRANSFER_NONE "none"

struct wsrep_init_args {
    void *app_ctx;
    const char *node_name;
    const char *node_address;
    const char *node_incoming;
    const char *data_dir;
    const char *options;
    int proto_ver;
    const wsrep_gtid_t *state_id;
    const wsrep_buf_t *state;
    wsrep_log_cb_t logger_cb;
    wsrep_connected_cb_t connected_cb;
    wsrep_view_cb_t view_cb;
    wsrep_sst_request_cb_t sst_request_cb;
    wsrep_encrypt_cb_t encrypt_cb;
    wsrep_apply_cb_t apply_cb;
    wsrep_unordered_cb_t unordered_cb;
    wsrep_sst_donate_cb_t sst_donate_cb;
    wsrep_synced_cb_t synced_cb;
};

/* ---- the provider handle ---- */
typedef struct wsrep_st wsrep_t;

struct wsrep_st {
    const char *version; /* WSREP_INTERFACE_VERSION */

    wsrep_status_t (*init)(wsrep_t *, const struct wsrep_init_args *args);
    wsrep_cap_t (*capabilities)(wsrep_t *);
    wsrep_status_t (*options_set)(wsrep_t *, const char *conf);
    char *(*options_get)(wsrep_t *); /* malloc'ed; the host frees it */
    wsrep_status_t (*enc_set_key)(wsrep_t *, const wsrep_enc_key_t *key);
    wsrep_status_t (*connect)(wsrep_t *, const char *cluster_name, const char *cluster_url,
                              const char *state_donor, wsrep_bool_t bootstrap);
    wsrep_status_t (*disconnect)(wsrep_t *);
    wsrep_status_t (*recv)(wsrep_t *, void *recv_ctx);
    wsrep_status_t (*assign_read_view)(wsrep_t *, wsrep_ws_handle_t *handle,
                                       const wsrep_gtid_t *rv);
    wsrep_status_t (*certify)(wsrep_t *, wsrep_conn_id_t conn_id, wsrep_ws_handle_t *ws_handle,
                              uint32_t flags, wsrep_trx_meta_t *meta);
    wsrep_status_t (*commit_order_enter)(wsrep_t *, const wsrep_ws_handle_t *ws_handle,
                                         const wsrep_trx_meta_t *meta);
    wsrep_status_t (*commit_order_leave)(wsrep_t *, const wsrep_ws_handle_t *ws_handle,
                                         const wsrep_trx_meta_t *meta, const wsrep_buf_t *error);
    wsrep_status_t (*release)(wsrep_t *, wsrep_ws_handle_t *ws_handle);
    wsrep_status_t (*replay_trx)(wsrep_t *, const wsrep_ws_handle_t *ws_handle, void *trx_ctx);
    wsrep_status_t (*abort_certification)(wsrep_t *, wsrep_seqno_t bf_seqno,
                                          wsrep_trx_id_t victim_trx,
                                          wsrep_seqno_t *victim_seqno);
    wsrep_status_t (*rollback)(wsrep_t *, wsrep_trx_id_t trx, const wsrep_buf_t *data);
    wsrep_status_t (*append_key)(wsrep_t *, wsrep_ws_handle_t *ws_handle, const wsrep_key_t *keys,
                                 size_t count, enum wsrep_key_type type, wsrep_bool_t copy);
    wsrep_status_t (*append_data)(wsrep_t *, wsrep_ws_handle_t *ws_handle,
                                  const wsrep_buf_t *data, size_t count,
                                  enum wsrep_data_type type, wsrep_bool_t copy);
    wsrep_status_t (*sync_wait)(wsrep_t *, wsrep_gtid_t *upto, int tout, wsrep_gtid_t *gtid);
    wsrep_status_t (*last_committed_id)(wsrep_t *, wsrep_gtid_t *gtid);
    wsrep_status_t (*free_connection)(wsrep_t *, wsrep_conn_id_t conn_id);
    wsrep_status_t (*to_execute_start)(wsrep_t *, wsrep_conn_id_t conn_id, const wsrep_key_t *keys,
                                       size_t keys_num, const wsrep_buf_t *action, size_t count,
                                       uint32_t flags, wsrep_trx_meta_t *meta);
    wsrep_status_t (*to_execute_end)(wsrep_t *, wsrep_conn_id_t conn_id, const wsrep_buf_t *error);
    wsrep_status_t (*preordered_collect)(wsrep_t *, wsrep_po_handle_t *handle,
                                         const wsrep_buf_t *data, size_t count, wsrep_bool_t copy);
    wsrep_status_t (*preordered_commit)(wsrep_t *, wsrep_po_handle_t *handle,
                                        const wsrep_uuid_t *source_id, uint32_t flags,
                                        int pa_range, wsrep_bool_t commit);
    wsrep_status_t (*sst_sent)(wsrep_t *, const wsrep_gtid_t *state_id, int rcode);
    wsrep_status_t (*sst_received)(wsrep_t *, const wsrep_gtid_t *state_id,
                                   const wsrep_buf_t *state, int rcode);
    wsrep_status_t (*snapshot)(wsrep_t *, const wsrep_buf_t *msg, const char *donor_spec);
    struct wsrep_stats_var *(*stats_get)(wsrep_t *);
    void (*stats_free)(wsrep_t *, struct wsrep_stats_var *var_array);
    void (*stats_reset)(wsrep_t *);
    wsrep_seqno_t (*pause)(wsrep_t *);
    wsrep_status_t (*resume)(wsrep_t *);
    wsrep_status_t (*desync)(wsrep_t *);
    wsrep_status_t (*resync)(wsrep_t *);
    wsrep_status_t (*lock)(wsrep_t *, const char *name, wsrep_bool_t shared, uint64_t owner,
                           int64_t tout);
    wsrep_status_t (*unlock)(wsrep_t *, const char *name, uint64_t owner);
    wsrep_bool_t (*is_locked)(wsrep_t *, const char *name, uint64_t *conn, wsrep_uuid_t *node);

    const char *provider_name;
    const char *provider_version;
    const char *provider_vendor;

    void (*free)(wsrep_t *); /* called twice by wsrep-lib: must be idempotent */
    void *dlh;               /* set by the host's loader */
    void *ctx;               /* provider-private */
};

typedef int (*wsrep_loader_fun)(wsrep_t *);

/* ---- optional entry points the host looks up by name ---- */
typedef struct wsrep_seq_cb {
    void *ctx;
    void (*fn)(void *ctx);
} wsrep_seq_cb_t;

typedef wsrep_status_t (*wsrep_certify_fn_v1)(wsrep_t *, wsrep_conn_id_t, wsrep_ws_handle_t *,
                                             uint32_t flags, wsrep_trx_meta_t *,
                                             const wsrep_seq_cb_t *seq_cb);

/* allowlist service v1: MariaDB 10.11 refuses a provider that does not take it */
typedef struct wsrep_allowlist_context wsrep_allowlist_context_t;
typedef enum {
    WSREP_ALLOWLIST_KEY_IP = 0,
    WSREP_ALLOWLIST_KEY_SSL
} wsrep_allowlist_key_t;
typedef wsrep_status_t (*wsrep_allowlist_cb_t)(wsrep_allowlist_context_t *,
                                              wsrep_allowlist_key_t key,
                                              const wsrep_buf_t *value);
typedef struct wsrep_allowlist_service_v1_st {
    wsrep_allowlist_cb_t allowlist_cb;
    wsrep_allowlist_context_t *context;
} wsrep_allowlist_service_v1_t;

/* node isolation (called from the host's fatal-signal handler) */
enum wsrep_node_isolation_mode {
    WSREP_NODE_ISOLATION_NOT_ISOLATED = 0,
    WSREP_NODE_ISOLATION_ISOLATED,
    WSREP_NODE_ISOLATION_FORCE_DISCONNECT
};
enum wsrep_node_isolation_result {
    WSREP_NODE_ISOLATION_SUCCESS = 0,
    WSREP_NODE_ISOLATION_INVALID_VALUE
};

/* ---- the layout MariaDB 10.11 was compiled against (x86-64 / LP64) ---- */
#if defined(__x86_64__) || defined(__aarch64__)
#define WSREP_ABI_ASSERT(c, m) _Static_assert(c, m)
WSREP_ABI_ASSERT(sizeof(wsrep_bool_t) == 1, "wsrep_bool_t is one byte");
WSREP_ABI_ASSERT(sizeof(wsrep_uuid_t) == 16 && _Alignof(wsrep_uuid_t) == 8, "uuid");
WSREP_ABI_ASSERT(sizeof(wsrep_gtid_t) == 24, "gtid");
WSREP_ABI_ASSERT(sizeof(wsrep_stid_t) == 32, "stid");
WSREP_ABI_ASSERT(sizeof(wsrep_trx_meta_t) == 64, "trx_meta");
WSREP_ABI_ASSERT(offsetof(wsrep_trx_meta_t, stid) == 24, "trx_meta.stid");
WSREP_ABI_ASSERT(offsetof(wsrep_trx_meta_t, depends_on) == 56, "trx_meta.depends_on");
WSREP_ABI_ASSERT(sizeof(wsrep_buf_t) == 16, "buf");
WSREP_ABI_ASSERT(sizeof(wsrep_ws_handle_t) == 16, "ws_handle");
WSREP_ABI_ASSERT(sizeof(wsrep_key_t) == 16, "key");
WSREP_ABI_ASSERT(sizeof(wsrep_member_info_t) == 304, "member_info");
WSREP_ABI_ASSERT(offsetof(wsrep_member_info_t, name) == 16, "member_info.name");
WSREP_ABI_ASSERT(offsetof(wsrep_member_info_t, incoming) == 48, "member_info.incoming");
WSREP_ABI_ASSERT(sizeof(wsrep_view_info_t) == 360, "view_info with one member");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, view) == 24, "view_info.view");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, status) == 32, "view_info.status");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, capabilities) == 36, "view_info.capabilities");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, my_idx) == 40, "view_info.my_idx");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, memb_num) == 44, "view_info.memb_num");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, proto_ver) == 48, "view_info.proto_ver");
WSREP_ABI_ASSERT(offsetof(wsrep_view_info_t, members) == 56, "view_info.members");
WSREP_ABI_ASSERT(sizeof(struct wsrep_stats_var) == 24, "stats_var");
WSREP_ABI_ASSERT(offsetof(struct wsrep_stats_var, type) == 8, "stats_var.type");
WSREP_ABI_ASSERT(offsetof(struct wsrep_stats_var, value) == 16, "stats_var.value");
WSREP_ABI_ASSERT(sizeof(wsrep_enc_ctx_t) == 24, "enc_ctx");
WSREP_ABI_ASSERT(sizeof(wsrep_po_handle_t) == 8, "po_handle");
WSREP_ABI_ASSERT(sizeof(struct wsrep_init_args) == 144, "init_args");
WSREP_ABI_ASSERT(offsetof(struct wsrep_init_args, proto_ver) == 48, "init_args.proto_ver");
WSREP_ABI_ASSERT(offsetof(struct wsrep_init_args, state_id) == 56, "init_args.state_id");
WSREP_ABI_ASSERT(offsetof(struct wsrep_init_args, logger_cb) == 72, "init_args.logger_cb");
WSREP_ABI_ASSERT(offsetof(struct wsrep_init_args, apply_cb) == 112, "init_args.apply_cb");
WSREP_ABI_ASSERT(offsetof(struct wsrep_init_args, synced_cb) == 136, "init_args.synced_cb");
WSREP_ABI_ASSERT(sizeof(wsrep_t) == 360, "wsrep_t is 45 pointer slots");
WSREP_ABI_ASSERT(offsetof(wsrep_t, init) == 8, "wsrep_t.init");
WSREP_ABI_ASSERT(offsetof(wsrep_t, recv) == 64, "wsrep_t.recv");
WSREP_ABI_ASSERT(offsetof(wsrep_t, certify) == 80, "wsrep_t.certify");
WSREP_ABI_ASSERT(offsetof(wsrep_t, append_key) == 136, "wsrep_t.append_key");
WSREP_ABI_ASSERT(offsetof(wsrep_t, sync_wait) == 152, "wsrep_t.sync_wait");
WSREP_ABI_ASSERT(offsetof(wsrep_t, to_execute_start) == 176, "wsrep_t.to_execute_start");
WSREP_ABI_ASSERT(offsetof(wsrep_t, sst_sent) == 208, "wsrep_t.sst_sent");
WSREP_ABI_ASSERT(offsetof(wsrep_t, stats_get) == 232, "wsrep_t.stats_get");
WSREP_ABI_ASSERT(offsetof(wsrep_t, pause) == 256, "wsrep_t.pause");
WSREP_ABI_ASSERT(offsetof(wsrep_t, lock) == 288, "wsrep_t.lock");
WSREP_ABI_ASSERT(offsetof(wsrep_t, provider_name) == 312, "wsrep_t.provider_name");
WSREP_ABI_ASSERT(offsetof(wsrep_t, free) == 336, "wsrep_t.free");
WSREP_ABI_ASSERT(offsetof(wsrep_t, dlh) == 344, "wsrep_t.dlh");
WSREP_ABI_ASSERT(offsetof(wsrep_t, ctx) == 352, "wsrep_t.ctx");
WSREP_ABI_ASSERT(sizeof(wsrep_allowlist_service_v1_t) == 16, "allowlist service");
#endif

#ifdef __cplusplus
}
#endif
#endif
