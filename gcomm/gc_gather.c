/* gcomm/gc_gather: the gatherer of a view change: collects every member's STATE, finds the last
 * primary view that may exist, decides quorum and builds, sends and applies START. */
#include "gcomm/gc_core_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"

/* ---------- collected states ---------- */

static void free_coll(struct coll *s)
{
    for (uint32_t i = 0; i < s->nentries; i++)
        if (i < s->bor_lo || i - s->bor_lo >= s->bor_n) free(s->entries[i].data);
    free(s->entries);
    free(s->dedup);
    memset(s, 0, sizeof *s);
}

void gc_gather_clear(gc_core *c)
{
    for (int i = 0; i < c->g.ncoll; i++) free_coll(&c->g.coll[i]);
    c->g.ncoll = 0;
    c->g.ntargets = 0;
}

/* The longest run of our log, from where the GATHER's names begin (or our log does), that
 * names the same entries as the gatherer's log: a sender's incarnation and seq name one message.
 * *n = 0: none. */
static void same_as_gatherer(gc_core *c, const gc_msg *g, uint64_t *from, uint64_t *n)
{
    *from = *n = 0;
    if (!g || !g->u.gather.n || !c->log_n) return;
    uint64_t gfirst = g->u.gather.first, gend = gfirst + g->u.gather.n - 1; /* decoded: no wrap */
    uint64_t lo = gfirst > c->log_first ? gfirst : c->log_first, hi = gend < gc_log_end(c) ? gend : gc_log_end(c);
    uint64_t k = lo;
    for (; k <= hi; k++) {
        const struct entry *e = gc_log_at(c, k);
        uint8_t si;
        uint64_t seq;
        gc_name_get(g->u.gather.names + (size_t)(k - gfirst) * GC_NAME_BYTES, &si, &seq);
        const struct gc_sender *sd = &g->u.gather.senders[si];
        if (e->seq != seq || e->inc != sd->inc || tr_uuid_compare(&e->sender, &sd->uuid)) break;
    }
    if (k > lo) {
        *from = lo;
        *n = k - lo;
    }
}

/* Our own state as a STATE message body (entries point into our log; refs holds log_n). For a
 * GATHER that named its log, the entries it holds are left out. */
void gc_fill_state(gc_core *c, gc_msg *m, uint64_t epoch, gc_entry_ref *refs, const gc_msg *gather)
{
    bool decline = !refs; /* gc_on_gather: a report for a gatherer we do not follow */
    memset(m, 0, sizeof *m);
    m->type = GC_MSG_STATE;
    m->u.state.epoch = epoch;
    m->u.state.inc = c->inc;
    snprintf(m->u.state.name, sizeof m->u.state.name, "%s", c->cfg.name);
    snprintf(m->u.state.incoming, sizeof m->u.state.incoming, "%s", c->cfg.incoming);
    m->u.state.weight = c->cfg.weight;
    m->u.state.flags = (uint8_t)((c->recovered ? GC_STATE_RECOVERED : 0) |
                                 (c->state == GC_ST_LEAVING ? GC_STATE_LEAVING : 0) |
                                 (c->has_prim ? GC_STATE_HAS_PRIM : 0) |
                                 (c->has_prim && c->prim_pending ? GC_STATE_PENDING : 0) |
                                 (c->has_prim && c->prim_pending && c->prim_forced ? GC_STATE_PFORCED : 0) |
                                 (c->has_estab ? GC_STATE_HAS_ESTAB : 0) | (decline ? GC_STATE_DECLINE : 0));
    if (c->has_prim) m->u.state.prim = c->last_prim;
    if (c->has_estab) m->u.state.estab = c->last_estab;
    m->u.state.njoint = c->prim_njoint;
    memcpy(m->u.state.joint, c->prim_joint, sizeof c->prim_joint);
    m->u.state.stop_elapsed = c->stop_time ? gc_now(c) - c->stop_time : NEVER;
    m->u.state.log_end = gc_log_end(c);
    m->u.state.first = c->log_first;
    m->u.state.nacked = c->nacked;
    memcpy(m->u.state.acked, c->acked, sizeof c->acked);
    for (int i = 0; i < MAX_PEERS && m->u.state.nheard < GC_MAX_MEMBERS; i++) {
        const struct peer *p = &c->peers[i];
        if (!p->used || !p->last_heard) continue;
        m->u.state.heard[m->u.state.nheard] = p->uuid;
        m->u.state.heard_ago[m->u.state.nheard++] = gc_now(c) - p->last_heard;
    }
    m->u.state.dv_epoch = c->have_dv && c->dv.primary && !c->nonprim_since ? c->dv.id.epoch : 0;
    /* still primary for a while: nobody can have formed a later primary view without us yet */
    uint64_t now = gc_now(c);
    if (!c->recovered && c->cur.primary && c->established && c->has_prim &&
        !gc_view_id_cmp(&c->cur.id, &c->last_prim.id) && c->lease_expiry > now)
        m->u.state.lease_left = c->lease_expiry == NEVER ? NEVER : c->lease_expiry - now;
    m->u.state.delivered = c->delivered;
    m->u.state.evict = c->evict;
    if (decline) { /* no log, no dedup table: a peer that is not a member learns nothing more */
        m->u.state.first = m->u.state.log_end + 1;
        return;
    }
    m->u.state.ndedup = c->ndedup;
    m->u.state.dedup = c->dedup;
    same_as_gatherer(c, gather, &m->u.state.same_from, &m->u.state.nsame);
    m->u.state.entries = refs;
    for (size_t i = 0; i < c->log_n; i++) {
        uint64_t k = c->log_first + i;
        if (m->u.state.nsame && k >= m->u.state.same_from && k - m->u.state.same_from < m->u.state.nsame) continue;
        struct entry *e = gc_log_at(c, k);
        refs[m->u.state.nentries++] = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
    }
}

