/*
 * process.h - the standard process_* metrics of Prometheus' client libraries, read as they
 * read them on Linux (client_golang's procfs collector, client_python's ProcessCollector):
 *
 *   process_cpu_seconds_total       utime + stime of /proc/self/stat, in seconds
 *   process_virtual_memory_bytes    vsize of /proc/self/stat
 *   process_resident_memory_bytes   rss of /proc/self/stat times the page size
 *   process_open_fds                entries of /proc/self/fd
 *   process_max_fds                 the soft RLIMIT_NOFILE
 *   process_start_time_seconds      starttime of /proc/self/stat after boot (btime of
 *                                   /proc/stat), seconds since the epoch
 *
 * A reading costs a few syscalls and a walk of /proc/self/fd: it is done when /metrics is
 * rendered, never on a hot path. A value that could not be read is left out (its field is
 * negative), never reported as a placeholder.
 *
 * Owns: nothing. Thread: any (reads files only).
 */
#ifndef CPGO_ADMIN_PROCESS_H
#define CPGO_ADMIN_PROCESS_H

struct cpgo_process {
    double cpu_seconds;    /* < 0: unknown */
    double virtual_bytes;  /* < 0: unknown */
    double resident_bytes; /* < 0: unknown */
    double open_fds;       /* < 0: unknown */
    double max_fds;        /* < 0: unknown (or unlimited) */
    double start_time_s;   /* < 0: unknown */
};

/* Reads the values of this process. Never fails: what cannot be read is < 0. */
void cpgo_process_read(struct cpgo_process *out);

#endif
