//! The rule API reference (`docs/rules.md`), generated from the `Doc` tables
//! of the API modules, and the check that every registered function has one.

use super::api::{all_docs, Doc};
use super::{Limits, Runtime, META_KEYS};
use std::collections::BTreeSet;
use std::fmt::Write;

/// (receiver type or "", name) of every function registered by the rule API,
/// from the engine's own registry (getters under their property name;
/// `to_string` / `to_debug` are formatting hooks, not API).
pub fn registered(rt: &Runtime) -> BTreeSet<(String, String)> {
    rt.engine()
        .gen_fn_signatures(false)
        .iter()
        .filter_map(|sig| {
            let (name, rest) = sig.split_once('(')?;
            let name = name.strip_prefix("get$").unwrap_or(name);
            if name == "to_string" || name == "to_debug" {
                return None;
            }
            let first = rest.split([',', ')']).next().unwrap_or("").trim().trim_start_matches("_:").trim();
            let on = first.strip_prefix("&mut ").unwrap_or("");
            Some((on.to_string(), name.to_string()))
        })
        .collect()
}

/// Registered functions with no `Doc`, and `Doc`s naming nothing registered.
pub fn drift(rt: &Runtime) -> (Vec<String>, Vec<String>) {
    let reg = registered(rt);
    let documented: BTreeSet<(String, String)> = all_docs().iter().map(|d| (d.on.to_string(), d.name.to_string())).collect();
    let fmt = |(on, n): &(String, String)| if on.is_empty() { n.clone() } else { format!("{on}.{n}") };
    (reg.difference(&documented).map(fmt).collect(), documented.difference(&reg).map(fmt).collect())
}

const TYPE_ORDER: &[(&str, &str)] = &[
    ("Graph", "`g`, the argument of `evaluate(g)`: the whole fact graph, its indexes, and where findings go."),
    ("Host", "A host in the catalogue's sense: a Node, a host with collected facts, or both (`g.hosts`)."),
    ("Node", "A Kubernetes Node object."),
    ("Pod", "A Pod."),
    ("Service", "A Service."),
    ("Lease", "A flannel subnet lease."),
    ("Route", "One route of `ip route show table all`."),
    ("Link", "One interface of `ip -d link`."),
    ("Addr", "One address of `ip addr`."),
    ("Lookup", "The answer of `h.route_get(ip)`."),
    ("ProxyTable", "A host's kube-proxy dataplane (`h.proxy_table()`): IPVS virtual servers and kube-proxy's iptables chains mapped to Services."),
];

fn table(out: &mut String, docs: &[&Doc]) {
    out.push_str("| call | answers | example |\n|---|---|---|\n");
    for d in docs {
        let _ = writeln!(out, "| `{}` | {} | `{}` |", d.sig.replace('|', "\\|"), d.doc.replace('|', "\\|"), d.example.replace('|', "\\|"));
    }
    out.push('\n');
}

