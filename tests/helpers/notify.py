"""A child that talks sd_notify with nothing but Python's stdlib socket,
the way small services do without libsystemd.

    /usr/bin/python3 notify.py [--socket NAME] STEP...

At the end (and before say:, sleep: and exit:) it waits, up to 3 s, until
the receiver has read every datagram sent (SIOCOUTQ is 0), so that the
receiver can still check who sent them; the step "nowait" turns that off.

Steps, run in order:

    TEXT          one datagram; "\\n" is a newline, "\\xNN" the byte NN
    big:N         one datagram of N bytes ("X_BIG=aaaa...")
    empty         one empty datagram
    garbage:N     one datagram of N pseudo-random bytes (fixed seed)
    fd            one datagram "X_FD=1" with a pipe passed by SCM_RIGHTS
    fdcheck       pass the write end of a pipe with "X_FD=1", close it here,
                  and print "fd closed" once the receiver has closed it too
                  (EOF on the read end), or "fd held" after 3 seconds
    sleep:SEC     sleep SEC seconds
    every:SEC:N:TEXT
                  send TEXT N times, SEC seconds apart
    say:TEXT      print TEXT and a newline on stdout (flushed)
    exit:N        exit with status N
    nowait        do not wait for the receiver from here on

NAME (default $NOTIFY_SOCKET) may start with '@' (abstract socket).
"""
import array
import fcntl
import os
import random
import select
import socket
import struct
import sys
import termios
import time


def address(name):
    if name.startswith("@"):
        return "\0" + name[1:]
    return name


def decode(text):
    out = bytearray()
    i = 0
    b = text.encode("utf-8", "surrogateescape")
    while i < len(b):
        if b[i:i + 2] == b"\\n":
            out += b"\n"
            i += 2
        elif b[i:i + 2] == b"\\\\":
            out += b"\\"
            i += 2
        elif b[i:i + 2] == b"\\x" and i + 4 <= len(b):
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def drain(s):
    """Wait until the receiver has read what s sent (at most 3 s)."""
    end = time.monotonic() + 3
    while time.monotonic() < end:
        queued = struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ,
                                                b"\0" * 4))[0]
        if queued == 0:
            # Read is not yet checked: give jobwrap a moment to look at
            # who sent it before this process exits and is reaped.
            time.sleep(0.02)
            return
        time.sleep(0.001)


def main(argv):
    name = os.environ.get("NOTIFY_SOCKET", "")
    if len(argv) >= 2 and argv[0] == "--socket":
        name, argv = argv[1], argv[2:]
    if not name:
        print("notify.py: NOTIFY_SOCKET is not set", file=sys.stderr)
        return 4
    addr = address(name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    wait = True
    for step in argv:
        kind, _, arg = step.partition(":")
        if wait and kind in ("say", "sleep", "exit"):
            drain(s)
        if kind == "big":
            n = int(arg)
            s.sendto((b"X_BIG=" + b"a" * n)[:n], addr)
        elif step == "empty":
            s.sendto(b"", addr)
        elif kind == "garbage":
            rng = random.Random(42)
            s.sendto(bytes(rng.randrange(256) for _ in range(int(arg))),
                     addr)
        elif step == "fd":
            r, w = os.pipe()
            fds = array.array("i", [r, w]).tobytes()
            s.sendmsg([b"X_FD=1"],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, addr)
            os.close(r)
            os.close(w)
        elif step == "fdcheck":
            r, w = os.pipe()
            fds = array.array("i", [w]).tobytes()
            s.sendmsg([b"X_FD=1"],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, addr)
            os.close(w)
            ready, _, _ = select.select([r], [], [], 3)
            print("fd closed" if ready and os.read(r, 1) == b"" else
                  "fd held", flush=True)
            os.close(r)
        elif step == "nowait":
            wait = False
        elif kind == "sleep":
            time.sleep(float(arg))
        elif kind == "every":
            sec, n, text = arg.split(":", 2)
            for i in range(int(n)):
                if i:
                    time.sleep(float(sec))
                s.sendto(decode(text), addr)
        elif kind == "say":
            print(arg, flush=True)
        elif kind == "exit":
            return int(arg)
        else:
            s.sendto(decode(step), addr)
    if wait:
        drain(s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
