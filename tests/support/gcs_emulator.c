/* gcs_emulator.c: see gcs_emulator.h. fork + exec of the emulator binary
 * whose path cmake compiles in (WIGGLY_GCS_EMULATOR_PATH); the first stdout
 * line carries the URL. */
/* nftw() needs X/Open. */
#define _XOPEN_SOURCE 700

#include "gcs_emulator.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WIGGLY_GCS_EMULATOR_PATH
#error "WIGGLY_GCS_EMULATOR_PATH must name the wiggly-gcs-emulator binary"
#endif

static int spawn(struct tgcs *e, const char *const *extra, int port)
{
    char port_arg[16];
    int pipefd[2];
    const char *argv[64];
    size_t n = 0;
    char line[256];
    size_t got = 0;
    pid_t parent = getpid();
    argv[n++] = WIGGLY_GCS_EMULATOR_PATH;
    argv[n++] = "--root";
    argv[n++] = e->root;
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    snprintf(port_arg, sizeof(port_arg), "%d", port);
    argv[n++] = "--port";
    argv[n++] = port_arg;
    argv[n++] = "--log";
    argv[n++] = e->log;
    for (size_t i = 0; extra && extra[i] && n < 63; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (pipe(pipefd) < 0) {
        perror("tgcs: pipe");
        return -1;
    }
    e->pid = fork();
    if (e->pid < 0) {
        perror("tgcs: fork");
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (e->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "tgcs: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    /* Read the first line, waiting at most 30 s in total. */
    for (int waited = 0; got < sizeof(line) - 1 && waited < 30000;) {
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        int pr = poll(&pfd, 1, 100);
        ssize_t r;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            waited += 100;
            continue;
        }
        r = read(pipefd[0], line + got, 1);
        if (r <= 0)
            break;
        if (line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    close(pipefd[0]);
    {
        const char *p = strstr(line, "listening on ");
        const char *colon;
        if (!p || !(colon = strrchr(line, ':')) || (e->port = atoi(colon + 1)) <= 0) {
            fprintf(stderr, "tgcs: emulator did not start (first line: '%s')\n", line);
            kill(e->pid, SIGKILL);
            waitpid(e->pid, NULL, 0);
            e->pid = 0;
            return -1;
        }
        snprintf(e->url, sizeof(e->url), "%s", p + strlen("listening on "));
    }
    return 0;
}

int tgcs_start(struct tgcs *e, const char *const *extra_args)
{
    char base[] = "/tmp/wiggly-gcs-XXXXXX";
    memset(e, 0, sizeof(*e));
    if (!mkdtemp(base)) {
        perror("tgcs: mkdtemp");
        return -1;
    }
    snprintf(e->root, sizeof(e->root), "%s/root", base);
    snprintf(e->log, sizeof(e->log), "%s/requests.log", base);
    if (spawn(e, extra_args, 0) < 0) {
        tgcs_stop(e);
        return -1;
    }
    return 0;
}

/* SIGTERM, wait (SIGKILL after 10 s); returns the exit status, or -1 when
 * the process did not exit normally with a status. */
static int kill_wait(struct tgcs *e)
{
    int status = 0;
    if (e->pid <= 0)
        return 0;
    kill(e->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(e->pid, &status, WNOHANG);
        if (r == e->pid || (r < 0 && errno != EINTR)) {
            e->pid = 0;
            return r == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &status, 0);
    e->pid = 0;
    return -1;
}

int tgcs_restart(struct tgcs *e, const char *const *extra_args)
{
    int st = kill_wait(e);
    if (st != 0)
        fprintf(stderr, "tgcs: emulator exited with status %d\n", st);
    /* Same port first, so URLs the test holds (resumable upload URIs,
     * STORAGE_EMULATOR_HOST) stay valid; any free port otherwise. */
    if (spawn(e, extra_args, e->port) < 0 && spawn(e, extra_args, 0) < 0)
        return -1;
    return st == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

void tgcs_stop(struct tgcs *e)
{
    tgcs_stop_status(e);
}

int tgcs_stop_status(struct tgcs *e)
{
    char base[256];
    char *slash;
    int st;
    if (!e)
        return 0;
    st = kill_wait(e);
    if (st != 0)
        fprintf(stderr, "tgcs: emulator exited with status %d\n", st);
    if (e->root[0]) {
        snprintf(base, sizeof(base), "%s", e->root);
        slash = strrchr(base, '/');
        if (slash && strncmp(base, "/tmp/wiggly-gcs-", 16) == 0) {
            *slash = '\0';
            nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    e->root[0] = '\0';
    return st;
}

int tgcs_log_count(const struct tgcs *e, const char *a, const char *b)
{
    FILE *f = fopen(e->log, "r");
    char line[8192];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if ((!a || strstr(line, a)) && (!b || strstr(line, b)))
            n++;
    fclose(f);
    return n;
}
