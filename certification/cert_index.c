/* certification/cert_index: certification of ordered write-sets against the keys of earlier ones.
 * Keys live in a hash table; a seqno-ordered FIFO of (write-set, entries) makes purging O(1) each. */
#include "certification/cert_index.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_keytab.h"

/* What a key of the new write-set does against an entry found in the index, by
 * [found type][new type]: nothing, a dependency, or a conflict (which, when it does not count,
 * is still a dependency). Galera's table; docs/design/writeset.md explains each cell. */
enum { N = 0, D = 1, C = 2 };
static const unsigned char rule[CERT_KEY_NTYPES][CERT_KEY_NTYPES] = {
    /* new:            SH RE UP EX */
    [CERT_KEY_SHARED] = {N, N, D, D},
    [CERT_KEY_REFERENCE] = {N, N, D, C},
    [CERT_KEY_UPDATE] = {D, D, C, C},
    [CERT_KEY_EXCLUSIVE] = {C, C, C, C},
};

#define NO_SRC UINT32_MAX

struct src { /* a source node, interned while write-sets from it are in the index */
    tr_uuid id;
    uint32_t refs; /* records in the window; 0: slot free */
};

struct rec { /* one certified write-set still in the index */
    int64_t seqno;
    uint64_t ent_base; /* the FIFO position (counted from the start) of its first entry left */
    uint32_t src;
    uint32_t nent; /* its entries in the entry FIFO, in order */
    bool toi;
};

/* A reference a fragment took over: what the entry held before, given back if the transaction
 * rolls back (otherwise an earlier committed write-set would lose its conflicts: a lost update). */
struct undo {
    struct cert_entry *e; /* kept alive by the fragment's FIFO slot while the stream is open */
    int64_t frag, prev;   /* the fragment's seqno, the reference it replaced (-1: none) */
    uint32_t prev_src;
    uint8_t type, prev_toi;
};

struct stream { /* an open streaming transaction: the seqnos of its passed fragments */
    tr_uuid src;
    uint64_t trx_id;
    int64_t *frags; /* increasing */
    size_t nfrags, cap;
    struct undo *undo; /* in the order taken */
    size_t nundo, undo_cap;
};

struct scratch { /* one key of the write-set being certified */
    struct cert_entry *e; /* found in the index, or NULL */
    struct cert_entry *fresh;
    uint64_t hash;
    const uint8_t *id;
    uint32_t id_len;
    uint8_t type;
};

struct cert_index {
    struct cert_keytab tab;
    cert_hash_fn hash;

    struct rec *recs; /* ring */
    size_t rec_cap, rec_head, rec_len;
    struct cert_entry **ents; /* ring */
    size_t ent_cap, ent_head, ent_len;
    uint64_t ent_popped; /* entries purged so far: the FIFO position of ents[ent_head] */

    struct stream *streams;
    size_t nstreams, streams_cap;

    struct src *srcs;
    uint32_t nsrcs, srcs_cap;

    struct scratch *scr;
    size_t scr_cap;

    int64_t last_seqno;  /* last certified or barrier seqno */
    int64_t barrier;     /* last PA-unsafe, TOI or barrier seqno: everyone depends on it */
    int64_t purged_upto; /* entries at or below are gone, or going (the head record started) */
    /* Purge in bounded steps: the records to pop are those at or below purge_goal (what
     * cert_purge allowed when called: below any open stream, at most last_seqno); purged_upto
     * becomes purge_mark (the floor asked for, below any open stream) once they are gone;
     * whether the head record is partly popped (its seqno counts as purged already); the
     * entries one cert_purge call may pop. */
    int64_t purge_goal, purge_mark;
    bool head_started;
    size_t purge_budget;
    /* What purging took away that could still matter: the newest purged write-set (and its
     * source), the newest purged one from any other source, the newest purged TOI. A write-set
     * whose last_seen is below one it could conflict with cannot be judged any more. */
    int64_t gone_seqno, gone_other, gone_toi;
    tr_uuid gone_src;

    struct cert_stats st;
    struct cert_conflict_info last_conflict;
};

/* wyhash-style 64-bit hash: multiply-fold on 8-byte words. Only narrows searches, so its
 * quality affects speed, never verdicts. */
