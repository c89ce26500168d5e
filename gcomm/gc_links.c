/* gcomm/gc_links: peers, links and known addresses: dialling, the HELLO handshake and address
 * gossip, and sending (encode once, fragment what exceeds max_packet_size). */
#include "gcomm/gc_core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"

/* ---------- peer-supplied text ---------- */

/* s with every byte outside printable ASCII, and the backslash, written as \xNN: what a peer
 * chose (its node name, its group name) never puts control characters into our log. */
const char *gc_printable(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') buf[o++] = (char)ch;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    }
    buf[o] = 0;
    return buf;
}

/* An address a peer gives us (we may dial it, and the driver logs it): host:port characters only. */
static bool addr_ok(const char *a)
{
    for (; *a; a++)
        if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') || (*a >= '0' && *a <= '9') || strchr(".-_:/[]%", *a)))
            return false;
    return true;
}

/* ---------- peers, links, sending ---------- */

struct peer *gc_peer_find(gc_core *c, const tr_uuid *u)
{
    for (int i = 0; i < MAX_PEERS; i++)
        if (c->peers[i].used && !tr_uuid_compare(&c->peers[i].uuid, u)) return &c->peers[i];
    return NULL;
}

bool gc_core_peer_addr(gc_core *c, const tr_uuid *uuid, int *link, char *listen, size_t len)
{
    struct peer *p = gc_peer_find(c, uuid);
    if (!p) return false;
    *link = p->link >= 0 && c->links[p->link].used ? c->links[p->link].id : -1;
    snprintf(listen, len, "%s", p->listen);
    return true;
}

struct link *gc_link_slot(gc_core *c, int id)
{
    for (int i = 0; i < MAX_LINKS; i++)
        if (c->links[i].used && c->links[i].id == id) return &c->links[i];
    return NULL;
}

bool gc_peer_fresh(const gc_core *c, const struct peer *p, uint64_t t)
{
    return p->link >= 0 && t - p->last_heard < c->t_fresh && !p->leaving;
}

/* urgent: see gc_env.send. A message that must be fragmented is never urgent (an urgent
 * fragment could land between the fragments of another message). */
void gc_raw_send(gc_core *c, struct link *l, const uint8_t *buf, size_t len, bool urgent)
{
    size_t max = c->cfg.max_packet_size;
    if (len <= max) {
        c->env.send(c->env.ctx, l->id, buf, len, urgent);
        if (!urgent) l->bulk_sent++;
        return;
    }
    for (size_t off = 0; off < len; off += max) {
        size_t n = len - off < max ? len - off : max;
        gc_msg f;
        f.type = GC_MSG_FRAG;
        f.u.frag.total = len;
        f.u.frag.offset = off;
        f.u.frag.data = buf + off;
        f.u.frag.len = n;
        gc_w_reset(&c->fb);
        gc_msg_encode(&c->fb, &f);
        if (c->fb.oom) return;
        c->env.send(c->env.ctx, l->id, c->fb.p, c->fb.len, false);
        l->bulk_sent++;
    }
}

bool gc_encode(gc_core *c, const gc_msg *m)
{
    gc_w_reset(&c->wb);
    gc_msg_encode(&c->wb, m);
    if (c->wb.oom) tr_error("gcomm: out of memory encoding %s", gc_msg_type_name(m->type));
    return !c->wb.oom;
}

/* A multi-gigabyte message must not stay cached in the gc_encode buffer. */
static void shrink_wb(gc_core *c)
{
    if (c->wb.cap > (64u << 20)) gc_w_free(&c->wb);
}

void gc_send_to_peer(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (p->link < 0 || !gc_encode(c, m)) return;
    gc_raw_send(c, &c->links[p->link], c->wb.p, c->wb.len, false);
    shrink_wb(c);
}

/* Encodes once, sends to every member of the current view except us. */
/* first, if a member, gets it before the others: the sender of an ORDER waits for it, and on
 * loopback each send pays for waking its receiver. */
void gc_send_to_members(gc_core *c, const gc_msg *m, const tr_uuid *first)
{
    if (!gc_encode(c, m)) return;
    int f = first ? gc_view_find(&c->cur, first) : -1;
    for (int k = f >= 0 ? -1 : 0; k < (int)c->cur.n; k++) {
        int i = k < 0 ? f : k;
        if (k >= 0 && i == f) continue;
        struct peer *p = gc_peer_find(c, &c->cur.m[i].uuid);
        if (p && p->link >= 0 && p->inc == c->cur.m[i].incarnation)
            gc_raw_send(c, &c->links[p->link], c->wb.p, c->wb.len, false);
    }
    shrink_wb(c);
}

