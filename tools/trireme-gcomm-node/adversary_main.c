/* tools/trireme-gcomm-node/adversary_main: trireme-gcomm-adversary, an outsider for the process
 * tests: connects to a gcomm node and tries one attack; reports what the node did. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gcomm/gc_config.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_wire.h"

#define MAX_CONNS 256

static char host[GC_ADDR_MAX], group[GC_GROUP_MAX] = "trireme";
static uint16_t port;
static tr_uuid me;
static uint64_t inc;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) || !res) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one core message in a frame; a peer that closed makes it fail. */
static int send_msg(int fd, const gc_msg *m)
{
    gc_wbuf w;
    gc_w_init(&w);
    gc_msg_encode(&w, m);
    uint8_t hdr[GC_FRAME_HDR];
    int rc = w.oom ? -1 : 0;
    if (!rc) {
        gc_frame_header(hdr, w.p, w.len);
        rc = write_all(fd, hdr, sizeof hdr) || write_all(fd, w.p, w.len) ? -1 : 0;
    }
    gc_w_free(&w);
    return rc;
}

static int send_hello(int fd, const char *grp)
{
    gc_msg *m = calloc(1, sizeof *m);
    if (!m) return -1;
    m->type = GC_MSG_HELLO;
    m->u.hello.version = GC_PROTO_VERSION;
    snprintf(m->u.hello.group, sizeof m->u.hello.group, "%s", grp);
    m->u.hello.uuid = me;
    m->u.hello.inc = inc;
    snprintf(m->u.hello.name, sizeof m->u.hello.name, "adversary\x1b[31m\r\nfake log line");
    int rc = send_msg(fd, m); /* no listen address: nobody dials us */
    free(m);
    return rc;
}

static int send_frag(int fd, uint64_t off, size_t n)
{
    static uint8_t junk[GC_FRAG_MAX];
    junk[0] = GC_MSG_DATA;
    gc_msg m;
    memset(&m, 0, sizeof m);
    m.type = GC_MSG_FRAG;
    m.u.frag.total = (uint64_t)2 << 30; /* announces 2 GiB */
    m.u.frag.offset = off;
    m.u.frag.data = junk;
    m.u.frag.len = n;
    return send_msg(fd, &m);
}

/* Reads what the node sends for up to `secs`; returns the bytes read, *closed if it hung up. */
static size_t drain(int fd, double secs, bool *closed)
{
    size_t got = 0;
    double end = now_s() + secs;
    *closed = false;
    for (double t = now_s(); t < end; t = now_s()) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)((end - t) * 1000) + 1) <= 0) continue;
        char b[65536];
        ssize_t r = read(fd, b, sizeof b);
        if (r <= 0) {
            *closed = true;
            break;
        }
        got += (size_t)r;
    }
    return got;
}

/* The node's uuid from its HELLO answer (the first frame it sends). */
static bool read_hello(int fd, tr_uuid *node)
{
    uint8_t buf[GC_FRAME_MAX_PAYLOAD + GC_FRAME_HDR];
    size_t have = 0;
    double end = now_s() + 3;
    while (now_s() < end && have < sizeof buf) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r <= 0) return false;
        have += (size_t)r;
        const uint8_t *p;
        size_t plen, used;
        if (gc_frame_parse(buf, have, GC_FRAME_MAX_PAYLOAD, &p, &plen, &used) != GC_FRAME_OK) continue;
        static gc_msg m;
        if (gc_msg_decode(p, plen, &m) || m.type != GC_MSG_HELLO) return false;
        *node = m.u.hello.uuid;
        return true;
    }
    return false;
}

/* Connection-level attacks: the node must say nothing and hang up. */
static int refused(const char *what, int fd)
{
    bool closed;
    size_t got = drain(fd, 4, &closed);
    close(fd);
    printf("ADVERSARY %s: node sent %zu bytes, %s\n", what, got, closed ? "hung up" : "still connected after 4 s");
    return got == 0 && closed ? 0 : 1;
}

/* Poisoned heartbeats, GATHERs, a START of its own view, ACKs far ahead, FC stop, for `secs`;
 * then a heartbeat promising 2^64-1, which is malformed: the node must hang up. */
