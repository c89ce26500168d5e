/* tests/unit/check_gcache: the on-disk write-set store: wrap-around, overflow pages, pins,
 * recovery at reopen (clean, torn, corrupt in the middle, another history), gcache.recover=no. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certification/cert_ws.h"
#include "common/tr_buf.h"
#include "common/tr_fail.h"
#include "replicator/repl_gcache.h"
#include "replicator/repl_vrec.h"
#include "replicator/repl_xfer.h"

static char dir[64];
static tr_uuid group_a, group_b;

static void setup(void)
{
    strcpy(dir, "/tmp/check_gcache.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    memset(&group_a, 0xa1, sizeof group_a);
    memset(&group_b, 0xb2, sizeof group_b);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* A valid write-set for seqno whose data set is dlen bytes derived from seqno. */
static struct repl_ws *make_ws(int64_t seqno, size_t dlen)
{
    uint8_t *data = malloc(dlen ? dlen : 1);
    for (size_t i = 0; i < dlen; i++) data[i] = (uint8_t)(seqno * 31 + (int64_t)i);
    struct cert_ws_hdr h = {.trx_id = (uint64_t)seqno, .seqno = -1, .depends = -1, .last_seen = -1};
    struct cert_ws_enc e;
    ck_assert_int_eq(cert_ws_encode(&e, &h, NULL, 0, data, dlen, NULL), CERT_WS_OK);
    size_t len = CERT_WS_HDR_LEN + e.keys_len + e.data_len;
    uint8_t *b = malloc(len);
    memcpy(b, e.hdr, CERT_WS_HDR_LEN);
    memcpy(b + CERT_WS_HDR_LEN, e.data, e.data_len);
    cert_ws_enc_free(&e);
    free(data);
    return repl_ws_new(b, len);
}

static struct repl_gcache *open_store(int64_t size, bool recover, const tr_uuid *group)
{
    struct repl_gcache_cfg c = {.dir = dir, .size = size, .page_size = 64 << 10, .recover = recover};
    return repl_gcache_open(&c, group);
}

static void put_ws(struct repl_gcache *g, int64_t seqno, size_t dlen)
{
    struct repl_ws *ws = make_ws(seqno, dlen);
    ck_assert_int_eq(repl_gcache_put(g, &group_a, seqno, ws), 0);
    repl_ws_unref(ws);
}

/* The record at seqno is the write-set put there (dlen bytes of data). */
static void check_ws(struct repl_gcache *g, int64_t seqno, size_t dlen)
{
    struct repl_ws *ws = NULL, *want = make_ws(seqno, dlen);
    ck_assert_int_eq(repl_gcache_get(g, seqno, &ws), 0);
    ck_assert_ptr_nonnull(ws);
    ck_assert_uint_eq(ws->len, want->len);
    ck_assert(memcmp(ws->buf, want->buf, ws->len) == 0);
    ck_assert_int_eq(repl_ws_decode(ws, 0), 0);
    repl_ws_unref(ws);
    repl_ws_unref(want);
}

static size_t dlen_of(int64_t s)
{
    return 100 + (size_t)(s % 7) * 50;
}

static int count_pages(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "gcache.page.", 12)) n++;
    closedir(d);
    return n;
}

START_TEST(wrap_around)
{
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(repl_gcache_first(g), -1);
    for (int64_t s = 1; s <= 2000; s++) {
        if (s % 5 == 0)
            ck_assert_int_eq(repl_gcache_put(g, &group_a, s, NULL), 0);
        else
            put_ws(g, s, dlen_of(s));
        ck_assert_int_le(repl_gcache_bytes(g), 64 << 10);
    }
    int64_t first = repl_gcache_first(g);
    ck_assert_int_gt(first, 1000); /* wrapped many times */
    ck_assert_int_eq(repl_gcache_last(g), 2000);
    ck_assert(repl_gcache_has(g, first, 2000));
    ck_assert(!repl_gcache_has(g, first - 1, 2000));
    for (int64_t s = first; s <= 2000; s++) {
        if (s % 5 == 0) {
            struct repl_ws *ws = (struct repl_ws *)1;
            ck_assert_int_eq(repl_gcache_get(g, s, &ws), 0);
            ck_assert_ptr_null(ws);
        } else {
            check_ws(g, s, dlen_of(s));
        }
    }
    ck_assert_int_eq(count_pages(), 0);
    repl_gcache_free(g);
}
END_TEST

