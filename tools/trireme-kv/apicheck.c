/* tools/trireme-kv/apicheck.c: one pass over the administrative calls MariaDB makes (options,
 * capabilities, position, pause/resume, desync/resync, status variables) and the --stats dump. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static void report(struct kv_node *n, const char *call, const char *result, bool ok)
{
    printf("api.%s=%s%s\n", call, result, ok ? "" : " FAILED");
    if (!ok) {
        atomic_fetch_add(&n->api_failures, 1);
        kv_err(n, "api-check: %s -> %s", call, result);
    }
}

static void report_rc(struct kv_node *n, const char *call, wsrep_status_t rc)
{
    report(n, call, kv_status_str(rc), rc == WSREP_OK);
}

static void print_caps(wsrep_cap_t caps, char *buf, size_t len)
{
    static const char *names[] = {"MULTI_MASTER", "CERTIFICATION", "PARALLEL_APPLYING",
                                  "TRX_REPLAY", "ISOLATION", "PAUSE", "CAUSAL_READS",
                                  "CAUSAL_TRX", "INCREMENTAL_WRITESET", "SESSION_LOCKS",
                                  "DISTRIBUTED_LOCKS", "CONSISTENCY_CHECK", "UNORDERED",
                                  "ANNOTATION", "PREORDERED", "STREAMING", "SNAPSHOT", "NBO"};
    size_t off = (size_t)snprintf(buf, len, "0x%x:", (unsigned)caps);
    for (unsigned i = 0; i < sizeof names / sizeof names[0] && off < len; i++)
        if (caps & (1u << i))
            off += (size_t)snprintf(buf + off, len - off, "%s:", names[i]);
}

/* Walk a stats array the way MariaDB's SHOW STATUS does, printing each variable after the
 * prefix `print` (NULL: not printed); returns the count or -1. */
static int walk_stats(struct kv_node *n, struct wsrep_stats_var *v, const char *print)
{
    int i;
    for (i = 0; v[i].name; i++) {
        switch (v[i].type) {
        case WSREP_VAR_STRING:
            if (print)
                printf("%s%s=%s\n", print, v[i].name, v[i].value._string ? v[i].value._string : "");
            break;
        case WSREP_VAR_INT64:
            if (print)
                printf("%s%s=%lld\n", print, v[i].name, (long long)v[i].value._int64);
            break;
        case WSREP_VAR_DOUBLE:
            if (print)
                printf("%s%s=%g\n", print, v[i].name, v[i].value._double);
            break;
        default:
            kv_err(n, "stats_get: variable '%s' has unknown type %d", v[i].name, (int)v[i].type);
            return -1;
        }
        if (i > 100000) {
            kv_err(n, "stats_get: array not terminated");
            return -1;
        }
    }
    return i;
}

int kv_print_stats(struct kv_node *n, const char *prefix)
{
    wsrep_t *w = n->w;
    struct wsrep_stats_var *v = w->stats_get(w);
    if (!v) {
        kv_err(n, "stats_get() returned NULL");
        return -1;
    }
    int c = walk_stats(n, v, prefix);
    w->stats_free(w, v);
    return c < 0 ? -1 : 0;
}

long long kv_stat_int(struct kv_node *n, const char *name)
{
    struct wsrep_stats_var *v = n->w->stats_get(n->w);
    long long r = -1;
    for (int i = 0; v && v[i].name; i++)
        if (v[i].type == WSREP_VAR_INT64 && !strcmp(v[i].name, name))
            r = (long long)v[i].value._int64;
    if (v)
        n->w->stats_free(n->w, v);
    return r;
}

/* Before connect(): MariaDB's SHOW STATUS may read provider stats at any time after init. */
int kv_api_precheck(struct kv_node *n)
{
    wsrep_t *w = n->w;
    char buf[64];
    struct wsrep_stats_var *v = w->stats_get(w);
    if (!v) {
        report(n, "stats_get_before_connect", "NULL", false);
        return -1;
    }
    int c = walk_stats(n, v, NULL);
    snprintf(buf, sizeof buf, "%d vars", c);
    report(n, "stats_get_before_connect", buf, c >= 0);
    w->stats_free(w, v);
    return 0;
}

