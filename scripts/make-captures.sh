#!/usr/bin/env bash
# make-captures.sh: regenerate the node-local files of the example captures
# under examples/captures/ (see shared/spec/capture-format.md).
#
# For every capture and every host it builds a network namespace that
# reproduces that host's network (veth NICs whose peers sit on a bridge in a
# shared "lan" namespace, linux bridges, vxlan, routes, neighbours, fdb,
# per-netns sysctls, iptables rules loaded with iptables-restore) and writes
# what the real tools print inside it:
#   ip -j -d link show            > ip-link.json
#   ip -j -d addr show            > ip-addr.json
#   ip -j -d route show table all > ip-route.json
#   ip -j rule show               > ip-rule.json
#   ip -j neigh show              > ip-neigh.json
#   bridge -j fdb show            > bridge-fdb.json
#   sysctl -a | grep '^net\.'     > sysctl.txt
#   iptables-save                 > iptables-save.txt
# healthy-flannel's flannel leases are written to a real etcd v3 and dumped
# with `etcdctl get --prefix /coreos.com/network -w json`.
#
# Not tool output, written from heredocs: resolv.conf, kubelet-resolv.conf,
# kubelet-config.yaml, subnet.env, ipvs.txt (this kernel has no IPVS: the
# table is printed in `ipvsadm -Ln` layout from the Services/endpoints).
# The cluster/ files, meta.json and README.md of healthy-flannel, seed-001 and
# seed-004-dns-loop are hand-written and not touched here.
#
# The other captures (seed-000, seed-002, seed-003, seed-004,
# healthy-flannel-hostgw, healthy-calico, healthy-extras, combined-faults) are
# modelled in scripts/captures/: <capture>.py describes the cluster once (Nodes,
# Pods, Services, host tables, faults) and scripts/captures/kube.py renders
# cluster/*.json, meta.json, the non-tool node files and the iptables/ipset
# input from it, so endpoints, kube-proxy rules and IPVS tables always agree
# with the Pods; <capture>.sh builds the hosts here and captures them (their
# ip dumps are made byte-stable: bridge timers, neighbour hash order). Their
# README.md is hand-written and kept; everything else in them is rewritten.
# seed-000 also uses a real etcd with --enable-v2 (flannel's v2 keys).
#
# Stand-ins (the kernel used has no IPVS, ipip or dummy devices): a bridge
# named kube-ipvs0 (kept down, NOARP, like kube-proxy's dummy) holds the
# ClusterIPs; a veth named tunl0 (NOARP, mtu 1440) stands in for calico's
# ipip device. Readers identify both by name.
#
# Requirements: root, iproute2, iptables, ipset, procps (sysctl), etcd-server
# and etcd-client (etcd, etcdctl), curl, python3 (standard library only).
# Netns names start with "ndcap-"; all namespaces, work directories and the
# etcd process are removed on exit. Idempotent: re-running rewrites the same
# files (in the three hand-written captures, timer fields and the neighbour
# table's order may differ). Arguments name the captures to regenerate
# (default: all), e.g. `make-captures.sh seed-000 healthy-calico`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/examples/captures"
P=ndcap
ETCD_CLIENT_PORT=23792
ETCD_PEER_PORT=23802

die() { echo "make-captures: $*" >&2; exit 1; }
log() { echo "make-captures: $*" >&2; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
if ! command -v ipset >/dev/null 2>&1; then
  # kube-proxy's IPVS-mode iptables rules match ipsets; iptables-restore needs
  # the sets to exist. Debian package "ipset".
  log "ipset missing, installing it"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ipset >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ipset >/dev/null; } ||
    die "cannot install ipset"
fi
for c in ip bridge iptables-restore iptables-save ipset sysctl etcd etcdctl curl awk sha256sum base32; do
  command -v "$c" >/dev/null 2>&1 || die "missing command: $c (run scripts/setup.sh)"
done
modprobe br_netfilter 2>/dev/null || true
[[ -d /proc/sys/net/bridge ]] || die "br_netfilter not available (no /proc/sys/net/bridge)"

