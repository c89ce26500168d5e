/* replicator/repl_stream: the ordered stream: group events queued, then taken by recv() threads.
 * Taking an event assigns its global seqno and certification verdict, so both follow total order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_node_impl.h"

#define LAST_EVERY 64 /* commits between LAST reports: bounds the certification index */

void repl_gev_free(struct repl_gev *ev)
{
    if (!ev) return;
    free(ev->buf);
    free(ev->view.members);
    free(ev);
}

static void sample_queue_locked(struct repl_node *n)
{
    n->q_len_sum += (double)n->q_len;
    n->q_samples++;
    if (n->q_len > n->q_len_max) n->q_len_max = n->q_len;
    if (n->q_len < n->q_len_min) n->q_len_min = n->q_len;
}

/* ---- flow control (replication.md §5) ---- */

/* Galera's limits: stop above fc_limit × √members (× 1 with fc_single_primary), resume at or
 * below that × fc_factor. A desynced node never holds the group. Notes the wish under mu;
 * true when it changed and the group must be told (fc_tell, outside mu). */
static bool fc_eval_locked(struct repl_node *n)
{
    double k = atomic_load(&n->fc_single_primary) || n->memb_num < 2 ? 1.0
                                                                      : sqrt((double)n->memb_num);
    int64_t upper = (int64_t)((double)atomic_load(&n->fc_limit) * k + 0.5);
    int64_t lower = (int64_t)((double)upper * atomic_load(&n->fc_factor) + 0.5);
    bool want = n->fc_requested;
    int64_t len = n->q_len + n->sst.held_len;
    /* a joiner waiting for its state holds what arrives meanwhile, as Galera's does */
    if (n->desync_count > 0 || n->state == REPL_ST_DONOR || !n->connected ||
        n->sst.phase == REPL_SST_PREPARE || n->sst.phase == REPL_SST_WAIT)
        want = false;
    else if (len > upper)
        want = true;
    else if (len <= lower)
        want = false;
    if (want == n->fc_requested) return false;
    n->fc_requested = want;
    return true;
}

/* Brings the group up to the node's wish. One thread at a time calls the op (fc_busy), so a
 * stop and a resume decided on two threads reach the group in the order they were decided:
 * the busy one re-reads the wish after each call. Never called with mu held. */
static void fc_tell(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (n->fc_busy || !n->group) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    n->fc_busy = true;
    while (n->fc_requested != n->fc_told) {
        bool want = n->fc_requested;
        pthread_mutex_unlock(&n->mu);
        n->group->ops->flow_control(n->group, want);
        atomic_fetch_add(&n->st_fc_sent, 1);
        pthread_mutex_lock(&n->mu);
        n->fc_told = want;
    }
    n->fc_busy = false;
    pthread_mutex_unlock(&n->mu);
}

void repl_stream_fc_check(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool tell = fc_eval_locked(n);
    pthread_mutex_unlock(&n->mu);
    if (tell) fc_tell(n);
}

static void gev_append(struct repl_gev **head, struct repl_gev **tail, struct repl_gev *ev)
{
    ev->next = NULL;
    if (*tail)
        (*tail)->next = ev;
    else
        *head = ev;
    *tail = ev;
}

void repl_stream_sink(void *ctx, struct repl_gev *ev)
{
    struct repl_node *n = ctx;
    pthread_mutex_lock(&n->mu);
    /* Galera's received: actions from other nodes (and views), not our own write-sets */
    if ((ev->type == REPL_GEV_MSG && tr_uuid_compare(&ev->sender, &n->self) != 0 &&
         !repl_msg_is_control(ev->buf, ev->len)) ||
        ev->type == REPL_GEV_VIEW) {
        atomic_fetch_add(&n->st_received, 1);
        atomic_fetch_add(&n->st_received_bytes, (int64_t)ev->len);
    }
    gev_append(&n->q_head, &n->q_tail, ev);
    n->q_len++;
    sample_queue_locked(n);
    bool tell = fc_eval_locked(n);
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    if (tell) fc_tell(n); /* inside the group's delivery: the op is sink-safe */
}

/* A write-set every member drops (delivered outside a primary component): if it is ours, its
 * client gets a connection error instead of waiting for an order that never comes. */
static void lose_ws_locked(struct repl_node *n, const struct repl_gev *ev)
{
    struct cert_ws_view lost;
    if (repl_msg_is_control(ev->buf, ev->len)) {
        struct repl_msg_causal c; /* a causal read's marker: its reader sends another */
        if (repl_msg_type(ev->buf) == REPL_MSG_CAUSAL &&
            repl_msg_causal_decode(ev->buf, ev->len, &c) == 0 &&
            tr_uuid_compare(&c.node, &n->self) == 0)
            for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next)
                if (w->id == c.id) {
                    w->lost = true;
                    pthread_cond_broadcast(&w->cond);
                }
        return;
    }
    if (cert_ws_decode(ev->buf, ev->len, CERT_WS_MAX_SIZE, &lost) != 0) return;
    if (tr_uuid_compare(&lost.hdr.source, &n->self) == 0)
        for (struct repl_trx *t = n->by_local[repl_hash(lost.hdr.local_id)]; t; t = t->next_local)
            if (t->local_id == lost.hdr.local_id && !t->ordered) {
                t->lost = true;
                pthread_cond_broadcast(&t->cond);
            }
    cert_ws_view_release(&lost);
}

