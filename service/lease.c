/* lease.c: periodic batched modifyAckDeadline for the messages in flight.
 * Deadlines are clamped to [10, 600] s (docs/gcp.md "Acks, modacks and
 * leases"); the timer runs at half the deadline so one lost request still
 * leaves time for the next.
 * Request callbacks carry no pointer to the lease, so outstanding requests
 * may outlive it. Loop thread only. */
#include "service/lease.h"

#include <stdlib.h>

#include <ev.h>

#include "gcp/pubsub.h"
#include "service/log.h"

struct svc_lease {
    struct ev_loop *loop;
    struct gcp_pubsub *ps;
    const char *subscription;
    int deadline;
    svc_lease_collect_fn collect;
    void *ctx;
    ev_timer timer;
    const char **ids;
    size_t cap;
    unsigned long sent;
};

static void on_modack(void *ud, const struct gcp_error *err)
{
    (void)ud;
    if (err && err->code != GCP_ECANCELED)
        svc_log(SVC_WARNING,
                &(struct svc_log_fields){.error = err->msg[0] ? err->msg : gcp_strerror(err->code),
                                         .duration_ms = -1},
                "lease extension failed (retried at the next interval)");
}

void svc_lease_extend_now(struct svc_lease *l, const char *const *ids, size_t n)
{
    if (!l || n == 0)
        return;
    if (gcp_pubsub_modack(l->ps, l->subscription, ids, n, l->deadline, on_modack, NULL) == 0)
        l->sent++;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct svc_lease *l = w->data;
    size_t n;
    (void)loop;
    (void)revents;
    for (;;) {
        n = l->collect(l->ctx, l->ids, l->cap);
        if (n < l->cap)
            break;
        const char **bigger = realloc(l->ids, l->cap * 2 * sizeof(*bigger));
        if (!bigger)
            break;
        l->ids = bigger;
        l->cap *= 2;
    }
    svc_lease_extend_now(l, l->ids, n);
}

struct svc_lease *svc_lease_create(struct ev_loop *loop, struct gcp_pubsub *ps,
                                   const char *subscription, int ack_deadline_s,
                                   svc_lease_collect_fn collect, void *ctx)
{
    struct svc_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->cap = 256;
    l->ids = malloc(l->cap * sizeof(*l->ids));
    if (!l->ids) {
        free(l);
        return NULL;
    }
    l->loop = loop;
    l->ps = ps;
    l->subscription = subscription;
    l->deadline = ack_deadline_s < 10 ? 10 : ack_deadline_s > 600 ? 600 : ack_deadline_s;
    l->collect = collect;
    l->ctx = ctx;
    ev_timer_init(&l->timer, on_timer, l->deadline / 2.0, l->deadline / 2.0);
    l->timer.data = l;
    ev_timer_start(loop, &l->timer);
    return l;
}

void svc_lease_destroy(struct svc_lease *l)
{
    if (!l)
        return;
    ev_timer_stop(l->loop, &l->timer);
    free(l->ids);
    free(l);
}

double svc_lease_interval(const struct svc_lease *l)
{
    return l ? l->deadline / 2.0 : 0;
}

unsigned long svc_lease_sent(const struct svc_lease *l)
{
    return l ? l->sent : 0;
}
