/* tools/trireme-kv/gtid.c: text forms of wsrep identifiers and results ("uuid:seqno", status
 * names); the ABI header declares no helpers, and the tool must not link trireme's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

bool kv_uuid_is_nil(const wsrep_uuid_t *u)
{
    for (int i = 0; i < 16; i++)
        if (u->data[i])
            return false;
    return true;
}

void kv_gtid_print(const wsrep_gtid_t *g, char *buf, size_t len)
{
    const uint8_t *d = g->uuid.data;
    snprintf(buf, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x:%lld", d[0],
             d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
             d[14], d[15], (long long)g->seqno);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kv_gtid_scan(const char *s, wsrep_gtid_t *g)
{
    memset(g, 0, sizeof *g);
    int byte = 0;
    const char *p = s;
    for (int i = 0; i < WSREP_UUID_STR_LEN; i++, p++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (*p != '-')
                return -1;
            continue;
        }
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        g->uuid.data[byte++] = (uint8_t)(hi << 4 | lo);
        p++;
        i++;
    }
    if (*p != ':')
        return -1;
    char *end;
    g->seqno = strtoll(p + 1, &end, 10);
    if (end == p + 1)
        return -1;
    return 0;
}

const char *kv_status_str(wsrep_status_t s)
{
    static const char *names[] = {"OK", "WARNING", "TRX_MISSING", "TRX_FAIL", "BF_ABORT",
                                  "SIZE_EXCEEDED", "CONN_FAIL", "NODE_FAIL", "FATAL",
                                  "NOT_IMPLEMENTED", "NOT_ALLOWED"};
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "UNKNOWN";
}
