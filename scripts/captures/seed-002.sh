# ============================================================== seed-002 ===
# seed 002: kubeadm v1.18 + Calico v3.14 IPIP on three CentOS 8 VMs with two
# NICs: eth0 DHCP (default route; Calico's first-found autodetection picks it),
# eth1 static 10.0.0.0/24 (the master's --node-ip). Model: scripts/captures/seed_002.py.
seed_002() {
  local C=seed-002 AT=2020-08-13T08:05:00Z D="$OUT/seed-002" W X=s2
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan br-ext fa:16:3e:00:23:01 172.18.35.1/24 # the hypervisor's DHCP network
  lan_switch $X-lan br-priv fa:16:3e:00:0a:00                # host-only 10.0.0.0/24, no router

  local n h p block via mac
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
    nic "$h" eth0 "${H_MAC0[$n]}" $X-lan br-ext
    nic "$h" eth1 "${H_MAC1[$n]}" $X-lan br-priv
    # NetworkManager: eth0 DHCP (metric 100), eth1 static without gateway (metric 101)
    nsip "$h" addr add "${H_IP0[$n]}/24" brd + dev eth0 metric 100
    nsip "$h" route add default via 172.18.35.1 dev eth0 proto dhcp metric 100
    nsip "$h" addr add "${H_IP1[$n]}/24" brd + dev eth1 metric 101
    docker_bridge "$h" docker0 "02:42:$(printf '%s' "${H_MAC0[$n]}" | cut -d: -f3-6)" 172.17.0.1/16 1500
    tunl0_standin "$h" "${H_TUNL0[$n]}" "${H_TUNADDR[$n]}" $X-lan
  done
  model_pods $X

  # BIRD: own block blackholed, the peers' blocks via their BGP address (eth0) over tunl0
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    nsip "$h" route add blackhole "${H_BLOCK[$n]}" proto bird
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r block via mac <<<"$p"
      nsip "$h" route add "$block" via "$via" dev tunl0 proto bird onlink
      stale_neigh "$h" "$via" "$mac" eth0
    done
    stale_neigh "$h" 172.18.35.1 fa:16:3e:00:23:01 eth0
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  cleanup
}
