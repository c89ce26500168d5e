/* tools/wsrep_sst_trireme/sst_codec: encoder and bounds-checked decoder of the SST stream.
 * Pure apart from the reader callback: no sockets, files or clocks, so tests and fuzzers drive it. */
#include "tools/wsrep_sst_trireme/sst_codec.h"

#include <gcrypt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

_Static_assert(ZSTD_COMPRESSBOUND(SST_RAW_MAX) <= SST_WIRE_MAX, "SST_WIRE_MAX below zstd's bound");
_Static_assert(SST_FRAME_HDR + 4 + SST_TEXT_MAX <= SST_WIRE_MAX, "text frames fit");

#define MD_ALGO GCRY_MD_SHA256
#define FRAME_MAX (SST_FRAME_HDR + SST_WIRE_MAX + SST_DIGEST_LEN)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void do_init(void)
{
    if (!gcry_check_version("1.8.0")) return;
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        gcry_control(GCRYCTL_DISABLE_SECMEM, 0); /* digests of public data only */
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
    if (gcry_md_test_algo(MD_ALGO) == 0) init_rc = 0;
}

int sst_crypto_init(void)
{
    pthread_once(&init_once, do_init);
    return init_rc;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static gcry_md_hd_t md_new(void)
{
    gcry_md_hd_t h = NULL;
    if (sst_crypto_init() || gcry_md_open(&h, MD_ALGO, 0)) return NULL;
    return h;
}

/* digest of header + payload into out */
static void frame_digest(gcry_md_hd_t md, const uint8_t *frame, size_t n, uint8_t *out)
{
    gcry_md_reset(md);
    gcry_md_write(md, frame, n);
    memcpy(out, gcry_md_read(md, MD_ALGO), SST_DIGEST_LEN);
}

static void put_hdr(uint8_t *p, uint8_t type, uint8_t flags, uint32_t wire, uint32_t raw,
                    uint64_t seq)
{
    memset(p, 0, SST_FRAME_HDR);
    p[0] = type;
    p[1] = flags;
    put32(p + 4, wire);
    put32(p + 8, raw);
    put64(p + 16, seq);
}

/* ---- encoder ---- */

int sst_enc_init(struct sst_enc *e, int level)
{
    memset(e, 0, sizeof *e);
    e->whole = md_new();
    e->md = md_new();
    e->buf = malloc(SST_MAGIC_LEN + FRAME_MAX);
    if (level > 0) {
        e->cctx = ZSTD_createCCtx();
        if (e->cctx && ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel, level)))
            level = -1;
    }
    if (!e->whole || !e->md || !e->buf || level < 0 || (level > 0 && !e->cctx)) {
        sst_enc_free(e);
        return -1;
    }
    return 0;
}

void sst_enc_reset(struct sst_enc *e)
{
    e->seq = e->raw_total = e->data_frames = 0;
    gcry_md_reset(e->whole);
}

void sst_enc_free(struct sst_enc *e)
{
    if (e->whole) gcry_md_close(e->whole);
    if (e->md) gcry_md_close(e->md);
    ZSTD_freeCCtx(e->cctx);
    free(e->buf);
    memset(e, 0, sizeof *e);
}

/* finishes the frame at p whose payload is in place: header, digest; returns its length */
static size_t seal(struct sst_enc *e, uint8_t *p, uint8_t type, uint8_t flags, uint32_t wire,
                   uint32_t raw)
{
    put_hdr(p, type, flags, wire, raw, e->seq++);
    frame_digest(e->md, p, SST_FRAME_HDR + wire, p + SST_FRAME_HDR + wire);
    return SST_FRAME_HDR + wire + SST_DIGEST_LEN;
}

