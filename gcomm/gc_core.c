/* gcomm/gc_core: membership, leader-ordered total order, view change and primary component.
 * Viewstamped-Replication style; docs/design/gcomm.md is the specification this follows. */
#include "gcomm/gc_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_gvwstate.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_wire.h"

#define MAX_PEERS 64
#define MAX_LINKS 128
#define MAX_ADDRS 128
#define MAX_DEDUP 256
#define NEVER UINT64_MAX
#define BACKOFF_MIN 100000000ull   /* 100 ms */
#define BACKOFF_MAX 3200000000ull  /* 3.2 s */
#define POOL_MIN_SHIFT 12           /* pooled buffers: 4 KiB .. 4 MiB, powers of two */
#define POOL_CLASSES 11
#define POOL_PER_CLASS 128
#define POOL_MAX_BYTES (32u << 20)

struct link {
    bool used, outbound;
    int id;
    uint64_t opened; /* a link without HELLO after 2 keepalive periods is dropped */
    int addr;  /* address slot we dialled, or -1 */
    int peer;  /* -1 until HELLO */
    gc_reasm reasm;
};

struct addr {
    bool used, self;
    char a[GC_ADDR_MAX];
    int link; /* slot of the outbound link in progress/up, or -1 */
    uint64_t next_try, backoff;
};

struct peer {
    bool used;
    tr_uuid uuid;
    uint64_t inc;
    char name[GC_NAME_MAX], incoming[GC_ADDR_MAX], listen[GC_ADDR_MAX];
    int link; /* slot, or -1 */
    uint64_t last_heard;
    bool have_hb, leaving;
    uint64_t hb_promised, hb_epoch, hb_ack;
    uint8_t hb_state, hb_weight, fc;
    uint8_t nsusp;
    tr_uuid susp[GC_MAX_MEMBERS];
    uint64_t ack_epoch, ack;    /* latest ACK (or HB ack) and its epoch */
    uint64_t echo_ts;           /* support for my current view: send time of the echoed HB */
    uint64_t out_since;         /* leader: since when this member is outside the desired set */
    uint64_t bad_since;         /* leader: since when this member reports another view */
};

struct entry {
    tr_uuid sender;
    uint64_t inc, seq;
    uint8_t *data;
    size_t len;
};

struct pend {
    uint64_t seq, t0;
    uint8_t *data;
    size_t len;
};

/* A STATE collected by the gatherer (its own included). */
struct coll {
    tr_uuid uuid;
    uint64_t inc;
    char name[GC_NAME_MAX], incoming[GC_ADDR_MAX];
    uint8_t weight, flags;
    gc_view prim, estab;
    uint32_t njoint;
    gc_joint joint[GC_MAX_JOINT];
    const gc_view *eff; /* prim, or estab if prim cannot have been established */
    uint64_t stop_abs; /* NEVER if it was not supporting a view */
    uint64_t dv_epoch, delivered;
    uint8_t nheard;
    tr_uuid heard[GC_MAX_MEMBERS];
    uint64_t heard_abs[GC_MAX_MEMBERS];
    uint8_t nacked;
    uint64_t acked[GC_ACKED_MAX];
    uint64_t log_end, first;
    uint32_t nentries, ndedup;
    struct entry *entries;
    gc_dedup *dedup;
};

struct gc_core {
    struct gc_config cfg;
    struct gc_env env;
    tr_uuid me;
    uint64_t inc;
    uint64_t t_hb, t_fresh, t_lease, t_tick, t_change;
    char listen[GC_ADDR_MAX];

    struct link links[MAX_LINKS];
    struct addr addrs[MAX_ADDRS];
    struct peer peers[MAX_PEERS];

    enum gc_state state;
    bool started, isolate, left;
    gc_view cur;          /* view we are NORMAL in (valid when state == NORMAL) */
    bool established;     /* cur primary view confirmed by the (joint) quorum */
    bool cur_delivered;
    bool continuing;
    bool forced;
    uint64_t close;
    uint32_t njoint;
    gc_joint joint[GC_MAX_JOINT];
    gc_view dv; /* last view delivered to the application */
    bool have_dv;

    gc_view last_prim; /* last primary view we were NORMAL in (maybe not yet established) */
    bool has_prim, recovered;
    bool prim_pending, prim_forced;
    uint32_t prim_njoint;
    gc_joint prim_joint[GC_MAX_JOINT];
    gc_view last_estab; /* last primary view we saw established */
    bool has_estab;
    uint8_t nacked; /* epochs of primary views whose START we applied (and so may have acked) */
    uint64_t acked[GC_ACKED_MAX];
    bool nonprim_since; /* a non-primary view was delivered after the last primary one */

    struct entry *log; /* ring indexed by seqno - log_first */
    size_t log_cap, log_head, log_n;
    uint64_t log_first, delivered, commit;

    uint64_t promised, max_epoch, promise_time, stop_time, lease_expiry, lease_grace;
    int promise_peer;
    uint64_t next_gather_ok;

    struct {
        uint64_t epoch, start;
        bool bootstrap;
        int ntargets;
        tr_uuid targets[GC_MAX_MEMBERS];
        int ncoll;
        struct coll coll[GC_MAX_MEMBERS + 1];
    } g;

    uint64_t next_seqno; /* leader */
    gc_dedup dedup[MAX_DEDUP];
    uint32_t ndedup;

    struct pend *pend;
    size_t pend_n, pend_cap, pend_sent; /* pend_sent: how many of pend[] went to the current leader */
    uint64_t next_sender_seq;
    bool fc_self;
    bool bootstrap_req;
    uint64_t leave_time;

    uint64_t next_hb, next_tick_dial;
    bool gossip; /* learned an address since our last HELLOs: repeat them on every link */
    uint64_t acked_sent, acked_lazy, acked_sent_epoch; /* ACK sent to members that need it / to all */
    struct gc_stats st;
    gc_wbuf wb, fb;
    /* payload buffers of log entries and pending messages, kept for reuse: allocating and
     * freeing 64 KB buffers made the allocator hand pages back and fault them in again */
    struct {
        uint8_t *b[POOL_PER_CLASS];
        int n;
    } pool[POOL_CLASSES];
    size_t pool_bytes;
};

static const char *U(const tr_uuid *u, char *buf)
{
    tr_uuid_print(u, buf);
    buf[8] = 0;
    return buf;
}

static uint64_t now(const gc_core *c) { return c->env.now(c->env.ctx); }

/* ---------- payload buffers ---------- */

static int pool_class(size_t len)
{
    if (len < (1u << POOL_MIN_SHIFT)) return -1;
    int k = 0;
    while (k < POOL_CLASSES && ((size_t)1 << (POOL_MIN_SHIFT + k)) < len) k++;
    return k < POOL_CLASSES ? k : -1;
}

/* A buffer of at least len bytes; give it back with buf_put(c, p, len) and the same len. */
static uint8_t *buf_get(gc_core *c, size_t len)
{
    int k = pool_class(len);
    if (k < 0) return malloc(len ? len : 1);
    if (c->pool[k].n) {
        c->pool_bytes -= (size_t)1 << (POOL_MIN_SHIFT + k);
        return c->pool[k].b[--c->pool[k].n];
    }
    return malloc((size_t)1 << (POOL_MIN_SHIFT + k));
}

static uint8_t *reasm_alloc(void *ctx, size_t len) { return buf_get(ctx, len); }

static void buf_put(gc_core *c, uint8_t *p, size_t len)
{
    int k = pool_class(len);
    size_t sz = k < 0 ? 0 : (size_t)1 << (POOL_MIN_SHIFT + k);
    if (!p || k < 0 || c->pool[k].n == POOL_PER_CLASS || c->pool_bytes + sz > POOL_MAX_BYTES) {
        free(p);
        return;
    }
    c->pool[k].b[c->pool[k].n++] = p;
    c->pool_bytes += sz;
}

/* ---------- log ---------- */

static uint64_t log_end(const gc_core *c) { return c->log_first + c->log_n - 1; }

static struct entry *log_at(gc_core *c, uint64_t seqno)
{
    if (seqno < c->log_first || seqno > log_end(c) || c->log_n == 0) return NULL;
    return &c->log[(c->log_head + (seqno - c->log_first)) % c->log_cap];
}

static int log_append(gc_core *c, const gc_entry_ref *e)
{
    if (c->log_n == c->log_cap) {
        size_t ncap = c->log_cap ? c->log_cap * 2 : 64;
        struct entry *nl = malloc(ncap * sizeof *nl);
        if (!nl) return -1;
        for (size_t i = 0; i < c->log_n; i++) nl[i] = c->log[(c->log_head + i) % c->log_cap];
        free(c->log);
        c->log = nl;
        c->log_cap = ncap;
        c->log_head = 0;
    }
    struct entry *d = &c->log[(c->log_head + c->log_n) % c->log_cap];
    d->sender = e->sender;
    d->inc = e->sender_inc;
    d->seq = e->sender_seq;
    d->len = e->len;
    d->data = buf_get(c, e->len);
    if (!d->data) return -1;
    if (e->len) memcpy(d->data, e->data, e->len);
    c->log_n++;
    return 0;
}

