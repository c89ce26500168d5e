/* tests/ops/lb_probe.c: clients writing through a load balancer, measuring what they see: commits
 * and errors per second, errors by code, the longest time without any commit (ms resolution).
 * Usage: lb_probe HOST PORT USER PASSWORD SECONDS THREADS. Each thread commits single-row
 * UPDATEs (autocommit) and, after a connection error, reconnects as an application would. It
 * stands in for sysbench 1.0.20, which crashes when it reconnects. */
#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 3600
#define MAX_CODES 32

static const char *host, *user, *password;
static unsigned port;
static int seconds;
static double t0, wall0;
static atomic_int commits_per_s[MAX_SECONDS], errors_per_s[MAX_SECONDS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double last_commit, max_gap, max_gap_at;
static unsigned codes[MAX_CODES], code_n[MAX_CODES];
static int ncodes;
static volatile sig_atomic_t stop;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_commit(double t)
{
    int s = (int)(t - t0);
    if (s >= 0 && s < MAX_SECONDS) atomic_fetch_add(&commits_per_s[s], 1);
    pthread_mutex_lock(&mu);
    if (t - last_commit > max_gap) {
        max_gap = t - last_commit;
        max_gap_at = last_commit - t0;
    }
    if (t > last_commit) last_commit = t;
    pthread_mutex_unlock(&mu);
}

static void on_error(unsigned code)
{
    int s = (int)(now() - t0);
    if (s >= 0 && s < MAX_SECONDS) atomic_fetch_add(&errors_per_s[s], 1);
    pthread_mutex_lock(&mu);
    int i = 0;
    while (i < ncodes && codes[i] != code) i++;
    if (i == ncodes && ncodes < MAX_CODES) codes[ncodes++] = code;
    if (i < MAX_CODES) code_n[i]++;
    pthread_mutex_unlock(&mu);
}

static MYSQL *open_conn(void)
{
    MYSQL *m = mysql_init(NULL);
    unsigned ct = 2, rt = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rt);
    mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &rt);
    if (!mysql_real_connect(m, host, user, password, "probe", port, NULL, 0)) {
        on_error(mysql_errno(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE t SET n = n + 1 WHERE id = %d", id);
    mysql_thread_init();
    MYSQL *m = NULL;
    while (!stop && now() - t0 < seconds) {
        if (!m && !(m = open_conn())) {
            usleep(20000);
            continue;
        }
        if (mysql_query(m, sql) == 0) {
            on_commit(now());
            continue;
        }
        unsigned e = mysql_errno(m);
        on_error(e);
        /* client errors (2xxx), a killed or refused session: the application reconnects */
        if (e >= 2000 || e == 1927 || e == 1047 || e == 1053 || e == 4031) {
            mysql_close(m);
            m = NULL;
            usleep(20000);
        }
    }
    if (m) mysql_close(m);
    mysql_thread_end();
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: lb_probe HOST PORT USER PASSWORD SECONDS THREADS\n");
        return 2;
    }
    host = argv[1];
    port = (unsigned)atoi(argv[2]);
    user = argv[3];
    password = argv[4];
    seconds = atoi(argv[5]);
    int threads = atoi(argv[6]);
    if (seconds < 1 || seconds > MAX_SECONDS || threads < 1 || threads > 256) return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    mysql_library_init(0, NULL, NULL);
    struct timeval wall;
    gettimeofday(&wall, NULL);
    wall0 = (double)wall.tv_sec + (double)wall.tv_usec / 1e6;
    t0 = last_commit = now();
    pthread_t th[256];
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, worker, (void *)(long)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double end = now();
    if (end - last_commit > max_gap) { /* no commit at the end counts too */
        max_gap = end - last_commit;
        max_gap_at = last_commit - t0;
    }
    int secs = (int)(end - t0), total = 0, errs = 0;
    printf("per_second (commits/errors):");
    for (int s = 0; s <= secs && s < MAX_SECONDS; s++) {
        printf(" %d/%d", commits_per_s[s], errors_per_s[s]);
        total += commits_per_s[s];
        errs += errors_per_s[s];
    }
    printf("\nerrors_by_code:");
    for (int i = 0; i < ncodes; i++) printf(" %u x%u", codes[i], code_n[i]);
    printf("\nRESULT start_epoch=%.3f seconds=%.1f commits=%d errors=%d longest_gap_ms=%.0f "
           "gap_from_s=%.1f\n",
           wall0, end - t0, total, errs, max_gap * 1000, max_gap_at);
    mysql_library_end();
    return 0;
}
