/* gcomm/gc_tcp: the TCP driver of the gcomm core and the gc_node handle built on it: one epoll
 * thread, length-prefixed CRC32C frames, non-blocking connects and TLS, gvwstate.dat. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_buf.h"
#include "common/tr_log.h"
#include "common/tr_net.h"
#include "common/tr_time.h"
#include "common/tr_tls.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_gvwstate.h"
#include "gcomm/gc_node.h"

#define MAX_CONNS 256
/* Accepted links that have not proven themselves yet (TLS handshake done and a first whole frame,
 * the peer's HELLO, received): at most this many from one address and in all; and at most
 * CONNS_PER_SOURCE links from one address at all. Past a limit a connection is closed at once,
 * so idle or half-open sockets from outsiders never fill the core's link table. A link that has
 * not proven itself within gmcast.peer_timeout is closed. (Galera has no such limits.) */
#define PENDING_PER_SOURCE 8
#define PENDING_MAX 64
#define CONNS_PER_SOURCE 32
#define READ_CHUNK (256 * 1024)
#define READ_BUDGET 4 /* chunks read from one connection per poll round */
#define QUEUE_KEEP (4u << 20) /* a send queue buffer larger than this is freed once empty */

struct conn {
    bool used, connecting, outbound;
    bool want_out; /* EPOLLOUT currently registered */
    int fd, id;
    char addr[GC_ADDR_MAX]; /* dialled address, or the peer's address of an accepted link (logs) */
    /* TLS (socket.ssl): the core hears of the link (conn_up) only once the handshake is done.
     * sniffing: socket.dynamic, an accepted link whose first bytes tell TLS from plaintext. */
    tr_tls *tls;
    bool handshaking, sniffing;
    bool tls_out; /* the TLS layer waits for the socket to take bytes (EPOLLOUT wanted) */
    bool more;    /* decrypted bytes wait inside the TLS layer: read again before sleeping */
    /* A TLS write that found the socket full holds part of a record: the next write must offer
     * the same bytes again (tr_tls_write), from the same queue, as many as before. */
    bool wpend, wpend_urgent;
    size_t wlen;
    bool pending;          /* accepted, not yet proven: counted in npending */
    uint64_t deadline;     /* the handshake (TLS, first frame) must be over by then; 0: none */
    char src[INET6_ADDRSTRLEN]; /* accepted: the peer's address without port (limits) */
    uint8_t *in;
    size_t inlen, incap;
    /* Two send queues of whole frames. Urgent frames (heartbeats, echoes) go out ahead of
     * the queued bulk ones, at a bulk frame boundary: frame_left is what remains of the bulk
     * frame being written (0: at a boundary). Bulk waits while an urgent frame is half written. */
    uint8_t *out;
    size_t outoff, outlen, outcap, frame_left;
    uint8_t *uout;
    size_t uoff, ulen, ucap;
    int lowat;         /* TCP_NOTSENT_LOWAT set on the socket (0: LOWAT_MIN from sock_tune) */
    uint64_t lowat_at; /* when lowat_adapt last looked (monotonic ns) */
};

struct evnode {
    struct gc_event *ev;
    struct evnode *next;
};

struct gc_node {
    struct gc_config cfg;
    gc_core *core;
    pthread_mutex_t mu; /* the core, the connections */
    pthread_t thr;
    bool running, started;
    atomic_bool stopping; /* read by the I/O thread without the lock */
    bool broadcasting, pushed_here; /* under mu: a delivery made inside gc_node_broadcast */
    pthread_cond_t scv;   /* with mu: senders waiting for their window (gc_node_wait_sent) */
    int send_waiters;     /* under mu */
    struct evnode *fail_node; /* kept ready: reports a delivery this node could not keep */
    int ep, lfd, wake;
    struct conn conns[MAX_CONNS];
    /* conns in use (written under mu, read by consumers without it): with none, nothing can
     * arrive on a socket, so a waiting consumer sleeps on the queue instead of polling */
    atomic_int nlinks;
    int next_id;
    uint64_t rng;
    atomic_uint_fast64_t next_tick;
    char listen_actual[GC_ADDR_MAX];
    char gvw_path[GC_PATH_MAX + 32];
    /* the ordered stream */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct evnode *qhead, *qtail;
    bool qclosed;
    int qwaiters; /* consumers asleep on qcv */
    bool primary_seen;
    /* Who polls the sockets: the I/O thread, or a thread waiting in gc_node_recv. A waiting
     * consumer that polls itself is woken by the socket, not by the I/O thread: one wake-up less
     * per delivery. The I/O thread takes the role back once the consumer has been away for
     * POLL_GRACE (so heartbeats and acks go on while the application is busy). */
    pthread_mutex_t pmu;
    pthread_cond_t pcv;
    bool io_polling;      /* the I/O thread is in a poll round */
    bool consumer_polls;  /* the role belongs to the consumers */
    atomic_bool consumer_inside; /* a consumer is polling right now (written under pmu; a
                                  * broadcaster reads it to tell whether to write the eventfd) */
    bool consumer_wants;  /* a consumer waits for the I/O thread to hand the role over */
    bool io_parked;       /* the I/O thread sleeps until the polling consumer returns */
    uint64_t consumer_turns; /* times a consumer took the role (tells a quiet node from a busy one) */
    uint64_t consumer_away; /* when the polling consumer last returned */
    atomic_bool io_exit;  /* the core has left: nobody polls any more */
    atomic_bool live;     /* between start and stop */
    uint64_t consumer_backoff; /* under load the I/O thread polls (pipelining) until then */
    uint32_t round_frames;     /* frames handled in the current poll round (under mu) */
    size_t round_bytes;
    /* TLS: the context links are made from; conns with decrypted bytes waiting (under mu) */
    tr_tls_ctx *tls;
    atomic_int nmore; /* written under mu; poll_round looks before it takes mu */
    /* TLS, under mu: inside a poll round frames for a link wait in its queue and leave at the
     * round's end (tls_flush_round), several frames to a record and one send per link */
    bool tls_hold;
    int npending;     /* accepted links not yet proven (under mu) */
    /* socket.dynamic: addresses that answered our TLS in plaintext are dialled in plaintext
     * until then (under mu) */
    struct { char addr[GC_ADDR_MAX]; uint64_t until; } plain[16];
    /* refusals logged per address: at most one warning each REFUSAL_QUIET (under mu) */
    struct { char key[GC_ADDR_MAX]; uint64_t last; uint32_t hidden; } refused[16];
    /* addresses the allowlist refused, not asked again until then: a refused peer that keeps
     * dialling costs the host one question per DENIED_FOR (under mu) */
    struct { char src[INET6_ADDRSTRLEN]; uint64_t until; } denied[16];
};

#define PLAIN_KEEP_NS 60000000000ull
#define REFUSAL_QUIET_NS 10000000000ull
#define ALLOWLIST_QUIET_NS 60000000000ull /* allowlist refusals: once a minute per address */
#define DENIED_FOR_NS 1000000000ull

#define POLL_GRACE_NS 2000000ull
/* A poll round with this much input means load: consumption and I/O then run in two threads. */
#define HEAVY_FRAMES 16
#define HEAVY_BYTES (64u * 1024)
#define HEAVY_BACKOFF_NS 200000000ull

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct conn *conn_by_id(gc_node *n, int id)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (n->conns[i].used && n->conns[i].id == id) return &n->conns[i];
    return NULL;
}

