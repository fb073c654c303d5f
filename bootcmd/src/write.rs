//! Planned file changes, unified diffs for dry runs, and atomic writes.
//!
//! Every write here goes through one writer: a temp file in the same directory
//! with a random name (`.{name}.{16 hex digits}.tmp`, opened `O_EXCL|O_NOFOLLOW`,
//! mode 0600), written, given its mode (and owner), fsynced, renamed over the
//! destination; the directory is fsynced after. [`replace_file`] is that writer
//! for a caller's own file (`sriov-cli stats --output`); [`write_atomic`] adds
//! what boot files need: the original's mode and owner kept, the previous content
//! kept as `<file>.bak` (one backup, replaced on every real change), symlinks
//! followed within the root, and nothing at all written when the content would
//! not change. Neither replaces or opens a FIFO, socket, directory or device.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Suffix of the one backup kept next to an edited file.
pub const BACKUP_SUFFIX: &str = ".bak";

/// A planned change of one file: what it holds now and what it should hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    /// The root the plan was made for: symlinks are resolved inside it.
    pub root: PathBuf,
    /// The file on this machine (under the root the plan was made for).
    pub path: PathBuf,
    /// The path as the target system sees it (`/etc/default/grub`), for messages.
    pub display_path: PathBuf,
    /// Current content; `None` when the file does not exist yet.
    pub old: Option<String>,
    /// Wanted content.
    pub new: String,
}

/// What [`FileChange::apply`] / [`write_atomic`] did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// The content was already right: nothing was written.
    Unchanged {
        /// The file.
        path: PathBuf,
    },
    /// The file was replaced.
    Written {
        /// The file.
        path: PathBuf,
        /// Where the previous content went, if there was any.
        backup: Option<PathBuf>,
    },
}

impl WriteOutcome {
    /// True when something was written.
    pub fn changed(&self) -> bool {
        matches!(self, WriteOutcome::Written { .. })
    }
}

impl std::fmt::Display for WriteOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteOutcome::Unchanged { path } => {
                write!(f, "{} already up to date, nothing written", path.display())
            }
            WriteOutcome::Written {
                path,
                backup: Some(b),
            } => write!(
                f,
                "wrote {} (previous content in {})",
                path.display(),
                b.display()
            ),
            WriteOutcome::Written { path, backup: None } => write!(f, "wrote {}", path.display()),
        }
    }
}

impl FileChange {
    /// True when applying would not change anything.
    pub fn is_noop(&self) -> bool {
        self.old.as_deref() == Some(self.new.as_str())
    }

    /// A unified diff (`--- a/... +++ b/...`, 3 lines of context); empty for a no-op.
    pub fn unified_diff(&self) -> String {
        if self.is_noop() {
            return String::new();
        }
        unified_diff(
            &self.display_path,
            self.old.as_deref().unwrap_or_default(),
            &self.new,
        )
    }

    /// Write the new content atomically, after checking the file still holds
    /// [`FileChange::old`].
    ///
    /// # Errors
    ///
    /// [`Error::ChangedSinceRead`] when the file changed since it was read;
    /// [`Error::Read`] / [`Error::Write`] for I/O failures.
    pub fn apply(&self) -> Result<WriteOutcome> {
        let current = read_optional(&self.path)?;
        if current != self.old {
            return Err(Error::ChangedSinceRead {
                path: self.path.clone(),
            });
        }
        write_atomic_in(&self.root, &self.path, self.new.as_bytes())
    }
}

/// A unified diff between two texts, labelled `a/<path>` and `b/<path>`.
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let label = path.display().to_string();
    let label = label.trim_start_matches('/');
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

/// Read a file that may not exist.
///
/// A symlink is followed. Anything but a regular file is refused before it is
/// opened: opening a FIFO blocks until a writer comes, and opening some devices
/// does something by itself.
///
/// # Errors
///
/// [`Error::NotRegularFile`] when `path` is (or a symlink at it leads to) a
/// directory, FIFO, socket or device; [`Error::Read`] for anything but "not found".
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    Ok(read_regular(path, Follow::Yes)?.map(|(b, _)| String::from_utf8_lossy(&b).into_owned()))
}

