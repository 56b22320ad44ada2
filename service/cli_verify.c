/* cli_verify.c: `wiggly verify -c JOB.json [--create] [--topic T]`: the
 * config is valid, and the job's subscription, topics and buckets exist
 * (or, with --create, are created: the subscription with a dead-letter
 * policy when the job has a dead_letter_topic, plus a subscription on the
 * dead-letter topic so dead letters are kept). file:// locations are
 * checked (created with --create) as directories. One line per check. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config/config.h"
#include "gcp/gcs.h"
#include "gcp/pubsub.h"
#include "service/cli.h"
#include "service/storage.h"
#include "service/sync.h"

struct vwait {
    int done;
    struct gcp_error err;
};

static void on_done(void *ud, const struct gcp_error *err)
{
    struct vwait *w = ud;
    if (err)
        w->err = *err;
    w->done = 1;
}

static int wait_call(struct svc_sync *s, struct vwait *w, int rc)
{
    if (rc != 0)
        return rc;
    if (svc_sync_wait(s, &w->done, 120) != 0)
        return GCP_ETIMEOUT;
    return w->err.code;
}

static int report(const char *what, const char *name, int rc, int created)
{
    if (rc == 0)
        printf("ok       %-13s %s%s\n", what, name, created ? " (created)" : "");
    else
        printf("%-8s %-13s %s\n", rc == GCP_ENOTFOUND ? "MISSING" : "ERROR", what, name);
    return rc == 0 ? 0 : 1;
}

static int check_topic(struct svc_sync *s, const char *topic, int create)
{
    struct vwait w = {0};
    int rc = wait_call(s, &w, gcp_pubsub_topic_get(s->cloud.pubsub, topic, on_done, &w));
    if (rc == GCP_ENOTFOUND && create) {
        struct vwait c = {0};
        rc = wait_call(s, &c, gcp_pubsub_topic_create(s->cloud.pubsub, topic, on_done, &c));
        if (rc == GCP_EEXISTS)
            rc = 0;
        return report("topic", topic, rc, rc == 0);
    }
    return report("topic", topic, rc, 0);
}

static int check_sub(struct svc_sync *s, const char *sub, const char *topic, const char *dlq,
                     int max_attempts, int ack_deadline, int create)
{
    struct vwait w = {0};
    int rc = wait_call(s, &w, gcp_pubsub_subscription_get(s->cloud.pubsub, sub, on_done, &w));
    if (rc == GCP_ENOTFOUND && create && topic) {
        struct vwait c = {0};
        struct gcp_pubsub_sub_spec spec = {
            .topic = topic,
            .ack_deadline_s = ack_deadline,
            .dead_letter_topic = dlq,
            .max_delivery_attempts = max_attempts < 5     ? 5
                                     : max_attempts > 100 ? 100
                                                          : max_attempts,
        };
        rc = wait_call(s, &c,
                       gcp_pubsub_subscription_create(s->cloud.pubsub, sub, &spec, on_done, &c));
        if (rc == GCP_EEXISTS)
            rc = 0;
        return report("subscription", sub, rc, rc == 0);
    }
    return report("subscription", sub, rc, 0);
}

static int check_location(struct svc_sync *s, const char *loc, const char *project, int create)
{
    if (svc_url_kind(loc) == SVC_URL_FILE) {
        struct stat sb;
        const char *p = loc + 7;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            return report("directory", p, 0, 0);
        if (create) {
            char buf[4096];
            snprintf(buf, sizeof(buf), "%s", p);
            for (char *q = buf + 1; *q; q++)
                if (*q == '/') {
                    *q = 0;
                    mkdir(buf, 0777);
                    *q = '/';
                }
            mkdir(buf, 0777);
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                return report("directory", p, 0, 1);
        }
        return report("directory", p, GCP_ENOTFOUND, 0);
    }
    if (svc_url_kind(loc) == SVC_URL_GS) {
        char bucket[256];
        const char *name;
        struct vwait w = {0};
        int rc;
        svc_url_gs_split(loc, bucket, &name);
        rc = wait_call(s, &w, gcp_gcs_bucket_get(s->cloud.gcs, bucket, on_done, &w));
        if (rc == GCP_ENOTFOUND && create) {
            struct vwait c = {0};
            rc = wait_call(
                s, &c,
                gcp_gcs_bucket_create(s->cloud.gcs, project ? project : "", bucket, on_done, &c));
            if (rc == GCP_EEXISTS)
                rc = 0;
            return report("bucket", bucket, rc, rc == 0);
        }
        return report("bucket", bucket, rc, 0);
    }
    return report("location", loc, GCP_EINVAL, 0);
}

/* projects/P/topics/NAME for the short name of a subscription. */
static void topic_for(const char *sub, char *out, size_t len)
{
    const char *slash = strstr(sub, "/subscriptions/");
    if (!slash) {
        snprintf(out, len, "%s", sub);
        return;
    }
    snprintf(out, len, "%.*s/topics/%s", (int)(slash - sub), sub,
             slash + strlen("/subscriptions/"));
}

