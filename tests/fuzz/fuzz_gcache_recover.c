/* tests/fuzz/fuzz_gcache_recover: libFuzzer target for the write-set store's recovery scan.
 * Arbitrary ring bytes must never crash it, and every write-set it keeps must pass validation. */
#include <stdlib.h>
#include <string.h>

#include "certification/cert_ws.h"
#include "common/tr_buf.h"
#include "common/tr_crc32c.h"
#include "replicator/repl_gcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_MAX (64 << 10)
#define REC_MAGIC 0x53575254u /* as repl_gcache.c writes it */

static const tr_uuid group = {.data = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};

/* A real write-set for the puts after recovery. */
static struct repl_ws *sample_ws(void)
{
    struct cert_ws_hdr h = {.seqno = -1, .depends = -1, .last_seen = -1};
    struct cert_ws_enc e;
    if (cert_ws_encode(&e, &h, NULL, 0, "fuzz", 4, NULL)) abort();
    size_t len = CERT_WS_HDR_LEN + e.data_len;
    uint8_t *b = malloc(len);
    if (!b) abort();
    memcpy(b, e.hdr, CERT_WS_HDR_LEN);
    memcpy(b + CERT_WS_HDR_LEN, e.data, e.data_len);
    cert_ws_enc_free(&e);
    return repl_ws_new(b, len);
}

/* Every seqno held reads back, and a write-set among them passes cert_ws's full validation. */
static void check_held(struct repl_gcache *g)
{
    int64_t first = repl_gcache_first(g), last = repl_gcache_last(g);
    if ((first < 0) != (last < 0) || first > last) abort();
    if (first < 0) return;
    if (!repl_gcache_has(g, first, last) || repl_gcache_has(g, first - 1, last)) abort();
    for (int64_t s = first; s <= last; s++) {
        struct repl_ws *ws = NULL;
        if (repl_gcache_get(g, s, &ws)) abort();
        struct cert_ws_view v;
        if (ws && cert_ws_decode(ws->buf, ws->len, 0, &v)) abort();
        if (ws) cert_ws_view_release(&v);
        repl_ws_unref(ws);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    /* byte 0: bit 0 takes the file header from the input too, bit 1 seals every record header
     * the input starts with a CRC (so the scan's chain logic is reached); bytes 1-4: epoch */
    uint8_t mode = data[0];
    uint32_t epoch = tr_get_u32(data + 1);
    data += 5;
    size -= 5;
    size_t hdr = mode & 1 ? 0 : REPL_GCACHE_FILE_HDR;
    size_t body = size > RING_MAX + REPL_GCACHE_FILE_HDR ? RING_MAX + REPL_GCACHE_FILE_HDR : size;
    size_t len = hdr + body;
    if (len < REPL_GCACHE_FILE_HDR + 4096) len = REPL_GCACHE_FILE_HDR + 4096;
    len &= ~(size_t)7;
    uint8_t *img = calloc(1, len);
    if (!img) return 0;
    memcpy(img + hdr, data, body < len - hdr ? body : len - hdr);
    if (!(mode & 1)) {
        tr_put_u32(img, 0x43475254u);
        tr_put_u32(img + 4, 1);
        memcpy(img + 8, group.data, 16);
        tr_put_u64(img + 24, len - REPL_GCACHE_FILE_HDR);
        tr_put_u32(img + 32, epoch);
        tr_put_u32(img + 48, tr_crc32c(0, img, 48));
    }
    if (mode & 2)
        for (size_t o = REPL_GCACHE_FILE_HDR; o + REPL_GCACHE_REC_HDR <= len; o += 8)
            if (tr_get_u32(img + o) == REC_MAGIC)
                tr_put_u32(img + o + 28, tr_crc32c(0, img + o, REPL_GCACHE_REC_HDR - 4));
    struct repl_gcache *g = repl_gcache_open_image(img, len, &group);
    free(img);
    if (!g) return 0;
    check_held(g);
    /* the recovered geometry must carry on: more records wrap over whatever was kept */
    int64_t next = repl_gcache_last(g) + 1;
    if (next <= 0) next = 1;
    struct repl_ws *ws = sample_ws();
    for (int i = 0; i < 200; i++)
        if (repl_gcache_put(g, &group, next + i, i % 3 ? ws : NULL)) abort();
    repl_ws_unref(ws);
    if (repl_gcache_last(g) != next + 199) abort();
    check_held(g);
    repl_gcache_free(g);
    return 0;
}
