/* gcomm/gc_lease: heartbeats and the primary lease: a member counts as primary only while a
 * majority of the view's weight has recently echoed its heartbeats. */
#include "gcomm/gc_core_int.h"

#include <string.h>

/* ---------- leases ---------- */

/* Enough weight to be primary: more than half, or half with pc.ignore_sb as for the view itself
 * (a two-node cluster whose peer dies keeps its primary component without a non-primary view in
 * between). */
static bool lease_quorum(const gc_core *c, uint64_t acc, uint64_t total)
{
    return 2 * acc > total || (c->cfg.ignore_sb && 2 * acc == total);
}

void gc_recompute_lease(gc_core *c)
{
    uint64_t ts[GC_MAX_MEMBERS];
    uint8_t w[GC_MAX_MEMBERS];
    uint32_t n = 0;
    uint64_t total = gc_view_weight(&c->cur), acc = 0;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        const gc_member *m = &c->cur.m[i];
        if (!tr_uuid_compare(&m->uuid, &c->me)) { acc += m->weight; continue; }
        struct peer *p = gc_peer_find(c, &m->uuid);
        if (!p || p->inc != m->incarnation || !p->echo_ts) continue;
        ts[n] = p->echo_ts;
        w[n++] = m->weight;
    }
    if (c->cfg.ignore_quorum || lease_quorum(c, acc, total)) { /* pc.ignore_quorum: any component is primary */
        c->lease_expiry = NEVER;
        return;
    }
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && ts[j] > ts[j - 1]; j--) {
            uint64_t t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t;
            uint8_t x = w[j]; w[j] = w[j - 1]; w[j - 1] = x;
        }
    c->lease_expiry = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        if (lease_quorum(c, acc, total)) {
            c->lease_expiry = ts[i] + c->t_lease;
            return;
        }
    }
}

/* Members holding the majority weight, this node included, still speak for its view: each was
 * heard within t_fresh and its last heartbeat was NORMAL in this view's epoch. Their echoes of
 * our heartbeats are then late (queued behind bulk data on a far link), not gone: a member that
 * joins a view change says so in its next frame (a GATHER, an HB of another state). */
bool gc_lease_spoken_for(gc_core *c, uint64_t t)
{
    uint64_t total = gc_view_weight(&c->cur), acc = 0;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        const gc_member *m = &c->cur.m[i];
        if (!tr_uuid_compare(&m->uuid, &c->me)) { acc += m->weight; continue; }
        struct peer *p = gc_peer_find(c, &m->uuid);
        if (p && p->inc == m->incarnation && gc_peer_fresh(c, p, t) && p->have_hb &&
            p->hb_state == GC_ST_NORMAL && p->hb_epoch == c->cur.id.epoch)
            acc += m->weight;
    }
    return lease_quorum(c, acc, total);
}

bool gc_core_is_primary(const gc_core *c)
{
    return c->state == GC_ST_NORMAL && c->cur.primary && c->established && gc_now(c) < c->lease_expiry;
}

/* ---------- heartbeats ---------- */

void gc_send_heartbeats(gc_core *c, uint64_t t)
{
    gc_msg m;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_HB;
    m.u.hb.ts = t;
    m.u.hb.promised = c->promised;
    m.u.hb.epoch = c->state == GC_ST_NORMAL ? c->cur.id.epoch : 0;
    m.u.hb.state = (uint8_t)c->state;
    m.u.hb.fc = c->fc_self;
    m.u.hb.weight = c->cfg.weight;
    m.u.hb.ack = c->state == GC_ST_NORMAL && c->cur.primary ? gc_log_end(c) : 0;
    for (int i = 0; i < MAX_PEERS && m.u.hb.nsusp < GC_MAX_MEMBERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && !p->leaving && !gc_peer_fresh(c, p, t) && t - p->last_heard < c->cfg.inactive_ns)
            m.u.hb.susp[m.u.hb.nsusp++] = p->uuid;
    }
    /* urgent, so it is encoded per link: each says how many frames it may overtake */
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (!p->used || p->link < 0) continue;
        struct link *l = &c->links[p->link];
        m.u.hb.bulk = l->bulk_sent;
        if (!gc_encode(c, &m)) return;
        gc_raw_send(c, l, c->wb.p, c->wb.len, true);
    }
}
