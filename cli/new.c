/* new.c: `wiggly new NAME`: scaffold a job (Klio's `job create`).
 *
 * Writes, under --dir (default "."):
 *   k8s/overlays/NAME/job.json           the job config (docs/config.md)
 *   k8s/overlays/NAME/kustomization.yaml the overlay on k8s/base
 *   k8s/overlays/NAME/pubsub.yaml        topics + subscriptions (Config Connector)
 *   k8s/overlays/NAME/scaling.yaml       KEDA trigger -> this job's subscription
 *   k8s/overlays/NAME/scaling-hpa.yaml   the same for components/hpa
 *   jobs/NAME.json                       symlink to the overlay's job.json
 * and with --transform python (docs/transforms.md) also
 *   transforms/NAME/transform.py         a working NumPy transform (spectral centroid)
 *   transforms/NAME/Dockerfile           the wiggly image + python3, NumPy, the transform
 *   transforms/NAME/Dockerfile.cuda      the same on NVIDIA's CUDA image, torch from pip
 * whose job config has a "transform" key instead of the audio output. The
 * command and PYTHONPATH in it are relative to the project directory, which
 * the Dockerfiles make the image's working directory, so the same config runs
 * locally (from DIR) and in the pod.
 * The config lives inside the overlay because kustomize refuses to read files
 * outside an overlay's directory (and `kubectl apply -k` has no switch to
 * allow it); jobs/NAME.json is the same file for local runs.
 *
 * Topic names of a job graph (docs/deploy.md):
 *   NAME          input topic of a root job (subscription NAME reads it)
 *   PARENT-done   a child's input: its subscription NAME reads PARENT-done
 *   NAME-done     where NAME announces finished elements
 *   NAME-dead     dead letters (with a subscription NAME-dead to read them)
 * parent.topic (bottom-up triggers) is the parent's input topic: PARENT for a
 * root parent, GRANDPARENT-done otherwise, read from jobs/PARENT.json or the
 * parent's overlay.
 *
 * Nothing is written unless every target is new: the files are created with
 * O_EXCL after checking them all. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define NEW_PATH_MAX 4096

struct new_opts {
    const char *name;
    const char *parent;
    const char *project; /* NULL = ${GOOGLE_CLOUD_PROJECT} */
    const char *bucket;  /* NULL = ${BUCKET} */
    const char *dir;
    const char *transform; /* NULL, or "python" */
};

/* What the new job learns from its parent's config, if there is one. */
struct new_parent {
    char topic[512];    /* the parent's input topic, full path */
    char location[512]; /* the parent's output location = our input */
    char suffix[64];
    int found; /* jobs/PARENT.json was read */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wiggly new NAME [--parent JOB] [--project P] [--bucket B] [--dir DIR]\n"
               "                       [--transform python]\n"
               "\n"
               "Scaffold a job: a job config and a Kubernetes overlay, ready to edit.\n"
               "Writes DIR/k8s/overlays/NAME/{job.json,kustomization.yaml,pubsub.yaml,\n"
               "scaling.yaml,scaling-hpa.yaml} and DIR/jobs/NAME.json (a symlink to the\n"
               "overlay's job.json). Refuses to overwrite anything: nothing is written\n"
               "unless every file is new.\n"
               "\n"
               "  NAME           job name: 3-40 of a-z 0-9 '-', starting with a letter,\n"
               "                 not ending in '-' (it names topics, subscriptions and\n"
               "                 Kubernetes objects)\n"
               "  --parent JOB   the job whose output this job consumes: subscribe to\n"
               "                 JOB-done and trigger JOB for missing inputs; JOB's input\n"
               "                 topic and output location are read from DIR/jobs/JOB.json\n"
               "                 when it exists\n"
               "  --project P    GCP project ID [${GOOGLE_CLOUD_PROJECT}, resolved at run time]\n"
               "  --bucket B     Cloud Storage bucket [${BUCKET}, resolved at run time]\n"
               "  --dir DIR      project directory holding k8s/base [.]\n"
               "  --transform python\n"
               "                 a job that runs your own Python code (docs/transforms.md):\n"
               "                 also writes DIR/transforms/NAME/transform.py (a working\n"
               "                 NumPy spectral-centroid transform to edit), Dockerfile (the\n"
               "                 wiggly image + python3 and NumPy) and Dockerfile.cuda (for\n"
               "                 GPU nodes, torch from pip); the job config gets a\n"
               "                 \"transform\" key and writes the transform's outputs instead\n"
               "                 of encoded audio. Needs DIR/sdk/python/wiggly_transform.py\n"
               "                 (copy it from wiggly's source)\n"
               "\n"
               "Then: edit steps in DIR/jobs/NAME.json, add ../overlays/NAME to the\n"
               "resources of your graph kustomization, and render with\n"
               "  kubectl kustomize DIR/k8s/overlays/NAME\n");
}

