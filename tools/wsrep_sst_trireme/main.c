/* tools/wsrep_sst_trireme/main: MariaDB's SST method "trireme" (wsrep_sst_method=trireme):
 * MariaDB runs wsrep_sst_trireme --role donor|joiner ...; --role recover repairs a datadir. */
#include <signal.h>
#include <stdio.h>

#include "tools/wsrep_sst_trireme/sst.h"

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a dead peer or child is an error return, not a kill */
    struct sst_opts o;
    int rc = sst_opts_parse(&o, argc, argv);
    if (rc) return rc;
    switch (o.role) {
    case SST_ROLE_DONOR: rc = sst_donor(&o); break;
    case SST_ROLE_JOINER: rc = sst_joiner(&o); break;
    case SST_ROLE_RECOVER: rc = sst_fs_recover(o.datadir) ? SST_EXIT_FAIL : 0; break;
    default: rc = SST_EXIT_INVAL;
    }
    if (rc) sst_error("wsrep_sst_trireme %s failed with %d", argv[2] ? argv[2] : "", rc);
    else sst_info("wsrep_sst_trireme %s completed", o.role == SST_ROLE_DONOR ? "donor" :
                  o.role == SST_ROLE_JOINER ? "joiner" : "recover");
    return rc;
}
