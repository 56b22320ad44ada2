/* load.c: job config file -> struct cfg_job (the format of docs/config.md).
 *
 * jansson parses the text (syntax errors come with its line and column);
 * config/pos.c then indexes the position of every key and value so that each
 * semantic error (unknown key, wrong type, bad value, missing key) is reported
 * as "file:line:col: message" too. String values go through ${VAR} and
 * ${VAR:-default} substitution before they are validated. Every value is
 * checked here, once, so the service can trust the struct; locations only
 * for their generic syntax (see normalize_location): the storage schemes
 * check the rest. The defaults of the analysis arrays and the picture are
 * the audio library's (audio_array_spec_init, audio_plot_spec_init), read
 * from it so that they are written once. No globals, no locks: thread-safe. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audio/audio.h"
#include "config/pos_int.h"

#define CFG_FILE_MAX   (1024 * 1024) /* a config is a few hundred bytes */
#define CFG_STRING_MAX 4096          /* after substitution */
#define CFG_TOPICS_MAX 100
#define PATH_MAX_LEN   256

struct ctx {
    const char *name;
    struct cfg_pos_index ix;
    struct cfg_error *err;
    struct cfg_job *job;
};

static void set_error(struct cfg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct cfg_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* Reports "name:line:col: message" at the key (at_key) or the value of path.
 * A path missing from the text (a missing key) falls back to its parent. */
static int fail(struct ctx *c, const char *path, int at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ctx *c, const char *path, int at_key, const char *fmt, ...)
{
    char text[400];
    char p[PATH_MAX_LEN];
    const struct cfg_pos *pos = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(p, sizeof(p), "%s", path);
    for (;;) {
        pos = cfg__pos_index_find(&c->ix, p);
        if (pos || !*p)
            break;
        char *cut = strrchr(p, '.');
        char *br = strrchr(p, '[');
        if (br && (!cut || br > cut))
            cut = br;
        if (cut)
            *cut = '\0';
        else
            *p = '\0';
        at_key = 0;
    }
    int line = pos ? (at_key ? pos->key_line : pos->line) : 1;
    int col = pos ? (at_key ? pos->key_col : pos->col) : 1;
    set_error(c->err, CFG_EINVALID, "%s:%d:%d: %s", c->name, line, col, text);
    return CFG_EINVALID;
}

static void join(char *out, const char *parent, const char *key)
{
    /* Paths are short (keys and names are checked); a longer one is cut. */
    if (snprintf(out, PATH_MAX_LEN, "%s%s%s", parent, *parent ? "." : "", key) < 0)
        out[0] = '\0';
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* ---- generic checks ---------------------------------------------------- */

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return 1;
    return 0;
}

/* A '/'-separated path with no "." or ".." segment and no empty segment
 * (except a trailing one). */
static int bad_segments(const char *s)
{
    const char *seg = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 1;
            if (n == 0 && *p == '/')
                return 1;
            if (*p == '\0')
                return 0;
            seg = p + 1;
        }
    }
}

static int check_job_name(const char *s, char *why, size_t n)
{
    size_t len = strlen(s);
    if (len < 1 || len > 63) {
        snprintf(why, n, "must be 1 to 63 characters, got %zu", len);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
            snprintf(why, n, "may only contain letters, digits, '-' and '_'");
            return -1;
        }
    }
    return 0;
}

/* docs/gcp.md "Resource names": projects/P/{topics,subscriptions}/N with N
 * starting with a letter, [A-Za-z0-9-_.~+%], 3..255 characters, not starting
 * with "goog". */
static int check_resource(const char *s, const char *kind, char *why, size_t n)
{
    if (strncmp(s, "projects/", 9) != 0 || !s[9] || s[9] == '/') {
        snprintf(why, n, "must be projects/PROJECT/%s/NAME", kind);
        return -1;
    }
    const char *proj = s + 9;
    const char *slash = strchr(proj, '/');
    size_t kl = strlen(kind);
    if (!slash || strncmp(slash + 1, kind, kl) != 0 || slash[1 + kl] != '/') {
        snprintf(why, n, "must be projects/PROJECT/%s/NAME", kind);
        return -1;
    }
    for (const char *p = proj; p < slash; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7F) {
            snprintf(why, n, "project part contains a space or control character");
            return -1;
        }
    }
    const char *id = slash + 2 + kl;
    size_t len = strlen(id);
    if (len < 3 || len > 255) {
        snprintf(why, n, "name part must be 3 to 255 characters");
        return -1;
    }
    if (!isalpha((unsigned char)id[0])) {
        snprintf(why, n, "name part must start with a letter");
        return -1;
    }
    if (strncmp(id, "goog", 4) == 0) {
        snprintf(why, n, "name part must not start with \"goog\"");
        return -1;
    }
    for (const char *p = id; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("-_.~+%", *p)) {
            snprintf(why, n, "name part may only contain letters, digits and -_.~+%%");
            return -1;
        }
    }
    return 0;
}

/* SCHEME://AUTHORITY/PATH, checked only for the syntax every storage scheme
 * shares; a '/' is appended if missing. Which schemes exist and their own
 * rules (GCS bucket names, file:// absolute paths, name lengths) belong to
 * the service's storage schemes (service/storage_gs.c, storage_file.c),
 * which check a job's locations when it starts (svc_roots_validate):
 * config/ does not depend on service/. The schemes named in the message
 * are examples. */
static int normalize_location(char **loc, char *why, size_t n)
{
    const char *s = *loc, *p = s, *path;
    if (has_control(s) || strchr(s, '?') || strchr(s, '#')) {
        snprintf(why, n, "must not contain control characters, '?' or '#'");
        return -1;
    }
    while ((*p >= 'a' && *p <= 'z') ||
           (p > s && ((*p >= '0' && *p <= '9') || (*p && strchr("+-.", *p)))))
        p++;
    if (p == s || strncmp(p, "://", 3) != 0) {
        snprintf(why, n, "must start with gs://bucket/ or file:///");
        return -1;
    }
    path = strchr(p + 3, '/');
    if (path && path[1] && bad_segments(path + 1)) {
        snprintf(why, n, "path must not contain empty, \".\" or \"..\" segments");
        return -1;
    }
    size_t len = strlen(s);
    if (s[len - 1] != '/') {
        char *t = realloc(*loc, len + 2);
        if (!t) {
            snprintf(why, n, "out of memory");
            return -1;
        }
        t[len] = '/';
        t[len + 1] = '\0';
        *loc = t;
    }
    return 0;
}

/* ---- ${VAR} substitution ----------------------------------------------- */

static int substitute(struct ctx *c, const char *path, const char *in, char **out)
{
    size_t cap = strlen(in) + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return fail(c, path, 0, "out of memory");

    for (const char *p = in; *p;) {
        const char *add;
        size_t addn;
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                free(buf);
                return fail(c, path, 0, "\"%s\": unterminated ${ in \"%s\"", path, in);
            }
            const char *name = p + 2;
            const char *dflt = NULL;
            const char *colon = strstr(name, ":-");
            size_t nlen = (size_t)(end - name);
            if (colon && colon < end) {
                nlen = (size_t)(colon - name);
                dflt = colon + 2;
            }
            char var[128];
            int ok = nlen > 0 && nlen < sizeof(var) &&
                     (isalpha((unsigned char)name[0]) || name[0] == '_');
            for (size_t i = 0; ok && i < nlen; i++)
                ok = isalnum((unsigned char)name[i]) || name[i] == '_';
            if (!ok) {
                free(buf);
                return fail(c, path, 0, "\"%s\": bad variable name in \"%.*s\"", path,
                            (int)(end - p + 1), p);
            }
            memcpy(var, name, nlen);
            var[nlen] = '\0';
            const char *val = getenv(var);
            if (dflt && (!val || !*val)) {
                add = dflt;
                addn = (size_t)(end - dflt);
            } else if (val) {
                add = val;
                addn = strlen(val);
            } else {
                free(buf);
                return fail(c, path, 0,
                            "\"%s\": environment variable %s is not set (use ${%s:-default})", path,
                            var, var);
            }
            p = end + 1;
        } else {
            add = p;
            addn = 1;
            p++;
        }
        if (n + addn + 1 > CFG_STRING_MAX) {
            free(buf);
            return fail(c, path, 0, "\"%s\": value longer than %d bytes after substitution", path,
                        CFG_STRING_MAX);
        }
        if (n + addn + 1 > cap) {
            size_t ncap = (n + addn + 1) * 2;
            char *t = realloc(buf, ncap);
            if (!t) {
                free(buf);
                return fail(c, path, 0, "out of memory");
            }
            buf = t;
            cap = ncap;
        }
        memcpy(buf + n, add, addn);
        n += addn;
    }
    buf[n] = '\0';
    /* jansson validates UTF-8 when it makes a string; an environment
     * variable may hold anything. */
    json_t *check = strlen(buf) == n ? json_stringn(buf, n) : NULL;
    int valid = check != NULL;
    json_decref(check);
    if (!valid) {
        free(buf);
        return fail(c, path, 0, "\"%s\": value is not valid UTF-8 after substitution", path);
    }
    *out = buf;
    return 0;
}

