/* tests/sim/nsim_host: one model host per node around a real repl_core: it copies gcomm's
 * deliveries, steps the core, executes its actions (apply in order, donate, IST, broadcast),
 * runs clients that write conflicting rows or stream fragments, and crashes and restarts with
 * its durable store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_ws.h"
#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "replicator/repl_msg.h"
#include "replicator/repl_members.h"
#include "replicator/repl_istdeps.h"
#include "replicator/repl_vrec.h"
#include "tests/sim/nsim.h"

#define SLICE (1 * SIM_MS)

uint64_t ns_rand(struct nsim *m)
{
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return m->rng = x;
}

bool ns_failed(const struct nsim *m)
{
    return sim_failed(&m->net);
}

#define NFAIL(m, ...) chk_fail(&(m)->net, __VA_ARGS__)
/* ---- the durable log ---- */

static void log_reset(struct ns_log *l, const tr_uuid *h, int64_t base)
{
    l->history = *h;
    l->base = base;
    l->n = 0;
}

static void log_put(struct ns_log *l, int64_t seqno, int64_t v)
{
    if (seqno != l->base + (int64_t)l->n) abort(); /* callers check order first */
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
        if (!l->e) abort();
    }
    l->e[l->n++] = v;
}

/* The store's streams and their effects: a new history or an untrusted store starts without. */
static void log_forget_sr(struct ns_log *l)
{
    l->nsr = 0;
    l->nprev_prim = 0;
    if (l->done) memset(l->done, 0, l->done_cap);
}

static void log_copy(struct ns_log *d, const struct ns_log *s)
{
    log_reset(d, &s->history, s->base);
    for (size_t i = 0; i < s->n; i++) log_put(d, s->base + (int64_t)i, s->e[i]);
    /* the snapshot holds the streaming log and what committed streams did */
    memcpy(d->sr, s->sr, sizeof d->sr);
    d->nsr = s->nsr;
    memcpy(d->prev_prim, s->prev_prim, sizeof d->prev_prim);
    d->nprev_prim = s->nprev_prim;
    if (d->done_cap < s->done_cap) {
        d->done = realloc(d->done, s->done_cap);
        if (!d->done) abort();
        d->done_cap = s->done_cap;
    }
    if (d->done) memset(d->done, 0, d->done_cap);
    if (s->done_cap) memcpy(d->done, s->done, s->done_cap);
}

/* ---- the streaming log (MariaDB's streaming appliers, wsrep-lib server_state.cpp) ---- */

static struct ns_sr *sr_find(struct ns_log *l, const tr_uuid *src, uint64_t trx)
{
    for (int k = 0; k < l->nsr; k++)
        if (l->sr[k].trx == trx && !tr_uuid_compare(&l->sr[k].src, src)) return &l->sr[k];
    return NULL;
}

static void sr_drop(struct ns_log *l, struct ns_sr *sr)
{
    *sr = l->sr[--l->nsr];
}

/* The host owes the group a rollback fragment for its stream trx (wsrep-lib's
 * streaming_rollback). It is sent when the node is primary, and again when this node saw a
 * view before it was ordered: gcomm drops a message broadcast just before a view change, and
 * then every member would keep the stream open (its originator is still in the next view). It
 * is owed until it is ordered. repl_node_rollback does not send it again (docs/testing.md):
 * --no-resend shows what that does. */
static void owe_rollback(struct nsim *m, struct ns_node *nd, uint64_t trx)
{
    for (int k = 0; k < nd->nowed; k++)
        if (nd->owed[k].trx == trx) return;
    if (nd->nowed == 2 * NS_SR_MAX) return NFAIL(m, "n%d: owes too many rollback fragments", nd->idx);
    nd->owed[nd->nowed++] = (struct ns_owed){trx, 0};
}

/* A stream of this node's identity that none of its clients runs (a process before this one
 * started it: the store kept it, or an IST or a snapshot brought it) has nobody to end it:
 * the host rolls it back with a rollback fragment, or every member would keep it open. */
static void sr_adopt_orphans(struct nsim *m, struct ns_node *nd)
{
    const struct ns_log *l = &nd->log;
    for (int k = 0; k < l->nsr; k++) {
        if (tr_uuid_compare(&l->sr[k].src, repl_core_self(nd->core)) || nck_sr_ended(l->sr[k].trx, &l->history))
            continue;
        bool mine = false;
        for (int c = 0; c < NS_CLIENTS && !mine; c++) mine = nd->cl[c].sr_trx == l->sr[k].trx;
        for (int c = 0; c < 64 && !m->resend && !mine; c++) mine = m->sent_once[c] == l->sr[k].trx;
        if (!mine) owe_rollback(m, nd, l->sr[k].trx);
    }
}

/* A view: what was sent before it and is not ordered yet never will be. */
static void owed_view(struct nsim *m, struct ns_node *nd)
{
    for (int k = 0; k < nd->nowed; k++) {
        struct ns_owed *o = &nd->owed[k];
        if (!o->ws || nck_ws_ordered(o->ws)) continue;
        TRACE(m, "n%d: the rollback fragment of stream trx %" PRIu64 " (write-set %" PRIu64 ") was lost in a view change",
              nd->idx, o->trx, o->ws);
        if (m->resend)
            o->ws = 0;
        else { /* as repl_node_rollback: sent once, whatever became of it */
            m->sent_once[m->nsent_once++ % 64] = o->trx;
            nd->owed[k--] = nd->owed[--nd->nowed];
        }
    }
}

/* A piece of a transaction applied in order with the write-set flags: TRX_START alone opens a
 * streaming applier, no end flag holds one more fragment, TRX_END commits what it holds (with
 * its own data), ROLLBACK discards it. Only the stream's effects are modelled: held fragments
 * count, a commit marks the transaction done once. */
static void sr_apply(struct nsim *m, struct ns_node *nd, uint32_t flags, const tr_uuid *src, uint64_t trx, uint64_t ws)
{
    struct ns_log *l = &nd->log;
    uint32_t ends = flags & (REPL_F_TRX_START | REPL_F_TRX_END);
    if ((flags & REPL_F_ISOLATION) || (!(flags & REPL_F_ROLLBACK) && ends == (REPL_F_TRX_START | REPL_F_TRX_END)))
        return;
    struct ns_sr *sr = sr_find(l, src, trx);
    if (flags & REPL_F_ROLLBACK) { /* of a stream rolled back here already, or never opened: nothing */
        if (sr) sr_drop(l, sr);
        return;
    }
    if (ends == REPL_F_TRX_START) {
        if (sr) return NFAIL(m, "n%d: stream trx %" PRIu64 " started twice (write-set %" PRIu64 ")", nd->idx, trx, ws);
        if (l->nsr == NS_SR_MAX) return NFAIL(m, "n%d: more than %d open streams", nd->idx, NS_SR_MAX);
        l->sr[l->nsr++] = (struct ns_sr){*src, trx, 1, ws};
        return;
    }
    if (!sr && nck_sr_gone(trx, &l->history, nd->applied)) return;
    if (!sr)
        return NFAIL(m, "n%d: applies %s of stream trx %" PRIu64 " (write-set %" PRIu64 "), which its store does not hold",
                     nd->idx, ends ? "the commit fragment" : "a fragment", trx, ws);
    if (!ends) {
        sr->nfrag++;
        sr->sum += ws;
        return;
    }
    if (trx >= l->done_cap) {
        size_t cap = l->done_cap ? l->done_cap : 256;
        while (cap <= trx) cap *= 2;
        l->done = realloc(l->done, cap);
        if (!l->done) abort();
        memset(l->done + l->done_cap, 0, cap - l->done_cap);
        l->done_cap = cap;
    }
    if (l->done[trx]++) NFAIL(m, "n%d: stream trx %" PRIu64 " commits a second time", nd->idx, trx);
    nck_sr_commit(m, nd->idx, trx, sr->nfrag, sr->sum);
    sr_drop(l, sr);
}

/* At a primary view every host rolls back the streams whose originator is not in it
 * (wsrep-lib server_state::close_orphaned_sr_transactions): no rollback fragment comes. When
 * the view has the same members as the previous primary view it applied (a non-primary spell
 * between them), wsrep-lib rolls back every stream, its own clients' included. A restarted
 * node keeps its identity (gvwstate.dat), so the others keep its streams when no primary view
 * without it came between (they were all non-primary meanwhile): at its first primary view
 * it rolls back what it recovered of its own streams, whose clients are gone, and sends their
 * rollback fragments. */
