/* replicator/repl_sst: the host's side of a state transfer: sst_sent (donor) and sst_received
 * (joiner) become events of the core, which decides everything else (replication.md §6). */
#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"

int repl_node_sst_sent(struct repl_node *n, const tr_gtid *state_id, int rcode)
{
    struct repl_ev ev = {.kind = REPL_EV_SST_SENT, .rc = rcode,
                         .seqno = repl_monitor_last_left(n->apply_mon)};
    ev.gtid.seqno = TR_SEQNO_UNDEFINED;
    if (state_id) ev.gtid = *state_id;
    int rc = repl_drive(n, &ev);
    /* a failure here is often the host's own abort (MariaDB reports an interrupted wait, then
     * ends the process): what the core decided about grastate.dat must be on disk first */
    if (rcode < 0) repl_driver_flush(n, 2 * TR_NS_PER_SEC);
    return rc;
}

int repl_node_sst_received(struct repl_node *n, const tr_gtid *state_id, int rcode)
{
    struct repl_ev ev = {.kind = REPL_EV_SST_RECEIVED, .rc = rcode};
    ev.gtid.seqno = TR_SEQNO_UNDEFINED;
    if (state_id) ev.gtid = *state_id;
    return repl_drive(n, &ev);
}
