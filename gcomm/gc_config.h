/* gcomm/gc_config: the parsed option values a gcomm node runs with, and their defaults.
 * Option names follow Galera (gmcast.*, evs.*, pc.*, gcs.max_packet_size). */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tr_tls.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_view.h"

#define GC_MAX_SEEDS 32
#define GC_PATH_MAX 512

struct gc_config {
    char group[GC_GROUP_MAX];         /* wsrep_cluster_name */
    char name[GC_NAME_MAX];           /* wsrep_node_name */
    char listen_addr[GC_ADDR_MAX];    /* gmcast.listen_addr, "tcp://0.0.0.0:4567" */
    char advertise_addr[GC_ADDR_MAX]; /* host:port peers dial; "" = base_host:listen port */
    char base_host[GC_ADDR_MAX];      /* base_host */
    uint16_t base_port;               /* base_port */
    char incoming[GC_ADDR_MAX];       /* wsrep_node_incoming_address */
    int nseeds;                       /* 0 = bootstrap a new group (gcomm://) */
    char seeds[GC_MAX_SEEDS][GC_ADDR_MAX]; /* host:port */
    char data_dir[GC_PATH_MAX];       /* where gvwstate.dat lives; "" = do not persist */
    uint64_t keepalive_ns;            /* evs.keepalive_period PT1S */
    uint64_t suspect_ns;              /* evs.suspect_timeout PT5S */
    uint64_t inactive_ns;             /* evs.inactive_timeout PT15S */
    uint64_t install_ns;              /* evs.install_timeout, default inactive/2 */
    uint64_t announce_ns;             /* pc.announce_timeout PT3S: looking for seeds before the first view */
    /* The delayed list and automatic eviction (docs/design/gcomm.md section 14) */
    uint64_t delay_margin_ns;         /* evs.delay_margin PT1S: a peer heard this late is delayed */
    uint64_t delayed_keep_ns;         /* evs.delayed_keep_period PT30S: a delay count decays by one */
    uint32_t auto_evict;              /* evs.auto_evict 0: off; N: evict at N delays (majority) */
    uint8_t weight;                   /* pc.weight */
    bool ignore_sb, ignore_quorum;    /* pc.ignore_sb, pc.ignore_quorum */
    bool bootstrap;                   /* pc.bootstrap at start (also implied by no seeds) */
    bool recovery;                    /* pc.recovery */
    bool wait_prim;                   /* pc.wait_prim */
    uint64_t wait_prim_timeout_ns;    /* pc.wait_prim_timeout PT30S */
    uint32_t max_packet_size;         /* gcs.max_packet_size 64500 */
    /* trireme.retain_limit 64M: a node sends no new message while its log holds this many
     * bytes not yet acknowledged by every member (0: no limit); see gcomm.md section 5 */
    uint64_t retain_limit;
    /* trireme.busy_poll_us 50: how long a consumer waiting in gc_node_recv polls the sockets
     * before it sleeps (0: sleeps at once); gcomm.md, threads of the TCP driver */
    uint32_t busy_poll_us;
    bool isolate;                     /* gmcast.isolate */
    struct tr_tls_opts tls;           /* socket.ssl*, socket.dynamic: TLS on every link if enabled */
    uint64_t peer_timeout_ns;         /* gmcast.peer_timeout PT3S: a new link's TLS handshake and HELLO */
    /* Asked for each accepted link's address (text, no port) before anything is read from or
     * sent to it: false refuses the link. NULL: every address may try. MariaDB's
     * wsrep_allowlist arrives here through the wsrep layer's allowlist service. Called on the
     * I/O thread under the node's lock, only for links within the connection limits. */
    bool (*allow)(void *ctx, const char *addr);
    void *allow_ctx;
};

void gc_config_defaults(struct gc_config *c);
/* Parses "gcomm://h:p,[v6]:p?key=value&..." (tcp:// or ssl:// prefixes and missing ports
 * allowed) into seeds, normalised by gc_addr_join; the options are left to gc_url_options.
 * 0 or -1. */
int gc_config_set_url(struct gc_config *c, const char *url);

/* One "key=value" of a gcomm:// address's query part, as Galera takes them: they override the
 * node's options for group communication. */
#define GC_URL_OPTS_MAX 16
struct gc_url_opt {
    char key[64];
    char value[GC_PATH_MAX];
};
/* The options after '?' in url, in order: how many (0..max), or -1 when one is malformed (no
 * '=', an empty key, too long, or more than max); err says which. */
int gc_url_options(const char *url, struct gc_url_opt *out, int max, char *err, size_t errlen);

/* Parses "tcp://host:port", "host:port", "[v6]:port", "[v6]" or a bare IPv6 address into host
 * (without brackets) and port (4567 when absent). 0 or -1. */
int gc_addr_split(const char *addr, char *host, int hostcap, uint16_t *port);
/* "host:port", or "[host]:port" for an IPv6 host: the one form addresses are compared in.
 * 0, or -1 when it does not fit. */
int gc_addr_join(char *buf, size_t len, const char *host, uint16_t port);
/* The address peers dial to reach this node: advertise_addr if set, else the listen address
 * with a wildcard host (0.0.0.0, ::) replaced by base_host. 0 or -1. */
int gc_config_advertised(const struct gc_config *c, char *buf, size_t len);

#endif
