/* replicator/repl_msg: the replicator's control messages in the ordered stream (not write-sets).
 * Little-endian, bounds-checked; docs/design/replication.md §1 lists the types. */
#ifndef REPL_MSG_H
#define REPL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_buf.h"
#include "replicator/repl_types.h"

#define REPL_MSG_MAGIC 0x4d435254u /* "TRCM"; write-sets start with "TRWS" */
#define REPL_MSG_VERSION 2 /* 2: node states are enum repl_fsm_state; DESYNC; IST token */

enum repl_msg_type {
    REPL_MSG_STATE = 1,
    REPL_MSG_LAST = 2,
    REPL_MSG_CAUSAL = 3,
    REPL_MSG_STR = 4,  /* a joiner's state transfer request */
    REPL_MSG_JOIN = 5, /* a joiner received its state, or a donor finished sending it */
    REPL_MSG_SYNC = 6, /* a member caught up with the group */
    REPL_MSG_VOTE = 7, /* a member's result for a seqno that failed somewhere */
    REPL_MSG_DESYNC = 8, /* a member stopped taking part in flow control (wsrep_desync) */
};

#define REPL_MSG_MAX_MEMBERS 32 /* gcomm's GC_MAX_MEMBERS */
#define REPL_MSG_MAX_VOTES 8    /* decided failures a STATE carries */
#define REPL_STR_REQ_MAX (64u * 1024u) /* the host's SST request: an address and a method */
#define REPL_STR_DONOR_MAX 256u        /* wsrep_sst_donor */

/* What a member tells the others after a primary view (the state exchange). */
struct repl_msg_state {
    int64_t conf_id;     /* the view this answers */
    tr_uuid node;
    tr_uuid group;       /* history it holds; nil for none */
    int64_t seqno;       /* last seqno of that history it has ordered */
    bool prim;           /* it was in the previous primary component, exchange complete */
    bool served;         /* a joiner whose donor was already chosen: it asks for nothing more */
    /* with served: the donor chosen, and where the request was ordered (message history and
     * the group's message seq), so that every member can tell whether the donor saw it */
    tr_uuid served_by, served_hist;
    int64_t served_at;
    bool catching_up;    /* it holds a received state and is still applying what it held */
    bool bootstrap;      /* the operator bootstrapped here (pc.bootstrap, a new cluster): with
                          * no member known to hold the complete state, this one may represent
                          * the group (Galera's GCS_STATE_FBOOTSTRAP) */
    bool arbitrator;     /* a voting member that holds no data (trireme-arbd, Galera's
                          * GCS_STATE_ARBITRATOR): never represents the group, never a donor,
                          * not counted for purge, votes or certification resets
                          * (docs/design/arbitrator.md); group: the history it last saw */
    /* a joiner (state JOINING): the last seqno of `group` that its own store may hold from
     * before its transfer (what it applied while it held the state), 0 for none. A member
     * of the last ordering view may have applied what only it and absent members delivered;
     * as a joiner it no longer holds the state, yet the group must not go on from less. */
    int64_t own_seqno;
    /* the lowest seqno of `group` its write-set store holds (has_cached), which an IST from it
     * can start at: the donor choice prefers a member whose store covers the joiner's gap
     * (Galera's state message carries the same, gcs_state_msg_cached) */
    bool has_cached;
    int64_t cached;
    /* the votes it knows the group decided fail everywhere (seqno, and the last seqno ordered
     * when that was decided; at most REPL_MSG_MAX_VOTES, newest known): a member that was away
     * then, or restarted since, learns them here, so that as a donor it still refuses to
     * complete by IST a joiner that may have applied one (Galera's state message carries its
     * last vote the same way) */
    uint8_t nvotes;
    int64_t vote_seqno[REPL_MSG_MAX_VOTES], vote_at[REPL_MSG_MAX_VOTES];
    uint8_t state;       /* enum repl_fsm_state */
    uint16_t proto_app;  /* application protocol it speaks */
    tr_uuid proposal;    /* history uuid to use if nobody has one (bootstrap) */
    /* where it stands in the group's message stream (replication.md §2, "Who holds the
     * complete state"): in message history ghist, the view of its last completed exchange
     * (lo, 0 for none), the last message it processed in that stream (gl), and the close of the
     * first primary view after lo it entered (gend, -1 for none) */
    tr_uuid ghist;
    int64_t lo, gl, gend;
    uint16_t lo_n;                   /* the members of view lo, by uuid and name (a node that
                                      * left and came back has a new uuid, not a new name) */
    tr_uuid lo_memb[REPL_MSG_MAX_MEMBERS];
    char lo_names[REPL_MSG_MAX_MEMBERS][REPL_NAME_LEN];
    char name[REPL_NAME_LEN];
    char incoming[REPL_INCOMING_LEN];
};

