/* Unit tests for merge/merge: no_inline renaming (issue 12). A listed function enters the
 * accumulator as "DO NOT INLINE: <name>": an already renamed file and fresh scrapes fold into
 * one function, other names are untouched, recursion keeps its edge, renaming applies to a
 * merger folded into another and survives compaction. With Go on PATH, `go tool preprofile`
 * judges the published edges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "canon.h"
#include "check.h"
#include "merge/merge.h"
#include "pbuild.h"

static struct cpgo_limits lim;

static struct cpgo_profile *dec(const struct cpgo_buf *b)
{
    struct cpgo_profile *p = NULL;
    struct cpgo_err err;
    if (cpgo_profile_decode(b->data, b->len, &lim, &p, &err)) {
        fprintf(stderr, "decode: %s\n", err.text);
        abort();
    }
    return p;
}

static struct cpgo_profile *dec_pb(struct pbuild *b)
{
    struct cpgo_buf raw;
    pbuild_encode(b, 1, &raw);
    struct cpgo_profile *p = dec(&raw);
    cpgo_buf_free(&raw);
    return p;
}

static char *canon_of(const struct cpgo_buf *b, int with_addr)
{
    struct cpgo_profile *p = dec(b);
    char *s = canon_dump(p, with_addr);
    cpgo_profile_free(p);
    return s;
}

static const char *const names[] = {
    "runtime.gopark", "google.golang.org/grpc/internal/transport.(*loopyWriter).processData",
    "DO NOT INLINE: pkg.already", /* listed with the prefix: left alone, never doubled */
};

static struct cpgo_merge_opts noinl_opts(void)
{
    struct cpgo_merge_opts o;
    memset(&o, 0, sizeof o);
    o.no_inline = names;
    o.nno_inline = sizeof names / sizeof *names;
    return o;
}

static struct pbuild *cpu(void)
{
    struct pbuild *b = pbuild_new();
    pbuild_sample_type(b, "samples", "count");
    pbuild_sample_type(b, "cpu", "nanoseconds");
    pbuild_period(b, "cpu", "nanoseconds", 10000000);
    pbuild_times(b, 1700000000000000000LL, 1000000000);
    return b;
}

/* A scrape: gopark called from main.loop, the grpc function called from main.loop, a
 * near-miss name, a name carrying the prefix already, and a recursive gopark (two
 * locations, same line, different addresses). */
static struct pbuild *scrape(int64_t k)
{
    struct pbuild *b = cpu();
    pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/bin/app", "bid");
    pbuild_function(b, 1, "main.loop", "main.go", 10);
    pbuild_function(b, 2, "runtime.gopark", "proc.go", 400);
    pbuild_function(b, 3, names[1], "controlbuf.go", 900);
    pbuild_function(b, 4, "runtime.goparkunlock", "proc.go", 420);
    pbuild_function(b, 5, "DO NOT INLINE: pkg.other", "other.go", 5);
    pbuild_function(b, 6, "runtime.gopark", "proc_other.go", 400); /* another file: distinct */
    uint64_t f[] = {1, 2, 3, 4, 5, 6};
    pbuild_location(b, 1, 1, 0x401000, 1, &f[0], (int64_t[]){15});
    pbuild_location(b, 2, 1, 0x402000, 1, &f[1], (int64_t[]){410});
    pbuild_location(b, 3, 1, 0x403000, 1, &f[2], (int64_t[]){950});
    pbuild_location(b, 4, 1, 0x404000, 1, &f[3], (int64_t[]){425});
    pbuild_location(b, 5, 1, 0x405000, 1, &f[4], (int64_t[]){7});
    pbuild_location(b, 6, 1, 0x402100, 1, &f[1], (int64_t[]){410}); /* gopark, same line */
    pbuild_location(b, 7, 1, 0x406000, 1, &f[5], (int64_t[]){401});
    pbuild_sample(b, 2, (uint64_t[]){2, 1}, 2, (int64_t[]){10 * k, 100 * k});
    pbuild_sample(b, 2, (uint64_t[]){3, 1}, 2, (int64_t[]){20 * k, 200 * k});
    pbuild_sample(b, 2, (uint64_t[]){4, 1}, 2, (int64_t[]){30 * k, 300 * k});
    pbuild_sample(b, 2, (uint64_t[]){5, 1}, 2, (int64_t[]){40 * k, 400 * k});
    pbuild_sample(b, 3, (uint64_t[]){6, 2, 1}, 2, (int64_t[]){50 * k, 500 * k});
    pbuild_sample(b, 2, (uint64_t[]){7, 1}, 2, (int64_t[]){60 * k, 600 * k});
    return b;
}