/* ---- typed member access ----------------------------------------------- */

static int check_keys(struct ctx *c, json_t *obj, const char *opath, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            char p[PATH_MAX_LEN];
            join(p, opath, key);
            if (*opath)
                return fail(c, p, 1, "unknown key \"%s\" in \"%s\"", key, opath);
            return fail(c, p, 1, "unknown key \"%s\"", key);
        }
    }
    return 0;
}

/* The member key of obj, type-checked; *out = NULL when absent. */
static int member(struct ctx *c, json_t *obj, const char *opath, const char *key, int required,
                  json_type want, const char *want_name, json_t **out)
{
    char p[PATH_MAX_LEN];
    json_t *v = json_object_get(obj, key);
    join(p, opath, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(c, opath, 0, "missing required key \"%s\"", p);
        return 0;
    }
    int ok = json_typeof(v) == want || (want == JSON_TRUE && json_is_boolean(v)) ||
             (want == JSON_REAL && json_is_number(v));
    if (!ok)
        return fail(c, p, 0, "\"%s\" must be %s, not %s", p, want_name, type_name(v));
    *out = v;
    return 0;
}

static int get_object(struct ctx *c, json_t *obj, const char *opath, const char *key, int required,
                      json_t **out)
{
    return member(c, obj, opath, key, required, JSON_OBJECT, "an object", out);
}

static int str_value(struct ctx *c, json_t *v, const char *path, char **out)
{
    char *s = NULL;
    int rc = substitute(c, path, json_string_value(v), &s);
    if (rc < 0)
        return rc;
    free(*out);
    *out = s;
    return 0;
}

/* Leaves *out untouched when the key is absent. */
static int get_string(struct ctx *c, json_t *obj, const char *opath, const char *key, int required,
                      char **out)
{
    json_t *v;
    char p[PATH_MAX_LEN];
    int rc = member(c, obj, opath, key, required, JSON_STRING, "a string", &v);
    if (rc < 0 || !v)
        return rc;
    join(p, opath, key);
    return str_value(c, v, p, out);
}

static int get_int(struct ctx *c, json_t *obj, const char *opath, const char *key, long long lo,
                   long long hi, int *out)
{
    json_t *v;
    char p[PATH_MAX_LEN];
    int rc = member(c, obj, opath, key, 0, JSON_INTEGER, "an integer", &v);
    if (rc < 0 || !v)
        return rc;
    join(p, opath, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(c, p, 0, "\"%s\" must be between %lld and %lld, got %lld", p, lo, hi,
                    (long long)x);
    *out = (int)x;
    return 0;
}

static int get_bool(struct ctx *c, json_t *obj, const char *opath, const char *key, int *out)
{
    json_t *v;
    int rc = member(c, obj, opath, key, 0, JSON_TRUE, "true or false", &v);
    if (rc < 0 || !v)
        return rc;
    *out = json_is_true(v);
    return 0;
}

static int get_enum(struct ctx *c, json_t *obj, const char *opath, const char *key,
                    const char *const *values, char **out)
{
    char p[PATH_MAX_LEN];
    char *s = NULL;
    int rc = get_string(c, obj, opath, key, 0, &s);
    if (rc < 0 || !s)
        return rc;
    join(p, opath, key);
    for (const char *const *v = values; *v; v++) {
        if (strcmp(*v, s) == 0) {
            free(*out);
            *out = s;
            return 0;
        }
    }
    char list[200] = "";
    for (const char *const *v = values; *v; v++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s\"%s\"", l ? ", " : "", *v);
    }
    rc = fail(c, p, 0, "\"%s\" must be one of %s, got \"%s\"", p, list, s);
    free(s);
    return rc;
}

/* A topic or subscription: a full path, or a bare name expanded with the
 * job's project. */
static int get_resource(struct ctx *c, json_t *v, const char *path, const char *kind, char **out)
{
    char why[300];
    char *s = NULL;
    int rc = str_value(c, v, path, &s);
    if (rc < 0)
        return rc;
    if (!strchr(s, '/') && c->job->project) {
        size_t n = strlen(c->job->project) + strlen(kind) + strlen(s) + 16;
        char *full = malloc(n);
        if (!full) {
            free(s);
            return fail(c, path, 0, "out of memory");
        }
        snprintf(full, n, "projects/%s/%s/%s", c->job->project, kind, s);
        free(s);
        s = full;
    }
    if (check_resource(s, kind, why, sizeof(why)) < 0) {
        rc = fail(c, path, 0, "\"%s\": \"%s\" %s%s", path, s, why,
                  strchr(s, '/') || c->job->project ? "" : " (or set \"project\")");
        free(s);
        return rc;
    }
    free(*out);
    *out = s;
    return 0;
}

static int get_location(struct ctx *c, json_t *obj, const char *opath, const char *key,
                        int required, char **out)
{
    char p[PATH_MAX_LEN], why[300];
    char *s = NULL;
    int rc = get_string(c, obj, opath, key, required, &s);
    if (rc < 0 || !s)
        return rc;
    join(p, opath, key);
    if (normalize_location(&s, why, sizeof(why)) < 0) {
        rc = fail(c, p, 0, "\"%s\": \"%s\" %s", p, s, why);
        free(s);
        return rc;
    }
    free(*out);
    *out = s;
    return 0;
}

static int get_suffix(struct ctx *c, json_t *obj, const char *opath, const char *key, char **out)
{
    char p[PATH_MAX_LEN];
    json_t *v;
    int rc = member(c, obj, opath, key, 0, JSON_STRING, "a string", &v);
    if (rc < 0 || !v)
        return rc;
    join(p, opath, key);
    if ((rc = str_value(c, v, p, out)) < 0)
        return rc;
    if (strchr(*out, '/') || strchr(*out, '?') || strchr(*out, '#') || has_control(*out) ||
        strlen(*out) > 64)
        return fail(c, p, 0,
                    "\"%s\" must be at most 64 characters without '/', '?', '#' or control "
                    "characters",
                    p);
    return 0;
}

/* ---- sections ---------------------------------------------------------- */

static int load_events(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"subscription", "file", NULL};
    json_t *ev, *sub, *file;
    int rc;
    if ((rc = get_object(c, root, "", "events", 1, &ev)) < 0 ||
        (rc = check_keys(c, ev, "events", keys)) < 0)
        return rc;
    if ((rc = member(c, ev, "events", "subscription", 0, JSON_STRING, "a string", &sub)) < 0 ||
        (rc = member(c, ev, "events", "file", 0, JSON_STRING, "a string", &file)) < 0)
        return rc;
    if (!sub == !file)
        return fail(c, "events", 0,
                    "\"events\" must have exactly one of \"subscription\" or \"file\"");
    if (sub) {
        c->job->events.kind = CFG_EVENTS_PUBSUB;
        return get_resource(c, sub, "events.subscription", "subscriptions",
                            &c->job->events.subscription);
    }
    c->job->events.kind = CFG_EVENTS_FILE;
    if ((rc = str_value(c, file, "events.file", &c->job->events.file)) < 0)
        return rc;
    if (!*c->job->events.file)
        return fail(c, "events.file", 0, "\"events.file\" must not be empty (\"-\" = stdin)");
    return 0;
}

