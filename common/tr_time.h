/* common/tr_time: the one clock every timeout uses (CLOCK_MONOTONIC) and deadlines for
 * condition variables bound to it, so that an NTP step neither stretches nor cuts a wait. */
#ifndef TR_TIME_H
#define TR_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define TR_NS_PER_SEC INT64_C(1000000000)

/* Monotonic nanoseconds. */
static inline int64_t tr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TR_NS_PER_SEC + ts.tv_nsec;
}

/* A condition variable whose timed waits measure CLOCK_MONOTONIC: every cond that is ever
 * waited on with tr_deadline_in() must be made here. 0 or an errno. */
static inline int tr_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc) return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (!rc) rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* The absolute monotonic time ns from now, for pthread_cond_timedwait on a tr_cond_init_mono
 * cond (and for sem/clock_nanosleep with CLOCK_MONOTONIC). */
static inline struct timespec tr_deadline_in(int64_t ns)
{
    int64_t at = tr_now_ns() + (ns > 0 ? ns : 0);
    struct timespec dl = {(time_t)(at / TR_NS_PER_SEC), (long)(at % TR_NS_PER_SEC)};
    return dl;
}

/* Nanoseconds left until dl (0 when past). */
static inline int64_t tr_ns_until(const struct timespec *dl)
{
    int64_t left = (int64_t)dl->tv_sec * TR_NS_PER_SEC + dl->tv_nsec - tr_now_ns();
    return left > 0 ? left : 0;
}

#endif
