/* gcomm/gc_evict: the delayed list (peers heard late or whose link dropped, with a count) and the
 * evict list (uuids refused membership), and automatic eviction by a majority's delayed lists. */
#include "gcomm/gc_core_int.h"

#include <stdio.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_gvwstate.h"

/* docs/design/gcomm.md section 14 is the specification; Galera's counterparts are named there. */

bool gc_is_evicted(const gc_core *c, const tr_uuid *u)
{
    for (int i = 0; i < c->evict.n; i++)
        if (!tr_uuid_compare(&c->evict.u[i], u)) return true;
    return false;
}

static void send_evicted(gc_core *c, struct link *l)
{
    gc_msg m;
    m.type = GC_MSG_EVICTED;
    if (gc_encode(c, &m)) gc_raw_send(c, l, c->wb.p, c->wb.len, false);
}

/* A peer in our evict list linked up (its HELLO arrived): it learns why, and the link goes. */
void gc_evict_refuse(gc_core *c, struct link *l)
{
    send_evicted(c, l);
    gc_close_link(c, l, true);
}

/* Our delayed list and evict list to every member we have a link to. Members keep the last one
 * of each (peer.rep_*) and merge the evict list into theirs. */
static void send_report(gc_core *c)
{
    gc_msg m;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_DELAYED;
    for (int i = 0; i < MAX_PEERS && m.u.delayed.n < GC_MAX_MEMBERS; i++)
        if (c->dl[i].used && c->dl[i].cnt) {
            m.u.delayed.uuid[m.u.delayed.n] = c->dl[i].uuid;
            m.u.delayed.cnt[m.u.delayed.n++] = c->dl[i].cnt;
        }
    m.u.delayed.evict = c->evict;
    if (!gc_encode(c, &m)) return;
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && p->link >= 0 && gc_member_peer(c, p))
            gc_raw_send(c, &c->links[p->link], c->wb.p, c->wb.len, false);
    }
}

/* u joined the evict list: its links go (it is told first), and a member that is in our view
 * is dropped by the leader's next evaluation (gc_change.c, leader_wants_change). */
static void evicted_now(gc_core *c, const tr_uuid *u)
{
    struct peer *p = gc_peer_find(c, u);
    if (p && p->link >= 0) gc_evict_refuse(c, &c->links[p->link]);
    for (int i = 0; i < MAX_LINKS; i++) /* a second link not yet chosen as the peer's */
        if (c->links[i].used && c->links[i].peer >= 0 && !tr_uuid_compare(&c->peers[c->links[i].peer].uuid, u))
            gc_evict_refuse(c, &c->links[i]);
}

static bool evict_add(gc_core *c, const tr_uuid *u, const char *why)
{
    char b[40];
    if (!tr_uuid_compare(u, &c->me) || gc_is_evicted(c, u)) return false;
    if (c->evict.n >= GC_EVICT_MAX) {
        tr_warn("gcomm %s: evict list full (%d): %s not evicted", c->cfg.name, GC_EVICT_MAX, gc_uuid_short(u, b));
        return false;
    }
    c->evict.u[c->evict.n++] = *u;
    char full[40];
    tr_uuid_print(u, full);
    tr_warn("gcomm %s: evicting %s permanently from the group (%s)", c->cfg.name, full, why);
    evicted_now(c, u);
    return true;
}

/* Galera's rule for two lists: the one of the higher generation (more clears) replaces the other;
 * of the same generation, their union. True when ours changed. */
bool gc_evict_merge(gc_core *c, const gc_evict_list *e)
{
    if (e->gen < c->evict.gen) return false;
    bool changed = false;
    if (e->gen > c->evict.gen) {
        tr_info("gcomm %s: evict list cleared by a member (generation %llu)", c->cfg.name,
                (unsigned long long)e->gen);
        c->evict.gen = e->gen;
        c->evict.n = 0;
        changed = true;
    }
    for (int i = 0; i < e->n; i++) changed |= evict_add(c, &e->u[i], "a member evicted it");
    return changed;
}

/* Marks entry d delayed now: a new delay (from OK) counts once. */
static void mark_delayed(gc_core *c, struct delayed *d, uint64_t t)
{
    if (!d->delayed && d->cnt < 255) d->cnt++;
    d->delayed = true;
    d->tstamp = t;
    (void)c;
}

static struct delayed *dl_find(gc_core *c, const struct peer *p, bool create)
{
    struct delayed *free_slot = NULL;
    for (int i = 0; i < MAX_PEERS; i++) {
        if (c->dl[i].used && !tr_uuid_compare(&c->dl[i].uuid, &p->uuid)) return &c->dl[i];
        if (!c->dl[i].used && !free_slot) free_slot = &c->dl[i];
    }
    if (!create || !free_slot) return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = true;
    free_slot->uuid = p->uuid;
    return free_slot;
}

