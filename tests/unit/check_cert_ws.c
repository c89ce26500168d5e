/* tests/unit/check_cert_ws: write-set v2 encoding, validation and compression.
 * Every damaged, truncated or oversized input must be refused with its own error, never read past. */
#include "certification/cert_csum.h"
#include "certification/cert_ws.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static struct tr_buf keys;
static uint32_t nkeys;

static void add_key(int type, const char *a, const char *b, const char *c)
{
    struct cert_key_part p[3] = {{a, strlen(a)}, {b, strlen(b)}, {c, strlen(c)}};
    ck_assert_int_eq(cert_ws_key_append(&keys, type, p, 3), 0);
    nkeys++;
}

static void setup(void)
{
    memset(&keys, 0, sizeof keys);
    nkeys = 0;
    add_key(CERT_KEY_EXCLUSIVE, "db", "t1", "row-1");
    add_key(CERT_KEY_SHARED, "db", "t2", "parent");
    add_key(CERT_KEY_UPDATE, "db", "t1", "");
}

static void teardown(void)
{
    tr_buf_free(&keys);
}

static struct cert_ws_hdr sample_hdr(void)
{
    struct cert_ws_hdr h = {
        .flags = 0x41, .local_id = 7, .conn_id = 8, .trx_id = 9, .last_seen = 41, .nkeys = nkeys,
        .seqno = -1, .depends = -1,
    };
    for (int i = 0; i < 16; i++) h.source.data[i] = (uint8_t)(i * 17 + 3);
    return h;
}

/* Joins the three pieces as the group would deliver them. */
static uint8_t *flatten(const struct cert_ws_enc *e, size_t *len)
{
    *len = CERT_WS_HDR_LEN + e->keys_len + e->data_len;
    uint8_t *b = malloc(*len);
    memcpy(b, e->hdr, CERT_WS_HDR_LEN);
    if (e->keys_len) memcpy(b + CERT_WS_HDR_LEN, e->keys, e->keys_len);
    if (e->data_len) memcpy(b + CERT_WS_HDR_LEN + e->keys_len, e->data, e->data_len);
    return b;
}

static uint8_t *encode(const void *data, size_t dlen, size_t compress_min, size_t *len,
                       uint8_t *dflags)
{
    struct cert_ws_hdr h = sample_hdr();
    struct cert_ws_enc e;
    struct cert_ws_enc_opts o = {.compress_min = compress_min};
    ck_assert_int_eq(cert_ws_encode(&e, &h, keys.ptr, keys.len, data, dlen, &o), CERT_WS_OK);
    if (dflags) *dflags = e.hdr[5];
    uint8_t *b = flatten(&e, len);
    cert_ws_enc_free(&e);
    return b;
}

/* Re-encodes a header with chosen fields and a correct header checksum. */
static void rewrite_hdr(uint8_t *buf, const struct cert_ws_hdr *h)
{
    cert_ws_hdr_encode(h, buf);
}

/* Recomputes the header checksum over the header as it now stands. */
static void reseal(uint8_t *buf)
{
    struct cert_csum_buf b = {buf, CERT_WS_HDR_LEN - 8};
    uint64_t c;
    ck_assert_int_eq(cert_csum(&b, 1, &c), 0);
    tr_put_u64(buf + CERT_WS_HDR_LEN - 8, c);
}

START_TEST(roundtrip_plain)
{
    const char data[] = "row events";
    size_t len;
    uint8_t df;
    uint8_t *b = encode(data, sizeof data, 0, &len, &df);
    ck_assert_uint_eq(df, 0);
    ck_assert_uint_eq(len, CERT_WS_HDR_LEN + keys.len + sizeof data);
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    struct cert_ws_hdr want = sample_hdr();
    ck_assert_uint_eq(v.hdr.version, CERT_WS_VERSION);
    ck_assert_uint_eq(v.hdr.flags, want.flags);
    ck_assert_mem_eq(v.hdr.source.data, want.source.data, 16);
    ck_assert_uint_eq(v.hdr.local_id, 7);
    ck_assert_uint_eq(v.hdr.conn_id, 8);
    ck_assert_uint_eq(v.hdr.trx_id, 9);
    ck_assert_int_eq(v.hdr.last_seen, 41);
    ck_assert_int_eq(v.hdr.seqno, -1);
    ck_assert_int_eq(v.hdr.depends, -1);
    ck_assert_uint_eq(v.hdr.nkeys, 3);
    ck_assert_uint_eq(v.keys_len, keys.len);
    ck_assert_mem_eq(v.keys, keys.ptr, keys.len);
    ck_assert_uint_eq(v.data_len, sizeof data);
    ck_assert_mem_eq(v.data, data, sizeof data);
    ck_assert_ptr_null(v.owned);
    cert_ws_view_release(&v);

    /* the header-only decoder agrees */
    struct cert_ws_hdr h;
    ck_assert_int_eq(cert_ws_hdr_decode(b, len, &h), 0);
    ck_assert_uint_eq(h.keys_len, keys.len);
    ck_assert_uint_eq(h.data_len, sizeof data);
    free(b);
}
END_TEST

