/* replicator/repl_driver: runs the pure core for real: the group's thread steps it with views
 * and messages, appliers (recv) take the ordered actions, a service thread does the I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_ws.h"
#include "common/tr_abort.h"
#include "common/tr_cfg.h"
#include "common/tr_fail.h"
#include "common/tr_time.h"
#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"
#include "replicator/repl_vote.h"

#define TICK_NS (100 * 1000 * 1000) /* the core's timers (a request retried after 1 s) */

/* ---- routing a step's actions ---- */

static void broken_locked(struct repl_node *n, const char *why)
{
    if (n->broken) return;
    n->broken = true;
    tr_error("%s: this node leaves the cluster rather than diverge from the others", why);
    /* nothing ordered from here on is applied: waiters in the monitors give up */
    repl_monitor_close(n->apply_mon);
    repl_monitor_close(n->commit_mon);
    repl_trx_wake_all_locked(n);
    repl_sync_wake_all_locked(n);
    pthread_cond_broadcast(&n->w_cond);
    pthread_cond_broadcast(&n->svc_cond);
}

static void outbox_push_locked(struct repl_node *n, struct repl_act *a)
{
    if (n->outbox_n == n->outbox_cap) {
        size_t cap = n->outbox_cap ? n->outbox_cap * 2 : 32;
        struct repl_act *o = tr_fail_hit("driver.outbox") ? NULL : realloc(n->outbox, cap * sizeof *o);
        if (!o) {
            repl_act_release(a);
            broken_locked(n, "out of memory for the node's service queue");
            return;
        }
        n->outbox = o;
        n->outbox_cap = cap;
    }
    n->outbox[n->outbox_n++] = *a;
    n->outbox_in++;
    memset(a, 0, sizeof *a);
    pthread_cond_signal(&n->svc_cond);
}

static void immediate_locked(struct repl_node *n, struct repl_act *a)
{
    switch (a->kind) {
    case REPL_ACT_LOCAL: repl_trx_ordered_locked(n, a); break;
    case REPL_ACT_LOCAL_LOST:
        if (a->id == 0 && a->ws) /* an own rollback fragment the group dropped */
            repl_rollbacks_lost(&n->rollbacks, a->ws->view.hdr.trx_id, false);
        else
            repl_trx_lost_locked(n, a->id);
        break;
    case REPL_ACT_CAUSAL: repl_sync_causal_locked(n, a->id, a->seqno, false); break;
    case REPL_ACT_CAUSAL_LOST: repl_sync_causal_locked(n, a->id, -1, true); break;
    case REPL_ACT_NOTIFY: pthread_cond_broadcast(&n->w_cond); break;
    case REPL_ACT_FAILED:
        /* leaving: what is queued is not applied, and waits in the monitors give up */
        n->broken = true;
        repl_monitor_close(n->apply_mon);
        repl_monitor_close(n->commit_mon);
        repl_trx_wake_all_locked(n);
        repl_sync_wake_all_locked(n);
        pthread_cond_broadcast(&n->w_cond);
        break;
    default: break;
    }
    repl_act_release(a);
}

/* The group closed, and its final view was lost to an allocation failure (the core could not
 * record it, out->oom, or the appliers' queue could not take it). Leaving cannot help: the
 * group is gone, and no later event would bring a final view, so recv() waited for ever. The
 * final view queued here saves no position (broken: the next start decides from the host's
 * recovered one); if even that cannot be queued, the connection ends without it and recv()
 * returns once its queue is drained. */
static void final_lost_locked(struct repl_node *n)
{
    broken_locked(n, "out of memory recording the final view");
    struct repl_act f = {.kind = REPL_ACT_FINAL, .corrupt = true};
    f.gtid.uuid = *repl_core_group(n->core);
    if (repl_applyq_push(&n->q, &f)) n->connected = false;
    pthread_cond_broadcast(&n->q.cond);
}

/* Own rollback fragments: ordered here (forgotten), dropped with a non-primary view (gcomm
 * never delivers what was pending then), or sent again at the next primary view. */
