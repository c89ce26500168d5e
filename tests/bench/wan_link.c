/* tests/bench/wan_link: a delayed link between network namespaces, in user space, for a kernel
 * without sch_netem: a TUN device per namespace, IPv4 packets forwarded by destination address,
 * each held for the one-way delay (monotonic clock) and delivered in arrival order per link.
 *
 * Usage: wan_link [-d DELAY_MS] [-q QUEUE] [-i IFNAME] NS=ADDR NS=ADDR...
 *   NS is a namespace under /var/run/netns, ADDR the IPv4 address that namespace answers to.
 *   Every NS gets a TUN device IFNAME (default wan0); the caller brings it up and routes the
 *   other namespaces' addresses through it once this program has printed "ready". A packet
 *   read from NS A's device for ADDR of NS B waits DELAY_MS (fractions allowed) and is then
 *   written to B's device: a one-way delay, so a round trip between two namespaces takes twice
 *   DELAY_MS. At most QUEUE packets (default 16384) wait per link (pair A->B); a packet beyond
 *   that is dropped and counted, as is one for an address no namespace has.
 * The devices go away with the process (they are not made persistent). SIGTERM or SIGINT ends
 * it, printing per link what was forwarded and dropped to stderr. Needs root (setns, TUN). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define WAN_MAX_NS 16
#define WAN_MTU_MAX 65536
#define WAN_READ_BURST 64 /* packets read from one device per wakeup, so that none starves */

struct wan_pkt {
    int64_t due_ns; /* when it may be delivered */
    uint32_t len;
    unsigned char data[]; /* the IP packet */
};

/* One direction between two namespaces: a FIFO ring. With one delay for every packet the due
 * times in a ring only grow, so its head is always the next one due. */
struct wan_link {
    struct wan_pkt **ring;
    uint32_t head, count;
    uint64_t fwd_pkts, fwd_bytes, drop_full, max_depth;
};

struct wan_ns {
    const char *name;
    uint32_t addr; /* network byte order */
    int fd;
    uint64_t rx_pkts, drop_unroutable, write_errs;
};

static struct wan_ns g_ns[WAN_MAX_NS];
static struct wan_link g_links[WAN_MAX_NS][WAN_MAX_NS]; /* [from][to] */
static int g_n;
static uint32_t g_qcap = 16384;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "wan_link: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    exit(1);
}

/* The TUN device IFNAME inside namespace NAME: enter it, open the device, come back to HOME.
 * A TUN device stays in the namespace it was created in, whichever namespace uses its fd. */
static int open_tun_in(const char *name, const char *ifname, int home)
{
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0)
        die("open", path);
    if (setns(nsfd, CLONE_NEWNET) != 0)
        die("setns", path);
    close(nsfd);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun in", name);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0)
        die("TUNSETIFF in", name);
    if (setns(home, CLONE_NEWNET) != 0)
        die("setns back from", name);
    return fd;
}

static int ns_by_addr(uint32_t addr)
{
    for (int i = 0; i < g_n; i++)
        if (g_ns[i].addr == addr)
            return i;
    return -1;
}

/* Reads what namespace FROM sent, up to a burst, and queues each packet on its link. */
static void drain(int from, int64_t delay_ns)
{
    static unsigned char buf[WAN_MTU_MAX];
    for (int k = 0; k < WAN_READ_BURST; k++) {
        ssize_t r = read(g_ns[from].fd, buf, sizeof buf);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR)
                die("read from the device in", g_ns[from].name);
            return;
        }
        g_ns[from].rx_pkts++;
        /* IPv4 only; the kernel's own IPv6 chatter on the device (router solicitations) and
         * anything not for a known namespace is counted and dropped. */
        int to = -1;
        if (r >= 20 && (buf[0] >> 4) == 4) {
            uint32_t dst;
            memcpy(&dst, buf + 16, 4);
            to = ns_by_addr(dst);
        }
        if (to < 0 || to == from) {
            g_ns[from].drop_unroutable++;
            continue;
        }
        struct wan_link *l = &g_links[from][to];
        if (l->count == g_qcap) {
            l->drop_full++;
            continue;
        }
        struct wan_pkt *p = malloc(sizeof *p + (size_t)r);
        if (!p)
            die("malloc", NULL);
        p->due_ns = now_ns() + delay_ns;
        p->len = (uint32_t)r;
        memcpy(p->data, buf, (size_t)r);
        l->ring[(l->head + l->count) % g_qcap] = p;
        l->count++;
        if (l->count > l->max_depth)
            l->max_depth = l->count;
    }
}

