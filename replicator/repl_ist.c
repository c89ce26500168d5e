/* replicator/repl_ist: incremental state transfer over TCP: the donor streams the records the
 * core handed it (references into its write-set store); the joiner's receiver reads, checks and
 * decodes them, then gives them to the core. Threads only move bytes; the core decides. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "common/tr_time.h"
#include "replicator/repl_node_impl.h"

/* stream: "TRIS" | u32 version | 16-byte group uuid | i64 first | i64 last | u64 token, then
 * per seqno first..last: u8 kind | u32 len | bytes. The joiner checks every length. */
#define IST_MAGIC 0x53495254u
#define IST_VERSION 2
#define IST_HDR (4 + 4 + 16 + 8 + 8 + 8)
#define IST_KIND_WS 1
#define IST_KIND_SKIP 2
#define IST_ACCEPT_NS (60 * TR_NS_PER_SEC) /* the donor connects within this after the request */
#define IST_IO_MS 30000
#define IST_PROGRESS_NS (5 * TR_NS_PER_SEC) /* between progress lines while receiving */

static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *p = strstr(addr, "://");
    p = p ? p + 3 : addr;
    const char *colon = strrchr(p, ':');
    if (!colon) return -1;
    size_t h = (size_t)(colon - p);
    if (*p == '[' && h >= 2 && p[h - 1] == ']') p++, h -= 2;
    if (h == 0 || h >= hlen) return -1;
    memcpy(host, p, h);
    host[h] = '\0';
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

