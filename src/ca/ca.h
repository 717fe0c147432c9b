/*
 * ca.h — revmq-ca: a small CA that issues, revokes and serves CRLs and OCSP.
 *
 * What it is: one tenant (name + UUID) per state directory, CAs with versions
 * (rotation makes a new key and version; old versions keep answering CRL and
 * OCSP for what they issued), issued certificates and their revocations, all
 * in SQLite (WAL, busy timeout) under the state directory; CA private keys in
 * files with mode 0600 under DIR/keys. `serve` answers /crl, /crl-pem and
 * /ocsp over HTTP (libevent evhttp) and reads the database on every request,
 * so a revocation made by another process is visible at once.
 *
 * What it is not: a general-purpose PKI (no intermediates, no CSRs, no ACME),
 * and not used by the broker at run time (the broker only fetches its URLs).
 *
 * Threads: single-threaded; every object belongs to its creator. Two
 * processes may share one state directory (SQLite locking; writers use
 * BEGIN IMMEDIATE).
 *
 * Pure helpers (parsing, templates, routing) are at the top: no I/O, no
 * globals, unit-tested in tests/unit/test_ca_util.c.
 */
#ifndef RMQ_CA_H
#define RMQ_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

/* ---- pure helpers (util.c) ---------------------------------------------- */

/* "1y350d", "30d", "12h", "90s", "1w2d", "3600" (bare seconds). Units: y=365d,
 * w, d, h, m, s. Must be > 0. RMQ_ERR_INVALID on anything else or overflow. */
RMQ_MUST_USE rmq_err rmq_ca_duration_parse(const char *s, int64_t *secs);

/* Latest time accepted anywhere (9999-12-31T23:59:59Z, the end of X.509
 * GeneralizedTime): keeps `time + duration` far from int64 overflow. */
#define RMQ_CA_TIME_MAX INT64_C(253402300799)

/* Like rmq_ca_duration_parse but signed ("-1d", "+2h", "0"), or "@UNIX"
 * (0..RMQ_CA_TIME_MAX) for an absolute time. Result is an absolute unix time
 * relative to `now`. */
RMQ_MUST_USE rmq_err rmq_ca_time_parse(const char *s, int64_t now, int64_t *t);

struct rmq_ca_tvars {
    const char *tenant_name;
    const char *tenant_uuid;
    const char *ca_name;
    int version;
};

/* Expands ${SYS_TENANT_NAME} ${SYS_TENANT_UUID} ${SYS_CA_NAME} ${SYS_CA_VERSION}
 * into out (NUL-terminated). RMQ_ERR_INVALID for an unknown or unterminated
 * ${...}; RMQ_ERR_TOO_LARGE when out is too small. */
RMQ_MUST_USE rmq_err rmq_ca_template_expand(const char *tpl, const struct rmq_ca_tvars *v,
                                            char *out, size_t outsz);
/* RMQ_OK when tpl expands and is a usable URL for an extension (http:// or
 * https://, no whitespace or commas). */
RMQ_MUST_USE rmq_err rmq_ca_template_check(const char *tpl);

/* RFC 5280 5.3.1 CRLReason names (case-insensitive) <-> codes 0..10 (7 unused). */
RMQ_MUST_USE rmq_err rmq_ca_reason_parse(const char *name, int *code);
const char *rmq_ca_reason_name(int code); /* "?" for unknown codes */

/* Serial as given by a user ("0x", colons, any case) -> canonical uppercase
 * hex without leading zeros (max 40 bytes). */
RMQ_MUST_USE rmq_err rmq_ca_serial_normalize(const char *in, char *out, size_t outsz);

enum rmq_ca_route_kind {
    RMQ_CA_ROUTE_CRL_DER,  /* /crl/<tenant>/<ca>/<version> */
    RMQ_CA_ROUTE_CRL_PEM,  /* /crl-pem/<tenant>/<ca>/<version> */
    RMQ_CA_ROUTE_OCSP,     /* /ocsp/<tenant>/<ca> (POST) */
    RMQ_CA_ROUTE_OCSP_GET, /* /ocsp/<tenant>/<ca>/<url-encoded base64> */
};

