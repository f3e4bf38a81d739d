//! Rule API extension: cluster health helpers (pod and node conditions, a
//! pod's health as `kubectl get pods` would show it, ComponentStatuses, the
//! live collectors' status, a host's data plane at a glance) and time
//! arithmetic over RFC 3339 timestamps measured from the capture time
//! (`g.now()`), never from the clock of the machine evaluating.
//! Every function registered here has an entry in [`DOCS`].

use super::api::{condition_map, map_of, opt, opt_str, trace, Doc, HostRef, PodRef};
use super::output::Ctx;
use crate::graph::Graph;
use crate::model::Pod;
use rhai::{Array, Dynamic, Engine, Map};

/// Documentation of every function registered by [`register`].
pub const DOCS: &[Doc] = &[
    Doc {
        on: "Graph",
        name: "collectors",
        sig: "g.collectors() -> array of #{name, up, last_success, stale_after_seconds, error, age_seconds}",
        doc: "How each live collector fared (`kubernetes`, `etcd`, `netlink`, ...): `up` is whether its last run succeeded, `age_seconds` the time from its last success to `g.now()` (`()` when unknown). Empty for a capture made without collector status (kubectl/ip by hand).",
        example: "let k = g.collectors().filter(|c| c.name == \"kubernetes\");",
    },
    Doc {
        on: "Graph",
        name: "collector",
        sig: "g.collector(name) -> map | ()",
        doc: "The status of one collector, shaped as in `g.collectors()`; `()` when that collector did not report (not configured, or capture mode).",
        example: "let k = g.collector(\"kubernetes\"); if k == () { return; }",
    },
    Doc {
        on: "Graph",
        name: "component_statuses",
        sig: "g.component_statuses() -> array of #{name, healthy, message}",
        doc: "`kubectl get componentstatuses`: `scheduler`, `controller-manager`, `etcd-0`, ... with the Healthy condition and its message or error. Check `g.has(\"componentstatuses\")` first.",
        example: "g.component_statuses().filter(|c| !c.healthy)",
    },
    Doc {
        on: "Graph",
        name: "cluster_subject",
        sig: "g.cluster_subject() -> map",
        doc: "The subject of a cluster-wide finding: `#{kind: \"Cluster\", name: \"cluster\", node: ()}`.",
        example: "g.finding(#{ subject: g.cluster_subject(), summary: \"...\" })",
    },
    Doc {
        on: "Graph",
        name: "since",
        sig: "g.since(ts) -> int | ()",
        doc: "Seconds from the RFC 3339 timestamp `ts` to the capture time `g.now()` (meta.json `captured_at`, else the newest timestamp in the capture); `()` when either is unknown or unparsable.",
        example: "let secs = g.since(n.condition(\"Ready\").since);",
    },
    Doc {
        on: "",
        name: "rfc3339_seconds",
        sig: "rfc3339_seconds(ts) -> int | ()",
        doc: "Unix seconds of an RFC 3339 timestamp (`2024-05-20T08:30:00Z`, fractions and `+08:00` offsets accepted); `()` when it does not parse.",
        example: "rfc3339_seconds(\"2024-05-20T08:30:00Z\") == 1716193800",
    },
    Doc {
        on: "",
        name: "human_duration",
        sig: "human_duration(seconds) -> string",
        doc: "A duration as kubectl prints ages: `45s`, `12m`, `3h12m`, `2d4h`; negative durations (clock skew) print as `0s`.",
        example: "human_duration(11520) == \"3h12m\"",
    },
    Doc {
        on: "Pod",
        name: "condition",
        sig: "p.condition(type) -> #{type, status, reason, message, since} | ()",
        doc: "A pod's `status.conditions[]` entry of that type (`Ready`, `PodScheduled`, `ContainersReady`, ...); `since` is its lastTransitionTime.",
        example: "p.condition(\"PodScheduled\").reason == \"Unschedulable\"",
    },
    Doc {
        on: "Pod",
        name: "health",
        sig: "p.health -> #{known, ok, ready, status, crash_loop, terminated, container, restarts, last_reason, exit_code, text}",
        doc: "The pod as `kubectl get pods` shows it: `status` is the STATUS column (`CrashLoopBackOff`, `Completed`, `Evicted`, `Pending`, ...), `terminated` the containers whose current state is terminated, `container` the one that explains the status, `last_reason` its last state's reason (`Error`, `OOMKilled`), `restarts` the sum of restart counts. `ok` is false when the pod is not Ready, crash-loops or has a terminated container; `known` is false when the pod has no status at all (then judge nothing). `text` is a summary such as `CrashLoopBackOff, last state Error, 57 restarts`.",
        example: "let st = p.health; if st.known && !st.ok { ... st.text ... }",
    },
    Doc {
        on: "Pod",
        name: "terminal",
        sig: "p.terminal -> bool",
        doc: "The pod's phase is `Succeeded` or `Failed` (e.g. Evicted): it never runs again and its controller has replaced it.",
        example: "g.pods().filter(|p| !p.terminal)",
    },
    Doc {
        on: "Host",
        name: "dataplane_state",
        sig: "h.dataplane_state() -> #{captured, routes, pod_routes, ipvs_virtual_servers, kube_svc_chains, proxy_mode}",
        doc: "What of the data plane the host's kernel still holds: `routes` main-table unicast routes other than link-local (`()` when not collected), `pod_routes` those into a pod network (`g.pod_networks()`; when none is known, those through a CNI-owned interface other than docker0), `ipvs_virtual_servers` and `kube_svc_chains` (`()` when ipvs.txt / iptables-save.txt were not collected). Used to tell whether pods keep serving while the control plane is away (seed 000).",
        example: "let d = h.dataplane_state(); d.pod_routes > 0",
    },
];

