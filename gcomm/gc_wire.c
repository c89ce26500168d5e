/* gcomm/gc_wire: the byte-level codec every gcomm message is built from.
 * Explicit shifts keep the format little endian on any host. */
#include "gcomm/gc_wire.h"

#include <stdlib.h>
#include <string.h>

void gc_w_init(gc_wbuf *w) { memset(w, 0, sizeof *w); }
void gc_w_free(gc_wbuf *w) { free(w->p); memset(w, 0, sizeof *w); }
void gc_w_reset(gc_wbuf *w) { w->len = 0; w->oom = false; }

bool gc_w_reserve(gc_wbuf *w, size_t extra)
{
    if (w->oom) return false;
    if (w->len + extra <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra) cap *= 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) { w->oom = true; return false; }
    w->p = p;
    w->cap = cap;
    return true;
}

void gc_w_bytes(gc_wbuf *w, const void *p, size_t n)
{
    if (!gc_w_reserve(w, n)) return;
    if (n) memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void put_le(gc_wbuf *w, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    gc_w_bytes(w, b, (size_t)n);
}

void gc_w_u8(gc_wbuf *w, uint8_t v) { put_le(w, v, 1); }
void gc_w_u16(gc_wbuf *w, uint16_t v) { put_le(w, v, 2); }
void gc_w_u32(gc_wbuf *w, uint32_t v) { put_le(w, v, 4); }
void gc_w_u64(gc_wbuf *w, uint64_t v) { put_le(w, v, 8); }
void gc_w_uuid(gc_wbuf *w, const tr_uuid *u) { gc_w_bytes(w, u->data, 16); }

void gc_w_str(gc_wbuf *w, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xffff) n = 0xffff;
    gc_w_u16(w, (uint16_t)n);
    gc_w_bytes(w, s, n);
}

void gc_w_blob(gc_wbuf *w, const void *p, size_t n)
{
    gc_w_u32(w, (uint32_t)n);
    gc_w_bytes(w, p, n);
}

void gc_r_init(gc_rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = false;
}

size_t gc_r_left(const gc_rbuf *r) { return r->err ? 0 : r->len - r->off; }

const uint8_t *gc_r_bytes(gc_rbuf *r, size_t n)
{
    if (r->err || r->len - r->off < n) { r->err = true; return NULL; }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_le(gc_rbuf *r, int n)
{
    const uint8_t *b = gc_r_bytes(r, (size_t)n);
    if (!b) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint8_t gc_r_u8(gc_rbuf *r) { return (uint8_t)get_le(r, 1); }
uint16_t gc_r_u16(gc_rbuf *r) { return (uint16_t)get_le(r, 2); }
uint32_t gc_r_u32(gc_rbuf *r) { return (uint32_t)get_le(r, 4); }
uint64_t gc_r_u64(gc_rbuf *r) { return get_le(r, 8); }

void gc_r_uuid(gc_rbuf *r, tr_uuid *u)
{
    const uint8_t *b = gc_r_bytes(r, 16);
    if (b) memcpy(u->data, b, 16);
    else memset(u->data, 0, 16);
}

uint64_t gc_r_count(gc_rbuf *r)
{
    uint64_t v = gc_r_u64(r);
    if (v > GC_COUNT_MAX) {
        r->err = true;
        return 0;
    }
    return v;
}

void gc_r_str(gc_rbuf *r, char *dst, size_t cap)
{
    dst[0] = 0;
    size_t n = gc_r_u16(r);
    if (r->err) return;
    if (n >= cap) { r->err = true; return; }
    const uint8_t *b = gc_r_bytes(r, n);
    if (!b) return;
    memcpy(dst, b, n);
    dst[n] = 0;
    if (memchr(dst, 0, n)) r->err = true; /* embedded NUL: not a string */
}

const uint8_t *gc_r_blob(gc_rbuf *r, size_t *n)
{
    *n = gc_r_u32(r);
    if (r->err) { *n = 0; return NULL; }
    const uint8_t *b = gc_r_bytes(r, *n);
    if (!b) *n = 0;
    return b;
}
