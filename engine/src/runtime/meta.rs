//! A rule's `const RULE = #{...}` metadata: parsing it (errors located at the
//! offending key), the params a rule declares (`params: #{ name: #{ type,
//! default, doc } }`), and `g.param` answering from the config or the default.

use super::output::Ctx;
use crate::finding::Severity;
use rhai::{ASTNode, Dynamic, EvalAltResult, Expr, Map, Position, Stmt, AST};
use std::collections::BTreeMap;

/// Metadata keys a rule's `RULE` map may carry.
pub const META_KEYS: &[&str] = &["id", "severity", "summary", "remediation", "docs", "reads", "tags", "params"];

/// Keys of one declared param.
const PARAM_KEYS: &[&str] = &["type", "default", "doc"];

/// A rule's declared metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    pub remediation: String,
    pub docs: Option<String>,
    /// The file it came from (`rules/<id>.rhai` for the embedded pack).
    pub source: String,
    /// The params the rule reads: declared in `RULE.params`, or, for a rule that
    /// declares none, found as `g.param("name", default)` calls (type `any`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ParamSpec>,
    /// The fact kinds the rule reads (`RULE.reads`); empty when it does not say, which means
    /// "any": `serve` re-runs such a rule after every change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<crate::kind::FactKind>,
    /// `RULE.params` exists: only those names may be read or configured, with their types.
    #[serde(skip)]
    pub params_declared: bool,
    /// Every name the rule can read is known (declared, or every `g.param` call names a literal),
    /// so a config param outside `params` is a typo.
    #[serde(skip)]
    pub params_known: bool,
}

impl RuleMeta {
    /// Whether a change to these fact kinds can change the rule's findings: it reads one of
    /// them, or it does not say what it reads.
    pub fn affected_by(&self, changed: &std::collections::BTreeSet<crate::kind::FactKind>) -> bool {
        self.reads.is_empty() || self.reads.iter().any(|k| changed.contains(k))
    }
}

/// One param of a rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamSpec {
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// `null` when the rule declares no default (`g.param` then answers `()` unless configured).
    pub default: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// The type of a param value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
    Array,
    Map,
    /// Undeclared (an older rule's `g.param(name, default)`): any value.
    Any,
}

impl ParamType {
    const NAMES: &'static str = "string, int, float, bool, array, map";

    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "string" => ParamType::String,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "array" => ParamType::Array,
            "map" => ParamType::Map,
            _ => return None,
        })
    }

    /// Whether a JSON value (config or default) is of this type (`float` accepts integers).
    pub fn accepts(self, v: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match self {
            ParamType::String => v.is_string(),
            ParamType::Int => v.is_i64(),
            ParamType::Float => v.is_number(),
            ParamType::Bool => v.is_boolean(),
            ParamType::Array => v.is_array(),
            ParamType::Map => v.is_object(),
            ParamType::Any => !matches!(v, V::Null),
        }
    }

    /// "a string", "an int", ... for messages.
    pub fn article(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Int => "an int",
            ParamType::Float => "a float",
            ParamType::Bool => "a bool",
            ParamType::Array => "an array",
            ParamType::Map => "a map",
            ParamType::Any => "a value",
        }
    }
}

/// The `const RULE = ...` statement of a compiled (unoptimised) rule: its position and value expression.
fn rule_statement(ast: &AST) -> Option<(Position, &Expr)> {
    ast.statements().iter().find_map(|s| match s {
        Stmt::Var(x, _, pos) if x.0.name == "RULE" => Some((*pos, &x.1)),
        _ => None,
    })
}

/// Where `RULE.a.b...` is written: the innermost key of `path` found in the map
/// literal, else the `RULE` statement, else line 1.
pub fn locate(ast: &AST, path: &[&str]) -> Position {
    let Some((stmt_pos, mut expr)) = rule_statement(ast) else {
        return Position::new(1, 1);
    };
    let mut pos = stmt_pos;
    for key in path {
        let Expr::Map(m, _) = expr else { break };
        let Some((id, value)) = m.0.iter().find(|(id, _)| id.name == *key) else {
            break;
        };
        pos = id.pos;
        expr = value;
    }
    pos
}

