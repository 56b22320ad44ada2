"""wiggly_transform: write a wiggly transform in Python (docs/transforms.md).

wiggly starts your program as a few long-lived child processes and feeds it
one track at a time over protocol v1: requests arrive as JSON lines on fd 3,
replies go back as JSON lines on fd 4. This module speaks that protocol, so a
transform is one function:

    import numpy as np
    import wiggly_transform

    def process(audio, rate, element, params, outputs):
        # audio: np.ndarray (frames, channels) float32, memory-mapped
        np.save(outputs["centroid"], ...)       # write exactly these paths
        return {"mean_centroid_hz": 440.0}      # -> the track's features

    wiggly_transform.run(process, name="centroid", version="1.0")

- `setup()`, if given, runs before the hello line (load your model there:
  wiggly waits up to transform.startup_timeout_s for it).
- Write each output to exactly the path in `outputs`. wiggly's temporary
  names end in the output's declared suffix, so np.save(path, a) writes
  path itself when the suffix ends in ".npy"; for another suffix NumPy adds
  ".npy" (or ".npz"), and such a file, written while path stayed empty, is
  moved onto path after process() returns.
- A returned dict becomes the `features` of the `done` reply (NumPy scalars
  and small arrays are converted); None means no features.
- An uncaught exception is a retryable error carrying its traceback;
  `raise wiggly_transform.Permanent("reason")` dead-letters the track at once.
- stdout and stderr stay yours: wiggly logs them line by line, so print()
  works and never corrupts the protocol.
- The batch form, for transform.max_in_flight > 1 (a GPU batching tracks):
  `run(None, name, version, batch=fn, max_batch=N)`. fn gets a list of up to
  N request dicts (keys: id, element, audio (the loaded array), audio_path,
  rate, channels, frames, outputs, params, attempt) made of the requests
  already waiting, and returns a list of the same length whose items are a
  features dict, None, or an exception instance (a Permanent one is not
  retried).

Standard library plus NumPy; one file, copy it next to your code or put it on
PYTHONPATH.
"""

import json
import os
import select
import stat
import sys
import traceback

import numpy as np

__all__ = ["Permanent", "run", "PROTOCOL"]

PROTOCOL = 1
REQUEST_FD = 3
REPLY_FD = 4
MAX_LINE = 1 << 20  # bytes before the "\n", both directions
MAX_MESSAGE = 64 * 1024  # an error message longer than this keeps its end
_READ_CHUNK = 1 << 16


class Permanent(Exception):
    """Raise it to fail the track for good: wiggly dead-letters it at once
    (reason transform_error, the message in wiggly_error) instead of
    retrying."""


class _ProtocolError(Exception):
    """wiggly sent something this module cannot answer: the child exits."""


def _refuse(why):
    sys.stderr.write(
        "wiggly_transform: %s.\n"
        "This program is a wiggly transform: wiggly starts it (the job config's\n"
        "\"transform\" key, docs/transforms.md) with requests on fd 3 and replies on\n"
        "fd 4. To try it on a file: wiggly test -c JOB.json FILE\n" % why
    )
    sys.stderr.flush()
    raise SystemExit(2)


def _fd_problem(fd):
    """Why fd cannot be wiggly's channel, or None. wiggly passes stream
    sockets; a descriptor some shell or IDE leaked is not one."""
    try:
        st = os.fstat(fd)
    except OSError:
        return "fd %d is not open" % fd
    if not stat.S_ISSOCK(st.st_mode):
        return "fd %d is open but not a socket" % fd
    return None


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError("%s is not JSON serialisable" % type(o).__name__)


def _dumps(obj):
    # ASCII only (so always valid UTF-8, whatever the strings hold), no NaN
    # or Infinity (not JSON), one line.
    return json.dumps(obj, default=_json_default, allow_nan=False, ensure_ascii=True,
                      separators=(",", ":"))


def _shorten(message):
    """Keeps an error message under MAX_MESSAGE characters: its first line
    (what went wrong) and its end (the innermost frames and the exception),
    which is where a traceback says the most."""
    if len(message) <= MAX_MESSAGE:
        return message
    first = message.split("\n", 1)[0][:1024]
    marker = "\n[... %d characters cut ...]\n"
    keep = MAX_MESSAGE - len(first) - len(marker) - 16
    cut = len(message) - len(first) - keep
    return first + (marker % cut) + message[-keep:]


