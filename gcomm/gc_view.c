/* gcomm/gc_view: view comparison, encoding and the weighted quorum arithmetic.
 * Members are kept sorted so two nodes encode the same view to the same bytes. */
#include "gcomm/gc_view.h"

#include <stdlib.h>
#include <string.h>

int gc_view_id_cmp(const gc_view_id *a, const gc_view_id *b)
{
    if (a->epoch != b->epoch) return a->epoch < b->epoch ? -1 : 1;
    int c = tr_uuid_compare(&a->leader, &b->leader);
    if (c) return c;
    return a->leader_inc == b->leader_inc ? 0 : (a->leader_inc < b->leader_inc ? -1 : 1);
}

int gc_view_find(const gc_view *v, const tr_uuid *uuid)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (!tr_uuid_compare(&v->m[i].uuid, uuid)) return (int)i;
    return -1;
}

uint32_t gc_view_weight(const gc_view *v)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < v->n; i++) w += v->m[i].weight;
    return w;
}

static int member_cmp(const void *a, const void *b)
{
    return tr_uuid_compare(&((const gc_member *)a)->uuid, &((const gc_member *)b)->uuid);
}

void gc_view_sort(gc_view *v) { qsort(v->m, v->n, sizeof v->m[0], member_cmp); }

bool gc_view_same_members(const gc_view *a, const gc_view *b)
{
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++) {
        const gc_member *x = &a->m[i], *y = &b->m[i];
        if (tr_uuid_compare(&x->uuid, &y->uuid) || x->incarnation != y->incarnation ||
            x->weight != y->weight || strcmp(x->name, y->name) || strcmp(x->incoming, y->incoming))
            return false;
    }
    return true;
}

bool gc_view_equal(const gc_view *a, const gc_view *b)
{
    if (gc_view_id_cmp(&a->id, &b->id) || a->primary != b->primary) return false;
    return !tr_uuid_compare(&a->history, &b->history) && gc_view_same_members(a, b);
}

void gc_view_encode(gc_wbuf *w, const gc_view *v)
{
    gc_w_u64(w, v->id.epoch);
    gc_w_uuid(w, &v->id.leader);
    gc_w_u64(w, v->id.leader_inc);
    gc_w_uuid(w, &v->history);
    gc_w_u8(w, v->primary);
    gc_w_u8(w, (uint8_t)v->n);
    for (uint32_t i = 0; i < v->n; i++) {
        gc_w_uuid(w, &v->m[i].uuid);
        gc_w_u64(w, v->m[i].incarnation);
        gc_w_str(w, v->m[i].name);
        gc_w_str(w, v->m[i].incoming);
        gc_w_u8(w, v->m[i].weight);
    }
}

int gc_view_decode(gc_rbuf *r, gc_view *v)
{
    memset(v, 0, sizeof *v);
    v->id.epoch = gc_r_count(r);
    gc_r_uuid(r, &v->id.leader);
    v->id.leader_inc = gc_r_u64(r);
    gc_r_uuid(r, &v->history);
    uint8_t prim = gc_r_u8(r);
    uint8_t n = gc_r_u8(r);
    if (prim > 1 || n > GC_MAX_MEMBERS) r->err = true;
    if (r->err) return -1;
    v->primary = prim;
    v->n = n;
    for (uint32_t i = 0; i < n && !r->err; i++) {
        gc_r_uuid(r, &v->m[i].uuid);
        v->m[i].incarnation = gc_r_u64(r);
        gc_r_str(r, v->m[i].name, sizeof v->m[i].name);
        gc_r_str(r, v->m[i].incoming, sizeof v->m[i].incoming);
        v->m[i].weight = gc_r_u8(r);
        if (i > 0 && tr_uuid_compare(&v->m[i - 1].uuid, &v->m[i].uuid) >= 0) r->err = true;
    }
    return r->err ? -1 : 0;
}

enum gc_quorum gc_quorum_eval(uint64_t present, uint64_t left, uint64_t total)
{
    uint64_t lhs = 2 * present + left;
    if (lhs > total) return GC_Q_YES;
    if (lhs == total && total > 0) return GC_Q_SPLIT;
    return GC_Q_NO;
}
