/* test_config.c: the job config loader (config/config.h): every default,
 * every error class with its exact file:line:col, ${VAR} substitution, and
 * every example under config/examples/. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#ifndef WIGGLY_EXAMPLES_DIR
#error "WIGGLY_EXAMPLES_DIR must point at config/examples"
#endif

/* Five lines; whatever a test appends starts on line 6. */
#define HEAD                                                                                       \
    "{\n"                                                                                          \
    "  \"job\": \"j1\",\n"                                                                         \
    "  \"events\": {\"file\": \"-\"},\n"                                                           \
    "  \"input\": {\"location\": \"file:///in\"},\n"                                               \
    "  \"output\": {\"location\": \"file:///out/\"}"

static struct cfg_job *load_ok(const char *text)
{
    struct cfg_job *job = NULL;
    struct cfg_error err;
    int rc = cfg_load_string(text, "t.json", &job, &err);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    assert_non_null(job);
    return job;
}

/* The position of the first character of the n-th (0-based) occurrence of
 * marker in text (ASCII text), as "line:col". */
static void pos_of(const char *text, const char *marker, int nth, char *out, size_t n)
{
    const char *p = text;
    for (int k = 0; k <= nth; k++) {
        p = strstr(k ? p + 1 : p, marker);
        assert_non_null(p);
    }
    int line = 1, col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, n, "%d:%d", line, col);
}

/* Expects code and a message "t.json:<where>: ...<needle>...". */
static void expect_err(const char *text, int code, const char *where, const char *needle)
{
    struct cfg_job *job = (struct cfg_job *)1;
    struct cfg_error err;
    char prefix[64];
    int rc = cfg_load_string(text, "t.json", &job, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s) for:\n%s", code, rc, rc ? err.msg : "ok", text);
    assert_null(job);
    assert_int_equal(err.code, code);
    snprintf(prefix, sizeof(prefix), "t.json:%s: ", where);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("expected prefix \"%s\", got \"%s\"", prefix, err.msg);
    if (!strstr(err.msg, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, err.msg);
}

/* Expects an error at the n-th occurrence of marker. */
static void expect_err_at(const char *text, const char *marker, int nth, const char *needle)
{
    char where[32];
    pos_of(text, marker, nth, where, sizeof(where));
    expect_err(text, CFG_EINVALID, where, needle);
}

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("TMPDIR");
    struct cfg_job *j = load_ok(HEAD "\n}\n");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    assert_string_equal(j->name, "j1");
    assert_null(j->project);
    assert_int_equal(j->events.kind, CFG_EVENTS_FILE);
    assert_string_equal(j->events.file, "-");
    assert_null(j->events.subscription);
    assert_string_equal(j->input.location, "file:///in/"); /* '/' appended */
    assert_string_equal(j->input.suffix, "");
    assert_string_equal(j->output.location, "file:///out/");
    assert_string_equal(j->output.suffix, "");
    assert_int_equal(j->n_output_topics, 0);
    assert_null(j->parent.name);
    assert_null(j->parent.topic);
    assert_null(j->dead_letter_topic);
    assert_int_equal(j->steps.channels, CFG_CH_KEEP);
    assert_int_equal(j->steps.rate, 0);
    assert_string_equal(j->steps.quality, "high");
    assert_string_equal(j->steps.format, "flac");
    assert_int_equal(j->steps.bits, 16);
    assert_true(j->steps.vbr_quality < 0);
    assert_int_equal(j->steps.bitrate_kbps, 0);
    assert_int_equal(j->features.enabled, 0);
    assert_string_equal(j->features.location, "file:///out/");
    assert_string_equal(j->features.suffix, ".json");
    assert_int_equal(j->runtime.workers, cores < 1 ? 1 : cores);
    assert_int_equal(j->runtime.max_in_flight, 2 * j->runtime.workers);
    assert_int_equal(j->runtime.ack_deadline_s, 60);
    assert_int_equal(j->runtime.max_attempts, 5);
    assert_int_equal(j->runtime.message_timeout_s, 600);
    assert_true(j->runtime.max_input_bytes == 2048ull * 1024 * 1024);
    assert_int_equal(j->runtime.max_duration_s, 14400);
    assert_int_equal(j->runtime.shutdown_grace_s, 100);
    assert_int_equal(j->runtime.max_visits, 3);
    assert_int_equal(j->runtime.max_audit, 32);
    assert_string_equal(j->runtime.temp_dir, "/tmp");
    assert_int_equal(j->force, 0);
    assert_int_equal(j->ping, 0);
    assert_string_equal(j->listen, "0.0.0.0:8080");
    cfg_job_destroy(j);

    setenv("TMPDIR", "/var/tmp", 1);
    j = load_ok(HEAD "\n}\n");
    assert_string_equal(j->runtime.temp_dir, "/var/tmp");
    cfg_job_destroy(j);
    unsetenv("TMPDIR");
    cfg_job_destroy(NULL);
}

