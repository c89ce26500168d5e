/* tools/trireme-gcomm-node/bench_main: gcomm benchmark: 3 nodes in one process over loopback TCP.
 * Measures ordered-delivery latency (p50/p99) under light load and windowed throughput per size. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "gcomm/gc_node.h"

#define NODES 3

static gc_node *nodes[NODES];
static tr_uuid uuids[NODES];
static atomic_int stop_drain;
static atomic_int direct[NODES], parked[NODES]; /* direct: the latency thread reads that node's stream */
static atomic_uint_fast64_t own_delivered[NODES]; /* own messages delivered back to each sender */
static atomic_uint_fast64_t bytes_at0, msgs_at0;
static int64_t first_seqno[NODES];
static atomic_int ready, views_after_ready; /* views delivered once the 3-member view formed */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int log_max = TR_LOG_WARN; /* BENCH_DEBUG=1 shows gcomm's view-change reasons */

static void quiet(enum tr_log_level l, const char *m)
{
    if ((int)l <= log_max) fprintf(stderr, "%.6f %s\n", (double)now_ns() / 1e9, m);
}

static void *drain(void *arg)
{
    int i = (int)(intptr_t)arg;
    while (!atomic_load(&stop_drain)) {
        if (atomic_load(&direct[i])) {
            atomic_store(&parked[i], 1);
            usleep(1000);
            continue;
        }
        atomic_store(&parked[i], 0);
        struct gc_event *ev;
        if (gc_node_recv(nodes[i], &ev, 50000000) != 0) continue;
        if (ev->kind == GC_EV_VIEW && atomic_load(&ready)) atomic_fetch_add(&views_after_ready, 1);
        if (ev->kind == GC_EV_MSG) {
            if (!tr_uuid_compare(&ev->sender, &uuids[i])) atomic_fetch_add(&own_delivered[i], 1);
            if (i == 0) {
                atomic_fetch_add(&bytes_at0, ev->len);
                atomic_fetch_add(&msgs_at0, 1);
            }
            if (first_seqno[i] < 0) first_seqno[i] = ev->seqno;
        }
        gc_event_free(ev);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One message at a time from node `from`, timed until the sending thread reads it back from its
 * node's ordered stream (as the replicator's receive thread would). A message dropped by a view
 * change is counted as lost after 2 s. */
static void latency(int from, size_t size, int count, double *p50, double *p99, int *lost)
{
    uint8_t *buf = calloc(1, size);
    uint64_t *lat = calloc((size_t)count, sizeof *lat);
    atomic_store(&direct[from], 1);
    while (!atomic_load(&parked[from])) usleep(100);
    int k = 0;
    *lost = 0;
    while (k < count && *lost < 10) {
        uint64_t t0 = now_ns();
        while (gc_node_broadcast(nodes[from], buf, size) != 0) usleep(1000);
        bool got = false;
        while (!got) {
            struct gc_event *ev;
            int rc = gc_node_recv(nodes[from], &ev, 2000000000);
            if (rc) break;
            if (ev->kind == GC_EV_VIEW) atomic_fetch_add(&views_after_ready, 1);
            got = ev->kind == GC_EV_MSG && !tr_uuid_compare(&ev->sender, &uuids[from]);
            gc_event_free(ev);
        }
        if (!got) { ++*lost; continue; }
        lat[k++] = now_ns() - t0;
        if (k % 16 == 0) usleep(200); /* light load: let the links go idle now and then */
    }
    atomic_store(&direct[from], 0);
    if (!k) k = 1;
    qsort(lat, (size_t)k, sizeof *lat, cmp_u64);
    *p50 = (double)lat[k / 2] / 1000.0;
    *p99 = (double)lat[k * 99 / 100] / 1000.0;
    free(lat);
    free(buf);
}

struct tput_arg {
    int node;
    size_t size;
    uint64_t window, until;
};

static void *tput_sender(void *a)
{
    struct tput_arg *t = a;
    uint8_t *buf = calloc(1, t->size);
    uint64_t sent = 0, base = atomic_load(&own_delivered[t->node]);
    while (now_ns() < t->until) {
        if (sent - (atomic_load(&own_delivered[t->node]) - base) >= t->window) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (gc_node_broadcast(nodes[t->node], buf, t->size) == 0) sent++;
    }
    free(buf);
    return NULL;
}

/* CPU time of the whole process (all nodes, user + system), in seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* *cpu: the process's CPU seconds per delivered MB, which other load on the machine moves less
 * than the throughput itself (a run that waits for the CPU uses none meanwhile). */
static void throughput(size_t size, double secs, double *mbps, double *msgps, double *cpu)
{
    pthread_t th[NODES];
    struct tput_arg args[NODES];
    uint64_t win = size >= 65536 ? 32 : 256;
    uint64_t t_start = now_ns() + 200000000ull, t_end = t_start + (uint64_t)(secs * 1e9);
    for (int i = 0; i < NODES; i++) {
        args[i] = (struct tput_arg){i, size, win, t_end};
        pthread_create(&th[i], NULL, tput_sender, &args[i]);
    }
    while (now_ns() < t_start) usleep(1000);
    uint64_t b0 = atomic_load(&bytes_at0), m0 = atomic_load(&msgs_at0);
    double c0 = cpu_s();
    while (now_ns() < t_end) usleep(1000);
    uint64_t b1 = atomic_load(&bytes_at0), m1 = atomic_load(&msgs_at0);
    double c1 = cpu_s();
    *cpu = b1 > b0 ? (c1 - c0) / ((double)(b1 - b0) / 1e6) : 0;
    for (int i = 0; i < NODES; i++) pthread_join(th[i], NULL);
    *mbps = (double)(b1 - b0) / secs / 1e6;
    *msgps = (double)(m1 - m0) / secs;
    usleep(300000); /* let the window drain */
}

/* Loopback TCP round trip for `size` bytes each way: the floor any protocol pays. */
static double tcp_rtt_us(size_t size, int count)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(ls, (struct sockaddr *)&sa, sizeof sa);
    listen(ls, 1);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa)) return -1;
    int s = accept(ls, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *buf = calloc(1, size);
    uint64_t *lat = calloc((size_t)count, sizeof *lat);
    for (int k = 0; k < count; k++) {
        uint64_t t0 = now_ns();
        if (write(c, buf, size) != (ssize_t)size) break;
        size_t got = 0;
        while (got < size) got += (size_t)read(s, buf, size - got);
        if (write(s, buf, size) != (ssize_t)size) break;
        got = 0;
        while (got < size) got += (size_t)read(c, buf, size - got);
        lat[k] = now_ns() - t0;
    }
    qsort(lat, (size_t)count, sizeof *lat, cmp_u64);
    double r = (double)lat[count / 2] / 1000.0;
    close(c);
    close(s);
    close(ls);
    free(buf);
    free(lat);
    return r;
}

