/* tools/wsrep_sst_trireme/sst_net: the transport, one TCP connection with monotonic deadlines,
 * plaintext or TLS (common/tr_tls: OpenSSL 3, the certificates of [sst] or of gcomm). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tr_time.h"
#include "common/tr_tls.h"
#include "tools/wsrep_sst_trireme/sst.h"
#include "tools/wsrep_sst_trireme/sst_codec.h"

struct sst_tls {
    tr_tls_ctx *ctx;
};

struct sst_conn {
    int fd;
    tr_tls *tls;             /* NULL: plaintext */
    int64_t idle_ns;
    char peer[NI_MAXHOST + NI_MAXSERV + 8];
    char why[2048];
};

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

struct sst_tls *sst_tls_new(const struct sst_opts *o, char *err, size_t errlen)
{
    *err = '\0';
    if (!*o->tcert) return NULL;
    struct tr_tls_opts t = {.enabled = true};
    if (sst_fmt(t.cert, sizeof t.cert, "%s", o->tcert) || sst_fmt(t.key, sizeof t.key, "%s", o->tkey) ||
        sst_fmt(t.ca, sizeof t.ca, "%s", *o->tca ? o->tca : o->tcert)) {
        say(err, errlen, "a TLS file name (tcert, tkey or tca) is longer than %d bytes",
            TR_TLS_PATH_MAX - 1);
        return NULL;
    }
    struct sst_tls *s = calloc(1, sizeof *s);
    if (!s) {
        say(err, errlen, "out of memory");
        return NULL;
    }
    s->ctx = tr_tls_ctx_new(&t, err, errlen);
    if (!s->ctx) {
        free(s);
        if (!*err) say(err, errlen, "cannot load the TLS certificate %s", o->tcert);
        return NULL;
    }
    char d[512];
    tr_tls_ctx_describe(s->ctx, d, sizeof d);
    sst_info("TLS on: %s", d);
    return s;
}

int sst_secure_setup(const struct sst_opts *o, struct sst_tls **tls)
{
    char err[768];
    *tls = NULL;
    if (sst_crypto_init()) {
        sst_error("libgcrypt cannot be initialised");
        return SST_EXIT_FAIL;
    }
    *tls = sst_tls_new(o, err, sizeof err);
    if (!*tls && *err) {
        sst_error("TLS for SST: %s", err);
        return SST_EXIT_INVAL;
    }
    return 0;
}

void sst_tls_free(struct sst_tls *t)
{
    if (!t) return;
    tr_tls_ctx_free(t->ctx);
    free(t);
}

static void peer_name(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getnameinfo(sa, len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV))
        sst_fmt(out, outlen, "?");
    else if (sa->sa_family == AF_INET6)
        sst_fmt(out, outlen, "[%s]:%s", h, p);
    else
        sst_fmt(out, outlen, "%s:%s", h, p);
}

int sst_listen(const char *host, uint16_t port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char ps[8];
    sst_fmt(ps, sizeof ps, "%u", port);
    for (int pass = 0; pass < 2; pass++) {
        /* first the host of --address; if it is not ours (NAT), any address */
        const char *h = pass == 0 ? host : NULL;
        if (pass == 1) hints.ai_family = strchr(host, ':') ? AF_INET6 : AF_UNSPEC;
        int rc = getaddrinfo(h, ps, &hints, &ai);
        if (rc) {
            say(err, errlen, "cannot resolve %s: %s", h ? h : "any", gai_strerror(rc));
            continue;
        }
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) continue;
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0) {
                if (pass == 1) sst_info("%s is not an address of this host: listening on any", host);
                freeaddrinfo(ai);
                return fd;
            }
            say(err, errlen, "cannot listen on %s port %u: %s", h ? h : "any", port, strerror(errno));
            close(fd);
            if (errno == EADDRINUSE) { /* somebody else's port: do not fall back to any */
                freeaddrinfo(ai);
                return -1;
            }
        }
        freeaddrinfo(ai);
    }
    return -1;
}

