//! Shared helpers for the real-kernel tests: private network namespaces on
//! their own threads, and `ip -j` as an independent reader.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use netlink_vf::{Handle, IfName};

/// True when running as root (needed for CLONE_NEWNET and link changes).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Returns early with a LOUD message when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!(
                "\n*** SKIPPED {}: needs root for unshare(CLONE_NEWNET); run as root (CI does) ***\n",
                module_path!()
            );
            return;
        }
    };
}

/// Runs `f` on a fresh thread inside a new, private network namespace. The
/// namespace disappears with the thread (nothing else holds it), so tests
/// never touch the host's links. Panics in `f` propagate.
pub fn in_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        f()
    });
    match t.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// The thread id of the calling thread (a "pid" as far as IFLA_NET_NS_PID goes).
pub fn gettid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

pub fn name(s: &str) -> IfName {
    IfName::new(s).unwrap()
}

/// Runs `ip -j ARGS` from the calling thread. The child inherits the calling
/// thread's network namespace (fork/clone copies the thread's nsproxy), so
/// this reads the same namespace as the test's Handle.
pub fn ip_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -j {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    if s.trim().is_empty() {
        return serde_json::Value::Array(vec![]);
    }
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {s}"))
}

/// Runs `ip ARGS` and returns (success, stderr).
pub fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ip -j link show dev NAME` as one JSON object.
pub fn ip_link(name: &str) -> serde_json::Value {
    let v = ip_json(&["link", "show", "dev", name]);
    v[0].clone()
}

/// Flags of `ip -j link show dev NAME`.
pub fn ip_flags(name: &str) -> Vec<String> {
    ip_link(name)["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

/// Creates a veth pair through the library and returns (index a, index b).
pub fn veth(h: &mut Handle, a: &str, b: &str) -> (u32, u32) {
    let ia = h.create_veth(&name(a), &name(b)).unwrap();
    let ib = h.index_of(&name(b)).unwrap();
    (ia, ib)
}
