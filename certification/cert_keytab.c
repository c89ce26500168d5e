/* certification/cert_keytab: open-addressing hash table of certification index entries.
 * Slots cache the 64-bit hash so that a probe compares key bytes only on a full hash match. */
#include "certification/cert_keytab.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64
/* Old-table slots moved per insert or remove while a shrink drains it: the old table has 8×
 * the entries' count in slots, so it is empty before the new one can reach 1/8 load again. */
#define DRAIN_STEP 16

/* Marks a slot of the old table whose entry left (removed, or moved to the new table): probes
 * go on past it. The old table takes no inserts, so these never need reclaiming. */
static struct cert_entry moved;
#define MOVED (&moved)

static void place(struct cert_keytab_slot *s, size_t mask, struct cert_keytab_slot v)
{
    size_t j = v.hash & mask;
    while (s[j].e) j = (j + 1) & mask;
    s[j] = v;
}

/* Moves up to n slots of the old table into the new one; frees the old one when done. */
static void drain(struct cert_keytab *t, size_t n)
{
    for (; t->old && n; n--) {
        struct cert_keytab_slot *o = &t->old[t->old_pos];
        if (o->e && o->e != MOVED) { /* an empty slot stays empty: it ends probe runs */
            place(t->slots, t->mask, *o);
            o->e = MOVED;
        }
        if (t->old_pos++ == t->old_mask) {
            free(t->old);
            t->old = NULL;
        }
    }
}

static int rehash(struct cert_keytab *t, size_t cap)
{
    drain(t, SIZE_MAX);
    struct cert_keytab_slot *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    size_t mask = cap - 1;
    for (size_t i = 0; t->slots && i <= t->mask; i++)
        if (t->slots[i].e) place(s, mask, t->slots[i]);
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
    for (size_t i = 0; t->old && i <= t->old_mask; i++)
        if (t->old[i].e != MOVED) free(t->old[i].e);
    free(t->slots);
    free(t->old);
    memset(t, 0, sizeof *t);
}

static struct cert_entry *find_in(const struct cert_keytab_slot *slots, size_t mask, uint64_t hash,
                                  const uint8_t *id, size_t id_len)
{
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct cert_keytab_slot *s = &slots[i];
        if (!s->e) return NULL;
        if (s->e != MOVED && s->hash == hash && s->e->id_len == id_len &&
            memcmp(s->e->id, id, id_len) == 0)
            return s->e;
    }
}

struct cert_entry *cert_keytab_find(const struct cert_keytab *t, uint64_t hash, const uint8_t *id,
                                    size_t id_len)
{
    struct cert_entry *e = find_in(t->slots, t->mask, hash, id, id_len);
    if (!e && t->old) e = find_in(t->old, t->old_mask, hash, id, id_len);
    return e;
}

int cert_keytab_reserve(struct cert_keytab *t, size_t n)
{
    /* Load factor at most 1/2: short probe runs even with linear probing. The count includes
     * the entries still in the old table: they all move into this one. */
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
    place(t->slots, t->mask, (struct cert_keytab_slot){e->hash, e});
    t->count++;
    drain(t, DRAIN_STEP);
}

/* Takes e out of the new table; false if it is not there. */
static int remove_new(struct cert_keytab *t, struct cert_entry *e)
{
    size_t i = e->hash & t->mask;
    while (t->slots[i].e != e) {
        if (!t->slots[i].e) return 0;
        i = (i + 1) & t->mask;
    }
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t j = i;;) {
        t->slots[i].e = NULL;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j].e) return 1;
            size_t home = t->slots[j].hash & t->mask;
            /* Movable unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

void cert_keytab_remove(struct cert_keytab *t, struct cert_entry *e)
{
    if (!remove_new(t, e)) { /* still in the old table, not moved yet */
        size_t i = e->hash & t->old_mask;
        while (t->old[i].e != e) i = (i + 1) & t->old_mask;
        t->old[i].e = MOVED;
    }
    t->count--;
    drain(t, DRAIN_STEP);
    /* Give memory back after a burst: shrink at 1/8 load, keeping room to grow again. The
     * entries move over in steps (drain), so no single remove walks the whole table. */
    size_t cap = t->mask + 1;
    if (t->old || cap <= MIN_CAP || t->count >= cap / 8) return;
    struct cert_keytab_slot *s = calloc(cap / 2, sizeof *s);
    if (!s) return; /* allowed to fail quietly */
    t->old = t->slots;
    t->old_mask = t->mask;
    t->old_pos = 0;
    t->slots = s;
    t->mask = cap / 2 - 1;
}
