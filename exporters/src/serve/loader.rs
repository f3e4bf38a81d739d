//! Rule and config loading for `serve`, file by file, so that a reload never
//! loses the last good rule set. Start at [`Loader::new`] (the start-up load)
//! and [`Loader::reload`].
//!
//! Every `--rules` directory is read again on each reload; a file whose text
//! did not change keeps its compiled rule, a changed one is compiled. A file
//! that fails to compile (or to be read) keeps its previous version running
//! and is reported; a file that is gone drops its rule. The built-in pack is
//! compiled once. The config (`--config`) is parsed and validated against the
//! new rule set; a bad one keeps the previous one, reported like a rule
//! failure. Everything is compiled before the new [`Loaded`] replaces the old
//! one, as Vector swaps a config only once it is valid.

use crate::evaluation::{Problem, RuleInfo};
use netdoctor_engine::config::{Config, Effective};
use netdoctor_engine::runtime::{Limits, Rule, RuleSet, Runtime};
use netdoctor_engine::SourceError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the rules and the config come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The built-in pack, `(file, text)`: compiled once, never reloaded.
    pub builtin: Vec<(String, String)>,
    /// `--rules` directories, in order (a later one's id replaces an earlier one's).
    pub dirs: Vec<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
}

/// One loaded rule set with its config: what an evaluation runs. Immutable;
/// a reload builds a new one.
pub struct Loaded {
    /// The rules (sorted by id); `errors` holds the files that failed to load
    /// (those with a previous version keep it in `rules`).
    pub set: RuleSet,
    /// The validated config.
    pub effective: Effective,
    /// The enabled rules, as the exporters show them (config severities applied).
    pub rules: Vec<RuleInfo>,
}

impl Loaded {
    fn new(set: RuleSet, effective: Effective) -> Loaded {
        let rules = set.rules.iter().filter(|r| !effective.disabled.contains(&r.meta.id)).map(|r| RuleInfo::of(r, &effective)).collect();
        Loaded { set, effective, rules }
    }
}

/// What one load did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether any rule file or the config differs from the previous load
    /// (always true for the start-up load).
    pub changed: bool,
    /// Every file compiled and the config is valid.
    pub successful: bool,
    /// What failed, `file:line:column` first.
    pub errors: Vec<Problem>,
}

/// What is known of one rule file.
struct FileState {
    /// The text last read (`None`: it could not be read).
    text: Option<Arc<str>>,
    /// The last version that compiled.
    good: Option<Rule>,
    /// Why the last text did not load.
    error: Option<SourceError>,
}

/// The last config text read, and the last one that was valid.
#[derive(Default)]
struct ConfigState {
    seen: Option<String>,
    good: Option<Config>,
}

/// Keeps the rule files and the config, and reloads them.
pub struct Loader {
    sources: Sources,
    runtime: Runtime,
    limits: Limits,
    builtin: Vec<(String, Result<Rule, SourceError>)>,
    /// Per `--rules` directory: file path → state.
    dirs: Vec<BTreeMap<String, FileState>>,
    config: ConfigState,
    current: Arc<Loaded>,
}

/// How a rule file names itself in errors and `source` labels.
fn problem(e: &SourceError) -> Problem {
    Problem { location: e.source.clone(), message: e.message.clone() }
}

