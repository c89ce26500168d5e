/* replicator/repl_inflight: a small unordered array: a node has at most one broadcast in
 * flight per client connection, so a linear scan is cheaper than any index. */
#include "replicator/repl_inflight.h"

#include <stdlib.h>

#include "common/tr_fail.h"

int repl_inflight_add(struct repl_inflight *f, bool causal, int64_t last_seen, uint64_t *id)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        struct repl_inflight_ent *e =
            tr_fail_hit("inflight.add") ? NULL : realloc(f->e, cap * sizeof *e);
        if (!e) return -1;
        f->e = e;
        f->cap = cap;
    }
    *id = ++f->next_id;
    f->e[f->n++] = (struct repl_inflight_ent){*id, last_seen, causal};
    return 0;
}

bool repl_inflight_take(struct repl_inflight *f, uint64_t id, bool causal)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->e[i].id == id && f->e[i].causal == causal) {
            f->e[i] = f->e[--f->n];
            return true;
        }
    return false;
}

int64_t repl_inflight_min_last_seen(const struct repl_inflight *f, int64_t none)
{
    int64_t min = none;
    for (size_t i = 0; i < f->n; i++)
        if (!f->e[i].causal && f->e[i].last_seen < min) min = f->e[i].last_seen;
    return min;
}

void repl_inflight_clear(struct repl_inflight *f)
{
    f->n = 0;
}

void repl_inflight_free(struct repl_inflight *f)
{
    free(f->e);
    f->e = NULL;
    f->n = f->cap = 0;
}
