//! Test harnesses for netdoctor (etcd, network namespaces, a Kubernetes API test server).
