/* tests/fuzz/fuzz_cert_keys: arbitrary key sets through the walker and the certification index.
 * Malformed sets must be refused without overread; accepted ones certified, purged, freed cleanly. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_index.h"

/* Input: a sequence of write-sets, each [u8 source][u8 flags][u8 lag][u8 nkeys][u16 len][keys].
 * A few colliding hashes keep the exact-comparison paths busy. */
static uint64_t small_hash(const uint8_t *id, size_t len)
{
    return cert_key_hash(id, len) & 7;
}

/* At the end every open streaming transaction is rolled back (as at a view without its
 * originator), so that purge may empty the index. */
static bool keep_none(const tr_uuid *src, void *arg)
{
    (void)src, (void)arg;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cert_index *idx = cert_index_new(0);
    if (!idx) return 0;
    if (size && (data[0] & 1)) cert_index_set_hash(idx, small_hash);
    size_t off = 1;
    int64_t seqno = 0;
    while (off + 6 <= size) {
        const uint8_t *h = data + off;
        size_t klen = (size_t)h[4] | (size_t)h[5] << 8;
        off += 6;
        if (klen > size - off) klen = size - off;
        uint8_t *keys = malloc(klen ? klen : 1); /* exact size for ASan */
        if (klen) memcpy(keys, data + off, klen);
        off += klen;

        struct cert_ws_view v;
        memset(&v, 0, sizeof v);
        v.hdr.source.data[0] = h[0] & 3;
        v.hdr.flags = (uint32_t)(h[1] & (CERT_F_ISOLATION | CERT_F_PA_UNSAFE | CERT_F_TRX_START |
                                               CERT_F_TRX_END | CERT_F_ROLLBACK));
        v.hdr.nkeys = h[3];
        seqno++;
        v.hdr.last_seen = seqno - 1 - (h[2] & 15);
        if (v.hdr.last_seen < -1) v.hdr.last_seen = -1;
        v.keys = keys;
        v.keys_len = klen;
        int valid = cert_keys_validate(keys, klen, v.hdr.nkeys) == 0;
        int64_t dep;
        int rc = cert_certify(idx, &v, seqno, &dep);
        if (!valid && rc != CERT_EINVAL) abort();
        if (valid && rc != CERT_OK && rc != CERT_CONFLICT) abort();
        if (rc == CERT_OK && (dep < -1 || dep >= seqno)) abort();
        if (rc != CERT_OK && dep != -1) abort();
        if (rc == CERT_EINVAL) seqno--; /* not consumed */
        if (h[2] & 0x80) cert_purge(idx, seqno - (h[1] >> 4));
        free(keys);
    }
    /* open streaming transactions hold purge back: closed, nothing may be left */
    cert_streaming_close(idx, keep_none, NULL);
    if (cert_streaming_open(idx) != 0) abort();
    cert_purge(idx, seqno);
    if (cert_index_size(idx) != 0) abort();
    cert_index_free(idx);
    return 0;
}
