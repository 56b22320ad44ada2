/* cloud.c: create and tear down the gcp/ clients as one unit. */
#include "service/cloud.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gcp/auth.h"
#include "gcp/gcs.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"
#include "service/storage.h"

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v && v[0];
}

int svc_cloud_init(struct svc_cloud *c, struct ev_loop *loop, int want_pubsub, int want_gcs,
                   struct svc_error *err)
{
    struct gcp_error ge = {0};
    memset(c, 0, sizeof(*c));
    if (!want_pubsub && !want_gcs)
        return 0;
    c->http = gcp_http_create(loop, NULL);
    if (!c->http)
        return svc_error_set(err, SVC_ENOMEM, "cannot create the HTTP engine");
    if ((want_pubsub && !env_set("PUBSUB_EMULATOR_HOST")) ||
        (want_gcs && !env_set("STORAGE_EMULATOR_HOST"))) {
        c->auth = gcp_auth_create(c->http, NULL, &ge);
        if (!c->auth) {
            svc_error_set(err, SVC_EREMOTE, "credentials: %s",
                          ge.msg[0] ? ge.msg : gcp_strerror(ge.code));
            goto fail;
        }
    }
    if (want_pubsub) {
        c->pubsub =
            gcp_pubsub_create(c->http, env_set("PUBSUB_EMULATOR_HOST") ? NULL : c->auth, NULL, &ge);
        if (!c->pubsub) {
            svc_error_set(err, SVC_EREMOTE, "pubsub client: %s",
                          ge.msg[0] ? ge.msg : gcp_strerror(ge.code));
            goto fail;
        }
    }
    if (want_gcs) {
        c->gcs =
            gcp_gcs_create(c->http, env_set("STORAGE_EMULATOR_HOST") ? NULL : c->auth, NULL, &ge);
        if (!c->gcs) {
            svc_error_set(err, SVC_EREMOTE, "storage client: %s",
                          ge.msg[0] ? ge.msg : gcp_strerror(ge.code));
            goto fail;
        }
    }
    return 0;
fail:
    svc_cloud_cleanup(c);
    return err ? err->code : SVC_EREMOTE;
}

void svc_cloud_cleanup(struct svc_cloud *c)
{
    if (c->http)
        gcp_http_cancel_all(c->http);
    gcp_gcs_destroy(c->gcs);
    gcp_pubsub_destroy(c->pubsub);
    gcp_auth_destroy(c->auth);
    gcp_http_destroy(c->http);
    memset(c, 0, sizeof(*c));
}

int svc_cloud_needs_gcs(const struct cfg_job *cfg)
{
    return svc_url_kind(cfg->input.location) == SVC_URL_GS ||
           svc_url_kind(cfg->output.location) == SVC_URL_GS ||
           (cfg->features.enabled && cfg->features.location &&
            svc_url_kind(cfg->features.location) == SVC_URL_GS);
}

int svc_cloud_ready(const struct svc_cloud *c)
{
    return !c->auth || gcp_auth_ready(c->auth);
}
