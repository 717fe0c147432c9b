/* test_ca_hardening.c — revmq-ca defects found in review, one test each:
 * the atomic file writer must not write through a file planted at its temp
 * name (symlink or hard link: a private key would land in, or truncate,
 * someone else's file), and times past year 9999 are refused so that
 * `time + duration` cannot overflow int64. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca/ca.h"

struct fx {
    char dir[64];
    char path[128];   /* the file to write */
    char tmp[160];    /* the writer's temp name: <path>.tmp.<pid> */
    char victim[128]; /* a file the planted link points to */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ca_hardening.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/cert.key", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.%ld", f->path, (long)getpid());
    snprintf(f->victim, sizeof(f->victim), "%s/victim", f->dir);
    FILE *v = fopen(f->victim, "w");
    assert_non_null(v);
    fputs("precious", v);
    assert_int_equal(fclose(v), 0);
    assert_int_equal(chmod(f->victim, 0644), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->tmp);
    unlink(f->path);
    unlink(f->victim);
    rmdir(f->dir);
    free(f);
    unsetenv("REVMQ_CA_NOW");
    return 0;
}

static void read_all(const char *path, char *out, size_t outsz)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, outsz - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void assert_written_safely(struct fx *f)
{
    char buf[64];
    struct stat st;
    assert_int_equal(rmq_ca_write_file_atomic(f->path, "SECRET KEY", 10, 0600), RMQ_OK);
    read_all(f->victim, buf, sizeof(buf));
    assert_string_equal(buf, "precious");
    assert_int_equal(stat(f->victim, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1);
    read_all(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "SECRET KEY");
    assert_int_equal(lstat(f->tmp, &st), -1);
}

static void test_write_file_atomic__does_not_follow_symlink_at_temp_name(void **state)
{
    struct fx *f = *state;
    assert_int_equal(symlink(f->victim, f->tmp), 0);
    assert_written_safely(f);
}

static void test_write_file_atomic__does_not_write_through_hard_link_at_temp_name(void **state)
{
    struct fx *f = *state;
    assert_int_equal(link(f->victim, f->tmp), 0);
    assert_written_safely(f);
}

static void test_write_file_atomic__plain_write_and_replace(void **state)
{
    struct fx *f = *state;
    char buf[64];
    assert_int_equal(rmq_ca_write_file_atomic(f->path, "one", 3, 0644), RMQ_OK);
    assert_written_safely(f); /* replaces it, now 0600 */
    read_all(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "SECRET KEY");
}

static void test_time_parse__rejects_absolute_times_past_year_9999(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(rmq_ca_time_parse("@253402300799", 0, &t), RMQ_OK);
    assert_int_equal(t, RMQ_CA_TIME_MAX);
    assert_int_not_equal(rmq_ca_time_parse("@253402300800", 0, &t), RMQ_OK);
    assert_int_not_equal(rmq_ca_time_parse("@9223372036854775807", 0, &t), RMQ_OK);
    assert_int_not_equal(rmq_ca_time_parse("@99999999999999999999999", 0, &t), RMQ_OK);
    /* the largest relative time from the latest "now" does not overflow */
    assert_int_equal(rmq_ca_time_parse("+1099511627776s", RMQ_CA_TIME_MAX, &t), RMQ_OK);
    assert_true(t > RMQ_CA_TIME_MAX);
}

static void test_now__ignores_env_past_year_9999(void **state)
{
    (void)state;
    setenv("REVMQ_CA_NOW", "253402300799", 1);
    assert_int_equal(rmq_ca_now(), RMQ_CA_TIME_MAX);
    setenv("REVMQ_CA_NOW", "9223372036854775807", 1);
    int64_t now = rmq_ca_now();
    assert_true(now > 1600000000 && now < RMQ_CA_TIME_MAX); /* time(NULL) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_write_file_atomic__does_not_follow_symlink_at_temp_name, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_write_file_atomic__does_not_write_through_hard_link_at_temp_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file_atomic__plain_write_and_replace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_time_parse__rejects_absolute_times_past_year_9999,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_now__ignores_env_past_year_9999, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
