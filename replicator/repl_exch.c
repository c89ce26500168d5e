/* replicator/repl_exch: collecting STATE messages and the quorum decision over them (Galera's
 * "STATE EXCHANGE" and "Quorum results", gcs/src/gcs_group.cpp). */
#include "replicator/repl_exch.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"
#include "replicator/repl_fsm.h"

void repl_exch_clear(struct repl_exch *x)
{
    free(x->members);
    free(x->states);
    free(x->got);
    memset(x, 0, sizeof *x);
}

int repl_exch_begin(struct repl_exch *x, const struct repl_gview *gv)
{
    repl_exch_clear(x);
    size_t n = gv->memb_num > 0 ? (size_t)gv->memb_num : 1;
    x->members = tr_fail_hit("exch.begin") ? NULL : calloc(n, sizeof *x->members);
    x->states = calloc(n, sizeof *x->states);
    x->got = calloc(n, sizeof *x->got);
    if (!x->members || !x->states || !x->got) {
        repl_exch_clear(x);
        return -1;
    }
    memcpy(x->members, gv->members, sizeof *gv->members * (size_t)gv->memb_num);
    x->n = gv->memb_num;
    x->my_idx = gv->my_idx;
    x->conf_id = gv->conf_id;
    x->active = true;
    return 0;
}

int repl_exch_on_state(struct repl_exch *x, const tr_uuid *sender, const struct repl_msg_state *m)
{
    if (!x->active || m->conf_id != x->conf_id) return -1;
    int idx = -1;
    for (int i = 0; i < x->n; i++)
        if (tr_uuid_compare(&x->members[i].id, &m->node) == 0) idx = i;
    if (idx < 0 || tr_uuid_compare(sender, &m->node) != 0) return -1;
    if (!x->got[idx]) x->got_n++;
    x->got[idx] = true;
    x->states[idx] = *m;
    return x->got_n == x->n ? 1 : 0;
}

bool repl_exch_holds(const struct repl_msg_state *s)
{
    return !tr_uuid_is_nil(&s->group) && s->seqno >= 0 && s->state != REPL_S_JOINING;
}

bool repl_exch_same(const struct repl_msg_state *s, const struct repl_exch_result *r)
{
    return tr_uuid_compare(&s->group, &r->group) == 0 && s->seqno == r->seqno;
}

void repl_exch_decide(const struct repl_msg_state *s, int n, int my_idx,
                      struct repl_exch_result *r)
{
    memset(r, 0, sizeof *r);
    r->rep = -1;
    /* The previous primary component's members delivered the same actions (virtual synchrony):
     * any of them represents the group. A member in the middle of a transfer orders the stream
     * but does not hold the state. */
    for (int i = 0; i < n && r->rep < 0; i++)
        if (s[i].prim && repl_exch_holds(&s[i])) r->rep = i;
    if (r->rep < 0) /* nobody continues a primary component: the most advanced history */
        for (int i = 0; i < n; i++) {
            if (!repl_exch_holds(&s[i])) continue;
            int b = r->rep;
            if (b < 0 || s[i].seqno > s[b].seqno ||
                (s[i].seqno == s[b].seqno && tr_uuid_compare(&s[i].node, &s[b].node) < 0))
                r->rep = i;
        }
    bool any = false;
    for (int i = 0; i < n; i++) any |= !tr_uuid_is_nil(&s[i].group) && s[i].seqno >= 0;
    if (r->rep < 0 && any) { /* only joiners: Galera's "no node has complete state" */
        r->no_state = true;
        return;
    }
    if (r->rep < 0) { /* no history anywhere: a new one, named by the first member */
        r->group = s[0].proposal;
        r->seqno = 0;
        r->new_history = true;
        r->joined = true;
        r->reset_cert = true;
        return;
    }
    r->group = s[r->rep].group;
    r->seqno = s[r->rep].seqno;
    const struct repl_msg_state *me = &s[my_idx];
    bool same = repl_exch_same(me, r);
    r->joined = same && me->state != REPL_S_JOINING;
    r->receiving = same && me->state == REPL_S_JOINING;
    /* Certification must be identical everywhere from here on. It is only if every member
     * carries its index over intact: it was in the previous primary component with that very
     * state. Otherwise (a joiner, a member back from a non-primary spell, a restart) everyone
     * restarts at the group position, decided from these messages alone, never from one
     * node's own history. */
    for (int i = 0; i < n; i++)
        if (!(s[i].prim && repl_exch_holds(&s[i]) && repl_exch_same(&s[i], r)))
            r->reset_cert = true;
}
