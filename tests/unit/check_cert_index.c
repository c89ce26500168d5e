/* tests/unit/check_cert_index: the certification index against Galera's conflict/dependency table.
 * Every key-type pair, the last_seen window edges, TOI, PA-unsafe, collisions, purge, and a model. */
#include "certification/cert_index.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ck_assert records every passing check through Check's IPC: too slow for million-step loops. */
#define REQUIRE(cond, ...)                         \
    do {                                           \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);    \
    } while (0)

#define NODE_A 1
#define NODE_B 2

/* A write-set under construction: keys, flags, source, last_seen. */
struct ws {
    struct tr_buf keys;
    struct cert_ws_view v;
};

/* A whole transaction (TRX_START | TRX_END) with these extra flags. */
static void ws_init(struct ws *w, int node, int64_t last_seen, uint32_t flags)
{
    memset(w, 0, sizeof *w);
    w->v.hdr.source.data[0] = (uint8_t)node;
    w->v.hdr.last_seen = last_seen;
    w->v.hdr.flags = flags | CERT_F_TRX_START | CERT_F_TRX_END;
}

static void ws_key(struct ws *w, int type, const char *table, const char *row)
{
    struct cert_key_part p[3] = {{"db", 2}, {table, strlen(table)}, {row, row ? strlen(row) : 0}};
    REQUIRE(cert_ws_key_append(&w->keys, type, p, row ? 3 : 2) == 0, "key append failed");
    w->v.hdr.nkeys++;
    w->v.keys = w->keys.ptr;
    w->v.keys_len = w->keys.len;
}

static int certify(struct cert_index *idx, struct ws *w, int64_t seqno, int64_t *dep)
{
    int rc = cert_certify(idx, &w->v, seqno, dep);
    tr_buf_free(&w->keys);
    return rc;
}

/* One key of type t on row r by node at seqno with last_seen: returns the verdict. */
static int one(struct cert_index *idx, int node, int t, const char *row, int64_t seqno,
               int64_t last_seen, uint32_t flags, int64_t *dep)
{
    struct ws w;
    ws_init(&w, node, last_seen, flags);
    ws_key(&w, t, "t", row);
    return certify(idx, &w, seqno, dep);
}

static const char *tname[4] = {"SH", "RE", "UP", "EX"};

/* Galera's table, [found][new]: 'C' conflict, 'D' dependency, '-' nothing. Spelled out
 * here independently of the implementation's table. */
static const char *const table[4] = {
    /* new: SH RE UP EX */
    "--DD", /* found SH */
    "--DC", /* found RE */
    "DDCC", /* found UP */
    "CCCC", /* found EX */
};

START_TEST(every_pair_other_node_in_window)
{
    for (int f = 0; f < 4; f++)
        for (int n = 0; n < 4; n++) {
            struct cert_index *idx = cert_index_new(0);
            int64_t dep;
            ck_assert_int_eq(one(idx, NODE_A, f, "r", 1, 0, 0, &dep), CERT_OK);
            ck_assert_int_eq(dep, 0);
            int rc = one(idx, NODE_B, n, "r", 2, 0, 0, &dep);
            char want = table[f][n];
            ck_assert_msg(rc == (want == 'C' ? CERT_CONFLICT : CERT_OK), "found %s new %s: rc %d",
                          tname[f], tname[n], rc);
            ck_assert_msg(dep == (want == 'C' ? -1 : want == 'D' ? 1 : 0),
                          "found %s new %s: depends %lld", tname[f], tname[n], (long long)dep);
            /* a failed write-set leaves nothing behind: a third one sees only the first */
            if (want == 'C') {
                ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "other", 3, 0, 0, &dep), CERT_OK);
                ck_assert_uint_eq(cert_index_size(idx), 2);
            }
            cert_index_free(idx);
        }
}
END_TEST

START_TEST(every_pair_same_node)
{
    /* The same node's write-sets never conflict: local locking already ordered them.
     * A conflict cell becomes a dependency. */
    for (int f = 0; f < 4; f++)
        for (int n = 0; n < 4; n++) {
            struct cert_index *idx = cert_index_new(0);
            int64_t dep;
            ck_assert_int_eq(one(idx, NODE_A, f, "r", 1, 0, 0, &dep), CERT_OK);
            ck_assert_int_eq(one(idx, NODE_A, n, "r", 2, 0, 0, &dep), CERT_OK);
            ck_assert_msg(dep == (table[f][n] == '-' ? 0 : 1), "found %s new %s: depends %lld",
                          tname[f], tname[n], (long long)dep);
            cert_index_free(idx);
        }
}
END_TEST

START_TEST(every_pair_window_edges)
{
    /* The found write-set is at seqno 5. last_seen = 5: it was seen, no conflict (but the
     * dependency stays). last_seen = 4: it was not, conflict. */
    for (int f = 0; f < 4; f++)
        for (int n = 0; n < 4; n++) {
            struct cert_index *idx = cert_index_new(0);
            int64_t dep;
            ck_assert_int_eq(one(idx, NODE_A, f, "r", 5, 0, 0, &dep), CERT_OK);
            ck_assert_int_eq(one(idx, NODE_B, n, "r", 6, 5, 0, &dep), CERT_OK);
            ck_assert_int_eq(dep, table[f][n] == '-' ? 0 : 5);
            cert_index_free(idx);

            idx = cert_index_new(0);
            ck_assert_int_eq(one(idx, NODE_A, f, "r", 5, 0, 0, &dep), CERT_OK);
            int rc = one(idx, NODE_B, n, "r", 6, 4, 0, &dep);
            ck_assert_int_eq(rc, table[f][n] == 'C' ? CERT_CONFLICT : CERT_OK);
            cert_index_free(idx);
        }
}
END_TEST

