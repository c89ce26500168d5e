/* common/tr_crc32c: CRC-32C with a hardware path (x86-64 SSE4.2) and a portable table path.
 * Both give identical results; the choice is made once, at first use. */
#include "common/tr_crc32c.h"

#include <stdatomic.h>
#include <string.h>

static uint32_t table[256];
static atomic_int table_ready;

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
    atomic_store(&table_ready, 1);
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!atomic_load(&table_ready)) make_table(); /* idempotent: racing threads write equal values */
    while (len--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t tr_crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc_hw(crc, buf, len);
#endif
    return ~crc_sw(crc, buf, len);
}
