//! Memory and time of reading large files, measured in a child process (its
//! peak RSS, VmHWM, is its own): a ~200 MB `ip -j -d link` and a ~200 MB
//! `kubectl get svc -A -o yaml`. Run with
//! `cargo test --release -p netdoctor-collectors --test memory -- --ignored --nocapture`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const TARGET: u64 = 200 << 20;

fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn vm_hwm_kib() -> u64 {
    status_kib("VmHWM:")
}

fn write_links(path: &Path) -> usize {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(b"[").unwrap();
    let mut n = 0;
    let mut size = 0u64;
    while size < TARGET {
        let s = format!(
            r#"{}{{"ifindex":{i},"link_index":2,"ifname":"veth{i:08x}","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","master":"cni0","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"6e:2c:{:02x}:{:02x}:{:02x}:{:02x}","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"promiscuity":1,"allmulti":1,"min_mtu":68,"max_mtu":65535,"linkinfo":{{"info_kind":"veth","info_slave_kind":"bridge","info_slave_data":{{"state":"forwarding","priority":32,"cost":2,"hairpin":false,"guard":false,"root_block":false,"fastleave":false,"learning":true,"flood":true,"id":"0x8001","no":"0x1"}}}},"inet6_addr_gen_mode":"eui64","num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535}}"#,
            if n == 0 { "" } else { ",\n" },
            (n >> 24) & 255,
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255,
            i = n + 3
        );
        size += s.len() as u64;
        w.write_all(s.as_bytes()).unwrap();
        n += 1;
    }
    w.write_all(b"]\n").unwrap();
    n
}

fn write_services(path: &Path) -> usize {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(b"apiVersion: v1\nitems:\n").unwrap();
    let mut n = 0;
    let mut size = 0u64;
    while size < TARGET {
        let s = format!(
            "- apiVersion: v1\n  kind: Service\n  metadata:\n    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: |\n        {{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{{\"name\":\"svc-{n}\",\"namespace\":\"ns-{ns}\"}}}}\n    creationTimestamp: \"2024-01-01T00:00:00Z\"\n    labels:\n      app: app-{n}\n    name: svc-{n}\n    namespace: ns-{ns}\n    resourceVersion: \"{rv}\"\n    uid: 0000-{n}\n  spec:\n    clusterIP: 10.{a}.{b}.{c}\n    clusterIPs:\n    - 10.{a}.{b}.{c}\n    internalTrafficPolicy: Cluster\n    ipFamilies:\n    - IPv4\n    ipFamilyPolicy: SingleStack\n    ports:\n    - name: http\n      port: 80\n      protocol: TCP\n      targetPort: 8080\n    selector:\n      app: app-{n}\n    sessionAffinity: None\n    type: ClusterIP\n  status:\n    loadBalancer: {{}}\n",
            ns = n % 200,
            rv = 1000 + n,
            a = 96 + (n >> 16) % 16,
            b = (n >> 8) & 255,
            c = n & 255,
        );
        size += s.len() as u64;
        w.write_all(s.as_bytes()).unwrap();
        n += 1;
    }
    w.write_all(b"kind: List\nmetadata:\n  resourceVersion: \"\"\n").unwrap();
    n
}

/// The child: reads one capture and prints what it kept, its time and its peak memory.
#[test]
#[ignore]
fn memory_child() {
    let Ok(dir) = std::env::var("NETDOCTOR_MEMORY_CAPTURE") else { return };
    let before = vm_hwm_kib();
    let t = Instant::now();
    let set = netdoctor_collectors::capture::read(Path::new(&dir), &Default::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let links = set.host("n1").and_then(|h| h.links.get()).map_or(0, Vec::len);
    println!(
        "RESULT errors={} links={} services={} seconds={secs:.2} hwm_kib={} rss_after_kib={} start_kib={before}",
        set.errors().len(),
        links,
        set.count(netdoctor_engine::FactKind::Services),
        vm_hwm_kib(),
        status_kib("VmRSS:")
    );
}

fn measure(what: &str, dir: &Path, file: &Path) {
    let size = std::fs::metadata(file).unwrap().len();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "memory_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("NETDOCTOR_MEMORY_CAPTURE", dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("{what}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    let hwm: f64 = line.split("hwm_kib=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    println!("{what}: file {:.0} MB; {line}; peak RSS {:.0} MB = {:.2} x file", size as f64 / 1e6, hwm / 1024.0, hwm * 1024.0 / size as f64);
    assert!(line.contains("errors=0"), "{line}");
}

#[test]
#[ignore]
fn large_files_take_memory_for_the_facts_not_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let links = tmp.path().join("links");
    std::fs::create_dir_all(links.join("nodes/n1")).unwrap();
    let n = write_links(&links.join("nodes/n1/ip-link.json"));
    println!("ip-link.json: {n} links");
    measure("ip-link.json", &links, &links.join("nodes/n1/ip-link.json"));
    std::fs::remove_dir_all(&links).unwrap();
    let svcs = tmp.path().join("svcs");
    std::fs::create_dir_all(svcs.join("cluster")).unwrap();
    let n = write_services(&svcs.join("cluster/services.yaml"));
    println!("services.yaml: {n} services");
    measure("services.yaml", &svcs, &svcs.join("cluster/services.yaml"));
}
