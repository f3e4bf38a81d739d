//! The findings page `serve` answers at `/`: one self-contained HTML5
//! document (inline CSS, no script, no external asset) that reads on a
//! phone. Start at [`render`]. Every text that comes from the cluster, the
//! rules or an error goes through [`escape`]: names may hold `<script>`.
//!
//! Sections: a header with counts and the last evaluation time; the active
//! findings grouped by severity ([`by_severity`]), each with its subject,
//! summary, evidence, fix and age; the loaded rules and the last reload's
//! outcome; the collectors; the evaluation's own errors.

use crate::evaluation::{CollectorStatus, Evaluation, ReloadStatus};
use crate::labels::anchor;
use crate::time::{age, display, since};
use netdoctor_engine::finding::{Finding, Severity};
use std::fmt::Write;
use std::time::SystemTime;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Findings (with first-seen times) grouped critical, warning, info; empty
/// groups left out, the evaluation's order kept within a group.
pub fn by_severity(ev: &Evaluation) -> Vec<(Severity, Vec<(&Finding, SystemTime)>)> {
    [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .map(|sev| (sev, ev.findings().filter(|(f, _)| f.severity == sev).collect::<Vec<_>>()))
        .filter(|(_, fs)| !fs.is_empty())
        .collect()
}

const STYLE: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--text:#1d2433;--muted:#5d6778;--line:#e3e6eb;--code:#f0f2f5;
--crit:#c4320a;--crit-bg:#fdece7;--warn:#a15c07;--warn-bg:#fdf3dc;--info:#1d5bbf;--info-bg:#e6effc;--ok:#17803d;--ok-bg:#e3f5e9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;-webkit-text-size-adjust:100%}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.86em}
header{background:#141b2d;color:#fff;padding:14px 16px 16px}
.wrap{max-width:980px;margin:0 auto}
.brand{font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:#9aa6bd;font-weight:600}
h1{margin:2px 0 10px;font-size:1.45rem;font-weight:650}
.counts{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}
.pill{display:inline-flex;align-items:center;gap:6px;border-radius:999px;padding:2px 10px;font-size:.82rem;font-weight:600;background:#263047;color:#c9d2e3}
.pill b{font-size:.95rem}
.pill.critical.on{background:var(--crit);color:#fff}.pill.warning.on{background:#d98a12;color:#1d1400}.pill.info.on{background:#3f7fe0;color:#fff}
.meta{color:#b7c0d1;font-size:.84rem}.meta span{white-space:nowrap}
main{padding:12px 12px 28px}
section{margin-top:18px}
h2{font-size:1.05rem;margin:0 0 8px;display:flex;align-items:center;gap:8px}
h2 .n{color:var(--muted);font-weight:500}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;margin-bottom:10px}
.finding{border-left:5px solid var(--line)}
.finding.critical{border-left-color:var(--crit)}.finding.warning{border-left-color:#e0a42b}.finding.info{border-left-color:#5b8fdf}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:6px 8px;font-size:.82rem;color:var(--muted)}
.top .age{margin-left:auto;white-space:nowrap}
.sev{display:inline-block;border-radius:4px;padding:0 6px;font-size:.74rem;font-weight:700;text-transform:uppercase;letter-spacing:.03em}
.sev.critical{background:var(--crit-bg);color:var(--crit)}.sev.warning{background:var(--warn-bg);color:var(--warn)}.sev.info{background:var(--info-bg);color:var(--info)}
.stale{background:#eceef2;color:#444c5c;border-radius:4px;padding:0 6px;font-size:.74rem;font-weight:600}
h3{margin:6px 0 2px;font-size:1rem;font-weight:650;overflow-wrap:anywhere}
h3 .kind{font-weight:500;color:var(--muted);margin-right:4px}
.where{color:var(--muted);font-size:.86rem;overflow-wrap:anywhere}
.summary{margin:6px 0 8px;overflow-wrap:anywhere}
dl.evidence{display:grid;grid-template-columns:fit-content(42%) 1fr;gap:2px 12px;margin:0 0 8px;padding:8px 10px;background:var(--code);border-radius:6px;font-size:.84rem}
dl.evidence dt{color:var(--muted);overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
dl.evidence dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere;white-space:pre-wrap}
.fix{margin:0;padding:8px 10px;border-radius:6px;background:var(--ok-bg);font-size:.9rem;overflow-wrap:anywhere}
.fix b{color:var(--ok);margin-right:6px}
.fix code,.sub code{background:rgba(127,127,127,.14);border-radius:4px;padding:0 3px}
.empty{text-align:center;padding:28px 16px}
.empty .tick{display:inline-flex;width:52px;height:52px;border-radius:50%;background:var(--ok-bg);color:var(--ok);font-size:30px;align-items:center;justify-content:center}
.empty h2{justify-content:center;font-size:1.2rem;margin:10px 0 4px}
.empty p{margin:0;color:var(--muted)}
.status{border-radius:8px;padding:8px 12px;margin-bottom:10px;font-size:.9rem;overflow-wrap:anywhere}
.status.ok{background:var(--ok-bg)}.status.bad{background:var(--crit-bg)}
.status ul{margin:6px 0 0;padding-left:18px}
ul.list{list-style:none;margin:0;padding:0;background:var(--card);border:1px solid var(--line);border-radius:10px}
ul.list li{padding:8px 12px;border-top:1px solid var(--line);overflow-wrap:anywhere}
ul.list li:first-child{border-top:0}
.row{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px}
.sub{color:var(--muted);font-size:.84rem}
.err{color:var(--crit);font-size:.84rem}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%}
.dot.up{background:#22a559}.dot.down{background:var(--crit)}
footer{color:var(--muted);font-size:.82rem;text-align:center;padding:8px 0 24px}
footer a{color:inherit}
@media (min-width:720px){main{padding:16px 20px 32px}header{padding:18px 20px 20px}h1{font-size:1.7rem}}
@media (prefers-color-scheme:dark){:root{--bg:#0f1420;--card:#171e2d;--text:#e3e8f1;--muted:#9aa5b8;--line:#283248;--code:#1f2839;
--crit-bg:#3a1a14;--warn-bg:#3a2a0d;--info-bg:#142846;--ok-bg:#12301f;--crit:#ff8a66;--warn:#f2b84b;--info:#86b3ff;--ok:#5fd08c}header{background:#0a0e17}}
"#;

/// The whole page. `ev` is the last evaluation (`None` before the first one
/// completes), `reload` the last rule load, `now` the time ages count to.
pub fn render(ev: Option<&Evaluation>, reload: &ReloadStatus, now: SystemTime) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let counts = |sev: Severity| ev.map_or(0, |e| e.report.findings.iter().filter(|f| f.severity == sev).count());
    let (crit, warn, info) = (counts(Severity::Critical), counts(Severity::Warning), counts(Severity::Info));
    let title = match ev {
        None => "netdoctor: waiting for the first evaluation".to_string(),
        Some(_) if crit + warn + info == 0 => "netdoctor: no findings".to_string(),
        Some(_) => format!("netdoctor: {crit} critical, {warn} warning, {info} info"),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    header(&mut out, ev, [crit, warn, info], now);
    out.push_str("<main><div class=\"wrap\">\n");
    match ev {
        None => out.push_str("<section class=\"card empty\"><h2>Waiting for the first evaluation</h2><p>Findings appear here once the collectors have run and the rules have been evaluated.</p></section>\n"),
        Some(ev) => {
            findings(&mut out, ev, now);
            rules(&mut out, ev, reload, now);
            collectors(&mut out, &ev.collectors, now);
            errors(&mut out, ev);
        }
    }
    out.push_str("</div></main>\n<footer><div class=\"wrap\">netdoctor · <a href=\"metrics\">metrics</a> · <a href=\"api/v1/findings\">findings as JSON</a></div></footer>\n</body>\n</html>\n");
    out
}

/// `12:00:00 UTC (3m5s ago)`.
fn when(t: SystemTime, now: SystemTime) -> String {
    format!("{} ({} ago)", display(t), age(since(t, now)))
}

fn header(out: &mut String, ev: Option<&Evaluation>, [crit, warn, info]: [usize; 3], now: SystemTime) {
    out.push_str("<header><div class=\"wrap\">\n<div class=\"brand\">netdoctor</div>\n");
    let total = crit + warn + info;
    let _ = writeln!(out, "<h1>{}</h1>", if total == 0 { "No findings".to_string() } else { format!("{total} finding{}", if total == 1 { "" } else { "s" }) });
    out.push_str("<div class=\"counts\">");
    for (name, n) in [("critical", crit), ("warning", warn), ("info", info)] {
        let on = if n > 0 { " on" } else { "" };
        let _ = write!(out, "<span class=\"pill {name}{on}\"><b>{n}</b> {name}</span>");
    }
    out.push_str("</div>\n");
    match ev {
        Some(ev) => {
            let _ = writeln!(
                out,
                "<div class=\"meta\"><span>Last evaluation {}</span> <span>({} ago)</span> · <span>{} rules</span></div>",
                escape(&display(ev.at)),
                age(since(ev.at, now)),
                ev.rules.len()
            );
        }
        None => out.push_str("<div class=\"meta\">No evaluation yet</div>\n"),
    }
    out.push_str("</div></header>\n");
}

fn findings(out: &mut String, ev: &Evaluation, now: SystemTime) {
    let groups = by_severity(ev);
    if groups.is_empty() {
        let (rules, failed) = (ev.rules.len(), ev.failed_rules().len());
        let verdict = match failed {
            0 => format!("All {rules} rules passed in the last evaluation."),
            n => format!("{} of {rules} rules passed; {n} failed to run (see Rules below).", rules.saturating_sub(n)),
        };
        let _ = writeln!(out, "<section class=\"card empty\" id=\"findings\"><div class=\"tick\">✓</div><h2>No findings</h2><p>{verdict}</p></section>");
        return;
    }
    let failed = ev.failed_rules();
    for (sev, fs) in groups {
        let _ = writeln!(out, "<section id=\"{sev}\"><h2>{} <span class=\"n\">{}</span></h2>", capitalised(sev.as_str()), fs.len());
        for (f, first_seen) in fs {
            finding(out, f, first_seen, failed.contains(f.rule.as_str()), now);
        }
        out.push_str("</section>\n");
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|first| first.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn finding(out: &mut String, f: &Finding, first_seen: SystemTime, stale: bool, now: SystemTime) {
    let sev = f.severity.as_str();
    let _ = write!(
        out,
        "<article class=\"card finding {sev}\" id=\"{}\">\n<div class=\"top\"><span class=\"sev {sev}\">{sev}</span><code>{}</code>",
        anchor(f),
        escape(&f.rule)
    );
    if stale {
        out.push_str("<span class=\"stale\" title=\"The rule failed in the last evaluation; this is its previous result\">stale</span>");
    }
    let _ = writeln!(out, "<span class=\"age\" title=\"first seen {}\">for {}</span></div>", escape(&display(first_seen)), age(since(first_seen, now)));
    let s = &f.subject;
    let name = match &s.namespace {
        Some(ns) => format!("{ns}/{}", s.name),
        None => s.name.clone(),
    };
    let _ = writeln!(out, "<h3><span class=\"kind\">{}</span>{}</h3>", escape(&s.kind), escape(&name));
    let mut where_ = Vec::new();
    if let Some(node) = s.node.as_ref().filter(|n| **n != s.name) {
        where_.push(format!("on node {}", escape(node)));
    }
    if let Some(r) = &f.related {
        let rname = r.namespace.as_ref().map_or(r.name.clone(), |ns| format!("{ns}/{}", r.name));
        where_.push(format!("with {} {}", escape(&r.kind), escape(&rname)));
    }
    if !where_.is_empty() {
        let _ = writeln!(out, "<div class=\"where\">{}</div>", where_.join(" · "));
    }
    let _ = writeln!(out, "<p class=\"summary\">{}</p>", escape(&f.summary));
    evidence(out, &f.evidence);
    if !f.remediation.is_empty() {
        let _ = writeln!(out, "<p class=\"fix\"><b>Fix</b>{}</p>", with_code(&f.remediation));
    }
    out.push_str("</article>\n");
}

/// Escaped text where `backticked` spans become `<code>`, as rule authors
/// write commands in remediations (unbalanced backticks stay as they are).
fn with_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escape(text);
    }
    parts.iter().enumerate().map(|(i, p)| if i % 2 == 1 { format!("<code>{}</code>", escape(p)) } else { escape(p) }).collect()
}

/// A string as itself, anything else as compact JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn evidence(out: &mut String, evidence: &serde_json::Value) {
    match evidence {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) if map.is_empty() => {}
        serde_json::Value::Object(map) => {
            out.push_str("<dl class=\"evidence\">");
            for (k, v) in map {
                let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&plain(v)));
            }
            out.push_str("</dl>\n");
        }
        other => {
            let _ = writeln!(out, "<dl class=\"evidence\"><dt>evidence</dt><dd>{}</dd></dl>", escape(&plain(other)));
        }
    }
}

fn rules(out: &mut String, ev: &Evaluation, reload: &ReloadStatus, now: SystemTime) {
    let _ = writeln!(out, "<section id=\"rules\"><h2>Rules <span class=\"n\">{} loaded</span></h2>", ev.rules.len());
    if reload.successful {
        let _ = writeln!(out, "<div class=\"status ok\">Last load ok, {}</div>", escape(&when(reload.at, now)));
    } else {
        let _ = write!(out, "<div class=\"status bad\"><b>Last reload failed</b>, {}; ", escape(&when(reload.at, now)));
        match reload.last_success {
            Some(t) => {
                let _ = write!(out, "still running the rules loaded {}.", escape(&when(t, now)));
            }
            None => out.push_str("no load has succeeded yet."),
        }
        out.push_str("<ul>");
        for p in &reload.errors {
            let _ = write!(out, "<li><code>{}</code>: {}</li>", escape(&p.location), escape(&p.message));
        }
        out.push_str("</ul></div>\n");
    }
    let failed = ev.failed_rules();
    out.push_str("<ul class=\"list\">\n");
    for r in &ev.rules {
        let sev = r.severity.as_str();
        let _ = write!(out, "<li><div class=\"row\"><code>{}</code><span class=\"sev {sev}\">{sev}</span>", escape(&r.id));
        if failed.contains(r.id.as_str()) {
            out.push_str("<span class=\"err\">failed in the last evaluation</span>");
        }
        let _ = writeln!(out, "</div><div class=\"sub\">{}</div><div class=\"sub mono\">{}</div></li>", with_code(&r.summary), escape(&r.source));
    }
    out.push_str("</ul></section>\n");
}

fn collectors(out: &mut String, collectors: &[CollectorStatus], now: SystemTime) {
    if collectors.is_empty() {
        return;
    }
    let up = collectors.iter().filter(|c| c.up).count();
    let _ = writeln!(out, "<section id=\"collectors\"><h2>Collectors <span class=\"n\">{up} of {} up</span></h2>\n<ul class=\"list\">", collectors.len());
    for c in collectors {
        let state = if c.up { "up" } else { "down" };
        let last = c.last_success.map_or("never succeeded".to_string(), |t| format!("last success {}", when(t, now)));
        let _ = write!(
            out,
            "<li><div class=\"row\"><span class=\"dot {state}\"></span><b>{}</b><span class=\"sub\">{state} · took {:.2}s</span></div><div class=\"sub\">{}</div>",
            escape(&c.name),
            c.duration_seconds,
            escape(&last)
        );
        if let Some(e) = &c.last_error {
            let _ = write!(out, "<div class=\"err\">{}</div>", escape(e));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul></section>\n");
}

fn errors(out: &mut String, ev: &Evaluation) {
    if ev.report.errors.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<section id=\"errors\"><h2>Problems in the last evaluation <span class=\"n\">{}</span></h2>\n<ul class=\"list\">",
        ev.report.errors.len()
    );
    for e in &ev.report.errors {
        let _ = writeln!(out, "<li><code>{}</code><div class=\"err\">{}</div></li>", escape(&e.source), escape(&e.message));
    }
    out.push_str("</ul></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::RuleInfo;
    use crate::fixture::{finding, t};

    /// `findings` evaluated at t(1000), with rules a and b loaded.
    fn evaluation(findings: Vec<Finding>) -> Evaluation {
        let rule = |id: &str| RuleInfo {
            id: id.into(),
            severity: Severity::Warning,
            summary: "s".into(),
            remediation: "r".into(),
            docs: None,
            source: format!("builtin:rules/{id}.rhai"),
            sha256: String::new(),
        };
        let mut ev = crate::fixture::evaluation(1000, findings);
        ev.rules = vec![rule("a"), rule("b")];
        ev
    }

    fn reload() -> ReloadStatus {
        ReloadStatus { at: t(10), successful: true, last_success: Some(t(10)), errors: vec![] }
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn backticks_become_code_and_stay_escaped() {
        assert_eq!(with_code("run `ip route` <now>"), "run <code>ip route</code> &lt;now&gt;");
        assert_eq!(with_code("`<b>`"), "<code>&lt;b&gt;</code>");
        assert_eq!(with_code("one ` only"), "one ` only");
    }

    #[test]
    fn groups_critical_first_and_skips_empty_groups() {
        let ev = evaluation(vec![finding("a", Severity::Info, "i1"), finding("b", Severity::Critical, "c1"), finding("a", Severity::Critical, "c2")]);
        let groups = by_severity(&ev);
        let shape: Vec<(Severity, Vec<&str>)> = groups.iter().map(|(s, fs)| (*s, fs.iter().map(|(f, _)| f.subject.name.as_str()).collect())).collect();
        assert_eq!(shape, vec![(Severity::Critical, vec!["c2", "c1"]), (Severity::Info, vec!["i1"])]);
    }

    #[test]
    fn user_text_never_reaches_the_page_unescaped() {
        let mut f = finding("a", Severity::Warning, "<script>alert(1)</script>");
        f.subject.namespace = Some("<i>ns</i>".into());
        f.evidence = serde_json::json!({"<b>key</b>": "<img src=x onerror=alert(2)>"});
        f.remediation = "</p><script>3</script>".into();
        let mut ev = evaluation(vec![f]);
        ev.rules[0].source = "<script>4</script>.rhai".into();
        ev.collectors.push(CollectorStatus {
            name: "k8s".into(),
            up: false,
            duration_seconds: 0.5,
            last_success: None,
            last_error: Some("<script>5</script>".into()),
        });
        let mut bad = reload();
        bad.successful = false;
        bad.errors.push(crate::evaluation::Problem { location: "x.rhai:1:2".into(), message: "<script>6</script>".into() });
        let html = render(Some(&ev), &bad, t(2000));
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>key") && !html.contains("<i>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    }

    #[test]
    fn ages_count_from_first_seen_and_empty_state_reads_well() {
        let html = render(Some(&evaluation(vec![finding("a", Severity::Warning, "p")])), &reload(), t(100 + 3 * 3600 + 12 * 60));
        assert!(html.contains(">for 3h12m<"), "{html}");
        let empty = render(Some(&evaluation(vec![])), &reload(), t(2000));
        assert!(empty.contains("<h1>No findings</h1>") && empty.contains("All 2 rules passed"));
        assert!(render(None, &reload(), t(0)).contains("Waiting for the first evaluation"));
    }
}
