/* Unit tests for discover/sd_file: file_sd on a private libuv loop over real files in a
 * temporary directory, written, edited in place, renamed into place and deleted while the
 * source runs. Covered: JSON and YAML, globs over several files, the last good targets of
 * a file kept when it turns invalid (invalid JSON/YAML, bad address, unknown key, null
 * item, empty JSON, a 17 MiB file) with errors naming file and line, a deleted file's
 * targets dropped, an empty YAML file, a directory that appears later, directory events
 * (refresh_interval one hour) and the timer alone (a file behind a symlink, which the
 * directory's watch cannot see), the per-source ceiling, and close at any moment (before
 * start, while a parse runs on the pool, from the changed callback). Every run ends with
 * the loop closed with nothing open (uv_loop_close == 0). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "discover/source.h"

#define HOUR_MS (3600 * 1000)
#define WAIT_MS 10000 /* generous: the machine may be busy */

static char tmp[256];
static int changes;

static void changed(struct cpgo_sd_source *src, void *arg)
{
    (void)src;
    (void)arg;
    changes++;
}

/* ---- files ------------------------------------------------------------------------- */

static const char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* Writes in place: truncates and rewrites the same inode. */
static void put(const char *name, const char *text)
{
    int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
}

/* Writes a temporary file, then renames it into place (what careful writers do). */
static void put_rename(const char *name, const char *text)
{
    char t[300];
    snprintf(t, sizeof t, "%s.tmp", name);
    put(t, text);
    CHECK(rename(at(t), at(name)) == 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_tree(const char *p)
{
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until the source has ended `want` refreshes in all, or WAIT_MS. */
static int run_until(uv_loop_t *loop, struct cpgo_sd_source *src, uint64_t want)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, wake, 10, 10);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + WAIT_MS;
    while (src->refreshes < want && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return src->refreshes >= want;
}

/* Runs the loop for ms milliseconds (to see that nothing more happens). */
static void run_for(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, wake, 10, 10);
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + (uint64_t)ms;
    while (uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static struct cpgo_sd_source *open_src(uv_loop_t *loop, const char **files, size_t n,
                                       int64_t refresh_ms)
{
    static char *pats[8];
    static struct cpgo_sd_file_cfg cfg;
    for (size_t i = 0; i < n; i++) {
        free(pats[i]);
        pats[i] = strdup(at(files[i]));
    }
    cfg = (struct cpgo_sd_file_cfg){.files = pats, .nfiles = n, .refresh_ms = refresh_ms};
    struct cpgo_sd_env env = {.loop = loop};
    struct cpgo_sd_source *src = NULL;
    CHECK(cpgo_sd_file_new(&env, &cfg, 2, &src) == 0);
    CHECK(!strcmp(src->name, "file_sd_configs[2]"));
    src->changed = changed;
    CHECK(src->ops->start(src) == 0);
    return src;
}

static void close_src(uv_loop_t *loop, struct cpgo_sd_source *src)
{
    src->ops->close(src);
    uv_run(loop, UV_RUN_DEFAULT);
}

/* The target host:port, with its origin when origin is not NULL. */
static int has(const struct cpgo_sd_source *src, const char *host, int port, const char *origin)
{
    for (size_t i = 0; i < src->ntargets; i++)
        if (!strcmp(src->targets[i].host, host) && src->targets[i].port == port &&
            (!origin || !strcmp(src->targets[i].origin, at(origin))))
            return 1;
    return 0;
}

/* Makes a fresh temporary directory for one test. */
static void fresh(void)
{
    if (tmp[0]) rm_tree(tmp);
    snprintf(tmp, sizeof tmp, "%s/cpgo-sdfile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(tmp) != NULL);
}

/* ---- the tests ------------------------------------------------------------------- */

/* JSON and YAML, a glob over several files, a plain name; origins "<path>:<group>". */
static void test_formats_and_globs(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    put("a.json", "[{\"targets\": [\"10.0.0.1:6060\", \"app.internal:6060\"],\n"
                  "  \"labels\": {\"env\": \"prod\"}},\n"
                  " {\"targets\": [\"[::1]:7070\"]}]\n");
    put("b.json", "[]");
    put("c.yaml", "# written by a tool\n"
                  "- targets: ['10.0.0.2:6060']\n"
                  "  labels: {env: prod, port: 80}\n"
                  "- targets:\n"
                  "  - 'db-1:9090'\n");
    put("d.yml", "- targets: [10.0.0.3:1]\n");
    put("e.txt", "not matched");
    put(".hidden.json", "[{\"targets\": [\"10.0.0.9:9\"]}]"); /* Go's Glob matches it too */
    const char *files[] = {"*.json", "*.yaml", "d.yml", "nothere.json"};
    struct cpgo_sd_source *src = open_src(&loop, files, 4, HOUR_MS);
    CHECK(src->kind == CPGO_SD_FILE);
    CHECK(run_until(&loop, src, 1));
    CHECK(src->answered && src->ok);
    CHECK_EQ_INT(src->error[0], 0);
    CHECK_EQ_INT(src->ntargets, 7);
    CHECK(has(src, "10.0.0.1", 6060, "a.json:0"));
    CHECK(has(src, "app.internal", 6060, "a.json:0"));
    CHECK(has(src, "::1", 7070, "a.json:1"));
    CHECK(has(src, "10.0.0.2", 6060, "c.yaml:0"));
    CHECK(has(src, "db-1", 9090, "c.yaml:1"));
    CHECK(has(src, "10.0.0.3", 1, "d.yml:0"));
    CHECK(has(src, "10.0.0.9", 9, ".hidden.json:0"));
    CHECK(changes >= 1);
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* Edits in place, write-then-rename and deletes, seen through the directory's watch (the
 * timer is an hour away); a burst of events is one refresh. */
static void test_events(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    put("a.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    put("b.yaml", "- targets: ['10.0.0.2:2']\n");
    const char *files[] = {"*.json", "*.yaml"};
    struct cpgo_sd_source *src = open_src(&loop, files, 2, HOUR_MS);
    CHECK(run_until(&loop, src, 1));
    CHECK_EQ_INT(src->ntargets, 2);

    /* in place: the loop is not running while the file is written, so every event of the
     * write arrives in one burst */
    put("a.json", "[{\"targets\": [\"10.0.0.1:1\", \"10.0.0.11:11\"]}]");
    CHECK(run_until(&loop, src, 2));
    CHECK(src->ok);
    CHECK(has(src, "10.0.0.11", 11, "a.json:0"));
    CHECK_EQ_INT(src->ntargets, 3);

    /* write a temporary file, rename it into place: one refresh */
    put_rename("b.yaml", "- targets: ['10.0.0.22:22']\n- targets: ['10.0.0.23:23']\n");
    CHECK(run_until(&loop, src, 3));
    run_for(&loop, 300);
    CHECK_EQ_INT(src->refreshes, 3);
    CHECK(!has(src, "10.0.0.2", 2, NULL));
    CHECK(has(src, "10.0.0.22", 22, "b.yaml:0"));
    CHECK(has(src, "10.0.0.23", 23, "b.yaml:1"));

    /* a new file renamed into place */
    put_rename("c.json", "[{\"targets\": [\"10.0.0.3:3\"]}]");
    CHECK(run_until(&loop, src, 4));
    CHECK(has(src, "10.0.0.3", 3, "c.json:0"));

    /* deleted: its targets go */
    CHECK(unlink(at("b.yaml")) == 0);
    CHECK(run_until(&loop, src, 5));
    CHECK(src->ok);
    CHECK(!has(src, "10.0.0.22", 22, NULL));
    CHECK_EQ_INT(src->ntargets, 3);
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* Replaces good.json's content with `text` and checks that the refresh fails with `want`
 * in its error while the last good targets stay. */
static void bad_case(uv_loop_t *loop, struct cpgo_sd_source *src, const char *name,
                     const char *text, const char *want)
{
    uint64_t n = src->refreshes, failures = src->failures;
    put_rename(name, text);
    CHECK(run_until(loop, src, n + 1));
    CHECK(!src->ok);
    CHECK_EQ_INT(src->failures, failures + 1);
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", tmp, want);
    CHECK_STR_CONTAINS(src->error, full);
    /* the other file's targets and this file's last good ones */
    CHECK(has(src, "10.0.0.1", 1, "a.json:0"));
    CHECK(has(src, "10.0.0.2", 2, "b.yaml:0"));
    CHECK_EQ_INT(src->ntargets, 2);
}

/* Invalid files keep their last good targets; errors name file and line. */
static void test_invalid(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    put("a.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    put("b.yaml", "- targets: ['10.0.0.2:2']\n");
    const char *files[] = {"*.json", "*.yaml"};
    struct cpgo_sd_source *src = open_src(&loop, files, 2, HOUR_MS);
    CHECK(run_until(&loop, src, 1));
    CHECK(src->ok);

    bad_case(&loop, src, "a.json", "[\n  {\"targets\": [\"10.0.0.1:1\",\n  }\n]\n",
             "a.json:3: invalid JSON: ");
    /* the brief's example, exactly */
    bad_case(&loop, src, "a.json",
             "[\n  {\"labels\": {\"a\": \"b\"},\n   \"targets\": [\"10.0.0.5:5\",\n"
             "     \"10.0.0.1\"]}\n]\n",
             "a.json:4: targets[1]: '10.0.0.1' has no port (host:port)");
    bad_case(&loop, src, "a.json",
             "[{\"targets\": [\"10.0.0.1:1\"]},\n {\"targets\": [], \"lables\": {}}]",
             "a.json:2: [1]: unknown key 'lables'");
    bad_case(&loop, src, "a.json", "[{\"targets\": [\"10.0.0.1:1\"]},\n\n null]",
             "a.json:3: [1]: null target group");
    bad_case(&loop, src, "a.json", "[{\"targets\": [\"a:1\", 7]}]", "a.json:1: targets[1]: is not");
    bad_case(&loop, src, "a.json", "[{\"targets\": [],\n \"labels\": {\"x\": 1}}]",
             "a.json:2: labels.x: is not a string");
    bad_case(&loop, src, "a.json", "{\"targets\": []}", "a.json:1: not a list");
    bad_case(&loop, src, "a.json", "[{\"targets\": [\"a:1\"], \"targets\": []}]",
             "a.json:1: invalid JSON: duplicate object key");
    bad_case(&loop, src, "a.json", "", "a.json: empty file");
    bad_case(&loop, src, "a.json", "  \n", "a.json: empty file");
    uint64_t n = src->refreshes;
    put("a.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(src->ok);

    bad_case(&loop, src, "b.yaml", "- targets: ['10.0.0.2:2']\n  labels: {x: y\n- targets: []\n",
             "b.yaml:3: invalid YAML: did not find expected ',' or '}' while parsing a flow "
             "mapping (begun on line 2)");
    bad_case(&loop, src, "b.yaml", "- targets:\n  - '10.0.0.7:7'\n  - '10.0.0.2:99999'\n",
             "b.yaml:3: targets[1]: '10.0.0.2:99999' has no valid port");
    bad_case(&loop, src, "b.yaml", "- targets: []\n- targets: []\n  lables: {}\n",
             "b.yaml:3: [1]: unknown key 'lables'");
    bad_case(&loop, src, "b.yaml", "- targets: []\n-\n- targets: []\n",
             "b.yaml:2: [1]: null target group");
    bad_case(&loop, src, "b.yaml", "- targets: [{a: b}]\n", "b.yaml:1: targets[0]: is not");
    bad_case(&loop, src, "b.yaml", "- labels: {a: x, a: y}\n", "b.yaml:1: labels: 'a' is given");
    bad_case(&loop, src, "b.yaml", "- &x {targets: []}\n- *x\n", "b.yaml:2: YAML aliases");
    bad_case(&loop, src, "b.yaml", "- targets: []\n---\n- targets: []\n",
             "b.yaml:2: a second YAML document");
    bad_case(&loop, src, "b.yaml", "targets: []\n", "b.yaml:1: not a list");

    /* two invalid files: the first named, the other counted */
    n = src->refreshes;
    put("a.json", "[");
    put("b.yaml", "[");
    CHECK(run_until(&loop, src, n + 1));
    CHECK_STR_CONTAINS(src->error, "(and 1 more)");
    CHECK_EQ_INT(src->ntargets, 2);

    /* good again: the error goes */
    n = src->refreshes;
    put("a.json", "[{\"targets\": [\"10.0.0.10:10\"]}]");
    put("b.yaml", "- targets: ['10.0.0.20:20']\n");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(src->ok);
    CHECK_EQ_INT(src->error[0], 0);
    CHECK(has(src, "10.0.0.10", 10, "a.json:0"));
    CHECK(has(src, "10.0.0.20", 20, "b.yaml:0"));
    CHECK_EQ_INT(src->ntargets, 2);

    /* an empty YAML file is a valid empty list: its targets go */
    n = src->refreshes;
    put("b.yaml", "");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(src->ok);
    CHECK_EQ_INT(src->ntargets, 1);
    n = src->refreshes;
    put("b.yaml", "# nothing yet\n---\n");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(src->ok);
    CHECK_EQ_INT(src->ntargets, 1);

    /* a file never valid gives nothing and fails the refresh */
    n = src->refreshes;
    put("new.json", "[{\"targets\": [\"nope\"]}]");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(!src->ok);
    CHECK_STR_CONTAINS(src->error, "new.json:1: targets[0]: 'nope' has no port");
    CHECK_EQ_INT(src->ntargets, 1);
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* A 17 MiB file is refused without being parsed; its last good targets stay. */
static void test_too_big(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    put("a.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    const char *files[] = {"*.json"};
    struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
    CHECK(run_until(&loop, src, 1));
    CHECK_EQ_INT(src->ntargets, 1);

    size_t n = 17u << 20;
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    memset(big, ' ', n);
    const char *doc = "[{\"targets\": [\"10.0.0.2:2\"]}]";
    memcpy(big, doc, strlen(doc)); /* valid JSON, padded */
    big[n] = 0;
    put_rename("a.json", big);
    free(big);
    CHECK(run_until(&loop, src, 2));
    CHECK(!src->ok);
    CHECK_STR_CONTAINS(src->error, "a.json: 17825792 bytes, more than a file_sd file may hold");
    CHECK(has(src, "10.0.0.1", 1, "a.json:0"));
    CHECK_EQ_INT(src->ntargets, 1);
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* A directory that does not exist is no error; it is watched once it appears (through its
 * parent's watch: the timer is an hour away). */
static void test_missing_dir(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *files[] = {"sub/deeper/*.json"};
    struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
    CHECK(run_until(&loop, src, 1));
    CHECK(src->answered && src->ok);
    CHECK_EQ_INT(src->ntargets, 0);

    CHECK(mkdir(at("sub"), 0755) == 0);
    CHECK(run_until(&loop, src, 2));
    CHECK(mkdir(at("sub/deeper"), 0755) == 0);
    CHECK(run_until(&loop, src, 3));
    CHECK_EQ_INT(src->ntargets, 0);
    uint64_t n = src->refreshes;
    put_rename("sub/deeper/a.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(src->ok);
    CHECK(has(src, "10.0.0.1", 1, "sub/deeper/a.json:0"));

    /* the directory removed and made again: watched again */
    rm_tree(at("sub"));
    CHECK(run_until(&loop, src, n + 2));
    run_for(&loop, 200);
    CHECK_EQ_INT(src->ntargets, 0);
    CHECK(mkdir(at("sub"), 0755) == 0);
    CHECK(mkdir(at("sub/deeper"), 0755) == 0);
    n = src->refreshes;
    CHECK(run_until(&loop, src, n + 1));
    run_for(&loop, 200);
    n = src->refreshes;
    put("sub/deeper/b.json", "[{\"targets\": [\"10.0.0.2:2\"]}]");
    CHECK(run_until(&loop, src, n + 1));
    CHECK(has(src, "10.0.0.2", 2, "sub/deeper/b.json:0"));
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* The timer alone: a file that is a symlink into another directory changes without any
 * event in the watched directory; refresh_interval picks the change up. */
static void test_timer(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    CHECK(mkdir(at("real"), 0755) == 0);
    CHECK(mkdir(at("watched"), 0755) == 0);
    put("real/t.json", "[{\"targets\": [\"10.0.0.1:1\"]}]");
    CHECK(symlink(at("real/t.json"), at("watched/t.json")) == 0);
    const char *files[] = {"watched/*.json"};
    struct cpgo_sd_source *src = open_src(&loop, files, 1, 300);
    CHECK(run_until(&loop, src, 1));
    CHECK(has(src, "10.0.0.1", 1, "watched/t.json:0"));
    put("real/t.json", "[{\"targets\": [\"10.0.0.2:2\"]}]");
    uint64_t end = src->refreshes + 20;
    while (!has(src, "10.0.0.2", 2, NULL) && src->refreshes < end)
        CHECK(run_until(&loop, src, src->refreshes + 1));
    CHECK(has(src, "10.0.0.2", 2, "watched/t.json:0"));
    CHECK_EQ_INT(src->ntargets, 1);
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

/* More targets than a source may have: the first CPGO_SD_MAX_TARGETS are kept, and the
 * refresh says so. */
static void test_ceiling(void)
{
    fresh();
    uv_loop_t loop;
    uv_loop_init(&loop);
    size_t per = CPGO_SD_MAX_TARGETS / 2 + 10, cap = per * 24 + 64;
    char *doc = malloc(cap);
    CHECK(doc != NULL);
    for (int f = 0; f < 2; f++) {
        size_t len = (size_t)snprintf(doc, cap, "[{\"targets\": [");
        for (size_t i = 0; i < per; i++)
            len += (size_t)snprintf(doc + len, cap - len, "%s\"10.%d.%zu.%zu:1\"", i ? "," : "", f,
                                    i / 250, i % 250);
        snprintf(doc + len, cap - len, "]}]");
        put(f ? "b.json" : "a.json", doc);
    }
    free(doc);
    const char *files[] = {"*.json"};
    struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
    CHECK(run_until(&loop, src, 1));
    CHECK(!src->ok);
    CHECK_EQ_INT(src->ntargets, CPGO_SD_MAX_TARGETS);
    CHECK_STR_CONTAINS(src->error, "100020 targets, more than a source may have (100000)");
    close_src(&loop, src);
    CHECK(uv_loop_close(&loop) == 0);
}

static void close_in_cb(struct cpgo_sd_source *src, void *arg)
{
    (void)arg;
    changes++;
    src->ops->close(src);
}

/* Close at any moment: before start, while a parse runs on the pool, from `changed`, while
 * a debounce is pending. ASan finds what would leak or be used after free. */
static void test_close(void)
{
    fresh();
    /* a file that takes a while to parse */
    size_t per = 90000, cap = per * 40 + 64;
    char *doc = malloc(cap);
    CHECK(doc != NULL);
    size_t len = (size_t)snprintf(doc, cap, "[{\"targets\": [");
    for (size_t i = 0; i < per; i++)
        len +=
            (size_t)snprintf(doc + len, cap - len, "%s\"host-%zu.internal:6060\"", i ? "," : "", i);
    snprintf(doc + len, cap - len, "]}]");
    put("a.json", doc);
    free(doc);
    const char *files[] = {"*.json"};

    /* never started */
    {
        uv_loop_t loop;
        uv_loop_init(&loop);
        static char *pats[1];
        pats[0] = (char *)at("*.json");
        struct cpgo_sd_file_cfg cfg = {.files = pats, .nfiles = 1, .refresh_ms = 1000};
        struct cpgo_sd_env env = {.loop = &loop};
        struct cpgo_sd_source *src;
        CHECK(cpgo_sd_file_new(&env, &cfg, 0, &src) == 0);
        close_src(&loop, src);
        CHECK(uv_loop_close(&loop) == 0);
    }
    /* right after start, and after the pool had 1, 5, 20 ms to begin the parse */
    int delays[] = {0, 1, 5, 20};
    for (size_t k = 0; k < sizeof delays / sizeof *delays; k++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        changes = 0;
        struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
        if (delays[k]) usleep((useconds_t)delays[k] * 1000);
        close_src(&loop, src); /* `changed` is never called after close */
        CHECK_EQ_INT(changes, 0);
        CHECK(uv_loop_close(&loop) == 0);
    }
    /* from inside `changed` */
    {
        uv_loop_t loop;
        uv_loop_init(&loop);
        changes = 0;
        struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
        src->changed = close_in_cb;
        uv_run(&loop, UV_RUN_DEFAULT); /* ends once the source closed itself */
        CHECK_EQ_INT(changes, 1);
        CHECK(uv_loop_close(&loop) == 0);
    }
    /* with a debounce pending and a second refresh asked for while one runs */
    {
        uv_loop_t loop;
        uv_loop_init(&loop);
        changes = 0;
        struct cpgo_sd_source *src = open_src(&loop, files, 1, HOUR_MS);
        put("b.json", "[]");
        run_for(&loop, 150);
        put("c.json", "[]");
        uv_run(&loop, UV_RUN_NOWAIT);
        close_src(&loop, src);
        CHECK(uv_loop_close(&loop) == 0);
    }
}

int main(void)
{
    test_formats_and_globs();
    test_events();
    test_invalid();
    test_too_big();
    test_missing_dir();
    test_timer();
    test_ceiling();
    test_close();
    if (tmp[0]) rm_tree(tmp);
    CHECK_DONE();
}