/// The whole reference as Markdown.
pub fn reference_markdown() -> String {
    let l = Limits::default();
    let mut out = String::from(
        "# Rule API reference\n\n\
<!-- Generated from the registrations in engine/src/runtime/api/*.rs by `cargo test -p netdoctor-engine --test api_docs` \
with UPDATE_DOCS=1. Do not edit by hand: the test fails when this file or the registry drifts. -->\n\n\
A rule is one `.rhai` file with a metadata map and an `evaluate` function:\n\n\
```rhai\n\
const RULE = #{\n\
    id: \"my-rule\",            // lowercase, digits, dashes; the stable public name\n\
    severity: \"warning\",      // info | warning | critical\n\
    summary: \"One line: what is wrong\",\n\
    remediation: \"What to do about it\",\n\
    docs: \"Optional: background, the incident it comes from\",\n\
};\n\n\
fn evaluate(g) {\n\
    for h in g.hosts {\n\
        if !h.has(\"sysctl\") { g.skip(h.subject(), h.missing(\"sysctl\")); continue; }\n\
        if h.sysctl(\"net.ipv4.ip_forward\") == \"0\" {\n\
            g.finding(#{ subject: h.subject(), summary: `ip_forward is 0 on ${h.name}`,\n\
                         evidence: #{ file: h.source(\"sysctl\") } });\n\
        }\n\
    }\n\
}\n\
```\n\n\
## Conventions\n\n\
The API follows four rules, so that what you guess is what exists:\n\n\
- **Stored facts are properties; computations and look-ups are methods.** A value held on an object, \
or a relation the graph keeps as an index, is a property without parentheses: `p.phase`, `r.dst`, \
`h.routes`, `h.pods`, `s.endpoints`, `l.owner`. Anything that takes an argument or applies a convention \
is a method: `h.route_get(ip)`, `h.pod_bridges()`, `s.selected_pods()`, `g.service(ns, name)`. \
`rules check` flags `g.pods()` (a property called as a method) and misspelt names, with the nearest name.\n\
- **One name for one concept.** `type` is what sort of thing a fact is (a route's, link's, Service's, \
condition's, address's or virtual server's type); `kind` is only a subject's Kubernetes kind \
(`Node`, `Pod`, `Service`, `FlannelLease`, `Cluster`). flannel's backend is `backend` everywhere. Host \
facts are named as in `h.has(...)`: `links`, `addrs`, `routes`, `rules`, `neighbours`, `fdb`, `ipvs`, \
`iptables`, `resolv_conf`, `kubelet_resolv_conf`, `kubelet_config`, `kubelet_args`, `sysctl`, `subnet_env`.\n\
- **Typed handles.** Every object and every value inside a fact (a route, a container, a Service port, \
a virtual server) is a handle into the immutable fact graph, never a map rebuilt on each access; \
collections are arrays of handles, so reading facts never trips the sandbox's data limits. Computed \
answers (a route lookup, `h.pod_resolv_conf()`) are small maps or values, documented below.\n\
- **Hashable ids.** Every object handle has `.id` (`Node/n1`, `Pod/ns/name`, `Service/ns/name`, \
`FlannelLease/10.244.1.0/24`): use it to key maps by subject (`by_service[s.id] = ...`).\n\n\
Every property read and method call is recorded under its subject for `netdoctor eval --explain RULE`.\n\n\
For large clusters, prefer the indexed look-ups (`g.pods_with_label`, `g.pods_in`, `g.pods_on`, \
`h.pods`, `g.cni_agent_pods()`, `g.service_by_ip`) and the batch questions that answer for every \
Service or lease at once (`t.missing_entries()`, `t.stale_backends()`, `h.missing_flannel_routes()`, \
`h.missing_block_routes()`, `l.vtep_check()`, `h.pod_network_overlaps()`) over loops that test every \
object: no rule of the built-in pack is worse than linear in the facts it reads. Build large arrays \
with `map` and `filter` or a native call (`g.cluster_ips()`), not with `push` in a loop over thousands \
of objects: the sandbox re-measures an array after every `push`, so such a loop is quadratic.\n\n",
    );
    let _ = writeln!(
        out,
        "Metadata fields: {}. Any other field is an error (`netdoctor rules check`).\n",
        META_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    );
    out.push_str(
        "## Emitting a finding\n\n\
`g.finding(#{...})` takes `subject` (a map `#{kind, namespace, name, node}`, usually from `h.subject()`, \
`p.subject()`, `s.subject()`, `s.subject_on(node)`, `l.subject()`), a one-line `summary` with the concrete \
values, and optionally `related` (the second party of a pair: `s.related()`, `l.related()`), `evidence` \
(a map; routes, links and other values print as `ip` would), `severity` (overrides the rule's) and \
`remediation`. A finding's identity is (rule, subject, related): emitting it twice keeps one. \
When a fact the rule needs is absent, call `g.skip(subject, reason)` and do not guess: \
`h.missing(fact)` and `g.missing(kind)` give the reason.\n\n",
    );
    let _ = writeln!(
        out,
        "## Sandbox\n\nOn by default for every rule: at most {} operations and {} s of wall-clock time per run, call depth {}, expression depth {}, strings of {} bytes, arrays of {} items, maps of {} entries. \
Rules cannot import modules, `eval` code, or touch files or the network. A rule that errors, panics or exceeds its budget is reported with file:line:column and cut off; the other rules still run, and its partial findings are dropped.\n",
        l.max_operations,
        l.timeout.as_secs(),
        l.max_call_levels,
        l.max_expr_depth,
        l.max_string_size,
        l.max_array_size,
        l.max_map_size
    );
    let all = all_docs();
    let docs: Vec<&Doc> = all.iter().collect();
    let mut types: Vec<(String, String)> = TYPE_ORDER.iter().map(|(t, d)| (t.to_string(), d.to_string())).collect();
    for d in &docs {
        if !d.on.is_empty() && !types.iter().any(|(t, _)| t == d.on) {
            types.push((d.on.to_string(), String::new()));
        }
    }
    for (t, about) in &types {
        let of: Vec<&Doc> = docs.iter().copied().filter(|d| d.on == t).collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {t}\n");
        if !about.is_empty() {
            let _ = writeln!(out, "{about}\n");
        }
        table(&mut out, &of);
    }
    out.push_str("## Helpers\n\nGlobal functions; addresses and CIDRs are strings.\n\n");
    let globals: Vec<&Doc> = docs.iter().copied().filter(|d| d.on.is_empty()).collect();
    table(&mut out, &globals);
    out
}
