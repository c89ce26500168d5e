/* replicator/repl_node_impl.h: the driver's state: the threads and tables around the pure core
 * (repl_core), shared by the repl_*.c files of the node. Nothing outside replicator/ includes it. */
#ifndef REPL_NODE_IMPL_H
#define REPL_NODE_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "certification/cert_index.h"
#include "common/tr_buf.h"
#include "common/tr_cfg.h"
#include "common/tr_time.h"
#include "common/tr_tls.h"
#include "replicator/repl_applyq.h"
#include "replicator/repl_core.h"
#include "replicator/repl_group.h"
#include "replicator/repl_rollbacks.h"
#include "replicator/repl_monitor.h"
#include "replicator/repl_msg.h"
#include "replicator/repl_node.h"

#define REPL_HASH 1024

/* Life of a local transaction as the provider sees it. */
enum repl_trx_state {
    TRX_EXECUTING = 0, /* collecting keys and data */
    TRX_REPLICATING,   /* broadcast, waiting for its place in the total order */
    TRX_CERTIFIED,     /* ordered and certified, inside the apply window */
    TRX_CERT_FAILED,   /* ordered, lost certification (or was aborted before ordering) */
    TRX_MUST_REPLAY,   /* ordered and certified, then BF-aborted: must be re-applied */
    TRX_COMMITTED,
};

/* What a wsrep handle's opaque points at: a local transaction or TOI (repl_trx), or another
 * node's write-set an applier is applying (repl_job). The monitors' bookkeeping is common. */
enum repl_handle_kind { REPL_H_TRX = 0x7472, REPL_H_TOI = 0x746f, REPL_H_JOB = 0x6a62 };
struct repl_handle {
    int kind;
    bool apply_entered, apply_done;
    bool commit_entered, commit_done;
};

/* A prefix key already in the key set: where its encoded bytes are (repl_trx.c). */
struct repl_prefix {
    size_t off, len;
};
#define REPL_TRX_PREFIXES 32

struct repl_trx {
    struct repl_handle h; /* first: ws_handle.opaque points at this */
    uint64_t trx_id;
    uint64_t conn_id;
    uint64_t local_id; /* the core's id for the broadcast in flight */
    enum repl_trx_state state;
    bool must_abort; /* BF-aborted before it was ordered */
    bool in_table;   /* listed in by_trx / toi_by_conn */
    bool in_flight;  /* listed in by_local */
    bool ordered;
    bool cert_ok;
    bool replaying;
    bool lost; /* its write-set will never be ordered here */
    bool rolled_back; /* rollback() sent its streaming rollback fragment: release ends it */
    uint32_t flags;
    int64_t seqno;
    tr_uuid group; /* the history seqno belongs to */
    int64_t depends_on;
    int64_t last_seen; /* committed position when it was broadcast (certification window) */
    uint32_t nkeys;
    struct tr_buf keys;
    struct repl_prefix prefix[REPL_TRX_PREFIXES];
    int nprefix;
    struct tr_buf prefix_buf; /* scratch: one prefix key being encoded */
    struct tr_buf data;
    pthread_cond_t cond; /* signalled when ordered or lost; waits on node->mu */
    struct repl_trx *next_trx, *next_local;
};

/* Another node's write-set on an applier: the job and the monitors it passed. */
struct repl_job {
    struct repl_handle h; /* first: the apply callback's handle points at this */
    struct repl_act act;
};

struct repl_lock_ent { /* one holder of a named lock */
    char *name;
    uint64_t owner;
    bool shared;
    struct repl_lock_ent *next;
};

/* A sync_wait() waiting for its CAUSAL marker to come back through the total order. */
struct repl_causal_wait {
    uint64_t id;
    bool done;
    bool lost; /* its marker was dropped with a view that ended: send another */
    int64_t seqno; /* last seqno ordered before the marker */
    pthread_cond_t cond;
    struct repl_causal_wait *next;
};

/* Locks, in the order they are taken: save_mu, then mu, then a monitor's mutex, then a
 * trx's cond (no lock of its own); lock_mu stands alone; gcomm's locks are never taken while
 * holding mu (group operations run on the service thread or outside mu). */
struct repl_node {
    /* set at init, read-only afterwards */
    struct repl_host host;
    tr_cfg *cfg;
    char name[REPL_NAME_LEN];
    char address[256];
    char incoming[REPL_INCOMING_LEN];
    char data_dir[PATH_MAX];
    int proto_ver;
    tr_gtid init_state; /* what the host told init() */
    struct repl_group *(*group_factory)(const struct repl_group_args *args, void *ctx);
    void *group_ctx;
    bool (*allow_peer)(void *ctx, const char *addr); /* repl_init_args.allow_peer */
    void *allow_ctx;
    struct repl_group *group; /* created at the first connect */

