/* certification/cert_ws: encoding and bounds-checked decoding of whole write-sets.
 * Little-endian, fixed offsets, so any node reads what any other wrote. */
#include "certification/cert_ws.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "certification/cert_csum.h"

/* Header offsets (version 2); docs/design/writeset.md has the table. */
enum {
    O_MAGIC = 0,
    O_VERSION = 4,
    O_DFLAGS = 5,
    O_RSV1 = 6, /* u16, zero */
    O_FLAGS = 8,
    O_NKEYS = 12,
    O_SOURCE = 16,
    O_LOCAL_ID = 32,
    O_CONN_ID = 40,
    O_TRX_ID = 48,
    O_LAST_SEEN = 56,
    O_SEQNO = 64,
    O_DEPENDS = 72,
    O_KEYS_LEN = 80,
    O_RSV2 = 84, /* u32, zero */
    O_DATA_LEN = 88,
    O_DATA_RAW_LEN = 96,
    O_PAYLOAD_CSUM = 104,
    O_HDR_CSUM = 112,
};
_Static_assert(O_HDR_CSUM + 8 == CERT_WS_HDR_LEN, "header layout");

/* Smallest encoded key: type, part count 0. Bounds nkeys before walking. */
#define MIN_KEY_LEN 2

const char *cert_ws_strerror(int err)
{
    switch (err) {
    case CERT_WS_OK: return "ok";
    case CERT_WS_ETRUNC: return "write-set shorter than its header";
    case CERT_WS_EMAGIC: return "not a trireme write-set (bad magic)";
    case CERT_WS_EVERSION: return "unsupported write-set version";
    case CERT_WS_EHDRCSUM: return "write-set header checksum mismatch";
    case CERT_WS_EFORMAT: return "malformed write-set header";
    case CERT_WS_ESIZE: return "write-set lengths do not match the bytes received";
    case CERT_WS_ECSUM: return "write-set payload checksum mismatch";
    case CERT_WS_EKEYS: return "malformed write-set key set";
    case CERT_WS_ETOOBIG: return "write-set exceeds the size limit (repl.max_ws_size)";
    case CERT_WS_EZSTD: return "compressed write-set data does not decode to its declared size";
    case CERT_WS_ENOMEM: return "out of memory for the write-set";
    case CERT_WS_ECRYPTO: return "libgcrypt unavailable for write-set checksums";
    default: return "unknown write-set error";
    }
}

static uint64_t hdr_csum(const uint8_t *hdr, int *rc)
{
    struct cert_csum_buf b = {hdr, O_HDR_CSUM};
    uint64_t v = 0;
    *rc = cert_csum(&b, 1, &v) ? CERT_WS_ECRYPTO : 0;
    return v;
}

void cert_ws_hdr_encode(const struct cert_ws_hdr *h, uint8_t out[CERT_WS_HDR_LEN])
{
    memset(out, 0, CERT_WS_HDR_LEN);
    tr_put_u32(out + O_MAGIC, CERT_WS_MAGIC);
    out[O_VERSION] = CERT_WS_VERSION;
    out[O_DFLAGS] = h->dflags;
    tr_put_u32(out + O_FLAGS, h->flags);
    tr_put_u32(out + O_NKEYS, h->nkeys);
    memcpy(out + O_SOURCE, h->source.data, 16);
    tr_put_u64(out + O_LOCAL_ID, h->local_id);
    tr_put_u64(out + O_CONN_ID, h->conn_id);
    tr_put_u64(out + O_TRX_ID, h->trx_id);
    tr_put_u64(out + O_LAST_SEEN, (uint64_t)h->last_seen);
    tr_put_u64(out + O_SEQNO, (uint64_t)h->seqno);
    tr_put_u64(out + O_DEPENDS, (uint64_t)h->depends);
    tr_put_u32(out + O_KEYS_LEN, h->keys_len);
    tr_put_u64(out + O_DATA_LEN, h->data_len);
    tr_put_u64(out + O_DATA_RAW_LEN, h->data_raw_len);
    tr_put_u64(out + O_PAYLOAD_CSUM, h->payload_csum);
    int rc;
    /* libgcrypt missing leaves a zero checksum, which every decoder refuses. */
    tr_put_u64(out + O_HDR_CSUM, hdr_csum(out, &rc));
}

