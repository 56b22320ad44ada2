/* test_service_error.c: the error tables and the one conversion edge
 * (service/svc_error.h, gcp/error.h, audio/audio.h): generated names and
 * texts, transience, the dead-letter reasons, and the decisions the edge
 * makes (401/403 transient for the service, a missing bucket never a
 * missing object, audio reasons). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "audio/audio.h"
#include "gcp/error.h"
#include "service/svc_error.h"

static void test_tables(void **state)
{
    (void)state;
    assert_string_equal(svc_errname(SVC_ENOBUCKET), "SVC_ENOBUCKET");
    assert_string_equal(svc_strerror(SVC_ENOBUCKET), "bucket does not exist");
    assert_string_equal(svc_errname(-1), "SVC_UNKNOWN");
    assert_true(svc_error_is_transient(SVC_ETRANSIENT));
    assert_false(svc_error_is_transient(SVC_EREMOTE));
    assert_string_equal(gcp_errname(GCP_ENOBUCKET), "GCP_ENOBUCKET");
    assert_string_equal(gcp_strerror(GCP_EPERM), "permission denied");
    assert_true(gcp_error_is_transient(GCP_EUNAVAILABLE));
    assert_false(gcp_error_is_transient(GCP_EPERM));
    assert_string_equal(audio_errname(AUDIO_EEMPTY), "AUDIO_EEMPTY");
    /* Every reason has a name and a text; names are distinct. */
    for (int r = SVC_R_BAD_MESSAGE; r <= SVC_R_MISSING; r++) {
        assert_true(svc_reason_name((enum svc_reason)r)[0] != 0);
        assert_true(svc_reason_text((enum svc_reason)r)[0] != 0);
        for (int q = SVC_R_BAD_MESSAGE; q < r; q++)
            assert_string_not_equal(svc_reason_name((enum svc_reason)r),
                                    svc_reason_name((enum svc_reason)q));
    }
    assert_string_equal(svc_reason_name(SVC_R_MAX_ATTEMPTS), "max_attempts");
    assert_string_equal(svc_reason_name(SVC_R_NONE), "");
}

static int from_gcp(int code, const char *msg, char *text, size_t n)
{
    struct gcp_error g = {.code = code};
    struct svc_error e = {0};
    int rc;
    strncpy(g.msg, msg, sizeof(g.msg) - 1);
    rc = svc_error_from_gcp(&e, &g);
    assert_int_equal(rc, e.code);
    strncpy(text, e.msg, n - 1);
    text[n - 1] = 0;
    return rc;
}

static void test_gcp_edge(void **state)
{
    char t[256];
    (void)state;
    /* 401 and 403: an operator fixes a role; the message is retried. */
    assert_int_equal(from_gcp(GCP_EPERM, "GET x: HTTP 403", t, sizeof t), SVC_ETRANSIENT);
    assert_string_equal(t, "permission denied: GET x: HTTP 403");
    assert_int_equal(from_gcp(GCP_EAUTH, "", t, sizeof t), SVC_ETRANSIENT);
    assert_string_equal(t, "not authenticated");
    assert_int_equal(from_gcp(GCP_EUNAVAILABLE, "503", t, sizeof t), SVC_ETRANSIENT);
    assert_int_equal(from_gcp(GCP_ENOTFOUND, "", t, sizeof t), SVC_ENOTFOUND);
    assert_int_equal(from_gcp(GCP_ENOBUCKET, "", t, sizeof t), SVC_ENOBUCKET);
    assert_int_equal(from_gcp(GCP_EPRECONDITION, "412", t, sizeof t), SVC_EEXISTS);
    assert_int_equal(from_gcp(GCP_EEXISTS, "409", t, sizeof t), SVC_EEXISTS);
    assert_int_equal(from_gcp(GCP_EINVAL, "400", t, sizeof t), SVC_EREMOTE);
    assert_int_equal(from_gcp(GCP_ETOOBIG, "", t, sizeof t), SVC_ETOOBIG);
    assert_int_equal(from_gcp(GCP_ECANCELED, "", t, sizeof t), SVC_ECANCELED);
    assert_int_equal(from_gcp(GCP_EIO, "", t, sizeof t), SVC_EIO);
}

static void test_audio_edge(void **state)
{
    enum svc_reason r;
    (void)state;
    assert_int_equal(svc_error_from_audio(AUDIO_ETOOBIG, &r), SVC_EAUDIO);
    assert_int_equal(r, SVC_R_TOO_BIG);
    assert_int_equal(svc_error_from_audio(AUDIO_EEMPTY, &r), SVC_EAUDIO);
    assert_int_equal(r, SVC_R_EMPTY_AUDIO);
    assert_int_equal(svc_error_from_audio(AUDIO_ECORRUPT, &r), SVC_EAUDIO);
    assert_int_equal(r, SVC_R_BAD_AUDIO);
    assert_int_equal(svc_error_from_audio(AUDIO_EIO, &r), SVC_EAUDIO);
    assert_int_equal(r, SVC_R_NONE); /* worth a retry */
    assert_int_equal(svc_error_from_audio(AUDIO_ECANCELED, &r), SVC_ECANCELED);
    assert_int_equal(r, SVC_R_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_gcp_edge),
        cmocka_unit_test(test_audio_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
