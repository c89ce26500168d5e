/* replicator/repl_flow: flow-control limits as Galera computes them (gcs/src/gcs.cpp: the
 * upper limit grows with the square root of the group size; the lower is a fraction of it). */
#include "replicator/repl_flow.h"

#include <math.h>

void repl_flow_limits(const struct repl_flow_cfg *cfg, int members, int64_t *upper, int64_t *lower)
{
    double k = cfg->single_primary || members < 2 ? 1.0 : sqrt((double)members);
    *upper = (int64_t)((double)cfg->limit * k + 0.5);
    *lower = (int64_t)((double)*upper * cfg->factor + 0.5);
}

bool repl_flow_eval(struct repl_flow *f, const struct repl_flow_cfg *cfg, int members,
                    int64_t queue_len, bool exempt)
{
    int64_t upper, lower;
    repl_flow_limits(cfg, members, &upper, &lower);
    bool want = f->want_stop;
    if (exempt)
        want = false;
    else if (queue_len > upper)
        want = true;
    else if (queue_len <= lower)
        want = false;
    if (want == f->want_stop) return false;
    f->want_stop = want;
    return true;
}
