# ============================================================== seed-004 ===
# seed 004's checklist on one cluster: kubeadm v1.21, five Ubuntu 20.04 VMs on
# 192.168.10.0/24, flannel v0.14 vxlan in kube-subnet-mgr mode with Network
# 192.168.0.0/16 (overlapping the hosts), kube-proxy iptables, containerd.
# One fault per host. Model: scripts/captures/seed_004.py.
seed_004_full() {
  local C=seed-004 AT=2023-03-07T09:20:00Z D="$OUT/seed-004" W X=s4f
  log "$C"
  model_render
  source "$W/env.sh"

  mkns $X-lan
  nosysout $X-lan net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  lan_bridge $X-lan vmbr0 bc:24:11:00:0a:01 192.168.10.1/24 # office router (Proxmox bridge)

  local n h p net vtep ip mac route
  for n in "${HOSTS[@]}"; do
    h=$X-$n
    mkns "$h"
    case $n in
      w1) nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 ;; # libvirt's advice
      w3) nosysout "$h" net.ipv4.ip_forward=0 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 ;; # CIS baseline
      *) nosysout "$h" net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 ;;
    esac
    nic "$h" ens18 "${H_MAC[$n]}" $X-lan vmbr0
    # systemd-networkd (netplan dhcp4: true)
    nsip "$h" addr add "${H_IP[$n]}/24" brd + dev ens18 metric 100
    nsip "$h" route add default via 192.168.10.1 dev ens18 proto dhcp src "${H_IP[$n]}" metric 100
    nsip "$h" route add 192.168.10.1 dev ens18 proto dhcp scope link src "${H_IP[$n]}" metric 100
    nsip "$h" link add cni0 address "${H_CNI0[$n]}" mtu 1450 type bridge
    nsip "$h" link set cni0 up
    nsip "$h" addr add "${H_PODGW[$n]}/24" brd + dev cni0
    flannel_vxlan "$h" "${H_VTEP[$n]}" "${H_IP[$n]}" ens18 "${H_NET[$n]}"
  done
  model_pods $X

  for n in "${HOSTS[@]}"; do
    h=$X-$n
    local peers
    words peers "${H_PEERS[$n]}"
    for p in "${peers[@]}"; do
      IFS=, read -r net vtep ip mac route <<<"$p"
      if [[ $route == 1 ]]; then
        flannel_peer "$h" "$net" "$vtep" "$ip"
      else # flanneld programmed it, then netplan replaced the route
        nsip "$h" neigh add "$net" lladdr "$vtep" dev flannel.1 nud permanent
        nsbr "$h" fdb append "$vtep" dev flannel.1 dst "$ip" self permanent
      fi
      stale_neigh "$h" "$ip" "$mac" ens18
    done
    if [[ -n ${H_EXTRA_ROUTE[$n]:-} ]]; then
      # shellcheck disable=SC2086
      nsip "$h" route add ${H_EXTRA_ROUTE[$n]} dev ens18 proto static
    fi
    stale_neigh "$h" 192.168.10.1 bc:24:11:00:0a:01 ens18
  done

  wait_dad "${HOSTS[@]/#/$X-}"
  model_dataplane $X "${HOSTS[@]}"
  # w2 rebooted without br_netfilter in /etc/modules-load.d: the module, and so
  # every net.bridge.* key, is missing. It cannot be unloaded for one namespace
  # of the generating host, so its keys are dropped from that dump.
  sed -i '/^net\.bridge\./d' "$D/nodes/w2/sysctl.txt"
  cleanup
}
