/* tests/unit/check_repl_core: repl_core_step on a few nodes over a perfect total order (every
 * broadcast reaches every member, in one order): joins, purge bounds and flow control. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_index.h"
#include "certification/cert_keys.h"
#include "certification/cert_ws.h"
#include "common/tr_log.h"
#include "replicator/repl_core.h"
#include "replicator/repl_istdeps.h"
#include "replicator/repl_msg.h"
#include "replicator/repl_vrec.h"

static void quiet(enum tr_log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

#define MAXN 3
#define HIST 0xE0

struct tmsg {
    tr_uuid sender;
    uint8_t *buf;
    size_t len;
    struct tmsg *next;
};

struct tnode {
    struct repl_core *c;
    tr_uuid id;
    bool member;          /* in the current view */
    struct repl_acts log; /* every action but BROADCAST and FC, in order */
    int fc_stops, fc_resumes;
    int fc_stop_exempt;   /* stops asked while donor or desynced */
    int64_t last_report;  /* the seqno of its last LAST message, -2 for none */
};

static struct tnode N[MAXN];
static struct tmsg *qhead, *qtail;
static int64_t gseq;
static int64_t conf;

static tr_uuid U(int n)
{
    tr_uuid u = tr_uuid_nil;
    u.data[0] = (uint8_t)n;
    u.data[15] = 0x77;
    return u;
}

static void enqueue(const tr_uuid *sender, const void *buf, size_t len)
{
    struct tmsg *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->sender = *sender;
    m->buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(m->buf);
    memcpy(m->buf, buf, len);
    m->len = len;
    if (qtail)
        qtail->next = m;
    else
        qhead = m;
    qtail = m;
}

static int step(int i, struct repl_ev *ev)
{
    struct tnode *n = &N[i];
    struct repl_acts out = {0};
    int rc = repl_core_step(n->c, ev, &out);
    ck_assert(!out.oom);
    struct repl_core_info in;
    repl_core_info(n->c, &in);
    bool exempt = in.state == REPL_S_DONOR || in.desync_count > 0;
    for (size_t k = 0; k < out.n; k++) {
        struct repl_act *a = &out.a[k];
        if (a->kind == REPL_ACT_BROADCAST) {
            if (repl_msg_type(a->msg.ptr) == REPL_MSG_LAST) {
                struct repl_msg_last l;
                ck_assert_int_eq(repl_msg_last_decode(a->msg.ptr, a->msg.len, &l), 0);
                n->last_report = l.seqno;
            }
            enqueue(&n->id, a->msg.ptr, a->msg.len);
            repl_act_release(a);
        } else if (a->kind == REPL_ACT_FC) {
            if (a->stop) {
                n->fc_stops++;
                n->fc_stop_exempt += exempt;
            } else {
                n->fc_resumes++;
            }
            repl_act_release(a);
        } else {
            ck_assert_int_eq(repl_acts_push(&n->log, a), 0);
        }
    }
    free(out.a);
    return rc;
}

/* Delivers everything broadcast so far (and what that causes) to the members. */
static void deliver(void)
{
    while (qhead) {
        struct tmsg *m = qhead;
        qhead = m->next;
        if (!qhead) qtail = NULL;
        gseq++;
        for (int i = 0; i < MAXN; i++) {
            if (!N[i].c || !N[i].member) continue;
            struct repl_ev ev = {.kind = REPL_EV_MSG, .sender = m->sender, .seqno = gseq};
            uint8_t *copy = malloc(m->len);
            ck_assert_ptr_nonnull(copy);
            memcpy(copy, m->buf, m->len);
            if (repl_msg_is_control(copy, m->len)) {
                ev.buf = copy;
                ev.len = m->len;
            } else {
                ev.ws = repl_ws_new(copy, m->len);
                ck_assert_ptr_nonnull(ev.ws);
                repl_ws_decode(ev.ws, CERT_WS_MAX_SIZE);
            }
            step(i, &ev);
        }
        free(m->buf);
        free(m);
    }
}

/* A primary view of the nodes in `mask`, in index order. */
static void view(unsigned mask)
{
    struct repl_member mb[MAXN];
    int n = 0, idx[MAXN] = {0};
    memset(mb, 0, sizeof mb);
    conf++;
    for (int i = 0; i < MAXN; i++) {
        N[i].member = mask >> i & 1;
        if (!N[i].member) continue;
        idx[i] = n;
        mb[n].id = N[i].id;
        snprintf(mb[n].name, sizeof mb[n].name, "n%d", i + 1);
        n++;
    }
    for (int i = 0; i < MAXN; i++) {
        if (!N[i].member) continue;
        struct repl_gview gv = {.primary = true, .conf_id = conf, .history = U(HIST),
                                .close = gseq, .my_idx = idx[i], .memb_num = n, .members = mb};
        struct repl_ev ev = {.kind = REPL_EV_VIEW, .view = &gv};
        step(i, &ev);
    }
}

/* Node i starts and connects, holding `at` (NULL: nothing), as grastate.dat says after a stop. */
static int64_t held_mem_max; /* for the nodes started next; 0: the default */
static int64_t gcache_size;  /* for the nodes started next; 0: 1 MiB */
static struct repl_gcache *store_of[MAXN]; /* a node's store, to look into (NULL: its own) */

static void start_at(int i, const tr_gtid *at)
{
    struct repl_core_cfg cfg = {.proto_ver = 4, .capabilities = 0x7f,
                                .gcache_size = gcache_size ? gcache_size : 1 << 20,
                                .max_ws_raw = CERT_WS_MAX_SIZE, .held_mem_max = held_mem_max,
                                .gcache = store_of[i]};
    cfg.self = N[i].id = U(i + 1);
    snprintf(cfg.name, sizeof cfg.name, "n%d", i + 1);
    snprintf(cfg.incoming, sizeof cfg.incoming, "127.0.0.%d:3306", i + 1);
    tr_gtid pos = {tr_uuid_nil, -1};
    if (at) pos = *at;
    N[i].c = repl_core_new(&cfg, &pos, true, NULL);
    ck_assert_ptr_nonnull(N[i].c);
    char ist[32];
    snprintf(ist, sizeof ist, "127.0.0.%d:4568", i + 1);
    repl_core_set_ist_addr(N[i].c, ist);
    N[i].last_report = -2;
    struct repl_ev ev = {.kind = REPL_EV_CONNECT, .bootstrap = i == 0, .proposal = U(0xB0 + i)};
    step(i, &ev);
}

static void start(int i)
{
    start_at(i, NULL);
}

/* What was broadcast and not delivered yet is lost. */
static void drop_queued(void)
{
    while (qhead) {
        struct tmsg *m = qhead;
        qhead = m->next;
        free(m->buf);
        free(m);
    }
    qtail = NULL;
}

static void setup(void)
{
    tr_log_set_sink(quiet);
    memset(N, 0, sizeof N);
    qhead = qtail = NULL;
    gseq = 0;
    conf = 0;
    held_mem_max = 0;
    gcache_size = 0;
}

static void teardown(void)
{
    /* actions first: an IST_SEND holds a pin on its core's store */
    for (int i = 0; i < MAXN; i++) repl_acts_free(&N[i].log);
    for (int i = 0; i < MAXN; i++)
        if (N[i].c) repl_core_free(N[i].c);
    for (int i = 0; i < MAXN; i++) {
        repl_gcache_free(store_of[i]);
        store_of[i] = NULL;
    }
    drop_queued();
}

static struct repl_core_info info(int i)
{
    struct repl_core_info in;
    repl_core_info(N[i].c, &in);
    return in;
}

/* The first logged action of that kind (and seqno, unless -2) on node i, or NULL. */
static struct repl_act *find(int i, enum repl_act_kind kind, int64_t seqno)
{
    for (size_t k = 0; k < N[i].log.n; k++) {
        struct repl_act *a = &N[i].log.a[k];
        if (a->kind == kind && (seqno == -2 || a->seqno == seqno)) return a;
    }
    return NULL;
}

/* Node i's verdict on seqno: 1 passed, 0 refused, -1 not decided (or held) yet. */
static int verdict(int i, int64_t seqno)
{
    for (size_t k = 0; k < N[i].log.n; k++) {
        struct repl_act *a = &N[i].log.a[k];
        if (a->seqno != seqno) continue;
        if (a->kind == REPL_ACT_APPLY || a->kind == REPL_ACT_LOCAL) return a->kind == REPL_ACT_APPLY || a->ok;
        if (a->kind == REPL_ACT_SKIP) return a->ok;
    }
    return -1;
}

/* A write-set of node i with these flags on one row (none: no key), having seen last_seen;
 * trx 0 takes a new transaction id; a rollback fragment has no waiter (id 0). The bytes to
 * broadcast. */
static uint8_t *ws_flags_of(int i, char row, int64_t last_seen, uint32_t flags, uint64_t trx_id,
                            size_t *len, uint64_t *id)
{
    *id = 0;
    if (!(flags & REPL_F_ROLLBACK))
        ck_assert_int_eq(repl_core_local_begin(N[i].c, false, last_seen, id), 0);
    struct tr_buf keys = {0};
    char name = row;
    struct cert_key_part parts[3] = {{"db", 2}, {"t", 1}, {&name, 1}};
    uint32_t nkeys = row ? 3 : 0;
    if (row) {
        ck_assert_int_eq(cert_ws_key_append(&keys, CERT_KEY_SHARED, parts, 1), 0);
        ck_assert_int_eq(cert_ws_key_append(&keys, CERT_KEY_SHARED, parts, 2), 0);
        ck_assert_int_eq(cert_ws_key_append(&keys, CERT_KEY_EXCLUSIVE, parts, 3), 0);
    }
    static uint64_t trx;
    struct cert_ws_hdr hdr = {.flags = flags, .source = N[i].id,
                              .local_id = *id, .trx_id = trx_id ? trx_id : ++trx,
                              .last_seen = last_seen, .nkeys = nkeys,
                              .keys_len = (uint32_t)keys.len, .data_len = 4};
    struct cert_ws_enc enc;
    struct cert_ws_enc_opts eo = {0};
    ck_assert_int_eq(cert_ws_encode(&enc, &hdr, keys.ptr, keys.len, "data", 4, &eo), 0);
    *len = sizeof enc.hdr + enc.keys_len + enc.data_len;
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, enc.hdr, sizeof enc.hdr);
    if (enc.keys_len) memcpy(buf + sizeof enc.hdr, enc.keys, enc.keys_len); /* a rollback has none */
    memcpy(buf + sizeof enc.hdr + enc.keys_len, enc.data, enc.data_len);
    cert_ws_enc_free(&enc);
    tr_buf_free(&keys);
    return buf;
}