impl Loader {
    /// The start-up load. Rule files that fail are reported in the outcome (and
    /// in the set's errors) and the rest run; an unreadable or invalid config
    /// is an error, since there is no previous one to keep.
    pub fn new(sources: Sources) -> Result<(Loader, Outcome), String> {
        let (config, limits) = match &sources.config {
            None => (ConfigState::default(), Limits::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let cfg = parse_config(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                let limits = cfg.limits().map_err(|e| format!("{}: {e}", path.display()))?;
                (ConfigState { seen: Some(text), good: Some(cfg) }, limits)
            }
        };
        let runtime = Runtime::new(limits);
        let builtin = compile_builtin(&runtime, &sources.builtin);
        let dirs = sources.dirs.iter().map(|_| BTreeMap::new()).collect();
        let mut loader = Loader { sources, runtime, limits, builtin, dirs, config, current: Arc::new(Loaded::new(RuleSet::default(), Effective::default())) };
        loader.read_dirs();
        let (set, mut errors) = loader.assemble();
        let effective = match &loader.config.good {
            None => Effective::default(),
            Some(cfg) => cfg.validate(&set).map_err(|es| {
                let path = loader.sources.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                format!("{path}: {}", es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
            })?,
        };
        errors.sort_by(|a, b| a.location.cmp(&b.location));
        loader.current = Arc::new(Loaded::new(set, effective));
        Ok((loader, Outcome { changed: true, successful: errors.is_empty(), errors }))
    }

    /// The rule set and config in force.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.clone()
    }

    /// The runtime the rules run on (its limits come from the config).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Reads every rule directory and the config again and swaps in what
    /// loads; see the module doc for what is kept when something fails.
    pub fn reload(&mut self) -> Outcome {
        let mut errors = Vec::new();
        let mut changed = false;
        // The config: a new text is parsed now and validated against the new rules below.
        let mut candidate: Option<Config> = None;
        if let Some(path) = &self.sources.config {
            let at = path.display().to_string();
            match std::fs::read_to_string(path) {
                Err(e) => errors.push(Problem { location: at, message: format!("reading the config: {e}; keeping the previous config") }),
                Ok(text) => {
                    if self.config.seen.as_deref() != Some(text.as_str()) {
                        changed = true;
                    }
                    match parse_config(&text) {
                        Ok(cfg) => candidate = Some(cfg),
                        Err(e) => errors.push(Problem { location: at, message: format!("{e}; keeping the previous config") }),
                    }
                    self.config.seen = Some(text);
                }
            }
        }
        changed |= self.read_dirs();
        let (mut set, rule_errors) = self.assemble();
        errors.extend(rule_errors);
        let mut effective = self.current.effective.clone();
        if let Some(cfg) = candidate {
            match cfg
                .validate(&set)
                .map_err(|es| es.into_iter().map(|e| e.0).collect::<Vec<_>>())
                .and_then(|eff| cfg.limits().map(|l| (eff, l)).map_err(|e| vec![e.0]))
            {
                Ok((eff, limits)) => {
                    effective = eff;
                    self.config.good = Some(cfg);
                    if limits_differ(&limits, &self.limits) {
                        // New budgets: every rule compiles again under them.
                        self.runtime = Runtime::new(limits);
                        self.limits = limits;
                        self.builtin = compile_builtin(&self.runtime, &self.sources.builtin);
                        for dir in &mut self.dirs {
                            dir.clear();
                        }
                        self.read_dirs();
                        let (again, rule_errors) = self.assemble();
                        set = again;
                        errors.retain(|p| Some(&p.location) == self.sources.config.as_ref().map(|c| c.display().to_string()).as_ref());
                        errors.extend(rule_errors);
                    }
                }
                Err(es) => {
                    let at = self.sources.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                    errors.extend(es.into_iter().map(|message| Problem { location: at.clone(), message: format!("{message}; keeping the previous config") }));
                }
            }
        }
        errors.sort_by(|a, b| a.location.cmp(&b.location));
        errors.dedup();
        self.current = Arc::new(Loaded::new(set, effective));
        Outcome { changed, successful: errors.is_empty(), errors }
    }

    /// Reads every directory, compiling the files whose text changed; true when
    /// a file was added, removed or changed. A directory that cannot be read
    /// keeps its previous files.
    fn read_dirs(&mut self) -> bool {
        let mut changed = false;
        for (i, dir) in self.sources.dirs.iter().enumerate() {
            let files = match self.runtime.read_rule_dir(dir) {
                Ok(files) => files,
                Err(_) if !self.dirs[i].is_empty() => continue,
                Err(e) => {
                    // Reported by assemble() as the directory's own entry.
                    let mut m = BTreeMap::new();
                    m.insert(e.source.clone(), FileState { text: None, good: None, error: Some(e) });
                    changed |= self.dirs[i].len() != m.len();
                    self.dirs[i] = m;
                    continue;
                }
            };
            let mut next = BTreeMap::new();
            let old = &mut self.dirs[i];
            for (file, text) in files {
                let prev = old.remove(&file);
                let state = match (text, prev) {
                    (Ok(text), Some(p)) if p.text.as_deref() == Some(text.as_str()) => p,
                    (Ok(text), prev) => {
                        changed = true;
                        let good = prev.and_then(|p| p.good);
                        match self.runtime.compile(&file, &text) {
                            Ok(rule) => FileState { text: Some(Arc::from(text)), good: Some(rule), error: None },
                            Err(e) => FileState { text: Some(Arc::from(text)), good, error: Some(e) },
                        }
                    }
                    (Err(e), prev) => {
                        changed |= prev.as_ref().is_none_or(|p| p.text.is_some() || p.error.as_ref() != Some(&e));
                        FileState { text: None, good: prev.and_then(|p| p.good), error: Some(e) }
                    }
                };
                next.insert(file, state);
            }
            // What is left in `old` was removed from the directory.
            changed |= !old.is_empty();
            *old = next;
        }
        changed
    }

    /// The rule set from the pack and the directories' files: the last good
    /// version of each file, its error reported when the current text failed.
    /// The set's errors are the load's errors.
    fn assemble(&self) -> (RuleSet, Vec<Problem>) {
        let mut set = RuleSet::default();
        let mut by_id = BTreeMap::new();
        let mut kept = Vec::new();
        set.add_group(&mut by_id, self.builtin.clone());
        for dir in &self.dirs {
            let mut group = Vec::new();
            for (file, st) in dir {
                match (&st.good, &st.error) {
                    (Some(rule), error) => {
                        if let Some(e) = error {
                            kept.push(SourceError { source: e.source.clone(), message: format!("{}; the previous version keeps running", e.message) });
                        }
                        group.push((file.clone(), Ok(rule.clone())));
                    }
                    (None, Some(e)) => group.push((file.clone(), Err(e.clone()))),
                    (None, None) => {}
                }
            }
            set.add_group(&mut by_id, group);
        }
        set.errors.extend(kept);
        set.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        let errors = set.errors.iter().map(problem).collect();
        (set, errors)
    }
}

fn compile_builtin(rt: &Runtime, builtin: &[(String, String)]) -> Vec<(String, Result<Rule, SourceError>)> {
    builtin.iter().map(|(f, t)| (f.clone(), rt.compile(f, t))).collect()
}

/// Parses a config file's YAML (`Config` refuses unknown keys).
pub fn parse_config(text: &str) -> Result<Config, String> {
    // An empty file is an empty config.
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

fn limits_differ(a: &Limits, b: &Limits) -> bool {
    a.max_operations != b.max_operations || a.timeout != b.timeout || a.max_printed_lines != b.max_printed_lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, summary: &str) -> String {
        format!("const RULE = #{{ id: \"{id}\", severity: \"warning\", summary: \"{summary}\", remediation: \"r\" }};\nfn evaluate(g) {{}}\n")
    }

    fn summaries(l: &Loader) -> Vec<(String, String)> {
        l.current().set.rules.iter().map(|r| (r.meta.id.clone(), r.meta.summary.clone())).collect()
    }

    #[test]
    fn a_broken_file_keeps_its_previous_version_and_a_removed_one_goes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.rhai"), dir.path().join("b.rhai"));
        std::fs::write(&a, rule("a", "a1")).unwrap();
        std::fs::write(&b, rule("b", "b1")).unwrap();
        let (mut l, o) =
            Loader::new(Sources { builtin: vec![("builtin:x.rhai".into(), rule("x", "x1"))], dirs: vec![dir.path().into()], config: None }).unwrap();
        assert!(o.successful && o.changed);
        assert_eq!(l.reload(), Outcome { changed: false, successful: true, errors: vec![] });

        std::fs::write(&a, "fn evaluate(g) {").unwrap();
        std::fs::write(&b, rule("b", "b2")).unwrap();
        let o = l.reload();
        assert!(o.changed && !o.successful);
        assert_eq!(o.errors.len(), 1);
        assert!(o.errors[0].location.starts_with(&format!("{}:", a.display())) && o.errors[0].message.ends_with("the previous version keeps running"), "{o:?}");
        assert_eq!(summaries(&l), [("a".into(), "a1".into()), ("b".into(), "b2".into()), ("x".into(), "x1".into())]);
        assert_eq!(l.current().set.errors.len(), 1, "the report shows the failure too");

        std::fs::remove_file(&a).unwrap();
        let o = l.reload();
        assert!(o.changed && o.successful);
        assert_eq!(summaries(&l), [("b".into(), "b2".into()), ("x".into(), "x1".into())]);
    }

