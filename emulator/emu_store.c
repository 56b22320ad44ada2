/* emu_store.c: disk-backed buckets, objects and resumable uploads (layout in
 * emu_store.h). Takes s->lock around every metadata read-check-write so
 * preconditions and writes are atomic; data bytes are written to temporary
 * files outside the lock and renamed into place under it. Data files are
 * immutable once published, so readers can stream an fd without the lock. */
#include "emulator/emu_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emulator/emu_util.h"

#define KEY_CAP  256
#define PATH_CAP 4096

struct emu_store {
    char *root;
    pthread_mutex_t lock;
    pthread_mutex_t upload_lock;
    uint64_t last_gen;
    atomic_ullong tmp_seq;
};

int emu_err_set(struct emu_err *e, int status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    if (!e)
        return -1;
    e->status = status;
    e->reason = reason;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int err_errno(struct emu_err *e, const char *what)
{
    return emu_err_set(e, 500, "internalError", "%s: %s", what, strerror(errno));
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void rm_tree_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[PATH_CAP];
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

int emu_store_open(struct emu_store **out, const char *root, struct emu_err *err)
{
    struct emu_store *s = calloc(1, sizeof(*s));
    char p[PATH_CAP];
    if (!s)
        return emu_err_set(err, 500, "internalError", "out of memory");
    s->root = strdup(root);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->upload_lock, NULL);
    if (!s->root || mkdir_p(root) < 0)
        goto fail;
    snprintf(p, sizeof(p), "%s/b", root);
    if (mkdir_p(p) < 0)
        goto fail;
    snprintf(p, sizeof(p), "%s/uploads", root);
    if (mkdir_p(p) < 0)
        goto fail;
    snprintf(p, sizeof(p), "%s/tmp", root);
    if (mkdir_p(p) < 0)
        goto fail;
    rm_tree_files(p);
    *out = s;
    return 0;
fail:
    err_errno(err, root);
    emu_store_destroy(s);
    return -1;
}

void emu_store_destroy(struct emu_store *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->upload_lock);
    free(s->root);
    free(s);
}

int emu_store_tmpfile(struct emu_store *s, char *path, size_t cap, struct emu_err *err)
{
    uint64_t seq;
    int fd;
    seq = atomic_fetch_add(&s->tmp_seq, 1) + 1;
    snprintf(path, cap, "%s/tmp/%ld-%llu", s->root, (long)getpid(), (unsigned long long)seq);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_errno(err, "temporary file");
    return fd;
}

/* Writes j to path via a temporary file + rename. */
static int write_json_atomic(struct emu_store *s, const char *path, json_t *j, struct emu_err *err)
{
    char tmp[PATH_CAP];
    int fd = emu_store_tmpfile(s, tmp, sizeof(tmp), err);
    if (fd < 0)
        return -1;
    if (json_dumpfd(j, fd, JSON_COMPACT) < 0) {
        close(fd);
        unlink(tmp);
        return err_errno(err, "write metadata");
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return err_errno(err, "rename metadata");
    }
    return 0;
}

static json_t *read_json(const char *path)
{
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static uint64_t next_generation(struct emu_store *s)
{
    uint64_t g = emu_now_usec();
    if (g <= s->last_gen)
        g = s->last_gen + 1;
    s->last_gen = g;
    return g;
}

static void set_u64(json_t *o, const char *k, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    json_object_set_new(o, k, json_string(b));
}

static uint64_t get_u64(json_t *o, const char *k)
{
    uint64_t v = 0;
    json_t *x = json_object_get(o, k);
    if (json_is_string(x))
        emu_parse_u64(json_string_value(x), &v);
    else if (json_is_integer(x))
        v = (uint64_t)json_integer_value(x);
    return v;
}

/* ---- buckets ---- */

static int bucket_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 3 || len > 222)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9')))
        return 0;
    if (!((n[len - 1] >= 'a' && n[len - 1] <= 'z') || (n[len - 1] >= '0' && n[len - 1] <= '9')))
        return 0;
    return strstr(n, "..") == NULL;
}

static int bucket_dir(struct emu_store *s, const char *name, char *p, size_t cap,
                      struct emu_err *err)
{
    struct stat st;
    if (!bucket_name_ok(name))
        return emu_err_set(err, 404, "notFound", "The specified bucket does not exist.");
    snprintf(p, cap, "%s/b/%s", s->root, name);
    if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
        return emu_err_set(err, 404, "notFound", "The specified bucket does not exist.");
    return 0;
}

