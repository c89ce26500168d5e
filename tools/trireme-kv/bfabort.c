/* tools/trireme-kv/bfabort.c: brute-force aborts as MariaDB's InnoDB lock conflicts cause them:
 * local transactions publish the row they hold, appliers abort_certification() the holder. */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv_inflight {
    pthread_mutex_t mu;
    bool active;
    bool aborted; /* abort_certification() succeeded against this trx */
    wsrep_trx_id_t trx;
    size_t klen;
    char key[64];
};

int kv_inflight_init(struct kv_node *n, int slots)
{
    n->inflight = calloc((size_t)slots, sizeof *n->inflight);
    if (!n->inflight)
        return -1;
    for (int i = 0; i < slots; i++)
        pthread_mutex_init(&n->inflight[i].mu, NULL);
    n->ninflight = slots;
    return 0;
}

void kv_inflight_free(struct kv_node *n)
{
    for (int i = 0; i < n->ninflight; i++)
        pthread_mutex_destroy(&n->inflight[i].mu);
    free(n->inflight);
    n->inflight = NULL;
    n->ninflight = 0;
}

void kv_inflight_set(struct kv_node *n, int slot, const char *key, size_t klen,
                     wsrep_trx_id_t trx)
{
    if (slot >= n->ninflight || klen > sizeof n->inflight[0].key)
        return;
    struct kv_inflight *f = &n->inflight[slot];
    pthread_mutex_lock(&f->mu);
    memcpy(f->key, key, klen);
    f->klen = klen;
    f->trx = trx;
    f->active = true;
    f->aborted = false;
    pthread_mutex_unlock(&f->mu);
}

bool kv_inflight_aborted(struct kv_node *n, int slot)
{
    if (slot >= n->ninflight)
        return false;
    pthread_mutex_lock(&n->inflight[slot].mu);
    bool a = n->inflight[slot].aborted;
    pthread_mutex_unlock(&n->inflight[slot].mu);
    return a;
}

void kv_inflight_clear(struct kv_node *n, int slot)
{
    if (slot >= n->ninflight)
        return;
    pthread_mutex_lock(&n->inflight[slot].mu);
    n->inflight[slot].active = false;
    pthread_mutex_unlock(&n->inflight[slot].mu);
}

struct bf_arg {
    struct kv_node *n;
    wsrep_seqno_t bf_seqno;
};

static void bf_one(void *arg, const struct kv_op *op)
{
    struct bf_arg *a = arg;
    struct kv_node *n = a->n;
    for (int i = 0; i < n->ninflight; i++) {
        struct kv_inflight *f = &n->inflight[i];
        /* Held across abort_certification(), like wsrep-lib holds the victim's client lock:
         * the victim clears its slot before release()/replay_trx(), so it cannot vanish
         * inside the provider while we abort it. The victim never waits for this lock while
         * inside a provider call. */
        pthread_mutex_lock(&f->mu);
        if (!(f->active && f->klen == op->klen && memcmp(f->key, op->key, op->klen) == 0)) {
            pthread_mutex_unlock(&f->mu);
            continue;
        }
        wsrep_trx_id_t victim = f->trx;
        wsrep_seqno_t victim_seqno = WSREP_SEQNO_UNDEFINED;
        wsrep_status_t rc = n->w->abort_certification(n->w, a->bf_seqno, victim, &victim_seqno);
        if (rc == WSREP_OK)
            f->aborted = true;
        pthread_mutex_unlock(&f->mu);
        switch (rc) {
        case WSREP_OK:
            atomic_fetch_add(&n->bf_aborts, 1);
            break;
        case WSREP_NOT_ALLOWED: /* victim ordered before us: it commits first */
        case WSREP_TRX_MISSING: /* already gone */
            atomic_fetch_add(&n->bf_declined, 1);
            break;
        default:
            kv_err(n, "abort_certification(bf_seqno %lld, victim trx %llu) -> %s, victim_seqno "
                      "%lld",
                   (long long)a->bf_seqno, (unsigned long long)victim, kv_status_str(rc),
                   (long long)victim_seqno);
            atomic_fetch_add(&n->errors, 1);
        }
    }
}

void kv_bf_check(struct kv_node *n, const wsrep_buf_t *data, wsrep_seqno_t bf_seqno)
{
    if (!n->cfg.bf_abort || !data || n->ninflight == 0)
        return;
    struct bf_arg a = {n, bf_seqno};
    kv_codec_decode(data->ptr, data->len, bf_one, &a);
}
