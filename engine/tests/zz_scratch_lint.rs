#[test]
fn lint_pack() {
    let rt = netdoctor_engine::Runtime::default();
    let mut n = 0;
    for dir in ["../rules", "../examples/rules"] {
        let mut fs: Vec<_> =
            std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "rhai")).collect();
        fs.sort();
        for f in fs {
            let t = std::fs::read_to_string(&f).unwrap();
            for e in rt.lint(&f.display().to_string(), &t) {
                println!("{}: {}", e.source, e.message);
                n += 1;
            }
        }
    }
    assert_eq!(n, 0);
}
