# ======================================================== combined-faults ===
# kubeadm v1.28 on six Rocky 9 VMs (192.168.59.0/24), flannel vxlan with etcd
# v3, kube-proxy IPVS, one fault per host. Model: scripts/captures/combined_faults.py.
combined_faults() {
  local C=combined-faults AT=2024-06-20T10:15:00Z D="$OUT/combined-faults" W X=cf
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan br-lab 52:54:00:59:00:01 192.168.59.1/24

  local n h p net vtep ip mac vips
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" "net.ipv4.ip_forward=${H_FORWARD[$n]}" net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${H_ETH[$n]}" $X-lan br-lab
    # NetworkManager, static (n1's connection lost its ipv4.gateway)
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev eth0 metric 100
    [[ ${H_DEFAULT[$n]} == yes ]] && nsip "$h" route add default via 192.168.59.1 dev eth0 proto static metric 100
    words vips "10.96.0.1 10.96.0.10 10.100.7.77"
    kube_ipvs0 "$h" "${H_IPVS0MAC[$n]}" "${vips[@]}"
    nsip "$h" link add cni0 address "${H_CNI0[$n]}" mtu 1450 type bridge
    nsip "$h" link set cni0 up
    nsip "$h" addr add "${H_PODGW[$n]}/24" brd + dev cni0
    flannel_vxlan "$h" "${H_VTEP[$n]}" "${H_IP[$n]}" eth0 "${H_NET[$n]}"
  done
  model_pods $X

  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r net vtep ip mac <<<"$p"
      flannel_peer "$h" "$net" "$vtep" "$ip"
      stale_neigh "$h" "$ip" "$mac" eth0
    done
    stale_neigh "$h" 192.168.59.1 52:54:00:59:00:01 eth0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  model_etcd_v3 /coreos.com/network 7600000000000000300
  cleanup
}
