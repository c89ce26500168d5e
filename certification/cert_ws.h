/* certification/cert_ws: the write-set as it travels: header, key set, data set (version 2).
 * Checksummed header and payload, optional zstd data set; the format is docs/design/writeset.md. */
#ifndef CERT_WS_H
#define CERT_WS_H

#include <stddef.h>
#include <stdint.h>

#include "certification/cert_keys.h"
#include "common/tr_buf.h"
#include "common/tr_uuid.h"

#define CERT_WS_MAGIC 0x53575254u /* "TRWS" */
#define CERT_WS_VERSION 2
#define CERT_WS_HDR_LEN 120
/* Hard ceiling on a whole write-set (header + keys + uncompressed data), Galera's MAX_SIZE. */
#define CERT_WS_MAX_SIZE INT64_C(0x7fffffff)

/* hdr.dflags: how the payload is stored. */
#define CERT_WS_D_ZSTD 0x01u /* the data set is one or more zstd frames */

struct cert_ws_hdr {
    uint8_t version;       /* CERT_WS_VERSION (written by the encoders whatever it holds) */
    uint8_t dflags;        /* CERT_WS_D_*; set by cert_ws_encode */
    uint32_t flags;        /* REPL_F_* / WSREP_FLAG_* bits */
    tr_uuid source;        /* originating node */
    uint64_t local_id;     /* originator's id for the in-flight write-set */
    uint64_t conn_id;
    uint64_t trx_id;
    int64_t last_seen;     /* last seqno committed at the originator when it certified */
    int64_t seqno;         /* global seqno once ordered, else -1 (cert_ws_encode writes -1) */
    int64_t depends;       /* depends_seqno once ordered, else -1 */
    uint32_t nkeys;
    uint32_t keys_len;     /* bytes of the key set */
    uint64_t data_len;     /* bytes of the data set as sent (compressed or not) */
    uint64_t data_raw_len; /* bytes of the data set after decompression */
    uint64_t payload_csum; /* over key set + data set as sent */
};

enum cert_ws_err {
    CERT_WS_OK = 0,
    CERT_WS_ETRUNC = -1,     /* shorter than a header */
    CERT_WS_EMAGIC = -2,     /* not a trireme write-set */
    CERT_WS_EVERSION = -3,   /* a version this node does not speak */
    CERT_WS_EHDRCSUM = -4,   /* header checksum mismatch */
    CERT_WS_EFORMAT = -5,    /* reserved bits set, or inconsistent header fields */
    CERT_WS_ESIZE = -6,      /* declared lengths do not add up to the bytes received */
    CERT_WS_ECSUM = -7,      /* payload checksum mismatch */
    CERT_WS_EKEYS = -8,      /* malformed key set */
    CERT_WS_ETOOBIG = -9,    /* over the size limit (repl.max_ws_size on encode) */
    CERT_WS_EZSTD = -10,     /* compressed data set does not decode to its declared size */
    CERT_WS_ENOMEM = -11,
    CERT_WS_ECRYPTO = -12,   /* libgcrypt unavailable or refused the digest */
};
const char *cert_ws_strerror(int err);

/* Header only. encode computes the header checksum over h as given (payload_csum included). */
void cert_ws_hdr_encode(const struct cert_ws_hdr *h, uint8_t out[CERT_WS_HDR_LEN]);
/* Checks magic, version, header checksum, reserved fields, and that the declared sizes match
 * len exactly; does not look at the payload. 0 or a negative enum cert_ws_err. */
int cert_ws_hdr_decode(const uint8_t *buf, size_t len, struct cert_ws_hdr *h);
/* Records the ordering of an encoded write-set in place (e.g. before storing it), refreshing
 * the header checksum. 0, or CERT_WS_EFORMAT if depends is not in [-1, seqno). */
int cert_ws_hdr_set_seqno(uint8_t hdr[CERT_WS_HDR_LEN], int64_t seqno, int64_t depends);

/* An encoded write-set ready to send as three pieces: hdr, keys, data. keys points at the
 * caller's key set; data at the caller's data set or at zbuf when compressed. */
struct cert_ws_enc {
    uint8_t hdr[CERT_WS_HDR_LEN];
    const uint8_t *keys;
    size_t keys_len;
    const uint8_t *data;
    size_t data_len;
    struct tr_buf zbuf;
};

struct cert_ws_enc_opts {
    size_t compress_min; /* compress the data set when it has at least this many bytes; 0: never */
    int zstd_level;      /* 0: zstd's default */
    int64_t max_size;    /* repl.max_ws_size: header + keys + uncompressed data; <= 0: the ceiling */
};

/* Encodes h (version, dflags, seqno, depends, lengths and checksum are filled in here) with
 * the key set and data set. The data set stays uncompressed when compression does not make
 * it smaller. 0, CERT_WS_ETOOBIG (the transaction must fail, not the node), CERT_WS_ENOMEM,
 * CERT_WS_ECRYPTO. Free with cert_ws_enc_free() in every case. */
int cert_ws_encode(struct cert_ws_enc *enc, const struct cert_ws_hdr *h, const void *keys,
                   size_t keys_len, const void *data, size_t data_len,
                   const struct cert_ws_enc_opts *opts);
void cert_ws_enc_free(struct cert_ws_enc *enc);

/* A validated, received write-set. keys/data point into the received buffer, or data into
 * an owned decompressed copy; valid while both live. */
struct cert_ws_view {
    struct cert_ws_hdr hdr;
    const uint8_t *keys;
    size_t keys_len;
    const uint8_t *data; /* uncompressed */
    size_t data_len;
    void *owned;
};

/* Validates everything: header, sizes, payload checksum, every key, and the data set's
 * decompression, which may produce at most max_raw bytes (<= 0: CERT_WS_MAX_SIZE). The declared
 * size is checked against max_raw before any allocation. Use the same max_raw on every node:
 * a write-set refused here must be refused everywhere. 0 or a negative enum cert_ws_err; on
 * error *v holds nothing to free. */
int cert_ws_decode(const uint8_t *buf, size_t len, int64_t max_raw, struct cert_ws_view *v);
void cert_ws_view_release(struct cert_ws_view *v);

#endif
