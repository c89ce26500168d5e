/* replicator/repl_istdeps: the joiner's scratch certification of an IST range, for the seqno
 * each write-set of it depends on (repl_istdeps.h says why it is sound). */
#include <stdlib.h>

#include "certification/cert_index.h"
#include "replicator/repl_istdeps.h"
#include "replicator/repl_ws.h"

struct repl_istdeps {
    struct cert_index *idx;
    int64_t first;
    int64_t purged; /* cert_purge was asked up to here */
    int64_t floor;  /* a record the index could not judge: everything after waits for it */
    uint64_t ws, dist; /* write-sets seen, and the sum of seqno - depends over them */
};

struct repl_istdeps *repl_istdeps_new(int64_t first)
{
    struct repl_istdeps *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->first = first;
    d->purged = d->floor = first - 1;
    d->idx = cert_index_new(first - 1);
    if (!d->idx) {
        free(d);
        return NULL;
    }
    return d;
}

void repl_istdeps_free(struct repl_istdeps *d)
{
    if (!d) return;
    cert_index_free(d->idx);
    free(d);
}

static void set(struct repl_istdeps *d, struct repl_ist_rec *r)
{
    const struct repl_ws *ws = r->ws;
    if (!ws || ws->decode_rc) { /* a view, or no work: a barrier, as certification has it */
        cert_barrier(d->idx, r->seqno);
        return;
    }
    int64_t dep = -1;
    int rc = cert_certify(d->idx, &ws->view, r->seqno, &dep);
    uint32_t f = ws->view.hdr.flags;
    /* A stream's pieces keep their order in the host (one context applies them all); the
     * scratch index never saw the pieces before first, so none of them is let go early. */
    bool piece = !(f & CERT_F_ISOLATION) &&
                 ((f & CERT_F_ROLLBACK) || (f & (CERT_F_TRX_START | CERT_F_TRX_END)) !=
                                               (CERT_F_TRX_START | CERT_F_TRX_END));
    if (rc != CERT_OK || dep < d->first - 1 || dep >= r->seqno) {
        /* The donor applied it, so this index should pass it too; one that lacks what came
         * before (purged here) or ran out of memory cannot say what it waits for, nor what
         * waits for it (its keys may not be in): it waits for everything, and so do the rest */
        d->floor = r->seqno;
        return;
    }
    if (!piece) r->depends = dep > d->floor ? dep : d->floor;
}

void repl_istdeps_set(struct repl_istdeps *d, struct repl_ist_rec *r)
{
    r->depends = r->seqno - 1;
    if (!d) return;
    set(d, r);
    if (r->ws) d->ws++, d->dist += (uint64_t)(r->seqno - r->depends);
}

double repl_istdeps_distance(const struct repl_istdeps *d)
{
    return d && d->ws ? (double)d->dist / (double)d->ws : 1.0;
}

void repl_istdeps_committed(struct repl_istdeps *d, int64_t committed)
{
    if (!d || committed <= d->purged) return;
    d->purged = committed;
    cert_purge(d->idx, committed);
}
