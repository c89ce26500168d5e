/* replicator/repl_rollbacks: this node's streaming rollback fragments not yet seen in the total
 * order, kept so that one the group dropped at a view change is sent again. Guarded by n->mu. */
#ifndef REPL_ROLLBACKS_H
#define REPL_ROLLBACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct repl_rb {
    uint64_t trx_id, conn_id;
    uint8_t *data; /* the host's rollback data (may be NULL) */
    size_t len;
    bool lost; /* the group dropped it: send again at the next primary view */
    struct repl_rb *next;
};

struct repl_rollbacks {
    struct repl_rb *head;
};

/* Records a rollback fragment just sent (data copied). -1 out of memory: not resent then. */
int repl_rollbacks_add(struct repl_rollbacks *r, uint64_t trx_id, uint64_t conn_id,
                       const void *data, size_t len);
/* It was ordered here: forget it. */
void repl_rollbacks_delivered(struct repl_rollbacks *r, uint64_t trx_id);
/* The group dropped it (or, trx_id 0 with all set, everything pending: a non-primary view). */
void repl_rollbacks_lost(struct repl_rollbacks *r, uint64_t trx_id, bool all);
bool repl_rollbacks_any_lost(const struct repl_rollbacks *r);
/* Moves the lost ones to *out (a list the caller sends and then gives back with
 * repl_rollbacks_sent, or frees with repl_rollbacks_free). */
void repl_rollbacks_take_lost(struct repl_rollbacks *r, struct repl_rb **out);
/* Puts e back as pending (sent) or lost (the send failed). */
void repl_rollbacks_put(struct repl_rollbacks *r, struct repl_rb *e, bool lost);
void repl_rollbacks_free(struct repl_rollbacks *r);

#endif
