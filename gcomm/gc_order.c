/* gcomm/gc_order: total order within a view: the leader orders, members acknowledge, the commit
 * point advances (establishing the view) and entries and views are delivered. */
#include "gcomm/gc_core_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_gvwstate.h"

/* ---------- views and delivery ---------- */

int gc_my_index(const gc_core *c, const gc_view *v) { return gc_view_find(v, &c->me); }

void gc_deliver_view(gc_core *c, const gc_view *v, bool continuous)
{
    struct gc_delivery d;
    memset(&d, 0, sizeof d);
    d.kind = GC_DELIVER_VIEW;
    d.view = v;
    d.my_index = gc_my_index(c, v);
    d.continuous = continuous;
    d.close = v->primary ? (int64_t)c->close : -1;
    d.history = v->history;
    c->dv = *v;
    c->have_dv = true;
    c->nonprim_since = !v->primary;
    c->st.views++;
    char b1[40];
    tr_info("gcomm %s: view %" PRIu64 ".%s %s, %u members, own index %d", c->cfg.name, v->id.epoch,
            gc_uuid_short(&v->id.leader, b1), v->primary ? "PRIMARY" : "NON-PRIMARY", v->n, d.my_index);
    c->env.deliver(c->env.ctx, &d);
}

/* A view established with GC_START_QUIET: it continues the one the application has, with the
 * same members, so the application is not told (gc_gather.c, quiet_view); from here on the
 * core delivers in it as if it had been delivered. */
void gc_keep_view(gc_core *c, const gc_view *v)
{
    char b1[40];
    tr_info("gcomm %s: view %" PRIu64 ".%s PRIMARY, %u members: the same members as view %" PRIu64
            ", not delivered", c->cfg.name, v->id.epoch, gc_uuid_short(&v->id.leader, b1), v->n, c->dv.id.epoch);
    c->dv = *v;
    c->have_dv = true;
    c->nonprim_since = false;
    c->st.quiet_views++;
}

/* A local (epoch 0) non-primary view holding only us: we are cut off. */
void gc_deliver_local_nonprim(gc_core *c)
{
    gc_view v;
    memset(&v, 0, sizeof v);
    v.id.leader = c->me;
    v.id.leader_inc = c->inc;
    v.n = 1;
    v.m[0].uuid = c->me;
    v.m[0].incarnation = c->inc;
    v.m[0].weight = c->cfg.weight;
    snprintf(v.m[0].name, sizeof v.m[0].name, "%s", c->cfg.name);
    snprintf(v.m[0].incoming, sizeof v.m[0].incoming, "%s", c->cfg.incoming);
    gc_deliver_view(c, &v, false);
}

void gc_pend_drop_all(gc_core *c)
{
    for (size_t i = 0; i < c->pend_n; i++) gc_buf_put(c, c->pend[i].data, c->pend[i].len);
    c->pend_n = c->pend_sent = 0;
    c->pend_sent_bytes = 0;
}

/* Everything pending goes to the leader again (a new view, a new link to the leader). */
void gc_pend_resend_all(gc_core *c)
{
    c->pend_sent = 0;
    c->pend_sent_bytes = 0;
}

static void persist_view(gc_core *c)
{
    gc_wbuf w;
    gc_w_init(&w);
    gc_gvwstate_encode(&w, &c->me, &c->cur);
    if (!w.oom) c->env.persist(c->env.ctx, w.p, w.len);
    gc_w_free(&w);
}

