/* common/tr_abort: ends the host process when this node can never serve again (a joiner whose
 * state transfer failed), the way Galera's gu_abort does it: no core file, no crash report. */
#ifndef TR_ABORT_H
#define TR_ABORT_H

/* Logs "<program>: Terminated." and raises SIGABRT with the default action (exit status 134),
 * so the host's fatal-signal handler does not report a crash. Never returns. */
_Noreturn void tr_abort_process(void);

#endif