/// Whether [`read_regular`] follows a symlink at the path's last component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Follow {
    Yes,
    No,
}

/// The content and metadata of the regular file at `path`; `None` when nothing
/// has that name. Anything else is refused before it is opened, and again on the
/// open fd (it is opened with `O_NONBLOCK`, so a FIFO swapped in between does not
/// block either).
fn read_regular(path: &Path, follow: Follow) -> Result<Option<(Vec<u8>, fs::Metadata)>> {
    let rerr = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let found = match follow {
        Follow::Yes => fs::metadata(path),
        Follow::No => fs::symlink_metadata(path),
    };
    match found {
        Ok(m) => refuse_special(path, &m)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(rerr(source)),
    }
    let flags = match follow {
        Follow::Yes => libc::O_NONBLOCK,
        Follow::No => libc::O_NONBLOCK | libc::O_NOFOLLOW,
    };
    let mut file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(rerr(source)),
    };
    let meta = file.metadata().map_err(rerr)?;
    refuse_special(path, &meta)?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).map_err(rerr)?;
    Ok(Some((buf, meta)))
}

/// [`Error::NotRegularFile`] unless `meta` is a regular file's.
fn refuse_special(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    };
    Err(Error::NotRegularFile {
        path: path.to_owned(),
        kind,
    })
}

fn werr(path: &Path, step: &'static str) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_owned();
    move |source| Error::Write { path, step, source }
}

/// Atomically replaces (or creates) the regular file `path` with `contents`,
/// then gives it `mode`.
///
/// `path` must be a new name or an existing *regular* file. It is `lstat`ed
/// first: a symbolic link (never followed), directory, FIFO, socket, character
/// or block device is refused before anything is created, so `/dev/stdout`, a
/// FIFO or `/dev/full` is never replaced by a plain file, and a symlink someone
/// planted at `path` does not send the write elsewhere.
///
/// The content goes to a temp file in the same directory, named
/// `.{file name}.{16 random hex digits}.tmp` (8 bytes from `getrandom(2)`, so a
/// writer of the directory cannot plant links at the next names), created with
/// `O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` and mode 0600; if the name is
/// taken, another random name is tried (16 tries). Then: write all, `fchmod` to
/// `mode` (`& 0o7777`, so the umask does not apply), `fsync` the file, rename it
/// over `path`, `fsync` the directory. On any failure before the rename the temp
/// file is removed and `path` is left as it was.
///
/// The new file belongs to the caller (the old one's owner is not kept; use
/// [`write_atomic`] for that). Readers see the old content or the new one, never
/// a part.
///
/// ```no_run
/// use std::path::Path;
///
/// let metrics = "sriov_vf_rx_bytes{pf=\"enp1s0f0\",vf=\"0\"} 42\n";
/// bootcmd::replace_file(
///     Path::new("/var/lib/prometheus/node-exporter/sriov.prom"),
///     metrics.as_bytes(),
///     0o644,
/// )?;
/// # Ok::<(), bootcmd::Error>(())
/// ```
///
/// # Errors
///
/// - [`Error::NotRegularFile`] when `path` exists and is not a regular file
///   (`kind` says what it is: `"symbolic link"`, `"FIFO"`, `"character device"`, ...);
///   nothing was created.
/// - [`Error::Write`] naming the failed step: `"lstat target"`, `"create temp
///   file"` (also a missing parent directory, or a `path` without a file name),
///   `"write temp file"`, `"chmod temp file"`, `"fsync temp file"`, `"rename temp
///   file"`, `"fsync directory"` (the only one after which `path` already holds
///   the new content).
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) => refuse_special(path, &m)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(werr(path, "lstat target")(e)),
    }
    put(path, contents, mode, None)
}

