/* tests/sim/nsim_main: trireme-nsim: whole nodes (replicator core over gcomm core, model host
 * and clients) through random faults, one seed at a time; a failing seed prints its replay. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certification/cert_ws.h"
#include "common/tr_log.h"
#include "replicator/repl_fsm.h"
#include "tests/sim/nsim.h"

static void quiet_sink(enum tr_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

struct undo {
    uint64_t at;
    int kind, node; /* 0 isolate, 1 pause, 2 partition */
};

static bool alive(struct nsim *m, int i)
{
    return m->nd[i].core != NULL || m->nd[i].ra != NULL;
}

static void fault(struct nsim *m, struct undo *u, int *nu)
{
    uint64_t r = ns_rand(m);
    int i = (int)(ns_rand(m) % (uint64_t)m->n);
    uint64_t dur = 300 * SIM_MS + ns_rand(m) % (2500 * SIM_MS);
    uint64_t now = m->net.now;
    struct ns_node *nd = &m->nd[i];
    switch (r % 10) {
    case 0: /* a crash, and the restart an init system would do */
        if (!alive(m, i)) break;
        ns_crash(m, i);
        nd->restart_at = now + dur;
        break;
    case 1:
        if (!alive(m, i) || *nu >= 32) break;
        gc_core_set_isolate(m->net.nodes[i].core, true);
        TRACE(m, "fault: n%d isolated for %.3f s", i, (double)dur / 1e9);
        u[(*nu)++] = (struct undo){now + dur, 0, i};
        break;
    case 2:
        if (!alive(m, i) || *nu >= 32) break;
        sim_pause(&m->net, i, true);
        TRACE(m, "fault: n%d paused for %.3f s", i, (double)dur / 2e9);
        u[(*nu)++] = (struct undo){now + dur / 2, 1, i};
        break;
    case 3: { /* a partition into two sides */
        if (*nu >= 32) break;
        int g[SIM_MAX_NODES] = {0};
        for (int k = 0; k < m->n; k++) g[k] = (int)(ns_rand(m) % 2);
        sim_partition(&m->net, g);
        TRACE(m, "fault: partition for %.3f s", (double)dur / 1e9);
        u[(*nu)++] = (struct undo){now + dur, 2, -1};
        break;
    }
    case 4:
    case 5: /* desync for a while (RSU, a backup) */
        if (alive(m, i) && !nd->desynced && ns_desync(m, i)) nd->resync_at = now + dur;
        break;
    case 6: /* this node's engine will fail to apply a write-set the others apply */
        if (ns_synced_quorum(m)) nd->fail_seqno = nd->applied + 2 + (int64_t)(ns_rand(m) % 4);
        break;
    case 7: /* ... or all but this one fail alike: the one that succeeded is the odd one. An
             * arbitrator applies nothing, so it cannot be that one: with it every data node
             * would fail, each at its own seqno, and leave, and no trusted store would remain
             * for the operator to bootstrap from (seed 2175 with --streaming --arbitrators). */
        if (m->n < 3 || nd->arb || !ns_synced_quorum(m)) break;
        for (int k = 0; k < m->n; k++)
            if (k != i && alive(m, k)) m->nd[k].fail_seqno = m->nd[k].applied + 3;
        break;
    case 8:
        TRACE(m, "fault: a link breaks");
        sim_break_link(&m->net);
        break;
    case 9: { /* one allocation fails in this node's replicator: it must stop, never diverge */
        if (nd->arb) break;
        static const char *const points[] = {
            "ws.new", "ws.decode", "core.certify", "core.msg", "core.view", "core.defer",
            "core.cert_new", "core.mstate", "core.req", "core.ist", "core.donate", "exch.begin",
            "xfer.hold", "members.set", "inflight.add", "vote.fail", "vote.begin", "vote.answer",
            "gcache.put", "acts.push"};
        if (!alive(m, i)) break;
        nd->inject = points[ns_rand(m) % (sizeof points / sizeof points[0])];
        nd->inject_until = now + dur;
        break;
    }
    }
}

static void undo_all(struct nsim *m, struct undo *u, int *nu, bool all)
{
    for (int k = 0; k < *nu; k++) {
        if (!all && u[k].at > m->net.now) continue;
        if (u[k].kind == 0 && alive(m, u[k].node)) gc_core_set_isolate(m->net.nodes[u[k].node].core, false);
        if (u[k].kind == 1) sim_pause(&m->net, u[k].node, false);
        if (u[k].kind == 2) sim_heal(&m->net);
        u[k--] = u[--*nu];
    }
}

