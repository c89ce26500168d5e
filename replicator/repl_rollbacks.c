/* replicator/repl_rollbacks: rollback fragments in flight, resent when dropped (see the .h).
 * Nobody waits for a rollback fragment, so without this a drop left the stream open on every
 * member (found by trireme-nsim --streaming --no-resend). */
#include "replicator/repl_rollbacks.h"

#include <stdlib.h>
#include <string.h>

int repl_rollbacks_add(struct repl_rollbacks *r, uint64_t trx_id, uint64_t conn_id,
                       const void *data, size_t len)
{
    struct repl_rb *e = calloc(1, sizeof *e);
    if (!e) return -1;
    if (len) {
        e->data = malloc(len);
        if (!e->data) {
            free(e);
            return -1;
        }
        memcpy(e->data, data, len);
        e->len = len;
    }
    e->trx_id = trx_id;
    e->conn_id = conn_id;
    e->next = r->head;
    r->head = e;
    return 0;
}

static void rb_free(struct repl_rb *e)
{
    free(e->data);
    free(e);
}

void repl_rollbacks_delivered(struct repl_rollbacks *r, uint64_t trx_id)
{
    for (struct repl_rb **pp = &r->head; *pp; pp = &(*pp)->next)
        if ((*pp)->trx_id == trx_id) {
            struct repl_rb *e = *pp;
            *pp = e->next;
            rb_free(e);
            return;
        }
}

void repl_rollbacks_lost(struct repl_rollbacks *r, uint64_t trx_id, bool all)
{
    for (struct repl_rb *e = r->head; e; e = e->next)
        if (all || e->trx_id == trx_id) e->lost = true;
}

bool repl_rollbacks_any_lost(const struct repl_rollbacks *r)
{
    for (const struct repl_rb *e = r->head; e; e = e->next)
        if (e->lost) return true;
    return false;
}

void repl_rollbacks_take_lost(struct repl_rollbacks *r, struct repl_rb **out)
{
    *out = NULL;
    for (struct repl_rb **pp = &r->head; *pp;) {
        struct repl_rb *e = *pp;
        if (!e->lost) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        e->next = *out;
        *out = e;
    }
}

void repl_rollbacks_put(struct repl_rollbacks *r, struct repl_rb *e, bool lost)
{
    e->lost = lost;
    e->next = r->head;
    r->head = e;
}

void repl_rollbacks_free(struct repl_rollbacks *r)
{
    while (r->head) {
        struct repl_rb *e = r->head;
        r->head = e->next;
        rb_free(e);
    }
}
