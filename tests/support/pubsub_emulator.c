/* pubsub_emulator.c: launcher for the official Pub/Sub emulator (tests). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "pubsub_emulator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char why[512];

const char *tpubsub_why(void)
{
    return why;
}

static int find_script(char *out, size_t n)
{
    const char *env = getenv("WIGGLY_PUBSUB_EMULATOR");
    FILE *p;
    char line[1024];
    int found = 0;

    if (env && env[0]) {
        snprintf(out, n, "%s", env);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    p = popen("dpkg -L google-cloud-cli-pubsub-emulator 2>/dev/null", "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p)) {
        size_t l = strcspn(line, "\r\n");
        const char *suffix = "/bin/cloud-pubsub-emulator";
        size_t sl = strlen(suffix);

        line[l] = '\0';
        if (!found && l >= sl && strcmp(line + l - sl, suffix) == 0) {
            snprintf(out, n, "%s", line);
            found = 1;
        }
    }
    pclose(p);
    return found && access(out, X_OK) == 0 ? 0 : -1;
}

static int have_java(void)
{
    const char *jh = getenv("JAVA_HOME");
    const char *path = getenv("PATH");
    char buf[1024];

    if (jh && jh[0]) {
        snprintf(buf, sizeof buf, "%s/bin/java", jh);
        if (access(buf, X_OK) == 0)
            return 1;
    }
    while (path && *path) {
        size_t l = strcspn(path, ":");

        snprintf(buf, sizeof buf, "%.*s/java", (int)l, path);
        if (access(buf, X_OK) == 0)
            return 1;
        path += l;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* GET / answers "HTTP/1.x 200". */
static int answers(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
    char buf[64];
    const char req[] = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    ssize_t n;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        n = read(fd, buf, sizeof buf - 1);
        if (n > 12) {
            buf[n] = '\0';
            ok = strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
        }
    }
    close(fd);
    return ok;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int tpubsub_start(struct tpubsub *e)
{
    char script[1024], portarg[32], dirarg[300], log[300];
    struct timespec ts = {0, 200 * 1000 * 1000};
    int i;

    memset(e, 0, sizeof *e);
    why[0] = '\0';
    if (find_script(script, sizeof script) < 0) {
        snprintf(why, sizeof why,
                 "Pub/Sub emulator not found: install google-cloud-cli-pubsub-emulator "
                 "(Google's apt repository) or set WIGGLY_PUBSUB_EMULATOR");
        return 1;
    }
    if (!have_java()) {
        snprintf(why, sizeof why,
                 "java not found: install openjdk-17-jre-headless for the Pub/Sub emulator");
        return 1;
    }
    snprintf(e->dir, sizeof e->dir, "/tmp/wiggly-pubsub-XXXXXX");
    if (!mkdtemp(e->dir)) {
        snprintf(why, sizeof why, "mkdtemp: %s", strerror(errno));
        e->dir[0] = '\0';
        return -1;
    }
    e->port = free_port();
    if (e->port <= 0) {
        snprintf(why, sizeof why, "no free port");
        tpubsub_stop(e);
        return -1;
    }
    snprintf(e->host, sizeof e->host, "127.0.0.1:%d", e->port);
    snprintf(portarg, sizeof portarg, "--port=%d", e->port);
    snprintf(dirarg, sizeof dirarg, "--data-dir=%s", e->dir);
    snprintf(log, sizeof log, "%s/emulator.log", e->dir);
    e->pid = fork();
    if (e->pid < 0) {
        snprintf(why, sizeof why, "fork: %s", strerror(errno));
        e->pid = 0;
        tpubsub_stop(e);
        return -1;
    }
    if (e->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        setpgid(0, 0);
        /* If the test dies (ctest timeout, crash), take the emulator along. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(script, script, "--host=127.0.0.1", portarg, dirarg, (char *)NULL);
        _exit(127);
    }
    setpgid(e->pid, e->pid);
    for (i = 0; i < 600; i++) { /* up to 2 minutes on a loaded machine */
        int st;

        if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
            snprintf(why, sizeof why, "Pub/Sub emulator exited early (see %s)", log);
            e->pid = 0;
            return -1;
        }
        if (answers(e->port))
            return 0;
        nanosleep(&ts, NULL);
    }
    snprintf(why, sizeof why, "Pub/Sub emulator did not answer on %s", e->host);
    tpubsub_stop(e);
    return -1;
}

void tpubsub_stop(struct tpubsub *e)
{
    if (e->pid > 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        int i, st;

        kill(-e->pid, SIGTERM);
        for (i = 0; i < 50; i++) {
            if (waitpid(e->pid, &st, WNOHANG) == e->pid)
                break;
            nanosleep(&ts, NULL);
        }
        kill(-e->pid, SIGKILL); /* java children, if the script forked */
        if (i == 50)
            waitpid(e->pid, &st, 0);
        e->pid = 0;
    }
    if (e->dir[0]) {
        nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        e->dir[0] = '\0';
    }
}
