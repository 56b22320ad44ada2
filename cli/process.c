/* process.c: `wiggly process IN OUT [options]`: one file through the
 * audio chain, with a one-line summary on stdout. Exit codes: 0 done, 1 the
 * work failed (reason on stderr), 2 bad usage. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/audio.h"
#include "cli/cli.h"

static const char process_usage[] =
    "usage: wiggly process IN [OUT] [options]\n"
    "       wiggly process --probe IN\n"
    "\n"
    "Decode IN (format detected from its bytes), apply a channel op, resample\n"
    "and encode to OUT, streaming in chunks. OUT may be left out when another\n"
    "output (--features, --array, --plot) is asked for. With --probe, print\n"
    "what wiggly sees in IN (container, codec, rate, channels, frames,\n"
    "decoder) and stop.\n"
    "\n"
    "  --rate R              output sample rate in Hz (default: keep)\n"
    "  --channels C          mono | stereo | keep | N (N = 0-based channel to select)\n"
    "  --format F            wav | flac | ogg | opus | mp3 (default: from OUT's extension)\n"
    "  --bits B              16 | 24 | 32 (32 = float, WAV only; default 16)\n"
    "  --quality Q           resampler: quick | low | medium | high | very-high (default high)\n"
    "  --vbr-quality Q       Ogg Vorbis / Opus quality 0..1\n"
    "  --bitrate KBPS        MP3 constant bitrate\n"
    "  --features F.json     write duration, peak, RMS, loudness and true peak as JSON\n"
    "  --array KIND[,k=v...]@OUT.npy\n"
    "                        an analysis array (stft, mel, mfcc) of the output, mono,\n"
    "                        as .npy; keys as in the job config (docs/analysis.md),\n"
    "                        e.g. mel,n_fft=1024,hop=256,db=true@x.logmel.npy; repeatable\n"
    "  --fingerprint[=SECS]  Chromaprint fingerprint of the first SECS (default 120)\n"
    "                        into the features JSON (needs --features)\n"
    "  --tempo[=METHOD[,buf=N,hop=N]]\n"
    "                        aubio tempo (BPM) into the features JSON\n"
    "  --onsets[=METHOD[,buf=N,hop=N,threshold=X,silence=DB,minioi_ms=MS]][@OUT.npy]\n"
    "                        aubio onset times into the features JSON, and a .npy\n"
    "  --plot [k=v,...@]OUT.png\n"
    "                        log-mel spectrogram picture; keys n_fft, hop, n_mels, fmin,\n"
    "                        fmax, top_db, width_max, axes, colormap (magma, viridis)\n"
    "  --no-fast-path        decode what IN holds, then channel op and soxr, even\n"
    "                        where a codec could decode to mono or a lower rate\n"
    "  -v, --verbose         also print which decoder (or fast path) read IN and\n"
    "                        at which rate and channel count\n"
    "  --help                this text\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wiggly process: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try wiggly process --help)\n");
    va_end(ap);
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* The --array options, at most AUDIO_ARRAYS_MAX. */
struct process_arrays {
    struct audio_array_spec a[AUDIO_ARRAYS_MAX];
    size_t n;
};

static int add_array(struct process_arrays *arrs, const char *val)
{
    char why[200], spec[512];
    const char *at = strchr(val, '@');
    if (!at || !at[1] || (size_t)(at - val) >= sizeof(spec))
        return usage_error("bad --array '%s' (KIND[,key=value...]@OUT.npy)", val);
    if (arrs->n == AUDIO_ARRAYS_MAX)
        return usage_error("more than %d --array options", AUDIO_ARRAYS_MAX);
    memcpy(spec, val, (size_t)(at - val));
    spec[at - val] = '\0';
    if (audio_array_spec_parse(spec, &arrs->a[arrs->n], why, sizeof(why)))
        return usage_error("bad --array '%s': %s", val, why);
    arrs->a[arrs->n++].path = at + 1;
    return 0;
}

/* --tempo and --onsets: METHOD[,key=value...]; method and keys copied into
 * buf, which must outlive the run. */
