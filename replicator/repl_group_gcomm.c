/* replicator/repl_group_gcomm: the replicator's group over gcomm (TCP, views, total order).
 * A pump thread turns gcomm's ordered stream into repl_gev events for the node's queue. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_cfg.h"
#include "common/tr_log.h"
#include "common/tr_tls.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_node.h"
#include "replicator/repl_frag.h"
#include "replicator/repl_group.h"
#include "replicator/repl_options.h"

struct gcomm_group {
    struct repl_group base;
    struct repl_group_args args;
    struct gc_config cfg;
    gc_node *gn;
    struct repl_gev *failed; /* kept ready: tells the node an ordered event was lost */
    pthread_t pump;
    bool pump_started;
    const struct tr_cfg *opts; /* the node's options, read again at every connect */
    struct gc_stats past; /* fc counters of the connections before this one */
    char data_dir[GC_PATH_MAX];
    /* Held by leave, connect and destroy: a leave runs on the node's service thread and polls
     * its gc_node until the group confirms, while the stream it ends may already have closed
     * and the host connected again; the reconnect must not destroy that gc_node under it (a
     * use after free that crashed mariadbd in galera.galera_wsrep_schema_detached). */
    pthread_mutex_t life_mu;
    /* Guards the gn pointer, not the node: readers (broadcast, flow control, stats, settings)
     * hold it across their call so that a reconnect or destroy, which swaps the pointer out under
     * the write lock before stopping the old node, never frees a node one of them is using. The
     * write lock is held only for the swap, so a reader on the pump thread never waits long. */
    pthread_rwlock_t gn_lock;
    gc_node *pump_gn; /* the node the running pump reads: set before it starts */
    /* Actions longer than a piece go as several messages (repl_frag.h). send_mu keeps the
     * pieces of one action together in this node's sending order (gcomm keeps a sender's
     * order), so a member holds at most one partial action per sender. */
    pthread_mutex_t send_mu;
    uint64_t act_no;        /* under send_mu: the last action sent in pieces */
    size_t piece;           /* set with gn (under gn_lock's write side): piece_size() */
    atomic_bool closing;    /* destroy runs: a sender waiting for its window gives up */
    struct repl_defrag df;  /* the pump's own (set up before it starts) */
};

/* The bytes of one piece, header included: gcomm's setting (Galera's gcs.max_packet_size cuts
 * actions the same way), within gcomm's own frame size so that a piece crosses a link whole,
 * with room for gcomm's header. */
#define PIECE_WINDOW 64 /* own messages in flight while an action goes in pieces: 4 MB */

static size_t piece_size(const struct gcomm_group *g)
{
    size_t p = g->cfg.max_packet_size;
    if (p > GC_FRAG_MAX) p = GC_FRAG_MAX;
    p = p > 256 ? p - 256 : 0; /* gcomm's own header */
    return p < REPL_FRAG_MIN_PIECE ? REPL_FRAG_MIN_PIECE : p;
}

/* gcomm's view, as the node's stream wants it. */
static struct repl_gev *view_event(const struct gc_event *e)
{
    struct repl_gev *ev = calloc(1, sizeof *ev);
    uint32_t n = e->view.n;
    struct repl_member *m = calloc(n ? n : 1, sizeof *m);
    if (!ev || !m) {
        free(ev);
        free(m);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        m[i].id = e->view.m[i].uuid;
        /* wsrep's member name is 32 bytes, not NUL-terminated when full (the host uses strnlen) */
        memcpy(m[i].name, e->view.m[i].name, strnlen(e->view.m[i].name, sizeof m[i].name));
        memcpy(m[i].incoming, e->view.m[i].incoming,
               strnlen(e->view.m[i].incoming, sizeof m[i].incoming - 1));
    }
    ev->type = REPL_GEV_VIEW;
    ev->view.primary = e->view.primary;
    ev->view.conf_id = (int64_t)e->view.id.epoch;
    ev->view.my_idx = e->my_index;
    ev->view.memb_num = (int)n;
    ev->view.members = m;
    ev->view.history = e->history;
    ev->view.close = e->seqno;
    return ev;
}