static inline uint64_t fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t cert_key_hash(const uint8_t *id, size_t len)
{
    const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                   k2 = 0x8ebc6af09c88c6e3ull;
    uint64_t h = k0 ^ (len * k1);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, id + i, 8);
        h = fold(w ^ k1, h ^ k2);
    }
    uint64_t t = 0;
    if (i < len) memcpy(&t, id + i, len - i);
    h = fold(t ^ k2 ^ (uint64_t)len, h ^ k0);
    return fold(h ^ k1, k2);
}

struct cert_index *cert_index_new(int64_t position)
{
    struct cert_index *idx = calloc(1, sizeof *idx);
    if (!idx) return NULL;
    if (cert_keytab_init(&idx->tab)) {
        free(idx);
        return NULL;
    }
    idx->hash = cert_key_hash;
    if (position < -1) position = -1;
    idx->last_seqno = idx->barrier = idx->purged_upto = position;
    idx->purge_goal = idx->purge_mark = position;
    idx->purge_budget = CERT_PURGE_BUDGET;
    /* Before the starting position nothing is known: as if every source had written there. */
    idx->gone_seqno = idx->gone_other = idx->gone_toi = position;
    return idx;
}

static void streams_clear(struct cert_index *idx)
{
    for (size_t i = 0; i < idx->nstreams; i++) {
        free(idx->streams[i].frags);
        free(idx->streams[i].undo);
    }
    idx->nstreams = 0;
}

void cert_index_free(struct cert_index *idx)
{
    if (!idx) return;
    streams_clear(idx);
    free(idx->streams);
    cert_keytab_free(&idx->tab);
    free(idx->recs);
    free(idx->ents);
    free(idx->srcs);
    free(idx->scr);
    free(idx);
}

int cert_index_set_hash(struct cert_index *idx, cert_hash_fn fn)
{
    if (idx->tab.count) return -1;
    idx->hash = fn ? fn : cert_key_hash;
    return 0;
}

/* Ring growth keeps the order: head..end, then 0..head. */
static int grow_ring(void *bufp, size_t esz, size_t *cap, size_t *head, size_t len, size_t need)
{
    if (need <= *cap) return 0;
    void *o;
    memcpy(&o, bufp, sizeof o); /* bufp points at the caller's typed pointer */
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / esz) return -1;
        ncap *= 2;
    }
    unsigned char *n = malloc(ncap * esz);
    if (!n) return -1;
    size_t first = len < *cap - *head ? len : *cap - *head;
    if (first) memcpy(n, (unsigned char *)o + *head * esz, first * esz);
    if (len > first) memcpy(n + first * esz, o, (len - first) * esz);
    free(o);
    memcpy(bufp, &n, sizeof n);
    *cap = ncap;
    *head = 0;
    return 0;
}

static uint32_t src_find(const struct cert_index *idx, const tr_uuid *id)
{
    for (uint32_t i = 0; i < idx->nsrcs; i++)
        if (idx->srcs[i].refs && memcmp(idx->srcs[i].id.data, id->data, 16) == 0) return i;
    return NO_SRC;
}

/* A slot for a new source, growing the array if needed: index or NO_SRC. */
static uint32_t src_slot(struct cert_index *idx)
{
    for (uint32_t i = 0; i < idx->nsrcs; i++)
        if (!idx->srcs[i].refs) return i;
    if (idx->nsrcs == idx->srcs_cap) {
        uint32_t ncap = idx->srcs_cap ? idx->srcs_cap * 2 : 8;
        struct src *n = realloc(idx->srcs, ncap * sizeof *n);
        if (!n) return NO_SRC;
        idx->srcs = n;
        idx->srcs_cap = ncap;
    }
    idx->srcs[idx->nsrcs].refs = 0;
    return idx->nsrcs++;
}

static int scratch_reserve(struct cert_index *idx, size_t n)
{
    if (n <= idx->scr_cap) return 0;
    size_t cap = idx->scr_cap ? idx->scr_cap : 16;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof(struct scratch)) return -1;
        cap *= 2;
    }
    struct scratch *s = realloc(idx->scr, cap * sizeof *s);
    if (!s) return -1;
    idx->scr = s;
    idx->scr_cap = cap;
    return 0;
}

static bool touched_by(const struct cert_entry *e, int64_t seqno)
{
    for (int t = 0; t < CERT_KEY_NTYPES; t++)
        if (e->seqno[t] == seqno) return true;
    return false;
}

