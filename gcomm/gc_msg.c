/* gcomm/gc_msg: encode and decode every gcomm protocol message.
 * Arrays inside STATE/START are sized from the count only after checking the bytes exist. */
#include "gcomm/gc_msg.h"

#include <stdlib.h>
#include <string.h>

#define ENTRY_MIN_BYTES (16 + 8 + 8 + 4)
#define DEDUP_BYTES (16 + 8 + 8)

const char *gc_msg_type_name(uint8_t t)
{
    static const char *names[] = {"?", "HELLO", "HB", "ECHO", "DATA", "ORDER", "ACK",
                                  "GATHER", "STATE", "START", "LEAVE", "FC", "FRAG", "DELAYED", "EVICTED"};
    return t < GC_MSG_MAX_ ? names[t] : "?";
}

static void enc_entry(gc_wbuf *w, const gc_entry_ref *e)
{
    gc_w_uuid(w, &e->sender);
    gc_w_u64(w, e->sender_inc);
    gc_w_u64(w, e->sender_seq);
    gc_w_blob(w, e->data, e->len);
}

static void dec_entry(gc_rbuf *r, gc_entry_ref *e)
{
    gc_r_uuid(r, &e->sender);
    e->sender_inc = gc_r_u64(r);
    e->sender_seq = gc_r_count(r);
    e->data = gc_r_blob(r, &e->len);
}

static void enc_dedup(gc_wbuf *w, uint32_t n, const gc_dedup *d)
{
    gc_w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) {
        gc_w_uuid(w, &d[i].sender);
        gc_w_u64(w, d[i].inc);
        gc_w_u64(w, d[i].seq);
    }
}

static gc_dedup *dec_dedup(gc_rbuf *r, uint32_t *n)
{
    *n = gc_r_u32(r);
    if (r->err || *n > gc_r_left(r) / DEDUP_BYTES) { r->err = true; *n = 0; return NULL; }
    gc_dedup *d = calloc(*n ? *n : 1, sizeof *d);
    if (!d) { r->err = true; *n = 0; return NULL; }
    for (uint32_t i = 0; i < *n; i++) {
        gc_r_uuid(r, &d[i].sender);
        d[i].inc = gc_r_u64(r);
        d[i].seq = gc_r_count(r);
    }
    return d;
}

static void enc_entries(gc_wbuf *w, uint32_t n, const gc_entry_ref *e)
{
    gc_w_u32(w, n);
    for (uint32_t i = 0; i < n; i++) enc_entry(w, &e[i]);
}

static gc_entry_ref *dec_entries(gc_rbuf *r, uint32_t *n)
{
    *n = gc_r_u32(r);
    if (r->err || *n > gc_r_left(r) / ENTRY_MIN_BYTES) { r->err = true; *n = 0; return NULL; }
    gc_entry_ref *e = calloc(*n ? *n : 1, sizeof *e);
    if (!e) { r->err = true; *n = 0; return NULL; }
    for (uint32_t i = 0; i < *n && !r->err; i++) dec_entry(r, &e[i]);
    return e;
}

static void enc_evict(gc_wbuf *w, const gc_evict_list *e)
{
    gc_w_u64(w, e->gen);
    gc_w_u8(w, e->n);
    for (int i = 0; i < e->n; i++) gc_w_uuid(w, &e->u[i]);
}

static void dec_evict(gc_rbuf *r, gc_evict_list *e)
{
    e->gen = gc_r_count(r);
    e->n = gc_r_u8(r);
    if (e->n > GC_EVICT_MAX) r->err = true;
    for (int i = 0; i < e->n && !r->err; i++) gc_r_uuid(r, &e->u[i]);
}

