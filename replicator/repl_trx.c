/* replicator/repl_trx: local transactions and TOI from append_key to release, BF abort, replay.
 * A brute-force abort and the victim's own progress meet under node->mu and the monitors' locks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certification/cert_ws.h"
#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"
#include "replicator/repl_vote.h"

_Static_assert(sizeof(struct repl_buf) == sizeof(struct cert_key_part) &&
                   offsetof(struct repl_buf, len) == offsetof(struct cert_key_part, len),
               "key parts pass through without copying");

static struct repl_trx *trx_new(int kind, uint64_t trx_id, uint64_t conn_id)
{
    struct repl_trx *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->h.kind = kind;
    t->trx_id = trx_id;
    t->conn_id = conn_id;
    t->seqno = TR_SEQNO_UNDEFINED;
    t->depends_on = TR_SEQNO_UNDEFINED;
    tr_cond_init_mono(&t->cond);
    return t;
}

static void trx_free(struct repl_trx *t)
{
    tr_buf_free(&t->keys);
    tr_buf_free(&t->data);
    tr_buf_free(&t->prefix_buf);
    pthread_cond_destroy(&t->cond);
    free(t);
}

struct repl_trx *repl_trx_find_locked(struct repl_node *n, uint64_t trx_id)
{
    for (struct repl_trx *t = n->by_trx[repl_hash(trx_id)]; t; t = t->next_trx)
        if (t->trx_id == trx_id) return t;
    return NULL;
}

static void end_locked(struct repl_node *n, struct repl_trx *t);

static void unlink_trx_locked(struct repl_node *n, struct repl_trx *t)
{
    if (t->in_table) {
        struct repl_trx **pp = t->h.kind == REPL_H_TOI ? &n->toi_by_conn[repl_hash(t->conn_id)]
                                                     : &n->by_trx[repl_hash(t->trx_id)];
        for (; *pp; pp = &(*pp)->next_trx)
            if (*pp == t) {
                *pp = t->next_trx;
                break;
            }
        t->in_table = false;
    }
    end_locked(n, t);
}


/* The handle's opaque is our trx once the first append created it. */
static struct repl_trx *trx_get(struct repl_node *n, uint64_t trx_id, void **opaque, bool create)
{
    struct repl_trx *t = opaque ? *opaque : NULL;
    if (t && t->h.kind == REPL_H_TRX && t->trx_id == trx_id) return t;
    pthread_mutex_lock(&n->mu);
    t = repl_trx_find_locked(n, trx_id);
    if (!t && create && (t = trx_new(REPL_H_TRX, trx_id, 0))) {
        size_t h = repl_hash(trx_id);
        t->next_trx = n->by_trx[h];
        n->by_trx[h] = t;
        t->in_table = true;
    }
    pthread_mutex_unlock(&n->mu);
    if (t && opaque) *opaque = t;
    return t;
}

void repl_trx_ordered_locked(struct repl_node *n, const struct repl_act *a)
{
    for (struct repl_trx *t = n->by_local[repl_hash(a->id)]; t; t = t->next_local)
        if (t->local_id == a->id && t->in_flight) {
            t->seqno = a->seqno;
            t->group = *repl_core_group(n->core);
            t->depends_on = a->depends;
            t->cert_ok = a->ok;
            t->ordered = true;
            pthread_cond_broadcast(&t->cond);
            return;
        }
}

void repl_trx_lost_locked(struct repl_node *n, uint64_t local_id)
{
    for (struct repl_trx *t = n->by_local[repl_hash(local_id)]; t; t = t->next_local)
        if (t->local_id == local_id && t->in_flight && !t->ordered) {
            t->lost = true;
            pthread_cond_broadcast(&t->cond);
        }
}

void repl_trx_wake_all_locked(struct repl_node *n)
{
    for (int i = 0; i < REPL_HASH; i++)
        for (struct repl_trx *t = n->by_local[i]; t; t = t->next_local)
            pthread_cond_broadcast(&t->cond);
}

/* Galera's key hierarchy: a key of n parts (db, table, row) also holds its shorter prefixes
 * (db; db, table) as SHARED "branch" keys, so that a TOI on a table or a schema (EXCLUSIVE on
 * the prefix) conflicts with every write inside it, while writes inside never conflict with
 * each other through them. The first REPL_TRX_PREFIXES distinct prefixes of a transaction go
 * into its key set once; past that, repeats are harmless (the index takes a key once). The
 * prefix is encoded into a per-transaction scratch buffer: no allocation per row. */
