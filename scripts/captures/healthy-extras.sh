# ========================================================= healthy-extras ===
# healthy-flannel's kind of cluster (kubeadm v1.28, flannel vxlan with etcd v3,
# kube-proxy IPVS) captured with extras: unknown files, ConfigMaps in YAML, an
# overlapping page of pods, a captured host that is not a Node (lb1) and a Node
# whose host was not captured (node3). Model: scripts/captures/healthy_extras.py.
healthy_extras() {
  local C=healthy-extras AT=2024-05-28T16:45:00Z D="$OUT/healthy-extras" W X=hx
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan br-lab 52:54:00:58:0a:01 192.168.58.1/24

  local n h p net vtep ip mac vips
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${H_ETH[$n]}" $X-lan br-lab
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev eth0
    nsip "$h" route add default via 192.168.58.1 dev eth0 onlink
    words vips "10.96.0.1 10.96.0.10 10.111.20.9"
    kube_ipvs0 "$h" "${H_IPVS0MAC[$n]}" "${vips[@]}"
    if [[ ${H_ROLE[$n]} == node ]]; then
      nsip "$h" link add cni0 address "${H_CNI0[$n]}" mtu 1450 type bridge
      nsip "$h" link set cni0 up
      nsip "$h" addr add "${H_PODGW[$n]}/24" brd + dev cni0
      flannel_vxlan "$h" "${H_VTEP[$n]}" "${H_IP[$n]}" eth0 "${H_NET[$n]}"
    fi
  done
  model_pods $X

  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local peers
    if [[ ${H_ROLE[$n]} == node ]]; then
      words peers "${H_PEERS[$n]}"
      for p in "${peers[@]}"; do
        IFS=, read -r net vtep ip mac <<<"$p"
        flannel_peer "$h" "$net" "$vtep" "$ip"
        stale_neigh "$h" "$ip" "$mac" eth0
      done
    else # lb1: static routes to every node's pod subnet (ifupdown `up ip route add ...`)
      words peers "${H_ROUTES[$n]}"
      for p in "${peers[@]}"; do
        IFS=, read -r net ip <<<"$p"
        nsip "$h" route add "$net" via "$ip" dev eth0 proto static
      done
      words peers "${H_NEIGH[$n]}"
      for p in "${peers[@]}"; do
        IFS=, read -r ip mac <<<"$p"
        stale_neigh "$h" "$ip" "$mac" eth0
      done
    fi
    stale_neigh "$h" 192.168.58.1 52:54:00:58:0a:01 eth0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  model_etcd_v3 /coreos.com/network 7600000000000000200
  cleanup
}
