/* tests/sim/nsim_check: the whole-node invariants (replicator.md "Invariants", streaming.md §3):
 * one write-set and one verdict per seqno everywhere, verdicts that match an oracle of the
 * conflict rules (streams included), one donation per request, streams that end alike
 * everywhere, and at the end identical stores holding every acknowledged commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicator/repl_msg.h"
#include "tests/sim/nsim.h"

enum { V_NONE = 0, V_PASS = 1, V_FAIL = 2, V_VIEW = 3 };

struct rec {
    uint64_t ws; /* the write-set's number, 0 for none */
    bool failed_somewhere; /* an injected apply failure hit it on some node */
    uint8_t applied;       /* the stores that applied it (bit per node) */
    uint8_t verdict;
    int8_t who; /* the first node that decided it */
    bool has_dep;   /* dep: what certification made it wait for, as ordered live */
    int64_t dep;
    struct repl_view *view; /* a primary view: as the first node installed it */
};

struct hist {
    tr_uuid id;
    struct rec *r; /* by seqno */
    size_t cap;
    const struct repl_view *prim; /* its last primary view (owned by its rec) */
};

struct meta { /* a write-set the clients built, by its number */
    int src;
    tr_uuid self;  /* its originator's identity */
    uint32_t rows; /* 0 for TOI */
    bool toi, acked;
    int64_t last_seen, seqno;
    tr_uuid hist;
    uint64_t trx;
    uint8_t piece; /* enum ns_piece */
    int frag;      /* a stream's pieces: 1, 2, ... */
};

/* A streaming transaction as the ordered stream decided it (the first decider of each seqno). */
struct smeta {
    tr_uuid self;       /* its originator */
    tr_uuid hist;       /* the history it was ordered in (its last piece's) */
    bool opened;        /* a fragment passed */
    bool failed;        /* a fragment failed: only a rollback may follow */
    int last_frag;
    int64_t last_seq;
    int64_t end;        /* its commit, rollback fragment or closing view (-1: open) */
    bool committed, by_view;
    /* where the hosts ended it: end, or earlier at a primary view with the same members as the
     * previous one (wsrep-lib rolls back every stream there; the index keeps it until its
     * rollback fragment or a reset) */
    int64_t host_end;
    bool host_by_view;
    bool commit_seen;   /* a store committed it: with nfrag fragments, numbers summing to sum */
    int nfrag;
    uint64_t sum;
};

static struct hist *hists;
static size_t nhists;
static struct meta *metas;
static size_t cap_metas;
static struct smeta *smetas;
static size_t cap_smetas;
static char **donated;
static size_t ndonated;

void nck_reset(void)
{
    nck_free();
}

void nck_free(void)
{
    for (size_t i = 0; i < nhists; i++) {
        for (size_t k = 0; k < hists[i].cap; k++) free(hists[i].r[k].view);
        free(hists[i].r);
    }
    free(hists);
    hists = NULL;
    nhists = 0;
    free(metas);
    metas = NULL;
    cap_metas = 0;
    free(smetas);
    smetas = NULL;
    cap_smetas = 0;
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
    hists[nhists] = (struct hist){*id, NULL, 0, NULL};
    return &hists[nhists++];
}

/* Grows the zero-filled array *p of *cap elements of size elem to hold index i; the old
 * capacity (the first new element). */
static size_t grow(void **p, size_t *cap, size_t i, size_t elem)
{
    size_t old = *cap;
    if (i < old) return old;
    size_t n = old ? old : 256;
    while (n <= i) n *= 2;
    char *q = realloc(*p, n * elem);
    if (!q) abort();
    memset(q + old * elem, 0, (n - old) * elem);
    *p = q;
    *cap = n;
    return old;
}

static struct rec *rec_at(struct hist *h, int64_t seqno)
{
    if (seqno < 0) return NULL;
    grow((void **)&h->r, &h->cap, (size_t)seqno, sizeof *h->r);
    return &h->r[seqno];
}

