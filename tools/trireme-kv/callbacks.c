/* tools/trireme-kv/callbacks.c: every provider-to-host callback (logger, connected, view, SST
 * request/donate, apply, synced) and the checks on what the provider hands them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"

/* The logger callback has no context argument, so its prefix and verbosity are process-wide. */
static char log_prefix[64] = "kv";
static atomic_bool log_quiet;

void kv_log_quiet(bool quiet)
{
    atomic_store(&log_quiet, quiet);
}

static void vsay(FILE *f, struct kv_node *n, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(f, "[kv:%s] %s\n", n && n->cfg.name ? n->cfg.name : log_prefix, line);
}

void kv_say(struct kv_node *n, const char *fmt, ...)
{
    if (atomic_load(&log_quiet))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsay(stderr, n, fmt, ap);
    va_end(ap);
}

void kv_err(struct kv_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(stderr, n, fmt, ap);
    va_end(ap);
}

static void logger_cb(wsrep_log_level_t level, const char *msg)
{
    static const char *lv[] = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG"};
    if (level > WSREP_LOG_WARN && atomic_load(&log_quiet))
        return;
    fprintf(stderr, "[kv:%s] P:%s: %s\n", log_prefix,
            (unsigned)level <= WSREP_LOG_DEBUG ? lv[level] : "?", msg ? msg : "(null)");
}

void kv_note_seqno(struct kv_node *n, wsrep_seqno_t s)
{
    long long cur = atomic_load(&n->max_seqno);
    while (s > cur && !atomic_compare_exchange_weak(&n->max_seqno, &cur, s))
        ;
}

/* A fatal protocol violation by the provider: the run cannot be trusted any more. */
static void die(struct kv_node *n, const char *what)
{
    kv_err(n, "FATAL: %s", what);
    fflush(NULL);
    _exit(2);
}

static struct kv_node *applier_node(void *recv_ctx, const char *cb)
{
    struct kv_ctx *c = recv_ctx;
    char msg[160];
    if (!c || (c->magic != KV_CTX_APPLIER && c->magic != KV_CTX_REPLAY)) {
        snprintf(msg, sizeof msg, "%s called with foreign recv_ctx %p", cb, recv_ctx);
        die(NULL, msg);
    }
    struct kv_node *n = c->node;
    if (c->magic == KV_CTX_APPLIER &&
        (c->index < 0 || c->index >= n->nappliers || &n->appliers[c->index].ctx != c)) {
        snprintf(msg, sizeof msg, "%s called with recv_ctx %p that is no applier of ours", cb,
                 recv_ctx);
        die(n, msg);
    }
    return n;
}

static int view_check(struct kv_node *n, const wsrep_view_info_t *v, const char *cb)
{
    if ((unsigned)v->status >= WSREP_VIEW_MAX) {
        kv_err(n, "%s: unknown view status %d", cb, (int)v->status);
        return -1;
    }
    /* own index -1 in a primary view: one the node missed, handed to it by its IST (as
     * Galera's IST does); connected_cb alone needs a valid index */
    if (v->memb_num < 0 || (v->status == WSREP_VIEW_PRIMARY &&
                            (v->my_idx < -1 || v->my_idx >= v->memb_num))) {
        kv_err(n, "%s: bad view memb_num=%d my_idx=%d", cb, v->memb_num, v->my_idx);
        return -1;
    }
    return 0;
}

