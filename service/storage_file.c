/* storage_file.c: the file:// scheme (see storage_int.h). file:///abs/path
 * names a local file; the system calls run at once on the loop thread and
 * the result is delivered from the ready list. Writes go to a temporary
 * file in the object's directory, then link() (create-only: fails when the
 * name exists, never exposing a partial file) or rename() (overwrite).
 * A name the file system can never hold (a segment longer than NAME_MAX, a
 * path of PATH_MAX or more) is SVC_EINVAL, a permanent error, not a local
 * i/o error worth retrying. */
#include "service/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_TAIL ".wiggly-XXXXXX"

static const char *file_path(const char *url)
{
    return url + 7;
}

/* An errno from a system call on a name: permanent when the name cannot
 * exist, else a local i/o error. */
static int code_of(int e)
{
    return e == ENAMETOOLONG ? SVC_EINVAL : SVC_EIO;
}

static int file_is_url(const char *url)
{
    return url[7] == '/';
}

/* The path of url within NAME_MAX per segment and PATH_MAX in all. */
static int file_check_name(const char *url, char *why, size_t n)
{
    const char *path = file_path(url);
    size_t len = strlen(path);
    char a[120], b[200];
    if (len >= PATH_MAX) {
        snprintf(why, n, "path %s is %zu bytes, more than the file system allows (%d)",
                 svc__storage_shorten(b, sizeof(b), path, 160), len, PATH_MAX - 1);
        return -1;
    }
    for (const char *seg = path + 1; *seg;) {
        size_t sl = strcspn(seg, "/");
        if (sl > NAME_MAX) {
            char s[PATH_MAX]; /* the path is shorter */
            snprintf(s, sizeof(s), "%.*s", (int)sl, seg);
            snprintf(why, n,
                     "path segment %s of %s is %zu bytes, more than a file name may have "
                     "(NAME_MAX %d)",
                     svc__storage_shorten(a, sizeof(a), s, 60),
                     svc__storage_shorten(b, sizeof(b), url, 160), sl, NAME_MAX);
            return -1;
        }
        seg += sl;
        seg += *seg == '/';
    }
    return 0;
}

static int file_check_location(const char *location, char *why, size_t n)
{
    if (!file_is_url(location)) {
        snprintf(why, n, "a file location must be an absolute path: file:///abs/dir/");
        return -1;
    }
    return file_check_name(location, why, n);
}

/* A file:// location is a directory; a write creates it. */
static int file_root(const char *location, char *out, size_t n, int *made_by_put)
{
    if ((size_t)snprintf(out, n, "%s", location) >= n)
        return -1;
    *made_by_put = 1;
    return 0;
}

static void file_stat(struct svc__storage_op *o, const char *url)
{
    const char *path = file_path(url);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            o->exists = 0;
        else
            svc__storage_fail(o, code_of(errno), "cannot stat %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        svc__storage_fail(o, SVC_EINVAL, "%s is not a regular file", path);
    } else {
        o->exists = 1;
        o->size = (uint64_t)sb.st_size;
    }
    svc__storage_ready(o);
}

static void file_stat_root(struct svc__storage_op *o, const char *location)
{
    const char *path = file_path(location);
    struct stat sb;
    if (stat(path, &sb) == 0)
        o->exists = S_ISDIR(sb.st_mode);
    else if (errno == ENOENT || errno == ENOTDIR)
        o->exists = 0;
    else
        svc__storage_fail(o, code_of(errno), "cannot stat %s: %s", path, strerror(errno));
    svc__storage_ready(o);
}