static int append_prefixes(struct repl_trx *t, const struct repl_key *k)
{
    struct tr_buf *one = &t->prefix_buf;
    for (size_t np = 1; np < k->nparts; np++) {
        tr_buf_reset(one);
        if (cert_ws_key_append(one, REPL_KEY_SHARED, (const struct cert_key_part *)k->parts, np))
            return -1;
        bool seen = false;
        for (int i = 0; i < t->nprefix && !seen; i++)
            seen = t->prefix[i].len == one->len &&
                   memcmp(t->keys.ptr + t->prefix[i].off, one->ptr, one->len) == 0;
        if (seen) continue;
        if (t->nprefix < REPL_TRX_PREFIXES)
            t->prefix[t->nprefix++] = (struct repl_prefix){t->keys.len, one->len};
        if (tr_buf_append(&t->keys, one->ptr, one->len)) return -1;
        t->nkeys++;
    }
    return 0;
}

static int append_keys(struct repl_trx *t, const struct repl_key *keys, size_t count, int type)
{
    for (size_t i = 0; i < count; i++) {
        if (append_prefixes(t, &keys[i])) {
            tr_error("prefixes of key %zu of trx %llu rejected", i, (unsigned long long)t->trx_id);
            return -1;
        }
        if (cert_ws_key_append(&t->keys, type, (const struct cert_key_part *)keys[i].parts,
                               keys[i].nparts)) {
            tr_error("key %zu of trx %llu rejected: more than %d parts, a part over %d bytes, "
                     "or out of memory",
                     i, (unsigned long long)t->trx_id, CERT_WS_MAX_KEY_PARTS,
                     CERT_WS_MAX_PART_LEN);
            return -1;
        }
        t->nkeys++;
    }
    return 0;
}

int repl_node_append_key(struct repl_node *n, uint64_t trx_id, void **opaque,
                         const struct repl_key *keys, size_t count, int type)
{
    if (type < REPL_KEY_SHARED || type > REPL_KEY_EXCLUSIVE) type = REPL_KEY_EXCLUSIVE;
    struct repl_trx *t = trx_get(n, trx_id, opaque, true);
    if (!t) return REPL_FATAL;
    return append_keys(t, keys, count, type) ? REPL_WARNING : REPL_OK;
}

static int append_bufs(struct tr_buf *b, const struct repl_buf *data, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (tr_buf_append(b, data[i].ptr, data[i].len)) return -1;
    return 0;
}

static bool too_big(struct repl_node *n, const struct repl_trx *t)
{
    int64_t max = atomic_load(&n->max_ws_size);
    return (int64_t)(t->keys.len + t->data.len + CERT_WS_HDR_LEN) > max;
}

int repl_node_append_data(struct repl_node *n, uint64_t trx_id, void **opaque,
                          const struct repl_buf *data, size_t count, int type)
{
    struct repl_trx *t = trx_get(n, trx_id, opaque, true);
    if (!t) return REPL_FATAL;
    if (type != 0) return REPL_OK; /* unordered and annotation data are not replicated */
    if (append_bufs(&t->data, data, count)) return REPL_FATAL;
    if (too_big(n, t)) {
        /* Galera's wording: MariaDB's tests and log monitors match it */
        int64_t max = atomic_load(&n->max_ws_size);
        tr_warn("Maximum writeset size exceeded by %lld bytes: transaction %llu is over "
                "repl.max_ws_size (%lld bytes)",
                (long long)((int64_t)(t->keys.len + t->data.len + CERT_WS_HDR_LEN) - max),
                (unsigned long long)trx_id, (long long)max);
        return REPL_SIZE_EXCEEDED;
    }
    return REPL_OK;
}

/* Broadcasts t and waits for its place in the total order. Called with mu unlocked. */
#define TRANSITION_NS (30LL * 1000000000LL)
bool repl_wait_writable_locked(struct repl_node *n, uint64_t epoch)
{
    struct timespec dl = tr_deadline_in(TRANSITION_NS);
    for (;;) {
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        if (!n->connected || in.closing || in.closed || in.failed || n->broken) return false;
        bool same_view = epoch != UINT64_MAX && in.view_epoch == epoch;
        if (!same_view && in.writable) return true;
        if (!same_view && !in.in_transition) return false; /* not primary */
        if (pthread_cond_timedwait(&n->w_cond, &n->mu, &dl) == ETIMEDOUT) return false;
    }
}

static void unlink_local_locked(struct repl_node *n, struct repl_trx *t)
{
    if (!t->in_flight) return;
    for (struct repl_trx **pp = &n->by_local[repl_hash(t->local_id)]; *pp; pp = &(*pp)->next_local)
        if (*pp == t) {
            *pp = t->next_local;
            break;
        }
    t->in_flight = false;
}

/* Registers t with the core (its id and last_seen) and in by_local. mu held. */
static int begin_locked(struct repl_node *n, struct repl_trx *t)
{
    /* last_seen is read under mu, where the core computes LAST reports: a report never claims
     * a point above a write-set that is still to be ordered */
    t->last_seen = repl_monitor_last_left(n->apply_mon);
    uint64_t id;
    int rc = repl_core_local_begin(n->core, false, t->last_seen, &id);
    if (rc) return rc;
    t->local_id = id;
    t->ordered = t->lost = false;
    size_t h = repl_hash(id);
    t->next_local = n->by_local[h];
    n->by_local[h] = t;
    t->in_flight = true;
    return 0;
}

