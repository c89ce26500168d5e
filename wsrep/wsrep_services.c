/* wsrep/wsrep_services: the allowlist service v1 entry points MariaDB 10.11 requires.
 * The host's callback is asked about each incoming gcomm link (wsrep_provider.c, allow_peer). */
#include <pthread.h>
#include <string.h>

#include "wsrep/wsrep_services.h"

static pthread_mutex_t svc_mu = PTHREAD_MUTEX_INITIALIZER;
static wsrep_allowlist_service_v1_t allowlist;
static bool have_allowlist;

__attribute__((visibility("default"))) int
wsrep_init_allowlist_service_v1(wsrep_allowlist_service_v1_t *svc)
{
    if (!svc) return 1;
    pthread_mutex_lock(&svc_mu);
    allowlist = *svc;
    have_allowlist = svc->allowlist_cb != NULL;
    pthread_mutex_unlock(&svc_mu);
    return 0;
}

__attribute__((visibility("default"))) void wsrep_deinit_allowlist_service_v1(void)
{
    pthread_mutex_lock(&svc_mu);
    memset(&allowlist, 0, sizeof allowlist);
    have_allowlist = false;
    pthread_mutex_unlock(&svc_mu);
}

bool wsrep_services_allow_ip(const char *addr)
{
    pthread_mutex_lock(&svc_mu);
    wsrep_allowlist_service_v1_t svc = allowlist;
    bool have = have_allowlist;
    pthread_mutex_unlock(&svc_mu);
    if (!have) return true;
    wsrep_buf_t v = {addr, strlen(addr)};
    return svc.allowlist_cb(svc.context, WSREP_ALLOWLIST_KEY_IP, &v) == WSREP_OK;
}
