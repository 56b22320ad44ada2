"""Helpers of bench/transform_bench.sh: small transforms (the SDK,
sdk/python/wiggly_transform.py) and the plain-Python baseline.

  tf_bench.py serve copy          writes the audio it gets to output "audio"
                                  (.npy): the exact input of the transform
  tf_bench.py serve touch         reads one sample per 4 KiB page of the
                                  mmap; output "touch" (.json)
  tf_bench.py serve sleep S       sleeps S seconds per track; output "touch"
  tf_bench.py loop RATE OUT NPY.. the centroid example's process() over the
                                  .npy files, loaded as the SDK loads them
                                  (np.load, mmap_mode="r"), outside wiggly
  tf_bench.py report RECORDS N ROUNDS SECONDS
                                  the table, from the records the script
                                  wrote (one key=value line per run)

`loop` prints `loop_cpu_s=X tracks=N`: the CPU of the loop alone
(getrusage RUSAGE_SELF around it, without interpreter start and imports).
"""

import importlib.util
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CENTROID = os.path.join(ROOT, "examples", "transforms", "centroid", "transform.py")
PARAMS = {"n_fft": 2048, "hop": 512}  # the centroid example's job.json


def _centroid_module():
    sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
    spec = importlib.util.spec_from_file_location("centroid_transform", CENTROID)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _copy(audio, rate, element, params, outputs):
    with open(outputs["audio"], "wb") as f:
        np.save(f, np.ascontiguousarray(audio))
    return None


