/* replicator/repl_inflight: this node's broadcasts still waiting for their place in the total
 * order: write-sets (with the last_seen that bounds certification purge) and causal markers. */
#ifndef REPL_INFLIGHT_H
#define REPL_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct repl_inflight_ent {
    uint64_t id;
    int64_t last_seen;
    bool causal;
};

struct repl_inflight {
    struct repl_inflight_ent *e;
    size_t n, cap;
    uint64_t next_id;
};

/* 0 and *id, or -1 out of memory. */
int repl_inflight_add(struct repl_inflight *f, bool causal, int64_t last_seen, uint64_t *id);
/* Removes id of that kind; true when it was there. */
bool repl_inflight_take(struct repl_inflight *f, uint64_t id, bool causal);
/* The lowest last_seen of the write-sets in flight, or `none` when there are none. */
int64_t repl_inflight_min_last_seen(const struct repl_inflight *f, int64_t none);
void repl_inflight_clear(struct repl_inflight *f);
void repl_inflight_free(struct repl_inflight *f);

#endif