#define RMQ_CA_NAME_MAX 128
#define RMQ_CA_OCSP_GET_MAX 4096

struct rmq_ca_route {
    enum rmq_ca_route_kind kind;
    char tenant[RMQ_CA_NAME_MAX]; /* percent-decoded */
    char ca[RMQ_CA_NAME_MAX];
    int version;                   /* CRL routes */
    char b64[RMQ_CA_OCSP_GET_MAX]; /* OCSP_GET: percent-decoded base64 */
};

/* Parses the request target (path, optional ?query ignored). Untrusted input:
 * bounded, no NUL, no empty segments. RMQ_ERR_NOT_FOUND for unknown paths,
 * RMQ_ERR_TOO_LARGE for overlong segments. */
RMQ_MUST_USE rmq_err rmq_ca_route_parse(const char *target, size_t len, struct rmq_ca_route *out);

/* Valid CA/tenant names: 1..63 of [A-Za-z0-9._-], not starting with '.'. */
bool rmq_ca_name_valid(const char *s);

/* Current time: REVMQ_CA_NOW (unix seconds, 0..RMQ_CA_TIME_MAX) when set
 * and valid, else time(NULL). */
int64_t rmq_ca_now(void);

/* ---- database (db.c) ----------------------------------------------------- */

struct rmq_ca_db;

struct rmq_ca_tenant {
    int64_t id;
    char name[RMQ_CA_NAME_MAX];
    char uuid[40];
};

struct rmq_ca_info {
    int64_t id;
    int64_t tenant_id;
    char name[RMQ_CA_NAME_MAX];
    char key_type[16]; /* "ecdsa" | "rsa" */
    char curve[32];
    int rsa_bits;
    char digest[16];
    int64_t ttl;
    char *crl_urls;  /* owned; templates separated by '\n' ("" = none) */
    char *ocsp_urls; /* owned */
    int current_version;
};

struct rmq_ca_version {
    int64_t ca_id;
    int version;
    char *cert_pem; /* owned */
    int64_t not_before;
    int64_t not_after;
};

struct rmq_ca_certrec {
    char serial[84];
    int64_t ca_id;
    int version;
    char type[8];
    char host[256];
    int64_t not_before;
    int64_t not_after;
    int64_t issued_at;
    bool revoked;
    int64_t revoked_at;
    int reason;
    char *cert_pem; /* owned */
};

struct rmq_ca_crlrec {
    int64_t number;
    int64_t this_update;
    int64_t next_update;
    unsigned char *der; /* owned */
    size_t der_len;
};

/* Opens (creating dir 0700, schema, WAL) DIR/ca.db. */
RMQ_MUST_USE rmq_err rmq_ca_db_open(const char *dir, struct rmq_ca_db **out);
void rmq_ca_db_free(struct rmq_ca_db *db);
const char *rmq_ca_db_dir(const struct rmq_ca_db *db);

RMQ_MUST_USE rmq_err rmq_ca_db_begin(struct rmq_ca_db *db); /* BEGIN IMMEDIATE */
RMQ_MUST_USE rmq_err rmq_ca_db_commit(struct rmq_ca_db *db);
void rmq_ca_db_rollback(struct rmq_ca_db *db);

RMQ_MUST_USE rmq_err rmq_ca_db_tenant_insert(struct rmq_ca_db *db, const char *name,
                                             const char *uuid);
/* The tenant (there is at most one). RMQ_ERR_NOT_FOUND before init. */
RMQ_MUST_USE rmq_err rmq_ca_db_tenant_get(struct rmq_ca_db *db, struct rmq_ca_tenant *t);

