/* tests/sim/sim: shared types of the gcomm simulator: virtual time, nodes, links and faults.
 * Everything is driven by one seeded PRNG so a seed replays exactly. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcomm/gc_core.h"

#define SIM_MAX_NODES 7
#define SIM_MS 1000000ull
#define SIM_SEC 1000000000ull

struct sim;

/* A workload message starts with a header naming its sender node and the sender's own count of
 * broadcasts (over all its restarts): the checker finds duplicates and reordering per sender. */
#define SIM_MSG_HDR 20
#define SIM_MSG_MAGIC 0x57534d53u
void sim_msg_put(uint8_t *buf, int node, uint64_t seq, int restarts);
bool sim_msg_get(const uint8_t *buf, size_t len, int *node, uint64_t *seq);

struct sim_node {
    struct sim *sim;
    int idx;
    gc_core *core;
    bool alive, paused;
    uint64_t rng;
    int restarts;
    char addr[32];
    uint8_t *disk; /* gvwstate.dat contents; survives crashes */
    size_t disklen;
    int group; /* partition group */
    uint64_t next_tick, next_bcast, sent_seq;
    uint64_t acks_sent; /* ACK frames this node sent */
    uint64_t max_txq;   /* most bytes ever waiting for the wire on one of its links */
    bool left;
    /* checker state */
    gc_view view; /* last delivered view */
    bool have_view;
    gc_view prev_view; /* the view delivered before it */
    bool prev_primary;
    tr_uuid hist;
    int64_t last_seqno;
    bool skip_ok;          /* a non-continuous view was delivered since the last message */
    uint64_t vs_count, vs_hash; /* messages since the last view */
    uint64_t delivered_total;
    uint64_t nonprim_views; /* non-primary views delivered */
    uint64_t last_deliver_time;
    uint64_t last_from[SIM_MAX_NODES]; /* the last workload message delivered from each sender */
    /* leader rule: what the core was doing at the previous step (gc_core_probe) */
    int pr_state;
    bool pr_leading;       /* NORMAL in a view it leads */
    uint64_t pr_gather;    /* epoch of the gather last seen */
    gc_view_id pr_cur;     /* the view last seen installed */
    gc_view pr_cur_view;
    gc_view_id core_dv;    /* the core's view to deliver in at the previous step: a quiet view
                            * (GC_START_QUIET) is installed there without being delivered */
    /* evict lists: what this incarnation has had in its list (it may only grow without clears) */
    gc_evict_list ev_seen;
    int ev_restarts;
};

struct frame {
    struct frame *next;
    int link, dir; /* dir 0: a -> b, 1: b -> a */
    bool fin;      /* the sender closed the link */
    bool urgent;   /* may overtake bulk frames not yet on the wire (gc_env.send) */
    size_t len;
    uint8_t data[];
};

struct sim_link {
    bool used;
    int a, b;           /* node indices; a dialled */
    bool up[2];         /* endpoint a (0) / b (1) has seen conn_up and not closed */
    bool dead;          /* closed by either side or broken */
    uint64_t last_arrival[2];
    struct frame *held_head[2], *held_tail[2]; /* frames waiting while blocked */
    /* with a bandwidth: frames waiting for the wire at the sender, urgent ones first */
    struct frame *txq_head[2], *txq_tail[2], *utx_head[2], *utx_tail[2];
    bool tx_busy[2];
    uint64_t txq_bytes[2]; /* bytes in txq/utx */
    uint64_t gen[2];    /* node incarnation (restart count) at each end */
};

/* EV_PARTIAL: bytes of a frame still on the wire reach the receiver (gc_core_recv_partial) */
enum ev_kind { EV_FRAME = 1, EV_CONNECT, EV_CONN_DOWN, EV_TICK, EV_FAULT, EV_BCAST, EV_TX, EV_OUTSIDER, EV_PARTIAL };

