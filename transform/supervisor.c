/* supervisor.c: the children of one transform (transform.h).
 *
 * State, all under p->mu:
 *   child   DOWN -> (spawn) STARTING -> (hello) READY -> (kill) STOPPING -> (reaped) DOWN
 *   call    a worker's request: WAITING for a child, SENT, then FINISHED by
 *           the supervisor (reply, crash, timeout) or left by its worker
 *           (cancel: `abandoned`, freed when its child answers or dies).
 * The supervisor thread is the only one that reads the children's
 * descriptors, spawns, kills and reaps; a worker writes its own request
 * line to fd 3 under the child's write lock, outside p->mu. Workers sleep on
 * p->cv; the supervisor broadcasts on every change. The supervisor sleeps in
 * poll() until the nearest of its timers (next_timer: a few per child, so
 * no heap), at most IDLE_MS; a child's exit wakes it through a pidfd
 * (pidfd_open, Linux 5.3), or, where there is none, it polls every TICK_MS.
 *
 * The child is made between fork() and execve() with async-signal-safe
 * calls only: everything it needs (argv, envp, the program's path) is built
 * before fork. PR_SET_PDEATHSIG ties it to the supervisor thread, which
 * lives until every child is reaped. */
#define _GNU_SOURCE
#include "transform/transform.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TICK_MS 50   /* without a pidfd: how often waitpid is tried */
#define IDLE_MS 1000 /* the longest sleep: the memory reading's period */
/* A caller waiting for its reply rechecks its cancel flag this often: the
 * flag is set by the service without a signal to this pool, and a cancel
 * (shutdown, a message's timeout) may wait this long; every other change
 * wakes the caller at once through p->cv. */
#define CANCEL_POLL_S   0.25
#define OUT_LINE_MAX    4096 /* a stdout/stderr line is cut here */
#define OUT_LINES_PER_S 200  /* per child and stream; the rest is counted */
#define KILL_AFTER_S    3.0  /* SIGTERM -> SIGKILL */
#define BACKOFF_MIN_S   0.5
#define BACKOFF_MAX_S   30.0
#define STABLE_S        30.0 /* a child up this long resets the backoff */
#define BLAME_SLOTS     256

enum child_state { CH_DOWN = 0, CH_STARTING, CH_READY, CH_STOPPING };
enum call_state { CALL_WAITING = 0, CALL_SENT, CALL_FINISHED };

struct call {
    struct call *next; /* in its child's list while SENT */
    enum call_state state;
    char id[24];
    char *line; /* the request, '\n'-terminated */
    size_t line_len;
    const char *element; /* borrowed while the worker waits; NULL once abandoned */
    int solo;            /* sent again after a crash: alone in its child */
    int abandoned;
    double deadline;
    struct tf_result res;
};

struct outbuf { /* one stdout/stderr stream */
    int fd;
    char line[OUT_LINE_MAX + 1];
    size_t len;
    int cut;
    double window;
    int lines, dropped;
};

struct child {
    int index;
    enum child_state state;
    pid_t pid;
    int req_fd, rep_fd;
    pthread_mutex_t wmu; /* one writer of fd 3 at a time */
    struct outbuf out, err;
    char *rep; /* reply bytes until '\n' */
    size_t rep_len, rep_cap;
    int rep_eof;
    struct call *calls;
    int n_calls, solo_busy;
    double started, ready_at, hello_deadline, restart_at, kill_at, eof_at;
    double backoff;
    const char *kill_why; /* set when wiggly killed it (the exit is not a crash) */
    int timed_out;        /* killed for a request's timeout (calls already finished) */
    long hwm_kib;
    double hwm_at;
    int pidfd; /* readable when the child exits; -1 without pidfd_open */
};

struct blame {
    char *element;
    int count;
    double at;
};

