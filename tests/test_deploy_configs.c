/* test_deploy_configs.c: every job config the deployment ships (k8s/base,
 * k8s/overlays/ *, and whatever `wiggly new` writes) loads with the real
 * config loader (and its locations pass their storage scheme's rules, as at
 * `wiggly run`), and agrees with what the Kubernetes manifests assume: the
 * job name is the overlay's directory name, temporary files go to /tmp (the
 * emptyDir), the shutdown grace fits the pod's 120 s termination grace, and
 * health/metrics listen on port 8080 (the probes' port).
 *   test_deploy_configs FILE...   (${VAR}s resolved from the environment) */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "service/roots.h"

/* "k8s/overlays/NAME/job.json" -> NAME; other paths give NULL. */
static const char *overlay_name(const char *path, char *buf, size_t size)
{
    const char *p = strstr(path, "/overlays/");
    if (!p)
        return NULL;
    p += strlen("/overlays/");
    const char *end = strchr(p, '/');
    if (!end || (size_t)(end - p) >= size)
        return NULL;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}

static int check(const char *path)
{
    struct cfg_job *job = NULL;
    struct cfg_error err;
    struct svc_error verr;
    if (cfg_load(path, &job, &err) != 0) {
        fprintf(stderr, "FAIL %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    if (svc_roots_validate(job, &verr) != 0) { /* each location's scheme rules, as `run` checks */
        fprintf(stderr, "FAIL %s: %s\n", path, verr.msg);
        bad = 1;
    }
    char name[128];
    const char *want = overlay_name(path, name, sizeof(name));
    if (want && strcmp(job->name, want) != 0) {
        fprintf(stderr, "FAIL %s: job '%s' in overlay '%s'\n", path, job->name, want);
        bad = 1;
    }
    if (strcmp(job->runtime.temp_dir, "/tmp") != 0) {
        fprintf(stderr, "FAIL %s: runtime.temp_dir '%s', the pod mounts its emptyDir at /tmp\n",
                path, job->runtime.temp_dir);
        bad = 1;
    }
    if (job->runtime.shutdown_grace_s + 10 > 120) {
        fprintf(stderr, "FAIL %s: shutdown_grace_s %d does not fit the pod's 120 s grace\n", path,
                job->runtime.shutdown_grace_s);
        bad = 1;
    }
    const char *colon = job->listen ? strrchr(job->listen, ':') : NULL;
    if (!colon || strcmp(colon, ":8080") != 0) {
        fprintf(stderr, "FAIL %s: listen '%s', the probes use port 8080\n", path,
                job->listen ? job->listen : "(off)");
        bad = 1;
    }
    if (job->events.kind != CFG_EVENTS_PUBSUB) {
        fprintf(stderr, "FAIL %s: a deployed job reads a Pub/Sub subscription\n", path);
        bad = 1;
    }
    if (!bad)
        printf("ok   %s (job %s, %zu output topic(s)%s)\n", path, job->name, job->n_output_topics,
               job->parent.name ? ", has a parent" : "");
    cfg_job_destroy(job);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_deploy_configs FILE...\n");
        return 2;
    }
    int failed = 0;
    for (int i = 1; i < argc; i++)
        failed += check(argv[i]);
    printf("%d passed, %d failed\n", argc - 1 - failed, failed);
    return failed ? 1 : 0;
}
