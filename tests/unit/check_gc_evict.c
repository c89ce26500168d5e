/* tests/unit/check_gc_evict: the delayed list and the evict list of the gcomm core (gc_evict.c):
 * the codec of DELAYED and EVICTED, delay counting and decay, manual eviction, refusal, clears. */
#include "gcomm/gc_core.h"
#include "gcomm/gc_msg.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define N 3
#define QMAX 20000
#define UP 100000

/* ---------- codec ---------- */

START_TEST(delayed_roundtrip)
{
    gc_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_DELAYED;
    m.u.delayed.n = 2;
    m.u.delayed.uuid[0].data[0] = 7;
    m.u.delayed.cnt[0] = 3;
    m.u.delayed.uuid[1].data[15] = 9;
    m.u.delayed.cnt[1] = 255;
    m.u.delayed.evict.gen = 4;
    m.u.delayed.evict.n = 1;
    m.u.delayed.evict.u[0].data[3] = 5;
    gc_wbuf w;
    gc_w_init(&w);
    gc_msg_encode(&w, &m);
    ck_assert_int_eq(gc_msg_decode(w.p, w.len, &d), 0);
    ck_assert_int_eq(d.u.delayed.n, 2);
    ck_assert_int_eq(d.u.delayed.cnt[1], 255);
    ck_assert_int_eq(d.u.delayed.uuid[1].data[15], 9);
    ck_assert_uint_eq(d.u.delayed.evict.gen, 4);
    ck_assert_int_eq(d.u.delayed.evict.n, 1);
    ck_assert_int_eq(d.u.delayed.evict.u[0].data[3], 5);
    /* a list longer than the protocol's is malformed, and so is a truncated one */
    ck_assert_int_eq(gc_msg_decode(w.p, w.len - 1, &d), -1);
    w.p[1] = GC_MAX_MEMBERS + 1;
    ck_assert_int_eq(gc_msg_decode(w.p, w.len, &d), -1);
    gc_w_free(&w);
    gc_msg e;
    e.type = GC_MSG_EVICTED;
    gc_w_init(&w);
    gc_msg_encode(&w, &e);
    ck_assert_int_eq(gc_msg_decode(w.p, w.len, &d), 0);
    ck_assert_int_eq(d.type, GC_MSG_EVICTED);
    ck_assert_str_eq(gc_msg_type_name(GC_MSG_EVICTED), "EVICTED");
    gc_w_free(&w);
}
END_TEST

/* ---------- three cores on a tiny in-memory network (virtual time, FIFO links) ---------- */

struct lk {
    bool up;
    int a, b; /* core indices; link id 2k is a's end, 2k+1 b's */
};
struct qe {
    int to, link; /* link: the receiver's link id; -1 - id: conn_down; UP + id: the dialler's conn_up */
    size_t len;
    uint8_t *buf;
};
static struct {
    uint64_t now, rnd;
    gc_core *c[N];
    bool dead[N];
    struct lk lk[2048];
    int nlk;
    struct qe q[QMAX];
    int qh, qt;
    char addr[N][32];
    uint8_t disk[N][256];
    size_t disklen[N];
    int nonprim[N];
} W;

static int idx_of(void *ctx) { return (int)(intptr_t)ctx; }
static uint64_t env_now(void *ctx) { (void)ctx; return W.now; }
static uint64_t env_random(void *ctx)
{
    (void)ctx;
    W.rnd ^= W.rnd << 13;
    W.rnd ^= W.rnd >> 7;
    W.rnd ^= W.rnd << 17;
    return W.rnd;
}
static void push(int to, int link, const uint8_t *buf, size_t len)
{
    ck_assert_msg((W.qt + 1) % QMAX != W.qh, "network queue full");
    struct qe *e = &W.q[W.qt];
    W.qt = (W.qt + 1) % QMAX;
    e->to = to;
    e->link = link;
    e->len = len;
    e->buf = len ? malloc(len) : NULL;
    if (len) memcpy(e->buf, buf, len);
}
static void env_send(void *ctx, int link, const uint8_t *buf, size_t len, bool urgent)
{
    (void)ctx;
    (void)urgent;
    struct lk *l = &W.lk[link / 2];
    if (!l->up) return;
    int to = link % 2 ? l->a : l->b;
    push(to, link ^ 1, buf, len);
}
static int env_connect(void *ctx, const char *addr)
{
    int from = idx_of(ctx);
    for (int i = 0; i < N; i++)
        if (!strcmp(addr, W.addr[i]) && !W.dead[i] && W.nlk < 2048) {
            int k = W.nlk++;
            W.lk[k] = (struct lk){true, from, i};
            gc_core_conn_up(W.c[i], 2 * k + 1, NULL);
            push(from, UP + 2 * k, NULL, 0);
            return 2 * k;
        }
    return -1;
}
static void env_close(void *ctx, int link)
{
    (void)ctx;
    struct lk *l = &W.lk[link / 2];
    if (!l->up) return;
    l->up = false;
    int other = link % 2 ? l->a : l->b;
    push(other, -1 - (link ^ 1), NULL, 0);
}
static void env_deliver(void *ctx, const struct gc_delivery *d)
{
    if (d->kind == GC_DELIVER_VIEW && !d->view->primary) W.nonprim[idx_of(ctx)]++;
}
static void env_persist(void *ctx, const uint8_t *buf, size_t len)
{
    int i = idx_of(ctx);
    if (len > sizeof W.disk[i]) return;
    memcpy(W.disk[i], buf, len);
    W.disklen[i] = len;
}

