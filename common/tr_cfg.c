/* common/tr_cfg: registration, value parsing, all-or-nothing option strings and formatting.
 * One mutex guards the whole store; listeners run after it is released. */
#include "common/tr_cfg.h"

#include "common/tr_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LISTENERS 8
#define MAX_KEY_LEN 256
#define MAX_VALUE_LEN 4096

union tr_cfg_val {
    bool b;
    int64_t i; /* INT, SIZE, DURATION (ns) */
    double d;
};

struct entry {
    char *name;
    enum tr_cfg_type type;
    unsigned flags;
    int64_t min, max;
    double dmin, dmax;
    const char *const *choices;
    char *value; /* NULL: unset */
    union tr_cfg_val v;
    bool user_set;
    uint64_t mark; /* parse generation, to notify each key once */
};

struct listener {
    tr_cfg_listener fn;
    void *arg;
};

struct tr_cfg {
    pthread_mutex_t mu;
    struct entry *entries; /* sorted by name */
    size_t n, cap;
    struct listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    uint64_t gen;
};

/* ---- error text ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- value parsers ---- */

static bool is_ws(char c)
{
    return isspace((unsigned char)c) != 0;
}

/* Digits into a non-negative value; p advances. -1 on no digits or > limit. */
static int parse_digits(const char **p, uint64_t limit, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s)) return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10) return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

static int suffix_shift(char c)
{
    switch (c) {
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
    default: return -1;
    }
}

/* digits with an optional K/M/G/T suffix, whole string, magnitude <= INT64_MAX */
static int parse_magnitude(const char *s, uint64_t *out)
{
    uint64_t v;
    if (parse_digits(&s, (uint64_t)INT64_MAX, &v) != 0) return -1;
    if (*s) {
        int sh = suffix_shift(*s);
        if (sh < 0 || s[1]) return -1;
        if (v > ((uint64_t)INT64_MAX >> sh)) return -1;
        v <<= sh;
    }
    *out = v;
    return 0;
}

int tr_cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "yes", "y", "true", "on"};
    static const char *const no[] = {"0", "no", "n", "false", "off"};
    if (!s) return -1;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

int tr_cfg_parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t v;
    if (!s) return -1;
    if (*s == '-' || *s == '+') neg = (*s++ == '-');
    if (parse_magnitude(s, &v) != 0) return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int tr_cfg_parse_size(const char *s, int64_t *out)
{
    uint64_t v;
    if (!s || parse_magnitude(s, &v) != 0) return -1;
    *out = (int64_t)v;
    return 0;
}

/* ns += n * unit, with overflow checks */
static int add_scaled(int64_t *ns, uint64_t n, int64_t unit)
{
    int64_t prod;
    if (n > (uint64_t)INT64_MAX) return -1;
    if (__builtin_mul_overflow((int64_t)n, unit, &prod)) return -1;
    if (__builtin_add_overflow(*ns, prod, ns)) return -1;
    return 0;
}

/* ".ddd" after whole seconds: up to 9 digits count, the rest must still be digits */
static int parse_fraction_ns(const char **p, int64_t *frac)
{
    const char *s = *p;
    int64_t f = 0;
    int nd = 0;
    if (*s != '.') { *frac = 0; return 0; }
    s++;
    if (!isdigit((unsigned char)*s)) return -1;
    for (; isdigit((unsigned char)*s); s++) {
        if (nd < 9) { f = f * 10 + (*s - '0'); nd++; }
    }
    for (; nd < 9; nd++) f *= 10;
    *p = s;
    *frac = f;
    return 0;
}

