/* tests/sim/sim_check: the invariants of docs/design/gcomm.md section 11, checked on every
 * delivery and after every simulator step; the first violation stops the run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

struct hist {
    tr_uuid id;
    uint64_t *hash; /* by seqno; 0 = nobody delivered it yet */
    size_t cap;
    /* the workload's messages ordered in this history, by id (sim_net.c EV_BCAST): open
     * addressing, key 0 free; each may take one seqno only */
    uint64_t *ids;
    int64_t *id_seqno;
    size_t id_cap, id_n;
};

struct vrec {
    gc_view_id id;
    uint64_t fp;
};

struct vsrec {
    gc_view_id a, b;
    uint64_t count, hash;
};

/* A gather seen in progress: who started it, and whether it re-formed a view it led. */
struct grec {
    uint64_t epoch;
    tr_uuid by;
    bool reform, bootstrap;
    bool anchored;  /* it counted only the members of its own views (gc_members_only) */
    uint32_t nmine; /* ... which were these */
    tr_uuid mine[3 * GC_MAX_MEMBERS];
    uint64_t mine_inc[3 * GC_MAX_MEMBERS]; /* 0: any (a view restored from gvwstate.dat) */
    int ntargets; /* the peers it invited */
    tr_uuid targets[GC_MAX_MEMBERS];
};

static void add_members(struct grec *g, const gc_view *v)
{
    for (uint32_t i = 0; v && i < v->n && g->nmine < 3 * GC_MAX_MEMBERS; i++) {
        g->mine[g->nmine] = v->m[i].uuid;
        g->mine_inc[g->nmine++] = v->m[i].incarnation;
    }
}

/* The lowest uuid among v's members that gatherer g counted for the initiative. */
static const tr_uuid *lowest_counted(const struct grec *g, const gc_view *v)
{
    for (uint32_t i = 0; i < v->n; i++) {
        if (!g->anchored || !tr_uuid_compare(&v->m[i].uuid, &g->by)) return &v->m[i].uuid;
        for (uint32_t k = 0; k < g->nmine; k++)
            if (!tr_uuid_compare(&g->mine[k], &v->m[i].uuid) &&
                (!g->mine_inc[k] || g->mine_inc[k] == v->m[i].incarnation))
                return &v->m[i].uuid;
    }
    return NULL;
}

static struct grec *grecs;
static size_t ngrecs, capgrecs;
static struct hist *hists;
static size_t nhists;
static struct vrec *vrecs;
static size_t nvrecs, capvrecs;
static struct vsrec *vsrecs;
static size_t nvsrecs, capvsrecs;

void chk_reset(void)
{
    for (size_t i = 0; i < nhists; i++) {
        free(hists[i].hash);
        free(hists[i].ids);
        free(hists[i].id_seqno);
    }
    free(hists);
    free(vrecs);
    free(vsrecs);
    free(grecs);
    grecs = NULL;
    ngrecs = capgrecs = 0;
    hists = NULL;
    vrecs = NULL;
    vsrecs = NULL;
    nhists = nvrecs = capvrecs = nvsrecs = capvsrecs = 0;
}

/* An operator's bootstrap (pc.bootstrap) may continue an older log in the same history when the
 * members that held a later one lost it: Galera lets the operator override the primary component
 * rule, and the application's state exchange decides what survives. What was delivered before no
 * longer binds the order; everything delivered from here on is checked as before. */
void chk_operator_bootstrap(struct sim *s)
{
    for (size_t i = 0; i < nhists; i++) {
        if (hists[i].hash) memset(hists[i].hash, 0, hists[i].cap * sizeof *hists[i].hash);
        if (hists[i].ids) memset(hists[i].ids, 0, hists[i].id_cap * sizeof *hists[i].ids);
        hists[i].id_n = 0; /* senders may have their lost messages ordered again */
    }
    nvsrecs = 0;
    for (int i = 0; i < s->n; i++) {
        s->nodes[i].last_seqno = 0;
        s->nodes[i].skip_ok = true;
    }
}

void chk_fail(struct sim *s, const char *fmt, ...)
{
    if (s->fail[0]) return;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(s->fail, sizeof s->fail, "t=%.3fs: ", (double)s->now / 1e9);
    vsnprintf(s->fail + n, sizeof s->fail - (size_t)n, fmt, ap);
    va_end(ap);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t view_fp(const gc_view *v)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, &v->primary, sizeof v->primary);
    h = fnv(h, v->history.data, 16);
    for (uint32_t i = 0; i < v->n; i++) {
        h = fnv(h, v->m[i].uuid.data, 16);
        h = fnv(h, &v->m[i].incarnation, 8);
        h = fnv(h, &v->m[i].weight, 1);
    }
    return h;
}