static struct coll *coll_find(gc_core *c, const tr_uuid *u)
{
    for (int i = 0; i < c->g.ncoll; i++)
        if (!tr_uuid_compare(&c->g.coll[i].r.uuid, u)) return &c->g.coll[i];
    return NULL;
}

static int coll_add(gc_core *c, const tr_uuid *uuid, const gc_msg *m, uint64_t t)
{
    if (c->g.ncoll >= GC_MAX_MEMBERS) return -1;
    for (int i = 0; i < c->g.ncoll; i++)
        if (!tr_uuid_compare(&c->g.coll[i].r.uuid, uuid)) return -1;
    struct coll *s = &c->g.coll[c->g.ncoll];
    memset(s, 0, sizeof *s);
    struct gc_report *r = &s->r;
    r->uuid = *uuid;
    r->inc = m->u.state.inc;
    memcpy(s->name, m->u.state.name, sizeof s->name);
    memcpy(s->incoming, m->u.state.incoming, sizeof s->incoming);
    r->weight = m->u.state.weight;
    r->flags = m->u.state.flags;
    r->prim = m->u.state.prim;
    r->estab = m->u.state.estab;
    r->njoint = m->u.state.njoint;
    memcpy(r->joint, m->u.state.joint, sizeof r->joint);
    r->stop_abs = m->u.state.stop_elapsed == NEVER || m->u.state.stop_elapsed > t ? NEVER
                                                                                 : t - m->u.state.stop_elapsed;
    r->log_end = m->u.state.log_end;
    s->first = m->u.state.first;
    s->dv_epoch = m->u.state.dv_epoch;
    r->live_until = !m->u.state.lease_left                ? 0
                    : m->u.state.lease_left >= NEVER - t ? NEVER
                                                          : t + m->u.state.lease_left;
    r->nacked = m->u.state.nacked;
    memcpy(r->acked, m->u.state.acked, sizeof r->acked);
    r->nheard = m->u.state.nheard;
    for (int i = 0; i < r->nheard; i++) {
        r->heard[i] = m->u.state.heard[i];
        r->heard_abs[i] = m->u.state.heard_ago[i] > t ? 0 : t - m->u.state.heard_ago[i];
    }
    s->delivered = m->u.state.delivered;
    /* entries left out are the same as ours there (our own STATE, collected first) */
    uint64_t from = m->u.state.same_from, nsame = m->u.state.nsame, count = m->u.state.nentries + nsame;
    const struct coll *me = nsame ? coll_find(c, &c->me) : NULL;
    if (nsame && (!me || !me->nentries || from < me->first || from + nsame - 1 > me->r.log_end ||
                  from < m->u.state.first || from - m->u.state.first > count - nsame)) {
        char b[40];
        tr_warn("gcomm %s: STATE from %s leaves out entries %" PRIu64 "..%" PRIu64 " that we do not hold, or outside its own log: ignored",
                c->cfg.name, gc_uuid_short(uuid, b), from, from + nsame - 1);
        memset(s, 0, sizeof *s);
        return -1;
    }
    s->entries = calloc(count ? count : 1, sizeof *s->entries);
    s->dedup = calloc(m->u.state.ndedup ? m->u.state.ndedup : 1, sizeof *s->dedup);
    if (!s->entries || !s->dedup) { free_coll(s); return -1; }
    /* the run left out is ours: its entries share our own STATE's copies, which live as long
     * (every collection is freed at once); copying it again per peer made a view change with a
     * long retained log copy it once per member, under the core lock */
    if (nsame) {
        s->bor_lo = from - m->u.state.first;
        s->bor_n = nsame;
    }
    for (uint64_t i = 0, sent = 0; i < count; i++) {
        uint64_t k = m->u.state.first + i;
        struct entry *d = &s->entries[i];
        if (nsame && k >= from && k - from < nsame) {
            const struct entry *e = &me->entries[k - me->first];
            *d = (struct entry){e->sender, e->inc, e->seq, e->data, e->len};
            s->nentries = (uint32_t)(i + 1);
            continue;
        }
        const gc_entry_ref *e = &m->u.state.entries[sent++];
        *d = (struct entry){e->sender, e->sender_inc, e->sender_seq, NULL, e->len};
        const uint8_t *src = e->data;
        d->data = malloc(d->len ? d->len : 1);
        if (!d->data) { free_coll(s); return -1; }
        if (d->len) memcpy(d->data, src, d->len);
        s->nentries = (uint32_t)(i + 1);
    }
    memcpy(s->dedup, m->u.state.dedup, m->u.state.ndedup * sizeof *s->dedup);
    s->ndedup = m->u.state.ndedup;
    c->g.ncoll++;
    return 0;
}