/* A member's last committed seqno: the minimum over members bounds certification purge. */
struct repl_msg_last {
    tr_uuid node;
    int64_t seqno;
};

/* A causal-read marker: everything ordered before it is what the reader must see. */
struct repl_msg_causal {
    tr_uuid node;
    uint64_t id;
};

/* true when buf starts like a control message (write-sets do not). */
/* A joiner asks for the group's state: req is the host's sst_request (opaque to us, passed to
 * the donor's sst_donate), donors the host's wsrep_sst_donor list, position what it holds. */
struct repl_msg_str {
    tr_uuid node;
    tr_gtid position;
    char donors[REPL_STR_DONOR_MAX];
    const uint8_t *req; /* decode: points into the message */
    uint32_t req_len;   /* 0: no snapshot possible, incremental transfer (IST) only */
    char ist_addr[REPL_INCOMING_LEN]; /* where the joiner receives IST; "" for none */
    int64_t ist_upto;   /* IST: the seqno of the view the joiner entered with */
    uint64_t ist_token; /* IST: the donor's stream must present it (issued inside the group) */
};

/* JOIN: node reached seqno (status 0), or its transfer failed (status -errno).
 * SYNC: node caught up (seqno: where, status 0). DESYNC: node desynced at seqno (status 0).
 * cached: the lowest seqno its write-set store holds now, -1 for none (a transfer changes it:
 * the members' table follows, so that the next IST donor choice knows) */
struct repl_msg_join {
    tr_uuid node;
    int64_t seqno;
    int32_t status;
    int64_t cached;
};

/* code: 0 applied, otherwise a hash of the host's error */
struct repl_msg_vote {
    tr_uuid node;
    int64_t seqno;
    uint64_t code;
};

bool repl_msg_is_control(const uint8_t *buf, size_t len);
/* The type byte of a control message (len already checked by repl_msg_is_control). */
static inline int repl_msg_type(const uint8_t *buf)
{
    return buf[4];
}
int repl_msg_last_encode(const struct repl_msg_last *m, struct tr_buf *out);
int repl_msg_last_decode(const uint8_t *buf, size_t len, struct repl_msg_last *m);
int repl_msg_causal_encode(const struct repl_msg_causal *m, struct tr_buf *out);
int repl_msg_causal_decode(const uint8_t *buf, size_t len, struct repl_msg_causal *m);

int repl_msg_str_encode(const struct repl_msg_str *m, struct tr_buf *out);
int repl_msg_str_decode(const uint8_t *buf, size_t len, struct repl_msg_str *m);
/* type: REPL_MSG_JOIN, REPL_MSG_SYNC or REPL_MSG_DESYNC */
int repl_msg_join_encode(int type, const struct repl_msg_join *m, struct tr_buf *out);
int repl_msg_join_decode(int type, const uint8_t *buf, size_t len, struct repl_msg_join *m);

int repl_msg_vote_encode(const struct repl_msg_vote *m, struct tr_buf *out);
int repl_msg_vote_decode(const uint8_t *buf, size_t len, struct repl_msg_vote *m);

int repl_msg_state_encode(const struct repl_msg_state *m, struct tr_buf *out);
/* 0, or -1 when buf is not a well-formed STATE message of this version. */
int repl_msg_state_decode(const uint8_t *buf, size_t len, struct repl_msg_state *m);

#endif
