/*
 * docs.c — writes docs/configuration.md from the key table, so the reference
 * cannot drift from the schema (test_config_docs compares the checked-in file
 * with this output; RMQ_UPDATE_DOCS=1 rewrites it).
 */
#include <stdio.h>
#include <string.h>

#include "config/config_int.h"
#include "config/schema.h"
#include "config/settings.h"

static const char intro[] =
    "# revmq configuration reference\n"
    "\n"
    "<!-- Generated from src/config/schema_keys.c by rmq_settings_write_docs(); do not edit.\n"
    "     Regenerate: RMQ_UPDATE_DOCS=1 ctest -R test_config_docs (in a build directory). -->\n"
    "\n"
    "revmq reads its configuration from three sources; a later one wins for each key:\n"
    "\n"
    "1. built-in defaults (below),\n"
    "2. the file given with `revmq -c FILE`,\n"
    "3. the environment: `REVMQ_A__B__C=value` and, for drop-in use with EMQX deployments,\n"
    "   `EMQX_A__B__C=value`, both setting key `a.b.c`.\n"
    "\n"
    "`revmq --check-config [-c FILE]` validates everything and prints each key with its\n"
    "effective value and where it came from (`default`, `FILE:LINE` or `env NAME`);\n"
    "passwords are printed as `******`.\n"
    "\n"
    "## The file\n"
    "\n"
    "A subset of HOCON, as EMQX 5 uses, with EMQX 4.4 flat lines allowed in the same file:\n"
    "\n"
    "```hocon\n"
    "# comments start with # or //\n"
    "node.name = \"revmq@127.0.0.1\"        // dotted keys ...\n"
    "mqtt {                                // ... or nested blocks, with or without '='\n"
    "  max_inflight: 64                    // '=' or ':'\n"
    "  session_expiry_interval = 2h\n"
    "}\n"
    "listeners.ssl.default {\n"
    "  bind = \"0.0.0.0:8883\"\n"
    "  ssl_options {\n"
    "    certfile = /etc/revmq/server.pem  # unquoted strings run to the end of the value\n"
    "    versions = [tlsv1.3, tlsv1.2]     # arrays, also over several lines\n"
    "    crl_cache_urls = [\n"
    "      \"http://ca.example.com/crl/a.crl\",\n"
    "      http://ca.example.com/crl/b.crl\n"
    "    ]\n"
    "  }\n"
    "}\n"
    "# EMQX 4.4 flat line: the value is the rest of the line, as written\n"
    "listener.ssl.external.crl_cache_urls = http://a.example/x.crl,http://b.example/y.crl\n"
    "```\n"
    "\n"
    "- Values: booleans `true`/`false` (`on`/`off` also, as EMQX 4.4), integers, numbers\n"
    "  (`1.5`), durations (`500ms`, `5s`, `15m`, `1h`, `1d`, `1w`, `1y`, sums such as `1h30m`; a "
    "bare `0`),\n"
    "  byte sizes (`1024`, `64K`/`64KB`, `1MB`, `1GB`; powers of 1024), strings quoted\n"
    "  (`\"…\"` with `\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`) or unquoted, arrays `[a, b]`.\n"
    "- An unquoted value ends at the end of the line, at `,` or `}` (and `]` in an array), or\n"
    "  at a comment. `#` and `//` start a comment only at the start of a value or after a\n"
    "  space, so `http://host/path` and `a#b` are values; quote a value that contains\n"
    "  ` #` or ` //`.\n"
    "- A key that is set twice keeps the later value.\n"
    "- EMQX 4.4 flat keys (the aliases below, e.g. `listener.ssl.external.keyfile`) take the\n"
    "  rest of the line, trimmed, as their value, so URLs with `//`, `:` and commas need no\n"
    "  quotes. A list-valued 4.4 key (`tls_versions`, `crl_cache_urls`) is split at commas\n"
    "  and spaces.\n"
    "- The first syntax error stops reading the file; every other error (unknown key, wrong\n"
    "  type, out of range, conflicting keys) is collected and all are reported, one per line,\n"
    "  each naming the source, the key, the value and what is allowed, e.g.\n"
    "  `revmq.conf:12: mqtt.max_qos_allowed = 3: must be an integer from 0 to 2`.\n"
    "  The broker does not start while there is any.\n"
    "\n"
    "## The environment\n"
    "\n"
    "`REVMQ_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERIFY=verify_peer` sets\n"
    "`listeners.ssl.default.ssl_options.verify`: strip the prefix, `__` separates path parts,\n"
    "names are lower-cased, a single `_` stays. The value is parsed like a value in the file:\n"
    "`[tlsv1.3,tlsv1.2]` is an array, `5s` a duration, `\"x\"` a quoted string, anything else\n"
    "the whole text (URLs included). A string-list value may also be `a,b` or `a b`.\n"
    "\n"
    "- An unknown key under `REVMQ_` is an error.\n"
    "- An unknown key under `EMQX_` is ignored with one warning line each\n"
    "  (`env EMQX_NODE__COOKIE: unknown key node.cookie ignored (not a revmq setting)`):\n"
    "  EMQX images and charts set variables such as `EMQX_NODE__COOKIE` or `EMQX_HOST` that\n"
    "  revmq has no use for. A known key with a bad value is an error under both prefixes.\n"
    "- When `REVMQ_X` and `EMQX_X` set the same key, `REVMQ_X` wins.\n"
    "\n"
    "## Listeners\n"
    "\n"
    "`listeners.tcp.default` exists by default on `127.0.0.1:1883` (loopback only)\n"
    "(`listeners.tcp.default.enable = false` turns it off). Any other listener, TCP or SSL,\n"
    "exists as soon as one of its keys is set (`<name>` below: letters, digits, `_`, `-`);\n"
    "it then needs a `bind`, except an SSL listener named `default`, which binds\n"
    "`0.0.0.0:8883`. Rules checked at load (files are not opened here; the TLS module checks\n"
    "them when the listener starts):\n"
    "\n"
    "- an enabled SSL listener needs `ssl_options.certfile` and `ssl_options.keyfile`;\n"
    "- `verify = verify_peer` needs `cacertfile`;\n"
    "- `fail_if_no_peer_cert = true` and `enable_crl_check = true` need\n"
    "  `verify = verify_peer`;\n"
    "- no two enabled listeners may bind the same address and port (port 0, \"any free port\",\n"
    "  never clashes). Exception: when the built-in `listeners.tcp.default` was not\n"
    "  configured at all and another listener (e.g. an EMQX 4.4 `listener.tcp.external =\n"
    "  0.0.0.0:1883`) takes its address, the built-in one is not started, with a warning.\n"
    "\n"
    "## Authentication\n"
    "\n"
    "`authentication` is a list of objects, as in EMQX 5: `authentication = [{mechanism =\n"
    "password_based, backend = built_in_database, …}, {…}]`. Entry `<n>` (from 1) has the keys\n"
    "`authentication.<n>.…` below, and the environment form `EMQX_AUTHENTICATION__<n>__…`.\n"
    "A client is checked by each enabled entry in order until one knows its user id; a known\n"
    "user with a wrong password, or a user no entry knows, is refused (CONNACK 0x86 / 4).\n"
    "Clients with a verified client certificate are not asked for a password. With no entry,\n"
    "every client is let in (EMQX's meaning). A listener that admits anonymous clients on an\n"
    "address other than loopback is named by a warning at start and by `--check-config`.\n"
    "See docs/access-control.md.\n"
    "\n"
    "## Reloading\n"
    "\n"
    "Configuration keys are read at start; a change needs a restart (every key below says\n"
    "`Reloadable: no`). What is reloaded at run time is the *content* of files: certificates\n"
    "and keys (`ssl_options.reload_interval`, SIGHUP), CRLs (`crl_cache.refresh_interval`,\n"
    "`crlfile` changes, SIGHUP) and OCSP responses (`ocsp.refresh_interval`, SIGHUP).\n"
    "\n"
    "## Keys\n"
    "\n"
    "Durations are shown in the largest unit that divides them; `<name>` is a listener name;\n"
    "`<n>` is a position in a list (`authorization.sources.<n>`: 1 to 8;\n"
    "`authentication.<n>`: 1 to 64; an array `[{…}, {…}]` sets positions 1, 2, …).\n";

