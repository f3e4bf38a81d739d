//! `rules check`: static checks on a rule file beyond compiling it. Walks the
//! unoptimised AST (so branches that never run are checked too) for calls to
//! functions that exist nowhere or are blocked in the sandbox, properties no
//! registered type and no map in the rule or the API has (each with the
//! nearest known name), the keys of map literals given to `g.finding` and
//! `g.skip`, and `g.param` names against `RULE.params`. Start at
//! [`Runtime::check`].

use super::{api, location, meta, sandbox, Compiled, RuleFile, RuleSet, Runtime};
use crate::config::nearest;
use crate::model::SourceError;
use rhai::{ASTNode, Expr, Position, Stmt};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Rhai keywords and built-ins that are not in the function registry.
const BUILTINS: &[&str] = &["print", "debug", "type_of", "Fn", "call", "curry", "is_shared", "is_def_fn", "is_def_var", "this", "global", "len"];

/// Keys of `g.finding(#{...})` (as `output::Ctx::emit` accepts them) and which are required.
const FINDING_KEYS: &[&str] = &["subject", "related", "summary", "evidence", "severity", "remediation"];
const FINDING_REQUIRED: &[&str] = &["subject", "summary"];
/// Keys of a subject map (`output::subject_from`) and of a related map.
const SUBJECT_KEYS: &[&str] = &["kind", "namespace", "name", "node"];
const RELATED_KEYS: &[&str] = &["kind", "namespace", "name"];
const PARTY_REQUIRED: &[&str] = &["kind", "name"];

/// Errors reported per file before the rest are summarised in one line.
const MAX_ERRORS_PER_FILE: usize = 50;

fn sig_name(sig: &str) -> &str {
    sig.split('(').next().unwrap_or(sig)
}

/// Map keys the API's documented signatures promise (`#{key, key}` shapes in `Doc::sig`).
fn api_map_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for d in &api::all_docs() {
        let mut rest = d.sig;
        while let Some(i) = rest.find("#{") {
            let after = &rest[i + 2..];
            let end = after.find('}').unwrap_or(after.len());
            for k in after[..end].split(',') {
                let k = k.trim().split(':').next().unwrap_or("").trim();
                if !k.is_empty() {
                    keys.insert(k.to_string());
                }
            }
            rest = &after[end..];
        }
    }
    keys
}

/// One loop of a rule, for the never-ending-loop check and for placing a
/// cut-off that Rhai could not place.
pub(crate) struct LoopInfo {
    pub pos: Position,
    /// `loop` or `while true`.
    pub forever: bool,
    /// Something in it reads a variable (a budget cut-off would then have been located there).
    pub reads: bool,
    /// A `break` of this loop, a `return` or a `throw` is in it.
    pub exits: bool,
}

/// The loops of a rule, in source order.
pub(crate) fn loops(ast: &rhai::AST) -> Vec<LoopInfo> {
    fn loop_pos(n: &ASTNode) -> Option<Position> {
        match n {
            ASTNode::Stmt(Stmt::While(_, pos) | Stmt::Do(_, _, pos) | Stmt::For(_, pos)) => Some(*pos),
            _ => None,
        }
    }
    let mut found: Vec<LoopInfo> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(node) = path.last() else { return true };
        if let Some(pos) = loop_pos(node) {
            let forever = matches!(node, ASTNode::Stmt(Stmt::While(x, _)) if matches!(x.expr, Expr::Unit(..) | Expr::BoolConstant(true, _)));
            found.push(LoopInfo { pos, forever, reads: false, exits: false });
        }
        let ancestors = || path[..path.len() - 1].iter().rev().filter_map(loop_pos);
        let mut mark = |pos: Position, f: &dyn Fn(&mut LoopInfo)| {
            if let Some(l) = found.iter_mut().find(|l| l.pos == pos) {
                f(l);
            }
        };
        match node {
            ASTNode::Expr(Expr::Variable(..)) => ancestors().for_each(|p| mark(p, &|l| l.reads = true)),
            ASTNode::Stmt(Stmt::BreakLoop(_, flags, _)) if flags.contains(rhai::ASTFlags::BREAK) => {
                if let Some(p) = ancestors().next() {
                    mark(p, &|l| l.exits = true);
                }
            }
            ASTNode::Stmt(Stmt::Return(..)) => ancestors().for_each(|p| mark(p, &|l| l.exits = true)),
            _ => {}
        }
        true
    });
    found
}

