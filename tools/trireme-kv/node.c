/* tools/trireme-kv/node.c: the node's lifecycle as MariaDB drives it: load, init (with the saved
 * position), connect, applier threads in recv(), wait for synced, catch up, disconnect, unload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_time.h"
#include "kv.h"

#define POS_FILE "trireme-kv.pos"
#define TABLE_FILE "trireme-kv.table"

/* Our own saved position (not the provider's grastate): what MariaDB reads from its engine. */
static int read_position(struct kv_node *n, wsrep_gtid_t *g)
{
    char path[4096], line[128];
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, POS_FILE);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    if (fgets(line, sizeof line, f) && kv_gtid_scan(line, g) == 0)
        rc = 0;
    fclose(f);
    if (rc != 0)
        kv_err(n, "ignoring unreadable %s", path);
    return rc;
}

static void save_position(struct kv_node *n, const wsrep_gtid_t *g)
{
    char path[4096], tmp[4200], s[WSREP_GTID_STR_LEN + 1];
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, POS_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    kv_gtid_print(g, s, sizeof s);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", s) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        kv_err(n, "cannot save position to %s: %s", path, strerror(errno));
        return;
    }
    kv_say(n, "saved position %s", s);
}

/* --keep-table: the table as of the saved position (kv_table_dump's format), as an engine's
 * files are after a clean stop; a restarted node then holds an earlier state of the history. */
static void save_table(struct kv_node *n)
{
    char path[4096], tmp[4200];
    void *buf = NULL;
    size_t len = kv_table_dump(n->table, &buf);
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, TABLE_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = buf ? fopen(tmp, "w") : NULL;
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0 || rename(tmp, path) != 0) {
        kv_err(n, "cannot save the table to %s: %s", path, strerror(errno));
        atomic_fetch_add(&n->errors, 1);
    }
    free(buf);
}

static int load_table(struct kv_node *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", n->cfg.data_dir, TABLE_FILE);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    int rc = -1;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    void *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)len, f) == (size_t)len)
        rc = kv_table_load(n->table, buf, (size_t)len);
    free(buf);
    fclose(f);
    if (rc != 0)
        kv_err(n, "unreadable table file %s", path);
    else
        kv_say(n, "loaded the table from %s (%ld bytes)", path, len);
    return rc;
}

static void deadline(struct timespec *ts, int secs);

static void *applier_main(void *arg)
{
    struct kv_applier *a = arg;
    struct kv_node *n = a->ctx.node;
    a->self = pthread_self();
    a->rc = n->w->recv(n->w, &a->ctx);
    pthread_mutex_lock(&n->mu);
    bool early = !n->disconnecting;
    pthread_mutex_unlock(&n->mu);
    if (early) {
        /* recv() only returns when the provider closes: before disconnect() that is a failure */
        kv_err(n, "applier %d: recv() returned %s before disconnect()", a->ctx.index,
               kv_status_str(a->rc));
        atomic_fetch_add(&n->errors, 1);
        /* the provider has closed under us; client threads may now sit in it forever, so
         * give the run the sync timeout to reach disconnect() and otherwise end it here */
        struct timespec ts;
        deadline(&ts, n->cfg.sync_timeout);
        int rc = 0;
        pthread_mutex_lock(&n->mu);
        pthread_cond_broadcast(&n->cond);
        while (!n->disconnecting && rc == 0)
            rc = pthread_cond_timedwait(&n->cond, &n->mu, &ts);
        bool stuck = !n->disconnecting;
        pthread_mutex_unlock(&n->mu);
        if (stuck) {
            kv_err(n, "FATAL: run stuck %d s after the provider closed; exiting",
                   n->cfg.sync_timeout);
            printf("errors=%ld completed=0 provider_closed=1\n", atomic_load(&n->errors));
            fflush(NULL);
            _exit(1);
        }
    } else {
        kv_say(n, "applier %d exiting: recv() -> %s", a->ctx.index, kv_status_str(a->rc));
    }
    return NULL;
}

