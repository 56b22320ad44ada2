"""tf_driver: runs a transform the way wiggly does (docs/transforms.md,
protocol v1), for tests: a child in its own process group with stdin
/dev/null, stream sockets on fd 3 (requests) and fd 4 (replies), stdout and
stderr captured line by line, and every reply line checked against the
protocol as strictly as the host checks it.

As a module:
    t = Transform(["python3", "transform.py"], env={...})
    hello = t.hello()
    rid = t.send(element="t1", audio="/x.npy", rate=22050, channels=1,
                 frames=n, outputs={"centroid": "/o.npy"}, params={})
    reply = t.reply()           # {"type": "done", "id": rid, ...}
    t.close(); rc = t.wait()

As a program (tests/deploy/new.sh), one track through a job config's
transform:
    python3 tf_driver.py --job JOB.json [--cwd DIR] [--sine HZ] [--seconds S]
                         [--keep DIR]
prints the reply and the outputs written; exit 0 when the reply is done and
every declared output is non-empty.
"""

import argparse
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

MAX_LINE = 1 << 20


class ProtocolViolation(AssertionError):
    pass


def write_npy(path, audio):
    """Writes audio as wiggly does: .npy format 1.0, <f4, (frames, channels),
    C order."""
    import numpy as np

    a = np.ascontiguousarray(audio, dtype="<f4")
    if a.ndim == 1:
        a = a[:, None]
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=(1, 0), allow_pickle=False)
    return a


def host_outputs(directory, names):
    """Empty files for the declared outputs, named as wiggly names them
    (wiggly-out-XXXXXX: no suffix, so np.save(path) would add ".npy")."""
    outs = {}
    for name in names:
        fd, outs[name] = tempfile.mkstemp(prefix="wiggly-out-", dir=directory)
        os.close(fd)
    return outs


def _high_fd(fd):
    # Above every target of the child's dup2s, so none is clobbered.
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


