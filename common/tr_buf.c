/* common/tr_buf: growth policy for tr_buf (doubling, overflow-checked).
 * Failure leaves the buffer as it was so callers can report and go on. */
#include "common/tr_buf.h"

#include <stdlib.h>
#include <string.h>

int tr_buf_reserve(struct tr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len) return -1;
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->ptr, cap);
    if (!p) return -1;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int tr_buf_append(struct tr_buf *b, const void *data, size_t len)
{
    if (tr_buf_reserve(b, len)) return -1;
    if (len) memcpy(b->ptr + b->len, data, len);
    b->len += len;
    return 0;
}

void tr_buf_reset(struct tr_buf *b)
{
    b->len = 0;
}

void tr_buf_free(struct tr_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}