void gc_deliver_entry(gc_core *c, uint64_t seqno)
{
    struct entry *e = gc_log_at(c, seqno);
    if (!e) return;
    struct gc_delivery d;
    memset(&d, 0, sizeof d);
    d.kind = GC_DELIVER_MSG;
    d.sender = e->sender;
    d.seqno = (int64_t)seqno;
    d.history = c->cur.history;
    d.data = e->data;
    d.len = e->len;
    c->delivered = seqno;
    c->st.msgs_delivered++;
    c->st.bytes_delivered += e->len;
    if (e->inc == c->inc && !tr_uuid_compare(&e->sender, &c->me)) {
        while (c->pend_n && c->pend[0].seq <= e->seq) {
            if (c->pend[0].seq == e->seq) {
                uint64_t lat = gc_now(c) - c->pend[0].t0;
                c->st.repl_latency_last_ns = lat;
                c->st.repl_latency_avg_ns = c->st.repl_latency_avg_ns
                                                ? (c->st.repl_latency_avg_ns * 7 + lat) / 8 : lat;
                if (lat > c->st.repl_latency_max_ns) c->st.repl_latency_max_ns = lat;
            }
            gc_buf_put(c, c->pend[0].data, c->pend[0].len);
            if (c->pend_sent) {
                c->pend_sent--;
                c->pend_sent_bytes -= c->pend[0].len;
            }
            memmove(c->pend, c->pend + 1, (c->pend_n - 1) * sizeof *c->pend);
            c->pend_n--;
        }
    }
    c->env.deliver(c->env.ctx, &d);
}

static uint64_t member_ack(gc_core *c, uint32_t i)
{
    const gc_member *m = &c->cur.m[i];
    if (!tr_uuid_compare(&m->uuid, &c->me)) return gc_log_end(c);
    struct peer *p = gc_peer_find(c, &m->uuid);
    if (!p || p->inc != m->incarnation || p->ack_epoch != c->cur.id.epoch) return 0;
    return p->ack;
}

static void trim_log(gc_core *c)
{
    uint64_t all = gc_log_end(c);
    for (uint32_t i = 0; i < c->cur.n; i++) {
        uint64_t a = member_ack(c, i);
        if (a < all) all = a;
    }
    if (all > c->delivered) all = c->delivered;
    if (all >= c->log_first) gc_log_trim_front(c, all);
}

static bool acked_close(const void *arg, const tr_uuid *u)
{
    gc_core *c = (gc_core *)arg;
    int k = gc_view_find(&c->cur, u);
    return k >= 0 && member_ack(c, (uint32_t)k) >= c->close;
}

static bool joint_ok(gc_core *c)
{
    if (c->forced || c->njoint == 0) return true;
    return gc_joint_quorum(c->joint, c->njoint, c->cfg.ignore_sb, acked_close, c);
}

/* The retain limit (gcomm.md section 5, step 6): while our log, with what we sent and have not
 * seen delivered, holds that many bytes, we send nothing new. A member that cannot keep up then
 * slows the group down instead of making every log and the send queues towards it grow without
 * bound. Checked before each message, whatever its size: one larger than the limit still goes
 * once the rest is below it. Our own messages in flight count because a member's log grows only
 * when their ORDERs come back: without them it would send its whole pending queue at once. */
static bool retain_full(const gc_core *c)
{
    return c->cfg.retain_limit && c->log_bytes + c->pend_sent_bytes >= c->cfg.retain_limit;
}

/* Recomputes the commit point; establishes the view and delivers what became safe. */
void gc_advance(gc_core *c)
{
    if (c->state != GC_ST_NORMAL || !c->cur.primary) return;
    uint64_t acks[GC_MAX_MEMBERS];
    uint8_t wts[GC_MAX_MEMBERS];
    uint32_t n = c->cur.n;
    for (uint32_t i = 0; i < n; i++) {
        acks[i] = member_ack(c, i);
        wts[i] = c->cur.m[i].weight;
    }
    if (!tr_uuid_compare(&c->cur.id.leader, &c->me)) {
        /* our own gc_log_end is already counted */
    } else {
        /* the leader holds every entry it sent us */
        int li = gc_view_find(&c->cur, &c->cur.id.leader);
        if (li >= 0 && acks[li] < gc_log_end(c)) acks[li] = gc_log_end(c);
    }
    /* sort by ack descending */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && acks[j] > acks[j - 1]; j--) {
            uint64_t t = acks[j]; acks[j] = acks[j - 1]; acks[j - 1] = t;
            uint8_t w = wts[j]; wts[j] = wts[j - 1]; wts[j - 1] = w;
        }
    uint64_t total = gc_view_weight(&c->cur), acc = 0, commit = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += wts[i];
        if (2 * acc > total) { commit = acks[i]; break; }
    }
    if (commit > c->commit) c->commit = commit;
    if (!c->established) {
        if (c->commit < c->close || !joint_ok(c)) return;
        c->established = true;
        c->lease_grace = gc_now(c) + c->t_lease;
        gc_recompute_lease(c); /* a member holding the majority weight alone needs no echoes */
        if (c->continuing)
            for (uint64_t s = c->delivered + 1; s <= c->close; s++) gc_deliver_entry(c, s);
        c->delivered = c->close;
        c->cur_delivered = true;
        c->last_prim = c->cur;
        c->has_prim = true;
        c->prim_pending = false;
        c->last_estab = c->cur;
        c->has_estab = true;
        if (c->quiet) gc_keep_view(c, &c->cur);
        else gc_deliver_view(c, &c->cur, c->continuing);
        persist_view(c);
        gc_pend_resend_all(c);
        gc_send_pending(c);
    }
    uint64_t upto = c->commit < gc_log_end(c) ? c->commit : gc_log_end(c);
    while (c->delivered < upto && c->state == GC_ST_NORMAL) gc_deliver_entry(c, c->delivered + 1);
    trim_log(c);
    if (c->retain_wait && !retain_full(c)) gc_send_pending(c);
}

