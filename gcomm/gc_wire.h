/* gcomm/gc_wire: little-endian encoding into a growable buffer, and bounds-checked decoding.
 * A reader never reads past its end: an overrun sets err and returns zeros. */
#ifndef GC_WIRE_H
#define GC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"

typedef struct gc_wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom; /* an allocation failed; the content is unusable */
} gc_wbuf;

void gc_w_init(gc_wbuf *w);
void gc_w_free(gc_wbuf *w);
void gc_w_reset(gc_wbuf *w);
bool gc_w_reserve(gc_wbuf *w, size_t extra);
void gc_w_u8(gc_wbuf *w, uint8_t v);
void gc_w_u16(gc_wbuf *w, uint16_t v);
void gc_w_u32(gc_wbuf *w, uint32_t v);
void gc_w_u64(gc_wbuf *w, uint64_t v);
void gc_w_bytes(gc_wbuf *w, const void *p, size_t n);
void gc_w_uuid(gc_wbuf *w, const tr_uuid *u);
/* u16 length + bytes. */
void gc_w_str(gc_wbuf *w, const char *s);
/* u32 length + bytes. */
void gc_w_blob(gc_wbuf *w, const void *p, size_t n);

typedef struct gc_rbuf {
    const uint8_t *p;
    size_t len, off;
    bool err;
} gc_rbuf;

void gc_r_init(gc_rbuf *r, const void *p, size_t len);
uint8_t gc_r_u8(gc_rbuf *r);
uint16_t gc_r_u16(gc_rbuf *r);
uint32_t gc_r_u32(gc_rbuf *r);
uint64_t gc_r_u64(gc_rbuf *r);
/* Epochs and sequence numbers on the wire are at most GC_COUNT_MAX (2^62): a larger one is
 * malformed, so a peer cannot make one wrap (max + 1, or the sum of two, stays below 2^63). */
#define GC_COUNT_MAX (1ull << 62)
uint64_t gc_r_count(gc_rbuf *r);
/* Returns a pointer into the buffer or NULL (and err) if fewer than n bytes remain. */
const uint8_t *gc_r_bytes(gc_rbuf *r, size_t n);
void gc_r_uuid(gc_rbuf *r, tr_uuid *u);
/* Reads a u16-prefixed string into dst (NUL-terminated); longer than cap-1 is an error. */
void gc_r_str(gc_rbuf *r, char *dst, size_t cap);
/* Reads a u32-prefixed blob; returns pointer into the buffer, length in *n. */
const uint8_t *gc_r_blob(gc_rbuf *r, size_t *n);
size_t gc_r_left(const gc_rbuf *r);

#endif
