/* replicator/repl_ist: incremental state transfer over TCP: the donor streams the actions a
 * rejoining member missed from its write-set store; the joiner listens on ist.recv_addr. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_node_impl.h"
#include "replicator/repl_options.h"

/* stream: "TRIS" | u32 version | 16-byte group uuid | i64 first | i64 last, then per seqno
 * first..last: u8 kind | u32 len | bytes. The joiner checks every length. */
#define IST_MAGIC 0x53495254u
#define IST_VERSION 1
#define IST_HDR (4 + 4 + 16 + 8 + 8)
#define IST_ACCEPT_MS 60000 /* the donor connects within this after the request */
#define IST_IO_MS 30000
#define IST_PROGRESS_S 5 /* seconds between progress lines while receiving */

struct ist_rec {
    int64_t seqno;
    int kind;
    uint8_t *buf;
    size_t len;
    struct ist_rec *next;
};

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

/* ---- joiner ---- */

int repl_ist_listen(struct repl_node *n, char *advertise, size_t len)
{
    char addr[300], host[256], port[16];
    if (repl_options_ist_recv_addr(n->cfg, addr, sizeof addr) ||
        split_addr(addr, host, sizeof host, port, sizeof port))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1)) {
        tr_error("IST: cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    snprintf(advertise, len, "%s", addr);
    return fd;
}

static void fail_ist(struct repl_node *n, const char *why)
{
    pthread_mutex_lock(&n->mu);
    if (n->sst.phase == REPL_SST_WAIT) {
        tr_error("Will never receive state. Need to abort: IST: %s. This node leaves the cluster; restart it to "
                 "rejoin by SST.", why);
        repl_sst_clear_locked(n);
        n->must_leave = true;
    }
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
}

/* The joiner's receiving thread: one connection, the records first..last, then the held
 * actions go behind them (repl_sst_ist_done). */
static void ist_recv_body(struct repl_node *n, int lfd)
{
    int fd = -1;
    struct ist_rec *head = NULL, **tail = &head;
    const char *why = NULL;
    for (int waited = 0; fd < 0 && !why; waited += 200) {
        pthread_mutex_lock(&n->mu);
        bool gone = n->sst.phase != REPL_SST_WAIT || n->closing;
        pthread_mutex_unlock(&n->mu);
        if (gone) {
            why = "given up";
            break;
        }
        if (waited >= IST_ACCEPT_MS) {
            why = "no donor connected";
            break;
        }
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, 200) > 0) fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    }
    uint8_t h[IST_HDR];
    int64_t first = 0, last = -1;
    if (!why && io_all(fd, h, sizeof h, false)) why = "no header from the donor";
    if (!why) {
        first = (int64_t)tr_get_u64(h + 24);
        last = (int64_t)tr_get_u64(h + 32);
        pthread_mutex_lock(&n->mu);
        bool ok = tr_get_u32(h) == IST_MAGIC && tr_get_u32(h + 4) == IST_VERSION &&
                  memcmp(h + 8, n->group_uuid.data, 16) == 0 && first == n->sst.ist_from &&
                  last == n->sst.ist_to;
        pthread_mutex_unlock(&n->mu);
        if (!ok) why = "the donor sent another range or history";
    }
    /* progress, as Galera's joiner reports it ("Receiving IST: ..."), at the start and then every
     * few seconds: a long transfer shows it is moving */
    struct timespec t_last;
    clock_gettime(CLOCK_MONOTONIC, &t_last);
    if (!why)
        tr_info("Receiving IST: 0 of %lld actions (%lld..%lld)", (long long)(last - first + 1), (long long)first,
                (long long)last);
    for (int64_t s = first; !why && s <= last; s++) {
        struct timespec t_now;
        clock_gettime(CLOCK_MONOTONIC, &t_now);
        if (t_now.tv_sec - t_last.tv_sec >= IST_PROGRESS_S) {
            t_last = t_now;
            tr_info("Receiving IST: %lld of %lld actions", (long long)(s - first), (long long)(last - first + 1));
        }
        uint8_t rh[5];
        if (io_all(fd, rh, sizeof rh, false)) {
            why = "stream cut short";
            break;
        }
        uint32_t len = tr_get_u32(rh + 1);
        if ((rh[0] != REPL_GC_WS && rh[0] != REPL_GC_SKIP) || len > CERT_WS_MAX_SIZE) {
            why = "malformed record";
            break;
        }
        struct ist_rec *r = calloc(1, sizeof *r);
        if (r) r->buf = len ? malloc(len) : NULL;
        if (!r || (len && !r->buf)) {
            free(r);
            why = "out of memory";
            break;
        }
        r->seqno = s;
        r->kind = rh[0];
        r->len = len;
        *tail = r;
        tail = &r->next;
        if (len && io_all(fd, r->buf, len, false)) why = "stream cut short";
    }
    if (fd >= 0) close(fd);
    close(lfd);
    if (why) {
        repl_ist_free_recs(head);
        fail_ist(n, why);
        return;
    }
    tr_info("IST received: %lld actions (%lld..%lld)", (long long)(last - first + 1),
            (long long)first, (long long)last);
    repl_sst_ist_done(n, head);
}

struct ist_recv_arg {
    struct repl_node *n;
    int fd;
};

static void *ist_recv_main(void *arg)
{
    struct ist_recv_arg a = *(struct ist_recv_arg *)arg;
    free(arg);
    ist_recv_body(a.n, a.fd);
    pthread_mutex_lock(&a.n->mu);
    a.n->sst.ist_running--; /* repl_stream_free waits for this */
    pthread_cond_broadcast(&a.n->cond);
    pthread_mutex_unlock(&a.n->mu);
    return NULL;
}

