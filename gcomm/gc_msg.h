/* gcomm/gc_msg: the protocol messages exchanged between gcomm cores, and their codec.
 * Decoding is bounds-checked and allocation is bounded by the input length. */
#ifndef GC_MSG_H
#define GC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_view.h"
#include "gcomm/gc_wire.h"

#define GC_PROTO_VERSION 5 /* 4: DELAYED, EVICTED, evict lists in STATE and START; 5: GC_START_QUIET */
#define GC_GROUP_MAX 64
#define GC_MAX_ADDRS 64
#define GC_ACKED_MAX 16
#define GC_MAX_JOINT (2 * GC_MAX_MEMBERS) /* up to two previous views must agree */
#define GC_GATHER_SENDERS 255 /* distinct senders a GATHER can name entries of */
#define GC_NAME_BYTES 9       /* an entry's name in a GATHER: u8 sender index, u64 sender seq */

enum gc_msg_type {
    GC_MSG_HELLO = 1,
    GC_MSG_HB,
    GC_MSG_ECHO,
    GC_MSG_DATA,
    GC_MSG_ORDER,
    GC_MSG_ACK,
    GC_MSG_GATHER,
    GC_MSG_STATE,
    GC_MSG_START,
    GC_MSG_LEAVE,
    GC_MSG_FC,
    GC_MSG_FRAG,
    GC_MSG_DELAYED, /* member -> members: its delayed list and its evict list */
    GC_MSG_EVICTED, /* to a peer in our evict list, before we hang up on it */
    GC_MSG_MAX_
};

/* Node states as advertised in HB. */
enum gc_state { GC_ST_CHANGE = 0, GC_ST_NORMAL, GC_ST_GATHER, GC_ST_LEAVING, GC_ST_LEFT };

/* A log entry as carried on the wire; data points into the decoded buffer. */
typedef struct gc_entry_ref {
    tr_uuid sender;
    uint64_t sender_inc;
    uint64_t sender_seq;
    const uint8_t *data;
    size_t len;
} gc_entry_ref;

typedef struct gc_dedup {
    tr_uuid sender;
    uint64_t inc;
    uint64_t seq; /* highest sender seq already ordered */
} gc_dedup;

/* The uuids refused membership (Galera's evict list, evs.evict). gen counts clears: a list of
 * a higher gen replaces one of a lower gen, lists of the same gen are merged (section 14). */
#define GC_EVICT_MAX GC_MAX_MEMBERS
typedef struct gc_evict_list {
    uint64_t gen;
    uint8_t n;
    tr_uuid u[GC_EVICT_MAX];
} gc_evict_list;

typedef struct gc_close_group {
    uint64_t epoch; /* members whose delivered primary view has this epoch */
    uint64_t upto;  /* deliver up to this seqno before the new view */
    uint64_t first; /* seqno of entries[0] */
    uint32_t nentries;
    gc_entry_ref *entries;
} gc_close_group;

typedef struct gc_joint {
    tr_uuid uuid;
    uint8_t weight;
    uint8_t left; /* bit 0: left gracefully (the "left" term of the quorum rule); bit 1: second set */
} gc_joint;

#define GC_STATE_RECOVERED 1u /* state comes from gvwstate.dat only: no log */
#define GC_STATE_LEAVING 2u
#define GC_STATE_HAS_PRIM 4u
#define GC_STATE_PENDING 8u   /* prim is installed here but not known to be established */
#define GC_STATE_PFORCED 16u  /* that pending view was forced (no joint quorum needed) */
#define GC_STATE_HAS_ESTAB 32u /* estab: the last view this node saw established */
/* The answer of a node in a primary view to a GATHER from a peer that is not a member: it stays
 * in its view (no promise) and is no member of the gatherer's; its report (no log) tells the
 * gatherer that a primary component runs, so that it recovers no older view. */
#define GC_STATE_DECLINE 64u
#define GC_GATHER_BOOTSTRAP 1u
#define GC_START_FORCED 1u /* primary by bootstrap/recovery/ignore_quorum: no joint quorum */
/* every member continues, without a non-primary view since, the primary view it delivered last,
 * and that view has the new one's members: the new view is not delivered to the application */
#define GC_START_QUIET 2u

