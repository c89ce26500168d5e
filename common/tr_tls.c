/* common/tr_tls: OpenSSL contexts from Galera's socket.ssl* options, connections driven by an
 * event loop or by deadline helpers, and every failure turned into a sentence that says why. */
#include "common/tr_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/tr_log.h"

/* OpenSSL's read buffer (read-ahead): one recv takes up to this much, several 16 KB records */
#define READ_BUF (64u * 1024)
/* Batching: records gathered before tr_tls_write sends them itself (a long queue leaves in sends
 * of this size); past it, with the socket full, it takes no more */
#define BATCH (64u * 1024)

struct tr_tls_ctx {
    struct tr_tls_opts o;
    pthread_mutex_t mu; /* cur, swapped by reload */
    SSL_CTX *cur;
};

struct tr_tls {
    SSL *ssl;
    int fd;
    bool handshaken;
    char peer[128];
    /* the first failure the verifier reported: which certificate and why */
    int verr, vdepth;
    char vleaf[256], vcert[256];
    char why[TR_TLS_ERR_MAX];
    enum tr_tls_fail fail;
    bool rshort; /* the last socket read got less than it asked for: the socket was empty then */
    /* tr_tls_batch: records gather in ob[ooff, olen) and leave by tr_tls_flush, one send for
     * many records where the socket BIO would make one per record */
    bool batch;
    uint8_t *ob;
    size_t ooff, olen, ocap;
};

/* ---------- small helpers ---------- */

/* t->why; a long subject is cut, never the reason (vsnprintf: cutting is intended here). */
__attribute__((format(printf, 2, 3))) static void say(tr_tls *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, sizeof t->why, fmt, ap);
    va_end(ap);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* OpenSSL's last queued error as text, and the queue emptied (it is per thread, and a stale
 * entry would be blamed on the next call). */
static const char *ssl_err(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) snprintf(buf, len, "no detail from OpenSSL");
    else ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* A certificate name as RFC 2253 text; peers choose these bytes, so anything that is not
 * printable ASCII becomes '?' before it reaches a log line. */
static void name_text(const X509_NAME *nm, char *buf, size_t len)
{
    if (!len) return;
    buf[0] = 0;
    if (!nm) { snprintf(buf, len, "(none)"); return; }
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return;
    X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    size_t k = n > 0 ? (size_t)n : 0;
    if (k >= len) k = len - 1;
    for (size_t i = 0; i < k; i++) buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    buf[k] = 0;
    BIO_free(b);
}

static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
    buf[0] = 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return;
    ASN1_TIME_print(b, t);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    snprintf(buf, len, "%.*s", (int)(n > 0 ? n : 0), p);
    BIO_free(b);
}

/* ---------- options ---------- */

int tr_tls_opts_from_cfg(const tr_cfg *cfg, struct tr_tls_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    struct { const char *key; char *dst; size_t cap; } s[] = {
        {"socket.ssl_key", o->key, sizeof o->key},
        {"socket.ssl_cert", o->cert, sizeof o->cert},
        {"socket.ssl_ca", o->ca, sizeof o->ca},
        {"socket.ssl_cipher", o->cipher, sizeof o->cipher},
        {"socket.ssl_password_file", o->password_file, sizeof o->password_file},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        int n = tr_cfg_get_string(cfg, s[i].key, s[i].dst, s[i].cap);
        if (n < 0) s[i].dst[0] = 0;
        else if ((size_t)n >= s[i].cap) {
            snprintf(err, errlen, "%s is too long (%d bytes, at most %zu)", s[i].key, n, s[i].cap - 1);
            return -1;
        }
    }
    bool v;
    o->enabled = o->key[0] || o->cert[0]; /* Galera: a key or a certificate turns TLS on */
    if (tr_cfg_get_bool(cfg, "socket.ssl", &v) == 0) o->enabled = v; /* ...unless said otherwise */
    if (tr_cfg_get_bool(cfg, "socket.dynamic", &v) == 0) o->dynamic = v;
    if (!o->enabled) return 0;
    if (!o->key[0] || !o->cert[0]) { /* tr_tls_ctx_new says it too; here it fails start-up first */
        snprintf(err, errlen, "TLS is on (socket.ssl) but %s is not set: both socket.ssl_key and "
                 "socket.ssl_cert are needed", o->key[0] ? "socket.ssl_cert" : "socket.ssl_key");
        return -1;
    }
    if (!o->ca[0]) memcpy(o->ca, o->cert, sizeof o->ca); /* Galera's default */
    return 0;
}