START_TEST(different_keys_never_interact)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r1", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r2", 2, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 0);
    /* a table-level key (two parts) is a different key from any row key */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, NULL, 3, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 0);
    /* parts are not concatenated: "ab","c" differs from "a","bc" */
    struct ws w;
    ws_init(&w, NODE_A, 0, 0);
    struct cert_key_part p1[2] = {{"ab", 2}, {"c", 1}};
    cert_ws_key_append(&w.keys, CERT_KEY_EXCLUSIVE, p1, 2);
    w.v.hdr.nkeys = 1, w.v.keys = w.keys.ptr, w.v.keys_len = w.keys.len;
    ck_assert_int_eq(certify(idx, &w, 4, &dep), CERT_OK);
    ws_init(&w, NODE_B, 0, 0);
    struct cert_key_part p2[2] = {{"a", 1}, {"bc", 2}};
    cert_ws_key_append(&w.keys, CERT_KEY_EXCLUSIVE, p2, 2);
    w.v.hdr.nkeys = 1, w.v.keys = w.keys.ptr, w.v.keys_len = w.keys.len;
    ck_assert_int_eq(certify(idx, &w, 5, &dep), CERT_OK);
    ck_assert_uint_eq(cert_index_size(idx), 5);
    cert_index_free(idx);
}
END_TEST

START_TEST(latest_reference_per_type_counts)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "r", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r", 2, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_REFERENCE, "r", 3, 0, 0, &dep), CERT_OK);
    /* UPDATE depends on the newest SH (2) and RE (3) */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_UPDATE, "r", 4, 3, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 3);
    /* EX from A: conflicts with B's UP at 4 unless seen */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 5, 3, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 6, 4, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 4);
    struct cert_conflict_info ci;
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r", 7, 5, 0, &dep), CERT_CONFLICT);
    cert_last_conflict(idx, &ci);
    ck_assert_int_eq(ci.found_type, CERT_KEY_EXCLUSIVE);
    ck_assert_int_eq(ci.found_seqno, 6);
    ck_assert_int_eq(ci.key_type, CERT_KEY_SHARED);
    ck_assert_int_eq(ci.key_index, 0);
    cert_index_free(idx);
}
END_TEST

START_TEST(toi_conflicts_with_everyone)
{
    for (int n = 0; n < 4; n++) {
        struct cert_index *idx = cert_index_new(10);
        int64_t dep;
        ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "x", 11, 10, 0, &dep), CERT_OK);
        ck_assert_int_eq(dep, 10);
        /* TOI: always passes, serialised after everything before it */
        ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 12, 10, CERT_F_ISOLATION, &dep),
                         CERT_OK);
        ck_assert_int_eq(dep, 11);
        /* even the same node's write-set conflicts with an unseen TOI key */
        ck_assert_int_eq(one(idx, NODE_A, n, "r", 13, 11, 0, &dep), CERT_CONFLICT);
        ck_assert_int_eq(one(idx, NODE_B, n, "r", 14, 11, 0, &dep), CERT_CONFLICT);
        /* once seen, a dependency */
        ck_assert_int_eq(one(idx, NODE_A, n, "r", 15, 12, 0, &dep), CERT_OK);
        ck_assert_int_eq(dep, 12); /* 13 and 14 failed: they left nothing to depend on */
        /* unrelated keys still depend on the TOI: it is a barrier */
        ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "y", 16, 15, 0, &dep), CERT_OK);
        ck_assert_int_eq(dep, 12);
        cert_index_free(idx);
    }
}
END_TEST

START_TEST(toi_never_fails)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 2, 0, CERT_F_ISOLATION, &dep),
                     CERT_OK);
    ck_assert_int_eq(dep, 1);
    /* not even when its last_seen is ancient or bogus */
    cert_purge(idx, 1);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 3, 0, CERT_F_ISOLATION, &dep),
                     CERT_OK);
    ck_assert_int_eq(dep, 2);
    /* a TOI after a TOI from the same node, unseen: TOI does not check at all */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r", 4, 1, CERT_F_ISOLATION, &dep),
                     CERT_OK);
    cert_index_free(idx);
}
END_TEST

START_TEST(pa_unsafe_serialised)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "a", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "b", 2, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 0);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "c", 3, 0, CERT_F_PA_UNSAFE, &dep),
                     CERT_OK);
    ck_assert_int_eq(dep, 2);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "d", 4, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 3);
    /* PA-unsafe still certifies normally */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "d", 5, 3, CERT_F_PA_UNSAFE, &dep),
                     CERT_CONFLICT);
    ck_assert_int_eq(dep, -1);
    /* a barrier (view) is the same for later write-sets */
    cert_barrier(idx, 6);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "e", 7, 6, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 6);
    cert_index_free(idx);
}
END_TEST