START_TEST(roundtrip_empty)
{
    tr_buf_reset(&keys);
    nkeys = 0;
    size_t len;
    uint8_t *b = encode(NULL, 0, 1, &len, NULL);
    ck_assert_uint_eq(len, CERT_WS_HDR_LEN);
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    ck_assert_uint_eq(v.data_len, 0);
    ck_assert_uint_eq(v.hdr.nkeys, 0);
    cert_ws_view_release(&v);
    free(b);
}
END_TEST

static uint8_t *compressible(size_t n)
{
    uint8_t *d = malloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)("INSERT INTO t VALUES "[i % 21]);
    return d;
}

START_TEST(compression_threshold)
{
    size_t n = 64 * 1024;
    uint8_t *d = compressible(n);
    size_t len;
    uint8_t df;

    /* off */
    uint8_t *b = encode(d, n, 0, &len, &df);
    ck_assert_uint_eq(df, 0);
    ck_assert_uint_eq(len, CERT_WS_HDR_LEN + keys.len + n);
    free(b);
    /* threshold just above the size: not compressed */
    b = encode(d, n, n + 1, &len, &df);
    ck_assert_uint_eq(df, 0);
    free(b);
    /* threshold equal to the size: compressed, smaller, decodes back */
    b = encode(d, n, n, &len, &df);
    ck_assert_uint_eq(df, CERT_WS_D_ZSTD);
    ck_assert_uint_lt(len, n / 4);
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    ck_assert_ptr_nonnull(v.owned);
    ck_assert_uint_eq(v.data_len, n);
    ck_assert_mem_eq(v.data, d, n);
    ck_assert_uint_eq(v.hdr.data_raw_len, n);
    cert_ws_view_release(&v);
    /* the decompressed size must fit the receiver's limit */
    ck_assert_int_eq(cert_ws_decode(b, len, (int64_t)n - 1, &v), CERT_WS_ETOOBIG);
    ck_assert_int_eq(cert_ws_decode(b, len, (int64_t)n, &v), CERT_WS_OK);
    cert_ws_view_release(&v);
    free(b);
    free(d);
}
END_TEST

START_TEST(incompressible_stays_plain)
{
    size_t n = 4096;
    uint8_t *d = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d[i] = (uint8_t)x;
    }
    size_t len;
    uint8_t df;
    uint8_t *b = encode(d, n, 1, &len, &df);
    ck_assert_uint_eq(df, 0);
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    ck_assert_mem_eq(v.data, d, n);
    cert_ws_view_release(&v);
    free(b);
    free(d);
}
END_TEST

START_TEST(every_byte_flip_refused)
{
    const char data[] = "some data";
    size_t len;
    uint8_t *b = encode(data, sizeof data, 0, &len, NULL);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (uint8_t)(1u << bit);
            struct cert_ws_view v;
            int rc = cert_ws_decode(b, len, 0, &v);
            ck_assert_msg(rc < 0, "flip at byte %zu bit %d accepted", i, bit);
            if (i >= 8 && i < 112) ck_assert_int_eq(rc, CERT_WS_EHDRCSUM);
            if (i >= CERT_WS_HDR_LEN) ck_assert_int_eq(rc, CERT_WS_ECSUM);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(cert_ws_hdr_decode(b, len, &(struct cert_ws_hdr){0}), 0);
    b[0] ^= 1;
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EMAGIC);
    b[0] ^= 1;
    b[4] = 1;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EVERSION);
    ck_assert_str_eq(cert_ws_strerror(CERT_WS_EVERSION), "unsupported write-set version");
    free(b);
}
END_TEST

