/* certification/cert_ws: encoding and bounds-checked decoding of write-set headers and keys.
 * Little-endian, fixed offsets, so any node reads what any other wrote. */
#include "certification/cert_ws.h"

#include <string.h>

void cert_ws_hdr_encode(const struct cert_ws_hdr *h, uint8_t out[CERT_WS_HDR_LEN])
{
    memset(out, 0, CERT_WS_HDR_LEN);
    tr_put_u32(out + 0, CERT_WS_MAGIC);
    tr_put_u32(out + 4, h->flags);
    memcpy(out + 8, h->source.data, 16);
    tr_put_u64(out + 24, h->local_id);
    tr_put_u64(out + 32, h->conn_id);
    tr_put_u64(out + 40, h->trx_id);
    tr_put_u64(out + 48, (uint64_t)h->last_seen);
    tr_put_u32(out + 56, h->nkeys);
    tr_put_u32(out + 60, h->keys_len);
    tr_put_u64(out + 64, h->data_len);
}

int cert_ws_hdr_decode(const uint8_t *buf, size_t len, struct cert_ws_hdr *h)
{
    if (len < CERT_WS_HDR_LEN || tr_get_u32(buf) != CERT_WS_MAGIC) return -1;
    h->flags = tr_get_u32(buf + 4);
    memcpy(h->source.data, buf + 8, 16);
    h->local_id = tr_get_u64(buf + 24);
    h->conn_id = tr_get_u64(buf + 32);
    h->trx_id = tr_get_u64(buf + 40);
    h->last_seen = (int64_t)tr_get_u64(buf + 48);
    h->nkeys = tr_get_u32(buf + 56);
    h->keys_len = tr_get_u32(buf + 60);
    h->data_len = tr_get_u64(buf + 64);
    size_t body = len - CERT_WS_HDR_LEN;
    if (h->keys_len > body || h->data_len != body - h->keys_len) return -1;
    return 0;
}

int cert_ws_key_append(struct tr_buf *keys, int type, const struct cert_key_part *parts,
                       size_t nparts)
{
    if (nparts > CERT_WS_MAX_KEY_PARTS || type < 0 || type > 255) return -1;
    size_t need = 2;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].len > CERT_WS_MAX_PART_LEN) return -1;
        need += 2 + parts[i].len;
    }
    if (tr_buf_reserve(keys, need)) return -1;
    uint8_t *p = keys->ptr + keys->len;
    *p++ = (uint8_t)type;
    *p++ = (uint8_t)nparts;
    for (size_t i = 0; i < nparts; i++) {
        tr_put_u16(p, (uint16_t)parts[i].len);
        if (parts[i].len) memcpy(p + 2, parts[i].ptr, parts[i].len);
        p += 2 + parts[i].len;
    }
    keys->len += need;
    return 0;
}