/* A view drops every partial action, on every member alike (repl_frag.h). The node hears of
 * the group seqnos their pieces took, and of its own action if it was cut. true: out of memory. */
static bool view_cut(struct gcomm_group *g)
{
    int64_t lo, hi;
    uint8_t *own;
    size_t ownlen;
    repl_defrag_view(&g->df, &lo, &hi, &own, &ownlen);
    if (lo >= 0) {
        struct repl_gev *ev = calloc(1, sizeof *ev);
        if (!ev) {
            free(own);
            return true;
        }
        ev->type = REPL_GEV_SKIP;
        ev->gseq = hi;
        ev->span = hi - lo;
        g->args.sink(g->args.sink_ctx, ev);
    }
    if (own) {
        tr_warn("a view change cut this node's action of %zu+ bytes short: it is not ordered", ownlen);
        struct repl_gev *ev = calloc(1, sizeof *ev);
        if (!ev) { /* its waiter would wait for ever */
            free(own);
            return true;
        }
        ev->type = REPL_GEV_LOST;
        ev->buf = own;
        ev->len = ownlen;
        g->args.sink(g->args.sink_ctx, ev);
    }
    return false;
}

/* A message in total order: an action, or a piece of one. true: out of memory (a hole). */
static bool take_msg(struct gcomm_group *g, struct gc_event *e, struct repl_gev **out)
{
    uint8_t *whole;
    size_t wlen;
    int64_t first;
    *out = NULL;
    switch (repl_defrag_feed(&g->df, &e->sender, e->seqno, e->data, e->len, &whole, &wlen, &first)) {
    case REPL_DEFRAG_WHOLE:
        whole = e->data; /* take the bytes over: no copy */
        wlen = e->len;
        e->data = NULL;
        e->len = 0;
        break;
    case REPL_DEFRAG_DONE: break;
    case REPL_DEFRAG_MORE: return false;
    case REPL_DEFRAG_DROPPED: {
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&e->sender, u);
        tr_warn("dropping a piece of an action from %s at %lld (its start is not here, or it is malformed)", u,
                (long long)e->seqno);
        return false;
    }
    default: return true;
    }
    struct repl_gev *ev = calloc(1, sizeof *ev);
    if (!ev) {
        free(whole);
        return true;
    }
    ev->type = REPL_GEV_MSG;
    ev->sender = e->sender;
    ev->gseq = e->seqno;
    ev->span = e->seqno - first;
    ev->buf = whole;
    ev->len = wlen;
    *out = ev;
    return false;
}

static void *pump_main(void *arg)
{
    struct gcomm_group *g = arg;
    gc_node *gn = g->pump_gn;
    for (;;) {
        struct gc_event *e = NULL;
        int rc = gc_node_recv(gn, &e, -1);
        if (rc == -ESHUTDOWN) break;
        if (rc != 0 || !e) continue;
        struct repl_gev *ev = NULL;
        bool lost = false;
        if (e->kind == GC_EV_FAILED) {
            lost = true;
        } else if (e->kind == GC_EV_VIEW) {
            /* After our own leave gcomm reports a view without us: the end of the stream. */
            if (e->my_index >= 0) lost = view_cut(g) || !(ev = view_event(e));
        } else {
            lost = take_msg(g, e, &ev);
        }
        gc_event_free(e);
        if (lost && g->failed) { /* a hole in the ordered stream: the node must stop */
            ev = g->failed;
            g->failed = NULL;
        }
        if (ev) g->args.sink(g->args.sink_ctx, ev);
    }
    struct repl_gev *closed = calloc(1, sizeof *closed);
    if (closed) {
        closed->type = REPL_GEV_CLOSED;
        g->args.sink(g->args.sink_ctx, closed);
    }
    return NULL;
}

/* Copies src into dst; -1 (and nothing copied) when it does not fit. */
static int copy_fit(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap) return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

static int fill_from(struct gc_config *c, struct gcomm_group *g, const struct tr_cfg *opts, const char *data_dir,
                     char *err, size_t errlen);

/* Galera applies the options of a gcomm://host?key=value&... address to group communication,
 * over wsrep_provider_options. They go into a copy of the store (typed and checked as any option;
 * the node's own store and what it reports stay as set) from which this group reads its
 * configuration. Only group-communication keys: anything else would be ignored, so it fails. */