START_TEST(seqnos_must_grow)
{
    struct cert_index *idx = cert_index_new(5);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 5, 4, 0, &dep), CERT_EINVAL);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 7, 5, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 7, 5, 0, &dep), CERT_EINVAL);
    /* a failed write-set still uses up its seqno */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 9, 9, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 9, 8, 0, &dep), CERT_EINVAL);
    /* malformed key set */
    struct ws w;
    ws_init(&w, NODE_A, 9, 0);
    ws_key(&w, CERT_KEY_SHARED, "t", "r");
    w.v.hdr.nkeys = 2;
    ck_assert_int_eq(certify(idx, &w, 10, &dep), CERT_EINVAL);
    ck_assert_int_eq(dep, -1);
    /* damage after a conflicting key is still found */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "x", 10, 9, 0, &dep), CERT_OK);
    ws_init(&w, NODE_A, 9, 0);
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "x");
    ws_key(&w, CERT_KEY_SHARED, "t", "y");
    w.v.keys_len--;
    ck_assert_int_eq(certify(idx, &w, 11, &dep), CERT_EINVAL);
    ws_init(&w, NODE_A, 9, 0);
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "x");
    ck_assert_int_eq(certify(idx, &w, 11, &dep), CERT_CONFLICT);
    cert_index_free(idx);
}
END_TEST

START_TEST(duplicate_keys_in_one_write_set)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    struct ws w;
    ws_init(&w, NODE_A, 0, 0);
    ws_key(&w, CERT_KEY_SHARED, "t", "r");
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "r");
    ws_key(&w, CERT_KEY_SHARED, "t", "r");
    ck_assert_int_eq(certify(idx, &w, 1, &dep), CERT_OK);
    ck_assert_uint_eq(cert_index_size(idx), 1);
    struct cert_stats st;
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.window, 1);
    /* B's SH hits A's EX */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r", 2, 0, 0, &dep), CERT_CONFLICT);
    cert_purge(idx, 1);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

/* Every key hashes the same: only exact comparison tells them apart. */
static uint64_t same_hash(const uint8_t *id, size_t len)
{
    (void)id;
    (void)len;
    return 42;
}

START_TEST(hash_collisions_are_harmless)
{
    struct cert_index *idx = cert_index_new(0);
    ck_assert_int_eq(cert_index_set_hash(idx, same_hash), 0);
    int64_t dep;
    char row[16];
    for (int i = 0; i < 50; i++) {
        snprintf(row, sizeof row, "r%d", i);
        ck_assert_int_eq(one(idx, i % 2 ? NODE_A : NODE_B, CERT_KEY_EXCLUSIVE, row, i + 1, 0, 0, &dep),
                         CERT_OK);
        ck_assert_int_eq(dep, 0); /* no invented dependency either */
    }
    ck_assert_uint_eq(cert_index_size(idx), 50);
    /* a real conflict is still found among the colliding entries */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r20", 51, 0, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r21", 52, 0, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r20", 53, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 21);
    /* purge from the middle of a collision run keeps the rest findable */
    cert_purge(idx, 25);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r40", 54, 25, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "r10", 55, 25, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 0); /* its old reference (11) is purged: committed everywhere */
    /* the hash may only change while the index is empty */
    ck_assert_int_eq(cert_index_set_hash(idx, NULL), -1);
    cert_index_free(idx);
}
END_TEST

START_TEST(purge_and_horizon)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    for (int i = 1; i <= 10; i++) {
        char row[8];
        snprintf(row, sizeof row, "r%d", i % 4);
        ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_UPDATE, row, i, i - 1, 0, &dep), CERT_OK);
    }
    ck_assert_uint_eq(cert_index_size(idx), 4);
    cert_purge(idx, 6); /* r3 (3,7), r0 (4,8), r1 (5,9), r2 (6,10): all still referenced */
    ck_assert_uint_eq(cert_index_size(idx), 4);
    cert_purge(idx, 8);
    ck_assert_uint_eq(cert_index_size(idx), 2);
    struct cert_stats st;
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.window, 2);
    ck_assert_int_eq(st.purged_upto, 8);
    /* last_seen below a purged write-set of another node: cannot be judged, fails */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "zz", 11, 7, 0, &dep), CERT_CONFLICT);
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.too_old, 1);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "zz", 12, 8, 0, &dep), CERT_OK);
    /* the node's own purged write-sets could never conflict with it: no reason to fail */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "zy", 13, 2, 0, &dep), CERT_OK);
    /* once B's 12 is purged, A below it fails, B does not */
    cert_purge(idx, 12);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "zx", 14, 11, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "zx", 15, 11, 0, &dep), CERT_OK);
    /* a purged TOI fails everyone who had not seen it, its own node too */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "t", 16, 15, CERT_F_ISOLATION, &dep),
                     CERT_OK);
    cert_purge(idx, 16);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "zw", 17, 15, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "zw", 18, 16, 0, &dep), CERT_OK);
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.too_old, 3);
    cert_purge(idx, 100);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.window, 0);
    /* purging backwards does nothing */
    cert_purge(idx, 3);
    cert_index_stats(idx, &st);
    ck_assert_int_eq(st.purged_upto, 100);
    cert_index_free(idx);

    /* an index that starts after a state transfer knows nothing before its position */
    idx = cert_index_new(50);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 51, 49, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_SHARED, "a", 52, 50, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 50);
    cert_index_free(idx);
}
END_TEST

/* After a join every member resets its index to the join point: it must then judge exactly as
 * the joiner's fresh index does, whatever history it had before. */
