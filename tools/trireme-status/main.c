/* tools/trireme-status/main.c: trireme-status, the cluster at a glance (table, JSON, --watch)
 * and the HAProxy health check (--check, --serve-check). The manual is --help (ts_opts.c). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* sleeps up to s seconds; false when interrupted */
static bool nap(double s)
{
    double end = ts_now() + s;
    while (!interrupted) {
        double left = end - ts_now();
        if (left <= 0) return true;
        struct timespec t = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&t, NULL);
    }
    return false;
}

static int cluster_view(const struct ts_opts *o)
{
    static struct ts_cluster c; /* large; one per process */
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO);
    ts_cluster_refresh(o, &c);
    int rc = c.exit_code;
    for (bool first = true; !interrupted; first = false) {
        if (!nap(first ? o->interval_s : o->watch_s)) break;
        ts_cluster_refresh(o, &c);
        rc = c.exit_code;
        if (o->json) {
            ts_render_json(stdout, o, &c);
        } else {
            if (o->watch_s > 0 && tty) fputs("\033[H\033[2J", stdout);
            ts_render_table(stdout, o, &c);
            if (o->watch_s > 0) printf("(refresh every %g s, Ctrl-C to quit)\n", o->watch_s);
        }
        fflush(stdout);
        if (o->watch_s <= 0) break;
    }
    ts_cluster_free(&c);
    return rc;
}

int main(int argc, char **argv)
{
    struct ts_opts o;
    char err[TS_ERR_LEN];
    if (ts_parse_args(argc, argv, &o) != 0) return TS_EXIT_USAGE;
    if (ts_conn_setup(&o.conn, err, sizeof err) != 0) {
        fprintf(stderr, "trireme-status: %s\n", err);
        return TS_EXIT_USAGE;
    }
    int rc = o.serve ? ts_serve(&o) : o.check ? ts_check_once(&o) : cluster_view(&o);
    ts_conn_teardown();
    free((void *)o.conn.password);
    return rc;
}
