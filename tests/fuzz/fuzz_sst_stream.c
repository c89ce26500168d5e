/* tests/fuzz/fuzz_sst_stream: libFuzzer target for the SST stream decoder (sst_codec), with the
 * production limits. Three modes (first byte): raw bytes; a valid stream of the input, damaged
 * or not (undamaged must decode to the same bytes); frames built from the input with correct
 * SHA-256 digests, so the checks behind the digest (lengths, zstd, sequence, END) are reached. */
#include "tools/wsrep_sst_trireme/sst_codec.h"

#include <gcrypt.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
    const uint8_t *p;
    size_t len, pos;
};

static long src_read(void *ctx, void *buf, size_t len)
{
    struct src *s = ctx;
    size_t n = s->len - s->pos < len ? s->len - s->pos : len;
    if (n > 4093) n = 4093; /* short reads, like a socket */
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (long)n;
}

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* decodes s; returns 1 if it reached END, with the data bytes appended to out (if non-NULL) */
static int decode(const uint8_t *p, size_t n, struct buf *out)
{
    static struct sst_dec d; /* reused: the allocations would dominate the run time */
    static int have_dec;
    struct src s = {p, n, 0};
    if (!have_dec && sst_dec_init(&d, src_read, &s)) abort();
    have_dec = 1;
    sst_dec_reset(&d, src_read, &s);
    struct sst_head h;
    char err[256];
    memset(err, 'x', sizeof err);
    int ended = 0;
    if (sst_dec_head(&d, &h, err, sizeof err) == 0) {
        for (;;) {
            const uint8_t *q;
            size_t len;
            enum sst_next r = sst_dec_next(&d, &q, &len, err, sizeof err);
            if (r == SST_NEXT_END) {
                ended = 1;
                break;
            }
            if (r == SST_NEXT_ERR) {
                if (!memchr(err, '\0', sizeof err)) abort();
                break;
            }
            if (len == 0 || len > SST_RAW_MAX) abort();
            if (out) put(out, q, len);
            else {
                volatile uint8_t sink = q[0] ^ q[len - 1]; /* the bytes are there (ASan) */
                (void)sink;
            }
        }
    } else if (!memchr(err, '\0', sizeof err)) {
        abort();
    }
    if (d.off > n) abort(); /* never claims more than it read */
    return ended;
}

static void valid_stream(const uint8_t *data, size_t size)
{
    if (size < 4) return;
    size_t frame = 1 + data[0] * 64u, at = (size_t)data[1] << 8 | data[2];
    uint8_t damage = data[3];
    data += 4;
    size -= 4;
    static struct sst_enc enc[2]; /* stored and zstd, reused */
    static int have_enc;
    if (!have_enc && (sst_enc_init(&enc[0], 0) || sst_enc_init(&enc[1], 1))) abort();
    have_enc = 1;
    struct sst_enc *e = &enc[damage & 4 ? 0 : 1];
    sst_enc_reset(e);
    struct buf s = {0}, out = {0};
    const uint8_t *f;
    struct sst_head h = {.version = SST_VERSION, .seqno = 5};
    size_t fl = sst_enc_head(e, &h, &f);
    put(&s, f, fl);
    for (size_t off = 0; off < size; off += frame) {
        size_t len = size - off < frame ? size - off : frame;
        fl = sst_enc_data(e, data + off, len, &f);
        if (!fl) abort();
        put(&s, f, fl);
    }
    fl = sst_enc_end(e, &f);
    put(&s, f, fl);
    if (damage & 1) s.p[at % s.len] ^= (uint8_t)(1u << (damage >> 5));
    if (damage & 2) s.len = at % s.len;
    int ended = decode(s.p, s.len, &out);
    if (!(damage & 3) && (!ended || out.len != size || (size && memcmp(out.p, data, size))))
        abort(); /* an intact stream must come back whole */
    if ((damage & 3) && ended) abort(); /* any damage must be caught */
    free(s.p);
    free(out.p);
}

/* chunks of [type flags wire_lo wire_hi raw(4) seq_delta] + payload, sealed with right digests */
static void sealed_frames(const uint8_t *data, size_t size)
{
    struct buf s = {0};
    put(&s, SST_MAGIC, SST_MAGIC_LEN);
    gcry_md_hd_t md;
    if (gcry_md_open(&md, GCRY_MD_SHA256, 0)) abort();
    uint64_t seq = 0;
    size_t i = 0;
    while (i + 9 <= size) {
        uint8_t hdr[SST_FRAME_HDR] = {0};
        hdr[0] = data[i] % 7;
        hdr[1] = data[i + 1];
        size_t wire = (size_t)(data[i + 2] | data[i + 3] << 8);
        memcpy(hdr + 8, data + i + 4, 4);
        seq += data[i + 8] == 0xff ? 0 : 1; /* now and then a repeated number */
        i += 9;
        if (wire > size - i) wire = size - i;
        hdr[4] = (uint8_t)wire;
        hdr[5] = (uint8_t)(wire >> 8);
        for (int k = 0; k < 8; k++) hdr[16 + k] = (uint8_t)((seq - 1) >> (8 * k));
        gcry_md_reset(md);
        gcry_md_write(md, hdr, sizeof hdr);
        gcry_md_write(md, data + i, wire);
        put(&s, hdr, sizeof hdr);
        put(&s, data + i, wire);
        put(&s, gcry_md_read(md, GCRY_MD_SHA256), SST_DIGEST_LEN);
        i += wire;
    }
    gcry_md_close(md);
    decode(s.p, s.len, NULL);
    free(s.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    if (!inited) {
        if (sst_crypto_init()) abort();
        inited = 1;
    }
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0: decode(data + 1, size - 1, NULL); break;
    case 1: valid_stream(data + 1, size - 1); break;
    default: sealed_frames(data + 1, size - 1); break;
    }
    return 0;
}
