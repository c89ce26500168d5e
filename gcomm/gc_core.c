/* gcomm/gc_core: entry points of the Viewstamped-Replication-style core: the API, driver events,
 * dispatch of incoming messages and the tick. docs/design/gcomm.md is the specification. */
#include "gcomm/gc_core_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_gvwstate.h"

/* ---------- incoming messages ---------- */

static bool is_member(const gc_core *c, const struct peer *p)
{
    int k = c->state == GC_ST_NORMAL ? gc_view_find(&c->cur, &p->uuid) : -1;
    return k >= 0 && c->cur.m[k].incarnation == p->inc;
}

/* ---------- statistics ---------- */

/* Flow control holds our sending while we are in a view and a stop is in force (gc_fc_blocked);
 * the send queue is what waits to go to the leader. Called at the end of every entry point that
 * can change either, so the totals change exactly where the state does. */
static void stats_track(gc_core *c)
{
    bool active = c->state == GC_ST_NORMAL && gc_fc_blocked(c);
    if (active != c->st.fc_active) {
        uint64_t t = gc_now(c);
        if (active) c->fc_since = t;
        else c->st.fc_paused_ns += t - c->fc_since;
        c->st.fc_active = active;
    }
    uint64_t q = c->pend_n - c->pend_sent;
    if (q > c->st.send_q_max) c->st.send_q_max = q;
    if (q < c->st.send_q_min) c->st.send_q_min = q;
}

/* A member's stop flag, from its FC message or heartbeat: a stop counts once, when it starts. */
static void peer_fc(gc_core *c, struct peer *p, bool stop)
{
    if (stop && !p->fc && is_member(c, p)) c->st.fc_stops_recv++;
    p->fc = stop;
}

/* The state a heartbeat reports, once every frame sent before it has been received. */
static void apply_hb(gc_core *c, struct peer *p, const struct gc_hb *hb)
{
    /* What a peer says about itself alone counts from anybody: whom it cannot hear (which can
     * only keep itself out of the desired set) and that it leaves. */
    p->nsusp = hb->nsusp;
    memcpy(p->susp, hb->susp, sizeof p->susp[0] * p->nsusp);
    if (hb->state == GC_ST_LEAVING || hb->state == GC_ST_LEFT) p->leaving = true;
    p->hb_promised = hb->promised; /* what a GATHER must exceed to get its STATE (gc_start_gather) */
    /* A member's promised epoch is ours to exceed. A peer that is not a member moves it too when
     * we invited it, or when we are outside a primary view (a joiner learns a running group's
     * epoch so), but slowly (gc_epoch_from_outside): an outsider cannot spend the epoch space. */
    if (hb->promised > c->max_epoch) {
        if (gc_member_peer(c, p)) c->max_epoch = hb->promised;
        else if (!gc_members_only(c) || gc_trusted(c, p)) gc_epoch_from_outside(c, hb->promised);
    }
    /* Its view, state, weight, acknowledgement and flow control count only from members and
     * invited peers: an outsider's heartbeat changes nothing. */
    if (!gc_trusted(c, p)) return;
    p->have_hb = true;
    p->hb_epoch = hb->epoch;
    p->hb_state = hb->state;
    p->hb_weight = hb->weight;
    peer_fc(c, p, hb->fc);
    bool member = is_member(c, p);
    if (hb->state == GC_ST_NORMAL && (hb->epoch > p->ack_epoch || (hb->epoch == p->ack_epoch && hb->ack > p->ack))) {
        p->ack_epoch = hb->epoch;
        p->ack = hb->ack;
        if (member) gc_advance(c);
    }
    if (!p->fc && member) gc_send_pending(c);
}

/* Applies, oldest first, the held heartbeats whose preceding frames are all in. */
static void release_held(gc_core *c, struct link *l)
{
    int id = l->id;
    while (l->used && l->id == id && l->peer >= 0 && l->nheld && l->held[0].bulk <= l->bulk_recv) {
        struct gc_hb hb = l->held[0];
        memmove(&l->held[0], &l->held[1], (l->nheld - 1) * sizeof l->held[0]);
        l->nheld--;
        apply_hb(c, &c->peers[l->peer], &hb);
    }
}

