/* certification/cert_index: the certification index and the certification test.
 * Deterministic: the verdict and depends_seqno depend only on the sequence of calls below. */
#ifndef CERT_INDEX_H
#define CERT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certification/cert_ws.h"

/* Write-set flags the index reads: the same bits as WSREP_FLAG_*. */
#define CERT_F_TRX_END (1u << 0)
#define CERT_F_ROLLBACK (1u << 1)
#define CERT_F_ISOLATION (1u << 2)
#define CERT_F_PA_UNSAFE (1u << 3)
#define CERT_F_TRX_START (1u << 6)

enum cert_result {
    CERT_OK = 0,
    CERT_CONFLICT = 1,
    CERT_EINVAL = -1, /* seqno not after the previous one, or a malformed key set */
    CERT_ENOMEM = -2, /* the index is unchanged; the node cannot stay consistent */
};

struct cert_index;

/* position: the seqno the index starts after (everything up to it is committed, e.g. the
 * state received by state transfer); -1 for a new history. */
struct cert_index *cert_index_new(int64_t position);
void cert_index_free(struct cert_index *idx);

/* Certifies the write-set ws at global seqno (greater than any seqno given before).
 * CERT_OK: *depends_seqno is the last seqno it must wait for before applying, and its keys
 * are in the index. CERT_CONFLICT: *depends_seqno is -1, the index is unchanged.
 * Only ws->hdr.{flags, source, trx_id, last_seen, nkeys} and ws->keys/keys_len are read.
 * Streaming fragments (docs/design/streaming.md): a write-set with TRX_START but not TRX_END
 * opens a streaming transaction (source, trx_id); later fragments depend on the previous one;
 * purge keeps the keys of an open one; TRX_END closes it; ROLLBACK (never tested, always
 * passes) closes it and takes its keys out of the index. */
int cert_certify(struct cert_index *idx, const struct cert_ws_view *ws, int64_t seqno,
                 int64_t *depends_seqno);

/* A non-write-set ordered action (e.g. a view) at seqno: later write-sets depend on it. */
void cert_barrier(struct cert_index *idx, int64_t seqno);

/* Purging works in bounded steps (docs/design/writeset.md, "Purge in bounded steps"): one
 * cert_purge call pops at most CERT_PURGE_BUDGET entries (a few ms), each cert_certify
 * CERT_PURGE_STEP plus twice its key count (more than it inserts), until the floor is reached.
 * Counts, never time: every node pops the same entries at the same point. */
#define CERT_PURGE_BUDGET 16384
#define CERT_PURGE_STEP 64

/* Forgets every write-set with seqno <= safe_seqno: a cluster-wide minimum that no write-set
 * still to be certified has a lower last_seen than (docs/design/writeset.md, "Purge"); this
 * call and the following cert_certify calls pop them within their budgets.
 * Must be called at the same point of the ordered stream on every node. A later write-set
 * whose last_seen is below a purged write-set it could have conflicted with (another source's,
 * or TOI) fails certification (counted in too_old); a write-set counts as purged from the
 * first of its keys popped on, so too_old and purged_upto follow what was popped, not the floor. */
void cert_purge(struct cert_index *idx, int64_t safe_seqno);
/* Test hook: the entries one cert_purge call may pop (0: CERT_PURGE_BUDGET). Every node must
 * use the same value. */
void cert_index_set_purge_budget(struct cert_index *idx, size_t budget);

/* Rolls back every open streaming transaction whose source keep() refuses (its originator
 * left the primary component: every member's host rolls it back at the same view). */
void cert_streaming_close(struct cert_index *idx, bool (*keep)(const tr_uuid *src, void *arg),
                          void *arg);
/* Open streaming transactions. */
size_t cert_streaming_open(const struct cert_index *idx);

/* Starts over after position, exactly as cert_index_new(position) would (statistics kept):
 * when a member joins by state transfer, every member's index and the joiner's fresh one
 * must be identical from that point of the ordered stream on. */
void cert_index_reset(struct cert_index *idx, int64_t position);

/* Distinct keys in the index. */
size_t cert_index_size(const struct cert_index *idx);

struct cert_stats {
    uint64_t certified;      /* passed */
    uint64_t conflicts;      /* failed on a key */
    uint64_t too_old;        /* failed: could conflict with a purged write-set */
    int64_t deps_dist_sum;   /* sum of seqno - depends_seqno over passed write-sets */
    int64_t interval_sum;    /* sum of seqno - last_seen - 1 over passed write-sets */
    size_t index_size;       /* distinct keys */
    size_t window;           /* write-sets still in the index */
    int64_t purged_upto;     /* write-sets at or below this seqno are forgotten (or going) */
    int64_t last_seqno;      /* last seqno certified or barrier */
};
void cert_index_stats(const struct cert_index *idx, struct cert_stats *st);
/* Galera's wsrep_cert_deps_distance and wsrep_cert_interval: averages, 0 when nothing passed. */
double cert_stats_deps_distance(const struct cert_stats *st);
double cert_stats_interval(const struct cert_stats *st);

/* The most recent conflict, for cert.log_conflicts: which key (index in the write-set),
 * its type, the type and seqno of the entry it hit. */
struct cert_conflict_info {
    uint32_t key_index;
    int key_type;
    int found_type;
    int64_t found_seqno;
    int found_toi;
};
void cert_last_conflict(const struct cert_index *idx, struct cert_conflict_info *out);

/* Test hook: replaces the key hash (only on an empty index) so tests can force collisions. */
typedef uint64_t (*cert_hash_fn)(const uint8_t *id, size_t len);
int cert_index_set_hash(struct cert_index *idx, cert_hash_fn fn);
uint64_t cert_key_hash(const uint8_t *id, size_t len);

#endif
