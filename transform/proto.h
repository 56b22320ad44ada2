/* proto.h: the wire codec of user transforms, protocol version 1
 * (docs/transforms.md "Protocol, version 1"): a child's reply line -> one
 * struct tf_msg, and one struct tf_request -> a request line.
 *
 * The codec checks framing and the shape of each message only; what a
 * message means in context (protocol 1, a known id, a second hello or reply)
 * is the supervisor's to decide.
 * Ownership: tf_msg_parse fills a caller-owned struct; release it with
 * tf_msg_cleanup. tf_request_encode returns a malloc'd line; its inputs are
 * borrowed. Strings may hold any UTF-8 but NUL, control characters included:
 * escape them before logging.
 * Threading: no globals, no locks; any thread may call it once
 * json_object_seed(0) has run (before any thread starts). */
#ifndef WIGGLY_TRANSFORM_PROTO_H
#define WIGGLY_TRANSFORM_PROTO_H

#include <stddef.h>

#define TF_LINE_MAX 1048576 /* bytes before the '\n' */

enum tf_msg_type { TF_MSG_HELLO = 1, TF_MSG_DONE, TF_MSG_ERROR };

struct tf_msg {
    enum tf_msg_type type;
    int protocol;        /* hello */
    char name[128];      /* hello: non-empty */
    char version[64];    /* hello */
    char id[64];         /* done, error: non-empty */
    int retryable;       /* error */
    char *message;       /* error: malloc'd UTF-8 text (may be ""), NULL otherwise */
    char *features_json; /* done: the "features" object re-encoded compactly (JSON_COMPACT),
                            malloc'd; NULL when absent */
};

/* Parse one reply line (len bytes, without the '\n'; need not be
 * NUL-terminated). 0, or -1 with a precise one-line reason in why (printable
 * ASCII; may be NULL), e.g. "not JSON: <jansson text> at column 5",
 * "\"type\" is missing", "unknown type \"foo\"",
 * "\"id\" must be a non-empty string of at most 63 bytes",
 * "\"retryable\" must be true or false", "\"features\" must be an object",
 * "line longer than 1048576 bytes", "name longer than 127 bytes".
 * Strict: the top level must be an object; hello needs an integer protocol
 * (any int: the supervisor checks it is 1), a non-empty string name and a
 * string version; done needs id and an optional features object (null =
 * absent); error needs id, boolean retryable and string message. Unknown
 * extra keys are ignored. A NUL or '\n' byte inside the line, invalid UTF-8
 * and duplicate keys are errors. m is zeroed first and owns nothing on
 * failure. */
int tf_msg_parse(const char *line, size_t len, struct tf_msg *m, char *why, size_t why_n);
/* Frees what m owns and zeroes it; a zeroed struct is fine, twice too. */
void tf_msg_cleanup(struct tf_msg *m);

struct tf_request {
    const char *id, *element, *audio;
    int rate, channels;
    long long frames;
    const char *const *output_names; /* n_outputs distinct names */
    const char *const *output_paths; /* the path of each name, in the same order */
    size_t n_outputs;
    const char *params_json; /* a JSON object's text, NULL = {} */
    int attempt;
};

/* One request line, '\n'-terminated, malloc'd (*len without the NUL; len may
 * be NULL). NULL on out of memory, invalid params_json (not a JSON object),
 * a NULL or non-UTF-8 string, a repeated output name, or a result longer
 * than TF_LINE_MAX. Keys in the order of docs/transforms.md: type, id,
 * element, audio, rate, channels, frames, outputs, params, attempt. */
char *tf_request_encode(const struct tf_request *r, size_t *len);

#endif