/* The exchange completed: what came meanwhile is taken next, in its order. */
static void exch_requeue_deferred_locked(struct repl_node *n)
{
    if (!n->exch.defer_head) return;
    int64_t k = 0;
    for (struct repl_gev *e = n->exch.defer_head; e; e = e->next) k++;
    n->exch.defer_tail->next = n->q_head;
    if (!n->q_head) n->q_tail = n->exch.defer_tail;
    n->q_head = n->exch.defer_head;
    n->q_len += k;
    n->exch.defer_head = n->exch.defer_tail = NULL;
}

static void exch_clear_locked(struct repl_node *n)
{
    /* still deferred: the view ended before its exchange did, so nobody takes these */
    while (n->exch.defer_head) {
        struct repl_gev *e = n->exch.defer_head;
        n->exch.defer_head = e->next;
        lose_ws_locked(n, e);
        repl_gev_free(e);
    }
    free(n->exch.members);
    free(n->exch.states);
    free(n->exch.got);
    memset(&n->exch, 0, sizeof n->exch);
}

/* ---- actions a joiner holds until its state arrives (replication.md §6) ---- */

static void held_free(struct repl_held *h)
{
    if (h->job) {
        cert_ws_view_release(&h->job->view);
        free(h->job);
    }
    free(h->view);
    free(h->buf);
    free(h);
}

void repl_stream_free_held_locked(struct repl_node *n)
{
    while (n->sst.head) {
        struct repl_held *h = n->sst.head;
        n->sst.head = h->next;
        held_free(h);
    }
    n->sst.tail = NULL;
    n->sst.held_len = 0;
}

void repl_stream_hold_locked(struct repl_node *n, int64_t seqno, struct repl_trx *job,
                             struct repl_view *view, void *buf)
{
    struct repl_held *h = calloc(1, sizeof *h);
    if (!h) {
        /* Losing an ordered action would make this node diverge: it leaves instead. */
        tr_error("out of memory holding seqno %lld for the state transfer: leaving the cluster",
                 (long long)seqno);
        n->must_leave = true;
        if (job) {
            cert_ws_view_release(&job->view);
            free(job);
        }
        free(view);
        free(buf);
        return;
    }
    h->seqno = seqno;
    h->job = job;
    h->view = view;
    h->buf = buf;
    if (n->sst.tail)
        n->sst.tail->next = h;
    else
        n->sst.head = h;
    n->sst.tail = h;
    n->sst.held_len++;
}

/* New actions go behind the held ones until those are done. */
static bool holding_locked(const struct repl_node *n)
{
    return n->sst.phase == REPL_SST_PREPARE || n->sst.phase == REPL_SST_WAIT ||
           (n->sst.phase == REPL_SST_APPLY && n->sst.head);
}

/* An action the received state already contains. */
static bool in_snapshot_locked(const struct repl_node *n, int64_t seqno)
{
    return n->sst.phase == REPL_SST_APPLY && seqno <= n->sst.seqno;
}

/* Something for an applier to do in the APPLY phase: a held action, or the catch-up to end. */
static bool sst_ready_locked(const struct repl_node *n)
{
    return n->sst.phase == REPL_SST_APPLY && (n->sst.head || n->last_seqno >= n->sst.seqno);
}

void repl_stream_free(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    n->sst.phase = REPL_SST_NONE; /* an IST receiver gives up within its poll period */
    while (n->sst.ist_running > 0) pthread_cond_wait(&n->cond, &n->mu);
    pthread_mutex_unlock(&n->mu);
    repl_gcache_free(n->gcache);
    n->gcache = NULL;
    exch_clear_locked(n);
    repl_sst_clear_locked(n);
    repl_vote_clear_locked(n);
    free(n->memb_info);
    n->memb_info = NULL;
    free(n->memb_state);
    n->memb_state = NULL;
    free(n->member_last);
    n->member_last = NULL;
    free(n->view_members);
    n->view_members = NULL;
    if (n->cert) cert_index_free(n->cert);
    n->cert = NULL;
}

void repl_stream_broadcast(struct repl_node *n, struct tr_buf *b)
{
    struct repl_buf one = {b->ptr, b->len};
    int rc = n->group ? n->group->ops->broadcast(n->group, &one, 1) : -1;
    if (rc) tr_debug("control message not sent (%d): a new view will follow", rc);
    tr_buf_free(b);
}

/* Every LAST_EVERY commits, tell the group how far this node has committed. */
void repl_stream_applied(struct repl_node *n)
{
    if (atomic_fetch_add(&n->commits_since_last, 1) + 1 < LAST_EVERY) return;
    atomic_store(&n->commits_since_last, 0);
    /* A safe point must bound every later write-set of ours: what we committed, and the
     * last_seen of those already broadcast (or about to be) but not ordered yet. */
    pthread_mutex_lock(&n->mu);
    int64_t safe = repl_monitor_last_left(n->apply_mon);
    for (int i = 0; i < REPL_HASH; i++)
        for (struct repl_trx *t = n->by_local[i]; t; t = t->next_local)
            if (t->in_flight && t->last_seen < safe) safe = t->last_seen;
    pthread_mutex_unlock(&n->mu);
    struct repl_msg_last m = {n->self, safe};
    struct tr_buf b = {0};
    if (repl_msg_last_encode(&m, &b) == 0) repl_stream_broadcast(n, &b);
}

