/* wsrep/wsrep_services: optional services the host hands the provider before init().
 * Only the allowlist service exists for MariaDB 10.11; gcomm asks it about incoming links. */
#ifndef WSREP_SERVICES_H
#define WSREP_SERVICES_H

#include <stdbool.h>

#include "wsrep/wsrep_api.h"

/* true when no allowlist service is installed or the host allows the address. */
bool wsrep_services_allow_ip(const char *addr);

#endif
