/* replicator/repl_fsm: the node-state machine: Galera's replicator states and its table of
 * allowed transitions; every change goes through repl_fsm_shift and is logged in Galera's words. */
#ifndef REPL_FSM_H
#define REPL_FSM_H

#include <stdbool.h>
#include <stdint.h>

/* Galera's ReplicatorSMM states (research anchors §C.8). CONNECTED: connected to the group but
 * not in a primary component with the group's state; DONOR also covers "desynced". */
enum repl_fsm_state {
    REPL_S_DESTROYED = 0,
    REPL_S_CLOSED,
    REPL_S_CONNECTED,
    REPL_S_JOINING,
    REPL_S_JOINED,
    REPL_S_SYNCED,
    REPL_S_DONOR,
    REPL_S_COUNT
};

/* Outcome of a shift. */
enum repl_fsm_rc { REPL_FSM_OK = 0, REPL_FSM_SAME = 1, REPL_FSM_ILLEGAL = -1 };

bool repl_fsm_allowed(enum repl_fsm_state from, enum repl_fsm_state to);
/* Moves *st to `to` when the table allows it, logging "Shifting FROM -> TO (TO: seqno)";
 * REPL_FSM_SAME (nothing logged) when already there. An illegal transition changes nothing,
 * logs both states and returns REPL_FSM_ILLEGAL: a bug, and the caller leaves the group
 * (debug builds abort here, unless a test cleared repl_fsm_fatal). */
extern bool repl_fsm_fatal;
int repl_fsm_shift(enum repl_fsm_state *st, enum repl_fsm_state to, int64_t seqno);

/* Galera's log names ("DONOR/DESYNCED"). */
const char *repl_fsm_name(enum repl_fsm_state s);
/* wsrep_local_state as Galera numbers it: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced,
 * 0 otherwise; and wsrep_local_state_comment. */
int repl_fsm_local_state(enum repl_fsm_state s);
const char *repl_fsm_comment(enum repl_fsm_state s);
/* Joined, Synced and Donor/Desynced hold the group's state and take writes. */
static inline bool repl_fsm_holds_state(enum repl_fsm_state s)
{
    return s == REPL_S_JOINED || s == REPL_S_SYNCED || s == REPL_S_DONOR;
}

#endif
