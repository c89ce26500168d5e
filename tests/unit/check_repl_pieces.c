/* tests/unit/check_repl_pieces: the replicator's pure pieces one at a time: Galera's node-state
 * table, the state-exchange decision, votes, flow control, the monitors and in-flight bounds. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tr_buf.h"
#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "replicator/repl_arb.h"
#include "replicator/repl_exch.h"
#include "replicator/repl_flow.h"
#include "replicator/repl_frag.h"
#include "replicator/repl_fsm.h"
#include "replicator/repl_inflight.h"
#include "replicator/repl_members.h"
#include "replicator/repl_monitor.h"
#include "replicator/repl_msg.h"
#include "replicator/repl_vote.h"

static void quiet(enum tr_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

/* Under AddressSanitizer a test can mark memory next to its data as out of bounds. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ASAN_POISON(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* uuids that sort by their first byte */
static tr_uuid U(int n)
{
    tr_uuid u = tr_uuid_nil;
    u.data[0] = (uint8_t)n;
    u.data[15] = 0x5a;
    return u;
}

/* ---- repl_fsm: Galera's table ---- */

/* ReplicatorSMM's constructor (galera/src/replicator_smm.cpp, 4.x) adds exactly these. */
static const enum repl_fsm_state galera_pairs[][2] = {
    {REPL_S_CLOSED, REPL_S_DESTROYED},  {REPL_S_CLOSED, REPL_S_CONNECTED},
    {REPL_S_CONNECTED, REPL_S_CLOSED},  {REPL_S_CONNECTED, REPL_S_CONNECTED},
    {REPL_S_CONNECTED, REPL_S_JOINING}, {REPL_S_CONNECTED, REPL_S_JOINED},
    {REPL_S_CONNECTED, REPL_S_DONOR},   {REPL_S_CONNECTED, REPL_S_SYNCED},
    {REPL_S_JOINING, REPL_S_CLOSED},    {REPL_S_JOINING, REPL_S_CONNECTED},
    {REPL_S_JOINING, REPL_S_JOINED},    {REPL_S_JOINED, REPL_S_CLOSED},
    {REPL_S_JOINED, REPL_S_CONNECTED},  {REPL_S_JOINED, REPL_S_SYNCED},
    {REPL_S_JOINED, REPL_S_DONOR},      {REPL_S_SYNCED, REPL_S_CLOSED},
    {REPL_S_SYNCED, REPL_S_CONNECTED},  {REPL_S_SYNCED, REPL_S_DONOR},
    {REPL_S_DONOR, REPL_S_CLOSED},      {REPL_S_DONOR, REPL_S_CONNECTED},
    {REPL_S_DONOR, REPL_S_JOINED},
};

static bool galera_allows(enum repl_fsm_state from, enum repl_fsm_state to)
{
    for (size_t k = 0; k < sizeof galera_pairs / sizeof galera_pairs[0]; k++)
        if (galera_pairs[k][0] == from && galera_pairs[k][1] == to) return true;
    return false;
}

START_TEST(fsm_table_is_galeras)
{
    int allowed = 0;
    for (int f = 0; f < REPL_S_COUNT; f++)
        for (int t = 0; t < REPL_S_COUNT; t++) {
            bool want = galera_allows(f, t);
            ck_assert_msg(repl_fsm_allowed(f, t) == want, "%s -> %s: table says %d, Galera %d",
                          repl_fsm_name(f), repl_fsm_name(t), repl_fsm_allowed(f, t), want);
            allowed += want;
        }
    ck_assert_int_eq(allowed, 21);
    /* out of range never passes */
    ck_assert(!repl_fsm_allowed(REPL_S_COUNT, REPL_S_CLOSED));
    ck_assert(!repl_fsm_allowed(REPL_S_CLOSED, REPL_S_COUNT));
    ck_assert(!repl_fsm_allowed((enum repl_fsm_state)-1, REPL_S_CONNECTED));
}
END_TEST

START_TEST(fsm_shift_follows_the_table)
{
    bool fatal = repl_fsm_fatal;
    repl_fsm_fatal = false;
    for (int f = 0; f < REPL_S_COUNT; f++)
        for (int t = 0; t < REPL_S_COUNT; t++) {
            enum repl_fsm_state st = f;
            int rc = repl_fsm_shift(&st, t, 42);
            if (f == t && t != REPL_S_CONNECTED) {
                ck_assert_int_eq(rc, REPL_FSM_SAME); /* staying put is no transition */
                ck_assert_int_eq(st, f);
            } else if (galera_allows(f, t)) {
                ck_assert_int_eq(rc, f == t ? REPL_FSM_SAME : REPL_FSM_OK);
                ck_assert_int_eq(st, t);
            } else {
                ck_assert_msg(rc == REPL_FSM_ILLEGAL, "%s -> %s shifted", repl_fsm_name(f), repl_fsm_name(t));
                ck_assert_int_eq(st, f); /* nothing changed */
            }
        }
    repl_fsm_fatal = fatal;
}
END_TEST

START_TEST(fsm_galera_numbers_and_names)
{
    /* wsrep_local_state and its comment, as Galera reports them */
    ck_assert_int_eq(repl_fsm_local_state(REPL_S_JOINING), 1);
    ck_assert_int_eq(repl_fsm_local_state(REPL_S_DONOR), 2);
    ck_assert_int_eq(repl_fsm_local_state(REPL_S_JOINED), 3);
    ck_assert_int_eq(repl_fsm_local_state(REPL_S_SYNCED), 4);
    ck_assert_int_eq(repl_fsm_local_state(REPL_S_CONNECTED), 0);
    ck_assert_str_eq(repl_fsm_comment(REPL_S_DONOR), "Donor/Desynced");
    ck_assert_str_eq(repl_fsm_comment(REPL_S_SYNCED), "Synced");
    ck_assert_str_eq(repl_fsm_name(REPL_S_DONOR), "DONOR/DESYNCED");
    ck_assert(repl_fsm_holds_state(REPL_S_JOINED) && repl_fsm_holds_state(REPL_S_SYNCED) &&
              repl_fsm_holds_state(REPL_S_DONOR));
    ck_assert(!repl_fsm_holds_state(REPL_S_JOINING) && !repl_fsm_holds_state(REPL_S_CONNECTED));
}
END_TEST

/* ---- repl_exch: who holds the group's state ---- */

#define HIST 0xE0  /* the view's message history */
#define GROUP 0xA0 /* the group's (replicator) history */

/* A member's STATE: node n (uuid U(n), name "n<n>") holding GROUP up to seqno (-1: nothing). */
static struct repl_msg_state st_of(int n, int64_t seqno, bool prim, enum repl_fsm_state state,
                                   int64_t lo, int64_t gl, int64_t gend)
{
    struct repl_msg_state s;
    memset(&s, 0, sizeof s);
    s.conf_id = 9;
    s.node = U(n);
    s.group = seqno >= 0 ? U(GROUP) : tr_uuid_nil;
    s.seqno = seqno;
    s.prim = prim;
    s.state = (uint8_t)state;
    s.proposal = U(0xB0 + n);
    s.ghist = lo > 0 ? U(HIST) : tr_uuid_nil;
    s.lo = lo;
    s.gl = gl;
    s.gend = gend;
    snprintf(s.name, sizeof s.name, "n%d", n);
    return s;
}

/* The members of their last ordering view (nodes[0..k-1]), by uuid and name, for s[0..n-1]. */
static void lo_members(struct repl_msg_state *s, int n, const int *nodes, int k)
{
    for (int j = 0; j < n; j++) {
        s[j].lo_n = (uint16_t)k;
        for (int i = 0; i < k; i++) {
            s[j].lo_memb[i] = U(nodes[i]);
            snprintf(s[j].lo_names[i], sizeof s[j].lo_names[i], "n%d", nodes[i]);
        }
    }
}

static struct repl_exch_result decide(const struct repl_msg_state *s, int n, int me, int64_t close)
{
    struct repl_exch_result r;
    tr_uuid h = U(HIST);
    repl_exch_decide(s, n, me, &h, close, &r);
    return r;
}

START_TEST(exch_intact_group_keeps_its_index)
{
    /* all three were in the last primary component, each holds its whole stream */
    int L[] = {1, 2, 3};
    struct repl_msg_state s[3];
    for (int i = 0; i < 3; i++) s[i] = st_of(3 - i, 40, true, REPL_S_SYNCED, 5, 100, -1);
    lo_members(s, 3, L, 3);
    for (int me = 0; me < 3; me++) {
        struct repl_exch_result r = decide(s, 3, me, 100);
        ck_assert(!r.no_state && !r.new_history && !r.waiting);
        ck_assert_int_eq(r.rep, 2); /* equal: the lowest uuid (n1, listed last) */
        tr_uuid g = U(GROUP);
        ck_assert(!tr_uuid_compare(&r.group, &g));
        ck_assert_int_eq(r.seqno, 40);
        ck_assert(r.joined && !r.receiving);
        ck_assert_msg(!r.reset_cert, "nobody joined: certification carries over");
    }
}
END_TEST

