//! `/etc/default/grub` and `/etc/default/grub.d/*.cfg`, treated as the shell
//! scripts they are.
//!
//! `grub-mkconfig` sources `/etc/default/grub`, then every
//! `/etc/default/grub.d/*.cfg` in glob order, so the *last* assignment of a
//! variable wins and drop-ins override the main file. Kernel entries get
//! `${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}` (recovery entries only the
//! first).
//!
//! This module tokenizes each file like a POSIX shell does (quotes, backslashes,
//! line continuations, comments, `$(...)`, `${...}`, backticks, `&&`/`||`,
//! `if`/`case`/loops/functions), finds the effective assignment, and edits the
//! value *inside its existing quotes*, leaving every other byte alone (a line
//! continuation inside the value survives too). A value that is not a plain literal
//! (`$VAR`, `$(...)`, backticks, glob characters) or that is assigned
//! conditionally is refused with the reason; here-documents are not supported.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::cmdline::{Cmdline, Edit};
use crate::error::{Error, Result};
use crate::write::FileChange;

/// The main file, relative to the root.
pub const DEFAULT_FILE: &str = "etc/default/grub";
/// The drop-in directory (only `*.cfg` files are sourced), relative to the root.
pub const DROPIN_DIR: &str = "etc/default/grub.d";
/// Parameters for every Linux entry, recovery ones included.
pub const LINUX: &str = "GRUB_CMDLINE_LINUX";
/// Parameters for normal (non-recovery) entries, appended after [`LINUX`].
pub const LINUX_DEFAULT: &str = "GRUB_CMDLINE_LINUX_DEFAULT";

/// The value of one assignment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Value {
    /// A plain literal: what the shell would assign.
    Literal(String),
    /// A literal apart from expansions of variables assigned earlier (the common
    /// `X="$X more"`): readable, but not edited by this crate.
    Derived {
        /// The expanded value.
        value: String,
        /// The variables it expands.
        from: Vec<String>,
    },
    /// Not a plain literal; why.
    NotLiteral(String),
}

impl Value {
    /// The value, when it can be known without running anything.
    pub fn known(&self) -> Option<&str> {
        match self {
            Value::Literal(v) | Value::Derived { value: v, .. } => Some(v),
            Value::NotLiteral(_) => None,
        }
    }
}

/// One `NAME=value` assignment found in a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    /// The variable.
    pub var: String,
    /// The file (as given to [`GrubDefaults::from_texts`] / as on the target).
    pub path: PathBuf,
    /// 1-based line of the assignment.
    pub line: usize,
    /// The value word exactly as written (quotes included).
    pub raw: String,
    /// The value.
    pub value: Value,
    /// `Some(reason)` when the assignment only happens sometimes (inside `if`,
    /// `case`, a loop, a function, a subshell, after `&&`/`||`, in a pipeline).
    pub conditional: Option<String>,
    #[serde(skip)]
    file: usize,
    #[serde(skip)]
    span: Range<usize>,
}

/// One sourced shell file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ShellFile {
    /// Path shown to users (the target's view, e.g. `/etc/default/grub`).
    path: PathBuf,
    /// Path on this machine (under the root).
    real: PathBuf,
    /// `None` when the file does not exist (only possible for the main file).
    text: Option<String>,
}

/// The GRUB defaults of a system: the main file plus its drop-ins, in the order
/// grub-mkconfig sources them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrubDefaults {
    root: PathBuf,
    files: Vec<ShellFile>,
    assignments: Vec<Assignment>,
    sources: Vec<(usize, usize)>,
}

/// A planned GRUB edit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GrubEdit {
    /// File changes (empty or all no-ops when nothing needs to change).
    pub changes: Vec<FileChange>,
    /// Things the admin should know (parameters already in `GRUB_CMDLINE_LINUX`,
    /// `--` handling, overridden earlier assignments, ...).
    pub notes: Vec<String>,
}

impl GrubEdit {
    /// True when nothing would change.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(FileChange::is_noop)
    }
}

