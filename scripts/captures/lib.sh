# Shared helpers of the captures whose model lives in scripts/captures/<capture>.py
# (sourced by make-captures.sh after its own helpers; uses mkns, nsip, nsx, nic,
# pod_bridge, pod_calico, stale_neigh, iptables_dump, capture, etcd_start, ...).
#
# A capture function here does:
#   model_render            cluster/, meta.json and the non-tool node files from
#                           the model; WORK/env.sh gives the host tables (H_*)
#   ... build the hosts' namespaces (capture specific) ...
#   model_pods PFX          the pods' interfaces from WORK/pods.tsv
#   model_dataplane PFX     ipsets + iptables-restore from the model, then the
#                           real iptables-save and the ip/bridge/sysctl dumps
#   model_etcd_v2|v3        flannel's keys through a real etcd, dumped as the
#                           real client prints them

CAPDIR="$ROOT/scripts/captures"

# model_render: fresh capture directory (README.md is hand-written and kept),
# then the model's files. Sets W (work dir) for the calls below.
model_render() {
  mkdir -p "${D:?}"
  find "$D" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
  W=$(mktemp -d /tmp/ndcap-work.XXXXXX)
  WORKDIRS+=("$W")
  python3 "$CAPDIR/render.py" "$C" "$D" "$W"
}

# model_pods PFX: one namespace per pod on the pod network, as the CNI plugin
# leaves it (bridge: veth on the pod bridge; calico: cali veth + /32 route)
model_pods() {
  local pfx=$1 i=0 kind host ifn hmac pmac cidr gw br mtu who
  while IFS=$'\t' read -r kind host ifn hmac pmac cidr gw br mtu who; do
    i=$((i + 1))
    case $kind in
      bridge)
        pod_bridge "$pfx-$host" "$pfx-$host-p$i" "$ifn" "$hmac" "$pmac" "$cidr" "$gw" "$br" "$mtu" # $who
        stale_neigh "$pfx-$host" "${cidr%/*}" "$pmac" "$br"
        ;;
      calico)
        pod_calico "$pfx-$host" "$pfx-$host-p$i" "$ifn" "$pmac" "$cidr" # $who
        ;;
    esac
  done <"$W/pods.tsv"
}

# model_dataplane PFX HOST...: load each host's ipsets and iptables rules, then
# capture it into nodes/HOST (iptables-save only where the model has rules) and
# make the dumps byte-stable (render.py normalize: timers, hash-table order)
model_dataplane() {
  local pfx=$1 n h nd
  shift
  for n in "$@"; do
    h=$pfx-$n
    nd="$D/nodes/$n"
    mkdir -p "$nd"
    [[ -s $W/$n.ipset ]] && nsx "$h" ipset restore <"$W/$n.ipset"
    if [[ -s $W/$n.iptables ]]; then
      iptables_dump "$h" "$AT" <"$W/$n.iptables" >"$nd/iptables-save.txt.tmp"
      mv "$nd/iptables-save.txt.tmp" "$nd/iptables-save.txt"
    fi
    capture "$h" "$nd"
    python3 "$CAPDIR/render.py" normalize "$nd"
  done
}

# etcd_put_v2: the keys of WORK/etcd.tsv (key, value, ttl) through etcd's v2
# HTTP API, as flannel < 0.18 writes them; then the body of
# GET /v2/keys/PREFIX?recursive=true (sorted=true: etcd v2 lists a directory in
# map order otherwise) with ttl/expiration as of the capture time
model_etcd_v2() {
  local prefix=$1 key value ttl url="http://127.0.0.1:$ETCD_CLIENT_PORT/v2/keys"
  etcd_start --enable-v2
  while IFS=$'\t' read -r key value ttl; do
    if [[ $ttl -gt 0 ]]; then
      curl -fsS -X PUT "$url$key" --data-urlencode "value=$value" -d "ttl=$ttl" >/dev/null
    else
      curl -fsS -X PUT "$url$key" --data-urlencode "value=$value" >/dev/null
    fi
  done <"$W/etcd.tsv"
  mkdir -p "$D/etcd"
  curl -fsS "$url$prefix?recursive=true&sorted=true" | python3 "$CAPDIR/render.py" etcd-v2 "$AT" "$W/etcd.tsv" >"$D/etcd/flannel.json"
  etcd_stop
}

# model_etcd_v3 PREFIX LEASE_ID: the keys through etcdctl v3, each with a
# TTL on an etcd lease (fixed IDs from LEASE_ID up keep the dump byte-stable),
# dumped with `etcdctl get --prefix PREFIX -w json`
model_etcd_v3() {
  local prefix=$1 lease_id=$2 key value ttl
  local E=(etcdctl --endpoints "http://127.0.0.1:$ETCD_CLIENT_PORT")
  etcd_start
  while IFS=$'\t' read -r key value ttl; do
    if [[ $ttl -gt 0 ]]; then
      lease_id=$((lease_id + 1))
      curl -fsS -X POST "http://127.0.0.1:$ETCD_CLIENT_PORT/v3/lease/grant" \
        -d "{\"TTL\":$ttl,\"ID\":$lease_id}" >/dev/null
      "${E[@]}" put --lease="$(printf '%x' "$lease_id")" "$key" "$value" >/dev/null
    else
      "${E[@]}" put "$key" "$value" >/dev/null
    fi
  done <"$W/etcd.tsv"
  mkdir -p "$D/etcd"
  "${E[@]}" get --prefix "$prefix" -w json >"$D/etcd/flannel.json"
  etcd_stop
}

# docker_bridge HOSTNS NAME MAC ADDR/PLEN MTU: dockerd's bridge (mk-docker-opts
# --bip/--mtu under flannel, or the idle default 172.17.0.1/16)
docker_bridge() {
  local host=$1 br=$2 mac=$3 cidr=$4 mtu=$5
  nsip "$host" link add "$br" address "$mac" mtu "$mtu" type bridge
  nsip "$host" link set "$br" up
  nsip "$host" addr add "$cidr" brd + dev "$br"
}

# words VAR: split a space-separated H_* value into an array
words() { local -n _out=$1; read -r -a _out <<<"$2"; }

# tunl0_standin HOSTNS MAC ADDR LANNS: calico's ipip device, stood in by a
# NOARP veth named tunl0 (this kernel has no ipip), mtu 1440, the block's
# tunnel address
tunl0_standin() {
  local host=$1 mac=$2 addr=$3 lan=$4 peer
  peer="t0-${host#*-}"
  nsip "$host" link add tunl0 address "$mac" mtu 1440 type veth peer name "${peer:0:15}" netns "$P-$lan"
  nsip "$lan" link set "${peer:0:15}" up
  nsip "$host" link set tunl0 arp off
  nsip "$host" link set tunl0 up
  nsip "$host" addr add "$addr/32" dev tunl0
}

# lan_switch LANNS BR MAC: a switch without a router address (a private L2 segment)
lan_switch() {
  nsip "$1" link add "$2" address "$3" type bridge
  nsip "$1" link set "$2" up
}
