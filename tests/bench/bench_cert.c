/* tests/bench/bench_cert: certification index and write-set codec throughput on one core.
 * Usage: bench_cert [keys-per-ws ...]; env BENCH_N (write-sets, default 1000000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certification/cert_index.h"
#include "certification/cert_ws.h"

#define POOL 16384 /* pre-encoded key sets, cycled: encoding stays out of the timing */

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Keys as MariaDB sends them: db, table, primary key bytes; mostly UPDATE/EXCLUSIVE rows,
 * plus one SHARED table-level key per write-set when it has more than one key. */
static void make_pool(struct tr_buf *pool, int nkeys, uint64_t rows, uint64_t *s)
{
    for (int i = 0; i < POOL; i++) {
        struct tr_buf *b = &pool[i];
        b->len = 0;
        struct cert_key_part t[2] = {{"sbtest", 6}, {"sbtest1", 7}};
        if (nkeys > 1) cert_ws_key_append(b, CERT_KEY_SHARED, t, 2);
        for (int k = nkeys > 1; k < nkeys; k++) {
            uint64_t row = rng(s) % rows;
            uint8_t pk[8];
            for (int j = 0; j < 8; j++) pk[j] = (uint8_t)(row >> (56 - 8 * j));
            struct cert_key_part p[3] = {{"sbtest", 6}, {"sbtest1", 7}, {pk, 8}};
            cert_ws_key_append(b, rng(s) % 4 ? CERT_KEY_UPDATE : CERT_KEY_EXCLUSIVE, p, 3);
        }
    }
}

static void bench_certify(int nkeys, uint64_t rows, long n, const char *label)
{
    static struct tr_buf pool[POOL];
    uint64_t s = 0x2545f4914f6cdd1dull;
    make_pool(pool, nkeys, rows, &s);
    struct cert_index *idx = cert_index_new(0);
    long conflicts = 0;
    size_t max_size = 0;
    double t0 = now();
    for (long seqno = 1; seqno <= n; seqno++) {
        struct cert_ws_view v;
        memset(&v, 0, sizeof v);
        v.hdr.source.data[0] = (uint8_t)(seqno % 3); /* three nodes */
        v.hdr.last_seen = seqno - 1 - (long)(rng(&s) % 16);
        if (v.hdr.last_seen < 0) v.hdr.last_seen = 0;
        v.hdr.nkeys = (uint32_t)nkeys;
        v.keys = pool[seqno % POOL].ptr;
        v.keys_len = pool[seqno % POOL].len;
        int64_t dep;
        conflicts += cert_certify(idx, &v, seqno, &dep) == CERT_CONFLICT;
        /* the cluster-wide committed seqno trails by ~1000, reported every 64 */
        if (seqno % 64 == 0 && seqno > 1000) cert_purge(idx, seqno - 1000);
        if (seqno % 4096 == 0 && cert_index_size(idx) > max_size) max_size = cert_index_size(idx);
    }
    double dt = now() - t0;
    printf("certify %-5s keys/ws %3d: %9.0f ws/s %10.0f keys/s  (%ld ws, %.1f%% conflicts, "
           "index <= %zu keys)\n",
           label, nkeys, (double)n / dt, (double)n * nkeys / dt, n, 100.0 * conflicts / n, max_size);
    cert_index_free(idx);
    for (int i = 0; i < POOL; i++) tr_buf_free(&pool[i]);
}

static void bench_codec(size_t data_len, size_t compress_min)
{
    struct tr_buf keys = {0};
    uint64_t s = 7;
    for (int k = 0; k < 8; k++) {
        uint8_t pk[8];
        for (int j = 0; j < 8; j++) pk[j] = (uint8_t)rng(&s);
        struct cert_key_part p[3] = {{"db", 2}, {"t", 1}, {pk, 8}};
        cert_ws_key_append(&keys, CERT_KEY_EXCLUSIVE, p, 3);
    }
    uint8_t *data = malloc(data_len);
    for (size_t i = 0; i < data_len; i++) /* text-like, some noise: compresses about 4:1 */
        data[i] = (uint8_t)("row image, mostly text "[i % 23] ^ (rng(&s) % 4 == 0));
    uint8_t *wire = malloc(CERT_WS_HDR_LEN + keys.len + data_len + 64);
    struct cert_ws_hdr h = {.flags = 0x41, .last_seen = 1, .nkeys = 8};
    struct cert_ws_enc_opts o = {.compress_min = compress_min};
    long iters = (long)(256e6 / (double)(data_len + 512)) + 1;
    double enc = 0, dec = 0;
    size_t wlen = 0;
    for (long i = 0; i < iters; i++) {
        struct cert_ws_enc e;
        double a = now();
        if (cert_ws_encode(&e, &h, keys.ptr, keys.len, data, data_len, &o)) abort();
        double b = now();
        memcpy(wire, e.hdr, CERT_WS_HDR_LEN);
        memcpy(wire + CERT_WS_HDR_LEN, e.keys, e.keys_len);
        memcpy(wire + CERT_WS_HDR_LEN + e.keys_len, e.data, e.data_len);
        wlen = CERT_WS_HDR_LEN + e.keys_len + e.data_len;
        cert_ws_enc_free(&e);
        struct cert_ws_view v;
        double c = now();
        if (cert_ws_decode(wire, wlen, 0, &v)) abort();
        dec += now() - c;
        enc += b - a;
        cert_ws_view_release(&v);
    }
    printf("codec   data %7zu B %-10s: encode %7.0f MB/s, decode+verify %7.0f MB/s, wire %zu B\n",
           data_len, compress_min ? "zstd" : "plain", (double)data_len * iters / enc / 1e6,
           (double)data_len * iters / dec / 1e6, wlen);
    free(wire);
    free(data);
    tr_buf_free(&keys);
}

int main(int argc, char **argv)
{
    long n = getenv("BENCH_N") ? atol(getenv("BENCH_N")) : 1000000;
    int def[] = {1, 4, 16, 64};
    int nk = argc > 1 ? argc - 1 : 4;
    for (int i = 0; i < nk; i++) {
        int k = argc > 1 ? atoi(argv[i + 1]) : def[i];
        if (k < 1 || k > 100000) {
            fprintf(stderr, "keys per write-set must be 1..100000\n");
            return 2;
        }
        bench_certify(k, 100000000ull, n, "fresh"); /* 1e8 rows: few key hits */
        bench_certify(k, 10000ull, n, "hot");       /* 1e4 rows: many hits, some conflicts */
    }
    bench_codec(1024, 0);
    bench_codec(64 * 1024, 0);
    bench_codec(64 * 1024, 1);
    bench_codec(1024 * 1024, 0);
    bench_codec(1024 * 1024, 1);
    return 0;
}
