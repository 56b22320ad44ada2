/* gcs_emulator_http.c: see gcs_emulator_http.h. */
#include "gcs_emulator_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct upload_src {
    const char *data;
    size_t len, off;
    long abort_after;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct thttp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct thttp *r = ud;
    size_t have = strlen(r->headers), add = sz * n;
    /* A 100 Continue or 308 block is followed by the final one; keep all. */
    if (have + add < sizeof(r->headers)) {
        memcpy(r->headers + have, p, add);
        r->headers[have + add] = '\0';
    }
    return add;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct upload_src *u = ud;
    size_t want = sz * n, left = u->len - u->off;
    if (u->abort_after >= 0 && u->off >= (size_t)u->abort_after)
        return CURL_READFUNC_ABORT;
    if (u->abort_after >= 0 && u->off + want > (size_t)u->abort_after)
        want = (size_t)u->abort_after - u->off;
    if (want > left)
        want = left;
    memcpy(buf, u->data + u->off, want);
    u->off += want;
    return want;
}

int thttp_do(struct thttp *r, const char *method, const char *url, const char *const *headers,
             const void *body, size_t len, long abort_after)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct upload_src src = {body, len, 0, abort_after};
    memset(r, 0, sizeof(*r));
    if (!c)
        return -1;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    /* libcurl would add "Expect: 100-continue" for big bodies; keep it, the
     * emulator (MHD) answers it, but do not let curl wait a second for it. */
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (body) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    r->curl_code = (int)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body)
        r->body = calloc(1, 1);
    return r->curl_code == 0 ? 0 : -1;
}

void thttp_free(struct thttp *r)
{
    free(r->body);
    r->body = NULL;
}

int thttp_header(const struct thttp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = r->headers, *found = NULL;
    /* The last occurrence wins (after interim responses). */
    while (p && *p) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            found = p + nl + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!found)
        return -1;
    while (*found == ' ')
        found++;
    size_t n = strcspn(found, "\r\n");
    if (n + 1 > cap)
        return -1;
    memcpy(out, found, n);
    out[n] = '\0';
    return 0;
}

json_t *thttp_json(const struct thttp *r)
{
    json_error_t e;
    return json_loadb(r->body, r->len, 0, &e);
}
