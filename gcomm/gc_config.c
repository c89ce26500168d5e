/* gcomm/gc_config: defaults (Galera 26.4 values) and address parsing.
 * Addresses are normalised to "host:port" so the same peer compares equal everywhere. */
#include "gcomm/gc_config.h"

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

int gc_addr_split(const char *addr, char *host, int hostcap, uint16_t *port)
{
    if (!strncmp(addr, "tcp://", 6)) addr += 6;
    const char *colon = strrchr(addr, ':');
    size_t hlen = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hlen == 0 || hlen >= (size_t)hostcap) return -1;
    memcpy(host, addr, hlen);
    host[hlen] = 0;
    long p = 4567;
    if (colon) {
        char *end;
        p = strtol(colon + 1, &end, 10);
        if (*end || p <= 0 || p > 65535) return -1;
    }
    *port = (uint16_t)p;
    return 0;
}

int gc_config_set_url(struct gc_config *c, const char *url)
{
    if (strncmp(url, "gcomm://", 8)) return -1;
    const char *p = url + 8;
    c->nseeds = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = memchr(p, '?', n); /* options after '?' are the caller's business */
        if (q) n = (size_t)(q - p);
        if (n > 0) {
            char tmp[GC_ADDR_MAX], host[GC_ADDR_MAX];
            uint16_t port;
            if (n >= sizeof tmp || c->nseeds >= GC_MAX_SEEDS) return -1;
            memcpy(tmp, p, n);
            tmp[n] = 0;
            if (gc_addr_split(tmp, host, sizeof host, &port)) return -1;
            snprintf(c->seeds[c->nseeds++], GC_ADDR_MAX, "%.100s:%u", host, port);
        }
        if (!end || q) break;
        p = end + 1;
    }
    return 0;
}
