//! The Rhai rule runtime: loading rule files, the sandbox, and evaluation
//! with per-rule isolation.
//!
//! A rule is one `.rhai` file holding a `const RULE = #{...}` metadata map and
//! a `fn evaluate(g)` that walks the graph and calls `g.finding(...)` /
//! `g.skip(...)`. Start at [`Runtime::new`], [`Runtime::load`] and
//! [`Runtime::evaluate`].

pub mod api;
pub mod docs;
pub mod lint;
pub mod output;

use crate::config::Effective;
use crate::finding::{Report, Severity, Stats};
use crate::graph::Graph;
use crate::source::SourceError;
use output::{Ctx, Output};
use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Position, Scope, AST};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Metadata keys a rule's `RULE` map may carry.
pub const META_KEYS: &[&str] = &["id", "severity", "summary", "remediation", "docs", "reads", "tags"];

/// A rule's declared metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    pub remediation: String,
    pub docs: Option<String>,
    /// The file it came from (`builtin:rules/<id>.rhai` for the embedded pack).
    pub source: String,
}

/// A compiled rule.
#[derive(Clone)]
pub struct Rule {
    pub meta: Arc<RuleMeta>,
    pub ast: Arc<AST>,
    /// The rule text (for hashing and `--explain`).
    pub text: Arc<str>,
}

/// Sandbox limits. On by default; rules never touch files or the network
/// (no module resolver, no `eval`, no I/O functions are registered).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operations one rule run may take.
    pub max_operations: u64,
    /// Wall-clock time one rule run may take.
    pub timeout: Duration,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            timeout: Duration::from_secs(10),
            max_call_levels: 48,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 4_000_000,
            max_map_size: 100_000,
        }
    }
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The last statement position the tracing engine stepped on.
    static LAST_POS: Cell<Position> = const { Cell::new(Position::NONE) };
    static PRINTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A rule set as loaded from the built-in pack and rule directories.
#[derive(Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub errors: Vec<SourceError>,
    pub notes: Vec<String>,
}

/// The Rhai engine with the rule API registered and the sandbox applied.
pub struct Runtime {
    engine: Engine,
    /// The same engine with a stepping debugger that records positions: a rule
    /// cut off by its budget is re-run here to tell where it was (Rhai drops the
    /// position of budget errors). Only failures pay for it.
    tracer: Engine,
    limits: Limits,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(Limits::default())
    }
}

/// `file:line:column` for a position in a rule file.
pub fn location(file: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
    }
}

/// The innermost error and its position (errors inside functions are wrapped).
fn innermost(e: &EvalAltResult) -> (String, Position) {
    match e {
        EvalAltResult::ErrorInFunctionCall(name, _, inner, pos) => {
            let (msg, p) = innermost(inner);
            if p.is_none() {
                (format!("in {name}: {msg}"), *pos)
            } else {
                (msg, p)
            }
        }
        EvalAltResult::ErrorTooManyOperations(pos) => ("exceeded its operations budget (a loop that never ends?); cut off".to_string(), *pos),
        EvalAltResult::ErrorTerminated(_, pos) => ("exceeded its time budget; cut off".to_string(), *pos),
        other => {
            let pos = other.position();
            let mut msg = other.to_string();
            // Rhai appends " (line L, position C)"; the location is printed separately.
            if let Some(i) = msg.rfind(" (line ") {
                msg.truncate(i);
            }
            (msg, pos)
        }
    }
}

impl Runtime {
    /// An engine with the rule API and the sandbox `limits`.
    pub fn new(limits: Limits) -> Runtime {
        let engine = Self::build_engine(limits);
        let mut tracer = Self::build_engine(limits);
        // The tracer also compiles for `rules check`: no optimisation, so a branch
        // that is constant-false still reaches the linter.
        tracer.set_optimization_level(rhai::OptimizationLevel::None);
        // Rhai marks the debugger API "volatile", not deprecated; it is pinned in Cargo.toml.
        #[allow(deprecated)]
        tracer.register_debugger(
            |_, dbg| dbg,
            |_, event, _, _, pos| {
                if matches!(event, rhai::debugger::DebuggerEvent::Step) && !pos.is_none() {
                    LAST_POS.with(|p| p.set(pos));
                }
                Ok(rhai::debugger::DebuggerCommand::StepInto)
            },
        );
        Runtime { engine, tracer, limits }
    }