START_TEST(truncated_and_extended)
{
    const char data[] = "data data data";
    size_t len;
    uint8_t *b = encode(data, sizeof data, 0, &len, NULL);
    for (size_t l = 0; l < len; l++) {
        uint8_t *c = malloc(l ? l : 1); /* exact size: ASan sees any overread */
        memcpy(c, b, l);
        struct cert_ws_view v;
        int rc = cert_ws_decode(c, l, 0, &v);
        ck_assert_int_eq(rc, l < CERT_WS_HDR_LEN ? CERT_WS_ETRUNC : CERT_WS_ESIZE);
        free(c);
    }
    uint8_t *c = malloc(len + 1);
    memcpy(c, b, len);
    c[len] = 0;
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(c, len + 1, 0, &v), CERT_WS_ESIZE);
    free(c);
    free(b);
}
END_TEST

START_TEST(declared_lengths_checked)
{
    const char data[] = "abcdef";
    size_t len;
    uint8_t *b = encode(data, sizeof data, 0, &len, NULL);
    struct cert_ws_hdr h, bad;
    ck_assert_int_eq(cert_ws_hdr_decode(b, len, &h), 0);
    struct cert_ws_view v;

    bad = h;
    bad.keys_len = UINT32_MAX;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_ESIZE);
    bad = h;
    bad.data_len = UINT64_MAX;
    bad.data_raw_len = UINT64_MAX;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_ETOOBIG);
    bad = h;
    bad.data_len = h.data_len + 1;
    bad.data_raw_len = bad.data_len;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_ESIZE);
    bad = h;
    bad.data_raw_len = h.data_len + 1; /* plain data must declare its own size */
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    bad = h;
    bad.nkeys = UINT32_MAX;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    bad = h;
    bad.dflags = 0x80;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    bad = h;
    bad.last_seen = -2;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    bad = h;
    bad.seqno = 5; /* ordered, depends must be below it */
    bad.depends = 5;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    bad.depends = -1;
    bad.seqno = -1;
    bad.depends = 3;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
    /* nkeys one too few or too many: the key walk refuses it (checksum fixed up) */
    bad = h;
    bad.nkeys = h.nkeys - 1;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EKEYS);
    bad.nkeys = h.nkeys + 1;
    rewrite_hdr(b, &bad);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EKEYS);
    rewrite_hdr(b, &h);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    cert_ws_view_release(&v);
    free(b);
}
END_TEST

START_TEST(reserved_bytes_must_be_zero)
{
    size_t len;
    uint8_t *b = encode("x", 1, 0, &len, NULL);
    struct cert_ws_view v;
    static const size_t at[] = {5, 6, 7, 84, 85, 86, 87};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        uint8_t old = b[at[i]];
        b[at[i]] = 0x80;
        reseal(b);
        ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EFORMAT);
        b[at[i]] = old;
        reseal(b);
    }
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    cert_ws_view_release(&v);
    free(b);
}
END_TEST

START_TEST(malformed_keys_refused)
{
    /* The encoder trusts its caller; the decoder trusts nobody. */
    static const struct {
        uint8_t bytes[8];
        size_t len;
        uint32_t nkeys;
        int want;
    } cases[] = {
        {{4, 0}, 2, 1, CERT_KEYS_ETYPE},             /* type 4 */
        {{0, 1, 5, 0, 'a'}, 5, 1, CERT_KEYS_ETRUNC}, /* part of 5 bytes, 1 present */
        {{0, 1, 1}, 3, 1, CERT_KEYS_ETRUNC},         /* part length cut */
        {{0, 0, 0, 0}, 4, 1, CERT_KEYS_ECOUNT},      /* bytes after the last key */
        {{0}, 1, 1, CERT_KEYS_ETRUNC},               /* half a key */
        {{0, 0}, 2, 2, CERT_KEYS_ETRUNC},            /* fewer keys than declared */
        {{3, 0, 2, 0}, 4, 2, CERT_KEYS_OK},          /* two zero-part keys */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t *k = malloc(cases[i].len);
        memcpy(k, cases[i].bytes, cases[i].len);
        ck_assert_int_eq(cert_keys_validate(k, cases[i].len, cases[i].nkeys), cases[i].want);
        struct cert_ws_hdr h = sample_hdr();
        h.nkeys = cases[i].nkeys;
        struct cert_ws_enc e;
        ck_assert_int_eq(cert_ws_encode(&e, &h, k, cases[i].len, "d", 1, NULL), 0);
        size_t len;
        uint8_t *b = flatten(&e, &len);
        cert_ws_enc_free(&e);
        struct cert_ws_view v;
        int rc = cert_ws_decode(b, len, 0, &v);
        /* the header already refuses more keys than bytes could hold */
        int want = cases[i].nkeys > cases[i].len / 2 ? CERT_WS_EFORMAT
                   : cases[i].want                   ? CERT_WS_EKEYS
                                                     : CERT_WS_OK;
        ck_assert_int_eq(rc, want);
        if (!rc) cert_ws_view_release(&v);
        free(b);
        free(k);
    }
    ck_assert_str_eq(cert_keys_strerror(CERT_KEYS_ETYPE), "unknown key type");
}
END_TEST