START_TEST(history_and_gap)
{
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    for (int64_t s = 10; s <= 20; s++) put_ws(g, s, 50);
    ck_assert_int_eq(repl_gcache_first(g), 10);
    put_ws(g, 25, 50); /* a gap: starts over */
    ck_assert_int_eq(repl_gcache_first(g), 25);
    struct repl_ws *ws = make_ws(26, 50);
    ck_assert_int_eq(repl_gcache_put(g, &group_b, 26, ws), 0); /* another history */
    repl_ws_unref(ws);
    ck_assert_int_eq(repl_gcache_first(g), 26);
    ck_assert_int_eq(repl_gcache_last(g), 26);
    repl_gcache_free(g);
}
END_TEST

START_TEST(overflow_pages)
{
    struct repl_gcache *g = open_store(16 << 10, true, &group_a);
    put_ws(g, 1, 100);
    put_ws(g, 2, 40 << 10); /* bigger than the ring */
    ck_assert_int_eq(count_pages(), 1);
    put_ws(g, 3, 100);
    check_ws(g, 2, 40 << 10);
    check_ws(g, 3, 100);
    ck_assert_int_eq(repl_gcache_first(g), 1);
    /* small ones wrap the ring: 1 and 2 fall out, and the page with them */
    for (int64_t s = 4; s <= 200; s++) put_ws(g, s, 200);
    ck_assert_int_gt(repl_gcache_first(g), 2);
    ck_assert_int_eq(count_pages(), 0);
    ck_assert_int_eq(repl_gcache_pages(g), 0);
    repl_gcache_free(g);
}
END_TEST

START_TEST(keep_pages)
{
    struct repl_gcache_cfg c = {.dir = dir, .size = 16 << 10, .page_size = 64 << 10,
                                .keep_pages_size = 1 << 20, .recover = true};
    struct repl_gcache *g = repl_gcache_open(&c, &group_a);
    put_ws(g, 1, 40 << 10);
    for (int64_t s = 2; s <= 200; s++) put_ws(g, s, 200);
    ck_assert_int_gt(repl_gcache_first(g), 1);
    ck_assert_int_eq(count_pages(), 1); /* empty, but within keep_pages_size */
    repl_gcache_set_pages(g, 64 << 10, 0);
    ck_assert_int_eq(count_pages(), 0);
    repl_gcache_free(g);
}
END_TEST

