/* replicator/repl_node_impl.h: the node's private state, shared by the repl_node*.c files.
 * Nothing outside replicator/ includes this. */
#ifndef REPL_NODE_IMPL_H
#define REPL_NODE_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "common/tr_buf.h"
#include "certification/cert_index.h"
#include "common/tr_cfg.h"
#include "replicator/repl_group.h"
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

/* REPL_H_JOB: another node's write-set being applied here. */
enum repl_handle_kind { REPL_H_TRX = 0x7472, REPL_H_TOI = 0x746f, REPL_H_JOB = 0x6a62 };

/* A prefix key already in the key set: where its encoded bytes are (repl_trx.c). */
struct repl_prefix {
    size_t off, len;
};
#define REPL_TRX_PREFIXES 32

struct repl_trx {
    int kind; /* REPL_H_TRX or REPL_H_TOI: ws_handle.opaque points at this */
    uint64_t trx_id;
    uint64_t conn_id;
    uint64_t local_id;
    enum repl_trx_state state;
    bool must_abort; /* BF-aborted before it was ordered */
    bool in_table;   /* listed in by_trx */
    bool in_flight;  /* listed in by_local */
    bool ordered;
    bool cert_ok;
    bool apply_entered, apply_done;
    bool commit_entered, commit_done;
    bool replaying;
    bool lost; /* its write-set was dropped by every member (delivered outside a primary) */
    uint32_t flags;
    int64_t seqno;
    int64_t depends_on;
    int64_t last_seen; /* committed position when it was broadcast (certification window) */
    uint32_t nkeys;
    struct tr_buf keys;
    struct repl_prefix prefix[REPL_TRX_PREFIXES];
    int nprefix;
    struct tr_buf prefix_buf; /* scratch: one prefix key being encoded */
    struct tr_buf data;
    struct cert_ws_view view; /* REPL_H_JOB: the received write-set (owns decompressed data) */
    pthread_cond_t cond; /* signalled when ordered; waits on node->mu */
    struct repl_trx *next_trx, *next_local;
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

/* An ordered action a joiner keeps until its state arrives (replication.md §6): a job to
 * apply, a view to deliver, or (neither) a seqno that needs no work. */
struct repl_held {
    int64_t seqno;
    struct repl_trx *job;
    struct repl_view *view;
    void *buf; /* the delivered bytes the job's view points into */
    struct repl_held *next;
};

/* PREPARE: the exchange made us a joiner, the host is asked how it receives state;
 * WAIT: STR sent, actions are ordered, certified and held until sst_received;
 * APPLY: state received at sst.seqno: held actions above it are applied, then SYNC. */
enum repl_sst_phase { REPL_SST_NONE = 0, REPL_SST_PREPARE, REPL_SST_WAIT, REPL_SST_APPLY };

struct repl_node {
    struct repl_host host;
    tr_cfg *cfg;
    char name[REPL_NAME_LEN];
    char address[256];
    char incoming[REPL_INCOMING_LEN];
    char data_dir[PATH_MAX];
    int proto_ver;
    tr_gtid init_state; /* what the host told init() */
    tr_uuid self;

    struct repl_group *group;
    struct repl_group *(*group_factory)(const struct repl_group_args *args, void *ctx);
    void *group_ctx;

    pthread_mutex_t mu; /* everything below unless marked otherwise */
    pthread_cond_t cond; /* queue, pause and state changes */
    struct repl_gev *q_head, *q_tail;
    int64_t q_len, q_len_max, q_len_min;
    double q_len_sum;
    uint64_t q_samples;
    bool connected;   /* between connect() and the final view */
    bool closing;     /* disconnect() called */
    bool final_done;  /* final view delivered: recv() returns */
    bool group_closed; /* the group delivers nothing more: waiters for ordering give up */
    bool must_leave;   /* certification broke here: leave instead of diverging */
    int pause_count;

