/* replicator/repl_xfer: the held list of a joiner (see repl_xfer.h). What a joiner orders
 * while its state is on its way is certified as everywhere, then kept here in order; past a
 * memory bound, write-sets are left in the write-set store and read back on release. */
#include "replicator/repl_xfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_ws.h"

bool repl_xfer_holding(const struct repl_xfer *x)
{
    return x->phase == REPL_XFER_PREPARE || x->phase == REPL_XFER_WAIT;
}

static void held_append(struct repl_xfer *x, struct repl_held *h)
{
    if (x->tail)
        x->tail->next = h;
    else
        x->head = h;
    x->tail = h;
}

/* a's write-set stays in the store only: the pin must cover it, from the first spilled on. */
static int spill(struct repl_xfer *x, struct repl_act *a)
{
    if (!x->pin) {
        x->pin = tr_fail_hit("xfer.spill") ? NULL : repl_gcache_pin(x->gcache, a->seqno, a->seqno);
        if (!x->pin) {
            snprintf(x->why, sizeof x->why, "the write-set store does not hold seqno %lld, which "
                     "the held actions passed %lld bytes in memory with", (long long)a->seqno,
                     (long long)x->mem_bytes);
            return -2;
        }
        tr_info("State transfer: %lld bytes of held write-sets in memory; from seqno %lld on "
                "they stay in the write-set store only", (long long)x->mem_bytes, (long long)a->seqno);
    } else if (repl_gcache_pin_extend(x->pin, a->seqno)) {
        snprintf(x->why, sizeof x->why, "the write-set store could not keep the actions held during "
                 "the transfer (seqno %lld is not there, or the store started over: its overflow "
                 "pages could not grow; check gcache.dir's free space)", (long long)a->seqno);
        return -2;
    }
    struct repl_held *h = x->tail && x->tail->act.kind == 0 && x->tail->nrun < REPL_HELD_RUN ? x->tail : NULL;
    if (!h) {
        h = tr_fail_hit("xfer.hold") ? NULL : calloc(1, sizeof *h);
        struct repl_spilled *run = h ? malloc(REPL_HELD_RUN * sizeof *run) : NULL;
        if (!run) {
            free(h);
            return -1;
        }
        h->run = run;
        held_append(x, h);
    }
    h->run[h->nrun++] = (struct repl_spilled){a->seqno, a->depends, (uint8_t)a->kind, a->ok};
    x->spilled++;
    x->held++;
    repl_act_release(a); /* the write-set's bytes: the store has them */
    return 0;
}

bool repl_xfer_would_spill(const struct repl_xfer *x, const struct repl_act *a)
{
    int64_t max = x->mem_max > 0 ? x->mem_max : REPL_XFER_MEM_MAX;
    bool ws = a->ws && (a->kind == REPL_ACT_APPLY || a->kind == REPL_ACT_SKIP);
    return ws && x->gcache && (x->pin || x->mem_bytes + (int64_t)a->ws->len > max);
}

int repl_xfer_hold(struct repl_xfer *x, struct repl_act *a)
{
    bool ws = a->ws && (a->kind == REPL_ACT_APPLY || a->kind == REPL_ACT_SKIP);
    if (repl_xfer_would_spill(x, a)) {
        int rc = spill(x, a);
        if (rc) repl_act_release(a);
        return rc;
    }
    struct repl_held *h = tr_fail_hit("xfer.hold") ? NULL : calloc(1, sizeof *h);
    if (!h) {
        repl_act_release(a);
        return -1;
    }
    h->act = *a;
    memset(a, 0, sizeof *a);
    if (ws) {
        x->mem_bytes += (int64_t)h->act.ws->len;
        x->mem_ws++;
    }
    held_append(x, h);
    x->held++;
    return 0;
}

static void held_free(struct repl_xfer *x, struct repl_held *h)
{
    if (h->act.ws && (h->act.kind == REPL_ACT_APPLY || h->act.kind == REPL_ACT_SKIP)) {
        x->mem_bytes -= (int64_t)h->act.ws->len;
        x->mem_ws--;
    }
    repl_act_release(&h->act);
    free(h->run);
    free(h);
}

/* The spilled entry e as an action, its write-set read back from the store: 0, or -2. */
static int read_back(struct repl_xfer *x, const struct repl_spilled *e, struct repl_act *a)
{
    *a = (struct repl_act){.kind = e->kind, .seqno = e->seqno, .depends = e->depends, .ok = e->ok};
    if (e->kind != REPL_ACT_APPLY) return 0; /* nothing applies a skipped one: no bytes needed */
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = repl_gcache_read(x->pin, e->seqno, &buf, &cap, &len);
    if (rc == 1) {
        a->ws = repl_ws_new(buf, len);
        if (a->ws && repl_ws_decode(a->ws, x->max_raw) == 0) return 0;
        snprintf(x->why, sizeof x->why, "held seqno %lld read back from the write-set store %s",
                 (long long)e->seqno, a->ws ? cert_ws_strerror(a->ws->decode_rc) : "(out of memory)");
        repl_ws_unref(a->ws);
        a->ws = NULL;
        return -2;
    }
    free(buf);
    if (rc == 0) { /* a vote re-marked it "no work" in the store after it was held */
        a->kind = REPL_ACT_SKIP;
        a->ok = true;
        return 0;
    }
    snprintf(x->why, sizeof x->why, "the write-set store lost held seqno %lld (%s)", (long long)e->seqno,
             rc == -ENOMEM ? "out of memory reading it" : "the store started over");
    return -2;
}