/// Where a cut-off that carries no position most likely happened: the first loop
/// that reads no variable (a rule is stopped at its next variable read, so a
/// cut-off without one was in such a loop).
pub(crate) fn silent_loop(ast: &rhai::AST) -> Position {
    loops(ast).into_iter().find(|l| !l.reads).map_or(Position::NONE, |l| l.pos)
}

/// What `rules check` found in the paths it was given.
pub struct Check {
    /// Rule files examined.
    pub files: usize,
    /// Files without any error.
    pub ok: usize,
    /// The rules that compiled (for validating a config against them).
    pub set: RuleSet,
    /// Every error, in file order.
    pub errors: Vec<SourceError>,
}

/// Property names assigned somewhere in the rule (`m.extra = 2`): keys of maps it builds.
fn assigned_properties(ast: &rhai::AST) -> BTreeSet<String> {
    fn props(e: &Expr, out: &mut BTreeSet<String>) {
        match e {
            Expr::Property(x, _) => {
                out.insert(x.2.to_string());
            }
            Expr::Dot(b, ..) | Expr::Index(b, ..) => {
                props(&b.lhs, out);
                props(&b.rhs, out);
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Assignment(x))) = path.last() {
            props(&x.1.lhs, &mut out);
        }
        true
    });
    out
}

