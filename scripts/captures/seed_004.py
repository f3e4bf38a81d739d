"""seed-004: the whole seed 004 checklist on one flannel (vxlan, kube-subnet-mgr)
cluster, one fault per host. See examples/captures/seed-004/README.md."""

from kube import (RESOLVED_STUB, RESOLVED_UPSTREAM, Cluster, Node, Port, Service, Tables, coredns_pods, corefile,
                  daemon_pod, deployment_pods, flannel_iptables, kube_dns_service, kube_proxy_config, kube_proxy_iptables,
                  kubeadm_config, kubelet_config, kubelet_iptables, kubernetes_service, shift, static_pods, subnet_env)

AT = "2023-03-07T09:20:00Z"
VERSION = "1.21.14"
REPO = "k8s.gcr.io"
NETWORK = "192.168.0.0/16"  # the Calico default, typed into `kubeadm init --pod-network-cidr` by habit
CREATED = "2022-11-21T03:12:45Z"
BOOT = "2023-03-06T23:40:10Z"
HOSTS = {
    # name     ens18 IP         ens18 MAC            flannel.1 MAC        cni0 MAC             lease
    "cp":     ("192.168.10.10", "bc:24:11:5e:0a:10", "3a:91:c2:4e:7d:10", "f6:2e:8b:0c:51:10", "192.168.0.0"),
    "w1":     ("192.168.10.11", "bc:24:11:5e:0a:11", "7e:05:d9:b3:12:11", "f6:2e:8b:0c:51:11", "192.168.1.0"),
    "w2":     ("192.168.10.12", "bc:24:11:5e:0a:12", "52:c8:6a:f1:90:12", "f6:2e:8b:0c:51:12", "192.168.2.0"),
    "w3":     ("192.168.10.13", "bc:24:11:5e:0a:13", "d2:47:1e:8c:3b:13", "f6:2e:8b:0c:51:13", "192.168.3.0"),
    "w4":     ("192.168.10.14", "bc:24:11:5e:0a:14", "ae:6b:30:d5:c4:14", "f6:2e:8b:0c:51:14", "192.168.4.0"),
}
CP = "cp"
# w4: netplan route to the office printers' VLAN, re-applied after flanneld programmed w2's lease
OFFICE_ROUTE = ("w4", "192.168.2.0/24", "192.168.10.254")


