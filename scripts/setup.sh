#!/usr/bin/env bash
# Installs the system packages netdoctor's build and tests need. Idempotent:
# packages already present are not fetched again.
#   protobuf-compiler, libprotobuf-dev  etcd-client (tonic/prost) build
#   etcd-server, etcd-client            real etcd for collector tests and fixtures
#   prometheus, prometheus-alertmanager real scraper / promtool / alert receiver
#   iproute2, iptables, ipset, kmod     network namespaces, fixtures (IPVS-mode ipsets), br_netfilter
set -euo pipefail
pkgs=(protobuf-compiler libprotobuf-dev etcd-server etcd-client prometheus prometheus-alertmanager iproute2 iptables ipset kmod procps python3 chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's packages start their services on install; tests start their own.
for svc in etcd prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
  pkill -x "$svc" >/dev/null 2>&1 || true
done
echo "setup: all packages present"
