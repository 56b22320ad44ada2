/* fault_proxy.c: launcher for wiggly-fault-proxy (tests). Forks the
 * executable with stdout on a pipe and waits for its first line, "...
 * listening on http://127.0.0.1:PORT", which it prints once it accepts. */
#include "fault_proxy.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WIGGLY_FAULT_PROXY_PATH
#define WIGGLY_FAULT_PROXY_PATH "wiggly-fault-proxy"
#endif

#define ARGS_MAX 64

int tproxy_start(struct tproxy *p, const char *upstream_hostport, const char *const *extra_args)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    const char *exe = getenv("WIGGLY_FAULT_PROXY");
    if (!exe || !exe[0])
        exe = WIGGLY_FAULT_PROXY_PATH;
    const char *argv[ARGS_MAX];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "--upstream";
    argv[n++] = upstream_hostport;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        if (n >= ARGS_MAX - 1) {
            fprintf(stderr, "tproxy_start: too many arguments\n");
            return -1;
        }
        argv[n++] = extra_args[i];
    }
    argv[n] = NULL;

    int fds[2];
    if (pipe(fds) < 0) {
        fprintf(stderr, "tproxy_start: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tproxy_start: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(exe, (char *const *)argv);
        fprintf(stderr, "tproxy_start: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;

    /* Read the first line; 30 s is generous even for an ASan build. */
    char line[256];
    size_t len = 0;
    int ok = 0;
    while (len < sizeof(line) - 1) {
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int r = poll(&pf, 1, 30000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t got = read(fds[0], line + len, sizeof(line) - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        line[len] = '\0';
        if (strchr(line, '\n')) {
            ok = 1;
            break;
        }
    }
    close(fds[0]);
    line[len] = '\0';
    const char *marker = "listening on http://127.0.0.1:";
    const char *at = ok ? strstr(line, marker) : NULL;
    int port = at ? atoi(at + strlen(marker)) : 0;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "tproxy_start: %s did not start (first line: '%s')\n", exe, line);
        tproxy_stop(p);
        return -1;
    }
    p->port = port;
    snprintf(p->host, sizeof(p->host), "127.0.0.1:%d", port);
    return 0;
}

void tproxy_stop(struct tproxy *p)
{
    if (!p || p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 500; i++) { /* 5 s */
        pid_t r = waitpid(p->pid, NULL, WNOHANG);
        if (r == p->pid || (r < 0 && errno != EINTR))
            goto done;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
done:
    p->pid = -1;
    p->port = 0;
    p->host[0] = '\0';
}
