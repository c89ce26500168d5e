/* tests/sim/sim_net: the simulated world: virtual clock, event heap, FIFO links with seeded
 * delays, partitions, one-way loss, crashes, pauses, and the gc_env every core runs on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "tests/sim/sim.h"

static uint64_t xs(uint64_t *r)
{
    uint64_t x = *r;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *r = x;
}

uint64_t sim_rand(struct sim *s) { return xs(&s->rng); }

void sim_msg_put(uint8_t *buf, int node, uint64_t seq, int restarts)
{
    uint32_t magic = SIM_MSG_MAGIC;
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &node, 4);
    memcpy(buf + 8, &seq, 8);
    memcpy(buf + 16, &restarts, 4);
}

bool sim_msg_get(const uint8_t *buf, size_t len, int *node, uint64_t *seq)
{
    uint32_t magic;
    if (len < SIM_MSG_HDR) return false;
    memcpy(&magic, buf, 4);
    memcpy(node, buf + 4, 4);
    memcpy(seq, buf + 8, 8);
    return magic == SIM_MSG_MAGIC && *node >= 0 && *node < SIM_MAX_NODES;
}
bool sim_failed(const struct sim *s) { return s->fail[0] != 0; }

/* ---------- event heap ---------- */

static bool ev_less(const struct event *a, const struct event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push(struct sim *s, struct event e)
{
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = realloc(s->heap, s->heap_cap * sizeof *s->heap);
        if (!s->heap) abort();
    }
    e.seq = s->seq++;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

static struct event pop(struct sim *s)
{
    struct event top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct event *cand = &last;
        if (l < s->heap_n && ev_less(&s->heap[l], cand)) { m = l; cand = &s->heap[l]; }
        if (r < s->heap_n && ev_less(&s->heap[r], cand)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->heap_n) s->heap[i] = last;
    return top;
}

/* ---------- network model ---------- */

static uint64_t link_delay(struct sim *s)
{
    /* 50 us .. 3 ms, occasionally up to 30 ms */
    uint64_t r = sim_rand(s);
    uint64_t d = 50000 + r % 3000000;
    if ((r >> 40) % 50 == 0) d += (r >> 20) % 30000000;
    return d;
}

static bool can_talk(struct sim *s, int from, int to)
{
    const struct sim_node *a = &s->nodes[from], *b = &s->nodes[to];
    return a->alive && b->alive && a->group == b->group && !s->oneway[from][to];
}

static int other(const struct sim_link *l, int dir) { return dir == 0 ? l->b : l->a; }
static int sender(const struct sim_link *l, int dir) { return dir == 0 ? l->a : l->b; }

static void schedule_frame(struct sim *s, struct frame *f)
{
    struct sim_link *l = &s->links[f->link];
    uint64_t t = s->now + link_delay(s);
    int from = sender(l, f->dir), to = other(l, f->dir);
    if (from >= 0 && to >= 0) t += s->extra_delay[from][to];
    if (t < l->last_arrival[f->dir]) t = l->last_arrival[f->dir];
    l->last_arrival[f->dir] = t;
    push(s, (struct event){.t = t, .kind = EV_FRAME, .link = f->link, .f = f});
}

static void enqueue(struct frame **head, struct frame **tail, struct frame *f)
{
    f->next = NULL;
    if (*tail) (*tail)->next = f;
    else *head = f;
    *tail = f;
}

static struct frame *dequeue(struct frame **head, struct frame **tail)
{
    struct frame *f = *head;
    if (f && !(*head = f->next)) *tail = NULL;
    return f;
}

/* A link's bandwidth: the global one, or a slower one of either end's. 0: unlimited. */
static uint64_t link_bps(const struct sim *s, const struct sim_link *l)
{
    uint64_t r = s->bytes_per_sec;
    int ends[2] = {l->a, l->b};
    for (int k = 0; k < 2; k++)
        if (ends[k] >= 0 && s->node_bps[ends[k]] && (!r || s->node_bps[ends[k]] < r)) r = s->node_bps[ends[k]];
    return r;
}

/* With a bandwidth, a link direction puts one frame at a time on the wire (len / bandwidth),
 * urgent frames before the bulk ones still waiting, as the TCP driver's two queues do; a
 * frame then travels with the link's delay. */
static void start_tx(struct sim *s, int link, int dir)
{
    struct sim_link *l = &s->links[link];
    struct frame *f = dequeue(&l->utx_head[dir], &l->utx_tail[dir]);
    if (!f) f = dequeue(&l->txq_head[dir], &l->txq_tail[dir]);
    l->tx_busy[dir] = f != NULL;
    if (f) l->txq_bytes[dir] -= f->len;
    if (!f) return;
    uint64_t tx = (uint64_t)f->len * SIM_SEC / link_bps(s, l);
    push(s, (struct event){.t = s->now + tx, .kind = EV_TX, .link = link, .f = f});
    /* a frame that takes long on the wire: its bytes reach the receiver as they go, every 20 ms,
     * as the TCP driver reads them (gc_core_recv_partial) */
    for (uint64_t k = 1; k * 20 * SIM_MS < tx; k++)
        push(s, (struct event){.t = s->now + k * 20 * SIM_MS, .kind = EV_PARTIAL, .link = link, .node = dir});
}

static void do_partial(struct sim *s, int link, int dir)
{
    struct sim_link *l = &s->links[link];
    int to = other(l, dir), from = sender(l, dir), to_side = 1 - dir;
    if (l->dead || to < 0 || to >= s->n || !l->up[to_side]) return;
    struct sim_node *nd = &s->nodes[to];
    if (!nd->alive || !nd->core || nd->paused || (uint64_t)nd->restarts != l->gen[to_side] || !can_talk(s, from, to))
        return;
    gc_core_recv_partial(nd->core, link);
}

static void transmit(struct sim *s, struct frame *f)
{
    struct sim_link *l = &s->links[f->link];
    if (!link_bps(s, l)) { schedule_frame(s, f); return; }
    l->txq_bytes[f->dir] += f->len;
    struct sim_node *from = &s->nodes[f->dir ? l->b : l->a];
    if (l->txq_bytes[f->dir] > from->max_txq) from->max_txq = l->txq_bytes[f->dir];
    if (f->urgent) enqueue(&l->utx_head[f->dir], &l->utx_tail[f->dir], f);
    else enqueue(&l->txq_head[f->dir], &l->txq_tail[f->dir], f);
    if (!l->tx_busy[f->dir]) start_tx(s, f->link, f->dir);
}

static void release_held(struct sim *s)
{
    for (int i = 0; i < s->nlinks; i++) {
        struct sim_link *l = &s->links[i];
        for (int dir = 0; dir < 2; dir++) {
            if (!l->held_head[dir]) continue;
            int to = other(l, dir), from = sender(l, dir);
            if (!can_talk(s, from, to) || s->nodes[to].paused) continue;
            struct frame *f = l->held_head[dir];
            l->held_head[dir] = l->held_tail[dir] = NULL;
            while (f) {
                struct frame *nx = f->next;
                schedule_frame(s, f);
                f = nx;
            }
        }
    }
}

static void free_list(struct frame **head, struct frame **tail)
{
    struct frame *f = *head;
    while (f) {
        struct frame *nx = f->next;
        free(f);
        f = nx;
    }
    *head = *tail = NULL;
}

/* Frames held or still waiting for the wire die with the link. */
static void free_held(struct sim_link *l)
{
    for (int dir = 0; dir < 2; dir++) {
        free_list(&l->held_head[dir], &l->held_tail[dir]);
        free_list(&l->txq_head[dir], &l->txq_tail[dir]);
        free_list(&l->utx_head[dir], &l->utx_tail[dir]);
        l->txq_bytes[dir] = 0;
    }
}

/* ---------- env callbacks ---------- */

static uint64_t env_now(void *ctx) { return ((struct sim_node *)ctx)->sim->now; }
static uint64_t env_random(void *ctx) { return xs(&((struct sim_node *)ctx)->rng); }

static int side_of(const struct sim_link *l, int node) { return l->a == node ? 0 : 1; }

static void env_send(void *ctx, int link, const uint8_t *buf, size_t len, bool urgent)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    if (link < 0 || link >= s->nlinks) return;
    /* the protocol's frame limit, whatever the node's gcs.max_packet_size (gc_frame.h) */
    if (len > GC_FRAME_MAX_PAYLOAD)
        chk_fail(s, "n%d sent a frame of %zu bytes, above the protocol's %u", nd->idx, len, GC_FRAME_MAX_PAYLOAD);
    if (len && buf[0] == GC_MSG_ACK) nd->acks_sent++;
    sim_link_send(s, link, side_of(&s->links[link], nd->idx), buf, len, urgent);
}