static void note_members_locked(struct repl_node *n, const struct repl_member *members, int num)
{
    size_t off = 0;
    n->incoming_addresses[0] = '\0';
    for (int i = 0; i < num; i++) {
        const char *in = members[i].incoming;
        size_t len = strnlen(in, REPL_INCOMING_LEN);
        if (off + len + 2 >= sizeof n->incoming_addresses) break;
        if (i) n->incoming_addresses[off++] = ',';
        memcpy(n->incoming_addresses + off, in, len);
        off += len;
        n->incoming_addresses[off] = '\0';
    }
    n->memb_num = num;
}

static struct repl_view *make_view(struct repl_node *n, const struct repl_member *members, int num,
                                   int my_idx, bool primary, int64_t conf_id, int64_t seqno)
{
    struct repl_view *v = calloc(1, repl_view_size(num));
    if (!v) return NULL;
    v->state_id.uuid = n->group_uuid;
    v->state_id.seqno = seqno;
    v->view = primary ? conf_id : -1;
    v->status = primary ? REPL_VIEW_PRIMARY : REPL_VIEW_NON_PRIMARY;
    v->capabilities = repl_node_capabilities(n);
    v->my_idx = my_idx;
    v->memb_num = num;
    v->proto_ver = n->proto_ver;
    if (num > 0) memcpy(v->members, members, sizeof *members * (size_t)num);
    return v;
}

/* A primary view (configuration change) is an ordered action: everything before it commits
 * first, then the host hears of it, then the node reports Synced if it has the group's state.
 * A joiner's first view goes to the state transfer instead (the host's state will hold it). */
static int deliver_cc(struct repl_node *n, void *recv_ctx, struct repl_view *v, bool first,
                      bool joined)
{
    int64_t seqno = v->state_id.seqno;
    if (!joined) {
        int rc = REPL_OK;
        if (!repl_sst_start(n, v, first, &rc)) return rc; /* the state arrives by transfer */
        first = false; /* connected_cb went out already */
        joined = true;
    }
    repl_monitor_enter(n->apply_mon, seqno, seqno - 1);
    repl_monitor_enter(n->commit_mon, seqno, seqno - 1);
    int rc = 0;
    if (first && n->host.connected) rc = n->host.connected(n->host.app_ctx, v);
    if (!rc && n->host.view) rc = n->host.view(n->host.app_ctx, recv_ctx, v);
    repl_monitor_leave(n->commit_mon, seqno);
    repl_monitor_leave(n->apply_mon, seqno);
    if (rc) {
        tr_error("view callback failed (%d) for view %lld", rc, (long long)v->view);
        return REPL_FATAL;
    }
    pthread_mutex_lock(&n->mu);
    /* safe_to_bootstrap: only the sole member of a primary component may bootstrap later. */
    n->safe_to_bootstrap = v->memb_num == 1;
    bool sync = joined && n->state == REPL_ST_JOINED && n->desync_count == 0 &&
                n->sst.phase == REPL_SST_NONE;
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
    struct repl_view *v = make_view(n, NULL, 0, -1, false, -1, 0);
    if (!v) return REPL_FATAL;
    v->state_id.seqno = repl_monitor_last_left(n->apply_mon);
    int64_t at = v->state_id.seqno;
    int rc = n->host.view ? n->host.view(n->host.app_ctx, recv_ctx, v) : 0;
    free(v);
    repl_node_save_state(n, false);
    tr_info("Closed connection to the cluster at %lld", (long long)at);
    return rc ? REPL_FATAL : REPL_OK;
}

/* ---- state exchange ---- */

/* A new primary view from the group: remember it, say what we hold (under mu). Returns the
 * STATE message to broadcast once mu is released. */
static void begin_exchange_locked(struct repl_node *n, const struct repl_gview *gv,
                                  struct tr_buf *out)
{
    exch_clear_locked(n);
    n->exch.members = calloc((size_t)gv->memb_num, sizeof *n->exch.members);
    n->exch.states = calloc((size_t)gv->memb_num, sizeof *n->exch.states);
    n->exch.got = calloc((size_t)gv->memb_num, sizeof *n->exch.got);
    if (!n->exch.members || !n->exch.states || !n->exch.got) {
        exch_clear_locked(n);
        tr_error("out of memory for the state exchange of view %lld", (long long)gv->conf_id);
        return;
    }
    memcpy(n->exch.members, gv->members, sizeof *gv->members * (size_t)gv->memb_num);
    n->exch.memb_num = gv->memb_num;
    n->exch.my_idx = gv->my_idx;
    n->exch.conf_id = gv->conf_id;
    n->exch.active = true;

