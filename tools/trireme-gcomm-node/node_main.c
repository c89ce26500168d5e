/* tools/trireme-gcomm-node/node_main: one gcomm node over TCP, for process tests and demos.
 * Prints every view and delivered message on stdout, one line each; optional broadcast load. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/tr_crc32c.h"
#include "common/tr_log.h"
#include "common/tr_time.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_node.h"
#include "gcomm/gc_wire.h"
#include "tools/trireme-gcomm-node/node_opts.h"

static atomic_int stop_req;
static atomic_int isolate_flips; /* SIGUSR1s not yet applied */
static atomic_int reload_req;    /* SIGHUP: socket.ssl_reload */
static atomic_int clear_req;     /* SIGUSR2: evs.evict with an empty value */
static gc_node *node;
static double rate;
static size_t msg_size = 200;

static void on_signal(int sig) { (void)sig; atomic_store(&stop_req, 1); }
static void on_usr1(int sig) { (void)sig; atomic_fetch_add(&isolate_flips, 1); }
static void on_hup(int sig) { (void)sig; atomic_store(&reload_req, 1); }
static void on_usr2(int sig) { (void)sig; atomic_store(&clear_req, 1); }
static double now_ms(void);

/* 'EVICTLIST gen uuid,...' when the evict list changes, 'EVICTED ms' once this node is evicted */
static void report_evict(gc_evict_list *last, bool *was_evicted)
{
    if (atomic_exchange(&clear_req, 0)) {
        gc_node_evict(node, NULL);
        printf("EVICT_CLEAR %.3f\n", now_ms());
    }
    gc_evict_list e;
    gc_node_evict_list(node, &e);
    if (e.gen != last->gen || e.n != last->n || memcmp(e.u, last->u, e.n * sizeof e.u[0])) {
        char line[GC_EVICT_MAX * (TR_UUID_STR_LEN + 1) + 1] = "-";
        size_t w = 0;
        for (int i = 0; i < e.n; i++) {
            if (w) line[w++] = ',';
            tr_uuid_print(&e.u[i], line + w);
            w += TR_UUID_STR_LEN;
        }
        printf("EVICTLIST %llu %s %.3f\n", (unsigned long long)e.gen, line, now_ms());
        *last = e;
    }
    bool ev = gc_node_evicted(node);
    if (ev && !*was_evicted) printf("EVICTED %.3f\n", now_ms());
    *was_evicted = ev;
}

/* Wall-clock milliseconds, so that lines of different processes on one host compare. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Applies SIGUSR1 (gmcast.isolate on, then off, ...) and reports when the node starts and stops
 * calling itself primary, every 2 ms: the process tests time availability by these lines. */
