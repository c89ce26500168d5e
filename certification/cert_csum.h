/* certification/cert_csum: the write-set checksum (libgcrypt) and libgcrypt's one-time setup.
 * 64 bits of SHA-1: detects corruption, does not authenticate (see docs/design/writeset.md). */
#ifndef CERT_CSUM_H
#define CERT_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* The oldest libgcrypt we accept (gcry_md_hash_buffers and SHA-NI code paths). */
#define CERT_GCRYPT_MIN_VERSION "1.8.0"

struct cert_csum_buf {
    const void *ptr;
    size_t len;
};

/* Initialises libgcrypt once per process (thread-safe); leaves an application's own
 * initialisation alone. 0, or -1 when libgcrypt is too old or refuses SHA-1 (FIPS mode). */
int cert_csum_init(void);

/* The checksum of the concatenation of n buffers. 0 on success, -1 if libgcrypt failed. */
int cert_csum(const struct cert_csum_buf *bufs, int n, uint64_t *out);

#endif
