/* tests/unit/check_provider: drives build/lib/libtrireme.so through the wsrep ABI as a host does.
 * Loader contract, callbacks on applier threads, commit path, TOI, BF abort and replay, restart. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "wsrep/wsrep_api.h"

#define GALERA_PATH "/usr/lib/galera/libgalera_smm.so"

static const char *provider_path(void)
{
    const char *p = getenv("TRIREME_PROVIDER");
    return p ? p : "build/lib/libtrireme.so";
}

struct host {
    void *dlh;
    wsrep_t *w;
    char dir[256];
    pthread_t appliers[2];
    int recv_ctx[2];
    atomic_int connected_calls, view_calls, synced_calls, apply_calls, bad_ctx;
    atomic_int last_view_members, last_view_idx, last_view_status;
    atomic_llong last_view_seqno;
    bool commit_in_apply; /* apply_cb drives commit order like wsrep-lib's high-priority path */
};

static struct host *H; /* the callbacks' app_ctx is H; apply_cb has no app_ctx */

static wsrep_cb_status_t connected_cb(void *app, const wsrep_view_info_t *v)
{
    struct host *h = app;
    ck_assert_int_eq(atomic_load(&h->view_calls), 0); /* connected comes before the first view */
    ck_assert_int_ge(v->my_idx, 0);
    atomic_fetch_add(&h->connected_calls, 1);
    return WSREP_CB_SUCCESS;
}

static wsrep_cb_status_t view_cb(void *app, void *recv_ctx, const wsrep_view_info_t *v,
                                 const char *state, size_t len)
{
    (void)state, (void)len;
    struct host *h = app;
    if (recv_ctx != &h->recv_ctx[0] && recv_ctx != &h->recv_ctx[1]) atomic_fetch_add(&h->bad_ctx, 1);
    atomic_store(&h->last_view_members, v->memb_num);
    atomic_store(&h->last_view_idx, v->my_idx);
    atomic_store(&h->last_view_status, v->status);
    atomic_store(&h->last_view_seqno, v->state_id.seqno);
    atomic_fetch_add(&h->view_calls, 1);
    return WSREP_CB_SUCCESS;
}

static wsrep_cb_status_t apply_cb(void *recv_ctx, const wsrep_ws_handle_t *ws, uint32_t flags,
                                  const wsrep_buf_t *data, const wsrep_trx_meta_t *meta,
                                  wsrep_bool_t *exit_loop)
{
    (void)recv_ctx, (void)flags, (void)data;
    struct host *h = H;
    *exit_loop = false;
    if (h->commit_in_apply) {
        if (h->w->commit_order_enter(h->w, ws, meta) != WSREP_OK) return WSREP_CB_FAILURE;
        if (h->w->commit_order_leave(h->w, ws, meta, NULL) != WSREP_OK) return WSREP_CB_FAILURE;
    }
    atomic_fetch_add(&h->apply_calls, 1);
    return WSREP_CB_SUCCESS;
}

static wsrep_cb_status_t synced_cb(void *app)
{
    atomic_fetch_add(&((struct host *)app)->synced_calls, 1);
    return WSREP_CB_SUCCESS;
}

static void quiet_logger(wsrep_log_level_t l, const char *m)
{
    if (getenv("CHECK_PROVIDER_VERBOSE") || l <= WSREP_LOG_ERROR) fprintf(stderr, "[%d] %s\n", l, m);
}

static void *applier(void *arg)
{
    struct host *h = H;
    h->w->recv(h->w, arg);
    return NULL;
}

static void wait_for(atomic_int *v, int at_least)
{
    for (int i = 0; i < 500 && atomic_load(v) < at_least; i++) usleep(10000);
    ck_assert_int_ge(atomic_load(v), at_least);
}

