/* man.c — revmq.conf(5) generated from the schema table (the same table
 * docs/configuration.md is generated from), so the two cannot drift. */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "common/version.h"
#include "config/schema.h"

/* roff text: a leading '.' or '\'' is escaped, backslashes doubled, `code`
 * marks dropped. */
static void roff(FILE *f, const char *s)
{
    bool bol = true;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\'')) {
            fputs("\\&", f);
        }
        bol = false;
        if (*s == '\\') {
            fputs("\\e", f);
        } else if (*s == '`') {
            continue;
        } else if (*s == '-') {
            fputs("\\-", f);
        } else {
            fputc(*s, f);
        }
    }
}

void rmq_admin_write_conf_man(FILE *f)
{
    fprintf(f, ".TH REVMQ.CONF 5 \"\" \"revmq %s\" \"File Formats\"\n", RMQ_VERSION);
    fputs(".SH NAME\nrevmq.conf \\- configuration of the revmq MQTT broker\n"
          ".SH SYNOPSIS\n/etc/revmq/revmq.conf\n"
          ".SH DESCRIPTION\n"
          "revmq reads built\\-in defaults, then the file given with \\fBrevmq \\-c\\fR "
          "\\fIFILE\\fR, then the environment (\\fBREVMQ_A__B__C\\fR=value and "
          "\\fBEMQX_A__B__C\\fR=value set key a.b.c); a later source wins. The file is the "
          "HOCON subset EMQX 5 uses (dotted keys or nested blocks, = or :), with EMQX 4.4 "
          "flat keys accepted as aliases. \\fBrevmq \\-\\-check\\-config\\fR validates a "
          "file and prints every key with its effective value and origin. Unknown keys are "
          "errors.\n"
          ".SH KEYS\n",
          f);
    size_t n = 0;
    const struct rmq_cfg_key *keys = rmq_cfg_keys(&n);
    for (size_t i = 0; i < n; i++) {
        const struct rmq_cfg_key *k = &keys[i];
        fputs(".TP\n.B ", f);
        roff(f, k->path);
        fputs("\n(", f);
        roff(f, rmq_cfg_type_name(k));
        if (k->def) {
            fputs("; default ", f);
            roff(f, k->def[0] ? k->def : "\"\"");
        }
        fputs(")\n", f);
        roff(f, k->doc ? k->doc : "");
        fputc('\n', f);
        if (k->aliases[0]) {
            fputs(".br\nAlso: ", f);
            for (size_t a = 0; a < RMQ_CFG_ALIASES_MAX && k->aliases[a]; a++) {
                roff(f, a ? ", " : "");
                roff(f, k->aliases[a]);
            }
            fputc('\n', f);
        }
        if (k->example) {
            fputs(".br\nExample: ", f);
            roff(f, k->path);
            fputs(" = ", f);
            roff(f, k->example);
            fputc('\n', f);
        }
    }
    fputs(".SH FILES\n/etc/revmq/revmq.conf, /etc/revmq/api_keys\n"
          ".SH SEE ALSO\n\\fBrevmq\\fR(8), \\fBrevmq\\-ca\\fR(8); docs/configuration.md\n",
          f);
}
