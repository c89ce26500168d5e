/* gcomm/gc_change: view changes at every member: when to want a new view (desired membership,
 * leader and member checks), promising to a gatherer, installing START, leaving. */
#include "gcomm/gc_core_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"

/* ---------- who may steer ---------- */

/* p is the member of v it claims to be (a view restored from gvwstate.dat knows no incarnations). */
bool gc_in_view(const gc_view *v, const struct peer *p)
{
    int k = v->id.epoch || v->n ? gc_view_find(v, &p->uuid) : -1;
    return k >= 0 && (v->m[k].incarnation == p->inc || !v->m[k].incarnation);
}

/* A member: of the view we are in (or left for a change), of the last one delivered, or of our
 * last primary view. */
bool gc_member_peer(const gc_core *c, const struct peer *p)
{
    return (c->cur.id.epoch && gc_in_view(&c->cur, p)) || (c->have_dv && gc_in_view(&c->dv, p)) ||
           (c->has_prim && gc_in_view(&c->last_prim, p));
}

/* Whose word on epochs, views, acknowledgements and flow control counts: members, and the peers
 * we invited into the change we gather. An outsider that knows the group name can link up and
 * talk, but what it says changes nothing (docs/design/gcomm.md section 3, "who steers"). */
bool gc_trusted(const gc_core *c, const struct peer *p)
{
    return gc_member_peer(c, p) || (c->state == GC_ST_GATHER && gc_in_set(c->g.targets, c->g.ntargets, &p->uuid));
}

/* The application sees us in a primary view: we take a GATHER only from its members. */
bool gc_anchored(const gc_core *c) { return c->have_dv && c->dv.primary && !c->nonprim_since; }

/* We follow members only: we are in a primary view, or we hear a member of our views (our
 * group is around; it takes us back). Only a node that hears none (a joiner, a node whose group
 * is gone) follows peers it does not know: epochs, GATHERs, the initiative. */
bool gc_members_only(const gc_core *c)
{
    if (gc_anchored(c)) return true;
    uint64_t t = gc_now(c);
    for (int i = 0; i < MAX_PEERS; i++)
        if (c->peers[i].used && gc_peer_fresh(c, &c->peers[i], t) && gc_member_peer(c, &c->peers[i])) return true;
    return false;
}

/* Leaves a non-member that did not take part out of the desired set for a while. */
void gc_skip_peer(gc_core *c, struct peer *p)
{
    uint64_t lo = c->t_change, hi = 4 * c->t_change;
    p->skip_backoff = !p->skip_backoff ? lo : p->skip_backoff * 2 > hi ? hi : p->skip_backoff * 2;
    p->skip_until = gc_now(c) + p->skip_backoff;
    char b[40];
    tr_debug("gcomm %s: peer %s is not a member and did not take part: left out for %.1f s", c->cfg.name,
             gc_uuid_short(&p->uuid, b), (double)p->skip_backoff / 1e9);
}

/* p gathers too (it sent us a GATHER lately, one we may have refused for its epoch): two nodes
 * outside a primary view that gather at once miss each other's GATHER, which is no reason to
 * leave either out. */
bool gc_peer_gathers(const gc_core *c, const struct peer *p, uint64_t t)
{
    return p->gather_seen && t - p->gather_seen < c->t_change;
}

/* Lets a peer that is not a member raise our epoch to e: by GC_EPOCH_STEP at once, by up to
 * GC_EPOCH_JUMP at most once per t_change. A joiner learns a running group's epoch so (one a
 * million view changes further on is seconds away), and an outsider moves ours slowly: 2^62 is
 * 2^52 small steps or 2^42 large ones away, and the leader that invites us can follow
 * (gc_start_gather). Returns whether e is now within max_epoch. */
bool gc_epoch_from_outside(gc_core *c, uint64_t e)
{
    if (e <= c->max_epoch) return true;
    if (e - c->max_epoch <= GC_EPOCH_STEP) {
        c->max_epoch = e;
        return true;
    }
    uint64_t t = gc_now(c);
    if (c->raised_at && t - c->raised_at < c->t_change) return false;
    c->raised_at = t;
    c->max_epoch = e - c->max_epoch > GC_EPOCH_JUMP ? c->max_epoch + GC_EPOCH_JUMP : e;
    return e <= c->max_epoch;
}

/* A non-member answered a leader's probe lately: it takes part, and may be taken into a view. */
bool gc_proved(const gc_core *c, const struct peer *p, uint64_t t)
{
    return p->proved_at && t - p->proved_at < 2 * c->t_change;
}