impl GrubDefaults {
    /// Read `etc/default/grub` and `etc/default/grub.d/*.cfg` under `root`.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when a file cannot be read; [`Error::ShellSyntax`] when one
    /// cannot be tokenized; [`Error::NulByte`] when one holds a NUL byte.
    pub fn load(root: &Path) -> Result<GrubDefaults> {
        let main = root.join(DEFAULT_FILE);
        let mut files = vec![ShellFile {
            path: Path::new("/").join(DEFAULT_FILE),
            text: read_opt(&main)?,
            real: main,
        }];
        let dir = root.join(DROPIN_DIR);
        let mut names: Vec<Vec<u8>> = Vec::new();
        match fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd {
                    let e = e.map_err(|source| Error::Read {
                        path: dir.clone(),
                        source,
                    })?;
                    let name = e.file_name();
                    let b = name.as_encoded_bytes();
                    if b.ends_with(b".cfg") && !b.starts_with(b".") {
                        names.push(b.to_vec());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path: dir, source }),
        }
        // The shell sorts glob results; byte order is the C locale's collation.
        names.sort();
        for n in names {
            let name = String::from_utf8_lossy(&n).into_owned();
            let real = dir.join(&name);
            let Some(text) = read_opt(&real)? else {
                continue;
            };
            files.push(ShellFile {
                path: Path::new("/").join(DROPIN_DIR).join(&name),
                real,
                text: Some(text),
            });
        }
        GrubDefaults::build(root, files)
    }

    /// Build from texts, in sourcing order (first the main file). Pure: for tests
    /// and fuzzing. The paths only label errors and changes.
    ///
    /// # Errors
    ///
    /// [`Error::ShellSyntax`] when a text cannot be tokenized; [`Error::NulByte`]
    /// when one holds a NUL byte.
    pub fn from_texts(files: Vec<(PathBuf, String)>) -> Result<GrubDefaults> {
        GrubDefaults::build(
            Path::new("/"),
            files
                .into_iter()
                .map(|(p, t)| ShellFile {
                    real: p.clone(),
                    path: p,
                    text: Some(t),
                })
                .collect(),
        )
    }

    fn build(root: &Path, files: Vec<ShellFile>) -> Result<GrubDefaults> {
        let mut assignments = Vec::new();
        let mut sources = Vec::new();
        let mut env = Env::new();
        for (fi, f) in files.iter().enumerate() {
            let Some(text) = &f.text else { continue };
            // dash and bash drop NUL bytes while reading a script, so the shell
            // sees other words than this tokenizer would (and `Cmdline` would end
            // the command line at one): refuse rather than guess.
            if let Some(pos) = text.bytes().position(|b| b == 0) {
                return Err(Error::NulByte {
                    path: f.path.clone(),
                    line: line_of(text, pos),
                });
            }
            let scan = scan_file(text).map_err(|(pos, reason)| Error::ShellSyntax {
                path: f.path.clone(),
                line: line_of(text, pos),
                reason,
            })?;
            for a in scan.assignments {
                let raw = &text[a.value.clone()];
                let value = if a.append {
                    Value::NotLiteral(
                        "it uses `+=`, which only bash understands (grub-mkconfig runs /bin/sh)"
                            .into(),
                    )
                } else {
                    classify(text.as_bytes(), a.value.clone(), &env)
                };
                let known = match (&a.conditional, value.known()) {
                    (None, Some(v)) => Some(v.to_owned()),
                    _ => None,
                };
                env.insert(a.name.clone(), known);
                assignments.push(Assignment {
                    var: a.name,
                    path: f.path.clone(),
                    line: line_of(text, a.value.start),
                    raw: raw.to_owned(),
                    value,
                    conditional: a.conditional,
                    file: fi,
                    span: a.value,
                });
            }
            for pos in scan.sources {
                sources.push((fi, pos));
            }
        }
        Ok(GrubDefaults {
            root: root.to_owned(),
            files,
            assignments,
            sources,
        })
    }

    /// The files in sourcing order: (path as on the target, path here, text).
    pub(crate) fn files_for_replan(&self) -> Vec<(PathBuf, PathBuf, Option<String>)> {
        self.files
            .iter()
            .map(|f| (f.path.clone(), f.real.clone(), f.text.clone()))
            .collect()
    }

    /// Every assignment of `var`, in sourcing order.
    pub fn assignments(&self, var: &str) -> Vec<&Assignment> {
        self.assignments.iter().filter(|a| a.var == var).collect()
    }

    /// The assignment that wins (the last one), if any.
    pub fn effective(&self, var: &str) -> Option<&Assignment> {
        self.assignments.iter().rev().find(|a| a.var == var)
    }

    /// The effective value of `var` (literal, or derived from variables assigned
    /// before it); `Ok(None)` when never assigned.
    ///
    /// # Errors
    ///
    /// [`Error::NotLiteral`] when the effective assignment's value cannot be known
    /// without running the shell, or is conditional.
    pub fn value(&self, var: &str) -> Result<Option<String>> {
        let Some(a) = self.effective(var) else {
            return Ok(None);
        };
        check_readable(a)?;
        Ok(a.value.known().map(str::to_owned))
    }

    /// What GRUB puts on normal entries' command lines from these files:
    /// `GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT`, tokens joined by one space
    /// (without the `BOOT_IMAGE=`, `root=` and `ro` that grub-mkconfig adds itself).
    ///
    /// # Errors
    ///
    /// [`Error::NotLiteral`] when either variable is not a plain literal.
    pub fn cmdline(&self) -> Result<Cmdline> {
        let l = self.value(LINUX)?.unwrap_or_default();
        let d = self.value(LINUX_DEFAULT)?.unwrap_or_default();
        // grub.cfg gets `linux ... ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}`;
        // GRUB's script parser splits words and joins them with one space.
        let all = Cmdline::parse(&format!("{l} {d}"));
        let joined: Vec<String> = all.tokens().map(|p| p.raw().into_owned()).collect();
        Ok(Cmdline::parse(&joined.join(" ")))
    }

    /// Plan `edits`: `Ensure` edits go into `GRUB_CMDLINE_LINUX_DEFAULT` (or into
    /// `GRUB_CMDLINE_LINUX` when that one holds `--`, since everything after it
    /// goes to init), skipped with a note when `GRUB_CMDLINE_LINUX` already has
    /// them; `Remove` edits apply to both variables. Nothing is written.
    ///
    /// # Errors
    ///
    /// [`Error::NotLiteral`] when a variable that must change is not a plain
    /// literal or is assigned conditionally; [`Error::UnclosedQuote`] when
    /// `GRUB_CMDLINE_LINUX` or `GRUB_CMDLINE_LINUX_DEFAULT` leaves a `"` open (the
    /// kernel would read the rest of the line as one word, so no edit would take
    /// effect); an invalid edit's error; [`Error::TooLong`] when the result
    /// exceeds `COMMAND_LINE_SIZE`.
    pub fn plan(&self, edits: &[Edit]) -> Result<GrubEdit> {
        let mut notes = Vec::new();
        let linux = self.effective(LINUX);
        let linux_val = match linux {
            None => Some(String::new()),
            Some(a) => match (&a.value, &a.conditional) {
                (Value::Literal(s) | Value::Derived { value: s, .. }, None) => Some(s.clone()),
                (Value::NotLiteral(r), _) => {
                    notes.push(format!(
                        "{}:{}: {LINUX} is not a plain literal ({r}); it was not inspected",
                        a.path.display(),
                        a.line
                    ));
                    None
                }
                (_, Some(r)) => {
                    notes.push(format!(
                        "{}:{}: {LINUX} is assigned conditionally ({r}); it was not inspected",
                        a.path.display(),
                        a.line
                    ));
                    None
                }
            },
        };
        let linux_cmd = linux_val.as_deref().map(Cmdline::parse);
        let dashes_in_linux = linux_cmd.as_ref().is_some_and(Cmdline::has_separator);
        let target = if dashes_in_linux {
            notes.push(format!(
                "{LINUX} contains `--`: everything after it, {LINUX_DEFAULT} included, goes to init, so parameters are added to {LINUX} before `--`"
            ));
            LINUX
        } else {
            LINUX_DEFAULT
        };
        let default_val = self.value(LINUX_DEFAULT)?.unwrap_or_default();
        // Every edit below is made on one variable's tokens; that only matches
        // the assembled `linux ... $LINUX $LINUX_DEFAULT` line when no quote is
        // left open across the join (or at its end, where GRUB's own parser of
        // grub.cfg would meet it too).
        if let Some(l) = &linux_val {
            self.check_quotes_closed(LINUX, l)?;
        }
        self.check_quotes_closed(LINUX_DEFAULT, &default_val)?;
        let combined_now = Cmdline::parse(&format!(
            "{} {}",
            linux_val.as_deref().unwrap_or_default(),
            default_val
        ));

        let mut target_edits = Vec::new();
        let mut linux_edits = Vec::new();
        for e in edits {
            match e {
                Edit::Ensure { .. } => {
                    if target == LINUX_DEFAULT {
                        if let Some(l) = &linux_cmd {
                            let in_linux = !l.clone().apply(std::slice::from_ref(e))?;
                            let in_effect = !combined_now.clone().apply(std::slice::from_ref(e))?;
                            if in_linux && in_effect {
                                notes.push(format!(
                                    "{LINUX} already has it ({e}); {LINUX_DEFAULT} left alone for it"
                                ));
                                continue;
                            }
                        }
                    }
                    target_edits.push(e.clone());
                }
                Edit::Remove { .. } | Edit::RemoveOption { .. } => {
                    target_edits.push(e.clone());
                    if target != LINUX {
                        linux_edits.push(e.clone());
                    }
                }
            }
        }

        let mut changes: Vec<FileChange> = Vec::new();
        let mut new_linux: Option<String> = None;
        let mut new_default: Option<String> = None;
        // GRUB_CMDLINE_LINUX gets removals (only when it would change).
        if let (Some(l), false) = (&linux_cmd, linux_edits.is_empty()) {
            let mut c = l.clone();
            if c.apply(&linux_edits)? {
                let change = self.edit_var(LINUX, &linux_edits, &mut changes, &mut notes)?;
                new_linux = change;
            }
        }
        if !target_edits.is_empty() {
            let v = self.edit_var(target, &target_edits, &mut changes, &mut notes)?;
            if target == LINUX {
                new_linux = v.or(new_linux);
            } else {
                new_default = v;
            }
        }
        // Size of what GRUB will pass: its own prefix is not counted here.
        let l = new_linux.or(linux_val).unwrap_or_default();
        let d = new_default.unwrap_or(default_val);
        Cmdline::parse(&format!("{l} {d}")).check_size(0)?;
        let earlier = self.assignments(target).len();
        if earlier > 1 && changes.iter().any(|c| !c.is_noop()) {
            notes.push(format!(
                "{target} is assigned {earlier} times; only the last (effective) one was edited"
            ));
        }
        if let Some(a) = self.effective(target) {
            if self
                .sources
                .iter()
                .any(|&(f, pos)| (f, pos) > (a.file, a.span.start))
            {
                notes.push(format!(
                    "{} sources other files; they could override {target} (not followed)",
                    self.files[a.file].path.display()
                ));
            }
        }
        Ok(GrubEdit { changes, notes })
    }

    /// Refuse when `value` (the known value of `var`) leaves a `"` open: the
    /// kernel's `next_arg()` toggles "inside quotes" at every `"`, so an odd
    /// number of them makes everything after the last one, up to the end of the
    /// assembled line, a single word.
    fn check_quotes_closed(&self, var: &str, value: &str) -> Result<()> {
        if value.bytes().filter(|&b| b == b'"').count() % 2 == 0 {
            return Ok(());
        }
        let (path, line) = match self.effective(var) {
            Some(a) => (a.path.clone(), a.line),
            // Unreachable (an unassigned variable is empty), but never panic.
            None => (Path::new("/").join(DEFAULT_FILE), 1),
        };
        Err(Error::UnclosedQuote {
            path,
            line,
            var: var.to_owned(),
        })
    }

    /// Apply edits to `var`'s effective assignment (or append one to the main file)
    /// and record the file change. Returns the new literal value.
    fn edit_var(
        &self,
        var: &str,
        edits: &[Edit],
        changes: &mut Vec<FileChange>,
        notes: &mut Vec<String>,
    ) -> Result<Option<String>> {
        let fi = match self.effective(var) {
            Some(a) => {
                check_editable(a)?;
                a.file
            }
            None => 0,
        };
        let f = &self.files[fi];
        let existing = changes.iter().position(|c| c.path == f.real);
        let base = match existing {
            Some(i) => changes[i].new.clone(),
            None => f.text.clone().unwrap_or_default(),
        };
        // Re-scan the text being edited: an earlier edit of the other variable in
        // the same file may have moved things. The effective assignment is the
        // last one of its file, so the file alone finds it again.
        let rescanned = GrubDefaults::from_texts(vec![(f.path.clone(), base.clone())])?;
        let (new_text, value) = match rescanned.effective(var) {
            Some(a) => match edit_value(&f.path, &base, a.span.clone(), edits)? {
                Some(x) => x,
                None => return Ok(None),
            },
            None => {
                let mut c = Cmdline::default();
                if !c.apply(edits)? {
                    return Ok(None);
                }
                let value = c.to_string();
                let mut new_text = base.clone();
                if !new_text.is_empty() && !new_text.ends_with('\n') {
                    new_text.push('\n');
                }
                new_text.push_str(&format!("{var}=\"{}\"\n", dq_escape(value.as_bytes())));
                notes.push(format!(
                    "{var} was not set anywhere; added to {}",
                    f.path.display()
                ));
                (new_text, value)
            }
        };
        // Read the result back: the edited assignment must still be the effective
        // one and hold exactly the new value (guards against any shell construct
        // this tokenizer got wrong, e.g. a trailing `\` swallowing an appended line).
        let check = GrubDefaults::from_texts(vec![(f.path.clone(), new_text.clone())])?;
        let back = check
            .effective(var)
            .and_then(|a| match (&a.value, &a.conditional) {
                (Value::Literal(v), None) => Some(v.clone()),
                _ => None,
            });
        if back.as_deref() != Some(value.as_str()) {
            return Err(Error::ShellSyntax {
                path: f.path.clone(),
                line: line_of(&base, base.len()),
                reason: format!(
                    "editing {var} here would not read back as intended; edit it by hand"
                ),
            });
        }
        match existing {
            Some(i) => changes[i].new = new_text,
            None => changes.push(FileChange {
                root: self.root.clone(),
                path: f.real.clone(),
                display_path: f.path.clone(),
                old: f.text.clone(),
                new: new_text,
            }),
        }
        Ok(Some(value))
    }
}

