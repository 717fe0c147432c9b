/* peer_info.c — rmq_peer_info helpers; see transport.h. */
#include <stdlib.h>
#include <string.h>

#include "net/transport.h"

void rmq_peer_info_clear(struct rmq_peer_info *p)
{
    free(p->dn);
    free(p->pem);
    free(p->sans);
    memset(p, 0, sizeof *p);
}
