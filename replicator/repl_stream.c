/* replicator/repl_stream: the ordered stream: group events queued, then taken by recv() threads.
 * Taking an event assigns its global seqno and certification verdict, so both follow total order. */
#include <stdlib.h>
#include <string.h>

#include "certification/cert_ws.h"
#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"

static void sample_queue_locked(struct repl_node *n)
{
    n->q_len_sum += (double)n->q_len;
    n->q_samples++;
    if (n->q_len > n->q_len_max) n->q_len_max = n->q_len;
    if (n->q_len < n->q_len_min) n->q_len_min = n->q_len;
}

void repl_stream_sink(void *ctx, struct repl_gev *ev)
{
    struct repl_node *n = ctx;
    if (ev->type == REPL_GEV_MSG || ev->type == REPL_GEV_VIEW) {
        atomic_fetch_add(&n->st_received, 1);
        atomic_fetch_add(&n->st_received_bytes, (int64_t)ev->len);
    }
    pthread_mutex_lock(&n->mu);
    ev->next = NULL;
    if (n->q_tail)
        n->q_tail->next = ev;
    else
        n->q_head = ev;
    n->q_tail = ev;
    n->q_len++;
    sample_queue_locked(n);
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
}

static void fill_view(struct repl_node *n, const struct repl_gview *gv, struct repl_view *v,
                      int64_t seqno)
{
    v->state_id.uuid = n->group_uuid;
    v->state_id.seqno = seqno;
    v->view = gv->primary ? gv->conf_id : -1;
    v->status = gv->primary ? REPL_VIEW_PRIMARY : REPL_VIEW_NON_PRIMARY;
    v->capabilities = repl_node_capabilities(n);
    v->my_idx = gv->my_idx;
    v->memb_num = gv->memb_num;
    v->proto_ver = n->proto_ver;
    if (gv->memb_num > 0) memcpy(v->members, gv->members, sizeof *gv->members * gv->memb_num);
}

static void note_members_locked(struct repl_node *n, const struct repl_gview *gv)
{
    size_t off = 0;
    n->incoming_addresses[0] = '\0';
    for (int i = 0; i < gv->memb_num; i++) {
        const char *in = gv->members[i].incoming;
        size_t len = strnlen(in, REPL_INCOMING_LEN);
        if (off + len + 2 >= sizeof n->incoming_addresses) break;
        if (i) n->incoming_addresses[off++] = ',';
        memcpy(n->incoming_addresses + off, in, len);
        off += len;
        n->incoming_addresses[off] = '\0';
    }
    n->memb_num = gv->memb_num;
}

/* A primary view is an ordered action of its own: all before it commit first. */
static int deliver_view(struct repl_node *n, void *recv_ctx, struct repl_gev *ev, int64_t seqno,
                        bool first)
{
    struct repl_view *v = calloc(1, repl_view_size(ev->view.memb_num));
    if (!v) return REPL_FATAL;
    if (ev->view.primary) {
        repl_monitor_enter(n->apply_mon, seqno, seqno - 1);
        repl_monitor_enter(n->commit_mon, seqno, seqno - 1);
    }
    fill_view(n, &ev->view, v, ev->view.primary ? seqno : n->last_seqno);
    int rc = 0;
    if (first && n->host.connected) rc = n->host.connected(n->host.app_ctx, v);
    if (!rc && n->host.view) rc = n->host.view(n->host.app_ctx, recv_ctx, v);
    if (ev->view.primary) {
        repl_monitor_leave(n->commit_mon, seqno);
        repl_monitor_leave(n->apply_mon, seqno);
    }
    free(v);
    if (rc) {
        tr_error("view callback failed (%d) for view %lld", rc, (long long)ev->view.conf_id);
        return REPL_FATAL;
    }
    if (!ev->view.primary) return REPL_OK;

    /* safe_to_bootstrap: only the sole member of a primary component may bootstrap later. */
    pthread_mutex_lock(&n->mu);
    n->safe_to_bootstrap = ev->view.memb_num == 1;
    bool sync = n->state == REPL_ST_JOINED && n->desync_count == 0;
    if (sync) n->state = REPL_ST_SYNCED;
    pthread_mutex_unlock(&n->mu);
    repl_node_save_state(n, true);
    if (sync) {
        tr_info("Shifting JOINED -> SYNCED (TO: %lld)", (long long)seqno);
        if (n->host.synced && n->host.synced(n->host.app_ctx)) {
            tr_error("synced callback failed");
            return REPL_FATAL;
        }
    }
    return REPL_OK;
}

static int deliver_final(struct repl_node *n, void *recv_ctx)
{
    struct repl_view *v = calloc(1, repl_view_size(0));
    if (!v) return REPL_FATAL;
    v->state_id.uuid = n->group_uuid;
    v->state_id.seqno = repl_monitor_last_left(n->apply_mon);
    v->view = -1;
    v->status = REPL_VIEW_NON_PRIMARY;
    v->my_idx = -1;
    v->memb_num = 0;
    v->proto_ver = n->proto_ver;
    int rc = n->host.view ? n->host.view(n->host.app_ctx, recv_ctx, v) : 0;
    int64_t at = v->state_id.seqno;
    free(v);
    repl_node_save_state(n, false);
    tr_info("Closed connection to the cluster at %lld", (long long)at);
    return rc ? REPL_FATAL : REPL_OK;
}