static int poison(double secs)
{
    int fd = dial();
    if (fd < 0 || send_hello(fd, group)) return 2;
    tr_uuid node;
    if (!read_hello(fd, &node)) { printf("ADVERSARY poison: no HELLO answer\n"); return 1; }
    gc_msg *m = calloc(1, sizeof *m);
    if (!m) return 2;
    uint64_t sent = 0;
    for (double end = now_s() + secs; now_s() < end; sent++) {
        memset(m, 0, sizeof *m);
        switch (sent % 6) {
        case 0:
            m->type = GC_MSG_HB;
            m->u.hb.promised = m->u.hb.epoch = m->u.hb.ack = GC_COUNT_MAX;
            m->u.hb.state = GC_ST_NORMAL;
            m->u.hb.weight = 255;
            m->u.hb.fc = 1;
            m->u.hb.nsusp = 1;
            m->u.hb.susp[0] = node;
            break;
        case 1:
            m->type = GC_MSG_GATHER;
            m->u.gather.epoch = sent % 12 == 1 ? GC_COUNT_MAX : 1 + sent % 100;
            m->u.gather.flags = GC_GATHER_BOOTSTRAP;
            break;
        case 2: {
            m->type = GC_MSG_START;
            m->u.start.epoch = 1 + sent % 100;
            gc_view *v = &m->u.start.view;
            v->id.epoch = m->u.start.epoch;
            v->id.leader = me;
            v->id.leader_inc = inc;
            v->primary = true;
            v->n = 2;
            v->m[0].uuid = me;
            v->m[0].incarnation = inc;
            v->m[0].weight = 255;
            v->m[1].uuid = node;
            v->m[1].weight = 1;
            gc_view_sort(v);
            m->u.start.flags = GC_START_FORCED;
            m->u.start.first = 1;
            break;
        }
        case 3:
            m->type = GC_MSG_ACK;
            m->u.ack.epoch = 1 + sent % 100;
            m->u.ack.seqno = GC_COUNT_MAX;
            break;
        case 4:
            m->type = GC_MSG_FC;
            m->u.fc.stop = 1;
            break;
        default:
            m->type = GC_MSG_LEAVE;
            break;
        }
        if (send_msg(fd, m)) { printf("ADVERSARY poison: node hung up after %" PRIu64 " messages\n", sent); return 1; }
        bool closed;
        drain(fd, 0.02, &closed);
        if (closed) { printf("ADVERSARY poison: node hung up after %" PRIu64 " messages\n", sent); return 1; }
    }
    /* the malformed one: an epoch above 2^62 */
    memset(m, 0, sizeof *m);
    m->type = GC_MSG_HB;
    m->u.hb.promised = UINT64_MAX;
    send_msg(fd, m);
    free(m);
    bool closed;
    drain(fd, 3, &closed);
    close(fd);
    printf("ADVERSARY poison: %" PRIu64 " messages taken; a heartbeat promising 2^64-1: %s\n", sent,
           closed ? "hung up" : "still connected");
    return closed ? 0 : 1;
}

/* conns connections each send `mib` MiB of fragments of a message that announces 2 GiB (after
 * a HELLO with the leaked group name), hold them `hold` s, then close. */
