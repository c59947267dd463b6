#!/usr/bin/env python3
"""Helpers for ci/bench-health.sh (stdlib only, loopback only).

  helper.py free-port [IP]                 a TCP+UDP port free on IP (default 127.0.0.1)
  helper.py wait API_PORT PID TIMEOUT      until GET /health answers 200
  helper.py baseline SECONDS [PID…]        machine CPU busy (all cores, % of one core) and each
                                           PID's CPU over SECONDS (nothing else is started)
  helper.py load API_PORT NSVC NINST TARGETS
                                           namespace probe.local, NSVC services (HTTP check on
                                           /health, FailureThreshold 1) x NINST instances whose
                                           AWS_INSTANCE_IPV4/PORT go round-robin over TARGETS
                                           (comma-separated ip:port)
  helper.py wait-healthy API_PORT EXPECT TIMEOUT
                                           until every instance of every service is HEALTHY
  helper.py measure API_PORT SERVER_PID NGINX_PID STUB_PORT WARMUP SECONDS EXPECT_RATE
                                           steady-state probe cost (key=value lines)
  helper.py floor BINARY NGINX_PID STUB_PORT RATE SECONDS IP:PORT…
                                           runs floor.c; its CPU per probe and nginx's CPU
  helper.py backends CONTROL_PORT IP:PORT…  tiny HTTP backends, switchable through CONTROL_PORT
  helper.py failover API_PORT DNS_PORT CONTROL_PORT INTERVAL_S THRESHOLD TRIALS MODE IP:PORT…
                                           failover latency trials (prints a report)

Times are time.monotonic() (CLOCK_MONOTONIC), the same clock in every process on the machine, so
the backends' timestamps and the DNS poller's can be compared.
"""
import asyncio
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402  (ci/benchlib.py)

HZ = os.sysconf("SC_CLK_TCK")


def fail(msg):
    print(f"bench-health: error: {msg}", file=sys.stderr)
    sys.exit(1)


class Api(benchlib.Api):
    tool = "bench-health"


def create_namespace(api, name):
    op = api.must("CreatePrivateDnsNamespace", {"Name": name, "Vpc": "vpc-bench"})["OperationId"]
    return api.wait_operation(op)["Targets"]["NAMESPACE"]


def all_services(api):
    ids, token = [], None
    while True:
        body = {"MaxResults": 100}
        if token:
            body["NextToken"] = token
        out = api.must("ListServices", body)
        ids += [s["Id"] for s in out.get("Services", [])]
        token = out.get("NextToken")
        if not token:
            return ids


def health_counts(api, sids):
    counts = {}
    for sid in sids:
        token = None
        while True:
            body = {"ServiceId": sid, "MaxResults": 100}
            if token:
                body["NextToken"] = token
            out = api.must("GetInstancesHealthStatus", body)
            for status in out.get("Status", {}).values():
                counts[status] = counts.get(status, 0) + 1
            token = out.get("NextToken")
            if not token:
                break
    return counts


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc.

def proc_ticks(pid, split=False):
    """utime+stime of a process (all its threads), in clock ticks ((utime, stime) with split);
    None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if split:
        return int(fields[11]), int(fields[12])
    return int(fields[11]) + int(fields[12])


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def tree_ticks(pids):
    return sum(proc_ticks(p) or 0 for p in pids)


def machine_ticks():
    """(busy, total) jiffies over all CPUs (busy excludes idle and iowait)."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user
    total = sum(cpu[:8])
    return total - cpu[3] - cpu[4], total


def cmd_baseline(seconds, *pids):
    seconds = float(seconds)
    pids = [int(p) for p in pids]
    b0, _ = machine_ticks()
    p0 = [proc_ticks(p) or 0 for p in pids]
    t0 = time.monotonic()
    time.sleep(seconds)
    b1, _ = machine_ticks()
    p1 = [proc_ticks(p) or 0 for p in pids]
    dt = time.monotonic() - t0
    print(f"machine_pct={100.0 * (b1 - b0) / HZ / dt:.2f}")
    for pid, a, b in zip(pids, p0, p1):
        print(f"pid_{pid}_pct={100.0 * (b - a) / HZ / dt:.2f}")
    print(f"seconds={dt:.1f}")


# ---------------------------------------------------------------------------------------------
# Commands.

