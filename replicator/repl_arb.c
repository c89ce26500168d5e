/* replicator/repl_arb: an arbitrator member's protocol (see repl_arb.h). It answers every state
 * exchange so that the data members can complete theirs, and learns the group's history from
 * the same decision they take; it never certifies, stores or applies anything. */
#include "replicator/repl_arb.h"

#include <stdio.h>
#include <string.h>

#include "common/tr_log.h"
#include "replicator/repl_fsm.h"
#include "replicator/repl_msg.h"

void repl_arb_init(struct repl_arb *a, const tr_uuid *self, const char *name)
{
    memset(a, 0, sizeof *a);
    a->self = *self;
    a->seqno = -1;
    snprintf(a->name, sizeof a->name, "%s", name ? name : "");
}

void repl_arb_free(struct repl_arb *a)
{
    repl_exch_clear(&a->exch);
}

int repl_arb_view(struct repl_arb *a, const struct repl_gview *gv, struct tr_buf *out)
{
    repl_exch_clear(&a->exch);
    a->conf_id = gv->conf_id;
    a->primary = gv->primary;
    a->ordering = false;
    a->members = gv->memb_num;
    /* the uuid is the group layer's: the view says which member this is */
    if (gv->my_idx >= 0 && gv->my_idx < gv->memb_num) a->self = gv->members[gv->my_idx].id;
    if (!gv->primary) return 0;
    /* without the table it cannot learn the group's history, but its STATE still lets the
     * data members complete their exchange */
    if (repl_exch_begin(&a->exch, gv))
        tr_warn("arbitrator: out of memory for the state exchange of view %lld", (long long)gv->conf_id);
    struct repl_msg_state m = {
        .conf_id = gv->conf_id,
        .node = a->self,
        .group = a->group,
        .seqno = -1,
        .arbitrator = true,
        .state = (uint8_t)REPL_S_CONNECTED,
        .proto_app = 0,
        .gl = -1,
        .gend = -1,
    };
    memcpy(m.name, a->name, sizeof m.name);
    return repl_msg_state_encode(&m, out) ? -1 : 1;
}

int repl_arb_msg(struct repl_arb *a, const tr_uuid *sender, const uint8_t *buf, size_t len)
{
    struct repl_msg_state m;
    if (!repl_msg_is_control(buf, len) || repl_msg_type(buf) != REPL_MSG_STATE ||
        repl_msg_state_decode(buf, len, &m) || !a->exch.active) {
        a->dropped++;
        return 0;
    }
    if (repl_exch_on_state(&a->exch, sender, &m) != 1) return 0;
    struct repl_exch *x = &a->exch;
    struct repl_exch_result r;
    repl_exch_decide(x->states, x->n, x->my_idx, &x->ghist, x->close, &r);
    a->exchanges++;
    int data = 0;
    for (int i = 0; i < x->n; i++) data += !x->states[i].arbitrator;
    if (r.no_state) {
        tr_info("arbitrator: view %lld, %d members (%d with data): no member holds the complete "
                "group state; the data members wait", (long long)x->conf_id, x->n, data);
    } else {
        char u[TR_UUID_STR_LEN + 1];
        a->group = r.group;
        a->seqno = r.seqno;
        a->ordering = true;
        tr_uuid_print(&r.group, u);
        tr_info("arbitrator: view %lld, %d members (%d with data): group %s:%lld", (long long)x->conf_id,
                x->n, data, u, (long long)r.seqno);
    }
    repl_exch_clear(x);
    return 1;
}