static void *watcher(void *arg)
{
    (void)arg;
    bool isolated = false, evicted = false;
    gc_evict_list evl;
    memset(&evl, 0, sizeof evl);
    int prim = -1;
    while (!atomic_load(&stop_req)) {
        report_evict(&evl, &evicted);
        for (; atomic_load(&isolate_flips) > 0; atomic_fetch_sub(&isolate_flips, 1)) {
            isolated = !isolated;
            gc_node_set_isolate(node, isolated);
            printf("ISOLATE %d %.3f\n", isolated, now_ms());
        }
        if (atomic_exchange(&reload_req, 0)) {
            char err[512] = "";
            int rc = gc_node_tls_reload(node, err, sizeof err);
            printf("RELOAD %d %.3f %s\n", rc == 0, now_ms(), err);
        }
        int p = gc_node_is_primary(node);
        if (p != prim) printf("PRIMARY %d %.3f\n", p, now_ms());
        prim = p;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *sender(void *arg)
{
    (void)arg;
    uint8_t *buf = malloc(msg_size + 16);
    if (!buf) return NULL;
    uint64_t k = 0;
    pid_t pid = getpid();
    while (!atomic_load(&stop_req)) {
        struct timespec ts = {0, (long)(1e9 / rate)};
        nanosleep(&ts, NULL);
        struct gc_stats st;
        gc_node_stats(node, &st);
        if (st.pending >= 64) continue; /* as an application with 64 clients waiting: no backlog */
        snprintf((char *)buf, msg_size + 16, "%d:%" PRIu64 ":", (int)pid, ++k);
        for (size_t i = strlen((char *)buf); i < msg_size; i++) buf[i] = (uint8_t)('a' + (i + k) % 26);
        gc_node_broadcast(node, buf, msg_size);
    }
    free(buf);
    return NULL;
}

/* --probe: a bad peer for the process tests. Connects to addr, sends one frame and reports
 * whether the node hung up within 3 s (exit 0) or not (exit 1). "version:N": a HELLO that is
 * valid but for its protocol version; "truncated": a frame header promising more than follows. */
static int probe(const char *addr, const char *what, const char *group)
{
    char host[GC_ADDR_MAX];
    uint16_t port;
    char ps[8];
    if (gc_addr_split(addr, host, sizeof host, &port)) return 2;
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) || !res) return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc) { perror("probe: connect"); return 2; }
    uint8_t hdr[GC_FRAME_HDR];
    if (!strncmp(what, "version:", 8)) {
        gc_msg m;
        memset(&m, 0, sizeof m);
        m.type = GC_MSG_HELLO;
        m.u.hello.version = (uint16_t)atoi(what + 8);
        snprintf(m.u.hello.group, sizeof m.u.hello.group, "%s", group);
        m.u.hello.uuid.data[0] = 0xee;
        m.u.hello.inc = 1;
        snprintf(m.u.hello.name, sizeof m.u.hello.name, "probe");
        gc_wbuf w;
        gc_w_init(&w);
        gc_msg_encode(&w, &m);
        bool sent = !w.oom;
        if (sent) gc_frame_header(hdr, w.p, w.len);
        sent = sent && write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr && write(fd, w.p, w.len) == (ssize_t)w.len;
        gc_w_free(&w);
        if (!sent) return 2;
    } else if (!strcmp(what, "truncated")) {
        uint8_t body[1000] = {0};
        gc_frame_header(hdr, body, sizeof body);
        if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr || write(fd, body, 10) != 10) return 2;
        shutdown(fd, SHUT_WR); /* the node must drop the half frame and say so */
    } else {
        return 2;
    }
    if (!strcmp(what, "truncated")) { /* read what the node sent (its HELLO), or closing resets */
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        char b[4096];
        while (poll(&pf, 1, 3000) > 0 && read(fd, b, sizeof b) > 0) {}
        close(fd);
        return 0;
    }
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    char b[4096];
    for (int waited = 0; waited < 3000;) {
        if (poll(&pf, 1, 100) > 0) {
            ssize_t r = read(fd, b, sizeof b);
            if (r <= 0) { printf("probe: disconnected\n"); close(fd); return 0; }
        }
        waited += 100;
    }
    printf("probe: still connected after 3 s\n");
    close(fd);
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: trireme-gcomm-node --listen tcp://127.0.0.1:PORT --address gcomm://h:p,... [--name N]\n"
            "       [--group G] [--data-dir D] [--rate MSGS_PER_S] [--size BYTES] [--opt key=value]...\n"
            "       [--debug]\n"
            "       trireme-gcomm-node --probe version:N|truncated --address gcomm://h:p [--group G]\n"
            "Prints 'VIEW epoch PRIM|NONPRIM members own_index continuous ms leader',\n"
            "'MSG history seqno sender crc32c ms', 'PRIMARY 0|1 ms' and 'ISOLATE 0|1 ms' lines (ms: wall\n"
            "clock; sender and leader: the last 8 digits of their uuid). SIGTERM/SIGINT: graceful leave and\n"
            "exit. SIGUSR1: gmcast.isolate on, then off. SIGHUP: socket.ssl_reload ('RELOAD 1|0 ms error').\n"
            "SIGUSR2: evs.evict with an empty value ('EVICT_CLEAR ms'). 'EVICTLIST gen uuid,...|- ms' when the\n"
            "evict list changes, 'EVICTED ms' when this node is evicted.\n");
}