RMQ_MUST_USE rmq_err rmq_ca_db_ca_insert(struct rmq_ca_db *db, struct rmq_ca_info *ca);
RMQ_MUST_USE rmq_err rmq_ca_db_ca_get(struct rmq_ca_db *db, int64_t tenant_id, const char *name,
                                      struct rmq_ca_info *ca);
void rmq_ca_info_release(struct rmq_ca_info *ca);
RMQ_MUST_USE rmq_err rmq_ca_db_ca_set_version(struct rmq_ca_db *db, int64_t ca_id, int version);

RMQ_MUST_USE rmq_err rmq_ca_db_version_insert(struct rmq_ca_db *db, const struct rmq_ca_version *v);
RMQ_MUST_USE rmq_err rmq_ca_db_version_get(struct rmq_ca_db *db, int64_t ca_id, int version,
                                           struct rmq_ca_version *v);
void rmq_ca_version_release(struct rmq_ca_version *v);

RMQ_MUST_USE rmq_err rmq_ca_db_cert_insert(struct rmq_ca_db *db, const struct rmq_ca_certrec *c);
RMQ_MUST_USE rmq_err rmq_ca_db_cert_get(struct rmq_ca_db *db, int64_t ca_id, const char *serial,
                                        struct rmq_ca_certrec *c);
void rmq_ca_certrec_release(struct rmq_ca_certrec *c);
/* Sets (revoked=true) or clears the revocation of one certificate. */
RMQ_MUST_USE rmq_err rmq_ca_db_cert_set_revoked(struct rmq_ca_db *db, int64_t ca_id,
                                                const char *serial, bool revoked,
                                                int64_t revoked_at, int reason);
/* Calls fn for each certificate of the CA (version 0 = all versions), ordered
 * by issue time; only revoked ones when revoked_only. fn's record is borrowed
 * for the call. */
RMQ_MUST_USE rmq_err rmq_ca_db_cert_foreach(struct rmq_ca_db *db, int64_t ca_id, int version,
                                            bool revoked_only,
                                            rmq_err (*fn)(const struct rmq_ca_certrec *, void *),
                                            void *arg);

/* RMQ_ERR_NOT_FOUND when no CRL was made yet for that version. */
/* Delegated OCSP signer row: certificate PEM and key file name (both owned). */
RMQ_MUST_USE rmq_err rmq_ca_db_ocsp_signer_get(struct rmq_ca_db *db, int64_t ca_id, int version,
                                               char **cert_pem, char **key_file);
RMQ_MUST_USE rmq_err rmq_ca_db_ocsp_signer_put(struct rmq_ca_db *db, int64_t ca_id, int version,
                                               const char *cert_pem, const char *key_file);

RMQ_MUST_USE rmq_err rmq_ca_db_crl_get(struct rmq_ca_db *db, int64_t ca_id, int version,
                                       struct rmq_ca_crlrec *crl);
RMQ_MUST_USE rmq_err rmq_ca_db_crl_put(struct rmq_ca_db *db, int64_t ca_id, int version,
                                       const struct rmq_ca_crlrec *crl);
void rmq_ca_crlrec_release(struct rmq_ca_crlrec *crl);

/* ---- keys and certificates (cert.c) ------------------------------------- */

struct rmq_ca_keyspec {
    const char *type; /* "ecdsa" | "rsa" */
    const char *curve;
    int rsa_bits;
};

RMQ_MUST_USE rmq_err rmq_ca_key_generate(const struct rmq_ca_keyspec *ks, EVP_PKEY **out);
/* Writes a PEM private key with mode 0600 (atomically: temp file + rename). */
RMQ_MUST_USE rmq_err rmq_ca_key_write(const char *path, EVP_PKEY *key);
RMQ_MUST_USE rmq_err rmq_ca_key_read(const char *path, EVP_PKEY **out);
/* DIR/keys/<ca_id>-v<version>.key; out must hold PATH_MAX. */
void rmq_ca_key_path(const char *dir, int64_t ca_id, int version, char *out, size_t outsz);