void gc_msg_encode(gc_wbuf *w, const gc_msg *m)
{
    gc_w_u8(w, m->type);
    switch (m->type) {
    case GC_MSG_HELLO:
        gc_w_u16(w, m->u.hello.version);
        gc_w_str(w, m->u.hello.group);
        gc_w_uuid(w, &m->u.hello.uuid);
        gc_w_u64(w, m->u.hello.inc);
        gc_w_str(w, m->u.hello.name);
        gc_w_str(w, m->u.hello.incoming);
        gc_w_str(w, m->u.hello.listen);
        gc_w_u8(w, m->u.hello.naddrs);
        for (int i = 0; i < m->u.hello.naddrs; i++) gc_w_str(w, m->u.hello.addrs[i]);
        break;
    case GC_MSG_HB:
        gc_w_u64(w, m->u.hb.ts);
        gc_w_u64(w, m->u.hb.promised);
        gc_w_u64(w, m->u.hb.epoch);
        gc_w_u8(w, m->u.hb.state);
        gc_w_u8(w, m->u.hb.fc);
        gc_w_u8(w, m->u.hb.weight);
        gc_w_u64(w, m->u.hb.ack);
        gc_w_u64(w, m->u.hb.bulk);
        gc_w_u8(w, m->u.hb.nsusp);
        for (int i = 0; i < m->u.hb.nsusp; i++) gc_w_uuid(w, &m->u.hb.susp[i]);
        break;
    case GC_MSG_ECHO:
        gc_w_u64(w, m->u.echo.ts);
        gc_w_u64(w, m->u.echo.epoch);
        gc_w_u8(w, m->u.echo.supporting);
        break;
    case GC_MSG_DATA:
        gc_w_u64(w, m->u.data.epoch);
        gc_w_u64(w, m->u.data.seq);
        gc_w_u64(w, m->u.data.base);
        gc_w_blob(w, m->u.data.data, m->u.data.len);
        break;
    case GC_MSG_ORDER:
        gc_w_u64(w, m->u.order.epoch);
        gc_w_u64(w, m->u.order.seqno);
        enc_entry(w, &m->u.order.e);
        break;
    case GC_MSG_ACK:
        gc_w_u64(w, m->u.ack.epoch);
        gc_w_u64(w, m->u.ack.seqno);
        break;
    case GC_MSG_GATHER:
        gc_w_u64(w, m->u.gather.epoch);
        gc_w_u8(w, m->u.gather.flags);
        gc_w_u64(w, m->u.gather.first);
        gc_w_u8(w, m->u.gather.nsenders);
        for (int i = 0; i < m->u.gather.nsenders; i++) {
            gc_w_uuid(w, &m->u.gather.senders[i].uuid);
            gc_w_u64(w, m->u.gather.senders[i].inc);
        }
        gc_w_u32(w, m->u.gather.n);
        gc_w_bytes(w, m->u.gather.names, (size_t)m->u.gather.n * GC_NAME_BYTES);
        break;
    case GC_MSG_STATE:
        gc_w_u64(w, m->u.state.epoch);
        gc_w_u64(w, m->u.state.inc);
        gc_w_str(w, m->u.state.name);
        gc_w_str(w, m->u.state.incoming);
        gc_w_u8(w, m->u.state.weight);
        gc_w_u8(w, m->u.state.flags);
        if (m->u.state.flags & GC_STATE_HAS_PRIM) gc_view_encode(w, &m->u.state.prim);
        if (m->u.state.flags & GC_STATE_PENDING) {
            gc_w_u8(w, (uint8_t)m->u.state.njoint);
            for (uint32_t i = 0; i < m->u.state.njoint; i++) {
                gc_w_uuid(w, &m->u.state.joint[i].uuid);
                gc_w_u8(w, m->u.state.joint[i].weight);
                gc_w_u8(w, m->u.state.joint[i].left);
            }
        }
        if (m->u.state.flags & GC_STATE_HAS_ESTAB) gc_view_encode(w, &m->u.state.estab);
        gc_w_u64(w, m->u.state.stop_elapsed);
        gc_w_u8(w, m->u.state.nacked);
        for (int i = 0; i < m->u.state.nacked; i++) gc_w_u64(w, m->u.state.acked[i]);
        gc_w_u8(w, m->u.state.nheard);
        for (int i = 0; i < m->u.state.nheard; i++) {
            gc_w_uuid(w, &m->u.state.heard[i]);
            gc_w_u64(w, m->u.state.heard_ago[i]);
        }
        gc_w_u64(w, m->u.state.dv_epoch);
        gc_w_u64(w, m->u.state.lease_left);
        gc_w_u64(w, m->u.state.delivered);
        gc_w_u64(w, m->u.state.log_end);
        enc_dedup(w, m->u.state.ndedup, m->u.state.dedup);
        gc_w_u64(w, m->u.state.first);
        gc_w_u64(w, m->u.state.same_from);
        gc_w_u64(w, m->u.state.nsame);
        enc_entries(w, m->u.state.nentries, m->u.state.entries);
        enc_evict(w, &m->u.state.evict);
        break;
    case GC_MSG_START:
        gc_w_u64(w, m->u.start.epoch);
        gc_view_encode(w, &m->u.start.view);
        gc_w_u64(w, m->u.start.close);
        gc_w_u64(w, m->u.start.adopt_epoch);
        gc_w_u64(w, m->u.start.adopt_prev_epoch);
        gc_w_u8(w, m->u.start.flags);
        gc_w_u8(w, (uint8_t)m->u.start.njoint);
        for (uint32_t i = 0; i < m->u.start.njoint; i++) {
            gc_w_uuid(w, &m->u.start.joint[i].uuid);
            gc_w_u8(w, m->u.start.joint[i].weight);
            gc_w_u8(w, m->u.start.joint[i].left);
        }
        enc_dedup(w, m->u.start.ndedup, m->u.start.dedup);
        gc_w_u64(w, m->u.start.first);
        enc_entries(w, m->u.start.nentries, m->u.start.entries);
        gc_w_u8(w, (uint8_t)m->u.start.ngroups);
        for (uint32_t i = 0; i < m->u.start.ngroups; i++) {
            const gc_close_group *g = &m->u.start.groups[i];
            gc_w_u64(w, g->epoch);
            gc_w_u64(w, g->upto);
            gc_w_u64(w, g->first);
            enc_entries(w, g->nentries, g->entries);
        }
        enc_evict(w, &m->u.start.evict);
        break;
    case GC_MSG_DELAYED:
        gc_w_u8(w, m->u.delayed.n);
        for (int i = 0; i < m->u.delayed.n; i++) {
            gc_w_uuid(w, &m->u.delayed.uuid[i]);
            gc_w_u8(w, m->u.delayed.cnt[i]);
        }
        enc_evict(w, &m->u.delayed.evict);
        break;
    case GC_MSG_EVICTED:
        break;
    case GC_MSG_LEAVE:
        break;
    case GC_MSG_FC:
        gc_w_u8(w, m->u.fc.stop);
        break;
    case GC_MSG_FRAG:
        gc_w_u64(w, m->u.frag.total);
        gc_w_u64(w, m->u.frag.offset);
        gc_w_blob(w, m->u.frag.data, m->u.frag.len);
        break;
    default:
        break;
    }
}