static void rollbacks_track_locked(struct repl_node *n, const struct repl_act *a)
{
    if (!n->rollbacks.head) return;
    if (a->kind == REPL_ACT_APPLY && a->ws && (a->ws->view.hdr.flags & REPL_F_ROLLBACK) &&
        tr_uuid_compare(&a->ws->view.hdr.source, &n->self) == 0) {
        repl_rollbacks_delivered(&n->rollbacks, a->ws->view.hdr.trx_id);
    } else if (a->kind == REPL_ACT_NONPRIM) {
        repl_rollbacks_lost(&n->rollbacks, 0, true);
    } else if (a->kind == REPL_ACT_VIEW && !a->past && repl_rollbacks_any_lost(&n->rollbacks)) {
        n->rb_resend = true;
        pthread_cond_signal(&n->svc_cond);
    }
}

/* Sends the lost rollback fragments again (service thread, mu held on entry and exit). */
static void rollbacks_resend_locked(struct repl_node *n)
{
    n->rb_resend = false;
    struct repl_rb *lost;
    repl_rollbacks_take_lost(&n->rollbacks, &lost);
    pthread_mutex_unlock(&n->mu);
    struct repl_rb *done = NULL;
    while (lost) {
        struct repl_rb *e = lost;
        lost = e->next;
        tr_info("rollback fragment of trx %llu dropped at a view change: sending it again",
                (unsigned long long)e->trx_id);
        e->lost = repl_rollback_send(n, e->trx_id, e->conn_id, e->data, e->len) != REPL_OK;
        e->next = done;
        done = e;
    }
    pthread_mutex_lock(&n->mu);
    while (done) {
        struct repl_rb *e = done;
        done = e->next;
        repl_rollbacks_put(&n->rollbacks, e, e->lost);
    }
}

int repl_drive_locked(struct repl_node *n, struct repl_ev *ev)
{
    struct repl_acts *acts = &n->scratch;
    int rc = repl_core_step(n->core, ev, acts);
    bool final = false;
    if (ev->kind == REPL_EV_CLOSED) {
        repl_rollbacks_free(&n->rollbacks); /* the connection is over: nothing to resend */
        n->rb_resend = false;
        n->group_closed = true; /* terminate_host waits for it */
        pthread_cond_broadcast(&n->w_cond);
        n->fc_told = false; /* the group lifts a leaving member's stops */
        repl_trx_wake_all_locked(n); /* waiters for an order give up */
        repl_sync_wake_all_locked(n);
    }
    for (size_t i = 0; i < acts->n; i++) {
        struct repl_act *a = &acts->a[i];
        if (a->kind == REPL_ACT_FC) {
            /* told right after the lock is released, by whoever stepped (repl_driver_fc): a
             * stop must reach the group before the next write-set gets out */
            n->fc_pending = true;
            repl_act_release(a);
        } else if (repl_act_queued(a->kind)) {
            rollbacks_track_locked(n, a);
            bool donate = a->kind == REPL_ACT_DONATE, is_final = a->kind == REPL_ACT_FINAL;
            int64_t state = a->depends; /* DONATE: the request's place */
            if (n->broken && a->kind != REPL_ACT_FINAL) {
                repl_act_release(a);
            } else if (repl_applyq_push(&n->q, a)) {
                repl_act_release(a);
                broken_locked(n, "out of memory queueing an ordered action");
            } else {
                final |= is_final;
                /* from the request on, nothing ordered after it enters (local transactions
                 * and TOI neither) until the host has its snapshot: Galera's donor holds its
                 * local monitor through sst_donate_cb the same way */
                if (donate && n->donates++ == 0) repl_monitor_hold(n->apply_mon, state);
                pthread_cond_signal(&n->q.cond);
            }
        } else if (repl_act_immediate(a->kind)) {
            immediate_locked(n, a);
        } else {
            /* from now on the host must not see the connection end (deliver_final): it would
             * start its own abort path while the service thread still runs here */
            if (a->kind == REPL_ACT_LEAVE && a->stop && n->sst_abort) n->terminating = true;
            outbox_push_locked(n, a);
        }
    }
    acts->n = 0;
    if (acts->oom) {
        acts->oom = false;
        broken_locked(n, "out of memory recording the ordered stream's actions");
    }
    if (ev->kind == REPL_EV_CLOSED && !final) final_lost_locked(n);
    int64_t before = atomic_load(&n->notify_at);
    int64_t at = ev->kind == REPL_EV_CLOSED ? INT64_MAX : repl_core_notify_at(n->core);
    atomic_store(&n->notify_at, at);
    /* the core asks for an earlier point (a vote to answer) that may have passed already */
    if (at < before && ev->kind != REPL_EV_COMMITTED) {
        int64_t left = repl_monitor_last_left(n->apply_mon);
        if (left >= at) {
            struct repl_ev c = {.kind = REPL_EV_COMMITTED, .seqno = left};
            repl_drive_locked(n, &c);
        }
    }
    return rc;
}

