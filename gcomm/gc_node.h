/* gcomm/gc_node: the handle the replicator uses: a gcomm node running over TCP on its own
 * epoll thread, yielding views and messages in one ordered stream. All calls are thread-safe. */
#ifndef GC_NODE_H
#define GC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tr_uuid.h"
#include "gcomm/gc_config.h"
#include "gcomm/gc_core.h"
#include "gcomm/gc_view.h"

typedef struct gc_node gc_node;

/* GC_EV_FAILED: this node could not keep an ordered event (out of memory); it follows the
 * events before it, and the stream is no longer complete: the application must stop. */
enum gc_event_kind { GC_EV_VIEW = 1, GC_EV_MSG, GC_EV_FAILED };

/* One item of the ordered stream; free with gc_event_free. */
struct gc_event {
    enum gc_event_kind kind;
    /* GC_EV_VIEW: epoch 0 = local view (cut off: only us; after leaving: no members) */
    gc_view view;
    int my_index;
    bool continuous; /* primary view reached from the previous primary one without missing messages */
    /* GC_EV_MSG: delivered only in a primary view */
    tr_uuid sender;
    int64_t seqno;   /* global, consecutive within history; a primary view: the seqno its stream
                      * continues after (gc_delivery.close) */
    tr_uuid history; /* changes only when the group re-forms after losing every copy of its log */
    uint8_t *data;
    size_t len;
};

/* Copies cfg; reads <data_dir>/gvwstate.dat if present; loads the TLS files when cfg->tls is
 * enabled. NULL on bad configuration (logged, naming the option or file). */
gc_node *gc_node_create(const struct gc_config *cfg);
/* Binds the listen address and starts the I/O thread. With cfg->wait_prim, waits until the
 * node is in a primary view or wait_prim_timeout passes (-ETIMEDOUT, node stopped). */
int gc_node_start(gc_node *n);
/* Orders buf for delivery to every member (copied). 0, -ENOTCONN outside a primary view,
 * -EMSGSIZE above 2 GiB, -ESHUTDOWN after leave/stop. Held back while flow control is on. */
int gc_node_broadcast(gc_node *n, const void *buf, size_t len);
/* Waits until at most max of this node's own messages are still to be delivered: a sender of
 * many messages in a row (an action in pieces) keeps a window in flight instead of queueing
 * them all under the node's lock, as Galera's gcs sends fragments through gcomm's send window.
 * Messages a view drops count as done. 0, -ETIMEDOUT, or -ESHUTDOWN once the node stops or
 * has left. */
int gc_node_wait_sent(gc_node *n, uint64_t max, int64_t timeout_ns);
/* Next event of the ordered stream; waits up to timeout_ns (<0: forever). 0 and *ev set,
 * -ETIMEDOUT, or -ESHUTDOWN once the node stopped and the stream is drained. */
int gc_node_recv(gc_node *n, struct gc_event **ev, int64_t timeout_ns);
void gc_event_free(struct gc_event *ev);
/* Flow control on behalf of replication: stop/resume sending group-wide. */
void gc_node_fc(gc_node *n, bool stop);
/* Announces a graceful leave and waits (up to 5 s) until the group has installed a view without us. */
int gc_node_leave(gc_node *n);
/* Run-time settings: pc.weight, pc.ignore_sb, pc.ignore_quorum, pc.bootstrap, gmcast.isolate. */
void gc_node_set_weight(gc_node *n, uint8_t weight);
void gc_node_set_ignore(gc_node *n, bool ignore_sb, bool ignore_quorum);
void gc_node_bootstrap(gc_node *n);
void gc_node_set_isolate(gc_node *n, bool on);
/* evs.evict=UUID (u) or evs.evict with an empty value (u NULL: clears the list group-wide),
 * evs.auto_evict; the delayed list and the evict list for status (docs/design/gcomm.md
 * section 14). */
void gc_node_evict(gc_node *n, const tr_uuid *u);
void gc_node_set_auto_evict(gc_node *n, uint32_t count);
int gc_node_delayed(gc_node *n, struct gc_delayed_entry *out, int max);
void gc_node_evict_list(gc_node *n, gc_evict_list *out);
bool gc_node_evicted(gc_node *n);
/* socket.ssl_reload: links made from now on use the certificate, key and CA files as they are
 * now. 0, or -1 with err (TLS not configured, or a file that does not load: the old ones stay). */
int gc_node_tls_reload(gc_node *n, char *err, size_t errlen);
bool gc_node_is_primary(gc_node *n);
void gc_node_stats(gc_node *n, struct gc_stats *st);
void gc_node_stats_flush(gc_node *n); /* gc_core_stats_flush */
const char *gc_node_listen_addr(gc_node *n); /* actual host:port after start (port 0 resolved) */
tr_uuid gc_node_uuid(gc_node *n);
/* The hosts member uuid's connections come from as this node sees them (text as
 * tr_sockaddr_text spells it, no port): the far end of its link, then the host it announced
 * it listens on unless that is a wildcard. The count (at most max), -1: not a peer here. */
#define GC_HOST_MAX 64
int gc_node_peer_hosts(gc_node *n, const tr_uuid *uuid, char (*hosts)[GC_HOST_MAX], int max);
/* Stops the thread and closes every socket (no leave message: peers see a crash). */
void gc_node_stop(gc_node *n);
void gc_node_destroy(gc_node *n);
/* The TCP_NOTSENT_LOWAT a link gets from its congestion window (segments), segment size and
 * smoothed round trip (us; 0: not measured): about 20 ms of its sending, 16-256 KiB, so that a
 * heartbeat never waits long behind bulk data in the kernel (docs/design/gcomm.md section 9). */
int gc_tcp_lowat(uint32_t cwnd, uint32_t mss, uint32_t rtt_us);

#endif
