/* replicator/repl_istdeps: what each IST write-set waits for before it applies, found by the
 * joiner certifying the range again in an index of its own, so that IST applies in parallel. */
#ifndef REPL_ISTDEPS_H
#define REPL_ISTDEPS_H

#include <stdint.h>

#include "replicator/repl_core.h"

/* Galera's IST records carry the seqno each write-set depends on (its receiver asserts
 * depends_seqno() >= 0), so its appliers take them in parallel. Our store keeps no such
 * seqno, and the joiner's own certification index restarts at its join view, so the receiver
 * certifies the records it reads in a scratch index that starts after first - 1: certification
 * is deterministic, and an index that lacks what came before first only makes everything wait
 * for first - 1 (docs/design/replicator.md, "IST"). Not thread-safe: one receiver owns one. */
struct repl_istdeps;

/* For records first, first + 1, ...; NULL when out of memory (records then wait for the one
 * before them, as repl_istdeps_set does with a NULL d). */
struct repl_istdeps *repl_istdeps_new(int64_t first);
void repl_istdeps_free(struct repl_istdeps *d);
/* Sets r->depends for the next record r (seqnos in increasing order): what certification
 * gives a write-set that passes; r->seqno - 1 for a view, a seqno without work, a piece of a
 * streaming transaction, or anything the scratch index cannot judge (and everything after it
 * waits for r). */
void repl_istdeps_set(struct repl_istdeps *d, struct repl_ist_rec *r);
/* The mean of seqno - depends over the write-sets so far (1: one after the other), as
 * Galera's cert_deps_distance: how many could apply at once. */
double repl_istdeps_distance(const struct repl_istdeps *d);
/* Every seqno up to committed has committed on this node: its keys can go (a later record
 * that saw less than that waits for the one before it). */
void repl_istdeps_committed(struct repl_istdeps *d, int64_t committed);

#endif
