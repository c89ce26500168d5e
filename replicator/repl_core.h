/* replicator/repl_core: the node's ordered stream as a pure state machine: events in (the
 * group's views and messages, applier progress, the host's state-transfer answers, timers),
 * actions out (apply, deliver, broadcast, persist, wake). No threads, sockets, clocks or host
 * callbacks inside: repl_driver runs it for real, tests/sim runs many on virtual time. */
#ifndef REPL_CORE_H
#define REPL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_buf.h"
#include "replicator/repl_fsm.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_group.h"
#include "replicator/repl_types.h"
#include "replicator/repl_ws.h"

struct repl_core;
struct cert_stats;

/* Settings fixed at connect (cfg) and those that change at run time (flow control). */
struct repl_core_cfg {
    tr_uuid self;                 /* this member's uuid in the group */
    char name[REPL_NAME_LEN];
    char incoming[REPL_INCOMING_LEN];
    char donors[256];             /* wsrep_sst_donor */
    char ist_addr[REPL_INCOMING_LEN]; /* where this node receives IST */
    int proto_ver;
    uint32_t capabilities;
    int64_t gcache_size;          /* bytes of write-sets kept for IST */
    struct repl_gcache *gcache;   /* the write-set store (the driver's on-disk one, not owned),
                                   * or NULL: the core keeps an anonymous one of gcache_size */
    int64_t max_ws_raw;           /* decode bound, the same on every node */
    int64_t held_mem_max;         /* a joiner's held write-set bytes in memory; the rest stays
                                   * in the store (<= 0: REPL_XFER_MEM_MAX, 64 MiB) */
};

struct repl_flow_cfg {
    int64_t limit;       /* gcs.fc_limit */
    double factor;       /* gcs.fc_factor */
    bool single_primary; /* gcs.fc_single_primary */
};

enum repl_ev_kind {
    REPL_EV_CONNECT = 1, /* bootstrap, proposal (a fresh uuid for a new history) */
    REPL_EV_DISCONNECT,  /* the host asked to leave */
    REPL_EV_VIEW,        /* view */
    REPL_EV_MSG,         /* sender, seqno (the group's), span, buf/len (a control message,
                          * taken over) or ws (a write-set, its reference taken over); neither:
                          * group seqnos seqno-span..seqno held only pieces nobody keeps */
    REPL_EV_LOST,        /* code: the local id of this node's write-set the group layer
                          * dropped (a view cut it short): it is never ordered */
    REPL_EV_CLOSED,      /* the group delivers nothing more */
    REPL_EV_TAKEN,       /* an applier took the queued action at seqno (-1 for unnumbered);
                          * REPL_TRX_FAIL: a vote decided it fails everywhere: skip it */
    REPL_EV_COMMITTED,   /* seqno: the apply monitor's last_left reached it */
    REPL_EV_APPLY_FAILED,/* seqno failed here; code: a hash of the host's error (never 0); rc 1:
                          * another node's write-set (not this node's own TOI) */
    REPL_EV_SST_REQUEST, /* the host's answer to sst_request: rc, buf/len (copied) */
    REPL_EV_SST_RECEIVED,/* gtid, rc */
    REPL_EV_SST_SENT,    /* gtid, rc */
    REPL_EV_DONATED,     /* sst_donate returned rc (an error ends the donation) */
    REPL_EV_IST_RECEIVED,/* the stream ended: rc (-ECONNRESET: it was cut short); every record
                          * came before in IST_PART events (ist/nist empty) */
    REPL_EV_IST_SENT,    /* rc */
    REPL_EV_IST_BEGAN,   /* the receiver accepted the chosen donor's stream (its header and
                          * token): the donor streams, so it bypassed any snapshot */
    REPL_EV_DESYNC,
    REPL_EV_RESYNC,
    REPL_EV_TICK,        /* now */
    REPL_EV_FAIL,        /* a local failure on the ordered path (why): leave, never diverge */
    REPL_EV_BOOTSTRAP,   /* the operator set pc.bootstrap: this node's state may represent the
                          * group where no member is known to hold all of it */
    REPL_EV_IST_PART,    /* ist/nist: the next records of the IST range, in order (the array
                          * and its references taken over) */
};

/* One record of an incremental state transfer: a write-set (ws), a primary view (view), or a
 * seqno that needs no work (neither). */
struct repl_ist_rec {
    int64_t seqno;
    int64_t depends;        /* a write-set waits for this seqno to commit before it applies
                             * (repl_istdeps); below ist_from - 1 or not below seqno: seqno - 1 */
    struct repl_ws *ws;     /* NULL: nothing to apply at this seqno */
    struct repl_view *view; /* malloc'ed (repl_vrec_decode), or NULL */
};
/* Frees what the n records own, and the array. */
void repl_ist_recs_free(struct repl_ist_rec *r, size_t n);