/* The link to a member dropped (the driver saw it go): a delay at once, whatever the timing. */
void gc_evict_link_down(gc_core *c, struct peer *p)
{
    if (c->isolate || c->left || !gc_member_peer(c, p)) return;
    struct delayed *d = dl_find(c, p, true);
    if (!d) return;
    snprintf(d->addr, sizeof d->addr, "%s", p->listen);
    mark_delayed(c, d, gc_now(c));
}

/* Galera's handle_delayed_list: a candidate is a uuid that fresh reports (ours and the view's
 * members', those that do not name us) list with a count above 1; it is evicted when one of them
 * lists it at evs.auto_evict or more and more than half of the view's members list it. */
static void decide(gc_core *c, uint64_t t)
{
    /* Only a primary component (lease held) evicts, and only its members, by its members'
     * reports: it then re-forms without the evicted member and keeps its quorum. Galera also lets
     * a node outside the primary component evict; in the simulator's seed 1556 a node alone in a
     * non-primary view evicted a member of the last primary view, and the rest could no longer
     * reach its quorum nor recover it; then a member resumed after a 13 s pause decided on its
     * old view before its tick saw the lease gone. */
    if (!c->cfg.auto_evict || !gc_core_is_primary(c)) return;
    struct cand {
        tr_uuid u;
        int total, over;
    } cand[GC_MAX_MEMBERS];
    int nc = 0;
    for (int r = -1; r < MAX_PEERS; r++) {
        uint8_t n = 0;
        const tr_uuid *us;
        const uint8_t *cnts;
        tr_uuid mine[GC_MAX_MEMBERS];
        uint8_t mcnt[GC_MAX_MEMBERS];
        if (r < 0) {
            for (int i = 0; i < MAX_PEERS && n < GC_MAX_MEMBERS; i++)
                if (c->dl[i].used && c->dl[i].cnt) {
                    mine[n] = c->dl[i].uuid;
                    mcnt[n++] = c->dl[i].cnt;
                }
            us = mine;
            cnts = mcnt;
        } else {
            const struct peer *p = &c->peers[r];
            if (!p->used || !p->rep_time || t - p->rep_time > c->cfg.delayed_keep_ns || !gc_in_view(&c->cur, p))
                continue;
            bool names_me = false;
            for (int i = 0; i < p->rep_n; i++) names_me |= !tr_uuid_compare(&p->rep_uuid[i], &c->me);
            if (names_me) continue; /* its own link may be the bad one: Galera skips it too */
            n = p->rep_n;
            us = p->rep_uuid;
            cnts = p->rep_cnt;
        }
        for (int i = 0; i < n; i++) {
            if (cnts[i] <= 1) continue; /* one delay alone is no candidate */
            int k = 0;
            while (k < nc && tr_uuid_compare(&cand[k].u, &us[i])) k++;
            if (k == nc) {
                if (nc == GC_MAX_MEMBERS) continue;
                cand[nc++] = (struct cand){us[i], 0, 0};
            }
            cand[k].total++;
            if (cnts[i] >= c->cfg.auto_evict) cand[k].over++;
        }
    }
    for (int k = 0; k < nc; k++) {
        if (!cand[k].over || gc_is_evicted(c, &cand[k].u) || gc_view_find(&c->cur, &cand[k].u) < 0) continue;
        if (cand[k].total <= (int)c->cur.n / 2) continue;
        char why[96];
        snprintf(why, sizeof why, "evs.auto_evict %u reached, delayed at %d of %u members", c->cfg.auto_evict,
                 cand[k].total, c->cur.n);
        if (evict_add(c, &cand[k].u, why)) send_report(c);
    }
}

/* Every keepalive/2 (Galera's evs.inactive_check_period): a member heard later than a heartbeat
 * period plus evs.delay_margin, or without a link, is delayed; an entry not delayed for
 * evs.delayed_keep_period loses one count, and goes at 0. */