def _exception_message(exc):
    if isinstance(exc, Permanent):
        return str(exc) or "Permanent"
    summary = "%s: %s" % (type(exc).__name__, exc)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return summary + "\n" + tb


class _Channel:
    """The two sockets: line reading on fd 3 (with a look at what is already
    waiting, for batches) and whole-line writes on fd 4."""

    def __init__(self, rfd, wfd):
        self.rfd = rfd
        self.buf = b""
        self.eof = False
        self.out = open(wfd, "wb", closefd=False)

    def _fill(self):
        data = os.read(self.rfd, _READ_CHUNK)
        if not data:
            self.eof = True
        self.buf += data

    def _take_line(self):
        nl = self.buf.find(b"\n")
        if nl < 0:
            if len(self.buf) > MAX_LINE:
                raise _ProtocolError("a request line longer than %d bytes" % MAX_LINE)
            return None
        line, self.buf = self.buf[:nl], self.buf[nl + 1:]
        if len(line) > MAX_LINE:
            raise _ProtocolError("a request line of %d bytes (at most %d)" % (len(line), MAX_LINE))
        return line

    def read_line(self, block=True):
        """The next request line; None at EOF, or (block=False) when no whole
        line is waiting."""
        while True:
            line = self._take_line()
            if line is not None:
                return line
            if self.eof:
                if self.buf:
                    sys.stderr.write("wiggly_transform: %d bytes after the last request line,"
                                     " before EOF: ignored\n" % len(self.buf))
                    self.buf = b""
                return None
            if not block:
                ready, _, _ = select.select([self.rfd], [], [], 0)
                if not ready:
                    return None
            self._fill()

    def write(self, obj):
        line = _dumps(obj).encode("ascii")
        if len(line) > MAX_LINE:
            raise ValueError("reply of %d bytes, the protocol allows %d" % (len(line), MAX_LINE))
        self.out.write(line + b"\n")
        self.out.flush()


def _parse_request(line):
    try:
        req = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _ProtocolError("a request line that is not JSON: %s" % e)
    if not isinstance(req, dict):
        raise _ProtocolError("a request line that is not a JSON object")
    if req.get("type") != "process":
        raise _ProtocolError("a request of type %r (protocol 1 has only \"process\")"
                             % (req.get("type"),))
    for key, kind in (("id", str), ("element", str), ("audio", str), ("rate", int),
                      ("outputs", dict)):
        if not isinstance(req.get(key), kind) or isinstance(req.get(key), bool):
            raise _ProtocolError("request %r: %r missing or not a %s"
                                 % (req.get("id"), key, kind.__name__))
    req.setdefault("params", {})
    return req


def _load_audio(path):
    audio = np.load(path, mmap_mode="r", allow_pickle=False)
    if audio.ndim != 2 or audio.dtype != np.float32:
        raise ValueError("%s: shape %s dtype %s, want (frames, channels) float32"
                         % (path, audio.shape, audio.dtype))
    return audio


def _reply_for(req_id, result):
    """The reply line for one outcome: a features dict or None, or an
    exception."""
    if isinstance(result, BaseException):
        return {"type": "error", "id": req_id, "retryable": not isinstance(result, Permanent),
                "message": _shorten(_exception_message(result))}
    if result is None:
        return {"type": "done", "id": req_id}
    if not isinstance(result, dict):
        return {"type": "error", "id": req_id, "retryable": False,
                "message": "the transform returned a %s; it must return a dict (features) or None"
                           % type(result).__name__}
    reply = {"type": "done", "id": req_id, "features": result}
    try:
        size = len(_dumps(reply))
    except (TypeError, ValueError) as e:
        return {"type": "error", "id": req_id, "retryable": False,
                "message": "the features are not JSON (%s: %s); return str, int, float (finite),"
                           " bool, None, lists and dicts" % (type(e).__name__, e)}
    if size > MAX_LINE:
        return {"type": "error", "id": req_id, "retryable": False,
                "message": "the features take %d bytes as JSON; a reply line holds at most %d:"
                           " write large results to an output file" % (size, MAX_LINE)}
    return reply


_ADDED_SUFFIXES = (".npy", ".npz")
_suffix_noted = False


