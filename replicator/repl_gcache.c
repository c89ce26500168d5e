/* replicator/repl_gcache: the write-set store: the last ordered actions by seqno, in memory,
 * bounded by gcache.size. A donor serves incremental state transfer (IST) from it. */
#include "replicator/repl_gcache.h"

#include <stdlib.h>
#include <string.h>

struct rec {
    int kind;
    size_t len;
    uint8_t *buf;
};

struct repl_gcache {
    int64_t max_bytes, bytes;
    int64_t first; /* seqno of recs[head] */
    struct rec *recs; /* ring */
    size_t cap, head, len;
};

struct repl_gcache *repl_gcache_new(int64_t max_bytes)
{
    struct repl_gcache *g = calloc(1, sizeof *g);
    if (g) g->max_bytes = max_bytes;
    return g;
}

void repl_gcache_reset(struct repl_gcache *g)
{
    while (g->len) {
        free(g->recs[g->head].buf);
        g->head = (g->head + 1) % g->cap;
        g->len--;
    }
    g->bytes = 0;
    g->head = 0;
}

void repl_gcache_free(struct repl_gcache *g)
{
    if (!g) return;
    repl_gcache_reset(g);
    free(g->recs);
    free(g);
}

static void drop_oldest(struct repl_gcache *g)
{
    struct rec *r = &g->recs[g->head];
    g->bytes -= (int64_t)r->len;
    free(r->buf);
    g->head = (g->head + 1) % g->cap;
    g->len--;
    g->first++;
}

int repl_gcache_put(struct repl_gcache *g, int64_t seqno, int kind, const void *buf, size_t len)
{
    if (!g) return -1;
    /* a gap means another history or a position taken by transfer: start over there */
    if (g->len && seqno != g->first + (int64_t)g->len) repl_gcache_reset(g);
    if (g->len == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        struct rec *n = malloc(cap * sizeof *n);
        if (!n) return -1;
        for (size_t i = 0; i < g->len; i++) n[i] = g->recs[(g->head + i) % g->cap];
        free(g->recs);
        g->recs = n;
        g->cap = cap;
        g->head = 0;
    }
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) return -1;
        memcpy(copy, buf, len);
    }
    if (!g->len) g->first = seqno;
    g->recs[(g->head + g->len) % g->cap] = (struct rec){kind, len, copy};
    g->len++;
    g->bytes += (int64_t)len;
    while (g->len > 1 && g->bytes > g->max_bytes) drop_oldest(g);
    return 0;
}

bool repl_gcache_has(const struct repl_gcache *g, int64_t from, int64_t to)
{
    if (!g || from > to) return from > to;
    return g->len && from >= g->first && to < g->first + (int64_t)g->len;
}

int repl_gcache_get(const struct repl_gcache *g, int64_t seqno, int *kind, const void **buf,
                    size_t *len)
{
    if (!repl_gcache_has(g, seqno, seqno)) return -1;
    const struct rec *r = &g->recs[(g->head + (size_t)(seqno - g->first)) % g->cap];
    *kind = r->kind;
    *buf = r->buf;
    *len = r->len;
    return 0;
}

int64_t repl_gcache_first(const struct repl_gcache *g)
{
    return g && g->len ? g->first : -1;
}