START_TEST(exch_joiner_resets_every_index)
{
    int L[] = {1, 2};
    struct repl_msg_state s[3];
    s[0] = st_of(1, 40, true, REPL_S_SYNCED, 5, 100, -1);
    s[1] = st_of(2, 40, true, REPL_S_SYNCED, 5, 100, -1);
    s[2] = st_of(3, -1, false, REPL_S_CONNECTED, 0, -1, -1); /* a new node */
    lo_members(s, 2, L, 2);
    struct repl_exch_result a = decide(s, 3, 0, 100), c = decide(s, 3, 2, 100);
    ck_assert_int_eq(a.rep, 0);
    ck_assert_int_eq(a.seqno, 40);
    ck_assert(a.joined && !c.joined && !c.receiving);
    /* every member, the old ones too, restarts certification at the join point */
    ck_assert(a.reset_cert && c.reset_cert);
    ck_assert_int_eq(c.seqno, 40);

    /* the same joiner already given the state (JOINING at the group's position) receives */
    s[2] = st_of(3, 40, false, REPL_S_JOINING, 0, -1, -1);
    c = decide(s, 3, 2, 100);
    ck_assert(c.receiving && !c.joined && c.reset_cert);
    ck_assert_int_eq(c.rep, 0); /* a member in the middle of a transfer never represents */
}
END_TEST

START_TEST(exch_not_primary_before_resets)
{
    /* the same state everywhere, but one member comes back from a non-primary spell */
    int L[] = {1, 2};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 40, true, REPL_S_SYNCED, 5, 100, -1);
    s[1] = st_of(2, 40, false, REPL_S_CONNECTED, 5, 100, -1);
    lo_members(s, 2, L, 2);
    struct repl_exch_result r = decide(s, 2, 1, 100);
    ck_assert(r.joined && r.reset_cert);
    /* and all primary but at different positions: reset too */
    s[1] = st_of(2, 39, true, REPL_S_SYNCED, 5, 100, -1);
    lo_members(s, 2, L, 2);
    r = decide(s, 2, 0, 100);
    ck_assert(r.reset_cert);
}
END_TEST

START_TEST(exch_restart_takes_the_most_advanced)
{
    /* a whole-cluster restart with no ordering view remembered: the most advanced history */
    struct repl_msg_state s[3];
    s[0] = st_of(1, 10, false, REPL_S_CONNECTED, 0, -1, -1);
    s[1] = st_of(2, 30, false, REPL_S_CONNECTED, 0, -1, -1);
    s[2] = st_of(3, 20, false, REPL_S_CONNECTED, 0, -1, -1);
    for (int me = 0; me < 3; me++) {
        struct repl_exch_result r = decide(s, 3, me, 0);
        ck_assert_int_eq(r.rep, 1);
        ck_assert_int_eq(r.seqno, 30);
        ck_assert(r.joined == (me == 1));
        ck_assert(r.reset_cert);
    }
    /* the order of the messages does not matter */
    struct repl_msg_state t[3] = {s[2], s[1], s[0]};
    ck_assert_int_eq(decide(t, 3, 0, 0).seqno, 30);
    /* ties go to the lowest uuid */
    s[2].seqno = 30;
    ck_assert_int_eq(decide(s, 3, 0, 0).rep, 1);
    s[2].node = U(0);
    ck_assert_int_eq(decide(s, 3, 0, 0).rep, 2);
}
END_TEST

START_TEST(exch_all_of_last_view_here_takes_the_most_advanced)
{
    /* neither holds the stream to its end, but every member of the last ordering view is here:
     * nobody else can have more than the most advanced of them */
    int L[] = {1, 2};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 19, true, REPL_S_SYNCED, 7, 98, -1);
    s[1] = st_of(2, 18, true, REPL_S_SYNCED, 7, 95, -1);
    lo_members(s, 2, L, 2);
    struct repl_exch_result r = decide(s, 2, 1, 100);
    ck_assert(!r.no_state);
    ck_assert_int_eq(r.rep, 0);
    ck_assert_int_eq(r.seqno, 19);
    ck_assert(!r.joined && r.reset_cert);
    /* the other way round */
    s[0].seqno = 17;
    ck_assert_int_eq(decide(s, 2, 0, 100).rep, 1);
}
END_TEST

START_TEST(exch_joiner_holding_more_than_every_holder_waits)
{
    /* trireme-nsim seed 3048 --streaming: n2 applied up to 13 while Synced, missed seqno 14 and
     * became a joiner in view 16 (L); n1, the only holder of 14, then left and came back as a
     * new process holding 9 of its own (its applier was behind), under its name. Everyone of L
     * is here, but going on from n1's 9 would drop 10..13, which n2 applied (its clients had
     * their commits acknowledged). Nobody may represent: the operator bootstraps n2. */
    int L[] = {1, 2, 3};
    struct repl_msg_state s[3];
    s[0] = st_of(2, 15, false, REPL_S_JOINING, 16, 30, -1);
    s[0].own_seqno = 13;
    s[1] = st_of(3, 15, false, REPL_S_JOINING, 16, 30, -1); /* joined with nothing of its own */
    s[2] = st_of(4, 9, false, REPL_S_CONNECTED, 11, -1, -1);
    s[2].ghist = tr_uuid_nil;
    snprintf(s[2].name, sizeof s[2].name, "n1");
    lo_members(s, 3, L, 3);
    for (int me = 0; me < 3; me++) {
        struct repl_exch_result r = decide(s, 3, me, 30);
        ck_assert_msg(r.no_state && r.waiting, "member %d: represented by %d at %lld", me, r.rep,
                      (long long)r.seqno);
    }
    /* had n2 held nothing beyond 9 (or nothing at all), n1's 9 is the group's state */
    for (int own = 0; own <= 9; own += 9) {
        s[0].own_seqno = own;
        struct repl_exch_result r = decide(s, 3, 2, 30);
        ck_assert(!r.no_state && r.joined);
        ck_assert_int_eq(r.rep, 2);
        ck_assert_int_eq(r.seqno, 9);
    }
}
END_TEST

START_TEST(exch_every_member_of_the_last_view_a_joiner)
{
    /* every member of the last ordering view is here, and all are joiners: nobody holds the
     * state, and the check for a joiner holding more than the holders has no holder to compare
     * with (it read s[-1]: AddressSanitizer in sim.nodes.arbitrators under make test-asan) */
    int L[] = {1, 2};
    static struct repl_msg_state a[3]; /* a[0] is out of bounds for the decision: poisoned */
    struct repl_msg_state *s = a + 1;
    s[0] = st_of(1, 15, false, REPL_S_JOINING, 16, 30, -1);
    s[0].own_seqno = 13;
    s[1] = st_of(2, 15, false, REPL_S_JOINING, 16, 30, -1);
    lo_members(s, 2, L, 2);
    ASAN_POISON(&a[0], sizeof a[0]);
    for (int me = 0; me < 2; me++) {
        struct repl_exch_result r = decide(s, 2, me, 30);
        ck_assert_msg(r.no_state && r.waiting, "member %d: represented by %d", me, r.rep);
    }
    ASAN_UNPOISON(&a[0], sizeof a[0]);
}
END_TEST

START_TEST(exch_only_a_complete_stream_represents)
{
    /* n3 of the last ordering view is absent, so only a member holding that view's whole stream
     * (to this view's close) may represent: n1, the most advanced, although n2 is primary */
    int L[] = {1, 2, 3};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 25, false, REPL_S_CONNECTED, 7, 100, -1);
    s[1] = st_of(2, 20, true, REPL_S_SYNCED, 7, 90, -1);
    lo_members(s, 2, L, 3);
    struct repl_exch_result r = decide(s, 2, 1, 100);
    ck_assert(!r.no_state);
    ck_assert_int_eq(r.rep, 0);
    ck_assert_int_eq(r.seqno, 25);
    /* a member that held the whole stream yet is behind another says the stream was cut short
     * (an operator's bootstrap from an older log): nobody may represent, everyone waits */
    s[0].seqno = 20;
    s[1].seqno = 25;
    r = decide(s, 2, 1, 100);
    ck_assert(r.no_state && r.waiting);
    /* the stream ended earlier than this view's close when a member saw the next primary view
     * close it: gl 90 then suffices for L's stream ... */
    s[1].gend = 90;
    s[0].gl = 90;
    s[1].gl = 100;
    r = decide(s, 2, 0, 100);
    ck_assert_int_eq(r.rep, 1);
    ck_assert_int_eq(r.seqno, 25);
    /* ... but n2 entered that next primary view and did not complete its exchange: unless it
     * holds the stream on to this view's close, where that view's stream ended, n3 may have
     * completed it and ordered there (seed 6412 --streaming): everyone waits */
    s[1].gl = 95;
    r = decide(s, 2, 0, 100);
    ck_assert(r.no_state && r.waiting);
    /* the same if this view is in another message history: where that view's stream ended is
     * not known here */
    s[1].gl = 100;
    tr_uuid other = U(0xE1);
    struct repl_exch_result o;
    repl_exch_decide(s, 2, 0, &other, 100, &o);
    ck_assert(o.no_state && o.waiting);
}
END_TEST