def _adopt_suffixed(outputs):
    """np.save(path, a) writes path + ".npy" when path lacks that ending (and
    np.savez path + ".npz"), and wiggly's output paths are temporary names
    without one. Such a file, where the declared path is still empty, is
    moved onto the declared path, so np.save(outputs["x"], a) just works."""
    global _suffix_noted
    for path in outputs.values():
        if not isinstance(path, str):
            continue
        for suffix in _ADDED_SUFFIXES:
            extra = path + suffix
            if path.endswith(suffix) or not os.path.exists(extra):
                continue
            try:
                if os.path.getsize(path) == 0:
                    os.replace(extra, path)
                    if not _suffix_noted:
                        _suffix_noted = True
                        sys.stderr.write("wiggly_transform: NumPy added %s to the output path %s;"
                                         " moved the file onto the path wiggly gave (pass an open"
                                         " file to np.save to avoid this)\n" % (suffix, path))
            except OSError:
                pass


def _serve_one(chan, process, req):
    audio = None
    try:
        audio = _load_audio(req["audio"])
        result = process(audio, req["rate"], req["element"], req["params"], req["outputs"])
        _adopt_suffixed(req["outputs"])
    except Exception as e:  # noqa: BLE001 - every failure becomes a reply
        result = e
    del audio  # unmap before wiggly removes the file
    chan.write(_reply_for(req["id"], result))


def _serve_batch(chan, batch, reqs):
    items, results = [], {}
    for req in reqs:
        try:
            item = dict(req)
            item["audio_path"] = req["audio"]
            item["audio"] = _load_audio(req["audio"])
            items.append(item)
        except Exception as e:  # noqa: BLE001
            results[req["id"]] = e
    if items:
        try:
            out = batch(items)
            if not isinstance(out, (list, tuple)) or len(out) != len(items):
                raise TypeError("the batch function returned %s for %d requests; it must return"
                                " a list of the same length"
                                % ("%d items" % len(out) if isinstance(out, (list, tuple))
                                   else "a " + type(out).__name__, len(items)))
            for item, r in zip(items, out):
                results[item["id"]] = r
                if not isinstance(r, BaseException):
                    _adopt_suffixed(item["outputs"])
        except Exception as e:  # noqa: BLE001 - the whole batch failed
            for item in items:
                results[item["id"]] = e
    del items
    for req in reqs:
        chan.write(_reply_for(req["id"], results[req["id"]]))


def run(process, name, version, setup=None, batch=None, max_batch=8):
    """Serves wiggly's requests until it closes fd 3, then exits 0.

    process(audio, rate, element, params, outputs) -> dict | None handles
    one track; or pass batch=fn (and process=None) to get lists of up to
    max_batch requests. setup() runs once before the hello."""
    if not isinstance(name, str) or not name:
        raise TypeError("wiggly_transform.run: name must be a non-empty string")
    if not isinstance(version, str):
        raise TypeError("wiggly_transform.run: version must be a string")
    if (process is None) == (batch is None):
        raise TypeError("wiggly_transform.run: give either process or batch=")
    if batch is not None and (not isinstance(max_batch, int) or max_batch < 1):
        raise TypeError("wiggly_transform.run: max_batch must be a positive integer")

    proto = os.environ.get("WIGGLY_TRANSFORM_PROTOCOL")
    if proto != str(PROTOCOL):
        _refuse("WIGGLY_TRANSFORM_PROTOCOL is %s, this helper speaks protocol %d"
                % ("not set" if proto is None else repr(proto), PROTOCOL))
    for fd in (REQUEST_FD, REPLY_FD):
        problem = _fd_problem(fd)
        if problem:
            _refuse(problem)
    # Programs the transform starts must not hold the channel open.
    os.set_inheritable(REQUEST_FD, False)
    os.set_inheritable(REPLY_FD, False)
    try:  # print() reaches wiggly's log line by line, not at exit
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass

    if setup is not None:
        setup()
    chan = _Channel(REQUEST_FD, REPLY_FD)
    chan.write({"type": "hello", "protocol": PROTOCOL, "name": name, "version": version})
    try:
        while True:
            line = chan.read_line(block=True)
            if line is None:
                break
            if batch is None:
                _serve_one(chan, process, _parse_request(line))
                continue
            reqs = [_parse_request(line)]
            while len(reqs) < max_batch:
                more = chan.read_line(block=False)
                if more is None:
                    break
                reqs.append(_parse_request(more))
            _serve_batch(chan, batch, reqs)
    except _ProtocolError as e:
        sys.stderr.write("wiggly_transform: protocol error: wiggly sent %s; exiting\n" % e)
        sys.stderr.flush()
        raise SystemExit(1)
    raise SystemExit(0)
