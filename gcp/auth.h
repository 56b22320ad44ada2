/* auth.h: OAuth2 access tokens by Application Default Credentials:
 * GOOGLE_APPLICATION_CREDENTIALS (service-account key -> RS256 JWT ->
 * token_uri), else the metadata server (GCE_METADATA_HOST overrides).
 * Tokens are cached and refreshed 5 min before expiry, one refresh in flight.
 * Loop thread only. Tokens are never logged. */
#ifndef WIGGLY_GCP_AUTH_H
#define WIGGLY_GCP_AUTH_H

#include "gcp/error.h"

struct gcp_http;
struct gcp_auth;

/* scope NULL = https://www.googleapis.com/auth/cloud-platform */
struct gcp_auth *gcp_auth_create(struct gcp_http *http, const char *scope, struct gcp_error *err);
void gcp_auth_destroy(struct gcp_auth *a);

/* token is borrowed: valid only during the callback. */
typedef void (*gcp_auth_cb)(void *ud, const struct gcp_error *err, const char *token);
/* Calls back with a valid token (cached, or after one shared refresh).
 * force: discard the cached token first (after a 401). */
int gcp_auth_token(struct gcp_auth *a, int force, gcp_auth_cb cb, void *ud);
/* Nonzero once a token has been obtained (readiness). */
int gcp_auth_ready(const struct gcp_auth *a);

#endif