static void start(int i, uint32_t auto_evict)
{
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    snprintf(cfg.group, sizeof cfg.group, "ut");
    snprintf(cfg.name, sizeof cfg.name, "n%d", i);
    snprintf(cfg.advertise_addr, sizeof cfg.advertise_addr, "%s", W.addr[i]);
    cfg.auto_evict = auto_evict;
    if (i) {
        for (int k = 0; k < i; k++) snprintf(cfg.seeds[cfg.nseeds++], GC_ADDR_MAX, "%s", W.addr[k]);
    }
    struct gc_env env = {.ctx = (void *)(intptr_t)i, .now = env_now, .random = env_random, .send = env_send,
                         .connect = env_connect, .close = env_close, .deliver = env_deliver,
                         .persist = env_persist};
    W.c[i] = gc_core_new(&cfg, &env, W.disklen[i] ? W.disk[i] : NULL, W.disklen[i]);
    ck_assert_ptr_nonnull(W.c[i]);
    W.dead[i] = false;
    gc_core_start(W.c[i]);
}

static void crash(int i)
{
    for (int k = 0; k < W.nlk; k++)
        if (W.lk[k].up && (W.lk[k].a == i || W.lk[k].b == i)) {
            W.lk[k].up = false;
            int other = W.lk[k].a == i ? W.lk[k].b : W.lk[k].a;
            push(other, -1 - (W.lk[k].a == i ? 2 * k + 1 : 2 * k), NULL, 0);
        }
    gc_core_free(W.c[i]);
    W.c[i] = NULL;
    W.dead[i] = true;
}

/* Drops every link of node x (both ends see them go). */
static void drop_links(int x)
{
    for (int k = 0; k < W.nlk; k++)
        if (W.lk[k].up && (W.lk[k].a == x || W.lk[k].b == x)) {
            W.lk[k].up = false;
            push(W.lk[k].a, -1 - 2 * k, NULL, 0);
            push(W.lk[k].b, -1 - (2 * k + 1), NULL, 0);
        }
}

/* Runs virtual time for `ns` in 1 ms steps: every queued frame is handled at once. */
static void run(uint64_t ns)
{
    uint64_t end = W.now + ns;
    while (W.now < end) {
        while (W.qh != W.qt) {
            struct qe e = W.q[W.qh];
            W.qh = (W.qh + 1) % QMAX;
            if (!W.dead[e.to] && W.c[e.to]) {
                if (e.link >= UP) {
                    int k = (e.link - UP) / 2;
                    if (W.lk[k].up) gc_core_conn_up(W.c[e.to], e.link - UP, W.addr[W.lk[k].b]);
                } else if (e.link < 0) gc_core_conn_down(W.c[e.to], -1 - e.link);
                else gc_core_recv(W.c[e.to], e.link, e.buf, e.len); /* sent before any close: TCP delivers it */
            }
            free(e.buf);
        }
        for (int i = 0; i < N; i++)
            if (!W.dead[i] && W.c[i]) {
                gc_core_flush(W.c[i]);
                gc_core_tick(W.c[i]);
            }
        W.now += MS;
    }
}

