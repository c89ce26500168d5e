/* tests/fuzz/fuzz_gc_gvwstate: libFuzzer target for the gvwstate.dat parser.
 * A file that parses must survive an encode/parse round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcomm/gc_gvwstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_uuid me, me2;
    static gc_view v, v2;
    if (gc_gvwstate_decode((const char *)data, size, &me, &v)) return 0;
    gc_wbuf w;
    gc_w_init(&w);
    gc_gvwstate_encode(&w, &me, &v);
    if (!w.oom) {
        if (gc_gvwstate_decode((const char *)w.p, w.len, &me2, &v2)) abort();
        if (tr_uuid_compare(&me, &me2) || v.n != v2.n || v.id.epoch != v2.id.epoch) abort();
    }
    gc_w_free(&w);
    return 0;
}
