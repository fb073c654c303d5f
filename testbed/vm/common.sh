# shellcheck shell=bash
# Shared paths and helpers for the VM test bed scripts. Sourced, not run.

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$TESTBED_DIR/.." && pwd)
# Everything generated lives under the (gitignored) cargo target dir.
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_DIR/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$REPO_DIR/$TARGET_DIR ;; esac
TB_OUT=$TARGET_DIR/testbed
TB_CACHE=$TB_OUT/cache
TB_BUILD=$TB_OUT/build
TB_LOGS=$TB_OUT/logs

# The kernels the bed knows: "stable" (what linux-image-amd64 depends on) and
# "backports" (the same meta package from bookworm-backports).
TB_KERNELS="stable backports"

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 2; }

# tb_lock: one test bed run or build at a time per target dir (they share the
# build and log directories); a nested call (run -> build) holds it already.
tb_lock() {
    [ -n "${TB_LOCKED:-}" ] && return 0
    mkdir -p "$TB_OUT"
    exec 9>"$TB_OUT/.lock"
    if ! flock -n 9; then
        log "another test bed run holds $TB_OUT/.lock: waiting for it"
        flock 9
    fi
    export TB_LOCKED=1
}

# kernel_dir NAME: where the extracted kernel package of that flavour lives.
kernel_dir() { printf '%s/kernel-%s\n' "$TB_CACHE" "$1"; }