int tr_cfg_parse_duration(const char *s, int64_t *ns_out)
{
    static const int64_t sec = TR_CFG_NS_PER_SEC;
    /* calendar units are fixed lengths: a month is 30 days, a year 12 months */
    static const struct { char unit; int64_t ns; } date_units[] = {
        {'Y', 360 * 86400 * TR_CFG_NS_PER_SEC}, {'M', 30 * 86400 * TR_CFG_NS_PER_SEC},
        {'W', 7 * 86400 * TR_CFG_NS_PER_SEC}, {'D', 86400 * TR_CFG_NS_PER_SEC}};
    static const struct { char unit; int64_t ns; } time_units[] = {
        {'H', 3600 * TR_CFG_NS_PER_SEC}, {'M', 60 * TR_CFG_NS_PER_SEC}};
    int64_t ns = 0, frac;
    uint64_t n;
    if (!s) return -1;

    if (*s != 'P') { /* plain (possibly fractional) seconds */
        if (parse_digits(&s, (uint64_t)INT64_MAX, &n) != 0) return -1;
        if (parse_fraction_ns(&s, &frac) != 0 || *s) return -1;
        if (add_scaled(&ns, n, sec) != 0 || __builtin_add_overflow(ns, frac, &ns)) return -1;
        *ns_out = ns;
        return 0;
    }
    s++;
    bool any = false;
    size_t di = 0;
    while (*s && *s != 'T') {
        if (parse_digits(&s, (uint64_t)INT64_MAX, &n) != 0) return -1;
        while (di < 4 && date_units[di].unit != *s) di++; /* units only in order */
        if (di == 4) return -1;
        if (add_scaled(&ns, n, date_units[di].ns) != 0) return -1;
        di++;
        s++;
        any = true;
    }
    if (*s == 'T') {
        s++;
        bool any_t = false;
        size_t ti = 0;
        while (*s) {
            if (parse_digits(&s, (uint64_t)INT64_MAX, &n) != 0) return -1;
            if (*s == '.' || *s == 'S') { /* seconds end the string */
                if (parse_fraction_ns(&s, &frac) != 0 || *s != 'S' || s[1]) return -1;
                if (add_scaled(&ns, n, sec) != 0 || __builtin_add_overflow(ns, frac, &ns))
                    return -1;
                s++;
                any_t = true;
                break;
            }
            while (ti < 2 && time_units[ti].unit != *s) ti++;
            if (ti == 2) return -1;
            if (add_scaled(&ns, n, time_units[ti].ns) != 0) return -1;
            ti++;
            s++;
            any_t = true;
        }
        if (!any_t) return -1;
        any = true;
    }
    if (!any || *s) return -1;
    *ns_out = ns;
    return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int tr_cfg_parse_double(const char *s, double *out)
{
    if (!s || !*s) return -1;
    /* strtod alone would take "inf", "nan" and hex floats */
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p)) return -1;
    pthread_once(&c_locale_once, make_c_locale);
    if (!c_locale) return -1;
    char *end;
    double d = strtod_l(s, &end, c_locale); /* the host may have set a ',' locale */
    if (end == s || *end || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int tr_cfg_parse_addr(const char *s, struct tr_cfg_addr *out)
{
    struct tr_cfg_addr a = {.port = -1};
    if (!s) return -1;
    const char *sep = strstr(s, "://");
    if (sep) {
        size_t n = (size_t)(sep - s);
        if (n == 0 || n >= sizeof a.scheme || !isalpha((unsigned char)s[0])) return -1;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)s[i]) && !strchr("+.-", s[i])) return -1;
        memcpy(a.scheme, s, n);
        s = sep + 3;
    }
    const char *h = s, *he;
    if (*s == '[') {
        h = ++s;
        while (isxdigit((unsigned char)*s) || *s == ':' || *s == '.' || *s == '%' ||
               isalnum((unsigned char)*s))
            s++;
        if (*s != ']') return -1;
        he = s++;
        a.ipv6 = true;
    } else {
        while (host_char(*s)) s++;
        he = s;
    }
    size_t hn = (size_t)(he - h);
    if (hn == 0 || hn >= sizeof a.host) return -1;
    memcpy(a.host, h, hn);
    if (*s == ':') {
        uint64_t port;
        s++;
        if (parse_digits(&s, 65535, &port) != 0) return -1;
        a.port = (int)port;
    }
    if (*s) return -1;
    if (out) *out = a;
    return 0;
}

/* ---- typed validation ---- */

static bool ranged(int64_t min, int64_t max)
{
    return min != 0 || max != 0;
}

static void fmt_seconds(char *buf, size_t len, int64_t ns)
{
    snprintf(buf, len, "%" PRId64 ".%09" PRId64 "s", ns / TR_CFG_NS_PER_SEC,
             ns % TR_CFG_NS_PER_SEC);
}