tr_cfg *repl_group_gcomm_url_cfg(const struct tr_cfg *opts, const char *url, char *err, size_t errlen)
{
    struct gc_url_opt uo[GC_URL_OPTS_MAX];
    int n = gc_url_options(url, uo, GC_URL_OPTS_MAX, err, errlen);
    if (n <= 0) return n < 0 ? NULL : (tr_cfg *)opts;
    static const char *const prefixes[] = {"evs.", "gmcast.", "pc.", "socket.", "base_host", "base_port"};
    for (int i = 0; i < n; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
            ok = ok || !strncmp(uo[i].key, prefixes[k], strlen(prefixes[k]));
        if (!ok) {
            snprintf(err, errlen, "option '%s' in the cluster address is not a group-communication option: set it "
                     "in wsrep_provider_options", uo[i].key);
            return NULL;
        }
    }
    tr_cfg *copy = repl_options_new();
    char *all = tr_cfg_format(opts);
    int rc = copy && all ? tr_cfg_parse(copy, all, TR_CFG_AT_INIT, err, errlen) : -1;
    free(all);
    for (int i = 0; rc == 0 && i < n; i++) {
        char e[256];
        if ((rc = tr_cfg_set(copy, uo[i].key, uo[i].value, TR_CFG_AT_INIT, e, sizeof e)))
            snprintf(err, errlen, "in the cluster address: %s", e);
        else
            tr_info("cluster address option %s=%s applied to group communication", uo[i].key, uo[i].value);
    }
    if (rc) {
        if (!copy || !all) snprintf(err, errlen, "out of memory");
        tr_cfg_free(copy);
        return NULL;
    }
    return copy;
}

static int fill_config(struct gcomm_group *g, const struct tr_cfg *node_opts, const char *data_dir,
                       const char *url, char *err, size_t errlen)
{
    struct gc_config *c = &g->cfg;
    gc_config_defaults(c);
    tr_cfg *opts = url ? repl_group_gcomm_url_cfg(node_opts, url, err, errlen) : (tr_cfg *)node_opts;
    if (!opts) return -1;
    int rc = fill_from(c, g, opts, data_dir, err, errlen);
    /* TLS at connect (url set): Galera's rules for socket.ssl*, and gc_node_create loads the
     * files, so a node whose key, certificate or CA cannot be used does not start (fail closed),
     * with a message naming the file */
    if (!rc && url) rc = tr_tls_opts_from_cfg(opts, &c->tls, err, errlen);
    if (opts != node_opts) tr_cfg_free(opts);
    return rc;
}

static int fill_from(struct gc_config *c, struct gcomm_group *g, const struct tr_cfg *opts, const char *data_dir,
                     char *err, size_t errlen)
{
    struct repl_options o;
    if (repl_options_read(opts, &o)) {
        snprintf(err, errlen, "options store incomplete");
        return -1;
    }
    snprintf(c->name, sizeof c->name, "%s", g->args.name ? g->args.name : "");
    snprintf(c->incoming, sizeof c->incoming, "%s", g->args.incoming ? g->args.incoming : "");
    c->allow = g->args.allow;
    c->allow_ctx = g->args.allow_ctx;
    if (copy_fit(c->listen_addr, sizeof c->listen_addr, o.listen_addr) ||
        copy_fit(c->base_host, sizeof c->base_host, o.base_host)) {
        snprintf(err, errlen, "gmcast.listen_addr or base_host too long");
        return -1;
    }
    c->base_port = (uint16_t)o.base_port;
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir ? data_dir : "");
    c->keepalive_ns = (uint64_t)o.evs_keepalive_period_ns;
    c->suspect_ns = (uint64_t)o.evs_suspect_timeout_ns;
    c->inactive_ns = (uint64_t)o.evs_inactive_timeout_ns;
    c->install_ns = (uint64_t)o.evs_install_timeout_ns;
    c->auto_evict = (uint32_t)o.evs_auto_evict;
    c->delay_margin_ns = (uint64_t)o.evs_delay_margin_ns;
    c->delayed_keep_ns = (uint64_t)o.evs_delayed_keep_period_ns;
    c->weight = (uint8_t)o.pc_weight;
    c->ignore_sb = o.pc_ignore_sb;
    c->ignore_quorum = o.pc_ignore_quorum;
    c->recovery = o.pc_recovery;
    c->wait_prim = o.pc_wait_prim;
    c->wait_prim_timeout_ns = (uint64_t)o.pc_wait_prim_timeout_ns;
    c->announce_ns = (uint64_t)o.pc_announce_timeout_ns;
    c->max_packet_size = (uint32_t)o.gcs_max_packet_size;
    c->retain_limit = (uint64_t)o.retain_limit;
    c->busy_poll_us = (uint32_t)o.busy_poll_us;
    c->isolate = o.gmcast_isolate != 0;
    c->peer_timeout_ns = (uint64_t)o.gmcast_peer_timeout_ns;
    return 0;
}