static struct hist *hist_get(const tr_uuid *id, bool *created)
{
    *created = false;
    for (size_t i = 0; i < nhists; i++)
        if (!tr_uuid_compare(&hists[i].id, id)) return &hists[i];
    hists = realloc(hists, (nhists + 1) * sizeof *hists);
    if (!hists) abort();
    struct hist *h = &hists[nhists++];
    memset(h, 0, sizeof *h);
    h->id = *id;
    *created = true;
    return h;
}

/* The id of a workload message (sender index, its restarts, its sequence; sim_net.c EV_BCAST),
 * or 0 for any other payload (scenarios, the replicator's in trireme-nsim). */
static uint64_t workload_id(const struct sim *s, const struct gc_delivery *d)
{
    const uint8_t *b = d->data;
    if (d->len <= 16 || d->len > 2048) return 0;
    int idx;
    uint64_t seq;
    uint32_t restarts;
    memcpy(&idx, b, 4);
    memcpy(&seq, b + 4, 8);
    memcpy(&restarts, b + 12, 4);
    if (idx < 0 || idx >= s->n || seq >= (1ull << 40) || restarts >= (1u << 16)) return 0;
    for (size_t k = 16; k < d->len; k++)
        if (b[k] != (uint8_t)(k * 31 + seq)) return 0;
    return (uint64_t)(idx + 1) << 56 | (uint64_t)restarts << 40 | seq;
}

/* The seqno at which message id was first ordered in h, recording seqno if it is new. */
static int64_t id_ordered_at(struct hist *h, uint64_t id, int64_t seqno)
{
    if (2 * (h->id_n + 1) > h->id_cap) {
        size_t ncap = h->id_cap ? 2 * h->id_cap : 1024;
        uint64_t *ids = calloc(ncap, sizeof *ids);
        int64_t *at = calloc(ncap, sizeof *at);
        if (!ids || !at) abort();
        for (size_t i = 0; i < h->id_cap; i++) {
            if (!h->ids[i]) continue;
            size_t j = (size_t)(h->ids[i] * 0x9e3779b97f4a7c15ull) & (ncap - 1);
            while (ids[j]) j = (j + 1) & (ncap - 1);
            ids[j] = h->ids[i];
            at[j] = h->id_seqno[i];
        }
        free(h->ids);
        free(h->id_seqno);
        h->ids = ids;
        h->id_seqno = at;
        h->id_cap = ncap;
    }
    size_t j = (size_t)(id * 0x9e3779b97f4a7c15ull) & (h->id_cap - 1);
    while (h->ids[j] && h->ids[j] != id) j = (j + 1) & (h->id_cap - 1);
    if (h->ids[j]) return h->id_seqno[j];
    h->ids[j] = id;
    h->id_seqno[j] = seqno;
    h->id_n++;
    return seqno;
}