static void sr_close_orphans(struct nsim *m, struct ns_node *nd, const struct repl_view *v, int64_t seqno, bool ist)
{
    if (!v || v->status != REPL_VIEW_PRIMARY) return;
    struct ns_log *l = &nd->log;
    bool equal = l->nprev_prim == v->memb_num;
    for (int j = 0; j < v->memb_num && equal; j++) {
        bool in = false;
        for (int k = 0; k < l->nprev_prim && !in; k++) in = !tr_uuid_compare(&l->prev_prim[k], &v->members[j].id);
        equal = in;
    }
    l->nprev_prim = v->memb_num < NS_MAXN ? v->memb_num : NS_MAXN;
    for (int j = 0; j < l->nprev_prim; j++) l->prev_prim[j] = v->members[j].id;
    if (equal) { /* its own streaming clients are BF-aborted: they send a rollback fragment */
        for (int k = 0; k < NS_CLIENTS; k++)
            if (nd->cl[k].sr_trx) nd->cl[k].sr_rollback = nd->cl[k].sr_killed = true;
        if (l->nsr) TRACE(m, "n%d rolls back its %d streams at view %" PRId64 ": the same members as the last primary view",
                          nd->idx, l->nsr, seqno);
        l->nsr = 0;
    }
    for (int k = 0; k < l->nsr;) {
        bool in = false;
        for (int j = 0; j < v->memb_num && !in; j++) in = !tr_uuid_compare(&v->members[j].id, &l->sr[k].src);
        for (int r = 0; r < nd->nsr_recovered && in && !ist; r++)
            in = !(l->sr[k].trx == nd->sr_recovered[r] && !tr_uuid_compare(&l->sr[k].src, repl_core_self(nd->core)));
        if (in) {
            k++;
        } else {
            if (!tr_uuid_compare(&l->sr[k].src, repl_core_self(nd->core))) owe_rollback(m, nd, l->sr[k].trx);
            TRACE(m, "n%d rolls back stream trx %" PRIu64 " at view %" PRId64 ": its originator left", nd->idx,
                  l->sr[k].trx, seqno);
            sr_drop(l, &l->sr[k]);
        }
    }
    if (!ist) nd->nsr_recovered = 0; /* a view it takes part in, not one of its IST's */
    nck_view_applied(m, nd->idx, seqno);
}

/* the write-set number a client put in the data */
static uint64_t ws_no(const struct repl_ws *ws)
{
    char b[32];
    size_t n = ws->view.data_len < sizeof b - 1 ? ws->view.data_len : sizeof b - 1;
    memcpy(b, ws->view.data, n);
    b[n] = '\0';
    unsigned long long w = 0;
    return sscanf(b, "w=%llu", &w) == 1 ? (uint64_t)w : 0;
}

/* ---- deliveries ---- */

static void push_in(struct ns_node *nd, struct ns_in *in)
{
    if (nd->in_tail)
        nd->in_tail->next = in;
    else
        nd->in_head = in;
    nd->in_tail = in;
}

/* --pieces: what the gcomm group does at a view (repl_defrag_view): the seqnos only dropped
 * pieces took, then this node's own action if the view cut it. */
static void pieces_at_view(struct ns_node *nd)
{
    int64_t lo, hi;
    uint8_t *own;
    size_t ownlen;
    repl_defrag_view(&nd->df, &lo, &hi, &own, &ownlen);
    if (lo >= 0) {
        struct ns_in *in = calloc(1, sizeof *in);
        if (!in) abort();
        in->skip = true;
        in->gseq = hi;
        in->span = hi - lo;
        push_in(nd, in);
    }
    if (own) {
        struct ns_in *in = calloc(1, sizeof *in);
        if (!in) abort();
        in->lost = true;
        in->buf = own;
        in->len = ownlen;
        push_in(nd, in);
    }
}

static void hook(struct sim *s, struct sim_node *snd, const struct gc_delivery *d)
{
    struct nsim *m = s->hook_ctx;
    struct ns_node *nd = &m->nd[snd->idx];
    if (!nd->core && !nd->ra) return;
    uint8_t *whole = NULL;
    size_t wlen = 0;
    int64_t first = d->seqno;
    if (d->kind == GC_DELIVER_VIEW && d->my_index >= 0) {
        pieces_at_view(nd);
    } else if (d->kind == GC_DELIVER_MSG) {
        enum repl_defrag_rc rc = repl_defrag_feed(&nd->df, &d->sender, d->seqno, d->data, d->len, &whole, &wlen, &first);
        if (rc == REPL_DEFRAG_MORE || rc == REPL_DEFRAG_DROPPED) return;
        if (rc == REPL_DEFRAG_NOMEM) NFAIL(m, "n%d: out of memory putting an action together", snd->idx);
    }
    struct ns_in *in = calloc(1, sizeof *in);
    if (!in) abort();
    if (d->kind == GC_DELIVER_VIEW) {
        if (d->my_index < 0) {
            in->closed = true;
        } else {
            in->view = true;
            const gc_view *v = d->view;
            in->gv.primary = v->primary;
            in->gv.conf_id = (int64_t)v->id.epoch;
            in->gv.my_idx = d->my_index;
            in->gv.history = d->history;
            in->gv.close = d->close;
            in->gv.memb_num = (int)v->n;
            in->gv.members = calloc(v->n ? v->n : 1, sizeof *in->gv.members);
            if (!in->gv.members) abort();
            for (uint32_t k = 0; k < v->n; k++) {
                in->gv.members[k].id = v->m[k].uuid;
                snprintf(in->gv.members[k].name, sizeof in->gv.members[k].name, "%.31s", v->m[k].name);
                snprintf(in->gv.members[k].incoming, sizeof in->gv.members[k].incoming, "%s",
                         v->m[k].incoming);
            }
        }
    } else {
        in->sender = d->sender;
        in->gseq = d->seqno;
        in->span = d->seqno - first;
        if (whole) { /* the last piece of an action */
            in->buf = whole;
            in->len = wlen;
        } else {
            in->buf = malloc(d->len ? d->len : 1);
            if (!in->buf) abort();
            memcpy(in->buf, d->data, d->len);
            in->len = d->len;
        }
    }
    push_in(nd, in);
}

/* Every broadcast, as the gcomm group sends it: whole, or with --pieces in pieces of at most
 * m->piece bytes (header included). */
static int ns_broadcast(struct nsim *m, struct ns_node *nd, gc_core *g, const uint8_t *buf, size_t len)
{
    if (!g) return -ENOTCONN;
    if (!m->piece || len <= m->piece) return gc_core_broadcast(g, buf, len);
    size_t room = m->piece - REPL_FRAG_HDR;
    uint8_t *p = malloc(m->piece);
    if (!p) abort();
    uint64_t act = ++nd->act_no;
    int rc = 0;
    for (size_t off = 0; off < len && !rc; off += room) {
        size_t k = len - off < room ? len - off : room;
        repl_frag_header(p, act, len, off);
        memcpy(p + REPL_FRAG_HDR, buf + off, k);
        rc = gc_core_broadcast(g, p, REPL_FRAG_HDR + k);
    }
    free(p);
    return rc;
}

static void free_inbox(struct ns_node *nd)
{
    while (nd->in_head) {
        struct ns_in *in = nd->in_head;
        nd->in_head = in->next;
        free(in->gv.members);
        free(in->buf);
        free(in);
    }
    nd->in_tail = NULL;
}

/* ---- the core's actions ---- */

static gc_core *gcore(struct nsim *m, int i)
{
    struct sim_node *snd = &m->net.nodes[i];
    return snd->alive ? snd->core : NULL;
}

static int step(struct nsim *m, struct ns_node *nd, struct repl_ev *ev);
static void arb_check(struct nsim *m, struct ns_node *nd);

static void qpush(struct ns_node *nd, struct repl_act *a)
{
    if (nd->qn == nd->qcap) {
        size_t cap = nd->qcap ? nd->qcap * 2 : 64;
        struct repl_act *r = malloc(cap * sizeof *r);
        if (!r) abort();
        for (size_t k = 0; k < nd->qn; k++) r[k] = nd->q[(nd->qhead + k) % nd->qcap];
        free(nd->q);
        nd->q = r;
        nd->qcap = cap;
        nd->qhead = 0;
    }
    nd->q[(nd->qhead + nd->qn) % nd->qcap] = *a;
    nd->qn++;
    memset(a, 0, sizeof *a);
}

static void qclear(struct ns_node *nd)
{
    while (nd->qn) {
        repl_act_release(&nd->q[nd->qhead]);
        nd->qhead = (nd->qhead + 1) % nd->qcap;
        nd->qn--;
    }
}

static int nclients(const struct nsim *m)
{
    return m->streaming ? NS_CLIENTS : NS_CLIENTS - 1;
}

static struct ns_client *client_of(struct ns_node *nd, uint64_t local_id)
{
    for (int k = 0; k < NS_CLIENTS; k++)
        if (nd->cl[k].st == NC_ORDER && nd->cl[k].local_id == local_id) return &nd->cl[k];
    return NULL;
}

static void own_add(struct nsim *m, struct ns_node *nd, int64_t seqno, int client)
{
    if (nd->nown == 1024) {
        NFAIL(m, "n%d: more than 1024 own write-sets waiting for their turn", nd->idx);
        return;
    }
    nd->own[nd->nown] = seqno;
    nd->own_cl[nd->nown++] = client;
}

