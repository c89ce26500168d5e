/* common/tr_cfg: a thread-safe typed key/value store for provider options (like gu::Config).
 * Modules register keys; the host's `key = value; ...` strings are parsed all-or-nothing. */
#ifndef TR_CFG_H
#define TR_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tr_cfg tr_cfg;

enum tr_cfg_type {
    TR_CFG_BOOL,     /* 1/0, yes/no, on/off, true/false, y/n (any case) */
    TR_CFG_INT,      /* decimal int64, optional K/M/G/T (x1024) suffix, [min, max] */
    TR_CFG_SIZE,     /* bytes >= 0 with optional K/M/G/T suffix (any case), [min, max] */
    TR_CFG_DURATION, /* ISO-8601 (PT5S, PT0.5S, PT1M30S, P1D) or plain seconds; ns [min, max] */
    TR_CFG_DOUBLE,   /* finite decimal number, [dmin, dmax] */
    TR_CFG_STRING,   /* anything, may be empty; optionally one of `choices` (any case) */
    TR_CFG_ADDRESS,  /* [scheme://]host[:port], host may be [IPv6] */
};

enum tr_cfg_flag {
    TR_CFG_DYNAMIC = 1u << 0,    /* may change at run time */
    TR_CFG_READ_ONLY = 1u << 1,  /* never set by the user; only tr_cfg_set_internal() */
    TR_CFG_AUTO_OK = 1u << 2,    /* TR_CFG_SIZE: the word "auto" is also accepted */
};

/* When the value comes from: the init options string may set any key,
 * a run-time options_set only the dynamic ones. */
enum tr_cfg_phase { TR_CFG_AT_INIT, TR_CFG_AT_RUNTIME };

/* A key description. min == max == 0 (dmin == dmax == 0 for doubles) means unbounded. */
struct tr_cfg_key {
    const char *name;
    enum tr_cfg_type type;
    const char *def; /* NULL: unset until somebody sets it */
    unsigned flags;
    int64_t min, max;   /* TR_CFG_INT, TR_CFG_SIZE, TR_CFG_DURATION (ns) */
    double dmin, dmax;  /* TR_CFG_DOUBLE */
    const char *const *choices; /* TR_CFG_STRING: NULL-terminated list or NULL */
};

#define TR_CFG_SIZE_AUTO ((int64_t)-1) /* tr_cfg_get_size() of "auto" */
#define TR_CFG_NS_PER_SEC INT64_C(1000000000)

/* Called after a successful set (parse or tr_cfg_set) once per key set, in order, outside the
 * store's lock, so it may call the getters. Also called when a dynamic key is set to the value
 * it already has, because some keys are actions (pc.bootstrap, socket.ssl_reload, evs.evict).
 * Not called for tr_cfg_set_internal() nor for a run-time re-statement of a static key's
 * current value. `phase` tells init-time from run-time changes. */
typedef void (*tr_cfg_listener)(tr_cfg *cfg, const char *key, enum tr_cfg_phase phase, void *arg);

/* Every function below may be called from any thread; each takes the store's mutex.
 * Registration normally happens before the store is shared, but is safe at any time. */
tr_cfg *tr_cfg_new(void);
void tr_cfg_free(tr_cfg *cfg);

/* Registration: 0, or -1 on a duplicate name, bad description or a default that does not
 * parse as its type (a programming error; logged). */
int tr_cfg_register(tr_cfg *cfg, const struct tr_cfg_key *key);
int tr_cfg_register_all(tr_cfg *cfg, const struct tr_cfg_key *keys, size_t n);

/* Parses `k = v; k2 = v2;` (whitespace around keys and values trimmed, empty items ignored,
 * `\` escapes the next character, repeated keys: last wins). All-or-nothing: on any bad item
 * nothing changes and err (if non-NULL) receives a message naming the key. 0 or -1. */
int tr_cfg_parse(tr_cfg *cfg, const char *opts, enum tr_cfg_phase phase, char *err, size_t errlen);
/* One key, same rules as one item of tr_cfg_parse(). */
int tr_cfg_set(tr_cfg *cfg, const char *key, const char *value, enum tr_cfg_phase phase,
               char *err, size_t errlen);
/* For the provider itself (e.g. base_dir from the data dir): ignores DYNAMIC/READ_ONLY,
 * still type-checks. Does not mark the key as user-set. */
int tr_cfg_set_internal(tr_cfg *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Up to 8 listeners; 0 or -1 when full. */
int tr_cfg_add_listener(tr_cfg *cfg, tr_cfg_listener fn, void *arg);

bool tr_cfg_has(const tr_cfg *cfg, const char *key);           /* registered */
bool tr_cfg_is_set(const tr_cfg *cfg, const char *key);        /* has a value (default or set) */
bool tr_cfg_is_user_set(const tr_cfg *cfg, const char *key);   /* set by tr_cfg_parse/tr_cfg_set */
/* Flags of a registered key, or -1. */
int tr_cfg_flags(const tr_cfg *cfg, const char *key);

/* Typed getters: 0, or -1 when the key is unknown, unset or of another type.
 * get_int also reads SIZE keys; get_double also reads INT keys. */
int tr_cfg_get_bool(const tr_cfg *cfg, const char *key, bool *out);
int tr_cfg_get_int(const tr_cfg *cfg, const char *key, int64_t *out);
int tr_cfg_get_size(const tr_cfg *cfg, const char *key, int64_t *out);
int tr_cfg_get_duration_ns(const tr_cfg *cfg, const char *key, int64_t *out);
int tr_cfg_get_double(const tr_cfg *cfg, const char *key, double *out);
/* The value text of any key. Like snprintf: returns the full length (the copy is truncated
 * and NUL-terminated when buf is too small), or -1 when unknown or unset. */
int tr_cfg_get_string(const tr_cfg *cfg, const char *key, char *buf, size_t len);
/* malloc'ed copy of the value text, or NULL when unknown, unset or out of memory. */
char *tr_cfg_dup_string(const tr_cfg *cfg, const char *key);

/* Every key with a value, sorted by name, as `key = value; key = value` (';', '\' and
 * edge whitespace in values escaped with '\', so the result parses back to the same store).
 * malloc'ed; NULL on out of memory. */
char *tr_cfg_format(const tr_cfg *cfg);

/* Stand-alone value parsers (also used by the store); 0 or -1. */
int tr_cfg_parse_bool(const char *s, bool *out);
int tr_cfg_parse_int(const char *s, int64_t *out);
int tr_cfg_parse_size(const char *s, int64_t *out);
int tr_cfg_parse_duration(const char *s, int64_t *ns_out);
int tr_cfg_parse_double(const char *s, double *out);

struct tr_cfg_addr {
    char scheme[16]; /* "" when absent */
    char host[256];  /* without the IPv6 brackets */
    int port;        /* -1 when absent */
    bool ipv6;
};
int tr_cfg_parse_addr(const char *s, struct tr_cfg_addr *out);

#endif
