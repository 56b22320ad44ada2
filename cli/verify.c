/* verify.c: `wiggly verify -c JOB.json [--create] [--topic T]`: the
 * config is valid, and the job's subscription, topics and buckets exist
 * (or, with --create, are created: the subscription with a dead-letter
 * policy when the job has a dead_letter_topic, plus a subscription on the
 * dead-letter topic so dead letters are kept). An existing subscription is
 * read back and compared with the config (topic when known, dead-letter
 * topic); Pub/Sub cannot change a subscription's topic and --create does
 * not update, so a mismatch is reported with its fix. file:// locations are
 * checked (created with --create) as directories. One line per check. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "config/config.h"
#include "gcp/http.h"
#include "gcp/gcs.h"
#include "gcp/pubsub.h"
#include "cli/cli.h"
#include "service/cloud.h"
#include "service/pipeline.h"
#include "service/roots.h"
#include "service/storage.h"
#include "service/sync.h"
#include "transform/transform.h"

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

/* What the config implies for a subscription. */
struct sub_want {
    const char *topic;     /* --create makes it on this topic; NULL = cannot create */
    int topic_known;       /* an existing subscription must be on topic */
    const char *topic_fix; /* how to get one on the right topic */
    const char *dlq;       /* dead-letter topic it must have; NULL = not checked */
    int max_attempts;      /* 5..100 */
    int ack_deadline;      /* the config's, for a note; 0 = none */
};

static int sub_mismatch(const char *sub, const char *what, const char *fix)
{
    printf("MISMATCH %-13s %s: %s\n         fix: %s\n", "subscription", sub, what, fix);
    return 1;
}

/* An existing subscription against what the config implies. */
static int check_sub_fields(const char *sub, const struct svc_sync_sub *have,
                            const struct sub_want *want)
{
    char what[1200], fix[1600];
    int bad = 0;

    if (!strcmp(have->topic, "_deleted-topic_") ||
        (want->topic_known && strcmp(have->topic, want->topic))) {
        snprintf(what, sizeof(what), "its topic is %s, the config implies %s", have->topic,
                 want->topic);
        snprintf(fix, sizeof(fix),
                 "the topic of a subscription cannot be changed: delete it (gcloud pubsub "
                 "subscriptions delete %s; its backlog is lost) and run %s",
                 sub, want->topic_fix);
        bad |= sub_mismatch(sub, what, fix);
    }
    if (want->dlq && strcmp(have->dead_letter_topic, want->dlq)) {
        snprintf(what, sizeof(what), "its dead-letter topic is %s, the config says %s",
                 have->dead_letter_topic[0] ? have->dead_letter_topic : "none", want->dlq);
        snprintf(fix, sizeof(fix),
                 "wiggly verify --create cannot change an existing subscription; update it "
                 "with gcloud pubsub subscriptions update %s --dead-letter-topic=%s "
                 "--max-delivery-attempts=%d",
                 sub, want->dlq, want->max_attempts);
        bad |= sub_mismatch(sub, what, fix);
    }
    if (bad)
        return 1;
    printf("ok       %-13s %s (topic %s", "subscription", sub, have->topic);
    if (have->dead_letter_topic[0])
        printf(", dead letters to %s", have->dead_letter_topic);
    printf(")\n");
    /* Not errors: the service extends every lease right after a pull, and
     * dead-letters by itself after max_attempts. */
    if (want->ack_deadline && have->ack_deadline_s && have->ack_deadline_s != want->ack_deadline)
        printf("note     %-13s %s: ack deadline %d s, the config's runtime.ack_deadline_s is %d "
               "s (leases are extended to the config's)\n",
               "subscription", sub, have->ack_deadline_s, want->ack_deadline);
    if (want->dlq && have->max_delivery_attempts &&
        have->max_delivery_attempts < want->max_attempts)
        printf("note     %-13s %s: Pub/Sub dead-letters after %d delivery attempts, before the "
               "config's runtime.max_attempts (%d) lets wiggly do it with a reason\n",
               "subscription", sub, have->max_delivery_attempts, want->max_attempts);
    return 0;
}

