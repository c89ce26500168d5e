/* replicator/repl_monitor: seqno-ordered admission with a sliding window of slots.
 * A seqno "leaves" for good only when every smaller seqno has left: last_left is contiguous. */
#include "replicator/repl_monitor.h"

#include <errno.h>
#include <time.h>

enum { SLOT_IDLE = 0, SLOT_WAITING, SLOT_ENTERED, SLOT_FINISHED };

#define MASK (REPL_MONITOR_WINDOW - 1)

static void slots_clear(struct repl_monitor *m)
{
    for (int i = 0; i < REPL_MONITOR_WINDOW; i++) {
        m->slots[i].seqno = -1;
        m->slots[i].state = SLOT_IDLE;
        m->slots[i].interrupted = false;
    }
}

/* Waiters for "last_left >= W" sleep on the slot of W: a leave wakes exactly them. */
static void wake_slot(struct repl_monitor *m, int64_t w)
{
    struct repl_monitor_slot *s = &m->slots[w & (REPL_MONITOR_WINDOW - 1)];
    if (s->waiters) pthread_cond_broadcast(&s->cond);
}

static void wake_general(struct repl_monitor *m)
{
    if (m->cond_waiters) pthread_cond_broadcast(&m->cond);
}

void repl_monitor_init(struct repl_monitor *m, int64_t last_left)
{
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    for (int i = 0; i < REPL_MONITOR_WINDOW; i++) {
        pthread_cond_init(&m->slots[i].cond, NULL);
        m->slots[i].waiters = 0;
    }
    pthread_condattr_destroy(&ca);
    m->cond_waiters = 0; /* the monitor is malloc'ed: valgrind found this one read uninitialised */
    m->closed = false;
    repl_monitor_reset(m, last_left);
}

void repl_monitor_reset(struct repl_monitor *m, int64_t last_left)
{
    pthread_mutex_lock(&m->mu);
    m->last_left = last_left;
    m->last_entered = last_left;
    m->closed = false;
    m->hold = INT64_MAX;
    m->entered = m->oooe = m->oool = m->waits = m->window_n = 0;
    m->window_sum = 0;
    slots_clear(m);
    pthread_cond_broadcast(&m->cond);
    for (int i = 0; i < REPL_MONITOR_WINDOW; i++)
        if (m->slots[i].waiters) pthread_cond_broadcast(&m->slots[i].cond);
    pthread_mutex_unlock(&m->mu);
}

void repl_monitor_destroy(struct repl_monitor *m)
{
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    for (int i = 0; i < REPL_MONITOR_WINDOW; i++) pthread_cond_destroy(&m->slots[i].cond);
}

/* Takes the slot of seqno, waiting while the window is full. Called locked. */
static struct repl_monitor_slot *claim(struct repl_monitor *m, int64_t seqno)
{
    while (seqno - m->last_left > REPL_MONITOR_WINDOW && !m->closed) {
        m->cond_waiters++;
        pthread_cond_wait(&m->cond, &m->mu);
        m->cond_waiters--;
    }
    struct repl_monitor_slot *s = &m->slots[seqno & MASK];
    if (s->seqno != seqno) {
        s->seqno = seqno;
        s->state = SLOT_IDLE;
        s->interrupted = false;
    }
    return s;
}

static void advance(struct repl_monitor *m)
{
    int64_t from = m->last_left;
    for (;;) {
        struct repl_monitor_slot *s = &m->slots[(m->last_left + 1) & MASK];
        if (s->seqno != m->last_left + 1 || s->state != SLOT_FINISHED) break;
        s->seqno = -1;
        s->state = SLOT_IDLE;
        s->interrupted = false;
        m->last_left++;
    }
    if (m->last_entered < m->last_left) m->last_entered = m->last_left;
    for (int64_t w = from + 1; w <= m->last_left; w++) wake_slot(m, w);
    if (m->last_left > from) wake_general(m);
}

