/* gcomm/gc_frame: the byte framing on a stream link (length + CRC32C) and reassembly of
 * messages that were cut into FRAG pieces because they exceed gcs.max_packet_size. */
#ifndef GC_FRAME_H
#define GC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GC_FRAME_HDR 8
#define GC_FRAME_SLACK 128                                     /* FRAG header and friends */
#define GC_MSG_MAX_TOTAL ((uint64_t)2147483648u + 65536u)      /* 2 GiB payload + headers */
/* The protocol's frame limits, the same on every node whatever its gcs.max_packet_size: a
 * sender cuts messages into FRAGs of at most GC_FRAG_MAX bytes (its gcs.max_packet_size cuts
 * only what it sends, as Galera cuts at the smaller of it and its transport's MTU), and every
 * receiver takes frames up to GC_FRAME_MAX_PAYLOAD. A node with a larger setting than the
 * others once made them refuse its frames (29 view changes in 8 s). */
#define GC_FRAG_MAX 65536u
#define GC_FRAME_MAX_PAYLOAD (GC_FRAG_MAX + GC_FRAME_SLACK)
/* Reassembly budgets. A link carries one fragmented message at a time (links are FIFO), and
 * the largest message the protocol carries must pass on any link: GC_MSG_MAX_TOTAL per link.
 * A node holds at most two such messages in reassembly at once (a leader taking a member's
 * largest write-set while it gathers STATEs, or two members' at once); a node that delivers
 * a message of that size holds several copies of it anyway (gcomm.md section 12). Memory
 * grows only as bytes arrive: an announced total costs nothing before them. */
#define GC_REASM_LINK_MAX GC_MSG_MAX_TOTAL
#define GC_REASM_NODE_MAX (2 * GC_MSG_MAX_TOTAL)

/* Writes the 8-byte header for payload. */
void gc_frame_header(uint8_t hdr[GC_FRAME_HDR], const uint8_t *payload, size_t len);
/* The header for a frame on a TLS link: its CRC field is 0, because every receiver of a TLS
 * link parses with gc_frame_parse_authed (the record's tag proves the bytes), and computing
 * it cost each link a pass over the payload. Plaintext links keep gc_frame_header. */
void gc_frame_header_authed(uint8_t hdr[GC_FRAME_HDR], size_t len);

enum gc_frame_rc { GC_FRAME_MORE = 0, GC_FRAME_OK = 1, GC_FRAME_TOO_BIG = -1, GC_FRAME_BAD_CRC = -2 };
/* Looks at avail bytes; on OK sets *payload, *plen and *consumed (header + payload). A frame
 * longer than max_payload or than GC_FRAME_MAX_PAYLOAD is TOO_BIG, before its payload is
 * buffered. */
enum gc_frame_rc gc_frame_parse(const uint8_t *buf, size_t avail, size_t max_payload,
                                const uint8_t **payload, size_t *plen, size_t *consumed);
/* The same without checking the CRC, for bytes that came out of a TLS record: its AEAD tag
 * already proved them to be what the peer sent, and the check cost 8 us per 64 KB frame on
 * each hop of the path. A TLS sender writes 0 there (gc_frame_header_authed). */
enum gc_frame_rc gc_frame_parse_authed(const uint8_t *buf, size_t avail, size_t max_payload,
                                       const uint8_t **payload, size_t *plen, size_t *consumed);

/* What a node's links together may hold in reassembly (shared by its gc_reasm). */
typedef struct gc_reasm_budget {
    uint64_t used, limit;
} gc_reasm_budget;

/* Per-link reassembly of FRAG pieces (links are FIFO: pieces arrive in offset order). The
 * buffer grows with what arrived (doubling, never beyond the announced total). */
typedef struct gc_reasm {
    uint8_t *buf;
    uint64_t total, got, cap;
    /* optional: where buffers come from (NULL: malloc); the result must be releasable with
     * free(). Kept across gc_reasm_reset. */
    uint8_t *(*alloc)(void *ctx, size_t len);
    void *actx;
    uint64_t link_limit;    /* 0: GC_REASM_LINK_MAX */
    gc_reasm_budget *node;  /* optional: the node-wide budget this link counts against */
} gc_reasm;

/* Feeds one piece. Returns 1 when complete (*out owns a buffer of *outlen bytes from alloc),
 * 0 when more is needed, -1 on a protocol violation or a budget exceeded (state is reset). */
int gc_reasm_feed(gc_reasm *r, uint64_t total, uint64_t offset, const uint8_t *data, size_t len,
                  uint8_t **out, size_t *outlen);
void gc_reasm_reset(gc_reasm *r);

#endif
