/* peercap.h - what a control-socket peer may do beyond its uid: its
 * effective capabilities, read from /proc while its connection is open. */
#ifndef UD_PEERCAP_H
#define UD_PEERCAP_H

#include <stdbool.h>
#include <sys/types.h>

/* Does the process at the other end of the connected AF_UNIX socket fd
 * (SO_PEERCRED pid `pid`, uid `uid`) hold CAP_NET_BIND_SERVICE in its
 * effective set?  When /proc cannot tell, uid 0 alone decides. */
bool peercap_net_bind(int fd, pid_t pid, uid_t uid);

#endif
