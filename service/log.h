/* log.h: structured logs, one JSON object per line (Cloud Logging field
 * names: severity, message; plus job, element, outcome, duration_ms, error)
 * or one human line per event (--log-format text).
 * Threading: any thread; lines are written whole under one mutex.
 * A "line clearer" hook lets batch mode erase its live progress line first. */
#ifndef WIGGLY_SERVICE_LOG_H
#define WIGGLY_SERVICE_LOG_H

#include <stdio.h>

enum svc_log_format { SVC_LOG_JSON = 0, SVC_LOG_TEXT };
enum svc_severity { SVC_DEBUG = 0, SVC_INFO, SVC_NOTICE, SVC_WARNING, SVC_ERROR };

/* Every field optional: NULL / negative duration = absent. duration_ms is
 * written rounded to whole milliseconds. */
struct svc_log_fields {
    const char *job;
    const char *element;
    const char *outcome;
    const char *error;
    double duration_ms;
};

/* out NULL = stderr. min = lowest severity written. */
void svc_log_init(enum svc_log_format fmt, FILE *out, enum svc_severity min);
/* "json" | "text"; 0 or -1. */
int svc_log_format_parse(const char *name, enum svc_log_format *out);
void svc_log_set_clear_hook(void (*clear)(FILE *out));

void svc_log(enum svc_severity sev, const struct svc_log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SVC_LOG_FIELDS_NONE ((const struct svc_log_fields *)0)

#endif