/* Parses `text` for entry e into *v; on failure writes why into err. */
static int check_value(const struct entry *e, const char *text, union tr_cfg_val *v, char *err,
                       size_t errlen)
{
    char lo[48], hi[48];
    switch (e->type) {
    case TR_CFG_BOOL:
        if (tr_cfg_parse_bool(text, &v->b) == 0) return 0;
        set_err(err, errlen, "Bad value '%.64s' for '%s': expected a boolean (yes/no, true/false, on/off, 1/0)",
                text, e->name);
        return -1;
    case TR_CFG_INT:
        if (tr_cfg_parse_int(text, &v->i) == 0 &&
            (!ranged(e->min, e->max) || (v->i >= e->min && v->i <= e->max)))
            return 0;
        if (ranged(e->min, e->max))
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected an integer in [%" PRId64 ", %" PRId64 "]",
                    text, e->name, e->min, e->max);
        else
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected an integer", text, e->name);
        return -1;
    case TR_CFG_SIZE:
        if ((e->flags & TR_CFG_AUTO_OK) && strcasecmp(text, "auto") == 0) {
            v->i = TR_CFG_SIZE_AUTO;
            return 0;
        }
        if (tr_cfg_parse_size(text, &v->i) == 0 &&
            (!ranged(e->min, e->max) || (v->i >= e->min && v->i <= e->max)))
            return 0;
        if (ranged(e->min, e->max))
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected a size in bytes in [%" PRId64 ", %" PRId64 "] (suffixes K, M, G, T)",
                    text, e->name, e->min, e->max);
        else
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected a size in bytes such as 128M (suffixes K, M, G, T)%s",
                    text, e->name, (e->flags & TR_CFG_AUTO_OK) ? " or 'auto'" : "");
        return -1;
    case TR_CFG_DURATION:
        if (tr_cfg_parse_duration(text, &v->i) == 0 &&
            (!ranged(e->min, e->max) || (v->i >= e->min && v->i <= e->max)))
            return 0;
        if (ranged(e->min, e->max)) {
            fmt_seconds(lo, sizeof lo, e->min);
            fmt_seconds(hi, sizeof hi, e->max);
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected an ISO-8601 duration such as PT5S, within [%s, %s]",
                    text, e->name, lo, hi);
        } else {
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected an ISO-8601 duration such as PT5S",
                    text, e->name);
        }
        return -1;
    case TR_CFG_DOUBLE:
        if (tr_cfg_parse_double(text, &v->d) == 0 &&
            ((e->dmin == 0 && e->dmax == 0) || (v->d >= e->dmin && v->d <= e->dmax)))
            return 0;
        if (e->dmin != 0 || e->dmax != 0)
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected a number in [%g, %g]", text,
                    e->name, e->dmin, e->dmax);
        else
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected a number", text, e->name);
        return -1;
    case TR_CFG_STRING:
        if (!e->choices) return 0;
        for (const char *const *c = e->choices; *c; c++)
            if (strcasecmp(text, *c) == 0) return 0;
        {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *c = e->choices; *c && used < sizeof list; c++) {
                int w = snprintf(list + used, sizeof list - used, "%s%s", c == e->choices ? "" : ", ", *c);
                if (w < 0) break;
                used += (size_t)w;
            }
            set_err(err, errlen, "Bad value '%.64s' for '%s': expected one of %s", text, e->name, list);
        }
        return -1;
    case TR_CFG_ADDRESS:
        if (tr_cfg_parse_addr(text, NULL) == 0) return 0;
        set_err(err, errlen, "Bad value '%.64s' for '%s': expected an address such as tcp://192.168.0.1:4567",
                text, e->name);
        return -1;
    }
    set_err(err, errlen, "Parameter '%s' has an unknown type", e->name);
    return -1;
}

static bool same_value(const struct entry *e, const char *text, const union tr_cfg_val *v)
{
    if (!e->value) return false;
    switch (e->type) {
    case TR_CFG_BOOL: return e->v.b == v->b;
    case TR_CFG_INT: case TR_CFG_SIZE: case TR_CFG_DURATION: return e->v.i == v->i;
    case TR_CFG_DOUBLE: return e->v.d == v->d;
    case TR_CFG_STRING: case TR_CFG_ADDRESS: return strcmp(e->value, text) == 0;
    }
    return false;
}

