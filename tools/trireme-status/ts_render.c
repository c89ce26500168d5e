/* tools/trireme-status/ts_render.c: the cluster as a table for people and as JSON for scripts
 * (schema 1, documented in docs/operations.md: fields are only ever added). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "ts.h"

static const char *status_word(int code)
{
    return code == TS_EXIT_HEALTHY ? "healthy" : code == TS_EXIT_DEGRADED ? "degraded" : "down";
}

/* First node in the primary component, else the first that answered: where cluster-wide
 * values (name, uuid, size) come from. */
static const struct ts_sample *reference(const struct ts_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].cur.ok && ts_is(&c->nodes[i].cur, F_CLUSTER_STATUS, "Primary"))
            return &c->nodes[i].cur;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].cur.ok) return &c->nodes[i].cur;
    return NULL;
}

static void cell_rate(char *buf, size_t len, const struct ts_node *n, enum ts_field f)
{
    double r;
    if (ts_rate(n, f, &r)) snprintf(buf, len, "%.1f", r);
    else snprintf(buf, len, "-");
}

static void cell_int(char *buf, size_t len, const struct ts_sample *s, enum ts_field f)
{
    long long v;
    if (ts_int(s, f, &v)) snprintf(buf, len, "%lld", v);
    else snprintf(buf, len, "-");
}

void ts_render_table(FILE *f, const struct ts_opts *o, const struct ts_cluster *c)
{
    const struct ts_sample *ref = reference(c);
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    fprintf(f, "cluster %s  uuid %s  conf %s  size %s  status %s  (%s, %.1f s window)\n",
            ref && ref->v[F_CLUSTER_NAME] ? ref->v[F_CLUSTER_NAME] : "?",
            ref && ref->v[F_STATE_UUID] ? ref->v[F_STATE_UUID] : "?",
            ref && ref->v[F_CONF_ID] ? ref->v[F_CONF_ID] : "?",
            ref && ref->v[F_CLUSTER_SIZE] ? ref->v[F_CLUSTER_SIZE] : "?",
            status_word(c->exit_code), when, c->window_s);
    if (c->arbitrators) fprintf(f, "arbitrators (members without a SQL address): %d\n",
                                c->arbitrators);
    fprintf(f, "%-12s %-21s %-15s %-11s %4s %12s %6s %5s %5s %5s %8s %6s %6s %8s %6s %s\n",
            "NODE", "ADDRESS", "STATE", "COMPONENT", "SIZE", "SEQNO", "LAG", "RECVQ", "SENDQ",
            "FC%", "FCSENT/S", "CERT/S", "BF/S", "COMMIT/S", "LAT_MS", "GCACHE");
    long long maxlc = ts_max_committed(c);
    for (int i = 0; i < c->n; i++) {
        const struct ts_node *n = &c->nodes[i];
        const struct ts_sample *s = &n->cur;
        if (!s->ok) {
            const char *name = ts_node_label(n);
            fprintf(f, "%-12.12s %-21.21s DOWN: %s\n", name == n->addr ? "-" : name, n->addr,
                    s->error);
            continue;
        }
        char size[16], seq[24], lag[24] = "-", rq[16], sq[16], fc[16] = "-", fcs[16], cert[16],
             bf[16], com[16], lat[16] = "-", gc[48] = "-";
        long long lc, down;
        double share, ms;
        cell_int(size, sizeof size, s, F_CLUSTER_SIZE);
        cell_int(seq, sizeof seq, s, F_LAST_COMMITTED);
        if (maxlc >= 0 && ts_int(s, F_LAST_COMMITTED, &lc)) snprintf(lag, sizeof lag, "%lld", maxlc - lc);
        cell_int(rq, sizeof rq, s, F_RECV_QUEUE);
        cell_int(sq, sizeof sq, s, F_SEND_QUEUE);
        if (ts_fc_paused_share(n, &share)) snprintf(fc, sizeof fc, "%.0f%%", share * 100);
        cell_rate(fcs, sizeof fcs, n, F_FC_SENT);
        cell_rate(cert, sizeof cert, n, F_CERT_FAILURES);
        cell_rate(bf, sizeof bf, n, F_BF_ABORTS);
        cell_rate(com, sizeof com, n, F_LOCAL_COMMITS);
        if (ts_latency_ms(n, &ms)) snprintf(lat, sizeof lat, "%.2f", ms);
        if (ts_int(s, F_CACHED_DOWNTO, &down) && ts_int(s, F_LAST_COMMITTED, &lc)) {
            if (down > 0 && lc >= down) snprintf(gc, sizeof gc, "%lld..%lld", down, lc);
            else snprintf(gc, sizeof gc, "empty");
        }
        char state[40];
        snprintf(state, sizeof state, "%s%s", ts_str(s, F_STATE_COMMENT),
                 ts_is(s, F_READY, "ON") ? "" : "*");
        fprintf(f, "%-12.12s %-21.21s %-15.15s %-11.11s %4s %12s %6s %5s %5s %5s %8s %6s %6s "
                   "%8s %6s %s\n",
                ts_node_label(n), n->addr, state, ts_str(s, F_CLUSTER_STATUS), size, seq, lag, rq,
                sq, fc, fcs, cert, bf, com, lat, gc);
    }
    bool notready = false;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].cur.ok && !ts_is(&c->nodes[i].cur, F_READY, "ON")) notready = true;
    if (notready) fprintf(f, "* wsrep_ready=OFF: the node refuses queries\n");
    if (c->nwarn) {
        fprintf(f, "warnings:\n");
        for (int i = 0; i < c->nwarn; i++) fprintf(f, "  - %s\n", c->warnings[i]);
    } else {
        fprintf(f, "no warnings\n");
    }
    (void)o;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void jkey(FILE *f, bool *first, const char *k)
{
    fprintf(f, "%s\"%s\":", *first ? "" : ",", k);
    *first = false;
}