static void ver_usage(FILE *f)
{
    fprintf(f, "usage: wiggly verify -c JOB.json [--create] [--topic INPUT_TOPIC]\n\n"
               "Check the job config, then that its Pub/Sub topics and subscription and its\n"
               "buckets (or file:// directories) exist. --create creates what is missing: the\n"
               "input topic (--topic, default: the subscription's short name as a topic), the\n"
               "subscription (with a dead-letter policy when dead_letter_topic is set), the\n"
               "output, parent and dead-letter topics, a subscription on the dead-letter topic,\n"
               "and the buckets. Exit 0 when everything exists.\n");
}

int cli_verify(int argc, char **argv)
{
    const char *config = NULL, *topic_arg = NULL;
    int create = 0, bad = 0, gs = 0;
    struct cfg_job *cfg = NULL;
    struct cfg_error cerr = {0};
    struct svc_sync s;
    struct svc_error err = {0};

    memset(&s, 0, sizeof(s));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            ver_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--create")) {
            create = 1;
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") ||
                    !strcmp(argv[i], "--topic")) &&
                   i + 1 < argc) {
            if (!strcmp(argv[i], "--topic"))
                topic_arg = argv[++i];
            else
                config = argv[++i];
        } else {
            fprintf(stderr, "wiggly verify: unexpected argument '%s' (try wiggly verify --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "wiggly verify: -c JOB.json is required (try wiggly verify --help)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    if (cfg_load(config, &cfg, &cerr) != 0) {
        fprintf(stderr, "wiggly verify: %s\n", cerr.msg);
        curl_global_cleanup();
        return 1;
    }
    printf("ok       config        %s (job %s)\n", config, cfg->name);
    gs = svc_url_kind(cfg->input.location) == SVC_URL_GS ||
         svc_url_kind(cfg->output.location) == SVC_URL_GS ||
         (cfg->features.enabled && svc_url_kind(cfg->features.location) == SVC_URL_GS);
    if (svc_sync_init(&s,
                      cfg->events.kind == CFG_EVENTS_PUBSUB || cfg->n_output_topics ||
                          cfg->parent.topic || cfg->dead_letter_topic,
                      gs, &err) != 0) {
        fprintf(stderr, "wiggly verify: %s\n", err.msg);
        bad = 1;
        goto out;
    }
    if (cfg->events.kind == CFG_EVENTS_PUBSUB) {
        char in_topic[512];
        if (topic_arg)
            snprintf(in_topic, sizeof(in_topic), "%s", topic_arg);
        else
            topic_for(cfg->events.subscription, in_topic, sizeof(in_topic));
        if (create)
            bad |= check_topic(&s, in_topic, 1);
        if (cfg->dead_letter_topic)
            bad |= check_topic(&s, cfg->dead_letter_topic, create);
        bad |= check_sub(&s, cfg->events.subscription, in_topic, cfg->dead_letter_topic,
                         cfg->runtime.max_attempts, cfg->runtime.ack_deadline_s, create);
        if (cfg->dead_letter_topic) {
            char dsub[512];
            const char *t = strstr(cfg->dead_letter_topic, "/topics/");
            snprintf(dsub, sizeof(dsub), "%.*s/subscriptions/%s",
                     t ? (int)(t - cfg->dead_letter_topic) : 0, cfg->dead_letter_topic,
                     t ? t + 8 : cfg->dead_letter_topic);
            bad |= check_sub(&s, dsub, cfg->dead_letter_topic, NULL, 0, 60, create);
        }
    } else {
        printf("ok       events        file %s (batch job)\n", cfg->events.file);
    }
    for (size_t i = 0; i < cfg->n_output_topics; i++)
        bad |= check_topic(&s, cfg->output_topics[i], create);
    if (cfg->parent.topic)
        bad |= check_topic(&s, cfg->parent.topic, create);
    bad |= check_location(&s, cfg->input.location, cfg->project, create);
    bad |= check_location(&s, cfg->output.location, cfg->project, create);
    if (cfg->features.enabled && strcmp(cfg->features.location, cfg->output.location))
        bad |= check_location(&s, cfg->features.location, cfg->project, create);
out:
    svc_sync_cleanup(&s);
    cfg_job_destroy(cfg);
    curl_global_cleanup();
    return bad ? 1 : 0;
}