START_TEST(pinning)
{
    struct repl_gcache *g = open_store(16 << 10, true, &group_a);
    for (int64_t s = 1; s <= 50; s++) put_ws(g, s, 200);
    int64_t first = repl_gcache_first(g);
    ck_assert_ptr_null(repl_gcache_pin(g, first - 1, 50)); /* not all held */
    struct repl_gcache_pin *p = repl_gcache_pin(g, first, 50);
    ck_assert_ptr_nonnull(p);
    for (int64_t s = 51; s <= 400; s++) put_ws(g, s, 200);
    ck_assert_int_eq(repl_gcache_first(g), first); /* nothing pinned was overwritten */
    ck_assert_int_gt(count_pages(), 0);            /* the newer ones went to pages */
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (int64_t s = first; s <= 50; s++) {
        ck_assert_int_eq(repl_gcache_read(p, s, &buf, &cap, &len), 1);
        struct repl_ws *want = make_ws(s, 200);
        ck_assert_uint_eq(len, want->len);
        ck_assert(memcmp(buf, want->buf, len) == 0);
        repl_ws_unref(want);
    }
    ck_assert_int_eq(repl_gcache_read(p, 51, &buf, &cap, &len), -ENODATA); /* outside the pin */
    for (int64_t s = 51; s <= 400; s++) check_ws(g, s, 200);
    repl_gcache_unpin(p);
    for (int64_t s = 401; s <= 700; s++) put_ws(g, s, 200);
    ck_assert_int_gt(repl_gcache_first(g), 400);
    ck_assert_int_eq(count_pages(), 0);
    /* a reset (a new history) makes a pin's reads fail, not return other bytes */
    p = repl_gcache_pin(g, 700, 700);
    ck_assert_ptr_nonnull(p);
    struct repl_ws *ws = make_ws(1, 10);
    ck_assert_int_eq(repl_gcache_put(g, &group_b, 1, ws), 0);
    repl_ws_unref(ws);
    ck_assert_int_eq(repl_gcache_read(p, 700, &buf, &cap, &len), -ENODATA);
    repl_gcache_unpin(p);
    free(buf);
    repl_gcache_free(g);
}
END_TEST

START_TEST(forget_marks_no_work)
{
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    for (int64_t s = 1; s <= 10; s++) put_ws(g, s, 100);
    repl_gcache_forget(g, 5);
    struct repl_ws *ws = (struct repl_ws *)1;
    ck_assert_int_eq(repl_gcache_get(g, 5, &ws), 0);
    ck_assert_ptr_null(ws);
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a); /* the mark is in the file */
    ck_assert_int_eq(repl_gcache_first(g), 1);
    ck_assert_int_eq(repl_gcache_last(g), 10);
    ws = (struct repl_ws *)1;
    ck_assert_int_eq(repl_gcache_get(g, 5, &ws), 0);
    ck_assert_ptr_null(ws);
    check_ws(g, 6, 100);
    repl_gcache_free(g);
}
END_TEST

/* Fills a 64K store with 1..n (wrapping) and closes it; returns the first seqno held. */
static int64_t fill_and_close(int64_t n)
{
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    for (int64_t s = 1; s <= n; s++) put_ws(g, s, dlen_of(s));
    int64_t first = repl_gcache_first(g);
    repl_gcache_free(g);
    return first;
}

/* The file offset of seqno's record header (a scan, as a test knows no index). */
static off_t find_record(int64_t seqno)
{
    char path[256];
    snprintf(path, sizeof path, "%s/galera.cache", dir);
    int fd = open(path, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    off_t at = -1;
    for (off_t o = REPL_GCACHE_FILE_HDR; o + 32 <= st.st_size; o += 8)
        if (tr_get_u32(m + o) == 0x53575254u && (int64_t)tr_get_u64(m + o + 8) == seqno) at = o;
    munmap(m, (size_t)st.st_size);
    ck_assert_int_ge(at, 0);
    return at;
}

static void flip_byte(off_t at)
{
    char path[256];
    snprintf(path, sizeof path, "%s/galera.cache", dir);
    int fd = open(path, O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

START_TEST(reopen_clean)
{
    int64_t first = fill_and_close(1500);
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_last(g), 1500);
    ck_assert_int_le(repl_gcache_first(g), first); /* intact older records count too */
    ck_assert_int_gt(repl_gcache_first(g), 1);
    for (int64_t s = repl_gcache_first(g); s <= 1500; s++) check_ws(g, s, dlen_of(s));
    /* and it goes on from there, wrapping over the recovered records */
    for (int64_t s = 1501; s <= 3000; s++) put_ws(g, s, dlen_of(s));
    ck_assert_int_gt(repl_gcache_first(g), 1500);
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_last(g), 3000);
    for (int64_t s = repl_gcache_first(g); s <= 3000; s++) check_ws(g, s, dlen_of(s));
    repl_gcache_free(g);
}
END_TEST

START_TEST(reopen_torn_tail)
{
    fill_and_close(1500);
    flip_byte(find_record(1500) + 32 + 60); /* the last write-set's payload */
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_last(g), 1499);
    check_ws(g, 1499, dlen_of(1499));
    repl_gcache_free(g);
    /* a torn header is cut the same way */
    fill_and_close(1500);
    flip_byte(find_record(1500) + 17);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_last(g), 1499);
    repl_gcache_free(g);
}
END_TEST

