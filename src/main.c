/*
 * main.c - cpgo's entry point: dispatches to a subcommand, or, when the first argument is a
 * flag, to the original tool's command line (`cpgo -configPath FILE -verbose`: the daemon).
 * Every subcommand returns the exit status itself (0 ok, 1 operational failure, 2 invalid
 * usage or input).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "version.h" /* generated at every build: CPGO_COMMIT */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
    const char *usage;
} commands[] = {
    {"merge", cpgo_cmd_merge,
     "merge pprof profiles exactly as pprof does, optionally trimmed for PGO",
     "usage: cpgo merge [-o OUT] [--compat] [--drop-labels] [--keep-frames N]\n"
     "                  [--strip-addresses] [--raw] [--limit NAME=N] FILE...\n"
     "\n"
     "Merges pprof profiles (gzip or raw protobuf; '-' reads standard input) with the\n"
     "semantics of google/pprof's profile.Merge and writes one gzip profile (raw protobuf\n"
     "with --raw) to OUT, standard output by default. The same inputs give the same bytes.\n"
     "\n"
     "  -o, --output OUT      write here (atomically) instead of standard output\n"
     "  --compat              keep only the sample types common to all inputs, as\n"
     "                        'go tool pprof -proto' does (units must agree)\n"
     "  --drop-labels         drop string and numeric sample labels\n"
     "  --keep-frames N       keep the N leaf-most frames of each stack (N >= 2; Go PGO\n"
     "                        reads the two leaf-most, 5 leaves a margin)\n"
     "  --strip-addresses     zero addresses and columns, drop mappings\n"
     "  --raw                 write uncompressed protobuf\n"
     "  --limit NAME=N        raise or lower a decoding limit: compressed, decompressed,\n"
     "                        decode-memory (bytes); samples, locations, functions,\n"
     "                        mappings, strings (counts)\n"
     "\n"
     "Trimming never deletes samples or rescales values: 'go tool preprofile' prints the\n"
     "same edges for a profile and its trimmed form.\n"},
    {"inspect", cpgo_cmd_inspect, "describe a profile and say whether Go PGO can use it",
     "usage: cpgo inspect [--json] [--limit NAME=N] FILE\n"
     "       cpgo inspect --edges [--hot] [--limit NAME=N] FILE\n"
     "\n"
     "Prints a profile's sample types, period, time, duration, counts of samples,\n"
     "locations, functions and mappings, totals, whether Go PGO can use it (a\n"
     "samples/count or cpu/nanoseconds sample type and function start lines), and the\n"
     "top functions by flat and cumulative weight.\n"
     "\n"
     "  --json                machine-readable output\n"
     "  --edges               print the call edges the Go compiler reads, exactly as\n"
     "                        'go tool preprofile -i FILE' writes them\n"
     "  --hot                 with --edges: only the hot call sites (99% of the edge\n"
     "                        weight, as the compiler cuts it), without the header line\n"
     "  --limit NAME=N        see 'cpgo help merge'\n"},
    {"check-config", cpgo_cmd_check_config, "validate a configuration file and print it normalised",
     "usage: cpgo check-config [-c FILE] [-q] [--output DIR]\n"
     "       cpgo check-config --reference\n"
     "\n"
     "Validates a configuration file (default ./config.yaml) and prints it normalised:\n"
     "YAML with every default filled in and secrets masked (header values of\n"
     "Authorization, Cookie and other secret-looking headers, credentials in URLs), then\n"
     "the targets it defines, as comments. Every error is printed on standard error as\n"
     "FILE:LINE:COLUMN: KEY: PROBLEM. What only the daemon can resolve when it runs (a\n"
     "target_branch not written, tokens read from the environment or a file, discovered\n"
     "instances, where a target_file without a directory goes, a state_dir derived from\n"
     "the environment) is said on standard error, one 'warning: resolved at run time:'\n"
     "line each. Exit status 0 when valid, 2 when there are errors or the\n"
     "file is missing or cannot be read.\n"
     "\n"
     "  -c, --config FILE     the configuration file ('-' reads standard input); the\n"
     "                        original tool's -configPath FILE is accepted too\n"
     "  -q, --quiet           print nothing when the file is valid (the run-time\n"
     "                        warnings neither)\n"
     "  --output DIR          also check what 'cpgo run --output DIR' checks: no two\n"
     "                        targets share an output file\n"
     "  --reference           print the reference of every key (docs/CONFIG.md) and exit\n"},
    {"state", cpgo_cmd_state, "show what a state directory holds; acknowledge its problems",
     "usage: cpgo state [-c FILE]\n"
     "       cpgo state [-c FILE] --ack TARGET\n"
     "\n"
     "Prints, for every target of the configuration (default ./config.yaml) and every\n"
     "target directory no longer configured: pending scrapes, pushed segments, what is\n"
     "published, damaged journal records and the problems recovery found (a damaged file\n"
     "is moved aside as NAME.corrupt-TIME, never deleted). It takes no lock and writes\n"
     "nothing, so it runs beside the daemon. Exit status 1 when a target has problems.\n"
     "\n"
     "  -c, --config FILE     the configuration\n"
     "  --ack TARGET          after looking: clear the problems of TARGET (its id or key);\n"
     "                        the target is ready again and publishing is no longer held.\n"
     "                        Takes the state directory's lock: stop the daemon first.\n"},
    {"discover", cpgo_cmd_discover, "list the instances each service's discovery finds now",
     "usage: cpgo discover [-c FILE] [--service NAME] [--all] [--timeout DURATION]\n"
     "\n"
     "Resolves every discovery source of every service (static_configs, dns_sd_configs,\n"
     "file_sd_configs, kubernetes_sd_configs) once, as the daemon would, and prints each\n"
     "service's instances (address, the name it was found as, the source that found it)\n"
     "and how many a round scrapes. It takes no lock and writes nothing, so it runs beside\n"
     "the daemon. Exit status 1 when a source fails or does not answer within the\n"
     "timeout, 2 when the configuration is invalid, missing or cannot be read.\n"
     "\n"
     "  -c, --config FILE     the configuration (default ./config.yaml)\n"
     "  --service NAME        only this service\n"
     "  --all                 also what was left out, and why (not ready, no such port,\n"
     "                        a duplicate address, a name that does not resolve...)\n"
     "  --timeout DURATION    how long to wait for every source's first answer (30s)\n"},
    {"demo", cpgo_cmd_demo, "run the whole pipeline on this machine with nothing configured",
     "usage: cpgo demo [--dir DIR]\n"
     "\n"
     "Starts three Go service backends on 127.0.0.1 that serve real Go CPU profiles\n"
     "(bundled in cpgo), creates a git repository with a Go main package and an existing\n"
     "default.pgo, runs two rounds of `cpgo run --once` through the local forge (the\n"
     "embedded default: no account), and prints the branch, the commit and the pull\n"
     "request body cpgo would open. Everything goes into DIR (default: a new directory\n"
     "under $TMPDIR or /tmp). Exit status 0 when the pipeline worked.\n"},
    {"run", cpgo_cmd_run, "scrape the fleet on its schedules, merge and publish (the daemon)",
     "usage: cpgo run [-c FILE] [-v] [--once [--dry-run] [--strict]] [--output DIR]\n"
     "                [--shard I/N]\n"
     "\n"
     "Scrapes every backend of the configuration (default ./config.yaml) on its cron\n"
     "schedule, merges the profiles of each target in the background and publishes each\n"
     "target at most once per open_pull_request.min_interval: one regenerated commit on\n"
     "the tip of target_branch, force-pushed to the head branch (forge local: that branch\n"
     "is the result), and for forge github one pull request, updated in place.\n"
     "\n"
     "  -c, --config FILE     the configuration (the original's -configPath works too)\n"
     "  -v, --verbose         debug logging (the original's -verbose works too); with\n"
     "                        --once, each backend's line in the summary too\n"
     "  --once                scrape every backend once, now, publish at once and exit with\n"
     "                        a summary table on standard output (per target: scrapes ok\n"
     "                        and failed, published where, or why not); on a terminal, a\n"
     "                        progress line on standard error while it runs\n"
     "  --strict              with --once: a warning (a failed backend or discovery source\n"
     "                        of a target that was published) makes the exit status 1\n"
     "  --output DIR          publish into DIR/<host>/<repository>/<branch>/<file> instead\n"
     "                        of a repository; the file there is the existing profile\n"
     "                        (its pending scrapes are kept apart from the forge's)\n"
     "  --dry-run             with --once: scrape and merge as usual, then print per target\n"
     "                        what would be published (path, sizes, scrapes, the edge\n"
     "                        change, the pull request body) and write nothing: no state\n"
     "                        directory, repository, forge or --output is touched, and no\n"
     "                        lock is taken (it can run beside the daemon)\n"
     "  --shard I/N           own only the targets whose id (cpgo check-config prints it)\n"
     "                        modulo N is I: N replicas partition the fleet without\n"
     "                        coordination. CPGO_SHARD=I/N does the same.\n"
     "  -githubToken TOKEN    the original's flag, accepted with a warning: other users see\n"
     "                        command lines. Use GITHUB_TOKEN (github.token_env) or\n"
     "                        github.token_file.\n"
     "\n"
     "Exit status: 0 the daemon stopped on a signal, or with --once every target was\n"
     "published or had nothing to publish (a failed backend of a published target is a\n"
     "warning); 1 with --once a target not published (or, with --strict, a warning), or a\n"
     "runtime failure (the state directory in use, ...); 2 invalid usage or configuration,\n"
     "the configuration file missing or unreadable included (systemd's\n"
     "RestartPreventExitStatus=2 does not restart it).\n"
     "\n"
     "Signals: SIGINT/SIGTERM stop scheduling, let scrapes in flight finish (up to\n"
     "shutdown_timeout), save state and exit 0; SIGHUP reloads the configuration (an\n"
     "invalid one is refused and the running one kept). Pending samples survive restarts\n"
     "and crashes in state_dir: every scrape is counted exactly once.\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

const char *cpgo_cli_usage(const char *cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, cmd)) return commands[i].usage;
    return NULL;
}

