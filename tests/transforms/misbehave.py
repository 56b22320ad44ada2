#!/usr/bin/env python3
"""misbehave.py: a deliberately bad transform for tests/it_transform.c.

It speaks protocol v1 (docs/transforms.md) directly, with the standard
library and NumPy only (not the SDK: it tests the host). How it behaves is
chosen per track by the element's last path component:

  crash-*    os._exit(3) mid-track (after writing half an output) on
             attempt 1; succeeds on later attempts
  poison*    os._exit(3) mid-track on every attempt
  hang*      forks a grandchild (same command line, so it carries the
             marker), both ignore SIGTERM and sleep forever
  garbage*   writes a line that is not JSON on fd 4 on attempt 1;
             succeeds on later attempts
  flood*     prints 100000 lines to stdout, then succeeds
  noout*     says done without writing any output
  perm*      replies a non-retryable error
  flaky*     replies a retryable error on attempt 1, succeeds on attempt 2
  slow*      sleeps params["slow_s"] seconds (default 60), then succeeds
  anything else succeeds

and per process by its arguments (the hello comes before any request, so
these cannot be params):

  --marker M           ignored: lets a test find this process in /proc
  --startup-delay S    sleep S seconds before the hello
  --no-hello           never say hello
  --protocol N         say protocol N in the hello

Success writes, for the track's audio (frames, channels) float32:
  outputs["stats"]     .npy, float64, shape (channels, 2): per-channel mean
                       and RMS, computed in float64
  outputs["summary"]   JSON: element, frames, channels, rate, attempt, pid,
                       worker, params and a nonce (so a rewrite shows)
and replies done with features {"misbehave_frames": frames,
"misbehave_rms0": rms of channel 0}.

Every request is announced on stdout ("misbehave: <element> attempt <k>
pid <pid>"), so a test can see in wiggly's log that a track reached a child.
"""
import json
import os
import signal
import sys
import time

import numpy as np


def log(text):
    print("misbehave: " + text, flush=True)


def send(wf, obj):
    wf.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())


def sleep_forever():
    while True:
        time.sleep(3600)


def write_outputs(req, attempt):
    audio = np.load(req["audio"], mmap_mode="r")
    frames, channels = int(req["frames"]), int(req["channels"])
    if audio.dtype != np.dtype("<f4") or audio.shape != (frames, channels):
        return "audio %s has dtype %s shape %s; the request says (%d, %d) <f4" % (
            req["audio"], audio.dtype, audio.shape, frames, channels)
    x = np.asarray(audio, dtype=np.float64)
    mean = x.mean(axis=0)
    rms = np.sqrt((x * x).mean(axis=0))
    outs = req["outputs"]
    # np.save(path) would append ".npy" to the host's temporary name.
    with open(outs["stats"], "wb") as f:
        np.save(f, np.stack([mean, rms], axis=1))
    summary = {
        "element": req["element"],
        "frames": frames,
        "channels": channels,
        "rate": int(req["rate"]),
        "attempt": attempt,
        "pid": os.getpid(),
        "worker": os.environ.get("WIGGLY_WORKER"),
        "protocol_env": os.environ.get("WIGGLY_TRANSFORM_PROTOCOL"),
        "params": req.get("params"),
        "nonce": time.time_ns(),
    }
    with open(outs["summary"], "w") as f:
        json.dump(summary, f)
    return {"misbehave_frames": frames, "misbehave_rms0": float(rms[0])}


def handle(wf, req):
    rid, element = req["id"], req["element"]
    attempt = int(req.get("attempt", 1))
    params = req.get("params") or {}
    kind = element.rsplit("/", 1)[-1]
    log("%s attempt %d pid %d" % (element, attempt, os.getpid()))
    if kind.startswith("poison") or (kind.startswith("crash-") and attempt == 1):
        with open(req["outputs"]["stats"], "wb") as f:
            f.write(b"\x93NUMPY half")
        time.sleep(0.3)
        os._exit(3)
    if kind.startswith("hang"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pid = os.fork()
        if pid == 0:
            sleep_forever()
        log("hang: grandchild pid %d" % pid)
        sleep_forever()
    if kind.startswith("garbage") and attempt == 1:
        wf.write(b"this is not JSON {\n")
        sleep_forever()  # the host kills the child
    if kind.startswith("flood"):
        out = sys.stdout
        for i in range(100000):
            out.write("flood line %d of %s\n" % (i, element))
        out.flush()
    if kind.startswith("noout"):
        send(wf, {"type": "done", "id": rid})
        return
    if kind.startswith("perm"):
        send(wf, {"type": "error", "id": rid, "retryable": False,
                  "message": "misbehave: %s is permanently bad" % element})
        return
    if kind.startswith("flaky") and attempt == 1:
        send(wf, {"type": "error", "id": rid, "retryable": True,
                  "message": "misbehave: %s fails on attempt 1" % element})
        return
    if kind.startswith("slow"):
        time.sleep(float(params.get("slow_s", 60)))
    result = write_outputs(req, attempt)
    if isinstance(result, str):
        send(wf, {"type": "error", "id": rid, "retryable": False, "message": result})
    else:
        send(wf, {"type": "done", "id": rid, "features": result})


def main():
    args = sys.argv[1:]
    protocol, delay, hello = 1, 0.0, True
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--marker":
            i += 1
        elif a == "--startup-delay":
            i += 1
            delay = float(args[i])
        elif a == "--protocol":
            i += 1
            protocol = int(args[i])
        elif a == "--no-hello":
            hello = False
        else:
            sys.exit("misbehave: unknown argument " + a)
        i += 1
    rf = os.fdopen(3, "rb")
    wf = os.fdopen(4, "wb", buffering=0)
    if delay > 0:
        log("sleeping %g s before hello" % delay)
        time.sleep(delay)
    if not hello:
        log("never saying hello")
        sleep_forever()
    send(wf, {"type": "hello", "protocol": protocol, "name": "misbehave", "version": "1"})
    for line in rf:  # EOF on fd 3: wiggly asks us to exit
        handle(wf, json.loads(line))
    log("fd 3 closed, exiting")


if __name__ == "__main__":
    main()