int emu_store_bucket_create(struct emu_store *s, const char *name, json_t **out,
                            struct emu_err *err)
{
    char p[PATH_CAP], sub[PATH_CAP + 32], ts[40];
    json_t *b;
    if (!bucket_name_ok(name))
        return emu_err_set(err, 400, "invalid", "Invalid bucket name: '%s'", name);
    pthread_mutex_lock(&s->lock);
    snprintf(p, sizeof(p), "%s/b/%s", s->root, name);
    if (mkdir(p, 0755) < 0) {
        int e = errno;
        pthread_mutex_unlock(&s->lock);
        if (e == EEXIST)
            return emu_err_set(err, 409, "conflict",
                               "Your previous request to create the named bucket succeeded and "
                               "you already own it.");
        errno = e;
        return err_errno(err, "create bucket");
    }
    snprintf(sub, sizeof(sub), "%s/meta", p);
    mkdir_p(sub);
    snprintf(sub, sizeof(sub), "%s/data", p);
    mkdir_p(sub);
    emu_time_rfc3339(emu_now_usec(), ts, sizeof(ts));
    b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "storage#bucket",
                  "id", name, "name", name, "projectNumber", "0", "metageneration", "1", "location",
                  "US", "storageClass", "STANDARD", "timeCreated", ts, "updated", ts, "etag",
                  "CAE=");
    snprintf(sub, sizeof(sub), "%s/bucket.json", p);
    if (!b || write_json_atomic(s, sub, b, err) < 0) {
        json_decref(b);
        pthread_mutex_unlock(&s->lock);
        return err->status ? -1 : emu_err_set(err, 500, "internalError", "out of memory");
    }
    pthread_mutex_unlock(&s->lock);
    *out = b;
    return 0;
}

int emu_store_bucket_get(struct emu_store *s, const char *name, json_t **out, struct emu_err *err)
{
    char p[PATH_CAP], f[PATH_CAP + 16];
    json_t *b;
    if (bucket_dir(s, name, p, sizeof(p), err) < 0)
        return -1;
    snprintf(f, sizeof(f), "%s/bucket.json", p);
    b = read_json(f);
    if (!b)
        return emu_err_set(err, 404, "notFound", "The specified bucket does not exist.");
    *out = b;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int emu_store_bucket_list(struct emu_store *s, json_t **out, struct emu_err *err)
{
    char p[PATH_CAP];
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    json_t *arr = json_array();
    snprintf(p, sizeof(p), "%s/b", s->root);
    d = opendir(p);
    if (!d || !arr) {
        json_decref(arr);
        if (d)
            closedir(d);
        return err_errno(err, "list buckets");
    }
    while ((de = readdir(d))) {
        if (!bucket_name_ok(de->d_name))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        json_t *b = NULL;
        struct emu_err e2;
        if (names[i] && emu_store_bucket_get(s, names[i], &b, &e2) == 0)
            json_array_append_new(arr, b);
        free(names[i]);
    }
    free(names);
    *out = arr;
    return 0;
}

int emu_store_bucket_delete(struct emu_store *s, const char *name, struct emu_err *err)
{
    char p[PATH_CAP], sub[PATH_CAP + 32], trash[PATH_CAP];
    DIR *d;
    struct dirent *de;
    int empty = 1;
    pthread_mutex_lock(&s->lock);
    if (bucket_dir(s, name, p, sizeof(p), err) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    snprintf(sub, sizeof(sub), "%s/meta", p);
    d = opendir(sub);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] != '.') {
            empty = 0;
            break;
        }
    }
    if (d)
        closedir(d);
    if (!empty) {
        pthread_mutex_unlock(&s->lock);
        return emu_err_set(err, 409, "conflict", "The bucket you tried to delete is not empty.");
    }
    /* Move aside first so the bucket disappears atomically. */
    snprintf(trash, sizeof(trash), "%s/tmp/bucket-%llu", s->root,
             (unsigned long long)(atomic_fetch_add(&s->tmp_seq, 1) + 1));
    if (rename(p, trash) < 0) {
        pthread_mutex_unlock(&s->lock);
        return err_errno(err, "delete bucket");
    }
    pthread_mutex_unlock(&s->lock);
    snprintf(sub, sizeof(sub), "%s/data", trash);
    rm_tree_files(sub);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/meta", trash);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/bucket.json", trash);
    unlink(sub);
    rmdir(trash);
    return 0;
}

