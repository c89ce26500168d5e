/* tests/sim/nsim_check: the whole-node invariants (replicator.md "Invariants"): one write-set
 * and one verdict per seqno everywhere, verdicts that match an oracle of the conflict rules, one
 * donation per request, and at the end identical stores holding every acknowledged commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicator/repl_msg.h"
#include "tests/sim/nsim.h"

enum { V_NONE = 0, V_PASS = 1, V_FAIL = 2, V_VIEW = 3 };

struct rec {
    uint64_t trx;
    bool failed_somewhere; /* an injected apply failure hit it on some node */
    uint8_t applied;       /* the stores that applied it (bit per node) */
    uint8_t verdict;
    int8_t who; /* the first node that decided it */
};

struct hist {
    tr_uuid id;
    struct rec *r; /* by seqno */
    size_t cap;
};

struct meta { /* a write-set the clients built, by trx id */
    int src;
    uint32_t rows; /* 0 for TOI */
    bool toi, acked;
    int64_t last_seen, seqno;
    tr_uuid hist;
};

static struct hist *hists;
static size_t nhists;
static struct meta *metas;
static size_t cap_metas;
static char **donated;
static size_t ndonated;

void nck_reset(void)
{
    nck_free();
}

void nck_free(void)
{
    for (size_t i = 0; i < nhists; i++) free(hists[i].r);
    free(hists);
    hists = NULL;
    nhists = 0;
    free(metas);
    metas = NULL;
    cap_metas = 0;
    for (size_t i = 0; i < ndonated; i++) free(donated[i]);
    free(donated);
    donated = NULL;
    ndonated = 0;
}

static struct hist *hist_of(const tr_uuid *id)
{
    for (size_t i = 0; i < nhists; i++)
        if (!tr_uuid_compare(&hists[i].id, id)) return &hists[i];
    hists = realloc(hists, (nhists + 1) * sizeof *hists);
    if (!hists) abort();
    hists[nhists] = (struct hist){*id, NULL, 0};
    return &hists[nhists++];
}

static struct rec *rec_at(struct hist *h, int64_t seqno)
{
    if (seqno < 0) return NULL;
    if ((size_t)seqno >= h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap <= (size_t)seqno) cap *= 2;
        h->r = realloc(h->r, cap * sizeof *h->r);
        if (!h->r) abort();
        memset(h->r + h->cap, 0, (cap - h->cap) * sizeof *h->r);
        h->cap = cap;
    }
    return &h->r[seqno];
}

static struct meta *meta_of(uint64_t trx)
{
    if (trx >= cap_metas) {
        size_t cap = cap_metas ? cap_metas : 1024;
        while (cap <= trx) cap *= 2;
        metas = realloc(metas, cap * sizeof *metas);
        if (!metas) abort();
        memset(metas + cap_metas, 0, (cap - cap_metas) * sizeof *metas);
        cap_metas = cap;
    }
    return &metas[trx];
}

void nck_ws_built(uint64_t trx, int src, uint32_t rows, bool toi, int64_t last_seen)
{
    struct meta *w = meta_of(trx);
    *w = (struct meta){.src = src, .rows = rows, .toi = toi, .last_seen = last_seen, .seqno = -1};
}

static const char *vname(int v)
{
    static const char *n[] = {"nothing", "a passed write-set", "a refused write-set", "a view"};
    return n[v & 3];
}

/* The conflict rules, from the write-sets themselves: a write-set conflicts with one that passed
 * inside its window (after its last_seen, before it) when that one is TOI, or is another node's
 * and shares a row (certification/cert_index.c: the rule table, TOI and source). */
static int64_t conflict(struct hist *h, const struct meta *w, int64_t seqno)
{
    if (w->toi) return -1; /* TOI never fails: it runs alone */
    for (int64_t s = w->last_seen + 1; s < seqno; s++) {
        struct rec *r = rec_at(h, s);
        if (r->verdict != V_PASS || !r->trx) continue;
        const struct meta *o = meta_of(r->trx);
        if (o->toi || (o->src != w->src && (o->rows & w->rows))) return s;
    }
    return -1;
}