struct tf_pool {
    struct tf_opts o;
    char *path; /* resolved argv[0] */
    char **argv;
    char **envp; /* environ + extras + WIGGLY_*; WIGGLY_WORKER at envp[worker_slot] */
    size_t worker_slot;
    int devnull;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int wake[2];
    int stopping;
    double grace_s;
    enum tf_state state;
    char failed_why[512];
    int start_failures;
    char hello_name[128], hello_version[64];
    uint64_t seq;
    struct tf_stats st;
    struct child *ch;
    struct blame blame[BLAME_SLOTS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logf_(struct tf_pool *p, enum tf_log_level lv, int worker, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void logf_(struct tf_pool *p, enum tf_log_level lv, int worker, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    if (!p->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    p->o.log(p->o.log_ud, lv, worker, NULL, buf);
}

static void wake(struct tf_pool *p)
{
    char b = 1;
    ssize_t w = write(p->wake[1], &b, 1);
    (void)w;
}

void tf_result_cleanup(struct tf_result *r)
{
    if (!r)
        return;
    free(r->features_json);
    r->features_json = NULL;
}

/* ---- blame: crashes in a row of an element alone in a child ---- */

static struct blame *blame_find(struct tf_pool *p, const char *element)
{
    for (int i = 0; i < BLAME_SLOTS; i++)
        if (p->blame[i].element && strcmp(p->blame[i].element, element) == 0)
            return &p->blame[i];
    return NULL;
}

static int blame_add(struct tf_pool *p, const char *element)
{
    struct blame *b = blame_find(p, element);
    if (!b) { /* a free slot, else the oldest */
        b = &p->blame[0];
        for (int i = 0; i < BLAME_SLOTS; i++) {
            if (!p->blame[i].element) {
                b = &p->blame[i];
                break;
            }
            if (p->blame[i].at < b->at)
                b = &p->blame[i];
        }
        free(b->element);
        b->element = strdup(element);
        b->count = 0;
        if (!b->element)
            return 1;
    }
    b->at = now_s();
    return ++b->count;
}

static void blame_clear(struct tf_pool *p, const char *element)
{
    struct blame *b = element ? blame_find(p, element) : NULL;
    if (b) {
        free(b->element);
        memset(b, 0, sizeof(*b));
    }
}

/* ---- calls ---- */

static void call_free(struct call *c)
{
    tf_result_cleanup(&c->res);
    free(c->line);
    free(c);
}

static void call_unlink(struct child *ch, struct call *c)
{
    for (struct call **pp = &ch->calls; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->next = NULL;
            ch->n_calls--;
            if (c->solo)
                ch->solo_busy = 0;
            return;
        }
    }
}

/* Under p->mu. The worker takes it from here (or it is freed if left). */
static void call_finish(struct tf_pool *p, struct child *ch, struct call *c, enum tf_outcome o,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void call_finish(struct tf_pool *p, struct child *ch, struct call *c, enum tf_outcome o,
                        const char *fmt, ...)
{
    call_unlink(ch, c);
    p->st.in_flight--;
    c->res.outcome = o;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->res.msg, sizeof(c->res.msg), fmt, ap);
        va_end(ap);
    }
    c->state = CALL_FINISHED;
    if (c->abandoned)
        call_free(c);
    pthread_cond_broadcast(&p->cv);
}

/* The child is gone or going with these calls in flight: one alone is to
 * blame, several are sent again one at a time (state back to WAITING, solo). */
static void calls_orphaned(struct tf_pool *p, struct child *ch, const char *why)
{
    int alone = ch->n_calls == 1 && !ch->timed_out; /* a timeout's others are innocent */
    while (ch->calls) {
        struct call *c = ch->calls;
        if (c->abandoned) {
            call_finish(p, ch, c, TF_CANCELED, NULL);
        } else if (alone) {
            c->res.blame = blame_add(p, c->element);
            call_finish(p, ch, c, TF_CRASHED,
                        "transform worker %d %s with this track alone in "
                        "flight (%d in a row)",
                        ch->index, why, c->res.blame);
        } else {
            call_unlink(ch, c);
            p->st.in_flight--;
            c->state = CALL_WAITING;
            c->solo = 1;
            logf_(p, TF_LOG_WARNING, ch->index,
                  "%s with several tracks in flight: sending %s again alone", why, c->element);
        }
    }
    ch->solo_busy = 0;
    pthread_cond_broadcast(&p->cv);
}

/* ---- spawning ---- */

static char *find_program(const char *name, char *why, size_t n)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0) {
            snprintf(why, n, "transform.command[0] \"%s\": %s", name, strerror(errno));
            return NULL;
        }
        return realpath(name, NULL);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t l = e ? (size_t)(e - path) : strlen(path);
        char full[PATH_MAX];
        struct stat sb;
        if (l > 0 &&
            snprintf(full, sizeof(full), "%.*s/%s", (int)l, path, name) < (int)sizeof(full) &&
            stat(full, &sb) == 0 && S_ISREG(sb.st_mode) && access(full, X_OK) == 0)
            return strdup(full);
        path += l + (e ? 1 : 0);
    }
    snprintf(why, n, "transform.command[0] \"%s\": not found in PATH", name);
    return NULL;
}