static int rhythm_option(const char *opt, const char *val, char *buf, size_t cap, int onsets,
                         struct audio_spec *spec)
{
    struct audio_tempo_spec *t = &spec->tempo;
    struct audio_onset_spec *o = &spec->onsets;
    char *save = NULL;
    if (strlen(val) >= cap)
        return usage_error("%s too long", opt);
    snprintf(buf, cap, "%s", val);
    char *at = onsets ? strchr(buf, '@') : NULL;
    if (at) {
        *at = '\0';
        o->npy_path = at + 1;
        if (!at[1])
            return usage_error("bad %s '%s': empty path after '@'", opt, val);
    }
    *(onsets ? &o->enabled : &t->enabled) = 1;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end;
        if (!eq) {
            if (!audio_onset_method_ok(tok))
                return usage_error("bad %s method '%s'", opt, tok);
            *(onsets ? &o->method : &t->method) = tok;
            continue;
        }
        *eq = '\0';
        double d = strtod(eq + 1, &end);
        int ok = end != eq + 1 && !*end;
        if (ok && !strcmp(tok, "buf") && d >= 2 && d <= AUDIO_RHYTHM_BUF_MAX)
            *(onsets ? &o->buf : &t->buf) = (int)d;
        else if (ok && !strcmp(tok, "hop") && d >= 1 && d <= AUDIO_RHYTHM_BUF_MAX)
            *(onsets ? &o->hop : &t->hop) = (int)d;
        else if (ok && onsets && !strcmp(tok, "threshold") && d > 0)
            o->threshold = d;
        else if (ok && onsets && !strcmp(tok, "silence") && d < 0)
            o->silence_db = d;
        else if (ok && onsets && !strcmp(tok, "minioi_ms") && d > 0)
            o->minioi_ms = d;
        else
            return usage_error("bad %s key or value '%s=%s'", opt, tok, eq + 1);
    }
    return 0;
}

/* The buffers the options' strings point into. */
struct process_text {
    char tempo[256], onsets[1024];
    struct audio_plot_spec plot;
};

static int plot_option(const char *val, struct audio_spec *spec, struct process_text *tx)
{
    char why[200], keys[512] = "";
    const char *at = strchr(val, '@'), *path = at ? at + 1 : val;
    if (at && (size_t)(at - val) >= sizeof(keys))
        return usage_error("bad --plot '%s'", val);
    if (at)
        snprintf(keys, sizeof(keys), "%.*s", (int)(at - val), val);
    if (!*path)
        return usage_error("bad --plot '%s': no path", val);
    if (audio_plot_spec_parse(keys, &tx->plot, why, sizeof(why)))
        return usage_error("bad --plot '%s': %s", val, why);
    tx->plot.path = path;
    spec->plot = &tx->plot;
    return 0;
}

/* `wiggly process --probe IN`: one line of key=value pairs. frames is the
 * container's claim (-1 when it has none: the track is then counted when
 * decoded). */
static int probe(const char *path)
{
    struct audio_info info;
    struct audio_error err = {0};
    int rc = audio_probe_file(path, &info, &err);
    if (rc) {
        fprintf(stderr, "wiggly process: %s: %s\n", path,
                err.msg[0] ? err.msg : audio_strerror(rc));
        return 1;
    }
    printf("%s: container=%s codec=%s rate=%d channels=%d frames=%lld seconds=%.3f decoder=%s\n",
           path, info.container, info.codec, info.rate, info.channels, (long long)info.frames,
           info.frames >= 0 ? (double)info.frames / info.rate : -1.0, info.decoder);
    return 0;
}

/* Applies one option with its value to spec; returns 0 or the exit code. */
static int process_option(const char *opt, const char *val, struct audio_spec *spec,
                          const char **features, struct process_arrays *arrs,
                          struct process_text *tx)
{
    long v;
    if (!strcmp(opt, "--fingerprint")) {
        char *end;
        double d = *val ? strtod(val, &end) : 0;
        if (*val && (end == val || *end || !(d > 0 && d <= 86400)))
            return usage_error("bad --fingerprint '%s' (seconds, 0 to 86400)", val);
        spec->fingerprint.enabled = 1;
        spec->fingerprint.seconds = d;
    } else if (!strcmp(opt, "--tempo")) {
        return rhythm_option(opt, val, tx->tempo, sizeof(tx->tempo), 0, spec);
    } else if (!strcmp(opt, "--onsets")) {
        return rhythm_option(opt, val, tx->onsets, sizeof(tx->onsets), 1, spec);
    } else if (!strcmp(opt, "--plot")) {
        return plot_option(val, spec, tx);
    } else if (!strcmp(opt, "--rate")) {
        if (parse_long(val, 1, 768000, &v))
            return usage_error("bad --rate '%s'", val);
        spec->rate = (int)v;
    } else if (!strcmp(opt, "--channels")) {
        if (!strcmp(val, "mono"))
            spec->channels = AUDIO_CH_MONO;
        else if (!strcmp(val, "stereo"))
            spec->channels = AUDIO_CH_STEREO;
        else if (!strcmp(val, "keep"))
            spec->channels = AUDIO_CH_KEEP;
        else if (!parse_long(val, 0, 1023, &v)) {
            spec->channels = AUDIO_CH_SELECT;
            spec->select_channel = (int)v;
        } else
            return usage_error("bad --channels '%s' (mono, stereo, keep or an index)", val);
    } else if (!strcmp(opt, "--format")) {
        if (audio_format_parse(val, &spec->format))
            return usage_error("unknown --format '%s' (wav, flac, ogg, opus, mp3)", val);
    } else if (!strcmp(opt, "--bits")) {
        if (parse_long(val, 16, 32, &v) || (v != 16 && v != 24 && v != 32))
            return usage_error("bad --bits '%s' (16, 24 or 32)", val);
        spec->sample = v == 16 ? AUDIO_PCM_16 : v == 24 ? AUDIO_PCM_24 : AUDIO_FLOAT;
    } else if (!strcmp(opt, "--quality")) {
        if (audio_quality_parse(val, &spec->quality))
            return usage_error("bad --quality '%s' (quick, low, medium, high, very-high)", val);
    } else if (!strcmp(opt, "--vbr-quality")) {
        char *end;
        errno = 0;
        double q = strtod(val, &end);
        if (errno || end == val || *end || !(q >= 0 && q <= 1))
            return usage_error("bad --vbr-quality '%s' (0..1)", val);
        spec->vbr_quality = q;
    } else if (!strcmp(opt, "--bitrate")) {
        if (parse_long(val, 8, 320, &v))
            return usage_error("bad --bitrate '%s' (8..320 kbps)", val);
        spec->bitrate_kbps = (int)v;
    } else if (!strcmp(opt, "--features")) {
        *features = val;
    } else if (!strcmp(opt, "--array")) {
        return add_array(arrs, val);
    } else {
        return usage_error("unknown option '%s'", opt);
    }
    return 0;
}

