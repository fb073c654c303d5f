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
    pub(super) text: &'a str,
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

/// At most this many problems are listed; a count stands for the rest (a
/// generated file with 20,000 duplicates would otherwise print 20,000 lines).
pub const MAX_SHOWN: usize = 50;

/// Renders diagnostics as `file:line:col: message` lines (compiler style),
/// one line each (a control character in a message is escaped), at most
/// [`MAX_SHOWN`] of them.
pub fn render_diags(path: &Path, diags: &[Diag]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().take(MAX_SHOWN).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let msg = crate::render::one_line(&d.msg);
        match d.loc {
            Some(l) => out.push_str(&format!("{}:{}: {msg}", path.display(), l)),
            None => out.push_str(&format!("{}: {msg}", path.display())),
        }
    }
    if diags.len() > MAX_SHOWN {
        out.push_str(&format!(
            "\n{}: ... and {} more problems (fix the ones above first)",
            path.display(),
            diags.len() - MAX_SHOWN
        ));
    }
    out
}

/// The toml parser's message for the error at `span` of `text`, in the
/// config's words: no Rust type names (`i64`, "as i128"), a date-time named
/// as one, the key a "duplicate key" is about and where it was first set,
/// the `[[pf.vf]]`-before-`[[pf]]` mistake explained.
pub(super) fn toml_message(
    msg: &str,
    span: Option<std::ops::Range<usize>>,
    src: &Src<'_>,
) -> String {
    let msg = msg.trim_end().replace('\n', " ");
    let at = span
        .as_ref()
        .and_then(|r| src.text.get(r.clone()))
        .unwrap_or("");
    if let Some(rest) = msg.strip_prefix("invalid type: integer `") {
        if let Some((n, _)) = rest.split_once('`') {
            if msg.contains(" as i128") || msg.contains(" as u128") {
                return format!(
                    "the number {n} is out of range (TOML integers are 64-bit: at most {})",
                    i64::MAX
                );
            }
        }
    }
    if msg == "duplicate key" {
        if let Some(r) = span {
            return duplicate_key(r.start, src);
        }
    }
    if msg == "recursion limit" {
        return "nested too deeply (dotted keys, tables or arrays more than a hundred levels deep)"
            .into();
    }
    let mut msg = msg;
    if msg.starts_with("invalid type: map") && looks_like_datetime(at) {
        msg = msg.replacen("map", "a date-time", 1);
    }
    for (rust, words) in [
        ("i64", "an integer"),
        ("i32", "an integer"),
        ("u64", "an integer"),
        ("u32", "an integer"),
        ("u16", "an integer"),
        ("u8", "an integer"),
        ("f64", "a number"),
        ("map", "a table"),
        ("sequence", "an array"),
    ] {
        msg = msg
            .replace(&format!("expected {rust}"), &format!("expected {words}"))
            .replace(
                &format!("invalid type: {rust},"),
                &format!("invalid type: {words},"),
            );
    }
    msg
}

/// A TOML date, time or date-time literal (`1979-05-27`, `07:32:00`).
fn looks_like_datetime(s: &str) -> bool {
    let s = s.trim();
    s.len() >= 5
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-:.+ ".contains(c))
        && (s.as_bytes().get(4) == Some(&b'-') || s.as_bytes().get(2) == Some(&b':'))
}

/// "duplicate key" at byte `at`: which key, and where it was first set in
/// the same table; a table header redefining a key an earlier header's
/// dotted name created (`[[pf.vf]]` above its `[[pf]]`) says so.
fn duplicate_key(at: usize, src: &Src<'_>) -> String {
    let text = src.text;
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let rest = text.get(at..).unwrap_or("");
    let key: String = if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next().unwrap_or("").to_string()
    } else {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    };
    let line = text[line_start..].lines().next().unwrap_or("").trim_start();
    if line.starts_with('[') {
        // A header: find the earlier header whose dotted name starts with it.
        let header: String = line
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let mut off = 0;
        for l in text[..line_start].lines() {
            let t = l.trim_start();
            if t.starts_with('[') {
                let name = t
                    .trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim();
                if name.starts_with(&format!("{header}.")) {
                    let first = src.loc(off + (l.len() - t.len()));
                    return format!(
                        "[{header}] comes after [{name}] (at {first}), which already made `{header}` a table: a [[{name}]] table belongs to the [[{header}]] above it, so put it after its [[{header}]]"
                    );
                }
            }
            off += l.len() + 1;
        }
        return format!("duplicate table [{header}]");
    }
    // A key: the first line of the same table that sets it.
    let mut first = None;
    let mut off = 0;
    for l in text[..line_start].lines() {
        let t = l.trim_start();
        if t.starts_with('[') {
            first = None;
        } else if let Some(after) = t.strip_prefix(key.as_str()) {
            if !key.is_empty() && after.trim_start().starts_with(['=', '.']) {
                first = Some(src.loc(off + (l.len() - t.len())));
            }
        }
        off += l.len() + 1;
    }
    match first {
        Some(f) => format!("duplicate key `{key}`: first set at {f}"),
        None => format!("duplicate key `{key}`"),
    }
}
