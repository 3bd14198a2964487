/* The process_* metrics read from /proc/self: plausible values, and they follow the
 * process (an fd opened is one more, CPU time only grows, the limit is the one set). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "admin/process.h"
#include "check.h"

int main(void)
{
    time_t now = time(NULL);
    struct cpgo_process a, b;
    cpgo_process_read(&a);
    CHECK(a.cpu_seconds >= 0);
    CHECK(a.resident_bytes > 0);
    CHECK(a.virtual_bytes >= a.resident_bytes);
    CHECK(a.open_fds >= 3); /* stdin, stdout, stderr */
    /* this process started within the last minute (a clock step aside) */
    CHECK(a.start_time_s > (double)now - 60 && a.start_time_s <= (double)now + 1);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur != RLIM_INFINITY) CHECK(a.max_fds == (double)rl.rlim_cur);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    /* some CPU time: the counter must not go backwards */
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 50000000ul; i++)
        x += i;
    cpgo_process_read(&b);
    CHECK(b.open_fds == a.open_fds + 1);
    CHECK(b.cpu_seconds >= a.cpu_seconds);
    CHECK(b.start_time_s == a.start_time_s);
    close(fd);
    cpgo_process_read(&b);
    CHECK(b.open_fds == a.open_fds);
    CHECK_DONE();
}
