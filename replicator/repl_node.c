/* replicator/repl_node: node lifecycle: init, options, connect/disconnect, saved state.
 * Decides where the node's history continues from (grastate.dat vs the host's position). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tr_log.h"
#include "replicator/repl_grastate.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_node_impl.h"
#include "replicator/repl_options.h"
#include "certification/cert_ws.h"

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Reads the typed settings the hot paths use from the option store. */
static void load_settings(struct repl_node *n)
{
    struct repl_options o;
    if (repl_options_read(n->cfg, &o)) return;
    atomic_store(&n->causal_read_timeout_ns, o.repl_causal_read_timeout_ns);
    atomic_store(&n->max_ws_size, o.repl_max_ws_size);
    /* MariaDB reads repl.max_ws_size back from options_get with a plain integer parser. */
    char v[32], err[128];
    snprintf(v, sizeof v, "%lld", (long long)o.repl_max_ws_size);
    tr_cfg_set_internal(n->cfg, "repl.max_ws_size", v, err, sizeof err);
    n->gmcast_segment = o.gmcast_segment;
    repl_gcache_set_pages(n->gcache, o.gcache_page_size, o.gcache_keep_pages_size);
    bool dbg = false;
    tr_cfg_get_bool(n->cfg, "debug", &dbg);
    tr_log_set_debug(dbg); /* process-wide, like the log sink: the last node to set it wins */
    struct repl_flow_cfg fc = {o.gcs_fc_limit, o.gcs_fc_factor, o.gcs_fc_single_primary};
    pthread_mutex_lock(&n->mu);
    if (!n->fc_reset_ns) n->fc_reset_ns = tr_now_ns(); /* flow_control_paused counts from here */
    if (n->core) {
        repl_core_set_flow(n->core, &fc);
        /* new limits apply now, not only at the next queue change */
        struct repl_ev ev = {.kind = REPL_EV_TICK, .now = (uint64_t)tr_now_ns()};
        repl_drive_locked(n, &ev);
    }
    pthread_mutex_unlock(&n->mu);
    repl_driver_fc(n);
}

/* Where our history continues from: grastate.dat, or the host's recovered position when the
 * file says "unknown" (seqno -1 after a crash) for the same history. */
static int load_position(struct repl_node *n, tr_gtid *pos, bool *safe_to_bootstrap)
{
    struct repl_grastate gs;
    char err[512];
    int rc = repl_grastate_read(n->data_dir, &gs, err, sizeof err);
    if (rc < 0) {
        tr_error("%s", err);
        return -1;
    }
    *pos = (tr_gtid){gs.uuid, gs.seqno};
    const tr_gtid *hs = &n->init_state;
    bool host_known = !tr_uuid_is_nil(&hs->uuid) && hs->seqno >= 0;
    /* a file without a history (written when this node left to avoid diverging, or before it
     * ever joined one) does not let the host's own position stand in for it: its data cannot
     * be trusted, and it joins by full state transfer */
    if (pos->seqno < 0 && host_known &&
        ((rc == 1 && tr_uuid_is_nil(&pos->uuid)) || tr_uuid_compare(&pos->uuid, &hs->uuid) == 0)) {
        *pos = *hs;
    }
    *safe_to_bootstrap = gs.safe_to_bootstrap;
    n->last_view.view = gs.view;
    snprintf(n->last_view.members, sizeof n->last_view.members, "%s", gs.members);
    char u[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&gs.uuid, u);
    tr_info("%s saved state: %s:%lld, safe_to_bootstrap: %d", rc == 1 ? "No" : "Found", u,
            (long long)gs.seqno, gs.safe_to_bootstrap);
    return 0;
}

int repl_node_save_state(struct repl_node *n, const tr_uuid *group, bool running,
                         bool safe_to_bootstrap)
{
    return repl_node_save_state_at(n, group, running, TR_SEQNO_UNDEFINED, safe_to_bootstrap);
}

