/* publish.c: `wiggly publish`: send track IDs to a job's input topic,
 * top-down (recipients anyone) or bottom-up (limited to this job, so the job
 * triggers its parent for missing inputs). IDs come from arguments, a file
 * (or stdin), or a storage listing (like klay_beam's MatchFiles: every
 * object under a location whose name ends in the suffix, turned into an
 * element by stripping the location and the suffix). */
#include <dirent.h>
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
#include "service/message.h"
#include "service/storage.h"
#include "service/sync.h"

#define BATCH 1000

struct idlist {
    char **v;
    size_t n, cap;
};

static int ids_add(struct idlist *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strndup(s, len)))
        return -1;
    l->n++;
    return 0;
}

static void ids_free(struct idlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static void pub_usage(FILE *f)
{
    fprintf(f, "usage: wiggly publish -c JOB.json [--force] [--ping] [--top-down|--bottom-up]\n"
               "                      [--topic TOPIC]\n"
               "                      (ID... | --from-file FILE|- | --from-storage LOCATION "
               "[--suffix S])\n\n"
               "Publish track IDs to the job's input topic (the topic of its subscription, or\n"
               "--topic). Top-down (default): recipients anyone, the job and its children run.\n"
               "Bottom-up: recipients limited to this job, which triggers its parent for\n"
               "missing inputs. --from-storage lists gs://bucket/prefix/ or file:///dir/ and\n"
               "turns every object name ending in the suffix (default: the job's input\n"
               "suffix) into an element.\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wiggly publish: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try wiggly publish --help)\n");
    return 2;
}

static int read_file_ids(const char *path, struct idlist *l)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (!f) {
        fprintf(stderr, "wiggly publish: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + n;
        while (s < e && strchr(" \t\r\n", *s))
            s++;
        while (e > s && strchr(" \t\r\n", e[-1]))
            e--;
        if (s < e && *s != '#' && ids_add(l, s, (size_t)(e - s)) != 0)
            break;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int add_name(struct idlist *l, const char *rel, const char *suffix)
{
    size_t n = strlen(rel), k = strlen(suffix);
    if (!ends_with(rel, suffix) || n == k)
        return 0;
    return ids_add(l, rel, n - k);
}

static int walk_dir(const char *root, const char *rel, const char *suffix, struct idlist *l)
{
    char path[4096];
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof(path), "%s%s", root, rel);
    if (!(d = opendir(path))) {
        fprintf(stderr, "wiggly publish: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        struct stat sb;
        if (e->d_name[0] == '.') /* also skips in-progress .name.wiggly-XXXXXX files */
            continue;
        snprintf(sub, sizeof(sub), "%s%s", rel, e->d_name);
        snprintf(path, sizeof(path), "%s%s", root, sub);
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            strncat(sub, "/", sizeof(sub) - strlen(sub) - 1);
            walk_dir(root, sub, suffix, l);
        } else if (S_ISREG(sb.st_mode)) {
            add_name(l, sub, suffix);
        }
    }
    closedir(d);
    return 0;
}

struct listing {
    int done, failed;
    char *next;
    struct idlist *l;
    const char *prefix, *suffix;
};

static void on_list(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *objs,
                    size_t n, const char *const *prefixes, size_t n_prefixes, const char *next)
{
    struct listing *ls = ud;
    size_t plen = strlen(ls->prefix);
    (void)prefixes;
    (void)n_prefixes;
    ls->done = 1;
    free(ls->next);
    ls->next = NULL;
    if (err) {
        fprintf(stderr, "wiggly publish: listing failed: %s\n",
                err->msg[0] ? err->msg : gcp_strerror(err->code));
        ls->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!strncmp(objs[i].name, ls->prefix, plen))
            add_name(ls->l, objs[i].name + plen, ls->suffix);
    if (next)
        ls->next = strdup(next);
}

static int list_storage(struct svc_sync *s, const char *loc, const char *suffix, struct idlist *l)
{
    if (svc_url_kind(loc) == SVC_URL_FILE) {
        char root[4096];
        snprintf(root, sizeof(root), "%s%s", loc + 7, ends_with(loc, "/") ? "" : "/");
        return walk_dir(root, "", suffix, l);
    }
    if (svc_url_kind(loc) == SVC_URL_GS) {
        char bucket[256];
        const char *prefix;
        struct listing ls = {.l = l, .suffix = suffix};
        svc_url_gs_split(loc, bucket, &prefix);
        ls.prefix = prefix;
        do {
            char *tok = ls.next;
            ls.done = 0;
            ls.next = NULL;
            if (gcp_gcs_list(s->cloud.gcs, bucket, prefix, NULL, tok, 1000, on_list, &ls) != 0) {
                free(tok);
                return -1;
            }
            free(tok);
            if (svc_sync_wait(s, &ls.done, 300) != 0 || ls.failed) {
                free(ls.next);
                return -1;
            }
        } while (ls.next);
        return 0;
    }
    fprintf(stderr, "wiggly publish: '%s' is not gs://bucket/prefix/ or file:///dir/\n", loc);
    return -1;
}

struct pubwait {
    int done;
    struct gcp_error err;
};

static void on_published(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    struct pubwait *w = ud;
    (void)ids;
    (void)n;
    if (err)
        w->err = *err;
    w->done = 1;
}

int cli_publish(int argc, char **argv)
{
    const char *config = NULL, *from_file = NULL, *from_storage = NULL, *suffix = NULL,
               *topic_arg = NULL;
    int force = 0, ping = 0, bottom_up = 0, rc = 1;
    struct idlist ids = {0};
    struct cfg_job *cfg = NULL;
    struct cfg_error cerr = {0};
    struct svc_sync s;
    struct svc_error err = {0};
    char topic[512];
    size_t sent = 0;

    memset(&s, 0, sizeof(s));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            pub_usage(stdout);
            ids_free(&ids);
            return 0;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--ping")) {
            ping = 1;
        } else if (!strcmp(a, "--top-down")) {
            bottom_up = 0;
        } else if (!strcmp(a, "--bottom-up")) {
            bottom_up = 1;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--from-file") ||
                   !strcmp(a, "--from-storage") || !strcmp(a, "--suffix") ||
                   !strcmp(a, "--topic")) {
            if (i + 1 >= argc) {
                ids_free(&ids);
                return usage_error("%s needs a value", a);
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--from-file"))
                from_file = v;
            else if (!strcmp(a, "--from-storage"))
                from_storage = v;
            else if (!strcmp(a, "--suffix"))
                suffix = v;
            else if (!strcmp(a, "--topic"))
                topic_arg = v;
            else
                config = v;
        } else if (a[0] == '-' && a[1]) {
            ids_free(&ids);
            return usage_error("unknown option '%s'", a);
        } else if (ids_add(&ids, a, strlen(a)) != 0) {
            ids_free(&ids);
            return 1;
        }
    }
    if (!config) {
        ids_free(&ids);
        return usage_error("%s", "-c JOB.json is required");
    }
    if ((ids.n > 0) + !!from_file + !!from_storage != 1) {
        ids_free(&ids);
        return usage_error("%s", "give IDs, --from-file or --from-storage (exactly one)");
    }
    if (suffix && !from_storage) {
        ids_free(&ids);
        return usage_error("%s", "--suffix goes with --from-storage");
    }
    gcp_http_global_init();
    json_object_seed(0);
    if (cfg_load(config, &cfg, &cerr) != 0) {
        fprintf(stderr, "wiggly publish: %s\n", cerr.msg);
        rc = 2;
        goto out;
    }
    if (!topic_arg && cfg->events.kind != CFG_EVENTS_PUBSUB) {
        fprintf(stderr, "wiggly publish: the job reads events from a file; give --topic\n");
        rc = 2;
        goto out;
    }
    if (svc_sync_init(&s, 1, from_storage && svc_url_kind(from_storage) == SVC_URL_GS, &err) != 0) {
        fprintf(stderr, "wiggly publish: %s\n", err.msg);
        goto out;
    }
    if (from_file && read_file_ids(from_file, &ids) != 0)
        goto out;
    if (from_storage && list_storage(&s, from_storage, suffix ? suffix : cfg->input.suffix, &ids))
        goto out;
    if (topic_arg)
        snprintf(topic, sizeof(topic), "%s", topic_arg);
    else {
        struct svc_sync_sub sub;
        if (svc_sync_sub_get(&s, cfg->events.subscription, &sub, &err) != 0) {
            fprintf(stderr, "wiggly publish: cannot find the input topic: %s\n", err.msg);
            goto out;
        }
        snprintf(topic, sizeof(topic), "%s", sub.topic);
    }
    for (size_t i = 0; i < ids.n; i += BATCH) {
        size_t n = ids.n - i < BATCH ? ids.n - i : BATCH;
        struct gcp_pubsub_message *m = calloc(n, sizeof(*m));
        char **texts = calloc(n, sizeof(*texts));
        struct pubwait w = {0};
        int ok = m && texts;
        for (size_t k = 0; ok && k < n; k++) {
            char *job = cfg->name;
            struct svc_message msg = {.element = ids.v[i + k],
                                      .force = force,
                                      .ping = ping,
                                      .limited = bottom_up,
                                      .recipients = bottom_up ? &job : NULL,
                                      .n_recipients = bottom_up ? 1 : 0};
            size_t len;
            texts[k] = svc_message_encode(&msg, &len);
            if (!texts[k])
                ok = 0;
            else {
                m[k].data = texts[k];
                m[k].len = len;
            }
        }
        if (ok && gcp_pubsub_publish(s.cloud.pubsub, topic, m, n, on_published, &w) == 0 &&
            svc_sync_wait(&s, &w.done, 600) == 0 && !w.err.code)
            sent += n;
        else
            ok = 0;
        for (size_t k = 0; texts && k < n; k++)
            free(texts[k]);
        free(texts);
        free(m);
        if (!ok) {
            fprintf(stderr, "wiggly publish: publish to %s failed after %zu messages: %s\n", topic,
                    sent, w.err.msg[0] ? w.err.msg : "could not start");
            goto out;
        }
    }
    printf("published %zu %s%s%s messages to %s\n", sent, bottom_up ? "bottom-up" : "top-down",
           force ? " forced" : "", ping ? " ping" : "", topic);
    rc = 0;
out:
    svc_sync_cleanup(&s);
    cfg_job_destroy(cfg);
    ids_free(&ids);
    gcp_http_global_cleanup();
    return rc;
}
