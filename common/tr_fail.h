/* common/tr_fail: named failure-injection points, so tests can make one allocation (or any
 * local step) fail and check that the node stops instead of diverging. Off unless armed. */
#ifndef TR_FAIL_H
#define TR_FAIL_H

#include <stdatomic.h>
#include <stdbool.h>

extern atomic_int tr_fail_armed; /* points armed: the fast path reads only this */

/* Arms point name: its nth hit from now (1 = the next one) fails, and every hit after it too
 * when sticky. One point at a time; name is copied. */
void tr_fail_arm(const char *name, int nth, bool sticky);
/* The same, but only threads tagged `tag` hit the point (0: every thread). Several nodes in one
 * process (the in-process cluster tests) tag their threads so that only one node fails. */
void tr_fail_arm_tagged(const char *name, int nth, bool sticky, int tag);
/* Tags the calling thread (0 at thread start); returns its previous tag. */
int tr_fail_thread_tag(int tag);
void tr_fail_disarm(void);
/* How many times the armed point has failed so far. */
int tr_fail_count(void);
bool tr_fail_hit_slow(const char *name);

/* true when the code at point name must behave as if its step failed. */
static inline bool tr_fail_hit(const char *name)
{
    return atomic_load_explicit(&tr_fail_armed, memory_order_relaxed) && tr_fail_hit_slow(name);
}

#endif
