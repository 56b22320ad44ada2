/* sync.c: blocking wrappers for CLI verbs: a private libev loop runs until
 * the asynchronous gcp/ call has called back. */
#include "service/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "gcp/http.h"
#include "gcp/pubsub.h"

int svc_sync_init(struct svc_sync *s, int want_pubsub, int want_gcs, struct svc_error *err)
{
    memset(s, 0, sizeof(*s));
    s->loop = ev_loop_new(EVFLAG_AUTO);
    if (!s->loop)
        return svc_error_set(err, SVC_ENOMEM, "cannot create an event loop");
    if (svc_cloud_init(&s->cloud, s->loop, want_pubsub, want_gcs, err) != 0) {
        ev_loop_destroy(s->loop);
        s->loop = NULL;
        return err ? err->code : SVC_EREMOTE;
    }
    return 0;
}

void svc_sync_cleanup(struct svc_sync *s)
{
    svc_cloud_cleanup(&s->cloud);
    if (s->loop)
        ev_loop_destroy(s->loop);
    s->loop = NULL;
}

int svc_sync_wait(struct svc_sync *s, int *flag, double limit_s)
{
    double end = ev_time() + limit_s;
    while (!*flag && ev_time() < end)
        ev_run(s->loop, EVRUN_ONCE);
    return *flag ? 0 : SVC_ETIMEOUT;
}

struct subwait {
    int done;
    struct gcp_error err;
    struct svc_sync_sub *out;
};

static void on_subinfo(void *ud, const struct gcp_error *err,
                       const struct gcp_pubsub_subscription_info *info)
{
    struct subwait *w = ud;
    if (err) {
        w->err = *err;
    } else {
        snprintf(w->out->topic, sizeof(w->out->topic), "%s", info->topic);
        snprintf(w->out->dead_letter_topic, sizeof(w->out->dead_letter_topic), "%s",
                 info->dead_letter_topic ? info->dead_letter_topic : "");
        w->out->ack_deadline_s = info->ack_deadline_s;
        w->out->max_delivery_attempts = info->max_delivery_attempts;
    }
    w->done = 1;
}

int svc_sync_sub_get(struct svc_sync *s, const char *subscription, struct svc_sync_sub *out,
                     struct svc_error *err)
{
    struct subwait w = {.out = out};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = gcp_pubsub_subscription_info(s->cloud.pubsub, subscription, on_subinfo, &w);
    if (rc == 0 && svc_sync_wait(s, &w.done, 120) != 0) {
        gcp_http_cancel_all(s->cloud.http); /* its callback fires now, while w lives */
        return svc_error_set(err, SVC_ETIMEOUT, "GET %s: no answer within 120 s", subscription);
    }
    if (rc != 0)
        w.err.code = rc;
    if (w.err.code == 0)
        return 0;
    return svc_error_from_gcp(err, &w.err);
}