static uint8_t *ws_of(int i, char row, int64_t last_seen, size_t *len, uint64_t *id)
{
    return ws_flags_of(i, row, last_seen, REPL_F_TRX_START | REPL_F_TRX_END, 0, len, id);
}

/* Node i sends a fragment (or rollback fragment) of trx_id: delivered with the next deliver(). */
static void send_fragment(int i, char row, int64_t last_seen, uint32_t flags, uint64_t trx_id)
{
    size_t len;
    uint64_t id;
    uint8_t *buf = ws_flags_of(i, row, last_seen, flags, trx_id, &len, &id);
    enqueue(&N[i].id, buf, len);
    free(buf);
}

/* Node i writes row, having seen last_seen: broadcast now, delivered with the next deliver(). */
static uint64_t write_row(int i, char row, int64_t last_seen)
{
    size_t len;
    uint64_t id;
    uint8_t *buf = ws_of(i, row, last_seen, &len, &id);
    enqueue(&N[i].id, buf, len);
    free(buf);
    return id;
}

/* n1 and n2 form a new group together; both Synced at seqno 1 (the view). */
static void two_node_group(void)
{
    start(0);
    start(1);
    view(3);
    deliver();
    for (int i = 0; i < 2; i++) {
        struct repl_core_info in = info(i);
        ck_assert_int_eq(in.state, REPL_S_SYNCED);
        ck_assert(in.primary && in.writable);
        ck_assert_int_eq(in.last_seqno, 1);
        ck_assert_int_eq(in.cert_floor, 0);
        ck_assert_ptr_nonnull(find(i, REPL_ACT_VIEW, 1));
    }
}

START_TEST(core_new_group)
{
    two_node_group();
    ck_assert(!tr_uuid_compare(repl_core_group(N[0].c), repl_core_group(N[1].c)));
    /* a write-set passes the same way on both */
    uint64_t id = write_row(1, 'x', 1);
    deliver();
    struct repl_act *l = find(1, REPL_ACT_LOCAL, 2);
    ck_assert_ptr_nonnull(l);
    ck_assert(l->ok && l->id == id);
    ck_assert_int_eq(verdict(0, 2), 1);
}
END_TEST

/* A member joins: every member's certification index restarts at the join point, so a
 * write-set that straddles the join is judged alike by the old members and the joiner. */
START_TEST(core_join_resets_every_index)
{
    two_node_group();
    for (int k = 0; k < 5; k++) write_row(1, 'x', 1 + k); /* seqnos 2..6 */
    deliver();
    struct cert_stats cs;
    repl_core_cert_stats(N[0].c, &cs);
    ck_assert_uint_eq(cs.window, 5);
    /* n1 built a write-set when it had seen only seqno 4 (on another row): in flight when n3
     * joins, so it is ordered after the join */
    uint64_t w = write_row(0, 'y', 4);
    start(2);
    view(7);
    deliver(); /* the write-set (deferred during the exchange), then the STATE messages */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(info(i).cert_floor == 6, "n%d: certification starts at %lld, not at the join (6)",
                      i + 1, (long long)info(i).cert_floor);
    ck_assert_int_eq(info(2).state, REPL_S_JOINING);
    struct repl_act *l = find(0, REPL_ACT_LOCAL, -2);
    ck_assert_ptr_nonnull(l);
    ck_assert(l->id == w && l->seqno == 8);
    /* it saw less than the join point, where every index now starts: it cannot be judged,
     * and fails everywhere (cert_index_reset: as if every source had written there) */
    int v0 = verdict(0, 8), v1 = verdict(1, 8);
    ck_assert_int_eq(v0, 0);
    ck_assert_int_eq(v1, 0);
    /* n3 asks for a snapshot; n1 donates; n3 receives the state as of the join and takes
     * what it held since: its own verdict on seqno 8 */
    struct repl_act *req = find(2, REPL_ACT_SST_REQUEST, -2);
    ck_assert_ptr_nonnull(req);
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"sst", .len = 4};
    step(2, &ev);
    deliver();
    ck_assert_ptr_nonnull(find(0, REPL_ACT_DONATE, -2));
    /* it holds no earlier state of this history: a snapshot, nothing to bypass */
    ck_assert(!find(0, REPL_ACT_DONATE, -2)->bypass);
    ck_assert_ptr_null(find(2, REPL_ACT_IST_RECV, -2));
    ck_assert_int_eq(verdict(2, 8), -1); /* held */
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED};
    got.gtid.uuid = *repl_core_group(N[0].c);
    got.gtid.seqno = 6;
    ck_assert_int_eq(step(2, &got), REPL_OK);
    ck_assert_msg(verdict(2, 8) == v0, "seqno 8: the joiner says %d, the old members %d", verdict(2, 8), v0);
}
END_TEST

/* A joiner whose held write-sets pass its memory bound leaves the rest in its store and reads
 * them back as the appliers take them: the same verdicts as the others, every seqno once and in
 * order, never more than the bound in memory, and it ends Synced. */
START_TEST(core_join_spills_held)
{
    two_node_group();
    held_mem_max = 1024;
    start(2);
    view(7);
    deliver();
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"sst", .len = 4};
    step(2, &ev);
    deliver();
    ck_assert_ptr_nonnull(find(0, REPL_ACT_DONATE, -2));
    int64_t max_mem = 0;
    for (int k = 0; k < 400; k++) {
        write_row(k % 2, (char)('a' + k % 7), k < 5 ? 1 : 2 + k); /* a few are refused */
        deliver();
        if (info(2).held_mem_ws > max_mem) max_mem = info(2).held_mem_ws;
    }
    int64_t last = info(0).last_seqno;
    ck_assert_int_eq(info(2).last_seqno, last);
    ck_assert_int_gt(info(2).held_spilled, 350);
    ck_assert_int_le(max_mem * 100, 1024); /* each write-set is over 100 bytes */
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED};
    got.gtid.uuid = *repl_core_group(N[0].c);
    got.gtid.seqno = 2; /* the state as of the join point */
    ck_assert_int_eq(step(2, &got), REPL_OK);
    size_t k = 0;
    int64_t next = 3, refills = 0;
    while (k < N[2].log.n) { /* the appliers take what was queued, in order */
        struct repl_act *a = &N[2].log.a[k++];
        if (a->kind != REPL_ACT_APPLY && a->kind != REPL_ACT_SKIP && a->kind != REPL_ACT_VIEW) continue;
        if (a->seqno < next) continue; /* queued before the join */
        ck_assert_int_eq(a->seqno, next++);
        if (a->kind == REPL_ACT_APPLY) ck_assert(a->ws && a->ws->decode_rc == 0);
        ck_assert_int_eq(verdict(2, a->seqno), verdict(0, a->seqno));
        int64_t before = info(2).held;
        struct repl_ev t = {.kind = REPL_EV_TAKEN, .seqno = a->seqno};
        step(2, &t);
        refills += info(2).held < before;
        ck_assert_int_le(info(2).held_mem_ws, max_mem);
    }
    ck_assert_int_eq(next, last + 1);
    ck_assert_int_gt(refills, 0); /* released in batches, not all at once */
    ck_assert_int_eq(info(2).held, 0);
    deliver(); /* its SYNC */
    ck_assert_int_eq(info(2).state, REPL_S_SYNCED);
}
END_TEST

/* The records a donor's IST sender reads from its pinned store (s: its IST_SEND), seqnos
 * s->seqno + from .. to (-1: the last), as the joiner's receiver hands a part to its core. */
static struct repl_ev ist_part_of(const struct repl_act *s, int64_t from, int64_t to)
{
    if (to < 0) to = s->depends - s->seqno;
    size_t n = (size_t)(to - from + 1);
    struct repl_ev in = {.kind = REPL_EV_IST_PART, .nist = n};
    in.ist = calloc(n, sizeof *in.ist);
    ck_assert_ptr_nonnull(in.ist);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t q = s->seqno + from + (int64_t)k;
        int kind = repl_gcache_read(s->pin, q, &buf, &cap, &len);
        ck_assert_int_ge(kind, 0);
        in.ist[k].seqno = q;
        in.ist[k].depends = q - 1; /* as a receiver without its scratch index (repl_istdeps) */
        if (kind == 2) { /* a view */
            in.ist[k].view = repl_vrec_decode(buf, len, q);
            ck_assert_ptr_nonnull(in.ist[k].view);
        } else if (kind == 1) {
            uint8_t *copy = malloc(len ? len : 1);
            ck_assert_ptr_nonnull(copy);
            memcpy(copy, buf, len);
            in.ist[k].ws = repl_ws_new(copy, len);
            ck_assert_ptr_nonnull(in.ist[k].ws);
            repl_ws_decode(in.ist[k].ws, CERT_WS_MAX_SIZE);
        }
    }
    free(buf);
    return in;
}

/* The whole stream of s reaches node i: its records in one part, then its end. */
static void ist_stream_to(int i, const struct repl_act *s)
{
    struct repl_ev in = ist_part_of(s, 0, -1);
    step(i, &in);
    struct repl_ev end = {.kind = REPL_EV_IST_RECEIVED};
    step(i, &end);
}

