/* certification/cert_keytab: the certification index's table from key identity to entry.
 * Open addressing, linear probing, backward-shift deletion: no tombstones to rot in long runs. */
#ifndef CERT_KEYTAB_H
#define CERT_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "certification/cert_keys.h"

/* One key in the index: the last write-set that used it with each of the four key types. */
struct cert_entry {
    uint64_t hash;
    int64_t seqno[CERT_KEY_NTYPES]; /* -1: no write-set holds this type */
    uint32_t src[CERT_KEY_NTYPES];  /* interned source node of that write-set */
    uint8_t toi;                    /* bit t: seqno[t] is a TOI write-set */
    uint32_t rings;                 /* pointers to it in the index's entry FIFO */
    uint32_t id_len;
    uint8_t id[];                   /* the key identity, compared byte for byte */
};

struct cert_keytab_slot {
    uint64_t hash;
    struct cert_entry *e; /* NULL: empty */
};

struct cert_keytab {
    struct cert_keytab_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count; /* entries in both tables */
    /* While shrinking: the previous table, whose entries move into slots a few per insert or
     * remove from old_pos on (no single call walks a whole large table); NULL otherwise. */
    struct cert_keytab_slot *old;
    size_t old_mask, old_pos;
};

int cert_keytab_init(struct cert_keytab *t);
void cert_keytab_free(struct cert_keytab *t); /* frees the entries too */
/* The entry with exactly this identity, or NULL. The hash only narrows the search. */
struct cert_entry *cert_keytab_find(const struct cert_keytab *t, uint64_t hash, const uint8_t *id,
                                    size_t id_len);
/* Makes room for n more entries without any later insert allocating. 0 or -1. */
int cert_keytab_reserve(struct cert_keytab *t, size_t n);
/* e must not be present; room must have been reserved. */
void cert_keytab_insert(struct cert_keytab *t, struct cert_entry *e);
/* Removes e (present) by pointer; may start shrinking the table, which is allowed to fail
 * quietly. */
void cert_keytab_remove(struct cert_keytab *t, struct cert_entry *e);

#endif
