/* replicator/repl_ist: incremental state transfer over TCP, or TLS when socket.ssl* is set: the
 * donor streams the records the core handed it (references into its write-set store); the joiner's
 * receiver reads, checks and decodes them, then gives them to the core. Threads only move bytes;
 * the core decides. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tr_log.h"
#include "common/tr_net.h"
#include "common/tr_time.h"
#include "common/tr_tls.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_group.h"
#include "replicator/repl_istdeps.h"
#include "replicator/repl_options.h"
#include "replicator/repl_vrec.h"
#include "replicator/repl_node_impl.h"

/* stream: "TRIS" | u32 version | 16-byte group uuid | i64 first | i64 last | u64 token, then
 * per seqno first..last: u8 kind | u32 len | bytes (a write-set, nothing, or a primary view:
 * repl_vrec; version 2 had no views). The joiner checks every length, and closes
 * once it holds them all (with TLS, by a close_notify); any other end is a failure, for the
 * donor too, which waits for that close before it reports the transfer done. With TLS the
 * same bytes go inside a TLS session both ends verified. */
#define IST_MAGIC 0x53495254u
#define IST_VERSION 3
#define IST_VERSION_MIN 2 /* a stream without view records is still taken */
#define IST_HDR (4 + 4 + 16 + 8 + 8 + 8)
#define IST_KIND_WS 1
#define IST_KIND_SKIP 2
#define IST_KIND_VIEW 3
#define IST_IO_MS 30000 /* silence on a connection at most this long, whatever the deadline */
#define IST_READ_AHEAD (64u << 10) /* the joiner reads this much at a time */
#define IST_PATIENT_MS 1000 /* a patient connection looks whether its node closes this often */
#define IST_PROGRESS_NS (5 * TR_NS_PER_SEC) /* between progress lines while receiving */
#define IST_REFUSAL_QUIET_NS TR_NS_PER_SEC  /* refused connections: one log line a second */
#define IST_SEND_BUF (256u << 10) /* the donor packs records up to this much per write */
#define IST_PART_RECS 256          /* the joiner hands records to the core this many at a time */
#define IST_PART_BYTES (1u << 20)  /* ... or this many bytes */
#define IST_AHEAD ((uint64_t)64 << 20) /* bytes handed over and not yet taken by an applier */

/* Each phase has a deadline of its own (trireme.ist_*_timeout), on the monotonic clock;
 * check_donor: trireme.ist_check_donor. Read when a transfer starts. */
struct ist_settings {
    int64_t connect_ns, header_ns, stream_ns;
    bool check_donor;
    /* the donor dials from the host its group layer listens on, when that is one address (not
     * a wildcard): the joiner checks that a stream comes from an address the group knows for
     * its donor (check_donor), and a node listening on 127.0.0.2 would otherwise dial from
     * whatever source the kernel picks (MariaDB's galera_3nodes.galera_allowlist) */
    char src[256];
};