START_TEST(reset_equals_fresh)
{
    struct cert_index *old = cert_index_new(0);
    int64_t dep, dep2;
    for (int i = 1; i <= 20; i++) {
        char row[8];
        snprintf(row, sizeof row, "r%d", i % 5);
        one(old, i % 2 ? NODE_A : NODE_B, CERT_KEY_EXCLUSIVE, row, i, i - 3, i == 7 ? CERT_F_ISOLATION : 0, &dep);
    }
    cert_purge(old, 9); /* an arbitrary purge history */
    cert_index_reset(old, 30);
    ck_assert_uint_eq(cert_index_size(old), 0);
    struct cert_index *fresh = cert_index_new(30);
    for (int i = 31; i <= 60; i++) {
        char row[8];
        snprintf(row, sizeof row, "r%d", i % 3);
        int node = i % 3 ? NODE_A : NODE_B;
        int64_t ls = i - 1 - (i % 7) * 3; /* some below the join point, some above */
        int t = i % 4;
        uint32_t f = i % 11 == 0 ? CERT_F_ISOLATION : 0;
        int a = one(old, node, t, row, i, ls, f, &dep);
        int b = one(fresh, node, t, row, i, ls, f, &dep2);
        ck_assert_msg(a == b && dep == dep2, "seqno %d: reset %d/%lld, fresh %d/%lld", i, a,
                      (long long)dep, b, (long long)dep2);
    }
    cert_index_free(old);
    cert_index_free(fresh);
}
END_TEST

START_TEST(stats)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_UPDATE, "a", 1, 0, 0, &dep), CERT_OK); /* dist 1 */
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_UPDATE, "b", 2, 0, 0, &dep), CERT_OK); /* dist 2 */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_UPDATE, "a", 3, 0, 0, &dep), CERT_CONFLICT);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_UPDATE, "a", 4, 1, 0, &dep), CERT_OK); /* dist 3 */
    struct cert_stats st;
    cert_index_stats(idx, &st);
    ck_assert_uint_eq(st.certified, 3);
    ck_assert_uint_eq(st.conflicts, 1);
    ck_assert_int_eq(st.deps_dist_sum, 6);
    ck_assert_int_eq(st.interval_sum, 0 + 1 + 2);
    ck_assert_double_eq_tol(cert_stats_deps_distance(&st), 2.0, 1e-9);
    ck_assert_double_eq_tol(cert_stats_interval(&st), 1.0, 1e-9);
    ck_assert_int_eq(st.last_seqno, 4);
    ck_assert_uint_eq(st.index_size, 2);
    cert_index_free(idx);
    struct cert_stats z = {0};
    ck_assert_double_eq(cert_stats_deps_distance(&z), 0.0);
}
END_TEST

/* --- long run: memory stays bounded with a sliding safe seqno --- */

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