static int count_acts(int i, enum repl_act_kind kind)
{
    int k = 0;
    for (size_t j = 0; j < N[i].log.n; j++) k += N[i].log.a[j].kind == kind;
    return k;
}

static long act_pos(int i, enum repl_act_kind kind, int64_t seqno);
static struct repl_act *last_persist(int i);

/* n3, a running node, missed 4..6 and asks for IST alone; n1 streams. Returns the stream. */
static struct repl_act *ist_alone_n3_at_3(void)
{
    two_node_group();
    for (int k = 0; k < 5; k++) write_row(1, 'x', 1 + k); /* seqnos 2..6 */
    deliver();
    tr_gtid pos = {*repl_core_group(N[0].c), 3};
    start_at(2, &pos);
    view(7); /* seqno 7 */
    deliver();
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST}; /* no snapshot possible: IST alone */
    step(2, &ev);
    deliver();
    struct repl_act *s = find(0, REPL_ACT_IST_SEND, 4);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* n3, a running node that missed 4..6, asks for IST alone; its donor n1 dies mid-stream: the
 * stream is cut (its receiver listens again), then the view without n1 comes, and n3 asks
 * again: n2 serves 4..6, and n3 joins with all of it, none applied twice. */
START_TEST(core_ist_donor_dies_other_serves)
{
    ist_alone_n3_at_3(); /* n1, the first synced member, streams */
    ck_assert_ptr_nonnull(find(2, REPL_ACT_IST_RECV, 4));
    ck_assert_ptr_null(find(1, REPL_ACT_IST_SEND, 4));
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(!info(2).failed);
    ck_assert_int_eq(count_acts(2, REPL_ACT_IST_RECV), 2); /* listening again */
    ck_assert_int_eq(verdict(2, 4), -1);
    repl_act_release(find(0, REPL_ACT_IST_SEND, 4)); /* n1 is gone: its pin with it */
    repl_core_free(N[0].c);
    N[0].c = NULL;
    view(6); /* n2 and n3 */
    deliver();
    ck_assert(!info(2).failed);
    struct repl_act *s = find(1, REPL_ACT_IST_SEND, 4);
    ck_assert_ptr_nonnull(s); /* n2 serves the same range */
    ck_assert_int_eq(s->depends, 6);
    ist_stream_to(2, s);
    for (int64_t q = 4; q <= 6; q++) ck_assert_int_eq(verdict(2, q), 1);
    ck_assert_ptr_nonnull(find(2, REPL_ACT_VIEW, 7));
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert_int_eq(count_acts(2, REPL_ACT_APPLY), 3); /* each once */
}
END_TEST

/* The records go to the appliers as they arrive, part by part, after the monitors restart at
 * the joiner's own position; the appliers' progress through them is what the receiver reads
 * ahead of; the node is JOINED only once the whole range has come. */
/* A decoded write-set of node i on row (0: no key) with flags, as an IST receiver holds it. */
static struct repl_ws *ist_ws(int i, char row, int64_t last_seen, uint32_t flags)
{
    size_t len;
    uint64_t id;
    uint8_t *buf = ws_flags_of(i, row, last_seen, flags, 0, &len, &id);
    struct repl_ws *ws = repl_ws_new(buf, len);
    ck_assert_ptr_nonnull(ws);
    ck_assert_int_eq(repl_ws_decode(ws, CERT_WS_MAX_SIZE), 0);
    return ws;
}

/* The joiner's scratch certification of an IST range (repl_istdeps): a write-set waits for the
 * last one on its rows, a view or no-work seqno for everything, a TOI and a stream's piece for
 * the one before, one the index cannot judge holds back everything after it. */
START_TEST(core_ist_depends_from_scratch_index)
{
    two_node_group();
    const uint32_t whole = REPL_F_TRX_START | REPL_F_TRX_END;
    struct { char row; int node; int64_t seen; uint32_t flags; bool view; int64_t want; } c[] = {
        {'a', 0, 9, whole, false, 9},                     /* 10: nothing before the range */
        {'b', 1, 9, whole, false, 9},                     /* 11 */
        {'a', 0, 10, whole, false, 10},                   /* 12: after 10, same row */
        {'c', 1, 12, whole, false, 9},                    /* 13: a row of its own */
        {0, 0, 0, 0, true, 13},                           /* 14: a view */
        {'d', 1, 14, whole, false, 14},                   /* 15: after the view */
        {'e', 0, 15, whole | REPL_F_ISOLATION, false, 15},/* 16: TOI */
        {'f', 1, 16, REPL_F_TRX_START, false, 16},        /* 17: a stream's first piece */
        {'g', 0, 17, whole, false, 16},                   /* 18: after the TOI only */
        {'g', 1, 17, whole, false, 18},                   /* 19: conflicts with 18 here */
        {'h', 0, 19, whole, false, 19},                   /* 20: everything waits for 19 */
    };
    struct repl_istdeps *d = repl_istdeps_new(10);
    ck_assert_ptr_nonnull(d);
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        struct repl_ist_rec r = {.seqno = 10 + (int64_t)k};
        if (!c[k].view) r.ws = ist_ws(c[k].node, c[k].row, c[k].seen, c[k].flags);
        repl_istdeps_set(d, &r);
        ck_assert_msg(r.depends == c[k].want, "seqno %lld: depends %lld, expected %lld",
                      (long long)r.seqno, (long long)r.depends, (long long)c[k].want);
        repl_ws_unref(r.ws);
    }
    /* committed up to 20: a write-set that saw less cannot be judged, so it waits for 20 */
    repl_istdeps_committed(d, 20);
    struct repl_ist_rec r = {.seqno = 21, .ws = ist_ws(1, 'z', 5, whole)};
    repl_istdeps_set(d, &r);
    ck_assert_int_eq(r.depends, 20);
    repl_ws_unref(r.ws);
    repl_istdeps_free(d);
    /* without an index (out of memory): one after the other */
    struct repl_ist_rec q = {.seqno = 30};
    repl_istdeps_set(NULL, &q);
    ck_assert_int_eq(q.depends, 29);
}
END_TEST

START_TEST(core_ist_applied_as_received)
{
    struct repl_act *s = ist_alone_n3_at_3();
    struct repl_ev p1 = ist_part_of(s, 0, 0); /* seqno 4 */
    step(2, &p1);
    ck_assert(!info(2).failed);
    ck_assert_int_eq(verdict(2, 4), 1);
    ck_assert_int_eq(verdict(2, 5), -1);
    long reset = act_pos(2, REPL_ACT_RESET, 3), f4 = act_pos(2, REPL_ACT_APPLY, 4);
    ck_assert(reset >= 0 && f4 > reset);
    ck_assert_int_eq(N[2].log.a[reset].depends, 3); /* what it ordered before commits first */
    ck_assert_int_eq(info(2).state, REPL_S_JOINING);
    ck_assert_int_eq(info(2).ist_taken, 3);
    struct repl_ev t = {.kind = REPL_EV_TAKEN, .seqno = 4};
    step(2, &t);
    ck_assert_int_eq(info(2).ist_taken, 4);
    struct repl_ev p2 = ist_part_of(s, 1, -1); /* 5..6 */
    step(2, &p2);
    ck_assert_int_eq(verdict(2, 6), 1);
    ck_assert_int_eq(info(2).state, REPL_S_JOINING);
    struct repl_ev end = {.kind = REPL_EV_IST_RECEIVED};
    step(2, &end);
    ck_assert(!info(2).failed);
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert(act_pos(2, REPL_ACT_VIEW, 7) > act_pos(2, REPL_ACT_APPLY, 6));
    ck_assert_int_eq(count_acts(2, REPL_ACT_RESET), 1); /* the monitors restarted once */
    ck_assert_int_eq(count_acts(2, REPL_ACT_APPLY), 3);
}
END_TEST

/* n3's appliers take everything queued, in log order, from seqno `from` on: the seqnos come
 * one after the other, each as n1 decided it. Returns the next seqno expected. */
static int64_t take_in_order(int i, int64_t from)
{
    int64_t next = from;
    for (size_t k = 0; k < N[i].log.n; k++) {
        struct repl_act *a = &N[i].log.a[k];
        if (a->kind != REPL_ACT_APPLY && a->kind != REPL_ACT_SKIP && a->kind != REPL_ACT_VIEW) continue;
        if (a->seqno < next) continue; /* queued before the join */
        ck_assert_int_eq(a->seqno, next++);
        if (a->kind == REPL_ACT_APPLY) ck_assert(a->ws && a->ws->decode_rc == 0);
        ck_assert_int_eq(verdict(i, a->seqno), verdict(0, a->seqno));
        struct repl_ev t = {.kind = REPL_EV_TAKEN, .seqno = a->seqno};
        step(i, &t);
    }
    return next;
}

/* n3 (its store one to look into) gets 4, the first record of its IST, from n1. */
static void ist_first_part_to_n3(void)
{
    store_of[2] = repl_gcache_new(1 << 20);
    ck_assert_ptr_nonnull(store_of[2]);
    struct repl_act *s = ist_alone_n3_at_3();
    struct repl_ev p1 = ist_part_of(s, 0, 0);
    step(2, &p1);
}

/* ... then the rest of the range, 5..6, and the end of the stream. */
static void ist_rest_to_n3(void)
{
    struct repl_act *s = find(0, REPL_ACT_IST_SEND, 4); /* again: n1's log may have grown */
    struct repl_ev p2 = ist_part_of(s, 1, -1);
    step(2, &p2);
    struct repl_ev end = {.kind = REPL_EV_IST_RECEIVED};
    step(2, &end);
    ck_assert(!info(2).failed);
}

/* What n3 orders while the range is on its way is held in memory and goes into its store
 * behind the IST records once the range is whole: the store holds 4.. in one piece (it can
 * serve IST of what it received), and the appliers get 4..6, view 7, then the rest, in order. */
