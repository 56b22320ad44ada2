/* emu_server_int.h: the request object shared by emu_server.c (transport:
 * MHD callbacks, body sinks, logging, faults) and emu_api.c (routing and the
 * GCS operations). A request lives on one connection thread from the URI log
 * callback to the completion callback. */
#ifndef WIGGLY_EMU_SERVER_INT_H
#define WIGGLY_EMU_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "emulator/emu_store.h"
#include "emulator/emu_util.h"

#define EMU_BODY_MAX (1024 * 1024) /* cap on JSON bodies kept in memory */
#define EMU_CHUNK    262144        /* resumable chunk granularity */

enum emu_body_mode {
    EMU_BODY_DISCARD,
    EMU_BODY_MEMORY,
    EMU_BODY_FILE,  /* media/multipart upload to a temporary file */
    EMU_BODY_CHUNK, /* resumable chunk written into the upload's file */
};

struct emu_server;

struct emu_req {
    struct emu_server *srv;
    struct emu_store *store;
    struct MHD_Connection *conn;
    char *uri; /* raw request target, as received */
    char method[16];
    uint64_t start_us;
    int started;
    int fault;     /* EMU_FAULT_NONE, EMU_FAULT_DROP or a status */
    int corrupt;   /* a "corrupt" fault was drawn: flip a byte of media */
    int corrupted; /* ... and it was applied (logged as FAULT) */

    /* Decoded query parameters. */
    size_t nq;
    char **qk, **qv;
    int bad_query; /* a value contained %00 */
    /* Decoded path segments after the API prefix. */
    int api; /* 0 unknown, 1 /storage/v1, 2 /download/storage/v1, 3 upload */
    size_t nseg;
    char **seg;

    /* Body sink. */
    enum emu_body_mode mode;
    char *body;
    size_t body_len;
    int body_too_big;
    int fd;
    char tmp_path[4096];
    struct emu_hasher hasher;
    int hashing;
    uint64_t received;  /* body bytes seen */
    uint64_t write_off; /* CHUNK: next file offset to write */
    uint64_t skip;      /* CHUNK: body bytes already persisted, not written */
    int write_failed;

    /* Resumable chunk parameters parsed at begin. */
    char upload_id[72];
    int64_t chunk_first, chunk_last, chunk_total; /* -1 = '*' / absent */
    int chunk_status_query, chunk_no_range;
    uint64_t persisted_at_begin;
    int finished; /* the API produced its response */

    /* An error found at begin, answered at the end (after the body). */
    struct emu_err err;
    int pending_err;

    /* Outcome, for the log. */
    int status;
    uint64_t bytes;
};

const char *emu_req_query(const struct emu_req *r, const char *key);
const char *emu_req_header(const struct emu_req *r, const char *name);
/* "http://host:port" as the client addressed us. */
void emu_req_base(const struct emu_req *r, char *out, size_t cap);
/* --chunk-persist-max: at most this many bytes persisted per chunk PUT
 * (0 = no limit). */
uint64_t emu_req_chunk_persist_max(const struct emu_req *r);

/* Queue a response and record status/bytes; every helper consumes resp. */
enum MHD_Result emu_req_queue(struct emu_req *r, int status, struct MHD_Response *resp);
enum MHD_Result emu_req_json(struct emu_req *r, int status, json_t *body /* stolen */);
enum MHD_Result emu_req_error(struct emu_req *r, const struct emu_err *e);
enum MHD_Result emu_req_errorf(struct emu_req *r, int status, const char *reason, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));
enum MHD_Result emu_req_empty(struct emu_req *r, int status);

/* emu_api.c: called at the first access-handler call (route, choose body
 * mode), at the end of the body (answer), and at completion (cleanup,
 * interrupted resumable chunks). */
void emu_api_begin(struct emu_req *r);
enum MHD_Result emu_api_finish(struct emu_req *r);
void emu_api_complete(struct emu_req *r, int completed_ok);

#endif
