/* tools/trireme-kv/sst.c: state transfers: "trivial" donations (position only) and the "kv"
 * method (--sst-method kv): the joiner listens on loopback, the donor streams a table snapshot. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kv.h"

/* wire: "TKVS" | u8 bypass | gtid (16-byte uuid, i64 seqno LE) | u64 len LE | i64 view conf id
 * | i64 view members | u64 commit chain | i64 its last seqno | table dump. The view rides along
 * because Galera 4 does not call view_cb for the view a joiner entered by SST: wsrep-lib
 * recovers it from the transferred data. The commit chain (commits.c) goes with the table. */
#define HDR_LEN (4 + 1 + 16 + 8 + 8 + 8 + 8 + 8 + 8)
static const char MAGIC[4] = {'T', 'K', 'V', 'S'};
static const char PREFIX[] = "kv-sst ";

struct sst_job {
    struct kv_node *n;
    int fd;               /* joiner: listening socket */
    char addr[64];        /* donor: joiner's host:port */
    wsrep_gtid_t gtid;    /* donor: state sent */
    bool bypass;
    void *snap;           /* donor: table snapshot taken inside sst_donate_cb */
    size_t snap_len;
    wsrep_seqno_t view;   /* donor: its current view (conf id, members) */
    int members;
    uint64_t chain;       /* donor: its commit chain at the snapshot */
    wsrep_seqno_t chain_seqno;
};

static int spawn(struct kv_node *n, void *(*fn)(void *), struct sst_job *j)
{
    pthread_mutex_lock(&n->mu);
    int ok = n->ndonors < (int)(sizeof n->donors / sizeof n->donors[0]) &&
             pthread_create(&n->donors[n->ndonors], NULL, fn, j) == 0;
    if (ok)
        n->ndonors++;
    pthread_mutex_unlock(&n->mu);
    return ok ? 0 : -1;
}

static int io_all(int fd, void *buf, size_t len, bool wr)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t r = wr ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- joiner ---- */

