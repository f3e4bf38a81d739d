//! `netdoctor`: CLI glue only. Flags, wiring and subcommands; the work lives in
//! the `engine`, `collectors`, `rules` and `exporters` crates.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use netdoctor_engine::{Graph, Runtime, Severity};
use std::collections::BTreeMap;
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
#[command(name = "netdoctor", version, about, long_about, after_help = "Rule ids and their conditions: netdoctor rules list. Capture layout: shared/spec/capture-format.md.")]
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
    Check {
        /// Directories (or single .rhai files) to check.
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(a) => eval(a),
        Command::Rules(RulesCommand::List { source, format }) => rules_list(source, format),
        Command::Rules(RulesCommand::Check { paths }) => rules_check(paths),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netdoctor: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_rules(rt: &Runtime, source: &RuleSource) -> netdoctor_engine::RuleSet {
    let builtin: &[(&str, &str)] = if source.no_builtin_rules { &[] } else { netdoctor_rules::BUILTIN };
    let dirs: Vec<&Path> = source.rules.iter().map(PathBuf::as_path).collect();
    rt.load(builtin, &dirs)
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = a.capture else {
        anyhow::bail!("live collection (netlink, IPVS, the API server, etcd) is not available in this build yet; evaluate a capture directory with --capture DIR");
    };
    let rt = Runtime::default();
    let set = load_rules(&rt, &a.source);
    if set.rules.is_empty() {
        for e in &set.errors {
            eprintln!("error: {}: {}", e.source, e.message);
        }
        anyhow::bail!("no rule loaded");
    }
    let facts = netdoctor_collectors::capture::read(&dir).with_context(|| "reading capture".to_string())?;
    let graph = Arc::new(Graph::build(facts));
    let mut report = rt.evaluate(&set, &graph, &BTreeMap::new());
    let min: Severity = a.min_severity.into();
    report.filter_min_severity(min);
    match a.format {
        Format::Json => print!("{}", netdoctor_exporters::json(&report)),
        Format::Table => print!("{}", netdoctor_exporters::table(&report, a.verbose)),
    }
    Ok(if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn rules_list(source: RuleSource, format: Format) -> anyhow::Result<ExitCode> {
    let rt = Runtime::default();
    let set = load_rules(&rt, &source);
    for e in &set.errors {
        eprintln!("error: {}: {}", e.source, e.message);
    }
    match format {
        Format::Json => {
            let v: Vec<_> = set.rules.iter().map(|r| &*r.meta).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            let w = set.rules.iter().map(|r| r.meta.id.len()).max().unwrap_or(2);
            println!("{:<w$}  {:<8}  {:<46}  SUMMARY", "ID", "SEVERITY", "SOURCE");
            for r in &set.rules {
                println!("{:<w$}  {:<8}  {:<46}  {}", r.meta.id, r.meta.severity.as_str(), r.meta.source, r.meta.summary);
            }
        }
    }
    Ok(if set.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn rules_check(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let rt = Runtime::default();
    let mut errors = Vec::new();
    let mut count = 0;
    for p in &paths {
        if p.is_file() {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            match rt.compile(&p.display().to_string(), &text) {
                Ok(_) => count += 1,
                Err(e) => errors.push(e),
            }
        } else {
            let set = rt.load(&[], &[p.as_path()]);
            count += set.rules.len();
            errors.extend(set.errors);
        }
    }
    for e in &errors {
        println!("{}: error: {}", e.source, e.message);
    }
    println!("{count} rules OK, {} errors", errors.len());
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