static void check_msg(struct sim *s, struct sim_node *nd, const struct gc_delivery *d)
{
    if (!nd->have_view || !nd->view.primary || nd->view.id.epoch == 0)
        return chk_fail(s, "n%d delivered seqno %lld outside a primary view", nd->idx, (long long)d->seqno);
    if (tr_uuid_compare(&d->history, &nd->view.history))
        return chk_fail(s, "n%d delivered a message of another history", nd->idx);
    if (d->seqno < 1) return chk_fail(s, "n%d delivered seqno %lld", nd->idx, (long long)d->seqno);
    if (s->verbose > 1)
        fprintf(stderr, "[%9.3f] n%d deliver %lld len %zu from %02x%02x\n", (double)s->now / 1e9, nd->idx,
                (long long)d->seqno, d->len, d->sender.data[14], d->sender.data[15]);
    bool same_hist = !tr_uuid_compare(&d->history, &nd->hist);
    if (same_hist && !nd->skip_ok && d->seqno != nd->last_seqno + 1)
        return chk_fail(s, "n%d: seqno %lld after %lld without a view in between (gap or duplicate)", nd->idx,
                        (long long)d->seqno, (long long)nd->last_seqno);
    if (same_hist && d->seqno <= nd->last_seqno)
        return chk_fail(s, "n%d: seqno went back from %lld to %lld", nd->idx, (long long)nd->last_seqno,
                        (long long)d->seqno);
    if (!same_hist && !nd->skip_ok)
        return chk_fail(s, "n%d: history changed without a non-continuous view", nd->idx);
    bool created;
    struct hist *h = hist_get(&d->history, &created);
    if (created && nhists > 1 && !s->ever_crashed)
        return chk_fail(s, "a second history began although no node ever crashed");
    uint64_t hv = fnv(fnv(0xcbf29ce484222325ull, d->sender.data, 16), d->data, d->len) | 1;
    size_t sq = (size_t)d->seqno;
    if (sq >= h->cap) {
        size_t ncap = h->cap ? h->cap : 1024;
        while (ncap <= sq) ncap *= 2;
        h->hash = realloc(h->hash, ncap * sizeof *h->hash);
        if (!h->hash) abort();
        memset(h->hash + h->cap, 0, (ncap - h->cap) * sizeof *h->hash);
        h->cap = ncap;
    }
    if (h->hash[sq] && h->hash[sq] != hv)
        return chk_fail(s, "n%d: seqno %zu is a different message than on another node (total order / lost "
                           "message)", nd->idx, sq);
    h->hash[sq] = hv;
    /* each sender's messages at most once per node, in the order it sent them */
    int from;
    uint64_t seq;
    if (sim_msg_get(d->data, d->len, &from, &seq)) {
        if (seq <= nd->last_from[from])
            return chk_fail(s, "n%d delivered n%d's message %llu %s (seqno %lld; last from n%d: %llu)", nd->idx, from,
                            (unsigned long long)seq, seq == nd->last_from[from] ? "twice" : "out of its send order",
                            (long long)d->seqno, from, (unsigned long long)nd->last_from[from]);
        nd->last_from[from] = seq;
    }
    /* and across the group: a message is ordered at one seqno only */
    uint64_t id = workload_id(s, d);
    int64_t first = id ? id_ordered_at(h, id, d->seqno) : d->seqno;
    if (first != d->seqno)
        return chk_fail(s, "n%d: message %llu of n%d ordered twice: at seqno %lld and %lld", nd->idx,
                        (unsigned long long)(id & ((1ull << 40) - 1)), (int)(id >> 56) - 1,
                        (long long)first, (long long)d->seqno);
    nd->hist = d->history;
    nd->last_seqno = d->seqno;
    nd->skip_ok = false;
    nd->vs_count++;
    nd->vs_hash = fnv(nd->vs_hash, &hv, 8);
    nd->delivered_total++;
    nd->last_deliver_time = s->now;
}

static bool same_members(const gc_view *a, const gc_view *b);

/* Invariant 12: a view whose members all still deliver in the primary view before it, which has
 * the same members, is not delivered (gc_gather.c, quiet_view), unless an operator's bootstrap
 * formed it. Checked once every member has delivered v (a member that did not continue delivers
 * a non-primary view first, and may do so after the others delivered v). Which node a gather
 * invited and left out tells a rejoin from a re-formed view. */
static void check_same_members(struct sim *s, const gc_view *v)
{
    const gc_view *from = NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        const struct sim_node *o = NULL;
        for (int k = 0; k < s->n && !o; k++)
            if (s->nodes[k].alive && s->nodes[k].core &&
                !tr_uuid_compare(gc_core_uuid(s->nodes[k].core), &v->m[i].uuid))
                o = &s->nodes[k];
        if (!o || !o->have_view || gc_view_id_cmp(&o->view.id, &v->id) || !o->prev_primary) return;
        if (!from) from = &o->prev_view;
        else if (gc_view_id_cmp(&from->id, &o->prev_view.id)) return;
    }
    if (!from || !same_members(v, from)) return;
    const tr_uuid *out = NULL;
    for (size_t i = ngrecs; i-- > 0 && !out;) {
        const struct grec *g = &grecs[i];
        if (g->epoch != v->id.epoch || tr_uuid_compare(&g->by, &v->id.leader)) continue;
        if (g->bootstrap) return;
        for (int k = 0; k < g->ntargets && !out; k++)
            if (gc_view_find(v, &g->targets[k]) < 0) out = &g->targets[k];
        break;
    }
    char o[48] = "";
    if (out) snprintf(o, sizeof o, " (its gather invited %02x%02x and left it out)", out->data[14], out->data[15]);
    chk_fail(s, "primary view %llu%s has the same members as primary view %llu, which every member delivered "
                "before it", (unsigned long long)v->id.epoch, o, (unsigned long long)from->id.epoch);
}