RMQ_MUST_USE rmq_err rmq_ca_uuid_v4(char out[40]);
/* 16 random bytes, positive, first byte in 0x40..0x7f (always 32 hex digits). */
RMQ_MUST_USE rmq_err rmq_ca_serial_random(char out[40]);

RMQ_MUST_USE rmq_err rmq_ca_pem_to_x509(const char *pem, X509 **out);
/* Owned, NUL-terminated PEM (free with free()). */
RMQ_MUST_USE rmq_err rmq_ca_x509_to_pem(X509 *x, char **out);
RMQ_MUST_USE rmq_err rmq_ca_key_to_pem(EVP_PKEY *k, char **out);

/* Self-signed CA certificate: CN "<ca name> v<version>", O tenant name. */
RMQ_MUST_USE rmq_err rmq_ca_make_ca_cert(const struct rmq_ca_tenant *t,
                                         const struct rmq_ca_info *ca, int version, EVP_PKEY *key,
                                         int64_t not_before, int64_t not_after, X509 **out);

struct rmq_ca_issue_req {
    const char *cert_type;    /* "server" | "client" */
    const char *const *hosts; /* first is the CN; servers: all go to SAN */
    size_t n_hosts;
    const char *serial_hex; /* from rmq_ca_serial_random */
    int64_t not_before;
    int64_t not_after;
    const char *const *crl_urls; /* expanded */
    size_t n_crl;
    const char *const *ocsp_urls;
    size_t n_ocsp;
    const char *digest;
};

RMQ_MUST_USE rmq_err rmq_ca_issue_x509(const struct rmq_ca_issue_req *rq, X509 *issuer,
                                       EVP_PKEY *issuer_key, EVP_PKEY *subject_key, X509 **out);

/* Canonical serial hex (see rmq_ca_serial_normalize) of an ASN1_INTEGER. */
RMQ_MUST_USE rmq_err rmq_ca_serial_from_asn1(const ASN1_INTEGER *ai, char *out, size_t outsz);

/* ---- CRLs (crl.c) -------------------------------------------------------- */

/* Returns the current CRL of (ca, version), making a new one (CRL number + 1)
 * when there is none, when `force`, or when half its validity has passed.
 * Runs its own transaction unless `in_txn`. */
RMQ_MUST_USE rmq_err rmq_ca_crl_current(struct rmq_ca_db *db, const struct rmq_ca_info *ca,
                                        int version, int64_t validity, bool force, bool in_txn,
                                        struct rmq_ca_crlrec *out);

/* ---- OCSP (ocsp.c) ------------------------------------------------------- */

/* Answers one DER OCSP request for a CA. Always produces a DER OCSP response
 * in *out (OPENSSL_malloc'd): malformedRequest for garbage, internalError on
 * failures, else a successful response signed by the matching CA version. */
void rmq_ca_ocsp_respond(struct rmq_ca_db *db, const struct rmq_ca_info *ca,
                         const unsigned char *req, size_t req_len, int64_t validity, bool delegated,
                         unsigned char **out, size_t *out_len);

/* ---- delegated OCSP responder (ocsp_signer.c) ---------------------------- */

#define RMQ_CA_OCSP_SIGNER_TTL (30 * 86400)

/* The delegated OCSP signing certificate of (ca, version) and its key (both
 * owned by the caller): RFC 6960 4.2.2.2 — issued by that CA version, EKU
 * id-kp-OCSPSigning, id-pkix-ocsp-nocheck. Made on first use and renewed
 * when less than half of its 30-day life is left (capped at the CA's
 * notAfter); the key is DIR/keys/<ca-id>-v<version>-ocsp-<serial>.key (0600). */
RMQ_MUST_USE rmq_err rmq_ca_ocsp_signer_get(struct rmq_ca_db *db, const struct rmq_ca_info *ca,
                                            int version, X509 **cert, EVP_PKEY **key);