static void read_settings(struct repl_node *n, struct ist_settings *d)
{
    if (tr_cfg_get_bool(n->cfg, "trireme.ist_check_donor", &d->check_donor)) d->check_donor = true;
    char la[512];
    struct tr_cfg_addr a;
    d->src[0] = '\0';
    int ln = tr_cfg_get_string(n->cfg, "gmcast.listen_addr", la, sizeof la);
    if (ln > 0 && (size_t)ln < sizeof la && tr_cfg_parse_addr(la, &a) == 0 && strcmp(a.host, "0.0.0.0") &&
        strcmp(a.host, "::") && strlen(a.host) < sizeof d->src)
        snprintf(d->src, sizeof d->src, "%s", a.host);
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

/* One IST connection: a socket (non-blocking), and its TLS session when IST runs TLS. patient:
 * no IST_IO_MS limit on silence, only the deadline (the donor's stream: the joiner reads no
 * faster than its appliers apply; a dead joiner's kernel, or TCP's own timeouts, end it). */
struct ist_conn {
    int fd;
    tr_tls *tls;
    bool patient;
    struct repl_node *n; /* patient: its silence ends when this node closes */
    uint8_t *rb;         /* the joiner's read-ahead (IST_READ_AHEAD bytes): rb[roff..rlen) unread */
    size_t roff, rlen;
};

/* A patient connection's silence ends when its node closes (disconnect waits for IST threads). */
static bool node_closing(struct repl_node *n)
{
    pthread_mutex_lock(&n->mu);
    struct repl_core_info in;
    repl_core_info(n->core, &in);
    pthread_mutex_unlock(&n->mu);
    return in.closing || in.closed;
}

/* The longest poll while len bytes are due before the deadline, left ns away. */
static int poll_ms(const struct ist_conn *c, int64_t left)
{
    int cap = c->patient ? IST_PATIENT_MS : IST_IO_MS;
    return left / 1000000 < cap ? (int)(left / 1000000) + 1 : cap;
}

/* After poll_ms of silence (not of the deadline): 0 to wait on, or why not. */
static int silence(const struct ist_conn *c)
{
    if (!c->patient) return -ETIMEDOUT;
    return c->n && node_closing(c->n) ? -ECANCELED : 0;
}

/* Moves len bytes before the monotonic deadline: 0, -ETIMEDOUT (the deadline passed, or
 * IST_IO_MS of silence), -EPIPE (closed, reset, or any other error), or -EPROTO (TLS refused
 * or broken: tr_tls_why says why). Tries first, polls only when the socket has no room or no
 * bytes: TLS may hold decrypted bytes the socket no longer shows. */
static int io_move(struct ist_conn *c, void *buf, size_t len, bool wr, int64_t deadline, size_t *some)
{
    uint8_t *p = buf;
    while (len) {
        if (some && p != (uint8_t *)buf) break; /* some bytes came: enough */
        int64_t left = deadline - tr_now_ns();
        if (left <= 0) return -ETIMEDOUT;
        short want = wr ? POLLOUT : POLLIN;
        if (c->tls) {
            size_t n = 0;
            enum tr_tls_rc rc = wr ? tr_tls_write(c->tls, p, len, &n) : tr_tls_read(c->tls, p, len, &n);
            if (rc == TR_TLS_OK) {
                p += n;
                len -= n;
                continue;
            }
            if (rc == TR_TLS_CLOSED) return -EPIPE;
            if (rc == TR_TLS_FAIL) return -EPROTO;
            want = rc == TR_TLS_WANT_WRITE ? POLLOUT : POLLIN; /* after WANT_*: the same bytes again */
        } else {
            ssize_t r = wr ? send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(c->fd, p, len, MSG_DONTWAIT);
            if (r > 0) {
                p += r;
                len -= (size_t)r;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return -EPIPE;
            if (errno == EINTR) continue;
        }
        int ms = poll_ms(c, left);
        struct pollfd pf = {c->fd, want, 0};
        int pr = poll(&pf, 1, ms);
        if (pr < 0 && errno != EINTR) return -EPIPE;
        int sr = pr == 0 && ms == poll_ms(c, INT64_MAX) ? silence(c) : 0; /* else the deadline, above */
        if (sr) return sr;
    }
    if (some) *some = (size_t)(p - (uint8_t *)buf);
    return 0;
}

static int io_until(struct ist_conn *c, void *buf, size_t len, bool wr, int64_t deadline)
{
    return io_move(c, buf, len, wr, deadline, NULL);
}

/* Reads len bytes through c's read-ahead buffer (the joiner's: one recv or TLS read brings many
 * records, not one call per header and one per body); bodies larger than the buffer go
 * straight to buf. Same results as io_until. */
static int read_until(struct ist_conn *c, void *buf, size_t len, int64_t deadline)
{
    uint8_t *p = buf;
    while (len) {
        if (c->rlen > c->roff) {
            size_t n = c->rlen - c->roff < len ? c->rlen - c->roff : len;
            memcpy(p, c->rb + c->roff, n);
            c->roff += n, p += n, len -= n;
            continue;
        }
        if (!c->rb || len >= IST_READ_AHEAD) return io_until(c, p, len, false, deadline);
        c->roff = c->rlen = 0;
        int rc = io_move(c, c->rb, IST_READ_AHEAD, false, deadline, &c->rlen);
        if (rc) return rc;
    }
    return 0;
}

/* Why an I/O call failed, for a log line. A write that found the connection reset may have an
 * alert from the peer queued before the reset (with TLS 1.3 a server refuses the client's
 * certificate after the client's handshake is done): read it, it says why. */
static const char *io_why(struct ist_conn *c, int rc)
{
    if (c->tls && rc == -EPIPE && tr_tls_failure(c->tls) != TR_TLS_F_CERT) {
        uint8_t b[64];
        size_t n;
        if (tr_tls_read(c->tls, b, sizeof b, &n) == TR_TLS_FAIL && tr_tls_failure(c->tls) == TR_TLS_F_CERT)
            return tr_tls_why(c->tls);
    }
    if ((rc == -EPROTO || rc == -EPIPE) && c->tls && tr_tls_why(c->tls)[0]) return tr_tls_why(c->tls);
    return strerror(-rc);
}

/* A reset, not a FIN: a refused peer leaves no TIME_WAIT behind, and a donor never takes it
 * for the end of a transfer that went well (no close_notify either). */
static void close_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void conn_abort(struct ist_conn *c)
{
    tr_tls_drop(c->tls);
    c->tls = NULL;
    if (c->fd >= 0) close_reset(c->fd);
    c->fd = -1;
}

/* The end of a transfer that went well: close_notify (TLS), then a FIN. */
static void conn_close(struct ist_conn *c)
{
    tr_tls_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* The TLS context of one transfer, made afresh from the files (as Galera does for each IST: a
 * renewed certificate is used from the next transfer on). NULL when IST runs plaintext, or on
 * failure with err set. */
static tr_tls_ctx *tls_ctx(struct repl_node *n, bool *on, char *err, size_t errlen)
{
    pthread_mutex_lock(&n->mu);
    struct tr_tls_opts o = n->ist_tls;
    pthread_mutex_unlock(&n->mu);
    *on = o.enabled;
    return o.enabled ? tr_tls_ctx_new(&o, err, errlen) : NULL;
}

int repl_ist_configure(struct repl_node *n, const char *url, char *err, size_t errlen)
{
    tr_cfg *cfg = url ? repl_group_gcomm_url_cfg(n->cfg, url, err, errlen) : n->cfg;
    if (!cfg) return -1;
    struct tr_tls_opts o;
    char e[TR_TLS_ERR_MAX];
    int rc = tr_tls_opts_from_cfg(cfg, &o, e, sizeof e);
    if (cfg != n->cfg) tr_cfg_free(cfg);
    if (rc) {
        snprintf(err, errlen, "IST: %s", e);
        return -1;
    }
    char addr[REPL_INCOMING_LEN];
    bool ssl_addr = repl_options_ist_recv_addr(n->cfg, addr, sizeof addr) == 0 && !strncmp(addr, "ssl://", 6);
    if (!o.enabled && ssl_addr) {
        snprintf(err, errlen, "IST: ist.recv_addr '%s' asks for TLS, but TLS is not configured (socket.ssl_key, "
                 "socket.ssl_cert, socket.ssl_ca): IST is never taken in plaintext instead", addr);
        return -1;
    }
    if (o.enabled) {
        tr_tls_ctx *ctx = tr_tls_ctx_new(&o, e, sizeof e);
        if (!ctx) {
            snprintf(err, errlen, "IST: TLS cannot be set up: %s", e);
            return -1;
        }
        tr_tls_ctx_free(ctx);
        char set[16] = "";
        if (tr_cfg_get_string(n->cfg, "ist.recv_addr", set, sizeof set) > 0 && !strncmp(set, "tcp://", 6))
            tr_warn("IST: ist.recv_addr says tcp://, but TLS is on: IST is received over TLS only");
        tr_info("IST: TLS in both directions, peers verified against the CA %s", o.ca);
    }
    pthread_mutex_lock(&n->mu);
    n->ist_tls = o;
    pthread_mutex_unlock(&n->mu);
    return 0;
}

int repl_ist_recv_addr(struct repl_node *n, char *buf, size_t len)
{
    if (repl_options_ist_recv_addr(n->cfg, buf, len)) return -1;
    if (n->ist_tls.enabled && !strncmp(buf, "tcp://", 6)) memcpy(buf, "ssl", 3); /* what the donor must dial */
    return 0;
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
    tr_tls_ctx *tls; /* NULL: plaintext */
    tr_uuid group;
    int64_t first, last;
    uint64_t token;
    struct ist_settings dl;
    struct repl_ist_thr *thr;
    char why[256];                /* the reason the transfer failed, for the core's message */
    bool cut;                     /* the donor's stream ended early (the donor may have died) */
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
 * allows that (with TLS) finishes its handshake with a certificate our CA verifies and then
 * presents this transfer's header (the token only the group's chosen donor learnt), both within
 * the header deadline, from an address of that donor. Others are refused and the receiver keeps
 * listening, so that nobody can end a transfer by connecting first. One connection at a time: a
 * slow one holds the others up to the header deadline. 0 with *c, or -1 with j->why set. */
static int accept_donor(struct ist_recv *j, struct ist_conn *c)
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
        *c = (struct ist_conn){.fd = accept4(j->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK)};
        if (c->fd < 0) continue;
        char src[INET6_ADDRSTRLEN + 8], peer[INET6_ADDRSTRLEN + 16];
        tr_sockaddr_text(&ss, src, sizeof src, false);
        /* before a byte is read, as on gcomm's port: MariaDB's wsrep_allowlist */
        if (j->n->allow_peer && !j->n->allow_peer(j->n->allow_ctx, src)) {
            refused(j, src, "not in the allowlist (wsrep_allowlist)");
            conn_abort(c);
            continue;
        }
        int64_t header_dl = tr_now_ns() + j->dl.header_ns;
        if (j->tls) { /* before a byte of ours goes out: both certificates verified */
            tr_sockaddr_text(&ss, peer, sizeof peer, true);
            c->tls = tr_tls_new(j->tls, c->fd, TR_TLS_SERVER, peer);
            int rc = c->tls ? tr_tls_handshake_until(c->tls, (uint64_t)header_dl) : -ENOMEM;
            if (rc) {
                refused(j, src, rc == -ETIMEDOUT ? "no TLS handshake within trireme.ist_header_timeout"
                                : c->tls       ? tr_tls_why(c->tls) : "out of memory");
                conn_abort(c);
                continue;
            }
        }
        uint8_t h[IST_HDR];
        int rc = io_until(c, h, sizeof h, false, header_dl);
        if (rc == -ETIMEDOUT) {
            refused(j, src, "no header within trireme.ist_header_timeout");
            conn_abort(c);
            continue;
        }
        if (rc || tr_get_u32(h) != IST_MAGIC || tr_get_u32(h + 4) < IST_VERSION_MIN || tr_get_u32(h + 4) > IST_VERSION ||
            memcmp(h + 8, j->group.data, 16) != 0 || (int64_t)tr_get_u64(h + 24) != j->first ||
            (int64_t)tr_get_u64(h + 32) != j->last || tr_get_u64(h + 40) != j->token) {
            refused(j, src, "it did not present this transfer's header");
            conn_abort(c);
            continue;
        }
        char why[200];
        if (j->dl.check_donor && !from_donor(j, src, header_dl, why, sizeof why)) {
            refused(j, src, why);
            conn_abort(c);
            continue;
        }
        if (c->tls) {
            char d[384];
            tr_tls_describe(c->tls, d, sizeof d);
            tr_info("IST: the stream comes from %s over TLS (%s)", src, d);
        } else {
            tr_info("IST: the stream comes from %s", src);
        }
        return 0;
    }
}

/* Why the stream ended early, in j->why. */
static const char *stream_failed(struct ist_recv *j, int rc, size_t k, size_t total)
{
    if (rc == -ETIMEDOUT)
        snprintf(j->why, sizeof j->why,
                 "the stream stalled or did not end within trireme.ist_stream_timeout (%.1f s) "
                 "(%zu of %zu actions received)",
                 (double)j->dl.stream_ns / TR_NS_PER_SEC, k, total);
    else
        snprintf(j->why, sizeof j->why, "stream cut short (%zu of %zu actions received)", k, total);
    j->cut = rc != -ETIMEDOUT;
    return j->why;
}

/* Records read but not yet handed to the core: a part, given once it holds IST_PART_RECS records
 * or IST_PART_BYTES bytes, or at the end of the stream (not after a failure: a cut part is
 * dropped, so that a donor dying early leaves nothing of the range at the core). */
struct ist_part {
    struct repl_ist_rec *recs;
    size_t n;
    uint64_t bytes;
};

/* What went to the core and its appliers have not taken yet: a FIFO of (last seqno, bytes) per
 * part handed over; the receiver waits before reading on while it holds IST_AHEAD bytes. */
struct ist_ahead {
    struct { int64_t last; uint64_t bytes; } *q;
    size_t head, len, cap;
    uint64_t bytes;
};

static int ahead_push(struct ist_ahead *a, int64_t last, uint64_t bytes)
{
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void *q = malloc(cap * sizeof *a->q);
        if (!q) return -1;
        for (size_t i = 0; i < a->len; i++) memcpy((char *)q + i * sizeof *a->q, &a->q[(a->head + i) % a->cap], sizeof *a->q);
        free(a->q);
        a->q = q, a->head = 0, a->cap = cap;
    }
    size_t t = (a->head + a->len++) % a->cap;
    a->q[t].last = last;
    a->q[t].bytes = bytes;
    a->bytes += bytes;
    return 0;
}

