/*
 * sd_file.h - the parse of one file_sd file on its own, for the fuzzer (tests/fuzz/
 * fuzz_file_sd.c) and any caller that already holds a file's text. The source that lists,
 * watches and re-reads files is cpgo_sd_file_new (source.h); it parses with this.
 *
 * Owns: nothing (the targets go to the caller). Thread: any.
 */
#ifndef CPGO_DISCOVER_SD_FILE_H
#define CPGO_DISCOVER_SD_FILE_H

#include <stddef.h>

#include "discover/source.h"

#define CPGO_SD_FILE_MAX (16u << 20) /* bytes of one file_sd file */
#define CPGO_SD_FILE_ERR 512         /* bytes of an error (= the source's error field) */

/*
 * Parses text[0, len) as a file_sd file named `path` (used in errors and origins): YAML when
 * `yaml`, else JSON. 0 with the targets (origins "<path>:<group index>"; at most
 * CPGO_SD_MAX_TARGETS are stored, *total counts them all), or -1 with err (CPGO_SD_FILE_ERR
 * bytes) naming the file and, where there is one, the line: "t.json:3: targets[1]:
 * '10.0.0.1' has no port (host:port)". Any error refuses the whole file (no targets).
 */
int cpgo_sd_file_parse(const char *path, int yaml, const char *text, size_t len,
                       struct cpgo_sd_target **targets, size_t *n, size_t *total, char *err);

#endif
