/* replicator/repl_gcache: a ring of references indexed by seqno (see repl_gcache.h). Memory is
 * what the write-sets weigh; dropping a record only drops a reference. */
#include "replicator/repl_gcache.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"

struct repl_gcache {
    int64_t max_bytes, bytes;
    int64_t first; /* seqno of recs[head] */
    struct repl_ws **recs; /* ring; NULL: a seqno with no work */
    size_t cap, head, len;
};

struct repl_gcache *repl_gcache_new(int64_t max_bytes)
{
    struct repl_gcache *g = calloc(1, sizeof *g);
    if (g) g->max_bytes = max_bytes;
    return g;
}

static void drop_oldest(struct repl_gcache *g)
{
    struct repl_ws *ws = g->recs[g->head];
    if (ws) g->bytes -= (int64_t)ws->len;
    repl_ws_unref(ws);
    g->head = (g->head + 1) % g->cap;
    g->len--;
    g->first++;
}

void repl_gcache_reset(struct repl_gcache *g)
{
    while (g->len) drop_oldest(g);
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

int repl_gcache_put(struct repl_gcache *g, int64_t seqno, struct repl_ws *ws)
{
    if (!g) return -1;
    /* a gap means another history or a position taken by transfer: start over there */
    if (g->len && seqno != g->first + (int64_t)g->len) repl_gcache_reset(g);
    if (g->len == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        struct repl_ws **n = tr_fail_hit("gcache.put") ? NULL : malloc(cap * sizeof *n);
        if (!n) {
            repl_gcache_reset(g);
            return -1;
        }
        for (size_t i = 0; i < g->len; i++) n[i] = g->recs[(g->head + i) % g->cap];
        free(g->recs);
        g->recs = n;
        g->cap = cap;
        g->head = 0;
    }
    if (!g->len) g->first = seqno;
    g->recs[(g->head + g->len) % g->cap] = repl_ws_ref(ws);
    g->len++;
    if (ws) g->bytes += (int64_t)ws->len;
    while (g->len > 1 && g->bytes > g->max_bytes) drop_oldest(g);
    return 0;
}

bool repl_gcache_has(const struct repl_gcache *g, int64_t from, int64_t to)
{
    if (!g || from > to) return from > to;
    return g->len && from >= g->first && to < g->first + (int64_t)g->len;
}

int repl_gcache_get(const struct repl_gcache *g, int64_t seqno, struct repl_ws **ws)
{
    if (!repl_gcache_has(g, seqno, seqno)) return -1;
    *ws = g->recs[(g->head + (size_t)(seqno - g->first)) % g->cap];
    return 0;
}

int64_t repl_gcache_first(const struct repl_gcache *g)
{
    return g && g->len ? g->first : -1;
}

int64_t repl_gcache_bytes(const struct repl_gcache *g)
{
    return g ? g->bytes : 0;
}

void repl_gcache_forget(struct repl_gcache *g, int64_t seqno)
{
    if (!repl_gcache_has(g, seqno, seqno)) return;
    struct repl_ws **r = &g->recs[(g->head + (size_t)(seqno - g->first)) % g->cap];
    if (*r) g->bytes -= (int64_t)(*r)->len;
    repl_ws_unref(*r);
    *r = NULL;
}
