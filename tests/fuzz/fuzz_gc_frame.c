/* tests/fuzz/fuzz_gc_frame: libFuzzer target for stream framing (plaintext and TLS links) and FRAG
 * reassembly with the production limits: frames up to GC_FRAME_MAX_PAYLOAD, the link and node budgets. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINKS 3

/* Bytes held never run ahead of bytes received by more than the doubling allows, and the node's
 * count is the sum of its links'. */
static void check(const gc_reasm *r, const gc_reasm_budget *node, uint64_t *sum)
{
    if (r->cap > r->total || (r->total && r->cap > 2 * r->got + 65536) || r->got > r->cap) abort();
    *sum += r->cap;
    if (node->used > node->limit) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* two links within the production budgets, a third within small ones (budget refusals) */
    gc_reasm_budget node = {0, GC_REASM_NODE_MAX}, small = {0, 300000};
    gc_reasm r[LINKS];
    memset(r, 0, sizeof r);
    r[0].node = r[1].node = &node;
    r[2].node = &small;
    r[2].link_limit = 200000;
    size_t off = 0;
    static gc_msg m;
    while (off < size) {
        /* the high bit: a TLS link, whose frames carry no CRC (gc_frame_parse_authed), so that
         * what a peer with a valid certificate sends reaches the reassembly without one */
        bool tls = data[off] & 0x80;
        int li = (data[off++] & 0x7f) % LINKS;
        const uint8_t *p;
        size_t plen, used;
        enum gc_frame_rc rc = tls ? gc_frame_parse_authed(data + off, size - off, GC_FRAME_MAX_PAYLOAD, &p, &plen, &used)
                                  : gc_frame_parse(data + off, size - off, GC_FRAME_MAX_PAYLOAD, &p, &plen, &used);
        if (!tls) { /* what a plaintext link takes, a TLS link takes the same way */
            const uint8_t *p2;
            size_t plen2, used2;
            enum gc_frame_rc rc2 = gc_frame_parse_authed(data + off, size - off, GC_FRAME_MAX_PAYLOAD, &p2, &plen2, &used2);
            if (rc == GC_FRAME_OK && (rc2 != GC_FRAME_OK || p2 != p || plen2 != plen || used2 != used)) abort();
            if (rc != GC_FRAME_OK && rc != GC_FRAME_BAD_CRC && rc2 != rc) abort();
        }
        if (rc != GC_FRAME_OK) break;
        if (used > size - off || plen + GC_FRAME_HDR != used || plen > GC_FRAME_MAX_PAYLOAD) abort();
        if (gc_msg_decode(p, plen, &m) == 0) {
            if (m.type == GC_MSG_FRAG) {
                uint8_t *whole;
                size_t wl;
                /* no cap on the announced total: nothing is allocated before the bytes arrive */
                int r2 = gc_reasm_feed(&r[li], m.u.frag.total, m.u.frag.offset, m.u.frag.data, m.u.frag.len, &whole, &wl);
                if (r2 == 1) {
                    static gc_msg inner;
                    if (gc_msg_decode(whole, wl, &inner) == 0) gc_msg_release(&inner);
                    free(whole);
                }
            }
            gc_msg_release(&m);
        }
        uint64_t sum = 0, sum_small = 0;
        check(&r[0], &node, &sum);
        check(&r[1], &node, &sum);
        check(&r[2], &small, &sum_small);
        if (sum != node.used || sum_small != small.used || r[2].cap > 200000) abort();
        off += used;
    }
    for (int i = 0; i < LINKS; i++) gc_reasm_reset(&r[i]);
    if (node.used || small.used) abort();
    return 0;
}
