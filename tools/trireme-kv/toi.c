/* tools/trireme-kv/toi.c: total-order-isolation actions (MariaDB's DDL path): to_execute_start,
 * run the action locally while isolated, to_execute_end; checks each gets a larger seqno. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"

const char KV_TOI_KEY[] = "__toi_counter__";
const char KV_DONE_KEY[] = "__nodes_done__";
const char KV_READY_KEY[] = "__nodes_ready__";
const char KV_LEAVE_KEY[] = "__nodes_leaving__";

/* one conn id no client thread uses, like a separate DDL session */
#define TOI_CONN ((wsrep_conn_id_t)0x70000000u)
#define TOI_RETRIES 10

/* One TOI action incrementing the counter row `key`; returns its seqno or -1. */
static wsrep_seqno_t toi_incr(struct kv_node *n, const char *key, int i)
{
    wsrep_t *w = n->w;
    size_t klen = strlen(key);
    /* the action: increment a counter row, so every node's checksum covers TOI too */
    unsigned char one[8] = {1};
    struct kv_op op = {KV_OP_INCR, key, klen, one, 8};
    void *payload;
    size_t plen = kv_codec_encode(&op, 1, &payload);
    if (!plen)
        return -1;
    wsrep_buf_t parts[3];
    kv_key_parts(parts, key, klen);
    wsrep_key_t k = {parts, 3};
    wsrep_buf_t action = {payload, plen};
    wsrep_buf_t no_error = {NULL, 0};
    wsrep_trx_meta_t m;
    wsrep_status_t rc = WSREP_TRX_FAIL;
    for (int t = 0; t < TOI_RETRIES; t++) {
        memset(&m, 0, sizeof m);
        m.gtid.seqno = WSREP_SEQNO_UNDEFINED;
        m.depends_on = WSREP_SEQNO_UNDEFINED;
        rc = w->to_execute_start(w, TOI_CONN, &k, 1, &action, 1,
                                 WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &m);
        if (rc == WSREP_OK)
            break;
        kv_err(n, "toi %d: to_execute_start(conn %llu, 1 key, 1 buf of %zu, flags 0x41) -> %s, "
                  "meta.gtid.seqno %lld",
               i, (unsigned long long)TOI_CONN, plen, kv_status_str(rc), (long long)m.gtid.seqno);
        /* wsrep-lib: a failed start that still got ordered must be ended first */
        if (m.gtid.seqno > 0)
            w->to_execute_end(w, TOI_CONN, &no_error);
        if (rc != WSREP_TRX_FAIL && rc != WSREP_CONN_FAIL)
            break;
        struct timespec ts = {0, 300 * 1000 * 1000}; /* wsrep-lib's poll interval */
        nanosleep(&ts, NULL);
    }
    wsrep_seqno_t seqno = -1;
    if (rc == WSREP_OK) {
        seqno = m.gtid.seqno;
        kv_note_seqno(n, seqno);
        if (kv_codec_apply(n->table, payload, plen) < 0)
            abort();
        kv_commit_note(n, seqno, payload, plen);
        kv_barrier_note(n, seqno);
        rc = w->to_execute_end(w, TOI_CONN, &no_error);
        if (rc != WSREP_OK) {
            kv_err(n, "toi %d: to_execute_end(conn %llu, empty error) -> %s", i,
                   (unsigned long long)TOI_CONN, kv_status_str(rc));
            seqno = -1;
        }
    }
    free(payload);
    if (seqno < 0)
        atomic_fetch_add(&n->errors, 1);
    return seqno;
}

static void free_conn(struct kv_node *n)
{
    wsrep_status_t rc = n->w->free_connection(n->w, TOI_CONN);
    if (rc != WSREP_OK) {
        kv_err(n, "free_connection(%llu) -> %s", (unsigned long long)TOI_CONN, kv_status_str(rc));
        atomic_fetch_add(&n->errors, 1);
    }
}