static void end_locked(struct repl_node *n, struct repl_trx *t)
{
    if (!t->in_flight) return;
    if (!t->ordered) repl_core_local_end(n->core, t->local_id);
    unlink_local_locked(n, t);
}

static int replicate(struct repl_node *n, struct repl_trx *t)
{
    pthread_mutex_lock(&n->mu);
    if (!repl_wait_writable_locked(n, UINT64_MAX)) {
        pthread_mutex_unlock(&n->mu);
        return REPL_CONN_FAIL;
    }
    t->state = TRX_REPLICATING;
    int brc = begin_locked(n, t);
    pthread_mutex_unlock(&n->mu);
    if (brc) return brc == -ENOMEM ? REPL_FATAL : REPL_CONN_FAIL;

    struct cert_ws_hdr hdr = {
        .flags = t->flags,
        .source = n->self,
        .local_id = t->local_id,
        .conn_id = t->conn_id,
        .trx_id = t->trx_id,
        .last_seen = t->last_seen,
        .nkeys = t->nkeys,
        .keys_len = (uint32_t)t->keys.len,
        .data_len = t->data.len,
    };
    struct cert_ws_enc enc;
    struct cert_ws_enc_opts eo = {.max_size = atomic_load(&n->max_ws_size)};
    int erc = cert_ws_encode(&enc, &hdr, t->keys.ptr, t->keys.len, t->data.ptr, t->data.len, &eo);
    if (erc) tr_error("trx %llu: %s", (unsigned long long)t->trx_id, cert_ws_strerror(erc));
    struct repl_buf bufs[3] = {{enc.hdr, sizeof enc.hdr}, {enc.keys, enc.keys_len}, {enc.data, enc.data_len}};
    int64_t t0 = tr_now_ns(); /* the latency includes any flow control wait */
    /* a write-set: waits here while flow control holds the group (replication.md §5) */
    int rc = -EINVAL;
    for (int attempt = 0; !erc && attempt < 8; attempt++) {
        pthread_mutex_lock(&n->mu);
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        pthread_mutex_unlock(&n->mu);
        rc = n->group->ops->broadcast_ws(n->group, bufs, 3);
        if (rc != -ENOTCONN) break;
        /* the group is between views: wait for the next one, then try again under a new id
         * (the core forgot this one with the view) */
        pthread_mutex_lock(&n->mu);
        end_locked(n, t);
        bool again = repl_wait_writable_locked(n, in.view_epoch) && !t->must_abort &&
                     begin_locked(n, t) == 0;
        pthread_mutex_unlock(&n->mu);
        if (!again) break;
        hdr.local_id = t->local_id;
        hdr.last_seen = t->last_seen;
        cert_ws_enc_free(&enc);
        erc = cert_ws_encode(&enc, &hdr, t->keys.ptr, t->keys.len, t->data.ptr, t->data.len, &eo);
        bufs[0] = (struct repl_buf){enc.hdr, sizeof enc.hdr};
        bufs[1] = (struct repl_buf){enc.keys, enc.keys_len};
        bufs[2] = (struct repl_buf){enc.data, enc.data_len};
    }
    cert_ws_enc_free(&enc); /* the group copied it */

    pthread_mutex_lock(&n->mu);
    if (rc == 0) {
        atomic_fetch_add(&n->st_replicated, 1);
        atomic_fetch_add(&n->st_replicated_bytes, (int64_t)(sizeof enc.hdr + t->keys.len + t->data.len));
        atomic_fetch_add(&n->st_repl_keys, t->nkeys);
        atomic_fetch_add(&n->st_repl_keys_bytes, (int64_t)t->keys.len);
        atomic_fetch_add(&n->st_repl_data_bytes, (int64_t)t->data.len);
        atomic_fetch_add(&n->st_repl_other_bytes, (int64_t)sizeof enc.hdr);
        /* A BF abort while we wait must not wait for the order: the aborter may be the applier
         * the order waits for, blocked on our locks. The host rolls back, and replay_trx waits
         * for the order instead (the write-set stays in flight until it is ordered). */
        for (;;) {
            struct repl_core_info in;
            repl_core_info(n->core, &in);
            /* pause(): nothing ordered after the paused position commits until resume() */
            bool held = t->ordered && n->pause_count > 0 && t->seqno > n->pause_upto;
            if (((t->ordered && !held) || t->lost || t->must_abort) || in.closed || n->broken) break;
            pthread_cond_wait(&t->cond, &n->mu);
        }
        if (!t->ordered && t->must_abort && !t->lost && !n->broken) {
            pthread_mutex_unlock(&n->mu);
            return REPL_BF_ABORT;
        }
        if (t->ordered) {
            double d = (double)(tr_now_ns() - t0) / 1e9;
            if (n->lat_n == 0 || d < n->lat_min) n->lat_min = d;
            if (d > n->lat_max) n->lat_max = d;
            n->lat_sum += d;
            n->lat_sumsq += d * d;
            n->lat_n++;
        }
    }
    end_locked(n, t);
    bool ordered = t->ordered;
    pthread_mutex_unlock(&n->mu);
    if (erc == CERT_WS_ETOOBIG) return REPL_SIZE_EXCEEDED; /* the transaction fails, not the node */
    if (rc != 0 && !erc) tr_info("broadcast failed: %s", strerror(-rc));
    return ordered ? REPL_OK : REPL_CONN_FAIL;
}