static void log_trim_front(gc_core *c, uint64_t upto)
{
    while (c->log_n && c->log_first <= upto) {
        buf_put(c, c->log[c->log_head].data, c->log[c->log_head].len);
        c->log_head = (c->log_head + 1) % c->log_cap;
        c->log_n--;
        c->log_first++;
    }
}

static void log_truncate_back(gc_core *c, uint64_t keep_upto)
{
    while (c->log_n && log_end(c) > keep_upto) {
        struct entry *e = &c->log[(c->log_head + c->log_n - 1) % c->log_cap];
        buf_put(c, e->data, e->len);
        c->log_n--;
    }
}

static void log_reset(gc_core *c, uint64_t first)
{
    log_trim_front(c, NEVER - 1);
    c->log_first = first;
    c->log_head = 0;
}

/* ---------- dedup ---------- */

static gc_dedup *dedup_find(gc_core *c, const tr_uuid *u, uint64_t inc, bool create)
{
    for (uint32_t i = 0; i < c->ndedup; i++)
        if (c->dedup[i].inc == inc && !tr_uuid_compare(&c->dedup[i].sender, u)) return &c->dedup[i];
    if (!create) return NULL;
    if (c->ndedup == MAX_DEDUP) { /* drop the oldest; senders not in the view no longer matter */
        memmove(c->dedup, c->dedup + 1, (MAX_DEDUP - 1) * sizeof c->dedup[0]);
        c->ndedup--;
    }
    gc_dedup *d = &c->dedup[c->ndedup++];
    d->sender = *u;
    d->inc = inc;
    d->seq = 0;
    return d;
}

static void dedup_note(gc_core *c, const tr_uuid *u, uint64_t inc, uint64_t seq)
{
    gc_dedup *d = dedup_find(c, u, inc, true);
    if (seq > d->seq) d->seq = seq;
}

/* ---------- peers, links, sending ---------- */

static struct peer *peer_find(gc_core *c, const tr_uuid *u)
{
    for (int i = 0; i < MAX_PEERS; i++)
        if (c->peers[i].used && !tr_uuid_compare(&c->peers[i].uuid, u)) return &c->peers[i];
    return NULL;
}

static struct link *link_slot(gc_core *c, int id)
{
    for (int i = 0; i < MAX_LINKS; i++)
        if (c->links[i].used && c->links[i].id == id) return &c->links[i];
    return NULL;
}

static bool peer_fresh(const gc_core *c, const struct peer *p, uint64_t t)
{
    return p->link >= 0 && t - p->last_heard < c->t_fresh && !p->leaving;
}

static void raw_send(gc_core *c, struct link *l, const uint8_t *buf, size_t len)
{
    size_t max = c->cfg.max_packet_size;
    if (len <= max) {
        c->env.send(c->env.ctx, l->id, buf, len);
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
        c->env.send(c->env.ctx, l->id, c->fb.p, c->fb.len);
    }
}

static bool encode(gc_core *c, const gc_msg *m)
{
    gc_w_reset(&c->wb);
    gc_msg_encode(&c->wb, m);
    if (c->wb.oom) tr_error("gcomm: out of memory encoding %s", gc_msg_type_name(m->type));
    return !c->wb.oom;
}

/* A multi-gigabyte message must not stay cached in the encode buffer. */
static void shrink_wb(gc_core *c)
{
    if (c->wb.cap > (64u << 20)) gc_w_free(&c->wb);
}

static void send_to_peer(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (p->link < 0 || !encode(c, m)) return;
    raw_send(c, &c->links[p->link], c->wb.p, c->wb.len);
    shrink_wb(c);
}

/* Encodes once, sends to every member of the current view except us. */
/* first, if a member, gets it before the others: the sender of an ORDER waits for it, and on
 * loopback each send pays for waking its receiver. */
static void send_to_members(gc_core *c, const gc_msg *m, const tr_uuid *first)
{
    if (!encode(c, m)) return;
    int f = first ? gc_view_find(&c->cur, first) : -1;
    for (int k = f >= 0 ? -1 : 0; k < (int)c->cur.n; k++) {
        int i = k < 0 ? f : k;
        if (k >= 0 && i == f) continue;
        struct peer *p = peer_find(c, &c->cur.m[i].uuid);
        if (p && p->link >= 0 && p->inc == c->cur.m[i].incarnation)
            raw_send(c, &c->links[p->link], c->wb.p, c->wb.len);
    }
    shrink_wb(c);
}

static void close_link(gc_core *c, struct link *l, bool tell_driver)
{
    if (l->peer >= 0 && c->peers[l->peer].link == (int)(l - c->links)) c->peers[l->peer].link = -1;
    if (l->addr >= 0) {
        struct addr *a = &c->addrs[l->addr];
        if (a->link == (int)(l - c->links)) a->link = -1;
        a->backoff = a->backoff ? (a->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : a->backoff * 2) : BACKOFF_MIN;
        uint64_t jitter = c->env.random(c->env.ctx) % (a->backoff / 2 + 1);
        a->next_try = now(c) + a->backoff * 3 / 4 + jitter;
    }
    gc_reasm_reset(&l->reasm);
    if (tell_driver) c->env.close(c->env.ctx, l->id);
    l->used = false;
}

static int addr_add(gc_core *c, const char *a)
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

/* ---------- views and delivery ---------- */

static int my_index(const gc_core *c, const gc_view *v) { return gc_view_find(v, &c->me); }

static void deliver_view(gc_core *c, const gc_view *v, bool continuous)
{
    struct gc_delivery d;
    memset(&d, 0, sizeof d);
    d.kind = GC_DELIVER_VIEW;
    d.view = v;
    d.my_index = my_index(c, v);
    d.continuous = continuous;
    c->dv = *v;
    c->have_dv = true;
    c->nonprim_since = !v->primary;
    c->st.views++;
    char b1[40], b2[40];
    tr_info("gcomm %s: view %" PRIu64 ".%s %s, %u members, own index %d", c->cfg.name, v->id.epoch,
            U(&v->id.leader, b1), v->primary ? "PRIMARY" : "NON-PRIMARY", v->n, d.my_index);
    (void)b2;
    c->env.deliver(c->env.ctx, &d);
}

/* A local (epoch 0) non-primary view holding only us: we are cut off. */
static void deliver_local_nonprim(gc_core *c)
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
    deliver_view(c, &v, false);
}

static void pend_drop_all(gc_core *c)
{
    for (size_t i = 0; i < c->pend_n; i++) buf_put(c, c->pend[i].data, c->pend[i].len);
    c->pend_n = c->pend_sent = 0;
}

static void persist_view(gc_core *c)
{
    gc_wbuf w;
    gc_w_init(&w);
    gc_gvwstate_encode(&w, &c->me, &c->cur);
    if (!w.oom) c->env.persist(c->env.ctx, w.p, w.len);
    gc_w_free(&w);
}

static void deliver_entry(gc_core *c, uint64_t seqno)
{
    struct entry *e = log_at(c, seqno);
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
                uint64_t lat = now(c) - c->pend[0].t0;
                c->st.repl_latency_last_ns = lat;
                c->st.repl_latency_avg_ns = c->st.repl_latency_avg_ns
                                                ? (c->st.repl_latency_avg_ns * 7 + lat) / 8 : lat;
                if (lat > c->st.repl_latency_max_ns) c->st.repl_latency_max_ns = lat;
            }
            buf_put(c, c->pend[0].data, c->pend[0].len);
            memmove(c->pend, c->pend + 1, (c->pend_n - 1) * sizeof *c->pend);
            c->pend_n--;
            if (c->pend_sent) c->pend_sent--;
        }
    }
    c->env.deliver(c->env.ctx, &d);
}

static uint64_t member_ack(gc_core *c, uint32_t i)
{
    const gc_member *m = &c->cur.m[i];
    if (!tr_uuid_compare(&m->uuid, &c->me)) return log_end(c);
    struct peer *p = peer_find(c, &m->uuid);
    if (!p || p->inc != m->incarnation || p->ack_epoch != c->cur.id.epoch) return 0;
    return p->ack;
}

static void trim_log(gc_core *c)
{
    uint64_t all = log_end(c);
    for (uint32_t i = 0; i < c->cur.n; i++) {
        uint64_t a = member_ack(c, i);
        if (a < all) all = a;
    }
    if (all > c->delivered) all = c->delivered;
    if (all >= c->log_first) log_trim_front(c, all);
}

static void send_pending(gc_core *c);
static void recompute_lease(gc_core *c);
static void send_heartbeats(gc_core *c, uint64_t t);

/* Each set of a joint list (previous primary views) must hold a quorum of nodes for which
 * present(uuid) is true; an empty list is satisfied. */
static bool joint_eval(gc_core *c, const gc_joint *j, uint32_t n, bool (*present)(gc_core *, const tr_uuid *, const void *),
                       const void *arg)
{
    uint64_t pr[2] = {0, 0}, lf[2] = {0, 0}, tot[2] = {0, 0};
    for (uint32_t i = 0; i < n; i++) {
        int set = j[i].left >> 1 & 1;
        tot[set] += j[i].weight;
        if (j[i].left & 1) lf[set] += j[i].weight;
        else if (present(c, &j[i].uuid, arg)) pr[set] += j[i].weight;
    }
    for (int set = 0; set < 2; set++) {
        if (!tot[set] && !lf[set]) continue;
        enum gc_quorum q = gc_quorum_eval(pr[set], lf[set], tot[set]);
        if (!(q == GC_Q_YES || (q == GC_Q_SPLIT && c->cfg.ignore_sb))) return false;
    }
    return true;
}

