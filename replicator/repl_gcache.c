/* replicator/repl_gcache: the on-disk write-set store (see repl_gcache.h): a ring file, overflow
 * pages, recovery by scanning the ring, pins for IST readers. One mutex guards it all. */
#include "replicator/repl_gcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tr_buf.h"
#include "common/tr_crc32c.h"
#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "replicator/repl_vrec.h"

#define FILE_MAGIC 0x43475254u /* "TRGC" */
#define FILE_VERSION 1u
#define FILE_HDR_USED 52
#define REC_MAGIC 0x53575254u /* "TRWS" */
#define REC_WS 1
#define REC_NOWORK 2
#define REC_VIEW 3 /* a primary view: repl_vrec */
#define PAGE_PREFIX "gcache.page."
#define HR REPL_GCACHE_REC_HDR

/* Where a held seqno's record is: page 0 is the ring, otherwise the page with that id. */
struct loc {
    uint32_t page;
    uint32_t pad;
    uint64_t off;
};

struct page {
    struct page *next;
    uint32_t id;
    uint8_t *map;
    size_t size, used;
    int64_t live; /* records held in it */
};

struct repl_gcache_pin {
    struct repl_gcache *g;
    struct repl_gcache_pin *next;
    int64_t from, to;
    uint64_t gen;
};

struct repl_gcache {
    pthread_mutex_t mu;
    char dir[1024], path[1100];
    int fd;             /* -1: anonymous */
    uint8_t *map;       /* file header, then the ring */
    size_t map_len, ring; /* ring bytes (a multiple of 8) */
    uint8_t *r;         /* map + REPL_GCACHE_FILE_HDR */
    tr_uuid group;
    uint32_t epoch;     /* records of another epoch are not this store's */
    uint64_t gen;       /* bumped by every reset: pins taken before fail */
    /* held seqnos first .. first+n-1, their locations in a ring buffer of cap entries */
    int64_t first, n;
    struct loc *loc;
    size_t cap, lhead;
    size_t head, tail, ring_n; /* ring records: oldest at head, next write at tail */
    int64_t bytes;
    struct page *pages, *last_page;
    uint32_t next_page;
    int64_t page_bytes, page_size, keep_pages;
    struct repl_gcache_pin *pins;
};

static size_t rec_size(uint64_t len)
{
    return (size_t)((HR + len + 7) & ~(uint64_t)7);
}

static uint32_t rec_crc(const uint8_t *h)
{
    return tr_crc32c(0, h, HR - 4);
}

static void rec_write_hdr(uint8_t *h, uint32_t epoch, int64_t seqno, uint32_t len, int kind)
{
    memset(h, 0, HR);
    tr_put_u32(h, REC_MAGIC);
    tr_put_u32(h + 4, epoch);
    tr_put_u64(h + 8, (uint64_t)seqno);
    tr_put_u32(h + 16, len);
    h[20] = (uint8_t)kind;
    tr_put_u32(h + 28, rec_crc(h));
}

/* ---- the file header ---- */

static void file_hdr_write(struct repl_gcache *g)
{
    uint8_t *h = g->map;
    memset(h, 0, FILE_HDR_USED);
    tr_put_u32(h, FILE_MAGIC);
    tr_put_u32(h + 4, FILE_VERSION);
    memcpy(h + 8, g->group.data, 16);
    tr_put_u64(h + 24, g->ring);
    tr_put_u32(h + 32, g->epoch);
    tr_put_u32(h + 48, tr_crc32c(0, h, 48));
}

/* 0 when the header is ours and describes a ring of map_len - header bytes. */
static int file_hdr_read(struct repl_gcache *g, const char **why)
{
    const uint8_t *h = g->map;
    if (tr_get_u32(h) != FILE_MAGIC || tr_get_u32(h + 48) != tr_crc32c(0, h, 48)) {
        *why = "no valid header";
        return -1;
    }
    if (tr_get_u32(h + 4) != FILE_VERSION) {
        *why = "another format version";
        return -1;
    }
    if (tr_get_u64(h + 24) != g->ring) {
        *why = "another gcache.size";
        return -1;
    }
    memcpy(g->group.data, h + 8, 16);
    g->epoch = tr_get_u32(h + 32);
    return 0;
}

