/* tools/trireme-kv/codec.c: the write-set payload format (what append_data carries and apply_cb
 * decodes): "TKV1" | u32 n | n x (u8 type | u32 klen | u32 vlen | key | value), little-endian. */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static const char MAGIC[4] = {'T', 'K', 'V', '1'};

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t kv_codec_encode(const struct kv_op *ops, size_t n, void **out)
{
    size_t len = 8;
    for (size_t i = 0; i < n; i++)
        len += 9 + ops[i].klen + ops[i].vlen;
    unsigned char *buf = malloc(len);
    if (!buf)
        return 0;
    unsigned char *p = buf;
    memcpy(p, MAGIC, 4);
    p = put32(p + 4, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        *p++ = (unsigned char)ops[i].type;
        p = put32(p, (uint32_t)ops[i].klen);
        p = put32(p, (uint32_t)ops[i].vlen);
        memcpy(p, ops[i].key, ops[i].klen);
        p += ops[i].klen;
        if (ops[i].vlen)
            memcpy(p, ops[i].val, ops[i].vlen);
        p += ops[i].vlen;
    }
    *out = buf;
    return len;
}

long kv_codec_decode(const void *data, size_t len,
                     void (*fn)(void *arg, const struct kv_op *op), void *arg)
{
    const unsigned char *p = data, *end = p + len;
    if (!data || len < 8 || memcmp(p, MAGIC, 4) != 0)
        return -1;
    uint32_t n = get32(p + 4);
    p += 8;
    /* validate the whole buffer before applying anything: all-or-nothing */
    const unsigned char *q = p;
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)(end - q) < 9)
            return -1;
        unsigned type = q[0];
        size_t kl = get32(q + 1), vl = get32(q + 5);
        q += 9;
        if ((type != KV_OP_PUT && type != KV_OP_INCR) || (size_t)(end - q) < kl ||
            (size_t)(end - q) - kl < vl || (type == KV_OP_INCR && vl != 8))
            return -1;
        q += kl + vl;
    }
    if (q != end)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        struct kv_op op = {.type = (enum kv_op_type)p[0], .klen = get32(p + 1),
                           .vlen = get32(p + 5)};
        op.key = (const char *)p + 9;
        op.val = p + 9 + op.klen;
        fn(arg, &op);
        p += 9 + op.klen + op.vlen;
    }
    return (long)n;
}

static void apply_one(void *arg, const struct kv_op *op)
{
    struct kv_table *t = arg;
    if (op->type == KV_OP_PUT) {
        kv_table_put(t, op->key, op->klen, op->val, op->vlen);
    } else {
        const unsigned char *b = op->val;
        uint64_t d = 0;
        for (int i = 7; i >= 0; i--)
            d = (d << 8) | b[i];
        kv_table_incr(t, op->key, op->klen, d);
    }
}

long kv_codec_apply(struct kv_table *t, const void *buf, size_t len)
{
    return kv_codec_decode(buf, len, apply_one, t);
}
