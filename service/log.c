/* log.c: one log line per event, JSON (jansson-escaped) or text.
 * Lock: log_mu serialises whole lines and the clear hook. */
#include "service/log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static enum svc_log_format log_fmt = SVC_LOG_JSON;
static enum svc_severity log_min = SVC_INFO;
static FILE *log_out;
static void (*log_clear)(FILE *out);

static const char *const sev_names[] = {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR"};

void svc_log_init(enum svc_log_format fmt, FILE *out, enum svc_severity min)
{
    pthread_mutex_lock(&log_mu);
    log_fmt = fmt;
    log_out = out;
    log_min = min;
    pthread_mutex_unlock(&log_mu);
}

int svc_log_format_parse(const char *name, enum svc_log_format *out)
{
    if (!strcmp(name, "json"))
        *out = SVC_LOG_JSON;
    else if (!strcmp(name, "text"))
        *out = SVC_LOG_TEXT;
    else
        return -1;
    return 0;
}

void svc_log_set_clear_hook(void (*clear)(FILE *out))
{
    pthread_mutex_lock(&log_mu);
    log_clear = clear;
    pthread_mutex_unlock(&log_mu);
}

static void write_json(FILE *f, enum svc_severity sev, const struct svc_log_fields *fl,
                       const char *msg)
{
    json_t *o = json_object();
    char *s;
    if (!o)
        return;
    json_object_set_new(o, "severity", json_string(sev_names[sev]));
    json_object_set_new(o, "message", json_string(msg));
    if (fl) {
        if (fl->job)
            json_object_set_new(o, "job", json_string(fl->job));
        if (fl->element)
            json_object_set_new(o, "element", json_string(fl->element));
        if (fl->outcome)
            json_object_set_new(o, "outcome", json_string(fl->outcome));
        if (fl->duration_ms >= 0)
            json_object_set_new(o, "duration_ms",
                                json_integer((json_int_t)llround(fl->duration_ms)));
        if (fl->error)
            json_object_set_new(o, "error", json_string(fl->error));
    }
    s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        fprintf(f, "%s\n", s);
        free(s);
    }
    json_decref(o);
}

static void write_text(FILE *f, enum svc_severity sev, const struct svc_log_fields *fl,
                       const char *msg)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    fprintf(f, "%s %-7s %s", ts, sev_names[sev], msg);
    if (fl) {
        if (fl->element)
            fprintf(f, " element=%s", fl->element);
        if (fl->outcome)
            fprintf(f, " outcome=%s", fl->outcome);
        if (fl->duration_ms >= 0)
            fprintf(f, " duration_ms=%.0f", fl->duration_ms);
        if (fl->error)
            fprintf(f, " error=\"%s\"", fl->error);
    }
    fputc('\n', f);
}

void svc_log(enum svc_severity sev, const struct svc_log_fields *f, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    FILE *out;
    if (sev < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    out = log_out ? log_out : stderr;
    if (log_clear)
        log_clear(out);
    if (log_fmt == SVC_LOG_JSON)
        write_json(out, sev, f, msg);
    else
        write_text(out, sev, f, msg);
    fflush(out);
    pthread_mutex_unlock(&log_mu);
}