    struct repl_msg_state m = {
        .conf_id = gv->conf_id,
        .node = n->self,
        .group = n->group_uuid,
        .seqno = tr_uuid_is_nil(&n->group_uuid) ? TR_SEQNO_UNDEFINED : n->last_seqno,
        .prim = n->exch_done_prim,
        .state = (uint8_t)n->state,
        .proto_app = (uint16_t)n->proto_ver,
    };
    tr_uuid_generate(&m.proposal);
    memcpy(m.name, n->name, sizeof m.name);
    memcpy(m.incoming, n->incoming, sizeof m.incoming);
    if (repl_msg_state_encode(&m, out)) tr_buf_free(out);
}

struct exch_result {
    tr_uuid group;
    int64_t seqno;   /* the group's last seqno: the view takes seqno + 1 */
    bool joined;     /* this node holds that state */
    bool receiving;  /* this node is receiving it by a transfer begun in an earlier view */
    bool new_history;
    bool no_state;   /* histories exist, but no member holds one completely */
};

static bool holds_history(const struct repl_msg_state *s)
{
    return !tr_uuid_is_nil(&s->group) && s->seqno >= 0 && s->state != REPL_ST_JOINING;
}

/* Deterministic: the same STATE messages give the same result on every member. */
static void exch_decide(const struct repl_node *n, struct exch_result *r)
{
    const struct repl_msg_state *s = n->exch.states;
    int num = n->exch.memb_num, rep = -1;
    /* A member in the middle of a transfer orders the stream but does not hold the state. */
    for (int i = 0; i < num && rep < 0; i++)
        if (s[i].prim && holds_history(&s[i])) rep = i;
    if (rep < 0) /* nobody continues a primary component: the most advanced history */
        for (int i = 0; i < num; i++) {
            if (!holds_history(&s[i])) continue;
            if (rep < 0 || s[i].seqno > s[rep].seqno ||
                (s[i].seqno == s[rep].seqno && tr_uuid_compare(&s[i].node, &s[rep].node) < 0))
                rep = i;
        }
    memset(r, 0, sizeof *r);
    bool any = false;
    for (int i = 0; i < num; i++) any |= !tr_uuid_is_nil(&s[i].group) && s[i].seqno >= 0;
    if (rep < 0 && any) { /* only joiners: Galera's "no node has complete state" */
        r->no_state = true;
        return;
    }
    if (rep < 0) { /* no history anywhere: a new one, named by the first member */
        r->group = s[0].proposal;
        r->seqno = 0;
        r->new_history = true;
        r->joined = true;
        return;
    }
    r->group = s[rep].group;
    r->seqno = s[rep].seqno;
    const struct repl_msg_state *me = &s[n->exch.my_idx];
    bool same = tr_uuid_compare(&me->group, &r->group) == 0 && me->seqno == r->seqno;
    r->joined = same && me->state != REPL_ST_JOINING;
    r->receiving = same && me->state == REPL_ST_JOINING && n->sst.phase != REPL_SST_NONE;
}

/* A STATE message (under mu). When the last one arrives, the view becomes an ordered action;
 * returns it for delivery outside mu. */