static int load_io(struct ctx *c, json_t *root)
{
    static const char *const in_keys[] = {"location", "suffix", NULL};
    static const char *const out_keys[] = {"location", "suffix", "topics", "audio", NULL};
    struct cfg_job *j = c->job;
    json_t *in, *out, *topics;
    int rc;

    if ((rc = get_object(c, root, "", "input", 1, &in)) < 0 ||
        (rc = check_keys(c, in, "input", in_keys)) < 0 ||
        (rc = get_location(c, in, "input", "location", 1, &j->input.location)) < 0 ||
        (rc = get_suffix(c, in, "input", "suffix", &j->input.suffix)) < 0)
        return rc;
    if ((rc = get_object(c, root, "", "output", 1, &out)) < 0 ||
        (rc = check_keys(c, out, "output", out_keys)) < 0 ||
        (rc = get_location(c, out, "output", "location", 1, &j->output.location)) < 0 ||
        (rc = get_suffix(c, out, "output", "suffix", &j->output.suffix)) < 0)
        return rc;
    if ((rc = member(c, out, "output", "topics", 0, JSON_ARRAY, "an array of topics", &topics)) < 0)
        return rc;
    if (topics) {
        size_t n = json_array_size(topics);
        if (n > CFG_TOPICS_MAX)
            return fail(c, "output.topics", 0, "\"output.topics\" has more than %d topics",
                        CFG_TOPICS_MAX);
        j->output_topics = calloc(n ? n : 1, sizeof(char *));
        if (!j->output_topics)
            return fail(c, "output.topics", 0, "out of memory");
        for (size_t k = 0; k < n; k++) {
            char p[PATH_MAX_LEN];
            json_t *t = json_array_get(topics, k);
            snprintf(p, sizeof(p), "output.topics[%zu]", k);
            if (!json_is_string(t))
                return fail(c, p, 0, "\"%s\" must be a string, not %s", p, type_name(t));
            if ((rc = get_resource(c, t, p, "topics", &j->output_topics[k])) < 0)
                return rc;
            j->n_output_topics = k + 1;
        }
    }
    return 0;
}

static int load_parent(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"job", "topic", NULL};
    json_t *par, *topic;
    char why[200];
    int rc;
    if ((rc = get_object(c, root, "", "parent", 0, &par)) < 0 || !par)
        return rc;
    if ((rc = check_keys(c, par, "parent", keys)) < 0 ||
        (rc = get_string(c, par, "parent", "job", 1, &c->job->parent.name)) < 0)
        return rc;
    if (check_job_name(c->job->parent.name, why, sizeof(why)) < 0)
        return fail(c, "parent.job", 0, "\"parent.job\" %s", why);
    if (strcmp(c->job->parent.name, c->job->name) == 0)
        return fail(c, "parent.job", 0, "\"parent.job\" must not be the job itself");
    if ((rc = member(c, par, "parent", "topic", 1, JSON_STRING, "a string", &topic)) < 0)
        return rc;
    return get_resource(c, topic, "parent.topic", "topics", &c->job->parent.topic);
}

static int rate_in(int rate, const int *list)
{
    for (; *list; list++)
        if (*list == rate)
            return 1;
    return 0;
}

static int load_steps(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"channels", "rate",        "quality",      "format",
                                       "bits",     "vbr_quality", "bitrate_kbps", NULL};
    static const char *const qualities[] = {"quick", "low", "medium", "high", "very-high", NULL};
    static const char *const formats[] = {"wav", "flac", "ogg", "opus", "mp3", NULL};
    static const int opus_rates[] = {8000, 12000, 16000, 24000, 48000, 0};
    static const int mp3_rates[] = {8000,  11025, 12000, 16000, 22050,
                                    24000, 32000, 44100, 48000, 0};
    struct cfg_job *j = c->job;
    json_t *st, *ch, *vq;
    int rc;

    if ((rc = get_object(c, root, "", "steps", 0, &st)) < 0 || !st)
        return rc;
    if ((rc = check_keys(c, st, "steps", keys)) < 0)
        return rc;
    ch = json_object_get(st, "channels");
    if (ch && json_is_integer(ch)) {
        if ((rc = get_int(c, st, "steps", "channels", 0, 255, &j->steps.select_channel)) < 0)
            return rc;
        j->steps.channels = CFG_CH_SELECT;
    } else if (ch && json_is_string(ch)) {
        static const char *const names[] = {"keep", "mono", "stereo", NULL};
        char *s = NULL;
        if ((rc = get_enum(c, st, "steps", "channels", names, &s)) < 0)
            return rc;
        j->steps.channels = strcmp(s, "keep") == 0   ? CFG_CH_KEEP
                            : strcmp(s, "mono") == 0 ? CFG_CH_MONO
                                                     : CFG_CH_STEREO;
        free(s);
    } else if (ch) {
        return fail(c, "steps.channels", 0,
                    "\"steps.channels\" must be \"keep\", \"mono\", \"stereo\" or a channel "
                    "index, not %s",
                    type_name(ch));
    }
    if ((rc = get_int(c, st, "steps", "rate", 0, 384000, &j->steps.rate)) < 0 ||
        (rc = get_enum(c, st, "steps", "quality", qualities, &j->steps.quality)) < 0 ||
        (rc = get_enum(c, st, "steps", "format", formats, &j->steps.format)) < 0)
        return rc;
    if (json_object_get(st, "bits")) {
        int bits = 0;
        if ((rc = get_int(c, st, "steps", "bits", 0, 64, &bits)) < 0)
            return rc;
        if (bits != 16 && bits != 24 && bits != 32)
            return fail(c, "steps.bits", 0, "\"steps.bits\" must be 16, 24 or 32, got %d", bits);
        j->steps.bits = bits;
    }
    if (j->steps.bits == 32 && strcmp(j->steps.format, "wav") != 0)
        return fail(c, "steps.bits", 0,
                    "\"steps.bits\" 32 (float) needs format \"wav\", not \"%s\"", j->steps.format);
    if ((rc = member(c, st, "steps", "vbr_quality", 0, JSON_REAL, "a number", &vq)) < 0)
        return rc;
    if (vq) {
        double q = json_number_value(vq);
        if (!(q >= 0.0 && q <= 1.0))
            return fail(c, "steps.vbr_quality", 0,
                        "\"steps.vbr_quality\" must be between 0 and 1, got %g", q);
        j->steps.vbr_quality = q;
    }
    if ((rc = get_int(c, st, "steps", "bitrate_kbps", 8, 320, &j->steps.bitrate_kbps)) < 0)
        return rc;
    if (j->steps.rate && strcmp(j->steps.format, "opus") == 0 &&
        !rate_in(j->steps.rate, opus_rates))
        return fail(c, "steps.rate", 0,
                    "\"steps.rate\" %d is not an Opus rate (8000, 12000, 16000, 24000, 48000)",
                    j->steps.rate);
    if (j->steps.rate && strcmp(j->steps.format, "mp3") == 0 && !rate_in(j->steps.rate, mp3_rates))
        return fail(c, "steps.rate", 0,
                    "\"steps.rate\" %d is not an MP3 rate (8000 to 48000, MPEG rates only)",
                    j->steps.rate);
    return 0;
}

static int get_number(struct ctx *c, json_t *obj, const char *opath, const char *key, double lo,
                      double hi, int lo_open, double *out);

/* features.KEY: true, false or an object of options; *o = NULL unless an
 * object. Sets *enabled. */
static int get_switch(struct ctx *c, json_t *obj, const char *key, int *enabled, json_t **o)
{
    char p[PATH_MAX_LEN];
    json_t *v = json_object_get(obj, key);
    join(p, "features", key);
    *o = NULL;
    if (!v)
        return 0;
    if (json_is_boolean(v)) {
        *enabled = json_is_true(v);
        return 0;
    }
    if (!json_is_object(v))
        return fail(c, p, 0, "\"%s\" must be true, false or an object, not %s", p, type_name(v));
    *enabled = 1;
    *o = v;
    return 0;
}