static void test_every_key(void **state)
{
    (void)state;
    struct cfg_job *j = load_ok("{\"job\": \"down_16k-2\", \"project\": \"p1\",\n"
                                "\"events\": {\"subscription\": \"downsample\"},\n"
                                "\"input\": {\"location\": \"gs://my-bucket/a/b\", "
                                "\"suffix\": \".wav\"},\n"
                                "\"output\": {\"location\": \"gs://my.bucket.example/out/\", "
                                "\"suffix\": \".ogg\", \"topics\": [\"done-1\", "
                                "\"projects/other/topics/x~y+z%2e\"]},\n"
                                "\"parent\": {\"job\": \"transcode\", \"topic\": \"transcode\"},\n"
                                "\"dead_letter_topic\": \"projects/p1/topics/dead\",\n"
                                "\"steps\": {\"channels\": 1, \"rate\": 22050, \"quality\": "
                                "\"very-high\", \"format\": \"ogg\", \"bits\": 24, "
                                "\"vbr_quality\": 0.25, \"bitrate_kbps\": 128},\n"
                                "\"features\": {\"enabled\": true, \"suffix\": \".feat.json\"},\n"
                                "\"runtime\": {\"workers\": 3, \"max_in_flight\": 0, "
                                "\"ack_deadline_s\": 600, \"max_attempts\": 9, "
                                "\"message_timeout_s\": 30, \"max_input_mb\": 10, "
                                "\"max_duration_s\": 7200, "
                                "\"shutdown_grace_s\": 5, \"max_visits\": 2, \"max_audit\": 2, "
                                "\"temp_dir\": \"/scratch\"},\n"
                                "\"force\": true, \"ping\": true, \"listen\": \"[::1]:0\"}\n");
    assert_string_equal(j->name, "down_16k-2");
    assert_string_equal(j->project, "p1");
    assert_int_equal(j->events.kind, CFG_EVENTS_PUBSUB);
    assert_string_equal(j->events.subscription, "projects/p1/subscriptions/downsample");
    assert_string_equal(j->input.location, "gs://my-bucket/a/b/");
    assert_string_equal(j->input.suffix, ".wav");
    assert_string_equal(j->output.location, "gs://my.bucket.example/out/");
    assert_int_equal(j->n_output_topics, 2);
    assert_string_equal(j->output_topics[0], "projects/p1/topics/done-1");
    assert_string_equal(j->output_topics[1], "projects/other/topics/x~y+z%2e");
    assert_string_equal(j->parent.name, "transcode");
    assert_string_equal(j->parent.topic, "projects/p1/topics/transcode");
    assert_string_equal(j->dead_letter_topic, "projects/p1/topics/dead");
    assert_int_equal(j->steps.channels, CFG_CH_SELECT);
    assert_int_equal(j->steps.select_channel, 1);
    assert_int_equal(j->steps.rate, 22050);
    assert_string_equal(j->steps.quality, "very-high");
    assert_string_equal(j->steps.format, "ogg");
    assert_int_equal(j->steps.bits, 24);
    assert_true(j->steps.vbr_quality == 0.25);
    assert_int_equal(j->steps.bitrate_kbps, 128);
    assert_int_equal(j->features.enabled, 1);
    assert_string_equal(j->features.location, "gs://my.bucket.example/out/");
    assert_string_equal(j->features.suffix, ".feat.json");
    assert_int_equal(j->runtime.workers, 3);
    assert_int_equal(j->runtime.max_in_flight, 6);
    assert_int_equal(j->runtime.ack_deadline_s, 600);
    assert_int_equal(j->runtime.max_attempts, 9);
    assert_int_equal(j->runtime.message_timeout_s, 30);
    assert_true(j->runtime.max_input_bytes == 10ull * 1024 * 1024);
    assert_int_equal(j->runtime.max_duration_s, 7200);
    assert_int_equal(j->runtime.shutdown_grace_s, 5);
    assert_int_equal(j->runtime.max_visits, 2);
    assert_int_equal(j->runtime.max_audit, 2);
    assert_string_equal(j->runtime.temp_dir, "/scratch");
    assert_int_equal(j->force, 1);
    assert_int_equal(j->ping, 1);
    assert_string_equal(j->listen, "[::1]:0");
    cfg_job_destroy(j);

    j = load_ok(HEAD ",\n\"steps\": {\"channels\": \"mono\"}, \"listen\": \"\"}");
    assert_int_equal(j->steps.channels, CFG_CH_MONO);
    assert_string_equal(j->listen, "");
    cfg_job_destroy(j);
    j = load_ok(HEAD
                ",\n\"steps\": {\"channels\": \"stereo\", \"format\": \"wav\", \"bits\": 32}}");
    assert_int_equal(j->steps.channels, CFG_CH_STEREO);
    assert_int_equal(j->steps.bits, 32);
    cfg_job_destroy(j);
    j = load_ok(HEAD ",\n\"runtime\": {\"workers\": 5, \"max_in_flight\": 1}}");
    assert_int_equal(j->runtime.max_in_flight, 1);
    cfg_job_destroy(j);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* jansson's own positions: the column just past the offending token. */
    expect_err("{\n  \"job\": \"a\",\n}", CFG_ESYNTAX, "3:1", "string or '}' expected");
    expect_err("{\"job\": tru}", CFG_ESYNTAX, "1:11", "invalid token");
    expect_err("", CFG_ESYNTAX, "1:0", "");
    expect_err("{\"job\": \"a\",\n \"job\": \"b\"}", CFG_ESYNTAX, "2:6", "duplicate object key");
    expect_err("{\"job\": \"\\u0000\"}", CFG_ESYNTAX, "1:16", "\\u0000 is not allowed");
    expect_err("{\"job\": \"\xff\"}", CFG_ESYNTAX, "1:9", "unable to decode byte 0xff");
    expect_err("[1, 2]", CFG_EINVALID, "1:1", "a config must be a JSON object, not an array");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_err(HEAD ",\n  \"wokers\": 4\n}", CFG_EINVALID, "6:3", "unknown key \"wokers\"");
    expect_err(HEAD ",\n  \"runtime\": {\"workers\": 1, \"max_inflight\": 2}\n}", CFG_EINVALID,
               "6:29", "unknown key \"max_inflight\" in \"runtime\"");
    const char *t = HEAD ",\n\"steps\": {\n    \"rate\": 16000,\n    \"channel\": \"mono\"}}";
    expect_err(t, CFG_EINVALID, "8:5", "unknown key \"channel\" in \"steps\"");
    expect_err_at("{\"job\": \"a\", \"events\": {\"file\": \"-\", \"topic\": \"x\"}}", "\"topic\"",
                  0, "unknown key \"topic\" in \"events\"");
    /* Columns count characters, not bytes. */
    expect_err("{\"job\": \"\xc3\xa9\xc3\xa9\", \"x\": 1}", CFG_EINVALID, "1:15",
               "unknown key \"x\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_err(HEAD ",\n  \"runtime\": {\"workers\": \"x\"}\n}", CFG_EINVALID, "6:26",
               "\"runtime.workers\" must be an integer, not a string");
    const char *t;
    t = HEAD ",\n  \"runtime\": {\"workers\": 1.5}}";
    expect_err_at(t, "1.5", 0, "must be an integer, not a number with a fraction");
    t = HEAD ",\n  \"force\": \"yes\"}";
    expect_err_at(t, "\"yes\"", 0, "\"force\" must be true or false, not a string");
    t = HEAD ",\n  \"steps\": []}";
    expect_err_at(t, "[]", 0, "\"steps\" must be an object, not an array");
    t = HEAD ",\n  \"output\": 1}";
    expect_err(t, CFG_ESYNTAX, "6:10", "duplicate object key");
    t = "{\"job\": 7}";
    expect_err_at(t, "7", 0, "\"job\" must be a string, not an integer");
    t = "{\"job\": \"a\", \"events\": {\"file\": \"-\"}, \"input\": {\"location\": \"file:///a\"},"
        "\"output\": {\"location\": \"file:///b\", \"topics\": \"t\"}}";
    expect_err_at(t, "\"t\"", 0, "\"output.topics\" must be an array of topics, not a string");
    t = "{\"job\": \"a\", \"events\": {\"file\": \"-\"}, \"input\": {\"location\": \"file:///a\"},"
        "\"output\": {\"location\": \"file:///b\", \"topics\": [\"projects/p/topics/abc\", 5]}}";
    expect_err_at(t, "5]", 0, "\"output.topics[1]\" must be a string, not an integer");
    t = HEAD ",\n  \"steps\": {\"channels\": true}}";
    expect_err_at(t, "true", 0,
                  "\"steps.channels\" must be \"keep\", \"mono\", \"stereo\" or a "
                  "channel index, not a boolean");
    t = HEAD ",\n  \"steps\": {\"vbr_quality\": \"high\"}}";
    expect_err_at(t, "\"high\"", 0, "\"steps.vbr_quality\" must be a number, not a string");
    t = HEAD ",\n  \"parent\": null}";
    expect_err_at(t, "null", 0, "\"parent\" must be an object, not null");
}

