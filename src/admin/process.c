/*
 * process.c - see process.h.
 */
#include "admin/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated). Its length, or -1. */
static long read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

/* btime of /proc/stat: the boot time, seconds since the epoch. -1 when unknown. */
static double boot_time(void)
{
    /* /proc/stat has a line per CPU before btime: 64 KiB covers hundreds of cores */
    static char buf[64 << 10];
    if (read_small("/proc/stat", buf, sizeof buf) < 0) return -1;
    const char *p = strstr(buf, "\nbtime ");
    return p ? strtod(p + 7, NULL) : -1;
}

static void read_stat(struct cpgo_process *out)
{
    char buf[2048];
    if (read_small("/proc/self/stat", buf, sizeof buf) <= 0) return;
    /* the command name (field 2) is in parentheses and may hold spaces or ')': the fields
     * after it start after the last ')' */
    const char *p = strrchr(buf, ')');
    if (!p) return;
    p++;
    /* fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) cutime cstime priority nice num_threads itrealvalue
     * starttime(22) vsize(23) rss(24) */
    double f[25] = {0};
    int i = 3;
    char *end;
    while (i <= 24 && *p) {
        while (*p == ' ')
            p++;
        if (i == 3) { /* the state, a letter */
            while (*p && *p != ' ')
                p++;
            i++;
            continue;
        }
        f[i] = strtod(p, &end);
        if (end == p) return;
        p = end;
        i++;
    }
    if (i <= 24) return;
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck > 0) {
        out->cpu_seconds = (f[14] + f[15]) / (double)tck;
        double bt = boot_time();
        if (bt > 0) out->start_time_s = bt + f[22] / (double)tck;
    }
    out->virtual_bytes = f[23];
    if (page > 0) out->resident_bytes = f[24] * (double)page;
}

static double open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n > 0 ? n - 1 : 0; /* the directory's own fd is not the process's */
}

void cpgo_process_read(struct cpgo_process *out)
{
    *out = (struct cpgo_process){-1, -1, -1, -1, -1, -1};
    read_stat(out);
    out->open_fds = open_fds();
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
        out->max_fds = (double)rl.rlim_cur;
}
