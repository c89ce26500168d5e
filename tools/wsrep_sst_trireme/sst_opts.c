/* tools/wsrep_sst_trireme/sst_opts: MariaDB's SST arguments (sql/wsrep_sst.cc, research anchors
 * §B.11), the [sst] group of my.cnf through my_print_defaults, and WSREP_SST_OPT_AUTH. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/tr_cfg.h"
#include "common/tr_time.h"
#include "tools/wsrep_sst_trireme/sst.h"

#define OPT_SET(dst, v) sst_fmt((dst), sizeof(dst), "%s", (v))

int sst_parse_address(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *end = strchr(s, '/'), *p;
    size_t n = end ? (size_t)(end - s) : strlen(s);
    const char *hs = s, *he, *ps = NULL;
    if (n == 0) return -1;
    if (s[0] == '[') {
        he = memchr(s, ']', n);
        if (!he) return -1;
        hs = s + 1;
        if ((size_t)(he + 1 - s) < n) {
            if (he[1] != ':') return -1;
            ps = he + 2;
        }
    } else {
        p = memchr(s, ':', n);
        if (p && memchr(p + 1, ':', n - (size_t)(p + 1 - s))) {
            he = s + n; /* a bare IPv6 address: no port */
        } else if (p) {
            he = p;
            ps = p + 1;
        } else {
            he = s + n;
        }
    }
    if (he <= hs || (size_t)(he - hs) >= hostlen) return -1;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = SST_DEFAULT_PORT;
    if (ps) {
        size_t pl = (size_t)(s + n - ps);
        if (pl == 0 || pl > 5) return -1;
        unsigned v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)ps[i])) return -1;
            v = v * 10 + (unsigned)(ps[i] - '0');
        }
        if (v == 0 || v > 65535) return -1;
        *port = (uint16_t)v;
    }
    for (const char *c = host; *c; c++) /* the characters MariaDB lets into an SST address */
        if (!isalnum((unsigned char)*c) && !strchr("-_.:%", *c)) return -1;
    return 0;
}

int sst_parse_gtid(const char *s, tr_uuid *uuid, int64_t *seqno)
{
    const char *c = strchr(s, ':');
    if (!c || tr_uuid_parse(s, (size_t)(c - s), uuid) != 0) return -1;
    errno = 0;
    char *e;
    long long v = strtoll(c + 1, &e, 10);
    if (errno || e == c + 1 || (*e && !isspace((unsigned char)*e)) || v < -1) return -1;
    *seqno = v;
    return 0;
}

static void norm_key(char *k)
{
    for (; *k; k++)
        if (*k == '_') *k = '-';
}

static int parse_secs(const char *key, const char *v, int64_t *ns)
{
    int64_t x;
    if (tr_cfg_parse_duration(v, &x) != 0 || x <= 0) {
        sst_error("[sst] %s = '%s': not a duration (seconds, or ISO-8601 like PT30S)", key, v);
        return -1;
    }
    *ns = x;
    return 0;
}

/* options that put InnoDB or Aria files outside the datadir, which this method cannot place */
static void note_layout(struct sst_opts *o, const char *key, const char *val)
{
    static const char *const keys[] = {"innodb-data-home-dir", "innodb-log-group-home-dir",
                                       "innodb-undo-directory", "aria-log-dir-path"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(key, keys[i]) != 0 || !*val) continue;
        char path[2 * SST_PATH_MAX + 2], a[PATH_MAX], b[PATH_MAX];
        if (val[0] == '/' || !*o->datadir)
            sst_fmt(path, sizeof path, "%s", val);
        else
            sst_fmt(path, sizeof path, "%s/%s", o->datadir, val);
        if (realpath(path, a) && realpath(o->datadir, b) && strcmp(a, b) == 0) return;
        size_t n = strlen(o->outside);
        sst_fmt(o->outside + n, sizeof o->outside - n, "%s%s=%s", n ? ", " : "", key, val);
    }
}

/* one "--key=value" of my_print_defaults or --mysqld-args */
static void split_kv(const char *line, char *key, size_t kl, const char **val)
{
    const char *s = line + 2, *eq = strchr(s, '=');
    size_t n = eq ? (size_t)(eq - s) : strlen(s);
    if (n >= kl) n = kl - 1;
    memcpy(key, s, n);
    key[n] = '\0';
    norm_key(key);
    *val = eq ? eq + 1 : "";
}

