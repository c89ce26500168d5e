/* gcomm/gc_gvwstate: text encoding of gvwstate.dat (line-oriented, like Galera's) and its durable
 * write. The parser accepts only what the encoder writes, bounded by the buffer length. */
#include "gcomm/gc_gvwstate.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_file.h"
#include "common/tr_log.h"

void gc_gvwstate_encode(gc_wbuf *w, const tr_uuid *me, const gc_view *prim)
{
    char line[256], u[TR_UUID_STR_LEN + 1], l[TR_UUID_STR_LEN + 1];
    tr_uuid_print(me, u);
    int n = snprintf(line, sizeof line, "# trireme gcomm view state\nmy_uuid: %s\n", u);
    gc_w_bytes(w, line, (size_t)n);
    if (!prim || prim->n == 0) return;
    tr_uuid_print(&prim->id.leader, l);
    tr_uuid_print(&prim->history, u);
    n = snprintf(line, sizeof line, "#vwbeg\nview_id: %" PRIu64 " %s %" PRIu64 "\nhistory: %s\n", prim->id.epoch, l,
                 prim->id.leader_inc, u);
    gc_w_bytes(w, line, (size_t)n);
    for (uint32_t i = 0; i < prim->n; i++) {
        tr_uuid_print(&prim->m[i].uuid, u);
        n = snprintf(line, sizeof line, "member: %s %u\n", u, prim->m[i].weight);
        gc_w_bytes(w, line, (size_t)n);
    }
    gc_w_bytes(w, "#vwend\n", 7);
}

int gc_gvwstate_decode(const char *buf, size_t len, tr_uuid *me, gc_view *prim)
{
    memset(prim, 0, sizeof *prim);
    bool have_me = false, in_view = false, have_id = false, done = false;
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t ll = nl ? (size_t)(nl - (buf + off)) : len - off;
        char line[256];
        if (ll >= sizeof line) return -1;
        memcpy(line, buf + off, ll);
        line[ll] = 0;
        off += ll + (nl ? 1 : 0);
        if (line[0] == 0 || (line[0] == '#' && strcmp(line, "#vwbeg") && strcmp(line, "#vwend"))) continue;
        if (!strncmp(line, "my_uuid: ", 9)) {
            if (tr_uuid_parse(line + 9, strlen(line + 9), me)) return -1;
            have_me = true;
        } else if (!strcmp(line, "#vwbeg")) {
            if (in_view || done) return -1;
            in_view = true;
        } else if (!strcmp(line, "#vwend")) {
            if (!in_view || !have_id) return -1;
            in_view = false;
            done = true;
        } else if (in_view && !strncmp(line, "view_id: ", 9)) {
            char *end;
            unsigned long long e = strtoull(line + 9, &end, 10);
            if (*end != ' ' || strlen(end + 1) < TR_UUID_STR_LEN + 2 ||
                tr_uuid_parse(end + 1, TR_UUID_STR_LEN, &prim->id.leader))
                return -1;
            char *end2;
            unsigned long long li = strtoull(end + 1 + TR_UUID_STR_LEN + 1, &end2, 10);
            if (*end2 || end[1 + TR_UUID_STR_LEN] != ' ' || e > GC_COUNT_MAX) return -1;
            prim->id.epoch = e;
            prim->id.leader_inc = li;
            have_id = true;
        } else if (in_view && !strncmp(line, "history: ", 9)) {
            if (tr_uuid_parse(line + 9, strlen(line + 9), &prim->history)) return -1;
        } else if (in_view && !strncmp(line, "member: ", 8)) {
            if (prim->n >= GC_MAX_MEMBERS || strlen(line + 8) < TR_UUID_STR_LEN + 2) return -1;
            gc_member *m = &prim->m[prim->n];
            if (tr_uuid_parse(line + 8, TR_UUID_STR_LEN, &m->uuid)) return -1;
            char *end;
            unsigned long wt = strtoul(line + 8 + TR_UUID_STR_LEN + 1, &end, 10);
            if (*end || wt > 255) return -1;
            m->weight = (uint8_t)wt;
            prim->n++;
        } else {
            return -1;
        }
    }
    if (!have_me || in_view) return -1;
    if (prim->n) {
        prim->primary = true;
        gc_view_sort(prim);
    }
    return 0;
}

int gc_gvwstate_save(const char *path, const uint8_t *buf, size_t len)
{
    char err[2 * PATH_MAX + 256];
    int rc = len ? tr_file_replace(path, buf, len, 0640, err, sizeof err) : tr_file_remove(path, err, sizeof err);
    if (rc) tr_warn("gcomm: %s", err);
    return rc;
}
