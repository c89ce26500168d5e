/* tools/trireme-kv/avail.c: --avail: the clients write through a failover for a fixed time, so
 * that a test can see whether (and after how long) a survivor keeps committing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kv.h"

bool kv_avail_refused(struct kv_node *n, wsrep_status_t rc)
{
    if (n->cfg.avail <= 0 || (rc != WSREP_CONN_FAIL && rc != WSREP_NODE_FAIL)) return false;
    atomic_fetch_add(&n->unavailable, 1);
    return true;
}

void kv_avail_commit(struct kv_node *n, double now_ms)
{
    pthread_mutex_lock(&n->commit_mu);
    if (n->last_commit_ms > 0 && now_ms - n->last_commit_ms > n->max_gap_ms) {
        n->max_gap_ms = now_ms - n->last_commit_ms;
        n->max_gap_at_ms = now_ms;
    }
    if (now_ms > n->last_commit_ms) n->last_commit_ms = now_ms;
    pthread_mutex_unlock(&n->commit_mu);
}

/* Wall-clock milliseconds: lines of several processes on one host compare. */
static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct ticker {
    struct kv_node *n;
    atomic_int stop;
};

static void *tick_main(void *arg)
{
    struct ticker *t = arg;
    struct kv_node *n = t->n;
    while (!atomic_load(&t->stop)) {
        pthread_mutex_lock(&n->commit_mu);
        long commits = n->commits;
        pthread_mutex_unlock(&n->commit_mu);
        pthread_mutex_lock(&n->mu);
        int prim = n->primary, size = n->view_size;
        pthread_mutex_unlock(&n->mu);
        printf("TICK %.0f commits=%ld refused=%ld primary=%d size=%d\n", wall_ms(), commits,
               atomic_load(&n->unavailable), prim, size);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int kv_avail_run(struct kv_node *n, struct kv_result *res)
{
    struct ticker t = {.n = n};
    pthread_t th;
    bool ticking = pthread_create(&th, NULL, tick_main, &t) == 0;
    pthread_mutex_lock(&n->commit_mu);
    n->last_commit_ms = kv_now_ms(); /* a gap from the start counts too */
    pthread_mutex_unlock(&n->commit_mu);
    int rc = kv_workload_run(n, 0, res);
    atomic_store(&t.stop, 1);
    if (ticking) pthread_join(th, NULL);
    pthread_mutex_lock(&n->commit_mu);
    double gap = n->max_gap_ms, at = n->max_gap_at_ms;
    pthread_mutex_unlock(&n->commit_mu);
    /* at: monotonic ms of the commit that ended the gap; as wall time for the test */
    printf("avail max_gap_ms=%.0f max_gap_end_wall_ms=%.0f refused=%ld\n", gap,
           at > 0 ? wall_ms() - (kv_now_ms() - at) : 0, atomic_load(&n->unavailable));
    return rc;
}
