/* replicator/repl_members: the members of the current primary view as the ordered stream
 * knows them: identity, state (as Galera's group tracks it), and LAST reports. Every member
 * keeps an identical table: it changes only on messages in total order. */
#ifndef REPL_MEMBERS_H
#define REPL_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_types.h"

/* A member's state in the group (Galera's gcs node states, gcs/src/gcs_node.hpp). */
enum repl_mstate {
    REPL_M_PRIM = 1, /* in the primary component without its state: may request a transfer */
    REPL_M_JOINER,   /* a donor was chosen for it: further requests are ignored */
    REPL_M_DONOR,    /* serving a transfer, or desynced */
    REPL_M_JOINED,   /* holds the state, catching up */
    REPL_M_SYNCED,
    REPL_M_ARBITRATOR, /* votes in gcomm's quorum, holds no data (docs/design/arbitrator.md):
                        * never a donor, not counted for purge or votes; no message changes it */
};

struct repl_members {
    int n;
    struct repl_member *info;
    uint8_t *state;  /* enum repl_mstate */
    int64_t *last;   /* LAST reports: committed position bound, -1 until reported */
    int64_t *cached; /* the lowest seqno each member's write-set store holds, -1 for none: from
                      * its STATE in the exchange, then from its JOIN and SYNC messages */
    int64_t safe;    /* min of last over all members once all reported: the purge point */
    char *incoming;  /* incoming addresses joined by ',' */
};

/* Replaces the table (copies info; cached may be NULL: none known). -1 out of memory (the table
 * is then empty). */
int repl_members_set(struct repl_members *m, const struct repl_member *info, const uint8_t *state,
                     const int64_t *cached, int n);
void repl_members_clear(struct repl_members *m);
int repl_members_find(const struct repl_members *m, const tr_uuid *id);
/* Members that hold or take data (all but arbitrators): who can vote on a write-set. */
int repl_members_data(const struct repl_members *m);
/* wsrep_sst_donor: names in order of preference; a trailing comma (or an empty list) allows any
 * synced member after them. need: the first seqno the joiner lacks when IST from this history
 * can serve it (-1: a snapshot only). With a need, a member the list allows whose store holds
 * need.. is chosen before one that would have to send a snapshot (Galera's
 * group_find_ist_donor): the named ones in the list's order, then, where any is allowed, the
 * one whose store starts highest (the lowest index on a tie); if none covers it, the choice
 * without a need. -1 when none can serve. */
int repl_members_choose_donor(const struct repl_members *m, const char *donors, int joiner,
                              int64_t need);
/* whether member i's store (as last reported) holds need.. */
bool repl_members_covers(const struct repl_members *m, int i, int64_t need);
/* A LAST report; true and *safe when the purge point advanced: the minimum over the members
 * that hold data, once each has reported (arbitrators send none, as Galera leaves them out of
 * its commit cut). */
bool repl_members_on_last(struct repl_members *m, const tr_uuid *node, int64_t seqno,
                          int64_t *safe);
const char *repl_mstate_name(int s);

#endif
