/* lazy.h: the libraries only some tracks need, loaded with dlopen the first
 * time one does: FFmpeg (ffdec.c: the formats libsndfile does not read, and
 * the Opus fast path's demuxer), Chromaprint (fingerprint.c) and aubio
 * (rhythm.c). Linked normally, they and what they pull in (x264, x265,
 * VA-API, X11, FFTW... about a hundred shared libraries) cost every process
 * ~20 MiB of RSS and the dynamic loader's time at start, whether its job
 * uses them or not (docs/audio.md "Libraries loaded when needed").
 *
 * A user file lists its functions in an X-macro, keeps them in a struct of
 * pointers typed from the library's own header (__typeof__, so a wrong
 * signature is a compile error), fills it in its bind function with
 * audio__lazy_sym and calls LAZY(table, name)(...). Thread-safe: each group
 * loads once (pthread_once); a failure is final for the process and its
 * dlerror() is kept for the message. Never unloaded. */
#ifndef WIGGLY_AUDIO_LAZY_H
#define WIGGLY_AUDIO_LAZY_H

#include <pthread.h>

struct audio_error;

#define AUDIO__LAZY_LIBS 4

struct audio__lazy {
    const char *what;           /* "FFmpeg", for messages */
    const char *const *sonames; /* NULL-terminated; CMake reads them at build time */
    /* The user file's: looks every symbol up with audio__lazy_sym; 0 when
     * all were found. */
    int (*bind)(struct audio__lazy *g);
    void (*once_fn)(void);
    pthread_once_t once;
    int rc; /* 0 loaded, else AUDIO_EUNSUPPORTED */
    char why[256];
    void *handles[AUDIO__LAZY_LIBS];
};

/* Loads g once: 0, or AUDIO_EUNSUPPORTED with the reason in err. */
int audio__lazy_load(struct audio__lazy *g, struct audio_error *err);
/* In a bind function: the symbol's address from g's libraries, or NULL
 * with the reason in g->why. */
void *audio__lazy_sym(struct audio__lazy *g, const char *name);

extern struct audio__lazy audio__lazy_ffmpeg, audio__lazy_chromaprint, audio__lazy_aubio;
int audio__ffmpeg_bind(struct audio__lazy *g);
int audio__chromaprint_bind(struct audio__lazy *g);
int audio__aubio_bind(struct audio__lazy *g);

/* In a user file, after the library's header:
 *   #define FUNCS(X) X(f1) X(f2) ...
 *   #define LAZY_TABLE tbl
 *   LAZY_DEFINE(FUNCS, audio__x_bind)
 * defines `static struct { __typeof__(f1) *f1; ... } tbl;` and the group's
 * bind function; calls are then tbl.f1(...). */
#define LAZY_MEMBER(f)   __typeof__(f) *f;
#define LAZY_BIND_ONE(f) ok &= (*(void **)&LAZY_TABLE.f = audio__lazy_sym(g, #f)) != NULL;
#define LAZY_DEFINE(FUNCS, bindfn)                                                                 \
    static struct {                                                                                \
        FUNCS(LAZY_MEMBER)                                                                         \
    } LAZY_TABLE;                                                                                  \
    int bindfn(struct audio__lazy *g)                                                              \
    {                                                                                              \
        int ok = 1;                                                                                \
        FUNCS(LAZY_BIND_ONE)                                                                       \
        return ok ? 0 : -1;                                                                        \
    }
#endif