    pthread_mutex_t mu; /* guards everything down to `ist_thr` */
    pthread_cond_t w_cond; /* writers and waiters for state changes (monotonic clock) */
    struct repl_core *core;
    struct repl_gcache *gcache; /* the on-disk write-set store the core writes (its own mutex) */
    struct repl_acts scratch;  /* the last step's actions, routed at once */
    struct repl_applyq q;      /* ordered actions for the appliers */
    struct repl_act *outbox;   /* actions for the service thread, in order */
    size_t outbox_n, outbox_cap;
    uint64_t outbox_in, outbox_out; /* actions pushed, and run by the service thread */
    pthread_cond_t outbox_cond;     /* outbox_out moved (repl_driver_flush) */
    pthread_cond_t svc_cond;
    bool svc_stop, svc_running;
    pthread_t svc;
    bool broken;      /* a step's actions could not be routed: leaving, monitors closed */
    int donates;      /* DONATE actions queued or running: the apply monitor holds for the
                       * first (repl_drive_locked, donate) */
    bool fc_pending, fc_busy, fc_told; /* flow control: the core's wish changed; one thread
                                        * at a time tells the group; what it was last told */
    bool connected;   /* between connect() and the final view */
    bool leave_sent;  /* the group was asked to let us go (once per connection) */
    bool final_done;  /* final view delivered: recv() returns */
    bool group_closed; /* the group delivers nothing more (REPL_EV_CLOSED stepped) */
    bool sst_abort;    /* trireme.sst_abort, read at connect */
    bool terminating;  /* a failed joiner ends the host process (repl_driver.c, terminate_host) */
    tr_uuid self;
    struct repl_trx *by_trx[REPL_HASH];
    struct repl_trx *by_local[REPL_HASH];
    struct repl_trx *toi_by_conn[REPL_HASH];
    struct repl_causal_wait *causal_waits;
    struct repl_rollbacks rollbacks; /* own rollback fragments not ordered yet (resent if lost) */
    bool rb_resend;                  /* svc thread: send the lost ones again */
    int pause_count;
    int64_t pause_upto; /* paused at: own write-sets ordered after it wait for resume() */
    struct tr_tls_opts ist_tls; /* socket.ssl* as gcomm has them (cluster address included): set
                                 * at connect (repl_ist_configure); IST uses TLS when enabled */
    int ist_threads; /* IST sender and receiver threads not finished yet */
    struct repl_ist_thr *ist_thr; /* IST threads started and not joined yet (repl_ist.c) */
    /* a joiner's IST receiver, too far ahead of its appliers, sleeps on ist_cond until an
     * applier takes ist_wake_at (-1: nobody waits); guarded by mu */
    int64_t ist_wake_at;
    pthread_cond_t ist_cond;

    struct repl_monitor *apply_mon; /* last_left = fully committed */
    struct repl_monitor *commit_mon;
    _Atomic int64_t notify_at; /* the core wants REPL_EV_COMMITTED once last_left reaches it */

    pthread_mutex_t save_mu; /* grastate.dat writes, one at a time; guards last_view */
    struct repl_core_last_view last_view; /* written into grastate.dat with the position */
    /* the last "running" mark (seqno -1) could not be written: the file may hold an older
     * state, so no clean position is written over it until a mark is (guarded by save_mu) */
    bool state_unsafe;
    pthread_mutex_t lock_mu;
    pthread_cond_t lock_cond;
    struct repl_lock_ent *locks;

    /* settings read on hot paths; updated by options_set */
    _Atomic int64_t causal_read_timeout_ns;
    _Atomic int64_t max_ws_size;

    /* counters (atomic: bumped outside mu) */
    _Atomic int64_t st_replicated, st_replicated_bytes, st_repl_keys, st_repl_keys_bytes,
        st_repl_data_bytes, st_repl_other_bytes, st_received, st_received_bytes, st_local_commits,
        st_local_cert_failures, st_local_replays, st_local_bf_aborts, st_causal_reads;
    /* broadcast-to-ordered latency in seconds (evs_repl_latency), under mu */
    double lat_min, lat_max, lat_sum, lat_sumsq;
    int64_t lat_n;
    /* marks taken at the last stats_reset (FLUSH STATUS), under mu: flow_control_paused counts
     * from fc_reset_ns, flow_control_sent/recv and the certification averages from the marks */
    int64_t fc_reset_ns, fc_reset_paused_ns, fc_mark_sent, fc_mark_recv;
    struct cert_stats cert_mark;
    int gmcast_segment;
    bool freed;
};