    #[test]
    fn ids_replace_the_pack_and_twice_in_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rhai"), rule("x", "mine")).unwrap();
        std::fs::write(dir.path().join("b.rhai"), rule("x", "again")).unwrap();
        let (l, o) = Loader::new(Sources { builtin: vec![("builtin:x.rhai".into(), rule("x", "pack"))], dirs: vec![dir.path().into()], config: None }).unwrap();
        assert_eq!(summaries(&l), [("x".into(), "mine".into())]);
        assert!(!o.successful && o.errors[0].message.starts_with("duplicate rule id \"x\""), "{o:?}");
        assert!(l.current().set.notes[0].contains("replaces builtin:x.rhai"));
    }

    #[test]
    fn a_config_is_validated_and_new_limits_recompile_everything() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("a.rhai"), rule("a", "a")).unwrap();
        let cfg = dir.path().join("c.yaml");
        std::fs::write(&cfg, "rules:\n  a:\n    severity: critical\n").unwrap();
        let sources = Sources { builtin: vec![], dirs: vec![rules], config: Some(cfg.clone()) };
        let (mut l, _) = Loader::new(sources.clone()).unwrap();
        assert_eq!(l.current().rules[0].severity.as_str(), "critical");

        std::fs::write(&cfg, "rules:\n  nope:\n    enabled: false\n").unwrap();
        let o = l.reload();
        assert!(o.changed && !o.successful && o.errors[0].message.contains("no loaded rule has this id"), "{o:?}");
        assert_eq!(l.current().rules[0].severity.as_str(), "critical", "the previous config stays");

        std::fs::write(&cfg, "limits:\n  max_operations: 1234\n").unwrap();
        let o = l.reload();
        assert!(o.successful, "{o:?}");
        assert_eq!(l.runtime().limits().max_operations, 1234);
        assert_eq!(l.current().rules[0].severity.as_str(), "warning");

        std::fs::write(&cfg, "rules: [").unwrap();
        assert!(Loader::new(sources).is_err(), "a bad config at start-up has nothing to fall back on");
    }
}
