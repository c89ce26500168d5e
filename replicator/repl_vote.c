/* replicator/repl_vote: the vote table and its deterministic tally (see repl_vote.h). Galera
 * votes the same way (process_apply_error / process_vote in replicator_smm.cpp): a member whose
 * result differs from the majority's leaves instead of diverging. */
#include "replicator/repl_vote.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"

struct repl_fail {
    int64_t seqno;
    uint64_t code;
    bool seen;    /* our VOTE came back in the total order */
    bool carried; /* undecided when this node left the primary component */
    struct repl_fail *next;
};

/* A vote in progress: the members asked (those holding the state when it began). */
struct repl_vote {
    int64_t seqno;
    int num, got_num;
    tr_uuid *who;
    uint64_t *code;
    bool *got;
    bool mine_noted;
    struct repl_vote *next;
};

uint64_t repl_vote_code(const void *err, size_t len)
{
    const uint8_t *p = err;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

static struct repl_fail *fail_find(const struct repl_votes *v, int64_t seqno)
{
    for (struct repl_fail *f = v->fails; f; f = f->next)
        if (f->seqno == seqno) return f;
    return NULL;
}

/* Notes that this node votes on seqno; true when it had already: one vote per seqno. */
static bool note_voted(struct repl_votes *v, int64_t seqno)
{
    for (int i = 0; i < REPL_VOTE_SENT; i++)
        if (v->sent[i] == seqno) return true;
    v->sent[v->sent_next++ % REPL_VOTE_SENT] = seqno;
    return false;
}

static void vote_free(struct repl_vote *x)
{
    free(x->who);
    free(x->code);
    free(x->got);
    free(x);
}

void repl_votes_clear(struct repl_votes *v)
{
    while (v->fails) {
        struct repl_fail *f = v->fails;
        v->fails = f->next;
        free(f);
    }
    while (v->votes) {
        struct repl_vote *x = v->votes;
        v->votes = x->next;
        vote_free(x);
    }
    free(v->answers);
    v->answers = NULL;
    v->nanswers = v->cap_answers = 0;
}

int repl_votes_local_failure(struct repl_votes *v, int64_t seqno, uint64_t code)
{
    if (fail_find(v, seqno)) return 0;
    struct repl_fail *f = tr_fail_hit("vote.fail") ? NULL : calloc(1, sizeof *f);
    if (!f) return -1;
    if (note_voted(v, seqno)) { /* it answered success already: it cannot take that back */
        free(f);
        return 0;
    }
    f->seqno = seqno;
    f->code = code;
    f->next = v->fails;
    v->fails = f;
    return 1;
}

bool repl_votes_pending(const struct repl_votes *v, int64_t seqno)
{
    return fail_find(v, seqno) != NULL;
}

/* The result most members reported wins; a tie goes to success when success is among the
 * tied results (one failing member never takes the others down), otherwise to the result of
 * the lowest member uuid among the tied ones. */
static uint64_t winner(const struct repl_vote *x)
{
    uint64_t best = 0;
    int best_n = -1, best_i = -1;
    for (int i = 0; i < x->num; i++) {
        if (!x->got[i]) continue;
        int c = 0, low = i;
        for (int j = 0; j < x->num; j++) {
            if (!x->got[j] || x->code[j] != x->code[i]) continue;
            c++;
            if (tr_uuid_compare(&x->who[j], &x->who[low]) < 0) low = j;
        }
        bool better = c > best_n;
        if (c == best_n && best != 0)
            better = x->code[i] == 0 || tr_uuid_compare(&x->who[low], &x->who[best_i]) < 0;
        if (better) {
            best = x->code[i];
            best_n = c;
            best_i = low;
        }
    }
    return best;
}

static void drop_answer(struct repl_votes *v, int64_t seqno)
{
    for (int i = 0; i < v->nanswers;)
        if (v->answers[i] == seqno)
            v->answers[i] = v->answers[--v->nanswers];
        else
            i++;
}

/* All asked members answered (or left): decide. */
static void tally(struct repl_votes *v, struct repl_vote **pv, const tr_uuid *self,
                  struct repl_vote_result *res)
{
    struct repl_vote *x = *pv;
    uint64_t w = winner(x);
    memset(res, 0, sizeof *res);
    res->decided = true;
    res->seqno = x->seqno;
    res->winner = w;
    res->asked = x->num;
    int mine = -1;
    for (int i = 0; i < x->num; i++) {
        if (x->got[i] && x->code[i] == w) res->agree++;
        if (tr_uuid_compare(&x->who[i], self) == 0) mine = i;
    }
    if (mine >= 0 && x->got[mine]) {
        res->mine = x->code[mine];
        res->lost = x->code[mine] != w;
    }
    struct repl_fail **pf = &v->fails;
    while (*pf) {
        if ((*pf)->seqno == x->seqno) {
            struct repl_fail *f = *pf;
            *pf = f->next;
            free(f);
        } else {
            pf = &(*pf)->next;
        }
    }
    drop_answer(v, x->seqno);
    *pv = x->next;
    vote_free(x);
}

static bool asked(uint8_t state)
{
    /* joiners and arbitrators hold no state to compare */
    return state != REPL_M_PRIM && state != REPL_M_JOINER && state != REPL_M_ARBITRATOR;
}

int repl_votes_voters(const struct repl_members *m)
{
    int k = 0;
    for (int i = 0; i < m->n; i++) k += asked(m->state[i]);
    return k;
}

static struct repl_vote *vote_begin(struct repl_votes *v, const struct repl_members *m,
                                    int64_t seqno)
{
    struct repl_vote *x = tr_fail_hit("vote.begin") ? NULL : calloc(1, sizeof *x);
    if (!x) return NULL;
    x->seqno = seqno;
    size_t n = m->n > 0 ? (size_t)m->n : 1;
    x->who = calloc(n, sizeof *x->who);
    x->code = calloc(n, sizeof *x->code);
    x->got = calloc(n, sizeof *x->got);
    if (!x->who || !x->code || !x->got) {
        vote_free(x);
        return NULL;
    }
    for (int i = 0; i < m->n; i++)
        if (asked(m->state[i])) x->who[x->num++] = m->info[i].id;
    x->next = v->votes;
    v->votes = x;
    return x;
}

int repl_votes_on_msg(struct repl_votes *v, const struct repl_members *m, const tr_uuid *self,
                      const tr_uuid *sender, int64_t seqno, uint64_t code, int64_t last_seqno,
                      struct repl_vote_result *res)
{
    memset(res, 0, sizeof *res);
    /* A VOTE follows its seqno in the total order: one for a seqno not ordered here is bogus,
     * and answering it would wait forever for that seqno to be applied. */
    if (seqno > last_seqno || repl_members_find(m, sender) < 0) return 0;
    struct repl_vote **pv = &v->votes;
    while (*pv && (*pv)->seqno != seqno) pv = &(*pv)->next;
    if (!*pv) {
        if (!vote_begin(v, m, seqno)) return -1;
        pv = &v->votes;
    }
    struct repl_vote *x = *pv;
    for (int i = 0; i < x->num; i++)
        if (tr_uuid_compare(&x->who[i], sender) == 0 && !x->got[i]) {
            x->got[i] = true;
            x->code[i] = code;
            x->got_num++;
        }
    if (!tr_uuid_compare(sender, self)) {
        struct repl_fail *f = fail_find(v, seqno);
        if (f) f->seen = true;
    }
    bool me_asked = false;
    for (int i = 0; i < x->num; i++) me_asked |= tr_uuid_compare(&x->who[i], self) == 0;
    /* this node answers once, after it has applied the seqno itself (repl_votes_due); a
     * failure here was announced by repl_votes_local_failure already */
    if (me_asked && !x->mine_noted) {
        x->mine_noted = true;
        if (!fail_find(v, seqno)) {
            if (v->nanswers == v->cap_answers) {
                int cap = v->cap_answers ? v->cap_answers * 2 : 8;
                int64_t *a = tr_fail_hit("vote.answer") ? NULL
                                                        : realloc(v->answers, (size_t)cap * sizeof *a);
                if (!a) return -1;
                v->answers = a;
                v->cap_answers = cap;
            }
            v->answers[v->nanswers++] = seqno;
        }
    }
    if (x->got_num >= x->num) tally(v, pv, self, res);
    return 0;
}

int repl_votes_due(struct repl_votes *v, int64_t committed, int64_t *out, int cap)
{
    int k = 0;
    for (int i = 0; i < v->nanswers && k < cap;) {
        int64_t s = v->answers[i];
        if (s > committed) {
            i++;
            continue;
        }
        v->answers[i] = v->answers[--v->nanswers];
        if (!note_voted(v, s)) out[k++] = s;
    }
    return k;
}

void repl_votes_view(struct repl_votes *v, const struct repl_members *m, const tr_uuid *self,
                     struct repl_vote_result *res)
{
    memset(res, 0, sizeof *res);
    for (struct repl_vote **pv = &v->votes; *pv;) {
        struct repl_vote *x = *pv;
        for (int i = 0; i < x->num;) {
            /* still here and still holding the state (a member that restarted and joins anew
             * under the same uuid will never answer) */
            int j = repl_members_find(m, &x->who[i]);
            if (x->got[i] || (j >= 0 && m->state[j] != REPL_M_PRIM && m->state[j] != REPL_M_JOINER)) {
                i++;
                continue;
            }
            x->num--;
            size_t rest = (size_t)(x->num - i);
            memmove(&x->who[i], &x->who[i + 1], sizeof *x->who * rest);
            memmove(&x->code[i], &x->code[i + 1], sizeof *x->code * rest);
            memmove(&x->got[i], &x->got[i + 1], sizeof *x->got * rest);
        }
        if (x->got_num >= x->num) {
            tally(v, pv, self, res);
            return;
        }
        pv = &x->next;
    }
}

void repl_votes_nonprim(struct repl_votes *v)
{
    while (v->votes) {
        struct repl_vote *x = v->votes;
        v->votes = x->next;
        vote_free(x);
    }
    v->nanswers = 0;
    for (struct repl_fail *f = v->fails; f; f = f->next) f->seen = false, f->carried = true;
}

bool repl_votes_carried(const struct repl_votes *v)
{
    for (const struct repl_fail *f = v->fails; f; f = f->next)
        if (f->carried) return true;
    return false;
}

void repl_votes_resume(struct repl_votes *v)
{
    for (struct repl_fail *f = v->fails; f; f = f->next) f->carried = false;
}

bool repl_votes_busy(const struct repl_votes *v, int64_t after)
{
    for (const struct repl_vote *x = v->votes; x; x = x->next)
        if (x->seqno > after) return true;
    return false;
}

bool repl_votes_failed_here(const struct repl_votes *v, int64_t after)
{
    for (const struct repl_fail *f = v->fails; f; f = f->next)
        if (f->seqno > after) return true;
    return false;
}

static bool answer_pending(const struct repl_votes *v, int64_t seqno)
{
    for (int i = 0; i < v->nanswers; i++)
        if (v->answers[i] == seqno) return true;
    return false;
}

int repl_votes_unseen(const struct repl_votes *v, const tr_uuid *self, int64_t *seqno,
                      uint64_t *code, int cap)
{
    int k = 0;
    for (struct repl_fail *f = v->fails; f && k < cap; f = f->next)
        if (!f->seen) {
            seqno[k] = f->seqno;
            code[k++] = f->code;
        }
    /* success answers already sent that the vote has not received: lost with a view change */
    for (const struct repl_vote *x = v->votes; x && k < cap; x = x->next) {
        if (!x->mine_noted || fail_find(v, x->seqno) || answer_pending(v, x->seqno)) continue;
        for (int i = 0; i < x->num; i++)
            if (!x->got[i] && !tr_uuid_compare(&x->who[i], self)) {
                seqno[k] = x->seqno;
                code[k++] = 0;
                break;
            }
    }
    return k;
}