void sim_link_send(struct sim *s, int link, int side, const uint8_t *buf, size_t len, bool urgent)
{
    struct sim_link *l = &s->links[link];
    if (l->dead || !l->up[side]) return;
    struct frame *f = malloc(sizeof *f + len);
    if (!f) abort();
    f->next = NULL;
    f->link = link;
    f->dir = side;
    f->fin = false;
    f->urgent = urgent;
    f->len = len;
    memcpy(f->data, buf, len);
    s->msgs++;
    transmit(s, f);
}

static int env_connect(void *ctx, const char *addr)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    int to = -1;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->nodes[i].addr, addr)) to = i;
    return sim_link_open(s, nd->idx, to);
}

int sim_link_open(struct sim *s, int from, int to)
{
    struct sim_node *nd = &s->nodes[from];
    if (s->nlinks == s->links_cap) {
        s->links_cap = s->links_cap ? s->links_cap * 2 : 256;
        s->links = realloc(s->links, s->links_cap * sizeof *s->links);
        if (!s->links) abort();
    }
    int id = s->nlinks++;
    struct sim_link *l = &s->links[id];
    memset(l, 0, sizeof *l);
    l->used = true;
    l->a = nd->idx;
    l->b = to;
    l->gen[0] = (uint64_t)nd->restarts;
    l->gen[1] = to >= 0 ? (uint64_t)s->nodes[to].restarts : 0;
    push(s, (struct event){.t = s->now + link_delay(s), .kind = EV_CONNECT, .link = id});
    return id;
}