static void conn_free(gc_node *n, struct conn *c)
{
    if (c->used) atomic_fetch_sub(&n->nlinks, 1);
    if (c->more) n->nmore--;
    if (c->pending) n->npending--;
    tr_tls_free(c->tls); /* before the socket closes: a close_notify if it fits */
    if (c->fd >= 0) {
        epoll_ctl(n->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    free(c->in);
    free(c->out);
    free(c->uout);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* A free slot becomes a link. The first link ends a consumer's sleep on the queue (gc_node_recv):
 * from now on an event can come from a socket, which the consumer polls itself. */
static void conn_take(gc_node *n, struct conn *c)
{
    c->used = true;
    if (atomic_fetch_add(&n->nlinks, 1) == 0) {
        pthread_mutex_lock(&n->qmu);
        if (n->qwaiters) pthread_cond_broadcast(&n->qcv);
        pthread_mutex_unlock(&n->qmu);
    }
}

static bool conn_queued(const struct conn *c) { return c->outlen > c->outoff || c->ulen > c->uoff; }

static void conn_watch(gc_node *n, struct conn *c)
{
    bool want = c->connecting || conn_queued(c) || c->tls_out || (c->tls && tr_tls_unsent(c->tls));
    if (want == c->want_out) return; /* epoll_ctl is a syscall: only on change */
    c->want_out = want;
    struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u64 = (uint64_t)(c - n->conns)};
    epoll_ctl(n->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* w bytes of the bulk queue were written: move past them, keeping track of frame boundaries. */
static void bulk_advance(struct conn *c, size_t w)
{
    while (w) {
        if (!c->frame_left) c->frame_left = GC_FRAME_HDR + tr_get_u32(c->out + c->outoff) /* the length */;
        size_t take = w < c->frame_left ? w : c->frame_left;
        c->frame_left -= take;
        c->outoff += take;
        w -= take;
    }
    if (c->outoff == c->outlen) {
        c->outoff = c->outlen = 0;
        if (c->outcap > QUEUE_KEEP) { /* a backlog drained: give its memory back */
            free(c->out);
            c->out = NULL;
            c->outcap = 0;
        }
    }
}

/* One write of the byte stream, plaintext or through TLS: bytes taken, 0 when the socket is
 * full, -1 when the link failed. */
static ssize_t conn_send(struct conn *c, const uint8_t *p, size_t len, bool urgent)
{
    if (!c->tls) {
        for (;;) {
            ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
            if (w >= 0) return w;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno != EINTR) return -1;
        }
    }
    size_t put;
    enum tr_tls_rc rc = tr_tls_write(c->tls, p, len, &put);
    if (rc == TR_TLS_OK) {
        c->wpend = false;
        return (ssize_t)put;
    }
    if (rc == TR_TLS_WANT_WRITE || rc == TR_TLS_WANT_READ) {
        c->wpend = true;
        c->wpend_urgent = urgent;
        c->wlen = len;
        return 0;
    }
    if (rc == TR_TLS_FAIL) tr_warn("gcomm tls: %s", tr_tls_why(c->tls));
    else tr_debug("gcomm tls: %s", tr_tls_why(c->tls));
    return -1;
}

/* Writes what it can, urgent frames first; returns -1 if the connection failed. */
static int conn_flush(gc_node *n, struct conn *c)
{
    for (;;) {
        bool urgent = c->ulen > c->uoff && !c->frame_left;
        size_t len = urgent ? c->ulen - c->uoff : c->outlen - c->outoff;
        if (c->wpend) { /* TLS: repeat the write the socket did not take, whatever came since */
            urgent = c->wpend_urgent;
            len = c->wlen;
        } else if (!urgent && c->ulen > c->uoff && len > c->frame_left) {
            len = c->frame_left; /* finish this frame only */
        }
        if (!len) break;
        ssize_t w = conn_send(c, urgent ? c->uout + c->uoff : c->out + c->outoff, len, urgent);
        if (w < 0) return -1;
        if (w == 0) break;
        if (urgent) {
            c->uoff += (size_t)w;
            if (c->uoff == c->ulen) c->uoff = c->ulen = 0;
        } else {
            bulk_advance(c, (size_t)w);
        }
    }
    if (c->tls && tr_tls_unsent(c->tls)) { /* TLS batches records: send what gathered, at once */
        enum tr_tls_rc rc = tr_tls_flush(c->tls);
        if (rc == TR_TLS_FAIL || rc == TR_TLS_CLOSED) {
            if (rc == TR_TLS_FAIL) tr_warn("gcomm tls: %s", tr_tls_why(c->tls));
            else tr_debug("gcomm tls: %s", tr_tls_why(c->tls));
            return -1;
        }
    }
    conn_watch(n, c);
    return 0;
}

/* Appends bytes to a queue, growing it or compacting it. It compacts only when the part already
 * sent is at least as large as the part still queued, so each byte is moved at most once on
 * average; compacting whenever the buffer was full moved the whole backlog each time a member
 * behind by tens of MB caught up a little. */
static bool queue_put(uint8_t **q, size_t *off, size_t *len, size_t *cap, const uint8_t *a, size_t alen,
                      const uint8_t *b, size_t blen)
{
    size_t need = *len + alen + blen;
    if (need > *cap && *off && *off >= *len - *off) {
        memmove(*q, *q + *off, *len - *off);
        *len -= *off;
        *off = 0;
        need = *len + alen + blen;
    }
    if (need > *cap) {
        size_t cap2 = *cap ? *cap : 65536;
        while (cap2 < need) cap2 *= 2;
        uint8_t *p = realloc(*q, cap2);
        if (!p) return false;
        *q = p;
        *cap = cap2;
    }
    if (alen) memcpy(*q + *len, a, alen);
    if (blen) memcpy(*q + *len + alen, b, blen);
    *len += alen + blen;
    return true;
}

/* No Nagle delay; and little data not yet sent held in the kernel, so that what we queue (where
 * heartbeats and echoes overtake bulk frames) is not hidden behind megabytes in the socket
 * buffer. A new socket starts at LOWAT_MIN; lowat_adapt then sizes the limit to the link. */
#define LOWAT_MIN (16 * 1024)
#define LOWAT_MAX (256 * 1024)
static void sock_tune(int fd)
{
    int one = 1, lowat = LOWAT_MIN;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
}

/* The unsent limit for a link that sends cwnd bytes per round trip: what it sends in
 * LOWAT_SPAN_MS, within [LOWAT_MIN, LOWAT_MAX]. A heartbeat queued behind that much waits about
 * LOWAT_SPAN_MS in the kernel whatever the round trip. A fixed 256 KiB took 2-4 round trips to
 * drain at 100 ms RTT with a congestion window of 18-70 segments: echoes came back 320-400 ms
 * after their heartbeats, against a 500 ms lease, and a node lost it (docs/benchmarks.md, WAN).
 * On loopback and a LAN the window is large and the RTT tiny: LOWAT_MAX, so that the I/O
 * thread refills the socket seldom. */
#define LOWAT_SPAN_MS 20
#define LOWAT_EVERY_NS (10 * 1000000ull) /* TCP_INFO at most this often per link */
int gc_tcp_lowat(uint32_t cwnd, uint32_t mss, uint32_t rtt_us)
{
    if (!rtt_us) return LOWAT_MIN; /* no round trip measured yet */
    uint64_t b = (uint64_t)cwnd * mss * LOWAT_SPAN_MS * 1000 / rtt_us;
    return b < LOWAT_MIN ? LOWAT_MIN : b > LOWAT_MAX ? LOWAT_MAX : (int)b;
}

static void lowat_adapt(struct conn *c, uint64_t t)
{
    if (t - c->lowat_at < LOWAT_EVERY_NS) return;
    c->lowat_at = t;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || len < offsetof(struct tcp_info, tcpi_rcv_rtt))
        return;
    int lowat = gc_tcp_lowat(ti.tcpi_snd_cwnd, ti.tcpi_snd_mss, ti.tcpi_rtt);
    /* a change of less than an eighth is not worth a system call */
    int cur = c->lowat ? c->lowat : LOWAT_MIN;
    if (lowat - cur > cur / 8 || cur - lowat > cur / 8) {
        setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
        c->lowat = lowat;
    }
}

/* ---------- gc_env ---------- */

static uint64_t env_now(void *ctx) { (void)ctx; return mono_ns(); }

static uint64_t env_random(void *ctx)
{
    gc_node *n = ctx;
    uint64_t x = n->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return n->rng = x;
}

static void env_send(void *ctx, int link, const uint8_t *buf, size_t len, bool urgent)
{
    gc_node *n = ctx;
    struct conn *c = conn_by_id(n, link);
    if (!c || c->connecting || c->handshaking || c->sniffing) return;
    lowat_adapt(c, mono_ns());
    uint8_t hdr[GC_FRAME_HDR];
    /* TLS: the peer leaves the CRC to the record's tag (gc_frame_parse_authed), so none is made */
    if (c->tls) gc_frame_header_authed(hdr, len);
    else gc_frame_header(hdr, buf, len);
    size_t skip = 0; /* bytes of header + payload already written */
    /* Write straight from the caller's buffer when nothing must go first: for bulk, nothing
     * queued at all; for urgent, no urgent frame queued and no bulk frame half written. With
     * TLS the frame is queued whole first: one record for header and payload, not two. */
    bool direct = !c->tls && (urgent ? c->ulen == c->uoff && !c->frame_left : !conn_queued(c));
    if (direct) {
        struct iovec iov[2] = {{hdr, GC_FRAME_HDR}, {(void *)buf, len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t w;
        do w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return; /* the read side reports the failure */
        if (w > 0) skip = (size_t)w;
        if (skip == GC_FRAME_HDR + len) return;
    }
    /* queue the rest; a half-written frame is first in its queue and must be finished first */
    const uint8_t *h = hdr + (skip < GC_FRAME_HDR ? skip : GC_FRAME_HDR);
    size_t hlen = skip < GC_FRAME_HDR ? GC_FRAME_HDR - skip : 0;
    size_t pskip = skip > GC_FRAME_HDR ? skip - GC_FRAME_HDR : 0;
    bool ok = urgent ? queue_put(&c->uout, &c->uoff, &c->ulen, &c->ucap, h, hlen, buf + pskip, len - pskip)
                     : queue_put(&c->out, &c->outoff, &c->outlen, &c->outcap, h, hlen, buf + pskip, len - pskip);
    if (!ok) { /* a frame missing from the stream would break FIFO: end the link instead */
        tr_error("gcomm tcp: out of memory queueing %zu bytes to %s: closing the link", len, c->addr);
        shutdown(c->fd, SHUT_RDWR); /* the read side drops it in the next round */
        return;
    }
    if (!urgent && skip) c->frame_left = GC_FRAME_HDR + len - skip;
    if (c->tls && n->tls_hold) return; /* the round's end sends it, with what else comes */
    if (c->tls && !c->wpend && conn_flush(n, c) < 0) {
        shutdown(c->fd, SHUT_RDWR); /* the read side drops it in the next round */
        return;
    }
    conn_watch(n, c); /* the rest goes out on EPOLLOUT */
}

static int env_connect(void *ctx, const char *addr)
{
    gc_node *n = ctx;
    char host[GC_ADDR_MAX], port[8];
    uint16_t p;
    if (gc_addr_split(addr, host, sizeof host, &p)) return -1;
    snprintf(port, sizeof port, "%u", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) || !res) return -1;
    struct conn *c = NULL;
    for (int i = 0; i < MAX_CONNS; i++)
        if (!n->conns[i].used) { c = &n->conns[i]; break; }
    if (!c) { freeaddrinfo(res); return -1; }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { freeaddrinfo(res); return -1; }
    sock_tune(fd);
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc < 0 && errno != EINPROGRESS) { close(fd); return -1; }
    memset(c, 0, sizeof *c);
    conn_take(n, c);
    c->connecting = true;
    c->outbound = true;
    c->fd = fd;
    c->id = ++n->next_id;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->want_out = true;
    struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)(c - n->conns)};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, fd, &e);
    return c->id;
}