/* A primary view of two members with conf id 7, as the core puts one at its seqno. */
static struct repl_view *two_member_view(void)
{
    struct repl_view *v = calloc(1, repl_view_size(2));
    ck_assert_ptr_nonnull(v);
    v->view = 7;
    v->memb_num = 2;
    for (int k = 0; k < 2; k++) {
        memset(v->members[k].id.data, 0x30 + k, 16);
        snprintf(v->members[k].name, sizeof v->members[k].name, "node%d", k);
        snprintf(v->members[k].incoming, sizeof v->members[k].incoming, "10.0.0.%d:3306", k + 1);
    }
    return v;
}

/* A view's record holds its conf id and members: read back (as an IST sender does) and after a
 * reopen, and a record torn in its members is cut at recovery like a torn write-set. */
/* Bytes of path the file system reports as data (lseek SEEK_DATA/SEEK_HOLE); -1 when it cannot say. */
static off_t data_bytes(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    off_t size = lseek(fd, 0, SEEK_END), total = 0;
    for (off_t from = 0; from < size;) {
        off_t d = lseek(fd, from, SEEK_DATA);
        if (d < 0) break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0) {
            total = -1;
            break;
        }
        total += h - d;
        from = h;
    }
    close(fd);
    return total;
}

/* A big ring that holds a few records: recovery reads only the stretches ever written. Its own
 * reads make the kernel read ahead past a stretch, and the pages read ahead count as data: a
 * scan that asked for the next stretch after reading the last one crept through the whole file
 * (3 s for 1 GiB at every start). */
START_TEST(reopen_reads_written_only)
{
    const int64_t size = 256 << 20;
    struct repl_gcache *g = open_store(size, true, &group_a);
    for (int64_t s = 1; s <= 200; s++) put_ws(g, s, dlen_of(s));
    repl_gcache_free(g);
    char path[600];
    snprintf(path, sizeof path, "%s/galera.cache", dir);
    off_t before = data_bytes(path);
    if (before < 0 || before > size / 4) { /* no holes to be seen here: nothing to check */
        fprintf(stderr, "reopen_reads_written_only: %s shows no holes, not checked\n", dir);
        return;
    }
    g = open_store(size, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), 1);
    ck_assert_int_eq(repl_gcache_last(g), 200);
    ck_assert_int_le(data_bytes(path), before + (16 << 20));
    repl_gcache_free(g);
}
END_TEST