fn read_opt(p: &Path) -> Result<Option<String>> {
    crate::write::read_optional(p)
}

fn not_literal(a: &Assignment, reason: String) -> Error {
    Error::NotLiteral {
        path: a.path.clone(),
        line: a.line,
        var: a.var.clone(),
        reason,
    }
}

fn check_readable(a: &Assignment) -> Result<()> {
    if let Value::NotLiteral(r) = &a.value {
        return Err(not_literal(a, r.clone()));
    }
    if let Some(r) = &a.conditional {
        return Err(not_literal(a, format!("assigned conditionally: {r}")));
    }
    Ok(())
}

fn check_editable(a: &Assignment) -> Result<()> {
    check_readable(a)?;
    if let Value::Derived { from, .. } = &a.value {
        let vars: Vec<String> = from.iter().map(|v| format!("${v}")).collect();
        return Err(not_literal(a, format!("it expands {}", vars.join(", "))));
    }
    Ok(())
}

/// Variables known so far while sourcing: `None` when assigned but unknowable.
type Env = std::collections::HashMap<String, Option<String>>;

fn classify(s: &[u8], span: Range<usize>, env: &Env) -> Value {
    match decode(s, span.clone(), None) {
        Ok(d) => Value::Literal(String::from_utf8_lossy(&d.bytes).into_owned()),
        Err(plain) => match decode(s, span, Some(env)) {
            Ok(d) => Value::Derived {
                value: String::from_utf8_lossy(&d.bytes).into_owned(),
                from: d.expanded,
            },
            Err(r) => Value::NotLiteral(if r.is_empty() { plain } else { r }),
        },
    }
}