/* Sets the node pointer readers see; returns the one it replaces (see gn_lock). */
static gc_node *swap_gn(struct gcomm_group *g, gc_node *gn)
{
    pthread_rwlock_wrlock(&g->gn_lock);
    gc_node *old = g->gn;
    g->gn = gn;
    pthread_rwlock_unlock(&g->gn_lock);
    return old;
}

static int connect_locked(struct gcomm_group *g, const char *cluster_name, const char *url,
                          bool bootstrap, char *err, size_t errlen)
{
    gc_node *old = swap_gn(g, NULL);
    if (old) { /* a reconnect: the last connection left (its pump has reported CLOSED) */
        struct gc_stats gs;
        gc_node_stats(old, &gs);
        g->past.fc_stops_sent += gs.fc_stops_sent;
        g->past.fc_stops_recv += gs.fc_stops_recv;
        g->past.fc_paused_ns += gs.fc_paused_ns;
        gc_node_stop(old);
        if (g->pump_started) pthread_join(g->pump, NULL);
        g->pump_started = false;
        gc_node_destroy(old);
    }
    repl_defrag_free(&g->df); /* a new connection starts with no partial action */
    if (!g->failed && (g->failed = calloc(1, sizeof *g->failed))) g->failed->type = REPL_GEV_FAILED;
    if (!g->failed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* options set at run time since the last connect (pc.weight, pc.ignore_sb...) hold */
    if (fill_config(g, g->opts, g->data_dir, url, err, errlen)) return -1;
    snprintf(g->cfg.group, sizeof g->cfg.group, "%s", cluster_name);
    if (gc_config_set_url(&g->cfg, url)) {
        snprintf(err, errlen, "cannot parse cluster address '%s'", url);
        return -1;
    }
    g->cfg.bootstrap = bootstrap || g->cfg.nseeds == 0;
    gc_node *gn = gc_node_create(&g->cfg);
    if (!gn) {
        snprintf(err, errlen, "bad group configuration (see the lines above)");
        return -1;
    }
    g->base.self = gc_node_uuid(gn);
    int rc = gc_node_start(gn);
    if (rc) {
        snprintf(err, errlen, "%s", rc == -ETIMEDOUT
                                        ? "no primary component within pc.wait_prim_timeout"
                                        : "could not start the group layer (listen address?)");
        gc_node_destroy(gn);
        return -1;
    }
    g->pump_gn = gn;
    repl_defrag_init(&g->df, &g->base.self);
    g->piece = piece_size(g); /* readers see it with gn, below */
    /* readers see the node before the pump delivers anything: the first view makes the core
     * broadcast its STATE at once, and a broadcast that found no node would be lost */
    swap_gn(g, gn);
    if (pthread_create(&g->pump, NULL, pump_main, g)) {
        snprintf(err, errlen, "cannot start the group receive thread");
        swap_gn(g, NULL);
        gc_node_stop(gn);
        gc_node_destroy(gn);
        return -1;
    }
    g->pump_started = true;
    return 0;
}

static int gg_connect(struct repl_group *gb, const char *cluster_name, const char *url,
                      bool bootstrap, char *err, size_t errlen)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    pthread_mutex_lock(&g->life_mu);
    int rc = connect_locked(g, cluster_name, url, bootstrap, err, errlen);
    pthread_mutex_unlock(&g->life_mu);
    return rc;
}

