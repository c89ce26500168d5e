/* tests/fuzz/fuzz_repl_frag: libFuzzer target for putting actions in pieces together again, with
 * the production limit. Two members fed one stream must keep the same actions and seqno spans. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_buf.h"
#include "replicator/repl_frag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENDERS 4

static tr_uuid sender(int i)
{
    tr_uuid u = tr_uuid_nil;
    u.data[0] = (uint8_t)(i + 1);
    return u;
}

static void check_held(const struct repl_defrag *d)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct repl_frag_slot *s = &d->slot[i];
        if (s->got > s->cap || s->cap > s->total || s->total > REPL_FRAG_MAX_TOTAL) abort();
        if (s->cap > 2 * s->got + 65536) abort(); /* memory follows arrivals */
        sum += s->got;
    }
    if (sum != d->held) abort();
}

/* Input: records of [op][...]. op & 3: the sender; op & 4: a view before the message; op & 8:
 * a piece built from the next 12 bytes (act, total, offset: small numbers, so pieces meet),
 * else raw bytes. Then a u16 length and that many bytes of payload. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct repl_defrag d[2];
    tr_uuid self0 = sender(0), self1 = sender(1);
    repl_defrag_init(&d[0], &self0);
    repl_defrag_init(&d[1], &self1);
    int64_t gseq = 0, next = 0; /* every seqno is accounted for once, in order */
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t op = data[off++];
        tr_uuid from = sender(op & 3);
        if (op & 4) {
            int64_t lo[2], hi[2];
            uint8_t *own[2];
            size_t ownlen[2];
            for (int k = 0; k < 2; k++) {
                repl_defrag_view(&d[k], &lo[k], &hi[k], &own[k], &ownlen[k]);
                if (d[k].n || d[k].held) abort();
            }
            if (lo[0] != lo[1] || hi[0] != hi[1]) abort();
            if (lo[0] >= 0) {
                if (lo[0] != next || hi[0] != gseq - 1) abort();
                next = gseq;
            }
            free(own[0]);
            free(own[1]);
        }
        uint8_t hdr[REPL_FRAG_HDR];
        size_t hlen = 0;
        if (op & 8) {
            if (off + 12 > size) break;
            uint64_t act = data[off] % 4, total = tr_get_u32(data + off + 1) % 200000 + 1,
                     at = tr_get_u32(data + off + 5) % 200000;
            if (data[off + 9] & 1) total = REPL_FRAG_MAX_TOTAL + data[off + 10]; /* near the limit */
            repl_frag_header(hdr, act, total, at);
            hlen = REPL_FRAG_HDR;
            off += 12;
        }
        if (off + 2 > size) break;
        size_t len = tr_get_u16(data + off);
        off += 2;
        if (len > size - off) len = size - off;
        size_t mlen = hlen + len;
        uint8_t *m = malloc(mlen ? mlen : 1);
        if (!m) break;
        memcpy(m, hdr, hlen);
        memcpy(m + hlen, data + off, len);
        off += len;
        uint8_t *out[2];
        size_t olen[2];
        int64_t first[2];
        enum repl_defrag_rc rc[2];
        for (int k = 0; k < 2; k++) {
            rc[k] = repl_defrag_feed(&d[k], &from, gseq, m, mlen, &out[k], &olen[k], &first[k]);
            check_held(&d[k]);
        }
        if (rc[0] != rc[1] || rc[0] == REPL_DEFRAG_NOMEM) abort();
        if (rc[0] == REPL_DEFRAG_WHOLE || rc[0] == REPL_DEFRAG_DONE) {
            if (first[0] != next || first[1] != next) abort();
            next = gseq + 1;
        }
        if (rc[0] == REPL_DEFRAG_DONE && (olen[0] != olen[1] || memcmp(out[0], out[1], olen[0]))) abort();
        free(out[0]);
        free(out[1]);
        free(m);
        gseq++;
    }
    repl_defrag_free(&d[0]);
    repl_defrag_free(&d[1]);
    return 0;
}