/* Same members (uuid, incarnation) with the same weights. */
static bool same_members(const gc_view *a, const gc_view *b)
{
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (tr_uuid_compare(&a->m[i].uuid, &b->m[i].uuid) || a->m[i].incarnation != b->m[i].incarnation ||
            a->m[i].weight != b->m[i].weight)
            return false;
    return true;
}

static void check_view(struct sim *s, struct sim_node *nd, const struct gc_delivery *d)
{
    const gc_view *v = d->view;
    const tr_uuid *me = gc_core_uuid(nd->core);
    int idx = gc_view_find(v, me);
    if (idx != d->my_index) return chk_fail(s, "n%d: view own index %d, expected %d", nd->idx, d->my_index, idx);
    if (v->n > 0 && idx < 0) return chk_fail(s, "n%d: delivered a view without itself", nd->idx);
    for (uint32_t i = 0; i < v->n; i++)
        if (sim_outsider_is(s, &v->m[i].uuid))
            return chk_fail(s, "n%d: the outsider is a member of view %llu", nd->idx, (unsigned long long)v->id.epoch);
    if (v->id.epoch != 0) {
        if (nd->have_view && nd->view.id.epoch != 0 && v->id.epoch <= nd->view.id.epoch)
            return chk_fail(s, "n%d: view epoch went from %llu to %llu", nd->idx,
                            (unsigned long long)nd->view.id.epoch, (unsigned long long)v->id.epoch);
        uint64_t fp = view_fp(v);
        bool found = false;
        for (size_t i = 0; i < nvrecs; i++)
            if (!gc_view_id_cmp(&vrecs[i].id, &v->id)) {
                found = true;
                if (vrecs[i].fp != fp)
                    return chk_fail(s, "n%d: view %llu has different contents on different nodes", nd->idx,
                                    (unsigned long long)v->id.epoch);
            }
        if (!found) {
            if (nvrecs == capvrecs) {
                capvrecs = capvrecs ? capvrecs * 2 : 256;
                vrecs = realloc(vrecs, capvrecs * sizeof *vrecs);
                if (!vrecs) abort();
            }
            vrecs[nvrecs++] = (struct vrec){v->id, fp};
        }
        if (nd->have_view && nd->view.id.epoch != 0) {
            /* virtual synchrony: same (previous view, next view) => same messages in between. The
             * previous view is the one the node was in: a quiet view (gc_keep_view) it delivered
             * in as in the one before it, without telling the application. A member of that view
             * that never installed it (its START lost) leaves the view before it instead, and
             * may have delivered less there (seeds 5108, 6143 at 6 nodes). */
            const gc_view_id *from = nd->core_dv.epoch > nd->view.id.epoch ? &nd->core_dv : &nd->view.id;
            found = false;
            for (size_t i = 0; i < nvsrecs; i++)
                if (!gc_view_id_cmp(&vsrecs[i].a, from) && !gc_view_id_cmp(&vsrecs[i].b, &v->id)) {
                    found = true;
                    if (vsrecs[i].count != nd->vs_count || vsrecs[i].hash != nd->vs_hash)
                        return chk_fail(s, "n%d: virtual synchrony: %llu messages between views %llu and %llu, "
                                           "another node delivered %llu",
                                        nd->idx, (unsigned long long)nd->vs_count,
                                        (unsigned long long)from->epoch, (unsigned long long)v->id.epoch,
                                        (unsigned long long)vsrecs[i].count);
                }
            if (!found) {
                if (nvsrecs == capvsrecs) {
                    capvsrecs = capvsrecs ? capvsrecs * 2 : 256;
                    vsrecs = realloc(vsrecs, capvsrecs * sizeof *vsrecs);
                    if (!vsrecs) abort();
                }
                vsrecs[nvsrecs++] = (struct vsrec){*from, v->id, nd->vs_count, nd->vs_hash};
            }
        }
    }
    /* a member that does not continue its primary view has lost what it had pending: it must
     * have said so with a non-primary view first (the replicator fails its in-flight writes
     * there, and would wait for ever otherwise) */
    if (v->primary && !d->continuous && nd->have_view && nd->view.primary)
        return chk_fail(s, "n%d: primary view %llu does not continue primary view %llu, and no non-primary view "
                           "came between", nd->idx, (unsigned long long)v->id.epoch,
                        (unsigned long long)nd->view.id.epoch);
    if (v->primary && !d->continuous) nd->skip_ok = true;
    if (v->primary && d->continuous && nd->have_view && nd->view.primary &&
        tr_uuid_compare(&v->history, &nd->view.history))
        return chk_fail(s, "n%d: continuous view changed history", nd->idx);
    if (s->verbose) {
        char u[40];
        tr_uuid_print(&v->id.leader, u);
        u[8] = 0;
        fprintf(stderr, "[%9.3f] n%d view %llu.%s %s n=%u cont=%d\n", (double)s->now / 1e9, nd->idx,
                (unsigned long long)v->id.epoch, u, v->primary ? "PRIM" : "non-prim", v->n, d->continuous);
    }
    if (!v->primary) nd->nonprim_views++;
    nd->prev_primary = nd->have_view && nd->view.primary;
    if (nd->prev_primary) nd->prev_view = nd->view;
    nd->view = *v;
    nd->have_view = true;
    nd->vs_count = 0;
    nd->vs_hash = 0;
    /* a membership round that ends with the members of the view before brings nothing new: the
     * application must not see a second primary view with the same members (wsrep-lib takes two
     * consecutive primary views of equal membership for a split that healed and rolls back every
     * streaming transaction), unless a member did pass through a non-primary view */
    if (v->primary) check_same_members(s, v);
}

