/* main.c — the revmq-ca program: everything is in the rmq_ca library
 * (cli.c dispatches); see docs/revmq-ca.md. */
#include "ca/cli.h"

int main(int argc, char **argv)
{
    return rmq_ca_cli_main(argc, argv);
}
