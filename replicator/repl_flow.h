/* replicator/repl_flow: the flow-control decision (replication.md §5): when this node asks the
 * group to stop sending write-sets and when it lets it resume. Pure: the core calls it. */
#ifndef REPL_FLOW_H
#define REPL_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_core.h"

struct repl_flow {
    bool want_stop; /* what this node asks for now */
};

/* Galera's rule: stop above limit × √members (× 1 with single_primary), resume at or below
 * that × factor. An exempt node (desynced, donor, joiner waiting for its state, not
 * connected) never asks to stop and lifts its request. true when the wish changed. */
bool repl_flow_eval(struct repl_flow *f, const struct repl_flow_cfg *cfg, int members,
                    int64_t queue_len, bool exempt);
/* The two limits for a group of `members`. */
void repl_flow_limits(const struct repl_flow_cfg *cfg, int members, int64_t *upper, int64_t *lower);

#endif