int kv_node_start(struct kv_node *n)
{
    struct kv_config *c = &n->cfg;
    if (kv_provider_load(n) != 0)
        return -1;
    wsrep_t *w = n->w;

    if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST) {
        kv_err(n, "mkdir %s: %s", c->data_dir, strerror(errno));
        return -1;
    }
    static wsrep_gtid_t state_id; /* must outlive init(): the provider may keep the pointer */
    memset(&state_id, 0, sizeof state_id);
    state_id.seqno = WSREP_SEQNO_UNDEFINED;
    if (read_position(n, &state_id) == 0) {
        char s[WSREP_GTID_STR_LEN + 1];
        kv_gtid_print(&state_id, s, sizeof s);
        kv_say(n, "starting from saved position %s", s);
        if (c->keep_table && load_table(n) != 0)
            return -1;
    }

    struct wsrep_init_args a;
    memset(&a, 0, sizeof a);
    kv_callbacks_fill(n, &a);
    a.node_name = c->name;
    a.node_address = c->address;
    a.node_incoming = c->address;
    a.data_dir = c->data_dir;
    a.options = c->options;
    a.proto_ver = 4; /* MariaDB 10.11's wsrep_max_protocol_version */
    a.state_id = &state_id;
    a.state = NULL;
    wsrep_status_t rc = w->init(w, &a);
    if (rc != WSREP_OK) {
        kv_err(n, "init(name=%s address=%s data_dir=%s options='%s' proto_ver=4) -> %s", c->name,
               c->address, c->data_dir, c->options, kv_status_str(rc));
        return -1;
    }

    if (c->api_check)
        kv_api_precheck(n);
    rc = w->connect(w, c->cluster_name, c->cluster_address, "", c->bootstrap);
    if (rc != WSREP_OK) {
        kv_err(n, "connect(%s, %s, \"\", bootstrap=%d) -> %s", c->cluster_name,
               c->cluster_address, (int)c->bootstrap, kv_status_str(rc));
        return -1;
    }

    n->appliers = calloc((size_t)c->appliers, sizeof *n->appliers);
    if (!n->appliers)
        return -1;
    for (int i = 0; i < c->appliers; i++) {
        struct kv_applier *ap = &n->appliers[i];
        ap->ctx = (struct kv_ctx){KV_CTX_APPLIER, i, n, NULL};
    }
    /* publish the count before any recv() can deliver a view that checks it */
    n->nappliers = c->appliers;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < c->appliers; i++) {
        if (pthread_create(&n->appliers[i].thread, NULL, applier_main, &n->appliers[i]) != 0) {
            pthread_mutex_unlock(&n->mu);
            kv_err(n, "cannot start applier %d", i);
            return -1;
        }
    }
    pthread_mutex_unlock(&n->mu);
    return 0;
}

static void deadline(struct timespec *ts, int secs)
{
    *ts = tr_deadline_in((int64_t)secs * TR_NS_PER_SEC);
}

int kv_node_wait_synced(struct kv_node *n, int min_synced, int timeout_s)
{
    struct timespec ts;
    deadline(&ts, timeout_s);
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    while (!(n->synced >= min_synced && n->primary) && rc == 0)
        rc = pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    bool ok = n->synced >= min_synced && n->primary;
    int s = n->synced;
    pthread_mutex_unlock(&n->mu);
    if (!ok)
        kv_err(n, "not synced after %d s (synced_cb calls %d, wanted %d; primary view %s)",
               timeout_s, s, min_synced, n->primary ? "yes" : "no");
    return ok ? 0 : -1;
}

int kv_node_wait_members(struct kv_node *n, int members, int timeout_s)
{
    struct timespec ts;
    deadline(&ts, timeout_s);
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    while (!(n->primary && n->view_size >= members) && rc == 0)
        rc = pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    bool ok = n->primary && n->view_size >= members;
    int have = n->view_size;
    pthread_mutex_unlock(&n->mu);
    if (!ok)
        kv_err(n, "primary view has %d members after %d s, wanted %d", have, timeout_s, members);
    return ok ? 0 : -1;
}