int repl_drive(struct repl_node *n, struct repl_ev *ev)
{
    pthread_mutex_lock(&n->mu);
    int rc = repl_drive_locked(n, ev);
    pthread_mutex_unlock(&n->mu);
    repl_driver_fc(n);
    return rc;
}

/* Brings the group up to the core's flow-control wish. One thread at a time calls the op
 * (fc_busy), so a stop and a resume decided on two threads reach the group in the order they
 * were decided: the busy one re-reads the wish after each call. mu not held; the op is
 * sink-safe (it never waits for the group's delivery). */
void repl_driver_fc(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (!n->fc_pending || n->fc_busy || !n->group) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    n->fc_busy = true;
    for (;;) {
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        n->fc_pending = false;
        if (in.fc_requested == n->fc_told) break;
        bool want = in.fc_requested;
        pthread_mutex_unlock(&n->mu);
        n->group->ops->flow_control(n->group, want);
        pthread_mutex_lock(&n->mu);
        n->fc_told = want;
    }
    n->fc_busy = false;
    pthread_mutex_unlock(&n->mu);
}

/* ---- the group's deliveries ---- */

static struct repl_ws *take_ws(struct repl_node *n, struct repl_gev *ev)
{
    struct repl_ws *ws = repl_ws_new(ev->buf, ev->len);
    ev->buf = NULL;
    /* checksums and decompression here, outside the lock that total order serializes */
    if (ws) repl_ws_decode(ws, CERT_WS_MAX_SIZE);
    return ws;
}