    /* state exchange of the current primary view (docs/design/replication.md §2) */
    struct {
        bool active;
        int64_t conf_id;
        int memb_num, my_idx, got_num;
        struct repl_member *members;
        struct repl_msg_state *states;
        bool *got;
        struct repl_gev *defer_head, *defer_tail; /* other messages that came meanwhile */
    } exch;
    bool exch_done_prim; /* in a primary view whose exchange completed */
    /* state transfer (repl_sst.c), under mu */
    struct {
        enum repl_sst_phase phase;
        void *req; /* the host's request, kept for retries */
        size_t req_len;
        tr_uuid donor;   /* joiner: the member serving us */
        bool have_donor;
        int64_t seqno;   /* APPLY: the received state; held actions up to it are in it */
        struct repl_held *head, *tail;
        int64_t held_len;
        bool donating;   /* this node serves a joiner now */
        bool resend;     /* WAIT: the request went with a view that ended: send it again */
        /* IST (repl_ist.c): a running member that missed actions while partitioned */
        tr_uuid own_uuid; /* the history this node held when it became a joiner */
        int64_t own_seqno;
        int ist_fd;       /* listening, until the receiver thread takes it */
        int ist_running;  /* receiver threads not finished yet */
        int64_t ist_from, ist_to;  /* the seqnos to receive */
        struct repl_view *join_view; /* delivered after them */
        char ist_addr[REPL_INCOMING_LEN];
    } sst;
    struct repl_gcache *gcache; /* the last ordered actions (IST source), under mu */
    char sst_donors[REPL_STR_DONOR_MAX]; /* wsrep_sst_donor, from connect() */
    int64_t cert_floor; /* where this node's certification index starts (its join point) */
    uint64_t view_epoch; /* bumped at every view and completed exchange (writers wait on it) */
    bool ordering; /* the exchange of this primary view completed: actions take seqnos */
    struct repl_member *memb_info; /* members of the current primary view, in view order */
    uint8_t *memb_state;           /* their states as the group knows them (enum repl_state) */
    struct repl_causal_wait *causal_waits;
    uint64_t next_causal_id;
    struct repl_fail *fails;  /* seqnos that failed to apply here (repl_vote.c) */
    struct repl_vote *votes;  /* votes in progress */
#define REPL_VOTE_SENT 64
    int64_t vote_sent[REPL_VOTE_SENT]; /* the last seqnos this node voted on */
    unsigned vote_sent_next;
    struct cert_index *cert;
    int64_t *member_last;    /* LAST reports by member index of the current view */
    tr_uuid *view_members;   /* members of the current primary view, in view order */
    int64_t safe_seqno;      /* purge point: min of member_last */
    _Atomic int64_t commits_since_last;

    /* ordering state, advanced only while popping events (under mu) */
    tr_uuid group_uuid;
    int64_t last_seqno;
    bool primary;
    bool first_primary_seen;
    int64_t conf_id;
    int memb_num;
    char incoming_addresses[4096];
    enum repl_state state;
    int desync_count;
    bool safe_to_bootstrap;

    struct repl_trx *by_trx[REPL_HASH];
    struct repl_trx *by_local[REPL_HASH];
    struct repl_trx *toi_by_conn[REPL_HASH];
    uint64_t next_local_id;

    struct repl_monitor *apply_mon; /* last_left = fully committed */
    struct repl_monitor *commit_mon;

    pthread_mutex_t save_mu; /* grastate.dat writes */
    pthread_mutex_t lock_mu;
    pthread_cond_t lock_cond;
    struct repl_lock_ent *locks;

    /* flow control (replication.md §5), under mu: what this node wants and what the group
     * was last told; one thread at a time (fc_busy) tells it, outside mu */
    bool fc_requested, fc_told, fc_busy;
    int64_t fc_reset_ns, fc_reset_paused_ns; /* at the last stats_reset: for flow_control_paused */

    /* settings read on hot paths; updated by options_set */
    _Atomic int64_t causal_read_timeout_ns;
    _Atomic int64_t max_ws_size;
    _Atomic int64_t fc_limit;     /* gcs.fc_limit */
    _Atomic double fc_factor;     /* gcs.fc_factor */
    _Atomic bool fc_single_primary; /* gcs.fc_single_primary: the limit does not grow with members */

    /* counters (atomic: bumped outside mu) */
    _Atomic int64_t st_replicated, st_replicated_bytes, st_repl_keys, st_repl_keys_bytes,
        st_repl_data_bytes, st_repl_other_bytes, st_received, st_received_bytes, st_local_commits,
        st_local_cert_failures, st_local_replays, st_local_bf_aborts, st_causal_reads,
        st_fc_sent;
    /* broadcast-to-ordered latency in seconds (evs_repl_latency), under mu */
    double lat_min, lat_max, lat_sum, lat_sumsq;
    int64_t lat_n;
    int gmcast_segment;

