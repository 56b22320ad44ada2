/* main.c: wiggly-gcs-emulator, a disk-backed Google Cloud Storage JSON API
 * emulator for local development and tests. Parses the command line, raises
 * the open files soft limit to the hard limit, starts the server, prints the
 * listening URL as the first stdout line and waits for SIGINT/SIGTERM (then
 * exits 0). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "emulator/emu_server.h"
#include "emulator/emu_util.h"

static const char USAGE[] =
    "usage: wiggly-gcs-emulator --root DIR [options]\n"
    "\n"
    "A Google Cloud Storage JSON API emulator whose state lives in DIR.\n"
    "\n"
    "  --root DIR            state directory (created if missing; survives restarts)\n"
    "  --host ADDR           address to bind (default 127.0.0.1)\n"
    "  --port N              port to bind; 0 picks a free one (default 9023)\n"
    "  --fault-rate P        inject a fault into a fraction P (0..1) of requests\n"
    "  --fault-statuses L    comma list of statuses, 'drop' (close without a response)\n"
    "                        and/or 'corrupt' (flip a byte of a media download);\n"
    "                        default 503\n"
    "  --fault-route S       only requests whose path contains S get faults/latency\n"
    "  --latency-ms N        delay every (matching) request by N ms\n"
    "  --seed N              seed of the fault generator (default: time)\n"
    "  --chunk-persist-max B persist at most B bytes (a multiple of 262144) per\n"
    "                        resumable chunk; the 308 Range then reports less than sent\n"
    "  --max-connections N   serve at most N connections at once (default 10000,\n"
    "                        lowered to fit the open files limit); further ones are\n"
    "                        closed at once and counted in the log\n"
    "  --log FILE            request log, one line per request (default stderr)\n"
    "  --help                this text\n"
    "\n"
    "The first stdout line is 'wiggly-gcs-emulator listening on http://HOST:PORT'.\n"
    "Point clients at it with STORAGE_EMULATOR_HOST=http://HOST:PORT.\n";

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    uint64_t v;
    if (emu_parse_u64(s, &v) < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Each connection holds a socket and often a file, and the server's
 * connection cap follows this limit (emu_server.h), so take all the process
 * may have. */
static void raise_nofile(FILE *log)
{
    struct rlimit rl;
    unsigned long long was;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
        return;
    was = (unsigned long long)rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        fprintf(log, "wiggly-gcs-emulator: cannot raise the open files limit from %llu: %s\n", was,
                strerror(errno));
    else
        fprintf(log, "wiggly-gcs-emulator: open files limit raised from %llu to %llu (hard)\n", was,
                (unsigned long long)rl.rlim_max);
    fflush(log);
}

int main(int argc, char **argv)
{
    struct emu_options o;
    struct emu_server *srv = NULL;
    const char *log_path = NULL;
    char err[512];
    sigset_t set;
    int sig = 0;
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = 9023;
    o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "wiggly-gcs-emulator: %s needs a value (or unknown option)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--root") == 0) {
            o.root = v;
        } else if (strcmp(a, "--host") == 0) {
            o.host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (parse_uint(v, 65535, &n) < 0) {
                fprintf(stderr, "wiggly-gcs-emulator: --port %s: expected 0..65535\n", v);
                return 2;
            }
            o.port = (int)n;
        } else if (strcmp(a, "--fault-rate") == 0) {
            char *end;
            errno = 0;
            o.fault_rate = strtod(v, &end);
            if (errno || *end || end == v || !(o.fault_rate >= 0 && o.fault_rate <= 1)) {
                fprintf(stderr, "wiggly-gcs-emulator: --fault-rate %s: expected 0..1\n", v);
                return 2;
            }
        } else if (strcmp(a, "--fault-statuses") == 0) {
            if (emu_fault_parse_statuses(v, o.fault_statuses, EMU_FAULT_MAX_STATUS,
                                         &o.n_fault_statuses) < 0) {
                fprintf(stderr,
                        "wiggly-gcs-emulator: --fault-statuses %s: expected a comma list of "
                        "HTTP statuses (100..599), 'drop' or 'corrupt', at most %d\n",
                        v, EMU_FAULT_MAX_STATUS);
                return 2;
            }
        } else if (strcmp(a, "--fault-route") == 0) {
            o.fault_route = v;
        } else if (strcmp(a, "--latency-ms") == 0) {
            if (parse_uint(v, 600000, &n) < 0) {
                fprintf(stderr, "wiggly-gcs-emulator: --latency-ms %s: expected 0..600000\n", v);
                return 2;
            }
            o.latency_ms = (unsigned)n;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_uint(v, UINT64_MAX, &n) < 0) {
                fprintf(stderr, "wiggly-gcs-emulator: --seed %s: expected an unsigned integer\n",
                        v);
                return 2;
            }
            o.seed = n;
        } else if (strcmp(a, "--chunk-persist-max") == 0) {
            if (parse_uint(v, UINT64_MAX, &n) < 0 || n == 0 || n % 262144 != 0) {
                fprintf(stderr,
                        "wiggly-gcs-emulator: --chunk-persist-max %s: expected a positive "
                        "multiple of 262144\n",
                        v);
                return 2;
            }
            o.chunk_persist_max = n;
        } else if (strcmp(a, "--max-connections") == 0) {
            if (parse_uint(v, 1000000, &n) < 0 || n == 0) {
                fprintf(stderr, "wiggly-gcs-emulator: --max-connections %s: expected 1..1000000\n",
                        v);
                return 2;
            }
            o.max_connections = (unsigned)n;
        } else if (strcmp(a, "--log") == 0) {
            log_path = v;
        } else {
            fprintf(stderr, "wiggly-gcs-emulator: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (!o.root) {
        fprintf(stderr, "wiggly-gcs-emulator: --root DIR is required (see --help)\n");
        return 2;
    }
    if (log_path) {
        o.log = fopen(log_path, "a");
        if (!o.log) {
            fprintf(stderr, "wiggly-gcs-emulator: --log %s: %s\n", log_path, strerror(errno));
            return 2;
        }
    }
    /* Before any thread starts: jansson's hash seed and the signal mask
     * (only sigwait below sees SIGINT/SIGTERM). */
    json_object_seed(0);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(o.log ? o.log : stderr);

    if (emu_server_start(&srv, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "wiggly-gcs-emulator: %s\n", err);
        if (o.log)
            fclose(o.log);
        return 1;
    }
    if (strchr(o.host, ':'))
        printf("wiggly-gcs-emulator listening on http://[%s]:%d\n", o.host, emu_server_port(srv));
    else
        printf("wiggly-gcs-emulator listening on http://%s:%d\n", o.host, emu_server_port(srv));
    fflush(stdout);
    while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
        ;
    emu_server_stop(srv);
    if (o.log)
        fclose(o.log);
    return 0;
}