/* Assigns the global seqno and verdict of a delivered write-set (under mu). Returns true when
 * this node originated it (a waiting client takes it from here). */
static bool order_msg_locked(struct repl_node *n, struct repl_gev *ev, int64_t *seqno_out)
{
    struct cert_ws_hdr h;
    if (cert_ws_hdr_decode(ev->buf, ev->len, &h)) {
        /* Not ours to interpret: a corrupt or foreign message takes no seqno. */
        tr_warn("dropping undecodable message of %zu bytes", ev->len);
        *seqno_out = TR_SEQNO_UNDEFINED;
        return false;
    }
    int64_t seqno = ++n->last_seqno;
    *seqno_out = seqno;
    bool toi = h.flags & REPL_F_ISOLATION;
    int64_t depends = n->last_barrier;
    if (toi || (h.flags & REPL_F_PA_UNSAFE)) depends = seqno - 1;
    if (toi) n->last_barrier = seqno;
    if (h.last_seen >= 0 && h.last_seen < seqno)
        atomic_fetch_add(&n->st_cert_interval_sum, seqno - h.last_seen - 1);
    if (tr_uuid_compare(&h.source, &n->self) != 0) return false;

    for (struct repl_trx *t = n->by_local[repl_hash(h.local_id)]; t; t = t->next_local) {
        if (t->local_id != h.local_id) continue;
        /* A one-node cluster has no other origin to conflict with: the verdict is only
         * whether a brute-force abort got here first. */
        repl_trx_order_locked(n, t, seqno, depends, !t->must_abort);
        return true;
    }
    tr_error("own write-set %llu delivered but not in flight", (unsigned long long)h.local_id);
    return false;
}

int repl_node_recv(struct repl_node *n, void *recv_ctx)
{
    for (;;) {
        pthread_mutex_lock(&n->mu);
        /* pause holds the stream, except that a disconnect must still reach the final view */
        while (!n->final_done && (!n->q_head || (n->pause_count > 0 && !n->closing))) {
            if (!n->connected && !n->q_head) break;
            pthread_cond_wait(&n->cond, &n->mu);
        }
        if (n->final_done || (!n->connected && !n->q_head)) {
            pthread_mutex_unlock(&n->mu);
            return REPL_OK;
        }
        struct repl_gev *ev = n->q_head;
        n->q_head = ev->next;
        if (!n->q_head) n->q_tail = NULL;
        n->q_len--;
        sample_queue_locked(n);

        int64_t seqno = TR_SEQNO_UNDEFINED;
        bool first = false;
        int rc = REPL_OK;
        switch (ev->type) {
        case REPL_GEV_MSG: {
            bool own = order_msg_locked(n, ev, &seqno);
            pthread_mutex_unlock(&n->mu);
            if (!own && seqno >= 0) {
                /* Applying other nodes' write-sets arrives with multi-node replication; until
                 * then the seqno must still pass both monitors or everything after it stalls. */
                repl_monitor_cancel(n->apply_mon, seqno);
                repl_monitor_cancel(n->commit_mon, seqno);
            }
            break;
        }
        case REPL_GEV_VIEW:
            if (ev->view.primary) {
                seqno = ++n->last_seqno;
                n->last_barrier = seqno;
                first = !n->first_primary_seen;
                n->first_primary_seen = true;
                if (n->state < REPL_ST_JOINED) n->state = REPL_ST_JOINED;
            } else if (n->state != REPL_ST_CLOSED) {
                n->state = REPL_ST_CLOSED;
            }
            n->primary = ev->view.primary;
            n->conf_id = ev->view.conf_id;
            note_members_locked(n, &ev->view);
            pthread_mutex_unlock(&n->mu);
            rc = deliver_view(n, recv_ctx, ev, seqno, first);
            break;
        case REPL_GEV_SYNC: {
            bool sync = n->state == REPL_ST_JOINED && n->desync_count == 0 && n->primary;
            if (sync) n->state = REPL_ST_SYNCED;
            pthread_mutex_unlock(&n->mu);
            if (sync) {
                tr_info("Shifting JOINED -> SYNCED");
                if (n->host.synced && n->host.synced(n->host.app_ctx)) rc = REPL_FATAL;
            }
            break;
        }
        case REPL_GEV_CLOSED:
            n->group_closed = true; /* before the wake-up below, or waiters sleep again */
            n->primary = false;
            n->state = REPL_ST_CLOSED;
            n->memb_num = 0;
            repl_trx_abort_all_locked(n);
            pthread_mutex_unlock(&n->mu);
            rc = deliver_final(n, recv_ctx);
            pthread_mutex_lock(&n->mu);
            n->final_done = true;
            n->connected = false;
            n->first_primary_seen = false;
            pthread_cond_broadcast(&n->cond);
            pthread_mutex_unlock(&n->mu);
            repl_gev_free(ev);
            return rc;
        }
        repl_gev_free(ev);
        if (rc != REPL_OK) return rc;
    }
}
