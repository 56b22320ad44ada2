/* fuzz_config.c: libFuzzer target for the job config loader.
 *
 * The same bytes go through cfg_load_buffer (not NUL-terminated: the copy is
 * exactly size bytes, so ASan sees any read past the end) and, when they hold
 * no NUL, cfg_load_string; both must agree. A failure must carry its code and
 * a "name:line:col: message" text; a success must have a job name and
 * locations ending in '/'. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONFIG_MAX (256 * 1024)

#define die(what, detail) fuzz_die("fuzz_config", what, detail)

static void check_result(int rc, const struct cfg_job *job, const struct cfg_error *err)
{
    if (rc == 0) {
        if (!job || !job->name)
            die("success without a job or name", NULL);
        if (job->input.location && job->input.location[strlen(job->input.location) - 1] != '/')
            die("input.location does not end in '/'", job->input.location);
        if (job->output.location && job->output.location[strlen(job->output.location) - 1] != '/')
            die("output.location does not end in '/'", job->output.location);
        return;
    }
    if (rc != CFG_EIO && rc != CFG_ESYNTAX && rc != CFG_EINVALID)
        die("unknown error code", NULL);
    if (err->code != rc)
        die("err.code differs from the return value", err->msg);
    if (strncmp(err->msg, "fuzz:", 5) != 0)
        die("error message does not start with the file name", err->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_CONFIG_MAX)
        return 0;
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct cfg_job *job = NULL;
    struct cfg_error err;
    memset(&err, 0, sizeof(err));
    int rc = cfg_load_buffer(buf, size, "fuzz", &job, &err);
    check_result(rc, job, &err);
    cfg_job_destroy(job);
    free(buf);

    if (!memchr(data, '\0', size)) {
        char *s = malloc(size + 1);
        if (!s)
            return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        struct cfg_job *job2 = NULL;
        struct cfg_error err2;
        memset(&err2, 0, sizeof(err2));
        int rc2 = cfg_load_string(s, "fuzz", &job2, &err2);
        check_result(rc2, job2, &err2);
        if (rc2 != rc)
            die("cfg_load_string and cfg_load_buffer disagree", err2.msg);
        if (rc && strcmp(err.msg, err2.msg) != 0)
            die("cfg_load_string and cfg_load_buffer give different messages", err2.msg);
        cfg_job_destroy(job2);
        free(s);
    }
    return 0;
}
