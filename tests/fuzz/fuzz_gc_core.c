/* tests/fuzz/fuzz_gc_core: libFuzzer target feeding arbitrary messages from a peer into a gcomm
 * core (after a valid HELLO when the first byte is even), to reach the protocol handlers. It also
 * checks that the core says nothing on the accepted link before the peer's HELLO proved it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tr_log.h"
#include "gcomm/gc_core.h"
#include "gcomm/gc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t t_now = 1000000000;
static uint64_t rng = 88172645463325252ull;
static uint64_t f_now(void *c) { (void)c; return t_now; }
static uint64_t f_rand(void *c) { (void)c; rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static bool proved; /* a HELLO with our group and version was fed on link 7 */
static void f_send(void *c, int l, const uint8_t *b, size_t n, bool u)
{
    (void)c;
    (void)b;
    (void)u;
    if (l == 7 && !proved) abort(); /* nothing before proof */
    if (n > 65536 + 128) abort();   /* the protocol's frame limit */
}

static void feed(gc_core *c, const uint8_t *b, size_t n)
{
    static gc_msg m;
    if (n && b[0] == GC_MSG_HELLO && gc_msg_decode(b, n, &m) == 0) {
        if (m.u.hello.version == GC_PROTO_VERSION && !strcmp(m.u.hello.group, "fz")) proved = true;
        gc_msg_release(&m);
    }
    gc_core_recv(c, 7, b, n);
}
static int f_connect(void *c, const char *a) { (void)c; (void)a; return -1; }
static void f_close(void *c, int l) { (void)c; (void)l; }
static void f_deliver(void *c, const struct gc_delivery *d) { (void)c; (void)d; }
static void f_persist(void *c, const uint8_t *b, size_t n) { (void)c; (void)b; (void)n; }
static void quiet(enum tr_log_level l, const char *m) { (void)l; (void)m; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_log_set_sink(quiet);
    struct gc_config cfg;
    gc_config_defaults(&cfg);
    memcpy(cfg.group, "fz", 3);
    cfg.nseeds = 0; /* bootstraps a one-node primary view: ORDER/DATA paths are live */
    struct gc_env env = {NULL, f_now, f_rand, f_send, f_connect, f_close, f_deliver, f_persist};
    gc_core *c = gc_core_new(&cfg, &env, NULL, 0);
    if (!c) return 0;
    proved = false;
    gc_core_start(c);
    gc_core_conn_up(c, 7, NULL);
    if (size && !(data[0] & 1)) {
        static gc_msg h;
        memset(&h, 0, sizeof h);
        h.type = GC_MSG_HELLO;
        h.u.hello.version = GC_PROTO_VERSION;
        memcpy(h.u.hello.group, "fz", 3);
        h.u.hello.uuid.data[0] = 0xff; /* above ours most of the time: we stay leader */
        h.u.hello.inc = 5;
        gc_wbuf w;
        gc_w_init(&w);
        gc_msg_encode(&w, &h);
        if (!w.oom) feed(c, w.p, w.len);
        gc_w_free(&w);
    }
    size_t off = size ? 1 : 0;
    while (off + 2 <= size) { /* u16 length-prefixed messages */
        size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (n > size - off) n = size - off;
        feed(c, data + off, n);
        gc_core_flush(c);
        off += n;
        t_now += 50000000;
        gc_core_tick(c);
    }
    gc_core_free(c);
    return 0;
}
