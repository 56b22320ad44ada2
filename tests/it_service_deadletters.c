/* it_service_deadletters.c: `wiggly deadletters` (issue 15) against the
 * official Pub/Sub emulator and wiggly-gcs-emulator, with real dead letters:
 * a real `wiggly run` dead-letters 20 messages for three reasons (inputs
 * that are not audio, inputs over max_input_mb, elements with a ".."
 * segment), and Pub/Sub's own dead-letter policy forwards 2 more that a
 * subscriber nacked 5 times. Every original is also read from a tap
 * subscription on the input topic, so the test knows its exact payload and
 * attributes.
 *  - the summary (--json) counts each reason, and acks nothing (twice the
 *    same counts);
 *  - --dry-run sends nothing; --replay --reason bad_audio sends exactly
 *    those 8 back, payload and attributes identical to the originals, and
 *    they leave the dead-letter subscription; the Pub/Sub-forwarded ones
 *    come back without the CloudPubSubDeadLetterSource* attributes;
 *  - --force with --element-prefix and --limit 1 sends one message, forced,
 *    its audit trail kept;
 *  - a replay of 240 dead letters SIGKILLed mid-way, then run again: every
 *    one reached the input topic at least once, none is left on the
 *    dead-letter subscription, and the 10 of another reason are all still
 *    there. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "service/message.h"
#include "support/svc_it.h"
#include "support/svc_util.h"

#define LIMIT     120.0
#define N_AUDIO   8
#define N_BIG     6
#define N_ELEMENT 6
#define N_PUBSUB  2
#define N_ALL     (N_AUDIO + N_BIG + N_ELEMENT + N_PUBSUB)
#define N_KILL    240
#define N_OTHER   10

static struct svc_it it;
static int skipped;
static struct svc_job_proc job_d;
static struct tmsg orig[N_ALL];              /* job D's originals, as the tap saw them */
static struct tmsg orig_r[N_KILL + N_OTHER]; /* job R's originals */

/* ---- running the verb ---- */

/* Run `wiggly ARGS...` with stdout to out and stderr to err (either NULL:
 * /dev/null); returns its pid. */