static void ahead_taken(struct ist_ahead *a, int64_t taken)
{
    while (a->len && a->q[a->head].last <= taken) {
        a->bytes -= a->q[a->head].bytes;
        a->head = (a->head + 1) % a->cap;
        a->len--;
    }
}

/* The last seqno an applier must take for what is still ahead to be within IST_AHEAD. */
static int64_t ahead_wake_at(const struct ist_ahead *a)
{
    uint64_t left = a->bytes;
    for (size_t i = 0; i < a->len; i++) {
        size_t k = (a->head + i) % a->cap;
        left -= a->q[k].bytes;
        if (left <= IST_AHEAD) return a->q[k].last;
    }
    return a->len ? a->q[(a->head + a->len - 1) % a->cap].last : -1;
}

/* Hands the part to the core (which applies it, or keeps it until the host's state is known),
 * then waits while the core's appliers are more than IST_AHEAD bytes behind what this thread
 * handed over: memory stays bounded however long the range, and the donor waits in its send
 * meanwhile (not after the last part: the donor hears the end at once). NULL, or why it
 * stopped (the transfer ended elsewhere, out of memory). */
static const char *hand_over(struct ist_recv *j, struct ist_part *pt, struct ist_ahead *ah,
                             struct repl_istdeps *deps, bool last_part)
{
    if (!pt->n) return NULL;
    int64_t last = pt->recs[pt->n - 1].seqno;
    struct repl_ev ev = {.kind = REPL_EV_IST_PART, .ist = pt->recs, .nist = pt->n};
    pt->recs = NULL, pt->n = 0;
    uint64_t bytes = pt->bytes + 1; /* a part of skips still counts */
    pt->bytes = 0;
    repl_drive(j->n, &ev);
    if (ev.ist) repl_ist_recs_free(ev.ist, ev.nist);
    if (last_part) { /* nothing more to read: the donor hears the end at once */
        if (still_waiting(j->n)) return NULL;
        snprintf(j->why, sizeof j->why, "given up");
        return j->why;
    }
    if (ahead_push(ah, last, bytes)) return "out of memory";
    struct repl_node *n = j->n;
    const char *why = NULL;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        struct repl_core_info in;
        repl_core_info(n->core, &in);
        if (!in.ist_waiting || in.closing || in.closed) {
            snprintf(j->why, sizeof j->why, "given up");
            why = j->why;
            break;
        }
        ahead_taken(ah, in.ist_taken);
        if (in.ist_taken >= j->first) {
            /* an applier took a record of this stream, so the monitors restarted at the range
             * (REPL_ACT_RESET comes first): what they call committed is of this history */
            int64_t done = repl_monitor_last_left(n->apply_mon);
            repl_istdeps_committed(deps, done < in.ist_taken ? done : in.ist_taken);
        }
        if (ah->bytes <= IST_AHEAD) break;
        /* asleep until an applier takes the record that brings it under the bound (the
         * applier's loop signals, repl_driver.c); the timeout only rechecks that the transfer
         * still runs (a node that failed or closes takes nothing more) */
        n->ist_wake_at = ahead_wake_at(ah);
        struct timespec dl = tr_deadline_in(200 * 1000000LL);
        pthread_cond_timedwait(&n->ist_cond, &n->mu, &dl);
        n->ist_wake_at = -1;
    }
    pthread_mutex_unlock(&n->mu);
    return why;
}

