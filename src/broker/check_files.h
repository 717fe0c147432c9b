/*
 * check_files.h — the file part of `revmq --check-config`: every file the
 * configuration names exists and is readable (certfile, keyfile, cacertfile,
 * crlfile, ocsp.issuer_pem, authentication bootstrap/password files,
 * authorization rule files, api_key.bootstrap_file) and log.file can be
 * written; on SSL/WSS listeners the certificate and key are loaded and must
 * match (through src/tls, which owns OpenSSL). Disabled listeners, sources
 * and authenticators are skipped.
 */
#ifndef RMQ_BROKER_CHECK_FILES_H
#define RMQ_BROKER_CHECK_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "config/settings.h"

/* Writes one line per problem to `out` ("KEY: FILE: what"); returns how many. */
size_t rmq_check_files(const struct rmq_settings *s, FILE *out);

#endif