static void env_close(void *ctx, int link)
{
    struct sim_node *nd = ctx;
    struct sim *s = nd->sim;
    struct sim_link *l = &s->links[link];
    int side = side_of(l, nd->idx);
    if (!l->up[side]) return;
    l->up[side] = false;
    /* a FIN travels behind the data already sent */
    struct frame *f = malloc(sizeof *f);
    if (!f) abort();
    f->next = NULL;
    f->link = link;
    f->dir = side;
    f->fin = true;
    f->urgent = false;
    f->len = 0;
    transmit(s, f);
}

static void env_deliver(void *ctx, const struct gc_delivery *d)
{
    struct sim_node *nd = ctx;
    chk_on_deliver(nd->sim, nd, d);
    if (nd->sim->deliver_hook) nd->sim->deliver_hook(nd->sim, nd, d);
}

static void env_persist(void *ctx, const uint8_t *buf, size_t len)
{
    struct sim_node *nd = ctx;
    free(nd->disk);
    nd->disk = NULL;
    nd->disklen = 0;
    if (len) {
        nd->disk = malloc(len);
        if (!nd->disk) abort();
        memcpy(nd->disk, buf, len);
        nd->disklen = len;
    }
}

/* ---------- nodes ---------- */

struct sim *sim_current;

void sim_init(struct sim *s, uint64_t seed, int n, uint64_t max_packet)
{
    memset(s, 0, sizeof *s);
    sim_current = s;
    s->seed = seed;
    s->rng = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    if (!s->rng) s->rng = 1;
    for (int i = 0; i < 8; i++) sim_rand(s);
    s->n = n;
    s->now = SIM_SEC;
    s->max_packet = max_packet;
    s->bcast_period = 50 * SIM_MS;
    for (int i = 0; i < n; i++) {
        struct sim_node *nd = &s->nodes[i];
        nd->sim = s;
        nd->idx = i;
        snprintf(nd->addr, sizeof nd->addr, "10.0.0.%d:4567", i + 1);
        nd->last_seqno = -1;
    }
    chk_reset();
}