static pid_t spawn(const char *out, const char *err, const char *const *args)
{
    char *argv[32];
    size_t n = 0;
    pid_t pid;
    argv[n++] = (char *)WIGGLY_BIN;
    for (; *args && n < 31; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait up to limit_s; the exit code, or -1 (killed by a signal or still
 * running: then SIGKILLed). */
static int wait_exit(pid_t pid, double limit_s)
{
    int st = 0;
    for (double t = 0; t < limit_s; t += 0.05) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        svc_test_sleep(0.05);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static const char *path_in_dir(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", it.dir, name);
    return buf[k];
}

/* `wiggly deadletters -c CFG ARGS...`, its exit code; stdout in *out when
 * out is not NULL (free it). */
static int verb(const char *cfg, char **out, ...)
{
    const char *args[24] = {"deadletters", "-c", cfg};
    size_t n = 3;
    va_list ap;
    const char *a;
    int rc;
    va_start(ap, out);
    while ((a = va_arg(ap, const char *)) != NULL && n < 23)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    rc = wait_exit(spawn(path_in_dir("dl.out"), path_in_dir("dl.err"), args), LIMIT);
    if (out)
        *out = svc_test_read_file(path_in_dir("dl.out"), NULL);
    if (rc != 0) {
        char *e = svc_test_read_file(path_in_dir("dl.err"), NULL);
        fprintf(stderr, "wiggly deadletters exited %d: %s\n", rc, e ? e : "");
        free(e);
    }
    return rc;
}

/* The summary as JSON: reason -> count; total in *total. */
static json_t *summary(const char *cfg, long *total)
{
    char *out = NULL;
    json_t *o;
    json_error_t je;
    assert_int_equal(verb(cfg, &out, "--json", NULL), 0);
    assert_non_null(out);
    o = json_loads(out, 0, &je);
    if (!o)
        fprintf(stderr, "not JSON (%s): %s\n", je.text, out);
    free(out);
    assert_non_null(o);
    *total = (long)json_integer_value(json_object_get(o, "total"));
    return o;
}

static long reason_count(json_t *o, const char *reason)
{
    json_t *r = json_object_get(json_object_get(o, "reasons"), reason);
    return r ? (long)json_integer_value(json_object_get(r, "count")) : 0;
}

/* ---- messages ---- */

static void tmsg_set(struct tmsg *m, const char *data, ...)
{
    va_list ap;
    const char *k;
    memset(m, 0, sizeof(*m));
    m->data = strdup(data);
    m->len = strlen(data);
    va_start(ap, data);
    while ((k = va_arg(ap, const char *)) != NULL && m->n_attrs < 8) {
        m->attrs[m->n_attrs][0] = strdup(k);
        m->attrs[m->n_attrs][1] = strdup(va_arg(ap, const char *));
        m->n_attrs++;
    }
    va_end(ap);
}

static void tmsg_print(const char *what, const struct tmsg *m)
{
    fprintf(stderr, "%s: %zu bytes \"%s\", %zu attributes:", what, m->len, m->data, m->n_attrs);
    for (size_t k = 0; k < m->n_attrs; k++)
        fprintf(stderr, " %s=%s", m->attrs[k][0], m->attrs[k][1]);
    fprintf(stderr, "\n");
}

/* Same payload bytes and the same attributes (a set: Pub/Sub's attributes
 * are a map). */
static int tmsg_same_quiet(const struct tmsg *a, const struct tmsg *b)
{
    if (a->len != b->len || memcmp(a->data, b->data, a->len) || a->n_attrs != b->n_attrs)
        return 0;
    for (size_t k = 0; k < a->n_attrs; k++) {
        const char *v = tmsg_attr(b, a->attrs[k][0]);
        if (!v || strcmp(v, a->attrs[k][1]))
            return 0;
    }
    return 1;
}

static int tmsg_same(const struct tmsg *a, const struct tmsg *b)
{
    int same = tmsg_same_quiet(a, b);
    if (!same) {
        tmsg_print("original", a);
        tmsg_print("replayed", b);
    }
    return same;
}

static const struct tmsg *find_payload(const struct tmsg *v, size_t n, const char *data)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].data && !strcmp(v[i].data, data))
            return &v[i];
    return NULL;
}

/* Pull (and ack) want messages from sub, then make sure no more is on its
 * way (a surplus counts in the result, so an exact check fails). */
static size_t drain(const char *sub, struct tmsg *out, size_t cap, size_t want)
{
    struct tmsg extra[4] = {0};
    size_t got = tcloud_pull(it.cloud, svc_it_sub(sub), want, LIMIT, out, cap);
    size_t more = tcloud_pull(it.cloud, svc_it_sub(sub), 4, 2.0, extra, 4);
    tmsg_cleanup(extra, more);
    return got + more;
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
    int rc;
    (void)state;
    rc = svc_it_group_setup(&it, &skipped, NULL, NULL);
    return rc < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tmsg_cleanup(orig, N_ALL);
    tmsg_cleanup(orig_r, N_KILL + N_OTHER);
    return svc_it_group_teardown(&it, skipped, NULL, 0);
}

/* A job whose subscription S reads topic S, dead letters to S-dead, and
 * `wiggly verify --create` made it all; plus a tap subscription S-tap on
 * the input topic that sees every message the job gets. */
