#!/usr/bin/env python3
"""Entry point of the capture model (see kube.py).

  render.py CAPTURE OUTDIR WORKDIR   write CAPTURE's model files (module CAPTURE with - as _)
  render.py etcd-v2 CAPTURED_AT TSV  stdin: an etcd v2 GET body; stdout: the same body with
                                     each node's ttl/expiration as seen at CAPTURED_AT
  render.py normalize NODEDIR        make a host's ip dumps byte-stable across runs
"""
import importlib
import ipaddress
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube  # noqa: E402


def etcd_v2(captured_at: str):
    """etcd prints `ttl` counting down and `expiration` from the wall clock; rewrite both from
    the lease's intended expiry (the etcd.tsv ttl, kept as written) relative to CAPTURED_AT, so
    the dump reads as if taken then and stays byte-stable."""
    body = json.load(sys.stdin, object_pairs_hook=dict)

    def walk(n):
        if "ttl" in n:
            n["ttl"] = int(n["ttl"] + 0.5) if isinstance(n["ttl"], float) else n["ttl"]
            ttl = TTLS.get(n["key"], n["ttl"])
            n["ttl"] = ttl
            exp = kube.shift(captured_at, seconds=ttl)
            n["expiration"] = exp.replace("Z", f".{int(kube.sha(n['key'])[:8], 16) % 10**9:09d}Z")
        for c in n.get("nodes", []):
            walk(c)
    walk(body["node"])
    sys.stdout.write(json.dumps(body, separators=(",", ":")) + "\n")


TTLS = {}

TIMERS = re.compile(r'"(hello_timer|tcn_timer|topology_change_timer|gc_timer|hold_timer|message_age_timer|forward_delay_timer)":[0-9.]+')


def normalize(d: str):
    """What varies from run to run in real tool output, and nothing else: the bridge
    timers (counting in real time; printed as a long-running bridge shows them, 0.00),
    the neighbour table's hash order (sorted by device, then address), and the order
    of routes that differ only in their device (IPv6 link-local addresses, whose
    insertion order follows DAD completion)."""
    for f in ("ip-link.json", "ip-addr.json"):
        p = os.path.join(d, f)
        with open(p) as fh:
            t = fh.read()
        with open(p, "w") as fh:
            fh.write(TIMERS.sub(lambda m: f'"{m.group(1)}":0.00', t))
    p = os.path.join(d, "ip-neigh.json")
    neigh = json.load(open(p))
    neigh.sort(key=lambda n: (n.get("dev", ""), ipaddress.ip_address(n["dst"]).version, int(ipaddress.ip_address(n["dst"]))))
    open(p, "w").write(json.dumps(neigh, separators=(",", ":")) + "\n")
    p = os.path.join(d, "ip-route.json")
    routes = json.load(open(p))
    out, i = [], 0
    while i < len(routes):
        j = i
        key = lambda r: (r.get("type"), r.get("dst"), r.get("table"))
        while j < len(routes) and key(routes[j]) == key(routes[i]):
            j += 1
        out += sorted(routes[i:j], key=lambda r: r.get("dev", ""))
        i = j
    open(p, "w").write(json.dumps(out, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "normalize":
        normalize(sys.argv[2])
    elif sys.argv[1] == "etcd-v2":
        for line in open(sys.argv[3]):
            key, _value, ttl = line.rstrip("\n").split("\t")
            if int(ttl) > 0:
                TTLS[key] = int(ttl)
        etcd_v2(sys.argv[2])
    else:
        capture, out, work = sys.argv[1:4]
        mod = importlib.import_module(capture.replace("-", "_"))
        kube.render(mod.build(), out, work)