def cmd_free_port(ip="127.0.0.1"):
    port = benchlib.free_port(ip)
    if port is None:
        fail("no free port")
    print(port)


def cmd_wait(port, pid, timeout):
    error = benchlib.wait_health(port, pid, timeout)
    if error:
        fail(error)


def cmd_load(port, nsvc, ninst, targets):
    nsvc, ninst = int(nsvc), int(ninst)
    targets = [t.rsplit(":", 1) for t in targets.split(",")]
    api = Api(int(port))
    t0 = time.monotonic()
    ns = create_namespace(api, "probe.local")
    last = None
    k = 0
    for s in range(nsvc):
        sid = api.must("CreateService", {
            "Name": f"svc-{s:02d}", "NamespaceId": ns,
            "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 10}]},
            "HealthCheckConfig": {"Type": "HTTP", "ResourcePath": "/health",
                                  "FailureThreshold": 1}})["Service"]["Id"]
        bodies = []
        for i in range(ninst):
            ip, p = targets[k % len(targets)]
            k += 1
            bodies.append({"ServiceId": sid, "InstanceId": f"i-{i:04d}",
                           "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": p}})
        outs = api.pipeline("RegisterInstance", bodies)
        last = outs[-1]["OperationId"] if outs else last
    if last:
        api.wait_operation(last)
    print(f"{time.monotonic() - t0:.2f}")


def cmd_wait_healthy(port, expect, timeout):
    expect, deadline = int(expect), time.monotonic() + float(timeout)
    api = Api(int(port))
    sids = all_services(api)
    t0 = time.monotonic()
    while True:
        counts = health_counts(api, sids)
        if counts.get("HEALTHY", 0) == expect and sum(counts.values()) == expect:
            print(f"{time.monotonic() - t0:.2f}")
            return
        if time.monotonic() > deadline:
            fail(f"not all {expect} instances HEALTHY within {timeout}s: {counts}")
        time.sleep(0.5)


