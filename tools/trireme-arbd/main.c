/* tools/trireme-arbd/main: trireme-arbd, the arbitrator daemon (docs/design/arbitrator.md): a
 * gcomm member that answers every state exchange (repl_arb) and drops everything else. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_cfg.h"
#include "common/tr_log.h"
#include "replicator/repl_arb.h"
#include "replicator/repl_group.h"
#include "replicator/repl_options.h"
#include "tools/trireme-arbd/arbd.h"

/* ---- log: a file (reopened on SIGHUP), syslog, or standard error ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static const char *log_path;
static bool use_syslog;

static void log_sink(enum tr_log_level level, const char *msg)
{
    static const char *names[] = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG"};
    if (use_syslog) {
        static const int prio[] = {LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    pthread_mutex_lock(&log_mu);
    FILE *f = log_file ? log_file : stderr;
    fprintf(f, "%s.%03ld [%s] %s\n", when, ts.tv_nsec / 1000000, names[level], msg);
    fflush(f);
    pthread_mutex_unlock(&log_mu);
}

static int log_open(char *err, size_t errlen)
{
    FILE *f = fopen(log_path, "a");
    if (!f) return snprintf(err, errlen, "--log %s: %s", log_path, strerror(errno)), -1;
    pthread_mutex_lock(&log_mu);
    FILE *old = log_file;
    log_file = f;
    pthread_mutex_unlock(&log_mu);
    if (old) fclose(old);
    return 0;
}

/* ---- the group's stream: one owner, the group's pump thread ---- */

static struct repl_group *group;
static struct repl_arb arb;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* closed, lost */
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool closed, lost;

static void log_view(const struct repl_gview *gv)
{
    char names[1024];
    size_t o = 0;
    names[0] = '\0';
    for (int i = 0; i < gv->memb_num && o + 40 < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%.*s%s", i ? ", " : "", REPL_NAME_LEN,
                              gv->members[i].name, i == gv->my_idx ? " (this arbitrator)" : "");
    tr_info("view %lld: %s, %d members: %s", (long long)gv->conf_id,
            gv->primary ? "primary" : "not primary", gv->memb_num, names);
}

static void sink(void *ctx, struct repl_gev *ev)
{
    (void)ctx;
    switch (ev->type) {
    case REPL_GEV_VIEW: {
        log_view(&ev->view);
        struct tr_buf b = {0};
        int rc = repl_arb_view(&arb, &ev->view, &b);
        if (rc < 0) {
            tr_error("out of memory for this arbitrator's STATE: leaving, or the view's state "
                     "exchange would never complete");
            pthread_mutex_lock(&mu);
            lost = true;
            pthread_cond_broadcast(&cond);
            pthread_mutex_unlock(&mu);
        } else if (rc > 0) {
            struct repl_buf rb = {b.ptr, b.len};
            int brc = group->ops->broadcast(group, &rb, 1);
            /* -ENOTCONN: the view changed meanwhile, and the next one asks again */
            if (brc && brc != -ENOTCONN) tr_warn("sending this arbitrator's STATE failed (%d)", brc);
        }
        tr_buf_free(&b);
        break;
    }
    case REPL_GEV_MSG: repl_arb_msg(&arb, &ev->sender, ev->buf, ev->len); break;
    case REPL_GEV_SKIP: /* pieces of actions a view cut off, and */
    case REPL_GEV_LOST: /* an action of its own (it sends none in pieces): nothing to do */
        break;
    case REPL_GEV_FAILED:
    case REPL_GEV_CLOSED:
        pthread_mutex_lock(&mu);
        closed = true;
        lost |= ev->type == REPL_GEV_FAILED;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&mu);
        break;
    }
    repl_gev_free(ev);
}

/* ---- options ---- */

/* What the group layer reads (repl_group_gcomm): anything else would be ignored here. */
static bool group_key(const char *k)
{
    static const char *const prefixes[] = {"evs.", "gmcast.", "pc.", "socket."};
    static const char *const exact[] = {"base_host", "base_port", "gcs.max_packet_size",
                                        "trireme.retain_limit", "trireme.busy_poll_us"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(k, prefixes[i], strlen(prefixes[i]))) return true;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(k, exact[i])) return true;
    return false;
}