def build() -> Cluster:
    c = Cluster("seed-004", AT, "1.21")
    for name, (ip, _m, vtep, _cm, net) in HOSTS.items():
        n = Node(name, ip, CREATED if name == CP else shift(CREATED, minutes=20), role="control-plane" if name == CP else "",
                 pod_cidr=f"{net}/24", ready_since=shift(BOOT, minutes=1), os_image="Ubuntu 20.04.6 LTS",
                 kernel="5.4.0-144-generic", runtime="containerd://1.5.9", kubelet_version=f"v{VERSION}",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "/run/containerd/containerd.sock",
                              "flannel.alpha.coreos.com/backend-data": f'{{"VtepMAC":"{vtep}"}}',
                              "flannel.alpha.coreos.com/backend-type": "vxlan",
                              "flannel.alpha.coreos.com/kube-subnet-manager": "true",
                              "flannel.alpha.coreos.com/public-ip": ip},
                 network_unavailable=("FlannelIsUp", "Flannel is running on this node", shift(BOOT, minutes=1)))
        if name == CP:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}]
        c.nodes.append(n)

    up = shift(BOOT, minutes=1)
    c.pods += static_pods(c, CP, VERSION, REPO, CREATED, BOOT)
    for name in HOSTS:
        c.pods.append(daemon_pod("kube-flannel-ds", "kube-system", name, "quay.io/coreos/flannel:v0.14.0", {"app": "flannel", "tier": "node"},
                                 shift(CREATED, minutes=3), up, "7fb8b954f9", container="kube-flannel", service_account="flannel"))
        c.pods.append(daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy:v{VERSION}", {"k8s-app": "kube-proxy"},
                                 CREATED, up, "6d4f4b8f5c"))
    # both CoreDNS replicas on cp, whose kubelet hands out the systemd-resolved stub
    c.pods += coredns_pods("558bd4d5db", [(CP, "192.168.0.2"), (CP, "192.168.0.3")], f"{REPO}/coredns/coredns:v1.8.0", CREATED,
                           shift(BOOT, minutes=2), state="crashloop", restarts=23, last_reason="Error", last_exit=1,
                           last_started="2023-03-07T09:16:48Z", last_finished="2023-03-07T09:16:49Z")
    c.pods += deployment_pods("default", "web", "5d78c9869d", [(f"w{i}", f"192.168.{i}.2") for i in range(1, 5)],
                              "nginx:1.23", [("http", 80, "TCP")], {"app": "web"}, "2023-01-09T08:30:12Z", shift(BOOT, minutes=2))

    c.services += [
        kubernetes_service("10.96.0.1", [HOSTS[CP][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("default", "web", "10.104.33.17", [Port(80, name="http", target="http")], {"app": "web"}, labels={"app": "web"},
                created="2023-01-09T08:30:12Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 21))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("", NETWORK, f"https://{HOSTS[CP][0]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", kubeadm_config(VERSION, f"{HOSTS[CP][0]}:6443", NETWORK, "10.96.0.0/12", REPO), None, CREATED),
        ("kube-system", "kube-flannel-cfg", {
            "cni-conf.json": '{\n  "name": "cbr0",\n  "cniVersion": "0.3.1",\n  "plugins": [\n    {\n      "type": "flannel",\n      "delegate": {\n        "hairpinMode": true,\n        "isDefaultGateway": true\n      }\n    },\n    {\n      "type": "portmap",\n      "capabilities": {\n        "portMappings": true\n      }\n    }\n  ]\n}\n',
            "net-conf.json": '{\n  "Network": "192.168.0.0/16",\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n'},
         {"app": "flannel", "tier": "node"}, shift(CREATED, minutes=3)),
    ]
    c.component_statuses = [("scheduler", True, "ok"), ("controller-manager", True, "ok"), ("etcd-0", True, '{"health":"true"}')]

    for name, (ip, mac, vtep, cmac, net) in HOSTS.items():
        h = c.host(name)
        peers = []
        for p, (pip, pmac, pvtep, _c, pnet) in HOSTS.items():
            if p == name:
                continue
            route = "0" if (name, f"{pnet}/24") == OFFICE_ROUTE[:2] else "1"
            peers.append(f"{pnet},{pvtep},{pip},{pmac},{route}")
        gw = net[:-1] + "1"
        h.attrs.update({"IP": ip, "MAC": mac, "VTEP": vtep, "CNI0": cmac, "NET": net, "PODGW": gw, "PODMTU": "1450",
                        "PEERS": " ".join(peers)})
        if name == OFFICE_ROUTE[0]:
            h.attrs["EXTRA_ROUTE"] = f"{OFFICE_ROUTE[1]} via {OFFICE_ROUTE[2]}"
        h.resolv_conf = RESOLVED_STUB.format(search="lab.internal")
        if name == CP:
            # copied from an old node: the stub resolver goes to the pods
            h.kubelet_config = kubelet_config((1, 21), "/etc/resolv.conf", "10.96.0.10")
        else:
            h.kubelet_config = kubelet_config((1, 21), "/run/systemd/resolve/resolv.conf", "10.96.0.10")
            h.kubelet_resolv_conf = RESOLVED_UPSTREAM.format(ns="192.168.10.1", search="lab.internal")
        h.subnet_env = subnet_env(NETWORK, f"{gw}/24", 1450)
        t = Tables()
        t.merge(kubelet_iptables((1, 21)))
        t.merge(kube_proxy_iptables(c, "legacy", NETWORK))
        t.merge(flannel_iptables(NETWORK, f"{net}/24", "old"))
        h.iptables = t.text()
    return c