/// `$NAME` or `${NAME}` at the start of `at`: (name, bytes consumed).
fn var_ref(at: &[u8]) -> Option<(String, usize)> {
    let name_len = |b: &[u8]| {
        let first = *b.first()?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        Some(
            b.iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count(),
        )
    };
    match at.get(1)? {
        b'{' => {
            let n = name_len(&at[2..])?;
            (at.get(2 + n) == Some(&b'}'))
                .then(|| (String::from_utf8_lossy(&at[2..2 + n]).into_owned(), n + 3))
        }
        _ => {
            let n = name_len(&at[1..])?;
            Some((String::from_utf8_lossy(&at[1..1 + n]).into_owned(), n + 1))
        }
    }
}

/// Resolve a variable: known earlier assignments; never-assigned `GRUB_*`
/// variables are empty (grub-mkconfig starts without them).
fn lookup(env: &Env, name: &str) -> Option<String> {
    match env.get(name) {
        Some(v) => v.clone(),
        None if name.starts_with("GRUB_") => Some(String::new()),
        None => None,
    }
}

fn line_of(text: &str, pos: usize) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Apply `edits` to GRUB_CMDLINE_LINUX_DEFAULT of a single file's text, as if it
/// were the only file. Pure: for fuzzing and tests.
///
/// # Errors
///
/// As [`GrubDefaults::from_texts`] and [`GrubDefaults::plan`].
pub fn edit_text(text: &str, edits: &[Edit]) -> Result<String> {
    let g = GrubDefaults::from_texts(vec![(PathBuf::from("/etc/default/grub"), text.to_owned())])?;
    let plan = g.plan(edits)?;
    Ok(plan
        .changes
        .into_iter()
        .next()
        .map_or_else(|| text.to_owned(), |c| c.new))
}

// ---------------------------------------------------------------------------
// Value words: decode and re-encode.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

struct Decoded {
    bytes: Vec<u8>,
    /// Raw offset of each decoded byte's encoding.
    pos: Vec<usize>,
    /// Non-empty quoting segments: kind and content range (inside the quotes).
    segments: Vec<(Quote, Range<usize>)>,
    /// Variables expanded (only when decoding with an environment).
    expanded: Vec<String>,
}

const GLOB: &[u8] = b"*?[";

/// Decode a value word as the shell would assign it, or say why it is not a plain
/// literal.
fn decode(s: &[u8], span: Range<usize>, env: Option<&Env>) -> std::result::Result<Decoded, String> {
    let mut d = Decoded {
        bytes: Vec::new(),
        pos: Vec::new(),
        segments: Vec::new(),
        expanded: Vec::new(),
    };
    // Expand `$NAME`/`${NAME}` from `env`, or fail with the reason.
    let expand = |d: &mut Decoded, j: usize| -> std::result::Result<usize, String> {
        let env = env.ok_or_else(|| expansion_reason(&s[j..span.end]))?;
        let (name, len) =
            var_ref(&s[j..span.end]).ok_or_else(|| expansion_reason(&s[j..span.end]))?;
        let v = lookup(env, &name)
            .ok_or_else(|| format!("it expands ${name}, whose value is not known"))?;
        for b in v.bytes() {
            d.bytes.push(b);
            d.pos.push(j);
        }
        d.expanded.push(name);
        Ok(j + len)
    };
    let mut i = span.start;
    let end = span.end;
    while i < end {
        match s[i] {
            b'\'' => {
                let cs = i + 1;
                let mut j = cs;
                while j < end && s[j] != b'\'' {
                    d.bytes.push(s[j]);
                    d.pos.push(j);
                    j += 1;
                }
                d.segments.push((Quote::Single, cs..j));
                i = j + 1;
            }
            b'"' => {
                let cs = i + 1;
                let mut j = cs;
                while j < end && s[j] != b'"' {
                    match s[j] {
                        b'\\' if j + 1 < end => match s[j + 1] {
                            b'\n' => j += 2,
                            c @ (b'$' | b'`' | b'"' | b'\\') => {
                                d.bytes.push(c);
                                d.pos.push(j);
                                j += 2;
                            }
                            _ => {
                                d.bytes.push(b'\\');
                                d.pos.push(j);
                                j += 1;
                            }
                        },
                        b'$' => j = expand(&mut d, j)?,
                        b'`' => return Err("it runs a command (backticks)".into()),
                        c => {
                            d.bytes.push(c);
                            d.pos.push(j);
                            j += 1;
                        }
                    }
                }
                d.segments.push((Quote::Double, cs..j));
                i = j + 1;
            }
            _ => {
                // An unquoted run up to the next quote.
                let cs = i;
                let mut j = i;
                while j < end && s[j] != b'\'' && s[j] != b'"' {
                    match s[j] {
                        b'\\' if j + 1 < end => {
                            if s[j + 1] != b'\n' {
                                d.bytes.push(s[j + 1]);
                                d.pos.push(j);
                            }
                            j += 2;
                        }
                        b'$' => j = expand(&mut d, j)?,
                        b'`' => return Err("it runs a command (backticks)".into()),
                        c if GLOB.contains(&c) => {
                            return Err(format!(
                                "unquoted `{}` is a glob pattern the shell may expand",
                                c as char
                            ))
                        }
                        b'~' if j == span.start => {
                            return Err("a leading unquoted `~` is expanded by the shell".into())
                        }
                        c => {
                            d.bytes.push(c);
                            d.pos.push(j);
                            j += 1;
                        }
                    }
                }
                d.segments.push((Quote::None, cs..j));
                i = j;
            }
        }
    }
    Ok(d)
}

