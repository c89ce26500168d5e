/* replicator/repl_options: every provider option trireme accepts (Galera 4 names, defaults and
 * run-time changeability), which ones have no effect yet, and typed/derived accessors. */
#ifndef REPL_OPTIONS_H
#define REPL_OPTIONS_H

#include "common/tr_cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_OPTIONS_BASE_PORT_DEFAULT 4567

struct repl_option_info {
    struct tr_cfg_key key;
    bool implemented; /* false: accepted and stored, but trireme ignores it for now */
};

/* The registration table (static storage), *n entries. */
const struct repl_option_info *repl_options_table(size_t *n);

/* A store with every key registered and Galera's defaults; NULL on out of memory. */
tr_cfg *repl_options_new(void);

/* True for a known key that trireme accepts but does not act on yet. */
bool repl_options_unimplemented(const char *key);
/* The user-set keys (tr_cfg_is_user_set) that have no effect yet, comma-separated and sorted,
 * for a startup warning; malloc'ed, NULL when there are none. */
char *repl_options_unimplemented_in_use(const tr_cfg *cfg);

/* Typed snapshot of what the replicator, gcomm and IST use. Derived values are filled in:
 * evs_install_timeout = inactive/2 and causal keepalive = keepalive when not set,
 * gcache_dir = base_dir when not set. Strings empty when unset. */
struct repl_options {
    char base_host[256];
    int base_port;
    char base_dir[1024];
    char listen_addr[300];   /* repl_options_listen_addr() */
    char ist_recv_addr[300]; /* repl_options_ist_recv_addr(), "" when it cannot be derived */
    char ist_recv_bind[300];
    int gmcast_isolate;      /* 0 = not isolated; 1 and 2 as Galera accepts them */
    int gmcast_segment;
    int64_t gmcast_peer_timeout_ns, gmcast_time_wait_ns;
    int64_t evs_keepalive_period_ns, evs_suspect_timeout_ns, evs_inactive_timeout_ns;
    int64_t evs_inactive_check_period_ns, evs_install_timeout_ns, evs_join_retrans_period_ns;
    int64_t evs_causal_keepalive_period_ns;
    int64_t evs_send_window, evs_user_send_window;
    int64_t evs_auto_evict, evs_delay_margin_ns, evs_delayed_keep_period_ns; /* gcomm.md section 14 */
    bool pc_ignore_sb, pc_ignore_quorum, pc_wait_prim, pc_recovery;
    int64_t pc_wait_prim_timeout_ns, pc_announce_timeout_ns;
    int pc_weight;
    int64_t gcs_fc_limit;
    double gcs_fc_factor;
    bool gcs_fc_single_primary; /* or the deprecated gcs.fc_master_slave */
    int64_t gcs_max_packet_size;
    int64_t retain_limit; /* trireme.retain_limit */
    int64_t busy_poll_us; /* trireme.busy_poll_us */
    int64_t repl_causal_read_timeout_ns;
    int repl_commit_order;
    int64_t repl_max_ws_size; /* clamped to 2147483647 like Galera's write-set limit */
    char repl_key_format[8];
    int repl_proto_max;
    bool cert_log_conflicts, cert_optimistic_pa;
    char gcache_dir[1024];
    char gcache_name[1024];
    int64_t gcache_size;
    int64_t gcache_page_size, gcache_keep_pages_size;
    bool gcache_recover;
    bool socket_ssl; /* TLS on: socket.ssl, or unset and socket.ssl_key or socket.ssl_cert set */
};

/* Fills *out from cfg; 0, or -1 if cfg is not a repl_options store. Thread-safe, but each key is
 * read separately: a concurrent options_set may be seen half-applied; re-read from a listener. */
int repl_options_read(const tr_cfg *cfg, struct repl_options *out);

/* Derived addresses; each returns 0 or -1 (does not fit / cannot be derived). */
/* Where gmcast listens: gmcast.listen_addr with scheme tcp:// and port base_port filled in
 * when missing, else tcp://0.0.0.0:<base_port> (Galera binds to any address by default). */
int repl_options_listen_addr(const tr_cfg *cfg, char *buf, size_t len);
/* What other nodes are told: <base_host>:<base_port>; -1 when base_host is unset. */
int repl_options_advertised_addr(const tr_cfg *cfg, char *buf, size_t len);
/* IST receive address: ist.recv_addr (port base_port+1 when missing), else
 * tcp://<base_host>:<base_port+1>; the scheme, when not given, is ssl:// when TLS is on (socket.ssl,
 * or unset and socket.ssl_key or socket.ssl_cert set, as Galera); -1 when neither host is known. */
int repl_options_ist_recv_addr(const tr_cfg *cfg, char *buf, size_t len);
/* base_port + 1, or -1 if base_port is 65535. */
int repl_options_ist_port(const tr_cfg *cfg);
int64_t repl_options_evs_install_timeout_ns(const tr_cfg *cfg);

#endif