static void finish_ordered(struct repl_node *n, struct repl_trx *t);

static void fill_meta(struct repl_node *n, const struct repl_trx *t, struct repl_meta *meta)
{
    meta->gtid.uuid = t->ordered ? t->group : tr_uuid_nil;
    meta->gtid.seqno = t->ordered ? t->seqno : TR_SEQNO_UNDEFINED;
    meta->stid.node = n->self;
    meta->stid.trx = t->trx_id;
    meta->stid.conn = t->conn_id;
    meta->depends_on = t->ordered ? t->depends_on : TR_SEQNO_UNDEFINED;
}

int repl_node_certify(struct repl_node *n, uint64_t conn_id, uint64_t trx_id, void **opaque,
                      uint32_t flags, struct repl_meta *meta)
{
    struct repl_trx *t = trx_get(n, trx_id, opaque, true);
    if (!t) return REPL_FATAL;
    t->conn_id = conn_id;
    fill_meta(n, t, meta);
    if (flags & (REPL_F_ROLLBACK | REPL_F_ISOLATION)) {
        /* a streaming rollback comes through rollback(), TOI through to_execute_start */
        tr_error("certify flags 0x%x: not a transaction or fragment", flags);
        return REPL_NOT_IMPLEMENTED;
    }
    if (too_big(n, t)) return REPL_SIZE_EXCEEDED;
    t->flags = flags;

    pthread_mutex_lock(&n->mu);
    bool aborted = t->must_abort;
    if (aborted) t->state = TRX_CERT_FAILED;
    pthread_mutex_unlock(&n->mu);
    if (aborted) return REPL_TRX_FAIL;

    int rc = replicate(n, t);
    if (rc == REPL_BF_ABORT) { /* broadcast, not yet ordered: replay_trx finishes it */
        pthread_mutex_lock(&n->mu);
        t->state = TRX_MUST_REPLAY;
        pthread_mutex_unlock(&n->mu);
        return REPL_BF_ABORT;
    }
    if (rc != REPL_OK) {
        t->state = TRX_EXECUTING;
        return rc;
    }
    pthread_mutex_lock(&n->mu);
    fill_meta(n, t, meta);
    bool fragment = !(flags & REPL_F_TRX_END);
    if (!t->cert_ok) {
        t->state = TRX_CERT_FAILED;
        pthread_mutex_unlock(&n->mu);
        atomic_fetch_add(&n->st_local_cert_failures, 1);
        /* wsrep-lib never takes commit order for a failed fragment: its rollback fragment,
         * ordered after it, must not wait for this seqno */
        if (fragment) finish_ordered(n, t);
        return REPL_TRX_FAIL;
    }
    if (t->must_abort) {
        /* Aborted after it left this node: every other node applies it, so it must commit
         * here too, by replay; a fragment is not replayed, the host rolls the whole
         * transaction back with a rollback fragment. */
        t->state = TRX_MUST_REPLAY;
        pthread_mutex_unlock(&n->mu);
        if (fragment) finish_ordered(n, t);
        return REPL_BF_ABORT;
    }
    t->state = TRX_CERTIFIED;
    pthread_mutex_unlock(&n->mu);

    /* Parallel applying window: wait only for what this write-set depends on. */
    if (repl_monitor_enter(n->apply_mon, t->seqno, t->depends_on)) {
        pthread_mutex_lock(&n->mu);
        t->state = TRX_MUST_REPLAY;
        pthread_mutex_unlock(&n->mu);
        if (fragment) finish_ordered(n, t);
        return REPL_BF_ABORT;
    }
    t->h.apply_entered = true;
    return REPL_OK;
}

static struct repl_handle *handle_of(void *opaque)
{
    struct repl_handle *h = opaque;
    return h && (h->kind == REPL_H_TRX || h->kind == REPL_H_TOI || h->kind == REPL_H_JOB) ? h : NULL;
}

static struct repl_trx *trx_of(void *opaque)
{
    struct repl_handle *h = handle_of(opaque);
    return h && (h->kind == REPL_H_TRX || h->kind == REPL_H_TOI) ? (struct repl_trx *)h : NULL;
}

