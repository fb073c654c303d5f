//! Every file this crate reads goes through [`Root`], so a fixture directory can stand
//! in for `/`.

use std::io;
use std::path::{Path, PathBuf};

/// Outcome of reading one file: missing files are evidence, not errors.
#[derive(Debug)]
pub(crate) enum Read {
    /// The file's content (lossy UTF-8).
    Text(String),
    /// No such file.
    Missing,
    /// Exists but could not be read (permission, I/O): the reason.
    Unreadable(String),
}

impl Read {
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Read::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A short description for evidence when there is no text.
    pub(crate) fn describe_absence(&self) -> String {
        match self {
            Read::Text(_) => "present".to_owned(),
            Read::Missing => "missing".to_owned(),
            Read::Unreadable(why) => format!("unreadable ({why})"),
        }
    }
}

/// A host's file system seen from a root directory (`/` on the live host).
#[derive(Debug, Clone)]
pub(crate) struct Root {
    base: PathBuf,
}

impl Root {
    pub(crate) fn new(base: &Path) -> Self {
        Root {
            base: base.to_path_buf(),
        }
    }

    /// `rel` is a path relative to the root without a leading `/`
    /// (`proc/cmdline`); components come from constants or from `read_dir` names.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel.trim_start_matches('/'))
    }

    /// How the path reads on the inspected host (`/proc/cmdline`).
    pub(crate) fn shown(rel: &str) -> String {
        format!("/{}", rel.trim_start_matches('/'))
    }

    pub(crate) fn read(&self, rel: &str) -> Read {
        read_path(&self.path(rel))
    }

    /// Raw bytes of a file (ACPI tables are binary).
    pub(crate) fn read_bytes(&self, rel: &str) -> Result<Vec<u8>, Read> {
        match read_limited(&self.path(rel)) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Read::Missing),
            Err(e) => Err(Read::Unreadable(why(&e))),
        }
    }

    /// The target of a symlink, as stored (relative targets stay relative).
    pub(crate) fn read_link(&self, rel: &str) -> Option<PathBuf> {
        std::fs::read_link(self.path(rel)).ok()
    }

    /// Whether anything (file, dir, even a dangling symlink) is at `rel`.
    pub(crate) fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.path(rel)).is_ok()
    }

    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        self.path(rel).is_dir()
    }

    /// Sorted entry names of a directory; `None` when it does not exist or cannot be
    /// listed. Names that are not UTF-8 are skipped (nothing we look for has them).
    pub(crate) fn list(&self, rel: &str) -> Option<Vec<String>> {
        let rd = std::fs::read_dir(self.path(rel)).ok()?;
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        Some(names)
    }
}

pub(crate) fn read_path(p: &Path) -> Read {
    match read_limited(p) {
        Ok(bytes) => Read::Text(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Unreadable(why(&e)),
    }
}

/// The largest file read: ACPI's DMAR/IVRS tables and proc files are far
/// smaller; a fixture pointing at `/dev/zero` is not read forever.
pub(crate) const READ_LIMIT: u64 = 16 << 20;

/// Reads a regular file of at most [`READ_LIMIT`] bytes. It is opened
/// without blocking and checked after opening: a FIFO (which would wait for
/// a writer forever) or a device is refused, not read.
fn read_limited(p: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    f.take(READ_LIMIT + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > READ_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB", READ_LIMIT >> 20),
        ));
    }
    Ok(buf)
}

/// The reason an existing file could not be read, for evidence.
fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => e.to_string(),
        k => k.to_string(),
    }
}

/// Orders `dmar2` before `dmar10` and `9` before `10`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> (&str, Option<u64>) {
        let idx = s
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_digit())
            .last()
            .map_or(s.len(), |(i, _)| i);
        let (head, tail) = s.split_at(idx);
        (head, tail.parse().ok())
    }
    let (ha, na) = split(a);
    let (hb, nb) = split(b);
    ha.cmp(hb).then(na.cmp(&nb)).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec!["dmar10", "dmar2", "ivhd0", "10", "9", "dmar0"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["9", "10", "dmar0", "dmar2", "dmar10", "ivhd0"]);
    }
}
