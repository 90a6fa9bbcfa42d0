#!/usr/bin/env bash
# Builds groupsync for release and stages what a deployment needs under OUT (default
# target/deploy/rootfs), laid out as on the target system:
#   OUT/usr/local/bin/groupsync
#   OUT/etc/groupsync/groupsync.example.toml
#
#   deploy/build.sh [OUT [CARGO_FLAGS...]]
#
# CARGO_FLAGS go to `cargo build`, e.g. `--no-default-features` for the lean binary that
# the container image ships (without the `demo` and `sandbox` commands).
#
# The container image's builder stage runs this and copies OUT over its root file system;
# .ci/run runs it too, so the release build is proven on every change.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-target/deploy/rootfs}
shift || true
TARGET_DIR=${CARGO_TARGET_DIR:-target}

# --locked: build exactly the versions in Cargo.lock, or fail.
cargo build --release --locked --bin groupsync "$@"

rm -rf "$OUT"
mkdir -p "$OUT/usr/local/bin" "$OUT/etc/groupsync"
install -m 0755 "$TARGET_DIR/release/groupsync" "$OUT/usr/local/bin/groupsync"
install -m 0644 config/groupsync.example.toml "$OUT/etc/groupsync/groupsync.example.toml"

# The staged binary must at least start.
"$OUT/usr/local/bin/groupsync" --version
echo "staged in $OUT"