/* One connection from the donor: the records first..last, each checked and decoded here, handed
 * to the core part by part as they arrive (it applies them as they come, repl_core). */
static const char *receive(struct ist_recv *j)
{
    struct ist_conn c0, *c = &c0;
    if (accept_donor(j, c)) return j->why;
    struct repl_ev began = {.kind = REPL_EV_IST_BEGAN}; /* before any record: see repl_core.h */
    repl_drive(j->n, &began);
    int64_t stream_dl = tr_now_ns() + j->dl.stream_ns;
    size_t total = (size_t)(j->last - j->first + 1);
    struct ist_part pt = {0};
    struct ist_ahead ah = {0};
    c->rb = malloc(IST_READ_AHEAD); /* without it, one read per header and one per body */
    struct repl_istdeps *deps = repl_istdeps_new(j->first); /* NULL: applied one by one */
    if (!deps) tr_warn("IST: no memory to find what each write-set depends on: applying one at a time");
    const char *why = NULL;
    int64_t t_last = tr_now_ns(), t0 = t_last;
    uint64_t bytes = 0;
    tr_info("Receiving IST: %lld write-sets, seqnos %lld-%lld", (long long)total, (long long)j->first,
            (long long)j->last); /* Galera's words: monitors and tests look for them */
    size_t k = 0;
    for (; !why && k < total; k++) {
        if (tr_now_ns() - t_last >= IST_PROGRESS_NS) {
            t_last = tr_now_ns();
            tr_info("Receiving IST: %zu of %zu actions", k, total);
        }
        if (pt.n == IST_PART_RECS || pt.bytes >= IST_PART_BYTES) {
            if ((why = hand_over(j, &pt, &ah, deps, false))) break;
        }
        if (!pt.recs && !(pt.recs = calloc(IST_PART_RECS, sizeof *pt.recs))) {
            why = "out of memory";
            break;
        }
        uint8_t rh[5];
        int rc = read_until(c, rh, sizeof rh, stream_dl);
        if (rc) {
            why = stream_failed(j, rc, k, total);
            break;
        }
        uint32_t len = tr_get_u32(rh + 1);
        if ((rh[0] != IST_KIND_WS && rh[0] != IST_KIND_SKIP && rh[0] != IST_KIND_VIEW) ||
            (rh[0] == IST_KIND_SKIP && len) || (rh[0] != IST_KIND_SKIP && !len) || len > CERT_WS_MAX_SIZE) {
            why = "malformed record";
            break;
        }
        struct repl_ist_rec *r = &pt.recs[pt.n];
        *r = (struct repl_ist_rec){.seqno = j->first + (int64_t)k};
        if (rh[0] == IST_KIND_SKIP) {
            repl_istdeps_set(deps, r);
            pt.n++;
            continue;
        }
        uint8_t *buf = malloc(len);
        if (!buf) {
            why = "out of memory";
            break;
        }
        rc = read_until(c, buf, len, stream_dl);
        if (rc) {
            free(buf);
            why = stream_failed(j, rc, k, total);
            break;
        }
        if (rh[0] == IST_KIND_VIEW) {
            int ok = repl_vrec_check(buf, len, NULL);
            r->view = ok == 0 ? repl_vrec_decode(buf, len, r->seqno) : NULL;
            free(buf);
            if (!r->view) {
                why = ok == 0 ? "out of memory" : "malformed view record";
                break;
            }
        } else {
            struct repl_ws *ws = repl_ws_new(buf, len);
            if (!ws) {
                why = "out of memory";
                break;
            }
            repl_ws_decode(ws, CERT_WS_MAX_SIZE); /* outside the lock; the core checks the result */
            r->ws = ws;
        }
        repl_istdeps_set(deps, r); /* outside the lock, as the records come */
        pt.n++;
        pt.bytes += len;
        bytes += len;
    }
    if (!why) why = hand_over(j, &pt, &ah, deps, true); /* the last part */
    repl_ist_recs_free(pt.recs, pt.n); /* a part cut short: dropped */
    free(ah.q);
    double dist = repl_istdeps_distance(deps);
    repl_istdeps_free(deps);
    free(c->rb);
    c->rb = NULL;
    if (why) {
        conn_abort(c);
        return why;
    }
    bool tls = c->tls != NULL;
    conn_close(c); /* the donor waits for this end: all of it arrived */
    double secs = (double)(tr_now_ns() - t0) / TR_NS_PER_SEC;
    tr_info("IST received: %zu actions (%lld..%lld), %.1f MB in %.3f s%s; dependency distance %.1f",
            total, (long long)j->first, (long long)j->last, (double)bytes / 1e6, secs,
            tls ? " over TLS" : "", dist);
    return NULL;
}