static int encode(struct cpgo_merger *m, struct cpgo_buf *out)
{
    struct cpgo_err err;
    int rc = cpgo_merge_encode(m, 1, 1, out, &err);
    if (rc) fprintf(stderr, "encode: %s\n", err.text);
    return rc;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_rename(void)
{
    struct cpgo_err err;
    struct cpgo_merge_opts o = noinl_opts();
    struct pbuild *b = scrape(1);
    struct cpgo_profile *s1 = dec_pb(b);
    pbuild_free(b);
    b = scrape(2);
    struct cpgo_profile *s2 = dec_pb(b);
    pbuild_free(b);

    /* the published file: s1 renamed */
    struct cpgo_merger *m;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s1, &err), 0);
    struct cpgo_buf file;
    CHECK_EQ_INT(encode(m, &file), 0);
    cpgo_merge_free(m);
    char *c = canon_of(&file, 0);
    /* the name is renamed, the system name left as is */
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 10 100\n");
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: google.golang.org/grpc/internal/transport."
                          "(*loopyWriter).processData;google.golang.org/grpc/internal/"
                          "transport.(*loopyWriter).processData;controlbuf.go;900:950:0>");
    /* not listed: untouched; carrying the prefix: untouched, never doubled */
    CHECK_STR_CONTAINS(c, "<runtime.goparkunlock;runtime.goparkunlock;proc.go;420:425:0>");
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: pkg.other;DO NOT INLINE: pkg.other;other.go;5:7:0>");
    CHECK(!strstr(c, "DO NOT INLINE: DO NOT INLINE"));
    /* the recursive sample keeps both frames, both renamed */
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 50 500\n");
    /* same name, another file: its own function (pprof's identity, after renaming) */
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc_other.go;400:401:0>");
    CHECK(!strstr(c, "<runtime.gopark;"));
    struct cpgo_profile *fp = dec(&file);
    CHECK_EQ_INT(fp->pb->n_function, 6);
    CHECK_EQ_INT(fp->pb->n_location, 7);
    free(c);

    /* the next publish: the renamed file and a fresh, unrenamed scrape fold together */
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, fp, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s2, &err), 0);
    struct cpgo_buf next;
    CHECK_EQ_INT(encode(m, &next), 0);
    cpgo_merge_free(m);
    c = canon_of(&next, 0);
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 30 300\n");
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 150 1500\n");
    CHECK(!strstr(c, "<runtime.gopark;"));
    struct cpgo_profile *np = dec(&next);
    CHECK_EQ_INT(np->pb->n_function, 6); /* nothing doubled */
    CHECK_EQ_INT(np->pb->n_location, 7);
    CHECK_EQ_INT(np->pb->n_sample, 6);
    /* and the same as the two scrapes merged at once (associativity holds through renaming) */
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s2, &err), 0);
    struct cpgo_buf once;
    CHECK_EQ_INT(encode(m, &once), 0);
    cpgo_merge_free(m);
    char *c2 = canon_of(&once, 1), *c3 = canon_of(&next, 1);
    CHECK(!strcmp(c2, c3));
    free(c2);
    free(c3);
    cpgo_buf_free(&once);
    free(c);

    /* without a list nothing is renamed (and a renamed file stays as it is) */
    CHECK_EQ_INT(cpgo_merge_new(&m, NULL), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, fp, &err), 0);
    struct cpgo_buf plain;
    CHECK_EQ_INT(encode(m, &plain), 0);
    cpgo_merge_free(m);
    c = canon_of(&plain, 0);
    CHECK_STR_CONTAINS(c, "<runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 10 100\n");
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 10 100\n");
    free(c);
    cpgo_buf_free(&plain);

    /* through a merger: src has no list, dst renames what src brings */
    struct cpgo_merger *src, *dst;
    CHECK_EQ_INT(cpgo_merge_new(&src, NULL), 0);
    CHECK_EQ_INT(cpgo_merge_add(src, s2, &err), 0);
    CHECK_EQ_INT(cpgo_merge_new(&dst, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(dst, fp, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add_merger(dst, src, &err), 0);
    struct cpgo_buf viam;
    CHECK_EQ_INT(encode(dst, &viam), 0);
    c = canon_of(&viam, 1);
    c2 = canon_of(&next, 1);
    CHECK(!strcmp(c, c2));
    free(c);
    free(c2);
    cpgo_buf_free(&viam);
    struct cpgo_buf srcb;
    CHECK_EQ_INT(encode(src, &srcb), 0); /* src itself is not renamed */
    c = canon_of(&srcb, 0);
    CHECK_STR_CONTAINS(c, "<runtime.gopark;runtime.gopark;proc.go;400:410:0>");
    CHECK(!strstr(c, "DO NOT INLINE: runtime.gopark"));
    free(c);
    cpgo_buf_free(&srcb);
    cpgo_merge_free(src);
    cpgo_merge_free(dst);

    cpgo_profile_free(np);
    cpgo_buf_free(&next);
    cpgo_profile_free(fp);
    cpgo_buf_free(&file);
    cpgo_profile_free(s1);
    cpgo_profile_free(s2);
}

/* With strip_addresses, X and "DO NOT INLINE: X" in one input are one compiler node once
 * renamed: a leaf/caller pair of them on one line keeps its addresses (else the compiler's
 * graph would see a self-edge and drop it), as a recursive X -> X does. */
static void test_rename_trim(void)
{
    struct cpgo_err err;
    struct cpgo_merge_opts o = noinl_opts();
    o.trim.strip_addresses = 1;
    o.trim.keep_frames = 2;
    struct pbuild *b = cpu();
    pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/bin/app", "bid");
    pbuild_function(b, 1, "main.loop", "main.go", 10);
    pbuild_function(b, 2, "runtime.gopark", "proc.go", 400);
    pbuild_function(b, 3, "DO NOT INLINE: runtime.gopark", "proc.go", 400);
    pbuild_function(b, 4, "runtime.goready", "proc.go", 500);
    pbuild_location(b, 1, 1, 0x401000, 1, (uint64_t[]){1}, (int64_t[]){15});
    pbuild_location(b, 2, 1, 0x402000, 1, (uint64_t[]){2}, (int64_t[]){410});
    pbuild_location(b, 3, 1, 0x402100, 1, (uint64_t[]){3}, (int64_t[]){410});
    pbuild_location(b, 4, 1, 0x403000, 1, (uint64_t[]){4}, (int64_t[]){510});
    pbuild_location(b, 5, 1, 0x403100, 1, (uint64_t[]){4}, (int64_t[]){520});
    pbuild_sample(b, 3, (uint64_t[]){2, 3, 1}, 2, (int64_t[]){5, 50});
    pbuild_sample(b, 3, (uint64_t[]){4, 5, 1}, 2, (int64_t[]){7, 70});
    struct cpgo_profile *p = dec_pb(b);
    pbuild_free(b);
    struct cpgo_merger *m;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, p, &err), 0);
    struct cpgo_buf out;
    CHECK_EQ_INT(encode(m, &out), 0);
    cpgo_merge_free(m);
    struct cpgo_profile *r = dec(&out);
    int kept = 0, stripped = 0;
    for (size_t i = 0; i < r->pb->n_sample; i++) {
        const Perftools__Profiles__Sample *s = r->pb->sample[i];
        CHECK_EQ_INT(s->n_location_id, 2);
        const Perftools__Profiles__Location *a =
            r->pb->location[cpgo_id_lookup(&r->location_ids, s->location_id[0])];
        const Perftools__Profiles__Location *c =
            r->pb->location[cpgo_id_lookup(&r->location_ids, s->location_id[1])];
        const Perftools__Profiles__Function *fa =
            r->pb->function[cpgo_id_lookup(&r->function_ids, a->line[0]->function_id)];
        const Perftools__Profiles__Function *fc =
            r->pb->function[cpgo_id_lookup(&r->function_ids, c->line[0]->function_id)];
        /* one name after renaming (the system names differ: two pprof functions) */
        if (s->value[0] == 5)
            kept = a->address && c->address && a->address != c->address && fa->name == fc->name;
        if (s->value[0] == 7) stripped = !a->address && !c->address;
    }
    CHECK(kept); /* one function after renaming, two nodes by address */
    if (!kept) {
        char *dump = canon_dump(r, 1);
        fprintf(stderr, "%s", dump);
        free(dump);
    }
    CHECK(stripped); /* different lines: nothing to keep */
    CHECK_EQ_INT(r->pb->n_function, 3);
    cpgo_profile_free(r);
    cpgo_buf_free(&out);
    cpgo_profile_free(p);
}

