"""seed-002: kubeadm v1.18 + Calico IPIP on dual-NIC CentOS 8 VMs; the master's
InternalIP sits on the static eth1 while its default route and Calico's tunnels
use the DHCP eth0, and kube-proxy on the master programs nothing.
See examples/captures/seed-002/README.md."""

from kube import (Cluster, cali_ifname, Container, Node, Pod, Port, Service, Tables, calico_block, calico_ipsets, calico_iptables,
                  calico_pool, coredns_pods, corefile, daemon_pod, deployment_pods, docker_iptables, kube_dns_service,
                  kube_proxy_config, kube_proxy_iptables, kubeadm_config, kubelet_config, kubelet_iptables,
                  kubernetes_service, shift, static_pods)

AT = "2020-08-13T08:05:00Z"
VERSION = "1.18.0"
REPO = "registry.aliyuncs.com/google_containers"
POOL = "172.200.0.0/16"
CREATED = "2020-08-13T06:58:12Z"
BOOT = "2020-08-13T06:58:40Z"
HOSTS = {
    # name         eth0 (DHCP)       eth1 (static)  eth0 MAC             eth1 MAC             tunl0 stand-in MAC   Calico block        podCIDR
    "instance01": ("172.18.35.135", "10.0.0.10", "fa:16:3e:4b:21:87", "fa:16:3e:c0:5a:10", "0e:2f:71:9c:00:01", "172.200.135.128/26", "172.200.0.0/24"),
    "instance02": ("172.18.35.136", "10.0.0.11", "fa:16:3e:7d:90:3a", "fa:16:3e:c0:5a:11", "0e:2f:71:9c:00:02", "172.200.42.192/26", "172.200.1.0/24"),
    "instance03": ("172.18.35.137", "10.0.0.12", "fa:16:3e:19:e4:c2", "fa:16:3e:c0:5a:12", "0e:2f:71:9c:00:03", "172.200.219.0/26", "172.200.2.0/24"),
}
MASTER = "instance01"

KUBELET_ARGS = ("/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf "
                "--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml "
                "--cgroup-driver=cgroupfs --network-plugin=cni --pod-infra-container-image={repo}/pause:3.2{extra}\n")


def first(block: str, i: int) -> str:
    base = block.split("/")[0].split(".")
    return ".".join(base[:3] + [str(int(base[3]) + i)])


