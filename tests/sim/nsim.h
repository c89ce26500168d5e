/* tests/sim/nsim: the whole-node simulator: replicator cores (repl_core) over gcomm cores
 * (sim_net) in virtual time, each with a model host: a durable store, appliers, clients. */
#ifndef NSIM_H
#define NSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_arb.h"
#include "replicator/repl_core.h"
#include "replicator/repl_frag.h"
#include "tests/sim/sim.h"

#define NS_MAXN 5
#define NS_CLIENTS 3 /* the third runs only with streaming: it streams */
#define NS_ROWS 12
#define NS_LOG_FAILED INT64_C(-1) /* this node failed to apply the seqno (an injected fault) */

/* One delivery copied out of gcomm's callback: the core is stepped with it afterwards. */
struct ns_in {
    bool view, closed;
    bool skip, lost;  /* pieces a view cut off (gseq, span); this node's own action cut (buf) */
    struct repl_gview gv;
    tr_uuid sender;
    int64_t gseq, span;
    uint8_t *buf;
    size_t len;
    struct ns_in *next;
};

/* A streaming transaction the store holds open (MariaDB's mysql.wsrep_streaming_log): its
 * fragments are kept, not applied, until the commit fragment; a rollback discards them. */
#define NS_SR_MAX 32
struct ns_sr {
    tr_uuid src;       /* the originator's identity (its incarnation) */
    uint64_t trx;
    int nfrag;         /* fragments held */
    uint64_t sum;      /* of their write-set numbers: which fragments, in short */
};

/* What a store applied, by seqno: a write-set's number, 0 for no work, NS_LOG_FAILED. */
struct ns_log {
    tr_uuid history;
    int64_t base; /* seqno of e[0] */
    int64_t *e;
    size_t n, cap;
    struct ns_sr sr[NS_SR_MAX]; /* open streaming transactions */
    int nsr;
    uint8_t *done;              /* by stream trx id: how many times its commit took effect */
    size_t done_cap;
    tr_uuid prev_prim[NS_MAXN]; /* the members of the last primary view it applied (wsrep-lib
                                 * keeps the view in the store: it survives restarts and SST) */
    int nprev_prim;
};

enum ns_client_state { NC_IDLE = 0, NC_ORDER, NC_COMMIT };

/* What a client's write-set in flight is (nck's pieces). */
enum ns_piece { NP_TRX = 0, NP_FIRST, NP_MIDDLE, NP_COMMIT, NP_ROLLBACK };

struct ns_client {
    enum ns_client_state st;
    uint64_t next_at;
    uint64_t local_id, trx_id;
    uint64_t ws;            /* the write-set number in flight (unique in the run) */
    int64_t seqno, last_seen;
    /* a streaming client (docs/design/streaming.md): one transaction in fragments over time */
    bool sr;
    enum ns_piece piece;    /* what is in flight */
    uint64_t sr_trx;        /* the open stream (0: none) */
    int sr_frags, sr_want;  /* fragments passed; how many before the commit fragment */
    uint64_t sr_nonprim;    /* the node's non-primary views when the stream began */
    bool sr_rollback;       /* a rollback fragment waits to be sent (wsrep-lib's queue) */
    bool sr_killed;         /* its host rolled the stream back at a view: pieces ordered since
                             * take no effect anywhere */
};

struct ns_node {
    int idx;
    bool arb;               /* an arbitrator member (repl_arb, no core and no store) */
    struct repl_arb *ra;    /* its state while the process is up */
    struct repl_core *core; /* NULL while the process is down */
    uint64_t inc;           /* incarnation of the replicator */
    bool up, leaving, failing;
    uint64_t restart_at;    /* down: start again then (0: stay down) */
    /* durable, like the engine's data and grastate.dat */
    int64_t applied;        /* last seqno applied (the engine's checkpoint) */
    struct ns_log log;
    bool safe_to_bootstrap;
    bool corrupt;           /* grastate marked: the store is not trusted at the next start */
    struct repl_core_last_view last_view; /* grastate's trireme_view/trireme_members */
    /* in memory */
    struct repl_act *q;     /* queued actions, in order */
    size_t qhead, qn, qcap;
    uint64_t busy_until, cost;
    struct ns_in *in_head, *in_tail;
    struct ns_client cl[NS_CLIENTS];
    int64_t own[1024];        /* own write-sets ordered and passed, awaiting their turn: seqno */
    int own_cl[1024];
    int nown;
    bool desynced;
    uint64_t resync_at;
    int64_t fail_seqno;     /* an injected apply failure at this seqno */
    bool ever_primary;      /* held data in this incarnation: asks for IST, not SST */
    unsigned nreq;          /* state transfer requests it made */
    bool ist_wait;
    int64_t ist_first, ist_last;
    uint64_t ist_token;
    uint64_t donate_until;  /* the donor does not apply meanwhile (FTWRL-like) */
    enum repl_fsm_state last_state;
    uint64_t shifts;        /* state changes its core reported so far */
    uint64_t next_tick;
    int64_t committed_told;
    int64_t notify_at;      /* where the core last asked to hear of commits */
    int64_t vote_wait;      /* its applier failed here and waits for the group's vote (-1) */
    uint64_t nonprim;       /* non-primary views its core reported (a streaming origin rolls back) */
    uint64_t sr_recovered[NS_SR_MAX]; /* its own streams found in its store at start: orphans, */
    int nsr_recovered;                /* rolled back at its first primary view */
    struct ns_owed {                  /* rollback fragments owed: sent again until applied here */
        uint64_t trx, ws;             /* ws: the last one sent (0: none yet) */
    } owed[2 * NS_SR_MAX];
    int nowed;
    struct repl_defrag df;  /* --pieces: actions put together again, as the gcomm group does */
    uint64_t act_no;        /* the last action it sent in pieces */
    const char *inject;     /* an allocation failure armed in this node's core (tr_fail point) */
    uint64_t inject_until;
};