static uint64_t member_ack(gc_core *c, uint32_t i);

static bool acked_close(gc_core *c, const tr_uuid *u, const void *arg)
{
    (void)arg;
    int k = gc_view_find(&c->cur, u);
    return k >= 0 && member_ack(c, (uint32_t)k) >= c->close;
}

static bool joint_ok(gc_core *c)
{
    if (c->forced || c->njoint == 0) return true;
    return joint_eval(c, c->joint, c->njoint, acked_close, NULL);
}

/* Recomputes the commit point; establishes the view and delivers what became safe. */
static void advance(gc_core *c)
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
        /* our own log_end is already counted */
    } else {
        /* the leader holds every entry it sent us */
        int li = gc_view_find(&c->cur, &c->cur.id.leader);
        if (li >= 0 && acks[li] < log_end(c)) acks[li] = log_end(c);
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
        c->lease_grace = now(c) + c->t_lease;
        recompute_lease(c); /* a member holding the majority weight alone needs no echoes */
        if (c->continuing)
            for (uint64_t s = c->delivered + 1; s <= c->close; s++) deliver_entry(c, s);
        c->delivered = c->close;
        c->cur_delivered = true;
        c->last_prim = c->cur;
        c->has_prim = true;
        c->prim_pending = false;
        c->last_estab = c->cur;
        c->has_estab = true;
        deliver_view(c, &c->cur, c->continuing);
        persist_view(c);
        c->pend_sent = 0;
        send_pending(c);
    }
    uint64_t upto = c->commit < log_end(c) ? c->commit : log_end(c);
    while (c->delivered < upto && c->state == GC_ST_NORMAL) deliver_entry(c, c->delivered + 1);
    trim_log(c);
}

/* ---------- ordering ---------- */

static void leader_order(gc_core *c, const tr_uuid *sender, uint64_t inc, uint64_t seq,
                         const uint8_t *data, size_t len)
{
    gc_dedup *d = dedup_find(c, sender, inc, false);
    if (d && seq <= d->seq) return;
    gc_entry_ref e = {.sender = *sender, .sender_inc = inc, .sender_seq = seq, .data = data, .len = len};
    if (log_append(c, &e)) { tr_error("gcomm: out of memory ordering a message"); return; }
    dedup_note(c, sender, inc, seq);
    gc_msg m;
    m.type = GC_MSG_ORDER;
    m.u.order.epoch = c->cur.id.epoch;
    m.u.order.seqno = log_end(c);
    m.u.order.e = e;
    send_to_members(c, &m, sender);
}

static bool fc_blocked(gc_core *c)
{
    if (c->fc_self) return true;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        struct peer *p = peer_find(c, &c->cur.m[i].uuid);
        if (p && p->fc && p->inc == c->cur.m[i].incarnation) return true;
    }
    return false;
}

static bool can_send(gc_core *c)
{
    return c->state == GC_ST_NORMAL && c->cur.primary && c->established;
}

static void send_pending(gc_core *c)
{
    if (!can_send(c) || fc_blocked(c)) return;
    bool leader = !tr_uuid_compare(&c->cur.id.leader, &c->me);
    struct peer *lp = leader ? NULL : peer_find(c, &c->cur.id.leader);
    if (!leader && (!lp || lp->link < 0)) return;
    while (c->pend_sent < c->pend_n) {
        struct pend *p = &c->pend[c->pend_sent++];
        if (leader) {
            leader_order(c, &c->me, c->inc, p->seq, p->data, p->len);
        } else {
            gc_msg m;
            m.type = GC_MSG_DATA;
            m.u.data.epoch = c->cur.id.epoch;
            m.u.data.seq = p->seq;
            m.u.data.data = p->data;
            m.u.data.len = p->len;
            send_to_peer(c, lp, &m);
        }
        c->st.msgs_sent++;
    }
    if (leader) advance(c);
}

/* ---------- leases ---------- */

static void recompute_lease(gc_core *c)
{
    uint64_t ts[GC_MAX_MEMBERS];
    uint8_t w[GC_MAX_MEMBERS];
    uint32_t n = 0;
    uint64_t total = gc_view_weight(&c->cur), acc = 0;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        const gc_member *m = &c->cur.m[i];
        if (!tr_uuid_compare(&m->uuid, &c->me)) { acc += m->weight; continue; }
        struct peer *p = peer_find(c, &m->uuid);
        if (!p || p->inc != m->incarnation || !p->echo_ts) continue;
        ts[n] = p->echo_ts;
        w[n++] = m->weight;
    }
    if (2 * acc > total) { c->lease_expiry = NEVER; return; }
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && ts[j] > ts[j - 1]; j--) {
            uint64_t t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t;
            uint8_t x = w[j]; w[j] = w[j - 1]; w[j - 1] = x;
        }
    c->lease_expiry = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        if (2 * acc > total) { c->lease_expiry = ts[i] + c->t_lease; return; }
    }
}

bool gc_core_is_primary(const gc_core *c)
{
    return c->state == GC_ST_NORMAL && c->cur.primary && c->established && now(c) < c->lease_expiry;
}

/* ---------- state changes ---------- */

static void stop_supporting(gc_core *c)
{
    if (c->state == GC_ST_NORMAL) c->stop_time = now(c);
}

static void leave_normal(gc_core *c, const char *why)
{
    if (c->state != GC_ST_NORMAL) return;
    tr_debug("gcomm %s: leaving view %" PRIu64 ": %s", c->cfg.name, c->cur.id.epoch, why);
    stop_supporting(c);
    c->state = GC_ST_CHANGE;
    c->promise_peer = -1;
    c->promise_time = 0;
}

static void free_coll(struct coll *s)
{
    for (uint32_t i = 0; i < s->nentries; i++) free(s->entries[i].data);
    free(s->entries);
    free(s->dedup);
    memset(s, 0, sizeof *s);
}

static void gather_clear(gc_core *c)
{
    for (int i = 0; i < c->g.ncoll; i++) free_coll(&c->g.coll[i]);
    c->g.ncoll = 0;
    c->g.ntargets = 0;
}

/* Our own state as a STATE message body (entries point into our log). */
static void fill_state(gc_core *c, gc_msg *m, uint64_t epoch, gc_entry_ref *refs)
{
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
                                 (c->has_estab ? GC_STATE_HAS_ESTAB : 0));
    if (c->has_prim) m->u.state.prim = c->last_prim;
    if (c->has_estab) m->u.state.estab = c->last_estab;
    m->u.state.njoint = c->prim_njoint;
    memcpy(m->u.state.joint, c->prim_joint, sizeof c->prim_joint);
    m->u.state.stop_elapsed = c->stop_time ? now(c) - c->stop_time : NEVER;
    m->u.state.log_end = log_end(c);
    m->u.state.first = c->log_first;
    m->u.state.nacked = c->nacked;
    memcpy(m->u.state.acked, c->acked, sizeof c->acked);
    for (int i = 0; i < MAX_PEERS && m->u.state.nheard < GC_MAX_MEMBERS; i++) {
        const struct peer *p = &c->peers[i];
        if (!p->used || !p->last_heard) continue;
        m->u.state.heard[m->u.state.nheard] = p->uuid;
        m->u.state.heard_ago[m->u.state.nheard++] = now(c) - p->last_heard;
    }
    m->u.state.dv_epoch = c->have_dv && c->dv.primary && !c->nonprim_since ? c->dv.id.epoch : 0;
    m->u.state.delivered = c->delivered;
    m->u.state.ndedup = c->ndedup;
    m->u.state.dedup = c->dedup;
    m->u.state.nentries = (uint32_t)c->log_n;
    m->u.state.entries = refs;
    for (size_t i = 0; i < c->log_n; i++) {
        struct entry *e = log_at(c, c->log_first + i);
        refs[i] = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
    }
}