struct repl_ev {
    enum repl_ev_kind kind;
    const struct repl_gview *view;
    tr_uuid sender;
    uint8_t *buf; /* MSG: owned by the core from the call; SST_REQUEST: borrowed */
    size_t len;
    struct repl_ws *ws;
    int64_t seqno; /* TAKEN, COMMITTED, APPLY_FAILED; the committed position on host calls */
    int64_t span;  /* MSG: group seqnos seqno-span..seqno-1 were pieces of it (repl_group.h) */
    uint64_t code;
    tr_gtid gtid;
    int rc;
    uint64_t now;
    bool bootstrap;
    tr_uuid proposal;
    struct repl_ist_rec *ist; /* IST_PART: malloc'ed array, taken over */
    size_t nist;
    const char *why;
};

enum repl_act_kind {
    /* For the appliers, in this order (queued under the node lock): */
    REPL_ACT_APPLY = 1, /* another node's write-set: seqno, depends, ws */
    REPL_ACT_SKIP,      /* seqno needs no work here: both monitors pass it (ws: the refused
                         * write-set, or NULL; ok: it passed, but a vote said it fails) */
    REPL_ACT_VIEW,      /* primary view at seqno: drain, [connected_cb if first], view_cb,
                         * [synced_cb if synced]; past: one this node missed, from an IST */
    REPL_ACT_NONPRIM,   /* a non-primary view: view_cb */
    REPL_ACT_SYNCED,    /* synced_cb */
    REPL_ACT_SST_REQUEST,/* [connected_cb if first], sst_request_cb, answer REPL_EV_SST_REQUEST */
    REPL_ACT_DONATE,    /* wait until `depends` is committed, sst_donate_cb(req, gtid, bypass)
                         * (gtid: that point, or with bypass the joiner's own position),
                         * answer REPL_EV_DONATED; nothing else is applied meanwhile */
    REPL_ACT_RESET,     /* when every earlier action is done and seqno `depends` has committed,
                         * restart both monitors at seqno */
    REPL_ACT_FINAL,     /* the final view: view_cb, save the position, recv() returns */
    /* Executed at once, under the node lock (they only wake threads): */
    REPL_ACT_LOCAL,     /* own write-set id ordered: seqno, depends, ok (the verdict) */
    REPL_ACT_LOCAL_LOST,/* own write-set id will never be ordered here (id 0, ws: an own
                         * rollback fragment, which has no waiter) */
    REPL_ACT_CAUSAL,    /* causal marker id came back after seqno */
    REPL_ACT_CAUSAL_LOST,/* causal marker id was lost with its view: send another */
    REPL_ACT_NOTIFY,    /* writability may have changed: writers look again */
    REPL_ACT_FAILED,    /* the node stops (fail-stop): nothing queued but the final view runs,
                         * and no wait for an order may block the leave */
    /* Executed after the lock is released, one thread at a time, in order: */
    REPL_ACT_BROADCAST, /* msg: a control message for the group */
    REPL_ACT_FC,        /* stop: ask the group to hold (true) or resume (false) */
    REPL_ACT_PERSIST,   /* grastate.dat: gtid.uuid, running (seqno -1) or the committed
                         * position, safe_to_bootstrap */
    REPL_ACT_LEAVE,     /* leave the group */
    REPL_ACT_IST_RECV,  /* listen on addr for the records first (seqno)..last (depends) with token */
    REPL_ACT_IST_SEND,  /* stream first (seqno)..last (depends) from the store, pinned by pin,
                         * to addr with token */
};

struct repl_act {
    enum repl_act_kind kind;
    int64_t seqno;
    int64_t depends;
    struct repl_ws *ws;
    struct repl_view *view; /* malloc'ed */
    bool first, synced, ok, stop, running, safe_to_bootstrap, bypass;
    bool past; /* VIEW: a view of the group's history this node was not in (an IST's record):
                * its host learns of it in order, as from Galera's IST; nothing else follows */
    bool corrupt; /* PERSIST: this node's state cannot be trusted (it left to avoid diverging):
                   * the next start must take a full state transfer */
    struct repl_core_last_view *last_view; /* PERSIST: malloc'ed, or NULL */
    uint64_t id;
    tr_gtid gtid;
    struct tr_buf msg;
    void *req; /* DONATE: the joiner's request (malloc'ed) */
    size_t req_len;
    char *addr; /* IST: malloc'ed */
    uint64_t token;
    struct repl_gcache_pin *pin; /* IST_SEND: unpinned on release */
};

/* Where an action runs. */
static inline bool repl_act_queued(enum repl_act_kind k)
{
    return k >= REPL_ACT_APPLY && k <= REPL_ACT_FINAL;
}
static inline bool repl_act_immediate(enum repl_act_kind k)
{
    return k >= REPL_ACT_LOCAL && k <= REPL_ACT_FAILED;
}

