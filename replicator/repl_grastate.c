/* replicator/repl_grastate: parse, format, read and atomically write grastate.dat.
 * Reads like Galera's saved_state.cpp where Galera is lenient on purpose, rejects the rest. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "replicator/repl_grastate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tr_file.h"

#define HEADER "# GALERA saved state"
#define VERSION "2.1"

/* What the operator can do about a state file we cannot trust. */
#define ADVICE                                                                                    \
    "fix it by hand if you know the right values, or move it away and let the node rejoin "     \
    "with a full state transfer (SST); 'mariadbd --wsrep-recover' prints the node's last "     \
    "committed position"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void repl_grastate_init_fresh(struct repl_grastate *st)
{
    st->uuid = tr_uuid_nil;
    st->seqno = TR_SEQNO_UNDEFINED;
    st->safe_to_bootstrap = true; /* as Galera: nothing to lose on a node that never joined */
    st->view = 0;
    st->members[0] = '\0';
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* The whitespace C++ istream skips, which is what Galera's reader tolerates. */
static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* A short printable rendering of untrusted bytes for an error message. */
static void quote(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 48) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

static int parse_seqno(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n) return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -2;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return -2;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return -2;
        *out = (int64_t)v;
    }
    return 0;
}

/* "2.0" / "2.1": major must be 2; minor >= 1 means safe_to_bootstrap is always written. */
static int parse_version(const char *s, size_t n, unsigned *minor)
{
    if (n < 3 || n > 6 || s[0] != '2' || s[1] != '.') return -1;
    unsigned m = 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        m = m * 10 + (unsigned)(s[i] - '0');
    }
    *minor = m;
    return 0;
}

enum { K_VERSION, K_UUID, K_SEQNO, K_STB, K_VIEW, K_MEMBERS, K_COUNT };
static const char *const key_names[K_COUNT] = {"version", "uuid", "seqno", "safe_to_bootstrap",
                                               "trireme_view", "trireme_members"};