/* repl_driver.c: the core's driver. Steps ev under mu (held) and routes the actions; returns
 * the step's status. The service thread runs what must happen outside mu. */
int repl_drive_locked(struct repl_node *n, struct repl_ev *ev);
/* seqno failed to apply here (remote: another node's write-set, not this node's own TOI): asks
 * the group, and returns once it has decided: REPL_OK, or REPL_NODE_FAIL when this node is the
 * odd one (it is leaving). The caller still holds the commit order. */
int repl_driver_apply_failed(struct repl_node *n, int64_t seqno, bool remote, const void *err,
                             size_t len);
int repl_drive(struct repl_node *n, struct repl_ev *ev); /* takes mu itself */
/* Tells the group what the core now wants from flow control; call after releasing mu when a
 * repl_drive_locked may have changed it. */
void repl_driver_fc(struct repl_node *n);
void repl_driver_sink(void *ctx, struct repl_gev *ev);  /* the group delivers here */
int repl_driver_start(struct repl_node *n);              /* the service thread */
void repl_driver_stop(struct repl_node *n);
/* Waits (at most timeout_ns) until the service thread has run every action pushed so far: for
 * a host that may end its process as soon as the call returns. mu not held. */
void repl_driver_flush(struct repl_node *n, int64_t timeout_ns);
/* A seqno left the apply monitor and last_left is now `left`: tell the core when it asked. */
void repl_driver_committed(struct repl_node *n, int64_t left);
/* Applies another node's write-set (the job) on this applier thread; frees it. */
int repl_driver_apply(struct repl_node *n, void *recv_ctx, struct repl_job *job, bool *exit_loop);

/* repl_trx.c */
struct repl_trx *repl_trx_find_locked(struct repl_node *n, uint64_t trx_id);
void repl_trx_ordered_locked(struct repl_node *n, const struct repl_act *a);
void repl_trx_lost_locked(struct repl_node *n, uint64_t local_id);
/* Encodes and broadcasts a rollback fragment (not under mu). REPL_OK or REPL_TRX_FAIL. */
int repl_rollback_send(struct repl_node *n, uint64_t trx_id, uint64_t conn_id, const void *d,
                       size_t dlen);
void repl_trx_wake_all_locked(struct repl_node *n);
/* Waits (mu held) while a view change re-forms the primary component, at most 30 s: a commit
 * or causal read that arrives then is delayed, not failed (Galera's writers wait the same
 * way). epoch: UINT64_MAX, or the view_epoch a broadcast failed in (-ENOTCONN: wait for the
 * next view). true when writable now. */
bool repl_wait_writable_locked(struct repl_node *n, uint64_t epoch);
void repl_trx_free_all(struct repl_node *n);

/* repl_sync.c */
void repl_sync_causal_locked(struct repl_node *n, uint64_t id, int64_t seqno, bool lost);
void repl_sync_wake_all_locked(struct repl_node *n);

/* repl_ist.c: the transport of incremental state transfer (threads; the core decides). */
int repl_ist_start_receiver(struct repl_node *n, const struct repl_act *a);
int repl_ist_start_sender(struct repl_node *n, struct repl_act *a); /* takes the references */
void repl_ist_wait_threads(struct repl_node *n);
/* At connect: reads the TLS settings IST uses (socket.ssl*, as gcomm reads them, options in the
 * cluster address url included) and checks that a TLS context can be made from them; 0, or -1
 * with err (the node must not connect: IST is never sent or taken in plaintext instead). */
int repl_ist_configure(struct repl_node *n, const char *url, char *err, size_t errlen);
/* Where this node receives IST (repl_options_ist_recv_addr), ssl:// when IST runs TLS; mu held.
 * 0, or -1 when it cannot be derived. */
int repl_ist_recv_addr(struct repl_node *n, char *buf, size_t len);

/* repl_node.c */
/* running: seqno -1 (a crash must not look like a clean stop); else the committed position,
 * unless the last running mark failed (then seqno -1 again). 0, or -1 logged. */
int repl_node_save_state(struct repl_node *n, const tr_uuid *group, bool running,
                         bool safe_to_bootstrap);
/* the same with a clean position the caller knows (at >= 0) instead of the apply monitor's:
 * after a break the monitor may claim seqnos that were cancelled, not committed */
int repl_node_save_state_at(struct repl_node *n, const tr_uuid *group, bool running, int64_t at,
                            bool safe_to_bootstrap);

static inline size_t repl_hash(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (size_t)(v & (REPL_HASH - 1));
}

#endif
