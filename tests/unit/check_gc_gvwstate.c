/* tests/unit/check_gc_gvwstate: gvwstate.dat written as data (temporary file, fsync, rename,
 * directory fsync, mode 0640; a failed write leaves the good file), and peer text escaped for logs. */
#include "gcomm/gc_gvwstate.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tr_fail.h"
#include "common/tr_log.h"
#include "gcomm/gc_core_int.h"

static char dir[256], path[300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_gvw.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/gvwstate.dat", dir);
}

static void teardown(void)
{
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    unlink(path);
    rmdir(dir);
}

static size_t slurp(char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

START_TEST(writes_whole_file_0640)
{
    mode_t old = umask(0); /* the mode must not depend on the umask */
    const char *a = "# one\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)a, strlen(a)), 0);
    char b[64] = {0};
    ck_assert_uint_eq(slurp(b, sizeof b), strlen(a));
    ck_assert_str_eq(b, a);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    const char *c = "# two, longer\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)c, strlen(c)), 0);
    memset(b, 0, sizeof b);
    slurp(b, sizeof b);
    ck_assert_str_eq(b, c);
    ck_assert_int_eq(entries(), 1); /* no temporary file left */
    ck_assert_int_eq(gc_gvwstate_save(path, NULL, 0), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(gc_gvwstate_save(path, NULL, 0), 0); /* nothing to remove is fine */
    umask(old);
}
END_TEST

START_TEST(failed_write_keeps_good_file)
{
    const char *good = "# good\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)good, strlen(good)), 0);
    /* a file size limit makes the write fail as a full disk would (EFBIG instead of ENOSPC) */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, rl = {100, 100};
    getrlimit(RLIMIT_FSIZE, &old);
    rl.rlim_max = old.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    char big[4096];
    memset(big, 'x', sizeof big);
    int rc = gc_gvwstate_save(path, (const uint8_t *)big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &old); /* the process goes on (CK_FORK=no under valgrind) */
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_lt(rc, 0);
    char b[64] = {0};
    ck_assert_uint_eq(slurp(b, sizeof b), strlen(good));
    ck_assert_str_eq(b, good);
    ck_assert_int_eq(entries(), 1); /* the partial temporary file is gone */
}
END_TEST

/* Each step of the write fails in turn: the good file stays whole and no temporary file is left
 * (except a failed directory fsync, which comes after the rename: the new file is in place). */
START_TEST(each_failed_step_keeps_good_file)
{
    static const char *const steps[] = {"file.create", "file.write", "file.fsync", "file.rename"};
    const char *good = "# good\n", *next = "# next, longer than the good one\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)good, strlen(good)), 0);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        tr_fail_arm(steps[i], 1, false);
        int rc = gc_gvwstate_save(path, (const uint8_t *)next, strlen(next));
        ck_assert_int_eq(tr_fail_count(), 1);
        tr_fail_disarm();
        ck_assert_msg(rc < 0, "%s", steps[i]);
        char b[64] = {0};
        ck_assert_uint_eq(slurp(b, sizeof b), strlen(good));
        ck_assert_str_eq(b, good);
        ck_assert_int_eq(entries(), 1);
    }
    tr_fail_arm("file.dirsync", 1, false);
    ck_assert_int_lt(gc_gvwstate_save(path, (const uint8_t *)next, strlen(next)), 0);
    tr_fail_disarm();
    ck_assert_int_eq(entries(), 1);
    /* a removal whose directory fsync fails is reported too */
    tr_fail_arm("file.dirsync", 1, false);
    ck_assert_int_lt(gc_gvwstate_save(path, NULL, 0), 0);
    tr_fail_disarm();
}
END_TEST

/* A temporary file left behind (by a crash) or planted as a symlink is never written through. */
START_TEST(leftover_temporary_not_followed)
{
    char tmp[320], target[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(target, sizeof target, "%s/target", dir);
    FILE *f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("untouched\n", f);
    fclose(f);
    ck_assert_int_eq(symlink(target, tmp), 0);
    const char *a = "# state\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)a, strlen(a)), 0);
    char b[64] = {0};
    slurp(b, sizeof b);
    ck_assert_str_eq(b, a);
    f = fopen(target, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(b, sizeof b, f));
    fclose(f);
    ck_assert_str_eq(b, "untouched\n");
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    unlink(target);
}
END_TEST

/* The umask can only make the file tighter than 0640, never looser. */
START_TEST(umask_only_tightens)
{
    mode_t old = umask(077);
    const char *a = "# one\n";
    ck_assert_int_eq(gc_gvwstate_save(path, (const uint8_t *)a, strlen(a)), 0);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(missing_directory_fails)
{
    char nowhere[400];
    snprintf(nowhere, sizeof nowhere, "%s/no/such/dir/gvwstate.dat", dir);
    ck_assert_int_lt(gc_gvwstate_save(nowhere, (const uint8_t *)"x\n", 2), 0);
}
END_TEST

START_TEST(decode_bounds_epoch)
{
    char txt[512];
    tr_uuid me, u;
    gc_view v;
    snprintf(txt, sizeof txt,
             "my_uuid: 00000000-0000-0000-0000-000000000001\n#vwbeg\nview_id: %llu "
             "00000000-0000-0000-0000-000000000001 7\nhistory: 00000000-0000-0000-0000-000000000002\n"
             "member: 00000000-0000-0000-0000-000000000001 1\n#vwend\n",
             (unsigned long long)GC_COUNT_MAX);
    ck_assert_int_eq(gc_gvwstate_decode(txt, strlen(txt), &me, &v), 0);
    ck_assert_uint_eq(v.id.epoch, GC_COUNT_MAX);
    snprintf(txt, sizeof txt,
             "my_uuid: 00000000-0000-0000-0000-000000000001\n#vwbeg\nview_id: 18446744073709551615 "
             "00000000-0000-0000-0000-000000000001 7\nhistory: 00000000-0000-0000-0000-000000000002\n"
             "member: 00000000-0000-0000-0000-000000000001 1\n#vwend\n");
    ck_assert_int_eq(gc_gvwstate_decode(txt, strlen(txt), &u, &v), -1);
}
END_TEST

START_TEST(peer_text_escaped)
{
    char b[64];
    ck_assert_str_eq(gc_printable("node-1", b, sizeof b), "node-1");
    ck_assert_str_eq(gc_printable("a\nb\x1b[31m\\", b, sizeof b), "a\\x0ab\\x1b[31m\\x5c");
    ck_assert_str_eq(gc_printable("\xc3\xa9", b, sizeof b), "\\xc3\\xa9");
    char small[8];
    gc_printable("\n\n\n\n", small, sizeof small); /* truncated, never overrun */
    ck_assert_uint_lt(strlen(small), sizeof small);
}
END_TEST

static void quiet(enum tr_log_level l, const char *m) { (void)l; (void)m; }

int main(void)
{
    tr_log_set_sink(quiet);
    Suite *s = suite_create("gc_gvwstate");
    TCase *t = tcase_create("file");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, writes_whole_file_0640);
    tcase_add_test(t, failed_write_keeps_good_file);
    tcase_add_test(t, missing_directory_fails);
    tcase_add_test(t, each_failed_step_keeps_good_file);
    tcase_add_test(t, leftover_temporary_not_followed);
    tcase_add_test(t, umask_only_tightens);
    tcase_add_test(t, decode_bounds_epoch);
    tcase_add_test(t, peer_text_escaped);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