START_TEST(core_ist_store_keeps_records_and_held)
{
    ist_first_part_to_n3();
    for (int k = 0; k < 5; k++) {
        write_row(k % 2, (char)('a' + k), 8 + k); /* seqnos 8..12, held */
        deliver();
    }
    ck_assert_int_eq(repl_gcache_first(store_of[2]), 4); /* the records so far, nothing else */
    ck_assert_int_eq(repl_gcache_last(store_of[2]), 4);
    ist_rest_to_n3();
    int64_t last = info(0).last_seqno;
    ck_assert_int_eq(last, 12);
    ck_assert(repl_gcache_has(store_of[2], 4, last));
    ck_assert_int_eq(repl_gcache_last(store_of[2]), last);
    ck_assert_int_eq(take_in_order(2, 4), last + 1);
    write_row(0, 'z', last + 1); /* ordered puts go on behind */
    deliver();
    ck_assert(repl_gcache_has(store_of[2], 4, last + 1));
    deliver();
    ck_assert_int_eq(info(2).state, REPL_S_SYNCED);
}
END_TEST

/* ... but when a held write-set would pass the memory bound, what was held goes into the store
 * first (putting the join point starts it over: the IST records already in it are dropped),
 * then the held write-sets spill there as when no IST runs; the rest of the range is not put. */
START_TEST(core_ist_store_gives_way_to_spill)
{
    held_mem_max = 1024;
    ist_first_part_to_n3();
    for (int k = 0; k < 60; k++) {
        write_row(k % 2, (char)('a' + k % 7), 8 + k);
        deliver();
    }
    ck_assert_int_gt(info(2).held_spilled, 40);
    int64_t last = info(0).last_seqno;
    ck_assert_int_eq(repl_gcache_first(store_of[2]), 7);
    ck_assert(repl_gcache_has(store_of[2], 7, last));
    ist_rest_to_n3();
    ck_assert_int_eq(repl_gcache_first(store_of[2]), 7);
    int64_t next = 4;
    for (int round = 0; round < 100 && next <= last; round++) next = take_in_order(2, next);
    ck_assert_int_eq(next, last + 1);
    ck_assert_int_eq(info(2).held, 0);
    deliver();
    ck_assert_int_eq(info(2).state, REPL_S_SYNCED);
}
END_TEST

/* The donor dies after part of the range reached the appliers: not asked of another member
 * (the range is no longer whole to ask for); the joiner leaves with 4 applied, in order, and
 * 5..6 not, its history kept (the next start asks for IST from what its host committed). */
START_TEST(core_ist_cut_after_part_leaves_with_prefix)
{
    struct repl_act *s = ist_alone_n3_at_3();
    struct repl_ev p1 = ist_part_of(s, 0, 0);
    step(2, &p1);
    ck_assert_int_eq(verdict(2, 4), 1);
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(info(2).failed);
    ck_assert_int_eq(count_acts(2, REPL_ACT_IST_RECV), 1); /* no new receiver */
    ck_assert_int_eq(verdict(2, 5), -1);
    ck_assert_int_eq(verdict(2, 6), -1);
    ck_assert_ptr_null(find(2, REPL_ACT_VIEW, 7));
    struct repl_act *last = last_persist(2);
    ck_assert(!last->corrupt);
    ck_assert(tr_uuid_compare(&last->gtid.uuid, repl_core_group(N[0].c)) == 0);
    ck_assert_int_eq(last->gtid.seqno, -1); /* the host's committed position decides */
}
END_TEST

/* A part whose first seqno is not the next one of the range is refused: the joiner leaves. */
START_TEST(core_ist_part_out_of_order_leaves)
{
    struct repl_act *s = ist_alone_n3_at_3();
    struct repl_ev p = ist_part_of(s, 1, 1); /* 5 before 4 */
    step(2, &p);
    ck_assert(info(2).failed);
    ck_assert_int_eq(verdict(2, 5), -1);
}
END_TEST

/* ... but when no other synced member is left, n3 leaves with Galera's words. */
START_TEST(core_ist_donor_dies_nobody_left)
{
    ist_alone_n3_at_3();
    /* n2 desyncs (not synced: it cannot serve), then n1 dies: its stream is cut, then it
     * leaves the view */
    struct repl_ev ds = {.kind = REPL_EV_DESYNC};
    step(1, &ds);
    deliver();
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(!info(2).failed);
    repl_act_release(find(0, REPL_ACT_IST_SEND, 4));
    repl_core_free(N[0].c);
    N[0].c = NULL;
    view(6);
    deliver();
    ck_assert(info(2).failed);
    ck_assert_ptr_null(find(1, REPL_ACT_IST_SEND, 4));
}
END_TEST

/* n1 keeps a small write-set store, n2 a large one: a group of the two, both Synced. */
static void two_nodes_n1_small(void)
{
    gcache_size = 2048;
    start(0);
    gcache_size = 0;
    view(1);
    deliver();
    start(1);
    view(3);
    deliver();
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"trivial", .len = 8};
    step(1, &ev);
    deliver();
    ck_assert_int_eq(info(1).state, REPL_S_SYNCED);
}

/* ... which order 3..42: n1's store no longer holds 4.., n2's does. */
static void small_store_n1(void)
{
    two_nodes_n1_small();
    for (int k = 0; k < 40; k++) write_row(0, 'x', 2 + k); /* seqnos 3..42 */
    deliver();
    ck_assert_int_gt(info(0).cached_downto, 4);
    ck_assert_int_le(info(1).cached_downto, 4);
}

/* n3, a running node that missed 4..42, asks for IST alone. n1 is the first synced member but
 * its store starts past 4, as its STATE said: the group chooses n2, whose store holds the gap
 * (before, n1 was chosen, refused, and n3 left: "Will never receive state"). */
START_TEST(core_ist_donor_chosen_by_store)
{
    small_store_n1();
    tr_gtid pos = {*repl_core_group(N[0].c), 3};
    start_at(2, &pos);
    view(7); /* seqno 43 */
    deliver();
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST}; /* no snapshot possible: IST alone */
    step(2, &ev);
    deliver();
    ck_assert(!info(2).failed);
    ck_assert_ptr_null(find(0, REPL_ACT_IST_SEND, 4));
    struct repl_act *s = find(1, REPL_ACT_IST_SEND, 4);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->depends, 42);
    ist_stream_to(2, s);
    ck_assert(!info(2).failed);
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert_int_eq(count_acts(2, REPL_ACT_APPLY), 39);
    /* its JOIN tells the group where its own store starts now: it could serve 4.. itself */
    deliver();
    ck_assert_int_eq(info(2).cached_downto, 4);
}
END_TEST

/* The table can be older than a store: here n1 covered n3's gap at the exchange, then ordered
 * past it before n3's request came. n1, preferred (its store starts highest), refuses; n3 asks
 * again and n2 serves it. Without a member that covers, n3 leaves as before. */
START_TEST(core_ist_refused_asks_another)
{
    two_nodes_n1_small();
    for (int k = 0; k < 5; k++) write_row(0, 'x', 2 + k); /* seqnos 3..7: n1 still holds them */
    deliver();
    ck_assert_int_le(info(0).cached_downto, 4);
    tr_gtid pos = {*repl_core_group(N[0].c), 3};
    start_at(2, &pos);
    view(7); /* seqno 8: both STATEs say "holds 4.." */
    deliver();
    for (int k = 0; k < 40; k++) write_row(0, 'x', 8 + k); /* n1's store moves past 4 */
    deliver();
    ck_assert_int_gt(info(0).cached_downto, 4);
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST};
    step(2, &ev);
    deliver();
    ck_assert(!info(2).failed);
    ck_assert_ptr_null(find(0, REPL_ACT_IST_SEND, 4)); /* n1 refused */
    struct repl_act *s = find(1, REPL_ACT_IST_SEND, 4);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->depends, 7);
    ist_stream_to(2, s);
    ck_assert(!info(2).failed);
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert_int_eq(count_acts(2, REPL_ACT_IST_RECV), 1); /* the same receiver all along */
}
END_TEST

/* n1 and n2 order 2..6; n3 restarts holding seqno 3 of the group's history and its host
 * prepares a snapshot (MariaDB's rsync script): its request carries the IST part too; the
 * donor n1's store holds 4..6, so it donates with bypass at the joiner's own position and
 * streams 4..6. Returns the stream (n1's IST_SEND); *pos: n3's position. */
static struct repl_act *restart_n3_at_3(tr_gtid *pos)
{
    two_node_group();
    for (int k = 0; k < 5; k++) write_row(1, 'x', 1 + k); /* seqnos 2..6 */
    deliver();
    *pos = (tr_gtid){*repl_core_group(N[0].c), 3};
    start_at(2, pos);
    view(7); /* seqno 7 */
    deliver();
    ck_assert_int_eq(info(2).state, REPL_S_JOINING);
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"rsync", .len = 6};
    step(2, &ev);
    struct repl_act *r = find(2, REPL_ACT_IST_RECV, 4);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->depends, 6);
    deliver();
    struct repl_act *d = find(0, REPL_ACT_DONATE, -2), *s = find(0, REPL_ACT_IST_SEND, 4);
    ck_assert_ptr_nonnull(d);
    ck_assert(d->bypass);
    ck_assert_int_eq(d->gtid.seqno, 3);
    ck_assert_int_ge(d->depends, 7); /* it still waits for what was ordered before the request */
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->depends, 6);
    ck_assert_ptr_nonnull(s->pin); /* the range 4..6 is pinned in the donor's store */
    ck_assert_int_eq(s->seqno, 4);
    ck_assert_ptr_null(find(1, REPL_ACT_DONATE, -2));
    return s;
}

/* The records arrive before sst_received and wait; sst_received at 3 says the snapshot was
 * bypassed: the records are applied in order, then the view it joined with. */
