/* gcomm/gc_core: the protocol core as a pure state machine (no sockets, threads or clocks).
 * Drivers (gc_tcp, tests/sim) feed it events and carry out the actions it asks for via gc_env. */
#ifndef GC_CORE_H
#define GC_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_config.h"
#include "gcomm/gc_view.h"

typedef struct gc_core gc_core;

enum gc_delivery_kind { GC_DELIVER_MSG = 1, GC_DELIVER_VIEW };

/* One item of the ordered output stream. Pointers are valid during the callback only. */
struct gc_delivery {
    enum gc_delivery_kind kind;
    /* GC_DELIVER_MSG (only ever in a primary view) */
    tr_uuid sender;
    int64_t seqno;   /* global seqno: consecutive within history */
    tr_uuid history; /* changes only when the group re-forms with no surviving log */
    const uint8_t *data;
    size_t len;
    /* GC_DELIVER_VIEW: epoch 0 marks a local view (cut off: members = self; left: n = 0). */
    const gc_view *view;
    int my_index;     /* -1 if not a member (after leaving) */
    bool continuous;  /* primary view reached from the previous primary view without a gap */
    /* a primary view: its stream continues after this seqno of `history` (everything up to it
     * was ordered in earlier views, whether this node delivered it or skipped it); -1 otherwise */
    int64_t close;
};

/* Everything the core needs from the outside world. Callbacks must not re-enter the core. */
struct gc_env {
    void *ctx;
    uint64_t (*now)(void *ctx);    /* monotonic nanoseconds */
    uint64_t (*random)(void *ctx); /* uniform 64 bits */
    /* Sends one core message (the driver frames it). Links are reliable FIFO until closed,
     * except that an urgent message (a heartbeat or an echo: small, never fragmented) may
     * overtake non-urgent ones the driver still queues; never another urgent one. Leases need
     * this: behind a message that takes seconds to cross a link, a heartbeat would come back
     * too late to count. */
    void (*send)(void *ctx, int link, const uint8_t *buf, size_t len, bool urgent);
    /* Starts dialling addr; returns a link id (conn_up or conn_down follows) or -1. */
    int (*connect)(void *ctx, const char *addr);
    void (*close)(void *ctx, int link); /* no conn_down follows */
    void (*deliver)(void *ctx, const struct gc_delivery *d);
    /* Replaces the persisted gvwstate.dat contents; len 0 deletes it. */
    void (*persist)(void *ctx, const uint8_t *buf, size_t len);
};

struct gc_stats {
    uint64_t msgs_delivered, bytes_delivered, msgs_sent, views, view_changes_started;
    uint64_t quiet_views; /* primary views not delivered: the same members as the one before (GC_START_QUIET) */
    uint64_t state_entries_sent, start_entries_sent; /* log entries this node sent in STATE / START */
    uint64_t repl_latency_last_ns, repl_latency_avg_ns, repl_latency_max_ns; /* own messages */
    uint64_t pending;   /* own messages not yet delivered */
    uint64_t retained_bytes; /* payload bytes in the log that some member has not acknowledged */
    uint64_t retain_waits;   /* times sending stopped at the retain limit */
    uint64_t reasm_bytes;    /* held for fragmented messages not yet complete (all links) */
    int64_t last_seqno; /* last delivered global seqno */
    uint64_t epoch;
    bool primary, fc_paused; /* fc_paused: flow control, or the retain limit, holds our messages */
    uint32_t members;
    uint32_t weight; /* sum of the members' pc.weight in an established primary view (lease or
                      * not, as gc_core_view_weight), else 0 */
    int state;       /* enum gc_state (gc_msg.h) */
    /* Flow control as Galera's gcs counts it (wsrep_flow_control_*): */
    bool fc_active;          /* a stop (ours or a member's) is in force in the current view */
    uint64_t fc_stops_sent;  /* times this node asked the group to stop */
    uint64_t fc_stops_recv;  /* stops that took effect here: a member's, ours included */
    uint64_t fc_paused_ns;   /* total time fc_active held, this core's life */
    /* Own messages not yet handed to the leader (held by flow control or the retain limit),
     * wsrep_local_send_queue: now, max and min since the last gc_core_stats_flush, and the sum
     * of what each new message found ahead of it over `send_q_samples` broadcasts. */
    uint64_t send_q, send_q_max, send_q_min, send_q_sum, send_q_samples;
    /* The longest a heartbeat of ours took to come back as a member's echo (send to echo),
     * since the last gc_core_stats_flush: the lease (keepalive_period/2) lapses when it stays
     * above lease - keepalive_period/8; the view is given up only past lease + keepalive_period,
     * or when the members go quiet (design/gcomm.md section 7). */
    uint64_t echo_max_ns;
    /* Times the lease lapsed while members holding the majority weight were still heard in the
     * view (late echoes: the node stayed in it, not primary until they came back), this core's
     * life. */
    uint64_t lease_lapses;
};