/* features.tempo or features.onsets (docs/analysis.md "Tempo and onsets"). */
static int load_rhythm(struct ctx *c, json_t *f, const char *key, struct cfg_rhythm *r)
{
    static const char *const tkeys[] = {"method", "buf", "hop", NULL};
    static const char *const okeys[] = {"method",  "buf",       "hop",    "threshold",
                                        "silence", "minioi_ms", "suffix", NULL};
    static const char *const methods[] = {"default",  "energy", "hfc", "complex",  "phase",
                                          "specdiff", "kl",     "mkl", "specflux", NULL};
    int onsets = !strcmp(key, "onsets"), rc;
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    json_t *o;
    join(p, "features", key);
    if ((rc = get_switch(c, f, key, &r->enabled, &o)) < 0 || !o)
        return rc;
    if ((rc = check_keys(c, o, p, onsets ? okeys : tkeys)) < 0 ||
        (rc = get_enum(c, o, p, "method", methods, &r->method)) < 0 ||
        (rc = get_int(c, o, p, "buf", 2, AUDIO_RHYTHM_BUF_MAX, &r->buf)) < 0 ||
        (rc = get_int(c, o, p, "hop", 1, AUDIO_RHYTHM_BUF_MAX, &r->hop)) < 0)
        return rc;
    int buf = r->buf ? r->buf : onsets ? AUDIO_ONSET_BUF : AUDIO_TEMPO_BUF;
    int hop = r->hop ? r->hop : onsets ? AUDIO_ONSET_HOP : AUDIO_TEMPO_HOP;
    join(q, p, "hop");
    if (hop > buf)
        return fail(c, q, 0, "\"%s\" must be at most buf (%d), got %d", q, buf, hop);
    if (!onsets)
        return 0;
    if ((rc = get_number(c, o, p, "threshold", 0, 100, 1, &r->threshold)) < 0 ||
        (rc = get_number(c, o, p, "silence", -200, 0, 1, &r->silence)) < 0 ||
        (rc = get_number(c, o, p, "minioi_ms", 0, 10000, 1, &r->minioi_ms)) < 0 ||
        (rc = get_suffix(c, o, p, "suffix", &r->suffix)) < 0)
        return rc;
    join(q, p, "suffix");
    if (r->suffix && !r->suffix[0])
        return fail(c, q, 0, "\"%s\" must not be empty", q);
    return 0;
}

static int load_features(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"enabled", "location", "suffix", "fingerprint",
                                       "tempo",   "onsets",   NULL};
    static const char *const fkeys[] = {"seconds", NULL};
    struct cfg_job *j = c->job;
    json_t *f, *fo;
    int rc;
    if ((rc = get_object(c, root, "", "features", 0, &f)) < 0 || !f)
        return rc;
    if ((rc = check_keys(c, f, "features", keys)) < 0 ||
        (rc = get_bool(c, f, "features", "enabled", &j->features.enabled)) < 0 ||
        (rc = get_suffix(c, f, "features", "suffix", &j->features.suffix)) < 0 ||
        (rc = get_switch(c, f, "fingerprint", &j->features.fingerprint.enabled, &fo)) < 0 ||
        (fo && ((rc = check_keys(c, fo, "features.fingerprint", fkeys)) < 0 ||
                (rc = get_number(c, fo, "features.fingerprint", "seconds", 0, 86400, 1,
                                 &j->features.fingerprint.seconds)) < 0)) ||
        (rc = load_rhythm(c, f, "tempo", &j->features.tempo)) < 0 ||
        (rc = load_rhythm(c, f, "onsets", &j->features.onsets)) < 0)
        return rc;
    static const char *const extra[] = {"fingerprint", "tempo", "onsets"};
    int on[] = {j->features.fingerprint.enabled, j->features.tempo.enabled,
                j->features.onsets.enabled};
    for (int k = 0; k < 3; k++)
        if (on[k] && !j->features.enabled) {
            char p[PATH_MAX_LEN];
            join(p, "features", extra[k]);
            return fail(c, p, 0,
                        "\"%s\" goes into the features JSON: it needs "
                        "\"features.enabled\": true",
                        p);
        }
    return get_location(c, f, "features", "location", 0, &j->features.location);
}

/* A transform output's or an analysis array's name: [A-Za-z0-9_-]{1,64}. */
static int output_name_ok(const char *key)
{
    size_t kl = strlen(key);
    int ok = kl >= 1 && kl <= 64;
    for (size_t k = 0; ok && k < kl; k++)
        ok = (key[k] >= 'a' && key[k] <= 'z') || (key[k] >= 'A' && key[k] <= 'Z') ||
             (key[k] >= '0' && key[k] <= '9') || key[k] == '_' || key[k] == '-';
    return ok;
}

static int get_number(struct ctx *c, json_t *obj, const char *opath, const char *key, double lo,
                      double hi, int lo_open, double *out)
{
    json_t *v;
    char p[PATH_MAX_LEN];
    int rc = member(c, obj, opath, key, 0, JSON_REAL, "a number", &v);
    if (rc < 0 || !v)
        return rc;
    join(p, opath, key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi) || (lo_open && x == lo))
        return fail(c, p, 0, "\"%s\" must be %s %g and at most %g, got %g", p,
                    lo_open ? "above" : "at least", lo, hi, x);
    *out = x;
    return 0;
}

/* n_fft and hop of an analysis array or the picture: n_fft even, hop
 * librosa's n_fft / 4 unless given, and at most n_fft. */
static int get_frames(struct ctx *c, json_t *o, const char *p, int *n_fft, int *hop)
{
    char q[PATH_MAX_LEN];
    int rc;
    if ((rc = get_int(c, o, p, "n_fft", AUDIO_ARRAY_NFFT_MIN, AUDIO_ARRAY_NFFT_MAX, n_fft)) < 0)
        return rc;
    join(q, p, "n_fft");
    if (*n_fft % 2)
        return fail(c, q, 0, "\"%s\" must be even (KISS FFT's real transform), got %d", q, *n_fft);
    *hop = audio_array_hop_default(*n_fft);
    if ((rc = get_int(c, o, p, "hop", 1, AUDIO_ARRAY_NFFT_MAX, hop)) < 0)
        return rc;
    join(q, p, "hop");
    if (*hop > *n_fft)
        return fail(c, q, 0, "\"%s\" must be at most n_fft (%d), got %d", q, *n_fft, *hop);
    return 0;
}

/* fmax against the Nyquist frequency of steps.rate, and, where with_fmin,
 * fmin below fmax (rate / 2 when fmax is 0); with no steps.rate and no
 * fmax they are checked when the track's rate is known. */
static int check_band(struct ctx *c, const char *p, double fmin, double fmax, int with_fmin)
{
    char q[PATH_MAX_LEN];
    int rate = c->job->steps.rate;
    join(q, p, "fmax");
    if (fmax > 0 && rate && fmax > rate / 2.0)
        return fail(c, q, 0,
                    "\"%s\" %g Hz is above the Nyquist frequency of \"steps.rate\" %d (%g Hz)", q,
                    fmax, rate, rate / 2.0);
    double top = fmax > 0 ? fmax : rate / 2.0;
    join(q, p, "fmin");
    if (with_fmin && (fmax > 0 || rate) && fmin >= top)
        return fail(c, q, 0, "\"%s\" %g Hz must be below fmax (%g Hz)", q, fmin, top);
    return 0;
}

/* The suffix of an array or the picture: dflt unless given, not empty. */
static int get_out_suffix(struct ctx *c, json_t *o, const char *p, const char *dflt, char **out)
{
    char q[PATH_MAX_LEN];
    int rc;
    if (!(*out = strdup(dflt)))
        return fail(c, p, 0, "out of memory");
    if ((rc = get_suffix(c, o, p, "suffix", out)) < 0)
        return rc;
    join(q, p, "suffix");
    if (!(*out)[0])
        return fail(c, q, 0, "\"%s\" must not be empty", q);
    return 0;
}