START_TEST(view_records)
{
    struct repl_view *v = two_member_view();
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    put_ws(g, 1, 100);
    ck_assert_int_eq(repl_gcache_put_view(g, &group_a, 2, v), 0);
    put_ws(g, 3, 100);
    struct repl_ws *ws = (struct repl_ws *)1;
    ck_assert_int_eq(repl_gcache_get(g, 2, &ws), 0);
    ck_assert_ptr_null(ws); /* no write-set to apply there */
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), 1);
    ck_assert_int_eq(repl_gcache_last(g), 3);
    struct repl_gcache_pin *p = repl_gcache_pin(g, 1, 3);
    ck_assert_ptr_nonnull(p);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    ck_assert_int_eq(repl_gcache_read(p, 2, &buf, &cap, &len), 2);
    struct repl_view *d = repl_vrec_decode(buf, len, 2);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->view, 7);
    ck_assert_int_eq(d->memb_num, 2);
    ck_assert_int_eq(d->state_id.seqno, 2);
    ck_assert_int_eq(d->status, REPL_VIEW_PRIMARY);
    ck_assert_int_eq(d->my_idx, -1);
    for (int k = 0; k < 2; k++) {
        ck_assert(tr_uuid_compare(&d->members[k].id, &v->members[k].id) == 0);
        ck_assert_str_eq(d->members[k].name, v->members[k].name);
        ck_assert_str_eq(d->members[k].incoming, v->members[k].incoming);
    }
    uint8_t small[8];
    ck_assert_int_eq(repl_gcache_read_into(p, 2, small, sizeof small, &len), -ENOSPC);
    for (size_t cut = 0; cut < len; cut++) /* a short or altered record never decodes */
        ck_assert_int_ne(repl_vrec_check(buf, cut, NULL), 0);
    buf[len / 2] ^= 0x40;
    ck_assert_ptr_null(repl_vrec_decode(buf, len, 2));
    free(d);
    free(buf);
    repl_gcache_unpin(p);
    repl_gcache_free(g);
    flip_byte(find_record(2) + 32 + 40); /* inside the first member */
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), 3);
    repl_gcache_free(g);
    free(v);
}
END_TEST

START_TEST(reopen_corrupt_middle)
{
    int64_t first = fill_and_close(1500);
    int64_t bad = first + (1500 - first) / 2;
    flip_byte(find_record(bad) + 32 + 70);
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), bad + 1);
    ck_assert_int_eq(repl_gcache_last(g), 1500);
    struct repl_ws *ws;
    ck_assert_int_eq(repl_gcache_get(g, bad, &ws), -1);
    for (int64_t s = bad + 1; s <= 1500; s++) check_ws(g, s, dlen_of(s));
    repl_gcache_free(g);
}
END_TEST

START_TEST(reopen_truncated_file)
{
    fill_and_close(500);
    char path[256];
    snprintf(path, sizeof path, "%s/galera.cache", dir);
    ck_assert_int_eq(truncate(path, 20000), 0);
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(repl_gcache_first(g), -1); /* reset, and sized again */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, REPL_GCACHE_FILE_HDR + (64 << 10));
    put_ws(g, 1, 10);
    repl_gcache_free(g);
    /* garbage for a header: reset too */
    fill_and_close(10);
    flip_byte(3);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), -1);
    repl_gcache_free(g);
}
END_TEST

START_TEST(reopen_other_history)
{
    fill_and_close(100);
    struct repl_gcache *g = open_store(64 << 10, true, &group_b);
    ck_assert_int_eq(repl_gcache_first(g), -1);
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a); /* the reset is for good */
    ck_assert_int_eq(repl_gcache_first(g), -1);
    repl_gcache_free(g);
    fill_and_close(100);
    g = open_store(64 << 10, true, &tr_uuid_nil); /* a node without a position */
    ck_assert_int_eq(repl_gcache_first(g), -1);
    repl_gcache_free(g);
}
END_TEST

START_TEST(recover_no)
{
    fill_and_close(100);
    struct repl_gcache *g = open_store(64 << 10, false, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), -1);
    put_ws(g, 7, 10); /* a fresh epoch: none of the old records come back */
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(repl_gcache_first(g), 7);
    ck_assert_int_eq(repl_gcache_last(g), 7);
    repl_gcache_free(g);
}
END_TEST

