# ========================================================= healthy-calico ===
# kubeadm v1.28 on three Ubuntu 22.04 VMs (10.20.0.0/24), Calico v3.26 IPIP
# with calico-ipam blocks, kube-proxy iptables. Nothing is wrong.
# Model: scripts/captures/healthy_calico.py.
healthy_calico() {
  local C=healthy-calico AT=2024-03-02T11:40:00Z D="$OUT/healthy-calico" W X=hc
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan br0 52:54:00:1f:6e:01 10.20.0.1/24

  local n h p block via mac blk
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" enp1s0 "${H_MAC[$n]}" $X-lan br0
    # systemd-networkd (netplan), static with a default route
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev enp1s0
    nsip "$h" route add default via 10.20.0.1 dev enp1s0 proto static
    tunl0_standin "$h" "${H_TUNL0[$n]}" "${H_TUNADDR[$n]}" $X-lan
  done
  model_pods $X

  # BIRD: each own block blackholed, every peer block via the peer over tunl0
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local own peers
    words own "${H_BLOCKS[$n]}"
    for blk in "${own[@]}"; do nsip "$h" route add blackhole "$blk" proto bird; done
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r block via mac <<<"$p"
      nsip "$h" route add "$block" via "$via" dev tunl0 proto bird onlink
      stale_neigh "$h" "$via" "$mac" enp1s0 2>/dev/null || true # one neighbour per peer
    done
    stale_neigh "$h" 10.20.0.1 52:54:00:1f:6e:01 enp1s0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  cleanup
}
