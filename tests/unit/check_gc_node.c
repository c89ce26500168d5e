/* tests/unit/check_gc_node: gcomm over its TCP driver (gcomm/gc_tcp.c), nodes in this process on
 * loopback: a member's message reaches the leader's stream on the member's ACK alone; a quiet
 * node's threads sleep; a group of one wakes its consumer through the queue, not by polling; the
 * unsent limit a link's socket gets. */
#include "gcomm/gc_node.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_log.h"

#define NODES 3
#define ROUNDS 15
#define MS 1000000ll

static gc_node *nodes[NODES];
static tr_uuid uuids[NODES];
static atomic_bool stop_drain;
static bool own_hosts; /* start_nodes: node i listens on 127.0.0.(i+1), not all on 127.0.0.1 */
static long long drain_wait; /* a drainer's gc_node_recv timeout (set by start_nodes) */
static atomic_llong got_at[NODES][ROUNDS]; /* when each node delivered message k (0: not yet) */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void quiet(enum tr_log_level l, const char *m)
{
    if (l <= TR_LOG_WARN) fprintf(stderr, "%s\n", m);
}

/* Returns the message's round number, or -1 for views and foreign messages. */
static int note(int node, struct gc_event *ev)
{
    int k = -1;
    if (ev->kind == GC_EV_MSG && ev->len == sizeof k) {
        memcpy(&k, ev->data, sizeof k);
        if (k >= 0 && k < ROUNDS) atomic_store(&got_at[node][k], now_ns());
        else k = -1;
    }
    gc_event_free(ev);
    return k;
}

static void *drain(void *arg)
{
    int i = (int)(intptr_t)arg;
    while (!atomic_load(&stop_drain)) {
        struct gc_event *ev;
        if (gc_node_recv(nodes[i], &ev, drain_wait) == 0) note(i, ev);
    }
    return NULL;
}

/* Also resets what the drainers share: with CK_FORK=no (tests/scripts/valgrind.sh) the tests
 * run one after another in this process, and a stale stop flag or got_at would let one pass. */
static void start_nodes(int base, uint32_t busy_poll_us, long long wait)
{
    atomic_store(&stop_drain, false);
    drain_wait = wait;
    for (int i = 0; i < NODES; i++)
        for (int k = 0; k < ROUNDS; k++) atomic_store(&got_at[i][k], 0);
    for (int i = 0; i < NODES; i++) {
        struct gc_config cfg;
        gc_config_defaults(&cfg);
        /* a slow tick (keepalive/32 = 250 ms) sends the trim ACKs: the commits measured here
         * must not need them */
        cfg.keepalive_ns = 8000 * MS;
        cfg.suspect_ns = 30000 * MS;
        cfg.inactive_ns = 60000 * MS;
        cfg.install_ns = 30000 * MS;
        cfg.wait_prim = false;
        cfg.busy_poll_us = busy_poll_us;
        snprintf(cfg.group, sizeof cfg.group, "ackt");
        snprintf(cfg.name, sizeof cfg.name, "a%d", i);
        int host = own_hosts ? i + 1 : 1;
        snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "tcp://127.0.0.%d:%d", host, base + i);
        snprintf(cfg.base_host, sizeof cfg.base_host, "127.0.0.%d", host);
        if (i > 0) {
            cfg.nseeds = 1;
            snprintf(cfg.seeds[0], GC_ADDR_MAX, "127.0.0.1:%d", base);
        }
        nodes[i] = gc_node_create(&cfg);
        ck_assert_ptr_nonnull(nodes[i]);
        ck_assert_int_eq(gc_node_start(nodes[i]), 0);
        uuids[i] = gc_node_uuid(nodes[i]);
    }
    for (int k = 0; k < 3000; k++) {
        struct gc_stats st;
        gc_node_stats(nodes[0], &st);
        if (st.members == NODES && gc_node_is_primary(nodes[0]) && gc_node_is_primary(nodes[1]) &&
            gc_node_is_primary(nodes[2]))
            return;
        usleep(10000);
    }
    ck_abort_msg("no 3-member primary view within 30 s");
}

/* What the IST receiver checks its donor against: for each peer, the far end of its link
 * and the host it listens on, as loopback addresses of their own show; -1 for a uuid that is
 * no peer (this node's own among them). */