/* The same round trip between two threads that each sleep in epoll_wait until their socket is
 * readable, as two nodes' I/O threads do: the floor plus two wake-ups. */
struct echo_arg {
    int fd, count, cpu;
    size_t size;
};

/* cpu < 0: leave the thread where the scheduler puts it */
static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0) {
        for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    } else {
        CPU_SET(cpu, &set);
    }
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int epoll_for(int fd)
{
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    return ep;
}

static void wait_read(int ep, int fd, uint8_t *buf, size_t size)
{
    struct epoll_event e;
    size_t got = 0;
    while (got < size) {
        epoll_wait(ep, &e, 1, 1000);
        ssize_t r = recv(fd, buf + got, size - got, MSG_DONTWAIT);
        if (r > 0) got += (size_t)r;
        else if (r == 0) break;
    }
}

static void *echo_main(void *a)
{
    struct echo_arg *e = a;
    pin(e->cpu);
    uint8_t *buf = calloc(1, e->size);
    int ep = epoll_for(e->fd);
    for (int k = 0; k < e->count; k++) {
        wait_read(ep, e->fd, buf, e->size);
        if (write(e->fd, buf, e->size) != (ssize_t)e->size) break;
    }
    close(ep);
    free(buf);
    return NULL;
}

static double thread_rtt_us(size_t size, int count, int cpu_a, int cpu_b)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(ls, (struct sockaddr *)&sa, sizeof sa);
    listen(ls, 1);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa)) return -1;
    int s = accept(ls, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct echo_arg ea = {s, count, cpu_b, size};
    pthread_t th;
    pin(cpu_a);
    pthread_create(&th, NULL, echo_main, &ea);
    uint8_t *buf = calloc(1, size);
    uint64_t *lat = calloc((size_t)count, sizeof *lat);
    int ep = epoll_for(c);
    for (int k = 0; k < count; k++) {
        uint64_t t0 = now_ns();
        if (write(c, buf, size) != (ssize_t)size) break;
        wait_read(ep, c, buf, size);
        lat[k] = now_ns() - t0;
    }
    pthread_join(th, NULL);
    pin(-1);
    close(ep);
    qsort(lat, (size_t)count, sizeof *lat, cmp_u64);
    double r = (double)lat[count / 2] / 1000.0;
    close(c);
    close(s);
    close(ls);
    free(buf);
    free(lat);
    return r;
}

