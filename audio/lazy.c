/* lazy.c: loads FFmpeg, Chromaprint and aubio the first time a track needs
 * them (lazy.h says why). The sonames come from CMake, which reads them
 * from the libraries it found (audio/CMakeLists.txt), so the binary asks
 * for exactly the major versions it was compiled against. */
#include "audio/lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "audio/audio_int.h"

/* g's sonames joined by sep into buf. */
static void sonames(const struct audio__lazy *g, const char *sep, char *buf, size_t n)
{
    buf[0] = 0;
    for (const char *const *s = g->sonames; *s; s++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", s == g->sonames ? "" : sep, *s);
}

static void load(struct audio__lazy *g)
{
    int n = 0;
    for (const char *const *s = g->sonames; *s && n < AUDIO__LAZY_LIBS; s++) {
        void *h = dlopen(*s, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            snprintf(g->why, sizeof(g->why), "%s cannot be loaded: %s", g->what, e ? e : *s);
            g->rc = AUDIO_EUNSUPPORTED;
            return;
        }
        g->handles[n++] = h;
    }
    g->rc = g->bind(g) ? AUDIO_EUNSUPPORTED : 0;
}

void *audio__lazy_sym(struct audio__lazy *g, const char *name)
{
    for (int i = 0; i < AUDIO__LAZY_LIBS && g->handles[i]; i++) {
        void *p = dlsym(g->handles[i], name);
        if (p)
            return p;
    }
    char libs[160];
    sonames(g, ", ", libs, sizeof(libs));
    snprintf(g->why, sizeof(g->why), "%s cannot be loaded: no symbol %s in %s", g->what, name,
             libs);
    return NULL;
}

int audio__lazy_load(struct audio__lazy *g, struct audio_error *err)
{
    pthread_once(&g->once, g->once_fn);
    if (g->rc)
        return audio__fail(err, g->rc, "unsupported: %s", g->why);
    return 0;
}

#define GROUP(var, label, bindfn, ...)                                                             \
    static const char *const var##_sonames[] = {__VA_ARGS__, NULL};                                \
    static void var##_once(void);                                                                  \
    struct audio__lazy var = {.what = label,                                                       \
                              .sonames = var##_sonames,                                            \
                              .bind = bindfn,                                                      \
                              .once_fn = var##_once,                                               \
                              .once = PTHREAD_ONCE_INIT};                                          \
    static void var##_once(void)                                                                   \
    {                                                                                              \
        load(&var);                                                                                \
    }

GROUP(audio__lazy_ffmpeg, "FFmpeg", audio__ffmpeg_bind, WIGGLY_SONAME_AVUTIL, WIGGLY_SONAME_AVCODEC,
      WIGGLY_SONAME_AVFORMAT)
GROUP(audio__lazy_chromaprint, "Chromaprint", audio__chromaprint_bind, WIGGLY_SONAME_CHROMAPRINT)
GROUP(audio__lazy_aubio, "aubio", audio__aubio_bind, WIGGLY_SONAME_AUBIO)

int audio_lazy_report(char *buf, size_t n)
{
    struct audio__lazy *all[] = {&audio__lazy_ffmpeg, &audio__lazy_chromaprint, &audio__lazy_aubio};
    size_t at = 0;
    int bad = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        struct audio__lazy *g = all[i];
        pthread_once(&g->once, g->once_fn);
        bad |= g->rc != 0;
        char libs[160];
        sonames(g, " ", libs, sizeof(libs));
        int w = snprintf(buf + at, at < n ? n - at : 0, "%s (%s): %s\n", g->what, libs,
                         g->rc ? g->why : "ok");
        if (w > 0)
            at += (size_t)w;
    }
    return bad ? -1 : 0;
}