static int ist_joiner(const char *addr)
{
    int j = -1;
    return sscanf(addr, "n%d:ist", &j) == 1 ? j : -1;
}

static void xfer_free_recs(struct ns_xfer *x)
{
    repl_ist_recs_free(x->recs, x->nrecs);
    x->recs = NULL;
    x->nrecs = 0;
}

/* The donor's sender reads its pinned range from the store; here at once, since the donor's
 * core (which owns the simulated store) may be gone by the time the stream arrives. */
static void ist_read(struct nsim *m, struct ns_xfer *x, const tr_uuid *history)
{
    struct repl_istdeps *deps = repl_istdeps_new(x->act.seqno); /* as the receiver */
    int64_t n = x->act.depends - x->act.seqno + 1;
    x->recs = n > 0 ? calloc((size_t)n, sizeof *x->recs) : NULL;
    x->recs_lost = n > 0 && !x->recs;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (int64_t s = x->act.seqno; !x->recs_lost && s <= x->act.depends; s++) {
        int kind = repl_gcache_read(x->act.pin, s, &buf, &cap, &len);
        struct repl_ws *ws = NULL;
        struct repl_view *v = kind == 2 ? repl_vrec_decode(buf, len, s) : NULL; /* as the receiver */
        if (kind == 1) {
            uint8_t *copy = malloc(len ? len : 1);
            if (copy) memcpy(copy, buf, len);
            ws = copy ? repl_ws_new(copy, len) : NULL;
            if (ws) repl_ws_decode(ws, CERT_WS_MAX_SIZE);
        }
        if (kind < 0 || (kind == 1 && !ws) || (kind == 2 && !v)) {
            x->recs_lost = true;
            break;
        }
        struct repl_ist_rec *r = &x->recs[x->nrecs++];
        r->seqno = s;
        r->view = v;
        r->ws = ws;
        repl_istdeps_set(deps, r);
        if (ws) nck_ist_depends(m, x->donor, history, s, r->depends);
    }
    repl_istdeps_free(deps);
    free(buf);
    repl_gcache_unpin(x->act.pin);
    x->act.pin = NULL;
}

static struct ns_xfer *xfer_new(struct nsim *m)
{
    for (int k = 0; k < 16; k++)
        if (!m->xf[k].used) {
            free(m->xf[k].log.e); /* what an earlier transfer in this slot left */
            free(m->xf[k].log.done);
            repl_act_release(&m->xf[k].act);
            xfer_free_recs(&m->xf[k]);
            memset(&m->xf[k], 0, sizeof m->xf[k]);
            m->xf[k].used = true;
            return &m->xf[k];
        }
    NFAIL(m, "more than 16 state transfers at once");
    return NULL;
}

static void route(struct nsim *m, struct ns_node *nd, struct repl_act *a)
{
    struct repl_core_info in;
    repl_core_info(nd->core, &in);
    const tr_uuid *h = repl_core_group(nd->core);
    int i = nd->idx;
    switch (a->kind) {
    case REPL_ACT_APPLY:
    case REPL_ACT_SKIP:
        nck_ordered(m, i, h, a->seqno, a->ws ? ws_no(a->ws) : 0, a->kind == REPL_ACT_APPLY || a->ok ? 1 : 2,
                    in.cert_floor, !a->ws, NULL);
        if (a->kind == REPL_ACT_APPLY && a->seqno > nd->ist_last) nck_live_depends(h, a->seqno, a->depends);
        qpush(nd, a);
        return;
    case REPL_ACT_VIEW:
        if (a->past) nck_past_view(m, i, h, a->seqno, a->view);
        nck_ordered(m, i, h, a->seqno, 0, 3, in.cert_floor, false, a->view);
        owed_view(m, nd);
        qpush(nd, a);
        return;
    case REPL_ACT_NONPRIM:
        nd->nonprim++; /* a streaming origin rolls its stream back: the others may close it */
        owed_view(m, nd);
        qpush(nd, a);
        return;
    case REPL_ACT_SYNCED:
    case REPL_ACT_SST_REQUEST:
    case REPL_ACT_DONATE:
    case REPL_ACT_RESET:
    case REPL_ACT_FINAL: qpush(nd, a); return;
    case REPL_ACT_LOCAL: {
        struct ns_client *c = client_of(nd, a->id);
        if (!c) {
            NFAIL(m, "n%d: own write-set %" PRIu64 " ordered, but no client waits for it", i, a->id);
            break;
        }
        nck_ordered(m, i, h, a->seqno, c->ws, a->ok ? 1 : 2, in.cert_floor, false, NULL);
        if (!a->ok) m->cert_fail++;
        /* a failed fragment: wsrep-lib rolls the transaction back, and sends the rollback
         * fragment once any fragment may be open elsewhere (the failed one opened nothing) */
        if (!a->ok && c->piece != NP_TRX) {
            if (c->piece == NP_FIRST)
                c->sr_trx = 0, c->sr_rollback = c->sr_killed = false;
            else
                c->sr_rollback = true;
        }
        c->seqno = a->seqno;
        /* a refused one still passes its seqno here, in its turn, as release() does */
        own_add(m, nd, a->seqno, a->ok ? (int)(c - nd->cl) : -1);
        c->st = a->ok ? NC_COMMIT : NC_IDLE;
        if (!a->ok) c->next_at = m->net.now + ns_rand(m) % (20 * SIM_MS);
        break;
    }
    case REPL_ACT_FAILED: nd->failing = true; break;
    case REPL_ACT_LOCAL_LOST: {
        struct ns_client *c = client_of(nd, a->id);
        if (c) {
            c->st = NC_IDLE;
            c->next_at = m->net.now + 50 * SIM_MS;
            /* the fragment may be ordered elsewhere all the same: the transaction rolls back */
            if (c->piece != NP_TRX) c->sr_rollback = true;
        }
        break;
    }
    case REPL_ACT_BROADCAST: {
        gc_core *g = gcore(m, i);
        nck_broadcast(m, i, a->msg.ptr, a->msg.len);
        ns_broadcast(m, nd, g, a->msg.ptr, a->msg.len);
        break;
    }
    case REPL_ACT_FC: {
        gc_core *g = gcore(m, i);
        if (g) gc_core_fc(g, a->stop);
        break;
    }
    case REPL_ACT_PERSIST:
        nd->safe_to_bootstrap = a->safe_to_bootstrap;
        if (a->last_view) nd->last_view = *a->last_view;
        if (a->corrupt) { /* the next start forgets the store: SST */
            memset(&nd->last_view, 0, sizeof nd->last_view);
            nd->corrupt = true;
            nck_store_lost(m, nd->idx);
        }
        break;
    case REPL_ACT_LEAVE: {
        gc_core *g = gcore(m, i);
        TRACE(m, "n%d leaves the group", i);
        if (g && !nd->leaving) gc_core_leave(g);
        nd->leaving = true;
        break;
    }
    case REPL_ACT_IST_RECV:
        nd->ist_wait = true;
        nd->ist_first = a->seqno;
        nd->ist_last = a->depends;
        nd->ist_token = a->token;
        break;
    case REPL_ACT_IST_SEND: {
        struct ns_xfer *x = xfer_new(m);
        if (!x) break;
        x->ist = true;
        x->donor = i;
        x->donor_inc = nd->inc;
        x->joiner = ist_joiner(a->addr);
        x->joiner_inc = x->joiner >= 0 ? m->nd[x->joiner].inc : 0;
        x->at = m->net.now + 5 * SIM_MS + ns_rand(m) % (200 * SIM_MS);
        x->act = *a;
        memset(a, 0, sizeof *a);
        ist_read(m, x, repl_core_group(nd->core));
        TRACE(m, "n%d sends IST %" PRId64 "..%" PRId64 " to n%d", i, x->act.seqno, x->act.depends, x->joiner);
        return;
    }
    default: break;
    }
    repl_act_release(a);
}

/* An allocation failure armed for this node (fault injection) fails the next hit of its point
 * while the node runs its own code: tr_fail is process-wide, and the simulator one thread.
 * prefix: arm only points that start with it (NULL: any). */
static bool inject_arm(struct nsim *m, struct ns_node *nd, const char *prefix)
{
    if (!nd->inject || m->net.now >= nd->inject_until) return false;
    if (prefix && strncmp(nd->inject, prefix, strlen(prefix))) return false;
    tr_fail_arm(nd->inject, 1, false);
    return true;
}

static bool inject_done(struct nsim *m, struct ns_node *nd, bool armed)
{
    if (!armed) return false;
    bool hit = tr_fail_count() > 0;
    tr_fail_disarm();
    if (hit) {
        TRACE(m, "n%d: an allocation fails at %s", nd->idx, nd->inject);
        nd->inject = NULL;
        m->injected++;
    }
    return hit;
}

