//! Diagnostics: positions in the config text and the errors that carry them.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in the config file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Loc {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A config text with its line starts, indexed once, so that turning the many
/// key offsets of a large config into locations costs a binary search each.
pub(super) struct Src<'a> {
    text: &'a str,
    /// Byte offset of the start of every line (the first is 0).
    line_starts: Vec<usize>,
}

impl<'a> Src<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Src { text, line_starts }
    }

    /// The 1-based line and column (in characters) of byte `offset`.
    pub(super) fn loc(&self, offset: usize) -> Loc {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = self
            .text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Loc { line, col }
    }
}

/// One problem found in a config file, or in the plan computed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// Where in the config the problem is, when it comes from one place.
    pub loc: Option<Loc>,
    /// What is wrong, and what to do about it.
    pub msg: String,
}

/// Config loading failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}", path.display())]
    Read {
        /// The path as resolved (under `--root`).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid config.
    #[error("{}", render_diags(path, diags))]
    Invalid {
        /// The path shown in messages.
        path: PathBuf,
        /// Every problem found, in file order.
        diags: Vec<Diag>,
    },
}

/// Renders diagnostics as `file:line:col: message` lines (compiler style).
pub fn render_diags(path: &Path, diags: &[Diag]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match d.loc {
            Some(l) => out.push_str(&format!("{}:{}: {}", path.display(), l, d.msg)),
            None => out.push_str(&format!("{}: {}", path.display(), d.msg)),
        }
    }
    out
}
