/* tests/unit/check_gc_quorum: the view-change decision (gcomm/gc_quorum) on hand-made STATEs:
 * Galera's weighted quorum over the last primary view, leavers, pending views, recovery, timing. */
#include "gcomm/gc_quorum.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull
#define NOW (10000 * MS)

static tr_uuid U(int k)
{
    tr_uuid u;
    memset(&u, 0, sizeof u);
    u.data[0] = (uint8_t)k;
    return u;
}

/* A primary view of epoch e over members ks[0..n) with weights ws (NULL: 1 each). */
static gc_view view(uint64_t e, const int *ks, int n, const uint8_t *ws)
{
    gc_view v;
    memset(&v, 0, sizeof v);
    v.id.epoch = e;
    v.id.leader = U(ks[0]);
    v.id.leader_inc = 100 + (uint64_t)ks[0];
    v.primary = true;
    v.history.data[0] = 0x77;
    v.n = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        v.m[i].uuid = U(ks[i]);
        v.m[i].incarnation = 100 + (uint64_t)ks[i];
        v.m[i].weight = ws ? ws[i] : 1;
    }
    gc_view_sort(&v);
    return v;
}

static struct gc_report reps[8];
static const struct gc_report *rp[8];
static int nrep;

/* A reporter k that is live in view prim (established unless pending), log up to log_end, that
 * stopped supporting it at `stopped` and applied its START. */
static struct gc_report *report(int k, const gc_view *prim, uint64_t log_end)
{
    struct gc_report *r = &reps[nrep];
    memset(r, 0, sizeof *r);
    r->uuid = U(k);
    r->inc = 100 + (uint64_t)k;
    r->weight = 1;
    r->stop_abs = UINT64_MAX;
    r->log_end = log_end;
    if (prim) {
        r->flags = GC_STATE_HAS_PRIM;
        r->prim = *prim;
        r->nacked = 1;
        r->acked[0] = prim->id.epoch;
    }
    rp[nrep] = r;
    nrep++;
    return r;
}

/* A reporter k that applied the START of v (pending: not seen established), whose log continues
 * estab, and that acknowledged both. */
static struct gc_report *pending_report(int k, const gc_view *v, const gc_view *estab, uint64_t log_end)
{
    struct gc_report *r = report(k, v, log_end);
    r->flags |= GC_STATE_PENDING | GC_STATE_HAS_ESTAB;
    r->estab = *estab;
    r->acked[0] = estab->id.epoch;
    r->acked[1] = v->id.epoch;
    r->nacked = 2;
    return r;
}

static struct gc_decide_in in_(void)
{
    struct gc_decide_in in = {.r = rp, .n = nrep, .now = NOW, .since = NOW - 10 * MS, .patience = 125 * MS,
                              .lease_pad = 562 * MS, .margin = 62 * MS, .all_answered = true};
    return in;
}

static void reset(void) { nrep = 0; }

/* No reports yet; P is view 5 of {1,2,3}, weights 1. */
static gc_view fresh_p3(void)
{
    reset();
    int ks[] = {1, 2, 3};
    return view(5, ks, 3, NULL);
}

START_TEST(no_primary_view_known)
{
    reset();
    report(1, NULL, 0);
    report(2, NULL, 0);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert_ptr_null(d.P);
    ck_assert(!d.primary);
    ck_assert(d.install);
    in.all_answered = false;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.install); /* a non-primary view waits for everybody or the timeout */
    in.timeout = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.install && !d.primary);
}
END_TEST

START_TEST(majority_continues_longest_log)
{
    gc_view P = fresh_p3();
    report(1, &P, 40);
    report(2, &P, 42);
    report(3, &P, 41);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && !d.forced && !d.newhist && d.install);
    ck_assert_uint_eq(d.P->id.epoch, 5);
    ck_assert_int_eq(d.nlive, 3);
    ck_assert_int_eq(d.adopt, 1); /* the longest log */
    ck_assert_uint_eq(d.wait_until, 0); /* nobody missing: no lease to wait out */
    ck_assert_int_eq(d.psrc, -1);
    for (int i = 0; i < 3; i++) ck_assert(gc_decision_holds_p(&in, &d, i));
}
END_TEST

