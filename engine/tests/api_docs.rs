//! The rule API reference cannot drift: every registered function has a Doc,
//! every Doc names a registered function, and docs/rules.md is what the Docs
//! generate (refresh with `UPDATE_DOCS=1 cargo test -p netdoctor-engine --test api_docs`).

use netdoctor_engine::runtime::docs;
use netdoctor_engine::Runtime;

#[test]
fn every_registered_function_is_documented() {
    let (undocumented, stale) = docs::drift(&Runtime::default());
    assert!(undocumented.is_empty(), "registered but undocumented (add a Doc to the module's DOCS): {undocumented:#?}");
    assert!(stale.is_empty(), "documented but not registered: {stale:#?}");
}

#[test]
fn docs_rules_md_is_generated() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.md");
    let want = docs::reference_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "docs/rules.md is stale: run UPDATE_DOCS=1 cargo test -p netdoctor-engine --test api_docs");
}

#[test]
fn the_drift_check_catches_an_undocumented_function() {
    // A function registered without a Doc must show up, or the check above proves nothing.
    let mut rt = Runtime::default();
    rt.engine_mut().register_fn("brand_new_helper", |x: i64| x + 1);
    let (undocumented, _) = docs::drift(&rt);
    assert_eq!(undocumented, vec!["brand_new_helper".to_string()]);
}
