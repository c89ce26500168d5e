/* replicator/repl_sync: waiting for positions (causal reads), pause/resume, desync/resync.
 * "Committed" here is the apply monitor's last_left: every seqno up to it is fully committed. */
#include <errno.h>
#include <time.h>
#include <stdlib.h>

#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"

int repl_node_last_committed(struct repl_node *n, tr_gtid *out)
{
    pthread_mutex_lock(&n->mu);
    out->uuid = n->group_uuid;
    pthread_mutex_unlock(&n->mu);
    out->seqno = repl_monitor_last_left(n->apply_mon);
    return REPL_OK;
}


/* The causal point: with peers, a CAUSAL marker sent through the total order comes back after
 * everything any node committed before this call; alone, what we have ordered already is it. */
static int causal_point(struct repl_node *n, int64_t timeout_ns, int64_t *target)
{
    struct repl_causal_wait w = {0};
    pthread_cond_init(&w.cond, NULL);
    struct timespec dl = repl_deadline_in(timeout_ns);
    int rc = REPL_TRX_FAIL;
    pthread_mutex_lock(&n->mu);
    uint64_t epoch = UINT64_MAX;
    /* a view change in between loses the marker or refuses it: wait for the next view, again */
    for (int attempt = 0; attempt < 8; attempt++) {
        if (!repl_wait_writable_locked(n, epoch)) break;
        if (n->memb_num <= 1) {
            *target = n->last_seqno;
            rc = REPL_OK;
            break;
        }
        w.id = ++n->next_causal_id;
        w.done = w.lost = false;
        w.next = n->causal_waits;
        n->causal_waits = &w;
        epoch = n->view_epoch;
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
        while (!brc && !w.done && !w.lost && !n->group_closed)
            if (pthread_cond_timedwait(&w.cond, &n->mu, &dl) == ETIMEDOUT) {
                timeout = true;
                break;
            }
        for (struct repl_causal_wait **pp = &n->causal_waits; *pp; pp = &(*pp)->next)
            if (*pp == &w) {
                *pp = w.next;
                break;
            }
        if (w.done) {
            *target = w.seqno;
            rc = REPL_OK;
            break;
        }
        if (timeout || n->group_closed || (brc && brc != -ENOTCONN)) break;
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
    tr_uuid uuid = n->group_uuid;
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
    int64_t upto = n->last_seqno; /* nothing beyond this is taken from the stream now */
    pthread_mutex_unlock(&n->mu);
    repl_monitor_wait(n->apply_mon, upto, -1);
    repl_node_save_state(n, true);
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
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    tr_info("Provider resumed");
    return REPL_OK;
}

int repl_node_desync(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (!repl_writable_locked(n)) {
        pthread_mutex_unlock(&n->mu);
        return REPL_TRX_FAIL;
    }
    if (n->desync_count++ == 0 && n->state == REPL_ST_SYNCED) {
        n->state = REPL_ST_DONOR;
        tr_info("Shifting SYNCED -> DONOR/DESYNCED");
    }
    pthread_mutex_unlock(&n->mu);
    repl_stream_fc_check(n); /* a desynced node lifts any stop it asked for, now */
    return REPL_OK;
}

int repl_node_resync(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (n->desync_count == 0) {
        pthread_mutex_unlock(&n->mu);
        return REPL_OK;
    }
    bool rejoin = --n->desync_count == 0 && n->state == REPL_ST_DONOR && !n->sst.donating;
    if (rejoin) {
        n->state = REPL_ST_JOINED;
        tr_info("Shifting DONOR/DESYNCED -> JOINED");
    }
    pthread_mutex_unlock(&n->mu);
    if (rejoin) {
        /* synced_cb may not run on the caller's thread: the host holds its own lock here. */
        struct repl_gev *ev = calloc(1, sizeof *ev);
        if (!ev) return REPL_FATAL;
        ev->type = REPL_GEV_SYNC;
        repl_stream_sink(n, ev);
    }
    return REPL_OK;
}
