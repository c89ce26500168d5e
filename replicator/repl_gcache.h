/* replicator/repl_gcache: the write-set store: the last ordered actions by seqno, in memory,
 * bounded by gcache.size. It holds references to the delivered write-sets (no copy); a donor
 * serves incremental state transfer (IST) from it. Not thread-safe: the core owns it. */
#ifndef REPL_GCACHE_H
#define REPL_GCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replicator/repl_ws.h"

struct repl_gcache;

struct repl_gcache *repl_gcache_new(int64_t max_bytes);
void repl_gcache_free(struct repl_gcache *g);
void repl_gcache_reset(struct repl_gcache *g);
/* Records seqno: ws (a reference is taken) or NULL for a seqno that needs no work (failed
 * certification, a view). seqno must follow the last one put; otherwise the store starts
 * over there. The oldest records go when the bytes exceed the bound (the newest stays).
 * 0, or -1 out of memory (the store then starts over at the next put). */
int repl_gcache_put(struct repl_gcache *g, int64_t seqno, struct repl_ws *ws);
/* Every seqno in [from, to] is held (true for an empty range). */
bool repl_gcache_has(const struct repl_gcache *g, int64_t from, int64_t to);
/* The record at seqno: 0 and *ws (a borrowed pointer, NULL for no work), or -1 when not held. */
int repl_gcache_get(const struct repl_gcache *g, int64_t seqno, struct repl_ws **ws);
int64_t repl_gcache_first(const struct repl_gcache *g); /* -1 when empty */
/* The group decided seqno fails everywhere (a vote): IST serves it as no work from now on. */
void repl_gcache_forget(struct repl_gcache *g, int64_t seqno);
int64_t repl_gcache_bytes(const struct repl_gcache *g);

#endif