START_TEST(key_iteration)
{
    struct cert_key_iter it;
    struct cert_key k;
    cert_key_iter_init(&it, keys.ptr, keys.len, nkeys);
    ck_assert_int_eq(cert_key_next(&it, &k), 1);
    ck_assert_int_eq(k.type, CERT_KEY_EXCLUSIVE);
    ck_assert_uint_eq(k.nparts, 3);
    struct cert_key_part p = cert_key_part_at(&k, 2);
    ck_assert_uint_eq(p.len, 5);
    ck_assert_mem_eq(p.ptr, "row-1", 5);
    char buf[64];
    cert_key_format(&k, buf, sizeof buf);
    ck_assert_str_eq(buf, "exclusive:db/t1/row-1");
    cert_key_format(&k, buf, 12);
    ck_assert_str_eq(buf, "exclusive:d");
    ck_assert_int_eq(cert_key_next(&it, &k), 1);
    ck_assert_int_eq(k.type, CERT_KEY_SHARED);
    ck_assert_int_eq(cert_key_next(&it, &k), 1);
    ck_assert_int_eq(k.type, CERT_KEY_UPDATE);
    p = cert_key_part_at(&k, 2);
    ck_assert_uint_eq(p.len, 0);
    ck_assert_int_eq(cert_key_next(&it, &k), 0);
    ck_assert_int_eq(cert_key_next(&it, &k), 0);

    /* binary parts are escaped */
    struct tr_buf kb = {0};
    struct cert_key_part bin[1] = {{"\x01/\\", 3}};
    ck_assert_int_eq(cert_ws_key_append(&kb, CERT_KEY_REFERENCE, bin, 1), 0);
    cert_key_iter_init(&it, kb.ptr, kb.len, 1);
    ck_assert_int_eq(cert_key_next(&it, &k), 1);
    cert_key_format(&k, buf, sizeof buf);
    ck_assert_str_eq(buf, "reference:\\x01\\x2f\\x5c");
    tr_buf_free(&kb);
}
END_TEST

START_TEST(key_append_limits)
{
    struct tr_buf kb = {0};
    struct cert_key_part big = {"", CERT_WS_MAX_PART_LEN + 1};
    ck_assert_int_eq(cert_ws_key_append(&kb, CERT_KEY_SHARED, &big, 1), -1);
    ck_assert_int_eq(cert_ws_key_append(&kb, 4, NULL, 0), -1);
    ck_assert_int_eq(cert_ws_key_append(&kb, -1, NULL, 0), -1);
    struct cert_key_part many[CERT_WS_MAX_KEY_PARTS + 1];
    for (int i = 0; i <= CERT_WS_MAX_KEY_PARTS; i++) many[i] = (struct cert_key_part){"p", 1};
    ck_assert_int_eq(cert_ws_key_append(&kb, CERT_KEY_SHARED, many, CERT_WS_MAX_KEY_PARTS + 1), -1);
    ck_assert_uint_eq(kb.len, 0);
    ck_assert_int_eq(cert_ws_key_append(&kb, CERT_KEY_SHARED, many, CERT_WS_MAX_KEY_PARTS), 0);
    ck_assert_int_eq(cert_keys_validate(kb.ptr, kb.len, 1), 0);
    tr_buf_free(&kb);
}
END_TEST