/* One entry of analysis.arrays (docs/analysis.md). */
static int load_array(struct ctx *c, json_t *arrays, const char *name, struct cfg_array *a)
{
    static const char *const keys[] = {"kind",      "suffix", "n_fft",  "hop",    "win",  "center",
                                       "power",     "db",     "top_db", "n_mels", "fmin", "fmax",
                                       "mel_scale", "norm",   "n_mfcc", NULL};
    /* Keys of one kind only: 'm' mel and mfcc, 'c' mfcc, 'p' stft and mel. */
    static const struct {
        const char *key;
        char only;
    } scoped[] = {{"n_mels", 'm'}, {"fmin", 'm'},   {"fmax", 'm'},  {"mel_scale", 'm'},
                  {"norm", 'm'},   {"n_mfcc", 'c'}, {"power", 'p'}, {"db", 'p'}};
    static const char *const kinds[] = {"stft", "mel", "mfcc", NULL};
    static const char *const scales[] = {"slaney", "htk", NULL};
    static const char *const norms[] = {"slaney", "none", NULL};
    static const char *const wins[] = {"hann", NULL};
    static const enum audio_array_kind audio_kinds[] = {AUDIO_ARRAY_STFT, AUDIO_ARRAY_MEL,
                                                        AUDIO_ARRAY_MFCC};
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    char *kind = NULL, *scale = NULL, *norm = NULL, *win = NULL;
    json_t *o;
    int rc;
    join(p, "analysis.arrays", name);
    if (!output_name_ok(name))
        return fail(c, p, 1, "\"%s\": an array name must be 1 to 64 letters, digits, '_' or '-'",
                    p);
    if (!(a->name = strdup(name)))
        return fail(c, p, 0, "out of memory");
    if ((rc = get_object(c, arrays, "analysis.arrays", name, 1, &o)) < 0 ||
        (rc = check_keys(c, o, p, keys)) < 0 || (rc = get_enum(c, o, p, "kind", kinds, &kind)) < 0)
        return rc;
    if (!kind)
        return fail(c, p, 0, "missing required key \"%s.kind\" (stft, mel or mfcc)", p);
    a->kind = !strcmp(kind, "stft")  ? CFG_ARRAY_STFT
              : !strcmp(kind, "mel") ? CFG_ARRAY_MEL
                                     : CFG_ARRAY_MFCC;
    free(kind);
    for (size_t k = 0; k < sizeof(scoped) / sizeof(scoped[0]); k++) {
        char only = scoped[k].only;
        int applies = only == 'm'   ? a->kind != CFG_ARRAY_STFT
                      : only == 'c' ? a->kind == CFG_ARRAY_MFCC
                                    : a->kind != CFG_ARRAY_MFCC;
        join(q, p, scoped[k].key);
        if (!applies && json_object_get(o, scoped[k].key))
            return fail(c, q, 1, "\"%s\" does not apply to kind \"%s\"", q, kinds[a->kind]);
    }
    struct audio_array_spec d;
    audio_array_spec_init(&d, audio_kinds[a->kind]);
    a->n_fft = d.n_fft;
    a->center = d.center;
    a->power = d.power;
    a->db = d.db;
    a->top_db = d.top_db;
    a->n_mels = d.n_mels;
    a->fmin = d.fmin;
    a->fmax = d.fmax;
    a->htk = d.htk;
    a->slaney_norm = d.slaney_norm;
    a->n_mfcc = d.n_mfcc;
    if ((rc = get_frames(c, o, p, &a->n_fft, &a->hop)) < 0)
        return rc;
    if ((rc = get_enum(c, o, p, "win", wins, &win)) < 0 ||
        (rc = get_bool(c, o, p, "center", &a->center)) < 0 ||
        (rc = get_number(c, o, p, "power", 0, 4, 1, &a->power)) < 0 ||
        (rc = get_bool(c, o, p, "db", &a->db)) < 0 ||
        (rc = get_number(c, o, p, "top_db", 0, 1000, 0, &a->top_db)) < 0 ||
        (rc = get_int(c, o, p, "n_mels", 1, AUDIO_ARRAY_MELS_MAX, &a->n_mels)) < 0 ||
        (rc = get_number(c, o, p, "fmin", 0, 384000, 0, &a->fmin)) < 0 ||
        (rc = get_number(c, o, p, "fmax", 0, 384000, 1, &a->fmax)) < 0 ||
        (rc = get_enum(c, o, p, "mel_scale", scales, &scale)) < 0 ||
        (rc = get_enum(c, o, p, "norm", norms, &norm)) < 0 ||
        (rc = get_int(c, o, p, "n_mfcc", 1, AUDIO_ARRAY_MELS_MAX, &a->n_mfcc)) < 0) {
        free(win);
        free(scale);
        free(norm);
        return rc;
    }
    if (scale)
        a->htk = !strcmp(scale, "htk");
    if (norm)
        a->slaney_norm = !strcmp(norm, "slaney");
    free(win);
    free(scale);
    free(norm);
    join(q, p, "n_mfcc");
    if (a->kind == CFG_ARRAY_MFCC && a->n_mfcc > a->n_mels)
        return fail(c, q, 0, "\"%s\" must be at most n_mels (%d), got %d", q, a->n_mels, a->n_mfcc);
    if ((rc = check_band(c, p, a->fmin, a->fmax, a->kind != CFG_ARRAY_STFT)) < 0)
        return rc;
    char dflt[80];
    snprintf(dflt, sizeof(dflt), ".%s.npy", name);
    return get_out_suffix(c, o, p, dflt, &a->suffix);
}

/* analysis.plot (docs/analysis.md "Pictures"). */
static int load_plot(struct ctx *c, json_t *an)
{
    static const char *const keys[] = {"suffix", "n_fft",     "hop",  "n_mels",   "fmin", "fmax",
                                       "top_db", "width_max", "axes", "colormap", NULL};
    static const char *const cmaps[] = {"magma", "viridis", NULL};
    struct cfg_plot *pl = &c->job->analysis.plot;
    const char *p = "analysis.plot";
    struct audio_plot_spec d;
    json_t *o;
    int rc;
    if ((rc = get_object(c, an, "analysis", "plot", 0, &o)) < 0 || !o)
        return rc;
    audio_plot_spec_init(&d);
    pl->enabled = 1;
    pl->n_fft = d.n_fft;
    pl->n_mels = d.n_mels;
    pl->fmin = d.fmin;
    pl->fmax = d.fmax;
    pl->top_db = d.top_db;
    pl->width_max = d.width_max;
    pl->axes = d.axes;
    if ((rc = check_keys(c, o, p, keys)) < 0 ||
        (rc = get_frames(c, o, p, &pl->n_fft, &pl->hop)) < 0)
        return rc;
    if ((rc = get_int(c, o, p, "n_mels", 1, AUDIO_ARRAY_MELS_MAX, &pl->n_mels)) < 0 ||
        (rc = get_int(c, o, p, "width_max", 1, AUDIO_PLOT_WIDTH_MAX, &pl->width_max)) < 0 ||
        (rc = get_bool(c, o, p, "axes", &pl->axes)) < 0 ||
        (rc = get_number(c, o, p, "fmin", 0, 384000, 0, &pl->fmin)) < 0 ||
        (rc = get_number(c, o, p, "fmax", 0, 384000, 1, &pl->fmax)) < 0 ||
        (rc = get_number(c, o, p, "top_db", 0, 1000, 1, &pl->top_db)) < 0 ||
        (rc = get_enum(c, o, p, "colormap", cmaps, &pl->colormap)) < 0 ||
        (rc = check_band(c, p, pl->fmin, pl->fmax, 1)) < 0)
        return rc;
    return get_out_suffix(c, o, p, ".png", &pl->suffix);
}