/* ---------- context ---------- */

struct pw {
    bool have, asked;
    char buf[1024];
};

/* Never prompts on a terminal (OpenSSL's default would): no password file, no password. */
static int pw_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    struct pw *p = u;
    if (!p) return -1;
    p->asked = true;
    if (!p->have) return -1;
    size_t n = strlen(p->buf);
    if (n > (size_t)size) return -1;
    memcpy(buf, p->buf, n);
    return (int)n;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (ok) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    tr_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
    if (t && !t->verr) {
        t->verr = X509_STORE_CTX_get_error(x);
        t->vdepth = X509_STORE_CTX_get_error_depth(x);
        X509 *leaf = X509_STORE_CTX_get0_cert(x), *cur = X509_STORE_CTX_get_current_cert(x);
        name_text(leaf ? X509_get_subject_name(leaf) : NULL, t->vleaf, sizeof t->vleaf);
        name_text(cur ? X509_get_subject_name(cur) : NULL, t->vcert, sizeof t->vcert);
    }
    return ok;
}

static int file_check(const char *what, const char *path, bool dir_ok, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st)) {
        snprintf(err, errlen, "%s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode) && !dir_ok) {
        snprintf(err, errlen, "%s '%s' is a directory, not a PEM file", what, path);
        return -1;
    }
    if (access(path, R_OK)) {
        snprintf(err, errlen, "%s '%s': cannot read it: %s", what, path, strerror(errno));
        return -1;
    }
    return 0;
}

static int read_password(const char *path, struct pw *p, char *err, size_t errlen)
{
    if (file_check("socket.ssl_password_file", path, false, err, errlen)) return -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "socket.ssl_password_file '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(p->buf, sizeof p->buf, f)) p->buf[0] = 0; /* empty file: an empty password */
    fclose(f);
    p->buf[strcspn(p->buf, "\r\n")] = 0; /* the first line, as Galera reads it */
    p->have = true;
    return 0;
}

/* socket.ssl_cipher: TLS 1.3 suite names (TLS_...) and TLS 1.2 cipher strings may be mixed; only
 * 1.3 names means TLS 1.3 only. */
static int set_ciphers(SSL_CTX *c, const char *list, char *err, size_t errlen)
{
    char v12[256] = "", v13[256] = "", tmp[256], e[256];
    snprintf(tmp, sizeof tmp, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ":, ", &save); tok; tok = strtok_r(NULL, ":, ", &save)) {
        char *dst = strncmp(tok, "TLS_", 4) ? v12 : v13;
        size_t n = strlen(dst);
        snprintf(dst + n, sizeof v12 - n, "%s%s", n ? ":" : "", tok);
    }
    if (v12[0] && SSL_CTX_set_cipher_list(c, v12) != 1) {
        snprintf(err, errlen, "socket.ssl_cipher '%s': OpenSSL knows no usable cipher in '%s': %s", list, v12,
                 ssl_err(e, sizeof e));
        return -1;
    }
    if (v13[0] && SSL_CTX_set_ciphersuites(c, v13) != 1) {
        snprintf(err, errlen, "socket.ssl_cipher '%s': OpenSSL knows no usable TLS 1.3 suite in '%s': %s", list,
                 v13, ssl_err(e, sizeof e));
        return -1;
    }
    if (v13[0] && !v12[0]) SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    return 0;
}

/* What peers will think of our own certificate: said at start-up and at every reload, so an
 * expired or foreign certificate is found in this node's log, not only in its peers'. At a
 * reload a certificate from another CA is a note, not a warning: a CA rotation installs it
 * before the peers trust its CA, and MariaDB's galera_ssl_reload does the same (Galera 4
 * says nothing there). */
