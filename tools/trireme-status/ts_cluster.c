/* tools/trireme-status/ts_cluster.c: finds the nodes (wsrep_incoming_addresses, --nodes), samples
 * them in parallel under one deadline, and judges the cluster: warnings and the exit status. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>

#include "ts.h"

#define DEFAULT_PORT 3306
/* Share of the window paused by flow control from which the cluster counts as degraded. */
#define FC_WARN_SHARE 0.10

/* One node's sampling in its own thread. A node that does not answer by the round's deadline
 * is reported as such and its thread is left to finish alone: whoever of the two lets go last
 * frees the job. */
struct job {
    atomic_int refs;
    const struct ts_conn_opts *conn;
    char host[TS_ADDR_LEN];
    unsigned port;
    bool peer;
    struct ts_sample s;
    bool done;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
};

static void job_put(struct job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        ts_sample_clear(&j->s);
        free(j);
    }
}

static void *job_run(void *arg)
{
    struct job *j = arg;
    mysql_thread_init();
    struct ts_sample s = {0};
    ts_sample_node(j->conn, j->peer ? j->host : NULL, j->port, j->peer, &s);
    pthread_mutex_lock(j->mu);
    j->s = s;
    j->done = true;
    pthread_cond_broadcast(j->cv);
    pthread_mutex_unlock(j->mu);
    mysql_thread_end();
    job_put(j);
    return NULL;
}

/* Samples the nodes whose index is in idx[0..k) into their cur; prev gets the old cur. The
 * mutex and condition variable outlive every job (static), as late threads still use them. */
static void sample_round(const struct ts_opts *o, struct ts_cluster *c, const int *idx, int k)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t cv;
    static bool cv_init;
    if (!cv_init) {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&cv, &a);
        pthread_condattr_destroy(&a);
        cv_init = true;
    }
    struct job *jobs[TS_MAX_NODES] = {0};
    for (int i = 0; i < k; i++) {
        struct ts_node *n = &c->nodes[idx[i]];
        struct job *j = calloc(1, sizeof *j);
        if (!j) continue;
        atomic_init(&j->refs, 2);
        j->conn = &o->conn;
        snprintf(j->host, sizeof j->host, "%s", n->host);
        j->port = n->port;
        j->peer = !n->entry;
        j->mu = &mu;
        j->cv = &cv;
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, job_run, j) != 0) {
            free(j);
            j = NULL;
        }
        pthread_attr_destroy(&a);
        jobs[i] = j;
    }
    /* Connect, greeting, authentication and two queries: each step is bounded by the timeout;
     * this deadline catches what is not (a name that takes long to resolve). */
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 3 * (time_t)o->conn.timeout_s + 1;
    pthread_mutex_lock(&mu);
    for (;;) {
        bool all = true;
        for (int i = 0; i < k; i++)
            if (jobs[i] && !jobs[i]->done) all = false;
        if (all) break;
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) break;
    }
    for (int i = 0; i < k; i++) {
        struct ts_node *n = &c->nodes[idx[i]];
        ts_sample_clear(&n->prev);
        n->prev = n->cur;
        memset(&n->cur, 0, sizeof n->cur);
        if (!jobs[i]) {
            snprintf(n->cur.error, sizeof n->cur.error, "cannot start a thread");
        } else if (jobs[i]->done) {
            n->cur = jobs[i]->s;
            memset(&jobs[i]->s, 0, sizeof jobs[i]->s);
        } else {
            snprintf(n->cur.error, sizeof n->cur.error, "no answer within %u s",
                     3 * o->conn.timeout_s + 1);
        }
        if (!n->cur.ok && n->cur.at == 0) n->cur.at = ts_now();
    }
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < k; i++)
        if (jobs[i]) job_put(jobs[i]);
}

static int find_node(const struct ts_cluster *c, const char *host, unsigned port)
{
    for (int i = 0; i < c->n; i++)
        if (!c->nodes[i].entry && c->nodes[i].port == port &&
            strcasecmp(c->nodes[i].host, host) == 0)
            return i;
    return -1;
}

static int add_node(struct ts_cluster *c, const char *host, unsigned port)
{
    int i = find_node(c, host, port);
    if (i >= 0 || c->n >= TS_MAX_NODES) return i;
    struct ts_node *n = &c->nodes[c->n];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    if (strchr(host, ':'))
        snprintf(n->addr, sizeof n->addr, "[%.*s]:%u", (int)sizeof n->addr - 10, host, port);
    else
        snprintf(n->addr, sizeof n->addr, "%.*s:%u", (int)sizeof n->addr - 10, host, port);
    return c->n++;
}

