/* replicator/repl_vrec: a primary view as the write-set store and IST keep it (its conf id and
 * members), so that a joiner hands its host the views it missed, in order, as Galera 4 does. */
#ifndef REPL_VREC_H
#define REPL_VREC_H

#include <stddef.h>
#include <stdint.h>

#include "replicator/repl_types.h"

/* Layout (little endian): "TRVW" | u8 version | i64 conf id | u16 members, then per member:
 * 16-byte uuid | u8 name length | name | u16 incoming length | incoming; then the CRC-32C of
 * everything before it. Names and addresses are stored without their NUL (and hold none). */
#define REPL_VREC_MAX_MEMBERS 256 /* above gcomm's 32: a bound for the reader, not a limit */

/* Bytes the record of v takes. */
size_t repl_vrec_size(const struct repl_view *v);
/* Writes the record of v into dst (repl_vrec_size(v) bytes). */
void repl_vrec_write(const struct repl_view *v, uint8_t *dst);
/* 0 when b..b+len is one whole, intact record (its members count in *members if not NULL),
 * -1 otherwise. */
int repl_vrec_check(const uint8_t *b, size_t len, int *members);
/* The record as a view (malloc'ed): primary, view = its conf id, state_id.seqno = seqno, my_idx
 * -1; the reader fills in the group, its own index, capabilities and protocol. NULL when the
 * record is not intact or out of memory. */
struct repl_view *repl_vrec_decode(const uint8_t *b, size_t len, int64_t seqno);

#endif