int sst_defaults_args(const struct sst_opts *o, char bufs[3][SST_PATH_MAX + 32], char **argv)
{
    int n = 0;
    if (*o->defaults_file) /* must come first, as for every MariaDB program */
        sst_fmt(argv[n] = bufs[n], sizeof bufs[0], "--defaults-file=%s", o->defaults_file), n++;
    if (*o->defaults_extra_file)
        sst_fmt(argv[n] = bufs[n], sizeof bufs[0], "--defaults-extra-file=%s", o->defaults_extra_file), n++;
    if (*o->group_suffix)
        sst_fmt(argv[n] = bufs[n], sizeof bufs[0], "--defaults-group-suffix=%s", o->group_suffix), n++;
    return n;
}

/* my_print_defaults GROUP with the server's own defaults options; calls fn for each line */
static int read_group(struct sst_opts *o, const char *group,
                      int (*fn)(struct sst_opts *, const char *, const char *))
{
    static const char *const names[] = {"my_print_defaults", "mariadb-print-defaults", NULL};
    char bin[SST_PATH_MAX];
    if (sst_which(names, bin, sizeof bin)) {
        sst_error("my_print_defaults not found in PATH: cannot read the [%s] group of my.cnf", group);
        return -1;
    }
    char *argv[8], defs[3][SST_PATH_MAX + 32];
    int n = 0;
    argv[n++] = bin;
    n += sst_defaults_args(o, defs, argv + n);
    argv[n++] = (char *)group;
    argv[n] = NULL;
    struct sst_child c;
    if (sst_spawn(&c, argv, true, NULL, NULL)) return -1;
    FILE *f = fdopen(c.fd, "r");
    if (!f) {
        sst_child_kill(&c);
        return -1;
    }
    c.fd = -1;
    char line[8192];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "--", 2) != 0) continue;
        char key[128];
        const char *val;
        split_kv(line, key, sizeof key, &val);
        if (fn(o, key, val)) rc = -1;
    }
    fclose(f);
    int st = sst_child_wait(&c);
    if (st != 0) {
        sst_error("my_print_defaults %s exited with %d", group, st);
        rc = -1;
    }
    return rc;
}

static int on_sst_key(struct sst_opts *o, const char *key, const char *val)
{
    if (!strcmp(key, "sst-initial-timeout")) return parse_secs(key, val, &o->initial_timeout_ns);
    if (!strcmp(key, "sst-idle-timeout")) return parse_secs(key, val, &o->idle_timeout_ns);
    if (!strcmp(key, "zstd-level")) {
        int64_t v;
        if (tr_cfg_parse_int(val, &v) || v < 0 || v > 19) {
            sst_error("[sst] zstd-level = '%s': want 0 (no compression) to 19", val);
            return -1;
        }
        o->zstd_level = (int)v;
        return 0;
    }
    if (!strcmp(key, "tcert")) return OPT_SET(o->tcert, val), 0;
    if (!strcmp(key, "tkey")) return OPT_SET(o->tkey, val), 0;
    if (!strcmp(key, "tca")) return OPT_SET(o->tca, val), 0;
    if (!strcmp(key, "encrypt")) {
        /* mariabackup's encryption switch: refuse what we cannot honour rather than send
         * plaintext where the operator asked for encryption */
        if (!strcmp(val, "0") || !*val) return 0;
        if (!strcmp(val, "1")) {
            sst_error("[sst] encrypt = 1 (xbcrypt) is not supported by the trireme method; "
                      "use tcert/tkey/tca for TLS");
            return -1;
        }
        if (strcmp(val, "2") && strcmp(val, "3") && strcmp(val, "4")) {
            sst_error("[sst] encrypt = '%s': want 0 to 4", val);
            return -1;
        }
        o->want_tls = true; /* 2..4 are TLS: needs tcert/tkey, checked after all keys */
        return 0;
    }
    if (!strcmp(key, "ssl-mode") || !strcmp(key, "tmode")) {
        if (!strncasecmp(val, "VERIFY", 6) || !strncasecmp(val, "REQUIRED", 8)) o->want_tls = true;
        return 0;
    }
    return 0; /* the [sst] group is shared with other methods: their keys are theirs */
}