int repl_node_save_state_at(struct repl_node *n, const tr_uuid *group, bool running, int64_t at,
                            bool safe_to_bootstrap)
{
    /* one writer at a time: the service thread and appliers may save at once */
    pthread_mutex_lock(&n->save_mu);
    struct repl_grastate gs = {*group, TR_SEQNO_UNDEFINED, safe_to_bootstrap, 0, ""};
    gs.view = n->last_view.view;
    snprintf(gs.members, sizeof gs.members, "%s", n->last_view.members);
    if (!running && n->state_unsafe) {
        /* The mark that failed may have been one the file needed (a new history after a state
         * transfer, or "cannot be trusted"); a clean position written now would stand on a
         * file that never had it. seqno -1 leaves the decision to the host's recovered
         * position or a state transfer at the next start. */
        tr_error("not saving the clean position in %s/" REPL_GRASTATE_FILE ": an earlier write of "
                 "it failed; it says seqno -1 instead",
                 n->data_dir);
        running = true;
    }
    if (!running) gs.seqno = at >= 0 ? at : repl_monitor_last_left(n->apply_mon);
    if (tr_uuid_is_nil(&gs.uuid)) gs.seqno = TR_SEQNO_UNDEFINED;
    char err[512];
    int rc = repl_grastate_write(n->data_dir, &gs, err, sizeof err);
    if (rc) tr_error("%s", err);
    if (running) n->state_unsafe = rc != 0; /* a mark on disk: later positions stand on it */
    pthread_mutex_unlock(&n->save_mu);
    return rc;
}

/* Galera's order: wsrep_node_address gives base_host (and base_port when it has a port), then
 * the options string may override both. */
/* An IPv6 literal without brackets (MariaDB passes wsrep_node_address=::1 as it is): two colons
 * or more and nothing but hex digits, dots (an embedded IPv4) and a zone after '%'. */
static bool bare_ipv6(const char *s)
{
    int colons = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '%') return colons >= 2 && p[1]; /* fe80::1%eth0 */
        if (*p == ':') colons++;
        else if (!isxdigit((unsigned char)*p) && *p != '.') return false;
    }
    return colons >= 2;
}

static int node_address_defaults(struct repl_node *n, char *err, size_t errlen)
{
    if (!n->address[0]) return 0;
    struct tr_cfg_addr addr;
    if (bare_ipv6(n->address)) { /* a host alone: in brackets, as every address option */
        char host[sizeof n->address + 2];
        snprintf(host, sizeof host, "[%s]", n->address);
        return tr_cfg_set_internal(n->cfg, "base_host", host, err, errlen) ? -1 : 0;
    }
    if (tr_cfg_parse_addr(n->address, &addr)) {
        /* Galera does not fail on an address it cannot parse (MariaDB's wsrep.wsrep_off passes
         * '127.0.0.1:@OPT.port'); only the base_host/base_port defaults are lost. Same here. */
        tr_info("wsrep_node_address '%s' is not host[:port]; base_host and base_port keep their "
                "defaults",
                n->address);
        return 0;
    }
    char host[sizeof addr.host + 2];
    snprintf(host, sizeof host, addr.ipv6 ? "[%s]" : "%s", addr.host); /* [::1] stays an address */
    if (tr_cfg_set_internal(n->cfg, "base_host", host, err, errlen)) return -1;
    if (addr.port > 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", addr.port);
        if (tr_cfg_set_internal(n->cfg, "base_port", port, err, errlen)) return -1;
    }
    return 0;
}

struct repl_group *repl_node_gcomm_factory(const struct repl_group_args *args, void *ctx)
{
    (void)ctx;
    struct repl_node *n = args->sink_ctx;
    return repl_group_gcomm_new(args, n->cfg, n->data_dir);
}

/* What repl_node_new sets up before anything can fail; monitors are destroyed by the caller. */
static void release_core(struct repl_node *n)
{
    tr_cfg_free(n->cfg);
    repl_core_free(n->core);
    repl_acts_free(&n->scratch);
    for (size_t i = 0; i < n->outbox_n; i++) repl_act_release(&n->outbox[i]); /* unpins */
    repl_gcache_free(n->gcache);
    free(n->outbox);
    repl_applyq_destroy(&n->q);
    free(n->apply_mon);
    free(n->commit_mon);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->w_cond);
    pthread_cond_destroy(&n->ist_cond);
    pthread_cond_destroy(&n->svc_cond);
    pthread_cond_destroy(&n->outbox_cond);
    pthread_mutex_destroy(&n->lock_mu);
    pthread_mutex_destroy(&n->save_mu);
    pthread_cond_destroy(&n->lock_cond);
    free(n);
}

