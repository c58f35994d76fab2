/* svc_tcp.h - the TCP side of the built-in services: echo (RFC 862),
 * discard (RFC 863) and chargen (RFC 864) on stream sockets. */
#ifndef UD_SVC_TCP_H
#define UD_SVC_TCP_H

#include <stdint.h>

#include "services.h"

enum svc_tcp_kind { SVC_TCP_ECHO, SVC_TCP_DISCARD, SVC_TCP_CHARGEN };

/* Listen on TCP `port` for service `kind` (backlog 1024); every accepted
 * connection is served until it ends.  0 or negative errno (logged). */
int svc_tcp_listen(struct svc *sv, enum svc_tcp_kind kind, const char *name, uint16_t port);
/* Close every connection and listener and free everything (sv->tcp). */
void svc_tcp_stop(struct svc *sv);

#endif
