/* storage_int.h: what storage.c shares with its schemes. Internal to the
 * service module (svc__ names); callers use storage.h.
 *
 * A scheme (file://, gs://) is one file that defines one
 * const struct svc__storage_scheme; storage.c picks it by prefix from its
 * table and calls its operations, so storage.c never asks which scheme a
 * URL has (curl's vtls `struct Curl_ssl`, redis's ae_*.c backends).
 *
 * Contract of an operation (stat, stat_root, fetch, put, del): it gets an
 * op whose URL is well formed for the scheme (is_url) and within its
 * limits (check_name), fills the result fields or fails it
 * (svc__storage_fail), and ends it exactly once: svc__storage_ready() when
 * it finished inside the call (delivered later from the loop, never from
 * inside the caller's call), svc__storage_deliver() from an asynchronous
 * completion. Loop thread only. The check functions are pure (any thread). */
#ifndef WIGGLY_SERVICE_STORAGE_INT_H
#define WIGGLY_SERVICE_STORAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "service/storage.h"

struct gcp_gcs;

enum svc__storage_kind { SVC__OP_STAT, SVC__OP_FETCH, SVC__OP_DONE };

/* One call in flight. */
struct svc__storage_op {
    struct svc__storage_op *next; /* in the ready list */
    struct svc_storage *st;
    enum svc__storage_kind kind;
    const char *verb; /* "stat", "read", "write", ...: for messages */
    svc_storage_stat_cb stat_cb;
    svc_storage_fetch_cb fetch_cb;
    svc_storage_done_cb done_cb;
    void *ud;
    int failed;
    struct svc_error err;
    /* Results. */
    int exists;    /* stat, stat_root */
    uint64_t size; /* stat, fetch */
    int is_temp;   /* fetch: path is a temporary file the caller unlinks */
    char *path;    /* fetch: the local file; freed with the op */
};

/* What to write: a local file or bytes. */
struct svc__storage_put {
    const char *path; /* NULL: data and len */
    const void *data;
    size_t len;
    const char *content_type;
    int create_only;
};

struct svc__storage_scheme {
    const char *prefix;     /* "gs://": how its URLs start */
    const char *example;    /* "gs://bucket/": how a location starts, for messages */
    enum svc_url_kind kind; /* what svc_url_kind() says; SVC_URL_OTHER for a new one */
    /* Well formed enough to address (svc_url_kind): a bucket, a path. */
    int (*is_url)(const char *url);
    /* A job's location (config/ checked the generic syntax): the scheme's
     * own rules. 0, or -1 with the reason in why. */
    int (*check_location)(const char *location, char *why, size_t n);
    /* An object URL's limits (name lengths). 0, or -1 with the reason. */
    int (*check_name)(const char *url, char *why, size_t n);
    /* The root of a location (see svc_storage_root). 0 or -1. */
    int (*root)(const char *location, char *out, size_t n, int *made_by_put);
    void (*stat)(struct svc__storage_op *o, const char *url);
    void (*stat_root)(struct svc__storage_op *o, const char *location);
    void (*fetch)(struct svc__storage_op *o, const char *url, const char *temp_dir,
                  uint64_t max_bytes);
    void (*put)(struct svc__storage_op *o, const char *url, const struct svc__storage_put *p);
    void (*del)(struct svc__storage_op *o, const char *url);
};

extern const struct svc__storage_scheme svc__storage_file; /* storage_file.c */
extern const struct svc__storage_scheme svc__storage_gs;   /* storage_gs.c */

/* Ends o later, from the loop's ready list. */
void svc__storage_ready(struct svc__storage_op *o);
/* Ends o now (an asynchronous completion; never inside the caller's call). */
void svc__storage_deliver(struct svc__storage_op *o);
/* Marks o failed with code and a message; does not end it. */
void svc__storage_fail(struct svc__storage_op *o, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails o with SVC_EINVAL "cannot VERB 'url': unsupported or malformed
 * location" and ends it (ready). */
void svc__storage_bad_url(struct svc__storage_op *o, const char *url);
/* The GCS client given to svc_storage_create (may be NULL). */
struct gcp_gcs *svc__storage_gcs(const struct svc_storage *st);
/* s for a message: whole when it has at most max bytes, else its head,
 * "...", and its tail (never cut inside a UTF-8 character). Returns buf. */
const char *svc__storage_shorten(char *buf, size_t n, const char *s, size_t max);

#endif
