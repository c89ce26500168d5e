/* gcomm/gc_core_int: the core's state (struct gc_core and its tables) and the functions its files
 * share. Private to gc_core, gc_log, gc_links, gc_order, gc_lease, gc_gather and gc_change. */
#ifndef GC_CORE_INT_H
#define GC_CORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_core.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_quorum.h"
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

#define LINK_HELD_HB 4
#define GC_EPOCH_JUMP (1ull << 20) /* how far a non-member may lift our epoch (rarely: gc_epoch_from_outside) */
#define GC_EPOCH_STEP 1024u        /* ... and how far at any time */

struct link {
    bool used, outbound;
    int id;
    uint64_t opened; /* a link without HELLO after 2 keepalive periods is dropped */
    int addr;  /* address slot we dialled, or -1 */
    int peer;  /* -1 until HELLO */
    bool hello_sent; /* an accepted link answers only once the dialler's HELLO proved it */
    gc_reasm reasm;
    /* Non-urgent frames sent and received on this link. A heartbeat may overtake the frames
     * sent before it (gc_env.send), so its state is held until they are all in (nheld is at
     * most LINK_HELD_HB: beyond it the newest replaces the last, so the oldest still apply). */
    uint64_t bulk_sent, bulk_recv;
    uint32_t nheld;
    struct gc_hb held[LINK_HELD_HB];
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
    /* a peer that is not a member and did not take part when it was asked to (it did not answer
     * our GATHER, or did not gather although it was the lowest): left out of the desired set
     * until skip_until, for a backoff that doubles while it goes on (gc_skip_peer) */
    uint64_t skip_until, skip_backoff;
    uint32_t misses;      /* our GATHERs it left unanswered in a row */
    /* a leader asks a peer that is not a member whether it takes part (a GATHER of its own epoch
     * to it alone, gc_probe_joiners) before it changes the view for it */
    uint64_t probe_epoch, probe_next, proved_at;
    uint64_t probe_base;   /* approaches its promise by GC_EPOCH_JUMP per probe (ours stays) */
    uint64_t proved_epoch; /* the probe it answered: its promise, which our GATHER must exceed */
    uint64_t gather_seen; /* when it last sent us a GATHER (taken or not): it takes part */
    /* its last delayed list (GC_MSG_DELAYED), from a member only; rep_time 0: none */
    uint64_t rep_time;
    uint8_t rep_n;
    tr_uuid rep_uuid[GC_MAX_MEMBERS];
    uint8_t rep_cnt[GC_MAX_MEMBERS];
};

/* An entry of our delayed list (gc_evict.c): a peer heard late, or whose link dropped, `cnt`
 * times; the count decays by one per evs.delayed_keep_period without a delay. */
struct delayed {
    bool used, delayed;
    tr_uuid uuid;
    char addr[GC_ADDR_MAX];
    uint8_t cnt;
    uint64_t tstamp; /* the last delay seen, or the last decay */
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

/* A STATE collected by the gatherer (its own included): what the decision reads (gc_quorum),
 * and what START is built from. */
struct coll {
    struct gc_report r;
    char name[GC_NAME_MAX], incoming[GC_ADDR_MAX];
    uint64_t dv_epoch, delivered;
    uint64_t first;
    uint32_t nentries, ndedup;
    struct entry *entries;
    uint64_t bor_lo, bor_n; /* entries[bor_lo..+bor_n) share the data of our own STATE's entries */
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
    bool quiet; /* cur is not delivered to the application when it is established (GC_START_QUIET) */
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
    uint64_t log_bytes; /* payload bytes in the log: what the retain limit bounds */

    uint64_t promised, max_epoch, promise_time, stop_time, lease_expiry, lease_grace;
    /* the lease lapsed while members holding the majority weight still spoke for the view
     * (gc_evaluate): since when (0: it holds), and when such a lapse was last logged */
    uint64_t lapse_since, lapse_logged;
    bool lapse_said; /* this lapse was logged: log its end too */
    uint64_t last_tick; /* when tick() last ran: a late one means this node's thread was held up */
    int promise_peer;
    int defer_peer;       /* the lower peer we leave the initiative to (gc_evaluate), or -1 */
    uint64_t defer_since; /* ... since when */
    uint64_t next_gather_ok;
    uint64_t raised_at; /* when a peer that is not a member last raised max_epoch (gc_epoch_from_outside) */
    uint64_t decline_backoff; /* our last gathers were declined (a primary component runs): wait this long */

