/* replicator/repl_fsm: Galera 4's transition table for its replicator states (ReplicatorSMM's
 * constructor in galera/src/replicator_smm.cpp lists the same pairs). */
#include "replicator/repl_fsm.h"

#include <stdlib.h>

#include "common/tr_log.h"

#define S(x) (1u << (x))

#ifdef NDEBUG
bool repl_fsm_fatal = false;
#else
bool repl_fsm_fatal = true;
#endif

/* allowed[from]: the states `from` may shift to. */
static const unsigned allowed[REPL_S_COUNT] = {
    [REPL_S_DESTROYED] = 0,
    [REPL_S_CLOSED] = S(REPL_S_DESTROYED) | S(REPL_S_CONNECTED),
    /* a non-primary view may follow another; a bootstrap or a remerge holding the group state
     * goes straight to JOINED, DONOR (still desynced) or SYNCED */
    [REPL_S_CONNECTED] = S(REPL_S_CLOSED) | S(REPL_S_CONNECTED) | S(REPL_S_JOINING) |
                         S(REPL_S_JOINED) | S(REPL_S_DONOR) | S(REPL_S_SYNCED),
    [REPL_S_JOINING] = S(REPL_S_CLOSED) | S(REPL_S_CONNECTED) | S(REPL_S_JOINED),
    /* a desync may come before the node reported Synced */
    [REPL_S_JOINED] = S(REPL_S_CLOSED) | S(REPL_S_CONNECTED) | S(REPL_S_SYNCED) | S(REPL_S_DONOR),
    [REPL_S_SYNCED] = S(REPL_S_CLOSED) | S(REPL_S_CONNECTED) | S(REPL_S_DONOR),
    /* a donor or desynced node rejoins through JOINED, never straight to SYNCED */
    [REPL_S_DONOR] = S(REPL_S_CLOSED) | S(REPL_S_CONNECTED) | S(REPL_S_JOINED),
};

bool repl_fsm_allowed(enum repl_fsm_state from, enum repl_fsm_state to)
{
    if ((unsigned)from >= REPL_S_COUNT || (unsigned)to >= REPL_S_COUNT) return false;
    return (allowed[from] & S(to)) != 0;
}

const char *repl_fsm_name(enum repl_fsm_state s)
{
    switch (s) {
    case REPL_S_DESTROYED: return "DESTROYED";
    case REPL_S_CLOSED: return "CLOSED";
    case REPL_S_CONNECTED: return "CONNECTED";
    case REPL_S_JOINING: return "JOINER";
    case REPL_S_JOINED: return "JOINED";
    case REPL_S_SYNCED: return "SYNCED";
    case REPL_S_DONOR: return "DONOR/DESYNCED";
    case REPL_S_COUNT: break;
    }
    return "?";
}

int repl_fsm_local_state(enum repl_fsm_state s)
{
    switch (s) {
    case REPL_S_JOINING: return 1;
    case REPL_S_DONOR: return 2;
    case REPL_S_JOINED: return 3;
    case REPL_S_SYNCED: return 4;
    default: return 0;
    }
}

const char *repl_fsm_comment(enum repl_fsm_state s)
{
    switch (s) {
    case REPL_S_JOINING: return "Joining";
    case REPL_S_DONOR: return "Donor/Desynced";
    case REPL_S_JOINED: return "Joined";
    case REPL_S_SYNCED: return "Synced";
    case REPL_S_DESTROYED: return "Destroyed";
    default: return "Initialized";
    }
}

int repl_fsm_shift(enum repl_fsm_state *st, enum repl_fsm_state to, int64_t seqno)
{
    enum repl_fsm_state from = *st;
    if (from == to && to != REPL_S_CONNECTED) return REPL_FSM_SAME;
    if (!repl_fsm_allowed(from, to)) {
        tr_error("Illegal node state transition %s -> %s (TO: %lld): a bug in trireme; this "
                 "node leaves the cluster rather than run in a state it cannot be in",
                 repl_fsm_name(from), repl_fsm_name(to), (long long)seqno);
        if (repl_fsm_fatal) abort();
        return REPL_FSM_ILLEGAL;
    }
    *st = to;
    if (from != to) tr_info("Shifting %s -> %s (TO: %lld)", repl_fsm_name(from), repl_fsm_name(to), (long long)seqno);
    return from == to ? REPL_FSM_SAME : REPL_FSM_OK;
}