int repl_node_new(const struct repl_init_args *a, struct repl_node **out)
{
    *out = NULL;
    struct repl_node *n = calloc(1, sizeof *n);
    if (!n) return REPL_FATAL;
    n->apply_mon = malloc(sizeof *n->apply_mon);
    n->commit_mon = malloc(sizeof *n->commit_mon);
    n->cfg = repl_options_new();
    if (!n->apply_mon || !n->commit_mon || !n->cfg) {
        free(n->apply_mon);
        free(n->commit_mon);
        if (n->cfg) tr_cfg_free(n->cfg);
        free(n);
        return REPL_FATAL;
    }
    n->host = a->host;
    n->group_factory = a->group_factory;
    n->group_ctx = a->group_ctx;
    n->allow_peer = a->allow_peer;
    n->allow_ctx = a->allow_ctx;
    copy_str(n->name, sizeof n->name, a->node_name);
    copy_str(n->address, sizeof n->address, a->node_address);
    copy_str(n->incoming, sizeof n->incoming, a->node_incoming);
    copy_str(n->data_dir, sizeof n->data_dir, a->data_dir && *a->data_dir ? a->data_dir : ".");
    n->proto_ver = a->proto_ver;
    n->init_state.seqno = TR_SEQNO_UNDEFINED;
    if (a->state_id) n->init_state = *a->state_id;
    tr_uuid_generate(&n->self);
    pthread_mutex_init(&n->mu, NULL);
    tr_cond_init_mono(&n->w_cond);
    tr_cond_init_mono(&n->ist_cond);
    n->ist_wake_at = -1;
    tr_cond_init_mono(&n->svc_cond);
    tr_cond_init_mono(&n->outbox_cond);
    pthread_mutex_init(&n->lock_mu, NULL);
    pthread_mutex_init(&n->save_mu, NULL);
    tr_cond_init_mono(&n->lock_cond);
    repl_applyq_init(&n->q);

    char err[512] = "";
    tr_gtid pos;
    bool safe = false;
    if (node_address_defaults(n, err, sizeof err)) {
        tr_error("Bad wsrep_node_address '%s': %s", n->address, err);
        goto fail;
    }
    if (tr_cfg_parse(n->cfg, a->options ? a->options : "", TR_CFG_AT_INIT, err, sizeof err)) {
        tr_error("Bad wsrep_provider_options: %s", err);
        goto fail;
    }
    char *unimpl = repl_options_unimplemented_in_use(n->cfg);
    if (unimpl) {
        /* A note, not a warning: MariaDB's tests fail on any unexpected [Warning] line, and
         * every galera suite sets gcache.size. */
        tr_info("accepted but not acted on yet by trireme: %s", unimpl);
        free(unimpl);
    }
    if (load_position(n, &pos, &safe)) goto fail;
    struct repl_core_cfg cc = {.self = n->self, .proto_ver = n->proto_ver,
                               .capabilities = repl_node_capabilities(n),
                               .max_ws_raw = CERT_WS_MAX_SIZE, .gcache_size = 128 << 20};
    memcpy(cc.name, n->name, sizeof cc.name);
    memcpy(cc.incoming, n->incoming, sizeof cc.incoming);
    tr_cfg_get_size(n->cfg, "gcache.size", &cc.gcache_size);
    struct repl_options go;
    if (repl_options_read(n->cfg, &go)) goto fail;
    /* the store survives restarts: what it recovers of the saved position's history is served
     * by IST (wsrep_local_cached_downto says from where) */
    struct repl_gcache_cfg gc = {.dir = go.gcache_dir[0] ? go.gcache_dir : n->data_dir, .name = go.gcache_name,
                                 .size = go.gcache_size, .page_size = go.gcache_page_size,
                                 .keep_pages_size = go.gcache_keep_pages_size, .recover = go.gcache_recover};
    n->gcache = repl_gcache_open(&gc, &pos.uuid);
    if (!n->gcache) goto fail;
    cc.gcache = n->gcache;
    n->core = repl_core_new(&cc, &pos, safe, &n->last_view);
    if (!n->core) goto fail;
    load_settings(n);
    int64_t at = tr_uuid_is_nil(&pos.uuid) ? TR_SEQNO_UNDEFINED : pos.seqno;
    repl_monitor_init(n->apply_mon, at);
    repl_monitor_init(n->commit_mon, at);
    atomic_store(&n->notify_at, INT64_MAX);
    *out = n;
    return REPL_OK;
fail:
    release_core(n);
    return REPL_NODE_FAIL;
}

