/* storage.c: the public storage interface over a table of schemes
 * (storage_int.h): it finds a URL's scheme by prefix, checks the URL
 * against the scheme's limits, and hands the call to the scheme's
 * operation. Operations that finish inside the call (file://, argument
 * errors) wait in a ready list that an ev_idle watcher drains, so no
 * callback runs inside the call that started it. Loop thread only; no
 * locks. */
#include "service/storage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "service/storage_int.h"

/* Every scheme the service knows. A new one is a file defining its
 * const struct svc__storage_scheme and one line here. */
static const struct svc__storage_scheme *const schemes[] = {
    &svc__storage_gs,
    &svc__storage_file,
};
#define N_SCHEMES (sizeof(schemes) / sizeof(schemes[0]))

struct svc_storage {
    struct ev_loop *loop;
    struct gcp_gcs *gcs;
    ev_idle idle;
    struct svc__storage_op *ready_head, *ready_tail;
    size_t pending;
};

/* ---- the scheme table ---- */

static const struct svc__storage_scheme *scheme_by_prefix(const char *url)
{
    if (!url)
        return NULL;
    for (size_t i = 0; i < N_SCHEMES; i++)
        if (!strncmp(url, schemes[i]->prefix, strlen(schemes[i]->prefix)))
            return schemes[i];
    return NULL;
}

/* The scheme of a well-formed URL, or NULL. */
static const struct svc__storage_scheme *scheme_of(const char *url)
{
    const struct svc__storage_scheme *sc = scheme_by_prefix(url);
    return sc && sc->is_url(url) ? sc : NULL;
}

enum svc_url_kind svc_url_kind(const char *url)
{
    const struct svc__storage_scheme *sc = scheme_of(url);
    return sc ? sc->kind : SVC_URL_BAD;
}

int svc_storage_check_location(const char *location, struct svc_error *err)
{
    const struct svc__storage_scheme *sc = scheme_by_prefix(location);
    char why[sizeof(err->msg)];
    if (!sc) {
        /* "must start with gs://bucket/ or file:///", from the table */
        size_t o = (size_t)snprintf(why, sizeof(why), "must start with ");
        for (size_t i = 0; i < N_SCHEMES && o < sizeof(why); i++)
            o += (size_t)snprintf(why + o, sizeof(why) - o, "%s%s",
                                  i == 0              ? ""
                                  : i + 1 < N_SCHEMES ? ", "
                                                      : " or ",
                                  schemes[i]->example);
        return svc_error_set(err, SVC_EINVAL, "%s", why);
    }
    why[0] = 0;
    if (sc->check_location(location, why, sizeof(why)) != 0)
        return svc_error_set(err, SVC_EINVAL, "%s", why[0] ? why : "malformed location");
    return 0;
}

int svc_storage_check_name(const char *url, struct svc_error *err)
{
    const struct svc__storage_scheme *sc = scheme_of(url);
    char why[sizeof(err->msg)];
    if (!sc)
        return svc_error_set(err, SVC_EINVAL, "'%s': unsupported or malformed location", url);
    why[0] = 0;
    if (sc->check_name(url, why, sizeof(why)) != 0)
        return svc_error_set(err, SVC_EINVAL, "%s", why[0] ? why : "name too long");
    return 0;
}

int svc_storage_root(const char *location, char *root, size_t n, int *made_by_put)
{
    const struct svc__storage_scheme *sc = scheme_of(location);
    if (!sc || sc->root(location, root, n, made_by_put) != 0)
        return SVC_EINVAL;
    return 0;
}

/* ---- helpers for the schemes ---- */

const char *svc__storage_shorten(char *buf, size_t n, const char *s, size_t max)
{
    size_t len = strlen(s), head, tail;
    if (max + 1 > n)
        max = n - 1;
    if (len <= max || max < 9) {
        snprintf(buf, n, "%s", s);
        return buf;
    }
    head = (max - 3) * 2 / 3;
    tail = max - 3 - head;
    while (head && ((unsigned char)s[head] & 0xC0) == 0x80) /* s[head] starts the cut */
        head--;
    while (tail && ((unsigned char)s[len - tail] & 0xC0) == 0x80)
        tail--;
    memcpy(buf, s, head);
    memcpy(buf + head, "...", 3);
    memcpy(buf + head + 3, s + len - tail, tail + 1);
    return buf;
}

struct gcp_gcs *svc__storage_gcs(const struct svc_storage *st)
{
    return st->gcs;
}

void svc__storage_fail(struct svc__storage_op *o, int code, const char *fmt, ...)
{
    va_list ap;
    o->failed = 1;
    o->err.code = code;
    va_start(ap, fmt);
    vsnprintf(o->err.msg, sizeof(o->err.msg), fmt, ap);
    va_end(ap);
}

static void op_free(struct svc__storage_op *o)
{
    free(o->path);
    free(o);
}

static void call_back(const struct svc__storage_op *o)
{
    const struct svc_error *e = o->failed ? &o->err : NULL;
    switch (o->kind) {
    case SVC__OP_STAT:
        o->stat_cb(o->ud, e, o->exists, o->size);
        break;
    case SVC__OP_FETCH:
        o->fetch_cb(o->ud, e, e ? NULL : o->path, o->is_temp, o->size);
        break;
    case SVC__OP_DONE:
        o->done_cb(o->ud, e);
        break;
    }
}

void svc__storage_deliver(struct svc__storage_op *o)
{
    o->st->pending--;
    call_back(o);
    op_free(o);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct svc_storage *st = w->data;
    struct svc__storage_op *o = st->ready_head;
    (void)revents;
    st->ready_head = st->ready_tail = NULL;
    ev_idle_stop(loop, w);
    while (o) {
        struct svc__storage_op *next = o->next;
        svc__storage_deliver(o);
        o = next;
    }
}