static int frag_flood(int conns, int mib, double hold)
{
    int fds[MAX_CONNS];
    uint64_t off[MAX_CONNS] = {0};
    for (int i = 0; i < conns; i++) {
        fds[i] = dial();
        if (fds[i] < 0 || send_hello(fds[i], group)) return 2;
        me.data[14]++; /* another identity per connection */
    }
    uint64_t want = (uint64_t)mib << 20;
    bool done = false;
    while (!done) {
        done = true;
        for (int i = 0; i < conns; i++) {
            if (fds[i] < 0 || off[i] >= want) continue;
            done = false;
            if (send_frag(fds[i], off[i], GC_FRAG_MAX)) {
                printf("ADVERSARY frag-flood: connection %d closed by the node after %" PRIu64 " bytes\n", i, off[i]);
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            off[i] += GC_FRAG_MAX;
            bool closed;
            drain(fds[i], 0, &closed);
        }
    }
    uint64_t total = 0;
    for (int i = 0; i < conns; i++) total += off[i];
    printf("ADVERSARY frag-flood: %d connections sent %" PRIu64 " MiB of fragments announcing 2 GiB each\n", conns,
           total >> 20);
    fflush(stdout);
    for (double end = now_s() + hold; now_s() < end;)
        for (int i = 0; i < conns; i++) {
            bool closed;
            if (fds[i] >= 0) drain(fds[i], 0.01, &closed);
        }
    for (int i = 0; i < conns; i++)
        if (fds[i] >= 0) close(fds[i]);
    return 0;
}

/* conns idle connections held for `hold` s: per-source and total limits belong to the TCP
 * driver (the TLS work); until they exist this mode reports and exits 77 (skipped). */
static int idle(int conns, double hold)
{
    int fds[MAX_CONNS], open = 0;
    for (int i = 0; i < conns; i++)
        if ((fds[open] = dial()) >= 0) open++;
    double end = now_s() + hold;
    while (now_s() < end) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    int alive = 0;
    for (int i = 0; i < open; i++) {
        bool closed;
        drain(fds[i], 0, &closed);
        alive += !closed;
        close(fds[i]);
    }
    printf("ADVERSARY idle: %d of %d connections opened, %d still open after %.0f s (no per-source limit yet)\n",
           open, conns, alive, hold);
    return 77;
}

int main(int argc, char **argv)
{
    static struct option lo[] = {{"address", 1, 0, 'a'}, {"group", 1, 0, 'g'}, {"attack", 1, 0, 'A'},
                                 {"seconds", 1, 0, 's'}, {"conns", 1, 0, 'c'},  {"mib", 1, 0, 'm'},
                                 {0, 0, 0, 0}};
    const char *attack = NULL, *addr = NULL;
    double secs = 3;
    int conns = 4, mib = 8, c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'a': addr = optarg; break;
        case 'g': snprintf(group, sizeof group, "%s", optarg); break;
        case 'A': attack = optarg; break;
        case 's': secs = atof(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'm': mib = atoi(optarg); break;
        default: attack = NULL; addr = NULL; break;
        }
    }
    if (addr && !strncmp(addr, "gcomm://", 8)) addr += 8;
    if (!attack || !addr || gc_addr_split(addr, host, sizeof host, &port) || conns < 1 || conns > MAX_CONNS || mib < 1) {
        fprintf(stderr, "usage: trireme-gcomm-adversary --address gcomm://h:p [--group G] --attack A [--seconds S]\n"
                        "       [--conns N] [--mib M]\n"
                        "attacks: listen (connect, say nothing), wrong-group, frag-before-hello, poison,\n"
                        "         frag-flood (N connections, M MiB each), idle (N idle connections; exits 77)\n"
                        "exit 0: the node refused or ignored it as it must; 1: it did not; 2: could not run\n");
        return 2;
    }
    srand((unsigned)getpid());
    for (int i = 0; i < 16; i++) me.data[i] = (uint8_t)rand();
    inc = ((uint64_t)rand() << 32 | (uint64_t)rand()) | 1;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(attack, "listen")) {
        int fd = dial();
        return fd < 0 ? 2 : refused("listen", fd);
    }
    if (!strcmp(attack, "wrong-group")) {
        int fd = dial();
        char other[GC_GROUP_MAX];
        snprintf(other, sizeof other, "not-%.50s", group);
        if (fd < 0 || send_hello(fd, other)) return 2;
        return refused("wrong-group", fd);
    }
    if (!strcmp(attack, "frag-before-hello")) {
        int fd = dial();
        if (fd < 0 || send_frag(fd, 0, GC_FRAG_MAX)) return 2;
        return refused("frag-before-hello", fd);
    }
    if (!strcmp(attack, "poison")) return poison(secs);
    if (!strcmp(attack, "frag-flood")) return frag_flood(conns, mib, secs);
    if (!strcmp(attack, "idle")) return idle(conns, secs);
    fprintf(stderr, "unknown attack %s\n", attack);
    return 2;
}
