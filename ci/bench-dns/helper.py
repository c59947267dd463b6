#!/usr/bin/env python3
"""Helpers for ci/bench-dns.sh (stdlib only, loopback only).

  helper.py free-port                      a port free for both UDP and TCP on 127.0.0.1
  helper.py wait API_PORT PID TIMEOUT      until GET /health answers 200
  helper.py load-base API_PORT             namespace app.local + the gen-zone.py data set
                                           (100 services x 8 instances); prints the namespace id
  helper.py load-bulk API_PORT NSVC NINST WORKERS [WINDOW=1] [FIRST=0]
                                           NSVC extra services big-NNNN x NINST instances in
                                           app.local over WORKERS keep-alive connections (processes),
                                           WINDOW requests in flight on each
  helper.py visible API_PORT DNS_PORT N    register->visible latency in DNS (service `vis`)
  helper.py compare DNS_PORT REF_PORT QUERIES N   answer sets of N queries, ours vs a reference
  helper.py summary CSV REPS SERVERS MODES [MIN_NSD MAX_US_Q MAX_P99_US]
                                           table + ratios + targets of the run-all.sh results
  helper.py scale-summary CSV REPS BASE BIG RSS_BASE_KB RSS_BIG_KB MIN_RATIO
                                           table + target of the scale part
  helper.py check-port PORT                exit 1 if 127.0.0.1:PORT is taken (UDP or TCP)

The data set must match ../shared/bench/dns/gen-zone.py: svc-NNN with A 10.42.N.(i+1),
AAAA fd00:42:0:N(hex)::(i+1)(hex), SRV 1 1 8080 inst-i.svc-NNN.app.local., TTL 60.
"""
import csv
import json
import multiprocessing
import os
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402  (ci/benchlib.py)

ZONE = "app.local"
TTL = 60
DNS_CONFIG = {
    "RoutingPolicy": "MULTIVALUE",
    "DnsRecords": [{"Type": "A", "TTL": TTL}, {"Type": "AAAA", "TTL": TTL},
                   {"Type": "SRV", "TTL": TTL}],
}


def fail(msg):
    print(f"bench-dns: error: {msg}", file=sys.stderr)
    sys.exit(1)


def v4(n, i):
    return f"10.42.{n}.{i + 1}"


def v6(n, i):
    return f"fd00:42:0:{n:x}::{i + 1:x}"


class Api(benchlib.Api):
    tool = "bench-dns"


def namespace_id(api, name):
    token = None
    while True:
        body = {"NextToken": token} if token else {}
        out = api.must("ListNamespaces", body)
        for ns in out.get("Namespaces", []):
            if ns["Name"] == name:
                return ns["Id"]
        token = out.get("NextToken")
        if not token:
            return None


def service_ids(api, ns_id):
    ids, token = {}, None
    while True:
        body = {"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns_id], "Condition": "EQ"}],
                "MaxResults": 100}
        if token:
            body["NextToken"] = token
        out = api.must("ListServices", body)
        for s in out.get("Services", []):
            ids[s["Name"]] = s["Id"]
        token = out.get("NextToken")
        if not token:
            return ids


# ---------------------------------------------------------------------------------------------
# Commands.

def cmd_free_port():
    port = benchlib.free_port()
    if port is None:
        fail("no free port")
    print(port)


def cmd_wait(port, pid, timeout):
    error = benchlib.wait_health(port, pid, timeout)
    if error:
        fail(error)


def cmd_load_base(port, nsvc="100", ninst="8"):
    nsvc, ninst = int(nsvc), int(ninst)
    api = Api(int(port))
    t0 = time.perf_counter()
    op = api.must("CreatePrivateDnsNamespace", {"Name": ZONE, "Vpc": "vpc-bench"})["OperationId"]
    api.wait_operation(op)
    ns = namespace_id(api, ZONE)
    if not ns:
        fail(f"namespace {ZONE} not in ListNamespaces after its operation succeeded")
    last = None
    for n in range(nsvc):
        sid = api.must("CreateService", {"Name": f"svc-{n:03d}", "NamespaceId": ns,
                                         "DnsConfig": DNS_CONFIG})["Service"]["Id"]
        for i in range(ninst):
            last = api.must("RegisterInstance", {
                "ServiceId": sid, "InstanceId": f"inst-{i}",
                "Attributes": {"AWS_INSTANCE_IPV4": v4(n, i), "AWS_INSTANCE_IPV6": v6(n, i),
                               "AWS_INSTANCE_PORT": "8080"}})["OperationId"]
    if last:
        api.wait_operation(last)
    print(f"{ns} {time.perf_counter() - t0:.2f}")