static int load_analysis(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"location", "arrays", "plot", NULL};
    struct cfg_job *j = c->job;
    json_t *an, *arrays;
    const char *key;
    json_t *e;
    int rc;
    if ((rc = get_object(c, root, "", "analysis", 0, &an)) < 0 || !an)
        return rc;
    if ((rc = check_keys(c, an, "analysis", keys)) < 0 ||
        (rc = get_location(c, an, "analysis", "location", 0, &j->analysis.location)) < 0 ||
        (rc = load_plot(c, an)) < 0 ||
        (rc = get_object(c, an, "analysis", "arrays", !j->analysis.plot.enabled, &arrays)) < 0 ||
        !arrays)
        return rc;
    if (json_object_size(arrays) < 1 || json_object_size(arrays) > CFG_ARRAYS_MAX)
        return fail(c, "analysis.arrays", 0, "\"analysis.arrays\" must name 1 to %d arrays",
                    CFG_ARRAYS_MAX);
    json_object_foreach(arrays, key, e)
    {
        struct cfg_array *a = &j->analysis.arrays[j->analysis.n_arrays++];
        if ((rc = load_array(c, arrays, key, a)) < 0)
            return rc;
        for (size_t k = 0; k + 1 < j->analysis.n_arrays; k++)
            if (strcmp(j->analysis.arrays[k].suffix, a->suffix) == 0) {
                char p[PATH_MAX_LEN];
                join(p, "analysis.arrays", key);
                return fail(c, p, 0, "\"%s\" has the same suffix as \"%s\"", p,
                            j->analysis.arrays[k].name);
            }
    }
    return 0;
}

/* An array of non-empty strings -> a NULL-terminated copy. */
static int get_argv(struct ctx *c, json_t *v, const char *path, char ***out, size_t *n_out)
{
    size_t n = json_array_size(v);
    if (n == 0 || n > 256)
        return fail(c, path, 0, "\"%s\" must be an array of 1 to 256 strings", path);
    char **argv = calloc(n + 1, sizeof(char *));
    if (!argv)
        return fail(c, path, 0, "out of memory");
    *out = argv;
    for (size_t k = 0; k < n; k++) {
        char p[PATH_MAX_LEN];
        json_t *a = json_array_get(v, k);
        snprintf(p, sizeof(p), "%s[%zu]", path, k);
        if (!json_is_string(a))
            return fail(c, p, 0, "\"%s\" must be a string, not %s", p, type_name(a));
        int rc = str_value(c, a, p, &argv[k]);
        if (rc < 0)
            return rc;
        *n_out = k + 1;
        if (k == 0 && !argv[0][0])
            return fail(c, p, 0, "\"%s\": the program must not be empty", p);
    }
    return 0;
}

static int load_transform(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"command",   "workers", "max_in_flight", "startup_timeout_s",
                                       "timeout_s", "env",     "params",        "outputs",
                                       NULL};
    struct cfg_job *j = c->job;
    json_t *t, *v;
    int rc;
    if ((rc = get_object(c, root, "", "transform", 0, &t)) < 0 || !t)
        return rc;
    j->transform.enabled = 1;
    j->transform.workers = 1;
    j->transform.max_in_flight = 1;
    j->transform.startup_timeout_s = 120;
    j->transform.timeout_s = 300;
    if ((rc = check_keys(c, t, "transform", keys)) < 0 ||
        (rc = member(c, t, "transform", "command", 1, JSON_ARRAY, "an array of strings", &v)) < 0 ||
        (rc = get_argv(c, v, "transform.command", &j->transform.command, &j->transform.n_command)) <
            0 ||
        (rc = get_int(c, t, "transform", "workers", 1, 64, &j->transform.workers)) < 0 ||
        (rc = get_int(c, t, "transform", "max_in_flight", 1, 64, &j->transform.max_in_flight)) <
            0 ||
        (rc = get_int(c, t, "transform", "startup_timeout_s", 1, 3600,
                      &j->transform.startup_timeout_s)) < 0 ||
        (rc = get_int(c, t, "transform", "timeout_s", 1, 86400, &j->transform.timeout_s)) < 0)
        return rc;
    if ((rc = get_object(c, t, "transform", "env", 0, &v)) < 0)
        return rc;
    j->transform.env = calloc(json_object_size(v) + 1, sizeof(char *));
    if (!j->transform.env)
        return fail(c, "transform.env", 0, "out of memory");
    if (v) {
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e)
        {
            char p[PATH_MAX_LEN];
            char *val = NULL;
            join(p, "transform.env", key);
            if (!*key || strchr(key, '=') || has_control(key))
                return fail(c, p, 1,
                            "\"%s\": an environment name must be non-empty, without '=' "
                            "or control characters",
                            p);
            if (!json_is_string(e))
                return fail(c, p, 0, "\"%s\" must be a string, not %s", p, type_name(e));
            if ((rc = str_value(c, e, p, &val)) < 0)
                return rc;
            size_t n = strlen(key) + strlen(val) + 2;
            char *kv = malloc(n);
            if (kv)
                snprintf(kv, n, "%s=%s", key, val);
            free(val);
            if (!kv)
                return fail(c, p, 0, "out of memory");
            j->transform.env[j->transform.n_env++] = kv;
        }
    }
    if ((rc = get_object(c, t, "transform", "params", 0, &v)) < 0)
        return rc;
    j->transform.params_json = v ? json_dumps(v, JSON_COMPACT) : strdup("{}");
    if (!j->transform.params_json)
        return fail(c, "transform.params", 0, "out of memory");
    if ((rc = get_object(c, t, "transform", "outputs", 1, &v)) < 0)
        return rc;
    if (json_object_size(v) < 1 || json_object_size(v) > CFG_TF_OUTPUTS_MAX)
        return fail(c, "transform.outputs", 0,
                    "\"transform.outputs\" must name 1 to %d files (name: suffix)",
                    CFG_TF_OUTPUTS_MAX);
    {
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e)
        {
            char p[PATH_MAX_LEN];
            struct cfg_tf_output *o = &j->transform.outputs[j->transform.n_outputs];
            join(p, "transform.outputs", key);
            if (!output_name_ok(key))
                return fail(c, p, 1,
                            "\"%s\": an output name must be 1 to 64 letters, digits, '_' or '-'",
                            p);
            if (!(o->name = strdup(key)))
                return fail(c, p, 0, "out of memory");
            j->transform.n_outputs++;
            if ((rc = get_suffix(c, v, "transform.outputs", key, &o->suffix)) < 0)
                return rc;
            if (!o->suffix[0])
                return fail(c, p, 0, "\"%s\" must not be empty", p);
            for (size_t k = 0; k + 1 < j->transform.n_outputs; k++)
                if (strcmp(j->transform.outputs[k].suffix, o->suffix) == 0)
                    return fail(c, p, 0, "\"%s\" has the same suffix as \"%s\"", p,
                                j->transform.outputs[k].name);
        }
    }
    return 0;
}