void sim_schedule_outsider(struct sim *s, uint64_t t) { push(s, (struct event){.t = t, .kind = EV_OUTSIDER}); }

void sim_free(struct sim *s)
{
    sim_outsider_free(s);
    for (int i = 0; i < s->n; i++) {
        gc_core_free(s->nodes[i].core);
        free(s->nodes[i].disk);
    }
    for (int i = 0; i < s->nlinks; i++) free_held(&s->links[i]);
    for (size_t i = 0; i < s->heap_n; i++) free(s->heap[i].f);
    free(s->links);
    free(s->heap);
}

void sim_node_start(struct sim *s, int i)
{
    struct sim_node *nd = &s->nodes[i];
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    snprintf(cfg.group, sizeof cfg.group, "sim");
    snprintf(cfg.name, sizeof cfg.name, "n%d", i);
    snprintf(cfg.advertise_addr, sizeof cfg.advertise_addr, "%s", nd->addr);
    snprintf(cfg.incoming, sizeof cfg.incoming, "10.0.0.%d:3306", i + 1);
    cfg.max_packet_size = (uint32_t)s->max_packet;
    if (s->retain_limit) cfg.retain_limit = s->retain_limit == UINT64_MAX ? 0 : s->retain_limit;
    cfg.auto_evict = s->auto_evict;
    /* node 0 bootstraps the group the first time; everybody else (and node 0 later) joins */
    if (i == 0 && nd->restarts == 0) {
        cfg.nseeds = 0;
    } else if (s->seed % 4 == 1) { /* one seed only: the rest of the mesh comes from gossip */
        snprintf(cfg.seeds[cfg.nseeds++], GC_ADDR_MAX, "%s", s->nodes[i == 0 ? 1 : 0].addr);
    } else {
        for (int k = 0; k < s->n; k++)
            if (k != i) snprintf(cfg.seeds[cfg.nseeds++], GC_ADDR_MAX, "%s", s->nodes[k].addr);
    }
    nd->rng = s->seed * 1000003u + (uint64_t)i * 7919u + (uint64_t)nd->restarts * 104729u + 1;
    for (int k = 0; k < 4; k++) xs(&nd->rng);
    struct gc_env env = {.ctx = nd, .now = env_now, .random = env_random, .send = env_send,
                         .connect = env_connect, .close = env_close, .deliver = env_deliver,
                         .persist = env_persist};
    nd->core = gc_core_new(&cfg, &env, nd->disk, nd->disklen);
    if (!nd->core) abort();
    nd->alive = true;
    nd->paused = false;
    nd->have_view = false;
    memset(&nd->core_dv, 0, sizeof nd->core_dv);
    nd->left = false;
    nd->vs_count = nd->vs_hash = 0;
    nd->skip_ok = true;
    nd->pr_state = GC_ST_CHANGE;
    nd->pr_leading = false;
    nd->pr_gather = 0;
    memset(&nd->pr_cur_view, 0, sizeof nd->pr_cur_view);
    memset(&nd->pr_cur, 0, sizeof nd->pr_cur);
    gc_core_start(nd->core);
    chk_step(s); /* start may already gather (a bootstrap) */
    nd->next_tick = s->now + gc_core_tick_interval(nd->core);
    push(s, (struct event){.t = nd->next_tick, .kind = EV_TICK, .node = i});
    nd->next_bcast = s->now + sim_rand(s) % s->bcast_period;
    push(s, (struct event){.t = nd->next_bcast, .kind = EV_BCAST, .node = i});
}

static void link_down_for(struct sim *s, int id, int node_side)
{
    struct sim_link *l = &s->links[id];
    if (!l->up[node_side]) return;
    l->up[node_side] = false;
    int node = node_side == 0 ? l->a : l->b;
    struct sim_node *nd = &s->nodes[node];
    if (s->out && node == s->n) { sim_outsider_conn(s, id, false); return; }
    if (nd->alive && nd->core && (uint64_t)nd->restarts == l->gen[node_side]) gc_core_conn_down(nd->core, id);
}