static wsrep_t *load(struct host *h)
{
    h->dlh = dlopen(provider_path(), RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h->dlh != NULL, "dlopen %s: %s", provider_path(), dlerror());
    char **iv = dlsym(h->dlh, "wsrep_interface_version");
    ck_assert_ptr_nonnull(iv);
    ck_assert_str_eq(*iv, "26");
    wsrep_loader_fun loader = (wsrep_loader_fun)dlsym(h->dlh, "wsrep_loader");
    ck_assert_ptr_nonnull(loader);
    int (*init_al)(wsrep_allowlist_service_v1_t *) =
        (int (*)(wsrep_allowlist_service_v1_t *))dlsym(h->dlh, "wsrep_init_allowlist_service_v1");
    ck_assert_ptr_nonnull(init_al);
    ck_assert_ptr_nonnull(dlsym(h->dlh, "wsrep_deinit_allowlist_service_v1"));
    ck_assert_ptr_null(dlsym(h->dlh, "repl_node_new")); /* internals stay hidden */
    wsrep_allowlist_service_v1_t al = {NULL, NULL};
    ck_assert_int_eq(init_al(&al), 0);
    h->w = calloc(1, sizeof *h->w);
    ck_assert_int_eq(loader(h->w), 0);
    ck_assert_str_eq(h->w->version, "26");
    /* every function slot from init to is_locked, and free, is filled */
    void **slots = (void **)h->w;
    for (int i = 1; i <= 38; i++) ck_assert_msg(slots[i] != NULL, "slot %d empty", i);
    ck_assert_ptr_nonnull(h->w->free);
    ck_assert_str_eq(h->w->provider_name, "trireme");
    /* Galera's shape, "<version>(r<commit>)" (e.g. 26.4.23(r1a2b3c4)), for tools that parse it */
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[0-9]+\\.[0-9]+\\.[0-9]+\\(r([0-9a-f]+|XXXX)\\)$", REG_EXTENDED), 0);
    ck_assert_msg(regexec(&re, h->w->provider_version, 0, NULL, 0) == 0, "provider_version '%s'",
                  h->w->provider_version);
    regfree(&re);
    return h->w;
}

static void unload(struct host *h)
{
    h->w->free(h->w);
    h->w->free(h->w); /* wsrep-lib frees twice */
    void (*deinit)(void) = (void (*)(void))dlsym(h->dlh, "wsrep_deinit_allowlist_service_v1");
    deinit();
    free(h->w);
    dlclose(h->dlh);
}

static wsrep_status_t init(struct host *h, const char *options)
{
    struct wsrep_init_args a = {
        .app_ctx = h,
        .node_name = "n1",
        .node_address = "127.0.0.1",
        .node_incoming = "127.0.0.1:3306",
        .data_dir = h->dir,
        .options = options,
        .proto_ver = 4,
        .logger_cb = quiet_logger,
        .connected_cb = connected_cb,
        .view_cb = view_cb,
        .apply_cb = apply_cb,
        .synced_cb = synced_cb,
    };
    return h->w->init(h->w, &a);
}

