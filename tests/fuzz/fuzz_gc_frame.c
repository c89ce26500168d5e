/* tests/fuzz/fuzz_gc_frame: libFuzzer target for stream framing and FRAG reassembly.
 * The input is a byte stream as a peer would send it; frames are parsed and pieces reassembled. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gc_reasm r = {0};
    size_t off = 0;
    static gc_msg m;
    while (off < size) {
        const uint8_t *p;
        size_t plen, used;
        enum gc_frame_rc rc = gc_frame_parse(data + off, size - off, 4096, &p, &plen, &used);
        if (rc != GC_FRAME_OK) break;
        if (used > size - off || plen + GC_FRAME_HDR != used) abort();
        if (gc_msg_decode(p, plen, &m) == 0) {
            if (m.type == GC_MSG_FRAG) {
                uint8_t *whole;
                size_t wl;
                /* cap the claimed total so the fuzzer does not allocate gigabytes */
                if (m.u.frag.total <= (1u << 20)) {
                    int r2 = gc_reasm_feed(&r, m.u.frag.total, m.u.frag.offset, m.u.frag.data, m.u.frag.len, &whole, &wl);
                    if (r2 == 1) {
                        static gc_msg inner;
                        if (gc_msg_decode(whole, wl, &inner) == 0) gc_msg_release(&inner);
                        free(whole);
                    }
                }
            }
            gc_msg_release(&m);
        }
        off += used;
    }
    gc_reasm_reset(&r);
    return 0;
}