static void test_missing_keys(void **state)
{
    (void)state;
    expect_err("{\n  \"events\": {\"file\": \"-\"}\n}", CFG_EINVALID, "1:1",
               "missing required key \"job\"");
    const char *t = "{\"job\": \"a\",\n \"events\": {\"file\": \"-\"},\n \"input\": {\"suffix\": "
                    "\".wav\"}}";
    expect_err(t, CFG_EINVALID, "3:11", "missing required key \"input.location\"");
    t = "{\"job\": \"a\", \"events\": {\"file\": \"-\"}, \"input\": {\"location\": \"file:///a\"}}";
    expect_err(t, CFG_EINVALID, "1:1", "missing required key \"output\"");
    t = HEAD ",\n  \"parent\": {\"job\": \"p\"}}";
    expect_err_at(t, "{\"job\": \"p\"}", 0, "missing required key \"parent.topic\"");
    t = "{\"job\": \"a\", \"events\": {}, \"input\": {\"location\": \"file:///a\"}}";
    expect_err_at(t, "{}", 0, "exactly one of \"subscription\" or \"file\"");
    t = "{\"job\": \"a\", \"events\": {\"file\": \"-\", \"subscription\": "
        "\"projects/p/subscriptions/"
        "abc\"}}";
    expect_err_at(t, "{\"file\"", 0, "exactly one of \"subscription\" or \"file\"");
}