void gc_evict_tick(gc_core *c, uint64_t t)
{
    if (t < c->next_dl_check) return;
    c->next_dl_check = t + c->cfg.keepalive_ns / 2;
    if (c->isolate || c->left) return;
    bool any = false;
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (!p->used) continue;
        struct delayed *d = dl_find(c, p, false);
        bool member = gc_member_peer(c, p);
        if (!d && !member) continue;
        if (gc_is_evicted(c, &p->uuid)) continue;
        /* only a member of our views can be late: a peer that left them (a dead member the view
         * dropped) decays out of the list as Galera forgets a node gone for good */
        bool late = member && (p->link < 0 || t - p->last_heard > c->t_hb + c->cfg.delay_margin_ns);
        if (late) {
            if (!d) d = dl_find(c, p, true);
            if (!d) continue;
            snprintf(d->addr, sizeof d->addr, "%s", p->listen);
            mark_delayed(c, d, t);
        } else if (d) {
            d->delayed = false;
        }
    }
    for (int i = 0; i < MAX_PEERS; i++) {
        struct delayed *d = &c->dl[i];
        if (!d->used) continue;
        if (!d->delayed && t - d->tstamp > c->cfg.delayed_keep_ns) {
            if (d->cnt) d->cnt--;
            d->tstamp = t;
        }
        /* an evicted uuid that is not in our view is no longer watched (Galera: the same) */
        bool gone = gc_is_evicted(c, &d->uuid) && !(c->cur.id.epoch && gc_view_find(&c->cur, &d->uuid) >= 0);
        if ((!d->cnt && !d->delayed) || gone) d->used = false;
        else if (d->cnt) any = true;
    }
    for (int i = 0; i < MAX_PEERS; i++) /* Galera drops reports older than the keep period */
        if (c->peers[i].used && c->peers[i].rep_time && t - c->peers[i].rep_time > c->cfg.delayed_keep_ns)
            c->peers[i].rep_time = 0;
    /* reports go out while there is something to say: delays with auto-eviction on, or an evict
     * list (or a clear) the members must share */
    if ((any && c->cfg.auto_evict) || c->evict.n || c->evict.gen) send_report(c);
    decide(c, t);
}

void gc_on_delayed(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (!gc_member_peer(c, p)) return; /* an outsider's word evicts nobody */
    p->rep_time = gc_now(c);
    p->rep_n = m->u.delayed.n;
    memcpy(p->rep_uuid, m->u.delayed.uuid, sizeof p->rep_uuid[0] * p->rep_n);
    memcpy(p->rep_cnt, m->u.delayed.cnt, sizeof p->rep_cnt[0] * p->rep_n);
    if (gc_evict_merge(c, &m->u.delayed.evict)) send_report(c);
    decide(c, gc_now(c));
}

/* A member evicted us. We leave for good: non-primary, every link closed, none taken, until the
 * process restarts; our uuid stays refused until the evict list is cleared. */
void gc_on_evicted(gc_core *c, struct peer *p)
{
    if (c->evicted || (!gc_member_peer(c, p) && gc_members_only(c))) return;
    char full[40], nm[4 * GC_NAME_MAX + 8];
    tr_uuid_print(&c->me, full);
    tr_error("gcomm %s: this node (%s) has been evicted from the cluster by %s: a restart of the node is required, "
             "and it can rejoin only once the evict list is cleared (SET GLOBAL wsrep_provider_options='evs.evict=' "
             "on a member of the cluster)", c->cfg.name, full, gc_printable(p->name, nm, sizeof nm));
    c->evicted = true;
    /* gvwstate.dat keeps our uuid and no view: a restart (even after a graceful leave, which
     * otherwise deletes the file) comes back under the uuid the members refuse until a clear, and
     * recovers no view of its own. Galera deletes the file instead (a new uuid at restart). */
    gc_wbuf w;
    gc_w_init(&w);
    gc_gvwstate_encode(&w, &c->me, NULL);
    if (!w.oom) c->env.persist(c->env.ctx, w.p, w.len);
    gc_w_free(&w);
    gc_core_set_isolate(c, true);
    if (c->state == GC_ST_NORMAL && c->have_dv && c->dv.primary) {
        gc_pend_drop_all(c);
        gc_deliver_local_nonprim(c);
    }
}

/* ---------- API ---------- */

void gc_core_evict(gc_core *c, const tr_uuid *u)
{
    if (c->left || c->evicted) return;
    if (evict_add(c, u, "evs.evict")) send_report(c);
}

void gc_core_evict_clear(gc_core *c)
{
    if (c->left || c->evicted) return;
    for (int i = 0; i < c->evict.n; i++) {
        char b[40];
        tr_uuid_print(&c->evict.u[i], b);
        tr_info("gcomm %s: unevicting %s", c->cfg.name, b);
    }
    c->evict.n = 0;
    c->evict.gen = gc_epoch_next(c->evict.gen); /* the members replace theirs with ours */
    send_report(c);
}

void gc_core_set_auto_evict(gc_core *c, uint32_t n) { c->cfg.auto_evict = n; }

int gc_core_delayed(const gc_core *c, struct gc_delayed_entry *out, int max)
{
    int n = 0;
    for (int i = 0; i < MAX_PEERS && n < max; i++) {
        const struct delayed *d = &c->dl[i];
        if (!d->used || !d->cnt) continue;
        if (gc_is_evicted(c, &d->uuid) && !(c->cur.id.epoch && gc_view_find(&c->cur, &d->uuid) >= 0)) continue;
        out[n].uuid = d->uuid;
        snprintf(out[n].addr, sizeof out[n].addr, "%s", d->addr);
        out[n++].cnt = d->cnt;
    }
    return n;
}

const gc_evict_list *gc_core_evict_list(const gc_core *c) { return &c->evict; }

bool gc_core_evicted(const gc_core *c) { return c->evicted; }
