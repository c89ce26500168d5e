/* tools/trireme-gcomm-node/node_opts: parsing of the gcomm options the tools accept.
 * Only the names gcomm itself understands; anything else is an error. */
#include "tools/trireme-gcomm-node/node_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_dur(const char *v, uint64_t *ns)
{
    double sec;
    char *end;
    if (!strncmp(v, "PT", 2)) {
        sec = strtod(v + 2, &end);
        if (*end != 'S' || end[1]) return -1;
    } else {
        sec = strtod(v, &end);
        if (*end) return -1;
    }
    if (sec < 0) return -1;
    *ns = (uint64_t)(sec * 1e9);
    return 0;
}

static int parse_bool(const char *v, bool *b)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on")) *b = true;
    else if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off")) *b = false;
    else return -1;
    return 0;
}

/* socket.ssl*, socket.dynamic with Galera's rule: a key or a certificate turns TLS on, unless
 * socket.ssl says otherwise, in whatever order they come. */
static int tls_opt(struct gc_config *c, const char *key, const char *v)
{
    static int explicit_ssl = -1; /* socket.ssl not given yet */
    struct { const char *key; char *dst; size_t cap; } paths[] = {
        {"socket.ssl_key", c->tls.key, sizeof c->tls.key},
        {"socket.ssl_cert", c->tls.cert, sizeof c->tls.cert},
        {"socket.ssl_ca", c->tls.ca, sizeof c->tls.ca},
        {"socket.ssl_cipher", c->tls.cipher, sizeof c->tls.cipher},
        {"socket.ssl_password_file", c->tls.password_file, sizeof c->tls.password_file},
    };
    bool b, known = false;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (strcmp(key, paths[i].key)) continue;
        if (strlen(v) >= paths[i].cap) return -1;
        snprintf(paths[i].dst, paths[i].cap, "%s", v);
        known = true;
    }
    if (!strcmp(key, "socket.ssl")) {
        if (parse_bool(v, &b)) return -1;
        explicit_ssl = b;
        known = true;
    }
    if (!strcmp(key, "socket.dynamic")) {
        if (parse_bool(v, &c->tls.dynamic)) return -1;
        known = true;
    }
    if (!known) return -1;
    c->tls.enabled = explicit_ssl >= 0 ? explicit_ssl == 1 : c->tls.key[0] || c->tls.cert[0];
    return 0;
}

int node_opt_apply(struct gc_config *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) return -1;
    char key[64];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key) return -1;
    memcpy(key, kv, kl);
    key[kl] = 0;
    const char *v = eq + 1;
    char *end;
    if (!strcmp(key, "evs.keepalive_period")) return parse_dur(v, &c->keepalive_ns);
    if (!strcmp(key, "evs.suspect_timeout")) return parse_dur(v, &c->suspect_ns);
    if (!strcmp(key, "evs.inactive_timeout")) return parse_dur(v, &c->inactive_ns);
    if (!strcmp(key, "evs.install_timeout")) return parse_dur(v, &c->install_ns);
    if (!strcmp(key, "pc.wait_prim_timeout")) return parse_dur(v, &c->wait_prim_timeout_ns);
    if (!strcmp(key, "gmcast.peer_timeout")) return parse_dur(v, &c->peer_timeout_ns);
    if (!strcmp(key, "evs.delay_margin")) return parse_dur(v, &c->delay_margin_ns);
    if (!strcmp(key, "evs.delayed_keep_period")) return parse_dur(v, &c->delayed_keep_ns);
    if (!strcmp(key, "evs.auto_evict")) {
        long n = strtol(v, &end, 10);
        if (*end || end == v || n < 0 || n > INT32_MAX) return -1;
        c->auto_evict = (uint32_t)n;
        return 0;
    }
    if (!strcmp(key, "pc.ignore_sb")) return parse_bool(v, &c->ignore_sb);
    if (!strcmp(key, "pc.ignore_quorum")) return parse_bool(v, &c->ignore_quorum);
    if (!strcmp(key, "pc.bootstrap")) return parse_bool(v, &c->bootstrap);
    if (!strcmp(key, "pc.recovery")) return parse_bool(v, &c->recovery);
    if (!strcmp(key, "pc.wait_prim")) return parse_bool(v, &c->wait_prim);
    if (!strcmp(key, "gmcast.isolate")) return parse_bool(v, &c->isolate);
    if (!strcmp(key, "pc.weight")) {
        long w = strtol(v, &end, 10);
        if (*end || w < 0 || w > 255) return -1;
        c->weight = (uint8_t)w;
        return 0;
    }
    if (!strcmp(key, "gcs.max_packet_size")) {
        long w = strtol(v, &end, 10);
        if (*end || w < 1024 || w > (1 << 24)) return -1;
        c->max_packet_size = (uint32_t)w;
        return 0;
    }
    if (!strcmp(key, "trireme.retain_limit")) { /* bytes, with an optional K, M or G */
        unsigned long long b = strtoull(v, &end, 10);
        int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
        if (end == v || *v == '-' || (shift && end[1]) || (!shift && *end) || b > (1ull << 40) >> shift) return -1;
        c->retain_limit = (uint64_t)b << shift;
        return 0;
    }
    if (!strcmp(key, "trireme.busy_poll_us")) {
        long us = strtol(v, &end, 10);
        if (end == v || *end || us < 0 || us > 10000) return -1;
        c->busy_poll_us = (uint32_t)us;
        return 0;
    }
    if (!strncmp(key, "socket.", 7)) return tls_opt(c, key, v);
    if (!strcmp(key, "gmcast.listen_addr")) {
        snprintf(c->listen_addr, sizeof c->listen_addr, "%s", v);
        return 0;
    }
    if (!strcmp(key, "base_host")) {
        snprintf(c->base_host, sizeof c->base_host, "%s", v);
        return 0;
    }
    if (!strcmp(key, "base_port")) {
        long p = strtol(v, &end, 10);
        if (*end || p <= 0 || p > 65535) return -1;
        c->base_port = (uint16_t)p;
        return 0;
    }
    return -1;
}