/* The object is handed over in place (is_temp 0). */
static void file_fetch(struct svc__storage_op *o, const char *url, const char *temp_dir,
                       uint64_t max_bytes)
{
    const char *path = file_path(url);
    struct stat sb;
    (void)temp_dir;
    if (stat(path, &sb) != 0) {
        svc__storage_fail(o, errno == ENOENT ? SVC_ENOTFOUND : code_of(errno), "cannot read %s: %s",
                          path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        svc__storage_fail(o, SVC_EINVAL, "%s is not a regular file", path);
    } else if (max_bytes && (uint64_t)sb.st_size > max_bytes) {
        svc__storage_fail(o, SVC_ETOOBIG, "%s is %llu bytes, more than the %llu allowed", path,
                          (unsigned long long)sb.st_size, (unsigned long long)max_bytes);
    } else if (!(o->path = strdup(path))) {
        svc__storage_fail(o, SVC_ENOMEM, "out of memory");
    } else {
        o->size = (uint64_t)sb.st_size;
    }
    svc__storage_ready(o);
}

/* Create every directory above the file named by path (modified in place
 * and restored). */
static int mkdirs_for(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            *p = '/';
            return -e;
        }
        *p = '/';
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int copy_fd(int in, int out)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 0;
        int rc = write_all(out, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

/* The temporary file beside dst: ".NAME.wiggly-XXXXXX", which says whose
 * it is, or ".wiggly-XXXXXX" when that would not fit NAME_MAX. */
static void temp_name(char *tmp, size_t n, const char *dst)
{
    const char *base = strrchr(dst, '/') + 1;
    int dir = (int)(base - dst);
    if (1 + strlen(base) + strlen(TEMP_TAIL) <= NAME_MAX)
        snprintf(tmp, n, "%.*s.%s" TEMP_TAIL, dir, dst, base);
    else
        snprintf(tmp, n, "%.*s" TEMP_TAIL, dir, dst);
}

/* Writes p's file or bytes to the temporary file tmp; 0 or -errno. */
static int write_temp(char *tmp, const struct svc__storage_put *p, int *mk_errno)
{
    int fd = mkstemp(tmp), in = -1, rc;
    if (fd < 0) {
        *mk_errno = errno;
        return -errno;
    }
    if (p->path) {
        in = open(p->path, O_RDONLY | O_CLOEXEC);
        rc = in < 0 ? -errno : copy_fd(in, fd);
        if (in >= 0)
            close(in);
    } else {
        rc = write_all(fd, p->data, p->len);
    }
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (rc)
        unlink(tmp);
    else
        chmod(tmp, 0644);
    return rc;
}

static void file_put(struct svc__storage_op *o, const char *url, const struct svc__storage_put *p)
{
    const char *dst = file_path(url);
    size_t n = strlen(dst);
    char *tmp = malloc(n + sizeof(TEMP_TAIL) + 2);
    char *dcopy = strdup(dst);
    int rc, mk_errno = 0;
    if (!tmp || !dcopy) {
        svc__storage_fail(o, SVC_ENOMEM, "out of memory");
        goto out;
    }
    if (dst[n - 1] == '/') {
        svc__storage_fail(o, SVC_EINVAL, "'%s' names a directory, not an object", dst);
        goto out;
    }
    if ((rc = mkdirs_for(dcopy)) != 0) {
        svc__storage_fail(o, code_of(-rc), "cannot create directories for %s: %s", dst,
                          strerror(-rc));
        goto out;
    }
    if (p->create_only && access(dst, F_OK) == 0) {
        svc__storage_fail(o, SVC_EEXISTS, "%s already exists", dst);
        goto out;
    }
    temp_name(tmp, n + sizeof(TEMP_TAIL) + 2, dst);
    if ((rc = write_temp(tmp, p, &mk_errno)) != 0) {
        if (mk_errno)
            svc__storage_fail(o, code_of(mk_errno), "cannot create a temporary file beside %s: %s",
                              dst, strerror(mk_errno));
        else
            svc__storage_fail(o, SVC_EIO, "cannot write %s: %s", dst, strerror(-rc));
        goto out;
    }
    if (p->create_only) {
        /* link() fails with EEXIST when the name exists: create-only without
         * ever exposing a partial file. */
        if (link(tmp, dst) != 0) {
            int e = errno;
            if (e == EEXIST)
                svc__storage_fail(o, SVC_EEXISTS, "%s already exists", dst);
            else
                svc__storage_fail(o, code_of(e), "cannot create %s: %s", dst, strerror(e));
        }
        unlink(tmp);
    } else if (rename(tmp, dst) != 0) {
        svc__storage_fail(o, code_of(errno), "cannot replace %s: %s", dst, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    free(dcopy);
    svc__storage_ready(o);
}

static void file_del(struct svc__storage_op *o, const char *url)
{
    const char *path = file_path(url);
    if (unlink(path) != 0) {
        int e = errno;
        svc__storage_fail(o,
                          e == ENOENT || e == ENOTDIR ? SVC_ENOTFOUND
                          : e == EISDIR               ? SVC_EINVAL
                                                      : code_of(e),
                          "cannot delete %s: %s", path, strerror(e));
    }
    svc__storage_ready(o);
}

const struct svc__storage_scheme svc__storage_file = {
    .prefix = "file://",
    .example = "file:///",
    .kind = SVC_URL_FILE,
    .is_url = file_is_url,
    .check_location = file_check_location,
    .check_name = file_check_name,
    .root = file_root,
    .stat = file_stat,
    .stat_root = file_stat_root,
    .fetch = file_fetch,
    .put = file_put,
    .del = file_del,
};