static int step(struct nsim *m, struct ns_node *nd, struct repl_ev *ev)
{
    struct repl_acts out = {0};
    enum repl_fsm_state before = nd->last_state;
    bool armed = inject_arm(m, nd, NULL);
    int rc = repl_core_step(nd->core, ev, &out);
    bool injected = inject_done(m, nd, armed);
    if (out.oom) {
        if (!injected) NFAIL(m, "n%d: the core ran out of memory", nd->idx);
        /* as the driver does: nothing more is applied and it leaves; what it committed is a
         * prefix of the history, as after a crash */
        route(m, nd, &(struct repl_act){.kind = REPL_ACT_FAILED});
        route(m, nd, &(struct repl_act){.kind = REPL_ACT_LEAVE});
    }
    bool final = false;
    for (size_t k = 0; k < out.n && nd->core; k++) {
        final |= out.a[k].kind == REPL_ACT_FINAL;
        route(m, nd, &out.a[k]);
    }
    repl_acts_free(&out);
    if (ev->kind == REPL_EV_CLOSED && !final && nd->core) {
        /* as the driver does (final_lost_locked): the group is gone, so the final view the
         * core could not record is queued here, or the node would wait for it for ever */
        struct repl_act f = {.kind = REPL_ACT_FINAL, .corrupt = true};
        f.gtid.uuid = *repl_core_group(nd->core);
        route(m, nd, &f);
    }
    if (!nd->core) return rc;
    struct repl_core_info in;
    repl_core_info(nd->core, &in);
    /* every change goes through the table; one change per step is checked here too (several
     * in one step, each is logged by repl_fsm_shift) */
    if (in.illegal_shifts)
        NFAIL(m, "n%d: a node state change was refused by the transition table", nd->idx);
    if (in.shifts == nd->shifts + 1 && !repl_fsm_allowed(before, in.state))
        NFAIL(m, "n%d: node state %s -> %s is not in the transition table", nd->idx,
              repl_fsm_name(before), repl_fsm_name(in.state));
    if (in.shifts != nd->shifts)
        TRACE(m, "n%d %s -> %s", nd->idx, repl_fsm_name(before), repl_fsm_name(in.state));
    nd->shifts = in.shifts;
    nd->last_state = in.state;
    /* a desynced node that holds the state is Donor/Desynced, whatever views came meanwhile */
    if (in.desync_count > 0 && repl_fsm_holds_state(in.state) && in.state != REPL_S_DONOR)
        NFAIL(m, "n%d: desynced but %s", nd->idx, repl_fsm_name(in.state));
    /* a donor or desynced node never holds the group back */
    if ((in.state == REPL_S_DONOR || in.desync_count > 0) && in.fc_requested)
        NFAIL(m, "n%d: asks for flow control while %s", nd->idx, in.desync_count ? "desynced" : "donating");
    /* Synced only with nothing held back from its state */
    if (in.state == REPL_S_SYNCED && (in.held || in.ist_waiting))
        NFAIL(m, "n%d: Synced while %" PRId64 " actions are held for its state transfer", nd->idx, in.held);
    if (in.primary && repl_fsm_holds_state(in.state)) nd->ever_primary = true;
    arb_check(m, nd);
    /* as the driver does: tell the core where commits are once they reach the point it asked
     * for, and at once when it asks for a point that has passed already (a vote to answer) */
    bool earlier = in.notify_at < nd->notify_at;
    nd->notify_at = in.notify_at;
    if (nd->applied >= in.notify_at && ev->kind != REPL_EV_COMMITTED &&
        (nd->committed_told != nd->applied || earlier)) {
        nd->committed_told = nd->applied;
        struct repl_ev c = {.kind = REPL_EV_COMMITTED, .seqno = nd->applied};
        step(m, nd, &c);
    }
    return rc;
}

/* ---- node life ---- */

void ns_start(struct nsim *m, int i, bool bootstrap)
{
    struct ns_node *nd = &m->nd[i];
    if (m->net.nodes[i].alive) sim_crash(&m->net, i); /* a process that left starts anew */
    sim_node_start(&m->net, i);
    nd->inc++;
    repl_defrag_free(&nd->df); /* a new process: nothing put together yet */
    repl_defrag_init(&nd->df, gc_core_uuid(m->net.nodes[i].core));
    if (nd->arb) { /* it keeps nothing across restarts: a new process, a new uuid */
        nd->ra = calloc(1, sizeof *nd->ra);
        if (!nd->ra) abort();
        char name[8];
        snprintf(name, sizeof name, "arb%d", i);
        repl_arb_init(nd->ra, gc_core_uuid(m->net.nodes[i].core), name);
        nd->up = true;
        nd->restart_at = 0;
        TRACE(m, "n%d (arbitrator) starts", i);
        return;
    }
    struct repl_core_cfg cfg = {.proto_ver = 4, .capabilities = 0x7f, .max_ws_raw = CERT_WS_MAX_SIZE};
    cfg.self = *gc_core_uuid(m->net.nodes[i].core);
    snprintf(cfg.name, sizeof cfg.name, "n%d", i);
    snprintf(cfg.incoming, sizeof cfg.incoming, "10.0.0.%d:3306", i + 1);
    /* some seeds keep little: IST then falls back to what the store still has, or refuses */
    cfg.gcache_size = m->seed % 3 == 0 ? 4096 : 1 << 20;
    if (nd->corrupt) { /* grastate says its data cannot be trusted: it starts empty */
        nd->corrupt = false;
        log_reset(&nd->log, &tr_uuid_nil, 0);
        log_forget_sr(&nd->log);
        nd->applied = -1;
    }
    tr_gtid pos = {nd->log.history, tr_uuid_is_nil(&nd->log.history) ? -1 : nd->applied};
    nd->core = repl_core_new(&cfg, &pos, nd->safe_to_bootstrap, &nd->last_view);
    if (!nd->core) abort();
    struct repl_flow_cfg fc = {4 + (int64_t)(m->seed % 13), 0.5 + (double)(m->seed % 5) / 10.0, m->seed % 7 == 0};
    repl_core_set_flow(nd->core, &fc);
    char ist[32];
    snprintf(ist, sizeof ist, "n%d:ist", i);
    repl_core_set_ist_addr(nd->core, ist);
    /* some joiners prefer a donor by name, one that may not exist, or one then anybody; some
     * accept only one other node (and wait for it) */
    char donors[32];
    switch ((m->seed + (uint64_t)i) % 6) {
    case 2: snprintf(donors, sizeof donors, "n0,"); break;
    case 3: { /* a data node: an arbitrator never donates (it would wait for ever) */
        int data = 0;
        for (int k = 0; k < m->n; k++) data += !m->nd[k].arb;
        snprintf(donors, sizeof donors, "n%d", (i + 1) % data);
        break;
    }
    case 4: snprintf(donors, sizeof donors, "nobody,n1,"); break;
    default: donors[0] = '\0'; break;
    }
    repl_core_set_donors(nd->core, donors);
    nd->up = true;
    nd->leaving = false;
    nd->failing = false;
    nd->restart_at = 0;
    nd->busy_until = m->net.now;
    nd->cost = SIM_MS / 4 + ns_rand(m) % SIM_MS;
    if (ns_rand(m) % 5 == 0) nd->cost *= 8; /* a slow applier: flow control has work */
    nd->nown = 0;
    nd->desynced = false;
    nd->fail_seqno = -1;
    nd->ever_primary = false;
    nd->ist_wait = false;
    nd->donate_until = 0;
    nd->last_state = REPL_S_CLOSED;
    nd->shifts = 0;
    nd->next_tick = m->net.now;
    nd->committed_told = nd->applied;
    nd->notify_at = INT64_MAX;
    nd->vote_wait = -1;
    nd->nowed = 0;
    nd->nsr_recovered = 0; /* what its store holds of its own streams: a process before it ran them */
    for (int k = 0; k < nd->log.nsr; k++)
        if (!tr_uuid_compare(&nd->log.sr[k].src, &cfg.self)) nd->sr_recovered[nd->nsr_recovered++] = nd->log.sr[k].trx;
    for (int k = 0; k < NS_CLIENTS; k++) memset(&nd->cl[k], 0, sizeof nd->cl[k]);
    for (int k = 0; k < nclients(m); k++) {
        nd->cl[k].next_at = m->net.now + ns_rand(m) % (100 * SIM_MS);
        nd->cl[k].sr = k == NS_CLIENTS - 1;
    }
    TRACE(m, "n%d starts at %" PRId64 "%s (uuid ..%02x%02x)", i, nd->applied, bootstrap ? " (bootstrap)" : "",
          cfg.self.data[14], cfg.self.data[15]);
    struct repl_ev ev = {.kind = REPL_EV_CONNECT, .bootstrap = bootstrap};
    for (int k = 0; k < 16; k++) ev.proposal.data[k] = (uint8_t)ns_rand(m);
    step(m, nd, &ev);
}

