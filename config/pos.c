/* pos.c: a position index over the raw text of a JSON document.
 *
 * jansson reports line and column only for syntax errors, but a config error
 * such as "unknown key" or "must be an integer" must point at the key or the
 * value in the file. After jansson has accepted the text, this scanner walks
 * it once more and records, for every member and array element, the line and
 * column of its key and of its value under a dotted path ("runtime.workers",
 * "output.topics[0]"). Columns count characters (UTF-8 code points) from 1,
 * as jansson's own error columns do. The text is known to be valid JSON, so
 * the scanner only has to be correct on valid input; it still never reads
 * past the end on invalid input. No globals: thread-safe. */
#include "config/pos_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const char *s;
    size_t len, i;
    int line, col;
    struct cfg_pos_index *ix;
    int failed;
};

static void advance(struct scan *sc)
{
    unsigned char ch = (unsigned char)sc->s[sc->i++];
    if (ch == '\n') {
        sc->line++;
        sc->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
        sc->col++;
    }
}

static void skip_ws(struct scan *sc)
{
    while (sc->i < sc->len && strchr(" \t\r\n", sc->s[sc->i]) && sc->s[sc->i] != '\0')
        advance(sc);
}

static int put_utf8(char *out, size_t *n, size_t cap, unsigned long cp)
{
    char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (*n + k >= cap)
        return -1;
    memcpy(out + *n, b, k);
    *n += k;
    return 0;
}

static unsigned long hex4(const char *p)
{
    unsigned long v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
    }
    return v;
}

/* Scans a string starting at its opening quote. With out != NULL, stores the
 * decoded text (truncated to cap-1 bytes; only used for keys). */
static void scan_string(struct scan *sc, char *out, size_t cap)
{
    size_t n = 0;
    advance(sc); /* opening quote */
    while (sc->i < sc->len && sc->s[sc->i] != '"') {
        char c = sc->s[sc->i];
        if (c == '\\' && sc->i + 1 < sc->len) {
            char e = sc->s[sc->i + 1];
            advance(sc);
            advance(sc);
            if (e == 'u' && sc->i + 4 <= sc->len) {
                unsigned long cp = hex4(sc->s + sc->i);
                for (int k = 0; k < 4; k++)
                    advance(sc);
                if (cp >= 0xD800 && cp < 0xDC00 && sc->i + 6 <= sc->len && sc->s[sc->i] == '\\' &&
                    sc->s[sc->i + 1] == 'u') {
                    unsigned long lo = hex4(sc->s + sc->i + 2);
                    for (int k = 0; k < 6; k++)
                        advance(sc);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (out)
                    (void)put_utf8(out, &n, cap, cp);
                continue;
            }
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *p = strchr(from, e);
            if (out && p && e && n + 1 < cap)
                out[n++] = to[p - from];
            continue;
        }
        if (out && n + 1 < cap)
            out[n++] = c;
        advance(sc);
    }
    if (sc->i < sc->len)
        advance(sc); /* closing quote */
    if (out)
        out[n] = '\0';
}

static int record(struct scan *sc, const char *path, int kl, int kc, int vl, int vc)
{
    struct cfg_pos_index *ix = sc->ix;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 32;
        struct cfg_pos *v = realloc(ix->v, cap * sizeof(*v));
        if (!v)
            return -1;
        ix->v = v;
        ix->cap = cap;
    }
    struct cfg_pos *p = &ix->v[ix->n];
    p->path = strdup(path);
    if (!p->path)
        return -1;
    p->key_line = kl;
    p->key_col = kc;
    p->line = vl;
    p->col = vc;
    ix->n++;
    return 0;
}

#define SCAN_MAX_DEPTH 64
#define SCAN_MAX_PATH  512

static void scan_value(struct scan *sc, const char *path, int depth, int kl, int kc);

static void scan_children(struct scan *sc, const char *path, int depth, int is_object)
{
    char close = is_object ? '}' : ']';
    size_t index = 0;
    advance(sc); /* '{' or '[' */
    for (;;) {
        skip_ws(sc);
        if (sc->i >= sc->len || sc->failed)
            return;
        if (sc->s[sc->i] == close) {
            advance(sc);
            return;
        }
        if (sc->s[sc->i] == ',') {
            advance(sc);
            continue;
        }
        char child[SCAN_MAX_PATH];
        int kl = sc->line, kc = sc->col;
        if (is_object) {
            char key[256];
            if (sc->s[sc->i] != '"') {
                sc->failed = 1;
                return;
            }
            scan_string(sc, key, sizeof(key));
            snprintf(child, sizeof(child), "%s%s%s", path, *path ? "." : "", key);
            skip_ws(sc);
            if (sc->i < sc->len && sc->s[sc->i] == ':')
                advance(sc);
        } else {
            snprintf(child, sizeof(child), "%s[%zu]", path, index++);
        }
        size_t before = sc->i;
        scan_value(sc, child, depth + 1, kl, kc);
        if (sc->i == before) { /* not JSON: never loop on the same byte */
            sc->failed = 1;
            return;
        }
    }
}

static void scan_value(struct scan *sc, const char *path, int depth, int kl, int kc)
{
    skip_ws(sc);
    if (sc->i >= sc->len || depth > SCAN_MAX_DEPTH) {
        sc->failed = 1;
        return;
    }
    if (record(sc, path, kl ? kl : sc->line, kl ? kc : sc->col, sc->line, sc->col) < 0) {
        sc->failed = 1;
        return;
    }
    char c = sc->s[sc->i];
    if (c == '{' || c == '[') {
        scan_children(sc, path, depth, c == '{');
    } else if (c == '"') {
        scan_string(sc, NULL, 0);
    } else {
        /* number, true, false, null */
        while (sc->i < sc->len && !strchr(" \t\r\n,]}", sc->s[sc->i]))
            advance(sc);
    }
}

int cfg__pos_index_build(struct cfg_pos_index *ix, const char *text, size_t len)
{
    struct scan sc = {.s = text, .len = len, .line = 1, .col = 1, .ix = ix};
    memset(ix, 0, sizeof(*ix));
    scan_value(&sc, "", 0, 0, 0);
    return sc.failed ? -1 : 0;
}

const struct cfg_pos *cfg__pos_index_find(const struct cfg_pos_index *ix, const char *path)
{
    for (size_t k = 0; k < ix->n; k++)
        if (strcmp(ix->v[k].path, path) == 0)
            return &ix->v[k];
    return NULL;
}

void cfg__pos_index_cleanup(struct cfg_pos_index *ix)
{
    for (size_t k = 0; k < ix->n; k++)
        free(ix->v[k].path);
    free(ix->v);
    memset(ix, 0, sizeof(*ix));
}