/* Signing certificate for a delegated responder, signed by issuer. */
RMQ_MUST_USE rmq_err rmq_ca_make_ocsp_cert(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
                                           const char *serial_hex, int64_t not_before,
                                           int64_t not_after, const char *digest, X509 **out);

/* ---- high-level operations shared by CLI and tests (ops.c) --------------- */

struct rmq_ca_issued {
    char serial[40];
    char *cert_pem;    /* owned */
    char *key_pem;     /* owned */
    char *ca_cert_pem; /* owned */
    int version;
    int64_t not_before;
    int64_t not_after;
};

struct rmq_ca_issue_opts {
    const char *cert_type;
    const char *const *hosts;
    size_t n_hosts;
    int64_t not_before; /* absolute */
    int64_t not_after;
    struct rmq_ca_keyspec key; /* NULL type = same as the CA */
};

/* Loads tenant + CA by name; messages for the user go to *why (static). */
RMQ_MUST_USE rmq_err rmq_ca_load(struct rmq_ca_db *db, const char *ca_name, struct rmq_ca_tenant *t,
                                 struct rmq_ca_info *ca);
RMQ_MUST_USE rmq_err rmq_ca_issue(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                                  const struct rmq_ca_info *ca, const struct rmq_ca_issue_opts *o,
                                  struct rmq_ca_issued *out);
void rmq_ca_issued_release(struct rmq_ca_issued *is);
/* Revokes (or, with reason removeFromCRL, releases a certificateHold) and
 * issues a new CRL for the certificate's version. Revoking twice or an
 * unknown serial: error with a message on stderr, nothing changed. */
RMQ_MUST_USE rmq_err rmq_ca_revoke(struct rmq_ca_db *db, const struct rmq_ca_info *ca,
                                   const char *serial, int reason, int64_t crl_validity);
/* Creates version `version` of the CA (key file, certificate, empty CRL). */
RMQ_MUST_USE rmq_err rmq_ca_make_version(struct rmq_ca_db *db, const struct rmq_ca_tenant *t,
                                         const struct rmq_ca_info *ca, int version,
                                         int64_t crl_validity);
/* Expands the CA's URL templates for a version: n strings owned by *out
 * (free with rmq_ca_strv_free). */
RMQ_MUST_USE rmq_err rmq_ca_expand_urls(const char *templates, const struct rmq_ca_tvars *v,
                                        char ***out, size_t *n);
void rmq_ca_strv_free(char **v, size_t n);

/* ---- serve (serve.c) ----------------------------------------------------- */

struct rmq_ca_serve_opts {
    const char *dir;
    const char *listen; /* HOST:PORT; port 0 = any (printed on stdout) */
    int64_t crl_validity;
    int64_t ocsp_validity;
    size_t max_body;
    bool ocsp_delegated; /* --ocsp-signer delegated */
};

/* Runs until SIGTERM/SIGINT. Prints "listening HOST:PORT" on stdout once bound. */
RMQ_MUST_USE rmq_err rmq_ca_serve(const struct rmq_ca_serve_opts *o);

/* ---- auto-cert (autocert.c) ---------------------------------------------- */

struct rmq_ca_autocert_opts {
    const char *dir;
    const char *ca_name;
    const char *const *hosts;
    size_t n_hosts;
    const char *cert_type;
    int64_t ttl;
    int64_t threshold;
    const char *out_dir;
    bool once;
    int64_t interval; /* seconds between checks when !once */
};

RMQ_MUST_USE rmq_err rmq_ca_autocert_run(const struct rmq_ca_autocert_opts *o);

/* Writes data to path atomically (temp file in the same dir, fsync, rename). */
RMQ_MUST_USE rmq_err rmq_ca_write_file_atomic(const char *path, const void *data, size_t len,
                                              unsigned mode);

#endif