static int load_runtime(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {"workers",        "max_in_flight",     "ack_deadline_s",
                                       "max_attempts",   "message_timeout_s", "max_input_mb",
                                       "max_duration_s", "shutdown_grace_s",  "max_visits",
                                       "max_audit",      "temp_dir",          NULL};
    struct cfg_job *j = c->job;
    json_t *r;
    int rc, mb = 2048;
    if ((rc = get_object(c, root, "", "runtime", 0, &r)) < 0 || !r)
        return rc;
    if ((rc = check_keys(c, r, "runtime", keys)) < 0 ||
        (rc = get_int(c, r, "runtime", "workers", 0, 1024, &j->runtime.workers)) < 0 ||
        (rc = get_int(c, r, "runtime", "max_in_flight", 0, 65536, &j->runtime.max_in_flight)) < 0 ||
        (rc = get_int(c, r, "runtime", "ack_deadline_s", 10, 600, &j->runtime.ack_deadline_s)) <
            0 ||
        (rc = get_int(c, r, "runtime", "max_attempts", 1, 1000, &j->runtime.max_attempts)) < 0 ||
        (rc = get_int(c, r, "runtime", "message_timeout_s", 1, 86400,
                      &j->runtime.message_timeout_s)) < 0 ||
        (rc = get_int(c, r, "runtime", "max_input_mb", 1, 1048576, &mb)) < 0 ||
        (rc = get_int(c, r, "runtime", "max_duration_s", 1, 604800, &j->runtime.max_duration_s)) <
            0 ||
        (rc = get_int(c, r, "runtime", "shutdown_grace_s", 1, 3600, &j->runtime.shutdown_grace_s)) <
            0 ||
        (rc = get_int(c, r, "runtime", "max_visits", 1, 1000, &j->runtime.max_visits)) < 0 ||
        (rc = get_int(c, r, "runtime", "max_audit", 1, CFG_AUDIT_MAX, &j->runtime.max_audit)) < 0 ||
        (rc = get_string(c, r, "runtime", "temp_dir", 0, &j->runtime.temp_dir)) < 0)
        return rc;
    j->runtime.max_input_bytes = (uint64_t)mb * 1024u * 1024u;
    if (j->runtime.temp_dir[0] != '/' || has_control(j->runtime.temp_dir))
        return fail(c, "runtime.temp_dir", 0, "\"runtime.temp_dir\" must be an absolute path");
    if (j->runtime.max_audit < j->runtime.max_visits)
        return fail(c, json_object_get(r, "max_audit") ? "runtime.max_audit" : "runtime.max_visits",
                    0,
                    "\"runtime.max_audit\" (%d) must be at least \"runtime.max_visits\" (%d), or "
                    "the loop guard cannot see enough of the audit trail",
                    j->runtime.max_audit, j->runtime.max_visits);
    return 0;
}

static int check_listen(const char *s, char *why, size_t n)
{
    if (!*s)
        return 0;
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1] || strlen(colon + 1) > 5) {
        snprintf(why, n, "must be \"host:port\", \":port\" or \"\" (off)");
        return -1;
    }
    long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            snprintf(why, n, "port must be a number");
            return -1;
        }
        port = port * 10 + (*p - '0');
    }
    if (port > 65535) {
        snprintf(why, n, "port must be 0 to 65535");
        return -1;
    }
    for (const char *p = s; p < colon; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7F || *p == '/') {
            snprintf(why, n, "host must not contain spaces, '/' or control characters");
            return -1;
        }
    }
    return 0;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int apply_defaults(struct cfg_job *j)
{
    const char *tmp = getenv("TMPDIR");
    j->steps.channels = CFG_CH_KEEP;
    j->steps.bits = 16;
    j->steps.vbr_quality = -1;
    j->steps.quality = xstrdup("high");
    j->steps.format = xstrdup("flac");
    j->input.suffix = xstrdup("");
    j->output.suffix = xstrdup("");
    j->features.suffix = xstrdup(".json");
    j->runtime.ack_deadline_s = 60;
    j->runtime.max_attempts = 5;
    j->runtime.message_timeout_s = 600;
    j->runtime.shutdown_grace_s = 100;
    j->runtime.max_visits = 3;
    j->runtime.max_audit = 32;
    j->runtime.max_input_bytes = 2048ull * 1024 * 1024;
    j->runtime.max_duration_s = 14400;
    j->runtime.temp_dir = xstrdup(tmp && tmp[0] == '/' && !has_control(tmp) ? tmp : "/tmp");
    j->listen = xstrdup("0.0.0.0:8080");
    if (!j->steps.quality || !j->steps.format || !j->input.suffix || !j->output.suffix ||
        !j->features.suffix || !j->runtime.temp_dir || !j->listen)
        return -1;
    return 0;
}

/* A transform output that would overwrite the input, the audio, the
 * features or another track's file of the same job. */
