//! The findings page in a real headless chromium: the DOM holds every
//! finding, markup from the cluster stays text, and at a phone's width
//! (412×915) it renders. The README's screenshot (`docs/serve-page.png`) is
//! of `serve` on a real capture (tests/serve.rs, `UPDATE_SCREENSHOT=1`);
//! `UPDATE_FIXTURE_SCREENSHOT=PATH` saves this fixture's to PATH.

mod support;

use netdoctor_exporters::page::render;
use support::*;

/// The fixture page, as `serve` would render it 15s after the evaluation, in a temp dir.
fn page_file(dir: &std::path::Path) -> std::path::PathBuf {
    let html = render(Some(&evaluation()), &failed_reload(), t(15));
    let path = dir.join("index.html");
    std::fs::write(&path, html).unwrap();
    path
}

#[test]
fn chromium_shows_every_finding_and_no_injected_markup() {
    let dir = tempfile::tempdir().unwrap();
    let page = page_file(dir.path());
    let Some(out) = chromium(&["--dump-dom".into(), format!("file://{}", page.display())]) else {
        return;
    };
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && dom.contains("</html>"), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    for f in findings() {
        // The DOM serialiser escapes text the way page::escape does, minus quotes.
        let summary = f.summary.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(dom.contains(&summary), "missing {:?} in the DOM:\n{dom}", f.summary);
    }
    for text in [
        "<h1>5 findings</h1>",
        ">Critical <span class=\"n\">3</span>",
        ">for 3h12m<",
        ">for 2d4h<",
        ">stale<",
        "with Service default/kubernetes",
        "Last reload failed",
        "/etc/netdoctor/rules/evicted-pods.rhai:12:5",
        "etcd: dial tcp 10.0.0.5:2379: connect: connection refused",
        "&lt;script&gt;alert('owned')&lt;/script&gt;",
    ] {
        assert!(dom.contains(text), "missing {text:?} in the DOM:\n{dom}");
    }
    assert!(!dom.contains("<script"), "an evidence value became markup:\n{dom}");
}

#[test]
fn phone_screenshot() {
    let dir = tempfile::tempdir().unwrap();
    let page = page_file(dir.path());
    let png = dir.path().join("page.png");
    let Some(out) = chromium(&[format!("--screenshot={}", png.display()), "--window-size=412,915".into(), format!("file://{}", page.display())]) else {
        return;
    };
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}: {}", png.display(), String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // Width and height from the IHDR chunk.
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (412, 915));
    if let Some(path) = std::env::var_os("UPDATE_FIXTURE_SCREENSHOT") {
        std::fs::write(&path, &bytes).unwrap();
        println!("wrote {}", std::path::Path::new(&path).display());
    }
}