/* ---- objects ---- */

static int utf8_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + extra >= n)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += extra + 1;
    }
    return 1;
}

int emu_store_name_check(const char *name, size_t len, struct emu_err *err)
{
    if (len == 0)
        return emu_err_set(err, 400, "required", "Required object name is missing.");
    if (len > 1024)
        return emu_err_set(err, 400, "invalid", "The maximum object length is 1024 bytes.");
    if (memchr(name, '\0', len) || memchr(name, '\r', len) || memchr(name, '\n', len))
        return emu_err_set(err, 400, "invalid",
                           "Object name contains a forbidden character (NUL, CR or LF).");
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return emu_err_set(err, 400, "invalid", "Object name cannot be '.' or '..'.");
    if (!utf8_ok((const unsigned char *)name, len))
        return emu_err_set(err, 400, "invalid", "Object name is not valid UTF-8.");
    return 0;
}

/* Resolves BUCKET/NAME to its meta path; bucket must exist. */
static int object_paths(struct emu_store *s, const char *bucket, const char *name, char *bdir,
                        char *meta, char *key, struct emu_err *err)
{
    if (bucket_dir(s, bucket, bdir, PATH_CAP, err) < 0)
        return -1;
    if (emu_store_name_check(name, strlen(name), err) < 0)
        return -1;
    if (emu_name_key(name, strlen(name), key, KEY_CAP) < 0)
        return emu_err_set(err, 400, "invalid", "Object name cannot be stored.");
    snprintf(meta, PATH_CAP, "%s/meta/%s", bdir, key);
    return 0;
}

static void data_path(const char *bdir, const char *key, uint64_t gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data/%s.%llu", bdir, key, (unsigned long long)gen);
}

static int no_such_object(struct emu_err *err, const char *bucket, const char *name)
{
    return emu_err_set(err, 404, "notFound", "No such object: %s/%s", bucket, name);
}

/* Checks pc against the live object cur (NULL if absent). */
static int precond_check(const struct emu_precond *pc, json_t *cur, int read, struct emu_err *err)
{
    uint64_t gen = cur ? get_u64(cur, "generation") : 0;
    uint64_t meta = cur ? get_u64(cur, "metageneration") : 0;
    static const char msg[] = "At least one of the pre-conditions you specified did not hold.";
    if (!pc)
        return 0;
    if (pc->has_gen_match && pc->gen_match != gen)
        return emu_err_set(err, 412, "conditionNotMet", msg);
    if (pc->has_meta_match && (!cur || pc->meta_match != meta))
        return emu_err_set(err, 412, "conditionNotMet", msg);
    if (pc->has_gen_not_match && cur && pc->gen_not_match == gen)
        return emu_err_set(err, read ? 304 : 412, read ? "notModified" : "conditionNotMet", msg);
    if (pc->has_meta_not_match && cur && pc->meta_not_match == meta)
        return emu_err_set(err, read ? 304 : 412, read ? "notModified" : "conditionNotMet", msg);
    return 0;
}

static const char *const ATTR_KEYS[] = {
    "contentType",     "metadata",           "cacheControl", "contentEncoding",
    "contentLanguage", "contentDisposition", "customTime",   NULL};

static void copy_attrs(json_t *dst, json_t *attrs)
{
    if (!json_is_object(attrs))
        return;
    for (int i = 0; ATTR_KEYS[i]; i++) {
        json_t *v = json_object_get(attrs, ATTR_KEYS[i]);
        if (!v)
            continue;
        if (json_is_null(v))
            json_object_del(dst, ATTR_KEYS[i]);
        else if (strcmp(ATTR_KEYS[i], "metadata") == 0 && json_is_object(v))
            json_object_set(dst, "metadata", v);
        else if (json_is_string(v))
            json_object_set(dst, ATTR_KEYS[i], v);
    }
}