/* The next epoch, saturating: epochs from peers are at most GC_COUNT_MAX (decoders), ours never
 * pass it, so nothing wraps (a heartbeat promising 2^64-1 is malformed). */
uint64_t gc_epoch_next(uint64_t e) { return e < GC_COUNT_MAX ? e + 1 : GC_COUNT_MAX; }

/* ---------- state changes ---------- */

void gc_stop_supporting(gc_core *c)
{
    if (c->state == GC_ST_NORMAL) c->stop_time = gc_now(c);
}

void gc_leave_normal(gc_core *c, const char *why)
{
    if (c->state != GC_ST_NORMAL) return;
    tr_debug("gcomm %s: leaving view %" PRIu64 ": %s", c->cfg.name, c->cur.id.epoch, why);
    gc_stop_supporting(c);
    c->state = GC_ST_CHANGE;
    c->promise_peer = -1;
    c->promise_time = 0;
}

/* ---------- desired membership (who can hear whom) ---------- */

static bool reports_suspect(const struct peer *p, const tr_uuid *u)
{
    for (int i = 0; i < p->nsusp; i++)
        if (!tr_uuid_compare(&p->susp[i], u)) return true;
    return false;
}

/* The largest set of mutually hearing nodes among us and our fresh peers (ties: the
 * lexicographically smallest sorted uuid list). Returns its size; D is sorted. */
int gc_desired(gc_core *c, tr_uuid *D)
{
    uint64_t t = gc_now(c);
    bool anchored = gc_anchored(c);
    tr_uuid cand[GC_MAX_MEMBERS];
    struct peer *pp[GC_MAX_MEMBERS];
    int n = 0;
    cand[n] = c->me;
    pp[n++] = NULL;
    for (int i = 0; i < MAX_PEERS && n < GC_MAX_MEMBERS; i++) {
        struct peer *p = &c->peers[i];
        /* in a primary view, a peer that is not a member counts only once it has shown it takes
         * part (it answered the leader's probe): an outsider that links up and stays silent costs
         * no view change */
        if (p->used && gc_peer_fresh(c, p, t) && t >= p->skip_until && !gc_is_evicted(c, &p->uuid) &&
            (!anchored || gc_member_peer(c, p) || gc_proved(c, p, t))) {
            cand[n] = p->uuid;
            pp[n++] = p;
        }
    }
    /* sort candidates (with their peer pointers) by uuid */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && tr_uuid_compare(&cand[j], &cand[j - 1]) < 0; j--) {
            tr_uuid tu = cand[j]; cand[j] = cand[j - 1]; cand[j - 1] = tu;
            struct peer *tp = pp[j]; pp[j] = pp[j - 1]; pp[j - 1] = tp;
        }
    uint32_t adj[GC_MAX_MEMBERS];
    for (int i = 0; i < n; i++) {
        adj[i] = 0;
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            bool ij = pp[i] ? !reports_suspect(pp[i], &cand[j]) : true; /* we hear all fresh peers */
            bool ji = pp[j] ? !reports_suspect(pp[j], &cand[i]) : true;
            if (ij && ji) adj[i] |= 1u << j;
        }
    }
    /* members of the view we are in: among sets of one size, the one that keeps most of them
     * wins, so that a node that links up again and does not hear everybody yet (it was
     * isolated) does not make a leader trade a member for it */
    uint32_t mine = 0;
    for (int i = 0; i < n; i++)
        if (!pp[i] || gc_in_view(&c->cur, pp[i])) mine |= 1u << i;
    uint32_t best = 0;
    int bestn = 0, bestm = 0;
    if (n <= 16) {
        for (uint32_t s = 1; s < (1u << n); s++) {
            int k = __builtin_popcount(s);
            if (k < bestn) continue;
            bool ok = true;
            for (int i = 0; i < n && ok; i++)
                if ((s >> i & 1) && (s & ~(1u << i) & ~adj[i])) ok = false;
            if (!ok) continue;
            int km = __builtin_popcount(s & mine);
            /* tie-break: smaller sorted list = lower bits set first */
            uint32_t d = s ^ best;
            if (k > bestn || km > bestm || (km == bestm && (s & d & (~d + 1)))) {
                best = s;
                bestn = k;
                bestm = km;
            }
        }
    } else { /* greedy beyond 16 candidates */
        for (int i = 0; i < n; i++) {
            bool ok = true;
            for (int j = 0; j < n; j++)
                if ((best >> j & 1) && !(adj[i] >> j & 1)) ok = false;
            if (ok) { best |= 1u << i; bestn++; }
        }
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (best >> i & 1) D[k++] = cand[i];
    return k;
}

