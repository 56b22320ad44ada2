/* fake_http.h: a tiny in-test HTTP server (libmicrohttpd, its own thread)
 * standing in for the metadata server, the OAuth token endpoint, or an API
 * that misbehaves on purpose; plus helpers that run a libev loop until a
 * condition holds.
 *
 * The handler runs on the server thread with the server's lock held; tests
 * read shared state through fake_http_lock()/unlock() or atomics. */
#ifndef WIGGLY_TESTS_FAKE_HTTP_H
#define WIGGLY_TESTS_FAKE_HTTP_H

#include <stddef.h>

struct ev_loop;
struct fake_http;

struct fake_req {
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    void *conn; /* for fake_req_header / fake_req_arg */
};
const char *fake_req_header(const struct fake_req *r, const char *name);
const char *fake_req_arg(const struct fake_req *r, const char *name);

struct fake_resp {
    int status;      /* 0 = drop the connection without answering */
    char *body;      /* malloc'd; freed by the server */
    size_t body_len; /* 0 with body set = strlen(body) */
    const char *content_type;
    const char *hdr_name[4], *hdr_value[4];
};

typedef void (*fake_handler)(void *ud, const struct fake_req *req, struct fake_resp *resp);

/* Listens on 127.0.0.1, an ephemeral port. NULL on failure. */
struct fake_http *fake_http_start(fake_handler h, void *ud);
void fake_http_stop(struct fake_http *f);
int fake_http_port(const struct fake_http *f);
/* "http://127.0.0.1:PORT" */
const char *fake_http_url(const struct fake_http *f);
void fake_http_lock(struct fake_http *f);
void fake_http_unlock(struct fake_http *f);

/* Runs the loop until *flag >= target, or until limit_s have passed (a hang
 * guard, not a timing check). Returns 0 when the condition holds. */
int fake_loop_wait(struct ev_loop *loop, const int *flag, int target, double limit_s);
/* Runs the loop for s seconds (lets timers and requests progress). */
void fake_loop_sleep(struct ev_loop *loop, double s);

#endif