int kv_api_check(struct kv_node *n)
{
    wsrep_t *w = n->w;
    char buf[512];
    long before = atomic_load(&n->api_failures);

    char *opts = w->options_get(w);
    if (!opts) {
        report(n, "options_get", "NULL", false);
    } else {
        if (!n->cfg.quiet)
            printf("options=%s\n", opts);
        snprintf(buf, sizeof buf, "%zu bytes", strlen(opts));
        report(n, "options_get", buf, true);
        free(opts); /* malloc'ed by the provider, freed by the host (wsrep-lib does) */
    }

    /* SET GLOBAL wsrep_provider_options: an option every MTR suite sets (value = default) */
    report_rc(n, "options_set(repl.causal_read_timeout=PT30S)",
              w->options_set(w, "repl.causal_read_timeout=PT30S"));

    wsrep_cap_t caps = w->capabilities(w);
    print_caps(caps, buf, sizeof buf);
    report(n, "capabilities", buf, caps != 0);

    wsrep_gtid_t g;
    wsrep_status_t rc = w->last_committed_id(w, &g);
    if (rc == WSREP_OK) {
        kv_gtid_print(&g, buf, sizeof buf);
        report(n, "last_committed_id", buf, g.seqno >= 0 && !kv_uuid_is_nil(&g.uuid));
    } else {
        report_rc(n, "last_committed_id", rc);
    }

    /* wsrep-lib's wait_for_gtid(): sync_wait(&upto, timeout, NULL) on a position we have */
    if (rc == WSREP_OK)
        report_rc(n, "sync_wait(&last_committed, 5, NULL)", w->sync_wait(w, &g, 5, NULL));

    /* MariaDB's FLUSH TABLES WITH READ LOCK: pause returns the paused position */
    wsrep_seqno_t ps = w->pause(w);
    snprintf(buf, sizeof buf, "%lld", (long long)ps);
    report(n, "pause", buf, ps >= 0);
    if (ps >= 0) {
        if (rc == WSREP_OK && ps < g.seqno)
            report(n, "pause_vs_last_committed", "paused below last_committed", false);
        report_rc(n, "resume", w->resume(w));
    }

    /* SET GLOBAL wsrep_desync=ON/OFF; resync completes asynchronously with synced_cb */
    pthread_mutex_lock(&n->mu);
    int synced = n->synced;
    pthread_mutex_unlock(&n->mu);
    rc = w->desync(w);
    report_rc(n, "desync", rc);
    if (rc == WSREP_OK) {
        rc = w->resync(w);
        report_rc(n, "resync", rc);
        if (rc == WSREP_OK) {
            /* not fatal for MariaDB, so only reported: was synced_cb called again? */
            bool again = kv_node_wait_synced(n, synced + 1, 10) == 0;
            printf("api.synced_after_resync=%s\n", again ? "yes" : "no");
        }
    }

    struct wsrep_stats_var *v = w->stats_get(w);
    if (!v) {
        report(n, "stats_get", "NULL", false);
    } else {
        int c = walk_stats(n, v, NULL);
        snprintf(buf, sizeof buf, "%d vars", c);
        report(n, "stats_get", buf, c > 0);
        w->stats_free(w, v);
        report(n, "stats_free", "done", true);
    }
    w->stats_reset(w);
    report(n, "stats_reset", "done", true);

    /* optional in MariaDB (client_state::assign_read_view): any result is only shown */
    wsrep_ws_handle_t ws = {0x7ffffff0u, NULL};
    rc = w->assign_read_view(w, &ws, NULL);
    printf("api.assign_read_view=%s (optional)\n", kv_status_str(rc));
    if (ws.opaque)
        w->release(w, &ws);

    long failed = atomic_load(&n->api_failures) - before;
    printf("api_check=%s failures=%ld\n", failed ? "FAILED" : "ok", failed);
    return failed ? -1 : 0;
}
