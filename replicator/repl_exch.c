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
    x->ghist = gv->history;
    x->close = gv->close;
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
    return !s->arbitrator && !tr_uuid_is_nil(&s->group) && s->seqno >= 0 &&
           s->state != REPL_S_JOINING;
}

bool repl_exch_same(const struct repl_msg_state *s, const struct repl_exch_result *r)
{
    return tr_uuid_compare(&s->group, &r->group) == 0 && s->seqno == r->seqno;
}

/* gcomm delivers a message once a majority acknowledged it, so members that dropped out of a
 * view may have missed its tail while members now absent delivered it. The group may go on
 * from a state here only when that cannot be:
 * - some member holds the whole stream of the last view L in which the group ordered (to where
 *   L's stream ended: the close of the first primary view after L, the smallest anyone here
 *   saw, or this view's own close): one of those represents the group;
 * - or every member of L is here (by uuid, or by name for one that left and came back as a new
 *   process): nobody else can have delivered more than the most advanced of them.
 * Otherwise everyone waits for absent members (-2). The representative is the most advanced
 * member of L's history of actions. Without an L (a bootstrap, a whole-cluster restart) a
 * member of the previous primary component first, then the most advanced history. Ties go to
 * the lowest uuid; a member in the middle of a transfer orders but does not hold state. */
/* s entered a primary view V after its last completed exchange (gend: V's close) without
 * completing V's exchange. Members that delivered more of V's stream may have completed it and
 * ordered in V (gcomm delivers once a majority acknowledged; seed 6412 --streaming: n1 did, n2
 * dropped out before it had every STATE). s knows V ordered nothing only if V is this view, or
 * if s holds this view's message history up to its close, where V's stream ended. */
static bool saw_later_view_whole(const struct repl_msg_state *s, const tr_uuid *ghist, int64_t close)
{
    if (s->gend < 0) return true;
    return !tr_uuid_compare(&s->ghist, ghist) && (s->gend == close || s->gl >= close);
}

static int representative(const struct repl_msg_state *s, int n, const tr_uuid *ghist,
                          int64_t close)
{
    /* The last ordering view is looked for first among the members that ordered in this
     * view's message history: they are the running group, and view ids are comparable only
     * within one history. Only without such a member is it found among all reports (after a
     * whole-cluster restart; a history restarted by pc.recovery keeps counting). A restarted
     * member remembers a view of an earlier history, and a bootstrap counts from 1 again: its
     * higher id made a restarted node's old history, another group, take over the running
     * primary component it joined (galera.MDEV-29142; with Galera the running component
     * represents and the restarted node is a joiner). */
    int64_t last = 0;
    int lref = -1;
    for (int pass = 0; pass < 2 && lref < 0; pass++)
        for (int i = 0; i < n; i++)
            if (s[i].lo > last &&
                (pass || (!tr_uuid_is_nil(&s[i].ghist) && !tr_uuid_compare(&s[i].ghist, ghist))))
                last = s[i].lo, lref = i;
    const tr_uuid *lh = lref >= 0 ? &s[lref].ghist : ghist;
    /* L's stream ends at this view's close only if this view continues L's message history */
    int64_t end = tr_uuid_compare(lh, ghist) ? INT64_MAX : close;
    int rep = -1;
    if (lref >= 0) {
        /* within L's history of actions, every member holds a prefix of the same order: the
         * most advanced holder present knows the most */
        for (int i = 0; i < n; i++)
            if (repl_exch_holds(&s[i]) && !tr_uuid_compare(&s[i].group, &s[lref].group) &&
                (rep < 0 || s[i].seqno > s[rep].seqno ||
                 (s[i].seqno == s[rep].seqno && tr_uuid_compare(&s[i].node, &s[rep].node) < 0)))
                rep = i;
        for (int i = 0; i < n; i++)
            if (!tr_uuid_compare(&s[i].ghist, lh) && s[i].lo == last && s[i].gend >= 0 &&
                s[i].gend < end)
                end = s[i].gend;
        /* it is the group's state if a member known to have held L's stream to its end is
         * that advanced (a member that held the stream to its end but is behind another
         * says the end was cut short: an operator's bootstrap from an older log) ... */
        bool whole = false;
        for (int i = 0; i < n && rep >= 0; i++)
            whole |= !tr_uuid_compare(&s[i].ghist, lh) && s[i].lo == last && s[i].gl >= end &&
                     repl_exch_holds(&s[i]) && !tr_uuid_compare(&s[i].group, &s[rep].group) &&
                     s[i].seqno == s[rep].seqno && saw_later_view_whole(&s[i], ghist, close);
        /* ... or if every member of L is here: nobody else can have delivered more */
        bool all_here = true;
        for (int k = 0; k < s[lref].lo_n; k++) {
            bool here = false;
            for (int i = 0; i < n; i++)
                here |= !tr_uuid_compare(&s[i].node, &s[lref].lo_memb[k]) ||
                        (s[lref].lo_names[k][0] && !strcmp(s[i].name, s[lref].lo_names[k]));
            all_here &= here;
        }
        if (!whole && !all_here) return -2;
        /* ... but "nobody else can have more" speaks of holders: a member of L that became a
         * joiner (it missed the tail of an earlier stream) keeps in its own store what it
         * applied while it held the state, which may be more than the most advanced holder
         * has now (that one came back as a new process with less than it had ordered): going
         * on from the holder would drop those commits (trireme-nsim seed 3048 --streaming) */
        for (int i = 0; i < n && !whole && rep >= 0; i++) /* rep -1: no holder present */
            if (s[i].state == REPL_S_JOINING && !tr_uuid_compare(&s[i].group, &s[rep].group) &&
                s[i].own_seqno > s[rep].seqno)
                return -2;
        return rep;
    }
    /* no ordering view known: a member of the previous primary component first, then the
     * most advanced history */
    for (int pass = 0; pass < 2 && rep < 0; pass++)
        for (int i = 0; i < n; i++) {
            if (!repl_exch_holds(&s[i]) || (pass == 0 && !s[i].prim)) continue;
            if (rep < 0 || s[i].seqno > s[rep].seqno ||
                (s[i].seqno == s[rep].seqno && tr_uuid_compare(&s[i].node, &s[rep].node) < 0))
                rep = i;
        }
    return rep;
}