/* What a process holds in memory goes; its store and grastate stay. */
static void drop_core(struct ns_node *nd)
{
    if (nd->core) repl_core_free(nd->core);
    nd->core = NULL;
    if (nd->ra) repl_arb_free(nd->ra);
    free(nd->ra);
    nd->ra = NULL;
    qclear(nd);
    free_inbox(nd);
    repl_defrag_free(&nd->df);
    nd->up = false;
    nd->inc++;
}

/* The process dies: memory is lost, the store and grastate's flag stay. */
void ns_crash(struct nsim *m, int i)
{
    struct ns_node *nd = &m->nd[i];
    TRACE(m, "n%d crashes", i);
    sim_crash(&m->net, i);
    drop_core(nd);
    nd->safe_to_bootstrap = false;
}

/* The replicator left the group for good (its final view): the operator restarts it. */
static void down(struct nsim *m, struct ns_node *nd, uint64_t restart_in)
{
    drop_core(nd);
    nd->restart_at = restart_in ? m->net.now + restart_in : 0;
}

/* Injected apply failures model one node's corrupted data: they are judged by a vote among the
 * members that hold the state, so they strike only while every node is Synced in one view (a
 * lone holder judging itself, with joiners copying it, is not what they model). */
bool ns_synced_quorum(struct nsim *m)
{
    for (int k = 0; k < m->n; k++) {
        if (m->nd[k].arb) continue;
        if (!m->nd[k].core) return false;
        struct repl_core_info in;
        repl_core_info(m->nd[k].core, &in);
        if (in.state != REPL_S_SYNCED || in.members != m->n) return false;
    }
    return true;
}

/* ---- applying, in seqno order, one action at a time ---- */

static bool own_next(struct ns_node *nd, int64_t seqno, int *client)
{
    for (int k = 0; k < nd->nown; k++)
        if (nd->own[k] == seqno) {
            *client = nd->own_cl[k];
            nd->own[k] = nd->own[--nd->nown];
            nd->own_cl[k] = nd->own_cl[nd->nown];
            return true;
        }
    return false;
}

static void put(struct nsim *m, struct ns_node *nd, int64_t seqno, int64_t v)
{
    if (seqno != nd->applied + 1) {
        NFAIL(m, "n%d: seqno %" PRId64 " applied after %" PRId64 " (%s)", nd->idx, seqno, nd->applied,
              seqno <= nd->applied ? "twice" : "skipping");
        return;
    }
    if (nd->log.n == 0 && nd->log.base == 0) nd->log.base = seqno;
    if (seqno != nd->log.base + (int64_t)nd->log.n) log_reset(&nd->log, &nd->log.history, seqno);
    log_put(&nd->log, seqno, v);
    nd->applied = seqno;
    nck_applied(m, nd->idx, &nd->log.history, seqno);
}

static int take(struct nsim *m, struct ns_node *nd, int64_t seqno)
{
    struct repl_ev ev = {.kind = REPL_EV_TAKEN, .seqno = seqno};
    return step(m, nd, &ev);
}

static void xfer_sst(struct nsim *m, struct ns_node *nd, struct repl_act *a);

/* One unit of applier work; false when nothing can run now. */
static bool apply_one(struct nsim *m, struct ns_node *nd)
{
    if (nd->vote_wait >= 0) { /* the commit order is held until the group decides */
        if (nd->failing) {
            /* it left before the group decided (or lost the vote): as the driver's
             * repl_driver_apply_failed, the wait ends with the node broken and the host's
             * store keeps no verdict on this seqno. Recording it as applied-and-failed after
             * nck_store_lost marked this store thrown away made the checker believe a store
             * held the seqno, and refuse it being ordered anew after the operator bootstrapped
             * a node that never had it (--arbitrators seed 691). */
            nd->vote_wait = -1;
            return true;
        }
        if (repl_core_vote_pending(nd->core, nd->vote_wait)) return false;
        put(m, nd, nd->vote_wait, NS_LOG_FAILED);
        nd->vote_wait = -1;
        return true;
    }
    int64_t next = nd->applied + 1;
    int cl;
    if (own_next(nd, next, &cl)) {
        put(m, nd, next, cl >= 0 ? (int64_t)nd->cl[cl].ws : 0);
        if (cl >= 0) {
            struct ns_client *c = &nd->cl[cl];
            c->st = NC_IDLE;
            c->next_at = m->net.now + ns_rand(m) % (30 * SIM_MS);
            if (c->piece != NP_TRX && c->sr_killed) {
                /* BF-aborted at a view that rolled its stream back: certify() returned
                 * BF_ABORT; the others find no applier for this piece either */
            } else if (c->piece == NP_TRX || c->piece == NP_COMMIT) {
                nck_acked(m, c->ws);
            }
            if (c->piece != NP_TRX && !c->sr_killed) { /* wsrep-lib keeps its own fragments in the streaming log too */
                static const uint32_t fl[] = {0, REPL_F_TRX_START, 0, REPL_F_TRX_END | REPL_F_PA_UNSAFE};
                sr_apply(m, nd, fl[c->piece], repl_core_self(nd->core), c->sr_trx, c->ws);
                c->next_at = m->net.now + ns_rand(m) % (150 * SIM_MS); /* the statement goes on */
                if (c->piece == NP_COMMIT) {
                    m->sr_commits++;
                    c->sr_trx = 0;
                } else {
                    c->sr_frags++;
                }
            }
        }
        return true;
    }
    if (!nd->qn) return false;
    struct repl_act *a = &nd->q[nd->qhead];
    if (nd->failing && a->kind != REPL_ACT_FINAL) { /* leaving: nothing more is applied */
        repl_act_release(a);
        nd->qhead = (nd->qhead + 1) % nd->qcap;
        nd->qn--;
        return true;
    }
    switch (a->kind) {
    case REPL_ACT_APPLY:
    case REPL_ACT_SKIP:
    case REPL_ACT_VIEW:
        if (a->seqno > next) return false; /* an own write-set before it is not committed yet */
        break;
    case REPL_ACT_DONATE:
        if (nd->applied < a->depends) return false;
        break;
    case REPL_ACT_RESET:
        if (a->depends >= 0 && nd->applied < a->depends) return false;
        break;
    default: break;
    }
    struct repl_act x = *a;
    memset(a, 0, sizeof *a);
    nd->qhead = (nd->qhead + 1) % nd->qcap;
    nd->qn--;
    uint64_t inc = nd->inc;
    if (take(m, nd, x.kind == REPL_ACT_NONPRIM || x.kind == REPL_ACT_SYNCED || x.kind == REPL_ACT_FINAL ? -1 : x.seqno) ==
            REPL_TRX_FAIL &&
        x.kind == REPL_ACT_APPLY)
        x.kind = REPL_ACT_SKIP;
    if (nd->inc != inc || !nd->core) {
        repl_act_release(&x);
        return false;
    }
    switch (x.kind) {
    case REPL_ACT_APPLY:
        /* injected apply failures model a row that differs: a stream's pieces are not hit
         * (its effects are judged at the commit, against the fragments that passed) */
        if (x.seqno == nd->fail_seqno && ns_synced_quorum(m) && !nck_trx_of(ws_no(x.ws))) { /* the others decide */
            TRACE(m, "n%d fails to apply seqno %" PRId64, nd->idx, x.seqno);
            nck_failed(m, repl_core_group(nd->core), x.seqno);
            nd->vote_wait = x.seqno;
            struct repl_ev ev = {.kind = REPL_EV_APPLY_FAILED, .seqno = x.seqno, .code = 0xbad, .rc = 1};
            step(m, nd, &ev);
        } else {
            uint64_t w = ws_no(x.ws);
            put(m, nd, x.seqno, (int64_t)w);
            sr_apply(m, nd, x.ws->view.hdr.flags, &x.ws->view.hdr.source, x.ws->view.hdr.trx_id, w);
        }
        break;
    case REPL_ACT_SKIP: put(m, nd, x.seqno, 0); break;
    case REPL_ACT_VIEW:
        /* past: a view it missed, from its IST's records, as Galera 4's IST hands it the host
         * (its streams are closed there as by any view) */
        put(m, nd, x.seqno, 0);
        sr_close_orphans(m, nd, x.view, x.seqno, x.past);
        break;
    case REPL_ACT_NONPRIM:
    case REPL_ACT_SYNCED: break;
    case REPL_ACT_SST_REQUEST: {
        /* a running node that was primary in this incarnation can take no snapshot: IST */
        char req[32] = "";
        size_t len = 0;
        if (!nd->ever_primary)
            len = (size_t)snprintf(req, sizeof req, "sst:%d:%" PRIu64 ":%u", nd->idx, nd->inc, ++nd->nreq) + 1;
        struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)req, .len = len};
        step(m, nd, &ev);
        break;
    }
    case REPL_ACT_DONATE: xfer_sst(m, nd, &x); break;
    case REPL_ACT_RESET:
        if (x.seqno == 0 && x.depends < 0) { /* a new history */
            log_reset(&nd->log, repl_core_group(nd->core), 1);
            log_forget_sr(&nd->log);
            nd->applied = 0;
        } else if (nd->applied != x.seqno) {
            NFAIL(m, "n%d: the order restarts at %" PRId64 " but the store holds %" PRId64, nd->idx, x.seqno, nd->applied);
        }
        break;
    case REPL_ACT_FINAL:
        TRACE(m, "n%d final view", nd->idx);
        repl_act_release(&x);
        down(m, nd, m->clients_on ? 200 * SIM_MS + ns_rand(m) % SIM_SEC : 100 * SIM_MS);
        return false;
    default: break;
    }
    repl_act_release(&x);
    return true;
}