int cli_process(int argc, char **argv)
{
    struct audio_spec spec = {.quality = AUDIO_Q_HIGH, .vbr_quality = -1};
    const char *pos[2] = {NULL, NULL}, *features = NULL;
    struct process_arrays arrs;
    static struct process_text tx; /* big; the options' strings point into it */
    int npos = 0, probing = 0, verbose = 0;
    memset(&arrs, 0, sizeof(arrs));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(process_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--probe")) {
            probing = 1;
            continue;
        }
        if (!strcmp(a, "--no-fast-path")) {
            spec.no_fast_path = 1;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        if (!strncmp(a, "--", 2) && a[2]) {
            char opt[32];
            const char *eq = strchr(a, '='), *val;
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            if (len >= sizeof(opt))
                return usage_error("unknown option '%s'", a);
            memcpy(opt, a, len);
            opt[len] = 0;
            int flag = !strcmp(opt, "--fingerprint") || !strcmp(opt, "--tempo") ||
                       !strcmp(opt, "--onsets");
            if (eq)
                val = eq + 1;
            else if (flag)
                val = "";
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error("option '%s' needs a value", a);
            int rc = process_option(opt, val, &spec, &features, &arrs, &tx);
            if (rc)
                return rc;
            continue;
        }
        if (npos == 2)
            return usage_error("unexpected argument '%s'", a);
        pos[npos++] = a;
    }
    if (probing) {
        if (npos != 1)
            return usage_error("--probe needs IN alone");
        return probe(pos[0]);
    }
    if (npos == 0 || (npos == 1 && !features && !arrs.n && !spec.plot))
        return usage_error("needs IN and OUT");
    if ((spec.fingerprint.enabled || spec.tempo.enabled || spec.onsets.enabled) && !features)
        return usage_error("--fingerprint, --tempo and --onsets write into --features");
    if (pos[1] && spec.format == AUDIO_FMT_AUTO && audio_format_from_path(pos[1], &spec.format))
        return usage_error("cannot tell the format from '%s': give --format", pos[1]);
    spec.features = features != NULL;
    spec.arrays = arrs.a;
    spec.n_arrays = arrs.n;
    /* A failure removes OUT: make sure OUT is not IN. */
    struct stat si, so;
    if (pos[1] && stat(pos[0], &si) == 0 && stat(pos[1], &so) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino)
        return usage_error("IN and OUT are the same file");

    struct audio_result res;
    struct audio_error err = {0};
    int rc = audio_chain_run_file(pos[0], pos[1], &spec, &res, &err);
    if (rc) {
        fprintf(stderr, "wiggly process: %s: %s\n", pos[0],
                err.msg[0] ? err.msg : audio_strerror(rc));
        if (pos[1])
            remove(pos[1]);
        for (size_t i = 0; i < arrs.n; i++)
            remove(arrs.a[i].path);
        if (spec.plot)
            remove(spec.plot->path);
        if (spec.onsets.npy_path)
            remove(spec.onsets.npy_path);
        return 1;
    }
    if (features && write_text(features, res.features_json) != 0) {
        fprintf(stderr, "wiggly process: cannot write %s: %s\n", features, strerror(errno));
        audio_result_cleanup(&res);
        return 1;
    }
    printf("%s: %d Hz %d ch %.3f s -> %s: %d Hz %d ch %.3f s (%s)\n", pos[0], res.in.rate,
           res.in.channels, (double)res.in.frames / res.in.rate, pos[1] ? pos[1] : "-",
           res.out.rate, res.out.channels, res.seconds,
           pos[1] ? audio_format_name(res.out.format) : "no audio");
    if (verbose)
        printf("%s: decoder=%s decoded_rate=%d decoded_channels=%d frames=%lld out_frames=%lld\n",
               pos[0], res.in.decoder, res.in.decoded_rate, res.in.decoded_channels,
               (long long)res.in.frames, (long long)res.out.frames);
    audio_result_cleanup(&res);
    return 0;
}
