/* tools/trireme-status/ts_serve.c: --serve-check, clustercheck's HTTP answer without xinetd: one
 * process, a poll loop for HTTP and one thread that checks the node, bounded in every way. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mysql.h>

#include "ts.h"

#define REQ_MAX 4096      /* bytes of request (line and headers) read at most */
#define REQ_TIMEOUT_S 5.0 /* to send the request, and then to read the answer */
#define DRAIN_S 1.0       /* reading what the client still sends after our answer */

enum cstate { C_FREE, C_READING, C_WAITING, C_WRITING, C_DRAINING };

struct client {
    enum cstate st;
    int fd;
    double deadline;
    char req[REQ_MAX];
    size_t len;
    bool head;              /* HEAD: headers only */
    unsigned long long seq; /* the check that answers it */
    char out[TS_ERR_LEN + 256];
    size_t out_len, out_off;
};

/* The checker thread and the poll loop share these, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned long long asked, done; /* checks asked for, and the last one done */
static struct ts_verdict verdict;
static int wake_fd = -1;
static volatile sig_atomic_t stop;
static double check_wait_s; /* a check answers within its timeouts; a request waits this long */

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
    if (wake_fd >= 0) {
        uint64_t one = 1;
        if (write(wake_fd, &one, sizeof one) < 0) { /* the loop wakes on its timeout anyway */ }
    }
}

/* Checks when asked; keeps one connection to the server between checks and opens a new one
 * when it broke (a restarted server). */
static void *checker(void *arg)
{
    const struct ts_opts *o = arg;
    void *conn = NULL;
    mysql_thread_init();
    pthread_mutex_lock(&mu);
    while (!stop) {
        if (asked == done) {
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        unsigned long long n = asked;
        pthread_mutex_unlock(&mu);
        struct ts_sample s = {0};
        for (int attempt = 0; attempt < 2; attempt++) {
            if (!conn) {
                char err[TS_ERR_LEN];
                conn = ts_connect(&o->conn, NULL, 0, false, err, sizeof err);
                if (!conn) {
                    ts_sample_clear(&s);
                    snprintf(s.error, sizeof s.error, "%s", err);
                    break;
                }
            }
            if (ts_read(conn, &s)) break;
            ts_disconnect(conn);
            conn = NULL;
        }
        struct ts_verdict v;
        ts_check_verdict(o, &s, &v);
        ts_sample_clear(&s);
        pthread_mutex_lock(&mu);
        if (v.ok != verdict.ok || strcmp(v.reason, verdict.reason) != 0 || done == 0)
            fprintf(stderr, "trireme-status: %s %s\n", v.ok ? "200" : "503", v.reason);
        verdict = v;
        done = n;
        uint64_t one = 1;
        if (write(wake_fd, &one, sizeof one) < 0) { /* cannot fail for an eventfd below max */ }
    }
    pthread_mutex_unlock(&mu);
    ts_disconnect(conn);
    mysql_thread_end();
    return NULL;
}

static int listen_on(const char *spec)
{
    char host[TS_ADDR_LEN], port[16];
    unsigned p = 0;
    if (spec[0] == ':') { /* ":9200": every address */
        host[0] = '\0';
        char *end;
        long v = strtol(spec + 1, &end, 10);
        if (*end || v < 1 || v > 65535) return -1;
        p = (unsigned)v;
    } else if (!ts_split_addr(spec, host, sizeof host, &p, 0)) {
        return -1;
    }
    if (p == 0) return -1;
    snprintf(port, sizeof port, "%u", p);
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "trireme-status: --serve-check %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    /* With no address, prefer IPv6 with IPv4 mapped in, so one socket takes both. */
    for (int pass = 0; pass < 2 && fd < 0; pass++)
        for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
            if (!host[0] && pass == 0 && a->ai_family != AF_INET6) continue;
            fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            int one = 1, zero = 0;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (a->ai_family == AF_INET6 && !host[0])
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
            if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 64)) {
                fprintf(stderr, "trireme-status: --serve-check %s: %s\n", spec, strerror(errno));
                close(fd);
                fd = -1;
            }
        }
    freeaddrinfo(ai);
    return fd;
}

static void client_close(struct client *c)
{
    close(c->fd);
    c->st = C_FREE;
    c->fd = -1;
}

/* The request is complete at its blank line; anything is accepted as a request (clustercheck
 * answers whatever comes), only HEAD changes the answer. */
static bool request_complete(struct client *c)
{
    c->req[c->len] = '\0';
    if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) return false;
    c->head = strncasecmp(c->req, "HEAD ", 5) == 0;
    return true;
}

static void respond(struct client *c, int code, const char *reason_phrase, const char *body)
{
    char b[TS_ERR_LEN + 80];
    int bl = snprintf(b, sizeof b, "%s\r\n", body);
    if (bl < 0 || (size_t)bl >= sizeof b) bl = (int)sizeof b - 1;
    int n = snprintf(c->out, sizeof c->out,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     code, reason_phrase, bl, c->head ? "" : b);
    c->out_len = n < 0 ? 0 : (size_t)n >= sizeof c->out ? sizeof c->out - 1 : (size_t)n;
    c->out_off = 0;
    c->st = C_WRITING;
    c->deadline = ts_now() + REQ_TIMEOUT_S;
}