static struct {
    uint64_t acked, injected, bootstrapped, sr_commits, sr_rollbacks;
} tot;
/* --streaming: every data node also runs a streaming client (docs/design/streaming.md) */
static bool streaming, no_resend;
/* --pieces N: every message longer than N bytes goes in pieces (replicator/repl_frag.h), as the
 * gcomm group cuts actions: views then cut actions short (docs/design/replicator.md) */
static size_t pieces;
/* --arbitrators: a quarter of the seeds run arbitrator members (sim.nodes.arbitrators runs
 * just those, --only-arbitrators: the other seeds are sim.nodes' own). */
static bool with_arbs, only_arbs;

static int members_of(uint64_t seed)
{
    return 3 + (int)(seed % 3);
}

/* a quarter of the seeds: the last member is an arbitrator (2 to 4 data nodes), and with 5
 * members some have two (docs/design/arbitrator.md) */
static int arbitrators_of(uint64_t seed)
{
    if (!with_arbs || seed % 4 != 3) return 0;
    return members_of(seed) == 5 && seed % 8 == 7 ? 2 : 1;
}

static int run_seed(uint64_t seed, int verbose, bool quiet)
{
    static struct nsim m;
    int n = members_of(seed);
    ns_init(&m, seed, n);
    int arbs = arbitrators_of(seed);
    for (int i = n - arbs; i < n; i++) m.nd[i].arb = true;
    m.verbose = verbose;
    m.net.verbose = verbose > 1 ? verbose : 0; /* --verbose twice: every delivery too */
    m.clients_on = true;
    m.streaming = streaming;
    m.resend = !no_resend;
    m.piece = pieces;
    for (int i = 0; i < n; i++) {
        ns_run(&m, m.net.now + ns_rand(&m) % (300 * SIM_MS));
        ns_start(&m, i, i == 0);
    }
    ns_run(&m, 5 * SIM_SEC);
    char why[200];
    struct undo u[32];
    int nu = 0;
    uint64_t chaos_end = m.net.now + 12 * SIM_SEC;
    bool total = seed % 10 == 7; /* a power loss: every node at once */
    while (!ns_failed(&m) && m.net.now < chaos_end) {
        ns_run(&m, m.net.now + 200 * SIM_MS + ns_rand(&m) % (1300 * SIM_MS));
        undo_all(&m, u, &nu, false);
        if (total && m.net.now > chaos_end - 6 * SIM_SEC) {
            total = false;
            for (int i = 0; i < n; i++)
                if (alive(&m, i)) ns_crash(&m, i);
            for (int i = 0; i < n; i++) m.nd[i].restart_at = m.net.now + SIM_SEC + ns_rand(&m) % (500 * SIM_MS);
            continue;
        }
        fault(&m, u, &nu);
    }
    /* heal everything, let the clients write a little longer, then stop them and settle */
    undo_all(&m, u, &nu, true);
    sim_heal(&m.net);
    for (int i = 0; i < n; i++) {
        if (!alive(&m, i) && !m.nd[i].restart_at) m.nd[i].restart_at = m.net.now + 100 * SIM_MS;
        m.nd[i].fail_seqno = -1;
        if (m.nd[i].desynced) m.nd[i].resync_at = m.net.now;
    }
    ns_run(&m, m.net.now + 2 * SIM_SEC);
    m.clients_on = false;
    uint64_t deadline = m.net.now + 60 * SIM_SEC, noprim_since = m.net.now;
    int bootstraps = 0;
    while (!ns_failed(&m) && !ns_settled(&m, why, sizeof why) && m.net.now < deadline) {
        for (int i = 0; i < n; i++)
            if (!alive(&m, i) && !m.nd[i].restart_at) m.nd[i].restart_at = m.net.now + 100 * SIM_MS;
        ns_run(&m, m.net.now + 100 * SIM_MS);
        /* the operator: a group that lost its primary component for good (members left it or
         * came back under new identities, or every member known to hold the whole state lost
         * it) is bootstrapped from the most advanced node whose data is trusted, as Galera's
         * documentation has it; the safety checks still apply to what follows */
        bool prim = false, up = true;
        int best = -1;
        for (int i = 0; i < n; i++) {
            up &= alive(&m, i);
            if (!alive(&m, i) || m.nd[i].arb) continue;
            struct repl_core_info in;
            repl_core_info(m.nd[i].core, &in);
            if (in.primary) prim = true;
            if (!m.nd[i].corrupt && m.nd[i].applied >= 0 &&
                (best < 0 || m.nd[i].applied > m.nd[best].applied))
                best = i;
        }
        if (prim || !up) noprim_since = m.net.now;
        if (m.net.now - noprim_since > 10 * SIM_SEC && best >= 0) {
            bootstraps++;
            ns_operator_bootstrap(&m, best);
            chk_operator_bootstrap(&m.net);
            noprim_since = m.net.now;
        }
    }
    if (!ns_failed(&m) && !ns_settled(&m, why, sizeof why))
        chk_fail(&m.net, "liveness: 60 s after the faults ended: %s", why);
    if (!ns_failed(&m)) nck_final(&m);
    int failed = ns_failed(&m);
    if (failed) {
        char pc[32] = "";
        if (pieces) snprintf(pc, sizeof pc, " --pieces %zu", pieces);
        printf("seed %" PRIu64 ": FAIL %s\n  replay: build/bin/trireme-nsim --seed %" PRIu64 "%s%s%s%s --verbose\n",
               seed, m.net.fail, seed, arbs ? " --arbitrators" : "", streaming ? " --streaming" : "",
               no_resend ? " --no-resend" : "", pc);
    } else if (!quiet) {
        printf("seed %" PRIu64 ": ok, %d nodes (%d arbitrators), %" PRIu64 " commits acknowledged, %" PRIu64
               " certification failures, %" PRIu64 " injected allocation failures, %" PRIu64 " streams "
               "committed, %" PRIu64 " rollback fragments, last seqno %" PRId64 "%s\n",
               seed, n, arbs, m.acked, m.cert_fail, m.injected, m.sr_commits, m.sr_rollbacks, m.nd[0].applied,
               bootstraps ? ", bootstrapped by the operator" : "");
    }
    tot.acked += m.acked;
    tot.injected += m.injected;
    tot.bootstrapped += bootstraps > 0;
    tot.sr_commits += m.sr_commits;
    tot.sr_rollbacks += m.sr_rollbacks;
    ns_free(&m);
    return failed;
}