static void test_bad_values(void **state)
{
    (void)state;
    const char *t;
#define ONE(extra, marker, needle)                                                                 \
    do {                                                                                           \
        t = HEAD ",\n  " extra "\n}";                                                              \
        expect_err_at(t, marker, 0, needle);                                                       \
    } while (0)
    ONE("\"dead_letter_topic\": \"projects/p/topics/ab\"", "\"projects/p/topics/ab\"",
        "name part must be 3 to 255 characters");
    ONE("\"dead_letter_topic\": \"projects/p/topics/goog-x\"", "\"projects",
        "must not start with \"goog\"");
    ONE("\"dead_letter_topic\": \"projects/p/topics/1abc\"", "\"projects",
        "must start with a letter");
    ONE("\"dead_letter_topic\": \"projects/p/topics/a b c\"", "\"projects",
        "may only contain letters, digits and -_.~+%");
    ONE("\"dead_letter_topic\": \"projects/p/subscriptions/abc\"", "\"projects",
        "must be projects/PROJECT/topics/NAME");
    ONE("\"dead_letter_topic\": \"projects//topics/abc\"", "\"projects",
        "must be projects/PROJECT/topics/NAME");
    ONE("\"dead_letter_topic\": \"dead\"", "\"dead\"", "(or set \"project\")");
    ONE("\"parent\": {\"job\": \"j1\", \"topic\": \"projects/p/topics/abc\"}", "\"j1\", \"topic\"",
        "must not be the job itself");
    ONE("\"parent\": {\"job\": \"a b\", \"topic\": \"projects/p/topics/abc\"}", "\"a b\"",
        "may only contain letters, digits, '-' and '_'");
    ONE("\"features\": {\"location\": \"s3:/bucket/x\"}", "\"s3:", "must start with gs://bucket/");
    ONE("\"features\": {\"location\": \"://bucket/x\"}", "\"://", "must start with gs://bucket/");
    ONE("\"features\": {\"location\": \"gs://abc/x/../y\"}", "\"gs:", "\"..\" segments");
    ONE("\"features\": {\"location\": \"file:///a//b\"}", "\"file:///a//", "empty");
    ONE("\"features\": {\"location\": \"file:///a?b\"}", "\"file:///a?", "'?' or '#'");
    ONE("\"features\": {\"suffix\": \"a/b\"}", "\"a/b\"", "without '/'");
    ONE("\"steps\": {\"rate\": 384001}", "384001",
        "\"steps.rate\" must be between 0 and 384000, got 384001");
    ONE("\"steps\": {\"rate\": -1}", "-1", "must be between 0 and 384000, got -1");
    ONE("\"steps\": {\"quality\": \"best\"}", "\"best\"",
        "\"steps.quality\" must be one of \"quick\", \"low\", \"medium\", \"high\", "
        "\"very-high\", got \"best\"");
    ONE("\"steps\": {\"format\": \"aac\"}", "\"aac\"", "\"steps.format\" must be one of");
    ONE("\"steps\": {\"channels\": \"surround\"}", "\"surround\"",
        "\"steps.channels\" must be one");
    ONE("\"steps\": {\"channels\": -1}", "-1", "must be between 0 and 255");
    ONE("\"steps\": {\"bits\": 8}", "8", "\"steps.bits\" must be 16, 24 or 32, got 8");
    ONE("\"steps\": {\"bits\": 32}", "32", "32 (float) needs format \"wav\", not \"flac\"");
    ONE("\"steps\": {\"vbr_quality\": 1.5}", "1.5", "between 0 and 1, got 1.5");
    ONE("\"steps\": {\"bitrate_kbps\": 1000}", "1000", "between 8 and 320");
    ONE("\"steps\": {\"format\": \"opus\", \"rate\": 44100}", "44100", "not an Opus rate");
    ONE("\"steps\": {\"format\": \"mp3\", \"rate\": 96000}", "96000", "not an MP3 rate");
    ONE("\"runtime\": {\"ack_deadline_s\": 9}", "9",
        "\"runtime.ack_deadline_s\" must be between 10 and 600, got 9");
    ONE("\"runtime\": {\"ack_deadline_s\": 601}", "601", "between 10 and 600");
    ONE("\"runtime\": {\"workers\": -1}", "-1", "between 0 and 1024");
    ONE("\"runtime\": {\"max_attempts\": 0}", "0", "between 1 and 1000");
    ONE("\"runtime\": {\"message_timeout_s\": 0}", "0", "between 1 and 86400");
    ONE("\"runtime\": {\"max_input_mb\": 0}", "0", "between 1 and 1048576");
    ONE("\"runtime\": {\"max_duration_s\": 0}", "0", "between 1 and 604800");
    ONE("\"runtime\": {\"shutdown_grace_s\": 0}", "0", "between 1 and 3600");
    ONE("\"runtime\": {\"max_visits\": 0}", "0", "between 1 and 1000");
    ONE("\"runtime\": {\"max_audit\": 257}", "257", "between 1 and 256");
    ONE("\"runtime\": {\"max_visits\": 5, \"max_audit\": 4}", "4}",
        "\"runtime.max_audit\" (4) must be at least \"runtime.max_visits\" (5)");
    ONE("\"runtime\": {\"max_visits\": 40}", "40", "must be at least");
    ONE("\"runtime\": {\"temp_dir\": \"tmp\"}", "\"tmp\"", "must be an absolute path");
    ONE("\"runtime\": {\"workers\": 99999999999}", "99999999999", "between 0 and 1024");
    ONE("\"listen\": \"8080\"", "\"8080\"", "must be \"host:port\"");
    ONE("\"listen\": \"h:80x\"", "\"h:80x\"", "port must be a number");
    ONE("\"listen\": \"h:65536\"", "\"h:65536\"", "port must be 0 to 65535");
    ONE("\"project\": \"a/b\"", "\"a/b\"", "\"project\" must be a non-empty project ID");
    ONE("\"features\": {\"enabled\": true, \"suffix\": \"\"}", "{\"enabled",
        "\"features\" has the same location and suffix as \"output\"");
#undef ONE
    /* config/ checks only the syntax every scheme shares: which schemes
     * exist and their own rules (GCS bucket names, file:// absolute paths)
     * are the storage schemes', checked when a job starts. These were
     * refused here; they load now, and tests/test_service_storage.c
     * test_check_location asserts the message each gets from its scheme. */
    {
        static const char *const scheme_rules[] = {
            "s3://bucket/x",   "gs://Bucket/x", "gs://ab/x",      "gs://-abc/x",
            "gs://google-x/x", "gs://a..b/x",   "file://rel/dir",
        };
        for (size_t k = 0; k < sizeof(scheme_rules) / sizeof(scheme_rules[0]); k++) {
            char text[512];
            struct cfg_job *j;
            snprintf(text, sizeof(text), HEAD ",\n  \"features\": {\"location\": \"%s\"}\n}",
                     scheme_rules[k]);
            j = load_ok(text);
            assert_int_equal(
                strncmp(j->features.location, scheme_rules[k], strlen(scheme_rules[k])), 0);
            cfg_job_destroy(j);
        }
    }
    t = "{\"job\": \"a\", \"events\": {\"file\": \"-\"}, \"input\": {\"location\": "
        "\"gs://bkt/x/\"},\n\"output\": {\"location\": \"gs://bkt/x\"}}";
    expect_err(t, CFG_EINVALID, "2:24",
               "\"output\" has the same location and suffix as \"input\": the job would "
               "overwrite its input");
    /* Same location with another suffix, or features off, is fine. */
    struct cfg_job *j = load_ok("{\"job\": \"a\", \"events\": {\"file\": \"-\"}, "
                                "\"input\": {\"location\": \"gs://bkt/x/\", \"suffix\": "
                                "\".wav\"}, \"output\": {\"location\": \"gs://bkt/x\", "
                                "\"suffix\": \".json\"}, \"features\": {\"enabled\": false}}");
    cfg_job_destroy(j);
    t = "{\"job\": \"\"}";
    expect_err_at(t, "\"\"", 0, "\"job\" must be 1 to 63 characters, got 0");
    t = "{\"job\": \"a\", \"events\": {\"file\": \"\"}}";
    expect_err_at(t, "\"\"", 0, "\"events.file\" must not be empty");
    t = "{\"job\": \"a\", \"events\": {\"subscription\": \"sub\"}}";
    expect_err_at(t, "\"sub\"", 0, "must be projects/PROJECT/subscriptions/NAME");
}

