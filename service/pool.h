/* pool.h: a fixed pool of worker threads for CPU work (the DSP chain).
 *
 * A job embeds struct svc_pool_job (intrusive node: the queue never
 * allocates). work() runs on a worker thread and must not touch loop state;
 * done() runs later on the loop thread, exactly once per submitted job.
 * Threading: create/submit/destroy on the loop thread only.
 * destroy() lets the queued jobs run, joins the threads, then calls done()
 * for every finished job, so no job is ever lost. */
#ifndef WIGGLY_SERVICE_POOL_H
#define WIGGLY_SERVICE_POOL_H

#include <stddef.h>

struct ev_loop;
struct svc_pool;
struct svc_pool_job;

typedef void (*svc_pool_fn)(struct svc_pool_job *job);

struct svc_pool_job {
    struct svc_pool_job *next; /* owned by the pool while submitted */
    svc_pool_fn work;          /* worker thread */
    svc_pool_fn done;          /* loop thread */
};

/* threads <= 0: number of online cores. NULL on failure. */
struct svc_pool *svc_pool_create(struct ev_loop *loop, int threads);
void svc_pool_destroy(struct svc_pool *p);
int svc_pool_submit(struct svc_pool *p, struct svc_pool_job *job);
/* Jobs waiting for a thread (not yet started). */
size_t svc_pool_queued(struct svc_pool *p);
int svc_pool_threads(const struct svc_pool *p);
/* Number of online cores (>= 1). */
int svc_pool_cores(void);

#endif
