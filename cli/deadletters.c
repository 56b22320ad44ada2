/* deadletters.c: `wiggly deadletters -c JOB.json [--replay ...]`: look at
 * a job's dead letters, grouped by reason, and send the chosen ones back to
 * the job's input topic as the original messages.
 *
 * It reads the subscription that `wiggly verify --create` makes on the
 * job's dead_letter_topic (cli_dead_letter_sub), with non-blocking pulls
 * (gcp_pubsub_pull_now: a long poll cut short would keep messages in limbo
 * on the server). Every message it pulls is held: its lease is set to
 * LEASE_S at once and extended every EXTEND_S while the run goes on, so the
 * next pull brings new messages instead of the same ones again, and the run
 * ends when no new message came for --wait seconds. At the end every held
 * message is handed back with a modack of 0, so it is at once available
 * again; if the process is killed, the leases lapse within LEASE_S.
 * Messages are told apart by messageId: one that comes back anyway (a lease
 * lapsed during a slow request) is not counted or replayed twice.
 *
 * Without --replay (and with --dry-run) nothing is acked. With --replay,
 * each pulled batch's selected messages are published to the input topic
 * in one request, and acked only after that publish succeeded: a crash
 * between the two sends some of them twice, never loses one. A dead letter
 * that is no longer the original (its payload cut at 4 MiB, attributes
 * dropped at the limit of 100, or --force on a payload that is not a wiggly
 * message) is skipped with a line and stays on the subscription.
 *
 * One thread, one private loop (service/sync.h). SIGINT and SIGTERM stop the
 * run after the batch in hand; the held messages are handed back. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "cli/cli.h"
#include "config/config.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"
#include "service/message.h"
#include "service/sync.h"

#define LEASE_S       20  /* how long a pulled message stays ours */
#define EXTEND_S      5.0 /* how often the held leases are extended */
#define CALL_LIMIT_S  120 /* one request, retries included */
#define EXAMPLES      3   /* example dead letters per reason in the summary */
#define BATCH_DEFAULT 100
#define SUMMARY_BATCH 1000

/* Group names for dead letters without wiggly_reason. */
#define REASON_PUBSUB     "pubsub_max_delivery" /* Pub/Sub's own dead-letter policy */
#define REASON_UNLABELLED "unlabelled"          /* neither: put there by hand? */
#define PUBSUB_DL_PREFIX  "CloudPubSubDeadLetterSource"

/* What a dead letter adds to the original's attributes
 * (service/source_pubsub.c dead_letter); a replay strips them. */
static const char *const dead_keys[] = {"wiggly_job",           "wiggly_reason",
                                        "wiggly_error",         "wiggly_element",
                                        "wiggly_payload_bytes", "wiggly_attributes_dropped"};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the messages seen: messageId -> its latest ackId, held or acked ---- */

struct seen {
    char *message_id;
    char *ack_id; /* the latest one */
    int acked;
};

struct seen_set {
    struct seen *v;
    size_t n, cap;
    size_t *slots; /* index + 1 into v; 0 = empty */
    size_t n_slots;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t *seen_slot(struct seen_set *ss, const char *id)
{
    size_t i = (size_t)hash_str(id) & (ss->n_slots - 1);
    while (ss->slots[i] && strcmp(ss->v[ss->slots[i] - 1].message_id, id))
        i = (i + 1) & (ss->n_slots - 1);
    return &ss->slots[i];
}

static int seen_grow(struct seen_set *ss)
{
    size_t n_slots = ss->n_slots ? ss->n_slots * 2 : 1024;
    size_t *slots = calloc(n_slots, sizeof(*slots));
    struct seen *v = realloc(ss->v, n_slots / 2 * sizeof(*v));
    if (!slots || !v) {
        free(slots);
        if (v)
            ss->v = v;
        return -1;
    }
    free(ss->slots);
    ss->v = v;
    ss->cap = n_slots / 2;
    ss->slots = slots;
    ss->n_slots = n_slots;
    for (size_t k = 0; k < ss->n; k++)
        *seen_slot(ss, ss->v[k].message_id) = k + 1;
    return 0;
}

/* The entry of message_id, with its latest ack_id; *is_new when it was not
 * there. NULL when out of memory. */
static struct seen *seen_put(struct seen_set *ss, const char *message_id, const char *ack_id,
                             int *is_new)
{
    size_t *slot;
    struct seen *e;
    char *ack = strdup(ack_id);
    if (!ack)
        return NULL;
    if (ss->n == ss->cap && seen_grow(ss) != 0) {
        free(ack);
        return NULL;
    }
    slot = seen_slot(ss, message_id);
    *is_new = !*slot;
    if (*slot) {
        e = &ss->v[*slot - 1];
        free(e->ack_id);
        e->ack_id = ack;
        return e;
    }
    e = &ss->v[ss->n];
    if (!(e->message_id = strdup(message_id))) {
        free(ack);
        return NULL;
    }
    e->ack_id = ack;
    e->acked = 0;
    *slot = ++ss->n;
    return e;
}

static void seen_free(struct seen_set *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        free(ss->v[i].message_id);
        free(ss->v[i].ack_id);
    }
    free(ss->v);
    free(ss->slots);
}