void sim_crash(struct sim *s, int i)
{
    struct sim_node *nd = &s->nodes[i];
    if (!nd->alive) return;
    gc_core_free(nd->core);
    nd->core = NULL;
    nd->alive = false;
    nd->paused = false;
    nd->restarts++;
    s->ever_crashed = true;
    for (int k = 0; k < s->nlinks; k++) {
        struct sim_link *l = &s->links[k];
        if (l->dead || (l->a != i && l->b != i)) continue;
        int side = l->a == i ? 0 : 1;
        l->up[side] = false;
        l->dead = true;
        free_held(l);
        /* the peer sees a reset after a short while (a kernel answers for the dead process) */
        int peer_side = 1 - side;
        if (l->up[peer_side])
            push(s, (struct event){.t = s->now + link_delay(s), .kind = EV_CONN_DOWN, .link = k,
                                   .node = peer_side});
    }
}

void sim_pause(struct sim *s, int i, bool on)
{
    struct sim_node *nd = &s->nodes[i];
    if (!nd->alive) return;
    nd->paused = on;
    if (!on) {
        nd->next_tick = s->now;
        push(s, (struct event){.t = s->now, .kind = EV_TICK, .node = i});
        release_held(s);
    }
}

void sim_partition(struct sim *s, const int *group)
{
    for (int i = 0; i < s->n; i++) s->nodes[i].group = group[i];
}

void sim_heal(struct sim *s)
{
    for (int i = 0; i < s->n; i++) s->nodes[i].group = 0;
    memset(s->oneway, 0, sizeof s->oneway);
    release_held(s);
}

void sim_set_oneway(struct sim *s, int from, int to, bool blocked)
{
    s->oneway[from][to] = blocked;
    if (!blocked) release_held(s);
}

static void break_one(struct sim *s, int k)
{
    struct sim_link *l = &s->links[k];
    l->dead = true;
    free_held(l);
    push(s, (struct event){.t = s->now + link_delay(s), .kind = EV_CONN_DOWN, .link = k, .node = 0});
    push(s, (struct event){.t = s->now + link_delay(s), .kind = EV_CONN_DOWN, .link = k, .node = 1});
}

static bool live_link(const struct sim_link *l) { return !l->dead && l->up[0] && l->up[1]; }

/* Breaks a random live link (both ends see it go down), as a TCP reset would. */
void sim_break_link(struct sim *s)
{
    int live = 0;
    for (int k = 0; k < s->nlinks; k++)
        if (live_link(&s->links[k])) live++;
    if (!live) return;
    int pick = (int)(sim_rand(s) % (uint64_t)live);
    for (int k = 0; k < s->nlinks; k++)
        if (live_link(&s->links[k]) && pick-- == 0) { break_one(s, k); return; }
}

/* Breaks every live link between nodes a and b. */
void sim_break_link_between(struct sim *s, int a, int b)
{
    for (int k = 0; k < s->nlinks; k++) {
        const struct sim_link *l = &s->links[k];
        if (live_link(l) && ((l->a == a && l->b == b) || (l->a == b && l->b == a))) break_one(s, k);
    }
}

/* ---------- the loop ---------- */

static void do_frame(struct sim *s, struct frame *f)
{
    struct sim_link *l = &s->links[f->link];
    int to = other(l, f->dir), from = sender(l, f->dir);
    int to_side = 1 - f->dir;
    if (l->dead && !f->fin) { free(f); return; }
    if (to < 0) { free(f); return; }
    struct sim_node *nd = &s->nodes[to];
    if (!nd->alive || (uint64_t)nd->restarts != l->gen[to_side]) { free(f); return; }
    if (!can_talk(s, from, to) || nd->paused || l->held_head[f->dir]) {
        enqueue(&l->held_head[f->dir], &l->held_tail[f->dir], f);
        return;
    }
    if (f->fin) {
        l->dead = true;
        link_down_for(s, f->link, to_side);
        free(f);
        return;
    }
    if (!l->up[to_side]) { free(f); return; }
    if (s->out && to == s->n) { sim_outsider_recv(s, f->link, f->data, f->len); free(f); return; }
    gc_core_recv(nd->core, f->link, f->data, f->len);
    if (nd->alive && nd->core) gc_core_flush(nd->core);
    free(f);
}