/* Compaction (a sample summing to zero) swaps the accumulator for a fresh one: the list
 * must come along, for the adds after it. */
static void test_rename_after_compaction(void)
{
    struct cpgo_err err;
    struct cpgo_merge_opts o = noinl_opts();
    struct pbuild *b = scrape(1);
    struct cpgo_profile *s1 = dec_pb(b);
    pbuild_free(b);
    /* no shape: negative values are pprof's; this one cancels s1's goparkunlock sample */
    b = cpu();
    pbuild_mapping(b, 1, 0x400000, 0x800000, 0, "/bin/app", "bid");
    pbuild_function(b, 1, "main.loop", "main.go", 10);
    pbuild_function(b, 4, "runtime.goparkunlock", "proc.go", 420);
    pbuild_location(b, 1, 1, 0x401000, 1, (uint64_t[]){1}, (int64_t[]){15});
    pbuild_location(b, 4, 1, 0x404000, 1, (uint64_t[]){4}, (int64_t[]){425});
    pbuild_sample(b, 2, (uint64_t[]){4, 1}, 2, (int64_t[]){-30, -300});
    struct cpgo_profile *cancel = dec_pb(b);
    pbuild_free(b);
    struct cpgo_merger *m;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, s1, &err), 0);
    CHECK_EQ_INT(cpgo_merge_add(m, cancel, &err), 0);
    struct cpgo_merged *r;
    CHECK_EQ_INT(cpgo_merge_result(m, &r, &err), 0); /* compacts: goparkunlock is gone */
    CHECK_EQ_INT(r->pb.n_sample, 5);
    CHECK_EQ_INT(r->pb.n_function, 5);
    cpgo_merged_free(r);
    CHECK_EQ_INT(cpgo_merge_add(m, s1, &err), 0);
    struct cpgo_buf out;
    CHECK_EQ_INT(encode(m, &out), 0);
    char *c = canon_of(&out, 0);
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 20 200\n");
    CHECK_STR_CONTAINS(c, "<runtime.goparkunlock;runtime.goparkunlock;proc.go;420:425:0> "
                          "<main.loop;main.loop;main.go;10:15:0> = 30 300\n");
    CHECK(!strstr(c, "<runtime.gopark;"));
    CHECK_EQ_INT(count(c, "\n{}"), 6);
    free(c);
    struct cpgo_profile *rp = dec(&out);
    CHECK_EQ_INT(rp->pb->n_function, 6);
    cpgo_profile_free(rp);
    cpgo_buf_free(&out);
    cpgo_merge_free(m);
    cpgo_profile_free(s1);
    cpgo_profile_free(cancel);
}

