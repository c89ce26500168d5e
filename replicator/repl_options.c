/* replicator/repl_options: the table of provider options (names, types, defaults and dynamic
 * flags as in Galera 4, checked against its set_param handlers) and derived values. */
#include "replicator/repl_options.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS(sec) ((int64_t)(sec) * TR_CFG_NS_PER_SEC)
#define MS(ms) ((int64_t)(ms) * 1000000)
#define WS_SIZE_MAX INT64_C(2147483647)

#define D TR_CFG_DYNAMIC
#define YES true
#define NO false

static const char *const key_formats[] = {"FLAT8", "FLAT8A", "FLAT16", "FLAT16A", NULL};
static const char *const backends[] = {"asio", NULL};

/* Dynamic flags follow Galera's run-time handlers: ReplicatorSMM::param_set, gcs_param_set,
 * GCache::param_set, evs::Proto/pc::Proto/GMCast::set_param. Keys Galera leaves unset until
 * connect, or derives (evs.install_timeout = inactive/2), have no default here either. */
#define K(name, type, def, flags, impl) {{name, type, def, flags, 0, 0, 0, 0, NULL}, impl}
#define KR(name, type, def, flags, lo, hi, impl) {{name, type, def, flags, lo, hi, 0, 0, NULL}, impl}
#define KD(name, def, flags, lo, hi, impl) {{name, TR_CFG_DOUBLE, def, flags, 0, 0, lo, hi, NULL}, impl}
#define KC(name, def, flags, choices, impl) {{name, TR_CFG_STRING, def, flags, 0, 0, 0, 0, choices}, impl}

