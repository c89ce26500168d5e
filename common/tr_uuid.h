/* common/tr_uuid: 16-byte node and cluster identifiers, and global transaction ids.
 * Same byte layout as wsrep_uuid_t / wsrep_gtid_t so the ABI adapter converts by memcpy. */
#ifndef TR_UUID_H
#define TR_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_UUID_STR_LEN 36 /* without the NUL */
#define TR_SEQNO_UNDEFINED ((int64_t)-1)

typedef union tr_uuid {
    uint8_t data[16];
    uint64_t align_; /* 8-byte aligned like wsrep_uuid_t, so containing structs match the ABI */
} tr_uuid;

typedef struct tr_gtid {
    tr_uuid uuid;
    int64_t seqno;
} tr_gtid;

extern const tr_uuid tr_uuid_nil;

/* A random version-4 UUID from the OS entropy source. */
void tr_uuid_generate(tr_uuid *out);
bool tr_uuid_is_nil(const tr_uuid *u);
int tr_uuid_compare(const tr_uuid *a, const tr_uuid *b);
/* Writes 36 characters and a NUL; buf must hold TR_UUID_STR_LEN + 1. */
void tr_uuid_print(const tr_uuid *u, char *buf);
/* Parses exactly 36 characters (8-4-4-4-12 hex); returns 0 or -1. */
int tr_uuid_parse(const char *s, size_t len, tr_uuid *out);

#endif
