/* gen.c: `wiggly gen OUT [options]`: synthetic test audio, streamed to
 * OUT (format from its extension). Exit codes: 0 done, 1 failed, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "cli/cli.h"

static const char gen_usage[] =
    "usage: wiggly gen OUT [options]\n"
    "\n"
    "Write synthetic test audio to OUT (wav, flac, ogg, opus or mp3, from the\n"
    "extension), generated in chunks so any duration runs in constant memory.\n"
    "\n"
    "  --seconds S           duration (default 10)\n"
    "  --rate R              sample rate in Hz (default 44100)\n"
    "  --channels N          channel count (default 2)\n"
    "  --signal SIG          sine:F (Hz) | sine | sweep | noise | music | silence (default music)\n"
    "  --seed N              random seed for noise and music (default 1)\n"
    "  --bits B              16 | 24 | 32 (32 = float, WAV only; default 16)\n"
    "  --help                this text\n";

static int gen_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "wiggly gen: %s '%s' (try wiggly gen --help)\n", what, arg);
    return 2;
}

static int gen_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_gen(int argc, char **argv)
{
    struct audio_gen_spec g = {.signal = AUDIO_SIG_MUSIC,
                               .seconds = 10,
                               .rate = 44100,
                               .channels = 2,
                               .seed = 1,
                               .vbr_quality = -1};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(gen_usage, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            if (out)
                return gen_usage_error("unexpected argument", a);
            out = a;
            continue;
        }
        if (i + 1 >= argc)
            return gen_usage_error("option needs a value:", a);
        const char *val = argv[++i];
        double v;
        if (!strcmp(a, "--seconds")) {
            if (gen_number(val, 0, 86400, &g.seconds))
                return gen_usage_error("bad --seconds", val);
        } else if (!strcmp(a, "--rate")) {
            if (gen_number(val, 1, 768000, &v) || v != (int)v)
                return gen_usage_error("bad --rate", val);
            g.rate = (int)v;
        } else if (!strcmp(a, "--channels")) {
            if (gen_number(val, 1, 256, &v) || v != (int)v)
                return gen_usage_error("bad --channels", val);
            g.channels = (int)v;
        } else if (!strcmp(a, "--signal")) {
            if (audio_signal_parse(val, &g))
                return gen_usage_error("bad --signal", val);
        } else if (!strcmp(a, "--seed")) {
            if (gen_number(val, 0, 9007199254740992.0, &v) || v != (double)(uint64_t)v)
                return gen_usage_error("bad --seed", val);
            g.seed = (uint64_t)v;
        } else if (!strcmp(a, "--bits")) {
            if (!strcmp(val, "16"))
                g.sample = AUDIO_PCM_16;
            else if (!strcmp(val, "24"))
                g.sample = AUDIO_PCM_24;
            else if (!strcmp(val, "32"))
                g.sample = AUDIO_FLOAT;
            else
                return gen_usage_error("bad --bits", val);
        } else {
            return gen_usage_error("unknown option", a);
        }
    }
    if (!out) {
        fprintf(stderr, "wiggly gen: needs OUT (try wiggly gen --help)\n");
        return 2;
    }
    if (audio_format_from_path(out, &g.format))
        return gen_usage_error("cannot tell the format from the extension of", out);
    struct audio_error err = {0};
    if (audio_gen_file(out, &g, &err)) {
        fprintf(stderr, "wiggly gen: %s: %s\n", out, err.msg);
        remove(out);
        return 1;
    }
    printf("%s: %.3f s %d Hz %d ch\n", out, g.seconds, g.rate, g.channels);
    return 0;
}