int main(int argc, char **argv)
{
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    cfg.wait_prim = false;
    snprintf(cfg.group, sizeof cfg.group, "trireme");
    static struct option lo[] = {{"listen", 1, 0, 'l'}, {"address", 1, 0, 'a'}, {"name", 1, 0, 'n'},
                                 {"group", 1, 0, 'g'},  {"data-dir", 1, 0, 'd'}, {"rate", 1, 0, 'r'},
                                 {"size", 1, 0, 's'},   {"opt", 1, 0, 'o'},      {"debug", 0, 0, 'D'},
                                 {"probe", 1, 0, 'P'},  {0, 0, 0, 0}};
    const char *probe_what = NULL;
    bool have_addr = false;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'l': snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "%s", optarg); break;
        case 'a': {
            struct gc_url_opt uo[GC_URL_OPTS_MAX];
            char err[256], kv[sizeof uo[0].key + sizeof uo[0].value + 2];
            int nu = gc_url_options(optarg, uo, GC_URL_OPTS_MAX, err, sizeof err);
            if (gc_config_set_url(&cfg, optarg) || nu < 0) {
                fprintf(stderr, "bad --address %s%s%s\n", optarg, nu < 0 ? ": " : "", nu < 0 ? err : "");
                return 2;
            }
            for (int k = 0; k < nu; k++) { /* key=value after '?': as --opt, as Galera applies them */
                if (snprintf(kv, sizeof kv, "%s=%s", uo[k].key, uo[k].value) >= (int)sizeof kv ||
                    node_opt_apply(&cfg, kv)) { fprintf(stderr, "bad option %s in --address\n", kv); return 2; }
            }
            have_addr = true;
            break;
        }
        case 'n': snprintf(cfg.name, sizeof cfg.name, "%s", optarg); break;
        case 'g': snprintf(cfg.group, sizeof cfg.group, "%s", optarg); break;
        case 'd': snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': msg_size = (size_t)atol(optarg); break;
        case 'o':
            if (node_opt_apply(&cfg, optarg)) { fprintf(stderr, "bad --opt %s\n", optarg); return 2; }
            break;
        case 'D': tr_log_set_debug(1); break;
        case 'P': probe_what = optarg; break;
        default: usage(); return 2;
        }
    }
    if (!have_addr) { usage(); return 2; }
    if (probe_what) return probe(cfg.seeds[0], probe_what, cfg.group);
    if (msg_size < 32) msg_size = 32;
    char host[GC_ADDR_MAX];
    uint16_t port;
    if (gc_addr_split(cfg.listen_addr, host, sizeof host, &port) == 0)
        snprintf(cfg.incoming, sizeof cfg.incoming, "%.100s:%u", host, port + 1000);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction su = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &su, NULL);
    struct sigaction s2 = {.sa_handler = on_usr2};
    sigaction(SIGUSR2, &s2, NULL);
    struct sigaction sh = {.sa_handler = on_hup};
    sigaction(SIGHUP, &sh, NULL);
    signal(SIGPIPE, SIG_IGN);
    node = gc_node_create(&cfg);
    if (!node) { fprintf(stderr, "cannot create node\n"); return 1; }
    int rc = gc_node_start(node);
    if (rc) { fprintf(stderr, "start failed: %s\n", strerror(-rc)); return 1; }
    tr_uuid me = gc_node_uuid(node);
    char us[40];
    tr_uuid_print(&me, us);
    fprintf(stderr, "trireme-gcomm-node %s: uuid %s listening on %s\n", cfg.name, us, gc_node_listen_addr(node));
    pthread_t st;
    bool sending = rate > 0 && pthread_create(&st, NULL, sender, NULL) == 0;
    pthread_t wt;
    bool watching = pthread_create(&wt, NULL, watcher, NULL) == 0;
    int64_t last_stats = tr_now_ns(); /* a stats line every 5 s of the monotonic clock */
    while (!atomic_load(&stop_req)) {
        struct gc_event *ev;
        rc = gc_node_recv(node, &ev, 100000000);
        if (rc == -ESHUTDOWN) break;
        if (rc == 0) {
            if (ev->kind == GC_EV_VIEW) {
                char l[40];
                tr_uuid_print(&ev->view.id.leader, l);
                printf("VIEW %" PRIu64 " %s %u %d %d %.3f %s\n", ev->view.id.epoch, ev->view.primary ? "PRIM" : "NONPRIM",
                       ev->view.n, ev->my_index, ev->continuous, now_ms(), l + 28);
            } else {
                char h[40], s[40];
                tr_uuid_print(&ev->history, h);
                tr_uuid_print(&ev->sender, s);
                h[8] = 0; /* the sender by its last digits: node uuids begin with their start time */
                printf("MSG %s %" PRId64 " %s %08x %.3f\n", h, ev->seqno, s + 28, tr_crc32c(0, ev->data, ev->len),
                       now_ms());
            }
            gc_event_free(ev);
        }
        if (tr_now_ns() - last_stats >= 5 * TR_NS_PER_SEC) {
            struct gc_stats stt;
            gc_node_stats(node, &stt);
            fprintf(stderr, "%s: primary=%d members=%u delivered=%" PRIu64 " seqno=%" PRId64 " repl_latency avg=%.2fms "
                            "max=%.2fms pending=%" PRIu64 " echo_max=%.0fms lease_lapses=%" PRIu64 "\n", cfg.name, stt.primary, stt.members,
                    stt.msgs_delivered, stt.last_seqno, (double)stt.repl_latency_avg_ns / 1e6,
                    (double)stt.repl_latency_max_ns / 1e6, stt.pending, (double)stt.echo_max_ns / 1e6, stt.lease_lapses);
            gc_node_stats_flush(node); /* echo_max: per period */
            last_stats = tr_now_ns();
        }
    }
    atomic_store(&stop_req, 1);
    if (sending) pthread_join(st, NULL);
    if (watching) pthread_join(wt, NULL);
    gc_node_leave(node);
    gc_node_destroy(node);
    return 0;
}
