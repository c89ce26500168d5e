/* tests/sim/sim_main: trireme-sim command line: random fault runs over many seeds, and fixed
 * scenarios that measure the availability goals (delivery gaps, cut-off time, recovery). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tr_log.h"
#include "tests/sim/sim.h"

static void quiet_sink(enum tr_log_level level, const char *msg) { (void)level; (void)msg; }

/* --verbose: the cores' log lines with the virtual time of the simulation running */
static void timed_sink(enum tr_log_level level, const char *msg)
{
    (void)level;
    fprintf(stderr, "[%9.3f] %s\n", sim_current ? (double)sim_current->now / 1e9 : 0.0, msg);
}

static int alive_count(struct sim *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) k += s->nodes[i].alive;
    return k;
}

/* Node i is out of the group for good: evicted (it knows), or in the evict list of a live member
 * that is not (a restart of it is refused). Only seeds with auto-eviction have such nodes. */
static bool evicted_out(struct sim *s, int i)
{
    if (!s->nodes[i].alive) return false;
    if (gc_core_evicted(s->nodes[i].core)) return true;
    for (int j = 0; j < s->n; j++) {
        if (j == i || !s->nodes[j].alive || gc_core_evicted(s->nodes[j].core)) continue;
        const gc_evict_list *e = gc_core_evict_list(s->nodes[j].core);
        for (int k = 0; k < e->n; k++)
            if (!tr_uuid_compare(&e->u[k], gc_core_uuid(s->nodes[i].core))) return true;
    }
    return false;
}

/* All live nodes (but the evicted) report primary in one view containing all of them. */
static bool all_primary_together(struct sim *s, char *why, size_t cap)
{
    const gc_view *v = NULL;
    int out = 0;
    for (int i = 0; i < s->n; i++) {
        struct sim_node *nd = &s->nodes[i];
        if (!nd->alive) continue;
        if (evicted_out(s, i)) { out++; continue; }
        if (!gc_core_is_primary(nd->core)) { snprintf(why, cap, "n%d is not primary", i); return false; }
        if (v && gc_view_id_cmp(&v->id, &nd->view.id)) { snprintf(why, cap, "n%d in another view", i); return false; }
        v = &nd->view;
    }
    if (v && (int)v->n != alive_count(s) - out) {
        snprintf(why, cap, "primary view has %u members, %d nodes alive, %d evicted", v->n, alive_count(s), out);
        return false;
    }
    return true;
}

struct timed { uint64_t t; int kind, node; };

/* The live node with this uuid, or -1. */
static int node_of(struct sim *s, const tr_uuid *u)
{
    for (int k = 0; k < s->n; k++)
        if (s->nodes[k].alive && !tr_uuid_compare(gc_core_uuid(s->nodes[k].core), u)) return k;
    return -1;
}

static int g_trace;
static int run_seed(uint64_t seed, bool verbose, bool quiet)
{
    struct sim s;
    int n = 3 + (int)(seed % 5);
    sim_init(&s, seed, n, 1024);
    s.verbose = verbose ? 1 + g_trace : 0;
    s.workload = true;
    /* every fourth seed (from 3) on 1 MiB/s links: view-change messages then queue, and
     * heartbeats overtake them (gc_env.send) */
    if (seed % 4 == 3) s.bytes_per_sec = 1u << 20;
    /* every eighth seed (from 6) with an 8 KiB retain limit: sending then waits for trimming
     * whenever a member is behind or gone, through every kind of fault */
    if (seed % 8 == 6) s.retain_limit = 8u << 10;
    /* every seventh seed (from 5) with an outsider that knows the group name (sim_outsider.c) */
    if (seed % 7 == 5) sim_outsider_add(&s);
    /* every third seed (from 2) sends delayed lists (auto-eviction on, at a count no delay list
     * reaches): the reports cross every fault, and nobody may be evicted */
    if (seed % 3 == 2) s.auto_evict = seed % 9 == 8 ? 5 : 1000;
    for (int i = 0; i < n; i++) {
        sim_run_until(&s, s.now + sim_rand(&s) % (300 * SIM_MS));
        sim_node_start(&s, i);
    }
    sim_run_until(&s, 8 * SIM_SEC);
    char why[160];
    if (!sim_failed(&s) && !all_primary_together(&s, why, sizeof why))
        chk_fail(&s, "liveness: group did not form: %s", why);
    struct timed pend[64];
    int np = 0;
    uint64_t chaos_end = 8 * SIM_SEC + 20 * SIM_SEC;
    while (!sim_failed(&s) && s.now < chaos_end) {
        uint64_t next = s.now + 200 * SIM_MS + sim_rand(&s) % (2500 * SIM_MS);
        for (int k = 0; k < np; k++)
            if (pend[k].t < next) next = pend[k].t;
        sim_run_until(&s, next);
        if (sim_failed(&s)) break;
        bool did = false;
        for (int k = 0; k < np; k++)
            if (pend[k].t <= s.now) {
                struct sim_node *nd = &s.nodes[pend[k].node];
                if (pend[k].kind == 0) sim_pause(&s, pend[k].node, false);
                else if (nd->alive) gc_core_set_isolate(nd->core, false);
                if (verbose) fprintf(stderr, "[%9.3f] undo %s n%d\n", (double)s.now / 1e9, pend[k].kind ? "isolate" : "pause", pend[k].node);
                pend[k--] = pend[--np];
                did = true;
            }
        if (did) continue;
        int f = (int)(sim_rand(&s) % 10);
        int x = (int)(sim_rand(&s) % (uint64_t)n), y = (int)(sim_rand(&s) % (uint64_t)n);
        const char *what = "";
        switch (f) {
        case 0: {
            int g[SIM_MAX_NODES];
            uint64_t mask = 1 + sim_rand(&s) % ((1u << n) - 2);
            for (int i = 0; i < n; i++) g[i] = (int)(mask >> i & 1);
            sim_partition(&s, g);
            what = "partition";
            break;
        }
        case 1:
        case 2:
            sim_heal(&s);
            what = "heal";
            break;
        case 3:
            if (s.nodes[x].alive) { sim_crash(&s, x); what = "crash"; }
            break;
        case 4:
            for (int i = 0; i < n; i++)
                if (!s.nodes[i].alive) { x = i; sim_node_start(&s, i); what = "restart"; break; }
            break;
        case 5:
            if (s.nodes[x].alive && !s.nodes[x].paused && np < 64) {
                sim_pause(&s, x, true);
                pend[np++] = (struct timed){s.now + 200 * SIM_MS + sim_rand(&s) % (20 * SIM_SEC), 0, x};
                what = "pause";
            }
            break;
        case 6:
            if (x != y) { sim_set_oneway(&s, x, y, true); what = "one-way loss"; }
            break;
        case 7:
            if (s.auto_evict && s.nodes[x].alive) {
                /* in the seeds that report delays: x's links drop every 0.3-0.7 s for 1-3 s, a
                 * flapping network at x, each drop a delay at its peers (section 14) */
                uint64_t until = s.now + SIM_SEC + sim_rand(&s) % (2 * SIM_SEC);
                while (!sim_failed(&s) && s.now < until && s.nodes[x].alive) {
                    for (int j = 0; j < n; j++)
                        if (j != x) sim_break_link_between(&s, x, j);
                    sim_run_until(&s, s.now + 300 * SIM_MS + sim_rand(&s) % (400 * SIM_MS));
                }
                what = "flapping links";
                break;
            }
            sim_break_link(&s);
            what = "break link";
            break;
        case 8:
            if (s.nodes[x].alive && np < 64) {
                gc_core_set_isolate(s.nodes[x].core, true);
                pend[np++] = (struct timed){s.now + sim_rand(&s) % (10 * SIM_SEC), 1, x};
                what = "isolate";
            }
            break;
        case 9: /* a member's link to its leader resets under load: what it resends, the leader has
                 * partly ordered already (its dedup must drop those) */
            y = s.nodes[x].alive && s.nodes[x].have_view ? node_of(&s, &s.nodes[x].view.id.leader) : -1;
            if (y >= 0 && y != x) {
                /* when it has messages in flight, up to 2 ms after it sent one */
                for (uint64_t t0 = s.now; !sim_failed(&s) && s.now < t0 + 200 * SIM_MS; ) {
                    struct gc_stats st;
                    gc_core_stats(s.nodes[x].core, &st);
                    if (st.pending) break;
                    sim_run_until(&s, s.now + SIM_MS / 2);
                }
                sim_run_until(&s, s.now + sim_rand(&s) % (2 * SIM_MS));
                if (s.nodes[x].alive && s.nodes[y].alive) sim_break_link_between(&s, x, y);
                what = "break leader link";
            }
            break;
        }
        if (verbose && what[0]) fprintf(stderr, "[%9.3f] fault: %s n%d (n%d)\n", (double)s.now / 1e9, what, x, y);
    }
    /* heal everything and require the whole group to come back and deliver */
    if (!sim_failed(&s)) {
        sim_heal(&s);
        for (int i = 0; i < n; i++) {
            if (!s.nodes[i].alive) sim_node_start(&s, i);
            else if (s.nodes[i].paused) sim_pause(&s, i, false);
            gc_core_set_isolate(s.nodes[i].core, false);
        }
        if (verbose) fprintf(stderr, "[%9.3f] healed all\n", (double)s.now / 1e9);
        uint64_t bound = s.now + 30 * SIM_SEC;
        while (!sim_failed(&s) && s.now < bound && !all_primary_together(&s, why, sizeof why))
            sim_run_until(&s, s.now + 100 * SIM_MS);
        bool evicted = false;
        for (int i = 0; i < n; i++) evicted |= evicted_out(&s, i);
        if (!sim_failed(&s) && evicted && !all_primary_together(&s, why, sizeof why)) {
            /* a primary component evicted a member and lost its quorum before it re-formed
             * without it: the last primary view still counts that member (gcomm.md section 14,
             * failure cases). The operator clears the evict list and restarts the evicted nodes,
             * and the group must come back whole. */
            if (verbose) fprintf(stderr, "[%9.3f] operator: evs.evict cleared, evicted nodes restarted (%s)\n",
                                 (double)s.now / 1e9, why);
            s.evict_ops = true;
            s.evict_clears++;
            for (int i = 0; i < n; i++)
                if (s.nodes[i].alive && !gc_core_evicted(s.nodes[i].core)) gc_core_evict_clear(s.nodes[i].core);
            sim_run_until(&s, s.now + SIM_SEC);
            for (int i = 0; i < n; i++)
                if (s.nodes[i].alive && gc_core_evicted(s.nodes[i].core)) {
                    sim_crash(&s, i);
                    sim_node_start(&s, i);
                }
            bound = s.now + 30 * SIM_SEC;
            while (!sim_failed(&s) && s.now < bound && !all_primary_together(&s, why, sizeof why))
                sim_run_until(&s, s.now + 100 * SIM_MS);
        }
        if (!sim_failed(&s) && !all_primary_together(&s, why, sizeof why))
            chk_fail(&s, "liveness: 30 s after healing: %s", why);
    }
    if (!sim_failed(&s)) {
        uint64_t before[SIM_MAX_NODES];
        for (int i = 0; i < n; i++) before[i] = s.nodes[i].delivered_total;
        sim_run_until(&s, s.now + 3 * SIM_SEC);
        s.workload = false;
        sim_run_until(&s, s.now + 2 * SIM_SEC);
        int ref = -1, nout = 0;
        for (int i = 0; i < n; i++) {
            if (evicted_out(&s, i)) nout++;
            else if (ref < 0) ref = i;
        }
        if (ref < 0) chk_fail(&s, "every node was evicted");
        for (int i = 0; i < n && !sim_failed(&s); i++) {
            if (evicted_out(&s, i)) continue;
            if (s.nodes[i].delivered_total == before[i])
                chk_fail(&s, "liveness: n%d delivered nothing after healing", i);
            if (s.nodes[i].last_seqno != s.nodes[ref].last_seqno ||
                tr_uuid_compare(&s.nodes[i].hist, &s.nodes[ref].hist))
                chk_fail(&s, "n%d ends at seqno %lld, n%d at %lld", i, (long long)s.nodes[i].last_seqno, ref,
                         (long long)s.nodes[ref].last_seqno);
        }
        s.evicted_nodes = nout;
    }
    int rc = 0;
    if (sim_failed(&s)) {
        fprintf(stderr, "FAIL seed %" PRIu64 " (%d nodes): %s\n  replay: build/bin/trireme-sim --seed %" PRIu64 " --verbose\n",
                seed, n, s.fail, seed);
        rc = 1;
    } else if (!quiet) {
        uint64_t waits = 0;
        for (int i = 0; i < n; i++) {
            struct gc_stats st;
            gc_core_stats(s.nodes[i].core, &st);
            waits += st.retain_waits;
        }
        printf("seed %" PRIu64 ": ok, %d nodes, %" PRIu64 " events, %" PRIu64 " frames, last seqno %lld, "
               "waits at the retain limit %" PRIu64 ", evicted %d%s\n", seed, n, s.events, s.msgs,
               (long long)s.nodes[0].last_seqno, waits, s.evicted_nodes,
               s.evict_clears ? ", evict list cleared by the operator" : "");
    }
    sim_free(&s);
    return rc;
}

