/* gcomm/gc_frame: frame header checks and FRAG reassembly.
 * A frame is rejected before its payload is buffered if its length exceeds the limit. */
#include "gcomm/gc_frame.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_crc32c.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void gc_frame_header(uint8_t hdr[GC_FRAME_HDR], const uint8_t *payload, size_t len)
{
    put32(hdr, (uint32_t)len);
    put32(hdr + 4, tr_crc32c(0, payload, len));
}

void gc_frame_header_authed(uint8_t hdr[GC_FRAME_HDR], size_t len)
{
    put32(hdr, (uint32_t)len);
    put32(hdr + 4, 0);
}

static enum gc_frame_rc parse(const uint8_t *buf, size_t avail, size_t max_payload, const uint8_t **payload,
                              size_t *plen, size_t *consumed, bool crc)
{
    if (avail < GC_FRAME_HDR) return GC_FRAME_MORE;
    uint32_t len = get32(buf);
    if (len > max_payload || len > GC_FRAME_MAX_PAYLOAD || len == 0) return GC_FRAME_TOO_BIG;
    if (avail - GC_FRAME_HDR < len) return GC_FRAME_MORE;
    if (crc && tr_crc32c(0, buf + GC_FRAME_HDR, len) != get32(buf + 4)) return GC_FRAME_BAD_CRC;
    *payload = buf + GC_FRAME_HDR;
    *plen = len;
    *consumed = GC_FRAME_HDR + (size_t)len;
    return GC_FRAME_OK;
}

enum gc_frame_rc gc_frame_parse(const uint8_t *buf, size_t avail, size_t max_payload,
                                const uint8_t **payload, size_t *plen, size_t *consumed)
{
    return parse(buf, avail, max_payload, payload, plen, consumed, true);
}

enum gc_frame_rc gc_frame_parse_authed(const uint8_t *buf, size_t avail, size_t max_payload,
                                       const uint8_t **payload, size_t *plen, size_t *consumed)
{
    return parse(buf, avail, max_payload, payload, plen, consumed, false);
}

void gc_reasm_reset(gc_reasm *r)
{
    free(r->buf);
    if (r->node) r->node->used -= r->cap;
    r->buf = NULL;
    r->total = r->got = r->cap = 0;
}

/* Makes room for `need` bytes: doubles what is held, up to the total, within both budgets. */
static int grow(gc_reasm *r, uint64_t need)
{
    if (need <= r->cap) return 0;
    uint64_t ncap = r->cap ? r->cap * 2 : 65536;
    if (ncap < need) ncap = need;
    if (ncap > r->total) ncap = r->total;
    uint64_t link_max = r->link_limit ? r->link_limit : GC_REASM_LINK_MAX;
    if (ncap > link_max) return -1;
    if (r->node && r->node->used - r->cap + ncap > r->node->limit) return -1;
    uint8_t *nb = r->alloc ? r->alloc(r->actx, (size_t)ncap) : malloc((size_t)ncap);
    if (!nb) return -1;
    if (r->got) memcpy(nb, r->buf, (size_t)r->got);
    free(r->buf);
    if (r->node) r->node->used = r->node->used - r->cap + ncap;
    r->buf = nb;
    r->cap = ncap;
    return 0;
}

int gc_reasm_feed(gc_reasm *r, uint64_t total, uint64_t offset, const uint8_t *data, size_t len,
                  uint8_t **out, size_t *outlen)
{
    if (total > GC_MSG_MAX_TOTAL || total == 0 || len == 0 || offset > total || len > total - offset)
        goto bad;
    if (offset == 0) {
        if (r->total) goto bad; /* a new message before the previous one finished */
        r->total = total;
        r->got = 0;
    } else if (!r->total || total != r->total || offset != r->got) {
        goto bad;
    }
    if (grow(r, r->got + len)) goto bad;
    memcpy(r->buf + offset, data, len);
    r->got += len;
    if (r->got < r->total) return 0;
    *out = r->buf;
    *outlen = (size_t)r->total;
    if (r->node) r->node->used -= r->cap;
    r->buf = NULL;
    r->total = r->got = r->cap = 0;
    return 1;
bad:
    gc_reasm_reset(r);
    return -1;
}
