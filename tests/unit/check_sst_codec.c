/* tests/unit/check_sst_codec: the SST stream codec (tools/wsrep_sst_trireme/sst_codec): round trips,
 * and every kind of damage (bit flips, truncation, lost/repeated frames, bad trailer) refused. */
#include "tools/wsrep_sst_trireme/sst_codec.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a whole stream in memory */
struct mem {
    uint8_t *p;
    size_t len, cap, pos;
    size_t chunk; /* the reader hands out at most this many bytes a call (0 = any) */
    bool fail_at_end;
};

static void put(struct mem *m, const uint8_t *b, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
        ck_assert_ptr_nonnull(m->p);
    }
    memcpy(m->p + m->len, b, n);
    m->len += n;
}

static long mem_read(void *ctx, void *buf, size_t len)
{
    struct mem *m = ctx;
    if (m->pos == m->len) return m->fail_at_end ? -1 : 0;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    if (m->chunk && n > m->chunk) n = m->chunk;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (long)n;
}

static const struct sst_head HEAD = {
    .version = SST_VERSION, .domain_id = 7, .seqno = 123456, .size_hint = 999,
    .uuid = {{0x6f, 0x0f, 0x4a, 0x2c, 0x1a, 0x2b, 0x11, 0xee, 0x80, 0, 0, 0, 0, 0, 0, 1}}};

/* data: n bytes, half compressible text, half pseudo-random */
static uint8_t *make_data(size_t n)
{
    uint8_t *d = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        d[i] = i % 4096 < 2048 ? (uint8_t)("trireme "[i % 8]) : (uint8_t)(x >> 16);
    }
    return d;
}

/* stream of n data bytes in frames of up to frame bytes; returns offsets of each frame start */
static void build(struct mem *m, const uint8_t *data, size_t n, size_t frame, int level,
                  size_t *starts, size_t *nstarts, uint16_t flags)
{
    struct sst_enc e;
    ck_assert_int_eq(sst_enc_init(&e, level), 0);
    const uint8_t *f;
    struct sst_head h = HEAD;
    h.flags = flags;
    size_t k = 0, fl = sst_enc_head(&e, &h, &f);
    ck_assert_uint_gt(fl, 0);
    put(m, f, fl);
    for (size_t off = 0; off < n; off += frame) {
        size_t len = n - off < frame ? n - off : frame;
        if (starts) starts[k++] = m->len;
        fl = sst_enc_data(&e, data + off, len, &f);
        ck_assert_uint_gt(fl, 0);
        put(m, f, fl);
    }
    if (starts) starts[k++] = m->len;
    if (nstarts) *nstarts = k;
    fl = sst_enc_end(&e, &f);
    ck_assert_uint_gt(fl, 0);
    put(m, f, fl);
    sst_enc_free(&e);
}

/* decodes m; 0 if accepted with out == data, else -1 with err */
static int decode(struct mem *m, const uint8_t *data, size_t n, char *err, size_t errlen)
{
    struct sst_dec d;
    struct sst_head h;
    m->pos = 0;
    ck_assert_int_eq(sst_dec_init(&d, mem_read, m), 0);
    int rc = -1;
    size_t got = 0;
    if (sst_dec_head(&d, &h, err, errlen) == 0) {
        ck_assert_int_eq(h.seqno, HEAD.seqno);
        ck_assert_uint_eq(h.domain_id, HEAD.domain_id);
        ck_assert_uint_eq(h.size_hint, HEAD.size_hint);
        ck_assert_mem_eq(h.uuid.data, HEAD.uuid.data, 16);
        for (;;) {
            const uint8_t *p;
            size_t len;
            enum sst_next r = sst_dec_next(&d, &p, &len, err, errlen);
            if (r == SST_NEXT_ERR) break;
            if (r == SST_NEXT_END) {
                rc = got == n ? 0 : -1;
                /* nothing after END */
                ck_assert_int_eq(sst_dec_next(&d, &p, &len, err, errlen), SST_NEXT_ERR);
                break;
            }
            ck_assert_uint_le(got + len, n);
            ck_assert_mem_eq(p, data + got, len);
            got += len;
        }
    }
    sst_dec_free(&d);
    return rc;
}

