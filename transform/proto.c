/* proto.c: the wire codec of user transforms, protocol version 1
 * (docs/transforms.md "Protocol, version 1").
 *
 * A reply line is checked before jansson sees it (length cap, no NUL, no
 * newline), then parsed strictly: JSON_REJECT_DUPLICATES, valid UTF-8 and no
 * "\u0000" (jansson's own checks), a top-level object, a known "type", every
 * field of that type present and of its type. Unknown members are ignored,
 * so a newer SDK can add fields. Each type is one row of types[] with its
 * decoder. Every reason is one line of printable ASCII: what comes from the
 * child (a type name, jansson's text quoting the input) is escaped first.
 * A request is built as a jansson object in the documented key order
 * (jansson keeps insertion order) and dumped compactly; "params" is
 * re-encoded, so its numbers come out in jansson's spelling.
 * No globals, no locks. */
#include "transform/proto.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void say(char *why, size_t why_n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_n, const char *fmt, ...)
{
    if (!why || why_n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_n, fmt, ap);
    va_end(ap);
}

/* The first max bytes of s (len bytes) as printable ASCII for a reason:
 * '"' and '\' escaped, other bytes outside 0x20..0x7e as \xNN, "..." when
 * cut. dst_n >= 4 * max + 4 keeps it whole. */
static void printable(char *dst, size_t dst_n, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            snprintf(esc, sizeof(esc), "\\x%02x", c);
        else
            snprintf(esc, sizeof(esc), "%c", c);
        size_t k = strlen(esc);
        if (o + k + 1 > dst_n)
            break;
        memcpy(dst + o, esc, k);
        o += k;
    }
    if (len > max && o + 4 <= dst_n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    if (dst_n)
        dst[o] = '\0';
}

/* A member that must be there: it, or NULL with the reason. */
static json_t *member(json_t *root, const char *key, char *why, size_t why_n)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        say(why, why_n, "\"%s\" is missing", key);
    return v;
}

/* A string member copied into dst (dst_n bytes with the NUL). */
static int get_string(json_t *root, const char *key, int nonempty, char *dst, size_t dst_n,
                      char *why, size_t why_n)
{
    json_t *v = member(root, key, why, why_n);
    if (!v)
        return -1;
    if (!json_is_string(v) || (nonempty && json_string_length(v) == 0)) {
        say(why, why_n, "\"%s\" must be a %sstring", key, nonempty ? "non-empty " : "");
        return -1;
    }
    size_t n = json_string_length(v);
    if (n >= dst_n) {
        say(why, why_n, "%s longer than %zu bytes", key, dst_n - 1);
        return -1;
    }
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

static int get_id(json_t *root, struct tf_msg *m, char *why, size_t why_n)
{
    json_t *v = member(root, "id", why, why_n);
    if (!v)
        return -1;
    size_t n = json_string_length(v); /* 0 for a non-string */
    if (!json_is_string(v) || n == 0 || n >= sizeof(m->id)) {
        say(why, why_n, "\"id\" must be a non-empty string of at most %zu bytes",
            sizeof(m->id) - 1);
        return -1;
    }
    memcpy(m->id, json_string_value(v), n + 1);
    return 0;
}

static int decode_hello(json_t *root, struct tf_msg *m, char *why, size_t why_n)
{
    json_t *p = member(root, "protocol", why, why_n);
    if (!p)
        return -1;
    if (!json_is_integer(p)) {
        say(why, why_n, "\"protocol\" must be an integer");
        return -1;
    }
    json_int_t v = json_integer_value(p);
    if (v < INT_MIN || v > INT_MAX) {
        say(why, why_n, "\"protocol\" %" JSON_INTEGER_FORMAT " is out of range", v);
        return -1;
    }
    m->protocol = (int)v;
    if (get_string(root, "name", 1, m->name, sizeof(m->name), why, why_n) != 0)
        return -1;
    return get_string(root, "version", 0, m->version, sizeof(m->version), why, why_n);
}

static int decode_done(json_t *root, struct tf_msg *m, char *why, size_t why_n)
{
    if (get_id(root, m, why, why_n) != 0)
        return -1;
    json_t *f = json_object_get(root, "features");
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_object(f)) {
        say(why, why_n, "\"features\" must be an object");
        return -1;
    }
    m->features_json = json_dumps(f, JSON_COMPACT);
    if (!m->features_json) {
        say(why, why_n, "out of memory");
        return -1;
    }
    return 0;
}

static int decode_error(json_t *root, struct tf_msg *m, char *why, size_t why_n)
{
    if (get_id(root, m, why, why_n) != 0)
        return -1;
    json_t *r = member(root, "retryable", why, why_n);
    if (!r)
        return -1;
    if (!json_is_boolean(r)) {
        say(why, why_n, "\"retryable\" must be true or false");
        return -1;
    }
    m->retryable = json_is_true(r);
    json_t *msg = member(root, "message", why, why_n);
    if (!msg)
        return -1;
    if (!json_is_string(msg)) {
        say(why, why_n, "\"message\" must be a string");
        return -1;
    }
    /* jansson refuses "\u0000" without JSON_ALLOW_NUL: the text is whole. */
    m->message = strdup(json_string_value(msg));
    if (!m->message) {
        say(why, why_n, "out of memory");
        return -1;
    }
    return 0;
}

