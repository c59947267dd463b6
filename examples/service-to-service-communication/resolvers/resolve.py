"""resolve.py — the Python client of the resolver matrix: socket.getaddrinfo (the C library's
getaddrinfo; what urllib and every socket connection use) against a Cloud Map name.

  socket.getaddrinfo(NAME)         the IPv4 addresses are exactly EXPECT_A   (else exit 10)
  urlopen http://NAME:PORT/health  answers 200                              (else exit 11)

Python's standard library has no SRV lookup, so SRV_NAME is refused (exit 2). The contract
(environment, exit codes) is the one of every client in this directory (README.md).
"""

import os
import socket
import sys
import urllib.request


def fail(code, message):
    print(f"FAIL {message}", flush=True)
    sys.exit(code)


def main():
    name, expect_a, port = (os.environ.get(k) for k in ("NAME", "EXPECT_A", "PORT"))
    if not name or not expect_a or not port:
        fail(2, "usage: NAME, EXPECT_A and PORT must be set")
    if os.environ.get("SRV_NAME"):
        fail(2, "Python's standard library has no SRV lookup; SRV_NAME is not supported")
    expected = set(expect_a.split())
    try:
        results = socket.getaddrinfo(name, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        fail(10, f"socket.getaddrinfo {name}: {error}")
    found = {r[4][0] for r in results if r[0] == socket.AF_INET}
    if found != expected:
        fail(10, f"socket.getaddrinfo {name} gave {sorted(found)}, expected {sorted(expected)}")
    print(f"ok socket.getaddrinfo {name}: {' '.join(sorted(found))}", flush=True)
    url = f"http://{name}:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            status = response.status
    except OSError as error:
        fail(11, f"GET {url}: {error}")
    if status != 200:
        fail(11, f"GET {url}: {status}")
    print(f"ok http GET {url}: 200", flush=True)


if __name__ == "__main__":
    main()