/* Publishes data_path as the new live object; called with s->lock held. */
static int put_locked(struct emu_store *s, const char *bucket, const char *name,
                      const char *src_data, int link_src, uint64_t size, const char *crc,
                      const char *md5, json_t *attrs, const struct emu_precond *pc, json_t **out,
                      struct emu_err *err)
{
    char bdir[PATH_CAP], meta[PATH_CAP], key[KEY_CAP], dpath[PATH_CAP + KEY_CAP + 32];
    char old_dpath[PATH_CAP + KEY_CAP + 32], ts[40];
    json_t *cur, *obj;
    uint64_t gen, old_gen = 0;
    if (object_paths(s, bucket, name, bdir, meta, key, err) < 0)
        return -1;
    cur = read_json(meta);
    if (precond_check(pc, cur, 0, err) < 0) {
        json_decref(cur);
        return -1;
    }
    if (cur)
        old_gen = get_u64(cur, "generation");
    gen = next_generation(s);
    data_path(bdir, key, gen, dpath, sizeof(dpath));
    if ((link_src ? link(src_data, dpath) : rename(src_data, dpath)) < 0) {
        json_decref(cur);
        return err_errno(err, "store object data");
    }
    emu_time_rfc3339(gen, ts, sizeof(ts));
    obj = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "bucket", bucket, "storageClass",
                    "STANDARD", "timeCreated", ts, "updated", ts);
    if (!obj) {
        json_decref(cur);
        unlink(dpath);
        return emu_err_set(err, 500, "internalError", "out of memory");
    }
    set_u64(obj, "generation", gen);
    set_u64(obj, "metageneration", 1);
    set_u64(obj, "size", size);
    json_object_set_new(obj, "contentType", json_string("application/octet-stream"));
    copy_attrs(obj, attrs);
    json_object_set_new(obj, "crc32c", json_string(crc));
    if (md5 && *md5)
        json_object_set_new(obj, "md5Hash", json_string(md5));
    if (write_json_atomic(s, meta, obj, err) < 0) {
        json_decref(cur);
        json_decref(obj);
        unlink(dpath);
        return -1;
    }
    if (cur && old_gen != gen) {
        data_path(bdir, key, old_gen, old_dpath, sizeof(old_dpath));
        unlink(old_dpath);
    }
    json_decref(cur);
    *out = obj;
    return 0;
}

