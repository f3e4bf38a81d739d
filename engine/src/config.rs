//! Tuning without editing rules (`--config FILE`, interfaces.md): per rule
//! `enabled`, a `severity` override, `exclude` matchers on the subject for
//! known exceptions, and `params` the rule reads with `g.param(name)` (checked
//! against the names and types the rule declares); and the sandbox `limits`.
//! The CLI parses the YAML; this module validates it against the loaded rules.

use crate::finding::{Finding, Severity, Subject};
use crate::runtime::{Limits, ParamType, RuleSet};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Per rule id.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleConfig>,
    /// Extra interface names (a trailing `*` is a prefix) to treat as CNI-owned, never host network.
    #[serde(default)]
    pub cni_interfaces: Vec<String>,
    /// The rule sandbox's budgets (defaults: [`Limits::default`]).
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `limits:` of the config: the budgets every rule runs under.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Operations one rule run may take (the budget; deterministic).
    pub max_operations: Option<u64>,
    /// Wall-clock safety net of one rule run, in seconds.
    pub timeout_seconds: Option<f64>,
    /// Lines one rule may print per run.
    pub max_printed_lines: Option<usize>,
}

/// Settings of one rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `false` turns the rule off.
    pub enabled: Option<bool>,
    /// Replaces the severity of every finding of the rule.
    pub severity: Option<Severity>,
    /// Findings whose subject matches any of these are dropped (known exceptions).
    #[serde(default)]
    pub exclude: Vec<Matcher>,
    /// Values the rule reads with `g.param(name, default)`.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// Regular expressions on the subject; every field given must match (anchored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub node: Option<String>,
}

/// A config problem, for `rules check --config` and for refusing to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

impl Matcher {
    fn compile(&self) -> Result<CompiledMatcher, String> {
        let c = |f: &Option<String>, what: &str| -> Result<Option<Regex>, String> {
            f.as_deref().map(anchored).transpose().map_err(|e| format!("exclude.{what}: {e}"))
        };
        Ok(CompiledMatcher {
            kind: c(&self.kind, "kind")?,
            namespace: c(&self.namespace, "namespace")?,
            name: c(&self.name, "name")?,
            node: c(&self.node, "node")?,
        })
    }
}

/// A matcher with compiled expressions.
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    kind: Option<Regex>,
    namespace: Option<Regex>,
    name: Option<Regex>,
    node: Option<Regex>,
}

impl CompiledMatcher {
    /// True when every given expression matches the subject.
    pub fn matches(&self, s: &Subject) -> bool {
        let m = |re: &Option<Regex>, v: Option<&str>| re.as_ref().is_none_or(|re| re.is_match(v.unwrap_or("")));
        m(&self.kind, Some(&s.kind)) && m(&self.namespace, s.namespace.as_deref()) && m(&self.name, Some(&s.name)) && m(&self.node, s.node.as_deref())
    }
}

/// A validated config, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub disabled: Vec<String>,
    pub severity: BTreeMap<String, Severity>,
    pub exclude: BTreeMap<String, Vec<CompiledMatcher>>,
    pub params: BTreeMap<String, rhai::Map>,
    pub cni_interfaces: Vec<String>,
}

impl Config {
    /// The sandbox limits: the defaults with this config's `limits` applied.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let mut l = Limits::default();
        let c = &self.limits;
        if let Some(n) = c.max_operations {
            if n == 0 {
                return Err(ConfigError("limits.max_operations: must be at least 1".into()));
            }
            l.max_operations = n;
        }
        if let Some(t) = c.timeout_seconds {
            l.timeout = std::time::Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ConfigError(format!("limits.timeout_seconds: {t} is not a positive number of seconds")))?;
        }
        if let Some(n) = c.max_printed_lines {
            l.max_printed_lines = n;
        }
        Ok(l)
    }

    /// Checks the config against the loaded rules: unknown rule ids and bad
    /// expressions are errors. Unknown keys were already refused by the parser.
    pub fn validate(&self, rules: &RuleSet) -> Result<Effective, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut eff = Effective { cni_interfaces: self.cni_interfaces.clone(), ..Default::default() };
        for (id, rc) in &self.rules {
            if !rules.rules.iter().any(|r| &r.meta.id == id) {
                let near = nearest(id, rules.rules.iter().map(|r| r.meta.id.as_str()));
                errors
                    .push(ConfigError(format!("rules.{id}: no loaded rule has this id{}", near.map(|n| format!(" (did you mean {n}?)")).unwrap_or_default())));
                continue;
            }
            if rc.enabled == Some(false) {
                eff.disabled.push(id.clone());
            }
            if let Some(s) = rc.severity {
                eff.severity.insert(id.clone(), s);
            }
            let mut ms = Vec::new();
            for (i, m) in rc.exclude.iter().enumerate() {
                match m.compile() {
                    Ok(c) => ms.push(c),
                    Err(e) => errors.push(ConfigError(format!("rules.{id}.exclude[{i}]: {e}"))),
                }
            }
            if !ms.is_empty() {
                eff.exclude.insert(id.clone(), ms);
            }
            if !rc.params.is_empty() {
                let rule = rules.rules.iter().find(|r| &r.meta.id == id).map(|r| r.meta.clone());
                let mut map = rhai::Map::new();
                for (k, v) in &rc.params {
                    let spec = rule.as_ref().and_then(|m| m.params.get(k));
                    if let (Some(m), None) = (&rule, spec) {
                        if m.params_known {
                            let names: Vec<&str> = m.params.keys().map(String::as_str).collect();
                            let near = nearest(k, names.iter().copied()).map(|n| format!(" (did you mean {n}?)")).unwrap_or_default();
                            let reads = if names.is_empty() { "it reads none".to_string() } else { format!("it reads: {}", names.join(", ")) };
                            errors.push(ConfigError(format!("rules.{id}.params.{k}: rule {id} has no param `{k}`{near} ({reads})")));
                            continue;
                        }
                    }
                    let mut v = v.clone();
                    if let Some(spec) = spec {
                        if !spec.kind.accepts(&v) {
                            errors
                                .push(ConfigError(format!("rules.{id}.params.{k}: expected {} (RULE.params.{k}.type of {id}), got {v}", spec.kind.article())));
                            continue;
                        }
                        if spec.kind == ParamType::Float {
                            v = v.as_f64().map(serde_json::Value::from).unwrap_or(v);
                        }
                    }
                    match rhai::serde::to_dynamic(&v) {
                        Ok(d) => {
                            map.insert(k.as_str().into(), d);
                        }
                        Err(e) => errors.push(ConfigError(format!("rules.{id}.params.{k}: {e}"))),
                    }
                }
                eff.params.insert(id.clone(), map);
            }
        }
        if errors.is_empty() {
            Ok(eff)
        } else {
            Err(errors)
        }
    }
}

impl Effective {
    /// Applies severity overrides and exclusions; returns how many findings were excluded.
    pub fn apply(&self, findings: &mut Vec<Finding>) -> usize {
        let before = findings.len();
        findings.retain(|f| !self.exclude.get(&f.rule).is_some_and(|ms| ms.iter().any(|m| m.matches(&f.subject))));
        for f in findings.iter_mut() {
            if let Some(s) = self.severity.get(&f.rule) {
                f.severity = *s;
            }
        }
        before - findings.len()
    }
}

/// Edit distance with adjacent transpositions (optimal string alignment), for
/// "did you mean" suggestions: `nmae` is one edit from `name`.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate within a third of the word's length.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates.map(|c| (distance(word, c), c)).filter(|(d, _)| *d <= word.len().max(3) / 3 + 1).min().map(|(_, c)| c)
}