START_TEST(core_restart_ist_bypass)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    ist_stream_to(2, s);
    ck_assert_int_eq(verdict(2, 4), -1); /* kept until sst_received says what the donor did */
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    for (int64_t q = 4; q <= 6; q++) ck_assert_int_eq(verdict(2, q), 1);
    ck_assert_ptr_nonnull(find(2, REPL_ACT_VIEW, 7));
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert_int_le(info(2).cached_downto, 4); /* its store holds them: it can donate */
    ck_assert_int_ge(info(2).cached_downto, 0);
}
END_TEST

/* The donor's stream is cut after the bypass (the donor died): the joiner leaves with none of
 * 4..6 applied, and its saved state stays trusted (the host copied nothing): the next start
 * asks for IST again instead of a full snapshot. */
START_TEST(core_restart_ist_cut_after_bypass)
{
    tr_gtid pos;
    restart_n3_at_3(&pos);
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    ck_assert(!info(2).failed);
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -1, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(info(2).failed);
    for (int64_t q = 4; q <= 6; q++) ck_assert_int_eq(verdict(2, q), -1);
    struct repl_act *last = NULL;
    for (size_t k = 0; k < N[2].log.n; k++)
        if (N[2].log.a[k].kind == REPL_ACT_PERSIST) last = &N[2].log.a[k];
    ck_assert_ptr_nonnull(last);
    ck_assert(!last->corrupt);
    ck_assert(tr_uuid_compare(&last->gtid.uuid, &pos.uuid) == 0);
}
END_TEST

/* With a snapshot request, a part that comes before sst_received waits (the host's data is
 * not known to be its own yet); sst_received at its own position sends it to the appliers,
 * and the parts after it go at once. */
START_TEST(core_restart_ist_part_waits_for_bypass)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    struct repl_ev p1 = ist_part_of(s, 0, 0);
    step(2, &p1);
    ck_assert_int_eq(verdict(2, 4), -1);
    ck_assert_int_eq(count_acts(2, REPL_ACT_RESET), 0);
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    ck_assert_int_eq(verdict(2, 4), 1);
    ck_assert_int_eq(info(2).state, REPL_S_JOINING);
    struct repl_ev p2 = ist_part_of(s, 1, -1);
    step(2, &p2);
    ck_assert_int_eq(verdict(2, 6), 1);
    struct repl_ev end = {.kind = REPL_EV_IST_RECEIVED};
    step(2, &end);
    ck_assert_int_eq(info(2).state, REPL_S_JOINED);
    ck_assert_ptr_nonnull(find(2, REPL_ACT_VIEW, 7));
    ck_assert_int_eq(count_acts(2, REPL_ACT_RESET), 1);
}
END_TEST

/* A restarted joiner whose donor bypassed the snapshot applies a first part, then its stream is
 * cut: 4 is committed past the position it started from, so its file must not say 3 again
 * (its next start would ask for 4 a second time): the uuid with seqno -1, as after an IST
 * alone cut after a part, so that the host's committed position decides. */
START_TEST(core_restart_ist_cut_after_applied_part)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    struct repl_ev p1 = ist_part_of(s, 0, 0);
    step(2, &p1);
    ck_assert_int_eq(verdict(2, 4), 1);
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(info(2).failed);
    ck_assert_int_eq(verdict(2, 5), -1);
    struct repl_act *last = last_persist(2);
    ck_assert(!last->corrupt);
    ck_assert(tr_uuid_compare(&last->gtid.uuid, &pos.uuid) == 0);
    ck_assert_int_eq(last->gtid.seqno, -1);
}
END_TEST

static struct repl_act *last_persist(int i)
{
    struct repl_act *last = NULL;
    for (size_t k = 0; k < N[i].log.n; k++)
        if (N[i].log.a[k].kind == REPL_ACT_PERSIST) last = &N[i].log.a[k];
    ck_assert_ptr_nonnull(last);
    return last;
}

/* n3's donor n1 dies (its stream s released): the view of n2 and n3 is delivered */
static void donor_n1_dies(struct repl_act *s)
{
    repl_act_release(s);
    repl_core_free(N[0].c);
    N[0].c = NULL;
    view(6);
    deliver();
}

/* n3 left with none of 4..6 applied and its saved state (pos) trusted: IST at its next start */
static void n3_left_trusted(const tr_gtid *pos)
{
    ck_assert(info(2).failed);
    for (int64_t q = 4; q <= 6; q++) ck_assert_int_eq(verdict(2, q), -1);
    struct repl_act *last = last_persist(2);
    ck_assert(!last->corrupt);
    ck_assert(tr_uuid_compare(&last->gtid.uuid, &pos->uuid) == 0);
    /* the clean position it started from, not "running": a plain start finds it */
    ck_assert(!last->running);
    ck_assert_int_eq(last->gtid.seqno, pos->seqno);
}

/* The donor dies while it streams, before its host's bypass reached sst_received: the stream
 * began, and a donor streams to a joiner with a snapshot request only when it bypassed the
 * snapshot, so the host copied nothing: the joiner leaves (no retry with a snapshot request)
 * with its saved state trusted, and its next start asks for IST, not a full snapshot. */
START_TEST(core_restart_ist_cut_before_sst_received)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut);
    ck_assert(!info(2).failed); /* sst_received may still come: it waits for the view */
    donor_n1_dies(s);
    n3_left_trusted(&pos);
}
END_TEST

/* The donor dies while it streams, and the view without it reaches the joiner before the
 * receiver's report of the cut stream: the receiver said the stream began, so the donor had
 * bypassed the snapshot and the host's data is untouched: the joiner leaves with its saved
 * state trusted (before IST_BEGAN it was marked unsure, and the next start took a full SST). */
START_TEST(core_restart_ist_began_view_before_cut)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    struct repl_ev began = {.kind = REPL_EV_IST_BEGAN};
    ck_assert_int_eq(step(2, &began), REPL_OK);
    donor_n1_dies(s); /* the view comes before the cut */
    n3_left_trusted(&pos);
    struct repl_ev cut = {.kind = REPL_EV_IST_RECEIVED, .rc = -ECONNRESET, .why = "stream cut short"};
    step(2, &cut); /* the late report changes nothing */
    ck_assert(!last_persist(2)->corrupt);
}
END_TEST

/* MariaDB's galera_mdev_31517: the whole IST came, then the host aborted its start (an
 * unknown option) and reported the interrupted wait as sst_received(-ECANCELED). Nothing reached
 * its data: the file keeps the clean position 3, so that the next plain start asks for IST
 * (before, it kept "running" and the start after took a full SST). */
START_TEST(core_restart_interrupted_keeps_position)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    ist_stream_to(2, s);
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos, .rc = -ECANCELED};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    n3_left_trusted(&pos);
}
END_TEST

/* ... but a donor that dies before any stream came may have been copying a full snapshot into
 * the host's data: that state is not trusted (the next start takes a full SST). */
START_TEST(core_restart_donor_dies_before_stream)
{
    tr_gtid pos;
    struct repl_act *s = restart_n3_at_3(&pos);
    donor_n1_dies(s);
    ck_assert(info(2).failed);
    ck_assert(last_persist(2)->corrupt);
}
END_TEST

/* LAST reports bound the purge by the last_seen of this node's write-sets still in flight:
 * purging past it would fail them as "too old" without any conflict. */
START_TEST(core_last_report_waits_for_in_flight)
{
    two_node_group();
    for (int k = 0; k < 70; k++) write_row(1, 'x', 1 + k); /* seqnos 2..71 */
    deliver();
    size_t len;
    uint64_t id;
    uint8_t *w = ws_of(0, 'y', 5, &len, &id); /* n1's long transaction saw seqno 5 */
    for (int i = 0; i < 2; i++) {
        struct repl_ev ev = {.kind = REPL_EV_COMMITTED, .seqno = 71};
        step(i, &ev);
    }
    ck_assert_int_eq(N[1].last_report, 71);
    ck_assert_msg(N[0].last_report == 5, "n1 reported %lld with a write-set of last_seen 5 in flight",
                  (long long)N[0].last_report);
    deliver(); /* the LAST messages: both purge */
    struct cert_stats cs;
    repl_core_cert_stats(N[1].c, &cs);
    ck_assert_int_eq(cs.purged_upto, 5);
    enqueue(&N[0].id, w, len);
    free(w);
    deliver();
    struct repl_act *l = find(0, REPL_ACT_LOCAL, 72);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(l->ok, "a write-set without a conflict failed certification");
    ck_assert_int_eq(verdict(1, 72), 1);
    /* with nothing in flight the report is the committed position */
    for (int i = 0; i < 2; i++) {
        struct repl_ev ev = {.kind = REPL_EV_COMMITTED, .seqno = 140};
        step(i, &ev);
    }
    ck_assert_int_eq(N[0].last_report, 140);
}
END_TEST

/* The appliers take every queued action logged so far (as nsim_host's apply_one does). */
static void take_all(int i)
{
    for (size_t k = 0; k < N[i].log.n; k++) {
        struct repl_act *a = &N[i].log.a[k];
        if (!repl_act_queued(a->kind)) continue;
        bool unnumbered = a->kind == REPL_ACT_NONPRIM || a->kind == REPL_ACT_SYNCED || a->kind == REPL_ACT_FINAL;
        struct repl_ev ev = {.kind = REPL_EV_TAKEN, .seqno = unnumbered ? -1 : a->seqno};
        a->kind = REPL_ACT_NOTIFY; /* taken: not again (step may move the log) */
        step(i, &ev);
    }
}

/* n3 (started) enters the view of all three and asks for a snapshot; `donor` is chosen and
 * donates: the state it donates. */
static tr_gtid n3_joins_served_by(int donor)
{
    view(7);
    deliver();
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"sst", .len = 4};
    step(2, &ev);
    deliver();
    struct repl_act *d = find(donor, REPL_ACT_DONATE, -2);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(info(donor).state, REPL_S_DONOR);
    return d->gtid;
}

/* A desynced node and a donor never ask the group to stop, however long their queue; once
 * back they do, and resume when the queue drains. */
