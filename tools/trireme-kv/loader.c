/* tools/trireme-kv/loader.c: loads and unloads a wsrep provider the way MariaDB's wsrep_load()
 * and wsrep-lib do (dlopen, version checks, member checks, allowlist service, double free). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

typedef int (*allowlist_init_fn)(wsrep_allowlist_service_v1_t *);
typedef void (*allowlist_deinit_fn)(void);

/* MariaDB's callback consults wsrep_allowlist; ours admits every peer. */
static wsrep_status_t allow_all(wsrep_allowlist_context_t *ctx, wsrep_allowlist_key_t key,
                                const wsrep_buf_t *value)
{
    return WSREP_OK;
}

static wsrep_allowlist_service_v1_t allowlist = {allow_all, NULL};

/* The members wsrep_loader.c verify() requires, plus the four wsrep-lib calls unchecked there. */
static int verify(struct kv_node *n, const wsrep_t *w)
{
#define REQ(m)                                                            \
    do {                                                                  \
        if (!w->m) {                                                      \
            kv_err(n, "loader: provider member '%s' is NULL", #m);        \
            bad++;                                                        \
        }                                                                 \
    } while (0)
    int bad = 0;
    if (!w->version || strcmp(w->version, WSREP_INTERFACE_VERSION) != 0) {
        kv_err(n, "loader: wsrep_t.version is '%s', need '%s'", w->version ? w->version : "(null)",
               WSREP_INTERFACE_VERSION);
        return -1;
    }
    REQ(init); REQ(options_set); REQ(options_get); REQ(enc_set_key); REQ(connect);
    REQ(disconnect); REQ(recv); REQ(assign_read_view); REQ(certify); REQ(commit_order_enter);
    REQ(commit_order_leave); REQ(release); REQ(replay_trx); REQ(abort_certification);
    REQ(append_key); REQ(append_data); REQ(free_connection); REQ(to_execute_start);
    REQ(to_execute_end); REQ(preordered_collect); REQ(preordered_commit); REQ(sst_sent);
    REQ(sst_received); REQ(stats_get); REQ(stats_free); REQ(stats_reset); REQ(pause);
    REQ(resume); REQ(desync); REQ(resync); REQ(lock); REQ(unlock); REQ(is_locked);
    REQ(provider_name); REQ(provider_version); REQ(provider_vendor); REQ(free);
    /* not in verify(), but wsrep-lib calls them unconditionally */
    REQ(capabilities); REQ(rollback); REQ(sync_wait); REQ(last_committed_id);
#undef REQ
    return bad ? -1 : 0;
}

/* Like wsrep_loader.c under ASan: keep the library mapped so leak reports can name its frames. */
#if defined(__SANITIZE_ADDRESS__)
#define KV_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KV_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)
#endif
#endif
#ifndef KV_DLOPEN_FLAGS
#define KV_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL)
#endif

int kv_provider_load(struct kv_node *n)
{
    const char *spec = n->cfg.provider;
    void *dlh = dlopen(spec, KV_DLOPEN_FLAGS);
    if (!dlh) {
        kv_err(n, "loader: dlopen(%s): %s", spec, dlerror());
        return -1;
    }
    n->dlh = dlh;

    wsrep_loader_fun loader;
    *(void **)&loader = dlsym(dlh, "wsrep_loader");
    if (!loader) {
        kv_err(n, "loader: %s has no wsrep_loader symbol", spec);
        return -1;
    }
    /* optional data symbol: a char* that must read "26" */
    char **iv = dlsym(dlh, "wsrep_interface_version");
    if (iv) {
        if (!*iv || strcmp(*iv, WSREP_INTERFACE_VERSION) != 0) {
            kv_err(n, "loader: provider interface version mismatch: need '%s', found '%s'",
                   WSREP_INTERFACE_VERSION, *iv ? *iv : "(null)");
            return -1;
        }
    } else {
        kv_say(n, "loader: no wsrep_interface_version symbol (optional)");
    }

    wsrep_t *w = malloc(sizeof *w);
    if (!w)
        return -1;
    memset(w, 0, sizeof *w);
    int rc = loader(w);
    if (rc != 0) {
        kv_err(n, "loader: wsrep_loader() failed: %s", strerror(rc));
        free(w);
        return -1;
    }
    if (verify(n, w) != 0) {
        free(w);
        return -1;
    }
    w->dlh = dlh;
    n->w = w;
    kv_say(n, "loader: %s %s by %s loaded successfully", w->provider_name, w->provider_version,
           w->provider_vendor);

    /* MariaDB 10.11 passes exactly this one service; wsrep-lib fails the load without it. */
    allowlist_init_fn ainit;
    allowlist_deinit_fn adeinit;
    *(void **)&ainit = dlsym(dlh, "wsrep_init_allowlist_service_v1");
    *(void **)&adeinit = dlsym(dlh, "wsrep_deinit_allowlist_service_v1");
    if (!ainit || !adeinit) {
        kv_err(n, "loader: provider lacks wsrep_{init,deinit}_allowlist_service_v1 "
                  "(MariaDB 10.11 refuses such a provider)");
        return -1;
    }
    rc = ainit(&allowlist);
    if (rc != 0) {
        kv_err(n, "loader: wsrep_init_allowlist_service_v1() returned %d", rc);
        return -1;
    }
    n->allowlist_inited = true;
    return 0;
}

/* wsrep-lib order: free(), deinit services, then wsrep_unload() frees again and dlcloses. */
void kv_provider_unload(struct kv_node *n)
{
    if (n->w)
        n->w->free(n->w);
    if (n->allowlist_inited) {
        allowlist_deinit_fn adeinit;
        *(void **)&adeinit = dlsym(n->dlh, "wsrep_deinit_allowlist_service_v1");
        if (adeinit)
            adeinit();
        n->allowlist_inited = false;
    }
    if (n->w) {
        n->w->free(n->w); /* second call: the provider must tolerate it */
        free(n->w);
        n->w = NULL;
    }
    if (n->dlh) {
        if (dlclose(n->dlh) != 0)
            kv_err(n, "loader: dlclose: %s", dlerror());
        n->dlh = NULL;
    }
}
