/*
 * cert_id.h — the revocation identity of one certificate: everything a CRL
 * needs to decide whether it covers the certificate (RFC 5280 6.3.3) and
 * whether it lists it, without OpenSSL types.
 *
 * Filled by revocation/crl.h (rmq_crl_cert_id, from the certificate and the
 * issuer certificate that verified it); read by the CRL snapshot lookup at
 * the handshake, on resumption and when a new snapshot is matched against
 * live connections. Plain data, copied by value; no ownership.
 *
 * What it is not: a certificate. Names are kept as hashes: the issuer Name
 * (SHA-256 of its DER), the issuer KEY (SHA-256 of the issuer certificate's
 * SubjectPublicKeyInfo DER: two CAs with one name but different keys differ
 * here), and each CRL distribution point name (truncated SHA-256 of the
 * GeneralName DER; a name relative to the issuer is expanded first).
 */
#ifndef RMQ_CERT_ID_H
#define RMQ_CERT_ID_H

#include <stdbool.h>
#include <stdint.h>

#define RMQ_CERT_ID_SERIAL_MAX 32 /* bytes of magnitude; RFC 5280 4.1.2.2 says <= 20 */
#define RMQ_CERT_ID_DP_MAX 6      /* CDP names kept; more are dropped (fail closed) */
#define RMQ_CERT_ID_DP_HASH 16    /* bytes of SHA-256 kept per distribution point name */

/* CRL reason bits (RFC 5280 5.2.5 / 4.2.1.13 ReasonFlags): bit n = reason n,
 * n = 1 keyCompromise .. 8 aACompromise. "All reasons" is every one of them. */
#define RMQ_CERT_REASONS_ALL 0x1FEu

struct rmq_cert_id {
    uint8_t issuer_hash[32]; /* SHA-256 of the issuer Name DER */
    uint8_t issuer_key[32];  /* SHA-256 of the verifying issuer's SubjectPublicKeyInfo DER */
    uint8_t serial[RMQ_CERT_ID_SERIAL_MAX]; /* magnitude, big-endian, no leading zeros */
    uint8_t serial_len;
    bool serial_negative;                    /* a negative serial is not its positive twin */
    bool is_ca;                              /* basicConstraints cA = TRUE */
    uint8_t ndp;                             /* distribution point names below */
    uint16_t dp_reasons[RMQ_CERT_ID_DP_MAX]; /* reasons of the DP the name is from */
    uint8_t dp[RMQ_CERT_ID_DP_MAX][RMQ_CERT_ID_DP_HASH];
};

#endif