bool gc_in_set(const tr_uuid *set, int n, const tr_uuid *u)
{
    for (int i = 0; i < n; i++)
        if (!tr_uuid_compare(&set[i], u)) return true;
    return false;
}

/* ---------- view change: every member ---------- */

void gc_finish_leave(gc_core *c)
{
    if (c->left) return;
    c->state = GC_ST_LEFT;
    c->left = true;
    gc_view v;
    memset(&v, 0, sizeof v);
    gc_deliver_view(c, &v, false);
    if (!c->evicted) c->env.persist(c->env.ctx, NULL, 0); /* an evicted node keeps its uuid (gc_evict.c) */
    for (int i = 0; i < MAX_LINKS; i++)
        if (c->links[i].used) gc_close_link(c, &c->links[i], true);
}

/* If we still deliver in an older primary view that START closes, deliver up to its end. */
static void close_old_view(gc_core *c, const gc_msg *m)
{
    if (!c->have_dv || !c->dv.primary || c->nonprim_since) return;
    for (uint32_t k = 0; k < m->u.start.ngroups; k++) {
        const gc_close_group *g = &m->u.start.groups[k];
        if (g->epoch != c->dv.id.epoch || g->upto <= c->delivered) continue;
        if (gc_log_end(c) + 1 < g->first) return; /* cannot happen: see docs/design/gcomm.md section 8 */
        for (uint32_t i = 0; i < g->nentries; i++) {
            if (g->first + i <= gc_log_end(c)) continue;
            if (gc_log_append(c, &g->entries[i])) return;
        }
        while (c->delivered < g->upto && c->delivered < gc_log_end(c)) gc_deliver_entry(c, c->delivered + 1);
        return;
    }
}

/* A quiet START (GC_START_QUIET) assumes we still deliver in the view its log continues (the
 * adopted one, or the one that continued), which has its members; false when we left it since
 * our STATE (we delivered a non-primary view). */
static bool can_stay_quiet(const gc_core *c, const gc_msg *m)
{
    uint64_t e = c->dv.id.epoch;
    return c->have_dv && c->dv.primary && !c->nonprim_since && e &&
           (e == m->u.start.adopt_epoch || e == m->u.start.adopt_prev_epoch) &&
           gc_view_same_members(&c->dv, &m->u.start.view);
}

