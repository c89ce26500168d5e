/* replicator/repl_msg: encoding and decoding of control messages.
 * Every length is checked before it is used: these bytes come from the network. */
#include "replicator/repl_msg.h"

#include "replicator/repl_fsm.h"

#include <string.h>

#define HDR 8 /* magic, type, version, reserved */

static void put_hdr(uint8_t *p, int type)
{
    tr_put_u32(p, REPL_MSG_MAGIC);
    p[4] = (uint8_t)type;
    p[5] = REPL_MSG_VERSION;
    tr_put_u16(p + 6, 0);
}

/* Magic, this type, this version, zero reserved: anything else is not ours to read. */
static bool hdr_ok(const uint8_t *buf, size_t len, int type)
{
    return repl_msg_is_control(buf, len) && buf[4] == type && buf[5] == REPL_MSG_VERSION &&
           tr_get_u16(buf + 6) == 0;
}

bool repl_msg_is_control(const uint8_t *buf, size_t len)
{
    return len >= HDR && tr_get_u32(buf) == REPL_MSG_MAGIC;
}

static int put_str(struct tr_buf *b, const char *s, size_t cap)
{
    size_t len = strnlen(s, cap);
    uint8_t l[2];
    tr_put_u16(l, (uint16_t)len);
    return tr_buf_append(b, l, 2) || tr_buf_append(b, s, len);
}

int repl_msg_state_encode(const struct repl_msg_state *m, struct tr_buf *out)
{
    uint8_t h[HDR + 8 + 16 + 16 + 8 + 1 + 1 + 2 + 16 + 16 + 24];
    uint8_t *p = h;
    put_hdr(p, REPL_MSG_STATE);
    p += HDR;
    tr_put_u64(p, (uint64_t)m->conf_id), p += 8;
    memcpy(p, m->node.data, 16), p += 16;
    memcpy(p, m->group.data, 16), p += 16;
    tr_put_u64(p, (uint64_t)m->seqno), p += 8;
    bool own = m->own_seqno > 0;
    if (m->has_cached && m->cached < 0) return -1;
    if (m->nvotes > REPL_MSG_MAX_VOTES) return -1;
    *p++ = (uint8_t)((m->prim ? 1 : 0) | (m->served ? 2 : 0) | (m->catching_up ? 4 : 0) |
                     (m->bootstrap ? 8 : 0) | (m->arbitrator ? 16 : 0) | (own ? 32 : 0) |
                     (m->has_cached ? 64 : 0) | (m->nvotes ? 128 : 0));
    *p++ = m->state;
    tr_put_u16(p, m->proto_app), p += 2;
    memcpy(p, m->proposal.data, 16), p += 16;
    memcpy(p, m->ghist.data, 16), p += 16;
    tr_put_u64(p, (uint64_t)m->lo), p += 8;
    tr_put_u64(p, (uint64_t)m->gl), p += 8;
    tr_put_u64(p, (uint64_t)m->gend), p += 8;
    if (m->lo_n > REPL_MSG_MAX_MEMBERS) return -1;
    uint8_t cnt[2];
    tr_put_u16(cnt, m->lo_n);
    if (tr_buf_append(out, h, sizeof h) || tr_buf_append(out, cnt, 2) ||
        tr_buf_append(out, m->lo_memb, 16u * m->lo_n))
        return -1;
    for (int i = 0; i < m->lo_n; i++)
        if (put_str(out, m->lo_names[i], sizeof m->lo_names[i])) return -1;
    if (put_str(out, m->name, sizeof m->name)) return -1;
    if (put_str(out, m->incoming, sizeof m->incoming)) return -1;
    if (m->served) {
        uint8_t sv[16 + 16 + 8];
        memcpy(sv, m->served_by.data, 16);
        memcpy(sv + 16, m->served_hist.data, 16);
        tr_put_u64(sv + 32, (uint64_t)m->served_at);
        if (tr_buf_append(out, sv, sizeof sv)) return -1;
    }
    if (own) {
        uint8_t o[8];
        tr_put_u64(o, (uint64_t)m->own_seqno);
        if (tr_buf_append(out, o, sizeof o)) return -1;
    }
    if (m->has_cached) {
        uint8_t o[8];
        tr_put_u64(o, (uint64_t)m->cached);
        if (tr_buf_append(out, o, sizeof o)) return -1;
    }
    if (m->nvotes) {
        uint8_t v[1 + 16 * REPL_MSG_MAX_VOTES];
        v[0] = m->nvotes;
        for (int i = 0; i < m->nvotes; i++) {
            if (m->vote_seqno[i] < 1 || m->vote_at[i] < m->vote_seqno[i]) return -1;
            tr_put_u64(v + 1 + 16 * i, (uint64_t)m->vote_seqno[i]);
            tr_put_u64(v + 9 + 16 * i, (uint64_t)m->vote_at[i]);
        }
        if (tr_buf_append(out, v, 1 + 16u * m->nvotes)) return -1;
    }
    return 0;
}

