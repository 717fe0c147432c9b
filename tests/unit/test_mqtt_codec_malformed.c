/*
 * test_mqtt_codec_malformed.c — every malformed / protocol-error case the
 * decoder detects, each with the MQTT 5 reason code it must report, plus a
 * few valid edge forms next to them (accepted, with the decoded value).
 *
 * Each case is one cmocka test named after the rule it checks. Packets are
 * written in hex, byte by byte, so they do not depend on the encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/codec.h"
#include "test_mqtt_codec_samples.h"

#define SRV RMQ_CODEC_ROLE_SERVER
#define CLI RMQ_CODEC_ROLE_CLIENT
#define MAL RMQ_ERR_MALFORMED
#define OK RMQ_OK

/* CONNECT prefix pieces (v0 = expect CONNECT). */
#define MQTT4 "00 04 4d 51 54 54 04"
#define MQTT5 "00 04 4d 51 54 54 05"
#define MQISDP "00 06 4d 51 49 73 64 70 03"

/*
 * X(name, version, role, hex, expected rmq_err, expected reason)
 * For OK cases the reason column is unused (0).
 */
#define CASES(X)                                                                                   \
    /* ---- fixed header ---- */                                                                   \
    X(test_decode__rejects_reserved_type_0, 4, SRV, "00 00", MAL, 0x81)                            \
    X(test_decode__rejects_remaining_length_over_4_bytes, 4, SRV, "30 80 80 80 80 01", MAL, 0x81)  \
    X(test_decode__rejects_auth_before_v5, 4, SRV, "f0 00", MAL, 0x81)                             \
    X(test_decode__rejects_packet_before_connect, 0, SRV, "c0 00", MAL, 0x82)                      \
    X(test_decode_pingreq__rejects_reserved_flags, 4, SRV, "c1 00", MAL, 0x81)                     \
    X(test_decode_pingreq__rejects_nonzero_length, 4, SRV, "c0 01 00", MAL, 0x81)                  \
    X(test_decode_pingresp__rejects_nonzero_length, 5, CLI, "d0 01 00", MAL, 0x81)                 \
    X(test_decode_puback__rejects_reserved_flags, 4, SRV, "41 02 00 01", MAL, 0x81)                \
    X(test_decode_pubrel__rejects_flags_0, 4, SRV, "60 02 00 01", MAL, 0x81)                       \
    X(test_decode_pubrel__rejects_dup_flag_v311, 4, SRV, "6a 02 00 01", MAL, 0x81)                 \
    X(test_decode_pubrel__accepts_dup_flag_v31, 3, SRV, "6a 02 00 01", OK, 0)                      \
    X(test_decode_subscribe__rejects_flags_0, 4, SRV, "80 06 00 01 00 01 61 00", MAL, 0x81)        \
    X(test_decode_unsubscribe__rejects_flags_0, 4, SRV, "a0 05 00 01 00 01 61", MAL, 0x81)         \
    X(test_decode_connect__rejects_reserved_fixed_flags, 0, SRV, "11 0c " MQTT4 " 02 00 3c 00 00", \
      MAL, 0x81)                                                                                   \
    X(test_decode_disconnect__rejects_reserved_flags, 5, SRV, "e2 00", MAL, 0x81)                  \
    X(test_decode_auth__rejects_reserved_flags, 5, SRV, "f1 00", MAL, 0x81)                        \
    /* ---- CONNECT ---- */                                                                        \
    X(test_decode_connect__accepts_minimal_v311, 0, SRV, "10 0c " MQTT4 " 02 00 3c 00 00", OK, 0)  \
    X(test_decode_connect__rejects_reserved_flag_bit0, 0, SRV, "10 0c " MQTT4 " 03 00 3c 00 00",   \
      MAL, 0x81)                                                                                   \
    X(test_decode_connect__rejects_unknown_protocol_name, 0, SRV,                                  \
      "10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00", MAL, 0x82)                                      \
    X(test_decode_connect__rejects_unsupported_level, 0, SRV,                                      \
      "10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00", MAL, 0x84)                                      \
    X(test_decode_connect__rejects_mqtt_name_with_level_3, 0, SRV,                                 \
      "10 0c 00 04 4d 51 54 54 03 02 00 3c 00 00", MAL, 0x84)                                      \
    X(test_decode_connect__rejects_mqisdp_name_with_level_4, 0, SRV,                               \
      "10 0f 00 06 4d 51 49 73 64 70 04 02 00 3c 00 01 63", MAL, 0x84)                             \
    X(test_decode_connect__accepts_v31, 0, SRV, "10 0f " MQISDP " 02 00 3c 00 01 63", OK, 0)       \
    X(test_decode_connect__rejects_empty_client_id_v31, 0, SRV, "10 0e " MQISDP " 02 00 3c 00 00", \
      MAL, 0x85)                                                                                   \
    X(test_decode_connect__rejects_empty_client_id_without_clean_session, 0, SRV,                  \
      "10 0c " MQTT4 " 00 00 3c 00 00", MAL, 0x85)                                                 \
    X(test_decode_connect__accepts_empty_client_id_without_clean_start_v5, 0, SRV,                 \
      "10 0d " MQTT5 " 00 00 3c 00 00 00", OK, 0)                                                  \
    X(test_decode_connect__rejects_will_qos_3, 0, SRV, "10 0c " MQTT4 " 1e 00 3c 00 00", MAL,      \
      0x81)                                                                                        \
    X(test_decode_connect__rejects_will_qos_without_will_flag, 0, SRV,                             \
      "10 0c " MQTT4 " 0a 00 3c 00 00", MAL, 0x81)                                                 \
    X(test_decode_connect__rejects_will_retain_without_will_flag, 0, SRV,                          \
      "10 0c " MQTT4 " 22 00 3c 00 00", MAL, 0x81)                                                 \
    X(test_decode_connect__rejects_password_without_username_v311, 0, SRV,                         \
      "10 0f " MQTT4 " 42 00 3c 00 00 00 01 70", MAL, 0x81)                                        \
    X(test_decode_connect__accepts_password_without_username_v31, 0, SRV,                          \
      "10 12 " MQISDP " 42 00 3c 00 01 63 00 01 70", OK, 0)                                        \
    X(test_decode_connect__accepts_password_without_username_v5, 0, SRV,                           \
      "10 10 " MQTT5 " 42 00 3c 00 00 00 00 01 70", OK, 0)                                         \
    X(test_decode_connect__rejects_invalid_utf8_client_id, 0, SRV,                                 \
      "10 0d " MQTT4 " 02 00 3c 00 01 c3", MAL, 0x81)                                              \
    X(test_decode_connect__rejects_invalid_utf8_username, 0, SRV,                                  \
      "10 0f " MQTT4 " 82 00 3c 00 00 00 01 ff", MAL, 0x81)                                        \
    X(test_decode_connect__rejects_trailing_bytes, 0, SRV, "10 0d " MQTT4 " 02 00 3c 00 00 00",    \
      MAL, 0x81)                                                                                   \
    X(test_decode_connect__rejects_string_past_packet_end, 0, SRV,                                 \
      "10 0e " MQTT4 " 02 00 3c 00 05 61 62", MAL, 0x81)                                           \
    X(test_decode_connect__rejects_missing_will_fields, 0, SRV, "10 0c " MQTT4 " 06 00 3c 00 00",  \
      MAL, 0x81)                                                                                   \
    X(test_decode_connect__rejects_will_topic_with_wildcard, 0, SRV,                               \
      "10 12 " MQTT4 " 06 00 3c 00 00 00 01 23 00 01 78", MAL, 0x90)                               \
    X(test_decode_connect__rejects_empty_will_topic, 0, SRV,                                       \
      "10 11 " MQTT4 " 06 00 3c 00 00 00 00 00 01 78", MAL, 0x90)                                  \
    X(test_decode_connect__rejects_duplicate_session_expiry_v5, 0, SRV,                            \
      "10 17 " MQTT5 " 02 00 3c 0a 11 00 00 00 01 11 00 00 00 02 00 00", MAL, 0x82)                \
    X(test_decode_connect__rejects_receive_maximum_zero_v5, 0, SRV,                                \
      "10 10 " MQTT5 " 02 00 3c 03 21 00 00 00 00", MAL, 0x82)                                     \
    X(test_decode_connect__rejects_maximum_packet_size_zero_v5, 0, SRV,                            \
      "10 12 " MQTT5 " 02 00 3c 05 27 00 00 00 00 00 00", MAL, 0x82)                               \
    X(test_decode_connect__rejects_request_problem_info_2_v5, 0, SRV,                              \
      "10 0f " MQTT5 " 02 00 3c 02 17 02 00 00", MAL, 0x82)                                        \
    X(test_decode_connect__rejects_auth_data_without_method_v5, 0, SRV,                            \
      "10 11 " MQTT5 " 02 00 3c 04 16 00 01 61 00 00", MAL, 0x82)                                  \
    X(test_decode_connect__rejects_will_delay_in_connect_properties_v5, 0, SRV,                    \
      "10 12 " MQTT5 " 02 00 3c 05 18 00 00 00 01 00 00", MAL, 0x81)                               \
    X(test_decode_connect__rejects_session_expiry_in_will_properties_v5, 0, SRV,                   \
      "10 18 " MQTT5 " 06 00 3c 00 00 00 05 11 00 00 00 01 00 01 74 00 00", MAL, 0x81)             \
    X(test_decode_connect__rejects_property_length_past_end_v5, 0, SRV,                            \
      "10 0d " MQTT5 " 02 00 3c 09 00 00", MAL, 0x81)                                              \
    /* ---- CONNACK ---- */                                                                        \
    X(test_decode_connack__rejects_reserved_ack_flags, 4, CLI, "20 02 02 00", MAL, 0x81)           \
    X(test_decode_connack__rejects_v3_return_code_6, 4, CLI, "20 02 00 06", MAL, 0x82)             \
    X(test_decode_connack__rejects_session_present_with_refusal, 4, CLI, "20 02 01 05", MAL, 0x82) \
    X(test_decode_connack__rejects_reason_not_allowed_v5, 5, CLI, "20 03 00 10 00", MAL, 0x82)     \
    X(test_decode_connack__rejects_missing_property_length_v5, 5, CLI, "20 02 00 00", MAL, 0x81)   \
    X(test_decode_connack__rejects_maximum_qos_2_v5, 5, CLI, "20 05 00 00 02 24 02", MAL, 0x82)    \
    X(test_decode_connack__rejects_extra_bytes_v311, 4, CLI, "20 03 00 00 00", MAL, 0x81)          \
    /* ---- PUBLISH ---- */                                                                        \
    X(test_decode_publish__rejects_qos_3, 4, SRV, "36 05 00 01 61 00 01", MAL, 0x81)               \
    X(test_decode_publish__rejects_dup_with_qos_0, 4, SRV, "38 03 00 01 61", MAL, 0x82)            \
    X(test_decode_publish__rejects_topic_with_wildcard, 4, SRV, "30 03 00 01 23", MAL, 0x90)       \
    X(test_decode_publish__rejects_topic_with_plus, 5, SRV, "30 06 00 03 61 2b 62 00", MAL, 0x90)  \
    X(test_decode_publish__rejects_empty_topic_v311, 4, SRV, "30 02 00 00", MAL, 0x82)             \
    X(test_decode_publish__rejects_empty_topic_without_alias_v5, 5, SRV, "30 03 00 00 00", MAL,    \
      0x82)                                                                                        \
    X(test_decode_publish__accepts_empty_topic_with_alias_v5, 5, SRV, "30 06 00 00 03 23 00 01",   \
      OK, 0)                                                                                       \
    X(test_decode_publish__rejects_topic_alias_0_v5, 5, SRV, "30 07 00 01 61 03 23 00 00", MAL,    \
      0x94)                                                                                        \
    X(test_decode_publish__rejects_packet_id_0, 4, SRV, "32 05 00 01 61 00 00", MAL, 0x82)         \
    X(test_decode_publish__rejects_missing_packet_id, 4, SRV, "32 03 00 01 61", MAL, 0x81)         \
    X(test_decode_publish__rejects_invalid_utf8_topic, 4, SRV, "30 03 00 01 ff", MAL, 0x81)        \
    X(test_decode_publish__rejects_nul_in_topic, 4, SRV, "30 04 00 02 61 00", MAL, 0x81)           \
    X(test_decode_publish__rejects_surrogate_in_topic, 4, SRV, "30 05 00 03 ed a0 80", MAL, 0x81)  \
    X(test_decode_publish__rejects_overlong_utf8_in_topic, 4, SRV, "30 04 00 02 c0 af", MAL, 0x81) \
    X(test_decode_publish__rejects_topic_length_past_end, 4, SRV, "30 03 00 05 61", MAL, 0x81)     \
    X(test_decode_publish__accepts_empty_payload, 4, SRV, "31 03 00 01 61", OK, 0)                 \
    X(test_decode_publish__rejects_subscription_id_from_client_v5, 5, SRV,                         \
      "30 06 00 01 61 02 0b 01", MAL, 0x82)                                                        \
    X(test_decode_publish__accepts_subscription_ids_from_server_v5, 5, CLI,                        \
      "30 08 00 01 61 04 0b 01 0b 02", OK, 0)                                                      \
    X(test_decode_publish__rejects_subscription_id_0_v5, 5, CLI, "30 06 00 01 61 02 0b 00", MAL,   \
      0x82)                                                                                        \
    X(test_decode_publish__rejects_duplicate_payload_format_v5, 5, SRV,                            \
      "30 08 00 01 61 04 01 00 01 00", MAL, 0x82)                                                  \
    X(test_decode_publish__rejects_duplicate_topic_alias_v5, 5, SRV,                               \
      "30 0a 00 01 61 06 23 00 01 23 00 02", MAL, 0x82)                                            \
    X(test_decode_publish__rejects_payload_format_2_v5, 5, SRV, "30 06 00 01 61 02 01 02", MAL,    \
      0x82)                                                                                        \
    X(test_decode_publish__rejects_property_not_allowed_v5, 5, SRV,                                \
      "30 09 00 01 61 05 11 00 00 00 01", MAL, 0x81)                                               \
    X(test_decode_publish__rejects_unknown_property_id_v5, 5, SRV, "30 06 00 01 61 02 7f 00", MAL, \
      0x81)                                                                                        \
    X(test_decode_publish__rejects_property_length_past_end_v5, 5, SRV, "30 05 00 01 61 09 01",    \
      MAL, 0x81)                                                                                   \
    X(test_decode_publish__rejects_truncated_property_value_v5, 5, SRV, "30 06 00 01 61 02 02 00", \
      MAL, 0x81)                                                                                   \
    X(test_decode_publish__rejects_property_length_over_4_bytes_v5, 5, SRV,                        \
      "30 08 00 01 61 80 80 80 80 01", MAL, 0x81)                                                  \
    X(test_decode_publish__rejects_response_topic_with_wildcard_v5, 5, SRV,                        \
      "30 0a 00 01 61 06 08 00 03 61 2f 23", MAL, 0x82)                                            \
    X(test_decode_publish__rejects_invalid_utf8_user_property_v5, 5, SRV,                          \
      "30 0b 00 01 61 07 26 00 01 ff 00 01 62", MAL, 0x81)                                         \
    X(test_decode_publish__rejects_invalid_utf8_content_type_v5, 5, SRV,                           \
      "30 08 00 01 61 04 03 00 01 80", MAL, 0x81)                                                  \
    X(test_decode_publish__accepts_binary_correlation_data_v5, 5, SRV,                             \
      "30 09 00 01 61 05 09 00 02 00 ff", OK, 0)                                                   \
    /* ---- PUBACK / PUBREC / PUBREL / PUBCOMP ---- */                                             \
    X(test_decode_puback__rejects_packet_id_0, 4, SRV, "40 02 00 00", MAL, 0x82)                   \
    X(test_decode_puback__rejects_extra_bytes_v311, 4, SRV, "40 03 00 01 00", MAL, 0x81)           \
    X(test_decode_puback__rejects_short_packet, 4, SRV, "40 01 00", MAL, 0x81)                     \
    X(test_decode_puback__accepts_short_form_v5, 5, SRV, "40 02 00 01", OK, 0)                     \
    X(test_decode_puback__accepts_reason_without_properties_v5, 5, SRV, "40 03 00 01 10", OK, 0)   \
    X(test_decode_puback__rejects_reason_not_allowed_v5, 5, SRV, "40 03 00 01 92", MAL, 0x82)      \
    X(test_decode_pubrec__rejects_reason_not_allowed_v5, 5, SRV, "50 03 00 01 04", MAL, 0x82)      \
    X(test_decode_pubrel__rejects_reason_not_allowed_v5, 5, SRV, "62 03 00 01 10", MAL, 0x82)      \
    X(test_decode_pubcomp__rejects_reason_not_allowed_v5, 5, SRV, "70 03 00 01 80", MAL, 0x82)     \
    X(test_decode_puback__rejects_property_not_allowed_v5, 5, SRV,                                 \
      "40 09 00 01 00 05 11 00 00 00 01", MAL, 0x81)                                               \
    X(test_decode_puback__rejects_duplicate_reason_string_v5, 5, SRV,                              \
      "40 0c 00 01 80 08 1f 00 01 61 1f 00 01 62", MAL, 0x82)                                      \
    X(test_decode_puback__rejects_bytes_after_properties_v5, 5, SRV, "40 05 00 01 00 00 00", MAL,  \
      0x81)                                                                                        \
    /* ---- SUBSCRIBE ---- */                                                                      \
    X(test_decode_subscribe__rejects_no_filters_v311, 4, SRV, "82 02 00 01", MAL, 0x82)            \
    X(test_decode_subscribe__rejects_no_filters_v5, 5, SRV, "82 03 00 01 00", MAL, 0x82)           \
    X(test_decode_subscribe__rejects_packet_id_0, 4, SRV, "82 06 00 00 00 01 61 00", MAL, 0x82)    \
    X(test_decode_subscribe__rejects_reserved_option_bits_v311, 4, SRV, "82 06 00 01 00 01 61 04", \
      MAL, 0x81)                                                                                   \
    X(test_decode_subscribe__rejects_qos_3_v311, 4, SRV, "82 06 00 01 00 01 61 03", MAL, 0x81)     \
    X(test_decode_subscribe__rejects_reserved_option_bits_v5, 5, SRV,                              \
      "82 07 00 01 00 00 01 61 40", MAL, 0x81)                                                     \
    X(test_decode_subscribe__rejects_qos_3_v5, 5, SRV, "82 07 00 01 00 00 01 61 03", MAL, 0x82)    \
    X(test_decode_subscribe__rejects_retain_handling_3_v5, 5, SRV, "82 07 00 01 00 00 01 61 30",   \
      MAL, 0x82)                                                                                   \
    X(test_decode_subscribe__rejects_no_local_on_shared_subscription_v5, 5, SRV,                   \
      "82 10 00 01 00 00 0a 24 73 68 61 72 65 2f 67 2f 74 04", MAL, 0x82)                          \
    X(test_decode_subscribe__accepts_no_local_v5, 5, SRV, "82 07 00 01 00 00 01 61 2e", OK, 0)     \
    X(test_decode_subscribe__rejects_two_subscription_ids_v5, 5, SRV,                              \
      "82 0b 00 01 04 0b 01 0b 02 00 01 61 00", MAL, 0x82)                                         \
    X(test_decode_subscribe__rejects_subscription_id_0_v5, 5, SRV,                                 \
      "82 09 00 01 02 0b 00 00 01 61 00", MAL, 0x82)                                               \
    X(test_decode_subscribe__rejects_missing_options_byte, 4, SRV, "82 05 00 01 00 01 61", MAL,    \
      0x81)                                                                                        \
    X(test_decode_subscribe__rejects_invalid_utf8_filter, 4, SRV, "82 06 00 01 00 01 fe 00", MAL,  \
      0x81)                                                                                        \
    X(test_decode_subscribe__rejects_reason_string_property_v5, 5, SRV,                            \
      "82 0b 00 01 04 1f 00 01 61 00 01 61 00", MAL, 0x81)                                         \
    /* ---- UNSUBSCRIBE ---- */                                                                    \
    X(test_decode_unsubscribe__rejects_no_filters, 4, SRV, "a2 02 00 01", MAL, 0x82)               \
    X(test_decode_unsubscribe__rejects_packet_id_0, 4, SRV, "a2 05 00 00 00 01 61", MAL, 0x82)     \
    X(test_decode_unsubscribe__rejects_truncated_filter, 4, SRV, "a2 05 00 01 00 02 61", MAL,      \
      0x81)                                                                                        \
    X(test_decode_unsubscribe__rejects_subscription_id_property_v5, 5, SRV,                        \
      "a2 08 00 01 02 0b 01 00 01 61", MAL, 0x81)                                                  \
    /* ---- SUBACK / UNSUBACK ---- */                                                              \
    X(test_decode_suback__rejects_invalid_return_code_v311, 4, CLI, "90 03 00 01 03", MAL, 0x81)   \
    X(test_decode_suback__rejects_reason_not_allowed_v5, 5, CLI, "90 04 00 01 00 10", MAL, 0x82)   \
    X(test_decode_suback__rejects_no_reasons_v311, 4, CLI, "90 02 00 01", MAL, 0x82)               \
    X(test_decode_suback__rejects_packet_id_0, 4, CLI, "90 03 00 00 00", MAL, 0x82)                \
    X(test_decode_unsuback__rejects_extra_bytes_v311, 4, CLI, "b0 03 00 01 00", MAL, 0x81)         \
    X(test_decode_unsuback__rejects_reason_not_allowed_v5, 5, CLI, "b0 04 00 01 00 01", MAL, 0x82) \
    X(test_decode_unsuback__rejects_no_reasons_v5, 5, CLI, "b0 03 00 01 00", MAL, 0x82)            \
    /* ---- DISCONNECT / AUTH ---- */                                                              \
    X(test_decode_disconnect__rejects_payload_v311, 4, SRV, "e0 01 00", MAL, 0x81)                 \
    X(test_decode_disconnect__accepts_reason_only_v5, 5, SRV, "e0 01 04", OK, 0)                   \
    X(test_decode_disconnect__rejects_reason_not_allowed_v5, 5, SRV, "e0 01 01", MAL, 0x82)        \
    X(test_decode_disconnect__rejects_property_not_allowed_v5, 5, SRV, "e0 04 00 02 01 00", MAL,   \
      0x81)                                                                                        \
    X(test_decode_disconnect__rejects_duplicate_session_expiry_v5, 5, SRV,                         \
      "e0 0c 00 0a 11 00 00 00 01 11 00 00 00 01", MAL, 0x82)                                      \
    X(test_decode_auth__accepts_empty_v5, 5, SRV, "f0 00", OK, 0)                                  \
    X(test_decode_auth__rejects_reason_not_allowed_v5, 5, SRV, "f0 01 01", MAL, 0x82)              \
    X(test_decode_auth__rejects_auth_data_without_method_v5, 5, SRV, "f0 06 18 04 16 00 01 61",    \
      MAL, 0x82)                                                                                   \
    X(test_decode_auth__accepts_method_and_data_v5, 5, SRV, "f0 0a 18 08 15 00 01 6d 16 00 01 61", \
      OK, 0)

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[k];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static void check_case(const char *name, uint8_t version, uint8_t role, const char *hex,
                       rmq_err want, uint8_t want_rc)
{
    uint8_t tmp[256];
    size_t n = unhex(hex, tmp, sizeof tmp);
    uint8_t *buf = malloc(n); /* exact size so ASan catches any over-read */
    assert_non_null(buf);
    memcpy(buf, tmp, n);
    struct rmq_codec_limits lim = {.role = role};
    struct rmq_packet out;
    size_t used = 77;
    uint8_t rc = 0xEE;
    rmq_err e = rmq_codec_decode(buf, n, &lim, version, &out, &used, &rc);
    if (e != want || (want == RMQ_ERR_MALFORMED && rc != want_rc)) {
        fail_msg("%s: got %s reason 0x%02x (%s), want %s reason 0x%02x", name, rmq_err_name(e), rc,
                 rmq_reason_name(rc), rmq_err_name(want), want_rc);
    }
    assert_int_equal(used, want == RMQ_OK ? n : 0);
    free(buf);
}