static int build_env(struct tf_pool *p)
{
    size_t n = 0, k = 0, extra = 0;
    while (environ && environ[n])
        n++;
    while (p->o.env && p->o.env[extra])
        extra++;
    p->envp = calloc(n + extra + 5, sizeof(char *));
    if (!p->envp)
        return -1;
    for (size_t i = 0; i < n; i++) { /* ours and the job's env win */
        if (strncmp(environ[i], "WIGGLY_", 7) == 0)
            continue;
        int overridden = 0;
        for (size_t j = 0; j < extra && !overridden; j++) {
            const char *eq = strchr(p->o.env[j], '=');
            size_t kl = eq ? (size_t)(eq - p->o.env[j]) : strlen(p->o.env[j]);
            overridden = strncmp(environ[i], p->o.env[j], kl) == 0 && environ[i][kl] == '=';
        }
        if (!overridden && !(p->envp[k++] = strdup(environ[i])))
            return -1;
    }
    for (size_t j = 0; j < extra; j++)
        if (!(p->envp[k++] = strdup(p->o.env[j])))
            return -1;
    char buf[PATH_MAX + 64];
    snprintf(buf, sizeof(buf), "WIGGLY_SCRATCH=%s", p->o.scratch ? p->o.scratch : "/tmp");
    if (!(p->envp[k++] = strdup("WIGGLY_TRANSFORM_PROTOCOL=1")) || !(p->envp[k++] = strdup(buf)))
        return -1;
    snprintf(buf, sizeof(buf), "WIGGLY_JOB=%s", p->o.job ? p->o.job : "");
    if (!(p->envp[k++] = strdup(buf)))
        return -1;
    p->worker_slot = k;
    if (!(p->envp[k++] = malloc(32)))
        return -1;
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(const struct tf_pool *p, int req, int rep, int out, int err, int errpipe,
                       pid_t parent)
{
    int fds[5] = {p->devnull, out, err, req, rep};
    int high[5];
    struct sigaction sa;
    sigset_t all;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    for (int i = 0; i < 5; i++) /* above 4 first, so no dup2 clobbers a source */
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16)) < 0)
            goto fail;
    for (int i = 0; i < 5; i++)
        if (dup2(high[i], i) < 0)
            goto fail;
    /* everything else (the parent's sockets, the high copies) closes at exec */
    (void)errpipe; /* O_CLOEXEC already: it closes at exec, telling the parent */
    if (syscall(SYS_close_range, 5U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
        for (int fd = 5; fd < 4096; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    execve(p->path, p->argv, p->envp);
fail:;
    int e = errno;
    ssize_t w = write(errpipe, &e, sizeof(e));
    (void)w;
    _exit(127);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Supervisor thread, p->mu held. */
static void spawn(struct tf_pool *p, struct child *ch)
{
    int req[2] = {-1, -1}, rep[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1},
        ep[2] = {-1, -1};
    double t = now_s();
    ch->kill_why = NULL;
    ch->timed_out = 0;
    ch->rep_eof = 0;
    ch->rep_len = 0;
    ch->hwm_kib = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, req) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rep) != 0 ||
        pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        logf_(p, TF_LOG_ERROR, ch->index, "cannot start: %s", strerror(errno));
        goto fail;
    }
    snprintf(p->envp[p->worker_slot], 32, "WIGGLY_WORKER=%d", ch->index);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        logf_(p, TF_LOG_ERROR, ch->index, "cannot fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(p, req[1], rep[1], out[1], err[1], ep[1], parent);
    setpgid(pid, pid); /* also in the child: whichever runs first */
    close_fd(&req[1]);
    close_fd(&rep[1]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&ep[1]);
    int e = 0;
    ssize_t r;
    do
        r = read(ep[0], &e, sizeof(e));
    while (r < 0 && errno == EINTR);
    close_fd(&ep[0]);
    if (r == (ssize_t)sizeof(e)) { /* exec failed: the child exits 127 */
        waitpid(pid, NULL, 0);
        logf_(p, TF_LOG_ERROR, ch->index, "cannot run %s: %s", p->path, strerror(e));
        goto fail;
    }
    {
        int one = 1 << 20; /* a request line fits the socket buffer */
        setsockopt(req[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
    }
    ch->pid = pid;
#ifdef SYS_pidfd_open
    ch->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    ch->req_fd = req[0];
    ch->rep_fd = rep[0];
    ch->out.fd = out[0];
    ch->err.fd = err[0];
    set_nonblock(ch->rep_fd);
    set_nonblock(ch->out.fd);
    set_nonblock(ch->err.fd);
    ch->state = CH_STARTING;
    ch->started = t;
    ch->hello_deadline = t + p->o.startup_timeout_s;
    logf_(p, TF_LOG_INFO, ch->index, "started %s (pid %d)", p->path, (int)pid);
    return;
fail:
    close_fd(&req[0]);
    close_fd(&req[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&ep[0]);
    close_fd(&ep[1]);
    ch->state = CH_DOWN;
    ch->restart_at = t + ch->backoff;
    ch->backoff = ch->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : ch->backoff * 2;
    if (++p->start_failures >= p->o.max_start_failures && p->state != TF_FAILED) {
        p->state = TF_FAILED;
        snprintf(p->failed_why, sizeof(p->failed_why), "cannot start %s", p->path);
        pthread_cond_broadcast(&p->cv);
    }
}

/* SIGTERM to the child's group now, SIGKILL after KILL_AFTER_S. */
static void kill_child(struct tf_pool *p, struct child *ch, const char *why)
{
    if (ch->state == CH_STOPPING || ch->state == CH_DOWN)
        return;
    ch->kill_why = why;
    ch->state = CH_STOPPING;
    ch->kill_at = now_s() + KILL_AFTER_S;
    if (ch->req_fd >= 0) /* a worker blocked writing gets EPIPE (closed once it is reaped) */
        shutdown(ch->req_fd, SHUT_RDWR);
    kill(-ch->pid, SIGTERM);
    (void)p;
}

static void read_hwm(struct child *ch)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)ch->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            ch->hwm_kib = strtol(line + 6, NULL, 10);
    fclose(f);
}

static void describe_status(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "stopped (status %d)", status);
}

/* The child is reaped: finish or resend its calls, schedule a restart. */
static void child_gone(struct tf_pool *p, struct child *ch, int status)
{
    char how[160], why[300];
    double t = now_s();
    int before_hello = ch->ready_at < ch->started;
    kill(-ch->pid, SIGKILL); /* whatever it left behind in its group */
    describe_status(status, how, sizeof(how));
    if (ch->kill_why)
        snprintf(why, sizeof(why), "was stopped (%s) and %s", ch->kill_why, how);
    else
        snprintf(why, sizeof(why), "%s", how);
    if (ch->hwm_kib > p->st.max_rss_kib)
        p->st.max_rss_kib = ch->hwm_kib;
    if (ch->req_fd >= 0)
        shutdown(ch->req_fd, SHUT_RDWR); /* its peer is gone: a blocked writer returns */
    pthread_mutex_lock(&ch->wmu);
    close_fd(&ch->req_fd);
    pthread_mutex_unlock(&ch->wmu);
    close_fd(&ch->rep_fd);
    close_fd(&ch->out.fd);
    close_fd(&ch->err.fd);
    close_fd(&ch->pidfd);
    ch->pid = 0;
    ch->state = CH_DOWN;
    if (ch->calls)
        calls_orphaned(p, ch, why);
    if (p->stopping) {
        logf_(p, TF_LOG_INFO, ch->index, "stopped: %s", how);
        return;
    }
    if (t - ch->started >= STABLE_S && !before_hello)
        ch->backoff = BACKOFF_MIN_S;
    ch->restart_at = t + ch->backoff;
    logf_(p, TF_LOG_WARNING, ch->index, "transform worker %s; restarting in %.1f s", why,
          ch->backoff);
    ch->backoff = ch->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : ch->backoff * 2;
    if (before_hello && p->state != TF_FAILED && ++p->start_failures >= p->o.max_start_failures) {
        p->state = TF_FAILED;
        snprintf(p->failed_why, sizeof(p->failed_why),
                 "transform worker %d: %d starts in a row ended before hello; the last %s",
                 ch->index, p->start_failures, why);
        logf_(p, TF_LOG_ERROR, ch->index, "%s", p->failed_why);
        pthread_cond_broadcast(&p->cv);
    }
}

/* ---- reading ---- */

static void violation(struct tf_pool *p, struct child *ch, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(struct tf_pool *p, struct child *ch, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    logf_(p, TF_LOG_ERROR, ch->index, "protocol violation, killing the worker: %s", buf);
    kill_child(p, ch, "protocol violation");
}

static void on_reply(struct tf_pool *p, struct child *ch, const char *line, size_t len)
{
    struct tf_msg m;
    char why[300];
    if (tf_msg_parse(line, len, &m, why, sizeof(why)) != 0) {
        violation(p, ch, "%s", why);
        return;
    }
    if (m.type == TF_MSG_HELLO) {
        if (ch->state != CH_STARTING) {
            violation(p, ch, "a second hello");
        } else if (m.protocol != 1) {
            snprintf(p->failed_why, sizeof(p->failed_why),
                     "the transform speaks protocol %d; this wiggly speaks protocol 1 "
                     "(docs/transforms.md)",
                     m.protocol);
            logf_(p, TF_LOG_ERROR, ch->index, "%s", p->failed_why);
            p->state = TF_FAILED;
            kill_child(p, ch, "wrong protocol");
            pthread_cond_broadcast(&p->cv);
        } else {
            ch->state = CH_READY;
            ch->ready_at = now_s();
            p->start_failures = 0;
            if (!p->hello_name[0]) {
                snprintf(p->hello_name, sizeof(p->hello_name), "%s", m.name);
                snprintf(p->hello_version, sizeof(p->hello_version), "%s", m.version);
            }
            if (p->state == TF_STARTING)
                p->state = TF_READY;
            logf_(p, TF_LOG_INFO, ch->index, "transform %s %s ready in %.1f s (pid %d)", m.name,
                  m.version, ch->ready_at - ch->started, (int)ch->pid);
            pthread_cond_broadcast(&p->cv);
        }
        tf_msg_cleanup(&m);
        return;
    }
    if (ch->state != CH_READY) {
        violation(p, ch, "a %s before hello", m.type == TF_MSG_DONE ? "done" : "error");
        tf_msg_cleanup(&m);
        return;
    }
    struct call *c = ch->calls;
    while (c && strcmp(c->id, m.id) != 0)
        c = c->next;
    if (!c) {
        violation(p, ch,
                  "a reply to id \"%s\", which is not in flight (unknown, or answered "
                  "already)",
                  m.id);
        tf_msg_cleanup(&m);
        return;
    }
    if (c->element)
        blame_clear(p, c->element);
    if (m.type == TF_MSG_DONE) {
        c->res.features_json = m.features_json;
        m.features_json = NULL;
        call_finish(p, ch, c, TF_DONE, NULL);
    } else {
        c->res.retryable = m.retryable;
        call_finish(p, ch, c, TF_ERROR, "%s", m.message ? m.message : "");
    }
    tf_msg_cleanup(&m);
}

static void read_replies(struct tf_pool *p, struct child *ch)
{
    for (;;) {
        if (ch->rep_cap - ch->rep_len < 65536) {
            size_t cap = ch->rep_cap ? ch->rep_cap * 2 : 65536;
            if (cap > TF_LINE_MAX + 65536)
                cap = TF_LINE_MAX + 65536;
            if (cap <= ch->rep_cap) {
                violation(p, ch, "a line longer than %d bytes", TF_LINE_MAX);
                return;
            }
            char *nb = realloc(ch->rep, cap);
            if (!nb) {
                violation(p, ch, "out of memory reading a reply");
                return;
            }
            ch->rep = nb;
            ch->rep_cap = cap;
        }
        ssize_t r = read(ch->rep_fd, ch->rep + ch->rep_len, ch->rep_cap - ch->rep_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return; /* EAGAIN */
        if (r == 0) {
            ch->rep_eof = 1;
            ch->eof_at = now_s();
            close_fd(&ch->rep_fd);
            return;
        }
        size_t start = 0, scan = ch->rep_len;
        ch->rep_len += (size_t)r;
        for (size_t i = scan; i < ch->rep_len; i++) {
            if (ch->rep[i] != '\n')
                continue;
            if (i - start > TF_LINE_MAX) {
                violation(p, ch, "a line longer than %d bytes", TF_LINE_MAX);
                return;
            }
            on_reply(p, ch, ch->rep + start, i - start);
            start = i + 1;
            if (ch->state == CH_STOPPING)
                return;
        }
        memmove(ch->rep, ch->rep + start, ch->rep_len - start);
        ch->rep_len -= start;
        if (ch->rep_len > TF_LINE_MAX) {
            violation(p, ch, "a line longer than %d bytes", TF_LINE_MAX);
            return;
        }
    }
}

/* The count of the lines a window dropped, said when the window is over:
 * at the next line, at the stream's end, or on the supervisor's tick (a
 * flood followed by silence or by the child's exit is counted too). */
static void report_dropped(struct tf_pool *p, struct child *ch, struct outbuf *b,
                           const char *stream)
{
    if (b->dropped)
        logf_(p, TF_LOG_WARNING, ch->index, "%d %s lines dropped (more than %d per second)",
              b->dropped, stream, OUT_LINES_PER_S);
    b->dropped = 0;
}

static void out_line(struct tf_pool *p, struct child *ch, struct outbuf *b, const char *stream)
{
    double t = now_s();
    if (t - b->window >= 1.0) {
        report_dropped(p, ch, b, stream);
        b->window = t;
        b->lines = 0;
    }
    b->line[b->len] = '\0';
    if (++b->lines > OUT_LINES_PER_S)
        b->dropped++;
    else if (p->o.log)
        p->o.log(p->o.log_ud, stream[3] == 'e' ? TF_LOG_WARNING : TF_LOG_INFO, ch->index, stream,
                 b->line);
    b->len = 0;
}

static void read_output(struct tf_pool *p, struct child *ch, struct outbuf *b, const char *stream)
{
    char buf[8192];
    for (;;) {
        ssize_t r = read(b->fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0) {
                if (b->len)
                    out_line(p, ch, b, stream);
                report_dropped(p, ch, b, stream);
                close_fd(&b->fd);
            }
            return;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n') {
                if (b->cut)
                    b->cut = 0;
                else
                    out_line(p, ch, b, stream);
                continue;
            }
            if (b->cut)
                continue;
            b->line[b->len++] = buf[i];
            if (b->len == OUT_LINE_MAX) { /* log what fits, skip to the next line */
                out_line(p, ch, b, stream);
                b->cut = 1;
            }
        }
    }
}

/* ---- timers ---- */

static void check_timers(struct tf_pool *p, struct child *ch, double t)
{
    if (ch->out.dropped && t - ch->out.window >= 1.0)
        report_dropped(p, ch, &ch->out, "stdout");
    if (ch->err.dropped && t - ch->err.window >= 1.0)
        report_dropped(p, ch, &ch->err, "stderr");
    switch (ch->state) {
    case CH_DOWN:
        if (!p->stopping && p->state != TF_FAILED && t >= ch->restart_at) {
            if (ch->restart_at > 0)
                p->st.restarts++;
            spawn(p, ch);
        }
        break;
    case CH_STARTING:
        if (t >= ch->hello_deadline) {
            logf_(p, TF_LOG_ERROR, ch->index, "no hello within startup_timeout_s (%g s)",
                  p->o.startup_timeout_s);
            kill_child(p, ch, "no hello in time");
        } else if (ch->rep_eof && t - ch->eof_at > 1.0) {
            kill_child(p, ch, "closed fd 4");
        }
        break;
    case CH_READY: {
        struct call *late = NULL;
        for (struct call *c = ch->calls; c; c = c->next)
            if (t >= c->deadline)
                late = c;
        if (late) {
            logf_(p, TF_LOG_ERROR, ch->index,
                  "%s took longer than timeout_s (%g s): killing the worker's process group",
                  late->element ? late->element : "an abandoned track", p->o.timeout_s);
            call_finish(p, ch, late, TF_TIMEOUT,
                        "the transform took longer than timeout_s (%g s); its worker was killed",
                        p->o.timeout_s);
            ch->timed_out = 1;
            kill_child(p, ch, "timeout");
        } else if (ch->rep_eof && t - ch->eof_at > 1.0) {
            kill_child(p, ch, "closed fd 4");
        }
        break;
    }
    case CH_STOPPING:
        if (ch->kill_at > 0 && t >= ch->kill_at) {
            kill(-ch->pid, SIGKILL);
            ch->kill_at = 0;
        }
        break;
    }
    if (ch->pid > 0) {
        int status;
        if (t - ch->hwm_at >= 1.0) {
            ch->hwm_at = t;
            read_hwm(ch);
        }
        pid_t r = waitpid(ch->pid, &status, WNOHANG);
        if (r < 0 && errno == ECHILD) { /* reaped by someone else: gone all the same */
            r = ch->pid;
            status = 0;
        }
        if (r == ch->pid) {
            /* Drain what it printed before going. */
            if (ch->out.fd >= 0)
                read_output(p, ch, &ch->out, "stdout");
            if (ch->err.fd >= 0)
                read_output(p, ch, &ch->err, "stderr");
            if (ch->rep_fd >= 0 && ch->state != CH_STOPPING)
                read_replies(p, ch);
            child_gone(p, ch, status);
        }
    }
}

/* The earliest time check_timers has something to do for ch (HUGE_VAL:
 * nothing), mirroring its conditions. */
static double next_timer(const struct tf_pool *p, const struct child *ch)
{
    double t = HUGE_VAL;
#define AT(x)                                                                                      \
    do {                                                                                           \
        double x_ = (x);                                                                           \
        if (x_ < t)                                                                                \
            t = x_;                                                                                \
    } while (0)
    if (ch->out.dropped)
        AT(ch->out.window + 1.0);
    if (ch->err.dropped)
        AT(ch->err.window + 1.0);
    switch (ch->state) {
    case CH_DOWN:
        if (!p->stopping && p->state != TF_FAILED)
            AT(ch->restart_at);
        break;
    case CH_STARTING:
        AT(ch->hello_deadline);
        if (ch->rep_eof)
            AT(ch->eof_at + 1.0);
        break;
    case CH_READY:
        for (const struct call *c = ch->calls; c; c = c->next)
            AT(c->deadline);
        if (ch->rep_eof)
            AT(ch->eof_at + 1.0);
        break;
    case CH_STOPPING:
        if (ch->kill_at > 0)
            AT(ch->kill_at);
        break;
    }
    if (ch->pid > 0)
        AT(ch->pidfd >= 0 ? ch->hwm_at + 1.0 : now_s() + TICK_MS / 1000.0);
#undef AT
    return t;
}

static void *supervise(void *arg)
{
    struct tf_pool *p = arg;
    int n = p->o.workers;
    struct pollfd *pf = calloc((size_t)n * 4 + 1, sizeof(*pf));
    if (!pf)
        abort();
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double t = now_s(), next = t + IDLE_MS / 1000.0;
        int all_down = 1;
        for (int i = 0; i < n; i++) {
            check_timers(p, &p->ch[i], t);
            all_down &= p->ch[i].pid == 0;
        }
        if (p->stopping && all_down)
            break;
        size_t k = 0;
        pf[k++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        for (int i = 0; i < n; i++) {
            struct child *ch = &p->ch[i];
            double at = next_timer(p, ch);
            if (at < next)
                next = at;
            pf[k++] = (struct pollfd){.fd = ch->rep_fd, .events = POLLIN};
            pf[k++] = (struct pollfd){.fd = ch->out.fd, .events = POLLIN};
            pf[k++] = (struct pollfd){.fd = ch->err.fd, .events = POLLIN};
            pf[k++] = (struct pollfd){.fd = ch->pidfd, .events = POLLIN};
        }
        /* +1 ms: wake just after the deadline, not just before it. */
        double wait_ms = (next - now_s()) * 1000.0 + 1.0;
        int timeout = wait_ms <= 0 ? 0 : wait_ms >= IDLE_MS ? IDLE_MS : (int)wait_ms;
        pthread_mutex_unlock(&p->mu);
        int r = poll(pf, k, timeout);
        pthread_mutex_lock(&p->mu);
        if (r <= 0)
            continue;
        if (pf[0].revents) {
            char b[64];
            while (read(p->wake[0], b, sizeof(b)) > 0) {
            }
        }
        for (int i = 0; i < n; i++) {
            struct child *ch = &p->ch[i];
            struct pollfd *q = &pf[1 + 4 * i]; /* q[3], the pidfd: check_timers reaps */
            if (q[0].revents && ch->rep_fd == q[0].fd && ch->rep_fd >= 0 &&
                ch->state != CH_STOPPING)
                read_replies(p, ch);
            if (q[1].revents && ch->out.fd == q[1].fd && ch->out.fd >= 0)
                read_output(p, ch, &ch->out, "stdout");
            if (q[2].revents && ch->err.fd == q[2].fd && ch->err.fd >= 0)
                read_output(p, ch, &ch->err, "stderr");
            if (ch->state == CH_STOPPING && ch->rep_fd >= 0) { /* drop its replies */
                char b[4096];
                while (read(ch->rep_fd, b, sizeof(b)) > 0) {
                }
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    free(pf);
    return NULL;
}

/* ---- the pool ---- */

int tf_pool_create(const struct tf_opts *o, struct tf_pool **out, char *why, size_t why_n)
{
    struct tf_pool *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p || !o->argv || !o->argv[0] || o->workers < 1 || o->max_in_flight < 1) {
        free(p);
        snprintf(why, why_n, "%s", p ? "invalid transform options" : "out of memory");
        return -1;
    }
    p->o = *o;
    if (p->o.max_start_failures <= 0)
        p->o.max_start_failures = 5;
    p->wake[0] = p->wake[1] = p->devnull = -1;
    if (!(p->path = find_program(o->argv[0], why, why_n)))
        goto fail;
    size_t n = 0;
    while (o->argv[n])
        n++;
    if (!(p->argv = calloc(n + 1, sizeof(char *))))
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (!(p->argv[i] = strdup(o->argv[i])))
            goto oom;
    if (build_env(p) != 0 || !(p->ch = calloc((size_t)o->workers, sizeof(*p->ch))))
        goto oom;
    if ((p->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
        pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(why, why_n, "cannot start the transform: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < o->workers; i++) {
        struct child *ch = &p->ch[i];
        ch->index = i;
        ch->req_fd = ch->rep_fd = ch->out.fd = ch->err.fd = ch->pidfd = -1;
        ch->backoff = BACKOFF_MIN_S;
        pthread_mutex_init(&ch->wmu, NULL);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, supervise, p) != 0) {
        snprintf(why, why_n, "cannot start the transform's supervisor thread");
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        goto fail;
    }
    *out = p;
    return 0;
oom:
    snprintf(why, why_n, "out of memory");
fail:
    if (p->ch)
        for (int i = 0; i < o->workers; i++)
            pthread_mutex_destroy(&p->ch[i].wmu);
    free(p->ch);
    close_fd(&p->devnull);
    close_fd(&p->wake[0]);
    close_fd(&p->wake[1]);
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        free(p->argv[i]);
    free(p->argv);
    for (size_t i = 0; p->envp && p->envp[i]; i++)
        free(p->envp[i]);
    free(p->envp);
    free(p->path);
    free(p);
    return -1;
}

void tf_pool_destroy(struct tf_pool *p, double grace_s)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv); /* waiting callers return TF_CANCELED */
    double t = now_s();
    for (int i = 0; i < p->o.workers; i++) { /* EOF on fd 3: please exit */
        struct child *ch = &p->ch[i];
        if (ch->req_fd >= 0)
            shutdown(ch->req_fd, SHUT_WR);
        if (ch->pid > 0 && ch->state != CH_STOPPING) {
            ch->state = CH_STOPPING;
            ch->kill_why = "wiggly is stopping";
            ch->kill_at = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    /* After the grace: SIGTERM, then SIGKILL KILL_AFTER_S later (the
     * supervisor's timers), until the supervisor has reaped them all. */
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int alive = 0;
        double now = now_s();
        for (int i = 0; i < p->o.workers; i++) {
            struct child *ch = &p->ch[i];
            if (ch->pid <= 0)
                continue;
            alive = 1;
            if (now - t >= grace_s && ch->kill_at == 0 && ch->kill_why &&
                strcmp(ch->kill_why, "wiggly is stopping") == 0) {
                kill(-ch->pid, SIGTERM);
                ch->kill_why = "wiggly is stopping: SIGTERM";
                ch->kill_at = now + KILL_AFTER_S;
            }
        }
        pthread_mutex_unlock(&p->mu);
        if (!alive)
            break;
        wake(p);
        usleep(20000);
    }
    pthread_join(p->thread, NULL);
    /* Calls left by their workers are freed with their child's list. */
    for (int i = 0; i < p->o.workers; i++) {
        struct child *ch = &p->ch[i];
        while (ch->calls) {
            struct call *c = ch->calls;
            ch->calls = c->next;
            call_free(c);
        }
        free(ch->rep);
        pthread_mutex_destroy(&ch->wmu);
    }
    for (int i = 0; i < BLAME_SLOTS; i++)
        free(p->blame[i].element);
    close_fd(&p->devnull);
    close_fd(&p->wake[0]);
    close_fd(&p->wake[1]);
    for (size_t i = 0; p->argv[i]; i++)
        free(p->argv[i]);
    free(p->argv);
    for (size_t i = 0; p->envp[i]; i++)
        free(p->envp[i]);
    free(p->envp);
    free(p->path);
    free(p->ch);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

enum tf_state tf_pool_state(struct tf_pool *p, char *why, size_t why_n)
{
    pthread_mutex_lock(&p->mu);
    enum tf_state s = p->state;
    if (why && why_n)
        snprintf(why, why_n, "%s", s == TF_FAILED ? p->failed_why : "");
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void timed_wait(struct tf_pool *p, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

enum tf_state tf_pool_wait(struct tf_pool *p, double timeout_s, char *why, size_t why_n)
{
    double end = now_s() + timeout_s;
    pthread_mutex_lock(&p->mu);
    while (p->state == TF_STARTING && now_s() < end)
        timed_wait(p, 0.05);
    pthread_mutex_unlock(&p->mu);
    return tf_pool_state(p, why, why_n);
}

void tf_pool_hello(struct tf_pool *p, char *name, size_t name_n, char *version, size_t version_n)
{
    pthread_mutex_lock(&p->mu);
    snprintf(name, name_n, "%s", p->hello_name);
    snprintf(version, version_n, "%s", p->hello_version);
    pthread_mutex_unlock(&p->mu);
}

void tf_pool_stats(struct tf_pool *p, struct tf_stats *st)
{
    pthread_mutex_lock(&p->mu);
    *st = p->st;
    st->children_ready = 0;
    for (int i = 0; i < p->o.workers; i++) {
        st->children_ready += p->ch[i].state == CH_READY;
        if (p->ch[i].hwm_kib > st->max_rss_kib)
            st->max_rss_kib = p->ch[i].hwm_kib;
    }
    pthread_mutex_unlock(&p->mu);
}

/* A ready child with room; a solo call needs an idle one. */
static struct child *pick(struct tf_pool *p, const struct call *c)
{
    struct child *best = NULL;
    for (int i = 0; i < p->o.workers; i++) {
        struct child *ch = &p->ch[i];
        if (ch->state != CH_READY || ch->req_fd < 0 || ch->solo_busy ||
            ch->n_calls >= p->o.max_in_flight || (c->solo && ch->n_calls > 0))
            continue;
        if (!best || ch->n_calls < best->n_calls)
            best = ch;
    }
    return best;
}

static int send_line(struct child *ch, const char *line, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&ch->wmu);
    while (len > 0) {
        if (ch->req_fd < 0) {
            rc = -1;
            break;
        }
        ssize_t w = send(ch->req_fd, line, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        line += w;
        len -= (size_t)w;
    }
    pthread_mutex_unlock(&ch->wmu);
    return rc;
}

void tf_pool_call(struct tf_pool *p, const struct tf_request *req, const atomic_int *cancel,
                  struct tf_result *res)
{
    struct call *c = calloc(1, sizeof(*c));
    memset(res, 0, sizeof(*res));
    if (!c) {
        res->outcome = TF_ERROR;
        res->retryable = 1;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
        return;
    }
    c->element = req->element;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int canceled = cancel && atomic_load_explicit(cancel, memory_order_relaxed);
        if (c->state == CALL_FINISHED)
            break;
        if (canceled || p->stopping) {
            if (c->state == CALL_SENT) { /* its reply is dropped when it comes */
                c->abandoned = 1;
                c->element = NULL;
                c = NULL;
            }
            res->outcome = TF_CANCELED;
            snprintf(res->msg, sizeof(res->msg), "%s",
                     canceled ? "canceled" : "the transform is stopping");
            break;
        }
        if (p->state == TF_FAILED && c->state == CALL_WAITING) {
            res->outcome = TF_UNAVAILABLE;
            snprintf(res->msg, sizeof(res->msg), "%s", p->failed_why);
            break;
        }
        struct child *ch = c->state == CALL_WAITING ? pick(p, c) : NULL;
        if (!ch) {
            timed_wait(p, CANCEL_POLL_S);
            continue;
        }
        /* Number it, encode it, put it in flight, then write it. */
        struct tf_request r = *req;
        snprintf(c->id, sizeof(c->id), "%llu", (unsigned long long)++p->seq);
        r.id = c->id;
        free(c->line);
        c->line = tf_request_encode(&r, &c->line_len);
        if (!c->line) {
            res->outcome = TF_ERROR;
            res->retryable = 0;
            snprintf(res->msg, sizeof(res->msg),
                     "cannot encode the request (longer than %d bytes, or out of memory)",
                     TF_LINE_MAX);
            break;
        }
        c->state = CALL_SENT;
        c->deadline = now_s() + p->o.timeout_s;
        c->next = ch->calls;
        ch->calls = c;
        ch->n_calls++;
        if (c->solo)
            ch->solo_busy = 1;
        p->st.in_flight++;
        p->st.requests++;
        pthread_mutex_unlock(&p->mu);
        /* A failed write means the child is dying: its exit resolves the call. */
        send_line(ch, c->line, c->line_len);
        wake(p); /* the supervisor's next sleep ends by this call's deadline */
        pthread_mutex_lock(&p->mu);
    }
    if (c && c->state == CALL_FINISHED) {
        *res = c->res;
        c->res.features_json = NULL;
        call_free(c);
    } else if (c) {
        call_free(c);
    }
    pthread_mutex_unlock(&p->mu);
}