static int coll_add(gc_core *c, const tr_uuid *uuid, const gc_msg *m, uint64_t t)
{
    if (c->g.ncoll >= GC_MAX_MEMBERS) return -1;
    for (int i = 0; i < c->g.ncoll; i++)
        if (!tr_uuid_compare(&c->g.coll[i].uuid, uuid)) return -1;
    struct coll *s = &c->g.coll[c->g.ncoll];
    memset(s, 0, sizeof *s);
    s->uuid = *uuid;
    s->inc = m->u.state.inc;
    memcpy(s->name, m->u.state.name, sizeof s->name);
    memcpy(s->incoming, m->u.state.incoming, sizeof s->incoming);
    s->weight = m->u.state.weight;
    s->flags = m->u.state.flags;
    s->prim = m->u.state.prim;
    s->estab = m->u.state.estab;
    s->njoint = m->u.state.njoint;
    memcpy(s->joint, m->u.state.joint, sizeof s->joint);
    s->stop_abs = m->u.state.stop_elapsed == NEVER || m->u.state.stop_elapsed > t ? NEVER
                                                                                 : t - m->u.state.stop_elapsed;
    s->log_end = m->u.state.log_end;
    s->first = m->u.state.first;
    s->dv_epoch = m->u.state.dv_epoch;
    s->nacked = m->u.state.nacked;
    memcpy(s->acked, m->u.state.acked, sizeof s->acked);
    s->nheard = m->u.state.nheard;
    for (int i = 0; i < s->nheard; i++) {
        s->heard[i] = m->u.state.heard[i];
        s->heard_abs[i] = m->u.state.heard_ago[i] > t ? 0 : t - m->u.state.heard_ago[i];
    }
    s->delivered = m->u.state.delivered;
    s->entries = calloc(m->u.state.nentries ? m->u.state.nentries : 1, sizeof *s->entries);
    s->dedup = calloc(m->u.state.ndedup ? m->u.state.ndedup : 1, sizeof *s->dedup);
    if (!s->entries || !s->dedup) { free_coll(s); return -1; }
    for (uint32_t i = 0; i < m->u.state.nentries; i++) {
        const gc_entry_ref *e = &m->u.state.entries[i];
        struct entry *d = &s->entries[i];
        d->sender = e->sender;
        d->inc = e->sender_inc;
        d->seq = e->sender_seq;
        d->len = e->len;
        d->data = malloc(e->len ? e->len : 1);
        if (!d->data) { free_coll(s); return -1; }
        if (e->len) memcpy(d->data, e->data, e->len);
        s->nentries = i + 1;
    }
    memcpy(s->dedup, m->u.state.dedup, m->u.state.ndedup * sizeof *s->dedup);
    s->ndedup = m->u.state.ndedup;
    c->g.ncoll++;
    return 0;
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
static int desired(gc_core *c, tr_uuid *D)
{
    uint64_t t = now(c);
    tr_uuid cand[GC_MAX_MEMBERS];
    struct peer *pp[GC_MAX_MEMBERS];
    int n = 0;
    cand[n] = c->me;
    pp[n++] = NULL;
    for (int i = 0; i < MAX_PEERS && n < GC_MAX_MEMBERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && peer_fresh(c, p, t)) { cand[n] = p->uuid; pp[n++] = p; }
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
    uint32_t best = 0;
    int bestn = 0;
    if (n <= 16) {
        for (uint32_t s = 1; s < (1u << n); s++) {
            int k = __builtin_popcount(s);
            if (k < bestn) continue;
            bool ok = true;
            for (int i = 0; i < n && ok; i++)
                if ((s >> i & 1) && (s & ~(1u << i) & ~adj[i])) ok = false;
            if (!ok) continue;
            /* tie-break: smaller sorted list = lower bits set first */
            uint32_t d = s ^ best;
            if (k > bestn || (s & d & (~d + 1))) {
                best = s;
                bestn = k;
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

static bool in_set(const tr_uuid *set, int n, const tr_uuid *u)
{
    for (int i = 0; i < n; i++)
        if (!tr_uuid_compare(&set[i], u)) return true;
    return false;
}

/* ---------- view change: gatherer ---------- */

static void apply_start(gc_core *c, const gc_msg *m);

static void start_gather(gc_core *c, const tr_uuid *D, int nd, bool bootstrap)
{
    uint64_t t = now(c);
    gather_clear(c);
    stop_supporting(c);
    c->state = GC_ST_GATHER;
    c->promised = c->max_epoch + 1;
    c->max_epoch = c->promised;
    c->g.epoch = c->promised;
    c->g.start = t;
    c->g.bootstrap = bootstrap;
    c->st.view_changes_started++;
    /* targets: the desired set plus fresh peers that are leaving (their state counts as "left") */
    for (int i = 0; i < nd; i++)
        if (tr_uuid_compare(&D[i], &c->me) && c->g.ntargets < GC_MAX_MEMBERS) c->g.targets[c->g.ntargets++] = D[i];
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && p->leaving && p->link >= 0 && t - p->last_heard < c->t_fresh &&
            c->g.ntargets < GC_MAX_MEMBERS && !in_set(c->g.targets, c->g.ntargets, &p->uuid))
            c->g.targets[c->g.ntargets++] = p->uuid;
    }
    char b[40];
    tr_debug("gcomm %s: gathering epoch %" PRIu64 " as %s, %d targets%s", c->cfg.name, c->g.epoch,
             U(&c->me, b), c->g.ntargets, bootstrap ? " (bootstrap)" : "");
    gc_entry_ref *refs = calloc(c->log_n ? c->log_n : 1, sizeof *refs);
    gc_msg sm;
    if (refs) {
        fill_state(c, &sm, c->g.epoch, refs);
        coll_add(c, &c->me, &sm, t);
        free(refs);
    }
    gc_msg gm;
    gm.type = GC_MSG_GATHER;
    gm.u.gather.epoch = c->g.epoch;
    gm.u.gather.flags = bootstrap ? GC_GATHER_BOOTSTRAP : 0;
    for (int i = 0; i < c->g.ntargets; i++) {
        struct peer *p = peer_find(c, &c->g.targets[i]);
        if (p) send_to_peer(c, p, &gm);
    }
}

static struct coll *coll_find(gc_core *c, const tr_uuid *u)
{
    for (int i = 0; i < c->g.ncoll; i++)
        if (!tr_uuid_compare(&c->g.coll[i].uuid, u)) return &c->g.coll[i];
    return NULL;
}

static struct coll *coll_find(gc_core *c, const tr_uuid *u);

/* Did reporter s acknowledge view X? Exact while X is within its record of acked epochs. */
static bool reporter_acked(const struct coll *s, const gc_view *X)
{
    if (!(s->flags & GC_STATE_HAS_PRIM) || gc_view_id_cmp(&s->prim.id, &X->id) < 0) return false;
    if (s->flags & GC_STATE_RECOVERED) return true; /* only its gvwstate survived: assume it did */
    if (s->nacked == GC_ACKED_MAX && X->id.epoch < s->acked[0]) return true; /* older than the record */
    for (int i = 0; i < s->nacked; i++)
        if (s->acked[i] == X->id.epoch) return true;
    return false;
}

static bool may_have_acked(gc_core *c, const tr_uuid *u, const void *arg)
{
    const gc_view *X = arg;
    if (gc_view_find(X, u) < 0) return false;
    struct coll *s = coll_find(c, u);
    return !s || reporter_acked(s, X);
}

static bool live_reporter(gc_core *c, const tr_uuid *u, const void *arg)
{
    (void)arg;
    struct coll *s = coll_find(c, u);
    return s && s->eff && !(s->flags & (GC_STATE_RECOVERED | GC_STATE_LEAVING));
}

/* Could view X (pending at some reporters) have been established? Only members that report X
 * or later, or that did not report at all, may have acknowledged it. */
static bool possibly_established(gc_core *c, const gc_view *X, const struct coll *src)
{
    uint64_t acked = 0;
    for (uint32_t i = 0; i < X->n; i++) {
        struct coll *s = coll_find(c, &X->m[i].uuid);
        if (!s || reporter_acked(s, X)) acked += X->m[i].weight;
    }
    if (2 * acked <= gc_view_weight(X)) return false;
    if (!src || (src->flags & GC_STATE_PFORCED) || src->njoint == 0) return true;
    return joint_eval(c, src->joint, src->njoint, may_have_acked, X);
}

/* The latest primary view that may exist: reported established by someone, or possibly
 * established. Sets every reporter's eff (the view its log continues). */
static const gc_view *choose_prim(gc_core *c, const struct coll **pending_src)
{
    *pending_src = NULL;
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        s->eff = (s->flags & GC_STATE_HAS_PRIM) ? &s->prim : NULL;
    }
    for (int round = 0; round <= c->g.ncoll; round++) {
        const gc_view *P = NULL;
        for (int i = 0; i < c->g.ncoll; i++) {
            struct coll *s = &c->g.coll[i];
            if (s->eff && (!P || gc_view_id_cmp(&s->eff->id, &P->id) > 0)) P = s->eff;
        }
        if (!P) return NULL;
        bool ok = false;
        const struct coll *src = NULL;
        for (int i = 0; i < c->g.ncoll && !ok; i++) {
            struct coll *s = &c->g.coll[i];
            if (!s->eff || gc_view_id_cmp(&s->eff->id, &P->id)) continue;
            if (s->eff == &s->prim && !(s->flags & GC_STATE_PENDING)) ok = true; /* seen established */
            else if (s->eff == &s->prim) src = s;
        }
        if (ok) return P;
        if (possibly_established(c, P, src)) {
            *pending_src = src;
            return P;
        }
        gc_view_id dead = P->id;
        for (int i = 0; i < c->g.ncoll; i++) {
            struct coll *s = &c->g.coll[i];
            if (s->eff && !gc_view_id_cmp(&s->eff->id, &dead))
                s->eff = (s->eff == &s->prim && (s->flags & GC_STATE_HAS_ESTAB)) ? &s->estab : NULL;
        }
    }
    return NULL;
}

/* Decides whether to install now; if so builds START, sends it and applies it. */
static void gather_check(gc_core *c, bool timeout)
{
    if (c->state != GC_ST_GATHER) return;
    uint64_t t = now(c);
    bool all = true;
    for (int i = 0; i < c->g.ntargets; i++)
        if (!coll_find(c, &c->g.targets[i])) all = false;

    const struct coll *psrc;
    const gc_view *P = choose_prim(c, &psrc);
    struct coll *adopt = NULL;
    int nlive = 0;
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        if (!P || !s->eff || (s->flags & GC_STATE_RECOVERED) || gc_view_id_cmp(&s->eff->id, &P->id)) continue;
        nlive++;
        if (!adopt || s->log_end > adopt->log_end) adopt = s;
    }
    bool primary = false, forced = false, newhist = false;
    if (c->cfg.ignore_quorum || c->g.bootstrap) {
        primary = forced = true;
        newhist = nlive == 0;
    } else if (P) {
        if (nlive > 0) {
            uint64_t present = 0, left = 0;
            for (uint32_t i = 0; i < P->n; i++) {
                struct coll *s = coll_find(c, &P->m[i].uuid);
                if (!s || (s->flags & GC_STATE_RECOVERED) || !s->eff || gc_view_id_cmp(&s->eff->id, &P->id) ||
                    s->inc != P->m[i].incarnation)
                    continue;
                if (s->flags & GC_STATE_LEAVING) left += P->m[i].weight;
                else present += P->m[i].weight;
            }
            enum gc_quorum q = gc_quorum_eval(present, left, gc_view_weight(P));
            primary = q == GC_Q_YES || (q == GC_Q_SPLIT && c->cfg.ignore_sb);
            if (primary && psrc && !(psrc->flags & GC_STATE_PFORCED) && psrc->njoint) {
                /* P may never have been established: we must also hold quorums of its predecessors */
                primary = joint_eval(c, psrc->joint, psrc->njoint, live_reporter, NULL);
            }
        }
        if (!primary && c->cfg.recovery) {
            /* pc.recovery: every member of the last primary view is back, some lost their memory */
            bool every = true, some_recovered = false;
            for (uint32_t i = 0; i < P->n; i++) {
                struct coll *s = coll_find(c, &P->m[i].uuid);
                if (!s) every = false;
                else if ((s->flags & GC_STATE_RECOVERED) || s->inc != P->m[i].incarnation || !s->eff ||
                         gc_view_id_cmp(&s->eff->id, &P->id))
                    some_recovered = true; /* restarted, or its log was replaced by a view that never formed */
            }
            primary = forced = newhist = every && some_recovered;
        }
    }
    if (primary && !newhist && !adopt) primary = false; /* nothing to continue from */

    uint64_t wait_until = 0;
    if (primary && !forced && P) {
        bool missing = false;
        for (uint32_t i = 0; i < P->n; i++)
            if (!coll_find(c, &P->m[i].uuid)) missing = true;
        /* a missing member can hold a lease only while reporters still echo it: they stop when they
         * stop supporting the view, or when they stop hearing it */
        if (missing)
            for (uint32_t k = 0; k < P->n; k++) {
                if (coll_find(c, &P->m[k].uuid)) continue;
                for (int i = 0; i < c->g.ncoll; i++) {
                    struct coll *s = &c->g.coll[i];
                    if (s->stop_abs == NEVER) continue;
                    uint64_t last = s->stop_abs;
                    for (int h = 0; h < s->nheard; h++)
                        if (!tr_uuid_compare(&s->heard[h], &P->m[k].uuid) && s->heard_abs[h] < last) last = s->heard_abs[h];
                    if (last + c->t_lease + 2 * c->t_tick > wait_until) wait_until = last + c->t_lease + 2 * c->t_tick;
                }
            }
    }
    if (primary) {
        if (t < wait_until) return;
        if (!all && !timeout && t < c->g.start + c->t_hb) return;
    } else if (!all && !timeout) {
        return;
    }

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
        if (s->flags & GC_STATE_LEAVING) continue;
        gc_member *mm = &v->m[v->n++];
        mm->uuid = s->uuid;
        mm->incarnation = s->inc;
        mm->weight = s->weight;
        memcpy(mm->name, s->name, sizeof mm->name);
        memcpy(mm->incoming, s->incoming, sizeof mm->incoming);
    }
    gc_view_sort(v);
    v->id.leader = v->m[0].uuid; /* we are the lowest in our desired set; bootstrap may differ */
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
            m.u.start.close = adopt->log_end;
            m.u.start.first = adopt->first;
            m.u.start.adopt_epoch = P->id.epoch;
            if (adopt->eff == &adopt->prim && (adopt->flags & GC_STATE_PENDING) && (adopt->flags & GC_STATE_HAS_ESTAB))
                m.u.start.adopt_prev_epoch = adopt->estab.id.epoch;
            m.u.start.nentries = adopt->nentries;
            refs = calloc(adopt->nentries ? adopt->nentries : 1, sizeof *refs);
            if (!refs) return;
            for (uint32_t i = 0; i < adopt->nentries; i++) {
                struct entry *e = &adopt->entries[i];
                refs[i] = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
            }
            m.u.start.entries = refs;
            if (adopt->nentries == 0) m.u.start.first = adopt->log_end + 1;
            /* merged dedup table from every live holder */
            dd = calloc(MAX_DEDUP, sizeof *dd);
            if (!dd) { free(refs); return; }
            for (int i = 0; i < c->g.ncoll; i++) {
                struct coll *s = &c->g.coll[i];
                if ((s->flags & GC_STATE_RECOVERED) || !s->eff || gc_view_id_cmp(&s->eff->id, &P->id))
                    continue;
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
                j->left = s && (s->flags & GC_STATE_LEAVING) && s->inc == P->m[i].incarnation;
            }
            if (psrc && !(psrc->flags & GC_STATE_PFORCED))
                for (uint32_t i = 0; i < psrc->njoint && m.u.start.njoint < GC_MAX_JOINT; i++)
                    if (!(psrc->joint[i].left & 2)) { /* P's own predecessor becomes our second set */
                        m.u.start.joint[m.u.start.njoint] = psrc->joint[i];
                        m.u.start.joint[m.u.start.njoint++].left |= 2;
                    }
        }
    } else {
        m.u.start.first = 1;
    }
    /* members still delivering in an older primary view close it together (virtual synchrony) */
    gc_close_group groups[GC_MAX_MEMBERS];
    gc_entry_ref *grefs[GC_MAX_MEMBERS];
    uint32_t ng = 0;
    struct coll *gholder[GC_MAX_MEMBERS];
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        if (!s->dv_epoch || (s->flags & GC_STATE_LEAVING)) continue;
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
                 P->id.epoch, P->n, psrc ? " maybe established" : "", nlive, c->g.ncoll);
        else tr_debug("gcomm %s: no last primary view among %d reporters", c->cfg.name, c->g.ncoll);
        for (int i = 0; i < c->g.ncoll; i++)
            tr_debug("gcomm %s:   reporter %s flags %u prim %" PRIu64 " eff %" PRIu64 " in P %d", c->cfg.name,
                     U(&c->g.coll[i].uuid, b), c->g.coll[i].flags, c->g.coll[i].prim.id.epoch,
                     c->g.coll[i].eff ? c->g.coll[i].eff->id.epoch : 0, P ? gc_view_find(P, &c->g.coll[i].uuid) : -2);
    }
    tr_debug("gcomm %s: installing epoch %" PRIu64 " leader %s %s n=%u close=%" PRIu64, c->cfg.name,
             v->id.epoch, U(&v->id.leader, b), primary ? "primary" : "non-primary", v->n, m.u.start.close);
    /* send START to every reporter except us (leavers learn they are out) */
    for (int i = 0; i < c->g.ncoll; i++) {
        struct coll *s = &c->g.coll[i];
        if (!tr_uuid_compare(&s->uuid, &c->me)) continue;
        struct peer *p = peer_find(c, &s->uuid);
        if (p) send_to_peer(c, p, &m);
    }
    c->promise_peer = -1;
    c->next_gather_ok = t + c->t_hb / 2 + c->env.random(c->env.ctx) % (c->t_hb / 2 + 1);
    apply_start(c, &m);
    free(refs);
    free(dd);
    for (uint32_t k = 0; k < ng; k++) free(grefs[k]);
    gather_clear(c);
}