#define DEFINE_CASE(name, v, role, hex, err, rc)                                                   \
    static void name(void **state)                                                                 \
    {                                                                                              \
        check_case(#name, v, role, hex, err, rc);                                                  \
    }
CASES(DEFINE_CASE)

/* Decoded values of some accepted edge forms. */
static void decode_hex(const char *hex, uint8_t version, uint8_t role, uint8_t *buf,
                       struct rmq_packet *out)
{
    size_t n = unhex(hex, buf, 256);
    struct rmq_codec_limits lim = {.role = role};
    size_t used = 0;
    assert_int_equal(rmq_codec_decode(buf, n, &lim, version, out, &used, NULL), RMQ_OK);
}

static void test_decode_connect__reports_level_on_unsupported_version(void **state)
{
    uint8_t buf[256];
    size_t n = unhex("10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00", buf, sizeof buf);
    struct rmq_packet out;
    size_t used = 0;
    uint8_t rc = 0;
    assert_int_equal(rmq_codec_decode(buf, n, NULL, 0, &out, &used, &rc), RMQ_ERR_MALFORMED);
    assert_int_equal(rc, RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(out.type, RMQ_PKT_CONNECT);
    assert_int_equal(out.connect.proto_level, 6);
}

static void test_decode_connect__level_is_0_when_refused_before_reading_it(void **state)
{
    static const uint8_t bad_flags[] = {0x11, 0x00};
    struct rmq_packet out;
    memset(&out, 0xAB, sizeof out);
    size_t used = 0;
    uint8_t rc = 0;
    assert_int_equal(rmq_codec_decode(bad_flags, sizeof bad_flags, NULL, 0, &out, &used, &rc),
                     RMQ_ERR_MALFORMED);
    assert_int_equal(out.type, RMQ_PKT_CONNECT);
    assert_int_equal(out.connect.proto_level, 0);
    static const uint8_t big[] = {0x10, 0xff, 0x7f};
    struct rmq_codec_limits lim = {.max_packet_size = 1000};
    memset(&out, 0xAB, sizeof out);
    assert_int_equal(rmq_codec_decode(big, sizeof big, &lim, 0, &out, &used, &rc),
                     RMQ_ERR_TOO_LARGE);
    assert_int_equal(out.connect.proto_level, 0);
}

static void test_decode_values__short_forms_and_mappings(void **state)
{
    uint8_t buf[256];
    struct rmq_packet p;
    decode_hex("40 03 00 01 10", 5, SRV, buf, &p);
    assert_int_equal(p.ack.reason, RMQ_RC_NO_MATCHING_SUBSCRIBERS);
    decode_hex("40 02 00 01", 5, SRV, buf, &p);
    assert_int_equal(p.ack.reason, 0);
    decode_hex("20 02 00 05", 4, CLI, buf, &p);
    assert_int_equal(p.connack.reason, RMQ_RC_NOT_AUTHORIZED);
    decode_hex("90 03 00 01 80", 4, CLI, buf, &p);
    assert_int_equal(p.suback.reasons.p[0], 0x80);
    decode_hex("e0 01 04", 5, SRV, buf, &p);
    assert_int_equal(p.disconnect.reason, RMQ_RC_DISCONNECT_WITH_WILL);
    decode_hex("30 06 00 00 03 23 00 01", 5, SRV, buf, &p);
    assert_int_equal(p.publish.topic.len, 0);
    assert_int_equal(p.publish.props.topic_alias, 1);
    decode_hex("82 07 00 01 00 00 01 61 2e", 5, SRV, buf, &p);
    assert_true(nth_entry(p.subscribe.entries, 0).no_local);
    assert_true(nth_entry(p.subscribe.entries, 0).retain_as_published);
    assert_int_equal(nth_entry(p.subscribe.entries, 0).retain_handling, 2);
    assert_int_equal(nth_entry(p.subscribe.entries, 0).qos, 2);
    /* non-minimal variable byte integer is tolerated */
    decode_hex("c0 80 00", 4, SRV, buf, &p);
    assert_int_equal(p.type, RMQ_PKT_PINGREQ);
}

#define LIST_CASE(name, v, role, hex, err, rc) cmocka_unit_test(name),

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASES(LIST_CASE)
            cmocka_unit_test(test_decode_connect__reports_level_on_unsupported_version),
        cmocka_unit_test(test_decode_connect__level_is_0_when_refused_before_reading_it),
        cmocka_unit_test(test_decode_values__short_forms_and_mappings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