void gc_apply_start(gc_core *c, const gc_msg *m)
{
    const gc_view *v = &m->u.start.view;
    if (c->state == GC_ST_LEAVING) {
        if (gc_my_index(c, v) < 0) gc_finish_leave(c);
        return;
    }
    if (gc_my_index(c, v) < 0) return;
    if (v->id.epoch > c->max_epoch) c->max_epoch = v->id.epoch;
    close_old_view(c, m);
    c->promised = v->id.epoch;
    c->state = GC_ST_NORMAL;
    c->cur = *v;
    c->established = false;
    c->quiet = false;
    c->cur_delivered = false;
    c->stop_time = 0;
    c->lease_expiry = 0;
    c->lapse_since = 0;
    c->lapse_said = false;
    c->commit = 0;
    c->close = m->u.start.close;
    c->forced = m->u.start.flags & GC_START_FORCED;
    c->njoint = m->u.start.njoint;
    memcpy(c->joint, m->u.start.joint, sizeof c->joint[0] * c->njoint);
    c->view_evict = m->u.start.evict;
    gc_evict_merge(c, &m->u.start.evict); /* every member leaves START with the view's list */
    for (int i = 0; i < MAX_PEERS; i++) {
        c->peers[i].echo_ts = 0;
        c->peers[i].out_since = c->peers[i].bad_since = 0;
    }
    if (!v->primary) {
        gc_pend_drop_all(c);
        c->cur_delivered = true;
        gc_deliver_view(c, v, false);
        c->next_hb = 0;
        return;
    }
    /* data continuity: our log is a prefix-compatible copy of the adopted one, so we keep it (and
     * stay a holder of the group's log); delivery continuity additionally needs that we have not
     * reported a non-primary view since, else the old view's tail is skipped (virtual synchrony). */
    uint64_t ae = m->u.start.adopt_epoch;
    bool via_prim = c->has_prim && c->last_prim.id.epoch == ae;
    bool via_estab = !via_prim && c->has_prim && c->prim_pending && c->has_estab && c->last_estab.id.epoch == ae;
    /* the adopted log continues the view our log continues (its holder moved on to a view that never formed) */
    uint64_t ape = m->u.start.adopt_prev_epoch;
    if (!via_prim && !via_estab && ape && c->has_prim &&
        (c->last_prim.id.epoch == ape || (c->prim_pending && c->has_estab && c->last_estab.id.epoch == ape)))
        via_estab = true;
    bool data_cont = ae != 0 && !c->recovered && (via_prim || via_estab) &&
                     !tr_uuid_compare(&c->last_prim.history, &v->history) && gc_log_end(c) + 1 >= m->u.start.first;
    bool self_adopted = data_cont && !tr_uuid_compare(&v->id.leader, &c->me) && gc_log_end(c) == c->close;
    if (data_cont && !self_adopted) {
        gc_log_truncate_back(c, m->u.start.first - 1);
        for (uint32_t i = 0; i < m->u.start.nentries; i++) {
            if (m->u.start.first + i <= gc_log_end(c)) continue; /* trimmed here: delivered and identical */
            if (gc_log_append(c, &m->u.start.entries[i])) { data_cont = false; break; }
        }
    }
    /* delivery continues only from the view whose log is adopted (or the one it continued): members
     * still delivering in another view close it with their group and skip (virtual synchrony) */
    bool from_adopted = c->have_dv && c->dv.primary && (c->dv.id.epoch == ae || (ape && c->dv.id.epoch == ape));
    bool cont = data_cont && from_adopted && !c->nonprim_since && c->delivered <= c->close;
    if (!data_cont) {
        gc_log_reset(c, c->close + 1);
        c->delivered = c->close;
    } else if (!cont) {
        if (c->delivered < c->close) c->delivered = c->close;
    }
    if (!cont) {
        /* what we had pending is dropped: a member still in its primary view says so with a
         * non-primary view first, as when it is cut off, so that the application fails those
         * messages' senders (the replicator's in-flight commits) instead of waiting for ever */
        if (c->have_dv && c->dv.primary && !c->nonprim_since) gc_deliver_local_nonprim(c);
        gc_pend_drop_all(c);
    }
    c->continuing = cont;
    /* GC_START_QUIET: our application keeps the view it has (same members, nothing skipped) */
    c->quiet = (m->u.start.flags & GC_START_QUIET) && cont && can_stay_quiet(c, m);
    c->recovered = false;
    c->ndedup = 0;
    for (uint32_t i = 0; i < m->u.start.ndedup && i < MAX_DEDUP; i++) c->dedup[c->ndedup++] = m->u.start.dedup[i];
    c->next_seqno = c->close + 1;
    if (data_cont && via_prim) {
        c->last_estab = c->last_prim; /* the view our log continues (used if this one never establishes) */
        c->has_estab = true;
    } else if (!data_cont) {
        c->has_estab = false;
    }
    c->last_prim = *v; /* pending: reported as our last primary so a later change respects it */
    c->has_prim = true;
    c->prim_pending = true;
    c->prim_forced = c->forced;
    if (c->nacked == GC_ACKED_MAX) {
        memmove(c->acked, c->acked + 1, (GC_ACKED_MAX - 1) * sizeof c->acked[0]);
        c->nacked--;
    }
    c->acked[c->nacked++] = v->id.epoch;
    c->prim_njoint = c->njoint;
    memcpy(c->prim_joint, c->joint, sizeof c->joint);
    c->acked_sent_epoch = 0;
    gc_send_ack(c, true);
    gc_send_heartbeats(c, gc_now(c)); /* at once: leases need echoes in the new epoch */
    c->next_hb = gc_now(c) + c->t_hb;
    gc_advance(c);
}