/// Registers this module's functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_fn("collectors", |c: &mut Ctx| -> Array {
            trace(cluster_label, || format!("collectors() → {} reported", c.g.facts.collectors.len()));
            c.g.facts.collectors.iter().map(|s| Dynamic::from_map(collector_map(&c.g, s))).collect()
        })
        .register_fn("collector", |c: &mut Ctx, name: &str| -> Dynamic {
            let s = c.g.facts.collectors.iter().find(|s| s.name == name);
            trace(cluster_label, || {
                let what = s.map_or("did not report".to_string(), |s| format!("up={} last_success={}", s.up, s.last_success.as_deref().unwrap_or("never")));
                format!("collector({name:?}) → {what}")
            });
            s.map_or(Dynamic::UNIT, |s| Dynamic::from_map(collector_map(&c.g, s)))
        })
        .register_fn("component_statuses", |c: &mut Ctx| -> Array {
            let cs = &c.g.facts.component_statuses;
            trace(cluster_label, || {
                let list: Vec<String> = cs.iter().map(|s| format!("{} {}", s.name, if s.healthy { "Healthy" } else { "Unhealthy" })).collect();
                format!("component_statuses() → [{}]", list.join(", "))
            });
            cs.iter()
                .map(|s| Dynamic::from_map(map_of([("name", s.name.clone().into()), ("healthy", s.healthy.into()), ("message", opt_str(s.message.as_deref()))])))
                .collect()
        })
        .register_fn("cluster_subject", |_: &mut Ctx| -> Map {
            map_of([("kind", "Cluster".into()), ("namespace", Dynamic::UNIT), ("name", "cluster".into()), ("node", Dynamic::UNIT)])
        })
        .register_fn("since", |c: &mut Ctx, ts: &str| -> Dynamic { opt(since(&c.g, ts)) })
        .register_fn("since", |_: &mut Ctx, _: ()| Dynamic::UNIT)
        .register_fn("rfc3339_seconds", |ts: &str| opt(rfc3339_seconds(ts)))
        .register_fn("human_duration", human_duration)
        .register_fn("condition", |p: &mut PodRef, kind: &str| -> Dynamic {
            p.g.facts.pods[p.i].conditions.iter().find(|c| c.kind == kind).map_or(Dynamic::UNIT, |c| Dynamic::from_map(condition_map(c)))
        })
        .register_get("health", |p: &mut PodRef| {
            let pod = &p.g.facts.pods[p.i];
            let h = pod_health(pod);
            trace(
                || format!("Pod/{}/{}", pod.namespace, pod.name),
                || format!("health → {}", h.get("text").map(|t| t.to_string()).unwrap_or_default()),
            );
            h
        })
        .register_get("terminal", |p: &mut PodRef| is_terminal(&p.g.facts.pods[p.i]))
        .register_fn("dataplane_state", |h: &mut HostRef| dataplane_state(&h.g, h.t));
}

