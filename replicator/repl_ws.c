/* replicator/repl_ws: reference-counted delivered write-sets (see repl_ws.h). The last
 * reference frees the bytes and any decompressed copy. */
#include "replicator/repl_ws.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"

struct repl_ws *repl_ws_new(uint8_t *buf, size_t len)
{
    struct repl_ws *ws = tr_fail_hit("ws.new") ? NULL : calloc(1, sizeof *ws);
    if (!ws) {
        free(buf);
        return NULL;
    }
    atomic_init(&ws->refs, 1);
    ws->buf = buf;
    ws->len = len;
    ws->decode_rc = CERT_WS_EFORMAT; /* not decoded yet */
    return ws;
}

int repl_ws_decode(struct repl_ws *ws, int64_t max_raw)
{
    if (tr_fail_hit("ws.decode")) return ws->decode_rc = CERT_WS_ENOMEM;
    ws->decode_rc = cert_ws_decode(ws->buf, ws->len, max_raw, &ws->view);
    return ws->decode_rc;
}

void repl_ws_unref(struct repl_ws *ws)
{
    if (!ws || atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_acq_rel) != 1) return;
    if (ws->decode_rc == 0) cert_ws_view_release(&ws->view);
    free(ws->buf);
    free(ws);
}