/* Writes every packet that is due; returns the earliest due time still waiting (or -1). */
static int64_t deliver(void)
{
    int64_t now = now_ns(), next = -1;
    for (int a = 0; a < g_n; a++) {
        for (int b = 0; b < g_n; b++) {
            struct wan_link *l = &g_links[a][b];
            while (l->count > 0) {
                struct wan_pkt *p = l->ring[l->head];
                if (p->due_ns > now) {
                    if (next < 0 || p->due_ns < next)
                        next = p->due_ns;
                    break;
                }
                /* A TUN write hands the packet to the namespace's stack at once; it does not
                 * block for lack of room, so an error here is a lost packet, counted. */
                if (write(g_ns[b].fd, p->data, p->len) == (ssize_t)p->len) {
                    l->fwd_pkts++;
                    l->fwd_bytes += p->len;
                } else {
                    g_ns[b].write_errs++;
                }
                free(p);
                l->head = (l->head + 1) % g_qcap;
                l->count--;
            }
        }
    }
    return next;
}

static void report(void)
{
    for (int a = 0; a < g_n; a++) {
        fprintf(stderr, "wan_link: %s: read %llu packets, %llu for no namespace, %llu write errors\n",
                g_ns[a].name, (unsigned long long)g_ns[a].rx_pkts,
                (unsigned long long)g_ns[a].drop_unroutable, (unsigned long long)g_ns[a].write_errs);
        for (int b = 0; b < g_n; b++) {
            struct wan_link *l = &g_links[a][b];
            if (a == b)
                continue;
            fprintf(stderr,
                    "wan_link: %s -> %s: forwarded %llu packets (%llu bytes), dropped %llu (queue "
                    "full), deepest queue %llu, %u still queued\n",
                    g_ns[a].name, g_ns[b].name, (unsigned long long)l->fwd_pkts,
                    (unsigned long long)l->fwd_bytes, (unsigned long long)l->drop_full,
                    (unsigned long long)l->max_depth, l->count);
        }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: wan_link [-d DELAY_MS] [-q QUEUE] [-i IFNAME] NS=ADDR NS=ADDR...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double delay_ms = 10;
    const char *ifname = "wan0";
    int opt;
    while ((opt = getopt(argc, argv, "d:q:i:")) != -1) {
        char *end;
        switch (opt) {
        case 'd':
            delay_ms = strtod(optarg, &end);
            if (*end || delay_ms < 0 || delay_ms > 10000)
                usage();
            break;
        case 'q': {
            unsigned long q = strtoul(optarg, &end, 10);
            if (*end || q < 1 || q > 1000000)
                usage();
            g_qcap = (uint32_t)q;
            break;
        }
        case 'i':
            if (strlen(optarg) >= IFNAMSIZ)
                usage();
            ifname = optarg;
            break;
        default:
            usage();
        }
    }
    if (argc - optind < 2 || argc - optind > WAN_MAX_NS)
        usage();

    /* Blocked except while waiting in ppoll, so that a stop request cannot slip in between
     * the check of g_stop and the wait. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0)
        die("open", "/proc/self/ns/net");
    for (int i = optind; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        struct in_addr a;
        if (!eq)
            usage();
        *eq = '\0';
        /* a bare name under /var/run/netns: no path of its own, none the path buffer cuts */
        if (eq == argv[i] || strchr(argv[i], '/') || strlen(argv[i]) > 200)
            usage();
        if (inet_pton(AF_INET, eq + 1, &a) != 1)
            usage();
        /* the address picks the namespace a packet goes to, so it must name only one */
        if (ns_by_addr(a.s_addr) >= 0)
            usage();
        g_ns[g_n].name = argv[i];
        g_ns[g_n].addr = a.s_addr;
        g_ns[g_n].fd = open_tun_in(argv[i], ifname, home);
        g_n++;
    }
    close(home);
    for (int a = 0; a < g_n; a++)
        for (int b = 0; b < g_n; b++)
            if (a != b && !(g_links[a][b].ring = calloc(g_qcap, sizeof(struct wan_pkt *))))
                die("calloc", NULL);
    printf("ready\n");
    fflush(stdout);

    int64_t delay_ns = (int64_t)(delay_ms * 1e6);
    struct pollfd pfd[WAN_MAX_NS];
    for (int i = 0; i < g_n; i++)
        pfd[i] = (struct pollfd){.fd = g_ns[i].fd, .events = POLLIN};
    while (!g_stop) {
        int64_t next = deliver();
        struct timespec ts, *tsp = NULL;
        if (next >= 0) {
            int64_t wait = next - now_ns();
            if (wait < 0)
                wait = 0;
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        int r = ppoll(pfd, (nfds_t)g_n, tsp, &waitmask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("ppoll", NULL);
        }
        for (int i = 0; i < g_n && r > 0; i++) {
            if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                errno = EIO;
                die("device failed in", g_ns[i].name);
            }
            if (pfd[i].revents & POLLIN)
                drain(i, delay_ns);
        }
    }
    report();
    return 0;
}