START_TEST(core_donor_and_desynced_exempt_from_flow)
{
    two_node_group();
    struct repl_flow_cfg fc = {2, 1.0, false}; /* 2 members: stop above 3 */
    for (int i = 0; i < 2; i++) repl_core_set_flow(N[i].c, &fc);
    take_all(0);
    take_all(1);
    struct repl_ev ds = {.kind = REPL_EV_DESYNC, .seqno = 1};
    ck_assert_int_eq(step(1, &ds), REPL_OK);
    ck_assert_int_eq(info(1).state, REPL_S_DONOR);
    deliver();
    for (int k = 0; k < 20; k++) write_row(0, 'x', 1 + k);
    deliver();
    ck_assert_int_eq(info(1).queued, 20);
    ck_assert_int_eq(N[1].fc_stops, 0);
    struct repl_ev rs = {.kind = REPL_EV_RESYNC, .seqno = 1};
    ck_assert_int_eq(step(1, &rs), REPL_OK);
    ck_assert_int_eq(N[1].fc_stops, 1); /* a member again, with a long queue */
    deliver();
    take_all(1);
    ck_assert_int_eq(N[1].fc_resumes, 1);
    ck_assert_int_eq(info(1).state, REPL_S_SYNCED);

    /* n3 joins and asks n2 by name: n2 donates while n1 writes on */
    start(2);
    repl_core_set_flow(N[2].c, &fc);
    repl_core_set_donors(N[2].c, "n2");
    tr_gtid donated = n3_joins_served_by(1);
    ck_assert_int_eq(info(1).desync_count, 0); /* a donor, not desynced */
    take_all(1);
    int64_t at = info(0).last_seqno;
    for (int k = 0; k < 20; k++) write_row(0, 'y', at + k);
    deliver();
    ck_assert_int_ge(info(1).queued, 20);
    ck_assert_msg(N[1].fc_stops == 1, "the donor asked the group to stop");
    struct repl_ev sent = {.kind = REPL_EV_SST_SENT, .gtid = donated, .seqno = 1};
    ck_assert_int_eq(step(1, &sent), REPL_OK);
    ck_assert_int_eq(info(1).state, REPL_S_JOINED);
    ck_assert_int_eq(N[1].fc_stops, 2);
    for (int i = 0; i < MAXN; i++) ck_assert_int_eq(N[i].fc_stop_exempt, 0);
}
END_TEST

/* What the core logged while a test kept it (tr_log's sink). */
static char said[8192];

static void keep(enum tr_log_level level, const char *msg)
{
    (void)level;
    size_t l = strlen(said);
    snprintf(said + l, sizeof said - l, "%s\n", msg);
}

static int count_said(const char *what)
{
    int k = 0;
    for (const char *p = said; (p = strstr(p, what)); p++) k++;
    return k;
}

/* n1 donates a snapshot to n3 and is cut off (a non-primary view of its own) while n2 and n3
 * order on without noticing; the snapshot still arrives. All three meet in a new primary view,
 * and n1's host says the transfer was sent while n1's exchange runs: n1 missed actions, so it
 * needs a transfer itself. Its sst_sent must not send JOIN (trireme-nsim seeds 1177 and 758
 * with --streaming: the others read that JOIN as n1's own transfer ended, JOINED, ignored its
 * IST request, and n1 waited for ever). */
START_TEST(core_donor_cut_off_sends_no_join)
{
    two_node_group();
    for (int k = 0; k < 3; k++) write_row(1, 'x', 1 + k); /* seqnos 2..4 */
    deliver();
    start(2);
    tr_gtid donated = n3_joins_served_by(0); /* the view: seqno 5 */
    take_all(0);
    /* n1 alone, not primary; n2 and n3 go on in their view */
    struct repl_member alone = {.id = N[0].id, .name = "n1"};
    struct repl_gview np = {.primary = false, .conf_id = ++conf, .history = U(HIST), .close = gseq,
                            .my_idx = 0, .memb_num = 1, .members = &alone};
    struct repl_ev nv = {.kind = REPL_EV_VIEW, .view = &np};
    step(0, &nv);
    N[0].member = false;
    ck_assert_int_eq(info(0).state, REPL_S_CONNECTED);
    int64_t at = info(1).last_seqno;
    for (int k = 0; k < 3; k++) write_row(1, 'y', at + k);
    deliver();
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = donated};
    ck_assert_int_eq(step(2, &got), REPL_OK);
    take_all(2);
    deliver(); /* n3's JOIN, then its SYNC */
    ck_assert_int_eq(info(2).state, REPL_S_SYNCED);
    view(7);
    struct repl_ev sent = {.kind = REPL_EV_SST_SENT, .gtid = donated, .seqno = donated.seqno};
    ck_assert_int_eq(step(0, &sent), REPL_OK);
    said[0] = '\0';
    tr_log_set_sink(keep);
    deliver();
    ck_assert_int_eq(info(0).state, REPL_S_JOINING);
    struct repl_ev req = {.kind = REPL_EV_SST_REQUEST}; /* IST alone: it holds the history */
    step(0, &req);
    deliver();
    tr_log_set_sink(quiet);
    ck_assert_msg(count_said("requested state transfer, but its state is") == 0,
                  "n1's request was ignored:\n%s", said);
    ck_assert_msg(find(1, REPL_ACT_IST_SEND, -2) || find(2, REPL_ACT_IST_SEND, -2),
                  "nobody serves n1's IST:\n%s", said);
}
END_TEST

/* A state transfer request (SST and IST) from a node that is not in the primary view (it
 * left, or never got in) is ignored by every member with a log line naming it: nobody is
 * chosen to donate, nobody's state changes. */
START_TEST(core_str_from_non_member_ignored)
{
    two_node_group();
    start(2); /* n3 runs, but is not in the view */
    said[0] = '\0';
    tr_log_set_sink(keep);
    for (int sst = 0; sst < 2; sst++) {
        struct repl_msg_str m = {.node = N[2].id, .ist_upto = 2, .ist_token = 7};
        m.position.uuid = *repl_core_group(N[0].c);
        m.position.seqno = sst ? -1 : 0;
        snprintf(m.ist_addr, sizeof m.ist_addr, "127.0.0.3:4568");
        if (sst) {
            m.req = (const uint8_t *)"sst";
            m.req_len = 4;
        }
        struct tr_buf b = {0};
        ck_assert_int_eq(repl_msg_str_encode(&m, &b), 0);
        enqueue(&N[2].id, b.ptr, b.len);
        tr_buf_free(&b);
    }
    deliver();
    tr_log_set_sink(quiet);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_null(find(i, REPL_ACT_DONATE, -2));
        ck_assert_ptr_null(find(i, REPL_ACT_IST_SEND, -2));
        ck_assert_int_eq(info(i).state, REPL_S_SYNCED);
    }
    char u[TR_UUID_STR_LEN + 1], line[128];
    tr_uuid_print(&N[2].id, u);
    snprintf(line, sizeof line, "state transfer request from %s: not a member of the primary view", u);
    ck_assert_msg(count_said(line) == 4, "each member logs each request once; logged:\n%s", said);
}
END_TEST


/* Streaming (docs/design/streaming.md): fragments reach the other members' appliers with
 * their flags; a rollback fragment has no waiter, so it comes back to its own node's
 * appliers too; an originator that leaves takes its open transaction's keys with it. */
START_TEST(core_streaming_fragments)
{
    two_node_group();
    start(2);
    view(7);
    deliver();
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED};
    got.gtid.uuid = *repl_core_group(N[0].c);
    got.gtid.seqno = info(0).last_seqno;
    struct repl_ev req = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"sst", .len = 4};
    step(2, &req);
    deliver();
    ck_assert_int_eq(step(2, &got), REPL_OK);
    deliver();
    int64_t s = info(0).last_seqno;
    send_fragment(1, 'x', s, REPL_F_TRX_START, 500);
    deliver();
    struct repl_act *a = find(0, REPL_ACT_APPLY, s + 1);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->ws->view.hdr.flags, REPL_F_TRX_START);
    ck_assert_ptr_nonnull(find(1, REPL_ACT_LOCAL, s + 1));
    send_fragment(1, 0, s + 1, REPL_F_ROLLBACK | REPL_F_PA_UNSAFE, 500);
    deliver();
    for (int i = 0; i < 3; i++) {
        a = find(i, REPL_ACT_APPLY, s + 2);
        ck_assert_msg(a != NULL, "n%d: the rollback fragment is not applied", i + 1);
        ck_assert_int_eq(a->depends, s + 1);
        ck_assert(a->ws->view.hdr.flags & REPL_F_ROLLBACK);
    }
    /* rolled back: another node that had not seen the fragment does not lose against it */
    write_row(0, 'x', s);
    deliver();
    ck_assert_int_eq(verdict(0, s + 3), 1);
    /* n2 opens another and leaves: the others roll it back at the view */
    send_fragment(1, 'y', s + 3, REPL_F_TRX_START, 501);
    deliver();
    ck_assert_int_eq(verdict(0, s + 4), 1);
    N[1].member = false;
    view(5);
    deliver();
    int64_t v = info(0).last_seqno;
    ck_assert_int_eq(v, s + 5);
    write_row(0, 'y', s + 3);
    deliver();
    ck_assert_int_eq(verdict(0, s + 6), 1);
    ck_assert_int_eq(verdict(2, s + 6), 1);
}
END_TEST

/* Position of the first logged action of that kind and seqno on node i, or -1. */
static long act_pos(int i, enum repl_act_kind kind, int64_t seqno)
{
    for (size_t k = 0; k < N[i].log.n; k++)
        if (N[i].log.a[k].kind == kind && N[i].log.a[k].seqno == seqno) return (long)k;
    return -1;
}

/* MariaDB's galera_sr_cc_slave: n2 leaves (its host's final view drops its streaming appliers;
 * wsrep-lib brings them back from its streaming log at the next primary view) while n1 streams;
 * n1 alone orders view 3 and fragments 4, 5; n2 comes back as a running server (IST alone) and
 * must hand its host view 3, with n1 in it, before fragments 4 and 5, as Galera's IST does:
 * delivered as "nothing to do", the host applies them with no streaming applier ("Could not find
 * applier context") and the transaction loses their rows there. */
