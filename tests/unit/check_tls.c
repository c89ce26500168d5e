/* tests/unit/check_tls: common/tr_tls against a throwaway PKI made here with OpenSSL's API (a
 * root, an intermediate, node certificates, a foreign CA, an expired and an encrypted key). */
#include "common/tr_tls.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/tr_crc32c.h"
#include "common/tr_log.h"
#include "gcomm/gc_frame.h"
#include "gcomm/gc_msg.h"
#include "gcomm/gc_node.h"
#include "replicator/repl_options.h"

static char dir[64];

/* For the PKI, made outside any test (ck_assert belongs inside one). */
#define NEED(x)                                                     \
    do {                                                            \
        if (!(x)) {                                                 \
            fprintf(stderr, "check_tls: %s failed\n", #x);          \
            exit(1);                                                \
        }                                                           \
    } while (0)

/* ---------- the PKI ---------- */

struct id {
    EVP_PKEY *key;
    X509 *cert;
};

static long serial = 1;

/* A certificate for cn signed by issuer (self-signed when NULL), valid from/to seconds from now. */
static struct id make(const char *cn, const struct id *issuer, bool ca, long from, long to)
{
    struct id r;
    r.key = EVP_EC_gen("P-256");
    NEED(r.key);
    r.cert = X509_new();
    X509_set_version(r.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(r.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(r.cert), from);
    X509_gmtime_adj(X509_getm_notAfter(r.cert), to);
    X509_set_pubkey(r.cert, r.key);
    X509_NAME *nm = X509_get_subject_name(r.cert);
    X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"trireme test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(r.cert, issuer ? X509_get_subject_name(issuer->cert) : nm);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer->cert : r.cert, r.cert, NULL, NULL, 0);
    const char *bc = ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
    const char *ku = ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyAgreement";
    X509_EXTENSION *e1 = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, bc);
    X509_EXTENSION *e2 = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, ku);
    X509_add_ext(r.cert, e1, -1);
    X509_add_ext(r.cert, e2, -1);
    X509_EXTENSION_free(e1);
    X509_EXTENSION_free(e2);
    if (!ca) { /* a node is both client and server of its links */
        X509_EXTENSION *e3 = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
        X509_add_ext(r.cert, e3, -1);
        X509_EXTENSION_free(e3);
    }
    NEED(X509_sign(r.cert, issuer ? issuer->key : r.key, EVP_sha256()) > 0);
    return r;
}