/// Parses the RULE map; an error comes with the metadata path it is about (for [`locate`]).
pub fn parse(m: &Map, file: &str) -> Result<RuleMeta, (String, Vec<String>)> {
    let at = |k: &str| vec![k.to_string()];
    if let Some(k) = m.keys().find(|k| !META_KEYS.contains(&k.as_str())) {
        return Err((format!("RULE has unknown field `{k}` (known: {})", META_KEYS.join(", ")), at(k)));
    }
    let get = |k: &str| -> Result<Option<String>, (String, Vec<String>)> {
        match m.get(k) {
            None => Ok(None),
            Some(d) => d.clone().into_string().map(Some).map_err(|t| (format!("RULE.{k} must be a string, got {t}"), at(k))),
        }
    };
    let need = |k: &str| get(k).and_then(|v| v.ok_or_else(|| (format!("RULE needs `{k}`"), vec![])));
    let id = need("id")?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err((format!("RULE.id {id:?} must be lowercase letters, digits and dashes"), at("id")));
    }
    let sev = need("severity")?;
    let severity = Severity::parse(&sev).ok_or_else(|| (format!("RULE.severity must be info, warning or critical, got {sev:?}"), at("severity")))?;
    let (params, params_declared) = match m.get("params") {
        None => (BTreeMap::new(), false),
        Some(d) => (parse_params(d)?, true),
    };
    let reads = match m.get("reads") {
        None => Vec::new(),
        Some(d) => {
            let arr = d.clone().try_cast::<rhai::Array>().ok_or_else(|| {
                (
                    format!("RULE.reads must be an array of fact kinds ({})", crate::kind::KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")),
                    at("reads"),
                )
            })?;
            let mut out = Vec::new();
            for v in arr {
                let name = v.clone().into_string().map_err(|t| (format!("RULE.reads must hold strings, got {t}"), at("reads")))?;
                let k = crate::kind::FactKind::from_name(&name).ok_or_else(|| {
                    let near = crate::config::nearest(&name, crate::kind::KINDS.iter().map(|k| k.name));
                    (format!("RULE.reads: unknown fact kind {name:?}{}", near.map(|n| format!(" (did you mean {n:?}?)")).unwrap_or_default()), at("reads"))
                })?;
                if !out.contains(&k) {
                    out.push(k);
                }
            }
            out
        }
    };
    Ok(RuleMeta {
        reads,
        id,
        severity,
        summary: need("summary")?,
        remediation: need("remediation")?,
        docs: get("docs")?,
        source: file.to_string(),
        params,
        params_declared,
        params_known: params_declared,
    })
}

fn parse_params(d: &Dynamic) -> Result<BTreeMap<String, ParamSpec>, (String, Vec<String>)> {
    let example = "params: #{ name: #{ type: \"string\", \"default\": \"...\", doc: \"...\" } }";
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let m = d.clone().try_cast::<Map>().ok_or_else(|| (format!("RULE.params must be a map like {example}"), path(&["params"])))?;
    let mut out = BTreeMap::new();
    for (name, spec) in &m {
        let name = name.as_str();
        let spec = spec.clone().try_cast::<Map>().ok_or_else(|| {
            (format!("RULE.params.{name} must be a map like #{{ type: \"string\", \"default\": \"...\", doc: \"...\" }}"), path(&["params", name]))
        })?;
        if let Some(k) = spec.keys().find(|k| !PARAM_KEYS.contains(&k.as_str())) {
            return Err((format!("RULE.params.{name} has unknown field `{k}` (known: {})", PARAM_KEYS.join(", ")), path(&["params", name, k])));
        }
        let kind = match spec.get("type").map(|t| t.clone().into_string()) {
            Some(Ok(t)) => ParamType::parse(&t)
                .ok_or_else(|| (format!("RULE.params.{name}.type must be one of {}, got {t:?}", ParamType::NAMES), path(&["params", name, "type"])))?,
            Some(Err(t)) => return Err((format!("RULE.params.{name}.type must be a string, got {t}"), path(&["params", name, "type"]))),
            None => return Err((format!("RULE.params.{name} needs `type` (one of {})", ParamType::NAMES), path(&["params", name]))),
        };
        let default = match spec.get("default") {
            None => serde_json::Value::Null,
            Some(v) => {
                let j = super::output::to_json(v);
                if !kind.accepts(&j) {
                    return Err((format!("RULE.params.{name}.default must be {}, got {j}", kind.article()), path(&["params", name, "default"])));
                }
                j
            }
        };
        let doc = match spec.get("doc") {
            None => None,
            Some(v) => {
                Some(v.clone().into_string().map_err(|t| (format!("RULE.params.{name}.doc must be a string, got {t}"), path(&["params", name, "doc"])))?)
            }
        };
        out.insert(name.to_string(), ParamSpec { kind, default, doc });
    }
    Ok(out)
}

