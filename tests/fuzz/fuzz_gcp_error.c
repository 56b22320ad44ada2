/* fuzz_gcp_error.c: libFuzzer target for the HTTP error body parser
 * (gcp__http_parse_error_body, gcp/http.c): google.rpc.Status, GCS and OAuth
 * errors and the text fallback. What it extracts decides the error code
 * (FAILED_PRECONDITION, ABORTED, a missing bucket) and goes into logs.
 *
 * Invariants beyond "no crash": with exactly-sized heap buffers (the
 * engine's 160/48 bytes, then 8/1 bytes) both outputs are NUL-terminated
 * inside their buffers, and a body that cannot be JSON gives its first line
 * (at most 120 bytes, non-printable ones as '?') and no status. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gcp/gcp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(what, detail) fuzz_die("fuzz_gcp_error", what, detail)

static void run(const uint8_t *data, size_t size, size_t msgsz, size_t rpcsz)
{
    char *msg = malloc(msgsz), *rpc = malloc(rpcsz);
    size_t i;

    if (!msg || !rpc) {
        free(msg);
        free(rpc);
        return;
    }
    gcp__http_parse_error_body((const char *)data, size, msg, msgsz, rpc, rpcsz);
    if (!memchr(msg, '\0', msgsz) || !memchr(rpc, '\0', rpcsz))
        die("output not NUL-terminated inside its buffer", NULL);
    /* Without '{' or '[' the body cannot be JSON (jansson decodes only
     * objects and arrays here): the message is the text fallback, exactly
     * the first line up to 120 bytes, non-printable bytes as '?'. */
    if (!memchr(data, '{', size) && !memchr(data, '[', size)) {
        size_t want = 0;

        while (want < size && want < 120 && want + 1 < msgsz && data[want] != '\n' &&
               data[want] != '\r')
            want++;
        if (rpc[0] || strlen(msg) != want)
            die("text fallback: wrong length or a status", NULL);
        for (i = 0; i < want; i++)
            if (msg[i] != (isprint(data[i]) ? (char)data[i] : '?'))
                die("text fallback: message differs from the body", NULL);
    }
    free(msg);
    free(rpc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 160, 48); /* attempt_done's buffers */
    run(data, size, 8, 1);
    return 0;
}