static wsrep_cb_status_t connected_cb(void *app_ctx, const wsrep_view_info_t *v)
{
    struct kv_node *n = app_ctx;
    char g[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(&v->state_id, g, sizeof g);
    kv_say(n, "connected: state %s view %lld members %d my_idx %d", g, (long long)v->view,
           v->memb_num, v->my_idx);
    /* wsrep-lib refuses a connected view without a valid own index */
    if (v->my_idx < 0 || v->my_idx >= v->memb_num) {
        kv_err(n, "connected_cb: my_idx %d out of range (memb_num %d)", v->my_idx, v->memb_num);
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }
    pthread_mutex_lock(&n->mu);
    n->connected++;
    n->connected_idx = v->my_idx;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    return WSREP_CB_SUCCESS;
}

static wsrep_cb_status_t view_cb(void *app_ctx, void *recv_ctx, const wsrep_view_info_t *v,
                                 const char *state, size_t state_len)
{
    struct kv_node *n = app_ctx;
    struct kv_ctx *c = recv_ctx;
    /* views must arrive on an applier thread inside its recv(), carrying that applier's ctx */
    if (!c || c->magic != KV_CTX_APPLIER || c->node != n)
        die(n, "view_cb: recv_ctx is not one of our applier contexts");
    applier_node(recv_ctx, "view_cb");
    if (!pthread_equal(pthread_self(), n->appliers[c->index].self))
        die(n, "view_cb: called on a thread other than the applier owning recv_ctx");
    if (view_check(n, v, "view_cb") != 0) {
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }
    char g[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(&v->state_id, g, sizeof g);
    static const char *st[] = {"PRIMARY", "NON_PRIMARY", "DISCONNECTED"};
    kv_say(n, "view: %s conf %lld state %s members %d my_idx %d proto %d caps 0x%x",
           st[v->status], (long long)v->view, g, v->memb_num, v->my_idx, v->proto_ver,
           (unsigned)v->capabilities);
    for (int i = 0; i < v->memb_num && !atomic_load(&log_quiet); i++)
        kv_say(n, "view:   member %d name '%.*s' incoming '%.*s'", i, WSREP_MEMBER_NAME_LEN,
               v->members[i].name, WSREP_INCOMING_LEN, v->members[i].incoming);
    if (v->status == WSREP_VIEW_PRIMARY)
        kv_note_seqno(n, v->state_id.seqno);

    pthread_mutex_lock(&n->mu);
    if (n->nviews < KV_MAX_VIEWS)
        n->views[n->nviews] = (struct kv_view_rec){v->status, v->memb_num, v->my_idx, v->view,
                                                   v->state_id.seqno};
    n->nviews++;
    n->primary = v->status == WSREP_VIEW_PRIMARY;
    n->view_size = v->memb_num;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    return WSREP_CB_SUCCESS;
}

/* Default: like MariaDB with wsrep_sst_method=skip, request "trivial" (the node claims to have
 * the state already; no table is transferred). --sst-method kv: a real table transfer (sst.c).
 * --sst-request STR sends any other string, e.g. "none". The request is malloc'ed with its NUL
 * counted, as wsrep-lib does; the provider frees it. */
static wsrep_cb_status_t sst_request_cb(void *app_ctx, void **req, size_t *len)
{
    struct kv_node *n = app_ctx;
    if (n->cfg.sst_kv) {
        char *r;
        if (kv_sst_prepare(n, &r, len) != 0)
            return WSREP_CB_FAILURE;
        *req = r;
        kv_say(n, "sst_request: '%s'", r);
        return WSREP_CB_SUCCESS;
    }
    const char *want = n->cfg.sst_request ? n->cfg.sst_request : WSREP_STATE_TRANSFER_TRIVIAL;
    size_t l = strlen(want) + 1;
    char *r = malloc(l);
    if (!r)
        return WSREP_CB_FAILURE;
    memcpy(r, want, l);
    *req = r;
    *len = l;
    kv_say(n, "sst_request: '%s' (no table transfer)", r);
    return WSREP_CB_SUCCESS;
}

/* Donor side: sst.c ships the table for a "kv-sst" request and answers anything else as a
 * "trivial" transfer (only sst_sent() with our position). Like MariaDB, the reply comes from
 * another thread after this callback has returned. */
static wsrep_cb_status_t sst_donate_cb(void *app_ctx, void *recv_ctx, const wsrep_buf_t *msg,
                                       const wsrep_gtid_t *state_id, const wsrep_buf_t *state,
                                       wsrep_bool_t bypass)
{
    struct kv_node *n = app_ctx;
    char g[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(state_id, g, sizeof g);
    kv_say(n, "sst_donate: request '%.*s' state %s bypass %d", msg ? (int)msg->len : 0,
           msg && msg->ptr ? (const char *)msg->ptr : "", g, (int)bypass);
    return kv_sst_donate(n, msg, state_id, bypass) == 0 ? WSREP_CB_SUCCESS : WSREP_CB_FAILURE;
}

static wsrep_cb_status_t synced_cb(void *app_ctx)
{
    struct kv_node *n = app_ctx;
    pthread_mutex_lock(&n->mu);
    n->synced++;
    int s = n->synced;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    kv_say(n, "synced (%d)", s);
    return WSREP_CB_SUCCESS;
}

/* The high-priority commit path of wsrep-lib: enter commit order, change the table, leave. */
static wsrep_cb_status_t apply_cb(void *recv_ctx, const wsrep_ws_handle_t *ws, uint32_t flags,
                                  const wsrep_buf_t *data, const wsrep_trx_meta_t *meta,
                                  wsrep_bool_t *exit_loop)
{
    struct kv_node *n = applier_node(recv_ctx, "apply_cb");
    struct kv_ctx *c = recv_ctx;
    wsrep_t *w = n->w;
    *exit_loop = false;

    if (meta->gtid.seqno <= 0) {
        kv_err(n, "apply_cb: undefined seqno %lld (flags 0x%x)", (long long)meta->gtid.seqno,
               flags);
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }
    kv_note_seqno(n, meta->gtid.seqno);
    /* Galera 4 also delivers write-sets that failed certification, flagged ROLLBACK: like
     * wsrep-lib's log_dummy_write_set, keep the sequence gap-free without changing the table */
    bool dummy = (flags & WSREP_FLAG_ROLLBACK) && (flags & WSREP_FLAG_TRX_START) &&
                 (flags & WSREP_FLAG_TRX_END) && !(flags & WSREP_FLAG_ISOLATION);
    if (!dummy && (!(flags & WSREP_FLAG_TRX_END) || (flags & WSREP_FLAG_ROLLBACK))) {
        /* we never stream fragments or send rollbacks: nothing else should arrive */
        kv_err(n, "apply_cb: unexpected flags 0x%x at seqno %lld", flags,
               (long long)meta->gtid.seqno);
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }

    /* MariaDB's applier meets the local row locks before commit order: BF-abort holders */
    if (!dummy && c->magic == KV_CTX_APPLIER)
        kv_bf_check(n, data, meta->gtid.seqno);
    if (!dummy && c->magic == KV_CTX_APPLIER && n->cfg.apply_delay_ms > 0) { /* a slow node */
        struct timespec ts = {n->cfg.apply_delay_ms / 1000, (n->cfg.apply_delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }

    if (c->magic == KV_CTX_REPLAY) {
        if (!c->replay_ws) {
            kv_err(n, "apply_cb: replay context used outside replay_trx()");
            atomic_fetch_add(&n->errors, 1);
            return WSREP_CB_FAILURE;
        }
        ws = c->replay_ws;
    }
    wsrep_status_t rc = w->commit_order_enter(w, ws, meta);
    if (rc != WSREP_OK) {
        kv_err(n, "apply_cb: commit_order_enter(seqno %lld) -> %s", (long long)meta->gtid.seqno,
               kv_status_str(rc));
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }
    long nops = dummy ? 0 : kv_codec_apply(n->table, data ? data->ptr : NULL, data ? data->len : 0);
    if (nops >= 0 && !dummy)
        kv_commit_note(n, meta->gtid.seqno, data ? data->ptr : NULL, data ? data->len : 0);
    if (nops >= 0 && (flags & WSREP_FLAG_ISOLATION))
        kv_barrier_note(n, meta->gtid.seqno); /* still inside commit order */
    wsrep_buf_t err = {NULL, 0};
    char msg[96];
    if (nops < 0) {
        /* hand the failure to the provider like wsrep-lib does (inconsistency voting) */
        snprintf(msg, sizeof msg, "trireme-kv: malformed write-set at seqno %lld",
                 (long long)meta->gtid.seqno);
        err.ptr = msg;
        err.len = strlen(msg);
        kv_err(n, "apply_cb: %s (len %zu flags 0x%x)", msg, data ? data->len : 0, flags);
        atomic_fetch_add(&n->errors, 1);
    }
    rc = w->commit_order_leave(w, ws, meta, err.len ? &err : NULL);
    if (rc != WSREP_OK) {
        kv_err(n, "apply_cb: commit_order_leave(seqno %lld) -> %s", (long long)meta->gtid.seqno,
               kv_status_str(rc));
        atomic_fetch_add(&n->errors, 1);
        return WSREP_CB_FAILURE;
    }
    if (nops < 0)
        return WSREP_CB_FAILURE;
    if (dummy)
        atomic_fetch_add(&n->applied_dummy, 1);
    else if (c->magic == KV_CTX_REPLAY)
        ; /* counted by the client once replay_trx() returns */
    else if (flags & WSREP_FLAG_ISOLATION)
        atomic_fetch_add(&n->applied_toi, 1);
    else
        atomic_fetch_add(&n->applied, 1);
    return WSREP_CB_SUCCESS;
}

void kv_callbacks_fill(struct kv_node *n, struct wsrep_init_args *a)
{
    if (n->cfg.name)
        snprintf(log_prefix, sizeof log_prefix, "%s", n->cfg.name);
    a->app_ctx = n;
    a->logger_cb = logger_cb;
    a->connected_cb = connected_cb;
    a->view_cb = view_cb;
    a->sst_request_cb = sst_request_cb;
    a->encrypt_cb = NULL;
    a->apply_cb = apply_cb;
    a->unordered_cb = NULL; /* MariaDB passes NULL too */
    a->sst_donate_cb = sst_donate_cb;
    a->synced_cb = synced_cb;
}