static void env_close(void *ctx, int link)
{
    gc_node *n = ctx;
    struct conn *c = conn_by_id(n, link);
    if (!c) return;
    if (conn_queued(c)) conn_flush(n, c); /* best effort: LEAVE and the like */
    conn_free(n, c);
}

static void queue_node(gc_node *n, struct evnode *e)
{
    e->next = NULL;
    pthread_mutex_lock(&n->qmu);
    if (n->qtail) n->qtail->next = e;
    else n->qhead = e;
    n->qtail = e;
    if (n->qwaiters) pthread_cond_signal(&n->qcv);
    pthread_mutex_unlock(&n->qmu);
}

/* A delivery this node cannot keep would leave a hole in the ordered stream: the consumer is
 * told instead (once; what follows is dropped), and must stop rather than diverge. */
static void deliver_failed(gc_node *n)
{
    struct evnode *e = n->fail_node;
    n->fail_node = NULL;
    if (!e) return;
    tr_error("gcomm: out of memory keeping a delivery: the ordered stream is incomplete here");
    queue_node(n, e);
}

static void push_event(gc_node *n, struct gc_event *ev)
{
    if (n->broadcasting) n->pushed_here = true; /* under mu: see gc_node_broadcast */
    struct evnode *e = malloc(sizeof *e);
    if (!e) {
        gc_event_free(ev);
        return deliver_failed(n);
    }
    e->ev = ev;
    queue_node(n, e);
}

static void env_deliver(void *ctx, const struct gc_delivery *d)
{
    gc_node *n = ctx;
    if (!n->fail_node) return; /* failed already: nothing after the hole is usable */
    struct gc_event *ev = calloc(1, sizeof *ev);
    if (!ev) return deliver_failed(n);
    if (d->kind == GC_DELIVER_VIEW) {
        ev->kind = GC_EV_VIEW;
        ev->view = *d->view;
        ev->my_index = d->my_index;
        ev->continuous = d->continuous;
        ev->seqno = d->close;
        ev->history = d->history;
        if (d->view->primary) n->primary_seen = true;
    } else {
        ev->kind = GC_EV_MSG;
        ev->sender = d->sender;
        ev->seqno = d->seqno;
        ev->history = d->history;
        ev->len = d->len;
        ev->data = malloc(d->len ? d->len : 1);
        if (!ev->data) {
            free(ev);
            return deliver_failed(n);
        }
        memcpy(ev->data, d->data, d->len);
    }
    push_event(n, ev);
}

static void env_persist(void *ctx, const uint8_t *buf, size_t len)
{
    gc_node *n = ctx;
    if (n->gvw_path[0]) gc_gvwstate_save(n->gvw_path, buf, len); /* logs its own failure */
}

/* ---------- the I/O thread ---------- */

static void drop_conn(gc_node *n, struct conn *c, const char *why)
{
    int id = c->id;
    bool was_connecting = c->connecting;
    if (why) tr_debug("gcomm tcp: %s (%s): %s", c->addr[0] ? c->addr : "inbound", was_connecting ? "connect" : "link", why);
    conn_free(n, c);
    gc_core_conn_down(n->core, id);
}

static const char *conn_name(const struct conn *c) { return c->addr[0] ? c->addr : "inbound peer"; }

/* A refused or failed link, said once per address and kind every REFUSAL_QUIET: a peer that
 * keeps dialling with a bad certificate, or a flood, must not fill the log; the next warning says
 * how many were not shown. addr: the dialled address, or the host of an accepted link (its port
 * changes each time). */
enum quiet_kind { Q_TLS, Q_LIMIT, Q_DEADLINE, Q_ALLOWLIST };
__attribute__((format(printf, 4, 5))) static void log_quiet(gc_node *n, enum quiet_kind kind, const char *addr,
                                                            const char *fmt, ...)
{
    char why[TR_TLS_ERR_MAX + 128], key[GC_ADDR_MAX];
    snprintf(key, sizeof key, "%d %s", (int)kind, addr);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    uint64_t t = mono_ns();
    int slot = 0;
    for (int i = 0; i < (int)(sizeof n->refused / sizeof n->refused[0]); i++) {
        if (!strcmp(n->refused[i].key, key)) { slot = i; goto found; }
        if (n->refused[i].last < n->refused[slot].last) slot = i;
    }
    memset(&n->refused[slot], 0, sizeof n->refused[slot]);
    snprintf(n->refused[slot].key, sizeof n->refused[slot].key, "%s", key);
found:;
    /* A label cannot precede a declaration before C23 (clang refuses it). */
    const uint64_t quiet = kind == Q_ALLOWLIST ? ALLOWLIST_QUIET_NS : REFUSAL_QUIET_NS;
    if (n->refused[slot].last && t - n->refused[slot].last < quiet) {
        n->refused[slot].hidden++;
        tr_debug("%s", why);
        return;
    }
    if (n->refused[slot].hidden)
        tr_warn("%s (and %u more like it with %s in the last %.0f s)", why, n->refused[slot].hidden, addr,
                (double)(t - n->refused[slot].last) / 1e9);
    else
        tr_warn("%s", why);
    n->refused[slot].last = t;
    n->refused[slot].hidden = 0;
}

static void log_refusal(gc_node *n, const struct conn *c, const char *why)
{
    log_quiet(n, Q_TLS, c->outbound ? c->addr : c->src, "gcomm tls: %s", why);
}

/* Reads into buf: bytes read (> 0), 0 when the peer closed, -1 when nothing is there now, -2 on
 * failure; *why says what ended the link. *held: TLS holds input that epoll does not know of
 * (the buffer filled first, or a failure to report next time): read again before sleeping. */