/* ---- state transfers ---- */

static void xfer_sst(struct nsim *m, struct ns_node *nd, struct repl_act *a)
{
    nck_donated(m, a->req, a->req_len);
    int j = -1;
    unsigned long long jinc = 0;
    sscanf((const char *)a->req, "sst:%d:%llu:", &j, &jinc);
    struct ns_xfer *x = xfer_new(m);
    struct repl_ev ev = {.kind = REPL_EV_DONATED, .rc = x && j >= 0 ? 0 : -EINVAL};
    if (x && j >= 0) {
        /* the snapshot is the store as it is now, as rsync's FLUSH TABLES WITH READ LOCK gives */
        x->donor = nd->idx;
        x->donor_inc = nd->inc;
        x->joiner = j;
        x->joiner_inc = jinc;
        x->bypass = a->bypass;
        x->gtid.uuid = nd->log.history;
        x->gtid.seqno = nd->applied;
        if (a->bypass) /* the script passes the joiner's own position and copies nothing */
            x->gtid = a->gtid;
        else
            log_copy(&x->log, &nd->log);
        x->at = m->net.now + 20 * SIM_MS + ns_rand(m) % (800 * SIM_MS);
        if (ns_rand(m) % 2) nd->donate_until = x->at; /* the donor stops applying meanwhile */
        TRACE(m, "n%d donates %" PRId64 " to n%d", nd->idx, x->gtid.seqno, j);
    } else if (x) {
        x->used = false;
    }
    step(m, nd, &ev);
}

static void xfer_due(struct nsim *m, struct ns_xfer *x)
{
    struct ns_node *d = &m->nd[x->donor], *j = x->joiner >= 0 ? &m->nd[x->joiner] : NULL;
    bool donor_ok = d->core && d->inc == x->donor_inc;
    bool joiner_ok = j && j->core && j->inc == x->joiner_inc;
    x->used = false;
    if (x->ist) {
        if (joiner_ok && j->ist_wait && j->ist_token == x->act.token && j->ist_first == x->act.seqno &&
            j->ist_last == x->act.depends) {
            j->ist_wait = false;
            if (donor_ok) { /* a live donor's stream begins, as the real receiver reports it */
                struct repl_ev b = {.kind = REPL_EV_IST_BEGAN};
                step(m, j, &b);
            }
            /* the records reach the core in parts, as the real receiver hands them over; a
             * stream cut short may have handed a prefix first (applied as it came) */
            size_t whole = donor_ok && !x->recs_lost ? x->nrecs : 0;
            size_t cut = whole ? whole : x->nrecs ? ns_rand(m) % (x->nrecs + 1) : 0;
            size_t first = cut > 1 ? 1 + ns_rand(m) % (cut - 1) : cut;
            for (size_t from = 0; from < cut && j->core;) {
                size_t to = from < first ? first : cut;
                struct repl_ev p = {.kind = REPL_EV_IST_PART, .nist = to - from};
                p.ist = malloc(p.nist * sizeof *p.ist);
                if (!p.ist) break;
                memcpy(p.ist, x->recs + from, p.nist * sizeof *p.ist);
                memset(x->recs + from, 0, p.nist * sizeof *p.ist); /* taken over */
                step(m, j, &p);
                from = to;
            }
            struct repl_ev ev = {.kind = REPL_EV_IST_RECEIVED};
            if (!whole) {
                ev.rc = -1;
                ev.why = "stream cut short";
            }
            step(m, j, &ev);
        }
        if (donor_ok) {
            struct repl_ev ev = {.kind = REPL_EV_IST_SENT, .rc = joiner_ok && !x->recs_lost ? 0 : -EPIPE,
                                 .seqno = d->applied};
            step(m, d, &ev);
        }
        repl_act_release(&x->act);
        xfer_free_recs(x);
        return;
    }
    if (joiner_ok) {
        struct repl_ev ev = {.kind = REPL_EV_SST_RECEIVED, .gtid = x->gtid};
        if (donor_ok && x->bypass) {
            if (j->applied != x->gtid.seqno)
                NFAIL(m, "n%d: a bypassed SST at %" PRId64 ", but its store holds %" PRId64, x->joiner,
                      x->gtid.seqno, j->applied);
            j->ever_primary = true;
        } else if (donor_ok) {
            nck_store_lost(m, x->joiner);
            log_copy(&j->log, &x->log);
            for (size_t k = 0; k < j->log.n; k++)
                nck_applied(m, x->joiner, &j->log.history, j->log.base + (int64_t)k);
            j->applied = x->gtid.seqno;
            j->ever_primary = true; /* a running server with data: IST from now on */
        } else {
            ev.rc = -ECONNRESET;
        }
        TRACE(m, "n%d receives SST %" PRId64 "%s", x->joiner, x->gtid.seqno, donor_ok ? "" : " (donor gone)");
        step(m, j, &ev);
    }
    if (donor_ok) {
        struct repl_ev ev = {.kind = REPL_EV_SST_SENT, .gtid = x->gtid, .rc = joiner_ok ? 0 : -ECONNRESET,
                             .seqno = d->applied};
        step(m, d, &ev);
    }
}

/* ---- clients ---- */

/* Broadcasts one write-set of client c: trx's piece with flags, on rows (TOI: the table). A
 * rollback fragment has no waiter (local false: repl's rollback() sends it with local id 0) and
 * no keys. 0 when it went out; c then waits for its order (unless it was a rollback). */
static int send_ws(struct nsim *m, struct ns_node *nd, struct ns_client *c, uint32_t flags, uint32_t rows,
                   uint64_t trx, enum ns_piece piece, int frag)
{
    bool toi = flags & REPL_F_ISOLATION, local = piece != NP_ROLLBACK;
    uint64_t id = 0;
    if (local && repl_core_local_begin(nd->core, false, nd->applied, &id)) return -1;
    struct tr_buf keys = {0};
    uint32_t nkeys = 0;
    struct cert_key_part parts[3] = {{"db", 2}, {"t", 1}, {NULL, 1}};
    char names[NS_ROWS];
    if (local) {
        cert_ws_key_append(&keys, CERT_KEY_SHARED, parts, 1);
        nkeys++;
        cert_ws_key_append(&keys, toi ? CERT_KEY_EXCLUSIVE : CERT_KEY_SHARED, parts, 2);
        nkeys++;
    }
    for (int r = 0; local && !toi && r < NS_ROWS; r++)
        if (rows >> r & 1) {
            names[r] = (char)('a' + r);
            parts[2].ptr = &names[r];
            cert_ws_key_append(&keys, CERT_KEY_EXCLUSIVE, parts, 3);
            nkeys++;
        }
    uint64_t ws = ++m->next_ws;
    char data[32];
    int dlen = snprintf(data, sizeof data, "w=%" PRIu64, ws);
    struct cert_ws_hdr hdr = {.flags = flags, .source = *repl_core_self(nd->core), .local_id = id,
                              .trx_id = trx, .last_seen = nd->applied, .nkeys = nkeys,
                              .keys_len = (uint32_t)keys.len, .data_len = (uint64_t)dlen};
    struct cert_ws_enc enc;
    struct cert_ws_enc_opts eo = {0};
    if (cert_ws_encode(&enc, &hdr, keys.ptr, keys.len, data, (size_t)dlen, &eo)) abort();
    size_t len = sizeof enc.hdr + enc.keys_len + enc.data_len;
    uint8_t *buf = malloc(len);
    if (!buf) abort();
    memcpy(buf, enc.hdr, sizeof enc.hdr);
    if (enc.keys_len) memcpy(buf + sizeof enc.hdr, enc.keys, enc.keys_len); /* a rollback has none */
    memcpy(buf + sizeof enc.hdr + enc.keys_len, enc.data, enc.data_len);
    cert_ws_enc_free(&enc);
    tr_buf_free(&keys);
    gc_core *g = gcore(m, nd->idx);
    int rc = ns_broadcast(m, nd, g, buf, len);
    free(buf);
    if (rc) {
        if (local) repl_core_local_end(nd->core, id);
        return -1;
    }
    nck_ws_built(ws, trx, piece, frag, nd->idx, repl_core_self(nd->core), toi ? 0 : rows, toi, nd->applied);
    if (m->net.verbose > 1 || (m->verbose && piece != NP_TRX))
        TRACE(m, "n%d broadcasts write-set %" PRIu64 " (trx %" PRIu64 "%s%s)", nd->idx, ws, trx,
              piece == NP_TRX ? "" : ", stream ",
              (const char *[]){"", "first fragment", "fragment", "commit fragment", "rollback fragment"}[piece]);
    if (local) {
        c->trx_id = trx;
        c->local_id = id;
        c->last_seen = nd->applied;
        c->ws = ws;
        c->piece = piece;
        c->st = NC_ORDER;
    }
    return 0;
}