static int check_sub(struct svc_sync *s, const char *sub, const struct sub_want *want, int create)
{
    struct svc_sync_sub have;
    struct svc_error err = {0};
    int rc = svc_sync_sub_get(s, sub, &have, &err);
    if (rc == 0)
        return check_sub_fields(sub, &have, want);
    if (rc == SVC_ENOTFOUND && create && want->topic) {
        struct vwait c = {0};
        struct gcp_pubsub_sub_spec spec = {
            .topic = want->topic,
            .ack_deadline_s = want->ack_deadline ? want->ack_deadline : 60,
            .dead_letter_topic = want->dlq,
            .max_delivery_attempts = want->max_attempts,
        };
        rc = wait_call(s, &c,
                       gcp_pubsub_subscription_create(s->cloud.pubsub, sub, &spec, on_done, &c));
        if (rc == GCP_EEXISTS)
            rc = 0;
        return report("subscription", sub, rc, rc == 0);
    }
    report("subscription", sub, rc == SVC_ENOTFOUND ? GCP_ENOTFOUND : rc, 0);
    if (rc != SVC_ENOTFOUND)
        printf("         %s\n", err.msg);
    return 1;
}

/* What check_location() looks at: the bucket, or the directory. */
static void location_key(const char *loc, char *out, size_t len)
{
    char bucket[256];
    const char *name;
    if (svc_url_kind(loc) == SVC_URL_GS && svc_url_gs_split(loc, bucket, &name) == 0)
        snprintf(out, len, "gs://%s", bucket);
    else
        snprintf(out, len, "%s", loc);
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
        if (rc == GCP_ENOBUCKET)
            rc = GCP_ENOTFOUND;
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

/* What the transform printed or wiggly said about it, on stderr. */
static void tf_log(void *ud, enum tf_log_level lv, int worker, const char *stream, const char *text)
{
    (void)ud;
    (void)worker;
    if (stream)
        fprintf(stderr, "         transform %s: %s\n", stream, text);
    else if (lv >= TF_LOG_WARNING)
        fprintf(stderr, "         transform: %s\n", text);
}

/* The program exists and is executable, and one child says hello. */
static int check_transform(const struct cfg_job *cfg)
{
    struct tf_pool *p = NULL;
    char why[512], name[128], version[64];
    struct tf_opts o = {.argv = cfg->transform.command,
                        .env = cfg->transform.env,
                        .scratch = svc_temp_dir(cfg),
                        .job = cfg->name,
                        .workers = 1,
                        .max_in_flight = 1,
                        .startup_timeout_s = cfg->transform.startup_timeout_s,
                        .timeout_s = cfg->transform.timeout_s,
                        .max_start_failures = 1,
                        .log = tf_log};
    if (tf_pool_create(&o, &p, why, sizeof(why)) != 0) {
        printf("ERROR    transform     %s\n", why);
        return 1;
    }
    enum tf_state st = tf_pool_wait(p, cfg->transform.startup_timeout_s + 1.0, why, sizeof(why));
    tf_pool_hello(p, name, sizeof(name), version, sizeof(version));
    tf_pool_destroy(p, 2.0);
    if (st == TF_READY) {
        printf("ok       transform     %s %s (%s, protocol 1)\n", name, version,
               cfg->transform.command[0]);
        return 0;
    }
    if (st == TF_FAILED)
        printf("ERROR    transform     %s\n", why);
    else
        printf("ERROR    transform     no hello within startup_timeout_s (%d s)\n",
               cfg->transform.startup_timeout_s);
    return 1;
}

static void ver_usage(FILE *f)
{
    fprintf(f, "usage: wiggly verify -c JOB.json [--create] [--topic INPUT_TOPIC]\n\n"
               "Check the job config, then that its Pub/Sub topics and subscription and its\n"
               "buckets (or file:// directories) exist. --create creates what is missing: the\n"
               "input topic (--topic, default: the subscription's short name as a topic), the\n"
               "subscription (with a dead-letter policy when dead_letter_topic is set), the\n"
               "output, parent and dead-letter topics, a subscription on the dead-letter topic,\n"
               "and the buckets. An existing subscription must be on the expected topic (when\n"
               "known: --topic, or the dead-letter topic) and have the config's dead-letter\n"
               "topic; --create cannot change it (the MISMATCH line says how). A job with a\n"
               "transform starts it once and waits for its hello (name and version). Exit 0\n"
               "when everything exists and matches.\n");
}

int cli_verify(int argc, char **argv)
{
    const char *config = NULL, *topic_arg = NULL;
    int create = 0, bad = 0, gs = 0;
    struct cfg_job *cfg = NULL;
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
    gcp_http_global_init();
    json_object_seed(0);
    if (!(cfg = cli_job_load("verify", config))) {
        gcp_http_global_cleanup();
        return 1;
    }
    printf("ok       config        %s (job %s)\n", config, cfg->name);
    gs = svc_cloud_needs_gcs(cfg);
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
        {
            char fix[700];
            int attempts = cfg->runtime.max_attempts < 5     ? 5
                           : cfg->runtime.max_attempts > 100 ? 100
                                                             : cfg->runtime.max_attempts;
            struct sub_want want = {.topic = in_topic,
                                    .topic_known = topic_arg != NULL,
                                    .topic_fix = fix,
                                    .dlq = cfg->dead_letter_topic,
                                    .max_attempts = attempts,
                                    .ack_deadline = cfg->runtime.ack_deadline_s};
            snprintf(fix, sizeof(fix), "wiggly verify -c %s --create --topic %s", config, in_topic);
            bad |= check_sub(&s, cfg->events.subscription, &want, create);
        }
        if (cfg->dead_letter_topic) {
            char dsub[512], fix[700];
            struct sub_want want = {
                .topic = cfg->dead_letter_topic, .topic_known = 1, .topic_fix = fix};
            cli_dead_letter_sub(cfg, dsub, sizeof(dsub));
            snprintf(fix, sizeof(fix), "wiggly verify -c %s --create", config);
            bad |= check_sub(&s, dsub, &want, create);
        }
    } else {
        printf("ok       events        file %s (batch job)\n", cfg->events.file);
    }
    for (size_t i = 0; i < cfg->n_output_topics; i++)
        bad |= check_topic(&s, cfg->output_topics[i], create);
    if (cfg->parent.topic)
        bad |= check_topic(&s, cfg->parent.topic, create);
    {
        struct svc_error te = {0};
        const char *dir = svc_temp_dir(cfg);
        if (svc_temp_dir_check(dir, &te) == 0) {
            printf("ok       temp_dir      %s\n", dir);
        } else {
            printf("ERROR    temp_dir      %s (%s)\n", dir, te.msg);
            bad = 1;
        }
    }
    if (cfg->transform.enabled)
        bad |= check_transform(cfg);
    {
        /* Each bucket or directory once, however many locations share it. */
        const char *locs[3] = {cfg->input.location, cfg->output.location,
                               cfg->features.enabled ? cfg->features.location : NULL};
        char keys[3][300];
        for (int i = 0; i < 3; i++) {
            int dup = 0;
            if (!locs[i])
                continue;
            location_key(locs[i], keys[i], sizeof(keys[i]));
            for (int j = 0; j < i; j++)
                dup |= locs[j] && !strcmp(keys[j], keys[i]);
            if (!dup)
                bad |= check_location(&s, locs[i], cfg->project, create);
        }
    }
out:
    svc_sync_cleanup(&s);
    cfg_job_destroy(cfg);
    gcp_http_global_cleanup();
    return bad ? 1 : 0;
}
