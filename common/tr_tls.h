/* common/tr_tls: TLS over OpenSSL 3 for any stream driver: a context built from Galera's
 * socket.ssl* options, non-blocking handshake/read/write for event loops, blocking helpers. */
#ifndef TR_TLS_H
#define TR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/tr_cfg.h"

#define TR_TLS_PATH_MAX 512
#define TR_TLS_ERR_MAX 512

/* What a context is built from; Galera's option names and rules (tr_tls_opts_from_cfg). */
struct tr_tls_opts {
    bool enabled;                       /* socket.ssl, implied by socket.ssl_key or socket.ssl_cert */
    bool dynamic;                       /* socket.dynamic: plaintext peers are let in too */
    char key[TR_TLS_PATH_MAX];          /* socket.ssl_key: PEM private key */
    char cert[TR_TLS_PATH_MAX];         /* socket.ssl_cert: PEM, leaf first, then intermediates */
    char ca[TR_TLS_PATH_MAX];           /* socket.ssl_ca: PEM file or hashed directory; default cert */
    char cipher[256];                   /* socket.ssl_cipher: "" = OpenSSL's defaults */
    char password_file[TR_TLS_PATH_MAX]; /* socket.ssl_password_file: first line unlocks the key */
};

/* Reads the socket.* keys of an option store as Galera does: TLS is on when socket.ssl says so,
 * or when it is unset and socket.ssl_key or socket.ssl_cert is set; on, it needs both; the CA
 * defaults to the certificate file. 0, or -1 with err naming the option. */
int tr_tls_opts_from_cfg(const tr_cfg *cfg, struct tr_tls_opts *o, char *err, size_t errlen);

/* ---- context: certificates, key and CA, shared by the connections made from it ---- */

typedef struct tr_tls_ctx tr_tls_ctx;

/* Loads the files (fail closed: NULL, with err naming the file and the problem, when the key is
 * unreadable, its password wrong or missing, key and certificate do not match, or the CA cannot
 * be loaded). Peers are always verified against the CA in both directions (a client needs a
 * certificate too), TLS 1.2 or later only. o->enabled must be true. */
tr_tls_ctx *tr_tls_ctx_new(const struct tr_tls_opts *o, char *err, size_t errlen);
/* Reads the same files again (socket.ssl_reload): connections made from now on use them, those
 * up keep theirs. On failure the old files stay in use; -1 with err. Thread-safe. */
int tr_tls_ctx_reload(tr_tls_ctx *ctx, char *err, size_t errlen);
/* One line for the log: our certificate's subject, issuer and expiry. */
void tr_tls_ctx_describe(tr_tls_ctx *ctx, char *buf, size_t len);
/* Connections made from ctx stay usable after this. */
void tr_tls_ctx_free(tr_tls_ctx *ctx);

/* ---- one connection ---- */

typedef struct tr_tls tr_tls;

enum tr_tls_role { TR_TLS_CLIENT, TR_TLS_SERVER };

enum tr_tls_rc {
    TR_TLS_OK = 0,
    TR_TLS_WANT_READ,  /* call again once fd is readable */
    TR_TLS_WANT_WRITE, /* call again once fd is writable */
    TR_TLS_CLOSED,     /* the peer closed (cleanly or not); tr_tls_why says how */
    TR_TLS_FAIL,       /* refused or broken; tr_tls_why says why */
};

/* A connection over a connected socket (blocking or not; the event-loop calls below never wait
 * on a non-blocking one). peer: its address, for messages. Does not own fd. NULL on OOM. */
tr_tls *tr_tls_new(tr_tls_ctx *ctx, int fd, enum tr_tls_role role, const char *peer);
/* Sends close_notify if it can without waiting, and frees; does not close fd. */
void tr_tls_free(tr_tls *t);
/* Frees without a close_notify: for a connection given up on, whose peer must not take the end
 * for a clean one. Does not close fd. */
void tr_tls_drop(tr_tls *t);

