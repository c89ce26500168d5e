/* replicator/repl_vote: inconsistency voting (replication.md §7). A member that fails to apply
 * an ordered action asks the others; the majority's result stands and the others leave. */
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "replicator/repl_node_impl.h"

/* What this node saw for a seqno another member may ask about: only failures are kept. */
struct repl_fail {
    int64_t seqno;
    uint64_t code;
    struct repl_fail *next;
};

/* A vote in progress: the members asked (those holding the state when it began). */
struct repl_vote {
    int64_t seqno;
    int num, got_num;
    tr_uuid *who;
    uint64_t *code;
    bool *got;
    bool mine_sent;
    struct repl_vote *next;
};

/* FNV-1a over the host's error text; never 0, which means success. */
static uint64_t error_code(const void *err, size_t len)
{
    const uint8_t *p = err;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

static struct repl_fail *fail_find_locked(struct repl_node *n, int64_t seqno)
{
    for (struct repl_fail *f = n->fails; f; f = f->next)
        if (f->seqno == seqno) return f;
    return NULL;
}

/* Notes that this node votes on seqno; true when it had already: each member votes once per
 * seqno, even when the vote was decided before its late answer is ready. */
static bool note_voted_locked(struct repl_node *n, int64_t seqno)
{
    for (int i = 0; i < REPL_VOTE_SENT; i++)
        if (n->vote_sent[i] == seqno) return true;
    n->vote_sent[n->vote_sent_next++ % REPL_VOTE_SENT] = seqno;
    return false;
}

static void vote_free(struct repl_vote *v)
{
    free(v->who);
    free(v->code);
    free(v->got);
    free(v);
}

void repl_vote_clear_locked(struct repl_node *n)
{
    while (n->fails) {
        struct repl_fail *f = n->fails;
        n->fails = f->next;
        free(f);
    }
    while (n->votes) {
        struct repl_vote *v = n->votes;
        n->votes = v->next;
        vote_free(v);
    }
}

static void send_vote(struct repl_node *n, int64_t seqno, uint64_t code)
{
    struct repl_msg_vote m = {n->self, seqno, code};
    struct tr_buf b = {0};
    if (repl_msg_vote_encode(&m, &b) == 0)
        repl_stream_broadcast(n, &b);
    else
        tr_buf_free(&b);
}

void repl_vote_failed(struct repl_node *n, int64_t seqno, const void *err, size_t len)
{
    uint64_t code = error_code(err, len);
    pthread_mutex_lock(&n->mu);
    /* Alone there is no one to ask: the error is logged and the order goes on. */
    bool ask = n->memb_num > 1 && n->primary && !fail_find_locked(n, seqno) &&
               !note_voted_locked(n, seqno);
    struct repl_fail *f = ask ? calloc(1, sizeof *f) : NULL;
    if (f) {
        f->seqno = seqno;
        f->code = code;
        f->next = n->fails;
        n->fails = f;
    }
    pthread_mutex_unlock(&n->mu);
    if (!f) return;
    /* a note: when every member fails alike nothing is wrong (MariaDB's tests expect silence) */
    tr_info("seqno %lld failed to apply here: asking the cluster (vote %016llx)", (long long)seqno,
            (unsigned long long)code);
    send_vote(n, seqno, code);
}

/* Deterministic on every member: the result most members reported wins; a tie goes to success
 * when success is among the tied results (a single failing member can never take the others
 * down with it), otherwise to the result of the lowest member uuid among the tied ones. */
static uint64_t winner(const struct repl_vote *v)
{
    uint64_t best = 0;
    int best_n = -1, best_i = -1;
    for (int i = 0; i < v->num; i++) {
        if (!v->got[i]) continue;
        int c = 0, low = i;
        for (int j = 0; j < v->num; j++) {
            if (!v->got[j] || v->code[j] != v->code[i]) continue;
            c++;
            if (tr_uuid_compare(&v->who[j], &v->who[low]) < 0) low = j;
        }
        bool better = c > best_n;
        if (c == best_n && best != 0)
            better = v->code[i] == 0 || tr_uuid_compare(&v->who[low], &v->who[best_i]) < 0;
        if (better) {
            best = v->code[i];
            best_n = c;
            best_i = low;
        }
    }
    return best;
}

/* All asked members answered (or left): decide, and leave if this node lost. */
static void tally_locked(struct repl_node *n, struct repl_vote **pv)
{
    struct repl_vote *v = *pv;
    if (v->got_num < v->num) return;
    uint64_t w = winner(v);
    int agree = 0, mine = -1;
    for (int i = 0; i < v->num; i++) {
        if (v->got[i] && v->code[i] == w) agree++;
        if (tr_uuid_compare(&v->who[i], &n->self) == 0) mine = i;
    }
    if (mine >= 0 && v->got[mine] && v->code[mine] != w) {
        char u[TR_UUID_STR_LEN + 1];
        tr_uuid_print(&n->group_uuid, u);
        /* Galera's words first: monitoring and MariaDB's tests look for them */
        tr_error("Inconsistency detected: Inconsistent by consensus on %s:%lld: it %s here but "
                 "%s on %d of %d members. This node leaves the cluster rather than diverge; "
                 "restart it to rejoin by state transfer.",
                 u, (long long)v->seqno, v->code[mine] ? "failed" : "succeeded",
                 w ? "failed the same way" : "succeeded", agree, v->num);
        n->must_leave = true;
    } else {
        tr_info("Vote on seqno %lld: %d of %d members agree (%s)", (long long)v->seqno, agree,
                v->num, w ? "the action fails everywhere" : "success");
    }
    struct repl_fail **pf = &n->fails;
    while (*pf) {
        if ((*pf)->seqno == v->seqno) {
            struct repl_fail *f = *pf;
            *pf = f->next;
            free(f);
        } else {
            pf = &(*pf)->next;
        }
    }
    *pv = v->next;
    vote_free(v);
}

static struct repl_vote *vote_begin_locked(struct repl_node *n, int64_t seqno)
{
    struct repl_vote *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->seqno = seqno;
    v->who = calloc((size_t)n->memb_num, sizeof *v->who);
    v->code = calloc((size_t)n->memb_num, sizeof *v->code);
    v->got = calloc((size_t)n->memb_num, sizeof *v->got);
    if (!v->who || !v->code || !v->got) {
        vote_free(v);
        return NULL;
    }
    for (int i = 0; i < n->memb_num; i++) {
        /* joiners hold no state to compare */
        if (n->memb_state[i] == REPL_ST_JOINING) continue;
        v->who[v->num++] = n->memb_info[i].id;
    }
    v->next = n->votes;
    n->votes = v;
    return v;
}

int64_t repl_vote_on_msg_locked(struct repl_node *n, const tr_uuid *sender, const uint8_t *buf,
                                size_t len)
{
    struct repl_msg_vote m;
    if (repl_msg_vote_decode(buf, len, &m) || tr_uuid_compare(sender, &m.node) != 0) {
        tr_warn("dropping malformed VOTE message (%zu bytes)", len);
        return TR_SEQNO_UNDEFINED;
    }
    if (!n->primary || !n->memb_info || !n->memb_state) return TR_SEQNO_UNDEFINED;
    /* A VOTE follows its seqno in the total order: one for a seqno not ordered here is bogus,
     * and answering it would wait forever for that seqno to be applied. */
    if (m.seqno > n->last_seqno) {
        tr_warn("dropping a VOTE for seqno %lld, not ordered here (last %lld)", (long long)m.seqno,
                (long long)n->last_seqno);
        return TR_SEQNO_UNDEFINED;
    }
    struct repl_vote **pv = &n->votes;
    while (*pv && (*pv)->seqno != m.seqno) pv = &(*pv)->next;
    if (!*pv && !vote_begin_locked(n, m.seqno)) {
        tr_error("out of memory for the vote on seqno %lld", (long long)m.seqno);
        return TR_SEQNO_UNDEFINED;
    }
    if (!*pv) pv = &n->votes;
    struct repl_vote *v = *pv;
    for (int i = 0; i < v->num; i++)
        if (tr_uuid_compare(&v->who[i], &m.node) == 0 && !v->got[i]) {
            v->got[i] = true;
            v->code[i] = m.code;
            v->got_num++;
        }
    bool me_asked = false;
    for (int i = 0; i < v->num; i++) me_asked |= tr_uuid_compare(&v->who[i], &n->self) == 0;
    /* This node answers once, after it has applied the seqno itself (repl_vote_answer). */
    int64_t answer = TR_SEQNO_UNDEFINED;
    if (me_asked && !v->mine_sent) {
        v->mine_sent = true;
        /* a failure here was announced already by repl_vote_failed */
        if (!fail_find_locked(n, m.seqno)) answer = m.seqno;
    }
    tally_locked(n, pv);
    return answer;
}

void repl_vote_answer(struct repl_node *n, int64_t seqno)
{
    repl_monitor_wait(n->apply_mon, seqno, -1);
    pthread_mutex_lock(&n->mu);
    bool sent = note_voted_locked(n, seqno); /* a failure announced by repl_vote_failed */
    pthread_mutex_unlock(&n->mu);
    if (!sent) send_vote(n, seqno, 0);
}

static bool member_here_locked(const struct repl_node *n, const tr_uuid *id)
{
    for (int j = 0; n->memb_info && j < n->memb_num; j++)
        if (tr_uuid_compare(&n->memb_info[j].id, id) == 0) return true;
    return false;
}

void repl_vote_view_locked(struct repl_node *n)
{
    /* members that left are not waited for: a vote is decided among those still here */
    struct repl_vote **pv = &n->votes;
    while (*pv) {
        struct repl_vote *v = *pv;
        for (int i = 0; i < v->num;) {
            if (v->got[i] || member_here_locked(n, &v->who[i])) {
                i++;
                continue;
            }
            v->num--;
            size_t rest = (size_t)(v->num - i);
            memmove(&v->who[i], &v->who[i + 1], sizeof *v->who * rest);
            memmove(&v->code[i], &v->code[i + 1], sizeof *v->code * rest);
            memmove(&v->got[i], &v->got[i + 1], sizeof *v->got * rest);
        }
        if (v->got_num >= v->num)
            tally_locked(n, pv);
        else
            pv = &v->next;
    }
}
