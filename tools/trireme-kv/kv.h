/* tools/trireme-kv/kv.h: the types every trireme-kv file shares (run config, node state,
 * applier/replay contexts) and the entry points of each concept file. */
#ifndef TRIREME_KV_H
#define TRIREME_KV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsrep/wsrep_api.h"

/* ---- command line ---- */
struct kv_config {
    const char *provider;
    const char *options;
    const char *cluster_address;
    const char *cluster_name;
    const char *name;
    const char *data_dir;
    const char *address;
    bool bootstrap;
    long ops;
    long keys;
    int threads;
    int value_size;
    int appliers;
    int toi;
    bool checksum;
    bool keep_table;   /* --keep-table: the table is saved with the position and loaded at start */
    double hold;
    bool stats;
    bool stats_start;        /* --stats-start: the status variables once more, before the work */
    bool stats_reset;        /* --stats-reset: and after stats_reset(), at the end */
    int apply_delay_ms;      /* --apply-delay-ms: a slow applier (flow control engages) */
    bool sync_wait;
    bool quiet;
    bool api_check;
    enum wsrep_key_type key_type;
    int sync_timeout;  /* seconds to wait for synced / catch-up */
    uint64_t seed;
    const char *sst_request; /* NULL: "trivial" */
    bool sst_kv;             /* --sst-method kv: real table transfer over loopback */
    int members;             /* wait for this many in the primary view; barrier at the end */
    bool bf_abort;           /* appliers BF-abort local holders of the rows they apply */
    double avail;            /* --avail SECONDS: write for that long through failures (avail.c) */
};

/* ---- the in-memory table (table.c) ---- */
struct kv_table;
struct kv_table *kv_table_new(size_t expected);
void kv_table_free(struct kv_table *t);
/* Copies the current value into buf (up to cap bytes); returns its length or -1 if absent. */
long kv_table_get(struct kv_table *t, const char *key, size_t klen, void *buf, size_t cap);
void kv_table_put(struct kv_table *t, const char *key, size_t klen, const void *val, size_t vlen);
/* Adds delta to the 8-byte little-endian counter stored at key (absent = 0). */
void kv_table_incr(struct kv_table *t, const char *key, size_t klen, uint64_t delta);
uint64_t kv_table_checksum(struct kv_table *t, size_t *count);
/* State-transfer snapshot of every row (malloc'ed; (size_t)-1 on failure) and its loader. */
size_t kv_table_dump(struct kv_table *t, void **out);
int kv_table_load(struct kv_table *t, const void *data, size_t len);

/* ---- write-set payload (codec.c) ---- */
enum kv_op_type { KV_OP_PUT = 1, KV_OP_INCR = 2 };
struct kv_op {
    enum kv_op_type type;
    const char *key;
    size_t klen;
    const void *val; /* PUT: value bytes; INCR: 8-byte little-endian delta */
    size_t vlen;
};
/* Encodes ops into a malloc'ed buffer; returns its length (0 on allocation failure). */
size_t kv_codec_encode(const struct kv_op *ops, size_t n, void **out);
/* Walks an encoded buffer, calling fn per op; returns number of ops or -1 if malformed. */
long kv_codec_decode(const void *buf, size_t len,
                     void (*fn)(void *arg, const struct kv_op *op), void *arg);
/* Applies every op of an encoded buffer to t; -1 if malformed. */
long kv_codec_apply(struct kv_table *t, const void *buf, size_t len);

/* ---- contexts handed to recv() and replay_trx(): apply_cb/view_cb check them ---- */
#define KV_CTX_APPLIER 0x4b564150u /* "KVAP" */
#define KV_CTX_REPLAY 0x4b565250u  /* "KVRP" */
struct kv_node;
struct kv_ctx {
    uint32_t magic;
    int index;
    struct kv_node *node;
    /* KV_CTX_REPLAY only: the replaying transaction's own handle. As in wsrep-lib
     * (prepare_for_ordering() keeps ws_handle_ while replaying), commit order during a replay
     * is entered with it, not with the handle apply_cb receives. */
    const wsrep_ws_handle_t *replay_ws;
};