static int wait_fd(int fd, short ev, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - tr_now_ns();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int ms = (int)(left / 1000000 + 1);
        int rc = poll(&p, 1, ms > 1000 ? 1000 : ms);
        if (rc > 0) return 1;
        if (rc < 0 && errno != EINTR) return -1;
        if (rc == 0 && ms > 1000) continue; /* re-checks the deadline once a second */
    }
}

static struct sst_conn *conn_new(int fd, const char *peer)
{
    struct sst_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->idle_ns = 120 * TR_NS_PER_SEC;
    sst_fmt(c->peer, sizeof c->peer, "%s", peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static int start_tls(struct sst_conn *c, struct sst_tls *tls, enum tr_tls_role role,
                     int64_t deadline_ns, char *err, size_t errlen)
{
    if (!tls) return 0;
    c->tls = tr_tls_new(tls->ctx, c->fd, role, c->peer);
    if (!c->tls) {
        say(err, errlen, "out of memory");
        return -1;
    }
    int rc = tr_tls_handshake_until(c->tls, (uint64_t)deadline_ns);
    if (rc) {
        say(err, errlen, "TLS handshake with %s failed: %s", c->peer,
            rc == -ETIMEDOUT ? "timed out" : tr_tls_why(c->tls));
        return -1;
    }
    char d[512];
    tr_tls_describe(c->tls, d, sizeof d);
    sst_info("TLS with %s: %s", c->peer, d);
    return 0;
}

struct sst_conn *sst_accept(int lfd, struct sst_tls *tls, int64_t deadline_ns, long parent,
                            char *err, size_t errlen)
{
    for (;;) {
        if (sst_parent_gone(parent)) {
            say(err, errlen, "the server (pid %ld) is gone", parent);
            return NULL;
        }
        int w = wait_fd(lfd, POLLIN, tr_now_ns() + TR_NS_PER_SEC < deadline_ns
                                         ? tr_now_ns() + TR_NS_PER_SEC : deadline_ns);
        if (w < 0) {
            say(err, errlen, "poll: %s", strerror(errno));
            return NULL;
        }
        if (w == 0) {
            if (tr_now_ns() >= deadline_ns) {
                say(err, errlen, "no donor connected in time (sst-initial-timeout)");
                return NULL;
            }
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
            say(err, errlen, "accept: %s", strerror(errno));
            return NULL;
        }
        char peer[NI_MAXHOST + NI_MAXSERV + 8];
        peer_name((struct sockaddr *)&ss, sl, peer, sizeof peer);
        struct sst_conn *c = conn_new(fd, peer);
        if (!c) {
            close(fd);
            say(err, errlen, "out of memory");
            return NULL;
        }
        sst_info("donor connected from %s", peer);
        if (start_tls(c, tls, TR_TLS_SERVER, deadline_ns, err, errlen)) {
            sst_conn_close(c);
            return NULL;
        }
        return c;
    }
}

struct sst_conn *sst_connect(const char *host, uint16_t port, struct sst_tls *tls,
                             int64_t deadline_ns, char *err, size_t errlen)
{
    char ps[8];
    sst_fmt(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc) {
        say(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    say(err, errlen, "cannot connect to %s port %u", host, port);
    /* the joiner said "ready" before MariaDB sent the request, but retry for a moment anyway */
    while (tr_now_ns() < deadline_ns) {
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) continue;
            if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
                say(err, errlen, "cannot connect to %s port %u: %s", host, port, strerror(errno));
                close(fd);
                continue;
            }
            int so = 0;
            socklen_t sl = sizeof so;
            if (wait_fd(fd, POLLOUT, deadline_ns) <= 0 ||
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) || so) {
                say(err, errlen, "cannot connect to %s port %u: %s", host, port,
                    so ? strerror(so) : "timed out");
                close(fd);
                continue;
            }
            char peer[NI_MAXHOST + NI_MAXSERV + 8];
            peer_name(a->ai_addr, a->ai_addrlen, peer, sizeof peer);
            freeaddrinfo(ai);
            struct sst_conn *c = conn_new(fd, peer);
            if (!c) {
                close(fd);
                say(err, errlen, "out of memory");
                return NULL;
            }
            if (start_tls(c, tls, TR_TLS_CLIENT, deadline_ns, err, errlen)) {
                sst_conn_close(c);
                return NULL;
            }
            return c;
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    freeaddrinfo(ai);
    return NULL;
}

void sst_conn_set_idle(struct sst_conn *c, int64_t idle_ns) { c->idle_ns = idle_ns; }
const char *sst_conn_why(const struct sst_conn *c) { return c->why; }
const char *sst_conn_peer(const struct sst_conn *c) { return c->peer; }

long sst_conn_read(struct sst_conn *c, void *buf, size_t len)
{
    int64_t deadline = tr_now_ns() + c->idle_ns;
    for (;;) {
        short ev = POLLIN;
        if (c->tls) {
            size_t got = 0;
            enum tr_tls_rc rc = tr_tls_read(c->tls, buf, len, &got);
            if (rc == TR_TLS_OK) return (long)got;
            if (rc == TR_TLS_CLOSED) return 0;
            if (rc == TR_TLS_FAIL) {
                sst_fmt(c->why, sizeof c->why, "%s", tr_tls_why(c->tls));
                return -1;
            }
            if (rc == TR_TLS_WANT_WRITE) ev = POLLOUT;
        } else {
            ssize_t n = recv(c->fd, buf, len, 0);
            if (n >= 0) return (long)n;
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sst_fmt(c->why, sizeof c->why, "receiving from %s: %s", c->peer, strerror(errno));
                return errno == ECONNRESET ? 0 : -1; /* a reset is an early end: "truncated" */
            }
        }
        int w = wait_fd(c->fd, ev, deadline);
        if (w <= 0) {
            sst_fmt(c->why, sizeof c->why, "%s sent nothing for %lld s (sst-idle-timeout)",
                     c->peer, (long long)(c->idle_ns / TR_NS_PER_SEC));
            return -1;
        }
    }
}

int sst_conn_write(struct sst_conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    int64_t deadline = tr_now_ns() + c->idle_ns;
    while (len > 0) {
        short ev = POLLOUT;
        size_t put = 0;
        if (c->tls) {
            enum tr_tls_rc rc = tr_tls_write(c->tls, p, len, &put);
            if (rc == TR_TLS_CLOSED || rc == TR_TLS_FAIL) {
                sst_fmt(c->why, sizeof c->why, "%s", tr_tls_why(c->tls));
                return -1;
            }
            if (rc == TR_TLS_WANT_READ) ev = POLLIN;
        } else {
            ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n > 0) put = (size_t)n;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                sst_fmt(c->why, sizeof c->why, "sending to %s: %s", c->peer, strerror(errno));
                return -1;
            }
        }
        if (put) {
            p += put;
            len -= put;
            deadline = tr_now_ns() + c->idle_ns;
            continue;
        }
        if (wait_fd(c->fd, ev, deadline) <= 0) {
            sst_fmt(c->why, sizeof c->why, "%s took nothing for %lld s (sst-idle-timeout)",
                     c->peer, (long long)(c->idle_ns / TR_NS_PER_SEC));
            return -1;
        }
    }
    return 0;
}

void sst_conn_shutdown(struct sst_conn *c)
{
    if (!c->tls) shutdown(c->fd, SHUT_WR);
    /* TLS: the END frame already tells the joiner the stream is over; close_notify at close */
}

void sst_conn_close(struct sst_conn *c)
{
    if (!c) return;
    if (c->tls) tr_tls_free(c->tls);
    close(c->fd);
    free(c);
}
