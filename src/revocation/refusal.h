/*
 * refusal.h — the one vocabulary of why the revocation engine refuses a CRL, an
 * OCSP response or a fetch: the word logs print after `reason=` (and
 * `failed_check` carries), defined once here and used by crl_parse.c,
 * crl_engine.c, ocsp_verify.c, ocsp_stapler.c and their tests.
 *
 * X(ID, name, kinds, meaning): kinds is a mask of RMQ_REFUSAL_CRL / _OCSP
 * (what the word may be said about). RMQ_REFUSED(ID) is the name as a static
 * string, so code that passes reasons as `const char *` keeps doing so and a
 * misspelt reason no longer compiles.
 *
 * What it is not: RMQ_ERR_* (common/err.h) — those say what failed in our code,
 * these say what was wrong with what a server sent.
 */
#ifndef RMQ_REFUSAL_H
#define RMQ_REFUSAL_H

#include <stdbool.h>

#define RMQ_REFUSAL_CRL 1u
#define RMQ_REFUSAL_OCSP 2u
#define RMQ_REFUSAL_BOTH 3u

/* clang-format off */
#define RMQ_REFUSAL_TABLE(X)                                                                       \
    /* fetching (the fetcher, files) */                                                            \
    X(HTTP_STATUS, "http_status", RMQ_REFUSAL_BOTH, "the server answered a non-2xx status")        \
    X(HTTP_ERROR, "http_error", RMQ_REFUSAL_BOTH, "connection, DNS, TLS or redirect failure")      \
    X(TIMEOUT, "timeout", RMQ_REFUSAL_BOTH, "no complete answer within the timeout")               \
    X(TOO_LARGE, "too_large", RMQ_REFUSAL_BOTH, "larger than the size cap")                        \
    X(FETCH, "fetch", RMQ_REFUSAL_BOTH, "the fetch could not be started or failed otherwise")      \
    X(MISSING, "missing", RMQ_REFUSAL_CRL, "a crlfile does not exist")                             \
    X(UNREADABLE, "unreadable", RMQ_REFUSAL_CRL, "a crlfile cannot be read")                       \
    X(NOMEM, "nomem", RMQ_REFUSAL_CRL, "out of memory while accepting it")                         \
    X(OUT_OF_MEMORY, "out_of_memory", RMQ_REFUSAL_OCSP, "out of memory while accepting it")        \
    /* content */                                                                                  \
    X(GARBAGE, "garbage", RMQ_REFUSAL_CRL, "neither a PEM nor a DER CRL")                          \
    X(TRUNCATED, "truncated", RMQ_REFUSAL_CRL, "DER shorter than announced, or a PEM block cut")   \
    X(TRAILING_DATA, "trailing_data", RMQ_REFUSAL_CRL, "bytes after the last DER CRL")             \
    X(TOO_MANY_CRLS, "too_many_crls", RMQ_REFUSAL_CRL, "more CRLs in one body than allowed")       \
    X(BAD_SERIAL, "bad_serial", RMQ_REFUSAL_CRL, "an entry's serial number is unusable")           \
    X(PARSE, "parse", RMQ_REFUSAL_OCSP, "not a DER OCSP response")                                 \
    X(ARGUMENTS, "arguments", RMQ_REFUSAL_OCSP, "nothing to verify against")                       \
    X(RESPONSE_STATUS, "response_status", RMQ_REFUSAL_OCSP, "responseStatus is not successful")   \
    X(BASIC_RESPONSE, "basic_response", RMQ_REFUSAL_OCSP, "no BasicOCSPResponse in it")            \
    X(SINGLE_RESPONSE_COUNT, "single_response_count", RMQ_REFUSAL_OCSP,                            \
      "not exactly one response for our certificate")                                              \
    X(CERT_ID, "cert_id", RMQ_REFUSAL_OCSP, "the CertID is not our certificate's")                \
    X(CERT_STATUS, "cert_status", RMQ_REFUSAL_OCSP, "certStatus is not good, revoked or unknown")  \
    X(REVOCATION_TIME, "revocation_time", RMQ_REFUSAL_OCSP, "a revoked status without a time")     \
    X(NONCE, "nonce", RMQ_REFUSAL_OCSP, "the nonce does not match the request's")                  \
    X(STATUS_UNKNOWN, "status_unknown", RMQ_REFUSAL_OCSP, "verified, but the status is unknown")  \
    /* signature and issuer */                                                                     \
    X(ISSUER_UNKNOWN, "issuer_unknown", RMQ_REFUSAL_CRL, "no trusted CA has the issuer's name")    \
    X(SIGNER_NOT_CRL_SIGN, "signer_not_crl_sign", RMQ_REFUSAL_CRL,                                 \
      "the issuing CA's keyUsage lacks cRLSign")                                                   \
    X(SIGNATURE, "signature", RMQ_REFUSAL_BOTH,                                                    \
      "no trusted key of that name (and key id) verifies it")                                      \
    X(SIGNER_NOT_FOUND, "signer_not_found", RMQ_REFUSAL_OCSP, "the responder is not identified")  \
    X(SIGNER_NOT_ISSUED_BY_ISSUER, "signer_not_issued_by_issuer", RMQ_REFUSAL_OCSP,                \
      "a delegated responder not issued by the CA")                                                \
    X(SIGNER_NOT_OCSP_SIGNING, "signer_not_ocsp_signing", RMQ_REFUSAL_OCSP,                        \
      "a delegated responder without id-kp-OCSPSigning")                                           \
    X(SIGNER_VALIDITY, "signer_validity", RMQ_REFUSAL_OCSP, "the responder certificate expired")  \
    /* extensions and scope */                                                                     \
    X(CRITICAL_EXTENSION, "critical_extension", RMQ_REFUSAL_CRL, "an unknown critical extension") \
    X(INDIRECT_CRL, "indirect_crl", RMQ_REFUSAL_CRL,                                               \
      "an indirect CRL (lists other issuers' certificates): not used")                             \
    X(IDP_MALFORMED, "idp_malformed", RMQ_REFUSAL_CRL,                                             \
      "the Issuing Distribution Point does not decode")                                            \
    /* time and progress */                                                                        \
    X(THIS_UPDATE, "this_update", RMQ_REFUSAL_OCSP, "thisUpdate does not decode")                  \
    X(THIS_UPDATE_IN_FUTURE, "this_update_in_future", RMQ_REFUSAL_BOTH,                            \
      "thisUpdate is later than now plus the allowed skew")                                        \
    X(NEXT_UPDATE, "next_update", RMQ_REFUSAL_OCSP, "nextUpdate does not decode")                  \
    X(NEXT_UPDATE_MISSING, "next_update_missing", RMQ_REFUSAL_BOTH, "no nextUpdate")               \
    X(NEXT_UPDATE_PAST, "next_update_past", RMQ_REFUSAL_BOTH, "nextUpdate (plus grace) has passed") \
    X(VALIDITY_WINDOW, "validity_window", RMQ_REFUSAL_OCSP, "nextUpdate is before thisUpdate")     \
    X(CRL_NUMBER_WENT_BACK, "crl_number_went_back", RMQ_REFUSAL_CRL,                               \
      "an older CRL number than the one in force for that issuer, key and scope")                  \
    X(CRL_NUMBER_REUSED, "crl_number_reused", RMQ_REFUSAL_CRL,                                     \
      "the CRL number in force, with different content")                                           \
    X(THIS_UPDATE_WENT_BACK, "this_update_went_back", RMQ_REFUSAL_BOTH,                            \
      "older than the one in force")
/* clang-format on */

#define RMQ_REFUSAL_ENUM(id, name, kinds, meaning) RMQ_REFUSAL_##id,
enum rmq_refusal { RMQ_REFUSAL_TABLE(RMQ_REFUSAL_ENUM) RMQ_REFUSAL__COUNT };
#undef RMQ_REFUSAL_ENUM

/* The name logs print ("signature"); "?" out of range. */
const char *rmq_refusal_name(enum rmq_refusal r);
/* One line for operators. */
const char *rmq_refusal_meaning(enum rmq_refusal r);
/* RMQ_REFUSAL_CRL | RMQ_REFUSAL_OCSP. */
unsigned rmq_refusal_kinds(enum rmq_refusal r);
/* The entry whose name is `name` (the same pointer RMQ_REFUSED returns, or any
 * equal string). False when none. */
bool rmq_refusal_find(const char *name, enum rmq_refusal *out);

#define RMQ_REFUSED(id) rmq_refusal_name(RMQ_REFUSAL_##id)

#endif