static int get_str(const uint8_t **p, const uint8_t *end, char *dst, size_t cap)
{
    if (end - *p < 2) return -1;
    size_t len = tr_get_u16(*p);
    *p += 2;
    if ((size_t)(end - *p) < len || len >= cap || memchr(*p, 0, len)) return -1;
    memcpy(dst, *p, len);
    dst[len] = '\0';
    *p += len;
    return 0;
}

int repl_msg_state_decode(const uint8_t *buf, size_t len, struct repl_msg_state *m)
{
    const size_t fixed = HDR + 8 + 16 + 16 + 8 + 1 + 1 + 2 + 16 + 16 + 24;
    if (len < fixed || !hdr_ok(buf, len, REPL_MSG_STATE)) return -1;
    memset(m, 0, sizeof *m);
    const uint8_t *p = buf + HDR, *end = buf + len;
    m->conf_id = (int64_t)tr_get_u64(p), p += 8;
    memcpy(m->node.data, p, 16), p += 16;
    memcpy(m->group.data, p, 16), p += 16;
    m->seqno = (int64_t)tr_get_u64(p), p += 8;
    bool own = (*p & 32) != 0, votes = (*p & 128) != 0;
    m->has_cached = (*p & 64) != 0;
    m->prim = (*p & 1) != 0;
    m->served = (*p & 2) != 0;
    m->catching_up = (*p & 4) != 0;
    m->bootstrap = (*p & 8) != 0;
    m->arbitrator = (*p++ & 16) != 0;
    m->state = *p++;
    if (m->state >= REPL_S_COUNT) return -1;
    m->proto_app = tr_get_u16(p), p += 2;
    memcpy(m->proposal.data, p, 16), p += 16;
    memcpy(m->ghist.data, p, 16), p += 16;
    m->lo = (int64_t)tr_get_u64(p), p += 8;
    m->gl = (int64_t)tr_get_u64(p), p += 8;
    m->gend = (int64_t)tr_get_u64(p), p += 8;
    if (m->seqno < -1 || m->lo < 0 || m->gl < -1 || m->gend < -1) return -1;
    if (end - p < 2) return -1;
    m->lo_n = tr_get_u16(p), p += 2;
    if (m->lo_n > REPL_MSG_MAX_MEMBERS || (size_t)(end - p) < 16u * m->lo_n) return -1;
    memcpy(m->lo_memb, p, 16u * m->lo_n), p += 16u * m->lo_n;
    for (int i = 0; i < m->lo_n; i++)
        if (get_str(&p, end, m->lo_names[i], sizeof m->lo_names[i])) return -1;
    if (get_str(&p, end, m->name, sizeof m->name)) return -1;
    if (get_str(&p, end, m->incoming, sizeof m->incoming)) return -1;
    if (m->served) {
        if (end - p < 16 + 16 + 8) return -1;
        memcpy(m->served_by.data, p, 16), p += 16;
        memcpy(m->served_hist.data, p, 16), p += 16;
        m->served_at = (int64_t)tr_get_u64(p), p += 8;
        if (m->served_at < 0) return -1;
    }
    if (own) {
        if (end - p < 8) return -1;
        m->own_seqno = (int64_t)tr_get_u64(p), p += 8;
        if (m->own_seqno <= 0) return -1;
    }
    if (m->has_cached) {
        if (end - p < 8) return -1;
        m->cached = (int64_t)tr_get_u64(p), p += 8;
        if (m->cached < 0) return -1;
    }
    if (votes) {
        if (end - p < 1 || *p < 1 || *p > REPL_MSG_MAX_VOTES || end - p - 1 < 16 * *p) return -1;
        m->nvotes = *p++;
        for (int i = 0; i < m->nvotes; i++) {
            m->vote_seqno[i] = (int64_t)tr_get_u64(p), p += 8;
            m->vote_at[i] = (int64_t)tr_get_u64(p), p += 8;
            if (m->vote_seqno[i] < 1 || m->vote_at[i] < m->vote_seqno[i]) return -1;
        }
    }
    return p == end ? 0 : -1;
}

int repl_msg_last_encode(const struct repl_msg_last *m, struct tr_buf *out)
{
    uint8_t h[HDR + 16 + 8];
    put_hdr(h, REPL_MSG_LAST);
    memcpy(h + HDR, m->node.data, 16);
    tr_put_u64(h + HDR + 16, (uint64_t)m->seqno);
    return tr_buf_append(out, h, sizeof h);
}

int repl_msg_last_decode(const uint8_t *buf, size_t len, struct repl_msg_last *m)
{
    if (len != HDR + 16 + 8 || !hdr_ok(buf, len, REPL_MSG_LAST)) return -1;
    memcpy(m->node.data, buf + HDR, 16);
    m->seqno = (int64_t)tr_get_u64(buf + HDR + 16);
    return m->seqno < -1 ? -1 : 0;
}