int repl_xfer_release(struct repl_xfer *x, int64_t upto, struct repl_acts *out, int64_t *count,
                      int64_t budget)
{
    int64_t read = 0;
    *count = 0;
    while (x->head && (budget <= 0 || read < budget || !*count)) {
        struct repl_held *h = x->head;
        struct repl_act a;
        if (h->act.kind == 0) {
            const struct repl_spilled *e = &h->run[h->run_head];
            if (e->seqno >= 0 && e->seqno <= upto) {
                memset(&a, 0, sizeof a);
            } else if (read_back(x, e, &a)) {
                return -2;
            }
            if (++h->run_head == h->nrun) {
                x->head = h->next;
                free(h->run);
                free(h);
            }
            x->spilled--;
        } else {
            x->head = h->next;
            a = h->act;
            memset(&h->act, 0, sizeof h->act);
            if (a.ws && (a.kind == REPL_ACT_APPLY || a.kind == REPL_ACT_SKIP)) {
                x->mem_bytes -= (int64_t)a.ws->len;
                x->mem_ws--;
            }
            free(h);
            if (a.seqno >= 0 && a.seqno <= upto) repl_act_release(&a);
        }
        if (!x->head) x->tail = NULL;
        x->held--;
        if (!a.kind) continue; /* in the received state already */
        if (a.ws) read += (int64_t)a.ws->len;
        if (repl_acts_push(out, &a)) return -1; /* push released it */
        (*count)++;
    }
    if (!x->spilled) {
        repl_gcache_unpin(x->pin);
        x->pin = NULL;
    }
    return 0;
}

void repl_xfer_held_skip(struct repl_xfer *x, int64_t seqno)
{
    for (struct repl_held *h = x->head; h; h = h->next) {
        struct repl_act *a = &h->act;
        for (uint32_t i = h->run_head; i < h->nrun; i++)
            if (h->run[i].seqno == seqno && h->run[i].kind == REPL_ACT_APPLY) {
                h->run[i].kind = REPL_ACT_SKIP;
                h->run[i].ok = true; /* it passed certification: skipped by the vote */
            }
        if (a->kind == REPL_ACT_APPLY && a->seqno == seqno) {
            a->kind = REPL_ACT_SKIP;
            a->ok = true;
        }
    }
}

bool repl_xfer_all_in_memory(const struct repl_xfer *x)
{
    return !x->spilled && !x->pin;
}

void repl_xfer_clear(struct repl_xfer *x)
{
    while (x->head) {
        struct repl_held *h = x->head;
        x->head = h->next;
        held_free(x, h);
    }
    x->tail = NULL;
    x->held = 0;
    x->spilled = 0;
    x->mem_bytes = x->mem_ws = 0;
    repl_gcache_unpin(x->pin);
    x->pin = NULL;
    free(x->req);
    x->req = NULL;
    x->req_len = 0;
    free(x->join_view);
    x->join_view = NULL;
    repl_xfer_ist_drop(x);
    x->ist = false;
    x->ist_retries = x->ist_restarts = 0;
    x->ist_cut = false;
    x->ist_began = false;
    x->bypassed = false;
    x->have_donor = false;
    x->resend = false;
    x->retry_at = 0;
    x->phase = REPL_XFER_NONE;
}

void repl_xfer_ist_drop(struct repl_xfer *x)
{
    repl_ist_recs_free(x->ist_recs, x->ist_n);
    x->ist_recs = NULL;
    x->ist_n = x->ist_cap = 0;
    x->ist_next = x->ist_from;
    x->ist_taken = x->ist_from - 1;
    x->ist_applying = false;
    x->ist_store = false;
    x->ist_in = false;
    x->ist_rc = 0;
    x->ist_why[0] = '\0';
}

void repl_xfer_serve_add(struct repl_xfer *x, struct repl_serve *s)
{
    s->next = NULL;
    if (!x->serve) x->serve_tail = &x->serve;
    *x->serve_tail = s;
    x->serve_tail = &s->next;
}

struct repl_serve *repl_xfer_serve_take(struct repl_xfer *x)
{
    struct repl_serve *s = x->serve;
    if (s) x->serve = s->next;
    return s;
}

void repl_serve_free(struct repl_serve *s)
{
    if (!s) return;
    free(s->req);
    free(s->addr);
    free(s);
}

void repl_xfer_serve_clear(struct repl_xfer *x)
{
    struct repl_serve *s;
    while ((s = repl_xfer_serve_take(x))) repl_serve_free(s);
}
