//! Planned file changes, unified diffs for dry runs, and atomic writes.
//!
//! A write goes to a temporary file in the same directory, gets the original's
//! mode and owner, is fsynced, and is renamed over the original; the directory is
//! fsynced after. The previous content is kept as `<file>.bak` (one backup,
//! replaced on every real change). Nothing at all is written when the content
//! would not change.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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
/// # Errors
///
/// [`Error::Read`] for anything but "not found".
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn werr(path: &Path, step: &'static str) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_owned();
    move |source| Error::Write { path, step, source }
}

/// Replace `path`'s content with `contents` atomically; a no-op when the content
/// is already equal. A symlink is followed (its target is replaced, the link kept).
/// Mode and owner of the existing file are kept; a new file gets mode 0644.
///
/// # Errors
///
/// [`Error::Read`] / [`Error::Write`] naming the step that failed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<WriteOutcome> {
    write_atomic_in(Path::new("/"), path, contents)
}

/// [`write_atomic`] for a file below `root` (a mounted target system): a symlink
/// is resolved as that system would (absolute targets below `root`), and one
/// pointing outside `root` is refused.
///
/// # Errors
///
/// [`Error::Read`] / [`Error::Write`] naming the step that failed.
pub fn write_atomic_in(root: &Path, path: &Path, contents: &[u8]) -> Result<WriteOutcome> {
    let target = resolve_in_root(root, path)?;
    let old = match fs::read(&target) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                path: target,
                source,
            })
        }
    };
    if old.as_deref() == Some(contents) {
        return Ok(WriteOutcome::Unchanged {
            path: path.to_owned(),
        });
    }
    let meta = fs::metadata(&target).ok();
    let backup = match &old {
        Some(old) => {
            let b = with_suffix(&target, BACKUP_SUFFIX);
            put(&b, old, meta.as_ref())?;
            Some(b)
        }
        None => None,
    };
    put(&target, contents, meta.as_ref())?;
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

/// temp file + chmod/chown + fsync + rename + fsync(dir).
fn put(dest: &Path, contents: &[u8], like: Option<&fs::Metadata>) -> Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mode = like.map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let (tmp, mut file) = create_temp(&dir, &name, dest)?;
    let result = (|| {
        file.write_all(contents)
            .map_err(werr(dest, "write temp file"))?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(werr(dest, "chmod temp file"))?;
        if let Some(m) = like {
            std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()))
                .map_err(werr(dest, "chown temp file"))?;
        }
        file.sync_all().map_err(werr(dest, "fsync temp file"))?;
        fs::rename(&tmp, dest).map_err(werr(dest, "rename temp file"))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(werr(dest, "fsync directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_temp(dir: &Path, name: &str, dest: &Path) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..100u32 {
        let tmp = dir.join(format!(".{name}.bootcmd-{pid}-{n}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(werr(dest, "create temp file")(e)),
        }
    }
    Err(werr(dest, "create temp file")(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AlreadyExists, "no free temp name")
    })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