START_TEST(exch_restart_never_takes_over_a_running_primary)
{
    /* galera.MDEV-29142: n1 was bootstrapped as a new cluster (another group, view ids from 1
     * again) and runs as a primary component; n2 restarts with grastate.dat's view 3 of its old
     * history (no message history now), whose members' names are all here. The running
     * component represents: n2 is a joiner, its old group does not take n1's over. */
    int L1[] = {1}, L2[] = {1, 2};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 2, true, REPL_S_SYNCED, 2, 100, -1);
    s[0].group = U(0xA1);
    s[1] = st_of(2, 8, false, REPL_S_CONNECTED, 3, -1, -1);
    s[1].ghist = tr_uuid_nil;
    lo_members(&s[0], 1, L1, 1);
    lo_members(&s[1], 1, L2, 2);
    tr_uuid g = U(0xA1);
    for (int me = 0; me < 2; me++) {
        struct repl_exch_result r = decide(s, 2, me, 100);
        ck_assert(!r.no_state && !r.waiting && !r.new_history);
        ck_assert_int_eq(r.rep, 0);
        ck_assert(!tr_uuid_compare(&r.group, &g));
        ck_assert_int_eq(r.seqno, 2);
        ck_assert(r.joined == (me == 0) && !r.receiving);
    }
    /* MTR names both nodes alike ("vm"): the same */
    snprintf(s[0].name, sizeof s[0].name, "vm");
    snprintf(s[1].name, sizeof s[1].name, "vm");
    snprintf(s[1].lo_names[0], sizeof s[1].lo_names[0], "vm");
    snprintf(s[1].lo_names[1], sizeof s[1].lo_names[1], "vm");
    ck_assert_int_eq(decide(s, 2, 1, 100).rep, 0);
    /* with no member in this view's message history (a whole-cluster restart) the remembered
     * views still decide: n2's is the later one, and both of its members are here */
    s[0].ghist = tr_uuid_nil;
    ck_assert_int_eq(decide(s, 2, 1, 100).rep, 1);
}
END_TEST

START_TEST(msg_state_says_who_serves_it)
{
    /* a joiner's STATE names its donor and the request's place; without served it carries
     * neither, and a cut-short block is refused */
    struct repl_msg_state m = st_of(1, 20, false, REPL_S_JOINING, 7, 100, -1), d;
    struct tr_buf b = {0};
    ck_assert_int_eq(repl_msg_state_encode(&m, &b), 0);
    size_t plain = b.len;
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(!d.served);
    m.served = true;
    m.served_by = U(3);
    m.served_hist = U(HIST);
    m.served_at = 12345;
    b.len = 0;
    ck_assert_int_eq(repl_msg_state_encode(&m, &b), 0);
    ck_assert_uint_eq(b.len, plain + 40);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(d.served && !tr_uuid_compare(&d.served_by, &m.served_by) &&
              !tr_uuid_compare(&d.served_hist, &m.served_hist) && d.served_at == 12345);
    ck_assert_int_eq(d.own_seqno, 0);
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len - 1, &d), 0);
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, plain, &d), 0);
    /* ... and what its own store held before (0: nothing, not sent) */
    m.own_seqno = 17;
    b.len = 0;
    ck_assert_int_eq(repl_msg_state_encode(&m, &b), 0);
    ck_assert_uint_eq(b.len, plain + 48);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(d.served && d.own_seqno == 17);
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len - 4, &d), 0);
    /* ... and where its write-set store starts (the IST donor choice), when it has one */
    ck_assert(!d.has_cached);
    m.has_cached = true;
    m.cached = 0;
    b.len = 0;
    ck_assert_int_eq(repl_msg_state_encode(&m, &b), 0);
    ck_assert_uint_eq(b.len, plain + 56);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(d.has_cached && d.cached == 0 && d.own_seqno == 17);
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len - 1, &d), 0);
    m.cached = -1; /* "has one, starting before nothing": not a store */
    b.len = 0;
    ck_assert_int_ne(repl_msg_state_encode(&m, &b), 0);
    /* ... and the failures the group decided, each with where it was decided */
    m.cached = 0;
    ck_assert_int_eq(d.nvotes, 0);
    m.nvotes = 2;
    m.vote_seqno[0] = 30, m.vote_at[0] = 33;
    m.vote_seqno[1] = 50, m.vote_at[1] = 50;
    b.len = 0;
    ck_assert_int_eq(repl_msg_state_encode(&m, &b), 0);
    ck_assert_uint_eq(b.len, plain + 56 + 1 + 32);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(d.nvotes == 2 && d.vote_seqno[0] == 30 && d.vote_at[0] == 33 &&
              d.vote_seqno[1] == 50 && d.vote_at[1] == 50 && d.has_cached && d.own_seqno == 17);
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len - 1, &d), 0);
    b.ptr[b.len - 33] = REPL_MSG_MAX_VOTES + 1; /* more than any member keeps */
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    b.ptr[b.len - 33] = 2;
    b.ptr[b.len - 9] = 0xFF; /* decided before the seqno it decided: refused */
    ck_assert_int_ne(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    m.vote_at[1] = 49;
    b.len = 0;
    ck_assert_int_ne(repl_msg_state_encode(&m, &b), 0);
    m.nvotes = 0;
    /* JOIN, SYNC and DESYNC carry the store's start too (-1: none) */
    struct repl_msg_join j = {U(2), 40, -61, 17}, k;
    b.len = 0;
    ck_assert_int_eq(repl_msg_join_encode(REPL_MSG_JOIN, &j, &b), 0);
    ck_assert_int_eq(repl_msg_join_decode(REPL_MSG_JOIN, b.ptr, b.len, &k), 0);
    ck_assert(k.seqno == 40 && k.status == -61 && k.cached == 17);
    ck_assert_int_ne(repl_msg_join_decode(REPL_MSG_JOIN, b.ptr, b.len - 8, &k), 0);
    j.cached = -2;
    b.len = 0;
    ck_assert_int_eq(repl_msg_join_encode(REPL_MSG_SYNC, &j, &b), 0);
    ck_assert_int_ne(repl_msg_join_decode(REPL_MSG_SYNC, b.ptr, b.len, &k), 0);
    tr_buf_free(&b);
}
END_TEST

START_TEST(exch_waits_when_nobody_holds_it_all)
{
    int L[] = {1, 2, 3};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 20, true, REPL_S_SYNCED, 7, 90, -1);
    s[1] = st_of(2, 21, true, REPL_S_SYNCED, 7, 95, -1);
    lo_members(s, 2, L, 3);
    struct repl_exch_result r = decide(s, 2, 0, 100);
    ck_assert(r.no_state && r.waiting);
    ck_assert_int_eq(r.rep, -1);
    ck_assert(!r.joined && !r.receiving);

    /* n3 returns as a new process (new uuid, same name): everyone of view 7 is here */
    struct repl_msg_state t[3] = {s[0], s[1], st_of(9, -1, false, REPL_S_CONNECTED, 0, -1, -1)};
    snprintf(t[2].name, sizeof t[2].name, "n3");
    r = decide(t, 3, 2, 100);
    ck_assert(!r.no_state && !r.waiting);
    ck_assert_int_eq(r.rep, 1);
    ck_assert_int_eq(r.seqno, 21);
}
END_TEST

/* A node killed alone in its primary component restarts with the operator's bootstrap
 * (--wsrep-new-cluster, safe_to_bootstrap: 1) and no recovered position: its grastate.dat has
 * the group but seqno -1. Nobody holds a state: it starts the group, in a new history, as
 * Galera's bootstrap does (MariaDB's galera_3nodes.galera_safe_to_bootstrap). Without the
 * operator's word it waits, and a member that holds a state still decides. */
START_TEST(exch_bootstrap_unknown_position_starts_over)
{
    int L[] = {1};
    struct repl_msg_state s[2];
    s[0] = st_of(1, 20, false, REPL_S_CONNECTED, 7, 90, -1);
    s[0].seqno = -1; /* the group is remembered, the position is not */
    lo_members(s, 1, L, 1);
    struct repl_exch_result r = decide(s, 1, 0, 100);
    ck_assert(r.no_state && r.waiting);
    s[0].bootstrap = true;
    r = decide(s, 1, 0, 100);
    ck_assert(!r.no_state && r.new_history && r.joined);
    tr_uuid p = U(0xB0 + 1);
    ck_assert(!tr_uuid_compare(&r.group, &p));
    s[1] = st_of(2, 21, true, REPL_S_SYNCED, 7, 95, -1); /* a holder is here: it decides */
    r = decide(s, 2, 0, 100);
    ck_assert(!r.new_history && r.rep == 1 && r.seqno == 21);
}
END_TEST

START_TEST(exch_only_joiners_is_no_state)
{
    struct repl_msg_state s[2];
    s[0] = st_of(1, 10, false, REPL_S_JOINING, 0, -1, -1); /* half-received: holds nothing */
    s[1] = st_of(2, -1, false, REPL_S_CONNECTED, 0, -1, -1);
    struct repl_exch_result r = decide(s, 2, 0, 0);
    ck_assert(r.no_state && !r.waiting && !r.new_history);
}
END_TEST

START_TEST(exch_new_history)
{
    struct repl_msg_state s[2];
    s[0] = st_of(1, -1, false, REPL_S_CONNECTED, 0, -1, -1);
    s[1] = st_of(2, -1, false, REPL_S_CONNECTED, 0, -1, -1);
    /* nobody here holds a history, but nobody bootstrapped either: these members may have
     * lost their data (or restarted after pc.recovery) while the holders are away, so they
     * wait, as Galera starts a new group only in a bootstrap */
    struct repl_exch_result r = decide(s, 2, 1, 0);
    ck_assert(r.no_state && r.waiting && !r.new_history);
    s[1].bootstrap = true;
    r = decide(s, 2, 1, 0);
    ck_assert(r.new_history && r.joined && r.reset_cert && !r.no_state);
    ck_assert_int_eq(r.seqno, 0);
    ck_assert(!tr_uuid_compare(&r.group, &s[0].proposal)); /* the first member names it */
}
END_TEST