START_TEST(missing_member_costs_its_lease)
{
    gc_view P = fresh_p3();
    struct gc_report *a = report(1, &P, 40), *b = report(2, &P, 40);
    a->stop_abs = NOW - 100 * MS;
    b->stop_abs = NOW - 50 * MS;
    b->nheard = 1; /* b last heard the missing member 300 ms ago: it echoed nothing since */
    b->heard[0] = U(3);
    b->heard_abs[0] = NOW - 300 * MS;
    struct gc_decide_in in = in_();
    in.all_answered = false;
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary);
    ck_assert_uint_eq(d.wait_until, NOW - 100 * MS + 562 * MS); /* a's stop is the latest possible echo */
    ck_assert(!d.install);
    in.now = d.wait_until;
    in.since = in.now - 200 * MS;
    gc_quorum_decide(&in, &d);
    ck_assert(d.install); /* lease over, patience over, quorum: go without the missing one */
    in.in_transit = true;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.install); /* unless its STATE may be on its way */
    in.timeout = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.install);
}
END_TEST

START_TEST(primary_waits_patience_for_others)
{
    gc_view P = fresh_p3();
    report(1, &P, 40);
    report(2, &P, 40);
    report(3, &P, 40);
    struct gc_decide_in in = in_();
    in.all_answered = false; /* a fourth node, a joiner, has not answered yet */
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && !d.install);
    in.now = in.since + in.patience;
    gc_quorum_decide(&in, &d);
    ck_assert(d.install);
}
END_TEST

START_TEST(minority_is_not_primary)
{
    gc_view P = fresh_p3();
    report(1, &P, 40);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
    ck_assert_int_eq(d.nlive, 1);
}
END_TEST

START_TEST(split_brain_needs_ignore_sb)
{
    reset();
    int ks[] = {1, 2, 3, 4};
    gc_view P = view(5, ks, 4, NULL);
    report(1, &P, 40);
    report(2, &P, 40);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
    in.ignore_sb = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && !d.forced);
}
END_TEST

START_TEST(leavers_count_as_left)
{
    gc_view P = fresh_p3();
    report(1, &P, 40);
    report(2, &P, 40)->flags |= GC_STATE_LEAVING;
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary); /* 2*1 + 1 > 3 is false */
    report(3, &P, 40)->flags |= GC_STATE_LEAVING;
    in = in_();
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary); /* 2*1 + 2 > 3 */
}
END_TEST

/* Two of three leave one after the other (docs/design/gcomm.md section 8, "A leave waits for the
 * change it takes part in"). 1 left; 3 gathered V = {2,3} with 1's leaving STATE, and the decision
 * over the next change counts only what its own gather collected. */
START_TEST(leave_counts_only_in_the_gather_that_collected_it)
{
    reset();
    int k3[] = {1, 2, 3}, k2[] = {2, 3};
    gc_view P = view(5, k3, 3, NULL), V = view(6, k2, 2, NULL);
    /* 2 left before it acknowledged V: V is ruled out, the decision is over P again, where 1's
     * leave (collected by V's gather) is not in: 2*1 + 1 > 3 is false */
    struct gc_report *a = pending_report(3, &V, &P, 40);
    a->njoint = 3;
    for (int i = 0; i < 3; i++) a->joint[i] = (gc_joint){P.m[i].uuid, 1, (uint8_t)(i == 0)};
    report(2, &P, 40)->flags |= GC_STATE_LEAVING;
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert_uint_eq(d.P->id.epoch, 5);
    ck_assert(!d.primary);
    /* 2 waited until V was established, then left: the decision is over V, 2*1 + 1 > 2 */
    reset();
    report(3, &V, 40)->nacked = 1;
    struct gc_report *b = report(2, &V, 40);
    b->flags |= GC_STATE_LEAVING;
    in = in_();
    gc_quorum_decide(&in, &d);
    ck_assert_uint_eq(d.P->id.epoch, 6);
    ck_assert(d.primary);
}
END_TEST

START_TEST(weights_of_the_last_primary_view)
{
    reset();
    int ks[] = {1, 2, 3};
    uint8_t ws[] = {3, 1, 1};
    gc_view P = view(5, ks, 3, ws);
    report(1, &P, 40)->weight = 3;
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary); /* 2*3 > 5 */
    reset();
    report(2, &P, 40);
    report(3, &P, 40);
    /* the weight a reporter declares now does not count: P's record of it does */
    reps[0].weight = 200;
    in = in_();
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary); /* 2*2 > 5 is false */
}
END_TEST

START_TEST(heavy_member_gone_holds_quorum)
{
    /* Galera's rule: a member of weight 255 in the last primary view that dies leaves the rest
     * without quorum until it comes back or an operator bootstraps (gcomm.md section 6) */
    reset();
    int ks[] = {1, 2, 3};
    uint8_t ws[] = {1, 1, 255};
    gc_view P = view(5, ks, 3, ws);
    report(1, &P, 40);
    report(2, &P, 40);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
    in.bootstrap = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.forced && !d.newhist);
}
END_TEST