static uint32_t some_rows(struct nsim *m)
{
    uint32_t rows = 0;
    int nrows = 1 + (int)(ns_rand(m) % 2);
    for (int k = 0; k < nrows; k++) rows |= 1u << (ns_rand(m) % NS_ROWS);
    return rows;
}

static void client_write(struct nsim *m, struct ns_node *nd, struct ns_client *c)
{
    bool toi = ns_rand(m) % 50 == 0;
    uint32_t rows = some_rows(m);
    if (send_ws(m, nd, c, REPL_F_TRX_START | REPL_F_TRX_END | (toi ? REPL_F_ISOLATION : 0), rows, ++m->next_trx,
                NP_TRX, 0))
        c->next_at = m->net.now + 50 * SIM_MS;
}

/* A streaming client, as wsrep-lib drives one (transaction.cpp certify_fragment,
 * certify_commit, streaming_rollback): fragments one at a time, each after the previous one
 * committed locally, then the commit fragment; or a rollback fragment when the transaction
 * aborts (its fragment failed or was lost, its origin decided so, or the node saw a
 * non-primary view meanwhile: the others roll back a stream whose originator left their
 * primary component, so it must not go on). The rollback waits for a primary component. */
static void client_stream(struct nsim *m, struct ns_node *nd, struct ns_client *c, bool writable)
{
    if (c->sr_trx && !c->sr_rollback && nd->nonprim != c->sr_nonprim) {
        TRACE(m, "n%d: stream trx %" PRIu64 " rolls back: its node left the primary component", nd->idx, c->sr_trx);
        c->sr_rollback = true;
    }
    if (c->sr_rollback) { /* the host sends it (node_work), the client goes on */
        owe_rollback(m, nd, c->sr_trx);
        c->sr_rollback = c->sr_killed = false;
        c->sr_trx = 0;
        c->next_at = m->net.now + ns_rand(m) % (100 * SIM_MS);
        return;
    }
    if (!writable) return;
    uint64_t r = ns_rand(m);
    enum ns_piece piece;
    uint32_t flags;
    if (!c->sr_trx) {
        if (!m->clients_on) return;
        c->sr_trx = ++m->next_trx;
        c->sr_frags = 0;
        c->sr_want = 2 + (int)(r % 5);
        c->sr_nonprim = nd->nonprim;
        piece = NP_FIRST;
        flags = REPL_F_TRX_START;
    } else if (r % 16 == 0) { /* the origin aborts (a statement fails, the client disconnects) */
        TRACE(m, "n%d: stream trx %" PRIu64 " aborts after %d fragments", nd->idx, c->sr_trx, c->sr_frags);
        c->sr_rollback = true;
        return;
    } else if (!m->clients_on || c->sr_frags + 1 >= c->sr_want) {
        piece = NP_COMMIT;
        flags = REPL_F_TRX_END | REPL_F_PA_UNSAFE;
    } else {
        piece = NP_MIDDLE;
        flags = r % 3 ? 0 : REPL_F_PA_UNSAFE;
    }
    if (send_ws(m, nd, c, flags, some_rows(m), c->sr_trx, piece, c->sr_frags + 1)) {
        c->next_at = m->net.now + 50 * SIM_MS;
        if (piece == NP_FIRST) c->sr_trx = 0;
    }
}

/* ---- the loop ---- */

/* An arbitrator: views answered with its STATE, everything else dropped (repl_arb). */
static void arb_work(struct nsim *m, struct ns_node *nd)
{
    if (!nd->ra) {
        if (nd->restart_at && m->net.now >= nd->restart_at) ns_start(m, nd->idx, false);
        return;
    }
    while (nd->in_head) {
        struct ns_in *in = nd->in_head;
        nd->in_head = in->next;
        if (!nd->in_head) nd->in_tail = NULL;
        if (in->closed || in->skip || in->lost) {
            /* it left (a new process later); or pieces it has nothing to do with */
        } else if (in->view) {
            struct tr_buf b = {0};
            int rc = repl_arb_view(nd->ra, &in->gv, &b);
            if (rc < 0) NFAIL(m, "n%d (arbitrator): cannot encode its STATE", nd->idx);
            gc_core *g = gcore(m, nd->idx);
            if (rc > 0 && g) ns_broadcast(m, nd, g, b.ptr, b.len);
            tr_buf_free(&b);
        } else {
            repl_arb_msg(nd->ra, &in->sender, in->buf, in->len);
            /* it keeps nothing of what it drops: at most the exchange of the current view */
            if (nd->ra->exch.active && nd->ra->exch.conf_id != nd->ra->conf_id)
                NFAIL(m, "n%d (arbitrator): holds the exchange of an old view", nd->idx);
        }
        free(in->gv.members);
        free(in->buf);
        free(in);
    }
}

/* In every data member's table an arbitrator member is ARBITRATOR: never a donor, never
 * counted for purge or votes (docs/design/arbitrator.md). */
static void arb_check(struct nsim *m, struct ns_node *nd)
{
    const struct repl_member *mem;
    int k = repl_core_members(nd->core, &mem);
    const uint8_t *st = repl_core_member_states(nd->core);
    for (int j = 0; j < k; j++)
        for (int a = 0; a < m->n; a++) {
            const struct ns_node *x = &m->nd[a];
            bool is_arb = x->arb && x->ra && !tr_uuid_compare(&mem[j].id, &x->ra->self);
            if (is_arb && st[j] != REPL_M_ARBITRATOR)
                NFAIL(m, "n%d: arbitrator n%d is %s in its member table", nd->idx, a, repl_mstate_name(st[j]));
            if (!is_arb && x->core && !tr_uuid_compare(&mem[j].id, repl_core_self(x->core)) &&
                st[j] == REPL_M_ARBITRATOR)
                NFAIL(m, "n%d: data node n%d is ARBITRATOR in its member table", nd->idx, a);
        }
}