static void *recv_main(void *arg)
{
    struct ist_recv *j = arg;
    const char *why = receive(j);
    /* Closing the port resets a connection still waiting in its backlog (the chosen donor's,
     * while another held the port), and that donor then reports a failure to the group. The
     * core hears this end's reason first; only a cut stream, after which the core may listen
     * on the same port again at once, frees it before. */
    if (j->cut) close(j->lfd);
    tr_tls_ctx_free(j->tls);
    /* -ECONNRESET: cut short, which a donor that died does (the core may ask another) */
    struct repl_ev ev = {.kind = REPL_EV_IST_RECEIVED, .rc = !why ? 0 : j->cut ? -ECONNRESET : -1,
                         .why = why};
    if (!why || strcmp(why, "given up") != 0) repl_drive(j->n, &ev);
    if (!j->cut) close(j->lfd);
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
    bool on;
    char err[TR_TLS_ERR_MAX];
    j->tls = tls_ctx(n, &on, err, sizeof err);
    if (on && !j->tls) { /* fail closed: never listen in plaintext instead */
        tr_error("IST: cannot receive: TLS cannot be set up: %s", err);
        free(j);
        return -1;
    }
    j->lfd = listen_on(a->addr);
    if (j->lfd < 0 || thread_start(n, recv_main, j, &j->thr)) {
        if (j->lfd >= 0) close(j->lfd);
        tr_tls_ctx_free(j->tls);
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

/* Binds fd to host src (any port) when src is an address of fd's family; nothing otherwise
 * (the kernel then picks the source, as for any client). */
static void bind_source(int fd, int family, const char *src)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE}, *ai = NULL;
    if (!src[0] || getaddrinfo(src, NULL, &hints, &ai) || !ai) return;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen))
        tr_debug("IST: cannot send from %s (%s): the kernel picks the source", src, strerror(errno));
    freeaddrinfo(ai);
}

