/*
 * test_revocation_refusal.c — the one table of refusal reasons (issue 18):
 * names unique and well-formed, found by name, every one documented in
 * docs/revocation.md, and what the CRL checks return comes from it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "revocation/crl_int.h"
#include "revocation/refusal.h"
#include "test_revocation_crl_pki.h"

static void test_refusal__names_unique_and_findable(void **state)
{
    (void)state;
    for (unsigned i = 0; i < RMQ_REFUSAL__COUNT; i++) {
        const char *n = rmq_refusal_name((enum rmq_refusal)i);
        assert_true(n[0] != '\0');
        for (const char *p = n; *p; p++) {
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        }
        assert_true(rmq_refusal_meaning((enum rmq_refusal)i)[0] != '\0');
        assert_true(rmq_refusal_kinds((enum rmq_refusal)i) != 0);
        enum rmq_refusal r;
        assert_true(rmq_refusal_find(n, &r));
        assert_int_equal(r, i); /* so no two rows share a name */
    }
    enum rmq_refusal r;
    assert_false(rmq_refusal_find("idp_unsupported", &r));
    assert_false(rmq_refusal_find(NULL, &r));
    assert_string_equal(rmq_refusal_name(RMQ_REFUSAL__COUNT), "?");
    assert_string_equal(RMQ_REFUSED(INDIRECT_CRL), "indirect_crl");
}

static void test_refusal__every_reason_documented(void **state)
{
    (void)state;
    const char *src = getenv("RMQ_SOURCE_DIR");
    if (src == NULL) {
        skip();
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/revocation.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (unsigned i = 0; i < RMQ_REFUSAL__COUNT; i++) {
        char row[128];
        snprintf(row, sizeof row, "| `%s` |", rmq_refusal_name((enum rmq_refusal)i));
        if (strstr(doc, row) == NULL) {
            fail_msg("docs/revocation.md has no row for reason %s", row);
        }
    }
}

static void test_refusal__crl_checks_speak_the_table(void **state)
{
    (void)state;
    struct tca ca = tca_make("Refusal CA", true);
    STACK_OF(X509) *trust = sk_X509_new_null();
    sk_X509_push(trust, ca.cert);
    struct tcrl_opts o = tcrl_defaults();
    o.idp = "critical,indirectCRL:TRUE";
    X509_CRL *crl = tcrl_make(&ca, &ca, NULL, 0, NULL, o);
    const char *why = rmq_crl_check(crl, trust, time(NULL), 0, NULL);
    enum rmq_refusal r;
    assert_true(rmq_refusal_find(why, &r));
    assert_int_equal(r, RMQ_REFUSAL_INDIRECT_CRL);
    assert_ptr_equal(why, RMQ_REFUSED(INDIRECT_CRL)); /* the table's own string */
    assert_true(rmq_refusal_kinds(r) & RMQ_REFUSAL_CRL);
    X509_CRL_free(crl);
    STACK_OF(X509_CRL) *sk = NULL;
    assert_int_not_equal(rmq_crl_parse_body((const uint8_t *)"nope", 4, &sk, &why), RMQ_OK);
    assert_ptr_equal(why, RMQ_REFUSED(GARBAGE));
    sk_X509_free(trust);
    tca_free(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal__names_unique_and_findable),
        cmocka_unit_test(test_refusal__every_reason_documented),
        cmocka_unit_test(test_refusal__crl_checks_speak_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
