/* replicator/repl_sync: waiting for positions (causal reads), pause/resume, desync/resync.
 * "Committed" here is the apply monitor's last_left: every seqno up to it is fully committed. */
#include <errno.h>
#include <stdlib.h>

#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"

int repl_node_last_committed(struct repl_node *n, tr_gtid *out)
{
    pthread_mutex_lock(&n->mu);
    out->uuid = *repl_core_group(n->core);
    pthread_mutex_unlock(&n->mu);
    out->seqno = repl_monitor_last_left(n->apply_mon);
    return REPL_OK;
}

void repl_sync_causal_locked(struct repl_node *n, uint64_t id, int64_t seqno, bool lost)
{
    for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next)
        if (w->id == id) {
            if (lost) {
                w->lost = true;
            } else {
                w->done = true;
                w->seqno = seqno;
            }
            pthread_cond_broadcast(&w->cond);
        }
}

void repl_sync_wake_all_locked(struct repl_node *n)
{
    for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next)
        pthread_cond_broadcast(&w->cond);
}

static void unlink_wait_locked(struct repl_node *n, struct repl_causal_wait *w)
{
    for (struct repl_causal_wait **pp = &n->causal_waits; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
}

/* The causal point: with peers, a CAUSAL marker sent through the total order comes back after
 * everything any node committed before this call; alone, what we have ordered already is it. */
static int causal_point(struct repl_node *n, int64_t timeout_ns, int64_t *target)
{
    struct repl_causal_wait w = {0};
    tr_cond_init_mono(&w.cond);
    struct timespec dl = tr_deadline_in(timeout_ns);
    int rc = REPL_TRX_FAIL;
    pthread_mutex_lock(&n->mu);
    uint64_t epoch = UINT64_MAX;
    /* a view change in between loses the marker or refuses it: wait for the next view, again */
    for (int attempt = 0; attempt < 8; attempt++) {
        if (!repl_wait_writable_locked(n, epoch)) break;
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        if (in.members <= 1) {
            *target = in.last_seqno;
            rc = REPL_OK;
            break;
        }
        if (repl_core_local_begin(n->core, true, 0, &w.id)) break;
        w.done = w.lost = false;
        w.next = n->causal_waits;
        n->causal_waits = &w;
        epoch = in.view_epoch;
        pthread_mutex_unlock(&n->mu);

        struct repl_msg_causal m = {n->self, w.id};
        struct tr_buf b = {0};
        int brc = repl_msg_causal_encode(&m, &b) ? -1 : 0;
        if (!brc) {
            struct repl_buf one = {b.ptr, b.len};
            brc = n->group->ops->broadcast(n->group, &one, 1);
        }
        tr_buf_free(&b);

        pthread_mutex_lock(&n->mu);
        bool timeout = false;
        for (;;) {
            repl_core_info(n->core, &in);
            if (brc || w.done || w.lost || in.closed || n->broken) break;
            if (pthread_cond_timedwait(&w.cond, &n->mu, &dl) == ETIMEDOUT) {
                timeout = true;
                break;
            }
        }
        unlink_wait_locked(n, &w);
        if (!w.done) repl_core_local_end(n->core, w.id);
        if (w.done) {
            *target = w.seqno;
            rc = REPL_OK;
            break;
        }
        if (timeout || in.closed || n->broken || (brc && brc != -ENOTCONN)) break;
        if (!brc) epoch = UINT64_MAX; /* lost with its view: the next one is already here */
    }
    pthread_mutex_unlock(&n->mu);
    pthread_cond_destroy(&w.cond);
    return rc;
}

int repl_node_sync_wait(struct repl_node *n, const tr_gtid *upto, int timeout_s, tr_gtid *out)
{
    int64_t timeout_ns = timeout_s >= 0 ? (int64_t)timeout_s * 1000000000LL
                                        : atomic_load(&n->causal_read_timeout_ns);
    int64_t target;
    pthread_mutex_lock(&n->mu);
    tr_uuid uuid = *repl_core_group(n->core);
    pthread_mutex_unlock(&n->mu);
    if (upto) {
        if (tr_uuid_compare(&upto->uuid, &uuid) != 0) return REPL_TRX_MISSING;
        target = upto->seqno;
    } else {
        int rc = causal_point(n, timeout_ns, &target);
        if (rc != REPL_OK) return rc;
        atomic_fetch_add(&n->st_causal_reads, 1);
    }
    if (repl_monitor_wait(n->apply_mon, target, timeout_ns)) return REPL_TRX_FAIL;
    if (out) {
        out->uuid = uuid;
        out->seqno = repl_monitor_last_left(n->apply_mon);
    }
    return REPL_OK;
}

int64_t repl_node_pause(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    n->pause_count++;
    /* nothing queued is taken from now on: the paused position is the last seqno before the
     * first queued one (own transactions ordered before it commit in their turn) */
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    int64_t upto = in.last_seqno;
    for (size_t i = 0; i < n->q.len; i++) {
        const struct repl_act *a = &n->q.ring[(n->q.head + i) % n->q.cap];
        if (a->seqno > 0 && a->kind != REPL_ACT_NONPRIM && a->kind != REPL_ACT_SYNCED &&
            a->kind != REPL_ACT_FINAL) {
            upto = a->kind == REPL_ACT_RESET ? a->seqno : a->seqno - 1;
            break;
        }
    }
    if (n->pause_count == 1) n->pause_upto = upto;
    pthread_mutex_unlock(&n->mu);
    repl_monitor_wait(n->apply_mon, upto, -1);
    repl_node_save_state(n, &in.group, true, in.safe_to_bootstrap);
    tr_info("Provider paused at %lld", (long long)upto);
    return upto;
}

int repl_node_resume(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (n->pause_count == 0) {
        pthread_mutex_unlock(&n->mu);
        tr_warn("resume without pause");
        return REPL_NODE_FAIL;
    }
    n->pause_count--;
    pthread_cond_broadcast(&n->q.cond);
    repl_trx_wake_all_locked(n); /* own write-sets ordered while paused go on */
    pthread_mutex_unlock(&n->mu);
    tr_info("Provider resumed");
    return REPL_OK;
}

int repl_node_desync(struct repl_node *n)
{
    struct repl_ev ev = {.kind = REPL_EV_DESYNC, .seqno = repl_monitor_last_left(n->apply_mon)};
    return repl_drive(n, &ev);
}

int repl_node_resync(struct repl_node *n)
{
    /* synced_cb comes later, on an applier, once the group has ordered our SYNC: never on the
     * caller's thread (wsrep-lib holds its server-state lock here) */
    struct repl_ev ev = {.kind = REPL_EV_RESYNC, .seqno = repl_monitor_last_left(n->apply_mon)};
    return repl_drive(n, &ev);
}