/* ---------- view change: every member ---------- */

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

/* Sends our ACK at once to the members whose commit waits for it, and to the others when it
 * has moved ACK_LAZY_MAX entries or `all` (ticks, reconnects, new views). */
static void send_ack(gc_core *c, bool all)
{
    if (c->state != GC_ST_NORMAL || !c->cur.primary) return;
    uint64_t e = log_end(c);
    bool fresh = c->acked_sent_epoch != c->cur.id.epoch;
    if (fresh) c->acked_sent = c->acked_lazy = 0;
    bool urgent = fresh || c->acked_sent != e;
    bool lazy = fresh || (e > c->acked_lazy && (all || e - c->acked_lazy >= ACK_LAZY_MAX));
    if (!urgent && !lazy) return;
    gc_msg m;
    m.type = GC_MSG_ACK;
    m.u.ack.epoch = c->cur.id.epoch;
    m.u.ack.seqno = e;
    if (!encode(c, &m)) return;
    for (uint32_t i = 0; i < c->cur.n; i++) {
        if (!tr_uuid_compare(&c->cur.m[i].uuid, &c->me)) continue;
        if (!(ack_urgent(c, i) ? urgent : lazy)) continue;
        struct peer *p = peer_find(c, &c->cur.m[i].uuid);
        if (p && p->link >= 0 && p->inc == c->cur.m[i].incarnation)
            raw_send(c, &c->links[p->link], c->wb.p, c->wb.len);
    }
    c->acked_sent = e;
    if (lazy) c->acked_lazy = e;
    c->acked_sent_epoch = c->cur.id.epoch;
}