/* ---- store ---- */

static int cmp_entry(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct entry *)elem)->name);
}

static struct entry *find(const tr_cfg *cfg, const char *name)
{
    if (!cfg->n || !name) return NULL;
    return bsearch(name, cfg->entries, cfg->n, sizeof *cfg->entries, cmp_entry);
}

static void lock(const tr_cfg *cfg)
{
    pthread_mutex_lock(&((tr_cfg *)cfg)->mu);
}

static void unlock(const tr_cfg *cfg)
{
    pthread_mutex_unlock(&((tr_cfg *)cfg)->mu);
}

tr_cfg *tr_cfg_new(void)
{
    tr_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    if (pthread_mutex_init(&cfg->mu, NULL) != 0) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void tr_cfg_free(tr_cfg *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->entries[i].name);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    pthread_mutex_destroy(&cfg->mu);
    free(cfg);
}

int tr_cfg_register(tr_cfg *cfg, const struct tr_cfg_key *k)
{
    char err[256];
    if (!cfg || !k || !k->name || !*k->name || strlen(k->name) > MAX_KEY_LEN ||
        strpbrk(k->name, "=;\\ \t\r\n") || (unsigned)k->type > TR_CFG_ADDRESS) {
        tr_error("tr_cfg: bad key description '%s'", k && k->name ? k->name : "(null)");
        return -1;
    }
    struct entry e = {.type = k->type, .flags = k->flags, .min = k->min, .max = k->max,
                      .dmin = k->dmin, .dmax = k->dmax, .choices = k->choices};
    e.name = strdup(k->name);
    if (!e.name) return -1;
    if (k->def) {
        if (check_value(&e, k->def, &e.v, err, sizeof err) != 0 || !(e.value = strdup(k->def))) {
            tr_error("tr_cfg: bad default for '%s': %s", k->name, err);
            free(e.name);
            return -1;
        }
    }
    lock(cfg);
    size_t pos = 0;
    while (pos < cfg->n && strcmp(cfg->entries[pos].name, e.name) < 0) pos++;
    if (pos < cfg->n && strcmp(cfg->entries[pos].name, e.name) == 0) {
        unlock(cfg);
        tr_error("tr_cfg: '%s' registered twice", e.name);
        free(e.name);
        free(e.value);
        return -1;
    }
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap * 2 : 64;
        struct entry *ne = realloc(cfg->entries, cap * sizeof *ne);
        if (!ne) {
            unlock(cfg);
            free(e.name);
            free(e.value);
            return -1;
        }
        cfg->entries = ne;
        cfg->cap = cap;
    }
    memmove(&cfg->entries[pos + 1], &cfg->entries[pos], (cfg->n - pos) * sizeof e);
    cfg->entries[pos] = e;
    cfg->n++;
    unlock(cfg);
    return 0;
}

int tr_cfg_register_all(tr_cfg *cfg, const struct tr_cfg_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tr_cfg_register(cfg, &keys[i]) != 0) return -1;
    return 0;
}

int tr_cfg_add_listener(tr_cfg *cfg, tr_cfg_listener fn, void *arg)
{
    int rc = -1;
    if (!cfg || !fn) return -1;
    lock(cfg);
    if (cfg->n_listeners < MAX_LISTENERS) {
        cfg->listeners[cfg->n_listeners++] = (struct listener){fn, arg};
        rc = 0;
    }
    unlock(cfg);
    return rc;
}

/* ---- parsing option strings ---- */

/* A growing text that drops unescaped whitespace at both ends. */
struct tbuf {
    char *p;
    size_t len, sig;
    bool started;
};

static void tb_reset(struct tbuf *t)
{
    t->len = t->sig = 0;
    t->started = false;
}

static void tb_push(struct tbuf *t, char c, bool escaped)
{
    if (!t->started && !escaped && is_ws(c)) return;
    t->started = true;
    t->p[t->len++] = c;
    if (escaped || !is_ws(c)) t->sig = t->len;
}

static void tb_end(struct tbuf *t)
{
    t->len = t->sig;
    t->p[t->len] = '\0';
}

struct item {
    struct entry *e;
    char *value;
    union tr_cfg_val v;
    bool noop; /* run-time re-set of a non-dynamic key to its current value */
};

