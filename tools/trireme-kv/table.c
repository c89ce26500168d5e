/* tools/trireme-kv/table.c: the replicated in-memory key-value table (chained hash, one mutex)
 * and its order-independent checksum, so nodes can be compared whatever order rows arrived in. */
#include <stdlib.h>
#include <string.h>

#include "kv.h"

struct kv_entry {
    struct kv_entry *next;
    uint64_t hash;
    size_t klen, vlen;
    char *key;
    unsigned char *val;
};

struct kv_table {
    pthread_mutex_t mu; /* writers are serialised by commit order already; readers are not */
    struct kv_entry **buckets;
    size_t nbuckets;
    size_t count;
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t key_hash(const char *key, size_t klen)
{
    return fnv1a(0xcbf29ce484222325ULL, key, klen);
}

/* splitmix64 finaliser: spreads row hashes so a plain sum is a good set digest */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct kv_table *kv_table_new(size_t expected)
{
    struct kv_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t nb = 1024;
    while (nb < expected)
        nb <<= 1;
    t->buckets = calloc(nb, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->nbuckets = nb;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void kv_table_free(struct kv_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct kv_entry *e = t->buckets[i];
        while (e) {
            struct kv_entry *nx = e->next;
            free(e->key);
            free(e->val);
            free(e);
            e = nx;
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static struct kv_entry *find(struct kv_table *t, const char *key, size_t klen, uint64_t h)
{
    for (struct kv_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* Returns the entry for key, creating an empty one; NULL only on allocation failure. */
static struct kv_entry *upsert(struct kv_table *t, const char *key, size_t klen, uint64_t h)
{
    struct kv_entry *e = find(t, key, klen, h);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->key = malloc(klen ? klen : 1);
    if (!e->key) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    size_t b = h & (t->nbuckets - 1);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->count++;
    return e;
}

long kv_table_get(struct kv_table *t, const char *key, size_t klen, void *buf, size_t cap)
{
    uint64_t h = key_hash(key, klen);
    long r = -1;
    pthread_mutex_lock(&t->mu);
    struct kv_entry *e = find(t, key, klen, h);
    if (e) {
        memcpy(buf, e->val, e->vlen < cap ? e->vlen : cap);
        r = (long)e->vlen;
    }
    pthread_mutex_unlock(&t->mu);
    return r;
}

static void set_value(struct kv_entry *e, const void *val, size_t vlen)
{
    if (e->vlen != vlen || !e->val) {
        unsigned char *nv = realloc(e->val, vlen ? vlen : 1);
        if (!nv)
            abort(); /* a half-applied row would make checksums lie */
        e->val = nv;
    }
    memcpy(e->val, val, vlen);
    e->vlen = vlen;
}

void kv_table_put(struct kv_table *t, const char *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t h = key_hash(key, klen);
    pthread_mutex_lock(&t->mu);
    struct kv_entry *e = upsert(t, key, klen, h);
    if (!e)
        abort();
    set_value(e, val, vlen);
    pthread_mutex_unlock(&t->mu);
}

void kv_table_incr(struct kv_table *t, const char *key, size_t klen, uint64_t delta)
{
    uint64_t h = key_hash(key, klen);
    pthread_mutex_lock(&t->mu);
    struct kv_entry *e = upsert(t, key, klen, h);
    if (!e)
        abort();
    uint64_t v = 0;
    if (e->vlen == 8)
        for (int i = 7; i >= 0; i--)
            v = (v << 8) | e->val[i];
    v += delta;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    set_value(e, le, 8);
    pthread_mutex_unlock(&t->mu);
}

uint64_t kv_table_checksum(struct kv_table *t, size_t *count)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct kv_entry *e = t->buckets[i]; e; e = e->next) {
            uint64_t h = fnv1a(e->hash, "\0", 1);
            sum += mix(fnv1a(h, e->val, e->vlen));
        }
    if (count)
        *count = t->count;
    pthread_mutex_unlock(&t->mu);
    return sum;
}

/* Snapshot for a state transfer: u32 klen | u32 vlen | key | value per row, little-endian. */
size_t kv_table_dump(struct kv_table *t, void **out)
{
    pthread_mutex_lock(&t->mu);
    size_t len = 0;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct kv_entry *e = t->buckets[i]; e; e = e->next)
            len += 8 + e->klen + e->vlen;
    unsigned char *buf = malloc(len ? len : 1), *p = buf;
    if (buf) {
        for (size_t i = 0; i < t->nbuckets; i++)
            for (struct kv_entry *e = t->buckets[i]; e; e = e->next) {
                for (int b = 0; b < 4; b++) {
                    p[b] = (unsigned char)(e->klen >> (8 * b));
                    p[4 + b] = (unsigned char)(e->vlen >> (8 * b));
                }
                memcpy(p + 8, e->key, e->klen);
                memcpy(p + 8 + e->klen, e->val, e->vlen);
                p += 8 + e->klen + e->vlen;
            }
    }
    pthread_mutex_unlock(&t->mu);
    *out = buf;
    return buf ? len : (size_t)-1;
}

int kv_table_load(struct kv_table *t, const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    while (p < end) {
        if ((size_t)(end - p) < 8)
            return -1;
        size_t kl = 0, vl = 0;
        for (int b = 3; b >= 0; b--) {
            kl = (kl << 8) | p[b];
            vl = (vl << 8) | p[4 + b];
        }
        if ((size_t)(end - p) - 8 < kl || (size_t)(end - p) - 8 - kl < vl)
            return -1;
        kv_table_put(t, (const char *)p + 8, kl, p + 8 + kl, vl);
        p += 8 + kl + vl;
    }
    return 0;
}
