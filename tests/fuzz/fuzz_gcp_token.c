/* fuzz_gcp_token.c: libFuzzer target for the token answer parser
 * (gcp__auth_parse_token, gcp/auth.c): metadata server and OAuth token
 * endpoint. The token it returns goes into an Authorization header of every
 * request, and expires_in into the refresh schedule.
 *
 * Invariants beyond "no crash, no leak": a failure is GCP_EPROTO or
 * GCP_ENOMEM with a reason and no token; a success has a token of 1 to
 * GCP__TOKEN_MAX visible ASCII bytes (nothing that could end the header
 * line) and a finite expires_in in (0, GCP__TOKEN_MAX_LIFE_S] (a NaN once
 * got through: tests/fuzz/corpus/fuzz_gcp_token/regress-nan-expiry). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gcp/gcp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_gcp_token", what, detail)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gcp__token t;
    struct gcp_error e;
    size_t n, i;
    int rc;

    memset(&e, 0, sizeof e);
    rc = gcp__auth_parse_token((const char *)data, size, &t, &e);
    if (rc < 0) {
        if ((rc != GCP_EPROTO && rc != GCP_ENOMEM) || e.code != rc || !e.msg[0])
            die("failure without its code and a reason", e.msg);
        if (t.access_token)
            die("failure left a token", NULL);
        return 0;
    }
    if (rc != 0 || !t.access_token)
        die("success without a token", NULL);
    n = strlen(t.access_token);
    if (n == 0 || n > size || n > GCP__TOKEN_MAX)
        die("token empty or longer than the body or the cap", NULL);
    for (i = 0; i < n; i++)
        if (t.access_token[i] < 0x21 || t.access_token[i] > 0x7e)
            die("token byte that is not visible ASCII (header injection)", NULL);
    if (!(t.expires_in > 0 && t.expires_in <= GCP__TOKEN_MAX_LIFE_S))
        die("expires_in not in (0, GCP__TOKEN_MAX_LIFE_S]", NULL);
    gcp__auth_token_cleanup(&t);
    if (t.access_token)
        die("cleanup left the token", NULL);
    return 0;
}
