/* replicator/repl_ist: incremental state transfer over TCP: the donor streams the records the
 * core handed it (references into its write-set store); the joiner's receiver reads, checks and
 * decodes them, then gives them to the core. Threads only move bytes; the core decides. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "common/tr_net.h"
#include "common/tr_time.h"
#include "replicator/repl_group.h"
#include "replicator/repl_node_impl.h"

/* stream: "TRIS" | u32 version | 16-byte group uuid | i64 first | i64 last | u64 token, then
 * per seqno first..last: u8 kind | u32 len | bytes. The joiner checks every length. */
#define IST_MAGIC 0x53495254u
#define IST_VERSION 2
#define IST_HDR (4 + 4 + 16 + 8 + 8 + 8)
#define IST_KIND_WS 1
#define IST_KIND_SKIP 2
#define IST_IO_MS 30000 /* silence on a connection at most this long, whatever the deadline */
#define IST_PROGRESS_NS (5 * TR_NS_PER_SEC) /* between progress lines while receiving */
#define IST_REFUSAL_QUIET_NS TR_NS_PER_SEC  /* refused connections: one log line a second */

/* Each phase has a deadline of its own (trireme.ist_*_timeout), on the monotonic clock;
 * check_donor: trireme.ist_check_donor. Read when a transfer starts. */
struct ist_settings {
    int64_t connect_ns, header_ns, stream_ns;
    bool check_donor;
};

static void read_settings(struct repl_node *n, struct ist_settings *d)
{
    if (tr_cfg_get_bool(n->cfg, "trireme.ist_check_donor", &d->check_donor)) d->check_donor = true;
    static const struct { const char *key; int64_t def; } keys[3] = {
        {"trireme.ist_connect_timeout", 60 * TR_NS_PER_SEC},
        {"trireme.ist_header_timeout", 10 * TR_NS_PER_SEC},
        {"trireme.ist_stream_timeout", 3600 * TR_NS_PER_SEC},
    };
    int64_t *out[3] = {&d->connect_ns, &d->header_ns, &d->stream_ns};
    for (int i = 0; i < 3; i++)
        if (tr_cfg_get_duration_ns(n->cfg, keys[i].key, out[i]) || *out[i] <= 0) *out[i] = keys[i].def;
}

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

/* Moves len bytes before the monotonic deadline: 0, -ETIMEDOUT (the deadline passed, or
 * IST_IO_MS of silence), or -EPIPE (closed, reset, or any other error). */