void gc_on_gather(gc_core *c, struct peer *p, const gc_msg *m)
{
    uint64_t e = m->u.gather.epoch;
    p->gather_seen = gc_now(c);
    if (gc_is_evicted(c, &p->uuid)) return;
    /* In a primary view only its members may take us into a change: an outsider's GATHER would
     * take us out of it for nothing. We decline the others' (a report without log or promise,
     * so that a node with restored state learns that a primary component runs and recovers no
     * older view); the leader takes them in if they can join. A node outside a primary view (a
     * joiner, a node cut off) follows any peer: it has no view to lose, and joiners come in so. */
    if (!gc_member_peer(c, p) && gc_anchored(c)) {
        char b[40];
        tr_debug("gcomm %s: GATHER %" PRIu64 " from %s, not a member of our primary view: declined", c->cfg.name, e,
                 gc_uuid_short(&p->uuid, b));
        if (e > p->hb_promised) p->hb_promised = e; /* our leader must invite it above that */
        gc_msg sm;
        gc_fill_state(c, &sm, e, NULL, NULL);
        gc_send_to_peer(c, p, &sm);
        return;
    }
    /* A non-member's GATHER may lead us only a little above what our members report (we hear
     * them: the leader that invites us is one of theirs), or, when we hear no member, slowly
     * (gc_epoch_from_outside): an outsider cannot run our epoch away from our group's. */
    if (!gc_member_peer(c, p) && c->state == GC_ST_GATHER && c->g.bootstrap) return; /* pc.bootstrap goes first */
    if (!gc_member_peer(c, p) &&
        (gc_members_only(c) ? e > c->max_epoch && e - c->max_epoch > GC_EPOCH_STEP : !gc_epoch_from_outside(c, e))) {
        char b[40];
        tr_debug("gcomm %s: GATHER %" PRIu64 " from %s, not a member, too far above our epoch %" PRIu64 ": ignored",
                 c->cfg.name, e, gc_uuid_short(&p->uuid, b), c->max_epoch);
        return;
    }
    if (e > c->max_epoch) c->max_epoch = e;
    if (c->state == GC_ST_LEFT || e <= c->promised) return;
    p->skip_until = p->skip_backoff = p->misses = 0; /* it takes part */
    c->defer_peer = -1;
    if (c->state == GC_ST_LEAVING) {
        c->promised = e;
        c->promise_peer = (int)(p - c->peers);
    } else {
        if (c->state == GC_ST_GATHER) gc_gather_clear(c);
        gc_stop_supporting(c);
        c->state = GC_ST_CHANGE;
        c->promised = e;
        c->promise_peer = (int)(p - c->peers);
        c->promise_time = gc_now(c);
    }
    gc_entry_ref *refs = calloc(c->log_n ? c->log_n : 1, sizeof *refs);
    if (!refs) return;
    gc_msg sm;
    gc_fill_state(c, &sm, e, refs, m);
    c->st.state_entries_sent += sm.u.state.nentries;
    gc_send_to_peer(c, p, &sm);
    free(refs);
}

void gc_on_start(gc_core *c, struct peer *p, const gc_msg *m)
{
    /* only from the gatherer we promised, for the epoch we promised */
    if (m->u.start.epoch != c->promised || c->promise_peer != (int)(p - c->peers)) return;
    if (c->state == GC_ST_LEAVING) {
        if (gc_my_index(c, &m->u.start.view) < 0) gc_finish_leave(c);
        return;
    }
    if (c->state != GC_ST_CHANGE) return;
    int k = gc_my_index(c, &m->u.start.view);
    if (k < 0 || m->u.start.view.m[k].incarnation != c->inc) return;
    /* the others will not deliver this view, but we would have to (we left the view it continues
     * since we reported): we do not take it, and the leader re-forms the view with us, a view
     * everybody delivers */
    if ((m->u.start.flags & GC_START_QUIET) && !can_stay_quiet(c, m)) {
        tr_info("gcomm %s: START of view %" PRIu64 " assumes we kept view %" PRIu64 ": not taken", c->cfg.name,
                m->u.start.view.id.epoch, m->u.start.adopt_epoch);
        return;
    }
    gc_apply_start(c, m);
}

/* ---------- deciding on a view change ---------- */

static bool is_leader(const gc_core *c) { return !tr_uuid_compare(&c->cur.id.leader, &c->me); }

/* The leader of a primary view asks each fresh peer that is not a member, alone, whether it
 * takes part: a GATHER at an epoch above its promise, which a joiner answers with its STATE (and
 * then takes the real GATHER that follows, at a higher epoch). Only a peer that answered counts
 * for the desired set; one that leaves two probes unanswered is left out for a while. So a
 * process that knows the group name, links up and stays silent costs the group nothing. */
static void probe_joiners(gc_core *c, uint64_t t)
{
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (!p->used || !gc_peer_fresh(c, p, t) || t < p->skip_until || t < p->probe_next || gc_member_peer(c, p) ||
            gc_proved(c, p, t))
            continue;
        if (p->probe_epoch && ++p->misses >= 4) { /* it did not answer the last four */
            gc_skip_peer(c, p);
            p->misses = 0;
            p->probe_epoch = 0;
            continue;
        }
        /* above its promise, approached by at most GC_EPOCH_JUMP per probe: a joiner that an
         * outsider led far ahead is caught up with in a few probes; our own epoch stays, so an
         * outsider's claim moves nothing of the group's */
        uint64_t base = p->probe_base > c->max_epoch ? p->probe_base : c->max_epoch;
        if (p->hb_promised > base) base = p->hb_promised - base > GC_EPOCH_JUMP ? base + GC_EPOCH_JUMP : p->hb_promised;
        p->probe_base = base;
        p->probe_epoch = gc_epoch_next(base);
        p->probe_next = t + 2 * c->t_hb;
        gc_msg *gm = calloc(1, sizeof *gm);
        if (!gm) return;
        gm->type = GC_MSG_GATHER;
        gm->u.gather.epoch = p->probe_epoch;
        gc_send_to_peer(c, p, gm);
        free(gm);
    }
}