static bool from_leader(gc_core *c, const struct peer *p)
{
    return !tr_uuid_compare(&p->uuid, &c->cur.id.leader);
}

static void on_message(gc_core *c, struct link *l, const uint8_t *buf, size_t len, int depth)
{
    gc_msg m;
    if (gc_msg_decode(buf, len, &m)) {
        tr_warn("gcomm %s: malformed message (%zu bytes, type %u) on link %d: disconnecting", c->cfg.name, len,
                len ? buf[0] : 0, l->id);
        gc_close_link(c, l, true);
        return;
    }
    /* Nothing but a HELLO, whole, before the HELLO: an unproven peer cannot make us buffer a
     * fragmented message (its announced total) or act on anything. */
    if (l->peer < 0 && m.type != GC_MSG_HELLO) {
        tr_warn("gcomm %s: %s before HELLO on link %d: disconnecting", c->cfg.name, gc_msg_type_name(m.type), l->id);
        gc_msg_release(&m);
        gc_close_link(c, l, true);
        return;
    }
    if (m.type == GC_MSG_FRAG) {
        uint8_t *whole;
        size_t wlen;
        l->reasm.alloc = gc_buf_reasm_alloc;
        l->reasm.actx = c;
        l->reasm.node = &c->reasm_budget;
        int rc = depth ? -1 : gc_reasm_feed(&l->reasm, m.u.frag.total, m.u.frag.offset, m.u.frag.data,
                                            m.u.frag.len, &whole, &wlen);
        if (rc < 0) {
            tr_warn("gcomm %s: bad fragment on link %d (out of order, nested, or beyond the reassembly budget: %llu "
                    "bytes held by this node, at most %llu): disconnecting", c->cfg.name, l->id,
                    (unsigned long long)c->reasm_budget.used, (unsigned long long)c->reasm_budget.limit);
            gc_close_link(c, l, true);
            return;
        }
        /* A peer that is sending us a large message is alive: its heartbeats queue behind the
         * fragments on the same stream (a START that carries a long log takes longer than t_fresh
         * under load, and the promise to its gatherer must not run out meanwhile). */
        if (l->peer >= 0) c->peers[l->peer].last_heard = gc_now(c);
        if (rc == 1) {
            on_message(c, l, whole, wlen, 1);
            gc_buf_put(c, whole, wlen);
        }
        return;
    }
    if (m.type == GC_MSG_HELLO) {
        if (l->peer >= 0 && (tr_uuid_compare(&m.u.hello.uuid, &c->peers[l->peer].uuid) ||
                             m.u.hello.inc != c->peers[l->peer].inc)) {
            tr_warn("gcomm %s: HELLO from another node on link %d: disconnecting", c->cfg.name, l->id);
            gc_close_link(c, l, true);
        } else {
            gc_on_hello(c, l, &m); /* a repeated HELLO on a link only gossips addresses */
        }
        return;
    }
    struct peer *p = &c->peers[l->peer];
    uint64_t t = gc_now(c);
    p->last_heard = t;
    bool member = is_member(c, p);
    switch (m.type) {
    case GC_MSG_HB: {
        /* the echo goes back at once (the lease is timed by it); the state waits for the frames
         * the heartbeat overtook */
        if (m.u.hb.bulk <= l->bulk_recv) {
            release_held(c, l); /* older ones first */
            if (!l->used || l->peer < 0 || &c->peers[l->peer] != p) break;
            apply_hb(c, p, &m.u.hb);
        } else {
            l->held[l->nheld < LINK_HELD_HB ? l->nheld++ : LINK_HELD_HB - 1] = m.u.hb;
        }
        gc_msg e;
        e.type = GC_MSG_ECHO;
        e.u.echo.ts = m.u.hb.ts;
        e.u.echo.epoch = c->state == GC_ST_NORMAL ? c->cur.id.epoch : 0;
        e.u.echo.supporting = c->state == GC_ST_NORMAL;
        if (p->link >= 0 && gc_encode(c, &e)) gc_raw_send(c, &c->links[p->link], c->wb.p, c->wb.len, true);
        break;
    }
    case GC_MSG_ECHO:
        if (member && m.u.echo.supporting && m.u.echo.epoch == c->cur.id.epoch && m.u.echo.ts > p->echo_ts) {
            if (t > m.u.echo.ts && t - m.u.echo.ts > c->st.echo_max_ns) c->st.echo_max_ns = t - m.u.echo.ts;
            p->echo_ts = m.u.echo.ts;
            gc_recompute_lease(c);
        }
        break;
    case GC_MSG_DATA:
        if (member && m.u.data.epoch == c->cur.id.epoch && c->cur.primary &&
            !tr_uuid_compare(&c->cur.id.leader, &c->me)) {
            if (!gc_leader_order(c, &p->uuid, p->inc, m.u.data.seq, m.u.data.base, m.u.data.data,
                                 m.u.data.len)) {
                /* a new link makes the member send everything it still waits for, in order */
                tr_debug("gcomm %s: a message from %s before its #%llu is missing: reconnecting",
                         c->cfg.name, p->name, (unsigned long long)m.u.data.seq);
                gc_close_link(c, l, true);
                return;
            }
            gc_advance(c);
        }
        break;
    case GC_MSG_ORDER:
        if (member && from_leader(c, p) && m.u.order.epoch == c->cur.id.epoch && c->cur.primary) {
            if (m.u.order.seqno == gc_log_end(c) + 1) {
                if (gc_log_append(c, &m.u.order.e)) { tr_error("gcomm: out of memory"); break; }
                gc_dedup_note(c, &m.u.order.e.sender, m.u.order.e.sender_inc, m.u.order.e.sender_seq);
                gc_note_appended(c, &m.u.order.e.sender, m.u.order.e.sender_inc, m.u.order.seqno);
                gc_advance(c);
            } else if (m.u.order.seqno > gc_log_end(c) + 1) {
                gc_leave_normal(c, "gap in the leader's stream");
            }
        }
        break;
    case GC_MSG_ACK:
        if (!gc_trusted(c, p)) break;
        if (m.u.ack.epoch > p->ack_epoch || (m.u.ack.epoch == p->ack_epoch && m.u.ack.seqno > p->ack)) {
            p->ack_epoch = m.u.ack.epoch;
            p->ack = m.u.ack.seqno;
            if (member) gc_advance(c);
        }
        break;
    case GC_MSG_GATHER:
        gc_on_gather(c, p, &m);
        break;
    case GC_MSG_STATE:
        gc_on_state_msg(c, p, &m);
        break;
    case GC_MSG_START:
        gc_on_start(c, p, &m);
        break;
    case GC_MSG_LEAVE:
        p->leaving = true;
        break;
    case GC_MSG_DELAYED:
        gc_on_delayed(c, p, &m);
        break;
    case GC_MSG_EVICTED:
        gc_on_evicted(c, p);
        break;
    case GC_MSG_FC:
        if (!gc_trusted(c, p)) break;
        peer_fc(c, p, m.u.fc.stop);
        if (!p->fc && member) gc_send_pending(c);
        break;
    default:
        break;
    }
    gc_msg_release(&m);
}

