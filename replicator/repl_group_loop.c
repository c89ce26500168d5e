/* replicator/repl_group_loop: the group of one, for a node bootstrapped with gcomm:// alone.
 * Its total order is the order of broadcast calls; it refuses to join peers it cannot reach. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "replicator/repl_group.h"

struct loop_group {
    struct repl_group base;
    pthread_mutex_t mu; /* makes "order of broadcast" the delivery order */
    struct repl_group_args args;
    char name[REPL_NAME_LEN];
    char incoming[REPL_INCOMING_LEN];
    bool primary;
    int64_t conf_id;
    /* Flow control: its own lock, because the sink asks for it while mu is held. Order: mu
     * before fc_mu; a write-set waits on fc_cond before it takes mu. */
    pthread_mutex_t fc_mu;
    pthread_cond_t fc_cond;
    bool fc_stop;
    int64_t fc_since_ns, fc_paused_ns, fc_recv;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Under fc_mu. */
static void fc_set_locked(struct loop_group *g, bool stop)
{
    if (g->fc_stop == stop) return;
    g->fc_stop = stop;
    if (stop) {
        g->fc_since_ns = now_ns();
    } else {
        g->fc_paused_ns += now_ns() - g->fc_since_ns;
        pthread_cond_broadcast(&g->fc_cond);
    }
}

void repl_gev_free(struct repl_gev *ev)
{
    if (!ev) return;
    free(ev->buf);
    free(ev->view.members);
    free(ev);
}

static bool url_names_peers(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    /* anything before an option string counts as a peer list */
    return *p && *p != '?';
}

static int loop_connect(struct repl_group *gb, const char *cluster_name, const char *url,
                        bool bootstrap, char *err, size_t errlen)
{
    struct loop_group *g = (struct loop_group *)gb;
    if (!bootstrap && url_names_peers(url)) {
        snprintf(err, errlen,
                 "cluster address '%s' names peers, but this build of trireme can only form a "
                 "one-node cluster (use gcomm:// to bootstrap)",
                 url);
        return -1;
    }
    struct repl_gev *ev = calloc(1, sizeof *ev);
    struct repl_member *m = calloc(1, sizeof *m);
    if (!ev || !m) {
        free(ev);
        free(m);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->id = g->args.self;
    memcpy(m->name, g->name, sizeof m->name);
    memcpy(m->incoming, g->incoming, sizeof m->incoming);
    pthread_mutex_lock(&g->mu);
    g->primary = true;
    ev->type = REPL_GEV_VIEW;
    ev->view = (struct repl_gview){true, ++g->conf_id, 0, 1, m};
    g->args.sink(g->args.sink_ctx, ev);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static int loop_broadcast(struct repl_group *gb, const struct repl_buf *bufs, size_t n)
{
    struct loop_group *g = (struct loop_group *)gb;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += bufs[i].len;
    struct repl_gev *ev = calloc(1, sizeof *ev);
    uint8_t *buf = malloc(len ? len : 1);
    if (!ev || !buf) {
        free(ev);
        free(buf);
        return -ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + off, bufs[i].ptr, bufs[i].len);
        off += bufs[i].len;
    }
    ev->type = REPL_GEV_MSG;
    ev->sender = g->args.self;
    ev->buf = buf;
    ev->len = len;
    pthread_mutex_lock(&g->mu);
    if (!g->primary) {
        pthread_mutex_unlock(&g->mu);
        repl_gev_free(ev);
        return -ENOTCONN;
    }
    g->args.sink(g->args.sink_ctx, ev);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* A group of one: the member that asks is the one whose write-sets wait. */
static int loop_broadcast_ws(struct repl_group *gb, const struct repl_buf *bufs, size_t n)
{
    struct loop_group *g = (struct loop_group *)gb;
    pthread_mutex_lock(&g->fc_mu);
    while (g->fc_stop) pthread_cond_wait(&g->fc_cond, &g->fc_mu);
    pthread_mutex_unlock(&g->fc_mu);
    return loop_broadcast(gb, bufs, n);
}

static void loop_flow_control(struct repl_group *gb, bool stop)
{
    struct loop_group *g = (struct loop_group *)gb;
    pthread_mutex_lock(&g->fc_mu);
    g->fc_recv++;
    fc_set_locked(g, stop);
    pthread_mutex_unlock(&g->fc_mu);
}

static void loop_fc_stats(struct repl_group *gb, struct repl_fc_stats *st)
{
    struct loop_group *g = (struct loop_group *)gb;
    pthread_mutex_lock(&g->fc_mu);
    st->active = g->fc_stop;
    st->paused_ns = g->fc_paused_ns + (g->fc_stop ? now_ns() - g->fc_since_ns : 0);
    st->recv = g->fc_recv;
    pthread_mutex_unlock(&g->fc_mu);
}

static void loop_leave(struct repl_group *gb)
{
    struct loop_group *g = (struct loop_group *)gb;
    struct repl_gev *ev = calloc(1, sizeof *ev);
    pthread_mutex_lock(&g->mu);
    g->primary = false;
    pthread_mutex_lock(&g->fc_mu); /* a member that leaves lifts its stop: writers fail fast */
    fc_set_locked(g, false);
    pthread_mutex_unlock(&g->fc_mu);
    if (ev) {
        ev->type = REPL_GEV_CLOSED;
        g->args.sink(g->args.sink_ctx, ev);
    }
    pthread_mutex_unlock(&g->mu);
}

static void loop_destroy(struct repl_group *gb)
{
    struct loop_group *g = (struct loop_group *)gb;
    pthread_mutex_destroy(&g->mu);
    pthread_mutex_destroy(&g->fc_mu);
    pthread_cond_destroy(&g->fc_cond);
    free(g);
}

static const struct repl_group_ops loop_ops = {
    .connect = loop_connect,
    .broadcast = loop_broadcast,
    .broadcast_ws = loop_broadcast_ws,
    .flow_control = loop_flow_control,
    .fc_stats = loop_fc_stats,
    .leave = loop_leave,
    .destroy = loop_destroy,
};

struct repl_group *repl_group_loop_new(const struct repl_group_args *args)
{
    struct loop_group *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->base.ops = &loop_ops;
    g->base.self = args->self;
    g->args = *args;
    snprintf(g->name, sizeof g->name, "%s", args->name ? args->name : "");
    snprintf(g->incoming, sizeof g->incoming, "%s", args->incoming ? args->incoming : "");
    pthread_mutex_init(&g->mu, NULL);
    pthread_mutex_init(&g->fc_mu, NULL);
    pthread_cond_init(&g->fc_cond, NULL);
    return &g->base;
}