    fn build_engine(limits: Limits) -> Engine {
        let mut engine = Engine::new();
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.set_strict_variables(true);
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.disable_symbol("eval");
        engine.on_progress(|ops| {
            if ops % 1024 != 0 {
                return None;
            }
            let expired = DEADLINE.with(|d| d.get().is_some_and(|d| Instant::now() > d));
            expired.then(|| Dynamic::from("timeout"))
        });
        engine.on_print(|s| PRINTED.with(|p| p.borrow_mut().push(s.to_string())));
        engine.on_debug(|s, _, pos| PRINTED.with(|p| p.borrow_mut().push(format!("{s} (line {})", pos.line().unwrap_or(0)))));
        api::register(&mut engine);
        engine
    }

    /// The engine (for `rules check` linting and documentation).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, for extending it (tests register extra functions here).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Sandbox limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles one rule file and reads its metadata. `file` is how errors name it.
    pub fn compile(&self, file: &str, text: &str) -> Result<Rule, SourceError> {
        self.compile_on(&self.engine, file, text)
    }

    /// Compiles without optimisation, keeping every branch in the AST (for linting).
    pub fn compile_unoptimised(&self, file: &str, text: &str) -> Result<Rule, SourceError> {
        self.compile_on(&self.tracer, file, text)
    }

