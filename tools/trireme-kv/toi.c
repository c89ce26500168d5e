/* tools/trireme-kv/toi.c: total-order-isolation actions (MariaDB's DDL path): to_execute_start,
 * run the action locally while isolated, to_execute_end; checks each gets a larger seqno. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"

const char KV_TOI_KEY[] = "__toi_counter__";

/* one conn id no client thread uses, like a separate DDL session */
#define TOI_CONN ((wsrep_conn_id_t)0x70000000u)
#define TOI_RETRIES 10

int kv_toi_run(struct kv_node *n, int count)
{
    wsrep_t *w = n->w;
    wsrep_seqno_t prev = 0;
    int done = 0;
    /* the action: increment a counter row, so every node's checksum covers TOI too */
    unsigned char one[8] = {1};
    struct kv_op op = {KV_OP_INCR, KV_TOI_KEY, sizeof KV_TOI_KEY - 1, one, 8};
    void *payload;
    size_t plen = kv_codec_encode(&op, 1, &payload);
    if (!plen)
        return -1;
    wsrep_buf_t parts[3];
    kv_key_parts(parts, KV_TOI_KEY, sizeof KV_TOI_KEY - 1);
    wsrep_key_t key = {parts, 3};
    wsrep_buf_t action = {payload, plen};
    wsrep_buf_t no_error = {NULL, 0};

    for (int i = 0; i < count; i++) {
        wsrep_trx_meta_t m;
        wsrep_status_t rc = WSREP_TRX_FAIL;
        for (int t = 0; t < TOI_RETRIES; t++) {
            memset(&m, 0, sizeof m);
            m.gtid.seqno = WSREP_SEQNO_UNDEFINED;
            m.depends_on = WSREP_SEQNO_UNDEFINED;
            rc = w->to_execute_start(w, TOI_CONN, &key, 1, &action, 1,
                                     WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &m);
            if (rc == WSREP_OK)
                break;
            kv_err(n, "toi %d: to_execute_start(conn %llu, 1 key, 1 buf of %zu, flags 0x41) -> "
                      "%s, meta.gtid.seqno %lld",
                   i, (unsigned long long)TOI_CONN, plen, kv_status_str(rc),
                   (long long)m.gtid.seqno);
            /* wsrep-lib: a failed start that still got ordered must be ended first */
            if (m.gtid.seqno > 0)
                w->to_execute_end(w, TOI_CONN, &no_error);
            if (rc != WSREP_TRX_FAIL && rc != WSREP_CONN_FAIL)
                break;
            struct timespec ts = {0, 300 * 1000 * 1000}; /* wsrep-lib's poll interval */
            nanosleep(&ts, NULL);
        }
        if (rc != WSREP_OK) {
            atomic_fetch_add(&n->errors, 1);
            continue;
        }
        if (m.gtid.seqno <= prev) {
            kv_err(n, "toi %d: seqno %lld does not grow (previous %lld)", i,
                   (long long)m.gtid.seqno, (long long)prev);
            atomic_fetch_add(&n->errors, 1);
        }
        prev = m.gtid.seqno;
        kv_note_seqno(n, m.gtid.seqno);
        if (kv_codec_apply(n->table, payload, plen) < 0)
            abort();
        rc = w->to_execute_end(w, TOI_CONN, &no_error);
        if (rc != WSREP_OK) {
            kv_err(n, "toi %d: to_execute_end(conn %llu, empty error) -> %s", i,
                   (unsigned long long)TOI_CONN, kv_status_str(rc));
            atomic_fetch_add(&n->errors, 1);
            continue;
        }
        done++;
    }
    wsrep_status_t rc = w->free_connection(w, TOI_CONN);
    if (rc != WSREP_OK) {
        kv_err(n, "free_connection(%llu) -> %s", (unsigned long long)TOI_CONN, kv_status_str(rc));
        atomic_fetch_add(&n->errors, 1);
    }
    free(payload);
    kv_say(n, "toi: %d of %d actions done, last seqno %lld", done, count, (long long)prev);
    return done;
}
