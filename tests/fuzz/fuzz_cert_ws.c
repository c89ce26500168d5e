/* tests/fuzz/fuzz_cert_ws: write-set header decoding from arbitrary bytes.
 * The decoder must reject anything whose declared sizes do not match, and never read past len. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certification/cert_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy into an exact-size heap buffer so ASan sees any overread */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    struct cert_ws_hdr h;
    memset(&h, 0, sizeof h); /* padding compared below */
    if (cert_ws_hdr_decode(buf, size, &h) == 0) {
        if ((size_t)CERT_WS_HDR_LEN + h.keys_len + h.data_len != size) abort();
        uint8_t again[CERT_WS_HDR_LEN];
        cert_ws_hdr_encode(&h, again);
        struct cert_ws_hdr h2;
        memset(&h2, 0, sizeof h2);
        memcpy(buf, again, CERT_WS_HDR_LEN);
        if (cert_ws_hdr_decode(buf, size, &h2) != 0 || memcmp(&h, &h2, sizeof h) != 0) abort();
    }
    free(buf);
    return 0;
}