int cert_ws_hdr_decode(const uint8_t *buf, size_t len, struct cert_ws_hdr *h)
{
    if (len < CERT_WS_HDR_LEN) return CERT_WS_ETRUNC;
    if (tr_get_u32(buf + O_MAGIC) != CERT_WS_MAGIC) return CERT_WS_EMAGIC;
    if (buf[O_VERSION] != CERT_WS_VERSION) return CERT_WS_EVERSION;
    int rc;
    uint64_t want = hdr_csum(buf, &rc);
    if (rc) return rc;
    if (want != tr_get_u64(buf + O_HDR_CSUM)) return CERT_WS_EHDRCSUM;

    h->version = buf[O_VERSION];
    h->dflags = buf[O_DFLAGS];
    h->flags = tr_get_u32(buf + O_FLAGS);
    h->nkeys = tr_get_u32(buf + O_NKEYS);
    memcpy(h->source.data, buf + O_SOURCE, 16);
    h->local_id = tr_get_u64(buf + O_LOCAL_ID);
    h->conn_id = tr_get_u64(buf + O_CONN_ID);
    h->trx_id = tr_get_u64(buf + O_TRX_ID);
    h->last_seen = (int64_t)tr_get_u64(buf + O_LAST_SEEN);
    h->seqno = (int64_t)tr_get_u64(buf + O_SEQNO);
    h->depends = (int64_t)tr_get_u64(buf + O_DEPENDS);
    h->keys_len = tr_get_u32(buf + O_KEYS_LEN);
    h->data_len = tr_get_u64(buf + O_DATA_LEN);
    h->data_raw_len = tr_get_u64(buf + O_DATA_RAW_LEN);
    h->payload_csum = tr_get_u64(buf + O_PAYLOAD_CSUM);

    if ((h->dflags & ~CERT_WS_D_ZSTD) || tr_get_u16(buf + O_RSV1) || tr_get_u32(buf + O_RSV2))
        return CERT_WS_EFORMAT;
    if (h->last_seen < -1) return CERT_WS_EFORMAT;
    /* Unordered (both -1) or ordered with depends in [-1, seqno). */
    if (h->seqno < 0 ? (h->seqno != -1 || h->depends != -1)
                     : (h->depends < -1 || h->depends >= h->seqno))
        return CERT_WS_EFORMAT;
    if (!(h->dflags & CERT_WS_D_ZSTD) && h->data_raw_len != h->data_len) return CERT_WS_EFORMAT;
    if (h->nkeys > h->keys_len / MIN_KEY_LEN) return CERT_WS_EFORMAT;
    if (h->data_raw_len > (uint64_t)CERT_WS_MAX_SIZE) return CERT_WS_ETOOBIG;
    size_t body = len - CERT_WS_HDR_LEN;
    if (h->keys_len > body || h->data_len != body - h->keys_len) return CERT_WS_ESIZE;
    return CERT_WS_OK;
}

int cert_ws_hdr_set_seqno(uint8_t hdr[CERT_WS_HDR_LEN], int64_t seqno, int64_t depends)
{
    if (seqno < 0 || depends < -1 || depends >= seqno) return CERT_WS_EFORMAT;
    tr_put_u64(hdr + O_SEQNO, (uint64_t)seqno);
    tr_put_u64(hdr + O_DEPENDS, (uint64_t)depends);
    int rc;
    uint64_t c = hdr_csum(hdr, &rc);
    if (rc) return rc;
    tr_put_u64(hdr + O_HDR_CSUM, c);
    return CERT_WS_OK;
}

static int payload_csum(const void *keys, size_t keys_len, const void *data, size_t data_len,
                        uint64_t *out)
{
    struct cert_csum_buf b[2] = {{keys, keys_len}, {data, data_len}};
    return cert_csum(b, 2, out) ? CERT_WS_ECRYPTO : CERT_WS_OK;
}