int repl_node_commit_order_enter(struct repl_node *n, uint64_t trx_id, void *opaque,
                                 const struct repl_meta *meta)
{
    (void)trx_id;
    int64_t seqno = meta ? meta->gtid.seqno : TR_SEQNO_UNDEFINED;
    if (seqno < 0) {
        tr_error("commit_order_enter without an ordered seqno");
        return REPL_TRX_MISSING;
    }
    struct repl_handle *h = handle_of(opaque);
    struct repl_trx *t = trx_of(opaque);
    if (t && t->h.kind == REPL_H_TRX && !t->replaying) {
        pthread_mutex_lock(&n->mu);
        bool victim = t->state == TRX_MUST_REPLAY;
        pthread_mutex_unlock(&n->mu);
        if (victim) return REPL_BF_ABORT;
    }
    if (repl_monitor_enter(n->commit_mon, seqno, seqno - 1)) {
        if (t && t->h.kind == REPL_H_TRX && t->cert_ok) {
            pthread_mutex_lock(&n->mu);
            t->state = TRX_MUST_REPLAY;
            pthread_mutex_unlock(&n->mu);
            return REPL_BF_ABORT;
        }
        return REPL_NODE_FAIL;
    }
    if (h) h->commit_entered = true;
    return REPL_OK;
}

int repl_node_commit_order_leave(struct repl_node *n, uint64_t trx_id, void *opaque,
                                 const struct repl_meta *meta, const struct repl_buf *error)
{
    int64_t seqno = meta ? meta->gtid.seqno : TR_SEQNO_UNDEFINED;
    if (seqno < 0) return REPL_TRX_MISSING;
    struct repl_handle *h = handle_of(opaque);
    struct repl_trx *t = trx_of(opaque);
    int rc = REPL_OK;
    if (error && error->len > 0) {
        tr_info("transaction %llu at seqno %lld failed to commit: %.*s",
                 (unsigned long long)trx_id, (long long)seqno,
                 (int)(error->len > 512 ? 512 : error->len), (const char *)error->ptr);
        /* replication.md §7: the other members decide whether this node is the odd one, and
         * nothing after it commits here until they have */
        rc = repl_driver_apply_failed(n, seqno, !(h && h->kind == REPL_H_TOI), error->ptr,
                                      error->len);
    }
    repl_monitor_leave(n->commit_mon, seqno);
    if (h) h->commit_done = true;
    if (t && t->h.kind == REPL_H_TRX && t->cert_ok && !(error && error->len)) {
        t->state = TRX_COMMITTED;
        if (t->flags & REPL_F_TRX_END) /* a fragment only stored part of the transaction */
            atomic_fetch_add(&n->st_local_commits, 1);
    }
    return rc;
}

/* Every ordered seqno must pass both monitors exactly once, whatever happened to it. */
static void finish_ordered(struct repl_node *n, struct repl_trx *t)
{
    if (!t->ordered) return;
    if (!t->h.commit_done) {
        if (t->h.commit_entered)
            repl_monitor_leave(n->commit_mon, t->seqno);
        else
            repl_monitor_cancel(n->commit_mon, t->seqno);
        t->h.commit_done = true;
    }
    if (!t->h.apply_done) {
        int64_t left = t->h.apply_entered ? repl_monitor_leave(n->apply_mon, t->seqno)
                                          : repl_monitor_cancel(n->apply_mon, t->seqno);
        t->h.apply_done = true;
        repl_driver_committed(n, left);
    }
}

/* After a fragment the transaction goes on: the next fragment carries only what the host
 * appends from now on, and is a new write-set with its own seqno. */
static void next_fragment(struct repl_trx *t)
{
    tr_buf_reset(&t->keys);
    tr_buf_reset(&t->data);
    t->nkeys = 0;
    t->nprefix = 0;
    t->flags = 0;
    t->seqno = t->depends_on = TR_SEQNO_UNDEFINED;
    t->ordered = t->cert_ok = t->lost = false;
    t->h = (struct repl_handle){.kind = REPL_H_TRX};
    t->state = TRX_EXECUTING;
}

int repl_node_release(struct repl_node *n, uint64_t trx_id, void **opaque)
{
    struct repl_trx *t = opaque ? trx_of(*opaque) : NULL;
    pthread_mutex_lock(&n->mu);
    if (!t || t->h.kind != REPL_H_TRX) t = repl_trx_find_locked(n, trx_id);
    bool goes_on = t && t->ordered && t->cert_ok && !(t->flags & REPL_F_TRX_END) &&
                   !t->must_abort && !t->rolled_back && t->state == TRX_COMMITTED;
    if (t && !goes_on) unlink_trx_locked(n, t);
    pthread_mutex_unlock(&n->mu);
    if (goes_on) {
        finish_ordered(n, t);
        pthread_mutex_lock(&n->mu);
        next_fragment(t);
        pthread_mutex_unlock(&n->mu);
        return REPL_OK;
    }
    if (opaque) *opaque = NULL;
    if (!t) return REPL_OK; /* never appended anything: nothing to release */
    finish_ordered(n, t);
    trx_free(t);
    return REPL_OK;
}

