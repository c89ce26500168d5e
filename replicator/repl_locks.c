/* replicator/repl_locks: named locks (wsrep lock/unlock/is_locked), held per owner id.
 * Node-local: until the group carries them, they are cluster-wide only in a one-node cluster. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replicator/repl_node_impl.h"

static bool conflicts(struct repl_node *n, const char *name, bool shared, uint64_t owner,
                      bool *own)
{
    *own = false;
    for (struct repl_lock_ent *e = n->locks; e; e = e->next) {
        if (strcmp(e->name, name) != 0) continue;
        if (e->owner == owner) {
            *own = true;
            return true;
        }
        if (!e->shared || !shared) return true;
    }
    return false;
}

int repl_node_lock(struct repl_node *n, const char *name, bool shared, uint64_t owner,
                   int64_t tout_ns)
{
    if (!name) return -EINVAL;
    struct timespec dl = tr_deadline_in(tout_ns > 0 ? tout_ns : 0); /* lock_cond is monotonic */
    pthread_mutex_lock(&n->lock_mu);
    bool own;
    while (conflicts(n, name, shared, owner, &own)) {
        if (own || tout_ns == 0) {
            pthread_mutex_unlock(&n->lock_mu);
            return own ? -EDEADLK : -EBUSY;
        }
        int rc = tout_ns < 0 ? pthread_cond_wait(&n->lock_cond, &n->lock_mu)
                             : pthread_cond_timedwait(&n->lock_cond, &n->lock_mu, &dl);
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&n->lock_mu);
            return -EBUSY;
        }
    }
    struct repl_lock_ent *e = calloc(1, sizeof *e);
    if (e) e->name = strdup(name);
    if (!e || !e->name) {
        free(e);
        pthread_mutex_unlock(&n->lock_mu);
        return -ENOMEM;
    }
    e->owner = owner;
    e->shared = shared;
    e->next = n->locks;
    n->locks = e;
    pthread_mutex_unlock(&n->lock_mu);
    return REPL_OK;
}

int repl_node_unlock(struct repl_node *n, const char *name, uint64_t owner)
{
    if (!name) return -EINVAL;
    pthread_mutex_lock(&n->lock_mu);
    for (struct repl_lock_ent **pp = &n->locks; *pp; pp = &(*pp)->next) {
        struct repl_lock_ent *e = *pp;
        if (e->owner == owner && strcmp(e->name, name) == 0) {
            *pp = e->next;
            free(e->name);
            free(e);
            pthread_cond_broadcast(&n->lock_cond);
            pthread_mutex_unlock(&n->lock_mu);
            return REPL_OK;
        }
    }
    pthread_mutex_unlock(&n->lock_mu);
    return -EPERM;
}

bool repl_node_is_locked(struct repl_node *n, const char *name, uint64_t *owner, tr_uuid *node)
{
    bool found = false;
    pthread_mutex_lock(&n->lock_mu);
    for (struct repl_lock_ent *e = n->locks; e && name; e = e->next) {
        if (strcmp(e->name, name) == 0) {
            if (owner) *owner = e->owner;
            if (node) *node = n->self;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&n->lock_mu);
    return found;
}
