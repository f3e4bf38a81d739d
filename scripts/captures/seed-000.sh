# ============================================================== seed-000 ===
# seed 000: binary-installed v1.15 on CentOS 7 (VMware, 10.0.0.0/24), flannel
# v0.10 vxlan with the etcd v2 backend, docker0 as the pod bridge (mk-docker-opts),
# kube-proxy IPVS on the two Nodes; the master runs flanneld but no kubelet or
# kube-proxy. Model: scripts/captures/seed_000.py.
seed_000() {
  local C=seed-000 AT=2024-06-05T18:10:00Z D="$OUT/seed-000" W X=s0
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan br-lan 00:50:56:e0:00:fe 10.0.0.254/24 # VMware NAT gateway

  local n h p net vtep ip mac
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    # dockerd loads br_netfilter and sets bridge-nf-call-iptables itself
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${H_ETH[$n]}" $X-lan br-lan
    # NetworkManager, static ifcfg-eth0
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev eth0 metric 100
    nsip "$h" route add default via 10.0.0.254 dev eth0 proto static metric 100
    # docker0 from mk-docker-opts: --bip=<lease>.1/24 --mtu=... (the master's
    # dockerd was started before subnet.env had FLANNEL_MTU: 1500)
    docker_bridge "$h" docker0 "${H_DOCKER0[$n]}" "${H_PODGW[$n]}/24" "${H_PODMTU[$n]}"
    flannel_vxlan "$h" "${H_VTEP[$n]}" "${H_IP[$n]}" eth0 "${H_NET[$n]}"
    if [[ -n ${H_IPVS0[$n]:-} ]]; then
      local vips
      words vips "${H_IPVS0[$n]}"
      kube_ipvs0 "$h" "${H_IPVS0MAC[$n]}" "${vips[@]}"
    fi
  done
  model_pods $X

  # flanneld: route + permanent neighbour + fdb for every lease in etcd but its own
  # (including the stale lease of the removed mcwk8s04)
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r net vtep ip mac <<<"$p"
      [[ $net == "${H_NET[$n]}" ]] && continue
      flannel_peer "$h" "$net" "$vtep" "$ip"
      [[ $mac != - ]] && stale_neigh "$h" "$ip" "$mac" eth0
    done
    stale_neigh "$h" 10.0.0.254 00:50:56:e0:00:fe eth0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  model_etcd_v2 /coreos.com/network
  cleanup
}