START_TEST(exch_collects_states_of_its_view)
{
    struct repl_member mb[2] = {{.id = U(1)}, {.id = U(2)}};
    struct repl_gview gv = {.primary = true, .conf_id = 9, .history = U(HIST), .close = 100,
                            .my_idx = 0, .memb_num = 2, .members = mb};
    struct repl_exch x;
    memset(&x, 0, sizeof x);
    ck_assert_int_eq(repl_exch_begin(&x, &gv), 0);
    struct repl_msg_state a = st_of(1, 5, true, REPL_S_SYNCED, 5, 100, -1);
    struct repl_msg_state b = st_of(2, 5, true, REPL_S_SYNCED, 5, 100, -1);
    struct repl_msg_state old = b;
    old.conf_id = 8;
    tr_uuid u1 = U(1), u2 = U(2), u3 = U(3);
    ck_assert_int_eq(repl_exch_on_state(&x, &u2, &old), -1); /* another view's */
    ck_assert_int_eq(repl_exch_on_state(&x, &u1, &b), -1);   /* sent for somebody else */
    struct repl_msg_state c = st_of(3, 5, true, REPL_S_SYNCED, 5, 100, -1);
    ck_assert_int_eq(repl_exch_on_state(&x, &u3, &c), -1);   /* not a member */
    ck_assert_int_eq(repl_exch_on_state(&x, &u1, &a), 0);
    ck_assert_int_eq(repl_exch_on_state(&x, &u1, &a), 0);    /* again: still one */
    ck_assert_int_eq(repl_exch_on_state(&x, &u2, &b), 1);
    repl_exch_clear(&x);
    ck_assert(!x.active);
}
END_TEST

/* ---- repl_vote ---- */

static void members3(struct repl_members *m, int n, const uint8_t *states)
{
    struct repl_member info[8];
    memset(info, 0, sizeof info);
    for (int i = 0; i < n; i++) {
        info[i].id = U(i + 1);
        snprintf(info[i].name, sizeof info[i].name, "n%d", i + 1);
    }
    memset(m, 0, sizeof *m);
    ck_assert_int_eq(repl_members_set(m, info, states, NULL, n), 0);
}

static const uint8_t all_synced[8] = {REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_SYNCED,
                                      REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_SYNCED};

/* Member `self` (1-based) sees the votes codes[0..n-1] of members 1..n, in order, on seqno 7.
 * Its own failure is announced first when its code is not 0. Returns the decision, which must
 * come with the last vote and not before. */
static struct repl_vote_result vote_as(int self, int n, const uint64_t *codes)
{
    struct repl_members m;
    members3(&m, n, all_synced);
    struct repl_votes v;
    memset(&v, 0, sizeof v);
    tr_uuid me = U(self);
    if (codes[self - 1]) ck_assert(repl_votes_local_failure(&v, 7, codes[self - 1]));
    struct repl_vote_result r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        tr_uuid who = U(i + 1);
        ck_assert(!r.decided);
        ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &who, 7, codes[i], 10, &r), 0);
    }
    ck_assert_msg(r.decided, "all asked members answered, yet nothing was decided");
    ck_assert_int_eq(r.seqno, 7);
    ck_assert_int_eq(r.asked, n);
    ck_assert(!repl_votes_failed_here(&v, INT64_MIN)); /* decided: nothing of ours pending */
    repl_votes_clear(&v);
    repl_members_clear(&m);
    return r;
}

START_TEST(vote_majority_success_stands)
{
    uint64_t codes[3] = {0xbad, 0, 0};
    struct repl_vote_result r = vote_as(1, 3, codes);
    ck_assert(r.winner == 0 && r.lost && r.mine == 0xbad);
    ck_assert_int_eq(r.agree, 2);
    r = vote_as(2, 3, codes);
    ck_assert(r.winner == 0 && !r.lost);
}
END_TEST

START_TEST(vote_majority_failure_stands)
{
    /* two fail alike: the one that applied is the odd one and leaves */
    uint64_t codes[3] = {0xbad, 0xbad, 0};
    struct repl_vote_result r = vote_as(3, 3, codes);
    ck_assert(r.winner == 0xbad && r.lost);
    ck_assert_int_eq(r.agree, 2);
    r = vote_as(1, 3, codes);
    ck_assert(r.winner == 0xbad && !r.lost);
    /* a plurality is enough: 2 x A, 1 x B, 1 x success in 4 */
    uint64_t four[4] = {0xa, 0xb, 0xa, 0};
    r = vote_as(4, 4, four);
    ck_assert(r.winner == 0xa && r.lost);
}
END_TEST

/* Galera (gcs_group.cpp, group_recount_votes): the winner is success when success has at least
 * as many votes as any other result: a tie that includes success goes to success. */
START_TEST(vote_tie_goes_to_success)
{
    uint64_t two[2] = {0xbad, 0};
    struct repl_vote_result r = vote_as(1, 2, two);
    ck_assert_msg(r.winner == 0, "1:1 between failure and success must be success");
    ck_assert(r.lost);
    r = vote_as(2, 2, two);
    ck_assert(r.winner == 0 && !r.lost);

    uint64_t four[4] = {0xbad, 0xbad, 0, 0}; /* 2:2, the failures at the lowest uuids */
    for (int me = 1; me <= 4; me++) {
        r = vote_as(me, 4, four);
        ck_assert_msg(r.winner == 0, "2:2 must be success (member %d)", me);
        ck_assert(r.lost == (me <= 2));
    }
    /* 2 x A, 1 x B, 2 x success: success ties the largest count and wins */
    uint64_t five[5] = {0xa, 0xa, 0xb, 0, 0};
    r = vote_as(3, 5, five);
    ck_assert(r.winner == 0 && r.lost);
}
END_TEST

/* Two different failures tie with success absent: trireme gives it to the result of the lowest
 * member uuid among the tied (replication.md §7); Galera to the numerically greatest code.
 * Either way every member decides alike, and success is not among them. */
START_TEST(vote_tie_between_failures)
{
    uint64_t four[4] = {0xb, 0xa, 0xb, 0xa};
    for (int me = 1; me <= 4; me++) {
        struct repl_vote_result r = vote_as(me, 4, four);
        ck_assert_uint_eq(r.winner, 0xb); /* member 1's result */
        ck_assert(r.lost == (me % 2 == 0));
    }
}
END_TEST

START_TEST(vote_waits_for_members_and_views_end_it)
{
    struct repl_members m;
    members3(&m, 3, all_synced);
    struct repl_votes v;
    memset(&v, 0, sizeof v);
    tr_uuid me = U(2), a = U(1), b = U(2), out = U(9);
    struct repl_vote_result r;
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &a, 7, 0xbad, 10, &r), 0);
    ck_assert(!r.decided);
    /* bogus: a seqno not ordered here, or a sender that is not a member */
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &b, 11, 0, 10, &r), 0);
    ck_assert(!r.decided);
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &out, 7, 0, 10, &r), 0);
    ck_assert(!r.decided);
    /* this node answers once it has applied seqno 7 itself */
    int64_t due[4];
    ck_assert_int_eq(repl_votes_due(&v, 6, due, 4), 0);
    ck_assert_int_eq(repl_votes_due(&v, 7, due, 4), 1);
    ck_assert_int_eq(due[0], 7);
    ck_assert_int_eq(repl_votes_due(&v, 8, due, 4), 0); /* once */
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &b, 7, 0, 10, &r), 0);
    ck_assert(!r.decided); /* member 3 has not answered */
    /* member 3 leaves: the two who answered decide 1:1, which is success */
    struct repl_members m2;
    members3(&m2, 2, all_synced);
    repl_votes_view(&v, &m2, &me, &r);
    ck_assert(r.decided);
    ck_assert_uint_eq(r.winner, 0);
    ck_assert_int_eq(r.asked, 2);
    ck_assert(!r.lost);
    repl_votes_view(&v, &m2, &me, &r);
    ck_assert(!r.decided); /* nothing left */
    repl_votes_clear(&v);
    repl_members_clear(&m);
    repl_members_clear(&m2);
}
END_TEST

START_TEST(vote_joiners_are_not_asked)
{
    uint8_t st[3] = {REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_JOINER};
    struct repl_members m;
    members3(&m, 3, st);
    struct repl_votes v;
    memset(&v, 0, sizeof v);
    tr_uuid me = U(1), a = U(1), b = U(2), j = U(3);
    struct repl_vote_result r;
    ck_assert_int_eq(repl_votes_local_failure(&v, 7, 0xbad), 1);
    ck_assert_int_eq(repl_votes_local_failure(&v, 7, 0xbad), 0); /* one vote per seqno */
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &j, 7, 0, 10, &r), 0);
    ck_assert(!r.decided);
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &a, 7, 0xbad, 10, &r), 0);
    ck_assert(!r.decided);
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &b, 7, 0, 10, &r), 0);
    ck_assert(r.decided && r.asked == 2 && r.winner == 0 && r.lost);
    repl_votes_clear(&v);
    repl_members_clear(&m);
    /* alone, the node's own vote decides, and it does not lose to itself */
    members3(&m, 1, st);
    memset(&v, 0, sizeof v);
    ck_assert_int_eq(repl_votes_local_failure(&v, 7, 0xbad), 1);
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &me, &a, 7, 0xbad, 10, &r), 0);
    ck_assert(r.decided && r.asked == 1 && r.winner == 0xbad && !r.lost);
    repl_votes_clear(&v);
    repl_members_clear(&m);
}
END_TEST

START_TEST(vote_code_is_never_success)
{
    ck_assert_uint_ne(repl_vote_code("", 0), 0);
    ck_assert_uint_ne(repl_vote_code("x", 1), 0);
    ck_assert_uint_eq(repl_vote_code("dup key", 7), repl_vote_code("dup key", 7));
    ck_assert_uint_ne(repl_vote_code("dup key", 7), repl_vote_code("dup kez", 7));
}
END_TEST