static void make_job(struct svc_job_proc *j, const char *name)
{
    char json[2048], tap[64];
    const char *args[] = {"verify", "-c", NULL, "--create", NULL};
    snprintf(json, sizeof(json),
             "{\"job\":\"%s\",\"project\":\"p\","
             "\"events\":{\"subscription\":\"projects/p/subscriptions/%s\"},"
             "\"input\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"gs://wbkt/%s-out/\",\"suffix\":\".flac\"},"
             "\"dead_letter_topic\":\"projects/p/topics/%s-dead\","
             "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"format\":\"flac\",\"bits\":16},"
             "\"runtime\":{\"workers\":1,\"max_in_flight\":8,\"max_attempts\":1,"
             "\"ack_deadline_s\":10,\"max_input_mb\":1}}",
             name, name, name, name, name);
    assert_int_equal(svc_it_job(&it, j, name, json), 0);
    args[2] = j->cfg;
    assert_int_equal(wait_exit(spawn(NULL, NULL, args), LIMIT), 0);
    snprintf(tap, sizeof(tap), "%s-tap", name);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub(tap), svc_it_topic(name), 30, NULL, 0), 0);
}

/* Run the job until it dead-lettered n messages, then stop it. */
static void run_until_dead(struct svc_job_proc *j, int n)
{
    double dead = 0;
    assert_int_equal(svc_it_job_start(&it, j), 0);
    for (double t = 0; t < LIMIT && dead < n; t += 0.2) {
        dead = svc_it_metric(j, "wiggly_messages_total{outcome=\"dead_lettered\"}");
        svc_test_sleep(0.2);
    }
    assert_true(dead == n);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(j, 60)), 0);
}

/* ---- the tests ---- */