/* Adds every address of a comma-separated list; returns how many entries were empty (members
 * without an incoming address: arbitrators). Marks the listed nodes. */
static int add_list(struct ts_cluster *c, const char *list, bool mark)
{
    int empty = 0;
    const char *p = list;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[TS_ADDR_LEN], host[TS_ADDR_LEN];
        unsigned port;
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == 0 || len >= sizeof item) {
            empty += len == 0;
        } else {
            memcpy(item, p, len);
            item[len] = '\0';
            if (strcasecmp(item, "AUTO") != 0 &&
                ts_split_addr(item, host, sizeof host, &port, DEFAULT_PORT)) {
                int i = add_node(c, host, port);
                if (i >= 0 && mark) c->nodes[i].listed = true;
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return empty;
}

/* The entry node also appears in its own wsrep_incoming_addresses: the address row that has the
 * same gcomm uuid takes its place. */
static void merge_entry(struct ts_cluster *c)
{
    if (c->n == 0 || !c->nodes[0].entry || !c->nodes[0].cur.ok) return;
    const char *uuid = c->nodes[0].cur.v[F_GCOMM_UUID];
    if (!uuid) return;
    for (int i = 1; i < c->n; i++) {
        struct ts_node *d = &c->nodes[i];
        if (!d->cur.v[F_GCOMM_UUID] || strcmp(d->cur.v[F_GCOMM_UUID], uuid) != 0) continue;
        ts_sample_clear(&d->prev);
        ts_sample_clear(&d->cur);
        d->prev = c->nodes[0].prev;
        d->cur = c->nodes[0].cur;
        d->listed = true;
        memmove(&c->nodes[0], &c->nodes[1], (size_t)(c->n - 1) * sizeof c->nodes[0]);
        c->n--;
        return;
    }
}

static int by_addr(const void *a, const void *b)
{
    const struct ts_node *x = a, *y = b;
    if (x->entry != y->entry) return x->entry ? -1 : 1;
    int h = strcmp(x->host, y->host);
    return h ? h : (x->port > y->port) - (x->port < y->port);
}

static void entry_label(const struct ts_opts *o, struct ts_node *n)
{
    const struct ts_conn_opts *k = &o->conn;
    n->entry = true;
    if (k->socket) snprintf(n->addr, sizeof n->addr, "%.*s", (int)sizeof n->addr - 1, k->socket);
    else if (k->host && k->port) snprintf(n->addr, sizeof n->addr, "%.200s:%u", k->host, k->port);
    else if (k->host) snprintf(n->addr, sizeof n->addr, "%.200s", k->host);
    else if (k->port) snprintf(n->addr, sizeof n->addr, "localhost:%u", k->port);
    else snprintf(n->addr, sizeof n->addr, "(option files)");
}

static void warn(struct ts_cluster *c, const char *fmt, ...)
{
    if (c->nwarn >= (int)(sizeof c->warnings / sizeof c->warnings[0])) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->warnings[c->nwarn++], sizeof c->warnings[0], fmt, ap);
    va_end(ap);
}

const char *ts_node_label(const struct ts_node *n)
{
    const char *name = n->cur.v[F_NODE_NAME] ? n->cur.v[F_NODE_NAME] : n->prev.v[F_NODE_NAME];
    return name && name[0] ? name : n->addr;
}

bool ts_rate(const struct ts_node *n, enum ts_field f, double *per_s)
{
    long long a, b;
    double dt = n->cur.at - n->prev.at;
    if (!ts_int(&n->prev, f, &a) || !ts_int(&n->cur, f, &b) || b < a || dt <= 0) return false;
    *per_s = (double)(b - a) / dt;
    return true;
}

bool ts_fc_paused_share(const struct ts_node *n, double *share)
{
    double ns;
    if (!ts_rate(n, F_FC_PAUSED_NS, &ns)) return false;
    *share = fmin(1.0, ns / 1e9);
    return true;
}

