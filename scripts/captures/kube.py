"""Model of one example cluster and the renderers that turn it into capture files.

`scripts/make-captures.sh` builds each host's network in a network namespace
and writes what the real tools print there. Everything that is not tool
output comes from here, from one description per capture (`<capture>.py`
next to this file, a `build()` returning a `Cluster`):

  - `cluster/*.json`: the API objects as `kubectl get ... -o json` prints them
    (4-space indent, sorted keys), shaped for the cluster's Kubernetes version
    (no `podIPs` before 1.16, core v1 Endpoints before 1.21, ...). Endpoints
    are derived from the Pods a Service selects, so they always agree;
  - per host: `ipvs.txt` (`ipvsadm -Ln` layout, from Services and ready
    endpoints), resolv.conf, kubelet files, subnet.env and any extra file;
  - for the shell side (WORKDIR): `env.sh` (host tables as bash associative
    arrays), `pods.tsv` (pod interfaces to create), `<host>.iptables` (what
    kube-proxy, flannel, calico and docker would have loaded, fed to
    iptables-restore in the namespace and dumped back with iptables-save),
    `<host>.ipset`, `etcd.tsv` (flannel keys for the real etcd).

Run as `render.py CAPTURE OUTDIR WORKDIR`. Deterministic: uids, container ids
and resourceVersions derive from names, times from the capture's clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import uuid
from dataclasses import dataclass, field

NS_UUID = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


# ------------------------------------------------------------------ basics --
def sha(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS_UUID, "/".join(parts)))


def suffix(*parts: str, n: int = 5) -> str:
    """A generateName-style suffix (kubernetes' alphabet: no vowels, no 0/1/3)."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = int(sha(*parts), 16)
    out = ""
    for _ in range(n):
        h, r = divmod(h, len(alphabet))
        out += alphabet[r]
    return out


def mac(*parts: str, prefix: str = "") -> str:
    """A locally administered unicast MAC, or `prefix` + hash bytes."""
    h = sha(*parts)
    octets = [h[i:i + 2] for i in range(0, 12, 2)]
    if prefix:
        p = prefix.split(":")
        return ":".join(p + octets[len(p):])
    first = (int(octets[0], 16) & 0xFC) | 0x02
    return ":".join([f"{first:02x}"] + octets[1:])


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def fmt_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def shift(s: str, **delta) -> str:
    return fmt_time(parse_time(s) + dt.timedelta(**delta))


def version_tuple(v: str) -> tuple[int, int]:
    major, minor = v.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def cali_ifname(namespace: str, name: str) -> str:
    """Calico's host-side veth name: "cali" + sha1("<namespace>.<pod>")[:11]."""
    return "cali" + hashlib.sha1(f"{namespace}.{name}".encode()).hexdigest()[:11]


def kp_hash(text: str) -> str:
    """kube-proxy's chain-name hash: base32(sha256(text))[:16]."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


# ------------------------------------------------------------------ model --
@dataclass
class Port:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target: int | str | None = None  # targetPort; a name resolves through the pod's container ports
    node_port: int | None = None


@dataclass
class Container:
    name: str
    image: str
    ports: list = field(default_factory=list)  # (name, port, protocol)
    state: str = "running"  # running | notready | crashloop | waiting | terminated
    restarts: int = 0
    last_reason: str = ""  # lastState.terminated.reason
    last_exit: int = 0
    last_started: str = ""
    last_finished: str = ""
    started: str = ""  # state.running.startedAt
    waiting_reason: str = ""
    waiting_message: str = ""
    term_reason: str = ""
    term_exit: int = 0
    command: list | None = None
    args: list | None = None


@dataclass
class Pod:
    namespace: str
    name: str
    node: str | None
    ip: str | None = None  # None: hostNetwork (the node's IP) or no IP yet
    host_network: bool = False
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    owner: tuple | None = None  # (kind, name, apiVersion)
    containers: list = field(default_factory=list)
    phase: str = "Running"
    reason: str = ""  # status.reason (Evicted)
    message: str = ""
    ready: bool | None = None  # None: from the containers
    ready_since: str = ""
    created: str = ""
    started: str = ""
    static: bool = False
    priority_class: str = ""
    dns_policy: str = "ClusterFirst"
    service_account: str = "default"
    qos: str = "BestEffort"
    tolerations: list | None = None
    node_selector: dict | None = None


@dataclass
class Service:
    namespace: str
    name: str
    cluster_ip: str | None  # "None": headless
    ports: list
    selector: dict | None = None
    type: str = "ClusterIP"
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    created: str = ""
    endpoints: list | None = None  # explicit ready addresses (Services without selector)
    endpoint_ports: list | None = None  # explicit (name, port, protocol) for those


@dataclass
class Node:
    name: str
    ip: str
    created: str
    role: str = ""  # "control-plane" / "master" / ""
    pod_cidr: str | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)
    conditions: list | None = None  # full override
    ready_since: str = ""
    kubelet_stopped: str | None = None  # time of last heartbeat: node controller marks Unknown
    disk_pressure_since: str | None = None
    network_unavailable: tuple | None = None  # (reason, message, since) e.g. CalicoIsUp
    os_image: str = ""
    kernel: str = ""
    runtime: str = ""
    kubelet_version: str = ""
    extra_addresses: list = field(default_factory=list)
    capacity: dict | None = None


@dataclass
class Host:
    """A captured host (node folder): non-tool files and shell-side facts."""
    name: str
    attrs: dict = field(default_factory=dict)  # exported to env.sh as H_<KEY>[name]
    resolv_conf: str | None = None
    kubelet_resolv_conf: str | None = None
    kubelet_config: str | None = None
    kubelet_args: str | None = None
    subnet_env: str | None = None
    ipvs: str | None = None  # "auto": from Services; "empty": headers only; None: not captured
    ipvs_local: list = field(default_factory=list)  # addresses NodePorts bind to
    ipvs_stale: dict = field(default_factory=dict)  # (ns, name) -> [(ip, port)]: the backends this host's kube-proxy last saw
    iptables: str | None = None  # restore input
    ipset: str | None = None
    extra_files: dict = field(default_factory=dict)


@dataclass
class Cluster:
    name: str
    captured_at: str
    version: str  # Kubernetes minor, "1.15"
    nodes: list = field(default_factory=list)
    pods: list = field(default_factory=list)
    services: list = field(default_factory=list)
    configmaps: list = field(default_factory=list)  # (namespace, name, data, labels, created)
    component_statuses: list | None = None  # [(name, healthy, message)]
    calico: list = field(default_factory=list)  # raw CRD objects
    extra_cluster_files: dict = field(default_factory=dict)  # file -> text, or a function of the Renderer
    extra_files: dict = field(default_factory=dict)  # path relative to the capture -> text (unknown files)
    hosts: dict = field(default_factory=dict)  # name -> Host
    etcd: list = field(default_factory=list)  # (key, value, ttl)

    # -- helpers used by the capture descriptions --
    def v(self) -> tuple[int, int]:
        return version_tuple(self.version)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            self.hosts[name] = Host(name)
        return self.hosts[name]

    def pod_ip(self, p: Pod) -> str | None:
        if p.host_network:
            n = next((n for n in self.nodes if n.name == p.node), None)
            if n is not None:
                return n.ip
            return self.hosts[p.node].attrs.get("IP") if p.node in self.hosts else None
        return p.ip

    def selected(self, s: Service) -> list:
        if not s.selector:
            return []
        return [p for p in self.pods if p.namespace == s.namespace and p.phase in ("Running", "Pending")
                and self.pod_ip(p) and all(p.labels.get(k) == v for k, v in s.selector.items())]

    def pod_ready(self, p: Pod) -> bool:
        if p.ready is not None:
            return p.ready
        return p.phase == "Running" and all(c.state == "running" for c in p.containers)

    def target_port(self, s: Service, port: Port, p: Pod | None) -> int:
        t = port.target if port.target is not None else port.port
        if isinstance(t, int):
            return t
        for c in (p.containers if p else []):
            for (name, num, _proto) in c.ports:
                if name == t:
                    return num
        raise ValueError(f"{s.namespace}/{s.name}: named targetPort {t} not found")

    def endpoints(self, s: Service) -> tuple[list, list, list]:
        """(ready, not_ready, ports): addresses as (ip, pod|None), ports as (name, port, proto)."""
        if s.endpoints is not None:
            ports = s.endpoint_ports or [(pt.name, pt.target if isinstance(pt.target, int) else pt.port, pt.protocol) for pt in s.ports]
            return [(ip, None) for ip in s.endpoints], [], ports
        pods = self.selected(s)
        ready = [(self.pod_ip(p), p) for p in pods if self.pod_ready(p)]
        not_ready = [(self.pod_ip(p), p) for p in pods if not self.pod_ready(p)]
        ports = [(pt.name, self.target_port(s, pt, pods[0] if pods else None), pt.protocol) for pt in s.ports] if pods else []
        return ready, not_ready, ports


# ------------------------------------------------------------ API objects --
class Renderer:
    def __init__(self, c: Cluster):
        self.c = c
        self.rv = 0
        self.rvs = {}  # (kind, namespace, name) -> the resourceVersion last given
        self.at = c.captured_at
        self.v = c.v()

    def next_rv(self, name: str) -> str:
        # ascending, deterministic, plausible-looking resourceVersions
        self.rv += 1
        return str(100000 + self.rv * 37 + int(sha(name)[:2], 16))

    def meta(self, kind: str, name: str, namespace: str | None = None, created: str = "", labels=None,
             annotations=None, owner=None, generate_name: str | None = None) -> dict:
        m = {
            "creationTimestamp": created or self.at,
            "name": name,
            "resourceVersion": self.next_rv(f"{kind}/{namespace}/{name}"),
            "uid": uid(self.c.name, kind, namespace or "", name),
        }
        self.rvs[(kind, namespace, name)] = m["resourceVersion"]
        if namespace is not None:
            m["namespace"] = namespace
        if labels:
            m["labels"] = dict(labels)
        if annotations:
            m["annotations"] = dict(annotations)
        if generate_name:
            m["generateName"] = generate_name
        if owner:
            kind_o, name_o, api = owner
            m["ownerReferences"] = [{
                "apiVersion": api,
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": kind_o,
                "name": name_o,
                "uid": uid(self.c.name, kind_o, namespace or "", name_o),
            }]
        if self.v < (1, 20):
            base = "/api/v1" if kind in ("Node", "Pod", "Service", "Endpoints", "ConfigMap", "ComponentStatus") else ""
            if base:
                plural = {"Endpoints": "endpoints", "ComponentStatus": "componentstatuses"}.get(kind, kind.lower() + "s")
                ns = f"/namespaces/{namespace}" if namespace else ""
                m["selfLink"] = f"{base}{ns}/{plural}/{name}"
        return m

    # -- Node --
    def node(self, n: Node) -> dict:
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/hostname": n.name,
        }
        if self.v >= (1, 14):
            labels["kubernetes.io/arch"] = "amd64"
            labels["kubernetes.io/os"] = "linux"
        if n.role:
            labels[f"node-role.kubernetes.io/{n.role}"] = ""
            if n.role == "control-plane" and self.v < (1, 24):
                labels["node-role.kubernetes.io/master"] = ""
            if n.role == "control-plane" and (1, 20) <= self.v < (1, 25):
                labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        labels.update(n.labels)
        ann = {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
        ann.update(n.annotations)
        spec = {}
        if n.pod_cidr:
            spec["podCIDR"] = n.pod_cidr
            if self.v >= (1, 16):
                spec["podCIDRs"] = [n.pod_cidr]
        if n.taints:
            spec["taints"] = n.taints
        hb = shift(self.at, seconds=-(int(sha(n.name)[:2], 16) % 50) - 5)
        conds = n.conditions if n.conditions is not None else self.node_conditions(n, hb)
        cap = n.capacity or {"cpu": "2", "ephemeral-storage": "41147472Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                             "memory": "3861300Ki", "pods": "110"}
        alloc = dict(cap)
        alloc["memory"] = str(int(cap["memory"].rstrip("Ki")) - 102400) + "Ki"
        alloc["ephemeral-storage"] = str(int(int(cap["ephemeral-storage"].rstrip("Ki")) * 1024 * 0.9))
        status = {
            "addresses": [{"address": n.ip, "type": "InternalIP"}] + n.extra_addresses + [{"address": n.name, "type": "Hostname"}],
            "allocatable": alloc,
            "capacity": cap,
            "conditions": conds,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": uid(self.c.name, "boot", n.name),
                "containerRuntimeVersion": n.runtime,
                "kernelVersion": n.kernel,
                "kubeProxyVersion": n.kubelet_version,
                "kubeletVersion": n.kubelet_version,
                "machineID": sha("machine", self.c.name, n.name)[:32],
                "operatingSystem": "linux",
                "osImage": n.os_image,
                "systemUUID": uid(self.c.name, "sys", n.name).upper(),
            },
        }
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": self.meta("Node", n.name, None, n.created, labels, ann),
                "spec": spec, "status": status}

    def node_conditions(self, n: Node, hb: str) -> list:
        since = n.ready_since or n.created
        out = []
        if n.network_unavailable:
            reason, msg, t = n.network_unavailable
            out.append({"lastHeartbeatTime": t, "lastTransitionTime": t, "message": msg, "reason": reason,
                        "status": "False", "type": "NetworkUnavailable"})
        rows = []
        if self.v < (1, 12):
            rows.append(("OutOfDisk", "False", "KubeletHasSufficientDisk", "kubelet has sufficient disk space available", since))
        rows.append(("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", since))
        if n.disk_pressure_since:
            rows.append(("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure", n.disk_pressure_since))
        else:
            rows.append(("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", since))
        rows.append(("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", since))
        rows.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status", since))
        for (typ, status, reason, msg, t) in rows:
            if n.kubelet_stopped:
                out.append({"lastHeartbeatTime": n.kubelet_stopped,
                            "lastTransitionTime": shift(n.kubelet_stopped, seconds=41),
                            "message": "Kubelet stopped posting node status.", "reason": "NodeStatusUnknown",
                            "status": "Unknown", "type": typ})
                continue
            out.append({"lastHeartbeatTime": hb, "lastTransitionTime": t, "message": msg, "reason": reason,
                        "status": status, "type": typ})
        return out

    # -- Pod --
    def container_id(self, p: Pod, c: Container, n: int) -> str:
        rt = self.runtime_of(p)
        return f"{rt}://{sha(self.c.name, p.namespace, p.name, c.name, str(n))}"

    def runtime_of(self, p: Pod) -> str:
        n = next((n for n in self.c.nodes if n.name == p.node), None)
        return (n.runtime.split(":")[0] if n else "docker")

    def image_id(self, image: str, rt: str) -> str:
        digest = f"sha256:{sha('image', image)}"
        repo = image.rsplit(":", 1)[0]
        if rt == "docker":
            return f"docker-pullable://{repo}@{digest}"
        return f"{repo}@{digest}"

    def pod(self, p: Pod) -> dict:
        ip = self.c.pod_ip(p)
        created = p.created or self.at
        started = p.started or created
        ann = dict(p.annotations)
        owner = None
        if p.static:
            h = sha("cfg", p.name)[:32]
            ann.update({"kubernetes.io/config.hash": h, "kubernetes.io/config.mirror": h,
                        "kubernetes.io/config.seen": started.replace("Z", ".512388961Z"),
                        "kubernetes.io/config.source": "file"})
            if self.v >= (1, 18):
                owner = ("Node", p.node, "v1")
        elif p.owner:
            kind = p.owner[0]
            owner = (kind, p.owner[1], p.owner[2] if len(p.owner) > 2 else ("apps/v1" if kind in ("DaemonSet", "ReplicaSet", "StatefulSet") else "v1"))
        generate = None
        if p.owner and p.owner[0] in ("DaemonSet", "ReplicaSet"):
            generate = p.name.rsplit("-", 1)[0] + "-"
        meta = self.meta("Pod", p.name, p.namespace, created, p.labels, ann, None, generate)
        if owner:
            meta["ownerReferences"] = [{
                "apiVersion": owner[2], "controller": True, "kind": owner[0], "name": owner[1],
                "uid": uid(self.c.name, owner[0], "" if owner[0] == "Node" else p.namespace, owner[1]),
            }]
            if owner[0] != "Node":
                meta["ownerReferences"][0]["blockOwnerDeletion"] = True
        containers = []
        for c in p.containers:
            cs = {"image": c.image, "imagePullPolicy": "IfNotPresent", "name": c.name,
                  "resources": {}, "terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File"}
            if c.command:
                cs["command"] = c.command
            if c.args:
                cs["args"] = c.args
            if c.ports:
                cs["ports"] = [dict({"containerPort": num, "protocol": proto}, **({"name": name} if name else {}))
                               for (name, num, proto) in c.ports]
            if not p.static and not p.host_network:
                cs["volumeMounts"] = [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                       "name": self.token_volume(p), "readOnly": True}]
            containers.append(cs)
        spec = {
            "containers": containers,
            "dnsPolicy": p.dns_policy,
            "nodeName": p.node,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        }
        if p.node is None:
            del spec["nodeName"]
        if self.v >= (1, 13):
            spec["enableServiceLinks"] = True
        if p.host_network:
            spec["hostNetwork"] = True
        if p.priority_class:
            spec["priorityClassName"] = p.priority_class
            spec["priority"] = 2000001000 if p.priority_class == "system-node-critical" else 2000000000
            if self.v >= (1, 19):
                spec["preemptionPolicy"] = "PreemptLowerPriority"
        elif self.v >= (1, 11):
            spec["priority"] = 0
        if p.node_selector:
            spec["nodeSelector"] = p.node_selector
        if not p.static:
            spec["serviceAccount"] = p.service_account
            spec["serviceAccountName"] = p.service_account
            spec["volumes"] = [self.token_volume_spec(p)]
        spec["tolerations"] = p.tolerations if p.tolerations is not None else self.default_tolerations(p)
        status = self.pod_status(p, ip, started)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}

    def token_volume(self, p: Pod) -> str:
        if self.v >= (1, 21):
            return "kube-api-access-" + suffix("token", p.namespace, p.name)
        return f"{p.service_account}-token-" + suffix("token", p.namespace, p.service_account)

    def token_volume_spec(self, p: Pod) -> dict:
        name = self.token_volume(p)
        if self.v >= (1, 21):
            return {"name": name, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
            ]}}
        return {"name": name, "secret": {"defaultMode": 420, "secretName": name}}

    def default_tolerations(self, p: Pod) -> list:
        if p.owner and p.owner[0] == "DaemonSet":
            t = [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists"},
                 {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists"},
                 {"effect": "NoSchedule", "key": "node.kubernetes.io/disk-pressure", "operator": "Exists"},
                 {"effect": "NoSchedule", "key": "node.kubernetes.io/memory-pressure", "operator": "Exists"}]
            if self.v >= (1, 17):
                t.append({"effect": "NoSchedule", "key": "node.kubernetes.io/pid-pressure", "operator": "Exists"})
                t.append({"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable", "operator": "Exists"})
            if p.host_network:
                t.append({"effect": "NoSchedule", "key": "node.kubernetes.io/network-unavailable", "operator": "Exists"})
            return [{"operator": "Exists"}] + t if p.labels.get("k8s-app") in ("calico-node", "kube-proxy", "flannel") or p.labels.get("app") == "flannel" else t
        if p.static:
            return [{"effect": "NoExecute", "operator": "Exists"}]
        return [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]

    def pod_status(self, p: Pod, ip: str | None, started: str) -> dict:
        rt = self.runtime_of(p)
        host_ip = None
        n = next((n for n in self.c.nodes if n.name == p.node), None)
        if n:
            host_ip = n.ip
        if p.phase == "Failed" and p.reason == "Evicted":
            st = {"message": p.message, "phase": "Failed", "reason": "Evicted", "startTime": started}
            if host_ip:
                st["hostIP"] = host_ip
            st["qosClass"] = p.qos
            return st
        if p.phase == "Pending":
            st = {"conditions": [
                {"lastProbeTime": None, "lastTransitionTime": started, "status": "True", "type": "Initialized"},
                {"lastProbeTime": None, "lastTransitionTime": started, "message": f"containers with unready status: [{' '.join(c.name for c in p.containers)}]",
                 "reason": "ContainersNotReady", "status": "False", "type": "Ready"},
                {"lastProbeTime": None, "lastTransitionTime": started, "message": f"containers with unready status: [{' '.join(c.name for c in p.containers)}]",
                 "reason": "ContainersNotReady", "status": "False", "type": "ContainersReady"},
                {"lastProbeTime": None, "lastTransitionTime": started, "status": "True", "type": "PodScheduled"}],
                "containerStatuses": [{"image": c.image, "imageID": "", "lastState": {}, "name": c.name, "ready": False,
                                       "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
                                      for c in p.containers],
                "hostIP": host_ip, "phase": "Pending", "qosClass": p.qos, "startTime": started}
            if self.v >= (1, 20):
                for cs in st["containerStatuses"]:
                    cs["started"] = False
            return st
        ready = self.c.pod_ready(p)
        ready_t = p.ready_since or started
        unready = [c.name for c in p.containers if c.state != "running"]
        cond_ready = {"lastProbeTime": None, "lastTransitionTime": ready_t, "status": "True" if ready else "False", "type": "Ready"}
        cond_cr = {"lastProbeTime": None, "lastTransitionTime": ready_t, "status": "True" if ready else "False", "type": "ContainersReady"}
        if not ready:
            if unready:
                for cnd in (cond_ready, cond_cr):
                    cnd["message"] = f"containers with unready status: [{' '.join(unready)}]"
                    cnd["reason"] = "ContainersNotReady"
            if not unready:
                # only the node controller marked it: containers report ready
                cond_cr["status"] = "True"
                cond_cr["lastTransitionTime"] = started
        conds = [{"lastProbeTime": None, "lastTransitionTime": started, "status": "True", "type": "Initialized"}, cond_ready]
        if self.v >= (1, 12):
            conds.append(cond_cr)
        conds.append({"lastProbeTime": None, "lastTransitionTime": p.created or started, "status": "True", "type": "PodScheduled"})
        statuses = [self.container_status(p, c, rt, started) for c in p.containers]
        st = {"conditions": conds, "containerStatuses": statuses, "phase": p.phase, "qosClass": p.qos, "startTime": started}
        if host_ip:
            st["hostIP"] = host_ip
            if self.v >= (1, 28):
                st["hostIPs"] = [{"ip": host_ip}]
        if ip:
            st["podIP"] = ip
            if self.v >= (1, 16):
                st["podIPs"] = [{"ip": ip}]
        return st

    def container_status(self, p: Pod, c: Container, rt: str, started: str) -> dict:
        cs = {"containerID": self.container_id(p, c, c.restarts), "image": c.image, "imageID": self.image_id(c.image, rt),
              "name": c.name, "restartCount": c.restarts}
        last = {}
        if c.restarts and c.last_reason:
            last = {"terminated": {"containerID": self.container_id(p, c, c.restarts - 1), "exitCode": c.last_exit,
                                   "finishedAt": c.last_finished or started, "reason": c.last_reason,
                                   "startedAt": c.last_started or started}}
        cs["lastState"] = last
        if c.state in ("running", "notready"):
            cs["ready"] = c.state == "running"
            cs["state"] = {"running": {"startedAt": c.started or started}}
            if self.v >= (1, 16):
                cs["started"] = True
        elif c.state == "crashloop":
            cs["ready"] = False
            cs["state"] = {"waiting": {"message": c.waiting_message or f"back-off 5m0s restarting failed container={c.name} pod={p.name}_{p.namespace}({uid(self.c.name, 'Pod', p.namespace, p.name)})",
                                       "reason": "CrashLoopBackOff"}}
            if self.v >= (1, 16):
                cs["started"] = False
        elif c.state == "terminated":
            cs["ready"] = False
            cs["state"] = {"terminated": {"containerID": cs["containerID"], "exitCode": c.term_exit,
                                          "finishedAt": c.last_finished or started, "reason": c.term_reason,
                                          "startedAt": c.last_started or started}}
            if self.v >= (1, 16):
                cs["started"] = False
        else:  # waiting
            cs["ready"] = False
            w = {"reason": c.waiting_reason}
            if c.waiting_message:
                w["message"] = c.waiting_message
            cs["state"] = {"waiting": w}
        return cs

    # -- Service, Endpoints, EndpointSlice --
    def service(self, s: Service) -> dict:
        ports = []
        for pt in s.ports:
            d = {"port": pt.port, "protocol": pt.protocol,
                 "targetPort": pt.target if pt.target is not None else pt.port}
            if pt.name:
                d["name"] = pt.name
            if pt.node_port:
                d["nodePort"] = pt.node_port
            ports.append(d)
        spec = {"clusterIP": s.cluster_ip, "ports": ports, "sessionAffinity": "None", "type": s.type}
        if s.selector:
            spec["selector"] = s.selector
        if self.v >= (1, 20):
            spec["clusterIPs"] = [s.cluster_ip]
            spec["ipFamilies"] = ["IPv4"]
            spec["ipFamilyPolicy"] = "SingleStack"
        if self.v >= (1, 22):
            spec["internalTrafficPolicy"] = "Cluster"
        if s.type == "NodePort":
            spec["externalTrafficPolicy"] = "Cluster"
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": self.meta("Service", s.name, s.namespace, s.created, s.labels, s.annotations),
                "spec": spec, "status": {"loadBalancer": {}}}

    def target_ref(self, p: Pod) -> dict:
        return {"kind": "Pod", "name": p.name, "namespace": p.namespace, "resourceVersion": "",
                "uid": uid(self.c.name, "Pod", p.namespace, p.name)} if self.v < (1, 21) else \
            {"kind": "Pod", "name": p.name, "namespace": p.namespace, "uid": uid(self.c.name, "Pod", p.namespace, p.name)}

    def endpoints(self, s: Service) -> dict:
        ready, not_ready, ports = self.c.endpoints(s)
        subset = {}

        def addr(ip, p):
            a = {"ip": ip}
            if p is not None:
                a["nodeName"] = p.node
                a["targetRef"] = self.target_ref(p)
            return a
        if ready:
            subset["addresses"] = [addr(ip, p) for ip, p in sorted(ready, key=lambda x: ipaddress.ip_address(x[0]))]
        if not_ready:
            subset["notReadyAddresses"] = [addr(ip, p) for ip, p in sorted(not_ready, key=lambda x: ipaddress.ip_address(x[0]))]
        if subset:
            subset["ports"] = [dict({"port": port, "protocol": proto}, **({"name": name} if name else {})) for (name, port, proto) in ports]
        labels = dict(s.labels)
        if self.v >= (1, 21) and s.selector is None and s.name == "kubernetes":
            labels["endpointslice.kubernetes.io/skip-mirror"] = "true"
        out = {"apiVersion": "v1", "kind": "Endpoints",
               "metadata": self.meta("Endpoints", s.name, s.namespace, s.created, labels)}
        out["subsets"] = [subset] if subset else []
        if not subset and self.v < (1, 19):
            del out["subsets"]
        return out

    def endpoint_slice(self, s: Service) -> dict:
        ready, not_ready, ports = self.c.endpoints(s)
        eps = []
        for ok, items in ((True, ready), (False, not_ready)):
            for ip, p in items:
                e = {"addresses": [ip], "conditions": {"ready": ok}}
                if self.v >= (1, 22):
                    e["conditions"]["serving"] = ok
                    e["conditions"]["terminating"] = False
                if p is not None:
                    e["nodeName"] = p.node
                    e["targetRef"] = {"kind": "Pod", "name": p.name, "namespace": p.namespace,
                                      "uid": uid(self.c.name, "Pod", p.namespace, p.name)}
                eps.append(e)
        eps.sort(key=lambda e: ipaddress.ip_address(e["addresses"][0]))
        if s.selector is None:
            name = s.name
            labels = {"kubernetes.io/service-name": s.name}
            owner = None
        else:
            name = f"{s.name}-{suffix('slice', s.namespace, s.name)}"
            labels = dict(s.labels)
            labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io"
            labels["kubernetes.io/service-name"] = s.name
            owner = ("Service", s.name, "v1")
        m = self.meta("EndpointSlice", name, s.namespace, s.created, labels, None, owner,
                      f"{s.name}-" if s.selector is not None else None)
        m["generation"] = 1
        out = {"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1", "endpoints": eps or None,
               "kind": "EndpointSlice", "metadata": m,
               "ports": [dict({"port": port, "protocol": proto}, **({"name": name} if name else {})) for (name, port, proto) in ports] or None}
        if out["endpoints"] is None:
            del out["endpoints"]
        if out["ports"] is None:
            out["ports"] = []
        return out

    def component_status(self, name: str, healthy: bool, message: str) -> dict:
        cond = {"message": message, "status": "True" if healthy else "False", "type": "Healthy"}
        m = {"creationTimestamp": None, "name": name}
        if self.v < (1, 20):
            m["selfLink"] = f"/api/v1/componentstatuses/{name}"
        return {"apiVersion": "v1", "conditions": [cond], "kind": "ComponentStatus", "metadata": m}

    def configmap(self, namespace: str, name: str, data: dict, labels=None, created="") -> dict:
        return {"apiVersion": "v1", "data": data, "kind": "ConfigMap",
                "metadata": self.meta("ConfigMap", name, namespace, created, labels)}


def as_list(items: list) -> dict:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def dump(obj) -> str:
    return json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------- dataplane renders --
def ipvs_ln(entries: list) -> str:
    """entries: (proto, 'vip:port', ['rip:port', ...]) -> `ipvsadm -Ln` output (sorted as ipvsadm does)."""
    def key(ap: str):
        a, p = ap.rsplit(":", 1)
        return (int(ipaddress.ip_address(a)), int(p))
    protos = {"TCP": 6, "UDP": 17, "SCTP": 132}
    out = ["IP Virtual Server version 1.2.1 (size=4096)",
           "Prot LocalAddress:Port Scheduler Flags",
           "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
    for proto, vip, rss in sorted(entries, key=lambda e: (protos[e[0]], key(e[1]))):
        out.append(f"{proto}  {vip} rr")
        for rs in sorted(rss, key=key):
            out.append(f"  -> {rs:<28} {'Masq':<7} {1:<6d} {0:<10d} {0:<10d}")
    return "\n".join(out) + "\n"


def ipvs_table(c: Cluster, h: Host) -> str:
    entries = []
    for s in c.services:
        if not s.cluster_ip or s.cluster_ip == "None":
            continue
        ready, _nr, _ports = c.endpoints(s)
        ips = h.ipvs_stale.get((s.namespace, s.name))
        for pt in s.ports:
            if ips is not None:
                rss = [f"{ip}:{tp}" for ip, tp in ips]
            else:
                rss = [f"{ip}:{c.target_port(s, pt, p)}" for ip, p in ready]
            entries.append((pt.protocol, f"{s.cluster_ip}:{pt.port}", rss))
            if pt.node_port:
                for a in h.ipvs_local:
                    entries.append((pt.protocol, f"{a}:{pt.node_port}", rss))
    return ipvs_ln(entries)


def svc_port_name(s: Service, pt: Port) -> str:
    return f"{s.namespace}/{s.name}" + (f":{pt.name}" if pt.name else "")


def kube_proxy_iptables(c: Cluster, flavor: str, cluster_cidr: str) -> dict:
    """kube-proxy iptables-mode rules as (table -> (chains, rules)), from the Services and their
    ready endpoints. flavor: 'legacy' (v1.11 - v1.21 layout) or 'modern' (v1.26+: KUBE-EXT chains)."""
    nat_chains, filt_chains = [], []
    svc_rules, np_rules, reject, chain_rules = [], [], [], []
    svcs = sorted([s for s in c.services if s.cluster_ip and s.cluster_ip != "None"], key=lambda s: (s.namespace, s.name))
    for s in svcs:
        ready, _nr, _ports = c.endpoints(s)
        for pt in s.ports:
            spn = svc_port_name(s, pt)
            proto = pt.protocol.lower()
            if not ready:
                reject.append(f'-A KUBE-SERVICES -d {s.cluster_ip}/32 -p {proto} -m comment --comment "{spn} has no endpoints" -m {proto} --dport {pt.port} -j REJECT --reject-with icmp-port-unreachable')
                if pt.node_port:
                    reject.append(f'-A KUBE-EXTERNAL-SERVICES -p {proto} -m comment --comment "{spn} has no endpoints" -m addrtype --dst-type LOCAL -m {proto} --dport {pt.node_port} -j REJECT --reject-with icmp-port-unreachable')
                continue
            svc = "KUBE-SVC-" + kp_hash(spn + proto)
            ext = "KUBE-EXT-" + kp_hash(spn + proto)
            nat_chains.append(svc)
            seps = []
            for ip, p in sorted(ready, key=lambda x: ipaddress.ip_address(x[0])):
                tp = c.target_port(s, pt, p)
                ep = f"{ip}:{tp}"
                seps.append(("KUBE-SEP-" + kp_hash(spn + proto + ep), ip, ep))
            if flavor == "legacy":
                if cluster_cidr:
                    svc_rules.append(f'-A KUBE-SERVICES ! -s {cluster_cidr} -d {s.cluster_ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" -m {proto} --dport {pt.port} -j KUBE-MARK-MASQ')
                svc_rules.append(f'-A KUBE-SERVICES -d {s.cluster_ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" -m {proto} --dport {pt.port} -j {svc}')
                if pt.node_port:
                    np_rules.append(f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{spn}" -m {proto} --dport {pt.node_port} -j KUBE-MARK-MASQ')
                    np_rules.append(f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{spn}" -m {proto} --dport {pt.node_port} -j {svc}')
                n = len(seps)
                for i, (sep, ip, ep) in enumerate(seps):
                    left = n - i
                    prob = "" if left == 1 else f" -m statistic --mode random --probability {1 / left:.11f}"
                    chain_rules.append((svc, f'-A {svc} -m comment --comment "{spn}"{prob} -j {sep}'))
                    chain_rules.append((sep, f'-A {sep} -s {ip}/32 -m comment --comment "{spn}" -j KUBE-MARK-MASQ'))
                    chain_rules.append((sep, f'-A {sep} -p {proto} -m comment --comment "{spn}" -m {proto} -j DNAT --to-destination {ep}'))
            else:
                svc_rules.append(f'-A KUBE-SERVICES -d {s.cluster_ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" -m {proto} --dport {pt.port} -j {svc}')
                if cluster_cidr:
                    chain_rules.append((svc, f'-A {svc} ! -s {cluster_cidr} -d {s.cluster_ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" -m {proto} --dport {pt.port} -j KUBE-MARK-MASQ'))
                if pt.node_port:
                    nat_chains.append(ext)
                    np_rules.append(f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{spn}" -m {proto} --dport {pt.node_port} -j {ext}')
                    chain_rules.append((ext, f'-A {ext} -m comment --comment "masquerade traffic for {spn} external destinations" -j KUBE-MARK-MASQ'))
                    chain_rules.append((ext, f'-A {ext} -j {svc}'))
                n = len(seps)
                for i, (sep, ip, ep) in enumerate(seps):
                    left = n - i
                    prob = "" if left == 1 else f" -m statistic --mode random --probability {1 / left:.11f}"
                    chain_rules.append((svc, f'-A {svc} -m comment --comment "{spn} -> {ep}"{prob} -j {sep}'))
                    chain_rules.append((sep, f'-A {sep} -s {ip}/32 -m comment --comment "{spn}" -j KUBE-MARK-MASQ'))
                    chain_rules.append((sep, f'-A {sep} -p {proto} -m comment --comment "{spn}" -m {proto} -j DNAT --to-destination {ep}'))
            nat_chains.extend(sep for sep, _, _ in seps)
    if flavor == "legacy":
        nat_chains += ["KUBE-MARK-DROP", "KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"]
        base = ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
                '-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000',
                '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE']
        filt_chains += ["KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES"]
        fbase = ['-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
                 '-A INPUT -j KUBE-FIREWALL',
                 '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
                 '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A OUTPUT -j KUBE-FIREWALL',
                 '-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP',
                 '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
                 '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT']
        if cluster_cidr:
            fbase += [f'-A KUBE-FORWARD -s {cluster_cidr} -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
                      f'-A KUBE-FORWARD -d {cluster_cidr} -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']
    else:
        nat_chains += ["KUBE-KUBELET-CANARY", "KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-PROXY-CANARY", "KUBE-SERVICES"]
        base = ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
                '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
                '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
                '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully']
        filt_chains += ["KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-KUBELET-CANARY", "KUBE-NODEPORTS",
                        "KUBE-PROXY-CANARY", "KUBE-PROXY-FIREWALL", "KUBE-SERVICES"]
        fbase = ['-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
                 '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
                 '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
                 '-A INPUT -j KUBE-FIREWALL',
                 '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
                 '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
                 '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
                 '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
                 '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A OUTPUT -j KUBE-FIREWALL',
                 '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
                 '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
                 '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
                 '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']
    tail = ['-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS']
    # iptables-save prints chains in its own order; only the order within a chain matters here
    nat_rules = base + np_rules + [r for _, r in chain_rules] + svc_rules + tail
    filt_rules = fbase + reject
    return {"nat": (sorted(set(nat_chains)), nat_rules), "filter": (sorted(set(filt_chains)), filt_rules)}


def restore_text(tables: dict) -> str:
    """{table: ({builtin: policy}, [chains], [rules])} -> iptables-restore input."""
    order = ["raw", "mangle", "filter", "nat"]
    builtin = {"raw": ["PREROUTING", "OUTPUT"], "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
               "filter": ["INPUT", "FORWARD", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]}
    out = []
    for t in order:
        if t not in tables:
            continue
        policies, chains, rules = tables[t]
        out.append(f"*{t}")
        for b in builtin[t]:
            out.append(f":{b} {policies.get(b, 'ACCEPT')} [0:0]")
        for ch in sorted(set(chains)):
            out.append(f":{ch} - [0:0]")
        # agents share some chains (the kubelet's and kube-proxy's KUBE-MARK-*): one copy of a rule
        out.extend(dict.fromkeys(rules))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


class Tables:
    """Accumulates iptables fragments from several agents on one host."""

    def __init__(self):
        self.t = {}

    def add(self, table: str, chains=(), rules=(), policies=None):
        pol, ch, ru = self.t.setdefault(table, ({}, [], []))
        pol.update(policies or {})
        ch.extend(chains)
        ru.extend(rules)
        return self

    def merge(self, frag: dict):
        for table, (chains, rules) in frag.items():
            self.add(table, chains, rules)
        return self

    def text(self) -> str:
        return restore_text(self.t)


# ------------------------------------------------------------ host files --
def kubelet_config(version: tuple, resolv: str, cluster_dns: str, cgroup: str = "systemd", static: bool = True) -> str:
    lines = ["apiVersion: kubelet.config.k8s.io/v1beta1",
             "authentication:", "  anonymous:", "    enabled: false", "  webhook:", "    cacheTTL: 0s", "    enabled: true",
             "  x509:", "    clientCAFile: /etc/kubernetes/pki/ca.crt",
             "authorization:", "  mode: Webhook", "  webhook:", "    cacheAuthorizedTTL: 0s", "    cacheUnauthorizedTTL: 0s"]
    if version >= (1, 21) or cgroup == "systemd" and version >= (1, 19):
        lines.append(f"cgroupDriver: {cgroup}")
    lines += ["clusterDNS:", f"- {cluster_dns}", "clusterDomain: cluster.local"]
    if version >= (1, 27):
        lines.append('containerRuntimeEndpoint: ""')
    lines += ["cpuManagerReconcilePeriod: 0s", "evictionPressureTransitionPeriod: 0s", "fileCheckFrequency: 0s",
              "healthzBindAddress: 127.0.0.1", "healthzPort: 10248", "httpCheckFrequency: 0s", "imageMinimumGCAge: 0s",
              "kind: KubeletConfiguration"]
    if version >= (1, 23):
        lines += ["logging:", "  flushFrequency: 0", "  options:", "    json:", '      infoBufferSize: "0"', "  verbosity: 0",
                  "memorySwap: {}"]
    lines += ["nodeStatusReportFrequency: 0s", "nodeStatusUpdateFrequency: 0s", f"resolvConf: {resolv}",
              "rotateCertificates: true", "runtimeRequestTimeout: 0s"]
    if version >= (1, 21):
        lines += ["shutdownGracePeriod: 0s", "shutdownGracePeriodCriticalPods: 0s"]
    if static:
        lines.append("staticPodPath: /etc/kubernetes/manifests")
    lines += ["streamingConnectionIdleTimeout: 0s", "syncFrequency: 0s", "volumeStatsAggPeriod: 0s"]
    return "\n".join(lines) + "\n"


def subnet_env(network: str, subnet_gw: str, mtu: int, ipmasq: bool = True) -> str:
    return f"FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={subnet_gw}\nFLANNEL_MTU={mtu}\nFLANNEL_IPMASQ={'true' if ipmasq else 'false'}\n"


COREFILE = """.:53 {{
    errors
    health{health}
    {ready}kubernetes cluster.local in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . {upstream}{fopts}
    cache 30
    loop
    reload
    loadbalance
}}
"""


def corefile(version: tuple, upstream: str = "/etc/resolv.conf") -> str:
    if version >= (1, 19):
        return COREFILE.format(health=" {\n       lameduck 5s\n    }", ready="ready\n    ", upstream=upstream,
                               fopts=" {\n       max_concurrent 1000\n    }")
    if version >= (1, 14):
        return COREFILE.format(health="", ready="ready\n    " if version >= (1, 16) else "", upstream=upstream, fopts="")
    return COREFILE.replace("forward", "proxy").format(health="", ready="", upstream=upstream, fopts="")


def kube_proxy_config(mode: str, cluster_cidr: str, server: str) -> dict:
    conf = f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: {cluster_cidr}
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
metricsBindAddress: ""
mode: "{mode}"
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
"""
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""
    return {"config.conf": conf, "kubeconfig.conf": kubeconfig}


def kubeadm_config(version: str, endpoint: str, pod_subnet: str | None, service_subnet: str, repo: str = "registry.k8s.io") -> dict:
    v = version_tuple(version)
    api = "kubeadm.k8s.io/v1beta3" if v >= (1, 22) else "kubeadm.k8s.io/v1beta2"
    cc = f"""apiServer:
  certSANs:
  - {endpoint.split(':')[0]}
  extraArgs:
    authorization-mode: Node,RBAC
  timeoutForControlPlane: 4m0s
apiVersion: {api}
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controlPlaneEndpoint: {endpoint}
controllerManager: {{}}
dns: {{}}
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: {repo}
kind: ClusterConfiguration
kubernetesVersion: v{version}
networking:
  dnsDomain: cluster.local
  podSubnet: {pod_subnet}
  serviceSubnet: {service_subnet}
scheduler: {{}}
"""
    if pod_subnet is None:  # `kubeadm init` without --pod-network-cidr
        cc = cc.replace("  podSubnet: None\n", "")
    if v < (1, 22):
        cc = cc.replace("dns: {}", "dns:\n  type: CoreDNS")
    data = {"ClusterConfiguration": cc}
    if v < (1, 22):
        data["ClusterStatus"] = f"""apiEndpoints:
  {{host}}:
    advertiseAddress: {endpoint.split(':')[0]}
    bindPort: 6443
apiVersion: {api}
kind: ClusterStatus
"""
    return data


RESOLVED_STUB = """# This file is managed by man:systemd-resolved(8). Do not edit.
#
# This is a dynamic resolv.conf file for connecting local clients to the
# internal DNS stub resolver of systemd-resolved. This file lists all
# configured search domains.
#
# Run "resolvectl status" to see details about the uplink DNS servers
# currently in use.
#
# Third party programs must not access this file directly, but only through the
# symlink at /etc/resolv.conf. To manage man:resolv.conf(5) in a different way,
# replace this symlink by a static file or a different symlink.
#
# See man:systemd-resolved.service(8) for details about the supported modes of
# operation for /etc/resolv.conf.

nameserver 127.0.0.53
options edns0 trust-ad
search {search}
"""

RESOLVED_UPSTREAM = """# This file is managed by man:systemd-resolved(8). Do not edit.
#
# This is a dynamic resolv.conf file for connecting local clients directly to
# all known uplink DNS servers. This file lists all configured search domains.
#
# Third party programs must not access this file directly, but only through the
# symlink at /etc/resolv.conf. To manage man:resolv.conf(5) in a different way,
# replace this symlink by a static file or a different symlink.
#
# See man:systemd-resolved.service(8) for details about the supported modes of
# operation for /etc/resolv.conf.

nameserver {ns}
search {search}
"""


# ------------------------------------------------------------- rendering --
def write(path: str, text: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def shell_quote(s: str) -> str:
    return "'" + str(s).replace("'", "'\\''") + "'"


def render(c: Cluster, out: str, work: str):
    r = Renderer(c)
    write(os.path.join(out, "meta.json"), json.dumps(
        {"captured_at": c.captured_at, "cluster": c.name, "format": "netdoctor-capture/v1"}, indent=4, sort_keys=True) + "\n")
    cl = os.path.join(out, "cluster")
    write(os.path.join(cl, "nodes.json"), dump(as_list([r.node(n) for n in sorted(c.nodes, key=lambda n: n.name)])))
    write(os.path.join(cl, "pods.json"), dump(as_list([r.pod(p) for p in c.pods])))
    write(os.path.join(cl, "services.json"), dump(as_list([r.service(s) for s in c.services])))
    if c.v() >= (1, 21):
        write(os.path.join(cl, "endpointslices.json"), dump(as_list([r.endpoint_slice(s) for s in c.services if s.cluster_ip])))
    else:
        write(os.path.join(cl, "endpoints.json"), dump(as_list([r.endpoints(s) for s in c.services])))
    if c.configmaps:
        write(os.path.join(cl, "configmaps.json"), dump(as_list([r.configmap(*cm) for cm in c.configmaps])))
    if c.component_statuses is not None:
        write(os.path.join(cl, "componentstatuses.json"), dump(as_list([r.component_status(*x) for x in c.component_statuses])))
    if c.calico:
        write(os.path.join(cl, "calico.json"), dump(as_list([calico_object(r, o) for o in c.calico])))
    for f, body in c.extra_cluster_files.items():
        write(os.path.join(cl, f), body(r) if callable(body) else body)
    for f, body in c.extra_files.items():
        write(os.path.join(out, f), body)

    env = ["# generated by scripts/captures/render.py: host tables for the shell side"]
    keys = sorted({k for h in c.hosts.values() for k in h.attrs})
    env.append("declare -a HOSTS=(" + " ".join(sorted(c.hosts)) + ")")
    for k in keys:
        items = " ".join(f"[{h}]={shell_quote(c.hosts[h].attrs[k])}" for h in sorted(c.hosts) if k in c.hosts[h].attrs)
        env.append(f"declare -A H_{k}=({items})")
    write(os.path.join(work, "env.sh"), "\n".join(env) + "\n")

    pods = []
    for p in c.pods:
        if p.host_network or not p.ip or p.node not in c.hosts or p.phase not in ("Running",):
            continue
        pods.append(p)
    with open(os.path.join(work, "pods.tsv"), "w") as f:
        for p in pods:
            h = c.hosts[p.node]
            kind = h.attrs.get("PODNET", "bridge")
            if kind == "calico":
                ifname = cali_ifname(p.namespace, p.name)
                pmac = mac("pod", c.name, p.namespace, p.name)
                f.write(f"calico\t{p.node}\t{ifname}\t-\t{pmac}\t{p.ip}\t-\t-\t{h.attrs.get('PODMTU', '1440')}\t{p.namespace}/{p.name}\n")
            else:
                br = h.attrs.get("PODBR", "cni0")
                plen = h.attrs.get("PODPLEN", "24")
                gw = h.attrs["PODGW"]
                ipb = ipaddress.ip_address(p.ip).packed
                if br == "docker0":
                    ifname = "veth" + sha("veth", c.name, p.namespace, p.name)[:7]
                    pmac = "02:42:" + ":".join(f"{b:02x}" for b in ipb)
                else:
                    ifname = "veth" + sha("veth", c.name, p.namespace, p.name)[:8]
                    pmac = "0a:58:" + ":".join(f"{b:02x}" for b in ipb)
                hmac = mac("vethhost", c.name, p.namespace, p.name)
                f.write(f"bridge\t{p.node}\t{ifname}\t{hmac}\t{pmac}\t{p.ip}/{plen}\t{gw}\t{br}\t{h.attrs.get('PODMTU', '1450')}\t{p.namespace}/{p.name}\n")

    with open(os.path.join(work, "etcd.tsv"), "w") as f:
        for (key, value, ttl) in c.etcd:
            f.write(f"{key}\t{value}\t{ttl}\n")

    for name, h in sorted(c.hosts.items()):
        d = os.path.join(out, "nodes", name)
        os.makedirs(d, exist_ok=True)
        if h.resolv_conf is not None:
            write(os.path.join(d, "resolv.conf"), h.resolv_conf)
        if h.kubelet_resolv_conf is not None:
            write(os.path.join(d, "kubelet-resolv.conf"), h.kubelet_resolv_conf)
        if h.kubelet_config is not None:
            write(os.path.join(d, "kubelet-config.yaml"), h.kubelet_config)
        if h.kubelet_args is not None:
            write(os.path.join(d, "kubelet-args.txt"), h.kubelet_args)
        if h.subnet_env is not None:
            write(os.path.join(d, "subnet.env"), h.subnet_env)
        if h.ipvs == "auto":
            write(os.path.join(d, "ipvs.txt"), ipvs_table(c, h))
        elif h.ipvs == "empty":
            write(os.path.join(d, "ipvs.txt"), ipvs_ln([]))
        for f, body in h.extra_files.items():
            write(os.path.join(d, f), body)
        write(os.path.join(work, f"{name}.iptables"), h.iptables or "")
        write(os.path.join(work, f"{name}.ipset"), h.ipset or "")


def calico_object(r: Renderer, o: dict) -> dict:
    kind, name, spec = o["kind"], o["name"], o["spec"]
    created = o.get("created", r.at)
    m = r.meta(kind, name, None, created, o.get("labels"), o.get("annotations"))
    m["generation"] = 1
    if kind == "IPPool":
        m.setdefault("annotations", {})["projectcalico.org/metadata"] = json.dumps(
            {"uid": uid(r.c.name, "calico", name), "creationTimestamp": created}, separators=(",", ":"))
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": m, "spec": spec}


# ------------------------------------------------- other agents' iptables --
def flannel_iptables(network: str, subnet: str, style: str) -> dict:
    """flanneld's masquerade and forward rules: 'old' (v0.10-v0.14, straight into
    POSTROUTING/FORWARD) or 'new' (FLANNEL-POSTRTG / FLANNEL-FWD chains)."""
    if style == "old":
        return {"nat": ([], [f"-A POSTROUTING -s {network} -d {network} -j RETURN",
                             f"-A POSTROUTING -s {network} ! -d 224.0.0.0/4 -j MASQUERADE",
                             f"-A POSTROUTING ! -s {network} -d {subnet} -j RETURN",
                             f"-A POSTROUTING ! -s {network} -d {network} -j MASQUERADE"]),
                "filter": ([], [f"-A FORWARD -s {network} -j ACCEPT", f"-A FORWARD -d {network} -j ACCEPT"])}
    c = '-m comment --comment "flanneld masq"'
    f = '-m comment --comment "flanneld forward"'
    return {"nat": (["FLANNEL-POSTRTG"], [f"-A POSTROUTING {c} -j FLANNEL-POSTRTG",
                                          f"-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {c} -j RETURN",
                                          f"-A FLANNEL-POSTRTG -s {subnet} -d {network} {c} -j RETURN",
                                          f"-A FLANNEL-POSTRTG -s {network} -d {subnet} {c} -j RETURN",
                                          f"-A FLANNEL-POSTRTG ! -s {network} -d {subnet} {c} -j RETURN",
                                          f"-A FLANNEL-POSTRTG -s {network} ! -d 224.0.0.0/4 {c} -j MASQUERADE --random-fully",
                                          f"-A FLANNEL-POSTRTG ! -s {network} -d {network} {c} -j MASQUERADE --random-fully"]),
            "filter": (["FLANNEL-FWD"], [f"-A FORWARD {f} -j FLANNEL-FWD",
                                         f"-A FLANNEL-FWD -s {network} {f} -j ACCEPT",
                                         f"-A FLANNEL-FWD -d {network} {f} -j ACCEPT"])}


def docker_iptables(bridge: str = "docker0", subnet: str = "172.17.0.0/16", masq: bool = True) -> dict:
    """dockerd's chains for its bridge (docker 17.x-24.x)."""
    nat = ["-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
           "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
           f"-A DOCKER -i {bridge} -j RETURN"]
    if masq:
        nat.insert(2, f"-A POSTROUTING -s {subnet} ! -o {bridge} -j MASQUERADE")
    filt = ["-A FORWARD -j DOCKER-USER",
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
            f"-A FORWARD -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            f"-A FORWARD -o {bridge} -j DOCKER",
            f"-A FORWARD -i {bridge} ! -o {bridge} -j ACCEPT",
            f"-A FORWARD -i {bridge} -o {bridge} -j ACCEPT",
            f"-A DOCKER-ISOLATION-STAGE-1 -i {bridge} ! -o {bridge} -j DOCKER-ISOLATION-STAGE-2",
            "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
            f"-A DOCKER-ISOLATION-STAGE-2 -o {bridge} -j DROP",
            "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
            "-A DOCKER-USER -j RETURN"]
    return {"nat": (["DOCKER"], nat),
            "filter": (["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"], filt)}


def kubelet_iptables(version: tuple) -> dict:
    """The kubelet's own chains (KUBE-MARK-DROP / KUBE-FIREWALL before 1.24, canaries after)."""
    if version >= (1, 24):
        return {"mangle": (["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"], []),
                "filter": (["KUBE-FIREWALL", "KUBE-KUBELET-CANARY"], []),
                "nat": (["KUBE-KUBELET-CANARY"], [])}
    return {"nat": (["KUBE-MARK-DROP", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"],
                    ['-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
                     '-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000',
                     '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
                     '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE']),
            "filter": (["KUBE-FIREWALL"],
                       ['-A INPUT -j KUBE-FIREWALL', '-A OUTPUT -j KUBE-FIREWALL',
                        '-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP'])}


IPVS_SETS_OLD = [("KUBE-CLUSTER-IP", "hash:ip,port"), ("KUBE-EXTERNAL-IP", "hash:ip,port"), ("KUBE-LOAD-BALANCER", "hash:ip,port"),
                 ("KUBE-LOAD-BALANCER-FW", "hash:ip,port"), ("KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port"),
                 ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net"), ("KUBE-LOAD-BALANCER-SOURCE-IP", "hash:ip,port,ip"),
                 ("KUBE-LOOP-BACK", "hash:ip,port,ip"), ("KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port"),
                 ("KUBE-NODE-PORT-TCP", "bitmap:port"), ("KUBE-NODE-PORT-UDP", "bitmap:port")]


def kube_proxy_ipvs(c: Cluster, h: Host, cluster_cidr: str, version: tuple) -> tuple[dict, str]:
    """kube-proxy IPVS mode: (iptables fragment, `ipset restore` input) for one host, from the
    Services and the endpoints this host's kube-proxy last saw."""
    sets = list(IPVS_SETS_OLD)
    if version >= (1, 24):
        sets += [("KUBE-IPVS-IPS", "hash:ip"), ("KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port"),
                 ("KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port")]
    entries = {n: [] for n, _ in sets}
    for s in c.services:
        if not s.cluster_ip or s.cluster_ip == "None":
            continue
        ready, _nr, _p = c.endpoints(s)
        ips = h.ipvs_stale.get((s.namespace, s.name))
        for pt in s.ports:
            entries["KUBE-CLUSTER-IP"].append(f"{s.cluster_ip},{pt.protocol.lower()}:{pt.port}")
            if pt.node_port:
                entries[f"KUBE-NODE-PORT-{pt.protocol}"].append(str(pt.node_port))
            backends = ips if ips is not None else [(ip, c.target_port(s, pt, p)) for ip, p in ready]
            for ip, tp in backends:
                # hairpin: endpoints on this host
                if ip in h.attrs.get("LOCAL_PODS", "").split():
                    entries["KUBE-LOOP-BACK"].append(f"{ip},{pt.protocol.lower()}:{tp},{ip}")
    if version >= (1, 24):
        for a in sorted({s.cluster_ip for s in c.services if s.cluster_ip and s.cluster_ip != "None"}) + list(h.ipvs_local):
            entries["KUBE-IPVS-IPS"].append(a)
    lines = []
    for name, typ in sets:
        opts = " range 0-65535" if typ.startswith("bitmap") else " family inet hashsize 1024 maxelem 65536"
        lines.append(f"create {name} {typ}{opts}")
        for e in dict.fromkeys(entries[name]):
            lines.append(f"add {name} {e}")
    ipset = "\n".join(lines) + "\n"
    nat_c = ["KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ", "KUBE-NODE-PORT", "KUBE-POSTROUTING", "KUBE-SERVICES", "KUBE-FIREWALL"]
    masq_not = f"! -s {cluster_cidr} " if cluster_cidr else ""
    if version >= (1, 24):
        nat_r = ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                 '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
                 '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
                 '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
                 '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
                 '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
                 '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
                 '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
                 '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
                 f'-A KUBE-SERVICES {masq_not}-m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
                 '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
                 '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT']
        nat_c.remove("KUBE-FIREWALL")
        nat_c += ["KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"]
        filt_c = ["KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER", "KUBE-KUBELET-CANARY",
                  "KUBE-NODE-PORT", "KUBE-PROXY-CANARY", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL"]
        filt_r = ['-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
                  '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
                  '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
                  '-A INPUT -j KUBE-FIREWALL',
                  '-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
                  '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
                  '-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER',
                  '-A OUTPUT -j KUBE-FIREWALL',
                  '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
                  '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
                  '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
                  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN',
                  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN',
                  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN',
                  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN',
                  '-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN',
                  '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable',
                  '-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT',
                  '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP']
        return ({"mangle": (["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"], []),
                 "nat": (nat_c, nat_r), "filter": (filt_c, filt_r)}, ipset)
    # kube-proxy 1.11 - 1.19
    nat_c.remove("KUBE-FIREWALL")
    nat_c += ["KUBE-MARK-DROP"]
    nat_r = ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
             '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
             '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
             '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
             '-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000',
             '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
             '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
             '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark 0x4000/0x4000 -j MASQUERADE',
             '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
             f'-A KUBE-SERVICES {masq_not}-m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
             '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
             '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT']
    filt_c = ["KUBE-FIREWALL", "KUBE-FORWARD"]
    filt_r = ['-A INPUT -j KUBE-FIREWALL',
              '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
              '-A OUTPUT -j KUBE-FIREWALL',
              '-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP',
              '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT']
    if cluster_cidr:
        filt_r += [f'-A KUBE-FORWARD -s {cluster_cidr} -m comment --comment "kubernetes forwarding conntrack pod source rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
                   f'-A KUBE-FORWARD -d {cluster_cidr} -m comment --comment "kubernetes forwarding conntrack pod destination rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']
    return {"nat": (nat_c, nat_r), "filter": (filt_c, filt_r)}, ipset


def calico_iptables(pods_ifaces: list, ipip: bool, felix31: bool = False) -> dict:
    """Felix's top-level chains (a representative subset: dispatch to per-workload
    chains, IPIP accept from Calico hosts, NAT outgoing). felix31: Calico <= 3.1 also
    accepts workload traffic outright at the end of cali-FORWARD."""
    def cid(*parts):  # Felix's rule hash comment, 16 url-safe base64 chars
        return base64.urlsafe_b64encode(hashlib.sha224("/".join(parts).encode()).digest()).decode()[:16]
    com = lambda *p: f'-m comment --comment "cali:{cid(*p)}"'
    filt_c = ["cali-FORWARD", "cali-INPUT", "cali-OUTPUT", "cali-from-hep-forward", "cali-from-host-endpoint",
              "cali-from-wl-dispatch", "cali-to-hep-forward", "cali-to-host-endpoint", "cali-to-wl-dispatch", "cali-wl-to-host"]
    filt_r = [f"-A INPUT {com('INPUT')} -j cali-INPUT",
              f"-A FORWARD {com('FORWARD')} -j cali-FORWARD",
              f'-A FORWARD {com("FORWARD", "accept")} -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
              f"-A OUTPUT {com('OUTPUT')} -j cali-OUTPUT",
              f"-A cali-FORWARD {com('fwd', 'clear')} -j MARK --set-xmark 0x0/0xe0000",
              f"-A cali-FORWARD {com('fwd', 'hep')} -m mark --mark 0x0/0x10000 -j cali-from-hep-forward",
              f"-A cali-FORWARD -i cali+ {com('fwd', 'from-wl')} -j cali-from-wl-dispatch",
              f"-A cali-FORWARD -o cali+ {com('fwd', 'to-wl')} -j cali-to-wl-dispatch",
              f"-A cali-FORWARD {com('fwd', 'to-hep')} -j cali-to-hep-forward",
              *([f"-A cali-FORWARD -i cali+ {com('fwd', 'acc-in')} -j ACCEPT",
                 f"-A cali-FORWARD -o cali+ {com('fwd', 'acc-out')} -j ACCEPT"] if felix31 else []),
              f"-A cali-INPUT -i cali+ {com('in', 'wl')} -g cali-wl-to-host",
              f"-A cali-INPUT {com('in', 'accept')} -m mark --mark 0x10000/0x10000 -j ACCEPT",
              f"-A cali-INPUT {com('in', 'clear')} -j MARK --set-xmark 0x0/0xf0000",
              f"-A cali-INPUT {com('in', 'hep')} -j cali-from-host-endpoint",
              f'-A cali-INPUT {com("in", "hep-accept")} -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
              f"-A cali-OUTPUT {com('out', 'accept')} -m mark --mark 0x10000/0x10000 -j ACCEPT",
              f"-A cali-OUTPUT -o cali+ {com('out', 'wl')} -j RETURN",
              f"-A cali-OUTPUT {com('out', 'clear')} -j MARK --set-xmark 0x0/0xf0000",
              f"-A cali-OUTPUT {com('out', 'hep')} -m conntrack ! --ctstate DNAT -j cali-to-host-endpoint",
              f'-A cali-OUTPUT {com("out", "hep-accept")} -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
              f'-A cali-wl-to-host {com("wl-host")} -j cali-from-wl-dispatch',
              f'-A cali-wl-to-host {com("wl-host", "ret")} -m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT']
    if ipip:
        filt_r.insert(9, f'-A cali-INPUT -p ipencap {com("in", "ipip")} -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT')
        filt_r.insert(10, f'-A cali-INPUT -p ipencap {com("in", "ipip-drop")} -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP')
    for ifname in sorted(pods_ifaces):
        fw, tw = f"cali-fw-{ifname}", f"cali-tw-{ifname}"
        filt_c += [fw, tw]
        filt_r += [f"-A cali-from-wl-dispatch -i {ifname} {com('fd', ifname)} -g {fw}",
                   f"-A cali-to-wl-dispatch -o {ifname} {com('td', ifname)} -g {tw}",
                   f"-A {fw} {com(fw, 'est')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                   f"-A {fw} {com(fw, 'inv')} -m conntrack --ctstate INVALID -j DROP",
                   f"-A {fw} {com(fw, 'clear')} -j MARK --set-xmark 0x0/0x10000",
                   f"-A {fw} {com(fw, 'prof')} -j cali-pro-kns.default",
                   f'-A {fw} {com(fw, "ret")} -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
                   f'-A {fw} {com(fw, "drop")} -m comment --comment "Drop if no profiles matched" -j DROP',
                   f"-A {tw} {com(tw, 'est')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                   f"-A {tw} {com(tw, 'inv')} -m conntrack --ctstate INVALID -j DROP",
                   f"-A {tw} {com(tw, 'clear')} -j MARK --set-xmark 0x0/0x10000",
                   f"-A {tw} {com(tw, 'prof')} -j cali-pri-kns.default",
                   f'-A {tw} {com(tw, "ret")} -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
                   f'-A {tw} {com(tw, "drop")} -m comment --comment "Drop if no profiles matched" -j DROP']
    filt_c += ["cali-pri-kns.default", "cali-pro-kns.default"]
    filt_r += [f"-A cali-pri-kns.default {com('pri')} -j MARK --set-xmark 0x10000/0x10000",
               f"-A cali-pri-kns.default {com('pri', 'ret')} -m mark --mark 0x10000/0x10000 -j RETURN",
               f"-A cali-pro-kns.default {com('pro')} -j MARK --set-xmark 0x10000/0x10000",
               f"-A cali-pro-kns.default {com('pro', 'ret')} -m mark --mark 0x10000/0x10000 -j RETURN"]
    if pods_ifaces:
        filt_r.insert(filt_r.index(next(r for r in filt_r if r.startswith("-A cali-from-wl-dispatch"))),
                      f'-A cali-from-wl-dispatch {com("fd", "drop")} -m comment --comment "Unknown interface" -j DROP')
        filt_r.append(f'-A cali-to-wl-dispatch {com("td", "drop")} -m comment --comment "Unknown interface" -j DROP')
    nat_c = ["cali-OUTPUT", "cali-POSTROUTING", "cali-PREROUTING", "cali-fip-dnat", "cali-fip-snat", "cali-nat-outgoing"]
    nat_r = [f"-A PREROUTING {com('nat', 'pre')} -j cali-PREROUTING",
             f"-A OUTPUT {com('nat', 'out')} -j cali-OUTPUT",
             f"-A POSTROUTING {com('nat', 'post')} -j cali-POSTROUTING",
             f"-A cali-OUTPUT {com('nat', 'out', 'fip')} -j cali-fip-dnat",
             f"-A cali-POSTROUTING {com('nat', 'post', 'fip')} -j cali-fip-snat",
             f"-A cali-POSTROUTING {com('nat', 'post', 'out')} -j cali-nat-outgoing",
             f"-A cali-PREROUTING {com('nat', 'pre', 'fip')} -j cali-fip-dnat",
             f"-A cali-nat-outgoing {com('nat', 'masq')} -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE"]
    if ipip:
        nat_r.insert(6, f"-A cali-POSTROUTING -o tunl0 {com('nat', 'tunl0')} -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE")
    mangle_c = ["cali-PREROUTING", "cali-from-host-endpoint"]
    mangle_r = [f"-A PREROUTING {com('mangle', 'pre')} -j cali-PREROUTING",
                f"-A cali-PREROUTING {com('mangle', 'est')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                f"-A cali-PREROUTING {com('mangle', 'accept')} -m mark --mark 0x10000/0x10000 -j ACCEPT",
                f"-A cali-PREROUTING {com('mangle', 'hep')} -j cali-from-host-endpoint",
                f'-A cali-PREROUTING {com("mangle", "hep-accept")} -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT']
    raw_c = ["cali-OUTPUT", "cali-PREROUTING", "cali-from-host-endpoint", "cali-to-host-endpoint"]
    raw_r = [f"-A PREROUTING {com('raw', 'pre')} -j cali-PREROUTING",
             f"-A OUTPUT {com('raw', 'out')} -j cali-OUTPUT",
             f"-A cali-OUTPUT {com('raw', 'out', 'clear')} -j MARK --set-xmark 0x0/0xf0000",
             f"-A cali-OUTPUT {com('raw', 'out', 'hep')} -j cali-to-host-endpoint",
             f"-A cali-OUTPUT {com('raw', 'out', 'accept')} -m mark --mark 0x10000/0x10000 -j ACCEPT",
             f"-A cali-PREROUTING {com('raw', 'pre', 'clear')} -j MARK --set-xmark 0x0/0xf0000",
             f"-A cali-PREROUTING -i cali+ {com('raw', 'pre', 'wl')} -j MARK --set-xmark 0x40000/0x40000",
             f"-A cali-PREROUTING {com('raw', 'pre', 'rpf')} -m mark --mark 0x40000/0x40000 -m rpfilter --invert -j DROP",
             f"-A cali-PREROUTING {com('raw', 'pre', 'hep')} -m mark --mark 0x0/0x40000 -j cali-from-host-endpoint",
             f"-A cali-PREROUTING {com('raw', 'pre', 'accept')} -m mark --mark 0x10000/0x10000 -j ACCEPT"]
    return {"raw": (raw_c, raw_r), "mangle": (mangle_c, mangle_r), "filter": (filt_c, filt_r), "nat": (nat_c, nat_r)}


def calico_ipsets(pools: list, hosts: list) -> str:
    lines = ["create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576",
             *[f"add cali40all-ipam-pools {p}" for p in pools],
             "create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576",
             *[f"add cali40masq-ipam-pools {p}" for p in pools],
             "create cali40all-hosts-net hash:net family inet hashsize 1024 maxelem 1048576",
             *[f"add cali40all-hosts-net {h}" for h in hosts]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------ standard workloads --
def static_pods(c: Cluster, node: str, version: str, repo: str, created: str, started: str, runtime_prefix: str = "") -> list:
    """kubeadm's mirror pods: etcd, kube-apiserver, kube-controller-manager, kube-scheduler."""
    v = version_tuple(version)
    etcd_v = {(1, 18): "3.4.3-0", (1, 21): "3.4.13-0", (1, 27): "3.5.7-0", (1, 28): "3.5.9-0"}.get(v, "3.4.3-0")
    out = []
    for comp, img, qos in (("etcd", f"{repo}/etcd:{etcd_v}", "Burstable"),
                           ("kube-apiserver", f"{repo}/kube-apiserver:v{version}", "Burstable"),
                           ("kube-controller-manager", f"{repo}/kube-controller-manager:v{version}", "Burstable"),
                           ("kube-scheduler", f"{repo}/kube-scheduler:v{version}", "Burstable")):
        out.append(Pod("kube-system", f"{comp}-{node}", node, host_network=True, static=True,
                       labels={"component": comp, "tier": "control-plane"}, created=created, started=started,
                       containers=[Container(comp, img, command=[comp])], priority_class="system-node-critical", qos=qos))
    return out


def daemon_pod(ds: str, namespace: str, node: str, image: str, labels: dict, created: str, started: str, version_hash: str,
               state: str = "running", restarts: int = 0, last_reason: str = "", last_exit: int = 0,
               last_started: str = "", last_finished: str = "", host_network: bool = True, ip: str | None = None,
               container: str | None = None, ready_since: str = "", service_account: str | None = None) -> Pod:
    lab = dict(labels)
    lab["controller-revision-hash"] = version_hash
    lab["pod-template-generation"] = "1"
    return Pod(namespace, f"{ds}-{suffix('ds', ds, node)}", node, ip, host_network=host_network, labels=lab,
               owner=("DaemonSet", ds), created=created, started=started, ready_since=ready_since,
               priority_class="system-node-critical", service_account=service_account or ds, qos="Burstable",
               containers=[Container(container or ds, image, state=state, restarts=restarts, last_reason=last_reason,
                                     last_exit=last_exit, last_started=last_started, last_finished=last_finished)])


def coredns_pods(rs_hash: str, placements: list, image: str, created: str, started: str, **kw) -> list:
    """placements: [(node, ip)]; extra keyword args go to the container (state, restarts, ...)."""
    out = []
    for node, ip in placements:
        out.append(Pod("kube-system", f"coredns-{rs_hash}-{suffix('coredns', rs_hash, node, ip)}", node, ip,
                       labels={"k8s-app": "kube-dns", "pod-template-hash": rs_hash}, owner=("ReplicaSet", f"coredns-{rs_hash}"),
                       created=created, started=started, dns_policy="Default", service_account="coredns",
                       priority_class="system-cluster-critical", qos="Burstable",
                       containers=[Container("coredns", image, [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")], **kw)]))
    return out


def kube_dns_service(ip: str, created: str) -> Service:
    return Service("kube-system", "kube-dns", ip, [Port(53, "UDP", "dns"), Port(53, "TCP", "dns-tcp"), Port(9153, "TCP", "metrics")],
                   {"k8s-app": "kube-dns"}, labels={"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
                   annotations={"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}, created=created)


def kubernetes_service(ip: str, apiservers: list, created: str) -> Service:
    return Service("default", "kubernetes", ip, [Port(443, name="https", target=6443)], None,
                   labels={"component": "apiserver", "provider": "kubernetes"}, created=created,
                   endpoints=apiservers, endpoint_ports=[("https", 6443, "TCP")])


def deployment_pods(namespace: str, deploy: str, rs_hash: str, placements: list, image: str, ports: list, labels: dict,
                    created: str, started: str, **kw) -> list:
    out = []
    for node, ip in placements:
        lab = dict(labels)
        lab["pod-template-hash"] = rs_hash
        out.append(Pod(namespace, f"{deploy}-{rs_hash}-{suffix('rs', deploy, node, ip)}", node, ip, labels=lab,
                       owner=("ReplicaSet", f"{deploy}-{rs_hash}"), created=created, started=started,
                       containers=[Container(deploy, image, ports, **kw)]))
    return out


def calico_pool(name: str, cidr: str, ipip: str, created: str, block: int = 26, vxlan: str = "Never") -> dict:
    return {"kind": "IPPool", "name": name, "created": created,
            "spec": {"blockSize": block, "cidr": cidr, "ipipMode": ipip, "natOutgoing": True, "nodeSelector": "all()", "vxlanMode": vxlan}}


def calico_block(node: str, cidr: str, created: str) -> dict:
    return {"kind": "BlockAffinity", "name": f"{node}-{cidr.replace('.', '-').replace('/', '-')}", "created": created,
            "spec": {"cidr": cidr, "deleted": "false", "node": node, "state": "confirmed"}}


# ------------------------------------------------------------------- yaml --
def to_yaml(obj, indent: int = 0) -> str:
    """What `kubectl get -o yaml` prints (go-yaml v2 layout: sorted keys, 2-space
    indent, lists at their parent's indent, `|` blocks for multi-line strings)."""
    return "".join(_yaml_lines(obj, indent))


def _yaml_scalar(v) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    special = s == "" or s.strip() != s or s[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in s or " #" in s or \
        s.lower() in ("true", "false", "yes", "no", "on", "off", "null", "~", "y", "n")
    try:
        float(s)
        special = True
    except ValueError:
        pass
    if s[:4].isdigit() and s[4:5] == "-":  # a YAML 1.1 timestamp
        special = True
    return json.dumps(s, ensure_ascii=False) if special else s


def _yaml_block(key_prefix: str, s: str, indent: int) -> list:
    chomp = "" if s.endswith("\n") else "-"
    body = s[:-1] if s.endswith("\n") else s
    pad = " " * (indent + 2)
    return [f"{key_prefix}|{chomp}\n"] + [(pad + line if line else "") + "\n" for line in body.split("\n")]


def _yaml_lines(obj, indent: int) -> list:
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k in sorted(obj):
            v = obj[k]
            key = f"{pad}{_yaml_scalar(k)}:"
            if isinstance(v, dict) and v:
                out.append(key + "\n")
                out += _yaml_lines(v, indent + 2)
            elif isinstance(v, dict):
                out.append(key + " {}\n")
            elif isinstance(v, list) and v:
                out.append(key + "\n")
                out += _yaml_lines(v, indent)
            elif isinstance(v, list):
                out.append(key + " []\n")
            elif isinstance(v, str) and "\n" in v:
                out += _yaml_block(key + " ", v, indent)
            else:
                out.append(f"{key} {_yaml_scalar(v)}\n")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                sub = _yaml_lines(item, indent + 2)
                out.append(f"{pad}- " + sub[0][indent + 2:])
                out += sub[1:]
            elif isinstance(item, list) and item:
                sub = _yaml_lines(item, indent + 2)
                out.append(f"{pad}- " + sub[0][indent + 2:])
                out += sub[1:]
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}\n")
    return out