void repl_driver_sink(void *ctx, struct repl_gev *gev)
{
    struct repl_node *n = ctx;
    struct repl_ev ev = {0};
    switch (gev->type) {
    case REPL_GEV_VIEW:
        ev.kind = REPL_EV_VIEW;
        ev.view = &gev->view;
        atomic_fetch_add(&n->st_received, 1);
        break;
    case REPL_GEV_SKIP:
        ev.kind = REPL_EV_MSG;
        ev.sender = gev->sender;
        ev.seqno = gev->gseq;
        ev.span = gev->span;
        break;
    case REPL_GEV_LOST: { /* the start of our own action: the header names its waiter */
        struct cert_ws_hdr h; /* a start: only the sizes cannot match (ESIZE is checked last) */
        int rc = cert_ws_hdr_decode(gev->buf, gev->len, &h);
        if ((rc == 0 || rc == CERT_WS_ESIZE) && !tr_uuid_compare(&h.source, &n->self) && h.local_id) {
            ev.kind = REPL_EV_LOST;
            ev.code = h.local_id;
        }
        break;
    }
    case REPL_GEV_MSG: {
        ev.kind = REPL_EV_MSG;
        ev.sender = gev->sender;
        ev.seqno = gev->gseq;
        ev.span = gev->span;
        bool control = repl_msg_is_control(gev->buf, gev->len);
        if (!control && tr_uuid_compare(&gev->sender, &n->self) != 0) {
            /* Galera's received: actions from other nodes, not our own write-sets */
            atomic_fetch_add(&n->st_received, 1);
            atomic_fetch_add(&n->st_received_bytes, (int64_t)gev->len);
        }
        if (control) {
            ev.buf = gev->buf;
            ev.len = gev->len;
            gev->buf = NULL;
        } else if (!(ev.ws = take_ws(n, gev))) {
            /* an ordered message this node cannot keep: it would miss a seqno */
            ev.kind = REPL_EV_FAIL;
            ev.why = "out of memory taking a delivered write-set";
        }
        break;
    }
    case REPL_GEV_CLOSED: ev.kind = REPL_EV_CLOSED; break;
    case REPL_GEV_FAILED:
        ev.kind = REPL_EV_FAIL;
        ev.why = "the group layer lost an ordered event on this node (out of memory)";
        break;
    default: break;
    }
    if (ev.kind) {
        pthread_mutex_lock(&n->mu);
        /* the group may name us itself (gcomm keeps its uuid in gvwstate.dat); it does so
         * before its first delivery */
        if (!tr_uuid_is_nil(&n->group->self) && tr_uuid_compare(&n->group->self, &n->self) != 0) {
            n->self = n->group->self;
            repl_core_set_self(n->core, &n->self);
        }
        repl_drive_locked(n, &ev);
        pthread_mutex_unlock(&n->mu);
        repl_driver_fc(n); /* inside the group's delivery: the op is sink-safe */
    }
    if (ev.buf) free(ev.buf);
    repl_ws_unref(ev.ws);
    repl_gev_free(gev);
}

void repl_gev_free(struct repl_gev *ev)
{
    if (!ev) return;
    free(ev->buf);
    free(ev->view.members);
    free(ev);
}

void repl_driver_committed(struct repl_node *n, int64_t left)
{
    if (left < atomic_load_explicit(&n->notify_at, memory_order_relaxed)) return;
    struct repl_ev ev = {.kind = REPL_EV_COMMITTED, .seqno = left};
    repl_drive(n, &ev);
}

/* ---- the service thread: group operations, files and IST threads, in decision order ---- */

/* A joiner whose state will never arrive (the core's LEAVE with stop): as Galera, once the
 * group has let it go (bounded: a group that cannot say goodbye must not keep a node that
 * can never serve), the host process ends: MariaDB would otherwise go on to its own abort
 * path while its threads are still inside this library. trireme.sst_abort=no (tests, hosts
 * that restart themselves) only leaves. */
static void terminate_host(struct repl_node *n)
{
    struct timespec dl = tr_deadline_in(5 * TR_NS_PER_SEC);
    pthread_mutex_lock(&n->mu);
    if (!n->terminating) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    while (!n->group_closed && n->group && pthread_cond_timedwait(&n->w_cond, &n->mu, &dl) == 0)
        ;
    pthread_mutex_unlock(&n->mu);
    tr_abort_process();
}

static void run_outbox_act(struct repl_node *n, struct repl_act *a)
{
    switch (a->kind) {
    case REPL_ACT_BROADCAST: {
        struct repl_buf one = {a->msg.ptr, a->msg.len};
        int rc = n->group ? n->group->ops->broadcast(n->group, &one, 1) : -ENOTCONN;
        if (rc) tr_debug("control message not sent (%d): a new view will follow", rc);
        break;
    }
    case REPL_ACT_PERSIST:
        if (a->last_view || a->corrupt) {
            pthread_mutex_lock(&n->save_mu);
            if (a->last_view) n->last_view = *a->last_view;
            else memset(&n->last_view, 0, sizeof n->last_view); /* nothing to trust */
            pthread_mutex_unlock(&n->save_mu);
        }
        /* a clean position given by the core (gtid.seqno >= 0 when not running): the one a
         * joiner that touched nothing started from */
        repl_node_save_state_at(n, a->corrupt ? &tr_uuid_nil : &a->gtid.uuid, a->running,
                                a->running ? TR_SEQNO_UNDEFINED : a->gtid.seqno,
                                a->safe_to_bootstrap);
        break;
    case REPL_ACT_LEAVE:
        pthread_mutex_lock(&n->mu);
        bool twice = n->leave_sent;
        n->leave_sent = true;
        pthread_mutex_unlock(&n->mu);
        if (n->group && !twice) n->group->ops->leave(n->group);
        if (a->stop) terminate_host(n);
        break;
    case REPL_ACT_IST_RECV:
        if (repl_ist_start_receiver(n, a)) {
            struct repl_ev ev = {.kind = REPL_EV_IST_RECEIVED, .rc = -1,
                                 .why = "cannot receive IST (ist.recv_addr)"};
            repl_drive(n, &ev);
        }
        break;
    case REPL_ACT_IST_SEND:
        if (repl_ist_start_sender(n, a)) {
            struct repl_ev ev = {.kind = REPL_EV_IST_SENT, .rc = -EAGAIN};
            repl_drive(n, &ev);
        }
        break;
    default: break;
    }
    repl_act_release(a);
}