void repl_node_free(struct repl_node *n)
{
    if (!n || n->freed) return;
    n->freed = true;
    repl_node_disconnect(n);
    repl_driver_stop(n); /* runs what the outbox holds (the leave) first */
    repl_ist_wait_threads(n); /* before the group goes: a receiver asks it about its donor */
    if (n->group) n->group->ops->destroy(n->group);
    /* No applier took the final view (the host stopped them first): record the position here. */
    pthread_mutex_lock(&n->mu);
    bool unsaved = n->connected && !n->final_done && !n->broken; /* see deliver_final */
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    pthread_mutex_unlock(&n->mu);
    if (unsaved) repl_node_save_state(n, &in.group, false, in.safe_to_bootstrap);
    repl_trx_free_all(n);
    repl_rollbacks_free(&n->rollbacks);
    for (struct repl_lock_ent *l = n->locks, *nx; l; l = nx) {
        nx = l->next;
        free(l->name);
        free(l);
    }
    repl_monitor_destroy(n->apply_mon);
    repl_monitor_destroy(n->commit_mon);
    release_core(n);
}

int repl_node_options_set(struct repl_node *n, const char *conf)
{
    if (!conf) conf = "";
    char err[512] = "";
    if (tr_cfg_parse(n->cfg, conf, TR_CFG_AT_RUNTIME, err, sizeof err)) {
        /* Galera's words and status: MariaDB's tests suppress exactly
         * "WSREP: Unknown parameter '<key>'" and "WSREP: Set options returned 7". */
        static const char unknown[] = "Unrecognized parameter ";
        if (strncmp(err, unknown, sizeof unknown - 1) == 0)
            tr_warn("Unknown parameter %s", err + sizeof unknown - 1);
        else
            tr_error("Setting wsrep_provider_options failed: %s", err);
        return REPL_NODE_FAIL;
    }
    load_settings(n);
    bool b;
    if (strstr(conf, "pc.bootstrap") && tr_cfg_get_bool(n->cfg, "pc.bootstrap", &b) == 0 && b) {
        /* before the group re-forms: the STATE this node sends for that view says so */
        struct repl_ev ev = {.kind = REPL_EV_BOOTSTRAP};
        pthread_mutex_lock(&n->mu);
        repl_drive_locked(n, &ev);
        pthread_mutex_unlock(&n->mu);
    }
    /* settings the group acts on at run time, as Galera's gcomm does */
    static const char *const group_keys[] = {"pc.weight", "pc.ignore_sb", "pc.ignore_quorum",
                                             "pc.bootstrap", "gmcast.isolate", "evs.auto_evict",
                                             "evs.evict", "socket.ssl_reload"};
    for (size_t i = 0; i < sizeof group_keys / sizeof *group_keys; i++)
        if (n->group && n->group->ops->setting && strstr(conf, group_keys[i]))
            n->group->ops->setting(n->group, n->cfg, group_keys[i]);
    return REPL_OK;
}

char *repl_node_options_get(struct repl_node *n)
{
    return tr_cfg_format(n->cfg);
}

uint32_t repl_node_capabilities(struct repl_node *n)
{
    (void)n;
    /* Only what works end to end: no preordered events, no NBO yet. */
    return (1u << 0)     /* MULTI_MASTER */
           | (1u << 1)   /* CERTIFICATION */
           | (1u << 2)   /* PARALLEL_APPLYING */
           | (1u << 3)   /* TRX_REPLAY */
           | (1u << 4)   /* ISOLATION */
           | (1u << 5)   /* PAUSE */
           | (1u << 6)   /* CAUSAL_READS */
           | (1u << 15); /* STREAMING: fragments, docs/design/streaming.md */
}

static bool url_is_bootstrap(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    return *p == '\0' || *p == '?';
}