static void finish_leave(gc_core *c)
{
    if (c->left) return;
    c->state = GC_ST_LEFT;
    c->left = true;
    gc_view v;
    memset(&v, 0, sizeof v);
    deliver_view(c, &v, false);
    c->env.persist(c->env.ctx, NULL, 0);
    for (int i = 0; i < MAX_LINKS; i++)
        if (c->links[i].used) close_link(c, &c->links[i], true);
}

/* If we still deliver in an older primary view that START closes, deliver up to its end. */
static void close_old_view(gc_core *c, const gc_msg *m)
{
    if (!c->have_dv || !c->dv.primary || c->nonprim_since) return;
    for (uint32_t k = 0; k < m->u.start.ngroups; k++) {
        const gc_close_group *g = &m->u.start.groups[k];
        if (g->epoch != c->dv.id.epoch || g->upto <= c->delivered) continue;
        if (log_end(c) + 1 < g->first) return; /* cannot happen: see docs/design/gcomm.md section 8 */
        for (uint32_t i = 0; i < g->nentries; i++) {
            if (g->first + i <= log_end(c)) continue;
            if (log_append(c, &g->entries[i])) return;
        }
        while (c->delivered < g->upto && c->delivered < log_end(c)) deliver_entry(c, c->delivered + 1);
        return;
    }
}

static void apply_start(gc_core *c, const gc_msg *m)
{
    const gc_view *v = &m->u.start.view;
    if (c->state == GC_ST_LEAVING) {
        if (my_index(c, v) < 0) finish_leave(c);
        return;
    }
    if (my_index(c, v) < 0) return;
    if (v->id.epoch > c->max_epoch) c->max_epoch = v->id.epoch;
    close_old_view(c, m);
    c->promised = v->id.epoch;
    c->state = GC_ST_NORMAL;
    c->cur = *v;
    c->established = false;
    c->cur_delivered = false;
    c->stop_time = 0;
    c->lease_expiry = 0;
    c->commit = 0;
    c->close = m->u.start.close;
    c->forced = m->u.start.flags & GC_START_FORCED;
    c->njoint = m->u.start.njoint;
    memcpy(c->joint, m->u.start.joint, sizeof c->joint[0] * c->njoint);
    for (int i = 0; i < MAX_PEERS; i++) {
        c->peers[i].echo_ts = 0;
        c->peers[i].out_since = c->peers[i].bad_since = 0;
    }
    if (!v->primary) {
        pend_drop_all(c);
        c->cur_delivered = true;
        deliver_view(c, v, false);
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
                     !tr_uuid_compare(&c->last_prim.history, &v->history) && log_end(c) + 1 >= m->u.start.first;
    bool self_adopted = data_cont && !tr_uuid_compare(&v->id.leader, &c->me) && log_end(c) == c->close;
    if (data_cont && !self_adopted) {
        log_truncate_back(c, m->u.start.first - 1);
        for (uint32_t i = 0; i < m->u.start.nentries; i++) {
            if (m->u.start.first + i <= log_end(c)) continue; /* trimmed here: delivered and identical */
            if (log_append(c, &m->u.start.entries[i])) { data_cont = false; break; }
        }
    }
    /* delivery continues only from the view whose log is adopted (or the one it continued): members
     * still delivering in another view close it with their group and skip (virtual synchrony) */
    bool from_adopted = c->have_dv && c->dv.primary && (c->dv.id.epoch == ae || (ape && c->dv.id.epoch == ape));
    bool cont = data_cont && from_adopted && !c->nonprim_since && c->delivered <= c->close;
    if (!data_cont) {
        log_reset(c, c->close + 1);
        c->delivered = c->close;
    } else if (!cont) {
        if (c->delivered < c->close) c->delivered = c->close;
    }
    if (!cont) pend_drop_all(c);
    c->continuing = cont;
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
    send_ack(c, true);
    send_heartbeats(c, now(c)); /* at once: leases need echoes in the new epoch */
    c->next_hb = now(c) + c->t_hb;
    advance(c);
}

/* ---------- incoming messages ---------- */

static void on_hello(gc_core *c, struct link *l, const gc_msg *m)
{
    char b[40];
#define h (&m->u.hello)
    if (h->version != GC_PROTO_VERSION) {
        tr_warn("gcomm %s: peer on link %d speaks protocol %u, we speak %u: disconnecting", c->cfg.name, l->id,
                h->version, GC_PROTO_VERSION);
        close_link(c, l, true);
        return;
    }
    if (strcmp(h->group, c->cfg.group)) {
        tr_warn("gcomm %s: peer on link %d belongs to group '%s', not '%s': disconnecting", c->cfg.name, l->id,
                h->group, c->cfg.group);
        close_link(c, l, true);
        return;
    }
    if (!tr_uuid_compare(&h->uuid, &c->me)) {
        if (h->inc != c->inc)
            tr_warn("gcomm %s: another process uses our uuid %s: disconnecting", c->cfg.name, U(&h->uuid, b));
        if (l->addr >= 0) c->addrs[l->addr].self = true;
        close_link(c, l, true);
        return;
    }
    struct peer *p = peer_find(c, &h->uuid);
    if (!p) {
        for (int i = 0; i < MAX_PEERS; i++)
            if (!c->peers[i].used) { p = &c->peers[i]; break; }
        if (!p) { /* table full: forget the longest-silent peer that is not a member */
            for (int i = 0; i < MAX_PEERS; i++) {
                struct peer *q = &c->peers[i];
                if (q->link < 0 && gc_view_find(&c->cur, &q->uuid) < 0 && (!p || q->last_heard < p->last_heard)) p = q;
            }
            if (!p) { close_link(c, l, true); return; }
        }
        memset(p, 0, sizeof *p);
        p->used = true;
        p->uuid = h->uuid;
        p->inc = h->inc;
        p->link = -1;
    } else if (p->inc != h->inc) {
        tr_info("gcomm %s: peer %s restarted", c->cfg.name, U(&h->uuid, b));
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
            close_link(c, l, true);
            return;
        }
        o->peer = -1;
        close_link(c, o, true);
    }
    l->peer = pi;
    p->link = li;
    memcpy(p->name, h->name, sizeof p->name);
    memcpy(p->incoming, h->incoming, sizeof p->incoming);
    memcpy(p->listen, h->listen, sizeof p->listen);
    p->last_heard = now(c);
    if (l->addr >= 0) c->addrs[l->addr].backoff = 0;
    addr_add(c, h->listen);
    for (int i = 0; i < h->naddrs; i++) addr_add(c, h->addrs[i]);
    if (repeat) return;
    /* a reconnected link: the leader re-sends what the member may have missed, the member re-sends DATA */
    if (c->state == GC_ST_NORMAL && c->cur.primary) {
        int k = gc_view_find(&c->cur, &p->uuid);
        if (k >= 0 && c->cur.m[k].incarnation == p->inc) {
            if (!tr_uuid_compare(&c->cur.id.leader, &c->me)) {
                uint64_t from = p->ack_epoch == c->cur.id.epoch ? p->ack + 1 : c->log_first;
                if (from < c->log_first) from = c->log_first;
                for (uint64_t s = from; s <= log_end(c); s++) {
                    struct entry *e = log_at(c, s);
                    gc_msg om;
                    om.type = GC_MSG_ORDER;
                    om.u.order.epoch = c->cur.id.epoch;
                    om.u.order.seqno = s;
                    om.u.order.e = (gc_entry_ref){e->sender, e->inc, e->seq, e->data, e->len};
                    send_to_peer(c, p, &om);
                }
            } else if (!tr_uuid_compare(&c->cur.id.leader, &p->uuid)) {
                c->pend_sent = 0;
                send_pending(c);
            }
            c->acked_sent_epoch = 0;
            send_ack(c, true);
        }
    }
}

static void on_state_msg(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (c->state != GC_ST_GATHER || m->u.state.epoch != c->g.epoch) return;
    if (m->u.state.inc != p->inc) return;
    coll_add(c, &p->uuid, m, now(c));
    gather_check(c, false);
}

static void on_gather(gc_core *c, struct peer *p, const gc_msg *m)
{
    uint64_t e = m->u.gather.epoch;
    if (e > c->max_epoch) c->max_epoch = e;
    if (c->state == GC_ST_LEFT || e <= c->promised) return;
    if (c->state == GC_ST_LEAVING) {
        c->promised = e;
    } else {
        if (c->state == GC_ST_GATHER) gather_clear(c);
        stop_supporting(c);
        c->state = GC_ST_CHANGE;
        c->promised = e;
        c->promise_peer = (int)(p - c->peers);
        c->promise_time = now(c);
    }
    gc_entry_ref *refs = calloc(c->log_n ? c->log_n : 1, sizeof *refs);
    if (!refs) return;
    gc_msg sm;
    fill_state(c, &sm, e, refs);
    send_to_peer(c, p, &sm);
    free(refs);
}