/* The ackIds still held (not acked). Caller frees the array only. */
static const char **held_ids(const struct seen_set *ss, size_t *n)
{
    const char **ids = calloc(ss->n ? ss->n : 1, sizeof(*ids));
    *n = 0;
    for (size_t i = 0; ids && i < ss->n; i++)
        if (!ss->v[i].acked)
            ids[(*n)++] = ss->v[i].ack_id;
    return ids;
}

/* ---- one pulled dead letter, copied out of the pull callback ---- */

struct dl {
    struct seen *seen;
    unsigned char *data;
    size_t len;
    char **attrs; /* key, value pairs */
    size_t n_attrs;
};

static void dl_free(struct dl *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].data);
        for (size_t k = 0; k < 2 * d[i].n_attrs; k++)
            free(d[i].attrs[k]);
        free(d[i].attrs);
    }
    free(d);
}

static const char *dl_attr(const struct dl *d, const char *key)
{
    for (size_t i = 0; i < d->n_attrs; i++)
        if (!strcmp(d->attrs[2 * i], key))
            return d->attrs[2 * i + 1];
    return NULL;
}

static int is_pubsub_key(const char *k)
{
    return !strncmp(k, PUBSUB_DL_PREFIX, strlen(PUBSUB_DL_PREFIX));
}

static int is_dead_key(const char *k)
{
    for (size_t i = 0; i < sizeof(dead_keys) / sizeof(dead_keys[0]); i++)
        if (!strcmp(k, dead_keys[i]))
            return 1;
    return is_pubsub_key(k);
}

static const char *dl_reason(const struct dl *d)
{
    const char *r = dl_attr(d, "wiggly_reason");
    if (r)
        return r;
    for (size_t i = 0; i < d->n_attrs; i++)
        if (is_pubsub_key(d->attrs[2 * i]))
            return REASON_PUBSUB;
    return REASON_UNLABELLED;
}

/* The track: wiggly_element, else the payload's element (a dead letter that
 * Pub/Sub forwarded is the original message); "" when neither. */
static void dl_element(const struct dl *d, char *out, size_t n)
{
    const char *e = dl_attr(d, "wiggly_element");
    struct svc_message m = {0};
    char why[256];
    out[0] = 0;
    if (e) {
        svc_utf8_copy(out, n, e);
    } else if (!dl_attr(d, "wiggly_payload_bytes") &&
               svc_message_decode(d->data, d->len, &m, why, sizeof(why)) == 0) {
        svc_utf8_copy(out, n, m.element);
        svc_message_cleanup(&m);
    }
}

/* Why it is here, in words. */
static void dl_error(const struct dl *d, char *out, size_t n)
{
    const char *e = dl_attr(d, "wiggly_error");
    const char *count = dl_attr(d, PUBSUB_DL_PREFIX "DeliveryCount");
    const char *sub = dl_attr(d, PUBSUB_DL_PREFIX "Subscription");
    if (e)
        svc_utf8_copy(out, n, e);
    else if (count || sub)
        snprintf(out, n, "Pub/Sub gave up after %s delivery attempts on subscription %s",
                 count ? count : "?", sub ? sub : "?");
    else
        snprintf(out, n, "no wiggly_reason or Pub/Sub attributes");
}

/* A printable head of the payload, for a dead letter without an element. */
static void dl_payload_head(const struct dl *d, char *out, size_t n)
{
    char raw[64];
    size_t k = d->len < sizeof(raw) - 1 ? d->len : sizeof(raw) - 1;
    memcpy(raw, d->data, k);
    raw[k] = 0;
    for (size_t i = 0; i < k; i++)
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f)
            raw[i] = ' ';
    svc_utf8_copy(out, n, raw);
    if (d->len > k && strlen(out) + 4 < n)
        strcat(out, "...");
}

/* ---- the run ---- */

struct opts {
    const char *config, *topic;
    const char **reasons;
    size_t n_reasons;
    const char *prefix;
    long limit; /* 0 = no limit */
    int batch;
    double wait_s;
    int json, replay, force, dry_run;
};

struct group {
    char *reason;
    size_t count;
    size_t n_ex;
    json_t *examples; /* [{"element","error","message_id"}] */
};

