/* replicator/repl_sst: state transfer: the joiner's request (STR), donor selection, donation,
 * sst_sent/sst_received, and the JOIN/SYNC messages that tell the group (replication.md §6). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_node_impl.h"

#define STR_RETRY_NS 1000000000LL /* a request without a donor is sent again after this */

static void send_join(struct repl_node *n, int type, int64_t seqno, int status);

/* The joiner holds the group state at seqno: the order restarts after it, the held actions
 * above it follow (mu held). */
static void state_received_locked(struct repl_node *n, int64_t seqno)
{
    repl_monitor_reset(n->apply_mon, seqno);
    repl_monitor_reset(n->commit_mon, seqno);
    n->sst.phase = REPL_SST_APPLY;
    n->sst.seqno = seqno;
    n->exch_done_prim = true;
    n->state = REPL_ST_JOINED;
    pthread_cond_broadcast(&n->cond);
}

static bool is_trivial(const void *req, size_t len)
{
    /* MariaDB's wsrep_sst_method=skip answers "trivial"; "none" means the same to us */
    return (len >= 7 && memcmp(req, "trivial", 7) == 0) || (len >= 4 && memcmp(req, "none", 4) == 0);
}

static int member_index_locked(const struct repl_node *n, const tr_uuid *id)
{
    if (!n->memb_info) return -1;
    for (int i = 0; i < n->memb_num; i++)
        if (tr_uuid_compare(&n->memb_info[i].id, id) == 0) return i;
    return -1;
}

/* What the group knows of a member from its STATE message: one that holds the group state and
 * was not in the middle of a transfer is synced from this view on (or stays what it said). */
int repl_sst_member_state(const struct repl_msg_state *s, bool holds)
{
    if (!holds) return REPL_ST_JOINING;
    if (s->state == REPL_ST_JOINED || s->state == REPL_ST_DONOR) return s->state;
    return REPL_ST_SYNCED;
}

static void send_str_locked(struct repl_node *n, struct tr_buf *out)
{
    struct repl_msg_str m = {.node = n->self, .req = n->sst.req, .req_len = (uint32_t)n->sst.req_len};
    m.position.uuid = n->group_uuid;
    m.position.seqno = repl_monitor_last_left(n->apply_mon);
    if (!n->sst.req_len) { /* IST only: what this node holds, and the gap to its join */
        m.position.seqno = n->sst.own_seqno;
        m.ist_upto = n->sst.ist_to + 1;
        memcpy(m.ist_addr, n->sst.ist_addr, sizeof m.ist_addr);
    }
    memcpy(m.donors, n->sst_donors, sizeof m.donors);
    if (repl_msg_str_encode(&m, out)) tr_buf_free(out);
}

void repl_sst_clear_locked(struct repl_node *n)
{
    repl_stream_free_held_locked(n);
    free(n->sst.join_view);
    n->sst.join_view = NULL;
    if (n->sst.ist_fd >= 0) close(n->sst.ist_fd); /* not taken by a receiver yet */
    n->sst.ist_fd = -1;
    free(n->sst.req);
    n->sst.req = NULL;
    n->sst.req_len = 0;
    n->sst.phase = REPL_SST_NONE;
    n->sst.have_donor = false;
    n->sst.donating = false;
}

/* The transfer cannot complete: leave the group rather than run without the group's state. */
static void fail_locked(struct repl_node *n, const char *why)
{
    /* Galera's words first ("Will never receive state"): MariaDB's tests and monitors know them */
    tr_error("Will never receive state. Need to abort: %s. This node leaves the cluster; "
             "restart it to try again.",
             why);
    repl_sst_clear_locked(n);
    n->must_leave = true;
}

/* IST for a member that holds an earlier state of the group's history. false: the view is not
 * delivered now (it follows the received actions). */