START_TEST(peer_hosts_as_linked)
{
    tr_log_set_sink(quiet);
    own_hosts = true;
    /* below 32768: a port in the kernel's ephemeral range (32768-60999 by default) can be the local
     * end of some other loopback connection, and the bind fails (EADDRINUSE) */
    start_nodes(11000 + (int)(getpid() % 9000), 0, 20 * MS);
    own_hosts = false;
    char hosts[4][GC_HOST_MAX];
    for (int i = 0; i < NODES; i++) {
        for (int p = 0; p < NODES; p++) {
            int k = gc_node_peer_hosts(nodes[i], &uuids[p], hosts, 4);
            if (p == i) {
                ck_assert_int_eq(k, -1);
                continue;
            }
            ck_assert_msg(k >= 1 && k <= 2, "node %d about %d: %d hosts", i, p, k);
            char want[32];
            snprintf(want, sizeof want, "127.0.0.%d", p + 1);
            bool listed = false;
            for (int x = 0; x < k; x++) {
                ck_assert_msg(!strncmp(hosts[x], "127.0.0.", 8), "node %d about %d: %s", i, p, hosts[x]);
                listed |= !strcmp(hosts[x], want);
            }
            ck_assert_msg(listed, "node %d about %d: %s not among its hosts", i, p, want);
        }
    }
    tr_uuid stranger = tr_uuid_nil;
    stranger.data[0] = 0x5a;
    ck_assert_int_eq(gc_node_peer_hosts(nodes[0], &stranger, hosts, 4), -1);
    for (int i = 0; i < NODES; i++) gc_node_stop(nodes[i]);
    for (int i = 0; i < NODES; i++) gc_node_destroy(nodes[i]);
}
END_TEST

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* A member's message is committed at the leader by that member's ACK alone: the third member's
 * ACK of it is a trim ACK, sent at ticks (keepalive/32, 250 ms here). The leader must deliver it
 * well before a tick would, whether the member sends again at once, receives again, or does
 * neither for a while (then its I/O thread polls). Run with the default busy poll and without
 * (_i: trireme.busy_poll_us 50, then 0), since a consumer's poll round differs by it. */
START_TEST(member_message_reaches_leader)
{
    tr_log_set_sink(quiet);
    start_nodes(22000 + (int)(getpid() % 9000) + 10 * _i, _i ? 0 : 50, 20 * MS);
    int L = 0;
    for (int i = 1; i < NODES; i++)
        if (tr_uuid_compare(&uuids[i], &uuids[L]) < 0) L = i;
    int M = (L + 1) % NODES;
    pthread_t th[NODES];
    for (int i = 0; i < NODES; i++)
        if (i != M) pthread_create(&th[i], NULL, drain, (void *)(intptr_t)i);
    long long own_at[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        ck_assert_int_eq(gc_node_broadcast(nodes[M], &k, sizeof k), 0);
        int got = -1;
        while (got != k) {
            struct gc_event *ev;
            int rc = gc_node_recv(nodes[M], &ev, 5000 * MS);
            ck_assert_msg(rc == 0, "member: message %d not delivered back (%d)", k, rc);
            got = note(M, ev);
        }
        own_at[k] = now_ns();
        if (k % 3 == 0) usleep(100000); /* away: the I/O thread polls in its place */
        if (k % 3 == 2) {               /* back to receiving: nothing comes */
            struct gc_event *ev;
            if (gc_node_recv(nodes[M], &ev, 100 * MS) == 0) note(M, ev);
        }
    }
    usleep(600000);
    atomic_store(&stop_drain, true);
    for (int i = 0; i < NODES; i++)
        if (i != M) pthread_join(th[i], NULL);
    long long lag[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        for (int i = 0; i < NODES; i++) ck_assert_msg(atomic_load(&got_at[i][k]), "node %d lacks message %d", i, k);
        lag[k] = atomic_load(&got_at[L][k]) - own_at[k];
    }
    qsort(lag, ROUNDS, sizeof lag[0], cmp_ll);
    fprintf(stderr, "the leader delivered a member's message %.2f ms after the member (median of %d), %.2f at most\n",
            (double)lag[ROUNDS / 2] / 1e6, ROUNDS, (double)lag[ROUNDS - 1] / 1e6);
    ck_assert_msg(lag[ROUNDS / 2] < 50 * MS, "median lag %.1f ms: the leader waited for a trim ACK",
                  (double)lag[ROUNDS / 2] / 1e6);
    for (int i = 0; i < NODES; i++) gc_node_stop(nodes[i]);
    for (int i = 0; i < NODES; i++) gc_node_destroy(nodes[i]);
}
END_TEST