struct run {
    const struct opts *o;
    struct svc_sync s;
    const struct cfg_job *cfg;
    char sub[512], topic[512];
    struct seen_set seen;
    double last_extend;
    int tty;
    /* summary */
    struct group *groups;
    size_t n_groups;
    size_t total;
    /* replay */
    size_t replayed, skipped, skipped_cut, skipped_attrs, skipped_force, failed;
    json_t *listed; /* --dry-run --json: what would go */
    int stopped_by_limit;
};

struct call {
    int done;
    struct gcp_error err;
    struct dl *msgs; /* pull: the new dead letters, copied */
    size_t n;
    const char **reack; /* pull: repeats of acked ones (borrowed from seen) */
    size_t n_reack;
    struct run *r;
};

/* Wait for an asynchronous call; on a timeout cancel it, so that its
 * callback fires while *c still lives. 0 or a GCP_E* code. */
static int call_wait(struct run *r, struct call *c, int rc)
{
    if (rc != 0)
        return rc;
    if (svc_sync_wait(&r->s, &c->done, CALL_LIMIT_S) != 0) {
        gcp_http_cancel_all(r->s.cloud.http);
        if (!c->err.code)
            c->err.code = GCP_ETIMEOUT;
    }
    return c->err.code;
}

static void on_call_done(void *ud, const struct gcp_error *err)
{
    struct call *c = ud;
    if (err)
        c->err = *err;
    c->done = 1;
}

static const char *call_why(const struct call *c)
{
    return c->err.msg[0] ? c->err.msg : gcp_strerror(c->err.code);
}

static void on_pulled(void *ud, const struct gcp_error *err, const struct gcp_pubsub_received *msgs,
                      size_t n)
{
    struct call *c = ud;
    c->done = 1;
    if (err) {
        c->err = *err;
        return;
    }
    if (n == 0)
        return;
    c->msgs = calloc(n, sizeof(*c->msgs));
    c->reack = calloc(n, sizeof(*c->reack));
    if (!c->msgs || !c->reack) { /* their leases lapse and they come back */
        c->err.code = GCP_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct gcp_pubsub_received *m = &msgs[i];
        struct dl *d = &c->msgs[c->n];
        int is_new = 0;
        struct seen *e =
            seen_put(&c->r->seen, m->message_id ? m->message_id : m->ack_id, m->ack_id, &is_new);
        if (!e)
            continue; /* out of memory: its lease lapses, it comes back */
        if (!is_new) {
            /* Its lease lapsed during a slow request: held, it just has a new
             * ackId; acked already (the ack came too late), ack it again. */
            if (e->acked)
                c->reack[c->n_reack++] = e->ack_id;
            continue;
        }
        d->seen = e;
        d->data = malloc(m->data_len + 1);
        d->attrs = m->n_attrs ? calloc(2 * m->n_attrs, sizeof(*d->attrs)) : NULL;
        if (d->data)
            memcpy(d->data, m->data, m->data_len);
        for (size_t k = 0; d->attrs && k < m->n_attrs; k++) {
            d->attrs[2 * k] = strdup(m->attrs[k].key);
            d->attrs[2 * k + 1] = strdup(m->attrs[k].value);
            d->n_attrs++;
            if (!d->attrs[2 * k] || !d->attrs[2 * k + 1])
                break;
        }
        c->n++;
        if (!d->data || d->n_attrs < m->n_attrs) {
            c->err.code = GCP_ENOMEM;
            return;
        }
        d->data[m->data_len] = 0;
        d->len = m->data_len;
    }
}

static int modack(struct run *r, const char *const *ids, size_t n, int deadline_s)
{
    struct call c = {.r = r};
    if (n == 0)
        return 0;
    return call_wait(
        r, &c, gcp_pubsub_modack(r->s.cloud.pubsub, r->sub, ids, n, deadline_s, on_call_done, &c));
}

/* Keep the held messages ours while the run goes on. A failure only means
 * some may come back to a later pull, where messageId tells them apart. */
static void extend_held(struct run *r, int force)
{
    size_t n;
    const char **ids;
    if (!force && now_s() - r->last_extend < EXTEND_S)
        return;
    ids = held_ids(&r->seen, &n);
    if (ids)
        modack(r, ids, n, LEASE_S);
    free(ids);
    r->last_extend = now_s();
}

/* Hand every held message back at once (modack 0). */
static void hand_back(struct run *r)
{
    size_t n;
    const char **ids = held_ids(&r->seen, &n);
    if (ids && n && modack(r, ids, n, 0) != 0)
        fprintf(stderr,
                "wiggly deadletters: could not hand %zu dead letters back; they are available "
                "again within %d s\n",
                n, LEASE_S);
    free(ids);
}

/* Pull once: the new dead letters in *out (may be none). Repeats of held
 * messages update their ackId and are not returned. 0 or a GCP_E* code. */