static void on_readable(struct client *c)
{
    if (c->st == C_DRAINING) {
        char sink[1024];
        ssize_t r = recv(c->fd, sink, sizeof sink, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) client_close(c);
        return;
    }
    ssize_t r = recv(c->fd, c->req + c->len, REQ_MAX - 1 - c->len, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        client_close(c);
        return;
    }
    if (r < 0) return;
    c->len += (size_t)r;
    if (request_complete(c)) {
        pthread_mutex_lock(&mu);
        c->seq = ++asked;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        c->st = C_WAITING;
        c->deadline = ts_now() + check_wait_s;
    } else if (c->len >= REQ_MAX - 1) {
        c->head = false;
        respond(c, 400, "Bad Request", "Request too long.");
    }
}

static void on_writable(struct client *c)
{
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) client_close(c);
        return;
    }
    c->out_off += (size_t)w;
    if (c->out_off == c->out_len) {
        /* Closing with unread input would reset the connection and could lose the answer:
         * half-close and read until the client closes (or briefly). */
        shutdown(c->fd, SHUT_WR);
        c->st = C_DRAINING;
        c->deadline = ts_now() + DRAIN_S;
    }
}

int ts_serve(const struct ts_opts *o)
{
    int lfd = listen_on(o->serve);
    if (lfd < 0) {
        fprintf(stderr, "trireme-status: cannot listen on '%s' (ADDR:PORT, :PORT or [V6]:PORT)\n",
                o->serve);
        return TS_EXIT_USAGE;
    }
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t th;
    if (wake_fd < 0 || pthread_create(&th, NULL, checker, (void *)o) != 0) {
        fprintf(stderr, "trireme-status: cannot start the checker\n");
        return TS_EXIT_USAGE;
    }
    int maxc = o->max_clients;
    struct client *cl = calloc((size_t)maxc, sizeof *cl);
    struct pollfd *pf = calloc((size_t)maxc + 2, sizeof *pf);
    int *who = calloc((size_t)maxc + 2, sizeof *who);
    if (!cl || !pf || !who) return TS_EXIT_USAGE;
    for (int i = 0; i < maxc; i++) cl[i].fd = -1;
    /* a check answers within its timeouts (connect, greeting, login, two queries, once more on
     * a fresh connection); a request may also wait for the check running when it came */
    check_wait_s = 2 * (6.0 * o->conn.timeout_s + 1);
    fprintf(stderr, "trireme-status: serving the health check on %s\n", o->serve);
    while (!stop) {
        int n = 0, used = 0;
        pf[n] = (struct pollfd){wake_fd, POLLIN, 0};
        who[n++] = -1;
        for (int i = 0; i < maxc; i++) {
            if (cl[i].st == C_FREE) continue;
            used++;
            short ev = cl[i].st == C_WRITING ? POLLOUT : cl[i].st == C_WAITING ? 0 : POLLIN;
            pf[n] = (struct pollfd){cl[i].fd, ev, 0};
            who[n++] = i;
        }
        if (used < maxc) { /* when full, new connections wait in the backlog */
            pf[n] = (struct pollfd){lfd, POLLIN, 0};
            who[n++] = -2;
        }
        double now = ts_now(), next = now + 1.0;
        for (int i = 0; i < maxc; i++)
            if (cl[i].st != C_FREE && cl[i].deadline < next) next = cl[i].deadline;
        int ms = next > now ? (int)((next - now) * 1000) + 1 : 0;
        int r = poll(pf, (nfds_t)n, ms);
        if (r < 0 && errno != EINTR) break;
        for (int k = 0; r > 0 && k < n; k++) {
            if (!pf[k].revents) continue;
            if (who[k] == -1) {
                uint64_t v;
                if (read(wake_fd, &v, sizeof v) < 0) { /* spurious wake-up */ }
            } else if (who[k] == -2) {
                for (int i = 0; i < maxc; i++) {
                    if (cl[i].st != C_FREE) continue;
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    cl[i] = (struct client){.st = C_READING, .fd = fd};
                    cl[i].deadline = ts_now() + REQ_TIMEOUT_S;
                }
            } else {
                struct client *c = &cl[who[k]];
                if (c->st == C_WRITING && (pf[k].revents & (POLLOUT | POLLERR | POLLHUP)))
                    on_writable(c);
                else if (pf[k].revents & (POLLIN | POLLERR | POLLHUP))
                    on_readable(c);
            }
        }
        /* answers for the requests whose check is done */
        pthread_mutex_lock(&mu);
        unsigned long long d = done;
        struct ts_verdict v = verdict;
        pthread_mutex_unlock(&mu);
        now = ts_now();
        for (int i = 0; i < maxc; i++) {
            struct client *c = &cl[i];
            if (c->st == C_WAITING && d >= c->seq) {
                respond(c, v.ok ? 200 : 503, v.ok ? "OK" : "Service Unavailable", v.reason);
                on_writable(c);
            } else if (c->st == C_WAITING && now >= c->deadline) {
                respond(c, 503, "Service Unavailable", "Node is not synced: the check timed out.");
                on_writable(c);
            } else if (c->st != C_FREE && now >= c->deadline) {
                client_close(c);
            }
        }
    }
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    for (int i = 0; i < maxc; i++)
        if (cl[i].st != C_FREE) close(cl[i].fd);
    free(cl);
    free(pf);
    free(who);
    close(lfd);
    close(wake_fd);
    return 0;
}