int repl_node_connect(struct repl_node *n, const char *cluster_name, const char *url,
                      const char *donor, bool bootstrap)
{
    if (!url || strncmp(url, "gcomm://", 8) != 0) {
        /* Galera's words for it ("Backend not supported: foo"): MariaDB's tests expect them */
        const char *e = url ? strstr(url, "://") : NULL;
        if (!e)
            tr_error("Invalid backend URI: '%s' (trireme speaks gcomm://host:port,...)", url ? url : "(null)");
        else
            tr_error("Backend not supported: %.*s (cluster address '%s'; trireme speaks gcomm://host:port,...)",
                     (int)(e - url), url, url);
        return REPL_NODE_FAIL;
    }
    bootstrap = bootstrap || url_is_bootstrap(url);
    char ist_err[TR_TLS_ERR_MAX + 64];
    if (repl_ist_configure(n, url, ist_err, sizeof ist_err)) { /* fail closed: IST never in plaintext */
        tr_error("Failed to connect to the cluster: %s", ist_err);
        return REPL_NODE_FAIL;
    }
    pthread_mutex_lock(&n->mu);
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    if (n->connected) {
        pthread_mutex_unlock(&n->mu);
        tr_error("connect: already connected");
        return REPL_NODE_FAIL;
    }
    if (bootstrap && !in.safe_to_bootstrap) {
        pthread_mutex_unlock(&n->mu);
        tr_error("It may not be safe to bootstrap the cluster from this node. It was not the "
                 "last one to leave the cluster and may not contain all the updates. To force "
                 "cluster bootstrap with this node, edit the grastate.dat file manually and set "
                 "safe_to_bootstrap to 1 .");
        return REPL_NODE_FAIL;
    }
    pthread_mutex_unlock(&n->mu);
    /* As Galera does when it cannot write its state file: no start. Running with the file
     * still saying a clean position would let a crash look like a clean stop. The core writes
     * the same mark again after CONNECT; this one is synchronous so that connect can fail. */
    if (repl_node_save_state(n, &in.group, true, in.safe_to_bootstrap)) {
        tr_error("Failed to connect to the cluster: cannot mark %s/" REPL_GRASTATE_FILE
                 " as running (see above)",
                 n->data_dir);
        return REPL_NODE_FAIL;
    }
    pthread_mutex_lock(&n->mu);
    if (n->connected) {
        pthread_mutex_unlock(&n->mu);
        tr_error("connect: already connected");
        return REPL_NODE_FAIL;
    }
    if (bootstrap) {
        /* The state exchange of the first view continues our history, or starts a new one. */
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&in.group, u);
        tr_info("Bootstrapping cluster '%s' from %s:%lld", cluster_name ? cluster_name : "", u,
                (long long)in.last_seqno);
    }
    n->connected = true;
    n->final_done = false;
    n->broken = false;
    n->leave_sent = false;
    n->group_closed = false;
    n->terminating = false;
    if (tr_cfg_get_bool(n->cfg, "trireme.sst_abort", &n->sst_abort)) n->sst_abort = true;
    n->donates = 0; /* a request dropped when the last connection broke holds nothing now */
    repl_monitor_hold(n->apply_mon, INT64_MAX);
    repl_core_set_donors(n->core, donor ? donor : "");
    char ist[REPL_INCOMING_LEN];
    if (repl_ist_recv_addr(n, ist, sizeof ist)) ist[0] = '\0';
    repl_core_set_ist_addr(n->core, ist);
    struct repl_ev ev = {.kind = REPL_EV_CONNECT, .bootstrap = bootstrap};
    tr_uuid_generate(&ev.proposal);
    repl_drive_locked(n, &ev);
    pthread_mutex_unlock(&n->mu);

    if (!n->group) {
        struct repl_group_args ga = {n->self, n->name, n->incoming, repl_driver_sink, n,
                                     n->allow_peer, n->allow_ctx};
        n->group = n->group_factory ? n->group_factory(&ga, n->group_ctx)
                                    : repl_group_gcomm_new(&ga, n->cfg, n->data_dir);
    }
    char err[512] = "";
    if (!n->group || repl_driver_start(n) ||
        n->group->ops->connect(n->group, cluster_name ? cluster_name : "", url, bootstrap, err,
                               sizeof err)) {
        tr_error("Failed to connect to the cluster: %s", *err ? err : "out of resources");
        pthread_mutex_lock(&n->mu);
        struct repl_ev closed = {.kind = REPL_EV_CLOSED};
        repl_drive_locked(n, &closed);
        /* nobody runs appliers for a connection that never was: drop what it queued */
        repl_applyq_destroy(&n->q);
        repl_applyq_init(&n->q);
        n->connected = false;
        pthread_mutex_unlock(&n->mu);
        return REPL_NODE_FAIL;
    }
    return REPL_OK;
}

int repl_node_disconnect(struct repl_node *n)
{
    struct repl_ev ev = {.kind = REPL_EV_DISCONNECT};
    pthread_mutex_lock(&n->mu);
    if (n->connected) repl_drive_locked(n, &ev);
    pthread_mutex_unlock(&n->mu);
    return REPL_OK;
}
