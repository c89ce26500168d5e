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
    int64_t safe;    /* min of last over all members once all reported: the purge point */
    char *incoming;  /* incoming addresses joined by ',' */
};

/* Replaces the table (copies info). -1 out of memory (the table is then empty). */
int repl_members_set(struct repl_members *m, const struct repl_member *info, const uint8_t *state,
                     int n);
void repl_members_clear(struct repl_members *m);
int repl_members_find(const struct repl_members *m, const tr_uuid *id);
/* Members that hold or take data (all but arbitrators): who can vote on a write-set. */
int repl_members_data(const struct repl_members *m);
/* wsrep_sst_donor: names in order of preference; a trailing comma (or an empty list) allows any
 * synced member after them. -1 when none can serve. */
int repl_members_choose_donor(const struct repl_members *m, const char *donors, int joiner);
/* A LAST report; true and *safe when the purge point advanced: the minimum over the members
 * that hold data, once each has reported (arbitrators send none, as Galera leaves them out of
 * its commit cut). */
bool repl_members_on_last(struct repl_members *m, const tr_uuid *node, int64_t seqno,
                          int64_t *safe);
const char *repl_mstate_name(int s);

#endif
