/* gcomm/gc_view: views (id, members, primary flag, history) and Galera's weighted quorum rule.
 * A view is what the replicator sees of the group; its id totally orders views. */
#ifndef GC_VIEW_H
#define GC_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_wire.h"

#define GC_MAX_MEMBERS 32
#define GC_NAME_MAX 64  /* including NUL */
#define GC_ADDR_MAX 128 /* including NUL */

typedef struct gc_member {
    tr_uuid uuid;
    uint64_t incarnation; /* process instance: a restart under the same uuid is a new member */
    char name[GC_NAME_MAX];
    char incoming[GC_ADDR_MAX]; /* the address clients reach this node on */
    uint8_t weight;
} gc_member;

typedef struct gc_view_id {
    uint64_t epoch; /* strictly increases from view to view */
    tr_uuid leader; /* the member that orders messages in this view */
    uint64_t leader_inc; /* the leader's incarnation: a restarted node never repeats an id */
} gc_view_id;

typedef struct gc_view {
    gc_view_id id;
    tr_uuid history; /* seqnos are consecutive within one history; 0 before the first primary view */
    bool primary;
    uint32_t n;
    gc_member m[GC_MAX_MEMBERS]; /* sorted by uuid */
} gc_view;

int gc_view_id_cmp(const gc_view_id *a, const gc_view_id *b);
/* Index of uuid in v, or -1. */
int gc_view_find(const gc_view *v, const tr_uuid *uuid);
uint32_t gc_view_weight(const gc_view *v);
void gc_view_sort(gc_view *v);
bool gc_view_equal(const gc_view *a, const gc_view *b);
/* The same members (uuid, incarnation, name, address, weight), whatever the ids. */
bool gc_view_same_members(const gc_view *a, const gc_view *b);

void gc_view_encode(gc_wbuf *w, const gc_view *v);
/* Returns 0, or -1 on malformed input (r->err set). */
int gc_view_decode(gc_rbuf *r, gc_view *v);

/* Galera's rule: 2*present + left > total is quorum; equal is split brain. */
enum gc_quorum { GC_Q_NO = 0, GC_Q_SPLIT, GC_Q_YES };
enum gc_quorum gc_quorum_eval(uint64_t present, uint64_t left, uint64_t total);

#endif