def parse_metrics(text):
    """{(name, labels): value} of the sample lines."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        name, _, labels = key.partition("{")
        try:
            out[(name, labels.rstrip("}"))] = float(value)
        except ValueError:
            pass
    return out


def probe_counters(api):
    """(ok, failed, to_healthy, to_unhealthy) from /metrics; None where the metric is absent."""
    m = parse_metrics(api.get_text("/metrics"))

    def pick(name, label):
        vals = [v for (n, l), v in m.items() if n == name and label in l]
        return sum(vals) if vals else None
    return (pick("cloudmap_health_probes_total", 'result="success"'),
            pick("cloudmap_health_probes_total", 'result="failure"'),
            pick("cloudmap_health_changes_total", 'to="HEALTHY"'),
            pick("cloudmap_health_changes_total", 'to="UNHEALTHY"'))


def stub_requests(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /stub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    # "Active connections: N \nserver accepts handled requests\n A H R \n..."
    lines = data.partition(b"\r\n\r\n")[2].decode().splitlines()
    return int(lines[2].split()[2])


def cmd_measure(port, server_pid, nginx_pid, stub_port, warmup, seconds, expect_rate):
    server_pid, nginx_pid, stub_port = int(server_pid), int(nginx_pid), int(stub_port)
    api = Api(int(port))
    time.sleep(float(warmup))
    nginx = [nginx_pid] + children(nginx_pid)

    def sample():
        return (time.monotonic(), proc_ticks(server_pid), tree_ticks(nginx), machine_ticks()[0],
                probe_counters(api), stub_requests(stub_port), proc_ticks(server_pid, True))
    a = sample()
    time.sleep(float(seconds))
    b = sample()
    dt = b[0] - a[0]
    if a[1] is None or b[1] is None:
        fail("the server exited during the measurement")
    server_s = (b[1] - a[1]) / HZ
    nginx_s = (b[2] - a[2]) / HZ
    machine_s = (b[3] - a[3]) / HZ
    stub = b[5] - a[5] - 1  # minus our own second /stub request
    (ok0, failed0, h0, u0), (ok1, failed1, h1, u1) = a[4], b[4]
    have_metrics = ok0 is not None and ok1 is not None
    if have_metrics:
        probes = (ok1 - ok0) + ((failed1 or 0) - (failed0 or 0))
        failed = (failed1 or 0) - (failed0 or 0)
        source = "server /metrics cloudmap_health_probes_total"
    else:
        probes = stub
        failed = None
        source = "nginx stub_status requests (the server's /metrics has no cloudmap_health_probes_total)"
    rate = probes / dt
    print(f"seconds={dt:.1f}")
    print(f"nginx_processes={len(nginx)}")
    print(f"probes={probes:.0f}")
    print(f"probe_rate={rate:.0f}")
    print(f"probe_rate_expected={float(expect_rate):.0f}")
    print(f"probe_rate_source={source}")
    print(f"nginx_requests_rate={stub / dt:.0f}")
    print(f"failed_probes={'n/a' if failed is None else f'{failed:.0f}'}")
    changes = "n/a" if h0 is None and u0 is None and h1 is None and u1 is None else \
        f"{((h1 or 0) - (h0 or 0)) + ((u1 or 0) - (u0 or 0)):.0f}"
    print(f"health_changes={changes}")
    print(f"server_pct={100 * server_s / dt:.2f}")
    print(f"server_user_pct={100 * (b[6][0] - a[6][0]) / HZ / dt:.2f}")
    print(f"server_sys_pct={100 * (b[6][1] - a[6][1]) / HZ / dt:.2f}")
    print(f"server_us_per_probe={1e6 * server_s / probes if probes else float('nan'):.2f}")
    print(f"nginx_pct={100 * nginx_s / dt:.2f}")
    print(f"nginx_us_per_request={1e6 * nginx_s / stub if stub > 0 else float('nan'):.2f}")
    print(f"machine_pct={100 * machine_s / dt:.2f}")
    print(f"other_pct={100 * (machine_s - server_s - nginx_s) / dt:.2f}")


def cmd_floor(binary, nginx_pid, stub_port, rate, seconds, *targets):
    """Runs floor.c and reports its CPU per probe (and nginx's over the same time)."""
    import subprocess
    nginx_pid, stub_port = int(nginx_pid), int(stub_port)
    nginx = [nginx_pid] + children(nginx_pid)
    n0, s0, t0 = tree_ticks(nginx), stub_requests(stub_port), time.monotonic()
    out = subprocess.run([binary, str(rate), str(seconds), "/health", *targets],
                         capture_output=True, text=True, check=True).stdout
    n1, s1, t1 = tree_ticks(nginx), stub_requests(stub_port), time.monotonic()
    kv = dict(line.split("=", 1) for line in out.split())
    probes, secs = int(kv["probes"]), float(kv["seconds"])
    user, sys_ = int(kv["user_us"]) / 1e6, int(kv["sys_us"]) / 1e6
    print(f"probes={probes}")
    print(f"ok={kv['ok']}")
    print(f"rate={probes / secs:.0f}")
    print(f"pct={100 * (user + sys_) / secs:.2f}")
    print(f"user_pct={100 * user / secs:.2f}")
    print(f"sys_pct={100 * sys_ / secs:.2f}")
    print(f"us_per_probe={1e6 * (user + sys_) / probes if probes else float('nan'):.2f}")
    print(f"nginx_pct={100 * (n1 - n0) / HZ / (t1 - t0):.2f}")
    print(f"nginx_requests={s1 - s0 - 1}")


# ---------------------------------------------------------------------------------------------
# Backends whose health can be switched: `fail I MODE` (500: answer 500; refuse: stop listening;
# hang: accept, never answer), `restore I`, `probes I` (monotonic times at which the backend
# answered or accepted a probe since the last `fail`), `quit`.

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
ERR_RESPONSE = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n"
                b"Connection: close\r\n\r\nfail\n")