void gc_close_link(gc_core *c, struct link *l, bool tell_driver)
{
    if (l->peer >= 0 && c->peers[l->peer].link == (int)(l - c->links)) c->peers[l->peer].link = -1;
    if (l->addr >= 0) {
        struct addr *a = &c->addrs[l->addr];
        if (a->link == (int)(l - c->links)) a->link = -1;
        a->backoff = a->backoff ? (a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : a->backoff * 2) : BACKOFF_MIN;
        uint64_t jitter = c->env.random(c->env.ctx) % (a->backoff / 2 + 1);
        a->next_try = gc_now(c) + a->backoff * 3 / 4 + jitter;
    }
    gc_reasm_reset(&l->reasm);
    if (tell_driver) c->env.close(c->env.ctx, l->id);
    l->used = false;
}

int gc_addr_add(gc_core *c, const char *a)
{
    if (!a[0]) return -1;
    for (int i = 0; i < MAX_ADDRS; i++)
        if (c->addrs[i].used && !strcmp(c->addrs[i].a, a)) return i;
    if (!strcmp(a, c->listen)) return -1;
    for (int i = 0; i < MAX_ADDRS; i++)
        if (!c->addrs[i].used) {
            memset(&c->addrs[i], 0, sizeof c->addrs[i]);
            c->addrs[i].used = true;
            snprintf(c->addrs[i].a, sizeof c->addrs[i].a, "%s", a);
            c->addrs[i].link = -1;
            c->gossip = true;
            return i;
        }
    return -1;
}

void gc_send_hello(gc_core *c, struct link *l)
{
    gc_msg *m = calloc(1, sizeof *m);
    if (!m) return;
    m->type = GC_MSG_HELLO;
    m->u.hello.version = GC_PROTO_VERSION;
    snprintf(m->u.hello.group, sizeof m->u.hello.group, "%s", c->cfg.group);
    m->u.hello.uuid = c->me;
    m->u.hello.inc = c->inc;
    snprintf(m->u.hello.name, sizeof m->u.hello.name, "%s", c->cfg.name);
    snprintf(m->u.hello.incoming, sizeof m->u.hello.incoming, "%s", c->cfg.incoming);
    snprintf(m->u.hello.listen, sizeof m->u.hello.listen, "%s", c->listen);
    for (int i = 0; i < MAX_ADDRS && m->u.hello.naddrs < GC_MAX_ADDRS; i++)
        if (c->addrs[i].used && !c->addrs[i].self)
            memcpy(m->u.hello.addrs[m->u.hello.naddrs++], c->addrs[i].a, GC_ADDR_MAX);
    /* whole, never in FRAGs (a peer refuses FRAG before HELLO): at most about 9 KB, within
     * any frame limit */
    if (gc_encode(c, m)) {
        c->env.send(c->env.ctx, l->id, c->wb.p, c->wb.len, false);
        l->bulk_sent++;
        l->hello_sent = true;
    }
    free(m);
}

void gc_dial(gc_core *c, uint64_t t)
{
    if (c->isolate || c->left) return;
    for (int i = 0; i < MAX_ADDRS; i++) {
        struct addr *a = &c->addrs[i];
        if (!a->used || a->self || a->link >= 0 || t < a->next_try) continue;
        bool have = false; /* already linked to the peer listening there */
        for (int k = 0; k < MAX_PEERS; k++)
            if (c->peers[k].used && c->peers[k].link >= 0 && !strcmp(c->peers[k].listen, a->a)) have = true;
        if (have) continue;
        int slot = -1;
        for (int k = 0; k < MAX_LINKS; k++)
            if (!c->links[k].used) { slot = k; break; }
        if (slot < 0) return;
        a->backoff = a->backoff ? a->backoff : BACKOFF_MIN;
        a->next_try = t + a->backoff; /* until conn_down reschedules it */
        int id = c->env.connect(c->env.ctx, a->a);
        if (id < 0) {
            a->backoff = a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : a->backoff * 2;
            continue;
        }
        struct link *l = &c->links[slot];
        memset(l, 0, sizeof *l);
        l->used = true;
        l->outbound = true;
        l->opened = t;
        l->id = id;
        l->addr = i;
        l->peer = -1;
        a->link = slot;
    }
}