/* Names are written with every byte outside [A-Za-z0-9._-] as %XX, so the value is one word. */
static bool plain(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* "a,b%2Cc" -> "a,b,c" stays escaped in memory as the node keeps it: members holds the names
 * joined by ',' with each name's own ',' and '%' escaped. */
static int unescape_members(const char *val, size_t vlen, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)val[i];
        if (!plain(ch) && ch != ',' && ch != '%') return -1;
        if (o + 1 >= cap) return -1;
        if (ch == '%') {
            if (i + 2 >= vlen) return -1;
            int h = hexval(val[i + 1]), l = hexval(val[i + 2]);
            if (h < 0 || l < 0) return -1;
            ch = (unsigned char)(h << 4 | l);
            i += 2;
            if (ch == ',' || ch == '%') { /* kept escaped: ',' separates names */
                if (o + 3 >= cap) return -1;
                out[o++] = '%';
                out[o++] = val[i - 1];
                out[o++] = val[i];
                continue;
            }
            if (ch < 0x20 || ch == 0x7f) return -1;
        }
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

int repl_grastate_parse(const char *buf, size_t len, struct repl_grastate *out, char *err,
                        size_t errlen)
{
    char q[160];
    if (buf == NULL && len > 0) len = 0;
    if (len == 0) {
        seterr(err, errlen, "file is empty");
        return -1;
    }
    if (len > REPL_GRASTATE_MAX_SIZE) {
        seterr(err, errlen, "file is %zu bytes, more than the %d a state file can be", len,
               REPL_GRASTATE_MAX_SIZE);
        return -1;
    }

    struct repl_grastate st;
    repl_grastate_init_fresh(&st);
    unsigned seen_line[K_COUNT] = {0};
    unsigned minor = 0;
    unsigned lineno = 0;

    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *line = buf + pos;
        size_t n = end - pos;
        pos = nl ? end + 1 : len;
        lineno++;

        size_t i = 0;
        while (i < n && is_space((unsigned char)line[i])) i++;
        bool comment = i < n && line[i] == '#';
        /* Text only: control bytes mean binary junk; UTF-8 is tolerated in comments. */
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)line[k];
            if (c == 0) {
                seterr(err, errlen, "line %u: NUL byte at column %zu (binary data, not text)",
                       lineno, k + 1);
                return -1;
            }
            if ((c < 0x20 && !is_space(c)) || c == 0x7f || (c >= 0x80 && !comment)) {
                seterr(err, errlen, "line %u: byte 0x%02x at column %zu (binary data, not text)",
                       lineno, c, k + 1);
                return -1;
            }
        }
        if (i == n || comment) continue;

        size_t ks = i;
        while (i < n && is_key_char((unsigned char)line[i])) i++;
        if (i == ks || i == n || line[i] != ':') {
            quote(line + ks, n - ks, q, sizeof q);
            seterr(err, errlen, "line %u: expected 'key: value', found '%s'", lineno, q);
            return -1;
        }
        const char *key = line + ks;
        size_t klen = i - ks;
        i++; /* ':' */
        while (i < n && is_space((unsigned char)line[i])) i++;
        size_t vs = i;
        while (i < n && !is_space((unsigned char)line[i])) i++;
        const char *val = line + vs;
        size_t vlen = i - vs;
        while (i < n && is_space((unsigned char)line[i])) i++;

        int k = -1;
        for (int j = 0; j < K_COUNT; j++)
            if (strlen(key_names[j]) == klen && memcmp(key, key_names[j], klen) == 0) k = j;
        if (k < 0) continue; /* unknown keys are ignored, as Galera does (e.g. old cert_index) */

        if (seen_line[k]) {
            seterr(err, errlen, "line %u: second '%s:' line (the first is line %u)", lineno,
                   key_names[k], seen_line[k]);
            return -1;
        }
        seen_line[k] = lineno;
        if (vlen == 0) {
            seterr(err, errlen, "line %u: '%s:' has no value", lineno, key_names[k]);
            return -1;
        }
        if (i < n) {
            quote(line + i, n - i, q, sizeof q);
            seterr(err, errlen, "line %u: unexpected '%s' after the %s value", lineno, q,
                   key_names[k]);
            return -1;
        }
        quote(val, vlen, q, sizeof q);
        switch (k) {
        case K_VERSION:
            if (parse_version(val, vlen, &minor) != 0) {
                seterr(err, errlen, "line %u: unsupported version '%s' (known: 2.0, 2.1)",
                       lineno, q);
                return -1;
            }
            break;
        case K_UUID:
            if (tr_uuid_parse(val, vlen, &st.uuid) != 0) {
                seterr(err, errlen,
                       "line %u: uuid '%s' is not a UUID (8-4-4-4-12 hexadecimal digits)",
                       lineno, q);
                return -1;
            }
            break;
        case K_SEQNO: {
            int rc = parse_seqno(val, vlen, &st.seqno);
            if (rc == -1) {
                seterr(err, errlen, "line %u: seqno '%s' is not a number", lineno, q);
                return -1;
            }
            if (rc == -2) {
                seterr(err, errlen, "line %u: seqno '%s' does not fit in 64 bits", lineno, q);
                return -1;
            }
            if (st.seqno < TR_SEQNO_UNDEFINED) {
                seterr(err, errlen, "line %u: seqno %" PRId64 " is negative (only -1, unknown, is)",
                       lineno, st.seqno);
                return -1;
            }
            break;
        }
        case K_VIEW: {
            int rc = parse_seqno(val, vlen, &st.view);
            if (rc || st.view < 0) {
                seterr(err, errlen, "line %u: trireme_view '%s' is not a view number", lineno, q);
                return -1;
            }
            break;
        }
        case K_MEMBERS:
            if (unescape_members(val, vlen, st.members, sizeof st.members)) {
                seterr(err, errlen, "line %u: trireme_members '%s' is not a list of names", lineno, q);
                return -1;
            }
            break;
        case K_STB:
            if (vlen != 1 || (val[0] != '0' && val[0] != '1')) {
                seterr(err, errlen, "line %u: safe_to_bootstrap '%s' is not 0 or 1", lineno, q);
                return -1;
            }
            st.safe_to_bootstrap = val[0] == '1';
            break;
        }
    }

    /* A file cut short loses its last lines; Galera always writes these. */
    if (!seen_line[K_UUID] || !seen_line[K_SEQNO]) {
        seterr(err, errlen, "no '%s:' line in its %u lines (truncated file?)",
               seen_line[K_UUID] ? "seqno" : "uuid", lineno);
        return -1;
    }
    /* Files written before Galera 25.3.19 (version 2.0) lack it; Galera then assumes 1. */
    if (!seen_line[K_STB] && seen_line[K_VERSION] && minor >= 1) {
        seterr(err, errlen, "no 'safe_to_bootstrap:' line, which version 2.%u (line %u) requires "
               "(truncated file?)", minor, seen_line[K_VERSION]);
        return -1;
    }
    *out = st;
    return 0;
}