void repl_exch_decide(const struct repl_msg_state *s, int n, int my_idx, const tr_uuid *ghist,
                      int64_t close, struct repl_exch_result *r)
{
    memset(r, 0, sizeof *r);
    r->rep = representative(s, n, ghist, close);
    if (r->rep == -1) { /* the last ordering view's members are all joiners: wait for a holder */
        for (int i = 0; i < n; i++)
            if (s[i].lo > 0) r->rep = -2;
    }
    if (r->rep < 0) { /* the operator's word (Galera's bootstrap re-merge): the most advanced
                       * member that was bootstrapped represents the group */
        int b = -1;
        for (int i = 0; i < n; i++)
            if (s[i].bootstrap && repl_exch_holds(&s[i]) &&
                (b < 0 || s[i].seqno > s[b].seqno ||
                 (s[i].seqno == s[b].seqno && tr_uuid_compare(&s[i].node, &s[b].node) < 0)))
                b = i;
        if (b >= 0) {
            r->rep = b;
            r->bootstrapped = true;
        }
    }
    bool any = false, boot = false;
    int first_data = -1;
    for (int i = 0; i < n; i++) {
        any |= !tr_uuid_is_nil(&s[i].group) && s[i].seqno >= 0;
        boot |= !s[i].arbitrator && s[i].bootstrap;
        if (!s[i].arbitrator && first_data < 0) first_data = i;
    }
    if (r->rep == -2 && boot && !any) {
        /* the operator bootstrapped a member whose position is unknown (killed, grastate.dat
         * with seqno -1 and safe_to_bootstrap: 1, no recovered position) and nobody here holds
         * a state: as Galera's bootstrap, it starts the group, in a new history (a position it
         * cannot name cannot continue the old one); the others join it by snapshot
         * (MariaDB's galera_3nodes.galera_safe_to_bootstrap) */
        r->rep = -1;
    }
    if (r->rep == -2) {
        r->rep = -1;
        r->no_state = r->waiting = true;
        return;
    }
    if (r->rep < 0 && any) { /* only joiners: Galera's "no node has complete state" */
        r->no_state = true;
        return;
    }
    if (r->rep < 0) {
        /* arbitrators alone decide nothing, and a new history is started only by a data member
         * that was bootstrapped (a new cluster, or the operator's pc.bootstrap), as Galera
         * starts a new group only in a process's first component, alone in it
         * (gcs_group.cpp). Members without state cannot tell that no history exists: one that
         * lost its data forgot it, an arbitrator restarted with gcomm's pc.recovery forgot
         * what it saw, and the holders may be away; a second history would have a later
         * merge wipe the first (docs/design/arbitrator.md) */
        if (first_data < 0 || !boot) {
            r->no_state = true;
            r->waiting = first_data >= 0;
            return;
        }
    }
    if (r->rep < 0) { /* a new history, named by the first data member */
        r->group = s[first_data].proposal;
        r->seqno = 0;
        r->new_history = true;
        r->joined = !s[my_idx].arbitrator;
        r->reset_cert = true;
        return;
    }
    r->group = s[r->rep].group;
    r->seqno = s[r->rep].seqno;
    const struct repl_msg_state *me = &s[my_idx];
    bool same = !me->arbitrator && repl_exch_same(me, r);
    r->joined = same && me->state != REPL_S_JOINING;
    r->receiving = same && me->state == REPL_S_JOINING;
    /* Certification must be identical everywhere from here on. It is only if every member
     * carries its index over intact: it was in the previous primary component with that very
     * state. Otherwise (a joiner, a member back from a non-primary spell, a restart) everyone
     * restarts at the group position, decided from these messages alone, never from one
     * node's own history. */
    for (int i = 0; i < n; i++) /* an arbitrator keeps no index: it changes nothing here */
        if (!s[i].arbitrator && !(s[i].prim && repl_exch_holds(&s[i]) && repl_exch_same(&s[i], r)))
            r->reset_cert = true;
}