static struct host *host_new(void)
{
    struct host *h = calloc(1, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "/tmp/check_provider.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(h->dir));
    H = h;
    return h;
}

static void host_rmdir(struct host *h)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* below the kernel's ephemeral range (32768-60999): a port there can be the local end of
 * another loopback connection, and the bind fails */
static int own_port(void) { return 11000 + (int)(getpid() % 20000); }

/* url: the cluster address (options after '?' apply to group communication) */
static void connect_url(struct host *h, const char *url)
{
    ck_assert_int_eq(h->w->connect(h->w, "test", url, "", false), WSREP_OK);
    for (int i = 0; i < 2; i++) pthread_create(&h->appliers[i], NULL, applier, &h->recv_ctx[i]);
    wait_for(&h->synced_calls, 1);
}

static void start(struct host *h)
{
    /* loopback only, a port of this test process's own (Check forks one process per test) */
    char opts[160];
    snprintf(opts, sizeof opts, "gmcast.listen_addr=tcp://127.0.0.1:%d; repl.causal_read_timeout=PT5S", own_port());
    ck_assert_int_eq(init(h, opts), WSREP_OK);
    connect_url(h, "gcomm://");
}

static void stop(struct host *h)
{
    int views = atomic_load(&h->view_calls);
    ck_assert_int_eq(h->w->disconnect(h->w), WSREP_OK);
    for (int i = 0; i < 2; i++) pthread_join(h->appliers[i], NULL);
    ck_assert_int_eq(atomic_load(&h->view_calls), views + 1); /* the final view */
    ck_assert_int_eq(atomic_load(&h->last_view_members), 0);
    ck_assert_int_eq(atomic_load(&h->last_view_idx), -1);
    ck_assert_int_eq(atomic_load(&h->bad_ctx), 0);
}

static const char *stat_str(wsrep_t *w, const char *name, char *buf, size_t len)
{
    struct wsrep_stats_var *v = w->stats_get(w);
    buf[0] = 0;
    for (struct wsrep_stats_var *s = v; s && s->name; s++) {
        if (strcmp(s->name, name) != 0) continue;
        if (s->type == WSREP_VAR_STRING) snprintf(buf, len, "%s", s->value._string);
        if (s->type == WSREP_VAR_INT64) snprintf(buf, len, "%lld", (long long)s->value._int64);
        if (s->type == WSREP_VAR_DOUBLE) snprintf(buf, len, "%g", s->value._double);
    }
    w->stats_free(w, v);
    return buf;
}

static wsrep_seqno_t last_committed(wsrep_t *w)
{
    wsrep_gtid_t g;
    ck_assert_int_eq(w->last_committed_id(w, &g), WSREP_OK);
    return g.seqno;
}

static void add_row(wsrep_t *w, wsrep_ws_handle_t *ws, const char *key)
{
    wsrep_buf_t parts[3] = {{"db", 2}, {"t", 1}, {key, strlen(key)}};
    wsrep_key_t k = {parts, 3};
    ck_assert_int_eq(w->append_key(w, ws, &k, 1, WSREP_KEY_EXCLUSIVE, true), WSREP_OK);
    wsrep_buf_t d = {"row-event", 9};
    ck_assert_int_eq(w->append_data(w, ws, &d, 1, WSREP_DATA_ORDERED, true), WSREP_OK);
}

/* The whole local commit path, as wsrep-lib runs it. Returns the seqno. */
static wsrep_seqno_t commit_one(wsrep_t *w, uint64_t trx)
{
    wsrep_ws_handle_t ws = {trx, NULL};
    wsrep_trx_meta_t meta;
    add_row(w, &ws, "k");
    ck_assert_int_eq(w->certify(w, 1, &ws, WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &meta),
                     WSREP_OK);
    ck_assert_int_gt(meta.gtid.seqno, 0);
    ck_assert_int_lt(meta.depends_on, meta.gtid.seqno);
    ck_assert_int_eq(w->commit_order_enter(w, &ws, &meta), WSREP_OK);
    ck_assert_int_eq(w->commit_order_leave(w, &ws, &meta, NULL), WSREP_OK);
    ck_assert_int_eq(w->release(w, &ws), WSREP_OK);
    return meta.gtid.seqno;
}

START_TEST(bad_options_fail_init)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    ck_assert_int_eq(init(h, "a=1"), WSREP_NODE_FAIL);
    ck_assert_int_eq(init(h, "evs.suspect_timeout=PTx"), WSREP_NODE_FAIL);
    ck_assert_int_eq(init(h, "gmcasts.segment=1"), WSREP_NODE_FAIL);
    ck_assert_ptr_null(w->ctx);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* TLS fails closed: options that cannot work (a certificate without its key, files that cannot be
 * loaded) fail the connect at start-up, naming them, before anything listens. */
START_TEST(tls_fails_closed)
{
    static const char *const bad[] = {"socket.ssl_key=/nonexistent/k.pem; socket.ssl_cert=/nonexistent/c.pem",
                                      "socket.ssl_cert=/nonexistent/c.pem", "socket.ssl=yes"};
    struct host *h = host_new();
    wsrep_t *w = load(h);
    char opts[256];
    snprintf(opts, sizeof opts, "gmcast.listen_addr=tcp://127.0.0.1:%d; %s", own_port(), bad[_i]);
    ck_assert_int_eq(init(h, opts), WSREP_OK);
    ck_assert_int_eq(w->connect(w, "test", "gcomm://", "", false), WSREP_NODE_FAIL);
    ck_assert(!port_open(own_port()));
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

/* Options in the cluster address apply to group communication; one that is not a group option,
 * or malformed, or out of range, fails the connect. */
START_TEST(address_options)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    char opts[160];
    snprintf(opts, sizeof opts, "gmcast.listen_addr=tcp://127.0.0.1:%d", own_port());
    ck_assert_int_eq(init(h, opts), WSREP_OK);
    ck_assert_int_ne(w->connect(w, "test", "gcomm://?gcache.size=1M", "", false), WSREP_OK);
    ck_assert_int_ne(w->connect(w, "test", "gcomm://?pc.weight", "", false), WSREP_OK);
    ck_assert_int_ne(w->connect(w, "test", "gcomm://?pc.weight=300", "", false), WSREP_OK);
    char url[128];
    snprintf(url, sizeof url, "gcomm://?gmcast.listen_addr=tcp://127.0.0.1:%d&pc.wait_prim=no", own_port() + 1);
    connect_url(h, url);
    ck_assert(port_open(own_port() + 1)); /* the address's listen_addr, not the provider option's */
    ck_assert(!port_open(own_port()));
    stop(h);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

/* An unparsable wsrep_node_address costs only the base_host default, as in Galera
 * (MariaDB's wsrep.wsrep_off passes '127.0.0.1:@OPT.port'). */
START_TEST(odd_node_address_is_not_fatal)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    struct wsrep_init_args a = {.app_ctx = h, .node_name = "n1",
                                .node_address = "127.0.0.1:@OPT.port", .data_dir = h->dir,
                                .options = "", .logger_cb = quiet_logger};
    ck_assert_int_eq(w->init(w, &a), WSREP_OK);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

/* MariaDB passes wsrep_node_address=::1 as it is: a bare IPv6 literal is the host, so a node
 * listening on the wildcard [::] can still tell which address to advertise (MariaDB's
 * galera_3nodes.galera_ipv6_* set exactly this). */
START_TEST(bare_ipv6_node_address)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    struct wsrep_init_args a = {.app_ctx = h, .node_name = "n1", .node_address = "::1",
                                .data_dir = h->dir, .options = "", .logger_cb = quiet_logger};
    ck_assert_int_eq(w->init(w, &a), WSREP_OK);
    char *o = w->options_get(w);
    ck_assert_ptr_nonnull(o);
    ck_assert_msg(strstr(o, "base_host = [::1];"), "%s", o);
    free(o);
    unload(h);
    host_rmdir(h);
    free(h);
    /* ... and in brackets, as galera_3nodes.GAL-501 writes it, with or without a port */
    static const char *const forms[] = {"[::1]", "[::1]:4567"};
    for (int i = 0; i < 2; i++) {
        h = host_new();
        w = load(h);
        a.app_ctx = h;
        a.data_dir = h->dir;
        a.node_address = forms[i];
        ck_assert_int_eq(w->init(w, &a), WSREP_OK);
        o = w->options_get(w);
        ck_assert_ptr_nonnull(o);
        ck_assert_msg(strstr(o, "base_host = [::1];"), "%s: %s", forms[i], o);
        free(o);
        unload(h);
        host_rmdir(h);
        free(h);
    }
}
END_TEST

START_TEST(one_node_lifecycle)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    start(h);
    char buf[128];
    ck_assert_int_eq(atomic_load(&h->connected_calls), 1);
    ck_assert_int_eq(atomic_load(&h->last_view_status), WSREP_VIEW_PRIMARY);
    ck_assert_int_eq(atomic_load(&h->last_view_members), 1);
    ck_assert_str_eq(stat_str(w, "local_state_comment", buf, sizeof buf), "Synced");
    wsrep_seqno_t v = atomic_load(&h->last_view_seqno);
    ck_assert_int_eq(last_committed(w), v); /* the view took a seqno of its own */