/* ---------- driver events ---------- */

void gc_core_conn_up(gc_core *c, int link, const char *addr)
{
    struct link *l = gc_link_slot(c, link);
    if (!l) {
        if (addr) { c->env.close(c->env.ctx, link); return; } /* gc_dial we no longer track */
        for (int i = 0; i < MAX_LINKS; i++)
            if (!c->links[i].used) { l = &c->links[i]; break; }
        if (!l || c->isolate || c->left) { c->env.close(c->env.ctx, link); return; }
        memset(l, 0, sizeof *l);
        l->used = true;
        l->id = link;
        l->addr = -1;
        l->peer = -1;
    }
    l->opened = gc_now(c);
    if (c->isolate || c->left) { gc_close_link(c, l, true); return; }
    /* The dialler speaks first; an accepted link stays silent until the dialler's HELLO has
     * shown that it knows the group (gc_on_hello answers then): a port scanner or a process of
     * another group learns nothing, not even the group name. */
    if (addr) gc_send_hello(c, l);
}

void gc_core_conn_down(gc_core *c, int link)
{
    struct link *l = gc_link_slot(c, link);
    if (l && l->peer >= 0 && c->peers[l->peer].link == (int)(l - c->links)) gc_evict_link_down(c, &c->peers[l->peer]);
    if (l) gc_close_link(c, l, false);
    stats_track(c);
}