int repl_node_replay(struct repl_node *n, uint64_t trx_id, void *opaque, void *trx_ctx)
{
    struct repl_trx *t = trx_of(opaque);
    pthread_mutex_lock(&n->mu);
    if (!t || t->h.kind != REPL_H_TRX) t = repl_trx_find_locked(n, trx_id);
    /* aborted while its write-set was in flight: its order and verdict come now */
    for (;;) {
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        if (!t || t->state != TRX_MUST_REPLAY || t->ordered || t->lost || in.closed || n->broken) break;
        pthread_cond_wait(&t->cond, &n->mu);
    }
    if (t && t->in_flight) end_locked(n, t);
    if (t && t->ordered && !t->cert_ok && t->state == TRX_MUST_REPLAY) {
        /* it lost certification: every node skips it, so it simply rolls back here */
        t->state = TRX_CERT_FAILED;
        pthread_mutex_unlock(&n->mu);
        atomic_fetch_add(&n->st_local_cert_failures, 1);
        return REPL_TRX_FAIL;
    }
    if (t && !t->ordered && t->lost && t->state == TRX_MUST_REPLAY) {
        /* BF-aborted before its order, then the node left the primary component: it was never
         * ordered here, so it rolls back like a certification failure (the client gets an
         * error, nothing was acknowledged); MariaDB aborts the server on any other answer */
        t->state = TRX_CERT_FAILED;
        pthread_mutex_unlock(&n->mu);
        return REPL_TRX_FAIL;
    }
    bool ok = t && t->ordered && t->cert_ok && t->state == TRX_MUST_REPLAY;
    if (ok) t->replaying = true;
    pthread_mutex_unlock(&n->mu);
    if (!ok) {
        tr_error("replay of trx %llu requested, but it is not an ordered BF-aborted transaction",
                 (unsigned long long)trx_id);
        return REPL_TRX_MISSING;
    }
    repl_monitor_clear_interrupt(n->apply_mon, t->seqno);
    repl_monitor_clear_interrupt(n->commit_mon, t->seqno);
    if (!t->h.apply_entered) {
        if (repl_monitor_enter(n->apply_mon, t->seqno, t->depends_on)) return REPL_NODE_FAIL;
        t->h.apply_entered = true;
    }
    struct repl_meta meta;
    fill_meta(n, t, &meta);
    struct repl_buf data = {t->data.ptr, t->data.len};
    bool exit_loop = false;
    int rc = n->host.apply ? n->host.apply(n->host.app_ctx, trx_ctx, t->trx_id, t, t->flags,
                                           &data, &meta, &exit_loop)
                           : -1;
    t->replaying = false;
    if (rc) {
        tr_error("replaying trx %llu at seqno %lld failed (%d)", (unsigned long long)trx_id,
                 (long long)t->seqno, rc);
        return REPL_TRX_FAIL;
    }
    atomic_fetch_add(&n->st_local_replays, 1);
    t->state = TRX_COMMITTED;
    return REPL_OK;
}

int repl_node_abort_certification(struct repl_node *n, int64_t bf_seqno, uint64_t victim_trx,
                                  int64_t *victim_seqno)
{
    int rc = REPL_OK;
    pthread_mutex_lock(&n->mu);
    struct repl_trx *t = repl_trx_find_locked(n, victim_trx);
    *victim_seqno = t && t->ordered ? t->seqno : TR_SEQNO_UNDEFINED;
    if (!t) {
        /* unknown to us: nothing replicated, the host aborts it on its own */
    } else if (!t->ordered) {
        /* not yet broadcast: certify fails it; waiting for its order: certify returns
         * BF_ABORT at once and replay_trx completes it in order (or fails it) */
        t->must_abort = true;
        pthread_cond_broadcast(&t->cond);
    } else if (!(t->flags & REPL_F_TRX_END) && bf_seqno >= 0 && t->state != TRX_MUST_REPLAY) {
        /* A fragment: the transaction keeps its locks after it, so an aborter told to wait
         * would wait for all the rest of it. It is rolled back instead once this fragment is
         * through (wsrep-lib checks after the fragment); a commit order not yet entered
         * behind the aborter is interrupted first, as for any transaction. */
        if (t->seqno > bf_seqno && t->cert_ok && !t->h.commit_entered &&
            t->state != TRX_COMMITTED && repl_monitor_interrupt(n->commit_mon, t->seqno)) {
            repl_monitor_interrupt(n->apply_mon, t->seqno);
            t->state = TRX_MUST_REPLAY;
        }
        t->must_abort = true;
    } else if (bf_seqno < 0 || t->seqno < bf_seqno || t->h.commit_entered ||
               t->state == TRX_COMMITTED || t->state == TRX_MUST_REPLAY) {
        rc = REPL_NOT_ALLOWED; /* ahead of the aborter in total order, or already past it */
    } else if (!t->cert_ok) {
        /* already failing certification: it rolls back anyway */
    } else if (!repl_monitor_interrupt(n->commit_mon, t->seqno)) {
        rc = REPL_NOT_ALLOWED; /* it entered commit order first */
    } else {
        repl_monitor_interrupt(n->apply_mon, t->seqno); /* in case it still waits there */
        t->state = TRX_MUST_REPLAY;
    }
    pthread_mutex_unlock(&n->mu);
    if (rc == REPL_OK && t) atomic_fetch_add(&n->st_local_bf_aborts, 1);
    return rc;
}

