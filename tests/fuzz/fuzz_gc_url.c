/* tests/fuzz/fuzz_gc_url: libFuzzer target for gcomm:// address parsing (gcomm/gc_config.c): the
 * seeds, the ?key=value options, host:port splitting and joining, the advertised address. */
#include "gcomm/gc_config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* split(join(split(a))) gives the same host and port again: one normal form. */
static void roundtrip(const char *a)
{
    char host[GC_ADDR_MAX], host2[GC_ADDR_MAX], joined[GC_ADDR_MAX];
    uint16_t port, port2;
    if (gc_addr_split(a, host, sizeof host, &port)) return;
    if (gc_addr_join(joined, sizeof joined, host, port)) return; /* too long to join: refused, not cut */
    if (gc_addr_split(joined, host2, sizeof host2, &port2) || strcmp(host, host2) || port != port2) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    char *s = malloc(size + 9);
    if (!s) return 0;
    /* half of the inputs as a cluster address, half as they come */
    size_t off = size && (data[0] & 1) ? 8 : 0;
    memcpy(s, "gcomm://", off);
    memcpy(s + off, data, size);
    s[off + size] = 0;

    struct gc_config *c = malloc(sizeof *c);
    if (!c) { free(s); return 0; }
    gc_config_defaults(c);
    if (gc_config_set_url(c, s) == 0) {
        if (c->nseeds < 0 || c->nseeds > GC_MAX_SEEDS) abort();
        for (int i = 0; i < c->nseeds; i++) {
            char host[GC_ADDR_MAX], again[GC_ADDR_MAX];
            uint16_t port;
            if (!memchr(c->seeds[i], 0, GC_ADDR_MAX)) abort();
            /* a seed is in normal form: splitting and joining it changes nothing */
            if (gc_addr_split(c->seeds[i], host, sizeof host, &port) || gc_addr_join(again, sizeof again, host, port) ||
                strcmp(again, c->seeds[i]))
                abort();
        }
    }
    struct gc_url_opt opts[GC_URL_OPTS_MAX];
    char err[256];
    int n = gc_url_options(s, opts, GC_URL_OPTS_MAX, err, sizeof err);
    if (n > GC_URL_OPTS_MAX) abort();
    for (int i = 0; i < n; i++)
        if (!opts[i].key[0] || !memchr(opts[i].key, 0, sizeof opts[i].key) ||
            !memchr(opts[i].value, 0, sizeof opts[i].value) || strchr(opts[i].key, '='))
            abort();
    roundtrip(s);
    roundtrip(s + off);
    /* the advertised address from a listen address and a base_host made of the input */
    size_t half = strlen(s + off) / 2;
    snprintf(c->listen_addr, sizeof c->listen_addr, "%.*s", (int)half, s + off);
    snprintf(c->base_host, sizeof c->base_host, "%s", s + off + half);
    c->advertise_addr[0] = 0;
    char adv[GC_ADDR_MAX];
    if (gc_config_advertised(c, adv, sizeof adv) == 0 && !memchr(adv, 0, sizeof adv)) abort();
    free(c);
    free(s);
    return 0;
}