/* ---------- scenarios ---------- */

static int leader_of(struct sim *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].alive && s->nodes[i].have_view) {
            int k = node_of(s, &s->nodes[i].view.id.leader);
            if (k >= 0) return k;
        }
    return -1;
}

static void form(struct sim *s, int n, uint64_t seed)
{
    sim_init(s, seed, n, 64500);
    s->workload = true;
    s->bcast_period = 4 * SIM_MS;
    for (int i = 0; i < n; i++) {
        sim_node_start(s, i);
        sim_run_until(s, s->now + 50 * SIM_MS);
    }
    sim_run_until(s, s->now + 3 * SIM_SEC);
}

/* Largest gap between consecutive deliveries at a live node, during [from, to]. */
static uint64_t max_gap(struct sim *s, int node, uint64_t to)
{
    uint64_t gap = 0, last = s->now;
    while (s->now < to && !sim_failed(s)) {
        uint64_t before = s->nodes[node].delivered_total;
        sim_run_until(s, s->now + SIM_MS);
        if (s->nodes[node].delivered_total != before) {
            if (s->nodes[node].last_deliver_time - last > gap) gap = s->nodes[node].last_deliver_time - last;
            last = s->nodes[node].last_deliver_time;
        }
    }
    if (s->now - last > gap) gap = s->now - last;
    return gap;
}