int repl_grastate_format(const struct repl_grastate *st, char *buf, size_t buflen)
{
    if (st->seqno < TR_SEQNO_UNDEFINED) return -1;
    char u[TR_UUID_STR_LEN + 1];
    tr_uuid_print(&st->uuid, u);
    /* Same spacing as Galera: operators' sed/awk one-liners match on it. */
    int n = snprintf(buf, buflen,
                     HEADER "\nversion: " VERSION "\nuuid:    %s\nseqno:   %" PRId64
                            "\nsafe_to_bootstrap: %d\n",
                     u, st->seqno, st->safe_to_bootstrap ? 1 : 0);
    if (n < 0 || (size_t)n >= buflen) return -1;
    if (st->view <= 0) return n;
    size_t o = (size_t)n;
    int k = snprintf(buf + o, buflen - o, "trireme_view: %" PRId64 "\ntrireme_members: ", st->view);
    if (k < 0 || (size_t)k >= buflen - o) return -1;
    o += (size_t)k;
    for (const char *p = st->members; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        bool keep = plain(ch) || ch == ',' || ch == '%'; /* ',' and '%' come escaped already */
        if (o + 4 >= buflen) return -1;
        if (keep)
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, buflen - o, "%%%02X", ch);
    }
    if (o + 2 >= buflen) return -1;
    buf[o++] = '\n';
    buf[o] = '\0';
    return (int)o;
}

/* ---- files ------------------------------------------------------------------------------ */

static const char *errstr(int e, char *buf, size_t len)
{
    return strerror_r(e, buf, len); /* GNU variant: thread-safe, returns the message */
}

static int state_path(const char *dir, const char *suffix, char *path, size_t len, char *err,
                      size_t errlen)
{
    int n = snprintf(path, len, "%s/" REPL_GRASTATE_FILE "%s", dir, suffix);
    if (n < 0 || (size_t)n >= len) {
        seterr(err, errlen, "state directory path too long: '%s'", dir);
        return -1;
    }
    return 0;
}

int repl_grastate_read(const char *dir, struct repl_grastate *out, char *err, size_t errlen)
{
    char path[PATH_MAX], eb[128];
    if (state_path(dir, "", path, sizeof path, err, errlen) != 0) return -1;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat ds;
        if (e == ENOENT && stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode)) {
            repl_grastate_init_fresh(out);
            return 1;
        }
        if (e == ENOENT)
            seterr(err, errlen, "cannot read %s: state directory '%s' does not exist", path, dir);
        else
            seterr(err, errlen, "cannot read %s: %s (check the owner and permissions)", path,
                   errstr(e, eb, sizeof eb));
        return -1;
    }
    struct stat fs;
    if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode)) {
        close(fd);
        seterr(err, errlen, "cannot read %s: not a regular file; move it away", path);
        return -1;
    }
    if (fs.st_size > REPL_GRASTATE_MAX_SIZE) {
        close(fd);
        seterr(err, errlen, "%s is corrupt: %jd bytes, more than the %d a state file can be; %s",
               path, (intmax_t)fs.st_size, REPL_GRASTATE_MAX_SIZE, ADVICE);
        return -1;
    }

    /* On the heap: callers may run on small-stack threads. One byte past the cap so a file
     * that grew after fstat is still caught as too big. */
    size_t cap = REPL_GRASTATE_MAX_SIZE + 1, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        seterr(err, errlen, "cannot read %s: out of memory", path);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            seterr(err, errlen, "cannot read %s: %s", path, errstr(e, eb, sizeof eb));
            return -1;
        }
        if (r == 0 || (len += (size_t)r) == cap) break;
    }
    close(fd);

    char perr[256];
    int rc = repl_grastate_parse(buf, len, out, perr, sizeof perr);
    free(buf);
    if (rc != 0) {
        seterr(err, errlen, "%s is corrupt: %s; %s", path, perr, ADVICE);
        return -1;
    }
    return 0;
}

int repl_grastate_write(const char *dir, const struct repl_grastate *st, char *err,
                        size_t errlen)
{
    char path[PATH_MAX], text[REPL_GRASTATE_FORMAT_MAX];
    if (state_path(dir, "", path, sizeof path, err, errlen) != 0) return -1;
    int n = repl_grastate_format(st, text, sizeof text);
    if (n < 0) {
        seterr(err, errlen, "not writing %s: seqno %" PRId64 " is invalid", path, st->seqno);
        return -1;
    }
    char ferr[3 * PATH_MAX];
    if (tr_file_replace(path, text, (size_t)n, 0640, ferr, sizeof ferr) == 0) return 0;
    seterr(err, errlen, "%s (check the directory's owner, permissions and free space)", ferr);
    return -1;
}
