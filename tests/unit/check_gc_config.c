/* tests/unit/check_gc_config: gcomm:// addresses (gcomm/gc_config.c): IPv4 and IPv6 hosts, the
 * one normal form they are compared in, ?key=value options, the advertised address. */
#include "gcomm/gc_config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void split_ok(const char *a, const char *host, unsigned port)
{
    char h[GC_ADDR_MAX];
    uint16_t p;
    ck_assert_msg(gc_addr_split(a, h, sizeof h, &p) == 0, "%s", a);
    ck_assert_str_eq(h, host);
    ck_assert_uint_eq(p, port);
}

START_TEST(split)
{
    split_ok("tcp://0.0.0.0:4567", "0.0.0.0", 4567);
    split_ok("ssl://10.0.0.1:5000", "10.0.0.1", 5000);
    split_ok("db1.example", "db1.example", 4567);
    split_ok("tcp://[::]:4567", "::", 4567);
    split_ok("[::1]:4568", "::1", 4568);
    split_ok("[fe80::1%lo]", "fe80::1%lo", 4567);
    split_ok("::1", "::1", 4567); /* a bare IPv6 address has no port */
    static const char *const bad[] = {"", ":4567", "[::1", "[::1]x", "[]:1", "h:0", "h:65536", "h:", "h:1x",
                                      "[::1]:", "a]:1", "[a[b]:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[GC_ADDR_MAX];
        uint16_t p;
        ck_assert_msg(gc_addr_split(bad[i], h, sizeof h, &p) == -1, "'%s' accepted", bad[i]);
    }
    char j[GC_ADDR_MAX];
    ck_assert_int_eq(gc_addr_join(j, sizeof j, "::1", 4567), 0);
    ck_assert_str_eq(j, "[::1]:4567");
    ck_assert_int_eq(gc_addr_join(j, sizeof j, "127.0.0.1", 1), 0);
    ck_assert_str_eq(j, "127.0.0.1:1");
    ck_assert_int_eq(gc_addr_join(j, 8, "127.0.0.1", 1), -1);
}
END_TEST

START_TEST(url)
{
    struct gc_config c;
    gc_config_defaults(&c);
    const char *u = "gcomm://10.0.0.1,[::1]:4568,tcp://[fe80::2]?gmcast.listen_addr=tcp://[::]:4567&pc.wait_prim=no";
    ck_assert_int_eq(gc_config_set_url(&c, u), 0);
    ck_assert_int_eq(c.nseeds, 3);
    ck_assert_str_eq(c.seeds[0], "10.0.0.1:4567");
    ck_assert_str_eq(c.seeds[1], "[::1]:4568");
    ck_assert_str_eq(c.seeds[2], "[fe80::2]:4567");
    struct gc_url_opt o[GC_URL_OPTS_MAX];
    char err[256];
    ck_assert_int_eq(gc_url_options(u, o, GC_URL_OPTS_MAX, err, sizeof err), 2);
    ck_assert_str_eq(o[0].key, "gmcast.listen_addr");
    ck_assert_str_eq(o[0].value, "tcp://[::]:4567");
    ck_assert_str_eq(o[1].key, "pc.wait_prim");
    ck_assert_str_eq(o[1].value, "no");
    ck_assert_int_eq(gc_config_set_url(&c, "gcomm://?pc.bootstrap=1&&"), 0);
    ck_assert_int_eq(c.nseeds, 0);
    ck_assert_int_eq(gc_url_options("gcomm://?pc.bootstrap=1&&", o, GC_URL_OPTS_MAX, err, sizeof err), 1);
    ck_assert_int_eq(gc_url_options("gcomm://h", o, GC_URL_OPTS_MAX, err, sizeof err), 0);
    ck_assert_int_eq(gc_url_options("gcomm://h?novalue", o, GC_URL_OPTS_MAX, err, sizeof err), -1);
    ck_assert_str_eq(err, "'novalue' in the cluster address is not key=value");
    ck_assert_int_eq(gc_url_options("gcomm://h?=v", o, GC_URL_OPTS_MAX, err, sizeof err), -1);
    ck_assert_int_eq(gc_url_options("gcomm://h?a=1&b=2&c=3", o, 2, err, sizeof err), -1);
    ck_assert_int_eq(gc_config_set_url(&c, "gcomm://[::1:4567"), -1);
    ck_assert_int_eq(gc_config_set_url(&c, "mysql://h"), -1);
}
END_TEST

START_TEST(advertised)
{
    struct gc_config c;
    gc_config_defaults(&c);
    char a[GC_ADDR_MAX];
    snprintf(c.listen_addr, sizeof c.listen_addr, "tcp://[::]:4600");
    snprintf(c.base_host, sizeof c.base_host, "[2001:db8::7]");
    ck_assert_int_eq(gc_config_advertised(&c, a, sizeof a), 0);
    ck_assert_str_eq(a, "[2001:db8::7]:4600");
    snprintf(c.base_host, sizeof c.base_host, "2001:db8::7");
    ck_assert_int_eq(gc_config_advertised(&c, a, sizeof a), 0);
    ck_assert_str_eq(a, "[2001:db8::7]:4600");
    snprintf(c.listen_addr, sizeof c.listen_addr, "tcp://[::1]:4601");
    ck_assert_int_eq(gc_config_advertised(&c, a, sizeof a), 0);
    ck_assert_str_eq(a, "[::1]:4601");
    snprintf(c.listen_addr, sizeof c.listen_addr, "tcp://0.0.0.0:4602");
    snprintf(c.base_host, sizeof c.base_host, "10.1.1.1");
    ck_assert_int_eq(gc_config_advertised(&c, a, sizeof a), 0);
    ck_assert_str_eq(a, "10.1.1.1:4602");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gc_config");
    TCase *t = tcase_create("addresses");
    tcase_add_test(t, split);
    tcase_add_test(t, url);
    tcase_add_test(t, advertised);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
