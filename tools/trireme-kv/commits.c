/* tools/trireme-kv/commits.c: the commit chain: a rolling hash of (seqno, write-set) over every
 * commit in commit order, so that runs compare the order of commits, not only the end state. */
#include <stdio.h>

#include "kv.h"

#define FNV_PRIME 0x100000001b3ULL

static uint64_t mix(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

void kv_commit_init(struct kv_node *n)
{
    pthread_mutex_init(&n->commit_mu, NULL);
    n->chain = 0xcbf29ce484222325ULL; /* FNV-1a's offset basis */
    n->chain_seqno = WSREP_SEQNO_UNDEFINED;
}

/* Commit order makes commits one at a time; the mutex only carries them between threads
 * (client, applier, TOI). A seqno not above the last one committed is a provider bug. */
void kv_commit_note(struct kv_node *n, wsrep_seqno_t seqno, const void *payload, size_t len)
{
    unsigned char s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (unsigned char)((uint64_t)seqno >> (8 * i));
    pthread_mutex_lock(&n->commit_mu);
    wsrep_seqno_t prev = n->chain_seqno;
    n->chain = mix(mix(n->chain, s, sizeof s), payload, len);
    n->chain_seqno = seqno;
    n->commits++;
    pthread_mutex_unlock(&n->commit_mu);
    if (seqno <= prev) {
        kv_err(n, "commit order: seqno %lld committed after %lld", (long long)seqno,
               (long long)prev);
        atomic_fetch_add(&n->order_errors, 1);
        atomic_fetch_add(&n->errors, 1);
    }
}

void kv_commit_get(struct kv_node *n, uint64_t *chain, wsrep_seqno_t *seqno)
{
    pthread_mutex_lock(&n->commit_mu);
    *chain = n->chain;
    *seqno = n->chain_seqno;
    pthread_mutex_unlock(&n->commit_mu);
}

/* A joiner takes the donor's chain with its table: it continues from there. */
void kv_commit_set(struct kv_node *n, uint64_t chain, wsrep_seqno_t seqno)
{
    pthread_mutex_lock(&n->commit_mu);
    n->chain = chain;
    n->chain_seqno = seqno;
    pthread_mutex_unlock(&n->commit_mu);
}