/* ---- repl_flow ---- */

START_TEST(flow_limits_as_galera)
{
    struct repl_flow_cfg c = {16, 1.0, false};
    int64_t up, lo;
    repl_flow_limits(&c, 1, &up, &lo);
    ck_assert(up == 16 && lo == 16);
    repl_flow_limits(&c, 4, &up, &lo); /* limit x sqrt(members) */
    ck_assert(up == 32 && lo == 32);
    repl_flow_limits(&c, 3, &up, &lo);
    ck_assert_int_eq(up, 28); /* 16 x 1.732 = 27.7 */
    c.factor = 0.5;
    repl_flow_limits(&c, 4, &up, &lo);
    ck_assert(up == 32 && lo == 16);
    c.single_primary = true; /* x 1 */
    repl_flow_limits(&c, 4, &up, &lo);
    ck_assert(up == 16 && lo == 8);
}
END_TEST

START_TEST(flow_stop_and_resume)
{
    struct repl_flow_cfg c = {16, 0.5, false};
    struct repl_flow f = {0};
    /* 4 members: stop above 32, resume at or below 16 */
    ck_assert(!repl_flow_eval(&f, &c, 4, 32, false));
    ck_assert(!f.want_stop);
    ck_assert(repl_flow_eval(&f, &c, 4, 33, false));
    ck_assert(f.want_stop);
    ck_assert(!repl_flow_eval(&f, &c, 4, 40, false)); /* no change: asked once */
    ck_assert(!repl_flow_eval(&f, &c, 4, 17, false)); /* between the limits: still stopped */
    ck_assert(f.want_stop);
    ck_assert(repl_flow_eval(&f, &c, 4, 16, false));
    ck_assert(!f.want_stop);
    ck_assert(!repl_flow_eval(&f, &c, 4, 20, false)); /* between the limits: still going */
    ck_assert(!f.want_stop);
}
END_TEST

START_TEST(flow_exempt_never_stops)
{
    struct repl_flow_cfg c = {16, 1.0, false};
    struct repl_flow f = {0};
    for (int64_t q = 0; q < 100000; q = q * 2 + 1) {
        ck_assert(!repl_flow_eval(&f, &c, 3, q, true));
        ck_assert(!f.want_stop);
    }
    /* a node that becomes a donor (or desyncs) while asking to stop lifts its request */
    ck_assert(repl_flow_eval(&f, &c, 3, 1000, false));
    ck_assert(f.want_stop);
    ck_assert(repl_flow_eval(&f, &c, 3, 1000, true));
    ck_assert(!f.want_stop);
}
END_TEST


/* ---- repl_frag: actions in pieces ---- */

struct piece {
    uint8_t *buf;
    size_t len;
};

/* Cuts an action of len bytes (byte i = i*7+seed) as the gcomm group does: pieces of `piece`
 * bytes, header included. Returns the number of pieces in *out (malloc'ed). */
static size_t frag_cut(uint64_t act, size_t len, size_t piece, int seed, struct piece **out)
{
    size_t room = piece - REPL_FRAG_HDR, n = (len + room - 1) / room;
    *out = calloc(n, sizeof **out);
    for (size_t k = 0; k < n; k++) {
        size_t off = k * room, m = len - off < room ? len - off : room;
        struct piece *p = &(*out)[k];
        p->buf = malloc(REPL_FRAG_HDR + m);
        p->len = REPL_FRAG_HDR + m;
        repl_frag_header(p->buf, act, len, off);
        for (size_t i = 0; i < m; i++) p->buf[REPL_FRAG_HDR + i] = (uint8_t)((off + i) * 7 + (size_t)seed);
    }
    return n;
}

static void frag_free(struct piece *p, size_t n)
{
    for (size_t i = 0; i < n; i++) free(p[i].buf);
    free(p);
}

static bool frag_is_action(const uint8_t *b, size_t len, size_t want, int seed)
{
    if (len != want) return false;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (uint8_t)(i * 7 + (size_t)seed)) return false;
    return true;
}

START_TEST(frag_round_trip)
{
    struct repl_defrag d;
    tr_uuid a = U(1);
    repl_defrag_init(&d, &a);
    struct piece *p;
    size_t n = frag_cut(1, 100000, 4096, 3, &p);
    ck_assert_uint_eq(n, 25);
    uint8_t *out;
    size_t olen;
    int64_t first = -7;
    for (size_t k = 0; k + 1 < n; k++)
        ck_assert_int_eq(repl_defrag_feed(&d, &a, 10 + (int64_t)k, p[k].buf, p[k].len, &out, &olen, &first),
                         REPL_DEFRAG_MORE);
    ck_assert_uint_gt(d.held, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 10 + (int64_t)n - 1, p[n - 1].buf, p[n - 1].len, &out, &olen, &first),
                     REPL_DEFRAG_DONE);
    ck_assert_int_eq(first, 10); /* the action accounts for every group seqno its pieces took */
    ck_assert(frag_is_action(out, olen, 100000, 3));
    ck_assert_uint_eq(d.held, 0);
    free(out);
    /* a message that is no fragment is the action itself, and accounts for its own seqno */
    uint8_t ws[8] = {'T', 'R', 'W', 'S', 2, 0, 0, 0};
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 35, ws, sizeof ws, &out, &olen, &first), REPL_DEFRAG_WHOLE);
    ck_assert_int_eq(first, 35);
    ck_assert_ptr_null(out);
    frag_free(p, n);
    repl_defrag_free(&d);
}
END_TEST

/* Two senders' pieces interleave in the total order; each completes where its last piece is,
 * and the span of group seqnos stays consecutive from one action handed out to the next. */
START_TEST(frag_interleaved_senders)
{
    struct repl_defrag d;
    tr_uuid a = U(1), b = U(2);
    repl_defrag_init(&d, &a);
    struct piece *pa, *pb;
    size_t na = frag_cut(1, 20000, 4096, 1, &pa), nb = frag_cut(1, 9000, 4096, 2, &pb);
    ck_assert_uint_eq(na, 5);
    ck_assert_uint_eq(nb, 3);
    uint8_t *out;
    size_t olen;
    int64_t first, g = 100;
    /* a0 b0 a1 b1 a2 b2(done) a3 a4(done) */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, g++, pa[0].buf, pa[0].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &b, g++, pb[0].buf, pb[0].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, g++, pa[1].buf, pa[1].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &b, g++, pb[1].buf, pb[1].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, g++, pa[2].buf, pa[2].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &b, g++, pb[2].buf, pb[2].len, &out, &olen, &first), REPL_DEFRAG_DONE);
    ck_assert_int_eq(first, 100);
    ck_assert(frag_is_action(out, olen, 9000, 2));
    free(out);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, g++, pa[3].buf, pa[3].len, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, g, pa[4].buf, pa[4].len, &out, &olen, &first), REPL_DEFRAG_DONE);
    ck_assert_int_eq(first, 106);
    ck_assert_int_eq(g, 107);
    ck_assert(frag_is_action(out, olen, 20000, 1));
    free(out);
    frag_free(pa, na);
    frag_free(pb, nb);
    repl_defrag_free(&d);
}
END_TEST

/* A view drops every partial action on every member alike; the sender learns its own was cut,
 * and the pieces that follow the view (gcomm sends what was pending again) are dropped too. */
START_TEST(frag_view_drops_partials_alike)
{
    struct repl_defrag da, db; /* the members a (the sender) and b */
    tr_uuid a = U(1), b = U(2);
    repl_defrag_init(&da, &a);
    repl_defrag_init(&db, &b);
    struct piece *p;
    size_t n = frag_cut(4, 30000, 4096, 5, &p);
    uint8_t *out;
    size_t olen;
    int64_t first;
    struct repl_defrag *ds[2] = {&da, &db};
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < 3; k++)
            ck_assert_int_eq(repl_defrag_feed(ds[i], &a, 50 + (int64_t)k, p[k].buf, p[k].len, &out, &olen, &first),
                             REPL_DEFRAG_MORE);
    int64_t lo[2], hi[2];
    uint8_t *own[2];
    size_t ownlen[2];
    for (int i = 0; i < 2; i++) {
        repl_defrag_view(ds[i], &lo[i], &hi[i], &own[i], &ownlen[i]);
        ck_assert_int_eq(lo[i], 50);
        ck_assert_int_eq(hi[i], 52);
        ck_assert_uint_eq(ds[i]->held, 0);
        ck_assert_uint_eq(ds[i]->n, 0);
    }
    ck_assert_ptr_nonnull(own[0]); /* the sender: its action's start, to find its waiter */
    ck_assert_uint_eq(ownlen[0], 3 * (4096 - REPL_FRAG_HDR));
    ck_assert(frag_is_action(own[0], 4096 - REPL_FRAG_HDR, 4096 - REPL_FRAG_HDR, 5));
    free(own[0]);
    ck_assert_ptr_null(own[1]);
    /* nothing pending: a second view reports nothing */
    repl_defrag_view(&da, &lo[0], &hi[0], &own[0], &ownlen[0]);
    ck_assert_int_eq(lo[0], -1);
    ck_assert_ptr_null(own[0]);
    /* the rest comes in the next view: dropped everywhere, and accounted for by what follows */
    for (int i = 0; i < 2; i++) {
        for (size_t k = 3; k < n; k++)
            ck_assert_int_eq(repl_defrag_feed(ds[i], &a, 60 + (int64_t)k, p[k].buf, p[k].len, &out, &olen, &first),
                             REPL_DEFRAG_DROPPED);
        uint8_t msg[16] = {'T', 'R', 'C', 'M'};
        ck_assert_int_eq(repl_defrag_feed(ds[i], &b, 60 + (int64_t)n, msg, sizeof msg, &out, &olen, &first),
                         REPL_DEFRAG_WHOLE);
        ck_assert_int_eq(first, 63);
    }
    /* and a new action of the sender goes through */
    struct piece *q;
    size_t m = frag_cut(5, 5000, 4096, 6, &q);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(repl_defrag_feed(ds[i], &a, 80, q[0].buf, q[0].len, &out, &olen, &first), REPL_DEFRAG_MORE);
        ck_assert_int_eq(repl_defrag_feed(ds[i], &a, 81, q[1].buf, q[1].len, &out, &olen, &first), REPL_DEFRAG_DONE);
        ck_assert_int_eq(first, 80);
        ck_assert(frag_is_action(out, olen, 5000, 6));
        free(out);
    }
    frag_free(q, m);
    frag_free(p, n);
    repl_defrag_free(&da);
    repl_defrag_free(&db);
}
END_TEST