def _bulk_worker(args):
    port, jobs, window = args
    api = Api(port, timeout=120)
    last = None
    for sid, s in jobs:
        pending = 0
        for i in range(bulk_ninst):
            idx = s * bulk_ninst + i
            body = {"ServiceId": sid, "InstanceId": f"i-{i}", "Attributes": {
                "AWS_INSTANCE_IPV4": f"10.{100 + (idx >> 16)}.{(idx >> 8) & 255}.{idx & 255}",
                "AWS_INSTANCE_IPV6": f"fd00:43::{idx >> 16:x}:{idx & 0xffff:x}",
                "AWS_INSTANCE_PORT": "8080"}}
            api.send("RegisterInstance", body)
            pending += 1
            if pending >= window:
                status, text = api.recv()
                pending -= 1
                if status != 200:
                    return "err", f"RegisterInstance -> HTTP {status}: {text[:300]!r}"
                last = text
        while pending:
            status, text = api.recv()
            pending -= 1
            if status != 200:
                return "err", f"RegisterInstance -> HTTP {status}: {text[:300]!r}"
            last = text
    return "ok", (json.loads(last)["OperationId"] if last else None)


bulk_ninst = 0


def cmd_load_bulk(port, nsvc, ninst, workers, window="1", first="0"):
    global bulk_ninst
    port, nsvc, workers, window = int(port), int(nsvc), int(workers), int(window)
    first = int(first)
    bulk_ninst = int(ninst)
    api = Api(port)
    ns = namespace_id(api, ZONE)
    if not ns:
        fail(f"namespace {ZONE} missing")
    t0 = time.perf_counter()
    reqs = [api.encode("CreateService", {"Name": f"big-{s:04d}", "NamespaceId": ns,
                                         "DnsConfig": DNS_CONFIG})
            for s in range(first, first + nsvc)]
    sids = []
    for k in range(0, len(reqs), 50):
        batch = reqs[k:k + 50]
        api.send_raw(b"".join(batch))
        for _ in batch:
            status, body = api.recv()
            if status != 200:
                fail(f"CreateService -> HTTP {status}: {body[:300]!r}")
            sids.append(json.loads(body)["Service"]["Id"])
    t1 = time.perf_counter()
    jobs = [[] for _ in range(workers)]
    for s, sid in enumerate(sids):
        jobs[s % workers].append((sid, first + s))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        results = pool.map(_bulk_worker, [(port, j, window) for j in jobs], chunksize=1)
    for kind, r in results:
        if kind != "ok":
            fail(r)
    t2 = time.perf_counter()
    for _, r in results:
        if r:
            api.wait_operation(r, timeout=600)
    t3 = time.perf_counter()
    total = nsvc * bulk_ninst
    print(f"services={nsvc} create_services_s={t1 - t0:.2f} instances={total} "
          f"register_s={t2 - t1:.2f} drain_s={t3 - t2:.2f} total_s={t3 - t0:.2f} "
          f"rate_per_s={total / (t3 - t1):.0f}")