START_TEST(restarted_incarnation_is_not_present)
{
    gc_view P = fresh_p3();
    report(1, &P, 40);
    report(2, &P, 40)->inc = 999; /* a new process under the same uuid: its log is not P's */
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
}
END_TEST

START_TEST(bootstrap_and_ignore_quorum_force)
{
    reset();
    report(1, NULL, 0);
    struct gc_decide_in in = in_();
    in.bootstrap = true;
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.forced && d.newhist && d.install);
    in.bootstrap = false;
    in.ignore_quorum = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.forced && d.newhist);
}
END_TEST

START_TEST(recovery_when_all_back)
{
    gc_view P = fresh_p3();
    for (int k = 1; k <= 3; k++) report(k, &P, 0)->flags |= GC_STATE_RECOVERED;
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary); /* pc.recovery off */
    in.recovery = true;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.forced && d.newhist);
    ck_assert_uint_eq(d.wait_until, 0);
    nrep = 2; /* one member of P is not back */
    in = in_();
    in.recovery = true;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
}
END_TEST

START_TEST(running_primary_outranks_restored_state)
{
    reset();
    int ka[] = {1, 2}, kb[] = {1, 3};
    gc_view old = view(3, ka, 2, NULL), remembered = view(9, kb, 2, NULL);
    /* 1 and 3 restarted and remember view 9 of {1,3}; 2 runs view 3 of {1,2} with its lease up */
    report(1, &remembered, 0)->flags |= GC_STATE_RECOVERED;
    report(3, &remembered, 0)->flags |= GC_STATE_RECOVERED;
    struct gc_report *live = report(2, &old, 10);
    live->live_until = NOW + 100 * MS;
    struct gc_decide_in in = in_();
    in.recovery = true;
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    /* view 9 is not recovered while 2's lease runs: the decision falls to the live views */
    ck_assert_uint_eq(d.P->id.epoch, 3);
    ck_assert_int_eq(d.eff[0], GC_EFF_NONE);
    live->live_until = 0;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.newhist); /* every member of view 9 is back */
    ck_assert_uint_eq(d.P->id.epoch, 9);
}
END_TEST

START_TEST(pending_view_ruled_out_falls_back)
{
    reset();
    int k3[] = {1, 2, 3}, k4[] = {1, 2, 3, 4};
    gc_view E = view(5, k3, 3, NULL), V = view(6, k4, 4, NULL);
    /* V was started by 1 and applied by 1 only; 2 and 3 report E and never acked V; 4 is missing:
     * at most 1 + 1 of 4 can have acked V, so V was never established and E is the last one */
    pending_report(1, &V, &E, 40);
    report(2, &E, 40);
    report(3, &E, 40);
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert_uint_eq(d.P->id.epoch, 5);
    ck_assert_int_eq(d.eff[0], GC_EFF_ESTAB);
    ck_assert(d.primary);
    ck_assert_int_eq(d.nlive, 3);
}
END_TEST

START_TEST(pending_view_possibly_established)
{
    reset();
    int k3[] = {1, 2, 3}, k4[] = {1, 2, 3, 4};
    gc_view E = view(5, k3, 3, NULL), V = view(6, k4, 4, NULL);
    for (int k = 1; k <= 3; k++) {
        struct gc_report *r = report(k, &V, 40);
        r->flags |= GC_STATE_PENDING | GC_STATE_HAS_ESTAB;
        r->estab = E;
        r->njoint = 3; /* V needed a quorum of E too */
        for (int i = 0; i < 3; i++) r->joint[i] = (gc_joint){U(k3[i]), 1, 0};
    }
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert_uint_eq(d.P->id.epoch, 6); /* 3 of 4 applied it: it may have formed */
    ck_assert_int_ge(d.psrc, 0);
    ck_assert(d.primary); /* 3 of V and 3 of E */
    nrep = 2;
    in = in_();
    gc_quorum_decide(&in, &d);
    ck_assert_uint_eq(d.P->id.epoch, 6); /* 2 applied, 2 unknown: still may have formed */
    ck_assert(!d.primary);               /* 2 of 4 is no quorum of V */
}
END_TEST