/* Three quiet nodes, each with a consumer waiting in gc_node_recv: nothing but ticks and
 * heartbeats (keepalive 8 s here: 4 ticks and 1 heartbeat a second) should wake a thread. The
 * I/O thread that looked every POLL_GRACE whether the consumer had come back made about 1500
 * context switches a second here (an idle MariaDB node used 1 % of a CPU on it). */
START_TEST(quiet_node_sleeps)
{
    tr_log_set_sink(quiet);
    start_nodes(22000 + (int)((getpid() + 4500) % 9000), 50, 2000 * MS);
    pthread_t th[NODES];
    for (int i = 0; i < NODES; i++) pthread_create(&th[i], NULL, drain, (void *)(intptr_t)i);
    usleep(500000); /* views delivered, handshakes done */
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    usleep(1000000);
    getrusage(RUSAGE_SELF, &b);
    long sw = (b.ru_nvcsw - a.ru_nvcsw) + (b.ru_nivcsw - a.ru_nivcsw);
    fprintf(stderr, "three quiet nodes: %ld context switches in 1 s\n", sw);
    ck_assert_msg(sw < 300, "%ld context switches in a quiet second: a thread polls on a timer", sw);
    atomic_store(&stop_drain, true);
    for (int i = 0; i < NODES; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NODES; i++) gc_node_stop(nodes[i]);
    for (int i = 0; i < NODES; i++) gc_node_destroy(nodes[i]);
}
END_TEST

/* A consumer of a group of one, counting its messages; tid says where to look in /proc. */
struct solo {
    gc_node *n;
    atomic_int tid, got;
    atomic_llong cpu_ns; /* the consumer thread's CPU time when it ended */
};