static void test_env_substitution(void **state)
{
    (void)state;
    setenv("WIGGLY_T_DIR", "/data/x", 1);
    setenv("WIGGLY_T_EMPTY", "", 1);
    unsetenv("WIGGLY_T_UNSET");
    struct cfg_job *j = load_ok(HEAD ",\n\"project\": \"${WIGGLY_T_UNSET:-proj-1}\","
                                     "\"features\": {\"location\": \"file://${WIGGLY_T_DIR}/f\"},"
                                     "\"runtime\": {\"temp_dir\": \"${WIGGLY_T_EMPTY:-/t}/${"
                                     "WIGGLY_T_EMPTY}x\"},"
                                     "\"listen\": \"$HOME:${WIGGLY_T_UNSET:-99}\"}");
    assert_string_equal(j->project, "proj-1");
    assert_string_equal(j->features.location, "file:///data/x/f/");
    assert_string_equal(j->runtime.temp_dir, "/t/x");
    assert_string_equal(j->listen, "$HOME:99"); /* '$' without '{' is literal */
    cfg_job_destroy(j);

    const char *t = HEAD ",\n  \"project\": \"${WIGGLY_T_UNSET}\"}";
    expect_err(t, CFG_EINVALID, "6:14",
               "\"project\": environment variable WIGGLY_T_UNSET is not set");
    t = HEAD ",\n  \"project\": \"${WIGGLY_T_DIR\"}";
    expect_err_at(t, "\"${", 0, "unterminated ${");
    t = HEAD ",\n  \"project\": \"${1X}\"}";
    expect_err_at(t, "\"${", 0, "bad variable name in \"${1X}\"");
    t = HEAD ",\n  \"project\": \"${}\"}";
    expect_err_at(t, "\"${", 0, "bad variable name");
    /* Substituted values are validated like literal ones. */
    setenv("WIGGLY_T_BAD", "not a location", 1);
    t = HEAD ",\n  \"features\": {\"location\": \"${WIGGLY_T_BAD}\"}}";
    expect_err_at(t, "\"${", 0, "\"not a location\" must start with gs://bucket/");
    setenv("WIGGLY_T_BAD", "\xff", 1);
    t = HEAD ",\n  \"project\": \"${WIGGLY_T_BAD}\"}";
    expect_err_at(t, "\"${", 0, "not valid UTF-8 after substitution");
    unsetenv("WIGGLY_T_BAD");
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/wiggly-test-config-XXXXXX";
    char path[128];
    struct cfg_job *j = NULL;
    struct cfg_error err;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/job.json", dir);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n"
          "  \"job\": \"file-job\",\n"
          "  \"events\": {\"file\": \"ids.txt\"},\n"
          "  \"input\": {\"location\": \"file:///in/\"},\n"
          "  \"output\": {\"location\": \"file:///out/\"},\n"
          "  \"runtime\": {\n"
          "    \"workers\": 2,\n"
          "    \"ack_deadline_s\": 5\n"
          "  }\n"
          "}\n",
          f);
    fclose(f);
    assert_int_equal(cfg_load(path, &j, &err), CFG_EINVALID);
    assert_null(j);
    char want[256];
    snprintf(want, sizeof(want),
             "%s:8:23: \"runtime.ack_deadline_s\" must be between 10 and 600, got 5", path);
    assert_string_equal(err.msg, want);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"job\": \"file-job\", \"events\": {\"file\": \"ids.txt\"},\n"
          " \"input\": {\"location\": \"file:///in/\"}, \"output\": {\"location\": \"file:///o\"}}",
          f);
    fclose(f);
    assert_int_equal(cfg_load(path, &j, &err), 0);
    assert_string_equal(j->events.file, "ids.txt");
    assert_string_equal(j->output.location, "file:///o/");
    cfg_job_destroy(j);

    /* One crafted file per error class, with the whole message asserted. */
    static const struct {
        const char *text;
        int code;
        const char *msg; /* after "path:" */
    } cases[] = {
        {"{\n  \"job\": \"a\"\n  \"events\": {}\n}\n", CFG_ESYNTAX,
         "3:10: '}' expected near '\"events\"'"},
        {"{\n  \"job\": \"a\",\n  \"evnets\": {}\n}\n", CFG_EINVALID,
         "3:3: unknown key \"evnets\""},
        {"{\n  \"job\": [\"a\"]\n}\n", CFG_EINVALID,
         "2:10: \"job\" must be a string, not an array"},
        {"{\"job\": \"a\",\n \"events\": {\"file\": \"-\"},\n \"input\": {}}", CFG_EINVALID,
         "3:11: missing required key \"input.location\""},
        /* "gs://x/" (bucket name must be 3 to 63 characters) moved to
         * test_service_storage.c test_check_location, with the service's
         * text for it; a location's generic syntax is still config's. */
        {"{\"job\": \"a\",\n \"events\": {\"file\": \"-\"},\n \"input\": {\"location\": "
         "\"gs://x/a//b\"}}",
         CFG_EINVALID,
         "3:24: \"input.location\": \"gs://x/a//b\" path must not contain empty, \".\" or "
         "\"..\" segments"},
        {"{\"job\": \"a\",\n \"events\": {\"file\": \"${WIGGLY_T_NOPE}\"}}", CFG_EINVALID,
         "2:21: \"events.file\": environment variable WIGGLY_T_NOPE is not set (use "
         "${WIGGLY_T_NOPE:-default})"},
    };
    unsetenv("WIGGLY_T_NOPE");
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(cases[k].text, f);
        fclose(f);
        assert_int_equal(cfg_load(path, &j, &err), cases[k].code);
        assert_null(j);
        snprintf(want, sizeof(want), "%s:%s", path, cases[k].msg);
        assert_string_equal(err.msg, want);
    }
    unlink(path);

    assert_int_equal(cfg_load(path, &j, &err), CFG_EIO);
    assert_null(j);
    assert_non_null(strstr(err.msg, "cannot open: No such file or directory"));
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
    assert_int_equal(cfg_load(dir, &j, &err), CFG_EIO); /* a directory */
    assert_non_null(strstr(err.msg, dir));
    assert_int_equal(cfg_load(NULL, &j, &err), CFG_EIO);
    rmdir(dir);

    /* Size cap before parsing. */
    size_t big = 1024 * 1024 + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    text[big] = '\0';
    assert_int_equal(cfg_load_string(text, "big.json", &j, &err), CFG_EINVALID);
    assert_string_equal(err.msg, "big.json: config larger than 1048576 bytes");
    free(text);

    assert_string_equal(cfg_strerror(CFG_EINVALID), "invalid config");
    assert_string_equal(cfg_strerror(CFG_ESYNTAX), "config is not valid JSON");
    assert_string_equal(cfg_errname(CFG_ESYNTAX), "CFG_ESYNTAX");
    assert_string_equal(cfg_errname(1), "CFG_UNKNOWN");
}