static struct repl_view *on_state_locked(struct repl_node *n, const tr_uuid *sender,
                                         const uint8_t *buf, size_t len, bool *first,
                                         bool *joined, bool *hold)
{
    struct repl_msg_state m;
    if (repl_msg_state_decode(buf, len, &m)) {
        tr_warn("dropping malformed STATE message (%zu bytes)", len);
        return NULL;
    }
    if (!n->exch.active || m.conf_id != n->exch.conf_id) return NULL; /* an older view's */
    int idx = -1;
    for (int i = 0; i < n->exch.memb_num; i++)
        if (tr_uuid_compare(&n->exch.members[i].id, &m.node) == 0) idx = i;
    if (idx < 0 || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping STATE message from a non-member");
        return NULL;
    }
    if (!n->exch.got[idx]) n->exch.got_num++;
    n->exch.got[idx] = true;
    n->exch.states[idx] = m;
    if (n->exch.got_num < n->exch.memb_num) return NULL;

    struct exch_result r;
    exch_decide(n, &r);
    n->view_epoch++;
    pthread_cond_broadcast(&n->cond);
    if (r.no_state) {
        tr_error("Quorum results: view %lld, %d members, but no member holds the complete "
                 "group state (all are joiners): not primary until one that does returns",
                 (long long)n->exch.conf_id, n->exch.memb_num);
        exch_clear_locked(n);
        return NULL;
    }
    char u[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&r.group, u);
    tr_info("Quorum results: view %lld, %d members, group %s:%lld, this node %s",
            (long long)n->exch.conf_id, n->exch.memb_num, u, (long long)r.seqno,
            r.joined      ? "holds that state"
            : r.receiving ? "is receiving it"
                          : "needs a state transfer");
    if (!r.joined && !r.receiving && n->sst.phase != REPL_SST_NONE) {
        /* a transfer was under way, but the stream it was holding has a gap now */
        tr_error("State transfer interrupted: the group moved on without this node");
        repl_sst_clear_locked(n);
        n->must_leave = true;
    }
    bool continuous = (n->exch_done_prim && r.joined && n->cert) || (r.receiving && n->cert);
    if (!r.joined && !r.receiving) { /* what it holds: an IST may complete it (repl_ist.c) */
        n->sst.own_uuid = n->exch.states[n->exch.my_idx].group;
        n->sst.own_seqno = n->exch.states[n->exch.my_idx].seqno;
        /* a joiner starts over: a desync from before ends here, as on Galera (GAL-401) */
        n->desync_count = 0;
    }
    n->group_uuid = r.group;
    n->last_seqno = r.seqno + 1; /* the view's own seqno */
    if (r.new_history) {
        repl_monitor_reset(n->apply_mon, 0);
        repl_monitor_reset(n->commit_mon, 0);
    }
    bool transfer = false; /* some member joins by state transfer */
    for (int i = 0; i < n->exch.memb_num; i++)
        if (tr_uuid_compare(&n->exch.states[i].group, &r.group) != 0 ||
            n->exch.states[i].seqno != r.seqno)
            transfer = true;
    if (!continuous) {
        if (n->cert) cert_index_free(n->cert);
        n->cert = cert_index_new(r.seqno);
        n->cert_floor = r.seqno;
        if (!n->cert) tr_error("out of memory for the certification index");
    } else if (transfer && n->cert) {
        /* A joiner's index starts at the group position; so that every member certifies
         * alike, all start over there. Transactions that began before the join then fail
         * certification everywhere (ER_LOCK_DEADLOCK), never on some nodes only. */
        cert_index_reset(n->cert, r.seqno);
        n->cert_floor = r.seqno;
    }
    if (n->cert) cert_barrier(n->cert, n->last_seqno);
    free(n->member_last);
    free(n->view_members);
    n->member_last = calloc((size_t)n->exch.memb_num, sizeof *n->member_last);
    n->view_members = calloc((size_t)n->exch.memb_num, sizeof *n->view_members);
    for (int i = 0; n->member_last && n->view_members && i < n->exch.memb_num; i++) {
        n->member_last[i] = TR_SEQNO_UNDEFINED;
        n->view_members[i] = n->exch.members[i].id;
    }
    free(n->memb_info);
    free(n->memb_state);
    n->memb_info = calloc((size_t)n->exch.memb_num, sizeof *n->memb_info);
    n->memb_state = calloc((size_t)n->exch.memb_num, sizeof *n->memb_state);
    for (int i = 0; n->memb_info && n->memb_state && i < n->exch.memb_num; i++) {
        const struct repl_msg_state *st = &n->exch.states[i];
        bool holds = holds_history(st) && tr_uuid_compare(&st->group, &r.group) == 0 &&
                     st->seqno == r.seqno;
        n->memb_info[i] = n->exch.members[i];
        n->memb_state[i] = (uint8_t)repl_sst_member_state(st, holds || r.new_history);
    }
    n->safe_seqno = TR_SEQNO_UNDEFINED;
    n->primary = true;
    n->ordering = n->cert != NULL;
    /* only the sole member of a primary component may bootstrap later (a joiner's first view
     * never reaches deliver_cc, so it is noted here) */
    n->safe_to_bootstrap = n->exch.memb_num == 1;
    repl_gcache_put(n->gcache, n->last_seqno, REPL_GC_SKIP, NULL, 0); /* the view's seqno */
    n->conf_id = n->exch.conf_id;
    note_members_locked(n, n->exch.members, n->exch.memb_num);
    repl_vote_view_locked(n); /* after memb_info and memb_num are this view's */
    if (r.joined) {
        n->exch_done_prim = true;
        if (n->state < REPL_ST_JOINED) n->state = REPL_ST_JOINED;
    } else {
        n->exch_done_prim = false;
        n->state = REPL_ST_JOINING;
        /* from here on, what is ordered waits for the state (repl_sst_start) */
        if (!r.receiving && !n->must_leave) n->sst.phase = REPL_SST_PREPARE;
    }
    *first = !n->first_primary_seen;
    n->first_primary_seen = true;
    *joined = r.joined || r.receiving;
    *hold = r.receiving || (r.joined && holding_locked(n));
    struct repl_view *v = make_view(n, n->exch.members, n->exch.memb_num, n->exch.my_idx, true,
                                    n->exch.conf_id, n->last_seqno);
    exch_requeue_deferred_locked(n);
    exch_clear_locked(n);
    /* a request lost with the view it was sent in is sent again */
    if (r.receiving && n->sst.phase == REPL_SST_WAIT && !n->sst.have_donor) n->sst.resend = true;
    return v;
}

static void on_last_locked(struct repl_node *n, const uint8_t *buf, size_t len)
{
    struct repl_msg_last m;
    if (repl_msg_last_decode(buf, len, &m) || !n->primary || !n->member_last || !n->view_members ||
        !n->cert)
        return;
    int64_t min = INT64_MAX;
    bool all = true;
    for (int i = 0; i < n->memb_num; i++) {
        if (tr_uuid_compare(&n->view_members[i], &m.node) == 0 && m.seqno > n->member_last[i])
            n->member_last[i] = m.seqno;
        if (n->member_last[i] < 0) all = false;
        if (n->member_last[i] < min) min = n->member_last[i];
    }
    /* Every member has committed up to min: nothing at or below it can conflict again. Every
     * member sees the same LAST messages in the same place, so all purge alike. */
    if (all && min > n->safe_seqno) {
        n->safe_seqno = min;
        cert_purge(n->cert, min);
    }
}

