"""Minimal RESP2 client with NO retries (so a lost connection is genuinely 'unknown')."""
import socket


class RespError(Exception):
    pass


class ConnLost(Exception):
    pass


class Err:
    __slots__ = ("msg",)

    def __init__(self, msg):
        self.msg = msg

    def __repr__(self):
        return "Err(%r)" % self.msg

    def __eq__(self, o):
        return isinstance(o, Err) and o.msg == self.msg

    def __hash__(self):
        return hash(("Err", self.msg))


def enc(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=8.0, connect_timeout=1.0):
        self.port = port
        self.s = socket.create_connection((host, port), timeout=connect_timeout)
        self.s.settimeout(timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass

    def _fill(self):
        try:
            d = self.s.recv(65536)
        except (socket.timeout, OSError) as e:
            raise ConnLost(repr(e))
        if not d:
            raise ConnLost("eof")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return l
            self._fill()

    def _read(self):
        l = self._line()
        t, rest = l[:1], l[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v = self.buf[:n]
            self.buf = self.buf[n + 2:]
            return v.decode("latin1")
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        if t == b"_":
            return None
        raise ConnLost("bad reply type %r" % l)

    def cmd(self, *args):
        try:
            self.s.sendall(enc(args))
        except OSError as e:
            raise ConnLost(repr(e))
        return self._read()

    def pipeline(self, cmds):
        try:
            self.s.sendall(b"".join(enc(c) for c in cmds))
        except OSError as e:
            raise ConnLost(repr(e))
        return [self._read() for _ in cmds]


def one(port, *args, timeout=3.0):
    c = Conn(port, timeout=timeout)
    try:
        return c.cmd(*args)
    finally:
        c.close()