void svc__storage_ready(struct svc__storage_op *o)
{
    struct svc_storage *st = o->st;
    o->next = NULL;
    if (st->ready_tail)
        st->ready_tail->next = o;
    else
        st->ready_head = o;
    st->ready_tail = o;
    ev_idle_start(st->loop, &st->idle);
}

void svc__storage_bad_url(struct svc__storage_op *o, const char *url)
{
    svc__storage_fail(o, SVC_EINVAL, "cannot %s '%s': unsupported or malformed location", o->verb,
                      url);
    svc__storage_ready(o);
}

/* ---- the interface ---- */

struct svc_storage *svc_storage_create(struct ev_loop *loop, struct gcp_gcs *gcs)
{
    struct svc_storage *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->loop = loop;
    st->gcs = gcs;
    ev_idle_init(&st->idle, on_idle);
    st->idle.data = st;
    return st;
}

void svc_storage_destroy(struct svc_storage *st)
{
    if (!st)
        return;
    ev_idle_stop(st->loop, &st->idle);
    for (struct svc__storage_op *o = st->ready_head;
         o;) { /* never delivered: caller is going away */
        struct svc__storage_op *next = o->next;
        op_free(o);
        o = next;
    }
    free(st);
}

size_t svc_storage_pending(const struct svc_storage *st)
{
    return st ? st->pending : 0;
}

/* A new operation like init on url, handed to its scheme *sc; or NULL when
 * it is over already: out of memory (called back at once, the one case
 * that cannot be deferred), or a URL that no scheme serves or that is
 * beyond its scheme's limits (ended with SVC_EINVAL, ready). */
static struct svc__storage_op *start(struct svc_storage *st, const struct svc__storage_op *init,
                                     const char *url, const struct svc__storage_scheme **sc)
{
    struct svc__storage_op *o = malloc(sizeof(*o));
    char why[sizeof(o->err.msg)];
    if (!o) {
        struct svc__storage_op e = *init;
        svc__storage_fail(&e, SVC_ENOMEM, "out of memory");
        call_back(&e);
        return NULL;
    }
    *o = *init;
    o->st = st;
    st->pending++;
    if (!(*sc = scheme_of(url))) {
        svc__storage_bad_url(o, url);
        return NULL;
    }
    why[0] = 0;
    if ((*sc)->check_name(url, why, sizeof(why)) != 0) {
        svc__storage_fail(o, SVC_EINVAL, "cannot %s: %s", o->verb, why);
        svc__storage_ready(o);
        return NULL;
    }
    return o;
}

void svc_storage_stat(struct svc_storage *st, const char *url, svc_storage_stat_cb cb, void *ud)
{
    const struct svc__storage_scheme *sc;
    struct svc__storage_op *o = start(
        st,
        &(struct svc__storage_op){.kind = SVC__OP_STAT, .verb = "stat", .stat_cb = cb, .ud = ud},
        url, &sc);
    if (o)
        sc->stat(o, url);
}

void svc_storage_stat_root(struct svc_storage *st, const char *location, svc_storage_stat_cb cb,
                           void *ud)
{
    const struct svc__storage_scheme *sc;
    struct svc__storage_op *o = start(
        st,
        &(struct svc__storage_op){.kind = SVC__OP_STAT, .verb = "check", .stat_cb = cb, .ud = ud},
        location, &sc);
    if (o)
        sc->stat_root(o, location);
}

void svc_storage_fetch(struct svc_storage *st, const char *url, const char *temp_dir,
                       uint64_t max_bytes, svc_storage_fetch_cb cb, void *ud)
{
    const struct svc__storage_scheme *sc;
    struct svc__storage_op *o = start(
        st,
        &(struct svc__storage_op){.kind = SVC__OP_FETCH, .verb = "read", .fetch_cb = cb, .ud = ud},
        url, &sc);
    if (o)
        sc->fetch(o, url, temp_dir, max_bytes);
}

static void put(struct svc_storage *st, const char *url, const struct svc__storage_put *p,
                svc_storage_done_cb cb, void *ud)
{
    const struct svc__storage_scheme *sc;
    struct svc__storage_op *o = start(
        st,
        &(struct svc__storage_op){.kind = SVC__OP_DONE, .verb = "write", .done_cb = cb, .ud = ud},
        url, &sc);
    if (o)
        sc->put(o, url, p);
}

void svc_storage_put_file(struct svc_storage *st, const char *url, const char *path,
                          const char *content_type, int create_only, svc_storage_done_cb cb,
                          void *ud)
{
    put(st, url,
        &(struct svc__storage_put){
            .path = path, .content_type = content_type, .create_only = create_only},
        cb, ud);
}

void svc_storage_put_mem(struct svc_storage *st, const char *url, const void *data, size_t len,
                         const char *content_type, int create_only, svc_storage_done_cb cb,
                         void *ud)
{
    put(st, url,
        &(struct svc__storage_put){
            .data = data, .len = len, .content_type = content_type, .create_only = create_only},
        cb, ud);
}

void svc_storage_delete(struct svc_storage *st, const char *url, svc_storage_done_cb cb, void *ud)
{
    const struct svc__storage_scheme *sc;
    struct svc__storage_op *o = start(
        st,
        &(struct svc__storage_op){.kind = SVC__OP_DONE, .verb = "delete", .done_cb = cb, .ud = ud},
        url, &sc);
    if (o)
        sc->del(o, url);
}
