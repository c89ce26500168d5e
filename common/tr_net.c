/* common/tr_net: socket address text (see tr_net.h). The allowlist service is asked with this
 * text, so gcomm and IST must produce the same string for the same peer. */
#include "common/tr_net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

void tr_sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len, bool with_port)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) /* an IPv4 peer on a dual-stack listener */
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        if (!IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            if (with_port) snprintf(buf, len, "[%s]:%u", host, port);
            else snprintf(buf, len, "%s", host);
            return;
        }
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    if (with_port) snprintf(buf, len, "%s:%u", host, port);
    else snprintf(buf, len, "%s", host);
}
