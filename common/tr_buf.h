/* common/tr_buf: a growable byte buffer with little-endian put helpers.
 * Used to build write-sets and wire messages without per-field allocations. */
#ifndef TR_BUF_H
#define TR_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tr_buf {
    uint8_t *ptr;
    size_t len;
    size_t cap;
};

/* 0, or -1 when memory runs out (the buffer is then unchanged). */
int tr_buf_reserve(struct tr_buf *b, size_t extra);
int tr_buf_append(struct tr_buf *b, const void *data, size_t len);
void tr_buf_reset(struct tr_buf *b);
void tr_buf_free(struct tr_buf *b);

static inline void tr_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tr_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tr_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t tr_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t tr_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static inline uint64_t tr_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#endif