void nck_ordered(struct nsim *m, int i, const tr_uuid *history, int64_t seqno, uint64_t trx,
                 int verdict, int64_t floor, bool ist)
{
    struct hist *h = hist_of(history);
    struct rec *r = rec_at(h, seqno);
    if (!r) return;
    if (ist) { /* an IST record without bytes: a refused write-set or a view */
        if (r->verdict == V_PASS && !r->failed_somewhere) /* a vote may have said it fails */
            chk_fail(&m->net, "seqno %" PRId64 ": n%d received by IST that it needs no work, n%d applied trx %" PRIu64,
                     seqno, i, r->who, r->trx);
        return;
    }
    if (r->verdict != V_NONE && !r->applied && (r->verdict != verdict || (r->trx && trx && r->trx != trx))) {
        /* ordered, then lost before any store applied it (its only holders crashed, and the
         * group re-formed from what survived): the seqno is ordered anew. Never acknowledged. */
        if (r->trx && r->trx < cap_metas && metas[r->trx].seqno == seqno) metas[r->trx].seqno = -2;
        memset(r, 0, sizeof *r);
    }
    if (r->verdict != V_NONE) {
        if (r->verdict != verdict || (r->trx && trx && r->trx != trx))
            chk_fail(&m->net, "seqno %" PRId64 ": n%d ordered %s (trx %" PRIu64 "), n%d %s (trx %" PRIu64 ")",
                     seqno, i, vname(verdict), trx, r->who, vname(r->verdict), r->trx);
        return;
    }
    r->trx = trx;
    r->verdict = (uint8_t)verdict;
    r->who = (int8_t)i;
    if (verdict == V_VIEW || !trx) return;
    struct meta *w = meta_of(trx);
    if (w->seqno == -2) return; /* ordered before a power loss that lost it: not again */
    if (w->seqno >= 0) {
        chk_fail(&m->net, "trx %" PRIu64 " ordered twice: at %" PRId64 " and %" PRId64, trx, w->seqno, seqno);
        return;
    }
    w->seqno = seqno;
    w->hist = *history;
    int64_t c = conflict(h, w, seqno);
    if (verdict == V_PASS && c >= 0)
        chk_fail(&m->net, "seqno %" PRId64 " (trx %" PRIu64 " from n%d, last_seen %" PRId64 ") passed "
                          "certification although seqno %" PRId64 " conflicts with it",
                 seqno, trx, w->src, w->last_seen, c);
    if (verdict == V_FAIL && w->toi)
        chk_fail(&m->net, "seqno %" PRId64 ": a TOI write-set failed certification", seqno);
    if (verdict == V_FAIL && !w->toi && c < 0 && w->last_seen >= floor)
        chk_fail(&m->net, "seqno %" PRId64 " (trx %" PRIu64 " from n%d, last_seen %" PRId64 ") failed "
                          "certification without a conflict (index starts at %" PRId64 ")",
                 seqno, trx, w->src, w->last_seen, floor);
}

void nck_failed(struct nsim *m, const tr_uuid *history, int64_t seqno)
{
    (void)m;
    struct rec *r = rec_at(hist_of(history), seqno);
    if (r) r->failed_somewhere = true;
}

/* A store applied seqno (durably). */
void nck_applied(struct nsim *m, int node, const tr_uuid *history, int64_t seqno)
{
    (void)m;
    struct rec *r = rec_at(hist_of(history), seqno);
    if (r) r->applied |= (uint8_t)(1u << node);
}

/* A store was thrown away (its node left to avoid diverging): what it alone applied is gone. */
void nck_store_lost(struct nsim *m, int node)
{
    (void)m;
    for (size_t h = 0; h < nhists; h++)
        for (size_t k = 0; k < hists[h].cap; k++) hists[h].r[k].applied &= (uint8_t)~(1u << node);
}

void nck_acked(struct nsim *m, uint64_t trx)
{
    struct meta *w = meta_of(trx);
    if (w->seqno < 0) chk_fail(&m->net, "trx %" PRIu64 " acknowledged but never ordered", trx);
    w->acked = true;
    m->acked++;
}

