//! Embeds every `<id>.rhai` of this directory into the binary, so adding a
//! built-in rule is adding a file.

use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("listing rules/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    let mut out = String::from("/// The built-in pack: (file, text) pairs.\npub const BUILTIN: &[(&str, &str)] = &[\n");
    for f in files {
        let name = f.file_name().expect("file name").to_string_lossy().to_string();
        println!("cargo:rerun-if-changed={}", f.display());
        writeln!(out, "    (\"rules/{name}\", include_str!({:?})),", f.display().to_string()).expect("write");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin.rs");
    std::fs::write(dest, out).expect("writing builtin.rs");
}