struct event {
    uint64_t t, seq;
    enum ev_kind kind;
    int node, link;
    struct frame *f;
};

struct sim {
    uint64_t seed, rng, now, seq;
    int n;
    bool quiet;
    int verbose;
    struct sim_node nodes[SIM_MAX_NODES + 1]; /* the slot after the last node: the outsider's */
    struct sim_link *links;
    int nlinks, links_cap;
    struct event *heap;
    size_t heap_n, heap_cap;
    bool oneway[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* frames i -> j blocked */
    uint64_t extra_delay[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* added to frames i -> j (a queue
                                                                * ahead of them on a far link) */
    uint64_t max_packet;
    uint64_t bytes_per_sec; /* link bandwidth (frames queue behind each other); 0: unlimited */
    uint64_t node_bps[SIM_MAX_NODES + 1]; /* bandwidth of every link of one node (the lower one applies) */
    struct sim_outsider *out; /* a process that knows the group name and tries to steer it (sim_outsider.c) */
    uint64_t retain_limit; /* gcomm's retain limit for nodes started from now: 0 default, UINT64_MAX none */
    bool workload;
    uint64_t bcast_period;
    uint32_t auto_evict; /* evs.auto_evict of nodes started from now */
    bool evict_ops;      /* an operator evicted or cleared by hand: evict lists may shrink */
    int evicted_nodes;   /* nodes out of the group by eviction at the end of a seed */
    int evict_clears;    /* the operator cleared the evict lists to bring the group back */
    bool ever_crashed;
    char fail[512];
    /* an extra consumer of deliveries (the node simulator); it must not re-enter the core */
    void (*deliver_hook)(struct sim *s, struct sim_node *nd, const struct gc_delivery *d);
    void *hook_ctx;
    /* stats */
    uint64_t events, msgs;
};

/* sim_net.c */
extern struct sim *sim_current; /* the simulation last initialised (log lines take its time) */
void sim_init(struct sim *s, uint64_t seed, int n, uint64_t max_packet);
void sim_free(struct sim *s);
void sim_node_start(struct sim *s, int i);
void sim_crash(struct sim *s, int i);
void sim_pause(struct sim *s, int i, bool on);
void sim_partition(struct sim *s, const int *group);
void sim_heal(struct sim *s);
void sim_set_oneway(struct sim *s, int from, int to, bool blocked);
void sim_break_link(struct sim *s);
void sim_break_link_between(struct sim *s, int a, int b);
/* For the outsider: opens a link from node slot `from` to node `to`; sends raw bytes on it from
 * one side; schedules an EV_OUTSIDER event. */
int sim_link_open(struct sim *s, int from, int to);
void sim_link_send(struct sim *s, int link, int side, const uint8_t *buf, size_t len, bool urgent);
void sim_schedule_outsider(struct sim *s, uint64_t t);

/* sim_outsider.c: an outsider that knows the group name (HELLO) but is no member: poisoned
 * heartbeats, GATHER and START, FRAG floods (also before HELLO), flow control; it never answers
 * a GATHER. chk_* calls sim_outsider_check: it changed nothing. */
void sim_outsider_add(struct sim *s);
void sim_outsider_free(struct sim *s);
void sim_outsider_event(struct sim *s);
void sim_outsider_conn(struct sim *s, int link, bool up);
void sim_outsider_recv(struct sim *s, int link, const uint8_t *buf, size_t len);
void sim_outsider_check(struct sim *s);
bool sim_outsider_is(const struct sim *s, const tr_uuid *u);
void sim_run_until(struct sim *s, uint64_t t);
uint64_t sim_rand(struct sim *s);
bool sim_failed(const struct sim *s);

/* sim_check.c */
void chk_reset(void);
void chk_operator_bootstrap(struct sim *s);
void chk_on_deliver(struct sim *s, struct sim_node *nd, const struct gc_delivery *d);
void chk_step(struct sim *s);
void chk_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