int gc_msg_decode(const uint8_t *buf, size_t len, gc_msg *m)
{
    gc_rbuf rb, *r = &rb;
    gc_r_init(r, buf, len);
    memset(m, 0, sizeof *m);
    m->type = gc_r_u8(r);
    switch (m->type) {
    case GC_MSG_HELLO:
        m->u.hello.version = gc_r_u16(r);
        gc_r_str(r, m->u.hello.group, sizeof m->u.hello.group);
        gc_r_uuid(r, &m->u.hello.uuid);
        m->u.hello.inc = gc_r_u64(r);
        gc_r_str(r, m->u.hello.name, sizeof m->u.hello.name);
        gc_r_str(r, m->u.hello.incoming, sizeof m->u.hello.incoming);
        gc_r_str(r, m->u.hello.listen, sizeof m->u.hello.listen);
        m->u.hello.naddrs = gc_r_u8(r);
        if (m->u.hello.naddrs > GC_MAX_ADDRS) r->err = true;
        for (int i = 0; i < m->u.hello.naddrs && !r->err; i++)
            gc_r_str(r, m->u.hello.addrs[i], GC_ADDR_MAX);
        break;
    case GC_MSG_HB:
        m->u.hb.ts = gc_r_u64(r);
        m->u.hb.promised = gc_r_count(r);
        m->u.hb.epoch = gc_r_count(r);
        m->u.hb.state = gc_r_u8(r);
        m->u.hb.fc = gc_r_u8(r);
        m->u.hb.weight = gc_r_u8(r);
        m->u.hb.ack = gc_r_count(r);
        m->u.hb.bulk = gc_r_u64(r);
        m->u.hb.nsusp = gc_r_u8(r);
        if (m->u.hb.nsusp > GC_MAX_MEMBERS || m->u.hb.state > GC_ST_LEFT) r->err = true;
        for (int i = 0; i < m->u.hb.nsusp && !r->err; i++) gc_r_uuid(r, &m->u.hb.susp[i]);
        break;
    case GC_MSG_ECHO:
        m->u.echo.ts = gc_r_u64(r);
        m->u.echo.epoch = gc_r_count(r);
        m->u.echo.supporting = gc_r_u8(r);
        break;
    case GC_MSG_DATA:
        m->u.data.epoch = gc_r_count(r);
        m->u.data.seq = gc_r_count(r);
        m->u.data.base = gc_r_count(r);
        m->u.data.data = gc_r_blob(r, &m->u.data.len);
        break;
    case GC_MSG_ORDER:
        m->u.order.epoch = gc_r_count(r);
        m->u.order.seqno = gc_r_count(r);
        dec_entry(r, &m->u.order.e);
        break;
    case GC_MSG_ACK:
        m->u.ack.epoch = gc_r_count(r);
        m->u.ack.seqno = gc_r_count(r);
        break;
    case GC_MSG_GATHER:
        m->u.gather.epoch = gc_r_count(r);
        m->u.gather.flags = gc_r_u8(r);
        m->u.gather.first = gc_r_count(r);
        m->u.gather.nsenders = gc_r_u8(r); /* at most GC_GATHER_SENDERS */
        for (int i = 0; i < m->u.gather.nsenders && !r->err; i++) {
            gc_r_uuid(r, &m->u.gather.senders[i].uuid);
            m->u.gather.senders[i].inc = gc_r_u64(r);
        }
        m->u.gather.n = gc_r_u32(r);
        if (!r->err && m->u.gather.n > gc_r_left(r) / GC_NAME_BYTES) r->err = true;
        if (!r->err && m->u.gather.n && (m->u.gather.first == 0 || m->u.gather.first - 1 > UINT64_MAX - m->u.gather.n))
            r->err = true; /* the last name's seqno must not wrap */
        m->u.gather.names = r->err ? NULL : gc_r_bytes(r, (size_t)m->u.gather.n * GC_NAME_BYTES);
        for (uint32_t i = 0; i < m->u.gather.n && !r->err; i++)
            if (m->u.gather.names[(size_t)i * GC_NAME_BYTES] >= m->u.gather.nsenders) r->err = true;
        break;
    case GC_MSG_STATE:
        m->u.state.epoch = gc_r_count(r);
        m->u.state.inc = gc_r_u64(r);
        gc_r_str(r, m->u.state.name, sizeof m->u.state.name);
        gc_r_str(r, m->u.state.incoming, sizeof m->u.state.incoming);
        m->u.state.weight = gc_r_u8(r);
        m->u.state.flags = gc_r_u8(r);
        if (m->u.state.flags & ~127u) r->err = true;
        if ((m->u.state.flags & GC_STATE_PENDING) && !(m->u.state.flags & GC_STATE_HAS_PRIM)) r->err = true;
        if (!r->err && (m->u.state.flags & GC_STATE_HAS_PRIM)) gc_view_decode(r, &m->u.state.prim);
        if (!r->err && (m->u.state.flags & GC_STATE_PENDING)) {
            m->u.state.njoint = gc_r_u8(r);
            if (m->u.state.njoint > GC_MAX_JOINT) r->err = true;
            for (uint32_t i = 0; i < m->u.state.njoint && !r->err; i++) {
                gc_r_uuid(r, &m->u.state.joint[i].uuid);
                m->u.state.joint[i].weight = gc_r_u8(r);
                m->u.state.joint[i].left = gc_r_u8(r);
                if (m->u.state.joint[i].left > 3) r->err = true;
            }
        }
        if (!r->err && (m->u.state.flags & GC_STATE_HAS_ESTAB)) gc_view_decode(r, &m->u.state.estab);
        m->u.state.stop_elapsed = gc_r_u64(r);
        m->u.state.nacked = gc_r_u8(r);
        if (m->u.state.nacked > GC_ACKED_MAX) r->err = true;
        for (int i = 0; i < m->u.state.nacked && !r->err; i++) m->u.state.acked[i] = gc_r_count(r);
        m->u.state.nheard = gc_r_u8(r);
        if (m->u.state.nheard > GC_MAX_MEMBERS) r->err = true;
        for (int i = 0; i < m->u.state.nheard && !r->err; i++) {
            gc_r_uuid(r, &m->u.state.heard[i]);
            m->u.state.heard_ago[i] = gc_r_u64(r);
        }
        m->u.state.dv_epoch = gc_r_count(r);
        m->u.state.lease_left = gc_r_u64(r);
        m->u.state.delivered = gc_r_count(r);
        m->u.state.log_end = gc_r_count(r);
        if (!r->err) m->u.state.dedup = dec_dedup(r, &m->u.state.ndedup);
        m->u.state.first = gc_r_count(r);
        m->u.state.same_from = gc_r_count(r);
        m->u.state.nsame = gc_r_count(r);
        if (!r->err) m->u.state.entries = dec_entries(r, &m->u.state.nentries);
        if (!r->err) {
            /* the entries sent and those left out make up first..log_end, without wrapping */
            uint64_t first = m->u.state.first, nsame = m->u.state.nsame, count = nsame + m->u.state.nentries;
            if (nsame > UINT32_MAX) r->err = true;
            else if (count && (first == 0 || first - 1 > UINT64_MAX - count || first + count - 1 != m->u.state.log_end))
                r->err = true;
            else if (nsame && (m->u.state.same_from < first || m->u.state.same_from - first > count - nsame))
                r->err = true;
        }
        if (!r->err) dec_evict(r, &m->u.state.evict);
        break;
    case GC_MSG_START:
        m->u.start.epoch = gc_r_count(r);
        gc_view_decode(r, &m->u.start.view);
        m->u.start.close = gc_r_count(r);
        m->u.start.adopt_epoch = gc_r_count(r);
        m->u.start.adopt_prev_epoch = gc_r_count(r);
        m->u.start.flags = gc_r_u8(r);
        m->u.start.njoint = gc_r_u8(r);
        if (m->u.start.njoint > GC_MAX_JOINT) r->err = true;
        for (uint32_t i = 0; i < m->u.start.njoint && !r->err; i++) {
            gc_r_uuid(r, &m->u.start.joint[i].uuid);
            m->u.start.joint[i].weight = gc_r_u8(r);
            m->u.start.joint[i].left = gc_r_u8(r);
            if (m->u.start.joint[i].left > 3) r->err = true;
        }
        if (!r->err) m->u.start.dedup = dec_dedup(r, &m->u.start.ndedup);
        m->u.start.first = gc_r_count(r);
        if (!r->err) m->u.start.entries = dec_entries(r, &m->u.start.nentries);
        if (!r->err && m->u.start.nentries &&
            m->u.start.first + m->u.start.nentries - 1 != m->u.start.close)
            r->err = true;
        m->u.start.ngroups = gc_r_u8(r);
        if (m->u.start.ngroups > GC_MAX_MEMBERS) r->err = true;
        if (!r->err) {
            m->u.start.groups = calloc(m->u.start.ngroups ? m->u.start.ngroups : 1, sizeof *m->u.start.groups);
            if (!m->u.start.groups) r->err = true;
        }
        for (uint32_t i = 0; i < m->u.start.ngroups && !r->err; i++) {
            gc_close_group *g = &m->u.start.groups[i];
            g->epoch = gc_r_count(r);
            g->upto = gc_r_count(r);
            g->first = gc_r_count(r);
            if (!r->err) g->entries = dec_entries(r, &g->nentries);
            if (!r->err && g->nentries && g->first + g->nentries - 1 != g->upto) r->err = true;
        }
        if (!r->err) dec_evict(r, &m->u.start.evict);
        break;
    case GC_MSG_DELAYED:
        m->u.delayed.n = gc_r_u8(r);
        if (m->u.delayed.n > GC_MAX_MEMBERS) r->err = true;
        for (int i = 0; i < m->u.delayed.n && !r->err; i++) {
            gc_r_uuid(r, &m->u.delayed.uuid[i]);
            m->u.delayed.cnt[i] = gc_r_u8(r);
        }
        if (!r->err) dec_evict(r, &m->u.delayed.evict);
        break;
    case GC_MSG_EVICTED:
        break;
    case GC_MSG_LEAVE:
        break;
    case GC_MSG_FC:
        m->u.fc.stop = gc_r_u8(r);
        if (m->u.fc.stop > 1) r->err = true;
        break;
    case GC_MSG_FRAG:
        m->u.frag.total = gc_r_u64(r);
        m->u.frag.offset = gc_r_u64(r);
        m->u.frag.data = gc_r_blob(r, &m->u.frag.len);
        if (!r->err && (m->u.frag.offset > m->u.frag.total ||
                        m->u.frag.len > m->u.frag.total - m->u.frag.offset))
            r->err = true;
        break;
    default:
        r->err = true;
    }
    if (!r->err && gc_r_left(r) != 0) r->err = true; /* trailing bytes: not ours */
    if (r->err) {
        gc_msg_release(m);
        return -1;
    }
    return 0;
}

void gc_name_put(uint8_t *p, uint8_t sender, uint64_t seq)
{
    p[0] = sender;
    for (int i = 0; i < 8; i++) p[1 + i] = (uint8_t)(seq >> (8 * i));
}

void gc_name_get(const uint8_t *p, uint8_t *sender, uint64_t *seq)
{
    *sender = p[0];
    *seq = 0;
    for (int i = 0; i < 8; i++) *seq |= (uint64_t)p[1 + i] << (8 * i);
}

void gc_msg_release(gc_msg *m)
{
    if (m->type == GC_MSG_STATE) {
        free(m->u.state.dedup);
        free(m->u.state.entries);
        m->u.state.dedup = NULL;
        m->u.state.entries = NULL;
    } else if (m->type == GC_MSG_START) {
        free(m->u.start.dedup);
        free(m->u.start.entries);
        if (m->u.start.groups)
            for (uint32_t i = 0; i < m->u.start.ngroups; i++) free(m->u.start.groups[i].entries);
        free(m->u.start.groups);
        m->u.start.dedup = NULL;
        m->u.start.entries = NULL;
        m->u.start.groups = NULL;
    }
}
