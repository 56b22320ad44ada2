/* pool.h: a fixed pool of worker threads for CPU work (the DSP chain).
 *
 * A job embeds struct svc_pool_job (intrusive node: the queue never
 * allocates). work() runs on a worker thread and must not touch loop state;
 * done(job, status) runs later on the loop thread, exactly once per
 * submitted job: status 0 after work() ran, SVC_ECANCELED when the job was
 * cancelled before a worker took it (work() never ran). A job already
 * running cannot be stopped from outside: svc_pool_cancel says so, and the
 * job's own work() checks a flag of its owner per chunk (libuv threadpool:
 * uv_cancel, then done(w, UV_ECANCELED)).
 * Threading: create/submit/cancel/destroy on the loop thread only.
 * destroy() lets the queued jobs run, joins the threads (so the owner
 * tells long jobs to stop first: their work() sees its flag and returns),
 * then calls done() for every job, so no job is ever lost. */
#ifndef WIGGLY_SERVICE_POOL_H
#define WIGGLY_SERVICE_POOL_H

#include <stdatomic.h>
#include <stddef.h>

struct ev_loop;
struct svc_pool;
struct svc_pool_job;

typedef void (*svc_pool_work_fn)(struct svc_pool_job *job);
typedef void (*svc_pool_done_fn)(struct svc_pool_job *job, int status);

struct svc_pool_job {
    struct svc_pool_job *next; /* owned by the pool while submitted */
    svc_pool_work_fn work;     /* worker thread */
    svc_pool_done_fn done;     /* loop thread */
    /* Set by the pool: when a worker took the job (ev_time() in µs), 0
     * while it waits. Readable from the loop thread at any time. */
    atomic_llong started_us;
    int status; /* pool's */
};

/* threads <= 0: number of online cores. NULL on failure. */
struct svc_pool *svc_pool_create(struct ev_loop *loop, int threads);
void svc_pool_destroy(struct svc_pool *p);
int svc_pool_submit(struct svc_pool *p, struct svc_pool_job *job);
/* 0: the job was still queued and is removed; its done() follows with
 * SVC_ECANCELED. SVC_EBUSY: a worker runs it (or it already finished);
 * done() follows with 0. */
int svc_pool_cancel(struct svc_pool *p, struct svc_pool_job *job);
/* Jobs waiting for a thread (not yet started). */
size_t svc_pool_queued(struct svc_pool *p);
/* Workers running a job now. */
int svc_pool_busy(struct svc_pool *p);
int svc_pool_threads(const struct svc_pool *p);
/* Flow control's default: configured > 0 as is, else twice the threads, so
 * a message downloads while another one's DSP runs. */
int svc_pool_max_in_flight(const struct svc_pool *p, int configured);
/* Number of online cores (>= 1). */
int svc_pool_cores(void);

#endif
