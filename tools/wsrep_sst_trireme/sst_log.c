/* tools/wsrep_sst_trireme/sst_log: log lines in the form MariaDB's SST scripts write to stderr
 * ("WSREP_SST: [INFO] text (YYYYMMDD HH:MM:SS.mmm)"), and transfer progress with rate and ETA. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/tr_time.h"
#include "tools/wsrep_sst_trireme/sst.h"

static void emit(const char *level, const char *fmt, va_list ap)
{
    char msg[2048], when[40];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y%m%d %H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ld", (long)(tv.tv_usec / 1000));
    /* one write per line: MariaDB copies our stderr into its error log line by line */
    fprintf(stderr, "WSREP_SST: [%s] %s (%s)\n", level, msg, when);
    fflush(stderr);
}

void sst_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("INFO", fmt, ap);
    va_end(ap);
}

void sst_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("WARNING", fmt, ap);
    va_end(ap);
}

void sst_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("ERROR", fmt, ap);
    va_end(ap);
}

#define MIB (1024.0 * 1024.0)

void sst_progress_start(struct sst_progress *p, const char *what, uint64_t total, bool often)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    p->start_ns = p->last_ns = tr_now_ns();
    p->every_ns = (often ? 2 : 10) * TR_NS_PER_SEC; /* --progress 1: more often */
}

static void report(struct sst_progress *p, int64_t now, bool last)
{
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)p->done / MIB / secs : 0;
    char tail[160] = "";
    if (p->total && !last) {
        double pct = 100.0 * (double)p->done / (double)p->total;
        double left = p->done < p->total && rate > 0 ? ((double)(p->total - p->done) / MIB) / rate : 0;
        snprintf(tail, sizeof tail, " of ~%.1f MiB (%.0f%%), ETA %.0f s", (double)p->total / MIB,
                 pct > 100 ? 100 : pct, left);
    }
    sst_info("%s: %s%.1f MiB%s in %.1f s, %.1f MiB/s; %.1f MiB on the wire (%.0f%%)", p->what,
             last ? "done, " : "", (double)p->done / MIB, tail, secs, rate, (double)p->wire / MIB,
             p->done ? 100.0 * (double)p->wire / (double)p->done : 100.0);
}

void sst_progress_add(struct sst_progress *p, uint64_t raw, uint64_t wire)
{
    p->done += raw;
    p->wire += wire;
    int64_t now = tr_now_ns();
    if (now - p->last_ns >= p->every_ns) {
        p->last_ns = now;
        report(p, now, false);
    }
}

void sst_progress_end(struct sst_progress *p)
{
    report(p, tr_now_ns(), true);
}

int sst_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
