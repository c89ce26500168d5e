/* replicator/repl_xfer: the held list of a joiner (see repl_xfer.h). What a joiner orders
 * while its state is on its way is certified as everywhere, then kept here in order. */
#include "replicator/repl_xfer.h"

#include <stdlib.h>

#include "common/tr_fail.h"
#include "replicator/repl_ws.h"

bool repl_xfer_holding(const struct repl_xfer *x)
{
    return x->phase == REPL_XFER_PREPARE || x->phase == REPL_XFER_WAIT;
}

int repl_xfer_hold(struct repl_xfer *x, struct repl_act *a)
{
    struct repl_held *h = tr_fail_hit("xfer.hold") ? NULL : calloc(1, sizeof *h);
    if (!h) {
        repl_act_release(a);
        return -1;
    }
    h->act = *a;
    if (x->tail)
        x->tail->next = h;
    else
        x->head = h;
    x->tail = h;
    x->held++;
    return 0;
}

int repl_xfer_release(struct repl_xfer *x, int64_t upto, struct repl_acts *out, int64_t *count)
{
    int rc = 0;
    *count = 0;
    while (x->head) {
        struct repl_held *h = x->head;
        x->head = h->next;
        x->held--;
        bool in_state = h->act.seqno >= 0 && h->act.seqno <= upto;
        if (rc || in_state) {
            repl_act_release(&h->act);
        } else if (repl_acts_push(out, &h->act)) {
            rc = -1; /* push released it */
        } else {
            (*count)++;
        }
        free(h);
    }
    x->tail = NULL;
    x->held = 0;
    return rc;
}

void repl_xfer_clear(struct repl_xfer *x)
{
    while (x->head) {
        struct repl_held *h = x->head;
        x->head = h->next;
        repl_act_release(&h->act);
        free(h);
    }
    x->tail = NULL;
    x->held = 0;
    free(x->req);
    x->req = NULL;
    x->req_len = 0;
    free(x->join_view);
    x->join_view = NULL;
    repl_xfer_ist_drop(x);
    x->ist = false;
    x->bypassed = false;
    x->have_donor = false;
    x->resend = false;
    x->retry_at = 0;
    x->phase = REPL_XFER_NONE;
}

void repl_xfer_ist_drop(struct repl_xfer *x)
{
    for (size_t i = 0; i < x->ist_n; i++) repl_ws_unref(x->ist_recs[i].ws);
    free(x->ist_recs);
    x->ist_recs = NULL;
    x->ist_n = 0;
    x->ist_in = false;
    x->ist_rc = 0;
    x->ist_why[0] = '\0';
}

void repl_xfer_serve_add(struct repl_xfer *x, struct repl_serve *s)
{
    s->next = NULL;
    if (!x->serve) x->serve_tail = &x->serve;
    *x->serve_tail = s;
    x->serve_tail = &s->next;
}

struct repl_serve *repl_xfer_serve_take(struct repl_xfer *x)
{
    struct repl_serve *s = x->serve;
    if (s) x->serve = s->next;
    return s;
}

void repl_serve_free(struct repl_serve *s)
{
    if (!s) return;
    free(s->req);
    free(s->addr);
    free(s);
}

void repl_xfer_serve_clear(struct repl_xfer *x)
{
    struct repl_serve *s;
    while ((s = repl_xfer_serve_take(x))) repl_serve_free(s);
}
