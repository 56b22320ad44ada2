/* gcs_emulator_http.h: a tiny blocking libcurl client for the emulator's
 * own tests (test_emulator*.c). Not for other suites: they test the real
 * GCS client in gcp/. */
#ifndef WIGGLY_TESTS_GCS_EMULATOR_HTTP_H
#define WIGGLY_TESTS_GCS_EMULATOR_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct thttp {
    long status;
    int curl_code; /* CURLcode of the transfer (0 = a response arrived) */
    char *body;    /* NUL-terminated */
    size_t len;
    char headers[16384];
};

/* method "GET"/"POST"/...; url absolute; headers NULL-terminated or NULL;
 * body may be NULL (no body) or len bytes. abort_after >= 0 aborts the
 * upload after that many body bytes (simulates a dropped connection). */
int thttp_do(struct thttp *r, const char *method, const char *url, const char *const *headers,
             const void *body, size_t len, long abort_after);
void thttp_free(struct thttp *r);

/* Value of a response header (case-insensitive name) into out; 0 or -1. */
int thttp_header(const struct thttp *r, const char *name, char *out, size_t cap);

/* Parses the body as JSON (NULL if it is not). */
json_t *thttp_json(const struct thttp *r);

#endif
