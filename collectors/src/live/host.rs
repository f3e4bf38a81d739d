//! Host collectors: netlink, ipvs, iptables, resolv_conf, sysctl, subnet_env, kubelet.