static void path(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

/* Writes the certificates (leaf first) into name. */
static void write_certs(const char *name, X509 *a, X509 *b)
{
    char p[128];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    NEED(f);
    PEM_write_X509(f, a);
    if (b) PEM_write_X509(f, b);
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k, const char *password)
{
    char p[128];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    NEED(f);
    PEM_write_PrivateKey(f, k, password ? EVP_aes_256_cbc() : NULL, NULL, 0, NULL, (void *)password);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    char p[128];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    NEED(f);
    fputs(text, f);
    fclose(f);
}

static void free_id(struct id *i)
{
    X509_free(i->cert);
    EVP_PKEY_free(i->key);
}

/* ca.pem holds the root only: a node's intermediate reaches peers in its chain. */
static void make_pki(void)
{
    snprintf(dir, sizeof dir, "/tmp/trireme-check-tls.XXXXXX");
    NEED(mkdtemp(dir));
    struct id root = make("Test Root", NULL, true, -3600, 86400 * 30);
    struct id inter = make("Test Intermediate", &root, true, -3600, 86400 * 30);
    struct id n1 = make("node1", &inter, false, -3600, 86400);
    struct id n2 = make("node2", &inter, false, -3600, 86400);
    struct id ex = make("expired", &inter, false, -7200, -3600);
    struct id oroot = make("Other Root", NULL, true, -3600, 86400 * 30);
    struct id o1 = make("intruder", &oroot, false, -3600, 86400);
    write_certs("ca.pem", root.cert, NULL);
    write_certs("n1.pem", n1.cert, inter.cert);
    write_key("n1.key", n1.key, NULL);
    write_certs("n1-leaf.pem", n1.cert, NULL);
    write_key("n1-enc.key", n1.key, "sekrit");
    write_certs("n2.pem", n2.cert, inter.cert);
    write_key("n2.key", n2.key, NULL);
    write_certs("ex.pem", ex.cert, inter.cert);
    write_key("ex.key", ex.key, NULL);
    write_certs("oca.pem", oroot.cert, NULL);
    write_certs("o1.pem", o1.cert, NULL);
    write_key("o1.key", o1.key, NULL);
    write_text("pw.txt", "sekrit\n");
    write_text("badpw.txt", "wrong\n");
    write_text("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    struct id *all[] = {&root, &inter, &n1, &n2, &ex, &oroot, &o1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free_id(all[i]);
}

static void remove_pki(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---------- helpers ---------- */

static struct tr_tls_opts opts(const char *cert, const char *key, const char *ca)
{
    struct tr_tls_opts o;
    memset(&o, 0, sizeof o);
    o.enabled = true;
    path(o.cert, sizeof o.cert, cert);
    path(o.key, sizeof o.key, key);
    path(o.ca, sizeof o.ca, ca);
    return o;
}

static tr_tls_ctx *ctx_of(const char *cert, const char *key, const char *ca)
{
    struct tr_tls_opts o = opts(cert, key, ca);
    char err[TR_TLS_ERR_MAX];
    tr_tls_ctx *c = tr_tls_ctx_new(&o, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

/* The error a context with these options fails with. */
static const char *ctx_err(struct tr_tls_opts *o)
{
    static char err[TR_TLS_ERR_MAX];
    err[0] = 0;
    tr_tls_ctx *c = tr_tls_ctx_new(o, err, sizeof err);
    ck_assert_msg(c == NULL, "context built although it should not");
    fprintf(stderr, "refused as expected: %s\n", err);
    return err;
}

struct pair {
    int fd[2];
    tr_tls *cl, *sv;
    enum tr_tls_rc crc, src;
};

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Drives both ends' handshakes on a socketpair until both are done or one gives up. */
static void handshake(struct pair *p, tr_tls_ctx *client, tr_tls_ctx *server)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    nonblock(p->fd[0]);
    nonblock(p->fd[1]);
    p->cl = tr_tls_new(client, p->fd[0], TR_TLS_CLIENT, "server-end");
    p->sv = tr_tls_new(server, p->fd[1], TR_TLS_SERVER, "client-end");
    ck_assert(p->cl && p->sv);
    p->crc = p->src = TR_TLS_WANT_READ;
    for (int i = 0; i < 1000; i++) {
        if (p->crc == TR_TLS_WANT_READ || p->crc == TR_TLS_WANT_WRITE) p->crc = tr_tls_handshake(p->cl);
        if (p->src == TR_TLS_WANT_READ || p->src == TR_TLS_WANT_WRITE) p->src = tr_tls_handshake(p->sv);
        bool cdone = p->crc != TR_TLS_WANT_READ && p->crc != TR_TLS_WANT_WRITE;
        bool sdone = p->src != TR_TLS_WANT_READ && p->src != TR_TLS_WANT_WRITE;
        if ((cdone && sdone) || (cdone && p->crc != TR_TLS_OK) || (sdone && p->src != TR_TLS_OK)) break;
    }
}

static void close_pair(struct pair *p)
{
    tr_tls_free(p->cl);
    tr_tls_free(p->sv);
    close(p->fd[0]);
    close(p->fd[1]);
}

/* Sends len bytes from a to b through both non-blocking ends; checks they arrive intact. */
static void transfer(tr_tls *a, tr_tls *b, size_t len)
{
    uint8_t *out = malloc(len), *in = malloc(len);
    for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(i * 7 + 3);
    size_t sent = 0, got = 0, last_try = 0;
    while (got < len) {
        if (sent < len) {
            size_t put, n = len - sent;
            /* a retry after WANT_WRITE passes the same bytes again, at least as many */
            if (n < last_try) n = last_try;
            enum tr_tls_rc rc = tr_tls_write(a, out + sent, n, &put);
            if (rc == TR_TLS_OK) { sent += put; last_try = 0; }
            else { ck_assert_int_eq(rc, TR_TLS_WANT_WRITE); last_try = n; }
        }
        for (;;) {
            size_t r;
            enum tr_tls_rc rc = tr_tls_read(b, in + got, len - got, &r);
            if (rc != TR_TLS_OK) { ck_assert_int_eq(rc, TR_TLS_WANT_READ); break; }
            got += r;
        }
    }
    ck_assert(memcmp(in, out, len) == 0);
    free(in);
    free(out);
}

/* ---------- tests ---------- */

START_TEST(good_chain_accepted)
{
    tr_tls_ctx *a = ctx_of("n1.pem", "n1.key", "ca.pem"), *b = ctx_of("n2.pem", "n2.key", "ca.pem");
    struct pair p;
    handshake(&p, a, b);
    ck_assert_msg(p.crc == TR_TLS_OK && p.src == TR_TLS_OK, "client: %s / server: %s", tr_tls_why(p.cl),
                  tr_tls_why(p.sv));
    char d[256];
    tr_tls_describe(p.sv, d, sizeof d);
    ck_assert_msg(strstr(d, "CN=node1") && strstr(d, "TLSv1.3"), "%s", d);
    tr_tls_describe(p.cl, d, sizeof d);
    ck_assert_msg(strstr(d, "CN=node2"), "%s", d);
    transfer(p.cl, p.sv, 3u << 20); /* more than the socket buffers hold: partial writes */
    transfer(p.sv, p.cl, 100000);
    tr_tls_ctx_describe(a, d, sizeof d);
    ck_assert_msg(strstr(d, "CN=node1") && strstr(d, "Test Intermediate"), "%s", d);
    close_pair(&p);
    tr_tls_ctx_free(a);
    tr_tls_ctx_free(b);
}
END_TEST

/* A client with cert/key and our CA, against node2: the server refuses it and says want. */
static void server_refuses(const char *cert, const char *key, const char *want)
{
    tr_tls_ctx *a = ctx_of(cert, key, "ca.pem"), *b = ctx_of("n2.pem", "n2.key", "ca.pem");
    struct pair p;
    handshake(&p, a, b);
    ck_assert_int_eq(p.src, TR_TLS_FAIL);
    fprintf(stderr, "server: %s\n", tr_tls_why(p.sv));
    ck_assert_msg(strstr(tr_tls_why(p.sv), want), "wanted: %s", want);
    close_pair(&p);
    tr_tls_ctx_free(a);
    tr_tls_ctx_free(b);
}

/* Without its intermediate a leaf does not verify against the root alone. */
START_TEST(chain_needs_intermediate)
{
    server_refuses("n1-leaf.pem", "n1.key",
                   "refused the certificate of client-end ('CN=node1,O=trireme test'): unable to get local issuer "
                   "certificate");
}
END_TEST

/* Loop 0: a client with a certificate from another CA (that trusts ours); 1: such a server;
 * 2: a stranger on both counts: whichever end refuses first says so. */
START_TEST(wrong_ca_refused)
{
    tr_tls_ctx *good = ctx_of("n2.pem", "n2.key", "ca.pem");
    tr_tls_ctx *bad = _i == 2 ? ctx_of("o1.pem", "o1.key", "oca.pem") : ctx_of("o1.pem", "o1.key", "ca.pem");
    struct pair p;
    if (_i == 2) {
        handshake(&p, bad, good);
        ck_assert(p.crc == TR_TLS_FAIL && p.src == TR_TLS_FAIL);
        fprintf(stderr, "client: %s\nserver: %s\n", tr_tls_why(p.cl), tr_tls_why(p.sv));
        ck_assert(strstr(tr_tls_why(p.cl), "refused the certificate of server-end ('CN=node2"));
        ck_assert(strstr(tr_tls_why(p.sv), "client-end refused our certificate (TLS alert: tlsv1 alert unknown ca)"));
    } else if (_i == 0) {
        handshake(&p, bad, good);
        ck_assert_int_eq(p.src, TR_TLS_FAIL);
        fprintf(stderr, "server: %s\n", tr_tls_why(p.sv));
        ck_assert(strstr(tr_tls_why(p.sv), "refused the certificate of client-end ('CN=intruder,O=trireme test')"));
        ck_assert(strstr(tr_tls_why(p.sv), "unable to get local issuer certificate"));
        /* TLS 1.3: the client hears it at its first read */
        uint8_t b[16];
        size_t got;
        enum tr_tls_rc rc = p.crc == TR_TLS_OK ? tr_tls_read(p.cl, b, sizeof b, &got) : p.crc;
        ck_assert_int_eq(rc, TR_TLS_FAIL);
        fprintf(stderr, "client: %s\n", tr_tls_why(p.cl));
        ck_assert(strstr(tr_tls_why(p.cl), "server-end refused our certificate"));
        ck_assert(strstr(tr_tls_why(p.cl), "unknown ca"));
        ck_assert_int_eq(tr_tls_failure(p.cl), TR_TLS_F_CERT);
        ck_assert_int_eq(tr_tls_failure(p.sv), TR_TLS_F_CERT);
    } else {
        handshake(&p, good, bad);
        ck_assert_int_eq(p.crc, TR_TLS_FAIL);
        fprintf(stderr, "client: %s\n", tr_tls_why(p.cl));
        ck_assert(strstr(tr_tls_why(p.cl), "refused the certificate of server-end ('CN=intruder"));
    }
    close_pair(&p);
    tr_tls_ctx_free(good);
    tr_tls_ctx_free(bad);
}
END_TEST

START_TEST(expired_refused)
{
    server_refuses("ex.pem", "ex.key", "'CN=expired,O=trireme test'): certificate has expired");
}
END_TEST

/* A raw OpenSSL client: no certificate (loop 0), or one that offers only TLS 1.1 (loop 1) at a
 * security level that would let TLS 1.1 through if our minimum did not stop it; loop 2 is the
 * same client offering TLS 1.2, which must succeed (so 1 fails for its version alone). */
START_TEST(raw_client_refused)
{
    char p1[128], p2[128];
    SSL_CTX *rc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(rc, SSL_VERIFY_NONE, NULL);
    if (_i > 0) {
        path(p1, sizeof p1, "n1.pem");
        path(p2, sizeof p2, "n1.key");
        ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(rc, p1), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(rc, p2, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_set_cipher_list(rc, "DEFAULT:@SECLEVEL=0"), 1);
        SSL_CTX_set_min_proto_version(rc, TLS1_1_VERSION);
        SSL_CTX_set_max_proto_version(rc, _i == 1 ? TLS1_1_VERSION : TLS1_2_VERSION);
    }
    struct tr_tls_opts o = opts("n2.pem", "n2.key", "ca.pem");
    snprintf(o.cipher, sizeof o.cipher, "DEFAULT:@SECLEVEL=0");
    char err[TR_TLS_ERR_MAX];
    tr_tls_ctx *sc = tr_tls_ctx_new(&o, err, sizeof err);
    ck_assert_msg(sc, "%s", err);
    int fd[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[0]);
    nonblock(fd[1]);
    SSL *c = SSL_new(rc);
    SSL_set_fd(c, fd[0]);
    SSL_set_connect_state(c);
    tr_tls *s = tr_tls_new(sc, fd[1], TR_TLS_SERVER, "raw-client");
    enum tr_tls_rc srv = TR_TLS_WANT_READ;
    for (int k = 0; k < 1000 && (srv == TR_TLS_WANT_READ || srv == TR_TLS_WANT_WRITE); k++) {
        SSL_do_handshake(c);
        srv = tr_tls_handshake(s);
    }
    ERR_clear_error();
    fprintf(stderr, "server (case %d): %s\n", _i, tr_tls_why(s));
    if (_i == 0) {
        ck_assert_int_eq(srv, TR_TLS_FAIL);
        ck_assert(strstr(tr_tls_why(s), "refused raw-client: it presented no certificate"));
    } else if (_i == 1) {
        ck_assert_int_eq(srv, TR_TLS_FAIL);
        ck_assert(strstr(tr_tls_why(s), "refused raw-client: no TLS version in common"));
    } else {
        ck_assert_int_eq(srv, TR_TLS_OK);
    }
    SSL_free(c);
    tr_tls_free(s);
    close(fd[0]);
    close(fd[1]);
    SSL_CTX_free(rc);
    tr_tls_ctx_free(sc);
}
END_TEST

/* A plaintext peer (a gcomm frame header where a ClientHello should be) is named as such. */
START_TEST(plaintext_peer_named)
{
    tr_tls_ctx *sc = ctx_of("n2.pem", "n2.key", "ca.pem");
    int fd[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[1]);
    uint8_t frame[64] = {40, 0, 0, 0, 1, 2, 3, 4};
    ck_assert(!tr_tls_starts_handshake(frame, sizeof frame));
    ck_assert_int_eq(write(fd[0], frame, sizeof frame), (ssize_t)sizeof frame);
    tr_tls *s = tr_tls_new(sc, fd[1], TR_TLS_SERVER, "10.1.2.3:4567");
    enum tr_tls_rc rc = tr_tls_handshake(s);
    ck_assert_int_eq(rc, TR_TLS_FAIL);
    fprintf(stderr, "server: %s\n", tr_tls_why(s));
    ck_assert(strstr(tr_tls_why(s), "refused 10.1.2.3:4567: it does not speak TLS"));
    ck_assert_int_eq(tr_tls_failure(s), TR_TLS_F_NOT_TLS);
    tr_tls_free(s);
    close(fd[0]);
    close(fd[1]);
    /* and a client that hangs up before saying anything */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    close(fd[0]);
    s = tr_tls_new(sc, fd[1], TR_TLS_SERVER, "10.1.2.3:4568");
    ck_assert_int_eq(tr_tls_handshake(s), TR_TLS_CLOSED);
    ck_assert(strstr(tr_tls_why(s), "10.1.2.3:4568 closed the connection during the TLS handshake"));
    tr_tls_free(s);
    close(fd[1]);
    tr_tls_ctx_free(sc);
    uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    ck_assert(tr_tls_starts_handshake(hello, sizeof hello));
    ck_assert(!tr_tls_starts_handshake(hello, 2));
}
END_TEST

START_TEST(password_file)
{
    struct tr_tls_opts o = opts("n1.pem", "n1-enc.key", "ca.pem");
    path(o.password_file, sizeof o.password_file, "pw.txt");
    char err[TR_TLS_ERR_MAX];
    tr_tls_ctx *c = tr_tls_ctx_new(&o, err, sizeof err);
    ck_assert_msg(c, "%s", err);
    tr_tls_ctx_free(c);
    path(o.password_file, sizeof o.password_file, "badpw.txt");
    const char *e = ctx_err(&o);
    ck_assert(strstr(e, "n1-enc.key': the password in socket.ssl_password_file"));
    ck_assert(strstr(e, "badpw.txt' does not decrypt it"));
    o.password_file[0] = 0;
    ck_assert(strstr(ctx_err(&o), "n1-enc.key' is encrypted and socket.ssl_password_file is not set"));
    path(o.password_file, sizeof o.password_file, "nopw.txt");
    e = ctx_err(&o);
    ck_assert(strstr(e, "socket.ssl_password_file '") && strstr(e, "nopw.txt': No such file or directory"));
}
END_TEST

/* Fail closed: each unusable file stops the context, with its option, path and problem. */
START_TEST(bad_files_named)
{
    struct tr_tls_opts o = opts("n1.pem", "missing.key", "ca.pem");
    const char *e = ctx_err(&o);
    ck_assert(strstr(e, "socket.ssl_key '") && strstr(e, "missing.key': No such file or directory"));
    o = opts("n1.pem", "n2.key", "ca.pem");
    e = ctx_err(&o);
    ck_assert(strstr(e, "n2.key' is not the key of the certificate in socket.ssl_cert '"));
    o = opts("n1.pem", "n1.key", "garbage.pem");
    e = ctx_err(&o);
    ck_assert(strstr(e, "socket.ssl_ca '") && strstr(e, "garbage.pem': no CA certificate could be loaded"));
    o = opts("garbage.pem", "n1.key", "ca.pem");
    e = ctx_err(&o);
    ck_assert(strstr(e, "socket.ssl_cert '") && strstr(e, "garbage.pem': no usable certificate"));
    o = opts("n1.pem", "ca.pem", "ca.pem");
    e = ctx_err(&o);
    ck_assert(strstr(e, "socket.ssl_key '") && strstr(e, "ca.pem': no usable private key"));
    o = opts("n1.pem", "n1.key", "ca.pem");
    snprintf(o.cipher, sizeof o.cipher, "NO-SUCH-CIPHER");
    ck_assert(strstr(ctx_err(&o), "socket.ssl_cipher 'NO-SUCH-CIPHER'"));
    if (geteuid() != 0) { /* root reads anything */
        char p[128];
        path(p, sizeof p, "unreadable.key");
        write_text("unreadable.key", "x");
        chmod(p, 0);
        o = opts("n1.pem", "unreadable.key", "ca.pem");
        ck_assert(strstr(ctx_err(&o), "unreadable.key': cannot read it: Permission denied"));
    }
}
END_TEST

/* socket.ssl_reload: new connections use the files as they are now, established ones go on,
 * and a reload that fails keeps the files in use. */
START_TEST(reload)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && cp n2.pem live.pem && cp n2.key live.key && cp ca.pem live-ca.pem", dir);
    ck_assert_int_eq(system(cmd), 0);
    tr_tls_ctx *srv = ctx_of("live.pem", "live.key", "live-ca.pem");
    tr_tls_ctx *n1 = ctx_of("n1.pem", "n1.key", "ca.pem"), *o1 = ctx_of("o1.pem", "o1.key", "oca.pem");
    struct pair old, p;
    handshake(&old, n1, srv);
    ck_assert(old.crc == TR_TLS_OK && old.src == TR_TLS_OK);
    handshake(&p, o1, srv);
    ck_assert_int_eq(p.src, TR_TLS_FAIL);
    close_pair(&p);
    /* the node moves to the other CA: new certificate, key and CA files at the same paths */
    snprintf(cmd, sizeof cmd, "cd %s && cp o1.pem live.pem && cp o1.key live.key && cp oca.pem live-ca.pem", dir);
    ck_assert_int_eq(system(cmd), 0);
    char err[TR_TLS_ERR_MAX];
    ck_assert_msg(tr_tls_ctx_reload(srv, err, sizeof err) == 0, "%s", err);
    handshake(&p, o1, srv);
    ck_assert_msg(p.crc == TR_TLS_OK && p.src == TR_TLS_OK, "%s / %s", tr_tls_why(p.cl), tr_tls_why(p.sv));
    close_pair(&p);
    handshake(&p, n1, srv);
    ck_assert_int_eq(p.crc, TR_TLS_FAIL); /* n1 no longer trusts the server's new certificate */
    close_pair(&p);
    transfer(old.cl, old.sv, 50000); /* the link made before the reload still works */
    /* a broken file: the reload fails and names it; the context in use stays */
    snprintf(cmd, sizeof cmd, "cd %s && cp garbage.pem live.pem", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(tr_tls_ctx_reload(srv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "live.pem': no usable certificate"), "%s", err);
    handshake(&p, o1, srv);
    ck_assert(p.crc == TR_TLS_OK && p.src == TR_TLS_OK);
    close_pair(&p);
    close_pair(&old);
    tr_tls_ctx_free(srv);
    tr_tls_ctx_free(n1);
    tr_tls_ctx_free(o1);
}
END_TEST

/* Galera's option rules, through the provider's own option table. */
START_TEST(options)
{
    char err[256];
    struct tr_tls_opts o;
    tr_cfg *c = repl_options_new();
    ck_assert_int_eq(tr_tls_opts_from_cfg(c, &o, err, sizeof err), 0);
    ck_assert(!o.enabled && !o.dynamic);
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl_cert=/c.pem", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_tls_opts_from_cfg(c, &o, err, sizeof err), -1);
    ck_assert_str_eq(err, "TLS is on (socket.ssl) but socket.ssl_key is not set: both socket.ssl_key and "
                          "socket.ssl_cert are needed");
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl_key=/k.pem;socket.dynamic=yes", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_tls_opts_from_cfg(c, &o, err, sizeof err), 0);
    ck_assert(o.enabled && o.dynamic);
    ck_assert_str_eq(o.ca, "/c.pem"); /* the CA defaults to the certificate */
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl=no", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_tls_opts_from_cfg(c, &o, err, sizeof err), 0);
    ck_assert(!o.enabled);
    tr_cfg_free(c);
    c = repl_options_new();
    ck_assert_int_eq(tr_cfg_parse(c, "socket.ssl=yes", TR_CFG_AT_INIT, err, sizeof err), 0);
    ck_assert_int_eq(tr_tls_opts_from_cfg(c, &o, err, sizeof err), -1);
    tr_cfg_free(c);
}
END_TEST

struct srv_arg {
    tr_tls_ctx *ctx;
    int fd, rc;
    char got[6];
};

static void *blocking_server(void *arg)
{
    struct srv_arg *a = arg;
    tr_tls *t = tr_tls_new(a->ctx, a->fd, TR_TLS_SERVER, "client");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t dl = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 5000000000ull;
    a->rc = tr_tls_handshake_until(t, dl);
    if (!a->rc) a->rc = tr_tls_read_full(t, a->got, 5, dl);
    if (!a->rc) a->rc = tr_tls_write_all(t, "world", 5, dl);
    tr_tls_free(t);
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The deadline helpers on blocking sockets: an exchange, then a silent peer that must time out. */
START_TEST(blocking_helpers)
{
    tr_tls_ctx *a = ctx_of("n1.pem", "n1.key", "ca.pem"), *b = ctx_of("n2.pem", "n2.key", "ca.pem");
    int fd[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    struct srv_arg sa = {.ctx = b, .fd = fd[1], .rc = 1};
    pthread_t th;
    pthread_create(&th, NULL, blocking_server, &sa);
    tr_tls *c = tr_tls_new(a, fd[0], TR_TLS_CLIENT, "server");
    uint64_t dl = now_ns() + 5000000000ull;
    ck_assert_int_eq(tr_tls_handshake_until(c, dl), 0);
    ck_assert_int_eq(tr_tls_write_all(c, "hello", 5, dl), 0);
    char back[6] = {0};
    ck_assert_int_eq(tr_tls_read_full(c, back, 5, dl), 0);
    ck_assert_str_eq(back, "world");
    pthread_join(th, NULL);
    ck_assert_int_eq(sa.rc, 0);
    ck_assert(memcmp(sa.got, "hello", 5) == 0);
    ck_assert(!(fcntl(fd[0], F_GETFL) & O_NONBLOCK)); /* flags put back */
    /* the server has gone: the next read ends with the peer's close, not a hang */
    ck_assert_int_eq(tr_tls_read_full(c, back, 1, now_ns() + 2000000000ull), -ECONNRESET);
    tr_tls_free(c);
    close(fd[0]);
    close(fd[1]);
    /* a peer that never answers: the handshake gives up at the deadline */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    c = tr_tls_new(a, fd[0], TR_TLS_CLIENT, "silent");
    uint64_t t0 = now_ns();
    ck_assert_int_eq(tr_tls_handshake_until(c, t0 + 300000000ull), -ETIMEDOUT);
    uint64_t took = now_ns() - t0;
    ck_assert_msg(took >= 290000000ull && took < 2000000000ull, "%llu ns", (unsigned long long)took);
    ck_assert(strstr(tr_tls_why(c), "TLS handshake with silent did not finish in time"));
    tr_tls_free(c);
    close(fd[0]);
    close(fd[1]);
    tr_tls_ctx_free(a);
    tr_tls_ctx_free(b);
}
END_TEST

/* Batching (gc_tcp's mode): writes gather until a flush, whole; a queue much larger than the
 * socket buffers arrives intact through partial sends; the reader says when it has drained
 * what OpenSSL holds; the close_notify of a batching end still reaches the peer. */
START_TEST(batched_writes)
{
    tr_tls_ctx *a = ctx_of("n1.pem", "n1.key", "ca.pem"), *b = ctx_of("n2.pem", "n2.key", "ca.pem");
    struct pair p;
    handshake(&p, a, b);
    ck_assert(p.crc == TR_TLS_OK && p.src == TR_TLS_OK);
    tr_tls_batch(p.cl);
    uint8_t msg[1000], in[2000];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 13 + 1);
    for (int i = 0; i < 10; i++) { /* ten small writes: held back until the flush */
        size_t put;
        ck_assert_int_eq(tr_tls_write(p.cl, msg + i * 100, 100, &put), TR_TLS_OK);
        ck_assert_uint_eq(put, 100);
    }
    ck_assert(tr_tls_unsent(p.cl));
    size_t got = 0, r;
    ck_assert_int_eq(tr_tls_read(p.sv, in, sizeof in, &r), TR_TLS_WANT_READ);
    ck_assert_int_eq(tr_tls_flush(p.cl), TR_TLS_OK);
    ck_assert(!tr_tls_unsent(p.cl));
    /* one recv brought all ten records: drained only once the last is read */
    while (got < sizeof msg) {
        ck_assert_int_eq(tr_tls_read(p.sv, in + got, sizeof in - got, &r), TR_TLS_OK);
        got += r;
        ck_assert(tr_tls_drained(p.sv) == (got == sizeof msg));
    }
    ck_assert(memcmp(in, msg, sizeof msg) == 0);
    /* 3 MB in writes of every size up to 40 KB, through full sockets: WANT_WRITE, flushes */
    size_t len = 3u << 20;
    uint8_t *out = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(i * 7 + 3);
    size_t sent = 0, last_try = 0, step = 1, wants = 0;
    got = 0;
    while (got < len) {
        while (sent < len) { /* write until the socket is full */
            size_t put, n = step < len - sent ? step : len - sent;
            if (n < last_try) n = last_try;
            step = step * 3 % 40961 + 1;
            enum tr_tls_rc rc = tr_tls_write(p.cl, out + sent, n, &put);
            if (rc == TR_TLS_OK) { sent += put; last_try = 0; continue; }
            ck_assert_int_eq(rc, TR_TLS_WANT_WRITE);
            last_try = n;
            wants++;
            break;
        }
        enum tr_tls_rc fr = tr_tls_flush(p.cl);
        ck_assert(fr == TR_TLS_OK || fr == TR_TLS_WANT_WRITE);
        for (;;) {
            enum tr_tls_rc rc = tr_tls_read(p.sv, back + got, len - got, &r);
            if (rc != TR_TLS_OK) { ck_assert_int_eq(rc, TR_TLS_WANT_READ); break; }
            got += r;
        }
    }
    ck_assert(memcmp(back, out, len) == 0);
    ck_assert_msg(wants > 0, "the socket never filled: the test did not test partial sends");
    free(out);
    free(back);
    /* the batching end closes: its close_notify arrives */
    tr_tls_free(p.cl);
    p.cl = NULL;
    ck_assert_int_eq(tr_tls_read(p.sv, in, sizeof in, &r), TR_TLS_CLOSED);
    ck_assert(tr_tls_closed_cleanly(p.sv));
    close_pair(&p);
    tr_tls_ctx_free(a);
    tr_tls_ctx_free(b);
}
END_TEST

/* ---------- gcomm over TLS in this process (for the sanitizer builds) ---------- */

/* Three gc_nodes with TLS on loopback: the group forms, messages of 100 B to 1 MB (many TLS
 * records, partial writes) are delivered intact and in one order everywhere, a reload while the
 * links run changes nothing for them, and a fourth node with a foreign certificate is not let in. */
START_TEST(gcomm_group_over_tls)
{
    int base = 21000 + (int)(getpid() % 9000);
    gc_node *g[4] = {0};
    for (int i = 0; i < 4; i++) {
        struct gc_config cfg;
        gc_config_defaults(&cfg);
        cfg.wait_prim = false;
        snprintf(cfg.group, sizeof cfg.group, "tlsgroup");
        snprintf(cfg.name, sizeof cfg.name, "t%d", i);
        snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "tcp://127.0.0.1:%d", base + i);
        if (i > 0) {
            cfg.nseeds = 1;
            snprintf(cfg.seeds[0], GC_ADDR_MAX, "127.0.0.1:%d", base);
        }
        cfg.tls = opts(i < 2 ? "n1.pem" : i == 2 ? "n2.pem" : "o1.pem", i < 2 ? "n1.key" : i == 2 ? "n2.key" : "o1.key",
                       "ca.pem");
        g[i] = gc_node_create(&cfg);
        ck_assert_ptr_nonnull(g[i]);
        if (i < 3) ck_assert_int_eq(gc_node_start(g[i]), 0);
    }
    bool formed = false;
    for (int k = 0; k < 2000 && !formed; k++) {
        struct gc_stats st;
        gc_node_stats(g[0], &st);
        formed = st.members == 3 && gc_node_is_primary(g[1]) && gc_node_is_primary(g[2]);
        if (!formed) usleep(10000);
    }
    ck_assert_msg(formed, "no 3-member group over TLS within 20 s");
    char err[TR_TLS_ERR_MAX];
    ck_assert_msg(gc_node_tls_reload(g[1], err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gc_node_start(g[3]), 0); /* the foreign one dials node 0 */
    static const size_t sizes[] = {100, 20000, 1u << 20, 7};
    size_t n = sizeof sizes / sizeof sizes[0];
    uint8_t *buf = malloc(1u << 20);
    for (size_t k = 0; k < n; k++) {
        for (size_t b = 0; b < sizes[k]; b++) buf[b] = (uint8_t)(b * 13 + k);
        ck_assert_int_eq(gc_node_broadcast(g[k % 3], buf, sizes[k]), 0);
    }
    size_t order[3][4];
    for (int i = 0; i < 3; i++) {
        size_t got = 0;
        int64_t last = -1;
        while (got < n) {
            struct gc_event *ev;
            ck_assert_int_eq(gc_node_recv(g[i], &ev, 10000 * 1000000ll), 0);
            if (ev->kind == GC_EV_MSG) {
                ck_assert_int_gt(ev->seqno, last);
                last = ev->seqno;
                size_t k = 0; /* which one: the sizes differ */
                while (k < n && sizes[k] != ev->len) k++;
                ck_assert_uint_lt(k, n);
                order[i][got++] = k;
                for (size_t b = 0; b < ev->len; b++)
                    if (ev->data[b] != (uint8_t)(b * 13 + k)) ck_abort_msg("node %d: message %zu byte %zu", i, k, b);
            } else {
                ck_assert_uint_le(ev->view.n, 3); /* the foreign node never enters a view */
            }
            gc_event_free(ev);
        }
    }
    ck_assert(!memcmp(order[0], order[1], sizeof order[0]) && !memcmp(order[0], order[2], sizeof order[0]));
    struct gc_stats st;
    gc_node_stats(g[3], &st);
    ck_assert_uint_le(st.members, 1);
    free(buf);
    for (int i = 0; i < 4; i++) gc_node_stop(g[i]);
    for (int i = 0; i < 4; i++) gc_node_destroy(g[i]);
}
END_TEST

/* What a gc_node writes in a frame's CRC field: the payload's CRC32C on a plaintext link, whose
 * receivers check it (gc_frame_parse), and 0 on a TLS link, whose receivers leave the check to
 * the record's tag (gc_frame_parse_authed) and where computing it cost a pass over each frame.
 * The node dials a listener here, which reads the node's HELLO as that link's receiver would:
 * the frame must parse and decode as a HELLO of the node's group (case 0 plaintext, 1 TLS). */
START_TEST(frame_crc_by_link)
{
    bool tls = _i == 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(ls, 1), 0);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    cfg.wait_prim = false;
    snprintf(cfg.group, sizeof cfg.group, "crcgroup");
    snprintf(cfg.name, sizeof cfg.name, "c%d", _i);
    snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "tcp://127.0.0.1:%d", 21008 + (int)(getpid() % 9000) + _i);
    cfg.nseeds = 1;
    snprintf(cfg.seeds[0], GC_ADDR_MAX, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    if (tls) cfg.tls = opts("n1.pem", "n1.key", "ca.pem");
    gc_node *g = gc_node_create(&cfg);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gc_node_start(g), 0);
    struct pollfd pf = {.fd = ls, .events = POLLIN};
    ck_assert_msg(poll(&pf, 1, 10000) == 1, "the node did not dial its seed within 10 s");
    int fd = accept(ls, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint64_t deadline = now_ns() + 10000000000ull;
    tr_tls_ctx *sc = NULL;
    tr_tls *t = NULL;
    if (tls) {
        sc = ctx_of("n2.pem", "n2.key", "ca.pem");
        t = tr_tls_new(sc, fd, TR_TLS_SERVER, "node");
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(tr_tls_handshake_until(t, deadline) == 0, "%s", tr_tls_why(t));
    }
    static uint8_t frame[GC_FRAME_HDR + GC_FRAME_MAX_PAYLOAD];
    if (tls) ck_assert_int_eq(tr_tls_read_full(t, frame, GC_FRAME_HDR, deadline), 0);
    else ck_assert_int_eq(recv(fd, frame, GC_FRAME_HDR, MSG_WAITALL), GC_FRAME_HDR);
    uint32_t len = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 | (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 24;
    uint32_t crc = (uint32_t)frame[4] | (uint32_t)frame[5] << 8 | (uint32_t)frame[6] << 16 | (uint32_t)frame[7] << 24;
    ck_assert(len > 0 && len <= GC_FRAME_MAX_PAYLOAD);
    if (tls) ck_assert_int_eq(tr_tls_read_full(t, frame + GC_FRAME_HDR, len, deadline), 0);
    else ck_assert_int_eq(recv(fd, frame + GC_FRAME_HDR, len, MSG_WAITALL), (ssize_t)len);
    const uint8_t *p;
    size_t plen, used;
    if (tls) {
        ck_assert_int_eq(gc_frame_parse_authed(frame, GC_FRAME_HDR + len, GC_FRAME_MAX_PAYLOAD, &p, &plen, &used),
                         GC_FRAME_OK);
        ck_assert_uint_eq(crc, 0);
    } else {
        ck_assert_int_eq(gc_frame_parse(frame, GC_FRAME_HDR + len, GC_FRAME_MAX_PAYLOAD, &p, &plen, &used), GC_FRAME_OK);
        ck_assert_uint_eq(crc, tr_crc32c(0, frame + GC_FRAME_HDR, len));
    }
    ck_assert_uint_eq(used, GC_FRAME_HDR + len);
    gc_msg m;
    ck_assert_int_eq(gc_msg_decode(p, plen, &m), 0);
    ck_assert_int_eq(m.type, GC_MSG_HELLO);
    ck_assert_str_eq(m.u.hello.group, "crcgroup");
    gc_msg_release(&m);
    gc_node_stop(g);
    gc_node_destroy(g);
    tr_tls_free(t);
    tr_tls_ctx_free(sc);
    close(fd);
    close(ls);
}
END_TEST

static void quiet(enum tr_log_level l, const char *m)
{
    if (l <= TR_LOG_WARN) fprintf(stderr, "log: %s\n", m);
}

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *t = tcase_create("tls");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, good_chain_accepted);
    tcase_add_test(t, chain_needs_intermediate);
    tcase_add_loop_test(t, wrong_ca_refused, 0, 3);
    tcase_add_test(t, expired_refused);
    tcase_add_loop_test(t, raw_client_refused, 0, 3);
    tcase_add_test(t, plaintext_peer_named);
    tcase_add_test(t, password_file);
    tcase_add_test(t, bad_files_named);
    tcase_add_test(t, reload);
    tcase_add_test(t, options);
    tcase_add_test(t, blocking_helpers);
    tcase_add_test(t, batched_writes);
    tcase_add_test(t, gcomm_group_over_tls);
    tcase_add_loop_test(t, frame_crc_by_link, 0, 2);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    tr_log_set_sink(quiet);
    make_pki();
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_pki();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