static void test_bad_lists(void)
{
    struct cpgo_merge_opts o;
    memset(&o, 0, sizeof o);
    struct cpgo_merger *m = (struct cpgo_merger *)1;
    const char *empty[] = {"runtime.gopark", ""};
    o.no_inline = empty;
    o.nno_inline = 2;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), CPGO_E_USAGE);
    CHECK(m == NULL);
    const char *null[] = {NULL};
    o.no_inline = null;
    o.nno_inline = 1;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), CPGO_E_USAGE);
    o.nno_inline = CPGO_MERGE_MAX_NO_INLINE + 1;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), CPGO_E_USAGE);
    char *longname = malloc(CPGO_MERGE_MAX_NAME + 2);
    memset(longname, 'x', CPGO_MERGE_MAX_NAME + 1);
    longname[CPGO_MERGE_MAX_NAME + 1] = 0;
    const char *lst[] = {longname};
    o.no_inline = lst;
    o.nno_inline = 1;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), CPGO_E_USAGE);
    longname[CPGO_MERGE_MAX_NAME] = 0; /* at the ceiling: fine */
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    cpgo_merge_free(m);
    free(longname);
    /* the list is borrowed only during cpgo_merge_new: the caller may free it at once */
    char *dup = strdup("runtime.gopark");
    const char *mine[] = {dup, dup}; /* duplicates are harmless */
    o.no_inline = mine;
    o.nno_inline = 2;
    CHECK_EQ_INT(cpgo_merge_new(&m, &o), 0);
    memset(dup, 'z', strlen(dup));
    free(dup);
    struct pbuild *b = scrape(1);
    struct cpgo_profile *p = dec_pb(b);
    pbuild_free(b);
    struct cpgo_err err;
    CHECK_EQ_INT(cpgo_merge_add(m, p, &err), 0);
    struct cpgo_buf out;
    CHECK_EQ_INT(encode(m, &out), 0);
    char *c = canon_of(&out, 0);
    CHECK_STR_CONTAINS(c, "<DO NOT INLINE: runtime.gopark;runtime.gopark;proc.go;400:410:0>");
    free(c);
    cpgo_buf_free(&out);
    cpgo_profile_free(p);
    cpgo_merge_free(m);
}