static void node_work(struct nsim *m, struct ns_node *nd)
{
    if (nd->arb) {
        arb_work(m, nd);
        return;
    }
    if (!nd->core) {
        if (nd->restart_at && m->net.now >= nd->restart_at) ns_start(m, nd->idx, false);
        return;
    }
    uint64_t inc = nd->inc;
    while (nd->in_head && nd->core && nd->inc == inc) {
        struct ns_in *in = nd->in_head;
        nd->in_head = in->next;
        if (!nd->in_head) nd->in_tail = NULL;
        struct repl_ev ev = {0};
        if (in->closed) {
            ev.kind = REPL_EV_CLOSED;
        } else if (in->view) {
            ev.kind = REPL_EV_VIEW;
            ev.view = &in->gv;
        } else if (in->skip) { /* only seqnos for the core's count */
            ev.kind = REPL_EV_MSG;
            ev.seqno = in->gseq;
            ev.span = in->span;
        } else if (in->lost) { /* as the driver: the start of its own action names the waiter */
            struct cert_ws_hdr h;
            int rc = cert_ws_hdr_decode(in->buf, in->len, &h);
            if ((rc == 0 || rc == CERT_WS_ESIZE) && !tr_uuid_compare(&h.source, repl_core_self(nd->core)) &&
                h.local_id) {
                ev.kind = REPL_EV_LOST;
                ev.code = h.local_id;
                TRACE(m, "n%d: a view cut its write-set (local id %" PRIu64 ") short", nd->idx, h.local_id);
            }
        } else {
            ev.kind = REPL_EV_MSG;
            ev.sender = in->sender;
            ev.seqno = in->gseq;
            ev.span = in->span;
            if (repl_msg_is_control(in->buf, in->len)) {
                ev.buf = in->buf;
                ev.len = in->len;
            } else {
                /* as the driver does, outside the step: an injected failure here is seen by
                 * the core as a failed decode, or as a write-set this node cannot keep */
                bool armed = inject_arm(m, nd, "ws.");
                ev.ws = repl_ws_new(in->buf, in->len);
                if (ev.ws) repl_ws_decode(ev.ws, CERT_WS_MAX_SIZE);
                inject_done(m, nd, armed);
                if (!ev.ws) { /* it freed the bytes */
                    ev.kind = REPL_EV_FAIL;
                    ev.why = "out of memory taking a delivered write-set";
                }
            }
            in->buf = NULL;
        }
        if (ev.kind) step(m, nd, &ev);
        free(in->gv.members);
        free(in->buf);
        free(in);
    }
    if (!nd->core || nd->inc != inc) return;
    if (m->net.now >= nd->next_tick) {
        nd->next_tick = m->net.now + 100 * SIM_MS;
        struct repl_ev ev = {.kind = REPL_EV_TICK, .now = m->net.now};
        step(m, nd, &ev);
    }
    while (nd->core && nd->inc == inc && nd->busy_until <= m->net.now && m->net.now >= nd->donate_until &&
           !m->net.nodes[nd->idx].paused) {
        if (!apply_one(m, nd)) break;
        nd->busy_until += nd->cost;
        if (nd->busy_until < m->net.now) nd->busy_until = m->net.now;
    }
    if (nd->busy_until < m->net.now) nd->busy_until = m->net.now;
    if (!nd->core || nd->inc != inc) return;
    struct repl_core_info in;
    repl_core_info(nd->core, &in);
    if (nd->desynced && m->net.now >= nd->resync_at) {
        nd->desynced = false;
        struct repl_ev ev = {.kind = REPL_EV_RESYNC, .seqno = nd->applied};
        step(m, nd, &ev);
    }
    if (m->net.nodes[nd->idx].paused) return;
    if (in.writable) sr_adopt_orphans(m, nd);
    for (int k = 0; k < nd->nowed && in.writable; k++) {
        struct ns_owed *o = &nd->owed[k];
        if (o->ws && nck_ws_ordered(o->ws)) { /* the group has it */
            nd->owed[k--] = nd->owed[--nd->nowed];
            continue;
        }
        if (o->ws) continue; /* on its way */
        if (send_ws(m, nd, NULL, REPL_F_ROLLBACK | REPL_F_PA_UNSAFE, 0, o->trx, NP_ROLLBACK, 0)) break;
        if (o->ws) TRACE(m, "n%d sends the rollback fragment of stream trx %" PRIu64 " again", nd->idx, o->trx);
        o->ws = m->next_ws;
        m->sr_rollbacks++;
    }
    for (int k = 0; k < nclients(m) && nd->core; k++) {
        struct ns_client *c = &nd->cl[k];
        if (c->st != NC_IDLE || m->net.now < c->next_at) continue;
        if (c->sr) /* it finishes its stream after the clients stop */
            client_stream(m, nd, c, in.writable);
        else if (m->clients_on && in.writable)
            client_write(m, nd, c);
    }
}

void ns_run(struct nsim *m, uint64_t until)
{
    while (m->net.now < until && !ns_failed(m)) {
        sim_run_until(&m->net, m->net.now + SLICE);
        for (int i = 0; i < m->n && !ns_failed(m); i++) node_work(m, &m->nd[i]);
        for (int k = 0; k < 16 && !ns_failed(m); k++)
            if (m->xf[k].used && m->xf[k].at <= m->net.now) xfer_due(m, &m->xf[k]);
        if (!ns_failed(m)) nck_step(m);
    }
}

bool ns_settled(struct nsim *m, char *why, size_t cap)
{
    int64_t applied = -2;
    const tr_uuid *group = NULL;
    for (int i = 0; i < m->n; i++) {
        struct ns_node *nd = &m->nd[i];
        if (nd->arb) {
            if (!nd->ra) return snprintf(why, cap, "n%d (arbitrator) is down", i), false;
            if (!nd->ra->ordering || nd->ra->members != m->n)
                return snprintf(why, cap, "n%d (arbitrator) sees %d members, %s", i, nd->ra->members,
                                nd->ra->ordering ? "ordering" : "no group state"), false;
            continue;
        }
        if (!nd->core) return snprintf(why, cap, "n%d is down", i), false;
        group = repl_core_group(nd->core);
        struct repl_core_info in;
        repl_core_info(nd->core, &in);
        if (in.state != REPL_S_SYNCED || !in.primary || in.members != m->n)
            return snprintf(why, cap, "n%d is %s, %s, %d members", i, repl_fsm_name(in.state),
                            in.primary ? "primary" : "not primary", in.members), false;
        if (nd->qn || nd->nown || nd->in_head || in.held || in.fc_requested)
            return snprintf(why, cap, "n%d still has %zu queued actions", i, nd->qn), false;
        if (nd->nowed) return snprintf(why, cap, "n%d owes %d rollback fragments", i, nd->nowed), false;
        for (int k = 0; k < NS_CLIENTS; k++)
            if (nd->cl[k].sr_trx || nd->cl[k].sr_rollback)
                return snprintf(why, cap, "n%d has stream trx %" PRIu64 " open", i, nd->cl[k].sr_trx), false;
        for (int k = 0; k < NS_CLIENTS; k++)
            if (nd->cl[k].st != NC_IDLE)
                return snprintf(why, cap, "n%d has a client waiting (%s, trx %" PRIu64 ", seqno %" PRId64 ")", i,
                                nd->cl[k].st == NC_ORDER ? "to be ordered" : "to commit", nd->cl[k].trx_id,
                                nd->cl[k].seqno), false;
        if (applied != -2 && nd->applied != applied)
            return snprintf(why, cap, "n%d applied %" PRId64 ", another %" PRId64, i, nd->applied, applied), false;
        applied = nd->applied;
    }
    for (int k = 0; k < 16; k++)
        if (m->xf[k].used) return snprintf(why, cap, "a state transfer is in flight"), false;
    /* the arbitrators learnt the group's history from the same exchange the nodes decided */
    for (int i = 0; i < m->n && group; i++)
        if (m->nd[i].arb && tr_uuid_compare(&m->nd[i].ra->group, group))
            NFAIL(m, "n%d (arbitrator) names another group history than the nodes", i);
    return true;
}

void ns_init(struct nsim *m, uint64_t seed, int n)
{
    memset(m, 0, sizeof *m);
    sim_init(&m->net, seed, n, 64500);
    m->net.deliver_hook = hook;
    m->net.hook_ctx = m;
    m->n = n;
    m->seed = seed;
    m->rng = seed * 0x2545F4914F6CDD1Dull + 99;
    for (int i = 0; i < n; i++) {
        m->nd[i].idx = i;
        m->nd[i].applied = -1;
        m->nd[i].safe_to_bootstrap = true;
    }
    nck_reset();
}

void ns_free(struct nsim *m)
{
    for (int i = 0; i < m->n; i++) {
        struct ns_node *nd = &m->nd[i];
        if (nd->core) repl_core_free(nd->core);
        if (nd->ra) repl_arb_free(nd->ra);
        free(nd->ra);
        qclear(nd);
        free(nd->q);
        free_inbox(nd);
        repl_defrag_free(&nd->df);
        free(nd->log.e);
        free(nd->log.done);
    }
    for (int k = 0; k < 16; k++) {
        free(m->xf[k].log.e);
        free(m->xf[k].log.done);
        repl_act_release(&m->xf[k].act);
        xfer_free_recs(&m->xf[k]);
    }
    sim_free(&m->net);
    nck_free();
}

/* The operator bootstraps node i, as Galera's documentation has it: a joiner (its state
 * transfer never came) is restarted as a new cluster, after the operator stopped every other
 * node (gcomm may still run a primary component among them, which a second cluster would
 * split; they start again as usual and join it); any other node gets pc.bootstrap=YES: its
 * next STATE carries the bootstrap flag, and gcomm forms a primary component around it. */
void ns_operator_bootstrap(struct nsim *m, int i)
{
    struct ns_node *nd = &m->nd[i];
    struct repl_core_info in;
    repl_core_info(nd->core, &in);
    TRACE(m, "the operator bootstraps n%d (%s, applied %" PRId64 ")", i, repl_fsm_name(in.state),
          nd->applied);
    if (in.state == REPL_S_JOINING) {
        for (int k = 0; k < m->n; k++)
            if (k != i && (m->nd[k].core || m->nd[k].ra)) ns_crash(m, k);
        ns_crash(m, i);
        ns_start(m, i, true);
    } else {
        struct repl_ev ev = {.kind = REPL_EV_BOOTSTRAP};
        step(m, nd, &ev);
    }
    gc_core_bootstrap(m->net.nodes[i].core);
}

bool ns_desync(struct nsim *m, int i)
{
    struct ns_node *nd = &m->nd[i];
    if (!nd->core) return false;
    struct repl_ev ev = {.kind = REPL_EV_DESYNC, .seqno = nd->applied};
    int rc = step(m, nd, &ev);
    if (rc == REPL_OK) {
        nd->desynced = true;
        TRACE(m, "n%d desyncs", i);
    }
    return rc == REPL_OK;
}
