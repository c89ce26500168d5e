/* replicator/repl_vote: inconsistency votes (replication.md §7): a member that failed to apply
 * an ordered action asks the others; the majority's result stands and the others leave.
 * Pure: every member reaches the same result from the same VOTE messages. */
#ifndef REPL_VOTE_H
#define REPL_VOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_members.h"

#define REPL_VOTE_SENT 64

struct repl_vote;
struct repl_fail;

struct repl_votes {
    struct repl_fail *fails;  /* seqnos that failed here */
    struct repl_vote *votes;  /* votes in progress */
    int64_t *answers;         /* seqnos this node must answer once it has applied them */
    int nanswers, cap_answers;
    int64_t sent[REPL_VOTE_SENT]; /* the last seqnos this node voted on */
    unsigned sent_next;
};

/* The outcome of a vote, when one was decided. */
struct repl_vote_result {
    bool decided;
    bool lost;       /* this node's result lost: it must leave */
    int64_t seqno;
    uint64_t winner; /* 0: success */
    uint64_t mine;
    int agree, asked;
};

/* FNV-1a over the host's error text; never 0, which means success. */
uint64_t repl_vote_code(const void *err, size_t len);
/* seqno failed here with code. 1 when this node must broadcast VOTE(seqno, code), 0 when it
 * has voted on it already, -1 out of memory. */
int repl_votes_local_failure(struct repl_votes *v, int64_t seqno, uint64_t code);
/* This node's failure at seqno awaits the group's decision. */
bool repl_votes_pending(const struct repl_votes *v, int64_t seqno);
/* A VOTE in total order from a member of m (self: this node). A vote for a seqno beyond
 * last_seqno is bogus and ignored. -1 out of memory, else 0; *res tells a decision. */
int repl_votes_on_msg(struct repl_votes *v, const struct repl_members *m, const tr_uuid *self,
                      const tr_uuid *sender, int64_t seqno, uint64_t code, int64_t last_seqno,
                      struct repl_vote_result *res);
/* The committed position reached `committed`: seqnos this node now answers for, with success
 * (*out, up to cap; returns how many). */
int repl_votes_due(struct repl_votes *v, int64_t committed, int64_t *out, int cap);
/* A new primary view: members that left are no longer waited for. May decide one vote per
 * call (call again while res->decided). */
void repl_votes_view(struct repl_votes *v, const struct repl_members *m, const tr_uuid *self,
                     struct repl_vote_result *res);
/* This node's votes that have not come back through the group yet (a broadcast lost with a
 * view change): its failures, and success answers it sent to votes still waiting for them.
 * To send again. Returns how many (up to cap). */
int repl_votes_unseen(const struct repl_votes *v, const tr_uuid *self, int64_t *seqno,
                      uint64_t *code, int cap);
/* This node left the primary component: the votes in progress end here (nobody can finish
 * them outside a primary component), but its own undecided failures stay, to be asked again
 * at the next primary view, as Galera's voter waits across a non-primary period (gcs_vote
 * ends only at a group change or a close). */
void repl_votes_nonprim(struct repl_votes *v);
/* Failures of this node's own carried over a non-primary period and not asked again yet. */
bool repl_votes_carried(const struct repl_votes *v);
/* The next primary view: the carried failures go out again (repl_votes_unseen). */
void repl_votes_resume(struct repl_votes *v);
/* The members of m asked in a vote: those holding the state (not joiners or arbitrators). */
int repl_votes_voters(const struct repl_members *m);
/* A vote on a seqno after `after` is in progress here. */
bool repl_votes_busy(const struct repl_votes *v, int64_t after);
/* A failure of this node's own on a seqno after `after` whose vote is not decided. */
bool repl_votes_failed_here(const struct repl_votes *v, int64_t after);
void repl_votes_clear(struct repl_votes *v);

#endif
