"""healthy-extras: a healthy flannel vxlan (etcd v3) + kube-proxy IPVS cluster captured
the way helpful people capture: extra unknown files, ConfigMaps as YAML, an
overlapping page of pods, a captured host that is not a Node (an ops jump
host / API load balancer), and a Node whose host was not captured.
See examples/captures/healthy-extras/README.md."""

import copy

from kube import (Cluster, Node, Port, Service, Tables, as_list, coredns_pods, corefile, daemon_pod, deployment_pods, dump,
                  flannel_iptables, kube_dns_service, kube_proxy_config, kube_proxy_ipvs, kubeadm_config, kubelet_config,
                  kubernetes_service, shift, static_pods, subnet_env, to_yaml, uid)

AT = "2024-05-28T16:45:00Z"
VERSION = "1.28.6"
REPO = "registry.k8s.io"
NETWORK = "10.244.0.0/16"
CREATED = "2024-03-19T10:02:33Z"
BOOT = "2024-05-21T06:31:02Z"
NODES = {
    # name      eth0 IP          eth0 MAC             flannel.1 MAC        cni0 MAC             kube-ipvs0 MAC       lease
    "master": ("192.168.58.10", "52:54:00:58:0a:10", "9e:2b:61:c4:07:10", "7a:13:d0:45:ee:10", "b6:8f:02:91:3c:10", "10.244.0.0"),
    "node1":  ("192.168.58.11", "52:54:00:58:0a:11", "9e:2b:61:c4:07:11", "7a:13:d0:45:ee:11", "b6:8f:02:91:3c:11", "10.244.1.0"),
    "node2":  ("192.168.58.12", "52:54:00:58:0a:12", "9e:2b:61:c4:07:12", "7a:13:d0:45:ee:12", "b6:8f:02:91:3c:12", "10.244.2.0"),
    "node3":  ("192.168.58.13", "52:54:00:58:0a:13", "9e:2b:61:c4:07:13", "7a:13:d0:45:ee:13", "b6:8f:02:91:3c:13", "10.244.3.0"),
}
CAPTURED = ["master", "node1", "node2"]  # node3 is a Node without a folder
LB = ("lb1", "192.168.58.5", "52:54:00:58:0a:05", "b6:8f:02:91:3c:05")
CP = "master"

ETHTOOL = """Settings for eth0:
	Supported ports: [  ]
	Supported link modes:   Not reported
	Supported pause frame use: No
	Supports auto-negotiation: No
	Supported FEC modes: Not reported
	Advertised link modes:  Not reported
	Advertised pause frame use: No
	Advertised auto-negotiation: No
	Advertised FEC modes: Not reported
	Speed: Unknown!
	Duplex: Unknown! (255)
	Auto-negotiation: off
	Port: Other
	PHYAD: 0
	Transceiver: internal
	Link detected: yes
"""

NOTES = """Captured for ticket OPS-2291 ("web is slow from the office").
Nothing looked wrong; node3 is the spare in rack B, I did not have SSH to it.
lb1 is the jump host / API haproxy, it runs kube-proxy so we can curl ClusterIPs.
-- mk
"""


def pod_ip(node: str, i: int) -> str:
    return NODES[node][5][:-1] + str(i)


