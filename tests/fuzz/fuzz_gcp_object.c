/* fuzz_gcp_object.c: libFuzzer target for the GCS object resource parser
 * (gcp__gcs_parse_object, gcp/gcs.c): the answer to objects.get and to every
 * upload, whose generation, size and crc32c the service acts on.
 *
 * Invariants beyond "no crash, no leak": a failure is GCP_EPROTO with a
 * reason and no document; a success has a name and a document, and a
 * crc32c reported as present is the one its base64 text names (the field
 * decodes to those 4 bytes). Every string is read to its end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_common.h"
#include "gcp/crc32c.h"
#include "gcp/gcp_int.h"
#include "gcp/gcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_gcp_object", what, detail)

static size_t touch(const char *s)
{
    return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gcp_gcs_object o;
    struct json_t *doc = (struct json_t *)&o;
    struct gcp_error e;
    int rc;

    memset(&e, 0, sizeof e);
    rc = gcp__gcs_parse_object((const char *)data, size, &o, &doc, &e);
    if (rc < 0) {
        if (rc != GCP_EPROTO || e.code != rc || !e.msg[0])
            die("failure without GCP_EPROTO and a reason", e.msg);
        if (doc)
            die("failure left a document", NULL);
        return 0;
    }
    if (rc != 0 || !doc)
        die("success without a document", NULL);
    if (!o.name)
        die("object without a name", NULL);
    touch(o.name);
    touch(o.bucket);
    touch(o.md5_base64);
    touch(o.content_type);
    touch(o.updated);
    if (o.has_crc32c) {
        const char *text = json_string_value(json_object_get(doc, "crc32c"));
        unsigned char *raw = NULL;
        size_t n = 0;
        uint32_t want;

        if (!text || gcp__b64_decode(text, strlen(text), &raw, &n) < 0 || n != 4)
            die("has_crc32c without a 4-byte base64 crc32c", NULL);
        want =
            ((uint32_t)raw[0] << 24) | ((uint32_t)raw[1] << 16) | ((uint32_t)raw[2] << 8) | raw[3];
        free(raw);
        if (want != o.crc32c)
            die("crc32c differs from its base64 text", text);
    }
    gcp__json_free(doc);
    return 0;
}
