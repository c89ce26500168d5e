/* replicator/repl_vrec: the stored form of a primary view (see repl_vrec.h): written in place
 * into the write-set store, read back by IST receivers and by the store's recovery. */
#include "replicator/repl_vrec.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_buf.h"
#include "common/tr_crc32c.h"
#include "common/tr_fail.h"

#define VREC_MAGIC 0x57565254u /* "TRVW" */
#define VREC_VERSION 1
#define VREC_HDR (4 + 1 + 8 + 2)

static size_t field_len(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    return n < max ? n : max - 1; /* the host's copy keeps a NUL */
}

static uint16_t members_of(const struct repl_view *v)
{
    int n = v->memb_num < 0 ? 0 : v->memb_num;
    return (uint16_t)(n > REPL_VREC_MAX_MEMBERS ? REPL_VREC_MAX_MEMBERS : n);
}

size_t repl_vrec_size(const struct repl_view *v)
{
    size_t size = VREC_HDR + 4;
    for (uint16_t i = 0; i < members_of(v); i++)
        size += 16 + 1 + field_len(v->members[i].name, REPL_NAME_LEN) + 2 +
                field_len(v->members[i].incoming, REPL_INCOMING_LEN);
    return size;
}

void repl_vrec_write(const struct repl_view *v, uint8_t *dst)
{
    uint8_t *p = dst;
    uint16_t n = members_of(v);
    tr_put_u32(p, VREC_MAGIC);
    p[4] = VREC_VERSION;
    tr_put_u64(p + 5, (uint64_t)v->view);
    tr_put_u16(p + 13, n);
    p += VREC_HDR;
    for (uint16_t i = 0; i < n; i++) {
        const struct repl_member *m = &v->members[i];
        size_t nl = field_len(m->name, REPL_NAME_LEN), il = field_len(m->incoming, REPL_INCOMING_LEN);
        memcpy(p, m->id.data, 16);
        p[16] = (uint8_t)nl;
        memcpy(p + 17, m->name, nl);
        p += 17 + nl;
        tr_put_u16(p, (uint16_t)il);
        memcpy(p + 2, m->incoming, il);
        p += 2 + il;
    }
    tr_put_u32(p, tr_crc32c(0, dst, (size_t)(p - dst)));
}

/* Walks the record; fills v's members when v is not NULL. -1 when it is not one whole record. */
static int walk(const uint8_t *b, size_t len, struct repl_view *v, int *members)
{
    if (len < VREC_HDR + 4 || tr_get_u32(b) != VREC_MAGIC || b[4] != VREC_VERSION) return -1;
    uint16_t n = tr_get_u16(b + 13);
    if (n > REPL_VREC_MAX_MEMBERS) return -1;
    size_t off = VREC_HDR, end = len - 4;
    for (uint16_t i = 0; i < n; i++) {
        if (end - off < 17) return -1;
        size_t nl = b[off + 16];
        if (nl >= REPL_NAME_LEN || end - off - 17 < nl + 2 || memchr(b + off + 17, 0, nl)) return -1;
        size_t il = tr_get_u16(b + off + 17 + nl);
        if (il >= REPL_INCOMING_LEN || end - off - 17 - nl - 2 < il || memchr(b + off + 19 + nl, 0, il)) return -1;
        if (v) {
            struct repl_member *m = &v->members[i];
            memcpy(m->id.data, b + off, 16);
            memcpy(m->name, b + off + 17, nl);
            memcpy(m->incoming, b + off + 17 + nl + 2, il);
        }
        off += 17 + nl + 2 + il;
    }
    /* the checksum last: a fuzzer reaches the walk without forging it */
    if (off != end || tr_get_u32(b + end) != tr_crc32c(0, b, end)) return -1;
    if (members) *members = n;
    return 0;
}

int repl_vrec_check(const uint8_t *b, size_t len, int *members)
{
    return walk(b, len, NULL, members);
}

struct repl_view *repl_vrec_decode(const uint8_t *b, size_t len, int64_t seqno)
{
    int n = 0;
    if (walk(b, len, NULL, &n)) return NULL;
    struct repl_view *v = tr_fail_hit("vrec.decode") ? NULL : calloc(1, repl_view_size(n));
    if (!v) return NULL;
    walk(b, len, v, NULL);
    v->state_id.seqno = seqno;
    v->view = (int64_t)tr_get_u64(b + 5);
    v->status = REPL_VIEW_PRIMARY;
    v->my_idx = -1;
    v->memb_num = n;
    return v;
}