void gc_core_recv(gc_core *c, int link, const uint8_t *buf, size_t len)
{
    struct link *l = gc_link_slot(c, link);
    if (!l || c->left) return;
    bool urgent = len && (buf[0] == GC_MSG_HB || buf[0] == GC_MSG_ECHO); /* as gc_raw_send sends them */
    on_message(c, l, buf, len, 0);
    if (!urgent && l->used && l->id == link) {
        l->bulk_recv++;
        release_held(c, l);
    }
    if (c->leave_req) gc_leave_poll(c); /* the view our leave waited for may be established now */
    stats_track(c);
}

/* Bytes of a frame not complete yet arrived on a link: its peer is alive. Behind a half-sent
 * 64 KB frame on a far link whose TCP window is still small (slow start, BBR's PROBE_RTT),
 * whole frames can be 375 ms (t_fresh) apart while bytes keep coming, and the leader would count
 * as silent (design/gcomm.md section 9). */
void gc_core_recv_partial(gc_core *c, int link)
{
    struct link *l = gc_link_slot(c, link);
    if (!l || c->left || l->peer < 0) return;
    c->peers[l->peer].last_heard = gc_now(c);
}

void gc_core_flush(gc_core *c) { gc_send_ack(c, false); }

/* ---------- timers ---------- */

static void tick(gc_core *c)
{
    if (!c->started || c->left) return;
    uint64_t t = gc_now(c);
    if (c->last_tick && t - c->last_tick > c->t_lease / 2)
        /* this node's own thread was held up: it sent no heartbeats meanwhile, so a lease lost
         * now may be its own doing, not its peers' (Galera logs a late inactivity check too) */
        tr_info("gcomm %s: this node's timers ran %.0f ms late (the lease is %.0f ms)", c->cfg.name,
                (double)(t - c->last_tick) / 1e6, (double)c->t_lease / 1e6);
    c->last_tick = t;
    if (t >= c->next_hb) {
        gc_send_heartbeats(c, t);
        c->next_hb = t + c->t_hb;
    }
    for (int i = 0; i < MAX_LINKS; i++) {
        struct link *l = &c->links[i];
        if (l->used && l->peer < 0 && t - l->opened > 2 * c->cfg.keepalive_ns) {
            tr_warn("gcomm %s: no HELLO on link %d within %.1f s: disconnecting", c->cfg.name, l->id,
                    2.0 * (double)c->cfg.keepalive_ns / 1e9);
            gc_close_link(c, l, true);
        }
    }
    if (c->gossip) { /* a HELLO carries only the addresses known when the link came up */
        c->gossip = false;
        for (int i = 0; i < MAX_LINKS; i++)
            if (c->links[i].used && c->links[i].peer >= 0) gc_send_hello(c, &c->links[i]);
    }
    gc_dial(c, t);
    gc_evict_tick(c, t);
    gc_leave_poll(c);
    gc_evaluate(c, t);
    gc_send_ack(c, true);
}

void gc_core_tick(gc_core *c)
{
    tick(c);
    stats_track(c);
}

uint64_t gc_core_tick_interval(const gc_core *c) { return c->t_tick; }

/* ---------- API ---------- */

