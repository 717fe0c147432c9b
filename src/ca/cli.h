/*
 * cli.h — internals of the revmq-ca command line, shared by cli.c (parser,
 * dispatch, init, ca create) and cli_ca.c (the other `ca` subcommands,
 * auto-cert, serve). Not an API for other modules: use ca.h.
 *
 * Every command function returns the process exit status: 0 ok, 1 failure
 * (a message was printed on stderr), 2 usage error.
 */
#ifndef RMQ_CA_CLI_H
#define RMQ_CA_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

#define RMQ_CA_OPT_MULTI_MAX 16

struct rmq_ca_opt {
    const char *name; /* without "--" */
    bool has_arg;
    bool multi;
    /* results */
    bool set;
    const char *val; /* last value; borrowed from argv */
    const char *vals[RMQ_CA_OPT_MULTI_MAX];
    size_t n;
};

struct rmq_ca_cli {
    const char *dir;
    int64_t crl_validity;
    struct rmq_ca_opt *opts;
    size_t nopts;
    const char *pos[4]; /* positional arguments, borrowed from argv */
    size_t npos;
};

/* The whole program; main() only calls this. */
int rmq_ca_cli_main(int argc, char **argv);

struct rmq_ca_opt *rmq_ca_cli_find(struct rmq_ca_opt *opts, size_t n, const char *name, size_t nl);
const char *rmq_ca_cli_get(struct rmq_ca_cli *c, const char *name);
bool rmq_ca_cli_flag(struct rmq_ca_cli *c, const char *name);
/* Prints "revmq-ca: <message>" and a hint; returns 2. */
int rmq_ca_cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a generic failure unless a specific message was already printed;
 * returns 1. */
int rmq_ca_cli_fail(rmq_err e, const char *what);
void rmq_ca_cli_json_str(FILE *f, const char *s);
void rmq_ca_cli_iso_time(int64_t t, char *out, size_t n);

int rmq_ca_cmd_issue(struct rmq_ca_cli *c);
int rmq_ca_cmd_revoke(struct rmq_ca_cli *c);
int rmq_ca_cmd_get_crl(struct rmq_ca_cli *c);
int rmq_ca_cmd_get_ca_cert(struct rmq_ca_cli *c);
int rmq_ca_cmd_list_certs(struct rmq_ca_cli *c);
int rmq_ca_cmd_show(struct rmq_ca_cli *c);
int rmq_ca_cmd_rotate(struct rmq_ca_cli *c);
int rmq_ca_cmd_auto_cert(struct rmq_ca_cli *c);
int rmq_ca_cmd_serve(struct rmq_ca_cli *c);

#endif
