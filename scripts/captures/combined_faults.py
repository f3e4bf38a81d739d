"""combined-faults: one kubeadm v1.28 cluster (flannel vxlan with etcd v3, kube-proxy
IPVS) with a different fault on each host, so every finding must land on the
right node / subject / related party. See examples/captures/combined-faults/README.md."""

from kube import (Cluster, Container, Node, Pod, Port, Service, Tables, coredns_pods, corefile, daemon_pod, deployment_pods,
                  flannel_iptables, kube_dns_service, kube_proxy_config, kube_proxy_ipvs, kubeadm_config, kubelet_config,
                  kubernetes_service, shift, static_pods, subnet_env)

AT = "2024-06-20T10:15:00Z"
VERSION = "1.28.9"
REPO = "registry.k8s.io"
NETWORK = "10.244.0.0/16"
CREATED = "2024-01-08T13:20:00Z"
BOOT = "2024-06-12T04:40:00Z"
HOSTS = {
    # name   eth0 IP          eth0 MAC             flannel.1 MAC (device)  cni0 MAC             kube-ipvs0 MAC       lease
    "cp": ("192.168.59.10", "52:54:00:59:00:10", "4a:f0:8d:22:71:10", "66:0d:3e:b2:18:10", "2e:71:c5:0a:93:10", "10.244.0.0"),
    "n1": ("192.168.59.11", "52:54:00:59:00:11", "ce:19:74:5b:e2:11", "66:0d:3e:b2:18:11", "2e:71:c5:0a:93:11", "10.244.1.0"),
    "n2": ("192.168.59.12", "52:54:00:59:00:12", "b2:6e:03:d9:4f:12", "66:0d:3e:b2:18:12", "2e:71:c5:0a:93:12", "10.244.2.0"),
    "n3": ("192.168.59.13", "52:54:00:59:00:13", "0a:c4:9b:71:3d:13", "66:0d:3e:b2:18:13", "2e:71:c5:0a:93:13", "10.244.3.0"),
    "n4": ("192.168.59.14", "52:54:00:59:00:14", "de:88:20:f6:5a:14", "66:0d:3e:b2:18:14", "2e:71:c5:0a:93:14", "10.244.4.0"),
    "n5": ("192.168.59.15", "52:54:00:59:00:15", "92:3f:e7:08:c1:15", "66:0d:3e:b2:18:15", "2e:71:c5:0a:93:15", "10.244.6.0"),
}
CP = "cp"
# cp: flanneld published this VtepMAC; systemd-udevd (MACAddressPolicy=persistent) then changed the device's MAC
CP_PUBLISHED_VTEP = "d6:5c:0e:19:a3:10"
# n5: its lease expired while flanneld was down (10.244.5.0/24 -> 10.244.6.0/24); cni0 kept the old address
N5_OLD_NET = "10.244.5.0"
# n4: its flanneld's etcd watch broke at 08:55 (compacted revision); n3 joined at 09:10
N4_MISSES = "n3"


