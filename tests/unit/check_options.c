/* tests/unit/check_options: trireme's provider options (replicator/repl_options): Galera's
 * names and defaults, what MariaDB's MTR suites set, run-time rules and derived values. */
#include "replicator/repl_options.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC INT64_C(1000000000)

static const char *const MTR_STRING =
    "repl.causal_read_timeout=PT90S; base_port=16000; evs.suspect_timeout=PT10S; "
    "evs.inactive_timeout=PT30S; evs.install_timeout=PT15S; pc.wait_prim_timeout=PT60S; "
    "gcache.size=10M";

START_TEST(test_table)
{
    size_t n;
    const struct repl_option_info *t = repl_options_table(&n);
    ck_assert_uint_gt(n, 80);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(strcmp(t[i - 1].key.name, t[i].key.name) < 0, "%s before %s",
                      t[i - 1].key.name, t[i].key.name);
    tr_cfg *c = repl_options_new();
    ck_assert_ptr_nonnull(c);
    for (size_t i = 0; i < n; i++) {
        ck_assert(tr_cfg_has(c, t[i].key.name));
        ck_assert_int_eq(tr_cfg_is_set(c, t[i].key.name), t[i].key.def != NULL);
    }
    tr_cfg_free(c);
}
END_TEST

/* Galera 26.4.23 options_get() values (research-anchors C.5) and source defaults. */
START_TEST(test_galera_defaults)
{
    static const struct { const char *k, *v; } d[] = {
        {"base_port", "4567"}, {"cert.log_conflicts", "no"}, {"cert.optimistic_pa", "yes"},
        {"evs.auto_evict", "0"}, {"evs.delay_margin", "PT1S"}, {"evs.delayed_keep_period", "PT30S"},
        {"evs.inactive_check_period", "PT0.5S"}, {"evs.inactive_timeout", "PT15S"},
        {"evs.join_retrans_period", "PT1S"}, {"evs.max_install_timeouts", "3"},
        {"evs.send_window", "4"}, {"evs.stats_report_period", "PT1M"},
        {"evs.suspect_timeout", "PT5S"}, {"evs.user_send_window", "2"},
        {"evs.view_forget_timeout", "PT24H"}, {"evs.keepalive_period", "PT1S"},
        {"gcache.keep_pages_size", "0"}, {"gcache.mem_size", "0"}, {"gcache.name", "galera.cache"},
        {"gcache.page_size", "128M"}, {"gcache.recover", "yes"}, {"gcache.size", "128M"},
        {"gcs.fc_debug", "0"}, {"gcs.fc_factor", "1.0"}, {"gcs.fc_limit", "16"},
        {"gcs.fc_master_slave", "no"}, {"gcs.fc_single_primary", "no"},
        {"gcs.max_packet_size", "64500"}, {"gcs.max_throttle", "0.25"},
        {"gcs.recv_q_hard_limit", "9223372036854775807"}, {"gcs.recv_q_soft_limit", "0.25"},
        {"gcs.sync_donor", "no"}, {"gmcast.segment", "0"}, {"gmcast.peer_timeout", "PT3S"},
        {"gmcast.time_wait", "PT5S"}, {"pc.announce_timeout", "PT3S"}, {"pc.checksum", "false"},
        {"pc.ignore_quorum", "false"}, {"pc.ignore_sb", "false"}, {"pc.npvo", "false"},
        {"pc.recovery", "true"}, {"pc.wait_prim", "true"}, {"pc.wait_prim_timeout", "PT30S"},
        {"pc.weight", "1"}, {"protonet.backend", "asio"}, {"repl.causal_read_timeout", "PT30S"},
        {"repl.commit_order", "3"}, {"repl.key_format", "FLAT8"},
        {"repl.max_ws_size", "2147483647"}, {"repl.proto_max", "11"}, {"socket.checksum", "2"},
        {"socket.recv_buf_size", "auto"}, {"socket.send_buf_size", "auto"},
    };
    tr_cfg *c = repl_options_new();
    char buf[64];
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        ck_assert_msg(tr_cfg_get_string(c, d[i].k, buf, sizeof buf) >= 0, "%s unset", d[i].k);
        ck_assert_msg(strcmp(buf, d[i].v) == 0, "%s = %s, Galera has %s", d[i].k, buf, d[i].v);
    }
    /* Galera leaves these unset until connect or derives them */
    ck_assert(!tr_cfg_is_set(c, "evs.install_timeout"));
    ck_assert(!tr_cfg_is_set(c, "gmcast.listen_addr"));
    ck_assert(!tr_cfg_is_set(c, "base_host"));
    ck_assert(!tr_cfg_is_set(c, "pc.bootstrap"));
    ck_assert(!tr_cfg_is_set(c, "socket.ssl"));

    struct repl_options o;
    ck_assert_int_eq(repl_options_read(c, &o), 0);
    ck_assert_int_eq(o.base_port, 4567);
    ck_assert_str_eq(o.listen_addr, "tcp://0.0.0.0:4567");
    ck_assert_str_eq(o.ist_recv_addr, ""); /* no base_host yet */
    ck_assert_int_eq(o.evs_suspect_timeout_ns, 5 * SEC);
    ck_assert_int_eq(o.evs_inactive_timeout_ns, 15 * SEC);
    ck_assert_int_eq(o.evs_install_timeout_ns, 7 * SEC + SEC / 2);
    ck_assert_int_eq(o.evs_causal_keepalive_period_ns, SEC);
    ck_assert_int_eq(o.pc_wait_prim_timeout_ns, 30 * SEC);
    ck_assert_int_eq(o.pc_weight, 1);
    ck_assert_int_eq(o.gcs_fc_limit, 16);
    ck_assert(o.gcs_fc_factor == 1.0);
    ck_assert_int_eq(o.gcs_max_packet_size, 64500);
    ck_assert_int_eq(o.repl_causal_read_timeout_ns, 30 * SEC);
    ck_assert_int_eq(o.repl_commit_order, 3);
    ck_assert_int_eq(o.repl_max_ws_size, 2147483647);
    ck_assert_str_eq(o.repl_key_format, "FLAT8");
    ck_assert_int_eq(o.repl_proto_max, 11);
    ck_assert_int_eq(o.gcache_size, 128 << 20);
    ck_assert_int_eq(o.retain_limit, 64 << 20); /* trireme.retain_limit, ours */
    ck_assert_int_eq(o.busy_poll_us, 50);        /* trireme.busy_poll_us, ours */
    ck_assert(o.gcache_recover && o.pc_wait_prim && o.pc_recovery && o.cert_optimistic_pa);
    ck_assert(!o.pc_ignore_sb && !o.pc_ignore_quorum && !o.cert_log_conflicts && !o.socket_ssl);
    ck_assert_int_eq(repl_options_read(NULL, &o), -1);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_mtr_string)
{
    tr_cfg *c = repl_options_new();
    char err[256];
    ck_assert_msg(tr_cfg_parse(c, MTR_STRING, TR_CFG_AT_INIT, err, sizeof err) == 0, "%s", err);
    struct repl_options o;
    ck_assert_int_eq(repl_options_read(c, &o), 0);
    ck_assert_int_eq(o.repl_causal_read_timeout_ns, 90 * SEC);
    ck_assert_int_eq(o.base_port, 16000);
    ck_assert_int_eq(o.evs_suspect_timeout_ns, 10 * SEC);
    ck_assert_int_eq(o.evs_inactive_timeout_ns, 30 * SEC);
    ck_assert_int_eq(o.evs_install_timeout_ns, 15 * SEC);
    ck_assert_int_eq(o.pc_wait_prim_timeout_ns, 60 * SEC);
    ck_assert_int_eq(o.gcache_size, 10 << 20);
    ck_assert_str_eq(o.listen_addr, "tcp://0.0.0.0:16000");
    ck_assert_int_eq(repl_options_ist_port(c), 16001);
    char *u = repl_options_unimplemented_in_use(c); /* gcache.size bounds the IST store now */
    ck_assert_ptr_null(u);
    free(u);
    tr_cfg_free(c);
}
END_TEST

