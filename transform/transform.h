/* transform.h: a user transform's child processes (docs/transforms.md).
 *
 * A tf_pool starts `workers` long-lived children of one command, each with
 * requests on its fd 3 and replies on its fd 4 (protocol v1, proto.h), and
 * keeps them alive: a child that exits, hangs past timeout_s or breaks the
 * protocol is killed with its process group and restarted with capped
 * exponential backoff. One supervisor thread of its own polls every child's
 * sockets and pipes (replies, stdout and stderr lines for the log) and owns
 * the timers; callers hand it one track at a time with tf_pool_call, which
 * blocks the calling (worker) thread until the child answers, the track
 * fails, or *cancel is set. The model is libuv's uv_spawn (fd mapping, an
 * exec-error pipe, the child's own process group) without an event loop.
 *
 * Threading: tf_pool_call from any number of threads at once; everything
 * else from one thread (the owner). No callback runs under a caller's lock;
 * the log callback runs on the supervisor thread. */
#ifndef WIGGLY_TRANSFORM_H
#define WIGGLY_TRANSFORM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "transform/proto.h"

struct tf_pool;

enum tf_log_level { TF_LOG_DEBUG = 0, TF_LOG_INFO, TF_LOG_WARNING, TF_LOG_ERROR };
/* worker: the child's index, -1 for the pool; stream: "stdout", "stderr"
 * for a line the child printed, NULL for wiggly's own message. */
typedef void (*tf_log_fn)(void *ud, enum tf_log_level level, int worker, const char *stream,
                          const char *text);

struct tf_opts {
    char *const *argv;   /* argv[0] without '/' is looked up in PATH */
    char *const *env;    /* extra "NAME=value", NULL-terminated; may be NULL */
    const char *scratch; /* WIGGLY_SCRATCH */
    const char *job;     /* WIGGLY_JOB */
    int workers, max_in_flight;
    double startup_timeout_s, timeout_s;
    int max_start_failures; /* consecutive children dead before hello; 0 = 5 */
    tf_log_fn log;
    void *log_ud;
};

/* Resolves the program, starts the supervisor and the children (who then
 * load and say hello in the background). 0, or -1 with the reason. */
int tf_pool_create(const struct tf_opts *o, struct tf_pool **out, char *why, size_t why_n);
/* Closes every child's fd 3 (EOF asks it to exit), waits up to grace_s,
 * then SIGTERM to its process group, SIGKILL 3 s later, and reaps it. Calls
 * still waiting return TF_CANCELED first. NULL is a no-op. */
void tf_pool_destroy(struct tf_pool *p, double grace_s);

enum tf_state { TF_STARTING = 0, TF_READY, TF_FAILED };
/* READY once a child has said hello; FAILED (with why) when the transform
 * cannot start: a wrong protocol, or max_start_failures children in a row
 * that died or timed out before hello. */
enum tf_state tf_pool_state(struct tf_pool *p, char *why, size_t why_n);
/* Blocks until READY or FAILED or timeout_s. */
enum tf_state tf_pool_wait(struct tf_pool *p, double timeout_s, char *why, size_t why_n);
/* The first hello's name and version ("" before). */
void tf_pool_hello(struct tf_pool *p, char *name, size_t name_n, char *version, size_t version_n);

struct tf_stats {
    uint64_t restarts; /* children started again after the first start */
    uint64_t requests; /* requests sent */
    int in_flight;     /* requests sent and not answered */
    int children_ready;
    long max_rss_kib; /* the largest VmHWM a child reached (read before it is reaped) */
};
void tf_pool_stats(struct tf_pool *p, struct tf_stats *st);

enum tf_outcome {
    TF_DONE = 0,
    TF_ERROR,       /* the child's error reply (retryable in res) */
    TF_CRASHED,     /* the child died (or broke the protocol) with this track in flight */
    TF_TIMEOUT,     /* timeout_s passed; the child was killed */
    TF_CANCELED,    /* *cancel was set, or the pool is going away */
    TF_UNAVAILABLE, /* the pool FAILED */
};

struct tf_result {
    enum tf_outcome outcome;
    int retryable;       /* TF_ERROR */
    int blame;           /* TF_CRASHED: crashes in a row of this element alone in a child */
    char *features_json; /* TF_DONE: the reply's features, malloc'd, or NULL */
    char msg[1024];      /* why, for every outcome but TF_DONE */
};
void tf_result_cleanup(struct tf_result *r);

/* One track, blocking. req->id is ignored (the pool numbers requests).
 * A track that was in flight with others when their child crashed is sent
 * again alone, without blame, before this returns; TF_CRASHED means it
 * crashed a child alone. Checks *cancel (may be NULL) every 50 ms. */
void tf_pool_call(struct tf_pool *p, const struct tf_request *req, const atomic_int *cancel,
                  struct tf_result *res);

#endif
