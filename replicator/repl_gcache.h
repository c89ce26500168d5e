/* replicator/repl_gcache: the write-set store, seqno-indexed, in memory, bounded by bytes.
 * Not thread-safe: the node calls it under its mutex. */
#ifndef REPL_GCACHE_H
#define REPL_GCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a seqno was: a write-set applied everywhere (bytes kept), or one that needs no work
 * (failed certification, a view). */
enum repl_gcache_kind { REPL_GC_WS = 1, REPL_GC_SKIP = 2 };

struct repl_gcache;

struct repl_gcache *repl_gcache_new(int64_t max_bytes);
void repl_gcache_free(struct repl_gcache *g);
void repl_gcache_reset(struct repl_gcache *g);
/* Copies buf. seqno must follow the last one put; otherwise the store starts over there.
 * The oldest records go when the bytes exceed the bound (the newest always stays). */
int repl_gcache_put(struct repl_gcache *g, int64_t seqno, int kind, const void *buf, size_t len);
/* Every seqno in [from, to] is held (true for an empty range). */
bool repl_gcache_has(const struct repl_gcache *g, int64_t from, int64_t to);
/* *buf stays valid until the next put or reset. */
int repl_gcache_get(const struct repl_gcache *g, int64_t seqno, int *kind, const void **buf,
                    size_t *len);
int64_t repl_gcache_first(const struct repl_gcache *g); /* -1 when empty */

#endif