/* A connection to addr, from host src if given, made before the deadline (non-blocking
 * connect), or -1 with *err. */
static int dial(const char *addr, const char *src, int64_t deadline, int *err)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    *err = ECONNREFUSED;
    if (split_addr(addr, host, sizeof host, port, sizeof port) || getaddrinfo(host, port, &hints, &ai) || !ai)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) bind_source(fd, ai->ai_family, src);
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

/* Streams seqnos first..last of the pinned range: records packed into one buffer straight from
 * the store (the store's lock only for each copy), written IST_SEND_BUF at a time, so that TLS
 * fills whole records and plaintext makes few system calls. 0, or the error and *phase. */
static int stream(struct ist_conn *c, struct repl_act *a, int64_t deadline, const char **phase)
{
    size_t cap = IST_SEND_BUF, off = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    for (int64_t s = a->seqno; !rc && s <= a->depends; s++) {
        size_t len = 0;
        int kind = cap - off >= 5 ? repl_gcache_read_into(a->pin, s, buf + off + 5, cap - off - 5, &len) : -ENOSPC;
        if (kind == -ENOSPC) { /* full: out with what it holds, and room for this one */
            if (off && (rc = io_until(c, buf, off, true, deadline))) break;
            off = 0;
            if (len + 5 > cap) {
                uint8_t *nb = realloc(buf, len + 5);
                if (!nb) {
                    rc = -ENOMEM;
                    break;
                }
                buf = nb;
                cap = len + 5;
            }
            kind = repl_gcache_read_into(a->pin, s, buf + 5, cap - 5, &len);
        }
        if (kind < 0) {
            rc = kind;
            *phase = "store read";
            break;
        }
        buf[off] = kind == 1 ? IST_KIND_WS : kind == 2 ? IST_KIND_VIEW : IST_KIND_SKIP;
        tr_put_u32(buf + off + 1, kind ? (uint32_t)len : 0);
        off += 5 + (kind ? len : 0);
    }
    if (!rc && off) rc = io_until(c, buf, off, true, deadline);
    free(buf);
    return rc;
}

