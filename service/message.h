/* message.h: the wiggly message (what Klio's KlioMessage v2 carries) and the
 * decision logic of docs/messages.md "What a job does with a message", as
 * pure functions: no I/O, so the loop, batch mode and unit tests share one
 * implementation.
 *
 * Wire format (JSON, documented in docs/messages.md):
 *   {"v":1, "element":"artist/album/track-001", "force":false, "ping":false,
 *    "recipients":{"type":"anyone"} |
 *                 {"type":"limited","jobs":["a","b"],"trigger_children_of":"b"},
 *    "audit":[{"job":"a","time":"2026-11-22T10:00:00Z"}, ...]}
 * Anything that is not such JSON is a plain track ID, top-down.
 * Ownership: svc_message_decode fills a caller-owned struct; release with
 * svc_message_cleanup. Thread-safe (no globals). */
#ifndef WIGGLY_SERVICE_MESSAGE_H
#define WIGGLY_SERVICE_MESSAGE_H

#include <stddef.h>

#define SVC_ELEMENT_MAX 1024
/* Decode limits: a payload larger than SVC_MESSAGE_MAX bytes, nested deeper
 * than SVC_MESSAGE_DEPTH_MAX, with more than SVC_RECIPIENTS_MAX recipients or
 * an audit trail longer than SVC_AUDIT_DECODE_MAX (= CFG_AUDIT_MAX) is
 * rejected with a reason. */
#define SVC_MESSAGE_MAX       65536
#define SVC_MESSAGE_DEPTH_MAX 16
#define SVC_RECIPIENTS_MAX    64
#define SVC_AUDIT_DECODE_MAX  256

struct svc_audit_entry {
    char *job;
    char *time; /* RFC 3339 UTC */
};

struct svc_message {
    char *element;
    int force;
    int ping;
    int limited;       /* 0 = anyone */
    char **recipients; /* when limited */
    size_t n_recipients;
    char *trigger_children_of; /* may be NULL */
    struct svc_audit_entry *audit;
    size_t n_audit;
};

/* Returns 0, or -1 with a reason in why (e.g. "message is not valid UTF-8").
 * A non-JSON payload becomes a plain element; validation of the element is
 * separate (svc_element_check). */
int svc_message_decode(const void *data, size_t len, struct svc_message *m, char *why,
                       size_t why_len);
/* malloc'ed JSON text (NUL-terminated); *len without the NUL (len may be
 * NULL). NULL when m has no element, a string is not valid UTF-8, or out of
 * memory. */
char *svc_message_encode(const struct svc_message *m, size_t *len);
void svc_message_cleanup(struct svc_message *m);
/* Deep copy. */
int svc_message_copy(struct svc_message *dst, const struct svc_message *src);
/* Append job to the audit trail, dropping the oldest beyond max_audit. */
int svc_message_audit_add(struct svc_message *m, const char *job, size_t max_audit);

/* 0 if the element is a valid relative object name, else -1 and why. */
int svc_element_check(const char *element, char *why, size_t why_len);

/* Copy src into dst (of size n, n >= 1), each byte of an invalid or cut
 * UTF-8 sequence replaced by '?'; returns dst. Error texts and elements are
 * cut at a byte count (snprintf, the 1024-byte element field), possibly
 * inside a character, and what leaves the process must be valid UTF-8:
 * Pub/Sub refuses attributes that are not (the dead-letter publish would
 * fail on every redelivery), and a summary on stdout must not break a
 * terminal or a parser. */
const char *svc_utf8_copy(char *dst, size_t n, const char *src);

/* Decision steps 1-3, before any storage call. */
enum svc_pre {
    SVC_PRE_DROP,        /* limited recipients, this job not among them */
    SVC_PRE_DEAD_LOOP,   /* loop guard tripped */
    SVC_PRE_DEAD_BAD,    /* bad element */
    SVC_PRE_PING,        /* pass through, no storage */
    SVC_PRE_CHECK_OUTPUT /* go on: stat the output */
};
struct svc_job_view {
    const char *name;
    int force, ping; /* config-level */
    int max_visits;
};
/* May rewrite m (limited -> anyone when this job is trigger_children_of). */
enum svc_pre svc_decide_pre(struct svc_message *m, const struct svc_job_view *job, char *why,
                            size_t why_len);

/* Steps 4-6, after the storage checks. */
enum svc_post {
    SVC_POST_SKIP,           /* output exists, not forced: pass through */
    SVC_POST_TRIGGER_PARENT, /* input missing, parent configured */
    SVC_POST_MISSING,        /* input missing, no parent: log, count, ack */
    SVC_POST_PROCESS
};
enum svc_post svc_decide_post(const struct svc_message *m, const struct svc_job_view *job,
                              int output_exists, int input_exists, int has_parent);

/* The message to publish to the parent's topic for a bottom-up trigger:
 * recipients limited to [existing..., parent, this job] (existing ones only
 * if in was limited; deduplicated), trigger_children_of = this job; element,
 * force, ping and audit copied. out is initialised here (release with
 * svc_message_cleanup); in is not changed.
 * The audit trail is the loop guard's only memory: add this job
 * (svc_message_audit_add) to every message it publishes, triggers included. */
int svc_message_make_trigger(struct svc_message *out, const struct svc_message *in,
                             const char *parent, const char *job);

#endif
