/* gcomm/gc_config: defaults (Galera 26.4 values) and address parsing.
 * Addresses are normalised to "host:port" so the same peer compares equal everywhere. */
#include "gcomm/gc_config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000ull

void gc_config_defaults(struct gc_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->group, sizeof c->group, "my_wsrep_cluster");
    snprintf(c->listen_addr, sizeof c->listen_addr, "tcp://0.0.0.0:4567");
    snprintf(c->base_host, sizeof c->base_host, "127.0.0.1");
    c->base_port = 4567;
    c->keepalive_ns = 1 * SEC;
    c->suspect_ns = 5 * SEC;
    c->delay_margin_ns = 1 * SEC;
    c->delayed_keep_ns = 30 * SEC;
    c->inactive_ns = 15 * SEC;
    c->install_ns = 0; /* 0 = inactive/2 */
    c->announce_ns = 3 * SEC;
    c->weight = 1;
    c->recovery = true;
    c->wait_prim = true;
    c->wait_prim_timeout_ns = 30 * SEC;
    c->max_packet_size = 64500;
    c->retain_limit = 64ull << 20;
    c->busy_poll_us = 50;
    c->peer_timeout_ns = 3 * SEC;
}

static bool is_scheme(const char *a, size_t *skip)
{
    static const char *const schemes[] = {"tcp://", "ssl://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncmp(a, schemes[i], 6)) { *skip = 6; return true; }
    *skip = 0;
    return false;
}

int gc_addr_split(const char *addr, char *host, int hostcap, uint16_t *port)
{
    size_t skip;
    is_scheme(addr, &skip);
    addr += skip;
    const char *h = addr, *rest;
    size_t hlen;
    if (*addr == '[') { /* [v6] or [v6]:port */
        const char *close = strchr(addr, ']');
        if (!close) return -1;
        h = addr + 1;
        hlen = (size_t)(close - h);
        rest = close + 1;
        if (*rest && *rest != ':') return -1;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon && strchr(addr, ':') != colon) colon = NULL; /* a bare IPv6 address: no port */
        hlen = colon ? (size_t)(colon - addr) : strlen(addr);
        rest = addr + hlen;
    }
    if (hlen == 0 || hlen >= (size_t)hostcap || memchr(h, ']', hlen) || memchr(h, '[', hlen)) return -1;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    long p = 4567;
    if (*rest == ':') {
        char *end;
        if (rest[1] < '0' || rest[1] > '9') return -1;
        p = strtol(rest + 1, &end, 10);
        if (*end || p <= 0 || p > 65535) return -1;
    }
    *port = (uint16_t)p;
    return 0;
}

int gc_addr_join(char *buf, size_t len, const char *host, uint16_t port)
{
    int n = snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int gc_config_advertised(const struct gc_config *c, char *buf, size_t len)
{
    if (c->advertise_addr[0]) {
        int n = snprintf(buf, len, "%s", c->advertise_addr);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    char host[GC_ADDR_MAX], base[GC_ADDR_MAX];
    uint16_t port, bport;
    if (gc_addr_split(c->listen_addr, host, sizeof host, &port)) return -1;
    if (strcmp(host, "0.0.0.0") && strcmp(host, "::")) return gc_addr_join(buf, len, host, port);
    /* base_host may come in brackets (an address option) or bare */
    if (gc_addr_split(c->base_host, base, sizeof base, &bport)) return -1;
    return gc_addr_join(buf, len, base, port);
}

int gc_config_set_url(struct gc_config *c, const char *url)
{
    if (strncmp(url, "gcomm://", 8)) return -1;
    const char *p = url + 8;
    const char *q = strchr(p, '?'); /* the options: gc_url_options */
    size_t total = q ? (size_t)(q - p) : strlen(p);
    c->nseeds = 0;
    while (total) {
        const char *end = memchr(p, ',', total);
        size_t n = end ? (size_t)(end - p) : total;
        if (n > 0) {
            char tmp[GC_ADDR_MAX], host[GC_ADDR_MAX];
            uint16_t port;
            if (n >= sizeof tmp || c->nseeds >= GC_MAX_SEEDS) return -1;
            memcpy(tmp, p, n);
            tmp[n] = 0;
            if (gc_addr_split(tmp, host, sizeof host, &port) ||
                gc_addr_join(c->seeds[c->nseeds], GC_ADDR_MAX, host, port))
                return -1;
            c->nseeds++;
        }
        if (!end) break;
        total -= n + 1;
        p = end + 1;
    }
    return 0;
}

int gc_url_options(const char *url, struct gc_url_opt *out, int max, char *err, size_t errlen)
{
    const char *q = strchr(url, '?');
    if (!q) return 0;
    int n = 0;
    for (const char *p = q + 1; *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : 0, vl = eq ? len - kl - 1 : 0;
            if (!eq || !kl) {
                snprintf(err, errlen, "'%.*s' in the cluster address is not key=value", (int)(len > 64 ? 64 : len), p);
                return -1;
            }
            if (n >= max) {
                snprintf(err, errlen, "more than %d options in the cluster address", max);
                return -1;
            }
            if (kl >= sizeof out[n].key || vl >= sizeof out[n].value) {
                snprintf(err, errlen, "option '%.*s' in the cluster address is too long", (int)(kl > 64 ? 64 : kl), p);
                return -1;
            }
            memcpy(out[n].key, p, kl);
            out[n].key[kl] = 0;
            memcpy(out[n].value, eq + 1, vl);
            out[n].value[vl] = 0;
            n++;
        }
        if (!amp) break;
        p = amp + 1;
    }
    return n;
}