/* Pass 1: look every key up and test it. Returns CERT_OK/CERT_CONFLICT/CERT_EINVAL; fills
 * idx->scr[0..nkeys) and raises *depends. Reads the index only. */
static int test_keys(struct cert_index *idx, const struct cert_ws_view *ws, bool toi, uint32_t src,
                     int64_t *depends)
{
    struct cert_key_iter it;
    struct cert_key k;
    int rc;
    uint32_t i = 0;
    int64_t last_seen = ws->hdr.last_seen;
    cert_key_iter_init(&it, ws->keys, ws->keys_len, ws->hdr.nkeys);
    while ((rc = cert_key_next(&it, &k)) == 1) {
        struct scratch *s = &idx->scr[i];
        s->hash = idx->hash(k.id, k.id_len);
        s->id = k.id;
        s->id_len = (uint32_t)k.id_len;
        s->type = (uint8_t)k.type;
        s->fresh = NULL;
        s->e = cert_keytab_find(&idx->tab, s->hash, k.id, k.id_len);
        const struct cert_entry *e = s->e;
        for (int f = 0; e && f < CERT_KEY_NTYPES; f++) {
            int64_t ref = e->seqno[f];
            unsigned r = rule[f][k.type];
            if (ref < 0 || r == N) continue;
            /* Inside the window and either TOI or another node's: the originator could not
             * have seen it, so both cannot commit. TOI itself never fails (it runs alone). */
            if (r == C && !toi && ref > last_seen && ((e->toi >> f & 1) || e->src[f] != src)) {
                idx->last_conflict = (struct cert_conflict_info){i, k.type, f, ref, e->toi >> f & 1};
                /* A malformed key set is refused as such, wherever the damage lies. */
                while ((rc = cert_key_next(&it, &k)) == 1) {}
                return rc == 0 ? CERT_CONFLICT : CERT_EINVAL;
            }
            if (ref > *depends) *depends = ref;
        }
        i++;
    }
    return rc == 0 ? CERT_OK : CERT_EINVAL;
}

/* Everything that can fail, before anything changes. */
static int reserve(struct cert_index *idx, uint32_t nkeys, uint32_t *src, const tr_uuid *id)
{
    size_t nnew = 0;
    for (uint32_t i = 0; i < nkeys; i++) nnew += !idx->scr[i].e;
    if (cert_keytab_reserve(&idx->tab, nnew) ||
        grow_ring(&idx->ents, sizeof *idx->ents, &idx->ent_cap, &idx->ent_head,
                  idx->ent_len, idx->ent_len + nkeys) ||
        grow_ring(&idx->recs, sizeof *idx->recs, &idx->rec_cap, &idx->rec_head,
                  idx->rec_len, idx->rec_len + 1))
        return -1;
    if (*src == NO_SRC) {
        uint32_t s = src_slot(idx);
        if (s == NO_SRC) return -1;
        idx->srcs[s].id = *id; /* refs stays 0 until the record is pushed */
        *src = s;
    }
    for (uint32_t i = 0; i < nkeys; i++) {
        struct scratch *s = &idx->scr[i];
        if (s->e) continue;
        s->fresh = malloc(sizeof *s->fresh + s->id_len);
        if (!s->fresh) {
            for (uint32_t j = 0; j < i; j++) {
                free(idx->scr[j].fresh);
                idx->scr[j].fresh = NULL;
            }
            return -1;
        }
    }
    return 0;
}