START_TEST(purge_bounds_memory)
{
    struct cert_index *idx = cert_index_new(0);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    const int64_t n = 1000000, lag = 64;
    size_t max_size = 0, max_window = 0;
    uint64_t ok = 0;
    for (int64_t seqno = 1; seqno <= n; seqno++) {
        struct ws w;
        ws_init(&w, 1 + (int)(rng(&s) % 3), seqno - 1 - (int64_t)(rng(&s) % 8), 0);
        if (w.v.hdr.last_seen < 0) w.v.hdr.last_seen = 0;
        for (int k = 0; k < 4; k++) {
            uint64_t r = rng(&s);
            uint32_t row = (uint32_t)(r >> 8) % 50000000u; /* mostly fresh keys */
            char buf[16];
            snprintf(buf, sizeof buf, "%u", row);
            ws_key(&w, (int)(r & 3), "t", buf);
        }
        int64_t dep;
        int rc = certify(idx, &w, seqno, &dep);
        REQUIRE(rc == CERT_OK || rc == CERT_CONFLICT, "seqno %lld: rc %d", (long long)seqno, rc);
        ok += rc == CERT_OK;
        if (seqno % 16 == 0 && seqno > lag) cert_purge(idx, seqno - lag);
        struct cert_stats st;
        cert_index_stats(idx, &st);
        if (st.index_size > max_size) max_size = st.index_size;
        if (st.window > max_window) max_window = st.window;
    }
    /* at most lag + 16 write-sets of 4 keys each survive a purge */
    ck_assert_uint_le(max_window, lag + 16);
    ck_assert_uint_le(max_size, 4 * (lag + 16));
    ck_assert_uint_gt(ok, n * 9 / 10);
    cert_purge(idx, n);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

/* --- differential test against a naive model of the same rules --- */

#define MK 12 /* keys */
struct model {
    struct {
        int64_t seqno;
        int src;
        int toi;
    } ref[MK][4];
    int64_t barrier, purged, last;
    struct {
        int64_t seqno;
        int src, toi;
    } *recs; /* every passed write-set, in order */
    size_t nrecs;
};

/* Could a purged write-set have conflicted with one from src that last saw last_seen? */
static int model_too_old(const struct model *m, int src, int64_t last_seen)
{
    for (size_t i = m->nrecs; i-- > 0 && m->recs[i].seqno > last_seen;)
        if (m->recs[i].seqno <= m->purged && (m->recs[i].toi || m->recs[i].src != src)) return 1;
    return 0;
}

static int model_certify(struct model *m, const int *kk, const int *kt, int nk, int src,
                         int64_t last_seen, uint32_t flags, int64_t seqno, int64_t *dep)
{
    int toi = !!(flags & CERT_F_ISOLATION);
    *dep = -1;
    m->last = seqno;
    if (!toi && (model_too_old(m, src, last_seen) || last_seen >= seqno)) return CERT_CONFLICT;
    int64_t d = m->barrier;
    for (int i = 0; i < nk; i++)
        for (int f = 0; f < 4; f++) {
            int64_t r = m->ref[kk[i]][f].seqno;
            char cell = table[f][kt[i]];
            if (r < 0 || cell == '-') continue;
            if (cell == 'C' && !toi && r > last_seen &&
                (m->ref[kk[i]][f].toi || m->ref[kk[i]][f].src != src))
                return CERT_CONFLICT;
            if (r > d) d = r;
        }
    for (int i = 0; i < nk; i++) {
        m->ref[kk[i]][kt[i]].seqno = seqno;
        m->ref[kk[i]][kt[i]].src = src;
        m->ref[kk[i]][kt[i]].toi = toi;
    }
    if (toi || (flags & CERT_F_PA_UNSAFE)) {
        d = seqno - 1;
        m->barrier = seqno;
    }
    m->recs[m->nrecs].seqno = seqno;
    m->recs[m->nrecs].src = src;
    m->recs[m->nrecs++].toi = toi;
    *dep = d;
    return CERT_OK;
}

static void model_purge(struct model *m, int64_t safe)
{
    for (int k = 0; k < MK; k++)
        for (int t = 0; t < 4; t++)
            if (m->ref[k][t].seqno >= 0 && m->ref[k][t].seqno <= safe) m->ref[k][t].seqno = -1;
    if (safe > m->purged) m->purged = safe;
}

static size_t model_size(const struct model *m)
{
    size_t n = 0;
    for (int k = 0; k < MK; k++)
        n += m->ref[k][0].seqno >= 0 || m->ref[k][1].seqno >= 0 || m->ref[k][2].seqno >= 0 ||
             m->ref[k][3].seqno >= 0;
    return n;
}

static uint64_t tiny_hash(const uint8_t *id, size_t len)
{
    return cert_key_hash(id, len) % 3; /* plenty of collisions */
}

static void differential(int collide)
{
    struct cert_index *idx = cert_index_new(0), *twin = cert_index_new(0);
    if (collide) ck_assert_int_eq(cert_index_set_hash(idx, tiny_hash), 0);
    struct model m;
    memset(&m, 0, sizeof m);
    for (int k = 0; k < MK; k++)
        for (int t = 0; t < 4; t++) m.ref[k][t].seqno = -1;
    m.recs = malloc(sizeof *m.recs * 200000);
    uint64_t s = 12345 + (uint64_t)collide;
    int64_t committed = 0;
    int conflicts = 0;
    for (int64_t seqno = 1; seqno <= 200000; seqno++) {
        int nk = 1 + (int)(rng(&s) % 4), kk[4], kt[4], src = 1 + (int)(rng(&s) % 3);
        uint64_t r = rng(&s);
        uint32_t flags = r % 50 == 0 ? CERT_F_ISOLATION : r % 50 == 1 ? CERT_F_PA_UNSAFE : 0;
        int64_t last_seen = seqno - 1 - (int64_t)(rng(&s) % 6);
        if (last_seen < 0) last_seen = 0;
        struct ws w, w2;
        ws_init(&w, src, last_seen, flags);
        ws_init(&w2, src, last_seen, flags);
        for (int i = 0; i < nk; i++) {
            kk[i] = (int)(rng(&s) % MK);
            kt[i] = (int)(rng(&s) % 4);
            char row[8];
            snprintf(row, sizeof row, "%d", kk[i]);
            ws_key(&w, kt[i], "t", row);
            ws_key(&w2, kt[i], "t", row);
        }
        int64_t d1, d2, dm;
        int r1 = certify(idx, &w, seqno, &d1);
        int r2 = certify(twin, &w2, seqno, &d2);
        int rm = model_certify(&m, kk, kt, nk, src, last_seen, flags, seqno, &dm);
        REQUIRE(r1 == rm && d1 == dm, "seqno %lld: index %d/%lld, model %d/%lld",
                      (long long)seqno, r1, (long long)d1, rm, (long long)dm);
        /* same calls, same answers: the hash function never matters */
        REQUIRE(r1 == r2 && d1 == d2, "seqno %lld: twin differs", (long long)seqno);
        conflicts += r1 == CERT_CONFLICT;
        if (rng(&s) % 7 == 0) {
            committed = seqno - 1 - (int64_t)(rng(&s) % 5);
            if (committed > 0) {
                cert_purge(idx, committed);
                cert_purge(twin, committed);
                model_purge(&m, committed);
                REQUIRE(cert_index_size(idx) == model_size(&m), "seqno %lld: size %zu vs %zu",
                        (long long)seqno, cert_index_size(idx), model_size(&m));
            }
        }
    }
    ck_assert_int_gt(conflicts, 1000); /* the run exercised both outcomes */
    struct cert_stats st;
    cert_index_stats(idx, &st);
    ck_assert_uint_gt(st.too_old, 100); /* and the purge horizon */
    free(m.recs);
    cert_index_free(idx);
    cert_index_free(twin);
}

START_TEST(matches_model)
{
    differential(0);
}
END_TEST

START_TEST(matches_model_with_collisions)
{
    differential(1);
}
END_TEST


/* ---- streaming fragments (docs/design/streaming.md) ---- */

#define F_FIRST CERT_F_TRX_START
#define F_MIDDLE 0u
#define F_COMMIT (CERT_F_TRX_END | CERT_F_PA_UNSAFE)
#define F_ROLLBACK (CERT_F_ROLLBACK | CERT_F_PA_UNSAFE)

/* A fragment of transaction trx with exactly these flags, one EXCLUSIVE key on row (if any). */
static int frag(struct cert_index *idx, int node, uint64_t trx, uint32_t flags, const char *row,
                int64_t seqno, int64_t last_seen, int64_t *dep)
{
    struct ws w;
    memset(&w, 0, sizeof w);
    w.v.hdr.source.data[0] = (uint8_t)node;
    w.v.hdr.trx_id = trx;
    w.v.hdr.last_seen = last_seen;
    w.v.hdr.flags = flags;
    if (row) ws_key(&w, CERT_KEY_EXCLUSIVE, "t", row);
    return certify(idx, &w, seqno, dep);
}

START_TEST(stream_fragments_hold_keys)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 1, 0, &dep), CERT_OK);
    ck_assert_uint_eq(cert_streaming_open(idx), 1);
    /* another node that had not seen the fragment loses against it */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 2, 0, 0, &dep), CERT_CONFLICT);
    /* later fragments of the same transaction never conflict with earlier ones, and are
     * applied after the previous fragment even without a common key */
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_MIDDLE, "r", 3, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 1);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "x", 4, 3, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_MIDDLE, "s", 5, 4, &dep), CERT_OK);
    ck_assert_int_eq(dep, 3);
    /* purge keeps the open transaction's keys (and what came after its first fragment) */
    cert_purge(idx, 5);
    ck_assert_uint_eq(cert_index_size(idx), 3);
    struct cert_stats st;
    cert_index_stats(idx, &st);
    ck_assert_int_eq(st.purged_upto, 0);
    cert_index_free(idx);
}
END_TEST