static void jfield_str(FILE *f, bool *first, const char *k, const char *v)
{
    jkey(f, first, k);
    jstr(f, v);
}

static void jfield_int(FILE *f, bool *first, const char *k, const struct ts_sample *s,
                       enum ts_field fld)
{
    long long v;
    jkey(f, first, k);
    if (ts_int(s, fld, &v)) fprintf(f, "%lld", v);
    else fputs("null", f);
}

static void jfield_num(FILE *f, bool *first, const char *k, bool have, double v)
{
    jkey(f, first, k);
    if (have && isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* the value is only read when have is true: evaluate have first */
#define JNUM(f, first, k, have_expr, v)                                                         \
    do {                                                                                       \
        bool have_ = (have_expr);                                                              \
        jfield_num(f, first, k, have_, have_ ? (v) : 0);                                       \
    } while (0)

static void jfield_ll(FILE *f, bool *first, const char *k, bool have, long long v)
{
    jkey(f, first, k);
    if (have) fprintf(f, "%lld", v);
    else fputs("null", f);
}

static void jfield_bool(FILE *f, bool *first, const char *k, const struct ts_sample *s,
                        enum ts_field fld, const char *yes, const char *no)
{
    jkey(f, first, k);
    if (ts_is(s, fld, yes)) fputs("true", f);
    else if (ts_is(s, fld, no)) fputs("false", f);
    else fputs("null", f);
}

static void json_node(FILE *f, const struct ts_cluster *c, const struct ts_node *n, long long maxlc)
{
    const struct ts_sample *s = &n->cur;
    bool first = true;
    double d;
    long long lc, down;
    fputc('{', f);
    jfield_str(f, &first, "address", n->addr);
    jfield_str(f, &first, "name", s->ok ? s->v[F_NODE_NAME] : NULL);
    jkey(f, &first, "reachable");
    fputs(s->ok ? "true" : "false", f);
    jfield_str(f, &first, "error", s->ok ? NULL : s->error);
    jfield_str(f, &first, "provider", s->ok ? s->v[F_PROVIDER_NAME] : NULL);
    jfield_str(f, &first, "provider_version", s->ok ? s->v[F_PROVIDER_VERSION] : NULL);
    jfield_str(f, &first, "state", s->ok ? s->v[F_STATE_COMMENT] : NULL);
    jfield_int(f, &first, "state_code", s, F_LOCAL_STATE);
    jfield_str(f, &first, "cluster_status", s->ok ? s->v[F_CLUSTER_STATUS] : NULL);
    jfield_bool(f, &first, "ready", s, F_READY, "ON", "OFF");
    jfield_bool(f, &first, "connected", s, F_CONNECTED, "ON", "OFF");
    jfield_bool(f, &first, "read_only", s, F_READ_ONLY, "ON", "OFF");
    jkey(f, &first, "donor_or_desynced");
    fputs(!s->ok ? "null" : ts_is(s, F_STATE_COMMENT, "Donor/Desynced") ? "true" : "false", f);
    jfield_int(f, &first, "desync_count", s, F_DESYNC_COUNT);
    jfield_int(f, &first, "cluster_size", s, F_CLUSTER_SIZE);
    jfield_int(f, &first, "cluster_conf_id", s, F_CONF_ID);
    jfield_str(f, &first, "cluster_state_uuid", s->ok ? s->v[F_STATE_UUID] : NULL);
    jfield_int(f, &first, "last_committed", s, F_LAST_COMMITTED);
    bool have_lc = maxlc >= 0 && ts_int(s, F_LAST_COMMITTED, &lc);
    jfield_ll(f, &first, "lag", have_lc, have_lc ? maxlc - lc : 0);
    jfield_int(f, &first, "recv_queue", s, F_RECV_QUEUE);
    jfield_int(f, &first, "send_queue", s, F_SEND_QUEUE);
    JNUM(f, &first, "flow_control_paused_share", ts_fc_paused_share(n, &d), d);
    JNUM(f, &first, "flow_control_sent_per_s", ts_rate(n, F_FC_SENT, &d), d);
    jfield_int(f, &first, "flow_control_sent", s, F_FC_SENT);
    jfield_int(f, &first, "flow_control_recv", s, F_FC_RECV);
    jfield_bool(f, &first, "flow_control_active", s, F_FC_ACTIVE, "true", "false");
    JNUM(f, &first, "cert_failures_per_s", ts_rate(n, F_CERT_FAILURES, &d), d);
    JNUM(f, &first, "bf_aborts_per_s", ts_rate(n, F_BF_ABORTS, &d), d);
    JNUM(f, &first, "commits_per_s", ts_rate(n, F_LOCAL_COMMITS, &d), d);
    JNUM(f, &first, "replicated_per_s", ts_rate(n, F_REPLICATED, &d), d);
    JNUM(f, &first, "received_per_s", ts_rate(n, F_RECEIVED, &d), d);
    JNUM(f, &first, "repl_latency_avg_ms", ts_latency_ms(n, &d), d);
    jkey(f, &first, "gcache");
    if (ts_int(s, F_CACHED_DOWNTO, &down) && ts_int(s, F_LAST_COMMITTED, &lc))
        fprintf(f, "{\"cached_downto\":%lld,\"writesets\":%lld}", down,
                down > 0 && lc >= down ? lc - down + 1 : 0);
    else
        fputs("null", f);
    fputc('}', f);
    (void)c;
}

void ts_render_json(FILE *f, const struct ts_opts *o, const struct ts_cluster *c)
{
    const struct ts_sample *ref = reference(c);
    bool first = true;
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fputc('{', f);
    jkey(f, &first, "schema");
    fputs("1", f);
    jfield_str(f, &first, "time", when);
    jfield_num(f, &first, "window_s", c->window_s > 0, c->window_s);
    jfield_str(f, &first, "status", status_word(c->exit_code));
    jkey(f, &first, "exit_code");
    fprintf(f, "%d", c->exit_code);
    jkey(f, &first, "cluster");
    bool cf = true;
    fputc('{', f);
    jfield_str(f, &cf, "name", ref ? ref->v[F_CLUSTER_NAME] : NULL);
    jfield_str(f, &cf, "state_uuid", ref ? ref->v[F_STATE_UUID] : NULL);
    struct ts_sample none = {0};
    jfield_int(f, &cf, "conf_id", ref ? ref : &none, F_CONF_ID);
    jfield_int(f, &cf, "size", ref ? ref : &none, F_CLUSTER_SIZE);
    jfield_int(f, &cf, "weight", ref ? ref : &none, F_CLUSTER_WEIGHT);
    jkey(f, &cf, "arbitrators");
    fprintf(f, "%d", c->arbitrators);
    long long maxlc = ts_max_committed(c);
    jfield_ll(f, &cf, "max_last_committed", maxlc >= 0, maxlc);
    fputc('}', f);
    jkey(f, &first, "nodes");
    fputc('[', f);
    for (int i = 0; i < c->n; i++) {
        if (i) fputc(',', f);
        json_node(f, c, &c->nodes[i], maxlc);
    }
    fputc(']', f);
    jkey(f, &first, "warnings");
    fputc('[', f);
    for (int i = 0; i < c->nwarn; i++) {
        if (i) fputc(',', f);
        jstr(f, c->warnings[i]);
    }
    fputs("]}\n", f);
    (void)o;
}