gc_core *gc_core_new(const struct gc_config *cfg, const struct gc_env *env, const uint8_t *gvw, size_t gvwlen)
{
    gc_core *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    c->env = *env;
    if (c->cfg.max_packet_size < 1024) c->cfg.max_packet_size = 1024;
    if (c->cfg.max_packet_size > GC_FRAG_MAX) {
        tr_info("gcomm %s: gcs.max_packet_size %u is above the protocol's fragment size: messages are cut at %u",
                c->cfg.name, c->cfg.max_packet_size, GC_FRAG_MAX);
        c->cfg.max_packet_size = GC_FRAG_MAX;
    }
    c->reasm_budget.limit = GC_REASM_NODE_MAX;
    if (!c->cfg.install_ns) c->cfg.install_ns = c->cfg.inactive_ns / 2;
    c->t_hb = c->cfg.keepalive_ns / 8;
    c->t_fresh = c->cfg.keepalive_ns * 3 / 8;
    c->t_lease = c->cfg.keepalive_ns / 2;
    c->t_tick = c->cfg.keepalive_ns / 32;
    c->t_change = c->cfg.install_ns < 2 * c->cfg.keepalive_ns ? c->cfg.install_ns : 2 * c->cfg.keepalive_ns;
    /* Time-ordered (as UUIDv7, from the driver's clock): members sort by when they started, as
     * with Galera's time-based UUIDs, so the longest-running node leads and a view's member
     * indexes (MariaDB's auto_increment_offset with wsrep_auto_increment_control) follow the
     * start order. The rest is random. */
    uint64_t ms = env->now(env->ctx) / 1000000, r1 = env->random(env->ctx), r2 = env->random(env->ctx);
    memcpy(c->me.data, &r1, 8);
    memcpy(c->me.data + 8, &r2, 8);
    for (int i = 0; i < 6; i++) c->me.data[i] = (uint8_t)(ms >> (40 - 8 * i));
    c->me.data[6] = (uint8_t)((c->me.data[6] & 0x0f) | 0x70);
    c->me.data[8] = (uint8_t)((c->me.data[8] & 0x3f) | 0x80);
    c->inc = env->random(env->ctx) | 1;
    if (gvw && gvwlen) {
        tr_uuid u;
        gc_view v;
        if (gc_gvwstate_decode((const char *)gvw, gvwlen, &u, &v) == 0) {
            c->me = u;
            if (v.n && c->cfg.recovery) {
                c->last_prim = v;
                c->last_estab = v;
                c->has_prim = c->has_estab = true;
                c->recovered = true;
                c->max_epoch = c->promised = v.id.epoch;
            }
        } else {
            tr_warn("gcomm %s: gvwstate.dat is malformed; ignoring it", c->cfg.name);
        }
    }
    if (c->cfg.advertise_addr[0]) {
        snprintf(c->listen, sizeof c->listen, "%s", c->cfg.advertise_addr);
    } else {
        char host[GC_ADDR_MAX];
        uint16_t port;
        if (gc_addr_split(c->cfg.listen_addr, host, sizeof host, &port) == 0)
            snprintf(c->listen, sizeof c->listen, "%.100s:%u", strcmp(host, "0.0.0.0") ? host : c->cfg.base_host, port);
    }
    c->log_first = 1;
    c->state = GC_ST_CHANGE;
    c->promise_peer = -1;
    c->defer_peer = -1;
    c->isolate = c->cfg.isolate;
    c->next_sender_seq = 1;
    c->st.last_seqno = -1;
    gc_w_init(&c->wb);
    gc_w_init(&c->fb);
    return c;
}

void gc_core_free(gc_core *c)
{
    if (!c) return;
    gc_gather_clear(c);
    gc_log_trim_front(c, NEVER - 1);
    free(c->log);
    gc_pend_drop_all(c);
    free(c->pend);
    for (int i = 0; i < MAX_LINKS; i++) gc_reasm_reset(&c->links[i].reasm);
    gc_w_free(&c->wb);
    gc_w_free(&c->fb);
    for (int k = 0; k < POOL_CLASSES; k++)
        while (c->pool[k].n) free(c->pool[k].b[--c->pool[k].n]);
    free(c);
}

void gc_core_start(gc_core *c)
{
    c->started = true;
    c->start_t = gc_now(c);
    for (int i = 0; i < c->cfg.nseeds; i++) gc_addr_add(c, c->cfg.seeds[i]);
    if (c->cfg.bootstrap || c->cfg.nseeds == 0) c->bootstrap_req = true;
    gc_wbuf w; /* keep our uuid across a crash even before the first primary view */
    gc_w_init(&w);
    gc_gvwstate_encode(&w, &c->me, c->has_prim ? &c->last_prim : NULL);
    if (!w.oom) c->env.persist(c->env.ctx, w.p, w.len);
    gc_w_free(&w);
    gc_core_tick(c);
}