int main(int argc, char **argv)
{
    int base = argc > 1 ? atoi(argv[1]) : 25800;
    double secs = argc > 2 ? atof(argv[2]) : 5.0; /* 0: latency only */
    if (getenv("BENCH_DEBUG")) { /* "info": views and lost leases only */
        bool info = !strcmp(getenv("BENCH_DEBUG"), "info");
        log_max = info ? TR_LOG_INFO : TR_LOG_DEBUG;
        if (!info) tr_log_set_debug(1);
    }
    tr_log_set_sink(quiet);
    /* Floors, measured before the nodes start so that nothing else runs: the round trip in one
     * thread (no wake-ups), and between two threads that sleep in epoll_wait, as one hop to a
     * node and one back cost at the least: pinned to one CPU (a wake-up is a context switch)
     * and to two (a wake-up is an interrupt to an idle CPU, much dearer on a VM). Unpinned
     * runs land on either, so the bench prints all three. */
    double rtt1 = tcp_rtt_us(1024, 5000);
    double rtt_same = thread_rtt_us(1024, 5000, 0, 0);
    double rtt_apart = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? thread_rtt_us(1024, 5000, 0, 1) : rtt_same;
    double rtt_free = thread_rtt_us(1024, 5000, -1, -1);
    for (int i = 0; i < NODES; i++) {
        struct gc_config cfg;
        gc_config_defaults(&cfg);
        cfg.wait_prim = false;
        /* BENCH_KEEPALIVE_MS: evs.keepalive_period (the lease is half of it), for shaped links */
        long long ka_ms = getenv("BENCH_KEEPALIVE_MS") ? atoll(getenv("BENCH_KEEPALIVE_MS")) : 0;
        if (ka_ms > 0) cfg.keepalive_ns = (uint64_t)ka_ms * 1000000ull;
        /* BENCH_RETAIN_LIMIT: trireme.retain_limit in bytes (0: none) */
        if (getenv("BENCH_RETAIN_LIMIT")) cfg.retain_limit = strtoull(getenv("BENCH_RETAIN_LIMIT"), NULL, 10);
        /* BENCH_BUSY_POLL_US: trireme.busy_poll_us (0: consumers sleep at once) */
        if (getenv("BENCH_BUSY_POLL_US")) cfg.busy_poll_us = (uint32_t)strtoul(getenv("BENCH_BUSY_POLL_US"), NULL, 10);
        /* BENCH_TLS_DIR: TLS on every link, with DIR/ca.pem and DIR/n<i>.pem, .key
         * (tests/scripts/make-pki.sh DIR n0 n1 n2) */
        const char *tls = getenv("BENCH_TLS_DIR");
        if (tls && *tls) {
            cfg.tls.enabled = true;
            snprintf(cfg.tls.cert, sizeof cfg.tls.cert, "%.400s/n%d.pem", tls, i);
            snprintf(cfg.tls.key, sizeof cfg.tls.key, "%.400s/n%d.key", tls, i);
            snprintf(cfg.tls.ca, sizeof cfg.tls.ca, "%.400s/ca.pem", tls);
        }
        snprintf(cfg.group, sizeof cfg.group, "bench");
        snprintf(cfg.name, sizeof cfg.name, "b%d", i);
        snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "tcp://127.0.0.1:%d", base + i);
        if (i > 0) {
            cfg.nseeds = 1;
            snprintf(cfg.seeds[0], GC_ADDR_MAX, "127.0.0.1:%d", base);
        }
        nodes[i] = gc_node_create(&cfg);
        first_seqno[i] = -1;
        if (!nodes[i] || gc_node_start(nodes[i])) {
            fprintf(stderr, "cannot start node %d (port %d busy?)\n", i, base + i);
            return 1;
        }
        uuids[i] = gc_node_uuid(nodes[i]);
        if (i == 0) usleep(200000);
    }
    pthread_t dr[NODES];
    for (int i = 0; i < NODES; i++) pthread_create(&dr[i], NULL, drain, (void *)(intptr_t)i);
    for (int k = 0; k < 500; k++) {
        struct gc_stats st;
        gc_node_stats(nodes[0], &st);
        if (st.members == NODES && gc_node_is_primary(nodes[1]) && gc_node_is_primary(nodes[2])) break;
        usleep(10000);
    }
    /* the initial views are queued by now; any later one is a view change during the runs */
    usleep(100000);
    atomic_store(&ready, 1);
    /* the leader is the lowest uuid; measure from a member that is not the leader */
    int leader = 0;
    for (int i = 1; i < NODES; i++)
        if (tr_uuid_compare(&uuids[i], &uuids[leader]) < 0) leader = i;
    int member = (leader + 1) % NODES;
    printf("trireme gcomm benchmark: %d nodes, one process, loopback TCP, default options\n", NODES);
    printf("loopback TCP round trip (1 KB each way, p50): %.1f us\n", rtt1);
    printf("the same between two threads sleeping in epoll_wait (p50): %.1f us on one CPU, %.1f us on two, "
           "%.1f us unpinned\n", rtt_same, rtt_apart, rtt_free);
    size_t sizes[] = {100, 1024, 65536};
    size_t only = argc > 3 ? (size_t)atol(argv[3]) : 0; /* for profiling: one size only */
    /* BENCH_LAT_COUNT: fewer latency samples, for tests on slow (shaped) links */
    int lat_count = getenv("BENCH_LAT_COUNT") ? atoi(getenv("BENCH_LAT_COUNT")) : 2000;
    if (lat_count < 1) lat_count = 1;
    for (int s = 0; s < 3; s++) {
        if (only && sizes[s] != only) continue;
        double p50m, p99m, p50l, p99l, mbps, mps, cpu;
        int lostm, lostl;
        latency(member, sizes[s], lat_count, &p50m, &p99m, &lostm);
        latency(leader, sizes[s], lat_count, &p50l, &p99l, &lostl);
        mbps = mps = cpu = 0;
        if (secs > 0) throughput(sizes[s], secs, &mbps, &mps, &cpu);
        printf("%6zu B: latency from a member p50 %.1f us p99 %.1f us; from the leader p50 %.1f us p99 %.1f us; "
               "throughput (3 senders) %.1f MB/s, %.0f msg/s, %.2f ms CPU per MB\n",
               sizes[s], p50m, p99m, p50l, p99l, mbps, mps, cpu * 1e3);
        if (lostm || lostl) printf("        %d messages lost to view changes during the latency runs\n", lostm + lostl);
        fflush(stdout);
    }
    for (int i = 0; i < NODES; i++) {
        struct gc_stats st;
        gc_node_stats(nodes[i], &st);
        printf("node %d: %" PRIu64 " views delivered, %" PRIu64 " view changes started\n", i, st.views,
               st.view_changes_started);
    }
    int changes = atomic_load(&views_after_ready);
    if (changes) printf("%d views delivered during the runs: the group did not stay stable\n", changes);
    atomic_store(&stop_drain, 1);
    for (int i = 0; i < NODES; i++) pthread_join(dr[i], NULL);
    for (int i = 0; i < NODES; i++) gc_node_destroy(nodes[i]);
    /* BENCH_EXPECT_STABLE: the test that saturated links never cost the view (exit 2 if they did) */
    return changes && getenv("BENCH_EXPECT_STABLE") ? 2 : 0;
}
