/* replicator/repl_frag: large actions cut into group messages of bounded size and put together
 * again in total order. The rules are the same on every member, so they drop the same pieces. */
#include "replicator/repl_frag.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_buf.h"
#include "common/tr_fail.h"

void repl_frag_header(uint8_t hdr[REPL_FRAG_HDR], uint64_t act, uint64_t total, uint64_t offset)
{
    tr_put_u32(hdr, REPL_FRAG_MAGIC);
    hdr[4] = REPL_FRAG_VERSION;
    hdr[5] = 0;
    tr_put_u16(hdr + 6, 0);
    tr_put_u64(hdr + 8, act);
    tr_put_u64(hdr + 16, total);
    tr_put_u64(hdr + 24, offset);
}

void repl_defrag_init(struct repl_defrag *d, const tr_uuid *self)
{
    memset(d, 0, sizeof *d);
    d->self = *self;
    d->span_lo = d->span_hi = -1;
}

void repl_defrag_free(struct repl_defrag *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->slot[i].buf);
    free(d->slot);
    d->slot = NULL;
    d->n = d->cap = 0;
    d->held = 0;
}

static struct repl_frag_slot *find(struct repl_defrag *d, const tr_uuid *sender)
{
    for (size_t i = 0; i < d->n; i++)
        if (!tr_uuid_compare(&d->slot[i].sender, sender)) return &d->slot[i];
    return NULL;
}

static void drop(struct repl_defrag *d, struct repl_frag_slot *s)
{
    d->held -= s->got;
    free(s->buf);
    *s = d->slot[--d->n];
}

static void consumed(struct repl_defrag *d, int64_t gseq)
{
    if (d->span_lo < 0) d->span_lo = gseq;
    d->span_hi = gseq;
}

static void hand_out(struct repl_defrag *d, int64_t gseq, int64_t *first)
{
    *first = d->span_lo >= 0 ? d->span_lo : gseq;
    d->span_lo = d->span_hi = -1;
}

enum repl_defrag_rc repl_defrag_feed(struct repl_defrag *d, const tr_uuid *sender, int64_t gseq,
                                     const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen,
                                     int64_t *first)
{
    *out = NULL;
    *outlen = 0;
    if (len < 4 || tr_get_u32(buf) != REPL_FRAG_MAGIC) {
        hand_out(d, gseq, first);
        return REPL_DEFRAG_WHOLE;
    }
    consumed(d, gseq);
    if (len <= REPL_FRAG_HDR || buf[4] != REPL_FRAG_VERSION || buf[5] || tr_get_u16(buf + 6))
        return REPL_DEFRAG_DROPPED;
    uint64_t act = tr_get_u64(buf + 8), total = tr_get_u64(buf + 16), off = tr_get_u64(buf + 24);
    uint64_t n = len - REPL_FRAG_HDR;
    struct repl_frag_slot *s = find(d, sender);
    if (total > REPL_FRAG_MAX_TOTAL || off > total || n > total - off) {
        if (s) drop(d, s); /* its sender broke its own stream: what it started is nobody's */
        return REPL_DEFRAG_DROPPED;
    }
    if (off == 0) {
        /* a new action: one the sender left unfinished (its broadcast failed) is dropped */
        if (s) drop(d, s);
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 8;
            struct repl_frag_slot *ns = tr_fail_hit("frag.slot") ? NULL : realloc(d->slot, cap * sizeof *ns);
            if (!ns) return REPL_DEFRAG_NOMEM;
            d->slot = ns;
            d->cap = cap;
        }
        s = &d->slot[d->n++];
        *s = (struct repl_frag_slot){.sender = *sender, .act = act, .total = total};
    } else if (!s || s->act != act || s->total != total || s->got != off) {
        /* a piece whose start this member never took (dropped at a view, as everywhere) */
        if (s && s->act == act) drop(d, s);
        return REPL_DEFRAG_DROPPED;
    }
    if (s->got + n > s->cap) { /* memory grows with what arrives, never with what is announced */
        uint64_t cap = s->cap ? s->cap : 65536;
        while (cap < s->got + n) cap *= 2;
        if (cap > s->total) cap = s->total;
        uint8_t *nb = tr_fail_hit("frag.grow") ? NULL : realloc(s->buf, (size_t)cap);
        if (!nb) return REPL_DEFRAG_NOMEM;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->got, buf + REPL_FRAG_HDR, (size_t)n);
    s->got += n;
    d->held += n;
    if (s->got < s->total) return REPL_DEFRAG_MORE;
    *out = s->buf;
    *outlen = (size_t)s->total;
    s->buf = NULL;
    s->got = 0; /* handed out: held no more */
    d->held -= s->total;
    drop(d, s);
    hand_out(d, gseq, first);
    return REPL_DEFRAG_DONE;
}

void repl_defrag_view(struct repl_defrag *d, int64_t *lo, int64_t *hi, uint8_t **own, size_t *ownlen)
{
    *lo = d->span_lo;
    *hi = d->span_hi;
    d->span_lo = d->span_hi = -1;
    *own = NULL;
    *ownlen = 0;
    while (d->n) {
        struct repl_frag_slot *s = &d->slot[d->n - 1];
        if (!*own && !tr_uuid_compare(&s->sender, &d->self)) {
            *own = s->buf;
            *ownlen = (size_t)s->got;
            s->buf = NULL;
        }
        drop(d, s);
    }
}