void chk_on_deliver(struct sim *s, struct sim_node *nd, const struct gc_delivery *d)
{
    if (d->kind == GC_DELIVER_MSG) check_msg(s, nd, d);
    else check_view(s, nd, d);
}

/* The leader rule (docs/design/gcomm.md section 8, desired set): the leader of a view is the
 * node that gathered it, a member of it, and the lowest uuid among its members, unless it
 * gathered while NORMAL as the leader of its own view (a re-forming leader keeps the role) or
 * for pc.bootstrap. */
static void check_leader_rule(struct sim *s, struct sim_node *nd)
{
    struct gc_core_probe pr;
    gc_core_probe(nd->core, &pr);
    if (pr.dv) nd->core_dv = pr.dv->id;
    const tr_uuid *me = gc_core_uuid(nd->core);
    if (pr.state == GC_ST_GATHER && pr.gather_epoch != nd->pr_gather) {
        if (ngrecs == capgrecs) {
            capgrecs = capgrecs ? capgrecs * 2 : 256;
            grecs = realloc(grecs, capgrecs * sizeof *grecs);
            if (!grecs) abort();
        }
        struct grec *g = &grecs[ngrecs++];
        memset(g, 0, sizeof *g);
        g->epoch = pr.gather_epoch;
        g->by = *me;
        g->reform = nd->pr_state == GC_ST_NORMAL && nd->pr_leading;
        g->bootstrap = pr.gather_bootstrap;
        g->anchored = pr.gather_members_only;
        add_members(g, nd->pr_cur_view.n ? &nd->pr_cur_view : NULL);
        add_members(g, pr.dv);
        add_members(g, pr.last_prim);
        for (int k = 0; k < pr.gather_ntargets && k < GC_MAX_MEMBERS; k++) g->targets[g->ntargets++] = pr.gather_targets[k];
        nd->pr_gather = pr.gather_epoch;
    }
    if (pr.cur && gc_view_id_cmp(&pr.cur->id, &nd->pr_cur)) {
        const gc_view *v = pr.cur;
        const struct grec *g = NULL;
        for (size_t i = ngrecs; i-- > 0 && !g;)
            if (grecs[i].epoch == v->id.epoch && !tr_uuid_compare(&grecs[i].by, &v->id.leader)) g = &grecs[i];
        if (!g)
            return chk_fail(s, "n%d installed view %llu.%02x%02x whose leader never gathered it", nd->idx,
                            (unsigned long long)v->id.epoch, v->id.leader.data[14], v->id.leader.data[15]);
        if (gc_view_find(v, &v->id.leader) < 0)
            return chk_fail(s, "n%d installed view %llu whose leader is not a member", nd->idx,
                            (unsigned long long)v->id.epoch);
        const tr_uuid *low = lowest_counted(g, v);
        if (!g->reform && !g->bootstrap && (!low || tr_uuid_compare(low, &v->id.leader)))
            return chk_fail(s, "n%d installed view %llu (%u members) led by a node that is not the lowest uuid it "
                               "counted, did not re-form a view it led and did not bootstrap", nd->idx,
                            (unsigned long long)v->id.epoch, v->n);
        nd->pr_cur = v->id;
        nd->pr_cur_view = *v;
    }
    nd->pr_state = pr.state;
    nd->pr_leading = pr.state == GC_ST_NORMAL && pr.cur && !tr_uuid_compare(&pr.cur->id.leader, me);
}

