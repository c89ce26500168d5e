/* replicator/repl_xfer: a state transfer as the ordered stream sees it (replication.md §6):
 * the joiner's phase, its request, its donor, and the actions it holds until its state has
 * arrived; the donor's side is the `donating` flag. Owned by the core, pure. */
#ifndef REPL_XFER_H
#define REPL_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_core.h"

/* PREPARE: the exchange made us a joiner, the host is asked how it receives state;
 * WAIT: the request is out; ordered actions are certified and held;
 * APPLY: state received at `seqno`: the held actions went to the appliers, SYNC follows once
 * they are taken. */
enum repl_xfer_phase { REPL_XFER_NONE = 0, REPL_XFER_PREPARE, REPL_XFER_WAIT, REPL_XFER_APPLY };

/* A held write-set whose bytes are left in the write-set store (spilled): what is needed to
 * queue it again once its bytes are read back. 24 bytes instead of the write-set. */
struct repl_spilled {
    int64_t seqno, depends;
    uint8_t kind; /* REPL_ACT_APPLY or REPL_ACT_SKIP */
    bool ok;
};
#define REPL_HELD_RUN 256 /* spilled entries per list node */

struct repl_held {
    struct repl_act act; /* a queued action (APPLY, SKIP, VIEW) decided while holding; kind 0:
                          * a run of spilled ones, run[run_head..nrun) */
    struct repl_spilled *run;
    uint32_t nrun, run_head;
    struct repl_held *next;
};

/* Held write-set bytes kept in memory before the rest is left in the store: a fixed bound, not
 * a share of gcache.size (that sizes a disk file; RAM should not grow with it). */
#define REPL_XFER_MEM_MAX (64 << 20)

/* A donation to start: an SST request (req), or an IST range and where to send it. */
struct repl_serve {
    void *req;
    size_t req_len;
    int64_t first, last;
    uint64_t token;
    char *addr;
    struct repl_serve *next;
};

struct repl_xfer {
    enum repl_xfer_phase phase;
    void *req; /* the host's SST request, kept for retries; NULL for IST */
    size_t req_len;
    bool have_donor;
    tr_uuid donor;
    tr_uuid str_hist; /* where the request that chose the donor was ordered: message history */
    int64_t str_at;   /* ... and the group's message seq */
    int64_t seqno;        /* APPLY: the state received; held actions up to it are in it */
    int64_t join_at;      /* the group position it joined at: it holds every action after it */
    int64_t catchup_upto; /* APPLY: SYNC once the appliers have taken this seqno */
    int64_t taken;        /* the highest seqno the appliers took since APPLY began */
    struct repl_held *head, *tail;
    int64_t held;
    /* spilling: once the held write-sets in memory would pass mem_max bytes, the next ones are
     * left in the store (gcache, which already holds them), pinned from the first on so that
     * the ring keeps them, and read back as they are released */
    struct repl_gcache *gcache; /* the core's store; NULL: never spill */
    int64_t mem_max;            /* <= 0: REPL_XFER_MEM_MAX */
    int64_t max_raw;            /* decode bound for write-sets read back */
    int64_t mem_bytes, mem_ws;  /* held write-sets in memory: bytes, count */
    int64_t spilled;            /* held write-sets whose bytes are only in the store */
    struct repl_gcache_pin *pin;
    char why[200];              /* what went wrong, for the message (hold or release: -2) */
    /* IST: a member that holds an earlier state of the group's history */
    tr_uuid own_uuid;
    int64_t own_seqno;
    bool ist;             /* the request asks for ist_from..ist_to (alone, or with an SST request) */
    int64_t ist_from, ist_to;
    uint64_t ist_token;
    /* with an SST request the donor decides: sst_received at own_seqno says it bypassed the
     * snapshot (nothing was copied) and the IST brings the rest; a later one, a full SST */
    bool bypassed;
    /* IST records reach the core in parts as they arrive (repl_ist) and go to the appliers at
     * once, from the first on (the monitors restart at ist_from - 1: ist_applying); before
     * sst_received has said that the donor bypassed the snapshot they wait in ist_recs (the
     * receiver reads ahead of the appliers by a bounded amount, so this stays bounded too) */
    int64_t ist_next;  /* the next seqno of the range to reach the core */
    int64_t ist_taken; /* the last record of the range an applier took */
    bool ist_applying;
    /* the records go into the store as they go to the appliers (nothing held was spilled when
     * the first came): what is ordered meanwhile is held in memory only, and goes into the store
     * behind them once the range is whole (or before a held write-set would spill) */
    bool ist_store;
    struct repl_ist_rec *ist_recs;
    size_t ist_n, ist_cap;
    /* the end of the stream (or the receiver's failure), when it came before sst_received */
    bool ist_in;
    int ist_rc;
    char ist_why[200];
    struct repl_view *join_view; /* delivered after the IST records */
    /* an IST alone whose donor died is asked of another member (repl_core ist_retry) */
    int ist_retries;      /* requests sent again because the donor left */
    int ist_restarts;     /* receivers started again after a stream failed */
    bool ist_cut;         /* the current request's stream was cut: its receiver listens anew */
    bool ist_began;       /* a donor's stream began: it bypassed the snapshot (host data untouched) */
    uint64_t retry_at;    /* a request nobody could serve is sent again at this time */
    bool resend;          /* the request went with a view that ended: send it again */
    bool donating;        /* this node serves a joiner now (SST) */
    /* donations this node was chosen for, in order, waiting for no vote to be open
     * (repl_core serve_pending) */
    struct repl_serve *serve, **serve_tail;
};

bool repl_xfer_holding(const struct repl_xfer *x);
/* Appends a copy of a (ownership moves to the held list); a write-set past the memory bound
 * is left in the store (its reference dropped). -1 out of memory, -2 the store does not hold
 * it or lost one spilled before (x->why says which); a is released either way. */
int repl_xfer_hold(struct repl_xfer *x, struct repl_act *a);
/* Holding a would leave its write-set in the store only (past the memory bound, or after one was). */
bool repl_xfer_would_spill(const struct repl_xfer *x, const struct repl_act *a);
/* Moves held actions to out in order, dropping those at or below `upto` (already in the
 * received state), reading spilled write-sets back from the store until about budget bytes
 * were read (at least one action moves; budget <= 0: everything). *count: actions moved.
 * -1 an action could not be recorded (out->oom), -2 a spilled write-set could not be read back
 * (x->why); the rest stays held (repl_xfer_clear drops it) and the caller must leave. */
int repl_xfer_release(struct repl_xfer *x, int64_t upto, struct repl_acts *out, int64_t *count,
                      int64_t budget);
/* A vote said seqno fails everywhere: a held write-set at seqno is skipped. */
void repl_xfer_held_skip(struct repl_xfer *x, int64_t seqno);
/* The held list, oldest first: in-memory actions only (false when something was spilled). */
bool repl_xfer_all_in_memory(const struct repl_xfer *x);
/* Drops the held actions and the request (not `donating`, nor a donation waiting to start). */
void repl_xfer_clear(struct repl_xfer *x);
/* Drops IST records kept for later (repl_xfer ist_recs). */
void repl_xfer_ist_drop(struct repl_xfer *x);
/* Queues s (ownership moves) / takes the first donation waiting (NULL: none) / forgets them. */
void repl_xfer_serve_add(struct repl_xfer *x, struct repl_serve *s);
struct repl_serve *repl_xfer_serve_take(struct repl_xfer *x);
void repl_serve_free(struct repl_serve *s);
void repl_xfer_serve_clear(struct repl_xfer *x);

#endif
