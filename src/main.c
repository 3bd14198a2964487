/*
 * main.c - cpgo's entry point: dispatches to a subcommand. Every subcommand returns the exit
 * status itself (0 ok, 1 operational failure, 2 invalid usage or input).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
    const char *usage;
} commands[] = {
    {"merge", cpgo_cmd_merge, "merge pprof profiles exactly as pprof does, optionally trimmed for PGO",
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
     "\n"
     "Prints a profile's sample types, period, time, duration, counts of samples,\n"
     "locations, functions and mappings, totals, whether Go PGO can use it (a\n"
     "samples/count or cpu/nanoseconds sample type and function start lines), and the\n"
     "top functions by flat and cumulative weight.\n"
     "\n"
     "  --json                machine-readable output\n"
     "  --limit NAME=N        see 'cpgo help merge'\n"},
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
    fprintf(out, "cpgo %s - continuous profile-guided optimization for Go fleets\n\n"
                 "usage: cpgo COMMAND [OPTIONS] [ARGS]\n\ncommands:\n",
            CPGO_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "show help for a command");
    fprintf(out, "\nRun 'cpgo help COMMAND' for a command's options. 'cpgo --version' prints the "
                 "version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cpgo_cli_print_help(stderr);
        return CPGO_EXIT_INVALID;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("cpgo %s\n", CPGO_VERSION);
        return CPGO_EXIT_OK;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        cpgo_cli_print_help(stdout);
        return CPGO_EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            cpgo_cli_print_help(stdout);
            return CPGO_EXIT_OK;
        }
        const char *u = cpgo_cli_usage(argv[2]);
        if (!u) {
            fprintf(stderr, "cpgo help: unknown command '%s'\nRun 'cpgo help' for the list.\n",
                    argv[2]);
            return CPGO_EXIT_INVALID;
        }
        fputs(u, stdout);
        return CPGO_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, cmd)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cpgo: unknown command '%s'\nRun 'cpgo help' for the list of commands.\n", cmd);
    return CPGO_EXIT_INVALID;
}