def _touch(audio, rate, element, params, outputs):
    step = max(1, 4096 // audio.itemsize // max(1, audio.shape[1]))
    total = float(audio[::step].sum(dtype=np.float64))
    with open(outputs["touch"], "w") as f:
        json.dump({"frames": int(audio.shape[0]), "sum": total}, f)
    return None


def _sleeper(seconds):
    def process(audio, rate, element, params, outputs):
        time.sleep(seconds)
        return _touch(audio, rate, element, params, outputs)
    return process


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loop(rate, out_dir, paths):
    process = _centroid_module().process
    t0 = _cpu()
    for path in paths:
        element = os.path.basename(path)[:-len(".npy")]
        outputs = {"centroid": os.path.join(out_dir, element + ".centroid.npy"),
                   "summary": os.path.join(out_dir, element + ".summary.json")}
        audio = np.load(path, mmap_mode="r", allow_pickle=False)
        process(audio, rate, element, dict(PARAMS), outputs)
        del audio
    print("loop_cpu_s=%.3f tracks=%d" % (_cpu() - t0, len(paths)))


def _records(path):
    runs = []
    with open(path) as f:
        for line in f:
            r = dict(kv.split("=", 1) for kv in line.split())
            for k, v in r.items():
                if k in ("kind", "wchan", "method"):
                    continue
                try:
                    r[k] = float(v)
                except ValueError:
                    pass
            if "self_user_s" in r:
                r["host_s"] = r["self_user_s"] + r["self_sys_s"]
            runs.append(r)
    return runs


def report(path, n, rounds, seconds):
    runs = _records(path)

    def of(kind):
        return [r for r in runs if r["kind"] == kind]

    def per_track(kind, key):
        rs = of(kind)
        return sum(r[key] for r in rs) / sum(r["tracks"] for r in rs) if rs else None

    def rate(kind):
        rs = of(kind)
        return sum(r["tracks"] for r in rs) / sum(r["wall_s"] for r in rs)

    def col(x, fmt="%.3f"):
        return "-" if x is None else fmt % x

    def row(label, *cells):
        print("  %-46s" % label + "".join("%11s" % c for c in cells))

    kinds = ("audio", "tf1", "tf2", "null")
    added = kinds[1:]
    host = {k: per_track(k, "host_s") for k in kinds}
    user = {k: per_track(k, "self_user_s") for k in kinds}
    sys_ = {k: per_track(k, "self_sys_s") for k in kinds}
    kids = {k: per_track(k, "children_s") for k in kinds}
    loop_whole = per_track("loop", "host_s")
    loop_body = per_track("loop", "loop_cpu_s")
    audio = host["audio"]

    def per_round(kind):  # added %, each round against that round's audio job
        out = []
        for a in of("audio"):
            t = [r for r in of(kind) if r["round"] == a["round"]]
            if t:
                out.append(100 * (t[0]["host_s"] - a["host_s"]) / a["host_s"])
        return sorted(out)

    print("\n%d x 3.5-min 44.1 kHz stereo FLAC -> mono 16 kHz FLAC, `wiggly run` batch jobs"
          " (runtime.workers 2);\n%d rounds pooled (order reversed every other round), %d s in all\n"
          % (n, rounds, seconds))
    row("CPU s per track", "audio job", "tf w1", "tf w2", "null w1", "py loop")
    row("wiggly process (own threads, no children)", *(col(host[k]) for k in kinds), "-")
    row("  user", *(col(user[k]) for k in kinds), "-")
    row("  sys", *(col(sys_[k]) for k in kinds), "-")
    row("transform children / the Python process", "-", col(kids["tf1"]), col(kids["tf2"]),
        col(kids["null"]), col(loop_whole))
    row("  the loop alone (no start-up, no imports)", "", "", "", "", col(loop_body))
    row("tracks/s (wall of each whole run)", *(col(rate(k), "%.2f") for k in kinds), "-")
    print()
    row("", "tf w1", "tf w2", "null w1", "target")
    add = {k: host[k] - audio for k in added}
    row("host CPU added by the transform path, ms/track",
        *(col(1000 * add[k], "%.1f") for k in added))
    row("  % of the audio chain's own CPU (pooled)",
        *(col(100 * add[k] / audio, "%.1f %%") for k in added), "<= 5 %")
    med = [per_round(k) for k in added]
    row("  % per round: median", *(col(v[len(v) // 2] if v else None, "%.1f %%") for v in med))
    row("  % per round: lowest .. highest",
        *("%+.0f..%+.0f" % (v[0], v[-1]) if v else "-" for v in med))
    row("  of which user, ms/track", *(col(1000 * (user[k] - user["audio"]), "%.1f") for k in added))
    row("  of which sys, ms/track", *(col(1000 * (sys_[k] - sys_["audio"]), "%.1f") for k in added))
    row("children CPU / the plain loop's (whole process)", col(kids["tf1"] / loop_whole, "%.2f"),
        col(kids["tf2"] / loop_whole, "%.2f"))
    idle = of("idle-thread")
    if idle:
        total = sum(r["us_per_s"] for r in idle)
        label = {"do_epoll_wait": "event loop", "poll_schedule_timeout": "supervisor",
                 "futex": "pool worker", "0": "on CPU"}

        def who(wchan):
            return next((v for k, v in label.items() if wchan.startswith(k)), wchan)
        busy = sorted((r for r in idle if r["us_per_s"] >= 1), key=lambda r: -r["us_per_s"])
        row("host CPU while a child works, ms per s", "%.2f" % (total / 1000))
        print("  %-46s (%s)" % ("", ", ".join("%s %.2f" % (who(r["wchan"]), r["us_per_s"] / 1000)
                                            for r in busy)))
        pace = 1 / rate("tf1")
        row("  that, per track at tf w1's pace, ms/track", "%.2f" % (total / 1000 * pace),
            "", "(%.1f %% of the audio chain)" % (100 * total / 1e6 * pace / audio))
    print()
    print("  peak RSS of the wiggly process (VmHWM), 4 tracks in flight"
          " (transform.workers 2 x max_in_flight 2):")
    for kind, what in (("rss-short", "4 x 3.5-min tracks"), ("rss-long", "4 x 60-min tracks")):
        for r in of(kind):
            row("  " + what, "%.1f MiB" % (r["vmhwm_kib"] / 1024), "",
                "<= 32 MiB, flat   (run %.1f s)" % r["wall_s"])
    methods = sorted({r["method"] for r in runs if "method" in r})
    print("\n  (own CPU and VmHWM read at exit by bench/own_usage, method %s)" % "/".join(methods))


def main(argv):
    if len(argv) >= 2 and argv[0] == "serve":
        sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
        import wiggly_transform
        kind = argv[1]
        fn = {"copy": _copy, "touch": _touch}.get(kind)
        if kind == "sleep" and len(argv) == 3:
            fn = _sleeper(float(argv[2]))
        if fn is None:
            sys.exit("tf_bench.py: serve copy|touch|sleep S")
        wiggly_transform.run(fn, name="bench-" + kind, version="1")
    elif len(argv) == 5 and argv[0] == "report":
        report(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    elif len(argv) >= 3 and argv[0] == "loop":
        loop(int(argv[1]), argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