static int pull_batch(struct run *r, int max, struct dl **out, size_t *n)
{
    struct call c = {.r = r};
    int rc;
    const char **ids;
    *out = NULL;
    *n = 0;
    rc = call_wait(r, &c, gcp_pubsub_pull_now(r->s.cloud.pubsub, r->sub, max, on_pulled, &c));
    if (c.n_reack) {
        struct call a = {.r = r};
        call_wait(r, &a,
                  gcp_pubsub_ack(r->s.cloud.pubsub, r->sub, c.reack, c.n_reack, on_call_done, &a));
    }
    free(c.reack);
    if (rc != 0) {
        dl_free(c.msgs, c.n);
        fprintf(stderr, "wiggly deadletters: pull from %s failed: %s%s\n", r->sub, call_why(&c),
                rc == GCP_ENOTFOUND ? " (create it: wiggly verify -c JOB.json --create)" : "");
        return rc;
    }
    /* Ours for LEASE_S from now, whatever the subscription's deadline. */
    if (c.n && (ids = calloc(c.n, sizeof(*ids))) != NULL) {
        for (size_t i = 0; i < c.n; i++)
            ids[i] = c.msgs[i].seen->ack_id;
        modack(r, ids, c.n, LEASE_S);
        free(ids);
    }
    *out = c.msgs;
    *n = c.n;
    return 0;
}

/* After a pull that brought n new dead letters: 0 when none came for
 * --wait seconds (the subscription is read), else 1 (after a short pause
 * when this pull was empty: returnImmediately often answers nothing while
 * messages wait, so an empty answer alone does not end the run). */
static int more_to_come(const struct run *r, size_t n, double *quiet_since)
{
    if (n) {
        *quiet_since = now_s();
        return 1;
    }
    if (now_s() - *quiet_since >= r->o->wait_s)
        return 0;
    ev_sleep(0.2);
    return 1;
}

static int selected(const struct run *r, const struct dl *d)
{
    const char *reason = dl_reason(d);
    int ok = r->o->n_reasons == 0;
    for (size_t i = 0; i < r->o->n_reasons && !ok; i++)
        ok = !strcmp(reason, r->o->reasons[i]);
    if (ok && r->o->prefix) {
        char el[SVC_ELEMENT_MAX + 1];
        dl_element(d, el, sizeof(el));
        ok = el[0] && !strncmp(el, r->o->prefix, strlen(r->o->prefix));
    }
    return ok;
}

/* "what" of a dead letter for a line: its element, else its payload. */
static void dl_what(const struct dl *d, char *out, size_t n)
{
    char head[128];
    dl_element(d, out, n);
    if (!out[0]) {
        dl_payload_head(d, head, sizeof(head));
        snprintf(out, n, "payload \"%s\"", head);
    }
}

/* ---- summary ---- */

static struct group *group_of(struct run *r, const char *reason)
{
    struct group *g;
    for (size_t i = 0; i < r->n_groups; i++)
        if (!strcmp(r->groups[i].reason, reason))
            return &r->groups[i];
    g = realloc(r->groups, (r->n_groups + 1) * sizeof(*g));
    if (!g)
        return NULL;
    r->groups = g;
    g = &r->groups[r->n_groups];
    memset(g, 0, sizeof(*g));
    if (!(g->reason = strdup(reason)) || !(g->examples = json_array())) {
        free(g->reason);
        return NULL;
    }
    r->n_groups++;
    return g;
}

static void count_one(struct run *r, const struct dl *d)
{
    char el[SVC_ELEMENT_MAX + 1], err[1100];
    struct group *g = group_of(r, dl_reason(d));
    if (!g)
        return;
    g->count++;
    r->total++;
    if (g->n_ex < EXAMPLES) {
        json_t *ex;
        dl_element(d, el, sizeof(el));
        dl_error(d, err, sizeof(err));
        ex = json_pack("{s:s, s:s}", "error", err, "message_id", d->seen->message_id);
        if (el[0]) {
            json_object_set_new(ex, "element", json_string(el));
        } else { /* no element to show: the head of the payload */
            char head[128];
            dl_payload_head(d, head, sizeof(head));
            json_object_set_new(ex, "element", json_null());
            json_object_set_new(ex, "payload", json_string(head));
        }
        json_array_append_new(g->examples, ex);
        g->n_ex++;
    }
}

static int by_count(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->reason, y->reason);
}