/* Checks one key = value against the store (locked). */
static int check_item(tr_cfg *cfg, const char *key, const char *value, bool has_eq,
                      enum tr_cfg_phase phase, bool internal, struct item *it, char *err,
                      size_t errlen)
{
    struct entry *e = find(cfg, key);
    if (!e) {
        set_err(err, errlen, "Unrecognized parameter '%.*s'", MAX_KEY_LEN, key);
        return -1;
    }
    if (!has_eq) {
        set_err(err, errlen, "Missing value for '%s': expected '%s = <value>'", e->name, e->name);
        return -1;
    }
    if (strlen(value) > MAX_VALUE_LEN) {
        set_err(err, errlen, "Value for '%s' is longer than %d characters", e->name, MAX_VALUE_LEN);
        return -1;
    }
    it->e = e;
    it->noop = false;
    if (check_value(e, value, &it->v, err, errlen) != 0) return -1;
    if (!internal) {
        bool same = same_value(e, value, &it->v);
        if ((e->flags & TR_CFG_READ_ONLY) && !same) {
            set_err(err, errlen, "Parameter '%s' is read-only", e->name);
            return -1;
        }
        if (phase == TR_CFG_AT_RUNTIME && !(e->flags & TR_CFG_DYNAMIC)) {
            if (!same) {
                set_err(err, errlen, "Parameter '%s' cannot be changed at run time", e->name);
                return -1;
            }
            it->noop = true; /* like Galera: re-stating the current value is fine */
        }
    }
    it->value = strdup(value);
    if (!it->value) {
        set_err(err, errlen, "Out of memory");
        return -1;
    }
    return 0;
}

static void free_items(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) free(items[i].value);
    free(items);
}

/* Applies checked items (locked) and returns the names to notify, in order, each once. */
static size_t apply_items(tr_cfg *cfg, struct item *items, size_t n, bool user, const char **notify)
{
    uint64_t gen = ++cfg->gen;
    size_t nn = 0;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = items[i].e;
        if (items[i].noop) continue;
        free(e->value);
        e->value = items[i].value;
        items[i].value = NULL;
        e->v = items[i].v;
        if (user) e->user_set = true;
    }
    for (size_t i = n; i-- > 0;) { /* last occurrence wins, so collect backwards */
        struct entry *e = items[i].e;
        if (items[i].noop || e->mark == gen) continue;
        e->mark = gen;
        notify[nn++] = e->name;
    }
    for (size_t a = 0, b = nn; a + 1 < b; a++, b--) {
        const char *t = notify[a];
        notify[a] = notify[b - 1];
        notify[b - 1] = t;
    }
    return nn;
}

static void run_listeners(tr_cfg *cfg, const char **names, size_t n, enum tr_cfg_phase phase)
{
    struct listener ls[MAX_LISTENERS];
    size_t nl;
    if (n == 0) return;
    lock(cfg);
    nl = cfg->n_listeners;
    memcpy(ls, cfg->listeners, nl * sizeof ls[0]);
    unlock(cfg);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nl; j++) ls[j].fn(cfg, names[i], phase, ls[j].arg);
}

static int parse_common(tr_cfg *cfg, const char *opts, enum tr_cfg_phase phase, bool internal,
                        char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!cfg) {
        set_err(err, errlen, "No configuration store");
        return -1;
    }
    if (!opts) return 0;
    size_t len = strlen(opts);
    struct tbuf key = {.p = malloc(len + 1)}, val = {.p = malloc(len + 1)};
    struct item *items = NULL;
    size_t n = 0, cap = 0;
    const char **notify = NULL;
    int rc = -1;
    if (!key.p || !val.p) {
        set_err(err, errlen, "Out of memory");
        goto out;
    }

    lock(cfg);
    const char *p = opts;
    while (*p) {
        tb_reset(&key);
        tb_reset(&val);
        bool has_eq = false;
        for (; *p && *p != ';'; p++) {
            bool esc = false;
            char c = *p;
            if (c == '\\' && p[1]) {
                esc = true;
                c = *++p;
            }
            if (!esc && c == '=' && !has_eq) {
                has_eq = true;
                continue;
            }
            tb_push(has_eq ? &val : &key, c, esc);
        }
        if (*p == ';') p++;
        tb_end(&key);
        tb_end(&val);
        if (key.len == 0) {
            if (!has_eq && val.len == 0) continue; /* empty item */
            set_err(err, errlen, "Empty parameter name before '= %.64s'", val.p);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct item *ni = realloc(items, ncap * sizeof *ni);
            if (!ni) {
                set_err(err, errlen, "Out of memory");
                goto fail;
            }
            items = ni;
            cap = ncap;
        }
        items[n].value = NULL;
        if (check_item(cfg, key.p, val.p, has_eq, phase, internal, &items[n], err, errlen) != 0)
            goto fail;
        n++;
    }
    notify = malloc((n ? n : 1) * sizeof *notify);
    if (!notify) {
        set_err(err, errlen, "Out of memory");
        goto fail;
    }
    size_t nn = apply_items(cfg, items, n, !internal, notify);
    unlock(cfg);
    run_listeners(cfg, notify, nn, phase);
    rc = 0;
    goto out;
