//! Shared by the end-to-end tests: run the built binary from the repository root.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root (examples/ and rules/ live here).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `netdoctor ARGS...` in the repository root.
pub fn netdoctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netdoctor")).args(args).current_dir(root()).output().expect("run netdoctor")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A scratch directory (a `tempfile::TempDir`, removed on drop).
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        Scratch(tempfile::Builder::new().prefix(&format!("netdoctor-{tag}-")).tempdir().expect("scratch directory"))
    }
    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        self.0.path()
    }
    /// Writes `text` at `name` (parents created); returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    /// The path of `rel` inside the directory.
    pub fn path(&self, rel: &str) -> String {
        self.dir().join(rel).display().to_string()
    }
}

/// Copies the directory tree `from` into `to` (created), e.g. an example capture into a
/// scratch directory a test then edits.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    netdoctor_testkit::copy_dir(from, to).unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
