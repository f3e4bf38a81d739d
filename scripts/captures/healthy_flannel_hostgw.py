"""healthy-flannel-hostgw: kubeadm v1.27, flannel host-gw with the etcd v3 backend
(custom prefix), kube-proxy iptables mode, docker's FORWARD DROP answered by
flanneld's accepts. Nothing is wrong. See examples/captures/healthy-flannel-hostgw/README.md."""

from kube import (Cluster, Node, Port, Service, Tables, coredns_pods, corefile, daemon_pod, deployment_pods,
                  docker_iptables, flannel_iptables, kube_dns_service, kube_proxy_config, kube_proxy_iptables, kubeadm_config,
                  kubelet_config, kubelet_iptables, kubernetes_service, shift, static_pods, subnet_env)

AT = "2024-04-18T14:05:00Z"
VERSION = "1.27.12"
REPO = "registry.k8s.io"
NETWORK = "10.244.0.0/16"
PREFIX = "/k8s-lab/network"
CREATED = "2024-02-05T10:41:19Z"
BOOT = "2024-04-02T07:55:31Z"
HOSTS = {
    # name      eth0 IP          eth0 MAC             cni0 MAC             docker0 MAC          lease (flannel picks it at random)
    "k8s-cp1": ("192.168.57.10", "52:54:00:8c:39:10", "c2:5d:18:a0:7e:10", "02:42:6b:f0:1c:10", "10.244.53.0"),
    "k8s-w1":  ("192.168.57.11", "52:54:00:8c:39:11", "c2:5d:18:a0:7e:11", "02:42:6b:f0:1c:11", "10.244.8.0"),
    "k8s-w2":  ("192.168.57.12", "52:54:00:8c:39:12", "c2:5d:18:a0:7e:12", "02:42:6b:f0:1c:12", "10.244.71.0"),
}
CP = "k8s-cp1"


def pod_ip(node: str, i: int) -> str:
    return HOSTS[node][4][:-1] + str(i)


def build() -> Cluster:
    c = Cluster("healthy-flannel-hostgw", AT, "1.27")
    for name, (ip, *_rest) in HOSTS.items():
        n = Node(name, ip, CREATED if name == CP else shift(CREATED, minutes=6), role="control-plane" if name == CP else "",
                 ready_since=shift(BOOT, minutes=1), os_image="Debian GNU/Linux 12 (bookworm)", kernel="6.1.0-18-amd64",
                 runtime="containerd://1.6.28", kubelet_version=f"v{VERSION}",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"})
        if name == CP:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=1)
    c.pods += static_pods(c, CP, VERSION, REPO, CREATED, BOOT)
    for name in HOSTS:
        fl = daemon_pod("kube-flannel-ds", "kube-flannel", name, "docker.io/flannel/flannel:v0.22.3", {"app": "flannel", "k8s-app": "flannel"},
                        shift(CREATED, minutes=2), up, "6f7c8d5b9b", container="kube-flannel", service_account="flannel")
        fl.containers[0].args = ["--ip-masq", "--etcd-endpoints=https://192.168.57.10:2379", f"--etcd-prefix={PREFIX}",
                                 "--etcd-certfile=/etc/flannel/etcd/client.crt", "--etcd-keyfile=/etc/flannel/etcd/client.key",
                                 "--etcd-cafile=/etc/flannel/etcd/ca.crt"]
        c.pods.append(fl)
        c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"}, CREATED, up,
                                 "7745d4b6f8"))
    c.pods += coredns_pods("5d78c9869d", [("k8s-w1", pod_ip("k8s-w1", 2)), ("k8s-w2", pod_ip("k8s-w2", 2))],
                           f"{REPO}/coredns/coredns:v1.10.1", CREATED, shift(BOOT, minutes=2))
    c.pods += deployment_pods("default", "web", "7c5ddbdf54", [(CP, pod_ip(CP, 2)), ("k8s-w1", pod_ip("k8s-w1", 3)), ("k8s-w2", pod_ip("k8s-w2", 3))],
                              "nginx:1.25", [("http", 80, "TCP")], {"app": "web"}, "2024-03-11T09:02:44Z", shift(BOOT, minutes=2))
    c.pods += deployment_pods("default", "echo", "68bd8d7f5c", [("k8s-w2", pod_ip("k8s-w2", 4))],
                              "registry.k8s.io/e2e-test-images/agnhost:2.45", [("echo", 8080, "TCP"), ("udp-echo", 8081, "UDP")],
                              {"app": "echo"}, "2024-03-12T16:20:05Z", shift(BOOT, minutes=2))
    # the web pod on the tainted control plane tolerates it
    web_cp = next(p for p in c.pods if p.node == CP and p.labels.get("app") == "web")
    web_cp.tolerations = [
        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
        {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]

    c.services += [
        kubernetes_service("10.96.0.1", [HOSTS[CP][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("default", "web", "10.99.142.7", [Port(80, name="http", target="http", node_port=30080)], {"app": "web"},
                type="NodePort", labels={"app": "web"}, created="2024-03-11T09:02:44Z"),
        Service("default", "echo", "10.107.18.203", [Port(80, "TCP", "tcp", target="echo"), Port(81, "UDP", "udp", target="udp-echo")],
                {"app": "echo"}, labels={"app": "echo"}, created="2024-03-12T16:20:05Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 27))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("", NETWORK, f"https://{HOSTS[CP][0]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, f"{HOSTS[CP][0]}:6443", NETWORK, "10.96.0.0/12", REPO), None, CREATED),
    ]
    c.component_statuses = [("scheduler", True, "ok"), ("controller-manager", True, "ok"), ("etcd-0", True, '{"health":"true"}')]

    c.etcd.append((f"{PREFIX}/config", '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}', 0))
    for name, (ip, *_r, net) in HOSTS.items():
        c.etcd.append((f"{PREFIX}/subnets/{net}-24", f'{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"host-gw"}}', 86400))

    for name, (ip, mac, cmac, dmac, net) in HOSTS.items():
        h = c.host(name)
        gw = net[:-1] + "1"
        peers = " ".join(f"{HOSTS[p][4]},{HOSTS[p][0]},{HOSTS[p][1]}" for p in HOSTS if p != name)
        h.attrs.update({"IP": ip, "MAC": mac, "CNI0": cmac, "DOCKER0": dmac, "NET": net, "PODGW": gw, "PODMTU": "1500", "PEERS": peers})
        h.resolv_conf = "domain lab.example\nsearch lab.example\nnameserver 192.168.57.1\n"
        h.kubelet_config = kubelet_config((1, 27), "/etc/resolv.conf", "10.96.0.10")
        h.subnet_env = subnet_env(NETWORK, f"{gw}/24", 1500)
        t = Tables().add("filter", policies={"FORWARD": "DROP"})
        t.merge(docker_iptables())
        t.merge(kubelet_iptables((1, 27)))
        t.merge(kube_proxy_iptables(c, "modern", NETWORK))
        t.merge(flannel_iptables(NETWORK, f"{net}/24", "new"))
        h.iptables = t.text()
    return c