/* After the last byte: the joiner closes once it holds everything (a close_notify with TLS, a
 * FIN without); anything else (a reset, an alert, bytes) means it did not take the stream. */
static int wait_taken(struct ist_conn *c, int64_t deadline)
{
    uint8_t b;
    if (c->tls) {
        int rc = io_until(c, &b, 1, false, deadline);
        if (rc == 0) return -EPROTO; /* the joiner never sends */
        return rc == -EPIPE && !tr_tls_closed_cleanly(c->tls) ? -ECONNRESET : rc == -EPIPE ? 0 : rc;
    }
    for (;;) {
        int64_t left = deadline - tr_now_ns();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd pf = {c->fd, POLLIN, 0};
        int ms = poll_ms(c, left);
        int pr = poll(&pf, 1, ms);
        int sr = pr == 0 && ms == poll_ms(c, INT64_MAX) ? silence(c) : 0;
        if (sr) return sr;
        if (pr <= 0) continue;
        ssize_t r = recv(c->fd, &b, 1, MSG_DONTWAIT);
        if (r == 0) return 0;
        if (r > 0) return -EPROTO;
        if (errno != EAGAIN && errno != EINTR) return -errno;
    }
}

static void *send_main(void *arg)
{
    struct ist_send *j = arg;
    struct repl_act *a = &j->a;
    struct ist_conn c = {.fd = -1};
    const char *phase = "TLS setup", *why = NULL;
    bool on;
    char err[TR_TLS_ERR_MAX];
    tr_tls_ctx *ctx = tls_ctx(j->n, &on, err, sizeof err);
    int rc = on && !ctx ? -EPROTO : 0;
    if (rc) {
        why = err;
    } else if (!on && !strncmp(a->addr, "ssl://", 6)) { /* the joiner takes TLS only: nothing in clear */
        rc = -EPROTO;
        why = "the joiner receives IST over TLS (ssl://) and TLS is not configured here (socket.ssl_key, "
              "socket.ssl_cert, socket.ssl_ca): nothing sent in plaintext";
    }
    if (!rc) {
        int err_no = 0;
        phase = "connect";
        c.fd = dial(a->addr, j->dl.src, tr_now_ns() + j->dl.connect_ns, &err_no);
        rc = c.fd < 0 ? -err_no : 0;
    }
    int64_t header_dl = tr_now_ns() + j->dl.header_ns;
    if (!rc && ctx) { /* the joiner's certificate verified before a byte of the stream goes out */
        phase = "TLS handshake";
        const char *host = strstr(a->addr, "://");
        c.tls = tr_tls_new(ctx, c.fd, TR_TLS_CLIENT, host ? host + 3 : a->addr);
        rc = c.tls ? tr_tls_handshake_until(c.tls, (uint64_t)header_dl) : -ENOMEM;
        if (rc && c.tls) why = tr_tls_why(c.tls);
    }
    if (!rc) {
        uint8_t h[IST_HDR];
        tr_put_u32(h, IST_MAGIC);
        tr_put_u32(h + 4, IST_VERSION);
        memcpy(h + 8, j->group.data, 16);
        tr_put_u64(h + 24, (uint64_t)a->seqno);
        tr_put_u64(h + 32, (uint64_t)a->depends);
        tr_put_u64(h + 40, a->token);
        phase = "header";
        rc = io_until(&c, h, sizeof h, true, header_dl);
    }
    int64_t stream_dl = tr_now_ns() + j->dl.stream_ns;
    if (!rc) {
        /* the joiner takes the stream as fast as it applies it: a write may wait long (an
         * applier on a long DDL). A joiner that died is still noticed: its kernel resets the
         * connection; with its machine gone, TCP's retransmission and window-probe limits
         * (net.ipv4.tcp_retries2) end it, or keepalives while nothing is in flight. No
         * TCP_USER_TIMEOUT: since Linux 5.11 it also ends a connection whose peer keeps its
         * window shut that long while answering every probe, i.e. a live joiner whose
         * appliers are busy. */
        c.patient = true;
        c.n = j->n;
        int one = 1, idle = 10, intvl = 5, cnt = 4;
        setsockopt(c.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        setsockopt(c.fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        phase = "stream";
        rc = stream(&c, a, stream_dl, &phase);
    }
    if (!rc) {
        phase = "end";
        rc = wait_taken(&c, stream_dl);
    }
    char said[TR_TLS_ERR_MAX];
    snprintf(said, sizeof said, "%s", why ? why : c.fd >= 0 ? io_why(&c, rc) : strerror(-rc));
    if (rc) conn_abort(&c); /* frees what why may point into */
    else conn_close(&c);
    tr_tls_ctx_free(ctx);
    if (rc)
        /* Galera's words first: MariaDB's tests and monitoring look for them */
        tr_warn("async IST sender failed to serve %s: failed in its %s phase (%s)", a->addr, phase, said);
    else
        tr_info("IST sent to %s: %lld..%lld%s", a->addr, (long long)a->seqno, (long long)a->depends,
                on ? " over TLS" : "");
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