bool ts_latency_ms(const struct ts_node *n, double *avg_ms)
{
    const char *l = n->cur.ok ? n->cur.v[F_REPL_LATENCY] : NULL;
    double mn, avg, mx, sd;
    long long cnt;
    if (!l || sscanf(l, "%lf/%lf/%lf/%lf/%lld", &mn, &avg, &mx, &sd, &cnt) != 5 || cnt <= 0)
        return false;
    *avg_ms = avg * 1000.0;
    return true;
}

long long ts_max_committed(const struct ts_cluster *c)
{
    long long best = -1, v;
    for (int i = 0; i < c->n; i++)
        if (ts_int(&c->nodes[i].cur, F_LAST_COMMITTED, &v) && v > best) best = v;
    return best;
}

static bool serving(const struct ts_sample *s)
{
    return s->ok && ts_is(s, F_CLUSTER_STATUS, "Primary") && ts_is(s, F_READY, "ON") &&
           ts_is(s, F_STATE_COMMENT, "Synced");
}

static void judge(const struct ts_opts *o, struct ts_cluster *c)
{
    c->nwarn = 0;
    int reachable = 0, serving_n = 0, primary_size = 0;
    long long maxlc = ts_max_committed(c);
    const char *uuid = NULL;
    double fc_share = 0, fc_window = 0;
    for (int i = 0; i < c->n; i++) {
        const struct ts_node *n = &c->nodes[i];
        const struct ts_sample *s = &n->cur;
        const char *who = ts_node_label(n);
        if (!s->ok) {
            if (strcmp(who, n->addr) == 0) warn(c, "%s is unreachable: %s", who, s->error);
            else warn(c, "%s (%s) is unreachable: %s", who, n->addr, s->error);
            continue;
        }
        reachable++;
        long long v;
        if (!s->v[F_LOCAL_STATE] || ts_is(s, F_WSREP_ON, "OFF")) {
            warn(c, "%s (%s) does not run wsrep replication (wsrep_on=%s)", who, n->addr,
                 ts_str(s, F_WSREP_ON));
            continue;
        }
        if (serving(s)) serving_n++;
        if (!ts_is(s, F_CLUSTER_STATUS, "Primary")) {
            warn(c, "%s is not in the primary component (wsrep_cluster_status=%s): it refuses "
                    "queries until it rejoins", who, ts_str(s, F_CLUSTER_STATUS));
        } else {
            if (ts_int(s, F_CLUSTER_SIZE, &v) && v > primary_size) primary_size = (int)v;
            if (!uuid) uuid = s->v[F_STATE_UUID];
            else if (s->v[F_STATE_UUID] && strcmp(uuid, s->v[F_STATE_UUID]) != 0)
                warn(c, "%s has another cluster state uuid (%s, others %s): a different cluster "
                        "or history", who, s->v[F_STATE_UUID], uuid);
            if (ts_is(s, F_STATE_COMMENT, "Donor/Desynced"))
                warn(c, "%s is Donor/Desynced: it sends a state transfer or was desynced "
                        "(wsrep_desync, FLUSH TABLES WITH READ LOCK) and does not hold "
                        "the cluster back", who);
            else if (!ts_is(s, F_STATE_COMMENT, "Synced"))
                warn(c, "%s is %s, not Synced: it is catching up with the cluster", who,
                     ts_str(s, F_STATE_COMMENT));
            if (!ts_is(s, F_READY, "ON"))
                warn(c, "%s has wsrep_ready=%s: it refuses queries", who, ts_str(s, F_READY));
        }
        if (maxlc >= 0 && ts_int(s, F_LAST_COMMITTED, &v) && maxlc - v > o->max_lag) {
            long long rq = 0;
            ts_int(s, F_RECV_QUEUE, &rq);
            warn(c, "%s lags %lld write-sets behind the most advanced node (receive queue %lld)",
                 who, maxlc - v, rq);
        }
        double share;
        if (ts_fc_paused_share(n, &share) && share > fc_share) {
            fc_share = share;
            fc_window = n->cur.at - n->prev.at;
        }
    }
    if (fc_share >= FC_WARN_SHARE) {
        char senders[300] = "";
        size_t off = 0;
        for (int j = 0; j < c->n; j++) {
            double r;
            if (ts_rate(&c->nodes[j], F_FC_SENT, &r) && r > 0 && off < sizeof senders - 1)
                off += (size_t)snprintf(senders + off, sizeof senders - off, "%s%s (%.1f/s)",
                                        off ? ", " : "", ts_node_label(&c->nodes[j]), r);
        }
        warn(c, "flow control paused replication %.0f%% of the last %.1f s; stops sent by %s",
             fc_share * 100, fc_window, off ? senders : "no node seen");
    }
    /* Nodes that disagree on the cluster size (a node outside the primary component, or a view
     * change in progress). */
    long long first = -1, v;
    bool differ = false;
    char sizes[400] = "";
    size_t off = 0;
    for (int i = 0; i < c->n; i++) {
        if (!ts_int(&c->nodes[i].cur, F_CLUSTER_SIZE, &v)) continue;
        if (first < 0) first = v;
        else if (v != first) differ = true;
        if (off < sizeof sizes - 1)
            off += (size_t)snprintf(sizes + off, sizeof sizes - off, "%s%s=%lld", off ? ", " : "",
                                    ts_node_label(&c->nodes[i]), v);
    }
    if (differ) warn(c, "nodes disagree on the cluster size: %s", sizes);
    int data_nodes = c->n;
    if (primary_size > 0 && primary_size < data_nodes + c->arbitrators)
        warn(c, "%d nodes known but the primary component has %d members", data_nodes,
             primary_size);
    /* Votes: an even total lets a split into halves leave no primary component. */
    long long weight = 0;
    for (int i = 0; i < c->n; i++)
        if (ts_is(&c->nodes[i].cur, F_CLUSTER_STATUS, "Primary") &&
            ts_int(&c->nodes[i].cur, F_CLUSTER_WEIGHT, &v) && v > 0) {
            weight = v;
            break;
        }
    if (weight == 0) weight = primary_size;
    if (primary_size > 1 && weight % 2 == 0) {
        if (c->arbitrators == 0)
            warn(c, "the primary component has an even number of votes (%lld) and no "
                    "arbitrator: if it splits in halves neither half stays primary; add "
                    "trireme-arbd (or garbd) or a node", weight);
        else
            warn(c, "the primary component has an even number of votes (%lld): if it splits "
                    "in halves neither half stays primary", weight);
    }
    if (reachable == 0 || serving_n == 0) c->exit_code = TS_EXIT_DOWN;
    else c->exit_code = c->nwarn ? TS_EXIT_DEGRADED : TS_EXIT_HEALTHY;
    if (reachable == 0)
        warn(c, "no node answered: the cluster is down or unreachable from here");
    else if (serving_n == 0)
        warn(c, "no node is Synced in a primary component: the cluster takes no writes");
}

