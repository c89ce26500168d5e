/* common/tr_fail: failure injection for tests (see tr_fail.h). One armed point, guarded by a
 * mutex: the slow path runs only while a test has armed something. */
#include "common/tr_fail.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

atomic_int tr_fail_armed;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char point[64];
static int countdown, failed;
static bool stick;

void tr_fail_arm(const char *name, int nth, bool sticky)
{
    pthread_mutex_lock(&mu);
    snprintf(point, sizeof point, "%s", name);
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
    if (point[0] && strcmp(point, name) == 0) {
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