/* mu held: the thread takes the listening socket */
int repl_ist_start_receiver(struct repl_node *n)
{
    struct ist_recv_arg *a = malloc(sizeof *a);
    pthread_t t;
    if (!a) return -1;
    a->n = n;
    a->fd = n->sst.ist_fd;
    if (pthread_create(&t, NULL, ist_recv_main, a)) {
        free(a);
        return -1;
    }
    pthread_detach(t);
    n->sst.ist_fd = -1;
    n->sst.ist_running++;
    return 0;
}

/* ---- donor ---- */

struct ist_send {
    struct repl_node *n;
    char addr[300];
    tr_uuid group;
    int64_t first, last;
    struct ist_rec *head;
};

static void *ist_send_main(void *arg)
{
    struct ist_send *j = arg;
    char host[256], port[16];
    int fd = -1, rc = -ECONNREFUSED;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (split_addr(j->addr, host, sizeof host, port, sizeof port) == 0 &&
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
        tr_put_u64(h + 24, (uint64_t)j->first);
        tr_put_u64(h + 32, (uint64_t)j->last);
        if (io_all(fd, h, sizeof h, true)) rc = -EPIPE;
        for (struct ist_rec *r = j->head; !rc && r; r = r->next) {
            uint8_t rh[5];
            rh[0] = (uint8_t)r->kind;
            tr_put_u32(rh + 1, (uint32_t)r->len);
            if (io_all(fd, rh, sizeof rh, true) || (r->len && io_all(fd, r->buf, r->len, true)))
                rc = -EPIPE;
        }
    }
    if (fd >= 0) close(fd);
    if (rc)
        tr_warn("IST to %s failed (%s)", j->addr, strerror(-rc));
    else
        tr_info("IST sent to %s: %lld..%lld", j->addr, (long long)j->first, (long long)j->last);
    repl_sst_ist_sent(j->n, rc);
    repl_ist_free_recs(j->head);
    free(j);
    return NULL;
}

int repl_ist_serve_locked(struct repl_node *n, const char *addr, int64_t first, int64_t last)
{
    if (!repl_gcache_has(n->gcache, first, last)) return -ENODATA;
    struct ist_send *j = calloc(1, sizeof *j);
    if (!j) return -ENOMEM;
    j->n = n;
    snprintf(j->addr, sizeof j->addr, "%s", addr);
    j->group = n->group_uuid;
    j->first = first;
    j->last = last;
    struct ist_rec **tail = &j->head;
    for (int64_t s = first; s <= last; s++) { /* copied: the store moves on meanwhile */
        int kind;
        const void *buf;
        size_t len;
        struct ist_rec *r = calloc(1, sizeof *r);
        if (!r || repl_gcache_get(n->gcache, s, &kind, &buf, &len) ||
            (len && !(r->buf = malloc(len)))) {
            free(r);
            repl_ist_free_recs(j->head);
            free(j);
            return -ENOMEM;
        }
        if (len) memcpy(r->buf, buf, len);
        r->seqno = s;
        r->kind = kind;
        r->len = len;
        *tail = r;
        tail = &r->next;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, ist_send_main, j)) {
        /* no thread: refuse (the caller tells the joiner outside mu); no I/O under mu */
        repl_ist_free_recs(j->head);
        free(j);
        return -EAGAIN;
    }
    pthread_detach(t);
    return 0;
}

void repl_ist_free_recs(struct ist_rec *r)
{
    while (r) {
        struct ist_rec *nx = r->next;
        free(r->buf);
        free(r);
        r = nx;
    }
}

/* Turns the received records, then the view the joiner entered with, into held actions before
 * those ordered since the join. */
void repl_ist_hold_front_locked(struct repl_node *n, struct ist_rec *recs, struct repl_view *view,
                                int64_t view_seqno)
{
    struct repl_held *first = NULL, **tail = &first, *last = NULL;
    int64_t count = 0;
    while (recs) {
        struct ist_rec *r = recs;
        recs = r->next;
        struct repl_held *h = calloc(1, sizeof *h);
        if (!h) {
            n->must_leave = true;
            free(r->buf);
            free(r);
            continue;
        }
        h->seqno = r->seqno;
        if (r->kind == REPL_GC_WS) {
            struct repl_trx *job = calloc(1, sizeof *job);
            struct cert_ws_view ws;
            if (job && cert_ws_decode(r->buf, r->len, CERT_WS_MAX_SIZE, &ws) == 0) {
                job->kind = REPL_H_JOB;
                job->trx_id = ws.hdr.trx_id;
                job->conn_id = ws.hdr.conn_id;
                job->flags = ws.hdr.flags;
                job->seqno = r->seqno;
                job->depends_on = r->seqno - 1; /* committed history: applied in order */
                job->ordered = job->cert_ok = true;
                job->view = ws;
                h->job = job;
                h->buf = r->buf;
                r->buf = NULL;
            } else {
                free(job);
                tr_error("IST: undecodable write-set at seqno %lld: leaving the cluster",
                         (long long)r->seqno);
                n->must_leave = true;
            }
        }
        free(r->buf);
        free(r);
        *tail = h;
        tail = &h->next;
        last = h;
        count++;
    }
    struct repl_held *v = view ? calloc(1, sizeof *v) : NULL;
    if (v) {
        v->seqno = view_seqno;
        v->view = view;
        *tail = v;
        tail = &v->next;
        last = v;
        count++;
    } else {
        free(view);
    }
    if (!first) return;
    *tail = n->sst.head;
    if (!n->sst.head) n->sst.tail = last;
    n->sst.head = first;
    n->sst.held_len += count;
}
