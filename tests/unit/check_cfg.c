/* tests/unit/check_cfg: the typed option store (common/tr_cfg): value parsers, option strings,
 * all-or-nothing, run-time rules, formatting round trips, listeners and concurrent use. */
#include "common/tr_cfg.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC INT64_C(1000000000)

/* ---- value parsers ---- */

START_TEST(test_bool)
{
    static const char *const t[] = {"1", "yes", "YES", "y", "true", "True", "on", "ON"};
    static const char *const f[] = {"0", "no", "No", "n", "false", "FALSE", "off", "Off"};
    static const char *const bad[] = {"", "2", "yess", "tru", " yes", "-1", "nope", "o"};
    bool b;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        b = false;
        ck_assert_int_eq(tr_cfg_parse_bool(t[i], &b), 0);
        ck_assert(b);
        ck_assert_int_eq(tr_cfg_parse_bool(f[i], &b), 0);
        ck_assert(!b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_bool(bad[i], &b) == -1, "'%s' accepted", bad[i]);
    ck_assert_int_eq(tr_cfg_parse_bool(NULL, &b), -1);
}
END_TEST

START_TEST(test_int)
{
    int64_t v;
    ck_assert_int_eq(tr_cfg_parse_int("0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(tr_cfg_parse_int("-5", &v), 0);
    ck_assert_int_eq(v, -5);
    ck_assert_int_eq(tr_cfg_parse_int("+7", &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(tr_cfg_parse_int("2k", &v), 0);
    ck_assert_int_eq(v, 2048);
    ck_assert_int_eq(tr_cfg_parse_int("9223372036854775807", &v), 0);
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert_int_eq(tr_cfg_parse_int("-9223372036854775807", &v), 0);
    ck_assert_int_eq(v, -INT64_MAX);
    static const char *const bad[] = {"", "-", "+", "abc", "1.5", "1KB", " 1", "1 ", "0x10",
                                      "9223372036854775808", "99999999999999999999999",
                                      "8388608T", "1Q", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_int(bad[i], &v) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_size)
{
    int64_t v;
    static const struct { const char *s; int64_t v; } ok[] = {
        {"0", 0},           {"123", 123},         {"1K", 1024},         {"1k", 1024},
        {"10M", 10 << 20},  {"10m", 10 << 20},    {"128M", 128 << 20},  {"2G", INT64_C(2) << 30},
        {"2g", INT64_C(2) << 30}, {"1T", INT64_C(1) << 40}, {"1t", INT64_C(1) << 40},
        {"8388607T", INT64_C(8388607) << 40}, {"9223372036854775807", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(tr_cfg_parse_size(ok[i].s, &v) == 0, "'%s' rejected", ok[i].s);
        ck_assert_int_eq(v, ok[i].v);
    }
    static const char *const bad[] = {"", "-1", "-1M", "+1", "1.5M", "M", "10MB", "10 M", "1P",
                                      "8388608T", "9223372036854775808", "18446744073709551616",
                                      "0x10", "ten"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_size(bad[i], &v) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_duration)
{
    int64_t v;
    static const struct { const char *s; int64_t ns; } ok[] = {
        {"PT5S", 5 * SEC},          {"PT0.5S", SEC / 2},        {"PT1M30S", 90 * SEC},
        {"P1D", 86400 * SEC},       {"PT1H", 3600 * SEC},       {"P1DT1H", 90000 * SEC},
        {"PT24H", 86400 * SEC},     {"PT1M", 60 * SEC},         {"PT0S", 0},
        {"5", 5 * SEC},             {"0.25", SEC / 4},          {"0", 0},
        {"PT1.123456789999S", SEC + 123456789}, {"PT0.1S", SEC / 10}, {"P1W", 7 * 86400 * SEC},
        {"PT90S", 90 * SEC},        {"PT1H2M3.5S", 3723 * SEC + SEC / 2},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(tr_cfg_parse_duration(ok[i].s, &v) == 0, "'%s' rejected", ok[i].s);
        ck_assert_msg(v == ok[i].ns, "'%s' = %lld", ok[i].s, (long long)v);
    }
    static const char *const bad[] = {"", "P", "PT", "PTx", "PT5", "5S", "P1S", "PT1S1M",
                                      "PT-5S", "-5", "PT1.S", "P1DT", "PT5S ", " PT5S", "pt5s",
                                      "PT99999999999S", "P99999999999Y", "PT5SX", "P1H",
                                      "PT1M1M", "P1D1D", ".5", "5.", "PT.5S", "1e3", "PT5.5M",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_duration(bad[i], &v) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_double)
{
    double d;
    ck_assert_int_eq(tr_cfg_parse_double("1.0", &d), 0);
    ck_assert(d == 1.0);
    ck_assert_int_eq(tr_cfg_parse_double("0.25", &d), 0);
    ck_assert(d == 0.25);
    ck_assert_int_eq(tr_cfg_parse_double("1e3", &d), 0);
    ck_assert(d == 1000.0);
    ck_assert_int_eq(tr_cfg_parse_double("-2", &d), 0);
    ck_assert(d == -2.0);
    static const char *const bad[] = {"", "nan", "inf", "-inf", "0x10", "1,5", "1.0.0", "abc",
                                      "1e999", " 1", "1 ", "e", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_double(bad[i], &d) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_addr)
{
    struct tr_cfg_addr a;
    ck_assert_int_eq(tr_cfg_parse_addr("tcp://0.0.0.0:4567", &a), 0);
    ck_assert_str_eq(a.scheme, "tcp");
    ck_assert_str_eq(a.host, "0.0.0.0");
    ck_assert_int_eq(a.port, 4567);
    ck_assert(!a.ipv6);
    ck_assert_int_eq(tr_cfg_parse_addr("[::1]:4568", &a), 0);
    ck_assert_str_eq(a.scheme, "");
    ck_assert_str_eq(a.host, "::1");
    ck_assert_int_eq(a.port, 4568);
    ck_assert(a.ipv6);
    ck_assert_int_eq(tr_cfg_parse_addr("ssl://[::]", &a), 0);
    ck_assert_int_eq(a.port, -1);
    ck_assert_int_eq(tr_cfg_parse_addr("127.0.0.1", &a), 0);
    ck_assert_int_eq(tr_cfg_parse_addr("node-1.example.com:0", &a), 0);
    ck_assert_int_eq(a.port, 0);
    static const char *const bad[] = {"", "tcp://", ":4567", "1.2.3.4:65536", "1.2.3.4:", "a b",
                                      "tcp:/x", "[::1", "[]:1", "ftp://h:1/path", "://h",
                                      "1tcp://h", "h:1:2", "::1", "h:-1", "h:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tr_cfg_parse_addr(bad[i], &a) == -1, "'%s' accepted", bad[i]);
}
END_TEST

/* ---- the store ---- */

static const char *const colours[] = {"red", "green", NULL};

static tr_cfg *make_store(void)
{
    static const struct tr_cfg_key keys[] = {
        {"t.bool", TR_CFG_BOOL, "no", TR_CFG_DYNAMIC, 0, 0, 0, 0, NULL},
        {"t.int", TR_CFG_INT, "3", TR_CFG_DYNAMIC, 0, 10, 0, 0, NULL},
        {"t.anyint", TR_CFG_INT, NULL, 0, 0, 0, 0, 0, NULL},
        {"t.size", TR_CFG_SIZE, "128M", 0, 0, 0, 0, 0, NULL},
        {"t.buf", TR_CFG_SIZE, "auto", TR_CFG_AUTO_OK, 0, 0, 0, 0, NULL},
        {"t.dur", TR_CFG_DURATION, "PT5S", TR_CFG_DYNAMIC, 0, 0, 0, 0, NULL},
        {"t.mindur", TR_CFG_DURATION, NULL, 0, SEC / 10, INT64_MAX, 0, 0, NULL},
        {"t.dbl", TR_CFG_DOUBLE, "1.0", TR_CFG_DYNAMIC, 0, 0, 0.0, 1.0, NULL},
        {"t.str", TR_CFG_STRING, NULL, TR_CFG_DYNAMIC, 0, 0, 0, 0, NULL},
        {"t.colour", TR_CFG_STRING, "red", 0, 0, 0, 0, 0, colours},
        {"t.addr", TR_CFG_ADDRESS, NULL, 0, 0, 0, 0, 0, NULL},
        {"t.ro", TR_CFG_INT, "7", TR_CFG_READ_ONLY, 0, 0, 0, 0, NULL},
    };
    tr_cfg *c = tr_cfg_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tr_cfg_register_all(c, keys, sizeof keys / sizeof keys[0]), 0);
    return c;
}

START_TEST(test_register)
{
    tr_cfg *c = make_store();
    struct tr_cfg_key dup = {"t.int", TR_CFG_INT, NULL, 0, 0, 0, 0, 0, NULL};
    struct tr_cfg_key baddef = {"t.x", TR_CFG_DURATION, "5 seconds", 0, 0, 0, 0, 0, NULL};
    struct tr_cfg_key badname = {"a=b", TR_CFG_INT, NULL, 0, 0, 0, 0, 0, NULL};
    struct tr_cfg_key empty = {"", TR_CFG_INT, NULL, 0, 0, 0, 0, 0, NULL};
    ck_assert_int_eq(tr_cfg_register(c, &dup), -1);
    ck_assert_int_eq(tr_cfg_register(c, &baddef), -1);
    ck_assert_int_eq(tr_cfg_register(c, &badname), -1);
    ck_assert_int_eq(tr_cfg_register(c, &empty), -1);
    ck_assert_int_eq(tr_cfg_register(c, NULL), -1);
    ck_assert(!tr_cfg_has(c, "t.x"));
    ck_assert(tr_cfg_has(c, "t.int"));
    ck_assert_int_eq(tr_cfg_flags(c, "t.int"), TR_CFG_DYNAMIC);
    ck_assert_int_eq(tr_cfg_flags(c, "nope"), -1);
    tr_cfg_free(c);
    tr_cfg_free(NULL);
}
END_TEST

START_TEST(test_defaults_and_getters)
{
    tr_cfg *c = make_store();
    bool b = true;
    int64_t i;
    double d;
    char buf[8];
    ck_assert_int_eq(tr_cfg_get_bool(c, "t.bool", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(tr_cfg_get_int(c, "t.int", &i), 0);
    ck_assert_int_eq(i, 3);
    ck_assert_int_eq(tr_cfg_get_size(c, "t.size", &i), 0);
    ck_assert_int_eq(i, 128 << 20);
    ck_assert_int_eq(tr_cfg_get_int(c, "t.size", &i), 0); /* int getter reads sizes */
    ck_assert_int_eq(tr_cfg_get_size(c, "t.buf", &i), 0);
    ck_assert_int_eq(i, TR_CFG_SIZE_AUTO);
    ck_assert_int_eq(tr_cfg_get_duration_ns(c, "t.dur", &i), 0);
    ck_assert_int_eq(i, 5 * SEC);
    ck_assert_int_eq(tr_cfg_get_double(c, "t.dbl", &d), 0);
    ck_assert(d == 1.0);
    ck_assert_int_eq(tr_cfg_get_double(c, "t.int", &d), 0);
    ck_assert(d == 3.0);
    /* wrong type, unset, unknown */
    ck_assert_int_eq(tr_cfg_get_bool(c, "t.int", &b), -1);
    ck_assert_int_eq(tr_cfg_get_duration_ns(c, "t.size", &i), -1);
    ck_assert_int_eq(tr_cfg_get_size(c, "t.int", &i), -1);
    ck_assert_int_eq(tr_cfg_get_int(c, "t.anyint", &i), -1);
    ck_assert_int_eq(tr_cfg_get_int(c, "nope", &i), -1);
    ck_assert_int_eq(tr_cfg_get_int(c, NULL, &i), -1);
    ck_assert_int_eq(tr_cfg_get_int(c, "t.int", NULL), -1);
    ck_assert_int_eq(tr_cfg_get_string(c, "t.str", buf, sizeof buf), -1);
    ck_assert_ptr_null(tr_cfg_dup_string(c, "t.str"));
    ck_assert(!tr_cfg_is_set(c, "t.str"));
    ck_assert(tr_cfg_is_set(c, "t.dur"));
    ck_assert(!tr_cfg_is_user_set(c, "t.dur"));
    /* truncation like snprintf */
    ck_assert_int_eq(tr_cfg_get_string(c, "t.size", buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "128M");
    ck_assert_int_eq(tr_cfg_parse(c, "t.str=0123456789", TR_CFG_AT_INIT, NULL, 0), 0);
    ck_assert_int_eq(tr_cfg_get_string(c, "t.str", buf, sizeof buf), 10);
    ck_assert_str_eq(buf, "0123456");
    ck_assert_int_eq(tr_cfg_get_string(c, "t.str", NULL, 0), 10);
    char *s = tr_cfg_dup_string(c, "t.str");
    ck_assert_str_eq(s, "0123456789");
    free(s);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_parse_syntax)
{
    tr_cfg *c = make_store();
    char err[256], buf[64];
    int64_t i;
    ck_assert_int_eq(tr_cfg_parse(c, "  t.int = 4 ;; ;t.dur=PT1M30S;  t.str =  hello world ; ",
                                  TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_get_int(c, "t.int", &i), 0);
    ck_assert_int_eq(i, 4);
    ck_assert_int_eq(tr_cfg_get_duration_ns(c, "t.dur", &i), 0);
    ck_assert_int_eq(i, 90 * SEC);
    tr_cfg_get_string(c, "t.str", buf, sizeof buf);
    ck_assert_str_eq(buf, "hello world");
    ck_assert(tr_cfg_is_user_set(c, "t.int"));
    /* repeated keys: last wins; empty strings; '=' inside values; escapes */
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=1;t.int=2;t.int = 9", TR_CFG_AT_INIT, err, sizeof err), 0);
    tr_cfg_get_int(c, "t.int", &i);
    ck_assert_int_eq(i, 9);
    ck_assert_int_eq(tr_cfg_parse(c, "t.str=", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_get_string(c, "t.str", buf, sizeof buf), 0);
    ck_assert_int_eq(tr_cfg_parse(c, "t.str=a=b", TR_CFG_AT_INIT, err, sizeof err), 0);
    tr_cfg_get_string(c, "t.str", buf, sizeof buf);
    ck_assert_str_eq(buf, "a=b");
    ck_assert_int_eq(tr_cfg_parse(c, "t.str = x\\;y\\\\z\\ ", TR_CFG_AT_INIT, err, sizeof err), 0);
    tr_cfg_get_string(c, "t.str", buf, sizeof buf);
    ck_assert_str_eq(buf, "x;y\\z ");
    ck_assert_int_eq(tr_cfg_parse(c, "t.colour=GREEN", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_parse(c, "t.buf=64K; t.addr=tcp://[::1]:4567", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_parse(c, "", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_parse(c, " ; ;", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_parse(c, NULL, TR_CFG_AT_INIT, err, sizeof err), 0);
    /* tr_cfg_set trims too */
    ck_assert_int_eq(tr_cfg_set(c, " t.int ", " 5 ", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    tr_cfg_get_int(c, "t.int", &i);
    ck_assert_int_eq(i, 5);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_errors)
{
    tr_cfg *c = make_store();
    char err[256];
    ck_assert_int_eq(tr_cfg_parse(c, "a=1", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_str_eq(err, "Unrecognized parameter 'a'");
    ck_assert_int_eq(tr_cfg_parse(c, "t.dur=PTx", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_str_eq(err, "Bad value 'PTx' for 't.dur': expected an ISO-8601 duration such as PT5S");
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=11", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_str_eq(err, "Bad value '11' for 't.int': expected an integer in [0, 10]");
    ck_assert_int_eq(tr_cfg_parse(c, "t.size=-1", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'t.size'"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.mindur=PT0.05S", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'t.mindur'"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.bool=maybe", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected a boolean"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.dbl=1.5", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected a number in [0, 1]"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.colour=blue", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_str_eq(err, "Bad value 'blue' for 't.colour': expected one of red, green");
    ck_assert_int_eq(tr_cfg_parse(c, "t.addr=", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'t.addr'"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.int", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Missing value for 't.int'"));
    ck_assert_int_eq(tr_cfg_parse(c, "= 4", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Empty parameter name"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_int_eq(tr_cfg_parse(c, "t.ro=8", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_str_eq(err, "Parameter 't.ro' is read-only");
    ck_assert_int_eq(tr_cfg_parse(c, "t.ro=7", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_set_internal(c, "t.ro", "8", err, sizeof err), 0);
    /* tiny and missing error buffers are fine */
    ck_assert_int_eq(tr_cfg_parse(c, "zzz=1", TR_CFG_AT_INIT, err, 4), -1);
    ck_assert_str_eq(err, "Unr");
    ck_assert_int_eq(tr_cfg_parse(c, "zzz=1", TR_CFG_AT_INIT, NULL, 0), -1);
    ck_assert_int_eq(tr_cfg_parse(NULL, "zzz=1", TR_CFG_AT_INIT, err, sizeof err), -1);
    tr_cfg_free(c);
}
END_TEST

static atomic_int calls;
static char last_key[64];
static enum tr_cfg_phase last_phase;
static void count_listener(tr_cfg *cfg, const char *key, enum tr_cfg_phase phase, void *arg)
{
    (void)cfg;
    atomic_fetch_add(&calls, 1);
    snprintf(last_key, sizeof last_key, "%s", key);
    last_phase = phase;
    *(int *)arg += 1;
}

START_TEST(test_all_or_nothing)
{
    tr_cfg *c = make_store();
    char err[256];
    int64_t i;
    int n = 0;
    ck_assert_int_eq(tr_cfg_add_listener(c, count_listener, &n), 0);
    char *before = tr_cfg_format(c);
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=4; t.str=x; t.dur=PT1S; t.bool=perhaps", TR_CFG_AT_INIT,
                                  err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'t.bool'"));
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=4; nope=1", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=4; t.size=1M", TR_CFG_AT_RUNTIME, err, sizeof err), -1);
    char *after = tr_cfg_format(c);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(n, 0);
    tr_cfg_get_int(c, "t.int", &i);
    ck_assert_int_eq(i, 3);
    ck_assert(!tr_cfg_is_user_set(c, "t.int"));
    free(before);
    free(after);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_runtime_rules)
{
    tr_cfg *c = make_store();
    char err[256];
    int n = 0;
    atomic_store(&calls, 0);
    ck_assert_int_eq(tr_cfg_add_listener(c, count_listener, &n), 0);
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=4; t.dur=PT10S", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(last_key, "t.dur");
    ck_assert_int_eq(last_phase, TR_CFG_AT_RUNTIME);
    ck_assert_int_eq(tr_cfg_parse(c, "t.size=1M", TR_CFG_AT_RUNTIME, err, sizeof err), -1);
    ck_assert_str_eq(err, "Parameter 't.size' cannot be changed at run time");
    ck_assert_int_eq(tr_cfg_set(c, "t.size", "1M", TR_CFG_AT_RUNTIME, err, sizeof err), -1);
    ck_assert_str_eq(err, "Parameter 't.size' cannot be changed at run time");
    /* re-stating the current value of a static key is not a change (Galera does the same) */
    ck_assert_int_eq(tr_cfg_parse(c, "t.size=128M; t.int=5", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(last_key, "t.int");
    ck_assert_int_eq(tr_cfg_parse(c, "t.size=1M", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(last_phase, TR_CFG_AT_INIT);
    n = 0; /* internal sets and unchanged dynamic keys (actions) */
    ck_assert_int_eq(tr_cfg_set_internal(c, "t.size", "2M", err, sizeof err), 0);
    ck_assert_int_eq(n, 0);
    ck_assert(tr_cfg_is_user_set(c, "t.size"));
    ck_assert_int_eq(tr_cfg_set(c, "t.bool", "no", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_set(c, "t.bool", "no", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    /* each key notified once per parse, in order of last occurrence */
    n = 0;
    ck_assert_int_eq(tr_cfg_parse(c, "t.int=1; t.dur=PT1S; t.int=2", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(last_key, "t.int");
    for (int k = 0; k < 7; k++) ck_assert_int_eq(tr_cfg_add_listener(c, count_listener, &n), 0);
    ck_assert_int_eq(tr_cfg_add_listener(c, count_listener, &n), -1);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_format_roundtrip)
{
    tr_cfg *c = make_store();
    char err[256];
    char *f = tr_cfg_format(c);
    ck_assert_str_eq(f, "t.bool = no; t.buf = auto; t.colour = red; t.dbl = 1.0; t.dur = PT5S; "
                        "t.int = 3; t.ro = 7; t.size = 128M");
    free(f);
    ck_assert_int_eq(tr_cfg_parse(c, "t.str = \\ a;b\\;c\\\\d\\= \\ ; t.int= 10 ;t.addr=h:1; t.anyint=-3",
                                  TR_CFG_AT_INIT, err, sizeof err), -1); /* "b" is not a key */
    ck_assert_int_eq(tr_cfg_parse(c, "t.str = \\ a\\;b\\;c\\\\d= \\ ; t.int= 10 ;t.addr=h:1; t.anyint=-3",
                                  TR_CFG_AT_INIT, err, sizeof err), 0);
    char buf[64];
    tr_cfg_get_string(c, "t.str", buf, sizeof buf);
    ck_assert_str_eq(buf, " a;b;c\\d=  ");
    f = tr_cfg_format(c);
    tr_cfg *c2 = make_store();
    ck_assert_msg(tr_cfg_parse(c2, f, TR_CFG_AT_INIT, err, sizeof err) == 0, "%s: %s", f, err);
    char *f2 = tr_cfg_format(c2);
    ck_assert_str_eq(f, f2);
    tr_cfg_get_string(c2, "t.str", buf, sizeof buf);
    ck_assert_str_eq(buf, " a;b;c\\d=  ");
    free(f);
    free(f2);
    tr_cfg_free(c2);
    tr_cfg_free(c);
    ck_assert_ptr_null(tr_cfg_format(NULL));
}
END_TEST

START_TEST(test_long_input)
{
    tr_cfg *c = make_store();
    char err[256];
    size_t n = 200000;
    char *s = malloc(n + 1);
    for (size_t k = 0; k < n; k++) s[k] = "t.int=1;"[k % 8];
    s[n] = '\0';
    ck_assert_int_eq(tr_cfg_parse(c, s, TR_CFG_AT_INIT, err, sizeof err), 0);
    memset(s, 'x', n);
    ck_assert_int_eq(tr_cfg_parse(c, s, TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Unrecognized parameter"));
    memcpy(s, "t.str=", 6);
    ck_assert_int_eq(tr_cfg_parse(c, s, TR_CFG_AT_INIT, err, sizeof err), -1); /* too long */
    ck_assert_ptr_nonnull(strstr(err, "'t.str'"));
    free(s);
    tr_cfg_free(c);
}
END_TEST

/* ---- concurrency (run under TSan) ---- */

struct thr {
    tr_cfg *c;
    int id;
};

static void *writer(void *p)
{
    struct thr *t = p;
    char opts[128], err[256];
    for (int k = 0; k < 2000; k++) {
        snprintf(opts, sizeof opts, "t.int=%d; t.dur=PT%dS; t.str=w%d-%d; t.bool=%s", k % 11,
                 k % 60, t->id, k, k & 1 ? "yes" : "no");
        ck_assert_int_eq(tr_cfg_parse(t->c, opts, TR_CFG_AT_RUNTIME, err, sizeof err), 0);
        ck_assert_int_eq(tr_cfg_set(t->c, "t.dbl", k & 1 ? "0.5" : "0.25", TR_CFG_AT_RUNTIME, err, sizeof err), 0);
    }
    return NULL;
}

static void *reader(void *p)
{
    struct thr *t = p;
    char buf[64];
    for (int k = 0; k < 2000; k++) {
        int64_t i;
        bool b;
        double d;
        ck_assert_int_eq(tr_cfg_get_int(t->c, "t.int", &i), 0);
        ck_assert(i >= 0 && i <= 10);
        ck_assert_int_eq(tr_cfg_get_duration_ns(t->c, "t.dur", &i), 0);
        ck_assert_int_eq(tr_cfg_get_bool(t->c, "t.bool", &b), 0);
        ck_assert_int_eq(tr_cfg_get_double(t->c, "t.dbl", &d), 0);
        tr_cfg_get_string(t->c, "t.str", buf, sizeof buf);
        char *f = tr_cfg_format(t->c);
        ck_assert_ptr_nonnull(f);
        free(f);
    }
    return NULL;
}

static atomic_int seen;
static void seen_listener(tr_cfg *cfg, const char *key, enum tr_cfg_phase phase, void *arg)
{
    int64_t i;
    (void)phase;
    (void)arg;
    if (strcmp(key, "t.int") == 0) ck_assert_int_eq(tr_cfg_get_int(cfg, key, &i), 0);
    atomic_fetch_add(&seen, 1);
}

START_TEST(test_threads)
{
    tr_cfg *c = make_store();
    ck_assert_int_eq(tr_cfg_parse(c, "t.str=start", TR_CFG_AT_INIT, NULL, 0), 0);
    ck_assert_int_eq(tr_cfg_add_listener(c, seen_listener, NULL), 0);
    atomic_store(&seen, 0);
    pthread_t th[4];
    struct thr a[4];
    for (int k = 0; k < 4; k++) {
        a[k] = (struct thr){c, k};
        ck_assert_int_eq(pthread_create(&th[k], NULL, k < 2 ? writer : reader, &a[k]), 0);
    }
    for (int k = 0; k < 4; k++) pthread_join(th[k], NULL);
    ck_assert_int_eq(atomic_load(&seen), 2 * 2000 * 5);
    tr_cfg_free(c);
}
END_TEST

static Suite *cfg_suite(void)
{
    Suite *s = suite_create("cfg");
    TCase *p = tcase_create("parsers");
    tcase_add_test(p, test_bool);
    tcase_add_test(p, test_int);
    tcase_add_test(p, test_size);
    tcase_add_test(p, test_duration);
    tcase_add_test(p, test_double);
    tcase_add_test(p, test_addr);
    suite_add_tcase(s, p);
    TCase *st = tcase_create("store");
    tcase_add_test(st, test_register);
    tcase_add_test(st, test_defaults_and_getters);
    tcase_add_test(st, test_parse_syntax);
    tcase_add_test(st, test_errors);
    tcase_add_test(st, test_all_or_nothing);
    tcase_add_test(st, test_runtime_rules);
    tcase_add_test(st, test_format_roundtrip);
    tcase_add_test(st, test_long_input);
    tcase_add_test(st, test_threads);
    suite_add_tcase(s, st);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cfg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