/* ---------- ordering ---------- */

bool gc_leader_order(gc_core *c, const tr_uuid *sender, uint64_t inc, uint64_t seq,
                     uint64_t base, const uint8_t *data, size_t len)
{
    gc_dedup *d = gc_dedup_find(c, sender, inc, false);
    if (d && seq <= d->seq) return true;
    /* Each sender's messages are ordered in the order it sent them. One missing before this
     * (it reached this leader while it could not take it, or went down with a link) must come
     * first: ordering this one would reorder the sender's messages, and the missing one would
     * then look like a duplicate and be lost. */
    uint64_t expect = d && d->seq + 1 > base ? d->seq + 1 : base;
    if (seq != expect) return false;
    gc_entry_ref e = {.sender = *sender, .sender_inc = inc, .sender_seq = seq, .data = data, .len = len};
    if (gc_log_append(c, &e)) {
        tr_error("gcomm: out of memory ordering a message");
        return false; /* the sender sends it again */
    }
    gc_dedup_note(c, sender, inc, seq);
    gc_msg m;
    m.type = GC_MSG_ORDER;
    m.u.order.epoch = c->cur.id.epoch;
    m.u.order.seqno = gc_log_end(c);
    m.u.order.e = e;
    gc_send_to_members(c, &m, sender);
    return true;
}

bool gc_fc_blocked(gc_core *c)
{
    if (c->fc_self) return true;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        struct peer *p = gc_peer_find(c, &c->cur.m[i].uuid);
        if (p && p->fc && p->inc == c->cur.m[i].incarnation) return true;
    }
    return false;
}

bool gc_can_send(gc_core *c)
{
    return c->state == GC_ST_NORMAL && c->cur.primary && c->established;
}

static void send_pending_once(gc_core *c)
{
    if (!gc_can_send(c) || gc_fc_blocked(c)) return;
    bool leader = !tr_uuid_compare(&c->cur.id.leader, &c->me);
    struct peer *lp = leader ? NULL : gc_peer_find(c, &c->cur.id.leader);
    if (!leader && (!lp || lp->link < 0)) return;
    bool was_waiting = c->retain_wait;
    c->retain_wait = false;
    while (c->pend_sent < c->pend_n) {
        if (retain_full(c)) {
            if (!was_waiting) c->st.retain_waits++; /* a stop, not every attempt while stopped */
            c->retain_wait = true;
            break;
        }
        struct pend *p = &c->pend[c->pend_sent++];
        c->pend_sent_bytes += p->len;
        if (leader) {
            gc_leader_order(c, &c->me, c->inc, p->seq, c->pend[0].seq, p->data, p->len);
        } else {
            gc_msg m;
            m.type = GC_MSG_DATA;
            m.u.data.epoch = c->cur.id.epoch;
            m.u.data.seq = p->seq;
            m.u.data.base = c->pend[0].seq;
            m.u.data.data = p->data;
            m.u.data.len = p->len;
            gc_send_to_peer(c, lp, &m);
        }
        c->st.msgs_sent++;
    }
    if (leader) gc_advance(c);
}

