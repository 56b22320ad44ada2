"""mp4_dref.py: rewrites an MP4/M4A so that its first track's samples are
said to live in another file or at a URL (an external data reference), for
tests/ffmpeg_formats.sh: wiggly must never follow it.

    mp4_dref.py IN OUT url LOCATION      a 'url ' entry, flags 0 (not
                                         self-contained), LOCATION as its
                                         string: file:///... or http://...
    mp4_dref.py IN OUT alis PATH         a Mac alias record ('alis', the
                                         kind FFmpeg's mov demuxer follows
                                         when enable_drefs is set) naming
                                         PATH, one folder up and down
    ... [--zero-mdat]                    also zero the sample data, so only
                                         the referenced file would have it

The 'dref' box in moov/trak/mdia/minf/dinf is replaced by one holding that
single entry, and every enclosing box size is fixed. moov must come after
mdat (ffmpeg's default), so no chunk offset (stco/co64) moves.
Standard library only."""
import struct
import sys

PATH = [b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"]


def boxes(buf, start, end):
    """(type, start, header size, end) of each box in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        head = 8
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8:pos + 16])[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            sys.exit("bad box %r at %d" % (kind, pos))
        yield kind, pos, head, pos + size
        pos += size


def box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def url_entry(location):
    # version 0, flags 0: the data is NOT in this file but at location.
    return box(b"url ", b"\0\0\0\0" + location.encode() + b"\0")


def alis_entry(path):
    # The layout FFmpeg's mov_read_dref reads: skip 10, volume (length
    # byte + 27), skip 12, file name (length byte + 63), skip 16, nlvl_from,
    # nlvl_to, skip 16, then (type, length, data) records: 2 = absolute
    # path, -1 = end.
    name = path.rsplit("/", 1)[-1].encode()[:63]
    body = b"\0" * 10 + bytes([0]) + b"\0" * 27 + b"\0" * 12
    body += bytes([len(name)]) + name.ljust(63, b"\0") + b"\0" * 16
    body += struct.pack(">hh", 1, 1) + b"\0" * 16
    p = path.encode()
    p += b"\0" * (len(p) & 1)  # records are word-aligned; FFmpeg trims the NULs
    body += struct.pack(">hH", 2, len(p)) + p + struct.pack(">hH", -1, 0)
    return box(b"alis", b"\0\0\0\0" + body)


def main():
    src, dst, kind, where = sys.argv[1:5]
    zero = "--zero-mdat" in sys.argv[5:]
    buf = bytearray(open(src, "rb").read())
    top = {k: (s, h, e) for k, s, h, e in boxes(buf, 0, len(buf))}
    if b"moov" not in top or b"mdat" not in top or top[b"moov"][0] < top[b"mdat"][0]:
        sys.exit("want moov after mdat")
    if zero:
        s, h, e = top[b"mdat"]
        buf[s + h:e] = bytes(e - s - h)
    # Walk down to dref, remembering each enclosing box.
    chain, start, end = [], 0, len(buf)
    for want in PATH:
        found = [b for b in boxes(buf, start, end) if b[0] == want]
        if not found:
            sys.exit("no %s" % want.decode())
        k, s, h, e = found[0]
        chain.append((s, h))
        start, end = s + h, e
        if want == b"dref":
            start += 8  # version/flags, entry count
    entry = url_entry(where) if kind == "url" else alis_entry(where)
    s, h = chain[-1]
    old_end = end
    new_dref = box(b"dref", b"\0\0\0\0" + struct.pack(">I", 1) + entry)
    if h != 8:
        sys.exit("64-bit dref size")
    delta = len(new_dref) - (old_end - s)
    buf[s:old_end] = new_dref
    for s, h in chain[:-1]:
        if h != 8:
            sys.exit("64-bit box size")
        size = struct.unpack(">I", buf[s:s + 4])[0]
        buf[s:s + 4] = struct.pack(">I", size + delta)
    open(dst, "wb").write(buf)


main()