/* A STATE that answers a probe of ours: the peer takes part. */
void gc_probe_answer(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (!p->probe_epoch || m->u.state.epoch != p->probe_epoch || m->u.state.inc != p->inc ||
        (m->u.state.flags & GC_STATE_DECLINE))
        return;
    p->proved_at = gc_now(c);
    p->proved_epoch = p->probe_epoch;
    p->probe_epoch = 0;
    p->misses = 0;
}

/* Does the leader need a new view? *why names the reason for the debug log. */
static bool leader_wants_change(gc_core *c, const tr_uuid *D, int nd, uint64_t t, const char **why)
{
    for (int i = 0; i < nd; i++) {
        int k = gc_view_find(&c->cur, &D[i]);
        if (k < 0) { *why = "a new node is reachable"; return true; }
        struct peer *p = gc_peer_find(c, &D[i]);
        if (p && p->inc != c->cur.m[k].incarnation) { *why = "a member restarted"; return true; }
        if (p && p->have_hb && p->hb_weight != c->cur.m[k].weight) { *why = "a member changed its weight"; return true; }
        if (p && p->have_hb && (p->hb_state != GC_ST_NORMAL || p->hb_epoch != c->cur.id.epoch)) {
            if (!p->bad_since) p->bad_since = t;
            if (t - p->bad_since >= c->t_fresh) { *why = "a member left the view"; return true; }
        } else if (p) {
            p->bad_since = 0;
        }
    }
    if (c->cur.m[gc_my_index(c, &c->cur)].weight != c->cfg.weight) { *why = "our weight changed"; return true; }
    for (uint32_t i = 0; i < c->cur.n; i++) {
        const gc_member *m = &c->cur.m[i];
        if (!tr_uuid_compare(&m->uuid, &c->me)) continue;
        struct peer *p = gc_peer_find(c, &m->uuid);
        if (p && p->leaving) { *why = "a member is leaving"; return true; }
        if (gc_is_evicted(c, &m->uuid)) { *why = "a member was evicted"; return true; }
        if (gc_in_set(D, nd, &m->uuid)) {
            if (p) p->out_since = 0;
            continue;
        }
        if (!p) { *why = "a member is unknown"; return true; }
        if (!p->out_since) p->out_since = t;
        if (t - p->out_since + c->t_fresh >= c->cfg.suspect_ns) { *why = "a member is suspected"; return true; }
    }
    return false;
}

/* Do we hear the leader of our last primary view still running it (NORMAL in it)? Then it takes
 * us back in itself (its "a member left the view" or "a new node is reachable"), and we do not
 * gather: our GATHER would take its members out of a primary view they hold, and a node that
 * fell behind (stopped, or on a slow link) may get their STATEs only after its gather gave up,
 * so they lose their view for nothing (the simulator's "stalled slow member"). */
static bool hears_running_leader(gc_core *c, uint64_t t)
{
    if (!c->has_prim || (c->state == GC_ST_NORMAL && c->cur.primary)) return false;
    if (!tr_uuid_compare(&c->last_prim.id.leader, &c->me)) return false;
    struct peer *lp = gc_peer_find(c, &c->last_prim.id.leader);
    return lp && lp->inc == c->last_prim.id.leader_inc && lp->have_hb && gc_peer_fresh(c, lp, t) &&
           lp->hb_state == GC_ST_NORMAL && lp->hb_epoch == c->last_prim.id.epoch;
}

/* Who initiates: the lowest uuid of the desired set. The peer that is lower than us, or NULL when
 * we are the lowest. While we follow members only (gc_members_only) we do not wait for a peer
 * that is not one: an outsider with the lowest uuid would keep every member from initiating (a
 * joiner comes in through the leader, which takes new nodes in). */
static struct peer *lowest_other(gc_core *c, const tr_uuid *D, int nd)
{
    bool mine = gc_members_only(c);
    for (int i = 0; i < nd; i++) {
        if (!tr_uuid_compare(&D[i], &c->me)) return NULL;
        struct peer *p = gc_peer_find(c, &D[i]);
        if (p && (!mine || gc_member_peer(c, p))) return p;
    }
    return NULL;
}

