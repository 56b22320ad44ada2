/* own_usage.c: run a command and report what that one process cost, apart
 * from its children. For bench/transform_bench.sh, where `wiggly run`
 * starts Python children whose CPU and memory must not count as wiggly's.
 *
 *   own_usage OUT -- COMMAND [ARG...]
 *
 * Writes one line of key=value pairs to OUT and exits with the command's
 * status (128 + signal when it was killed):
 *
 *   self_user_s, self_sys_s   CPU of the process itself, all its threads
 *   children_s                CPU of the children it waited for (cutime +
 *                             cstime; their own waited-for children too)
 *   vmhwm_kib                 its peak resident set (VmHWM) alone
 *   wall_s, status, method
 *
 * Why not the obvious tools: /usr/bin/time, wait4() and getrusage(
 * RUSAGE_CHILDREN) fold the waited-for grandchildren into the CPU figures,
 * and ru_maxrss there is the largest of the process and its descendants
 * (a Python child with NumPy is larger than wiggly). /proc/PID/stat keeps
 * utime/stime apart from cutime/cstime and /proc/PID/status has the
 * process's own VmHWM, but only while it lives: VmHWM disappears when the
 * memory is released on exit. So the command runs under ptrace with
 * PTRACE_O_TRACEEXIT: the kernel stops it in do_exit() before it releases
 * its memory, after its last instruction of its own, and both files are
 * read there (method=ptrace). Only the main thread is traced (no
 * TRACECLONE or TRACEFORK), so the tracer adds nothing but a stop for a
 * signal delivered to that thread.
 *
 * Without ptrace (a seccomp profile refusing it), the fallback polls: it
 * reads VmHWM every 5 ms (a high-water mark, so the last reading is the
 * peak up to 5 ms before the exit) and reads the CPU from /proc/PID/stat
 * of the zombie, before reaping it (waitid WNOWAIT); method=poll. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct usage {
    double user_s, sys_s, children_s;
    long hwm_kib;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime, stime, cutime, cstime: fields 14 to 17 of /proc/PID/stat, counted
 * after the ")" that ends the command name (which may hold spaces). */
static int read_cpu(pid_t pid, struct usage *u)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    long long cut, cst;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ut,
                     &st, &cut, &cst) != 4)
        return -1;
    double tck = (double)sysconf(_SC_CLK_TCK);
    u->user_s = (double)ut / tck;
    u->sys_s = (double)st / tck;
    u->children_s = (double)(cut + cst) / tck;
    return 0;
}

static long read_hwm(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

/* Runs the traced child to its end; 0 with *u and *status filled. */
static int follow_ptrace(pid_t pid, struct usage *u, int *status)
{
    int st, seen_exec = 0, got = 0;
    for (;;) {
        if (waitpid(pid, &st, 0) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            *status = st;
            return got ? 0 : -1;
        }
        if (!WIFSTOPPED(st))
            continue;
        int sig = WSTOPSIG(st), deliver = 0;
        if (sig == SIGTRAP && (st >> 16) == PTRACE_EVENT_EXIT) {
            /* In do_exit(), memory still mapped: the figures at the end. */
            if (read_cpu(pid, u) == 0) {
                u->hwm_kib = read_hwm(pid);
                got = u->hwm_kib >= 0;
            }
        } else if (sig == SIGTRAP && !seen_exec) {
            /* The stop after execve() under PTRACE_TRACEME. */
            seen_exec = 1;
            if (ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(long)PTRACE_O_TRACEEXIT) < 0)
                return -1;
        } else {
            deliver = sig; /* a signal meant for the command: pass it on */
        }
        ptrace(PTRACE_CONT, pid, 0, (void *)(long)deliver);
    }
}

static int follow_poll(pid_t pid, struct usage *u, int *status)
{
    siginfo_t si;
    for (;;) {
        long kib = read_hwm(pid);
        if (kib > u->hwm_kib)
            u->hwm_kib = kib;
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
            return -1;
        if (si.si_pid == pid)
            break;
        usleep(5000);
    }
    int rc = read_cpu(pid, u); /* the zombie keeps its counters */
    if (waitpid(pid, status, 0) < 0)
        return -1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: own_usage OUT -- COMMAND [ARG...]\n");
        return 2;
    }
    const char *out = argv[1];
    char **cmd = argv + 3;
    int use_ptrace = getenv("OWN_USAGE_POLL") == NULL;
    int go[2];
    if (pipe(go) < 0) {
        perror("own_usage: pipe");
        return 2;
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("own_usage: fork");
        return 2;
    }
    if (pid == 0) {
        close(go[0]);
        char ok = 1;
        if (use_ptrace && ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
            ok = 0;
        if (write(go[1], &ok, 1) != 1)
            _exit(127);
        close(go[1]);
        if (!ok) /* the parent starts the command again, untraced */
            _exit(0);
        execvp(cmd[0], cmd);
        fprintf(stderr, "own_usage: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    close(go[1]);
    char ok = 0;
    if (read(go[0], &ok, 1) != 1)
        ok = 0;
    close(go[0]);

    struct usage u = {.hwm_kib = -1};
    int status = 0, rc;
    const char *method = "ptrace";
    if (use_ptrace && ok) {
        rc = follow_ptrace(pid, &u, &status);
    } else {
        if (use_ptrace) { /* ptrace refused: reap the probe, run untraced */
            waitpid(pid, NULL, 0);
            t0 = now_s();
            pid = fork();
            if (pid < 0) {
                perror("own_usage: fork");
                return 2;
            }
            if (pid == 0) {
                execvp(cmd[0], cmd);
                fprintf(stderr, "own_usage: %s: %s\n", cmd[0], strerror(errno));
                _exit(127);
            }
        }
        method = "poll";
        rc = follow_poll(pid, &u, &status);
    }
    double wall = now_s() - t0;
    if (rc < 0) {
        fprintf(stderr, "own_usage: could not read the usage of %s (pid %d)\n", cmd[0], (int)pid);
        return exit_code(status) ? exit_code(status) : 125;
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "own_usage: %s: %s\n", out, strerror(errno));
        return 2;
    }
    fprintf(f,
            "wall_s=%.3f self_user_s=%.2f self_sys_s=%.2f children_s=%.2f vmhwm_kib=%ld status=%d "
            "method=%s\n",
            wall, u.user_s, u.sys_s, u.children_s, u.hwm_kib, exit_code(status), method);
    fclose(f);
    return exit_code(status);
}