/* An action longer than a piece, as pieces of it, in one run (send_mu). A failure part way
 * leaves the pieces sent so far without an end: every member drops them alike. */
static int broadcast_pieces(struct gcomm_group *g, gc_node *gn, const struct repl_buf *bufs, size_t n,
                            size_t len, size_t piece)
{
    size_t room = piece - REPL_FRAG_HDR;
    uint8_t *m = malloc(piece);
    if (!m) return -ENOMEM;
    pthread_mutex_lock(&g->send_mu);
    uint64_t act = ++g->act_no;
    size_t bi = 0, bo = 0; /* where the next byte comes from: bufs[bi], at bo */
    int rc = 0;
    for (size_t off = 0; off < len && !rc;) {
        size_t k = len - off < room ? len - off : room;
        repl_frag_header(m, act, len, off);
        for (size_t w = 0; w < k;) {
            while (bo == bufs[bi].len) bi++, bo = 0;
            size_t c = bufs[bi].len - bo < k - w ? bufs[bi].len - bo : k - w;
            memcpy(m + REPL_FRAG_HDR + w, (const uint8_t *)bufs[bi].ptr + bo, c);
            w += c;
            bo += c;
        }
        rc = gc_node_broadcast(gn, m, REPL_FRAG_HDR + k);
        off += k;
        /* a window in flight, not the whole action queued at once: an 860 MB write-set queued
         * in one go kept gcomm's lock so busy that heartbeats stopped and the leases ran out */
        while (!rc && off < len && (rc = gc_node_wait_sent(gn, PIECE_WINDOW, 100000000)) == -ETIMEDOUT)
            rc = atomic_load(&g->closing) ? -ENOTCONN : 0;
    }
    pthread_mutex_unlock(&g->send_mu);
    free(m);
    return rc;
}

/* A message of several parts that fits in one group message, as one buffer. */
static int broadcast_joined(gc_node *gn, const struct repl_buf *bufs, size_t n, size_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return -ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (bufs[i].len) memcpy(buf + off, bufs[i].ptr, bufs[i].len); /* an empty part may be NULL */
        off += bufs[i].len;
    }
    int rc = gc_node_broadcast(gn, buf, len);
    free(buf);
    return rc;
}

static int gg_broadcast(struct repl_group *gb, const struct repl_buf *bufs, size_t n)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += bufs[i].len;
    if (total > REPL_FRAG_MAX_TOTAL) return -EMSGSIZE;
    int rc;
    pthread_rwlock_rdlock(&g->gn_lock);
    if (!g->gn) rc = -ENOTCONN;
    else if (total > g->piece) rc = broadcast_pieces(g, g->gn, bufs, n, total, g->piece);
    else if (n == 1) rc = gc_node_broadcast(g->gn, bufs[0].ptr, bufs[0].len);
    else rc = broadcast_joined(g->gn, bufs, n, total);
    pthread_rwlock_unlock(&g->gn_lock);
    return rc;
}

static void gg_flow_control(struct repl_group *gb, bool stop)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    pthread_rwlock_rdlock(&g->gn_lock);
    if (g->gn) gc_node_fc(g->gn, stop); /* thread-safe, never waits on the pump: sink-safe */
    pthread_rwlock_unlock(&g->gn_lock);
}

static const char *evs_state(int state)
{
    switch (state) { /* enum gc_state, in the words of Galera's EVS */
    case GC_ST_NORMAL: return "OPERATIONAL";
    case GC_ST_GATHER: return "GATHER";
    case GC_ST_CHANGE: return "INSTALL";
    case GC_ST_LEAVING: return "LEAVING";
    default: return "CLOSED";
    }
}