void gc_on_hello(gc_core *c, struct link *l, const gc_msg *m)
{
    char b[40];
#define h (&m->u.hello)
    if (h->version != GC_PROTO_VERSION) {
        tr_warn("gcomm %s: peer on link %d speaks protocol %u, we speak %u: disconnecting", c->cfg.name, l->id,
                h->version, GC_PROTO_VERSION);
        gc_close_link(c, l, true);
        return;
    }
    if (strcmp(h->group, c->cfg.group)) {
        char g[4 * GC_GROUP_MAX + 8];
        tr_warn("gcomm %s: peer on link %d belongs to group '%s', not '%s': disconnecting", c->cfg.name, l->id,
                gc_printable(h->group, g, sizeof g), c->cfg.group);
        gc_close_link(c, l, true);
        return;
    }
    bool addrs_ok = addr_ok(h->listen) && addr_ok(h->incoming);
    for (int i = 0; i < h->naddrs; i++) addrs_ok = addrs_ok && addr_ok(h->addrs[i]);
    if (!addrs_ok) {
        tr_warn("gcomm %s: peer on link %d gives an address with characters outside host:port: disconnecting",
                c->cfg.name, l->id);
        gc_close_link(c, l, true);
        return;
    }
    if (!tr_uuid_compare(&h->uuid, &c->me)) {
        if (h->inc != c->inc)
            tr_warn("gcomm %s: another process uses our uuid %s: disconnecting", c->cfg.name, gc_uuid_short(&h->uuid, b));
        if (l->addr >= 0) c->addrs[l->addr].self = true;
        gc_close_link(c, l, true);
        return;
    }
    if (gc_is_evicted(c, &h->uuid)) { /* it learns why, after our HELLO (nothing comes before it) */
        tr_debug("gcomm %s: refusing evicted peer %s on link %d", c->cfg.name, gc_uuid_short(&h->uuid, b), l->id);
        if (!l->hello_sent) gc_send_hello(c, l);
        gc_evict_refuse(c, l);
        return;
    }
    struct peer *p = gc_peer_find(c, &h->uuid);
    if (!p) {
        for (int i = 0; i < MAX_PEERS; i++)
            if (!c->peers[i].used) { p = &c->peers[i]; break; }
        if (!p) { /* table full: forget the longest-silent peer that is not a member */
            for (int i = 0; i < MAX_PEERS; i++) {
                struct peer *q = &c->peers[i];
                if (q->link < 0 && gc_view_find(&c->cur, &q->uuid) < 0 && (!p || q->last_heard < p->last_heard)) p = q;
            }
            if (!p) { gc_close_link(c, l, true); return; }
        }
        /* a promise to the peer that had this slot does not pass to the next one */
        if (c->promise_peer == (int)(p - c->peers)) c->promise_peer = -1;
        memset(p, 0, sizeof *p);
        p->used = true;
        p->uuid = h->uuid;
        p->inc = h->inc;
        p->link = -1;
    } else if (p->inc != h->inc) {
        tr_info("gcomm %s: peer %s restarted", c->cfg.name, gc_uuid_short(&h->uuid, b));
        if (c->promise_peer == (int)(p - c->peers)) c->promise_peer = -1; /* promised to the old process */
        int old = p->link;
        memset(p, 0, sizeof *p);
        p->used = true;
        p->uuid = h->uuid;
        p->inc = h->inc;
        p->link = old;
    }
    int pi = (int)(p - c->peers);
    int li = (int)(l - c->links);
    bool repeat = p->link == li && l->peer == pi;
    if (p->link >= 0 && p->link != li) {
        struct link *o = &c->links[p->link];
        bool o_by_low = o->outbound == (tr_uuid_compare(&c->me, &p->uuid) < 0);
        bool n_by_low = l->outbound == (tr_uuid_compare(&c->me, &p->uuid) < 0);
        if (o_by_low && !n_by_low) {
            if (l->addr >= 0) c->addrs[l->addr].backoff = 0;
            gc_close_link(c, l, true);
            return;
        }
        o->peer = -1;
        gc_close_link(c, o, true);
    }
    l->peer = pi;
    p->link = li;
    memcpy(p->name, h->name, sizeof p->name);
    memcpy(p->incoming, h->incoming, sizeof p->incoming);
    memcpy(p->listen, h->listen, sizeof p->listen);
    p->last_heard = gc_now(c);
    if (l->addr >= 0) c->addrs[l->addr].backoff = 0;
    gc_addr_add(c, h->listen);
    for (int i = 0; i < h->naddrs; i++) gc_addr_add(c, h->addrs[i]);
    if (!l->hello_sent) gc_send_hello(c, l); /* an accepted link: the dialler proved it knows the group */
    if (repeat) return;
    /* a reconnected link: the leader re-sends what the member may have missed, the member re-sends DATA */
    if (c->state == GC_ST_NORMAL && c->cur.primary) {
        int k = gc_view_find(&c->cur, &p->uuid);
        if (k >= 0 && c->cur.m[k].incarnation == p->inc) {
            if (!tr_uuid_compare(&c->cur.id.leader, &c->me)) {
                uint64_t from = p->ack_epoch == c->cur.id.epoch ? p->ack + 1 : c->log_first;
                if (from < c->log_first) from = c->log_first;
                for (uint64_t s = from; s <= gc_log_end(c); s++) {
                    struct entry *e = gc_log_at(c, s);
                    gc_msg om;
                    om.type = GC_MSG_ORDER;
                    om.u.order.epoch = c->cur.id.epoch;
                    om.u.order.seqno = s;
                    om.u.order.e = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
                    gc_send_to_peer(c, p, &om);
                }
            } else if (!tr_uuid_compare(&c->cur.id.leader, &p->uuid)) {
                gc_pend_resend_all(c);
                gc_send_pending(c);
            }
            c->acked_sent_epoch = 0;
            gc_send_ack(c, true);
        }
    }
}
#undef h
