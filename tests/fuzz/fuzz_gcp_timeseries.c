/* fuzz_gcp_timeseries.c: libFuzzer target for the Cloud Monitoring
 * projects.timeSeries.list answer parser (gcp__monitoring_parse_latest,
 * gcp/monitoring.c), whose value `wiggly status` prints as a backlog; and
 * for the RFC 3339 parser it uses, fed the same bytes as a string.
 *
 * Invariants beyond "no crash, no leak": a failure is GCP_EPROTO or
 * GCP_ENOMEM with a reason and a zeroed result; a success with found has a
 * finite value and end time, and without found a zero value (nothing known
 * is never a number); the parse is deterministic. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gcp/gcp_int.h"
#include "gcp/monitoring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_gcp_timeseries", what, detail)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gcp_monitoring_point p, q;
    struct gcp_error e;
    char *s;
    double t;
    int rc;

    memset(&e, 0, sizeof e);
    rc = gcp__monitoring_parse_latest((const char *)data, size, &p, &e);
    if (rc < 0) {
        if (rc != GCP_EPROTO && rc != GCP_ENOMEM)
            die("unexpected failure code", e.msg);
        if (e.code != rc || !e.msg[0])
            die("failure without its code and reason", NULL);
        if (p.found || p.value != 0 || p.end_time != 0 || p.series)
            die("failure left a result", NULL);
    } else {
        if (rc != 0)
            die("positive return", NULL);
        if (p.found && (!isfinite(p.value) || !isfinite(p.end_time)))
            die("a point that is not finite", NULL);
        if (!p.found && (p.value != 0 || p.end_time != 0))
            die("a value without a point", NULL);
        if (gcp__monitoring_parse_latest((const char *)data, size, &q, &e) != 0 ||
            memcmp(&p, &q, sizeof p) != 0)
            die("the same body parsed twice differs", NULL);
    }
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (gcp__rfc3339_parse(s, &t) == 0 && !isfinite(t))
        die("a timestamp that is not finite", s);
    free(s);
    return 0;
}