int emu_store_object_put(struct emu_store *s, const char *bucket, const char *name,
                         const char *data_path_in, uint64_t size, const char *crc, const char *md5,
                         json_t *attrs, const struct emu_precond *pc, json_t **out,
                         struct emu_err *err)
{
    int r;
    pthread_mutex_lock(&s->lock);
    r = put_locked(s, bucket, name, data_path_in, 0, size, crc, md5, attrs, pc, out, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Loads the object and checks generation + preconditions; lock held. */
static int get_locked(struct emu_store *s, const char *bucket, const char *name,
                      uint64_t generation, const struct emu_precond *pc, int read, json_t **out,
                      char *dpath, size_t dcap, char *meta_path, struct emu_err *err)
{
    char bdir[PATH_CAP], meta[PATH_CAP], key[KEY_CAP];
    json_t *cur;
    if (object_paths(s, bucket, name, bdir, meta, key, err) < 0)
        return -1;
    cur = read_json(meta);
    if (!cur || (generation && get_u64(cur, "generation") != generation)) {
        json_decref(cur);
        return no_such_object(err, bucket, name);
    }
    if (precond_check(pc, cur, read, err) < 0) {
        json_decref(cur);
        return -1;
    }
    if (dpath)
        data_path(bdir, key, get_u64(cur, "generation"), dpath, dcap);
    if (meta_path)
        snprintf(meta_path, PATH_CAP, "%s", meta);
    *out = cur;
    return 0;
}

int emu_store_object_get(struct emu_store *s, const char *bucket, const char *name,
                         uint64_t generation, const struct emu_precond *pc, json_t **out, int *fd,
                         struct emu_err *err)
{
    char dpath[PATH_CAP + KEY_CAP + 32];
    int r;
    pthread_mutex_lock(&s->lock);
    r = get_locked(s, bucket, name, generation, pc, 1, out, dpath, sizeof(dpath), NULL, err);
    if (r == 0 && fd) {
        *fd = open(dpath, O_RDONLY | O_CLOEXEC);
        if (*fd < 0) {
            json_decref(*out);
            *out = NULL;
            r = err_errno(err, "open object data");
        }
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int emu_store_object_delete(struct emu_store *s, const char *bucket, const char *name,
                            uint64_t generation, const struct emu_precond *pc, struct emu_err *err)
{
    char dpath[PATH_CAP + KEY_CAP + 32], meta[PATH_CAP];
    json_t *cur = NULL;
    int r;
    pthread_mutex_lock(&s->lock);
    r = get_locked(s, bucket, name, generation, pc, 0, &cur, dpath, sizeof(dpath), meta, err);
    if (r == 0) {
        if (unlink(meta) < 0)
            r = err_errno(err, "delete object");
        else
            unlink(dpath);
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(cur);
    return r;
}

int emu_store_object_patch(struct emu_store *s, const char *bucket, const char *name, json_t *patch,
                           const struct emu_precond *pc, json_t **out, struct emu_err *err)
{
    char meta[PATH_CAP], ts[40];
    json_t *cur = NULL;
    int r;
    pthread_mutex_lock(&s->lock);
    r = get_locked(s, bucket, name, 0, pc, 0, &cur, NULL, 0, meta, err);
    if (r == 0) {
        json_t *md = json_object_get(patch, "metadata");
        json_t *old_md = json_object_get(cur, "metadata");
        /* metadata merges key by key; a null value removes a key. */
        if (json_is_object(md)) {
            json_t *merged = json_is_object(old_md) ? json_deep_copy(old_md) : json_object();
            const char *k;
            json_t *v;
            json_object_foreach(md, k, v)
            {
                if (json_is_null(v))
                    json_object_del(merged, k);
                else
                    json_object_set(merged, k, v);
            }
            json_t *p2 = json_deep_copy(patch);
            json_object_set_new(p2, "metadata", merged);
            copy_attrs(cur, p2);
            json_decref(p2);
        } else {
            copy_attrs(cur, patch);
        }
        set_u64(cur, "metageneration", get_u64(cur, "metageneration") + 1);
        emu_time_rfc3339(emu_now_usec(), ts, sizeof(ts));
        json_object_set_new(cur, "updated", json_string(ts));
        r = write_json_atomic(s, meta, cur, err);
    }
    pthread_mutex_unlock(&s->lock);
    if (r == 0)
        *out = cur;
    else
        json_decref(cur);
    return r;
}

int emu_store_object_copy(struct emu_store *s, const char *sb, const char *sn, uint64_t src_gen,
                          const struct emu_precond *src_pc, const char *db, const char *dn,
                          json_t *attrs, const struct emu_precond *dst_pc, json_t **out,
                          struct emu_err *err)
{
    char dpath[PATH_CAP + KEY_CAP + 32];
    json_t *src = NULL, *merged;
    int r;
    pthread_mutex_lock(&s->lock);
    r = get_locked(s, sb, sn, src_gen, src_pc, 0, &src, dpath, sizeof(dpath), NULL, err);
    if (r == 0) {
        merged = json_object();
        copy_attrs(merged, src);
        copy_attrs(merged, attrs);
        /* link(): data files are immutable, so the copy can share bytes. */
        r = put_locked(s, db, dn, dpath, 1, get_u64(src, "size"),
                       json_string_value(json_object_get(src, "crc32c")),
                       json_string_value(json_object_get(src, "md5Hash")), merged, dst_pc, out,
                       err);
        json_decref(merged);
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(src);
    return r;
}

static int copy_fd(int in, int out, struct emu_hasher *h)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        emu_hasher_update(h, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += w;
        }
    }
}

int emu_store_object_compose(struct emu_store *s, const char *bucket, const char *name,
                             json_t *sources, json_t *attrs, const struct emu_precond *pc,
                             json_t **out, struct emu_err *err)
{
    char tmp[PATH_CAP], crc[32], md5[32];
    struct emu_hasher h;
    size_t i;
    json_t *src;
    int fd, r = 0;
    if (!json_is_array(sources) || json_array_size(sources) == 0 || json_array_size(sources) > 32)
        return emu_err_set(err, 400, "invalid", "sourceObjects must list 1 to 32 objects.");
    fd = emu_store_tmpfile(s, tmp, sizeof(tmp), err);
    if (fd < 0)
        return -1;
    if (emu_hasher_init(&h) < 0) {
        close(fd);
        unlink(tmp);
        return emu_err_set(err, 500, "internalError", "out of memory");
    }
    pthread_mutex_lock(&s->lock);
    json_array_foreach(sources, i, src)
    {
        const char *sname = json_string_value(json_object_get(src, "name"));
        json_t *cur = NULL;
        struct emu_precond spc = {0};
        char dpath[PATH_CAP + KEY_CAP + 32];
        int in;
        json_t *op = json_object_get(src, "objectPreconditions");
        if (!sname) {
            r = emu_err_set(err, 400, "required", "sourceObjects[%zu].name is required.", i);
            break;
        }
        if (json_object_get(op, "ifGenerationMatch")) {
            spc.has_gen_match = 1;
            spc.gen_match = get_u64(op, "ifGenerationMatch");
        }
        r = get_locked(s, bucket, sname, get_u64(src, "generation"), &spc, 0, &cur, dpath,
                       sizeof(dpath), NULL, err);
        json_decref(cur);
        if (r < 0)
            break;
        in = open(dpath, O_RDONLY | O_CLOEXEC);
        if (in < 0 || copy_fd(in, fd, &h) < 0) {
            r = err_errno(err, "compose");
            if (in >= 0)
                close(in);
            break;
        }
        close(in);
    }
    close(fd);
    if (r == 0) {
        uint64_t size = h.bytes;
        emu_hasher_final(&h, crc, md5);
        r = put_locked(s, bucket, name, tmp, 0, size, crc, NULL, attrs, pc, out, err);
        if (r == 0)
            json_object_set_new(*out, "componentCount",
                                json_integer((json_int_t)json_array_size(sources)));
    } else {
        emu_hasher_cleanup(&h);
    }
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        unlink(tmp);
    return r;
}

/* ---- listing ---- */

struct entry {
    char *name;
    char *key;
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* A small glob: '*' (no '/'), '**' (anything), '?', '[...]' classes. */
static int glob_match(const char *p, const char *s)
{
    for (; *p; p++) {
        if (p[0] == '*' && p[1] == '*') {
            p += 2;
            for (;; s++) {
                if (glob_match(p, s))
                    return 1;
                if (!*s)
                    return 0;
            }
        }
        if (*p == '*') {
            p++;
            for (;; s++) {
                if (glob_match(p, s))
                    return 1;
                if (!*s || *s == '/')
                    return 0;
            }
        }
        if (!*s)
            return 0;
        if (*p == '?') {
            s++;
            continue;
        }
        if (*p == '[') {
            const char *q = p + 1;
            int neg = 0, hit = 0;
            if (*q == '!') {
                neg = 1;
                q++;
            }
            for (; *q && *q != ']'; q++) {
                if (q[1] == '-' && q[2] && q[2] != ']') {
                    if (*s >= q[0] && *s <= q[2])
                        hit = 1;
                    q += 2;
                } else if (*q == *s) {
                    hit = 1;
                }
            }
            if (!*q)
                return 0;
            if (hit == neg)
                return 0;
            p = q;
            s++;
            continue;
        }
        if (*p != *s)
            return 0;
        s++;
    }
    return *s == '\0';
}

static char *token_encode(const char *last)
{
    size_t n = strlen(last);
    char *out = malloc(4 * ((n + 2) / 3) + 8);
    if (out)
        emu_base64((const unsigned char *)last, n, out);
    return out;
}

static char *token_decode(const char *tok)
{
    size_t n = strlen(tok);
    unsigned char *out;
    int len;
    size_t pad = 0;
    if (n == 0 || n % 4)
        return NULL;
    out = malloc(n + 1);
    if (!out)
        return NULL;
    len = EVP_DecodeBlock(out, (const unsigned char *)tok, (int)n);
    if (len < 0) {
        free(out);
        return NULL;
    }
    if (tok[n - 1] == '=')
        pad++;
    if (n > 1 && tok[n - 2] == '=')
        pad++;
    len -= (int)pad;
    out[len] = '\0';
    return (char *)out;
}

int emu_store_object_list(struct emu_store *s, const char *bucket, const struct emu_list_query *q,
                          json_t **out, struct emu_err *err)
{
    char bdir[PATH_CAP], mdir[PATH_CAP + 8], mpath[PATH_CAP + KEY_CAP + 16];
    DIR *d;
    struct dirent *de;
    struct entry *ents = NULL;
    size_t n = 0, cap = 0, emitted = 0;
    char *after = NULL;
    const char *prefix = q->prefix ? q->prefix : "";
    size_t plen = strlen(prefix);
    unsigned maxr = q->max_results == 0 || q->max_results > 1000 ? 1000 : q->max_results;
    json_t *items = json_array(), *prefixes = json_array(), *res = json_object();
    char *last_prefix = NULL;
    const char *last_emitted = NULL;
    int more = 0;

    if (q->page_token && *q->page_token) {
        after = token_decode(q->page_token);
        if (!after) {
            json_decref(items);
            json_decref(prefixes);
            json_decref(res);
            return emu_err_set(err, 400, "invalid", "Invalid pageToken.");
        }
    }
    pthread_mutex_lock(&s->lock);
    if (bucket_dir(s, bucket, bdir, sizeof(bdir), err) < 0) {
        pthread_mutex_unlock(&s->lock);
        free(after);
        json_decref(items);
        json_decref(prefixes);
        json_decref(res);
        return -1;
    }
    snprintf(mdir, sizeof(mdir), "%s/meta", bdir);
    d = opendir(mdir);
    while (d && (de = readdir(d))) {
        char *name;
        if (de->d_name[0] == '.')
            continue;
        name = emu_name_from_key(de->d_name);
        if (!name && de->d_name[0] == '~') {
            json_t *m;
            snprintf(mpath, sizeof(mpath), "%s/%s", mdir, de->d_name);
            m = read_json(mpath);
            if (json_is_string(json_object_get(m, "name")))
                name = strdup(json_string_value(json_object_get(m, "name")));
            json_decref(m);
        }
        if (!name)
            continue;
        if (strncmp(name, prefix, plen) != 0 ||
            (q->start_offset && strcmp(name, q->start_offset) < 0) ||
            (q->end_offset && *q->end_offset && strcmp(name, q->end_offset) >= 0) ||
            (q->match_glob && !glob_match(q->match_glob, name))) {
            free(name);
            continue;
        }
        if (n == cap) {
            struct entry *ne = realloc(ents, (cap = cap ? cap * 2 : 64) * sizeof(*ents));
            if (!ne) {
                free(name);
                break;
            }
            ents = ne;
        }
        ents[n].name = name;
        ents[n].key = strdup(de->d_name);
        n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(ents, n, sizeof(*ents), cmp_entry);

    for (size_t i = 0; i < n; i++) {
        const char *name = ents[i].name;
        const char *rest = name + plen;
        const char *dl = NULL;
        if (after && strcmp(name, after) <= 0)
            continue;
        if (last_prefix && strncmp(name, last_prefix, strlen(last_prefix)) == 0)
            continue;
        if (q->delimiter && *q->delimiter)
            dl = strstr(rest, q->delimiter);
        if (emitted >= maxr) {
            more = 1;
            break;
        }
        if (dl) {
            size_t l = (size_t)(dl - name) + strlen(q->delimiter);
            free(last_prefix);
            last_prefix = strndup(name, l);
            json_array_append_new(prefixes, json_string(last_prefix));
            if (q->include_trailing_delimiter && name[l] == '\0') {
                json_t *m;
                snprintf(mpath, sizeof(mpath), "%s/%s", mdir, ents[i].key);
                m = read_json(mpath);
                if (m)
                    json_array_append_new(items, m);
            }
            /* Resume after every name under this prefix. */
            last_emitted = last_prefix;
            emitted++;
            continue;
        }
        snprintf(mpath, sizeof(mpath), "%s/%s", mdir, ents[i].key);
        {
            json_t *m = read_json(mpath);
            if (m)
                json_array_append_new(items, m);
        }
        last_emitted = name;
        emitted++;
    }
    pthread_mutex_unlock(&s->lock);
    if (more && last_emitted) {
        char *tok;
        char *resume = NULL;
        if (last_emitted == last_prefix) {
            /* Skip the whole prefix: resume after prefix + U+10FFFF-ish byte. */
            size_t l = strlen(last_prefix);
            resume = malloc(l + 2);
            if (resume) {
                memcpy(resume, last_prefix, l);
                resume[l] = (char)0xFF;
                resume[l + 1] = '\0';
            }
        } else {
            resume = strdup(last_emitted);
        }
        tok = resume ? token_encode(resume) : NULL;
        if (tok)
            json_object_set_new(res, "nextPageToken", json_string(tok));
        free(tok);
        free(resume);
    }
    if (json_array_size(items))
        json_object_set(res, "items", items);
    if (json_array_size(prefixes))
        json_object_set(res, "prefixes", prefixes);
    json_decref(items);
    json_decref(prefixes);
    for (size_t i = 0; i < n; i++) {
        free(ents[i].name);
        free(ents[i].key);
    }
    free(ents);
    free(after);
    free(last_prefix);
    *out = res;
    return 0;
}

/* ---- resumable uploads ---- */

static int upload_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

int emu_store_upload_data_path(struct emu_store *s, const char *id, char *path, size_t cap)
{
    if (!upload_id_ok(id))
        return -1;
    snprintf(path, cap, "%s/uploads/%s.bin", s->root, id);
    return 0;
}

int emu_store_upload_create(struct emu_store *s, json_t *state, char *id, size_t cap,
                            struct emu_err *err)
{
    unsigned char rnd[16];
    char p[PATH_CAP];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
        if (fd >= 0)
            close(fd);
        return err_errno(err, "upload id");
    }
    close(fd);
    if (cap < 33)
        return emu_err_set(err, 500, "internalError", "upload id buffer");
    for (int i = 0; i < 16; i++) {
        id[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
        id[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
    }
    id[32] = '\0';
    emu_store_upload_data_path(s, id, p, sizeof(p));
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_errno(err, "create upload");
    close(fd);
    if (emu_store_upload_save(s, id, state, err) < 0) {
        unlink(p);
        return -1;
    }
    return 0;
}

int emu_store_upload_load(struct emu_store *s, const char *id, json_t **state, struct emu_err *err)
{
    char p[PATH_CAP];
    json_t *j;
    if (!upload_id_ok(id))
        return emu_err_set(err, 404, "notFound", "No such upload.");
    snprintf(p, sizeof(p), "%s/uploads/%s.json", s->root, id);
    j = read_json(p);
    if (!json_is_object(j)) {
        json_decref(j);
        return emu_err_set(err, 404, "notFound", "No such upload.");
    }
    *state = j;
    return 0;
}

int emu_store_upload_save(struct emu_store *s, const char *id, json_t *state, struct emu_err *err)
{
    char p[PATH_CAP];
    if (!upload_id_ok(id))
        return emu_err_set(err, 404, "notFound", "No such upload.");
    snprintf(p, sizeof(p), "%s/uploads/%s.json", s->root, id);
    return write_json_atomic(s, p, state, err);
}

void emu_store_upload_remove(struct emu_store *s, const char *id)
{
    char p[PATH_CAP];
    if (!upload_id_ok(id))
        return;
    snprintf(p, sizeof(p), "%s/uploads/%s.json", s->root, id);
    unlink(p);
    snprintf(p, sizeof(p), "%s/uploads/%s.bin", s->root, id);
    unlink(p);
}

void emu_store_upload_lock(struct emu_store *s)
{
    pthread_mutex_lock(&s->upload_lock);
}

void emu_store_upload_unlock(struct emu_store *s)
{
    pthread_mutex_unlock(&s->upload_lock);
}

json_t *emu_precond_to_json(const struct emu_precond *pc)
{
    json_t *j = json_object();
    if (pc->has_gen_match)
        set_u64(j, "ifGenerationMatch", pc->gen_match);
    if (pc->has_gen_not_match)
        set_u64(j, "ifGenerationNotMatch", pc->gen_not_match);
    if (pc->has_meta_match)
        set_u64(j, "ifMetagenerationMatch", pc->meta_match);
    if (pc->has_meta_not_match)
        set_u64(j, "ifMetagenerationNotMatch", pc->meta_not_match);
    return j;
}

void emu_precond_from_json(struct emu_precond *pc, json_t *j)
{
    memset(pc, 0, sizeof(*pc));
    if ((pc->has_gen_match = json_object_get(j, "ifGenerationMatch") != NULL))
        pc->gen_match = get_u64(j, "ifGenerationMatch");
    if ((pc->has_gen_not_match = json_object_get(j, "ifGenerationNotMatch") != NULL))
        pc->gen_not_match = get_u64(j, "ifGenerationNotMatch");
    if ((pc->has_meta_match = json_object_get(j, "ifMetagenerationMatch") != NULL))
        pc->meta_match = get_u64(j, "ifMetagenerationMatch");
    if ((pc->has_meta_not_match = json_object_get(j, "ifMetagenerationNotMatch") != NULL))
        pc->meta_not_match = get_u64(j, "ifMetagenerationNotMatch");
}