static struct meta *meta_of(uint64_t ws)
{
    grow((void **)&metas, &cap_metas, ws, sizeof *metas);
    return &metas[ws];
}

static struct smeta *smeta_of(uint64_t trx)
{
    for (size_t k = grow((void **)&smetas, &cap_smetas, trx, sizeof *smetas); k < cap_smetas; k++)
        smetas[k] = (struct smeta){.end = -1, .last_seq = -1, .host_end = -1};
    return &smetas[trx];
}

void nck_ws_built(uint64_t ws, uint64_t trx, enum ns_piece piece, int frag, int src, const tr_uuid *self,
                  uint32_t rows, bool toi, int64_t last_seen)
{
    struct meta *w = meta_of(ws);
    *w = (struct meta){.src = src, .self = *self, .rows = rows, .toi = toi, .last_seen = last_seen,
                       .seqno = -1, .trx = trx, .piece = (uint8_t)piece, .frag = frag};
    if (piece == NP_FIRST) smeta_of(trx)->self = *self;
}

bool nck_sr_ended(uint64_t trx, const tr_uuid *h)
{
    const struct smeta *st = smeta_of(trx);
    return st->host_end >= 0 && !tr_uuid_compare(&st->hist, h);
}

bool nck_ws_ordered(uint64_t ws)
{
    return ws < cap_metas && metas[ws].seqno >= 0;
}

uint64_t nck_trx_of(uint64_t ws)
{
    return ws < cap_metas && metas[ws].piece != NP_TRX ? metas[ws].trx : 0;
}

/* The stream ended (rolled back) at seqno of history h before `before`: its fragments no longer
 * count against anybody (the index gave their references back). */
bool nck_sr_gone(uint64_t trx, const tr_uuid *h, int64_t seqno)
{
    const struct smeta *st = smeta_of(trx);
    return st->host_by_view && st->host_end >= 0 && st->host_end < seqno && !tr_uuid_compare(&st->hist, h);
}

static bool rolled_back_before(const struct meta *o, const tr_uuid *h, int64_t before)
{
    if (o->piece != NP_FIRST && o->piece != NP_MIDDLE) return false;
    const struct smeta *st = smeta_of(o->trx);
    return st->end >= 0 && !st->committed && st->end < before && !tr_uuid_compare(&st->hist, h);
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
    if (w->toi || w->piece == NP_ROLLBACK) return -1; /* TOI runs alone; a rollback is not tested */
    for (int64_t s = w->last_seen + 1; s < seqno; s++) {
        struct rec *r = rec_at(h, s);
        if (r->verdict != V_PASS || !r->ws) continue;
        const struct meta *o = meta_of(r->ws);
        if (rolled_back_before(o, &h->id, seqno)) continue;
        if (o->toi || (o->src != w->src && (o->rows & w->rows))) return s;
    }
    return -1;
}

/* A primary view at seqno: every member's index and host roll back, there, the open streams
 * whose originator is not in it (streaming.md §4). */
static void view_closes(struct hist *h, int64_t seqno, const struct repl_view *v)
{
    if (!v || v->status != REPL_VIEW_PRIMARY) return;
    const struct repl_view *p = h->prim;
    bool equal = p && p->memb_num == v->memb_num;
    for (int j = 0; j < v->memb_num && equal; j++) {
        bool in = false;
        for (int k = 0; k < p->memb_num && !in; k++) in = !tr_uuid_compare(&p->members[k].id, &v->members[j].id);
        equal = in;
    }
    for (size_t t = 1; t < cap_smetas; t++) {
        struct smeta *st = &smetas[t];
        if (!st->opened || st->host_end >= 0 || tr_uuid_compare(&st->hist, &h->id) || st->last_seq >= seqno) continue;
        bool in = false;
        for (int k = 0; k < v->memb_num && !in; k++) in = !tr_uuid_compare(&v->members[k].id, &st->self);
        if (in && !equal) continue;
        st->host_end = seqno;
        st->host_by_view = true;
        if (!in && st->end < 0) {
            st->end = seqno;
            st->by_view = true;
        }
    }
}