# --------------------------------------------------------------- cleanup ---
NETNS=()
WORKDIRS=()
ETCD_PID=""
ETCD_DIR=""
cleanup() {
  set +e
  if [[ -n $ETCD_PID ]]; then
    kill "$ETCD_PID" 2>/dev/null
    wait "$ETCD_PID" 2>/dev/null
    ETCD_PID=""
  fi
  if [[ -n $ETCD_DIR ]]; then rm -rf "$ETCD_DIR"; ETCD_DIR=""; fi
  rm -f "$OUT"/*/nodes/*/iptables-save.txt.tmp
  local i
  for ((i = ${#NETNS[@]} - 1; i >= 0; i--)); do
    ip netns del "${NETNS[i]}" 2>/dev/null
  done
  NETNS=()
  for i in "${WORKDIRS[@]}"; do rm -rf "$i"; done
  WORKDIRS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# leftovers of an interrupted earlier run of this script
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" || true); do
  ip netns del "$ns" 2>/dev/null || true
done

# --------------------------------------------------------------- helpers ---
# mkns NAME: create netns ndcap-NAME with lo up
mkns() {
  local n="$P-$1"
  ip netns add "$n"
  NETNS+=("$n")
  ip -n "$n" link set lo up
}
nsip() { local n="$P-$1"; shift; ip -n "$n" "$@"; }
nsbr() { local n="$P-$1"; shift; bridge -n "$n" "$@"; }
nsx() { local n="$P-$1"; shift; ip netns exec "$n" "$@"; }
nosysout() { nsx "$1" sysctl -q -w "${@:2}" >/dev/null; }

# lan_bridge LANNS BR MAC GW/PLEN: a switch (+ gateway address) in the lan ns
lan_bridge() {
  local lan=$1 br=$2 mac=$3 gw=$4
  nsip "$lan" link add "$br" address "$mac" type bridge
  nsip "$lan" link set "$br" up
  nsip "$lan" addr add "$gw" brd + dev "$br"
}

# nic HOSTNS IF MAC LANNS BR: host NIC = veth, peer plugged into the lan bridge
nic() {
  local host=$1 ifn=$2 mac=$3 lan=$4 br=$5
  local peer="${host#*-}-$ifn" # host name without the capture prefix
  peer=${peer:0:15}
  nsip "$host" link add "$ifn" address "$mac" type veth peer name "$peer" netns "$P-$lan"
  nsip "$lan" link set "$peer" master "$br" up
  nsip "$host" link set "$ifn" up
}

# pod_bridge HOSTNS PODNS VETH HOSTMAC PODMAC IP/PLEN GW BRIDGE MTU
# (CNI bridge plugin: pod eth0 on a veth whose host end is a bridge port)
pod_bridge() {
  local host=$1 pod=$2 veth=$3 hmac=$4 pmac=$5 cidr=$6 gw=$7 br=$8 mtu=$9
  mkns "$pod"
  nosysout "$pod" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsip "$host" link add "$veth" address "$hmac" mtu "$mtu" type veth \
    peer name eth0 address "$pmac" mtu "$mtu" netns "$P-$pod"
  nsip "$host" link set "$veth" master "$br" up
  nsip "$pod" link set eth0 up
  nsip "$pod" addr add "$cidr" brd + dev eth0
  nsip "$pod" route add default via "$gw" dev eth0
}

# pod_calico HOSTNS PODNS CALI PODMAC IP
# (calico: host end ee:ee:ee:ee:ee:ee, /32 route to the pod, proxy_arp)
pod_calico() {
  local host=$1 pod=$2 cali=$3 pmac=$4 ip=$5
  mkns "$pod"
  nosysout "$pod" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsip "$host" link add "$cali" address ee:ee:ee:ee:ee:ee mtu 1440 type veth \
    peer name eth0 address "$pmac" mtu 1440 netns "$P-$pod"
  nsip "$host" link set "$cali" up
  nosysout "$host" "net.ipv4.conf.$cali.proxy_arp=1" "net.ipv4.neigh.$cali.proxy_delay=0" \
    "net.ipv4.conf.$cali.forwarding=1"
  nsip "$host" route add "$ip" dev "$cali" scope link
  nsip "$pod" link set eth0 up
  nsip "$pod" addr add "$ip/32" dev eth0
  nsip "$pod" route add 169.254.1.1 dev eth0 scope link
  nsip "$pod" route add default via 169.254.1.1 dev eth0
}

# flannel_vxlan HOSTNS MAC LOCALIP DEV OWNNET: flannel.1 as flanneld creates it
flannel_vxlan() {
  local host=$1 mac=$2 local_ip=$3 dev=$4 own=$5
  nsip "$host" link add flannel.1 address "$mac" type vxlan id 1 local "$local_ip" dev "$dev" \
    dstport 8472 nolearning
  nsip "$host" link set flannel.1 up
  nsip "$host" addr add "$own/32" dev flannel.1
}

# flannel_peer HOSTNS PEERNET PEERVTEPMAC PEERPUBLICIP: what flanneld programs per lease
flannel_peer() {
  local host=$1 net=$2 mac=$3 pub=$4
  nsip "$host" route add "$net/24" via "$net" dev flannel.1 onlink
  nsip "$host" neigh add "$net" lladdr "$mac" dev flannel.1 nud permanent
  nsbr "$host" fdb append "$mac" dev flannel.1 dst "$pub" self permanent
}

# stale_neigh HOSTNS IP MAC DEV: an ARP cache entry as traffic leaves it
stale_neigh() { nsip "$1" neigh add "$2" lladdr "$3" dev "$4" nud stale; }

# kube_ipvs0 HOSTNS MAC IP...: stand-in for kube-proxy's dummy (down, NOARP)
kube_ipvs0() {
  local host=$1 mac=$2; shift 2
  nsip "$host" link add kube-ipvs0 address "$mac" type bridge
  nsip "$host" link set kube-ipvs0 arp off
  local ip
  for ip in "$@"; do nsip "$host" addr add "$ip/32" dev kube-ipvs0; done
}

# wait_dad NS...: wait until no IPv6 address is tentative (stable captures)
wait_dad() {
  local ns i
  for ns in "$@"; do
    for ((i = 0; i < 100; i++)); do
      [[ -z $(nsip "$ns" -6 addr show tentative) ]] && break
      sleep 0.1
    done
  done
}

# ctime RFC3339 -> "Fri Feb 16 05:00:00 2024" (iptables-save's date format)
ctime() { LC_ALL=C date -u -d "$1" '+%a %b %e %H:%M:%S %Y'; }

# iptables_dump HOSTNS CAPTURED_AT < rules: iptables-restore in the ns, then
# the real iptables-save; its "Generated/Completed on DATE" comments carry
# the capture time instead of the wall clock, so re-runs are byte-stable.
iptables_dump() {
  local host=$1 when
  when=$(ctime "$2")
  nsx "$host" iptables-restore
  # zero the counters the host's own multicast reports may have bumped
  local t
  for t in filter nat mangle; do nsx "$host" iptables -t "$t" -Z; done
  nsx "$host" iptables-save |
    sed -E -e "s/^(# Generated by .*) on .*\$/\\1 on $when/" -e "s/^# Completed on .*\$/# Completed on $when/"
}

# capture HOSTNS DIR: the tool outputs of a host
capture() {
  local host=$1 d=$2
  mkdir -p "$d"
  nsip "$host" -j -d link show >"$d/ip-link.json"
  nsip "$host" -j -d addr show >"$d/ip-addr.json"
  nsip "$host" -j -d route show table all >"$d/ip-route.json"
  nsip "$host" -j rule show >"$d/ip-rule.json"
  nsip "$host" -j neigh show >"$d/ip-neigh.json"
  nsbr "$host" -j fdb show >"$d/bridge-fdb.json"
  nsx "$host" sh -c 'sysctl -a 2>/dev/null | grep "^net\."' >"$d/sysctl.txt"
}

# kube-proxy chain names: KUBE-SVC-/KUBE-SEP- + base32(sha256(...))[:16]
# (servicePortChainName / servicePortEndpointChainName in pkg/proxy/iptables)
kp_hash() {
  local hex
  hex=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
  printf "$(sed 's/../\\x&/g' <<<"$hex")" | base32 -w0 | cut -c1-16
}
svc_chain() { echo "KUBE-SVC-$(kp_hash "$1$2")"; }            # "ns/name:port" proto
sep_chain() { echo "KUBE-SEP-$(kp_hash "$1$2$3")"; }          # + "ip:port"

# ipvs_ln: stdin lines "PROTO VIP:PORT [RIP:PORT...]" -> `ipvsadm -Ln` output
# (ipvsadm sorts services by protocol, address, port, and real servers by
# address, port; every real server is Masq with weight 1, kube-proxy's way)
ipvs_ln() {
  awk '
    function ipnum(a,   p) { split(a, p, "."); return ((p[1] * 256 + p[2]) * 256 + p[3]) * 256 + p[4] }
    function key(ap,   x) { split(ap, x, ":"); return sprintf("%010d%05d", ipnum(x[1]), x[2]) }
    NF >= 2 {
      n++; proto[n] = $1; vip[n] = $2
      k[n] = sprintf("%03d", ($1 == "TCP" ? 6 : ($1 == "UDP" ? 17 : 132))) key($2)
      m = 0
      for (i = 3; i <= NF; i++) { m++; rs[n, m] = $i; rk[n, m] = key($i) }
      nrs[n] = m
    }
    END {
      print "IP Virtual Server version 1.2.1 (size=4096)"
      print "Prot LocalAddress:Port Scheduler Flags"
      print "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
      for (i = 1; i <= n; i++) ord[i] = i
      for (i = 2; i <= n; i++) for (j = i; j > 1 && k[ord[j]] < k[ord[j - 1]]; j--) { t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t }
      for (ii = 1; ii <= n; ii++) {
        s = ord[ii]
        printf "%s  %s %s\n", proto[s], vip[s], "rr"
        for (a = 1; a <= nrs[s]; a++) o[a] = a
        for (a = 2; a <= nrs[s]; a++) for (b = a; b > 1 && rk[s, o[b]] < rk[s, o[b - 1]]; b--) { t = o[b]; o[b] = o[b - 1]; o[b - 1] = t }
        for (a = 1; a <= nrs[s]; a++) printf "  -> %-28s %-7s %-6d %-10u %-10u\n", rs[s, o[a]], "Masq", 1, 0, 0
      }
    }'
}

write() { mkdir -p "$(dirname "$1")"; cat >"$1"; }

# ======================================================== healthy-flannel ===
# kubeadm v1.28, 3 Debian 12 nodes on 192.168.56.0/24, flannel vxlan (VNI 1)
# with leases in etcd v3, kube-proxy IPVS. Nothing is wrong.
healthy_flannel() {
  local C=healthy-flannel AT=2024-05-20T08:30:00Z D="$OUT/healthy-flannel"
  log "$C"
  # node        ip             eth0 MAC           flannel.1 MAC      cni0 MAC           kube-ipvs0 MAC
  local -A IP=([master]=192.168.56.10 [node1]=192.168.56.11 [node2]=192.168.56.12)
  local -A ETH=([master]=52:54:00:3a:56:10 [node1]=52:54:00:3a:56:11 [node2]=52:54:00:3a:56:12)
  local -A VTEP=([master]=6e:1b:a2:7c:4d:10 [node1]=c2:8f:05:d3:61:11 [node2]=fa:34:9b:2e:c8:12)
  local -A CNI0=([master]=2a:6f:0e:91:b4:10 [node1]=2a:6f:0e:91:b4:11 [node2]=2a:6f:0e:91:b4:12)
  local -A IPVS0=([master]=1e:4a:77:c0:9d:10 [node1]=1e:4a:77:c0:9d:11 [node2]=1e:4a:77:c0:9d:12)
  local -A NET=([master]=10.244.0.0 [node1]=10.244.1.0 [node2]=10.244.2.0)
  local -A GW=([master]=10.244.0.1 [node1]=10.244.1.1 [node2]=10.244.2.1)
  local NODES=(master node1 node2)
  # Services (cluster/services.json) and their ready endpoints (endpointslices.json)
  local SVC_KUBERNETES=10.96.0.1 SVC_DNS=10.96.0.10 SVC_WEB=10.108.173.42 WEB_NODEPORT=30080
  local DNS_EPS=(10.244.1.2 10.244.2.2) WEB_EPS=(10.244.0.2 10.244.1.3 10.244.2.3)

  mkns hf-lan
  nosysout hf-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge hf-lan br-lan 52:54:00:3a:56:01 192.168.56.1/24

  local n h
  for n in "${NODES[@]}"; do
    h=hf-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${ETH[$n]}" hf-lan br-lan
    nsip "$h" addr add "${IP[$n]}/24" brd + dev eth0
    nsip "$h" route add default via 192.168.56.1 dev eth0
    # pod bridge (CNI bridge plugin via flannel's delegate), mtu from subnet.env
    nsip "$h" link add cni0 address "${CNI0[$n]}" mtu 1450 type bridge
    nsip "$h" link set cni0 up
    nsip "$h" addr add "${GW[$n]}/24" brd + dev cni0
    flannel_vxlan "$h" "${VTEP[$n]}" "${IP[$n]}" eth0 "${NET[$n]}"
    kube_ipvs0 "$h" "${IPVS0[$n]}" "$SVC_KUBERNETES" "$SVC_DNS" "$SVC_WEB"
  done
  # pods (hostNetwork false) of cluster/pods.json; the CNI bridge plugin gives
  # eth0 the MAC 0a:58:<pod IP>
  pod_bridge hf-master hf-master-p0 veth3c6e1f0a 8e:3d:5f:21:c7:0a 0a:58:0a:f4:00:02 10.244.0.2/24 10.244.0.1 cni0 1450 # default/web-7d4b9c8f6d-2xkqp
  pod_bridge hf-node1 hf-node1-p0 vethb2d91c47 6a:91:0e:44:b2:17 0a:58:0a:f4:01:02 10.244.1.2/24 10.244.1.1 cni0 1450 # kube-system/coredns-5dd5756b68-7lfxq
  pod_bridge hf-node1 hf-node1-p1 veth5e08a3f1 d6:2c:81:5a:e0:3f 0a:58:0a:f4:01:03 10.244.1.3/24 10.244.1.1 cni0 1450 # default/web-7d4b9c8f6d-hq9wm
  pod_bridge hf-node2 hf-node2-p0 veth91f7d2c6 4e:b7:03:9c:15:d8 0a:58:0a:f4:02:02 10.244.2.2/24 10.244.2.1 cni0 1450 # kube-system/coredns-5dd5756b68-pk2ns
  pod_bridge hf-node2 hf-node2-p1 vethe4a06b8d b2:58:6f:e1:0d:44 0a:58:0a:f4:02:03 10.244.2.3/24 10.244.2.1 cni0 1450 # default/web-7d4b9c8f6d-z8r4c

  local p
  for n in "${NODES[@]}"; do
    h=hf-$n
    for p in "${NODES[@]}"; do
      [[ $p == "$n" ]] && continue
      flannel_peer "$h" "${NET[$p]}" "${VTEP[$p]}" "${IP[$p]}"
      stale_neigh "$h" "${IP[$p]}" "${ETH[$p]}" eth0
    done
    stale_neigh "$h" 192.168.56.1 52:54:00:3a:56:01 eth0
  done
  stale_neigh hf-master 10.244.0.2 0a:58:0a:f4:00:02 cni0
  stale_neigh hf-node1 10.244.1.2 0a:58:0a:f4:01:02 cni0
  stale_neigh hf-node1 10.244.1.3 0a:58:0a:f4:01:03 cni0
  stale_neigh hf-node2 10.244.2.2 0a:58:0a:f4:02:02 cni0
  stale_neigh hf-node2 10.244.2.3 0a:58:0a:f4:02:03 cni0

  wait_dad hf-master hf-node1 hf-node2
  # kube-proxy (IPVS mode) ipsets and iptables rules, flanneld's rules
  for n in "${NODES[@]}"; do
    h=hf-$n
    local s
    for s in KUBE-CLUSTER-IP KUBE-LOAD-BALANCER KUBE-EXTERNAL-IP KUBE-EXTERNAL-IP-LOCAL \
      KUBE-LOAD-BALANCER-LOCAL KUBE-LOAD-BALANCER-FW KUBE-LOAD-BALANCER-SOURCE-CIDR \
      KUBE-NODE-PORT-LOCAL-TCP; do
      nsx "$h" ipset create "$s" hash:ip,port
    done
    nsx "$h" ipset create KUBE-LOOP-BACK hash:ip,port,ip
    nsx "$h" ipset create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip
    nsx "$h" ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
    nsx "$h" ipset create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
    nsx "$h" ipset create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535
    nsx "$h" ipset create KUBE-IPVS-IPS hash:ip
    mkdir -p "$D/nodes/$n"
    nsx "$h" ipset add KUBE-CLUSTER-IP "$SVC_KUBERNETES,tcp:443"
    nsx "$h" ipset add KUBE-CLUSTER-IP "$SVC_DNS,udp:53"
    nsx "$h" ipset add KUBE-CLUSTER-IP "$SVC_DNS,tcp:53"
    nsx "$h" ipset add KUBE-CLUSTER-IP "$SVC_DNS,tcp:9153"
    nsx "$h" ipset add KUBE-CLUSTER-IP "$SVC_WEB,tcp:80"
    nsx "$h" ipset add KUBE-NODE-PORT-TCP "$WEB_NODEPORT"
    for s in "$SVC_KUBERNETES" "$SVC_DNS" "$SVC_WEB" "${IP[$n]}" "${NET[$n]}" "${GW[$n]}"; do
      nsx "$h" ipset add KUBE-IPVS-IPS "$s"
    done
    iptables_dump "$h" "$AT" >"$D/nodes/$n/iptables-save.txt.tmp" <<EOF
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-IPTABLES-HINT - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
-A OUTPUT -j KUBE-FIREWALL
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s ${NET[$n]}/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d ${NET[$n]}/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d ${NET[$n]}/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
EOF
    mv "$D/nodes/$n/iptables-save.txt.tmp" "$D/nodes/$n/iptables-save.txt"
  done

  for n in "${NODES[@]}"; do
    local nd="$D/nodes/$n"
    capture "hf-$n" "$nd"
    # IPVS table (ipvsadm -Ln): ClusterIP:port -> ready endpoints; NodePort on
    # every local address of the host (eth0, cni0, flannel.1)
    ipvs_ln >"$nd/ipvs.txt" <<EOF
TCP $SVC_KUBERNETES:443 192.168.56.10:6443
TCP $SVC_DNS:53 ${DNS_EPS[0]}:53 ${DNS_EPS[1]}:53
TCP $SVC_DNS:9153 ${DNS_EPS[0]}:9153 ${DNS_EPS[1]}:9153
UDP $SVC_DNS:53 ${DNS_EPS[0]}:53 ${DNS_EPS[1]}:53
TCP $SVC_WEB:80 ${WEB_EPS[0]}:80 ${WEB_EPS[1]}:80 ${WEB_EPS[2]}:80
TCP ${IP[$n]}:$WEB_NODEPORT ${WEB_EPS[0]}:80 ${WEB_EPS[1]}:80 ${WEB_EPS[2]}:80
TCP ${GW[$n]}:$WEB_NODEPORT ${WEB_EPS[0]}:80 ${WEB_EPS[1]}:80 ${WEB_EPS[2]}:80
TCP ${NET[$n]}:$WEB_NODEPORT ${WEB_EPS[0]}:80 ${WEB_EPS[1]}:80 ${WEB_EPS[2]}:80
EOF
    write "$nd/resolv.conf" <<EOF
domain lab.example
search lab.example
nameserver 192.168.56.1
EOF
    write "$nd/subnet.env" <<EOF
FLANNEL_NETWORK=10.244.0.0/16
FLANNEL_SUBNET=${GW[$n]}/24
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
EOF
    kubelet_config_128 /etc/resolv.conf >"$nd/kubelet-config.yaml"
  done

  # flannel leases in a real etcd v3 (flannel >= 0.18 with --etcd-endpoints)
  etcd_start
  local E=(etcdctl --endpoints "http://127.0.0.1:$ETCD_CLIENT_PORT")
  "${E[@]}" put /coreos.com/network/config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}' >/dev/null
  local lease_id=7587877795436436801 # fixed lease IDs keep the dump byte-stable
  for n in "${NODES[@]}"; do
    lease_id=$((lease_id + 1))
    curl -fsS -X POST "http://127.0.0.1:$ETCD_CLIENT_PORT/v3/lease/grant" \
      -d "{\"TTL\":86400,\"ID\":$lease_id}" >/dev/null
    "${E[@]}" put --lease="$(printf '%x' "$lease_id")" \
      "/coreos.com/network/subnets/${NET[$n]}-24" \
      "{\"PublicIP\":\"${IP[$n]}\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"${VTEP[$n]}\"}}" >/dev/null
  done
  mkdir -p "$D/etcd"
  "${E[@]}" get --prefix /coreos.com/network -w json >"$D/etcd/flannel.json"
  etcd_stop
  cleanup
}

# etcd_start [ETCD_ARGS...]: a throwaway single-member etcd on loopback
etcd_start() {
  ETCD_DIR=$(mktemp -d /tmp/ndcap-etcd.XXXXXX)
  if (exec 3<>"/dev/tcp/127.0.0.1/$ETCD_CLIENT_PORT") 2>/dev/null; then
    die "port $ETCD_CLIENT_PORT is in use"
  fi
  etcd --name ndcap-etcd --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "ndcap-etcd=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-token ndcap-flannel --initial-cluster-state new "$@" \
    >"$ETCD_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    etcdctl --endpoints "http://127.0.0.1:$ETCD_CLIENT_PORT" --dial-timeout=1s endpoint health >/dev/null 2>&1 && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "$ETCD_DIR/etcd.log" >&2
  die "etcd did not start"
}
etcd_stop() {
  kill "$ETCD_PID" 2>/dev/null || true
  wait "$ETCD_PID" 2>/dev/null || true
  ETCD_PID=""
  rm -rf "$ETCD_DIR"
  ETCD_DIR=""
}

# /var/lib/kubelet/config.yaml as kubeadm v1.28 writes it; $1 = resolvConf
kubelet_config_128() {
  cat <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
memorySwap: {}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
resolvConf: $1
rotateCertificates: true
runtimeRequestTimeout: 0s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
EOF
}

# =============================================================== seed-001 ===
# seed 001: kubeadm v1.17 + calico IPIP on 3 CentOS 7 VirtualBox VMs. After a
# reboot admin's DHCP NIC enp0s3 got no address: no default route, so
# 10.96.0.1 is unroutable there and calico-node crash-loops.
seed_001() {
  local C=seed-001 AT=2024-02-16T05:00:00Z D="$OUT/seed-001"
  log "$C"
  local -A IP56=([admin]=192.168.56.3 [node1]=192.168.56.4 [node2]=192.168.56.5)
  local -A IP31=([node1]=192.168.31.226 [node2]=192.168.31.20) # admin: none (DHCP failed)
  local -A M3=([admin]=08:00:27:5e:1a:03 [node1]=08:00:27:5e:1a:04 [node2]=08:00:27:5e:1a:05)
  local -A M8=([admin]=08:00:27:c4:38:03 [node1]=08:00:27:c4:38:04 [node2]=08:00:27:c4:38:05)
  local -A DOCKER0=([admin]=02:42:8c:1f:6a:03 [node1]=02:42:8c:1f:6a:04 [node2]=02:42:8c:1f:6a:05)
  local -A TUNL0=([admin]=0e:7c:3a:00:00:03 [node1]=0e:7c:3a:00:00:04 [node2]=0e:7c:3a:00:00:05)
  local -A BLOCK=([admin]=10.10.0.128 [node1]=10.10.0.192 [node2]=10.10.0.0) # /26, tunl0 = first address
  local NODES=(admin node1 node2)

  mkns s1-lan
  nosysout s1-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge s1-lan br56 0a:00:27:00:00:00 192.168.56.1/24 # VirtualBox host-only adapter
  lan_bridge s1-lan br31 28:6c:07:5a:31:01 192.168.31.1/24 # the Wi-Fi router

  local n h p
  for n in "${NODES[@]}"; do
    h=s1-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1
    nic "$h" enp0s3 "${M3[$n]}" s1-lan br31
    nic "$h" enp0s8 "${M8[$n]}" s1-lan br56
    if [[ -n ${IP31[$n]:-} ]]; then
      nsip "$h" addr add "${IP31[$n]}/24" brd + dev enp0s3 metric 102
      nsip "$h" route add default via 192.168.31.1 dev enp0s3 proto dhcp metric 102
    fi
    nsip "$h" addr add "${IP56[$n]}/24" brd + dev enp0s8 metric 101
    # idle docker0 (docker 19.03, no containers outside kubernetes)
    nsip "$h" link add docker0 address "${DOCKER0[$n]}" type bridge
    nsip "$h" link set docker0 up
    nsip "$h" addr add 172.17.0.1/16 brd + dev docker0
    # tunl0 stand-in: NOARP veth, mtu 1440, the block's first address
    nsip "$h" link add tunl0 address "${TUNL0[$n]}" mtu 1440 type veth peer name "tunl0-$n" netns "$P-s1-lan"
    nsip s1-lan link set "tunl0-$n" up
    nsip "$h" link set tunl0 arp off
    nsip "$h" link set tunl0 up
    nsip "$h" addr add "${BLOCK[$n]}/32" dev tunl0
  done
  # pods (hostNetwork false) of cluster/pods.json, cali names as in the seed
  pod_calico s1-admin s1-admin-p0 calib35f38918a6 7a:31:c9:04:5d:81 10.10.0.129 # kube-system/calico-kube-controllers-7489ff5b7c-6nl5p
  pod_calico s1-admin s1-admin-p1 cali3d6a8137e9b 12:9e:40:b7:2c:82 10.10.0.130 # kube-system/coredns-9d85f5447-sjs2j
  pod_calico s1-admin s1-admin-p2 calief752050065 a6:05:7d:e3:18:83 10.10.0.131 # kube-system/coredns-9d85f5447-m8xqf
  pod_calico s1-admin s1-admin-p3 cali9cd0964c823 36:c2:18:9a:f1:bd 10.10.0.189 # default/nginx-86c57db685-4jx2v
  pod_calico s1-node1 s1-node1-p0 cali2473e8d3fe5 5e:77:a0:1c:93:c4 10.10.0.196 # default/nginx-86c57db685-bz7tq
  pod_calico s1-node1 s1-node1-p1 cali931cf856fe5 c6:0b:e5:72:4a:c7 10.10.0.199 # default/nginx-86c57db685-qk5vw
  pod_calico s1-node2 s1-node2-p0 caliae17495c610 f2:49:8d:36:b0:25 10.10.0.37  # default/nginx-86c57db685-f2lx8
  pod_calico s1-node2 s1-node2-p1 cali7c21225184f 9a:d4:17:60:e8:26 10.10.0.38  # default/nginx-86c57db685-wd9mn

  # BIRD: own block blackholed, peers' blocks via the peer over tunl0
  for n in "${NODES[@]}"; do
    h=s1-$n
    nsip "$h" route add blackhole "${BLOCK[$n]}/26" proto bird
    for p in "${NODES[@]}"; do
      [[ $p == "$n" ]] && continue
      nsip "$h" route add "${BLOCK[$p]}/26" via "${IP56[$p]}" dev tunl0 proto bird onlink
      stale_neigh "$h" "${IP56[$p]}" "${M8[$p]}" enp0s8
    done
    if [[ -n ${IP31[$n]:-} ]]; then stale_neigh "$h" 192.168.31.1 28:6c:07:5a:31:01 enp0s3; fi
  done

  wait_dad s1-admin s1-node1 s1-node2
  # kube-proxy v1.17 iptables mode. default/kubernetes has one endpoint;
  # kube-dns has none ready (both CoreDNS pods not Ready): REJECT rules only.
  local K=default/kubernetes:https
  local KSVC KSEP
  KSVC=$(svc_chain "$K" tcp)
  KSEP=$(sep_chain "$K" tcp 192.168.56.3:6443)
  for n in "${NODES[@]}"; do
    h=s1-$n
    mkdir -p "$D/nodes/$n"
    iptables_dump "$h" "$AT" >"$D/nodes/$n/iptables-save.txt.tmp" <<EOF
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-MARK-DROP - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:$KSEP - [0:0]
:KUBE-SERVICES - [0:0]
:$KSVC - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A $KSEP -s 192.168.56.3/32 -j KUBE-MARK-MASQ
-A $KSEP -p tcp -m tcp -j DNAT --to-destination 192.168.56.3:6443
-A KUBE-SERVICES ! -s 10.10.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j $KSVC
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A $KSVC -j $KSEP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -s 10.10.0.0/16 -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FORWARD -d 10.10.0.0/16 -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns has no endpoints" -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp has no endpoints" -m tcp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics has no endpoints" -m tcp --dport 9153 -j REJECT --reject-with icmp-port-unreachable
COMMIT
EOF
    mv "$D/nodes/$n/iptables-save.txt.tmp" "$D/nodes/$n/iptables-save.txt"
  done

  for n in "${NODES[@]}"; do
    local nd="$D/nodes/$n"
    capture "s1-$n" "$nd"
    kubelet_config_117 >"$nd/kubelet-config.yaml"
  done
  write "$D/nodes/admin/resolv.conf" <<'EOF'
# Generated by NetworkManager
nameserver 192.168.56.1
EOF
  for n in node1 node2; do
    write "$D/nodes/$n/resolv.conf" <<'EOF'
# Generated by NetworkManager
search lan
nameserver 192.168.31.1
EOF
  done
  cleanup
}

# /var/lib/kubelet/config.yaml as kubeadm v1.17 writes it
kubelet_config_117() {
  cat <<'EOF'
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
resolvConf: /etc/resolv.conf
rotateCertificates: true
runtimeRequestTimeout: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
EOF
}

# ====================================================== seed-004-dns-loop ===
# seed 004's CoreDNS loop: 2 Ubuntu 22.04 nodes with systemd-resolved
# (/etc/resolv.conf = stub 127.0.0.53), kubeadm v1.28, flannel vxlan in
# kube-subnet-mgr mode, kube-proxy iptables. worker1's kubelet was pointed at
# /etc/resolv.conf; the CoreDNS pods scheduled there forward to themselves.
seed_004() {
  local C=seed-004-dns-loop AT=2024-03-11T02:40:00Z D="$OUT/seed-004-dns-loop"
  log "$C"
  local -A IP=([cp1]=192.168.122.10 [worker1]=192.168.122.11)
  local -A ETH=([cp1]=52:54:00:7b:12:0a [worker1]=52:54:00:7b:12:0b)
  local -A VTEP=([cp1]=7a:e2:3d:91:0c:0a [worker1]=b6:4c:08:e7:5a:0b)
  local -A CNI0=([cp1]=3e:81:f4:5b:20:0a [worker1]=3e:81:f4:5b:20:0b)
  local -A NET=([cp1]=10.244.0.0 [worker1]=10.244.1.0)
  local -A GW=([cp1]=10.244.0.1 [worker1]=10.244.1.1)
  local NODES=(cp1 worker1)

  mkns s4-lan
  nosysout s4-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge s4-lan virbr0 52:54:00:9e:41:c8 192.168.122.1/24 # libvirt's default network

  local n h p
  for n in "${NODES[@]}"; do
    h=s4-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" enp1s0 "${ETH[$n]}" s4-lan virbr0
    # systemd-networkd (netplan dhcp4: true)
    nsip "$h" addr add "${IP[$n]}/24" brd + dev enp1s0 metric 100
    nsip "$h" route add default via 192.168.122.1 dev enp1s0 proto dhcp src "${IP[$n]}" metric 100
    nsip "$h" route add 192.168.122.1 dev enp1s0 proto dhcp scope link src "${IP[$n]}" metric 100
    nsip "$h" link add cni0 address "${CNI0[$n]}" mtu 1450 type bridge
    nsip "$h" link set cni0 up
    nsip "$h" addr add "${GW[$n]}/24" brd + dev cni0
    flannel_vxlan "$h" "${VTEP[$n]}" "${IP[$n]}" enp1s0 "${NET[$n]}"
  done
  pod_bridge s4-cp1 s4-cp1-p0 veth8a4e2d51 72:1c:9e:6b:d0:35 0a:58:0a:f4:00:02 10.244.0.2/24 10.244.0.1 cni0 1450         # default/web-6d4cf56db6-kx2mf
  pod_bridge s4-worker1 s4-worker1-p0 vethc71f0e93 f2:6b:14:8d:a3:5e 0a:58:0a:f4:01:02 10.244.1.2/24 10.244.1.1 cni0 1450 # kube-system/coredns-5dd5756b68-4hq7z
  pod_bridge s4-worker1 s4-worker1-p1 veth2d96b5a8 9a:e0:57:c2:31:7b 0a:58:0a:f4:01:03 10.244.1.3/24 10.244.1.1 cni0 1450 # kube-system/coredns-5dd5756b68-tx9bd
  pod_bridge s4-worker1 s4-worker1-p2 veth74b3ea1c 26:d8:49:1f:6c:a2 0a:58:0a:f4:01:04 10.244.1.4/24 10.244.1.1 cni0 1450 # default/web-6d4cf56db6-s7vnp
  for n in "${NODES[@]}"; do
    h=s4-$n
    for p in "${NODES[@]}"; do
      [[ $p == "$n" ]] && continue
      flannel_peer "$h" "${NET[$p]}" "${VTEP[$p]}" "${IP[$p]}"
      stale_neigh "$h" "${IP[$p]}" "${ETH[$p]}" enp1s0
    done
    stale_neigh "$h" 192.168.122.1 52:54:00:9e:41:c8 enp1s0
  done
  stale_neigh s4-cp1 10.244.0.2 0a:58:0a:f4:00:02 cni0
  stale_neigh s4-worker1 10.244.1.4 0a:58:0a:f4:01:04 cni0

  wait_dad s4-cp1 s4-worker1
  # kube-proxy v1.28 iptables mode. kube-dns has no ready endpoint (REJECT
  # rules in filter); kubernetes and web have KUBE-SVC/KUBE-SEP chains.
  local K=default/kubernetes:https W=default/web:http
  local KSVC KSEP WSVC WSEP1 WSEP2
  KSVC=$(svc_chain "$K" tcp)
  KSEP=$(sep_chain "$K" tcp 192.168.122.10:6443)
  WSVC=$(svc_chain "$W" tcp)
  WSEP1=$(sep_chain "$W" tcp 10.244.0.2:80)
  WSEP2=$(sep_chain "$W" tcp 10.244.1.4:80)
  for n in "${NODES[@]}"; do
    h=s4-$n
    mkdir -p "$D/nodes/$n"
    iptables_dump "$h" "$AT" >"$D/nodes/$n/iptables-save.txt.tmp" <<EOF
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-IPTABLES-HINT - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns has no endpoints" -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp has no endpoints" -m tcp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics has no endpoints" -m tcp --dport 9153 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:$KSEP - [0:0]
:$WSEP1 - [0:0]
:$WSEP2 - [0:0]
:KUBE-SERVICES - [0:0]
:$KSVC - [0:0]
:$WSVC - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s ${NET[$n]}/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d ${NET[$n]}/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d ${NET[$n]}/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A $KSEP -s 192.168.122.10/32 -m comment --comment "default/kubernetes:https" -j KUBE-MARK-MASQ
-A $KSEP -p tcp -m comment --comment "default/kubernetes:https" -m tcp -j DNAT --to-destination 192.168.122.10:6443
-A $WSEP1 -s 10.244.0.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A $WSEP1 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.0.2:80
-A $WSEP2 -s 10.244.1.4/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A $WSEP2 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.4:80
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j $KSVC
-A KUBE-SERVICES -d 10.105.227.18/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j $WSVC
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A $KSVC ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-MARK-MASQ
-A $KSVC -m comment --comment "default/kubernetes:https -> 192.168.122.10:6443" -j $KSEP
-A $WSVC ! -s 10.244.0.0/16 -d 10.105.227.18/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A $WSVC -m comment --comment "default/web:http -> 10.244.0.2:80" -m statistic --mode random --probability 0.50000000000 -j $WSEP1
-A $WSVC -m comment --comment "default/web:http -> 10.244.1.4:80" -j $WSEP2
COMMIT
EOF
    mv "$D/nodes/$n/iptables-save.txt.tmp" "$D/nodes/$n/iptables-save.txt"
  done

  for n in "${NODES[@]}"; do
    local nd="$D/nodes/$n"
    capture "s4-$n" "$nd"
    # /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf (systemd 249)
    write "$nd/resolv.conf" <<'EOF'
# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).
# Do not edit.
#
# This file might be symlinked as /etc/resolv.conf. If you're looking at
# /etc/resolv.conf and seeing this text, you have followed the symlink.
#
# This is a dynamic resolv.conf file for connecting local clients to the
# internal DNS stub resolver of systemd-resolved. This file lists all
# configured search domains.
#
# Run "resolvectl status" to see details about the uplink DNS servers
# currently in use.
#
# Third party programs should typically not access this file directly, but only
# through the symlink at /etc/resolv.conf. To manage man:resolv.conf(5) in a
# different way, replace this symlink by a static file or a different symlink.
#
# See man:systemd-resolved.service(8) for details about the supported modes of
# operation for /etc/resolv.conf.

nameserver 127.0.0.53
options edns0 trust-ad
search .
EOF
    write "$nd/subnet.env" <<EOF
FLANNEL_NETWORK=10.244.0.0/16
FLANNEL_SUBNET=${GW[$n]}/24
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
EOF
  done
  # cp1: kubeadm's default on a systemd-resolved host; the kubelet hands pods
  # /run/systemd/resolve/resolv.conf (the real upstream)
  kubelet_config_128 /run/systemd/resolve/resolv.conf >"$D/nodes/cp1/kubelet-config.yaml"
  write "$D/nodes/cp1/kubelet-resolv.conf" <<'EOF'
# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).
# Do not edit.
#
# This file might be symlinked as /etc/resolv.conf. If you're looking at
# /etc/resolv.conf and seeing this text, you have followed the symlink.
#
# This is a dynamic resolv.conf file for connecting local clients directly to
# all known uplink DNS servers. This file lists all configured search domains.
#
# Third party programs should typically not access this file directly, but only
# through the symlink at /etc/resolv.conf. To manage man:resolv.conf(5) in a
# different way, replace this symlink by a static file or a different symlink.
#
# See man:systemd-resolved.service(8) for details about the supported modes of
# operation for /etc/resolv.conf.

nameserver 192.168.122.1
search .
EOF
  # worker1: the misconfiguration, pods with dnsPolicy Default (CoreDNS) get
  # the stub 127.0.0.53
  kubelet_config_128 /etc/resolv.conf >"$D/nodes/worker1/kubelet-config.yaml"
  cleanup
}

# The captures modelled in scripts/captures/ (cluster objects and non-tool
# files from <capture>.py, see scripts/captures/kube.py; hosts built here).
command -v python3 >/dev/null 2>&1 || die "missing command: python3 (run scripts/setup.sh)"
# shellcheck source=captures/lib.sh
source "$ROOT/scripts/captures/lib.sh"
for f in "$ROOT"/scripts/captures/*.sh; do
  [[ $f == */lib.sh ]] || source "$f"
done

only=("$@")
want() { [[ ${#only[@]} -eq 0 ]] || [[ " ${only[*]} " == *" $1 "* ]]; }
want healthy-flannel && healthy_flannel
want seed-001 && seed_001
want seed-004-dns-loop && seed_004
want seed-000 && seed_000
want seed-002 && seed_002
want seed-003 && seed_003
want seed-004 && seed_004_full
want healthy-flannel-hostgw && healthy_flannel_hostgw
want healthy-calico && healthy_calico
want healthy-extras && healthy_extras
want combined-faults && combined_faults
log "done: $OUT"