def build() -> Cluster:
    c = Cluster("healthy-extras", AT, "1.28")
    for name, (ip, *_r) in NODES.items():
        n = Node(name, ip, CREATED if name == CP else shift(CREATED, minutes=11), role="control-plane" if name == CP else "",
                 ready_since=shift(BOOT, minutes=1), os_image="Debian GNU/Linux 12 (bookworm)", kernel="6.1.0-21-amd64",
                 runtime="containerd://1.6.28", kubelet_version=f"v{VERSION}", pod_cidr=f"{NODES[name][5]}/24",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"})
        if name == CP:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=1)
    c.pods += static_pods(c, CP, VERSION, REPO, CREATED, BOOT)
    for name in NODES:
        c.pods.append(daemon_pod("kube-flannel-ds", "kube-flannel", name, "docker.io/flannel/flannel:v0.24.2", {"app": "flannel", "k8s-app": "flannel"},
                                 shift(CREATED, minutes=2), up, "85b5d5c8b4", container="kube-flannel", service_account="flannel"))
        c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"}, CREATED, up,
                                 "7f6d8c9b4d"))
    c.pods += coredns_pods("5dd5756b68", [("node1", pod_ip("node1", 2)), ("node2", pod_ip("node2", 2))], f"{REPO}/coredns/coredns:v1.10.1",
                           CREATED, shift(up, seconds=40))
    c.pods += deployment_pods("default", "web", "8486f9c7d9", [("node1", pod_ip("node1", 3)), ("node2", pod_ip("node2", 3)), ("node3", pod_ip("node3", 2))],
                              "nginx:1.25", [("http", 80, "TCP")], {"app": "web"}, "2024-04-02T12:14:09Z", shift(up, minutes=1))

    c.services += [
        kubernetes_service("10.96.0.1", [NODES[CP][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("default", "web", "10.111.20.9", [Port(80, name="http", target="http", node_port=31080)], {"app": "web"}, type="NodePort",
                labels={"app": "web"}, created="2024-04-02T12:14:09Z"),
    ]
    cms = [
        ("kube-system", "coredns", {"Corefile": corefile((1, 28))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("ipvs", NETWORK, "https://192.168.58.5:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, "192.168.58.5:6443", NETWORK, "10.96.0.0/12", REPO), None, CREATED),
        ("kube-flannel", "kube-flannel-cfg", {"net-conf.json": '{\n  "Network": "10.244.0.0/16",\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n',
                                              "cni-conf.json": '{\n  "name": "cbr0",\n  "cniVersion": "0.3.1",\n  "plugins": [\n    {\n      "type": "flannel",\n      "delegate": {\n        "hairpinMode": true,\n        "isDefaultGateway": true\n      }\n    },\n    {\n      "type": "portmap",\n      "capabilities": {\n        "portMappings": true\n      }\n    }\n  ]\n}\n'},
         {"app": "flannel", "k8s-app": "flannel", "tier": "node"}, shift(CREATED, minutes=2)),
    ]
    # ConfigMaps as `kubectl get cm -o yaml` prints them
    c.extra_cluster_files["configmaps.yaml"] = lambda r: to_yaml(as_list([r.configmap(*cm) for cm in cms]))
    c.component_statuses = [("scheduler", True, "ok"), ("controller-manager", True, "ok"), ("etcd-0", True, '{"health":"true"}')]

    # an older page of a `kubectl get pods -w` style capture: the same CoreDNS pod before it became Ready,
    # with a lower resourceVersion: the copy in pods.json wins
    def older_page(r):
        dns = next(p for p in c.pods if p.labels.get("k8s-app") == "kube-dns" and p.node == "node2")
        old = copy.deepcopy(dns)
        old.containers[0].state = "notready"
        old.ready_since = shift(up, seconds=40)
        current = int(r.rvs[("Pod", dns.namespace, dns.name)])
        obj = r.pod(old)
        obj["metadata"]["resourceVersion"] = str(current - 1311)
        return dump(as_list([obj]))
    c.extra_cluster_files["pods-watch.json"] = older_page
    c.extra_cluster_files["events.json"] = lambda r: dump(as_list([event(r, p, reason, msg, t) for (p, reason, msg, t) in [
        (c.pods[-1], "Scheduled", f"Successfully assigned default/{c.pods[-1].name} to node3", shift(up, minutes=1)),
        (c.pods[-1], "Pulled", 'Container image "nginx:1.25" already present on machine', shift(up, minutes=1, seconds=2)),
        (c.pods[-1], "Started", "Started container web", shift(up, minutes=1, seconds=3)),
    ]]))
    c.extra_files["notes.txt"] = NOTES
    c.extra_files["nodes/capture.log"] = "\n".join(f"{AT} collected nodes/{n}" for n in CAPTURED + ["lb1"]) + f"\n{AT} node3: ssh: connect to host 192.168.58.13 port 22: Connection timed out\n"
    c.extra_cluster_files["kubectl-version.txt"] = "Client Version: v1.28.6\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\nServer Version: v1.28.6\n"

    c.etcd.append(("/coreos.com/network/config", '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}', 0))
    for name, (ip, _m, vtep, *_r, net) in NODES.items():
        c.etcd.append((f"/coreos.com/network/subnets/{net}-24",
                       f'{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{vtep}"}}}}', 86400))

    peers_all = [(NODES[p][5], NODES[p][2], NODES[p][0], NODES[p][1], p) for p in NODES]
    for name in CAPTURED:
        ip, mac, vtep, cmac, imac, net = NODES[name]
        h = c.host(name)
        gw = net[:-1] + "1"
        h.attrs.update({"ROLE": "node", "IP": ip, "ETH": mac, "VTEP": vtep, "CNI0": cmac, "IPVS0MAC": imac, "NET": net, "PODGW": gw,
                        "PODMTU": "1450", "PEERS": " ".join(f"{n},{v},{i},{m}" for n, v, i, m, p in peers_all if p != name),
                        "LOCAL_PODS": " ".join(p.ip for p in c.pods if p.node == name and p.ip)})
        h.resolv_conf = "domain lab.example\nsearch lab.example\nnameserver 192.168.58.1\n"
        h.kubelet_config = kubelet_config((1, 28), "/etc/resolv.conf", "10.96.0.10")
        h.subnet_env = subnet_env(NETWORK, f"{gw}/24", 1450)
        h.ipvs = "auto"
        h.ipvs_local = [ip, gw, net]
        frag, h.ipset = kube_proxy_ipvs(c, h, NETWORK, (1, 28))
        h.iptables = Tables().merge(frag).merge(flannel_iptables(NETWORK, f"{net}/24", "new")).text()
    c.host("node1").extra_files["ethtool.txt"] = ETHTOOL
    c.host("node2").extra_files["conntrack-stats.txt"] = "\n".join(
        f"cpu={i:<7d} found=0 invalid={3 + i * 2} insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart={11 + i}" for i in range(2)) + "\n"

    # lb1: not a Node. HAProxy for the API (controlPlaneEndpoint 192.168.58.5:6443) and the ops jump host:
    # kube-proxy (IPVS, systemd) plus static routes to each node's pod subnet, no flannel, no pod bridge
    name, ip, mac, imac = LB
    h = c.host(name)
    h.attrs.update({"ROLE": "lb", "IP": ip, "ETH": mac, "IPVS0MAC": imac,
                    "ROUTES": " ".join(f"{NODES[p][5]}/24,{NODES[p][0]}" for p in NODES),
                    "NEIGH": " ".join(f"{NODES[p][0]},{NODES[p][1]}" for p in NODES), "LOCAL_PODS": ""})
    h.resolv_conf = "domain lab.example\nsearch lab.example\nnameserver 192.168.58.1\n"
    h.ipvs = "auto"
    h.ipvs_local = [ip]
    frag, h.ipset = kube_proxy_ipvs(c, h, NETWORK, (1, 28))
    haproxy = {"filter": ([], ["-A INPUT -p tcp -m tcp --dport 6443 -m conntrack --ctstate NEW -j ACCEPT"])}
    h.iptables = Tables().merge(frag).merge(haproxy).text()
    h.extra_files["haproxy.cfg"] = ("frontend kube-apiserver\n    bind 192.168.58.5:6443\n    mode tcp\n    default_backend masters\n"
                                    "backend masters\n    mode tcp\n    server master 192.168.58.10:6443 check\n")
    return c


def event(r, p, reason: str, message: str, t: str) -> dict:
    name = f"{p.name}.{uid(reason, p.name)[:8]}{uid(reason, p.name)[9:13]}"
    return {"apiVersion": "v1", "count": 1, "eventTime": None, "firstTimestamp": t, "involvedObject": {
        "apiVersion": "v1", "kind": "Pod", "name": p.name, "namespace": p.namespace, "uid": uid(r.c.name, "Pod", p.namespace, p.name)},
        "kind": "Event", "lastTimestamp": t, "message": message,
        "metadata": {"creationTimestamp": t, "name": name, "namespace": p.namespace, "resourceVersion": r.next_rv(name),
                     "uid": uid(r.c.name, "Event", name)},
        "reason": reason, "reportingComponent": "kubelet" if reason != "Scheduled" else "default-scheduler",
        "reportingInstance": p.node if reason != "Scheduled" else "", "source": {"component": "kubelet", "host": p.node} if reason != "Scheduled"
        else {"component": "default-scheduler"}, "type": "Normal"}