fn cluster_label() -> String {
    "Cluster/cluster".to_string()
}

fn collector_map(g: &Graph, s: &crate::model::CollectorStatus) -> Map {
    map_of([
        ("name", s.name.clone().into()),
        ("up", s.up.into()),
        ("last_success", opt_str(s.last_success.as_deref())),
        ("stale_after_seconds", opt(s.stale_after_seconds)),
        ("error", opt_str(s.error.as_deref())),
        ("age_seconds", opt(s.last_success.as_deref().and_then(|t| since(g, t)))),
    ])
}

/// Seconds from `ts` to the capture time.
fn since(g: &Graph, ts: &str) -> Option<i64> {
    Some(rfc3339_seconds(g.now()?)? - rfc3339_seconds(ts)?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`
/// (`t`/space separators and a lowercase `z` accepted, as RFC 3339 allows).
pub fn rfc3339_seconds(ts: &str) -> Option<i64> {
    let ts = ts.trim();
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = ts.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &ts[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = rest.get(1..)?;
            let (oh, om) = o.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 || !oh.bytes().chain(om.bytes()).all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// `45s`, `12m`, `3h12m`, `2d4h`, as kubectl prints ages.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h{m}m", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d{h}h", s / 86_400),
        },
    }
}

fn is_terminal(p: &Pod) -> bool {
    matches!(p.phase.as_str(), "Succeeded" | "Failed")
}

/// A pod's health as `kubectl get pods` shows it (see the `health` entry of [`DOCS`]).
fn pod_health(p: &Pod) -> Map {
    let known = !p.phase.is_empty() || !p.conditions.is_empty() || !p.containers.is_empty();
    let ready = p.ready();
    let crash_loop = p.containers.iter().any(|c| c.state == "waiting" && c.reason.as_deref() == Some("CrashLoopBackOff"));
    let terminated: Vec<&str> = p.containers.iter().filter(|c| c.state == "terminated").map(|c| c.name.as_str()).collect();
    let restarts: i64 = p.containers.iter().map(|c| c.restart_count).sum();
    // The container that explains the status: waiting or terminated first, then not ready.
    let culprit = p
        .containers
        .iter()
        .find(|c| c.state == "waiting" || c.state == "terminated")
        .or_else(|| p.containers.iter().find(|c| !c.ready))
        .or_else(|| p.containers.first());
    let scheduled = p.conditions.iter().find(|c| c.kind == "PodScheduled" && c.status != "True");
    let status = if let Some(r) = &p.reason {
        r.clone()
    } else if let Some(c) = culprit.filter(|c| c.state == "waiting" || c.state == "terminated") {
        match (&c.reason, c.exit_code) {
            (Some(r), _) => r.clone(),
            (None, Some(code)) => format!("ExitCode:{code}"),
            (None, None) => c.state.clone(),
        }
    } else if let Some(r) = scheduled.and_then(|c| c.reason.clone()) {
        r
    } else if p.phase.is_empty() {
        "Unknown".to_string()
    } else {
        p.phase.clone()
    };
    let ok = ready && !crash_loop && terminated.is_empty();
    let mut text = match culprit {
        Some(c) if c.state == "terminated" => {
            let code = c.exit_code.map(|e| format!(" (exit code {e})")).unwrap_or_default();
            format!("container {} terminated {status}{code}", c.name)
        }
        Some(c) if c.state == "waiting" => format!("container {} {status}", c.name),
        Some(c) if c.state == "running" && !ready => format!("{status}, container {} running but not Ready", c.name),
        _ if !ready => format!("{status}, not Ready"),
        _ => status.clone(),
    };
    let last_reason = culprit.and_then(|c| c.last_reason.clone());
    if let Some(r) = &last_reason {
        text.push_str(&format!(", last state {r}"));
    }
    text.push_str(&format!(", {restarts} restart{}", if restarts == 1 { "" } else { "s" }));
    map_of([
        ("known", known.into()),
        ("ok", ok.into()),
        ("ready", ready.into()),
        ("status", status.into()),
        ("crash_loop", crash_loop.into()),
        ("terminated", terminated.into_iter().map(|s| Dynamic::from(s.to_string())).collect::<Array>().into()),
        ("container", opt_str(culprit.map(|c| c.name.as_str()))),
        ("restarts", restarts.into()),
        ("last_reason", opt_str(last_reason.as_deref())),
        ("exit_code", opt(culprit.and_then(|c| c.exit_code))),
        ("text", text.into()),
    ])
}

/// What of the data plane a host's kernel still holds.
fn dataplane_state(g: &Graph, t: usize) -> Map {
    let name = &g.targets[t].name;
    let host = g.targets[t].host.map(|h| &g.facts.hosts[h]);
    let pod_nets = g.pod_networks();
    let routes = host.and_then(|h| h.routes.get()).map(|rs| {
        // Link-local fe80::/64 routes exist on every interface, pods or not: they prove nothing.
        let main: Vec<_> = rs.iter().filter(|r| r.table == "main" && r.kind == "unicast" && !is_link_local(&r.dst)).collect();
        // Routes into the pod network; without a known pod network, routes through a CNI-owned
        // interface other than an (often idle) docker0.
        let pod = main
            .iter()
            .filter(|r| {
                if pod_nets.is_empty() {
                    r.dev.as_deref().is_some_and(|d| d != "docker0" && g.is_cni_interface(d))
                } else {
                    !r.is_default && pod_nets.iter().any(|(n, _)| n.contains(&r.dst))
                }
            })
            .count();
        (main.len() as i64, pod as i64)
    });
    let vs = host.and_then(|h| h.ipvs.get()).map(|t| t.len() as i64);
    let svc = host
        .and_then(|h| h.iptables.get())
        .map(|t| t.chains.get("nat").map_or(0, |c| c.keys().filter(|k| k.starts_with("KUBE-SVC-")).count()) as i64);
    map_of([
        ("captured", host.is_some().into()),
        ("routes", opt(routes.map(|r| r.0))),
        ("pod_routes", opt(routes.map(|r| r.1))),
        ("ipvs_virtual_servers", opt(vs)),
        ("kube_svc_chains", opt(svc)),
        ("proxy_mode", g.host_proxy_mode(name).into()),
    ])
}

fn is_link_local(n: &ipnet::IpNet) -> bool {
    match n.addr() {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_utc_fractions_and_offsets() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2024-05-20T08:30:00Z"), Some(1_716_193_800));
        assert_eq!(rfc3339_seconds("2024-05-20T08:30:00.123456789Z"), Some(1_716_193_800));
        assert_eq!(rfc3339_seconds("2024-05-20T16:30:00+08:00"), Some(1_716_193_800));
        assert_eq!(rfc3339_seconds("2024-05-20t03:30:00-05:00"), Some(1_716_193_800));
        assert_eq!(rfc3339_seconds("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in ["", "2024-05-20", "2024-05-20T08:30:00", "2024-13-01T00:00:00Z", "2024-05-20T08:30:00+0800", "yesterday"] {
            assert_eq!(rfc3339_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_print_like_kubectl() {
        assert_eq!(human_duration(-5), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(720), "12m");
        assert_eq!(human_duration(3600), "1h");
        assert_eq!(human_duration(11_520), "3h12m");
        assert_eq!(human_duration(86_400 * 2 + 4 * 3600 + 59), "2d4h");
    }
}
