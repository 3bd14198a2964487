/*
 * cli.h - the command-line front end: one function per subcommand, plus the helpers they
 * share (reading inputs under a ceiling, writing outputs atomically, limit options).
 *
 * Exit status everywhere: 0 success; 1 operational failure (I/O, memory); 2 invalid usage
 * or invalid input, always with one line on stderr that names the file.
 * Thread: the main thread; these commands run no loop.
 */
#ifndef CPGO_CLI_H
#define CPGO_CLI_H

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/codec.h"

enum { CPGO_EXIT_OK = 0, CPGO_EXIT_FAIL = 1, CPGO_EXIT_INVALID = 2 };

int cpgo_cmd_merge(int argc, char **argv);
int cpgo_cmd_inspect(int argc, char **argv);
int cpgo_cmd_check_config(int argc, char **argv);
int cpgo_cmd_run(int argc, char **argv);
/* The original tool's command line, `cpgo -configPath FILE -githubToken TOKEN -verbose`
 * (argv[1] is a flag, there is no command): the daemon, exactly as `cpgo run` with the
 * same flags. */
int cpgo_cmd_original(int argc, char **argv);
int cpgo_cmd_demo(int argc, char **argv);
int cpgo_cmd_state(int argc, char **argv);
int cpgo_cmd_discover(int argc, char **argv);

/* Usage text of a command (NULL for unknown) and the list of commands. */
const char *cpgo_cli_usage(const char *cmd);
void cpgo_cli_print_help(FILE *out);
/* A command's -h, -help or --help, as Go's flag package answers it: the usage lines and
 * "Run 'cpgo help CMD' for details." on standard error; returns 2 (CPGO_EXIT_INVALID). */
int cpgo_cli_help_flag(const char *cmd);
/* Whether an argument asks for help that way. */
#define CPGO_CLI_IS_HELP(a) (!strcmp((a), "-h") || !strcmp((a), "-help") || !strcmp((a), "--help"))

/* Reads a whole file ("-" = standard input) into out, refusing more than max bytes. */
int cpgo_cli_read_file(const char *path, size_t max, struct cpgo_buf *out, struct cpgo_err *err);
/* Writes data to path atomically (cpgo_file_write_at: temp file, fsync, rename, fsync of
 * the directory);
 * "-" or NULL writes to standard output. */
int cpgo_cli_write_file(const char *path, const void *data, size_t len, struct cpgo_err *err);
/* Applies "--limit NAME=N". Returns 0 or CPGO_E_USAGE with a message. */
int cpgo_cli_parse_limit(struct cpgo_limits *lim, const char *spec, struct cpgo_err *err);
/* Prints "cpgo CMD: message" and a hint for usage errors; returns the exit status for code. */
int cpgo_cli_fail(const char *cmd, const struct cpgo_err *err);
/* The configuration option of the read-only commands (`-c FILE`, `--config FILE`,
 * `--config=FILE`, the original's `-configPath FILE`): 1 when argv[*i] is one (*path set,
 * *i past its value), 0 when it is not, -1 when its value is missing (usage error printed;
 * return CPGO_EXIT_INVALID). */
int cpgo_cli_config_option(const char *cmd, int argc, char **argv, int *i, const char **path);
int cpgo_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