/* The host rolls back a streaming transaction (wsrep-lib's streaming_rollback): every member,
 * this one included, must see a rollback fragment in the total order, where its appliers
 * remove the stored fragments (docs/design/streaming.md). As Galera's galera_rollback, it is
 * sent from a fresh context and not waited for: the caller may be a BF abort whose aborter
 * waits for this transaction's locks, and nothing is certified. It is not held by flow
 * control either, for the same reason. local_id 0 names no waiter, so the fragment comes back
 * here to the appliers like another node's. */
int repl_node_rollback(struct repl_node *n, uint64_t trx_id, const struct repl_buf *data)
{
    pthread_mutex_lock(&n->mu);
    struct repl_trx *t = repl_trx_find_locked(n, trx_id);
    uint64_t conn_id = 0;
    if (t) {
        if (!t->ordered) t->must_abort = true; /* a pending certify fails */
        t->rolled_back = true;
        conn_id = t->conn_id;
        pthread_cond_broadcast(&t->cond);
    }
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    bool up = n->connected && in.writable && !in.closing && !in.closed && !n->broken;
    const void *d = data && data->len ? data->ptr : NULL;
    size_t dlen = d ? data->len : 0;
    /* recorded before it is sent: its delivery may come before the broadcast returns */
    bool kept = up && repl_rollbacks_add(&n->rollbacks, trx_id, conn_id, d, dlen) == 0;
    pthread_mutex_unlock(&n->mu);
    /* not primary now: wsrep-lib keeps the event and sends it again before its next fragment */
    if (!up) return REPL_TRX_FAIL;
    int rc = repl_rollback_send(n, trx_id, conn_id, d, dlen);
    if (rc != REPL_OK && kept) {
        pthread_mutex_lock(&n->mu);
        repl_rollbacks_delivered(&n->rollbacks, trx_id); /* the host was told: not ours to resend */
        pthread_mutex_unlock(&n->mu);
    }
    return rc;
}

int repl_rollback_send(struct repl_node *n, uint64_t trx_id, uint64_t conn_id, const void *d,
                       size_t dlen)
{
    pthread_mutex_lock(&n->mu);
    int64_t last_seen = repl_monitor_last_left(n->apply_mon);
    pthread_mutex_unlock(&n->mu);
    struct cert_ws_hdr hdr = {
        .flags = REPL_F_ROLLBACK | REPL_F_PA_UNSAFE,
        .source = n->self,
        .local_id = 0,
        .conn_id = conn_id,
        .trx_id = trx_id,
        .last_seen = last_seen,
    };
    struct cert_ws_enc enc;
    struct cert_ws_enc_opts eo = {.max_size = CERT_WS_MAX_SIZE};
    int erc = cert_ws_encode(&enc, &hdr, NULL, 0, d, dlen, &eo);
    if (erc) {
        tr_error("rollback fragment of trx %llu: %s", (unsigned long long)trx_id,
                 cert_ws_strerror(erc));
        return REPL_TRX_FAIL;
    }
    /* no keys, and often no data: empty parts are left out (their pointers may be NULL) */
    struct repl_buf bufs[3] = {{enc.hdr, sizeof enc.hdr}};
    size_t nb = 1;
    if (enc.keys_len) bufs[nb++] = (struct repl_buf){enc.keys, enc.keys_len};
    if (enc.data_len) bufs[nb++] = (struct repl_buf){enc.data, enc.data_len};
    int rc = n->group->ops->broadcast(n->group, bufs, nb);
    cert_ws_enc_free(&enc);
    if (rc) {
        tr_info("rollback fragment of trx %llu not sent: %s", (unsigned long long)trx_id,
                strerror(-rc));
        return REPL_TRX_FAIL;
    }
    atomic_fetch_add(&n->st_replicated, 1);
    return REPL_OK;
}

int repl_node_assign_read_view(struct repl_node *n, uint64_t trx_id, const tr_gtid *rv)
{
    (void)n;
    (void)trx_id;
    (void)rv;
    return REPL_NOT_IMPLEMENTED;
}

