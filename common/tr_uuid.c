/* common/tr_uuid: UUID generation, comparison, text form.
 * Text form is the canonical lower-case 8-4-4-4-12, as Galera and MariaDB print it. */
#include "common/tr_uuid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const tr_uuid tr_uuid_nil = {{0}};

void tr_uuid_generate(tr_uuid *out)
{
    size_t got = 0;
    while (got < sizeof out->data) {
        ssize_t n = getrandom(out->data + got, sizeof out->data - got, 0);
        if (n <= 0) { /* no entropy source: fall back to time and address, still unique enough */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t v[2] = {(uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)out, (uint64_t)ts.tv_sec};
            memcpy(out->data, v, sizeof v);
            break;
        }
        got += (size_t)n;
    }
    out->data[6] = (uint8_t)((out->data[6] & 0x0f) | 0x40);
    out->data[8] = (uint8_t)((out->data[8] & 0x3f) | 0x80);
}

bool tr_uuid_is_nil(const tr_uuid *u)
{
    return memcmp(u->data, tr_uuid_nil.data, 16) == 0;
}

int tr_uuid_compare(const tr_uuid *a, const tr_uuid *b)
{
    return memcmp(a->data, b->data, 16);
}

void tr_uuid_print(const tr_uuid *u, char *buf)
{
    const uint8_t *d = u->data;
    snprintf(buf, TR_UUID_STR_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12],
             d[13], d[14], d[15]);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tr_uuid_parse(const char *s, size_t len, tr_uuid *out)
{
    if (len != TR_UUID_STR_LEN) return -1;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return -1;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out->data[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return j == 16 ? 0 : -1;
}