/* Pass 2: reference every key at seqno. Cannot fail. */
static void insert_keys(struct cert_index *idx, uint32_t nkeys, int64_t seqno, uint32_t src,
                        bool toi, struct stream *undo_to)
{
    uint32_t nent = 0;
    for (uint32_t i = 0; i < nkeys; i++) {
        struct scratch *s = &idx->scr[i];
        struct cert_entry *e = s->e;
        if (!e) {
            /* An earlier key of this same write-set may have created it. */
            e = cert_keytab_find(&idx->tab, s->hash, s->id, s->id_len);
            if (e) {
                free(s->fresh);
            } else {
                e = s->fresh;
                e->hash = s->hash;
                for (int t = 0; t < CERT_KEY_NTYPES; t++) e->seqno[t] = -1;
                memset(e->src, 0, sizeof e->src);
                e->toi = 0;
                e->rings = 0;
                e->id_len = s->id_len;
                memcpy(e->id, s->id, s->id_len);
                cert_keytab_insert(&idx->tab, e);
            }
            s->fresh = NULL;
        }
        if (!touched_by(e, seqno)) { /* once per write-set, so purge visits it once */
            idx->ents[(idx->ent_head + idx->ent_len++) & (idx->ent_cap - 1)] = e;
            e->rings++;
            nent++;
        }
        if (undo_to) /* room reserved by stream_reserve */
            undo_to->undo[undo_to->nundo++] = (struct undo){e, seqno, e->seqno[s->type], e->src[s->type],
                                                            s->type, (uint8_t)((e->toi >> s->type) & 1u)};
        e->seqno[s->type] = seqno;
        e->src[s->type] = src;
        e->toi = (uint8_t)((e->toi & ~(1u << s->type)) | (toi ? 1u << s->type : 0));
    }
    idx->recs[(idx->rec_head + idx->rec_len++) & (idx->rec_cap - 1)] =
        (struct rec){seqno, idx->ent_popped + idx->ent_len - nent, src, nent, toi};
    idx->srcs[src].refs++;
}

/* ---- streaming transactions ---- */

static struct stream *stream_find(struct cert_index *idx, const tr_uuid *src, uint64_t trx_id)
{
    for (size_t i = 0; i < idx->nstreams; i++)
        if (idx->streams[i].trx_id == trx_id && memcmp(idx->streams[i].src.data, src->data, 16) == 0)
            return &idx->streams[i];
    return NULL;
}

/* Room in st's undo log for nkeys more references (st->undo may be NULL). */
static int undo_reserve(struct stream *st, uint32_t nkeys)
{
    if (st->nundo + nkeys <= st->undo_cap) return 0;
    size_t cap = st->undo_cap ? st->undo_cap : 8;
    while (cap < st->nundo + nkeys) cap *= 2;
    struct undo *n = realloc(st->undo, cap * sizeof *n);
    if (!n) return -1;
    st->undo = n;
    st->undo_cap = cap;
    return 0;
}

/* Room for one more fragment of st and its nkeys references, or for a new stream (st NULL:
 * *fresh gets its fragment array, *fresh_undo its undo log). Changes nothing the index
 * answers with. */
static int stream_reserve(struct cert_index *idx, struct stream *st, uint32_t nkeys, int64_t **fresh,
                          struct undo **fresh_undo, size_t *undo_cap)
{
    if (st) {
        if (undo_reserve(st, nkeys)) return -1;
        if (st->nfrags < st->cap) return 0;
        size_t cap = st->cap * 2;
        int64_t *n = realloc(st->frags, cap * sizeof *n);
        if (!n) return -1;
        st->frags = n;
        st->cap = cap;
        return 0;
    }
    if (idx->nstreams == idx->streams_cap) {
        size_t cap = idx->streams_cap ? idx->streams_cap * 2 : 4;
        struct stream *n = realloc(idx->streams, cap * sizeof *n);
        if (!n) return -1;
        idx->streams = n;
        idx->streams_cap = cap;
    }
    struct stream tmp = {0};
    if (undo_reserve(&tmp, nkeys)) return -1;
    *fresh = malloc(4 * sizeof **fresh);
    if (!*fresh) {
        free(tmp.undo);
        return -1;
    }
    *fresh_undo = tmp.undo;
    *undo_cap = tmp.undo_cap;
    return 0;
}

/* A later fragment of another open stream that took this reference over from u's fragment
 * gives back, if it rolls back too, what u's fragment replaced: never the reference of a
 * transaction rolled back already (a spurious conflict with every write-set that had not seen
 * it; trireme-nsim --streaming seed 906). */
static void undo_hand_over(struct cert_index *idx, const struct stream *st, const struct undo *u)
{
    for (size_t k = 0; k < idx->nstreams; k++) {
        struct stream *o = &idx->streams[k];
        if (o == st) continue;
        for (size_t j = 0; j < o->nundo; j++) {
            struct undo *w = &o->undo[j];
            if (w->e == u->e && w->type == u->type && w->prev == u->frag) {
                w->prev = u->prev;
                w->prev_src = u->prev_src;
                w->prev_toi = u->prev_toi;
            }
        }
    }
}