static void check_own(SSL_CTX *c, const struct tr_tls_opts *o, bool reload)
{
    X509 *leaf = SSL_CTX_get0_certificate(c);
    if (!leaf) return;
    char subj[256], e[256];
    name_text(X509_get_subject_name(leaf), subj, sizeof subj);
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
        tr_warn("TLS: our certificate '%s' in socket.ssl_cert '%s' has expired: peers will refuse it", subj, o->cert);
    else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        tr_warn("TLS: our certificate '%s' in socket.ssl_cert '%s' is not valid yet: peers will refuse it", subj,
                o->cert);
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(c, &chain);
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    if (!x) return;
    if (X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(c), leaf, chain) == 1 && X509_verify_cert(x) != 1) {
        int v = X509_STORE_CTX_get_error(x);
        if (v != X509_V_ERR_CERT_HAS_EXPIRED && v != X509_V_ERR_CERT_NOT_YET_VALID)
            tr_log(reload ? TR_LOG_INFO : TR_LOG_WARN,
                   "TLS: our certificate '%s' does not verify against socket.ssl_ca '%s' (%s): peers that use "
                   "the same CA will refuse it", subj, o->ca, X509_verify_cert_error_string(v));
    }
    X509_STORE_CTX_free(x);
    ssl_err(e, sizeof e);
}

static SSL_CTX *build(const struct tr_tls_opts *o, bool reload, char *err, size_t errlen)
{
    char e[256];
    ERR_clear_error();
    if (file_check("socket.ssl_cert", o->cert, false, err, errlen) ||
        file_check("socket.ssl_key", o->key, false, err, errlen) ||
        file_check("socket.ssl_ca", o->ca, true, err, errlen))
        return NULL;
    struct pw *pw = calloc(1, sizeof *pw);
    SSL_CTX *c = SSL_CTX_new(TLS_method());
    if (!c || !pw) {
        snprintf(err, errlen, "cannot create a TLS context: %s", ssl_err(e, sizeof e));
        goto fail;
    }
    if (o->password_file[0] && read_password(o->password_file, pw, err, errlen)) goto fail;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* partial writes: an event loop writes what the socket takes; a moving buffer: what is left
     * of a frame is retried from the driver's queue, which may have been reallocated */
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* read what the socket holds in one recv, not a record header then its body (two syscalls
     * per record): every reader tries SSL first and waits on the socket only after WANT_READ,
     * and gc_tcp asks tr_tls_pending (SSL_has_pending) before it leaves buffered records */
    SSL_CTX_set_read_ahead(c, 1);
    /* ...and take several records per recv, as a plaintext reader takes several frames */
    SSL_CTX_set_default_read_buffer_len(c, READ_BUF);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, 0); /* links live long: no session resumption, no tickets to send */
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_default_passwd_cb(c, pw_cb);
    SSL_CTX_set_default_passwd_cb_userdata(c, pw);
    if (SSL_CTX_use_certificate_chain_file(c, o->cert) != 1) {
        snprintf(err, errlen, "socket.ssl_cert '%s': no usable certificate in it (PEM, the node's own first): %s",
                 o->cert, ssl_err(e, sizeof e));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, o->key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(c) != 1) {
        unsigned long code = ERR_peek_last_error();
        ssl_err(e, sizeof e);
        if (pw->asked && !pw->have)
            snprintf(err, errlen, "socket.ssl_key '%s' is encrypted and socket.ssl_password_file is not set", o->key);
        else if (pw->asked)
            snprintf(err, errlen, "socket.ssl_key '%s': the password in socket.ssl_password_file '%s' does not "
                     "decrypt it", o->key, o->password_file);
        else if ((ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) ||
                 SSL_CTX_get0_privatekey(c))
            snprintf(err, errlen, "socket.ssl_key '%s' is not the key of the certificate in socket.ssl_cert '%s'",
                     o->key, o->cert);
        else
            snprintf(err, errlen, "socket.ssl_key '%s': no usable private key in it (PEM expected): %s", o->key, e);
        goto fail;
    }
    struct stat st;
    bool dir = stat(o->ca, &st) == 0 && S_ISDIR(st.st_mode);
    if (SSL_CTX_load_verify_locations(c, dir ? NULL : o->ca, dir ? o->ca : NULL) != 1) {
        snprintf(err, errlen, "socket.ssl_ca '%s': no CA certificate could be loaded from it: %s", o->ca,
                 ssl_err(e, sizeof e));
        goto fail;
    }
    if (o->cipher[0] && set_ciphers(c, o->cipher, err, errlen)) goto fail;
    SSL_CTX_set_default_passwd_cb_userdata(c, NULL); /* pw is freed below; nothing asks again */
    OPENSSL_cleanse(pw->buf, sizeof pw->buf);
    free(pw);
    check_own(c, o, reload);
    return c;
fail:
    if (pw) OPENSSL_cleanse(pw->buf, sizeof pw->buf);
    free(pw);
    SSL_CTX_free(c);
    ERR_clear_error();
    return NULL;
}