/* ---------- view change: gatherer ---------- */

/* Names our log in the GATHER (gm->u.gather), so that STATEs leave out what we hold; nothing
 * with more distinct senders than a GATHER can name. Returns the names buffer to free. */
static uint8_t *gather_names(gc_core *c, gc_msg *gm)
{
    if (!c->log_n || c->log_n > UINT32_MAX) return NULL;
    uint8_t *b = malloc(c->log_n * GC_NAME_BYTES);
    if (!b) return NULL;
    int ns = 0, k = 0;
    for (size_t i = 0; i < c->log_n; i++) {
        const struct entry *e = gc_log_at(c, c->log_first + i);
        if (k >= ns || gm->u.gather.senders[k].inc != e->inc || tr_uuid_compare(&gm->u.gather.senders[k].uuid, &e->sender))
            for (k = 0; k < ns; k++)
                if (gm->u.gather.senders[k].inc == e->inc && !tr_uuid_compare(&gm->u.gather.senders[k].uuid, &e->sender))
                    break;
        if (k == ns) {
            if (ns == GC_GATHER_SENDERS) { free(b); return NULL; }
            gm->u.gather.senders[ns++] = (struct gc_sender){e->sender, e->inc};
        }
        gc_name_put(b + i * GC_NAME_BYTES, (uint8_t)k, e->seq);
    }
    gm->u.gather.nsenders = (uint8_t)ns;
    gm->u.gather.first = c->log_first;
    gm->u.gather.n = (uint32_t)c->log_n;
    gm->u.gather.names = b;
    return b;
}

