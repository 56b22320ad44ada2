/* emu_store.h: the emulator's on-disk state. One directory holds buckets,
 * objects and resumable uploads; every write goes to a temporary file and is
 * renamed into place, so a crash never leaves a partial object.
 *
 * Layout under ROOT:
 *   b/BUCKET/bucket.json           bucket resource
 *   b/BUCKET/meta/KEY              object resource (JSON), KEY = emu_name_key()
 *   b/BUCKET/data/KEY.GENERATION   object bytes, never modified after rename
 *   uploads/ID.json, uploads/ID.bin  resumable upload state and bytes
 *   tmp/                            temporaries (emptied at start)
 *
 * Threading: every function is safe to call from any thread; one mutex
 * serialises metadata changes so precondition checks and writes are atomic
 * per object. Returned json_t references belong to the caller. */
#ifndef WIGGLY_EMU_STORE_H
#define WIGGLY_EMU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* An API error: HTTP status, GCS reason and message. */
struct emu_err {
    int status;
    const char *reason;
    char message[512];
};

/* Fills e and returns -1. */
int emu_err_set(struct emu_err *e, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Generation/metageneration preconditions from ifGenerationMatch & co. */
struct emu_precond {
    int has_gen_match, has_gen_not_match, has_meta_match, has_meta_not_match;
    uint64_t gen_match, gen_not_match, meta_match, meta_not_match;
};

/* The object part of a list request. NULL fields are absent. */
struct emu_list_query {
    const char *prefix, *delimiter, *page_token, *start_offset, *end_offset, *match_glob;
    int include_trailing_delimiter;
    unsigned max_results;
};

struct emu_store;

int emu_store_open(struct emu_store **out, const char *root, struct emu_err *err);
void emu_store_destroy(struct emu_store *s);

/* Creates a new temporary file under ROOT/tmp; returns the fd (O_RDWR) and
 * its path in path, or -1 with err set. */
int emu_store_tmpfile(struct emu_store *s, char *path, size_t cap, struct emu_err *err);

int emu_store_bucket_create(struct emu_store *s, const char *name, json_t **out,
                            struct emu_err *err);
int emu_store_bucket_get(struct emu_store *s, const char *name, json_t **out, struct emu_err *err);
/* *out = JSON array of bucket resources sorted by name. */
int emu_store_bucket_list(struct emu_store *s, json_t **out, struct emu_err *err);
int emu_store_bucket_delete(struct emu_store *s, const char *name, struct emu_err *err);

/* Checks an object name (1..1024 bytes, UTF-8, no CR/LF/NUL, not "." or "..").
 * len is the decoded length (names may arrive with %00). */
int emu_store_name_check(const char *name, size_t len, struct emu_err *err);

/* Publishes the file at data_path (renamed, so it must live on the same file
 * system: a tmpfile or an upload's data) as BUCKET/NAME. attrs may carry
 * contentType, metadata, cacheControl, contentEncoding, contentDisposition,
 * contentLanguage; crc/md5 are the base64 hashes of the data (md5 may be NULL
 * for composed objects). */
int emu_store_object_put(struct emu_store *s, const char *bucket, const char *name,
                         const char *data_path, uint64_t size, const char *crc, const char *md5,
                         json_t *attrs, const struct emu_precond *pc, json_t **out,
                         struct emu_err *err);

/* Reads the live object (or the given generation when generation != 0). When
 * fd is not NULL the data file is opened and its descriptor stored. For reads
 * a failed ifGenerationNotMatch/ifMetagenerationNotMatch gives 304. */
int emu_store_object_get(struct emu_store *s, const char *bucket, const char *name,
                         uint64_t generation, const struct emu_precond *pc, json_t **out, int *fd,
                         struct emu_err *err);
int emu_store_object_delete(struct emu_store *s, const char *bucket, const char *name,
                            uint64_t generation, const struct emu_precond *pc, struct emu_err *err);
/* Merges contentType/metadata/... of patch into the object and bumps its
 * metageneration. */
int emu_store_object_patch(struct emu_store *s, const char *bucket, const char *name, json_t *patch,
                           const struct emu_precond *pc, json_t **out, struct emu_err *err);
/* Copies SB/SN (generation src_gen if != 0) to DB/DN. attrs (may be NULL)
 * override the source's attributes. */
int emu_store_object_copy(struct emu_store *s, const char *sb, const char *sn, uint64_t src_gen,
                          const struct emu_precond *src_pc, const char *db, const char *dn,
                          json_t *attrs, const struct emu_precond *dst_pc, json_t **out,
                          struct emu_err *err);
/* Concatenates the named source objects (array of {"name", "generation"?,
 * "objectPreconditions"?}) of BUCKET into NAME. */
int emu_store_object_compose(struct emu_store *s, const char *bucket, const char *name,
                             json_t *sources, json_t *attrs, const struct emu_precond *pc,
                             json_t **out, struct emu_err *err);
/* *out = {"items": [...stored resources...], "prefixes": [...],
 * "nextPageToken": "..."} with empty parts omitted. */
int emu_store_object_list(struct emu_store *s, const char *bucket, const struct emu_list_query *q,
                          json_t **out, struct emu_err *err);

/* Resumable uploads. state is a JSON object the caller owns: bucket, name,
 * attrs, precond, persisted, total (-1 = unknown), done, resource. */
int emu_store_upload_create(struct emu_store *s, json_t *state, char *id, size_t cap,
                            struct emu_err *err);
int emu_store_upload_load(struct emu_store *s, const char *id, json_t **state, struct emu_err *err);
int emu_store_upload_save(struct emu_store *s, const char *id, json_t *state, struct emu_err *err);
void emu_store_upload_remove(struct emu_store *s, const char *id);
/* Path of the upload's data file (exists after create). */
int emu_store_upload_data_path(struct emu_store *s, const char *id, char *path, size_t cap);
/* Serialises uploads: chunk PUTs to one upload run one at a time. */
void emu_store_upload_lock(struct emu_store *s);
void emu_store_upload_unlock(struct emu_store *s);

json_t *emu_precond_to_json(const struct emu_precond *pc);
void emu_precond_from_json(struct emu_precond *pc, json_t *j);

#endif