static struct repl_trx *toi_find_locked(struct repl_node *n, uint64_t conn_id)
{
    for (struct repl_trx *t = n->toi_by_conn[repl_hash(conn_id)]; t; t = t->next_trx)
        if (t->conn_id == conn_id) return t;
    return NULL;
}

int repl_node_to_execute_start(struct repl_node *n, uint64_t conn_id, const struct repl_key *keys,
                               size_t nkeys, const struct repl_buf *action, size_t count,
                               uint32_t flags, struct repl_meta *meta)
{
    struct repl_trx *t = trx_new(REPL_H_TOI, 0, conn_id);
    if (!t) return REPL_FATAL;
    fill_meta(n, t, meta);
    if (!(flags & REPL_F_TRX_START) || !(flags & REPL_F_TRX_END)) {
        trx_free(t);
        tr_error("to_execute_start flags 0x%x: two-phase (NBO) TOI is not supported", flags);
        return REPL_NOT_IMPLEMENTED;
    }
    t->flags = flags | REPL_F_ISOLATION;
    if (append_keys(t, keys, nkeys, REPL_KEY_EXCLUSIVE) || append_bufs(&t->data, action, count)) {
        trx_free(t);
        return REPL_FATAL;
    }
    pthread_mutex_lock(&n->mu);
    if (toi_find_locked(n, conn_id)) {
        pthread_mutex_unlock(&n->mu);
        trx_free(t);
        tr_error("connection %llu is already in TOI", (unsigned long long)conn_id);
        return REPL_CONN_FAIL;
    }
    size_t h = repl_hash(conn_id);
    t->next_trx = n->toi_by_conn[h];
    n->toi_by_conn[h] = t;
    t->in_table = true;
    pthread_mutex_unlock(&n->mu);

    int rc = replicate(n, t);
    if (rc == REPL_OK) {
        fill_meta(n, t, meta);
        /* Total-order isolation: everything ordered before runs to completion first. */
        if (repl_monitor_enter(n->apply_mon, t->seqno, t->seqno - 1) == 0) {
            t->h.apply_entered = true;
            if (repl_monitor_enter(n->commit_mon, t->seqno, t->seqno - 1) == 0)
                t->h.commit_entered = true;
        }
        if (!t->h.commit_entered) rc = REPL_CONN_FAIL;
    }
    if (rc != REPL_OK) {
        pthread_mutex_lock(&n->mu);
        unlink_trx_locked(n, t);
        pthread_mutex_unlock(&n->mu);
        finish_ordered(n, t);
        if (t->ordered) fill_meta(n, t, meta);
        trx_free(t);
    }
    return rc;
}

int repl_node_to_execute_end(struct repl_node *n, uint64_t conn_id, const struct repl_buf *error)
{
    pthread_mutex_lock(&n->mu);
    struct repl_trx *t = toi_find_locked(n, conn_id);
    if (t) unlink_trx_locked(n, t);
    pthread_mutex_unlock(&n->mu);
    if (!t) return REPL_TRX_MISSING;
    if (error && error->len) {
        tr_info("TOI at seqno %lld failed on this node: %.*s", (long long)t->seqno,
                 (int)(error->len > 512 ? 512 : error->len), (const char *)error->ptr);
        /* A lost vote already makes this node leave (logged as the inconsistency, followed by a
         * non-primary view); the statement itself has ended either way. Galera's
         * to_execute_end returns OK after its vote whatever the outcome, and MariaDB turns any
         * other status into a "TO isolation end failed" warning that its tests do not expect
         * (galera.MDEV-37991, galera.MDEV-38201). */
        if (t->seqno > 0)
            (void)repl_driver_apply_failed(n, t->seqno, false, error->ptr, error->len);
    }
    finish_ordered(n, t);
    trx_free(t);
    return REPL_OK;
}

int repl_node_free_connection(struct repl_node *n, uint64_t conn_id)
{
    /* A connection that goes away inside TOI must not stall the order for everyone. */
    pthread_mutex_lock(&n->mu);
    bool in_toi = toi_find_locked(n, conn_id) != NULL;
    pthread_mutex_unlock(&n->mu);
    if (in_toi) return repl_node_to_execute_end(n, conn_id, NULL);
    return REPL_OK;
}

void repl_trx_free_all(struct repl_node *n)
{
    for (int i = 0; i < REPL_HASH; i++) {
        for (struct repl_trx *t = n->by_trx[i], *nx; t; t = nx) {
            nx = t->next_trx;
            trx_free(t);
        }
        for (struct repl_trx *t = n->toi_by_conn[i], *nx; t; t = nx) {
            nx = t->next_trx;
            trx_free(t);
        }
        n->by_trx[i] = n->toi_by_conn[i] = n->by_local[i] = NULL;
    }
}
