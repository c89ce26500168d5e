/* gcomm/gc_quorum: the view-change decision (docs/design/gcomm.md section 8, steps 3 to 6) as a
 * pure function of the collected STATEs: last primary view, quorum, adopted log, lease wait. */
#include "gcomm/gc_quorum.h"

#include <string.h>

#define NEVER UINT64_MAX

struct ctx {
    const struct gc_decide_in *in;
    struct gc_decision *d;
};

static int find(const struct gc_decide_in *in, const tr_uuid *u)
{
    for (int i = 0; i < in->n; i++)
        if (!tr_uuid_compare(&in->r[i]->uuid, u)) return i;
    return -1;
}

const gc_view *gc_decision_eff(const struct gc_decide_in *in, const struct gc_decision *d, int i)
{
    return d->eff[i] == GC_EFF_PRIM ? &in->r[i]->prim : d->eff[i] == GC_EFF_ESTAB ? &in->r[i]->estab : NULL;
}

bool gc_decision_holds_p(const struct gc_decide_in *in, const struct gc_decision *d, int i)
{
    const gc_view *e = gc_decision_eff(in, d, i);
    return d->P && e && !(in->r[i]->flags & GC_STATE_RECOVERED) && !gc_view_id_cmp(&e->id, &d->P->id);
}

bool gc_joint_quorum(const gc_joint *j, uint32_t n, bool ignore_sb, bool (*present)(const void *arg, const tr_uuid *u),
                     const void *arg)
{
    uint64_t pr[2] = {0, 0}, lf[2] = {0, 0}, tot[2] = {0, 0};
    for (uint32_t i = 0; i < n; i++) {
        int set = j[i].left >> 1 & 1;
        tot[set] += j[i].weight;
        if (j[i].left & 1) lf[set] += j[i].weight;
        else if (present(arg, &j[i].uuid)) pr[set] += j[i].weight;
    }
    for (int set = 0; set < 2; set++) {
        if (!tot[set] && !lf[set]) continue;
        enum gc_quorum q = gc_quorum_eval(pr[set], lf[set], tot[set]);
        if (!(q == GC_Q_YES || (q == GC_Q_SPLIT && ignore_sb))) return false;
    }
    return true;
}

/* Did reporter s acknowledge view X? Exact while X is within its record of acked epochs. */
static bool reporter_acked(const struct gc_report *s, const gc_view *X)
{
    if (!(s->flags & GC_STATE_HAS_PRIM) || gc_view_id_cmp(&s->prim.id, &X->id) < 0) return false;
    if (s->flags & GC_STATE_RECOVERED) return true; /* only its gvwstate survived: assume it did */
    if (s->nacked == GC_ACKED_MAX && X->id.epoch < s->acked[0]) return true; /* older than the record */
    for (int i = 0; i < s->nacked; i++)
        if (s->acked[i] == X->id.epoch) return true;
    return false;
}

struct acked_arg {
    const struct gc_decide_in *in;
    const gc_view *X;
};

/* A member of X may have acknowledged it unless it reported that it did not. */
static bool may_have_acked(const void *arg, const tr_uuid *u)
{
    const struct acked_arg *a = arg;
    if (gc_view_find(a->X, u) < 0) return false;
    int k = find(a->in, u);
    return k < 0 || reporter_acked(a->in->r[k], a->X);
}

static bool live_reporter(const void *arg, const tr_uuid *u)
{
    const struct ctx *x = arg;
    int k = find(x->in, u);
    return k >= 0 && x->d->eff[k] != GC_EFF_NONE && !(x->in->r[k]->flags & (GC_STATE_RECOVERED | GC_STATE_LEAVING));
}

/* Could view X (pending at some reporters) have been established? Only members that report X
 * or later, or that did not report at all, may have acknowledged it. */
static bool possibly_established(const struct gc_decide_in *in, const gc_view *X, const struct gc_report *src)
{
    uint64_t acked = 0;
    for (uint32_t i = 0; i < X->n; i++) {
        int k = find(in, &X->m[i].uuid);
        if (k < 0 || reporter_acked(in->r[k], X)) acked += X->m[i].weight;
    }
    if (2 * acked <= gc_view_weight(X)) return false;
    if (!src || (src->flags & GC_STATE_PFORCED) || src->njoint == 0) return true;
    struct acked_arg a = {in, X};
    return gc_joint_quorum(src->joint, src->njoint, in->ignore_sb, may_have_acked, &a);
}