static void print_summary(struct run *r)
{
    qsort(r->groups, r->n_groups, sizeof(*r->groups), by_count);
    if (r->o->json) {
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:b, s:{}}", "job", r->cfg->name, "subscription", r->sub,
                      "total", (json_int_t)r->total, "complete", !r->stopped_by_limit, "reasons");
        json_t *reasons = json_object_get(o, "reasons");
        for (size_t i = 0; i < r->n_groups; i++)
            json_object_set_new(reasons, r->groups[i].reason,
                                json_pack("{s:I, s:O}", "count", (json_int_t)r->groups[i].count,
                                          "examples", r->groups[i].examples));
        json_dumpf(o, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(o);
        return;
    }
    if (r->total == 0) {
        printf("no dead letters on %s (job %s)\n", r->sub, r->cfg->name);
        return;
    }
    printf("%zu dead letter%s on %s (job %s)%s; none acked\n", r->total, r->total == 1 ? "" : "s",
           r->sub, r->cfg->name, r->stopped_by_limit ? ", stopped at --limit: more may wait" : "");
    for (size_t i = 0; i < r->n_groups; i++) {
        const struct group *g = &r->groups[i];
        size_t k;
        json_t *ex;
        printf("\n%6zu  %s\n", g->count, g->reason);
        json_array_foreach(g->examples, k, ex)
        {
            const char *el = json_string_value(json_object_get(ex, "element"));
            if (el)
                printf("        %s\n", el);
            else
                printf("        payload \"%s\"\n",
                       json_string_value(json_object_get(ex, "payload")));
            printf("          %s\n", json_string_value(json_object_get(ex, "error")));
        }
        if (g->count > g->n_ex)
            printf("        (%zu more)\n", g->count - g->n_ex);
    }
    printf("\nonce fixed, replay: wiggly deadletters -c %s --replay --reason %s [--dry-run]\n",
           r->o->config, r->groups[0].reason);
}