static void gg_stats(struct repl_group *gb, struct repl_group_stats *st)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    struct gc_stats gs = {.state = GC_ST_LEFT};
    pthread_rwlock_rdlock(&g->gn_lock); /* held to the end: gn is read again below */
    if (g->gn) gc_node_stats(g->gn, &gs);
    *st = (struct repl_group_stats){
        .fc_active = gs.fc_active,
        .fc_paused_ns = (int64_t)(g->past.fc_paused_ns + gs.fc_paused_ns),
        .fc_sent = (int64_t)(g->past.fc_stops_sent + gs.fc_stops_sent),
        .fc_recv = (int64_t)(g->past.fc_stops_recv + gs.fc_stops_recv),
        .send_q = (int64_t)gs.send_q,
        .send_q_max = (int64_t)gs.send_q_max,
        .send_q_min = (int64_t)gs.send_q_min,
        .send_q_avg = gs.send_q_samples ? (double)gs.send_q_sum / (double)gs.send_q_samples : 0.0,
        .cluster_weight = gs.weight,
        .evs_state = evs_state(gs.state),
        .proto = GC_PROTO_VERSION,
    };
    if (!g->gn) {
        pthread_rwlock_unlock(&g->gn_lock);
        return;
    }
    struct gc_delayed_entry de[GC_MAX_MEMBERS];
    int nd = gc_node_delayed(g->gn, de, GC_MAX_MEMBERS);
    size_t w = 0;
    for (int i = 0; i < nd && w < sizeof st->evs_delayed; i++) {
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&de[i].uuid, u);
        w += (size_t)snprintf(st->evs_delayed + w, sizeof st->evs_delayed - w, "%s%s:tcp://%s:%u", i ? "," : "", u,
                              de[i].addr, de[i].cnt);
    }
    gc_evict_list ev;
    gc_node_evict_list(g->gn, &ev);
    w = 0;
    for (int i = 0; i < ev.n && w < sizeof st->evs_evict_list; i++) {
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&ev.u[i], u);
        w += (size_t)snprintf(st->evs_evict_list + w, sizeof st->evs_evict_list - w, "%s%s", i ? "," : "", u);
    }
    pthread_rwlock_unlock(&g->gn_lock);
}

static void gg_stats_flush(struct repl_group *gb)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    pthread_rwlock_rdlock(&g->gn_lock);
    if (g->gn) gc_node_stats_flush(g->gn);
    pthread_rwlock_unlock(&g->gn_lock);
}

static void gg_leave(struct repl_group *gb)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    pthread_mutex_lock(&g->life_mu);
    if (!g->gn) {
        pthread_mutex_unlock(&g->life_mu);
        struct repl_gev *closed = calloc(1, sizeof *closed);
        if (closed) {
            closed->type = REPL_GEV_CLOSED;
            g->args.sink(g->args.sink_ctx, closed);
        }
        return;
    }
    if (gc_node_leave(g->gn)) tr_warn("the group did not confirm our leave; closing anyway");
    gc_node_stop(g->gn); /* the pump drains the stream and reports CLOSED */
    pthread_mutex_unlock(&g->life_mu);
}

static void gg_destroy(struct repl_group *gb)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    atomic_store(&g->closing, true); /* before the write lock a waiting sender holds off */
    pthread_mutex_lock(&g->life_mu); /* a leave still running finishes first */
    gc_node *gn = swap_gn(g, NULL);
    if (gn) gc_node_stop(gn);
    if (g->pump_started) pthread_join(g->pump, NULL);
    if (gn) gc_node_destroy(gn);
    pthread_mutex_unlock(&g->life_mu);
    pthread_mutex_destroy(&g->life_mu);
    pthread_rwlock_destroy(&g->gn_lock);
    pthread_mutex_destroy(&g->send_mu);
    repl_defrag_free(&g->df);
    repl_gev_free(g->failed);
    free(g);
}

static void setting_locked(gc_node *gn, const struct tr_cfg *opts, const char *key);

static void gg_setting(struct repl_group *gb, const struct tr_cfg *opts, const char *key)
{
    struct gcomm_group *g = (struct gcomm_group *)gb;
    pthread_rwlock_rdlock(&g->gn_lock);
    if (g->gn) setting_locked(g->gn, opts, key); /* not connected: the value is read at connect */
    pthread_rwlock_unlock(&g->gn_lock);
}