/* A rolled-back streaming transaction never commits anywhere: its keys must not make others
 * fail or wait. Each reference a fragment took over goes back to what it replaced, newest
 * first, unless a later write-set has taken it since (that one stands and covers the older
 * conflict window; if it is another open stream's fragment, that one gives back what this
 * one replaced when it rolls back) or what it replaced was purged meanwhile. The entries stay
 * until purge pops them (it frees an entry once no reference and no FIFO slot is left). */
static void stream_drop_keys(struct cert_index *idx, const struct stream *st)
{
    for (size_t i = st->nundo; i-- > 0;) {
        const struct undo *u = &st->undo[i];
        struct cert_entry *e = u->e;
        /* a key twice in one fragment: the older undo, next in this loop, gives back what was
         * there before */
        if (u->prev == u->frag) continue;
        if (e->seqno[u->type] != u->frag) { /* taken by a later write-set since */
            undo_hand_over(idx, st, u);
            continue;
        }
        bool back = u->prev >= 0 && u->prev > idx->purged_upto;
        e->seqno[u->type] = back ? u->prev : -1;
        e->src[u->type] = back ? u->prev_src : 0;
        e->toi = (uint8_t)((e->toi & ~(1u << u->type)) | (back && u->prev_toi ? 1u << u->type : 0));
    }
}

static void stream_close(struct cert_index *idx, struct stream *st, bool rolled_back)
{
    if (rolled_back) stream_drop_keys(idx, st);
    free(st->undo);
    free(st->frags);
    *st = idx->streams[--idx->nstreams];
}

void cert_streaming_close(struct cert_index *idx, bool (*keep)(const tr_uuid *src, void *arg),
                          void *arg)
{
    for (size_t i = 0; i < idx->nstreams;) {
        if (keep(&idx->streams[i].src, arg))
            i++;
        else
            stream_close(idx, &idx->streams[i], true); /* the last one moves to i */
    }
}

size_t cert_streaming_open(const struct cert_index *idx)
{
    return idx->nstreams;
}

static bool purge_step(struct cert_index *idx, size_t budget);

/* A rollback fragment is not tested (Galera bypasses certification for it): it only ends its
 * transaction, everywhere, and runs alone like any PA-unsafe write-set. */
static int certify_rollback(struct cert_index *idx, const struct cert_ws_view *ws, int64_t seqno,
                            int64_t *depends_seqno)
{
    if (cert_keys_validate(ws->keys, ws->keys_len, ws->hdr.nkeys)) return CERT_EINVAL;
    struct stream *st = stream_find(idx, &ws->hdr.source, ws->hdr.trx_id);
    if (st) stream_close(idx, st, true);
    idx->barrier = idx->last_seqno = seqno;
    idx->st.certified++;
    idx->st.deps_dist_sum += 1;
    *depends_seqno = seqno - 1;
    purge_step(idx, CERT_PURGE_STEP + 2 * (size_t)ws->hdr.nkeys);
    return CERT_OK;
}