/* Our own CAUSAL marker came back: what was ordered before it is what the reader must see. */
static void on_causal_locked(struct repl_node *n, const uint8_t *buf, size_t len)
{
    struct repl_msg_causal m;
    if (repl_msg_causal_decode(buf, len, &m) || tr_uuid_compare(&m.node, &n->self) != 0) return;
    for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next)
        if (w->id == m.id) {
            w->done = true;
            w->seqno = n->last_seqno;
            pthread_cond_broadcast(&w->cond);
        }
}

/* ---- write-sets ---- */

/* Assigns the seqno and verdict of a delivered write-set (under mu). Returns a job to apply
 * when another node's write-set passed; *cancel_seqno is set when the seqno needs no work here. */
static struct repl_trx *order_ws_locked(struct repl_node *n, struct repl_gev *ev,
                                        int64_t *cancel_seqno)
{
    *cancel_seqno = TR_SEQNO_UNDEFINED;
    if (!n->primary || !n->ordering || !n->cert) {
        tr_info("dropping a write-set delivered %s",
                n->state == REPL_ST_JOINING ? "to a joiner (no state transfer yet)"
                                            : "outside a primary component");
        lose_ws_locked(n, ev);
        return NULL;
    }
    struct cert_ws_view ws;
    int drc = cert_ws_decode(ev->buf, ev->len, CERT_WS_MAX_SIZE, &ws);
    if (drc) {
        /* Every member got the same bytes and decides the same: it takes no seqno anywhere. */
        tr_warn("dropping a write-set of %zu bytes: %s", ev->len, cert_ws_strerror(drc));
        return NULL;
    }
    int64_t seqno = ++n->last_seqno;
    int64_t depends = TR_SEQNO_UNDEFINED;
    int crc = cert_certify(n->cert, &ws, seqno, &depends);
    if (crc < 0) {
        /* Out of memory or a broken invariant: this node can no longer certify as the others
         * do. It leaves the group rather than diverge (the host sees a final view). */
        tr_error("certification of seqno %lld failed internally (%d): leaving the cluster",
                 (long long)seqno, crc);
        n->must_leave = true;
    }
    bool ok = crc == CERT_OK;
    /* the store a donor serves IST from: what every member applied at this seqno */
    if (repl_gcache_put(n->gcache, seqno, ok ? REPL_GC_WS : REPL_GC_SKIP, ok ? ev->buf : NULL,
                        ok ? ev->len : 0))
        tr_debug("write-set store: no room for seqno %lld", (long long)seqno);

    if (tr_uuid_compare(&ws.hdr.source, &n->self) == 0) {
        cert_ws_view_release(&ws);
        for (struct repl_trx *t = n->by_local[repl_hash(ws.hdr.local_id)]; t; t = t->next_local) {
            if (t->local_id != ws.hdr.local_id) continue;
            repl_trx_order_locked(n, t, seqno, ok ? depends : seqno - 1, ok);
            return NULL;
        }
        tr_error("own write-set %llu delivered but not in flight", (unsigned long long)ws.hdr.local_id);
        *cancel_seqno = seqno;
        return NULL;
    }
    if (!ok) {
        cert_ws_view_release(&ws);
        *cancel_seqno = seqno;
        return NULL;
    }
    struct repl_trx *job = calloc(1, sizeof *job);
    if (!job) {
        cert_ws_view_release(&ws);
        tr_error("out of memory for applying seqno %lld", (long long)seqno);
        *cancel_seqno = seqno;
        return NULL;
    }
    job->kind = REPL_H_JOB;
    job->trx_id = ws.hdr.trx_id;
    job->conn_id = ws.hdr.conn_id;
    job->flags = ws.hdr.flags;
    job->seqno = seqno;
    job->depends_on = depends;
    job->ordered = job->cert_ok = true;
    job->view = ws;
    return job;
}

static void leave_if_inconsistent(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool leave = n->must_leave && !n->closing;
    if (leave) n->closing = true;
    pthread_mutex_unlock(&n->mu);
    if (leave) n->group->ops->leave(n->group);
}

/* Applies another node's write-set on this applier thread (mu not held). */
static int apply_job(struct repl_node *n, void *recv_ctx, struct repl_trx *job, bool *exit_loop)
{
    int rc = REPL_OK;
    if (repl_monitor_enter(n->apply_mon, job->seqno, job->depends_on) == 0) {
        job->apply_entered = true;
        struct repl_meta meta = {.gtid = {n->group_uuid, job->seqno}, .depends_on = job->depends_on};
        meta.stid.node = job->view.hdr.source;
        meta.stid.trx = job->trx_id;
        meta.stid.conn = job->conn_id;
        struct repl_buf data = {job->view.data, job->view.data_len};
        if (n->host.apply(n->host.app_ctx, recv_ctx, job->trx_id, job, job->flags, &data, &meta,
                          exit_loop)) {
            /* commit_order_leave with an error has asked the cluster already */
            tr_info("applying seqno %lld failed on this node", (long long)job->seqno);
            static const char msg[] = "apply callback failed";
            repl_vote_failed(n, job->seqno, msg, sizeof msg - 1);
        }
    } else {
        rc = REPL_NODE_FAIL; /* closing */
    }
    /* whatever the host did, the seqno passes both monitors exactly once */
    if (!job->commit_done) {
        if (job->commit_entered)
            repl_monitor_leave(n->commit_mon, job->seqno);
        else
            repl_monitor_cancel(n->commit_mon, job->seqno);
    }
    if (job->apply_entered)
        repl_monitor_leave(n->apply_mon, job->seqno);
    else
        repl_monitor_cancel(n->apply_mon, job->seqno);
    repl_stream_applied(n);
    cert_ws_view_release(&job->view);
    free(job);
    return rc;
}