/// Replace `path`'s content with `contents` atomically; a no-op when the content
/// is already equal. A symlink is followed (its target is replaced, the link kept).
/// Mode and owner of the existing file are kept; a new file gets mode 0644.
/// The write itself is [`replace_file`]'s (random temp name, `O_EXCL|O_NOFOLLOW`).
///
/// # Errors
///
/// [`Error::NotRegularFile`] when the file (after following symlinks) is a
/// directory, FIFO, socket or device; [`Error::Read`] / [`Error::Write`] naming
/// the step that failed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<WriteOutcome> {
    write_atomic_in(Path::new("/"), path, contents)
}

/// [`write_atomic`] for a file below `root` (a mounted target system): a symlink
/// is resolved as that system would (absolute targets below `root`), and one
/// pointing outside `root` is refused.
///
/// # Errors
///
/// [`Error::NotRegularFile`] when the resolved file is a directory, FIFO, socket
/// or device (it is not opened); [`Error::Read`] / [`Error::Write`] naming the
/// step that failed.
pub fn write_atomic_in(root: &Path, path: &Path, contents: &[u8]) -> Result<WriteOutcome> {
    let target = resolve_in_root(root, path)?;
    // The last component is no symlink any more: do not follow one swapped in.
    let old = read_regular(&target, Follow::No)?;
    if old.as_ref().map(|(b, _)| b.as_slice()) == Some(contents) {
        return Ok(WriteOutcome::Unchanged {
            path: path.to_owned(),
        });
    }
    let (mode, owner) = match &old {
        Some((_, m)) => (m.mode() & 0o7777, Some((m.uid(), m.gid()))),
        None => (0o644, None),
    };
    let backup = match &old {
        Some((old, _)) => {
            let b = with_suffix(&target, BACKUP_SUFFIX);
            put(&b, old, mode, owner)?;
            Some(b)
        }
        None => None,
    };
    put(&target, contents, mode, owner)?;
    Ok(WriteOutcome::Written {
        path: path.to_owned(),
        backup,
    })
}