def build() -> Cluster:
    c = Cluster("combined-faults", AT, "1.28")
    for name, (ip, *_r) in HOSTS.items():
        created = "2024-06-20T09:10:00Z" if name == "n3" else (CREATED if name == CP else shift(CREATED, minutes=15))
        n = Node(name, ip, created, role="control-plane" if name == CP else "",
                 ready_since=shift(created, minutes=1) if name == "n3" else shift(BOOT, minutes=1),
                 os_image="Rocky Linux 9.4 (Blue Onyx)", kernel="5.14.0-427.20.1.el9_4.x86_64", runtime="containerd://1.7.18",
                 kubelet_version=f"v{VERSION}", annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"})
        if name == CP:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=1)
    n3_up = "2024-06-20T09:11:02Z"
    c.pods += static_pods(c, CP, VERSION, REPO, CREATED, shift("2024-06-20T07:30:00Z", minutes=1))
    for name in HOSTS:
        start = n3_up if name == "n3" else up
        c.pods.append(daemon_pod("kube-flannel-ds", "kube-flannel", name, "docker.io/flannel/flannel:v0.25.1", {"app": "flannel", "k8s-app": "flannel"},
                                 shift(CREATED, minutes=2), start, "6b8d7c4f9", container="kube-flannel", service_account="flannel"))
        c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"}, CREATED, start,
                                 "5c94d8f6b7"))
    c.pods += coredns_pods("76f75df574", [("n1", "10.244.1.2")], f"{REPO}/coredns/coredns:v1.11.1", CREATED, up)
    # the replica that moved to n3 at 09:12 never became Ready: it cannot reach the API (ready plugin waits)
    c.pods += coredns_pods("76f75df574", [("n3", "10.244.3.2")], f"{REPO}/coredns/coredns:v1.11.1", "2024-06-20T09:12:20Z",
                           "2024-06-20T09:12:21Z", state="notready", restarts=4, last_reason="Error", last_exit=1,
                           last_started="2024-06-20T09:58:40Z", last_finished="2024-06-20T10:04:41Z")
    c.pods[-1].containers[0].started = "2024-06-20T10:04:42Z"
    c.pods += deployment_pods("default", "web", "6d9bd7f4c8", [("n2", "10.244.2.2"), ("n4", "10.244.4.2"), ("n5", f"{N5_OLD_NET[:-1]}3")],
                              "nginx:1.26", [("http", 80, "TCP")], {"app": "web"}, "2024-05-02T08:00:00Z", up)
    # scaled up at 09:30; the CNI on n5 cannot set up the pod: "cni0" already has an IP address different from 10.244.6.1/24
    c.pods.append(Pod("default", "web-6d9bd7f4c8-q7x2p", "n5", None, labels={"app": "web", "pod-template-hash": "6d9bd7f4c8"},
                      owner=("ReplicaSet", "web-6d9bd7f4c8"), created="2024-06-20T09:30:14Z", started="2024-06-20T09:30:14Z",
                      phase="Pending", containers=[Container("web", "nginx:1.26", [("http", 80, "TCP")])]))

    c.services += [
        kubernetes_service("10.96.0.1", [HOSTS[CP][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("default", "web", "10.100.7.77", [Port(80, name="http", target="http", node_port=30777)], {"app": "web"}, type="NodePort",
                labels={"app": "web"}, created="2024-05-02T08:00:00Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 28))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("ipvs", NETWORK, f"https://{HOSTS[CP][0]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, f"{HOSTS[CP][0]}:6443", None, "10.96.0.0/12", REPO), None, CREATED),
    ]
    c.component_statuses = [("scheduler", True, "ok"), ("controller-manager", True, "ok"), ("etcd-0", True, '{"health":"true"}')]

    published = {n: (CP_PUBLISHED_VTEP if n == CP else HOSTS[n][2]) for n in HOSTS}
    c.etcd.append(("/coreos.com/network/config", '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}', 0))
    for name, (ip, *_r, net) in HOSTS.items():
        c.etcd.append((f"/coreos.com/network/subnets/{net}-24",
                       f'{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{published[name]}"}}}}', 86400))

    for name, (ip, mac, vtep, cmac, imac, net) in HOSTS.items():
        h = c.host(name)
        bridge_net = N5_OLD_NET if name == "n5" else net
        gw = bridge_net[:-1] + "1"
        peers = [f"{HOSTS[p][5]},{published[p]},{HOSTS[p][0]},{HOSTS[p][1]}" for p in HOSTS
                 if p != name and not (name == "n4" and p == N4_MISSES)]
        h.attrs.update({"IP": ip, "ETH": mac, "VTEP": vtep, "CNI0": cmac, "IPVS0MAC": imac, "NET": net, "PODGW": gw, "PODMTU": "1450",
                        "PEERS": " ".join(peers), "LOCAL_PODS": " ".join(p.ip for p in c.pods if p.node == name and p.ip),
                        "DEFAULT": "no" if name == "n1" else "yes", "FORWARD": "0" if name == "n2" else "1"})
        h.resolv_conf = "# Generated by NetworkManager\nsearch lab.internal\nnameserver 192.168.59.1\n"
        h.kubelet_config = kubelet_config((1, 28), "/etc/resolv.conf", "10.96.0.10")
        h.subnet_env = subnet_env(NETWORK, f"{net[:-1]}1/24", 1450)
        h.ipvs = "auto"
        h.ipvs_local = [ip, gw, net]
        frag, h.ipset = kube_proxy_ipvs(c, h, NETWORK, (1, 28))
        h.iptables = Tables().merge(frag).merge(flannel_iptables(NETWORK, f"{net}/24", "new")).text()
    return c