void ts_cluster_refresh(const struct ts_opts *o, struct ts_cluster *c)
{
    int idx[TS_MAX_NODES], k;
    if (c->n == 0) {
        entry_label(o, &c->nodes[0]);
        c->n = 1;
    }
    for (int i = 0; i < c->n; i++) c->nodes[i].listed = false;
    if (o->nodes) add_list(c, o->nodes, false);
    /* Round 1: every known node (on the first refresh only the entry node and --nodes), then
     * the nodes the answers name, at most twice more. */
    int sampled[TS_MAX_NODES] = {0};
    for (int round = 0; round < 3; round++) {
        k = 0;
        for (int i = 0; i < c->n; i++)
            if (!sampled[i]) idx[k++] = i;
        if (k == 0) break;
        sample_round(o, c, idx, k);
        for (int i = 0; i < k; i++) sampled[idx[i]] = 1;
        int before = c->n;
        c->arbitrators = 0;
        for (int i = 0; i < c->n; i++) {
            const struct ts_sample *s = &c->nodes[i].cur;
            if (!s->ok || !s->v[F_INCOMING]) continue;
            int arb = add_list(c, s->v[F_INCOMING], true);
            if (ts_is(s, F_CLUSTER_STATUS, "Primary") && arb > c->arbitrators) c->arbitrators = arb;
        }
        if (c->n == before) break;
    }
    merge_entry(c);
    qsort(c->nodes, (size_t)c->n, sizeof c->nodes[0], by_addr);
    judge(o, c);
    c->window_s = 0;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].prev.at > 0 && c->nodes[i].cur.at > c->nodes[i].prev.at)
            c->window_s = c->nodes[i].cur.at - c->nodes[i].prev.at;
}

void ts_cluster_free(struct ts_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        ts_sample_clear(&c->nodes[i].prev);
        ts_sample_clear(&c->nodes[i].cur);
    }
    c->n = 0;
}