/* A state transfer on its way (SST snapshot or IST records). */
struct ns_xfer {
    bool used, ist;
    bool bypass;            /* SST whose donor bypassed the snapshot: the joiner keeps its store */
    int donor, joiner;
    uint64_t donor_inc, joiner_inc, at;
    tr_gtid gtid;
    struct ns_log log;      /* SST: the donor's store */
    struct repl_act act;    /* IST: the range (its pin is released at once) */
    struct repl_ist_rec *recs; /* IST: the records read from the donor's store when sent */
    size_t nrecs;
    bool recs_lost;         /* IST: the store could not be read: the stream breaks */
};

struct nsim {
    struct sim net;
    int n;
    struct ns_node nd[NS_MAXN];
    struct ns_xfer xf[16];
    uint64_t seed, rng;
    uint64_t next_trx;
    bool clients_on;
    bool streaming;         /* one client per data node streams its transactions */
    bool resend;            /* a rollback fragment lost in a view change is sent again */
    size_t piece;           /* --pieces N: messages longer than N bytes go in pieces (0: whole) */
    uint64_t sent_once[64]; /* without: streams whose rollback fragment was lost */
    unsigned nsent_once;
    uint64_t next_ws;       /* write-set numbers */
    int verbose;
    uint64_t acked, cert_fail, votes_lost, injected;
    uint64_t sr_commits, sr_rollbacks; /* acknowledged stream commits, rollback fragments sent */
};

/* nsim_host.c */
/* a line of the replay trace (--verbose) */
#define TRACE(m, ...)                                                                            \
    do {                                                                                         \
        if ((m)->verbose) {                                                                      \
            fprintf(stderr, "[%9.3f] ", (double)(m)->net.now / 1e9);                           \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

void ns_init(struct nsim *m, uint64_t seed, int n);
void ns_free(struct nsim *m);
void ns_start(struct nsim *m, int i, bool bootstrap);
void ns_crash(struct nsim *m, int i);
void ns_run(struct nsim *m, uint64_t until);
uint64_t ns_rand(struct nsim *m);
bool ns_desync(struct nsim *m, int i);
void ns_operator_bootstrap(struct nsim *m, int i);
bool ns_synced_quorum(struct nsim *m); /* a writable node desyncs (resync at resync_at) */
bool ns_failed(const struct nsim *m);
/* every live node Synced, in one primary view of all of them, nothing queued or in flight */
bool ns_settled(struct nsim *m, char *why, size_t cap);

/* nsim_check.c */
void nck_reset(void);
void nck_free(void);
/* An ordered write-set (number ws) or view (v, ws 0) as node i decided it (APPLY, SKIP, LOCAL,
 * VIEW). */
void nck_ordered(struct nsim *m, int i, const tr_uuid *history, int64_t seqno, uint64_t ws,
                 int verdict, int64_t floor, bool ist, const struct repl_view *v);
/* Node's live certification made write-set seqno wait for depends (the first one counts). */
void nck_live_depends(const tr_uuid *history, int64_t seqno, int64_t depends);
/* An IST record of donor's lets seqno apply once depends has committed: never earlier than the
 * live certification let it (repl_istdeps). */
void nck_ist_depends(struct nsim *m, int donor, const tr_uuid *history, int64_t seqno, int64_t depends);
/* write-set number ws (a piece of transaction trx) was built by node `src` (identity self) on
 * rows (bit mask) with last_seen; frag: its fragment number in a stream */
void nck_ws_built(uint64_t ws, uint64_t trx, enum ns_piece piece, int frag, int src, const tr_uuid *self,
                  uint32_t rows, bool toi, int64_t last_seen);
void nck_acked(struct nsim *m, uint64_t ws);
/* node's store committed stream trx, holding nfrag fragments (their numbers sum to sum) */
void nck_sr_commit(struct nsim *m, int node, uint64_t trx, int nfrag, uint64_t sum);
/* the primary view ordered at seqno (NULL: none), as its first node installed it */
const struct repl_view *nck_view_at(const tr_uuid *history, int64_t seqno);
/* node i received by IST the view v at seqno: it must be the one ordered there */
void nck_past_view(struct nsim *m, int i, const tr_uuid *history, int64_t seqno, const struct repl_view *v);
/* node applied the primary view at seqno: it holds no stream whose originator that view left out */
void nck_view_applied(struct nsim *m, int node, int64_t seqno);
/* the hosts rolled stream trx back at a primary view of history h before seqno: its later
 * pieces find no streaming applier and take no effect (wsrep-lib's warning path) */
bool nck_sr_gone(uint64_t trx, const tr_uuid *h, int64_t seqno);
/* the hosts of history h ended stream trx (committed or rolled back) */
bool nck_sr_ended(uint64_t trx, const tr_uuid *h);
/* write-set number ws was ordered (by some node, in a history not lost) */
bool nck_ws_ordered(uint64_t ws);
/* the stream trx of a write-set's piece (0: none) */
uint64_t nck_trx_of(uint64_t ws);
void nck_applied(struct nsim *m, int node, const tr_uuid *history, int64_t seqno);
void nck_store_lost(struct nsim *m, int node);
/* an injected failure made a node refuse seqno (the group may decide it fails everywhere) */
void nck_failed(struct nsim *m, const tr_uuid *history, int64_t seqno);
void nck_donated(struct nsim *m, const void *req, size_t len);
/* node i broadcasts a control message (checked: a LAST report against its writes in flight) */
void nck_broadcast(struct nsim *m, int i, const uint8_t *buf, size_t len);
void nck_step(struct nsim *m);
void nck_final(struct nsim *m);

#endif