int cert_certify(struct cert_index *idx, const struct cert_ws_view *ws, int64_t seqno,
                 int64_t *depends_seqno)
{
    *depends_seqno = TR_SEQNO_UNDEFINED;
    if (seqno <= idx->last_seqno) return CERT_EINVAL;
    bool toi = ws->hdr.flags & CERT_F_ISOLATION;
    bool unsafe = ws->hdr.flags & CERT_F_PA_UNSAFE;
    uint32_t nkeys = ws->hdr.nkeys;
    int64_t last_seen = ws->hdr.last_seen;
    uint32_t ends = ws->hdr.flags & (CERT_F_TRX_START | CERT_F_TRX_END);
    if (!toi && (ws->hdr.flags & CERT_F_ROLLBACK))
        return certify_rollback(idx, ws, seqno, depends_seqno);
    bool fragment = !toi && ends != (CERT_F_TRX_START | CERT_F_TRX_END);
    if (scratch_reserve(idx, nkeys)) return CERT_ENOMEM;

    /* A write-set that could have conflicted with a purged one cannot be judged: it fails.
     * Only another source's or a TOI write-set could conflict, so a node's own purged work
     * never fails it. A last_seen at or past its own seqno is a lie. */
    int64_t gone = memcmp(idx->gone_src.data, ws->hdr.source.data, 16) ? idx->gone_seqno
                                                                       : idx->gone_other;
    if (idx->gone_toi > gone) gone = idx->gone_toi;
    if (!toi && (last_seen < gone || last_seen >= seqno)) {
        if (cert_keys_validate(ws->keys, ws->keys_len, nkeys)) return CERT_EINVAL;
        idx->st.too_old++;
        idx->last_seqno = seqno;
        purge_step(idx, CERT_PURGE_STEP + 2 * (size_t)nkeys);
        return CERT_CONFLICT;
    }

    uint32_t src = src_find(idx, &ws->hdr.source);
    int64_t depends = idx->barrier;
    int rc = test_keys(idx, ws, toi, src, &depends);
    if (rc == CERT_EINVAL) return rc;
    if (rc == CERT_CONFLICT) {
        /* a failed fragment leaves its transaction open: the rollback fragment closes it */
        idx->st.conflicts++;
        idx->last_seqno = seqno;
        purge_step(idx, CERT_PURGE_STEP + 2 * (size_t)nkeys);
        return CERT_CONFLICT;
    }
    struct stream *st = fragment ? stream_find(idx, &ws->hdr.source, ws->hdr.trx_id) : NULL;
    /* a fragment is applied after the previous one: the same host context applies both */
    if (st && st->frags[st->nfrags - 1] > depends) depends = st->frags[st->nfrags - 1];
    int64_t *fresh = NULL;
    struct undo *fresh_undo = NULL;
    size_t undo_cap = 0;
    bool opens = fragment && !(ends & CERT_F_TRX_END);
    if ((opens && stream_reserve(idx, st, nkeys, &fresh, &fresh_undo, &undo_cap)) ||
        reserve(idx, nkeys, &src, &ws->hdr.source)) {
        free(fresh);
        free(fresh_undo);
        return CERT_ENOMEM;
    }
    if (opens && !st) {
        /* opened by its first fragment, or by a later one on a member whose index started
         * after the first (a joiner) */
        st = &idx->streams[idx->nstreams++];
        *st = (struct stream){ws->hdr.source, ws->hdr.trx_id, fresh, 0, 4, fresh_undo, 0, undo_cap};
    }
    insert_keys(idx, nkeys, seqno, src, toi, opens ? st : NULL);
    if (fragment && (ends & CERT_F_TRX_END)) {
        if (st) stream_close(idx, st, false); /* committed: its keys age out as any others */
    } else if (fragment) {
        st->frags[st->nfrags++] = seqno;
    }

    if (toi || unsafe) { /* serialised: after everything before, before everything after */
        depends = seqno - 1;
        idx->barrier = seqno;
    }
    idx->last_seqno = seqno;
    idx->st.certified++;
    idx->st.deps_dist_sum += seqno - depends;
    if (last_seen >= 0) idx->st.interval_sum += seqno - last_seen - 1;
    *depends_seqno = depends;
    purge_step(idx, CERT_PURGE_STEP + 2 * (size_t)nkeys);
    return CERT_OK;
}

void cert_barrier(struct cert_index *idx, int64_t seqno)
{
    if (seqno <= idx->last_seqno) return;
    idx->last_seqno = seqno;
    idx->barrier = seqno;
}

/* Why a partial purge keeps verdicts identical on every node (docs/design/writeset.md, "Purge
 * in bounded steps"): budgets are counts, and every node makes the same calls at the same points
 * of the ordered stream, so all indexes hold the same entries at every point. Verdicts also equal
 * a full purge's for any write-set with last_seen >= the floor asked for: a stale reference
 * (<= floor <= last_seen) never conflicts, and gone_* only trail the full purge's.
 *
 * Pops records at or below purge_goal in seqno order, at most budget units (an entry or a
 * record each), possibly stopping inside a record; returns whether nothing at or below the
 * floor is left. A record counts as purged from its first popped entry on: gone_* and
 * purged_upto move then, so a write-set that could have conflicted with one of its popped
 * references fails as too old, and a rolled-back fragment never gives a reference back to it
 * (the pop that would clear it may have passed already). The budget is a count, never time:
 * every node pops the same entries at the same point of the ordered stream. */
