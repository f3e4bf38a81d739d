"""healthy-calico: kubeadm v1.28, Calico v3.26 IPIP (calico-ipam, BlockAffinities,
one node with two blocks), kube-proxy iptables, systemd-resolved hosts with the
kubelet pointed at the real upstream. Nothing is wrong.
See examples/captures/healthy-calico/README.md."""

from kube import (RESOLVED_STUB, RESOLVED_UPSTREAM, Cluster, Container, Node, Pod, Port, Service, Tables, cali_ifname,
                  calico_block, calico_ipsets, calico_iptables, calico_pool, coredns_pods, corefile, daemon_pod,
                  deployment_pods, kube_dns_service, kube_proxy_config, kube_proxy_iptables, kubeadm_config, kubelet_config,
                  kubelet_iptables, kubernetes_service, shift, static_pods)

AT = "2024-03-02T11:40:00Z"
VERSION = "1.28.6"
REPO = "registry.k8s.io"
POOL = "192.168.0.0/16"
CREATED = "2024-01-22T08:14:51Z"
BOOT = "2024-02-26T06:02:13Z"
HOSTS = {
    # name         enp1s0 IP     enp1s0 MAC           tunl0 stand-in MAC   Calico blocks (first holds tunl0)           podCIDR
    "cp-01":     ("10.20.0.11", "52:54:00:1f:6e:0b", "0e:4c:19:a7:00:0b", ["192.168.219.64/26"], "192.168.0.0/24"),
    "worker-01": ("10.20.0.21", "52:54:00:1f:6e:15", "0e:4c:19:a7:00:15", ["192.168.171.0/26"], "192.168.1.0/24"),
    "worker-02": ("10.20.0.22", "52:54:00:1f:6e:16", "0e:4c:19:a7:00:16", ["192.168.37.128/26", "192.168.37.192/26"], "192.168.2.0/24"),
}
CP = "cp-01"


def addr(block: str, i: int) -> str:
    a = block.split("/")[0].split(".")
    return ".".join(a[:3] + [str(int(a[3]) + i)])