static const struct {
    const char *name;
    enum tf_msg_type type;
    int (*decode)(json_t *root, struct tf_msg *m, char *why, size_t why_n);
} types[] = {
    {"hello", TF_MSG_HELLO, decode_hello},
    {"done", TF_MSG_DONE, decode_done},
    {"error", TF_MSG_ERROR, decode_error},
};

static int decode(json_t *root, struct tf_msg *m, char *why, size_t why_n)
{
    if (!json_is_object(root)) {
        say(why, why_n, "not a JSON object");
        return -1;
    }
    json_t *t = member(root, "type", why, why_n);
    if (!t)
        return -1;
    if (!json_is_string(t)) {
        say(why, why_n, "\"type\" must be a string");
        return -1;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(json_string_value(t), types[i].name) == 0) {
            m->type = types[i].type;
            return types[i].decode(root, m, why, why_n);
        }
    }
    char name[64 * 4 + 4];
    printable(name, sizeof(name), json_string_value(t), json_string_length(t), 64);
    say(why, why_n, "unknown type \"%s\"", name);
    return -1;
}

int tf_msg_parse(const char *line, size_t len, struct tf_msg *m, char *why, size_t why_n)
{
    memset(m, 0, sizeof(*m));
    if (why && why_n)
        why[0] = '\0';
    if (len > TF_LINE_MAX) {
        say(why, why_n, "line longer than %d bytes", TF_LINE_MAX);
        return -1;
    }
    if (!line)
        line = "";
    const char *p = memchr(line, '\0', len);
    if (p) {
        say(why, why_n, "NUL byte at column %zu", (size_t)(p - line) + 1);
        return -1;
    }
    p = memchr(line, '\n', len);
    if (p) {
        say(why, why_n, "newline at column %zu inside one line", (size_t)(p - line) + 1);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char text[sizeof(jerr.text) * 4 + 4];
        printable(text, sizeof(text), jerr.text, strlen(jerr.text), sizeof(jerr.text));
        say(why, why_n, "not JSON: %s at column %d", text, jerr.column);
        return -1;
    }
    int rc = decode(root, m, why, why_n);
    json_decref(root);
    if (rc != 0)
        tf_msg_cleanup(m);
    return rc;
}

void tf_msg_cleanup(struct tf_msg *m)
{
    if (!m)
        return;
    free(m->message);
    free(m->features_json);
    memset(m, 0, sizeof(*m));
}

/* The request object, or NULL (a NULL or non-UTF-8 string, a repeated
 * output name, params that are not an object, out of memory). */
static json_t *request_object(const struct tf_request *r)
{
    if (!r->id || !r->element || !r->audio ||
        (r->n_outputs && (!r->output_names || !r->output_paths)))
        return NULL;
    json_t *outputs = json_object();
    for (size_t i = 0; outputs && i < r->n_outputs; i++) {
        const char *name = r->output_names[i], *path = r->output_paths[i];
        if (!name || !path || json_object_get(outputs, name) ||
            json_object_set_new(outputs, name, json_string(path)) != 0) {
            json_decref(outputs);
            return NULL;
        }
    }
    json_t *params =
        r->params_json ? json_loads(r->params_json, JSON_REJECT_DUPLICATES, NULL) : json_object();
    if (params && !json_is_object(params)) {
        json_decref(params);
        params = NULL;
    }
    json_t *o = json_object();
    /* json_object_set_new steals the value, also a NULL one, and fails on
     * it: one bad value fails the whole object. */
    int bad = !o || !outputs || !params;
    if (o) {
        bad |= json_object_set_new(o, "type", json_string("process"));
        bad |= json_object_set_new(o, "id", json_string(r->id));
        bad |= json_object_set_new(o, "element", json_string(r->element));
        bad |= json_object_set_new(o, "audio", json_string(r->audio));
        bad |= json_object_set_new(o, "rate", json_integer(r->rate));
        bad |= json_object_set_new(o, "channels", json_integer(r->channels));
        bad |= json_object_set_new(o, "frames", json_integer(r->frames));
        bad |= json_object_set_new(o, "outputs", outputs);
        bad |= json_object_set_new(o, "params", params);
        bad |= json_object_set_new(o, "attempt", json_integer(r->attempt));
    } else {
        json_decref(outputs);
        json_decref(params);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *tf_request_encode(const struct tf_request *r, size_t *len)
{
    json_t *o = r ? request_object(r) : NULL;
    if (!o)
        return NULL;
    /* Measure first: no allocation beyond the cap. */
    size_t n = json_dumpb(o, NULL, 0, JSON_COMPACT);
    char *line = NULL;
    if (n > 0 && n <= TF_LINE_MAX)
        line = malloc(n + 2);
    if (line && json_dumpb(o, line, n, JSON_COMPACT) != n) {
        free(line);
        line = NULL;
    }
    json_decref(o);
    if (!line)
        return NULL;
    line[n] = '\n';
    line[n + 1] = '\0';
    if (len)
        *len = n + 1;
    return line;
}