fn expansion_reason(at: &[u8]) -> String {
    match at.get(1) {
        Some(b'(') => "it runs a command ($(...))".into(),
        Some(b'{') => "it expands a variable (${...})".into(),
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
            let name: String = at[1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .map(|&c| c as char)
                .collect();
            format!("it expands ${name}")
        }
        _ => "it contains `$`".into(),
    }
}

fn dq_escape(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        if matches!(c, b'"' | b'\\' | b'$' | b'`') {
            out.push(b'\\');
        }
        out.push(c);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(kind: Quote, b: &[u8]) -> Vec<u8> {
    match kind {
        Quote::Double => dq_escape(b).into_bytes(),
        Quote::Single => {
            let mut out = Vec::new();
            for &c in b {
                if c == b'\'' {
                    out.extend_from_slice(b"'\\''");
                } else {
                    out.push(c);
                }
            }
            out
        }
        Quote::None => b.to_vec(),
    }
}

fn needs_quotes_unquoted(b: &[u8]) -> bool {
    b.iter().any(|c| {
        c.is_ascii_whitespace()
            || b"'\"\\$`;&|()<>*?[#~".contains(c)
            || !c.is_ascii()
            || c.is_ascii_control()
    })
}

/// Edit the value word at `span` of `text`. `None` when the edits change nothing.
fn edit_value(
    path: &Path,
    text: &str,
    span: Range<usize>,
    edits: &[Edit],
) -> Result<Option<(String, String)>> {
    let s = text.as_bytes();
    let Ok(d) = decode(s, span.clone(), None) else {
        // Callers check literalness first; treat as "cannot change".
        return Ok(None);
    };
    let mut c = Cmdline::from_bytes(&d.bytes);
    if !c.apply(edits)? {
        return Ok(None);
    }
    let new = c.to_bytes();
    let single = d.segments.len() == 1;
    let kind = d.segments.first().map_or(Quote::None, |x| x.0);
    let whole_word = !single || (kind == Quote::None && needs_quotes_unquoted(&new));
    let mut out: Vec<u8> = s[..span.start].to_vec();
    if whole_word {
        out.push(b'"');
        out.extend_from_slice(dq_escape(&new).as_bytes());
        out.push(b'"');
    } else {
        let content = d.segments[0].1.clone();
        let n = d.bytes.len();
        let b = |i: usize| if i < n { d.pos[i] } else { content.end };
        out.extend_from_slice(&s[span.start..b(0)]);
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, &d.bytes, &new) {
            match op {
                similar::DiffOp::Equal { old_index, len, .. } => {
                    out.extend_from_slice(&s[b(old_index)..b(old_index + len)]);
                }
                similar::DiffOp::Delete { .. } => {}
                similar::DiffOp::Insert {
                    new_index, new_len, ..
                }
                | similar::DiffOp::Replace {
                    new_index, new_len, ..
                } => out.extend_from_slice(&encode(kind, &new[new_index..new_index + new_len])),
            }
        }
        out.extend_from_slice(&s[b(n)..span.end]);
    }
    out.extend_from_slice(&s[span.end..]);
    let value = crate::cmdline::edited_text(path, text, new)?;
    Ok(Some((crate::cmdline::edited_text(path, text, out)?, value)))
}

// ---------------------------------------------------------------------------
// The shell tokenizer.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Newline,
    Semi,
    DSemi,
    Amp,
    AndIf,
    OrIf,
    Pipe,
    LParen,
    RParen,
    Redir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(Range<usize>),
    Op(Op),
}

type ScanResult<T> = std::result::Result<T, (usize, String)>;

fn unterminated(pos: usize, what: &str) -> (usize, String) {
    (pos, format!("unterminated {what}"))
}

fn scan_single(s: &[u8], open: usize) -> ScanResult<usize> {
    let mut i = open + 1;
    while i < s.len() {
        if s[i] == b'\'' {
            return Ok(i + 1);
        }
        i += 1;
    }
    Err(unterminated(open, "single quote"))
}

fn scan_double(s: &[u8], open: usize) -> ScanResult<usize> {
    let mut i = open + 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            b'`' => i = scan_backtick(s, i)?,
            b'$' => i = scan_dollar(s, i)?,
            _ => i += 1,
        }
    }
    Err(unterminated(open, "double quote"))
}