size_t sst_enc_head(struct sst_enc *e, const struct sst_head *h, const uint8_t **out)
{
    if (e->seq != 0) return 0;
    memcpy(e->buf, SST_MAGIC, SST_MAGIC_LEN);
    uint8_t *p = e->buf + SST_MAGIC_LEN, *b = p + SST_FRAME_HDR;
    memset(b, 0, SST_HEAD_LEN);
    put16(b, SST_VERSION);
    put16(b + 2, h->flags);
    put32(b + 4, h->domain_id);
    memcpy(b + 8, h->uuid.data, 16);
    put64(b + 24, (uint64_t)h->seqno);
    put64(b + 32, h->size_hint);
    *out = e->buf;
    return SST_MAGIC_LEN + seal(e, p, SST_F_HEAD, 0, SST_HEAD_LEN, SST_HEAD_LEN);
}

size_t sst_enc_data(struct sst_enc *e, const void *data, size_t len, const uint8_t **out)
{
    if (e->seq == 0 || len == 0 || len > SST_RAW_MAX) return 0;
    uint8_t *b = e->buf + SST_FRAME_HDR;
    size_t wire = len;
    uint8_t flags = 0;
    if (e->cctx) {
        size_t z = ZSTD_compress2(e->cctx, b, SST_WIRE_MAX, data, len);
        if (ZSTD_isError(z)) return 0;
        if (z < len) {
            wire = z;
            flags = SST_FL_ZSTD;
        }
    }
    if (!flags) memcpy(b, data, len); /* incompressible: stored */
    gcry_md_write(e->whole, data, len);
    e->raw_total += len;
    e->data_frames++;
    *out = e->buf;
    return seal(e, e->buf, SST_F_DATA, flags, (uint32_t)wire, (uint32_t)len);
}

size_t sst_enc_end(struct sst_enc *e, const uint8_t **out)
{
    if (e->seq == 0) return 0;
    uint8_t *b = e->buf + SST_FRAME_HDR;
    put64(b, e->raw_total);
    put64(b + 8, e->data_frames);
    memcpy(b + 16, gcry_md_read(e->whole, MD_ALGO), SST_DIGEST_LEN);
    *out = e->buf;
    return seal(e, e->buf, SST_F_END, 0, SST_END_LEN, SST_END_LEN);
}

size_t sst_enc_abort(struct sst_enc *e, const char *why, const uint8_t **out)
{
    size_t n = strnlen(why ? why : "", SST_TEXT_MAX);
    memcpy(e->buf + SST_FRAME_HDR, why ? why : "", n);
    *out = e->buf;
    return seal(e, e->buf, SST_F_ABORT, 0, (uint32_t)n, (uint32_t)n);
}

size_t sst_ack_encode(int32_t status, const char *msg, uint8_t *buf, size_t cap)
{
    size_t n = strnlen(msg ? msg : "", SST_TEXT_MAX);
    if (cap < SST_FRAME_HDR + 4 + n + SST_DIGEST_LEN) return 0;
    gcry_md_hd_t md = md_new();
    if (!md) return 0;
    put32(buf + SST_FRAME_HDR, (uint32_t)status);
    memcpy(buf + SST_FRAME_HDR + 4, msg ? msg : "", n);
    put_hdr(buf, SST_F_ACK, 0, (uint32_t)(4 + n), (uint32_t)(4 + n), 0);
    frame_digest(md, buf, SST_FRAME_HDR + 4 + n, buf + SST_FRAME_HDR + 4 + n);
    gcry_md_close(md);
    return SST_FRAME_HDR + 4 + n + SST_DIGEST_LEN;
}

size_t sst_ack_len(const uint8_t *hdr)
{
    uint32_t wire = get32(hdr + 4);
    if (hdr[0] != SST_F_ACK || wire < 4 || wire > 4 + SST_TEXT_MAX || get32(hdr + 8) != wire)
        return 0;
    return SST_FRAME_HDR + wire + SST_DIGEST_LEN;
}