/* The APPLY phase: one held action (in order), or the end of the catch-up. mu held on entry,
 * released on return. */
static int apply_held(struct repl_node *n, void *recv_ctx, bool *exit_loop)
{
    struct repl_held *h = n->sst.head;
    if (!h) {
        int64_t at = n->last_seqno;
        n->sst.phase = REPL_SST_NONE;
        free(n->sst.req);
        n->sst.req = NULL;
        pthread_mutex_unlock(&n->mu);
        repl_sst_caught_up(n, at);
        return REPL_OK;
    }
    n->sst.head = h->next;
    if (!n->sst.head) n->sst.tail = NULL;
    n->sst.held_len--;
    bool skip = in_snapshot_locked(n, h->seqno);
    bool fc = fc_eval_locked(n);
    pthread_mutex_unlock(&n->mu);
    if (fc) fc_tell(n);
    int rc = REPL_OK;
    if (skip) {
        held_free(h);
        return rc;
    }
    if (h->job) {
        rc = apply_job(n, recv_ctx, h->job, exit_loop);
        h->job = NULL; /* apply_job frees it */
    } else if (h->view) {
        rc = deliver_cc(n, recv_ctx, h->view, false, true);
    } else {
        repl_monitor_cancel(n->apply_mon, h->seqno);
        repl_monitor_cancel(n->commit_mon, h->seqno);
    }
    held_free(h);
    leave_if_inconsistent(n);
    return rc;
}

/* CAUSAL and LAST apply nothing: they may be taken while the node is paused. */
static bool passes_pause(const struct repl_gev *ev)
{
    return ev->type == REPL_GEV_MSG && repl_msg_is_control(ev->buf, ev->len) &&
           (repl_msg_type(ev->buf) == REPL_MSG_CAUSAL || repl_msg_type(ev->buf) == REPL_MSG_LAST);
}

