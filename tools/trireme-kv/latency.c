/* tools/trireme-kv/latency.c: commit-latency samples (one per committed transaction, kept per
 * client thread and merged at the end) and their percentiles; plus the monotonic clock. */
#include <stdlib.h>
#include <time.h>

#include "kv.h"

double kv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void kv_lat_add(struct kv_lat *l, double ms)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        double *p = realloc(l->ms, cap * sizeof *p);
        if (!p)
            return; /* a lost sample only skews the percentiles slightly */
        l->ms = p;
        l->cap = cap;
    }
    l->ms[l->n++] = ms;
}

void kv_lat_merge(struct kv_lat *dst, const struct kv_lat *src)
{
    for (size_t i = 0; i < src->n; i++)
        kv_lat_add(dst, src->ms[i]);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double kv_lat_pct(struct kv_lat *l, double pct)
{
    if (l->n == 0)
        return 0.0;
    qsort(l->ms, l->n, sizeof *l->ms, cmp);
    size_t i = (size_t)(pct / 100.0 * (double)(l->n - 1) + 0.5);
    return l->ms[i < l->n ? i : l->n - 1];
}

void kv_lat_free(struct kv_lat *l)
{
    free(l->ms);
    l->ms = NULL;
    l->n = l->cap = 0;
}