/* Outside a primary view we leave the initiative to a lower peer, but not for ever when it is not
 * a member: one that has not gathered us within t_change is left out of the desired set for a
 * while (gc_skip_peer), and the next lowest takes over. */
static void wait_for_lower(gc_core *c, struct peer *low, uint64_t t)
{
    int k = (int)(low - c->peers);
    if (c->defer_peer != k) {
        c->defer_peer = k;
        c->defer_since = t;
    } else if (t - c->defer_since >= c->t_change && !gc_member_peer(c, low) && !gc_peer_gathers(c, low, t)) {
        gc_skip_peer(c, low);
        c->defer_peer = -1;
    }
}

/* Why the lease ran out, per member: its last echo and when it was last heard. */
static void lease_why(gc_core *c, uint64_t t, char *why, size_t cap)
{
    size_t w = 0;
    for (uint32_t i = 0; i < c->cur.n && w < cap - 64; i++) {
        struct peer *p = gc_peer_find(c, &c->cur.m[i].uuid);
        if (!p) continue;
        char echo[48] = "no echo";
        if (p->echo_ts) snprintf(echo, sizeof echo, "last echo for a heartbeat of %.0f ms ago", (double)(t - p->echo_ts) / 1e6);
        char nm[4 * GC_NAME_MAX + 8];
        /* what gc_lease_spoken_for holds against it, when it is heard */
        const char *hb = !p->have_hb ? ", no heartbeat state"
                         : p->hb_epoch != c->cur.id.epoch ? ", its last heartbeat of another view"
                         : p->hb_state != GC_ST_NORMAL ? ", its last heartbeat not in NORMAL"
                         : p->inc != c->cur.m[i].incarnation ? ", another incarnation"
                         : "";
        w += (size_t)snprintf(why + w, cap - w, "%s%s: %s, heard %.0f ms ago%s", w ? "; " : "",
                              gc_printable(p->name, nm, sizeof nm), echo, (double)(t - p->last_heard) / 1e6, hb);
    }
}