START_TEST(decliner_is_no_member_and_holds_its_lease)
{
    gc_view P = fresh_p3();
    struct gc_report *a = report(1, &P, 40), *b = report(2, &P, 40), *x = report(3, &P, 40);
    a->stop_abs = NOW - 400 * MS;
    b->stop_abs = NOW - 400 * MS;
    x->flags |= GC_STATE_DECLINE; /* 3 stays in P: it answered a GATHER from a non-member */
    x->live_until = NOW + 300 * MS;
    struct gc_decide_in in = in_();
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary); /* 1 and 2 are a quorum of P */
    ck_assert_int_eq(d.nlive, 2);
    ck_assert(!gc_decision_holds_p(&in, &d, 2));
    /* but not before 3's lease, and what 1 and 2 echoed it before they stopped, ran out */
    ck_assert_uint_eq(d.wait_until, NOW + 300 * MS + 62 * MS);
    ck_assert(!d.install);
    reset(); /* without 2: 1 alone with the decliner is no quorum */
    report(1, &P, 40);
    x = report(3, &P, 40);
    x->flags |= GC_STATE_DECLINE;
    in = in_();
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary);
}
END_TEST

START_TEST(decliner_in_a_running_primary_blocks_recovery)
{
    reset();
    int kb[] = {1, 3}, ka[] = {2};
    gc_view remembered = view(9, kb, 2, NULL), running = view(4, ka, 1, NULL);
    report(1, &remembered, 0)->flags |= GC_STATE_RECOVERED;
    report(3, &remembered, 0)->flags |= GC_STATE_RECOVERED;
    struct gc_report *x = report(2, &running, 10);
    x->flags |= GC_STATE_DECLINE;
    x->live_until = NOW + 100 * MS;
    struct gc_decide_in in = in_();
    in.recovery = true;
    struct gc_decision d;
    gc_quorum_decide(&in, &d);
    ck_assert(!d.primary); /* a primary component runs: view 9 is not recovered */
    x->live_until = 0;     /* its lease is over: it may be gone */
    gc_quorum_decide(&in, &d);
    ck_assert(d.primary && d.newhist);
}
END_TEST

static bool in_set(const void *arg, const tr_uuid *u)
{
    const int *present = arg;
    return present[u->data[0]];
}

START_TEST(joint_quorum_pure)
{
    /* first set {1,2,3}, second set {3,4} (bit 1 of left) */
    gc_joint j[5] = {{U(1), 1, 0}, {U(2), 1, 0}, {U(3), 1, 0}, {U(3), 1, 2}, {U(4), 1, 2}};
    int present[8] = {0};
    ck_assert(gc_joint_quorum(j, 0, false, in_set, present)); /* empty */
    present[1] = present[2] = 1;
    ck_assert(!gc_joint_quorum(j, 5, false, in_set, present)); /* second set: 0 of 2 */
    present[4] = 1;
    ck_assert(!gc_joint_quorum(j, 5, false, in_set, present)); /* second set: 1 of 2 is a split */
    ck_assert(gc_joint_quorum(j, 5, true, in_set, present));   /* which ignore_sb lets pass */
    present[3] = 1;
    ck_assert(gc_joint_quorum(j, 5, false, in_set, present));
    j[1].left = 1; /* 2 left the first set gracefully */
    present[1] = present[2] = 0;
    ck_assert(!gc_joint_quorum(j, 5, false, in_set, present)); /* 2*1 + 1 > 3 is false */
    j[0].left = 1;
    ck_assert(gc_joint_quorum(j, 5, false, in_set, present)); /* 2*1 + 2 > 3 */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gc_quorum");
    TCase *t = tcase_create("decide");
    tcase_add_test(t, no_primary_view_known);
    tcase_add_test(t, majority_continues_longest_log);
    tcase_add_test(t, missing_member_costs_its_lease);
    tcase_add_test(t, primary_waits_patience_for_others);
    tcase_add_test(t, minority_is_not_primary);
    tcase_add_test(t, split_brain_needs_ignore_sb);
    tcase_add_test(t, leavers_count_as_left);
    tcase_add_test(t, leave_counts_only_in_the_gather_that_collected_it);
    tcase_add_test(t, weights_of_the_last_primary_view);
    tcase_add_test(t, heavy_member_gone_holds_quorum);
    tcase_add_test(t, restarted_incarnation_is_not_present);
    tcase_add_test(t, bootstrap_and_ignore_quorum_force);
    tcase_add_test(t, recovery_when_all_back);
    tcase_add_test(t, running_primary_outranks_restored_state);
    tcase_add_test(t, pending_view_ruled_out_falls_back);
    tcase_add_test(t, pending_view_possibly_established);
    tcase_add_test(t, joint_quorum_pure);
    tcase_add_test(t, decliner_is_no_member_and_holds_its_lease);
    tcase_add_test(t, decliner_in_a_running_primary_blocks_recovery);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
