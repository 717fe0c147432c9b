/*
 * Unit tests for src/common/hash.c: SipHash-2-4 against reference values
 * (key 00..0f, message 00 01 02 … of each length, computed with OpenSSL's
 * SIPHASH MAC: `openssl mac -macopt hexkey:000102…0f -macopt size:8 SIPHASH`),
 * and the per-process key of rmq_hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hash.h"

static void test_siphash24__reference_vectors(void **state)
{
    (void)state;
    static const struct {
        size_t len;
        uint64_t h;
    } v[] = {
        {0, 0x726fdb47dd0e0e31ull},  {1, 0x74f839c593dc67fdull},  {7, 0xab0200f58b01d137ull},
        {8, 0x93f5f5799a932462ull},  {9, 0x9e0082df0ba9e4b0ull},  {15, 0xa129ca6149be45e5ull},
        {16, 0x3f2acc7f57c29bdbull}, {17, 0x699ae9f52cbe4794ull}, {63, 0x958a324ceb064572ull},
    };
    uint8_t key[16], msg[64];
    for (unsigned i = 0; i < 16; i++) {
        key[i] = (uint8_t)i;
    }
    for (unsigned i = 0; i < 64; i++) {
        msg[i] = (uint8_t)i;
    }
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(rmq_siphash24(key, msg, v[i].len), v[i].h);
    }
}

/* The key is fixed within a process and unknown outside it: equal input gives
 * equal hashes here, and they differ from the all-zero key's. */
static void test_hash__keyed_per_process(void **state)
{
    (void)state;
    static const uint8_t zero[16];
    assert_int_equal(rmq_hash("client-1", 8), rmq_hash("client-1", 8));
    assert_int_not_equal(rmq_hash("client-1", 8), rmq_hash("client-2", 8));
    assert_int_not_equal(rmq_hash("client-1", 8), rmq_siphash24(zero, "client-1", 8));
}

/* Two processes get different keys (2^-64 chance of a false failure). */
static void test_hash__differs_between_processes(void **state)
{
    (void)state;
    uint64_t mine = rmq_hash("x", 1);
    char exe[4096], cmd[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' --print-hash", exe);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    unsigned long long other = 0;
    assert_int_equal(fscanf(f, "%llx", &other), 1);
    assert_int_equal(pclose(f), 0);
    assert_int_not_equal(other, mine);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-hash") == 0) {
        printf("%llx\n", (unsigned long long)rmq_hash("x", 1));
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash24__reference_vectors),
        cmocka_unit_test(test_hash__keyed_per_process),
        cmocka_unit_test(test_hash__differs_between_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