static void on_start(gc_core *c, struct peer *p, const gc_msg *m)
{
    if (m->u.start.epoch > c->max_epoch) c->max_epoch = m->u.start.epoch;
    if (c->state == GC_ST_LEAVING) {
        if (my_index(c, &m->u.start.view) < 0) finish_leave(c);
        return;
    }
    if (c->state != GC_ST_CHANGE || m->u.start.epoch != c->promised || c->promise_peer != (int)(p - c->peers)) return;
    int k = my_index(c, &m->u.start.view);
    if (k < 0 || m->u.start.view.m[k].incarnation != c->inc) return;
    apply_start(c, m);
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
        close_link(c, l, true);
        return;
    }
    if (m.type == GC_MSG_FRAG) {
        uint8_t *whole;
        size_t wlen;
        l->reasm.alloc = reasm_alloc;
        l->reasm.actx = c;
        int rc = depth ? -1 : gc_reasm_feed(&l->reasm, m.u.frag.total, m.u.frag.offset, m.u.frag.data,
                                            m.u.frag.len, &whole, &wlen);
        if (rc < 0) {
            tr_warn("gcomm %s: bad fragment on link %d: disconnecting", c->cfg.name, l->id);
            close_link(c, l, true);
        } else if (rc == 1) {
            int id = l->id;
            on_message(c, l, whole, wlen, 1);
            buf_put(c, whole, wlen);
            (void)id;
        }
        return;
    }
    if (m.type == GC_MSG_HELLO) {
        if (l->peer >= 0 && (tr_uuid_compare(&m.u.hello.uuid, &c->peers[l->peer].uuid) ||
                             m.u.hello.inc != c->peers[l->peer].inc)) {
            tr_warn("gcomm %s: HELLO from another node on link %d: disconnecting", c->cfg.name, l->id);
            close_link(c, l, true);
        } else {
            on_hello(c, l, &m); /* a repeated HELLO on a link only gossips addresses */
        }
        return;
    }
    if (l->peer < 0) {
        tr_warn("gcomm %s: %s before HELLO on link %d: disconnecting", c->cfg.name, gc_msg_type_name(m.type), l->id);
        gc_msg_release(&m);
        close_link(c, l, true);
        return;
    }
    struct peer *p = &c->peers[l->peer];
    uint64_t t = now(c);
    p->last_heard = t;
    bool member = c->state == GC_ST_NORMAL && gc_view_find(&c->cur, &p->uuid) >= 0 &&
                  c->cur.m[gc_view_find(&c->cur, &p->uuid)].incarnation == p->inc;
    switch (m.type) {
    case GC_MSG_HB: {
        p->have_hb = true;
        p->hb_promised = m.u.hb.promised;
        p->hb_epoch = m.u.hb.epoch;
        p->hb_state = m.u.hb.state;
        p->hb_weight = m.u.hb.weight;
        p->fc = m.u.hb.fc;
        p->nsusp = m.u.hb.nsusp;
        memcpy(p->susp, m.u.hb.susp, sizeof p->susp[0] * p->nsusp);
        if (m.u.hb.state == GC_ST_LEAVING || m.u.hb.state == GC_ST_LEFT) p->leaving = true;
        if (m.u.hb.promised > c->max_epoch) c->max_epoch = m.u.hb.promised;
        if (m.u.hb.state == GC_ST_NORMAL && (m.u.hb.epoch > p->ack_epoch ||
                                             (m.u.hb.epoch == p->ack_epoch && m.u.hb.ack > p->ack))) {
            p->ack_epoch = m.u.hb.epoch;
            p->ack = m.u.hb.ack;
            if (member) advance(c);
        }
        gc_msg e;
        e.type = GC_MSG_ECHO;
        e.u.echo.ts = m.u.hb.ts;
        e.u.echo.epoch = c->state == GC_ST_NORMAL ? c->cur.id.epoch : 0;
        e.u.echo.supporting = c->state == GC_ST_NORMAL;
        send_to_peer(c, p, &e);
        if (!p->fc && member) send_pending(c);
        break;
    }
    case GC_MSG_ECHO:
        if (member && m.u.echo.supporting && m.u.echo.epoch == c->cur.id.epoch && m.u.echo.ts > p->echo_ts) {
            p->echo_ts = m.u.echo.ts;
            recompute_lease(c);
        }
        break;
    case GC_MSG_DATA:
        if (member && m.u.data.epoch == c->cur.id.epoch && c->cur.primary &&
            !tr_uuid_compare(&c->cur.id.leader, &c->me)) {
            leader_order(c, &p->uuid, p->inc, m.u.data.seq, m.u.data.data, m.u.data.len);
            advance(c);
        }
        break;
    case GC_MSG_ORDER:
        if (member && from_leader(c, p) && m.u.order.epoch == c->cur.id.epoch && c->cur.primary) {
            if (m.u.order.seqno == log_end(c) + 1) {
                if (log_append(c, &m.u.order.e)) { tr_error("gcomm: out of memory"); break; }
                dedup_note(c, &m.u.order.e.sender, m.u.order.e.sender_inc, m.u.order.e.sender_seq);
                advance(c);
            } else if (m.u.order.seqno > log_end(c) + 1) {
                leave_normal(c, "gap in the leader's stream");
            }
        }
        break;
    case GC_MSG_ACK:
        if (m.u.ack.epoch > p->ack_epoch || (m.u.ack.epoch == p->ack_epoch && m.u.ack.seqno > p->ack)) {
            p->ack_epoch = m.u.ack.epoch;
            p->ack = m.u.ack.seqno;
            if (member) advance(c);
        }
        break;
    case GC_MSG_GATHER:
        on_gather(c, p, &m);
        break;
    case GC_MSG_STATE:
        on_state_msg(c, p, &m);
        break;
    case GC_MSG_START:
        on_start(c, p, &m);
        break;
    case GC_MSG_LEAVE:
        p->leaving = true;
        break;
    case GC_MSG_FC:
        p->fc = m.u.fc.stop;
        if (!p->fc && member) send_pending(c);
        break;
    default:
        break;
    }
    gc_msg_release(&m);
}

/* ---------- driver events ---------- */

static void send_hello(gc_core *c, struct link *l)
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
    if (encode(c, m)) raw_send(c, l, c->wb.p, c->wb.len);
    free(m);
}

void gc_core_conn_up(gc_core *c, int link, const char *addr)
{
    struct link *l = link_slot(c, link);
    if (!l) {
        if (addr) { c->env.close(c->env.ctx, link); return; } /* dial we no longer track */
        for (int i = 0; i < MAX_LINKS; i++)
            if (!c->links[i].used) { l = &c->links[i]; break; }
        if (!l || c->isolate || c->left) { c->env.close(c->env.ctx, link); return; }
        memset(l, 0, sizeof *l);
        l->used = true;
        l->id = link;
        l->addr = -1;
        l->peer = -1;
    }
    l->opened = now(c);
    if (c->isolate || c->left) { close_link(c, l, true); return; }
    send_hello(c, l);
}

void gc_core_conn_down(gc_core *c, int link)
{
    struct link *l = link_slot(c, link);
    if (l) close_link(c, l, false);
}

void gc_core_recv(gc_core *c, int link, const uint8_t *buf, size_t len)
{
    struct link *l = link_slot(c, link);
    if (!l || c->left) return;
    on_message(c, l, buf, len, 0);
}

void gc_core_flush(gc_core *c) { send_ack(c, false); }

/* ---------- timers ---------- */

static void send_heartbeats(gc_core *c, uint64_t t)
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
    m.u.hb.ack = c->state == GC_ST_NORMAL && c->cur.primary ? log_end(c) : 0;
    for (int i = 0; i < MAX_PEERS && m.u.hb.nsusp < GC_MAX_MEMBERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && !p->leaving && !peer_fresh(c, p, t) && t - p->last_heard < c->cfg.inactive_ns)
            m.u.hb.susp[m.u.hb.nsusp++] = p->uuid;
    }
    if (!encode(c, &m)) return;
    for (int i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &c->peers[i];
        if (p->used && p->link >= 0) raw_send(c, &c->links[p->link], c->wb.p, c->wb.len);
    }
}

static void dial(gc_core *c, uint64_t t)
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

static bool is_leader(const gc_core *c) { return !tr_uuid_compare(&c->cur.id.leader, &c->me); }

/* Does the leader need a new view? *why names the reason for the debug log. */
static bool leader_wants_change(gc_core *c, const tr_uuid *D, int nd, uint64_t t, const char **why)
{
    for (int i = 0; i < nd; i++) {
        int k = gc_view_find(&c->cur, &D[i]);
        if (k < 0) { *why = "a new node is reachable"; return true; }
        struct peer *p = peer_find(c, &D[i]);
        if (p && p->inc != c->cur.m[k].incarnation) { *why = "a member restarted"; return true; }
        if (p && p->have_hb && p->hb_weight != c->cur.m[k].weight) { *why = "a member changed its weight"; return true; }
        if (p && p->have_hb && (p->hb_state != GC_ST_NORMAL || p->hb_epoch != c->cur.id.epoch)) {
            if (!p->bad_since) p->bad_since = t;
            if (t - p->bad_since >= c->t_fresh) { *why = "a member left the view"; return true; }
        } else if (p) {
            p->bad_since = 0;
        }
    }
    if (c->cur.m[my_index(c, &c->cur)].weight != c->cfg.weight) { *why = "our weight changed"; return true; }
    for (uint32_t i = 0; i < c->cur.n; i++) {
        const gc_member *m = &c->cur.m[i];
        if (!tr_uuid_compare(&m->uuid, &c->me)) continue;
        struct peer *p = peer_find(c, &m->uuid);
        if (p && p->leaving) { *why = "a member is leaving"; return true; }
        if (in_set(D, nd, &m->uuid)) {
            if (p) p->out_since = 0;
            continue;
        }
        if (!p) { *why = "a member is unknown"; return true; }
        if (!p->out_since) p->out_since = t;
        if (t - p->out_since + c->t_fresh >= c->cfg.suspect_ns) { *why = "a member is suspected"; return true; }
    }
    return false;
}