fail:
    unlock(cfg);
out:
    free_items(items, n);
    free(notify);
    free(key.p);
    free(val.p);
    return rc;
}

int tr_cfg_parse(tr_cfg *cfg, const char *opts, enum tr_cfg_phase phase, char *err, size_t errlen)
{
    return parse_common(cfg, opts, phase, false, err, errlen);
}

static char *trimmed_dup(const char *s)
{
    while (is_ws(*s)) s++;
    size_t n = strlen(s);
    while (n && is_ws(s[n - 1])) n--;
    return strndup(s, n);
}

static int set_one(tr_cfg *cfg, const char *key, const char *value, enum tr_cfg_phase phase,
                   bool internal, char *err, size_t errlen)
{
    struct item it = {0};
    const char *name;
    if (err && errlen) err[0] = '\0';
    if (!cfg || !key || !value) {
        set_err(err, errlen, "Missing key or value");
        return -1;
    }
    char *k = trimmed_dup(key), *v = trimmed_dup(value);
    if (!k || !v) {
        free(k);
        free(v);
        set_err(err, errlen, "Out of memory");
        return -1;
    }
    lock(cfg);
    int rc = check_item(cfg, k, v, true, phase, internal, &it, err, errlen);
    free(k);
    free(v);
    if (rc != 0) {
        unlock(cfg);
        free(it.value);
        return -1;
    }
    size_t nn = apply_items(cfg, &it, 1, !internal, &name);
    unlock(cfg);
    free(it.value);
    if (!internal) run_listeners(cfg, &name, nn, phase); /* a listener may normalise via set_internal */
    return 0;
}

int tr_cfg_set(tr_cfg *cfg, const char *key, const char *value, enum tr_cfg_phase phase,
               char *err, size_t errlen)
{
    return set_one(cfg, key, value, phase, false, err, errlen);
}

int tr_cfg_set_internal(tr_cfg *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    return set_one(cfg, key, value, TR_CFG_AT_INIT, true, err, errlen);
}

/* ---- getters ---- */

bool tr_cfg_has(const tr_cfg *cfg, const char *key)
{
    if (!cfg) return false;
    lock(cfg);
    bool r = find(cfg, key) != NULL;
    unlock(cfg);
    return r;
}

bool tr_cfg_is_set(const tr_cfg *cfg, const char *key)
{
    if (!cfg) return false;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    bool r = e && e->value;
    unlock(cfg);
    return r;
}

bool tr_cfg_is_user_set(const tr_cfg *cfg, const char *key)
{
    if (!cfg) return false;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    bool r = e && e->user_set;
    unlock(cfg);
    return r;
}

int tr_cfg_flags(const tr_cfg *cfg, const char *key)
{
    if (!cfg) return -1;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    int r = e ? (int)e->flags : -1;
    unlock(cfg);
    return r;
}

/* Copies the parsed value of `key` if its type is one of `mask` (bit per type). */
static int get_val(const tr_cfg *cfg, const char *key, unsigned mask, union tr_cfg_val *v,
                   enum tr_cfg_type *type)
{
    int rc = -1;
    if (!cfg) return -1;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    if (e && e->value && (mask & (1u << e->type))) {
        *v = e->v;
        *type = e->type;
        rc = 0;
    }
    unlock(cfg);
    return rc;
}