/* Pieces nobody can keep are dropped, the same way on every member, and never crash it. */
START_TEST(frag_bad_pieces_dropped)
{
    struct repl_defrag d;
    tr_uuid a = U(1);
    repl_defrag_init(&d, &a);
    uint8_t *out;
    size_t olen;
    int64_t first;
    uint8_t m[REPL_FRAG_HDR + 16] = {0};
    repl_frag_header(m, 1, 16, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 1, m, REPL_FRAG_HDR, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 2, m, 6, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    m[4] = 2; /* another version */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 3, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    repl_frag_header(m, 1, REPL_FRAG_MAX_TOTAL + 1, 0); /* beyond the protocol's limit */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 4, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    repl_frag_header(m, 1, 10, 0); /* more bytes than announced */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 5, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    repl_frag_header(m, 1, UINT64_MAX, UINT64_MAX - 4); /* offsets that would wrap */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 6, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    repl_frag_header(m, 1, 64, 16); /* no start */
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 7, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    ck_assert_uint_eq(d.n, 0);
    /* a gap inside an action drops it */
    repl_frag_header(m, 2, 64, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 8, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_MORE);
    repl_frag_header(m, 2, 64, 32);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 9, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DROPPED);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_uint_eq(d.held, 0);
    /* a new start replaces an unfinished action of the same sender (its broadcast failed) */
    repl_frag_header(m, 3, 64, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 10, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_MORE);
    repl_frag_header(m, 4, 32, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 11, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_MORE);
    repl_frag_header(m, 4, 32, 16);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 12, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_DONE);
    ck_assert_int_eq(first, 1); /* everything dropped since the start counts before it */
    ck_assert_uint_eq(olen, 32);
    free(out);
    ck_assert_uint_eq(d.held, 0);
    repl_defrag_free(&d);
}
END_TEST

/* Memory follows the bytes that came, not the size a first piece announces; a node that cannot
 * keep a piece says so (it must leave), it does not drop it. */
START_TEST(frag_memory_follows_arrivals)
{
    struct repl_defrag d;
    tr_uuid a = U(1);
    repl_defrag_init(&d, &a);
    uint8_t *out;
    size_t olen;
    int64_t first;
    uint8_t m[REPL_FRAG_HDR + 4000] = {0};
    repl_frag_header(m, 1, (uint64_t)1 << 30, 0);
    ck_assert_int_eq(repl_defrag_feed(&d, &a, 1, m, sizeof m, &out, &olen, &first), REPL_DEFRAG_MORE);
    ck_assert_uint_eq(d.held, 4000);
    ck_assert_uint_le(d.slot[0].cap, 65536);
    repl_frag_header(m, 1, (uint64_t)1 << 30, 4000);
    tr_fail_arm("frag.grow", 1, false);
    size_t k;
    enum repl_defrag_rc rc = REPL_DEFRAG_MORE;
    for (k = 1; k < 40 && rc == REPL_DEFRAG_MORE; k++) {
        tr_put_u64(m + 24, 4000 * (uint64_t)k);
        rc = repl_defrag_feed(&d, &a, 1 + (int64_t)k, m, sizeof m, &out, &olen, &first);
    }
    tr_fail_disarm();
    ck_assert_int_eq(rc, REPL_DEFRAG_NOMEM);
    ck_assert_uint_eq(k, 17); /* the first growth past 64 KiB */
    repl_defrag_free(&d);
}
END_TEST

/* ---- repl_inflight ---- */

START_TEST(inflight_reports_the_minimum)
{
    struct repl_inflight f;
    memset(&f, 0, sizeof f);
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 99), 99);
    uint64_t a, b, c, d;
    ck_assert_int_eq(repl_inflight_add(&f, false, 50, &a), 0);
    ck_assert_int_eq(repl_inflight_add(&f, false, 30, &b), 0);
    ck_assert_int_eq(repl_inflight_add(&f, true, 10, &c), 0); /* a causal marker bounds nothing */
    ck_assert_int_eq(repl_inflight_add(&f, false, 40, &d), 0);
    ck_assert(a != b && b != c && c != d);
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 99), 30);
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 20), 20); /* never above `none` */
    ck_assert(!repl_inflight_take(&f, b, true)); /* the kind must match */
    ck_assert(repl_inflight_take(&f, b, false));
    ck_assert(!repl_inflight_take(&f, b, false));
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 99), 40);
    ck_assert(repl_inflight_take(&f, d, false));
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 99), 50);
    ck_assert(repl_inflight_take(&f, a, false));
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 99), 99); /* only the marker is left */
    ck_assert(repl_inflight_take(&f, c, true));
    /* many at once (the array grows), taken in any order */
    uint64_t ids[300];
    for (int i = 0; i < 300; i++) ck_assert_int_eq(repl_inflight_add(&f, false, 1000 - i, &ids[i]), 0);
    for (int i = 299; i >= 0; i--) {
        ck_assert_int_eq(repl_inflight_min_last_seen(&f, INT64_MAX), 1000 - i);
        ck_assert(repl_inflight_take(&f, ids[i], false));
    }
    repl_inflight_add(&f, false, 5, &a);
    repl_inflight_clear(&f);
    ck_assert_int_eq(repl_inflight_min_last_seen(&f, 7), 7);
    repl_inflight_free(&f);
}
END_TEST

/* ---- repl_members: the purge point ---- */

START_TEST(members_purge_point_is_the_minimum)
{
    struct repl_members m;
    members3(&m, 3, all_synced);
    tr_uuid a = U(1), b = U(2), c = U(3), x = U(9);
    int64_t safe = -7;
    ck_assert(!repl_members_on_last(&m, &a, 100, &safe));
    ck_assert(!repl_members_on_last(&m, &b, 80, &safe));
    ck_assert(!repl_members_on_last(&m, &x, 500, &safe)); /* not a member */
    ck_assert(repl_members_on_last(&m, &c, 90, &safe));   /* all reported */
    ck_assert_int_eq(safe, 80);
    ck_assert(!repl_members_on_last(&m, &b, 70, &safe));  /* never backwards */
    ck_assert(!repl_members_on_last(&m, &a, 200, &safe));
    ck_assert(repl_members_on_last(&m, &b, 300, &safe));
    ck_assert_int_eq(safe, 90);
    repl_members_clear(&m);
}
END_TEST

/* ---- repl_monitor ---- */

static struct repl_monitor *mon_new(int64_t at)
{
    struct repl_monitor *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    repl_monitor_init(m, at);
    return m;
}

static void mon_free(struct repl_monitor *m)
{
    repl_monitor_destroy(m);
    free(m);
}

START_TEST(monitor_leaves_in_order)
{
    struct repl_monitor *m = mon_new(0);
    /* commit order: seqno s enters once s - 1 has left */
    ck_assert_int_eq(repl_monitor_enter(m, 1, 0), 0);
    /* seqno 2 needs no commit (a refused write-set) and passes at once: it must not leave
     * before 1, or seqno 3 could commit while 1 still is */
    ck_assert_int_eq(repl_monitor_cancel(m, 2), 0);
    ck_assert_int_eq(repl_monitor_last_left(m), 0);
    ck_assert_int_eq(repl_monitor_wait(m, 2, 0), -1);
    /* the apply instance (parallel): 4 finishes early; still nothing past 1 */
    ck_assert_int_eq(repl_monitor_enter(m, 4, 0), 0);
    ck_assert_int_eq(repl_monitor_leave(m, 4), 0);
    ck_assert_int_eq(repl_monitor_leave(m, 1), 2);
    ck_assert_int_eq(repl_monitor_wait(m, 2, 0), 0);
    ck_assert_int_eq(repl_monitor_cancel(m, 3), 4);
    ck_assert_int_eq(repl_monitor_last_left(m), 4);
    /* what has left never enters again */
    ck_assert_int_eq(repl_monitor_enter(m, 3, 2), -1);
    struct repl_monitor_stats s;
    repl_monitor_stats(m, &s);
    ck_assert_uint_eq(s.entered, 2);
    ck_assert_uint_eq(s.oooe, 1); /* 4 entered before 2 and 3 had left */
    /* reset repositions */
    repl_monitor_reset(m, 100);
    ck_assert_int_eq(repl_monitor_last_left(m), 100);
    ck_assert_int_eq(repl_monitor_enter(m, 101, 100), 0);
    ck_assert_int_eq(repl_monitor_leave(m, 101), 101);
    mon_free(m);
}
END_TEST

struct interrupt_arg {
    struct repl_monitor *m;
    atomic_int started;
    int rc;
};