int repl_monitor_enter(struct repl_monitor *m, int64_t seqno, int64_t wait_for)
{
    pthread_mutex_lock(&m->mu);
    struct repl_monitor_slot *s = claim(m, seqno);
    if (seqno <= m->last_left) { /* already passed: a caller bug, never silently re-admit */
        pthread_mutex_unlock(&m->mu);
        return -1;
    }
    s->state = SLOT_WAITING;
    s->wait_for = wait_for;
    bool waited = false;
    struct repl_monitor_slot *ws = &m->slots[wait_for & MASK];
    while ((m->last_left < wait_for || seqno > m->hold) && !s->interrupted && !m->closed) {
        waited = true;
        ws->waiters++;
        pthread_cond_wait(&ws->cond, &m->mu);
        ws->waiters--;
    }
    if (s->interrupted || m->closed) {
        s->state = SLOT_IDLE;
        pthread_mutex_unlock(&m->mu);
        return -1;
    }
    s->state = SLOT_ENTERED;
    m->entered++;
    if (waited) m->waits++;
    if (seqno > m->last_left + 1) m->oooe++;
    if (seqno > m->last_entered) m->last_entered = seqno;
    /* Galera's window: at each entry, the highest seqno in minus the last one out (1 when
     * nothing overlaps) */
    m->window_sum += (double)(m->last_entered - m->last_left);
    m->window_n++;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int64_t finish(struct repl_monitor *m, int64_t seqno)
{
    pthread_mutex_lock(&m->mu);
    if (seqno > m->last_left) {
        struct repl_monitor_slot *s = claim(m, seqno);
        s->state = SLOT_FINISHED;
        bool next = seqno == m->last_left + 1;
        advance(m);
        /* Galera's oool: the one that was holding the window up leaves, and later seqnos that
         * had already finished leave with it */
        if (next && m->last_left > seqno) m->oool++;
    }
    int64_t left = m->last_left;
    pthread_mutex_unlock(&m->mu);
    return left;
}

int64_t repl_monitor_leave(struct repl_monitor *m, int64_t seqno)
{
    return finish(m, seqno);
}

int64_t repl_monitor_cancel(struct repl_monitor *m, int64_t seqno)
{
    return finish(m, seqno);
}

bool repl_monitor_interrupt(struct repl_monitor *m, int64_t seqno)
{
    bool done = false;
    pthread_mutex_lock(&m->mu);
    if (seqno > m->last_left && seqno - m->last_left <= REPL_MONITOR_WINDOW) {
        struct repl_monitor_slot *s = claim(m, seqno);
        if (s->state != SLOT_ENTERED && s->state != SLOT_FINISHED) {
            s->interrupted = true;
            done = true;
            if (s->state == SLOT_WAITING) wake_slot(m, s->wait_for);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return done;
}

void repl_monitor_clear_interrupt(struct repl_monitor *m, int64_t seqno)
{
    pthread_mutex_lock(&m->mu);
    struct repl_monitor_slot *s = &m->slots[seqno & MASK];
    if (s->seqno == seqno) s->interrupted = false;
    pthread_mutex_unlock(&m->mu);
}

int repl_monitor_wait(struct repl_monitor *m, int64_t upto, int64_t timeout_ns)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ns >= 0) {
        dl.tv_sec += timeout_ns / 1000000000;
        dl.tv_nsec += timeout_ns % 1000000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    while (m->last_left < upto && !m->closed) {
        m->cond_waiters++;
        int w = timeout_ns < 0 ? pthread_cond_wait(&m->cond, &m->mu)
                               : pthread_cond_timedwait(&m->cond, &m->mu, &dl);
        m->cond_waiters--;
        if (w == ETIMEDOUT) break;
    }
    if (m->last_left < upto) rc = -1;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int64_t repl_monitor_last_left(struct repl_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    int64_t v = m->last_left;
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* Under mu: every thread asleep in the monitor looks at its condition again. */
static void wake_all(struct repl_monitor *m)
{
    pthread_cond_broadcast(&m->cond);
    for (int i = 0; i < REPL_MONITOR_WINDOW; i++)
        if (m->slots[i].waiters) pthread_cond_broadcast(&m->slots[i].cond);
}

void repl_monitor_close(struct repl_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->closed = true;
    wake_all(m);
    pthread_mutex_unlock(&m->mu);
}

void repl_monitor_hold(struct repl_monitor *m, int64_t upto)
{
    pthread_mutex_lock(&m->mu);
    bool raised = upto > m->hold;
    m->hold = upto;
    if (raised) wake_all(m); /* waiters for a hold sleep on the slots of what they wait for */
    pthread_mutex_unlock(&m->mu);
}

void repl_monitor_stats(struct repl_monitor *m, struct repl_monitor_stats *out)
{
    pthread_mutex_lock(&m->mu);
    out->window = m->window_n ? m->window_sum / (double)m->window_n : 0.0;
    out->oooe = m->oooe;
    out->oool = m->oool;
    out->waits = m->waits;
    out->entered = m->entered;
    pthread_mutex_unlock(&m->mu);
}

void repl_monitor_stats_reset(struct repl_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->entered = m->oooe = m->oool = m->waits = m->window_n = 0;
    m->window_sum = 0;
    pthread_mutex_unlock(&m->mu);
}