START_TEST(core_ist_delivers_missed_views)
{
    two_node_group();
    send_fragment(0, 'a', 1, REPL_F_TRX_START, 700);
    deliver(); /* seqno 2 */
    tr_gtid pos = {*repl_core_group(N[0].c), 2};
    repl_acts_free(&N[1].log);
    repl_core_free(N[1].c);
    N[1].c = NULL;
    view(1); /* n1 alone: seqno 3 */
    deliver();
    ck_assert_int_eq(info(0).last_seqno, 3);
    send_fragment(0, 'b', 3, 0, 700);
    send_fragment(0, 'c', 3, 0, 700);
    deliver(); /* seqnos 4, 5 */
    start_at(1, &pos);
    view(3); /* seqno 6 */
    deliver();
    ck_assert_int_eq(info(1).state, REPL_S_JOINING);
    struct repl_ev req = {.kind = REPL_EV_SST_REQUEST}; /* a running server: IST alone */
    step(1, &req);
    deliver();
    struct repl_act *s = find(0, REPL_ACT_IST_SEND, 3);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->depends, 5);
    ist_stream_to(1, s);
    ck_assert(!info(1).failed);
    long v3 = act_pos(1, REPL_ACT_VIEW, 3), f4 = act_pos(1, REPL_ACT_APPLY, 4), f5 = act_pos(1, REPL_ACT_APPLY, 5);
    ck_assert_msg(v3 >= 0, "n2 is not handed the view at seqno 3 it missed (%s)",
                  act_pos(1, REPL_ACT_SKIP, 3) >= 0 ? "skipped" : "nothing");
    ck_assert(f4 > v3 && f5 > f4);
    const struct repl_act *a = &N[1].log.a[v3];
    ck_assert(a->past);
    ck_assert(!a->first && !a->synced);
    ck_assert_int_eq(a->view->status, REPL_VIEW_PRIMARY);
    ck_assert_int_eq(a->view->memb_num, 1);
    ck_assert(tr_uuid_compare(&a->view->members[0].id, &N[0].id) == 0);
    ck_assert_str_eq(a->view->members[0].name, "n1");
    ck_assert_int_eq(a->view->my_idx, -1);
    ck_assert_int_eq(a->view->state_id.seqno, 3);
    ck_assert(tr_uuid_compare(&a->view->state_id.uuid, &pos.uuid) == 0);
    ck_assert_int_eq(a->view->view, find(0, REPL_ACT_VIEW, 3)->view->view);
    long v6 = act_pos(1, REPL_ACT_VIEW, 6);
    ck_assert(v6 > f5 && !N[1].log.a[v6].past);
    ck_assert_int_eq(info(1).state, REPL_S_JOINED);
    /* its own store holds view 3 as a view: it can hand it on by IST in turn */
    ck_assert_int_le(info(1).cached_downto, 3);
    ck_assert_int_ge(info(1).cached_downto, 0);
}
END_TEST

/* Alone in the primary component, a node fails to apply another node's write-set. A fragment
 * of a streaming transaction whose node has left can never commit here: it fails everywhere and
 * the node goes on, as Galera's single voter does (MariaDB's MDEV-30764). A whole transaction
 * (which its node may have committed) still makes the node leave: nobody can vote with it. */
START_TEST(core_alone_orphan_fragment_fails_everywhere)
{
    two_node_group();
    int64_t s = info(0).last_seqno;
    send_fragment(1, 'x', s, REPL_F_TRX_START, 600);
    write_row(1, 'z', s);
    deliver();
    ck_assert_ptr_nonnull(find(0, REPL_ACT_APPLY, s + 1));
    ck_assert_ptr_nonnull(find(0, REPL_ACT_APPLY, s + 2));
    N[1].member = false;
    view(1);
    deliver();
    struct repl_ev f = {.kind = REPL_EV_APPLY_FAILED, .seqno = s + 1, .rc = 1, .code = 7};
    step(0, &f);
    ck_assert_ptr_null(find(0, REPL_ACT_FAILED, -2));
    struct repl_ev t = {.kind = REPL_EV_TAKEN, .seqno = s + 1};
    ck_assert_int_eq(step(0, &t), REPL_TRX_FAIL); /* skipped from now on (IST, joiners) */
    struct repl_ev g = {.kind = REPL_EV_APPLY_FAILED, .seqno = s + 2, .rc = 1, .code = 7};
    step(0, &g);
    ck_assert_ptr_nonnull(find(0, REPL_ACT_FAILED, -2));
}
END_TEST

/* n1 applied seqno s where n2 and n3 failed it, and dropped out of the primary component before
 * the vote ended: n2 and n3 went on and decided s failed everywhere, which n1 never learns. When
 * n1 comes back asking for IST alone, its donor knows that its state (which holds s) does not
 * reach past that decision: it refuses, and n1 leaves keeping no position, so that its next
 * start takes a snapshot (before: it joined by IST with s applied, diverged for good;
 * trireme-nsim --seed 5105 --streaming --pieces 160 --arbitrators). */
/* Three members, all Synced. */
static void three_node_group(void)
{
    two_node_group();
    start(2);
    view(7);
    deliver();
    struct repl_ev triv = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"trivial", .len = 8};
    step(2, &triv);
    deliver();
    ck_assert_int_eq(info(2).state, REPL_S_SYNCED);
}

/* n1 applied seqno s, n2 and n3 failed it the same way: n1's success loses the vote, and it
 * leaves saying so in Galera's words for that side (MariaDB's galera_toi_vote suppresses
 * exactly "Vote 0 (success) on ... is inconsistent with group. Leaving cluster."). */
START_TEST(core_success_loses_vote_galera_words)
{
    three_node_group();
    int64_t s = info(0).last_seqno + 1;
    write_row(1, 'x', s - 1);
    deliver();
    for (int i = 1; i < 3; i++) {
        struct repl_ev f = {.kind = REPL_EV_APPLY_FAILED, .seqno = s, .rc = 1, .code = 7};
        step(i, &f);
    }
    deliver();
    said[0] = '\0';
    tr_log_set_sink(keep);
    struct repl_ev c = {.kind = REPL_EV_COMMITTED, .seqno = s};
    step(0, &c); /* n1 answers: success */
    deliver();
    tr_log_set_sink(quiet);
    ck_assert_ptr_nonnull(find(0, REPL_ACT_FAILED, -2));
    ck_assert_msg(count_said("Vote 0 (success) on ") == 1 &&
                      count_said(" is inconsistent with group. Leaving cluster.") == 1,
                  "%s", said);
    ck_assert_ptr_null(find(1, REPL_ACT_FAILED, -2));
    ck_assert_ptr_null(find(2, REPL_ACT_FAILED, -2));
}
END_TEST

/* n1 applies seqno s, which n2 and n3 fail; n1 is cut off before it answers their VOTEs, and
 * n2 and n3 decide without it that s failed everywhere, then order s + 1. Returns s. */
static int64_t n1_applied_what_failed_everywhere(void)
{
    three_node_group();
    int64_t s = info(0).last_seqno + 1;
    write_row(1, 'x', s - 1);
    deliver();
    ck_assert_int_eq(verdict(0, s), 1);
    for (int i = 1; i < 3; i++) {
        struct repl_ev f = {.kind = REPL_EV_APPLY_FAILED, .seqno = s, .rc = 1, .code = 7};
        step(i, &f);
    }
    deliver(); /* their VOTEs reach n1 too, before it answers */
    ck_assert(!info(0).failed);
    struct repl_member me = {.id = N[0].id, .name = "n1"};
    struct repl_gview np = {.primary = false, .conf_id = ++conf, .history = U(HIST), .close = gseq,
                            .my_idx = 0, .memb_num = 1, .members = &me};
    struct repl_ev nv = {.kind = REPL_EV_VIEW, .view = &np};
    N[0].member = false;
    step(0, &nv);
    ck_assert(!info(0).failed); /* it applied s: it goes on, but cannot tell it won */
    view(6); /* n2 and n3: s failed everywhere */
    deliver();
    write_row(1, 'y', s);
    deliver();
    return s;
}

START_TEST(core_left_during_vote_no_ist)
{
    n1_applied_what_failed_everywhere();
    view(7); /* n1 is back, behind: a joiner */
    deliver();
    ck_assert_int_eq(info(0).state, REPL_S_JOINING);
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST}; /* running: no snapshot possible */
    step(0, &ev);
    deliver();
    ck_assert_ptr_nonnull(find(0, REPL_ACT_IST_RECV, -2)); /* it asked for IST alone */
    ck_assert_ptr_null(find(1, REPL_ACT_IST_SEND, -2));
    ck_assert_ptr_null(find(2, REPL_ACT_IST_SEND, -2));
    ck_assert(info(0).failed);
    struct repl_act *p = NULL;
    for (size_t k = 0; k < N[0].log.n; k++)
        if (N[0].log.a[k].kind == REPL_ACT_PERSIST) p = &N[0].log.a[k];
    ck_assert(p && p->corrupt); /* the next start takes a snapshot */
}
END_TEST

/* As above, but the only donor n1 can ask did not see the decision: n2 restarted from a state
 * before s, came back by IST from n3 (so its store holds s.. again) and n3 left. n2 learns the
 * decision from n3's STATE as it rejoins, as Galera's members learn the last vote from the state
 * exchange, and refuses to complete n1 by IST; without it, n1 came back with s applied. */