static int run_summary(struct run *r)
{
    double quiet_since = now_s();
    while (!interrupted) {
        struct dl *msgs;
        size_t n, max = SUMMARY_BATCH;
        if (r->o->limit && (long)r->total >= r->o->limit) {
            r->stopped_by_limit = 1;
            break;
        }
        if (r->o->limit && r->o->limit - (long)r->total < (long)max)
            max = (size_t)(r->o->limit - (long)r->total);
        if (pull_batch(r, (int)max, &msgs, &n) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            if (selected(r, &msgs[i]))
                count_one(r, &msgs[i]);
        dl_free(msgs, n);
        if (!more_to_come(r, n, &quiet_since))
            break;
        extend_held(r, 0);
        if (r->tty && !r->o->json)
            fprintf(stderr, "\rread %zu dead letters", r->total);
    }
    if (r->tty && !r->o->json)
        fprintf(stderr, "\r\033[K");
    if (interrupted) {
        fprintf(stderr, "wiggly deadletters: interrupted\n");
        return 1;
    }
    print_summary(r);
    return 0;
}

/* ---- replay ---- */

struct out_msg {
    struct gcp_pubsub_message m;
    struct gcp_pubsub_attr *attrs;
    char *forced; /* the re-encoded payload with force */
};

/* The original message of a dead letter: its payload and its own attributes;
 * with --force, the payload re-encoded with force (audit trail kept). 0, or
 * -1 with why when it cannot be replayed as asked. */
static int rebuild(const struct run *r, const struct dl *d, struct out_msg *o, char *why,
                   size_t why_n)
{
    const char *cut = dl_attr(d, "wiggly_payload_bytes");
    const char *dropped = dl_attr(d, "wiggly_attributes_dropped");
    memset(o, 0, sizeof(*o));
    if (cut) {
        snprintf(why, why_n, "payload cut at 4 MiB (it had %s bytes)", cut);
        return -1;
    }
    if (dropped) {
        snprintf(why, why_n, "%s of its attributes did not fit in the dead letter", dropped);
        return -1;
    }
    o->m.data = d->data;
    o->m.len = d->len;
    if (r->o->force) {
        struct svc_message msg;
        char mwhy[300];
        if (svc_message_decode(d->data, d->len, &msg, mwhy, sizeof(mwhy)) != 0) {
            snprintf(why, why_n, "--force needs a wiggly message or a track ID: %s", mwhy);
            return -1;
        }
        msg.force = 1;
        o->forced = svc_message_encode(&msg, &o->m.len);
        svc_message_cleanup(&msg);
        if (!o->forced) {
            snprintf(why, why_n, "cannot encode the message with force");
            return -1;
        }
        o->m.data = o->forced;
    }
    if (d->n_attrs && !(o->attrs = calloc(d->n_attrs, sizeof(*o->attrs)))) {
        free(o->forced);
        snprintf(why, why_n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < d->n_attrs; i++)
        if (!is_dead_key(d->attrs[2 * i]))
            o->attrs[o->m.n_attrs++] =
                (struct gcp_pubsub_attr){d->attrs[2 * i], d->attrs[2 * i + 1]};
    o->m.attrs = o->attrs;
    if (o->m.len == 0 && o->m.n_attrs == 0) {
        free(o->attrs);
        free(o->forced);
        snprintf(why, why_n, "neither payload nor attributes (not a wiggly dead letter)");
        return -1;
    }
    return 0;
}

static void on_published(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    (void)ids;
    (void)n;
    on_call_done(ud, err);
}

static void skip_line(struct run *r, const struct dl *d, const char *why)
{
    char what[SVC_ELEMENT_MAX + 160];
    dl_what(d, what, sizeof(what));
    if (r->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(r->o->json ? stderr : stdout, "skipped %s (%s, message %s): %s\n", what, dl_reason(d),
            d->seen->message_id, why);
}

static void progress(struct run *r, int last)
{
    if (r->o->json || r->o->dry_run)
        return;
    if (r->tty)
        fprintf(stderr, last ? "\r\033[K" : "\rreplayed %zu, skipped %zu", r->replayed, r->skipped);
    else if (!last)
        fprintf(stderr, "replayed %zu, skipped %zu so far\n", r->replayed, r->skipped);
}

/* Publish the selected messages of one batch, then ack them. 0, or 1 after
 * printing why (nothing of the batch is acked when the publish failed). */
static int replay_batch(struct run *r, struct dl **sel, size_t n)
{
    struct out_msg *out = calloc(n ? n : 1, sizeof(*out));
    struct gcp_pubsub_message *msgs = calloc(n ? n : 1, sizeof(*msgs));
    struct dl **go = calloc(n ? n : 1, sizeof(*go));
    const char **acks = calloc(n ? n : 1, sizeof(*acks));
    size_t n_go = 0;
    int rc = 0;
    char why[400], what[SVC_ELEMENT_MAX + 160];

    if (!out || !msgs || !go || !acks) {
        fprintf(stderr, "wiggly deadletters: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (rebuild(r, sel[i], &out[n_go], why, sizeof(why)) != 0) {
            r->skipped++;
            if (strstr(why, "payload cut"))
                r->skipped_cut++;
            else if (strstr(why, "attributes"))
                r->skipped_attrs++;
            else
                r->skipped_force++;
            skip_line(r, sel[i], why);
            continue;
        }
        msgs[n_go] = out[n_go].m;
        go[n_go++] = sel[i];
    }
    if (r->o->dry_run) {
        for (size_t i = 0; i < n_go; i++) {
            dl_what(go[i], what, sizeof(what));
            if (r->listed)
                json_array_append_new(
                    r->listed,
                    json_pack("{s:s, s:s, s:s, s:I, s:I}", "element", what, "reason",
                              dl_reason(go[i]), "message_id", go[i]->seen->message_id, "bytes",
                              (json_int_t)msgs[i].len, "attributes", (json_int_t)msgs[i].n_attrs));
            else
                printf("would replay %s (%s, message %s): %zu bytes, %zu attributes%s\n", what,
                       dl_reason(go[i]), go[i]->seen->message_id, msgs[i].len, msgs[i].n_attrs,
                       r->o->force ? ", force" : "");
        }
        r->replayed += n_go;
        goto out;
    }
    if (n_go) {
        struct call c = {.r = r};
        if (call_wait(r, &c,
                      gcp_pubsub_publish(r->s.cloud.pubsub, r->topic, msgs, n_go, on_published,
                                         &c)) != 0) {
            if (r->tty)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr,
                    "wiggly deadletters: publish to %s failed: %s; these %zu dead letters stay "
                    "on %s\n",
                    r->topic, call_why(&c), n_go, r->sub);
            r->failed += n_go;
            rc = 1;
            goto out;
        }
        for (size_t i = 0; i < n_go; i++)
            acks[i] = go[i]->seen->ack_id;
        memset(&c, 0, sizeof(c));
        c.r = r;
        if (call_wait(r, &c,
                      gcp_pubsub_ack(r->s.cloud.pubsub, r->sub, acks, n_go, on_call_done, &c)) !=
            0) {
            /* They were sent; unacked, they come back and a later replay
             * sends them again: a duplicate, never a loss. */
            if (r->tty)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr,
                    "wiggly deadletters: %zu dead letters were replayed but the ack failed (%s): "
                    "they stay on %s and a later replay sends them again\n",
                    n_go, call_why(&c), r->sub);
            r->replayed += n_go;
            rc = 1;
            goto out;
        }
        for (size_t i = 0; i < n_go; i++)
            go[i]->seen->acked = 1; /* a repeat is acked again, not sent */
        r->replayed += n_go;
    }
out:
    for (size_t i = 0; out && i < n_go; i++) {
        free(out[i].attrs);
        free(out[i].forced);
    }
    free(out);
    free(msgs);
    free(go);
    free(acks);
    return rc;
}

static void print_replay(struct run *r, size_t left)
{
    if (r->o->json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:b}", "job", r->cfg->name,
            "subscription", r->sub, "topic", r->topic, "dry_run", r->o->dry_run, "force",
            r->o->force, r->o->dry_run ? "would_replay" : "replayed", (json_int_t)r->replayed,
            "skipped", (json_int_t)r->skipped, "skipped_by", "payload_cut",
            (json_int_t)r->skipped_cut, "attributes_dropped", (json_int_t)r->skipped_attrs,
            "not_forceable", (json_int_t)r->skipped_force, "left", (json_int_t)left, "complete",
            !r->stopped_by_limit);
        if (r->listed)
            json_object_set(o, "messages", r->listed);
        json_dumpf(o, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(o);
        return;
    }
    printf("%s %zu to %s, skipped %zu", r->o->dry_run ? "would replay" : "replayed", r->replayed,
           r->topic, r->skipped);
    if (r->skipped) {
        const char *sep = " (";
        if (r->skipped_cut) {
            printf("%s%zu payload cut at 4 MiB", sep, r->skipped_cut);
            sep = ", ";
        }
        if (r->skipped_attrs) {
            printf("%s%zu attributes dropped", sep, r->skipped_attrs);
            sep = ", ";
        }
        if (r->skipped_force)
            printf("%s%zu not a wiggly message, cannot force", sep, r->skipped_force);
        printf(")");
    }
    printf(", left %zu on %s%s\n", left, r->sub,
           r->stopped_by_limit ? " (stopped at --limit: more may wait)" : "");
}

