//! `netdoctor`: CLI glue only. Flags, wiring and subcommands; the work lives in
//! the `engine`, `collectors`, `rules`, `exporters` and `ruletest` crates.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use netdoctor_engine::config::{Config, Effective};
use netdoctor_engine::{Graph, RuleSet, Runtime, Severity, SourceError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod live;
mod source;

/// Diagnoses Kubernetes pod and service networking.
///
/// netdoctor reads facts (routes, links, IPVS and iptables rules, sysctls,
/// resolv.conf, flannel leases, Kubernetes objects), evaluates a pack of Rhai
/// rules over them, and reports findings with evidence and a fix.
///
/// Start with: netdoctor eval --capture examples/captures/seed-001
#[derive(Parser)]
#[command(
    name = "netdoctor",
    version,
    about,
    long_about,
    after_help = "Rule ids and their conditions: netdoctor rules list. Capture layout: shared/spec/capture-format.md. Writing rules: docs/writing-a-rule.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate the rules once and print the findings.
    ///
    /// Without --capture, diagnoses the host it runs on and the cluster it can reach: the API
    /// server through the kubeconfig, flannel's etcd with --etcd-endpoints, and this host's
    /// netlink, IPVS, iptables, sysctls and files (or the network namespaces of --host). It
    /// prints each source it read, how long it took, and why any was skipped.
    /// With --capture DIR, reads a capture directory instead (made by `netdoctor capture`,
    /// scripts/capture.sh, or by hand with kubectl, ip, etcdctl, ipvsadm and cat).
    ///
    /// Examples:
    ///   netdoctor eval                                     # this host + the cluster of ~/.kube/config
    ///   netdoctor eval --no-cluster                        # this host only
    ///   netdoctor eval --host kind-worker=/proc/4242/ns/net --host kind-worker2=/proc/4343/ns/net
    ///   netdoctor eval --etcd-endpoints https://10.0.0.1:2379 \
    ///       --etcd-cafile ca.pem --etcd-certfile client.pem --etcd-keyfile client-key.pem
    ///   netdoctor eval --capture examples/captures/seed-001 --format json
    ///
    /// Exit code: 0 no finding at or above --min-severity, 1 at least one, 2 the run failed
    /// (with --strict also when a file, a source or a rule has an error). Each error is also
    /// printed to stderr.
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Collect live facts once and write them as a capture directory that `eval --capture`
    /// reads back to the same findings.
    ///
    /// Each file is in the format the standard tool prints (ip -j -d route show table all,
    /// ipvsadm -Sn, iptables-save, kubectl get -o json Lists, etcdctl get -w json), so a person
    /// can read and diff it; the layout is shared/spec/capture-format.md. Secrets are never
    /// read; of the ConfigMaps only coredns, kube-proxy, kubeadm-config and kube-flannel-cfg.
    /// It refuses a non-empty --out unless --force. Without the binary on a host, use
    /// scripts/capture.sh (it can also redact names and public addresses).
    ///
    /// Examples:
    ///   netdoctor capture --out /tmp/cap && netdoctor eval --capture /tmp/cap
    ///   netdoctor capture --out /tmp/cap --host node1=/var/run/netns/node1 --host node2=/var/run/netns/node2
    ///
    /// Exit code: 0 written, 2 it could not be written; sources that failed are listed on
    /// stderr and in meta.json's "collectors", and the rest is written.
    #[command(verbatim_doc_comment)]
    Capture(CaptureArgs),
    /// List, check and test rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run as a long-running exporter: evaluate continuously, serve /metrics, the findings page
    /// and /api/v1/findings, push alerts, hot-reload rules and config.
    ///
    /// Open http://LISTEN/ in a browser; Prometheus scrapes http://LISTEN/metrics. Rules run on
    /// every --interval and, after facts change (debounced), the rules that read them. Editing
    /// a rule file or the config reloads it within a second (also on SIGHUP and POST /-/reload);
    /// a file that fails to compile keeps its previous version running. SIGTERM stops it.
    Serve(ServeArgs),
    /// Print alerting rules for the loaded rules: a Prometheus rule file (what promtool check
    /// rules and Prometheus's rule_files read) or a PrometheusRule object.
    Alerts {
        #[command(flatten)]
        source: RuleSource,
        /// `rules`: a plain rule file; `prometheusrule`: a monitoring.coreos.com/v1 PrometheusRule.
        #[arg(long, value_enum, default_value = "rules")]
        format: AlertFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AlertFormat {
    Rules,
    Prometheusrule,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to serve HTTP on (in a pod: 0.0.0.0:9958).
    #[arg(long, value_name = "ADDR", default_value = netdoctor_exporters::serve::DEFAULT_LISTEN)]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    source: RuleSource,
    /// Every rule runs at least this often (`30s`, `1m`, `1m30s`, `500ms`).
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// After facts change, how long they must settle before the rules that read them run.
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = parse_duration)]
    debounce: Duration,
    /// Alertmanager to push firing findings to and resolve them on (`http://HOST:9093`); repeatable.
    #[arg(long = "alertmanager", value_name = "URL")]
    alertmanager: Vec<String>,
    /// netdoctor's own URL as users reach it: alerts link to their finding on its page.
    #[arg(long, value_name = "URL")]
    external_url: Option<String>,
    /// Serve one capture directory (re-read when its files change) instead of collecting live.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "etcd_endpoints", "hosts", "host_roots", "node", "no_cluster", "no_host"])]
    capture: Option<PathBuf>,
    /// Without --capture: how often the host collectors and the cluster are read again.
    #[arg(long, value_name = "DUR", default_value = "15s", value_parser = parse_duration)]
    collect_interval: Duration,
    #[command(flatten)]
    live: live::LiveArgs,
}