int repl_msg_causal_encode(const struct repl_msg_causal *m, struct tr_buf *out)
{
    uint8_t h[HDR + 16 + 8];
    put_hdr(h, REPL_MSG_CAUSAL);
    memcpy(h + HDR, m->node.data, 16);
    tr_put_u64(h + HDR + 16, m->id);
    return tr_buf_append(out, h, sizeof h);
}

int repl_msg_causal_decode(const uint8_t *buf, size_t len, struct repl_msg_causal *m)
{
    if (len != HDR + 16 + 8 || !hdr_ok(buf, len, REPL_MSG_CAUSAL)) return -1;
    memcpy(m->node.data, buf + HDR, 16);
    m->id = tr_get_u64(buf + HDR + 16);
    return 0;
}

int repl_msg_str_encode(const struct repl_msg_str *m, struct tr_buf *out)
{
    if (m->req_len > REPL_STR_REQ_MAX) return -1;
    uint8_t h[HDR + 16 + 16 + 8 + 4];
    uint8_t *p = h;
    put_hdr(p, REPL_MSG_STR);
    p += HDR;
    memcpy(p, m->node.data, 16), p += 16;
    memcpy(p, m->position.uuid.data, 16), p += 16;
    tr_put_u64(p, (uint64_t)m->position.seqno), p += 8;
    tr_put_u32(p, m->req_len);
    if (tr_buf_append(out, h, sizeof h) || tr_buf_append(out, m->req, m->req_len)) return -1;
    uint8_t u[16];
    tr_put_u64(u, (uint64_t)m->ist_upto);
    tr_put_u64(u + 8, m->ist_token);
    return put_str(out, m->donors, sizeof m->donors) ||
           put_str(out, m->ist_addr, sizeof m->ist_addr) || tr_buf_append(out, u, 16);
}

int repl_msg_str_decode(const uint8_t *buf, size_t len, struct repl_msg_str *m)
{
    const size_t fixed = HDR + 16 + 16 + 8 + 4;
    if (len < fixed || !hdr_ok(buf, len, REPL_MSG_STR)) return -1;
    memset(m, 0, sizeof *m);
    const uint8_t *p = buf + HDR, *end = buf + len;
    memcpy(m->node.data, p, 16), p += 16;
    memcpy(m->position.uuid.data, p, 16), p += 16;
    m->position.seqno = (int64_t)tr_get_u64(p), p += 8;
    m->req_len = tr_get_u32(p), p += 4;
    if (m->position.seqno < -1 || m->req_len > REPL_STR_REQ_MAX ||
        (size_t)(end - p) < m->req_len)
        return -1;
    m->req = p;
    p += m->req_len;
    if (get_str(&p, end, m->donors, sizeof m->donors)) return -1;
    if (get_str(&p, end, m->ist_addr, sizeof m->ist_addr) || end - p != 16) return -1;
    m->ist_upto = (int64_t)tr_get_u64(p);
    m->ist_token = tr_get_u64(p + 8);
    return m->ist_upto < -1 ? -1 : 0;
}

int repl_msg_join_encode(int type, const struct repl_msg_join *m, struct tr_buf *out)
{
    uint8_t h[HDR + 16 + 8 + 4 + 8];
    put_hdr(h, type);
    memcpy(h + HDR, m->node.data, 16);
    tr_put_u64(h + HDR + 16, (uint64_t)m->seqno);
    tr_put_u32(h + HDR + 24, (uint32_t)m->status);
    tr_put_u64(h + HDR + 28, (uint64_t)m->cached);
    return tr_buf_append(out, h, sizeof h);
}

int repl_msg_join_decode(int type, const uint8_t *buf, size_t len, struct repl_msg_join *m)
{
    if (len != HDR + 16 + 8 + 4 + 8 || !hdr_ok(buf, len, type)) return -1;
    memcpy(m->node.data, buf + HDR, 16);
    m->seqno = (int64_t)tr_get_u64(buf + HDR + 16);
    m->status = (int32_t)tr_get_u32(buf + HDR + 24);
    m->cached = (int64_t)tr_get_u64(buf + HDR + 28);
    return m->seqno < -1 || m->status > 0 || m->cached < -1 ? -1 : 0;
}

int repl_msg_vote_encode(const struct repl_msg_vote *m, struct tr_buf *out)
{
    uint8_t h[HDR + 16 + 8 + 8];
    put_hdr(h, REPL_MSG_VOTE);
    memcpy(h + HDR, m->node.data, 16);
    tr_put_u64(h + HDR + 16, (uint64_t)m->seqno);
    tr_put_u64(h + HDR + 24, m->code);
    return tr_buf_append(out, h, sizeof h);
}

int repl_msg_vote_decode(const uint8_t *buf, size_t len, struct repl_msg_vote *m)
{
    if (len != HDR + 16 + 8 + 8 || !hdr_ok(buf, len, REPL_MSG_VOTE)) return -1;
    memcpy(m->node.data, buf + HDR, 16);
    m->seqno = (int64_t)tr_get_u64(buf + HDR + 16);
    m->code = tr_get_u64(buf + HDR + 24);
    return m->seqno < 1 ? -1 : 0;
}