static void test_summary_of_real_dead_letters(void **state)
{
    static struct tmsg pub[N_ALL];
    unsigned char junk[3000];
    char data[512], id[32], big[512];
    size_t n = 0, nacked;
    long total;
    json_t *o, *ex;
    (void)state;
    if (skipped)
        skip();
    make_job(&job_d, "dlj");
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 7 + 3);
    /* Not audio: plain IDs and wiggly messages with an audit trail, with
     * attributes of their own (one without, one not ASCII). */
    for (int i = 1; i <= N_AUDIO; i++) {
        char name[64];
        snprintf(name, sizeof(name), "dlj/bad/a%02d.wav", i);
        assert_int_equal(svc_it_upload_bytes(&it, name, junk, sizeof(junk)), 0);
        snprintf(id, sizeof(id), "%d", i);
        if (i % 2)
            snprintf(data, sizeof(data), "bad/a%02d", i);
        else
            snprintf(data, sizeof(data),
                     "{\"v\":1,\"element\":\"bad/a%02d\",\"force\":false,\"ping\":false,"
                     "\"recipients\":{\"type\":\"anyone\"},"
                     "\"audit\":[{\"job\":\"upstream\",\"time\":\"2026-11-22T10:00:00Z\"}]}",
                     i);
        if (i == 5)
            tmsg_set(&pub[n++], data, NULL);
        else if (i == 3)
            tmsg_set(&pub[n++], data, "batch", "b7", "idx", id, "note", "na\xc3\xafve", NULL);
        else
            tmsg_set(&pub[n++], data, "batch", "b7", "idx", id, NULL);
    }
    /* Over max_input_mb (1 MiB). */
    snprintf(big, sizeof(big), "%s/big.bin", it.dir);
    {
        FILE *f = fopen(big, "wb");
        assert_non_null(f);
        for (int k = 0; k < 400; k++)
            fwrite(junk, 1, sizeof(junk), f);
        fclose(f);
    }
    for (int i = 1; i <= N_BIG; i++) {
        char name[64];
        snprintf(name, sizeof(name), "dlj/big/b%02d.wav", i);
        assert_int_equal(tcloud_upload(it.cloud, SVC_IT_BUCKET, name, big), 0);
        if (i == 1)
            snprintf(data, sizeof(data),
                     "{\"v\":1,\"element\":\"big/b01\",\"force\":false,\"ping\":false,"
                     "\"recipients\":{\"type\":\"anyone\"},"
                     "\"audit\":[{\"job\":\"catalogue\",\"time\":\"2026-11-21T09:00:00Z\"}]}");
        else
            snprintf(data, sizeof(data), "big/b%02d", i);
        tmsg_set(&pub[n++], data, "batch", "b7", NULL);
    }
    /* Elements that cannot name an object. */
    for (int i = 1; i <= N_ELEMENT; i++) {
        snprintf(data, sizeof(data), "el/../e%02d", i);
        snprintf(id, sizeof(id), "%d", i);
        tmsg_set(&pub[n++], data, "idx", id, NULL);
    }
    assert_int_equal(tcloud_publish_msgs(it.cloud, svc_it_topic("dlj"), pub, n), 0);
    run_until_dead(&job_d, N_AUDIO + N_BIG + N_ELEMENT);
    /* Pub/Sub's own policy (max 5 deliveries): nacked until forwarded. */
    tmsg_set(&pub[n++], "pf/01", "batch", "b8", NULL);
    tmsg_set(&pub[n++], "pf/02", "batch", "b8", "idx", "2", NULL);
    assert_int_equal(tcloud_publish_msgs(it.cloud, svc_it_topic("dlj"), pub + n - 2, 2), 0);
    /* 12 s of quiet: the job's last long poll, cancelled at its shutdown,
     * may have been handed them; they come back after its 10 s deadline,
     * that expiry counting as a delivery attempt. */
    nacked = tcloud_nack_all(it.cloud, svc_it_sub("dlj"), 12.0, LIMIT);
    printf("it_deadletters: %zu deliveries nacked\n", nacked);
    assert_true(nacked >= 2);
    tmsg_cleanup(pub, n);

    /* The originals as a subscriber of the input topic got them. */
    assert_int_equal(drain("dlj-tap", orig, N_ALL, N_ALL), N_ALL);

    o = summary(job_d.cfg, &total);
    assert_int_equal(total, N_ALL);
    assert_int_equal(reason_count(o, "bad_audio"), N_AUDIO);
    assert_int_equal(reason_count(o, "too_big"), N_BIG);
    assert_int_equal(reason_count(o, "bad_element"), N_ELEMENT);
    assert_int_equal(reason_count(o, "pubsub_max_delivery"), N_PUBSUB);
    assert_int_equal(json_object_size(json_object_get(o, "reasons")), 4);
    ex = json_object_get(json_object_get(json_object_get(o, "reasons"), "bad_audio"), "examples");
    assert_int_equal(json_array_size(ex), 3);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(ex, 0), "element")), "bad/a"));
    assert_non_null(json_string_value(json_object_get(json_array_get(ex, 0), "error")));
    ex = json_object_get(json_object_get(json_object_get(o, "reasons"), "pubsub_max_delivery"),
                         "examples");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(ex, 0), "error")),
                           "Pub/Sub gave up after 5 delivery attempts"));
    json_decref(o);

    /* Nothing was acked: the same again, at once. */
    o = summary(job_d.cfg, &total);
    assert_int_equal(total, N_ALL);
    assert_int_equal(reason_count(o, "bad_audio"), N_AUDIO);
    json_decref(o);
    printf("it_deadletters: %d real dead letters summarised twice, none acked\n", N_ALL);
}

