/* roots.h: do the roots of a job's locations exist: the bucket of every
 * gs:// location (input, output, features), the directory of a file://
 * input? GCS answers 404 for a missing bucket and a missing object alike,
 * so a typo in input.location would make every track look "missing"; a
 * runner takes work only while no root is known to be missing.
 *
 * Only a definite "does not exist" blocks: a root that cannot be checked
 * (no storage.buckets.get permission, a transient failure) counts as
 * present, with a warning, and the per-request answers (SVC_ENOBUCKET)
 * still keep its messages from being acked. A file:// output directory is
 * created on the first write, so it is not checked.
 * Threading: loop thread only. */
#ifndef WIGGLY_SERVICE_ROOTS_H
#define WIGGLY_SERVICE_ROOTS_H

#include "service/svc_error.h"

struct ev_loop;
struct cfg_job;
struct svc_storage;
struct svc_roots;

/* Whether every location of the job (input, output, features) is valid for
 * its scheme (svc_storage_check_location): config/ checks only the syntax
 * common to all schemes. 0, or SVC_EINVAL with err->msg like config's
 * errors: "input.location": "gs://x/" bucket name must be 3 to 63
 * characters. Pure; call it right after loading the config. */
int svc_roots_validate(const struct cfg_job *cfg, struct svc_error *err);

/* ok: 1 when no root is known to be missing. */
typedef void (*svc_roots_cb)(void *ud, int ok);

/* recheck_s > 0: while a root is missing, check again every recheck_s
 * seconds (cb after every round); 0: one round per svc_roots_check. */
struct svc_roots *svc_roots_create(struct ev_loop *loop, struct svc_storage *st,
                                   const struct cfg_job *cfg, double recheck_s, svc_roots_cb cb,
                                   void *ud);
/* Outstanding checks are delivered first (storage callbacks). */
void svc_roots_destroy(struct svc_roots *r);
/* Start a round now (no-op while one runs); not ready until it ends. Call
 * again when a request answered SVC_ENOBUCKET. */
void svc_roots_check(struct svc_roots *r);
/* 1 when the last round found every root (or could not tell). */
int svc_roots_ok(const struct svc_roots *r);
/* The missing roots, for an error message ("" when none). */
const char *svc_roots_missing(const struct svc_roots *r);

#endif
