"""seed-003: kubeadm v1.11 + Calico v3.1 (BGP, IPIP CrossSubnet, host-local IPAM on
the Nodes' podCIDRs) on three CentOS 7 VMs; server02 under DiskPressure with
evicted kube-system pods, server03 missing the route to server02's block.
See examples/captures/seed-003/README.md."""

from kube import (Cluster, Container, Node, Pod, Port, Service, Tables, cali_ifname, calico_ipsets, calico_iptables,
                  calico_pool, corefile, daemon_pod, docker_iptables, kube_dns_service, kube_proxy_config,
                  kube_proxy_iptables, kubelet_config, kubelet_iptables, kubernetes_service, shift, static_pods)

AT = "2019-01-16T07:05:00Z"
VERSION = "1.11.0"
REPO = "k8s.gcr.io"
POOL = "10.211.0.0/16"
CREATED = "2018-09-10T02:31:07Z"
BOOT = "2018-12-29T01:12:33Z"
PRESSURE = "2019-01-16T05:12:40Z"
HOSTS = {
    # name       ens33 IP          ens33 MAC            tunl0 stand-in MAC   podCIDR (Calico block)  kernel
    "server01": ("172.16.170.128", "00:0c:29:21:eb:a0", "0e:a1:5c:00:00:80", "10.211.0.0/24", "3.10.0-862.11.6.el7.x86_64"),
    "server02": ("172.16.170.129", "00:0c:29:8f:31:5e", "0e:a1:5c:00:00:81", "10.211.1.0/24", "3.10.0-514.el7.x86_64"),
    "server03": ("172.16.170.130", "00:0c:29:c4:07:d2", "0e:a1:5c:00:00:82", "10.211.2.0/24", "3.10.0-514.el7.x86_64"),
}
MASTER = "server01"
# server03 lost the route to server02's block
MISSING = ("server03", "server02")

KUBELET_ARGS = ("/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf "
                "--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml "
                "--cni-bin-dir=/opt/cni/bin --cni-conf-dir=/etc/cni/net.d --network-plugin=cni "
                "--cgroup-driver=cgroupfs --pod-infra-container-image=registry.cn-hangzhou.aliyuncs.com/google_containers/pause-amd64:3.1 "
                "--feature-gates=ExperimentalCriticalPodAnnotation=true,ExperimentalNotEvictedPodAnnotation=true\n")

MASTER_CONFIGURATION = """api:
  advertiseAddress: 172.16.170.128
  bindPort: 6443
  controlPlaneEndpoint: ""
apiServerExtraArgs:
  authorization-mode: Node,RBAC
apiVersion: kubeadm.k8s.io/v1alpha2
auditPolicy:
  logDir: /var/log/kubernetes/audit
  logMaxAge: 2
  path: ""
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
etcd:
  local:
    dataDir: /var/lib/etcd
    image: ""
imageRepository: k8s.gcr.io
kind: MasterConfiguration
kubeProxy:
  config:
    bindAddress: 0.0.0.0
    clientConnection:
      acceptContentTypes: ""
      burst: 10
      contentType: application/vnd.kubernetes.protobuf
      kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
      qps: 5
    clusterCIDR: 10.211.0.0/16
    configSyncPeriod: 15m0s
    mode: ""
kubernetesVersion: v1.11.0
networking:
  dnsDomain: cluster.local
  podSubnet: 10.211.0.0/16
  serviceSubnet: 10.96.0.0/12
nodeRegistration: {}
unifiedControlPlaneImage: ""
"""