tr_tls_ctx *tr_tls_ctx_new(const struct tr_tls_opts *o, char *err, size_t errlen)
{
    if (!o->enabled) {
        snprintf(err, errlen, "TLS is not configured");
        return NULL;
    }
    if (!o->key[0] || !o->cert[0]) {
        snprintf(err, errlen, "TLS is on (socket.ssl) but %s is not set: both socket.ssl_key and "
                 "socket.ssl_cert are needed", o->key[0] ? "socket.ssl_cert" : "socket.ssl_key");
        return NULL;
    }
    tr_tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->o = *o;
    if (!ctx->o.ca[0]) memcpy(ctx->o.ca, o->cert, sizeof ctx->o.ca); /* Galera's default */
    if (!(ctx->cur = build(o, false, err, errlen))) {
        free(ctx);
        return NULL;
    }
    pthread_mutex_init(&ctx->mu, NULL);
    return ctx;
}

int tr_tls_ctx_reload(tr_tls_ctx *ctx, char *err, size_t errlen)
{
    SSL_CTX *c = build(&ctx->o, true, err, errlen);
    if (!c) return -1;
    pthread_mutex_lock(&ctx->mu);
    SSL_CTX *old = ctx->cur;
    ctx->cur = c;
    pthread_mutex_unlock(&ctx->mu);
    SSL_CTX_free(old); /* connections made from it hold their own reference */
    return 0;
}

void tr_tls_ctx_describe(tr_tls_ctx *ctx, char *buf, size_t len)
{
    char subj[256], iss[256], until[64];
    pthread_mutex_lock(&ctx->mu);
    X509 *leaf = SSL_CTX_get0_certificate(ctx->cur);
    name_text(leaf ? X509_get_subject_name(leaf) : NULL, subj, sizeof subj);
    name_text(leaf ? X509_get_issuer_name(leaf) : NULL, iss, sizeof iss);
    if (leaf) time_text(X509_get0_notAfter(leaf), until, sizeof until);
    else until[0] = 0;
    pthread_mutex_unlock(&ctx->mu);
    snprintf(buf, len, "certificate '%s' issued by '%s', valid until %s; CA %s", subj, iss, until, ctx->o.ca);
}

void tr_tls_ctx_free(tr_tls_ctx *ctx)
{
    if (!ctx) return;
    SSL_CTX_free(ctx->cur);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

/* ---------- connections ---------- */

/* OpenSSL's socket BIO writes with write(2): a peer that is gone would raise SIGPIPE, which kills
 * a host that does not ignore it. This BIO sends with MSG_NOSIGNAL instead. Its data is the
 * connection (t->fd the socket), so that reads can note what they found. */
static BIO_METHOD *nosig;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

/* Batching: a record joins the batch (never refused, so OpenSSL never holds half a record). */
static bool ob_put(tr_tls *t, const void *p, size_t len)
{
    if (t->olen + len > t->ocap && t->ooff) {
        memmove(t->ob, t->ob + t->ooff, t->olen - t->ooff);
        t->olen -= t->ooff;
        t->ooff = 0;
    }
    if (t->olen + len > t->ocap) {
        size_t cap = t->ocap ? t->ocap : 2 * BATCH;
        while (cap < t->olen + len) cap *= 2;
        uint8_t *q = realloc(t->ob, cap);
        if (!q) return false;
        t->ob = q;
        t->ocap = cap;
    }
    memcpy(t->ob + t->olen, p, len);
    t->olen += len;
    return true;
}

/* Sends the batch: 0 when all went, 1 when the socket took only part (it is full), -1 on
 * failure (errno). */
static int ob_send(tr_tls *t)
{
    while (t->ooff < t->olen) {
        size_t want = t->olen - t->ooff;
        ssize_t n = send(t->fd, t->ob + t->ooff, want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        t->ooff += (size_t)n;
        if ((size_t)n < want) return 1; /* asking again would only hear EAGAIN */
    }
    t->ooff = t->olen = 0;
    return 0;
}

static int nosig_write(BIO *b, const char *buf, int len)
{
    tr_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->batch) return ob_put(t, buf, (size_t)len) ? len : -1;
    ssize_t n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
    return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
    tr_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(t->fd, buf, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
    t->rshort = n < len;
    return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    tr_tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_C_GET_FD:
        if (ptr) *(int *)ptr = t->fd;
        return t->fd;
    case BIO_CTRL_FLUSH: /* OpenSSL flushes after a fatal alert or a post-handshake message */
        if (t->batch) {
            int r = ob_send(t);
            if (r > 0) BIO_set_retry_write(b);
            return r == 0 ? 1 : -1;
        }
        return 1;
    default:
        return 0;
    }
}

static void nosig_init(void)
{
    nosig = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "trireme socket");
    if (!nosig) return;
    BIO_meth_set_write(nosig, nosig_write);
    BIO_meth_set_read(nosig, nosig_read);
    BIO_meth_set_ctrl(nosig, nosig_ctrl);
}