void cpgo_cli_print_help(FILE *out)
{
    fprintf(out,
            "cpgo %s - continuous profile-guided optimization for Go fleets\n\n"
            "usage: cpgo COMMAND [OPTIONS] [ARGS]\n\ncommands:\n",
            CPGO_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    /* as `go help`: help is how to ask, not a command of the list (`cpgo help help` is an
     * unknown topic, as `go help help` is) */
    fprintf(out, "\nUse 'cpgo help <command>' for more information about a command.\n"
                 "'cpgo --version' prints the version.\n");
    /* teams replacing the original keep its command line in their unit files */
    fputs("\nThe original tool's command line runs the daemon as 'cpgo run' does:\n"
          "  cpgo [-configPath FILE] [-githubToken TOKEN] [-verbose]\n"
          "  -configPath FILE      the configuration (default ./config.yaml)\n"
          "  -githubToken TOKEN    accepted with a warning: other users see command lines;\n"
          "                        use GITHUB_TOKEN or github.token_file\n"
          "  -verbose              debug logging (-verbose=false turns it off)\n"
          "Go's spellings work (--configPath, -configPath=FILE), and so do run's options.\n",
          out);
}

int cpgo_cli_help_flag(const char *cmd)
{
    /* the usage lines (up to the first blank line), as `go build -h` prints them */
    const char *u = cpgo_cli_usage(cmd);
    const char *end = u ? strstr(u, "\n\n") : NULL;
    if (u) fprintf(stderr, "%.*s\n", (int)(end ? end - u : (ptrdiff_t)strlen(u)), u);
    fprintf(stderr, "Run 'cpgo help %s' for details.\n", cmd);
    return CPGO_EXIT_INVALID;
}

/* `cpgo help [TOPIC...]`, as `go help`: the list or a command's whole text on standard
 * output (0); an unknown topic, `help` itself or anything after a command is refused on
 * standard error (2) in Go's words. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        cpgo_cli_print_help(stdout);
        return CPGO_EXIT_OK;
    }
    const char *u = cpgo_cli_usage(argv[2]);
    if (!u || argc > 3) {
        fputs("cpgo help", stderr);
        for (int i = 2; i < argc; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, ": unknown help topic. Run 'cpgo help%s%s'.\n", u ? " " : "",
                u ? argv[2] : "");
        return CPGO_EXIT_INVALID;
    }
    fputs(u, stdout);
    return CPGO_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cpgo_cli_print_help(stderr);
        /* The original started its daemon here, on ./config.yaml. cpgo does not start one by
         * surprise (someone exploring the binary would begin scraping and pushing), but it
         * says how, since this is where a team replacing the original ends up. */
        struct stat st;
        if (!stat("./config.yaml", &st))
            fputs("\n./config.yaml is here: 'cpgo run' starts the daemon on it (the original "
                  "tool\nstarted it with no arguments; cpgo does not start one by surprise).\n",
                  stderr);
        return CPGO_EXIT_INVALID;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-version") || !strcmp(cmd, "version")) {
        /* the commit, not a build date: two builds of one commit say the same, and a bug
         * report names the source it came from ("unknown" outside git and its tarballs) */
        printf("cpgo %s (commit %s)\n", CPGO_VERSION, CPGO_COMMIT);
        return CPGO_EXIT_OK;
    }
    /* Go's flag package answers -h, -help and --help: the usage on standard error, exit 2
     * (as `go -h`; `cpgo help` prints it on standard output with 0) */
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "-help")) {
        cpgo_cli_print_help(stderr);
        return CPGO_EXIT_INVALID;
    }
    /* a flag where the command goes: the original tool's command line */
    if (cmd[0] == '-' && cmd[1]) return cpgo_cmd_original(argc, argv);
    if (!strcmp(cmd, "help")) return help(argc, argv);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, cmd)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cpgo %s: unknown command\nRun 'cpgo help' for usage.\n", cmd);
    return CPGO_EXIT_INVALID;
}