static int io_until(int fd, void *buf, size_t len, bool wr, int64_t deadline)
{
    uint8_t *p = buf;
    while (len) {
        int64_t left = deadline - tr_now_ns();
        if (left <= 0) return -ETIMEDOUT;
        int ms = left / 1000000 < IST_IO_MS ? (int)(left / 1000000) + 1 : IST_IO_MS;
        struct pollfd pf = {fd, wr ? POLLOUT : POLLIN, 0};
        int pr = poll(&pf, 1, ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -EPIPE;
        if (pr == 0) {
            if (ms == IST_IO_MS) return -ETIMEDOUT;
            continue; /* the deadline is checked above */
        }
        ssize_t r = wr ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, len, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return -EPIPE;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* A reset, not a FIN: a refused peer leaves no TIME_WAIT behind. */
static void close_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* A thread started here: joined by the next start after it finished, or at shutdown, so that
 * no IST thread outlives the node (or runs code of a library the host has unloaded). */
struct repl_ist_thr {
    pthread_t t;
    bool done; /* under n->mu */
    struct repl_ist_thr *next;
};

static void thread_done(struct repl_node *n, struct repl_ist_thr *self)
{
    pthread_mutex_lock(&n->mu);
    n->ist_threads--; /* repl_ist_wait_threads waits for this */
    if (self) self->done = true;
    pthread_cond_broadcast(&n->w_cond);
    pthread_mutex_unlock(&n->mu);
}

/* Joins and frees the threads of list (taken off n->ist_thr; mu not held). */
static void join_all(struct repl_ist_thr *list)
{
    while (list) {
        struct repl_ist_thr *x = list;
        list = x->next;
        pthread_join(x->t, NULL);
        free(x);
    }
}

/* Starts main(arg) as an IST thread: counted in ist_threads (the thread itself calls
 * thread_done(n, *self) last), and listed for its join. -1: not started, nothing counted.
 * Created under mu, so that the thread is listed before anyone can see it finished. */
static int thread_start(struct repl_node *n, void *(*main)(void *), void *arg,
                        struct repl_ist_thr **self)
{
    struct repl_ist_thr *t = calloc(1, sizeof *t);
    if (!t) return -1;
    *self = t;
    pthread_mutex_lock(&n->mu);
    /* reap the finished ones: their join returns at once (they only return after done) */
    struct repl_ist_thr *finished = NULL;
    for (struct repl_ist_thr **pp = &n->ist_thr; *pp;) {
        struct repl_ist_thr *x = *pp;
        if (!x->done) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        x->next = finished;
        finished = x;
    }
    int rc = pthread_create(&t->t, NULL, main, arg);
    if (rc == 0) {
        n->ist_threads++;
        t->next = n->ist_thr;
        n->ist_thr = t;
    }
    pthread_mutex_unlock(&n->mu);
    join_all(finished);
    if (rc) {
        free(t);
        *self = NULL;
        return -1;
    }
    return 0;
}

void repl_ist_wait_threads(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    while (n->ist_threads > 0) pthread_cond_wait(&n->w_cond, &n->mu);
    struct repl_ist_thr *list = n->ist_thr;
    n->ist_thr = NULL;
    pthread_mutex_unlock(&n->mu);
    join_all(list);
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
    struct ist_settings dl;
    struct repl_ist_thr *thr;
    char why[256];                /* the reason the transfer failed, for the core's message */
    int64_t refused_at;           /* refusals logged: at most one line per IST_REFUSAL_QUIET_NS */
    unsigned refused_hidden;
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

/* A refused connection, said once in a while: a peer that keeps dialling fills no log. */
static void refused(struct ist_recv *j, const char *src, const char *why)
{
    int64_t t = tr_now_ns();
    if (j->refused_at && t - j->refused_at < IST_REFUSAL_QUIET_NS) {
        j->refused_hidden++;
        return;
    }
    if (j->refused_hidden)
        tr_warn("IST: refused a connection from %s: %s (%u more refusals not shown)", src, why,
                j->refused_hidden);
    else
        tr_warn("IST: refused a connection from %s: %s", src, why);
    j->refused_at = t;
    j->refused_hidden = 0;
}

/* Whether src is an address of the member the group chose as this transfer's donor: the far
 * end of its group link or the host it listens on, as the group sees them. The donor dials
 * once it has seen the request ordered, this node may see it a moment later: waits for that
 * until the deadline. true when the group cannot tell (the token then stands alone). */
static bool from_donor(struct ist_recv *j, const char *src, int64_t deadline, char *why, size_t len)
{
    struct repl_node *n = j->n;
    struct repl_group *g = n->group;
    if (!g || !g->ops->member_hosts) return true;
    struct repl_core_info in;
    char name[REPL_NAME_LEN] = "?";
    for (;;) {
        pthread_mutex_lock(&n->mu);
        repl_core_info(n->core, &in);
        const struct repl_member *m = NULL;
        int nm = in.donor_chosen ? repl_core_members(n->core, &m) : 0;
        for (int i = 0; i < nm; i++)
            if (!tr_uuid_compare(&m[i].id, &in.donor)) snprintf(name, sizeof name, "%s", m[i].name);
        pthread_mutex_unlock(&n->mu);
        if (in.donor_chosen) break;
        if (!in.ist_waiting || tr_now_ns() > deadline) {
            snprintf(why, len, "the group has not chosen a donor for this transfer (yet)");
            return false;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    char hosts[4][REPL_HOST_LEN];
    int k = g->ops->member_hosts(g, &in.donor, hosts, 4);
    for (int i = 0; i < k; i++)
        if (!strcmp(hosts[i], src)) return true;
    size_t o = (size_t)snprintf(why, len, "not an address of the donor the group chose (%.40s at ", name);
    for (int i = 0; i < k && o < len; i++) o += (size_t)snprintf(why + o, len - o, "%s%s", i ? ", " : "", hosts[i]);
    if (o < len) snprintf(why + o, len - o, "%s)", k > 0 ? "" : "no known address");
    return false;
}

/* Waits for the donor's connection: the first one from an address the host's allowlist
 * allows that presents this transfer's header (the token only the group's chosen donor
 * learnt) within the header deadline, from an address of that donor. Others are refused and
 * the receiver keeps listening, so that nobody can end a transfer by connecting first. One
 * connection at a time: a slow one holds the others up to the header deadline. -1 with
 * j->why set. */
static int accept_donor(struct ist_recv *j)
{
    int64_t connect_dl = tr_now_ns() + j->dl.connect_ns;
    for (;;) {
        if (!still_waiting(j->n)) {
            snprintf(j->why, sizeof j->why, "given up");
            return -1;
        }
        if (tr_now_ns() > connect_dl) {
            snprintf(j->why, sizeof j->why,
                     "no donor connected within trireme.ist_connect_timeout (%.1f s)",
                     (double)j->dl.connect_ns / TR_NS_PER_SEC);
            return -1;
        }
        struct pollfd pf = {j->lfd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept4(j->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (c < 0) continue;
        char src[INET6_ADDRSTRLEN + 8];
        tr_sockaddr_text(&ss, src, sizeof src, false);
        /* before a byte is read, as on gcomm's port: MariaDB's wsrep_allowlist */
        if (j->n->allow_peer && !j->n->allow_peer(j->n->allow_ctx, src)) {
            refused(j, src, "not in the allowlist (wsrep_allowlist)");
            close_reset(c);
            continue;
        }
        uint8_t h[IST_HDR];
        int64_t header_dl = tr_now_ns() + j->dl.header_ns;
        int rc = io_until(c, h, sizeof h, false, header_dl);
        if (rc == -ETIMEDOUT) {
            refused(j, src, "no header within trireme.ist_header_timeout");
            close_reset(c);
            continue;
        }
        if (rc || tr_get_u32(h) != IST_MAGIC || tr_get_u32(h + 4) != IST_VERSION ||
            memcmp(h + 8, j->group.data, 16) != 0 || (int64_t)tr_get_u64(h + 24) != j->first ||
            (int64_t)tr_get_u64(h + 32) != j->last || tr_get_u64(h + 40) != j->token) {
            refused(j, src, "it did not present this transfer's header");
            close_reset(c);
            continue;
        }
        char why[200];
        if (j->dl.check_donor && !from_donor(j, src, header_dl, why, sizeof why)) {
            refused(j, src, why);
            close_reset(c);
            continue;
        }
        tr_info("IST: the stream comes from %s", src);
        return c;
    }
}

/* Why the stream ended early, in j->why. */
static const char *stream_failed(struct ist_recv *j, int rc, size_t k, size_t total)
{
    if (rc == -ETIMEDOUT)
        snprintf(j->why, sizeof j->why,
                 "the stream stalled or did not end within trireme.ist_stream_timeout (%.1f s) "
                 "(%zu of %zu actions received, none applied)",
                 (double)j->dl.stream_ns / TR_NS_PER_SEC, k, total);
    else
        snprintf(j->why, sizeof j->why, "stream cut short (%zu of %zu actions received, none applied)",
                 k, total);
    return j->why;
}

/* One connection from the donor: the records first..last, each checked and decoded here, all
 * of them before any reaches the core (a transfer that fails has applied nothing). */
static const char *receive(struct ist_recv *j, struct repl_ist_rec **out, size_t *nout)
{
    int fd = accept_donor(j);
    if (fd < 0) return j->why;
    int64_t stream_dl = tr_now_ns() + j->dl.stream_ns;
    size_t total = (size_t)(j->last - j->first + 1);
    struct repl_ist_rec *recs = calloc(total ? total : 1, sizeof *recs);
    if (!recs) {
        close(fd);
        return "out of memory";
    }
    const char *why = NULL;
    int64_t t_last = tr_now_ns();
    tr_info("Receiving IST: %lld write-sets, seqnos %lld-%lld", (long long)total, (long long)j->first,
            (long long)j->last); /* Galera's words: monitors and tests look for them */
    size_t k = 0;
    for (; !why && k < total; k++) {
        if (tr_now_ns() - t_last >= IST_PROGRESS_NS) {
            t_last = tr_now_ns();
            tr_info("Receiving IST: %zu of %zu actions", k, total);
        }
        uint8_t rh[5];
        int rc = io_until(fd, rh, sizeof rh, false, stream_dl);
        if (rc) {
            why = stream_failed(j, rc, k, total);
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
        rc = io_until(fd, buf, len, false, stream_dl);
        if (rc) {
            free(buf);
            why = stream_failed(j, rc, k, total);
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
    struct repl_node *n = j->n;
    struct repl_ist_thr *self = j->thr;
    free(j);
    thread_done(n, self);
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
    read_settings(n, &j->dl);
    j->lfd = listen_on(a->addr);
    if (j->lfd < 0) {
        free(j);
        return -1;
    }
    if (thread_start(n, recv_main, j, &j->thr)) {
        close(j->lfd);
        free(j);
        return -1;
    }
    return 0;
}

/* ---- donor ---- */

struct ist_send {
    struct repl_node *n;
    struct repl_act a; /* addr, token, first (seqno), last (depends), the pinned range */
    tr_uuid group;
    struct ist_settings dl;
    struct repl_ist_thr *thr;
};

/* A connection to addr made before the deadline (non-blocking connect), or -1 with *err. */
static int dial(const char *addr, int64_t deadline, int *err)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    *err = ECONNREFUSED;
    if (split_addr(addr, host, sizeof host, port, sizeof port) || getaddrinfo(host, port, &hints, &ai) || !ai)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (rc && errno == EINPROGRESS) {
        for (;;) {
            int64_t left = deadline - tr_now_ns();
            struct pollfd pf = {fd, POLLOUT, 0};
            int pr = left > 0 ? poll(&pf, 1, (int)(left / 1000000) + 1) : 0;
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) {
                *err = ETIMEDOUT;
                break;
            }
            socklen_t l = sizeof *err;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &l) == 0 && *err == 0) rc = 0;
            break;
        }
    } else if (rc) {
        *err = errno;
    }
    if (rc) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *send_main(void *arg)
{
    struct ist_send *j = arg;
    struct repl_act *a = &j->a;
    int err = 0;
    int fd = dial(a->addr, tr_now_ns() + j->dl.connect_ns, &err);
    int rc = fd < 0 ? -err : 0;
    const char *phase = "connect";
    if (!rc) {
        uint8_t h[IST_HDR];
        tr_put_u32(h, IST_MAGIC);
        tr_put_u32(h + 4, IST_VERSION);
        memcpy(h + 8, j->group.data, 16);
        tr_put_u64(h + 24, (uint64_t)a->seqno);
        tr_put_u64(h + 32, (uint64_t)a->depends);
        tr_put_u64(h + 40, a->token);
        phase = "header";
        rc = io_until(fd, h, sizeof h, true, tr_now_ns() + j->dl.header_ns);
        int64_t stream_dl = tr_now_ns() + j->dl.stream_ns;
        if (!rc) phase = "stream";
        /* one record at a time from the pinned range: the store's lock only for each copy */
        uint8_t *buf = NULL;
        size_t cap = 0, len = 0;
        for (int64_t s = a->seqno; !rc && s <= a->depends; s++) {
            int kind = repl_gcache_read(a->pin, s, &buf, &cap, &len);
            if (kind < 0) {
                rc = kind;
                phase = "store read";
                break;
            }
            uint8_t rh[5];
            rh[0] = kind ? IST_KIND_WS : IST_KIND_SKIP;
            tr_put_u32(rh + 1, kind ? (uint32_t)len : 0);
            rc = io_until(fd, rh, sizeof rh, true, stream_dl);
            if (!rc && kind) rc = io_until(fd, buf, len, true, stream_dl);
        }
        free(buf);
    }
    if (fd >= 0) close(fd);
    if (rc)
        tr_warn("IST to %s failed in its %s phase (%s)", a->addr, phase, strerror(-rc));
    else
        tr_info("IST sent to %s: %lld..%lld", a->addr, (long long)a->seqno, (long long)a->depends);
    struct repl_ev ev = {.kind = REPL_EV_IST_SENT, .rc = rc,
                         .seqno = repl_monitor_last_left(j->n->apply_mon)};
    repl_drive(j->n, &ev);
    repl_act_release(a);
    struct repl_node *n = j->n;
    struct repl_ist_thr *self = j->thr;
    free(j);
    thread_done(n, self);
    return NULL;
}

int repl_ist_start_sender(struct repl_node *n, struct repl_act *a)
{
    struct ist_send *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->n = n;
    pthread_mutex_lock(&n->mu);
    j->group = *repl_core_group(n->core);
    pthread_mutex_unlock(&n->mu);
    read_settings(n, &j->dl);
    j->a = *a;
    memset(a, 0, sizeof *a);
    if (thread_start(n, send_main, j, &j->thr)) {
        *a = j->a; /* the caller releases it */
        free(j);
        return -1;
    }
    return 0;
}