fn scan_backtick(s: &[u8], open: usize) -> ScanResult<usize> {
    let mut i = open + 1;
    while i < s.len() {
        match s[i] {
            b'`' => return Ok(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(unterminated(open, "backtick command substitution"))
}

fn scan_dollar(s: &[u8], at: usize) -> ScanResult<usize> {
    match s.get(at + 1) {
        Some(b'(') => scan_nested(s, at + 1, b'(', b')', "$(...)"),
        Some(b'{') => scan_nested(s, at + 1, b'{', b'}', "${...}"),
        _ => Ok(at + 1),
    }
}

fn scan_nested(s: &[u8], open: usize, o: u8, c: u8, what: &str) -> ScanResult<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < s.len() {
        let b = s[i];
        if b == o {
            depth += 1;
            i += 1;
        } else if b == c {
            depth -= 1;
            i += 1;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i = match b {
                b'\'' => scan_single(s, i)?,
                b'"' => scan_double(s, i)?,
                b'`' => scan_backtick(s, i)?,
                b'\\' => i + 2,
                b'$' => scan_dollar(s, i)?,
                _ => i + 1,
            };
        }
    }
    Err(unterminated(open, what))
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

fn is_op_char(b: u8) -> bool {
    b";&|()<>".contains(&b)
}

fn lex(s: &[u8]) -> ScanResult<Vec<(Tok, usize)>> {
    let mut toks = Vec::new();
    let mut i = 0;
    let n = s.len();
    while i < n {
        let b = s[i];
        if is_blank(b) {
            i += 1;
            continue;
        }
        if b == b'\\' && s.get(i + 1) == Some(&b'\n') {
            i += 2;
            continue;
        }
        if b == b'#' {
            while i < n && s[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let two = |c: u8| s.get(i + 1) == Some(&c);
        let (op, len) = match b {
            b'\n' => (Some(Op::Newline), 1),
            b';' if two(b';') => (Some(Op::DSemi), 2),
            b';' => (Some(Op::Semi), 1),
            b'&' if two(b'&') => (Some(Op::AndIf), 2),
            b'&' => (Some(Op::Amp), 1),
            b'|' if two(b'|') => (Some(Op::OrIf), 2),
            b'|' => (Some(Op::Pipe), 1),
            b'(' => (Some(Op::LParen), 1),
            b')' => (Some(Op::RParen), 1),
            b'<' | b'>' => {
                if s.get(i + 1) == Some(&b'<') && b == b'<' {
                    return Err((i, "here-documents are not supported".into()));
                }
                let mut l = 1;
                while l < 3
                    && s.get(i + l)
                        .is_some_and(|&c| c == b'>' || c == b'&' || c == b'|')
                {
                    l += 1;
                }
                (Some(Op::Redir), l)
            }
            _ => (None, 0),
        };
        if let Some(op) = op {
            toks.push((Tok::Op(op), i));
            i += len;
            continue;
        }
        let start = i;
        while i < n {
            let c = s[i];
            if is_blank(c) || c == b'\n' || is_op_char(c) {
                break;
            }
            i = match c {
                b'\\' => i + 2,
                b'\'' => scan_single(s, i)?,
                b'"' => scan_double(s, i)?,
                b'`' => scan_backtick(s, i)?,
                b'$' => scan_dollar(s, i)?,
                _ => i + 1,
            };
        }
        let end = i.min(n);
        toks.push((Tok::Word(start..end), start));
        i = end;
    }
    Ok(toks)
}

struct ScannedAssignment {
    name: String,
    value: Range<usize>,
    conditional: Option<String>,
    /// `NAME+=value` (bash only).
    append: bool,
}

struct Scan {
    assignments: Vec<ScannedAssignment>,
    sources: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    If,
    Loop,
    Case,
    Brace,
    Subshell,
}

fn assignment_name(w: &[u8]) -> Option<usize> {
    let eq = w.iter().position(|&b| b == b'=')?;
    let name = &w[..eq];
    let first = *name.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    name.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .then_some(eq)
}

fn scan_file(text: &str) -> ScanResult<Scan> {
    let s = text.as_bytes();
    let toks = lex(s)?;
    let mut out = Scan {
        assignments: Vec::new(),
        sources: Vec::new(),
    };
    let mut stack: Vec<Block> = Vec::new();
    let mut case_pattern = false;
    let mut words: Vec<Range<usize>> = Vec::new();
    let mut prev_op: Option<Op> = None;
    let mut pending_redir = false;
    let mut k = 0;
    while k <= toks.len() {
        let tok = toks.get(k).map(|t| &t.0);
        let at = toks.get(k).map_or(s.len(), |t| t.1);
        k += 1;
        if pending_redir && !matches!(tok, Some(Tok::Word(_))) {
            return Err((at, "redirection without a target".into()));
        }
        match tok {
            Some(Tok::Word(r)) => {
                if pending_redir {
                    pending_redir = false;
                } else {
                    words.push(r.clone());
                }
                continue;
            }
            Some(Tok::Op(Op::Redir)) => {
                pending_redir = true;
                continue;
            }
            _ => {}
        }
        let op = match tok {
            Some(Tok::Op(o)) => Some(*o),
            _ => None,
        };
        // End of a simple command.
        if case_pattern && stack.last() == Some(&Block::Case) {
            let w: Vec<&[u8]> = words.iter().map(|r| &s[r.clone()]).collect();
            if w.first() == Some(&&b"esac"[..]) {
                stack.pop();
                case_pattern = false;
            } else if op == Some(Op::RParen) {
                case_pattern = false;
            }
            words.clear();
            prev_op = op;
            continue;
        }
        let mut ws: &[Range<usize>] = &words;
        let mut skip_rest = false;
        while let Some(first) = ws.first() {
            match &s[first.clone()] {
                b"if" | b"while" | b"until" => {
                    stack.push(if &s[first.clone()] == b"if" {
                        Block::If
                    } else {
                        Block::Loop
                    });
                }
                b"for" => {
                    stack.push(Block::Loop);
                    skip_rest = true;
                }
                b"case" => {
                    stack.push(Block::Case);
                    case_pattern = true;
                    skip_rest = true;
                }
                b"then" | b"do" | b"else" | b"elif" | b"!" => {}
                b"fi" | b"done" | b"esac" | b"}" => {
                    stack.pop();
                }
                b"{" => stack.push(Block::Brace),
                b"function" => {
                    // `function name {`: the body is a block.
                    if ws.iter().any(|r| &s[r.clone()] == b"{") {
                        stack.push(Block::Brace);
                    }
                    skip_rest = true;
                }
                _ => break,
            }
            ws = &ws[1..];
            if skip_rest {
                break;
            }
        }
        if op == Some(Op::LParen) && ws.is_empty() && !skip_rest {
            stack.push(Block::Subshell);
        }
        if op == Some(Op::RParen) {
            // `name()` of a function definition or the end of a subshell.
            if ws.is_empty() || stack.last() == Some(&Block::Subshell) {
                stack.pop();
            }
        }
        if !skip_rest && !ws.is_empty() {
            let cond = if !stack.is_empty() {
                Some(format!("inside {}", describe(&stack)))
            } else if matches!(prev_op, Some(Op::AndIf | Op::OrIf)) {
                Some("after && or ||".to_owned())
            } else if matches!(prev_op, Some(Op::Pipe)) || matches!(op, Some(Op::Pipe | Op::Amp)) {
                Some("in a pipeline or background job (a subshell)".to_owned())
            } else if op == Some(Op::LParen) {
                Some("in a function definition".to_owned())
            } else {
                None
            };
            let first = &s[ws[0].clone()];
            let all_assign = ws.iter().all(|r| assignment_name(&s[r.clone()]).is_some());
            let decl = matches!(
                first,
                b"export" | b"readonly" | b"declare" | b"typeset" | b"local"
            );
            if first == b"." || first == b"source" {
                out.sources.push(ws[0].start);
            }
            // `NAME+=value`: bash appends; /bin/sh (dash), which grub-mkconfig
            // runs under on Debian, treats it as a command name. Either way the
            // value is not a literal we can know.
            if let Some(plus) = first.windows(2).position(|w| w == b"+=") {
                if assignment_name(&[&first[..plus], b"="].concat()).is_some() {
                    out.assignments.push(ScannedAssignment {
                        name: String::from_utf8_lossy(&first[..plus]).into_owned(),
                        value: ws[0].start + plus + 2..ws[0].end,
                        conditional: cond.clone(),
                        append: true,
                    });
                }
            }
            if all_assign || decl {
                let from = usize::from(decl);
                for r in &ws[from..] {
                    if let Some(eq) = assignment_name(&s[r.clone()]) {
                        out.assignments.push(ScannedAssignment {
                            name: String::from_utf8_lossy(&s[r.start..r.start + eq]).into_owned(),
                            value: r.start + eq + 1..r.end,
                            conditional: cond.clone(),
                            append: false,
                        });
                    }
                }
            }
        }
        words.clear();
        if op == Some(Op::DSemi) && stack.last() == Some(&Block::Case) {
            case_pattern = true;
        }
        prev_op = op;
    }
    if let Some(b) = stack.last() {
        let what = match b {
            Block::If => "if without fi",
            Block::Loop => "loop without done",
            Block::Case => "case without esac",
            Block::Brace => "{ without }",
            Block::Subshell => "( without )",
        };
        return Err((s.len(), what.into()));
    }
    Ok(out)
}

fn describe(stack: &[Block]) -> &'static str {
    match stack.last() {
        Some(Block::If) => "an if block",
        Some(Block::Loop) => "a loop",
        Some(Block::Case) => "a case block",
        Some(Block::Brace) => "a { } block or function",
        Some(Block::Subshell) | None => "a subshell",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn g(text: &str) -> GrubDefaults {
        GrubDefaults::from_texts(vec![("/etc/default/grub".into(), text.into())]).unwrap()
    }

    const IOMMU: &[(&str, &str)] = &[("intel_iommu", "on"), ("iommu", "pt")];

    fn edits() -> Vec<Edit> {
        IOMMU.iter().map(|(k, v)| Edit::ensure(k, v)).collect()
    }

    #[test]
    fn debian_default() {
        let t = "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n";
        let out = edit_text(t, &edits()).unwrap();
        assert_eq!(
            out,
            t.replace("\"quiet\"", "\"quiet intel_iommu=on iommu=pt\"")
        );
        assert_eq!(edit_text(&out, &edits()).unwrap(), out);
    }

    #[test]
    fn single_quotes_and_unquoted() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT='quiet splash'\n";
        assert_eq!(
            edit_text(t, &edits()).unwrap(),
            "GRUB_CMDLINE_LINUX_DEFAULT='quiet splash intel_iommu=on iommu=pt'\n"
        );
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=quiet\n";
        assert_eq!(
            edit_text(t, &edits()).unwrap(),
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"\n"
        );
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\n";
        assert_eq!(
            edit_text(t, &[Edit::ensure("iommu", "pt")]).unwrap(),
            "GRUB_CMDLINE_LINUX_DEFAULT=\"iommu=pt\"\n"
        );
    }

    #[test]
    fn continuation_kept() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet \\\n  splash intel_iommu=off\"\n";
        assert_eq!(
            edit_text(t, &edits()).unwrap(),
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet \\\n  splash intel_iommu=on iommu=pt\"\n"
        );
    }

    #[test]
    fn last_assignment_wins() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n# again\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\n";
        let out = edit_text(t, &[Edit::ensure("iommu", "pt")]).unwrap();
        assert_eq!(
            out,
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n# again\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash iommu=pt\"\n"
        );
    }

    #[test]
    fn refuses_non_literal() {
        for (t, why) in [
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=\"$X quiet\"\n",
                "it expands $X, whose value is not known",
            ),
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=\"$(cat /x)\"\n",
                "it runs a command ($(...))",
            ),
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=`cat /x`\n",
                "it runs a command (backticks)",
            ),
        ] {
            assert_eq!(
                edit_text(t, &edits()),
                Err(Error::NotLiteral {
                    path: "/etc/default/grub".into(),
                    line: 1,
                    var: LINUX_DEFAULT.into(),
                    reason: why.into()
                }),
                "{t}"
            );
        }
        let t = "if true; then\n  GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nfi\n";
        assert!(matches!(
            edit_text(t, &edits()),
            Err(Error::NotLiteral { line: 2, .. })
        ));
        // `$` inside single quotes is literal.
        let t = "GRUB_CMDLINE_LINUX_DEFAULT='a=$x'\n";
        assert_eq!(g(t).value(LINUX_DEFAULT).unwrap().as_deref(), Some("a=$x"));
    }

    #[test]
    fn derived_values_are_read_not_edited() {
        let t = "GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX} b\"\n";
        let d = g(t);
        assert_eq!(d.value(LINUX).unwrap().as_deref(), Some("a b"));
        assert_eq!(d.cmdline().unwrap().to_string(), "a b quiet");
        // Editing DEFAULT is fine, removing from LINUX is refused.
        assert!(d.plan(&[Edit::ensure("iommu", "pt")]).is_ok());
        assert_eq!(
            d.plan(&[Edit::remove("b")]),
            Err(Error::NotLiteral {
                path: "/etc/default/grub".into(),
                line: 3,
                var: LINUX.into(),
                reason: "it expands $GRUB_CMDLINE_LINUX".into()
            })
        );
    }

    #[test]
    fn notices_linux() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"intel_iommu=on\"\n";
        let p = g(t).plan(&edits()).unwrap();
        assert_eq!(p.changes.len(), 1);
        assert!(p.changes[0].new.contains("\"quiet iommu=pt\""));
        assert!(p.notes.iter().any(|n| n.contains("already has it")));
    }

    #[test]
    fn dashes_in_linux() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"ro -- single\"\n";
        let out = edit_text(t, &[Edit::ensure("iommu", "pt")]).unwrap();
        assert_eq!(
            out,
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"ro iommu=pt -- single\"\n"
        );
    }

    #[test]
    fn missing_var_is_appended() {
        let t = "GRUB_TIMEOUT=5";
        assert_eq!(
            edit_text(t, &[Edit::ensure("iommu", "pt")]).unwrap(),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"iommu=pt\"\n"
        );
    }

    #[test]
    fn removal_hits_both() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet amd_iommu=on\"\nGRUB_CMDLINE_LINUX=\"amd_iommu=on\"\n";
        let out = edit_text(t, &[Edit::remove_option("amd_iommu", "on")]).unwrap();
        assert_eq!(
            out,
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n"
        );
    }

    #[test]
    fn syntax_error_names_line() {
        let e = GrubDefaults::from_texts(vec![("/g".into(), "A=1\nB=\"x\n".into())]).unwrap_err();
        assert_eq!(
            e,
            Error::ShellSyntax {
                path: "/g".into(),
                line: 2,
                reason: "unterminated double quote".into()
            }
        );
    }

    #[test]
    fn prefix_assignment_is_not_persistent() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=x true\nexport GRUB_CMDLINE_LINUX=\"a\"\n";
        let d = g(t);
        assert!(d.effective(LINUX_DEFAULT).is_none());
        assert_eq!(d.value(LINUX).unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn function_keyword_body_is_conditional() {
        let d = g("function f {\n  GRUB_CMDLINE_LINUX_DEFAULT=\"x\"\n}\n");
        assert!(d.effective(LINUX_DEFAULT).unwrap().conditional.is_some());
        assert!(GrubDefaults::from_texts(vec![("/g".into(), "if true; then\n".into())]).is_err());
    }

    #[test]
    fn plus_equals_is_refused() {
        let t = "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX_DEFAULT+=\" splash\"\n";
        assert!(matches!(
            edit_text(t, &[Edit::ensure("iommu", "pt")]),
            Err(Error::NotLiteral { line: 2, .. })
        ));
    }

    /// Fuzz finding `fuzz/regressions/grub/open-quote-in-cmdline-linux-swallows-default`:
    /// the kernel would read `" intel_iommu=on iommu=pt` as one quoted word.
    #[test]
    fn open_quote_in_linux_is_refused() {
        let t = "GRUB_CMDLINE_LINUX='\"'";
        for edits in [
            edits(),
            vec![Edit::remove("quiet")],
            vec![Edit::remove_option("intel_iommu", "off")],
        ] {
            assert_eq!(
                edit_text(t, &edits),
                Err(Error::UnclosedQuote {
                    path: "/etc/default/grub".into(),
                    line: 1,
                    var: LINUX.into(),
                }),
                "{edits:?}"
            );
        }
        // An open quote in GRUB_CMDLINE_LINUX swallows the default variable even
        // when the default one closes it again, and whichever file sets it.
        let t = "GRUB_CMDLINE_LINUX=\"a=\\\"b\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"c\\\" quiet\"\n";
        assert!(matches!(
            edit_text(t, &edits()),
            Err(Error::UnclosedQuote { line: 1, ref var, .. }) if var == LINUX
        ));
        let d = GrubDefaults::from_texts(vec![
            (
                "/etc/default/grub".into(),
                "GRUB_CMDLINE_LINUX=\"\"\n".into(),
            ),
            (
                "/etc/default/grub.d/50-x.cfg".into(),
                "# x\nGRUB_CMDLINE_LINUX='ro \"'\n".into(),
            ),
        ])
        .unwrap();
        let e = d.plan(&edits()).unwrap_err();
        assert_eq!(
            e,
            Error::UnclosedQuote {
                path: "/etc/default/grub.d/50-x.cfg".into(),
                line: 2,
                var: LINUX.into(),
            }
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "/etc/default/grub.d/50-x.cfg:2: GRUB_CMDLINE_LINUX leaves a double quote open"
            ) && msg.contains("close or remove the quote"),
            "{msg}"
        );
    }

    #[test]
    fn open_quote_in_default_is_refused() {
        let t = "GRUB_CMDLINE_LINUX=\"\"\n\nGRUB_CMDLINE_LINUX_DEFAULT='quiet foo=\"a b'\n";
        assert_eq!(
            edit_text(t, &edits()),
            Err(Error::UnclosedQuote {
                path: "/etc/default/grub".into(),
                line: 3,
                var: LINUX_DEFAULT.into(),
            })
        );
    }

    #[test]
    fn closed_quotes_are_edited() {
        // Balanced quotes in either variable are fine: the edit lands outside them.
        let t = "GRUB_CMDLINE_LINUX='dyndbg=\"module vfio +p\"'\nGRUB_CMDLINE_LINUX_DEFAULT='quiet \"x y\"'\n";
        let out = edit_text(t, &edits()).unwrap();
        assert_eq!(
            out,
            "GRUB_CMDLINE_LINUX='dyndbg=\"module vfio +p\"'\nGRUB_CMDLINE_LINUX_DEFAULT='quiet \"x y\" intel_iommu=on iommu=pt'\n"
        );
        let c = g(&out).cmdline().unwrap();
        assert_eq!(c.value("intel_iommu").as_deref(), Some("on"));
        assert_eq!(c.value("dyndbg").as_deref(), Some("module vfio +p"));
    }

    /// Fuzz finding `fuzz/regressions/grub/nul-in-cmdline-linux-hides-default`:
    /// the kernel command line (and `Cmdline`) ends at a NUL, the shell drops it.
    #[test]
    fn nul_byte_is_refused() {
        let t = "GRUB_CMDLINE_LINUX=\"\0\"";
        let want = || Error::NulByte {
            path: "/etc/default/grub".into(),
            line: 1,
        };
        assert_eq!(
            GrubDefaults::from_texts(vec![("/etc/default/grub".into(), t.into())]),
            Err(want())
        );
        assert_eq!(edit_text(t, &edits()), Err(want()));
        // Anywhere in any sourced file, comments included; the line is named.
        let e = GrubDefaults::from_texts(vec![
            (
                "/etc/default/grub".into(),
                "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n".into(),
            ),
            ("/etc/default/grub.d/z.cfg".into(), "# a\n# b \0 c\n".into()),
        ])
        .unwrap_err();
        assert_eq!(
            e,
            Error::NulByte {
                path: "/etc/default/grub.d/z.cfg".into(),
                line: 2,
            }
        );
        assert!(e
            .to_string()
            .starts_with("/etc/default/grub.d/z.cfg:2: NUL byte"));
    }

    #[test]
    fn case_and_functions() {
        let t = "case x in\n a) GRUB_CMDLINE_LINUX=\"c\" ;;\n b|c) : ;;\nesac\nf() {\n GRUB_CMDLINE_LINUX_DEFAULT=\"f\"\n}\nGRUB_TIMEOUT=1\n";
        let d = g(t);
        assert!(d.effective(LINUX).unwrap().conditional.is_some());
        assert!(d.effective(LINUX_DEFAULT).unwrap().conditional.is_some());
        assert!(d.effective("GRUB_TIMEOUT").unwrap().conditional.is_none());
    }
}