/* The stream's pieces in the order decided (the first decider of each seqno). */
static void piece_ordered(struct nsim *m, const tr_uuid *history, int64_t seqno, const struct meta *w,
                          int verdict)
{
    struct smeta *st = smeta_of(w->trx);
    bool same = !tr_uuid_compare(&st->hist, history);
    if (!same) { /* first piece in this history (or the history it was in was lost) */
        st->hist = *history;
        st->opened = st->failed = st->committed = st->by_view = st->host_by_view = false;
        st->end = st->last_seq = st->host_end = -1;
        st->last_frag = 0;
    }
    if (w->piece != NP_ROLLBACK) {
        if (st->last_seq >= seqno || w->frag <= st->last_frag)
            chk_fail(&m->net, "seqno %" PRId64 ": fragment %d of stream trx %" PRIu64 " ordered after fragment %d "
                              "(seqno %" PRId64 ")", seqno, w->frag, w->trx, st->last_frag, st->last_seq);
        st->last_frag = w->frag;
        st->last_seq = seqno;
    }
    if (verdict == V_FAIL) {
        if (w->piece == NP_ROLLBACK)
            chk_fail(&m->net, "seqno %" PRId64 ": the rollback fragment of trx %" PRIu64 " failed certification",
                     seqno, w->trx);
        st->failed = true;
        return;
    }
    if (w->piece == NP_ROLLBACK) {
        if (st->end < 0) st->end = seqno;
        if (st->host_end < 0) st->host_end = seqno;
        return;
    }
    /* a conflicting fragment aborts the whole transaction; a rolled-back one gets no more */
    if (st->failed)
        chk_fail(&m->net, "seqno %" PRId64 ": fragment %d of stream trx %" PRIu64 " passed after an earlier one "
                          "failed: only its rollback may follow", seqno, w->frag, w->trx);
    if (st->end >= 0)
        chk_fail(&m->net, "seqno %" PRId64 ": fragment %d of stream trx %" PRIu64 " passed after the stream %s at %" PRId64,
                 seqno, w->frag, w->trx, st->committed ? "committed" : "was rolled back", st->end);
    if (w->piece == NP_COMMIT) {
        st->end = seqno;
        st->committed = true;
        if (st->host_end < 0) st->host_end = seqno;
    } else {
        st->opened = true;
    }
}

/* Two primary views at one seqno that differ (another view number or other members). */
static bool views_differ(const struct repl_view *a, const struct repl_view *b)
{
    if (!a || !b || b->status != REPL_VIEW_PRIMARY) return false;
    if (a->view != b->view || a->memb_num != b->memb_num) return true;
    for (int k = 0; k < a->memb_num; k++)
        if (tr_uuid_compare(&a->members[k].id, &b->members[k].id)) return true;
    return false;
}

