/* common/tr_net: socket address text as every log line and allowlist question shows it:
 * IPv4 dotted (also for IPv4 peers on a dual-stack listener), IPv6 without brackets. */
#ifndef TR_NET_H
#define TR_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* "host" or, with_port, "host:port" / "[v6]:port"; "?" for an unknown family. */
void tr_sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len, bool with_port);

#endif
