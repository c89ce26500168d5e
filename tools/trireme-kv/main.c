/* tools/trireme-kv/main.c: command line and the run's script (start, sync, api-check, workload,
 * TOI, hold, checksum, stats, stop) ending in one parsable result line; exit 0 only if clean. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tr_time.h"
#include "kv.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trireme-kv --provider PATH [options]\n"
            "  --provider PATH          wsrep provider .so (trireme or Galera)\n"
            "  --options STR            provider options (init args 'options')\n"
            "  --cluster-address URL    e.g. gcomm:// to bootstrap (default gcomm://)\n"
            "  --cluster-name NAME      default trireme_kv\n"
            "  --name NODE              node name (default kv1)\n"
            "  --data-dir DIR           provider data dir; holds trireme-kv.pos (default "
            "/tmp/trireme-kv-NODE)\n"
            "  --address HOST[:PORT]    node_address/incoming (default 127.0.0.1)\n"
            "  --bootstrap              connect with bootstrap=true (implied by gcomm://)\n"
            "  --ops N --keys K --threads T --value-size B --appliers N\n"
            "                           (defaults 1000, 1000, 1, 16, 1)\n"
            "  --key-type exclusive|update|shared|reference   (default exclusive)\n"
            "  --toi N                  N total-order-isolation actions after the workload\n"
            "  --checksum               catch up, then print checksum= and last_committed=\n"
            "  --hold SECONDS           stay connected after the workload (multi-process runs)\n"
            "  --keep-table             save the table with the position at a clean stop, load it\n"
            "                           at start (a restarted node that can join by IST)\n"
            "  --stats                  print every provider status variable\n"
            "  --stats-start            ... also before the workload, as start.NAME=VALUE\n"
            "  --stats-reset            ... and after stats_reset() (FLUSH STATUS), as reset.NAME\n"
            "  --apply-delay-ms N       appliers sleep N ms per write-set (a slow node)\n"
            "  --sync-wait              causal sync_wait() before each read\n"
            "  --api-check              exercise options/capabilities/pause/desync/stats once\n"
            "  --sync-timeout SECONDS   wait for synced / catch-up (default 60)\n"
            "  --seed N                 workload RNG seed (default derived from --name)\n"
            "  --members N              wait for N members, start the workload together by a\n"
            "                           TOI barrier, end with another (multi-process runs)\n"
            "  --bf-abort               appliers abort_certification() local transactions\n"
            "                           writing the same row (MariaDB's BF abort), so\n"
            "                           conflicts also go through replay_trx()\n"
            "  --sst-method skip|kv     skip: request \"trivial\" (default, like MariaDB's\n"
            "                           wsrep_sst_method=skip); kv: ship the table over loopback\n"
            "  --sst-request STR        joiner's state-transfer request (default \"trivial\")\n"
            "  --quiet                  only warnings, errors and results\n"
            "  --avail SECONDS          after the start (and --members), write for SECONDS\n"
            "                           through failures: refusals while not primary are\n"
            "                           counted, not errors; TICK lines every 100 ms, the\n"
            "                           longest gap between commits at the end\n");
}

static int parse(int argc, char **argv, struct kv_config *c)
{
    enum { O_PROVIDER = 256, O_OPTIONS, O_ADDR, O_CNAME, O_NAME, O_DDIR, O_NADDR, O_BOOT, O_OPS,
           O_KEYS, O_THREADS, O_VSIZE, O_APPL, O_TOI, O_CSUM, O_HOLD, O_STATS, O_SW, O_QUIET,
           O_API, O_KTYPE, O_STO, O_SEED, O_SST, O_MEMB, O_SSTM, O_BF, O_AVAIL, O_STATS0, O_STATSR, O_ADELAY, O_KEEP, O_HELP };
    static const struct option lo[] = {
        {"provider", 1, 0, O_PROVIDER}, {"options", 1, 0, O_OPTIONS},
        {"cluster-address", 1, 0, O_ADDR}, {"cluster-name", 1, 0, O_CNAME},
        {"name", 1, 0, O_NAME}, {"data-dir", 1, 0, O_DDIR}, {"address", 1, 0, O_NADDR},
        {"bootstrap", 0, 0, O_BOOT}, {"ops", 1, 0, O_OPS}, {"keys", 1, 0, O_KEYS},
        {"threads", 1, 0, O_THREADS}, {"value-size", 1, 0, O_VSIZE},
        {"appliers", 1, 0, O_APPL}, {"toi", 1, 0, O_TOI}, {"checksum", 0, 0, O_CSUM},
        {"hold", 1, 0, O_HOLD}, {"stats", 0, 0, O_STATS}, {"sync-wait", 0, 0, O_SW},
        {"quiet", 0, 0, O_QUIET}, {"api-check", 0, 0, O_API}, {"key-type", 1, 0, O_KTYPE},
        {"sync-timeout", 1, 0, O_STO}, {"seed", 1, 0, O_SEED}, {"sst-request", 1, 0, O_SST},
        {"members", 1, 0, O_MEMB}, {"sst-method", 1, 0, O_SSTM},
        {"bf-abort", 0, 0, O_BF}, {"avail", 1, 0, O_AVAIL},
        {"stats-start", 0, 0, O_STATS0}, {"stats-reset", 0, 0, O_STATSR}, {"apply-delay-ms", 1, 0, O_ADELAY}, {"keep-table", 0, 0, O_KEEP},
        {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    static char ddir[512];
    bool seeded = false;
    *c = (struct kv_config){.options = "", .cluster_address = "gcomm://",
                            .cluster_name = "trireme_kv", .name = "kv1",
                            .address = "127.0.0.1", .ops = 1000, .keys = 1000, .threads = 1,
                            .value_size = 16, .appliers = 1, .key_type = WSREP_KEY_EXCLUSIVE,
                            .sync_timeout = 60, .members = 1};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case O_PROVIDER: c->provider = optarg; break;
        case O_OPTIONS: c->options = optarg; break;
        case O_ADDR: c->cluster_address = optarg; break;
        case O_CNAME: c->cluster_name = optarg; break;
        case O_NAME: c->name = optarg; break;
        case O_DDIR: c->data_dir = optarg; break;
        case O_NADDR: c->address = optarg; break;
        case O_BOOT: c->bootstrap = true; break;
        case O_OPS: c->ops = atol(optarg); break;
        case O_KEYS: c->keys = atol(optarg); break;
        case O_THREADS: c->threads = atoi(optarg); break;
        case O_VSIZE: c->value_size = atoi(optarg); break;
        case O_APPL: c->appliers = atoi(optarg); break;
        case O_TOI: c->toi = atoi(optarg); break;
        case O_CSUM: c->checksum = true; break;
        case O_KEEP: c->keep_table = true; break;
        case O_HOLD: c->hold = atof(optarg); break;
        case O_STATS: c->stats = true; break;
        case O_STATS0: c->stats_start = true; break;
        case O_STATSR: c->stats_reset = true; break;
        case O_ADELAY: c->apply_delay_ms = atoi(optarg); break;
        case O_SW: c->sync_wait = true; break;
        case O_QUIET: c->quiet = true; break;
        case O_API: c->api_check = true; break;
        case O_STO: c->sync_timeout = atoi(optarg); break;
        case O_SSTM:
            c->sst_kv = !strcmp(optarg, "kv");
            if (!c->sst_kv && strcmp(optarg, "skip")) {
                fprintf(stderr, "bad --sst-method %s\n", optarg);
                return -1;
            }
            break;
        case O_BF: c->bf_abort = true; break;
        case O_AVAIL: c->avail = atof(optarg); break;
        case O_MEMB: c->members = atoi(optarg); break;
        case O_SST: c->sst_request = optarg; break;
        case O_SEED: c->seed = strtoull(optarg, NULL, 0); seeded = true; break;
        case O_KTYPE:
            if (!strcmp(optarg, "exclusive")) c->key_type = WSREP_KEY_EXCLUSIVE;
            else if (!strcmp(optarg, "update")) c->key_type = WSREP_KEY_UPDATE;
            else if (!strcmp(optarg, "shared")) c->key_type = WSREP_KEY_SHARED;
            else if (!strcmp(optarg, "reference")) c->key_type = WSREP_KEY_REFERENCE;
            else { fprintf(stderr, "bad --key-type %s\n", optarg); return -1; }
            break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc || !c->provider) {
        usage(stderr);
        return -1;
    }
    if (c->ops < 0 || c->keys < 1 || c->threads < 1 || c->value_size < 1 || c->appliers < 1 ||
        c->toi < 0 || c->hold < 0 || c->sync_timeout < 1 || c->members < 1 ||
        c->apply_delay_ms < 0) {
        fprintf(stderr, "trireme-kv: need ops>=0, keys>=1, threads>=1, value-size>=1, "
                        "appliers>=1, toi>=0, hold>=0, sync-timeout>=1, apply-delay-ms>=0\n");
        return -1;
    }
    if (!c->data_dir) {
        snprintf(ddir, sizeof ddir, "/tmp/trireme-kv-%s", c->name);
        c->data_dir = ddir;
    }
    /* an empty gcomm:// host list means "start a new cluster", as wsrep-lib's is_bootstrap() */
    if (!strcmp(c->cluster_address, "gcomm://"))
        c->bootstrap = true;
    if (!seeded) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const char *p = c->name; *p; p++)
            h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
        c->seed = h;
    }
    return 0;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int main(int argc, char **argv)
{
    static struct kv_node node; /* static: callbacks may still run while main unwinds */
    struct kv_node *n = &node;
    if (parse(argc, argv, &n->cfg) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    kv_log_quiet(n->cfg.quiet);
    pthread_mutex_init(&n->mu, NULL);
    tr_cond_init_mono(&n->cond); /* kv_node waits use monotonic deadlines */
    kv_commit_init(n);
    n->table = kv_table_new((size_t)n->cfg.keys);
    if (!n->table || kv_inflight_init(n, n->cfg.threads) != 0)
        return 2;

    bool completed = false;
    long long prov_cf = -1;
    struct kv_result res = {0};
    char cs_line[160] = "";
    if (kv_node_start(n) != 0)
        goto out;
    if (kv_node_wait_synced(n, 1, n->cfg.sync_timeout) != 0)
        goto out;
    if (n->cfg.members > 1 && kv_node_wait_members(n, n->cfg.members, n->cfg.sync_timeout) != 0)
        goto out;
    if (n->cfg.api_check)
        kv_api_check(n);
    if (n->cfg.stats_start && kv_print_stats(n, "start.") != 0)
        atomic_fetch_add(&n->errors, 1);
    if (n->cfg.avail > 0) { /* no barriers: the cluster may lose its primary component */
        completed = kv_avail_run(n, &res) == 0;
        goto out;
    }
    /* With several nodes, a quarter of the work goes at once, while the others may still be
     * joining (state transfer under load); the rest after a barrier, so that every node's
     * writers run at the same time and conflicts are certain, not a matter of timing. */
    long early = n->cfg.members > 1 ? n->cfg.ops / 4 : n->cfg.ops;
    if (early > 0 && kv_workload_run(n, early, &res) != 0)
        goto out;
    if (n->cfg.members > 1 && kv_start_barrier(n, n->cfg.members) != 0)
        goto out;
    if (n->cfg.ops > early && kv_workload_run(n, n->cfg.ops - early, &res) != 0)
        goto out;
    if (n->cfg.toi > 0)
        kv_toi_run(n, n->cfg.toi);
    if (n->cfg.members > 1 && kv_barrier(n, n->cfg.members) != 0)
        goto out;
    if (n->cfg.hold > 0) {
        kv_say(n, "holding for %.1f s", n->cfg.hold);
        sleep_s(n->cfg.hold);
    }
    if (n->cfg.checksum) {
        wsrep_gtid_t last;
        if (kv_node_catch_up(n, n->cfg.members, &last) == 0) {
            size_t rows;
            uint64_t sum = kv_table_checksum(n->table, &rows);
            snprintf(cs_line, sizeof cs_line, "checksum=%016llx rows=%zu last_committed=%lld",
                     (unsigned long long)sum, rows, (long long)last.seqno);
            printf("%s\n", cs_line);
        }
    }
    if (n->cfg.stats && kv_print_stats(n, "") != 0)
        atomic_fetch_add(&n->errors, 1);
    if (n->cfg.stats_reset) {
        n->w->stats_reset(n->w);
        if (kv_print_stats(n, "reset.") != 0)
            atomic_fetch_add(&n->errors, 1);
    }
    /* the provider's own count, to hold against what the clients saw */
    prov_cf = kv_stat_int(n, "local_cert_failures");
    completed = true;

out:
    kv_result_finish(&res);
    kv_node_stop(n);
    int nviews, nprim = 0, last_size = 0, last_idx = -1, max_size = 0;
    pthread_mutex_lock(&n->mu);
    nviews = n->nviews;
    for (int i = 0; i < nviews && i < KV_MAX_VIEWS; i++) {
        if (n->views[i].status == WSREP_VIEW_PRIMARY) {
            nprim++;
            last_size = n->views[i].memb_num;
            if (last_size > max_size)
                max_size = last_size;
            last_idx = n->views[i].my_idx;
        }
    }
    int synced = n->synced;
    pthread_mutex_unlock(&n->mu);
    long errors = atomic_load(&n->errors);
    long apif = atomic_load(&n->api_failures);
    double ops_s = res.secs > 0 ? (double)res.ops / res.secs : 0.0;
    uint64_t chain;
    wsrep_seqno_t chain_seqno;
    kv_commit_get(n, &chain, &chain_seqno);
    pthread_mutex_lock(&n->commit_mu);
    long commits = n->commits;
    pthread_mutex_unlock(&n->commit_mu);
    printf("ops=%ld secs=%.2f ops_per_s=%.0f p50_ms=%.3f p99_ms=%.3f conflicts=%ld replays=%ld "
           "bf_aborts=%ld bf_declined=%ld errors=%ld applied=%ld applied_toi=%ld "
           "applied_rollback=%ld views=%d primary_views=%d cluster_size=%d max_cluster_size=%d "
           "my_idx=%d synced=%d api_failures=%ld cert_failures=%ld provider_cert_failures=%lld "
           "commits=%ld order_errors=%ld chain=%016llx chain_seqno=%lld completed=%d\n",
           res.ops, res.secs, ops_s, res.p50_ms, res.p99_ms, atomic_load(&n->conflicts),
           atomic_load(&n->replays), atomic_load(&n->bf_aborts), atomic_load(&n->bf_declined),
           errors, atomic_load(&n->applied),
           atomic_load(&n->applied_toi), atomic_load(&n->applied_dummy), nviews, nprim,
           last_size, max_size, last_idx, synced, apif, atomic_load(&n->cert_failures), prov_cf,
           commits, atomic_load(&n->order_errors), (unsigned long long)chain,
           (long long)chain_seqno, (int)completed);
    if (n->wedged) {
        fflush(NULL);
        _exit(1); /* provider threads still run: no free(), no dlclose() */
    }
    kv_table_free(n->table);
    kv_inflight_free(n);
    pthread_cond_destroy(&n->cond);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->commit_mu);
    return completed && errors == 0 && apif == 0 ? 0 : 1;
}
