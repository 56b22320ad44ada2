/* svc_util.h: small file helpers for the service tests. */
#ifndef WIGGLY_TESTS_SVC_UTIL_H
#define WIGGLY_TESTS_SVC_UTIL_H

#include <stddef.h>

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

/* Sleep for seconds (nanosleep). */
void svc_test_sleep(double seconds);

#endif
