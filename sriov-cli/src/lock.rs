//! The host-wide lock: one writer at a time.
//!
//! `setup`, `reset` and `enable-iommu` (the commands that change the host)
//! take an exclusive `flock(2)` on `<root>/run/sriov-cli.lock` before they
//! read the host. A second writer waits for it, saying so on stderr, for at
//! most `--wait` seconds, then fails (exit 2, nothing changed). Read-only
//! commands (`status`, `stats`, `check-iommu`, `generate`, every `--dry-run`)
//! never take it. The lock is the kernel's: it goes with the process, so a
//! killed run never leaves it held.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::CliError;

/// Where the lock lives, under `--root`.
pub const LOCK_PATH: &str = "run/sriov-cli.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

/// Whether an `flock` on `f` was taken.
pub(crate) fn try_flock(f: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor this function borrows for the
    // duration of the call; no memory is passed.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Takes the lock for `what` (the command, for the holder's line in the
/// file), waiting at most `wait`; `say` is told once when it must wait.
///
/// # Errors
/// [`CliError::Usage`] when the lock file cannot be opened or locked, or
/// another run still holds it after `wait`.
pub fn acquire(
    root: &Path,
    what: &str,
    wait: Duration,
    say: &mut dyn FnMut(&str),
) -> Result<HostLock, CliError> {
    let path: PathBuf = root.join(LOCK_PATH);
    let fail = |e: std::io::Error| {
        CliError::Usage(format!(
            "cannot take the lock {}: {e} (it keeps two sriov-cli runs from changing the host at once)",
            path.display()
        ))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(fail)?;
    if !file.metadata().map_err(fail)?.is_file() {
        return Err(fail(std::io::Error::other("not a regular file")));
    }
    let t0 = Instant::now();
    let mut told = false;
    while !try_flock(&file).map_err(fail)? {
        if !told {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            say(&format!(
                "waiting for another sriov-cli run{} to finish (it holds {}; at most {} s, see --wait)",
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", crate::render::one_line(holder))
                },
                path.display(),
                wait.as_secs()
            ));
            told = true;
        }
        if t0.elapsed() >= wait {
            return Err(CliError::Usage(format!(
                "another sriov-cli run still holds {} after {} s: nothing was changed; wait for it (or raise --wait) and run again",
                path.display(),
                wait.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Who holds it, for a waiter's message (best effort).
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "pid {}, {what}", std::process::id());
    Ok(HostLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_fails_and_the_lock_goes_with_its_holder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("run")).unwrap();
        let held = acquire(d.path(), "setup", Duration::from_secs(60), &mut |_| {}).unwrap();
        let holder = std::fs::read_to_string(d.path().join(LOCK_PATH)).unwrap();
        assert_eq!(holder, format!("pid {}, setup\n", std::process::id()));
        // flock locks belong to the open file: a second open in this
        // process conflicts as another process would.
        let mut said = Vec::new();
        let t0 = Instant::now();
        let e = acquire(d.path(), "reset", Duration::from_millis(300), &mut |m| {
            said.push(m.to_string())
        })
        .unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains("setup") && said[0].contains("--wait"),
            "{said:?}"
        );
        assert!(e.to_string().contains("nothing was changed"), "{e}");
        drop(held);
        acquire(d.path(), "reset", Duration::ZERO, &mut |_| {}).unwrap();
    }

    #[test]
    fn a_symlink_at_the_lock_path_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("run")).unwrap();
        let target = d.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join(LOCK_PATH)).unwrap();
        assert!(acquire(d.path(), "setup", Duration::ZERO, &mut |_| {}).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
