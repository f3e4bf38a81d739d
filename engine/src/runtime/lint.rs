//! `rules check`: static checks on a rule file beyond compiling it. Walks the
//! compiled AST (so branches that never run are checked too) for calls to
//! functions that exist nowhere and for properties no registered type and no
//! map in the rule or the API has, each with the nearest known name.

use super::{api, location, Runtime};
use crate::config::nearest;
use crate::model::SourceError;
use rhai::{ASTNode, Expr};
use std::collections::BTreeSet;

/// Rhai keywords and built-ins that are not in the function registry.
const BUILTINS: &[&str] = &[
    "print", "debug", "type_of", "Fn", "call", "curry", "is_shared", "is_def_fn", "is_def_var", "this", "global", "len", "sleep",
];

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

impl Runtime {
    /// Compiles and lints one rule file. An empty result means it is fine.
    pub fn lint(&self, file: &str, text: &str) -> Vec<SourceError> {
        let rule = match self.compile_unoptimised(file, text) {
            Ok(r) => r,
            Err(e) => return vec![e],
        };
        let ast = &rule.ast;
        let mut functions: BTreeSet<String> = self.engine().gen_fn_signatures(true).iter().map(|s| sig_name(s).to_string()).collect();
        functions.extend(ast.iter_functions().map(|f| f.name.to_string()));
        functions.extend(BUILTINS.iter().map(|s| s.to_string()));
        let getters: BTreeSet<String> = functions.iter().filter_map(|f| f.strip_prefix("get$")).map(str::to_string).collect();
        let mut props: BTreeSet<String> = getters.clone();
        props.extend(api_map_keys());
        // Keys of map literals written in the rule itself.
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::Map(m, _))) = path.last() {
                props.extend(m.0.iter().map(|(id, _)| id.name.to_string()));
            }
            true
        });
        let mut errors = Vec::new();
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(x, pos))) | Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => {
                    let name = x.name.as_str();
                    if x.op_token.is_none() && !x.is_qualified() && !functions.contains(name) && !name.starts_with("anon$") {
                        let near = nearest(name, functions.iter().map(String::as_str).filter(|f| !f.contains('$')));
                        errors.push(SourceError {
                            source: location(file, *pos),
                            message: format!("unknown function `{name}`{}", near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()),
                        });
                    }
                }
                Some(ASTNode::Expr(Expr::Property(x, pos))) => {
                    let name = x.2.as_str();
                    if !props.contains(name) {
                        let near = nearest(name, props.iter().map(String::as_str));
                        errors.push(SourceError {
                            source: location(file, *pos),
                            message: format!("unknown property `.{name}`: no fact type has it and no map here has that key{}", near.map(|n| format!(" (did you mean `.{n}`?)")).unwrap_or_default()),
                        });
                    }
                }
                _ => {}
            }
            true
        });
        errors.sort();
        errors.dedup();
        errors
    }
}
