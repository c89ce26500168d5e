/* tests/sim/sim_outsider: a process that knows the group name but is no member, in some seeds:
 * it links up to the nodes and sends poisoned heartbeats, GATHER, START, flow control and FRAG
 * floods (some before its HELLO), never answers a GATHER; the checks say it changed nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "tests/sim/sim.h"

#define OUT_LINKS 64

struct out_link {
    int id, node;
    bool up, hello;       /* connected; our HELLO went out */
    bool no_hello;        /* this link floods FRAGs before any HELLO */
    uint64_t frag_off;    /* where our endless fragmented message has got to */
    uint64_t frag_bytes;  /* FRAG bytes sent on it while it is up */
};

struct sim_outsider {
    tr_uuid uuid;
    uint64_t inc, rng;
    struct out_link links[OUT_LINKS];
    int nlinks;
};

static uint64_t orand(struct sim_outsider *o)
{
    uint64_t x = o->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return o->rng = x;
}

void sim_outsider_add(struct sim *s)
{
    struct sim_outsider *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->rng = s->seed * 7777 + 1;
    /* the lowest uuid there can be: every node would leave the initiative to it */
    o->uuid.data[15] = 1;
    o->inc = orand(o) | 1;
    s->out = o;
    struct sim_node *slot = &s->nodes[s->n];
    memset(slot, 0, sizeof *slot);
    slot->sim = s;
    slot->idx = s->n;
    slot->alive = true;
    sim_schedule_outsider(s, s->now + 100 * SIM_MS);
}

void sim_outsider_free(struct sim *s)
{
    free(s->out);
    s->out = NULL;
}

bool sim_outsider_is(const struct sim *s, const tr_uuid *u) { return s->out && !tr_uuid_compare(&s->out->uuid, u); }

static struct out_link *find(struct sim_outsider *o, int id)
{
    for (int i = 0; i < o->nlinks; i++)
        if (o->links[i].id == id) return &o->links[i];
    return NULL;
}

static void send_msg(struct sim *s, struct out_link *l, const gc_msg *m)
{
    gc_wbuf w;
    gc_w_init(&w);
    gc_msg_encode(&w, m);
    if (!w.oom && w.len <= GC_FRAME_MAX_PAYLOAD) {
        sim_link_send(s, l->id, 0, w.p, w.len, m->type == GC_MSG_HB);
    }
    gc_w_free(&w);
}

static void send_hello(struct sim *s, struct out_link *l)
{
    gc_msg *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->type = GC_MSG_HELLO;
    m->u.hello.version = GC_PROTO_VERSION;
    snprintf(m->u.hello.group, sizeof m->u.hello.group, "sim"); /* the leaked group name */
    m->u.hello.uuid = s->out->uuid;
    m->u.hello.inc = s->out->inc;
    snprintf(m->u.hello.name, sizeof m->u.hello.name, "intruder\x1b[31m\n"); /* escaped in logs */
    snprintf(m->u.hello.listen, sizeof m->u.hello.listen, "10.0.0.99:4567");
    send_msg(s, l, m);
    free(m);
    l->hello = true;
}

/* One piece of a message that announces 2 GiB and never ends. */
static void send_frag(struct sim *s, struct out_link *l, size_t n)
{
    static uint8_t junk[4096];
    gc_msg m;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_FRAG;
    m.u.frag.total = (uint64_t)2 << 30;
    m.u.frag.offset = l->frag_off;
    m.u.frag.data = junk;
    m.u.frag.len = n;
    junk[0] = GC_MSG_DATA;
    send_msg(s, l, &m);
    l->frag_off += n;
    l->frag_bytes += n;
}

/* A view holding the target and us, primary, of a made-up history. */
static void start_msg(struct sim_outsider *o, struct sim *s, int node, uint64_t epoch, gc_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = GC_MSG_START;
    m->u.start.epoch = epoch;
    gc_view *v = &m->u.start.view;
    v->id.epoch = epoch;
    v->id.leader = o->uuid;
    v->id.leader_inc = o->inc;
    v->primary = true;
    v->history.data[0] = 0x66;
    v->n = 2;
    v->m[0].uuid = o->uuid;
    v->m[0].incarnation = o->inc;
    v->m[0].weight = 255;
    v->m[1].uuid = *gc_core_uuid(s->nodes[node].core);
    v->m[1].weight = 1;
    gc_view_sort(v);
    m->u.start.flags = GC_START_FORCED;
    m->u.start.first = 1;
}

