/* message.c: the wiggly message (wire format of docs/messages.md) and the
 * decision steps of docs/messages.md "What a job does with a message", as
 * pure functions.
 *
 * A payload is checked before jansson sees it: size cap, valid UTF-8, no NUL,
 * nesting depth cap. After trimming surrounding whitespace, a payload that
 * starts with '{' must be a wiggly JSON message (an object with a string
 * "element"); anything else is a plain track ID, top-down. Unknown members of
 * a JSON message are ignored, so newer senders can add fields.
 * No globals, no locks: thread-safe. */
#include "service/message.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

/* Returns the byte offset of the first invalid UTF-8 sequence, or len. */
static size_t utf8_check(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t k;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (i + k >= len)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += k + 1;
    }
    return len;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Deepest nesting of objects and arrays, outside strings. */
static int nesting_depth(const char *s, size_t len)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int add_recipient(struct svc_message *m, const char *job)
{
    for (size_t k = 0; k < m->n_recipients; k++)
        if (strcmp(m->recipients[k], job) == 0)
            return 0;
    char **r = realloc(m->recipients, (m->n_recipients + 1) * sizeof(*r));
    if (!r)
        return -1;
    m->recipients = r;
    if (!(r[m->n_recipients] = strdup(job)))
        return -1;
    m->n_recipients++;
    return 0;
}

static void clear_recipients(struct svc_message *m)
{
    for (size_t k = 0; k < m->n_recipients; k++)
        free(m->recipients[k]);
    free(m->recipients);
    free(m->trigger_children_of);
    m->recipients = NULL;
    m->n_recipients = 0;
    m->trigger_children_of = NULL;
    m->limited = 0;
}