/* Job names end up in Pub/Sub names (3-255 chars, start with a letter), in
 * Kubernetes object names and label values (DNS-1123, <= 63 chars with the
 * suffixes added), so the intersection is enforced. */
static int name_check(const char *what, const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 40) {
        fprintf(stderr, "wiggly new: %s '%s' must be 3 to 40 characters long\n", what, s);
        return -1;
    }
    if (s[0] < 'a' || s[0] > 'z') {
        fprintf(stderr, "wiggly new: %s '%s' must start with a lowercase letter\n", what, s);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            fprintf(stderr,
                    "wiggly new: %s '%s': character %zu is not one of a-z 0-9 '-'"
                    " (Kubernetes and Pub/Sub names)\n",
                    what, s, i + 1);
            return -1;
        }
    }
    if (s[n - 1] == '-') {
        fprintf(stderr, "wiggly new: %s '%s' must not end in '-'\n", what, s);
        return -1;
    }
    return 0;
}

/* GCP project IDs: 6-30 chars, lowercase letter first, a-z 0-9 '-', no '-' last. */
static int project_check(const char *s)
{
    size_t n = strlen(s);
    int ok = n >= 6 && n <= 30 && s[0] >= 'a' && s[0] <= 'z' && s[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    if (!ok)
        fprintf(stderr,
                "wiggly new: project '%s' is not a GCP project ID (6-30 of a-z 0-9 '-',"
                " starting with a letter, not ending in '-')\n",
                s);
    return ok ? 0 : -1;
}

/* Bucket names (the dotless form): 3-63 of a-z 0-9 '-' '_', alnum at both ends. */
static int bucket_check(const char *s)
{
    size_t n = strlen(s);
    int ok = n >= 3 && n <= 63;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        ok = alnum || ((c == '-' || c == '_') && i > 0 && i < n - 1);
    }
    if (!ok)
        fprintf(stderr,
                "wiggly new: bucket '%s' is not a bucket name (3-63 of a-z 0-9 '-' '_',"
                " letter or digit at both ends; write gs:// locations by hand for others)\n",
                s);
    return ok ? 0 : -1;
}

static int path_fmt(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, NEW_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= NEW_PATH_MAX) {
        fprintf(stderr, "wiggly new: path too long\n");
        return -1;
    }
    return 0;
}

/* mkdir -p: every missing component of path. */
static int mkdirs(const char *path)
{
    char buf[NEW_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char save = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "wiggly new: cannot create directory %s: %s\n", buf, strerror(errno));
            return -1;
        }
        buf[i] = save;
    }
    return 0;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Creates path (which must not exist) and writes text. */
