/* replicator/repl_ws: a delivered write-set, stored once and shared by reference between the
 * ordered stream, the write-set store (gcache), appliers and IST senders. */
#ifndef REPL_WS_H
#define REPL_WS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "certification/cert_ws.h"

struct repl_ws {
    atomic_int refs;
    uint8_t *buf; /* the bytes as delivered (owned) */
    size_t len;
    int decode_rc;            /* 0, or the enum cert_ws_err repl_ws_decode found */
    struct cert_ws_view view; /* valid when decode_rc == 0: points into buf (or owns data) */
};

/* Takes buf over (freed with the last reference); one reference. NULL (and buf freed) when
 * out of memory. */
struct repl_ws *repl_ws_new(uint8_t *buf, size_t len);
/* Validates and decodes once, outside any lock: checksums, key set, decompression bounded by
 * max_raw. Sets decode_rc. */
int repl_ws_decode(struct repl_ws *ws, int64_t max_raw);
static inline struct repl_ws *repl_ws_ref(struct repl_ws *ws)
{
    if (ws) atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed);
    return ws;
}
void repl_ws_unref(struct repl_ws *ws);
/* A decode failure that is this node's own (memory, the checksum library), not the bytes':
 * the others decoded them fine, so this node must stop rather than skip the seqno. */
static inline int repl_ws_local_failure(int decode_rc)
{
    return decode_rc == CERT_WS_ENOMEM || decode_rc == CERT_WS_ECRYPTO;
}

#endif