tr_tls *tr_tls_new(tr_tls_ctx *ctx, int fd, enum tr_tls_role role, const char *peer)
{
    tr_tls *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_mutex_lock(&ctx->mu);
    t->ssl = SSL_new(ctx->cur);
    pthread_mutex_unlock(&ctx->mu);
    pthread_once(&nosig_once, nosig_init);
    BIO *bio = nosig && t->ssl ? BIO_new(nosig) : NULL;
    if (!bio) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    t->fd = fd;
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(t->ssl, bio, bio);
    snprintf(t->peer, sizeof t->peer, "%s", peer && peer[0] ? peer : "peer");
    SSL_set_app_data(t->ssl, t);
    if (role == TR_TLS_SERVER) SSL_set_accept_state(t->ssl);
    else SSL_set_connect_state(t->ssl);
    return t;
}

void tr_tls_free(tr_tls *t)
{
    if (!t) return;
    if (t->handshaken) {
        /* one try, never a wait: the socket is about to close anyway */
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        if (t->batch) (void)ob_send(t); /* the close_notify joined the batch */
    }
    tr_tls_drop(t);
}

void tr_tls_drop(tr_tls *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t->ob);
    free(t);
}

/* A client whose ClientHello got no TLS answer at all. */
static bool hung_up_unanswered(const tr_tls *t)
{
    OSSL_HANDSHAKE_STATE st = SSL_get_state(t->ssl);
    return !t->handshaken && (st == TLS_ST_BEFORE || st == TLS_ST_CW_CLNT_HELLO);
}

static bool is_cert_alert(int reason)
{
    switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_BAD_CERTIFICATE: case SSL_AD_UNSUPPORTED_CERTIFICATE: case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED: case SSL_AD_CERTIFICATE_UNKNOWN: case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED: case SSL_AD_CERTIFICATE_REQUIRED: case SSL_AD_DECRYPT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Turns OpenSSL's error queue (and the verifier's note) into t->why; CLOSED when the peer only
 * hung up. */
static enum tr_tls_rc explain(tr_tls *t)
{
    unsigned long e = ERR_peek_last_error();
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    const char *rs = ERR_reason_error_string(e);
    char detail[256];
    ssl_err(detail, sizeof detail);
    if (!rs) rs = detail;
    const char *p = t->peer;
    t->fail = TR_TLS_F_OTHER;
    if (t->verr) {
        t->fail = TR_TLS_F_CERT;
        const char *vr = X509_verify_cert_error_string(t->verr);
        if (t->vdepth > 0)
            say(t, "refused the certificate of %s ('%s'): %s (at '%s', %d up its chain)", p,
                     t->vleaf, vr, t->vcert, t->vdepth);
        else
            say(t, "refused the certificate of %s ('%s'): %s", p, t->vleaf, vr);
        return TR_TLS_FAIL;
    }
    if (lib != ERR_LIB_SSL) {
        say(t, "TLS with %s failed: %s", p, detail);
        return TR_TLS_FAIL;
    }
    switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        t->fail = TR_TLS_F_CERT;
        say(t, "refused %s: it presented no certificate (every node needs one signed by "
                 "the CA in socket.ssl_ca)", p);
        return TR_TLS_FAIL;
    case SSL_R_WRONG_VERSION_NUMBER: case SSL_R_PACKET_LENGTH_TOO_LONG: case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST: case SSL_R_UNKNOWN_PROTOCOL: case SSL_R_RECORD_LENGTH_MISMATCH:
        t->fail = TR_TLS_F_NOT_TLS;
        say(t, "refused %s: it does not speak TLS (plaintext: a node without socket.ssl?)",
                 p);
        return TR_TLS_FAIL;
    case SSL_R_UNSUPPORTED_PROTOCOL: case SSL_R_NO_PROTOCOLS_AVAILABLE: case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        say(t, "refused %s: no TLS version in common (TLS 1.2 or later is required): %s",
                 p, rs);
        return TR_TLS_FAIL;
    case SSL_R_NO_SHARED_CIPHER: case SSL_R_NO_CIPHERS_AVAILABLE:
        say(t, "refused %s: no cipher in common (socket.ssl_cipher): %s", p, rs);
        return TR_TLS_FAIL;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        t->fail = hung_up_unanswered(t) ? TR_TLS_F_NOT_TLS : TR_TLS_F_OTHER;
        say(t, "%s closed the connection %s", p,
                 t->handshaken ? "without a TLS close_notify"
                               : "during the TLS handshake (it may not speak TLS, or it refused our certificate: "
                                 "its log says which)");
        return TR_TLS_CLOSED;
    default:
        break;
    }
    if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        if (is_cert_alert(reason)) {
            t->fail = TR_TLS_F_CERT;
            say(t, "%s refused our certificate (TLS alert: %s): is it signed by the CA in that node's "
                   "socket.ssl_ca, and valid now?", p, rs);
        } else {
            say(t, "%s ended the TLS session with an alert: %s", p, rs);
        }
        return TR_TLS_FAIL;
    }
    say(t, "TLS with %s failed: %s", p, detail);
    return TR_TLS_FAIL;
}

