/* job.c: loading a job config for a verb: the file (config/load.c), then
 * each location through its storage scheme (svc_roots_validate), with the
 * errors printed as `wiggly VERB: ...`; names derived from a job that more
 * than one verb needs. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "service/roots.h"
#include "service/svc_error.h"

struct cfg_job *cli_job_load(const char *verb, const char *path)
{
    struct cfg_job *cfg = NULL;
    struct cfg_error cerr = {0};
    struct svc_error err = {0};
    if (cfg_load(path, &cfg, &cerr) != 0) {
        fprintf(stderr, "wiggly %s: %s\n", verb, cerr.msg[0] ? cerr.msg : cfg_strerror(cerr.code));
        return NULL;
    }
    if (svc_roots_validate(cfg, &err) != 0) {
        fprintf(stderr, "wiggly %s: %s: %s\n", verb, path, err.msg);
        cfg_job_destroy(cfg);
        return NULL;
    }
    return cfg;
}

void cli_dead_letter_sub(const struct cfg_job *cfg, char *out, size_t len)
{
    const char *t = strstr(cfg->dead_letter_topic, "/topics/");
    snprintf(out, len, "%.*s/subscriptions/%s", t ? (int)(t - cfg->dead_letter_topic) : 0,
             cfg->dead_letter_topic, t ? t + 8 : cfg->dead_letter_topic);
}