/* Non-blocking calls for an event loop. After WANT_*, call again when fd is ready.
 * handshake: OK once done (the peer's certificate chain verified against our CA). With TLS 1.3
 * a client learns that the server refused its certificate only at its first read after this. */
enum tr_tls_rc tr_tls_handshake(tr_tls *t);
/* Reads up to cap bytes; OK with *got > 0. */
enum tr_tls_rc tr_tls_read(tr_tls *t, void *buf, size_t cap, size_t *got);
/* Writes up to len bytes (at most one TLS record's worth, 16 KB, per call; batching: as many as
 * fit the batch); OK with *put > 0. After WANT_*, the next call must pass the same first bytes
 * again, at least as many as the failed call passed or 16 KB, whichever is less; the buffer may
 * have moved. */
enum tr_tls_rc tr_tls_write(tr_tls *t, const void *buf, size_t len, size_t *put);
/* Batching, for an event loop that writes a queue of small frames: from now on (after the
 * handshake) tr_tls_write encrypts into a buffer of the connection, 16 KB records, and sends
 * it only when 64 KB have gathered; tr_tls_flush sends the rest, so a queue leaves in one
 * send per 64 KB instead of one per record. The caller must flush after its writes, and after a
 * read (which may answer the peer) while tr_tls_unsent says bytes wait; with batching on, a
 * write returns WANT_WRITE also when a full batch waits for the socket. */
void tr_tls_batch(tr_tls *t);
/* OK once everything written has gone to the socket, WANT_WRITE if the socket is full. */
enum tr_tls_rc tr_tls_flush(tr_tls *t);
/* Whether written bytes wait in the batch for the socket (EPOLLOUT wanted). */
bool tr_tls_unsent(const tr_tls *t);
/* After a read that returned OK: whether the next read would only wait for the socket, so
 * an event loop may go back to it (nothing is buffered inside, and the last socket read found
 * the socket empty). After WANT_READ that is so as well. If not, read again first: epoll does
 * not know about bytes OpenSSL holds. */
bool tr_tls_drained(const tr_tls *t);
/* Why the last call failed or was closed: one sentence naming the peer, and for a refused
 * certificate its subject and OpenSSL's verify reason. "" if nothing failed. */
const char *tr_tls_why(const tr_tls *t);
/* What kind of failure tr_tls_why describes (socket.dynamic falls back only on NOT_TLS). */
enum tr_tls_fail {
    TR_TLS_F_NONE = 0,
    TR_TLS_F_NOT_TLS, /* the peer answered in plaintext, or hung up before any TLS answer */
    TR_TLS_F_CERT,    /* a certificate was refused, by us or by the peer */
    TR_TLS_F_OTHER,
};
enum tr_tls_fail tr_tls_failure(const tr_tls *t);
/* Whether the peer ended the session with a close_notify (a read returned CLOSED for it), not
 * by only closing or resetting its socket. */
bool tr_tls_closed_cleanly(const tr_tls *t);
/* After the handshake: the peer certificate's subject, the protocol and the cipher. */
void tr_tls_describe(const tr_tls *t, char *buf, size_t len);

/* Blocking helpers for simple stream users (IST), on a blocking or non-blocking fd; deadline in
 * CLOCK_MONOTONIC nanoseconds. 0, -ETIMEDOUT, or -EPROTO / -ECONNRESET with tr_tls_why set.
 * read_full reads exactly len bytes (-ECONNRESET if the peer closes first). */
int tr_tls_handshake_until(tr_tls *t, uint64_t deadline_ns);
int tr_tls_read_full(tr_tls *t, void *buf, size_t len, uint64_t deadline_ns);
int tr_tls_write_all(tr_tls *t, const void *buf, size_t len, uint64_t deadline_ns);

/* socket.dynamic: whether the first bytes a client sent open a TLS handshake (a handshake
 * record header of TLS 1.0 to 1.3) rather than plaintext; needs n >= 3. */
bool tr_tls_starts_handshake(const uint8_t *first, size_t n);

#endif
