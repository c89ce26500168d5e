/* replicator/repl_applyq: the ordered actions waiting for an applier (recv() threads), in
 * order. Write-sets run in parallel (the monitors order them); views, state-transfer steps and
 * the final view run alone, after every action taken before them has finished. */
#ifndef REPL_APPLYQ_H
#define REPL_APPLYQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "replicator/repl_core.h"

struct repl_applyq {
    struct repl_act *ring;
    size_t cap, head, len;
    int running;  /* actions taken and not finished */
    bool alone;   /* an action that runs alone was taken: nothing else is taken until it ends */
    pthread_cond_t cond; /* appliers wait here (under the node's mu) */
    /* wsrep_local_recv_queue{,_max,_min,_avg} */
    int64_t len_max, len_min;
    double len_sum;
    uint64_t samples;
};

void repl_applyq_init(struct repl_applyq *q);
void repl_applyq_destroy(struct repl_applyq *q); /* releases what is still queued */
/* Moves *a to the tail. -1 out of memory (a untouched). */
int repl_applyq_push(struct repl_applyq *q, struct repl_act *a);
/* Something may be taken now: not while another action runs alone, nor while paused (except
 * the final view, which a disconnect must always reach). */
bool repl_applyq_ready(const struct repl_applyq *q, int pause_count);
/* Takes the head (ready() must hold); *alone when it must run alone (the caller then waits
 * for running == 1 before it starts). */
void repl_applyq_take(struct repl_applyq *q, struct repl_act *out, bool *alone);
void repl_applyq_done(struct repl_applyq *q, bool alone);
bool repl_act_runs_alone(enum repl_act_kind k);
/* The first queued action of kind k, or NULL. */
const struct repl_act *repl_applyq_first(const struct repl_applyq *q, enum repl_act_kind k);
void repl_applyq_stats_reset(struct repl_applyq *q);

#endif