void nck_ordered(struct nsim *m, int i, const tr_uuid *history, int64_t seqno, uint64_t trx,
                 int verdict, int64_t floor, bool ist, const struct repl_view *v)
{
    struct hist *h = hist_of(history);
    struct rec *r = rec_at(h, seqno);
    if (!r) return;
    if (ist) { /* a record without bytes: a refused write-set (a view comes as one) */
        if (r->verdict == V_PASS && !r->failed_somewhere) /* a vote may have said it fails */
            chk_fail(&m->net, "seqno %" PRId64 ": n%d received by IST that it needs no work, n%d applied write-set %" PRIu64,
                     seqno, i, r->who, r->ws);
        if (r->verdict == V_VIEW && r->view) /* its host would miss the view (wsrep-lib recovers streams there) */
            chk_fail(&m->net, "seqno %" PRId64 ": n%d skips it, but it is a primary view of %d members", seqno, i,
                     r->view->memb_num);
        return;
    }
    bool other_view = r->verdict == V_VIEW && verdict == V_VIEW && views_differ(r->view, v);
    if (r->verdict != V_NONE && !r->applied &&
        (r->verdict != verdict || (r->ws && trx && r->ws != trx) || other_view)) {
        /* ordered, then lost before any store applied it (its only holders crashed, and the
         * group re-formed from what survived): the seqno is ordered anew. Never acknowledged.
         * A view too: the one that closed streams there may now be another (seed 1890 with
         * --streaming: the stores that applied view 14 at 1070 were thrown away, and view 20
         * took 1070 without closing the streams that view 14 had closed). */
        if (r->ws && r->ws < cap_metas && metas[r->ws].seqno == seqno) metas[r->ws].seqno = -2;
        if (h->prim == r->view) h->prim = NULL;
        free(r->view);
        memset(r, 0, sizeof *r);
        /* what the streams' pieces and views decided from here on is decided anew */
        for (size_t t = 1; t < cap_smetas; t++) {
            struct smeta *st = &smetas[t];
            if (tr_uuid_compare(&st->hist, history)) continue;
            if (st->end >= seqno) st->end = -1, st->committed = st->by_view = false;
            if (st->host_end >= seqno) st->host_end = -1, st->host_by_view = false;
            if (st->last_seq >= seqno) st->last_seq = -1;
        }
    }
    if (r->verdict != V_NONE) {
        if (r->verdict == V_VIEW && verdict == V_VIEW && views_differ(r->view, v))
            chk_fail(&m->net, "seqno %" PRId64 ": n%d ordered view %" PRId64 ", n%d view %" PRId64, seqno, i,
                     v->view, r->who, r->view->view);
        else if (r->verdict != verdict || (r->ws && trx && r->ws != trx))
            chk_fail(&m->net, "seqno %" PRId64 ": n%d ordered %s (write-set %" PRIu64 "), n%d %s (write-set %" PRIu64 ")",
                     seqno, i, vname(verdict), trx, r->who, vname(r->verdict), r->ws);
        else if (other_view)
            chk_fail(&m->net, "seqno %" PRId64 ": n%d ordered view %" PRId64 ", n%d view %" PRId64 " (applied there)", seqno,
                     i, v->view, r->who, r->view->view);
        return;
    }
    r->ws = trx;
    r->verdict = (uint8_t)verdict;
    r->who = (int8_t)i;
    if (verdict == V_VIEW) view_closes(h, seqno, v);
    if (verdict == V_VIEW && v && v->status == REPL_VIEW_PRIMARY) {
        r->view = malloc(repl_view_size(v->memb_num));
        if (!r->view) abort();
        memcpy(r->view, v, repl_view_size(v->memb_num));
        h->prim = r->view;
    }
    if (verdict == V_VIEW || !trx) return;
    struct meta *w = meta_of(trx);
    if (w->seqno == -2) return; /* ordered before a power loss that lost it: not again */
    if (w->seqno >= 0) {
        chk_fail(&m->net, "trx %" PRIu64 " ordered twice: at %" PRId64 " and %" PRId64, trx, w->seqno, seqno);
        return;
    }
    w->seqno = seqno;
    w->hist = *history;
    if (w->piece != NP_TRX) piece_ordered(m, history, seqno, w, verdict);
    int64_t c = conflict(h, w, seqno);
    if (verdict == V_PASS && c >= 0)
        chk_fail(&m->net, "seqno %" PRId64 " (write-set %" PRIu64 " of trx %" PRIu64 " from n%d, last_seen %" PRId64
                          ") passed certification although seqno %" PRId64 " (write-set %" PRIu64 "%s) conflicts with it",
                 seqno, trx, w->trx, w->src, w->last_seen, c, rec_at(h, c)->ws,
                 meta_of(rec_at(h, c)->ws)->piece == NP_TRX ? "" : ", a stream's fragment");
    if (verdict == V_FAIL && w->toi)
        chk_fail(&m->net, "seqno %" PRId64 ": a TOI write-set failed certification", seqno);
    if (verdict == V_FAIL && !w->toi && c < 0 && w->last_seen >= floor)
        chk_fail(&m->net, "seqno %" PRId64 " (write-set %" PRIu64 " of trx %" PRIu64 " from n%d, last_seen %" PRId64
                          ") failed certification without a conflict (index starts at %" PRId64 ")",
                 seqno, trx, w->trx, w->src, w->last_seen, floor);
}

