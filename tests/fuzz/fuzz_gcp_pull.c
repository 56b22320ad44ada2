/* fuzz_gcp_pull.c: libFuzzer target for the Pub/Sub :pull answer parser
 * (gcp__pubsub_parse_pull, gcp/pubsub.c), the bytes the service trusts most:
 * every message it works on comes through here.
 *
 * Invariants beyond "no crash, no leak": a failure is GCP_EPROTO or
 * GCP_ENOMEM with a reason and an empty result; a success has an array
 * exactly when n > 0, and every message has an ackId, a deliveryAttempt >= 0
 * (0 = unknown), decoded data no longer than the body that survives a base64
 * round trip, and n_attrs non-NULL attributes. Every string is read to its end, so ASan sees any
 * that points outside the parsed document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gcp/gcp_int.h"
#include "gcp/pubsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_gcp_pull", what, detail)

static size_t touch(const char *s)
{
    return s ? strlen(s) : 0;
}

static void check_message(const struct gcp_pubsub_received *m, size_t body_len)
{
    unsigned char *back = NULL;
    size_t back_len = 0, j;
    char *b64;

    if (!m->ack_id)
        die("message without ackId", NULL);
    touch(m->ack_id);
    touch(m->message_id);
    touch(m->publish_time);
    if (m->delivery_attempt < 0)
        die("negative deliveryAttempt", NULL);
    if (m->data_len > body_len)
        die("decoded data longer than the body", NULL);
    if (m->data_len && !m->data)
        die("data_len without data", NULL);
    /* What was decoded encodes and decodes back to itself. */
    b64 = gcp__b64_encode(m->data, m->data_len, 0);
    if (!b64)
        return; /* out of memory */
    if (gcp__b64_decode(b64, strlen(b64), &back, &back_len) < 0 || back_len != m->data_len ||
        (back_len && memcmp(back, m->data, back_len) != 0))
        die("message data does not survive a base64 round trip", NULL);
    free(back);
    free(b64);
    if (m->n_attrs && !m->attrs)
        die("n_attrs without attrs", NULL);
    for (j = 0; j < m->n_attrs; j++) {
        if (!m->attrs[j].key || !m->attrs[j].value)
            die("attribute with a NULL key or value", NULL);
        touch(m->attrs[j].key);
        touch(m->attrs[j].value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gcp__pull p;
    struct gcp_error e;
    size_t i;
    int rc;

    memset(&e, 0, sizeof e);
    rc = gcp__pubsub_parse_pull((const char *)data, size, &p, &e);
    if (rc < 0) {
        if (rc != GCP_EPROTO && rc != GCP_ENOMEM)
            die("unexpected failure code", e.msg);
        if (e.code != rc || !e.msg[0])
            die("failure without its code and reason", NULL);
        if (p.msgs || p.n || p.doc)
            die("failure left a result", NULL);
        gcp__pubsub_pull_cleanup(&p);
        return 0;
    }
    if (rc != 0)
        die("positive return", NULL);
    if (!p.n != !p.msgs)
        die("msgs must be non-NULL exactly when n > 0", NULL);
    for (i = 0; i < p.n; i++)
        check_message(&p.msgs[i], size);
    gcp__pubsub_pull_cleanup(&p);
    if (p.msgs || p.n || p.doc)
        die("cleanup left a result", NULL);
    return 0;
}