/* Go's own reader of the published file: no edge to or from a listed name; every other
 * edge as it was without renaming. */
static void test_go_preprofile(void)
{
    if (system("go tool preprofile -h >/dev/null 2>&1 || go tool -n preprofile >/dev/null 2>&1")) {
        printf("SKIP go tool preprofile check: no Go 1.23+ on PATH\n");
        return;
    }
    struct cpgo_err err;
    struct pbuild *b = scrape(1);
    struct cpgo_profile *p = dec_pb(b);
    pbuild_free(b);
    char dir[256], cmd[4096];
    snprintf(dir, sizeof dir, "%s/cpgo-test-merge-noinline-%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    for (int renamed = 0; renamed < 2; renamed++) {
        struct cpgo_merge_opts o = noinl_opts();
        struct cpgo_merger *m;
        CHECK_EQ_INT(cpgo_merge_new(&m, renamed ? &o : NULL), 0);
        CHECK_EQ_INT(cpgo_merge_add(m, p, &err), 0);
        struct cpgo_buf out;
        CHECK_EQ_INT(cpgo_merge_encode(m, 0, 1, &out, &err), 0);
        cpgo_merge_free(m);
        char path[512];
        snprintf(path, sizeof path, "%s/p%d.pb.gz", dir, renamed);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(out.data, 1, out.len, f) == out.len);
        if (f) fclose(f);
        cpgo_buf_free(&out);
        snprintf(cmd, sizeof cmd, "go tool preprofile -i '%s' -o '%s/e%d.txt'", path, dir, renamed);
        CHECK(system(cmd) == 0);
    }
    /* renamed edges: the listed names are gone; the rest of the edge list is unchanged.
     * The preprofile format is three lines per edge (caller, callee, "offset weight"):
     * drop the edges that touch a listed name from the unrenamed list, and those that touch
     * a renamed one from the renamed list, and the two must be equal. */
    const char *filter =
        "awk 'NR==1{print;next} {l[++n]=$0} END{for(i=1;i<=n;i+=3) "
        "if (l[i]!~/%s/ && l[i+1]!~/%s/) print l[i] \"\\n\" l[i+1] \"\\n\" l[i+2]}'";
    char f0[512], f1[512];
    snprintf(f0, sizeof f0, filter, "^(runtime\\.gopark|google\\.golang\\.org.*processData)$",
             "^(runtime\\.gopark|google\\.golang\\.org.*processData)$");
    snprintf(f1, sizeof f1, filter, "^DO NOT INLINE: (runtime|google)",
             "^DO NOT INLINE: (runtime|google)");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ! grep -Eqx 'runtime\\.gopark|google\\.golang\\.org/grpc/internal/"
             "transport\\.\\(\\*loopyWriter\\)\\.processData' e1.txt && grep -q 'DO NOT INLINE: "
             "runtime.gopark' e1.txt && %s e0.txt > k0 && %s e1.txt > k1 && cmp -s k0 k1 && "
             "[ $(wc -l < k1) -gt 3 ] && [ $(wc -l < e0.txt) -gt $(wc -l < k0) ]",
             dir, f0, f1);
    int rc = system(cmd);
    CHECK(rc == 0);
    if (rc) {
        snprintf(cmd, sizeof cmd, "cd '%s' && head -40 e0.txt e1.txt k0 k1 >&2", dir);
        if (system(cmd)) fprintf(stderr, "cannot show %s\n", dir);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
    cpgo_profile_free(p);
}

int main(void)
{
    cpgo_limits_default(&lim);
    test_rename();
    test_rename_trim();
    test_rename_after_compaction();
    test_bad_lists();
    test_go_preprofile();
    CHECK_DONE();
}
