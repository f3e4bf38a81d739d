//! The iptables source: `iptables-save` (nft and legacy backends) parsed into
//! tables, chains with policies, and rules tokenised once when read. A table
//! without its `COMMIT` is a truncated file and an error, never a smaller
//! table. kube-proxy's chains are mapped to Services later by chain name and
//! DNAT target, never by comment (kube-proxy drops comments above 1,000
//! endpoints).

use crate::error::{line, ParseError};
use netdoctor_engine::model::{Chain, IptOpt, IptRule, Iptables};

/// Parses iptables-save text.
pub fn parse(text: &str) -> Result<Iptables, ParseError> {
    let mut out = Iptables::default();
    let mut table: Option<(String, usize)> = None;
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim_end();
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(t) = l.strip_prefix('*') {
            if let Some((open, at)) = &table {
                return Err(line(n + 1, format!("table {t} starts before table {open} (line {at}) has its COMMIT: truncated or mangled")));
            }
            let t = t.trim().to_string();
            out.tables.entry(t.clone()).or_default();
            table = Some((t, n + 1));
            continue;
        }
        if l == "COMMIT" {
            if table.take().is_none() {
                return Err(line(n + 1, "COMMIT outside a `*table` block"));
            }
            continue;
        }
        let t = table.as_ref().map(|(t, _)| t.clone()).ok_or_else(|| line(n + 1, format!("{l:?} outside a `*table` ... `COMMIT` block")))?;
        let chains = out.tables.entry(t).or_default();
        if let Some(c) = l.strip_prefix(':') {
            let mut w = c.split_whitespace();
            let chain = w.next().ok_or_else(|| line(n + 1, "chain declaration without a name"))?;
            let policy = w.next().ok_or_else(|| line(n + 1, format!("chain {chain} declared without a policy (`-` for user chains)")))?;
            let entry = chains.entry(chain.to_string()).or_insert_with(Chain::default);
            entry.policy = (policy != "-").then(|| policy.to_string());
        } else if let Some(rest) = l.strip_prefix("-A ") {
            let (chain, rule) = rest.split_once(' ').unwrap_or((rest, ""));
            let r = parse_rule(chain, rule).map_err(|m| line(n + 1, m))?;
            chains.entry(chain.to_string()).or_default().rules.push(r);
        } else if l.starts_with("-I ") || l.starts_with("-N ") {
            continue;
        } else {
            return Err(line(n + 1, format!("expected `:CHAIN POLICY`, `-A CHAIN ...` or COMMIT, got {l:?}")));
        }
    }
    if let Some((t, at)) = table {
        return Err(ParseError::File(format!("truncated: table {t} (line {at}) has no COMMIT")));
    }
    Ok(out)
}

/// Splits a rule the way a shell would (double quotes group, `\"` escapes).
/// Each token says whether it was quoted (quoted tokens are always values).
fn tokenize(s: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_q = false;
    let mut has = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_q = !in_q;
                quoted = true;
                has = true;
            }
            c if c.is_whitespace() && !in_q => {
                if has {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
                has = false;
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if in_q {
        return Err("unterminated quote".to_string());
    }
    if has {
        out.push((cur, quoted));
    }
    Ok(out)
}

/// Tokenises the text after `-A CHAIN ` into options, target and goto.
pub fn parse_rule(chain: &str, rule: &str) -> Result<IptRule, String> {
    let toks = tokenize(rule)?;
    let mut opts = Vec::new();
    let mut neg = false;
    let mut i = 0;
    while i < toks.len() {
        let (t, q) = &toks[i];
        if !q && t == "!" {
            neg = true;
            i += 1;
            continue;
        }
        if !q && t.starts_with('-') {
            let mut vals = Vec::new();
            let mut j = i + 1;
            while j < toks.len() {
                let (v, vq) = &toks[j];
                if !vq && (v.starts_with('-') || v == "!") {
                    break;
                }
                vals.push(v.clone());
                j += 1;
            }
            opts.push(IptOpt { negated: neg, name: t.clone(), value: vals.join(" ") });
            neg = false;
            i = j;
            continue;
        }
        return Err(format!("unexpected word {t:?} in rule of chain {chain}"));
    }
    let mut target = None;
    let mut goto = false;
    for o in &opts {
        if o.name == "-j" || o.name == "--jump" {
            target = Some(o.value.clone());
        } else if o.name == "-g" || o.name == "--goto" {
            target = Some(o.value.clone());
            goto = true;
        }
    }
    Ok(IptRule { chain: chain.to_string(), text: format!("-A {chain} {rule}"), opts, target, goto })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_rules_and_truncation() {
        let t = parse("# Generated by iptables-save\n*filter\n:FORWARD DROP [0:0]\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j KUBE-FORWARD\nCOMMIT\n").unwrap();
        assert_eq!(t.chain("filter", "FORWARD").unwrap().policy.as_deref(), Some("DROP"));
        assert_eq!(t.chain("filter", "KUBE-FORWARD").unwrap().policy, None);
        assert_eq!(t.chain("filter", "FORWARD").unwrap().rules[0].target.as_deref(), Some("KUBE-FORWARD"));
        assert_eq!(parse(":X - [0:0]\n").unwrap_err().to_string(), "line 1: \":X - [0:0]\" outside a `*table` ... `COMMIT` block");
        assert_eq!(
            parse("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-SERVICES\n").unwrap_err().to_string(),
            "truncated: table nat (line 1) has no COMMIT"
        );
    }

    #[test]
    fn rule_tokens() {
        let r = parse_rule(
            "KUBE-SERVICES",
            r#"-d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y"#,
        )
        .unwrap();
        assert_eq!(r.get(&["-d"]), Some("10.96.0.1/32"));
        assert_eq!(r.get(&["--dport"]), Some("443"));
        assert_eq!(r.get(&["--comment"]), Some("default/kubernetes:https cluster IP"));
        assert_eq!(r.target.as_deref(), Some("KUBE-SVC-NPX46M4PTMTKRN6Y"));
        let r = parse_rule("KUBE-FIREWALL", r#"! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"#).unwrap();
        assert_eq!(r.opts[0], IptOpt { negated: true, name: "-s".into(), value: "127.0.0.0/8".into() });
        assert!(parse_rule("X", r#"-m comment --comment "x" -j RETURN"#).unwrap().unconditional());
        assert!(parse_rule("X", "-j REJECT --reject-with icmp-host-prohibited").unwrap().unconditional());
        assert!(!parse_rule("X", "-i docker0 -j ACCEPT").unwrap().unconditional());
        assert_eq!(parse_rule("X", "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT").unwrap().get(&["--match-set"]), Some("KUBE-CLUSTER-IP dst,dst"));
        assert!(parse_rule("X", "-m comment --comment \"open").is_err());
    }
}
