"""test_transform_sdk.py: the Python transform helper (sdk/python/
wiggly_transform.py) and the examples (examples/transforms/), each run as a
real child process by tests/support/tf_driver.py, which plays wiggly's side
of protocol v1 (docs/transforms.md) and checks every reply line.

    python3 tests/test_transform_sdk.py [SdkTests | ExamplesTests]

Exit 77 (ctest: skipped) when NumPy is missing; the torch example is skipped,
with the reason, when torch cannot be imported.
"""

import json
import os
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SDK = os.path.join(ROOT, "sdk", "python")
sys.path.insert(0, os.path.join(HERE, "support"))

try:
    import numpy as np
except ImportError:
    print("test_transform_sdk: NumPy is not installed for %s (Debian: python3-numpy,"
          " scripts/deps.sh): skipping" % sys.executable, file=sys.stderr)
    sys.exit(77)

import tf_driver  # noqa: E402
from tf_driver import Transform, write_npy  # noqa: E402


class Case(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="tf-sdk-")
        self.dir = self.tmp.name
        self.children = []

    def tearDown(self):
        for t in self.children:
            t.kill()
        self.tmp.cleanup()

    def script(self, body, name="t.py"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(body))
        return path

    def start(self, path, **kw):
        env = {"PYTHONPATH": SDK}
        env.update(kw.pop("env", {}))
        t = Transform([sys.executable, path], env=env, scratch=self.dir, **kw)
        self.children.append(t)
        return t

    def track(self, audio, name="in.npy"):
        path = os.path.join(self.dir, name)
        a = write_npy(path, audio)
        return path, a

    def outputs(self, **suffixes):
        return tf_driver.host_outputs(self.dir, suffixes)

    def finish(self, t, timeout=5):
        t.close()
        t0 = time.monotonic()
        rc = t.wait(timeout=timeout)
        self.assertEqual(rc, 0, "exit status after EOF; stderr:\n" + t.stderr())
        self.assertLess(time.monotonic() - t0, timeout)
        return rc


RMS = """
    import os, sys
    import numpy as np
    import wiggly_transform

    def rms(audio, rate, element, params, outputs):
        print("processing", element, "at", rate)        # user output: stdout
        print("to stderr", file=sys.stderr)
        per_channel = np.sqrt(np.mean(np.square(audio, dtype=np.float64), axis=0))
        np.save(outputs["rms"], per_channel.astype(np.float32))
        return {"rms": per_channel,                       # an ndarray
                "peak": np.abs(audio).max(),              # a NumPy float32 scalar
                "frames": audio.shape[0], "gain": params.get("gain"),
                "element": element, "worker": os.environ["WIGGLY_WORKER"]}

    wiggly_transform.run(rms, name="rms", version="2.1")
"""