static enum tr_tls_rc result(tr_tls *t, int r)
{
    int en = errno;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return TR_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TR_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        t->fail = TR_TLS_F_OTHER;
        say(t, "%s closed the TLS session", t->peer);
        return TR_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_last_error()) break;
        if (en == 0 || en == ECONNRESET || en == EPIPE) {
            t->fail = hung_up_unanswered(t) ? TR_TLS_F_NOT_TLS : TR_TLS_F_OTHER;
            say(t, "%s %s", t->peer,
                     !t->handshaken ? "closed the connection during the TLS handshake (it may not speak TLS, or "
                                      "it refused our certificate: its log says which)"
                     : en ? strerror(en) : "closed the connection");
            return TR_TLS_CLOSED;
        }
        say(t, "TLS with %s: %s", t->peer, strerror(en));
        t->fail = TR_TLS_F_OTHER;
        return TR_TLS_FAIL;
    default:
        break;
    }
    return explain(t);
}

enum tr_tls_rc tr_tls_handshake(tr_tls *t)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->handshaken = true;
        return TR_TLS_OK;
    }
    return result(t, r);
}

enum tr_tls_rc tr_tls_read(tr_tls *t, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(t->ssl, buf, cap, got);
    if (r == 1) return TR_TLS_OK;
    return result(t, r);
}

/* A failed send of the batch, told as result() tells one from the socket BIO. */
static enum tr_tls_rc send_failed(tr_tls *t)
{
    int en = errno;
    t->fail = TR_TLS_F_OTHER;
    if (en == ECONNRESET || en == EPIPE) {
        say(t, "%s %s", t->peer, strerror(en));
        return TR_TLS_CLOSED;
    }
    say(t, "TLS with %s: %s", t->peer, strerror(en));
    return TR_TLS_FAIL;
}

enum tr_tls_rc tr_tls_write(tr_tls *t, const void *buf, size_t len, size_t *put)
{
    *put = 0;
    if (!t->batch) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(t->ssl, buf, len, put);
        if (r == 1) return TR_TLS_OK;
        return result(t, r);
    }
    for (;;) {
        if (t->olen - t->ooff >= BATCH) { /* a full batch goes before more is taken */
            int r = ob_send(t);
            if (r < 0) return *put ? TR_TLS_OK : send_failed(t); /* a failure repeats */
            if (r > 0 && t->olen - t->ooff >= BATCH) return *put ? TR_TLS_OK : TR_TLS_WANT_WRITE;
        }
        if (*put == len) return TR_TLS_OK;
        size_t n;
        ERR_clear_error();
        errno = 0;
        /* one record per call (SSL_MODE_ENABLE_PARTIAL_WRITE), appended to the batch */
        int r = SSL_write_ex(t->ssl, (const uint8_t *)buf + *put, len - *put, &n);
        if (r != 1) return *put ? TR_TLS_OK : result(t, r); /* the caller offers the rest again */
        *put += n;
    }
}

