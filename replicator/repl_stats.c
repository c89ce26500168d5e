/* replicator/repl_stats: the provider status variables, with Galera's names and meanings.
 * One allocation per snapshot so the host frees it with a single call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certification/cert_index.h"
#include "replicator/repl_node_impl.h"

#define MAX_STATS 64

struct builder {
    struct repl_stat rows[MAX_STATS];
    int n;
};

static void add_i(struct builder *b, const char *name, int64_t v)
{
    b->rows[b->n].name = name;
    b->rows[b->n].type = REPL_STAT_INT64;
    b->rows[b->n].v.i = v;
    b->n++;
}

static void add_d(struct builder *b, const char *name, double v)
{
    b->rows[b->n].name = name;
    b->rows[b->n].type = REPL_STAT_DOUBLE;
    b->rows[b->n].v.d = v;
    b->n++;
}

static void add_s(struct builder *b, const char *name, const char *v)
{
    b->rows[b->n].name = name;
    b->rows[b->n].type = REPL_STAT_STRING;
    b->rows[b->n].v.s = v;
    b->n++;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The group keeps the flow-control clock and the send queue: it is the one that holds
 * write-sets. Called outside mu. */
static void group_stats(struct repl_node *n, struct repl_group_stats *st)
{
    *st = (struct repl_group_stats){0};
    if (n->group && n->group->ops->stats) n->group->ops->stats(n->group, st);
}

/* An average over what happened since the last FLUSH STATUS: sums minus the marks taken then
 * (a counter that went back, a new certification index, starts the window over). */
static double since_mark(int64_t sum, int64_t sum_mark, int64_t n, int64_t n_mark)
{
    if (n < n_mark || sum < sum_mark) sum_mark = n_mark = 0;
    return n > n_mark ? (double)(sum - sum_mark) / (double)(n - n_mark) : 0.0;
}

struct repl_stat *repl_node_stats(struct repl_node *n)
{
    struct builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    /* Strings that live in the snapshot block, after the rows. */
    char uuid[TR_UUID_STR_LEN + 1], gcomm_uuid[TR_UUID_STR_LEN + 1];
    char incoming[64 * (REPL_INCOMING_LEN + 1)];
    struct repl_group_stats gs;
    group_stats(n, &gs);
    int64_t now = now_ns();

    pthread_mutex_lock(&n->mu);
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    tr_uuid_print(&in.group, uuid);
    tr_uuid_print(&n->self, gcomm_uuid);
    snprintf(incoming, sizeof incoming, "%s", repl_core_incoming(n->core));
    enum repl_fsm_state state = in.state;
    /* Galera's receive queue: what waits for the appliers, and what a joiner holds */
    int64_t recv_q = (int64_t)n->q.len + in.held, recv_q_max = n->q.len_max,
            recv_q_min = n->q.len_min;
    double recv_q_avg = n->q.samples ? n->q.len_sum / (double)n->q.samples : 0.0;
    int64_t open_trx = 0, open_conn = 0;
    for (int i = 0; i < REPL_HASH; i++) {
        for (struct repl_trx *t = n->by_trx[i]; t; t = t->next_trx) open_trx++;
        for (struct repl_trx *t = n->toi_by_conn[i]; t; t = t->next_trx) open_conn++;
    }
    int desync = in.desync_count;
    int64_t cached_downto = in.cached_downto;
    const char *evs_state = gs.evs_state && n->connected ? gs.evs_state : "CLOSED";
    char latency[160];
    double lat_avg = n->lat_n ? n->lat_sum / (double)n->lat_n : 0.0;
    double lat_var = n->lat_n ? n->lat_sumsq / (double)n->lat_n - lat_avg * lat_avg : 0.0;
    snprintf(latency, sizeof latency, "%g/%g/%g/%g/%lld", n->lat_min, lat_avg, n->lat_max,
             lat_var > 0 ? sqrt(lat_var) : 0.0, (long long)n->lat_n);
    int proto_app = n->proto_ver;
    struct cert_stats cs;
    repl_core_cert_stats(n->core, &cs);
    int segment = n->gmcast_segment;
    bool fc_requested = in.fc_requested;
    int64_t fc_window = now - n->fc_reset_ns, fc_paused = gs.fc_paused_ns - n->fc_reset_paused_ns;
    /* Galera's FLUSH STATUS zeroes its stop counters (gcs_flush_stats) */
    int64_t fc_sent = gs.fc_sent - n->fc_mark_sent, fc_recv = gs.fc_recv - n->fc_mark_recv;
    double deps_distance = since_mark(cs.deps_dist_sum, n->cert_mark.deps_dist_sum,
                                      (int64_t)cs.certified, (int64_t)n->cert_mark.certified);
    double cert_interval = since_mark(cs.interval_sum, n->cert_mark.interval_sum,
                                      (int64_t)cs.certified, (int64_t)n->cert_mark.certified);
    pthread_mutex_unlock(&n->mu);