void gc_start_gather(gc_core *c, const tr_uuid *D, int nd, bool bootstrap)
{
    uint64_t t = gc_now(c);
    /* a leader re-forming its primary view leaves a member that restarted out this time and takes
     * the new process in with the next view: the application names members by uuid alone, and a
     * view that swapped the process under a uuid would show it the same members again (wsrep-lib
     * then rolls back every streaming transaction, its own included) */
    bool reform = c->state == GC_ST_NORMAL && c->cur.primary && !tr_uuid_compare(&c->cur.id.leader, &c->me);
    gc_gather_clear(c);
    gc_stop_supporting(c);
    c->state = GC_ST_GATHER;
    /* targets that promised a higher epoch refuse a GATHER below it: start above them. A member's
     * promise counts as it is; a non-member's as far as the probe it answered (its promise to
     * us, gc_probe_joiners), or, outside a primary view, within GC_EPOCH_JUMP of ours: an
     * outsider's heartbeat cannot spend the epoch space */
    uint64_t base = c->max_epoch, t0 = gc_now(c);
    bool anchored = gc_anchored(c);
    for (int i = 0; i < nd; i++) {
        struct peer *p = tr_uuid_compare(&D[i], &c->me) ? gc_peer_find(c, &D[i]) : NULL;
        if (!p) continue;
        /* a joiner promised our probe's epoch when it answered, and its heartbeat saying so may
         * not be here yet: a GATHER at that epoch it refuses, and the view forms without it */
        if (!gc_member_peer(c, p) && gc_proved(c, p, t0) && p->proved_epoch > base) base = p->proved_epoch;
        if (p->hb_promised <= base) continue;
        uint64_t e = p->hb_promised;
        if (gc_member_peer(c, p)) base = e;
        else if (gc_proved(c, p, t0)) base = e < p->proved_epoch ? e : p->proved_epoch > base ? p->proved_epoch : base;
        else if (!anchored && e - c->max_epoch <= GC_EPOCH_JUMP) base = e;
    }
    c->promised = gc_epoch_next(base);
    c->max_epoch = c->promised;
    c->g.epoch = c->promised;
    c->g.start = t;
    c->g.bootstrap = bootstrap;
    c->g.members_only = gc_members_only(c);
    c->st.view_changes_started++;
    /* targets: the gc_desired set plus fresh peers that are leaving (their state counts as "left") */
    for (int i = 0; i < nd; i++) {
        int k = reform ? gc_view_find(&c->cur, &D[i]) : -1;
        const struct peer *p = k >= 0 ? gc_peer_find(c, &D[i]) : NULL;
        if (p && c->cur.m[k].incarnation && p->inc != c->cur.m[k].incarnation) continue; /* restarted */
        if (tr_uuid_compare(&D[i], &c->me) && c->g.ntargets < GC_MAX_MEMBERS) c->g.targets[c->g.ntargets++] = D[i];
    }
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && p->leaving && p->link >= 0 && t - p->last_heard < c->t_fresh &&
            c->g.ntargets < GC_MAX_MEMBERS && !gc_in_set(c->g.targets, c->g.ntargets, &p->uuid))
            c->g.targets[c->g.ntargets++] = p->uuid;
    }
    char b[40];
    tr_debug("gcomm %s: gathering epoch %" PRIu64 " as %s, %d targets%s", c->cfg.name, c->g.epoch,
             gc_uuid_short(&c->me, b), c->g.ntargets, bootstrap ? " (bootstrap)" : "");
    gc_entry_ref *refs = calloc(c->log_n ? c->log_n : 1, sizeof *refs);
    gc_msg sm;
    bool have_self = false;
    if (refs) {
        gc_fill_state(c, &sm, c->g.epoch, refs, NULL);
        have_self = coll_add(c, &c->me, &sm, t) == 0;
        free(refs);
    }
    gc_msg *gm = calloc(1, sizeof *gm); /* large: the sender table */
    if (!gm) return; /* the peers time out the promise they never gave */
    gm->type = GC_MSG_GATHER;
    gm->u.gather.epoch = c->g.epoch;
    gm->u.gather.flags = bootstrap ? GC_GATHER_BOOTSTRAP : 0;
    uint8_t *names = have_self ? gather_names(c, gm) : NULL;
    for (int i = 0; i < c->g.ntargets; i++) {
        struct peer *p = gc_peer_find(c, &c->g.targets[i]);
        if (p) gc_send_to_peer(c, p, gm);
    }
    free(names);
    free(gm);
}

/* Is a target's STATE possibly on its way? A message of its is half reassembled, or it has
 * sent frames that have not arrived yet (a heartbeat that overtook them says so). Waiting then
 * beats deciding without it: on a slow link a STATE that carries a log takes longer than t_hb,
 * the view forms without that target, which answers the next GATHER behind a STATE nobody
 * wants any more, and so on. */
static bool state_in_transit(gc_core *c)
{
    for (int i = 0; i < c->g.ntargets; i++) {
        if (coll_find(c, &c->g.targets[i])) continue;
        struct peer *p = gc_peer_find(c, &c->g.targets[i]);
        if (!p || p->link < 0) continue;
        const struct link *l = &c->links[p->link];
        if (l->reasm.got > 0 || l->nheld > 0) return true;
    }
    return false;
}

static bool same_entry(const struct entry *a, const struct entry *b)
{
    return a->inc == b->inc && a->seq == b->seq && !tr_uuid_compare(&a->sender, &b->sender);
}

/* The first seqno of the adopted log (entries first..adopt->log_end) that reporter s must be
 * sent: s keeps its own log below it. A sender's incarnation and sequence number name one
 * message, so equal names at a seqno are equal entries; entries s has trimmed since it reported
 * are skipped by s anyway, and whatever it appended since is truncated by START
 * (docs/design/gcomm.md section 8, step 8). */