def build() -> Cluster:
    c = Cluster("healthy-calico", AT, "1.28")
    for name, (ip, _m, _t, blocks, podcidr) in HOSTS.items():
        n = Node(name, ip, CREATED if name == CP else shift(CREATED, minutes=7), role="control-plane" if name == CP else "",
                 pod_cidr=podcidr, ready_since=shift(BOOT, minutes=1), os_image="Ubuntu 22.04.4 LTS", kernel="5.15.0-97-generic",
                 runtime="containerd://1.7.12", kubelet_version=f"v{VERSION}",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                              "projectcalico.org/IPv4Address": f"{ip}/24", "projectcalico.org/IPv4IPIPTunnelAddr": addr(blocks[0], 0)},
                 network_unavailable=("CalicoIsUp", "Calico is running on this node", shift(BOOT, minutes=1)))
        if name == CP:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=1)
    c.pods += static_pods(c, CP, VERSION, REPO, CREATED, BOOT)
    for name in HOSTS:
        c.pods.append(daemon_pod("calico-node", "kube-system", name, "docker.io/calico/node:v3.26.4", {"k8s-app": "calico-node"},
                                 shift(CREATED, minutes=3), up, "5d4f9c7c8b"))
        c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"},
                                 CREATED, up, "6c5d9f7b8"))
    b = {n: HOSTS[n][3][0] for n in HOSTS}
    c.pods.append(Pod("kube-system", "calico-kube-controllers-7ddc4f45bc-kx8pd", "worker-01", addr(b["worker-01"], 1),
                      labels={"k8s-app": "calico-kube-controllers", "pod-template-hash": "7ddc4f45bc"},
                      owner=("ReplicaSet", "calico-kube-controllers-7ddc4f45bc"), created=shift(CREATED, minutes=3),
                      started=shift(up, seconds=20), priority_class="system-cluster-critical", service_account="calico-kube-controllers",
                      containers=[Container("calico-kube-controllers", "docker.io/calico/kube-controllers:v3.26.4")]))
    c.pods += coredns_pods("5dd5756b68", [("worker-01", addr(b["worker-01"], 2)), ("worker-02", addr(b["worker-02"], 1))],
                           f"{REPO}/coredns/coredns:v1.10.1", CREATED, shift(up, seconds=30))
    c.pods += deployment_pods("shop", "frontend", "6f9c7d8b45", [("worker-01", addr(b["worker-01"], 3)), ("worker-02", addr(b["worker-02"], 2))],
                              "nginx:1.25", [("http", 8080, "TCP")], {"app": "frontend"}, "2024-02-01T13:00:07Z", shift(up, minutes=1))
    c.pods += deployment_pods("kube-system", "metrics-server", "67fc4df55", [("worker-02", addr(b["worker-02"], 3))],
                              f"{REPO}/metrics-server/metrics-server:v0.7.0", [("https", 10250, "TCP")], {"k8s-app": "metrics-server"},
                              "2024-01-22T09:30:40Z", shift(up, minutes=1))

    c.services += [
        kubernetes_service("10.96.0.1", [HOSTS[CP][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("shop", "frontend", "10.108.77.40", [Port(80, name="http", target="http")], {"app": "frontend"}, labels={"app": "frontend"},
                created="2024-02-01T13:00:07Z"),
        Service("kube-system", "metrics-server", "10.102.201.5", [Port(443, name="https", target="https")], {"k8s-app": "metrics-server"},
                labels={"k8s-app": "metrics-server"}, created="2024-01-22T09:30:40Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 28))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("", POOL, f"https://{HOSTS[CP][0]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, f"{HOSTS[CP][0]}:6443", POOL, "10.96.0.0/12", REPO), None, CREATED),
        ("kube-system", "calico-config", {"calico_backend": "bird", "cni_network_config": "{ ... }", "typha_service_name": "none",
                                          "veth_mtu": "1440"}, None, shift(CREATED, minutes=3)),
    ]
    c.component_statuses = [("scheduler", True, "ok"), ("controller-manager", True, "ok"), ("etcd-0", True, '{"health":"true"}')]
    c.calico.append(calico_pool("default-ipv4-ippool", POOL, "Always", shift(CREATED, minutes=4)))
    for n in HOSTS:
        for i, blk in enumerate(HOSTS[n][3]):
            c.calico.append(calico_block(n, blk, shift(CREATED, minutes=4 + 8 * i)))

    hostnets = sorted(HOSTS[n][0] for n in HOSTS)
    for name, (ip, mac, tmac, blocks, _pc) in HOSTS.items():
        h = c.host(name)
        peers = " ".join(f"{blk},{HOSTS[p][0]},{HOSTS[p][1]}" for p in HOSTS if p != name for blk in HOSTS[p][3])
        h.attrs.update({"IP": ip, "MAC": mac, "TUNL0": tmac, "BLOCKS": " ".join(blocks), "TUNADDR": addr(blocks[0], 0),
                        "PEERS": peers, "PODNET": "calico", "PODMTU": "1440"})
        h.resolv_conf = RESOLVED_STUB.format(search=".")
        h.kubelet_config = kubelet_config((1, 28), "/run/systemd/resolve/resolv.conf", "10.96.0.10")
        h.kubelet_resolv_conf = RESOLVED_UPSTREAM.format(ns="10.20.0.1", search=".")
        ifaces = [cali_ifname(p.namespace, p.name) for p in c.pods if p.node == name and not p.host_network]
        t = Tables()
        t.merge(kubelet_iptables((1, 28)))
        t.merge(calico_iptables(ifaces, True))
        t.merge(kube_proxy_iptables(c, "modern", POOL))
        h.iptables = t.text()
        h.ipset = calico_ipsets([POOL], hostnets)
    return c
