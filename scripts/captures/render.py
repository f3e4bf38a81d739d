#!/usr/bin/env python3
"""Entry point of the capture model (see kube.py).

  render.py CAPTURE OUTDIR WORKDIR   write CAPTURE's model files (module CAPTURE with - as _)
  render.py etcd-v2 CAPTURED_AT TSV  stdin: an etcd v2 GET body; stdout: the same body with
                                     each node's ttl/expiration as seen at CAPTURED_AT
"""
import importlib
import json
import os
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

if __name__ == "__main__":
    if sys.argv[1] == "etcd-v2":
        for line in open(sys.argv[3]):
            key, _value, ttl = line.rstrip("\n").split("\t")
            if int(ttl) > 0:
                TTLS[key] = int(ttl)
        etcd_v2(sys.argv[2])
    else:
        capture, out, work = sys.argv[1:4]
        mod = importlib.import_module(capture.replace("-", "_"))
        kube.render(mod.build(), out, work)
