/* tests/fuzz/fuzz_repl_vrec: a view record (write-set store, IST) from arbitrary bytes.
 * Whatever decodes must write back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replicator/repl_vrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int members = -1;
    int ok = repl_vrec_check(data, size, &members);
    struct repl_view *v = repl_vrec_decode(data, size, 5);
    if ((ok == 0) != (v != NULL)) abort(); /* no allocation failure is injected here */
    if (!v) return 0;
    if (v->memb_num != members || v->state_id.seqno != 5 || v->my_idx != -1) abort();
    size_t n = repl_vrec_size(v);
    uint8_t *out = malloc(n ? n : 1);
    if (!out) abort();
    repl_vrec_write(v, out);
    if (n != size || memcmp(out, data, size)) abort();
    free(out);
    free(v);
    return 0;
}