static const struct repl_option_info table[] = {
    /* node identity; base_host/base_port also come from MariaDB's node_address */
    K("base_dir", TR_CFG_STRING, NULL, 0, YES),
    K("base_host", TR_CFG_ADDRESS, NULL, 0, YES),
    KR("base_port", TR_CFG_INT, "4567", 0, 0, 65535, YES),

    /* certification */
    K("cert.log_conflicts", TR_CFG_BOOL, "no", D, YES),
    K("cert.optimistic_pa", TR_CFG_BOOL, "yes", D, NO),

    /* debug: log lines at debug level (gcomm's view-change reasons among them), as Galera's */
    K("debug", TR_CFG_BOOL, "no", D, YES),

    /* EVS membership and ordering */
    KR("evs.auto_evict", TR_CFG_INT, "0", D, 0, INT32_MAX, YES),
    K("evs.causal_keepalive_period", TR_CFG_DURATION, NULL, D, NO),
    K("evs.debug_log_mask", TR_CFG_STRING, "0x1", D, NO),
    K("evs.delay_margin", TR_CFG_DURATION, "PT1S", D, YES),
    K("evs.delayed_keep_period", TR_CFG_DURATION, "PT30S", D, YES),
    K("evs.evict", TR_CFG_STRING, NULL, D, YES),
    KR("evs.inactive_check_period", TR_CFG_DURATION, "PT0.5S", 0, MS(1), INT64_MAX, YES),
    KR("evs.inactive_timeout", TR_CFG_DURATION, "PT15S", D, MS(100), INT64_MAX, YES),
    K("evs.info_log_mask", TR_CFG_STRING, "0", D, NO),
    KR("evs.install_timeout", TR_CFG_DURATION, NULL, D, MS(1), INT64_MAX, YES),
    KR("evs.join_retrans_period", TR_CFG_DURATION, "PT1S", D, MS(100), INT64_MAX, YES),
    KR("evs.keepalive_period", TR_CFG_DURATION, "PT1S", D, MS(100), INT64_MAX, YES),
    KR("evs.max_install_timeouts", TR_CFG_INT, "3", D, 0, INT32_MAX, NO),
    KR("evs.send_window", TR_CFG_INT, "4", D, 1, INT32_MAX, YES),
    KR("evs.stats_report_period", TR_CFG_DURATION, "PT1M", D, NS(1), INT64_MAX, NO),
    KR("evs.suspect_timeout", TR_CFG_DURATION, "PT5S", D, MS(100), INT64_MAX, YES),
    K("evs.use_aggregate", TR_CFG_BOOL, "true", D, NO),
    KR("evs.user_send_window", TR_CFG_INT, "2", D, 1, INT32_MAX, YES),
    KR("evs.version", TR_CFG_INT, "1", D, 0, 1, NO),
    KR("evs.view_forget_timeout", TR_CFG_DURATION, "PT24H", 0, NS(1), INT64_MAX, NO),

    /* write-set cache */
    K("gcache.dir", TR_CFG_STRING, NULL, 0, YES),
    K("gcache.keep_pages_size", TR_CFG_SIZE, "0", D, YES),
    K("gcache.mem_size", TR_CFG_SIZE, "0", D, NO),
    K("gcache.name", TR_CFG_STRING, "galera.cache", 0, YES),
    K("gcache.page_size", TR_CFG_SIZE, "128M", D, YES),
    K("gcache.recover", TR_CFG_BOOL, "yes", 0, YES),
    K("gcache.size", TR_CFG_SIZE, "128M", 0, YES),

    K("gcomm.thread_prio", TR_CFG_STRING, NULL, 0, NO),

    /* group communication: flow control and packets */
    KR("gcs.fc_debug", TR_CFG_INT, "0", D, 0, INT64_MAX, NO),
    KD("gcs.fc_factor", "1.0", D, 0.0, 1.0, YES),
    KR("gcs.fc_limit", TR_CFG_INT, "16", D, 1, INT64_MAX, YES),
    K("gcs.fc_master_slave", TR_CFG_BOOL, "no", D, YES),
    K("gcs.fc_single_primary", TR_CFG_BOOL, "no", D, YES),
    KR("gcs.max_packet_size", TR_CFG_INT, "64500", D, 1, INT32_MAX, YES),
    KD("gcs.max_throttle", "0.25", D, 0.0, 1.0, NO),
    KR("gcs.recv_q_hard_limit", TR_CFG_SIZE, "9223372036854775807", D, 1, INT64_MAX, NO),
    KD("gcs.recv_q_soft_limit", "0.25", D, 0.0, 1.0, NO),
    K("gcs.stateless", TR_CFG_BOOL, NULL, 0, NO), /* set by MariaDB's galera_sst_stateless.cnf */
    K("gcs.sync_donor", TR_CFG_BOOL, "no", D, NO),

    /* transport between nodes */
    KR("gmcast.isolate", TR_CFG_INT, "0", D, 0, 2, YES),
    K("gmcast.listen_addr", TR_CFG_ADDRESS, NULL, 0, YES),
    KR("gmcast.peer_timeout", TR_CFG_DURATION, "PT3S", 0, MS(100), INT64_MAX, YES),
    KR("gmcast.segment", TR_CFG_INT, "0", 0, 0, 255, NO),
    K("gmcast.time_wait", TR_CFG_DURATION, "PT5S", 0, NO),

    /* incremental state transfer */
    K("ist.keep_keys", TR_CFG_BOOL, "yes", 0, NO),
    K("ist.recv_addr", TR_CFG_ADDRESS, NULL, 0, YES),
    K("ist.recv_bind", TR_CFG_ADDRESS, NULL, 0, YES),

    /* primary component */
    K("pc.announce_timeout", TR_CFG_DURATION, "PT3S", 0, YES),
    K("pc.bootstrap", TR_CFG_BOOL, NULL, D, YES),
    K("pc.checksum", TR_CFG_BOOL, "false", 0, NO),
    K("pc.ignore_quorum", TR_CFG_BOOL, "false", D, YES),
    K("pc.ignore_sb", TR_CFG_BOOL, "false", D, YES),
    K("pc.linger", TR_CFG_DURATION, "PT20S", 0, NO),
    K("pc.npvo", TR_CFG_BOOL, "false", 0, NO),
    K("pc.recovery", TR_CFG_BOOL, "true", 0, NO),
    KR("pc.version", TR_CFG_INT, "0", 0, 0, INT32_MAX, NO),
    K("pc.wait_prim", TR_CFG_BOOL, "true", 0, YES),
    K("pc.wait_prim_timeout", TR_CFG_DURATION, "PT30S", 0, YES),
    KR("pc.weight", TR_CFG_INT, "1", D, 0, 255, YES),

    KC("protonet.backend", "asio", 0, backends, NO),

    /* replicator */
    K("repl.causal_read_timeout", TR_CFG_DURATION, "PT30S", D, YES),
    KR("repl.commit_order", TR_CFG_INT, "3", 0, 0, 3, YES),
    KC("repl.key_format", "FLAT8", D, key_formats, NO),
    KR("repl.max_ws_size", TR_CFG_INT, "2147483647", D, 1, INT64_MAX, YES),
    KR("repl.proto_max", TR_CFG_INT, "11", 0, 1, INT32_MAX, NO),

    /* sockets and TLS (gcomm links and IST; common/tr_tls.c, docs/security.md) */
    KR("socket.checksum", TR_CFG_INT, "2", 0, 0, 2, NO),
    K("socket.dynamic", TR_CFG_BOOL, NULL, 0, YES),
    {{"socket.recv_buf_size", TR_CFG_SIZE, "auto", TR_CFG_AUTO_OK, 0, 0, 0, 0, NULL}, NO},
    {{"socket.send_buf_size", TR_CFG_SIZE, "auto", TR_CFG_AUTO_OK, 0, 0, 0, 0, NULL}, NO},
    K("socket.ssl", TR_CFG_BOOL, NULL, 0, YES),
    K("socket.ssl_ca", TR_CFG_STRING, NULL, 0, YES),
    K("socket.ssl_cert", TR_CFG_STRING, NULL, 0, YES),
    K("socket.ssl_cipher", TR_CFG_STRING, NULL, 0, YES),
    K("socket.ssl_compression", TR_CFG_BOOL, NULL, 0, NO),
    K("socket.ssl_key", TR_CFG_STRING, NULL, 0, YES),
    K("socket.ssl_password_file", TR_CFG_STRING, NULL, 0, YES),
    /* an action: any value reloads. gg_setting acts on it, but repl_node_options_set does not
     * pass this key on to the group yet: not acted on until it does */
    K("socket.ssl_reload", TR_CFG_STRING, NULL, D, NO),

    /* trireme's own (no Galera equivalent): microseconds a thread waiting for the group polls
     * before it sleeps (gcomm.md, threads of the TCP driver); whether the IST receiver takes a
     * stream only from an address of the donor the group chose; the deadlines of the IST phases
     * (security.md, IST: the donor connects, a connection shows the transfer's header, the
     * whole stream arrives; Galera has none, a stalled or trickling stream holds it); bytes of
     * unacknowledged group log before a node stops sending (gcomm.md section 5, step 6), 0 =
     * no limit */
    KR("trireme.busy_poll_us", TR_CFG_INT, "50", 0, 0, 10000, YES),
    K("trireme.ist_check_donor", TR_CFG_BOOL, "yes", 0, YES),
    KR("trireme.ist_connect_timeout", TR_CFG_DURATION, "PT60S", 0, MS(100), INT64_MAX, YES),
    KR("trireme.ist_header_timeout", TR_CFG_DURATION, "PT10S", 0, MS(100), INT64_MAX, YES),
    KR("trireme.ist_stream_timeout", TR_CFG_DURATION, "PT1H", 0, MS(100), INT64_MAX, YES),
    K("trireme.retain_limit", TR_CFG_SIZE, "64M", 0, YES),
    /* whether a joiner whose state transfer failed ends the host process once it has left
     * the group, as Galera does ("Will never receive state. Need to abort."); no: it only
     * leaves, and the host decides (docs/operations.md) */
    K("trireme.sst_abort", TR_CFG_BOOL, "yes", 0, YES),
};

