/* fuzz_message.c: libFuzzer target for the Pub/Sub message decoder.
 *
 * Any bytes go through svc_message_decode. A decoded message whose element
 * passes svc_element_check (what the service would publish downstream) must
 * survive the wire format: encode -> decode -> encode gives the same text and
 * the same fields, and so does a deep copy. Also drives the pure decision
 * steps and the trigger builder on the decoded message, since they read every
 * field the decoder fills. Any violated invariant aborts (a finding). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "service/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_message", what, detail)

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void same_message(const struct svc_message *a, const struct svc_message *b, const char *ctx)
{
    if (!str_eq(a->element, b->element))
        die(ctx, "element differs");
    if (!a->force != !b->force || !a->ping != !b->ping || !a->limited != !b->limited)
        die(ctx, "flag differs");
    if (a->limited) {
        if (a->n_recipients != b->n_recipients)
            die(ctx, "recipient count differs");
        for (size_t i = 0; i < a->n_recipients; i++)
            if (!str_eq(a->recipients[i], b->recipients[i]))
                die(ctx, "recipient differs");
        if (!str_eq(a->trigger_children_of, b->trigger_children_of))
            die(ctx, "trigger_children_of differs");
    }
    if (a->n_audit != b->n_audit)
        die(ctx, "audit length differs");
    for (size_t i = 0; i < a->n_audit; i++)
        if (!str_eq(a->audit[i].job, b->audit[i].job) ||
            !str_eq(a->audit[i].time, b->audit[i].time))
            die(ctx, "audit entry differs");
}

static void round_trip(const struct svc_message *m)
{
    size_t len = 0;
    char *text = svc_message_encode(m, &len);
    if (!text)
        die("encode of a decoded, valid message failed", m->element);
    if (strlen(text) != len)
        die("encode length is not the text length", NULL);
    /* Escaping may push the text past the decode cap; nothing more to check. */
    if (len > SVC_MESSAGE_MAX) {
        free(text);
        return;
    }
    struct svc_message back;
    char why[256] = "";
    if (svc_message_decode(text, len, &back, why, sizeof(why)) != 0) {
        fprintf(stderr, "encoded: %s\n", text);
        die("decode of encoded message failed", why);
    }
    same_message(m, &back, "encode->decode");
    size_t len2 = 0;
    char *text2 = svc_message_encode(&back, &len2);
    if (!text2 || len2 != len || memcmp(text, text2, len) != 0)
        die("encode is not stable across a round trip", NULL);
    free(text2);
    free(text);
    svc_message_cleanup(&back);

    struct svc_message copy;
    if (svc_message_copy(&copy, m) == 0) {
        same_message(m, &copy, "copy");
        svc_message_cleanup(&copy);
    }
}

static void decisions(const struct svc_message *m)
{
    struct svc_message work;
    if (svc_message_copy(&work, m) != 0)
        return;
    const char *job = m->n_recipients ? m->recipients[0] : "job-a";
    struct svc_job_view view = {.name = job, .max_visits = 3};
    char why[256];
    enum svc_pre pre = svc_decide_pre(&work, &view, why, sizeof(why));
    if (pre == SVC_PRE_CHECK_OUTPUT) {
        for (int bits = 0; bits < 8; bits++)
            (void)svc_decide_post(&work, &view, bits & 1, bits & 2, bits & 4);
    }
    struct svc_message trig;
    if (svc_message_make_trigger(&trig, &work, "parent", job) == 0) {
        if (!trig.limited || !str_eq(trig.trigger_children_of, job))
            die("trigger is not limited to the parent's children", NULL);
        if (svc_message_audit_add(&trig, job, 4) == 0 && trig.n_audit > 4)
            die("audit_add exceeded max_audit", NULL);
        svc_message_cleanup(&trig);
    }
    svc_message_cleanup(&work);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct svc_message m;
    char why[256] = "";
    if (svc_message_decode(data, size, &m, why, sizeof(why)) != 0) {
        if (!why[0])
            die("decode failed without a reason", NULL);
        return 0;
    }
    if (!m.element)
        die("decode succeeded without an element", NULL);
    char ewhy[256] = "";
    if (svc_element_check(m.element, ewhy, sizeof(ewhy)) == 0) {
        round_trip(&m);
    } else if (!ewhy[0]) {
        die("element_check failed without a reason", NULL);
    }
    decisions(&m);
    svc_message_cleanup(&m);
    return 0;
}
