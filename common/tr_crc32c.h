/* common/tr_crc32c: CRC-32C (Castagnoli) checksums for frames and files.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise. */
#ifndef TR_CRC32C_H
#define TR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over buf; start with crc = 0. */
uint32_t tr_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
