/* tests/fuzz/fuzz_repl_msg: control-message decoding from arbitrary bytes.
 * Whatever decodes must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replicator/repl_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    struct repl_msg_state m;
    if (repl_msg_state_decode(buf, size, &m) == 0) {
        struct tr_buf out = {0};
        if (repl_msg_state_encode(&m, &out) || out.len != size || memcmp(out.ptr, buf, size))
            abort();
        tr_buf_free(&out);
    }
    struct repl_msg_last l;
    if (repl_msg_last_decode(buf, size, &l) == 0) {
        struct tr_buf out = {0};
        if (repl_msg_last_encode(&l, &out) || out.len != size || memcmp(out.ptr, buf, size)) abort();
        tr_buf_free(&out);
    }
    struct repl_msg_causal c;
    if (repl_msg_causal_decode(buf, size, &c) == 0) {
        struct tr_buf out = {0};
        if (repl_msg_causal_encode(&c, &out) || out.len != size || memcmp(out.ptr, buf, size))
            abort();
        tr_buf_free(&out);
    }
    struct repl_msg_str r;
    if (repl_msg_str_decode(buf, size, &r) == 0) {
        struct tr_buf out = {0};
        if (repl_msg_str_encode(&r, &out) || out.len != size || memcmp(out.ptr, buf, size))
            abort();
        tr_buf_free(&out);
    }
    for (int type = REPL_MSG_JOIN; type <= REPL_MSG_SYNC; type++) {
        struct repl_msg_join j;
        if (repl_msg_join_decode(type, buf, size, &j) == 0) {
            struct tr_buf out = {0};
            if (repl_msg_join_encode(type, &j, &out) || out.len != size ||
                memcmp(out.ptr, buf, size))
                abort();
            tr_buf_free(&out);
        }
    }
    struct repl_msg_vote v;
    if (repl_msg_vote_decode(buf, size, &v) == 0) {
        struct tr_buf out = {0};
        if (repl_msg_vote_encode(&v, &out) || out.len != size || memcmp(out.ptr, buf, size))
            abort();
        tr_buf_free(&out);
    }
    free(buf);
    return 0;
}