static ssize_t conn_recv(gc_node *n, struct conn *c, uint8_t *buf, size_t cap, const char **why, bool *held)
{
    *held = false;
    if (!c->tls) {
        ssize_t r;
        do r = recv(c->fd, buf, cap, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
        *why = r == 0 ? "closed by peer" : strerror(errno);
        return r < 0 ? -2 : r;
    }
    /* A TLS read returns one record: fill the buffer with several. Stop once OpenSSL holds
     * nothing and its last recv found the socket empty, as a plaintext read stops after one
     * short recv: asking again would cost a recv that only says EAGAIN. */
    size_t total = 0;
    while (total < cap) {
        size_t got;
        enum tr_tls_rc rc = tr_tls_read(c->tls, buf + total, cap - total, &got);
        if (rc == TR_TLS_OK) {
            total += got;
            if (tr_tls_drained(c->tls)) break;
            continue;
        }
        if (rc == TR_TLS_WANT_WRITE) { /* a post-handshake message to answer: go on when writable */
            c->tls_out = true;
            conn_watch(n, c);
        }
        /* WANT_READ: what OpenSSL holds (a part of a record at most) waits for the socket */
        if (rc == TR_TLS_WANT_READ || rc == TR_TLS_WANT_WRITE) break;
        if (total) { /* a failure repeats: report it next time, after these bytes */
            *held = true;
            break;
        }
        *why = tr_tls_why(c->tls);
        if (rc == TR_TLS_FAIL) log_refusal(n, c, *why); /* e.g. the peer refused our certificate */
        return rc == TR_TLS_CLOSED ? 0 : -2;
    }
    if (total == cap) *held = !tr_tls_drained(c->tls);
    if (tr_tls_unsent(c->tls)) conn_watch(n, c); /* the read answered the peer: EPOLLOUT sends it */
    return total ? (ssize_t)total : -1;
}

static void on_readable(gc_node *n, struct conn *c)
{
    /* gcs.max_packet_size cuts user messages; control frames (HELLO with its gossip, view
     * changes) may be larger than a tiny setting (MariaDB's tests use 64), never than this */
    size_t maxp = (n->cfg.max_packet_size < 65536 ? 65536 : n->cfg.max_packet_size) + GC_FRAME_SLACK;
    /* Epoll is level-triggered: what is left is read in the next round. Without a budget a peer
     * that keeps sending holds this thread here, and timers and the other links starve. */
    bool held = false; /* TLS: input inside OpenSSL that epoll will not report */
    for (int budget = READ_BUDGET; budget > 0; budget--) {
        if (c->incap - c->inlen < READ_CHUNK) {
            size_t cap = c->incap ? c->incap : READ_CHUNK * 2;
            while (cap - c->inlen < READ_CHUNK) cap *= 2;
            uint8_t *p = realloc(c->in, cap);
            if (!p) { drop_conn(n, c, "out of memory"); return; }
            c->in = p;
            c->incap = cap;
        }
        const char *why = NULL;
        ssize_t r = conn_recv(n, c, c->in + c->inlen, c->incap - c->inlen, &why, &held);
        if (r == -1) break;
        if (r <= 0) {
            if (c->inlen) /* a peer that died mid-send, or a bad one: say what was dropped */
                tr_info("gcomm tcp: connection from %s ended inside a frame (%zu bytes of it received, %s): dropped",
                        conn_name(c), c->inlen, why);
            drop_conn(n, c, why);
            return;
        }
        c->inlen += (size_t)r;
        size_t off = 0;
        int id = c->id;
        while (off < c->inlen) {
            const uint8_t *payload;
            size_t plen, used;
            /* TLS: the record's tag authenticated these bytes; the frame CRC would only repeat it */
            enum gc_frame_rc rc = c->tls ? gc_frame_parse_authed(c->in + off, c->inlen - off, maxp, &payload, &plen, &used)
                                         : gc_frame_parse(c->in + off, c->inlen - off, maxp, &payload, &plen, &used);
            if (rc == GC_FRAME_MORE) break;
            if (rc != GC_FRAME_OK) {
                if (!c->tls && !n->tls && tr_tls_starts_handshake(c->in + off, c->inlen - off))
                    tr_warn("gcomm tcp: %s speaks TLS, and this node has no socket.ssl: refused", conn_name(c));
                else
                    tr_warn("gcomm tcp: %s frame from %s: disconnecting",
                            rc == GC_FRAME_TOO_BIG ? "oversized" : "corrupt", conn_name(c));
                drop_conn(n, c, NULL);
                return;
            }
            if (c->pending) { /* a whole first frame: the core judges it from here on */
                c->pending = false;
                c->deadline = 0;
                n->npending--;
            }
            gc_core_recv(n->core, id, payload, plen);
            n->round_frames++;
            n->round_bytes += plen;
            if (!c->used || c->id != id) return; /* the core closed it */
            off += used;
        }
        if (off) {
            memmove(c->in, c->in + off, c->inlen - off);
            c->inlen -= off;
        }
        if (c->inlen && !c->pending) gc_core_recv_partial(n->core, id); /* a frame under way */
        if ((size_t)r < READ_CHUNK) break;
    }
    if (held && !c->more) { /* the budget ran out with input inside TLS: epoll will not say so */
        c->more = true;
        n->nmore++;
    }
}

/* socket.dynamic: dial addr in plaintext? (It answered our TLS in plaintext lately.) */
static bool dial_plain(gc_node *n, const char *addr)
{
    uint64_t t = mono_ns();
    for (size_t i = 0; i < sizeof n->plain / sizeof n->plain[0]; i++)
        if (n->plain[i].until > t && !strcmp(n->plain[i].addr, addr)) return true;
    return false;
}

static void remember_plain(gc_node *n, const char *addr)
{
    size_t slot = 0;
    for (size_t i = 0; i < sizeof n->plain / sizeof n->plain[0]; i++)
        if (n->plain[i].until < n->plain[slot].until) slot = i;
    snprintf(n->plain[slot].addr, sizeof n->plain[slot].addr, "%s", addr);
    n->plain[slot].until = mono_ns() + PLAIN_KEEP_NS;
    tr_warn("gcomm tls: %s does not answer TLS: dialling it in plaintext for %.0f s (socket.dynamic is on)", addr,
            PLAIN_KEEP_NS / 1e9);
}

/* Hands a link whose transport is ready (TCP up, TLS done) to the core, then reads whatever
 * came with the last handshake flight. */
static void link_ready(gc_node *n, struct conn *c)
{
    int id = c->id;
    conn_watch(n, c);
    gc_core_conn_up(n->core, id, c->outbound ? c->addr : NULL);
    if (c->used && c->id == id && !c->connecting) on_readable(n, c);
}

static void handshake_step(gc_node *n, struct conn *c)
{
    enum tr_tls_rc rc = tr_tls_handshake(c->tls);
    if (rc == TR_TLS_WANT_READ || rc == TR_TLS_WANT_WRITE) {
        c->tls_out = rc == TR_TLS_WANT_WRITE;
        conn_watch(n, c);
        return;
    }
    if (rc != TR_TLS_OK) {
        if (n->cfg.tls.dynamic && c->outbound && tr_tls_failure(c->tls) == TR_TLS_F_NOT_TLS)
            remember_plain(n, c->addr);
        log_refusal(n, c, tr_tls_why(c->tls));
        drop_conn(n, c, NULL);
        return;
    }
    c->handshaking = false;
    c->tls_out = false;
    tr_tls_batch(c->tls); /* records of queued frames leave together (conn_flush) */
    if (c->outbound) c->deadline = 0; /* an accepted link has its HELLO still to send */
    char d[400];
    tr_tls_describe(c->tls, d, sizeof d);
    tr_debug("gcomm tls: link %s %s: %s", c->outbound ? "to" : "from", conn_name(c), d);
    link_ready(n, c);
}

static void start_tls(gc_node *n, struct conn *c, enum tr_tls_role role)
{
    c->tls = tr_tls_new(n->tls, c->fd, role, conn_name(c));
    if (!c->tls) {
        drop_conn(n, c, "out of memory starting TLS");
        return;
    }
    c->handshaking = true;
    if (!c->deadline) c->deadline = mono_ns() + n->cfg.peer_timeout_ns;
    handshake_step(n, c);
}

/* socket.dynamic, an accepted link: a TLS ClientHello or plaintext? SO_RCVLOWAT holds the
 * readiness back until 3 bytes are in, enough to tell (gc_tcp's first frame is a HELLO below
 * 64 KiB, so its third byte is 0; a TLS record's is its minor version). */
static void sniff(gc_node *n, struct conn *c)
{
    uint8_t b[3];
    ssize_t r;
    do r = recv(c->fd, b, sizeof b, MSG_PEEK);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r < (ssize_t)sizeof b) { /* readable with fewer bytes: it hung up or failed */
        drop_conn(n, c, r < 0 ? strerror(errno) : "closed before saying anything");
        return;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    c->sniffing = false;
    if (tr_tls_starts_handshake(b, sizeof b)) {
        start_tls(n, c, TR_TLS_SERVER);
        return;
    }
    tr_info("gcomm tls: a plaintext link from %s let in (socket.dynamic is on)", conn_name(c));
    link_ready(n, c);
}

static void on_event(gc_node *n, struct conn *c, uint32_t evs)
{
    if (c->connecting) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (evs & (EPOLLERR | EPOLLHUP))) { drop_conn(n, c, err ? strerror(err) : "hangup"); return; }
        if (!(evs & EPOLLOUT)) return;
        c->connecting = false;
        c->want_out = true; /* conn_watch sees a change: EPOLLOUT off until needed */
        if (n->tls && !(n->cfg.tls.dynamic && dial_plain(n, c->addr))) start_tls(n, c, TR_TLS_CLIENT);
        else link_ready(n, c);
        return;
    }
    if (c->sniffing) { sniff(n, c); return; }
    if (c->handshaking) { handshake_step(n, c); return; }
    int id = c->id;
    bool retry_read = c->tls_out && (evs & EPOLLOUT); /* a TLS read that had to write first */
    if (retry_read) c->tls_out = false;
    if (evs & (EPOLLIN | EPOLLHUP | EPOLLERR) || retry_read) on_readable(n, c);
    if (!c->used || c->id != id) return;
    if (evs & EPOLLOUT)
        if (conn_flush(n, c) < 0) drop_conn(n, c, "write failed");
}

