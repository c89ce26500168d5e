/* tests/fuzz/fuzz_gc_msg: libFuzzer target for the gcomm message decoder.
 * Anything that decodes must re-encode to bytes that decode to the same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcomm/gc_msg.h"
#include "gcomm/gc_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gc_msg m, m2;
    if (gc_msg_decode(data, size, &m)) return 0;
    gc_wbuf w, w2;
    gc_w_init(&w);
    gc_w_init(&w2);
    gc_msg_encode(&w, &m);
    if (!w.oom) {
        if (gc_msg_decode(w.p, w.len, &m2)) abort();
        gc_msg_encode(&w2, &m2);
        if (w2.len != w.len || memcmp(w.p, w2.p, w.len)) abort();
        gc_msg_release(&m2);
    }
    gc_msg_release(&m);
    gc_w_free(&w);
    gc_w_free(&w2);
    return 0;
}