def build() -> Cluster:
    c = Cluster("seed-002", AT, "1.18")
    for name, (ip0, ip1, _m0, _m1, _mt, block, podcidr) in HOSTS.items():
        internal = ip1 if name == MASTER else ip0
        n = Node(name, internal, CREATED if name == MASTER else shift(CREATED, minutes=9), role="master" if name == MASTER else "",
                 pod_cidr=podcidr, ready_since=shift(BOOT, minutes=12), os_image="CentOS Linux 8 (Core)",
                 kernel="4.18.0-193.el8.x86_64", runtime="docker://19.3.12", kubelet_version=f"v{VERSION}",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "/var/run/dockershim.sock",
                              "projectcalico.org/IPv4Address": f"{ip0}/24",
                              "projectcalico.org/IPv4IPIPTunnelAddr": first(block, 0)},
                 network_unavailable=("CalicoIsUp", "Calico is running on this node", shift(BOOT, minutes=11)))
        if name == MASTER:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=11)
    c.pods += static_pods(c, MASTER, VERSION, REPO, CREATED, BOOT)
    for name in HOSTS:
        c.pods.append(daemon_pod("calico-node", "kube-system", name, "calico/node:v3.14.1", {"k8s-app": "calico-node"},
                                 shift(CREATED, minutes=4), up, "6c8f9b6d4b"))
        if name == MASTER:
            # kube-proxy on the master crash-loops: no Service rules there
            c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"},
                                     CREATED, BOOT, "5b6f8c9d7", state="crashloop", restarts=17, last_reason="Error", last_exit=1,
                                     last_started="2020-08-13T08:00:31Z", last_finished="2020-08-13T08:00:32Z", ready_since=BOOT))
        else:
            c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"},
                                     shift(CREATED, minutes=9), shift(BOOT, minutes=1), "5b6f8c9d7"))
    blk = {n: HOSTS[n][5] for n in HOSTS}
    c.pods.append(Pod("kube-system", "calico-kube-controllers-578894d4cd-7xvbn", MASTER, first(blk[MASTER], 1),
                      labels={"k8s-app": "calico-kube-controllers", "pod-template-hash": "578894d4cd"},
                      owner=("ReplicaSet", "calico-kube-controllers-578894d4cd"), created=shift(CREATED, minutes=4), started=up,
                      priority_class="system-cluster-critical", service_account="calico-kube-controllers",
                      containers=[Container("calico-kube-controllers", "calico/kube-controllers:v3.14.1")]))
    c.pods += coredns_pods("66bff467f8", [(MASTER, first(blk[MASTER], 2)), (MASTER, first(blk[MASTER], 3))],
                           f"{REPO}/coredns:1.6.7", CREATED, up)
    c.pods += deployment_pods("web-system", "nginx-web-server", "7fccf59578",
                              [("instance02", first(blk["instance02"], 1)), ("instance03", first(blk["instance03"], 1))],
                              "nginx", [("", 80, "TCP")], {"k8s-app": "nginx-web-server"}, "2020-08-13T07:31:37Z", "2020-08-13T07:31:52Z")

    c.services += [
        kubernetes_service("172.100.0.1", [HOSTS[MASTER][1]], CREATED),
        kube_dns_service("172.100.0.10", CREATED),
        Service("web-system", "nginx-web-server", "172.100.240.106", [Port(8090, name="tcp-8090-80-5b92b", target=80)],
                {"k8s-app": "nginx-web-server"}, labels={"k8s-app": "nginx-web-server"}, created="2020-08-13T07:31:17Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 18))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("", POOL, f"https://{HOSTS[MASTER][1]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, f"{HOSTS[MASTER][1]}:6443", POOL, "172.100.0.0/16", REPO), None, CREATED),
        ("kube-system", "calico-config", {"calico_backend": "bird", "cni_network_config": "{ ... }", "typha_service_name": "none",
                                          "veth_mtu": "1440"}, None, shift(CREATED, minutes=4)),
    ]
    # kubeadm 1.18 runs scheduler/controller-manager with --port=0: `kubectl get cs` reports them
    # Unhealthy on a healthy cluster (kubernetes#93342); their static pods are Ready
    c.component_statuses = [
        ("scheduler", False, "Get http://127.0.0.1:10251/healthz: dial tcp 127.0.0.1:10251: connect: connection refused"),
        ("controller-manager", False, "Get http://127.0.0.1:10252/healthz: dial tcp 127.0.0.1:10252: connect: connection refused"),
        ("etcd-0", True, '{"health":"true"}'),
    ]
    c.calico += [calico_pool("default-ipv4-ippool", POOL, "Always", shift(CREATED, minutes=5))]
    c.calico += [calico_block(n, blk[n], shift(CREATED, minutes=5 if n == MASTER else 10)) for n in HOSTS]

    pools, hostnets = [POOL], sorted(HOSTS[n][0] for n in HOSTS)
    for name, (ip0, ip1, m0, m1, mt, block, _pc) in HOSTS.items():
        h = c.host(name)
        peers = " ".join(f"{HOSTS[p][5]},{HOSTS[p][0]},{HOSTS[p][2]}" for p in HOSTS if p != name)
        h.attrs.update({"IP0": ip0, "IP1": ip1, "MAC0": m0, "MAC1": m1, "TUNL0": mt, "BLOCK": block,
                        "TUNADDR": first(block, 0), "PEERS": peers, "PODNET": "calico", "PODMTU": "1440"})
        h.resolv_conf = "# Generated by NetworkManager\nsearch openstacklocal\nnameserver 172.18.35.2\n"
        h.kubelet_config = kubelet_config((1, 18), "/etc/resolv.conf", "172.100.0.10", cgroup="cgroupfs")
        h.kubelet_args = KUBELET_ARGS.format(repo=REPO, extra=f" --node-ip={ip1}" if name == MASTER else "")
        ifaces = [cali_ifname(p.namespace, p.name) for p in c.pods if p.node == name and not p.host_network]
        t = Tables()
        t.merge(docker_iptables())
        t.merge(kubelet_iptables((1, 18)))
        t.merge(calico_iptables(ifaces, True))
        if name != MASTER:
            t.merge(kube_proxy_iptables(c, "legacy", POOL))
        h.iptables = t.text()
        h.ipset = calico_ipsets(pools, hostnets)
    return c
