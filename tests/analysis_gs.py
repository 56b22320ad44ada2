#!/usr/bin/env python3
"""Analysis arrays and the picture end to end on gs:// (docs/analysis.md):
a real `wiggly run` on the official Pub/Sub emulator and wiggly-gcs-emulator.

Two tracks (music 48 kHz stereo, a sweep 44.1 kHz stereo) are published by
ID; the job writes a 32-bit float WAV at 16 kHz mono, the features JSON, a
log-mel dB array, an MFCC array and a picture. Checked:
- every object lands; the arrays, downloaded from the emulator, match
  torchaudio in float64 on the WAV's samples (tests/analysis_ref.py's
  references and tolerances: mel dB within 0.01 dB where within 80 dB of the
  maximum, MFCC within 0.01, identical shapes); the PNG has the documented
  size;
- a second publish of both IDs does no work: every object keeps its
  generation (skip-completed counts the arrays and the picture);
- a deleted array is redone on the next publish, equal byte for byte to the
  first, and every other object keeps its generation.
Completion is seen on the job's output topic (a skipped track is published
there too). Exit 77 (skipped) without the Pub/Sub emulator, Java or torchaudio.
    analysis_gs.py WIGGLY GCS_EMULATOR WORKDIR"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analysis_ref as R  # noqa: E402  (exits 77 without torchaudio)

W, EMU, D = sys.argv[1], sys.argv[2], sys.argv[3]
LIMIT = 120  # seconds any one wait may take before the test gives up (a hang guard)
N_FFT, HOP, N_MELS, N_MFCC, RATE = 1024, 256, 128, 13, 16000


def pubsub_script():
    env = os.environ.get("WIGGLY_PUBSUB_EMULATOR")
    if env:
        return env
    r = subprocess.run(["dpkg", "-L", "google-cloud-cli-pubsub-emulator"], capture_output=True,
                       text=True)
    for line in r.stdout.splitlines():
        if line.endswith("/bin/cloud-pubsub-emulator"):
            return line
    return None


script = pubsub_script()
if not script or not os.access(script, os.X_OK) or not shutil.which("java"):
    print("skipped: the Pub/Sub emulator (google-cloud-cli-pubsub-emulator) or Java is missing")
    sys.exit(77)
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)
procs = []


def p(name):
    return os.path.join(D, name)


def http(method, url, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ok(method, url, **kw):
    code, body = http(method, url, **kw)
    assert 200 <= code < 300, "%s %s: %d %s" % (method, url, code, body[:300])
    return json.loads(body) if body and body[:1] == b"{" else body


def start(args, log, **kw):
    # Own process group: the emulator's script starts Java below it.
    pr = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                          start_new_session=True, **kw)
    procs.append(pr)
    return pr


def stop(pr, sig=signal.SIGTERM):
    if pr.poll() is None:
        os.killpg(pr.pid, sig)
    try:
        return pr.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(pr.pid, signal.SIGKILL)
        return pr.wait()


def wait_for(what, pred):
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() - t0 > LIMIT:
            raise SystemExit("FAIL: no %s after %d s" % (what, LIMIT))
        time.sleep(0.2)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    # The emulators: wiggly-gcs-emulator on an ephemeral port, the official
    # Pub/Sub emulator on a free one.
    start([EMU, "--root", p("gcs"), "--port", "0", "--log", p("emu.log")], p("emu.out"))
    def gcs_url():
        words = open(p("emu.out")).read().split()
        return words[words.index("on") + 1] if "listening" in words else None
    gcs = wait_for("GCS emulator", gcs_url)
    port = free_port()
    start([script, "--host=127.0.0.1", "--port=%d" % port, "--data-dir=" + p("ps")], p("ps.log"))
    ps = "http://127.0.0.1:%d/v1/projects/p" % port

    def ps_up():
        try:
            return http("GET", ps + "/topics")[0] == 200
        except OSError:
            return False
    wait_for("Pub/Sub emulator", ps_up)
    for t in ("an-in", "an-out"):
        ok("PUT", "%s/topics/%s" % (ps, t), body={})
        ok("PUT", "%s/subscriptions/%s-sub" % (ps, t),
           body={"topic": "projects/p/topics/" + t, "ackDeadlineSeconds": 20})
    ok("POST", gcs + "/storage/v1/b?project=p", body={"name": "bkt"})
    for e, sig, rate in (("a", "music", 48000), ("b", "sweep", 44100)):
        R.WIGGLY = W
        R.run("gen", p(e + ".flac"), "--signal", sig, "--seconds", "4", "--rate", str(rate),
              "--channels", "2", "--seed", "5")
        ok("POST", gcs + "/upload/storage/v1/b/bkt/o?uploadType=media&name=in/%s.flac" % e,
           raw=open(p(e + ".flac"), "rb").read(), ctype="audio/flac")

    job = {"job": "angs", "project": "p",
           "events": {"subscription": "projects/p/subscriptions/an-in-sub"},
           "input": {"location": "gs://bkt/in/", "suffix": ".flac"},
           "output": {"location": "gs://bkt/out/", "suffix": ".wav",
                      "topics": ["projects/p/topics/an-out"]},
           "steps": {"channels": "mono", "rate": RATE, "format": "wav", "bits": 32},
           "features": {"enabled": True},
           "analysis": {"location": "gs://bkt/feat/",
                        "arrays": {"logmel": {"kind": "mel", "n_fft": N_FFT, "hop": HOP,
                                              "n_mels": N_MELS, "db": True},
                                   "mfcc": {"kind": "mfcc", "n_fft": N_FFT, "hop": HOP,
                                            "n_mels": N_MELS, "n_mfcc": N_MFCC}},
                        "plot": {"suffix": ".png"}},
           "runtime": {"workers": 1, "ack_deadline_s": 20, "shutdown_grace_s": 10,
                       "temp_dir": p("tmp")},
           "listen": ""}
    os.makedirs(p("tmp"))
    json.dump(job, open(p("job.json"), "w"))
    env = dict(os.environ, PUBSUB_EMULATOR_HOST="127.0.0.1:%d" % port, STORAGE_EMULATOR_HOST=gcs)
    run = start([W, "run", "-c", p("job.json")], p("run.log"), env=env)

    def publish_and_wait(*ids):
        ok("POST", ps + "/topics/an-in:publish",
           body={"messages": [{"data": base64.b64encode(e.encode()).decode()} for e in ids]})
        seen = []

        def pulled():
            assert run.poll() is None, "wiggly run exited: " + open(p("run.log")).read()[-2000:]
            got = ok("POST", ps + "/subscriptions/an-out-sub:pull",
                     body={"maxMessages": 10, "returnImmediately": True})
            msgs = got.get("receivedMessages", []) if isinstance(got, dict) else []
            if msgs:
                ok("POST", ps + "/subscriptions/an-out-sub:acknowledge",
                   body={"ackIds": [m["ackId"] for m in msgs]})
            for m in msgs:
                data = base64.b64decode(m["message"]["data"]).decode()
                seen.append(json.loads(data)["element"] if data.startswith("{") else data.strip())
            return sorted(seen) == sorted(ids)
        wait_for("output message for %s" % (ids,), pulled)

    def objects():
        got = ok("GET", gcs + "/storage/v1/b/bkt/o?prefix=" + urllib.parse.quote("out/"))
        items = got.get("items", [])
        got = ok("GET", gcs + "/storage/v1/b/bkt/o?prefix=" + urllib.parse.quote("feat/"))
        items += got.get("items", [])
        return {o["name"]: o["generation"] for o in items}

    def download(name, to):
        body = ok("GET", "%s/storage/v1/b/bkt/o/%s?alt=media" % (gcs, urllib.parse.quote(name, safe="")))
        with open(to, "wb") as f:
            f.write(body)
        return body

    fails = []

    def emu_lines():
        return open(p("emu.log")).read().splitlines()

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            fails.append(what)

    publish_and_wait("a", "b")
    gen1 = objects()
    want = sorted("%s/%s%s" % (d, e, s) for e in "ab"
                  for d, s in (("out", ".wav"), ("out", ".json"), ("feat", ".logmel.npy"),
                               ("feat", ".mfcc.npy"), ("feat", ".png")))
    check(sorted(gen1) == want, "objects after the first publish: %s" % sorted(gen1))

    import numpy as np
    worst = {}
    for e in "ab":
        download("out/%s.wav" % e, p("%s.wav" % e))
        sr, x = R.read_float_wav(p("%s.wav" % e))
        check(sr == RATE, "%s.wav at %d Hz" % (e, sr))
        download("feat/%s.logmel.npy" % e, p(e + ".logmel.npy"))
        download("feat/%s.mfcc.npy" % e, p(e + ".mfcc.npy"))
        lm, mf = np.load(p(e + ".logmel.npy")), np.load(p(e + ".mfcc.npy"))
        frames = 1 + len(x) // HOP
        check(lm.shape == (frames, N_MELS) and mf.shape == (frames, N_MFCC),
              "%s shapes %s %s, want (%d, %d) (%d, %d)" % (e, lm.shape, mf.shape, frames, N_MELS,
                                                           frames, N_MFCC))
        worst["logmel"] = max(worst.get("logmel", 0),
                              R.check_db("gs %s logmel" % e, lm,
                                         R.ref_logmel(x, RATE, N_FFT, HOP, N_MELS)) or 0)
        worst["mfcc"] = max(worst.get("mfcc", 0),
                            R.check_abs("gs %s mfcc" % e, mf,
                                        R.ref_mfcc(x, RATE, N_FFT, HOP, N_MELS, N_MFCC)) or 0)
        png = download("feat/%s.png" % e, p(e + ".png"))
        w, h = struct.unpack(">II", png[16:24])
        check(png[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1 + len(x) // 512 + 48, 128 + 28),
              "%s.png %dx%d" % (e, w, h))
    for f in R.failures:
        check(False, f)
    print("arrays vs torchaudio, worst: logmel %.2e dB, mfcc %.2e" % (worst["logmel"], worst["mfcc"]))

    # Create-only uploads keep an object's generation even when a track is
    # redone, so "no work" is also read from the emulator's request log (no
    # input fetched, nothing uploaded) and from wiggly's outcomes.
    mark = emu_lines()
    publish_and_wait("a", "b")
    gen2 = objects()
    check(gen2 == gen1, "second publish: every object keeps its generation")
    new = emu_lines()[len(mark):]
    check(not [l for l in new if "/upload/" in l or "in%2F" in l and "alt=media" in l],
          "second publish: no input fetched, no upload (%d requests, all stats)" % len(new))
    outcomes = [json.loads(l) for l in open(p("run.log")) if '"outcome"' in l]
    check(sorted((o["element"], o["outcome"]) for o in outcomes[2:]) == [("a", "skipped"), ("b", "skipped")],
          "second publish: both tracks skipped")

    ok("DELETE", gcs + "/storage/v1/b/bkt/o/" + urllib.parse.quote("feat/b.mfcc.npy", safe=""))
    mark = emu_lines()
    publish_and_wait("b")
    stored = [l.split("name=")[1].split("&")[0] for l in emu_lines()[len(mark):]
              if "/upload/" in l and l.split()[2] == "200"]
    check(stored == ["feat%2Fb.mfcc.npy"], "redo: only the deleted array is stored (%s)" % stored)
    gen3 = objects()
    redone = "feat/b.mfcc.npy"
    check(redone in gen3 and gen3[redone] != gen1[redone], "the deleted array is back, a new generation")
    check({k: v for k, v in gen3.items() if k != redone} == {k: v for k, v in gen1.items() if k != redone},
          "every other object keeps its generation")
    again = download(redone, p("b.mfcc.again.npy"))
    check(again == open(p("b.mfcc.npy"), "rb").read(), "the redone array equals the first byte for byte")

    rc = stop(run)
    check(rc == 0, "wiggly run exits 0 on SIGTERM (%s)" % rc)
    print("analysis_gs: %d failed" % len(fails) if fails else "analysis_gs: ok")
    return 1 if fails else 0


try:
    status = main()
finally:
    for pr in reversed(procs):
        stop(pr)
sys.exit(status)