static bool start_ist(struct repl_node *n, struct repl_view *v)
{
    int64_t join = v->state_id.seqno;
    struct repl_view *copy = malloc(repl_view_size(v->memb_num));
    if (copy) memcpy(copy, v, repl_view_size(v->memb_num));
    pthread_mutex_lock(&n->mu);
    if (n->sst.phase != REPL_SST_PREPARE) {
        pthread_mutex_unlock(&n->mu);
        free(copy);
        return false;
    }
    if (tr_uuid_compare(&n->sst.own_uuid, &n->group_uuid) != 0 || n->sst.own_seqno < 0 ||
        n->sst.own_seqno >= join || !copy) {
        fail_locked(n, "the host can take no snapshot now (a running server cannot take an rsync "
                       "or mariabackup SST) and this node holds no earlier state of the group's "
                       "history for IST");
        pthread_mutex_unlock(&n->mu);
        free(copy);
        return false;
    }
    n->sst.join_view = copy;
    n->sst.ist_from = n->sst.own_seqno + 1;
    n->sst.ist_to = join - 1;
    n->sst.req = NULL;
    n->sst.req_len = 0;
    n->sst.phase = REPL_SST_WAIT;
    if (n->sst.ist_from > n->sst.ist_to) { /* nothing missed but the view itself */
        pthread_mutex_unlock(&n->mu);
        repl_sst_ist_done(n, NULL);
        return false;
    }
    n->sst.ist_fd = repl_ist_listen(n, n->sst.ist_addr, sizeof n->sst.ist_addr);
    if (n->sst.ist_fd < 0 || repl_ist_start_receiver(n)) {
        fail_locked(n, "cannot receive IST (ist.recv_addr)");
        pthread_mutex_unlock(&n->mu);
        return false;
    }
    struct tr_buf b = {0};
    send_str_locked(n, &b);
    tr_info("Requesting IST of %lld..%lld at %s", (long long)n->sst.ist_from,
            (long long)n->sst.ist_to, n->sst.ist_addr);
    pthread_mutex_unlock(&n->mu);
    if (b.len) repl_stream_broadcast(n, &b);
    return false;
}

void repl_sst_ist_done(struct repl_node *n, struct ist_rec *recs)
{
    pthread_mutex_lock(&n->mu);
    int64_t p = n->sst.ist_from - 1;
    bool live = n->sst.phase == REPL_SST_WAIT && !n->closing;
    pthread_mutex_unlock(&n->mu);
    if (!live) {
        repl_ist_free_recs(recs);
        return;
    }
    /* what this node ordered before it was cut off commits first: then the order restarts */
    repl_monitor_wait(n->apply_mon, p, -1);
    pthread_mutex_lock(&n->mu);
    if (n->sst.phase != REPL_SST_WAIT) {
        pthread_mutex_unlock(&n->mu);
        repl_ist_free_recs(recs);
        return;
    }
    int64_t join = n->sst.ist_to + 1;
    repl_ist_hold_front_locked(n, recs, n->sst.join_view, join);
    n->sst.join_view = NULL;
    state_received_locked(n, p);
    pthread_mutex_unlock(&n->mu);
    tr_info("IST complete: applying %lld..%lld, then what was ordered since. Shifting JOINER -> "
            "JOINED", (long long)p + 1, (long long)join);
    repl_node_save_state(n, true);
    send_join(n, REPL_MSG_JOIN, join, 0);
}

void repl_sst_ist_sent(struct repl_node *n, int rc)
{
    if (rc < 0) send_join(n, REPL_MSG_JOIN, repl_monitor_last_left(n->apply_mon), rc);
}

bool repl_sst_start(struct repl_node *n, struct repl_view *v, bool first, int *rc)
{
    int64_t seqno = v->state_id.seqno;
    *rc = REPL_OK;
    if (first && n->host.connected && n->host.connected(n->host.app_ctx, v)) {
        *rc = REPL_FATAL;
        return false;
    }
    char g[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&v->state_id.uuid, g);
    tr_info("State transfer required: group state %s:%lld, local state at %lld", g,
            (long long)seqno, (long long)repl_monitor_last_left(n->apply_mon));
    void *req = NULL;
    size_t len = 0;
    if (!n->host.sst_request || n->host.sst_request(n->host.app_ctx, &req, &len)) {
        free(req);
        pthread_mutex_lock(&n->mu);
        fail_locked(n, "the host's state transfer request failed");
        pthread_mutex_unlock(&n->mu);
        return false;
    }
    if (!req || len == 0 || (len == 1 && ((const char *)req)[0] == '\0')) {
        /* no snapshot possible (a running MariaDB cannot take rsync or mariabackup): what
         * this node missed can still come incrementally from a donor's write-set store */
        free(req);
        return start_ist(n, v);
    }
    pthread_mutex_lock(&n->mu);
    if (n->sst.phase != REPL_SST_PREPARE) { /* the view changed meanwhile and ended it */
        pthread_mutex_unlock(&n->mu);
        free(req);
        return false;
    }
    if (is_trivial(req, len)) {
        free(req);
        tr_info("State transfer: trivial (the host holds the group state) at %lld",
                (long long)seqno - 1);
        repl_monitor_reset(n->apply_mon, seqno - 1);
        repl_monitor_reset(n->commit_mon, seqno - 1);
        n->exch_done_prim = true;
        n->state = REPL_ST_JOINED;
        n->sst.phase = REPL_SST_APPLY; /* actions held since the view follow it */
        n->sst.seqno = seqno;
        pthread_mutex_unlock(&n->mu);
        return true;
    }
    n->sst.req = req;
    n->sst.req_len = len;
    n->sst.phase = REPL_SST_WAIT;
    struct tr_buf b = {0};
    send_str_locked(n, &b);
    pthread_mutex_unlock(&n->mu);
    tr_info("Requesting state transfer (%zu bytes of request)", len);
    if (b.len) repl_stream_broadcast(n, &b);
    return false;
}

