/* gcomm/gc_quorum: the gatherer's view-change decision as a pure function of what it collected:
 * which primary view may exist, whether the new view is primary, whose log it adopts, the lease wait.
 * No core, no clock of its own, no I/O: gc_gather feeds it and carries the decision out. */
#ifndef GC_QUORUM_H
#define GC_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_view.h"

/* What one reporter said in its STATE (the gatherer's own included), with durations turned into
 * times on the gatherer's clock. */
struct gc_report {
    tr_uuid uuid;
    uint64_t inc;
    uint8_t weight, flags; /* GC_STATE_* */
    gc_view prim, estab;   /* valid with GC_STATE_HAS_PRIM / GC_STATE_HAS_ESTAB */
    uint32_t njoint;       /* with GC_STATE_PENDING: the quorum prim needed besides its own */
    gc_joint joint[GC_MAX_JOINT];
    uint64_t stop_abs;   /* when it stopped supporting its view; UINT64_MAX: it was not supporting one */
    uint64_t live_until; /* its lease on its primary view; 0: none */
    uint8_t nheard;      /* when it last heard each peer */
    tr_uuid heard[GC_MAX_MEMBERS];
    uint64_t heard_abs[GC_MAX_MEMBERS];
    uint8_t nacked; /* epochs of the primary views whose START it applied, newest last */
    uint64_t acked[GC_ACKED_MAX];
    uint64_t log_end;
};

struct gc_decide_in {
    const struct gc_report *const *r; /* every STATE collected; distinct uuids */
    int n;
    bool ignore_quorum, ignore_sb, recovery; /* pc.* */
    bool bootstrap;                          /* the gather was started by pc.bootstrap */
    uint64_t now;
    uint64_t since;     /* when the gather started */
    uint64_t patience;  /* with quorum, how long to wait for the other targets (keepalive/8) */
    uint64_t lease_pad; /* a missing member may hold a lease this long after it was last echoed */
    uint64_t margin;    /* added to a lease a decliner reported (clock steps of the driver) */
    bool all_answered;  /* every target's STATE is in */
    bool timeout;       /* the gather has run long enough to decide with whoever answered */
    bool in_transit;    /* a missing target's STATE may be on its way (half reassembled, announced) */
};

/* The view a reporter's log continues, as the decision sees it. */
enum gc_eff { GC_EFF_NONE = 0, GC_EFF_PRIM, GC_EFF_ESTAB };

struct gc_decision {
    bool install; /* false: wait for more STATEs, or for a lease to run out */
    bool primary, forced, newhist;
    const gc_view *P; /* the last primary view that may exist (points into a report), or NULL */
    int psrc;         /* P is only possibly established: the reporter whose joint lists it needed; -1 */
    int adopt;        /* the live holder of P with the longest log; -1 */
    int nlive;        /* live holders of P */
    uint64_t wait_until; /* a primary view is not started before this (leases of missing members) */
    uint8_t eff[GC_MAX_MEMBERS + 1]; /* per reporter: enum gc_eff */
};

void gc_quorum_decide(const struct gc_decide_in *in, struct gc_decision *d);

/* The view reporter i's log continues (P's id, when it holds P), or NULL. */
const gc_view *gc_decision_eff(const struct gc_decide_in *in, const struct gc_decision *d, int i);
/* Reporter i is a live holder of P (its log continues P and it did not restart). */
bool gc_decision_holds_p(const struct gc_decide_in *in, const struct gc_decision *d, int i);

/* Each set of a joint list (previous primary views) must hold a quorum of the nodes for which
 * present(arg, uuid) is true (Galera's rule, split brain passing with ignore_sb); an empty list
 * is satisfied. */
bool gc_joint_quorum(const gc_joint *j, uint32_t n, bool ignore_sb, bool (*present)(const void *arg, const tr_uuid *u),
                     const void *arg);

#endif