const struct repl_option_info *repl_options_table(size_t *n)
{
    if (n) *n = sizeof table / sizeof table[0];
    return table;
}

tr_cfg *repl_options_new(void)
{
    tr_cfg *cfg = tr_cfg_new();
    if (!cfg) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (tr_cfg_register(cfg, &table[i].key) != 0) {
            tr_cfg_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

static const struct repl_option_info *lookup(const char *key)
{
    if (!key) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].key.name, key) == 0) return &table[i];
    return NULL;
}

bool repl_options_unimplemented(const char *key)
{
    const struct repl_option_info *o = lookup(key);
    return o && !o->implemented;
}

char *repl_options_unimplemented_in_use(const tr_cfg *cfg)
{
    size_t total = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!table[i].implemented && tr_cfg_is_user_set(cfg, table[i].key.name))
            total += strlen(table[i].key.name) + 2;
    if (total == 0) return NULL;
    char *out = malloc(total + 1);
    if (!out) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) { /* table is sorted */
        if (table[i].implemented || !tr_cfg_is_user_set(cfg, table[i].key.name)) continue;
        w += (size_t)snprintf(out + w, total + 1 - w, "%s%s", w ? ", " : "", table[i].key.name);
    }
    out[w] = '\0';
    return out;
}

/* ---- derived values ---- */

