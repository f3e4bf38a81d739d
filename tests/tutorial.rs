//! docs/writing-a-rule.md works as written: every file block is written, every
//! shell command is run with the real binary in a scratch directory beside the
//! example captures, and each expected-output block must appear in its output.

use std::path::{Path, PathBuf};
use std::process::Command;

enum Block {
    File(String, String),
    Sh(String),
    Text(String),
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = md.lines();
    while let Some(l) = lines.next() {
        let Some(info) = l.strip_prefix("```") else { continue };
        let mut body = String::new();
        for b in lines.by_ref() {
            if b.starts_with("```") {
                break;
            }
            body.push_str(b);
            body.push('\n');
        }
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("");
        if let Some(f) = words.find_map(|w| w.strip_prefix("file=")) {
            out.push(Block::File(f.to_string(), body));
        } else if lang == "sh" {
            out.push(Block::Sh(body));
        } else if lang == "text" {
            out.push(Block::Text(body));
        }
    }
    out
}

#[test]
fn tutorial_commands_work_as_written() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let md = std::fs::read_to_string(root.join("docs/writing-a-rule.md")).unwrap();
    let dir = std::env::temp_dir().join(format!("netdoctor-tutorial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_netdoctor"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut last_output = String::new();
    let mut ran = 0;
    for b in blocks(&md) {
        match b {
            Block::File(f, body) => {
                let p = dir.join(f);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, body).unwrap();
            }
            Block::Sh(cmds) => {
                last_output.clear();
                for cmd in cmds.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
                    let o = Command::new("sh").arg("-c").arg(cmd).current_dir(&dir).env("PATH", &path).output().unwrap();
                    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                    assert!(o.status.success(), "`{cmd}` failed ({:?}):\n{text}", o.status.code());
                    last_output.push_str(&text);
                    ran += 1;
                }
            }
            Block::Text(want) => {
                for line in want.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(last_output.contains(line), "expected output line {line:?} not in:\n{last_output}");
                }
            }
        }
    }
    assert!(ran >= 6, "the tutorial runs its commands ({ran})");
    std::fs::remove_dir_all(&dir).unwrap();
}
