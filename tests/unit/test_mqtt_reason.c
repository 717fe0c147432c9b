/*
 * Unit tests for the MQTT reason code table (codec.h RMQ_REASON_TABLE):
 * which packet may carry which code is checked against the lists of each
 * packet's section in MQTT 5.0, typed here independently of the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/codec.h"

struct spec_list {
    enum rmq_pkt_type type;
    const char *codes; /* the section's list */
    size_t n;
};

#define LIST(t, s)                                                                                 \
    {                                                                                              \
        t, s, sizeof(s) - 1                                                                        \
    }
static const struct spec_list spec[] = {
    /* 3.2.2.2 */
    LIST(RMQ_PKT_CONNACK, "\x00\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8c\x90\x95\x97\x99\x9a"
                          "\x9b\x9c\x9d\x9f"),
    /* 3.4.2.1, 3.5.2.1 */
    LIST(RMQ_PKT_PUBACK, "\x00\x10\x80\x83\x87\x90\x91\x97\x99"),
    LIST(RMQ_PKT_PUBREC, "\x00\x10\x80\x83\x87\x90\x91\x97\x99"),
    /* 3.6.2.1, 3.7.2.1 */
    LIST(RMQ_PKT_PUBREL, "\x00\x92"),
    LIST(RMQ_PKT_PUBCOMP, "\x00\x92"),
    /* 3.9.3 */
    LIST(RMQ_PKT_SUBACK, "\x00\x01\x02\x80\x83\x87\x8f\x91\x97\x9e\xa1\xa2"),
    /* 3.11.3 */
    LIST(RMQ_PKT_UNSUBACK, "\x00\x11\x80\x83\x87\x8f\x91"),
    /* 3.14.2.1 */
    LIST(RMQ_PKT_DISCONNECT, "\x00\x04\x80\x81\x82\x83\x87\x89\x8b\x8d\x8e\x8f\x90\x93\x94\x95\x96"
                             "\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2"),
    /* 3.15.2.1 */
    LIST(RMQ_PKT_AUTH, "\x00\x18\x19"),
    /* no reason codes */
    LIST(RMQ_PKT_CONNECT, ""),
    LIST(RMQ_PKT_PUBLISH, ""),
    LIST(RMQ_PKT_PINGREQ, ""),
};

static void test_reason_valid__matches_each_packet_list(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        for (unsigned rc = 0; rc < 256; rc++) {
            bool listed = memchr(spec[i].codes, (int)rc, spec[i].n) != NULL;
            if (rmq_reason_valid((uint8_t)rc, spec[i].type) != listed) {
                fail_msg("%s reason 0x%02x: table says %d, spec %d",
                         rmq_pkt_type_name(spec[i].type), rc, !listed, listed);
            }
        }
    }
}

static void test_reason_name__spec_wording_from_the_table(void **state)
{
    (void)state;
    assert_string_equal(rmq_reason_name(RMQ_RC_SUCCESS), "Success");
    assert_string_equal(rmq_reason_name(RMQ_RC_MALFORMED_PACKET), "Malformed Packet");
    assert_string_equal(rmq_reason_name(RMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED),
                        "Wildcard Subscriptions not supported");
    assert_string_equal(rmq_reason_name(0x03), "Unknown");
    assert_string_equal(rmq_reason_name(0xff), "Unknown");
    /* every code some packet carries has a name, and only those */
    for (unsigned rc = 0; rc < 256; rc++) {
        bool carried = false;
        for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
            carried = carried || memchr(spec[i].codes, (int)rc, spec[i].n) != NULL;
        }
        assert_int_equal(strcmp(rmq_reason_name((uint8_t)rc), "Unknown") != 0, carried);
    }
}

static void test_reason_for__falls_back_to_unspecified(void **state)
{
    (void)state;
    assert_int_equal(rmq_reason_for(RMQ_PKT_DISCONNECT, RMQ_RC_SESSION_TAKEN_OVER),
                     RMQ_RC_SESSION_TAKEN_OVER);
    assert_int_equal(rmq_reason_for(RMQ_PKT_DISCONNECT, RMQ_RC_BANNED), RMQ_RC_UNSPECIFIED_ERROR);
    assert_int_equal(rmq_reason_for(RMQ_PKT_CONNACK, RMQ_RC_TOPIC_ALIAS_INVALID),
                     RMQ_RC_UNSPECIFIED_ERROR);
    assert_int_equal(rmq_reason_for(RMQ_PKT_CONNACK, RMQ_RC_BANNED), RMQ_RC_BANNED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_valid__matches_each_packet_list),
        cmocka_unit_test(test_reason_name__spec_wording_from_the_table),
        cmocka_unit_test(test_reason_for__falls_back_to_unspecified),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