int gc_core_broadcast(gc_core *c, const void *buf, size_t len)
{
    if (c->left || c->leave_req) return -ESHUTDOWN;
    /* while the application still has its primary view (a change runs, or the new view is not
     * established yet) the message waits in the pending queue: the change ends in a view that
     * continues (it is sent then), or in a non-primary view first (it is dropped, and the
     * application learns it there). Refusing it would leave the application waiting for a new
     * view to try again, and a view with the same members is not delivered (gc_keep_view). */
    if (!gc_can_send(c) && !gc_anchored(c)) return -ENOTCONN;
    if (len > (size_t)2147483648u) return -EMSGSIZE;
    if (c->pend_n == c->pend_cap) {
        size_t ncap = c->pend_cap ? c->pend_cap * 2 : 64;
        struct pend *np = realloc(c->pend, ncap * sizeof *np);
        if (!np) return -ENOMEM;
        c->pend = np;
        c->pend_cap = ncap;
    }
    struct pend *p = &c->pend[c->pend_n];
    p->data = gc_buf_get(c, len);
    if (!p->data) return -ENOMEM;
    if (len) memcpy(p->data, buf, len);
    p->len = len;
    p->seq = c->next_sender_seq++;
    p->t0 = gc_now(c);
    c->st.send_q_sum += c->pend_n - c->pend_sent; /* what this one finds ahead of it */
    c->st.send_q_samples++;
    c->pend_n++;
    gc_send_pending(c);
    stats_track(c);
    return 0;
}

/* A leave waits while a view change this node takes part in runs, and until the primary view it
 * ends in is established (bounded by t_change): a member that left in between took its
 * acknowledgement with it, the view never established, and the next change decided over the view
 * before, in which the leaver of the change's own gather was no longer there to count as "left"
 * (two members of three that stop at once left the third non-primary: docs/design/gcomm.md,
 * "Graceful leave"). */
static bool leave_must_wait(const gc_core *c, uint64_t t)
{
    if (t - c->leave_req_time >= c->t_change || c->evicted) return false;
    /* the gatherer counts us present once it has our STATE (we promised it), and so does our own
     * gather; only a member of a primary component counts in the next one's quorum (a joiner
     * does not). Without a promise the next gather gets our leaving STATE. */
    if (c->state == GC_ST_GATHER || (c->state == GC_ST_CHANGE && c->promise_peer >= 0))
        return c->has_prim && !c->recovered;
    return c->state == GC_ST_NORMAL && c->cur.primary && !c->established;
}

void gc_leave_poll(gc_core *c)
{
    if (!c->leave_req || c->left || c->state == GC_ST_LEAVING || leave_must_wait(c, gc_now(c))) return;
    if (c->state == GC_ST_GATHER) gc_gather_clear(c);
    gc_stop_supporting(c);
    gc_pend_drop_all(c);
    c->state = GC_ST_LEAVING;
    c->leave_time = gc_now(c);
    gc_msg m;
    m.type = GC_MSG_LEAVE;
    int sent = 0;
    if (gc_encode(c, &m))
        for (int i = 0; i < MAX_PEERS; i++)
            if (c->peers[i].used && c->peers[i].link >= 0) {
                gc_raw_send(c, &c->links[c->peers[i].link], c->wb.p, c->wb.len, false);
                sent++;
            }
    gc_send_heartbeats(c, gc_now(c));
    if (!sent) gc_finish_leave(c);
}

void gc_core_leave(gc_core *c)
{
    if (c->left || c->leave_req) return;
    c->leave_req = true;
    c->leave_req_time = gc_now(c);
    gc_leave_poll(c);
    stats_track(c);
}

bool gc_core_has_left(const gc_core *c) { return c->left; }

uint64_t gc_core_pending(const gc_core *c) { return c->pend_n; }

void gc_core_set_weight(gc_core *c, uint8_t w)
{
    c->cfg.weight = w;
    if (c->started && !c->left) gc_send_heartbeats(c, gc_now(c)); /* the leader re-forms the view on it */
}

int gc_core_view_weight(const gc_core *c)
{
    if (c->state != GC_ST_NORMAL || !c->cur.primary || !c->established) return -1;
    int i = gc_my_index(c, &c->cur);
    return i < 0 ? -1 : c->cur.m[i].weight;
}