int kv_toi_run(struct kv_node *n, int count)
{
    wsrep_seqno_t prev = 0;
    int done = 0;
    for (int i = 0; i < count; i++) {
        wsrep_seqno_t s = toi_incr(n, KV_TOI_KEY, i);
        if (s < 0)
            continue;
        if (s <= prev) {
            kv_err(n, "toi %d: seqno %lld does not grow (previous %lld)", i, (long long)s,
                   (long long)prev);
            atomic_fetch_add(&n->errors, 1);
        }
        prev = s;
        done++;
    }
    free_conn(n);
    kv_say(n, "toi: %d of %d actions done, last seqno %lld", done, count, (long long)prev);
    return done;
}

/* Called inside the TOI critical section of every TOI action (local or applied): when the
 * barrier counter has just reached --members, the table is exactly the state at that seqno on
 * every node, so that is where the comparable checksum is taken. */
void kv_barrier_note(struct kv_node *n, wsrep_seqno_t seqno)
{
    if (n->cfg.members < 2 || atomic_load(&n->barrier_seqno) > 0)
        return;
    unsigned char v[8] = {0};
    uint64_t c = 0;
    if (kv_table_get(n->table, KV_DONE_KEY, strlen(KV_DONE_KEY), v, 8) == 8)
        for (int i = 7; i >= 0; i--)
            c = (c << 8) | v[i];
    if (c != (uint64_t)n->cfg.members)
        return;
    size_t rows;
    uint64_t chain;
    wsrep_seqno_t last;
    kv_commit_get(n, &chain, &last);
    atomic_store(&n->barrier_sum, kv_table_checksum(n->table, &rows));
    atomic_store(&n->barrier_chain, chain);
    atomic_store(&n->barrier_seqno, seqno);
}

/* A barrier through the provider itself: each node adds one to the counter row `key` by TOI
 * and waits until it has seen `members` increments (and, for the end barrier, its checksum). */
static int barrier(struct kv_node *n, const char *key, int members, bool end)
{
    if (toi_incr(n, key, -1) < 0)
        return -1;
    free_conn(n);
    double until = kv_now_ms() + 1000.0 * n->cfg.sync_timeout;
    for (;;) {
        unsigned char v[8] = {0};
        uint64_t c = 0;
        if (kv_table_get(n->table, key, strlen(key), v, 8) == 8)
            for (int i = 7; i >= 0; i--)
                c = (c << 8) | v[i];
        if (c >= (uint64_t)members && (!end || atomic_load(&n->barrier_seqno) > 0)) {
            kv_say(n, "barrier %s: %llu of %d nodes", key, (unsigned long long)c, members);
            return 0;
        }
        if (kv_now_ms() > until) {
            kv_err(n, "barrier %s: only %llu of %d nodes after %d s", key, (unsigned long long)c,
                   members, n->cfg.sync_timeout);
            atomic_fetch_add(&n->errors, 1);
            return -1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Before the main part of the workload: every node is synced and starts writing at about the
 * same time, so that the writers really run concurrently (a joiner's state transfer can take
 * longer than another node's whole workload). */
int kv_start_barrier(struct kv_node *n, int members)
{
    return barrier(n, KV_READY_KEY, members, false);
}

/* After the end barrier's causal reads: every member has had its answer, so it may leave. */
int kv_leave_barrier(struct kv_node *n, int members)
{
    return barrier(n, KV_LEAVE_KEY, members, false);
}

/* End of run: everything before the members' increments is here. */
int kv_barrier(struct kv_node *n, int members)
{
    if (barrier(n, KV_DONE_KEY, members, true) != 0)
        return -1;
    printf("barrier_checksum=%016llx barrier_seqno=%lld barrier_chain=%016llx\n",
           (unsigned long long)atomic_load(&n->barrier_sum),
           (long long)atomic_load(&n->barrier_seqno),
           (unsigned long long)atomic_load(&n->barrier_chain));
    return 0;
}
