/* fuzz_file_sd.c - libFuzzer target: the file_sd parser (discover/sd_file.h), JSON or YAML
 * by the first byte. Checks the contract, not just the absence of crashes: an accepted file
 * gives at most as many targets as it counted, each with a host, a port in 1-65535 and an
 * origin "<path>:<group>"; a refused one gives none and an error that names the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discover/sd_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int yaml = data[0] & 1;
    const char *path = yaml ? "/fuzz/t.yaml" : "/fuzz/t.json";
    struct cpgo_sd_target *t;
    size_t n, total;
    char err[CPGO_SD_FILE_ERR];
    /* a copy of exactly the input, so reading past it is caught */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    int rc = cpgo_sd_file_parse(path, yaml, text, size - 1, &t, &n, &total, err);
    free(text);
    if (rc) {
        if (t || n || strncmp(err, path, strlen(path))) abort();
        return 0;
    }
    if (err[0] || n > total || n > CPGO_SD_MAX_TARGETS) abort();
    for (size_t i = 0; i < n; i++) {
        if (!t[i].host || !t[i].host[0] || t[i].port < 1 || t[i].port > 65535) abort();
        if (strncmp(t[i].origin, path, strlen(path)) || t[i].origin[strlen(path)] != ':') abort();
    }
    cpgo_sd_targets_free(t, n);
    return 0;
}
