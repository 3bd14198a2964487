/* fuzz_decode.c - libFuzzer target: the profile decoder, and a merge + encode + re-decode
 * of whatever it accepts (a decoded profile must always merge and round-trip). */
#include <stdint.h>
#include <stdlib.h>

#include "merge/merge.h"
#include "profile/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    /* small ceilings keep each run fast and memory-bounded */
    lim.max_decompressed = 4u << 20;
    lim.max_decode_memory = 64u << 20;
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(data, size, &lim, &p, &err)) return 0;
    struct cpgo_merge_opts o = {.trim = {1, 3, 1}};
    for (int variant = 0; variant < 2; variant++) {
        struct cpgo_merger *m;
        if (cpgo_merge_new(&m, variant ? &o : NULL)) abort();
        if (cpgo_merge_add(m, p, &err) == 0 && cpgo_merge_add(m, p, &err) == 0) {
            struct cpgo_buf out;
            if (cpgo_merge_encode(m, 1, 1, &out, &err) == 0) {
                struct cpgo_profile *q = NULL;
                /* our own output must decode (it is validated before it is returned) */
                struct cpgo_limits big;
                cpgo_limits_default(&big);
                if (cpgo_profile_decode(out.data, out.len, &big, &q, &err) != 0 && out.len != 0)
                    abort();
                cpgo_profile_free(q);
                cpgo_buf_free(&out);
            }
        }
        cpgo_merge_free(m);
    }
    cpgo_profile_free(p);
    return 0;
}