static void *joiner_main(void *arg)
{
    struct sst_job *j = arg;
    struct kv_node *n = j->n;
    wsrep_gtid_t gtid;
    memset(&gtid, 0, sizeof gtid);
    gtid.seqno = WSREP_SEQNO_UNDEFINED;
    int rcode = -ECONNABORTED, c = -1;
    unsigned char h[HDR_LEN];
    void *data = NULL;

    struct pollfd pf = {j->fd, POLLIN, 0};
    if (poll(&pf, 1, n->cfg.sync_timeout * 1000) != 1) {
        kv_err(n, "sst: no donor connected within %d s", n->cfg.sync_timeout);
        goto done;
    }
    c = accept(j->fd, NULL, NULL);
    if (c < 0 || io_all(c, h, sizeof h, false) != 0 || memcmp(h, MAGIC, 4) != 0) {
        kv_err(n, "sst: bad or missing header from donor");
        goto done;
    }
    wsrep_gtid_t got;
    memcpy(got.uuid.data, h + 5, 16);
    got.seqno = (wsrep_seqno_t)get64(h + 21);
    uint64_t len = get64(h + 29);
    if (!h[4]) {
        data = malloc(len ? len : 1);
        if (!data || io_all(c, data, len, false) != 0 || kv_table_load(n->table, data, len) != 0) {
            kv_err(n, "sst: table snapshot of %llu bytes unreadable", (unsigned long long)len);
            goto done;
        }
        kv_commit_set(n, get64(h + 53), (wsrep_seqno_t)get64(h + 61));
    }
    gtid = got;
    rcode = 0;
    /* adopt the donor's primary view as ours, as wsrep-lib does after an SST */
    pthread_mutex_lock(&n->mu);
    if (n->nviews < KV_MAX_VIEWS)
        n->views[n->nviews] = (struct kv_view_rec){WSREP_VIEW_PRIMARY, (int)get64(h + 45),
                                                   n->connected_idx, (wsrep_seqno_t)get64(h + 37),
                                                   got.seqno};
    n->nviews++;
    n->primary = true;
    n->view_size = (int)get64(h + 45);
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    kv_note_seqno(n, got.seqno);
done:
    free(data);
    if (c >= 0)
        close(c);
    close(j->fd);
    char g[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(&gtid, g, sizeof g);
    /* MariaDB's joiner thread reports the script's result the same way */
    wsrep_status_t rc = n->w->sst_received(n->w, &gtid, NULL, rcode);
    kv_say(n, "sst: received %s%s -> sst_received(%s, NULL, %d) = %s",
           h[4] ? "bypass (IST follows) " : "table ", rcode ? "FAILED" : "ok", g, rcode,
           kv_status_str(rc));
    if (rc != WSREP_OK || rcode != 0)
        atomic_fetch_add(&n->errors, 1);
    free(j);
    return NULL;
}

int kv_sst_prepare(struct kv_node *n, char **req, size_t *len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        kv_err(n, "sst: cannot listen on loopback: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sst_job *j = calloc(1, sizeof *j);
    char *r = malloc(64);
    if (!j || !r)
        goto fail;
    *len = (size_t)snprintf(r, 64, "%s127.0.0.1:%u", PREFIX, ntohs(sa.sin_port)) + 1;
    j->n = n;
    j->fd = fd;
    if (spawn(n, joiner_main, j) != 0)
        goto fail;
    *req = r;
    return 0;
fail:
    free(j);
    free(r);
    close(fd);
    return -1;
}

/* ---- donor ---- */

/* "trivial": nothing to ship (a real table transfer needs --sst-method kv on the joiner) */
static void *trivial_main(void *arg)
{
    struct sst_job *j = arg;
    char g[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(&j->gtid, g, sizeof g);
    wsrep_status_t rc = j->n->w->sst_sent(j->n->w, &j->gtid, 0);
    kv_say(j->n, "sst: trivial donation -> sst_sent(%s, 0) = %s", g, kv_status_str(rc));
    if (rc != WSREP_OK)
        atomic_fetch_add(&j->n->errors, 1);
    free(j);
    return NULL;
}

static void *donor_main(void *arg)
{
    struct sst_job *j = arg;
    struct kv_node *n = j->n;
    int rcode = -ECONNREFUSED;
    char host[64];
    unsigned port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (sscanf(j->addr, "%63[^:]:%u", host, &port) != 2 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kv_err(n, "sst: bad joiner address '%s'", j->addr);
        goto done;
    }
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        kv_err(n, "sst: connect %s: %s", j->addr, strerror(errno));
        goto done;
    }
    unsigned char h[HDR_LEN];
    memcpy(h, MAGIC, 4);
    h[4] = j->bypass;
    memcpy(h + 5, j->gtid.uuid.data, 16);
    put64(h + 21, (uint64_t)j->gtid.seqno);
    put64(h + 29, j->bypass ? 0 : j->snap_len);
    put64(h + 37, (uint64_t)j->view);
    put64(h + 45, (uint64_t)j->members);
    put64(h + 53, j->chain);
    put64(h + 61, (uint64_t)j->chain_seqno);
    if (io_all(fd, h, sizeof h, true) != 0 ||
        (!j->bypass && io_all(fd, j->snap, j->snap_len, true) != 0)) {
        kv_err(n, "sst: sending to %s failed", j->addr);
        rcode = -EPIPE;
        goto done;
    }
    rcode = 0;
done:
    if (fd >= 0)
        close(fd);
    wsrep_gtid_t g = j->gtid;
    if (rcode)
        g.seqno = WSREP_SEQNO_UNDEFINED; /* as MariaDB reports a failed donation */
    char s[WSREP_GTID_STR_LEN + 1];
    kv_gtid_print(&g, s, sizeof s);
    wsrep_status_t rc = n->w->sst_sent(n->w, &g, rcode);
    kv_say(n, "sst: donated %s%zu bytes -> sst_sent(%s, %d) = %s", j->bypass ? "bypass, " : "",
           j->bypass ? 0 : j->snap_len, s, rcode, kv_status_str(rc));
    if (rc != WSREP_OK || rcode != 0)
        atomic_fetch_add(&n->errors, 1);
    free(j->snap);
    free(j);
    return NULL;
}

/* Called inside sst_donate_cb, where the provider holds the state still at state_id, so that
 * is where the snapshot is taken; a thread then sends it and calls sst_sent(). A request that
 * is not "kv-sst ..." is answered as a trivial transfer: sst_sent() with our position only.
 * Returns 0 once a thread serves the donation, -1 on failure. */
int kv_sst_donate(struct kv_node *n, const wsrep_buf_t *msg, const wsrep_gtid_t *state_id,
                  bool bypass)
{
    const char *req = msg ? msg->ptr : NULL;
    size_t plen = sizeof PREFIX - 1;
    bool kv = req && msg->len > plen && memcmp(req, PREFIX, plen) == 0;
    struct sst_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->n = n;
    j->gtid = *state_id;
    j->bypass = bypass;
    if (!kv) {
        if (spawn(n, trivial_main, j) != 0) {
            free(j);
            return -1;
        }
        return 0;
    }
    size_t al = strnlen(req + plen, msg->len - plen);
    if (al >= sizeof j->addr)
        al = sizeof j->addr - 1;
    memcpy(j->addr, req + plen, al);
    pthread_mutex_lock(&n->mu);
    j->members = n->view_size;
    j->view = n->nviews > 0 && n->nviews <= KV_MAX_VIEWS ? n->views[n->nviews - 1].view : -1;
    pthread_mutex_unlock(&n->mu);
    if (!bypass) {
        kv_commit_get(n, &j->chain, &j->chain_seqno); /* as of the snapshot, like the table */
        j->snap_len = kv_table_dump(n->table, &j->snap);
        if (j->snap_len == (size_t)-1) {
            free(j);
            return -1;
        }
    }
    if (spawn(n, donor_main, j) != 0) {
        free(j->snap);
        free(j);
        return -1;
    }
    return 0;
}