static int64_t get_i(const tr_cfg *cfg, const char *key, int64_t fallback)
{
    int64_t v;
    return tr_cfg_get_int(cfg, key, &v) == 0 ? v : fallback;
}

static int64_t get_ns(const tr_cfg *cfg, const char *key, int64_t fallback)
{
    int64_t v;
    return tr_cfg_get_duration_ns(cfg, key, &v) == 0 ? v : fallback;
}

static bool get_b(const tr_cfg *cfg, const char *key, bool fallback)
{
    bool v;
    return tr_cfg_get_bool(cfg, key, &v) == 0 ? v : fallback;
}

static int print_addr(char *buf, size_t len, const char *scheme, const char *host, bool ipv6,
                      int port)
{
    int n;
    if (!buf) return -1;
    if (ipv6)
        n = snprintf(buf, len, "%s%s[%s]:%d", scheme, *scheme ? "://" : "", host, port);
    else
        n = snprintf(buf, len, "%s%s%s:%d", scheme, *scheme ? "://" : "", host, port);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Parses the address stored under key; -1 when unset. */
static int get_addr(const tr_cfg *cfg, const char *key, struct tr_cfg_addr *a)
{
    char tmp[512];
    int n = tr_cfg_get_string(cfg, key, tmp, sizeof tmp);
    if (n < 0 || (size_t)n >= sizeof tmp) return -1;
    return tr_cfg_parse_addr(tmp, a);
}

int repl_options_listen_addr(const tr_cfg *cfg, char *buf, size_t len)
{
    struct tr_cfg_addr a;
    int port = (int)get_i(cfg, "base_port", REPL_OPTIONS_BASE_PORT_DEFAULT);
    if (get_addr(cfg, "gmcast.listen_addr", &a) != 0)
        return print_addr(buf, len, "tcp", "0.0.0.0", false, port);
    return print_addr(buf, len, *a.scheme ? a.scheme : "tcp", a.host, a.ipv6,
                      a.port >= 0 ? a.port : port);
}

int repl_options_advertised_addr(const tr_cfg *cfg, char *buf, size_t len)
{
    struct tr_cfg_addr a;
    int port = (int)get_i(cfg, "base_port", REPL_OPTIONS_BASE_PORT_DEFAULT);
    if (get_addr(cfg, "base_host", &a) != 0) return -1;
    return print_addr(buf, len, "", a.host, a.ipv6, a.port >= 0 ? a.port : port);
}

int repl_options_ist_port(const tr_cfg *cfg)
{
    int64_t port = get_i(cfg, "base_port", REPL_OPTIONS_BASE_PORT_DEFAULT);
    return port >= 65535 ? -1 : (int)port + 1;
}

/* Galera's rule (tr_tls_opts_from_cfg): socket.ssl when set, else a key or a certificate. */
static bool ssl_on(const tr_cfg *cfg)
{
    bool v;
    if (tr_cfg_get_bool(cfg, "socket.ssl", &v) == 0) return v;
    char s[8];
    return tr_cfg_get_string(cfg, "socket.ssl_key", s, sizeof s) > 0 ||
           tr_cfg_get_string(cfg, "socket.ssl_cert", s, sizeof s) > 0;
}

int repl_options_ist_recv_addr(const tr_cfg *cfg, char *buf, size_t len)
{
    struct tr_cfg_addr a;
    const char *scheme = ssl_on(cfg) ? "ssl" : "tcp";
    int ist_port = repl_options_ist_port(cfg);
    if (get_addr(cfg, "ist.recv_addr", &a) == 0) {
        if (a.port < 0 && ist_port < 0) return -1;
        return print_addr(buf, len, *a.scheme ? a.scheme : scheme, a.host, a.ipv6,
                          a.port >= 0 ? a.port : ist_port);
    }
    if (get_addr(cfg, "base_host", &a) != 0 || ist_port < 0) return -1;
    return print_addr(buf, len, scheme, a.host, a.ipv6, ist_port);
}

int64_t repl_options_evs_install_timeout_ns(const tr_cfg *cfg)
{
    int64_t v;
    if (tr_cfg_get_duration_ns(cfg, "evs.install_timeout", &v) == 0) return v;
    return get_ns(cfg, "evs.inactive_timeout", NS(15)) / 2;
}

static void copy_str(const tr_cfg *cfg, const char *key, char *buf, size_t len)
{
    if (tr_cfg_get_string(cfg, key, buf, len) < 0) buf[0] = '\0';
}

int repl_options_read(const tr_cfg *cfg, struct repl_options *o)
{
    if (!cfg || !o || !tr_cfg_has(cfg, "repl.causal_read_timeout")) return -1;
    memset(o, 0, sizeof *o);
    copy_str(cfg, "base_host", o->base_host, sizeof o->base_host);
    o->base_port = (int)get_i(cfg, "base_port", REPL_OPTIONS_BASE_PORT_DEFAULT);
    copy_str(cfg, "base_dir", o->base_dir, sizeof o->base_dir);
    if (repl_options_listen_addr(cfg, o->listen_addr, sizeof o->listen_addr) != 0)
        o->listen_addr[0] = '\0';
    if (repl_options_ist_recv_addr(cfg, o->ist_recv_addr, sizeof o->ist_recv_addr) != 0)
        o->ist_recv_addr[0] = '\0';
    copy_str(cfg, "ist.recv_bind", o->ist_recv_bind, sizeof o->ist_recv_bind);
    o->gmcast_isolate = (int)get_i(cfg, "gmcast.isolate", 0);
    o->gmcast_segment = (int)get_i(cfg, "gmcast.segment", 0);
    o->gmcast_peer_timeout_ns = get_ns(cfg, "gmcast.peer_timeout", NS(3));
    o->gmcast_time_wait_ns = get_ns(cfg, "gmcast.time_wait", NS(5));
    o->evs_keepalive_period_ns = get_ns(cfg, "evs.keepalive_period", NS(1));
    o->evs_suspect_timeout_ns = get_ns(cfg, "evs.suspect_timeout", NS(5));
    o->evs_inactive_timeout_ns = get_ns(cfg, "evs.inactive_timeout", NS(15));
    o->evs_inactive_check_period_ns = get_ns(cfg, "evs.inactive_check_period", MS(500));
    o->evs_install_timeout_ns = repl_options_evs_install_timeout_ns(cfg);
    o->evs_join_retrans_period_ns = get_ns(cfg, "evs.join_retrans_period", NS(1));
    o->evs_causal_keepalive_period_ns =
        get_ns(cfg, "evs.causal_keepalive_period", o->evs_keepalive_period_ns);
    o->evs_send_window = get_i(cfg, "evs.send_window", 4);
    o->evs_auto_evict = get_i(cfg, "evs.auto_evict", 0);
    o->evs_delay_margin_ns = get_ns(cfg, "evs.delay_margin", NS(1));
    o->evs_delayed_keep_period_ns = get_ns(cfg, "evs.delayed_keep_period", NS(30));
    o->evs_user_send_window = get_i(cfg, "evs.user_send_window", 2);
    o->pc_ignore_sb = get_b(cfg, "pc.ignore_sb", false);
    o->pc_ignore_quorum = get_b(cfg, "pc.ignore_quorum", false);
    o->pc_wait_prim = get_b(cfg, "pc.wait_prim", true);
    o->pc_recovery = get_b(cfg, "pc.recovery", true);
    o->pc_wait_prim_timeout_ns = get_ns(cfg, "pc.wait_prim_timeout", NS(30));
    o->pc_announce_timeout_ns = get_ns(cfg, "pc.announce_timeout", NS(3));
    o->pc_weight = (int)get_i(cfg, "pc.weight", 1);
    o->gcs_fc_limit = get_i(cfg, "gcs.fc_limit", 16);
    if (tr_cfg_get_double(cfg, "gcs.fc_factor", &o->gcs_fc_factor) != 0) o->gcs_fc_factor = 1.0;
    o->gcs_fc_single_primary =
        get_b(cfg, "gcs.fc_single_primary", false) || get_b(cfg, "gcs.fc_master_slave", false);
    o->gcs_max_packet_size = get_i(cfg, "gcs.max_packet_size", 64500);
    if (tr_cfg_get_size(cfg, "trireme.retain_limit", &o->retain_limit) != 0) o->retain_limit = 64 << 20;
    o->busy_poll_us = get_i(cfg, "trireme.busy_poll_us", 50);
    o->repl_causal_read_timeout_ns = get_ns(cfg, "repl.causal_read_timeout", NS(30));
    o->repl_commit_order = (int)get_i(cfg, "repl.commit_order", 3);
    o->repl_max_ws_size = get_i(cfg, "repl.max_ws_size", WS_SIZE_MAX);
    if (o->repl_max_ws_size > WS_SIZE_MAX) o->repl_max_ws_size = WS_SIZE_MAX;
    copy_str(cfg, "repl.key_format", o->repl_key_format, sizeof o->repl_key_format);
    o->repl_proto_max = (int)get_i(cfg, "repl.proto_max", 11);
    o->cert_log_conflicts = get_b(cfg, "cert.log_conflicts", false);
    o->cert_optimistic_pa = get_b(cfg, "cert.optimistic_pa", true);
    copy_str(cfg, "gcache.dir", o->gcache_dir, sizeof o->gcache_dir);
    if (!o->gcache_dir[0]) memcpy(o->gcache_dir, o->base_dir, sizeof o->gcache_dir);
    copy_str(cfg, "gcache.name", o->gcache_name, sizeof o->gcache_name);
    if (tr_cfg_get_size(cfg, "gcache.size", &o->gcache_size) != 0) o->gcache_size = 128 << 20;
    if (tr_cfg_get_size(cfg, "gcache.page_size", &o->gcache_page_size) != 0) o->gcache_page_size = 128 << 20;
    if (tr_cfg_get_size(cfg, "gcache.keep_pages_size", &o->gcache_keep_pages_size) != 0)
        o->gcache_keep_pages_size = 0;
    o->gcache_recover = get_b(cfg, "gcache.recover", true);
    o->socket_ssl = ssl_on(cfg);
    return 0;
}
