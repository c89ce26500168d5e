/* tests/fuzz/fuzz_cfg: libFuzzer target for the option store: the input is an options string
 * for a fresh trireme store; parse, format, reparse, and the formatted text must be stable. */
#include "common/tr_cfg.h"
#include "replicator/repl_options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A leading control byte picks a registered key and the rest becomes its value, so the
     * typed parsers see far more inputs than random key names would reach. */
    const char *prefix = "";
    size_t nkeys;
    const struct repl_option_info *keys = repl_options_table(&nkeys);
    if (size > 0 && data[0] < 0x20) {
        prefix = keys[data[0] % nkeys].key.name;
        data++;
        size--;
    }
    size_t plen = strlen(prefix);
    char *opts = malloc(plen + 1 + size + 1);
    if (!opts) return 0;
    memcpy(opts, prefix, plen);
    if (plen) opts[plen++] = '=';
    memcpy(opts + plen, data, size);
    opts[plen + size] = '\0';

    /* the value parsers on their own */
    bool b;
    int64_t i;
    double d;
    struct tr_cfg_addr a;
    (void)tr_cfg_parse_bool(opts, &b);
    (void)tr_cfg_parse_int(opts, &i);
    (void)tr_cfg_parse_size(opts, &i);
    (void)tr_cfg_parse_duration(opts, &i);
    (void)tr_cfg_parse_double(opts, &d);
    (void)tr_cfg_parse_addr(opts, &a);

    char err[512];
    tr_cfg *cfg = repl_options_new();
    if (!cfg) abort();
    char *before = tr_cfg_format(cfg);
    int rc = tr_cfg_parse(cfg, opts, TR_CFG_AT_INIT, err, sizeof err);
    char *f1 = tr_cfg_format(cfg);
    if (!before || !f1) abort();
    if (rc != 0 && strcmp(before, f1) != 0) abort(); /* all-or-nothing */

    /* what we print must parse back to the same store */
    tr_cfg *cfg2 = repl_options_new();
    if (!cfg2) abort();
    if (tr_cfg_parse(cfg2, f1, TR_CFG_AT_INIT, err, sizeof err) != 0) abort();
    char *f2 = tr_cfg_format(cfg2);
    if (!f2 || strcmp(f1, f2) != 0) abort();
    /* and re-stating every current value at run time changes nothing */
    if (tr_cfg_parse(cfg2, f1, TR_CFG_AT_RUNTIME, err, sizeof err) != 0) abort();

    /* run-time parse of the input, then the derived values and snapshot */
    (void)tr_cfg_parse(cfg, opts, TR_CFG_AT_RUNTIME, err, sizeof err);
    struct repl_options o;
    if (repl_options_read(cfg, &o) != 0) abort();
    char buf[64];
    (void)repl_options_listen_addr(cfg, buf, sizeof buf);
    (void)repl_options_ist_recv_addr(cfg, buf, sizeof buf);
    char *u = repl_options_unimplemented_in_use(cfg);
    free(u);

    free(before);
    free(f1);
    free(f2);
    tr_cfg_free(cfg2);
    tr_cfg_free(cfg);
    free(opts);
    return 0;
}
