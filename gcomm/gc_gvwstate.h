/* gcomm/gc_gvwstate: the gvwstate.dat file: our UUID and the last primary view, its format and
 * its durable write. It is the only state gcomm persists; pc.recovery re-forms the group from it. */
#ifndef GC_GVWSTATE_H
#define GC_GVWSTATE_H

#include <stddef.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_view.h"
#include "gcomm/gc_wire.h"

void gc_gvwstate_encode(gc_wbuf *w, const tr_uuid *me, const gc_view *prim);
/* Returns 0 and fills me/prim (prim->n may be 0 if the file has no view), or -1. */
int gc_gvwstate_decode(const char *buf, size_t len, tr_uuid *me, gc_view *prim);

/* Replaces the file at path with buf (len 0: removes it) as data is written (tr_file_replace:
 * a temporary file of mode 0640 or tighter written whole and fsync'ed, renamed over path, then
 * the directory fsync'ed). A failure leaves the previous file as it was (and no temporary
 * file). 0 or -errno, logged. */
int gc_gvwstate_save(const char *path, const uint8_t *buf, size_t len);

#endif
