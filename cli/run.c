/* run.c: `wiggly run -c JOB.json [--ids FILE|-] [--force]
 * [--log-format json|text] [--listen HOST:PORT]`: batch mode when the config's
 * events are a file or --ids is given, else the Pub/Sub service loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "gcp/http.h"
#include "cli/cli.h"
#include "service/log.h"
#include "service/roots.h"
#include "service/run.h"

static void run_usage(FILE *f)
{
    fprintf(f, "usage: wiggly run -c JOB.json [--ids FILE|-] [--force] [--log-format json|text]\n"
               "                  [--listen HOST:PORT]\n\n"
               "Run a job. With events.subscription in the config: pull track IDs from Pub/Sub,\n"
               "skip completed work, process, upload, publish downstream, ack; serve /healthz,\n"
               "/readyz and /metrics on the config's listen address; SIGTERM drains.\n"
               "With events.file, or --ids: process the IDs of a file (- = stdin) on all cores\n"
               "and print a summary; exit 1 if any track failed.\n\n"
               "  -c, --config FILE     the job config (JSON)\n"
               "  --ids FILE|-          batch mode on these IDs (one per line)\n"
               "  --force               reprocess even when the output exists\n"
               "  --log-format FMT      json (one object per line) or text; default text on a\n"
               "                        terminal, json otherwise\n"
               "  --listen HOST:PORT    health/metrics address (overrides the config; '' = off)\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wiggly run: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try wiggly run --help)\n");
    return 2;
}

int cli_run(int argc, char **argv)
{
    const char *config = NULL, *ids = NULL, *listen = NULL, *fmt = NULL;
    int force = 0, rc;
    enum svc_log_format lf;
    struct cfg_job *cfg = NULL;
    struct svc_run_opts o;
    int batch;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--ids") ||
                   !strcmp(a, "--log-format") || !strcmp(a, "--listen")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--ids"))
                ids = v;
            else if (!strcmp(a, "--log-format"))
                fmt = v;
            else if (!strcmp(a, "--listen"))
                listen = v;
            else
                config = v;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!config)
        return usage_error("%s", "-c JOB.json is required");
    if (fmt) {
        if (svc_log_format_parse(fmt, &lf) != 0)
            return usage_error("--log-format must be json or text, not '%s'", fmt);
    } else {
        lf = isatty(STDERR_FILENO) ? SVC_LOG_TEXT : SVC_LOG_JSON;
    }

    /* Before any thread starts (docs/architecture.md "Threading and ownership"). */
    gcp_http_global_init();
    json_object_seed(0);

    if (!(cfg = cli_job_load("run", config))) {
        gcp_http_global_cleanup();
        return 2;
    }
    batch = ids || cfg->events.kind == CFG_EVENTS_FILE;
    {
        const char *lvl = getenv("WIGGLY_LOG_LEVEL");
        enum svc_severity min = batch && isatty(STDERR_FILENO) ? SVC_WARNING : SVC_INFO;
        if (lvl && !strcmp(lvl, "debug"))
            min = SVC_DEBUG;
        else if (lvl && !strcmp(lvl, "warning"))
            min = SVC_WARNING;
        svc_log_init(lf, stderr, min);
    }
    memset(&o, 0, sizeof(o));
    o.cfg = cfg;
    o.ids = ids;
    o.force = force;
    o.listen = listen;
    rc = svc_run(&o, NULL); /* the source: --ids or the config's events */
    cfg_job_destroy(cfg);
    gcp_http_global_cleanup();
    return rc;
}
