/* common/tr_log: the process-wide log sink every module writes through.
 * The provider points it at the host's logger_cb; tests and the simulator point it elsewhere. */
#ifndef TR_LOG_H
#define TR_LOG_H

enum tr_log_level { TR_LOG_FATAL = 0, TR_LOG_ERROR, TR_LOG_WARN, TR_LOG_INFO, TR_LOG_DEBUG };

typedef void (*tr_log_sink)(enum tr_log_level level, const char *msg);

/* NULL restores the default sink (stderr). */
void tr_log_set_sink(tr_log_sink sink);
void tr_log_set_debug(int on);
void tr_log(enum tr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tr_error(...) tr_log(TR_LOG_ERROR, __VA_ARGS__)
#define tr_warn(...) tr_log(TR_LOG_WARN, __VA_ARGS__)
#define tr_info(...) tr_log(TR_LOG_INFO, __VA_ARGS__)
#define tr_debug(...) tr_log(TR_LOG_DEBUG, __VA_ARGS__)

#endif