static void *enter_3(void *p)
{
    struct interrupt_arg *a = p;
    atomic_store(&a->started, 1);
    a->rc = repl_monitor_enter(a->m, 3, 2);
    return NULL;
}

START_TEST(monitor_interrupt_and_close)
{
    struct repl_monitor *m = mon_new(0);
    struct interrupt_arg a = {.m = m};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, enter_3, &a), 0);
    while (!atomic_load(&a.started)) sched_yield();
    /* the waiter may not be asleep yet: the flag stays on its slot until cleared */
    ck_assert(repl_monitor_interrupt(m, 3));
    pthread_join(t, NULL);
    ck_assert_int_eq(a.rc, -1);
    repl_monitor_clear_interrupt(m, 3);
    ck_assert_int_eq(repl_monitor_last_left(m), 0);
    /* close wakes everyone for good */
    a.rc = 0;
    atomic_store(&a.started, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, enter_3, &a), 0);
    while (!atomic_load(&a.started)) sched_yield();
    repl_monitor_close(m);
    pthread_join(t, NULL);
    ck_assert_int_eq(a.rc, -1);
    ck_assert_int_eq(repl_monitor_wait(m, 10, -1), -1);
    mon_free(m);
}
END_TEST

/* Threads take seqnos in turn and pass them through a commit monitor (W = s - 1), some by
 * cancel (actions that need no commit). While s is inside, every seqno below it has left. */
#define MT_N 6000
#define MT_THREADS 4

struct mt {
    struct repl_monitor *m;
    atomic_llong next;
    pthread_mutex_t mu;
    unsigned char left[MT_N + 1];
    int64_t low; /* every seqno <= low has left (as the threads recorded it) */
    int64_t inside;
    atomic_int bad;
    int64_t bad_seqno, bad_low;
    int finished;       /* threads done */
    pthread_cond_t done;
};

static void mt_left(struct mt *t, int64_t s)
{
    pthread_mutex_lock(&t->mu);
    t->left[s] = 1;
    while (t->low < MT_N && t->left[t->low + 1]) t->low++;
    pthread_mutex_unlock(&t->mu);
}

static void *mt_run(void *p)
{
    struct mt *t = p;
    for (;;) {
        int64_t s = atomic_fetch_add(&t->next, 1);
        if (s > MT_N) break;
        if (s % 5 == 0) { /* no commit: passes at once */
            mt_left(t, s);
            repl_monitor_cancel(t->m, s);
            continue;
        }
        if (repl_monitor_enter(t->m, s, s - 1)) {
            pthread_mutex_lock(&t->mu);
            if (!atomic_load(&t->bad)) t->bad_seqno = s, t->bad_low = t->low;
            atomic_store(&t->bad, 1);
            pthread_mutex_unlock(&t->mu);
            repl_monitor_close(t->m); /* the others stop too, rather than wait for s */
            break;
        }
        pthread_mutex_lock(&t->mu);
        if (t->low != s - 1 && !atomic_load(&t->bad)) {
            t->bad_seqno = s;
            t->bad_low = t->low;
            atomic_store(&t->bad, 1);
        }
        t->inside = s;
        pthread_mutex_unlock(&t->mu);
        for (int k = 0; k < (int)(s % 7); k++) sched_yield(); /* a commit takes a while */
        mt_left(t, s);
        repl_monitor_leave(t->m, s);
    }
    pthread_mutex_lock(&t->mu);
    t->finished++;
    pthread_cond_signal(&t->done);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

START_TEST(monitor_commit_order_with_threads)
{
    struct mt *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->m = mon_new(0);
    atomic_init(&t->next, 1);
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t th[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, mt_run, t), 0);
    /* a bounded wait: a monitor that loses a wake-up leaves its waiters asleep for good */
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 20;
    bool stuck = false;
    pthread_mutex_lock(&t->mu);
    while (t->finished < MT_THREADS && !stuck)
        stuck = pthread_cond_timedwait(&t->done, &t->mu, &dl) == ETIMEDOUT;
    int64_t low = t->low;
    pthread_mutex_unlock(&t->mu);
    int64_t last_left = repl_monitor_last_left(t->m);
    if (stuck) repl_monitor_close(t->m); /* wakes them with an error */
    for (int i = 0; i < MT_THREADS; i++) pthread_join(th[i], NULL);
    ck_assert_msg(!stuck, "threads still waiting after 20 s: all up to %lld left, the monitor says %lld",
                  (long long)low, (long long)last_left);
    ck_assert_msg(!atomic_load(&t->bad), "seqno %lld committed while seqno %lld had not left",
                  (long long)t->bad_seqno, (long long)t->bad_low + 1);
    ck_assert_int_eq(repl_monitor_last_left(t->m), MT_N);
    ck_assert_int_eq(t->low, MT_N);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->done);
    mon_free(t->m);
    free(t);
}
END_TEST


/* ---- arbitrators (docs/design/arbitrator.md) ---- */

/* An arbitrator's STATE as repl_arb sends it: node n, the history it saw (GROUP or none). */
static struct repl_msg_state arb_of(int n, bool seen)
{
    struct repl_msg_state s = st_of(n, -1, false, REPL_S_CONNECTED, 0, -1, -1);
    s.arbitrator = true;
    s.group = seen ? U(GROUP) : tr_uuid_nil;
    return s;
}

START_TEST(arb_state_flag_round_trips)
{
    struct repl_msg_state s = arb_of(4, true), d;
    struct tr_buf b = {0};
    ck_assert_int_eq(repl_msg_state_encode(&s, &b), 0);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(d.arbitrator && !d.prim && !d.bootstrap && d.seqno == -1);
    tr_uuid g = U(GROUP);
    ck_assert(!tr_uuid_compare(&d.group, &g));
    s.arbitrator = false;
    tr_buf_reset(&b);
    ck_assert_int_eq(repl_msg_state_encode(&s, &b), 0);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), 0);
    ck_assert(!d.arbitrator);
    /* flags beyond the known ones are refused: not ours to guess */
    b.ptr[8 + 8 + 16 + 16 + 8] = 0x20;
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &d), -1);
    tr_buf_free(&b);
}
END_TEST

START_TEST(arb_never_represents_and_survivor_goes_on)
{
    /* n1 and n2 hold the state, arbitrator n5 (the lowest uuid would win a tie) ... */
    int L[] = {1, 2};
    struct repl_msg_state s[3];
    s[0] = arb_of(0, true);
    s[1] = st_of(1, 40, true, REPL_S_SYNCED, 5, 100, -1);
    s[2] = st_of(2, 40, true, REPL_S_SYNCED, 5, 100, -1);
    lo_members(s + 1, 2, L, 2);
    for (int me = 0; me < 3; me++) {
        struct repl_exch_result r = decide(s, 3, me, 100);
        ck_assert(!r.no_state && !r.new_history);
        ck_assert_int_eq(r.rep, 1);
        ck_assert(r.joined == (me != 0) && !r.receiving);
        ck_assert_msg(!r.reset_cert, "an arbitrator must not reset certification");
    }
    /* ... n2 is killed: n1 held the stream of view 5 to where the new view continues */
    struct repl_msg_state t[2] = {s[0], st_of(1, 40, true, REPL_S_SYNCED, 5, 120, 120)};
    lo_members(t + 1, 1, L, 2);
    struct repl_exch_result r = decide(t, 2, 1, 120);
    ck_assert(!r.no_state && r.rep == 1 && r.joined && r.seqno == 40);
    ck_assert(!repl_exch_holds(&t[0]));
}
END_TEST

START_TEST(arb_new_history_and_what_it_saw)
{
    /* a stateless node and an arbitrator that saw nothing (a new process, or one whose gcomm
     * recovered the last primary component with pc.recovery): the holders may be away, they
     * wait (nsim --arbitrators seed 2247: a new history here wiped the acknowledged one) */
    struct repl_msg_state s[2] = {arb_of(0, false), st_of(1, -1, false, REPL_S_CONNECTED, 0, -1, -1)};
    struct repl_exch_result r = decide(s, 2, 1, 0);
    ck_assert(r.no_state && r.waiting && !r.new_history);
    /* a new cluster: the name comes from the bootstrapped data member, never the arbitrator */
    s[1].bootstrap = true;
    r = decide(s, 2, 1, 0);
    tr_uuid p1 = U(0xB0 + 1);
    ck_assert(r.new_history && r.joined && !tr_uuid_compare(&r.group, &p1));
    r = decide(s, 2, 0, 0);
    ck_assert(r.new_history && !r.joined);
    /* an arbitrator that saw a history: its holders are away; a stateless node waits for them */
    s[0] = arb_of(0, true);
    s[1].bootstrap = false;
    r = decide(s, 2, 1, 0);
    ck_assert(r.no_state && r.waiting && !r.new_history);
    /* unless the operator says this is a new cluster */
    s[1].bootstrap = true;
    r = decide(s, 2, 1, 0);
    ck_assert(r.new_history && !r.no_state);
    /* arbitrators alone decide nothing */
    struct repl_msg_state a[2] = {arb_of(0, false), arb_of(3, true)};
    r = decide(a, 2, 0, 0);
    ck_assert(r.no_state && !r.new_history && r.rep < 0);
}
END_TEST

/* An IST donor is one whose store holds the joiner's gap (Galera's group_find_ist_donor):
 * named ones in the list's order, then the store that starts highest; none: the plain choice. */
