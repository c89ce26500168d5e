/* tools/trireme-status/ts_check.c: whether one node should take traffic, with the rules of
 * Percona's clustercheck (wsrep_local_state 4, or 2 when donors serve; read_only optional). */
#include <string.h>
#include <unistd.h>

#include "ts.h"

#define WSREP_STATE_DONOR 2
#define WSREP_STATE_SYNCED 4

void ts_check_verdict(const struct ts_opts *o, const struct ts_sample *s, struct ts_verdict *v)
{
    long long st = -1;
    v->ok = false;
    if (o->disable_file && access(o->disable_file, F_OK) == 0) {
        snprintf(v->reason, sizeof v->reason, "Node is manually disabled (%s exists).",
                 o->disable_file);
        return;
    }
    if (!s->ok) {
        snprintf(v->reason, sizeof v->reason, "Node is not synced: cannot read its status: %s",
                 s->error);
        return;
    }
    if (!s->v[F_LOCAL_STATE] || ts_is(s, F_WSREP_ON, "OFF")) {
        snprintf(v->reason, sizeof v->reason, "Node is not synced: wsrep is off.");
        return;
    }
    ts_int(s, F_LOCAL_STATE, &st);
    const char *comment = ts_str(s, F_STATE_COMMENT);
    if (!ts_is(s, F_CLUSTER_STATUS, "Primary")) {
        snprintf(v->reason, sizeof v->reason,
                 "Node is not synced: not in the primary component (wsrep_cluster_status=%s).",
                 ts_str(s, F_CLUSTER_STATUS));
        return;
    }
    if (!ts_is(s, F_READY, "ON")) {
        snprintf(v->reason, sizeof v->reason, "Node is not synced: wsrep_ready=%s (%s).",
                 ts_str(s, F_READY), comment);
        return;
    }
    if (st == WSREP_STATE_DONOR && !o->donor_ok) {
        snprintf(v->reason, sizeof v->reason,
                 "Node is not synced: %s (donors take traffic only with --donor-ok).", comment);
        return;
    }
    if (st != WSREP_STATE_SYNCED && st != WSREP_STATE_DONOR) {
        snprintf(v->reason, sizeof v->reason, "Node is not synced: %s (wsrep_local_state %lld).",
                 comment, st);
        return;
    }
    if (o->read_only_not_ok && ts_is(s, F_READ_ONLY, "ON")) {
        snprintf(v->reason, sizeof v->reason, "Node is read-only.");
        return;
    }
    v->ok = true;
    if (st == WSREP_STATE_SYNCED)
        snprintf(v->reason, sizeof v->reason, "Node is synced.");
    else
        snprintf(v->reason, sizeof v->reason, "Node is %s and donors take traffic (--donor-ok).",
                 comment);
}

int ts_check_once(const struct ts_opts *o)
{
    struct ts_sample s = {0};
    struct ts_verdict v;
    ts_sample_node(&o->conn, NULL, 0, false, &s);
    ts_check_verdict(o, &s, &v);
    ts_sample_clear(&s);
    printf("%s\n", v.reason);
    return v.ok ? 0 : 1;
}