/* "1.2.3.4:5" or "[::1]:5" (with_port), or the address alone. */
/* Whether one more accepted link from src fits the limits; if not, says why (once in a while). */
static bool accept_fits(gc_node *n, const char *src)
{
    int from = 0, pending_from = 0;
    for (int i = 0; i < MAX_CONNS; i++) {
        const struct conn *c = &n->conns[i];
        if (!c->used || c->outbound || strcmp(c->src, src)) continue;
        from++;
        pending_from += c->pending;
    }
    const char *r = "gcomm tcp: refused a connection from";
    if (pending_from >= PENDING_PER_SOURCE)
        log_quiet(n, Q_LIMIT, src, "%s %s: %d handshakes in progress from that address (at most %d)", r, src,
                  pending_from, PENDING_PER_SOURCE);
    else if (n->npending >= PENDING_MAX)
        log_quiet(n, Q_LIMIT, src, "%s %s: %d handshakes in progress (at most %d)", r, src, n->npending, PENDING_MAX);
    else if (from >= CONNS_PER_SOURCE)
        log_quiet(n, Q_LIMIT, src, "%s %s: %d links from that address (at most %d)", r, src, from, CONNS_PER_SOURCE);
    else
        return true;
    return false;
}

/* Whether the host's allowlist (gc_config.allow) lets src try to join. A refusal is remembered
 * for DENIED_FOR so that a peer that keeps dialling is not asked about each time. */
static bool peer_allowed(gc_node *n, const char *src)
{
    if (!n->cfg.allow) return true;
    uint64_t t = mono_ns();
    int slot = 0;
    for (int i = 0; i < (int)(sizeof n->denied / sizeof n->denied[0]); i++) {
        if (!strcmp(n->denied[i].src, src) && t < n->denied[i].until) {
            slot = -1;
            break;
        }
        if (n->denied[i].until < n->denied[slot].until) slot = i;
    }
    if (slot >= 0) {
        if (n->cfg.allow(n->cfg.allow_ctx, src)) return true;
        snprintf(n->denied[slot].src, sizeof n->denied[slot].src, "%s", src);
        n->denied[slot].until = t + DENIED_FOR_NS;
    }
    log_quiet(n, Q_ALLOWLIST, src, "gcomm tcp: refused a connection from %s: not in the allowlist (wsrep_allowlist)",
              src);
    return false;
}

static void on_accept(gc_node *n)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(n->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        char src[INET6_ADDRSTRLEN];
        tr_sockaddr_text(&ss, src, sizeof src, false);
        struct conn *c = NULL;
        for (int i = 0; i < MAX_CONNS; i++)
            if (!n->conns[i].used) { c = &n->conns[i]; break; }
        if (!c || !accept_fits(n, src) || !peer_allowed(n, src)) {
            if (!c)
                log_quiet(n, Q_LIMIT, src, "gcomm tcp: refused a connection from %s: all %d connections in use", src,
                          MAX_CONNS);
            struct linger lg = {1, 0}; /* a reset, not a FIN: no TIME_WAIT left behind per refusal */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(fd);
            continue;
        }
        sock_tune(fd);
        memset(c, 0, sizeof *c);
        conn_take(n, c);
        c->fd = fd;
        c->id = ++n->next_id;
        tr_sockaddr_text(&ss, c->addr, sizeof c->addr, true);
        memcpy(c->src, src, sizeof c->src);
        c->pending = true;
        c->deadline = mono_ns() + n->cfg.peer_timeout_ns;
        n->npending++;
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = (uint64_t)(c - n->conns)};
        epoll_ctl(n->ep, EPOLL_CTL_ADD, fd, &e);
        if (n->tls && n->cfg.tls.dynamic) {
            int three = 3;
            setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &three, sizeof three);
            c->sniffing = true; /* the peer speaks first (its HELLO, or a ClientHello) */
        } else if (n->tls) {
            start_tls(n, c, TR_TLS_SERVER);
        } else {
            gc_core_conn_up(n->core, c->id, NULL);
        }
    }
}

/* Links past their deadline (gmcast.peer_timeout) without proving themselves are closed. */
static void sweep_deadlines(gc_node *n, uint64_t t)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &n->conns[i];
        if (!c->used || !c->deadline || t < c->deadline) continue;
        const char *what = c->sniffing      ? "sent nothing"
                           : c->handshaking ? "did not finish the TLS handshake"
                                            : "sent no whole first frame (HELLO)";
        log_quiet(n, Q_DEADLINE, c->outbound ? c->addr : c->src, "gcomm %s: %s %s within gmcast.peer_timeout "
                  "(%.1f s): closed", c->tls ? "tls" : "tcp", conn_name(c), what, (double)n->cfg.peer_timeout_ns / 1e9);
        drop_conn(n, c, NULL);
    }
}

#define TAG_LISTEN (1ull << 40)
#define TAG_WAKE (1ull << 41)

static void close_queue(gc_node *n)
{
    pthread_mutex_lock(&n->qmu);
    n->qclosed = true;
    pthread_cond_broadcast(&n->qcv);
    pthread_mutex_unlock(&n->qmu);
}

/* TLS: the end of a poll round: each link's frames queued during it leave together. */
static void tls_flush_round(gc_node *n)
{
    n->tls_hold = false;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &n->conns[i];
        if (!c->used || !c->tls || c->handshaking || c->wpend || !conn_queued(c)) continue;
        if (conn_flush(n, c) < 0) shutdown(c->fd, SHUT_RDWR); /* the read side drops it next round */
    }
}

/* One round: wait for sockets (at most until the next tick and max_ms), handle what is ready,
 * send coalesced acks, run the tick when due. Only the holder of the poll role calls it; spin:
 * a consumer's round, which busy-polls first (the I/O thread's never does: it would spin
 * while the application is busy, when nobody waits for the event); *input: frames came in. */
