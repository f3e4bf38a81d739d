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
pub mod meta;
pub mod output;
pub mod sandbox;

use crate::config::Effective;
use crate::finding::{Report, Stats};
use crate::graph::Graph;
use crate::source::SourceError;
pub use meta::{ParamSpec, ParamType, RuleMeta, META_KEYS};
use output::{Ctx, Output};
use rhai::{CallFnOptions, Dynamic, Engine, Map, Position, Scope, AST};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A compiled rule.
#[derive(Clone)]
pub struct Rule {
    pub meta: Arc<RuleMeta>,
    /// The optimised AST that runs.
    pub ast: Arc<AST>,
    /// The rule text (for hashing and `--explain`).
    pub text: Arc<str>,
}

/// A compiled rule and the unoptimised AST the linter walks (every branch kept).
pub struct Compiled {
    pub rule: Rule,
    pub unoptimised: AST,
}

/// Sandbox limits. On by default; rules never touch files or the network
/// (no module resolver, no `eval`, no I/O functions are registered) and cannot
/// block (`sleep` is removed).
///
/// The operations budget is the limit a rule meets: it is deterministic, so the
/// same rule on the same facts is cut off at the same line every time. The
/// wall-clock `timeout` is only a safety net for native calls that are slow per
/// operation, set well above what the operations budget takes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operations one step may take (the top level of a rule file when it loads, or one `evaluate`).
    pub max_operations: u64,
    /// Wall-clock safety net of one step.
    pub timeout: Duration,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Bytes of one rule file.
    pub max_file_size: usize,
    /// Tokens of one rule file.
    pub max_tokens: usize,
    /// `let` / `const` declarations in one rule file (Rhai's parser slows with tokens × declarations).
    pub max_declarations: usize,
    /// Wall-clock safety net for parsing one file.
    pub compile_timeout: Duration,
    /// Lines one rule may `print` / `debug` per run; further lines are counted, not kept.
    pub max_printed_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            timeout: Duration::from_secs(30),
            max_call_levels: 48,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 4_000_000,
            max_map_size: 100_000,
            max_file_size: 1 << 20,
            max_tokens: 100_000,
            max_declarations: 1_000,
            compile_timeout: Duration::from_secs(2),
            max_printed_lines: 100,
        }
    }
}

/// A rule set as loaded from the built-in pack and rule directories.
#[derive(Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub errors: Vec<SourceError>,
    pub notes: Vec<String>,
}

impl RuleSet {
    /// Adds one group of compiled files (the pack, or one directory), in order:
    /// a file that failed is one error; a later definition of an id replaces an
    /// earlier group's with a note; the same id twice within the group is an
    /// error. `by_id` indexes `rules` across the groups added so far. What
    /// [`Runtime::load`] does after compiling, and what `serve` does with the
    /// rules it keeps per file across reloads.
    pub fn add_group(&mut self, by_id: &mut BTreeMap<String, usize>, group: Vec<(String, Result<Rule, SourceError>)>) {
        let mut seen_here: BTreeMap<String, String> = BTreeMap::new();
        for (file, rule) in group {
            let rule = match rule {
                Ok(r) => r,
                Err(e) => {
                    self.errors.push(e);
                    continue;
                }
            };
            let id = rule.meta.id.clone();
            if let Some(first) = seen_here.get(&id) {
                self.errors.push(SourceError { source: file.clone(), message: format!("duplicate rule id {id:?}: already defined in {first}") });
                continue;
            }
            seen_here.insert(id.clone(), file.clone());
            match by_id.get(&id) {
                Some(&i) => {
                    self.notes.push(format!("rule {id}: {file} replaces {}", self.rules[i].meta.source));
                    self.rules[i] = rule;
                }
                None => {
                    by_id.insert(id, self.rules.len());
                    self.rules.push(rule);
                }
            }
        }
    }
}

/// One rule file as read from disk: its name and its text, or why it could not be read.
pub type RuleFile = (String, Result<String, SourceError>);

/// The Rhai engine with the rule API registered and the sandbox applied.
pub struct Runtime {
    sandbox: sandbox::Sandbox,
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

impl Runtime {
    /// An engine with the rule API and the sandbox `limits`.
    pub fn new(limits: Limits) -> Runtime {
        let sandbox = sandbox::Sandbox::new(limits, |engine| {
            api::register(engine);
            engine.register_fn("param", |c: &mut Ctx, name: &str| meta::param(c, name, None));
        });
        Runtime { sandbox, limits }
    }

    /// The engine (for `rules check` linting and documentation).
    pub fn engine(&self) -> &Engine {
        &self.sandbox.engine
    }

    /// The engine that runs rules, for extending it (prefer [`Runtime::extend`]).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.sandbox.engine
    }

    /// Registers more functions on the engines (the running one and its replay twin).
    pub fn extend(&mut self, register: impl Fn(&mut Engine)) {
        self.sandbox.extend(register);
    }

    /// Sandbox limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles one rule file and reads its metadata. `file` is how errors name it.
    pub fn compile(&self, file: &str, text: &str) -> Result<Rule, SourceError> {
        self.compile_full(file, text).map(|c| c.rule)
    }

