/* svc_util.h: small file helpers for the service tests, and the body
 * collector of their blocking libcurl GETs. */
#ifndef WIGGLY_TESTS_SVC_UTIL_H
#define WIGGLY_TESTS_SVC_UTIL_H

#include <stddef.h>

#include <curl/curl.h>

/* mkdtemp under $TMPDIR or /tmp: "wiggly-<tag>-XXXXXX". */
int svc_test_tmpdir(char *out, size_t len, const char *tag);
int svc_test_rmtree(const char *path);
int svc_test_write_file(const char *path, const void *data, size_t len);
/* malloc'ed, NUL-terminated; NULL if unreadable. */
char *svc_test_read_file(const char *path, size_t *len);
/* Entries in a directory, excluding . and .. (-1 on error). */
int svc_test_count_files(const char *dir);
/* Write a 16-bit PCM WAV of a sine (freq Hz) with the given rate, channels
 * and duration. */
int svc_test_write_wav(const char *path, int rate, int channels, double seconds, double freq);

/* An HTTP answer body, NUL-terminated; a body that would not fit in buf
 * fails the transfer (CURLE_WRITE_ERROR). */
struct svc_test_body {
    char buf[65536];
    size_t len;
};
/* CURLOPT_WRITEFUNCTION appending to the svc_test_body in CURLOPT_WRITEDATA. */
size_t svc_test_body_cb(char *p, size_t sz, size_t n, void *ud);
/* A new easy handle for GET url into b (emptied here, borrowed until the
 * handle is cleaned up): CURLOPT_URL, CURLOPT_NOSIGNAL and the body callback
 * set; timeouts and the rest are the caller's. NULL if curl_easy_init fails. */
CURL *svc_test_http_easy(const char *url, struct svc_test_body *b);

/* Sleep for seconds (nanosleep). */
void svc_test_sleep(double seconds);

#endif