struct kv_applier {
    struct kv_ctx ctx;
    pthread_t thread;
    pthread_t self; /* written by the applier itself before recv(), so view_cb can compare */
    wsrep_status_t rc;
};

/* ---- views seen (callbacks.c records, main prints) ---- */
#define KV_MAX_VIEWS 64
struct kv_view_rec {
    wsrep_view_status_t status;
    int memb_num;
    int my_idx;
    wsrep_seqno_t view;
    wsrep_seqno_t seqno;
};

/* ---- node state: one per process ---- */
struct kv_node {
    struct kv_config cfg;
    wsrep_t *w;
    void *dlh;
    bool allowlist_inited;
    struct kv_table *table;

    pthread_mutex_t mu; /* guards the fields below up to the atomics */
    pthread_cond_t cond;
    int synced;          /* synced_cb calls so far */
    int connected;       /* connected_cb calls so far */
    struct kv_view_rec views[KV_MAX_VIEWS];
    int nviews;          /* total views (records keep the first KV_MAX_VIEWS) */
    bool primary;        /* last view was primary */
    int view_size;       /* members in the last view */
    int connected_idx;   /* my_idx in the connected_cb view */
    bool disconnecting;  /* disconnect() called: recv() may return now */
    pthread_t donors[8]; /* state-transfer threads (donor and joiner) to join at teardown */
    int ndonors;

    struct kv_applier *appliers;
    int nappliers;
    bool wedged; /* an applier never left recv(): skip unload, exit without cleanup */

    atomic_llong max_seqno;  /* highest seqno seen anywhere (certify, apply, TOI, view) */
    atomic_long applied;     /* remote write-sets applied */
    atomic_long applied_toi; /* remote TOI actions applied */
    atomic_long applied_dummy; /* remote cert-failed write-sets (ROLLBACK) passed in order */
    atomic_long replays;
    atomic_long conflicts;     /* retried transactions: certification failures, BF aborts */
    atomic_long cert_failures; /* certify() or replay_trx() said WSREP_TRX_FAIL: a certification
                                * failure, or a BF abort before replication */
    atomic_long errors;
    atomic_long api_failures;
    atomic_long bf_aborts;    /* abort_certification() -> OK */
    atomic_long bf_declined;  /* abort_certification() -> NOT_ALLOWED / TRX_MISSING */
    struct kv_inflight *inflight; /* one slot per client thread (bfabort.c) */
    int ninflight;
    atomic_ullong barrier_sum;  /* checksum at the seqno where the end barrier completed */
    atomic_llong barrier_seqno;
    atomic_ullong barrier_chain; /* the commit chain there */

    /* commits.c: every commit in commit order (local, applied, replayed, TOI) */
    pthread_mutex_t commit_mu;
    uint64_t chain;            /* rolling hash of (seqno, write-set) in commit order */
    wsrep_seqno_t chain_seqno; /* the last seqno committed */
    long commits;              /* commits this node made (a joiner's snapshot not counted) */
    atomic_long order_errors;  /* commits whose seqno was not above the previous one */

    /* avail.c: --avail runs count refusals while the node is not primary, not errors */
    atomic_long unavailable;
    double last_commit_ms, max_gap_ms, max_gap_at_ms; /* under commit_mu */
};

/* ---- commits.c ---- */
void kv_commit_init(struct kv_node *n);
/* Inside commit order: the write-set payload at seqno is committed here. */
void kv_commit_note(struct kv_node *n, wsrep_seqno_t seqno, const void *payload, size_t len);
void kv_commit_get(struct kv_node *n, uint64_t *chain, wsrep_seqno_t *seqno);
void kv_commit_set(struct kv_node *n, uint64_t chain, wsrep_seqno_t seqno);

/* ---- loader.c ---- */
int kv_provider_load(struct kv_node *n);
void kv_provider_unload(struct kv_node *n);

/* ---- callbacks.c ---- */
void kv_callbacks_fill(struct kv_node *n, struct wsrep_init_args *args);
void kv_note_seqno(struct kv_node *n, wsrep_seqno_t s);
void kv_log_quiet(bool quiet);

