/* tools/trireme-kv/workload.c: client threads running single-row write transactions through the
 * local commit path of wsrep-lib (append_key, append_data, certify, commit order, release). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

#define MAX_RETRIES 1000
#define MAX_ERROR_LINES 20

const char KV_TABLE_NAME[] = "kv_table";

struct client {
    struct kv_ctx ctx; /* trx_ctx handed to replay_trx(): apply_cb sees KV_CTX_REPLAY */
    struct kv_node *n;
    wsrep_conn_id_t conn;
    long ops;
    uint64_t rng;
    long reads;
    struct kv_lat lat;
    pthread_t th;
};

static atomic_ullong next_trx_id = 1;
static atomic_int error_lines;

void kv_key_parts(wsrep_buf_t parts[3], const char *key, size_t klen)
{
    parts[0] = (wsrep_buf_t){"kv", 2};
    parts[1] = (wsrep_buf_t){KV_TABLE_NAME, sizeof KV_TABLE_NAME - 1};
    parts[2] = (wsrep_buf_t){key, klen};
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: cheap, per-thread, reproducible from --seed */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static void fail(struct client *c, const char *call, long long trx, wsrep_status_t rc,
                 const wsrep_trx_meta_t *m)
{
    if (kv_avail_refused(c->n, rc)) return;
    atomic_fetch_add(&c->n->errors, 1);
    if (atomic_fetch_add(&error_lines, 1) < MAX_ERROR_LINES)
        kv_err(c->n, "conn %llu trx %lld: %s -> %s (%d), meta.gtid.seqno %lld",
               (unsigned long long)c->conn, trx, call, kv_status_str(rc), (int)rc,
               (long long)m->gtid.seqno);
}

enum outcome { COMMITTED, RETRY, FAILED };

/* Leave the BF-abortable window before the handle can be freed by the provider. */
static wsrep_status_t rel(struct client *c, wsrep_ws_handle_t *ws)
{
    kv_inflight_clear(c->n, c->ctx.index);
    return c->n->w->release(c->n->w, ws);
}

/* Enter and leave commit order for a seqno we hold but will not use (wsrep-lib does the same
 * for ordered-but-failed transactions so the sequence has no holes). */
static int release_order(struct client *c, wsrep_ws_handle_t *ws, wsrep_trx_meta_t *m)
{
    wsrep_t *w = c->n->w;
    wsrep_status_t rc = w->commit_order_enter(w, ws, m);
    if (rc != WSREP_OK) {
        fail(c, "commit_order_enter(failed trx)", (long long)ws->trx_id, rc, m);
        return -1;
    }
    rc = w->commit_order_leave(w, ws, m, NULL);
    if (rc != WSREP_OK) {
        fail(c, "commit_order_leave(failed trx)", (long long)ws->trx_id, rc, m);
        return -1;
    }
    return 0;
}

/* The provider applies the write-set again through apply_cb(trx_ctx), in order. */
static enum outcome replay(struct client *c, wsrep_ws_handle_t *ws, wsrep_trx_meta_t *m)
{
    wsrep_t *w = c->n->w;
    c->ctx.replay_ws = ws;
    kv_inflight_clear(c->n, c->ctx.index); /* a replaying trx is not BF-abortable */
    wsrep_status_t rc = w->replay_trx(w, ws, &c->ctx);
    c->ctx.replay_ws = NULL;
    enum outcome o = COMMITTED;
    if (rc == WSREP_OK) {
        atomic_fetch_add(&c->n->replays, 1);
    } else if (rc == WSREP_TRX_FAIL) {
        atomic_fetch_add(&c->n->conflicts, 1);
        atomic_fetch_add(&c->n->cert_failures, 1);
        o = RETRY;
    } else {
        fail(c, "replay_trx", (long long)ws->trx_id, rc, m);
        o = FAILED;
    }
    rc = rel(c, ws);
    if (rc != WSREP_OK) {
        fail(c, "release(after replay)", (long long)ws->trx_id, rc, m);
        o = FAILED;
    }
    return o;
}

static enum outcome attempt(struct client *c, const char *key, size_t klen, const void *payload,
                            size_t plen, double *lat_ms)
{
    struct kv_node *n = c->n;
    wsrep_t *w = n->w;
    wsrep_ws_handle_t ws = {atomic_fetch_add(&next_trx_id, 1), NULL};
    kv_inflight_set(n, c->ctx.index, key, klen, ws.trx_id); /* "row lock" for BF aborts */
    wsrep_trx_meta_t m;
    memset(&m, 0, sizeof m);
    m.gtid.seqno = WSREP_SEQNO_UNDEFINED;
    m.depends_on = WSREP_SEQNO_UNDEFINED;
    long long trx = (long long)ws.trx_id;

    double t0 = kv_now_ms();
    wsrep_buf_t parts[3];
    kv_key_parts(parts, key, klen);
    wsrep_key_t k = {parts, 3};
    wsrep_status_t rc = w->append_key(w, &ws, &k, 1, n->cfg.key_type, true);
    if (rc != WSREP_OK) {
        fail(c, "append_key", trx, rc, &m);
        goto release_failed;
    }
    wsrep_buf_t data = {payload, plen};
    rc = w->append_data(w, &ws, &data, 1, WSREP_DATA_ORDERED, true);
    if (rc != WSREP_OK) {
        fail(c, "append_data", trx, rc, &m);
        goto release_failed;
    }

    rc = w->certify(w, c->conn, &ws, WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &m);
    if (m.gtid.seqno > 0)
        kv_note_seqno(n, m.gtid.seqno);
    switch (rc) {
    case WSREP_OK:
        if (m.gtid.seqno <= 0) {
            fail(c, "certify returned OK with undefined seqno", trx, rc, &m);
            goto release_failed;
        }
        break;
    case WSREP_TRX_FAIL:
        atomic_fetch_add(&n->cert_failures, 1);
        if (atomic_fetch_add(&n->conflicts, 1) < 5)
            kv_say(n, "conn %llu trx %lld key %.*s: certify -> TRX_FAIL, meta.gtid.seqno %lld "
                      "depends_on %lld (conflict, will retry)",
                   (unsigned long long)c->conn, trx, (int)klen, key, (long long)m.gtid.seqno,
                   (long long)m.depends_on);
        if (m.gtid.seqno > 0 && release_order(c, &ws, &m) != 0)
            goto release_failed;
        rc = rel(c, &ws);
        if (rc != WSREP_OK) {
            fail(c, "release(cert failed)", trx, rc, &m);
            return FAILED;
        }
        return RETRY;
    case WSREP_BF_ABORT:
        return replay(c, &ws, &m);
    case WSREP_CONN_FAIL:
        /* wsrep-lib: a BF-aborted trx whose replication was interrupted gets a deadlock
         * error (retry); for anyone else CONN_FAIL is an error */
        if (kv_inflight_aborted(n, c->ctx.index)) {
            atomic_fetch_add(&n->conflicts, 1);
            if (m.gtid.seqno > 0 && release_order(c, &ws, &m) != 0)
                goto release_failed;
            rc = rel(c, &ws);
            if (rc != WSREP_OK) {
                fail(c, "release(BF-aborted)", trx, rc, &m);
                return FAILED;
            }
            return RETRY;
        }
        fail(c, "certify", trx, rc, &m);
        goto release_failed;
    default:
        fail(c, "certify", trx, rc, &m);
        goto release_failed;
    }

    rc = w->commit_order_enter(w, &ws, &m);
    if (rc == WSREP_BF_ABORT)
        return replay(c, &ws, &m); /* wsrep-lib: BF abort while entering order = must replay */
    if (rc != WSREP_OK) {
        fail(c, "commit_order_enter", trx, rc, &m);
        goto release_failed;
    }
    if (kv_codec_apply(n->table, payload, plen) < 0)
        abort(); /* we encoded it ourselves */
    kv_commit_note(n, m.gtid.seqno, payload, plen);
    rc = w->commit_order_leave(w, &ws, &m, NULL);
    if (rc != WSREP_OK) {
        fail(c, "commit_order_leave", trx, rc, &m);
        goto release_failed;
    }
    rc = rel(c, &ws);
    if (rc != WSREP_OK) {
        fail(c, "release", trx, rc, &m);
        return FAILED;
    }
    *lat_ms = kv_now_ms() - t0;
    if (n->cfg.avail > 0) kv_avail_commit(n, t0 + *lat_ms);
    return COMMITTED;

release_failed:
    rc = rel(c, &ws);
    if (rc != WSREP_OK)
        fail(c, "release(after error)", trx, rc, &m);
    return FAILED;
}

/* value = 8-byte little-endian version (previous + 1) then a pattern derived from it */
static size_t make_value(unsigned char *v, size_t size, const unsigned char *old, long oldlen,
                         uint64_t salt)
{
    uint64_t ver = 0;
    if (oldlen >= 8)
        for (int i = 7; i >= 0; i--)
            ver = (ver << 8) | old[i];
    ver++;
    for (size_t i = 0; i < size; i++)
        v[i] = i < 8 ? (unsigned char)(ver >> (8 * i)) : (unsigned char)(ver + salt + i);
    return size;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct kv_node *n = c->n;
    wsrep_t *w = n->w;
    size_t vsize = (size_t)n->cfg.value_size;
    unsigned char *val = malloc(vsize), *old = malloc(vsize);
    if (!val || !old)
        abort();

    double until = n->cfg.avail > 0 ? kv_now_ms() + n->cfg.avail * 1e3 : 0;
    for (long i = 0; until ? kv_now_ms() < until : i < c->ops; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "k%08llu",
                            (unsigned long long)(next_rand(&c->rng) % (uint64_t)n->cfg.keys));
        enum outcome o = RETRY;
        for (int tries = 0; o == RETRY && tries < MAX_RETRIES; tries++) {
            if (n->cfg.sync_wait) {
                wsrep_gtid_t g;
                wsrep_status_t rc = w->sync_wait(w, NULL, -1, &g);
                if (rc != WSREP_OK) {
                    wsrep_trx_meta_t none = {.gtid.seqno = WSREP_SEQNO_UNDEFINED};
                    fail(c, "sync_wait(NULL, -1, &gtid)", -1, rc, &none);
                } else {
                    kv_note_seqno(n, g.seqno);
                }
            }
            long oldlen = kv_table_get(n->table, key, (size_t)klen, old, vsize);
            c->reads++;
            make_value(val, vsize, old, oldlen, c->conn);
            struct kv_op op = {KV_OP_PUT, key, (size_t)klen, val, vsize};
            void *payload;
            size_t plen = kv_codec_encode(&op, 1, &payload);
            if (!plen)
                abort();
            double ms = 0;
            o = attempt(c, key, (size_t)klen, payload, plen, &ms);
            kv_inflight_clear(n, c->ctx.index);
            free(payload);
            if (o == COMMITTED)
                kv_lat_add(&c->lat, ms);
        }
        if (o == FAILED && until) { /* refused while not primary: try again shortly */
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (o == RETRY) {
            wsrep_trx_meta_t none = {.gtid.seqno = WSREP_SEQNO_UNDEFINED};
            fail(c, "certification kept failing: retries exhausted", -1, WSREP_TRX_FAIL, &none);
        }
    }
    wsrep_status_t rc = w->free_connection(w, c->conn);
    if (rc != WSREP_OK) {
        wsrep_trx_meta_t none = {.gtid.seqno = WSREP_SEQNO_UNDEFINED};
        fail(c, "free_connection", -1, rc, &none);
    }
    free(val);
    free(old);
    return NULL;
}

int kv_workload_run(struct kv_node *n, long ops, struct kv_result *res)
{
    int t = n->cfg.threads;
    struct client *cs = calloc((size_t)t, sizeof *cs);
    if (!cs)
        return -1;
    double t0 = kv_now_ms();
    int started = 0;
    for (int i = 0; i < t; i++) {
        struct client *c = &cs[i];
        c->ctx = (struct kv_ctx){KV_CTX_REPLAY, i, n, NULL};
        c->n = n;
        c->conn = (wsrep_conn_id_t)(i + 1);
        c->ops = ops / t + (i < ops % t ? 1 : 0);
        /* a later run of the same thread draws other keys */
        c->rng = (n->cfg.seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) + (uint64_t)res->ops) | 1;
        if (pthread_create(&c->th, NULL, client_main, c) != 0) {
            kv_err(n, "cannot start client thread %d", i);
            atomic_fetch_add(&n->errors, 1);
            break;
        }
        started++;
    }
    long before = (long)res->lat.n;
    for (int i = 0; i < started; i++) {
        pthread_join(cs[i].th, NULL);
        kv_lat_merge(&res->lat, &cs[i].lat);
        res->reads += cs[i].reads;
        kv_lat_free(&cs[i].lat);
    }
    res->secs += (kv_now_ms() - t0) / 1e3;
    res->ops += (long)res->lat.n - before;
    free(cs);
    return 0;
}

void kv_result_finish(struct kv_result *res)
{
    res->p50_ms = kv_lat_pct(&res->lat, 50.0);
    res->p99_ms = kv_lat_pct(&res->lat, 99.0);
    kv_lat_free(&res->lat);
}