/// Checks the keys of a map literal against `known` and `required`.
fn map_keys(what: &str, m: &Expr, pos: Position, known: &[&str], required: &[&str], file: &str, errors: &mut Vec<SourceError>) {
    let Expr::Map(x, map_pos) = m else { return };
    for (id, _) in &x.0 {
        if !known.contains(&id.name.as_str()) {
            let near = nearest(&id.name, known.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
            errors.push(SourceError {
                source: location(file, id.pos),
                message: format!("{what} has unknown key `{}`{near} (known: {})", id.name, known.join(", ")),
            });
        }
    }
    for r in required {
        if !x.0.iter().any(|(id, _)| id.name == *r) {
            let at = if map_pos.is_none() { pos } else { *map_pos };
            errors.push(SourceError { source: location(file, at), message: format!("{what} needs `{r}`") });
        }
    }
}

impl Runtime {
    /// Compiles and lints one rule file. An empty result means it is fine.
    pub fn lint(&self, file: &str, text: &str) -> Vec<SourceError> {
        match self.compile_full(file, text) {
            Ok(c) => self.lint_compiled(&c),
            Err(e) => vec![e],
        }
    }

    /// Compiles, lints and loads every rule file of `paths` (directories of
    /// `*.rhai`, or single files), each file compiled once and on its own, so
    /// one run reports every bad file. The same id twice in one directory is an
    /// error.
    pub fn check(&self, paths: &[&Path]) -> Check {
        let mut set = RuleSet::default();
        let mut by_id = BTreeMap::new();
        let mut files: Vec<String> = Vec::new();
        for p in paths {
            let group: Vec<RuleFile> = if p.is_dir() {
                match self.read_rule_dir(p) {
                    Ok(g) => g,
                    Err(e) => {
                        files.push(e.source.clone());
                        set.errors.push(e);
                        continue;
                    }
                }
            } else {
                vec![(p.display().to_string(), self.read_rule_file(p))]
            };
            files.extend(group.iter().map(|(f, _)| f.clone()));
            self.add_group(&mut set, &mut by_id, group, |c, errors| errors.extend(self.lint_compiled(c)));
        }
        let errors = std::mem::take(&mut set.errors);
        let bad = |f: &String| errors.iter().any(|e| e.source == *f || e.source.strip_prefix(f.as_str()).is_some_and(|r| r.starts_with(':')));
        let ok = files.iter().filter(|f| !bad(f)).count();
        Check { files: files.len(), ok, set, errors }
    }

    /// Lints a compiled rule file.
    pub fn lint_compiled(&self, compiled: &Compiled) -> Vec<SourceError> {
        let file = compiled.rule.meta.source.as_str();
        let meta = &compiled.rule.meta;
        let ast = &compiled.unoptimised;
        let mut functions: BTreeSet<String> = self.engine().gen_fn_signatures(true).iter().map(|s| sig_name(s).to_string()).collect();
        functions.extend(ast.iter_functions().map(|f| f.name.to_string()));
        functions.extend(BUILTINS.iter().map(|s| s.to_string()));
        for (name, _) in sandbox::BLOCKED {
            functions.remove(*name);
        }
        let getters: BTreeSet<String> = functions.iter().filter_map(|f| f.strip_prefix("get$")).map(str::to_string).collect();
        let mut props: BTreeSet<String> = getters.clone();
        props.extend(api_map_keys());
        props.extend(assigned_properties(ast));
        // Keys of map literals written in the rule itself.
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::Map(m, _))) = path.last() {
                props.extend(m.0.iter().map(|(id, _)| id.name.to_string()));
            }
            true
        });
        let mut errors = Vec::new();
        let mut near_fn: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut near_prop: BTreeMap<String, Option<String>> = BTreeMap::new();
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(x, pos))) | Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => {
                    let name = x.name.as_str();
                    let method = matches!(path.last(), Some(ASTNode::Expr(Expr::MethodCall(..))));
                    if let Some((_, why)) = sandbox::BLOCKED.iter().find(|(b, _)| *b == name) {
                        errors.push(SourceError { source: location(file, *pos), message: why.to_string() });
                    } else if x.op_token.is_none() && !x.is_qualified() && !functions.contains(name) && !name.starts_with("anon$") {
                        let near = near_fn
                            .entry(name.to_string())
                            .or_insert_with(|| nearest(name, functions.iter().map(String::as_str).filter(|f| !f.contains('$'))).map(str::to_string));
                        let message = if functions.contains(&format!("get${name}")) {
                            format!("`{name}` is a property, not a method: write `.{name}` without `()` (stored facts are properties; see docs/rules.md)")
                        } else {
                            format!("unknown function `{name}`{}", near.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())
                        };
                        errors.push(SourceError { source: location(file, *pos), message });
                    }
                    if method && name == "finding" && x.args.len() == 1 {
                        map_keys("finding", &x.args[0], *pos, FINDING_KEYS, FINDING_REQUIRED, file, &mut errors);
                        if let Expr::Map(m, _) = &x.args[0] {
                            for (id, v) in &m.0 {
                                match id.name.as_str() {
                                    "subject" => map_keys("subject", v, id.pos, SUBJECT_KEYS, PARTY_REQUIRED, file, &mut errors),
                                    "related" => map_keys("related", v, id.pos, RELATED_KEYS, PARTY_REQUIRED, file, &mut errors),
                                    _ => {}
                                }
                            }
                        }
                    }
                    if method && name == "skip" && x.args.len() == 2 {
                        map_keys("skip subject", &x.args[0], *pos, SUBJECT_KEYS, PARTY_REQUIRED, file, &mut errors);
                    }
                }
                Some(ASTNode::Expr(Expr::Property(x, pos))) => {
                    let name = x.2.as_str();
                    if !props.contains(name) {
                        let near = near_prop.entry(name.to_string()).or_insert_with(|| nearest(name, props.iter().map(String::as_str)).map(str::to_string));
                        errors.push(SourceError {
                            source: location(file, *pos),
                            message: format!(
                                "unknown property `.{name}`: no fact type has it and no map here has that key{}",
                                near.as_ref().map(|n| format!(" (did you mean `.{n}`?)")).unwrap_or_default()
                            ),
                        });
                    }
                }
                _ => {}
            }
            errors.len() <= MAX_ERRORS_PER_FILE
        });
        for l in loops(ast) {
            if l.forever && !l.exits {
                errors.push(SourceError { source: location(file, l.pos), message: "this loop never ends: it has no `break`, `return` or `throw`".to_string() });
            }
        }
        for call in meta::param_calls(ast) {
            let at = location(file, call.pos);
            match &call.name {
                Some(name) if meta.params_declared && !meta.params.contains_key(name) => {
                    let near = nearest(name, meta.params.keys().map(String::as_str)).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                    errors.push(SourceError { source: at, message: format!("param `{name}` is not declared in RULE.params{near}") });
                }
                _ if !meta.params_declared && !call.has_default => errors.push(SourceError {
                    source: at,
                    message: format!(
                        "param `{}` is not declared: declare it in RULE.params or give a default, g.param(name, default)",
                        call.name.as_deref().unwrap_or("?")
                    ),
                }),
                _ => {}
            }
        }
        errors.sort();
        errors.dedup();
        if errors.len() > MAX_ERRORS_PER_FILE {
            let more = errors.len() - MAX_ERRORS_PER_FILE;
            errors.truncate(MAX_ERRORS_PER_FILE);
            errors.push(SourceError { source: file.to_string(), message: format!("{more} more error(s) not shown") });
        }
        errors
    }
}
