/* replicator/repl_frag: large actions cut into group messages of bounded size and put together
 * again in total order (Galera's gcs fragments). Pure: no I/O; the group layer drives it. */
#ifndef REPL_FRAG_H
#define REPL_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"

/* A fragment on the wire: header, then a piece of the action.
 *   0 u32 magic "TRFG" | 4 u8 version 1 | 5 u8 0 | 6 u16 0 | 8 u64 act (the sender's action
 *   number) | 16 u64 total (bytes of the action) | 24 u64 offset (of this piece)
 * Actions that fit in one message go whole, unchanged: they start with "TRWS" or "TRCM". */
#define REPL_FRAG_MAGIC 0x47465254u /* "TRFG" */
#define REPL_FRAG_VERSION 1
#define REPL_FRAG_HDR 32
/* The protocol's limit on an action, the same on every node (a node that took what another
 * refused would hold a different history): the largest write-set and its slack. */
#define REPL_FRAG_MAX_TOTAL ((uint64_t)2147483648u + 65536u)
/* The smallest piece a sender cuts (the first piece holds a write-set's 120-byte header). */
#define REPL_FRAG_MIN_PIECE 4096

void repl_frag_header(uint8_t hdr[REPL_FRAG_HDR], uint64_t act, uint64_t total, uint64_t offset);

/* One partial action of one sender. */
struct repl_frag_slot {
    tr_uuid sender;
    uint64_t act, total, got, cap;
    uint8_t *buf;
};

/* The receiving side, one per group connection. Every member feeds it the same ordered stream
 * and calls view() at the same places, so every member completes the same actions at the same
 * messages and drops the same partial ones: the count of actions stays the same everywhere. */
struct repl_defrag {
    tr_uuid self;
    struct repl_frag_slot *slot;
    size_t n, cap;
    uint64_t held;       /* bytes held in partial actions */
    int64_t span_lo;     /* the first group seqno consumed since the last action handed out */
    int64_t span_hi;     /*  ... and the last (both -1: none) */
};

enum repl_defrag_rc {
    REPL_DEFRAG_WHOLE = 0, /* not a fragment: the message itself is the action */
    REPL_DEFRAG_DONE,      /* the last piece: *out holds the whole action (malloc'ed) */
    REPL_DEFRAG_MORE,      /* taken: more pieces follow */
    REPL_DEFRAG_DROPPED,   /* a fragment nobody keeps (bad header, a piece without its start,
                            * beyond the limit): every member drops it alike */
    REPL_DEFRAG_NOMEM      /* this node cannot keep it: it must leave (fail-stop) */
};

void repl_defrag_init(struct repl_defrag *d, const tr_uuid *self);
void repl_defrag_free(struct repl_defrag *d);

/* Feeds the message at group seqno gseq. For WHOLE and DONE, *first is the first group seqno
 * the action accounts for: the pieces consumed since the last action handed out (this
 * action's and dropped ones) come before gseq, consecutive in the group's stream. */
enum repl_defrag_rc repl_defrag_feed(struct repl_defrag *d, const tr_uuid *sender, int64_t gseq,
                                     const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen,
                                     int64_t *first);

/* A view: every partial action is dropped (a member that joins now never saw their start).
 * *lo..*hi: group seqnos consumed and not yet accounted for by an action (-1: none). If this
 * node's own action was cut, *own gets what of it arrived (its start: the caller tells its
 * waiter) and *ownlen its length; else *own is NULL. */
void repl_defrag_view(struct repl_defrag *d, int64_t *lo, int64_t *hi, uint8_t **own, size_t *ownlen);

#endif