/* Every key in /work/shared/docs/mtr-provider-options.txt with a value MTR uses. */
START_TEST(test_mtr_keys)
{
    static const char *const ok[] = {
        "repl.causal_read_timeout=PT90S", "base_port=16000", "gcache.size=10M",
        "pc.wait_prim_timeout=PT60S", "evs.inactive_timeout=PT30S", "evs.suspect_timeout=PT10S",
        "evs.install_timeout=PT15S", "pc.ignore_sb=true", "gmcast.isolate=1", "pc.weight=3",
        "gmcast.listen_addr=tcp://127.0.0.1:16002", "socket.ssl=yes",
        "socket.ssl_cert=/std_data/galera-cert.pem", "socket.ssl_key=/std_data/galera-key.pem",
        "ist.recv_addr=127.0.0.1:16003", "socket.ssl_ca=/std_data/galera-ca.pem",
        "repl.max_ws_size=512", "gmcast.segment=1", "gcache.recover=yes", "gcs.fc_limit=1",
        "gcs.max_packet_size=64", "pc.bootstrap=1", "cert.log_conflicts=ON", "gcs.stateless=yes",
        "ist.recv_bind=127.0.0.1", "pc.ignore_quorum=TRUE", "pc.recovery=FALSE",
        "pc.wait_prim=FALSE", "repl.key_format=FLAT16", "socket.dynamic=true",
        "socket.ssl_cipher=AES256-SHA", "socket.ssl_reload=1",
        "gmcast.listen_addr=tcp://[::]:16000", "ist.recv_addr=[::1]:16001", "gmcast.isolate=2",
        "pc.bootstrap=YES", "gmcast.isolate=0",
    };
    static const char *const rejected[] = {"a", "gmcasts.segment", "dbug", "signal"};
    char err[256], opt[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        tr_cfg *c = repl_options_new();
        ck_assert_msg(tr_cfg_parse(c, ok[i], TR_CFG_AT_INIT, err, sizeof err) == 0, "%s: %s", ok[i], err);
        tr_cfg_free(c);
    }
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        tr_cfg *c = repl_options_new();
        char want[96];
        snprintf(opt, sizeof opt, "%s=1", rejected[i]);
        snprintf(want, sizeof want, "Unrecognized parameter '%s'", rejected[i]);
        ck_assert_int_eq(tr_cfg_parse(c, opt, TR_CFG_AT_INIT, err, sizeof err), -1);
        ck_assert_str_eq(err, want);
        ck_assert_int_eq(tr_cfg_parse(c, opt, TR_CFG_AT_RUNTIME, err, sizeof err), -1);
        ck_assert_str_eq(err, want);
        ck_assert(!repl_options_unimplemented(rejected[i]));
        tr_cfg_free(c);
    }
}
END_TEST

