/* pool.c: worker threads fed from a locked FIFO; finished (or cancelled)
 * jobs go to a locked done list and one ev_async_send wakes the loop, whose
 * callback drains the whole list because sends coalesce (redis bio.c, libuv
 * uv__work_done). Cancelling a queued job unlinks it and sends it to the
 * done list with SVC_ECANCELED (libuv uv__work_cancel).
 * Locks: mu guards the queue, the done list, the counters and stop; workers
 * wait on cv. No lock is held while work() or done() runs. */
#include "service/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include "service/svc_error.h"

struct svc_pool {
    struct ev_loop *loop;
    ev_async wake;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct svc_pool_job *head, *tail; /* queued */
    struct svc_pool_job *done_head, *done_tail;
    size_t queued;
    int busy;
    int stop;
    int n_threads;
    pthread_t *threads;
};

int svc_pool_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

/* Under mu. */
static void push_done(struct svc_pool *p, struct svc_pool_job *j, int status)
{
    j->status = status;
    j->next = NULL;
    if (p->done_tail)
        p->done_tail->next = j;
    else
        p->done_head = j;
    p->done_tail = j;
}

static void *worker_main(void *arg)
{
    struct svc_pool *p = arg;
    for (;;) {
        struct svc_pool_job *j;
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head) { /* stop and nothing left */
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->busy++;
        atomic_store(&j->started_us, (long long)(ev_time() * 1e6));
        pthread_mutex_unlock(&p->mu);

        j->work(j);

        pthread_mutex_lock(&p->mu);
        p->busy--;
        push_done(p, j, 0);
        pthread_mutex_unlock(&p->mu);
        ev_async_send(p->loop, &p->wake);
    }
}

static void drain_done(struct svc_pool *p)
{
    struct svc_pool_job *j;
    pthread_mutex_lock(&p->mu);
    j = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (j) {
        struct svc_pool_job *next = j->next; /* done() may free or resubmit j */
        j->next = NULL;
        j->done(j, j->status);
        j = next;
    }
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    drain_done(w->data);
}

struct svc_pool *svc_pool_create(struct ev_loop *loop, int threads)
{
    struct svc_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (threads <= 0)
        threads = svc_pool_cores();
    p->loop = loop;
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    ev_async_init(&p->wake, on_wake);
    p->wake.data = p;
    ev_async_start(loop, &p->wake);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->n_threads++;
    }
    if (p->n_threads == 0) {
        svc_pool_destroy(p);
        return NULL;
    }
    return p;
}

void svc_pool_destroy(struct svc_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    ev_async_stop(p->loop, &p->wake);
    drain_done(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int svc_pool_submit(struct svc_pool *p, struct svc_pool_job *job)
{
    if (!p || !job || !job->work || !job->done)
        return SVC_EINVAL;
    job->next = NULL;
    atomic_store(&job->started_us, 0);
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return SVC_ECANCELED;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int svc_pool_cancel(struct svc_pool *p, struct svc_pool_job *job)
{
    struct svc_pool_job **pp, *prev = NULL;
    int rc = SVC_EBUSY;
    pthread_mutex_lock(&p->mu);
    for (pp = &p->head; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp != job)
            continue;
        *pp = job->next;
        if (p->tail == job)
            p->tail = prev;
        p->queued--;
        push_done(p, job, SVC_ECANCELED);
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        ev_async_send(p->loop, &p->wake); /* done() never runs inside this call */
    return rc;
}

int svc_pool_busy(struct svc_pool *p)
{
    int n;
    pthread_mutex_lock(&p->mu);
    n = p->busy;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t svc_pool_queued(struct svc_pool *p)
{
    size_t n;
    pthread_mutex_lock(&p->mu);
    n = p->queued;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int svc_pool_max_in_flight(const struct svc_pool *p, int configured)
{
    return configured > 0 ? configured : 2 * svc_pool_threads(p);
}

int svc_pool_threads(const struct svc_pool *p)
{
    return p ? p->n_threads : 0;
}