/* The latest primary view that may exist: reported established by someone, or possibly
 * established. Sets every reporter's eff (the view its log continues). */
static const gc_view *choose_prim(const struct gc_decide_in *in, struct gc_decision *d, int *pending_src, bool live_only)
{
    *pending_src = -1;
    for (int i = 0; i < in->n; i++) {
        const struct gc_report *s = in->r[i];
        bool skip = (live_only && (s->flags & GC_STATE_RECOVERED)) || (s->flags & GC_STATE_DECLINE);
        d->eff[i] = (s->flags & GC_STATE_HAS_PRIM) && !skip ? GC_EFF_PRIM : GC_EFF_NONE;
    }
    for (int round = 0; round <= in->n; round++) {
        const gc_view *P = NULL;
        for (int i = 0; i < in->n; i++) {
            const gc_view *e = gc_decision_eff(in, d, i);
            if (e && (!P || gc_view_id_cmp(&e->id, &P->id) > 0)) P = e;
        }
        if (!P) return NULL;
        bool ok = false;
        int src = -1;
        for (int i = 0; i < in->n && !ok; i++) {
            const gc_view *e = gc_decision_eff(in, d, i);
            if (!e || gc_view_id_cmp(&e->id, &P->id)) continue;
            if (d->eff[i] == GC_EFF_PRIM && !(in->r[i]->flags & GC_STATE_PENDING)) ok = true; /* seen established */
            else if (d->eff[i] == GC_EFF_PRIM) src = i;
        }
        if (ok) return P;
        if (possibly_established(in, P, src >= 0 ? in->r[src] : NULL)) {
            *pending_src = src;
            return P;
        }
        gc_view_id dead = P->id;
        for (int i = 0; i < in->n; i++) {
            const gc_view *e = gc_decision_eff(in, d, i);
            if (e && !gc_view_id_cmp(&e->id, &dead))
                d->eff[i] = d->eff[i] == GC_EFF_PRIM && (in->r[i]->flags & GC_STATE_HAS_ESTAB) ? GC_EFF_ESTAB
                                                                                              : GC_EFF_NONE;
        }
    }
    return NULL;
}

/* Quorum of P by Galera's rule over P's own member weights: the live holders of P present with
 * the incarnation P knew them by, the ones that left gracefully counted as "left". */
static bool p_quorum(const struct gc_decide_in *in, const struct gc_decision *d, const gc_view *P)
{
    uint64_t present = 0, left = 0;
    for (uint32_t i = 0; i < P->n; i++) {
        int k = find(in, &P->m[i].uuid);
        if (k < 0 || !gc_decision_holds_p(in, d, k) || in->r[k]->inc != P->m[i].incarnation) continue;
        if (in->r[k]->flags & GC_STATE_LEAVING) left += P->m[i].weight;
        else present += P->m[i].weight;
    }
    enum gc_quorum q = gc_quorum_eval(present, left, gc_view_weight(P));
    return q == GC_Q_YES || (q == GC_Q_SPLIT && in->ignore_sb);
}

/* pc.recovery: every member of P is back, and some lost their log (restarted, or their log was
 * replaced by a view that never formed). */
static bool recoverable(const struct gc_decide_in *in, const struct gc_decision *d, const gc_view *P)
{
    bool every = true, some_recovered = false;
    for (uint32_t i = 0; i < P->n; i++) {
        int k = find(in, &P->m[i].uuid);
        if (k < 0 || (in->r[k]->flags & GC_STATE_DECLINE)) every = false;
        else if ((in->r[k]->flags & GC_STATE_RECOVERED) || in->r[k]->inc != P->m[i].incarnation ||
                 !gc_decision_eff(in, d, k) || gc_view_id_cmp(&gc_decision_eff(in, d, k)->id, &P->id))
            some_recovered = true;
    }
    return every && some_recovered;
}

/* A missing member of P can hold a lease only while reporters still echo it: they stop when
 * they stop supporting the view, or when they stop hearing it. A member that declined holds its
 * lease at least until the time it reported. */