START_TEST(test_round_trip)
{
    static const size_t sizes[] = {1, 1000, SST_RAW_MAX, SST_RAW_MAX + 1, 3 * SST_RAW_MAX + 77};
    uint8_t *data = make_data(3 * SST_RAW_MAX + 77);
    char err[512];
    for (int level = 0; level <= 3; level += 3)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            struct mem m = {0};
            build(&m, data, sizes[i], SST_RAW_MAX, level, NULL, NULL, 0);
            m.chunk = i % 2 ? 7 : 0; /* short reads */
            ck_assert_msg(decode(&m, data, sizes[i], err, sizeof err) == 0, "size %zu level %d: %s",
                          sizes[i], level, err);
            if (level && sizes[i] >= 1000) ck_assert_uint_lt(m.len, sizes[i]); /* compressed */
            free(m.p);
        }
    /* no data at all (bypass) */
    struct mem m = {0};
    build(&m, data, 0, SST_RAW_MAX, 1, NULL, NULL, SST_HEAD_BYPASS);
    ck_assert_int_eq(decode(&m, data, 0, err, sizeof err), 0);
    free(m.p);
    free(data);
}
END_TEST

START_TEST(test_every_bit_flip_refused)
{
    /* a small stream, every byte flipped in turn: never accepted */
    size_t n = 3000;
    uint8_t *data = make_data(n);
    struct mem m = {0};
    build(&m, data, n, 1000, 1, NULL, NULL, 0);
    char err[512];
    for (size_t i = 0; i < m.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            m.p[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(decode(&m, data, n, err, sizeof err) != 0, "flip at %zu accepted", i);
            ck_assert_uint_gt(strlen(err), 10);
            m.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(decode(&m, data, n, err, sizeof err), 0);
    free(m.p);
    free(data);
}
END_TEST

START_TEST(test_truncation_refused)
{
    size_t n = 5000;
    uint8_t *data = make_data(n);
    struct mem m = {0};
    build(&m, data, n, 1000, 1, NULL, NULL, 0);
    size_t full = m.len;
    char err[512];
    for (size_t cut = 0; cut < full; cut++) {
        m.len = cut;
        ck_assert_msg(decode(&m, data, n, err, sizeof err) != 0, "cut at %zu accepted", cut);
        ck_assert_msg(strstr(err, "truncated") || strstr(err, "magic"), "cut %zu: %s", cut, err);
    }
    m.len = full;
    m.fail_at_end = true; /* a reader error mid-stream says "failed", not "truncated" */
    m.len = full - 10;
    ck_assert_int_ne(decode(&m, data, n, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "failed"));
    free(m.p);
    free(data);
}
END_TEST

START_TEST(test_lost_and_repeated_frames_refused)
{
    size_t n = 4000, starts[16], ns;
    uint8_t *data = make_data(n);
    struct mem m = {0};
    build(&m, data, n, 1000, 1, starts, &ns, 0);
    ck_assert_uint_eq(ns, 5);
    char err[512];
    /* drop frame 2 */
    struct mem d = {0};
    put(&d, m.p, starts[1]);
    put(&d, m.p + starts[2], m.len - starts[2]);
    ck_assert_int_ne(decode(&d, data, n, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "out of sequence"));
    free(d.p);
    /* repeat frame 1 */
    memset(&d, 0, sizeof d);
    put(&d, m.p, starts[1]);
    put(&d, m.p + starts[0], m.len - starts[0]);
    ck_assert_int_ne(decode(&d, data, n, err, sizeof err), 0);
    free(d.p);
    /* the stream without its END */
    memset(&d, 0, sizeof d);
    put(&d, m.p, starts[4]);
    ck_assert_int_ne(decode(&d, data, n, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    free(d.p);
    free(m.p);
    free(data);
}
END_TEST

START_TEST(test_end_must_match)
{
    /* a well-formed END from a different stream (other data, same frame count) is refused */
    size_t n = 2000, sa[8], sb[8], na, nb;
    uint8_t *a = make_data(n), *b = make_data(n);
    b[1500] ^= 1;
    struct mem ma = {0}, mb = {0}, mix = {0};
    build(&ma, a, n, 1000, 1, sa, &na, 0);
    build(&mb, b, n, 1000, 1, sb, &nb, 0);
    put(&mix, ma.p, sa[na - 1]);          /* a's head and data */
    put(&mix, mb.p + sb[nb - 1], mb.len - sb[nb - 1]); /* b's END */
    char err[512];
    ck_assert_int_ne(decode(&mix, a, n, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "END frame"));
    free(ma.p), free(mb.p), free(mix.p), free(a), free(b);
}
END_TEST

START_TEST(test_abort_and_ack)
{
    struct sst_enc e;
    ck_assert_int_eq(sst_enc_init(&e, 1), 0);
    struct mem m = {0};
    const uint8_t *f;
    size_t fl = sst_enc_head(&e, &HEAD, &f);
    put(&m, f, fl);
    fl = sst_enc_abort(&e, "mariadb-backup failed (exit 1)\n", &f);
    put(&m, f, fl);
    sst_enc_free(&e);
    char err[512];
    ck_assert_int_ne(decode(&m, NULL, 0, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "donor aborted"));
    ck_assert_ptr_nonnull(strstr(err, "mariadb-backup failed (exit 1)?"));
    free(m.p);

    uint8_t buf[SST_FRAME_HDR + 4 + SST_TEXT_MAX + SST_DIGEST_LEN];
    size_t n = sst_ack_encode(71, "frame 3: SHA-256 mismatch", buf, sizeof buf);
    ck_assert_uint_eq(sst_ack_len(buf), n);
    int32_t st;
    char msg[64];
    ck_assert_int_eq(sst_ack_decode(buf, n, &st, msg, sizeof msg), 0);
    ck_assert_int_eq(st, 71);
    ck_assert_str_eq(msg, "frame 3: SHA-256 mismatch");
    buf[SST_FRAME_HDR + 5] ^= 0x20;
    ck_assert_int_ne(sst_ack_decode(buf, n, &st, msg, sizeof msg), 0);
    ck_assert_int_ne(sst_ack_decode(buf, n - 1, &st, msg, sizeof msg), 0);
    buf[4] = 0xff; /* a length beyond the limit */
    ck_assert_uint_eq(sst_ack_len(buf), 0);
}
END_TEST

START_TEST(test_limits_refused)
{
    /* a header announcing more than SST_WIRE_MAX, with a valid digest, is refused before reading */
    struct mem m = {0};
    struct sst_enc e;
    ck_assert_int_eq(sst_enc_init(&e, 0), 0);
    const uint8_t *f;
    size_t fl = sst_enc_head(&e, &HEAD, &f);
    put(&m, f, fl);
    sst_enc_free(&e);
    uint8_t hdr[SST_FRAME_HDR] = {SST_F_DATA, 0};
    uint32_t big = SST_WIRE_MAX + 1;
    memcpy(hdr + 4, &big, 4); /* little-endian hosts only: the test runs on x86-64/arm64 */
    memcpy(hdr + 8, &big, 4);
    hdr[16] = 1;
    put(&m, hdr, sizeof hdr);
    char err[512];
    ck_assert_int_ne(decode(&m, NULL, 0, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "above the limit"));
    ck_assert_uint_eq(sst_enc_data(&e, "x", 0, &f), 0); /* freed encoder: no frames */
    free(m.p);
    /* over-long data is not framed */
    ck_assert_int_eq(sst_enc_init(&e, 1), 0);
    fl = sst_enc_head(&e, &HEAD, &f);
    uint8_t *d = calloc(1, SST_RAW_MAX + 1);
    ck_assert_uint_eq(sst_enc_data(&e, d, SST_RAW_MAX + 1, &f), 0);
    free(d);
    sst_enc_free(&e);
}
END_TEST

int main(void)
{
    if (sst_crypto_init() != 0) {
        fprintf(stderr, "libgcrypt cannot be initialised\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("sst_codec");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_every_bit_flip_refused);
    tcase_add_test(tc, test_truncation_refused);
    tcase_add_test(tc, test_lost_and_repeated_frames_refused);
    tcase_add_test(tc, test_end_must_match);
    tcase_add_test(tc, test_abort_and_ack);
    tcase_add_test(tc, test_limits_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