static int scenario_failover(bool kill_leader, int n, uint64_t limit_ns)
{
    struct sim s;
    form(&s, n, 42 + (uint64_t)kill_leader);
    int L = leader_of(&s), victim = kill_leader ? L : (L + 1) % n, watch = (victim + 1) % n;
    if (watch == L && !kill_leader) watch = (watch + 1) % n;
    uint64_t t0 = s.now;
    sim_crash(&s, victim);
    uint64_t gap = max_gap(&s, watch, t0 + 10 * SIM_SEC);
    int rc = sim_failed(&s) || gap > limit_ns;
    printf("scenario %s (%d nodes): crash of the %s, max delivery gap at a survivor %.1f ms (limit %.0f ms)%s%s\n",
           kill_leader ? "failover-leader" : "failover-member", n, kill_leader ? "leader" : "non-leader",
           (double)gap / 1e6, (double)limit_ns / 1e6, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

static int scenario_cutoff(void)
{
    struct sim s;
    form(&s, 5, 7);
    int L = leader_of(&s), victim = (L + 1) % 5;
    int g[SIM_MAX_NODES] = {0};
    g[victim] = 1;
    uint64_t t0 = s.now;
    sim_partition(&s, g);
    while (gc_core_is_primary(s.nodes[victim].core) && s.now < t0 + 5 * SIM_SEC) sim_run_until(&s, s.now + SIM_MS);
    uint64_t dt = s.now - t0;
    /* and the reported view: a non-primary view must be delivered soon too */
    while (s.nodes[victim].view.primary && s.now < t0 + 5 * SIM_SEC) sim_run_until(&s, s.now + SIM_MS);
    uint64_t dv = s.now - t0;
    int rc = sim_failed(&s) || dt > SIM_SEC || dv > SIM_SEC;
    printf("scenario cut-off (5 nodes): isolated member stops being primary after %.0f ms, non-primary view after %.0f ms "
           "(limit 1000 ms)%s%s\n", (double)dt / 1e6, (double)dv / 1e6, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* gmcast.isolate on the leader: it is not primary once the call returns (its lease would keep it
 * primary for up to keepalive/2 otherwise), the others go on within the leader-crash limit, and
 * it is taken back when the isolation ends. */
static int scenario_isolate_leader(void)
{
    struct sim s;
    form(&s, 3, 13);
    int L = leader_of(&s), w = (L + 1) % 3;
    uint64_t t0 = s.now;
    gc_core_set_isolate(s.nodes[L].core, true);
    bool still = gc_core_is_primary(s.nodes[L].core);
    uint64_t gap = max_gap(&s, w, t0 + 3 * SIM_SEC);
    bool two = s.nodes[w].view.primary && s.nodes[w].view.n == 2;
    gc_core_set_isolate(s.nodes[L].core, false);
    char why[160] = "";
    uint64_t t1 = s.now;
    while (!all_primary_together(&s, why, sizeof why) && s.now < t1 + 10 * SIM_SEC && !sim_failed(&s))
        sim_run_until(&s, s.now + 10 * SIM_MS);
    bool together = all_primary_together(&s, why, sizeof why);
    int rc = sim_failed(&s) || still || !two || gap > SIM_SEC || !together;
    printf("scenario isolate-leader (3 nodes): primary after the call %s (expect no), others primary as 2 %s, max "
           "delivery gap at a survivor %.1f ms (limit 1000 ms), all 3 together again after %.0f ms%s %s%s\n",
           still ? "yes" : "no", two ? "yes" : "no", (double)gap / 1e6, (double)(s.now - t1) / 1e6,
           rc ? " FAIL" : " ok", together ? "" : why, s.fail);
    sim_free(&s);
    return rc;
}

static int scenario_recovery(void)
{
    struct sim s;
    form(&s, 3, 11);
    for (int i = 0; i < 3; i++) sim_crash(&s, i);
    sim_run_until(&s, s.now + SIM_SEC);
    for (int i = 0; i < 3; i++) {
        sim_node_start(&s, i);
        sim_run_until(&s, s.now + 500 * SIM_MS);
    }
    uint64_t t0 = s.now;
    char why[160] = "";
    while (!all_primary_together(&s, why, sizeof why) && s.now < t0 + 20 * SIM_SEC && !sim_failed(&s))
        sim_run_until(&s, s.now + 10 * SIM_MS);
    int rc = sim_failed(&s) || !all_primary_together(&s, why, sizeof why);
    printf("scenario full-crash recovery (3 nodes): primary again %.0f ms after the last restart, without "
           "bootstrap%s %s%s\n", (double)(s.now - t0) / 1e6, rc ? " FAIL" : " ok", why, s.fail);
    sim_free(&s);
    return rc;
}

static int scenario_leave(void)
{
    struct sim s;
    form(&s, 3, 5);
    int L = leader_of(&s);
    uint64_t t0 = s.now;
    gc_core_leave(s.nodes[L].core);
    int w = (L + 1) % 3;
    while (s.nodes[w].view.n != 2 && s.now < t0 + 5 * SIM_SEC && !sim_failed(&s)) sim_run_until(&s, s.now + SIM_MS);
    uint64_t dt = s.now - t0;
    /* the leaver's START may still be on its way when the others have established the view */
    while (!gc_core_has_left(s.nodes[L].core) && s.now < t0 + dt + 100 * SIM_MS && !sim_failed(&s))
        sim_run_until(&s, s.now + SIM_MS);
    uint64_t dl = s.now - t0;
    bool left = gc_core_has_left(s.nodes[L].core);
    s.nodes[L].alive = false; /* gone: it no longer takes part */
    uint64_t gap = max_gap(&s, w, s.now + 3 * SIM_SEC);
    int rc = sim_failed(&s) || dt > 200 * SIM_MS || !left || !s.nodes[w].view.primary || gap > SIM_SEC;
    printf("scenario graceful-leave of the leader (3 nodes): 2-member primary view after %.1f ms, leaver done=%d "
           "after %.1f ms, max gap after %.1f ms%s%s\n", (double)dt / 1e6, left, (double)dl / 1e6, (double)gap / 1e6,
           rc ? " FAIL " : " ok", s.fail);
    s.nodes[L].alive = true;
    sim_free(&s);
    return rc;
}

/* Two members (or more) shut down cleanly at about the same moment (MariaDB's lifecycle test
 * "twice": n2 and n3 of 3 stop at once). Galera keeps the rest primary: members that leave
 * gracefully do not count against the quorum. Variant k (seeded) picks the group size (3 or 5),
 * which two leave (the leader among them or not), the offset between their LEAVEs (0 to 1.5 s)
 * and, in some variants, a leaver whose frames to the others are held back for a while (its
 * STATE comes late or not at all). Each leaver stops (the process exits) once it has left, or
 * after 5 s as gc_node_leave does. The rest must be one primary view within 5 s, and the whole
 * group again once the leavers restart. */
static int two_leave_variant(uint64_t k, bool verbose)
{
    struct sim s;
    int n = k % 4 >= 2 ? 5 : 3;
    form(&s, n, 7000 + k);
    if (verbose) {
        s.verbose = 1;
        tr_log_set_sink(timed_sink);
        tr_log_set_debug(1);
    }
    int L = leader_of(&s);
    int a, b;
    if (k % 2 == 0) { /* the leader leaves too */
        a = L;
        b = (L + 1 + (int)(sim_rand(&s) % (uint64_t)(n - 1))) % n;
    } else {
        a = (L + 1 + (int)(sim_rand(&s) % (uint64_t)(n - 1))) % n;
        do b = (L + 1 + (int)(sim_rand(&s) % (uint64_t)(n - 1))) % n; while (b == a);
    }
    if (sim_rand(&s) % 2) { int t = a; a = b; b = t; }
    static const uint64_t offs[] = {0, 100000, 1000000, 5000000, 30000000, 200000000, 600000000, 1500000000};
    uint64_t off = offs[sim_rand(&s) % (sizeof offs / sizeof offs[0])];
    /* in every third variant one leaver's frames to every other node wait a while, less than the
     * others wait before they suspect a silent node (3 keepalive/8 = 375 ms): held longer, it
     * looks crashed or cut off, its LEAVE may die with the process, and non-primary is right */
    int slow = k % 3 == 1 ? (sim_rand(&s) % 2 ? a : b) : -1;
    uint64_t hold = slow >= 0 ? 20 * SIM_MS + sim_rand(&s) % (330 * SIM_MS) : 0;
    uint64_t t0 = s.now;
    if (slow >= 0)
        for (int j = 0; j < n; j++)
            if (j != slow) sim_set_oneway(&s, slow, j, true);
    gc_core_leave(s.nodes[a].core);
    bool bleft = false, held = slow >= 0;
    uint64_t end = t0 + off + 5 * SIM_SEC;
    while (!sim_failed(&s) && s.now < end) {
        if (!bleft && s.now >= t0 + off) { gc_core_leave(s.nodes[b].core); bleft = true; }
        if (held && s.now >= t0 + hold) {
            for (int j = 0; j < n; j++) sim_set_oneway(&s, slow, j, false);
            held = false;
        }
        for (int i = 0; i < n; i++) /* the process exits once it has left, or after 5 s */
            if (s.nodes[i].alive && (i == a || (i == b && bleft)) &&
                (gc_core_has_left(s.nodes[i].core) || s.now >= t0 + (i == a ? 0 : off) + 5 * SIM_SEC))
                sim_crash(&s, i);
        if (!s.nodes[a].alive && !s.nodes[b].alive && !held) break;
        sim_run_until(&s, s.now + SIM_MS);
    }
    if (held)
        for (int j = 0; j < n; j++) sim_set_oneway(&s, slow, j, false);
    if (s.nodes[a].alive) sim_crash(&s, a);
    if (s.nodes[b].alive) sim_crash(&s, b);
    uint64_t t1 = s.now;
    char why[160] = "";
    while (!sim_failed(&s) && !all_primary_together(&s, why, sizeof why) && s.now < t1 + 5 * SIM_SEC)
        sim_run_until(&s, s.now + 10 * SIM_MS);
    bool rest = !sim_failed(&s) && all_primary_together(&s, why, sizeof why);
    double dt = (double)(s.now - t0) / 1e6;
    /* the leavers come back (MariaDB's test starts them again at once) */
    sim_node_start(&s, a);
    sim_node_start(&s, b);
    uint64_t t2 = s.now;
    char why2[160] = "";
    while (!sim_failed(&s) && !all_primary_together(&s, why2, sizeof why2) && s.now < t2 + 30 * SIM_SEC)
        sim_run_until(&s, s.now + 10 * SIM_MS);
    bool whole = !sim_failed(&s) && all_primary_together(&s, why2, sizeof why2);
    int rc = !rest || !whole;
    char held_s[48] = "";
    if (slow >= 0) snprintf(held_s, sizeof held_s, ", n%d's frames held %.0f ms", slow, (double)hold / 1e6);
    if (rc || verbose)
        printf("two-leave variant %" PRIu64 " (%d nodes, leader n%d, leaving n%d then n%d after %.1f ms%s%s): rest "
               "primary=%d %.0f ms after the first leave%s%s; whole again=%d%s%s\n",
               k, n, L, a, b, (double)off / 1e6, a == L || b == L ? ", leader leaves" : "", held_s, rest, dt,
               rest ? "" : ": ", rest ? "" : why, whole, whole ? "" : ": ", whole ? "" : why2);
    if (sim_failed(&s)) printf("  invariant: %s\n", s.fail);
    if (verbose) tr_log_set_sink(quiet_sink);
    sim_free(&s);
    return rc;
}

static int scenario_two_leave(uint64_t first, uint64_t count, bool verbose)
{
    int fails = 0;
    for (uint64_t k = first; k < first + count; k++) fails += two_leave_variant(k, verbose);
    printf("scenario two graceful leaves at once (3 and 5 nodes, %" PRIu64 " variants from %" PRIu64
           "): %d failed%s\n", count, first, fails, fails ? " FAIL" : " ok");
    return fails > 0;
}

static int scenario_split_brain(void)
{
    struct sim s;
    form(&s, 4, 9);
    int g[SIM_MAX_NODES] = {0, 0, 1, 1};
    sim_partition(&s, g);
    sim_run_until(&s, s.now + 8 * SIM_SEC);
    int prim = 0;
    for (int i = 0; i < 4; i++) prim += gc_core_is_primary(s.nodes[i].core);
    /* pc.bootstrap on one side makes it primary */
    gc_core_bootstrap(s.nodes[0].core);
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    bool b0 = gc_core_is_primary(s.nodes[0].core) && gc_core_is_primary(s.nodes[1].core);
    bool b2 = gc_core_is_primary(s.nodes[2].core);
    int rc = sim_failed(&s) || prim != 0 || !b0 || b2;
    printf("scenario split-brain 2|2: primary nodes during the split %d (expect 0); after pc.bootstrap on one side: "
           "that side primary=%d, other side primary=%d%s%s\n", prim, b0, b2, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* pc.weight at run time: weights 3,1,1; the heavy node alone keeps the primary component. */
static int scenario_weight(void)
{
    struct sim s;
    form(&s, 3, 13);
    gc_core_set_weight(s.nodes[0].core, 3);
    sim_run_until(&s, s.now + 2 * SIM_SEC);
    bool reweighted = s.nodes[1].view.m[gc_view_find(&s.nodes[1].view, gc_core_uuid(s.nodes[0].core))].weight == 3;
    int g[SIM_MAX_NODES] = {0, 1, 1};
    sim_partition(&s, g);
    sim_run_until(&s, s.now + 8 * SIM_SEC);
    bool heavy = gc_core_is_primary(s.nodes[0].core);
    bool light = gc_core_is_primary(s.nodes[1].core) || gc_core_is_primary(s.nodes[2].core);
    int rc = sim_failed(&s) || !reweighted || !heavy || light;
    printf("scenario weights 3,1,1 set at run time (new view with the weight: %d), partition {heavy}|{light,light}: "
           "heavy primary=%d, light primary=%d%s%s\n", reweighted, heavy, light, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* Node 0 gone with both nodes down comes back with no memory (a leave deletes gvwstate.dat; a new
 * connection is a new uuid) and bootstraps a group; returns whether it is primary alone. */
static bool restart_node0_fresh_bootstrap(struct sim *s)
{
    free(s->nodes[0].disk);
    s->nodes[0].disk = NULL;
    s->nodes[0].disklen = 0;
    sim_run_until(s, s->now + 500 * SIM_MS);
    sim_node_start(s, 0);
    gc_core_bootstrap(s->nodes[0].core);
    sim_run_until(s, s->now + 2 * SIM_SEC);
    return gc_core_is_primary(s->nodes[0].core);
}

/* MariaDB's galera_pc_ignore_sb: of two nodes, one is killed (its gvwstate.dat keeps the view of
 * both); the other reconnects under a new uuid with no memory and bootstraps. The killed one
 * restarts and must join that primary component, not wait for a member that is gone for good. */
static int scenario_rejoin_bootstrapped(void)
{
    struct sim s;
    form(&s, 2, 17);
    for (int k = 0; k < 3; k++) { /* view epochs above what a fresh bootstrap starts with */
        int g[SIM_MAX_NODES] = {0, 1};
        sim_partition(&s, g);
        sim_run_until(&s, s.now + 8 * SIM_SEC);
        sim_heal(&s);
        sim_run_until(&s, s.now + 8 * SIM_SEC);
    }
    uint64_t epoch = s.nodes[1].view.id.epoch;
    sim_crash(&s, 1);
    sim_crash(&s, 0);
    bool alone = restart_node0_fresh_bootstrap(&s);
    uint64_t boot_epoch = s.nodes[0].view.id.epoch;
    sim_node_start(&s, 1);
    uint64_t t0 = s.now;
    char why[160] = "";
    while (!all_primary_together(&s, why, sizeof why) && s.now < t0 + 20 * SIM_SEC && !sim_failed(&s))
        sim_run_until(&s, s.now + 10 * SIM_MS);
    int rc = sim_failed(&s) || !alone || !all_primary_together(&s, why, sizeof why);
    printf("scenario rejoin a bootstrapped node (2 nodes): bootstrapped primary=%d (epoch %" PRIu64 " against %" PRIu64
           " remembered), restarted member in its primary view after %.0f ms%s %s%s\n", alone,
           boot_epoch, epoch, (double)(s.now - t0) / 1e6, rc ? " FAIL" : " ok", rc ? why : "", s.fail);
    sim_free(&s);
    return rc;
}

/* MariaDB's galera_sr_cc_slave and galera_sr_shutdown_slave: the other node of two leaves (shut
 * down, or killed) and comes back. After a shutdown the staying node must see one view without it
 * and one with it again; never a second one-member primary view in between (wsrep-lib rolls back every streaming
 * transaction on two consecutive primary views with the same members). Before the leader's GATHER
 * went above the epoch the joiner had promised to its probe, the joiner ignored it and the view
 * re-formed without it: 1-member, 1-member again, then 2-member. */
static int scenario_rejoin(void)
{
    struct sim s;
    form(&s, 2, 23);
    int bad = 0;
    char what[160] = "";
    size_t w = 0;
    for (int kill = 0; kill < 2; kill++) {
        struct gc_stats a, b;
        gc_core_stats(s.nodes[0].core, &a);
        if (kill) sim_crash(&s, 1);
        else {
            gc_core_leave(s.nodes[1].core);
            sim_run_until(&s, s.now + 2 * SIM_SEC);
            sim_crash(&s, 1);
        }
        sim_run_until(&s, s.now + 8 * SIM_SEC); /* a killed member is evicted after evs.suspect_timeout */
        /* shut down: a primary view of one; killed: 1 of 2 is no quorum, a non-primary one */
        bool alone = s.nodes[0].view.n == 1 && s.nodes[0].view.primary == !kill;
        sim_node_start(&s, 1);
        sim_run_until(&s, s.now + 3 * SIM_SEC);
        gc_core_stats(s.nodes[0].core, &b);
        bool back = s.nodes[0].view.primary && s.nodes[0].view.n == 2;
        uint64_t views = b.views - a.views, quiet = b.quiet_views - a.quiet_views;
        if (!alone || !back || (!kill && views != 2) || quiet) bad++;
        w += (size_t)snprintf(what + w, sizeof what - w, "%s%s: %" PRIu64 " views, %" PRIu64 " quiet", w ? "; " : "",
                              kill ? "killed" : "shut down", views, quiet);
    }
    int rc = sim_failed(&s) || bad;
    printf("scenario rejoin (2 nodes, the other node shut down or killed and back; views the staying node delivers, "
           "expect 2 after a shutdown, none quiet): %s%s %s\n", what, rc ? " FAIL" : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* MariaDB's MDEV-29142: one of two nodes bootstraps a group of its own (its gvwstate.dat then
 * holds a one-member primary view); both are killed; the other one starts a new group with no
 * memory. The first, restarting, must join that running primary component instead of recovering
 * its own one-member view and taking the running one's history over. */
static int scenario_restart_into_running(void)
{
    struct sim s;
    form(&s, 2, 19);
    int g[SIM_MAX_NODES] = {0, 1};
    sim_partition(&s, g);
    sim_run_until(&s, s.now + 8 * SIM_SEC);
    gc_core_bootstrap(s.nodes[1].core); /* node 1's own primary component */
    sim_run_until(&s, s.now + 2 * SIM_SEC);
    bool own = gc_core_is_primary(s.nodes[1].core);
    sim_crash(&s, 1);
    sim_crash(&s, 0);
    sim_heal(&s);
    bool running = restart_node0_fresh_bootstrap(&s);
    tr_uuid hist = s.nodes[0].view.history;
    sim_node_start(&s, 1);
    uint64_t t0 = s.now;
    char why[160] = "";
    while (!all_primary_together(&s, why, sizeof why) && s.now < t0 + 20 * SIM_SEC && !sim_failed(&s))
        sim_run_until(&s, s.now + 10 * SIM_MS);
    bool together = all_primary_together(&s, why, sizeof why);
    bool kept = !tr_uuid_compare(&s.nodes[0].view.history, &hist);
    int rc = sim_failed(&s) || !own || !running || !together || !kept;
    printf("scenario restart into a running group (2 nodes): restarted member in its primary view after %.0f ms, "
           "the running history kept=%d%s %s%s\n", (double)(s.now - t0) / 1e6, kept, rc ? " FAIL" : " ok",
           rc ? why : "", s.fail);
    sim_free(&s);
    return rc;
}

/* Flow control: while one member asks to stop, nobody's broadcasts are ordered; then they are. */
static int scenario_fc(void)
{
    struct sim s;
    form(&s, 3, 17);
    gc_core_fc(s.nodes[2].core, true);
    sim_run_until(&s, s.now + 200 * SIM_MS); /* what was already ordered drains */
    uint64_t d0 = s.nodes[0].delivered_total;
    sim_run_until(&s, s.now + SIM_SEC);
    uint64_t during = s.nodes[0].delivered_total - d0;
    gc_core_fc(s.nodes[2].core, false);
    uint64_t d1 = s.nodes[0].delivered_total;
    sim_run_until(&s, s.now + SIM_SEC);
    uint64_t after = s.nodes[0].delivered_total - d1;
    int rc = sim_failed(&s) || during != 0 || after == 0;
    printf("scenario flow control: delivered while stopped %llu (expect 0), after resume %llu%s%s\n",
           (unsigned long long)during, (unsigned long long)after, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* With 3 equal members, a member's message is committed at the leader by that member's own ACK:
 * the third member acks it only to let logs be trimmed, at ticks and every 64 entries, not once
 * per message. */
static int scenario_acks(void)
{
    struct sim s;
    form(&s, 3, 23);
    s.workload = false;
    sim_run_until(&s, s.now + 200 * SIM_MS); /* what the workload sent is delivered */
    int L = leader_of(&s), M = (L + 1) % 3, T = (L + 2) % 3;
    uint64_t acks_m = s.nodes[M].acks_sent, acks_t = s.nodes[T].acks_sent, dl = s.nodes[L].delivered_total;
    int sent = 0;
    for (int k = 0; k < 200; k++) {
        uint8_t buf[64] = {0};
        memcpy(buf, &k, sizeof k);
        if (gc_core_broadcast(s.nodes[M].core, buf, sizeof buf) == 0) sent++;
        sim_run_until(&s, s.now + SIM_MS);
    }
    sim_run_until(&s, s.now + 100 * SIM_MS);
    acks_m = s.nodes[M].acks_sent - acks_m;
    acks_t = s.nodes[T].acks_sent - acks_t;
    dl = s.nodes[L].delivered_total - dl;
    int rc = sim_failed(&s) || sent != 200 || dl != 200 || acks_t > 20;
    printf("scenario acks (3 nodes, 200 messages from a member): delivered at the leader %llu, ACK frames from the "
           "sender %llu, from the third member %llu (expect at most 20)%s%s\n", (unsigned long long)dl,
           (unsigned long long)acks_m, (unsigned long long)acks_t, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

static int scenario_big(uint64_t mib)
{
    struct sim s;
    sim_init(&s, 3, 3, 64500);
    for (int i = 0; i < 3; i++) {
        sim_node_start(&s, i);
        sim_run_until(&s, s.now + 50 * SIM_MS);
    }
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    size_t len = (size_t)(mib << 20);
    uint8_t *buf = malloc(len);
    if (!buf) { printf("scenario big: cannot allocate %" PRIu64 " MiB\n", mib); sim_free(&s); return 1; }
    for (size_t i = 0; i < len; i += 4096) buf[i] = (uint8_t)(i >> 12);
    int r = gc_core_broadcast(s.nodes[1].core, buf, len);
    free(buf);
    uint64_t t0 = s.now;
    while (s.nodes[2].delivered_total == 0 && s.now < t0 + 600 * SIM_SEC && !sim_failed(&s))
        sim_run_until(&s, s.now + 100 * SIM_MS);
    int rc = r != 0 || sim_failed(&s) || s.nodes[0].delivered_total != 1 || s.nodes[2].delivered_total != 1;
    printf("scenario big message: %" PRIu64 " MiB broadcast (rc %d) delivered at all 3 nodes: %s%s\n", mib, r,
           rc ? "FAIL " : "ok", s.fail);
    sim_free(&s);
    return rc;
}

/* A member dies under load on slow links: when it is evicted the survivors' logs hold everything
 * since (nobody could trim), and STATE and START carry it, taking longer than t_fresh per hop. The
 * survivor that promised must keep waiting for the START while its fragments arrive, not gather
 * alone into a non-primary view (which drops what it has in flight: MariaDB's 1180 on COMMIT). */
static int scenario_slow_change(void)
{
    struct sim s;
    form(&s, 3, 11);
    s.bytes_per_sec = 1u << 20;
    sim_run_until(&s, s.now + 500 * SIM_MS);
    int L = leader_of(&s), victim = (L + 1) % 3, watch = (L + 2) % 3;
    uint64_t np = s.nodes[watch].nonprim_views + s.nodes[L].nonprim_views, e0 = s.nodes[watch].view.id.epoch;
    struct gc_stats st0[3], st1[3];
    for (int i = 0; i < 3; i++) gc_core_stats(s.nodes[i].core, &st0[i]);
    sim_crash(&s, victim);
    uint64_t t0 = s.now, t_view = 0;
    while (s.now < t0 + 8 * SIM_SEC && !sim_failed(&s)) {
        sim_run_until(&s, s.now + 10 * SIM_MS);
        if (!t_view && s.nodes[watch].view.id.epoch != e0 && s.nodes[watch].view.primary) t_view = s.now - t0;
    }
    uint64_t npv = s.nodes[watch].nonprim_views + s.nodes[L].nonprim_views - np, sent = 0;
    for (int i = 0; i < 3; i++)
        if (i != victim) {
            gc_core_stats(s.nodes[i].core, &st1[i]);
            sent += st1[i].start_entries_sent - st0[i].start_entries_sent;
            sent += st1[i].state_entries_sent - st0[i].state_entries_sent;
        }
    bool changed = s.nodes[watch].view.id.epoch != e0 && s.nodes[watch].view.primary && s.nodes[watch].view.n == 2;
    /* the survivors' logs are alike: STATE and START carry only what the other lacks, not the
     * whole log (thousands of entries here) */
    int rc = sim_failed(&s) || npv != 0 || !changed || sent > 64;
    printf("scenario slow view change (3 nodes, 1 MiB/s links, a member crashed under load): 2-member primary view %s "
           "%.0f ms after the crash, non-primary views at the survivors %llu (expect 0), log entries in STATE and "
           "START %llu (expect at most 64)%s%s\n",
           changed ? "yes" : "no", (double)t_view / 1e6, (unsigned long long)npv, (unsigned long long)sent,
           rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* A message that takes seconds to cross each link (32 MiB over 8 MiB/s): heartbeats and echoes
 * overtake its fragments, so every lease holds and the view stays as it is. Echoes that queued
 * behind it came back after the lease had run out, and the group re-formed under the message. */
static int scenario_big_slow_link(void)
{
    struct sim s;
    form(&s, 3, 12);
    s.workload = false;
    s.bytes_per_sec = 8u << 20;
    sim_run_until(&s, s.now + 500 * SIM_MS);
    int L = leader_of(&s), from = (L + 1) % 3;
    uint64_t e0 = s.nodes[0].view.id.epoch, d0[3];
    for (int i = 0; i < 3; i++) d0[i] = s.nodes[i].delivered_total;
    size_t len = (size_t)32 << 20;
    uint8_t *buf = calloc(1, len);
    if (!buf) { printf("scenario big message on slow links: cannot allocate\n"); sim_free(&s); return 1; }
    int r = gc_core_broadcast(s.nodes[from].core, buf, len);
    free(buf);
    uint64_t t0 = s.now, not_primary = 0;
    bool all = false;
    while (!all && s.now < t0 + 60 * SIM_SEC && !sim_failed(&s)) {
        sim_run_until(&s, s.now + 50 * SIM_MS);
        all = true;
        for (int i = 0; i < 3; i++) {
            if (!gc_core_is_primary(s.nodes[i].core)) not_primary++;
            if (s.nodes[i].delivered_total == d0[i]) all = false;
        }
    }
    bool same_view = s.nodes[0].view.id.epoch == e0 && s.nodes[1].view.id.epoch == e0 && s.nodes[2].view.id.epoch == e0;
    int rc = r != 0 || sim_failed(&s) || !all || !same_view || not_primary != 0;
    printf("scenario big message on slow links (32 MiB, 8 MiB/s): delivered at all 3 %s after %.1f s, same view %s, "
           "samples not primary %llu (expect 0)%s%s\n", all ? "yes" : "no", (double)(s.now - t0) / SIM_SEC,
           same_view ? "yes" : "no", (unsigned long long)not_primary, rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* One member's links are slow (512 KiB/s) while the other two broadcast 4 KB messages at
 * 4 MB/s each. Its acks lag, so no log can be trimmed: without the retain limit every log and
 * the queues towards it grow with everything sent (limit = UINT64_MAX shows it, about 20 MB in
 * 3 s); with a 1 MiB limit they stay near it, the group runs at the slow member's pace, and it
 * is not evicted (heartbeats overtake the queue). */
static int scenario_slow_member(uint64_t limit)
{
    struct sim s;
    sim_init(&s, 29, 3, 64500);
    s.retain_limit = limit;
    for (int i = 0; i < 3; i++) {
        sim_node_start(&s, i);
        sim_run_until(&s, s.now + 50 * SIM_MS);
    }
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    int L = leader_of(&s), slow = (L + 2) % 3;
    s.node_bps[slow] = 512u << 10;
    uint64_t e0 = s.nodes[slow].view.id.epoch, d0[3], max_ret = 0, sent = 0;
    for (int i = 0; i < 3; i++) d0[i] = s.nodes[i].delivered_total;
    uint8_t buf[4096] = {0};
    for (int ms = 0; ms < 3000 && !sim_failed(&s); ms++) {
        for (int i = 0; i < 3; i++) {
            struct gc_stats st;
            gc_core_stats(s.nodes[i].core, &st);
            if (st.retained_bytes > max_ret) max_ret = st.retained_bytes;
            if (i == slow || st.pending >= 8) continue; /* an application's window */
            memcpy(buf, &sent, sizeof sent);
            if (gc_core_broadcast(s.nodes[i].core, buf, sizeof buf) == 0) sent++;
        }
        sim_run_until(&s, s.now + SIM_MS);
    }
    uint64_t got[3], max_q = 0;
    for (int i = 0; i < 3; i++) {
        got[i] = s.nodes[i].delivered_total - d0[i];
        if (s.nodes[i].max_txq > max_q) max_q = s.nodes[i].max_txq;
    }
    bool same_view = s.nodes[0].view.id.epoch == e0 && s.nodes[1].view.id.epoch == e0 && s.nodes[2].view.id.epoch == e0;
    /* the limit is checked before each message: up to 8 pending per sender may pass it */
    uint64_t bound = (limit == UINT64_MAX ? 1u << 20 : limit) + 2 * 8 * sizeof buf + (256u << 10);
    int rc = sim_failed(&s) || !same_view || max_ret > bound || max_q > bound + (64u << 10) || got[slow] < 200 ||
             got[L] > got[slow] + bound / sizeof buf;
    char lim[32] = "none";
    if (limit != UINT64_MAX) snprintf(lim, sizeof lim, "%.1f MiB", (double)limit / (1 << 20));
    printf("scenario slow member (3 nodes, one on 512 KiB/s links, retain limit %s): most retained %.2f MiB, "
           "most queued on a link %.2f MiB (expect at most %.2f), delivered at the leader %llu and at the slow "
           "member %llu (expect at least 200), same view %s%s%s\n",
           lim, (double)max_ret / (1 << 20), (double)max_q / (1 << 20),
           (double)bound / (1 << 20), (unsigned long long)got[L], (unsigned long long)got[slow],
           same_view ? "yes" : "no", rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* A member on slow links (1 MiB/s) is paused for 3 s under load (less than the suspect timeout),
 * then resumes with a backlog of up to the retain limit (4 MiB) to read. It must not gather the
 * two others while it hears their leader run the view (their STATEs would reach it behind the
 * backlog, after its gather gave up, and they lost their view for 3.7 s, 374 samples): the leader
 * re-forms without it and then with it, which costs the lease wait for a member that may still
 * echo (0.5 s and two ticks) and two gathers. */
static int scenario_stalled_slow_member(void)
{
    struct sim s;
    sim_init(&s, 31, 3, 64500);
    s.retain_limit = 4u << 20;
    for (int i = 0; i < 3; i++) {
        sim_node_start(&s, i);
        sim_run_until(&s, s.now + 50 * SIM_MS);
    }
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    int L = leader_of(&s), slow = (L + 2) % 3, other = (L + 1) % 3;
    s.node_bps[slow] = 1u << 20;
    uint64_t np0 = s.nodes[L].nonprim_views + s.nodes[other].nonprim_views, not_primary = 0;
    uint8_t buf[4096] = {0};
    uint64_t sent = 0;
    for (int ms = 0; ms < 15000 && !sim_failed(&s); ms++) {
        if (ms == 1000) sim_pause(&s, slow, true);
        if (ms == 4000) sim_pause(&s, slow, false);
        for (int i = 0; i < 3; i++) {
            struct gc_stats st;
            gc_core_stats(s.nodes[i].core, &st);
            if (i == slow || st.pending >= 8 || ms % 2) continue;
            memcpy(buf, &sent, sizeof sent);
            if (gc_core_broadcast(s.nodes[i].core, buf, sizeof buf) == 0) sent++;
        }
        sim_run_until(&s, s.now + SIM_MS);
        if (ms % 10 == 0 && (!gc_core_is_primary(s.nodes[L].core) || !gc_core_is_primary(s.nodes[other].core)))
            not_primary++;
    }
    uint64_t npv = s.nodes[L].nonprim_views + s.nodes[other].nonprim_views - np0;
    bool back = s.nodes[slow].view.primary && s.nodes[slow].view.n == 3;
    int rc = sim_failed(&s) || not_primary > 100 || npv != 0 || !back;
    printf("scenario stalled slow member (3 nodes, one on 1 MiB/s links paused 3 s under load, retain limit 4 MiB): "
           "10 ms samples with a survivor not primary %llu (expect at most 100), non-primary views at the survivors "
           "%llu (expect 0), the member "
           "back in a 3-member primary view %s%s%s\n", (unsigned long long)not_primary, (unsigned long long)npv,
           back ? "yes" : "no", rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* An outsider that knows the group name attacks a formed group of 3 for 10 s (poisoned
 * heartbeats, GATHER and START, flow control, acknowledgements, FRAG floods before and after
 * its HELLO): no view changes, the longest delivery gap stays that of the load, and it never
 * becomes a member (the checker's invariants run throughout). */
static int scenario_outsider(void)
{
    struct sim s;
    form(&s, 3, 37);
    uint64_t e0 = s.nodes[0].view.id.epoch, views0 = 0;
    for (int i = 0; i < 3; i++) views0 += s.nodes[i].nonprim_views;
    sim_outsider_add(&s);
    uint64_t gap = max_gap(&s, 1, s.now + 10 * SIM_SEC);
    bool same = true;
    uint64_t views1 = 0;
    for (int i = 0; i < 3; i++) {
        same = same && s.nodes[i].view.id.epoch == e0 && gc_core_is_primary(s.nodes[i].core);
        views1 += s.nodes[i].nonprim_views;
    }
    int rc = sim_failed(&s) || !same || views1 != views0 || gap > 100 * SIM_MS;
    printf("scenario outsider (3 nodes, 10 s of attacks by a process that knows the group name): same primary view "
           "%s, max delivery gap %.1f ms (limit 100 ms)%s%s\n", same ? "yes" : "no", (double)gap / 1e6,
           rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

/* Does node i hold uuid u in its evict list? */
static bool evicts(struct sim *s, int i, const tr_uuid *u)
{
    const gc_evict_list *e = gc_core_evict_list(s->nodes[i].core);
    for (int k = 0; k < e->n; k++)
        if (!tr_uuid_compare(&e->u[k], u)) return true;
    return false;
}

/* Node x's links all drop every second (a flapping network at x) for `secs` seconds. */
static bool evicts(struct sim *s, int i, const tr_uuid *u);

/* Node x's links all drop every second (a flapping network at x) for `secs` seconds; *at: when
 * nodes 0 and 1 both first held x in their evict lists (0: never). */
static void flap(struct sim *s, int n, int x, int secs, uint64_t *at)
{
    tr_uuid u = *gc_core_uuid(s->nodes[x].core);
    uint64_t t0 = s->now;
    *at = 0;
    for (int k = 0; k < secs && !sim_failed(s); k++) {
        for (int j = 0; j < n; j++)
            if (j != x) sim_break_link_between(s, x, j);
        for (int ms = 0; ms < 1000 && !sim_failed(s); ms += 10) {
            sim_run_until(s, s->now + 10 * SIM_MS);
            if (!*at && evicts(s, 0, &u) && evicts(s, 1, &u)) *at = s->now - t0;
        }
    }
}

/* Galera's auto-eviction (docs/design/gcomm.md section 14): node 2 of 3 flaps; with
 * evs.auto_evict=3 the other two evict it (both lists name it, a primary view of two without
 * it), it learns that and stays out, also after a restart under the same uuid; a clear at one
 * member empties both lists, and a restart then takes it back. With auto_evict 0 nobody is
 * evicted, the delayed lists count the flaps, and the group is whole again once the link holds. */
static int scenario_auto_evict(uint32_t auto_evict)
{
    struct sim s;
    sim_init(&s, 91, 3, 64500); /* form() with auto_evict set before the nodes start */
    s.auto_evict = auto_evict;
    s.workload = true;
    s.bcast_period = 4 * SIM_MS;
    for (int i = 0; i < 3; i++) {
        sim_node_start(&s, i);
        sim_run_until(&s, s.now + 50 * SIM_MS);
    }
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    const int x = 2;
    tr_uuid ux = *gc_core_uuid(s.nodes[x].core);
    uint64_t t0 = s.now, at;
    flap(&s, 3, x, 12, &at);
    struct gc_delayed_entry de[8];
    int nde = gc_core_delayed(s.nodes[0].core, de, 8), cnt = 0;
    for (int k = 0; k < nde; k++)
        if (!tr_uuid_compare(&de[k].uuid, &ux)) cnt = de[k].cnt;
    bool ok = !sim_failed(&s);
    char why[320] = "";
    if (auto_evict) {
        bool ev = evicts(&s, 0, &ux) && evicts(&s, 1, &ux) && gc_core_evicted(s.nodes[x].core);
        sim_run_until(&s, s.now + 3 * SIM_SEC);
        bool two = gc_core_is_primary(s.nodes[0].core) && gc_core_is_primary(s.nodes[1].core) &&
                   !gc_view_id_cmp(&s.nodes[0].view.id, &s.nodes[1].view.id) && s.nodes[0].view.n == 2 &&
                   !gc_core_is_primary(s.nodes[x].core);
        /* a restart under the same uuid (gvwstate.dat kept) is refused again */
        sim_crash(&s, x);
        sim_node_start(&s, x);
        sim_run_until(&s, s.now + 5 * SIM_SEC);
        bool refused = gc_core_evicted(s.nodes[x].core) && s.nodes[0].view.n == 2 &&
                       !gc_core_is_primary(s.nodes[x].core);
        /* evs.evict with an empty value at one member clears every member's list */
        s.evict_ops = true;
        gc_core_evict_clear(s.nodes[0].core);
        sim_run_until(&s, s.now + 2 * SIM_SEC);
        bool cleared = !gc_core_evict_list(s.nodes[0].core)->n && !gc_core_evict_list(s.nodes[1].core)->n;
        sim_crash(&s, x);
        sim_node_start(&s, x);
        sim_run_until(&s, s.now + 10 * SIM_SEC);
        char w2[160] = "";
        bool back = all_primary_together(&s, w2, sizeof w2);
        ok = ok && ev && two && refused && cleared && back && !sim_failed(&s);
        snprintf(why, sizeof why, "evicted by both %s, survivors primary without it %s, restart refused %s, "
                 "clear reached both %s, back after restart %s %s", ev ? "yes" : "no", two ? "yes" : "no",
                 refused ? "yes" : "no", cleared ? "yes" : "no", back ? "yes" : "no", w2);
    } else {
        bool none = !gc_core_evict_list(s.nodes[0].core)->n && !gc_core_evict_list(s.nodes[1].core)->n &&
                    !gc_core_evicted(s.nodes[x].core);
        sim_run_until(&s, s.now + 10 * SIM_SEC);
        char w2[160] = "";
        bool back = all_primary_together(&s, w2, sizeof w2);
        ok = ok && none && !at && back && cnt >= 3 && !sim_failed(&s);
        snprintf(why, sizeof why, "nobody evicted %s, whole again %s %s", none ? "yes" : "no", back ? "yes" : "no", w2);
    }
    printf("scenario auto-evict %u (3 nodes, one flapping every 1 s for 12 s from %.1f s): delay count at n0 %d, "
           "evicted at both %.2f s into the flapping; %s%s%s\n", auto_evict, (double)t0 / 1e9, cnt, (double)at / 1e9,
           why, ok ? " ok" : " FAIL ", s.fail);
    sim_free(&s);
    return !ok;
}

/* evs.evict=UUID at one member of 3: every member evicts it, the view goes on without it. */
static int scenario_manual_evict(void)
{
    struct sim s;
    form(&s, 3, 93);
    s.evict_ops = true;
    tr_uuid u1 = *gc_core_uuid(s.nodes[1].core);
    gc_core_evict(s.nodes[2].core, &u1);
    sim_run_until(&s, s.now + 3 * SIM_SEC);
    bool ok = !sim_failed(&s) && evicts(&s, 0, &u1) && evicts(&s, 2, &u1) && gc_core_evicted(s.nodes[1].core) &&
              gc_core_is_primary(s.nodes[0].core) && s.nodes[0].view.n == 2 && !gc_core_is_primary(s.nodes[1].core);
    printf("scenario manual evict (evs.evict at one member of 3): evicted everywhere and the view goes on without "
           "it%s%s\n", ok ? " ok" : " FAIL ", s.fail);
    sim_free(&s);
    return !ok;
}

/* Echoes late, not lost: every frame into one node (a member, or the leader) waits longer and
 * longer, up to `delay`, as behind a growing queue of bulk data on a far link (docs/benchmarks.md,
 * WAN). The delay grows by `rate` per ms (0.1: 100 ms per second), so frames keep arriving, only
 * later: the echoes of the node's heartbeats come back after its lease (keepalive/2) while its
 * peers are still heard. It must stay in the view and deliver (no view change anywhere) while
 * an echo comes back within keepalive_period after the lease ran out (of a heartbeat sent at most
 * 1.5 s before: lease 0.5 s, grace 1 s), and give the view up once none does: with the delay
 * still growing, before frames sent then are 2 s late. */
static int scenario_late_echoes(bool leader, uint64_t delay, double rate, bool expect_stay)
{
    struct sim s;
    form(&s, 3, 61 + (uint64_t)leader);
    int L = leader_of(&s), v = leader ? L : (L + 1) % 3;
    uint64_t e0[3], np0 = 0, d0 = s.nodes[v].delivered_total;
    for (int i = 0; i < 3; i++) e0[i] = s.nodes[i].view.id.epoch, np0 += s.nodes[i].nonprim_views;
    uint64_t t0 = s.now, lost_at = 0, late_then = 0;
    while (s.now < t0 + 20 * SIM_SEC && !sim_failed(&s)) {
        uint64_t x = (uint64_t)((double)(s.now - t0) * rate);
        if (x > delay) x = delay;
        for (int i = 0; i < 3; i++)
            if (i != v) s.extra_delay[i][v] = x;
        sim_run_until(&s, s.now + SIM_MS);
        if (!lost_at && !s.nodes[v].view.primary) lost_at = s.now, late_then = x;
    }
    uint64_t np = 0;
    bool same = true;
    for (int i = 0; i < 3; i++) np += s.nodes[i].nonprim_views, same = same && s.nodes[i].view.id.epoch == e0[i];
    np -= np0;
    uint64_t got = s.nodes[v].delivered_total - d0;
    int rc = expect_stay ? sim_failed(&s) || np || !same || got < 1000
                         : sim_failed(&s) || !lost_at || late_then > 2 * SIM_SEC;
    char gave[96] = "";
    if (lost_at)
        snprintf(gave, sizeof gave, ", non-primary at %.1f s, its frames then %.0f ms late", (double)(lost_at - t0) / 1e9,
                 (double)late_then / 1e6);
    printf("scenario late-echoes (3 nodes, the %s's incoming frames up to %.0f ms late, +%.0f ms/s): %s; non-primary "
           "views %llu, view changes %s, %llu delivered there in 20 s%s%s\n", leader ? "leader" : "member",
           (double)delay / 1e6, rate * 1000, expect_stay ? "expect it to stay" : "expect it to give the view up",
           (unsigned long long)np, same ? "none" : "some", (unsigned long long)got, gave, rc ? " FAIL " : " ok");
    if (rc && s.fail[0]) printf("  %s\n", s.fail);
    sim_free(&s);
    return rc;
}

/* A leader on a slow link sending large messages: every frame of its 60 KB messages takes 600 ms
 * on its 100 KB/s links, longer than t_fresh (375 ms), while its bytes arrive all along. Its
 * members must go on counting it heard (gc_core_recv_partial: before, they gathered without it)
 * and its late echoes must not cost anyone the view: no view change, no non-primary view, every
 * large message delivered. */
static int scenario_slow_leader_frames(void)
{
    struct sim s;
    form(&s, 3, 71);
    int L = leader_of(&s);
    uint64_t e0[3], np0 = 0, d0[3];
    for (int i = 0; i < 3; i++)
        e0[i] = s.nodes[i].view.id.epoch, np0 += s.nodes[i].nonprim_views, d0[i] = s.nodes[i].delivered_total;
    s.node_bps[L] = 100 * 1000;
    s.workload = false;
    static uint8_t big[60000];
    int sent = 0;
    uint64_t t0 = s.now;
    while (s.now < t0 + 15 * SIM_SEC && !sim_failed(&s)) {
        if (s.now < t0 + 12 * SIM_SEC && (s.now - t0) % (700 * SIM_MS) < SIM_MS) {
            sim_msg_put(big, L, ++s.nodes[L].sent_seq, s.nodes[L].restarts);
            if (gc_core_broadcast(s.nodes[L].core, big, sizeof big) == 0) sent++;
        }
        sim_run_until(&s, s.now + SIM_MS);
    }
    sim_run_until(&s, s.now + 10 * SIM_SEC); /* the queue drains */
    uint64_t np = 0;
    bool same = true, all = true;
    for (int i = 0; i < 3; i++) {
        np += s.nodes[i].nonprim_views;
        same = same && s.nodes[i].view.id.epoch == e0[i];
        all = all && s.nodes[i].delivered_total - d0[i] >= (uint64_t)sent;
    }
    np -= np0;
    int rc = sim_failed(&s) || np || !same || !all || sent < 15;
    printf("scenario slow-leader-frames (3 nodes, the leader's links 100 KB/s, 60 KB messages): %d sent, delivered "
           "everywhere %s, non-primary views %llu, view changes %s%s%s\n", sent, all ? "yes" : "no",
           (unsigned long long)np, same ? "none" : "some", rc ? " FAIL " : " ok", s.fail);
    sim_free(&s);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t seeds = 0, start = 1, one = 0, big = 0, retain = 0;
    uint64_t two = 0, two_one = 0;
    bool have_two_one = false;
    bool have_one = false, verbose = false, trace = false, quiet = false, scen = false, evict = false, late = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--start") && i + 1 < argc) start = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) { one = strtoull(argv[++i], NULL, 10); have_one = true; }
        else if (!strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--trace")) verbose = trace = true;
        else if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (!strcmp(argv[i], "--scenarios")) scen = true;
        else if (!strcmp(argv[i], "--evict")) evict = true;
        else if (!strcmp(argv[i], "--late-echoes")) late = true;
        else if (!strcmp(argv[i], "--two-leave") && i + 1 < argc) two = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--two-leave-variant") && i + 1 < argc) {
            two_one = strtoull(argv[++i], NULL, 10);
            have_two_one = true;
        }
        else if (!strcmp(argv[i], "--big-mib") && i + 1 < argc) big = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--slow-member") && i + 1 < argc) { /* retain limit in bytes, 0: none */
            retain = strtoull(argv[++i], NULL, 10);
            if (!retain) retain = UINT64_MAX;
        } else {
            fprintf(stderr, "usage: trireme-sim [--seeds N [--start S]] [--seed S [--verbose]] [--scenarios] "
                            "[--big-mib M] [--slow-member LIMIT] [--evict] [--late-echoes] [--quiet]\n"
                            "       [--two-leave N [--start S]] [--two-leave-variant K]\n");
            return 2;
        }
    }
    g_trace = trace;
    setvbuf(stdout, NULL, _IOLBF, 0); /* scenario lines among the --verbose log */
    if (!verbose) tr_log_set_sink(quiet_sink);
    else {
        tr_log_set_sink(timed_sink);
        tr_log_set_debug(1);
    }
    int fails = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (have_one) fails += run_seed(one, verbose, false);
    for (uint64_t k = 0; k < seeds; k++) fails += run_seed(start + k, false, quiet);
    if (scen) {
        fails += scenario_failover(false, 3, 100 * SIM_MS);
        fails += scenario_failover(false, 5, 100 * SIM_MS);
        fails += scenario_failover(true, 3, SIM_SEC);
        fails += scenario_failover(true, 5, SIM_SEC);
        fails += scenario_cutoff();
        fails += scenario_isolate_leader();
        fails += scenario_recovery();
        fails += scenario_leave();
        fails += scenario_two_leave(0, 200, false);
        fails += scenario_split_brain();
        fails += scenario_weight();
        fails += scenario_rejoin_bootstrapped();
        fails += scenario_rejoin();
        fails += scenario_restart_into_running();
        fails += scenario_fc();
        fails += scenario_acks();
        fails += scenario_big(big ? big : 64);
        fails += scenario_slow_change();
        fails += scenario_big_slow_link();
        fails += scenario_slow_member(1u << 20);
        fails += scenario_stalled_slow_member();
        fails += scenario_outsider();
        fails += scenario_auto_evict(3);
        fails += scenario_auto_evict(0);
        fails += scenario_manual_evict();
        fails += scenario_late_echoes(false, 450 * SIM_MS, 0.1, true);
        fails += scenario_late_echoes(true, 450 * SIM_MS, 0.1, true);
        fails += scenario_late_echoes(false, 3 * SIM_SEC, 0.25, false);
        fails += scenario_slow_leader_frames();
    } else if (big) {
        fails += scenario_big(big);
    }
    if (retain) fails += scenario_slow_member(retain);
    if (two) fails += scenario_two_leave(start, two, false);
    if (have_two_one) fails += two_leave_variant(two_one, true);
    if (late && !scen) {
        fails += scenario_late_echoes(false, 450 * SIM_MS, 0.1, true);
        fails += scenario_late_echoes(true, 450 * SIM_MS, 0.1, true);
        fails += scenario_late_echoes(false, 3 * SIM_SEC, 0.25, false);
        fails += scenario_slow_leader_frames();
    }
    if (evict && !scen) { /* the eviction scenarios alone */
        fails += scenario_auto_evict(3);
        fails += scenario_auto_evict(0);
        fails += scenario_manual_evict();
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (seeds) printf("%" PRIu64 " seeds from %" PRIu64 ": %d failed, %.1f s wall\n", seeds, start, fails, secs);
    return fails ? 1 : 0;
}