void gc_core_set_ignore(gc_core *c, bool ignore_sb, bool ignore_quorum)
{
    c->cfg.ignore_sb = ignore_sb;
    c->cfg.ignore_quorum = ignore_quorum;
    if (c->state == GC_ST_NORMAL && c->cur.primary && c->established) gc_recompute_lease(c); /* half may do now */
}

void gc_core_bootstrap(gc_core *c) { c->bootstrap_req = true; }

void gc_core_set_isolate(gc_core *c, bool on)
{
    if (c->evicted) on = true; /* an evicted node stays out until it restarts */
    c->isolate = on;
    if (on) {
        for (int i = 0; i < MAX_LINKS; i++)
            if (c->links[i].used) gc_close_link(c, &c->links[i], true);
        /* hearing nobody, leave the view now: a leader would otherwise stay primary until its
         * lease ran out, a non-leader until its next tick saw the leader link gone */
        if (c->state == GC_ST_NORMAL && c->cur.n > 1) gc_leave_normal(c, "gmcast.isolate");
    }
    if (!on)
        for (int i = 0; i < MAX_ADDRS; i++) c->addrs[i].next_try = 0;
    stats_track(c);
}

void gc_core_fc(gc_core *c, bool stop)
{
    if (c->fc_self == stop) return;
    c->fc_self = stop;
    if (stop) { /* Galera counts its own stop among those it received */
        c->st.fc_stops_sent++;
        c->st.fc_stops_recv++;
    }
    gc_msg m;
    m.type = GC_MSG_FC;
    m.u.fc.stop = stop;
    if (gc_encode(c, &m))
        for (int i = 0; i < MAX_PEERS; i++)
            if (c->peers[i].used && c->peers[i].link >= 0) gc_raw_send(c, &c->links[c->peers[i].link], c->wb.p, c->wb.len, false);
    if (!stop) gc_send_pending(c);
    stats_track(c);
}

const tr_uuid *gc_core_uuid(const gc_core *c) { return &c->me; }

void gc_core_probe(const gc_core *c, struct gc_core_probe *p)
{
    p->state = c->state;
    p->cur = c->cur.id.epoch ? &c->cur : NULL;
    p->gather_epoch = c->state == GC_ST_GATHER ? c->g.epoch : 0;
    p->gather_bootstrap = c->state == GC_ST_GATHER && c->g.bootstrap;
    p->gather_members_only = c->state == GC_ST_GATHER && c->g.members_only;
    p->gather_ntargets = c->state == GC_ST_GATHER ? c->g.ntargets : 0;
    p->gather_targets = c->g.targets;
    p->dv = c->have_dv ? &c->dv : NULL;
    p->last_prim = c->has_prim ? &c->last_prim : NULL;
    p->evict = &c->evict;
    p->view_evict = &c->view_evict;
    p->evicted = c->evicted;
}

void gc_core_stats(const gc_core *c, struct gc_stats *s)
{
    *s = c->st;
    s->pending = c->pend_n;
    s->retained_bytes = c->log_bytes;
    s->reasm_bytes = c->reasm_budget.used;
    s->last_seqno = c->established || c->delivered ? (int64_t)c->delivered : -1;
    s->epoch = c->state == GC_ST_NORMAL ? c->cur.id.epoch : 0;
    s->primary = gc_core_is_primary(c);
    s->fc_paused = c->fc_self;
    s->members = c->state == GC_ST_NORMAL ? c->cur.n : 0;
    if (s->primary) {
        gc_core *m = (gc_core *)c;
        s->fc_paused = gc_fc_blocked(m) || (c->retain_wait && c->pend_sent < c->pend_n);
    }
    /* as Galera's pc layer: the view is primary, whether or not our lease is renewed yet */
    s->weight = c->state == GC_ST_NORMAL && c->cur.primary && c->established ? gc_view_weight(&c->cur) : 0;
    s->state = (int)c->state;
    s->send_q = c->pend_n - c->pend_sent;
    if (c->st.fc_active) s->fc_paused_ns += gc_now(c) - c->fc_since; /* the pause under way */
}

void gc_core_stats_flush(gc_core *c)
{
    c->st.send_q_max = c->st.send_q_min = c->pend_n - c->pend_sent;
    c->st.send_q_sum = 0;
    c->st.send_q_samples = 0;
    c->st.echo_max_ns = 0;
}