static uint64_t start_from(const struct coll *adopt, const struct coll *s, uint64_t first)
{
    uint64_t close = adopt->r.log_end;
    uint64_t k = first > s->first ? first : s->first;
    if (k > close + 1) return first;
    uint64_t hi = s->nentries ? s->first + s->nentries - 1 : 0; /* decoded: equals its log_end */
    if (hi > close) hi = close;
    while (k <= hi && same_entry(&adopt->entries[k - adopt->first], &s->entries[k - s->first])) k++;
    return k;
}

/* What the decision needs: the collected STATEs and the gather's timing. */
static void decide_in(gc_core *c, bool timeout, const struct gc_report **reps, struct gc_decide_in *in)
{
    /* a target we no longer hear (no link, or silent for t_fresh) counts as answered: its STATE
     * is not coming, and waiting for it until the gather's timeout cost a node cut off from its
     * group a second before it delivered its non-primary view */
    bool all = true;
    uint64_t t = gc_now(c);
    for (int i = 0; i < c->g.ntargets; i++) {
        if (coll_find(c, &c->g.targets[i])) continue;
        const struct peer *p = gc_peer_find(c, &c->g.targets[i]);
        if (p && p->link >= 0 && t - p->last_heard < c->t_fresh) all = false;
    }
    for (int i = 0; i < c->g.ncoll; i++) reps[i] = &c->g.coll[i].r;
    *in = (struct gc_decide_in){.r = reps,
                                .n = c->g.ncoll,
                                .ignore_quorum = c->cfg.ignore_quorum,
                                .ignore_sb = c->cfg.ignore_sb,
                                .recovery = c->cfg.recovery,
                                .bootstrap = c->g.bootstrap,
                                .now = t,
                                .since = c->g.start,
                                .patience = c->t_hb,
                                .lease_pad = c->t_lease + 2 * c->t_tick,
                                .margin = 2 * c->t_tick,
                                .all_answered = all,
                                .timeout = timeout,
                                .in_transit = !all && state_in_transit(c)};
}

static void install(gc_core *c, const struct gc_decide_in *in, const struct gc_decision *d);

/* Decides (gc_quorum_decide) whether to install now; if so builds START, sends it and applies it. */
void gc_gather_check(gc_core *c, bool timeout)
{
    if (c->state != GC_ST_GATHER) return;
    /* a target evicted meanwhile (a STATE's evict list, a member's report): this gather counted
     * it, so it is given up and the next one leaves it out (section 14) */
    for (int i = 0; i < c->g.ntargets; i++)
        if (gc_is_evicted(c, &c->g.targets[i])) {
            gc_gather_clear(c);
            c->state = GC_ST_CHANGE;
            c->promise_peer = -1;
            c->next_gather_ok = 0;
            return;
        }
    const struct gc_report *reps[GC_MAX_MEMBERS + 1];
    struct gc_decide_in in;
    struct gc_decision d;
    decide_in(c, timeout, reps, &in);
    gc_quorum_decide(&in, &d);
    if (d.install) install(c, &in, &d);
}

/* A membership round that ends with the members of the primary view every one of them still
 * delivers in (a joiner that did not answer in time, a member that came back before anybody
 * gave up on the view) brings the application nothing new. Its view is installed, since the
 * members promised a new epoch and the protocol needs one, but not delivered (GC_START_QUIET):
 * two consecutive primary views with the same members tell wsrep-lib that the group may have
 * split and healed, and it rolls back every streaming transaction. Every member decides alike
 * from this START, so none delivers it. A member that did leave the view meanwhile (it
 * delivered a non-primary view, or reported none) makes the view an ordinary one. */
static bool quiet_view(gc_core *c, const struct gc_decide_in *in, const struct gc_decision *d, const gc_view *v,
                       const gc_msg *m)
{
    const gc_view *P = d->P;
    if (!v->primary || d->forced || d->newhist || !P || d->adopt < 0 || !m->u.start.adopt_epoch) return false;
    /* the view the members deliver in: P, or the view P's log continued (P never formed) */
    uint64_t e = c->g.coll[0].dv_epoch;
    const struct gc_report *a = &c->g.coll[d->adopt].r;
    const gc_view *D = e == m->u.start.adopt_epoch                                                ? P
                       : e && e == m->u.start.adopt_prev_epoch && (a->flags & GC_STATE_HAS_ESTAB) ? &a->estab
                                                                                                  : NULL;
    if (!D || D->id.epoch != e || !gc_view_same_members(v, D)) return false;
    for (int i = 0; i < c->g.ncoll; i++) {
        const struct coll *s = &c->g.coll[i];
        if (s->r.flags & (GC_STATE_LEAVING | GC_STATE_DECLINE)) continue;
        if (s->dv_epoch != e || !gc_decision_holds_p(in, d, i) || s->delivered > m->u.start.close) return false;
    }
    return true;
}

