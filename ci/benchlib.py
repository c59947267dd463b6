"""What the ci/bench-* helpers share (imported, not run): free loopback ports, waiting for a
server's /health, and DNS over UDP built by hand (no resolver library: the benchmarks measure the
server, and a library's caching or retries would blur that)."""
import json
import random
import socket
import struct
import time


def free_port(ip="127.0.0.1"):
    """A port free for both TCP and UDP on `ip` right now, or None."""
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((ip, 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((ip, port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    return None


def wait_health(port, pid, timeout):
    """Waits until GET /health on 127.0.0.1:`port` answers 200; returns None, or why not (the
    process `pid` exited, or `timeout` seconds passed)."""
    port, pid, deadline = int(port), int(pid), time.monotonic() + float(timeout)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).split(b" ")[1:2] == [b"200"]:
                    return None
        except (OSError, IndexError):
            pass
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    raise FileNotFoundError
        except FileNotFoundError:
            return f"server pid {pid} exited before /health answered 200"
        if time.monotonic() > deadline:
            return f"/health on 127.0.0.1:{port} not 200 within {timeout}s"
        time.sleep(0.02)


def dns_query(name, qtype=1, qid=None):
    """(id, wire bytes) of a query for `name` and `qtype` (1 = A)."""
    qid = random.getrandbits(16) if qid is None else qid
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return qid, q + b"\x00" + struct.pack(">HH", qtype, 1)


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def dns_answers(msg, qtype=1):
    """(rcode, [rdata bytes of the answers of `qtype`])."""
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = _skip_name(msg, off)
        typ, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if typ == qtype:
            out.append(msg[off:off + rdlen])
        off += rdlen
    return flags & 0xF, out


def a_records(msg):
    """(rcode, {the A answers as dotted quads})."""
    rcode, rdata = dns_answers(msg, 1)
    return rcode, {socket.inet_ntoa(r) for r in rdata if len(r) == 4}


TARGET = "Route53AutoNaming_v20170314."


class Api:
    """A minimal HTTP/1.1 keep-alive client for the Cloud Map API, with optional pipelining
    (axum/hyper answers pipelined requests in order): much cheaper per request than http.client,
    which matters when Python and the server share 2 cores. `tool` prefixes error messages."""

    tool = "bench"

    def __init__(self, port, timeout=60.0):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/x-amz-json-1.1\r\n").encode()

    def encode(self, op, body):
        data = json.dumps(body, separators=(",", ":")).encode()
        return b"".join((self.head, b"X-Amz-Target: ", TARGET.encode(), op.encode(),
                         b"\r\nContent-Length: ", str(len(data)).encode(), b"\r\n\r\n", data))

    def send(self, op, body):
        self.sock.sendall(self.encode(op, body))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def recv(self):
        """(status, body bytes) of the next response."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        rest = end + 4
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < rest + n:
                self._fill()
            body = self.buf[rest:rest + n]
            self.buf = self.buf[rest + n:]
            return status, body
        if headers.get("transfer-encoding", "").lower() == "chunked":
            self.buf = self.buf[rest:]
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    return status, body
        self.buf = self.buf[rest:]
        return status, b""

    def call(self, op, body):
        self.send(op, body)
        return self.recv()

    def must(self, op, body):
        status, text = self.call(op, body)
        if status != 200:
            self.fail(f"{op} {json.dumps(body)[:300]} -> HTTP {status}: {text[:500]!r}")
        return json.loads(text) if text else {}

    def wait_operation(self, op_id, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            op = self.must("GetOperation", {"OperationId": op_id})["Operation"]
            if op["Status"] == "SUCCESS":
                return op
            if op["Status"] == "FAIL":
                self.fail(f"operation {op_id} failed: {op}")
            if time.monotonic() > deadline:
                self.fail(f"operation {op_id} not SUCCESS after {timeout}s: {op}")
            time.sleep(0.01)

    def pipeline(self, op, bodies, window=32):
        """Sends every body with at most `window` requests in flight; returns the parsed outputs."""
        out, sent, pending = [], 0, 0
        while sent < len(bodies) or pending:
            while sent < len(bodies) and pending < window:
                self.sock.sendall(self.encode(op, bodies[sent]))
                sent += 1
                pending += 1
            status, text = self.recv()
            pending -= 1
            if status != 200:
                self.fail(f"{op} -> HTTP {status}: {text[:500]!r}")
            out.append(json.loads(text))
        return out

    def get_text(self, path):
        """A GET on its own connection (for /metrics)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if b"chunked" in head.lower():
            out, rest = b"", body
            while rest:
                line, _, rest = rest.partition(b"\r\n")
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    break
                out += rest[:size]
                rest = rest[size + 2:]
            body = out
        return body.decode()

    def fail(self, msg):
        raise SystemExit(f"{self.tool}: error: {msg}")