/* The name the docs put in place of <name> (a listener) or <n> (a list position). */
static const char *sample_name(const char *path)
{
    return strstr(path, "<n>") != NULL ? "1" : "default";
}

/* Env var name for a key: default listener name in place of <name>, 1 for <n>. */
static void env_name(const char *prefix, const struct rmq_cfg_key *k, char *out, size_t outlen)
{
    char concrete[RMQ_CFG_PATH_MAX];
    size_t n = 0;
    rmq_cfg_instantiate(k->path, sample_name(k->path), concrete, sizeof concrete);
    n = (size_t)snprintf(out, outlen, "%s", prefix);
    for (const char *p = concrete; *p != '\0' && n + 3 < outlen; p++) {
        if (*p == '.') {
            out[n++] = '_';
            out[n++] = '_';
        } else {
            out[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        }
    }
    out[n] = '\0';
}

static void write_default(const struct rmq_cfg_key *k, FILE *f)
{
    if (k->def == NULL) {
        fprintf(f, "- **Default:** not set\n");
    } else if (k->flags & RMQ_CFG_F_DEFAULT_ONLY) {
        fprintf(f, "- **Default:** `%s` for the listener named `default`; required for others\n",
                k->def);
    } else if (strcmp(k->def, "[]") == 0) {
        fprintf(f, "- **Default:** `[]` (empty)\n");
    } else {
        fprintf(f, "- **Default:** `%s`\n", k->def);
    }
}

static void write_aliases(const struct rmq_cfg_key *k, FILE *f)
{
    fprintf(f, "- **EMQX 4.4 alias:** ");
    if (k->aliases[0] == NULL) {
        fprintf(f, "none\n");
        return;
    }
    for (size_t a = 0; a < RMQ_CFG_ALIASES_MAX && k->aliases[a] != NULL; a++) {
        fprintf(f, "%s`%s`", a ? ", " : "", k->aliases[a]);
    }
    fprintf(f, "\n");
}

/* The example value without surrounding quotes, as it goes into an environment variable. */
static void unquoted(const char *ex, char *out, size_t outlen)
{
    size_t n = strlen(ex);
    if (n >= 2 && ex[0] == '"' && ex[n - 1] == '"') {
        snprintf(out, outlen, "%.*s", (int)(n - 2), ex + 1);
    } else {
        snprintf(out, outlen, "%s", ex);
    }
}

static void write_key(const struct rmq_cfg_key *k, FILE *f)
{
    char allowed[400], revmq[RMQ_CFG_PATH_MAX + 16], emqx[RMQ_CFG_PATH_MAX + 16], ex[512];
    char concrete[RMQ_CFG_PATH_MAX];
    rmq_cfg_allowed(k, allowed, sizeof allowed);
    env_name("REVMQ_", k, revmq, sizeof revmq);
    env_name("EMQX_", k, emqx, sizeof emqx);
    unquoted(k->example, ex, sizeof ex);
    rmq_cfg_instantiate(k->path, sample_name(k->path), concrete, sizeof concrete);
    fprintf(f, "\n### %s\n\n", k->path);
    fprintf(f, "- **Type:** %s\n", rmq_cfg_type_name(k));
    write_default(k, f);
    fprintf(f, "- **Allowed:** %s\n", allowed);
    write_aliases(k, f);
    fprintf(f, "- **Environment:** `%s='%s'` (or `%s=…`)\n", revmq, ex, emqx);
    fprintf(f, "- **Reloadable:** %s\n", (k->flags & RMQ_CFG_F_RELOADABLE) ? "yes" : "no");
    fprintf(f, "\n%s\n\nExample:\n\n```hocon\n%s = %s\n", k->doc, concrete, k->example);
    if (k->aliases[0] != NULL) {
        char alias[RMQ_CFG_PATH_MAX];
        rmq_cfg_instantiate(k->aliases[0], "external", alias, sizeof alias);
        fprintf(f, "# EMQX 4.4 form%s:\n%s = %s\n",
                strstr(k->aliases[0], "<name>") != NULL ? " (listener `external`)" : "", alias, ex);
    }
    fprintf(f, "```\n");
}

void rmq_settings_write_docs(FILE *f)
{
    size_t count;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&count);
    fputs(intro, f);
    for (size_t i = 0; i < count; i++) {
        write_key(&keys[i], f);
    }
}
