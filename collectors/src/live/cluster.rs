//! Cluster collectors: k8s (kube-rs watchers) and etcd (flannel leases, v3 and v2).