def cmd_visible(port, dns_port, n, timeout_s="5"):
    port, dns_port, n, timeout_s = int(port), int(dns_port), int(n), float(timeout_s)
    api = Api(port)
    ns = namespace_id(api, ZONE)
    sid = api.must("CreateService", {
        "Name": "vis", "NamespaceId": ns,
        "DnsConfig": {"RoutingPolicy": "MULTIVALUE",
                      "DnsRecords": [{"Type": "A", "TTL": TTL}]}})["Service"]["Id"]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", dns_port))
    udp.settimeout(0.5)

    def ips():
        """The A records of vis.app.local now (one query in flight, resent on a lost reply)."""
        qid, q = benchlib.dns_query(f"vis.{ZONE}")
        udp.send(q)
        while True:
            try:
                msg = udp.recv(4096)
            except socket.timeout:
                qid, q = benchlib.dns_query(f"vis.{ZONE}")
                udp.send(q)
                continue
            if struct.unpack(">H", msg[:2])[0] == qid:
                return benchlib.dns_answers(msg)[1]

    def until(pred, what):
        t0 = time.perf_counter()
        polls = 0
        while True:
            polls += 1
            if pred(ips()):
                return time.perf_counter(), polls
            if time.perf_counter() - t0 > timeout_s:
                fail(f"{what} not seen in DNS within {timeout_s}s")

    reg, dereg, polls_reg = [], [], []
    for k in range(n):
        ip = socket.inet_aton(f"10.43.{k >> 8}.{k & 255}")
        iid = f"vis-{k}"
        if ip in ips():
            fail(f"{iid}'s address is in DNS before it was registered")
        t0 = time.perf_counter()
        api.send("RegisterInstance", {"ServiceId": sid, "InstanceId": iid,
                                      "Attributes": {"AWS_INSTANCE_IPV4": f"10.43.{k >> 8}.{k & 255}"}})
        t1, polls = until(lambda a: ip in a, f"registration of {iid}")
        status, body = api.recv()
        if status != 200:
            fail(f"RegisterInstance {iid} -> HTTP {status}: {body[:300]!r}")
        reg.append((t1 - t0) * 1000)
        polls_reg.append(polls)
        t0 = time.perf_counter()
        api.send("DeregisterInstance", {"ServiceId": sid, "InstanceId": iid})
        t1, _ = until(lambda a: ip not in a, f"deregistration of {iid}")
        status, body = api.recv()
        if status != 200:
            fail(f"DeregisterInstance {iid} -> HTTP {status}: {body[:300]!r}")
        dereg.append((t1 - t0) * 1000)

    def stats(v):
        s = sorted(v)
        return (f"p50={s[len(s) // 2]:.3f} p99={s[min(len(s) - 1, int(0.99 * len(s)))]:.3f} "
                f"max={s[-1]:.3f} mean={statistics.fmean(s):.3f}")
    print(f"register n={n} {stats(reg)} polls_median={sorted(polls_reg)[n // 2]}")
    print(f"deregister n={n} {stats(dereg)}")