/* wsrep_sst_donor: names in order of preference; a trailing comma (or no name) allows any
 * synced member after them. */
static int choose_donor_locked(const struct repl_node *n, const char *donors, int joiner)
{
    const char *p = donors;
    bool any = *donors == '\0';
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (int i = 0; len && i < n->memb_num; i++)
            if (i != joiner && n->memb_state[i] == REPL_ST_SYNCED &&
                strnlen(n->memb_info[i].name, REPL_NAME_LEN) == len &&
                memcmp(n->memb_info[i].name, p, len) == 0)
                return i;
        if (!e) break;
        p = e + 1;
        if (*p == '\0') any = true;
    }
    if (!any) return -1;
    for (int i = 0; i < n->memb_num; i++)
        if (i != joiner && n->memb_state[i] == REPL_ST_SYNCED) return i;
    return -1;
}

void repl_sst_on_str_locked(struct repl_node *n, const tr_uuid *sender, const uint8_t *buf,
                            size_t len, struct repl_sst_act *act)
{
    struct repl_msg_str m;
    memset(act, 0, sizeof *act);
    if (repl_msg_str_decode(buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping malformed state transfer request (%zu bytes)", len);
        return;
    }
    int joiner = member_index_locked(n, &m.node);
    if (joiner < 0 || !n->ordering || !n->memb_state) return; /* from an older view */
    if (n->memb_state[joiner] != REPL_ST_JOINING) return; /* served already */
    bool me = tr_uuid_compare(&m.node, &n->self) == 0;
    int donor = choose_donor_locked(n, m.donors, joiner);
    if (donor < 0) {
        tr_info("Member %d (%s) requested state transfer from '%s', but no synced member can "
                "serve it now",
                joiner, n->memb_info[joiner].name, *m.donors ? m.donors : "*any*");
        if (me && n->sst.phase == REPL_SST_WAIT) act->kind = REPL_SST_ACT_RETRY;
        return;
    }
    tr_info("Member %d (%s) requested state transfer%s from '%s'. Selected %d (%s) as donor.",
            joiner, n->memb_info[joiner].name, m.req_len ? "" : " (IST)",
            *m.donors ? m.donors : "*any*", donor, n->memb_info[donor].name);
    if (me) {
        n->sst.donor = n->memb_info[donor].id;
        n->sst.have_donor = true;
    }
    bool serve = tr_uuid_compare(&n->memb_info[donor].id, &n->self) == 0;
    if (!m.req_len) { /* IST only: the donor stays synced, a thread streams the store */
        if (!serve) return;
        /* a range this node has not ordered, or of another history, is nothing to serve */
        bool sane = tr_uuid_compare(&m.position.uuid, &n->group_uuid) == 0 &&
                    m.position.seqno >= 0 && m.ist_upto > m.position.seqno &&
                    m.ist_upto <= n->last_seqno + 1;
        int rc = sane ? repl_ist_serve_locked(n, m.ist_addr, m.position.seqno + 1, m.ist_upto - 1)
                      : -ENODATA;
        if (rc < 0) {
            tr_warn("Cannot serve IST of %lld..%lld: the write-set store holds %lld.. (%s)",
                    (long long)m.position.seqno + 1, (long long)m.ist_upto - 1,
                    (long long)repl_gcache_first(n->gcache), strerror(-rc));
            act->kind = REPL_SST_ACT_REFUSE_IST;
            act->status = rc;
        }
        return;
    }
    n->memb_state[donor] = REPL_ST_DONOR;
    if (!serve) return;
    act->req = malloc(m.req_len ? m.req_len : 1);
    if (!act->req) {
        tr_error("out of memory for a state transfer request");
        return;
    }
    memcpy(act->req, m.req, m.req_len);
    act->req_len = m.req_len;
    act->state.uuid = n->group_uuid;
    act->state.seqno = n->last_seqno; /* everything ordered before the request */
    act->kind = REPL_SST_ACT_DONATE;
    if (n->state == REPL_ST_SYNCED) tr_info("Shifting SYNCED -> DONOR/DESYNCED");
    n->state = REPL_ST_DONOR;
    n->sst.donating = true;
    /* Nothing after the request is taken from the stream until the host has its snapshot:
     * during sst_donate the state is exactly act->state (hosts that copy inside the callback). */
    n->pause_count++;
}

void repl_sst_on_join_locked(struct repl_node *n, int type, const tr_uuid *sender,
                             const uint8_t *buf, size_t len, bool *synced)
{
    struct repl_msg_join m;
    *synced = false;
    if (repl_msg_join_decode(type, buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping malformed %s message", type == REPL_MSG_JOIN ? "JOIN" : "SYNC");
        return;
    }
    int idx = member_index_locked(n, &m.node);
    if (idx < 0 || !n->memb_state) return;
    bool me = tr_uuid_compare(&m.node, &n->self) == 0;
    if (type == REPL_MSG_SYNC) {
        n->memb_state[idx] = REPL_ST_SYNCED;
        if (me && n->state == REPL_ST_JOINED && n->desync_count == 0 &&
            n->sst.phase == REPL_SST_NONE && n->exch_done_prim) {
            n->state = REPL_ST_SYNCED;
            *synced = true;
        }
        return;
    }
    if (m.status >= 0 || n->memb_state[idx] == REPL_ST_DONOR) n->memb_state[idx] = REPL_ST_JOINED;
    if (m.status < 0)
        tr_info("Member %d (%s) reports a failed state transfer (%d)", idx,
                n->memb_info[idx].name, (int)m.status);
    /* our donor gave up: nothing will arrive */
    if (!me && m.status < 0 && n->sst.phase == REPL_SST_WAIT && n->sst.have_donor &&
        tr_uuid_compare(&n->sst.donor, &m.node) == 0) {
        fail_locked(n, "the donor could not send the state"); /* the stream leaves */
    }
}

void repl_sst_act(struct repl_node *n, void *recv_ctx, struct repl_sst_act *act)
{
    if (act->kind == REPL_SST_ACT_DONATE) {
        /* The host's snapshot must hold everything ordered before the request. */
        repl_monitor_wait(n->apply_mon, act->state.seqno, -1);
        tr_info("Donating state at %lld", (long long)act->state.seqno);
        int err = n->host.sst_donate ? n->host.sst_donate(n->host.app_ctx, recv_ctx, act->req,
                                                          act->req_len, &act->state, false)
                                     : -1;
        pthread_mutex_lock(&n->mu);
        n->pause_count--;
        pthread_cond_broadcast(&n->cond);
        pthread_mutex_unlock(&n->mu);
        if (err) {
            tr_error("State transfer to the joiner failed: the host could not start it (%d)", err);
            repl_node_sst_sent(n, &act->state, -ECANCELED);
        }
    } else if (act->kind == REPL_SST_ACT_REFUSE_IST) {
        send_join(n, REPL_MSG_JOIN, repl_monitor_last_left(n->apply_mon), act->status);
    } else if (act->kind == REPL_SST_ACT_RETRY) {
        struct timespec ts = {STR_RETRY_NS / 1000000000LL, STR_RETRY_NS % 1000000000LL};
        tr_info("State transfer request failed: no donor available. Retrying in 1 s");
        nanosleep(&ts, NULL);
        struct tr_buf b = {0};
        pthread_mutex_lock(&n->mu);
        if (n->sst.phase == REPL_SST_WAIT && !n->closing) send_str_locked(n, &b);
        pthread_mutex_unlock(&n->mu);
        if (b.len) repl_stream_broadcast(n, &b);
    }
    free(act->req);
    act->req = NULL;
}

void repl_sst_resend(struct repl_node *n)
{
    struct tr_buf b = {0};
    pthread_mutex_lock(&n->mu);
    if (n->sst.resend && n->sst.phase == REPL_SST_WAIT && !n->closing) send_str_locked(n, &b);
    n->sst.resend = false;
    pthread_mutex_unlock(&n->mu);
    if (b.len) repl_stream_broadcast(n, &b);
}

static void send_join(struct repl_node *n, int type, int64_t seqno, int status)
{
    struct repl_msg_join m = {n->self, seqno, status};
    struct tr_buf b = {0};
    if (repl_msg_join_encode(type, &m, &b) == 0) repl_stream_broadcast(n, &b);
    else tr_buf_free(&b);
}

void repl_sst_caught_up(struct repl_node *n, int64_t seqno)
{
    tr_info("Member caught up with the group at %lld: sending SYNC", (long long)seqno);
    send_join(n, REPL_MSG_SYNC, seqno, 0);
}

int repl_node_sst_sent(struct repl_node *n, const tr_gtid *state_id, int rcode)
{
    pthread_mutex_lock(&n->mu);
    if (!n->sst.donating) {
        pthread_mutex_unlock(&n->mu);
        tr_warn("sst_sent(%d) without a state transfer in progress", rcode);
        return REPL_NOT_ALLOWED;
    }
    n->sst.donating = false;
    bool rejoin = n->state == REPL_ST_DONOR && n->desync_count == 0;
    if (rejoin) n->state = REPL_ST_JOINED;
    int64_t at = repl_monitor_last_left(n->apply_mon);
    pthread_mutex_unlock(&n->mu);
    if (rcode < 0)
        tr_error("State transfer to the joiner failed: %d (%s)", rcode, strerror(-rcode));
    else
        tr_info("State transfer sent at %lld", state_id ? (long long)state_id->seqno : -1LL);
    if (rejoin) tr_info("Shifting DONOR/DESYNCED -> JOINED");
    send_join(n, REPL_MSG_JOIN, rcode < 0 || !state_id ? at : state_id->seqno,
              rcode < 0 ? rcode : 0);
    if (rejoin) send_join(n, REPL_MSG_SYNC, at, 0);
    return REPL_OK;
}

int repl_node_sst_received(struct repl_node *n, const tr_gtid *state_id, int rcode)
{
    pthread_mutex_lock(&n->mu);
    if (n->sst.phase != REPL_SST_WAIT) {
        pthread_mutex_unlock(&n->mu);
        tr_warn("sst_received(%d) without a state transfer in progress", rcode);
        return REPL_NOT_ALLOWED;
    }
    char got[TR_UUID_STR_LEN + 1], want[TR_UUID_STR_LEN + 1];
    tr_uuid_print(state_id ? &state_id->uuid : &n->group_uuid, got);
    tr_uuid_print(&n->group_uuid, want);
    int64_t seqno = state_id ? state_id->seqno : TR_SEQNO_UNDEFINED;
    char why[256] = "";
    if (rcode < 0)
        snprintf(why, sizeof why, "the host reports error %d (%s)", rcode, strerror(-rcode));
    else if (!state_id || tr_uuid_compare(&state_id->uuid, &n->group_uuid) != 0)
        snprintf(why, sizeof why, "received state %s is not the group's %s", got, want);
    else if (seqno < n->cert_floor)
        snprintf(why, sizeof why, "received state %s:%lld is older than the join point %lld",
                 got, (long long)seqno, (long long)n->cert_floor);
    if (*why) {
        fail_locked(n, why);
        bool leave = !n->closing;
        if (leave) n->closing = true;
        pthread_mutex_unlock(&n->mu);
        if (leave) n->group->ops->leave(n->group);
        return rcode < 0 ? REPL_OK : REPL_NODE_FAIL;
    }
    state_received_locked(n, seqno);
    pthread_mutex_unlock(&n->mu);
    tr_info("State transfer received: %s:%lld. Shifting JOINER -> JOINED", got, (long long)seqno);
    repl_node_save_state(n, true);
    send_join(n, REPL_MSG_JOIN, seqno, 0);
    return REPL_OK;
}