START_TEST(max_ws_size)
{
    size_t n = 1000;
    uint8_t *d = compressible(n);
    struct cert_ws_hdr h = sample_hdr();
    struct cert_ws_enc e;
    int64_t exact = (int64_t)(CERT_WS_HDR_LEN + keys.len + n);
    struct cert_ws_enc_opts o = {.max_size = exact - 1, .compress_min = 1};
    /* the limit counts uncompressed bytes: compression does not sneak a big one through */
    ck_assert_int_eq(cert_ws_encode(&e, &h, keys.ptr, keys.len, d, n, &o), CERT_WS_ETOOBIG);
    cert_ws_enc_free(&e);
    o.max_size = exact;
    ck_assert_int_eq(cert_ws_encode(&e, &h, keys.ptr, keys.len, d, n, &o), CERT_WS_OK);
    cert_ws_enc_free(&e);
    /* sizes whose sum would overflow */
    ck_assert_int_eq(cert_ws_encode(&e, &h, keys.ptr, SIZE_MAX - 10, d, 100, NULL), CERT_WS_ETOOBIG);
    cert_ws_enc_free(&e);
    ck_assert_str_eq(cert_ws_strerror(CERT_WS_ETOOBIG),
                     "write-set exceeds the size limit (repl.max_ws_size)");
    free(d);
}
END_TEST

/* A write-set whose data set is the given zstd bytes, declaring raw as its size. */
static uint8_t *forge_zstd(const void *z, size_t zlen, uint64_t raw, size_t *len)
{
    struct cert_ws_hdr h = sample_hdr();
    h.nkeys = nkeys;
    h.dflags = CERT_WS_D_ZSTD;
    h.keys_len = (uint32_t)keys.len;
    h.data_len = zlen;
    h.data_raw_len = raw;
    *len = CERT_WS_HDR_LEN + keys.len + zlen;
    uint8_t *b = malloc(*len);
    memcpy(b + CERT_WS_HDR_LEN, keys.ptr, keys.len);
    memcpy(b + CERT_WS_HDR_LEN + keys.len, z, zlen);
    struct cert_csum_buf cb = {b + CERT_WS_HDR_LEN, *len - CERT_WS_HDR_LEN};
    ck_assert_int_eq(cert_csum(&cb, 1, &h.payload_csum), 0);
    cert_ws_hdr_encode(&h, b);
    return b;
}

START_TEST(decompression_bombs_refused)
{
    size_t big = 64u << 20; /* 64 MiB of zeros squeezes into a few KiB */
    uint8_t *zeros = calloc(1, big);
    size_t cap = ZSTD_compressBound(big);
    uint8_t *z = malloc(cap);
    size_t zlen = ZSTD_compress(z, cap, zeros, big, 1);
    ck_assert(!ZSTD_isError(zlen));
    ck_assert_uint_lt(zlen, 64 * 1024);
    struct cert_ws_view v;
    size_t len;

    /* declares little, frame says 64 MiB: refused before decompressing */
    uint8_t *b = forge_zstd(z, zlen, 1000, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EZSTD);
    free(b);
    /* declares the truth, but over the receiver's limit: refused before allocating */
    b = forge_zstd(z, zlen, big, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 1 << 20, &v), CERT_WS_ETOOBIG);
    free(b);

    /* a frame without its content size: the output buffer bounds it */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    ZSTD_inBuffer in = {zeros, big, 0};
    ZSTD_outBuffer out = {z, cap, 0};
    ck_assert_uint_eq(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cc);
    ck_assert_uint_eq(ZSTD_getFrameContentSize(z, out.pos), ZSTD_CONTENTSIZE_UNKNOWN);
    b = forge_zstd(z, out.pos, 4096, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EZSTD);
    free(b);
    /* declared larger than it really is: also refused (exact size required) */
    zlen = ZSTD_compress(z, cap, zeros, 100, 1);
    b = forge_zstd(z, zlen, 101, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EZSTD);
    free(b);
    /* garbage that is not zstd */
    b = forge_zstd("not a zstd frame", 16, 16, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_EZSTD);
    free(b);
    /* and the honest one decodes */
    b = forge_zstd(z, zlen, 100, &len);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), CERT_WS_OK);
    ck_assert_uint_eq(v.data_len, 100);
    cert_ws_view_release(&v);
    free(b);
    free(z);
    free(zeros);
}
END_TEST

