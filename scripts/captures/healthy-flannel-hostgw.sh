# ================================================= healthy-flannel-hostgw ===
# kubeadm v1.27 on three Debian 12 VMs (libvirt, 192.168.57.0/24), flannel
# v0.22 host-gw with the etcd v3 backend under a custom prefix, kube-proxy
# iptables, docker next to containerd (FORWARD policy DROP). Nothing is wrong.
# Model: scripts/captures/healthy_flannel_hostgw.py.
healthy_flannel_hostgw() {
  local C=healthy-flannel-hostgw AT=2024-04-18T14:05:00Z D="$OUT/healthy-flannel-hostgw" W X=hg
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan virbr1 52:54:00:8c:39:01 192.168.57.1/24

  local n h p net ip mac
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${H_MAC[$n]}" $X-lan virbr1
    # ifupdown, static
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev eth0
    nsip "$h" route add default via 192.168.57.1 dev eth0 onlink
    nsip "$h" link add cni0 address "${H_CNI0[$n]}" mtu 1500 type bridge
    nsip "$h" link set cni0 up
    nsip "$h" addr add "${H_PODGW[$n]}/24" brd + dev cni0
    docker_bridge "$h" docker0 "${H_DOCKER0[$n]}" 172.17.0.1/16 1500
  done
  model_pods $X

  # flanneld host-gw: each peer's lease via the peer's PublicIP
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r net ip mac <<<"$p"
      nsip "$h" route add "$net/24" via "$ip" dev eth0
      stale_neigh "$h" "$ip" "$mac" eth0
    done
    stale_neigh "$h" 192.168.57.1 52:54:00:8c:39:01 eth0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  model_etcd_v3 /k8s-lab/network 7600000000000000100
  cleanup
}