static void test_examples(void **state)
{
    (void)state;
    setenv("GOOGLE_CLOUD_PROJECT", "my-proj", 1);
    setenv("BUCKET", "my-bucket", 1);
    unsetenv("WIGGLY_DEMO_DIR");
    unsetenv("PUBSUB_PROJECT_ID");
    DIR *d = opendir(WIGGLY_EXAMPLES_DIR);
    assert_non_null(d);
    struct dirent *e;
    int n = 0, seen_local = 0, seen_gke = 0, seen_pair = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[1024];
        struct cfg_job *j = NULL;
        struct cfg_error err;
        snprintf(path, sizeof(path), "%s/%s", WIGGLY_EXAMPLES_DIR, e->d_name);
        if (cfg_load(path, &j, &err) != 0)
            fail_msg("example %s: %s", e->d_name, err.msg);
        n++;
        if (strcmp(e->d_name, "local-batch.json") == 0) {
            seen_local = 1;
            assert_int_equal(j->events.kind, CFG_EVENTS_FILE);
            assert_string_equal(j->events.file, "/tmp/wiggly-demo/ids.txt");
            assert_string_equal(j->input.location, "file:///tmp/wiggly-demo/in/");
            assert_string_equal(j->output.location, "file:///tmp/wiggly-demo/out/");
            assert_int_equal(j->steps.rate, 16000);
            assert_int_equal(j->steps.channels, CFG_CH_MONO);
            assert_string_equal(j->steps.format, "flac");
            assert_true(j->features.enabled);
        } else if (strcmp(e->d_name, "gke-downsample-16k.json") == 0) {
            seen_gke = 1;
            assert_string_equal(j->events.subscription,
                                "projects/my-proj/subscriptions/downsample-16k");
            assert_string_equal(j->input.location, "gs://my-bucket/transcoded/");
            assert_string_equal(j->parent.topic, "projects/my-proj/topics/transcode");
        } else if (strcmp(e->d_name, "emulator-downsample.json") == 0) {
            seen_pair++;
            assert_string_equal(j->parent.name, "transcode");
            assert_string_equal(j->parent.topic, "projects/wiggly-local/topics/transcode");
        } else if (strcmp(e->d_name, "emulator-transcode.json") == 0) {
            seen_pair++;
            assert_string_equal(j->events.subscription,
                                "projects/wiggly-local/subscriptions/transcode");
            assert_int_equal(j->n_output_topics, 1);
        }
        cfg_job_destroy(j);
    }
    closedir(d);
    assert_true(n >= 4);
    assert_true(seen_local && seen_gke && seen_pair == 2);

    /* The demo directory variable moves every local path. */
    setenv("WIGGLY_DEMO_DIR", "/srv/demo", 1);
    struct cfg_job *j = NULL;
    struct cfg_error err;
    assert_int_equal(cfg_load(WIGGLY_EXAMPLES_DIR "/local-batch.json", &j, &err), 0);
    assert_string_equal(j->input.location, "file:///srv/demo/in/");
    cfg_job_destroy(j);
    unsetenv("WIGGLY_DEMO_DIR");

    /* Without ${BUCKET} the GKE example names the variable and its place. */
    unsetenv("BUCKET");
    assert_int_equal(cfg_load(WIGGLY_EXAMPLES_DIR "/gke-downsample-16k.json", &j, &err),
                     CFG_EINVALID);
    assert_non_null(strstr(err.msg, "gke-downsample-16k.json:5:25: \"input.location\": "
                                    "environment variable BUCKET is not set"));
}

static uint32_t rng_next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Deterministic mutations of a full config: each load either succeeds or
 * fails with "t.json:LINE:COL: " inside the text, never crashes or leaks. */
static void test_mutations(void **state)
{
    (void)state;
    static const char seed[] =
        "{\"job\": \"j\", \"project\": \"p1\",\n"
        " \"events\": {\"subscription\": \"projects/p1/subscriptions/sub\"},\n"
        " \"input\": {\"location\": \"gs://bkt/in/\", \"suffix\": \".wav\"},\n"
        " \"output\": {\"location\": \"file:///out\", \"topics\": [\"done\", \"more\"]},\n"
        " \"parent\": {\"job\": \"up\", \"topic\": \"upper\"},\n"
        " \"steps\": {\"channels\": 0, \"rate\": 16000, \"vbr_quality\": 0.5},\n"
        " \"features\": {\"enabled\": true},\n"
        " \"runtime\": {\"workers\": 2, \"temp_dir\": \"${TMPDIR:-/tmp}\"},\n"
        " \"listen\": \":0\"}\n";
    static const char noise[] = "{}[]\":,\\0a -1\n$\xc3";
    uint32_t rng = 0x2545f491u;
    int ok = 0, failed = 0;
    struct cfg_job *j = load_ok(seed);
    cfg_job_destroy(j);
    for (int iter = 0; iter < 5000; iter++) {
        char buf[1024];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)(rng_next(&rng) % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rng_next(&rng) % len;
            switch (rng_next(&rng) % 3) {
            case 0:
                buf[at] = noise[rng_next(&rng) % (sizeof(noise) - 1)];
                break;
            case 1:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            default:
                if (len < sizeof(buf) - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = noise[rng_next(&rng) % (sizeof(noise) - 1)];
                    len++;
                }
                break;
            }
        }
        struct cfg_error err;
        j = NULL;
        int rc = cfg_load_buffer(buf, len, "t.json", &j, &err);
        if (rc == 0) {
            assert_non_null(j);
            cfg_job_destroy(j);
            ok++;
            continue;
        }
        failed++;
        assert_null(j);
        int line = 0, col = 0;
        if (sscanf(err.msg, "t.json:%d:%d: ", &line, &col) != 2)
            fail_msg("no position in \"%s\"", err.msg);
        int lines = 1;
        for (size_t k = 0; k < len; k++)
            lines += buf[k] == '\n';
        assert_true(line >= 1 && line <= lines);
        assert_true(col >= 0 && (size_t)col <= len + 1);
    }
    assert_true(ok > 100);
    assert_true(failed > 1000);
}