int tr_cfg_get_bool(const tr_cfg *cfg, const char *key, bool *out)
{
    union tr_cfg_val v;
    enum tr_cfg_type t;
    if (!out || get_val(cfg, key, 1u << TR_CFG_BOOL, &v, &t) != 0) return -1;
    *out = v.b;
    return 0;
}

int tr_cfg_get_int(const tr_cfg *cfg, const char *key, int64_t *out)
{
    union tr_cfg_val v;
    enum tr_cfg_type t;
    if (!out || get_val(cfg, key, (1u << TR_CFG_INT) | (1u << TR_CFG_SIZE), &v, &t) != 0) return -1;
    *out = v.i;
    return 0;
}

int tr_cfg_get_size(const tr_cfg *cfg, const char *key, int64_t *out)
{
    union tr_cfg_val v;
    enum tr_cfg_type t;
    if (!out || get_val(cfg, key, 1u << TR_CFG_SIZE, &v, &t) != 0) return -1;
    *out = v.i;
    return 0;
}

int tr_cfg_get_duration_ns(const tr_cfg *cfg, const char *key, int64_t *out)
{
    union tr_cfg_val v;
    enum tr_cfg_type t;
    if (!out || get_val(cfg, key, 1u << TR_CFG_DURATION, &v, &t) != 0) return -1;
    *out = v.i;
    return 0;
}

int tr_cfg_get_double(const tr_cfg *cfg, const char *key, double *out)
{
    union tr_cfg_val v;
    enum tr_cfg_type t;
    if (!out || get_val(cfg, key, (1u << TR_CFG_DOUBLE) | (1u << TR_CFG_INT), &v, &t) != 0)
        return -1;
    *out = t == TR_CFG_DOUBLE ? v.d : (double)v.i;
    return 0;
}

int tr_cfg_get_string(const tr_cfg *cfg, const char *key, char *buf, size_t len)
{
    int rc = -1;
    if (!cfg) return -1;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    if (e && e->value) {
        size_t n = strlen(e->value);
        if (buf && len) {
            size_t c = n < len - 1 ? n : len - 1;
            memcpy(buf, e->value, c);
            buf[c] = '\0';
        }
        rc = n > INT_MAX ? INT_MAX : (int)n;
    }
    unlock(cfg);
    return rc;
}

char *tr_cfg_dup_string(const tr_cfg *cfg, const char *key)
{
    char *r = NULL;
    if (!cfg) return NULL;
    lock(cfg);
    const struct entry *e = find(cfg, key);
    if (e && e->value) r = strdup(e->value);
    unlock(cfg);
    return r;
}

/* ---- formatting ---- */

static bool needs_escape(const char *v, size_t i, size_t n)
{
    char c = v[i];
    return c == ';' || c == '\\' || ((i == 0 || i + 1 == n) && is_ws(c));
}

/* Writes value escaped into out (if non-NULL); returns the escaped length. */
static size_t escape_value(const char *v, char *out)
{
    size_t n = strlen(v), w = 0;
    for (size_t i = 0; i < n; i++) {
        if (needs_escape(v, i, n)) {
            if (out) out[w] = '\\';
            w++;
        }
        if (out) out[w] = v[i];
        w++;
    }
    return w;
}

char *tr_cfg_format(const tr_cfg *cfg)
{
    if (!cfg) return NULL;
    lock(cfg);
    size_t total = 1;
    for (size_t i = 0; i < cfg->n; i++) {
        const struct entry *e = &cfg->entries[i];
        if (e->value) total += strlen(e->name) + 3 + escape_value(e->value, NULL) + 2;
    }
    char *out = malloc(total);
    if (out) {
        size_t w = 0;
        for (size_t i = 0; i < cfg->n; i++) {
            const struct entry *e = &cfg->entries[i];
            if (!e->value) continue;
            if (w) {
                memcpy(out + w, "; ", 2);
                w += 2;
            }
            size_t kn = strlen(e->name);
            memcpy(out + w, e->name, kn);
            w += kn;
            memcpy(out + w, " = ", 3);
            w += 3;
            w += escape_value(e->value, out + w);
        }
        out[w] = '\0';
    }
    unlock(cfg);
    return out;
}