class Backend:
    def __init__(self, ip, port):
        self.ip, self.port = ip, port
        self.mode = "ok"
        self.server = None
        self.failing_probes = []

    async def listen(self):
        self.server = await asyncio.start_server(self.handle, self.ip, self.port,
                                                 reuse_address=True, backlog=128)

    async def handle(self, reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "hang":
                self.failing_probes.append(time.monotonic())
                await reader.read()  # until the checker gives up and closes
            elif self.mode == "500":
                self.failing_probes.append(time.monotonic())
                writer.write(ERR_RESPONSE)
                await writer.drain()
            else:
                writer.write(OK_RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def backends_main(control_port, addrs):
    backends = []
    for a in addrs:
        ip, p = a.rsplit(":", 1)
        b = Backend(ip, int(p))
        await b.listen()
        backends.append(b)
    done = asyncio.Event()

    async def control(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode().split()
            reply = "error"
            if words[0] == "fail":
                b = backends[int(words[1])]
                b.failing_probes = []
                if words[2] == "refuse":
                    b.server.close()
                    b.mode = "refuse"
                else:
                    b.mode = words[2]
                reply = f"ok {time.monotonic():.6f}"
            elif words[0] == "restore":
                b = backends[int(words[1])]
                if b.mode == "refuse":
                    await b.listen()
                b.mode = "ok"
                reply = f"ok {time.monotonic():.6f}"
            elif words[0] == "probes":
                b = backends[int(words[1])]
                reply = "ok " + " ".join(f"{t:.6f}" for t in b.failing_probes)
            elif words[0] == "quit":
                done.set()
                reply = "ok"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
        writer.close()

    ctl = await asyncio.start_server(control, "127.0.0.1", control_port, reuse_address=True)
    print("ready", flush=True)
    async with ctl:
        await done.wait()


def cmd_backends(control_port, *addrs):
    asyncio.run(backends_main(int(control_port), addrs))


class Control:
    def __init__(self, port):
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rb")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        reply = self.file.readline().decode().split()
        if not reply or reply[0] != "ok":
            fail(f"backend control: {line!r} -> {reply}")
        return reply[1:]


# ---------------------------------------------------------------------------------------------
# DNS over UDP.


class Resolver:
    def __init__(self, port, name):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.connect(("127.0.0.1", port))
        self.udp.settimeout(1.0)
        self.name = name
        self.qid = random.getrandbits(16)
        self.queries = 0

    def ask(self):
        """The A records of the name (one query; retried on a lost or stale answer)."""
        while True:
            self.qid = (self.qid + 1) & 0xFFFF
            self.udp.send(benchlib.dns_query(self.name, 1, self.qid)[1])
            self.queries += 1
            try:
                while True:
                    msg = self.udp.recv(4096)
                    if struct.unpack(">H", msg[:2])[0] == self.qid:
                        break
            except socket.timeout:
                continue
            rcode, addrs = benchlib.a_records(msg)
            if rcode != 0:
                fail(f"DNS {self.name} A: rcode {rcode}")
            return addrs

    def until(self, pred, timeout):
        """Polls continuously until pred(answer); returns the monotonic time of that answer."""
        deadline = time.monotonic() + timeout
        while True:
            addrs = self.ask()
            now = time.monotonic()
            if pred(addrs):
                return now, addrs
            if now > deadline:
                return None, addrs


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))  # nearest rank
    return s[int(k)]


def cmd_failover(port, dns_port, control_port, interval, threshold, trials, mode, *addrs):
    interval, threshold, trials = float(interval), int(threshold), int(trials)
    ips = [a.rsplit(":", 1)[0] for a in addrs]
    api = Api(int(port))
    ns = create_namespace(api, "failover.local")
    sid = api.must("CreateService", {
        "Name": "web", "NamespaceId": ns,
        "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 0}]},
        "HealthCheckConfig": {"Type": "HTTP", "ResourcePath": "/health",
                              "FailureThreshold": threshold}})["Service"]["Id"]
    last = None
    for n, a in enumerate(addrs):
        ip, p = a.rsplit(":", 1)
        last = api.must("RegisterInstance", {
            "ServiceId": sid, "InstanceId": f"backend-{n}",
            "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": p}})["OperationId"]
    api.wait_operation(last)
    ctl = Control(int(control_port))
    dns = Resolver(int(dns_port), "web.failover.local")
    every = set(ips)
    settle = max(30.0, 10 * threshold * interval)
    # UNKNOWN (not probed yet) instances are in DNS too, and their first probe result counts at
    # once: start only when every backend has been probed HEALTHY.
    deadline = time.monotonic() + settle
    while health_counts(api, [sid]).get("HEALTHY", 0) != len(addrs):
        if time.monotonic() > deadline:
            fail(f"the backends are not all HEALTHY within {settle}s: {health_counts(api, [sid])}")
        time.sleep(0.05)
    t, got = dns.until(lambda s: s == every, settle)
    if t is None:
        fail(f"not every backend in DNS within {settle}s: {sorted(got)}")
    failover, recovery, after_decision, anomalies = [], [], [], []
    t_run = time.monotonic()
    for trial in range(trials):
        victim = random.randrange(len(addrs))
        ip = ips[victim]
        # A random phase against the victim's probe schedule (the previous recovery was seen
        # right after one of its probes).
        time.sleep(random.uniform(0, interval))
        t_fail = float(ctl.cmd(f"fail {victim} {mode}")[0])
        t_gone, got = dns.until(lambda s, ip=ip: ip not in s, settle)
        if t_gone is None:
            fail(f"trial {trial}: {ip} still in DNS {settle}s after it began failing ({mode})")
        if not got:
            anomalies.append(f"trial {trial}: empty answer when {ip} went")
        failover.append(t_gone - t_fail)
        probes = [float(x) for x in ctl.cmd(f"probes {victim}")]
        if os.environ.get("BENCH_HEALTH_DEBUG"):
            print(f"trial {trial}: victim {ip} gone after {1000 * (t_gone - t_fail):.1f} ms, "
                  f"answer {sorted(got)}, failing probes at "
                  f"{[round(1000 * (p - t_fail), 1) for p in probes]} ms", file=sys.stderr)
        if mode != "refuse" and len(probes) >= threshold:
            decided = probes[threshold - 1]
            if mode == "hang":
                decided += min(interval, 1.0)  # the probe counts as failed at its timeout
            after_decision.append(t_gone - decided)
        # Stays gone for a while: the checker must not flap back.
        t_check_end = time.monotonic() + min(interval, 0.5)
        while time.monotonic() < t_check_end:
            if ip in dns.ask():
                anomalies.append(f"trial {trial}: {ip} came back while still failing")
                break
        t_restore = float(ctl.cmd(f"restore {victim}")[0])
        t_back, got = dns.until(lambda s: s == every, settle)
        if t_back is None:
            fail(f"trial {trial}: {ip} not back in DNS {settle}s after restoring: {sorted(got)}")
        recovery.append(t_back - t_restore)
    wall = time.monotonic() - t_run
    ms = [1000 * x for x in failover]
    lo, hi = 1000 * (threshold - 1) * interval, 1000 * threshold * interval
    print(f"trials={trials} mode={mode} interval_ms={1000 * interval:.0f} threshold={threshold} "
          f"backends={len(addrs)} wall_s={wall:.0f} dns_queries={dns.queries} "
          f"dns_qps={dns.queries / wall:.0f}")
    print(f"failover_ms p50={pct(ms, 50):.1f} p90={pct(ms, 90):.1f} p99={pct(ms, 99):.1f} "
          f"max={max(ms):.1f} min={min(ms):.1f} mean={sum(ms) / len(ms):.1f}")
    print(f"theory_ms {lo:.0f}..{hi:.0f}"
          + (f" (+ the probe timeout {1000 * min(interval, 1.0):.0f} ms when hanging)"
             if mode == "hang" else ""))
    outside = [m for m in ms if m < lo - 5 or m > hi + 50]
    print(f"outside_window={len(outside)}" + (f" values_ms={[round(x, 1) for x in outside]}"
                                               if outside else ""))
    if after_decision:
        d = [1000 * x for x in after_decision]
        print(f"decision_to_dns_ms p50={pct(d, 50):.2f} p99={pct(d, 99):.2f} max={max(d):.2f} "
              f"(from the backend answering failing probe #{threshold} to the DNS answer "
              f"without it)")
    r = [1000 * x for x in recovery]
    print(f"recovery_ms p50={pct(r, 50):.1f} p99={pct(r, 99):.1f} max={max(r):.1f} "
          f"(restored -> back in DNS; needs {threshold} passing probes)")
    for a in anomalies:
        print(f"anomaly: {a}")
    print(f"p99_ms={pct(ms, 99):.1f}")


COMMANDS = {
    "free-port": cmd_free_port,
    "wait": cmd_wait,
    "baseline": cmd_baseline,
    "load": cmd_load,
    "wait-healthy": cmd_wait_healthy,
    "measure": cmd_measure,
    "floor": cmd_floor,
    "backends": cmd_backends,
    "failover": cmd_failover,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: helper.py {{{','.join(COMMANDS)}}} ARGS…")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