class SdkTests(Case):
    def test_hello_and_setup_before_it(self):
        marker = os.path.join(self.dir, "setup-ran")
        path = self.script("""
            import os, time, wiggly_transform
            def setup():
                time.sleep(0.3)                  # a model loading slowly
                open(os.path.join(os.environ["WIGGLY_SCRATCH"], "setup-ran"), "w").close()
                print("setup done")
            wiggly_transform.run(lambda *a: None, name="slow", version="0.1", setup=setup)
        """)
        t = self.start(path)
        h = t.hello(timeout=10)
        self.assertTrue(os.path.exists(marker), "hello arrived before setup() finished")
        self.assertEqual(h, {"type": "hello", "protocol": 1, "name": "slow", "version": "0.1"})
        self.finish(t)
        self.assertIn("setup done", t.lines["stdout"])

    def test_done_with_features_computed_right(self):
        t = self.start(self.script(RMS), worker=3)
        self.assertEqual(t.hello(), {"type": "hello", "protocol": 1, "name": "rms",
                                     "version": "2.1"})
        rng = np.random.default_rng(1)
        path, a = self.track(rng.uniform(-0.8, 0.8, size=(4000, 2)))
        outs = self.outputs(rms=".rms.npy")
        rid = t.send("track-1", path, 16000, 2, 4000, outs, {"gain": 3})
        r = t.reply()
        self.assertEqual(r["type"], "done", r)
        self.assertEqual(r["id"], rid)
        want = np.sqrt(np.mean(a.astype(np.float64) ** 2, axis=0))
        f = r["features"]
        np.testing.assert_allclose(f["rms"], want, rtol=1e-12)
        self.assertAlmostEqual(f["peak"], float(np.abs(a).max()), places=7)
        self.assertEqual((f["frames"], f["gain"], f["element"], f["worker"]),
                         (4000, 3, "track-1", "3"))
        saved = np.load(outs["rms"])
        self.assertEqual((saved.dtype, saved.shape), (np.float32, (2,)))
        np.testing.assert_allclose(saved, want, rtol=1e-6)
        self.finish(t)
        # print() went to stdout and stderr, never onto fd 4 (the driver
        # parsed every fd 4 line as a protocol reply).
        self.assertIn("processing track-1 at 16000", t.lines["stdout"])
        self.assertIn("to stderr", t.lines["stderr"])

    def test_np_save_to_a_path_without_npy_lands_on_that_path(self):
        t = self.start(self.script("""
            import numpy as np, wiggly_transform
            def process(audio, rate, element, params, outputs):
                np.save(outputs["a"], np.arange(3, dtype=np.float32))   # NumPy adds .npy
                with open(outputs["b"], "wb") as f:                     # no suffix added
                    np.save(f, np.ones(2, dtype=np.float32))
            wiggly_transform.run(process, name="save", version="1")
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        outs = self.outputs(a=".a.npy", b=".b.npy")
        self.assertFalse(outs["a"].endswith(".npy"))
        t.send("e1", path, 8000, 1, 10, outs)
        self.assertEqual(t.reply()["type"], "done")
        np.testing.assert_array_equal(np.load(outs["a"]), [0, 1, 2])
        np.testing.assert_array_equal(np.load(outs["b"]), [1, 1])
        self.assertFalse(os.path.exists(outs["a"] + ".npy"))
        self.finish(t)
        self.assertIn("NumPy added .npy", t.stderr())

    def test_uncaught_exception_is_retryable_with_traceback(self):
        t = self.start(self.script("""
            import wiggly_transform
            def inner(element):
                raise ValueError("boom on " + element)
            def process(audio, rate, element, params, outputs):
                inner(element)
            wiggly_transform.run(process, name="bad", version="1")
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        t.send("e1", path, 8000, 1, 10, {})
        r = t.reply()
        self.assertEqual((r["type"], r["retryable"]), ("error", True), r)
        m = r["message"]
        self.assertTrue(m.startswith("ValueError: boom on e1\n"), m)
        self.assertIn("Traceback (most recent call last)", m)
        self.assertIn("in inner", m)
        self.assertIn("in process", m)
        # The child goes on serving after an error.
        t.send("e2", path, 8000, 1, 10, {})
        self.assertIn("boom on e2", t.reply()["message"])
        self.finish(t)

    def test_permanent_is_not_retryable(self):
        t = self.start(self.script("""
            import wiggly_transform
            def process(audio, rate, element, params, outputs):
                raise wiggly_transform.Permanent("unsupported rate %d" % rate)
            wiggly_transform.run(process, name="perm", version="1")
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        t.send("e1", path, 44100, 1, 10, {})
        r = t.reply()
        self.assertEqual(r, {"type": "error", "id": "1", "retryable": False,
                             "message": "unsupported rate 44100"})
        self.finish(t)

    def test_bad_results_become_errors(self):
        t = self.start(self.script("""
            import wiggly_transform
            def process(audio, rate, element, params, outputs):
                return {"nan": float("nan")} if element == "nan" else \\
                       {"obj": object()} if element == "obj" else \\
                       {"big": "x" * (1 << 20)} if element == "big" else \\
                       [1, 2] if element == "list" else None
            wiggly_transform.run(process, name="bad", version="1")
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        for e, want in (("nan", "not JSON"), ("obj", "not JSON"), ("big", "at most 1048576"),
                        ("list", "returned a list")):
            t.send(e, path, 8000, 1, 10, {})
            r = t.reply()
            self.assertEqual((r["type"], r["retryable"]), ("error", False), r)
            self.assertIn(want, r["message"])
        t.send("none", path, 8000, 1, 10, {})
        self.assertEqual(t.reply(), {"type": "done", "id": "5"})
        # An audio file that is not there: retryable, with the reason.
        t.send("gone", os.path.join(self.dir, "missing.npy"), 8000, 1, 10, {})
        r = t.reply()
        self.assertEqual((r["type"], r["retryable"]), ("error", True), r)
        self.assertIn("missing.npy", r["message"])
        self.finish(t)

    def test_long_traceback_is_cut_keeping_its_end(self):
        t = self.start(self.script("""
            import wiggly_transform
            def process(audio, rate, element, params, outputs):
                raise RuntimeError("start " + "y" * 300000 + " the end")
            wiggly_transform.run(process, name="long", version="1")
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        t.send("e1", path, 8000, 1, 10, {})
        r = t.reply()
        m = r["message"]
        self.assertTrue(r["retryable"])
        self.assertLessEqual(len(m), 64 * 1024)
        self.assertTrue(m.startswith("RuntimeError: start yyy"), m[:80])
        self.assertIn("characters cut", m)
        self.assertTrue(m.rstrip("\n").endswith(" the end"), m[-80:])
        self.finish(t)

    def test_several_requests_in_flight_one_at_a_time(self):
        t = self.start(self.script(RMS))
        t.hello()
        path, _ = self.track(np.ones((100, 1)) * 0.5)
        ids = [t.send("e%d" % i, path, 8000, 1, 100, self.outputs(rms=".%d.npy" % i))
               for i in range(5)]
        got = [t.reply()["id"] for _ in ids]
        self.assertEqual(sorted(got), sorted(ids))
        self.finish(t)

    def test_batch_answers_every_id_once(self):
        t = self.start(self.script("""
            import numpy as np, wiggly_transform
            def batch(items):
                print("batch", len(items))
                out = []
                for it in items:
                    if it["element"].endswith("3"):
                        out.append(wiggly_transform.Permanent("no 3s"))
                    elif it["element"].endswith("5"):
                        out.append(KeyError("five"))
                    else:
                        np.save(it["outputs"]["mean"], np.float32(it["audio"].mean()))
                        out.append({"mean": it["audio"].mean(), "path": it["audio_path"]})
                return out
            wiggly_transform.run(None, name="batched", version="1", batch=batch, max_batch=4)
        """))
        t.hello()
        means = {}
        reqs = []
        for i in range(10):
            path, a = self.track(np.full((50, 1), i / 10.0), name="in%d.npy" % i)
            means[str(i + 1)] = (float(a.mean()), path)
            reqs.append(dict(element="e%d" % i, audio=path, rate=8000, channels=1, frames=50,
                             outputs={"mean": os.path.join(self.dir, "m%d.npy" % i)}))
        t.send_many(reqs)  # in one write, so the child finds several waiting
        replies = {}
        for _ in range(10):
            r = t.reply()  # the driver refuses a second reply to one id
            replies[r["id"]] = r
        self.assertEqual(sorted(replies), sorted(means))
        for rid, r in replies.items():
            e = int(rid) - 1
            if e == 3:
                self.assertEqual((r["type"], r["retryable"], r["message"]),
                                 ("error", False, "no 3s"))
            elif e == 5:
                self.assertEqual((r["type"], r["retryable"]), ("error", True))
                self.assertIn("KeyError: 'five'", r["message"])
            else:
                self.assertEqual(r["type"], "done", r)
                self.assertAlmostEqual(r["features"]["mean"], means[rid][0], places=6)
                self.assertEqual(r["features"]["path"], means[rid][1])
        self.finish(t)
        sizes = [int(line.split()[1]) for line in t.lines["stdout"] if line.startswith("batch ")]
        self.assertEqual(sum(sizes), 10)
        self.assertLessEqual(max(sizes), 4)
        self.assertGreater(max(sizes), 1, "requests waiting together were not batched: %s"
                           % sizes)

    def test_batch_function_failing_fails_the_whole_batch(self):
        t = self.start(self.script("""
            import wiggly_transform
            def batch(items):
                return [None] if len(items) > 1 else 1 / 0
            wiggly_transform.run(None, name="b", version="1", batch=batch, max_batch=8)
        """))
        t.hello()
        path, _ = self.track(np.zeros((10, 1)))
        t.send_many([dict(element="e%d" % i, audio=path, rate=8000, channels=1, frames=10,
                          outputs={}) for i in range(3)])
        got = [t.reply() for _ in range(3)]
        self.assertEqual(sorted(r["id"] for r in got), ["1", "2", "3"])
        for r in got:
            self.assertEqual((r["type"], r["retryable"]), ("error", True), r)
        self.finish(t)

    def test_eof_exits_zero_promptly(self):
        t = self.start(self.script(RMS))
        t.hello()
        self.finish(t, timeout=3)

    def test_refuses_to_run_outside_wiggly(self):
        path = self.script(RMS)
        cases = [
            (dict(protocol_env=None), "WIGGLY_TRANSFORM_PROTOCOL is not set"),
            (dict(protocol_env="2"), "WIGGLY_TRANSFORM_PROTOCOL is '2'"),
            (dict(with_fds=False), "fd 3 is not open"),
            (dict(with_fds=False, leak=True), "fd 3 is open but not a socket"),
        ]
        for kw, want in cases:
            if kw.pop("leak", False):  # a file left open on fd 3 and 4 is not the channel
                t = self.start(self.script("""
                    import os, sys
                    fd = os.open(%r, os.O_RDONLY)
                    os.dup2(fd, 3)
                    os.dup2(fd, 4)
                    os.set_inheritable(3, True)   # dup2(3, 3) when open() gave 3
                    os.execv(sys.executable, [sys.executable, %r])
                """ % (path, path), name="leak.py"), **kw)
            else:
                t = self.start(path, **kw)
            rc = t.wait(timeout=10)
            self.assertEqual(rc, 2, "%s: stderr:\n%s" % (kw, t.stderr()))
            self.assertIn(want, t.stderr())
            self.assertIn("wiggly starts it", t.stderr())
            self.assertIn("wiggly test -c JOB.json FILE", t.stderr())
        # And from a shell, with nothing set up at all.
        import subprocess

        env = dict(os.environ, PYTHONPATH=SDK)
        env.pop("WIGGLY_TRANSFORM_PROTOCOL", None)
        p = subprocess.run([sys.executable, path], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("docs/transforms.md", p.stderr)


def example_job(name):
    with open(os.path.join(ROOT, "examples", "transforms", name, "job.json")) as f:
        return json.load(f)


def hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1))


def centroid_reference(mono, rate, n_fft, hop):
    """Frame by frame, written independently of the example."""
    k = np.arange(n_fft // 2 + 1) * rate / n_fft
    out = []
    for s in range(0, len(mono) - n_fft + 1, hop):
        mag = np.abs(np.fft.rfft(mono[s:s + n_fft] * hann(n_fft)))
        out.append(float((k * mag).sum() / mag.sum()) if mag.sum() > 0 else 0.0)
    return np.array(out)


class ExamplesTests(Case):
    def run_example(self, name, audio, rate, params=None):
        """One track through the example's transform, started as its job.json
        says (command, env, params, outputs) from the repository root."""
        job = example_job(name)
        tf = job["transform"]
        path, a = self.track(audio)
        outs = self.outputs(**tf["outputs"])
        t = Transform(tf["command"], env=tf.get("env", {}), cwd=ROOT, scratch=self.dir,
                      job=job["job"])
        self.children.append(t)
        h = t.hello(timeout=tf.get("startup_timeout_s", 120))
        t.send("track", path, rate, a.shape[1], a.shape[0], outs,
               tf.get("params", {}) if params is None else params)
        r = t.reply(timeout=120)
        self.finish(t)
        return h, r, outs, a

    def test_centroid_sine_is_its_frequency(self):
        job = example_job("centroid")
        self.assertEqual(job["steps"], {"channels": "mono", "rate": 22050, "quality": "high"})
        rate = job["steps"]["rate"]
        x = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(3 * rate) / rate)
        h, r, outs, a = self.run_example("centroid", x, rate)
        self.assertEqual((h["name"], h["version"]), ("centroid", "1.0"))
        self.assertEqual(r["type"], "done", r)
        c = np.load(outs["centroid"])
        frames = 1 + (len(x) - 2048) // 512
        self.assertEqual((c.dtype, c.shape), (np.float32, (frames,)))
        self.assertTrue(np.all(np.abs(c - 1000.0) < 10.0), "centroids %s .. %s"
                        % (c.min(), c.max()))
        ref = centroid_reference(a[:, 0].astype(np.float64), rate, 2048, 512)
        np.testing.assert_allclose(c, ref, rtol=1e-5)
        with open(outs["summary"]) as f:
            summary = json.load(f)
        self.assertEqual(summary["frames"], frames)
        self.assertAlmostEqual(summary["mean_centroid_hz"], float(ref.mean()), places=3)
        self.assertEqual(r["features"], {"mean_centroid_hz": summary["mean_centroid_hz"]})

    def test_centroid_stereo_noise_params_and_silence(self):
        rate = 16000
        rng = np.random.default_rng(7)
        x = rng.normal(0, 0.2, size=(20000, 2))
        x[8000:12000] = 0.0  # silent frames have centroid 0
        h, r, outs, a = self.run_example("centroid", x, rate, {"n_fft": 1024, "hop": 256})
        self.assertEqual(r["type"], "done", r)
        c = np.load(outs["centroid"])
        ref = centroid_reference(a.astype(np.float64).mean(axis=1), rate, 1024, 256)
        self.assertEqual(c.shape, ((20000 - 1024) // 256 + 1,))
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-3)
        self.assertTrue(np.any(c == 0.0))
        # White noise: the centroid sits near a quarter of the rate.
        self.assertLess(abs(float(np.median(c[c > 0])) - rate / 4), rate * 0.03)

    def test_centroid_short_track_and_bad_params(self):
        _, r, outs, _ = self.run_example("centroid", np.zeros((100, 1)), 22050)
        self.assertEqual(r["features"], {"mean_centroid_hz": 0.0})
        self.assertEqual(np.load(outs["centroid"]).shape, (0,))
        _, r, _, _ = self.run_example("centroid", np.zeros((100, 1)), 22050, {"hop": 0})
        self.assertEqual((r["type"], r["retryable"]), ("error", False), r)
        self.assertIn("params.hop", r["message"])

    def test_torch_embedding_is_deterministic(self):
        try:
            import torch  # noqa: F401
        except ImportError as e:
            self.skipTest("torch cannot be imported by %s (%s): Debian's python3-torch,"
                          " scripts/deps.sh" % (sys.executable, e))
        job = example_job("torch_embed")
        rate = job["steps"]["rate"]
        rng = np.random.default_rng(3)
        n = 5 * rate
        x = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(n) / rate) + rng.normal(0, 0.05, n)
        embs = []
        for _ in range(2):
            h, r, outs, _ = self.run_example("torch_embed", x, rate)
            self.assertEqual(r["type"], "done", r)
            e = np.load(outs["embedding"])
            self.assertEqual((e.dtype, e.shape), (np.float32, (32,)))
            self.assertTrue(np.all(np.isfinite(e)))
            self.assertAlmostEqual(r["features"]["embedding_norm"],
                                   float(np.linalg.norm(e)), places=4)
            embs.append(e)
        self.assertEqual(h["name"], "torch-embed")
        np.testing.assert_array_equal(embs[0], embs[1])
        self.assertGreater(float(np.abs(embs[0]).max()), 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