typedef struct gc_msg {
    uint8_t type;
    union {
        struct {
            uint16_t version;
            char group[GC_GROUP_MAX];
            tr_uuid uuid;
            uint64_t inc;
            char name[GC_NAME_MAX];
            char incoming[GC_ADDR_MAX];
            char listen[GC_ADDR_MAX];
            uint8_t naddrs;
            char addrs[GC_MAX_ADDRS][GC_ADDR_MAX];
        } hello;
        struct gc_hb {
            uint64_t ts, promised, epoch;
            uint8_t state, fc, weight;
            uint64_t ack;
            /* non-urgent frames the sender had sent on this link before this HB: the HB may
             * overtake them in the driver, and its state is applied only once they are in */
            uint64_t bulk;
            uint8_t nsusp;
            tr_uuid susp[GC_MAX_MEMBERS];
        } hb;
        struct {
            uint64_t ts, epoch;
            uint8_t supporting;
        } echo;
        struct {
            /* base: the sender's oldest message it still waits to see ordered; every earlier
             * one was ordered or given up (dropped with a non-primary view) */
            uint64_t epoch, seq, base;
            const uint8_t *data;
            size_t len;
        } data;
        struct {
            uint64_t epoch, seqno;
            gc_entry_ref e;
        } order;
        struct {
            uint64_t epoch, seqno;
        } ack;
        struct {
            uint64_t epoch;
            uint8_t flags;
            /* The gatherer's log by entry names (sender, its incarnation, its seq), so that a
             * STATE leaves out the entries the gatherer already holds. n = 0: no names. */
            uint64_t first; /* seqno of the first name */
            uint8_t nsenders;
            struct gc_sender {
                tr_uuid uuid;
                uint64_t inc;
            } senders[GC_GATHER_SENDERS];
            uint32_t n;
            const uint8_t *names; /* n names as on the wire (gc_name_get); every index < nsenders */
        } gather;
        struct {
            uint64_t epoch, inc;
            char name[GC_NAME_MAX];
            char incoming[GC_ADDR_MAX];
            uint8_t weight, flags;
            gc_view prim;
            uint32_t njoint; /* with PENDING: the quorum prim needed besides its own */
            gc_joint joint[GC_MAX_JOINT];
            gc_view estab;
            uint64_t stop_elapsed;
            uint8_t nacked; /* epochs of the primary views we acknowledged (applied START), newest last */
            uint64_t acked[GC_ACKED_MAX];
            uint8_t nheard; /* how long ago we last heard each peer (bounds their leases) */
            tr_uuid heard[GC_MAX_MEMBERS];
            uint64_t heard_ago[GC_MAX_MEMBERS];
            uint64_t dv_epoch;  /* primary view we are still delivering in (0: none) */
            uint64_t lease_left; /* what our lease on that view had left (ns, NEVER: no end); 0: none */
            uint64_t delivered; /* last seqno we delivered */
            uint64_t log_end;
            uint64_t first; /* seqno of the first entry of the log */
            /* entries same_from .. same_from + nsame - 1 are left out: the gatherer's log holds
             * the same entries there (its GATHER named them) */
            uint64_t same_from, nsame;
            uint32_t ndedup;
            gc_dedup *dedup;
            uint32_t nentries; /* the log from first to log_end, without the ones left out */
            gc_entry_ref *entries;
            gc_evict_list evict;
        } state;
        struct {
            uint64_t epoch;
            gc_view view;
            uint64_t close, adopt_epoch;
            uint64_t adopt_prev_epoch; /* the view the adopted log itself continues (0: none) */
            uint8_t flags;
            uint32_t njoint;
            gc_joint joint[GC_MAX_JOINT];
            uint32_t ndedup;
            gc_dedup *dedup;
            uint64_t first;
            uint32_t nentries;
            gc_entry_ref *entries;
            /* closing of older primary views for members still delivering in them */
            uint32_t ngroups;
            gc_close_group *groups;
            gc_evict_list evict; /* the view's evict list: none of its members is in it */
        } start;
        struct {
            uint8_t n; /* the sender's delayed list: peers and their delay counts */
            tr_uuid uuid[GC_MAX_MEMBERS];
            uint8_t cnt[GC_MAX_MEMBERS];
            gc_evict_list evict;
        } delayed;
        struct {
            uint8_t stop;
        } fc;
        struct {
            uint64_t total, offset;
            const uint8_t *data;
            size_t len;
        } frag;
    } u;
} gc_msg;

/* Decodes one message; pointers in *m refer into buf. Returns 0 or -1 (malformed).
 * On success free with gc_msg_release (STATE and START own arrays). */
int gc_msg_decode(const uint8_t *buf, size_t len, gc_msg *m);
void gc_msg_release(gc_msg *m);
const char *gc_msg_type_name(uint8_t type);

/* Encoders append to w (callers reset it). Only fixed-size fields are passed by value. */
void gc_msg_encode(gc_wbuf *w, const gc_msg *m);

/* An entry name of a GATHER, at p (GC_NAME_BYTES). */
void gc_name_put(uint8_t *p, uint8_t sender, uint64_t seq);
void gc_name_get(const uint8_t *p, uint8_t *sender, uint64_t *seq);

#endif