    /// Compiles one rule file under the compile bounds, runs its top level (once,
    /// under the sandbox and the operations budget) and reads its metadata.
    pub fn compile_full(&self, file: &str, text: &str) -> Result<Compiled, SourceError> {
        let err = |pos: Position, msg: String| SourceError { source: location(file, pos), message: msg };
        if text.len() > self.limits.max_file_size {
            return Err(err(Position::NONE, format!("rule file too large: {} bytes (at most {})", text.len(), self.limits.max_file_size)));
        }
        let mut ast = sandbox::parse(self.engine(), &self.limits, text).map_err(|f| err(f.pos, f.message))?;
        ast.set_source(file);
        if !ast.iter_functions().any(|f| f.name == "evaluate" && f.params.len() == 1) {
            return Err(err(Position::NONE, "no `fn evaluate(g)` defined".to_string()));
        }
        // The top level (constants, in practice) runs under the same sandbox as `evaluate`.
        let top = self.sandbox.run(|engine| {
            let mut scope = Scope::new();
            engine.run_ast_with_scope(&mut scope, &ast).map(|()| scope)
        });
        sandbox::take_printed();
        let scope = top.map_err(|f| err(cut_off_pos(&f, &ast), format!("at the top level: {}", f.message)))?;
        let meta: Map = scope.get_value::<Map>("RULE").ok_or_else(|| {
            err(meta::locate(&ast, &[]), "no `const RULE = #{ id: ..., severity: ..., summary: ..., remediation: ... };` metadata".to_string())
        })?;
        let mut meta = meta::parse(&meta, file).map_err(|(m, path)| err(meta::locate(&ast, &path.iter().map(String::as_str).collect::<Vec<_>>()), m))?;
        meta::infer_params(&mut meta, &ast);
        let optimised = sandbox::quiet(|| self.engine().optimize_ast(&Scope::new(), ast.clone(), rhai::OptimizationLevel::Simple))
            .map_err(|m| err(Position::NONE, format!("optimising: {m}")))?;
        let mut optimised = optimised;
        optimised.set_source(file);
        let rule = Rule { meta: Arc::new(meta), ast: Arc::new(optimised), text: Arc::from(text) };
        Ok(Compiled { rule, unoptimised: ast })
    }

    /// Reads a rule file: at most `max_file_size` bytes of a regular file, UTF-8.
    pub fn read_rule_file(&self, path: &Path) -> Result<String, SourceError> {
        read_rule_file(path, self.limits.max_file_size)
    }

