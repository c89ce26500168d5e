/* gcomm/gc_frame: frame header checks and FRAG reassembly.
 * A frame is rejected before its payload is buffered if its length exceeds the limit. */
#include "gcomm/gc_frame.h"

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

enum gc_frame_rc gc_frame_parse(const uint8_t *buf, size_t avail, size_t max_payload,
                                const uint8_t **payload, size_t *plen, size_t *consumed)
{
    if (avail < GC_FRAME_HDR) return GC_FRAME_MORE;
    uint32_t len = get32(buf);
    if (len > max_payload || len == 0) return GC_FRAME_TOO_BIG;
    if (avail - GC_FRAME_HDR < len) return GC_FRAME_MORE;
    if (tr_crc32c(0, buf + GC_FRAME_HDR, len) != get32(buf + 4)) return GC_FRAME_BAD_CRC;
    *payload = buf + GC_FRAME_HDR;
    *plen = len;
    *consumed = GC_FRAME_HDR + (size_t)len;
    return GC_FRAME_OK;
}

void gc_reasm_reset(gc_reasm *r)
{
    free(r->buf);
    r->buf = NULL;
    r->total = r->got = 0;
}

int gc_reasm_feed(gc_reasm *r, uint64_t total, uint64_t offset, const uint8_t *data, size_t len,
                  uint8_t **out, size_t *outlen)
{
    if (total > GC_MSG_MAX_TOTAL || total == 0 || len == 0 || offset > total || len > total - offset)
        goto bad;
    if (offset == 0) {
        if (r->buf) goto bad; /* a new message before the previous one finished */
        r->buf = r->alloc ? r->alloc(r->actx, (size_t)total) : malloc(total);
        if (!r->buf) goto bad;
        r->total = total;
        r->got = 0;
    } else if (!r->buf || total != r->total || offset != r->got) {
        goto bad;
    }
    memcpy(r->buf + offset, data, len);
    r->got += len;
    if (r->got < r->total) return 0;
    *out = r->buf;
    *outlen = (size_t)r->total;
    r->buf = NULL;
    r->total = r->got = 0;
    return 1;
bad:
    gc_reasm_reset(r);
    return -1;
}
