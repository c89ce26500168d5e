/* replicator/repl_monitor: admits actions by global seqno: "enter once seqno W has left".
 * One instance orders applying (W = depends_on), another orders commits (W = seqno - 1). */
#ifndef REPL_MONITOR_H
#define REPL_MONITOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define REPL_MONITOR_WINDOW 16384 /* seqnos in flight at most; power of two */

struct repl_monitor_slot {
    int64_t seqno;    /* which seqno currently owns the slot, -1 if none */
    int64_t wait_for; /* what that seqno's waiter waits for */
    uint8_t state;    /* see repl_monitor.c */
    bool interrupted;
    int waiters;      /* threads sleeping on cond */
    pthread_cond_t cond; /* signalled when last_left reaches the seqno that maps here */
};

struct repl_monitor {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* window and repl_monitor_wait() waiters */
    int cond_waiters;
    int64_t last_left;     /* every seqno <= last_left has left */
    int64_t last_entered;  /* highest seqno that entered */
    uint64_t entered;      /* counters for apply_window / oooe statistics */
    uint64_t oooe;         /* entered while an earlier seqno had not left */
    uint64_t waits;        /* had to wait to enter */
    uint64_t oool;         /* left while an earlier seqno had not left */
    double window_sum;     /* sum of (last_entered - last_left) at each entry */
    uint64_t window_n;
    bool closed;
    int64_t hold; /* seqnos above this wait to enter (repl_monitor_hold); INT64_MAX: none */
    struct repl_monitor_slot slots[REPL_MONITOR_WINDOW];
};

void repl_monitor_init(struct repl_monitor *m, int64_t last_left);
void repl_monitor_destroy(struct repl_monitor *m);
/* Reposition an idle monitor (after state transfer or a new cluster); reopens a closed one. */
void repl_monitor_reset(struct repl_monitor *m, int64_t last_left);
/* Blocks until every seqno <= wait_for has left. Returns 0 when entered, -1 when interrupted
 * (repl_monitor_interrupt) or closed. */
int repl_monitor_enter(struct repl_monitor *m, int64_t seqno, int64_t wait_for);
/* Both return last_left afterwards. */
int64_t repl_monitor_leave(struct repl_monitor *m, int64_t seqno);
/* Marks seqno as passed without entering: for actions that need no ordering here. */
int64_t repl_monitor_cancel(struct repl_monitor *m, int64_t seqno);
/* Wakes a waiter of seqno with -1; a later enter of that seqno must first clear it. */
bool repl_monitor_interrupt(struct repl_monitor *m, int64_t seqno);
void repl_monitor_clear_interrupt(struct repl_monitor *m, int64_t seqno);
/* Waits until every seqno <= upto has left; timeout_ns < 0 waits forever. Returns 0 or -1. */
int repl_monitor_wait(struct repl_monitor *m, int64_t upto, int64_t timeout_ns);
int64_t repl_monitor_last_left(struct repl_monitor *m);
/* Wakes every waiter for good (shutdown). */
void repl_monitor_close(struct repl_monitor *m);
/* From now on seqnos above upto wait to enter (a donor's snapshot must not see what was ordered
 * after its state); INT64_MAX lets them all in. Those already in are not affected. */
void repl_monitor_hold(struct repl_monitor *m, int64_t upto);
struct repl_monitor_stats {
    double window;
    uint64_t oooe, oool, waits, entered;
};
void repl_monitor_stats(struct repl_monitor *m, struct repl_monitor_stats *out);
void repl_monitor_stats_reset(struct repl_monitor *m);

#endif