/* ---- node.c: init, connect, appliers, teardown ---- */
int kv_node_start(struct kv_node *n);
int kv_node_wait_synced(struct kv_node *n, int min_synced, int timeout_s);
int kv_node_wait_members(struct kv_node *n, int members, int timeout_s);
int kv_node_catch_up(struct kv_node *n, int members, wsrep_gtid_t *last);
void kv_node_stop(struct kv_node *n);

/* ---- gtid.c ---- */
void kv_gtid_print(const wsrep_gtid_t *g, char *buf, size_t len);
int kv_gtid_scan(const char *s, wsrep_gtid_t *g);
bool kv_uuid_is_nil(const wsrep_uuid_t *u);
const char *kv_status_str(wsrep_status_t s);

/* ---- latency.c ---- */
struct kv_lat {
    double *ms;
    size_t n, cap;
};
void kv_lat_add(struct kv_lat *l, double ms);
void kv_lat_merge(struct kv_lat *dst, const struct kv_lat *src);
double kv_lat_pct(struct kv_lat *l, double pct); /* sorts in place */
void kv_lat_free(struct kv_lat *l);
double kv_now_ms(void);

/* ---- workload.c ---- */
struct kv_result {
    long ops;
    double secs;
    double p50_ms, p99_ms;
    long reads;
    struct kv_lat lat; /* every commit's latency so far */
};
/* Runs ops transactions (split over the client threads); adds to res. */
int kv_workload_run(struct kv_node *n, long ops, struct kv_result *res);
/* --avail: the workload's clients write until the time is up, whatever the cluster does; a TICK
 * line every 100 ms (wall ms, commits, refusals, primary, view size) and the longest gap
 * between two commits at the end. */
int kv_avail_run(struct kv_node *n, struct kv_result *res);
/* A client's call failed with rc: true (and counted) when, in avail mode, that is the provider
 * refusing writes outside a primary component (CONN_FAIL, NODE_FAIL) rather than an error. */
bool kv_avail_refused(struct kv_node *n, wsrep_status_t rc);
/* A local commit at now_ms (avail mode): the gap since the previous one. */
void kv_avail_commit(struct kv_node *n, double now_ms);
/* The percentiles from what res collected; frees it. */
void kv_result_finish(struct kv_result *res);

/* ---- toi.c ---- */
int kv_toi_run(struct kv_node *n, int count);
int kv_start_barrier(struct kv_node *n, int members);
int kv_barrier(struct kv_node *n, int members);
int kv_leave_barrier(struct kv_node *n, int members);
void kv_barrier_note(struct kv_node *n, wsrep_seqno_t seqno);
extern const char KV_TOI_KEY[];
extern const char KV_DONE_KEY[];
extern const char KV_READY_KEY[];
extern const char KV_LEAVE_KEY[];

/* ---- bfabort.c ---- */
struct kv_inflight;
int kv_inflight_init(struct kv_node *n, int slots);
void kv_inflight_free(struct kv_node *n);
void kv_inflight_set(struct kv_node *n, int slot, const char *key, size_t klen,
                     wsrep_trx_id_t trx);
void kv_inflight_clear(struct kv_node *n, int slot);
bool kv_inflight_aborted(struct kv_node *n, int slot);
void kv_bf_check(struct kv_node *n, const wsrep_buf_t *data, wsrep_seqno_t bf_seqno);

/* ---- sst.c ---- */
int kv_sst_prepare(struct kv_node *n, char **req, size_t *len);
int kv_sst_donate(struct kv_node *n, const wsrep_buf_t *msg, const wsrep_gtid_t *state_id,
                  bool bypass);

/* ---- apicheck.c ---- */
int kv_api_check(struct kv_node *n);
int kv_api_precheck(struct kv_node *n);
/* Every status variable as PREFIXname=value lines. */
int kv_print_stats(struct kv_node *n, const char *prefix);
/* The provider's integer status variable `name` (e.g. "local_cert_failures"), -1 if absent. */
long long kv_stat_int(struct kv_node *n, const char *name);

/* key parts appended for every row: {"kv", table, key} */
extern const char KV_TABLE_NAME[];
void kv_key_parts(wsrep_buf_t parts[3], const char *key, size_t klen);

/* logging helpers (callbacks.c): prefix "[kv:<name>]" */
void kv_say(struct kv_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kv_err(struct kv_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
