/* gcomm/gc_log: the ordered log (a ring indexed by seqno), the pooled payload buffers of its
 * entries and of pending messages, and the per-sender dedup table. */
#include "gcomm/gc_core_int.h"

#include <stdlib.h>
#include <string.h>

/* ---------- payload buffers ---------- */

static int pool_class(size_t len)
{
    if (len < (1u << POOL_MIN_SHIFT)) return -1;
    int k = 0;
    while (k < POOL_CLASSES && ((size_t)1 << (POOL_MIN_SHIFT + k)) < len) k++;
    return k < POOL_CLASSES ? k : -1;
}

/* A buffer of at least len bytes; give it back with gc_buf_put(c, p, len) and the same len. */
uint8_t *gc_buf_get(gc_core *c, size_t len)
{
    int k = pool_class(len);
    if (k < 0) return malloc(len ? len : 1);
    if (c->pool[k].n) {
        c->pool_bytes -= (size_t)1 << (POOL_MIN_SHIFT + k);
        return c->pool[k].b[--c->pool[k].n];
    }
    return malloc((size_t)1 << (POOL_MIN_SHIFT + k));
}

uint8_t *gc_buf_reasm_alloc(void *ctx, size_t len) { return gc_buf_get(ctx, len); }

void gc_buf_put(gc_core *c, uint8_t *p, size_t len)
{
    int k = pool_class(len);
    size_t sz = k < 0 ? 0 : (size_t)1 << (POOL_MIN_SHIFT + k);
    if (!p || k < 0 || c->pool[k].n == POOL_PER_CLASS || c->pool_bytes + sz > POOL_MAX_BYTES) {
        free(p);
        return;
    }
    c->pool[k].b[c->pool[k].n++] = p;
    c->pool_bytes += sz;
}

/* ---------- log ---------- */

struct entry *gc_log_at(gc_core *c, uint64_t seqno)
{
    if (seqno < c->log_first || seqno > gc_log_end(c) || c->log_n == 0) return NULL;
    return &c->log[(c->log_head + (seqno - c->log_first)) % c->log_cap];
}

int gc_log_append(gc_core *c, const gc_entry_ref *e)
{
    if (c->log_n == c->log_cap) {
        size_t ncap = c->log_cap ? c->log_cap * 2 : 64;
        struct entry *nl = malloc(ncap * sizeof *nl);
        if (!nl) return -1;
        for (size_t i = 0; i < c->log_n; i++) nl[i] = c->log[(c->log_head + i) % c->log_cap];
        free(c->log);
        c->log = nl;
        c->log_cap = ncap;
        c->log_head = 0;
    }
    struct entry *d = &c->log[(c->log_head + c->log_n) % c->log_cap];
    d->sender = e->sender;
    d->inc = e->sender_inc;
    d->seq = e->sender_seq;
    d->len = e->len;
    d->data = gc_buf_get(c, e->len);
    if (!d->data) return -1;
    if (e->len) memcpy(d->data, e->data, e->len);
    c->log_n++;
    c->log_bytes += e->len;
    return 0;
}

void gc_log_trim_front(gc_core *c, uint64_t upto)
{
    while (c->log_n && c->log_first <= upto) {
        gc_buf_put(c, c->log[c->log_head].data, c->log[c->log_head].len);
        c->log_bytes -= c->log[c->log_head].len;
        c->log_head = (c->log_head + 1) % c->log_cap;
        c->log_n--;
        c->log_first++;
    }
}

void gc_log_truncate_back(gc_core *c, uint64_t keep_upto)
{
    while (c->log_n && gc_log_end(c) > keep_upto) {
        struct entry *e = &c->log[(c->log_head + c->log_n - 1) % c->log_cap];
        gc_buf_put(c, e->data, e->len);
        c->log_bytes -= e->len;
        c->log_n--;
    }
}

void gc_log_reset(gc_core *c, uint64_t first)
{
    gc_log_trim_front(c, NEVER - 1);
    c->log_first = first;
    c->log_head = 0;
}

/* ---------- dedup ---------- */

gc_dedup *gc_dedup_find(gc_core *c, const tr_uuid *u, uint64_t inc, bool create)
{
    for (uint32_t i = 0; i < c->ndedup; i++)
        if (c->dedup[i].inc == inc && !tr_uuid_compare(&c->dedup[i].sender, u)) return &c->dedup[i];
    if (!create) return NULL;
    if (c->ndedup == MAX_DEDUP) { /* drop the oldest; senders not in the view no longer matter */
        memmove(c->dedup, c->dedup + 1, (MAX_DEDUP - 1) * sizeof c->dedup[0]);
        c->ndedup--;
    }
    gc_dedup *d = &c->dedup[c->ndedup++];
    d->sender = *u;
    d->inc = inc;
    d->seq = 0;
    return d;
}

void gc_dedup_note(gc_core *c, const tr_uuid *u, uint64_t inc, uint64_t seq)
{
    gc_dedup *d = gc_dedup_find(c, u, inc, true);
    if (seq > d->seq) d->seq = seq;
}
