# ============================================================== seed-003 ===
# seed 003: kubeadm v1.11 + Calico v3.1 (BGP full mesh, IPIP CrossSubnet, so
# routes go straight out ens33) on three CentOS 7 VMware VMs; server02 under
# DiskPressure, server03 without the route to server02's block.
# Model: scripts/captures/seed_003.py.
seed_003() {
  local C=seed-003 AT=2019-01-16T07:05:00Z D="$OUT/seed-003" W X=s3
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan vmnet8 00:50:56:f4:aa:02 172.16.170.2/24 # VMware NAT

  local n h p block via mac route
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" ens33 "${H_MAC[$n]}" $X-lan vmnet8
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev ens33 metric 100
    nsip "$h" route add default via 172.16.170.2 dev ens33 proto static metric 100
    docker_bridge "$h" docker0 "02:42:$(printf '%s' "${H_MAC[$n]}" | cut -d: -f3-6)" 172.17.0.1/16 1500
    tunl0_standin "$h" "${H_TUNL0[$n]}" "${H_TUNADDR[$n]}" $X-lan
  done
  model_pods $X

  # BIRD: own block blackholed; the peers' blocks straight via the peer (same
  # subnet, no IPIP with CrossSubnet), except where the model says it is missing
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    nsip "$h" route add blackhole "${H_BLOCK[$n]}" proto bird
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r block via mac route <<<"$p"
      [[ $route == 1 ]] && nsip "$h" route add "$block" via "$via" dev ens33 proto bird
      stale_neigh "$h" "$via" "$mac" ens33
    done
    stale_neigh "$h" 172.16.170.2 00:50:56:f4:aa:02 ens33
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  cleanup
}
