/* certification/cert_csum: libgcrypt set-up and the 64-bit write-set checksum.
 * SHA-1 because libgcrypt runs it on SHA-NI/AVX2 code and it is its fastest full-strength digest. */
#include "certification/cert_csum.h"

#include <gcrypt.h>
#include <pthread.h>

#define CSUM_ALGO GCRY_MD_SHA1
#define CSUM_MAX_BUFS 4

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void do_init(void)
{
    /* Must precede any other libgcrypt call, even when the host already initialised it. */
    if (!gcry_check_version(CERT_GCRYPT_MIN_VERSION)) return;
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        /* We hash public data only: no secure memory, no privileged mlock. */
        gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
    if (gcry_md_test_algo(CSUM_ALGO) != 0) return;
    init_rc = 0;
}

int cert_csum_init(void)
{
    pthread_once(&init_once, do_init);
    return init_rc;
}

int cert_csum(const struct cert_csum_buf *bufs, int n, uint64_t *out)
{
    if (cert_csum_init() || n < 0 || n > CSUM_MAX_BUFS) return -1;
    gcry_buffer_t iov[CSUM_MAX_BUFS];
    for (int i = 0; i < n; i++)
        iov[i] = (gcry_buffer_t){.size = bufs[i].len, .off = 0, .len = bufs[i].len,
                                 .data = (void *)bufs[i].ptr};
    unsigned char dig[20];
    /* One call over all pieces: no gcry_md_open, so no allocation per write-set. */
    if (gcry_md_hash_buffers(CSUM_ALGO, 0, dig, iov, n) != 0) return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | dig[i];
    *out = v;
    return 0;
}