    fn compile_on(&self, engine: &Engine, file: &str, text: &str) -> Result<Rule, SourceError> {
        let err = |pos: Position, msg: String| SourceError { source: location(file, pos), message: msg };
        let mut ast = engine.compile(text).map_err(|e| err(e.1, e.0.to_string()))?;
        ast.set_source(file);
        if !ast.iter_functions().any(|f| f.name == "evaluate" && f.params.len() == 1) {
            return Err(err(Position::NONE, "no `fn evaluate(g)` defined".to_string()));
        }
        // Run the top level (constants only, in practice) under the sandbox to read RULE.
        let mut scope = Scope::new();
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.timeout)));
        let run = self.engine.run_ast_with_scope(&mut scope, &ast);
        DEADLINE.with(|d| d.set(None));
        run.map_err(|e| {
            let (m, p) = innermost(&e);
            err(p, m)
        })?;
        let meta: Map = scope
            .get_value::<Map>("RULE")
            .ok_or_else(|| err(Position::new(1, 1), "no `const RULE = #{ id: ..., severity: ..., summary: ..., remediation: ... };` metadata".to_string()))?;
        let meta = parse_meta(&meta, file).map_err(|m| err(Position::NONE, m))?;
        Ok(Rule { meta: Arc::new(meta), ast: Arc::new(ast), text: Arc::from(text) })
    }

    /// Loads the built-in pack (`(file, text)` pairs) and then each directory in
    /// order. A later definition of an id replaces an earlier one with a note;
    /// the same id twice in one directory is an error. Broken rules are reported
    /// in `errors` and the rest load.
    pub fn load(&self, builtin: &[(&str, &str)], dirs: &[&Path]) -> RuleSet {
        let mut set = RuleSet::default();
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        let mut add_group = |set: &mut RuleSet, group: Vec<(String, String)>| {
            let mut seen_here: BTreeMap<String, String> = BTreeMap::new();
            for (file, text) in group {
                let rule = match self.compile(&file, &text) {
                    Ok(r) => r,
                    Err(e) => {
                        set.errors.push(e);
                        continue;
                    }
                };
                let id = rule.meta.id.clone();
                if let Some(first) = seen_here.get(&id) {
                    set.errors.push(SourceError { source: file.clone(), message: format!("duplicate rule id {id:?}: already defined in {first}") });
                    continue;
                }
                seen_here.insert(id.clone(), file.clone());
                match by_id.get(&id) {
                    Some(&i) => {
                        set.notes.push(format!("rule {id}: {file} replaces {}", set.rules[i].meta.source));
                        set.rules[i] = rule;
                    }
                    None => {
                        by_id.insert(id, set.rules.len());
                        set.rules.push(rule);
                    }
                }
            }
        };
        add_group(&mut set, builtin.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect());
        for dir in dirs {
            match read_rule_dir(dir) {
                Ok(group) => add_group(&mut set, group),
                Err(e) => set.errors.push(e),
            }
        }
        set.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        set
    }

    /// Runs one rule against the graph in isolation: an error, panic, or
    /// exhausted budget is returned as an error naming file:line:column, and
    /// whatever the rule emitted before that is discarded.
    pub fn run_rule(&self, rule: &Rule, graph: &Arc<Graph>, params: &Arc<Map>) -> Result<Output, SourceError> {
        match self.run_rule_on(&self.engine, rule, graph, params) {
            Err((e, true)) => {
                // Budget exhausted: Rhai reports no position. Re-run with the tracer to find it.
                LAST_POS.with(|p| p.set(Position::NONE));
                let traced = self.run_rule_on(&self.tracer, rule, graph, params);
                let pos = LAST_POS.with(|p| p.get());
                Err(match traced {
                    Err((mut e2, true)) if !pos.is_none() => {
                        e2.source = location(&rule.meta.source, pos);
                        e2
                    }
                    _ => e,
                })
            }
            other => other.map_err(|(e, _)| e),
        }
    }

    /// Runs a rule on `engine`; the error flag says whether a budget was exhausted.
    fn run_rule_on(&self, engine: &Engine, rule: &Rule, graph: &Arc<Graph>, params: &Arc<Map>) -> Result<Output, (SourceError, bool)> {
        let out = Arc::new(Mutex::new(Output::default()));
        let ctx = Ctx { g: graph.clone(), rule: rule.meta.clone(), out: out.clone(), params: params.clone() };
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.timeout)));
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut scope = Scope::new();
            engine.call_fn_with_options::<Dynamic>(CallFnOptions::new().eval_ast(false), &mut scope, &rule.ast, "evaluate", (ctx,))
        }));
        DEADLINE.with(|d| d.set(None));
        let file = &rule.meta.source;
        match result {
            Ok(Ok(_)) => Ok(std::mem::take(&mut *out.lock().unwrap_or_else(|p| p.into_inner()))),
            Ok(Err(e)) => {
                let budget = matches!(*e, EvalAltResult::ErrorTooManyOperations(_) | EvalAltResult::ErrorTerminated(..));
                let (mut msg, pos) = innermost(&e);
                if let Some(hint) = getter_hint(engine, &msg) {
                    msg.push_str(&hint);
                }
                Err((SourceError { source: location(file, pos), message: format!("rule {}: {msg}", rule.meta.id) }, budget))
            }
            Err(panic) => {
                let what = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                Err((SourceError { source: file.clone(), message: format!("rule {}: panicked: {what}", rule.meta.id) }, false))
            }
        }
    }

    /// Evaluates every enabled rule of `set` against `graph`, applying the
    /// config's params, severity overrides and exclusions. Source errors and
    /// notes of the graph and the rule set are carried into the report.
    pub fn evaluate(&self, set: &RuleSet, graph: &Arc<Graph>, cfg: &Effective) -> Report {
        let started = Instant::now();
        let mut report = Report::default();
        let empty = Arc::new(Map::new());
        let mut ran = 0;
        for rule in &set.rules {
            if cfg.disabled.contains(&rule.meta.id) {
                continue;
            }
            ran += 1;
            let p = cfg.params.get(&rule.meta.id).map(|m| Arc::new(m.clone())).unwrap_or_else(|| empty.clone());
            let t = Instant::now();
            let result = self.run_rule(rule, graph, &p);
            report.timings.push((rule.meta.id.clone(), t.elapsed().as_secs_f64(), result.is_err()));
            match result {
                Ok(out) => {
                    report.findings.extend(out.findings);
                    report.skipped.extend(out.skipped);
                }
                Err(e) => report.errors.push(e),
            }
            for line in PRINTED.with(|p| std::mem::take(&mut *p.borrow_mut())) {
                report.notes.push(format!("rule {} printed: {line}", rule.meta.id));
            }
        }
        let excluded = cfg.apply(&mut report.findings);
        if excluded > 0 {
            report.notes.push(format!("{excluded} finding(s) excluded by config"));
        }
        if !cfg.disabled.is_empty() {
            report.notes.push(format!("disabled by config: {}", cfg.disabled.join(", ")));
        }
        report.errors.extend(graph.errors().iter().cloned());
        report.errors.extend(set.errors.iter().cloned());
        report.notes.extend(graph.notes().iter().cloned());
        report.notes.extend(set.notes.iter().cloned());
        report.stats = Stats { rules: ran, facts: serde_json::Value::Object(graph.fact_counts().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()), duration_ms: started.elapsed().as_secs_f64() * 1000.0 };
        report.normalise();
        report
    }

    /// Runs one rule while recording the facts it reads, for `eval --explain`.
    pub fn explain(&self, rule: &Rule, graph: &Arc<Graph>, cfg: &Effective) -> Explanation {
        let p = Arc::new(cfg.params.get(&rule.meta.id).cloned().unwrap_or_default());
        api::start_trace();
        let result = self.run_rule(rule, graph, &p);
        let reads = api::take_trace();
        PRINTED.with(|p| p.borrow_mut().clear());
        let result = result.map(|mut out| {
            cfg.apply(&mut out.findings);
            out
        });
        Explanation { reads, result }
    }
}

