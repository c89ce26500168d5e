/* gcomm/gc_frame: the byte framing on a stream link (length + CRC32C) and reassembly of
 * messages that were cut into FRAG pieces because they exceed gcs.max_packet_size. */
#ifndef GC_FRAME_H
#define GC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GC_FRAME_HDR 8
#define GC_FRAME_SLACK 128                                     /* FRAG header and friends */
#define GC_MSG_MAX_TOTAL ((uint64_t)2147483648u + 65536u)      /* 2 GiB payload + headers */

/* Writes the 8-byte header for payload. */
void gc_frame_header(uint8_t hdr[GC_FRAME_HDR], const uint8_t *payload, size_t len);

enum gc_frame_rc { GC_FRAME_MORE = 0, GC_FRAME_OK = 1, GC_FRAME_TOO_BIG = -1, GC_FRAME_BAD_CRC = -2 };
/* Looks at avail bytes; on OK sets *payload, *plen and *consumed (header + payload). */
enum gc_frame_rc gc_frame_parse(const uint8_t *buf, size_t avail, size_t max_payload,
                                const uint8_t **payload, size_t *plen, size_t *consumed);

/* Per-link reassembly of FRAG pieces (links are FIFO: pieces arrive in offset order). */
typedef struct gc_reasm {
    uint8_t *buf;
    uint64_t total, got;
    /* optional: where whole-message buffers come from (NULL: malloc); the result must be
     * releasable with free(). Kept across gc_reasm_reset. */
    uint8_t *(*alloc)(void *ctx, size_t len);
    void *actx;
} gc_reasm;

/* Feeds one piece. Returns 1 when complete (*out owns a buffer of *outlen bytes from alloc),
 * 0 when more is needed, -1 on a protocol violation (state is reset). */
int gc_reasm_feed(gc_reasm *r, uint64_t total, uint64_t offset, const uint8_t *data, size_t len,
                  uint8_t **out, size_t *outlen);
void gc_reasm_reset(gc_reasm *r);

#endif
