//! A fault hook for the test bed: `SRIOV_CLI_FAULT=kill-after:POINT` makes
//! `setup` kill itself with SIGKILL right after POINT, as a power cut or an
//! OOM kill would stop it, so that a test can prove that a plain re-run
//! converges from there. `SRIOV_CLI_FAULT=stop-after:POINT` stops it with
//! SIGSTOP instead, so that a test can change the host under it (remove or
//! rebind a VF, unbind the PF's driver, rename a netdev) and let it go on
//! with SIGCONT. POINT is a phase (`pf_link`, `num_vfs`, `vf_attrs`,
//! `driver`, `link`, `address`, `route`: after its last kernel operation),
//! a phase with `-planned` (`link-planned`: after the phase read the host
//! and planned, before its first kernel operation), or `num_vfs-written`
//! (right after the count writes, before the waits that follow them). Unset, or any other value, does nothing.

use std::sync::OnceLock;

/// The environment variable.
pub const VAR: &str = "SRIOV_CLI_FAULT";

/// Kills (or stops) the process when `point` is the one asked for.
pub fn point(point: &str) {
    static WANT: OnceLock<Option<(libc::c_int, String)>> = OnceLock::new();
    let want = WANT.get_or_init(|| {
        let v = std::env::var(VAR).ok()?;
        if let Some(p) = v.strip_prefix("kill-after:") {
            Some((libc::SIGKILL, p.to_string()))
        } else {
            v.strip_prefix("stop-after:")
                .map(|p| (libc::SIGSTOP, p.to_string()))
        }
    });
    if let Some((sig, p)) = want {
        if p == point {
            let what = if *sig == libc::SIGKILL {
                "killing"
            } else {
                "stopping"
            };
            // What is on stderr so far stays there; nothing else is cleaned
            // up, which is the point.
            eprintln!(
                "{VAR}: {what} sriov-cli (pid {}) after {point}",
                std::process::id()
            );
            // SAFETY: kill(2) on our own pid with a constant signal; no
            // memory is passed.
            unsafe {
                libc::kill(libc::getpid(), *sig);
            }
        }
    }
}
