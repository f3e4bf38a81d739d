//! `netdoctor`: CLI glue only. Flags, wiring and subcommands; the work lives in
//! the `engine`, `collectors`, `rules` and `exporters` crates (and the YAML
//! rule-test runner in `rules_test`).

mod rules_test;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use netdoctor_engine::config::{Config, Effective};
use netdoctor_engine::{Graph, RuleSet, Runtime, Severity, SourceError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Diagnoses Kubernetes pod and service networking.
///
/// netdoctor reads facts (routes, links, IPVS and iptables rules, sysctls,
/// resolv.conf, flannel leases, Kubernetes objects), evaluates a pack of Rhai
/// rules over them, and reports findings with evidence and a fix.
///
/// Start with: netdoctor eval --capture examples/captures/seed-001
#[derive(Parser)]
#[command(name = "netdoctor", version, about, long_about, after_help = "Rule ids and their conditions: netdoctor rules list. Capture layout: shared/spec/capture-format.md. Writing rules: docs/writing-a-rule.md.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate the rules once and print the findings.
    ///
    /// With --capture DIR, reads a capture directory (made by `netdoctor capture`
    /// or by hand with kubectl, ip, etcdctl, ipvsadm and cat). Exit code: 0 no
    /// finding at or above --min-severity, 1 at least one, 2 the run failed.
    Eval(EvalArgs),
    /// List, check and test rules.
    #[command(subcommand)]
    Rules(RulesCommand),
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
struct EvalArgs {
    /// Capture directory to evaluate offline (see shared/spec/capture-format.md).
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
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
    /// (unknown fields, duplicate ids), calls to functions that do not exist and
    /// properties no fact type has (found in the compiled AST, so untaken
    /// branches are checked too), and, with --config, the config file.
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
        /// List loaded rules that no given test exercises.
        #[arg(long)]
        coverage: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(a) => eval(a),
        Command::Rules(RulesCommand::List { source, format }) => rules_list(source, format),
        Command::Rules(RulesCommand::Check { paths, config }) => rules_check(paths, config),
        Command::Rules(RulesCommand::Test { files, source, junit, coverage }) => rules_test(files, source, junit, coverage),
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

/// Reads and validates `--config` against the loaded rules.
fn effective(source: &RuleSource, set: &RuleSet) -> anyhow::Result<Effective> {
    let Some(p) = &source.config else { return Ok(Effective::default()) };
    let cfg = read_config(p)?;
    cfg.validate(set).map_err(|es| anyhow::anyhow!("{}: {}", p.display(), es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))
}

fn print_errors(errors: &[SourceError]) {
    for e in errors {
        eprintln!("error: {}: {}", e.source, e.message);
    }
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = a.capture else {
        anyhow::bail!("live collection (netlink, IPVS, the API server, etcd) is not available in this build yet; evaluate a capture directory with --capture DIR");
    };
    let rt = Runtime::default();
    let set = load_rules(&rt, &a.source);
    if set.rules.is_empty() {
        print_errors(&set.errors);
        anyhow::bail!("no rule loaded");
    }
    let eff = effective(&a.source, &set)?;
    let facts = netdoctor_collectors::capture::read(&dir).context("reading capture")?;
    let mut graph = Graph::build(facts);
    graph.extra_cni_interfaces = eff.cni_interfaces.clone();
    let graph = Arc::new(graph);
    if let Some(id) = &a.explain {
        return explain(&rt, &set, &graph, &eff, id, a.subject.as_deref());
    }
    let mut report = rt.evaluate(&set, &graph, &eff);
    report.filter_min_severity(a.min_severity.into());
    match a.format {
        Format::Json => print!("{}", netdoctor_exporters::json(&report)),
        Format::Table => print!("{}", netdoctor_exporters::table(&report, a.verbose)),
    }
    Ok(if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
    let rt = Runtime::default();
    let set = load_rules(&rt, &source);
    print_errors(&set.errors);
    let eff = effective(&source, &set)?;
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
    let rt = Runtime::default();
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in &paths {
        if p.is_dir() {
            let mut fs: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|e| e == "rhai"))
                .collect();
            fs.sort();
            files.extend(fs);
        } else {
            files.push(p.clone());
        }
    }
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        errors.extend(rt.lint(&f.display().to_string(), &text));
    }
    // Duplicate ids within one directory, and config validation, use the loader's view.
    let dirs: Vec<&Path> = paths.iter().filter(|p| p.is_dir()).map(PathBuf::as_path).collect();
    let mut set = RuleSet::default();
    for d in &dirs {
        let one = rt.load(&[], &[d]);
        errors.extend(one.errors.into_iter().filter(|e| e.message.starts_with("duplicate rule id")));
        set.rules.extend(one.rules);
    }
    if let Some(c) = &config {
        let mut all = rt.load(netdoctor_rules::BUILTIN, &dirs);
        all.rules.extend(set.rules.iter().cloned());
        match read_config(c) {
            Ok(cfg) => {
                if let Err(es) = cfg.validate(&all) {
                    errors.extend(es.into_iter().map(|e| SourceError { source: c.display().to_string(), message: e.0 }));
                }
            }
            Err(e) => errors.push(SourceError { source: c.display().to_string(), message: format!("{e:#}") }),
        }
    }
    for e in &errors {
        println!("{}: error: {}", e.source, e.message);
        if let Some(c) = caret(&e.source) {
            println!("{c}");
        }
    }
    let bad_files = files.iter().filter(|f| errors.iter().any(|e| e.source.starts_with(&f.display().to_string()))).count();
    println!("{} rules OK, {} errors", files.len() - bad_files, errors.len());
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn rules_test(files: Vec<PathBuf>, source: RuleSource, junit: Option<PathBuf>, coverage: bool) -> anyhow::Result<ExitCode> {
    let rt = Runtime::default();
    let set = load_rules(&rt, &source);
    if !set.errors.is_empty() {
        print_errors(&set.errors);
        anyhow::bail!("rules failed to load");
    }
    let default_config = source.config.as_deref().map(read_config).transpose()?;
    let mut yaml = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut fs: Vec<PathBuf> = std::fs::read_dir(&f)?.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect();
            fs.sort();
            yaml.extend(fs);
        } else {
            yaml.push(f);
        }
    }
    let mut outcomes = Vec::new();
    for f in &yaml {
        for o in rules_test::run_file(&rt, &set, f, default_config.as_ref()) {
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
        std::fs::write(j, rules_test::junit(&outcomes)).with_context(|| format!("writing {}", j.display()))?;
    }
    if coverage {
        let tested: std::collections::BTreeSet<&str> = outcomes.iter().flat_map(|o| o.rules.iter().map(String::as_str)).collect();
        let untested: Vec<&str> = set.rules.iter().map(|r| r.meta.id.as_str()).filter(|id| !tested.contains(id)).collect();
        if untested.is_empty() {
            println!("coverage: every loaded rule has a test");
        } else {
            println!("coverage: {} rule(s) without a test: {}", untested.len(), untested.join(", "));
        }
    }
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    println!("{} passed, {} failed", outcomes.len() - failed, failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