static tr_cfg *load_options(const char *opts, char *err, size_t errlen)
{
    tr_cfg *cfg = repl_options_new();
    if (!cfg) return snprintf(err, errlen, "out of memory"), NULL;
    char e[512];
    if (tr_cfg_parse(cfg, opts, TR_CFG_AT_INIT, e, sizeof e)) {
        snprintf(err, errlen, "--options: %s", e);
        tr_cfg_free(cfg);
        return NULL;
    }
    size_t n;
    const struct repl_option_info *t = repl_options_table(&n);
    for (size_t i = 0; i < n; i++)
        if (tr_cfg_is_user_set(cfg, t[i].key.name) && !group_key(t[i].key.name)) {
            snprintf(err, errlen, "--options: '%s' is not a group-communication option; an "
                     "arbitrator holds no data and has no use for it", t[i].key.name);
            tr_cfg_free(cfg);
            return NULL;
        }
    /* nothing waits on the stream with latency to save: sleep rather than poll for it */
    if (!tr_cfg_is_user_set(cfg, "trireme.busy_poll_us") &&
        tr_cfg_set(cfg, "trireme.busy_poll_us", "0", TR_CFG_AT_INIT, e, sizeof e)) {
        snprintf(err, errlen, "%s", e);
        tr_cfg_free(cfg);
        return NULL;
    }
    char *unimpl = repl_options_unimplemented_in_use(cfg);
    if (unimpl) tr_warn("options accepted but not acted on yet: %s", unimpl);
    free(unimpl);
    return cfg;
}

static int daemonize(const char *workdir)
{
    pid_t p = fork();
    if (p < 0) return -1;
    if (p > 0) _exit(0);
    if (setsid() < 0) return -1;
    p = fork();
    if (p < 0) return -1;
    if (p > 0) _exit(0);
    if (chdir(workdir[0] ? workdir : "/")) return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return -1;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    struct arbd_opts o;
    char err[1024] = "";
    int rc = arbd_opts_parse(argc, argv, &o, err, sizeof err);
    if (rc == 0 && o.cfg[0]) rc = arbd_opts_file(&o, o.cfg, err, sizeof err);
    if (rc == 0) rc = arbd_opts_check(&o, err, sizeof err);
    if (rc > 0) return 0;
    if (rc < 0) {
        fprintf(stderr, "trireme-arbd: %s\n", err);
        return 1;
    }
    if (o.workdir[0] && chdir(o.workdir)) {
        fprintf(stderr, "trireme-arbd: --workdir %s: %s\n", o.workdir, strerror(errno));
        return 1;
    }
    tr_log_set_sink(log_sink);
    if (o.log[0]) {
        log_path = o.log;
        if (log_open(err, sizeof err)) {
            fprintf(stderr, "trireme-arbd: %s\n", err);
            return 1;
        }
    }
    tr_cfg *cfg = load_options(o.options, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "trireme-arbd: %s\n", err);
        return 1;
    }
    if (o.daemon) {
        if (!o.log[0]) {
            openlog("trireme-arbd", LOG_PID, LOG_DAEMON);
            use_syslog = true;
        }
        if (daemonize(o.workdir)) {
            tr_error("cannot become a daemon: %s", strerror(errno));
            return 1;
        }
    }
    /* the signals this process answers are taken by sigwait below, in no other thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct repl_group_args ga = {.name = o.name, .incoming = "", .sink = sink};
    group = repl_group_gcomm_new(&ga, cfg, o.workdir[0] ? "." : "");
    if (!group) {
        tr_error("bad group-communication options (see above)");
        return 1;
    }
    repl_arb_init(&arb, &tr_uuid_nil, o.name); /* its uuid is gcomm's: taken from each view */
    tr_info("trireme-arbd %s: joining group '%s' at %s as '%s'", TRIREME_VERSION, o.group,
            o.address, o.name);
    if (group->ops->connect(group, o.group, o.address, false, err, sizeof err)) {
        tr_error("cannot join group '%s' at %s: %s (is --group the nodes' wsrep_cluster_name, "
                 "and is a node of it reachable?)", o.group, o.address, err);
        group->ops->destroy(group);
        tr_cfg_free(cfg);
        return 1;
    }
    int status = 0;
    bool leaving = false;
    for (;;) {
        pthread_mutex_lock(&mu);
        bool done = closed, bad = lost;
        pthread_mutex_unlock(&mu);
        if (done) {
            if (bad || !leaving) {
                tr_error("the group connection ended%s", bad ? " after a lost event" : "");
                status = 1;
            }
            break;
        }
        if (bad && !leaving) { /* it cannot answer exchanges any more: leave */
            leaving = true;
            group->ops->leave(group);
            continue;
        }
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGHUP && log_path && log_open(err, sizeof err)) tr_error("%s", err);
        if ((sig == SIGTERM || sig == SIGINT) && !leaving) {
            tr_info("signal %d: leaving the group", sig);
            leaving = true;
            group->ops->leave(group); /* returns once the others installed a view without us */
        }
    }
    group->ops->destroy(group);
    repl_arb_free(&arb);
    tr_cfg_free(cfg);
    tr_info("trireme-arbd: stopped (%llu exchanges answered, %llu messages dropped)",
            (unsigned long long)arb.exchanges, (unsigned long long)arb.dropped);
    return status;
}
