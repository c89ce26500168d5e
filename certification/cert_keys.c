/* certification/cert_keys: key-set encoding and the bounds-checked key walker.
 * Layout per key: u8 type, u8 nparts, then nparts x (u16 length, bytes), little-endian. */
#include "certification/cert_keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cert_ws_key_append(struct tr_buf *keys, int type, const struct cert_key_part *parts,
                       size_t nparts)
{
    if (nparts > CERT_WS_MAX_KEY_PARTS || type < 0 || type >= CERT_KEY_NTYPES) return -1;
    size_t need = 2;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].len > CERT_WS_MAX_PART_LEN) return -1;
        need += 2 + parts[i].len;
    }
    if (tr_buf_reserve(keys, need)) return -1;
    uint8_t *p = keys->ptr + keys->len;
    *p++ = (uint8_t)type;
    *p++ = (uint8_t)nparts;
    for (size_t i = 0; i < nparts; i++) {
        tr_put_u16(p, (uint16_t)parts[i].len);
        if (parts[i].len) memcpy(p + 2, parts[i].ptr, parts[i].len);
        p += 2 + parts[i].len;
    }
    keys->len += need;
    return 0;
}

void cert_key_iter_init(struct cert_key_iter *it, const void *keys, size_t keys_len,
                        uint32_t nkeys)
{
    it->p = keys;
    it->end = it->p + keys_len;
    it->left = nkeys;
    it->err = 0;
}

int cert_key_next(struct cert_key_iter *it, struct cert_key *k)
{
    if (it->err) return it->err;
    const uint8_t *p = it->p;
    size_t avail = (size_t)(it->end - p);
    if (it->left == 0) return it->err = avail ? CERT_KEYS_ECOUNT : 0;
    if (avail < 2) return it->err = CERT_KEYS_ETRUNC;
    if (p[0] >= CERT_KEY_NTYPES) return it->err = CERT_KEYS_ETYPE;
    unsigned nparts = p[1];
    size_t off = 2;
    for (unsigned i = 0; i < nparts; i++) {
        if (avail - off < 2) return it->err = CERT_KEYS_ETRUNC;
        size_t plen = tr_get_u16(p + off);
        off += 2;
        if (avail - off < plen) return it->err = CERT_KEYS_ETRUNC;
        off += plen;
    }
    k->type = p[0];
    k->nparts = nparts;
    k->id = p + 1;
    k->id_len = off - 1;
    it->p = p + off;
    it->left--;
    return 1;
}

int cert_keys_validate(const void *keys, size_t keys_len, uint32_t nkeys)
{
    struct cert_key_iter it;
    struct cert_key k;
    int rc;
    cert_key_iter_init(&it, keys, keys_len, nkeys);
    while ((rc = cert_key_next(&it, &k)) == 1) {}
    return rc;
}

const char *cert_keys_strerror(int err)
{
    switch (err) {
    case CERT_KEYS_OK: return "ok";
    case CERT_KEYS_ETYPE: return "unknown key type";
    case CERT_KEYS_ETRUNC: return "key runs past the end of the key set";
    case CERT_KEYS_ECOUNT: return "key set longer than its declared key count";
    default: return "unknown key set error";
    }
}

struct cert_key_part cert_key_part_at(const struct cert_key *k, unsigned i)
{
    /* k came from cert_key_next, so every length below is already known to fit. */
    const uint8_t *p = k->id + 1;
    for (unsigned j = 0; j < i; j++) p += 2 + tr_get_u16(p);
    return (struct cert_key_part){p + 2, tr_get_u16(p)};
}

void cert_key_format(const struct cert_key *k, char *buf, size_t len)
{
    static const char *const names[CERT_KEY_NTYPES] = {"shared", "reference", "update",
                                                       "exclusive"};
    if (!len) return;
    int n = snprintf(buf, len, "%s:", names[k->type & 3]);
    size_t o = n < 0 ? 0 : (size_t)n;
    if (o >= len) return; /* snprintf already truncated and terminated */
    for (unsigned i = 0; i < k->nparts; i++) {
        struct cert_key_part part = cert_key_part_at(k, i);
        const uint8_t *s = part.ptr;
        if (i) {
            if (o + 1 >= len) goto out;
            buf[o++] = '/';
        }
        for (size_t j = 0; j < part.len; j++) {
            bool plain = s[j] >= 0x20 && s[j] < 0x7f && s[j] != '\\' && s[j] != '/';
            if (o + (plain ? 1 : 4) >= len) goto out;
            if (plain)
                buf[o++] = (char)s[j];
            else
                o += (size_t)snprintf(buf + o, len - o, "\\x%02x", s[j]);
        }
    }
out:
    buf[o] = '\0';
}
