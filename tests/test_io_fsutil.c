/* File utilities: mkdir -p, whole-file read, atomic replace, path join, run directories. */
#include "io_tmp.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

START_TEST(mkdir_p_creates_parents) {
    rd_err err = {0};
    const char *deep = io_tmp_path("a/b//c/d/");
    ck_assert_int_eq(rd_mkdir_p(deep, &err), RD_OK);
    ck_assert(is_dir(io_tmp_path("a/b/c/d")));
    ck_assert_int_eq(rd_mkdir_p(deep, &err), RD_OK); /* existing is fine */
    /* a file in the way is refused, naming it */
    io_write_text(io_tmp_path("a/file"), "x");
    ck_assert_int_eq(rd_mkdir_p(io_tmp_path("a/file/sub"), &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "a/file");
    ck_assert_int_eq(rd_mkdir_p("", &err), RD_ERR_ARG);
}
END_TEST

START_TEST(read_file_whole) {
    rd_err err = {0};
    char big[20000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    io_write_bytes(io_tmp_path("big.txt"), big, sizeof big);
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(rd_read_file(io_tmp_path("big.txt"), &data, &len, &err), RD_OK);
    ck_assert_uint_eq(len, sizeof big);
    ck_assert(memcmp(data, big, len) == 0);
    ck_assert_int_eq(data[len], 0);
    free(data);
    io_write_bytes(io_tmp_path("empty.txt"), "", 0);
    ck_assert_int_eq(rd_read_file(io_tmp_path("empty.txt"), &data, &len, &err), RD_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    free(data);
    ck_assert_int_eq(rd_read_file(io_tmp_path("missing.txt"), &data, &len, &err), RD_ERR_IO);
    ck_assert_ptr_null(data);
    IO_ASSERT_HAS(err.msg, "missing.txt");
    IO_ASSERT_HAS(err.msg, "No such file");
    ck_assert_int_eq(rd_read_file(io_tmp_dir(), &data, &len, &err), RD_ERR_IO);
    /* an endless file (--config /dev/zero) is refused at RD_TEXT_MAX_BYTES, not read until memory runs out */
    ck_assert_int_eq(rd_read_file("/dev/zero", &data, &len, &err), RD_ERR_FORMAT);
    ck_assert_ptr_null(data);
    IO_ASSERT_HAS(err.msg, "/dev/zero: larger than 64 MiB");
}
END_TEST

START_TEST(atomic_write_replaces_or_keeps) {
    rd_err err = {0};
    const char *p = io_tmp_path("atomic.txt");
    ck_assert_int_eq(rd_write_file_atomic(p, "first", 5, &err), RD_OK);
    ck_assert_int_eq(rd_write_file_atomic(p, "second!", 7, &err), RD_OK);
    char *data = NULL;
    size_t len;
    ck_assert_int_eq(rd_read_file(p, &data, &len, &err), RD_OK);
    ck_assert_str_eq(data, "second!");
    free(data);
    /* no temporary file left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);

    /* an aborted write leaves the old file as it was */
    rd_atomic_file af;
    ck_assert_int_eq(rd_atomic_open(&af, p, &err), RD_OK);
    fputs("half-written", af.f);
    ck_assert_int_eq(access(af.tmp, F_OK), 0);
    rd_atomic_abort(&af);
    rd_atomic_abort(&af); /* twice is fine */
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_eq(rd_read_file(p, &data, &len, &err), RD_OK);
    ck_assert_str_eq(data, "second!");
    free(data);

    /* a directory that does not exist: refused, naming the path */
    ck_assert_int_eq(rd_write_file_atomic(io_tmp_path("no/such/dir/x"), "a", 1, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "no/such/dir/x");
    /* renaming over a directory fails: the temporary file is removed, the directory stays */
    ck_assert_int_eq(rd_mkdir_p(io_tmp_path("adir/inner"), &err), RD_OK);
    ck_assert_int_eq(rd_write_file_atomic(io_tmp_path("adir"), "a", 1, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "rename");
    ck_assert(is_dir(io_tmp_path("adir/inner")));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", io_tmp_path("adir"), (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);

    /* a temporary file a killed process left is removed by the next write; one at our own
     * name that is a link is never written through (the file it points to stays as it was) */
    pid_t child = fork();
    if (child == 0) _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char stale[600];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", p, (long)child);
    io_write_text(stale, "left by a crash");
    const char *victim = io_tmp_path("victim.txt");
    io_write_text(victim, "precious");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(symlink(victim, tmp), 0);
    ck_assert_int_eq(rd_write_file_atomic(p, "third", 5, &err), RD_OK);
    ck_assert_msg(access(stale, F_OK) != 0, "%s is still there", stale);
    ck_assert_int_eq(rd_read_file(victim, &data, &len, &err), RD_OK);
    ck_assert_str_eq(data, "precious");
    free(data);
    ck_assert_int_eq(rd_read_file(p, &data, &len, &err), RD_OK);
    ck_assert_str_eq(data, "third");
    free(data);
}
END_TEST

START_TEST(path_join) {
    rd_err err = {0};
    char out[16];
    ck_assert_int_eq(rd_path_join(out, sizeof out, "runs", "x.ini", &err), RD_OK);
    ck_assert_str_eq(out, "runs/x.ini");
    ck_assert_int_eq(rd_path_join(out, sizeof out, "runs/", "x", &err), RD_OK);
    ck_assert_str_eq(out, "runs/x");
    ck_assert_int_eq(rd_path_join(out, sizeof out, "", "x", &err), RD_OK);
    ck_assert_str_eq(out, "x");
    ck_assert_int_eq(rd_path_join(out, sizeof out, "runs", "/abs", &err), RD_OK);
    ck_assert_str_eq(out, "/abs");
    ck_assert_int_eq(rd_path_join(out, sizeof out, "runs", "", &err), RD_OK);
    ck_assert_str_eq(out, "runs");
    ck_assert_int_eq(rd_path_join(out, sizeof out, "a-long-directory", "and-a-long-file", &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "longer than 15");
}
END_TEST

START_TEST(run_dir_create_and_refuse) {
    rd_err err = {0};
    char out[512];
    /* automatic: <root>/<timestamp>-<name>, with odd characters replaced */
    rd_run_dir_options o = {.root = io_tmp_path("runs"), .name = "darts mnist/1"};
    ck_assert_int_eq(rd_run_dir_create(&o, out, sizeof out, &err), RD_OK);
    ck_assert(is_dir(out));
    ck_assert_int_eq(rd_dir_is_empty(out), 1);
    size_t rl = strlen(o.root);
    ck_assert(strncmp(out, o.root, rl) == 0 && out[rl] == '/');
    const char *leaf = out + rl + 1;
    ck_assert_uint_eq(strlen(leaf), strlen("20240101-123456-darts_mnist_1"));
    ck_assert_str_eq(leaf + 15, "-darts_mnist_1");
    for (int i = 0; i < 15; i++) ck_assert(i == 8 ? leaf[i] == '-' : (leaf[i] >= '0' && leaf[i] <= '9'));
    /* a second run in the same second gets its own directory */
    char out2[512];
    ck_assert_int_eq(rd_run_dir_create(&o, out2, sizeof out2, &err), RD_OK);
    ck_assert_str_ne(out, out2);

    /* explicit: created when missing, reused when empty, refused when not empty */
    rd_run_dir_options e = {.dir = io_tmp_path("explicit/run1")};
    ck_assert_int_eq(rd_run_dir_create(&e, out, sizeof out, &err), RD_OK);
    ck_assert_str_eq(out, e.dir);
    ck_assert_int_eq(rd_run_dir_create(&e, out, sizeof out, &err), RD_OK);
    io_write_text(io_tmp_path("explicit/run1/metrics.jsonl"), "{}\n");
    ck_assert_int_eq(rd_dir_is_empty(e.dir), 0);
    ck_assert_int_eq(rd_run_dir_create(&e, out, sizeof out, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "not empty");
    IO_ASSERT_HAS(err.msg, "explicit/run1");
    /* nothing was removed */
    ck_assert_int_eq(access(io_tmp_path("explicit/run1/metrics.jsonl"), F_OK), 0);
    /* resuming the non-empty run is fine */
    e.resume = true;
    ck_assert_int_eq(rd_run_dir_create(&e, out, sizeof out, &err), RD_OK);
    /* resuming a run that does not exist is refused */
    rd_run_dir_options r = {.dir = io_tmp_path("explicit/nope"), .resume = true};
    ck_assert_int_eq(rd_run_dir_create(&r, out, sizeof out, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "does not exist");
    /* resuming needs a directory */
    rd_run_dir_options a = {.root = io_tmp_path("runs"), .resume = true};
    ck_assert_int_eq(rd_run_dir_create(&a, out, sizeof out, &err), RD_ERR_ARG);
    /* a file where the directory should be */
    rd_run_dir_options f = {.dir = io_tmp_path("explicit/run1/metrics.jsonl")};
    ck_assert_int_eq(rd_run_dir_create(&f, out, sizeof out, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "not a directory");
    /* output buffer too small */
    char tiny[4];
    rd_run_dir_options t = {.dir = io_tmp_path("explicit/run2")};
    ck_assert_int_eq(rd_run_dir_create(&t, tiny, sizeof tiny, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_dir_is_empty(io_tmp_path("no-such")), -1);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io_fsutil");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, mkdir_p_creates_parents);
    tcase_add_test(tc, read_file_whole);
    tcase_add_test(tc, atomic_write_replaces_or_keeps);
    tcase_add_test(tc, path_join);
    tcase_add_test(tc, run_dir_create_and_refuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
