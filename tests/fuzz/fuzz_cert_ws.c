/* tests/fuzz/fuzz_cert_ws: whole write-set decoding (header, checksums, keys, zstd) from any bytes.
 * The decoder must refuse anything inconsistent, never read past len, and round-trip what it accepts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_csum.h"
#include "certification/cert_ws.h"

/* Random bytes almost never pass a checksum; this lets the fuzzer reach what lies behind it.
 * First input byte: bit 0 reseal the header checksum, bit 1 recompute the payload checksum,
 * bit 4 build a compressed write-set from the input, bit 5 then damage one byte of it. */
static void reseal(uint8_t *b, size_t len, unsigned mode)
{
    if (len < CERT_WS_HDR_LEN) return;
    if (mode & 2) {
        struct cert_csum_buf p = {b + CERT_WS_HDR_LEN, len - CERT_WS_HDR_LEN};
        uint64_t c;
        if (cert_csum(&p, 1, &c) == 0) tr_put_u64(b + 104, c);
    }
    if (mode & 3) {
        struct cert_csum_buf h = {b, CERT_WS_HDR_LEN - 8};
        uint64_t c;
        if (cert_csum(&h, 1, &c) == 0) tr_put_u64(b + CERT_WS_HDR_LEN - 8, c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++, size--;
    uint8_t *buf;
    if (mode & 0x10) {
        /* Structure-aware: a genuine compressed write-set of these bytes, then one byte
         * damaged (where the last input byte says), so zstd's error paths are reached. */
        struct cert_ws_hdr h0 = {.seqno = -1, .depends = -1};
        struct cert_ws_enc e;
        struct cert_ws_enc_opts o = {.compress_min = 1};
        size_t off = size ? (size_t)data[size - 1] * 7 : 0; /* where to damage */
        if (cert_ws_encode(&e, &h0, NULL, 0, data, size, &o) != 0) {
            cert_ws_enc_free(&e);
            return 0;
        }
        size = CERT_WS_HDR_LEN + e.data_len;
        buf = malloc(size);
        memcpy(buf, e.hdr, CERT_WS_HDR_LEN);
        if (e.data_len) memcpy(buf + CERT_WS_HDR_LEN, e.data, e.data_len);
        if ((mode & 0x20) && e.data_len) buf[CERT_WS_HDR_LEN + off % e.data_len] ^= 0x5a;
        cert_ws_enc_free(&e);
    } else {
        /* an exact-size heap copy so ASan sees any overread */
        buf = malloc(size ? size : 1);
        if (!buf) return 0;
        memcpy(buf, data, size);
    }
    reseal(buf, size, mode);

    struct cert_ws_hdr h;
    memset(&h, 0, sizeof h); /* padding compared below */
    int hrc = cert_ws_hdr_decode(buf, size, &h);
    if (hrc == 0) {
        if ((size_t)CERT_WS_HDR_LEN + h.keys_len + h.data_len != size) abort();
        uint8_t again[CERT_WS_HDR_LEN];
        cert_ws_hdr_encode(&h, again);
        struct cert_ws_hdr h2;
        memset(&h2, 0, sizeof h2);
        if (memcmp(again, buf, CERT_WS_HDR_LEN) != 0) abort();
        if (cert_ws_hdr_decode(buf, size, &h2) != 0 || memcmp(&h, &h2, sizeof h) != 0) abort();
    }

    struct cert_ws_view v;
    int rc = cert_ws_decode(buf, size, 1 << 20, &v);
    if (rc == 0) {
        if (hrc != 0) abort(); /* the full decoder accepts only what the header decoder does */
        /* touch every byte it hands out, and walk the keys again */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < v.data_len; i++) sink ^= v.data[i];
        (void)sink;
        if (cert_keys_validate(v.keys, v.keys_len, v.hdr.nkeys) != 0) abort();
        /* re-encoding the accepted content must give an acceptable write-set */
        struct cert_ws_enc e;
        struct cert_ws_enc_opts o = {.compress_min = (mode & 4) ? 1 : 0};
        if (cert_ws_encode(&e, &v.hdr, v.keys, v.keys_len, v.data, v.data_len, &o) == 0) {
            size_t n = CERT_WS_HDR_LEN + e.keys_len + e.data_len;
            uint8_t *b2 = malloc(n);
            memcpy(b2, e.hdr, CERT_WS_HDR_LEN);
            if (e.keys_len) memcpy(b2 + CERT_WS_HDR_LEN, e.keys, e.keys_len);
            if (e.data_len) memcpy(b2 + CERT_WS_HDR_LEN + e.keys_len, e.data, e.data_len);
            struct cert_ws_view v2;
            if (cert_ws_decode(b2, n, 1 << 20, &v2) != 0) abort();
            if (v2.data_len != v.data_len || (v.data_len && memcmp(v2.data, v.data, v.data_len)))
                abort();
            cert_ws_view_release(&v2);
            free(b2);
        }
        cert_ws_enc_free(&e);
        cert_ws_view_release(&v);
    } else if (v.owned) {
        abort(); /* nothing to free after an error */
    }
    if (!cert_ws_strerror(rc)) abort();
    free(buf);
    return 0;
}