    /* each commit takes exactly the next seqno */
    for (int i = 0; i < 5; i++) ck_assert_int_eq(commit_one(w, 100 + i), v + 1 + i);
    ck_assert_int_eq(last_committed(w), v + 5);
    ck_assert_str_eq(stat_str(w, "local_commits", buf, sizeof buf), "5");
    ck_assert_str_eq(stat_str(w, "replicated", buf, sizeof buf), "5");

    /* TOI takes a seqno, runs isolated, and lets the order go on after to_execute_end */
    wsrep_buf_t part = {"db", 2};
    wsrep_key_t k = {&part, 1};
    wsrep_buf_t q = {"ALTER TABLE t", 13};
    wsrep_trx_meta_t meta;
    ck_assert_int_eq(w->to_execute_start(w, 7, &k, 1, &q, 1,
                                         WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &meta),
                     WSREP_OK);
    ck_assert_int_eq(meta.gtid.seqno, v + 6);
    ck_assert_int_eq(w->to_execute_end(w, 7, NULL), WSREP_OK);
    ck_assert_int_eq(last_committed(w), v + 6);

    /* causal read */
    wsrep_gtid_t g;
    ck_assert_int_eq(w->sync_wait(w, NULL, -1, &g), WSREP_OK);
    ck_assert_int_eq(g.seqno, v + 6);