int sst_ack_decode(const uint8_t *buf, size_t len, int32_t *status, char *msg, size_t msglen)
{
    if (len < SST_FRAME_HDR || sst_ack_len(buf) != len || msglen == 0) return -1;
    size_t wire = len - SST_FRAME_HDR - SST_DIGEST_LEN;
    gcry_md_hd_t md = md_new();
    if (!md) return -1;
    uint8_t want[SST_DIGEST_LEN];
    frame_digest(md, buf, SST_FRAME_HDR + wire, want);
    gcry_md_close(md);
    if (memcmp(want, buf + SST_FRAME_HDR + wire, SST_DIGEST_LEN) != 0) return -1;
    *status = (int32_t)get32(buf + SST_FRAME_HDR);
    size_t n = wire - 4 < msglen - 1 ? wire - 4 : msglen - 1;
    memcpy(msg, buf + SST_FRAME_HDR + 4, n);
    msg[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (msg[i] < 0x20 || msg[i] == 0x7f) msg[i] = '?'; /* keeps the log one line */
    return 0;
}

/* ---- decoder ---- */

int sst_dec_init(struct sst_dec *d, sst_read_fn read, void *ctx)
{
    memset(d, 0, sizeof *d);
    d->read = read;
    d->ctx = ctx;
    d->whole = md_new();
    d->md = md_new();
    d->dctx = ZSTD_createDCtx();
    if (!d->whole || !d->md || !d->dctx) {
        sst_dec_free(d);
        return -1;
    }
    return 0;
}

void sst_dec_reset(struct sst_dec *d, sst_read_fn read, void *ctx)
{
    d->read = read;
    d->ctx = ctx;
    d->off = d->seq = d->raw_total = d->data_frames = 0;
    d->head_done = d->ended = d->io_failed = false;
    gcry_md_reset(d->whole);
}

void sst_dec_free(struct sst_dec *d)
{
    if (d->whole) gcry_md_close(d->whole);
    if (d->md) gcry_md_close(d->md);
    ZSTD_freeDCtx(d->dctx);
    free(d->wire);
    free(d->raw);
    memset(d, 0, sizeof *d);
}

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* exactly len bytes, or -1 with err saying where the stream ended or failed */
static int read_exact(struct sst_dec *d, uint8_t *buf, size_t len, const char *what, char *err,
                      size_t errlen)
{
    size_t got = 0;
    while (got < len) {
        long n = d->read(d->ctx, buf + got, len - got);
        if (n < 0) {
            d->io_failed = true;
            say(err, errlen, "reading %s at stream offset %llu failed", what,
                (unsigned long long)(d->off + got));
            return -1;
        }
        if (n == 0) {
            say(err, errlen, "stream truncated: it ended at offset %llu, %zu of %zu bytes into %s",
                (unsigned long long)(d->off + got), got, len, what);
            return -1;
        }
        if ((size_t)n > len - got) n = (long)(len - got); /* a reader that overreports */
        got += (size_t)n;
    }
    d->off += len;
    return 0;
}

static const char *type_name(unsigned t)
{
    static const char *const names[] = {"?", "HEAD", "DATA", "END", "ABORT", "ACK"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* *buf holds at least need bytes (need <= its bound): buffers grow with the frames that
 * passed the header checks, so a short stream never costs the full 2 MiB */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64 * 1024;
    while (c < need) c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* one whole frame into d->wire; checks header bounds, sequence and digest */
static int read_frame(struct sst_dec *d, uint8_t *type, uint8_t *flags, uint32_t *wire,
                      uint32_t *raw, char *err, size_t errlen)
{
    uint64_t at = d->off, seq = d->seq;
    char what[64];
    if (reserve(&d->wire, &d->wire_cap, SST_FRAME_HDR)) {
        say(err, errlen, "out of memory");
        return -1;
    }
    snprintf(what, sizeof what, "the header of frame %llu", (unsigned long long)seq);
    if (read_exact(d, d->wire, SST_FRAME_HDR, what, err, errlen)) return -1;
    const uint8_t *h = d->wire;
    *type = h[0];
    *flags = h[1];
    *wire = get32(h + 4);
    *raw = get32(h + 8);
    uint64_t fseq = get64(h + 16);
    const char *bad = NULL;
    if (*type < SST_F_HEAD || *type > SST_F_ABORT)
        bad = "unknown frame type";
    else if (get16(h + 2) != 0 || get32(h + 12) != 0 || (*flags & ~SST_FL_ZSTD) ||
             (*type != SST_F_DATA && *flags))
        bad = "reserved header bits set";
    else if (fseq != seq)
        bad = "frame out of sequence (lost, repeated or reordered)";
    else if (*wire > SST_WIRE_MAX || *raw > SST_RAW_MAX)
        bad = "length above the limit";
    else if (*type == SST_F_DATA && (*raw == 0 || (!(*flags & SST_FL_ZSTD) && *wire != *raw)))
        bad = "inconsistent lengths";
    else if (*type == SST_F_HEAD && (*wire != SST_HEAD_LEN || *raw != *wire))
        bad = "HEAD frame of the wrong size";
    else if (*type == SST_F_END && (*wire != SST_END_LEN || *raw != *wire))
        bad = "END frame of the wrong size";
    else if (*type == SST_F_ABORT && (*wire > SST_TEXT_MAX || *raw != *wire))
        bad = "ABORT frame of the wrong size";
    if (bad) {
        say(err, errlen, "frame %llu at stream offset %llu: %s (type %u %s, flags 0x%x, "
            "%u bytes, %u raw, seq %llu)", (unsigned long long)seq, (unsigned long long)at, bad,
            *type, type_name(*type), *flags, *wire, *raw, (unsigned long long)fseq);
        return -1;
    }
    snprintf(what, sizeof what, "frame %llu (%s, %u bytes)", (unsigned long long)seq,
             type_name(*type), *wire);
    if (reserve(&d->wire, &d->wire_cap, SST_FRAME_HDR + (size_t)*wire + SST_DIGEST_LEN) ||
        (*type == SST_F_DATA && (*flags & SST_FL_ZSTD) && reserve(&d->raw, &d->raw_cap, *raw))) {
        say(err, errlen, "out of memory");
        return -1;
    }
    if (read_exact(d, d->wire + SST_FRAME_HDR, (size_t)*wire + SST_DIGEST_LEN, what, err, errlen))
        return -1;
    uint8_t want[SST_DIGEST_LEN];
    frame_digest(d->md, d->wire, SST_FRAME_HDR + *wire, want);
    if (memcmp(want, d->wire + SST_FRAME_HDR + *wire, SST_DIGEST_LEN) != 0) {
        say(err, errlen, "frame %llu (%s) at stream offset %llu: SHA-256 mismatch, the frame "
            "was corrupted in transit", (unsigned long long)seq, type_name(*type),
            (unsigned long long)at);
        return -1;
    }
    d->seq++;
    return 0;
}

int sst_dec_head(struct sst_dec *d, struct sst_head *h, char *err, size_t errlen)
{
    uint8_t magic[SST_MAGIC_LEN];
    if (d->head_done || d->ended) {
        say(err, errlen, "HEAD already read");
        return -1;
    }
    if (read_exact(d, magic, SST_MAGIC_LEN, "the stream's magic", err, errlen)) return -1;
    if (memcmp(magic, SST_MAGIC, SST_MAGIC_LEN) != 0) {
        say(err, errlen, "not a trireme SST stream (bad magic at offset 0: is the donor running "
            "wsrep_sst_trireme with the same TLS settings?)");
        return -1;
    }
    uint8_t type, flags;
    uint32_t wire, raw;
    if (read_frame(d, &type, &flags, &wire, &raw, err, errlen)) return -1;
    const uint8_t *b = d->wire + SST_FRAME_HDR;
    if (type != SST_F_HEAD) {
        say(err, errlen, "frame 0 is %s, not HEAD", type_name(type));
        return -1;
    }
    memset(h, 0, sizeof *h);
    h->version = get16(b);
    h->flags = get16(b + 2);
    h->domain_id = get32(b + 4);
    memcpy(h->uuid.data, b + 8, 16);
    h->seqno = (int64_t)get64(b + 24);
    h->size_hint = get64(b + 32);
    if (h->version != SST_VERSION) {
        say(err, errlen, "stream version %u, this joiner reads version %u", h->version, SST_VERSION);
        return -1;
    }
    if ((h->flags & ~SST_HEAD_BYPASS) || get64(b + 40) != 0 || h->seqno < -1) {
        say(err, errlen, "HEAD frame: unknown flags 0x%x or bad seqno %lld", h->flags,
            (long long)h->seqno);
        return -1;
    }
    d->head_done = true;
    return 0;
}

enum sst_next sst_dec_next(struct sst_dec *d, const uint8_t **data, size_t *len, char *err,
                           size_t errlen)
{
    if (!d->head_done || d->ended) {
        say(err, errlen, d->ended ? "read past the END frame" : "HEAD not read yet");
        return SST_NEXT_ERR;
    }
    uint64_t at = d->off, seq = d->seq;
    uint8_t type, flags;
    uint32_t wire, raw;
    if (read_frame(d, &type, &flags, &wire, &raw, err, errlen)) return SST_NEXT_ERR;
    const uint8_t *b = d->wire + SST_FRAME_HDR;
    if (type == SST_F_DATA) {
        if (flags & SST_FL_ZSTD) {
            unsigned long long fsz = ZSTD_getFrameContentSize(b, wire);
            size_t n = ZSTD_decompressDCtx(d->dctx, d->raw, raw, b, wire);
            if (ZSTD_isError(n) || n != raw || (fsz != ZSTD_CONTENTSIZE_UNKNOWN && fsz != raw)) {
                say(err, errlen, "frame %llu (DATA) at stream offset %llu: zstd payload does not "
                    "decompress to its %u bytes (%s)", (unsigned long long)seq,
                    (unsigned long long)at, raw, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size");
                return SST_NEXT_ERR;
            }
            *data = d->raw;
        } else {
            *data = b;
        }
        *len = raw;
        gcry_md_write(d->whole, *data, raw);
        d->raw_total += raw;
        d->data_frames++;
        return SST_NEXT_DATA;
    }
    if (type == SST_F_ABORT) {
        char why[SST_TEXT_MAX + 1];
        memcpy(why, b, wire);
        why[wire] = '\0';
        for (uint32_t i = 0; i < wire; i++)
            if (why[i] < 0x20 || why[i] == 0x7f) why[i] = '?';
        say(err, errlen, "the donor aborted the transfer at frame %llu: %s",
            (unsigned long long)seq, why);
        return SST_NEXT_ERR;
    }
    if (type == SST_F_HEAD) {
        say(err, errlen, "frame %llu at stream offset %llu: a second HEAD",
            (unsigned long long)seq, (unsigned long long)at);
        return SST_NEXT_ERR;
    }
    /* END: the totals and the digest of everything before it */
    uint64_t total = get64(b), frames = get64(b + 8);
    if (total != d->raw_total || frames != d->data_frames ||
        memcmp(b + 16, gcry_md_read(d->whole, MD_ALGO), SST_DIGEST_LEN) != 0) {
        say(err, errlen, "END frame %llu at stream offset %llu does not match the stream: donor "
            "sent %llu bytes in %llu frames, received %llu bytes in %llu frames%s",
            (unsigned long long)seq, (unsigned long long)at, (unsigned long long)total,
            (unsigned long long)frames, (unsigned long long)d->raw_total,
            (unsigned long long)d->data_frames,
            total == d->raw_total && frames == d->data_frames ? ", whole-stream SHA-256 differs" : "");
        return SST_NEXT_ERR;
    }
    d->ended = true;
    return SST_NEXT_END;
}
