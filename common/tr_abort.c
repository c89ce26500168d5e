/* common/tr_abort: ends the host process for a node that can never serve again (tr_abort.h).
 * Only the replicator's driver calls it, after the node has left its group. */
#include "tr_abort.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tr_log.h"

_Noreturn void tr_abort_process(void)
{
    /* a core of a process that stops on purpose is many gigabytes of nothing to look at */
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    /* the host's handler would report SIGABRT as a crash with a stack trace; this is a
     * decision, and its reason is already in the log */
    signal(SIGABRT, SIG_DFL);
    tr_info("%s: Terminated.", program_invocation_name);
    abort();
}
