/* replicator/repl_types.h: the value types the node exchanges with its host adapter.
 * Layouts mirror the wsrep ABI structs so wsrep/ passes them through by cast (asserted there). */
#ifndef REPL_TYPES_H
#define REPL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"

/* trireme's own replication protocol version (write-set format and ordering rules). */
#define REPL_PROTOCOL_VERSION 1

/* Results: numerically equal to wsrep_status_t. */
enum repl_status {
    REPL_OK = 0,
    REPL_WARNING,
    REPL_TRX_MISSING,
    REPL_TRX_FAIL,
    REPL_BF_ABORT,
    REPL_SIZE_EXCEEDED,
    REPL_CONN_FAIL,
    REPL_NODE_FAIL,
    REPL_FATAL,
    REPL_NOT_IMPLEMENTED,
    REPL_NOT_ALLOWED
};

/* Write-set flags: the same bits as WSREP_FLAG_*. */
#define REPL_F_TRX_END (1u << 0)
#define REPL_F_ROLLBACK (1u << 1)
#define REPL_F_ISOLATION (1u << 2)
#define REPL_F_PA_UNSAFE (1u << 3)
#define REPL_F_COMMUTATIVE (1u << 4)
#define REPL_F_NATIVE (1u << 5)
#define REPL_F_TRX_START (1u << 6)
#define REPL_F_TRX_PREPARE (1u << 7)
#define REPL_F_SNAPSHOT (1u << 8)
#define REPL_F_IMPLICIT_DEPS (1u << 9)

/* Key types: the same values as wsrep_key_type. */
enum repl_key_type { REPL_KEY_SHARED = 0, REPL_KEY_REFERENCE, REPL_KEY_UPDATE, REPL_KEY_EXCLUSIVE };

struct repl_buf {
    const void *ptr;
    size_t len;
};

/* Same layout as wsrep_trx_meta_t. */
struct repl_meta {
    tr_gtid gtid;
    struct {
        tr_uuid node;
        uint64_t trx;
        uint64_t conn;
    } stid;
    int64_t depends_on;
};

#define REPL_NAME_LEN 32
#define REPL_INCOMING_LEN 256

/* Same layout as wsrep_member_info_t. */
struct repl_member {
    tr_uuid id;
    char name[REPL_NAME_LEN];
    char incoming[REPL_INCOMING_LEN];
};

enum repl_view_status { REPL_VIEW_PRIMARY = 0, REPL_VIEW_NON_PRIMARY, REPL_VIEW_DISCONNECTED };

/* Same layout as wsrep_view_info_t: a header followed by memb_num members. */
struct repl_view {
    tr_gtid state_id;
    int64_t view;
    int status; /* enum repl_view_status */
    uint32_t capabilities;
    int my_idx;
    int memb_num;
    int proto_ver;
    struct repl_member members[1];
};

static inline size_t repl_view_size(int memb_num)
{
    return offsetof(struct repl_view, members) +
           (size_t)(memb_num > 0 ? memb_num : 1) * sizeof(struct repl_member);
}

/* Node states with Galera's numbering (wsrep_local_state) and comments. */
enum repl_state {
    REPL_ST_CLOSED = 0, /* initialized or connected, not in a primary component */
    REPL_ST_JOINING = 1,
    REPL_ST_DONOR = 2,
    REPL_ST_JOINED = 3,
    REPL_ST_SYNCED = 4,
    REPL_ST_DESTROYED = 5 /* reported as state 0, "Destroyed" */
};

#endif