void gc_send_pending(gc_core *c)
{
    /* gc_advance calls back here when trimming opened the retain limit: loop, do not recurse */
    if (c->sending) { c->send_more = true; return; }
    c->sending = true;
    do {
        c->send_more = false;
        send_pending_once(c);
    } while (c->send_more);
    c->sending = false;
}

/* ---------- acknowledgements ---------- */

/* Does member i need our ACK to move its commit point? A member counts its own log and the
 * leader's (the leader holds all it sent): if those two already hold a quorum of the view, our
 * ACK only lets it trim its log, and it can wait. The leader's ACK never moves anybody's commit. */
static bool ack_urgent(const gc_core *c, uint32_t i)
{
    if (!c->established) return true; /* establishing a view needs everybody's acks */
    if (!tr_uuid_compare(&c->cur.id.leader, &c->me)) return false;
    uint64_t w = c->cur.m[i].weight;
    if (tr_uuid_compare(&c->cur.m[i].uuid, &c->cur.id.leader)) {
        int li = gc_view_find(&c->cur, &c->cur.id.leader);
        if (li >= 0) w += c->cur.m[li].weight;
    }
    return 2 * w <= gc_view_weight(&c->cur);
}

#define ACK_LAZY_MAX 64 /* entries a trim-only ACK may lag behind (also sent every tick) */

/* An entry at `seqno` came in the leader's stream: does the leader's commit of it wait for our
 * ACK? Not if its sender is another member that, with the leader, holds more than half of the
 * weight: the sender's own ACK tells the leader (with 3 equal members only the sender acks each
 * member's message at once, not both members). */
void gc_note_appended(gc_core *c, const tr_uuid *sender, uint64_t sender_inc, uint64_t seqno)
{
    int li = gc_view_find(&c->cur, &c->cur.id.leader), si = gc_view_find(&c->cur, sender);
    bool own = sender_inc == c->inc && !tr_uuid_compare(sender, &c->me);
    if (!own && li >= 0 && si >= 0 && si != li && c->cur.m[si].incarnation == sender_inc &&
        2 * ((uint64_t)c->cur.m[li].weight + c->cur.m[si].weight) > gc_view_weight(&c->cur))
        return;
    c->ack_need = seqno;
}

/* Sends our ACK at once to the members whose commit waits for it (the leader: for the entries
 * gc_note_appended says it waits for), and to the others when it has moved ACK_LAZY_MAX entries
 * or `all` (ticks, reconnects, new views). */
void gc_send_ack(gc_core *c, bool all)
{
    if (c->state != GC_ST_NORMAL || !c->cur.primary) return;
    uint64_t e = gc_log_end(c);
    bool fresh = c->acked_sent_epoch != c->cur.id.epoch;
    if (fresh) c->acked_sent = c->acked_lazy = c->acked_leader = c->ack_need = 0;
    bool urgent = fresh || c->acked_sent != e;
    bool lazy = fresh || (e > c->acked_lazy && (all || e - c->acked_lazy >= ACK_LAZY_MAX));
    /* before the view is established everybody needs every ACK */
    bool to_leader = fresh || (c->acked_leader != e && (!c->established || c->ack_need > c->acked_leader));
    if (!urgent && !lazy && !to_leader) return;
    gc_msg m;
    m.type = GC_MSG_ACK;
    m.u.ack.epoch = c->cur.id.epoch;
    m.u.ack.seqno = e;
    if (!gc_encode(c, &m)) return;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        if (!tr_uuid_compare(&c->cur.m[i].uuid, &c->me)) continue;
        bool is_leader = !tr_uuid_compare(&c->cur.m[i].uuid, &c->cur.id.leader);
        bool go = !ack_urgent(c, i) ? lazy : is_leader ? to_leader || lazy : urgent;
        if (!go) continue;
        struct peer *p = gc_peer_find(c, &c->cur.m[i].uuid);
        if (p && p->link >= 0 && p->inc == c->cur.m[i].incarnation)
            gc_raw_send(c, &c->links[p->link], c->wb.p, c->wb.len, false);
        if (is_leader) c->acked_leader = e;
    }
    c->acked_sent = e;
    if (lazy) c->acked_lazy = e;
    c->acked_sent_epoch = c->cur.id.epoch;
}