/* ---- pages ---- */

static void page_path(const struct repl_gcache *g, uint32_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/" PAGE_PREFIX "%06u", g->dir, id);
}

static void page_drop(struct repl_gcache *g, struct page *p)
{
    struct page **pp = &g->pages;
    while (*pp != p) pp = &(*pp)->next;
    *pp = p->next;
    if (g->last_page == p) {
        g->last_page = NULL;
        for (struct page *q = g->pages; q; q = q->next) g->last_page = q;
    }
    munmap(p->map, p->size);
    if (g->fd >= 0) {
        char path[1200];
        page_path(g, p->id, path, sizeof path);
        if (unlink(path)) tr_warn("gcache: cannot delete page %s: %s", path, strerror(errno));
    }
    g->page_bytes -= (int64_t)p->size;
    free(p);
}

/* Pages whose records all fell out go, oldest first, while they weigh more than keep_pages. */
static void pages_trim(struct repl_gcache *g)
{
    struct page *p = g->pages;
    while (p && g->page_bytes > g->keep_pages) {
        struct page *nx = p->next;
        if (!p->live) page_drop(g, p);
        p = nx;
    }
}

static struct page *page_new(struct repl_gcache *g, size_t need)
{
    size_t size = (size_t)g->page_size > need ? (size_t)g->page_size : need;
    struct page *p = tr_fail_hit("gcache.page") ? NULL : calloc(1, sizeof *p);
    if (!p) return NULL;
    p->id = ++g->next_page;
    if (g->fd < 0) {
        p->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
        char path[1200];
        page_path(g, p->id, path, sizeof path);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size)) {
            tr_warn("gcache: cannot create page %s: %s", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(path);
            }
            free(p);
            return NULL;
        }
        p->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p->map == MAP_FAILED) unlink(path);
    }
    if (p->map == MAP_FAILED) {
        free(p);
        return NULL;
    }
    p->size = size;
    if (g->last_page)
        g->last_page->next = p;
    else
        g->pages = p;
    g->last_page = p;
    g->page_bytes += (int64_t)size;
    return p;
}

static struct page *page_find(struct repl_gcache *g, uint32_t id)
{
    for (struct page *p = g->pages; p; p = p->next)
        if (p->id == id) return p;
    return NULL;
}

/* Removes page files an earlier run left: their records are not recovered. */
static void pages_remove_old(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, PAGE_PREFIX, strlen(PAGE_PREFIX)) != 0) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) tr_info("gcache: deleted page %s left by an earlier run", path);
    }
    closedir(d);
}

/* ---- the index ---- */

static struct loc *loc_at(struct repl_gcache *g, int64_t seqno)
{
    return &g->loc[(g->lhead + (size_t)(seqno - g->first)) & (g->cap - 1)];
}

static uint8_t *rec_at(struct repl_gcache *g, const struct loc *l)
{
    if (!l->page) return g->r + l->off;
    struct page *p = page_find(g, l->page);
    return p ? p->map + l->off : NULL;
}

static int loc_push(struct repl_gcache *g, struct loc l)
{
    if ((size_t)g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        struct loc *nl = tr_fail_hit("gcache.put") ? NULL : malloc(cap * sizeof *nl);
        if (!nl) return -1;
        for (size_t i = 0; i < (size_t)g->n; i++) nl[i] = g->loc[(g->lhead + i) & (g->cap - 1)];
        free(g->loc);
        g->loc = nl;
        g->cap = cap;
        g->lhead = 0;
    }
    g->loc[(g->lhead + (size_t)g->n) & (g->cap - 1)] = l;
    g->n++;
    return 0;
}

