/* certification/cert_keytab: open-addressing hash table of certification index entries.
 * Slots cache the 64-bit hash so that a probe compares key bytes only on a full hash match. */
#include "certification/cert_keytab.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

static int rehash(struct cert_keytab *t, size_t cap)
{
    struct cert_keytab_slot *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    size_t mask = cap - 1;
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (!t->slots[i].e) continue;
        size_t j = t->slots[i].hash & mask;
        while (s[j].e) j = (j + 1) & mask;
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->mask = mask;
    return 0;
}

int cert_keytab_init(struct cert_keytab *t)
{
    memset(t, 0, sizeof *t);
    return rehash(t, MIN_CAP);
}

void cert_keytab_free(struct cert_keytab *t)
{
    for (size_t i = 0; t->slots && i <= t->mask; i++) free(t->slots[i].e);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

struct cert_entry *cert_keytab_find(const struct cert_keytab *t, uint64_t hash, const uint8_t *id,
                                    size_t id_len)
{
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        const struct cert_keytab_slot *s = &t->slots[i];
        if (!s->e) return NULL;
        if (s->hash == hash && s->e->id_len == id_len && memcmp(s->e->id, id, id_len) == 0)
            return s->e;
    }
}

int cert_keytab_reserve(struct cert_keytab *t, size_t n)
{
    /* Load factor at most 1/2: short probe runs even with linear probing. */
    size_t cap = t->mask + 1;
    if (t->count + n <= cap / 2) return 0;
    while (t->count + n > cap / 2) {
        if (cap > SIZE_MAX / 2 / sizeof(struct cert_keytab_slot)) return -1;
        cap *= 2;
    }
    return rehash(t, cap);
}

void cert_keytab_insert(struct cert_keytab *t, struct cert_entry *e)
{
    size_t i = e->hash & t->mask;
    while (t->slots[i].e) i = (i + 1) & t->mask;
    t->slots[i] = (struct cert_keytab_slot){e->hash, e};
    t->count++;
}

void cert_keytab_remove(struct cert_keytab *t, struct cert_entry *e)
{
    size_t i = e->hash & t->mask;
    while (t->slots[i].e != e) i = (i + 1) & t->mask;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = i;;) {
        t->slots[i].e = NULL;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j].e) goto done;
            size_t home = t->slots[j].hash & t->mask;
            /* Movable unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
done:
    t->count--;
    /* Give memory back after a burst: shrink at 1/8 load, keeping room to grow again. */
    size_t cap = t->mask + 1;
    if (cap > MIN_CAP && t->count < cap / 8) rehash(t, cap / 2);
}