START_TEST(test_bad_values)
{
    static const char *const bad[] = {
        "evs.suspect_timeout=PTx", "evs.suspect_timeout=", "evs.suspect_timeout=PT0.01S",
        "pc.weight=256", "pc.weight=-1", "gmcast.isolate=3", "base_port=65536", "base_port=x",
        "gcache.size=-1M", "gcache.size=10Q", "gcache.size=", "gcs.fc_factor=1.5",
        "gcs.fc_limit=0", "repl.key_format=FLAT32", "repl.commit_order=4", "pc.ignore_sb=maybe",
        "gmcast.listen_addr=tcp://", "ist.recv_addr=host:99999", "socket.recv_buf_size=-5",
        "repl.max_ws_size=0", "repl.causal_read_timeout=30 seconds", "trireme.retain_limit=-1",
        "trireme.retain_limit=lots", "trireme.busy_poll_us=-1", "trireme.busy_poll_us=10001",
    };
    char err[256];
    tr_cfg *c = repl_options_new();
    char *before = tr_cfg_format(c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(tr_cfg_parse(c, bad[i], TR_CFG_AT_INIT, err, sizeof err) == -1, "%s accepted", bad[i]);
        char key[64];
        snprintf(key, sizeof key, "'%.*s'", (int)(strchr(bad[i], '=') - bad[i]), bad[i]);
        ck_assert_msg(strstr(err, key) != NULL, "'%s' does not name %s", err, key);
    }
    ck_assert_int_eq(tr_cfg_parse(c, "evs.suspect_timeout=PTx", TR_CFG_AT_INIT, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "Bad value 'PTx' for 'evs.suspect_timeout': expected an ISO-8601 duration such as PT5S",
                          strlen("Bad value 'PTx' for 'evs.suspect_timeout': expected an ISO-8601 duration such as PT5S")) == 0,
                  "%s", err);
    /* all-or-nothing over the MTR string plus one bad item */
    char opts[512];
    snprintf(opts, sizeof opts, "%s; pc.weight=300", MTR_STRING);
    ck_assert_int_eq(tr_cfg_parse(c, opts, TR_CFG_AT_INIT, err, sizeof err), -1);
    char *after = tr_cfg_format(c);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_runtime)
{
    static const char *const dynamic[] = {
        "gmcast.isolate=1", "pc.weight=3", "pc.bootstrap=1", "pc.ignore_sb=yes",
        "pc.ignore_quorum=yes", "repl.causal_read_timeout=PT1S", "repl.max_ws_size=512",
        "repl.key_format=FLAT16", "gcs.fc_limit=100", "gcs.fc_factor=0.8",
        "gcs.fc_single_primary=yes", "gcs.fc_master_slave=yes", "gcs.max_packet_size=32000",
        "cert.log_conflicts=yes", "cert.optimistic_pa=no", "evs.suspect_timeout=PT3S",
        "evs.inactive_timeout=PT20S", "evs.install_timeout=PT10S", "evs.keepalive_period=PT2S",
        "evs.send_window=8", "evs.user_send_window=4", "gcache.page_size=64M",
        "gcache.keep_pages_size=1G", "gcache.mem_size=0", "socket.ssl_reload=1",
        "gcs.sync_donor=yes", "gcs.recv_q_hard_limit=1G", "gcs.max_throttle=0.5",
        "evs.evict=", "evs.auto_evict=2",
    };
    static const char *const fixed[] = {
        "gcache.size=1G", "gcache.name=x", "gcache.dir=/tmp", "gcache.recover=no", "base_port=5000",
        "base_host=10.0.0.1", "gmcast.listen_addr=tcp://1.2.3.4:1", "gmcast.segment=2",
        "pc.wait_prim_timeout=PT1S", "pc.wait_prim=no", "pc.recovery=no", "repl.commit_order=2",
        "repl.proto_max=10", "ist.recv_addr=1.2.3.4", "socket.ssl=yes", "socket.ssl_cert=/x",
        "evs.inactive_check_period=PT1S", "evs.view_forget_timeout=PT1H", "pc.checksum=yes",
        "trireme.retain_limit=1G", "trireme.busy_poll_us=0",
    };
    char err[256];
    tr_cfg *c = repl_options_new();
    ck_assert_int_eq(tr_cfg_parse(c, MTR_STRING, TR_CFG_AT_INIT, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof dynamic / sizeof dynamic[0]; i++)
        ck_assert_msg(tr_cfg_parse(c, dynamic[i], TR_CFG_AT_RUNTIME, err, sizeof err) == 0, "%s: %s",
                      dynamic[i], err);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        ck_assert_msg(tr_cfg_parse(c, fixed[i], TR_CFG_AT_RUNTIME, err, sizeof err) == -1, "%s accepted",
                      fixed[i]);
        char want[128];
        snprintf(want, sizeof want, "Parameter '%.*s' cannot be changed at run time",
                 (int)(strchr(fixed[i], '=') - fixed[i]), fixed[i]);
        ck_assert_str_eq(err, want);
    }
    /* MariaDB may pass the current values back: unchanged static keys are fine */
    ck_assert_int_eq(tr_cfg_parse(c, "gcache.size=10M; base_port=16000; pc.weight=2", TR_CFG_AT_RUNTIME,
                                  err, sizeof err), 0);
    int64_t w;
    ck_assert_int_eq(tr_cfg_get_int(c, "pc.weight", &w), 0);
    ck_assert_int_eq(w, 2);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_derived)
{
    tr_cfg *c = repl_options_new();
    char err[256], buf[128];
    ck_assert_int_eq(repl_options_listen_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://0.0.0.0:4567");
    ck_assert_int_eq(repl_options_ist_port(c), 4568);
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), -1);
    ck_assert_int_eq(repl_options_advertised_addr(c, buf, sizeof buf), -1);
    ck_assert_int_eq(tr_cfg_parse(c, "base_host=192.168.0.5; base_port=16000; gmcast.listen_addr=tcp://127.0.0.1",
                                  TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_listen_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://127.0.0.1:16000");
    ck_assert_int_eq(repl_options_advertised_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "192.168.0.5:16000");
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://192.168.0.5:16001");
    /* TLS is on with a key or a certificate and socket.ssl unset (Galera's rule): ssl:// */
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl_cert=/x.pem", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "ssl://192.168.0.5:16001");
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl=no", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://192.168.0.5:16001");
    ck_assert_int_eq(tr_cfg_parse(c, "ist.recv_addr=[::1]; socket.ssl=yes; gmcast.listen_addr=[::]:17000",
                                  TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "ssl://[::1]:16001");
    ck_assert_int_eq(repl_options_listen_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://[::]:17000");
    ck_assert_int_eq(repl_options_listen_addr(c, buf, 5), -1); /* does not fit */
    ck_assert_int_eq(tr_cfg_parse(c, "ist.recv_addr=tcp://10.0.0.1:5555", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_ist_recv_addr(c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "tcp://10.0.0.1:5555");
    ck_assert_int_eq(tr_cfg_parse(c, "base_port=65535", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_ist_port(c), -1);
    /* install timeout follows inactive/2 until set */
    ck_assert_int_eq(tr_cfg_parse(c, "evs.inactive_timeout=PT30S", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_evs_install_timeout_ns(c), 15 * SEC);
    ck_assert_int_eq(tr_cfg_parse(c, "evs.install_timeout=PT7S", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(repl_options_evs_install_timeout_ns(c), 7 * SEC);
    /* gcache dir falls back to base_dir; max_ws_size clamps like Galera */
    ck_assert_int_eq(tr_cfg_set_internal(c, "base_dir", "/var/lib/mysql", err, sizeof err), 0);
    ck_assert_int_eq(tr_cfg_parse(c, "repl.max_ws_size=4G", TR_CFG_AT_INIT, err, sizeof err), 0);
    struct repl_options o;
    ck_assert_int_eq(repl_options_read(c, &o), 0);
    ck_assert_str_eq(o.gcache_dir, "/var/lib/mysql");
    ck_assert_int_eq(o.repl_max_ws_size, 2147483647);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_unimplemented)
{
    ck_assert(!repl_options_unimplemented("gcache.size"));
    ck_assert(!repl_options_unimplemented("gcache.page_size")); /* the on-disk store's pages */
    ck_assert(repl_options_unimplemented("gcache.mem_size"));
    ck_assert(!repl_options_unimplemented("socket.ssl")); /* TLS on gcomm links */
    ck_assert(!repl_options_unimplemented("socket.ssl_cert"));
    ck_assert(repl_options_unimplemented("socket.ssl_compression"));
    ck_assert(!repl_options_unimplemented("pc.weight"));
    ck_assert(!repl_options_unimplemented("gmcast.isolate"));
    ck_assert(!repl_options_unimplemented("evs.suspect_timeout"));
    ck_assert(!repl_options_unimplemented("no.such.key"));
    ck_assert(!repl_options_unimplemented(NULL));
    tr_cfg *c = repl_options_new();
    ck_assert_ptr_null(repl_options_unimplemented_in_use(c)); /* defaults are not "in use" */
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl=yes; pc.weight=2; gcache.size=10M; socket.checksum=1; "
                                  "socket.ssl_compression=no", TR_CFG_AT_INIT, NULL, 0), 0);
    char *u = repl_options_unimplemented_in_use(c);
    ck_assert_str_eq(u, "socket.checksum, socket.ssl_compression");
    free(u);
    tr_cfg_free(c);
}
END_TEST

START_TEST(test_spaces_repeats_roundtrip)
{
    tr_cfg *c = repl_options_new();
    char err[256];
    int64_t v;
    ck_assert_int_eq(tr_cfg_parse(c, "  pc.weight =2;pc.weight= 3 ; gcs.fc_limit =  7 ;;  ", TR_CFG_AT_INIT,
                                  err, sizeof err), 0);
    tr_cfg_get_int(c, "pc.weight", &v);
    ck_assert_int_eq(v, 3);
    tr_cfg_get_int(c, "gcs.fc_limit", &v);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(tr_cfg_parse(c, MTR_STRING, TR_CFG_AT_INIT, err, sizeof err), 0);
    char *f = tr_cfg_format(c);
    ck_assert_ptr_nonnull(strstr(f, "base_port = 16000; cert.log_conflicts = no; "));
    ck_assert_ptr_nonnull(strstr(f, "gcache.size = 10M; "));
    ck_assert_ptr_nonnull(strstr(f, "repl.causal_read_timeout = PT90S; "));
    tr_cfg *c2 = repl_options_new();
    ck_assert_msg(tr_cfg_parse(c2, f, TR_CFG_AT_INIT, err, sizeof err) == 0, "%s", err);
    char *f2 = tr_cfg_format(c2);
    ck_assert_str_eq(f, f2);
    /* the whole formatted string is also accepted at run time when nothing changes */
    ck_assert_msg(tr_cfg_parse(c, f, TR_CFG_AT_RUNTIME, err, sizeof err) == 0, "%s", err);
    free(f);
    free(f2);
    tr_cfg_free(c2);
    tr_cfg_free(c);
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *t = tcase_create("options");
    tcase_add_test(t, test_table);
    tcase_add_test(t, test_galera_defaults);
    tcase_add_test(t, test_mtr_string);
    tcase_add_test(t, test_mtr_keys);
    tcase_add_test(t, test_bad_values);
    tcase_add_test(t, test_runtime);
    tcase_add_test(t, test_derived);
    tcase_add_test(t, test_unimplemented);
    tcase_add_test(t, test_spaces_repeats_roundtrip);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(options_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