/* Actions of one or more steps, in the order they were decided. */
struct repl_acts {
    struct repl_act *a;
    size_t n, cap;
    bool oom; /* an action could not be recorded: the driver must leave the group */
};
void repl_acts_free(struct repl_acts *acts); /* releases what every remaining action owns */
/* Appends a (moved: the caller's copy is no longer its own). -1 and oom set when out of
 * memory; a is then released. */
int repl_acts_push(struct repl_acts *acts, struct repl_act *a);
void repl_act_release(struct repl_act *a);   /* what one action owns (references, buffers) */

/* What a node keeps across restarts about the last view in which its group ordered: the view
 * id and its members' names (escaped: ',' and '%' as %2C and %25, joined by ','), so that after
 * a crash it still knows whom to wait for (replication.md §2). */
struct repl_core_last_view {
    int64_t view; /* 0: none */
    char members[3200];
};

struct repl_core *repl_core_new(const struct repl_core_cfg *cfg, const tr_gtid *position,
                                bool safe_to_bootstrap, const struct repl_core_last_view *lv);
void repl_core_free(struct repl_core *c);
/* This node's failure at seqno awaits the group's vote: its applier holds the commit order
 * until then, as Galera's does (nothing after it commits, so a crash meanwhile loses nothing). */
bool repl_core_vote_pending(const struct repl_core *c, int64_t seqno);
void repl_core_set_flow(struct repl_core *c, const struct repl_flow_cfg *fc);
/* The self uuid the group gave us (gcomm keeps its own across restarts). */
void repl_core_set_self(struct repl_core *c, const tr_uuid *self);
void repl_core_set_donors(struct repl_core *c, const char *donors); /* wsrep_sst_donor */
void repl_core_set_ist_addr(struct repl_core *c, const char *addr);

/* Processes one event; appends what must happen to out. Returns a REPL_* status for the
 * calls that answer the host (desync, sst_received, sst_sent), REPL_OK otherwise. */
int repl_core_step(struct repl_core *c, struct repl_ev *ev, struct repl_acts *out);

/* A local write-set (or causal marker) is about to be broadcast: its id for the header, and
 * last_seen (what this node has committed) for the purge bound. -ENOTCONN when the node does
 * not take writes now, -ENOMEM. */
int repl_core_local_begin(struct repl_core *c, bool causal, int64_t last_seen, uint64_t *id);
/* The broadcast failed or its waiter gave up before it was ordered. */
void repl_core_local_end(struct repl_core *c, uint64_t id);

/* What the driver and the status report read (under the same lock as step). */
struct repl_core_info {
    enum repl_fsm_state state;
    uint64_t shifts;         /* state changes so far ... */
    uint64_t illegal_shifts; /* ... and changes the table refused (a bug: the node left) */
    int desync_count;
    bool connected, closing, closed, failed;
    bool primary;   /* a primary view whose state exchange completed: actions are ordered */
    bool in_transition; /* between views after a primary one: writers wait rather than fail */
    bool writable;
    tr_uuid group;
    int64_t last_seqno;    /* last seqno ordered */
    int64_t conf_id;
    int members;
    uint64_t view_epoch;   /* changes at every view and completed exchange */
    bool safe_to_bootstrap;
    bool donating;
    bool fc_requested;
    int64_t held;          /* actions held for a state transfer */
    int64_t held_mem_ws;   /* ... whose write-sets are in memory */
    int64_t held_spilled;  /* ... whose write-sets are only in the store */
    int64_t queued;        /* actions handed to the appliers and not taken yet */
    int64_t notify_at;     /* report REPL_EV_COMMITTED once the committed position reaches it */
    int64_t cached_downto; /* first seqno the write-set store holds, -1 when empty */
    int64_t cert_floor;
    bool ist_waiting;      /* a joiner waiting for its IST records */
    bool donor_chosen;     /* ... and the group chose `donor` for it (its request was ordered) */
    int64_t ist_taken;     /* the last IST record an applier took (the receiver reads ahead of
                            * it by a bounded amount) */
    tr_uuid donor;
};
void repl_core_info(const struct repl_core *c, struct repl_core_info *out);
void repl_core_cert_stats(const struct repl_core *c, struct cert_stats *out);
/* Members of the current primary view in view order; their incoming addresses joined by ','. */
int repl_core_members(const struct repl_core *c, const struct repl_member **m);
const char *repl_core_incoming(const struct repl_core *c);
/* Their states in the group (enum repl_mstate, repl_members.h), in the same order. */
const uint8_t *repl_core_member_states(const struct repl_core *c);
const tr_uuid *repl_core_self(const struct repl_core *c);
const tr_uuid *repl_core_group(const struct repl_core *c);
/* Report REPL_EV_COMMITTED once the committed position reaches this (cheaper than info). */
int64_t repl_core_notify_at(const struct repl_core *c);

#endif