static int file_write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        fprintf(stderr, "wiggly new: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "wiggly new: cannot write %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "wiggly new: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A growable string for the YAML templates. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* The text built, or NULL if memory ran out (then nothing is kept). */
static char *sb_done(struct sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

static const char *json_str_at(json_t *root, const char *obj, const char *key)
{
    json_t *o = json_object_get(root, obj);
    json_t *v = o ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads DIR/jobs/PARENT.json (or else DIR/k8s/overlays/PARENT/job.json), if
 * there is one, for the parent's input topic and output location. Without it, the parent is taken
 * to be a root job writing FLAC to gs://BUCKET/PARENT/. */
static int parent_load(const struct new_opts *o, const char *proj, const char *bucket,
                       struct new_parent *p)
{
    char path[NEW_PATH_MAX];
    if (path_fmt(path, "%s/jobs/%s.json", o->dir, o->parent) != 0)
        return -1;
    snprintf(p->topic, sizeof(p->topic), "projects/%s/topics/%s", proj, o->parent);
    snprintf(p->location, sizeof(p->location), "gs://%s/%s/", bucket, o->parent);
    snprintf(p->suffix, sizeof(p->suffix), ".flac");
    p->found = 0;
    if (!exists(path) &&
        (path_fmt(path, "%s/k8s/overlays/%s/job.json", o->dir, o->parent) != 0 || !exists(path)))
        return 0;

    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        fprintf(stderr, "wiggly new: %s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    int rc = 0;
    const char *gp = json_str_at(root, "parent", "job");
    const char *loc = json_str_at(root, "output", "location");
    const char *suf = json_str_at(root, "output", "suffix");
    if (gp && name_check("grandparent job in parent config", gp) != 0)
        rc = -1;
    else if (gp)
        snprintf(p->topic, sizeof(p->topic), "projects/%s/topics/%s-done", proj, gp);
    if (loc && strlen(loc) + 2 < sizeof(p->location)) {
        size_t n = strlen(loc);
        snprintf(p->location, sizeof(p->location), "%s%s", loc, n && loc[n - 1] == '/' ? "" : "/");
    } else if (loc) {
        fprintf(stderr, "wiggly new: %s: output.location is too long\n", path);
        rc = -1;
    }
    if (suf && strlen(suf) < sizeof(p->suffix)) {
        snprintf(p->suffix, sizeof(p->suffix), "%s", suf);
    } else if (suf) {
        fprintf(stderr, "wiggly new: %s: output.suffix is too long\n", path);
        rc = -1;
    }
    json_decref(root);
    p->found = 1;
    return rc;
}

static char *job_json(const struct new_opts *o, const char *proj, const char *bucket,
                      const struct new_parent *par)
{
    char sub[512], in_loc[512], out_loc[512], done[512], dead[512];
    snprintf(sub, sizeof(sub), "projects/%s/subscriptions/%s", proj, o->name);
    snprintf(out_loc, sizeof(out_loc), "gs://%s/%s/", bucket, o->name);
    snprintf(done, sizeof(done), "projects/%s/topics/%s-done", proj, o->name);
    snprintf(dead, sizeof(dead), "projects/%s/topics/%s-dead", proj, o->name);
    if (o->parent)
        snprintf(in_loc, sizeof(in_loc), "%s", par->location);
    else
        snprintf(in_loc, sizeof(in_loc), "gs://%s/source/", bucket);

    json_t *root = json_object();
    json_object_set_new(root, "job", json_string(o->name));
    json_object_set_new(root, "project", json_string(proj));
    json_object_set_new(root, "events", json_pack("{s:s}", "subscription", sub));
    json_object_set_new(
        root, "input",
        json_pack("{s:s,s:s}", "location", in_loc, "suffix", o->parent ? par->suffix : ".wav"));
    if (o->transform) /* the transform's outputs are the job's output: no encoded audio */
        json_object_set_new(root, "output",
                            json_pack("{s:s,s:[s]}", "location", out_loc, "topics", done));
    else
        json_object_set_new(
            root, "output",
            json_pack("{s:s,s:s,s:[s]}", "location", out_loc, "suffix", ".flac", "topics", done));
    if (o->parent)
        json_object_set_new(root, "parent",
                            json_pack("{s:s,s:s}", "job", o->parent, "topic", par->topic));
    json_object_set_new(root, "dead_letter_topic", json_string(dead));
    if (o->transform) {
        /* What the transform receives: mono at 22050 Hz, as transform.py
         * assumes for its frequencies (it reads the rate of each request). */
        json_object_set_new(
            root, "steps",
            json_pack("{s:s,s:i,s:s}", "channels", "mono", "rate", 22050, "quality", "high"));
        json_object_set_new(root, "features",
                            json_pack("{s:b,s:s}", "enabled", 1, "suffix", ".features.json"));
        char script[NEW_PATH_MAX];
        snprintf(script, sizeof(script), "transforms/%s/transform.py", o->name);
        json_object_set_new(root, "transform",
                            json_pack("{s:[s,s],s:i,s:i,s:i,s:i,s:{s:s},s:{s:i,s:i},s:{s:s,s:s}}",
                                      "command", "python3", script, "workers", 1, "max_in_flight",
                                      1, "startup_timeout_s", 120, "timeout_s", 300, "env",
                                      "PYTHONPATH", "sdk/python", "params", "n_fft", 2048, "hop",
                                      512, "outputs", "centroid", ".centroid.npy", "summary",
                                      ".summary.json"));
    } else {
        json_object_set_new(root, "steps",
                            json_pack("{s:s,s:i,s:s,s:s,s:i}", "channels", "keep", "rate", 0,
                                      "quality", "high", "format", "flac", "bits", 16));
    }
    json_object_set_new(root, "runtime",
                        json_pack("{s:i,s:i,s:i,s:i,s:i,s:s}", "workers", 1, "max_in_flight", 4,
                                  "ack_deadline_s", 60, "max_attempts", 5, "shutdown_grace_s", 100,
                                  "temp_dir", "/tmp"));
    json_object_set_new(root, "listen", json_string("0.0.0.0:8080"));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2); /* end the file with a newline */
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}

static char *kustomization_yaml(const struct new_opts *o)
{
    struct sbuf b = {0};
    sb_printf(&b,
              "# Job \"%s\", scaffolded by `wiggly new`. Render with\n"
              "#   kubectl kustomize k8s/overlays/%s\n"
              "# For the plain HPA instead of KEDA, uncomment the components (and add\n"
              "# ../../components/gpu there for a GPU transform, docs/deploy.md).\n"
              "apiVersion: kustomize.config.k8s.io/v1beta1\n"
              "kind: Kustomization\n"
              "namePrefix: %s-\n"
              "labels:\n"
              "- pairs:\n"
              "    wiggly-job: %s\n"
              "  includeSelectors: true\n"
              "resources:\n"
              "- ../../base\n"
              "- pubsub.yaml\n"
              "# components:\n"
              "# - ../../components/hpa\n"
              "configMapGenerator:\n"
              "- name: job\n"
              "  behavior: replace\n"
              "  files:\n"
              "  - job.json\n"
              "patches:\n"
              "- path: scaling.yaml\n"
              "  target:\n"
              "    group: keda.sh\n"
              "    kind: ScaledObject\n"
              "- path: scaling-hpa.yaml\n"
              "  target:\n"
              "    group: autoscaling\n"
              "    kind: HorizontalPodAutoscaler\n",
              o->name, o->name, o->name, o->name);
    if (o->transform)
        sb_printf(&b,
                  "# The image with the transform (transforms/%s/Dockerfile, or\n"
                  "# Dockerfile.cuda with components/gpu): set newName to where you push it.\n"
                  "images:\n"
                  "- name: wiggly\n"
                  "  newName: wiggly-%s\n",
                  o->name, o->name);
    return sb_done(&b);
}

static char *scaling_yaml(const struct new_opts *o, int hpa)
{
    struct sbuf b = {0};
    if (hpa)
        sb_printf(&b,
                  "# Only used with components/hpa: the HPA's metric selector.\n"
                  "- op: replace\n"
                  "  path: /spec/metrics/0/external/metric/selector/matchLabels/"
                  "resource.labels.subscription_id\n"
                  "  value: %s\n",
                  o->name);
    else
        sb_printf(&b,
                  "# KEDA: scale on this job's subscription (the short name; KEDA's project).\n"
                  "- op: replace\n"
                  "  path: /spec/triggers/0/metadata/subscriptionName\n"
                  "  value: %s\n",
                  o->name);
    return sb_done(&b);
}

static void sub_yaml(struct sbuf *b, const char *comment, const char *obj, const char *id,
                     const char *topic_obj, const char *dead_obj)
{
    sb_printf(b,
              "---\n"
              "%s"
              "apiVersion: pubsub.cnrm.cloud.google.com/v1beta1\n"
              "kind: PubSubSubscription\n"
              "metadata:\n"
              "  name: %s\n"
              "spec:\n"
              "  resourceID: %s\n"
              "  topicRef:\n"
              "    name: %s\n"
              "  ackDeadlineSeconds: 60\n"
              "  messageRetentionDuration: 604800s\n",
              comment, obj, id, topic_obj);
    if (dead_obj)
        sb_printf(b,
                  "  retryPolicy:\n"
                  "    minimumBackoff: 10s\n"
                  "    maximumBackoff: 600s\n"
                  "  deadLetterPolicy:\n"
                  "    deadLetterTopicRef:\n"
                  "      name: %s\n"
                  "    maxDeliveryAttempts: 10\n",
                  dead_obj);
    sb_printf(b, "  expirationPolicy:\n"
                 "    ttl: \"\"\n");
}

static char *pubsub_yaml(const struct new_opts *o)
{
    struct sbuf b = {0};
    char id[128], topic_obj[128], dead_obj[128];
    const char *n = o->name;
    sb_printf(&b,
              "# Pub/Sub resources of job \"%s\", for Config Connector. namePrefix turns\n"
              "# the object names into \"%s-...\"; spec.resourceID is the real Pub/Sub\n"
              "# name. Refs between objects use the prefixed object names.\n",
              n, n);
    if (!o->parent)
        sb_printf(&b,
                  "# The job's own input topic (a root job: publish work here).\n"
                  "apiVersion: pubsub.cnrm.cloud.google.com/v1beta1\n"
                  "kind: PubSubTopic\n"
                  "metadata:\n"
                  "  name: input\n"
                  "spec:\n"
                  "  resourceID: %s\n"
                  "---\n",
                  n);
    sb_printf(&b,
              "apiVersion: pubsub.cnrm.cloud.google.com/v1beta1\n"
              "kind: PubSubTopic\n"
              "metadata:\n"
              "  name: done\n"
              "spec:\n"
              "  resourceID: %s-done\n"
              "---\n"
              "apiVersion: pubsub.cnrm.cloud.google.com/v1beta1\n"
              "kind: PubSubTopic\n"
              "metadata:\n"
              "  name: dead\n"
              "spec:\n"
              "  resourceID: %s-dead\n",
              n, n);
    if (o->parent)
        snprintf(topic_obj, sizeof(topic_obj), "%s-done", o->parent);
    else
        snprintf(topic_obj, sizeof(topic_obj), "%s-input", n);
    snprintf(dead_obj, sizeof(dead_obj), "%s-dead", n);
    char comment[512];
    snprintf(comment, sizeof(comment),
             "# The job's work queue%s%s. wiggly dead-letters permanent\n"
             "# failures after runtime.max_attempts; Pub/Sub's dead-letter policy (10\n"
             "# deliveries) is the backstop for messages that crash a pod.\n",
             o->parent ? ", on the parent's output topic " : "", o->parent ? topic_obj : "");
    sub_yaml(&b, comment, "sub", n, topic_obj, dead_obj);
    snprintf(id, sizeof(id), "%s-dead", n);
    sub_yaml(&b, "# Keeps dead letters for a week so they can be read.\n", "dead", id, dead_obj,
             NULL);
    return sb_done(&b);
}

/* --transform python: the user's code. A spectral centroid, like
 * examples/transforms/centroid, so that the scaffold computes something real
 * the moment it is written (tests/deploy/new.sh runs it). */
static char *transform_py(const struct new_opts *o)
{
    struct sbuf b = {0};
    sb_printf(
        &b,
        "\"\"\"Transform of job \"%s\", scaffolded by `wiggly new --transform python`.\n"
        "\n"
        "wiggly decodes each track, applies the job's steps (mono, 22050 Hz) and\n"
        "calls process() with the audio; what process() writes to the paths in\n"
        "`outputs` is uploaded to output.location + element + suffix, and the dict it\n"
        "returns is merged into the features JSON. docs/transforms.md has the rest.\n"
        "\n"
        "This one computes a per-frame spectral centroid with NumPy (Hann window of\n"
        "n_fft samples every hop samples, no padding): replace process() with your\n"
        "own computation and \"outputs\" in the job config with your files.\n"
        "\n"
        "Try it on a file, from the project directory (PYTHONPATH comes from the\n"
        "config's transform.env and points at sdk/python/wiggly_transform.py):\n"
        "    wiggly test -c jobs/%s.json some.wav --out /tmp/out\n"
        "\"\"\"\n"
        "\n"
        "import json\n"
        "\n"
        "import numpy as np\n"
        "\n"
        "import wiggly_transform\n"
        "\n"
        "\n"
        "def setup():\n"
        "    \"\"\"Runs once per child before it takes work: load models here.\"\"\"\n"
        "\n"
        "\n"
        "def spectral_centroid(mono, rate, n_fft, hop):\n"
        "    frames = 1 + (len(mono) - n_fft) // hop if len(mono) >= n_fft else 0\n"
        "    out = np.zeros(frames)\n"
        "    window = np.hanning(n_fft)\n"
        "    freqs = np.arange(n_fft // 2 + 1) * (rate / n_fft)\n"
        "    view = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop]\n"
        "    for start in range(0, frames, 256):  # 256 frames at a time: bounded memory\n"
        "        mag = np.abs(np.fft.rfft(view[start:start + 256] * window, axis=1))\n"
        "        total = mag.sum(axis=1)\n"
        "        np.divide(mag @ freqs, total, out=out[start:start + 256], where=total > 0)\n"
        "    return out\n"
        "\n"
        "\n"
        "def process(audio, rate, element, params, outputs):\n"
        "    \"\"\"audio: np.ndarray (frames, channels) float32, memory-mapped.\n"
        "    Raise wiggly_transform.Permanent(\"why\") for input that can never work;\n"
        "    any other exception is retried.\"\"\"\n"
        "    n_fft, hop = params.get(\"n_fft\", 2048), params.get(\"hop\", 512)\n"
        "    if not (isinstance(n_fft, int) and isinstance(hop, int) and n_fft > 0 and hop > 0):\n"
        "        raise wiggly_transform.Permanent(f\"bad params n_fft={n_fft!r} hop={hop!r}\")\n"
        "    centroid = spectral_centroid(audio.mean(axis=1, dtype=np.float64), rate, n_fft, hop)\n"
        "    mean = float(centroid.mean()) if centroid.size else 0.0\n"
        "    np.save(outputs[\"centroid\"], centroid.astype(np.float32))\n"
        "    with open(outputs[\"summary\"], \"w\") as f:\n"
        "        json.dump({\"frames\": int(centroid.size), \"mean_centroid_hz\": mean}, f)\n"
        "    return {\"mean_centroid_hz\": mean}\n"
        "\n"
        "\n"
        "if __name__ == \"__main__\":\n"
        "    wiggly_transform.run(process, name=\"%s\", version=\"0.1\", setup=setup)\n",
        o->name, o->name, o->name);
    return sb_done(&b);
}

/* The image: wiggly's own (the repository's Dockerfile) plus Debian's Python
 * and NumPy and the transform, laid out under /opt/wiggly as in DIR so the
 * config's relative command and PYTHONPATH hold in both places. */
static char *dockerfile(const struct new_opts *o)
{
    struct sbuf b = {0};
    sb_printf(&b,
              "# syntax=docker/dockerfile:1\n"
              "# Image of job \"%s\": the wiggly image plus python3, NumPy and the\n"
              "# transform. Build from the project directory (it holds transforms/ and sdk/):\n"
              "#   docker build -t wiggly WIGGLY_SOURCE            # wiggly's own Dockerfile\n"
              "#   docker build -f transforms/%s/Dockerfile -t wiggly-%s .\n"
              "# and push it where the overlay's images: entry says. More Python packages:\n"
              "# add Debian's python3-* packages to the apt-get line (for pip packages, or a\n"
              "# GPU, see Dockerfile.cuda).\n"
              "ARG WIGGLY_IMAGE=wiggly\n"
              "FROM ${WIGGLY_IMAGE}\n"
              "USER root\n"
              "RUN apt-get update \\\n"
              " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n"
              "        python3 python3-numpy \\\n"
              " && rm -rf /var/lib/apt/lists/*\n"
              "# The job config runs [\"python3\", \"transforms/%s/transform.py\"] with\n"
              "# PYTHONPATH=sdk/python, both relative to wiggly's working directory.\n"
              "WORKDIR /opt/wiggly\n"
              "COPY sdk/python/wiggly_transform.py sdk/python/wiggly_transform.py\n"
              "COPY transforms/%s/transform.py transforms/%s/transform.py\n"
              "# The root filesystem is read-only in the pod: no .pyc files.\n"
              "ENV PYTHONDONTWRITEBYTECODE=1\n"
              "# ENTRYPOINT, CMD and STOPSIGNAL come from the wiggly image.\n"
              "USER 10001:10001\n",
              o->name, o->name, o->name, o->name, o->name, o->name);
    return sb_done(&b);
}

/* The GPU variant. The wiggly binary is built on Debian 12 (glibc 2.36), so
 * the CUDA image must be one with a glibc at least as new: Ubuntu 24.04. */
static char *dockerfile_cuda(const struct new_opts *o)
{
    struct sbuf b = {0};
    sb_printf(&b,
              "# syntax=docker/dockerfile:1\n"
              "# CUDA variant of Dockerfile, for GPU node pools (k8s/components/gpu,\n"
              "# docs/deploy.md \"GPU transforms\"): NVIDIA's CUDA runtime image, the wiggly\n"
              "# binary from the wiggly image, and PyTorch with CUDA installed by pip.\n"
              "# Unlike Dockerfile this one downloads at build time: pip fetches torch and\n"
              "# NumPy from the network, which `docker build` has by default.\n"
              "#   docker build -t wiggly WIGGLY_SOURCE            # wiggly's own Dockerfile\n"
              "#   docker build -f transforms/%s/Dockerfile.cuda -t wiggly-%s-cuda .\n"
              "# Keep CUDA_IMAGE's CUDA version, TORCH_INDEX (the CUDA build of the torch\n"
              "# wheels) and the GPU nodes' driver in step: the driver (GKE installs it) must\n"
              "# be at least as new as the CUDA version. The base must have glibc >= 2.36\n"
              "# (wiggly is built on Debian 12): Ubuntu 24.04 has 2.39, 22.04 is too old.\n"
              "# In transform.py, put the model on the GPU in setup():\n"
              "#   device = \"cuda\" if torch.cuda.is_available() else \"cpu\"\n"
              "ARG WIGGLY_IMAGE=wiggly\n"
              "ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04\n"
              "FROM ${WIGGLY_IMAGE} AS wiggly\n"
              "\n"
              "FROM ${CUDA_IMAGE}\n"
              "ARG TORCH_INDEX=https://download.pytorch.org/whl/cu126\n"
              "# wiggly's shared libraries: the packages of scripts/deps.sh --runtime (on\n"
              "# Ubuntu 24.04 apt picks their t64 builds for libcurl4, libssl3 and the like).\n"
              "RUN apt-get update \\\n"
              " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n"
              "        libsndfile1 libsoxr0 libev4 libjansson4 libcurl4 libmicrohttpd12 \\\n"
              "        libebur128-1 libssl3 ca-certificates python3 python3-venv \\\n"
              " && rm -rf /var/lib/apt/lists/*\n"
              "RUN python3 -m venv /opt/venv \\\n"
              " && /opt/venv/bin/pip install --no-cache-dir --index-url \"$TORCH_INDEX\" torch \\\n"
              " && /opt/venv/bin/pip install --no-cache-dir numpy\n"
              "ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 TMPDIR=/tmp\n"
              "COPY --from=wiggly /usr/local/bin/wiggly /usr/local/bin/wiggly\n"
              "# Fail the build here, not in the pod, if a library is missing.\n"
              "RUN ! ldd /usr/local/bin/wiggly | grep 'not found' && wiggly version\n"
              "RUN groupadd --system --gid 10001 wiggly \\\n"
              " && useradd --system --uid 10001 --gid 10001 --no-create-home \\\n"
              "        --home-dir /nonexistent --shell /usr/sbin/nologin wiggly\n"
              "WORKDIR /opt/wiggly\n"
              "COPY sdk/python/wiggly_transform.py sdk/python/wiggly_transform.py\n"
              "COPY transforms/%s/transform.py transforms/%s/transform.py\n"
              "USER 10001:10001\n"
              "EXPOSE 8080\n"
              "STOPSIGNAL SIGTERM\n"
              "ENTRYPOINT [\"wiggly\"]\n"
              "CMD [\"run\", \"-c\", \"/etc/wiggly/job.json\"]\n",
              o->name, o->name, o->name, o->name);
    return sb_done(&b);
}

static int parse_args(int argc, char **argv, struct new_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->dir = ".";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--parent")) {
            slot = &o->parent;
        } else if (!strcmp(a, "--project")) {
            slot = &o->project;
        } else if (!strcmp(a, "--bucket")) {
            slot = &o->bucket;
        } else if (!strcmp(a, "--dir")) {
            slot = &o->dir;
        } else if (!strcmp(a, "--transform")) {
            slot = &o->transform;
        } else if (a[0] == '-') {
            fprintf(stderr, "wiggly new: unknown option '%s' (see wiggly new --help)\n", a);
            return -1;
        } else if (o->name) {
            fprintf(stderr, "wiggly new: one job name only ('%s' and '%s')\n", o->name, a);
            return -1;
        } else {
            o->name = a;
            continue;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0' || !strncmp(argv[i + 1], "--", 2)) {
            fprintf(stderr, "wiggly new: %s needs a value\n", a);
            return -1;
        }
        *slot = argv[++i];
    }
    if (!o->name) {
        fprintf(stderr, "wiggly new: missing the job name (see wiggly new --help)\n");
        return -1;
    }
    if (name_check("job name", o->name) != 0)
        return -1;
    if (o->parent && name_check("parent job", o->parent) != 0)
        return -1;
    if (o->parent && !strcmp(o->parent, o->name)) {
        fprintf(stderr, "wiggly new: a job cannot be its own parent\n");
        return -1;
    }
    if (o->transform && strcmp(o->transform, "python") != 0) {
        fprintf(stderr,
                "wiggly new: --transform '%s': the scaffold is for python only (any language"
                " speaks the protocol, docs/transforms.md)\n",
                o->transform);
        return -1;
    }
    if (o->project && project_check(o->project) != 0)
        return -1;
    if (o->bucket && bucket_check(o->bucket) != 0)
        return -1;
    return 0;
}

int cli_new(int argc, char **argv)
{
    struct new_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    const char *proj = o.project ? o.project : "${GOOGLE_CLOUD_PROJECT}";
    const char *bucket = o.bucket ? o.bucket : "${BUCKET}";
    struct new_parent par = {0};
    if (o.parent && parent_load(&o, proj, bucket, &par) != 0)
        return 1;

    char overlay[NEW_PATH_MAX], jobs[NEW_PATH_MAX], link[NEW_PATH_MAX], base[NEW_PATH_MAX];
    if (path_fmt(overlay, "%s/k8s/overlays/%s", o.dir, o.name) != 0 ||
        path_fmt(jobs, "%s/jobs", o.dir) != 0 ||
        path_fmt(link, "%s/jobs/%s.json", o.dir, o.name) != 0 ||
        path_fmt(base, "%s/k8s/base/kustomization.yaml", o.dir) != 0)
        return 2;

    char tdir[NEW_PATH_MAX], sdk[NEW_PATH_MAX];
    if (path_fmt(tdir, "%s/transforms/%s", o.dir, o.name) != 0 ||
        path_fmt(sdk, "%s/sdk/python/wiggly_transform.py", o.dir) != 0)
        return 2;
    /* The overlay's files, then (--transform) the transform's. */
    static const char *const names[] = {"job.json",     "kustomization.yaml", "pubsub.yaml",
                                        "scaling.yaml", "scaling-hpa.yaml",   "transform.py",
                                        "Dockerfile",   "Dockerfile.cuda"};
    enum { N_OVERLAY = 5, N_MAX = sizeof(names) / sizeof(names[0]) };
    const int n_files = o.transform ? N_MAX : N_OVERLAY;
    char paths[N_MAX][NEW_PATH_MAX];
    char *texts[N_MAX] = {0};
    for (int i = 0; i < n_files; i++)
        if (path_fmt(paths[i], "%s/%s", i < N_OVERLAY ? overlay : tdir, names[i]) != 0)
            return 2;

    /* Refuse before writing anything. */
    int clash = 0;
    for (int i = 0; i < n_files; i++)
        if (exists(paths[i])) {
            fprintf(stderr, "wiggly new: %s already exists; not overwriting\n", paths[i]);
            clash = 1;
        }
    if (exists(link)) {
        fprintf(stderr, "wiggly new: %s already exists; not overwriting\n", link);
        clash = 1;
    }
    if (clash)
        return 1;

    texts[0] = job_json(&o, proj, bucket, &par);
    texts[1] = kustomization_yaml(&o);
    texts[2] = pubsub_yaml(&o);
    texts[3] = scaling_yaml(&o, 0);
    texts[4] = scaling_yaml(&o, 1);
    if (o.transform) {
        texts[5] = transform_py(&o);
        texts[6] = dockerfile(&o);
        texts[7] = dockerfile_cuda(&o);
    }
    rc = 0;
    for (int i = 0; i < n_files; i++)
        if (!texts[i]) {
            fprintf(stderr, "wiggly new: out of memory\n");
            rc = 1;
            goto out;
        }
    if (mkdirs(overlay) != 0 || mkdirs(jobs) != 0 || (o.transform && mkdirs(tdir) != 0)) {
        rc = 1;
        goto out;
    }
    for (int i = 0; i < n_files; i++)
        if (file_write_new(paths[i], texts[i]) != 0) {
            rc = 1;
            goto out;
        }
    char target[NEW_PATH_MAX];
    if (path_fmt(target, "../k8s/overlays/%s/job.json", o.name) != 0) {
        rc = 1;
        goto out;
    }
    if (symlink(target, link) != 0) {
        fprintf(stderr, "wiggly new: cannot create %s: %s\n", link, strerror(errno));
        rc = 1;
        goto out;
    }

    printf("wiggly new: %sjob '%s'%s%s\n", o.transform ? "transform " : "", o.name,
           o.parent ? ", child of " : "", o.parent ? o.parent : "");
    for (int i = 0; i < n_files; i++)
        printf("  wrote %s\n", paths[i]);
    printf("  linked %s -> %s\n", link, target);
    if (o.parent && !par.found)
        printf("note: no config of '%s' in %s/jobs/ or %s/k8s/overlays/: assumed it is a\n"
               "      root job (input topic %s, output %s*%s);\n"
               "      edit parent.topic and input in the config if not\n",
               o.parent, o.dir, o.dir, par.topic, par.location, par.suffix);
    if (!exists(base))
        printf("note: %s not found: copy k8s/base (and k8s/components) from wiggly's source\n",
               base);
    if (o.transform && !exists(sdk))
        printf("note: %s not found: copy sdk/python from wiggly's source (the job's\n"
               "      PYTHONPATH and the Dockerfiles use it)\n",
               sdk);
    if (o.transform)
        printf("next: edit process() in %s/transform.py and \"outputs\" in %s;\n"
               "      try it from %s: wiggly test -c jobs/%s.json FILE --out /tmp/out\n"
               "      build the image: docker build -f transforms/%s/Dockerfile -t wiggly-%s %s\n"
               "      add ../overlays/%s to your graph's kustomization, then:\n"
               "      kubectl kustomize %s\n",
               tdir, link, o.dir, o.name, o.name, o.name, o.dir, o.name, overlay);
    else
        printf("next: edit \"steps\" in %s, add ../overlays/%s to your graph's kustomization,\n"
               "      then: kubectl kustomize %s\n",
               link, o.name, overlay);
out:
    for (int i = 0; i < n_files; i++)
        free(texts[i]);
    return rc;
}