START_TEST(stream_commit_releases_keys)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 1, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_MIDDLE, "r", 2, 1, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_COMMIT, "s", 3, 2, &dep), CERT_OK);
    ck_assert_int_eq(dep, 2);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    /* committed: a write-set that saw the commit depends on it, nothing more */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 4, 3, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 3);
    cert_purge(idx, 3);
    ck_assert_uint_eq(cert_index_size(idx), 1); /* only seqno 4's key */
    cert_purge(idx, 4);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

START_TEST(stream_rollback_releases_keys)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 1, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_MIDDLE, "r", 2, 1, &dep), CERT_OK); /* r twice */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_SHARED, "r", 3, 2, 0, &dep), CERT_OK);
    /* the rollback is never tested and runs alone */
    ck_assert_int_eq(frag(idx, NODE_B, 99, F_ROLLBACK, NULL, 4, 0, &dep), CERT_OK); /* unknown */
    ck_assert_int_eq(dep, 3);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_ROLLBACK, NULL, 5, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 4);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    /* its keys are gone: a write-set that had not seen the fragments no longer conflicts */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 6, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(dep, 5);
    cert_purge(idx, 6);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

/* A fragment that takes over a key from an earlier committed write-set gives it back when it
 * rolls back: that write-set still conflicts with one that had not seen it (a lost update
 * otherwise). Unless it was purged meanwhile: then the too-old rule fails such a write-set. */
START_TEST(stream_rollback_restores_earlier_references)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 2, 1, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_MIDDLE, "r", 3, 2, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_ROLLBACK, NULL, 4, 3, &dep), CERT_OK);
    /* a third node that saw nothing loses against B's write at 1, not against the fragments */
    struct ws w;
    ws_init(&w, 3, 0, 0);
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "r");
    ck_assert_int_eq(certify(idx, &w, 5, &dep), CERT_CONFLICT);
    /* one that saw 1 passes: the fragments left nothing behind */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 6, 1, 0, &dep), CERT_OK);
    cert_purge(idx, 6);
    ck_assert_uint_eq(cert_index_size(idx), 0);

    /* the earlier write-set purged while the transaction is open: nothing to give back */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "s", 7, 6, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 8, F_FIRST, "s", 8, 7, &dep), CERT_OK);
    cert_purge(idx, 8); /* stops at 7, below the open transaction's first fragment */
    ck_assert_int_eq(frag(idx, NODE_A, 8, F_ROLLBACK, NULL, 9, 8, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "s", 10, 7, 0, &dep), CERT_OK);
    cert_purge(idx, 10);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

/* A write-set of n EXCLUSIVE keys prefix<from>..prefix<from+n-1> with these exact flags. */
static void ws_many(struct ws *w, int node, uint64_t trx, uint32_t flags, int64_t last_seen,
                    const char *prefix, int from, int n)
{
    memset(w, 0, sizeof *w);
    w->v.hdr.source.data[0] = (uint8_t)node;
    w->v.hdr.trx_id = trx;
    w->v.hdr.last_seen = last_seen;
    w->v.hdr.flags = flags;
    for (int i = from; i < from + n; i++) {
        char row[16];
        snprintf(row, sizeof row, "%s%d", prefix, i);
        ws_key(w, CERT_KEY_EXCLUSIVE, "t", row);
    }
}

