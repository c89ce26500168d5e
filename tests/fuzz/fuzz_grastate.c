/* tests/fuzz/fuzz_grastate: libFuzzer target for repl_grastate_parse.
 * Any input must be parsed or refused without a crash; what parses must survive a round trip. */
#include "replicator/repl_grastate.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct repl_grastate st, back;
    char err[256];
    memset(err, 'x', sizeof err);
    if (repl_grastate_parse((const char *)data, size, &st, err, sizeof err) != 0) {
        if (memchr(err, '\0', sizeof err) == NULL) abort(); /* message always terminated */
        return 0;
    }
    if (st.seqno < -1) abort();
    char text[REPL_GRASTATE_FORMAT_MAX];
    int n = repl_grastate_format(&st, text, sizeof text);
    if (n <= 0) abort();
    if (repl_grastate_parse(text, (size_t)n, &back, err, sizeof err) != 0) abort();
    if (tr_uuid_compare(&st.uuid, &back.uuid) != 0 || st.seqno != back.seqno ||
        st.safe_to_bootstrap != back.safe_to_bootstrap)
        abort();
    return 0;
}