/* Builds the view and START from the decision, sends START to every reporter and applies it. */
static void install(gc_core *c, const struct gc_decide_in *in, const struct gc_decision *d)
{
    uint64_t t = in->now;
    bool primary = d->primary, forced = d->forced, newhist = d->newhist;
    const gc_view *P = d->P;
    struct coll *adopt = d->adopt >= 0 ? &c->g.coll[d->adopt] : NULL;
    const struct coll *psrc = d->psrc >= 0 ? &c->g.coll[d->psrc] : NULL;
    /* Build the view. */
    gc_msg m;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_START;
    m.u.start.epoch = c->g.epoch;
    gc_view *v = &m.u.start.view;
    v->id.epoch = c->g.epoch;
    v->id.leader = c->me;
    v->id.leader_inc = c->inc;
    v->primary = primary;
    for (int i = 0; i < c->g.ncoll && v->n < GC_MAX_MEMBERS; i++) {
        struct coll *s = &c->g.coll[i];
        if (s->r.flags & (GC_STATE_LEAVING | GC_STATE_DECLINE)) continue;
        gc_member *mm = &v->m[v->n++];
        mm->uuid = s->r.uuid;
        mm->incarnation = s->r.inc;
        mm->weight = s->r.weight;
        memcpy(mm->name, s->name, sizeof mm->name);
        memcpy(mm->incoming, s->incoming, sizeof mm->incoming);
    }
    gc_view_sort(v);
    m.u.start.evict = c->evict; /* no member is in it: gc_gather_check gave up a gather that counted one */
    v->id.leader = v->m[0].uuid; /* we are the lowest in our gc_desired set; bootstrap may differ */
    if (tr_uuid_compare(&v->id.leader, &c->me)) {
        /* a bootstrapping node that is not the lowest: keep ordering local to the gatherer */
        v->id.leader = c->me;
    }
    gc_dedup *dd = NULL;
    uint32_t ndd = 0;
    gc_entry_ref *refs = NULL;
    if (primary) {
        m.u.start.flags = forced ? GC_START_FORCED : 0;
        if (newhist || !adopt) {
            tr_uuid h;
            uint64_t r1 = c->env.random(c->env.ctx), r2 = c->env.random(c->env.ctx);
            memcpy(h.data, &r1, 8);
            memcpy(h.data + 8, &r2, 8);
            h.data[6] = (uint8_t)((h.data[6] & 0x0f) | 0x40);
            h.data[8] = (uint8_t)((h.data[8] & 0x3f) | 0x80);
            v->history = h;
            m.u.start.close = 0;
            m.u.start.first = 1;
            m.u.start.adopt_epoch = 0;
        } else {
            v->history = P->history;
            m.u.start.close = adopt->r.log_end;
            m.u.start.first = adopt->first;
            m.u.start.adopt_epoch = P->id.epoch;
            if (d->eff[d->adopt] == GC_EFF_PRIM && (adopt->r.flags & GC_STATE_PENDING) && (adopt->r.flags & GC_STATE_HAS_ESTAB))
                m.u.start.adopt_prev_epoch = adopt->r.estab.id.epoch;
            m.u.start.nentries = adopt->nentries;
            refs = calloc(adopt->nentries ? adopt->nentries : 1, sizeof *refs);
            if (!refs) return;
            for (uint32_t i = 0; i < adopt->nentries; i++) {
                struct entry *e = &adopt->entries[i];
                refs[i] = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
            }
            m.u.start.entries = refs;
            if (adopt->nentries == 0) m.u.start.first = adopt->r.log_end + 1;
            /* merged dedup table from every live holder */
            dd = calloc(MAX_DEDUP, sizeof *dd);
            if (!dd) { free(refs); return; }
            for (int i = 0; i < c->g.ncoll; i++) {
                struct coll *s = &c->g.coll[i];
                if (!gc_decision_holds_p(in, d, i)) continue;
                for (uint32_t k = 0; k < s->ndedup; k++) {
                    uint32_t j;
                    for (j = 0; j < ndd; j++)
                        if (dd[j].inc == s->dedup[k].inc && !tr_uuid_compare(&dd[j].sender, &s->dedup[k].sender))
                            break;
                    if (j == ndd) {
                        if (ndd == MAX_DEDUP) continue;
                        dd[ndd++] = s->dedup[k];
                    } else if (s->dedup[k].seq > dd[j].seq) {
                        dd[j].seq = s->dedup[k].seq;
                    }
                }
            }
            for (uint32_t i = 0; i < adopt->nentries; i++) {
                struct entry *e = &adopt->entries[i];
                uint32_t j;
                for (j = 0; j < ndd; j++)
                    if (dd[j].inc == e->inc && !tr_uuid_compare(&dd[j].sender, &e->sender)) break;
                if (j == ndd && ndd < MAX_DEDUP) dd[ndd++] = (gc_dedup){e->sender, e->inc, e->seq};
                else if (j < ndd && e->seq > dd[j].seq) dd[j].seq = e->seq;
            }
            m.u.start.dedup = dd;
            m.u.start.ndedup = ndd;
        }
        if (!forced && P) {
            for (uint32_t i = 0; i < P->n; i++) {
                struct coll *s = coll_find(c, &P->m[i].uuid);
                gc_joint *j = &m.u.start.joint[m.u.start.njoint++];
                j->uuid = P->m[i].uuid;
                j->weight = P->m[i].weight;
                j->left = s && (s->r.flags & GC_STATE_LEAVING) && s->r.inc == P->m[i].incarnation;
            }
            if (psrc && !(psrc->r.flags & GC_STATE_PFORCED))
                for (uint32_t i = 0; i < psrc->r.njoint && m.u.start.njoint < GC_MAX_JOINT; i++)
                    if (!(psrc->r.joint[i].left & 2)) { /* P's own predecessor becomes our second set */
                        m.u.start.joint[m.u.start.njoint] = psrc->r.joint[i];
                        m.u.start.joint[m.u.start.njoint++].left |= 2;
                    }
        }
    } else {
        m.u.start.first = 1;
    }
    if (quiet_view(c, in, d, v, &m)) m.u.start.flags |= GC_START_QUIET;
    /* members still delivering in an older primary view close it together (virtual synchrony) */
    gc_close_group groups[GC_MAX_MEMBERS];
    gc_entry_ref *grefs[GC_MAX_MEMBERS];
    uint32_t ng = 0;
    struct coll *gholder[GC_MAX_MEMBERS];
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        if (!s->dv_epoch || (s->r.flags & (GC_STATE_LEAVING | GC_STATE_DECLINE))) continue;
        if (primary && !newhist && adopt && P &&
            (s->dv_epoch == P->id.epoch || (m.u.start.adopt_prev_epoch && s->dv_epoch == m.u.start.adopt_prev_epoch)))
            continue; /* these continue through `close` */
        uint32_t k;
        for (k = 0; k < ng; k++)
            if (groups[k].epoch == s->dv_epoch) break;
        if (k == ng) {
            memset(&groups[ng], 0, sizeof groups[ng]);
            groups[ng].epoch = s->dv_epoch;
            gholder[ng++] = s;
        }
        if (s->delivered > groups[k].upto) { groups[k].upto = s->delivered; gholder[k] = s; }
    }
    for (uint32_t k = 0; k < ng; k++) {
        struct coll *h = gholder[k];
        grefs[k] = NULL;
        groups[k].first = h->first;
        if (h->nentries && groups[k].upto >= h->first) {
            groups[k].nentries = (uint32_t)(groups[k].upto - h->first + 1);
            grefs[k] = calloc(groups[k].nentries, sizeof *grefs[k]);
            if (!grefs[k]) groups[k].nentries = 0;
            for (uint32_t i = 0; i < groups[k].nentries; i++) {
                struct entry *e = &h->entries[i];
                grefs[k][i] = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
            }
            groups[k].entries = grefs[k];
        } else {
            groups[k].first = groups[k].upto + 1;
        }
    }
    m.u.start.ngroups = ng;
    m.u.start.groups = groups;
    char b[40];
    {
        if (P) tr_debug("gcomm %s: last primary view %" PRIu64 " (%u members)%s, %d live holders, %d reporters", c->cfg.name,
                 P->id.epoch, P->n, psrc ? " maybe established" : "", d->nlive, c->g.ncoll);
        else tr_debug("gcomm %s: no last primary view among %d reporters", c->cfg.name, c->g.ncoll);
        for (int i = 0; i < c->g.ncoll; i++)
            tr_debug("gcomm %s:   reporter %s flags %u prim %" PRIu64 " eff %" PRIu64 " in P %d live %.3f", c->cfg.name,
                     gc_uuid_short(&c->g.coll[i].r.uuid, b), c->g.coll[i].r.flags, c->g.coll[i].r.prim.id.epoch,
                     gc_decision_eff(in, d, i) ? gc_decision_eff(in, d, i)->id.epoch : 0,
                     P ? gc_view_find(P, &c->g.coll[i].r.uuid) : -2,
                     c->g.coll[i].r.live_until ? ((double)c->g.coll[i].r.live_until - (double)t) / 1e9 : 0.0);
    }
    tr_debug("gcomm %s: installing epoch %" PRIu64 " leader %s %s n=%u close=%" PRIu64, c->cfg.name,
             v->id.epoch, gc_uuid_short(&v->id.leader, b), primary ? "primary" : "non-primary", v->n, m.u.start.close);
    /* send START to every reporter except us (leavers learn they are out), each with only the
     * adopted entries its log lacks or has differently */
    uint64_t full_first = m.u.start.first;
    uint32_t full_n = m.u.start.nentries;
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        if (!tr_uuid_compare(&s->r.uuid, &c->me) || (s->r.flags & GC_STATE_DECLINE)) continue;
        struct peer *p = gc_peer_find(c, &s->r.uuid);
        if (!p) continue;
        uint64_t from = full_n ? start_from(adopt, s, full_first) : full_first;
        m.u.start.first = from;
        m.u.start.nentries = full_n - (uint32_t)(from - full_first);
        m.u.start.entries = refs ? refs + (from - full_first) : NULL;
        c->st.start_entries_sent += m.u.start.nentries;
        gc_send_to_peer(c, p, &m);
    }
    m.u.start.first = full_first;
    m.u.start.nentries = full_n;
    m.u.start.entries = refs;
    c->promise_peer = -1;
    c->next_gather_ok = t + c->t_hb / 2 + c->env.random(c->env.ctx) % (c->t_hb / 2 + 1);
    /* peers in a primary view declined: their leader takes us in, and our asking again at once
     * would only cost them a report each time */
    bool declined = false;
    for (int i = 0; i < c->g.ncoll; i++) declined |= (c->g.coll[i].r.flags & GC_STATE_DECLINE) != 0;
    if (declined) {
        uint64_t lo = c->t_change, hi = 4 * c->t_change;
        c->decline_backoff = !c->decline_backoff ? lo : c->decline_backoff * 2 > hi ? hi : c->decline_backoff * 2;
        c->next_gather_ok = t + c->decline_backoff;
    } else {
        c->decline_backoff = 0;
    }
    /* a peer outside the view we are in that was asked but did not answer is not asked again at
     * once: an outsider that links up and stays silent would cost a view change every tick, and
     * a node whose old group ignores it (a primary component takes GATHERs from its members
     * only) would gather alone again and again, raising its epoch past its group's invitations */
    for (int i = 0; i < c->g.ntargets; i++) {
        struct peer *p = gc_peer_find(c, &c->g.targets[i]);
        if (!p || coll_find(c, &p->uuid) || gc_in_view(&c->cur, p)) continue;
        /* twice in a row: once happens when it gathered itself at the same moment */
        if (++p->misses >= 2 && (gc_anchored(c) || !gc_peer_gathers(c, p, t))) {
            gc_skip_peer(c, p);
            p->misses = 0;
        }
    }
    gc_apply_start(c, &m);
    free(refs);
    free(dd);
    for (uint32_t k = 0; k < ng; k++) free(grefs[k]);
    gc_gather_clear(c);
}

void gc_on_state_msg(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (c->state != GC_ST_GATHER) {
        gc_probe_answer(c, p, m);
        return;
    }
    if (m->u.state.epoch != c->g.epoch) return;
    /* STATEs only from the peers we invited */
    if (m->u.state.inc != p->inc || !gc_in_set(c->g.targets, c->g.ntargets, &p->uuid)) return;
    if (gc_is_evicted(c, &p->uuid)) return;
    if (!(m->u.state.flags & GC_STATE_DECLINE)) gc_evict_merge(c, &m->u.state.evict);
    if (coll_add(c, &p->uuid, m, gc_now(c)) == 0) p->skip_until = p->skip_backoff = p->misses = 0;
    gc_gather_check(c, false);
}