static int on_mysqld_key(struct sst_opts *o, const char *key, const char *val)
{
    note_layout(o, key, val);
    if (!strcmp(key, "wsrep-provider-options") && !*o->tcert && !*o->tkey) {
        /* the provider's gcomm TLS (socket.ssl_cert/key/ca) also secures SST, unless [sst] says */
        char buf[4096];
        OPT_SET(buf, val);
        for (char *save = NULL, *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(t, '=');
            if (!eq) continue;
            *eq = '\0';
            char *k = t, *v = eq + 1;
            while (isspace((unsigned char)*k)) k++;
            for (char *e = k + strlen(k); e > k && isspace((unsigned char)e[-1]);) *--e = '\0';
            while (isspace((unsigned char)*v)) v++;
            for (char *e = v + strlen(v); e > v && isspace((unsigned char)e[-1]);) *--e = '\0';
            if (!strcmp(k, "socket.ssl_cert")) OPT_SET(o->tcert, v);
            else if (!strcmp(k, "socket.ssl_key")) OPT_SET(o->tkey, v);
            else if (!strcmp(k, "socket.ssl_ca")) OPT_SET(o->tca, v);
        }
    }
    return 0;
}

static int need_value(int i, int argc, char **argv, const char *name)
{
    if (i + 1 >= argc) {
        sst_error("option %s needs a value", name);
        return -1;
    }
    (void)argv;
    return 0;
}

