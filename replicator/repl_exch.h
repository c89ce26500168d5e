/* replicator/repl_exch: the state exchange of a primary view (replication.md §2): every member
 * says what it holds in a STATE message; once all have arrived every member computes the same
 * result from the same messages. The decision is a pure function of those messages. */
#ifndef REPL_EXCH_H
#define REPL_EXCH_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_group.h"
#include "replicator/repl_msg.h"

struct repl_exch {
    bool active;
    int64_t conf_id;
    tr_uuid ghist; /* the view's message history and the seqno its stream continues after */
    int64_t close;
    int n, my_idx, got_n;
    struct repl_member *members;
    struct repl_msg_state *states;
    bool *got;
};

/* A new primary view: wait for the STATE of each of its members. -1 out of memory. */
int repl_exch_begin(struct repl_exch *x, const struct repl_gview *gv);
void repl_exch_clear(struct repl_exch *x);
/* A STATE message in total order: 1 when it completed the exchange, 0 when more are awaited,
 * -1 when it is not for this exchange (an older view's, or not from a member). */
int repl_exch_on_state(struct repl_exch *x, const tr_uuid *sender, const struct repl_msg_state *m);

struct repl_exch_result {
    bool no_state;     /* histories exist, but no member holds one completely: not primary */
    bool new_history;  /* nobody holds any history: a new one starts at seqno 0 */
    tr_uuid group;     /* the group's history ... */
    int64_t seqno;     /* ... and its last seqno: the view takes seqno + 1 */
    int rep;           /* the representative member (-1 for a new history) */
    bool joined;       /* member my_idx holds that state */
    bool receiving;    /* member my_idx is joining with that position (transfer under way) */
    bool reset_cert;   /* not every member continues from the previous primary component with
                        * that state: every member restarts its certification index at seqno */
    bool waiting;      /* with no_state: members hold the history, but none is known to hold all
                        * of it (some action may have been delivered only by absent members) */
    bool bootstrapped; /* nobody was known to hold the complete state: the operator's bootstrap
                        * chose the representative */
};

/* Who represents the group (replication.md §2): among the members known to hold every action
 * of the last stream in which the group ordered actions (its last completed exchange), those in
 * the previous primary component first, else the most advanced, ties to the lowest uuid. When no
 * member ordered in this message history yet (a bootstrap, a whole-cluster restart), the most
 * advanced history. ghist/close: the view's message history and the seqno its stream continues
 * after. */
void repl_exch_decide(const struct repl_msg_state *s, int n, int my_idx, const tr_uuid *ghist,
                      int64_t close, struct repl_exch_result *r);
/* s holds a complete history (not one half-received by a transfer, never an arbitrator). */
bool repl_exch_holds(const struct repl_msg_state *s);
/* s holds exactly the state the result names. */
bool repl_exch_same(const struct repl_msg_state *s, const struct repl_exch_result *r);

#endif
