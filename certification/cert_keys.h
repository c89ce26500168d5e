/* certification/cert_keys: the key set of a write-set: encoding, validating iteration, printing.
 * A key is its type plus the host's parts; its identity (what the index compares) is the parts. */
#ifndef CERT_KEYS_H
#define CERT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/tr_buf.h"

#define CERT_WS_MAX_KEY_PARTS 255
#define CERT_WS_MAX_PART_LEN 65535

/* Key types: the values of wsrep_key_type (and of REPL_KEY_*). */
enum cert_key_type {
    CERT_KEY_SHARED = 0,
    CERT_KEY_REFERENCE = 1,
    CERT_KEY_UPDATE = 2,
    CERT_KEY_EXCLUSIVE = 3,
};
#define CERT_KEY_NTYPES 4

struct cert_key_part {
    const void *ptr;
    size_t len;
};

/* Appends one key (type, parts) to a key set. 0, or -1 if the type is unknown, there are more
 * than CERT_WS_MAX_KEY_PARTS parts, a part is longer than CERT_WS_MAX_PART_LEN, or memory
 * runs out (the buffer is then unchanged). */
int cert_ws_key_append(struct tr_buf *keys, int type, const struct cert_key_part *parts,
                       size_t nparts);

/* One decoded key. id/id_len: the encoded parts (part count, then length-prefixed parts);
 * two keys name the same thing exactly when their ids are byte-equal. */
struct cert_key {
    int type;
    unsigned nparts;
    const uint8_t *id;
    size_t id_len;
};

struct cert_key_iter {
    const uint8_t *p, *end;
    uint32_t left; /* keys still expected */
    int err;       /* sticky: once a key is malformed, iteration stays failed */
};

enum cert_keys_err {
    CERT_KEYS_OK = 0,
    CERT_KEYS_ETYPE = -1,  /* key type is not one of the four */
    CERT_KEYS_ETRUNC = -2, /* a key or part runs past the end of the key set */
    CERT_KEYS_ECOUNT = -3, /* bytes left over after the declared number of keys */
};

void cert_key_iter_init(struct cert_key_iter *it, const void *keys, size_t keys_len,
                        uint32_t nkeys);
/* 1 and *k filled, 0 at a clean end (exactly nkeys keys, no byte left), or a negative
 * enum cert_keys_err. Never reads outside [keys, keys + keys_len). */
int cert_key_next(struct cert_key_iter *it, struct cert_key *k);
/* Walks the whole key set: 0 or a negative enum cert_keys_err. */
int cert_keys_validate(const void *keys, size_t keys_len, uint32_t nkeys);
const char *cert_keys_strerror(int err);

/* Part i of a key returned by cert_key_next (i < k->nparts). */
struct cert_key_part cert_key_part_at(const struct cert_key *k, unsigned i);
/* "type:part/part/..." with non-printable bytes as \xNN, truncated to fit; for logs. */
void cert_key_format(const struct cert_key *k, char *buf, size_t len);

#endif
