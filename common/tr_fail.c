/* common/tr_fail: failure injection for tests (see tr_fail.h). One armed point, guarded by a
 * mutex: the slow path runs only while a test has armed something. */
#include "common/tr_fail.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

atomic_int tr_fail_armed;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char point[64];
static int countdown, failed, armed_tag;
static bool stick;
static _Thread_local int thread_tag;

int tr_fail_thread_tag(int tag)
{
    int prev = thread_tag;
    thread_tag = tag;
    return prev;
}

void tr_fail_arm(const char *name, int nth, bool sticky)
{
    tr_fail_arm_tagged(name, nth, sticky, 0);
}

void tr_fail_arm_tagged(const char *name, int nth, bool sticky, int tag)
{
    pthread_mutex_lock(&mu);
    snprintf(point, sizeof point, "%s", name);
    armed_tag = tag;
    countdown = nth > 0 ? nth : 1;
    failed = 0;
    stick = sticky;
    atomic_store(&tr_fail_armed, 1);
    pthread_mutex_unlock(&mu);
}

void tr_fail_disarm(void)
{
    pthread_mutex_lock(&mu);
    atomic_store(&tr_fail_armed, 0);
    point[0] = '\0';
    pthread_mutex_unlock(&mu);
}

int tr_fail_count(void)
{
    pthread_mutex_lock(&mu);
    int k = failed;
    pthread_mutex_unlock(&mu);
    return k;
}

bool tr_fail_hit_slow(const char *name)
{
    bool hit = false;
    pthread_mutex_lock(&mu);
    if (point[0] && strcmp(point, name) == 0 && (!armed_tag || armed_tag == thread_tag)) {
        if (countdown > 1) {
            countdown--;
        } else if (countdown == 1) {
            hit = true;
            failed++;
            countdown = stick ? 1 : 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return hit;
}
