/* replicator/repl_arb: the arbitrator's part in the replicator's protocol (trireme-arbd,
 * docs/design/arbitrator.md): a STATE for every primary view, everything else dropped. Pure. */
#ifndef REPL_ARB_H
#define REPL_ARB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_buf.h"
#include "replicator/repl_exch.h"
#include "replicator/repl_group.h"

struct repl_arb {
    tr_uuid self;
    char name[REPL_NAME_LEN];
    tr_uuid group;     /* the history it last saw the group order in (nil: none yet) */
    int64_t seqno;     /* where that history stood at the last completed exchange */
    int64_t conf_id;   /* the current view */
    bool primary;      /* the current view is primary ... */
    bool ordering;     /* ... and its exchange named a group state: the data members order */
    int members;       /* in the current view */
    uint64_t exchanges, dropped; /* completed exchanges; messages delivered and dropped */
    struct repl_exch exch;
};

/* self may be nil: each view names this member (my_idx), and that uuid is used from then on. */
void repl_arb_init(struct repl_arb *a, const tr_uuid *self, const char *name);
void repl_arb_free(struct repl_arb *a);
/* A view. A primary one: its STATE is appended to out, to broadcast (1); a non-primary one:
 * nothing (0); -1 when the STATE cannot be encoded (out of memory: the arbitrator must leave,
 * or the exchange of that view never completes). */
int repl_arb_view(struct repl_arb *a, const struct repl_gview *gv, struct tr_buf *out);
/* A message in total order: a STATE of the current exchange is taken (1 when it completed the
 * exchange), anything else is counted and dropped (0). */
int repl_arb_msg(struct repl_arb *a, const tr_uuid *sender, const uint8_t *buf, size_t len);

#endif
