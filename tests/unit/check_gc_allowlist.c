/* tests/unit/check_gc_allowlist: the host's allowlist (gc_config.allow) on gcomm's TCP driver.
 * A refused address is closed at once and said once; an allowed node joins as before. */
#include "gcomm/gc_node.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_log.h"

#define MS 1000000ll

/* What the callback saw, and what the log said (the I/O thread writes, the test reads). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int asked, asked_refused, refusal_lines;
static char last_asked[64];
static char refused_addr[] = "127.0.0.2";

static bool allow(void *ctx, const char *addr)
{
    pthread_mutex_lock(&mu);
    asked++;
    snprintf(last_asked, sizeof last_asked, "%s", addr);
    bool ok = strcmp(addr, (const char *)ctx) != 0;
    asked_refused += !ok;
    pthread_mutex_unlock(&mu);
    return ok;
}

static void sink(enum tr_log_level l, const char *m)
{
    if (l <= TR_LOG_WARN && strstr(m, "not in the allowlist")) {
        pthread_mutex_lock(&mu);
        refusal_lines++;
        pthread_mutex_unlock(&mu);
    }
}

static int get(int *v)
{
    pthread_mutex_lock(&mu);
    int x = *v;
    pthread_mutex_unlock(&mu);
    return x;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void config(struct gc_config *cfg, const char *name, int port)
{
    gc_config_defaults(cfg);
    cfg->wait_prim = false;
    cfg->peer_timeout_ns = 20000 * MS; /* a close by deadline would come long after the test */
    snprintf(cfg->group, sizeof cfg->group, "allow");
    snprintf(cfg->name, sizeof cfg->name, "%s", name);
    snprintf(cfg->listen_addr, sizeof cfg->listen_addr, "tcp://127.0.0.1:%d", port);
    snprintf(cfg->base_host, sizeof cfg->base_host, "127.0.0.1");
}

/* A plain TCP connection to 127.0.0.1:port from source address src (127.0.0.0/8 is all local on
 * Linux). Returns how many ms until the node closed it, or -1 if it was still open after
 * wait_ms. Nothing is sent: the node must decide before the peer says anything. */
static long long closed_within(const char *src, int port, int wait_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&d, sizeof d), 0);
    long long t0 = now_ms(), gone = -1;
    while (now_ms() - t0 < wait_ms) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char b[64];
        ssize_t r = recv(fd, b, sizeof b, 0);
        ck_assert_msg(r <= 0, "the node sent %zd bytes to an unproven peer", r);
        gone = now_ms() - t0;
        break;
    }
    close(fd);
    return gone;
}

START_TEST(refused_address_closed_at_once)
{
    tr_log_set_sink(sink);
    /* below 32768: a port in the kernel's ephemeral range (32768-60999 by default) can be the local
     * end of some other loopback connection, and the bind fails (EADDRINUSE) */
    int port = 12000 + (int)(getpid() % 20000);
    struct gc_config cfg;
    config(&cfg, "a", port);
    cfg.allow = allow;
    cfg.allow_ctx = refused_addr;
    gc_node *a = gc_node_create(&cfg);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(gc_node_start(a), 0);

    long long t = closed_within("127.0.0.2", port, 2000);
    ck_assert_msg(t >= 0 && t < 1000, "a refused peer's link closed after %lld ms", t);
    ck_assert_int_eq(get(&asked_refused), 1);
    pthread_mutex_lock(&mu);
    ck_assert_str_eq(last_asked, "127.0.0.2"); /* the address alone, as MariaDB's list holds it */
    pthread_mutex_unlock(&mu);
    /* dialling again at once: refused without asking the host again, and not logged again */
    t = closed_within("127.0.0.2", port, 2000);
    ck_assert_msg(t >= 0 && t < 1000, "a refused peer's link closed after %lld ms", t);
    ck_assert_int_eq(get(&asked_refused), 1);
    ck_assert_int_eq(get(&refusal_lines), 1);

    /* an allowed address is asked about and left to prove itself (no close before its deadline) */
    ck_assert_int_eq(closed_within("127.0.0.1", port, 300), -1);
    ck_assert_int_ge(get(&asked), 2);

    /* a real node from an allowed address joins */
    struct gc_config cb;
    config(&cb, "b", port + 1);
    cb.nseeds = 1;
    snprintf(cb.seeds[0], GC_ADDR_MAX, "127.0.0.1:%d", port);
    gc_node *b = gc_node_create(&cb);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(gc_node_start(b), 0);
    struct gc_stats st = {0};
    for (int k = 0; k < 1500; k++) {
        gc_node_stats(a, &st);
        if (st.members == 2 && gc_node_is_primary(b)) break;
        usleep(10000);
    }
    ck_assert_int_eq(st.members, 2);
    ck_assert(gc_node_is_primary(b));
    ck_assert_int_eq(get(&asked_refused), 1);
    gc_node_stop(b);
    gc_node_stop(a);
    gc_node_destroy(b);
    gc_node_destroy(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gc_allowlist");
    TCase *t = tcase_create("tcp");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, refused_address_closed_at_once);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
