//! PVE's per-guest config lock: an exclusive `flock(2)` on
//! `/run/lock/lxc/pve-config-<ctid>.lock` (pve-container
//! src/PVE/LXC/Config.pm `config_file_lock`) or
//! `/var/lock/qemu-server/lock-<vmid>.conf` (qemu-server
//! src/PVE/QemuConfig.pm; `/var/lock` is `/run/lock` on Debian), opened for
//! appending and created if missing, as pve-common src/PVE/Tools.pm
//! `lock_file_full` does. `pct`, `qm` and the API take it around every
//! read-modify-write of the guest's config.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The held lock; released when dropped.
#[derive(Debug)]
pub(crate) struct GuestLock {
    _file: File,
}

/// Takes the lock at `path` (creating its directory, as PVE does at module
/// load), waiting at most `wait`; `say` is told once when it must wait.
///
/// # Errors
/// A message naming the lock file and what to do.
pub(crate) fn acquire(
    path: &Path,
    guest: &str,
    wait: Duration,
    say: &mut dyn FnMut(&str),
) -> Result<GuestLock, String> {
    let fail = |e: std::io::Error| {
        format!(
            "cannot take {guest}'s config lock {}: {e} (PVE's tools take it around every change of the config)",
            path.display()
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(fail(std::io::Error::other("not a regular file")));
    }
    let t0 = Instant::now();
    let mut told = false;
    while !crate::lock::try_flock(&file).map_err(fail)? {
        if !told {
            say(&format!(
                "waiting for {} (another tool is changing {guest}'s config; at most {} s, see --wait)",
                path.display(),
                wait.as_secs()
            ));
            told = true;
        }
        if t0.elapsed() >= wait {
            return Err(format!(
                "{} is still held after {} s (another tool is changing {guest}'s config): nothing was changed; run again when it is done, or raise --wait",
                path.display(),
                wait.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(GuestLock { _file: file })
}
