/* replicator/repl_core: the ordered stream's step function (see repl_core.h). Seqnos,
 * certification verdicts, the state exchange, state transfer and votes follow from the
 * events in the order they are stepped, and from nothing else. */
#include "replicator/repl_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_index.h"
#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "replicator/repl_exch.h"
#include "replicator/repl_flow.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_inflight.h"
#include "replicator/repl_members.h"
#include "replicator/repl_msg.h"
#include "replicator/repl_vote.h"
#include "replicator/repl_xfer.h"

#define LAST_EVERY 64               /* committed seqnos between LAST reports */
#define STR_RETRY_NS 1000000000ull /* a request nobody could serve goes out again after this */
/* a joiner's spilled write-sets are read back and go to the appliers in batches of a quarter
 * of its memory bound, the next batch once fewer than HELD_REFILL actions wait */
#define HELD_REFILL 64
#define IST_RETRIES 3 /* other donors an IST alone asks after its donor died (each way) */

/* A message that came between a primary view and the end of its state exchange. */
struct deferred {
    tr_uuid sender;
    int64_t gseq, span;
    uint8_t *buf;
    size_t len;
    struct repl_ws *ws;
    struct deferred *next;
};

struct repl_core {
    struct repl_core_cfg cfg;
    struct repl_flow_cfg fcfg;
    enum repl_fsm_state state;
    int desync_count;
    bool connected, closing, closed, failed;
    bool prim_view;  /* the group's current view is primary (its exchange may still run) */
    bool ordering;   /* that exchange completed with a group state: actions take seqnos */
    bool intact;     /* in the last primary component since its exchange completed, holding
                      * its state: what STATE calls `prim` */
    bool first_primary_seen;
    bool safe_to_bootstrap;
    bool bootstrap_flag; /* the operator bootstrapped here; cleared once a primary view forms */
    uint64_t shifts, illegal_shifts;
    int donor_fail; /* a donor's failure report not yet seen in the total order (0: none) */
    tr_uuid proposal;
    uint64_t rng;
    tr_uuid group_uuid;
    int64_t last_seqno;
    int64_t conf_id;
    uint64_t view_epoch;
    uint64_t now;
    int64_t committed;     /* the highest COMMITTED report */
    /* the last seqnos a vote decided fail everywhere, and the last seqno ordered when it was
     * decided: a joiner whose own state is at or past one of them, but not past its decision,
     * may have applied it (it succeeded there, then left before the vote ended, so it never
     * learnt that it lost): its state is not completed by IST */
    int64_t vote_failed[8], vote_failed_at[8];
    unsigned nvote_failed;
    /* votes on seqnos up to here may have begun before this node entered the ordered stream
     * (its state came from a transfer or from before it connected): it may have seen only
     * part of one, which then never ends here, so they do not hold its donations */
    int64_t votes_from;
    int64_t last_reported; /* the committed position of the last LAST this node sent */
    int64_t queued;        /* queued actions the appliers have not taken yet */
    uint64_t vote_retry_at; /* our unanswered VOTEs go out again at this time */
#define FAILED_ALL 16
    int64_t failed_all[FAILED_ALL]; /* the last seqnos a vote said fail everywhere */
    unsigned failed_all_next;
    /* where this node stands in the group's message stream (repl_msg_state: ghist, lo, gl, gend) */
    tr_uuid g_hist;
    int64_t g_lo, g_last, g_end;
    uint16_t g_lo_n;
    tr_uuid g_lo_memb[REPL_MSG_MAX_MEMBERS];
    char g_lo_names[REPL_MSG_MAX_MEMBERS][REPL_NAME_LEN];
    tr_uuid view_ghist;  /* the current view's message history ... */
    int64_t msg_gseq;    /* the group's seq of the message being handled */
    int64_t view_gseq;   /* ... and the last message delivered in it (its close at first) */
    struct repl_exch exch;
    struct deferred *dhead, *dtail;
    struct repl_members memb;
    struct repl_xfer xfer;
    struct repl_votes votes;
    struct repl_flow flow;
    struct repl_inflight inflight;
    struct cert_index *cert;
    int64_t cert_floor;
    struct repl_gcache *gcache;
    bool own_gcache; /* the anonymous store made when the driver gave none */
};

/* ---- actions ---- */

void repl_act_release(struct repl_act *a)
{
    repl_ws_unref(a->ws);
    free(a->view);
    tr_buf_free(&a->msg);
    free(a->req);
    free(a->addr);
    free(a->last_view);
    repl_gcache_unpin(a->pin);
    memset(a, 0, sizeof *a);
}

int repl_acts_push(struct repl_acts *acts, struct repl_act *a)
{
    if (acts->n == acts->cap) {
        size_t cap = acts->cap ? acts->cap * 2 : 16;
        struct repl_act *n = tr_fail_hit("acts.push") ? NULL : realloc(acts->a, cap * sizeof *n);
        if (!n) {
            acts->oom = true;
            repl_act_release(a);
            return -1;
        }
        acts->a = n;
        acts->cap = cap;
    }
    acts->a[acts->n++] = *a;
    memset(a, 0, sizeof *a);
    return 0;
}

void repl_ist_recs_free(struct repl_ist_rec *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        repl_ws_unref(r[i].ws);
        free(r[i].view);
    }
    free(r);
}

void repl_acts_free(struct repl_acts *acts)
{
    for (size_t i = 0; i < acts->n; i++) repl_act_release(&acts->a[i]);
    free(acts->a);
    memset(acts, 0, sizeof *acts);
}

static void fail(struct repl_core *c, struct repl_acts *out, const char *why);

static void emit(struct repl_core *c, struct repl_acts *out, struct repl_act *a)
{
    bool queued = repl_act_queued(a->kind);
    if (repl_acts_push(out, a)) {
        /* nothing more can be recorded: the driver sees out->oom and leaves */
        c->failed = true;
        return;
    }
    if (queued) c->queued++;
}

static void emit_kind(struct repl_core *c, struct repl_acts *out, enum repl_act_kind k)
{
    struct repl_act a = {.kind = k};
    emit(c, out, &a);
}

/* Encodes with enc (0 on success) into a BROADCAST action. */
#define BROADCAST(c, out, enc_call)                                                             \
    do {                                                                                        \
        struct repl_act a_ = {.kind = REPL_ACT_BROADCAST};                                      \
        if ((enc_call) || tr_fail_hit("core.msg")) {                                           \
            tr_buf_free(&a_.msg);                                                               \
            fail((c), (out), "out of memory for a control message");                            \
        } else {                                                                                \
            emit((c), (out), &a_);                                                              \
        }                                                                                       \
    } while (0)

/* The lowest seqno of the group's history this node's store holds (-1: none): the members'
 * table keeps it for the choice of an IST donor. */
static int64_t own_cached(const struct repl_core *c)
{
    return repl_gcache_first_of(c->gcache, &c->group_uuid);
}

static void send_join(struct repl_core *c, struct repl_acts *out, int type, int64_t seqno,
                      int status)
{
    struct repl_msg_join m = {c->cfg.self, seqno, status, own_cached(c)};
    BROADCAST(c, out, repl_msg_join_encode(type, &m, &a_.msg));
}

/* A donor that cannot serve says so until the group has seen it: a joiner whose donor's word
 * was lost with a view change would otherwise wait for ever. */
static void donor_failed(struct repl_core *c, struct repl_acts *out, int status)
{
    c->donor_fail = status;
    send_join(c, out, REPL_MSG_JOIN, c->committed, status);
}

/* The last ordering view, as grastate.dat keeps it. */
static void last_view_of(const struct repl_core *c, struct repl_core_last_view *lv)
{
    lv->view = c->g_lo;
    size_t o = 0;
    lv->members[0] = '\0';
    for (int i = 0; i < c->g_lo_n; i++) {
        if (i && o + 1 < sizeof lv->members) lv->members[o++] = ',';
        for (const char *p = c->g_lo_names[i]; *p && o + 4 < sizeof lv->members; p++) {
            if (*p == ',' || *p == '%')
                o += (size_t)snprintf(lv->members + o, sizeof lv->members - o, "%%%02X", (unsigned char)*p);
            else
                lv->members[o++] = *p;
        }
        lv->members[o] = '\0';
    }
}

static void last_view_load(struct repl_core *c, const struct repl_core_last_view *lv)
{
    c->g_lo = lv && lv->view > 0 ? lv->view : 0;
    c->g_lo_n = 0;
    if (!c->g_lo) return;
    const char *p = lv->members;
    while (*p && c->g_lo_n < REPL_MSG_MAX_MEMBERS) {
        char *d = c->g_lo_names[c->g_lo_n];
        size_t o = 0;
        for (; *p && *p != ','; p++) {
            char ch = *p;
            if (ch == '%' && p[1] && p[2]) {
                unsigned v = 0;
                sscanf(p + 1, "%2x", &v);
                ch = (char)v;
                p += 2;
            }
            if (o + 1 < REPL_NAME_LEN) d[o++] = ch;
        }
        d[o] = '\0';
        memset(&c->g_lo_memb[c->g_lo_n], 0, sizeof c->g_lo_memb[0]); /* uuids are per process */
        c->g_lo_n++;
        if (*p == ',') p++;
    }
}

static void persist(struct repl_core *c, struct repl_acts *out, bool running)
{
    if (c->failed) return; /* the mark that says this state cannot be trusted stays */
    struct repl_act a = {.kind = REPL_ACT_PERSIST, .running = running,
                         .safe_to_bootstrap = c->safe_to_bootstrap};
    if (c->g_lo > 0 && (a.last_view = calloc(1, sizeof *a.last_view))) last_view_of(c, a.last_view);
    a.gtid.uuid = c->group_uuid;
    a.gtid.seqno = -1;
    emit(c, out, &a);
}

static void shift(struct repl_core *c, struct repl_acts *out, enum repl_fsm_state to)
{
    enum repl_fsm_rc rc = repl_fsm_shift(&c->state, to, c->last_seqno);
    if (rc == REPL_FSM_OK) c->shifts++;
    if (rc == REPL_FSM_ILLEGAL) {
        c->illegal_shifts++;
        fail(c, out, "illegal node state transition");
    }
}

/* Fail-stop: after a seqno exists, a local failure never skips or reorders history here; the
 * node stops applying, leaves the group and says why; everything ordered after is dropped. corrupt: its data may differ from the group's (a lost
 * vote, a transfer cut short), so the next start asks for a full state transfer, as Galera marks
 * its saved state after an inconsistency. Otherwise (a local resource failure) what it committed
 * is a prefix of the group's history, as after a crash: the next start goes on from the
 * engine's recovered position. */
/* terminate: the node can never serve again (a joiner whose state will never arrive): the
 * driver ends the host process once the group has let it go, as Galera does (the LEAVE act's
 * stop flag; trireme.sst_abort) */
/* The node is broken from here on: its appliers give up, and grastate.dat keeps no position. */
static void mark_failed(struct repl_core *c, struct repl_acts *out, bool corrupt)
{
    c->failed = true;
    c->safe_to_bootstrap = false;
    struct repl_act f = {.kind = REPL_ACT_FAILED};
    repl_acts_push(out, &f);
    struct repl_act p = {.kind = REPL_ACT_PERSIST, .running = true, .corrupt = corrupt};
    p.gtid.uuid = c->group_uuid;
    p.gtid.seqno = -1;
    repl_acts_push(out, &p);
}

/* kept >= 0: the data is known to hold exactly that clean position of group_uuid's history
 * (xfer_untouched_at), written before the leave so that it is on disk first */
static void fail_leave_at(struct repl_core *c, struct repl_acts *out, const char *why,
                          bool corrupt, bool terminate, int64_t kept)
{
    if (c->failed) return;
    tr_error("%s: this node leaves the cluster rather than diverge from the others", why);
    mark_failed(c, out, corrupt);
    if (kept >= 0 && !corrupt) {
        tr_info("Nothing of the state transfer reached this node's data: grastate.dat keeps "
                "its position %lld",
                (long long)kept);
        struct repl_act p = {.kind = REPL_ACT_PERSIST, .running = false};
        p.gtid.uuid = c->group_uuid;
        p.gtid.seqno = kept;
        repl_acts_push(out, &p);
    }
    struct repl_act a = {.kind = REPL_ACT_LEAVE, .stop = terminate};
    repl_acts_push(out, &a); /* if even this fails, out->oom makes the driver leave */
}

static void fail_leave(struct repl_core *c, struct repl_acts *out, const char *why, bool corrupt,
                       bool terminate)
{
    fail_leave_at(c, out, why, corrupt, terminate, -1);
}

static void fail_as(struct repl_core *c, struct repl_acts *out, const char *why, bool corrupt)
{
    fail_leave(c, out, why, corrupt, false);
}

/* A snapshot (SST) cut short may have left the host's data half replaced; an IST cut short,
 * a bypassed SST (the host copied nothing), or a transfer whose state has arrived, leaves what
 * was committed a prefix of the history. A donor streams IST to a joiner with a snapshot
 * request only when it bypassed the snapshot, so a stream that began (it ended whole or was
 * cut: not a receiver that never saw its donor) says so before sst_received does. */
static bool xfer_data_unsure(const struct repl_core *c)
{
    const struct repl_xfer *x = &c->xfer;
    /* a stream that began says the donor bypassed the snapshot, whether or not its end (a
     * cut) reached the core before the view without the donor did */
    bool streamed = x->ist_began || (x->ist_in && (x->ist_rc == 0 || x->ist_rc == -ECONNRESET));
    return x->req && x->phase != REPL_XFER_APPLY && !x->bypassed && !streamed;
}