/// What `--explain` shows for one rule: the facts read per subject, and the outcome.
pub struct Explanation {
    /// (subject label, "call → answer"), in the order the rule read them.
    pub reads: Vec<(String, String)>,
    pub result: Result<Output, SourceError>,
}

/// For "Unknown property 'nmae' - a getter is not registered for type 'Host'",
/// the nearest getter the type has: " (did you mean `name`?)".
fn getter_hint(engine: &Engine, msg: &str) -> Option<String> {
    let prop = msg.strip_prefix("Unknown property '")?.split('\'').next()?;
    let ty = msg.rsplit("for type '").next()?.trim_end_matches('\'');
    let sigs = engine.gen_fn_signatures(false);
    let getters: Vec<&str> = sigs
        .iter()
        .filter(|s| s.contains(&format!("(_: &mut {ty})")))
        .filter_map(|s| s.strip_prefix("get$")?.split('(').next())
        .collect();
    let near = crate::config::nearest(prop, getters.iter().copied())?;
    Some(format!(" (did you mean `{near}`?)"))
}

fn parse_meta(m: &Map, file: &str) -> Result<RuleMeta, String> {
    if let Some(k) = m.keys().find(|k| !META_KEYS.contains(&k.as_str())) {
        return Err(format!("RULE has unknown field `{k}` (known: {})", META_KEYS.join(", ")));
    }
    let get = |k: &str| -> Result<Option<String>, String> {
        match m.get(k) {
            None => Ok(None),
            Some(d) => d.clone().into_string().map(Some).map_err(|t| format!("RULE.{k} must be a string, got {t}")),
        }
    };
    let need = |k: &str| get(k).and_then(|v| v.ok_or_else(|| format!("RULE needs `{k}`")));
    let id = need("id")?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(format!("RULE.id {id:?} must be lowercase letters, digits and dashes"));
    }
    let sev = need("severity")?;
    let severity = Severity::parse(&sev).ok_or_else(|| format!("RULE.severity must be info, warning or critical, got {sev:?}"))?;
    Ok(RuleMeta { id, severity, summary: need("summary")?, remediation: need("remediation")?, docs: get("docs")?, source: file.to_string() })
}

/// Reads every `*.rhai` file of a directory, sorted by name.
fn read_rule_dir(dir: &Path) -> Result<Vec<(String, String)>, SourceError> {
    let err = |m: String| SourceError { source: dir.display().to_string(), message: m };
    let entries = std::fs::read_dir(dir).map_err(|e| err(format!("reading rule directory: {e}")))?;
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "rhai")).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => out.push((f.display().to_string(), t)),
            Err(e) => return Err(SourceError { source: f.display().to_string(), message: format!("reading rule: {e}") }),
        }
    }
    Ok(out)
}