    struct repl_monitor_stats am, cm;
    repl_monitor_stats(n->apply_mon, &am);
    repl_monitor_stats(n->commit_mon, &cm);

    add_s(b, "local_state_uuid", NULL); /* filled below once the block exists */
    add_i(b, "protocol_version", REPL_PROTOCOL_VERSION);
    add_i(b, "protocol_application", proto_app);
    add_i(b, "protocol_replicator", REPL_PROTOCOL_VERSION);
    add_i(b, "protocol_GCS", gs.proto);
    add_i(b, "last_committed", repl_monitor_last_left(n->apply_mon));
    add_i(b, "replicated", atomic_load(&n->st_replicated));
    add_i(b, "replicated_bytes", atomic_load(&n->st_replicated_bytes));
    add_i(b, "repl_keys", atomic_load(&n->st_repl_keys));
    add_i(b, "repl_keys_bytes", atomic_load(&n->st_repl_keys_bytes));
    add_i(b, "repl_data_bytes", atomic_load(&n->st_repl_data_bytes));
    add_i(b, "repl_other_bytes", atomic_load(&n->st_repl_other_bytes));
    add_i(b, "received", atomic_load(&n->st_received));
    add_i(b, "received_bytes", atomic_load(&n->st_received_bytes));
    add_i(b, "local_commits", atomic_load(&n->st_local_commits));
    add_i(b, "local_cert_failures", atomic_load(&n->st_local_cert_failures));
    add_i(b, "local_replays", atomic_load(&n->st_local_replays));
    add_i(b, "local_send_queue", gs.send_q);
    add_i(b, "local_send_queue_max", gs.send_q_max);
    add_i(b, "local_send_queue_min", gs.send_q_min);
    add_d(b, "local_send_queue_avg", gs.send_q_avg);
    add_i(b, "local_recv_queue", recv_q);
    add_i(b, "local_recv_queue_max", recv_q_max);
    add_i(b, "local_recv_queue_min", recv_q_min);
    add_d(b, "local_recv_queue_avg", recv_q_avg);
    add_i(b, "local_cached_downto", cached_downto);
    add_i(b, "flow_control_paused_ns", gs.fc_paused_ns);
    add_d(b, "flow_control_paused",
          fc_window > 0 && fc_paused > 0 ? (double)fc_paused / (double)fc_window : 0.0);
    add_i(b, "flow_control_sent", fc_sent > 0 ? fc_sent : 0);
    add_i(b, "flow_control_recv", fc_recv > 0 ? fc_recv : 0);
    add_s(b, "flow_control_active", gs.fc_active ? "true" : "false");
    add_s(b, "flow_control_requested", fc_requested ? "true" : "false");
    add_d(b, "cert_deps_distance", deps_distance);
    add_d(b, "apply_oooe", am.entered ? (double)am.oooe / (double)am.entered : 0.0);
    add_d(b, "apply_oool", am.entered ? (double)am.oool / (double)am.entered : 0.0);
    add_d(b, "apply_window", am.window);
    add_i(b, "apply_waits", (int64_t)am.waits);
    add_d(b, "commit_oooe", cm.entered ? (double)cm.oooe / (double)cm.entered : 0.0);
    add_d(b, "commit_oool", cm.entered ? (double)cm.oool / (double)cm.entered : 0.0);
    add_d(b, "commit_window", cm.window);
    add_i(b, "local_state", repl_fsm_local_state(state));
    add_s(b, "local_state_comment", repl_fsm_comment(state));
    add_i(b, "cert_index_size", (int64_t)cs.index_size);
    add_i(b, "causal_reads", atomic_load(&n->st_causal_reads));
    add_d(b, "cert_interval", cert_interval);
    add_i(b, "open_transactions", open_trx);
    add_i(b, "open_connections", open_conn);
    add_s(b, "incoming_addresses", NULL);
    add_i(b, "cluster_weight", gs.cluster_weight);
    add_i(b, "desync_count", desync);
    /* gcomm's delayed list and evict list (docs/design/gcomm.md section 14) */
    add_s(b, "evs_delayed", NULL);
    add_s(b, "evs_evict_list", NULL);
    add_s(b, "evs_repl_latency", NULL);
    add_s(b, "evs_state", evs_state);
    add_s(b, "gcomm_uuid", NULL);
    add_i(b, "gmcast_segment", segment);