static void test_replay_one_reason(void **state)
{
    static struct tmsg back[N_ALL + 4]; /* zeroed: tcloud_pull fills it */
    char *out = NULL;
    size_t got;
    long total;
    json_t *o;
    (void)state;
    if (skipped)
        skip();

    /* --dry-run lists them and sends nothing. */
    assert_int_equal(verb(job_d.cfg, &out, "--replay", "--reason", "bad_audio", "--dry-run", NULL),
                     0);
    assert_non_null(strstr(out, "would replay 8 to projects/p/topics/dlj, skipped 0"));
    free(out);
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("dlj-tap"), 1, 2.0, back, 1), 0);

    assert_int_equal(verb(job_d.cfg, &out, "--replay", "--reason", "bad_audio", NULL), 0);
    assert_non_null(strstr(out, "replayed 8 to projects/p/topics/dlj, skipped 0, left 14"));
    free(out);
    got = drain("dlj-tap", back, N_ALL + 4, N_AUDIO);
    assert_int_equal(got, N_AUDIO);
    for (size_t i = 0; i < got; i++) {
        const struct tmsg *a = find_payload(orig, N_ALL, back[i].data);
        assert_non_null(a);
        assert_non_null(strstr(a->data, "bad/a"));
        assert_true(tmsg_same(a, &back[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(back[j].data, back[i].data);
    }
    tmsg_cleanup(back, got);

    o = summary(job_d.cfg, &total);
    assert_int_equal(total, N_ALL - N_AUDIO);
    assert_int_equal(reason_count(o, "bad_audio"), 0);
    assert_int_equal(reason_count(o, "too_big"), N_BIG);
    assert_int_equal(reason_count(o, "bad_element"), N_ELEMENT);
    json_decref(o);

    /* What Pub/Sub forwarded comes back without its CloudPubSub* attributes. */
    assert_int_equal(verb(job_d.cfg, NULL, "--replay", "--reason", "pubsub_max_delivery", NULL), 0);
    got = drain("dlj-tap", back, N_ALL + 4, N_PUBSUB);
    assert_int_equal(got, N_PUBSUB);
    for (size_t i = 0; i < got; i++) {
        const struct tmsg *a = find_payload(orig, N_ALL, back[i].data);
        assert_non_null(a);
        assert_true(tmsg_same(a, &back[i]));
    }
    tmsg_cleanup(back, got);
    printf("it_deadletters: bad_audio and pubsub_max_delivery replayed, byte-identical\n");
}

static void test_replay_force_one(void **state)
{
    static struct tmsg back[4];
    struct svc_message m;
    char why[256];
    const struct tmsg *a;
    size_t got;
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(verb(job_d.cfg, NULL, "--replay", "--reason", "too_big", "--element-prefix",
                          "big/b0", "--limit", "1", "--force", NULL),
                     0);
    got = drain("dlj-tap", back, 4, 1);
    assert_int_equal(got, 1);
    assert_int_equal(svc_message_decode(back[0].data, back[0].len, &m, why, sizeof(why)), 0);
    assert_true(m.force);
    assert_non_null(strstr(m.element, "big/b0"));
    if (!strcmp(m.element, "big/b01")) { /* the one with an audit trail keeps it */
        assert_int_equal(m.n_audit, 1);
        assert_string_equal(m.audit[0].job, "catalogue");
    }
    a = NULL;
    for (size_t i = 0; i < N_ALL && !a; i++)
        if (strstr(orig[i].data, m.element))
            a = &orig[i];
    assert_non_null(a);
    assert_string_equal(tmsg_attr(&back[0], "batch"), "b7");
    assert_int_equal(back[0].n_attrs, a->n_attrs);
    svc_message_cleanup(&m);
    tmsg_cleanup(back, got);
}

static void test_replay_killed_then_rerun(void **state)
{
    static struct tmsg pub[N_KILL + N_OTHER];
    static struct tmsg seen[2 * N_KILL + 16];
    struct svc_job_proc r;
    char data[64], idx[16];
    const char *args[] = {"deadletters", "-c",      NULL, "--replay", "--reason",
                          "bad_message", "--batch", "2",  NULL};
    size_t n = 0, got_killed, got = 0;
    int st, arrived = 0;
    long total;
    pid_t pid;
    json_t *o;
    char *out = NULL;
    (void)state;
    if (skipped)
        skip();
    make_job(&r, "rpl");
    for (int i = 0; i < N_KILL; i++) {
        snprintf(data, sizeof(data), "{\"elemnt\":\"r/%03d\"}", i); /* bad_message */
        snprintf(idx, sizeof(idx), "%03d", i);
        tmsg_set(&pub[n++], data, "n", idx, NULL);
    }
    for (int i = 0; i < N_OTHER; i++) {
        snprintf(data, sizeof(data), "r/../%02d", i); /* bad_element */
        tmsg_set(&pub[n++], data, NULL);
    }
    assert_int_equal(tcloud_publish_msgs(it.cloud, svc_it_topic("rpl"), pub, n), 0);
    run_until_dead(&r, N_KILL + N_OTHER);
    tmsg_cleanup(pub, n);
    assert_int_equal(drain("rpl-tap", orig_r, N_KILL + N_OTHER, N_KILL + N_OTHER),
                     N_KILL + N_OTHER);

    /* Kill it once it has replayed its first batch. */
    args[2] = r.cfg;
    pid = spawn(path_in_dir("kill.out"), path_in_dir("kill.err"), args);
    for (int k = 0; k < 20000; k++) {
        char *e = svc_test_read_file(path_in_dir("kill.err"), NULL);
        int started = e && strstr(e, "replayed ");
        free(e);
        if (started)
            break;
        svc_test_sleep(0.002);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st)); /* killed mid-way, not finished */
    got_killed =
        tcloud_pull(it.cloud, svc_it_sub("rpl-tap"), 2 * N_KILL, 3.0, seen, 2 * N_KILL + 16);
    printf("it_deadletters: replay SIGKILLed after %zu of %d were sent\n", got_killed, N_KILL);
    assert_true(got_killed > 0 && got_killed < N_KILL);

    /* Again, once the leases the killed run held have lapsed: 20 s, but a
     * pull it had in flight holds its messages for the subscription's ack
     * deadline (60 s as verify --create makes it). */
    svc_test_sleep(61);
    assert_int_equal(verb(r.cfg, &out, "--replay", "--reason", "bad_message", NULL), 0);
    printf("it_deadletters: rerun: %s", out);
    free(out);
    got = got_killed + tcloud_pull(it.cloud, svc_it_sub("rpl-tap"), 2 * N_KILL, 3.0,
                                   seen + got_killed, 2 * N_KILL + 16 - got_killed);
    for (int i = 0; i < N_KILL; i++) {
        const struct tmsg *a, *b;
        snprintf(data, sizeof(data), "{\"elemnt\":\"r/%03d\"}", i);
        a = find_payload(orig_r, N_KILL + N_OTHER, data);
        b = find_payload(seen, got, data);
        assert_non_null(a);
        if (!b)
            fprintf(stderr, "lost: %s\n", data);
        assert_non_null(b);
        assert_true(tmsg_same(a, b));
        arrived++;
    }
    printf("it_deadletters: all %d arrived (%zu deliveries: %zu duplicates)\n", arrived, got,
           got - N_KILL);
    tmsg_cleanup(seen, got);

    /* None left, none of the others lost. */
    o = summary(r.cfg, &total);
    assert_int_equal(reason_count(o, "bad_message"), 0);
    assert_int_equal(reason_count(o, "bad_element"), N_OTHER);
    assert_int_equal(total, N_OTHER);
    json_decref(o);
}

static void test_no_dead_letter_topic(void **state)
{
    struct svc_job_proc j;
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(
        svc_it_job(
            &it, &j, "nod",
            "{\"job\":\"nod\",\"events\":{\"subscription\":\"projects/p/subscriptions/nod\"},"
            "\"input\":{\"location\":\"gs://wbkt/n/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"gs://wbkt/n-out/\",\"suffix\":\".flac\"},"
            "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"format\":\"flac\"}}"),
        0);
    assert_int_equal(verb(j.cfg, NULL, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_of_real_dead_letters),
        cmocka_unit_test(test_replay_one_reason),
        cmocka_unit_test(test_replay_force_one),
        cmocka_unit_test(test_replay_killed_then_rerun),
        cmocka_unit_test(test_no_dead_letter_topic),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