int sst_opts_parse(struct sst_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->seqno = -1;
    o->initial_timeout_ns = 300 * TR_NS_PER_SEC;
    o->idle_timeout_ns = 120 * TR_NS_PER_SEC;
    o->zstd_level = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            sst_warn("ignoring stray argument '%s'", a);
            continue;
        }
        char name[128];
        const char *eq = strchr(a, '='), *val = NULL;
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        norm_key(name + 2);
        if (!strcmp(name, "--bypass")) {
            o->bypass = true;
            continue;
        }
        if (!strcmp(name, "--mysqld-args")) {
            break; /* the server's own arguments: read for the layout below */
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (need_value(i, argc, argv, name)) return SST_EXIT_INVAL;
            val = argv[++i];
        }
        if (!strcmp(name, "--role")) {
            if (!strcmp(val, "donor")) o->role = SST_ROLE_DONOR;
            else if (!strcmp(val, "joiner")) o->role = SST_ROLE_JOINER;
            else if (!strcmp(val, "recover")) o->role = SST_ROLE_RECOVER;
            else {
                sst_error("--role '%s': want donor, joiner or recover", val);
                return SST_EXIT_INVAL;
            }
        } else if (!strcmp(name, "--address")) {
            OPT_SET(o->address, val);
        } else if (!strcmp(name, "--datadir")) {
            OPT_SET(o->datadir, val);
            size_t n = strlen(o->datadir);
            while (n > 1 && o->datadir[n - 1] == '/') o->datadir[--n] = '\0';
        } else if (!strcmp(name, "--defaults-file")) {
            OPT_SET(o->defaults_file, val);
        } else if (!strcmp(name, "--defaults-extra-file")) {
            OPT_SET(o->defaults_extra_file, val);
        } else if (!strcmp(name, "--defaults-group-suffix")) {
            OPT_SET(o->group_suffix, val);
        } else if (!strcmp(name, "--parent")) {
            o->parent = strtol(val, NULL, 10);
        } else if (!strcmp(name, "--progress")) {
            o->progress = strcmp(val, "0") != 0 && *val;
        } else if (!strcmp(name, "--local-port")) {
            o->local_port = (unsigned)strtoul(val, NULL, 10);
        } else if (!strcmp(name, "--socket")) {
            OPT_SET(o->socket, val);
        } else if (!strcmp(name, "--gtid")) {
            if (sst_parse_gtid(val, &o->uuid, &o->seqno)) {
                sst_error("--gtid '%s': want uuid:seqno", val);
                return SST_EXIT_INVAL;
            }
            o->have_gtid = true;
        } else if (!strcmp(name, "--gtid-domain-id")) {
            o->domain_id = (uint32_t)strtoul(val, NULL, 10);
        } else if (!strcmp(name, "--binlog") || !strcmp(name, "--log-bin")) {
            OPT_SET(o->binlog, val);
        } else if (!strcmp(name, "--binlog-index") || !strcmp(name, "--log-bin-index")) {
            OPT_SET(o->binlog_index, val);
        } else if (!strcmp(name, "--user")) {
            OPT_SET(o->user, val);
        } else if (!strcmp(name, "--password")) {
            OPT_SET(o->password, val);
        } else if (!strcmp(name, "--host") || !strcmp(name, "--port") ||
                   !strcmp(name, "--log-basename")) {
            /* mysqldump's and naming options: nothing here depends on them */
        } else if (!strncmp(name, "--innodb-", 9) || !strcmp(name, "--aria-log-dir-path")) {
            /* the layout: read below, once the datadir is known */
        } else {
            sst_warn("ignoring unknown option %s='%s' (not one MariaDB 10.11 passes)", name, val);
        }
    }
    if (o->role == SST_ROLE_NONE || !*o->datadir) {
        sst_error("usage: wsrep_sst_trireme --role donor|joiner --address HOST[:PORT] --datadir DIR ... "
                  "(MariaDB runs it for wsrep_sst_method=trireme)");
        return SST_EXIT_INVAL;
    }
    if (strlen(o->datadir) > SST_PATH_MAX - 256) {
        sst_error("--datadir is longer than %d bytes", SST_PATH_MAX - 256);
        return SST_EXIT_INVAL;
    }
    if (o->role == SST_ROLE_RECOVER) return 0;
    if (!*o->address ||
        sst_parse_address(o->address, o->host, sizeof o->host, &o->port) != 0) {
        sst_error("--address '%s': want host[:port][/...], an IPv6 host in brackets", o->address);
        return SST_EXIT_INVAL;
    }
    if (o->role == SST_ROLE_DONOR && !o->have_gtid) {
        sst_error("the donor needs --gtid uuid:seqno");
        return SST_EXIT_INVAL;
    }
    const char *auth = getenv("WSREP_SST_OPT_AUTH");
    if (auth && *auth && !*o->user) {
        const char *c = strchr(auth, ':');
        size_t ul = c ? (size_t)(c - auth) : strlen(auth);
        if (ul >= sizeof o->user) ul = sizeof o->user - 1;
        memcpy(o->user, auth, ul);
        o->user[ul] = '\0';
        if (c) OPT_SET(o->password, c + 1);
    }
    for (int i = 1; i < argc; i++) { /* ours and, after --mysqld-args, the server's */
        if (strncmp(argv[i], "--", 2) != 0 || !strcmp(argv[i], "--mysqld-args")) continue;
        char key[128];
        const char *v = "";
        split_kv(argv[i], key, sizeof key, &v);
        if (!strchr(argv[i], '=') && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            v = argv[i + 1];
        note_layout(o, key, v);
    }
    const char *home = getenv("INNODB_DATA_HOME_DIR");
    if (home && *home) note_layout(o, "innodb-data-home-dir", home);
    /* [sst] first: its tcert/tkey win over the provider's socket.ssl_* */
    if (read_group(o, "sst", on_sst_key) || read_group(o, "--mysqld", on_mysqld_key))
        return SST_EXIT_INVAL;
    if (o->want_tls && (!*o->tcert || !*o->tkey)) {
        sst_error("[sst] asks for encryption (encrypt or ssl-mode) but no certificate is set: "
                  "set tcert and tkey in [sst] (or socket.ssl_cert/ssl_key for the provider)");
        return SST_EXIT_INVAL;
    }
    if ((*o->tcert != '\0') != (*o->tkey != '\0')) {
        sst_error("TLS for SST needs both tcert and tkey (have %s only)", *o->tcert ? "tcert" : "tkey");
        return SST_EXIT_INVAL;
    }
    if (*o->tcert && !*o->tca) OPT_SET(o->tca, o->tcert);
    return 0;
}
