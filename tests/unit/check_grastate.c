/* tests/unit/check_grastate: grastate.dat parsing, formatting and atomic file I/O.
 * Galera-written samples must read back; every kind of damage must be refused with its line. */
#include "replicator/repl_grastate.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "common/tr_fail.h"

#define UUID_S "5ee99582-bb8d-11e2-b8e3-23de375c1d30"

static const char galera_21[] = "# GALERA saved state\n"
                                "version: 2.1\n"
                                "uuid:    " UUID_S "\n"
                                "seqno:   1234\n"
                                "safe_to_bootstrap: 1\n";

static struct repl_grastate parse_ok(const char *text, size_t len)
{
    struct repl_grastate st;
    char err[256] = "";
    int rc = repl_grastate_parse(text, len, &st, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s\n--\n%.*s", err, (int)len, text);
    return st;
}

static void parse_bad(const char *text, size_t len, const char *want)
{
    struct repl_grastate st;
    char err[256] = "";
    int rc = repl_grastate_parse(text, len, &st, err, sizeof err);
    ck_assert_msg(rc == -1, "accepted bad input:\n%.*s", (int)len, text);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

#define PARSE_OK(s) parse_ok((s), strlen(s))
#define PARSE_BAD(s, want) parse_bad((s), strlen(s), (want))

static void uuid_is(const tr_uuid *u, const char *want)
{
    char buf[TR_UUID_STR_LEN + 1];
    tr_uuid_print(u, buf);
    ck_assert_str_eq(buf, want);
}

/* ---- format and round trip ---- */

START_TEST(format_matches_galera)
{
    struct repl_grastate st = {.seqno = 1234, .safe_to_bootstrap = true};
    ck_assert_int_eq(tr_uuid_parse(UUID_S, 36, &st.uuid), 0);
    char buf[REPL_GRASTATE_FORMAT_MAX];
    int n = repl_grastate_format(&st, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(galera_21));
    ck_assert_str_eq(buf, galera_21);

    ck_assert_int_eq(repl_grastate_format(&st, buf, 20), -1); /* too small */
    st.seqno = -2;
    ck_assert_int_eq(repl_grastate_format(&st, buf, sizeof buf), -1);
}
END_TEST

START_TEST(round_trip)
{
    const int64_t seqnos[] = {-1, 0, 1, 999999, INT64_MAX};
    for (size_t i = 0; i < sizeof seqnos / sizeof seqnos[0]; i++) {
        for (int stb = 0; stb < 2; stb++) {
            struct repl_grastate st = {.seqno = seqnos[i], .safe_to_bootstrap = stb};
            tr_uuid_generate(&st.uuid);
            if (i == 0) st.uuid = tr_uuid_nil;
            char buf[REPL_GRASTATE_FORMAT_MAX];
            int n = repl_grastate_format(&st, buf, sizeof buf);
            ck_assert_int_gt(n, 0);
            struct repl_grastate back = parse_ok(buf, (size_t)n);
            ck_assert_int_eq(tr_uuid_compare(&back.uuid, &st.uuid), 0);
            ck_assert_int_eq(back.seqno, st.seqno);
            ck_assert_int_eq(back.safe_to_bootstrap, st.safe_to_bootstrap);
        }
    }
}
END_TEST

/* ---- what Galera writes and reads ---- */

START_TEST(galera_plain)
{
    struct repl_grastate st = PARSE_OK(galera_21);
    uuid_is(&st.uuid, UUID_S);
    ck_assert_int_eq(st.seqno, 1234);
    ck_assert(st.safe_to_bootstrap);
}
END_TEST

START_TEST(galera_running_node)
{
    /* What a running (or crashed) Galera node leaves: uuid kept or nil, seqno -1. */
    struct repl_grastate st = PARSE_OK("# GALERA saved state\nversion: 2.1\n"
                                       "uuid:    00000000-0000-0000-0000-000000000000\n"
                                       "seqno:   -1\nsafe_to_bootstrap: 0\n");
    ck_assert(tr_uuid_is_nil(&st.uuid));
    ck_assert_int_eq(st.seqno, -1);
    ck_assert(!st.safe_to_bootstrap);
}
END_TEST

START_TEST(galera_padding)
{
    /* Galera overwrites in place and pads a shorter text with spaces up to the old length. */
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s%s", galera_21, "          ");
    struct repl_grastate st = parse_ok(buf, (size_t)n);
    ck_assert_int_eq(st.seqno, 1234);
}
END_TEST

START_TEST(galera_v20_no_stb)
{
    /* Galera before 25.3.19 wrote version 2.0 without safe_to_bootstrap; Galera assumes 1. */
    struct repl_grastate st = PARSE_OK("# GALERA saved state\nversion: 2.0\n"
                                       "uuid:    " UUID_S "\nseqno:   7\ncert_index:\n");
    ck_assert_int_eq(st.seqno, 7);
    ck_assert(st.safe_to_bootstrap);
    st = PARSE_OK("uuid: " UUID_S "\nseqno: 7\n"); /* no version at all: legacy too */
    ck_assert(st.safe_to_bootstrap);
}
END_TEST

START_TEST(operator_edits)
{
    /* CRLF, tabs, extra comments, unknown keys, blank lines, upper-case hex, no final newline,
     * keys in another order: all things a hand edit produces and Galera reads. */
    struct repl_grastate st =
        PARSE_OK("# GALERA saved state\r\n"
                 "\r\n"
                 "# edited by ops on 2026-11-22: bootstrapping from this node — très sûr\r\n"
                 "version:\t2.1\r\n"
                 "  seqno:\t42  \r\n"
                 "uuid:    5EE99582-BB8D-11E2-B8E3-23DE375C1D30\r\n"
                 "gtid_domain: 0\r\n"
                 "safe_to_bootstrap: 0");
    uuid_is(&st.uuid, UUID_S);
    ck_assert_int_eq(st.seqno, 42);
    ck_assert(!st.safe_to_bootstrap);
}
END_TEST

START_TEST(seqno_limits)
{
    struct repl_grastate st = PARSE_OK("version: 2.1\nuuid: " UUID_S
                                       "\nseqno: 9223372036854775807\nsafe_to_bootstrap: 1\n");
    ck_assert_int_eq(st.seqno, INT64_MAX);
    st = PARSE_OK("version: 2.1\nuuid: " UUID_S "\nseqno: 0007\nsafe_to_bootstrap: 1\n");
    ck_assert_int_eq(st.seqno, 7);
}
END_TEST

/* ---- damage ---- */

#define HEAD "# GALERA saved state\nversion: 2.1\n"
#define BODY_U "uuid:    " UUID_S "\n"

START_TEST(reject_empty_and_blank)
{
    parse_bad("", 0, "empty");
    parse_bad(NULL, 0, "empty");
    PARSE_BAD("\n\n   \n", "no 'uuid:'");
    PARSE_BAD("# GALERA saved state\n", "no 'uuid:'");
}
END_TEST

START_TEST(reject_truncation_everywhere)
{
    /* Every cut of a Galera file either fails or still reads as the whole file. */
    size_t len = strlen(galera_21);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct repl_grastate st;
        char err[256];
        if (repl_grastate_parse(galera_21, cut, &st, err, sizeof err) == 0) {
            uuid_is(&st.uuid, UUID_S);
            ck_assert_int_eq(st.seqno, 1234);
            ck_assert(st.safe_to_bootstrap);
            accepted++;
        }
    }
    ck_assert_int_eq(accepted, 1); /* only the cut right before the final newline */
    PARSE_BAD(HEAD BODY_U "seqno:   1234\n", "no 'safe_to_bootstrap:'");
    PARSE_BAD(HEAD BODY_U "seqno:   1234\nsafe_to_bootstrap: ", "line 5: 'safe_to_bootstrap:' has no value");
    PARSE_BAD(HEAD "uuid:    5ee99582-bb8d-11e2", "line 3: uuid");
}
END_TEST

START_TEST(reject_binary)
{
    char buf[256];
    size_t n = strlen(galera_21);
    memcpy(buf, galera_21, n);
    buf[60] = '\0'; /* inside the uuid line */
    parse_bad(buf, n, "line 3: NUL byte");
    memcpy(buf, galera_21, n);
    buf[n - 3] = '\x01';
    parse_bad(buf, n, "line 5: byte 0x01");
    PARSE_BAD(HEAD BODY_U "seqno:   12\xff\n", "line 4: byte 0xff");
    PARSE_BAD("\x7f" "ELF\x02\x01\x01", "line 1: byte 0x7f");
    PARSE_BAD(HEAD "\x1b[2J\n", "line 3: byte 0x1b");
}
END_TEST

START_TEST(reject_bad_uuid)
{
    PARSE_BAD(HEAD "uuid:    5ee99582-bb8d-11e2-b8e3-23de375c1d3\nseqno: 1\nsafe_to_bootstrap: 1\n",
              "line 3: uuid '5ee99582-bb8d-11e2-b8e3-23de375c1d3' is not a UUID");
    PARSE_BAD(HEAD "uuid:    5ee99582xbb8d-11e2-b8e3-23de375c1d30\nseqno: 1\n", "line 3: uuid");
    PARSE_BAD(HEAD "uuid:    5ee99582-bb8d-11e2-b8e3-23de375c1dzz\nseqno: 1\n", "line 3: uuid");
    PARSE_BAD(HEAD "uuid:    5ee99582bb8d11e2b8e323de375c1d30\nseqno: 1\n", "line 3: uuid");
    PARSE_BAD(HEAD "uuid:\nseqno: 1\n", "line 3: 'uuid:' has no value");
    PARSE_BAD(HEAD "uuid:    " UUID_S " trailing\n", "line 3: unexpected 'trailing'");
}
END_TEST

START_TEST(reject_bad_seqno)
{
    PARSE_BAD(HEAD BODY_U "seqno:   abc\n", "line 4: seqno 'abc' is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   12x\n", "line 4: seqno '12x' is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   1.5\n", "is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   +5\n", "is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   -\n", "is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   0x10\n", "is not a number");
    PARSE_BAD(HEAD BODY_U "seqno:   9223372036854775808\n", "does not fit in 64 bits");
    PARSE_BAD(HEAD BODY_U "seqno:   99999999999999999999999\n", "does not fit in 64 bits");
    PARSE_BAD(HEAD BODY_U "seqno:   -9223372036854775809\n", "does not fit in 64 bits");
    PARSE_BAD(HEAD BODY_U "seqno:   -2\n", "line 4: seqno -2 is negative");
    PARSE_BAD(HEAD BODY_U "seqno:   -9223372036854775808\n", "is negative");
    PARSE_BAD(HEAD BODY_U "seqno:   5 6\n", "line 4: unexpected '6'");
}
END_TEST

START_TEST(reject_bad_other)
{
    PARSE_BAD(HEAD BODY_U "seqno: 1\nsafe_to_bootstrap: 2\n", "line 5: safe_to_bootstrap '2'");
    PARSE_BAD(HEAD BODY_U "seqno: 1\nsafe_to_bootstrap: yes\n", "is not 0 or 1");
    PARSE_BAD("# GALERA saved state\nversion: 3.0\n" BODY_U "seqno: 1\n",
              "line 2: unsupported version '3.0'");
    PARSE_BAD("version: two\n", "line 1: unsupported version");
    PARSE_BAD(HEAD BODY_U "seqno: 1\nseqno: 2\nsafe_to_bootstrap: 1\n",
              "line 5: second 'seqno:' line (the first is line 4)");
    PARSE_BAD(HEAD "hello world\n", "line 3: expected 'key: value', found 'hello world'");
    PARSE_BAD(HEAD ": 5\n", "line 3: expected 'key: value'");
    PARSE_BAD(HEAD "uuid = " UUID_S "\n", "line 3: expected 'key: value'");
    PARSE_BAD(HEAD "seqno: 5\n", "no 'uuid:' line");
}
END_TEST

START_TEST(reject_huge)
{
    size_t n = REPL_GRASTATE_MAX_SIZE + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', n);
    memcpy(big, galera_21, strlen(galera_21));
    parse_bad(big, n, "65537 bytes");
    /* Just under the cap is still a (strange but valid) file: a huge trailing comment. */
    parse_ok(big, n - 1);
    free(big);
}
END_TEST

START_TEST(err_may_be_null)
{
    struct repl_grastate st;
    ck_assert_int_eq(repl_grastate_parse("junk", 4, &st, NULL, 0), -1);
    char tiny[4];
    ck_assert_int_eq(repl_grastate_parse("junk", 4, &st, tiny, sizeof tiny), -1);
    ck_assert_int_eq(tiny[3], '\0');
}
END_TEST

/* ---- files ---- */

static char dir[64];

static void mkdir_setup(void)
{
    strcpy(dir, "/tmp/check_grastate.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s; rm -rf %s", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void put_file(const char *name, const char *text, size_t len)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static size_t entries(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

START_TEST(read_missing_is_fresh)
{
    struct repl_grastate st = {.seqno = 99};
    char err[512] = "";
    ck_assert_int_eq(repl_grastate_read(dir, &st, err, sizeof err), 1);
    ck_assert(tr_uuid_is_nil(&st.uuid));
    ck_assert_int_eq(st.seqno, -1);
    ck_assert(st.safe_to_bootstrap);
}
END_TEST

START_TEST(write_then_read)
{
    mode_t old_mask = umask(0);
    struct repl_grastate st = {.seqno = 77, .safe_to_bootstrap = false}, back;
    tr_uuid_generate(&st.uuid);
    char err[512] = "";
    ck_assert_msg(repl_grastate_write(dir, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(repl_grastate_read(dir, &back, err, sizeof err), 0);
    ck_assert_int_eq(tr_uuid_compare(&st.uuid, &back.uuid), 0);
    ck_assert_int_eq(back.seqno, 77);
    ck_assert(!back.safe_to_bootstrap);
    ck_assert_uint_eq(entries(), 1); /* no temporary file left behind */

    /* Overwrite a longer old file with a shorter one: nothing of the old text remains. */
    st.seqno = -1;
    st.safe_to_bootstrap = true;
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), 0);
    char path[192], text[512], want[REPL_GRASTATE_FORMAT_MAX];
    snprintf(path, sizeof path, "%s/grastate.dat", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    ck_assert_int_eq(repl_grastate_format(&st, want, sizeof want), (int)n);
    ck_assert_str_eq(text, want);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640); /* never world-readable, whatever the umask */
    umask(old_mask);
}
END_TEST

START_TEST(read_galera_written_file)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s     ", galera_21);
    put_file("grastate.dat", buf, (size_t)n);
    struct repl_grastate st;
    char err[512] = "";
    ck_assert_msg(repl_grastate_read(dir, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.seqno, 1234);
}
END_TEST

static void read_bad(const char *want)
{
    struct repl_grastate st;
    char err[1024] = "";
    ck_assert_int_eq(repl_grastate_read(dir, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

START_TEST(read_corrupt_files)
{
    char path[192];
    snprintf(path, sizeof path, "%s/grastate.dat", dir);

    put_file("grastate.dat", "", 0);
    read_bad("/grastate.dat is corrupt: file is empty");
    read_bad("wsrep-recover"); /* tells the operator what to do */
    read_bad("SST");

    put_file("grastate.dat", HEAD BODY_U "seqno:   12\0" "4\n", strlen(HEAD BODY_U) + 14);
    read_bad("is corrupt: line 4: NUL byte");

    put_file("grastate.dat", HEAD BODY_U "seqno:   abc\n", strlen(HEAD BODY_U "seqno:   abc\n"));
    read_bad("is corrupt: line 4: seqno 'abc'");

    size_t big = REPL_GRASTATE_MAX_SIZE * 2;
    char *junk = calloc(1, big);
    ck_assert_ptr_nonnull(junk);
    put_file("grastate.dat", junk, big);
    free(junk);
    read_bad("131072 bytes");

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    read_bad("not a regular file");
    ck_assert_int_eq(rmdir(path), 0);
}
END_TEST

START_TEST(read_unreadable)
{
    char sub[192];
    snprintf(sub, sizeof sub, "%s/nope", dir);
    struct repl_grastate st;
    char err[1024] = "";
    ck_assert_int_eq(repl_grastate_read(sub, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "does not exist") != NULL, "%s", err);

    if (geteuid() == 0) return; /* root reads through any mode bits */
    put_file("grastate.dat", galera_21, strlen(galera_21));
    char path[192];
    snprintf(path, sizeof path, "%s/grastate.dat", dir);
    ck_assert_int_eq(chmod(path, 0), 0);
    read_bad("Permission denied");
}
END_TEST

START_TEST(write_failures)
{
    struct repl_grastate st = {.seqno = 5, .safe_to_bootstrap = true};
    char err[1024] = "", sub[192];

    snprintf(sub, sizeof sub, "%s/nope", dir);
    ck_assert_int_eq(repl_grastate_write(sub, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot create") && strstr(err, "grastate.dat.tmp"), "%s", err);

    put_file("file", "x", 1); /* a file where the directory should be */
    snprintf(sub, sizeof sub, "%s/file", dir);
    ck_assert_int_eq(repl_grastate_write(sub, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "Not a directory") != NULL, "%s", err);

    st.seqno = -7;
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seqno -7 is invalid") != NULL, "%s", err);
    ck_assert_uint_eq(entries(), 1); /* only "file": nothing written */

    /* A grastate.dat that is a directory cannot be replaced; the temp file goes away. */
    snprintf(sub, sizeof sub, "%s/grastate.dat", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    put_file("grastate.dat/x", "x", 1);
    st.seqno = 5;
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot rename") != NULL, "%s", err);
    ck_assert_uint_eq(entries(), 2);

    if (geteuid() == 0) return; /* root writes through any mode bits */
    char ro[192];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    ck_assert_int_eq(mkdir(ro, 0500), 0);
    ck_assert_int_eq(repl_grastate_write(ro, &st, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "Permission denied") != NULL, "%s", err);
}
END_TEST

START_TEST(write_keeps_old_file_on_failure)
{
    struct repl_grastate st = {.seqno = 5, .safe_to_bootstrap = false}, back;
    char err[1024] = "";
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), 0);
    st.seqno = -9; /* refused before touching anything */
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), -1);
    ck_assert_int_eq(repl_grastate_read(dir, &back, err, sizeof err), 0);
    ck_assert_int_eq(back.seqno, 5);
}
END_TEST

static void expect_seqno(int64_t want)
{
    struct repl_grastate back;
    char err[1024] = "";
    ck_assert_msg(repl_grastate_read(dir, &back, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back.seqno, want);
}

/* Each step of the write fails in turn (injected): the good file stays as it was, no temporary
 * file is left, and the error names the step and the file. */
START_TEST(write_step_failures_keep_old_file)
{
    static const char *const points[] = {"file.create", "file.write", "file.fsync", "file.rename"};
    static const char *const words[] = {"cannot create", "cannot write", "cannot fsync",
                                        "cannot rename"};
    struct repl_grastate st = {.seqno = 5, .safe_to_bootstrap = false};
    tr_uuid_generate(&st.uuid);
    char err[1024] = "";
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), 0);
    st.seqno = 6;
    for (size_t i = 0; i < sizeof points / sizeof *points; i++) {
        err[0] = '\0';
        tr_fail_arm(points[i], 1, false);
        int rc = repl_grastate_write(dir, &st, err, sizeof err);
        ck_assert_int_eq(tr_fail_count(), 1);
        tr_fail_disarm();
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err, words[i]) && strstr(err, "grastate.dat"), "%s: %s", points[i], err);
        expect_seqno(5);
        ck_assert_uint_eq(entries(), 1);
    }
    /* after the rename: the new file is whole, but the caller hears it may not be durable */
    tr_fail_arm("file.dirsync", 1, false);
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), -1);
    tr_fail_disarm();
    ck_assert_msg(strstr(err, "fsync directory") != NULL, "%s", err);
    expect_seqno(6);
    ck_assert_uint_eq(entries(), 1);
}
END_TEST

/* A full disk cut short: a file size limit (in a child, so the test process keeps its own)
 * makes write() stop part way with EFBIG as ENOSPC would. The old file survives. */
START_TEST(short_write_keeps_old_file)
{
    struct repl_grastate st = {.seqno = 5, .safe_to_bootstrap = false};
    tr_uuid_generate(&st.uuid);
    char err[1024] = "";
    ck_assert_int_eq(repl_grastate_write(dir, &st, err, sizeof err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 40; /* shorter than the file: the first write is cut short */
        if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(2);
        st.seqno = 123456789;
        int rc = repl_grastate_write(dir, &st, err, sizeof err);
        _exit(rc == -1 && strstr(err, "cannot write") && strstr(err, "too large") ? 0 : 1);
    }
    int ws = 0;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %d", ws);
    expect_seqno(5);
    ck_assert_uint_eq(entries(), 1);
}
END_TEST

static Suite *grastate_suite(void)
{
    Suite *s = suite_create("grastate");
    TCase *p = tcase_create("parse");
    tcase_add_test(p, format_matches_galera);
    tcase_add_test(p, round_trip);
    tcase_add_test(p, galera_plain);
    tcase_add_test(p, galera_running_node);
    tcase_add_test(p, galera_padding);
    tcase_add_test(p, galera_v20_no_stb);
    tcase_add_test(p, operator_edits);
    tcase_add_test(p, seqno_limits);
    tcase_add_test(p, reject_empty_and_blank);
    tcase_add_test(p, reject_truncation_everywhere);
    tcase_add_test(p, reject_binary);
    tcase_add_test(p, reject_bad_uuid);
    tcase_add_test(p, reject_bad_seqno);
    tcase_add_test(p, reject_bad_other);
    tcase_add_test(p, reject_huge);
    tcase_add_test(p, err_may_be_null);
    suite_add_tcase(s, p);

    TCase *f = tcase_create("file");
    tcase_add_checked_fixture(f, mkdir_setup, rm_teardown);
    tcase_add_test(f, read_missing_is_fresh);
    tcase_add_test(f, write_then_read);
    tcase_add_test(f, read_galera_written_file);
    tcase_add_test(f, read_corrupt_files);
    tcase_add_test(f, read_unreadable);
    tcase_add_test(f, write_failures);
    tcase_add_test(f, write_keeps_old_file_on_failure);
    tcase_add_test(f, write_step_failures_keep_old_file);
    tcase_add_test(f, short_write_keeps_old_file);
    suite_add_tcase(s, f);
    return s;
}

int main(void)
{
    umask(022);
    SRunner *r = srunner_create(grastate_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