    bool freed;
};

/* repl_trx.c */
struct repl_trx *repl_trx_find_locked(struct repl_node *n, uint64_t trx_id);
void repl_trx_order_locked(struct repl_node *n, struct repl_trx *t, int64_t seqno,
                           int64_t depends_on, bool cert_ok);
void repl_trx_abort_all_locked(struct repl_node *n);
/* A non-primary view: write-sets broadcast but not ordered will never be ordered here. */
void repl_trx_lose_in_flight_locked(struct repl_node *n);

/* repl_stream.c */
void repl_stream_sink(void *ctx, struct repl_gev *ev);
void repl_stream_applied(struct repl_node *n); /* a seqno left the apply monitor */
void repl_stream_free(struct repl_node *n);
/* Re-evaluates flow control (new limits; a desync should call it too) and tells the group.
 * mu not held. */
void repl_stream_fc_check(struct repl_node *n);

/* repl_trx.c: waits (mu held) while a view change re-forms the primary component, at most
 * 30 s: a commit or causal read that arrives then is delayed, not failed (Galera's writers wait
 * the same way). epoch: UINT64_MAX, or the view_epoch a broadcast failed in (-ENOTCONN: wait
 * for the next view). true when writable now. */
bool repl_wait_writable_locked(struct repl_node *n, uint64_t epoch);

/* repl_stream.c: the pieces the state transfer reuses */
void repl_stream_broadcast(struct repl_node *n, struct tr_buf *b); /* frees b */
/* buf: bytes the job's view points into, owned by the held item from now on */
void repl_stream_hold_locked(struct repl_node *n, int64_t seqno, struct repl_trx *job,
                             struct repl_view *view, void *buf);
void repl_stream_free_held_locked(struct repl_node *n);

/* repl_sst.c (replication.md §6). The _locked ones run in total order under mu and fill
 * *act with what must happen once mu is released (repl_sst_act). */
enum repl_sst_act_kind {
    REPL_SST_ACT_NONE = 0,
    REPL_SST_ACT_DONATE,     /* this node serves an SST: req, state */
    REPL_SST_ACT_RETRY,      /* this joiner found no donor: send STR again later */
    REPL_SST_ACT_REFUSE_IST, /* this node was chosen for an IST it cannot serve: status */
};
struct repl_sst_act {
    enum repl_sst_act_kind kind;
    void *req;
    size_t req_len;
    tr_gtid state;
    int status; /* -errno */
};
/* A joiner's first primary view: asks the host and sends STR, or joins at once ("trivial").
 * true when the view is to be delivered now (trivial). mu not held. */
bool repl_sst_start(struct repl_node *n, struct repl_view *v, bool first, int *rc);
void repl_sst_on_str_locked(struct repl_node *n, const tr_uuid *sender, const uint8_t *buf,
                            size_t len, struct repl_sst_act *act);
/* JOIN/SYNC: *synced when this node just reached SYNCED (call synced_cb outside mu). */
void repl_sst_on_join_locked(struct repl_node *n, int type, const tr_uuid *sender,
                             const uint8_t *buf, size_t len, bool *synced);
void repl_sst_act(struct repl_node *n, void *recv_ctx, struct repl_sst_act *act);
/* repl_ist.c */
struct ist_rec;
int repl_ist_listen(struct repl_node *n, char *advertise, size_t len); /* a socket, or -1 */
int repl_ist_start_receiver(struct repl_node *n);
/* Donor: stream [first, last] from the store to addr on a thread; -ENODATA when not held. */
int repl_ist_serve_locked(struct repl_node *n, const char *addr, int64_t first, int64_t last);
void repl_ist_hold_front_locked(struct repl_node *n, struct ist_rec *recs, struct repl_view *view,
                                int64_t view_seqno);
void repl_ist_free_recs(struct ist_rec *r);
/* repl_sst.c: the receiver got everything (mu not held) / a sender finished (rc 0 or -errno) */
void repl_sst_ist_done(struct repl_node *n, struct ist_rec *recs);
void repl_sst_ist_sent(struct repl_node *n, int rc);

/* Sends the request again if the view it went with ended first (mu not held). */
void repl_sst_resend(struct repl_node *n);
/* A joiner caught up after its transfer: tell the group (mu not held). */
void repl_sst_caught_up(struct repl_node *n, int64_t seqno);
void repl_sst_clear_locked(struct repl_node *n);
int repl_sst_member_state(const struct repl_msg_state *s, bool holds);

/* repl_vote.c (replication.md §7) */
struct repl_fail;
struct repl_vote;
/* seqno failed here with the host's error text: ask the other members (mu not held). */
void repl_vote_failed(struct repl_node *n, int64_t seqno, const void *err, size_t len);
/* A VOTE in total order; returns a seqno this node must answer for with repl_vote_answer
 * outside mu (or -1). Sets must_leave when this node ends up in the minority. */
int64_t repl_vote_on_msg_locked(struct repl_node *n, const tr_uuid *sender, const uint8_t *buf,
                                size_t len);
void repl_vote_answer(struct repl_node *n, int64_t seqno); /* waits until seqno is applied */
void repl_vote_view_locked(struct repl_node *n);           /* a new primary view's members */
void repl_vote_clear_locked(struct repl_node *n);

/* repl_node.c */
void repl_node_save_state(struct repl_node *n, bool running);
const char *repl_state_comment(enum repl_state s);

/* Joined, Synced and Donor/Desynced nodes of a primary component take writes. */
static inline bool repl_writable_locked(const struct repl_node *n)
{
    return n->primary && n->exch_done_prim && !n->closing &&
           (n->state == REPL_ST_JOINED || n->state == REPL_ST_SYNCED || n->state == REPL_ST_DONOR);
}

/* Deadline for pthread_cond_timedwait with default attributes (CLOCK_REALTIME). */
static inline struct timespec repl_deadline_in(int64_t ns)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ns / 1000000000;
    dl.tv_nsec += ns % 1000000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    return dl;
}

/* A primary component is being re-formed around this node (a view change after a primary
 * one): writers wait for it rather than fail. */
static inline bool repl_in_transition_locked(const struct repl_node *n)
{
    return n->connected && !n->closing && !n->group_closed && n->exch_done_prim && !n->primary;
}

static inline size_t repl_hash(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (size_t)(v & (REPL_HASH - 1));
}

#endif