    /// Reads every `*.rhai` entry of a directory, sorted by name; each one that
    /// cannot be read is its own error.
    pub fn read_rule_dir(&self, dir: &Path) -> Result<Vec<RuleFile>, SourceError> {
        let err = |m: String| SourceError { source: dir.display().to_string(), message: m };
        let entries = std::fs::read_dir(dir).map_err(|e| err(format!("reading rule directory: {e}")))?;
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "rhai")).collect();
        files.sort();
        Ok(files.into_iter().map(|f| (f.display().to_string(), self.read_rule_file(&f))).collect())
    }

    /// Loads the built-in pack (`(file, text)` pairs) and then each directory in
    /// order. Every file compiles on its own: a broken or unreadable file is one
    /// error in `errors` and every other rule loads. A later definition of an id
    /// replaces an earlier one with a note; the same id twice in one directory is
    /// an error.
    pub fn load(&self, builtin: &[(&str, &str)], dirs: &[&Path]) -> RuleSet {
        let mut set = RuleSet::default();
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        let builtin: Vec<RuleFile> = builtin.iter().map(|(f, t)| (f.to_string(), Ok(t.to_string()))).collect();
        self.add_group(&mut set, &mut by_id, builtin, |_, _| {});
        for dir in dirs {
            match self.read_rule_dir(dir) {
                Ok(group) => self.add_group(&mut set, &mut by_id, group, |_, _| {}),
                Err(e) => set.errors.push(e),
            }
        }
        set.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        set
    }

    /// Compiles one group of files (the pack, or one directory) into `set`;
    /// `each` sees every compiled file first and may add errors (the linter does).
    pub(crate) fn add_group(
        &self,
        set: &mut RuleSet,
        by_id: &mut BTreeMap<String, usize>,
        group: Vec<RuleFile>,
        mut each: impl FnMut(&Compiled, &mut Vec<SourceError>),
    ) {
        let compiled: Vec<(String, Result<Rule, SourceError>)> = group
            .into_iter()
            .map(|(file, text)| {
                let rule = text.and_then(|t| self.compile_full(&file, &t)).map(|c| {
                    each(&c, &mut set.errors);
                    c.rule
                });
                (file, rule)
            })
            .collect();
        set.add_group(by_id, compiled);
    }

    /// Runs one rule against the graph in isolation: an error, panic, or
    /// exhausted budget is returned as an error naming file:line:column (for a
    /// budget, the line where it ran out), and whatever the rule emitted before
    /// that is discarded. Nothing is re-run: a cut-off rule costs its budget once.
    pub fn run_rule(&self, rule: &Rule, graph: &Arc<Graph>, params: &Arc<Map>) -> Result<Output, SourceError> {
        sandbox::set_print_cap(self.limits.max_printed_lines);
        let result = self.sandbox.run(|engine| {
            let out = Arc::new(Mutex::new(Output::default()));
            let ctx = Ctx { g: graph.clone(), rule: rule.meta.clone(), out: out.clone(), params: params.clone() };
            let mut scope = Scope::new();
            let _: Dynamic = engine.call_fn_with_options(CallFnOptions::new().eval_ast(false), &mut scope, &rule.ast, "evaluate", (ctx,))?;
            let taken = std::mem::take(&mut *out.lock().unwrap_or_else(|p| p.into_inner()));
            Ok(taken)
        });
        match result {
            Ok(out) => Ok(out),
            Err(f) => {
                let pos = cut_off_pos(&f, &rule.ast);
                let mut msg = f.message;
                if let Some(hint) = getter_hint(self.engine(), &msg) {
                    msg.push_str(&hint);
                }
                Err(SourceError { source: location(&rule.meta.source, pos), message: format!("rule {}: {msg}", rule.meta.id) })
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
            let (printed, dropped) = sandbox::take_printed();
            for line in printed {
                report.notes.push(format!("rule {} printed: {line}", rule.meta.id));
            }
            if dropped > 0 {
                report.notes.push(format!(
                    "rule {} printed {dropped} more line(s), not kept (at most {} per rule per run)",
                    rule.meta.id, self.limits.max_printed_lines
                ));
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
        report.stats = Stats {
            rules: ran,
            facts: serde_json::Value::Object(graph.fact_counts().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        report.normalise();
        report
    }

    /// Runs one rule while recording the facts it reads, for `eval --explain`.
    pub fn explain(&self, rule: &Rule, graph: &Arc<Graph>, cfg: &Effective) -> Explanation {
        let p = Arc::new(cfg.params.get(&rule.meta.id).cloned().unwrap_or_default());
        api::start_trace();
        let result = self.run_rule(rule, graph, &p);
        let reads = api::take_trace();
        sandbox::take_printed();
        let result = result.map(|mut out| {
            cfg.apply(&mut out.findings);
            out
        });
        Explanation { reads, result }
    }
}

/// The position of a failure; for a cut-off Rhai could not place (no variable
/// was read after the budget ran out), the loop it must have been in.
fn cut_off_pos(f: &sandbox::Failure, ast: &AST) -> Position {
    if f.pos.is_none() && f.cut_off {
        lint::silent_loop(ast)
    } else {
        f.pos
    }
}

/// Reads a rule file: a regular file (not a directory, FIFO or device) of at most
/// `max` bytes, in UTF-8. Each way it can fail is one error naming the file.
fn read_rule_file(path: &Path, max: usize) -> Result<String, SourceError> {
    let name = path.display().to_string();
    let err = |m: String| SourceError { source: name.clone(), message: m };
    let md = std::fs::metadata(path).map_err(|e| {
        let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        err(if dangling { format!("reading rule: {e} (a symbolic link to a missing file)") } else { format!("reading rule: {e}") })
    })?;
    if md.is_dir() {
        return Err(err("a directory, not a rule file (a rule is one .rhai file)".to_string()));
    }
    if !md.is_file() {
        return Err(err("not a regular file (a FIFO, socket or device is never read as a rule)".to_string()));
    }
    if md.len() > max as u64 {
        return Err(err(format!("rule file too large: {} bytes (at most {max})", md.len())));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(max as u64 + 1).read_to_end(&mut bytes)).map_err(|e| err(format!("reading rule: {e}")))?;
    if bytes.len() > max {
        return Err(err(format!("rule file too large: more than {max} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let b = e.as_bytes();
        let line = b[..at].iter().filter(|c| **c == b'\n').count() + 1;
        let col = at - b[..at].iter().rposition(|c| *c == b'\n').map_or(0, |i| i + 1) + 1;
        SourceError { source: format!("{name}:{line}:{col}"), message: format!("not UTF-8 text (byte 0x{:02x}); save the rule file as UTF-8", b[at]) }
    })
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
    if let Some(rest) = msg.strip_prefix("Function not found: ") {
        let name = rest.split([' ', '(']).next()?;
        let sigs = engine.gen_fn_signatures(false);
        if sigs.iter().any(|s| s.starts_with(&format!("get${name}("))) {
            return Some(format!(" (`{name}` is a property, not a method: write `.{name}` without `()`)"));
        }
        return None;
    }
    let prop = msg.strip_prefix("Unknown property '")?.split('\'').next()?;
    let ty = msg.rsplit("for type '").next()?.trim_end_matches('\'');
    let sigs = engine.gen_fn_signatures(false);
    let getters: Vec<&str> = sigs.iter().filter(|s| s.contains(&format!("(_: &mut {ty})"))).filter_map(|s| s.strip_prefix("get$")?.split('(').next()).collect();
    let near = crate::config::nearest(prop, getters.iter().copied())?;
    Some(format!(" (did you mean `{near}`?)"))
}
