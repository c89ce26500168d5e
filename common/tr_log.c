/* common/tr_log: formatting and dispatch of log lines to the current sink.
 * The sink pointer is atomic: the host may install it while other threads log. */
#include "common/tr_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static void stderr_sink(enum tr_log_level level, const char *msg)
{
    static const char *names[] = {"FATAL", "ERROR", "WARN", "INFO", "DEBUG"};
    fprintf(stderr, "trireme %s: %s\n", names[level], msg);
}

static _Atomic(tr_log_sink) current_sink = stderr_sink;
static atomic_int debug_on;

void tr_log_set_sink(tr_log_sink sink)
{
    atomic_store(&current_sink, sink ? sink : stderr_sink);
}

void tr_log_set_debug(int on)
{
    atomic_store(&debug_on, on);
}

void tr_log(enum tr_log_level level, const char *fmt, ...)
{
    if (level == TR_LOG_DEBUG && !atomic_load(&debug_on)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    atomic_load(&current_sink)(level, buf);
}