static int decode_recipients(json_t *r, struct svc_message *m, char *why, size_t why_len)
{
    if (!json_is_object(r)) {
        say(why, why_len, "\"recipients\" must be an object");
        return -1;
    }
    const char *type = json_string_value(json_object_get(r, "type"));
    if (!type) {
        say(why, why_len, "\"recipients.type\" must be \"anyone\" or \"limited\"");
        return -1;
    }
    if (strcmp(type, "anyone") == 0)
        return 0;
    if (strcmp(type, "limited") != 0) {
        say(why, why_len, "\"recipients.type\" must be \"anyone\" or \"limited\", got \"%.64s\"",
            type);
        return -1;
    }
    m->limited = 1;
    json_t *jobs = json_object_get(r, "jobs");
    if (!json_is_array(jobs) || json_array_size(jobs) == 0) {
        say(why, why_len, "limited \"recipients\" need a non-empty \"jobs\" array");
        return -1;
    }
    if (json_array_size(jobs) > SVC_RECIPIENTS_MAX) {
        say(why, why_len, "more than %d recipients", SVC_RECIPIENTS_MAX);
        return -1;
    }
    size_t k;
    json_t *j;
    json_array_foreach(jobs, k, j)
    {
        if (!json_is_string(j) || json_string_length(j) == 0) {
            say(why, why_len, "\"recipients.jobs[%zu]\" must be a non-empty string", k);
            return -1;
        }
        if (add_recipient(m, json_string_value(j)) < 0) {
            say(why, why_len, "out of memory");
            return -1;
        }
    }
    json_t *tco = json_object_get(r, "trigger_children_of");
    if (tco && !json_is_null(tco)) {
        if (!json_is_string(tco) || json_string_length(tco) == 0) {
            say(why, why_len, "\"recipients.trigger_children_of\" must be a job name or null");
            return -1;
        }
        if (!(m->trigger_children_of = strdup(json_string_value(tco)))) {
            say(why, why_len, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int decode_audit(json_t *a, struct svc_message *m, char *why, size_t why_len)
{
    if (!json_is_array(a)) {
        say(why, why_len, "\"audit\" must be an array");
        return -1;
    }
    size_t n = json_array_size(a);
    if (n > SVC_AUDIT_DECODE_MAX) {
        say(why, why_len, "audit trail longer than %d entries", SVC_AUDIT_DECODE_MAX);
        return -1;
    }
    if (n == 0)
        return 0;
    m->audit = calloc(n, sizeof(*m->audit));
    if (!m->audit) {
        say(why, why_len, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(a, k);
        json_t *job = json_object_get(e, "job");
        json_t *t = json_object_get(e, "time");
        if (!json_is_object(e) || !json_is_string(job) || (t && !json_is_string(t))) {
            say(why, why_len, "\"audit[%zu]\" must be {\"job\": string, \"time\": string}", k);
            return -1;
        }
        m->audit[k].job = strdup(json_string_value(job));
        m->audit[k].time = t ? strdup(json_string_value(t)) : NULL;
        m->n_audit = k + 1;
        if (!m->audit[k].job || (t && !m->audit[k].time)) {
            say(why, why_len, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int get_flag(json_t *o, const char *key, int *out, char *why, size_t why_len)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        say(why, why_len, "\"%s\" must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int decode_json(const char *s, size_t len, struct svc_message *m, char *why, size_t why_len)
{
    json_error_t jerr;
    int depth = nesting_depth(s, len);
    if (depth > SVC_MESSAGE_DEPTH_MAX) {
        say(why, why_len, "message nested deeper than %d levels", SVC_MESSAGE_DEPTH_MAX);
        return -1;
    }
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        say(why, why_len, "message is not valid JSON (%d:%d: %s)", jerr.line, jerr.column,
            jerr.text);
        return -1;
    }
    int rc = -1;
    json_t *v = json_object_get(root, "v");
    json_t *el = json_object_get(root, "element");
    if (!json_is_object(root)) {
        say(why, why_len, "message must be a JSON object");
    } else if (v && !(json_is_integer(v) && json_integer_value(v) == 1)) {
        say(why, why_len, "unsupported message version (\"v\" must be 1)");
    } else if (!el) {
        say(why, why_len, "JSON message has no \"element\"");
    } else if (!json_is_string(el)) {
        say(why, why_len, "\"element\" must be a string");
    } else if (!(m->element = dup_n(json_string_value(el), json_string_length(el)))) {
        say(why, why_len, "out of memory");
    } else if (strlen(m->element) != json_string_length(el)) {
        say(why, why_len, "\"element\" contains a NUL character");
    } else if (get_flag(root, "force", &m->force, why, why_len) < 0 ||
               get_flag(root, "ping", &m->ping, why, why_len) < 0) {
        /* reason set */
    } else if (json_object_get(root, "recipients") &&
               !json_is_null(json_object_get(root, "recipients")) &&
               decode_recipients(json_object_get(root, "recipients"), m, why, why_len) < 0) {
        /* reason set */
    } else if (json_object_get(root, "audit") && !json_is_null(json_object_get(root, "audit")) &&
               decode_audit(json_object_get(root, "audit"), m, why, why_len) < 0) {
        /* reason set */
    } else {
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int svc_message_decode(const void *data, size_t len, struct svc_message *m, char *why,
                       size_t why_len)
{
    const char *s = data;
    if (!m) {
        say(why, why_len, "no message");
        return -1;
    }
    memset(m, 0, sizeof(*m));
    if (!s && len) {
        say(why, why_len, "no message data");
        return -1;
    }
    if (len > SVC_MESSAGE_MAX) {
        say(why, why_len, "message larger than %d bytes", SVC_MESSAGE_MAX);
        return -1;
    }
    if (len && memchr(s, '\0', len)) {
        say(why, why_len, "message contains a NUL byte");
        return -1;
    }
    size_t bad = len ? utf8_check((const unsigned char *)s, len) : 0;
    if (bad < len) {
        say(why, why_len, "message is not valid UTF-8 (byte %zu)", bad);
        return -1;
    }
    while (len && is_space(*s)) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1]))
        len--;
    int rc;
    if (len && s[0] == '{') {
        rc = decode_json(s, len, m, why, why_len);
    } else {
        m->element = dup_n(s ? s : "", len);
        rc = m->element ? 0 : -1;
        if (rc < 0)
            say(why, why_len, "out of memory");
    }
    if (rc < 0)
        svc_message_cleanup(m);
    return rc;
}

char *svc_message_encode(const struct svc_message *m, size_t *len)
{
    if (!m || !m->element)
        return NULL;
    json_t *root = json_object();
    json_t *rec = json_object();
    json_t *audit = json_array();
    int bad = !root || !rec || !audit;

    bad |= json_object_set_new(root, "v", json_integer(1));
    bad |= json_object_set_new(root, "element", json_string(m->element));
    bad |= json_object_set_new(root, "force", json_boolean(m->force));
    bad |= json_object_set_new(root, "ping", json_boolean(m->ping));
    if (m->limited) {
        json_t *jobs = json_array();
        bad |= json_object_set_new(rec, "type", json_string("limited"));
        for (size_t k = 0; k < m->n_recipients; k++)
            bad |= json_array_append_new(jobs, json_string(m->recipients[k]));
        bad |= json_object_set_new(rec, "jobs", jobs);
        bad |= json_object_set_new(rec, "trigger_children_of",
                                   m->trigger_children_of ? json_string(m->trigger_children_of)
                                                          : json_null());
    } else {
        bad |= json_object_set_new(rec, "type", json_string("anyone"));
    }
    bad |= json_object_set(root, "recipients", rec);
    for (size_t k = 0; k < m->n_audit; k++) {
        json_t *e = json_object();
        bad |= json_object_set_new(e, "job", json_string(m->audit[k].job ? m->audit[k].job : ""));
        if (m->audit[k].time)
            bad |= json_object_set_new(e, "time", json_string(m->audit[k].time));
        bad |= json_array_append_new(audit, e);
    }
    bad |= json_object_set(root, "audit", audit);
    char *text = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(rec);
    json_decref(audit);
    json_decref(root);
    if (text && len)
        *len = strlen(text);
    return text;
}

void svc_message_cleanup(struct svc_message *m)
{
    if (!m)
        return;
    free(m->element);
    clear_recipients(m);
    for (size_t k = 0; k < m->n_audit; k++) {
        free(m->audit[k].job);
        free(m->audit[k].time);
    }
    free(m->audit);
    memset(m, 0, sizeof(*m));
}

static char *dup_or_null(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

int svc_message_copy(struct svc_message *dst, const struct svc_message *src)
{
    int bad = 0;
    memset(dst, 0, sizeof(*dst));
    dst->element = dup_or_null(src->element, &bad);
    dst->force = src->force;
    dst->ping = src->ping;
    dst->limited = src->limited;
    dst->trigger_children_of = dup_or_null(src->trigger_children_of, &bad);
    if (src->n_recipients) {
        dst->recipients = calloc(src->n_recipients, sizeof(char *));
        bad |= !dst->recipients;
        for (size_t k = 0; !bad && k < src->n_recipients; k++) {
            dst->recipients[k] = dup_or_null(src->recipients[k], &bad);
            dst->n_recipients = k + 1;
        }
    }
    if (!bad && src->n_audit) {
        dst->audit = calloc(src->n_audit, sizeof(*dst->audit));
        bad |= !dst->audit;
        for (size_t k = 0; !bad && k < src->n_audit; k++) {
            dst->audit[k].job = dup_or_null(src->audit[k].job, &bad);
            dst->audit[k].time = dup_or_null(src->audit[k].time, &bad);
            dst->n_audit = k + 1;
        }
    }
    if (bad) {
        svc_message_cleanup(dst);
        return -1;
    }
    return 0;
}

int svc_message_audit_add(struct svc_message *m, const char *job, size_t max_audit)
{
    char stamp[32];
    struct tm tm;
    time_t now = time(NULL);
    if (!m || !job)
        return -1;
    if (max_audit == 0)
        max_audit = 1;
    if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return -1;
    struct svc_audit_entry e = {strdup(job), strdup(stamp)};
    if (!e.job || !e.time) {
        free(e.job);
        free(e.time);
        return -1;
    }
    /* Drop the oldest entries so that, with the new one, max_audit remain. */
    while (m->n_audit >= max_audit) {
        free(m->audit[0].job);
        free(m->audit[0].time);
        memmove(m->audit, m->audit + 1, (m->n_audit - 1) * sizeof(*m->audit));
        m->n_audit--;
    }
    struct svc_audit_entry *a = realloc(m->audit, (m->n_audit + 1) * sizeof(*a));
    if (!a) {
        free(e.job);
        free(e.time);
        return -1;
    }
    m->audit = a;
    m->audit[m->n_audit++] = e;
    return 0;
}

int svc_element_check(const char *element, char *why, size_t why_len)
{
    if (!element || !*element) {
        say(why, why_len, "element is empty");
        return -1;
    }
    size_t len = strlen(element);
    if (len > SVC_ELEMENT_MAX) {
        say(why, why_len, "element is longer than %d bytes (%zu)", SVC_ELEMENT_MAX, len);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)element;
    size_t bad = utf8_check(p, len);
    if (bad < len) {
        say(why, why_len, "element is not valid UTF-8 (byte %zu)", bad);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        /* C0, DEL, and C1 (U+0080..U+009F, encoded as C2 80..C2 9F). */
        if (p[i] < 0x20 || p[i] == 0x7F || (p[i] == 0xC2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)) {
            say(why, why_len, "element contains a control character at byte %zu", i);
            return -1;
        }
        if (p[i] == '?' || p[i] == '#') {
            say(why, why_len, "element contains '%c' at byte %zu", p[i], i);
            return -1;
        }
    }
    if (element[0] == '/') {
        say(why, why_len, "element starts with '/' (it must be a relative name)");
        return -1;
    }
    if (element[len - 1] == '/') {
        say(why, why_len, "element ends with '/' (it must name an object, not a folder)");
        return -1;
    }
    const char *seg = element;
    for (const char *q = element;; q++) {
        if (*q == '/' || *q == '\0') {
            size_t n = (size_t)(q - seg);
            if (n == 2 && seg[0] == '.' && seg[1] == '.') {
                say(why, why_len, "element has a \"..\" segment at byte %zu",
                    (size_t)(seg - element));
                return -1;
            }
            if (n == 1 && seg[0] == '.') {
                say(why, why_len, "element has a \".\" segment at byte %zu",
                    (size_t)(seg - element));
                return -1;
            }
            if (n == 0) {
                say(why, why_len, "element has an empty segment (\"//\") at byte %zu",
                    (size_t)(seg - element));
                return -1;
            }
            if (!*q)
                break;
            seg = q + 1;
        }
    }
    return 0;
}

static int is_recipient(const struct svc_message *m, const char *job)
{
    for (size_t k = 0; k < m->n_recipients; k++)
        if (m->recipients[k] && strcmp(m->recipients[k], job) == 0)
            return 1;
    return 0;
}

enum svc_pre svc_decide_pre(struct svc_message *m, const struct svc_job_view *job, char *why,
                            size_t why_len)
{
    say(why, why_len, "%s", "");
    if (!m || !job || !job->name) {
        say(why, why_len, "no message or no job name");
        return SVC_PRE_DEAD_BAD;
    }
    /* 1. Recipients. */
    if (m->limited) {
        if (!is_recipient(m, job->name)) {
            say(why, why_len, "job \"%s\" is not among the limited recipients", job->name);
            return SVC_PRE_DROP;
        }
        if (m->trigger_children_of && strcmp(m->trigger_children_of, job->name) == 0)
            clear_recipients(m); /* back at the job that asked: run its children top-down */
    }
    /* 2. Loop guard. */
    if (job->max_visits > 0) {
        int visits = 0;
        for (size_t k = 0; k < m->n_audit; k++)
            if (m->audit[k].job && strcmp(m->audit[k].job, job->name) == 0)
                visits++;
        if (visits >= job->max_visits) {
            say(why, why_len,
                "loop guard: job \"%s\" already handled this message %d times "
                "(max_visits %d)",
                job->name, visits, job->max_visits);
            return SVC_PRE_DEAD_LOOP;
        }
    }
    /* Bad element: permanent, before any storage call. */
    if (svc_element_check(m->element, why, why_len) < 0)
        return SVC_PRE_DEAD_BAD;
    /* 3. Ping. */
    if (m->ping || job->ping) {
        say(why, why_len, "ping (%s)", m->ping ? "message" : "config");
        return SVC_PRE_PING;
    }
    return SVC_PRE_CHECK_OUTPUT;
}

enum svc_post svc_decide_post(const struct svc_message *m, const struct svc_job_view *job,
                              int output_exists, int input_exists, int has_parent)
{
    if (output_exists && !(m->force || job->force))
        return SVC_POST_SKIP;
    if (!input_exists)
        return has_parent ? SVC_POST_TRIGGER_PARENT : SVC_POST_MISSING;
    return SVC_POST_PROCESS;
}

int svc_message_make_trigger(struct svc_message *out, const struct svc_message *in,
                             const char *parent, const char *job)
{
    if (!out || !in || !parent || !job)
        return -1;
    if (svc_message_copy(out, in) < 0)
        return -1;
    if (!out->limited) {
        clear_recipients(out);
    }
    free(out->trigger_children_of);
    out->trigger_children_of = NULL;
    out->limited = 1;
    if (add_recipient(out, parent) < 0 || add_recipient(out, job) < 0 ||
        !(out->trigger_children_of = strdup(job))) {
        svc_message_cleanup(out);
        return -1;
    }
    return 0;
}

/* See message.h. */
const char *svc_utf8_copy(char *dst, size_t n, const char *src)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t o = 0;
    while (*p && o + 1 < n) {
        size_t k = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        size_t i = 1;
        while (k && i < k && (p[i] & 0xC0) == 0x80)
            i++;
        /* Overlong forms, surrogates and code points above U+10FFFF. */
        if (k == 0 || i < k || (k == 2 && p[0] < 0xC2) ||
            (k == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) ||
            (k == 4 &&
             ((p[0] == 0xF0 && p[1] < 0x90) || p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90))) ||
            o + k >= n) {
            dst[o++] = '?';
            p++;
            continue;
        }
        memcpy(dst + o, p, k);
        o += k;
        p += k;
    }
    dst[o] = 0;
    return dst;
}
