/* tools/trireme-gcomm-node/node_opts: Galera-style option strings (key=value) to gc_config.
 * Durations accept PT<n>S / PT<n>.<m>S (ISO 8601) or plain seconds. */
#ifndef NODE_OPTS_H
#define NODE_OPTS_H

#include "gcomm/gc_config.h"

/* Applies one "key=value"; returns 0 or -1 (unknown key or bad value). */
int node_opt_apply(struct gc_config *cfg, const char *kv);

#endif