static bool poll_round(gc_node *n, int64_t max_ms, bool spin, bool *input)
{
    struct epoll_event evs[64];
    uint64_t t = mono_ns(), nt = atomic_load(&n->next_tick);
    int64_t timeout = t >= nt ? 0 : (int64_t)((nt - t) / 1000000) + 1;
    if (max_ms >= 0 && timeout > max_ms) timeout = max_ms;
    if (atomic_load(&n->nmore)) timeout = 0; /* decrypted input is waiting */
    int k = 0;
    *input = false;
    if (spin && n->cfg.busy_poll_us && timeout > 0) {
        /* trireme.busy_poll_us: a consumer waiting for the next event looks again for a short
         * while before it sleeps, so a reply that comes back quickly does not pay for waking it;
         * sched_yield lets any other runnable thread on this CPU go first meanwhile. */
        uint64_t spin_ns = (uint64_t)n->cfg.busy_poll_us * 1000, cap = (uint64_t)timeout * 1000000;
        uint64_t until = t + (spin_ns < cap ? spin_ns : cap); /* never past the tick or deadline */
        while ((k = epoll_wait(n->ep, evs, 64, 0)) == 0 && mono_ns() < until) sched_yield();
    }
    if (k == 0) k = epoll_wait(n->ep, evs, 64, (int)timeout);
    pthread_mutex_lock(&n->mu);
    if (atomic_load(&n->stopping)) { /* gc_node_stop closes the sockets under mu: touch nothing */
        pthread_mutex_unlock(&n->mu);
        return false;
    }
    n->round_frames = 0;
    n->round_bytes = 0;
    n->tls_hold = n->tls != NULL;
    for (int i = 0; i < k; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag == TAG_LISTEN) on_accept(n);
        else if (tag == TAG_WAKE) {
            uint64_t v;
            if (read(n->wake, &v, sizeof v) < 0) { /* nothing to drain */ }
        } else if (tag < MAX_CONNS && n->conns[tag].used) {
            on_event(n, &n->conns[tag], evs[i].events);
        }
    }
    for (int i = 0; n->nmore && i < MAX_CONNS; i++) {
        struct conn *c = &n->conns[i];
        if (!c->used || !c->more) continue;
        c->more = false;
        n->nmore--;
        on_readable(n, c);
    }
    gc_core_flush(n->core);
    if (n->tls) tls_flush_round(n);
    t = mono_ns();
    if (t >= atomic_load(&n->next_tick)) {
        sweep_deadlines(n, t);
        gc_core_tick(n->core);
        atomic_store(&n->next_tick, t + gc_core_tick_interval(n->core));
    }
    bool left = gc_core_has_left(n->core);
    if (n->send_waiters) pthread_cond_broadcast(&n->scv); /* own messages may have been delivered */
    bool heavy = n->round_frames >= HEAVY_FRAMES || n->round_bytes >= HEAVY_BYTES;
    *input = n->round_frames > 0;
    pthread_mutex_unlock(&n->mu);
    if (left && !atomic_exchange(&n->io_exit, true)) {
        close_queue(n);
        pthread_mutex_lock(&n->pmu);
        pthread_cond_broadcast(&n->pcv);
        pthread_mutex_unlock(&n->pmu);
    }
    return heavy;
}

static bool io_done(gc_node *n)
{
    return !atomic_load(&n->live) || atomic_load(&n->stopping) || atomic_load(&n->io_exit);
}

static void *io_main(void *arg)
{
    gc_node *n = arg;
    uint64_t seen = UINT64_MAX;
    for (;;) {
        pthread_mutex_lock(&n->pmu);
        while (!io_done(n) && (n->consumer_polls || n->consumer_wants)) {
            if ((n->consumer_inside || n->consumer_wants) && n->consumer_turns == seen) {
                /* the same wait as a grace ago: the node is quiet. Sleep until poll_release
                 * wakes us (an idle node woke here 500 times a second); a busy node never
                 * parks, so its releases pay for no wake-up. */
                n->io_parked = true;
                pthread_cond_wait(&n->pcv, &n->pmu);
                n->io_parked = false;
                continue;
            }
            seen = n->consumer_turns;
            uint64_t away = n->consumer_inside || n->consumer_wants ? 0 : mono_ns() - n->consumer_away;
            if (away >= POLL_GRACE_NS) {
                n->consumer_polls = false; /* the consumer is busy elsewhere: poll for it */
                break;
            }
            struct timespec dl = tr_deadline_in((int64_t)(POLL_GRACE_NS - away));
            pthread_cond_timedwait(&n->pcv, &n->pmu, &dl);
        }
        if (io_done(n)) { pthread_mutex_unlock(&n->pmu); break; }
        n->io_polling = true;
        pthread_mutex_unlock(&n->pmu);
        bool input;
        (void)poll_round(n, -1, false, &input);
        pthread_mutex_lock(&n->pmu);
        n->io_polling = false;
        if (n->consumer_wants) pthread_cond_broadcast(&n->pcv);
        pthread_mutex_unlock(&n->pmu);
    }
    close_queue(n);
    pthread_mutex_lock(&n->pmu);
    pthread_cond_broadcast(&n->pcv); /* a consumer waiting for the role */
    pthread_mutex_unlock(&n->pmu);
    return NULL;
}

/* ---------- API ---------- */

/* Fail closed: a node configured for TLS that cannot load its files does not start. */
static int tls_setup(gc_node *n)
{
    if (!n->cfg.tls.enabled) {
        if (n->cfg.tls.dynamic) tr_info("gcomm: socket.dynamic is set, but TLS is off: every link is plaintext");
        return 0;
    }
    char err[TR_TLS_ERR_MAX], d[800];
    if (!(n->tls = tr_tls_ctx_new(&n->cfg.tls, err, sizeof err))) {
        tr_error("gcomm: TLS cannot be set up: %s", err);
        return -1;
    }
    tr_tls_ctx_describe(n->tls, d, sizeof d);
    tr_info("gcomm: TLS on every link, peers verified against the CA: %s", d);
    if (n->cfg.tls.dynamic)
        tr_warn("gcomm: socket.dynamic is on: plaintext peers are let in and dialled too (for a migration to "
                "TLS; turn it off once every node has socket.ssl)");
    return 0;
}

gc_node *gc_node_create(const struct gc_config *cfg)
{
    gc_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->cfg = *cfg;
    n->ep = n->lfd = n->wake = -1;
    /* what peers dial, in the one form addresses are compared in (IPv6 in brackets) */
    if (!n->cfg.advertise_addr[0] &&
        gc_config_advertised(cfg, n->cfg.advertise_addr, sizeof n->cfg.advertise_addr))
        tr_warn("gcomm: cannot tell the address to advertise from gmcast.listen_addr '%s' and base_host '%s'",
                cfg->listen_addr, cfg->base_host);
    for (int i = 0; i < MAX_CONNS; i++) n->conns[i].fd = -1;
    n->fail_node = calloc(1, sizeof *n->fail_node);
    if (n->fail_node) n->fail_node->ev = calloc(1, sizeof *n->fail_node->ev);
    if (!n->fail_node || !n->fail_node->ev) {
        if (n->fail_node) free(n->fail_node);
        free(n);
        return NULL;
    }
    n->fail_node->ev->kind = GC_EV_FAILED;
    if (getrandom(&n->rng, sizeof n->rng, 0) != sizeof n->rng || !n->rng) n->rng = mono_ns() | 1;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->qmu, NULL);
    /* both are waited on with monotonic deadlines (tr_deadline_in) */
    tr_cond_init_mono(&n->qcv);
    pthread_mutex_init(&n->pmu, NULL);
    tr_cond_init_mono(&n->pcv);
    tr_cond_init_mono(&n->scv);
    uint8_t *gvw = NULL;
    size_t gvwlen = 0;
    if (cfg->data_dir[0]) {
        snprintf(n->gvw_path, sizeof n->gvw_path, "%s/gvwstate.dat", cfg->data_dir);
        FILE *f = fopen(n->gvw_path, "rb");
        if (f) {
            gvw = malloc(65536);
            if (gvw) gvwlen = fread(gvw, 1, 65536, f);
            fclose(f);
        }
    }
    struct gc_env env = {.ctx = n, .now = env_now, .random = env_random, .send = env_send, .connect = env_connect,
                         .close = env_close, .deliver = env_deliver, .persist = env_persist};
    n->core = gc_core_new(&n->cfg, &env, gvw, gvwlen);
    free(gvw);
    if (!n->core || tls_setup(n)) {
        gc_node_destroy(n);
        return NULL;
    }
    return n;
}

