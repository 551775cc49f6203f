/* `make hot-text`'s native pass (tools/hottext.py): an LD_PRELOAD library that records which
   pages of the program's own code a run executes, at native speed.

   Callgrind finds the functions a request runs, but not all of them: valgrind's CPU lacks
   some of this machine's features (code that picks an implementation by CPU feature runs
   another one under it), and at valgrind's speed a socket's answer is always ready, so the
   code that waits for one (wakers, readiness) never runs. Natively that code sat on cold pages
   and cost 1.2 MiB of get-ticket's peak RSS (docs/performance.md, "Memory").

   How: before main, the executable's code is made inaccessible; the first execution of each
   page faults, the SIGSEGV handler appends the page's address to $HOT_TEXT_TRACE and makes the
   page executable again, and the program goes on. The first line of the trace is the mapping
   (start, end, file offset, hex), every other line a page's address (hex). */

#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uintptr_t text_start, text_end, page_size;
static int trace_fd = -1;

/* Async-signal-safe: hex digits by hand, one write() a line (O_APPEND keeps lines whole). */
static void write_hex_line(uintptr_t value) {
    char buf[2 + 16 + 1];
    int n = 0;
    char digits[16];
    int d = 0;
    do {
        digits[d++] = "0123456789abcdef"[value & 0xf];
        value >>= 4;
    } while (value);
    buf[n++] = '0';
    buf[n++] = 'x';
    while (d)
        buf[n++] = digits[--d];
    buf[n++] = '\n';
    (void)!write(trace_fd, buf, n);
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)context;
    uintptr_t addr = (uintptr_t)info->si_addr;
    if (addr >= text_start && addr < text_end) {
        uintptr_t page = addr & ~(page_size - 1);
        if (mprotect((void *)page, page_size, PROT_READ | PROT_EXEC) == 0) {
            write_hex_line(page);
            return;
        }
    }
    /* Not ours: the program's own crash, as it would have been. */
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void trap_text(void) {
    const char *path = getenv("HOT_TEXT_TRACE");
    if (!path || !*path)
        return;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = 0;
    /* The library stays in the environment of children (none here); only the program that
       the trace is for is trapped. */
    const char *only = getenv("HOT_TEXT_PROGRAM");
    if (only && strcmp(only, exe) != 0)
        return;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return;
    char line[4096 + 128];
    unsigned long start, end, offset;
    char perms[8], file[4096];
    while (fgets(line, sizeof line, maps)) {
        file[0] = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &start, &end, perms, &offset, file) < 4)
            continue;
        if (perms[2] == 'x' && strcmp(file, exe) == 0) {
            text_start = start;
            text_end = end;
            break;
        }
    }
    fclose(maps);
    if (!text_start)
        return;
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    trace_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (trace_fd < 0)
        return;
    char head[128];
    int n = snprintf(head, sizeof head, "0x%lx 0x%lx 0x%lx\n", (unsigned long)text_start,
                     (unsigned long)text_end, offset);
    (void)!write(trace_fd, head, n);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    mprotect((void *)text_start, text_end - text_start, PROT_NONE);
}