/* A view node i missed came with its IST: the one the group ordered there, the same members. */
void nck_past_view(struct nsim *m, int i, const tr_uuid *history, int64_t seqno, const struct repl_view *v)
{
    const struct repl_view *o = nck_view_at(history, seqno);
    bool same = o && v && o->memb_num == v->memb_num && o->view == v->view && v->state_id.seqno == seqno &&
                !tr_uuid_compare(&v->state_id.uuid, history);
    for (int k = 0; same && k < v->memb_num; k++)
        same = !tr_uuid_compare(&o->members[k].id, &v->members[k].id) && !strcmp(o->members[k].name, v->members[k].name);
    if (!same)
        chk_fail(&m->net, "seqno %" PRId64 ": n%d received by IST a view (%d members) that is not the one ordered there (%d)",
                 seqno, i, v ? v->memb_num : -1, o ? o->memb_num : -1);
}

const struct repl_view *nck_view_at(const tr_uuid *history, int64_t seqno)
{
    struct rec *r = rec_at(hist_of(history), seqno);
    return r && r->verdict == V_VIEW ? r->view : NULL;
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
    if (w->seqno < 0) chk_fail(&m->net, "write-set %" PRIu64 " acknowledged but never ordered", trx);
    w->acked = true;
    m->acked++;
}

/* Every store that commits a stream commits the same fragments: those that passed. */
void nck_sr_commit(struct nsim *m, int node, uint64_t trx, int nfrag, uint64_t sum)
{
    struct smeta *st = smeta_of(trx);
    if (!st->commit_seen) {
        st->commit_seen = true;
        st->nfrag = nfrag;
        st->sum = sum;
    } else if (st->nfrag != nfrag || st->sum != sum) {
        chk_fail(&m->net, "n%d committed stream trx %" PRIu64 " with %d fragments (sum %" PRIu64 "), another "
                          "store with %d (sum %" PRIu64 ")", node, trx, nfrag, sum, st->nfrag, st->sum);
    }
}

/* A store holds no stream that ended at or before what it applied: a rollback fragment it
 * applied, or a primary view without the originator that it processed as a view (a view that
 * reached it inside an IST range is judged at its next view). */
static void sr_check_store(struct nsim *m, int i, int64_t view_at)
{
    const struct ns_node *nd = &m->nd[i];
    for (int k = 0; k < nd->log.nsr; k++) {
        const struct ns_sr *sr = &nd->log.sr[k];
        const struct smeta *st = smeta_of(sr->trx);
        if (st->host_end < 0 || tr_uuid_compare(&st->hist, &nd->log.history)) continue;
        if (st->host_by_view ? st->host_end <= view_at : st->host_end <= nd->applied)
            chk_fail(&m->net, "n%d (applied %" PRId64 ") still holds stream trx %" PRIu64 " open (%d fragments), "
                              "which %s at seqno %" PRId64, i, nd->applied, sr->trx, sr->nfrag,
                     st->host_end == st->end && st->committed ? "committed"
                     : st->by_view ? "its originator's leaving closed"
                     : st->host_by_view ? "a primary view with the previous one's members closed"
                                        : "rolled back",
                     st->host_end);
    }
}