START_TEST(members_ist_donor_by_store)
{
    static const uint8_t st[4] = {REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_SYNCED, REPL_M_PRIM};
    static const int64_t cached[4] = {90, 10, 40, -1};
    struct repl_member info[4];
    memset(info, 0, sizeof info);
    for (int i = 0; i < 4; i++) {
        info[i].id = U(i + 1);
        snprintf(info[i].name, sizeof info[i].name, "n%d", i + 1);
    }
    struct repl_members m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(repl_members_set(&m, info, st, cached, 4), 0);
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 3, -1), 0);  /* a snapshot: the first */
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 3, 95), 0);  /* all cover: highest start */
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 3, 50), 2);  /* n1 does not cover 50.. */
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 3, 20), 1);
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 3, 5), 0);   /* nobody covers: plain */
    /* the list first, in its order, among those that cover */
    ck_assert_int_eq(repl_members_choose_donor(&m, "n1,n2", 3, 50), 1);
    ck_assert_int_eq(repl_members_choose_donor(&m, "n2,n3", 3, 50), 1);
    ck_assert_int_eq(repl_members_choose_donor(&m, "n1,", 3, 50), 2);  /* then any */
    ck_assert_int_eq(repl_members_choose_donor(&m, "n1", 3, 50), 0);   /* only n1: plain */
    ck_assert(repl_members_covers(&m, 2, 40) && !repl_members_covers(&m, 2, 39) &&
              !repl_members_covers(&m, 3, 1000) && !repl_members_covers(&m, 0, -1));
    repl_members_clear(&m);
}
END_TEST

START_TEST(arb_members_not_donor_purge_or_vote)
{
    static const uint8_t st[3] = {REPL_M_ARBITRATOR, REPL_M_SYNCED, REPL_M_PRIM};
    struct repl_members m;
    members3(&m, 3, st); /* n1 arbitrator, n2 synced, n3 a joiner */
    ck_assert_int_eq(repl_members_data(&m), 2);
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 2, -1), 1);
    ck_assert_int_eq(repl_members_choose_donor(&m, "n1", 2, -1), -1); /* named, but no donor */
    ck_assert_int_eq(repl_members_choose_donor(&m, "", 1, -1), -1);   /* n2 itself asks: nobody */
    /* purge: the arbitrator sends no LAST and is not waited for */
    tr_uuid a = U(1), b = U(2), c = U(3);
    int64_t safe = -7;
    ck_assert(!repl_members_on_last(&m, &a, 500, &safe));
    ck_assert(!repl_members_on_last(&m, &b, 80, &safe));
    ck_assert(repl_members_on_last(&m, &c, 90, &safe));
    ck_assert_int_eq(safe, 80);
    /* a vote asks n2 only (the joiner and the arbitrator hold nothing to compare) */
    struct repl_votes v;
    memset(&v, 0, sizeof v);
    struct repl_vote_result r;
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &b, &a, 7, 0xbad, 10, &r), 0);
    ck_assert(!r.decided); /* the arbitrator's word does not count */
    ck_assert_int_eq(repl_votes_on_msg(&v, &m, &b, &b, 7, 0, 10, &r), 0);
    ck_assert(r.decided && r.asked == 1 && r.winner == 0);
    repl_votes_clear(&v);
    repl_members_clear(&m);
}
END_TEST

START_TEST(arb_answers_exchanges_and_drops_the_rest)
{
    struct repl_arb a;
    tr_uuid me = U(0);
    repl_arb_init(&a, &me, "arb");
    struct repl_member mem[2];
    memset(mem, 0, sizeof mem);
    mem[0].id = U(0);
    mem[1].id = U(1);
    struct repl_gview gv = {.primary = false, .conf_id = 8, .my_idx = 0, .memb_num = 2, .members = mem};
    struct tr_buf b = {0};
    ck_assert_int_eq(repl_arb_view(&a, &gv, &b), 0); /* not primary: silent */
    ck_assert_int_eq((int)b.len, 0);
    gv.primary = true;
    gv.conf_id = 9;
    gv.history = U(HIST);
    ck_assert_int_eq(repl_arb_view(&a, &gv, &b), 1);
    struct repl_msg_state mine;
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &mine), 0);
    ck_assert(mine.arbitrator && mine.conf_id == 9 && tr_uuid_is_nil(&mine.group));
    /* a write-set and a LAST are dropped, not kept */
    uint8_t ws[64] = {'T', 'R', 'W', 'S'};
    ck_assert_int_eq(repl_arb_msg(&a, &mem[1].id, ws, sizeof ws), 0);
    struct tr_buf l = {0};
    struct repl_msg_last last = {U(1), 5};
    ck_assert_int_eq(repl_msg_last_encode(&last, &l), 0);
    ck_assert_int_eq(repl_arb_msg(&a, &mem[1].id, l.ptr, l.len), 0);
    ck_assert_int_eq((int)a.dropped, 2);
    /* both STATEs: it learns the group's history */
    ck_assert_int_eq(repl_arb_msg(&a, &me, b.ptr, b.len), 0);
    struct repl_msg_state d = st_of(1, 40, true, REPL_S_SYNCED, 0, -1, -1);
    tr_buf_reset(&l);
    ck_assert_int_eq(repl_msg_state_encode(&d, &l), 0);
    ck_assert_int_eq(repl_arb_msg(&a, &mem[1].id, l.ptr, l.len), 1);
    tr_uuid g = U(GROUP);
    ck_assert(a.ordering && !tr_uuid_compare(&a.group, &g) && a.seqno == 40);
    /* its next STATE says which history it saw */
    tr_buf_reset(&b);
    gv.conf_id = 10;
    ck_assert_int_eq(repl_arb_view(&a, &gv, &b), 1);
    ck_assert_int_eq(repl_msg_state_decode(b.ptr, b.len, &mine), 0);
    ck_assert(!tr_uuid_compare(&mine.group, &g) && mine.seqno == -1);
    tr_buf_free(&b);
    tr_buf_free(&l);
    repl_arb_free(&a);
}
END_TEST

static Suite *pieces_suite(void)
{
    Suite *s = suite_create("repl_pieces");
    TCase *tc = tcase_create("fsm");
    tcase_add_test(tc, fsm_table_is_galeras);
    tcase_add_test(tc, fsm_shift_follows_the_table);
    tcase_add_test(tc, fsm_galera_numbers_and_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("exch");
    tcase_add_test(tc, exch_intact_group_keeps_its_index);
    tcase_add_test(tc, exch_joiner_resets_every_index);
    tcase_add_test(tc, exch_not_primary_before_resets);
    tcase_add_test(tc, exch_restart_takes_the_most_advanced);
    tcase_add_test(tc, exch_all_of_last_view_here_takes_the_most_advanced);
    tcase_add_test(tc, exch_joiner_holding_more_than_every_holder_waits);
    tcase_add_test(tc, exch_every_member_of_the_last_view_a_joiner);
    tcase_add_test(tc, exch_only_a_complete_stream_represents);
    tcase_add_test(tc, exch_waits_when_nobody_holds_it_all);
    tcase_add_test(tc, exch_bootstrap_unknown_position_starts_over);
    tcase_add_test(tc, exch_restart_never_takes_over_a_running_primary);
    tcase_add_test(tc, msg_state_says_who_serves_it);
    tcase_add_test(tc, exch_only_joiners_is_no_state);
    tcase_add_test(tc, exch_new_history);
    tcase_add_test(tc, exch_collects_states_of_its_view);
    suite_add_tcase(s, tc);
    tc = tcase_create("vote");
    tcase_add_test(tc, vote_majority_success_stands);
    tcase_add_test(tc, vote_majority_failure_stands);
    tcase_add_test(tc, vote_tie_goes_to_success);
    tcase_add_test(tc, vote_tie_between_failures);
    tcase_add_test(tc, vote_waits_for_members_and_views_end_it);
    tcase_add_test(tc, vote_joiners_are_not_asked);
    tcase_add_test(tc, vote_code_is_never_success);
    suite_add_tcase(s, tc);
    tc = tcase_create("flow");
    tcase_add_test(tc, flow_limits_as_galera);
    tcase_add_test(tc, flow_stop_and_resume);
    tcase_add_test(tc, flow_exempt_never_stops);
    suite_add_tcase(s, tc);
    tc = tcase_create("frag");
    tcase_add_test(tc, frag_round_trip);
    tcase_add_test(tc, frag_interleaved_senders);
    tcase_add_test(tc, frag_view_drops_partials_alike);
    tcase_add_test(tc, frag_bad_pieces_dropped);
    tcase_add_test(tc, frag_memory_follows_arrivals);
    suite_add_tcase(s, tc);

    tc = tcase_create("inflight");
    tcase_add_test(tc, inflight_reports_the_minimum);
    tcase_add_test(tc, members_purge_point_is_the_minimum);
    suite_add_tcase(s, tc);
    tc = tcase_create("arbitrator");
    tcase_add_test(tc, arb_state_flag_round_trips);
    tcase_add_test(tc, arb_never_represents_and_survivor_goes_on);
    tcase_add_test(tc, arb_new_history_and_what_it_saw);
    tcase_add_test(tc, arb_members_not_donor_purge_or_vote);
    tcase_add_test(tc, members_ist_donor_by_store);
    tcase_add_test(tc, arb_answers_exchanges_and_drops_the_rest);
    suite_add_tcase(s, tc);
    tc = tcase_create("monitor");
    tcase_add_test(tc, monitor_leaves_in_order);
    tcase_add_test(tc, monitor_interrupt_and_close);
    tcase_add_test(tc, monitor_commit_order_with_threads);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tr_log_set_sink(quiet);
    SRunner *r = srunner_create(pieces_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
