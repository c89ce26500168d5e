/* tests/unit/check_gc_frame: the frame header of a stream link: lengths, the CRC check, and the
 * header and parse for TLS links that leave the CRC to the record's tag. */
#include "gcomm/gc_frame.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

static uint8_t frame[GC_FRAME_HDR + 1024];

static void make(size_t len)
{
    for (size_t i = 0; i < len; i++) frame[GC_FRAME_HDR + i] = (uint8_t)(i * 7 + 1);
    gc_frame_header(frame, frame + GC_FRAME_HDR, len);
}

START_TEST(roundtrip_and_crc)
{
    make(1024);
    const uint8_t *p;
    size_t plen, used;
    ck_assert_int_eq(gc_frame_parse(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_OK);
    ck_assert_uint_eq(plen, 1024);
    ck_assert_uint_eq(used, sizeof frame);
    ck_assert_ptr_eq(p, frame + GC_FRAME_HDR);
    ck_assert_int_eq(gc_frame_parse(frame, sizeof frame - 1, 65536, &p, &plen, &used), GC_FRAME_MORE);
    frame[GC_FRAME_HDR + 500] ^= 0x10; /* a flipped bit: plaintext links refuse the frame */
    ck_assert_int_eq(gc_frame_parse(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_BAD_CRC);
}
END_TEST

/* On a TLS link the AEAD tag has proved the bytes: the CRC is not checked again, and the
 * length checks stay. */
START_TEST(authed_skips_crc_only)
{
    make(1024);
    frame[GC_FRAME_HDR + 500] ^= 0x10;
    const uint8_t *p;
    size_t plen, used;
    ck_assert_int_eq(gc_frame_parse_authed(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_OK);
    ck_assert_uint_eq(plen, 1024);
    ck_assert_uint_eq(used, sizeof frame);
    ck_assert_int_eq(gc_frame_parse_authed(frame, 5, 65536, &p, &plen, &used), GC_FRAME_MORE);
    ck_assert_int_eq(gc_frame_parse_authed(frame, sizeof frame - 1, 65536, &p, &plen, &used), GC_FRAME_MORE);
    ck_assert_int_eq(gc_frame_parse_authed(frame, sizeof frame, 512, &p, &plen, &used), GC_FRAME_TOO_BIG);
    memset(frame, 0, 4); /* a zero length is no frame */
    ck_assert_int_eq(gc_frame_parse_authed(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_TOO_BIG);
}
END_TEST

/* A TLS link's header: the length, and 0 where the CRC goes (its receivers parse authed). */
START_TEST(authed_header)
{
    make(1024);
    uint8_t hdr[GC_FRAME_HDR];
    memcpy(hdr, frame, GC_FRAME_HDR);
    gc_frame_header_authed(frame, 1024);
    ck_assert(memcmp(frame, hdr, 4) == 0); /* the same length field */
    ck_assert(memcmp(frame + 4, (uint8_t[4]){0}, 4) == 0);
    const uint8_t *p;
    size_t plen, used;
    ck_assert_int_eq(gc_frame_parse_authed(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_OK);
    ck_assert_uint_eq(plen, 1024);
    ck_assert_uint_eq(used, sizeof frame);
    /* ...which is why it must never go on a plaintext link */
    ck_assert_int_eq(gc_frame_parse(frame, sizeof frame, 65536, &p, &plen, &used), GC_FRAME_BAD_CRC);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gc_frame");
    TCase *t = tcase_create("frame");
    tcase_add_test(t, roundtrip_and_crc);
    tcase_add_test(t, authed_skips_crc_only);
    tcase_add_test(t, authed_header);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
