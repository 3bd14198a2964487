/* canon.c - see canon.h. Test support: aborts on allocation failure. */
#include "canon.h"

int canon_ignore_stamp;

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    char *d;
    size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->d ? b->d + b->n : NULL, b->d ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->d && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->d = realloc(b->d, b->cap);
        if (!b->d) abort();
    }
}

static void sb_str(struct sbuf *b, const cpgo_pb_profile *pb, int64_t i)
{
    size_t len;
    const char *s = cpgo_profile_str(pb, i, &len);
    sb_printf(b, "%.*s", (int)len, s);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *canon_dump(const struct cpgo_profile *p, int with_addresses)
{
    const cpgo_pb_profile *pb = p->pb;
    struct sbuf out = {0};
    sb_printf(&out, "types:");
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        sb_printf(&out, " ");
        sb_str(&out, pb, pb->sample_type[i]->type);
        sb_printf(&out, "/");
        sb_str(&out, pb, pb->sample_type[i]->unit);
    }
    sb_printf(&out, "\nperiod_type: ");
    sb_str(&out, pb, pb->period_type ? pb->period_type->type : 0);
    sb_printf(&out, "/");
    sb_str(&out, pb, pb->period_type ? pb->period_type->unit : 0);
    sb_printf(&out, "\nperiod: %" PRId64 "\ntime: %" PRId64 "\nduration: %" PRId64 "\n", pb->period,
              pb->time_nanos, pb->duration_nanos);
    sb_printf(&out, "comments:");
    for (size_t i = 0; i < pb->n_comment; i++) {
        size_t cl;
        const char *c = cpgo_profile_str(pb, pb->comment[i], &cl);
        if (canon_ignore_stamp && cl >= 14 && !memcmp(c, "cpgo-written: ", 14)) continue;
        sb_printf(&out, " [");
        sb_str(&out, pb, pb->comment[i]);
        sb_printf(&out, "]");
    }
    sb_printf(&out, "\ndefault_sample_type: ");
    sb_str(&out, pb, pb->default_sample_type);
    sb_printf(&out, "\ndrop_frames: ");
    sb_str(&out, pb, pb->drop_frames);
    sb_printf(&out, "\nkeep_frames: ");
    sb_str(&out, pb, pb->keep_frames);
    sb_printf(&out, "\n");

    /* one line per sample: labels (sorted), stack, then values; then fold equal keys */
    char **lines = calloc(pb->n_sample + 1, sizeof *lines);
    if (!lines) abort();
    for (size_t i = 0; i < pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = pb->sample[i];
        struct sbuf l = {0};
        char **labs = calloc(s->n_label + 1, sizeof *labs);
        size_t nl = 0;
        for (size_t j = 0; j < s->n_label; j++) {
            const Perftools__Profiles__Label *lb = s->label[j];
            struct sbuf t = {0};
            sb_str(&t, pb, lb->key);
            if (lb->str) {
                sb_printf(&t, "=");
                sb_str(&t, pb, lb->str);
            } else if (lb->num || lb->num_unit) {
                sb_printf(&t, "#%" PRId64 " ", lb->num);
                sb_str(&t, pb, lb->num_unit);
            } else {
                free(t.d);
                continue;
            }
            labs[nl++] = t.d;
        }
        /* labels with the same key keep their order; pprof groups by key */
        qsort(labs, nl, sizeof *labs, cmpstr);
        sb_printf(&l, "{");
        for (size_t j = 0; j < nl; j++) {
            sb_printf(&l, "%s%s", j ? "," : "", labs[j]);
            free(labs[j]);
        }
        free(labs);
        sb_printf(&l, "}");
        for (size_t j = 0; j < s->n_location_id; j++) {
            const Perftools__Profiles__Location *loc =
                pb->location[cpgo_id_lookup(&p->location_ids, s->location_id[j])];
            sb_printf(&l, " <");
            if (with_addresses) {
                uint64_t addr = loc->address;
                if (loc->mapping_id) {
                    const Perftools__Profiles__Mapping *m =
                        pb->mapping[cpgo_id_lookup(&p->mapping_ids, loc->mapping_id)];
                    addr -= m->memory_start;
                    sb_printf(&l, "@");
                    sb_str(&l, pb, m->build_id ? m->build_id : m->filename);
                }
                sb_printf(&l, "+%" PRIx64 "%s", addr, loc->is_folded ? " folded" : "");
            }
            for (size_t k = 0; k < loc->n_line; k++) {
                const Perftools__Profiles__Function *f =
                    pb->function[cpgo_id_lookup(&p->function_ids, loc->line[k]->function_id)];
                sb_printf(&l, "%s", k || with_addresses ? " | " : "");
                sb_str(&l, pb, f->name);
                sb_printf(&l, ";");
                sb_str(&l, pb, f->system_name);
                sb_printf(&l, ";");
                sb_str(&l, pb, f->filename);
                sb_printf(&l, ";%" PRId64 ":%" PRId64 ":%" PRId64, f->start_line,
                          loc->line[k]->line, loc->line[k]->column);
            }
            sb_printf(&l, ">");
        }
        sb_printf(&l, " =");
        for (size_t j = 0; j < s->n_value; j++)
            sb_printf(&l, " %" PRId64, s->value[j]);
        lines[i] = l.d ? l.d : strdup("");
    }
    /* sort by the key part (before " ="), then fold equal keys by adding values */
    qsort(lines, pb->n_sample, sizeof *lines, cmpstr);
    size_t i = 0;
    while (i < pb->n_sample) {
        char *eq = strstr(lines[i], " =");
        size_t klen = (size_t)(eq - lines[i]);
        int64_t sum[64] = {0};
        size_t nv = 0;
        size_t j = i;
        for (; j < pb->n_sample && !strncmp(lines[j], lines[i], klen) && lines[j][klen] == ' ' &&
               lines[j][klen + 1] == '=';
             j++) {
            char *v = lines[j] + klen + 2;
            nv = 0;
            while (*v && nv < 64) {
                sum[nv++] += strtoll(v, &v, 10);
            }
        }
        int zero = 1;
        for (size_t k = 0; k < nv; k++)
            zero &= sum[k] == 0;
        if (!zero) {
            sb_printf(&out, "%.*s =", (int)klen, lines[i]);
            for (size_t k = 0; k < nv; k++)
                sb_printf(&out, " %" PRId64, sum[k]);
            sb_printf(&out, "\n");
        }
        i = j;
    }
    for (size_t k = 0; k < pb->n_sample; k++)
        free(lines[k]);
    free(lines);
    return out.d;
}
