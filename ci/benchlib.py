"""What the ci/bench-* helpers share (imported, not run): free loopback ports, waiting for a
server's /health, and DNS over UDP built by hand (no resolver library: the benchmarks measure the
server, and a library's caching or retries would blur that)."""
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