static int io_all(int fd, void *buf, size_t len, bool wr)
{
    uint8_t *p = buf;
    while (len) {
        struct pollfd pf = {fd, wr ? POLLOUT : POLLIN, 0};
        int pr = poll(&pf, 1, IST_IO_MS);
        if (pr <= 0) return -1;
        ssize_t r = wr ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static void thread_done(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    n->ist_threads--; /* repl_ist_wait_threads waits for this */
    pthread_cond_broadcast(&n->w_cond);
    pthread_mutex_unlock(&n->mu);
}

void repl_ist_wait_threads(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    while (n->ist_threads > 0) pthread_cond_wait(&n->w_cond, &n->mu);
    pthread_mutex_unlock(&n->mu);
}

static bool still_waiting(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    pthread_mutex_unlock(&n->mu);
    return in.ist_waiting && !in.closing && !in.closed;
}

/* ---- joiner ---- */

struct ist_recv {
    struct repl_node *n;
    int lfd;
    tr_uuid group;
    int64_t first, last;
    uint64_t token;
};

static int listen_on(const char *addr)
{
    char host[256], port[16];
    if (split_addr(addr, host, sizeof host, port, sizeof port)) return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1)) {
        tr_error("IST: cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void free_recs(struct repl_ist_rec *r, size_t k)
{
    for (size_t i = 0; i < k; i++) repl_ws_unref(r[i].ws);
    free(r);
}

/* One connection from the donor: the records first..last, each checked and decoded here. */
static const char *receive(struct ist_recv *j, struct repl_ist_rec **out, size_t *nout)
{
    int fd = -1;
    for (int64_t dl = tr_now_ns() + IST_ACCEPT_NS; fd < 0;) {
        if (!still_waiting(j->n)) return "given up";
        if (tr_now_ns() > dl) return "no donor connected";
        struct pollfd pf = {j->lfd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0) continue;
        int c = accept4(j->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        uint8_t h[IST_HDR];
        /* only the donor knows the token the group gave this request: anyone else is dropped
         * and the receiver keeps listening */
        if (io_all(c, h, sizeof h, false) == 0 && tr_get_u32(h) == IST_MAGIC &&
            tr_get_u32(h + 4) == IST_VERSION && memcmp(h + 8, j->group.data, 16) == 0 &&
            (int64_t)tr_get_u64(h + 24) == j->first && (int64_t)tr_get_u64(h + 32) == j->last &&
            tr_get_u64(h + 40) == j->token) {
            fd = c;
        } else {
            tr_warn("IST: refused a connection that did not present this transfer's header");
            close(c);
        }
    }
    size_t total = (size_t)(j->last - j->first + 1);
    struct repl_ist_rec *recs = calloc(total ? total : 1, sizeof *recs);
    if (!recs) {
        close(fd);
        return "out of memory";
    }
    const char *why = NULL;
    int64_t t_last = tr_now_ns();
    tr_info("Receiving IST: 0 of %lld actions (%lld..%lld)", (long long)total, (long long)j->first,
            (long long)j->last);
    size_t k = 0;
    for (; !why && k < total; k++) {
        if (tr_now_ns() - t_last >= IST_PROGRESS_NS) {
            t_last = tr_now_ns();
            tr_info("Receiving IST: %zu of %zu actions", k, total);
        }
        uint8_t rh[5];
        if (io_all(fd, rh, sizeof rh, false)) {
            why = "stream cut short";
            break;
        }
        uint32_t len = tr_get_u32(rh + 1);
        if ((rh[0] != IST_KIND_WS && rh[0] != IST_KIND_SKIP) || (rh[0] == IST_KIND_SKIP && len) ||
            (rh[0] == IST_KIND_WS && !len) || len > CERT_WS_MAX_SIZE) {
            why = "malformed record";
            break;
        }
        recs[k].seqno = j->first + (int64_t)k;
        if (rh[0] == IST_KIND_SKIP) continue;
        uint8_t *buf = malloc(len);
        if (!buf) {
            why = "out of memory";
            break;
        }
        if (io_all(fd, buf, len, false)) {
            free(buf);
            why = "stream cut short";
            break;
        }
        struct repl_ws *ws = repl_ws_new(buf, len);
        if (!ws) {
            why = "out of memory";
            break;
        }
        repl_ws_decode(ws, CERT_WS_MAX_SIZE); /* outside the lock; the core checks the result */
        recs[k].ws = ws;
    }
    close(fd);
    if (why) {
        free_recs(recs, total); /* calloc: the entries not reached hold NULL */
        return why;
    }
    tr_info("IST received: %zu actions (%lld..%lld)", total, (long long)j->first, (long long)j->last);
    *out = recs;
    *nout = total;
    return NULL;
}

static void *recv_main(void *arg)
{
    struct ist_recv *j = arg;
    struct repl_ist_rec *recs = NULL;
    size_t k = 0;
    const char *why = receive(j, &recs, &k);
    close(j->lfd);
    struct repl_ev ev = {.kind = REPL_EV_IST_RECEIVED, .rc = why ? -1 : 0, .why = why, .ist = recs,
                         .nist = k};
    if (!why || strcmp(why, "given up") != 0) repl_drive(j->n, &ev);
    if (ev.ist) free_recs(ev.ist, ev.nist);
    thread_done(j->n);
    free(j);
    return NULL;
}

int repl_ist_start_receiver(struct repl_node *n, const struct repl_act *a)
{
    struct ist_recv *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->n = n;
    j->first = a->seqno;
    j->last = a->depends;
    j->token = a->token;
    pthread_mutex_lock(&n->mu);
    j->group = *repl_core_group(n->core);
    pthread_mutex_unlock(&n->mu);
    j->lfd = listen_on(a->addr);
    pthread_t t;
    if (j->lfd < 0) {
        free(j);
        return -1;
    }
    pthread_mutex_lock(&n->mu);
    n->ist_threads++;
    pthread_mutex_unlock(&n->mu);
    if (pthread_create(&t, NULL, recv_main, j)) {
        close(j->lfd);
        free(j);
        thread_done(n);
        return -1;
    }
    pthread_detach(t);
    return 0;
}

/* ---- donor ---- */

struct ist_send {
    struct repl_node *n;
    struct repl_act a; /* addr, token, first (seqno), last (depends), the records */
    tr_uuid group;
};

static void *send_main(void *arg)
{
    struct ist_send *j = arg;
    struct repl_act *a = &j->a;
    char host[256], port[16];
    int fd = -1, rc = -ECONNREFUSED;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (split_addr(a->addr, host, sizeof host, port, sizeof port) == 0 &&
        getaddrinfo(host, port, &hints, &ai) == 0 && ai) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) rc = 0;
        freeaddrinfo(ai);
    }
    if (!rc) {
        uint8_t h[IST_HDR];
        tr_put_u32(h, IST_MAGIC);
        tr_put_u32(h + 4, IST_VERSION);
        memcpy(h + 8, j->group.data, 16);
        tr_put_u64(h + 24, (uint64_t)a->seqno);
        tr_put_u64(h + 32, (uint64_t)a->depends);
        tr_put_u64(h + 40, a->token);
        if (io_all(fd, h, sizeof h, true)) rc = -EPIPE;
        for (size_t i = 0; !rc && i < a->nist; i++) {
            const struct repl_ws *ws = a->ist[i].ws;
            uint8_t rh[5];
            rh[0] = ws ? IST_KIND_WS : IST_KIND_SKIP;
            tr_put_u32(rh + 1, ws ? (uint32_t)ws->len : 0);
            if (io_all(fd, rh, sizeof rh, true) || (ws && io_all(fd, ws->buf, ws->len, true)))
                rc = -EPIPE;
        }
    }
    if (fd >= 0) close(fd);
    if (rc)
        tr_warn("IST to %s failed (%s)", a->addr, strerror(-rc));
    else
        tr_info("IST sent to %s: %lld..%lld", a->addr, (long long)a->seqno, (long long)a->depends);
    struct repl_ev ev = {.kind = REPL_EV_IST_SENT, .rc = rc,
                         .seqno = repl_monitor_last_left(j->n->apply_mon)};
    repl_drive(j->n, &ev);
    repl_act_release(a);
    thread_done(j->n);
    free(j);
    return NULL;
}

int repl_ist_start_sender(struct repl_node *n, struct repl_act *a)
{
    struct ist_send *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->n = n;
    pthread_mutex_lock(&n->mu);
    j->group = *repl_core_group(n->core);
    n->ist_threads++;
    pthread_mutex_unlock(&n->mu);
    j->a = *a;
    memset(a, 0, sizeof *a);
    pthread_t t;
    if (pthread_create(&t, NULL, send_main, j)) {
        *a = j->a; /* the caller releases it */
        free(j);
        thread_done(n);
        return -1;
    }
    pthread_detach(t);
    return 0;
}