    size_t rows = (size_t)(b->n + 1) * sizeof(struct repl_stat);
    size_t strs = 2 * (TR_UUID_STR_LEN + 1) + strlen(incoming) + 1 + strlen(latency) + 1 +
                  strlen(gs.evs_delayed) + 1 + strlen(gs.evs_evict_list) + 1;
    char *blk = malloc(rows + strs);
    if (!blk) {
        free(b);
        return NULL;
    }
    struct repl_stat *out = (struct repl_stat *)blk;
    memcpy(out, b->rows, (size_t)b->n * sizeof(struct repl_stat));
    memset(&out[b->n], 0, sizeof(struct repl_stat));
    char *p = blk + rows;
    for (int i = 0; i < b->n; i++) {
        const char *src = NULL;
        if (strcmp(out[i].name, "local_state_uuid") == 0) src = uuid;
        else if (strcmp(out[i].name, "incoming_addresses") == 0) src = incoming;
        else if (strcmp(out[i].name, "gcomm_uuid") == 0) src = gcomm_uuid;
        else if (strcmp(out[i].name, "evs_repl_latency") == 0) src = latency;
        else if (strcmp(out[i].name, "evs_delayed") == 0) src = gs.evs_delayed;
        else if (strcmp(out[i].name, "evs_evict_list") == 0) src = gs.evs_evict_list;
        if (!src) continue;
        size_t len = strlen(src) + 1;
        memcpy(p, src, len);
        out[i].v.s = p;
        p += len;
    }
    free(b);
    return out;
}

void repl_node_stats_free(struct repl_stat *s)
{
    free(s);
}

void repl_node_stats_reset(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    repl_applyq_stats_reset(&n->q);
    pthread_mutex_unlock(&n->mu);
    repl_monitor_stats_reset(n->apply_mon);
    repl_monitor_stats_reset(n->commit_mon);
    if (n->group && n->group->ops->stats_flush) n->group->ops->stats_flush(n->group);
    struct repl_group_stats gs;
    group_stats(n, &gs);
    pthread_mutex_lock(&n->mu);
    n->lat_min = n->lat_max = n->lat_sum = n->lat_sumsq = 0;
    n->lat_n = 0;
    n->fc_reset_ns = now_ns(); /* flow_control_paused counts from here */
    n->fc_reset_paused_ns = gs.fc_paused_ns;
    n->fc_mark_sent = gs.fc_sent;
    n->fc_mark_recv = gs.fc_recv;
    repl_core_cert_stats(n->core, &n->cert_mark);
    pthread_mutex_unlock(&n->mu);
}