START_TEST(stale_pages_removed)
{
    char path[256];
    snprintf(path, sizeof path, "%s/gcache.page.000042", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_int_eq(count_pages(), 0);
    repl_gcache_free(g);
}
END_TEST

START_TEST(one_node_per_file)
{
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_null(open_store(64 << 10, true, &group_a)); /* locked */
    repl_gcache_free(g);
    g = open_store(64 << 10, true, &group_a);
    ck_assert_ptr_nonnull(g);
    repl_gcache_free(g);
}
END_TEST

START_TEST(anonymous)
{
    struct repl_gcache *g = repl_gcache_new(8192);
    for (int64_t s = 1; s <= 100; s++) put_ws(g, s, 300);
    ck_assert_int_eq(repl_gcache_last(g), 100);
    ck_assert_int_gt(repl_gcache_first(g), 80);
    put_ws(g, 101, 20000); /* bigger than the ring: an anonymous page */
    check_ws(g, 101, 20000);
    ck_assert_int_eq(repl_gcache_pages(g), 1);
    repl_gcache_free(g);
}
END_TEST

/* A joiner's held list (repl_xfer) holds an ordered action the way the core does: the store
 * got the seqno first (a write-set, or "no work"), then the action is held. */
static int hold_one(struct repl_xfer *x, struct repl_gcache *g, int64_t s, enum repl_act_kind kind)
{
    struct repl_act a = {.kind = kind, .seqno = s, .depends = s - 1};
    if (kind != REPL_ACT_VIEW) {
        a.ws = make_ws(s, 200);
        ck_assert_int_eq(repl_ws_decode(a.ws, 0), 0); /* as the driver's pump does */
    }
    repl_gcache_put(g, &group_a, s, kind == REPL_ACT_APPLY ? a.ws : NULL);
    return repl_xfer_hold(x, &a);
}

static enum repl_act_kind held_kind(int64_t s)
{
    return s % 100 == 0 ? REPL_ACT_VIEW : s % 37 == 0 ? REPL_ACT_SKIP : REPL_ACT_APPLY;
}

START_TEST(held_spill_bounded)
{
    /* a 64 KiB ring, 8 KiB of held write-sets in memory, 2000 held actions (~560 KiB) */
    struct repl_gcache *g = open_store(64 << 10, true, &group_a);
    struct repl_xfer x = {.gcache = g, .mem_max = 8 << 10};
    int64_t max_mem_ws = 0;
    for (int64_t s = 1; s <= 2000; s++) {
        ck_assert_int_eq(hold_one(&x, g, s, held_kind(s)), 0);
        ck_assert_int_le(x.mem_bytes, 8 << 10);
        if (x.mem_ws > max_mem_ws) max_mem_ws = x.mem_ws;
    }
    ck_assert_int_eq(x.held, 2000);
    ck_assert_int_le(max_mem_ws, (8 << 10) / 200); /* each write-set is over 200 bytes */
    ck_assert_int_gt(x.spilled, 1900);
    ck_assert_int_eq(x.mem_ws + x.spilled + 20, 2000); /* 20 views, held as they are */
    ck_assert_int_le(repl_gcache_first(g), 2000 - x.spilled + 1); /* the pin kept them */
    ck_assert_int_gt(count_pages(), 0);                           /* newer ones went to pages */
    /* a vote fails 1501 everywhere after it was held: it is skipped, not applied */
    repl_gcache_forget(g, 1501);
    repl_xfer_held_skip(&x, 1501);
    int64_t next = 11, batches = 0;
    while (x.head) {
        struct repl_acts out = {0};
        int64_t k = 0;
        /* the state received holds 1..10: those are dropped */
        ck_assert_int_eq(repl_xfer_release(&x, 10, &out, &k, 4096), 0);
        ck_assert_int_eq((int64_t)out.n, k);
        ck_assert_int_gt(k, 0);
        size_t bytes = 0;
        for (size_t i = 0; i < out.n; i++, next++) {
            struct repl_act *a = &out.a[i];
            ck_assert_int_eq(a->seqno, next);
            enum repl_act_kind want = next == 1501 ? REPL_ACT_SKIP : held_kind(next);
            ck_assert_int_eq(a->kind, want);
            if (want == REPL_ACT_APPLY) {
                struct repl_ws *w = make_ws(next, 200);
                ck_assert_ptr_nonnull(a->ws);
                ck_assert_int_eq(a->ws->decode_rc, 0);
                ck_assert_uint_eq(a->ws->len, w->len);
                ck_assert(memcmp(a->ws->buf, w->buf, w->len) == 0);
                bytes += w->len;
                repl_ws_unref(w);
            }
            if (next == 1501) ck_assert(a->ok);
        }
        ck_assert_uint_le(bytes, 4096 + 8192 + 300); /* a batch: the budget, or what was in memory */
        repl_acts_free(&out);
        batches++;
    }
    ck_assert_int_eq(next, 2001);
    ck_assert_int_gt(batches, 100);
    ck_assert_int_eq(x.held, 0);
    ck_assert_int_eq(x.spilled, 0);
    ck_assert_int_eq(x.mem_bytes, 0);
    ck_assert_ptr_null(x.pin); /* released: the ring may overwrite them again */
    repl_xfer_clear(&x);
    repl_gcache_free(g);
}
END_TEST

START_TEST(held_spill_store_cannot_keep)
{
    /* the ring is full of pinned held write-sets and no overflow page can be made (a full
     * disk): the store starts over, and the next hold says so instead of losing one */
    struct repl_gcache *g = open_store(16 << 10, true, &group_a);
    struct repl_xfer x = {.gcache = g, .mem_max = 1024};
    tr_fail_arm("gcache.page", 1, true);
    int rc = 0;
    int64_t s = 1;
    while (!rc && s < 1000) rc = hold_one(&x, g, s++, REPL_ACT_APPLY);
    tr_fail_disarm();
    ck_assert_int_eq(rc, -2);
    ck_assert_int_lt(s, 200); /* 16 KiB of ring: well before */
    ck_assert_ptr_nonnull(strstr(x.why, "could not keep"));
    repl_xfer_clear(&x);
    ck_assert_ptr_null(x.pin);

    /* the store starts over under spilled ones (another history): the release fails */
    struct repl_xfer y = {.gcache = g, .mem_max = 1024};
    repl_gcache_reset(g);
    for (s = 1; s <= 20; s++) ck_assert_int_eq(hold_one(&y, g, s, REPL_ACT_APPLY), 0);
    ck_assert_int_gt(y.spilled, 0);
    struct repl_ws *ws = make_ws(1, 10);
    ck_assert_int_eq(repl_gcache_put(g, &group_b, 1, ws), 0);
    repl_ws_unref(ws);
    struct repl_acts out = {0};
    int64_t k = 0;
    ck_assert_int_eq(repl_xfer_release(&y, 0, &out, &k, 0), -2);
    ck_assert_ptr_nonnull(strstr(y.why, "lost held seqno"));
    for (size_t i = 0; i < out.n; i++) ck_assert_int_eq(out.a[i].seqno, (int64_t)i + 1); /* a prefix */
    ck_assert_int_eq((int64_t)out.n, 20 - y.spilled);
    repl_acts_free(&out);
    repl_xfer_clear(&y);
    repl_gcache_free(g);
}
END_TEST

static Suite *gcache_suite(void)
{
    Suite *s = suite_create("gcache");
    TCase *t = tcase_create("store");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, wrap_around);
    tcase_add_test(t, history_and_gap);
    tcase_add_test(t, overflow_pages);
    tcase_add_test(t, keep_pages);
    tcase_add_test(t, pinning);
    tcase_add_test(t, forget_marks_no_work);
    tcase_add_test(t, reopen_clean);
    tcase_add_test(t, reopen_torn_tail);
    tcase_add_test(t, reopen_corrupt_middle);
    tcase_add_test(t, view_records);
    tcase_add_test(t, reopen_truncated_file);
    tcase_add_test(t, reopen_reads_written_only);
    tcase_add_test(t, reopen_other_history);
    tcase_add_test(t, recover_no);
    tcase_add_test(t, stale_pages_removed);
    tcase_add_test(t, one_node_per_file);
    tcase_add_test(t, anonymous);
    tcase_add_test(t, held_spill_bounded);
    tcase_add_test(t, held_spill_store_cannot_keep);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(gcache_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