    /* pause returns the paused position; desync/resync report and resync reports synced */
    ck_assert_int_eq(w->pause(w), v + 6);
    ck_assert_int_eq(last_committed(w), v + 6);
    ck_assert_int_eq(w->resume(w), WSREP_OK);
    ck_assert_int_eq(w->desync(w), WSREP_OK);
    ck_assert_str_eq(stat_str(w, "local_state_comment", buf, sizeof buf), "Donor/Desynced");
    ck_assert_int_eq(commit_one(w, 150), v + 7); /* a desynced node still takes writes */
    ck_assert_int_eq(w->resync(w), WSREP_OK);
    wait_for(&h->synced_calls, 2);
    ck_assert_str_eq(stat_str(w, "local_state_comment", buf, sizeof buf), "Synced");

    /* options: read back, dynamic set, static at run time refused, unknown refused */
    char *opts = w->options_get(w);
    ck_assert_ptr_nonnull(strstr(opts, "repl.causal_read_timeout = PT5S"));
    free(opts);
    ck_assert_int_eq(w->options_set(w, "pc.weight=2"), WSREP_OK);
    ck_assert_int_ne(w->options_set(w, "gcache.size=1G"), WSREP_OK);
    ck_assert_int_eq(w->options_set(w, "a=1"), WSREP_NODE_FAIL); /* as Galera: "returned 7" */

    /* repl.max_ws_size: a larger transaction fails with SIZE_EXCEEDED, the node goes on */
    ck_assert_int_eq(w->options_set(w, "repl.max_ws_size=1024"), WSREP_OK);
    {
        static char big[2048];
        wsrep_ws_handle_t ws = {300, NULL};
        wsrep_buf_t parts[1] = {{"k", 1}};
        wsrep_key_t key = {parts, 1};
        ck_assert_int_eq(w->append_key(w, &ws, &key, 1, WSREP_KEY_EXCLUSIVE, true), WSREP_OK);
        wsrep_buf_t d = {big, sizeof big};
        ck_assert_int_eq(w->append_data(w, &ws, &d, 1, WSREP_DATA_ORDERED, true),
                         WSREP_SIZE_EXCEEDED);
        ck_assert_int_eq(w->release(w, &ws), WSREP_OK);
    }
    ck_assert_int_eq(w->options_set(w, "repl.max_ws_size=2147483647"), WSREP_OK);
    /* pc.weight=2 returned once the primary view carried it (as Galera's does): that view took
     * a seqno of its own */
    ck_assert_int_eq(commit_one(w, 301), v + 9);

