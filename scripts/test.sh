#!/usr/bin/env bash
# The whole test suite, including its set-up: system packages (idempotent),
# lint, then every test of every crate. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