START_TEST(set_seqno_in_place)
{
    size_t len;
    uint8_t *b = encode("x", 1, 0, &len, NULL);
    ck_assert_int_eq(cert_ws_hdr_set_seqno(b, 10, 7), 0);
    struct cert_ws_view v;
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), 0);
    ck_assert_int_eq(v.hdr.seqno, 10);
    ck_assert_int_eq(v.hdr.depends, 7);
    ck_assert_int_eq(v.hdr.last_seen, 41);
    cert_ws_view_release(&v);
    ck_assert_int_eq(cert_ws_hdr_set_seqno(b, 10, 10), CERT_WS_EFORMAT);
    ck_assert_int_eq(cert_ws_hdr_set_seqno(b, -1, -1), CERT_WS_EFORMAT);
    ck_assert_int_eq(cert_ws_hdr_set_seqno(b, 10, -2), CERT_WS_EFORMAT);
    ck_assert_int_eq(cert_ws_hdr_set_seqno(b, 1, -1), 0);
    ck_assert_int_eq(cert_ws_decode(b, len, 0, &v), 0);
    cert_ws_view_release(&v);
    free(b);
}
END_TEST

START_TEST(header_roundtrip_fields)
{
    struct cert_ws_hdr h = sample_hdr(), g;
    memset(&g, 0, sizeof g);
    h.nkeys = 0;
    h.seqno = 99;
    h.depends = 98;
    h.data_len = 3;
    h.data_raw_len = 3;
    uint8_t b[CERT_WS_HDR_LEN + 3] = {0};
    cert_ws_hdr_encode(&h, b);
    ck_assert_int_eq(cert_ws_hdr_decode(b, sizeof b, &g), 0);
    ck_assert_uint_eq(g.version, CERT_WS_VERSION);
    ck_assert_uint_eq(g.flags, h.flags);
    ck_assert_mem_eq(g.source.data, h.source.data, 16);
    ck_assert_uint_eq(g.local_id, h.local_id);
    ck_assert_uint_eq(g.conn_id, h.conn_id);
    ck_assert_uint_eq(g.trx_id, h.trx_id);
    ck_assert_int_eq(g.last_seen, h.last_seen);
    ck_assert_int_eq(g.seqno, 99);
    ck_assert_int_eq(g.depends, 98);
    ck_assert_uint_eq(g.data_len, 3);
    ck_assert_uint_eq(g.data_raw_len, 3);
}
END_TEST

/* The first checksum of a process initialises libgcrypt; racing threads must all get it right
 * (run under TSan with -DTRIREME_SANITIZE=thread). */
static void *hash_in_thread(void *arg)
{
    struct cert_csum_buf b = {"abc", 3};
    uint64_t *out = arg;
    return (void *)(intptr_t)cert_csum(&b, 1, out);
}

START_TEST(concurrent_first_use)
{
    pthread_t th[8];
    uint64_t out[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hash_in_thread, &out[i]), 0);
    for (int i = 0; i < 8; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_ptr_null(rc);
        ck_assert_uint_eq(out[i], out[0]);
    }
    /* SHA-1("abc") = a9993e36 4706816a ...: its first 8 bytes, read little-endian */
    ck_assert_uint_eq(out[0], 0x6a810647363e99a9ull);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cert_ws");
    TCase *tc = tcase_create("ws");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, roundtrip_plain);
    tcase_add_test(tc, roundtrip_empty);
    tcase_add_test(tc, compression_threshold);
    tcase_add_test(tc, incompressible_stays_plain);
    tcase_add_test(tc, every_byte_flip_refused);
    tcase_add_test(tc, truncated_and_extended);
    tcase_add_test(tc, declared_lengths_checked);
    tcase_add_test(tc, reserved_bytes_must_be_zero);
    tcase_add_test(tc, malformed_keys_refused);
    tcase_add_test(tc, key_iteration);
    tcase_add_test(tc, key_append_limits);
    tcase_add_test(tc, max_ws_size);
    tcase_add_test(tc, decompression_bombs_refused);
    tcase_add_test(tc, set_seqno_in_place);
    tcase_add_test(tc, header_roundtrip_fields);
    tcase_add_test(tc, concurrent_first_use);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