/// Parses `30s`, `1m`, `1m30s`, `500ms`, `2h`: one or more number-unit pairs.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: expected a duration like 30s, 1m, 1m30s, 500ms or 2h");
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let secs = match &rest[..unit] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
        rest = &rest[unit..];
    }
    if total.is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(total)
}

#[derive(Args)]
struct RuleSource {
    /// A directory of user rules (*.rhai); repeatable. A rule id defined later replaces the same id
    /// from the built-in pack or an earlier directory.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Do not load the built-in rule pack.
    #[arg(long)]
    no_builtin_rules: bool,
    /// Tune rules without editing them (YAML): per rule id `enabled`, `severity`, `exclude` matchers, `params`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum MinSeverity {
    Info,
    Warning,
    Critical,
}

impl From<MinSeverity> for Severity {
    fn from(m: MinSeverity) -> Severity {
        match m {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Warning => Severity::Warning,
            MinSeverity::Critical => Severity::Critical,
        }
    }
}

#[derive(Args)]
struct CaptureArgs {
    /// The directory to write (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write into a non-empty directory, replacing a previous capture's files there.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    live: live::LiveArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// Capture directory to evaluate offline (see shared/spec/capture-format.md), instead of
    /// collecting live.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "etcd_endpoints", "hosts", "host_roots", "node", "no_cluster", "no_host"])]
    capture: Option<PathBuf>,
    #[command(flatten)]
    live: live::LiveArgs,
    #[command(flatten)]
    source: RuleSource,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Only report (and count for the exit code) findings at or above this severity.
    #[arg(long, value_enum, default_value = "warning")]
    min_severity: MinSeverity,
    /// Table format: print each finding's evidence and remediation, the skips and the notes.
    #[arg(long, short)]
    verbose: bool,
    /// Explain one rule: per subject, the facts it read and why it fired, did not fire, or skipped.
    #[arg(long, value_name = "RULE")]
    explain: Option<String>,
    /// With --explain: only this subject (`Kind/name` or `Kind/namespace/name`, e.g. Node/n1).
    #[arg(long, value_name = "SUBJECT", requires = "explain")]
    subject: Option<String>,
    /// Exit 2 when any capture file or rule has an error (for CI), not only when the run fails.
    #[arg(long)]
    strict: bool,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the loaded rules: id, severity, summary, source file.
    List {
        #[command(flatten)]
        source: RuleSource,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Compile and lint rule files; non-zero exit on any error, each with file:line:column.
    ///
    /// Checks syntax (with the offending line and a caret), the RULE metadata
    /// (unknown fields, declared params, duplicate ids), calls to functions that
    /// do not exist or are not available in rules, properties no fact type has,
    /// the keys of maps given to g.finding and g.skip, g.param names (found in
    /// the compiled AST, so untaken branches are checked too), and, with
    /// --config, the config file (rule ids, param names and types). Every file
    /// is checked, however many are broken.
    Check {
        /// Directories (or single .rhai files) to check.
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
        /// Also validate this config file against the built-in pack plus the checked rules.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run rule unit tests from YAML files (format: docs/rule-tests.md).
    ///
    /// Exit code non-zero on any failure.
    Test {
        /// YAML test files (or directories of *.yaml). `--config` applies to tests without their own `config`.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        source: RuleSource,
        /// Write a JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// List the rules under test that no given test exercises: the rules of
        /// --rules and of the test files' rule_dirs, else the built-in pack.
        #[arg(long)]
        coverage: bool,
    },
}

/// Stack of the thread the commands run on: the rule sandbox bounds nesting
/// (call levels × expression depth), and this leaves room for that bound in
/// unoptimised builds too, whose frames are several times larger.
pub(crate) const STACK_SIZE: usize = 64 << 20;

fn main() -> ExitCode {
    match std::thread::Builder::new().name("netdoctor".into()).stack_size(STACK_SIZE).spawn(run) {
        Ok(t) => t.join().unwrap_or_else(|_| ExitCode::from(101)),
        Err(e) => {
            eprintln!("netdoctor: starting: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(a) => eval(a),
        Command::Capture(a) => capture(a),
        Command::Rules(RulesCommand::List { source, format }) => rules_list(source, format),
        Command::Rules(RulesCommand::Check { paths, config }) => rules_check(paths, config),
        Command::Rules(RulesCommand::Test { files, source, junit, coverage }) => rules_test(files, source, junit, coverage),
        Command::Serve(a) => serve(a),
        Command::Alerts { source, format } => alerts(source, format),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netdoctor: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_rules(rt: &Runtime, source: &RuleSource) -> RuleSet {
    let builtin: &[(&str, &str)] = if source.no_builtin_rules { &[] } else { netdoctor_rules::BUILTIN };
    let dirs: Vec<&Path> = source.rules.iter().map(PathBuf::as_path).collect();
    rt.load(builtin, &dirs)
}

fn read_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// The runtime, with the sandbox limits of the config (read before any rule loads).
fn runtime(config: Option<&Config>, path: Option<&Path>) -> anyhow::Result<Runtime> {
    let limits = match config {
        Some(c) => c.limits().map_err(|e| anyhow::anyhow!("{}: {e}", path.map(|p| p.display().to_string()).unwrap_or_default()))?,
        None => Default::default(),
    };
    Ok(Runtime::new(limits))
}

/// Validates `--config` against the loaded rules.
fn effective(path: Option<&Path>, config: Option<&Config>, set: &RuleSet) -> anyhow::Result<Effective> {
    let (Some(p), Some(cfg)) = (path, config) else {
        return Ok(Effective::default());
    };
    cfg.validate(set).map_err(|es| anyhow::anyhow!("{}: {}", p.display(), es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))
}

fn print_errors(errors: &[SourceError]) {
    for e in errors {
        eprintln!("error: {}: {}", e.source, e.message);
    }
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let config = a.source.config.as_deref().map(read_config).transpose()?;
    let rt = runtime(config.as_ref(), a.source.config.as_deref())?;
    let set = load_rules(&rt, &a.source);
    if set.rules.is_empty() {
        print_errors(&set.errors);
        anyhow::bail!("no rule loaded");
    }
    let eff = effective(a.source.config.as_deref(), config.as_ref(), &set)?;
    let graph = match &a.capture {
        Some(dir) => netdoctor_engine::pipeline::snapshot(netdoctor_collectors::capture::read(dir, &Default::default()).context("reading capture")?, &eff),
        None => {
            let c = live::collect_once(a.live.plan()?, None)?;
            live::print_sources(&c.lines);
            Arc::new(Graph::build(c.facts, c.statuses, &netdoctor_engine::pipeline::graph_options(&eff)))
        }
    };
    if let Some(id) = &a.explain {
        print_errors(&set.errors);
        return explain(&rt, &set, &graph, &eff, id, a.subject.as_deref());
    }
    let mut report = rt.evaluate(&set, &graph, &eff);
    report.filter_min_severity(a.min_severity.into());
    match a.format {
        Format::Json => print!("{}", netdoctor_exporters::json(&report)),
        Format::Table => print!("{}", netdoctor_exporters::table(&report, a.verbose)),
    }
    print_errors(&report.errors);
    Ok(if a.strict && !report.errors.is_empty() {
        eprintln!("netdoctor: {} error(s) and --strict: exit 2", report.errors.len());
        ExitCode::from(2)
    } else if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn explain(rt: &Runtime, set: &RuleSet, graph: &Arc<Graph>, eff: &Effective, id: &str, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(rule) = set.rules.iter().find(|r| r.meta.id == id) else {
        let near = netdoctor_engine::config::nearest(id, set.rules.iter().map(|r| r.meta.id.as_str()));
        anyhow::bail!("no loaded rule {id:?}{}", near.map(|n| format!(" (did you mean {n}?)")).unwrap_or_default());
    };
    let ex = rt.explain(rule, graph, eff);
    print!("{}", netdoctor_exporters::explain::render(&rule.meta, &ex, only));
    Ok(match &ex.result {
        Ok(out) if out.findings.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(_) => ExitCode::from(2),
    })
}

fn rules_list(source: RuleSource, format: Format) -> anyhow::Result<ExitCode> {
    let config = source.config.as_deref().map(read_config).transpose()?;
    let rt = runtime(config.as_ref(), source.config.as_deref())?;
    let set = load_rules(&rt, &source);
    print_errors(&set.errors);
    let eff = effective(source.config.as_deref(), config.as_ref(), &set)?;
    match format {
        Format::Json => {
            let v: Vec<_> = set.rules.iter().map(|r| &*r.meta).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            let w = set.rules.iter().map(|r| r.meta.id.len()).max().unwrap_or(2);
            println!("{:<w$}  {:<8}  {:<46}  SUMMARY", "ID", "SEVERITY", "SOURCE");
            for r in &set.rules {
                let sev = eff.severity.get(&r.meta.id).copied().unwrap_or(r.meta.severity);
                let off = if eff.disabled.contains(&r.meta.id) { " (disabled by config)" } else { "" };
                println!("{:<w$}  {:<8}  {:<46}  {}{off}", r.meta.id, sev.as_str(), r.meta.source, r.meta.summary);
            }
        }
    }
    Ok(if set.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The offending line of a rule file with a caret under the column.
fn caret(source: &str) -> Option<String> {
    let mut parts = source.rsplitn(3, ':');
    let col: usize = parts.next()?.parse().ok()?;
    let line: usize = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    let text = std::fs::read_to_string(file).ok().or_else(|| {
        let id = file.strip_prefix("rules/")?;
        netdoctor_rules::BUILTIN.iter().find(|(f, _)| f.ends_with(id)).map(|(_, t)| t.to_string())
    })?;
    let l = text.lines().nth(line.checked_sub(1)?)?;
    Some(format!("  {line:>4} | {l}\n       | {}^", " ".repeat(col.saturating_sub(1))))
}

fn rules_check(paths: Vec<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = config.as_deref().map(|c| read_config(c).map_err(|e| SourceError { source: c.display().to_string(), message: format!("{e:#}") }));
    let rt = match &cfg {
        Some(Ok(c)) => runtime(Some(c), config.as_deref())?,
        _ => Runtime::default(),
    };
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let check = rt.check(&paths);
    let mut errors = check.errors;
    if let (Some(c), Some(cfg)) = (&config, cfg) {
        // The config is validated against the built-in pack plus the checked rules.
        let mut all = rt.load(netdoctor_rules::BUILTIN, &[]);
        for r in check.set.rules {
            all.rules.retain(|x| x.meta.id != r.meta.id);
            all.rules.push(r);
        }
        match cfg {
            Ok(cfg) => {
                if let Err(es) = cfg.validate(&all) {
                    errors.extend(es.into_iter().map(|e| SourceError { source: c.display().to_string(), message: e.0 }));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    for e in &errors {
        println!("{}: error: {}", e.source, e.message);
        if let Some(c) = caret(&e.source) {
            println!("{c}");
        }
    }
    println!("{} rules OK, {} errors", check.ok, errors.len());
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn rules_test(files: Vec<PathBuf>, source: RuleSource, junit: Option<PathBuf>, coverage: bool) -> anyhow::Result<ExitCode> {
    let default_config = source.config.as_deref().map(read_config).transpose()?;
    let rt = runtime(default_config.as_ref(), source.config.as_deref())?;
    let set = load_rules(&rt, &source);
    // A broken rule is an error, and fails the tests that need it; every other test still runs.
    print_errors(&set.errors);
    let mut yaml = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut fs: Vec<PathBuf> =
                std::fs::read_dir(&f)?.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect();
            fs.sort();
            yaml.extend(fs);
        } else {
            yaml.push(f);
        }
    }
    let mut outcomes = Vec::new();
    // The rules under test for --coverage: the author's (from --rules and rule_dirs), else the built-in pack.
    let builtin_files: Vec<&str> = netdoctor_rules::BUILTIN.iter().map(|(f, _)| *f).collect();
    let mut authored: std::collections::BTreeSet<String> =
        set.rules.iter().filter(|r| !builtin_files.contains(&r.meta.source.as_str())).map(|r| r.meta.id.clone()).collect();
    for f in &yaml {
        let run = netdoctor_ruletest::run_file(&rt, &set, f, default_config.as_ref());
        authored.extend(run.rule_dir_rules);
        for o in run.outcomes {
            if o.failures.is_empty() {
                println!("ok    {}: {}", o.file, o.name);
            } else {
                println!("FAIL  {}: {}", o.file, o.name);
                for fl in &o.failures {
                    for (i, line) in fl.lines().enumerate() {
                        println!("{}{line}", if i == 0 { "  - " } else { "    " });
                    }
                }
            }
            outcomes.push(o);
        }
    }
    if let Some(j) = &junit {
        std::fs::write(j, netdoctor_ruletest::junit(&outcomes)).with_context(|| format!("writing {}", j.display()))?;
    }
    if coverage {
        let tested: std::collections::BTreeSet<&str> = outcomes.iter().flat_map(|o| o.rules.iter().map(String::as_str)).collect();
        let scope: Vec<&str> =
            if authored.is_empty() { set.rules.iter().map(|r| r.meta.id.as_str()).collect() } else { authored.iter().map(String::as_str).collect() };
        let untested: Vec<&str> = scope.iter().copied().filter(|id| !tested.contains(id)).collect();
        if untested.is_empty() {
            println!("coverage: every rule under test has a test ({} rules)", scope.len());
        } else {
            println!("coverage: {} of {} rule(s) without a test: {}", untested.len(), scope.len(), untested.join(", "));
        }
    }
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    let load = if set.errors.is_empty() { String::new() } else { format!("; {} rule file(s) failed to load", set.errors.len()) };
    println!("{} passed, {} failed{load}", outcomes.len() - failed, failed);
    Ok(if failed == 0 && set.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn alerts(source: RuleSource, format: AlertFormat) -> anyhow::Result<ExitCode> {
    let config = source.config.as_deref().map(read_config).transpose()?;
    let rt = runtime(config.as_ref(), source.config.as_deref())?;
    let set = load_rules(&rt, &source);
    print_errors(&set.errors);
    if set.rules.is_empty() {
        anyhow::bail!("no rule loaded");
    }
    let eff = effective(source.config.as_deref(), config.as_ref(), &set)?;
    let rules: Vec<_> = set.rules.iter().filter(|r| !eff.disabled.contains(&r.meta.id)).map(|r| netdoctor_exporters::RuleInfo::of(r, &eff)).collect();
    let format = match format {
        AlertFormat::Rules => netdoctor_exporters::alerts::Format::Rules,
        AlertFormat::Prometheusrule => netdoctor_exporters::alerts::Format::PrometheusRule,
    };
    print!("{}", netdoctor_exporters::alerts::render(&rules, format)?);
    Ok(if set.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    use netdoctor_exporters::serve::{Facts, Options, Server, Sources};
    let source: Box<dyn source::FactSource> = match &a.capture {
        Some(dir) => Box::new(source::Capture::new(dir.clone(), a.debounce)),
        None => Box::new(source::Live::new(a.live.plan()?, a.collect_interval)),
    };
    let builtin = if a.source.no_builtin_rules { Vec::new() } else { netdoctor_rules::BUILTIN.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect() };
    let sources = Sources { builtin, dirs: a.source.rules.clone(), config: a.source.config.clone() };
    let build = netdoctor_exporters::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: option_env!("NETDOCTOR_REVISION").unwrap_or("unknown").to_string(),
    };
    let mut opts = Options::new(sources, build);
    opts.listen = a.listen;
    opts.interval = a.interval;
    opts.debounce = a.debounce;
    opts.alertmanager = a.alertmanager;
    opts.external_url = a.external_url;
    let facts = Facts::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the async runtime")?;
    let result = rt.block_on(async {
        // The source fills the store before the first evaluation and keeps it current while it lives.
        let _running = source.start(facts.clone())?;
        let server = Server::start(opts, facts).await?;
        server.run_until(std::future::pending()).await;
        anyhow::Ok(())
    });
    // A rule still running at its budget is not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    result.map(|()| ExitCode::SUCCESS)
}

fn capture(a: CaptureArgs) -> anyhow::Result<ExitCode> {
    let plan = a.live.plan()?;
    live::prepare_capture_dir(&a.out, a.force)?;
    let c = live::collect_once(plan, Some(&a.out))?;
    live::print_sources(&c.lines);
    live::finish_capture(&c, &a.out)?;
    eprintln!("netdoctor: wrote {} ({}); evaluate it with: netdoctor eval --capture {}", a.out.display(), live::summary(&c.statuses), a.out.display());
    Ok(ExitCode::SUCCESS)
}