int main(int argc, char **argv)
{
    uint64_t seeds = 0, start = 1, one[16];
    int nones = 0;
    bool quiet = false;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--start") && i + 1 < argc) start = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc && nones < 16)
            one[nones++] = strtoull(argv[++i], NULL, 10); /* repeated: each in turn */
        else if (!strcmp(argv[i], "--verbose")) verbose++;
        else if (!strcmp(argv[i], "--quiet")) quiet = true;
        else if (!strcmp(argv[i], "--arbitrators")) with_arbs = true;
        else if (!strcmp(argv[i], "--streaming")) streaming = true;
        else if (!strcmp(argv[i], "--pieces") && i + 1 < argc) {
            pieces = (size_t)strtoul(argv[++i], NULL, 10);
            /* the first piece holds a write-set's header (what a cut action's sender reads to
             * find its waiter), as the gcomm group's pieces of at least 4 KiB do */
            if (pieces && pieces < REPL_FRAG_HDR + CERT_WS_HDR_LEN) {
                fprintf(stderr, "--pieces: at least %d bytes (the piece's and the write-set's headers)\n",
                        REPL_FRAG_HDR + CERT_WS_HDR_LEN);
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--no-resend")) no_resend = true;
        else if (!strcmp(argv[i], "--only-arbitrators")) with_arbs = only_arbs = true;
        else {
            fprintf(stderr, "usage: trireme-nsim [--seeds N [--start S]] [--seed S [--seed S ...] [--verbose]] [--quiet] "
                            "[--arbitrators | --only-arbitrators] [--streaming [--no-resend]] [--pieces N]\n");
            return 2;
        }
    }
    if (!verbose) tr_log_set_sink(quiet_sink);
    if (verbose > 1) tr_log_set_debug(1);
    repl_fsm_fatal = false; /* an illegal state change fails its seed, with the replay command */
    int fails = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < nones; k++) fails += run_seed(one[k], verbose, false);
    uint64_t ran = 0;
    for (uint64_t k = 0; k < seeds; k++) {
        if (only_arbs && !arbitrators_of(start + k)) continue;
        fails += run_seed(start + k, 0, quiet);
        ran++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (seeds)
        printf("%" PRIu64 " seeds from %" PRIu64 "%s: %d failed, %.1f s wall (%" PRIu64
               " commits acknowledged, %" PRIu64 " injected allocation failures, %" PRIu64
               " seeds bootstrapped by the operator, %" PRIu64 " streams committed, %" PRIu64
               " rollback fragments)\n",
               ran, start, only_arbs ? " (those with arbitrators)" : "", fails, secs, tot.acked, tot.injected,
               tot.bootstrapped, tot.sr_commits, tot.sr_rollbacks);
    return fails ? 1 : 0;
}
