/* certification/cert_ws: the write-set as it travels: header, key set, data set.
 * Version 1 carries what a one-node cluster needs; checksums and compression come with replication. */
#ifndef CERT_WS_H
#define CERT_WS_H

#include <stddef.h>
#include <stdint.h>

#include "common/tr_buf.h"
#include "common/tr_uuid.h"

#define CERT_WS_MAGIC 0x31575254u /* "TRW1" */
#define CERT_WS_HDR_LEN 80
#define CERT_WS_MAX_KEY_PARTS 255
#define CERT_WS_MAX_PART_LEN 65535

struct cert_ws_hdr {
    uint32_t flags;     /* REPL_F_* / WSREP_FLAG_* bits */
    tr_uuid source;     /* originating node */
    uint64_t local_id;  /* originator's id for the in-flight write-set */
    uint64_t conn_id;
    uint64_t trx_id;
    int64_t last_seen;  /* last seqno committed at the originator when it certified */
    uint32_t nkeys;
    uint32_t keys_len;  /* bytes of the key set */
    uint64_t data_len;  /* bytes of the data set */
};

struct cert_key_part {
    const void *ptr;
    size_t len;
};

void cert_ws_hdr_encode(const struct cert_ws_hdr *h, uint8_t out[CERT_WS_HDR_LEN]);
/* Checks magic and that the declared sizes match len exactly. 0 or -1. */
int cert_ws_hdr_decode(const uint8_t *buf, size_t len, struct cert_ws_hdr *h);
/* Appends one key (type, parts) to a key set. 0, or -1 if a part is too long or memory runs out. */
int cert_ws_key_append(struct tr_buf *keys, int type, const struct cert_key_part *parts,
                       size_t nparts);

#endif