void tr_tls_batch(tr_tls *t) { t->batch = true; }

enum tr_tls_rc tr_tls_flush(tr_tls *t)
{
    int r = ob_send(t);
    return r == 0 ? TR_TLS_OK : r > 0 ? TR_TLS_WANT_WRITE : send_failed(t);
}

bool tr_tls_unsent(const tr_tls *t) { return t->olen > t->ooff; }

bool tr_tls_drained(const tr_tls *t) { return t->rshort && SSL_has_pending(t->ssl) != 1; }

const char *tr_tls_why(const tr_tls *t) { return t->why; }

enum tr_tls_fail tr_tls_failure(const tr_tls *t) { return t->fail; }

bool tr_tls_closed_cleanly(const tr_tls *t) { return (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0; }

void tr_tls_describe(const tr_tls *t, char *buf, size_t len)
{
    char subj[256];
    X509 *pc = SSL_get0_peer_certificate(t->ssl);
    name_text(pc ? X509_get_subject_name(pc) : NULL, subj, sizeof subj);
    snprintf(buf, len, "'%s', %s %s", subj, SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
}

bool tr_tls_starts_handshake(const uint8_t *first, size_t n)
{
    /* content type 22 (handshake), record version 3.0 to 3.4 */
    return n >= 3 && first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04;
}

/* ---------- blocking helpers ---------- */

/* Waits until fd is ready for what want asks or the deadline passes: 0 or -ETIMEDOUT. */
static int wait_fd(int fd, enum tr_tls_rc want, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t now = mono_ns();
        if (now >= deadline_ns) return -ETIMEDOUT;
        uint64_t left = (deadline_ns - now + 999999) / 1000000;
        struct pollfd p = {.fd = fd, .events = want == TR_TLS_WANT_WRITE ? POLLOUT : POLLIN};
        int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return -errno;
    }
}

/* The helpers run the socket non-blocking (a blocking SSL call could sleep past the deadline
 * inside one record) and put its flags back afterwards. */
static int nb_on(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fl;
}

static void nb_off(int fd, int fl)
{
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl);
}

static int rc_errno(enum tr_tls_rc rc) { return rc == TR_TLS_CLOSED ? -ECONNRESET : -EPROTO; }

int tr_tls_handshake_until(tr_tls *t, uint64_t deadline_ns)
{
    int fl = nb_on(t->fd), ret = 0;
    for (;;) {
        enum tr_tls_rc rc = tr_tls_handshake(t);
        if (rc == TR_TLS_OK) break;
        if (rc != TR_TLS_WANT_READ && rc != TR_TLS_WANT_WRITE) { ret = rc_errno(rc); break; }
        if ((ret = wait_fd(t->fd, rc, deadline_ns))) {
            if (ret == -ETIMEDOUT)
                say(t, "TLS handshake with %s did not finish in time", t->peer);
            break;
        }
    }
    nb_off(t->fd, fl);
    return ret;
}

/* read_full and write_all: the same loop, one direction each. */
static int move_until(tr_tls *t, uint8_t *buf, size_t len, uint64_t deadline_ns, bool out)
{
    int fl = nb_on(t->fd), ret = 0;
    size_t off = 0;
    while (off < len || (out && tr_tls_unsent(t))) {
        size_t n = 0;
        enum tr_tls_rc rc = off == len ? tr_tls_flush(t)
                            : out      ? tr_tls_write(t, buf + off, len - off, &n)
                                       : tr_tls_read(t, buf + off, len - off, &n);
        if (rc == TR_TLS_OK) { off += n; continue; }
        if (rc != TR_TLS_WANT_READ && rc != TR_TLS_WANT_WRITE) { ret = rc_errno(rc); break; }
        if ((ret = wait_fd(t->fd, rc, deadline_ns))) {
            if (ret == -ETIMEDOUT)
                say(t, "%s %s %zu of %zu bytes in time", t->peer, out ? "took" : "sent", off, len);
            break;
        }
    }
    nb_off(t->fd, fl);
    return ret;
}

int tr_tls_read_full(tr_tls *t, void *buf, size_t len, uint64_t deadline_ns)
{
    return move_until(t, buf, len, deadline_ns, false);
}

int tr_tls_write_all(tr_tls *t, const void *buf, size_t len, uint64_t deadline_ns)
{
    return move_until(t, (uint8_t *)(uintptr_t)buf, len, deadline_ns, true);
}