/* analysis: defaults (librosa's), and every rejection at its key or value. */
static void test_analysis(void **state)
{
    (void)state;
    struct cfg_job *job =
        load_ok(HEAD ",\n  \"steps\": {\"rate\": 16000},\n"
                     "  \"analysis\": {\"arrays\": {\"logmel\": {\"kind\": \"mel\", "
                     "\"n_fft\": 1024, \"hop\": 256, \"db\": true}, \"m\": {\"kind\": "
                     "\"mfcc\", \"suffix\": \".m.npy\", \"mel_scale\": \"htk\", \"norm\": "
                     "\"none\", \"fmax\": 8000}}}\n}");
    assert_string_equal(job->analysis.location, "file:///out/");
    assert_int_equal(job->analysis.n_arrays, 2);
    const struct cfg_array *a = &job->analysis.arrays[0], *m = &job->analysis.arrays[1];
    assert_string_equal(a->name, "logmel");
    assert_string_equal(a->suffix, ".logmel.npy");
    assert_int_equal(a->kind, CFG_ARRAY_MEL);
    assert_int_equal(a->n_fft, 1024);
    assert_int_equal(a->hop, 256);
    assert_true(a->center && a->db && a->slaney_norm && !a->htk);
    assert_true(a->power == 2 && a->top_db == 80 && a->fmin == 0 && a->fmax == 0);
    assert_int_equal(a->n_mels, 128);
    assert_int_equal(m->kind, CFG_ARRAY_MFCC);
    assert_string_equal(m->suffix, ".m.npy");
    assert_int_equal(m->n_fft, 2048);
    assert_int_equal(m->hop, 512);
    assert_int_equal(m->n_mfcc, 20);
    assert_true(m->htk && !m->slaney_norm && m->fmax == 8000);
    cfg_job_destroy(job);

    const char *t;
#define AN(arrays, marker, nth, want)                                                              \
    do {                                                                                           \
        t = HEAD ",\n  \"steps\": {\"rate\": 16000},\n  \"analysis\": {\"arrays\": " arrays        \
                 "}\n}";                                                                           \
        char where_[32], full_[600];                                                               \
        struct cfg_job *job_ = NULL;                                                               \
        struct cfg_error err_;                                                                     \
        pos_of(t, marker, nth, where_, sizeof(where_));                                            \
        snprintf(full_, sizeof(full_), "t.json:%s: %s", where_, want);                             \
        assert_int_equal(cfg_load_string(t, "t.json", &job_, &err_), CFG_EINVALID);                \
        assert_null(job_);                                                                         \
        assert_string_equal(err_.msg, full_);                                                      \
    } while (0)
    AN("{\"x\": {\"kind\": \"mel\", \"n_fft\": 1000, \"hop\": 0}}", "0}}", 0,
       "\"analysis.arrays.x.hop\" must be between 1 and 65536, got 0");
    AN("{\"x\": {\"kind\": \"mel\", \"n_fft\": 1001}}", "1001", 0,
       "\"analysis.arrays.x.n_fft\" must be even (KISS FFT's real transform), got 1001");
    AN("{\"x\": {\"kind\": \"mel\", \"n_fft\": 8}}", "8}", 0,
       "\"analysis.arrays.x.n_fft\" must be between 16 and 65536, got 8");
    AN("{\"x\": {\"kind\": \"stft\", \"n_fft\": 512, \"hop\": 513}}", "513", 0,
       "\"analysis.arrays.x.hop\" must be at most n_fft (512), got 513");
    AN("{\"x\": {\"kind\": \"mel\", \"fmax\": 8000.5}}", "8000.5", 0,
       "\"analysis.arrays.x.fmax\" 8000.5 Hz is above the Nyquist frequency of \"steps.rate\" "
       "16000 (8000 Hz)");
    AN("{\"x\": {\"kind\": \"mel\", \"fmin\": 9000}}", "9000", 0,
       "\"analysis.arrays.x.fmin\" 9000 Hz must be below fmax (8000 Hz)");
    AN("{\"x\": {\"kind\": \"mel\", \"n_mels\": 0}}", "0}}", 0,
       "\"analysis.arrays.x.n_mels\" must be between 1 and 1024, got 0");
    AN("{\"x\": {\"kind\": \"mfcc\", \"n_mels\": 13, \"n_mfcc\": 14}}", "14", 0,
       "\"analysis.arrays.x.n_mfcc\" must be at most n_mels (13), got 14");
    AN("{\"x\": {\"kind\": \"stft\", \"n_mels\": 64}}", "\"n_mels", 0,
       "\"analysis.arrays.x.n_mels\" does not apply to kind \"stft\"");
    AN("{\"x\": {\"kind\": \"mfcc\", \"power\": 1}}", "\"power", 0,
       "\"analysis.arrays.x.power\" does not apply to kind \"mfcc\"");
    AN("{\"x\": {\"kind\": \"stft\", \"power\": 0}}", "0}}", 0,
       "\"analysis.arrays.x.power\" must be above 0 and at most 4, got 0");
    AN("{\"x\": {\"kind\": \"cqt\"}}", "\"cqt", 0,
       "\"analysis.arrays.x.kind\" must be one of \"stft\", \"mel\", \"mfcc\", got \"cqt\"");
    AN("{\"x\": {\"n_fft\": 512}}", "{\"n_fft", 0,
       "missing required key \"analysis.arrays.x.kind\" (stft, mel or mfcc)");
    AN("{\"x\": {\"kind\": \"mel\", \"win\": \"hamming\"}}", "\"hamming", 0,
       "\"analysis.arrays.x.win\" must be one of \"hann\", got \"hamming\"");
    AN("{\"x\": {\"kind\": \"mel\", \"hop_length\": 5}}", "\"hop_length", 0,
       "unknown key \"hop_length\" in \"analysis.arrays.x\"");
    AN("{\"a\": {\"kind\": \"mel\"}, \"b\": {\"kind\": \"stft\", \"suffix\": \".a.npy\"}}",
       "{\"kind\": \"stft", 0, "\"analysis.arrays.b\" has the same suffix as \"a\"");
    AN("{\"a b\": {\"kind\": \"mel\"}}", "\"a b", 0,
       "\"analysis.arrays.a b\": an array name must be 1 to 64 letters, digits, '_' or '-'");
    AN("{}", "{}", 0, "\"analysis.arrays\" must name 1 to 7 arrays");
    AN("{\"a\": {\"kind\": \"mel\", \"suffix\": \"\"}}", "\"\"}", 0,
       "\"analysis.arrays.a.suffix\" must not be empty");
    /* Eight outputs at most: features + 7 arrays + audio is nine. */
    t = HEAD ",\n  \"features\": {\"enabled\": true},\n  \"analysis\": {\"arrays\": "
             "{\"a\": {\"kind\": \"mel\"}, \"b\": {\"kind\": \"mel\"}, \"c\": {\"kind\": \"mel\"}, "
             "\"d\": {\"kind\": \"mel\"}, \"e\": {\"kind\": \"mel\"}, \"f\": {\"kind\": \"mel\"}, "
             "\"g\": {\"kind\": \"mel\"}}}\n}";
    expect_err_at(t, "{\"a\"", 0,
                  "too many outputs per track: 9 (features 1, analysis arrays 7, onsets 0, plot 0, "
                  "transform outputs 0, audio 1), at most 8");
    /* Without steps.rate, fmax is checked when the track's rate is known. */
    job = load_ok(HEAD ",\n  \"analysis\": {\"arrays\": {\"a\": {\"kind\": \"mel\", \"fmax\": "
                       "30000}}}\n}");
    cfg_job_destroy(job);
    /* An array over the audio output. */
    t = "{\"job\": \"j\", \"events\": {\"file\": \"-\"}, \"input\": {\"location\": "
        "\"file:///in\"},\n"
        "\"output\": {\"location\": \"file:///out/\", \"suffix\": \".npy\"},\n"
        "\"analysis\": {\"arrays\": {\"a\": {\"kind\": \"mel\", \"suffix\": \".npy\"}}}}";
    expect_err_at(t, "{\"kind", 0,
                  "\"analysis.arrays.a\" has the same location and suffix as \"output\"");
#undef AN
}