static int run_replay(struct run *r)
{
    double quiet_since = now_s();
    int rc = 0;
    size_t left = 0;
    struct dl **sel = calloc((size_t)r->o->batch, sizeof(*sel));
    if (!sel) {
        fprintf(stderr, "wiggly deadletters: out of memory\n");
        return 1;
    }
    if (r->o->dry_run && r->o->json)
        r->listed = json_array();
    while (!interrupted && rc == 0) {
        struct dl *msgs;
        size_t n, n_sel = 0;
        long room = r->o->limit ? r->o->limit - (long)r->replayed : r->o->batch;
        if (room <= 0) {
            r->stopped_by_limit = 1;
            break;
        }
        if (pull_batch(r, r->o->batch, &msgs, &n) != 0) {
            rc = 1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if ((long)n_sel < room && selected(r, &msgs[i]))
                sel[n_sel++] = &msgs[i];
        /* The others stay held until the end, so the next pull brings new
         * ones; the selected beyond --limit too. */
        rc = replay_batch(r, sel, n_sel);
        dl_free(msgs, n);
        if (!more_to_come(r, n, &quiet_since))
            break;
        if (n_sel)
            progress(r, 0);
        extend_held(r, 0);
    }
    progress(r, 1);
    for (size_t i = 0; i < r->seen.n; i++)
        left += !r->seen.v[i].acked;
    if (interrupted) {
        fprintf(stderr, "wiggly deadletters: interrupted; the rest stay on %s\n", r->sub);
        rc = 1;
    }
    print_replay(r, left);
    free(sel);
    return rc;
}

/* ---- the verb ---- */

static void dl_usage(FILE *f)
{
    fprintf(f,
            "usage: wiggly deadletters -c JOB.json [--json] [--limit N] [--reason R]...\n"
            "                          [--element-prefix P] [--wait S]\n"
            "       wiggly deadletters -c JOB.json --replay [--reason R]... [--element-prefix P]\n"
            "                          [--limit N] [--force] [--dry-run] [--topic T] [--batch N]\n"
            "                          [--json] [--wait S]\n\n"
            "Read the job's dead-letter subscription (the one wiggly verify --create makes on\n"
            "dead_letter_topic) and summarise it by wiggly_reason: count, a few elements and\n"
            "their wiggly_error. Dead letters Pub/Sub forwarded by itself (its dead-letter\n"
            "policy) are grouped as pubsub_max_delivery. Nothing is acked: every message read\n"
            "is handed back when done (or within %d s if the process dies).\n\n"
            "--replay sends the selected dead letters to the job's input topic (--topic, else\n"
            "the topic of the job's subscription) as the original messages: the payload and\n"
            "the original attributes, without the wiggly_* and CloudPubSubDeadLetterSource*\n"
            "ones; each is acked only after its publish succeeded. --force sets force in the\n"
            "message (audit trail kept). A payload cut at 4 MiB cannot be sent as it was: it\n"
            "is skipped and stays. --dry-run lists what would go and acks nothing.\n\n"
            "  --reason R          only this wiggly_reason (repeatable; also\n"
            "                      pubsub_max_delivery, unlabelled)\n"
            "  --element-prefix P  only elements starting with P\n"
            "  --limit N           read (summary) or replay at most N dead letters\n"
            "  --wait S            stop when no new dead letter came for S seconds (default 3)\n"
            "  --batch N           dead letters per pull and per publish (default %d)\n"
            "  --json              one JSON object on stdout, for scripts\n\n"
            "Exit 0 when done, 1 when Pub/Sub failed or the run was interrupted, 2 on bad\n"
            "usage or a job without dead_letter_topic.\n",
            LEASE_S, BATCH_DEFAULT);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "wiggly deadletters: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try wiggly deadletters --help)\n");
    return 2;
}