void nck_donated(struct nsim *m, const void *req, size_t len)
{
    for (size_t k = 0; k < ndonated; k++)
        if (strlen(donated[k]) + 1 == len && !memcmp(donated[k], req, len)) {
            chk_fail(&m->net, "state transfer request '%s' served twice", donated[k]);
            return;
        }
    donated = realloc(donated, (ndonated + 1) * sizeof *donated);
    if (!donated) abort();
    donated[ndonated] = strndup(req, len);
    if (!donated[ndonated]) abort();
    ndonated++;
}

/* A LAST report bounds the certification purge on every member: it may not pass the last_seen
 * of a write-set this node still waits to see ordered, or that one fails as too old. */
void nck_broadcast(struct nsim *m, int i, const uint8_t *buf, size_t len)
{
    struct repl_msg_last l;
    if (!repl_msg_is_control(buf, len) || repl_msg_type(buf) != REPL_MSG_LAST ||
        repl_msg_last_decode(buf, len, &l))
        return;
    const struct ns_node *nd = &m->nd[i];
    if (l.seqno > nd->applied)
        chk_fail(&m->net, "n%d reports LAST %" PRId64 " having committed only %" PRId64, i, l.seqno, nd->applied);
    for (int k = 0; k < NS_CLIENTS; k++)
        if (nd->cl[k].st == NC_ORDER && l.seqno > nd->cl[k].last_seen)
            chk_fail(&m->net, "n%d reports LAST %" PRId64 " while its trx %" PRIu64 " (last_seen %" PRId64
                              ") awaits its order: the purge may fail it as too old",
                     i, l.seqno, nd->cl[k].trx_id, nd->cl[k].last_seen);
}

void nck_step(struct nsim *m)
{
    (void)m; /* per-step state invariants run inside every core step (nsim_host.c step) */
}

/* The group settled: every store holds the same history, and every acknowledged commit. */
void nck_final(struct nsim *m)
{
    const struct ns_log *ref = &m->nd[0].log;
    for (int i = 0; i < m->n; i++) {
        const struct ns_log *l = &m->nd[i].log;
        if (m->nd[i].arb) continue; /* it keeps no store */
        if (tr_uuid_compare(&l->history, &ref->history))
            return chk_fail(&m->net, "n%d and n0 hold different histories", i);
        for (size_t k = 0; k < l->n; k++) {
            /* a write-set that failed on this node applied nothing: that is consistent only
             * where the others applied nothing too (a vote decided it fails everywhere) */
            int64_t s = l->base + (int64_t)k, v = l->e[k] == NS_LOG_FAILED ? 0 : l->e[k];
            if (s < ref->base || s >= ref->base + (int64_t)ref->n) continue;
            int64_t rv = ref->e[s - ref->base] == NS_LOG_FAILED ? 0 : ref->e[s - ref->base];
            if (rv != v)
                return chk_fail(&m->net, "seqno %" PRId64 ": n%d applied %" PRId64 "%s, n0 %" PRId64 "%s", s, i,
                                v, l->e[k] == NS_LOG_FAILED ? " (it failed there)" : "", rv,
                                ref->e[s - ref->base] == NS_LOG_FAILED ? " (it failed there)" : "");
        }
    }
    for (size_t t = 1; t < cap_metas && t <= m->next_trx; t++) {
        const struct meta *w = &metas[t];
        if (!w->acked) continue;
        if (tr_uuid_compare(&w->hist, &ref->history))
            return chk_fail(&m->net, "acknowledged trx %" PRIu64 " belongs to a history the group lost", t);
        /* the group voted that it fails everywhere: its originator committed it, lost the vote
         * and left (Galera's inconsistency voting does the same) */
        struct rec *r = rec_at(hist_of(&w->hist), w->seqno);
        int64_t at = w->seqno - ref->base;
        if (r && r->failed_somewhere && at >= 0 && (size_t)at < ref->n &&
            (ref->e[at] == 0 || ref->e[at] == NS_LOG_FAILED))
            continue;
        for (int i = 0; i < m->n; i++) {
            const struct ns_log *l = &m->nd[i].log;
            if (m->nd[i].arb || w->seqno < l->base) continue;
            if (w->seqno >= l->base + (int64_t)l->n || l->e[w->seqno - l->base] != (int64_t)t)
                return chk_fail(&m->net, "acknowledged trx %" PRIu64 " (seqno %" PRId64 ") is missing on n%d",
                                t, w->seqno, i);
        }
    }
}