static void setting_locked(gc_node *gn, const struct tr_cfg *opts, const char *key)
{
    if (strcmp(key, "pc.weight") == 0) {
        int64_t w;
        if (tr_cfg_get_int(opts, key, &w) == 0) gc_node_set_weight(gn, (uint8_t)w);
    } else if (strcmp(key, "pc.ignore_sb") == 0 || strcmp(key, "pc.ignore_quorum") == 0) {
        bool sb = false, q = false;
        tr_cfg_get_bool(opts, "pc.ignore_sb", &sb);
        tr_cfg_get_bool(opts, "pc.ignore_quorum", &q);
        gc_node_set_ignore(gn, sb, q);
    } else if (strcmp(key, "pc.bootstrap") == 0) {
        bool b;
        if (tr_cfg_get_bool(opts, key, &b) == 0 && b) gc_node_bootstrap(gn);
    } else if (strcmp(key, "gmcast.isolate") == 0) {
        int64_t v;
        if (tr_cfg_get_int(opts, key, &v) == 0) gc_node_set_isolate(gn, v != 0);
    } else if (strcmp(key, "evs.auto_evict") == 0) {
        int64_t v;
        if (tr_cfg_get_int(opts, key, &v) == 0) gc_node_set_auto_evict(gn, (uint32_t)v);
    } else if (strcmp(key, "evs.evict") == 0) { /* a uuid evicts it by hand; empty clears the list */
        char v[TR_UUID_STR_LEN + 8] = "";
        tr_uuid u;
        int len = tr_cfg_get_string(opts, key, v, sizeof v);
        if (len <= 0) gc_node_evict(gn, NULL);
        else if ((size_t)len < sizeof v && tr_uuid_parse(v, strlen(v), &u) == 0) gc_node_evict(gn, &u);
        else tr_error("evs.evict: '%s' is not a uuid", v);
    } else if (strcmp(key, "socket.ssl_reload") == 0) { /* any value: read the files again */
        char err[TR_TLS_ERR_MAX];
        if (gc_node_tls_reload(gn, err, sizeof err)) tr_error("socket.ssl_reload: %s", err);
    }
}

/* gcomm holds every broadcast, control messages too, while any member's stop is in force; it
 * queues them without blocking the caller, so the drain that lifts the stop never waits. */
static int gg_member_hosts(struct repl_group *gr, const tr_uuid *member, char (*hosts)[REPL_HOST_LEN], int max)
{
    _Static_assert(REPL_HOST_LEN == GC_HOST_MAX, "one host text size");
    struct gcomm_group *g = (struct gcomm_group *)gr;
    pthread_rwlock_rdlock(&g->gn_lock);
    int n = g->gn ? gc_node_peer_hosts(g->gn, member, hosts, max) : -1;
    pthread_rwlock_unlock(&g->gn_lock);
    return n;
}

static const struct repl_group_ops gcomm_ops = {
    .connect = gg_connect,
    .broadcast = gg_broadcast,
    .broadcast_ws = gg_broadcast,
    .flow_control = gg_flow_control,
    .stats = gg_stats,
    .stats_flush = gg_stats_flush,
    .leave = gg_leave,
    .destroy = gg_destroy,
    .setting = gg_setting,
    .member_hosts = gg_member_hosts,
};

struct repl_group *repl_group_gcomm_new(const struct repl_group_args *args,
                                        const struct tr_cfg *opts, const char *data_dir)
{
    struct gcomm_group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->base.ops = &gcomm_ops;
    g->args = *args;
    pthread_mutex_init(&g->life_mu, NULL);
    pthread_rwlock_init(&g->gn_lock, NULL);
    pthread_mutex_init(&g->send_mu, NULL);
    g->failed = calloc(1, sizeof *g->failed);
    if (!g->failed) {
        pthread_mutex_destroy(&g->life_mu);
        pthread_rwlock_destroy(&g->gn_lock);
        pthread_mutex_destroy(&g->send_mu);
        free(g);
        return NULL;
    }
    g->failed->type = REPL_GEV_FAILED;
    g->opts = opts;
    snprintf(g->data_dir, sizeof g->data_dir, "%s", data_dir ? data_dir : "");
    char err[256];
    if (fill_config(g, opts, data_dir, NULL, err, sizeof err)) {
        tr_error("group configuration: %s", err);
        repl_gev_free(g->failed);
        pthread_mutex_destroy(&g->life_mu);
        pthread_rwlock_destroy(&g->gn_lock);
        pthread_mutex_destroy(&g->send_mu);
        free(g);
        return NULL;
    }
    return &g->base;
}