class Transform:
    def __init__(self, argv, env=None, cwd=None, scratch=None, worker=0, job="test",
                 protocol_env="1", with_fds=True):
        self.argv = list(argv)
        if self.argv and self.argv[0] in ("python3", "python"):
            # The interpreter running the tests, which has NumPy: the first
            # python3 on PATH may be another one (pyenv, a venv) without it.
            self.argv[0] = sys.executable
        full_env = dict(os.environ)
        full_env.update(env or {})
        if protocol_env is None:
            full_env.pop("WIGGLY_TRANSFORM_PROTOCOL", None)
        else:
            full_env["WIGGLY_TRANSFORM_PROTOCOL"] = protocol_env
        if scratch:
            full_env["WIGGLY_SCRATCH"] = scratch
        full_env["WIGGLY_WORKER"] = str(worker)
        full_env["WIGGLY_JOB"] = job
        self.req, req_child = socket.socketpair()
        self.rep, rep_child = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        hi = [_high_fd(fd) for fd in (req_child.fileno(), rep_child.fileno(), out_w, err_w)]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, hi[2], 1),
            (os.POSIX_SPAWN_DUP2, hi[3], 2),
        ]
        if with_fds:
            actions += [(os.POSIX_SPAWN_DUP2, hi[0], 3), (os.POSIX_SPAWN_DUP2, hi[1], 4)]
        else:  # whatever the test runner left there (ctest does leave fd 3)
            actions += [(os.POSIX_SPAWN_CLOSE, 3), (os.POSIX_SPAWN_CLOSE, 4)]
        prog = self.argv[0]
        if cwd and "/" in prog and not os.path.isabs(prog):
            prog = os.path.join(cwd, prog)
        old = os.getcwd()
        try:
            if cwd:
                os.chdir(cwd)  # posix_spawn has no cwd action before 3.13
            spawn = os.posix_spawn if "/" in prog else os.posix_spawnp
            self.pid = spawn(prog, self.argv, full_env, file_actions=actions, setpgroup=0)
        finally:
            os.chdir(old)
            for fd in hi + [out_w, err_w]:
                os.close(fd)
            req_child.close()
            rep_child.close()
        self.lines = {"stdout": [], "stderr": []}
        self._readers = [
            threading.Thread(target=self._drain, args=(out_r, "stdout"), daemon=True),
            threading.Thread(target=self._drain, args=(err_r, "stderr"), daemon=True),
        ]
        for t in self._readers:
            t.start()
        self.buf = b""
        self.rc = None
        self.replies = []
        self.pending = set()
        self.next_id = 1

    def _drain(self, fd, name):
        with os.fdopen(fd, "rb") as f:
            for line in f:
                self.lines[name].append(line.decode("utf-8", "replace").rstrip("\n"))

    def stdout(self):
        return "\n".join(self.lines["stdout"])

    def stderr(self):
        return "\n".join(self.lines["stderr"])

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ProtocolViolation("a reply line longer than %d bytes" % MAX_LINE)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply line within %.1f s; stderr:\n%s"
                                   % (timeout, self.stderr()))
            ready, _, _ = select.select([self.rep], [], [], left)
            if not ready:
                continue
            data = self.rep.recv(1 << 16)
            if not data:
                raise EOFError("fd 4 closed (child exited?) with %d bytes pending; stderr:\n%s"
                               % (len(self.buf), self.stderr()))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        if len(line) > MAX_LINE:
            raise ProtocolViolation("a reply line of %d bytes" % len(line))
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ProtocolViolation("a reply line that is not JSON (%s): %r" % (e, line[:200]))
        if not isinstance(obj, dict):
            raise ProtocolViolation("a reply line that is not an object: %r" % line[:200])
        return obj

    def hello(self, timeout=60):
        h = self._line(timeout)
        if h.get("type") != "hello":
            raise ProtocolViolation("first line is not a hello: %r" % h)
        if h.get("protocol") != 1 or isinstance(h.get("protocol"), bool):
            raise ProtocolViolation("hello protocol %r" % h.get("protocol"))
        if not isinstance(h.get("name"), str) or not h["name"]:
            raise ProtocolViolation("hello name %r" % h.get("name"))
        if not isinstance(h.get("version"), str):
            raise ProtocolViolation("hello version %r" % h.get("version"))
        return h

    def send(self, element, audio, rate, channels, frames, outputs, params=None, attempt=1,
             rid=None):
        if rid is None:
            rid = str(self.next_id)
            self.next_id += 1
        req = {"type": "process", "id": rid, "element": element, "audio": audio, "rate": rate,
               "channels": channels, "frames": frames, "outputs": outputs,
               "params": params or {}, "attempt": attempt}
        self.pending.add(rid)
        self.req.sendall((json.dumps(req) + "\n").encode("utf-8"))
        return rid

    def send_many(self, requests):
        """Several requests (send()'s keyword arguments) in one write."""
        lines = []
        for kw in requests:
            rid = str(self.next_id)
            self.next_id += 1
            lines.append(json.dumps({"type": "process", "id": rid, "params": {}, "attempt": 1,
                                     **kw}))
            self.pending.add(rid)
        self.req.sendall(("\n".join(lines) + "\n").encode("utf-8"))

    def reply(self, timeout=60):
        r = self._line(timeout)
        t = r.get("type")
        if t == "hello":
            raise ProtocolViolation("a second hello")
        if t not in ("done", "error"):
            raise ProtocolViolation("unknown reply type %r" % t)
        if not isinstance(r.get("id"), str):
            raise ProtocolViolation("reply id %r is not a string" % r.get("id"))
        if r["id"] not in self.pending:
            raise ProtocolViolation("reply to unknown or answered id %r" % r["id"])
        self.pending.discard(r["id"])
        if t == "done" and "features" in r and not isinstance(r["features"], dict):
            raise ProtocolViolation("features is not an object: %r" % r["features"])
        if t == "error":
            if not isinstance(r.get("retryable"), bool):
                raise ProtocolViolation("error without boolean retryable: %r" % r)
            if not isinstance(r.get("message"), str):
                raise ProtocolViolation("error without string message: %r" % r)
        self.replies.append(r)
        return r

    def close(self):
        """EOF on fd 3: the child should exit."""
        try:
            self.req.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def wait(self, timeout=10):
        """The exit code (negative: killed by that signal); kills the group
        and raises TimeoutError if the child outlives timeout."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError("child %d still running %.1f s after EOF" % (self.pid, timeout))
            time.sleep(0.02)
        for t in self._readers:
            t.join(timeout=5)
        self.req.close()
        self.rep.close()
        return self.rc

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.rc is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.rc = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass


def run_job_once(job, cwd, sine_hz=1000.0, seconds=2.0, keep=None):
    """One generated track through JOB's transform; returns (reply, outputs
    dict name->path, stdout, stderr). The sine is at steps.rate (22050 when
    the job keeps the rate) and has the job's channel count (mono unless
    steps.channels is stereo or a number)."""
    import numpy as np

    with open(job) as f:
        cfg = json.load(f)
    tf = cfg["transform"]
    steps = cfg.get("steps", {})
    rate = steps.get("rate") or 22050
    ch = steps.get("channels", "mono")
    channels = 2 if ch == "stereo" else ch if isinstance(ch, int) else 1
    work = keep or tempfile.mkdtemp(prefix="tf-driver-")
    os.makedirs(work, exist_ok=True)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    sig = 0.5 * np.sin(2 * np.pi * sine_hz * t)
    audio = os.path.join(work, "in.npy")
    write_npy(audio, np.repeat(sig[:, None], channels, axis=1))
    outputs = host_outputs(work, tf["outputs"])
    env = {k: str(v) for k, v in tf.get("env", {}).items()}
    tr = Transform(tf["command"], env=env, cwd=cwd, scratch=work, job=cfg.get("job", "test"))
    try:
        tr.hello(timeout=tf.get("startup_timeout_s", 120))
        tr.send("track", audio, rate, channels, n, outputs, tf.get("params", {}))
        reply = tr.reply(timeout=tf.get("timeout_s", 300))
        tr.close()
        rc = tr.wait()
        if rc != 0:
            raise AssertionError("transform exited %s after EOF" % rc)
    finally:
        tr.kill()
    result = (reply, outputs, tr.stdout(), tr.stderr())
    if keep is None:
        sizes = {k: os.path.getsize(p) for k, p in outputs.items()}
        shutil.rmtree(work, ignore_errors=True)
        result = (reply, sizes, tr.stdout(), tr.stderr())
    return result


def main():
    ap = argparse.ArgumentParser(description="run one generated track through a job's transform")
    ap.add_argument("--job", required=True)
    ap.add_argument("--cwd", default=".", help="working directory of the transform [.]")
    ap.add_argument("--sine", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--keep", help="write the track and outputs here and keep them")
    a = ap.parse_args()
    reply, outs, out, err = run_job_once(a.job, a.cwd, a.sine, a.seconds, a.keep)
    print("reply:", json.dumps(reply))
    for line in out.splitlines():
        print("stdout:", line)
    for line in err.splitlines():
        print("stderr:", line)
    if a.keep:
        print("outputs:", json.dumps(outs))
    if reply["type"] != "done":
        return 1
    bad = 0
    for name, v in outs.items():
        size = v if isinstance(v, int) else os.path.getsize(v)
        print("output %s: %d bytes" % (name, size))
        if size == 0:
            print("tf_driver: output %s is empty" % name, file=sys.stderr)
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