static void evaluate(gc_core *c, uint64_t t)
{
    if (c->state == GC_ST_LEFT) return;
    if (c->state == GC_ST_LEAVING) {
        if (t - c->leave_time >= c->t_change) finish_leave(c);
        return;
    }
    if (c->state == GC_ST_GATHER) {
        gather_check(c, t - c->g.start >= c->t_change / 2);
        if (c->state == GC_ST_GATHER && t - c->g.start >= c->t_change) {
            gather_clear(c);
            c->state = GC_ST_CHANGE;
            c->promise_peer = -1;
            c->next_gather_ok = t + c->env.random(c->env.ctx) % (c->t_change / 2 + 1);
        }
        return;
    }
    /* cut off: lease lost while NORMAL in a primary view */
    if (c->state == GC_ST_NORMAL && c->cur.primary && c->established && t >= c->lease_expiry &&
        t >= c->lease_grace) {
        tr_info("gcomm %s: lost contact with the primary component", c->cfg.name);
        leave_normal(c, "lease expired");
        pend_drop_all(c);
        deliver_local_nonprim(c);
    }
    /* a change that takes too long: report non-primary */
    if (c->state == GC_ST_CHANGE && c->have_dv && c->dv.primary && c->stop_time &&
        t - c->stop_time >= c->cfg.keepalive_ns) {
        pend_drop_all(c);
        deliver_local_nonprim(c);
    }
    if (c->state == GC_ST_CHANGE && c->promise_peer >= 0) {
        struct peer *g = &c->peers[c->promise_peer];
        if (t - c->promise_time < c->t_change && peer_fresh(c, g, t)) return;
        c->promise_peer = -1;
    }
    tr_uuid D[GC_MAX_MEMBERS];
    int nd = desired(c, D);
    bool me_in = in_set(D, nd, &c->me);
    bool me_min = me_in && !tr_uuid_compare(&D[0], &c->me);
    bool want = false;
    if (c->state == GC_ST_NORMAL) {
        if (is_leader(c)) {
            const char *why = "";
            want = leader_wants_change(c, D, nd, t, &why);
            if (want) tr_debug("gcomm %s: new view wanted: %s", c->cfg.name, why);
        } else {
            struct peer *lp = peer_find(c, &c->cur.id.leader);
            int li = gc_view_find(&c->cur, &c->cur.id.leader);
            bool leader_ok = lp && peer_fresh(c, lp, t) && lp->inc == c->cur.m[li].incarnation;
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
                leave_normal(c, why);
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
        start_gather(c, D, nd, true);
        return;
    }
    if (want && me_min && t >= c->next_gather_ok) start_gather(c, D, nd, false);
    else if (want && c->state == GC_ST_NORMAL && is_leader(c) && t >= c->next_gather_ok && me_in)
        start_gather(c, D, nd, false); /* the leader re-forms its view even if not lowest */
}

void gc_core_tick(gc_core *c)
{
    if (!c->started || c->left) return;
    uint64_t t = now(c);
    if (t >= c->next_hb) {
        send_heartbeats(c, t);
        c->next_hb = t + c->t_hb;
    }
    for (int i = 0; i < MAX_LINKS; i++) {
        struct link *l = &c->links[i];
        if (l->used && l->peer < 0 && t - l->opened > 2 * c->cfg.keepalive_ns) {
            tr_warn("gcomm %s: no HELLO on link %d within %.1f s: disconnecting", c->cfg.name, l->id,
                    2.0 * (double)c->cfg.keepalive_ns / 1e9);
            close_link(c, l, true);
        }
    }
    if (c->gossip) { /* a HELLO carries only the addresses known when the link came up */
        c->gossip = false;
        for (int i = 0; i < MAX_LINKS; i++)
            if (c->links[i].used && c->links[i].peer >= 0) send_hello(c, &c->links[i]);
    }
    dial(c, t);
    evaluate(c, t);
    send_ack(c, true);
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
    if (!c->cfg.install_ns) c->cfg.install_ns = c->cfg.inactive_ns / 2;
    c->t_hb = c->cfg.keepalive_ns / 8;
    c->t_fresh = c->cfg.keepalive_ns * 3 / 8;
    c->t_lease = c->cfg.keepalive_ns / 2;
    c->t_tick = c->cfg.keepalive_ns / 32;
    c->t_change = c->cfg.install_ns < 2 * c->cfg.keepalive_ns ? c->cfg.install_ns : 2 * c->cfg.keepalive_ns;
    uint64_t r1 = env->random(env->ctx), r2 = env->random(env->ctx);
    memcpy(c->me.data, &r1, 8);
    memcpy(c->me.data + 8, &r2, 8);
    c->me.data[6] = (uint8_t)((c->me.data[6] & 0x0f) | 0x40);
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
    gather_clear(c);
    log_trim_front(c, NEVER - 1);
    free(c->log);
    pend_drop_all(c);
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
    for (int i = 0; i < c->cfg.nseeds; i++) addr_add(c, c->cfg.seeds[i]);
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
    if (c->left || c->state == GC_ST_LEAVING) return -ESHUTDOWN;
    if (!can_send(c)) return -ENOTCONN;
    if (len > (size_t)2147483648u) return -EMSGSIZE;
    if (c->pend_n == c->pend_cap) {
        size_t ncap = c->pend_cap ? c->pend_cap * 2 : 64;
        struct pend *np = realloc(c->pend, ncap * sizeof *np);
        if (!np) return -ENOMEM;
        c->pend = np;
        c->pend_cap = ncap;
    }
    struct pend *p = &c->pend[c->pend_n];
    p->data = buf_get(c, len);
    if (!p->data) return -ENOMEM;
    if (len) memcpy(p->data, buf, len);
    p->len = len;
    p->seq = c->next_sender_seq++;
    p->t0 = now(c);
    c->pend_n++;
    send_pending(c);
    return 0;
}

void gc_core_leave(gc_core *c)
{
    if (c->left || c->state == GC_ST_LEAVING) return;
    if (c->state == GC_ST_GATHER) gather_clear(c);
    stop_supporting(c);
    pend_drop_all(c);
    c->state = GC_ST_LEAVING;
    c->leave_time = now(c);
    gc_msg m;
    m.type = GC_MSG_LEAVE;
    int sent = 0;
    if (encode(c, &m))
        for (int i = 0; i < MAX_PEERS; i++)
            if (c->peers[i].used && c->peers[i].link >= 0) {
                raw_send(c, &c->links[c->peers[i].link], c->wb.p, c->wb.len);
                sent++;
            }
    send_heartbeats(c, now(c));
    if (!sent) finish_leave(c);
}

bool gc_core_has_left(const gc_core *c) { return c->left; }

void gc_core_set_weight(gc_core *c, uint8_t w) { c->cfg.weight = w; }

void gc_core_set_ignore(gc_core *c, bool ignore_sb, bool ignore_quorum)
{
    c->cfg.ignore_sb = ignore_sb;
    c->cfg.ignore_quorum = ignore_quorum;
}

void gc_core_bootstrap(gc_core *c) { c->bootstrap_req = true; }

void gc_core_set_isolate(gc_core *c, bool on)
{
    c->isolate = on;
    if (on)
        for (int i = 0; i < MAX_LINKS; i++)
            if (c->links[i].used) close_link(c, &c->links[i], true);
    if (!on)
        for (int i = 0; i < MAX_ADDRS; i++) c->addrs[i].next_try = 0;
}

void gc_core_fc(gc_core *c, bool stop)
{
    if (c->fc_self == stop) return;
    c->fc_self = stop;
    gc_msg m;
    m.type = GC_MSG_FC;
    m.u.fc.stop = stop;
    if (encode(c, &m))
        for (int i = 0; i < MAX_PEERS; i++)
            if (c->peers[i].used && c->peers[i].link >= 0) raw_send(c, &c->links[c->peers[i].link], c->wb.p, c->wb.len);
    if (!stop) send_pending(c);
}

const tr_uuid *gc_core_uuid(const gc_core *c) { return &c->me; }

void gc_core_stats(const gc_core *c, struct gc_stats *s)
{
    *s = c->st;
    s->pending = c->pend_n;
    s->last_seqno = c->established || c->delivered ? (int64_t)c->delivered : -1;
    s->epoch = c->state == GC_ST_NORMAL ? c->cur.id.epoch : 0;
    s->primary = gc_core_is_primary(c);
    s->fc_paused = c->fc_self;
    s->members = c->state == GC_ST_NORMAL ? c->cur.n : 0;
    if (s->primary) {
        gc_core *m = (gc_core *)c;
        s->fc_paused = fc_blocked(m);
    }
}