static void quiet(enum tr_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

static void form(uint32_t auto_evict)
{
    tr_log_set_sink(quiet);
    memset(&W, 0, sizeof W);
    W.now = 1000 * SEC;
    W.rnd = 88172645463325252ull;
    for (int i = 0; i < N; i++) snprintf(W.addr[i], sizeof W.addr[i], "10.9.0.%d:4567", i + 1);
    for (int i = 0; i < N; i++) {
        start(i, auto_evict);
        run(100 * MS);
    }
    run(3 * SEC);
    for (int i = 0; i < N; i++) ck_assert_msg(gc_core_is_primary(W.c[i]), "n%d primary after forming", i);
}

static void teardown_all(void)
{
    for (int i = 0; i < N; i++)
        if (W.c[i]) gc_core_free(W.c[i]);
    while (W.qh != W.qt) {
        free(W.q[W.qh].buf);
        W.qh = (W.qh + 1) % QMAX;
    }
}

static int delay_count(int at, int of)
{
    struct gc_delayed_entry de[8];
    int n = gc_core_delayed(W.c[at], de, 8);
    for (int k = 0; k < n; k++)
        if (!tr_uuid_compare(&de[k].uuid, gc_core_uuid(W.c[of]))) return de[k].cnt;
    return 0;
}

static bool lists(int at, const tr_uuid *u)
{
    const gc_evict_list *e = gc_core_evict_list(W.c[at]);
    for (int k = 0; k < e->n; k++)
        if (!tr_uuid_compare(&e->u[k], u)) return true;
    return false;
}

/* Each drop of a member's links counts one delay (not more while it stays away); the count
 * decays by one per evs.delayed_keep_period (30 s) once the member is heard on time again. */
START_TEST(delays_count_and_decay)
{
    form(0);
    ck_assert_int_eq(delay_count(0, 2), 0);
    for (int k = 0; k < 4; k++) {
        drop_links(2);
        run(1 * SEC);
    }
    ck_assert_int_eq(delay_count(0, 2), 4);
    ck_assert_int_eq(delay_count(1, 2), 4);
    struct gc_delayed_entry de[4];
    ck_assert_int_eq(gc_core_delayed(W.c[0], de, 4), 1);
    ck_assert_str_eq(de[0].addr, W.addr[2]);
    /* auto-eviction off: nobody is evicted, whatever the counts */
    ck_assert_int_eq(gc_core_evict_list(W.c[0])->n, 0);
    run(31 * SEC);
    ck_assert_int_eq(delay_count(0, 2), 3);
    run(30 * SEC);
    ck_assert_int_eq(delay_count(0, 2), 2);
    run(61 * SEC);
    ck_assert_int_eq(delay_count(0, 2), 0);
    ck_assert_int_eq(gc_core_delayed(W.c[0], de, 4), 0);
    for (int i = 0; i < N; i++) ck_assert(gc_core_is_primary(W.c[i]));
    teardown_all();
}
END_TEST

/* evs.auto_evict=3: three drops of one node's links evict it at both others. */
START_TEST(auto_evict_at_threshold)
{
    form(3);
    tr_uuid u2 = *gc_core_uuid(W.c[2]);
    drop_links(2);
    run(1 * SEC);
    drop_links(2);
    run(1 * SEC);
    ck_assert(!lists(0, &u2) && !lists(1, &u2)); /* two delays: not yet */
    drop_links(2);
    run(2 * SEC);
    ck_assert(lists(0, &u2) && lists(1, &u2));
    ck_assert(gc_core_evicted(W.c[2]));
    run(3 * SEC);
    ck_assert(gc_core_is_primary(W.c[0]) && gc_core_is_primary(W.c[1]) && !gc_core_is_primary(W.c[2]));
    struct gc_core_probe p;
    gc_core_probe(W.c[0], &p);
    ck_assert_uint_eq(p.cur->n, 2);
    ck_assert_int_eq(p.view_evict->n, 1);
    teardown_all();
}
END_TEST

/* evs.evict=UUID at one member: everybody evicts it, it learns it and stays out; a restart under
 * the same uuid is refused; a clear at another member empties every list, and a restart then
 * brings it back. */
START_TEST(manual_evict_refuse_clear)
{
    form(0);
    tr_uuid u1 = *gc_core_uuid(W.c[1]);
    gc_core_evict(W.c[2], &u1);
    run(3 * SEC);
    ck_assert(lists(0, &u1) && lists(2, &u1));
    ck_assert(gc_core_evicted(W.c[1]));
    ck_assert(!gc_core_is_primary(W.c[1]));
    ck_assert_int_ge(W.nonprim[1], 1);
    ck_assert(gc_core_is_primary(W.c[0]) && gc_core_is_primary(W.c[2]));
    gc_core_set_isolate(W.c[1], false); /* cannot be lifted: evicted until restart */
    run(2 * SEC);
    ck_assert(!gc_core_is_primary(W.c[1]));
    gc_core_leave(W.c[1]); /* a clean shutdown: the evicted node keeps its uuid all the same */
    run(100 * MS);
    ck_assert(gc_core_has_left(W.c[1]));
    crash(1);
    start(1, 0);
    ck_assert(!tr_uuid_compare(gc_core_uuid(W.c[1]), &u1)); /* gvwstate.dat kept the uuid */
    run(5 * SEC);
    ck_assert(gc_core_evicted(W.c[1]));
    gc_core_evict_clear(W.c[0]);
    run(2 * SEC);
    ck_assert_int_eq(gc_core_evict_list(W.c[0])->n, 0);
    ck_assert_int_eq(gc_core_evict_list(W.c[2])->n, 0);
    ck_assert_uint_eq(gc_core_evict_list(W.c[2])->gen, 1);
    crash(1);
    start(1, 0);
    run(8 * SEC);
    for (int i = 0; i < N; i++) ck_assert_msg(gc_core_is_primary(W.c[i]), "n%d primary after the clear", i);
    struct gc_core_probe p;
    gc_core_probe(W.c[0], &p);
    ck_assert_uint_eq(p.cur->n, 3);
    teardown_all();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gc_evict");
    TCase *t = tcase_create("evict");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, delayed_roundtrip);
    tcase_add_test(t, delays_count_and_decay);
    tcase_add_test(t, auto_evict_at_threshold);
    tcase_add_test(t, manual_evict_refuse_clear);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