static void *svc_main(void *arg)
{
    struct repl_node *n = arg;
    pthread_mutex_lock(&n->mu);
    bool broken_left = false;
    for (;;) {
        if (n->outbox_n) {
            /* take the whole batch: its order is the core's */
            size_t k = n->outbox_n;
            struct repl_act *batch = malloc(k * sizeof *batch);
            if (!batch) { /* run them one by one instead */
                struct repl_act a = n->outbox[0];
                memmove(n->outbox, n->outbox + 1, (n->outbox_n - 1) * sizeof *n->outbox);
                n->outbox_n--;
                pthread_mutex_unlock(&n->mu);
                run_outbox_act(n, &a);
                pthread_mutex_lock(&n->mu);
                n->outbox_out++;
                pthread_cond_broadcast(&n->outbox_cond);
                continue;
            }
            memcpy(batch, n->outbox, k * sizeof *batch);
            n->outbox_n = 0;
            pthread_mutex_unlock(&n->mu);
            for (size_t i = 0; i < k; i++) run_outbox_act(n, &batch[i]);
            free(batch);
            pthread_mutex_lock(&n->mu);
            n->outbox_out += k;
            pthread_cond_broadcast(&n->outbox_cond);
            continue;
        }
        if (n->broken && !broken_left && !n->leave_sent && n->connected && n->group) {
            broken_left = true;
            n->leave_sent = true;
            pthread_mutex_unlock(&n->mu);
            n->group->ops->leave(n->group);
            pthread_mutex_lock(&n->mu);
            continue;
        }
        if (n->rb_resend && n->connected && !n->broken) {
            rollbacks_resend_locked(n);
            continue;
        }
        if (n->svc_stop) break;
        struct timespec dl = tr_deadline_in(TICK_NS);
        if (pthread_cond_timedwait(&n->svc_cond, &n->mu, &dl) == ETIMEDOUT && n->connected) {
            struct repl_ev ev = {.kind = REPL_EV_TICK, .now = (uint64_t)tr_now_ns()};
            repl_drive_locked(n, &ev);
            if (n->fc_pending) {
                pthread_mutex_unlock(&n->mu);
                repl_driver_fc(n);
                pthread_mutex_lock(&n->mu);
            }
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int repl_driver_start(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool running = n->svc_running;
    n->svc_stop = false;
    pthread_mutex_unlock(&n->mu);
    if (running) return 0;
    if (pthread_create(&n->svc, NULL, svc_main, n)) return -1;
    pthread_mutex_lock(&n->mu);
    n->svc_running = true;
    pthread_mutex_unlock(&n->mu);
    return 0;
}

void repl_driver_stop(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool running = n->svc_running;
    n->svc_stop = true;
    n->svc_running = false;
    pthread_cond_broadcast(&n->svc_cond);
    pthread_mutex_unlock(&n->mu);
    if (running) pthread_join(n->svc, NULL);
}

void repl_driver_flush(struct repl_node *n, int64_t timeout_ns)
{
    struct timespec dl = tr_deadline_in(timeout_ns);
    pthread_mutex_lock(&n->mu);
    uint64_t want = n->outbox_in;
    while (n->outbox_out < want && n->svc_running)
        if (pthread_cond_timedwait(&n->outbox_cond, &n->mu, &dl) == ETIMEDOUT) break;
    pthread_mutex_unlock(&n->mu);
}

/* ---- appliers ---- */

int repl_driver_apply_failed(struct repl_node *n, int64_t seqno, bool remote, const void *err,
                             size_t len)
{
    struct repl_ev ev = {.kind = REPL_EV_APPLY_FAILED, .seqno = seqno, .rc = remote ? 1 : 0,
                         .code = repl_vote_code(err, len)};
    pthread_mutex_lock(&n->mu);
    repl_drive_locked(n, &ev);
    /* as Galera's vote: the commit order stays held here until the group has decided, so
     * nothing after this seqno commits on a node that may be the odd one */
    while (repl_core_vote_pending(n->core, seqno) && !n->broken)
        pthread_cond_wait(&n->w_cond, &n->mu);
    bool ok = !n->broken;
    pthread_mutex_unlock(&n->mu);
    return ok ? REPL_OK : REPL_NODE_FAIL;
}

int repl_driver_apply(struct repl_node *n, void *recv_ctx, struct repl_job *job, bool *exit_loop)
{
    int rc = REPL_OK;
    struct repl_act *a = &job->act;
    if (repl_monitor_enter(n->apply_mon, a->seqno, a->depends) == 0) {
        job->h.apply_entered = true;
        const struct cert_ws_view *w = &a->ws->view;
        struct repl_meta meta = {.depends_on = a->depends};
        pthread_mutex_lock(&n->mu); /* the core's group: a state exchange may replace it */
        meta.gtid.uuid = *repl_core_group(n->core);
        pthread_mutex_unlock(&n->mu);
        meta.gtid.seqno = a->seqno;
        meta.stid.node = w->hdr.source;
        meta.stid.trx = w->hdr.trx_id;
        meta.stid.conn = w->hdr.conn_id;
        struct repl_buf data = {w->data, w->data_len};
        if (n->host.apply(n->host.app_ctx, recv_ctx, w->hdr.trx_id, job, w->hdr.flags, &data,
                          &meta, exit_loop)) {
            /* commit_order_leave with an error has asked the cluster already */
            tr_info("applying seqno %lld failed on this node", (long long)a->seqno);
            static const char msg[] = "apply callback failed";
            repl_driver_apply_failed(n, a->seqno, true, msg, sizeof msg - 1);
        }
    } else {
        rc = n->broken ? REPL_OK : REPL_NODE_FAIL; /* closing */
    }
    /* whatever the host did, the seqno passes both monitors exactly once */
    if (!job->h.commit_done) {
        if (job->h.commit_entered)
            repl_monitor_leave(n->commit_mon, a->seqno);
        else
            repl_monitor_cancel(n->commit_mon, a->seqno);
    }
    int64_t left = job->h.apply_entered ? repl_monitor_leave(n->apply_mon, a->seqno)
                                        : repl_monitor_cancel(n->apply_mon, a->seqno);
    repl_driver_committed(n, left);
    repl_act_release(a);
    free(job);
    return rc;
}

static int deliver_view(struct repl_node *n, void *recv_ctx, struct repl_act *a)
{
    int64_t seqno = a->seqno;
    repl_monitor_enter(n->apply_mon, seqno, seqno - 1);
    repl_monitor_enter(n->commit_mon, seqno, seqno - 1);
    int rc = 0;
    if (a->first && n->host.connected) rc = n->host.connected(n->host.app_ctx, a->view);
    if (!rc && n->host.view) rc = n->host.view(n->host.app_ctx, recv_ctx, a->view);
    repl_monitor_leave(n->commit_mon, seqno);
    repl_driver_committed(n, repl_monitor_leave(n->apply_mon, seqno));
    if (rc) {
        tr_error("view callback failed (%d) for view %lld", rc, (long long)a->view->view);
        return REPL_FATAL;
    }
    if (a->synced && n->host.synced && n->host.synced(n->host.app_ctx)) {
        tr_error("synced callback failed");
        return REPL_FATAL;
    }
    return REPL_OK;
}

static int deliver_final(struct repl_node *n, void *recv_ctx, struct repl_act *a)
{
    int64_t at = repl_monitor_last_left(n->apply_mon);
    struct repl_view v = {.view = -1, .status = REPL_VIEW_NON_PRIMARY, .my_idx = -1,
                          .proto_ver = n->proto_ver};
    v.state_id.uuid = a->gtid.uuid;
    v.state_id.seqno = at;
    v.capabilities = repl_node_capabilities(n);
    int rc = n->host.view ? n->host.view(n->host.app_ctx, recv_ctx, &v) : 0;
    /* After a break the monitors were closed and seqnos that were never applied passed them
     * (cancelled): last_left may claim more than the host committed. The file keeps seqno -1,
     * and the host's own recovered position (or a state transfer) decides at the next start. */
    pthread_mutex_lock(&n->mu);
    bool broken = n->broken;
    pthread_mutex_unlock(&n->mu);
    if (!a->corrupt && !broken) repl_node_save_state(n, &a->gtid.uuid, false, a->safe_to_bootstrap);
    tr_info("Closed connection to the cluster at %lld", (long long)at);
    return rc ? REPL_FATAL : REPL_OK;
}

static int sst_request(struct repl_node *n, struct repl_act *a)
{
    if (a->first && n->host.connected && n->host.connected(n->host.app_ctx, a->view))
        return REPL_FATAL;
    char g[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&a->view->state_id.uuid, g);
    tr_info("State transfer required: group state %s:%lld, local state at %lld", g,
            (long long)a->seqno, (long long)repl_monitor_last_left(n->apply_mon));
    void *req = NULL;
    size_t len = 0;
    int hrc = n->host.sst_request ? n->host.sst_request(n->host.app_ctx, &req, &len) : -1;
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .rc = hrc, .buf = req, .len = len};
    repl_drive(n, &ev);
    free(req);
    return REPL_OK;
}

static void donate(struct repl_node *n, void *recv_ctx, struct repl_act *a)
{
    /* the host's snapshot must hold everything ordered before the request and nothing after
     * it: appliers wait (this runs alone), and so does everything else ordered after it in the
     * apply monitor, held there since the request was queued (repl_drive_locked) */
    repl_monitor_wait(n->apply_mon, a->depends, -1);
    if (a->bypass)
        tr_info("Donating by IST: the joiner keeps its state %lld (bypass)", (long long)a->gtid.seqno);
    else
        tr_info("Donating state at %lld", (long long)a->gtid.seqno);
    int err = n->host.sst_donate ? n->host.sst_donate(n->host.app_ctx, recv_ctx, a->req, a->req_len,
                                                      &a->gtid, a->bypass)
                                 : -1;
    /* the hold moves on to the next request queued, or ends */
    pthread_mutex_lock(&n->mu);
    const struct repl_act *next = --n->donates > 0 ? repl_applyq_first(&n->q, REPL_ACT_DONATE) : NULL;
    repl_monitor_hold(n->apply_mon, next ? next->depends : INT64_MAX);
    pthread_mutex_unlock(&n->mu);
    struct repl_ev ev = {.kind = REPL_EV_DONATED, .rc = err};
    repl_drive(n, &ev);
}

/* Runs one taken action on this applier. */
static int run_job(struct repl_node *n, void *recv_ctx, struct repl_act *a, bool *exit_loop)
{
    int rc = REPL_OK;
    switch (a->kind) {
    case REPL_ACT_APPLY: {
        struct repl_job *job = calloc(1, sizeof *job);
        if (!job) {
            pthread_mutex_lock(&n->mu);
            broken_locked(n, "out of memory applying an ordered write-set");
            pthread_mutex_unlock(&n->mu);
            break;
        }
        job->h.kind = REPL_H_JOB;
        job->act = *a;
        memset(a, 0, sizeof *a);
        return repl_driver_apply(n, recv_ctx, job, exit_loop);
    }
    case REPL_ACT_SKIP:
        repl_monitor_cancel(n->commit_mon, a->seqno);
        repl_driver_committed(n, repl_monitor_cancel(n->apply_mon, a->seqno));
        break;
    case REPL_ACT_VIEW: rc = deliver_view(n, recv_ctx, a); break;
    case REPL_ACT_NONPRIM:
        if (n->host.view && n->host.view(n->host.app_ctx, recv_ctx, a->view)) rc = REPL_FATAL;
        break;
    case REPL_ACT_SYNCED:
        if (n->host.synced && n->host.synced(n->host.app_ctx)) rc = REPL_FATAL;
        break;
    case REPL_ACT_SST_REQUEST: rc = sst_request(n, a); break;
    case REPL_ACT_DONATE: donate(n, recv_ctx, a); break;
    case REPL_ACT_RESET:
        if (a->depends >= 0) repl_monitor_wait(n->apply_mon, a->depends, -1);
        repl_monitor_reset(n->apply_mon, a->seqno);
        repl_monitor_reset(n->commit_mon, a->seqno);
        break;
    case REPL_ACT_FINAL:
        pthread_mutex_lock(&n->mu);
        while (n->terminating) /* terminate_host ends the process within 5 s */
            pthread_cond_wait(&n->w_cond, &n->mu);
        pthread_mutex_unlock(&n->mu);
        rc = deliver_final(n, recv_ctx, a);
        break;
    default: break;
    }
    repl_act_release(a);
    return rc;
}

int repl_node_recv(struct repl_node *n, void *recv_ctx)
{
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (!n->final_done && !repl_applyq_ready(&n->q, n->pause_count)) {
            if (!n->connected && !n->q.len) break;
            pthread_cond_wait(&n->q.cond, &n->mu);
        }
        if (n->final_done || (!n->connected && !n->q.len)) {
            pthread_mutex_unlock(&n->mu);
            return REPL_OK;
        }
        struct repl_act a;
        bool alone;
        repl_applyq_take(&n->q, &a, &alone);
        if (n->broken && a.kind != REPL_ACT_FINAL) { /* leaving: nothing more is applied */
            repl_act_release(&a);
            repl_applyq_done(&n->q, alone);
            continue;
        }
        while (alone && n->q.running > 1) pthread_cond_wait(&n->q.cond, &n->mu);
        struct repl_ev taken = {.kind = REPL_EV_TAKEN, .seqno = a.kind == REPL_ACT_NONPRIM ||
                                                                        a.kind == REPL_ACT_SYNCED ||
                                                                        a.kind == REPL_ACT_FINAL
                                                                    ? -1
                                                                    : a.seqno};
        if (repl_drive_locked(n, &taken) == REPL_TRX_FAIL && a.kind == REPL_ACT_APPLY)
            a.kind = REPL_ACT_SKIP; /* the group voted that it fails everywhere */
        if (n->ist_wake_at >= 0 && taken.seqno >= n->ist_wake_at) { /* the IST receiver reads on */
            n->ist_wake_at = -1;
            pthread_cond_signal(&n->ist_cond);
        }
        bool final = a.kind == REPL_ACT_FINAL;
        pthread_mutex_unlock(&n->mu);
        repl_driver_fc(n); /* told before the action's own work (an apply may take long) */

        bool exit_loop = false;
        int rc = run_job(n, recv_ctx, &a, &exit_loop);

        pthread_mutex_lock(&n->mu);
        repl_applyq_done(&n->q, alone);
        if (final) {
            n->final_done = true;
            n->connected = false;
            pthread_cond_broadcast(&n->q.cond);
            pthread_cond_broadcast(&n->w_cond);
        }
        if (final || rc != REPL_OK || exit_loop) {
            pthread_mutex_unlock(&n->mu);
            return rc;
        }
    }
}
