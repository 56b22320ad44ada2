/* fuzz_transform_reply.c: libFuzzer target for the transform reply codec.
 *
 * Any bytes are one reply line for tf_msg_parse. A rejected line must come
 * with a one-line printable reason and leave the struct owning nothing; an
 * accepted one must hold what transform/proto.h promises for its type (a
 * done's features, when present, read back as a JSON object). Any violated
 * invariant aborts (a finding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_common.h"
#include "transform/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_transform_reply", what, detail)

static void check_rejected(const struct tf_msg *m, const char *why)
{
    if (!why[0])
        die("rejected without a reason", NULL);
    for (const char *p = why; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            die("reason is not one printable line", why);
    if (m->message || m->features_json || m->id[0] || m->name[0] || m->type)
        die("a rejected line left something in the struct", why);
}

static void check_string(const char *s, size_t cap, int nonempty, const char *what)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        die("string not terminated", what);
    if (nonempty && n == 0)
        die("empty string accepted", what);
}

static void check_accepted(const struct tf_msg *m)
{
    switch (m->type) {
    case TF_MSG_HELLO:
        check_string(m->name, sizeof(m->name), 1, "name");
        check_string(m->version, sizeof(m->version), 0, "version");
        if (m->message || m->features_json || m->id[0])
            die("hello carries fields of another type", NULL);
        break;
    case TF_MSG_DONE:
        check_string(m->id, sizeof(m->id), 1, "id");
        if (m->message)
            die("done carries a message", NULL);
        if (m->features_json) {
            json_t *f = json_loads(m->features_json, JSON_REJECT_DUPLICATES, NULL);
            if (!json_is_object(f))
                die("features_json is not a JSON object", m->features_json);
            json_decref(f);
        }
        break;
    case TF_MSG_ERROR:
        check_string(m->id, sizeof(m->id), 1, "id");
        if (!m->message)
            die("error without a message", NULL);
        if (m->features_json)
            die("error carries features", NULL);
        if (m->retryable != 0 && m->retryable != 1)
            die("retryable is not 0 or 1", NULL);
        break;
    default:
        die("accepted with an unknown type", NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tf_msg m;
    char why[256] = "";
    if (tf_msg_parse((const char *)data, size, &m, why, sizeof(why)) != 0) {
        check_rejected(&m, why);
        return 0;
    }
    check_accepted(&m);
    tf_msg_cleanup(&m);
    tf_msg_cleanup(&m); /* twice is fine */
    return 0;
}