def cmd_compare(dns_port, ref_port, queries, n):
    """Compare answer RRsets (sorted) and rcodes of the first N distinct queries."""
    types = {"A": 1, "AAAA": 28, "SRV": 33}
    seen, qs = set(), []
    with open(queries) as f:
        for line in f:
            name, typ = line.split()
            if (name, typ) not in seen:
                seen.add((name, typ))
                qs.append((name, typ))
            if len(qs) >= int(n):
                break
    socks = {}
    for p in (int(dns_port), int(ref_port)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", p))
        s.settimeout(2)
        socks[p] = s

    def ask(port, name, t):
        qid, q = benchlib.dns_query(name, types[t])
        socks[port].send(q)
        while True:
            msg = socks[port].recv(4096)
            if struct.unpack(">H", msg[:2])[0] == qid:
                break
        rcode, rd = benchlib.dns_answers(msg, types[t])
        return rcode, sorted(rd), bool(msg[2] & 0x02)

    bad = 0
    for name, t in qs:
        a = ask(int(dns_port), name, t)
        b = ask(int(ref_port), name, t)
        if a != b and not (a[2] or b[2]):
            bad += 1
            if bad <= 5:
                print(f"  differs: {name} {t}: ours rcode={a[0]} n={len(a[1])}, "
                      f"reference rcode={b[0]} n={len(b[1])}")
    print(f"compared {len(qs)} distinct queries: {len(qs) - bad} same answer set and rcode, "
          f"{bad} different")
    if bad:
        sys.exit(1)


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _mean(vals):
    vals = [v for v in vals if v is not None]
    return statistics.fmean(vals) if vals else None


def _fmt(v, spec=".0f"):
    return "n/a" if v is None else format(v, spec)


def cmd_summary(path, expect_reps, servers, modes, min_nsd="1.0", max_upq="7", max_p99="130"):
    min_nsd, max_upq, max_p99 = float(min_nsd), float(max_upq), float(max_p99)
    rows = list(csv.DictReader(open(path)))
    servers, modes = servers.split(","), modes.split(",")
    agg, broken = {}, []
    for s in servers:
        for m in modes:
            rs = [r for r in rows if r["server"] == s and r["mode"] == m]
            if len(rs) != int(expect_reps):
                broken.append(f"{s} {m}: {len(rs)} result rows, expected {expect_reps}")
            if any((_num(r["completed"]) or 0) <= 0 for r in rs):
                broken.append(f"{s} {m}: a run completed no query")
            agg[s, m] = {
                "qps_reps": [r["qps"] for r in rs],
                "qps": _mean(_num(r["qps"]) for r in rs),
                "p50": _mean(_num(r["p50_us"]) for r in rs),
                "p99": _mean(_num(r["p99_us"]) for r in rs),
                "upq": _mean(_num(r["us_cpu_per_query"]) for r in rs),
                "cpu": _mean(_num(r["server_cpu_pct"]) for r in rs),
                "lost": sum(int(_num(r["lost"]) or 0) for r in rs),
                "done": sum(int(_num(r["completed"]) or 0) for r in rs),
                "idle": _mean(_num(r["sys_idle_pct"]) for r in rs),
                "thr": rs[-1]["server_threads"] if rs else "-",
            }
    print(f"{'server':<6} {'mode':<5} {'QPS (mean)':>10}  {'per rep':<17} {'p50 us':>8} "
          f"{'p99 us':>8} {'srv CPU%':>8} {'us/query':>8} {'lost':>6} {'idle%':>5} threads")
    for m in modes:
        for s in servers:
            a = agg[s, m]
            print(f"{s:<6} {m:<5} {_fmt(a['qps']):>10}  {'/'.join(a['qps_reps']):<17} "
                  f"{_fmt(a['p50'], '.1f'):>8} {_fmt(a['p99'], '.1f'):>8} {_fmt(a['cpu']):>8} "
                  f"{_fmt(a['upq'], '.2f'):>8} {a['lost']:>6} {_fmt(a['idle']):>5} {a['thr']}")
    print("(lat1 = udplat, 1 query in flight; c1/c10 = dnsperf, 100 outstanding: their p50/p99 "
          "are mostly queueing. us/query = server utime+stime / completed queries)")
    print()

    def ratio(a, b):
        return a / b if a is not None and b else None
    for ref in [s for s in servers if s != "ours"]:
        for m in modes:
            q = ratio(agg["ours", m]["qps"], agg[ref, m]["qps"])
            u = ratio(agg["ours", m]["upq"], agg[ref, m]["upq"])
            print(f"ours/{ref:<4} {m:<4}: QPS ratio {_fmt(q, '.2f')}x, "
                  f"server CPU per query ratio {_fmt(u, '.2f')}x")
    print()
    results = []

    def verdict(ok, text):
        results.append(ok)
        print(("TARGET MET:    " if ok else "TARGET MISSED: ") + text)
    if "nsd" in servers and "c10" in modes:
        q = ratio(agg["ours", "c10"]["qps"], agg["nsd", "c10"]["qps"])
        verdict(q is not None and q >= min_nsd,
                f"c10 QPS ours/nsd = {_fmt(q, '.2f')}x "
                f"({_fmt(agg['ours', 'c10']['qps'])} vs {_fmt(agg['nsd', 'c10']['qps'])}) "
                f"(target >= {min_nsd:g}x)")
    if "c10" in modes:
        u = agg["ours", "c10"]["upq"]
        verdict(u is not None and u <= max_upq,
                f"c10 server CPU ours = {_fmt(u, '.2f')} us/query (target <= {max_upq:g} us; "
                f"nsd {_fmt(agg.get(('nsd', 'c10'), {}).get('upq'), '.2f')}, "
                f"knot {_fmt(agg.get(('knot', 'c10'), {}).get('upq'), '.2f')})")
    if "lat1" in modes:
        p = agg["ours", "lat1"]["p99"]
        verdict(p is not None and p <= max_p99,
                f"lat1 p99 ours = {_fmt(p, '.1f')} us (target <= {max_p99:g} us; "
                f"nsd {_fmt(agg.get(('nsd', 'lat1'), {}).get('p99'), '.1f')}, "
                f"knot {_fmt(agg.get(('knot', 'lat1'), {}).get('p99'), '.1f')})")
    for (s, m), a in agg.items():
        if a["done"] and a["lost"] > 0.01 * a["done"]:
            broken.append(f"{s} {m}: {a['lost']} of {a['done'] + a['lost']} queries lost (> 1 %)")
    for b in broken:
        print(f"RUN FAILED: {b}")
    sys.exit(2 if broken else 0)


def cmd_scale_summary(path, expect_reps, base, big, rss_base, rss_big, min_ratio):
    rows = list(csv.DictReader(open(path)))
    agg, broken = {}, []
    for s in (base, big):
        rs = [r for r in rows if r["server"] == s and r["mode"] == "c10"]
        if len(rs) != int(expect_reps):
            broken.append(f"{s} c10: {len(rs)} result rows, expected {expect_reps}")
        done = sum(int(_num(r["completed"]) or 0) for r in rs)
        lost = sum(int(_num(r["lost"]) or 0) for r in rs)
        if done <= 0:
            broken.append(f"{s} c10: no query completed")
        elif lost > 0.01 * (done + lost):
            broken.append(f"{s} c10: {lost} of {done + lost} queries lost (> 1 %)")
        agg[s] = {"qps": _mean(_num(r["qps"]) for r in rs), "reps": [r["qps"] for r in rs],
                  "upq": _mean(_num(r["us_cpu_per_query"]) for r in rs),
                  "p50": _mean(_num(r["p50_us"]) for r in rs),
                  "p99": _mean(_num(r["p99_us"]) for r in rs), "lost": lost}
    rss = {base: int(rss_base), big: int(rss_big)}
    print(f"{'server':<10} {'QPS c10':>9}  {'per rep':<17} {'p50 us':>8} {'p99 us':>8} "
          f"{'us/query':>8} {'lost':>6} {'VmRSS':>10}")
    for s in (base, big):
        a = agg[s]
        print(f"{s:<10} {_fmt(a['qps']):>9}  {'/'.join(a['reps']):<17} {_fmt(a['p50'], '.1f'):>8} "
              f"{_fmt(a['p99'], '.1f'):>8} {_fmt(a['upq'], '.2f'):>8} {a['lost']:>6} "
              f"{rss[s] / 1024:>7.0f} MiB")
    q = agg[big]["qps"] / agg[base]["qps"] if agg[big]["qps"] and agg[base]["qps"] else None
    print()
    ok = q is not None and q >= float(min_ratio)
    print(("TARGET MET:    " if ok else "TARGET MISSED: ") +
          f"c10 QPS {big}/{base} = {_fmt(q, '.2f')}x (target >= {min_ratio}x)")
    for b in broken:
        print(f"RUN FAILED: {b}")
    sys.exit(2 if broken else 0)


def cmd_check_port(port):
    """Exit 1 if 127.0.0.1:PORT is taken (UDP or TCP)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            sys.exit(1)
        finally:
            s.close()


if __name__ == "__main__":
    cmds = {"scale-summary": cmd_scale_summary, "check-port": cmd_check_port,"free-port": cmd_free_port, "wait": cmd_wait, "load-base": cmd_load_base,
            "load-bulk": cmd_load_bulk, "visible": cmd_visible, "compare": cmd_compare,
            "summary": cmd_summary}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail(f"usage: helper.py {{{','.join(cmds)}}} ARGS...")
    cmds[sys.argv[1]](*sys.argv[2:])