static void *solo_drain(void *arg)
{
    struct solo *c = arg;
    atomic_store(&c->tid, (int)syscall(SYS_gettid));
    struct gc_event *ev;
    while (gc_node_recv(c->n, &ev, -1) == 0) {
        if (ev->kind == GC_EV_MSG) atomic_fetch_add(&c->got, 1);
        gc_event_free(ev);
    }
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    atomic_store(&c->cpu_ns, (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
    return NULL;
}

/* The system call the thread sleeps in: its number, or -1 while it runs (or cannot be read). */
static long blocked_in(int tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long nr = -1;
    if (fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9') nr = strtol(buf, NULL, 10);
    fclose(f);
    return nr;
}

static bool is_epoll(long nr)
{
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait) return true;
#endif
    return nr == SYS_epoll_pwait;
}

static gc_node *solo_node(int port, const char *name, int seed_port)
{
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    cfg.wait_prim = false;
    cfg.busy_poll_us = 50; /* the default: a polling consumer would spin between messages */
    snprintf(cfg.group, sizeof cfg.group, "solo");
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "tcp://127.0.0.1:%d", port);
    snprintf(cfg.base_host, sizeof cfg.base_host, "127.0.0.1");
    if (seed_port) {
        cfg.nseeds = 1;
        snprintf(cfg.seeds[0], GC_ADDR_MAX, "127.0.0.1:%d", seed_port);
    }
    gc_node *n = gc_node_create(&cfg);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(gc_node_start(n), 0);
    return n;
}

/* Broadcasts k messages one at a time, each after the last was delivered; true if all were. */
static bool round_trips(gc_node *n, struct solo *c, int k)
{
    for (int i = 0; i < k; i++) {
        int want = atomic_load(&c->got) + 1;
        if (gc_node_broadcast(n, &i, sizeof i)) return false;
        long long until = now_ns() + 5000 * MS;
        while (atomic_load(&c->got) < want) {
            if (now_ns() > until) return false;
            usleep(20);
        }
    }
    return true;
}

/* In a group of one nothing comes from a socket: every delivery is the node's own broadcast,
 * made on the broadcasting thread. The consumer sleeps on the queue, which that delivery
 * signals, instead of holding the poll role, where each write-set cost it an eventfd wake-up,
 * an epoll round and up to busy_poll_us of spinning (one-node MariaDB spent about 5 % of its CPU
 * there, docs/benchmarks.md). Once a peer links, the consumer polls again. */
START_TEST(group_of_one_sleeps_on_queue)
{
    tr_log_set_sink(quiet);
    int base = 23000 + (int)((getpid() + 1700) % 9000);
    struct solo c0 = {.n = solo_node(base, "s0", 0)}, c1 = {0};
    for (int k = 0; k < 3000 && !gc_node_is_primary(c0.n); k++) usleep(10000);
    ck_assert_msg(gc_node_is_primary(c0.n), "a node without seeds formed no primary group of one");
    pthread_t th0, th1;
    pthread_create(&th0, NULL, solo_drain, &c0);
    ck_assert_msg(round_trips(c0.n, &c0, 500), "a group of one did not deliver its own message within 5 s");
    int tid = atomic_load(&c0.tid);
    int in_futex = 0, in_epoll = 0;
    for (int k = 0; k < 20; k++) { /* quiet now: only the I/O thread's ticks */
        usleep(10000);
        long nr = blocked_in(tid);
        in_futex += nr == SYS_futex;
        in_epoll += is_epoll(nr);
    }
    ck_assert_msg(in_epoll == 0 && in_futex > 0,
                  "the consumer of a group of one sleeps in epoll_wait %d times of 20, in a futex %d: it polls "
                  "sockets that cannot deliver anything", in_epoll, in_futex);
    /* a peer links: its replies come on a socket, which the consumer polls itself again */
    c1.n = solo_node(base + 1, "s1", base);
    pthread_create(&th1, NULL, solo_drain, &c1);
    struct gc_stats st = {0};
    for (int k = 0; k < 3000; k++) {
        gc_node_stats(c0.n, &st);
        if (st.members == 2 && gc_node_is_primary(c0.n) && gc_node_is_primary(c1.n)) break;
        usleep(10000);
    }
    ck_assert_msg(st.members == 2, "no 2-member view within 30 s");
    ck_assert_msg(round_trips(c0.n, &c0, 50), "two members: a message was not delivered within 5 s");
    in_epoll = 0;
    for (int k = 0; k < 100 && !in_epoll; k++) {
        usleep(10000);
        in_epoll += is_epoll(blocked_in(tid));
    }
    ck_assert_msg(in_epoll, "with a peer linked the consumer never polled its sockets in 1 s");
    gc_node_stop(c1.n);
    gc_node_stop(c0.n);
    pthread_join(th0, NULL);
    pthread_join(th1, NULL);
    fprintf(stderr, "group of one: the consumer used %.1f ms of CPU for 550 messages\n",
            (double)atomic_load(&c0.cpu_ns) / 1e6);
    gc_node_destroy(c1.n);
    gc_node_destroy(c0.n);
}
END_TEST

/* The unsent limit of a link: about 20 ms of what it sends per round trip, 16-256 KiB. The
 * fixed 256 KiB it replaces held an echo 2-4 round trips at 100 ms RTT with the congestion
 * window of 18-70 segments measured there, and a node lost its 500 ms lease. */
START_TEST(unsent_limit_fits_the_link)
{
    const uint32_t mss = 1448;
    ck_assert_int_eq(gc_tcp_lowat(10, mss, 0), 16384);        /* no round trip measured yet */
    ck_assert_int_eq(gc_tcp_lowat(10, 65483, 30), 256 * 1024); /* loopback: the most */
    ck_assert_int_eq(gc_tcp_lowat(100, mss, 200), 256 * 1024); /* a LAN */
    ck_assert_int_eq(gc_tcp_lowat(18, mss, 100000), 16384);    /* 100 ms RTT, slow start */
    ck_assert_int_eq(gc_tcp_lowat(70, mss, 100000), 70 * mss / 5);
    ck_assert_int_eq(gc_tcp_lowat(5000, mss, 100000), 256 * 1024);
    /* never more than 20 ms of the link's sending unless at the floor */
    for (uint32_t cwnd = 1; cwnd < 20000; cwnd = cwnd * 3 / 2 + 1)
        for (uint32_t rtt = 10; rtt < 2000000; rtt *= 3) {
            int l = gc_tcp_lowat(cwnd, mss, rtt);
            ck_assert_int_ge(l, 16384);
            ck_assert_int_le(l, 256 * 1024);
            double ms = (double)l * rtt / ((double)cwnd * mss) / 1000;
            ck_assert_msg(l == 16384 || ms <= 20.01, "cwnd %u rtt %u us: %d bytes take %.1f ms", cwnd, rtt, l, ms);
        }
}
END_TEST

static Suite *gc_node_suite(void)
{
    Suite *s = suite_create("gc_node");
    TCase *t = tcase_create("tcp");
    tcase_set_timeout(t, 90);
    tcase_add_loop_test(t, member_message_reaches_leader, 0, 2);
    tcase_add_test(t, quiet_node_sleeps);
    tcase_add_test(t, peer_hosts_as_linked);
    tcase_add_test(t, group_of_one_sleeps_on_queue);
    tcase_add_test(t, unsent_limit_fits_the_link);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gc_node_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