/* The same write-set on two indexes: a's verdict, b's in *rb. */
static int certify_both(struct cert_index *a, struct cert_index *b, struct ws *w, int64_t seqno,
                        int *rb)
{
    int64_t da, db;
    int ra = cert_certify(a, &w->v, seqno, &da);
    *rb = cert_certify(b, &w->v, seqno, &db);
    tr_buf_free(&w->keys);
    return ra;
}

/* A streaming transaction's 40000 keys, freed at once when it commits, leave in steps of at
 * most the budget; a write-set that respects the purge floor (last_seen at or above it) gets
 * the verdict a full purge would give at every step, one below a popped write-set fails as
 * too old, and the backlog drains with certify calls alone, to the index a full purge leaves. */
START_TEST(purge_in_bounded_steps)
{
    enum { FRAGS = 40, PER = 1000, BUDGET = 1000 };
    struct cert_index *part = cert_index_new(0), *full = cert_index_new(0);
    cert_index_set_purge_budget(part, BUDGET);
    cert_index_set_purge_budget(full, SIZE_MAX);
    struct ws w;
    int rb;
    ws_many(&w, NODE_B, 0, CERT_F_TRX_START | CERT_F_TRX_END, 0, "b", 0, 1);
    ck_assert_int_eq(certify_both(part, full, &w, 1, &rb), CERT_OK);
    int64_t seqno = 1;
    for (int f = 0; f < FRAGS; f++) {
        uint32_t flags = f == 0 ? F_FIRST : f == FRAGS - 1 ? F_COMMIT : F_MIDDLE;
        ws_many(&w, NODE_A, 7, flags, seqno, "s", f * PER, PER);
        ++seqno;
        ck_assert_int_eq(certify_both(part, full, &w, seqno, &rb), CERT_OK);
        ck_assert_int_eq(rb, CERT_OK);
        ws_many(&w, NODE_B, 0, CERT_F_TRX_START | CERT_F_TRX_END, seqno, "b", (int)seqno, 1);
        ++seqno;
        ck_assert_int_eq(certify_both(part, full, &w, seqno, &rb), CERT_OK);
        if (f == FRAGS - 1) break;
        /* held by the open stream on both: the floor stops at 1 */
        cert_purge(part, seqno - 1);
        cert_purge(full, seqno - 1);
        ck_assert_uint_eq(cert_index_size(part), cert_index_size(full));
    }
    int64_t floor = seqno - 1; /* the commit fragment */
    size_t before = cert_index_size(part);
    ck_assert_uint_ge(before, FRAGS * PER);
    cert_purge(part, floor);
    cert_purge(full, floor);
    ck_assert_uint_le(cert_index_size(full), FRAGS);
    ck_assert_uint_ge(cert_index_size(part), before - BUDGET);
    /* part is inside the first fragment (seqno 2): that is what counts as purged */
    struct cert_stats sp, sf;
    cert_index_stats(part, &sp);
    cert_index_stats(full, &sf);
    ck_assert_int_eq(sp.purged_upto, 2);
    ck_assert_int_eq(sf.purged_upto, floor);
    /* B had seen only its own 1: A's popped keys could have conflicted, it cannot be judged */
    ws_many(&w, NODE_B, 0, CERT_F_TRX_START | CERT_F_TRX_END, 1, "s", 0, 1);
    ck_assert_int_eq(certify_both(part, full, &w, ++seqno, &rb), CERT_CONFLICT);
    ck_assert_int_eq(rb, CERT_CONFLICT);
    cert_index_stats(part, &sp);
    ck_assert_uint_eq(sp.too_old, 1);

    /* small write-sets of three nodes on the stream's rows and new ones, last_seen at or above
     * the floor: the same verdict from both at every step */
    uint64_t s = 99;
    int conflicts = 0, purges = 0;
    while (cert_index_size(part) > cert_index_size(full) + 64 || purges < 4) {
        int node = 1 + (int)(rng(&s) % 3);
        int64_t last_seen = seqno - 1 - (int64_t)(rng(&s) % 8);
        if (last_seen < floor) last_seen = floor;
        /* the last fragment's rows: gone at once from full, popped last from part */
        int row = FRAGS * PER - 200 + (int)(rng(&s) % 200);
        int nk = 1 + (int)(rng(&s) % 3);
        ws_many(&w, node, 0, CERT_F_TRX_START | CERT_F_TRX_END, last_seen, "s", row, nk);
        ++seqno;
        int ra = certify_both(part, full, &w, seqno, &rb);
        REQUIRE(ra == rb, "seqno %lld: partial purge %d, full purge %d", (long long)seqno, ra, rb);
        conflicts += ra == CERT_CONFLICT;
        if (seqno % 64 == 0 && purges < 4) { /* a few more LAST messages, then none */
            floor = seqno - 8;
            size_t sz = cert_index_size(part);
            cert_purge(part, floor);
            cert_purge(full, floor);
            REQUIRE(sz - cert_index_size(part) <= BUDGET, "one purge freed %zu keys",
                    sz - cert_index_size(part));
            purges++;
        }
        REQUIRE(seqno < 1000000, "the backlog does not drain");
    }
    ck_assert_int_gt(conflicts, 10);
    /* drained by certify calls alone: then both hold the same write-sets */
    for (int i = 0; i < 64; i++) {
        ws_many(&w, NODE_B, 0, CERT_F_TRX_START | CERT_F_TRX_END, seqno, "n", (int)seqno, 1);
        ++seqno;
        ck_assert_int_eq(certify_both(part, full, &w, seqno, &rb), CERT_OK);
    }
    cert_index_stats(part, &sp);
    cert_index_stats(full, &sf);
    ck_assert_uint_eq(sp.index_size, sf.index_size);
    ck_assert_uint_eq(sp.window, sf.window);
    ck_assert_int_eq(sp.purged_upto, sf.purged_upto);
    ck_assert_uint_eq(sp.too_old, sf.too_old);
    cert_index_free(part);
    cert_index_free(full);
}
END_TEST