void nck_view_applied(struct nsim *m, int node, int64_t seqno)
{
    sr_check_store(m, node, seqno);
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
    /* the other per-step state invariants run inside every core step (nsim_host.c step) */
    for (int i = 0; i < m->n; i++)
        if (m->nd[i].core) sr_check_store(m, i, -1);
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
    /* streams: every store holds none open; a committed one took effect once everywhere, with
     * the fragments that passed; one that did not commit took effect nowhere */
    for (int i = 0; i < m->n; i++)
        if (!m->nd[i].arb && m->nd[i].log.nsr)
            return chk_fail(&m->net, "n%d still holds %d open streams (trx %" PRIu64 ") after the clients stopped", i,
                            m->nd[i].log.nsr, m->nd[i].log.sr[0].trx);
    for (size_t t = 1; t < cap_smetas && t <= m->next_trx; t++) {
        const struct smeta *st = &smetas[t];
        /* committed in the hosts: not rolled back at a view before its commit fragment */
        bool committed = st->committed && st->host_end == st->end && !tr_uuid_compare(&st->hist, &ref->history);
        int nfrag = 0;
        uint64_t sum = 0;
        if (committed)
            for (size_t w = 1; w < cap_metas && w <= m->next_ws; w++)
                if (metas[w].trx == t && (metas[w].piece == NP_FIRST || metas[w].piece == NP_MIDDLE) &&
                    metas[w].seqno >= 0 && !tr_uuid_compare(&metas[w].hist, &ref->history) &&
                    rec_at(hist_of(&ref->history), metas[w].seqno)->verdict == V_PASS) {
                    nfrag++;
                    sum += w;
                }
        if (committed && st->commit_seen && (st->nfrag != nfrag || st->sum != sum))
            return chk_fail(&m->net, "stream trx %" PRIu64 " committed with %d fragments (sum %" PRIu64 "), but %d passed "
                                     "(sum %" PRIu64 ")", (uint64_t)t, st->nfrag, st->sum, nfrag, sum);
        for (int i = 0; i < m->n; i++) {
            const struct ns_log *l = &m->nd[i].log;
            if (m->nd[i].arb) continue;
            unsigned done = t < l->done_cap ? l->done[t] : 0;
            if (committed && st->end >= l->base && done != 1)
                return chk_fail(&m->net, "stream trx %" PRIu64 " committed at %" PRId64 ", but n%d's store holds it %u times",
                                (uint64_t)t, st->end, i, done);
            if (!committed && done)
                return chk_fail(&m->net, "stream trx %" PRIu64 " never committed, but n%d's store holds its effects",
                                (uint64_t)t, i);
        }
    }
    for (size_t t = 1; t < cap_metas && t <= m->next_ws; t++) {
        const struct meta *w = &metas[t];
        if (!w->acked) continue;
        if (tr_uuid_compare(&w->hist, &ref->history))
            return chk_fail(&m->net, "acknowledged write-set %" PRIu64 " belongs to a history the group lost", t);
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
                return chk_fail(&m->net, "acknowledged write-set %" PRIu64 " (seqno %" PRId64 ") is missing on n%d",
                                t, w->seqno, i);
        }
    }
}

void nck_live_depends(const tr_uuid *history, int64_t seqno, int64_t depends)
{
    struct rec *r = rec_at(hist_of(history), seqno);
    if (!r || r->has_dep) return;
    r->has_dep = true;
    r->dep = depends;
}

void nck_ist_depends(struct nsim *m, int donor, const tr_uuid *history, int64_t seqno, int64_t depends)
{
    struct rec *r = rec_at(hist_of(history), seqno);
    if (r && r->has_dep && depends < r->dep)
        chk_fail(&m->net, "seqno %" PRId64 ": an IST from n%d lets it apply after %" PRId64
                          ", but certification made it wait for %" PRId64, seqno, donor, depends, r->dep);
}
