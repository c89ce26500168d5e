/* replicator/repl_grastate: the node's saved state, grastate.dat, in Galera's own text format,
 * so operators' tools and habits (cat, sed safe_to_bootstrap, galera_recovery) keep working. */
#ifndef REPL_GRASTATE_H
#define REPL_GRASTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"

#define REPL_GRASTATE_FILE "grastate.dat"
/* Galera's own file is under 256 bytes; anything near this cap is not a state file. */
#define REPL_GRASTATE_MAX_SIZE (64 * 1024)
/* trireme's own lines (Galera ignores keys it does not know): the last view in which this
 * node's group ordered, and its members' names (percent-escaped, comma-separated). */
#define REPL_GRASTATE_MEMBERS_MAX 3200
/* Room for the longest formatted file (36-char uuid, 20-char seqno, the members). */
#define REPL_GRASTATE_FORMAT_MAX (192 + REPL_GRASTATE_MEMBERS_MAX)

struct repl_grastate {
    tr_uuid uuid;           /* nil = no known cluster state */
    int64_t seqno;          /* TR_SEQNO_UNDEFINED (-1) = unknown, e.g. after a crash */
    bool safe_to_bootstrap; /* 1 only on the last node to leave the cluster cleanly */
    int64_t view;           /* trireme_view: 0 = none (the line is then not written) */
    char members[REPL_GRASTATE_MEMBERS_MAX]; /* trireme_members: names joined by ',' */
};

/* The state of a node that has never been in a cluster: nil uuid, seqno -1, safe_to_bootstrap 1. */
void repl_grastate_init_fresh(struct repl_grastate *st);

/* Parses the file's text. Pure and bounds-checked: buf need not be NUL-terminated.
 * Accepts what Galera writes (version 2.0 and 2.1, comments, blank lines, unknown keys, the
 * trailing blank padding Galera leaves when it overwrites in place, CRLF) and rejects anything
 * else. Returns 0, or -1 with err holding "line N: what is wrong" (err may be NULL). */
int repl_grastate_parse(const char *buf, size_t len, struct repl_grastate *out, char *err,
                        size_t errlen);

/* Writes the file's text exactly as Galera 4 does into buf (REPL_GRASTATE_FORMAT_MAX bytes
 * suffice). Returns the length without the NUL, or -1 if buf is too small or seqno < -1. */
int repl_grastate_format(const struct repl_grastate *st, char *buf, size_t buflen);

/* Reads dir/grastate.dat. Returns 0 when read; 1 when there is no file (a fresh node: *out is
 * set as by repl_grastate_init_fresh); -1 when the file or dir is unreadable or the file is
 * corrupt, with err naming the file, what is wrong and what the operator can do. */
int repl_grastate_read(const char *dir, struct repl_grastate *out, char *err, size_t errlen);

/* Replaces dir/grastate.dat atomically and durably (tr_file_replace): a temporary file of mode
 * 0640 or tighter, written whole, fsync'ed, renamed over the old one, then dir fsync'ed. A crash
 * or a failed step leaves either the old or the new file, never a mix or none.
 * Returns 0, or -1 with err naming the file and the failing step. */
int repl_grastate_write(const char *dir, const struct repl_grastate *st, char *err,
                        size_t errlen);

#endif
