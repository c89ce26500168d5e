/* replicator/repl_gcache: the write-set store (Galera's gcache): the last ordered actions by seqno
 * in a preallocated, mmap'd ring file that survives restarts, with overflow pages; IST reads it. */
#ifndef REPL_GCACHE_H
#define REPL_GCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "replicator/repl_types.h"
#include "replicator/repl_ws.h"

struct repl_gcache;
struct repl_gcache_pin;

/* Layout of <dir>/<name> (little endian): a file header of REPL_GCACHE_FILE_HDR bytes, then the
 * ring. Records in the ring and in the page files gcache.page.NNNNNN start with a 32-byte
 * header (magic, epoch, seqno, length, kind, CRC-32C of the header), 8-byte aligned. */
#define REPL_GCACHE_FILE_HDR 4096
#define REPL_GCACHE_REC_HDR 32

struct repl_gcache_cfg {
    const char *dir;      /* NULL or "": anonymous memory, nothing survives (simulator, tests) */
    const char *name;     /* ring file name in dir; NULL: galera.cache */
    int64_t size;         /* ring bytes (gcache.size) */
    int64_t page_size;    /* overflow page bytes (gcache.page_size); <= 0: 128M */
    int64_t keep_pages_size; /* page bytes kept after their records fell out */
    bool recover;         /* gcache.recover: scan the file at open instead of resetting it */
};

/* Opens (creating or resetting it as needed) the store. group: the history of the node's saved
 * position; records recovered from another history are dropped (nil: all are). Pages left by
 * an earlier run are deleted. NULL when the file cannot be created or mapped (logged). */
struct repl_gcache *repl_gcache_open(const struct repl_gcache_cfg *cfg, const tr_uuid *group);
/* An anonymous store of max_bytes (no file). */
struct repl_gcache *repl_gcache_new(int64_t max_bytes);
/* An anonymous store whose file bytes (header and ring) are image, recovered as at open: for the
 * fuzzer and tests. */
struct repl_gcache *repl_gcache_open_image(const void *image, size_t len, const tr_uuid *group);
void repl_gcache_free(struct repl_gcache *g); /* no pin may be left */
/* gcache.page_size and gcache.keep_pages_size changed at run time: for the next pages. */
void repl_gcache_set_pages(struct repl_gcache *g, int64_t page_size, int64_t keep_pages_size);
void repl_gcache_reset(struct repl_gcache *g);

/* Records seqno of history group: ws's bytes (copied) or NULL for a seqno that needs no work
 * (failed certification). Another group, or a seqno that does not follow the last one,
 * starts the store over there. The oldest records are overwritten when the ring is full, unless
 * pinned; a record that does not fit goes to a page. 0, or -1 (a page could not be made; the
 * store then starts over at the next put). */
int repl_gcache_put(struct repl_gcache *g, const tr_uuid *group, int64_t seqno, const struct repl_ws *ws);
/* The same for a primary view: its members and conf id (repl_vrec), which an IST hands the
 * joiner's host as that view. */
int repl_gcache_put_view(struct repl_gcache *g, const tr_uuid *group, int64_t seqno, const struct repl_view *v);
/* Every seqno in [from, to] is held (true for an empty range). */
bool repl_gcache_has(struct repl_gcache *g, int64_t from, int64_t to);
int64_t repl_gcache_first(struct repl_gcache *g); /* -1 when empty */
/* the first seqno held when the store holds history group, else -1 */
int64_t repl_gcache_first_of(struct repl_gcache *g, const tr_uuid *group);
int64_t repl_gcache_last(struct repl_gcache *g);  /* -1 when empty */
/* The group decided seqno fails everywhere (a vote): it is marked "no work" in the store. */
void repl_gcache_forget(struct repl_gcache *g, int64_t seqno);
int64_t repl_gcache_bytes(struct repl_gcache *g); /* record bytes held, ring and pages */
int64_t repl_gcache_pages(struct repl_gcache *g); /* page files open */

/* Keeps [from, to] from being overwritten until unpinned: an IST sender reads it outside the
 * node lock. NULL when not every seqno is held (or out of memory). */
struct repl_gcache_pin *repl_gcache_pin(struct repl_gcache *g, int64_t from, int64_t to);
void repl_gcache_unpin(struct repl_gcache_pin *p); /* NULL is fine */
/* Extends p to [from, to]: 0 when the store still holds every seqno of it and was not reset
 * since p was taken, -1 otherwise (p unchanged). A joiner's held write-sets left in the store
 * (repl_xfer) grow their pin this way, one seqno at a time. */
int repl_gcache_pin_extend(struct repl_gcache_pin *p, int64_t to);
/* Copies the record at seqno (in the pinned range) into *buf (grown as needed, *cap its size):
 * 1 and *len for a write-set, 2 and *len for a view (repl_vrec), 0 for no work, -ENODATA when
 * the store was reset meanwhile (a new history), -ENOMEM. */
int repl_gcache_read(struct repl_gcache_pin *p, int64_t seqno, uint8_t **buf, size_t *cap, size_t *len);
/* The same into dst, room bytes, when the record fits: 1 or 2 and *len, 0 for no work; -ENOSPC and
 * *len the size it needs (nothing copied); -ENODATA. An IST sender packs records into its
 * send buffer this way, with no copy in between. */
int repl_gcache_read_into(struct repl_gcache_pin *p, int64_t seqno, uint8_t *dst, size_t room, size_t *len);
/* The record at seqno as a new, undecoded write-set (the caller unrefs; NULL: no work or a view): 0, or
 * -1 when not held or out of memory. */
int repl_gcache_get(struct repl_gcache *g, int64_t seqno, struct repl_ws **ws);

#endif