static void do_connect(struct sim *s, int id)
{
    struct sim_link *l = &s->links[id];
    struct sim_node *a = &s->nodes[l->a];
    if (!a->alive || (uint64_t)a->restarts != l->gen[0]) { l->dead = true; return; }
    bool ok = l->b >= 0 && can_talk(s, l->a, l->b) && can_talk(s, l->b, l->a) && !s->nodes[l->b].paused &&
              (uint64_t)s->nodes[l->b].restarts == l->gen[1];
    if (!ok) {
        l->dead = true;
        /* refused at once if the host answers, after a timeout if the network drops the SYN */
        uint64_t delay = (l->b >= 0 && s->nodes[l->b].group == a->group) ? link_delay(s) : SIM_SEC;
        l->up[0] = true;
        push(s, (struct event){.t = s->now + delay, .kind = EV_CONN_DOWN, .link = id, .node = 0});
        return;
    }
    l->up[0] = l->up[1] = true;
    gc_core_conn_up(s->nodes[l->b].core, id, NULL);
    if (s->out && l->a == s->n) sim_outsider_conn(s, id, true);
    else if (a->alive && l->up[0]) gc_core_conn_up(a->core, id, a->addr[0] ? s->nodes[l->b].addr : NULL);
}

void sim_run_until(struct sim *s, uint64_t t_end)
{
    while (s->heap_n && s->heap[0].t <= t_end && !sim_failed(s)) {
        struct event e = pop(s);
        s->now = e.t;
        s->events++;
        switch (e.kind) {
        case EV_FRAME:
            do_frame(s, e.f);
            break;
        case EV_TX: { /* e.f left the sender: on to the wire, and the next one */
            int dir = e.f->dir;
            schedule_frame(s, e.f);
            start_tx(s, e.link, dir);
            break;
        }
        case EV_CONNECT:
            do_connect(s, e.link);
            break;
        case EV_PARTIAL:
            do_partial(s, e.link, e.node);
            break;
        case EV_OUTSIDER:
            if (s->out) sim_outsider_event(s);
            break;
        case EV_CONN_DOWN:
            link_down_for(s, e.link, e.node);
            break;
        case EV_TICK: {
            struct sim_node *nd = &s->nodes[e.node];
            if (!nd->alive || nd->paused || e.t != nd->next_tick) break;
            gc_core_tick(nd->core);
            nd->next_tick = s->now + gc_core_tick_interval(nd->core);
            push(s, (struct event){.t = nd->next_tick, .kind = EV_TICK, .node = e.node});
            break;
        }
        case EV_BCAST: {
            struct sim_node *nd = &s->nodes[e.node];
            if (!nd->alive || e.t != nd->next_bcast) break;
            if (s->workload && !nd->paused && gc_core_is_primary(nd->core)) {
                uint8_t buf[2048];
                uint64_t r = sim_rand(s);
                size_t len = SIM_MSG_HDR + r % 200;
                if ((r >> 32) % 40 == 0) len = 1500 + (r >> 16) % 500; /* larger than max_packet in tests */
                nd->sent_seq++;
                sim_msg_put(buf, nd->idx, nd->sent_seq, nd->restarts);
                for (size_t k = SIM_MSG_HDR; k < len; k++) buf[k] = (uint8_t)(k * 31 + nd->sent_seq);
                gc_core_broadcast(nd->core, buf, len);
            }
            nd->next_bcast = s->now + s->bcast_period / 2 + sim_rand(s) % s->bcast_period;
            push(s, (struct event){.t = nd->next_bcast, .kind = EV_BCAST, .node = e.node});
            break;
        }
        default:
            break;
        }
        chk_step(s);
    }
    if (!sim_failed(s) && s->now < t_end) s->now = t_end;
}