static int parse_num(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi)
        return -1;
    *out = d;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const char *reasons[64];
    o->reasons = reasons;
    o->batch = BATCH_DEFAULT;
    o->wait_s = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            dl_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--replay")) {
            o->replay = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry_run = 1;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--topic") ||
                   !strcmp(a, "--reason") || !strcmp(a, "--element-prefix") ||
                   !strcmp(a, "--limit") || !strcmp(a, "--wait") || !strcmp(a, "--batch")) {
            const char *v;
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            v = argv[++i];
            if (!strcmp(a, "--topic")) {
                o->topic = v;
            } else if (!strcmp(a, "--reason")) {
                if (o->n_reasons == sizeof(reasons) / sizeof(reasons[0]))
                    return usage_error("%s", "too many --reason");
                reasons[o->n_reasons++] = v;
            } else if (!strcmp(a, "--element-prefix")) {
                o->prefix = v;
            } else if (!strcmp(a, "--limit")) {
                if (parse_num(v, 1, 1e12, &d) != 0 || d != (long)d)
                    return usage_error("--limit needs a whole number >= 1, not '%s'", v);
                o->limit = (long)d;
            } else if (!strcmp(a, "--wait")) {
                if (parse_num(v, 0, 3600, &d) != 0)
                    return usage_error("--wait needs seconds from 0 to 3600, not '%s'", v);
                o->wait_s = d;
            } else if (!strcmp(a, "--batch")) {
                if (parse_num(v, 1, 1000, &d) != 0 || d != (int)d)
                    return usage_error("--batch needs a whole number from 1 to 1000, not '%s'", v);
                o->batch = (int)d;
            } else {
                o->config = v;
            }
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->config)
        return usage_error("%s", "-c JOB.json is required");
    if (!o->replay && (o->force || o->dry_run || o->topic))
        return usage_error("%s", "--force, --dry-run and --topic go with --replay");
    return -1;
}

int cli_deadletters(int argc, char **argv)
{
    struct opts o = {0};
    struct run r;
    struct svc_error err = {0};
    struct cfg_job *cfg = NULL;
    struct sigaction sa;
    int rc;

    if ((rc = parse_args(argc, argv, &o)) >= 0)
        return rc;
    memset(&r, 0, sizeof(r));
    r.o = &o;
    gcp_http_global_init();
    json_object_seed(0);
    if (!(cfg = cli_job_load("deadletters", o.config))) {
        gcp_http_global_cleanup();
        return 1;
    }
    r.cfg = cfg;
    rc = 2;
    if (!cfg->dead_letter_topic) {
        fprintf(stderr,
                "wiggly deadletters: job %s has no dead_letter_topic: its permanent failures are "
                "logged and dropped, there is nothing to read (docs/config.md)\n",
                cfg->name);
        goto out;
    }
    if (o.replay && !o.topic && cfg->events.kind != CFG_EVENTS_PUBSUB) {
        fprintf(stderr, "wiggly deadletters: the job reads events from a file; give --topic\n");
        goto out;
    }
    rc = 1;
    cli_dead_letter_sub(cfg, r.sub, sizeof(r.sub));
    if (svc_sync_init(&r.s, 1, 0, &err) != 0) {
        fprintf(stderr, "wiggly deadletters: %s\n", err.msg);
        goto out;
    }
    if (o.replay) {
        if (o.topic) {
            snprintf(r.topic, sizeof(r.topic), "%s", o.topic);
        } else {
            struct svc_sync_sub sub;
            if (svc_sync_sub_get(&r.s, cfg->events.subscription, &sub, &err) != 0) {
                fprintf(stderr, "wiggly deadletters: cannot find the input topic: %s\n", err.msg);
                goto out;
            }
            snprintf(r.topic, sizeof(r.topic), "%s", sub.topic);
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a closed pipe on stdout: write fails, the run goes on */
    sigaction(SIGPIPE, &sa, NULL);
    r.tty = isatty(STDERR_FILENO);
    r.last_extend = now_s();
    rc = o.replay ? run_replay(&r) : run_summary(&r);
    hand_back(&r);
out:
    for (size_t i = 0; i < r.n_groups; i++) {
        free(r.groups[i].reason);
        json_decref(r.groups[i].examples);
    }
    free(r.groups);
    json_decref(r.listed);
    seen_free(&r.seen);
    svc_sync_cleanup(&r.s);
    cfg_job_destroy(cfg);
    gcp_http_global_cleanup();
    return rc;
}
