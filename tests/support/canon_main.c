/* cpgo-canon FILE [--no-addresses]: prints canon_dump of a profile (see canon.h), without
 * cpgo's publish-time stamp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cpgo-canon FILE [--no-addresses]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    struct cpgo_buf b;
    cpgo_buf_init(&b, 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cpgo_buf_append(&b, chunk, n);
    fclose(f);
    struct cpgo_limits lim;
    cpgo_limits_default(&lim);
    struct cpgo_profile *p;
    struct cpgo_err err;
    if (cpgo_profile_decode(b.data, b.len, &lim, &p, &err)) {
        fprintf(stderr, "cpgo-canon: %s: %s\n", argv[1], err.text);
        return 2;
    }
    canon_ignore_stamp = 1; /* a published file equals the merge of its scrapes */
    char *s = canon_dump(p, !(argc > 2 && !strcmp(argv[2], "--no-addresses")));
    fputs(s, stdout);
    free(s);
    cpgo_profile_free(p);
    cpgo_buf_free(&b);
    return 0;
}