/// One `g.param(...)` call in a rule.
pub struct ParamCall {
    /// The name, when it is a string literal.
    pub name: Option<String>,
    /// Whether the call passes a default (`g.param(name, default)`).
    pub has_default: bool,
    /// The default, when it is a literal.
    pub default: Option<serde_json::Value>,
    pub pos: Position,
}

/// The `g.param(...)` calls of a rule.
pub fn param_calls(ast: &AST) -> Vec<ParamCall> {
    let mut calls = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::MethodCall(x, pos))) = path.last() {
            if x.name == "param" && (1..=2).contains(&x.args.len()) {
                let name = match &x.args[0] {
                    Expr::StringConstant(s, _) => Some(s.to_string()),
                    _ => None,
                };
                let default = x.args.get(1).and_then(|a| a.get_literal_value(None)).map(|v| super::output::to_json(&v));
                calls.push(ParamCall { name, has_default: x.args.len() == 2, default, pos: *pos });
            }
        }
        true
    });
    calls
}

/// For a rule that declares no params: what its `g.param(name, default)` calls read.
pub fn infer_params(meta: &mut RuleMeta, ast: &AST) {
    if meta.params_declared {
        return;
    }
    let calls = param_calls(ast);
    meta.params_known = calls.iter().all(|c| c.name.is_some());
    for c in calls {
        if let Some(name) = c.name {
            meta.params.entry(name).or_insert(ParamSpec { kind: ParamType::Any, default: c.default.unwrap_or(serde_json::Value::Null), doc: None });
        }
    }
}

/// `g.param(name)` / `g.param(name, default)`: the configured value, else the
/// call's default, else the declared default. A rule that declares params may
/// read only those.
pub fn param(c: &Ctx, name: &str, default: Option<Dynamic>) -> Result<Dynamic, Box<EvalAltResult>> {
    let v = param_value(c, name, default)?;
    let from = if c.params.contains_key(name) { "config" } else { "default" };
    Ok(super::api::traced(|| "Cluster/cluster".to_string(), || format!("param({name:?}) [{from}]"), v))
}

fn param_value(c: &Ctx, name: &str, default: Option<Dynamic>) -> Result<Dynamic, Box<EvalAltResult>> {
    let declared = c.rule.params.get(name).filter(|_| c.rule.params_declared);
    let undeclared = if c.rule.params_declared { declared.is_none() } else { default.is_none() };
    if undeclared {
        let known: Vec<&str> = c.rule.params.keys().map(String::as_str).collect();
        let hint = crate::config::nearest(name, known.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        return Err(if c.rule.params_declared {
            format!("param `{name}` is not declared in RULE.params{hint} (declared: {})", known.join(", ")).into()
        } else {
            format!("param `{name}` is not declared: declare it in RULE.params (`params: #{{ {name}: #{{ type: \"string\", \"default\": \"...\" }} }}`) or give a default, g.param(\"{name}\", default)").into()
        });
    }
    if let Some(v) = c.params.get(name) {
        return Ok(v.clone());
    }
    if let Some(d) = default {
        return Ok(d);
    }
    Ok(declared.map(|p| rhai::serde::to_dynamic(&p.default).unwrap_or(Dynamic::UNIT)).unwrap_or(Dynamic::UNIT))
}