void gc_evaluate(gc_core *c, uint64_t t)
{
    if (c->state == GC_ST_LEFT) return;
    if (c->state == GC_ST_LEAVING) {
        if (t - c->leave_time >= c->t_change) gc_finish_leave(c);
        return;
    }
    if (c->state == GC_ST_GATHER) {
        gc_gather_check(c, t - c->g.start >= c->t_change / 2);
        if (c->state == GC_ST_GATHER && t - c->g.start >= c->t_change) {
            gc_gather_clear(c);
            c->state = GC_ST_CHANGE;
            c->promise_peer = -1;
            c->next_gather_ok = t + c->env.random(c->env.ctx) % (c->t_change / 2 + 1);
        }
        return;
    }
    if (c->lapse_since && c->state == GC_ST_NORMAL && t < c->lease_expiry) {
        if (c->lapse_said)
            tr_info("gcomm %s: echoes back after %.0f ms: primary again, the view kept", c->cfg.name,
                    (double)(t - c->lapse_since) / 1e6);
        c->lapse_since = 0;
        c->lapse_said = false;
    }
    /* cut off: lease lost while NORMAL in a primary view */
    if (c->state == GC_ST_NORMAL && c->cur.primary && c->established && t >= c->lease_expiry &&
        t >= c->lease_grace) {
        char why[512] = "";
        lease_why(c, t, why, sizeof why);
        /* Late echoes are not lost ones. While members holding the majority weight still speak for
         * the view, this node only stops counting as primary (gc_core_is_primary: the lease rule
         * of section 7 holds as before) and waits up to keepalive_period for their echoes, which
         * a bulk transfer over a far link holds back (design/gcomm.md section 7). A node that is
         * really cut off hears nobody and leaves at once, as before. */
        uint64_t from = c->lease_expiry > c->lease_grace ? c->lease_expiry : c->lease_grace;
        if (t - from < c->cfg.keepalive_ns && gc_lease_spoken_for(c, t)) {
            if (!c->lapse_since) {
                c->lapse_since = t;
                c->st.lease_lapses++;
                /* at most one line per 10 s: on a far link lapses can come every heartbeat */
                c->lapse_said = !c->lapse_logged || t - c->lapse_logged >= 10 * c->cfg.keepalive_ns;
                if (c->lapse_said) {
                    c->lapse_logged = t;
                    tr_info("gcomm %s: echoes late (%s) while the members are heard: not primary until "
                            "they come back, for at most %.0f ms (%llu such lapses)", c->cfg.name, why,
                            (double)c->cfg.keepalive_ns / 1e6, (unsigned long long)c->st.lease_lapses);
                }
            }
        } else {
            tr_info("gcomm %s: lost contact with the primary component (%s)", c->cfg.name, why);
            c->lapse_since = 0;
            c->lapse_said = false;
            gc_leave_normal(c, "lease expired");
            gc_pend_drop_all(c);
            gc_deliver_local_nonprim(c);
        }
    }
    /* a change that takes too long: report non-primary */
    if (c->state == GC_ST_CHANGE && c->have_dv && c->dv.primary && c->stop_time &&
        t - c->stop_time >= c->cfg.keepalive_ns) {
        gc_pend_drop_all(c);
        gc_deliver_local_nonprim(c);
    }
    if (c->state == GC_ST_CHANGE && c->promise_peer >= 0) {
        struct peer *g = &c->peers[c->promise_peer];
        if (t - c->promise_time < c->t_change && gc_peer_fresh(c, g, t)) return;
        c->promise_peer = -1;
    }
    tr_uuid D[GC_MAX_MEMBERS];
    int nd = gc_desired(c, D);
    bool me_in = gc_in_set(D, nd, &c->me);
    struct peer *low = me_in ? lowest_other(c, D, nd) : NULL;
    bool me_min = me_in && !low;
    bool want = false;
    if (c->state == GC_ST_NORMAL) {
        if (is_leader(c)) {
            if (gc_anchored(c)) probe_joiners(c, t);
            const char *why = "";
            want = leader_wants_change(c, D, nd, t, &why);
            if (want) tr_debug("gcomm %s: new view wanted: %s", c->cfg.name, why);
        } else {
            struct peer *lp = gc_peer_find(c, &c->cur.id.leader);
            int li = gc_view_find(&c->cur, &c->cur.id.leader);
            bool leader_ok = lp && gc_peer_fresh(c, lp, t) && lp->inc == c->cur.m[li].incarnation;
            if (leader_ok && lp->have_hb && (lp->hb_state != GC_ST_NORMAL || lp->hb_epoch != c->cur.id.epoch)) {
                if (!lp->bad_since) lp->bad_since = t;
                if (t - lp->bad_since >= c->t_fresh) leader_ok = false;
            } else if (lp) {
                lp->bad_since = 0;
            }
            if (!leader_ok) {
                const char *why = !lp                                   ? "leader unreachable: unknown"
                                  : lp->link < 0                        ? "leader unreachable: no link"
                                  : lp->leaving                         ? "leader unreachable: leaving"
                                  : t - lp->last_heard >= c->t_fresh    ? "leader unreachable: silent"
                                  : lp->inc != c->cur.m[li].incarnation ? "leader unreachable: restarted"
                                                                        : "leader unreachable: in another view";
                if (lp && lp->link >= 0)
                    tr_debug("gcomm %s: leader last heard %.3f s ago", c->cfg.name,
                             (double)(t - lp->last_heard) / 1e9);
                gc_leave_normal(c, why);
            } else if (!c->cur.primary && me_min) {
                /* non-primary views: the lowest reachable node keeps membership current */
                bool same = (uint32_t)nd == c->cur.n;
                for (int i = 0; i < nd && same; i++) same = gc_view_find(&c->cur, &D[i]) >= 0;
                want = !same;
            }
        }
    }
    if (c->state == GC_ST_CHANGE) want = true;
    if (c->bootstrap_req) {
        c->bootstrap_req = false;
        gc_start_gather(c, D, nd, true);
        return;
    }
    /* pc.announce_timeout: before its first view a node that names seeds looks for them (until
     * one answers, or the timeout), so that what it restored from gvwstate.dat does not decide
     * alone while a running group is one connection away */
    if (want && !c->have_dv && c->cfg.nseeds > 0 && t - c->start_t < c->cfg.announce_ns) {
        bool linked = false;
        for (int i = 0; i < MAX_PEERS && !linked; i++) linked = c->peers[i].used && c->peers[i].link >= 0;
        if (!linked) return;
    }
    if (want && hears_running_leader(c, t)) return;
    if (want && low) wait_for_lower(c, low, t);
    if (want && me_min && t >= c->next_gather_ok) gc_start_gather(c, D, nd, false);
    else if (want && c->state == GC_ST_NORMAL && is_leader(c) && t >= c->next_gather_ok && me_in)
        gc_start_gather(c, D, nd, false); /* the leader re-forms its view even if not lowest */
}