static void attack(struct sim *s, struct out_link *l)
{
    struct sim_outsider *o = s->out;
    if (l->no_hello) { /* refused at once: the node closes the link */
        send_frag(s, l, 1024);
        return;
    }
    gc_msg m;
    memset(&m, 0, sizeof m);
    uint64_t r = orand(o);
    switch (r % 8) {
    case 0:
    case 1: /* heartbeat: promised and epoch at the limit, weight 255, acks far ahead, suspects everyone */
        m.type = GC_MSG_HB;
        m.u.hb.ts = s->now;
        /* 2^64-1 is malformed (the node drops the link); 2^62 is the most a node takes */
        m.u.hb.promised = (r >> 8) % 4 == 0 ? UINT64_MAX : (r >> 8) % 2 ? GC_COUNT_MAX : 1000 + (r >> 16) % 1000;
        m.u.hb.epoch = m.u.hb.promised;
        m.u.hb.state = GC_ST_NORMAL;
        m.u.hb.weight = 255;
        m.u.hb.ack = GC_COUNT_MAX;
        m.u.hb.fc = 1;
        for (int i = 0; i < s->n; i++)
            if (s->nodes[i].alive) m.u.hb.susp[m.u.hb.nsusp++] = *gc_core_uuid(s->nodes[i].core);
        break;
    case 2: /* GATHER with a high epoch (and one in the node's range) */
        m.type = GC_MSG_GATHER;
        m.u.gather.epoch = (r >> 8) % 2 ? GC_COUNT_MAX : 1 + (r >> 16) % 64;
        m.u.gather.flags = GC_GATHER_BOOTSTRAP;
        break;
    case 3: /* START of a view with it in it */
        start_msg(o, s, l->node, 1 + (r >> 16) % 64, &m);
        break;
    case 4: /* flow control: stop */
        m.type = GC_MSG_FC;
        m.u.fc.stop = 1;
        break;
    case 5: /* acknowledgements far ahead */
        m.type = GC_MSG_ACK;
        m.u.ack.epoch = 1 + (r >> 16) % 64;
        m.u.ack.seqno = GC_COUNT_MAX;
        break;
    default: /* a flood of fragments of a message that announces 2 GiB */
        for (int k = 0; k < 16; k++) send_frag(s, l, 4096);
        return;
    }
    send_msg(s, l, &m);
}

void sim_outsider_event(struct sim *s)
{
    struct sim_outsider *o = s->out;
    int node = (int)(orand(o) % (uint64_t)s->n);
    struct out_link *l = NULL;
    for (int i = 0; i < o->nlinks; i++)
        if (o->links[i].node == node && o->links[i].id >= 0) l = &o->links[i];
    if (!l && s->nodes[node].alive && o->nlinks < OUT_LINKS) {
        l = &o->links[o->nlinks++];
        memset(l, 0, sizeof *l);
        l->node = node;
        l->no_hello = orand(o) % 5 == 0;
        l->id = sim_link_open(s, s->n, node);
    } else if (l && l->up) {
        attack(s, l);
    }
    /* links that died free their slot */
    for (int i = 0; i < o->nlinks; i++)
        if (o->links[i].id < 0) o->links[i--] = o->links[--o->nlinks];
    sim_schedule_outsider(s, s->now + 10 * SIM_MS + orand(o) % (40 * SIM_MS));
}

void sim_outsider_conn(struct sim *s, int link, bool up)
{
    struct out_link *l = find(s->out, link);
    if (!l) return;
    if (!up) { /* closed by the node (or a fault): what it held for us is gone */
        l->id = -1;
        l->up = false;
        return;
    }
    l->up = true;
    if (!l->no_hello) send_hello(s, l);
    attack(s, l);
}

void sim_outsider_recv(struct sim *s, int link, const uint8_t *buf, size_t len)
{
    (void)s;
    (void)link;
    (void)buf;
    (void)len; /* it hears everything and answers nothing */
}

/* What the outsider may have made a node hold: at most twice the fragment bytes it sent on
 * live links to it (the reassembly buffer doubles), plus the group's own messages in pieces
 * (STATEs and STARTs carry logs: up to 2 MiB seen, 16 MiB allowed). The 2 GiB its first fragment
 * announces would break it at once. */
void sim_outsider_check(struct sim *s)
{
    struct sim_outsider *o = s->out;
    for (int i = 0; i < s->n; i++) {
        struct sim_node *nd = &s->nodes[i];
        if (!nd->alive || !nd->core) continue;
        uint64_t sent = 0;
        for (int k = 0; k < o->nlinks; k++)
            if (o->links[k].node == i && o->links[k].up) sent += o->links[k].frag_bytes;
        struct gc_stats st;
        gc_core_stats(nd->core, &st);
        if (st.reasm_bytes > 2 * sent + (16u << 20))
            return chk_fail(s, "n%d holds %llu bytes in reassembly, the outsider sent it %llu in fragments", i,
                            (unsigned long long)st.reasm_bytes, (unsigned long long)sent);
        if (st.epoch > (1ull << 40))
            return chk_fail(s, "n%d is in view epoch %llu: the outsider's epochs were taken", i,
                            (unsigned long long)st.epoch);
    }
}
