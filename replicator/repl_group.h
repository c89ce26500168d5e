/* replicator/repl_group: the seam between the node and group communication.
 * A group delivers, in one total order, views and broadcast messages to a sink. gcomm plugs in here. */
#ifndef REPL_GROUP_H
#define REPL_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "replicator/repl_types.h"

enum repl_gev_type {
    REPL_GEV_VIEW,   /* membership changed: view is set */
    REPL_GEV_MSG,    /* a broadcast message in total order: sender, buf, len */
    REPL_GEV_CLOSED, /* the group is left for good: nothing follows */
    REPL_GEV_FAILED, /* this node lost an ordered event (out of memory): it must stop */
    REPL_GEV_SKIP,   /* group seqnos gseq-span..gseq held pieces of actions a view cut off */
    REPL_GEV_LOST    /* a view cut off this node's own action: buf/len hold its start */
};

struct repl_gview {
    bool primary;
    int64_t conf_id;
    tr_uuid history; /* the group's message history (gcomm's); seqnos below are in it */
    int64_t close;   /* primary: its stream continues after this message seqno */
    int my_idx;
    int memb_num;
    struct repl_member *members; /* memb_num entries */
};

struct repl_gev {
    enum repl_gev_type type;
    struct repl_gev *next;
    tr_uuid sender;
    int64_t gseq; /* REPL_GEV_MSG: the group's seqno of the message (consecutive in its history) */
    /* MSG, SKIP: group seqnos gseq-span..gseq-1 came before it (an action in pieces, and pieces
     * nobody keeps: repl_frag.h); 0 for a message that is one group message */
    int64_t span;
    void *buf; /* owned by the event */
    size_t len;
    struct repl_gview view;
};

/* Where a group delivers. Called from the group's own thread, one event at a time, in order;
 * takes ownership of the event. */
typedef void (*repl_gev_sink)(void *ctx, struct repl_gev *ev);

struct tr_cfg;

#define REPL_HOST_LEN 64 /* a host as text, NUL included: IPv6 fits */

struct repl_group {
    const struct repl_group_ops *ops;
    tr_uuid self; /* this member's uuid in the group (the group may keep its own across restarts) */
};

/* What the group layer did, for the status variables (docs/operations.md, "Status variables").
 * Counters are cumulative over the group's life, across reconnects. */
struct repl_group_stats {
    bool fc_active;       /* a stop (ours or a member's) holds write-set broadcasts now */
    int64_t fc_paused_ns; /* total time they were held */
    int64_t fc_sent;      /* stops this member asked for */
    int64_t fc_recv;      /* stops that took effect here, its own included */
    /* broadcasts waiting to go out (held by flow control): now, max and min since the last
     * stats_flush, and the average a new broadcast found ahead of it */
    int64_t send_q, send_q_max, send_q_min;
    double send_q_avg;
    int64_t cluster_weight; /* sum of pc.weight over the primary view's members, else 0 */
    const char *evs_state;  /* static; Galera's EVS state names; NULL: the group has none */
    int proto;              /* the group's wire protocol version (wsrep_protocol_GCS); 0: none */
    /* Galera's wsrep_evs_delayed ("uuid:address:count", comma-separated) and wsrep_evs_evict_list
     * (uuids); "" when empty or the group keeps none */
    char evs_delayed[2560];
    char evs_evict_list[1200];
};

struct repl_group_ops {
    /* Joins (or, with bootstrap, forms) the group named by url. 0 or -1 with err set. */
    int (*connect)(struct repl_group *g, const char *cluster_name, const char *url, bool bootstrap,
                   char *err, size_t errlen);
    /* Broadcasts the concatenation of bufs; 0, or -ENOTCONN when not in a primary component.
     * Control messages (STATE, LAST, CAUSAL): never wait for flow control, or the state
     * exchange and the queue drain that would lift it could deadlock. */
    int (*broadcast)(struct repl_group *g, const struct repl_buf *bufs, size_t n);
    /* The same for a write-set (WS, TOI): waits first while a stop from any member is in force.
     * A group that cannot tell the two apart may hold both, provided it never blocks the
     * caller (gcomm queues them). */
    int (*broadcast_ws)(struct repl_group *g, const struct repl_buf *bufs, size_t n);
    /* Flow control: stop asks every member to hold write-sets until this member resumes; the
     * stops of a member that leaves are lifted. Idempotent, never blocks, callable from any
     * thread and from inside the sink (where the group may hold its own lock). */
    void (*flow_control)(struct repl_group *g, bool stop);
    void (*stats)(struct repl_group *g, struct repl_group_stats *st);
    /* Starts new sampling windows (send queue max/min/avg), at FLUSH STATUS; may be NULL. */
    void (*stats_flush)(struct repl_group *g);
    /* Graceful leave: the sink then receives REPL_GEV_CLOSED. */
    void (*leave)(struct repl_group *g);
    void (*destroy)(struct repl_group *g);
    /* A run-time setting of the group (pc.weight, pc.bootstrap, gmcast.isolate) changed in
     * opts; may be NULL for groups without such settings. */
    void (*setting)(struct repl_group *g, const struct tr_cfg *opts, const char *key);
    /* The hosts a member's connections come from as the group sees them (text as
     * tr_sockaddr_text spells it, no port), for the IST receiver to check its donor against:
     * the count (at most max), -1 when the member is unknown here. Callable from any thread
     * while connected. NULL: the group cannot tell (the receiver then relies on the token). */
    int (*member_hosts)(struct repl_group *g, const tr_uuid *member, char (*hosts)[REPL_HOST_LEN],
                        int max);
};

struct repl_group_args {
    tr_uuid self;
    const char *name;
    const char *incoming;
    repl_gev_sink sink;
    void *sink_ctx;
    bool (*allow)(void *ctx, const char *addr); /* incoming links' addresses; NULL: all */
    void *allow_ctx;
};

/* gcomm over TCP. opts: the node's option store (gmcast.*, evs.*, pc.*, base_*); data_dir holds
 * gvwstate.dat. The member uuid is gcomm's own (kept in gvwstate.dat). */
struct tr_cfg;
struct repl_group *repl_group_gcomm_new(const struct repl_group_args *args,
                                        const struct tr_cfg *opts, const char *data_dir);
/* The options gcomm runs with: opts, or, when the cluster address has ?key=value options (Galera
 * applies them to group communication), a new store with them set over opts (the caller frees it
 * when it is not opts). NULL with err for an option that is not gcomm's, or out of memory. */
struct tr_cfg *repl_group_gcomm_url_cfg(const struct tr_cfg *opts, const char *url, char *err, size_t errlen);

void repl_gev_free(struct repl_gev *ev);

#endif