static void drop_oldest(struct repl_gcache *g)
{
    struct loc *l = loc_at(g, g->first);
    uint8_t *h = rec_at(g, l);
    size_t sz = h ? rec_size(tr_get_u32(h + 16)) : 0;
    if (!l->page) {
        g->head = (size_t)l->off + sz;
        if (--g->ring_n == 0) g->head = g->tail;
    } else {
        struct page *p = page_find(g, l->page);
        if (p) p->live--;
    }
    g->bytes -= (int64_t)sz;
    g->lhead = (g->lhead + 1) & (g->cap - 1);
    g->first++;
    g->n--;
}

static void reset_locked(struct repl_gcache *g)
{
    g->first = g->n = 0;
    g->lhead = 0;
    g->head = g->tail = g->ring_n = 0;
    g->bytes = 0;
    g->gen++;
    g->epoch++;
    for (struct page *p = g->pages; p; p = p->next) p->live = 0;
    pages_trim(g);
    file_hdr_write(g);
}

void repl_gcache_reset(struct repl_gcache *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    reset_locked(g);
    pthread_mutex_unlock(&g->mu);
}

/* ---- recovery ---- */

struct cand {
    int64_t seqno;
    size_t off, size;
    int valid; /* 0 not checked, 1 good, -1 bad */
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->seqno != y->seqno) return x->seqno < y->seqno ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The record's bytes are whole: a write-set passes cert_ws's full validation (its checksums),
 * a view its own (repl_vrec's CRC). */
static bool cand_check(struct repl_gcache *g, struct cand *c)
{
    if (!c->valid) {
        const uint8_t *h = g->r + c->off;
        c->valid = 1;
        if (h[20] == REC_WS) {
            struct cert_ws_view v;
            if (cert_ws_decode(h + HR, tr_get_u32(h + 16), 0, &v) == 0)
                cert_ws_view_release(&v);
            else
                c->valid = -1;
        } else if (h[20] == REC_VIEW && repl_vrec_check(h + HR, tr_get_u32(h + 16), NULL)) {
            c->valid = -1;
        }
    }
    return c->valid > 0;
}

/* The predecessor of c (seqno s) among the candidates: seqno s-1 ending where c starts, or,
 * for c at offset 0 before the run wrapped, s-1 anywhere after the newest record's end. */
static struct cand *cand_pred(struct repl_gcache *g, struct cand *v, size_t nv, const struct cand *c,
                              bool wrapped, size_t newest_end)
{
    struct cand key = {.seqno = c->seqno - 1, .off = 0};
    size_t lo = 0, hi = nv;
    while (lo < hi) { /* first candidate >= key */
        size_t mid = (lo + hi) / 2;
        if (cand_cmp(&v[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < nv && v[i].seqno == key.seqno; i++) {
        struct cand *p = &v[i];
        bool adjacent = p->off + p->size == c->off;
        bool wraps = c->off == 0 && !wrapped && p->off >= newest_end;
        if (wrapped && p->off < newest_end) continue;
        if ((adjacent || wraps) && cand_check(g, p)) return p;
    }
    return NULL;
}

/* The stretches of the ring that were ever written, as [start, end) pairs in *out (n of them),
 * all found before a byte of the map is read. A new ring file is fallocated, and its unwritten
 * extents read as holes (lseek SEEK_DATA/SEEK_HOLE), so recovery skips them instead of faulting
 * in every never-written page (seconds for a 1 GiB ring that holds a few records). Asked up
 * front because the scan's own reads make the kernel read ahead past a stretch's end, and the
 * pages read ahead count as data: a stretch asked for after the scan reached it runs on to the
 * end of the file. Without a file, or where the file system cannot say, the whole ring.
 * -1 out of memory. */
static int written_spans(const struct repl_gcache *g, size_t **out, size_t *n)
{
    size_t cap = 16, k = 0;
    size_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const off_t base = REPL_GCACHE_FILE_HDR;
    bool whole = g->fd < 0;
    for (size_t from = 0; !whole && from < g->ring;) {
        off_t d = lseek(g->fd, base + (off_t)from, SEEK_DATA);
        if (d < 0 && errno == ENXIO) break; /* nothing written from here on */
        off_t h = d < 0 ? -1 : lseek(g->fd, d, SEEK_HOLE);
        if (h < 0) {
            whole = true;
            break;
        }
        size_t start = d - base > (off_t)from ? (size_t)(d - base) : from;
        start = (start + 7) & ~(size_t)7; /* record headers are 8-byte aligned */
        size_t end = h - base >= (off_t)g->ring ? g->ring : (size_t)(h - base);
        if (end > start) {
            if (k + 2 > cap) {
                size_t *nv = realloc(v, cap * 2 * sizeof *v);
                if (!nv) {
                    free(v);
                    return -1;
                }
                v = nv;
                cap *= 2;
            }
            v[k++] = start;
            v[k++] = end;
        }
        from = end > from ? end : from + 8;
    }
    if (whole) {
        v[0] = 0;
        v[1] = g->ring;
        k = 2;
    }
    *out = v;
    *n = k / 2;
    return 0;
}

/* Keeps the longest contiguous run of valid records of this epoch ending at the highest valid
 * seqno; everything else in the ring is garbage. -1 out of memory. */
static int recover_ring(struct repl_gcache *g)
{
    size_t cap = 1024, nv = 0, *span = NULL, nspan = 0;
    if (written_spans(g, &span, &nspan)) return -1;
    struct cand *v = malloc(cap * sizeof *v);
    if (!v) {
        free(span);
        return -1;
    }
    for (size_t i = 0; i < nspan; i++) { /* a record lies within one written stretch */
        for (size_t off = span[2 * i], end = span[2 * i + 1]; off + HR <= end; off += 8) {
            const uint8_t *h = g->r + off;
            if (tr_get_u32(h) != REC_MAGIC || tr_get_u32(h + 4) != g->epoch || tr_get_u32(h + 28) != rec_crc(h))
                continue;
            int64_t seqno = (int64_t)tr_get_u64(h + 8);
            size_t size = rec_size(tr_get_u32(h + 16));
            if ((h[20] != REC_WS && h[20] != REC_NOWORK && h[20] != REC_VIEW) || seqno < 0 || seqno == INT64_MAX || size > g->ring - off)
                continue;
            if (nv == cap) {
                struct cand *nvv = realloc(v, cap * 2 * sizeof *v);
                if (!nvv) {
                    free(v);
                    free(span);
                    return -1;
                }
                v = nvv;
                cap *= 2;
            }
            v[nv++] = (struct cand){seqno, off, size, 0};
        }
    }
    free(span);
    qsort(v, nv, sizeof *v, cand_cmp);
    struct cand *top = NULL;
    for (size_t i = nv; i-- > 0 && !top;)
        if (cand_check(g, &v[i])) top = &v[i];
    int rc = 0;
    if (top) {
        size_t newest_end = top->off + top->size, total = top->size, nc = 1, ccap = 1024;
        size_t *chain = malloc(ccap * sizeof *chain); /* offsets, newest first */
        bool wrapped = false;
        struct cand *low = top, *p;
        if (chain) chain[0] = top->off;
        while (chain && (p = cand_pred(g, v, nv, low, wrapped, newest_end)) && total + p->size <= g->ring) {
            if (p->off + p->size != low->off) wrapped = true; /* low sits at 0: the ring wrapped */
            if (nc == ccap) {
                size_t *nch = realloc(chain, ccap * 2 * sizeof *chain);
                if (!nch) break;
                chain = nch;
                ccap *= 2;
            }
            chain[nc++] = p->off;
            total += p->size;
            low = p;
        }
        size_t cap2 = 1024;
        while (cap2 < nc) cap2 *= 2;
        g->loc = chain ? malloc(cap2 * sizeof *g->loc) : NULL;
        if (!g->loc) {
            rc = -1;
        } else {
            g->cap = cap2;
            g->first = low->seqno;
            for (size_t i = nc; i-- > 0;) g->loc[g->n++] = (struct loc){0, 0, chain[i]};
            g->head = low->off;
            g->tail = newest_end;
            g->ring_n = nc;
            g->bytes = (int64_t)total;
        }
        free(chain);
    }
    free(v);
    return rc;
}

/* ---- life cycle ---- */

static struct repl_gcache *alloc_store(int64_t ring, int64_t page_size, int64_t keep_pages)
{
    struct repl_gcache *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->fd = -1;
    g->ring = (size_t)(ring < 4096 ? 4096 : ring) & ~(size_t)7;
    g->map_len = REPL_GCACHE_FILE_HDR + g->ring;
    g->page_size = page_size > 0 ? page_size : 128 << 20;
    g->keep_pages = keep_pages > 0 ? keep_pages : 0;
    return g;
}

static int map_anon(struct repl_gcache *g)
{
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        return -1;
    }
    g->r = g->map + REPL_GCACHE_FILE_HDR;
    return 0;
}

/* Recovers what map holds when its header is valid and names group; else starts empty. */
static int recover_or_reset(struct repl_gcache *g, const tr_uuid *group, const char *why_not,
                            const char *name)
{
    const char *why = why_not;
    bool recover = !why_not;
    if (recover && !file_hdr_read(g, &why)) {
        if (tr_uuid_compare(&g->group, group) != 0 || tr_uuid_is_nil(group)) {
            why = "another history than the node's position";
        } else {
            if (recover_ring(g)) return -1;
            if (g->n)
                tr_info("gcache: recovered seqnos %lld..%lld from %s", (long long)g->first,
                        (long long)(g->first + g->n - 1), name);
            return 0;
        }
    }
    tr_info("gcache: %s reset (%s)", name, why);
    tr_uuid r;
    tr_uuid_generate(&r); /* never an epoch an old record may carry */
    g->group = *group;
    g->epoch = tr_get_u32(r.data) ^ g->epoch;
    reset_locked(g);
    return 0;
}

struct repl_gcache *repl_gcache_new(int64_t max_bytes)
{
    struct repl_gcache *g = alloc_store(max_bytes, max_bytes > (1 << 20) ? max_bytes : 1 << 20, 0);
    if (!g || map_anon(g)) {
        free(g);
        return NULL;
    }
    file_hdr_write(g);
    return g;
}

struct repl_gcache *repl_gcache_open_image(const void *image, size_t len, const tr_uuid *group)
{
    if (len < REPL_GCACHE_FILE_HDR + 4096) return NULL;
    struct repl_gcache *g = alloc_store((int64_t)(len - REPL_GCACHE_FILE_HDR), 1 << 20, 0);
    if (!g || map_anon(g)) {
        free(g);
        return NULL;
    }
    memcpy(g->map, image, g->map_len);
    if (recover_or_reset(g, group, NULL, "image")) {
        repl_gcache_free(g);
        return NULL;
    }
    return g;
}

struct repl_gcache *repl_gcache_open(const struct repl_gcache_cfg *cfg, const tr_uuid *group)
{
    if (!cfg->dir || !cfg->dir[0]) {
        struct repl_gcache *g = repl_gcache_new(cfg->size);
        if (g) {
            g->page_size = cfg->page_size > 0 ? cfg->page_size : g->page_size;
            g->keep_pages = cfg->keep_pages_size;
        }
        return g;
    }
    struct repl_gcache *g = alloc_store(cfg->size, cfg->page_size, cfg->keep_pages_size);
    if (!g) return NULL;
    snprintf(g->dir, sizeof g->dir, "%s", cfg->dir);
    for (size_t l = strlen(g->dir); l > 1 && g->dir[l - 1] == '/';) g->dir[--l] = '\0';
    snprintf(g->path, sizeof g->path, "%s/%s", g->dir, cfg->name && cfg->name[0] ? cfg->name : "galera.cache");
    if (cfg->name && cfg->name[0] == '/') snprintf(g->path, sizeof g->path, "%s", cfg->name);
    struct stat st;
    bool exists = stat(g->path, &st) == 0, same_size = exists && st.st_size == (off_t)g->map_len;
    const char *why_not = !exists      ? "a new file"
                          : !same_size ? "its size is not gcache.size"
                          : !cfg->recover ? "gcache.recover=no"
                                          : NULL;
    g->fd = open(g->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (g->fd < 0) {
        tr_error("gcache: cannot open %s: %s", g->path, strerror(errno));
        goto fail;
    }
    /* two nodes on one file would serve each other's bytes */
    if (flock(g->fd, LOCK_EX | LOCK_NB)) {
        tr_error("gcache: %s is in use by another node (%s)", g->path, strerror(errno));
        goto fail;
    }
    pages_remove_old(g->dir);
    if (!same_size) {
        int rc = ftruncate(g->fd, 0) || ftruncate(g->fd, (off_t)g->map_len) ? errno : 0;
        if (!rc) rc = posix_fallocate(g->fd, 0, (off_t)g->map_len);
        if (rc == EOPNOTSUPP || rc == EINVAL) rc = 0; /* the file system cannot preallocate */
        if (rc) {
            tr_error("gcache: cannot size %s to %zu bytes: %s", g->path, g->map_len, strerror(rc));
            goto fail;
        }
    }
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        tr_error("gcache: cannot map %s: %s", g->path, strerror(errno));
        goto fail;
    }
    g->r = g->map + REPL_GCACHE_FILE_HDR;
    if (recover_or_reset(g, group, why_not, g->path)) {
        tr_error("gcache: out of memory recovering %s", g->path);
        goto fail;
    }
    return g;
fail:
    repl_gcache_free(g);
    return NULL;
}

void repl_gcache_free(struct repl_gcache *g)
{
    if (!g) return;
    while (g->pages) page_drop(g, g->pages);
    if (g->map) munmap(g->map, g->map_len);
    if (g->fd >= 0) close(g->fd);
    free(g->loc);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void repl_gcache_set_pages(struct repl_gcache *g, int64_t page_size, int64_t keep_pages_size)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    if (page_size > 0) g->page_size = page_size;
    g->keep_pages = keep_pages_size > 0 ? keep_pages_size : 0;
    pages_trim(g);
    pthread_mutex_unlock(&g->mu);
}

/* ---- writing ---- */

static int64_t pinned_from(const struct repl_gcache *g)
{
    int64_t m = INT64_MAX;
    for (const struct repl_gcache_pin *p = g->pins; p; p = p->next)
        if (p->gen == g->gen && p->from <= p->to && p->from < m) m = p->from;
    return m;
}

/* A place for size bytes in the ring, dropping the oldest records unless pinned: 0 and *off, or
 * -1 (it goes to a page). */
static int ring_place(struct repl_gcache *g, size_t size, size_t *off)
{
    if (size > g->ring) return -1;
    int64_t pin = pinned_from(g);
    for (;;) {
        if (!g->ring_n) {
            *off = g->tail + size <= g->ring ? g->tail : 0;
            return 0;
        }
        if (g->tail > g->head) { /* used: [head, tail) */
            if (g->tail + size <= g->ring) {
                *off = g->tail;
                return 0;
            }
            if (size <= g->head) {
                *off = 0;
                return 0;
            }
        } else if (g->tail + size <= g->head) { /* wrapped, free: [tail, head) */
            *off = g->tail;
            return 0;
        }
        if (!g->n || g->first >= pin) return -1;
        drop_oldest(g);
    }
}

/* Records seqno as kind, len bytes: copied from src, or written in place from view. */
static int put_rec(struct repl_gcache *g, const tr_uuid *group, int64_t seqno, int kind, const void *src,
                   uint32_t len, const struct repl_view *view)
{
    if (!g) return -1;
    pthread_mutex_lock(&g->mu);
    /* another history, or a position taken by transfer: start over there */
    if (tr_uuid_compare(group, &g->group) != 0 || (g->n && seqno != g->first + g->n)) {
        g->group = *group;
        reset_locked(g);
    }
    size_t size = rec_size(len), off = 0;
    struct loc l = {0, 0, 0};
    uint8_t *h;
    if (!ring_place(g, size, &off)) {
        h = g->r + off;
        l.off = off;
        g->tail = off + size;
        if (!g->ring_n++) g->head = off;
    } else {
        struct page *p = g->last_page;
        if (!p || p->size - p->used < size) p = page_new(g, size);
        if (!p) {
            reset_locked(g);
            pthread_mutex_unlock(&g->mu);
            return -1;
        }
        h = p->map + p->used;
        l.page = p->id;
        l.off = p->used;
        p->used += size;
        p->live++;
    }
    if (loc_push(g, l)) {
        reset_locked(g);
        pthread_mutex_unlock(&g->mu);
        return -1;
    }
    if (g->n == 1) g->first = seqno;
    if (view)
        repl_vrec_write(view, h + HR);
    else if (len)
        memcpy(h + HR, src, len);
    memset(h + HR + len, 0, size - HR - len); /* no stale bytes in the padding */
    rec_write_hdr(h, g->epoch, seqno, len, kind); /* the header last */
    g->bytes += (int64_t)size;
    /* pages are overflow, not a second cache: as Galera's keep_pages_size, their oldest
     * records fall out while the pages weigh more than it (unpinned; the newest stays), or a
     * store with a small ring would keep every write-set on disk for ever */
    int64_t pin = pinned_from(g);
    while (g->n > 1 && g->page_bytes > g->keep_pages && g->first < pin && loc_at(g, g->first)->page) {
        drop_oldest(g);
        pages_trim(g);
    }
    pages_trim(g);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

int repl_gcache_put(struct repl_gcache *g, const tr_uuid *group, int64_t seqno, const struct repl_ws *ws)
{
    return put_rec(g, group, seqno, ws ? REC_WS : REC_NOWORK, ws ? ws->buf : NULL, ws ? (uint32_t)ws->len : 0, NULL);
}

int repl_gcache_put_view(struct repl_gcache *g, const tr_uuid *group, int64_t seqno, const struct repl_view *v)
{
    return put_rec(g, group, seqno, REC_VIEW, NULL, (uint32_t)repl_vrec_size(v), v);
}

void repl_gcache_forget(struct repl_gcache *g, int64_t seqno)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    if (g->n && seqno >= g->first && seqno < g->first + g->n) {
        uint8_t *h = rec_at(g, loc_at(g, seqno));
        if (h) rec_write_hdr(h, g->epoch, seqno, tr_get_u32(h + 16), REC_NOWORK);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- reading ---- */

static bool has_locked(const struct repl_gcache *g, int64_t from, int64_t to)
{
    if (from > to) return true;
    return g->n && from >= g->first && to < g->first + g->n;
}

bool repl_gcache_has(struct repl_gcache *g, int64_t from, int64_t to)
{
    if (!g) return from > to;
    pthread_mutex_lock(&g->mu);
    bool r = has_locked(g, from, to);
    pthread_mutex_unlock(&g->mu);
    return r;
}

int64_t repl_gcache_first(struct repl_gcache *g)
{
    if (!g) return -1;
    pthread_mutex_lock(&g->mu);
    int64_t r = g->n ? g->first : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int64_t repl_gcache_first_of(struct repl_gcache *g, const tr_uuid *group)
{
    if (!g || tr_uuid_is_nil(group)) return -1;
    pthread_mutex_lock(&g->mu);
    int64_t r = g->n && !tr_uuid_compare(&g->group, group) ? g->first : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int64_t repl_gcache_last(struct repl_gcache *g)
{
    if (!g) return -1;
    pthread_mutex_lock(&g->mu);
    int64_t r = g->n ? g->first + g->n - 1 : -1;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int64_t repl_gcache_bytes(struct repl_gcache *g)
{
    if (!g) return 0;
    pthread_mutex_lock(&g->mu);
    int64_t r = g->bytes;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int64_t repl_gcache_pages(struct repl_gcache *g)
{
    if (!g) return 0;
    pthread_mutex_lock(&g->mu);
    int64_t r = 0;
    for (struct page *p = g->pages; p; p = p->next) r++;
    pthread_mutex_unlock(&g->mu);
    return r;
}

struct repl_gcache_pin *repl_gcache_pin(struct repl_gcache *g, int64_t from, int64_t to)
{
    if (!g) return NULL;
    struct repl_gcache_pin *p = tr_fail_hit("gcache.pin") ? NULL : calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_lock(&g->mu);
    if (!has_locked(g, from, to)) {
        pthread_mutex_unlock(&g->mu);
        free(p);
        return NULL;
    }
    *p = (struct repl_gcache_pin){g, g->pins, from, to, g->gen};
    g->pins = p;
    pthread_mutex_unlock(&g->mu);
    return p;
}

void repl_gcache_unpin(struct repl_gcache_pin *p)
{
    if (!p) return;
    struct repl_gcache *g = p->g;
    pthread_mutex_lock(&g->mu);
    struct repl_gcache_pin **pp = &g->pins;
    while (*pp != p) pp = &(*pp)->next;
    *pp = p->next;
    pthread_mutex_unlock(&g->mu);
    free(p);
}

int repl_gcache_pin_extend(struct repl_gcache_pin *p, int64_t to)
{
    struct repl_gcache *g = p->g;
    pthread_mutex_lock(&g->mu);
    int rc = p->gen == g->gen && has_locked(g, p->from, to) ? 0 : -1;
    if (!rc && to > p->to) p->to = to;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* Copies the record at seqno; 1 write-set, 2 view, 0 no work, negative errno. Under g->mu. */
static int read_locked(struct repl_gcache *g, int64_t seqno, uint8_t **buf, size_t *cap, size_t *len)
{
    if (!has_locked(g, seqno, seqno)) return -ENODATA;
    const uint8_t *h = rec_at(g, loc_at(g, seqno));
    if (!h) return -ENODATA;
    *len = 0;
    if (h[20] != REC_WS && h[20] != REC_VIEW) return 0;
    size_t n = tr_get_u32(h + 16);
    if (n > *cap || !*buf) {
        uint8_t *nb = tr_fail_hit("gcache.read") ? NULL : realloc(*buf, n ? n : 1);
        if (!nb) return -ENOMEM;
        *buf = nb;
        *cap = n;
    }
    memcpy(*buf, h + HR, n);
    *len = n;
    return h[20] == REC_WS ? 1 : 2;
}

int repl_gcache_read(struct repl_gcache_pin *p, int64_t seqno, uint8_t **buf, size_t *cap, size_t *len)
{
    struct repl_gcache *g = p->g;
    pthread_mutex_lock(&g->mu);
    int rc = p->gen != g->gen || seqno < p->from || seqno > p->to ? -ENODATA
                                                                  : read_locked(g, seqno, buf, cap, len);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int repl_gcache_read_into(struct repl_gcache_pin *p, int64_t seqno, uint8_t *dst, size_t room, size_t *len)
{
    struct repl_gcache *g = p->g;
    int rc = -ENODATA;
    *len = 0;
    pthread_mutex_lock(&g->mu);
    const uint8_t *h = p->gen != g->gen || seqno < p->from || seqno > p->to || !has_locked(g, seqno, seqno)
                           ? NULL
                           : rec_at(g, loc_at(g, seqno));
    if (h && h[20] != REC_WS && h[20] != REC_VIEW) {
        rc = 0;
    } else if (h) {
        *len = tr_get_u32(h + 16);
        rc = *len > room ? -ENOSPC : h[20] == REC_WS ? 1 : 2;
        if (rc > 0) memcpy(dst, h + HR, *len);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int repl_gcache_get(struct repl_gcache *g, int64_t seqno, struct repl_ws **ws)
{
    if (!g) return -1;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    pthread_mutex_lock(&g->mu);
    int rc = read_locked(g, seqno, &buf, &cap, &len);
    pthread_mutex_unlock(&g->mu);
    *ws = NULL;
    if (rc < 0) {
        free(buf);
        return -1;
    }
    if (rc != 1) { /* no work, or a view: no write-set */
        free(buf);
        return 0;
    }
    *ws = repl_ws_new(buf, len);
    return *ws ? 0 : -1;
}