static bool in_evict(const gc_evict_list *e, const tr_uuid *u)
{
    for (int i = 0; i < e->n; i++)
        if (!tr_uuid_compare(&e->u[i], u)) return true;
    return false;
}

static bool same_evict(const gc_evict_list *a, const gc_evict_list *b)
{
    if (a->gen != b->gen || a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (!in_evict(b, &a->u[i])) return false;
    return true;
}

/* Evict lists (docs/design/gcomm.md section 14): a view's list names none of its members, every
 * member of a view installed it with the same list, a list never loses a uuid unless an operator
 * cleared it, and without auto-eviction (or with a threshold no count reaches) and without an
 * operator nobody is evicted. */
static void check_evict(struct sim *s)
{
    struct gc_core_probe pr[SIM_MAX_NODES];
    for (int i = 0; i < s->n && !s->fail[0]; i++) {
        struct sim_node *nd = &s->nodes[i];
        if (!nd->alive || !nd->core) continue;
        gc_core_probe(nd->core, &pr[i]);
        const gc_view *v = pr[i].cur;
        if (v && pr[i].state == GC_ST_NORMAL)
            for (uint32_t k = 0; k < v->n; k++)
                if (in_evict(pr[i].view_evict, &v->m[k].uuid))
                    return chk_fail(s, "n%d installed view %llu with member %u in the view's evict list", i,
                                    (unsigned long long)v->id.epoch, k);
        for (int j = 0; j < i; j++) {
            struct sim_node *od = &s->nodes[j];
            if (!od->alive || !od->core || !v || !pr[j].cur || pr[i].state != GC_ST_NORMAL ||
                pr[j].state != GC_ST_NORMAL || gc_view_id_cmp(&v->id, &pr[j].cur->id))
                continue;
            if (!same_evict(pr[i].view_evict, pr[j].view_evict))
                return chk_fail(s, "n%d and n%d installed view %llu with different evict lists (%u and %u uuids)", j, i,
                                (unsigned long long)v->id.epoch, pr[j].view_evict->n, pr[i].view_evict->n);
        }
        if (!s->evict_ops && (s->auto_evict == 0 || s->auto_evict > 255) &&
            (pr[i].evict->n || pr[i].evict->gen || pr[i].evicted))
            return chk_fail(s, "n%d evicted somebody (%u in its list) or was evicted without auto-eviction", i,
                            pr[i].evict->n);
        if (nd->ev_restarts != nd->restarts) { /* the list lives in memory: a new process starts empty */
            memset(&nd->ev_seen, 0, sizeof nd->ev_seen);
            nd->ev_restarts = nd->restarts;
        }
        if (!s->evict_ops)
            for (int k = 0; k < nd->ev_seen.n; k++)
                if (!in_evict(pr[i].evict, &nd->ev_seen.u[k]))
                    return chk_fail(s, "n%d's evict list lost a uuid nobody cleared", i);
        nd->ev_seen = *pr[i].evict;
    }
}

void chk_step(struct sim *s)
{
    if (s->out) sim_outsider_check(s);
    check_evict(s);
    for (int i = 0; i < s->n && !s->fail[0]; i++)
        if (s->nodes[i].alive && s->nodes[i].core) check_leader_rule(s, &s->nodes[i]);
    const gc_view *prim = NULL;
    int who = -1;
    for (int i = 0; i < s->n; i++) {
        struct sim_node *nd = &s->nodes[i];
        if (!nd->alive || !nd->core || !gc_core_is_primary(nd->core)) continue;
        if (!nd->have_view || !nd->view.primary)
            return chk_fail(s, "n%d reports primary without having delivered a primary view", i);
        if (prim && gc_view_id_cmp(&prim->id, &nd->view.id))
            return chk_fail(s, "two primary components at once: n%d in view %llu.%02x, n%d in view %llu.%02x", who,
                            (unsigned long long)prim->id.epoch, prim->id.leader.data[0], i,
                            (unsigned long long)nd->view.id.epoch, nd->view.id.leader.data[0]);
        prim = &nd->view;
        who = i;
    }
}