    struct {
        uint64_t epoch, start;
        bool bootstrap;
        bool members_only; /* we counted only members for the initiative (gc_members_only) */
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
    uint64_t pend_sent_bytes;           /* their payload bytes */
    uint64_t next_sender_seq;
    bool fc_self;
    bool retain_wait;        /* pending messages wait for the log to shrink below the retain limit */
    bool sending, send_more; /* gc_send_pending runs / was asked again meanwhile */
    bool bootstrap_req;
    bool leave_req;          /* gc_core_leave was called: we leave once no change we take part in runs */
    uint64_t leave_req_time; /* when it was called */
    uint64_t leave_time;     /* when we sent LEAVE (state GC_ST_LEAVING) */

    uint64_t next_hb, start_t; /* start_t: gc_core_start, for pc.announce_timeout */
    bool gossip; /* learned an address since our last HELLOs: repeat them on every link */
    uint64_t acked_sent, acked_lazy, acked_sent_epoch; /* ACK sent to members that need it / to all */
    /* ACKs to the leader: the last one sent, and the last entry whose commit there waits for it */
    uint64_t acked_leader, ack_need;
    /* the delayed list and the evict list (gc_evict.c, docs/design/gcomm.md section 14) */
    struct delayed dl[MAX_PEERS];
    gc_evict_list evict;
    gc_evict_list view_evict; /* the evict list of the view we installed last (its START) */
    bool evicted;             /* a member told us we are evicted: isolated until restart */
    uint64_t next_dl_check;
    struct gc_stats st;
    uint64_t fc_since; /* st.fc_active: when it last became true */
    gc_reasm_budget reasm_budget; /* what all links hold in reassembly */
    gc_wbuf wb, fb;
    /* payload buffers of log entries and pending messages, kept for reuse: allocating and
     * freeing 64 KB buffers made the allocator hand pages back and fault them in again */
    struct {
        uint8_t *b[POOL_PER_CLASS];
        int n;
    } pool[POOL_CLASSES];
    size_t pool_bytes;
};

/* The last 8 hex digits: node UUIDs begin with their start time, so those digits tell apart
 * nodes started in the same minute. */
static inline const char *gc_uuid_short(const tr_uuid *u, char *buf)
{
    tr_uuid_print(u, buf);
    memmove(buf, buf + 28, 9);
    return buf;
}

static inline uint64_t gc_now(const gc_core *c) { return c->env.now(c->env.ctx); }

static inline uint64_t gc_log_end(const gc_core *c) { return c->log_first + c->log_n - 1; }

/* gc_log.c: payload buffers, the log ring, dedup */
uint8_t *gc_buf_get(gc_core *c, size_t len);
uint8_t *gc_buf_reasm_alloc(void *ctx, size_t len);
void gc_buf_put(gc_core *c, uint8_t *p, size_t len);
struct entry *gc_log_at(gc_core *c, uint64_t seqno);
int gc_log_append(gc_core *c, const gc_entry_ref *e);
void gc_log_trim_front(gc_core *c, uint64_t upto);
void gc_log_truncate_back(gc_core *c, uint64_t keep_upto);
void gc_log_reset(gc_core *c, uint64_t first);
gc_dedup *gc_dedup_find(gc_core *c, const tr_uuid *u, uint64_t inc, bool create);
void gc_dedup_note(gc_core *c, const tr_uuid *u, uint64_t inc, uint64_t seq);

/* gc_links.c: peers, links, addresses, sending */
const char *gc_printable(const char *s, char *buf, size_t cap);
struct peer *gc_peer_find(gc_core *c, const tr_uuid *u);
struct link *gc_link_slot(gc_core *c, int id);
bool gc_peer_fresh(const gc_core *c, const struct peer *p, uint64_t t);
void gc_raw_send(gc_core *c, struct link *l, const uint8_t *buf, size_t len, bool urgent);
bool gc_encode(gc_core *c, const gc_msg *m);
void gc_send_to_peer(gc_core *c, struct peer *p, const gc_msg *m);
void gc_send_to_members(gc_core *c, const gc_msg *m, const tr_uuid *first);
void gc_close_link(gc_core *c, struct link *l, bool tell_driver);
int gc_addr_add(gc_core *c, const char *a);
void gc_send_hello(gc_core *c, struct link *l);
void gc_dial(gc_core *c, uint64_t t);
void gc_on_hello(gc_core *c, struct link *l, const gc_msg *m);

/* gc_order.c: delivery, commit point, ordering, acknowledgements */
int gc_my_index(const gc_core *c, const gc_view *v);
void gc_deliver_view(gc_core *c, const gc_view *v, bool continuous);
void gc_keep_view(gc_core *c, const gc_view *v);
void gc_deliver_local_nonprim(gc_core *c);
void gc_pend_drop_all(gc_core *c);
void gc_pend_resend_all(gc_core *c);
void gc_deliver_entry(gc_core *c, uint64_t seqno);
void gc_advance(gc_core *c);
/* Orders a sender's message (base: its oldest still waiting, see gc_msg.h). false when an
 * earlier one of that sender is missing: nothing was ordered, the sender must send again. */
bool gc_leader_order(gc_core *c, const tr_uuid *sender, uint64_t inc, uint64_t seq,
                     uint64_t base, const uint8_t *data, size_t len);
bool gc_fc_blocked(gc_core *c);
bool gc_can_send(gc_core *c);
void gc_send_pending(gc_core *c);
void gc_note_appended(gc_core *c, const tr_uuid *sender, uint64_t sender_inc, uint64_t seqno);
void gc_send_ack(gc_core *c, bool all);

/* gc_lease.c: leases and heartbeats */
void gc_recompute_lease(gc_core *c);
bool gc_lease_spoken_for(gc_core *c, uint64_t t);
void gc_send_heartbeats(gc_core *c, uint64_t t);

/* gc_gather.c: collected states and the gatherer */
void gc_gather_clear(gc_core *c);
void gc_fill_state(gc_core *c, gc_msg *m, uint64_t epoch, gc_entry_ref *refs, const gc_msg *gather);
void gc_start_gather(gc_core *c, const tr_uuid *D, int nd, bool bootstrap);
void gc_gather_check(gc_core *c, bool timeout);
void gc_on_state_msg(gc_core *c, struct peer *p, const gc_msg *m);

/* gc_change.c: who may steer, view changes at every member */
bool gc_in_view(const gc_view *v, const struct peer *p);
bool gc_member_peer(const gc_core *c, const struct peer *p);
bool gc_trusted(const gc_core *c, const struct peer *p);
bool gc_anchored(const gc_core *c);
bool gc_members_only(const gc_core *c);
bool gc_proved(const gc_core *c, const struct peer *p, uint64_t t);
void gc_skip_peer(gc_core *c, struct peer *p);
bool gc_peer_gathers(const gc_core *c, const struct peer *p, uint64_t t);
uint64_t gc_epoch_next(uint64_t e);
bool gc_epoch_from_outside(gc_core *c, uint64_t e);
void gc_stop_supporting(gc_core *c);
void gc_leave_normal(gc_core *c, const char *why);
int gc_desired(gc_core *c, tr_uuid *D);
bool gc_in_set(const tr_uuid *set, int n, const tr_uuid *u);
void gc_finish_leave(gc_core *c);
/* Carries out a requested leave once no view change we take part in runs (gc_core.c). */
void gc_leave_poll(gc_core *c);
void gc_apply_start(gc_core *c, const gc_msg *m);
void gc_on_gather(gc_core *c, struct peer *p, const gc_msg *m);
void gc_on_start(gc_core *c, struct peer *p, const gc_msg *m);
void gc_probe_answer(gc_core *c, struct peer *p, const gc_msg *m);
void gc_evaluate(gc_core *c, uint64_t t);

/* gc_evict.c: the delayed list, the evict list, automatic eviction */
bool gc_is_evicted(const gc_core *c, const tr_uuid *u);
bool gc_evict_merge(gc_core *c, const gc_evict_list *e);
void gc_evict_link_down(gc_core *c, struct peer *p);
void gc_evict_tick(gc_core *c, uint64_t t);
void gc_on_delayed(gc_core *c, struct peer *p, const gc_msg *m);
void gc_on_evicted(gc_core *c, struct peer *p);
void gc_evict_refuse(gc_core *c, struct link *l);

#endif