static bool purge_step(struct cert_index *idx, size_t budget)
{
    int64_t floor = idx->purge_goal;
    while (idx->rec_len && idx->recs[idx->rec_head].seqno <= floor) {
        if (!budget) return false;
        budget--;
        struct rec *r = &idx->recs[idx->rec_head];
        if (!idx->head_started) {
            idx->head_started = true;
            if (memcmp(idx->gone_src.data, idx->srcs[r->src].id.data, 16) != 0) {
                idx->gone_other = idx->gone_seqno;
                idx->gone_src = idx->srcs[r->src].id;
            }
            idx->gone_seqno = r->seqno;
            if (r->toi) idx->gone_toi = r->seqno;
            if (r->seqno > idx->purged_upto) idx->purged_upto = r->seqno;
        }
        for (; r->nent && budget; r->nent--, budget--) {
            struct cert_entry *e = idx->ents[idx->ent_head];
            idx->ent_head = (idx->ent_head + 1) & (idx->ent_cap - 1);
            idx->ent_len--;
            idx->ent_popped++;
            r->ent_base++;
            e->rings--;
            bool live = false;
            for (int t = 0; t < CERT_KEY_NTYPES; t++) {
                if (e->seqno[t] == r->seqno) e->seqno[t] = -1; /* still ours: nobody newer */
                live |= e->seqno[t] >= 0;
            }
            /* a rolled-back fragment's references are gone while later slots may still
             * point here: only the last slot frees */
            if (!live && !e->rings) {
                cert_keytab_remove(&idx->tab, e);
                free(e);
            }
        }
        if (r->nent) return false;
        idx->srcs[r->src].refs--;
        idx->head_started = false;
        idx->rec_head = (idx->rec_head + 1) & (idx->rec_cap - 1);
        idx->rec_len--;
    }
    /* the backlog is gone: so is everything up to the mark, even seqnos no record had */
    if (idx->purge_mark > idx->purged_upto) idx->purged_upto = idx->purge_mark;
    return true;
}

void cert_purge(struct cert_index *idx, int64_t safe_seqno)
{
    /* the keys of an open streaming transaction stay until its last fragment */
    for (size_t i = 0; i < idx->nstreams; i++)
        if (idx->streams[i].frags[0] - 1 < safe_seqno) safe_seqno = idx->streams[i].frags[0] - 1;
    if (safe_seqno > idx->purge_mark) idx->purge_mark = safe_seqno;
    /* exactly the records a purge all at once would pop now, no later one */
    int64_t goal = safe_seqno < idx->last_seqno ? safe_seqno : idx->last_seqno;
    if (goal > idx->purge_goal) idx->purge_goal = goal;
    purge_step(idx, idx->purge_budget);
}

void cert_index_set_purge_budget(struct cert_index *idx, size_t budget)
{
    idx->purge_budget = budget ? budget : CERT_PURGE_BUDGET;
}

void cert_index_reset(struct cert_index *idx, int64_t position)
{
    streams_clear(idx); /* the new state holds their outcome; their fragments start over */
    /* all at once: every member resets at the same point, and the joiner's index is empty */
    if (idx->rec_len) {
        idx->purge_goal = idx->recs[(idx->rec_head + idx->rec_len - 1) & (idx->rec_cap - 1)].seqno;
        purge_step(idx, SIZE_MAX);
    }
    if (position < -1) position = -1;
    idx->last_seqno = idx->barrier = idx->purged_upto = position;
    idx->purge_goal = idx->purge_mark = position;
    idx->head_started = false;
    idx->gone_seqno = idx->gone_other = idx->gone_toi = position;
    memset(&idx->gone_src, 0, sizeof idx->gone_src);
}

size_t cert_index_size(const struct cert_index *idx)
{
    return idx->tab.count;
}

void cert_index_stats(const struct cert_index *idx, struct cert_stats *st)
{
    *st = idx->st;
    st->index_size = idx->tab.count;
    st->window = idx->rec_len;
    st->purged_upto = idx->purged_upto;
    st->last_seqno = idx->last_seqno;
}

double cert_stats_deps_distance(const struct cert_stats *st)
{
    return st->certified ? (double)st->deps_dist_sum / (double)st->certified : 0.0;
}

double cert_stats_interval(const struct cert_stats *st)
{
    return st->certified ? (double)st->interval_sum / (double)st->certified : 0.0;
}

void cert_last_conflict(const struct cert_index *idx, struct cert_conflict_info *out)
{
    *out = idx->last_conflict;
}