/* Wait until everything this node has seen (or a causal read reports) is committed here. With
 * members > 1, nobody leaves before every member's causal read is answered: a member leaving
 * meanwhile could leave this one alone and non-primary, where causal reads fail (seen on a
 * loaded machine, kv.three_node_trireme). */
int kv_node_catch_up(struct kv_node *n, int members, wsrep_gtid_t *last)
{
    wsrep_t *w = n->w;
    wsrep_gtid_t causal;
    memset(&causal, 0, sizeof causal);
    causal.seqno = WSREP_SEQNO_UNDEFINED;
    wsrep_status_t rc = w->sync_wait(w, NULL, -1, &causal);
    /* a view change at that moment (a member leaving) fails a causal read on both providers:
     * a client tries again, for a bounded while */
    for (int i = 0; i < 50 && (rc == WSREP_TRX_FAIL || rc == WSREP_CONN_FAIL); i++) {
        usleep(100000);
        rc = w->sync_wait(w, NULL, -1, &causal);
    }
    if (rc != WSREP_OK) {
        kv_err(n, "sync_wait(NULL, -1, &gtid) -> %s", kv_status_str(rc));
        atomic_fetch_add(&n->errors, 1);
    } else {
        kv_note_seqno(n, causal.seqno);
    }
    if (members > 1 && kv_leave_barrier(n, members) != 0)
        return -1;
    wsrep_seqno_t target = atomic_load(&n->max_seqno);
    double until = kv_now_ms() + 1000.0 * n->cfg.sync_timeout;
    for (;;) {
        rc = w->last_committed_id(w, last);
        if (rc != WSREP_OK) {
            kv_err(n, "last_committed_id() -> %s", kv_status_str(rc));
            atomic_fetch_add(&n->errors, 1);
            return -1;
        }
        if (last->seqno >= target)
            return 0;
        if (kv_now_ms() > until) {
            kv_err(n, "last_committed_id stuck at %lld, expected >= %lld after %d s",
                   (long long)last->seqno, (long long)target, n->cfg.sync_timeout);
            atomic_fetch_add(&n->errors, 1);
            return -1;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void kv_node_stop(struct kv_node *n)
{
    wsrep_t *w = n->w;
    if (w && n->nappliers > 0) {
        wsrep_gtid_t last;
        bool have = w->last_committed_id(w, &last) == WSREP_OK && !kv_uuid_is_nil(&last.uuid);
        pthread_mutex_lock(&n->mu);
        n->disconnecting = true;
        pthread_mutex_unlock(&n->mu);
        wsrep_status_t rc = w->disconnect(w);
        if (rc != WSREP_OK) {
            kv_err(n, "disconnect() -> %s", kv_status_str(rc));
            atomic_fetch_add(&n->errors, 1);
        }
        /* a provider stuck inside recv() must not hang the run forever: give up after the
         * sync timeout and leave the library loaded (threads are still inside it) */
        for (int i = 0; i < n->nappliers; i++) {
            struct timespec ts;
            /* pthread_timedjoin_np measures CLOCK_REALTIME, unlike the monotonic conds */
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += n->cfg.sync_timeout;
            if (pthread_timedjoin_np(n->appliers[i].thread, NULL, &ts) != 0) {
                kv_err(n, "applier %d still inside recv() %d s after disconnect() -> %s",
                       i, n->cfg.sync_timeout, kv_status_str(rc));
                atomic_fetch_add(&n->errors, 1);
                n->wedged = true;
            }
        }
        if (have && n->cfg.keep_table)
            save_table(n); /* first: a position never names a table that is not there */
        if (have)
            save_position(n, &last);
    }
    if (n->wedged)
        return;
    pthread_mutex_lock(&n->mu);
    int nd = n->ndonors;
    pthread_mutex_unlock(&n->mu);
    for (int i = 0; i < nd; i++)
        pthread_join(n->donors[i], NULL);
    kv_provider_unload(n);
    free(n->appliers);
    n->appliers = NULL;
    n->nappliers = 0;
}