int gc_node_start(gc_node *n)
{
    char host[GC_ADDR_MAX];
    uint16_t port;
    if (gc_addr_split(n->cfg.listen_addr, host, sizeof host, &port)) return -EINVAL;
    n->ep = epoll_create1(EPOLL_CLOEXEC);
    n->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->ep < 0 || n->wake < 0) return -errno;
    /* IPv4 or IPv6 as the host says; "::" also takes IPv4 peers (as IPv4-mapped addresses) */
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) || !res) {
        tr_error("gcomm: cannot listen on %s: unknown host '%s'", n->cfg.listen_addr, host);
        return -EINVAL;
    }
    n->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (n->lfd < 0) { freeaddrinfo(res); return -errno; }
    int one = 1, zero = 0;
    setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(n->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    int brc = bind(n->lfd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (brc || listen(n->lfd, 128)) {
        int e = errno;
        tr_error("gcomm: cannot listen on %s: %s", n->cfg.listen_addr, strerror(e));
        return -e;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(n->lfd, (struct sockaddr *)&sa, &sl);
    uint16_t actual = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                     : ((struct sockaddr_in *)&sa)->sin_port);
    char adv[GC_ADDR_MAX], ahost[GC_ADDR_MAX];
    uint16_t aport;
    if (gc_config_advertised(&n->cfg, adv, sizeof adv) || gc_addr_split(adv, ahost, sizeof ahost, &aport) ||
        gc_addr_join(n->listen_actual, sizeof n->listen_actual, ahost, port ? aport : actual))
        snprintf(n->listen_actual, sizeof n->listen_actual, "%s", adv);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, n->lfd, &e);
    struct epoll_event w = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    epoll_ctl(n->ep, EPOLL_CTL_ADD, n->wake, &w);
    pthread_mutex_lock(&n->mu);
    gc_core_start(n->core);
    atomic_store(&n->next_tick, mono_ns() + gc_core_tick_interval(n->core));
    pthread_mutex_unlock(&n->mu);
    n->running = true;
    n->started = true;
    atomic_store(&n->live, true);
    if (pthread_create(&n->thr, NULL, io_main, n)) {
        n->running = false;
        atomic_store(&n->live, false);
        return -EAGAIN;
    }
    if (n->cfg.wait_prim) {
        uint64_t deadline = mono_ns() + n->cfg.wait_prim_timeout_ns;
        while (!gc_node_is_primary(n)) {
            if (mono_ns() >= deadline) {
                tr_error("gcomm: no primary component within pc.wait_prim_timeout");
                gc_node_stop(n);
                return -ETIMEDOUT;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

static void wake(gc_node *n)
{
    uint64_t one = 1;
    if (n->wake >= 0 && write(n->wake, &one, sizeof one) < 0) { /* counter full: already awake */ }
}

int gc_node_broadcast(gc_node *n, const void *buf, size_t len)
{
    pthread_mutex_lock(&n->mu);
    n->pushed_here = false;
    n->broadcasting = true;
    int rc = atomic_load(&n->stopping) ? -ESHUTDOWN : gc_core_broadcast(n->core, buf, len);
    n->broadcasting = false;
    bool delivered = n->pushed_here;
    if (delivered && n->send_waiters) pthread_cond_broadcast(&n->scv);
    pthread_mutex_unlock(&n->mu);
    /* Sends were written through, or EPOLLOUT is armed for the rest; but a delivery made on
     * this thread (a group of one orders and delivers at once) must wake a consumer that
     * sleeps in epoll_wait, or it would wait for the next tick. A consumer asleep on the queue
     * was signalled by the push; writing the eventfd then would only wake the I/O thread. The
     * push (under qmu) comes before this load, and a consumer sets consumer_inside before it
     * looks at the queue: one of the two sees the other's write (the fence orders the qmu
     * release before the load). */
    atomic_thread_fence(memory_order_seq_cst);
    if (delivered && atomic_load(&n->consumer_inside)) wake(n);
    return rc;
}

static struct gc_event *queue_pop(gc_node *n)
{
    struct evnode *e = n->qhead;
    if (!e) return NULL;
    n->qhead = e->next;
    if (!n->qhead) n->qtail = NULL;
    struct gc_event *ev = e->ev;
    free(e);
    return ev;
}

/* Takes the poll role for the calling consumer; false if another consumer polls or nobody may. */
static bool poll_acquire(gc_node *n)
{
    pthread_mutex_lock(&n->pmu);
    bool ok = false;
    if (io_done(n) || n->consumer_inside || n->consumer_wants || mono_ns() < n->consumer_backoff) goto out;
    if (!n->consumer_polls) {
        n->consumer_wants = true;
        if (n->io_polling) wake(n);
        while (n->io_polling && !io_done(n)) pthread_cond_wait(&n->pcv, &n->pmu);
        n->consumer_wants = false;
        if (io_done(n)) goto out;
        n->consumer_polls = true;
    }
    n->consumer_inside = ok = true;
    n->consumer_turns++;
out:
    pthread_mutex_unlock(&n->pmu);
    return ok;
}

/* heavy: hand the role back to the I/O thread for HEAVY_BACKOFF_NS. */
static void poll_release(gc_node *n, bool heavy)
{
    pthread_mutex_lock(&n->pmu);
    n->consumer_inside = false;
    n->consumer_away = mono_ns();
    if (heavy) {
        n->consumer_polls = false;
        n->consumer_backoff = n->consumer_away + HEAVY_BACKOFF_NS;
        pthread_cond_broadcast(&n->pcv);
    } else if (n->io_parked) {
        pthread_cond_broadcast(&n->pcv); /* start the I/O thread's grace clock */
    }
    pthread_mutex_unlock(&n->pmu);
}

int gc_node_recv(gc_node *n, struct gc_event **ev, int64_t timeout_ns)
{
    uint64_t start = mono_ns(), deadline = timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns;
    *ev = NULL;
    for (;;) {
        pthread_mutex_lock(&n->qmu);
        *ev = queue_pop(n);
        bool closed = n->qclosed;
        pthread_mutex_unlock(&n->qmu);
        if (*ev) return 0;
        if (closed) return -ESHUTDOWN;
        uint64_t t = mono_ns();
        if (t >= deadline) return -ETIMEDOUT;
        if (!atomic_load(&n->nlinks)) {
            /* No link: nothing can come from a socket, and what this node delivers (its own
             * broadcasts in a group of one, the I/O thread's ticks) signals the queue. Sleep on
             * it rather than poll: a wake-up through the eventfd and epoll, and the busy poll,
             * cost a group of one CPU for every write-set. The first link ends the sleep
             * (conn_take), so that the consumer polls again. */
            pthread_mutex_lock(&n->qmu);
            if (!n->qhead && !n->qclosed && !atomic_load(&n->nlinks)) {
                n->qwaiters++;
                if (deadline == UINT64_MAX) {
                    pthread_cond_wait(&n->qcv, &n->qmu);
                } else {
                    struct timespec dl = tr_deadline_in((int64_t)(deadline - t));
                    pthread_cond_timedwait(&n->qcv, &n->qmu, &dl);
                }
                n->qwaiters--;
            }
            pthread_mutex_unlock(&n->qmu);
            continue;
        }
        if (poll_acquire(n)) {
            /* poll until an event is queued or the time is up; the queue first, since the I/O
             * thread may have queued one while handing the role over (epoll would not say so,
             * and the wait could last until the next tick) */
            /* busy-poll at the start of a wait and while frames come in, not after a quiet
             * round: an idle node would spin at every tick */
            bool heavy = false, spin = true;
            for (;;) {
                pthread_mutex_lock(&n->qmu);
                *ev = queue_pop(n);
                closed = n->qclosed;
                pthread_mutex_unlock(&n->qmu);
                if (*ev || closed || t >= deadline || io_done(n) || heavy) break;
                uint64_t left = deadline - t;
                heavy = poll_round(n, deadline == UINT64_MAX ? -1 : (int64_t)(left / 1000000) + (left % 1000000 != 0), spin, &spin);
                t = mono_ns();
            }
            poll_release(n, heavy);
            if (*ev) return 0;
            continue;
        }
        /* another thread polls: sleep on the queue (bounded, to re-check the poll role) */
        uint64_t until = t + POLL_GRACE_NS < deadline ? t + POLL_GRACE_NS : deadline;
        struct timespec dl = tr_deadline_in((int64_t)(until - t));
        pthread_mutex_lock(&n->qmu);
        if (!n->qhead && !n->qclosed) {
            n->qwaiters++;
            pthread_cond_timedwait(&n->qcv, &n->qmu, &dl);
            n->qwaiters--;
        }
        pthread_mutex_unlock(&n->qmu);
    }
}

void gc_event_free(struct gc_event *ev)
{
    if (!ev) return;
    free(ev->data);
    free(ev);
}

void gc_node_fc(gc_node *n, bool stop)
{
    pthread_mutex_lock(&n->mu);
    gc_core_fc(n->core, stop);
    pthread_mutex_unlock(&n->mu);
    wake(n);
}

int gc_node_leave(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    gc_core_leave(n->core);
    pthread_mutex_unlock(&n->mu);
    wake(n);
    uint64_t deadline = mono_ns() + 5000000000ull;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool left = gc_core_has_left(n->core);
        pthread_mutex_unlock(&n->mu);
        if (left) return 0;
        if (mono_ns() > deadline) return -ETIMEDOUT;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

void gc_node_set_weight(gc_node *n, uint8_t w)
{
    pthread_mutex_lock(&n->mu);
    bool prim = gc_core_view_weight(n->core) >= 0;
    gc_core_set_weight(n->core, w);
    int now_w = gc_core_view_weight(n->core);
    pthread_mutex_unlock(&n->mu);
    /* As with Galera, the call returns once the primary view carries the new weight, so that a
     * partition right after it is decided with it (MariaDB's galera_shutdown_nonprim does
     * that), and wsrep_cluster_weight read right after counts it (galera_pc_weight): also
     * through the view change that carries it, when we were in a primary view. Bounded: the
     * group may be changing anyway. */
    uint64_t deadline = mono_ns() + 2 * n->cfg.keepalive_ns + 1000000000ull;
    while (prim && now_w != w && mono_ns() < deadline) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&n->mu);
        now_w = gc_core_view_weight(n->core);
        pthread_mutex_unlock(&n->mu);
    }
}

void gc_node_set_ignore(gc_node *n, bool ignore_sb, bool ignore_quorum)
{
    pthread_mutex_lock(&n->mu);
    gc_core_set_ignore(n->core, ignore_sb, ignore_quorum);
    pthread_mutex_unlock(&n->mu);
}

void gc_node_bootstrap(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    gc_core_bootstrap(n->core);
    pthread_mutex_unlock(&n->mu);
    wake(n);
}

void gc_node_set_isolate(gc_node *n, bool on)
{
    pthread_mutex_lock(&n->mu);
    gc_core_set_isolate(n->core, on);
    pthread_mutex_unlock(&n->mu);
    wake(n);
}

void gc_node_evict(gc_node *n, const tr_uuid *u)
{
    pthread_mutex_lock(&n->mu);
    if (u) gc_core_evict(n->core, u);
    else gc_core_evict_clear(n->core);
    pthread_mutex_unlock(&n->mu);
    wake(n);
}

void gc_node_set_auto_evict(gc_node *n, uint32_t count)
{
    pthread_mutex_lock(&n->mu);
    gc_core_set_auto_evict(n->core, count);
    pthread_mutex_unlock(&n->mu);
}

int gc_node_delayed(gc_node *n, struct gc_delayed_entry *out, int max)
{
    pthread_mutex_lock(&n->mu);
    int k = gc_core_delayed(n->core, out, max);
    pthread_mutex_unlock(&n->mu);
    return k;
}

void gc_node_evict_list(gc_node *n, gc_evict_list *out)
{
    pthread_mutex_lock(&n->mu);
    *out = *gc_core_evict_list(n->core);
    pthread_mutex_unlock(&n->mu);
}

bool gc_node_evicted(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool e = gc_core_evicted(n->core);
    pthread_mutex_unlock(&n->mu);
    return e;
}

int gc_node_tls_reload(gc_node *n, char *err, size_t errlen)
{
    if (!n->tls) {
        snprintf(err, errlen, "TLS is not configured (socket.ssl)");
        return -1;
    }
    if (tr_tls_ctx_reload(n->tls, err, errlen)) return -1; /* thread-safe: the I/O thread goes on */
    char d[800];
    tr_tls_ctx_describe(n->tls, d, sizeof d);
    tr_info("gcomm: TLS files reloaded (socket.ssl_reload), used for new links from now on: %s", d);
    return 0;
}

bool gc_node_is_primary(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool p = gc_core_is_primary(n->core);
    pthread_mutex_unlock(&n->mu);
    return p;
}

int gc_node_wait_sent(gc_node *n, uint64_t max, int64_t timeout_ns)
{
    int rc = 0;
    struct timespec dl = tr_deadline_in(timeout_ns);
    pthread_mutex_lock(&n->mu);
    while (gc_core_pending(n->core) > max) {
        if (atomic_load(&n->stopping) || gc_core_has_left(n->core)) {
            rc = -ESHUTDOWN;
            break;
        }
        n->send_waiters++; /* poll rounds signal it */
        int w = pthread_cond_timedwait(&n->scv, &n->mu, &dl);
        n->send_waiters--;
        if (w == ETIMEDOUT && gc_core_pending(n->core) > max) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

void gc_node_stats(gc_node *n, struct gc_stats *st)
{
    pthread_mutex_lock(&n->mu);
    gc_core_stats(n->core, st);
    pthread_mutex_unlock(&n->mu);
}

void gc_node_stats_flush(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    gc_core_stats_flush(n->core);
    pthread_mutex_unlock(&n->mu);
}

const char *gc_node_listen_addr(gc_node *n) { return n->listen_actual; }

int gc_node_peer_hosts(gc_node *n, const tr_uuid *uuid, char (*hosts)[GC_HOST_MAX], int max)
{
    int link = -1, k = 0;
    char listen[GC_ADDR_MAX];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    pthread_mutex_lock(&n->mu);
    bool known = gc_core_peer_addr(n->core, uuid, &link, listen, sizeof listen);
    struct conn *c = known && link >= 0 ? conn_by_id(n, link) : NULL;
    bool far = c && c->fd >= 0 && getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0;
    pthread_mutex_unlock(&n->mu);
    if (!known) return -1;
    if (far && k < max) tr_sockaddr_text(&ss, hosts[k++], GC_HOST_MAX, false);
    char host[GC_HOST_MAX];
    uint16_t port;
    if (k < max && gc_addr_split(listen, host, sizeof host, &port) == 0 && strcmp(host, "0.0.0.0") &&
        strcmp(host, "::") && (!k || strcmp(host, hosts[0])))
        snprintf(hosts[k++], GC_HOST_MAX, "%s", host);
    return k;
}

tr_uuid gc_node_uuid(gc_node *n)
{
    pthread_mutex_lock(&n->mu);
    tr_uuid u = *gc_core_uuid(n->core);
    pthread_mutex_unlock(&n->mu);
    return u;
}

void gc_node_stop(gc_node *n)
{
    if (!n->started) return;
    atomic_store(&n->stopping, true);
    wake(n);
    pthread_mutex_lock(&n->mu);
    pthread_cond_broadcast(&n->scv);
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_lock(&n->pmu);
    pthread_cond_broadcast(&n->pcv);
    pthread_mutex_unlock(&n->pmu);
    if (n->running) {
        pthread_join(n->thr, NULL);
        n->running = false;
    }
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < MAX_CONNS; i++)
        if (n->conns[i].used) conn_free(n, &n->conns[i]);
    /* A stopped node never listens again, and the host may connect anew on the same port at
     * once (SET GLOBAL wsrep_cluster_address): a socket left listening would also accept
     * peers that nobody then answers. */
    if (n->lfd >= 0) {
        epoll_ctl(n->ep, EPOLL_CTL_DEL, n->lfd, NULL);
        close(n->lfd);
        n->lfd = -1;
    }
    pthread_mutex_unlock(&n->mu);
    pthread_mutex_lock(&n->qmu);
    n->qclosed = true;
    pthread_cond_broadcast(&n->qcv);
    pthread_mutex_unlock(&n->qmu);
    n->started = false;
}

void gc_node_destroy(gc_node *n)
{
    if (!n) return;
    gc_node_stop(n);
    if (n->lfd >= 0) close(n->lfd);
    if (n->wake >= 0) close(n->wake);
    if (n->ep >= 0) close(n->ep);
    struct gc_event *ev;
    while (n->qhead) {
        struct evnode *e = n->qhead;
        n->qhead = e->next;
        ev = e->ev;
        gc_event_free(ev);
        free(e);
    }
    if (n->fail_node) {
        gc_event_free(n->fail_node->ev);
        free(n->fail_node);
    }
    gc_core_free(n->core);
    tr_tls_ctx_free(n->tls);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->qmu);
    pthread_cond_destroy(&n->qcv);
    pthread_mutex_destroy(&n->pmu);
    pthread_cond_destroy(&n->pcv);
    pthread_cond_destroy(&n->scv);
    free(n);
}