int cert_ws_encode(struct cert_ws_enc *enc, const struct cert_ws_hdr *h, const void *keys,
                   size_t keys_len, const void *data, size_t data_len,
                   const struct cert_ws_enc_opts *opts)
{
    memset(enc, 0, sizeof *enc);
    int64_t max = opts && opts->max_size > 0 ? opts->max_size : CERT_WS_MAX_SIZE;
    if (max > CERT_WS_MAX_SIZE) max = CERT_WS_MAX_SIZE;
    /* Compare without overflow: each term alone may already exceed the limit. */
    if (keys_len > (uint64_t)max || data_len > (uint64_t)max ||
        (uint64_t)CERT_WS_HDR_LEN + keys_len + data_len > (uint64_t)max)
        return CERT_WS_ETOOBIG;
    if (cert_csum_init()) return CERT_WS_ECRYPTO;

    struct cert_ws_hdr x = *h;
    x.dflags = 0;
    x.seqno = TR_SEQNO_UNDEFINED;
    x.depends = TR_SEQNO_UNDEFINED;
    x.keys_len = (uint32_t)keys_len;
    x.data_len = data_len;
    x.data_raw_len = data_len;
    enc->keys = keys;
    enc->keys_len = keys_len;
    enc->data = data;
    enc->data_len = data_len;

    if (opts && opts->compress_min > 0 && data_len >= opts->compress_min) {
        size_t bound = ZSTD_compressBound(data_len);
        if (ZSTD_isError(bound) || tr_buf_reserve(&enc->zbuf, bound)) return CERT_WS_ENOMEM;
        int level = opts->zstd_level ? opts->zstd_level : ZSTD_CLEVEL_DEFAULT;
        size_t z = ZSTD_compress(enc->zbuf.ptr, bound, data, data_len, level);
        /* Incompressible data goes as it is: never pay decompression for nothing. */
        if (!ZSTD_isError(z) && z < data_len) {
            enc->zbuf.len = z;
            enc->data = enc->zbuf.ptr;
            enc->data_len = z;
            x.dflags = CERT_WS_D_ZSTD;
            x.data_len = z;
        }
    }
    int rc = payload_csum(enc->keys, enc->keys_len, enc->data, enc->data_len, &x.payload_csum);
    if (rc) return rc;
    cert_ws_hdr_encode(&x, enc->hdr);
    return CERT_WS_OK;
}

void cert_ws_enc_free(struct cert_ws_enc *enc)
{
    tr_buf_free(&enc->zbuf);
    enc->data = NULL;
    enc->keys = NULL;
}

static int decompress(struct cert_ws_view *v, const uint8_t *src, size_t src_len, uint64_t raw)
{
    /* The frame's own content size, when present, must agree with the header. */
    unsigned long long fcs = ZSTD_getFrameContentSize(src, src_len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != raw))
        return CERT_WS_EZSTD;
    uint8_t *out = malloc(raw ? (size_t)raw : 1);
    if (!out) return CERT_WS_ENOMEM;
    /* dst capacity is the declared size: a bomb stops with dstSize_tooSmall, never writes more. */
    size_t got = ZSTD_decompress(out, (size_t)raw, src, src_len);
    if (ZSTD_isError(got) || got != raw) {
        free(out);
        return CERT_WS_EZSTD;
    }
    v->owned = out;
    v->data = out;
    v->data_len = (size_t)raw;
    return CERT_WS_OK;
}

int cert_ws_decode(const uint8_t *buf, size_t len, int64_t max_raw, struct cert_ws_view *v)
{
    memset(v, 0, sizeof *v);
    int rc = cert_ws_hdr_decode(buf, len, &v->hdr);
    if (rc) return rc;
    const struct cert_ws_hdr *h = &v->hdr;
    if (max_raw <= 0 || max_raw > CERT_WS_MAX_SIZE) max_raw = CERT_WS_MAX_SIZE;
    if (h->data_raw_len > (uint64_t)max_raw) return CERT_WS_ETOOBIG;

    const uint8_t *keys = buf + CERT_WS_HDR_LEN;
    const uint8_t *data = keys + h->keys_len;
    uint64_t sum;
    if ((rc = payload_csum(keys, h->keys_len, data, (size_t)h->data_len, &sum))) return rc;
    if (sum != h->payload_csum) return CERT_WS_ECSUM;
    if (cert_keys_validate(keys, h->keys_len, h->nkeys)) return CERT_WS_EKEYS;

    v->keys = keys;
    v->keys_len = h->keys_len;
    if (h->dflags & CERT_WS_D_ZSTD) return decompress(v, data, (size_t)h->data_len, h->data_raw_len);
    v->data = data;
    v->data_len = (size_t)h->data_len;
    return CERT_WS_OK;
}

void cert_ws_view_release(struct cert_ws_view *v)
{
    free(v->owned);
    v->owned = NULL;
    v->data = NULL;
}