static int check_overlaps(struct ctx *c, json_t *root)
{
    const struct cfg_job *j = c->job;
    (void)root;
    for (size_t k = 0; k < j->transform.n_outputs; k++) {
        const struct cfg_tf_output *o = &j->transform.outputs[k];
        char p[PATH_MAX_LEN];
        join(p, "transform.outputs", o->name);
        if (strcmp(j->input.location, j->output.location) == 0 &&
            strcmp(j->input.suffix, o->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same location and suffix as \"input\"", p);
        if (j->output.audio && strcmp(j->output.suffix, o->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same suffix as \"output.suffix\"", p);
        if (j->features.enabled && strcmp(j->features.location, j->output.location) == 0 &&
            strcmp(j->features.suffix, o->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same location and suffix as \"features\"", p);
    }
    for (size_t k = 0; k < j->analysis.n_arrays; k++) {
        const struct cfg_array *a = &j->analysis.arrays[k];
        const char *loc = j->analysis.location;
        char p[PATH_MAX_LEN];
        join(p, "analysis.arrays", a->name);
        if (strcmp(j->input.location, loc) == 0 && strcmp(j->input.suffix, a->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same location and suffix as \"input\"", p);
        if (j->output.audio && strcmp(j->output.location, loc) == 0 &&
            strcmp(j->output.suffix, a->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same location and suffix as \"output\"", p);
        if (j->features.enabled && strcmp(j->features.location, loc) == 0 &&
            strcmp(j->features.suffix, a->suffix) == 0)
            return fail(c, p, 0, "\"%s\" has the same location and suffix as \"features\"", p);
        for (size_t t = 0; t < j->transform.n_outputs; t++)
            if (strcmp(j->output.location, loc) == 0 &&
                strcmp(j->transform.outputs[t].suffix, a->suffix) == 0)
                return fail(c, p, 0, "\"%s\" has the same location and suffix as \"%s\"", p,
                            j->transform.outputs[t].name);
    }
    /* The onsets .npy and the picture against every other file. */
    const char *xl[2] = {j->features.location, j->analysis.location};
    const char *xs[2] = {j->features.onsets.suffix,
                         j->analysis.plot.enabled ? j->analysis.plot.suffix : NULL};
    const char *xp[2] = {"features.onsets.suffix", "analysis.plot.suffix"};
    for (int k = 0; k < 2; k++) {
        if (!xs[k])
            continue;
        const char *other = NULL;
        if (strcmp(j->input.location, xl[k]) == 0 && strcmp(j->input.suffix, xs[k]) == 0)
            other = "input";
        else if (j->output.audio && strcmp(j->output.location, xl[k]) == 0 &&
                 strcmp(j->output.suffix, xs[k]) == 0)
            other = "output";
        else if (j->features.enabled && strcmp(j->features.location, xl[k]) == 0 &&
                 strcmp(j->features.suffix, xs[k]) == 0)
            other = "features";
        else if (k == 1 && xs[0] && strcmp(xl[0], xl[1]) == 0 && strcmp(xs[0], xs[1]) == 0)
            other = "features.onsets";
        for (size_t a = 0; !other && a < j->analysis.n_arrays; a++)
            if (strcmp(j->analysis.location, xl[k]) == 0 &&
                strcmp(j->analysis.arrays[a].suffix, xs[k]) == 0)
                other = j->analysis.arrays[a].name;
        for (size_t t = 0; !other && t < j->transform.n_outputs; t++)
            if (strcmp(j->output.location, xl[k]) == 0 &&
                strcmp(j->transform.outputs[t].suffix, xs[k]) == 0)
                other = j->transform.outputs[t].name;
        if (other)
            return fail(c, xp[k], 0, "\"%s\" has the same location and suffix as \"%s\"", xp[k],
                        other);
    }
    int onsets = j->features.onsets.enabled && j->features.onsets.suffix != NULL;
    size_t total = (size_t)j->features.enabled + j->analysis.n_arrays + (size_t)onsets +
                   (size_t)j->analysis.plot.enabled + j->transform.n_outputs +
                   (size_t)j->output.audio;
    if (total > CFG_OUTPUTS_MAX)
        return fail(c, j->analysis.n_arrays ? "analysis.arrays" : "transform.outputs", 0,
                    "too many outputs per track: %zu (features %d, analysis arrays %zu, onsets %d, "
                    "plot %d, transform outputs %zu, audio %d), at most %d",
                    total, j->features.enabled, j->analysis.n_arrays, onsets,
                    j->analysis.plot.enabled, j->transform.n_outputs, j->output.audio,
                    CFG_OUTPUTS_MAX);
    return 0;
}

static int load_root(struct ctx *c, json_t *root)
{
    static const char *const keys[] = {
        "job",      "project",  "events",  "input", "output", "parent", "dead_letter_topic",
        "steps",    "features", "runtime", "force", "ping",   "listen", "transform",
        "analysis", NULL};
    struct cfg_job *j = c->job;
    char why[300];
    json_t *dlt;
    int rc;

    if (!json_is_object(root))
        return fail(c, "", 0, "a config must be a JSON object, not %s", type_name(root));
    if (apply_defaults(j) < 0)
        return fail(c, "", 0, "out of memory");
    if ((rc = check_keys(c, root, "", keys)) < 0 ||
        (rc = get_string(c, root, "", "job", 1, &j->name)) < 0)
        return rc;
    if (check_job_name(j->name, why, sizeof(why)) < 0)
        return fail(c, "job", 0, "\"job\" %s", why);
    if ((rc = get_string(c, root, "", "project", 0, &j->project)) < 0)
        return rc;
    if (j->project && (!*j->project || strchr(j->project, '/') || has_control(j->project) ||
                       strchr(j->project, ' ')))
        return fail(c, "project", 0,
                    "\"project\" must be a non-empty project ID without '/' or spaces");
    if ((rc = load_events(c, root)) < 0 || (rc = load_io(c, root)) < 0 ||
        (rc = load_parent(c, root)) < 0)
        return rc;
    if ((rc = member(c, root, "", "dead_letter_topic", 0, JSON_STRING, "a string", &dlt)) < 0)
        return rc;
    if (dlt &&
        (rc = get_resource(c, dlt, "dead_letter_topic", "topics", &j->dead_letter_topic)) < 0)
        return rc;
    j->output.audio = -1;
    if ((rc = load_steps(c, root)) < 0 || (rc = load_features(c, root)) < 0 ||
        (rc = load_analysis(c, root)) < 0 || (rc = load_transform(c, root)) < 0 ||
        (rc = load_runtime(c, root)) < 0 || (rc = get_bool(c, root, "", "force", &j->force)) < 0 ||
        (rc = get_bool(c, root, "", "ping", &j->ping)) < 0 ||
        (rc = get_string(c, root, "", "listen", 0, &j->listen)) < 0)
        return rc;
    if (check_listen(j->listen, why, sizeof(why)) < 0)
        return fail(c, "listen", 0, "\"listen\": \"%s\" %s", j->listen, why);

    if (!j->features.location && !(j->features.location = xstrdup(j->output.location)))
        return fail(c, "", 0, "out of memory");
    if (!j->analysis.location && !(j->analysis.location = xstrdup(j->output.location)))
        return fail(c, "", 0, "out of memory");
    if ((rc = get_bool(c, json_object_get(root, "output"), "output", "audio", &j->output.audio)) <
        0)
        return rc;
    if (j->output.audio < 0) /* a transform job writes its own outputs only, unless asked */
        j->output.audio = !j->transform.enabled;
    if (!j->output.audio && !j->transform.enabled)
        return fail(c, "output.audio", 0,
                    "\"output.audio\": false needs a \"transform\": the job would write nothing");
    if ((rc = check_overlaps(c, root)) < 0)
        return rc;
    /* Objects that would overwrite each other. */
    if (j->output.audio && strcmp(j->input.location, j->output.location) == 0 &&
        strcmp(j->input.suffix, j->output.suffix) == 0)
        return fail(c, "output.location", 0,
                    "\"output\" has the same location and suffix as \"input\": the job would "
                    "overwrite its input");
    if (j->features.enabled && j->output.audio &&
        strcmp(j->features.location, j->output.location) == 0 &&
        strcmp(j->features.suffix, j->output.suffix) == 0)
        return fail(c, json_object_get(root, "features") ? "features" : "output.location", 0,
                    "\"features\" has the same location and suffix as \"output\": features "
                    "would overwrite the audio");
    if (j->runtime.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        j->runtime.workers = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
    }
    if (j->runtime.max_in_flight == 0)
        j->runtime.max_in_flight = 2 * j->runtime.workers;
    return 0;
}

int cfg_load_string(const char *text, const char *name, struct cfg_job **out, struct cfg_error *err)
{
    return cfg_load_buffer(text, text ? strlen(text) : 0, name, out, err);
}

int cfg_load_buffer(const char *text, size_t len, const char *name, struct cfg_job **out,
                    struct cfg_error *err)
{
    struct ctx c = {.name = name ? name : "<config>", .err = err};
    json_error_t jerr;
    json_t *root;
    int rc;

    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    if (!out || !text) {
        set_error(err, CFG_EINVALID, "%s: no config text", c.name);
        return CFG_EINVALID;
    }
    *out = NULL;
    if (len > CFG_FILE_MAX) {
        set_error(err, CFG_EINVALID, "%s: config larger than %d bytes", c.name, CFG_FILE_MAX);
        return CFG_EINVALID;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        set_error(err, CFG_ESYNTAX, "%s:%d:%d: %s", c.name, jerr.line, jerr.column, jerr.text);
        return CFG_ESYNTAX;
    }
    /* Positions are best effort: without them errors point at 1:1. */
    (void)cfg__pos_index_build(&c.ix, text, len);
    c.job = calloc(1, sizeof(*c.job));
    if (!c.job) {
        rc = fail(&c, "", 0, "out of memory");
    } else {
        rc = load_root(&c, root);
    }
    json_decref(root);
    cfg__pos_index_cleanup(&c.ix);
    if (rc < 0) {
        cfg_job_destroy(c.job);
        return rc;
    }
    *out = c.job;
    return 0;
}

int cfg_load(const char *path, struct cfg_job **out, struct cfg_error *err)
{
    if (out)
        *out = NULL;
    if (!path) {
        set_error(err, CFG_EIO, "no config path");
        return CFG_EIO;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_error(err, CFG_EIO, "%s: cannot open: %s", path, strerror(errno));
        return CFG_EIO;
    }
    char *buf = malloc(CFG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        set_error(err, CFG_EIO, "%s: out of memory", path);
        return CFG_EIO;
    }
    size_t n = fread(buf, 1, CFG_FILE_MAX + 1, f);
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        set_error(err, CFG_EIO, "%s: cannot read: %s", path, strerror(saved));
        return CFG_EIO;
    }
    int rc = cfg_load_buffer(buf, n, path, out, err);
    free(buf);
    return rc;
}

void cfg_job_destroy(struct cfg_job *job)
{
    if (!job)
        return;
    free(job->name);
    free(job->project);
    free(job->events.subscription);
    free(job->events.file);
    free(job->input.location);
    free(job->input.suffix);
    free(job->output.location);
    free(job->output.suffix);
    for (size_t k = 0; k < job->n_output_topics; k++)
        free(job->output_topics[k]);
    free(job->output_topics);
    free(job->parent.name);
    free(job->parent.topic);
    free(job->dead_letter_topic);
    free(job->steps.quality);
    free(job->steps.format);
    free(job->features.location);
    free(job->features.suffix);
    free(job->analysis.location);
    free(job->analysis.plot.suffix);
    free(job->analysis.plot.colormap);
    free(job->features.tempo.method);
    free(job->features.onsets.method);
    free(job->features.onsets.suffix);
    for (size_t k = 0; k < job->analysis.n_arrays; k++) {
        free(job->analysis.arrays[k].name);
        free(job->analysis.arrays[k].suffix);
    }
    free(job->runtime.temp_dir);
    free(job->listen);
    for (size_t k = 0; k < job->transform.n_command; k++)
        free(job->transform.command[k]);
    free(job->transform.command);
    for (size_t k = 0; k < job->transform.n_env; k++)
        free(job->transform.env[k]);
    free(job->transform.env);
    free(job->transform.params_json);
    for (size_t k = 0; k < job->transform.n_outputs; k++) {
        free(job->transform.outputs[k].name);
        free(job->transform.outputs[k].suffix);
    }
    free(job);
}
