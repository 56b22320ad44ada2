/* roots.c: the job's buckets and input directory exist (see roots.h). One
 * round stats every distinct root through storage.c (a bucket GET for
 * gs://, stat(2) for file://) and reports once all have answered. Loop
 * thread only, except svc_roots_validate (pure). */
#include "service/roots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "config/config.h"
#include "service/log.h"
#include "service/storage.h"

#define ROOTS_MAX 3

struct root {
    struct svc_roots *r;
    char loc[1024];   /* gs://bucket/ or file:///dir/ */
    const char *what; /* "input.location", ... */
    int warned;       /* could not be checked: said once */
};

struct svc_roots {
    struct ev_loop *loop;
    struct svc_storage *st;
    const char *job;
    struct root roots[ROOTS_MAX];
    int n;
    int outstanding;
    int ok, any_missing, was_missing;
    double recheck_s;
    svc_roots_cb cb;
    void *ud;
    ev_timer again;
    char missing[1200];
};

/* The root of a location (svc_storage_root): its bucket, or the directory
 * itself (config/load.c ends every location with '/'). A root that a write
 * creates (a file:// output directory) is left out unless always is set
 * (the input's must exist, or every track is "missing"). */
static void add_root(struct svc_roots *r, const char *loc, const char *what, int always)
{
    char root[1024];
    int made_by_put;
    if (!loc || r->n >= ROOTS_MAX || svc_storage_root(loc, root, sizeof(root), &made_by_put) != 0 ||
        (made_by_put && !always))
        return;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->roots[i].loc, root))
            return;
    r->roots[r->n].r = r;
    r->roots[r->n].what = what;
    snprintf(r->roots[r->n].loc, sizeof(r->roots[r->n].loc), "%s", root);
    r->n++;
}

int svc_roots_validate(const struct cfg_job *cfg, struct svc_error *err)
{
    const char *locs[][2] = {{"input.location", cfg->input.location},
                             {"output.location", cfg->output.location},
                             {"features.location", cfg->features.location}};
    struct svc_error e;
    for (size_t i = 0; i < sizeof(locs) / sizeof(locs[0]); i++)
        if (locs[i][1] && svc_storage_check_location(locs[i][1], &e) != 0)
            return svc_error_set(err, e.code, "\"%s\": \"%s\" %s", locs[i][0], locs[i][1], e.msg);
    return 0;
}

static void on_again(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc_roots_check(w->data);
}

struct svc_roots *svc_roots_create(struct ev_loop *loop, struct svc_storage *st,
                                   const struct cfg_job *cfg, double recheck_s, svc_roots_cb cb,
                                   void *ud)
{
    struct svc_roots *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->st = st;
    r->job = cfg->name;
    r->recheck_s = recheck_s;
    r->cb = cb;
    r->ud = ud;
    add_root(r, cfg->input.location, "input.location", 1);
    add_root(r, cfg->output.location, "output.location", 0);
    if (cfg->features.enabled)
        add_root(r, cfg->features.location, "features.location", 0);
    ev_timer_init(&r->again, on_again, recheck_s > 0 ? recheck_s : 1, 0);
    r->again.data = r;
    return r;
}

void svc_roots_destroy(struct svc_roots *r)
{
    if (!r)
        return;
    /* Storage calls still outstanding point into r: the runner destroys us
     * after the cloud cleanup (cancelled requests call back, see on_root)
     * and after the storage (which drops undelivered file:// results). */
    ev_timer_stop(r->loop, &r->again);
    free(r);
}

static void round_over(struct svc_roots *r)
{
    r->ok = !r->any_missing;
    r->was_missing = r->any_missing;
    if (r->any_missing && r->recheck_s > 0)
        ev_timer_start(r->loop, &r->again);
    if (r->cb)
        r->cb(r->ud, r->ok);
}

static void on_root(void *ud, const struct svc_error *err, int exists, uint64_t size)
{
    struct root *rt = ud;
    struct svc_roots *r = rt->r;
    struct svc_log_fields f = {.job = r->job, .duration_ms = -1};
    (void)size;
    if (err && err->code == SVC_ECANCELED) { /* shutting down: nobody is waiting */
        r->outstanding--;
        return;
    }
    if (err) {
        if (!rt->warned) {
            f.error = err->msg;
            svc_log(SVC_WARNING, &f,
                    "cannot check that %s (%s) exists; going on, and a request that finds it "
                    "missing waits",
                    rt->loc, rt->what);
            rt->warned = 1;
        }
    } else if (!exists) {
        size_t n = strlen(r->missing);
        snprintf(r->missing + n, sizeof(r->missing) - n, "%s%s (%s)", n ? ", " : "", rt->loc,
                 rt->what);
        r->any_missing = 1;
    }
    if (--r->outstanding == 0) {
        if (r->any_missing) {
            if (r->recheck_s > 0)
                svc_log(SVC_ERROR, &f,
                        "%s does not exist: not taking work until it does (checking every %.0f s)",
                        r->missing, r->recheck_s);
        } else if (r->was_missing) {
            svc_log(SVC_NOTICE, &f, "every bucket and input directory of the job exists");
        }
        round_over(r);
    }
}

void svc_roots_check(struct svc_roots *r)
{
    if (r->outstanding)
        return;
    ev_timer_stop(r->loop, &r->again);
    r->ok = 0;
    r->any_missing = 0;
    r->missing[0] = 0;
    if (r->n == 0) {
        round_over(r);
        return;
    }
    r->outstanding = r->n;
    for (int i = 0; i < r->n; i++)
        svc_storage_stat_root(r->st, r->roots[i].loc, on_root, &r->roots[i]);
}

int svc_roots_ok(const struct svc_roots *r)
{
    return r->ok;
}

const char *svc_roots_missing(const struct svc_roots *r)
{
    return r->missing;
}