/* Two streams on one key, both rolled back, the older first: the younger fragment took the
 * reference over from the older one, so it gives back what the older one had replaced (B's
 * committed write), never the older fragment's own reference (trireme-nsim --streaming seed
 * 906: a write-set that had seen B failed against a fragment rolled back long before). */
START_TEST(stream_rollback_after_another_stream_took_the_key)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 2, 1, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, 3, 9, F_FIRST, "r", 3, 2, &dep), CERT_OK); /* saw A's fragment */
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_ROLLBACK, NULL, 4, 3, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, 3, 9, F_ROLLBACK, NULL, 5, 4, &dep), CERT_OK);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    /* a fourth node that saw B's write passes; one that did not loses against it */
    struct ws w;
    ws_init(&w, 4, 1, 0);
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "r");
    ck_assert_int_eq(certify(idx, &w, 6, &dep), CERT_OK);
    ws_init(&w, 5, 0, 0);
    ws_key(&w, CERT_KEY_EXCLUSIVE, "t", "r");
    ck_assert_int_eq(certify(idx, &w, 7, &dep), CERT_CONFLICT);
    cert_index_free(idx);
}
END_TEST

START_TEST(stream_failed_fragment_stays_open)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    /* first fragment loses: nothing opens */
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 1, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 2, 0, &dep), CERT_CONFLICT);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    /* a later fragment loses: the transaction stays open until its rollback fragment */
    ck_assert_int_eq(frag(idx, NODE_A, 8, F_FIRST, "s", 3, 2, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "u", 4, 2, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_A, 8, F_COMMIT, "u", 5, 3, &dep), CERT_CONFLICT);
    ck_assert_uint_eq(cert_streaming_open(idx), 1);
    ck_assert_int_eq(frag(idx, NODE_A, 8, F_ROLLBACK, NULL, 6, 3, &dep), CERT_OK);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    cert_index_free(idx);
}
END_TEST

static bool only_b(const tr_uuid *src, void *arg)
{
    (void)arg;
    return src->data[0] == NODE_B;
}

START_TEST(stream_close_rolls_back_absent_sources)
{
    struct cert_index *idx = cert_index_new(0);
    int64_t dep;
    ck_assert_int_eq(frag(idx, NODE_A, 7, F_FIRST, "r", 1, 0, &dep), CERT_OK);
    ck_assert_int_eq(frag(idx, NODE_B, 7, F_FIRST, "s", 2, 0, &dep), CERT_OK);
    cert_streaming_close(idx, only_b, NULL);
    ck_assert_uint_eq(cert_streaming_open(idx), 1);
    ck_assert_int_eq(one(idx, NODE_B, CERT_KEY_EXCLUSIVE, "r", 3, 0, 0, &dep), CERT_OK);
    ck_assert_int_eq(one(idx, NODE_A, CERT_KEY_EXCLUSIVE, "s", 4, 0, 0, &dep), CERT_CONFLICT);
    cert_index_reset(idx, 10);
    ck_assert_uint_eq(cert_streaming_open(idx), 0);
    ck_assert_uint_eq(cert_index_size(idx), 0);
    cert_index_free(idx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cert_index");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, every_pair_other_node_in_window);
    tcase_add_test(tc, every_pair_same_node);
    tcase_add_test(tc, every_pair_window_edges);
    tcase_add_test(tc, different_keys_never_interact);
    tcase_add_test(tc, latest_reference_per_type_counts);
    tcase_add_test(tc, toi_conflicts_with_everyone);
    tcase_add_test(tc, toi_never_fails);
    tcase_add_test(tc, pa_unsafe_serialised);
    tcase_add_test(tc, seqnos_must_grow);
    tcase_add_test(tc, duplicate_keys_in_one_write_set);
    tcase_add_test(tc, hash_collisions_are_harmless);
    tcase_add_test(tc, purge_and_horizon);
    tcase_add_test(tc, stats);
    tcase_add_test(tc, reset_equals_fresh);
    tcase_add_test(tc, stream_fragments_hold_keys);
    tcase_add_test(tc, stream_commit_releases_keys);
    tcase_add_test(tc, stream_rollback_releases_keys);
    tcase_add_test(tc, stream_rollback_restores_earlier_references);
    tcase_add_test(tc, stream_rollback_after_another_stream_took_the_key);
    tcase_add_test(tc, stream_failed_fragment_stays_open);
    tcase_add_test(tc, stream_close_rolls_back_absent_sources);
    tcase_add_test(tc, purge_in_bounded_steps);
    suite_add_tcase(s, tc);
    TCase *lr = tcase_create("long");
    tcase_set_timeout(lr, 600);
    tcase_add_test(lr, purge_bounds_memory);
    tcase_add_test(lr, matches_model);
    tcase_add_test(lr, matches_model_with_collisions);
    suite_add_tcase(s, lr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