/* gvw/gvwlen: the persisted gvwstate.dat contents, or NULL. The uuid comes from it if present. */
gc_core *gc_core_new(const struct gc_config *cfg, const struct gc_env *env, const uint8_t *gvw, size_t gvwlen);
void gc_core_free(gc_core *c);
void gc_core_start(gc_core *c);

/* Driver events. addr is the dialled address for outbound links, NULL for accepted ones. */
void gc_core_conn_up(gc_core *c, int link, const char *addr);
void gc_core_conn_down(gc_core *c, int link);
void gc_core_recv(gc_core *c, int link, const uint8_t *buf, size_t len);
/* Part of a frame arrived on the link (the driver holds it until the rest comes): the peer is
 * heard, for failure detection only. */
void gc_core_recv_partial(gc_core *c, int link);
/* Called after a batch of recv events: sends coalesced acknowledgements. */
void gc_core_flush(gc_core *c);
void gc_core_tick(gc_core *c);
uint64_t gc_core_tick_interval(const gc_core *c);

/* 0, -ENOTCONN (not in a primary view), -EMSGSIZE, -ESHUTDOWN (left) or -ENOMEM. */
int gc_core_broadcast(gc_core *c, const void *buf, size_t len);
/* Own messages not yet delivered (gc_stats.pending), cheaply. */
uint64_t gc_core_pending(const gc_core *c);
/* A graceful leave: LEAVE to all at once, or, while a view change that counts us runs, once its
 * primary view is established (at most t_change later); broadcasts fail from the call on. */
void gc_core_leave(gc_core *c);
bool gc_core_has_left(const gc_core *c);
void gc_core_set_weight(gc_core *c, uint8_t weight);
/* Our weight in the current established primary view; -1 when there is none. */
int gc_core_view_weight(const gc_core *c);
/* pc.ignore_sb, pc.ignore_quorum at run time: used from the next view decision on. */
void gc_core_set_ignore(gc_core *c, bool ignore_sb, bool ignore_quorum);
void gc_core_bootstrap(gc_core *c);
void gc_core_set_isolate(gc_core *c, bool on);
void gc_core_fc(gc_core *c, bool stop);

/* What a core is doing, for tests that check the protocol from outside (the simulator's leader
 * rule). Pointers are valid until the next call into the core. */
struct gc_core_probe {
    enum gc_state state;
    const gc_view *cur;    /* the view last installed (NORMAL in it, or left for a change); NULL: none */
    uint64_t gather_epoch; /* while GATHER: the epoch it gathers */
    bool gather_bootstrap; /* ... started by pc.bootstrap */
    bool gather_members_only; /* ... counting only members of its views for who initiates */
    int gather_ntargets;      /* ... the peers it invited */
    const tr_uuid *gather_targets;
    const gc_view *dv, *last_prim; /* the last view delivered, the last primary view; NULL: none */
    const gc_evict_list *evict;      /* our evict list */
    const gc_evict_list *view_evict; /* the one the view last installed came with (its START) */
    bool evicted;                    /* a member evicted us */
};
void gc_core_probe(const gc_core *c, struct gc_core_probe *p);

/* True while this node is in an established primary view and holds its lease. */
bool gc_core_is_primary(const gc_core *c);
const tr_uuid *gc_core_uuid(const gc_core *c);
/* How this node reaches peer uuid: the driver's id of its link (-1: none up) and the gcomm
 * address it announced in its HELLO (host:port, "" before one). false: no such peer. */
bool gc_core_peer_addr(gc_core *c, const tr_uuid *uuid, int *link, char *listen, size_t len);
void gc_core_stats(const gc_core *c, struct gc_stats *s);

/* The delayed list and the evict list (docs/design/gcomm.md section 14). */
struct gc_delayed_entry {
    tr_uuid uuid;
    char addr[GC_ADDR_MAX]; /* the address it announced */
    uint8_t cnt;            /* delays counted, decaying by one per evs.delayed_keep_period */
};
/* Our delayed list (Galera's wsrep_evs_delayed): how many entries were written (at most max). */
int gc_core_delayed(const gc_core *c, struct gc_delayed_entry *out, int max);
const gc_evict_list *gc_core_evict_list(const gc_core *c);
/* evs.evict=UUID: evicts u by hand (the members learn it from us). */
void gc_core_evict(gc_core *c, const tr_uuid *u);
/* evs.evict with an empty value: clears the evict list, every member's with it. */
void gc_core_evict_clear(gc_core *c);
void gc_core_set_auto_evict(gc_core *c, uint32_t n);
/* True once a member told us we are evicted: the node stays out until it restarts. */
bool gc_core_evicted(const gc_core *c);
/* Starts a new sampling window for send_q_max, send_q_min and the send queue average (Galera
 * restarts them at FLUSH STATUS). */
void gc_core_stats_flush(gc_core *c);

#endif
