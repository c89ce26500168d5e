/* replicator/repl_members: the member table of the current primary view (see repl_members.h).
 * Donor choice and the purge point read only this table, so every member decides alike. */
#include "replicator/repl_members.h"

#include <stdlib.h>
#include <string.h>

#include "common/tr_fail.h"

void repl_members_clear(struct repl_members *m)
{
    free(m->info);
    free(m->state);
    free(m->last);
    free(m->cached);
    free(m->incoming);
    memset(m, 0, sizeof *m);
    m->safe = -1;
}

int repl_members_set(struct repl_members *m, const struct repl_member *info, const uint8_t *state,
                     const int64_t *cached, int n)
{
    repl_members_clear(m);
    if (n <= 0) return 0;
    bool fail = tr_fail_hit("members.set");
    m->info = fail ? NULL : calloc((size_t)n, sizeof *m->info);
    m->state = calloc((size_t)n, sizeof *m->state);
    m->last = calloc((size_t)n, sizeof *m->last);
    m->cached = calloc((size_t)n, sizeof *m->cached);
    m->incoming = calloc((size_t)n, REPL_INCOMING_LEN + 1);
    if (!m->info || !m->state || !m->last || !m->cached || !m->incoming) {
        repl_members_clear(m);
        return -1;
    }
    m->n = n;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        m->info[i] = info[i];
        m->state[i] = state[i];
        m->last[i] = -1;
        m->cached[i] = cached && cached[i] >= 0 ? cached[i] : -1;
        size_t len = strnlen(info[i].incoming, REPL_INCOMING_LEN);
        if (i) m->incoming[off++] = ',';
        memcpy(m->incoming + off, info[i].incoming, len);
        off += len;
    }
    m->incoming[off] = '\0';
    return 0;
}

int repl_members_find(const struct repl_members *m, const tr_uuid *id)
{
    for (int i = 0; i < m->n; i++)
        if (tr_uuid_compare(&m->info[i].id, id) == 0) return i;
    return -1;
}

int repl_members_data(const struct repl_members *m)
{
    int k = 0;
    for (int i = 0; i < m->n; i++) k += m->state[i] != REPL_M_ARBITRATOR;
    return k;
}

bool repl_members_covers(const struct repl_members *m, int i, int64_t need)
{
    return need >= 0 && i >= 0 && i < m->n && m->cached[i] >= 0 && m->cached[i] <= need;
}

/* The first synced member of the list (in its order) that can serve; with need, only one whose
 * store covers it. *any: the list allows any member after its names. */
static int choose_named(const struct repl_members *m, const char *donors, int joiner, int64_t need,
                        bool *any)
{
    const char *p = donors;
    *any = *donors == '\0';
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (int i = 0; len && i < m->n; i++)
            if (i != joiner && m->state[i] == REPL_M_SYNCED &&
                (need < 0 || repl_members_covers(m, i, need)) &&
                strnlen(m->info[i].name, REPL_NAME_LEN) == len &&
                memcmp(m->info[i].name, p, len) == 0)
                return i;
        if (!e) break;
        p = e + 1;
        if (*p == '\0') *any = true;
    }
    return -1;
}

int repl_members_choose_donor(const struct repl_members *m, const char *donors, int joiner,
                              int64_t need)
{
    bool any;
    int d = -1;
    if (need >= 0) {
        d = choose_named(m, donors, joiner, need, &any);
        /* among the others, the store that starts highest and still covers: the ones reaching
         * further back stay free for joiners that are further behind */
        bool scan = d < 0 && any;
        for (int i = 0; scan && i < m->n; i++)
            if (i != joiner && m->state[i] == REPL_M_SYNCED && repl_members_covers(m, i, need) &&
                (d < 0 || m->cached[i] > m->cached[d]))
                d = i;
        if (d >= 0) return d;
    }
    d = choose_named(m, donors, joiner, -1, &any);
    if (d >= 0 || !any) return d;
    for (int i = 0; i < m->n; i++)
        if (i != joiner && m->state[i] == REPL_M_SYNCED) return i;
    return -1;
}

bool repl_members_on_last(struct repl_members *m, const tr_uuid *node, int64_t seqno,
                          int64_t *safe)
{
    int64_t min = INT64_MAX;
    int counted = 0, missing = 0;
    for (int i = 0; i < m->n; i++) {
        if (m->state[i] == REPL_M_ARBITRATOR) continue;
        counted++;
        if (tr_uuid_compare(&m->info[i].id, node) == 0 && seqno > m->last[i]) m->last[i] = seqno;
        if (m->last[i] < 0) missing++;
        if (m->last[i] < min) min = m->last[i];
    }
    bool all = counted > 0 && missing == 0;
    /* every member has committed up to min and has nothing in flight below it: nothing at
     * or below it can conflict again */
    if (!all || min <= m->safe) return false;
    m->safe = min;
    *safe = min;
    return true;
}

const char *repl_mstate_name(int s)
{
    switch (s) {
    case REPL_M_PRIM: return "PRIMARY";
    case REPL_M_JOINER: return "JOINER";
    case REPL_M_DONOR: return "DONOR";
    case REPL_M_JOINED: return "JOINED";
    case REPL_M_SYNCED: return "SYNCED";
    case REPL_M_ARBITRATOR: return "ARBITRATOR";
    }
    return "?";
}
