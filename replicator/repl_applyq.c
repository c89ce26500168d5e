/* replicator/repl_applyq: a growable ring of actions (see repl_applyq.h). Guarded by the
 * node's mu; appliers sleep on its cond. */
#include "replicator/repl_applyq.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"
#include "common/tr_time.h"

void repl_applyq_init(struct repl_applyq *q)
{
    memset(q, 0, sizeof *q);
    tr_cond_init_mono(&q->cond);
}

void repl_applyq_destroy(struct repl_applyq *q)
{
    while (q->len) {
        repl_act_release(&q->ring[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    free(q->ring);
    pthread_cond_destroy(&q->cond);
    memset(q, 0, sizeof *q);
}

/* As Galera's receive queue (gu_fifo) counts: the average is what each arriving action found
 * ahead of it; max and min are the extremes the length reached. */
static void sample_push(struct repl_applyq *q)
{
    q->len_sum += (double)q->len;
    q->samples++;
}

static void sample_len(struct repl_applyq *q)
{
    int64_t l = (int64_t)q->len;
    if (l > q->len_max) q->len_max = l;
    if (l < q->len_min) q->len_min = l;
}

int repl_applyq_push(struct repl_applyq *q, struct repl_act *a)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        struct repl_act *r = tr_fail_hit("applyq.push") ? NULL : malloc(cap * sizeof *r);
        if (!r) return -1;
        for (size_t i = 0; i < q->len; i++) r[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = r;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) % q->cap] = *a;
    memset(a, 0, sizeof *a);
    sample_push(q);
    q->len++;
    sample_len(q);
    return 0;
}

bool repl_act_runs_alone(enum repl_act_kind k)
{
    return k != REPL_ACT_APPLY && k != REPL_ACT_SKIP;
}

bool repl_applyq_ready(const struct repl_applyq *q, int pause_count)
{
    if (!q->len || q->alone) return false;
    return pause_count == 0 || q->ring[q->head].kind == REPL_ACT_FINAL;
}

void repl_applyq_take(struct repl_applyq *q, struct repl_act *out, bool *alone)
{
    *out = q->ring[q->head];
    memset(&q->ring[q->head], 0, sizeof *out);
    q->head = (q->head + 1) % q->cap;
    q->len--;
    sample_len(q);
    q->running++;
    *alone = repl_act_runs_alone(out->kind);
    if (*alone) q->alone = true;
}

void repl_applyq_done(struct repl_applyq *q, bool alone)
{
    q->running--;
    if (alone) q->alone = false;
    pthread_cond_broadcast(&q->cond);
}

const struct repl_act *repl_applyq_first(const struct repl_applyq *q, enum repl_act_kind k)
{
    for (size_t i = 0; i < q->len; i++)
        if (q->ring[(q->head + i) % q->cap].kind == k) return &q->ring[(q->head + i) % q->cap];
    return NULL;
}

void repl_applyq_stats_reset(struct repl_applyq *q)
{
    q->len_max = q->len_min = (int64_t)q->len;
    q->len_sum = 0;
    q->samples = 0;
}