/* Fingerprint, tempo, onsets and the picture (docs/analysis.md). */
static void test_analysis2(void **state)
{
    (void)state;
    struct cfg_job *job = load_ok(
        HEAD ",\n  \"features\": {\"enabled\": true, \"fingerprint\": {\"seconds\": 30}, "
             "\"tempo\": true, \"onsets\": {\"method\": \"hfc\", \"suffix\": \".on.npy\"}},\n"
             "  \"analysis\": {\"plot\": {\"n_mels\": 64, \"colormap\": \"viridis\"}}\n}");
    assert_true(job->features.fingerprint.enabled && job->features.fingerprint.seconds == 30);
    assert_true(job->features.tempo.enabled && !job->features.tempo.method);
    assert_string_equal(job->features.onsets.method, "hfc");
    assert_string_equal(job->features.onsets.suffix, ".on.npy");
    assert_true(job->analysis.plot.enabled && job->analysis.n_arrays == 0);
    assert_string_equal(job->analysis.plot.suffix, ".png");
    assert_int_equal(job->analysis.plot.n_mels, 64);
    assert_int_equal(job->analysis.plot.n_fft, 2048);
    assert_int_equal(job->analysis.plot.hop, 512);
    assert_int_equal(job->analysis.plot.width_max, 1024);
    assert_string_equal(job->analysis.plot.colormap, "viridis");
    cfg_job_destroy(job);
    const char *t;
#define FE(features, marker, want)                                                                 \
    do {                                                                                           \
        t = HEAD ",\n  \"steps\": {\"rate\": 16000},\n  \"features\": " features "\n}";            \
        expect_err_at(t, marker, 0, want);                                                         \
    } while (0)
    FE("{\"tempo\": true}", "true}",
       "\"features.tempo\" goes into the features JSON: it needs \"features.enabled\": true");
    FE("{\"enabled\": true, \"fingerprint\": 1}", "1}",
       "\"features.fingerprint\" must be true, false or an object, not an integer");
    FE("{\"enabled\": true, \"fingerprint\": {\"length\": 3}}", "\"length",
       "unknown key \"length\" in \"features.fingerprint\"");
    FE("{\"enabled\": true, \"onsets\": {\"method\": \"fast\"}}", "\"fast",
       "\"features.onsets.method\" must be one of \"default\", \"energy\", \"hfc\", "
       "\"complex\", \"phase\", \"specdiff\", \"kl\", \"mkl\", \"specflux\", got \"fast\"");
    FE("{\"enabled\": true, \"tempo\": {\"buf\": 512, \"hop\": 1024}}", "1024",
       "\"features.tempo.hop\" must be at most buf (512), got 1024");
    FE("{\"enabled\": true, \"onsets\": {\"hop\": 0}}", "0}}",
       "\"features.onsets.hop\" must be between 1 and 65536, got 0");
    FE("{\"enabled\": true, \"onsets\": {\"suffix\": \".json\"}}", "\".json",
       "\"features.onsets.suffix\" has the same location and suffix as \"features\"");
#define PL(plot, marker, want)                                                                     \
    do {                                                                                           \
        t = HEAD ",\n  \"steps\": {\"rate\": 16000},\n  \"analysis\": {\"plot\": " plot "}\n}";    \
        expect_err_at(t, marker, 0, want);                                                         \
    } while (0)
    PL("{\"n_fft\": 1001}", "1001",
       "\"analysis.plot.n_fft\" must be even (KISS FFT's real transform), got 1001");
    PL("{\"hop\": 0}", "0}}", "\"analysis.plot.hop\" must be between 1 and 65536, got 0");
    PL("{\"fmax\": 9000}", "9000",
       "\"analysis.plot.fmax\" 9000 Hz is above the Nyquist frequency of \"steps.rate\" 16000 "
       "(8000 Hz)");
    PL("{\"width_max\": 5000}", "5000",
       "\"analysis.plot.width_max\" must be between 1 and 4096, got 5000");
    PL("{\"colormap\": \"jet\"}", "\"jet",
       "\"analysis.plot.colormap\" must be one of \"magma\", \"viridis\", got \"jet\"");
    PL("{\"top_db\": 0}", "0}}",
       "\"analysis.plot.top_db\" must be above 0 and at most 1000, got 0");
    PL("{\"suffix\": \"\"}", "\"\"}", "\"analysis.plot.suffix\" must not be empty");
    /* The picture and the onsets count: features + 6 arrays + plot + audio is nine. */
    t = HEAD
        ",\n  \"features\": {\"enabled\": true},\n  \"analysis\": {\"plot\": {}, \"arrays\": "
        "{\"a\": {\"kind\": \"mel\"}, \"b\": {\"kind\": \"mel\"}, \"c\": {\"kind\": \"mel\"}, "
        "\"d\": {\"kind\": \"mel\"}, \"e\": {\"kind\": \"mel\"}, \"f\": {\"kind\": \"mel\"}}}\n}";
    expect_err_at(t, "{\"a\"", 0,
                  "too many outputs per track: 9 (features 1, analysis arrays 6, onsets 0, plot 1, "
                  "transform outputs 0, audio 1), at most 8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),   cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_bad_values),    cmocka_unit_test(test_env_substitution),
        cmocka_unit_test(test_load_file),     cmocka_unit_test(test_examples),
        cmocka_unit_test(test_mutations),     cmocka_unit_test(test_analysis),
        cmocka_unit_test(test_analysis2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