def build() -> Cluster:
    c = Cluster("seed-003", AT, "1.11")
    for name, (ip, _mac, _tm, block, kernel) in HOSTS.items():
        n = Node(name, ip, CREATED if name == MASTER else shift(CREATED, minutes=14), role="master" if name == MASTER else "",
                 pod_cidr=block, ready_since=shift(BOOT, minutes=2), os_image="CentOS Linux 7 (Core)", kernel=kernel,
                 runtime="docker://17.3.1", kubelet_version=f"v{VERSION}",
                 annotations={"kubeadm.alpha.kubernetes.io/cri-socket": "/var/run/dockershim.sock"},
                 capacity={"cpu": "4", "ephemeral-storage": "17811456Ki", "hugepages-1Gi": "0",
                           "hugepages-2Mi": "0", "memory": "7990064Ki", "pods": "110"})
        if name == MASTER:
            n.taints = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}]
        if name == "server02":
            n.disk_pressure_since = PRESSURE
        c.nodes.append(n)

    up = shift(BOOT, minutes=2)
    c.pods += static_pods(c, MASTER, VERSION, REPO, CREATED, BOOT)
    for name in HOSTS:
        p = daemon_pod("calico-node", "kube-system", name, "quay.io/calico/node:v3.1.3", {"k8s-app": "calico-node"},
                       shift(CREATED, minutes=20), up, "3651926224")
        p.containers.append(Container("install-cni", "quay.io/calico/cni:v3.1.3"))
        p.annotations["scheduler.alpha.kubernetes.io/critical-pod"] = ""
        c.pods.append(p)
        kp = daemon_pod("kube-proxy", "kube-system", name, f"{REPO}/kube-proxy-amd64:v{VERSION}", {"k8s-app": "kube-proxy"},
                        CREATED, BOOT, "2718475167")
        kp.annotations["scheduler.alpha.kubernetes.io/critical-pod"] = ""
        c.pods.append(kp)
    # the seed's pods (names, IPs and so cali interface names are the seed's)
    for name, node, ip in (("network-5z4qp", "server01", "10.211.0.6"), ("network-mngxw", "server02", "10.211.1.4"),
                           ("network-6k87z", "server03", "10.211.2.4")):
        c.pods.append(Pod("default", name, node, ip, labels={"app": "network", "controller-revision-hash": "66086030", "pod-template-generation": "1"},
                          owner=("DaemonSet", "network"), created="2019-01-16T06:46:19Z", started="2019-01-16T06:46:20Z",
                          containers=[Container("network", "busybox:1.29", command=["sleep", "3600000"])]))
    for sfx, ip in (("mr977", "10.211.0.2"), ("6sjt5", "10.211.0.3")):
        c.pods.append(Pod("kube-system", f"coredns-777d78ff6f-{sfx}", MASTER, ip, labels={"k8s-app": "kube-dns", "pod-template-hash": "3338349929"},
                          owner=("ReplicaSet", "coredns-777d78ff6f"), created=shift(CREATED, minutes=1), started=up, dns_policy="Default",
                          service_account="coredns", qos="Burstable",
                          containers=[Container("coredns", "k8s.gcr.io/coredns:1.1.3", [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")])]))
    # addons evicted from server02 (DiskPressure since 05:12) and their replacements elsewhere
    addons = [
        ("kubernetes-dashboard", "767dc7d4d", "k8s.gcr.io/kubernetes-dashboard-amd64:v1.8.3", [("", 8443, "TCP")], "server03", "10.211.2.7", "tn4wq", "x8hzp"),
        ("heapster", "5c5b7d6b5b", "k8s.gcr.io/heapster-amd64:v1.5.4", [("", 8082, "TCP")], "server01", "10.211.0.7", "k2l9d", "7mwqs"),
        ("monitoring-influxdb", "848b9b66f6", "k8s.gcr.io/heapster-influxdb-amd64:v1.5.2", [("", 8086, "TCP")], "server03", "10.211.2.8", "5qzrm", "vbc6n"),
    ]
    for i, (app, rs, image, ports, node, ip, evicted_sfx, new_sfx) in enumerate(addons):
        labels = {"k8s-app": app, "pod-template-hash": rs}
        c.pods.append(Pod("kube-system", f"{app}-{rs}-{evicted_sfx}", "server02", None, labels=labels, owner=("ReplicaSet", f"{app}-{rs}"),
                          created="2018-09-10T03:02:11Z", started="2018-12-29T01:14:50Z", phase="Failed", reason="Evicted",
                          message="The node was low on resource: nodefs.", service_account=app,
                          containers=[Container(app, image, ports)]))
        t = shift(PRESSURE, minutes=1 + i)
        c.pods.append(Pod("kube-system", f"{app}-{rs}-{new_sfx}", node, ip, labels=labels, owner=("ReplicaSet", f"{app}-{rs}"),
                          created=t, started=shift(t, seconds=2), service_account=app, containers=[Container(app, image, ports)]))

    c.services += [
        kubernetes_service("10.96.0.1", [HOSTS[MASTER][0]], CREATED),
        kube_dns_service("10.96.0.10", CREATED),
        Service("kube-system", "kubernetes-dashboard", "10.103.88.201", [Port(443, target=8443)], {"k8s-app": "kubernetes-dashboard"},
                labels={"k8s-app": "kubernetes-dashboard"}, created="2018-09-10T03:02:11Z"),
        Service("kube-system", "heapster", "10.98.190.34", [Port(80, target=8082)], {"k8s-app": "heapster"},
                labels={"kubernetes.io/cluster-service": "true", "kubernetes.io/name": "Heapster", "task": "monitoring"}, created="2018-09-10T03:05:40Z"),
        Service("kube-system", "monitoring-influxdb", "10.110.4.117", [Port(8086, target=8086)], {"k8s-app": "monitoring-influxdb"},
                labels={"kubernetes.io/cluster-service": "true", "kubernetes.io/name": "monitoring-influxdb", "task": "monitoring"},
                created="2018-09-10T03:05:40Z"),
    ]
    c.configmaps += [
        ("kube-system", "coredns", {"Corefile": corefile((1, 11))}, None, CREATED),
        ("kube-system", "kube-proxy", kube_proxy_config("", POOL, f"https://{HOSTS[MASTER][0]}:6443"), {"app": "kube-proxy"}, CREATED),
        ("kube-system", "kubeadm-config", {"MasterConfiguration": MASTER_CONFIGURATION}, None, CREATED),
        ("kube-system", "calico-config", {"calico_backend": "bird", "cni_network_config": "{ ... }", "typha_service_name": "none",
                                          "veth_mtu": "1440"}, None, shift(CREATED, minutes=20)),
    ]
    c.component_statuses = [("controller-manager", True, "ok"), ("scheduler", True, "ok"), ("etcd-0", True, '{"health": "true"}')]
    c.calico += [calico_pool("default-ipv4-ippool", POOL, "CrossSubnet", shift(CREATED, minutes=20), block=24)]

    hostnets = sorted(HOSTS[n][0] for n in HOSTS)
    for name, (ip, mac, tmac, block, _k) in HOSTS.items():
        h = c.host(name)
        peers = []
        for p in HOSTS:
            if p == name:
                continue
            route = "0" if (name, p) == MISSING else "1"
            peers.append(f"{HOSTS[p][3]},{HOSTS[p][0]},{HOSTS[p][1]},{route}")
        h.attrs.update({"IP": ip, "MAC": mac, "TUNL0": tmac, "BLOCK": block, "TUNADDR": block.replace(".0/24", ".1"),
                        "PEERS": " ".join(peers), "PODNET": "calico", "PODMTU": "1440"})
        h.resolv_conf = "# Generated by NetworkManager\nsearch localdomain\nnameserver 172.16.170.2\n"
        h.kubelet_config = kubelet_config((1, 11), "/etc/resolv.conf", "10.96.0.10", cgroup="cgroupfs")
        h.kubelet_args = KUBELET_ARGS
        ifaces = [cali_ifname(p.namespace, p.name) for p in c.pods if p.node == name and p.ip and p.phase == "Running"]
        t = Tables().add("filter", policies={"FORWARD": "DROP"})
        t.merge(docker_iptables())
        t.merge(kubelet_iptables((1, 11)))
        t.merge(calico_iptables(ifaces, True, felix31=True))
        t.merge(kube_proxy_iptables(c, "legacy", POOL))
        h.iptables = t.text()
        h.ipset = calico_ipsets([POOL], hostnets)
    return c