static uint64_t lease_wait(const struct gc_decide_in *in, const gc_view *P)
{
    uint64_t wait_until = 0;
    for (int i = 0; i < in->n; i++)
        if ((in->r[i]->flags & GC_STATE_DECLINE) && gc_view_find(P, &in->r[i]->uuid) >= 0 &&
            in->r[i]->live_until != NEVER && in->r[i]->live_until + in->margin > wait_until)
            wait_until = in->r[i]->live_until + in->margin;
    for (uint32_t k = 0; k < P->n; k++) {
        /* a decliner is as good as missing: it still supports P, and what the others echoed it
         * before they promised us may give it a lease after its report */
        int f = find(in, &P->m[k].uuid);
        if (f >= 0 && !(in->r[f]->flags & GC_STATE_DECLINE)) continue;
        for (int i = 0; i < in->n; i++) {
            const struct gc_report *s = in->r[i];
            if (s->stop_abs == NEVER) continue;
            uint64_t last = s->stop_abs;
            for (int h = 0; h < s->nheard; h++)
                if (!tr_uuid_compare(&s->heard[h], &P->m[k].uuid) && s->heard_abs[h] < last) last = s->heard_abs[h];
            if (last + in->lease_pad > wait_until) wait_until = last + in->lease_pad;
        }
    }
    return wait_until;
}

void gc_quorum_decide(const struct gc_decide_in *in, struct gc_decision *d)
{
    memset(d, 0, sizeof *d);
    struct ctx x = {in, d};
    /* Pass 1 may find the latest primary view only in the gvwstate.dat of restarted members
     * (no live holder) and fail to recover it because some of its members are gone for good
     * (a member that reconnected under a new uuid, say, and bootstrapped). Pass 2 then decides
     * on the live members' views alone, which is safe: the recovered view was formed from a
     * majority of every older view, and those members are restarted or absent now, never
     * present with an older view, so an older view can reach quorum here only if it was forced
     * (a bootstrap), the operator's decision, as Galera lets a primary component win. */
    /* A member that is in a primary component right now (its lease on it still runs at this
     * instant) outranks what restarted members remember, as Galera's primary nodes outrank
     * restored state: no later primary view can have been formed, let alone persisted in a
     * gvwstate.dat, while that lease runs. */
    bool live_prim_now = false; /* decliners included: they stay in theirs */
    for (int i = 0; i < in->n; i++)
        if (!(in->r[i]->flags & (GC_STATE_RECOVERED | GC_STATE_LEAVING)) && in->r[i]->live_until > in->now)
            live_prim_now = true;
    for (int pass = 0;; pass++) {
        const gc_view *P = choose_prim(in, d, &d->psrc, pass == 1);
        d->P = P;
        d->adopt = -1;
        d->nlive = 0;
        for (int i = 0; i < in->n; i++) {
            if (!gc_decision_holds_p(in, d, i)) continue;
            d->nlive++;
            if (d->adopt < 0 || in->r[i]->log_end > in->r[d->adopt]->log_end) d->adopt = i;
        }
        d->primary = d->forced = d->newhist = false;
        if (in->ignore_quorum || in->bootstrap) {
            d->primary = d->forced = true;
            d->newhist = d->nlive == 0;
        } else if (P) {
            if (d->nlive > 0) {
                d->primary = p_quorum(in, d, P);
                const struct gc_report *ps = d->psrc >= 0 ? in->r[d->psrc] : NULL;
                if (d->primary && ps && !(ps->flags & GC_STATE_PFORCED) && ps->njoint)
                    /* P may never have been established: we must also hold quorums of its predecessors */
                    d->primary = gc_joint_quorum(ps->joint, ps->njoint, in->ignore_sb, live_reporter, &x);
            }
            if (!d->primary && in->recovery && !(d->nlive == 0 && live_prim_now))
                d->primary = d->forced = d->newhist = recoverable(in, d, P);
        }
        if (d->primary && !d->newhist && d->adopt < 0) d->primary = false; /* nothing to continue from */
        if (d->primary || pass == 1 || !P || d->nlive > 0 || in->ignore_quorum || in->bootstrap) break;
        bool live_prim = false;
        for (int i = 0; i < in->n; i++)
            if (!(in->r[i]->flags & GC_STATE_RECOVERED) && (in->r[i]->flags & GC_STATE_HAS_PRIM)) live_prim = true;
        if (!live_prim) break;
    }
    d->wait_until = d->primary && !d->forced && d->P ? lease_wait(in, d->P) : 0;
    if (d->wait_until == NEVER) d->primary = false; /* cannot happen: NEVER leases are skipped */
    if (d->primary)
        d->install = in->now >= d->wait_until &&
                     (in->all_answered || in->timeout || (in->now >= in->since + in->patience && !in->in_transit));
    else
        d->install = in->all_answered || in->timeout;
}