static void fail(struct repl_core *c, struct repl_acts *out, const char *why)
{
    fail_as(c, out, why, false);
}

static void fail_corrupt(struct repl_core *c, struct repl_acts *out, const char *why)
{
    fail_as(c, out, why, true);
}

/* ---- small helpers ---- */

static uint64_t next_rand(struct repl_core *c)
{
    uint64_t x = c->rng ? c->rng : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

static struct repl_view *make_view(const struct repl_core *c, const struct repl_member *members,
                                   int num, int my_idx, bool primary, int64_t conf_id,
                                   int64_t seqno)
{
    struct repl_view *v = tr_fail_hit("core.view") ? NULL : calloc(1, repl_view_size(num));
    if (!v) return NULL;
    v->state_id.uuid = c->group_uuid;
    v->state_id.seqno = seqno;
    v->view = primary ? conf_id : -1;
    v->status = primary ? REPL_VIEW_PRIMARY : REPL_VIEW_NON_PRIMARY;
    v->capabilities = c->cfg.capabilities;
    v->my_idx = my_idx;
    v->memb_num = num;
    v->proto_ver = c->cfg.proto_ver;
    if (num > 0) memcpy(v->members, members, sizeof *members * (size_t)num);
    return v;
}

static struct repl_view *copy_view(const struct repl_view *v)
{
    struct repl_view *d = v ? malloc(repl_view_size(v->memb_num)) : NULL;
    if (d) memcpy(d, v, repl_view_size(v->memb_num));
    return d;
}

static bool exempt_from_flow(const struct repl_core *c)
{
    /* a desynced node, a donor, and a joiner waiting for its state never hold the group; nor
     * does one whose applier waits for a vote: the answers it waits for must get through */
    return c->desync_count > 0 || c->state == REPL_S_DONOR || !c->connected || c->closed ||
           repl_xfer_holding(&c->xfer) || repl_votes_failed_here(&c->votes, INT64_MIN);
}

static void flow_check(struct repl_core *c, struct repl_acts *out)
{
    if (repl_flow_eval(&c->flow, &c->fcfg, repl_members_data(&c->memb), c->queued + c->xfer.held,
                       exempt_from_flow(c))) {
        struct repl_act a = {.kind = REPL_ACT_FC, .stop = c->flow.want_stop};
        emit(c, out, &a);
    }
}

static void xfer_fail(struct repl_core *c, struct repl_acts *out, const char *why);

/* One ordered action into the store (a view, a write-set, or a seqno that needs no work). */
static void store_put(struct repl_core *c, const struct repl_act *a)
{
    int rc = a->kind == REPL_ACT_VIEW && a->view
                 ? repl_gcache_put_view(c->gcache, &c->group_uuid, a->seqno, a->view)
                 : repl_gcache_put(c->gcache, &c->group_uuid, a->seqno, a->kind == REPL_ACT_APPLY ? a->ws : NULL);
    if (rc) tr_debug("write-set store: no room for seqno %lld; it starts over", (long long)a->seqno);
}

/* A joiner's store took the IST records as they came (repl_xfer ist_store): what it ordered
 * from its join point on, held in memory meanwhile, goes in behind them (and then also, the
 * action being held now), so that the store is one range again and ordered puts resume. */
static void ist_store_end(struct repl_core *c, const struct repl_act *also)
{
    struct repl_xfer *x = &c->xfer;
    if (!x->ist_store) return;
    x->ist_store = false;
    int64_t join = x->ist_to + 1;
    struct repl_act j = {.kind = x->join_view ? REPL_ACT_VIEW : REPL_ACT_SKIP, .seqno = join, .view = x->join_view};
    store_put(c, &j);
    for (struct repl_held *h = x->head; h; h = h->next)
        if (h->act.seqno > join) store_put(c, &h->act);
    if (also && also->seqno > join) store_put(c, also);
}

/* An ordered action for the appliers: held while this node waits for its state, dropped when
 * the state it received already contains it. */
static void order_out(struct repl_core *c, struct repl_acts *out, struct repl_act *a)
{
    bool apply = c->xfer.phase == REPL_XFER_APPLY;
    if (apply && a->seqno >= 0 && a->seqno <= c->xfer.seqno) {
        repl_act_release(a);
        return;
    }
    /* while held actions are still being released (APPLY), new ones queue behind them */
    if (repl_xfer_holding(&c->xfer) || (apply && c->xfer.head)) {
        /* a write-set spilled is read back from the store: it must be there, behind the rest */
        if (c->xfer.ist_store && repl_xfer_would_spill(&c->xfer, a)) ist_store_end(c, a);
        int rc = repl_xfer_hold(&c->xfer, a);
        if (rc == -2 && !apply)
            xfer_fail(c, out, c->xfer.why);
        else if (rc == -2)
            fail(c, out, c->xfer.why);
        else if (rc)
            fail(c, out, "out of memory holding an ordered action for the state transfer");
        return;
    }
    emit(c, out, a);
}

/* A joiner caught up: everything held went to the appliers and they took it, and it ordered
 * past the state it received. The group hears SYNC; the node is Synced when it comes back. */
static void xfer_check(struct repl_core *c, struct repl_acts *out)
{
    struct repl_xfer *x = &c->xfer;
    if (x->phase != REPL_XFER_APPLY || c->last_seqno < x->seqno || x->taken < x->catchup_upto ||
        x->head)
        return;
    x->phase = REPL_XFER_NONE;
    free(x->req);
    x->req = NULL;
    x->req_len = 0;
    x->have_donor = false;
    tr_info("Member caught up with the group at %lld: sending SYNC", (long long)c->last_seqno);
    send_join(c, out, REPL_MSG_SYNC, c->last_seqno, 0);
}

/* ---- messages that will never be ordered here ---- */

static void lose_own(struct repl_core *c, struct repl_acts *out, uint64_t id, bool causal)
{
    if (!repl_inflight_take(&c->inflight, id, causal)) return;
    struct repl_act a = {.kind = causal ? REPL_ACT_CAUSAL_LOST : REPL_ACT_LOCAL_LOST, .id = id};
    emit(c, out, &a);
}

/* A message every member drops (delivered outside an ordering primary component): its waiter
 * here gets an error (or sends its marker again) instead of waiting for ever. */
static void lose_msg(struct repl_core *c, struct repl_acts *out, const uint8_t *buf, size_t len,
                     struct repl_ws *ws)
{
    if (ws) {
        if (ws->decode_rc != 0 || tr_uuid_compare(&ws->view.hdr.source, &c->cfg.self) != 0)
            return;
        if (ws->view.hdr.local_id == 0 && (ws->view.hdr.flags & REPL_F_ROLLBACK)) {
            /* a rollback fragment has no waiter: the driver sends it again */
            struct repl_act a = {.kind = REPL_ACT_LOCAL_LOST, .id = 0, .ws = repl_ws_ref(ws)};
            emit(c, out, &a);
        } else {
            lose_own(c, out, ws->view.hdr.local_id, false);
        }
        return;
    }
    struct repl_msg_causal m;
    if (buf && repl_msg_is_control(buf, len) && repl_msg_type(buf) == REPL_MSG_CAUSAL &&
        repl_msg_causal_decode(buf, len, &m) == 0 && tr_uuid_compare(&m.node, &c->cfg.self) == 0)
        lose_own(c, out, m.id, true);
}

static void lose_all_in_flight(struct repl_core *c, struct repl_acts *out)
{
    /* gcomm drops what this node still had pending when it reports a non-primary view and
     * never delivers it here afterwards: the waiters get an error now, as Galera's do */
    while (c->inflight.n) {
        struct repl_inflight_ent e = c->inflight.e[c->inflight.n - 1];
        lose_own(c, out, e.id, e.causal);
    }
}

static void drop_deferred(struct repl_core *c, struct repl_acts *out)
{
    while (c->dhead) {
        struct deferred *d = c->dhead;
        c->dhead = d->next;
        lose_msg(c, out, d->buf, d->len, d->ws);
        repl_ws_unref(d->ws);
        free(d->buf);
        free(d);
    }
    c->dtail = NULL;
}

static int defer_msg(struct repl_core *c, const tr_uuid *sender, int64_t gseq, int64_t span,
                     uint8_t *buf, size_t len, struct repl_ws *ws)
{
    struct deferred *d = tr_fail_hit("core.defer") ? NULL : calloc(1, sizeof *d);
    if (!d) return -1;
    *d = (struct deferred){*sender, gseq, span, buf, len, ws, NULL};
    if (c->dtail)
        c->dtail->next = d;
    else
        c->dhead = d;
    c->dtail = d;
    return 0;
}

/* ---- write-sets ---- */

static void on_ws(struct repl_core *c, struct repl_acts *out, struct repl_ws *ws)
{
    if (!c->ordering || c->failed) {
        if (!c->failed)
            tr_info("dropping a write-set delivered %s", c->state == REPL_S_JOINING
                                                             ? "to a joiner (no state transfer yet)"
                                                             : "outside a primary component");
        lose_msg(c, out, NULL, 0, ws);
        repl_ws_unref(ws);
        return;
    }
    if (ws->decode_rc) {
        if (repl_ws_local_failure(ws->decode_rc)) {
            char why[160];
            snprintf(why, sizeof why, "decoding a write-set of %zu bytes failed on this node (%s)",
                     ws->len, cert_ws_strerror(ws->decode_rc));
            fail(c, out, why);
        } else {
            /* every member got the same bytes and decides the same: no seqno anywhere */
            tr_warn("dropping a write-set of %zu bytes: %s", ws->len, cert_ws_strerror(ws->decode_rc));
        }
        repl_ws_unref(ws);
        return;
    }
    int64_t seqno = ++c->last_seqno;
    int64_t depends = TR_SEQNO_UNDEFINED;
    int crc = tr_fail_hit("core.certify") ? CERT_ENOMEM : cert_certify(c->cert, &ws->view, seqno, &depends);
    if (crc < 0) {
        char why[120];
        snprintf(why, sizeof why, "certification of seqno %lld failed internally (%d)", (long long)seqno, crc);
        fail(c, out, why);
        repl_ws_unref(ws);
        return;
    }
    bool ok = crc == CERT_OK;
    if (!ok) depends = seqno - 1;
    /* the store a donor serves IST from: what every member applied at this seqno (a joiner
     * putting IST records there holds this in memory, and puts it behind them: ist_store_end) */
    if (!c->xfer.ist_store && repl_gcache_put(c->gcache, &c->group_uuid, seqno, ok ? ws : NULL))
        tr_debug("write-set store: no room for seqno %lld; it starts over", (long long)seqno);
    if (tr_uuid_compare(&ws->view.hdr.source, &c->cfg.self) == 0) {
        uint64_t id = ws->view.hdr.local_id;
        if (repl_inflight_take(&c->inflight, id, false)) {
            repl_ws_unref(ws);
            struct repl_act a = {.kind = REPL_ACT_LOCAL, .id = id, .seqno = seqno,
                                 .depends = depends, .ok = ok};
            emit(c, out, &a);
            return;
        }
        /* its client was told it was lost (a view change), yet the group ordered it: it is
         * applied here like another node's, as everywhere else */
    }
    /* a SKIP keeps its write-set too: nothing applies it, but it says which one was refused */
    struct repl_act a = {.kind = ok ? REPL_ACT_APPLY : REPL_ACT_SKIP, .seqno = seqno,
                         .depends = depends, .ws = ws};
    order_out(c, out, &a);
    xfer_check(c, out);
}

/* ---- the state exchange ---- */

/* cert_streaming_close's test: the source is a member of the view being installed. */
static bool in_view(const tr_uuid *src, void *arg)
{
    const struct repl_exch *x = arg;
    for (int i = 0; i < x->n; i++)
        if (tr_uuid_compare(&x->members[i].id, src) == 0) return true;
    return false;
}

static void send_state(struct repl_core *c, struct repl_acts *out, int64_t conf_id)
{
    int64_t cached = own_cached(c);
    struct repl_msg_state m = {
        .has_cached = cached >= 0,
        .cached = cached,
        .conf_id = conf_id,
        .node = c->cfg.self,
        .group = c->group_uuid,
        .seqno = tr_uuid_is_nil(&c->group_uuid) ? TR_SEQNO_UNDEFINED : c->last_seqno,
        .prim = c->intact,
        .served = c->xfer.phase == REPL_XFER_WAIT && c->xfer.have_donor,
        .served_by = c->xfer.donor,
        .served_hist = c->xfer.str_hist,
        .served_at = c->xfer.str_at,
        .catching_up = c->xfer.phase == REPL_XFER_APPLY,
        /* a joiner's own store: what it held when it became one (repl_exch.c representative) */
        .own_seqno = c->state == REPL_S_JOINING && !tr_uuid_compare(&c->xfer.own_uuid, &c->group_uuid) &&
                             c->xfer.own_seqno > 0
                         ? c->xfer.own_seqno
                         : 0,
        .bootstrap = c->bootstrap_flag,
        .state = (uint8_t)c->state,
        .proto_app = (uint16_t)c->cfg.proto_ver,
        .proposal = c->proposal,
        .ghist = c->g_hist,
        .lo = c->g_lo,
        .gl = c->g_last,
        .gend = c->g_end,
        .lo_n = c->g_lo_n,
    };
    if (!tr_uuid_is_nil(&c->group_uuid)) {
        unsigned nv = c->nvote_failed < REPL_MSG_MAX_VOTES ? c->nvote_failed : REPL_MSG_MAX_VOTES;
        for (unsigned i = 0; i < nv; i++) {
            m.vote_seqno[m.nvotes] = c->vote_failed[i];
            m.vote_at[m.nvotes++] = c->vote_failed_at[i];
        }
    }
    memcpy(m.lo_memb, c->g_lo_memb, sizeof m.lo_memb);
    memcpy(m.lo_names, c->g_lo_names, sizeof m.lo_names);
    memcpy(m.name, c->cfg.name, sizeof m.name);
    memcpy(m.incoming, c->cfg.incoming, sizeof m.incoming);
    BROADCAST(c, out, repl_msg_state_encode(&m, &a_.msg));
}

static void on_msg(struct repl_core *c, struct repl_acts *out, const tr_uuid *sender,
                   int64_t gseq, int64_t span, uint8_t *buf, size_t len, struct repl_ws *ws);
static void on_ist_received(struct repl_core *c, struct repl_acts *out, struct repl_ev *ev);
static void ist_flush(struct repl_core *c, struct repl_acts *out);
static void ist_donor_left(struct repl_core *c, struct repl_acts *out);

/* What the group knows of a member from its STATE message. */
static uint8_t member_state(const struct repl_msg_state *s, const struct repl_exch_result *r)
{
    if (s->arbitrator) return REPL_M_ARBITRATOR; /* docs/design/arbitrator.md */
    bool holds = r->new_history || (repl_exch_holds(s) && repl_exch_same(s, r));
    if (!holds) return s->state == REPL_S_JOINING && s->served ? REPL_M_JOINER : REPL_M_PRIM;
    if (s->state == REPL_S_DONOR) return REPL_M_DONOR;
    /* a JOINED member that is not catching up any more reports Synced at this view (it does so
     * locally without a SYNC message; every member decides alike from its STATE) */
    if (s->state == REPL_S_JOINED && s->catching_up) return REPL_M_JOINED;
    return REPL_M_SYNCED;
}

/* seqno failed everywhere: nobody applies it from now on, not a joiner that holds it, not one
 * served by IST, not one whose applier has yet to take it */
static void failed_everywhere(struct repl_core *c, int64_t seqno)
{
    repl_gcache_forget(c->gcache, seqno);
    c->vote_failed_at[c->nvote_failed % 8] = c->last_seqno;
    c->vote_failed[c->nvote_failed++ % 8] = seqno;
    repl_xfer_held_skip(&c->xfer, seqno);
    c->failed_all[c->failed_all_next++ % FAILED_ALL] = seqno;
}

/* A failure decided while this node was away or before it restarted, learnt from a member's
 * STATE: kept like its own, so that as a donor it judges a joiner's state as they would. */
static void vote_learn(struct repl_core *c, int64_t seqno, int64_t at)
{
    unsigned nv = c->nvote_failed < 8 ? c->nvote_failed : 8;
    for (unsigned i = 0; i < nv; i++)
        if (c->vote_failed[i] == seqno) return;
    c->vote_failed_at[c->nvote_failed % 8] = at;
    c->vote_failed[c->nvote_failed++ % 8] = seqno;
}

/* A streaming fragment that does not end its transaction, from a node outside the primary
 * view: that transaction can never commit in this component (its origin left, so every member
 * rolls it back), so a failure to apply it here changes no committed state anywhere. */
static bool orphan_fragment(struct repl_core *c, int64_t seqno)
{
    struct repl_ws *ws = NULL;
    if (repl_gcache_get(c->gcache, seqno, &ws) || !ws) return false;
    struct cert_ws_hdr h;
    bool orphan = cert_ws_hdr_decode(ws->buf, ws->len, &h) == 0 &&
                  !(h.flags & (REPL_F_TRX_END | REPL_F_ISOLATION)) &&
                  repl_members_find(&c->memb, &h.source) < 0;
    repl_ws_unref(ws);
    return orphan;
}

static void vote_decided(struct repl_core *c, struct repl_acts *out, const struct repl_vote_result *r)
{
    if (!r->decided) return;
    emit_kind(c, out, REPL_ACT_NOTIFY); /* an applier may wait for this decision */
    if (r->lost) {
        char u[TR_UUID_STR_LEN + 1], why[320];
        tr_uuid_print(&c->group_uuid, u);
        /* Galera's words first: monitoring and MariaDB's tests look for them. Galera words a
         * success that lost differently from a failure that lost (replicator_smm.cpp,
         * process_vote), and galera_3nodes.galera_toi_vote suppresses exactly the former */
        if (!r->mine)
            snprintf(why, sizeof why,
                     "Vote 0 (success) on %s:%lld is inconsistent with group. Leaving cluster. "
                     "It failed the same way on %d of %d members",
                     u, (long long)r->seqno, r->agree, r->asked);
        else
            snprintf(why, sizeof why,
                     "Inconsistency detected: Inconsistent by consensus on %s:%lld: it failed here "
                     "but %s on %d of %d members",
                     u, (long long)r->seqno, r->winner ? "failed another way" : "succeeded", r->agree,
                     r->asked);
        fail_corrupt(c, out, why);
    } else {
        tr_info("Vote on seqno %lld: %d of %d members agree (%s)", (long long)r->seqno, r->agree,
                r->asked, r->winner ? "the action fails everywhere" : "success");
    }
    if (r->winner) failed_everywhere(c, r->seqno);
}

/* gcomm delivers a message once a majority has it, so a donor cut off from the primary
 * component may never have seen the request that chose it, and would never serve. Every member
 * tells so alike from the STATE messages: the donor's stream of that history stops before the
 * request's place. Such a joiner counts as not served, and asks again. A donor whose STATE is
 * from another stream (a process restarted under the same uuid, whose stream starts empty, or
 * one that went on in another primary component) may have begun the transfer before: it is
 * not asked again (a snapshot served twice runs the host's script twice against one joiner);
 * the joiner treats it as a donor that left. Returns true when that is this node's donor. */
static bool unserved(struct repl_core *c, struct repl_exch *x)
{
    bool gone = false;
    for (int i = 0; i < x->n; i++) {
        struct repl_msg_state *j = &x->states[i];
        if (!j->served) continue;
        bool present = false;
        for (int k = 0; k < x->n; k++) present |= tr_uuid_compare(&x->states[k].node, &j->served_by) == 0;
        if (!present) { /* its donor left: it waits for nobody (it asks again or leaves) */
            j->served = false;
            continue;
        }
        for (int k = 0; k < x->n; k++) {
            const struct repl_msg_state *d = &x->states[k];
            if (tr_uuid_compare(&d->node, &j->served_by)) continue;
            bool same = tr_uuid_compare(&d->ghist, &j->served_hist) == 0;
            if (same && d->gl >= j->served_at) break;
            j->served = false;
            if (i == x->my_idx && same) {
                tr_info("The donor did not see this node's state transfer request (it was cut "
                        "off before it was ordered): asking again");
                c->xfer.have_donor = false;
            } else if (i == x->my_idx) {
                tr_warn("The donor comes back from another stream (restarted, or primary "
                        "elsewhere): the transfer it may have begun is gone");
                gone = true;
            }
            break;
        }
    }
    return gone;
}

static void exch_complete(struct repl_core *c, struct repl_acts *out)
{
    struct repl_exch *x = &c->exch;
    struct repl_exch_result r;
    repl_exch_decide(x->states, x->n, x->my_idx, &x->ghist, x->close, &r);
    c->view_epoch++;
    emit_kind(c, out, REPL_ACT_NOTIFY);
    if (r.no_state) {
        tr_error("Quorum results: view %lld, %d members, but no member holds the complete group "
                 "state (%s): not primary until one that does returns",
                 (long long)x->conf_id, x->n,
                 r.waiting ? "members that left may have delivered actions the others missed"
                           : "all are joiners");
        for (int i = 0; i < x->n; i++)
            tr_info("  member %d (%s): seqno %lld, last ordering view %lld, stream held to %lld, "
                    "that stream closed at %lld (this view continues after %lld)%s%.0lld",
                    i, x->members[i].name, (long long)x->states[i].seqno, (long long)x->states[i].lo,
                    (long long)x->states[i].gl, (long long)x->states[i].gend, (long long)x->close,
                    x->states[i].own_seqno > 0 ? "; a joiner whose own store holds up to " : "",
                    (long long)x->states[i].own_seqno);
        drop_deferred(c, out);
        repl_exch_clear(x);
        return;
    }
    for (int i = 0; i < x->n; i++)
        tr_debug("  member %d (%s): seqno %lld, primary %d, state %d, last ordering view %lld, "
                 "held to %lld, closed at %lld (view close %lld)",
                 i, x->members[i].name, (long long)x->states[i].seqno, x->states[i].prim,
                 x->states[i].state, (long long)x->states[i].lo, (long long)x->states[i].gl,
                 (long long)x->states[i].gend, (long long)x->close);
    if (r.bootstrapped)
        tr_warn("Quorum: no member is known to hold the complete group state; the operator "
                "bootstrapped member %d (%s), whose state at %lld represents the group",
                r.rep, x->members[r.rep].name, (long long)r.seqno);
    char u[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&r.group, u);
    /* a joiner whose state arrived while the exchange ran holds the group's state now */
    if (r.receiving && !repl_xfer_holding(&c->xfer) && repl_fsm_holds_state(c->state)) {
        r.receiving = false;
        r.joined = true;
    }
    bool receiving = r.receiving && c->xfer.phase != REPL_XFER_NONE;
    tr_info("Quorum results: view %lld, %d members, group %s:%lld, this node %s",
            (long long)x->conf_id, x->n, u, (long long)r.seqno,
            r.joined ? "holds that state" : receiving ? "is receiving it" : "needs a state transfer");
    if (!r.joined && !receiving && c->xfer.phase != REPL_XFER_NONE) {
        /* a transfer was under way, but the stream it was holding has a gap now */
        bool unsure = xfer_data_unsure(c);
        repl_xfer_clear(&c->xfer);
        fail_as(c, out, "State transfer interrupted: the group moved on without this node", unsure);
    }
    if (!r.joined && !receiving) /* a joiner: its state will hold the outcome up to here */
        c->votes_from = r.seqno;
    if (r.joined && !c->first_primary_seen) /* entering the stream with a state of its own */
        c->votes_from = r.seqno;
    if (!r.joined && !receiving) { /* what it holds: an IST may complete it */
        c->xfer.own_uuid = x->states[x->my_idx].group;
        c->xfer.own_seqno = x->states[x->my_idx].seqno;
        /* a joiner starts over: a desync from before ends here, as on Galera */
        c->desync_count = 0;
        c->xfer.donating = false;
        repl_xfer_serve_clear(&c->xfer);
    }
    c->group_uuid = r.group;
    for (int i = 0; i < x->n; i++) /* failures decided in this history while this node was away */
        if (i != x->my_idx && !tr_uuid_compare(&x->states[i].group, &r.group))
            for (int k = 0; k < x->states[i].nvotes; k++)
                if (x->states[i].vote_at[k] <= r.seqno)
                    vote_learn(c, x->states[i].vote_seqno[k], x->states[i].vote_at[k]);
    c->last_seqno = r.seqno + 1; /* the view's own seqno */
    c->conf_id = x->conf_id;
    /* from here on this view's stream is the one that counts: a member that missed some of
     * the old one is a joiner now, and its transfer brings what it missed */
    c->g_hist = x->ghist;
    c->g_lo = x->conf_id;
    c->g_end = -1;
    c->g_lo_n = 0;
    for (int i = 0; i < x->n && c->g_lo_n < REPL_MSG_MAX_MEMBERS; i++) {
        if (x->states[i].arbitrator) continue; /* it delivers nothing anyone commits: never waited for */
        c->g_lo_memb[c->g_lo_n] = x->members[i].id;
        snprintf(c->g_lo_names[c->g_lo_n++], sizeof c->g_lo_names[0], "%.*s", REPL_NAME_LEN - 1,
                 x->states[i].name);
    }
    c->g_last = c->view_gseq > x->close ? c->view_gseq : x->close;
    if (r.reset_cert) {
        if (c->cert)
            cert_index_reset(c->cert, r.seqno);
        else if (!tr_fail_hit("core.cert_new"))
            c->cert = cert_index_new(r.seqno);
        c->cert_floor = r.seqno;
        if (!c->cert) fail(c, out, "out of memory for the certification index");
    }
    if (c->cert) {
        cert_barrier(c->cert, c->last_seqno);
        /* wsrep-lib rolls back, at this view, the streaming transactions of members that are
         * gone (server_state::close_orphaned_sr_transactions): no rollback fragment will come */
        cert_streaming_close(c->cert, in_view, x);
    }
    bool donor_gone = unserved(c, x);
    uint8_t *st = tr_fail_hit("core.mstate") ? NULL : calloc((size_t)x->n, 1);
    int64_t *cached = st ? calloc((size_t)x->n, sizeof *cached) : NULL;
    int mrc = -1;
    if (st && cached) {
        for (int i = 0; i < x->n; i++) {
            st[i] = member_state(&x->states[i], &r);
            bool ours = x->states[i].has_cached && !tr_uuid_compare(&x->states[i].group, &r.group);
            cached[i] = ours ? x->states[i].cached : -1;
        }
        mrc = repl_members_set(&c->memb, x->members, st, cached, x->n);
    }
    free(st);
    free(cached);
    if (mrc) {
        fail(c, out, "out of memory for the member table");
        drop_deferred(c, out);
        repl_exch_clear(x);
        return;
    }
    if (repl_votes_carried(&c->votes)) {
        /* a failure here was undecided when this node left the primary component: it is asked
         * again among the members holding the state, unless this node needs a state transfer
         * (the group moved on without it) or it is the only one holding the state (nobody to
         * vote with, as at a failure while alone) */
        if (!r.joined)
            fail_corrupt(c, out, "left the primary component while the vote on a write-set that "
                                 "failed here was undecided, and the group moved on");
        else if (repl_votes_voters(&c->memb) <= 1)
            fail_corrupt(c, out, "left the primary component while the vote on a write-set that "
                                 "failed here was undecided, and no other member holding the "
                                 "state is here to vote with");
        else {
            tr_info("A write-set that failed here was undecided when this node left the primary "
                    "component: asking the cluster again");
            repl_votes_resume(&c->votes);
            c->vote_retry_at = 0;
        }
    }
    struct repl_vote_result vr;
    do { /* votes are decided among the members still here */
        repl_votes_view(&c->votes, &c->memb, &c->cfg.self, &vr);
        vote_decided(c, out, &vr);
    } while (vr.decided);
    c->ordering = c->cert != NULL && !c->failed;
    c->safe_to_bootstrap = x->n == 1;
    c->bootstrap_flag = false; /* a primary component exists again */
    bool first = !c->first_primary_seen;
    c->first_primary_seen = true;
    struct repl_view *v = make_view(c, x->members, x->n, x->my_idx, true, x->conf_id, c->last_seqno);
    if (!v) {
        fail(c, out, "out of memory for a view");
        drop_deferred(c, out);
        repl_exch_clear(x);
        return;
    }
    /* the view's seqno holds the view: an IST hands it to the joiner's host, whose streaming
     * appliers it brings back (wsrep-lib recovers them at a primary view) before the
     * fragments ordered after it */
    if (!c->xfer.ist_store && repl_gcache_put_view(c->gcache, &c->group_uuid, c->last_seqno, v))
        tr_debug("write-set store: no room for seqno %lld; it starts over", (long long)c->last_seqno);
    if (r.new_history) { /* a new history starts at 0 here as everywhere */
        struct repl_act z = {.kind = REPL_ACT_RESET, .seqno = 0, .depends = TR_SEQNO_UNDEFINED};
        emit(c, out, &z);
    }
    if (r.joined) {
        c->intact = true;
        enum repl_fsm_state to = c->desync_count > 0 || c->xfer.donating ? REPL_S_DONOR
                                 : c->state == REPL_S_SYNCED              ? REPL_S_SYNCED
                                                                          : REPL_S_JOINED;
        shift(c, out, to);
        bool synced = c->state == REPL_S_JOINED && c->xfer.phase == REPL_XFER_NONE;
        if (synced) shift(c, out, REPL_S_SYNCED);
        struct repl_act a = {.kind = REPL_ACT_VIEW, .view = v, .seqno = c->last_seqno,
                             .first = first, .synced = synced};
        order_out(c, out, &a);
    } else if (receiving) {
        c->intact = false;
        if (c->xfer.phase == REPL_XFER_WAIT && c->xfer.have_donor) {
            /* a donor that left (or came back as a new process) sends nothing more */
            int d = repl_members_find(&c->memb, &c->xfer.donor);
            if (d < 0 || c->memb.state[d] == REPL_M_PRIM || c->memb.state[d] == REPL_M_JOINER ||
                donor_gone)
                ist_donor_left(c, out);
        }
        struct repl_act a = {.kind = REPL_ACT_VIEW, .view = v, .seqno = c->last_seqno};
        order_out(c, out, &a); /* held: delivered after the state arrives */
        if (c->xfer.phase == REPL_XFER_WAIT && !c->xfer.have_donor) c->xfer.resend = true;
    } else {
        c->intact = false;
        if (c->state != REPL_S_CONNECTED && c->state != REPL_S_JOINING) shift(c, out, REPL_S_CONNECTED);
        shift(c, out, REPL_S_JOINING);
        if (!c->failed) {
            c->xfer.phase = REPL_XFER_PREPARE; /* from here on, what is ordered is held */
            c->xfer.have_donor = false;        /* a new request: nobody serves it yet */
            c->xfer.join_at = r.seqno;
            c->xfer.retry_at = 0;
            free(c->xfer.join_view);
            c->xfer.join_view = copy_view(v);
            if (!c->xfer.join_view && v) fail(c, out, "out of memory for a view");
        }
        struct repl_act a = {.kind = REPL_ACT_SST_REQUEST, .view = v, .seqno = c->last_seqno,
                             .first = first};
        if (c->failed)
            repl_act_release(&a);
        else
            emit(c, out, &a);
    }
    persist(c, out, true);
    repl_exch_clear(x);
    /* what came meanwhile is taken now, in its order, at the same place on every member */
    struct deferred *d = c->dhead;
    c->dhead = c->dtail = NULL;
    while (d) {
        struct deferred *nx = d->next;
        on_msg(c, out, &d->sender, d->gseq, d->span, d->buf, d->len, d->ws);
        free(d);
        d = nx;
    }
}

/* ---- state transfer requests ---- */

static int str_encode(const struct repl_core *c, struct tr_buf *b)
{
    struct repl_msg_str m = {.node = c->cfg.self, .req = c->xfer.req,
                             .req_len = c->xfer.req ? (uint32_t)c->xfer.req_len : 0};
    m.position.uuid = c->group_uuid;
    m.position.seqno = c->committed;
    if (c->xfer.ist) { /* what this node holds, and the gap to its join (Galera's IST request) */
        m.position.seqno = c->xfer.own_seqno;
        m.ist_upto = c->xfer.ist_to + 1;
        m.ist_token = c->xfer.ist_token;
        memcpy(m.ist_addr, c->cfg.ist_addr, sizeof m.ist_addr);
    }
    memcpy(m.donors, c->cfg.donors, sizeof m.donors);
    return repl_msg_str_encode(&m, b);
}

static void send_str(struct repl_core *c, struct repl_acts *out)
{
    c->xfer.retry_at = 0;
    BROADCAST(c, out, str_encode(c, &a_.msg));
}

static bool is_trivial(const uint8_t *req, size_t len)
{
    /* MariaDB's wsrep_sst_method=skip answers "trivial"; "none" means the same to us */
    return (len >= 7 && memcmp(req, "trivial", 7) == 0) || (len >= 4 && memcmp(req, "none", 4) == 0);
}

/* An IST alone (no snapshot was asked for: the host's data was not touched) can be asked of
 * another member when its donor died before any of its records reached the core: the whole
 * range again, since nothing of it was applied. After that, the joiner leaves with a prefix
 * applied, as Galera's does, and its next start asks for the rest. */
static bool ist_retryable(const struct repl_core *c)
{
    const struct repl_xfer *x = &c->xfer;
    return x->phase == REPL_XFER_WAIT && x->ist && !x->req && !c->failed && x->ist_next == x->ist_from &&
           !x->ist_applying;
}

/* A view without the joiner's donor: asks again when another synced member may serve, and
 * the donor's stream was cut (its receiver listens anew: one still on a connection the donor's
 * dead machine never closed would hold the next donor's stream up to its stream timeout). */
static void ist_donor_left(struct repl_core *c, struct repl_acts *out)
{
    struct repl_xfer *x = &c->xfer;
    bool other = false;
    for (int i = 0; i < c->memb.n; i++)
        other |= c->memb.state[i] == REPL_M_SYNCED && tr_uuid_compare(&c->memb.info[i].id, &c->cfg.self) != 0;
    if (!ist_retryable(c) || !x->ist_cut || !other || x->ist_retries >= IST_RETRIES) {
        xfer_fail(c, out, !ist_retryable(c) || !x->ist_cut ? "the donor left the group during the transfer"
                          : other          ? "the donor left the group during IST, again"
                                           : "the donor left the group during IST and no other "
                                             "synced member can serve it");
        return;
    }
    x->ist_retries++;
    x->ist_cut = false;
    x->have_donor = false; /* the request goes out again after this view (resend) */
    tr_warn("The donor left the group during IST of %lld..%lld (none of it applied): asking "
            "another member (%d of %d)", (long long)x->ist_from, (long long)x->ist_to,
            x->ist_retries, IST_RETRIES);
}

/* The donor refused an IST alone because its store does not hold the gap (the table's view of
 * its store was older than its store: a purge, or a transfer of its own since the exchange).
 * Nothing was sent, so another member whose store holds it is asked (the refusal carried the
 * donor's real store, so the choice will not fall on it again). First this node's entry goes
 * back from JOINER to PRIM in every member's table, by a failed JOIN of its own in total order,
 * so that the request is not ignored as a repeat. */
static bool ist_ask_another(struct repl_core *c, struct repl_acts *out, int donor)
{
    struct repl_xfer *x = &c->xfer;
    if (!ist_retryable(c) || x->ist_retries >= IST_RETRIES) return false;
    /* the member the group will choose now (the refusal updated the donor's entry) */
    int self = repl_members_find(&c->memb, &c->cfg.self);
    int other = repl_members_choose_donor(&c->memb, c->cfg.donors, self, x->ist_from);
    if (other < 0 || other == donor || !repl_members_covers(&c->memb, other, x->ist_from))
        return false;
    x->ist_retries++;
    x->have_donor = false;
    tr_warn("The donor cannot serve IST of %lld..%lld (its write-set store holds %lld..): asking "
            "another member (%d of %d)", (long long)x->ist_from, (long long)x->ist_to,
            (long long)c->memb.cached[donor], x->ist_retries, IST_RETRIES);
    send_join(c, out, REPL_MSG_JOIN, c->committed, -ENODATA);
    send_str(c, out);
    return true;
}

/* A restarted joiner (it came with a snapshot request and its own position P of the group's
 * history) whose donor bypassed the snapshot, and that has applied nothing of the IST yet
 * (WAIT, and no part went to its appliers: records wait for sst_received), holds exactly P. Its
 * file says so again, so that the next start asks for IST from P even when the host passes no
 * recovered position (a plain mysqld start does not): a start that failed for an unrelated
 * reason (MariaDB's galera_mdev_31517: an unknown option aborted it mid-transfer) costs no full
 * copy, as with Galera 4 since 26.4.25. -1: anything else. */
static int64_t xfer_untouched_at(const struct repl_core *c)
{
    const struct repl_xfer *x = &c->xfer;
    if (!x->req || !x->ist || x->phase != REPL_XFER_WAIT || x->ist_applying || xfer_data_unsure(c) ||
        x->own_seqno < 0 || tr_uuid_compare(&x->own_uuid, &c->group_uuid) != 0)
        return -1;
    return x->own_seqno;
}

static void xfer_fail_msg(struct repl_core *c, struct repl_acts *out, const char *msg)
{
    bool unsure = xfer_data_unsure(c);
    int64_t kept = xfer_untouched_at(c);
    repl_xfer_clear(&c->xfer);
    fail_leave_at(c, out, msg, unsure, true, kept);
}

static void xfer_fail(struct repl_core *c, struct repl_acts *out, const char *why)
{
    char msg[400];
    /* Galera's words first ("Will never receive state"): MariaDB's tests and monitors know them */
    snprintf(msg, sizeof msg, "Will never receive state. Need to abort: %s. Restart the node to try again", why);
    xfer_fail_msg(c, out, msg);
}

/* The joiner holds the group state at `at` (its monitors restart there once `wait` has
 * committed); what it held follows. */
static void state_received(struct repl_core *c, struct repl_acts *out, int64_t at, int64_t wait,
                           int64_t join_seqno)
{
    /* an IST's records went to the appliers as they came: the monitors restarted before them */
    if (!c->xfer.ist_applying) {
        struct repl_act r = {.kind = REPL_ACT_RESET, .seqno = at, .depends = wait};
        emit(c, out, &r);
    }
    c->xfer.phase = REPL_XFER_APPLY;
    c->xfer.seqno = at;
    c->xfer.taken = at;
    c->xfer.catchup_upto = at;
    if (!c->prim_view) {
        /* it arrived after this node dropped out of the primary component: it holds the state
         * as of its join (and what it ordered since), and says so at the next exchange */
        shift(c, out, REPL_S_CONNECTED);
        persist(c, out, true);
        return;
    }
    c->intact = true;
    shift(c, out, REPL_S_JOINED);
    persist(c, out, true);
    send_join(c, out, REPL_MSG_JOIN, join_seqno, 0);
}

/* The next batch of held actions to the appliers (all of them when none was spilled). */
static void release_held(struct repl_core *c, struct repl_acts *out, int64_t upto)
{
    int64_t k = 0;
    size_t before = out->n;
    int64_t batch = (c->xfer.mem_max > 0 ? c->xfer.mem_max : REPL_XFER_MEM_MAX) / 4;
    int rc = repl_xfer_release(&c->xfer, upto, out, &k, repl_xfer_all_in_memory(&c->xfer) ? 0 : batch);
    c->queued += k;
    for (size_t i = before; i < out->n; i++)
        if (out->a[i].seqno > c->xfer.catchup_upto) c->xfer.catchup_upto = out->a[i].seqno;
    if (rc == -1) { /* an action could not be recorded: out->oom makes the driver leave */
        c->failed = true;
        return;
    }
    if (rc) {
        xfer_fail(c, out, c->xfer.why);
        return;
    }
    xfer_check(c, out);
}

/* The joiner's IST part: this node holds an earlier state of the group's own history. */
static bool can_ist(const struct repl_core *c, int64_t join)
{
    const struct repl_xfer *x = &c->xfer;
    return tr_uuid_compare(&x->own_uuid, &c->group_uuid) == 0 && x->own_seqno >= 0 &&
           x->own_seqno < join && c->cfg.ist_addr[0];
}

static void on_sst_request(struct repl_core *c, struct repl_acts *out, const struct repl_ev *ev)
{
    struct repl_xfer *x = &c->xfer;
    if (x->phase != REPL_XFER_PREPARE || c->failed) return; /* the view changed and ended it */
    int64_t join = x->join_view ? x->join_view->state_id.seqno : c->last_seqno;
    if (ev->rc) {
        xfer_fail(c, out, "the host's state transfer request failed");
        return;
    }
    bool none = !ev->buf || ev->len == 0 || (ev->len == 1 && ev->buf[0] == '\0');
    if (!none && is_trivial(ev->buf, ev->len)) {
        tr_info("State transfer: trivial (the host holds the group state) at %lld", (long long)join - 1);
        struct repl_view *v = x->join_view;
        x->join_view = NULL;
        state_received(c, out, join - 1, TR_SEQNO_UNDEFINED, join);
        struct repl_act a = {.kind = REPL_ACT_VIEW, .view = v, .seqno = join};
        if (v)
            emit(c, out, &a);
        x->seqno = join; /* the view is delivered above; held actions follow it */
        release_held(c, out, join);
        return;
    }
    bool ist = can_ist(c, join);
    if (none && !ist) {
        /* no snapshot possible (a running MariaDB cannot take rsync or mariabackup) and no
         * earlier state to complete incrementally */
        xfer_fail(c, out, "the host can take no snapshot now (a running server cannot take an "
                          "rsync or mariabackup SST) and this node holds no earlier state of "
                          "the group's history for IST");
        return;
    }
    if (!none) { /* kept for retries; the donor passes it to its host */
        x->req = tr_fail_hit("core.req") ? NULL : malloc(ev->len);
        if (!x->req) {
            xfer_fail(c, out, "out of memory for the state transfer request");
            return;
        }
        memcpy(x->req, ev->buf, ev->len);
        x->req_len = ev->len;
    }
    x->phase = REPL_XFER_WAIT;
    if (!ist) {
        tr_info("Requesting state transfer (%zu bytes of request)", ev->len);
        send_str(c, out);
        return;
    }
    /* what this node missed can come incrementally from a donor's write-set store; with a
     * snapshot request too, as Galera asks: the donor that holds the gap bypasses the snapshot */
    x->ist = true;
    x->ist_retries = x->ist_restarts = 0;
    x->ist_cut = false;
    x->ist_from = x->own_seqno + 1;
    x->ist_to = join - 1;
    x->ist_token = next_rand(c);
    repl_xfer_ist_drop(x); /* nothing of the range has reached the core yet */
    if (none && x->ist_from > x->ist_to) { /* nothing missed but the view itself */
        struct repl_ev done = {.kind = REPL_EV_IST_RECEIVED};
        repl_core_step(c, &done, out);
        return;
    }
    if (x->ist_from <= x->ist_to) {
        struct repl_act a = {.kind = REPL_ACT_IST_RECV, .seqno = x->ist_from, .depends = x->ist_to,
                             .token = x->ist_token, .addr = strdup(c->cfg.ist_addr)};
        if (!a.addr) {
            xfer_fail(c, out, "out of memory");
            return;
        }
        emit(c, out, &a);
    }
    if (none)
        tr_info("Requesting IST of %lld..%lld at %s", (long long)x->ist_from, (long long)x->ist_to,
                c->cfg.ist_addr);
    else
        tr_info("Requesting state transfer (%zu bytes of request) with IST of %lld..%lld at %s: "
                "this node holds %lld", ev->len, (long long)x->ist_from, (long long)x->ist_to,
                c->cfg.ist_addr, (long long)x->own_seqno);
    send_str(c, out);
}

static int on_sst_received(struct repl_core *c, struct repl_acts *out, const struct repl_ev *ev)
{
    struct repl_xfer *x = &c->xfer;
    if (x->phase != REPL_XFER_WAIT || !x->req || x->bypassed) {
        tr_warn("sst_received(%d) without a state transfer in progress", ev->rc);
        return REPL_NOT_ALLOWED;
    }
    char got[TR_UUID_STR_LEN + 1], want[TR_UUID_STR_LEN + 1], why[256] = "";
    tr_uuid_print(&ev->gtid.uuid, got);
    tr_uuid_print(&c->group_uuid, want);
    if (ev->rc == -ECANCELED) {
        /* the host gave up waiting because it is shutting down (MariaDB: "State wait was
         * interrupted", e.g. a start aborted by a bad option): no transfer failed; Galera 4
         * (26.4.25) words it so, and MariaDB's galera_mdev_31517 expects those words */
        xfer_fail_msg(c, out, "State transfer interrupted, shutting down gracefully");
        return REPL_OK;
    }
    if (ev->rc < 0)
        snprintf(why, sizeof why, "the host reports error %d (%s)", ev->rc, strerror(-ev->rc));
    else if (tr_uuid_compare(&ev->gtid.uuid, &c->group_uuid) != 0)
        snprintf(why, sizeof why, "received state %s is not the group's %s", got, want);
    else if (x->ist && ev->gtid.seqno == x->ist_from - 1) {
        /* the donor bypassed the snapshot (sst_donate_cb with bypass): the host kept its own
         * state and copied nothing; the IST brings ist_from..ist_to */
        x->bypassed = true;
        tr_info("State transfer received: %s:%lld, this node's own state (the donor bypassed the "
                "snapshot); IST brings %lld..%lld", got, (long long)ev->gtid.seqno,
                (long long)x->ist_from, (long long)x->ist_to);
        ist_flush(c, out); /* the records that came first go to the appliers now */
        if (!c->failed && (x->ist_from > x->ist_to || x->ist_in)) {
            struct repl_ev e = {.kind = REPL_EV_IST_RECEIVED, .rc = x->ist_rc,
                                .why = x->ist_why[0] ? x->ist_why : NULL};
            x->ist_in = false;
            on_ist_received(c, out, &e);
        }
        return REPL_OK;
    } else if (ev->gtid.seqno < x->join_at)
        snprintf(why, sizeof why, "received state %s:%lld is older than the join point %lld", got,
                 (long long)ev->gtid.seqno, (long long)c->xfer.join_at);
    if (*why) {
        xfer_fail(c, out, why);
        return ev->rc < 0 ? REPL_OK : REPL_NODE_FAIL;
    }
    int64_t s = ev->gtid.seqno;
    tr_info("State transfer received: %s:%lld", got, (long long)s);
    if (x->ist) { /* a full snapshot: the IST part is not needed (its receiver gives up) */
        x->ist = false;
        repl_xfer_ist_drop(x);
    }
    state_received(c, out, s, TR_SEQNO_UNDEFINED, s);
    release_held(c, out, s);
    return REPL_OK;
}

/* The IST records recs[0..n) go to the appliers in order, each view of the range handed to the
 * host in its place, as from Galera's IST; the first ones restart the monitors at ist_from - 1,
 * once what this node ordered before it was cut off has committed. */
static void ist_emit(struct repl_core *c, struct repl_acts *out, struct repl_ist_rec *recs, size_t n)
{
    struct repl_xfer *x = &c->xfer;
    if (!n) return;
    if (!x->ist_applying) {
        int64_t p = x->ist_from - 1;
        struct repl_act r = {.kind = REPL_ACT_RESET, .seqno = p, .depends = p};
        emit(c, out, &r);
        x->ist_applying = true;
        /* unless held write-sets are only in the store (putting ist_from starts it over and
         * would drop them), the records go there too: it can serve them once it has joined */
        x->ist_store = repl_xfer_all_in_memory(x);
        tr_info("IST: applying %lld..%lld as it arrives", (long long)x->ist_from, (long long)x->ist_to);
    }
    for (size_t i = 0; i < n; i++) {
        /* what a write-set waits for comes from the receiver's own certification of the
         * range (repl_istdeps); nothing before the range is waited for, it has committed */
        int64_t dep = recs[i].depends;
        if (!recs[i].ws || dep < x->ist_from - 1 || dep >= recs[i].seqno) dep = recs[i].seqno - 1;
        struct repl_act a = {.kind = recs[i].ws ? REPL_ACT_APPLY : REPL_ACT_SKIP,
                             .seqno = recs[i].seqno, .depends = dep, .ws = recs[i].ws};
        recs[i].ws = NULL;
        struct repl_view *v = recs[i].view;
        recs[i].view = NULL;
        if (v) { /* a view it missed: its host hears of it in its place, as from Galera's IST */
            repl_ws_unref(a.ws);
            a = (struct repl_act){.kind = REPL_ACT_VIEW, .seqno = v->state_id.seqno, .view = v, .past = true};
            v->state_id.uuid = c->group_uuid;
            v->capabilities = c->cfg.capabilities;
            v->proto_ver = c->cfg.proto_ver;
            v->my_idx = -1;
            for (int k = 0; k < v->memb_num; k++)
                if (tr_uuid_compare(&v->members[k].id, &c->cfg.self) == 0) v->my_idx = k;
        }
        if (x->ist_store) store_put(c, &a);
        emit(c, out, &a);
    }
}

/* What waited for sst_received (the donor bypassed the snapshot) goes to the appliers. */
static void ist_flush(struct repl_core *c, struct repl_acts *out)
{
    struct repl_xfer *x = &c->xfer;
    if (c->failed || !x->ist_n) return;
    ist_emit(c, out, x->ist_recs, x->ist_n);
    free(x->ist_recs);
    x->ist_recs = NULL;
    x->ist_n = x->ist_cap = 0;
}

/* The next records of the range, as they arrived: checked, then applied at once, or kept
 * until sst_received says the donor bypassed the snapshot (the host's data is its own). */
static void on_ist_part(struct repl_core *c, struct repl_acts *out, struct repl_ev *ev)
{
    struct repl_xfer *x = &c->xfer;
    bool live = x->phase == REPL_XFER_WAIT && x->ist && !x->ist_in && !c->failed;
    for (size_t i = 0; live && i < ev->nist; i++) {
        struct repl_ws *ws = ev->ist[i].ws;
        if (ev->ist[i].seqno != x->ist_next + (int64_t)i || ev->ist[i].seqno > x->ist_to ||
            (ws && ws->decode_rc)) {
            xfer_fail(c, out, ws && repl_ws_local_failure(ws->decode_rc)
                                  ? "IST: decoding a write-set failed on this node"
                                  : "IST: a record is not the write-set the donor's history holds");
            live = false;
        }
    }
    if (!live) {
        repl_ist_recs_free(ev->ist, ev->nist);
        ev->ist = NULL, ev->nist = 0;
        return;
    }
    x->ist_next += (int64_t)ev->nist;
    if (x->req && !x->bypassed) {
        if (x->ist_n + ev->nist > x->ist_cap) {
            size_t cap = (x->ist_n + ev->nist) * 2;
            struct repl_ist_rec *r = realloc(x->ist_recs, cap * sizeof *r);
            if (!r) {
                repl_ist_recs_free(ev->ist, ev->nist);
                ev->ist = NULL, ev->nist = 0;
                xfer_fail(c, out, "out of memory keeping IST records");
                return;
            }
            x->ist_recs = r, x->ist_cap = cap;
        }
        memcpy(x->ist_recs + x->ist_n, ev->ist, ev->nist * sizeof *ev->ist);
        x->ist_n += ev->nist;
        free(ev->ist);
    } else {
        ist_emit(c, out, ev->ist, ev->nist);
        free(ev->ist);
    }
    ev->ist = NULL, ev->nist = 0;
}

static void on_ist_received(struct repl_core *c, struct repl_acts *out, struct repl_ev *ev)
{
    struct repl_xfer *x = &c->xfer;
    bool live = x->phase == REPL_XFER_WAIT && x->ist && !x->ist_in && !c->failed;
    repl_ist_recs_free(ev->ist, ev->nist); /* records come in IST_PART events only */
    ev->ist = NULL, ev->nist = 0;
    if (live && x->req && !x->bypassed) {
        /* sst_received has not said yet whether the donor bypassed the snapshot: kept */
        x->ist_in = true;
        x->ist_rc = ev->rc;
        snprintf(x->ist_why, sizeof x->ist_why, "%s", ev->rc && ev->why ? ev->why : "");
        return;
    }
    if (live && ev->rc == -ECONNRESET && ist_retryable(c) && x->ist_restarts < IST_RETRIES) {
        /* the donor may have died: its view change asks another member; or it reports its
         * failure (the joiner then leaves). Either way a receiver listens again meanwhile,
         * with a new token when the failed stream answered the current request: a late
         * connection of that attempt is refused; the next request carries the new one */
        if (x->have_donor) x->ist_token = next_rand(c);
        x->ist_cut = true;
        struct repl_act a = {.kind = REPL_ACT_IST_RECV, .seqno = x->ist_from, .depends = x->ist_to,
                             .token = x->ist_token, .addr = strdup(c->cfg.ist_addr)};
        x->ist_restarts++;
        tr_warn("IST: %s; listening again for this or another donor (%d of %d)",
                ev->why ? ev->why : "failed", x->ist_restarts, IST_RETRIES);
        if (a.addr)
            emit(c, out, &a);
        else
            xfer_fail(c, out, "out of memory");
        return;
    }
    if (live && ev->rc) {
        /* what reached the appliers before the failure is a prefix of the history, applied in
         * order; the node leaves, and its next start asks for IST from what it committed */
        char why[256];
        if (x->ist_applying)
            snprintf(why, sizeof why, "IST: %s; %lld..%lld went to the appliers, in order", ev->why ? ev->why : "failed",
                     (long long)x->ist_from, (long long)x->ist_next - 1);
        else
            snprintf(why, sizeof why, "IST: %s", ev->why ? ev->why : "failed");
        xfer_fail(c, out, why);
        return;
    }
    if (live && x->ist_next != x->ist_to + 1) {
        xfer_fail(c, out, "IST: the stream ended early");
        return;
    }
    if (!live) return;
    ist_flush(c, out);
    if (c->failed) return;
    int64_t p = x->ist_from - 1, join = x->ist_to + 1;
    /* what this node ordered before it was cut off commits first, then the order restarts
     * (unless the records restarted it already) */
    ist_store_end(c, NULL);
    state_received(c, out, p, p, join);
    struct repl_act v = {.kind = REPL_ACT_VIEW, .view = x->join_view, .seqno = join};
    x->join_view = NULL;
    if (v.view) emit(c, out, &v);
    tr_info("IST complete: %lld..%lld received, then what was ordered since", (long long)p + 1,
            (long long)join);
    x->seqno = join;
    release_held(c, out, join);
}

/* STR in total order: every member chooses the same donor from the same member table. */
static void on_str(struct repl_core *c, struct repl_acts *out, const tr_uuid *sender,
                   const uint8_t *buf, size_t len)
{
    struct repl_msg_str m;
    if (repl_msg_str_decode(buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping malformed state transfer request (%zu bytes)", len);
        return;
    }
    int joiner = repl_members_find(&c->memb, &m.node);
    if (joiner < 0 || !c->ordering) {
        /* a transfer is served only for a member of the primary view (Galera's group takes
         * requests from its members alone): this one outlived its sender's membership */
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&m.node, u);
        tr_info("Ignoring a state transfer request from %s: not a member of the primary view", u);
        return;
    }
    const char *jname = c->memb.info[joiner].name;
    if (c->memb.state[joiner] != REPL_M_PRIM) {
        /* one transfer per joiner: a repeated request (a retry that crossed the donor's
         * selection) must not be served a second time (Galera ignores it the same way) */
        tr_info("Member %d (%s) requested state transfer, but its state is %s. Ignoring.", joiner,
                jname, repl_mstate_name(c->memb.state[joiner]));
        return;
    }
    bool me = tr_uuid_compare(&m.node, &c->cfg.self) == 0;
    /* with an IST part in this history, a member whose store holds the gap is preferred */
    int64_t need = m.ist_addr[0] && !tr_uuid_compare(&m.position.uuid, &c->group_uuid) &&
                           m.position.seqno >= 0
                       ? m.position.seqno + 1
                       : -1;
    int donor = repl_members_choose_donor(&c->memb, m.donors, joiner, need);
    if (donor < 0) {
        char states[256];
        size_t o = 0;
        for (int i = 0; i < c->memb.n && o < sizeof states - 48; i++)
            o += (size_t)snprintf(states + o, sizeof states - o, "%s%.31s %s", i ? ", " : "",
                                  c->memb.info[i].name, repl_mstate_name(c->memb.state[i]));
        tr_info("Member %d (%s) requested state transfer from '%s', but no synced member can "
                "serve it now (%s)",
                joiner, jname, *m.donors ? m.donors : "*any*", states);
        if (me && c->xfer.phase == REPL_XFER_WAIT) {
            tr_info("State transfer request failed: no donor available. Retrying in 1 s");
            c->xfer.retry_at = c->now + STR_RETRY_NS;
        }
        return;
    }
    const char *kind = !m.req_len ? " (IST)" : m.ist_addr[0] ? " (SST with IST)" : "";
    tr_info("Member %d (%s) requested state transfer%s from '%s'. Selected %d (%s) as donor.",
            joiner, jname, kind, *m.donors ? m.donors : "*any*", donor, c->memb.info[donor].name);
    if (need >= 0 && !repl_members_covers(&c->memb, donor, need))
        tr_info("No member that may donate reported a write-set store holding %lld..; %s",
                (long long)need, m.req_len ? "the donor decides between IST and a snapshot"
                                           : "the donor may have to refuse the IST");
    c->memb.state[joiner] = REPL_M_JOINER;
    if (me) {
        c->xfer.donor = c->memb.info[donor].id;
        c->xfer.str_hist = c->view_ghist;
        c->xfer.str_at = c->msg_gseq;
        c->xfer.have_donor = true;
        c->xfer.retry_at = 0;
    }
    bool serve = tr_uuid_compare(&c->memb.info[donor].id, &c->cfg.self) == 0;
    if (m.req_len) c->memb.state[donor] = REPL_M_DONOR; /* IST only: the donor stays synced */
    if (!serve) return;
    struct repl_serve *sv = tr_fail_hit("core.donate") ? NULL : calloc(1, sizeof *sv);
    bool sane = tr_uuid_compare(&m.position.uuid, &c->group_uuid) == 0 &&
                m.position.seqno >= 0 && m.ist_upto > m.position.seqno &&
                m.ist_upto <= c->last_seqno + 1 && m.ist_addr[0];
    if (sv) {
        sv->first = m.position.seqno + 1;
        sv->last = m.ist_upto - 1;
        sv->token = m.ist_token;
    }
    if (sv && m.req_len) {
        sv->req_len = m.req_len;
        sv->req = malloc(m.req_len);
        if (sv->req) memcpy(sv->req, m.req, m.req_len);
        /* with an IST part: whether this store covers the gap is decided when it starts */
        if (sv->req && sane && !(sv->addr = strdup(m.ist_addr))) {
            free(sv->req);
            sv->req = NULL;
        }
        if (!sane && m.ist_addr[0])
            tr_info("IST not possible: the request's position %lld..%lld is not a range of this "
                    "history; a full state transfer follows",
                    (long long)m.position.seqno + 1, (long long)m.ist_upto - 1);
    } else if (sv) {
        if (!sane) {
            repl_serve_free(sv);
            tr_warn("Cannot serve IST of %lld..%lld: not a range of this history",
                    (long long)m.position.seqno + 1, (long long)m.ist_upto - 1);
            donor_failed(c, out, -ENODATA);
            return;
        }
        sv->addr = strdup(m.ist_addr);
    }
    if (!sv || (m.req_len ? !sv->req : !sv->addr)) {
        repl_serve_free(sv);
        tr_error("out of memory for a state transfer request: the joiner is told it failed");
        donor_failed(c, out, -ENOMEM);
        return;
    }
    if (m.req_len) { /* a donor is a donor from its selection on, here as in every table */
        c->xfer.donating = true;
        if (c->state != REPL_S_DONOR) shift(c, out, REPL_S_DONOR);
    }
    repl_xfer_serve_add(&c->xfer, sv);
    /* an action the group may still decide failed everywhere (or one this node may lose a vote
     * on) must not reach the joiner: the donation starts once no vote is open here */
    if (repl_votes_busy(&c->votes, c->votes_from) || repl_votes_failed_here(&c->votes, c->votes_from))
        tr_info("Donating to member %d (%s) once the vote in progress has ended", joiner, jname);
}

/* A seqno at or before p that a vote failed everywhere, decided when p was the last seqno
 * ordered or later: a node at p may have left before it saw the decision, having applied
 * the seqno (a node that failed it and comes back needing a state transfer leaves, so one that
 * asks with its own state succeeded there). -1: none known. */
static int64_t voted_after(const struct repl_core *c, int64_t p)
{
    unsigned nv = c->nvote_failed < 8 ? c->nvote_failed : 8;
    for (unsigned i = 0; i < nv; i++)
        if (c->vote_failed[i] <= p && c->vote_failed_at[i] >= p) return c->vote_failed[i];
    return -1;
}

/* The donation this node was chosen for starts when no vote is open: an SST of the state at
 * this point of the order (the joiner drops what it held up to there), or the IST range. */
static void serve_pending(struct repl_core *c, struct repl_acts *out)
{
    if (!c->xfer.serve || c->failed || !c->ordering || repl_votes_busy(&c->votes, c->votes_from) ||
        repl_votes_failed_here(&c->votes, c->votes_from))
        return;
    struct repl_serve *sv;
    while ((sv = repl_xfer_serve_take(&c->xfer))) {
        if (sv->req) {
            /* the request carries the joiner's position (sv->addr set): when this store holds
             * all it missed, the host bypasses its snapshot (Galera's IST with an SST script:
             * the script passes the joiner's own position and copies nothing) and the gap goes
             * by IST below; otherwise a full snapshot */
            bool ist = sv->addr && repl_gcache_has(c->gcache, sv->first, sv->last);
            int64_t lost = ist ? voted_after(c, sv->first - 1) : -1;
            if (lost >= 0) {
                ist = false;
                tr_info("IST not possible: the group decided seqno %lld fails everywhere, and the "
                        "joiner's state at %lld may hold it; falling back to SST",
                        (long long)lost, (long long)sv->first - 1);
            }
            bool voted = !ist && sv->addr && repl_gcache_has(c->gcache, sv->first, sv->last);
            struct repl_act a = {.kind = REPL_ACT_DONATE, .req = sv->req, .req_len = sv->req_len,
                                 .bypass = ist};
            sv->req = NULL; /* the action owns it now */
            a.depends = c->last_seqno; /* everything ordered before this point commits first */
            a.gtid.uuid = c->group_uuid;
            a.gtid.seqno = ist ? sv->first - 1 : c->last_seqno;
            if (sv->addr && !ist && !voted) {
                int64_t lo = repl_gcache_first(c->gcache);
                tr_info("IST not possible: the store holds %lld..%lld, the joiner needs %lld..%lld; "
                        "falling back to SST", (long long)lo, lo < 0 ? -1LL : (long long)c->last_seqno,
                        (long long)sv->first, (long long)sv->last);
            } else if (ist) {
                tr_info("IST possible: the store holds %lld..%lld; the joiner's snapshot is bypassed "
                        "(state %lld) and IST sends %lld..%lld", (long long)repl_gcache_first(c->gcache),
                        (long long)c->last_seqno, (long long)sv->first - 1, (long long)sv->first,
                        (long long)sv->last);
            }
            emit(c, out, &a);
            if (!ist || sv->first > sv->last) {
                repl_serve_free(sv);
                continue;
            }
        }
        int64_t first = sv->first, last = sv->last;
        int64_t lost = sv->req_len ? -1 : voted_after(c, first - 1);
        if (lost >= 0) { /* an IST alone: no snapshot can replace the joiner's state */
            repl_serve_free(sv);
            tr_warn("Cannot serve IST of %lld..%lld: the group decided seqno %lld fails everywhere "
                    "after the joiner's state at %lld, which may hold it; it needs a snapshot",
                    (long long)first, (long long)last, (long long)lost, (long long)first - 1);
            donor_failed(c, out, -ESTALE);
            continue;
        }
        struct repl_act a = {.kind = REPL_ACT_IST_SEND, .seqno = first, .depends = last,
                             .token = sv->token, .addr = sv->addr};
        sv->addr = NULL;
        repl_serve_free(sv);
        /* the range stays in the store until the sender has read it, outside the node lock */
        a.pin = tr_fail_hit("core.ist") ? NULL : repl_gcache_pin(c->gcache, first, last);
        if (!a.pin) {
            bool have = repl_gcache_has(c->gcache, first, last);
            repl_act_release(&a);
            tr_warn("Cannot serve IST of %lld..%lld: the write-set store holds %lld.. (%s)",
                    (long long)first, (long long)last, (long long)repl_gcache_first(c->gcache),
                    have ? "out of memory" : "the range is not there any more");
            donor_failed(c, out, have ? -ENOMEM : -ENODATA);
            continue;
        }
        emit(c, out, &a);
    }
}

static int on_sst_sent(struct repl_core *c, struct repl_acts *out, const struct repl_ev *ev)
{
    if (!c->xfer.donating) {
        tr_warn("sst_sent(%d) without a state transfer in progress", ev->rc);
        return REPL_NOT_ALLOWED;
    }
    c->xfer.donating = false;
    if (ev->rc < 0)
        tr_error("State transfer to the joiner failed: %d (%s)", ev->rc, strerror(-ev->rc));
    else
        tr_info("State transfer sent at %lld", (long long)ev->gtid.seqno);
    bool rejoin = c->state == REPL_S_DONOR && c->desync_count == 0;
    if (rejoin) shift(c, out, REPL_S_JOINED);
    if (ev->rc < 0) {
        donor_failed(c, out, ev->rc);
    } else if (c->state == REPL_S_DONOR || rejoin) {
        send_join(c, out, REPL_MSG_JOIN, ev->gtid.seqno < 0 ? c->committed : ev->gtid.seqno, 0);
    } else {
        /* The primary component that chose this node as donor is gone (it is CONNECTED, or a
         * joiner itself): the others' table no longer has it as DONOR, and a JOIN ordered now
         * would read there as its own transfer ended, JOINED, while it may need a state
         * transfer (Galera's sst_sent sends no JOIN outside DONOR either; replication.md §6) */
        tr_info("State transfer sent outside the primary component that asked for it: no JOIN");
    }
    if (rejoin) send_join(c, out, REPL_MSG_SYNC, c->committed, 0);
    return REPL_OK;
}

static void on_join(struct repl_core *c, struct repl_acts *out, int type, const tr_uuid *sender,
                    const uint8_t *buf, size_t len)
{
    struct repl_msg_join m;
    if (repl_msg_join_decode(type, buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping a malformed control message (type %d)", type);
        return;
    }
    int idx = repl_members_find(&c->memb, &m.node);
    if (idx < 0 || !c->ordering) return;
    bool me = tr_uuid_compare(&m.node, &c->cfg.self) == 0;
    c->memb.cached[idx] = m.cached; /* in total order: every member's table alike */
    uint8_t *ms = &c->memb.state[idx];
    if (type == REPL_MSG_DESYNC) {
        if (*ms == REPL_M_SYNCED || *ms == REPL_M_JOINED) *ms = REPL_M_DONOR;
        return;
    }
    if (type == REPL_MSG_SYNC) {
        if (*ms == REPL_M_JOINED) *ms = REPL_M_SYNCED;
        if (me && c->state == REPL_S_JOINED && c->desync_count == 0 && !c->xfer.donating &&
            c->xfer.phase == REPL_XFER_NONE) {
            shift(c, out, REPL_S_SYNCED);
            emit_kind(c, out, REPL_ACT_SYNCED);
        }
        return;
    }
    if (m.status >= 0) {
        if (*ms == REPL_M_PRIM || *ms == REPL_M_JOINER || *ms == REPL_M_DONOR) *ms = REPL_M_JOINED;
        return;
    }
    if (me) c->donor_fail = 0; /* seen: every member knows */
    tr_info("Member %d (%s) reports a failed state transfer (%d)", idx, c->memb.info[idx].name,
            (int)m.status);
    if (*ms == REPL_M_DONOR) *ms = REPL_M_JOINED;
    else if (*ms == REPL_M_JOINER) *ms = REPL_M_PRIM;
    /* our donor gave up: nothing will arrive */
    if (!me && c->xfer.phase == REPL_XFER_WAIT && c->xfer.have_donor &&
        tr_uuid_compare(&c->xfer.donor, &m.node) == 0) {
        if (m.status == -ENODATA && ist_ask_another(c, out, idx)) return;
        if (m.status == -ESTALE) {
            /* the group decided a seqno of its state failed after it left: its data may hold
             * that write-set, so it keeps no position and its next start takes a snapshot */
            repl_xfer_clear(&c->xfer);
            fail_leave(c, out, "Will never receive state. Need to abort: the group decided, after "
                               "this node left, that a write-set its state holds failed everywhere. "
                               "Restart the node: it takes a snapshot", true, true);
            return;
        }
        xfer_fail(c, out, "the donor could not send the state");
    }
}

/* ---- other control messages ---- */

static void on_last(struct repl_core *c, const uint8_t *buf, size_t len)
{
    struct repl_msg_last m;
    int64_t safe;
    if (repl_msg_last_decode(buf, len, &m) || !c->ordering || !c->cert) return;
    /* every member sees the same LAST messages in the same place, so all purge alike */
    if (repl_members_on_last(&c->memb, &m.node, m.seqno, &safe)) cert_purge(c->cert, safe);
}

static void on_causal(struct repl_core *c, struct repl_acts *out, const uint8_t *buf, size_t len)
{
    struct repl_msg_causal m;
    if (repl_msg_causal_decode(buf, len, &m) || tr_uuid_compare(&m.node, &c->cfg.self) != 0) return;
    if (!c->ordering) {
        lose_own(c, out, m.id, true);
        return;
    }
    if (!repl_inflight_take(&c->inflight, m.id, true)) return;
    /* what was ordered before the marker is what the reader must see */
    struct repl_act a = {.kind = REPL_ACT_CAUSAL, .id = m.id, .seqno = c->last_seqno};
    emit(c, out, &a);
}

static void on_vote(struct repl_core *c, struct repl_acts *out, const tr_uuid *sender,
                    const uint8_t *buf, size_t len)
{
    struct repl_msg_vote m;
    if (repl_msg_vote_decode(buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping malformed VOTE message (%zu bytes)", len);
        return;
    }
    if (!c->ordering) return;
    if (m.seqno > c->last_seqno)
        tr_warn("dropping a VOTE for seqno %lld, not ordered here (last %lld)", (long long)m.seqno,
                (long long)c->last_seqno);
    struct repl_vote_result r;
    if (repl_votes_on_msg(&c->votes, &c->memb, &c->cfg.self, sender, m.seqno, m.code, c->last_seqno, &r))
        fail(c, out, "out of memory for a vote");
    vote_decided(c, out, &r);
}

static void on_msg(struct repl_core *c, struct repl_acts *out, const tr_uuid *sender,
                   int64_t gseq, int64_t span, uint8_t *buf, size_t len, struct repl_ws *ws)
{
    if (c->failed) { /* leaving: nothing more is ordered here */
        repl_ws_unref(ws);
        free(buf);
        return;
    }
    bool control = !ws;
    /* how far this node holds the group's stream without a hole (who holds the complete state):
     * a message right after the last one counts; a jump (gcomm skipped what this node missed
     * while it was away) stops it until the next completed exchange */
    if (gseq > c->view_gseq) c->view_gseq = gseq;
    /* an action in pieces (repl_frag.h) accounts for gseq-span..gseq: all came in order here */
    if (!tr_uuid_compare(&c->g_hist, &c->view_ghist) && gseq - span <= c->g_last + 1 && gseq > c->g_last)
        c->g_last = gseq;
    c->msg_gseq = gseq;
    if (!buf && !ws) return; /* only pieces nobody keeps: nothing to order */
    if (control && !repl_msg_is_control(buf, len)) {
        tr_warn("dropping an unknown message of %zu bytes", len);
        free(buf);
        return;
    }
    int type = control ? repl_msg_type(buf) : 0;
    if (c->exch.active && type != REPL_MSG_STATE) {
        /* between a primary view and the end of its exchange (gcomm resends what was pending
         * at the view change): taken right after the exchange, at the same place everywhere */
        if (defer_msg(c, sender, gseq, span, buf, len, ws)) {
            repl_ws_unref(ws);
            free(buf);
            fail(c, out, "out of memory deferring a message during the state exchange");
        }
        return;
    }
    if (!control) {
        on_ws(c, out, ws);
        return;
    }
    switch (type) {
    case REPL_MSG_STATE: {
        struct repl_msg_state m;
        if (repl_msg_state_decode(buf, len, &m)) {
            tr_warn("dropping malformed STATE message (%zu bytes)", len);
        } else {
            int rc = repl_exch_on_state(&c->exch, sender, &m);
            if (rc == 1) exch_complete(c, out);
        }
        break;
    }
    case REPL_MSG_LAST: on_last(c, buf, len); break;
    case REPL_MSG_CAUSAL: on_causal(c, out, buf, len); break;
    case REPL_MSG_STR: on_str(c, out, sender, buf, len); break;
    case REPL_MSG_JOIN:
    case REPL_MSG_SYNC:
    case REPL_MSG_DESYNC: on_join(c, out, type, sender, buf, len); break;
    case REPL_MSG_VOTE: on_vote(c, out, sender, buf, len); break;
    default: tr_warn("dropping a control message of unknown type %d", type); break;
    }
    free(buf);
}

/* ---- views ---- */

static void on_view(struct repl_core *c, struct repl_acts *out, const struct repl_gview *gv)
{
    c->view_epoch++;
    emit_kind(c, out, REPL_ACT_NOTIFY);
    drop_deferred(c, out); /* an exchange that never completed: its messages are nobody's */
    repl_exch_clear(&c->exch);
    c->ordering = false;
    if (c->failed) return;
    if (gv->primary) {
        c->prim_view = true;
        /* the first primary view since our last completed exchange closes that stream */
        if (c->g_lo > 0 && c->g_end < 0 && !tr_uuid_compare(&c->g_hist, &gv->history))
            c->g_end = gv->close;
        c->view_ghist = gv->history;
        c->view_gseq = gv->close;
        if (repl_exch_begin(&c->exch, gv)) {
            fail(c, out, "out of memory for the state exchange");
            return;
        }
        send_state(c, out, gv->conf_id);
        return;
    }
    c->prim_view = false;
    c->intact = false;
    lose_all_in_flight(c, out);
    /* a vote cannot finish outside the primary component. A node whose own result was a
     * failure keeps its applier held there and asks again at the next primary view (exch_complete),
     * as Galera's voter waits in gcs_vote across a non-primary configuration: leaving here threw
     * away what it committed before that seqno, and when every member that held acknowledged
     * commits had a failure of its own undecided, the operator could only bootstrap one behind
     * (trireme-nsim --seed 714 --streaming --pieces 160) */
    repl_votes_nonprim(&c->votes);
    /* a transfer under way goes on if the group comes back without a gap */
    if (!repl_xfer_holding(&c->xfer)) shift(c, out, REPL_S_CONNECTED);
    c->conf_id = gv->conf_id;
    /* the member table stays the last ordering view's: a catch-up of its stream needs it */
    struct repl_act a = {.kind = REPL_ACT_NONPRIM,
                         .view = make_view(c, gv->members, gv->memb_num, gv->my_idx, false, -1,
                                           c->last_seqno)};
    if (!a.view) {
        fail(c, out, "out of memory for a view");
        return;
    }
    emit(c, out, &a);
}

static void on_closed(struct repl_core *c, struct repl_acts *out)
{
    if (!c->failed && repl_votes_failed_here(&c->votes, INT64_MIN)) {
        /* closed with a failure of ours undecided (it may wait across a non-primary period):
         * as Galera's gcs_vote ended by a close ("Could not reach consensus ..., assuming
         * inconsistency"), its data may differ, and the next start asks for a full transfer */
        tr_error("Closed while the vote on a write-set that failed here was undecided: this "
                 "node's data may differ from the group's");
        mark_failed(c, out, true);
    }
    c->closed = true;
    c->connected = false;
    c->prim_view = c->ordering = c->intact = false;
    c->view_epoch++;
    drop_deferred(c, out);
    repl_exch_clear(&c->exch);
    lose_all_in_flight(c, out);
    repl_xfer_clear(&c->xfer);
    c->xfer.donating = false;
    repl_xfer_serve_clear(&c->xfer);
    repl_votes_clear(&c->votes);
    repl_members_clear(&c->memb);
    c->desync_count = 0;
    c->flow.want_stop = false; /* the group lifts a leaving member's stops */
    if (c->state != REPL_S_CLOSED) repl_fsm_shift(&c->state, REPL_S_CLOSED, c->last_seqno);
    struct repl_act a = {.kind = REPL_ACT_FINAL, .safe_to_bootstrap = c->safe_to_bootstrap,
                         .corrupt = c->failed};
    a.gtid.uuid = c->group_uuid;
    emit(c, out, &a);
    emit_kind(c, out, REPL_ACT_NOTIFY);
}

/* ---- the step ---- */

static void on_committed(struct repl_core *c, struct repl_acts *out, int64_t committed)
{
    if (committed > c->committed) c->committed = committed;
    if (!c->ordering || c->failed) return;
    if (c->committed - c->last_reported >= LAST_EVERY) {
        c->last_reported = c->committed;
        /* a bound on every later write-set of ours: what we committed, and the last_seen of
         * those broadcast and not ordered yet */
        struct repl_msg_last m = {c->cfg.self,
                                  repl_inflight_min_last_seen(&c->inflight, c->committed)};
        BROADCAST(c, out, repl_msg_last_encode(&m, &a_.msg));
    }
    int64_t due[16];
    int k;
    while ((k = repl_votes_due(&c->votes, c->committed, due, 16)) > 0)
        for (int i = 0; i < k; i++) {
            struct repl_msg_vote m = {c->cfg.self, due[i], 0};
            BROADCAST(c, out, repl_msg_vote_encode(&m, &a_.msg));
        }
}

static int on_desync(struct repl_core *c, struct repl_acts *out)
{
    struct repl_core_info in;
    repl_core_info(c, &in);
    if (!in.writable) return REPL_TRX_FAIL;
    if (c->desync_count++ == 0) {
        if (c->state != REPL_S_DONOR) shift(c, out, REPL_S_DONOR);
        send_join(c, out, REPL_MSG_DESYNC, c->committed, 0);
    }
    return REPL_OK;
}

static int on_resync(struct repl_core *c, struct repl_acts *out)
{
    if (c->desync_count == 0) return REPL_OK;
    if (--c->desync_count == 0 && c->state == REPL_S_DONOR && !c->xfer.donating) {
        shift(c, out, REPL_S_JOINED);
        /* the group hears it in order; Synced once our own SYNC comes back */
        send_join(c, out, REPL_MSG_JOIN, c->committed, 0);
        send_join(c, out, REPL_MSG_SYNC, c->committed, 0);
    }
    return REPL_OK;
}

int repl_core_step(struct repl_core *c, struct repl_ev *ev, struct repl_acts *out)
{
    int rc = REPL_OK;
    /* calls from the host carry the committed position they saw (for JOIN/SYNC messages) */
    if ((ev->kind == REPL_EV_SST_SENT || ev->kind == REPL_EV_DESYNC || ev->kind == REPL_EV_RESYNC ||
         ev->kind == REPL_EV_IST_SENT || ev->kind == REPL_EV_DONATED) &&
        ev->seqno > c->committed)
        c->committed = ev->seqno;
    switch (ev->kind) {
    case REPL_EV_CONNECT:
        c->connected = true;
        c->closing = c->closed = c->failed = false;
        c->first_primary_seen = false;
        c->bootstrap_flag = ev->bootstrap;
        c->donor_fail = 0;
        c->proposal = ev->proposal;
        c->rng = ev->proposal.data[0] | (uint64_t)ev->proposal.data[7] << 8 |
                 (uint64_t)ev->proposal.data[11] << 24 | (uint64_t)ev->proposal.data[15] << 40 | 1;
        c->committed = c->last_reported = c->last_seqno;
        /* the last ordering view is kept (from grastate.dat after a restart): whom to wait for */
        c->g_hist = tr_uuid_nil;
        c->g_last = c->g_end = -1;
        /* ids of this connection never repeat an earlier one's */
        c->inflight.next_id = next_rand(c) << 24;
        shift(c, out, REPL_S_CONNECTED);
        persist(c, out, true); /* a crash must not look like a clean stop */
        break;
    case REPL_EV_DISCONNECT:
        if (c->connected && !c->closing) {
            c->closing = true;
            emit_kind(c, out, REPL_ACT_LEAVE);
        }
        break;
    case REPL_EV_VIEW: on_view(c, out, ev->view); break;
    case REPL_EV_MSG:
        on_msg(c, out, &ev->sender, ev->seqno, ev->span, ev->buf, ev->len, ev->ws);
        ev->buf = NULL;
        ev->ws = NULL;
        break;
    case REPL_EV_LOST: lose_own(c, out, ev->code, false); break;
    case REPL_EV_CLOSED: on_closed(c, out); break;
    case REPL_EV_TAKEN:
        if (c->queued > 0) c->queued--;
        for (int i = 0; i < FAILED_ALL && ev->seqno > 0; i++)
            if (c->failed_all[i] == ev->seqno) rc = REPL_TRX_FAIL; /* a vote said: skip it */
        if (ev->seqno > c->xfer.taken) c->xfer.taken = ev->seqno;
        if (c->xfer.ist_applying && ev->seqno > c->xfer.ist_taken && ev->seqno <= c->xfer.ist_to)
            c->xfer.ist_taken = ev->seqno;
        if (c->xfer.phase == REPL_XFER_APPLY && c->xfer.head && c->queued < HELD_REFILL && !c->failed)
            release_held(c, out, c->xfer.seqno);
        xfer_check(c, out);
        break;
    case REPL_EV_COMMITTED: on_committed(c, out, ev->seqno); break;
    case REPL_EV_APPLY_FAILED:
        if (c->failed) break;
        if (ev->rc == 1 && c->ordering && repl_members_data(&c->memb) <= 1 &&
            orphan_fragment(c, ev->seqno)) {
            /* alone, as Galera's single voter: here it may go on (MariaDB's MDEV-30764) */
            tr_info("seqno %lld, a fragment of a streaming transaction whose node left the "
                    "primary component, failed to apply here: it fails everywhere (that "
                    "transaction rolls back)", (long long)ev->seqno);
            failed_everywhere(c, ev->seqno);
            emit_kind(c, out, REPL_ACT_NOTIFY);
            break;
        }
        if (ev->rc == 1 && (!c->ordering || repl_members_data(&c->memb) <= 1)) {
            /* another node's write-set, which the others may have committed, failed here and
             * nobody is here to vote with: this node cannot show it holds the group's state */
            char why[160];
            snprintf(why, sizeof why, "seqno %lld failed to apply here with no other member to "
                                      "vote with", (long long)ev->seqno);
            fail_corrupt(c, out, why);
            break;
        }
        if (!c->ordering) break;
        int vrc = repl_votes_local_failure(&c->votes, ev->seqno, ev->code);
        if (vrc < 0) {
            fail(c, out, "out of memory for a vote");
        } else if (vrc > 0) {
            tr_info("seqno %lld failed to apply here: asking the cluster (vote %016llx)",
                    (long long)ev->seqno, (unsigned long long)ev->code);
            struct repl_msg_vote m = {c->cfg.self, ev->seqno, ev->code};
            BROADCAST(c, out, repl_msg_vote_encode(&m, &a_.msg));
        }
        break;
    case REPL_EV_SST_REQUEST: on_sst_request(c, out, ev); break;
    case REPL_EV_SST_RECEIVED: rc = on_sst_received(c, out, ev); break;
    case REPL_EV_SST_SENT: rc = on_sst_sent(c, out, ev); break;
    case REPL_EV_DONATED:
        if (ev->rc) {
            tr_error("State transfer to the joiner failed: the host could not start it (%d)", ev->rc);
            struct repl_ev s = {.kind = REPL_EV_SST_SENT, .rc = -ECANCELED};
            s.gtid.seqno = TR_SEQNO_UNDEFINED;
            on_sst_sent(c, out, &s);
        }
        break;
    case REPL_EV_IST_RECEIVED: on_ist_received(c, out, ev); break;
    case REPL_EV_IST_SENT:
        if (ev->rc < 0) donor_failed(c, out, ev->rc);
        break;
    case REPL_EV_IST_BEGAN:
        if (c->xfer.phase == REPL_XFER_WAIT && c->xfer.ist) c->xfer.ist_began = true;
        break;
    case REPL_EV_IST_PART: on_ist_part(c, out, ev); break;
    case REPL_EV_DESYNC: rc = on_desync(c, out); break;
    case REPL_EV_RESYNC: rc = on_resync(c, out); break;
    case REPL_EV_TICK:
        c->now = ev->now;
        if (c->ordering && !c->failed && c->now >= c->vote_retry_at) {
            /* a VOTE lost with a view change: ask again, or nobody ever decides */
            int64_t sq[8];
            uint64_t code[8];
            int k = repl_votes_unseen(&c->votes, &c->cfg.self, sq, code, 8);
            for (int i = 0; i < k; i++) {
                struct repl_msg_vote m = {c->cfg.self, sq[i], code[i]};
                BROADCAST(c, out, repl_msg_vote_encode(&m, &a_.msg));
            }
            if (c->donor_fail) send_join(c, out, REPL_MSG_JOIN, c->committed, c->donor_fail);
            c->vote_retry_at = c->now + STR_RETRY_NS;
        }
        if (c->xfer.retry_at && c->now >= c->xfer.retry_at && c->xfer.phase == REPL_XFER_WAIT &&
            !c->xfer.have_donor && !c->failed && c->ordering)
            send_str(c, out);
        break;
    case REPL_EV_FAIL: fail(c, out, ev->why ? ev->why : "a local failure"); break;
    case REPL_EV_BOOTSTRAP:
        if (!c->bootstrap_flag)
            tr_info("pc.bootstrap: if no member holds the complete group state, this node's "
                    "state (%lld) represents the group at the next view", (long long)c->last_seqno);
        c->bootstrap_flag = true;
        break;
    }
    serve_pending(c, out);
    if (c->xfer.resend && c->xfer.phase == REPL_XFER_WAIT && !c->failed) {
        c->xfer.resend = false;
        send_str(c, out);
    }
    flow_check(c, out);
    return rc;
}

/* ---- local broadcasts ---- */

int repl_core_local_begin(struct repl_core *c, bool causal, int64_t last_seen, uint64_t *id)
{
    struct repl_core_info in;
    repl_core_info(c, &in);
    if (!in.writable) return -ENOTCONN;
    return repl_inflight_add(&c->inflight, causal, last_seen, id) ? -ENOMEM : 0;
}

void repl_core_local_end(struct repl_core *c, uint64_t id)
{
    if (!repl_inflight_take(&c->inflight, id, false)) repl_inflight_take(&c->inflight, id, true);
}

/* ---- life cycle and reading ---- */

struct repl_core *repl_core_new(const struct repl_core_cfg *cfg, const tr_gtid *position,
                                bool safe_to_bootstrap, const struct repl_core_last_view *lv)
{
    struct repl_core *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    c->fcfg = (struct repl_flow_cfg){16, 1.0, false};
    c->state = REPL_S_CLOSED;
    c->group_uuid = position->uuid;
    c->last_seqno = tr_uuid_is_nil(&position->uuid) ? TR_SEQNO_UNDEFINED : position->seqno;
    c->committed = c->last_reported = c->last_seqno;
    c->safe_to_bootstrap = safe_to_bootstrap;
    c->cert_floor = TR_SEQNO_UNDEFINED;
    repl_members_clear(&c->memb);
    c->g_last = c->g_end = -1;
    last_view_load(c, lv); /* a restarted node still knows whom its group last ordered with */
    c->gcache = cfg->gcache;
    if (!c->gcache) c->own_gcache = (c->gcache = repl_gcache_new(cfg->gcache_size)) != NULL;
    if (!c->gcache) {
        free(c);
        return NULL;
    }
    c->xfer.gcache = c->gcache;
    c->xfer.mem_max = cfg->held_mem_max;
    c->xfer.max_raw = cfg->max_ws_raw;
    return c;
}

void repl_core_free(struct repl_core *c)
{
    if (!c) return;
    struct repl_acts sink = {0};
    drop_deferred(c, &sink);
    repl_acts_free(&sink);
    repl_exch_clear(&c->exch);
    repl_xfer_clear(&c->xfer);
    repl_xfer_serve_clear(&c->xfer);
    repl_votes_clear(&c->votes);
    repl_members_clear(&c->memb);
    repl_inflight_free(&c->inflight);
    if (c->cert) cert_index_free(c->cert);
    if (c->own_gcache) repl_gcache_free(c->gcache);
    free(c);
}

void repl_core_set_flow(struct repl_core *c, const struct repl_flow_cfg *fc)
{
    c->fcfg = *fc;
}

void repl_core_set_self(struct repl_core *c, const tr_uuid *self)
{
    c->cfg.self = *self;
}

void repl_core_set_donors(struct repl_core *c, const char *donors)
{
    snprintf(c->cfg.donors, sizeof c->cfg.donors, "%s", donors);
}

void repl_core_set_ist_addr(struct repl_core *c, const char *addr)
{
    snprintf(c->cfg.ist_addr, sizeof c->cfg.ist_addr, "%s", addr);
}

void repl_core_info(const struct repl_core *c, struct repl_core_info *o)
{
    memset(o, 0, sizeof *o);
    o->state = c->state;
    o->shifts = c->shifts;
    o->illegal_shifts = c->illegal_shifts;
    o->desync_count = c->desync_count;
    o->connected = c->connected;
    o->closing = c->closing;
    o->closed = c->closed;
    o->failed = c->failed;
    o->primary = c->prim_view && c->ordering;
    o->in_transition = c->connected && !c->closing && !c->closed && !c->failed && c->intact &&
                       !c->ordering;
    o->writable = o->primary && !c->closing && !c->failed && repl_fsm_holds_state(c->state);
    o->group = c->group_uuid;
    o->last_seqno = c->last_seqno;
    o->conf_id = c->conf_id;
    o->members = c->memb.n;
    o->view_epoch = c->view_epoch;
    o->safe_to_bootstrap = c->safe_to_bootstrap;
    o->donating = c->xfer.donating;
    o->fc_requested = c->flow.want_stop;
    o->held = c->xfer.held;
    o->held_mem_ws = c->xfer.mem_ws;
    o->held_spilled = c->xfer.spilled;
    o->queued = c->queued;
    o->notify_at = repl_core_notify_at(c);
    o->cached_downto = repl_gcache_first(c->gcache);
    o->cert_floor = c->cert_floor;
    o->ist_waiting = c->xfer.phase == REPL_XFER_WAIT && c->xfer.ist && !c->xfer.ist_in && !c->failed;
    o->donor_chosen = o->ist_waiting && c->xfer.have_donor; /* the IST receiver checks it */
    o->ist_taken = c->xfer.ist_taken;
    o->donor = c->xfer.donor;
}

void repl_core_cert_stats(const struct repl_core *c, struct cert_stats *out)
{
    memset(out, 0, sizeof *out);
    if (c->cert) cert_index_stats(c->cert, out);
}

int repl_core_members(const struct repl_core *c, const struct repl_member **m)
{
    *m = c->memb.info;
    return c->memb.n;
}

const uint8_t *repl_core_member_states(const struct repl_core *c)
{
    return c->memb.state;
}

const char *repl_core_incoming(const struct repl_core *c)
{
    return c->memb.incoming ? c->memb.incoming : "";
}

const tr_uuid *repl_core_self(const struct repl_core *c)
{
    return &c->cfg.self;
}

const tr_uuid *repl_core_group(const struct repl_core *c)
{
    return &c->group_uuid;
}

int64_t repl_core_notify_at(const struct repl_core *c)
{
    int64_t at = c->last_reported + LAST_EVERY;
    for (int i = 0; i < c->votes.nanswers; i++)
        if (c->votes.answers[i] < at) at = c->votes.answers[i];
    return at;
}

bool repl_core_vote_pending(const struct repl_core *c, int64_t seqno)
{
    return !c->failed && repl_votes_pending(&c->votes, seqno);
}