START_TEST(core_vote_learnt_from_state_exchange)
{
    int64_t s = n1_applied_what_failed_everywhere();
    tr_gtid pos = {*repl_core_group(N[1].c), s - 1}; /* its saved state lagged */
    repl_acts_free(&N[1].log);
    repl_core_free(N[1].c);
    N[1].c = NULL;
    start_at(1, &pos);
    view(6);
    deliver();
    ck_assert_int_eq(info(1).state, REPL_S_JOINING);
    struct repl_ev rq = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"rsync", .len = 6};
    step(1, &rq);
    deliver();
    struct repl_act *d = find(2, REPL_ACT_DONATE, -2), *sv = find(2, REPL_ACT_IST_SEND, s);
    ck_assert(d && d->bypass && sv); /* n2's own state before s is completed by IST */
    ist_stream_to(1, sv);
    struct repl_ev got = {.kind = REPL_EV_SST_RECEIVED, .gtid = pos};
    ck_assert_int_eq(step(1, &got), REPL_OK);
    deliver();
    ck_assert_int_eq(info(1).state, REPL_S_SYNCED);
    ck_assert_int_le(info(1).cached_downto, s); /* n2's store holds s.. now */
    view(2); /* n3 leaves */
    deliver();
    view(3); /* n1 is back, behind: a joiner, and n2 its only possible donor */
    deliver();
    ck_assert_int_eq(info(0).state, REPL_S_JOINING);
    struct repl_ev ev = {.kind = REPL_EV_SST_REQUEST}; /* running: IST alone */
    step(0, &ev);
    deliver();
    ck_assert_ptr_nonnull(find(0, REPL_ACT_IST_RECV, -2));
    ck_assert_ptr_null(find(1, REPL_ACT_IST_SEND, -2));
    ck_assert(info(0).failed);
}
END_TEST

/* n3's snapshot request is served by n2 (n1 is desynced), which crashes and restarts under the
 * same uuid before any view without it: its STATE comes from a new, empty stream. n2 may have
 * begun the snapshot, so n3 does not ask again (the host's script would run twice against one
 * joiner, "served twice"); it leaves as when a donor leaves mid-transfer
 * (trireme-nsim --seed 744 --streaming --pieces 160 --arbitrators). */
START_TEST(core_donor_restarted_not_asked_again)
{
    two_node_group();
    write_row(1, 'x', 1);
    deliver();
    struct repl_ev ds = {.kind = REPL_EV_DESYNC};
    step(0, &ds);
    deliver();
    start(2);
    view(7);
    deliver();
    struct repl_ev rq = {.kind = REPL_EV_SST_REQUEST, .buf = (uint8_t *)"rsync", .len = 6};
    step(2, &rq);
    deliver();
    ck_assert_ptr_nonnull(find(1, REPL_ACT_DONATE, -2)); /* n2 serves */
    tr_gtid pos = {*repl_core_group(N[1].c), info(1).last_seqno};
    repl_acts_free(&N[1].log);
    repl_core_free(N[1].c); /* n2 crashes ... */
    N[1].c = NULL;
    start_at(1, &pos); /* ... and comes back under the same uuid */
    view(7);
    deliver();
    ck_assert_ptr_null(find(1, REPL_ACT_DONATE, -2)); /* not served a second time */
    ck_assert(info(2).failed);
}
END_TEST

/* Each node alone, not primary (a partition): what was broadcast and not delivered is lost. */
static void all_alone(void)
{
    drop_queued();
    conf++;
    for (int i = 0; i < MAXN; i++) {
        if (!N[i].c || !N[i].member) continue;
        struct repl_member alone = {.id = N[i].id};
        snprintf(alone.name, sizeof alone.name, "n%d", i + 1);
        struct repl_gview np = {.primary = false, .conf_id = conf, .history = U(HIST),
                                .close = gseq, .my_idx = 0, .memb_num = 1, .members = &alone};
        struct repl_ev ev = {.kind = REPL_EV_VIEW, .view = &np};
        step(i, &ev);
    }
}

/* n1 fails to apply n2's write-set and asks the cluster; a partition leaves both alone before
 * the vote is decided. As Galera's voter (gcs_vote waits across a non-primary configuration),
 * n1 keeps its state and its applier held, and asks again when the primary component is back:
 * leaving at the partition threw away what it had committed, and when every member holding
 * acknowledged commits did so, only a node behind was left to bootstrap (trireme-nsim seed 714,
 * --streaming --pieces 160). Here the vote then goes as any other: 1:1 is success, n1 leaves. */
START_TEST(core_vote_survives_nonprimary)
{
    two_node_group();
    write_row(1, 'x', 1); /* seqno 2 */
    deliver();
    take_all(0);
    take_all(1);
    struct repl_ev c1 = {.kind = REPL_EV_COMMITTED, .seqno = 1};
    step(0, &c1);
    struct repl_ev c2 = {.kind = REPL_EV_COMMITTED, .seqno = 2};
    step(1, &c2);
    struct repl_ev f = {.kind = REPL_EV_APPLY_FAILED, .seqno = 2, .rc = 1, .code = 7};
    step(0, &f);
    ck_assert(repl_core_vote_pending(N[0].c, 2));
    all_alone();
    ck_assert_ptr_null(find(0, REPL_ACT_FAILED, -2)); /* it waits, as Galera's voter */
    ck_assert(repl_core_vote_pending(N[0].c, 2));
    ck_assert_int_eq(info(0).state, REPL_S_CONNECTED);
    view(3);
    deliver();
    ck_assert_ptr_null(find(0, REPL_ACT_FAILED, -2));
    ck_assert(info(0).primary && info(1).primary);
    for (int i = 0; i < 2; i++) {
        struct repl_ev t = {.kind = REPL_EV_TICK, .now = 1};
        step(i, &t);
    }
    said[0] = '\0';
    tr_log_set_sink(keep);
    deliver(); /* n1's VOTE again */
    step(1, &c2); /* n2's host: the point asked for has passed (repl_core_notify_at) */
    deliver(); /* n2's answer */
    tr_log_set_sink(quiet);
    ck_assert(!repl_core_vote_pending(N[0].c, 2));
    ck_assert_ptr_nonnull(find(0, REPL_ACT_FAILED, -2));
    ck_assert_msg(count_said("Inconsistent by consensus") == 1, "%s", said);
    ck_assert_ptr_null(find(1, REPL_ACT_FAILED, -2));
    ck_assert(info(1).primary);
}
END_TEST

/* Closed while that vote waits (the host stops, or the group ends): as Galera's gcs_vote ended
 * by a close, the node assumes it is the odd one: the applier gives up, and the saved state
 * keeps no position (a full state transfer at the next start). */
START_TEST(core_closed_with_vote_undecided_is_corrupt)
{
    two_node_group();
    write_row(1, 'x', 1); /* seqno 2 */
    deliver();
    take_all(0);
    struct repl_ev f = {.kind = REPL_EV_APPLY_FAILED, .seqno = 2, .rc = 1, .code = 7};
    step(0, &f);
    all_alone();
    struct repl_ev cl = {.kind = REPL_EV_CLOSED};
    step(0, &cl);
    ck_assert(!repl_core_vote_pending(N[0].c, 2));
    ck_assert_ptr_nonnull(find(0, REPL_ACT_FAILED, -2));
    struct repl_act *p = NULL; /* the last saved state */
    for (size_t k = 0; k < N[0].log.n; k++)
        if (N[0].log.a[k].kind == REPL_ACT_PERSIST) p = &N[0].log.a[k];
    ck_assert_ptr_nonnull(p);
    ck_assert(p->corrupt);
    struct repl_act *fin = find(0, REPL_ACT_FINAL, -2);
    ck_assert_ptr_nonnull(fin);
    ck_assert(fin->corrupt);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("repl_core");
    TCase *tc = tcase_create("step");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, core_new_group);
    tcase_add_test(tc, core_streaming_fragments);
    tcase_add_test(tc, core_join_resets_every_index);
    tcase_add_test(tc, core_join_spills_held);
    tcase_add_test(tc, core_ist_donor_dies_other_serves);
    tcase_add_test(tc, core_ist_donor_dies_nobody_left);
    tcase_add_test(tc, core_ist_donor_chosen_by_store);
    tcase_add_test(tc, core_ist_refused_asks_another);
    tcase_add_test(tc, core_restart_ist_bypass);
    tcase_add_test(tc, core_restart_ist_cut_after_bypass);
    tcase_add_test(tc, core_restart_ist_cut_before_sst_received);
    tcase_add_test(tc, core_restart_ist_began_view_before_cut);
    tcase_add_test(tc, core_restart_interrupted_keeps_position);
    tcase_add_test(tc, core_restart_donor_dies_before_stream);
    tcase_add_test(tc, core_ist_applied_as_received);
    tcase_add_test(tc, core_ist_store_keeps_records_and_held);
    tcase_add_test(tc, core_ist_store_gives_way_to_spill);
    tcase_add_test(tc, core_ist_cut_after_part_leaves_with_prefix);
    tcase_add_test(tc, core_ist_part_out_of_order_leaves);
    tcase_add_test(tc, core_restart_ist_part_waits_for_bypass);
    tcase_add_test(tc, core_restart_ist_cut_after_applied_part);
    tcase_add_test(tc, core_ist_delivers_missed_views);
    tcase_add_test(tc, core_last_report_waits_for_in_flight);
    tcase_add_test(tc, core_donor_and_desynced_exempt_from_flow);
    tcase_add_test(tc, core_str_from_non_member_ignored);
    tcase_add_test(tc, core_donor_cut_off_sends_no_join);
    tcase_add_test(tc, core_alone_orphan_fragment_fails_everywhere);
    tcase_add_test(tc, core_left_during_vote_no_ist);
    tcase_add_test(tc, core_vote_learnt_from_state_exchange);
    tcase_add_test(tc, core_success_loses_vote_galera_words);
    tcase_add_test(tc, core_donor_restarted_not_asked_again);
    tcase_add_test(tc, core_vote_survives_nonprimary);
    tcase_add_test(tc, core_ist_depends_from_scratch_index);
    tcase_add_test(tc, core_closed_with_vote_undecided_is_corrupt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    tr_log_set_sink(quiet);
    SRunner *r = srunner_create(core_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
