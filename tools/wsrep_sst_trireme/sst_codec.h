/* tools/wsrep_sst_trireme/sst_codec: the SST stream format (docs/design/sst-stream.md): frames of
 * length + SHA-256, zstd payloads, a header with the state and a trailer with a whole-stream digest. */
#ifndef SST_CODEC_H
#define SST_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"

#define SST_MAGIC "TRIRSST\n"          /* 8 bytes before the first frame */
#define SST_MAGIC_LEN 8
#define SST_VERSION 1
#define SST_FRAME_HDR 24                /* type, flags, 0, wire_len, raw_len, 0, seq */
#define SST_DIGEST_LEN 32               /* SHA-256 (libgcrypt) */
#define SST_RAW_MAX (1u << 20)          /* backup bytes per data frame */
/* Upper bound of zstd's output for SST_RAW_MAX input (ZSTD_COMPRESSBOUND, checked in sst_codec.c) */
#define SST_WIRE_MAX (SST_RAW_MAX + (SST_RAW_MAX >> 8) + 4096)
#define SST_HEAD_LEN 48
#define SST_END_LEN 48
#define SST_TEXT_MAX 1024               /* ABORT and ACK messages */

enum sst_frame_type {
    SST_F_HEAD = 1,  /* the state being transferred, first frame */
    SST_F_DATA = 2,  /* up to SST_RAW_MAX bytes of the backup stream */
    SST_F_END = 3,   /* total bytes, data frame count, SHA-256 of all data bytes */
    SST_F_ABORT = 4, /* the donor failed: its reason, last frame */
    SST_F_ACK = 5,   /* joiner -> donor: the stream arrived whole (status 0) or not */
};
#define SST_FL_ZSTD 0x01u      /* DATA payload is one zstd frame */
#define SST_HEAD_BYPASS 0x01u  /* no data: the joiner keeps its data (IST follows) */

struct sst_head {
    uint16_t version;
    uint16_t flags;      /* SST_HEAD_* */
    uint32_t domain_id;  /* --gtid-domain-id */
    tr_uuid uuid;        /* --gtid */
    int64_t seqno;
    uint64_t size_hint;  /* the donor's estimate of the data bytes, 0 = unknown */
};

/* ---- encoder (donor) ---- */
struct sst_enc {
    uint64_t seq;          /* next frame's number */
    uint64_t raw_total;    /* data bytes framed so far */
    uint64_t data_frames;
    void *whole;           /* gcry_md_hd_t over all data bytes */
    void *md;              /* gcry_md_hd_t for one frame */
    void *cctx;            /* ZSTD_CCtx; NULL = store uncompressed */
    uint8_t *buf;          /* SST_FRAME_HDR + SST_WIRE_MAX + SST_DIGEST_LEN */
};

/* libgcrypt set-up (idempotent). 0 or -1. */
int sst_crypto_init(void);
/* level: zstd level 1..19, or 0 for no compression. 0 or -1 (out of memory). */
int sst_enc_init(struct sst_enc *e, int level);
void sst_enc_free(struct sst_enc *e);
/* a new stream with the same buffers and level */
void sst_enc_reset(struct sst_enc *e);
/* Each returns the bytes to send in *out (valid until the next call) and their count, 0 on error.
 * sst_enc_head includes the magic. data: 1..SST_RAW_MAX bytes. */
size_t sst_enc_head(struct sst_enc *e, const struct sst_head *h, const uint8_t **out);
size_t sst_enc_data(struct sst_enc *e, const void *data, size_t len, const uint8_t **out);
size_t sst_enc_end(struct sst_enc *e, const uint8_t **out);
size_t sst_enc_abort(struct sst_enc *e, const char *why, const uint8_t **out);
/* One ACK frame into buf (at least SST_FRAME_HDR + 4 + SST_TEXT_MAX + SST_DIGEST_LEN bytes). */
size_t sst_ack_encode(int32_t status, const char *msg, uint8_t *buf, size_t cap);

/* ---- decoder (joiner), pulling bytes through a reader ---- */

/* Reads up to len bytes into buf: > 0 bytes read, 0 at end of stream, < 0 failure (the reader
 * keeps its own message for sst_dec's caller). */
typedef long (*sst_read_fn)(void *ctx, void *buf, size_t len);

struct sst_dec {
    sst_read_fn read;
    void *ctx;
    uint64_t off;          /* stream bytes consumed (for messages) */
    uint64_t seq;          /* next frame number expected */
    uint64_t raw_total;
    uint64_t data_frames;
    bool head_done, ended;
    bool io_failed;        /* the reader failed (not the data): see the reader's message */
    void *whole, *md, *dctx;
    uint8_t *wire;         /* grows up to SST_FRAME_HDR + SST_WIRE_MAX + SST_DIGEST_LEN */
    uint8_t *raw;          /* grows up to SST_RAW_MAX */
    size_t wire_cap, raw_cap;
};

int sst_dec_init(struct sst_dec *d, sst_read_fn read, void *ctx);
void sst_dec_free(struct sst_dec *d);
/* a new stream with the same buffers */
void sst_dec_reset(struct sst_dec *d, sst_read_fn read, void *ctx);
/* The magic and the HEAD frame. 0, or -1 with err naming the offset and what is wrong. */
int sst_dec_head(struct sst_dec *d, struct sst_head *h, char *err, size_t errlen);
enum sst_next { SST_NEXT_ERR = -1, SST_NEXT_DATA = 0, SST_NEXT_END = 1 };
/* The next frame: DATA with *data and *len (valid until the next call), END once the trailer has
 * matched everything before it, or ERR with err naming frame, offset and cause (an ABORT frame
 * gives the donor's reason). Nothing is accepted after END. */
enum sst_next sst_dec_next(struct sst_dec *d, const uint8_t **data, size_t *len, char *err,
                           size_t errlen);
/* An ACK frame from its bytes: 0 with *status and msg (NUL-terminated), -1 if malformed. */
int sst_ack_decode(const uint8_t *buf, size_t len, int32_t *status, char *msg, size_t msglen);
/* Bytes of the ACK frame whose SST_FRAME_HDR header is hdr: 0 if the header is not an ACK's. */
size_t sst_ack_len(const uint8_t *hdr);

#endif