int repl_node_recv(struct repl_node *n, void *recv_ctx)
{
    for (;;) {
        pthread_mutex_lock(&n->mu);
        /* pause holds the stream, except that a disconnect must still reach the final view
         * and markers that only read positions pass (a causal read on a paused node whose
         * position is current must not time out, as on Galera) */
        while (!n->final_done &&
               ((!n->q_head && !sst_ready_locked(n)) ||
                (n->pause_count > 0 && !n->closing && !(n->q_head && passes_pause(n->q_head))))) {
            if (!n->connected && !n->q_head) break;
            pthread_cond_wait(&n->cond, &n->mu);
        }
        if (n->final_done || (!n->connected && !n->q_head)) {
            pthread_mutex_unlock(&n->mu);
            return REPL_OK;
        }
        if (!(n->pause_count > 0 && !n->closing) && sst_ready_locked(n)) {
            bool exit_held = false;
            int hrc = apply_held(n, recv_ctx, &exit_held);
            if (hrc != REPL_OK) return hrc;
            if (exit_held) return REPL_OK;
            continue;
        }
        struct repl_gev *ev = n->q_head;
        n->q_head = ev->next;
        if (!n->q_head) n->q_tail = NULL;
        n->q_len--;
        sample_queue_locked(n);
        /* told before the event's own work (an apply may take long), but after mu is released */
        bool fc = fc_eval_locked(n);

        int rc = REPL_OK;
        bool exit_loop = false;
        switch (ev->type) {
        case REPL_GEV_MSG:
            if (n->exch.active && !(repl_msg_is_control(ev->buf, ev->len) &&
                                    repl_msg_type(ev->buf) == REPL_MSG_STATE)) {
                /* Delivered between a primary view and the end of its exchange (gcomm resends
                 * what was pending at the view change): taken right after the exchange, at the
                 * same place on every member. */
                gev_append(&n->exch.defer_head, &n->exch.defer_tail, ev);
                pthread_mutex_unlock(&n->mu);
                if (fc) fc_tell(n);
                continue;
            }
            if (repl_msg_is_control(ev->buf, ev->len)) {
                struct repl_view *v = NULL;
                bool first = false, joined = false, hold = false, synced = false;
                int64_t answer = TR_SEQNO_UNDEFINED;
                struct repl_sst_act act = {0};
                int type = repl_msg_type(ev->buf);
                if (type == REPL_MSG_STATE) {
                    v = on_state_locked(n, &ev->sender, ev->buf, ev->len, &first, &joined, &hold);
                    if (v && hold) {
                        repl_stream_hold_locked(n, v->state_id.seqno, NULL, v, NULL);
                        v = NULL;
                    }
                } else if (type == REPL_MSG_LAST) {
                    on_last_locked(n, ev->buf, ev->len);
                } else if (type == REPL_MSG_CAUSAL) {
                    on_causal_locked(n, ev->buf, ev->len);
                } else if (type == REPL_MSG_STR) {
                    repl_sst_on_str_locked(n, &ev->sender, ev->buf, ev->len, &act);
                } else if (type == REPL_MSG_JOIN || type == REPL_MSG_SYNC) {
                    repl_sst_on_join_locked(n, type, &ev->sender, ev->buf, ev->len, &synced);
                } else if (type == REPL_MSG_VOTE) {
                    answer = repl_vote_on_msg_locked(n, &ev->sender, ev->buf, ev->len);
                }
                pthread_mutex_unlock(&n->mu);
                if (fc) fc_tell(n);
                fc = false;
                if (v) {
                    rc = deliver_cc(n, recv_ctx, v, first, joined);
                    free(v);
                }
                if (act.kind != REPL_SST_ACT_NONE) repl_sst_act(n, recv_ctx, &act);
                if (type == REPL_MSG_STATE) repl_sst_resend(n);
                if (answer >= 0) repl_vote_answer(n, answer);
                if (synced) {
                    tr_info("Shifting JOINED -> SYNCED (TO: %lld)",
                            (long long)repl_monitor_last_left(n->apply_mon));
                    repl_node_save_state(n, true);
                    if (n->host.synced && n->host.synced(n->host.app_ctx)) rc = REPL_FATAL;
                }
                leave_if_inconsistent(n);
            } else {
                int64_t cancel;
                struct repl_trx *job = order_ws_locked(n, ev, &cancel);
                int64_t at = job ? job->seqno : cancel;
                if (at >= 0 && in_snapshot_locked(n, at)) { /* the received state has it */
                    if (job) cert_ws_view_release(&job->view);
                    free(job);
                    job = NULL;
                    cancel = TR_SEQNO_UNDEFINED;
                } else if (at >= 0 && holding_locked(n)) {
                    /* the job's view points into the event's bytes: the held item keeps them */
                    repl_stream_hold_locked(n, at, job, NULL, job ? ev->buf : NULL);
                    if (job) ev->buf = NULL;
                    job = NULL;
                    cancel = TR_SEQNO_UNDEFINED;
                }
                pthread_mutex_unlock(&n->mu);
                if (fc) fc_tell(n);
                fc = false;
                if (cancel >= 0) {
                    repl_monitor_cancel(n->apply_mon, cancel);
                    repl_monitor_cancel(n->commit_mon, cancel);
                }
                if (job) rc = apply_job(n, recv_ctx, job, &exit_loop);
                leave_if_inconsistent(n);
            }
            break;
        case REPL_GEV_VIEW:
            n->view_epoch++; /* writers waiting for the group to re-form look again */
            pthread_cond_broadcast(&n->cond);
            if (ev->view.primary) {
                struct tr_buf st = {0};
                n->primary = false; /* until the exchange completes */
                n->ordering = false;
                begin_exchange_locked(n, &ev->view, &st);
                pthread_mutex_unlock(&n->mu);
                if (st.len) repl_stream_broadcast(n, &st);
            } else {
                exch_clear_locked(n);
                repl_trx_lose_in_flight_locked(n);
                /* the same for causal markers: their readers send new ones in the next primary
                 * view instead of waiting out repl.causal_read_timeout */
                for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next) {
                    w->lost = true;
                    pthread_cond_broadcast(&w->cond);
                }
                n->primary = false;
                n->ordering = false;
                n->exch_done_prim = false;
                /* a transfer under way goes on if the group comes back without a gap */
                n->state = n->sst.phase == REPL_SST_PREPARE || n->sst.phase == REPL_SST_WAIT
                               ? REPL_ST_JOINING
                               : REPL_ST_CLOSED;
                n->conf_id = ev->view.conf_id;
                note_members_locked(n, ev->view.members, ev->view.memb_num);
                struct repl_view *v = make_view(n, ev->view.members, ev->view.memb_num,
                                                ev->view.my_idx, false, -1, n->last_seqno);
                pthread_mutex_unlock(&n->mu);
                if (v && n->host.view && n->host.view(n->host.app_ctx, recv_ctx, v)) rc = REPL_FATAL;
                free(v);
            }
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
            for (struct repl_causal_wait *w = n->causal_waits; w; w = w->next)
                pthread_cond_broadcast(&w->cond);
            n->primary = false;
            n->ordering = false;
            n->exch_done_prim = false;
            exch_clear_locked(n);
            repl_sst_clear_locked(n);
            repl_vote_clear_locked(n);
            n->state = REPL_ST_CLOSED;
            n->memb_num = 0;
            repl_trx_abort_all_locked(n);
            n->fc_requested = n->fc_told = false; /* the group lifts a leaving member's stops */
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
        if (fc) fc_tell(n);
        repl_gev_free(ev);
        if (rc != REPL_OK) return rc;
        if (exit_loop) return REPL_OK;
    }
}