    /* named locks */
    ck_assert_int_eq(w->lock(w, "L", false, 1, 0), WSREP_OK);
    ck_assert_int_eq((int)w->lock(w, "L", false, 2, 0), -16 /* -EBUSY */);
    uint64_t owner = 0;
    ck_assert(w->is_locked(w, "L", &owner, NULL));
    ck_assert_int_eq(owner, 1);
    ck_assert_int_eq((int)w->unlock(w, "L", 2), -1 /* -EPERM */);
    ck_assert_int_eq(w->unlock(w, "L", 1), WSREP_OK);

    stop(h);
    /* clean shutdown records the position and that this node may bootstrap */
    char path[300], text[512] = "";
    snprintf(path, sizeof path, "%s/grastate.dat", h->dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char want[64];
    snprintf(want, sizeof want, "seqno:   %lld", (long long)(v + 9));
    ck_assert_msg(strstr(text, want), "grastate: %s", text);
    ck_assert_ptr_nonnull(strstr(text, "safe_to_bootstrap: 1"));
    unload(h);

    /* restart continues the same history: the new view is the next seqno */
    struct host *h2 = calloc(1, sizeof *h2);
    memcpy(h2->dir, h->dir, sizeof h->dir);
    free(h);
    H = h = h2;
    w = load(h);
    start(h);
    ck_assert_int_eq(atomic_load(&h->last_view_seqno), v + 10);
    ck_assert_int_eq(commit_one(w, 200), v + 11);
    stop(h);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

struct victim {
    wsrep_t *w;
    wsrep_ws_handle_t ws;
    wsrep_trx_meta_t meta;
    wsrep_status_t rc;
};

static void *victim_certify(void *arg)
{
    struct victim *v = arg;
    v->rc = v->w->certify(v->w, 2, &v->ws, WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &v->meta);
    return NULL;
}

START_TEST(bf_abort_and_replay)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    start(h);
    h->commit_in_apply = true;
    char buf[64];

    /* an executing victim: its certify fails without being ordered */
    wsrep_ws_handle_t e = {500, NULL};
    add_row(w, &e, "a");
    wsrep_seqno_t vs = 0;
    ck_assert_int_eq(w->abort_certification(w, 1, 500, &vs), WSREP_OK);
    ck_assert_int_eq(vs, WSREP_SEQNO_UNDEFINED);
    wsrep_trx_meta_t m;
    ck_assert_int_eq(w->certify(w, 3, &e, WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &m),
                     WSREP_TRX_FAIL);
    ck_assert_int_eq(m.gtid.seqno, WSREP_SEQNO_UNDEFINED);
    ck_assert_int_eq(w->release(w, &e), WSREP_OK);

    /* TOI holds the order; a later transaction waits behind it and is BF-aborted by it (the
     * TOI is on another schema: one on "db" would fail the row write's certification through
     * its "db" prefix key, as Galera's branch keys do) */
    wsrep_buf_t part = {"db2", 3};
    wsrep_key_t k = {&part, 1};
    wsrep_buf_t q = {"DDL", 3};
    wsrep_trx_meta_t toi;
    ck_assert_int_eq(w->to_execute_start(w, 9, &k, 1, &q, 1,
                                         WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &toi),
                     WSREP_OK);
    struct victim v = {.w = w, .ws = {600, NULL}};
    add_row(w, &v.ws, "b");
    pthread_t t;
    pthread_create(&t, NULL, victim_certify, &v);
    /* wait until it is broadcast and taken from the stream, i.e. ordered behind the TOI */
    for (int i = 0; i < 500 && strcmp(stat_str(w, "replicated", buf, sizeof buf), "2"); i++)
        usleep(10000);
    ck_assert_str_eq(buf, "2");
    for (int i = 0; i < 500 && strcmp(stat_str(w, "local_recv_queue", buf, sizeof buf), "0"); i++)
        usleep(10000);
    usleep(100000);
    /* an aborter ordered after the victim may not abort it ... */
    ck_assert_int_eq(w->abort_certification(w, toi.gtid.seqno + 2, 600, &vs), WSREP_NOT_ALLOWED);
    ck_assert_int_eq(vs, toi.gtid.seqno + 1);
    /* ... the TOI, ordered first, may */
    ck_assert_int_eq(w->abort_certification(w, toi.gtid.seqno, 600, &vs), WSREP_OK);
    pthread_join(t, NULL);
    ck_assert_int_eq(v.rc, WSREP_BF_ABORT);
    ck_assert_int_eq(v.meta.gtid.seqno, toi.gtid.seqno + 1);
    ck_assert_int_eq(w->to_execute_end(w, 9, NULL), WSREP_OK);

    /* replay re-applies the write-set in order through apply_cb with the trx context */
    int applied = atomic_load(&h->apply_calls);
    ck_assert_int_eq(w->replay_trx(w, &v.ws, &h->recv_ctx[0]), WSREP_OK);
    ck_assert_int_eq(atomic_load(&h->apply_calls), applied + 1);
    ck_assert_int_eq(w->release(w, &v.ws), WSREP_OK);
    ck_assert_int_eq(last_committed(w), toi.gtid.seqno + 1);
    ck_assert_str_eq(stat_str(w, "local_replays", buf, sizeof buf), "1");

    stop(h);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

static void *certify_one(void *arg)
{
    struct victim *v = arg;
    add_row(v->w, &v->ws, "p");
    v->rc = v->w->certify(v->w, 4, &v->ws, WSREP_FLAG_TRX_START | WSREP_FLAG_TRX_END, &v->meta);
    if (v->meta.gtid.seqno >= 0) { /* ordered: pass commit order as the host must */
        v->w->commit_order_enter(v->w, &v->ws, &v->meta);
        v->w->commit_order_leave(v->w, &v->ws, &v->meta, NULL);
    }
    v->w->release(v->w, &v->ws);
    return NULL;
}

/* A commit waiting behind pause() must not hang a disconnect: the stream drains to the end. */
START_TEST(disconnect_while_paused)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    start(h);
    wsrep_seqno_t paused = w->pause(w);
    struct victim v = {.w = w, .ws = {700, NULL}};
    pthread_t t;
    pthread_create(&t, NULL, certify_one, &v);
    usleep(200000);
    ck_assert_int_eq(last_committed(w), paused); /* held by the pause */
    stop(h);
    pthread_join(t, NULL);
    ck_assert(v.rc == WSREP_OK || v.rc == WSREP_CONN_FAIL);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(saved_state_guards_startup)
{
    struct host *h = host_new();
    wsrep_t *w = load(h);
    write_file(h->dir, "grastate.dat", "# GALERA saved state\nversion: 2.1\nuuid: zzz\n");
    ck_assert_int_eq(init(h, ""), WSREP_NODE_FAIL); /* corrupt: refuse, never crash */
    write_file(h->dir, "grastate.dat",
               "# GALERA saved state\nversion: 2.1\n"
               "uuid:    6b3e1d2c-0d3f-11ef-8a5e-0242ac120002\nseqno:   -1\n"
               "safe_to_bootstrap: 0\n");
    ck_assert_int_eq(init(h, ""), WSREP_OK);
    ck_assert_int_eq(w->connect(w, "test", "gcomm://", "", true), WSREP_NODE_FAIL);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

/* The host's allowlist service, as MariaDB installs it: asked about each incoming group link
 * with the peer's address as a C string (MariaDB reads value->ptr as one). */
static atomic_int al_asked, al_bad;
static wsrep_status_t refuse_127_0_0_2(wsrep_allowlist_context_t *ctx, wsrep_allowlist_key_t key,
                                       const wsrep_buf_t *v)
{
    const char *addr = v->ptr;
    if (ctx != (void *)&al_asked || key != WSREP_ALLOWLIST_KEY_IP || addr[v->len] != 0)
        atomic_fetch_add(&al_bad, 1);
    atomic_fetch_add(&al_asked, 1);
    return strcmp(addr, "127.0.0.2") ? WSREP_OK : WSREP_NOT_ALLOWED;
}

START_TEST(allowlist_service_refuses)
{
    struct host *h = host_new();
    load(h);
    int (*init_al)(wsrep_allowlist_service_v1_t *) =
        (int (*)(wsrep_allowlist_service_v1_t *))dlsym(h->dlh, "wsrep_init_allowlist_service_v1");
    wsrep_allowlist_service_v1_t al = {refuse_127_0_0_2, (wsrep_allowlist_context_t *)&al_asked};
    ck_assert_int_eq(init_al(&al), 0);
    start(h);
    /* from 127.0.0.2 (all of 127.0.0.0/8 is local on Linux): closed before it says anything */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)own_port());
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
    struct timeval tv = {1, 0}; /* gmcast.peer_timeout (3 s) would close it only later */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[8];
    ssize_t r = recv(fd, b, sizeof b, 0);
    int e = errno;
    close(fd);
    ck_assert_msg(r == 0 || (r < 0 && e == ECONNRESET), "recv %zd (%s): not refused at once", r, strerror(e));
    ck_assert_int_eq(atomic_load(&al_asked), 1);
    ck_assert_int_eq(atomic_load(&al_bad), 0);
    stop(h);
    unload(h);
    host_rmdir(h);
    free(h);
}
END_TEST

/* Galera's loader writes into our wsrep_t: if our layout were off by one slot, its strings and
 * function pointers would land in the wrong members. */
START_TEST(galera_fills_our_layout)
{
    void *dlh = dlopen(GALERA_PATH, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(dlh != NULL, "%s", dlerror());
    char **iv = dlsym(dlh, "wsrep_interface_version");
    ck_assert_str_eq(*iv, WSREP_INTERFACE_VERSION);
    wsrep_loader_fun loader = (wsrep_loader_fun)dlsym(dlh, "wsrep_loader");
    wsrep_t *w = calloc(1, sizeof *w + 64);
    memset(w, 0xa5, sizeof *w + 64);
    ck_assert_int_eq(loader(w), 0);
    ck_assert_str_eq(w->version, "26");
    ck_assert_str_eq(w->provider_name, "Galera");
    ck_assert_ptr_nonnull(strstr(w->provider_vendor, "Codership"));
    ck_assert_ptr_nonnull(w->provider_version);
    void **slots = (void **)w;
    for (int i = 1; i <= 38; i++) ck_assert_msg(slots[i] != NULL, "galera slot %d empty", i);
    /* nothing written past the 360 bytes our header says wsrep_t has */
    unsigned char *tail = (unsigned char *)(w + 1);
    for (int i = 0; i < 64; i++) ck_assert_int_eq(tail[i], 0xa5);
    ck_assert_ptr_null(w->ctx); /* Galera's template leaves ctx for init */
    free(w);
    dlclose(dlh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("provider");
    TCase *tc = tcase_create("abi");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_options_fail_init);
    tcase_add_test(tc, odd_node_address_is_not_fatal);
    tcase_add_test(tc, bare_ipv6_node_address);
    tcase_add_loop_test(tc, tls_fails_closed, 0, 3);
    tcase_add_test(tc, address_options);
    tcase_add_test(tc, one_node_lifecycle);
    tcase_add_test(tc, bf_abort_and_replay);
    tcase_add_test(tc, saved_state_guards_startup);
    tcase_add_test(tc, disconnect_while_paused);
    tcase_add_test(tc, allowlist_service_refuses);
    if (access(GALERA_PATH, R_OK) == 0)
        tcase_add_test(tc, galera_fills_our_layout);
    else
        fprintf(stderr, "galera_fills_our_layout: %s not installed, not run\n", GALERA_PATH);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