/// Lexically drop `.` and resolve `..` components.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Follow a chain of symlinks at `path` the way the system under `root` sees them.
fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let root = normalize(root);
    let mut p = normalize(path);
    let refuse = |what: &str| Error::Write {
        path: path.to_owned(),
        step: "resolve symlink",
        source: io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()),
    };
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = fs::read_link(&p).map_err(|source| Error::Read {
                    path: p.clone(),
                    source,
                })?;
                let next = match t.strip_prefix("/") {
                    Ok(rel) => root.join(rel),
                    Err(_) => p.parent().unwrap_or(&root).join(&t),
                };
                let next = normalize(&next);
                if !next.starts_with(&root) {
                    return Err(refuse("the symlink points outside the root"));
                }
                p = next;
            }
            _ => return Ok(p),
        }
    }
    Err(refuse("too many levels of symlinks"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The one writer behind [`replace_file`] and [`write_atomic`]: a new temp file
/// next to `dest` ([`create_temp`]), all of `contents`, the owner (when given)
/// and `mode`, fsync, rename over `dest`, fsync of the directory. The temp file
/// is removed on any failure before the rename.
fn put(dest: &Path, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().ok_or_else(|| {
        werr(dest, "create temp file")(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    let (tmp, mut file) = create_temp(&dir, name).map_err(werr(dest, "create temp file"))?;
    let mut renamed = false;
    let result = (|| {
        file.write_all(contents)
            .map_err(werr(dest, "write temp file"))?;
        // chown before chmod: chown(2) clears the set-user-ID and set-group-ID bits.
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                .map_err(werr(dest, "chown temp file"))?;
        }
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
            .map_err(werr(dest, "chmod temp file"))?;
        file.sync_all().map_err(werr(dest, "fsync temp file"))?;
        fs::rename(&tmp, dest).map_err(werr(dest, "rename temp file"))?;
        renamed = true;
        // The rename is durable only once the directory is (fsync(2), NOTES).
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(werr(dest, "fsync directory"))?;
        remove_stale_temps(&dir, name);
        Ok(())
    })();
    if result.is_err() && !renamed {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// How old a temp file of ours must be before a later write of the same file
/// removes it: a write killed between creating and renaming its temp file
/// leaves it behind; a younger one may be another writer's, still working.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes `dir`'s temp files of `name` (`.{name}.{16 hex digits}.tmp`,
/// regular files only: a symlink there is not ours) older than
/// [`STALE_TEMP_AGE`]. Best effort: what cannot be read or removed stays.
fn remove_stale_temps(dir: &Path, name: &OsStr) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let prefix = prefix.as_bytes().to_vec();
    for e in entries.flatten() {
        let n = e.file_name();
        let b = n.as_bytes();
        let ours = b.len() == prefix.len() + 20
            && b.starts_with(&prefix)
            && b.ends_with(b".tmp")
            && b[prefix.len()..prefix.len() + 16]
                .iter()
                .all(u8::is_ascii_hexdigit);
        if !ours {
            continue;
        }
        let old = e
            .metadata()
            .ok()
            .filter(fs::Metadata::is_file)
            .and_then(|m| {
                m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .map(|age| age >= STALE_TEMP_AGE)
            });
        if old == Some(true) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// How many random temp names [`create_temp`] tries before giving up.
const TEMP_TRIES: u32 = 16;

/// A new file `.{name}.{16 random hex digits}.tmp` in `dir`, mode 0600.
///
/// `O_EXCL` makes the open fail rather than follow or reuse anything already at
/// that name (with `O_CREAT|O_EXCL` the kernel does not follow a symlink either;
/// `O_NOFOLLOW` says so once more), and the random name means nobody can plant
/// something at it in advance. A taken name means another random one.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..TEMP_TRIES {
        let tmp = dir.join(temp_name(name, random_u64()?));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "no free temp name")))
}

/// `.{name}.{random as 16 hex digits}.tmp`; `name`'s bytes are kept as they are.
fn temp_name(name: &OsStr, random: u64) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(format!(".{random:016x}.tmp"));
    s
}

/// 8 bytes from the kernel's random pool: `getrandom(2)`, or `/dev/urandom` where
/// the system call is missing (before Linux 3.17) or filtered out (`EPERM` from
/// old container seccomp profiles).
fn random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, a live, writable part
        // of `buf`; getrandom(2) writes at most that many bytes into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOSYS | libc::EPERM) => break,
                _ => return Err(e),
            }
        }
        match usize::try_from(n) {
            Ok(k) if k > 0 => filled += k,
            // 0 bytes for a non-empty request is not documented: use the device.
            _ => break,
        }
    }
    if filled < buf.len() {
        File::open("/dev/urandom")?.read_exact(&mut buf)?;
    }
    Ok(u64::from_ne_bytes(buf))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_later_write_removes_stale_temps_of_the_same_file_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grub");
        let stale = d.path().join(".grub.0123456789abcdef.tmp");
        let fresh = d.path().join(".grub.fedcba9876543210.tmp");
        let other = d.path().join(".other.0123456789abcdef.tmp");
        let link = d.path().join(".grub.00000000000000aa.tmp");
        for f in [&stale, &fresh, &other] {
            fs::write(f, "x").unwrap();
        }
        std::os::unix::fs::symlink(&other, &link).unwrap();
        let long_ago = std::time::SystemTime::now() - STALE_TEMP_AGE * 2;
        for f in [&stale, &other] {
            File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        replace_file(&p, b"new\n", 0o644).unwrap();
        assert!(!stale.exists(), "a stale temp of grub stays");
        assert!(fresh.exists(), "a young temp (another writer's) is removed");
        assert!(other.exists(), "another file's temp is removed");
        assert!(fs::symlink_metadata(&link).is_ok(), "a symlink is removed");
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
    }

    #[test]
    fn temp_names_are_dot_name_16_hex_digits_tmp_and_differ() {
        let name = OsStr::new("sriov.prom");
        assert_eq!(
            temp_name(name, 0x0123_4567_89ab_cdef),
            OsString::from(".sriov.prom.0123456789abcdef.tmp")
        );
        assert_eq!(
            temp_name(name, 1),
            OsString::from(".sriov.prom.0000000000000001.tmp")
        );
        let draws: std::collections::HashSet<u64> =
            (0..64).map(|_| random_u64().unwrap()).collect();
        assert_eq!(draws.len(), 64, "64 draws of 64 random bits collided");
    }

    #[test]
    fn noop_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cmdline");
        fs::write(&p, "root=x\n").unwrap();
        let out = write_atomic(&p, b"root=x\n").unwrap();
        assert_eq!(out, WriteOutcome::Unchanged { path: p.clone() });
        assert!(!d.path().join("cmdline.bak").exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn keeps_mode_and_one_backup() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("grub");
        fs::write(&p, "A\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let out = write_atomic(&p, b"B\n").unwrap();
        assert!(out.changed());
        assert_eq!(fs::read_to_string(&p).unwrap(), "B\n");
        assert_eq!(
            fs::read_to_string(d.path().join("grub.bak")).unwrap(),
            "A\n"
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomic(&p, b"C\n").unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join("grub.bak")).unwrap(),
            "B\n"
        );
        // Only the file and its one backup: no temp files left.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("etc/kernel")).unwrap();
        fs::create_dir_all(root.join("srv")).unwrap();
        fs::write(root.join("srv/cmdline"), "root=x\n").unwrap();
        // Absolute target: means <root>/srv/cmdline on the target system.
        std::os::unix::fs::symlink("/srv/cmdline", root.join("etc/kernel/cmdline")).unwrap();
        write_atomic_in(root, &root.join("etc/kernel/cmdline"), b"root=y\n").unwrap();
        assert_eq!(
            fs::read_to_string(root.join("srv/cmdline")).unwrap(),
            "root=y\n"
        );
        assert!(fs::symlink_metadata(root.join("etc/kernel/cmdline"))
            .unwrap()
            .file_type()
            .is_symlink());
        // Escaping the root is refused.
        std::os::unix::fs::symlink("../../../../../../../../tmp/x", root.join("etc/kernel/esc"))
            .unwrap();
        assert!(matches!(
            write_atomic_in(root, &root.join("etc/kernel/esc"), b"z"),
            Err(Error::Write {
                step: "resolve symlink",
                ..
            })
        ));
    }

    #[test]
    fn keeps_owner() {
        if !nix_is_root() {
            eprintln!("SKIPPED keeps_owner: needs root to chown (run the tests as root)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cmdline");
        fs::write(&p, "root=x\n").unwrap();
        std::os::unix::fs::chown(&p, Some(1234), Some(5678)).unwrap();
        write_atomic(&p, b"root=x iommu=pt\n").unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    }

    fn nix_is_root() -> bool {
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }

    #[test]
    fn follows_symlink() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        let link = d.path().join("link");
        fs::write(&real, "A").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"B").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "B");
    }

    #[test]
    fn change_detects_concurrent_edit_and_diffs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cmdline");
        fs::write(&p, "root=x quiet\n").unwrap();
        let c = FileChange {
            root: "/".into(),
            path: p.clone(),
            display_path: "/etc/kernel/cmdline".into(),
            old: Some("root=x quiet\n".into()),
            new: "root=x quiet iommu=pt\n".into(),
        };
        assert_eq!(
            c.unified_diff(),
            "--- a/etc/kernel/cmdline\n+++ b/etc/kernel/cmdline\n@@ -1 +1 @@\n-root=x quiet\n+root=x quiet iommu=pt\n"
        );
        fs::write(&p, "root=y\n").unwrap();
        assert_eq!(c.apply(), Err(Error::ChangedSinceRead { path: p.clone() }));
        fs::write(&p, "root=x quiet\n").unwrap();
        assert!(c.apply().unwrap().changed());
    }
}
