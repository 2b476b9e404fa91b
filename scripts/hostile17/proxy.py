"""Frame-aware peer-link proxy (docs/format.md "Peer protocol"), run in a thread.
Mode 'pass' forwards everything; 'hold' forwards nothing dialer->acceptor after the handshake;
('limit', N) truncates every Raft Append's entries to index <= N (everything else forwarded)."""
import socket, threading, struct, time

def rv(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1; x |= (c & 0x7f) << s; s += 7
        if c < 0x80: return x, i

def wv(x):
    o = bytearray()
    while True:
        c = x & 0x7f; x >>= 7
        if x: o.append(c | 0x80)
        else: o.append(c); return bytes(o)

def skip_bytes(b, i):
    n, i = rv(b, i); return i + n

def parse_entry(b, i):
    st = i
    idx, i = rv(b, i); _, i = rv(b, i); tag, i = rv(b, i)
    if tag == 1: i = skip_bytes(b, i)
    elif tag == 2: _, i = rv(b, i); _, i = rv(b, i); i = skip_bytes(b, i)
    return idx, b[st:i], i

def rewrite_message(b, i, limit, stats):
    st = i
    for _ in range(3): _, i = rv(b, i)
    hdr_end_before_body = i
    tag, i = rv(b, i)
    if tag in (0,): i = rv(b, rv(b, i)[1])[1]
    elif tag in (1, 3): i += 1
    elif tag == 2: i = rv(b, rv(b, i)[1])[1]; i += 1
    elif tag == 4:
        pi, i = rv(b, i); pt, i = rv(b, i); n, i = rv(b, i)
        ents = []
        for _ in range(n):
            idx, raw, i = parse_entry(b, i); ents.append((idx, raw))
        commit, i = rv(b, i)
        if limit is not None and any(idx > limit for idx, _ in ents):
            kept = [raw for idx, raw in ents if idx <= limit]
            stats["truncated"] += 1
            out = b[st:hdr_end_before_body] + wv(4) + wv(pi) + wv(pt) + wv(len(kept)) + b"".join(kept) + wv(min(commit, limit))
            return out, i
    elif tag == 5:
        r, i = rv(b, i)
        if r == 0: _, i = rv(b, i)
        elif r == 1:
            _, i = rv(b, i); _, i = rv(b, i); o = b[i]; i += 1
            if o: _, i = rv(b, i)
    elif tag == 6: i = rv(b, rv(b, i)[1])[1]
    elif tag == 7: _, i = rv(b, i)
    elif tag == 8: pass
    elif tag == 9:
        _, i = rv(b, i); _, i = rv(b, i)
        for _ in range(2):
            n, i = rv(b, i)
            for _ in range(n): _, i = rv(b, i)
        _, i = rv(b, i); i = skip_bytes(b, i); _, i = rv(b, i); i += 1
    elif tag == 10:
        _, i = rv(b, i); r, i = rv(b, i); _, i = rv(b, i)
    else:
        raise ValueError(f"unknown body tag {tag}")
    return b[st:i], i

def rewrite_frame(body, limit, stats):
    if body[0] != 0 or limit is None: return body
    n, i = rv(body, 1)
    out = [body[:1], wv(n)]
    for _ in range(n):
        m, i = rewrite_message(body, i, limit, stats); out.append(m)
    assert i == len(body), "unused bytes"
    return b"".join(out)

def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return bytes(b)

class Proxy:
    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.ls = socket.socket(); self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0)); self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.mode = "pass"; self.limit = None
        self.stats = {"frames": 0, "truncated": 0, "parse_errors": 0, "conns": 0}
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try: c, _ = self.ls.accept()
            except OSError: return
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()

    def handle(self, c):
        self.stats["conns"] += 1
        try:
            u = socket.create_connection(self.target)
            u.sendall(recv_exact(c, 40))
            ack = recv_exact(u, 8); ack += recv_exact(u, 8) if ack[4:6] == b"\x02\x00" else b""
            c.sendall(ack)
            threading.Thread(target=self.back, args=(u, c), daemon=True).start()
            while True:
                ln = recv_exact(c, 4); body = recv_exact(c, struct.unpack("<I", ln)[0])
                while self.mode == "hold": time.sleep(0.01)
                self.stats["frames"] += 1
                try: body = rewrite_frame(body, self.limit if self.mode == "limit" else None, self.stats)
                except Exception as e: self.stats["parse_errors"] += 1
                u.sendall(struct.pack("<I", len(body)) + body)
        except Exception:
            pass
        finally:
            for s in (c,):
                try: s.close()
                except Exception: pass
            try: u.close()
            except Exception: pass

    def back(self, u, c):
        try:
            while True:
                d = u.recv(65536)
                if not d: break
                c.sendall(d)
        except Exception: pass
        try: c.close()
        except Exception: pass
