//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `bootcmd`.
///
/// Parse and edit errors carry plain data so tests can compare them with
/// `assert_eq!`; I/O variants compare by path and [`io::ErrorKind`] (see the
/// `PartialEq` impl).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter name we were asked to write is not a valid kernel parameter name.
    #[error("invalid kernel parameter name {key:?}: {reason}")]
    InvalidKey {
        /// The rejected name.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A parameter value we were asked to write cannot be represented on a kernel command line.
    #[error("invalid value {value:?} for kernel parameter {key}: {reason}")]
    InvalidValue {
        /// The parameter name.
        key: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The command line would exceed the kernel's `COMMAND_LINE_SIZE`.
    #[error("command line is {len} bytes, the kernel keeps at most {max} (COMMAND_LINE_SIZE {size} minus the NUL)")]
    TooLong {
        /// Length in bytes.
        len: usize,
        /// Largest accepted length.
        max: usize,
        /// The `COMMAND_LINE_SIZE` used.
        size: usize,
    },
    /// `/etc/kernel/cmdline` would lose (or does not have) `root=`.
    #[error("{path}: no root= parameter; proxmox-boot-tool refuses a command line without root=, not writing it")]
    MissingRoot {
        /// The file.
        path: PathBuf,
    },
    /// `/etc/kernel/cmdline` has more than one non-empty line.
    #[error("{path}: line {line} is not empty, but the file must hold one line (proxmox-boot-tool reads only the first); merge it by hand first")]
    MultiLineCmdline {
        /// The file.
        path: PathBuf,
        /// 1-based number of the first extra non-empty line.
        line: usize,
    },
    /// A shell file (`/etc/default/grub`, a drop-in) could not be tokenized.
    #[error("{path}:{line}: cannot parse as shell: {reason}")]
    ShellSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The effective assignment of a GRUB variable is not a literal we can edit safely.
    #[error("{path}:{line}: {var} is not a plain literal ({reason}); edit it by hand")]
    NotLiteral {
        /// The file holding the effective assignment.
        path: PathBuf,
        /// 1-based line of the assignment.
        line: usize,
        /// The variable name.
        var: String,
        /// Why it is not editable (`$VAR`, `$(...)`, backticks, conditional, ...).
        reason: String,
    },
    /// A GRUB variable's value leaves a double quote open. GRUB puts
    /// `$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT` on the `linux` line, and the
    /// kernel's `next_arg()` reads everything after an unclosed `"` as one quoted
    /// word, so a parameter added after it (or removed from there) would not take
    /// effect. (grub.cfg would hold the unbalanced quote too.)
    #[error("{path}:{line}: {var} leaves a double quote open, so the kernel would read every parameter after it (GRUB_CMDLINE_LINUX_DEFAULT comes after GRUB_CMDLINE_LINUX) as part of one quoted word and no edit would take effect; close or remove the quote in {var} by hand, then re-run")]
    UnclosedQuote {
        /// The file holding the effective assignment.
        path: PathBuf,
        /// 1-based line of the assignment.
        line: usize,
        /// The variable name.
        var: String,
    },
    /// A shell file (`/etc/default/grub`, a drop-in) holds a NUL byte. A shell
    /// never keeps a NUL in a variable, so the file does not mean what its bytes
    /// show; nothing in it is read or edited.
    #[error("{path}:{line}: NUL byte in a shell file: the shell never keeps it, so this file does not read as it shows; remove the NUL byte(s) (tr -d '\\000' filters them out), then re-run")]
    NulByte {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first NUL byte.
        line: usize,
    },
    /// The text holds a character whose UTF-8 bytes include `0xA0`, a byte the
    /// kernel's `isspace()` reads as a space (a no-break space U+00A0 pasted from
    /// a web page is the usual one): the kernel cuts the character in two, and an
    /// edit next to it would leave bytes that are no longer UTF-8 text.
    #[error("{path}: the command line holds {character:?} (U+{code:04X}), whose UTF-8 bytes include 0xA0, which the kernel reads as a space: the kernel splits it into two broken bytes, and editing next to it would write a file that is no longer text; replace it with a plain space (or remove it), then re-run")]
    SplitCharacter {
        /// The file.
        path: PathBuf,
        /// The character.
        character: char,
        /// Its code point, for the message.
        code: u32,
    },
    /// No boot setup could be recognised under the root.
    #[error("cannot tell how {root} boots: {reasons}")]
    UnknownBootSetup {
        /// The root that was inspected.
        root: PathBuf,
        /// What was looked at, joined with "; ".
        reasons: String,
    },
    /// The file changed between planning an edit and writing it.
    #[error("{path} changed since it was read; re-run to plan again")]
    ChangedSinceRead {
        /// The file.
        path: PathBuf,
    },
    /// Reading a file failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The path names something that is not a regular file (a symbolic link, a
    /// directory, a FIFO, a socket, a device), so it is not replaced: renaming a
    /// file over it would turn a device or FIFO into a plain file, and following
    /// a link planted by someone else would write where they chose.
    #[error("{path} is a {kind}, not a regular file; refusing to replace it")]
    NotRegularFile {
        /// The path as given.
        path: PathBuf,
        /// What it is: "symbolic link", "directory", "FIFO", "socket",
        /// "character device", "block device" or "special file".
        kind: &'static str,
    },
    /// Writing a file (temp file, backup, rename, fsync, chown) failed.
    #[error("cannot write {path} ({step})")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Which step failed.
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        use Error::*;
        match (self, other) {
            (InvalidKey { key: a, reason: r }, InvalidKey { key: b, reason: s }) => {
                a == b && r == s
            }
            (
                InvalidValue {
                    key: a,
                    value: v,
                    reason: r,
                },
                InvalidValue {
                    key: b,
                    value: w,
                    reason: s,
                },
            ) => a == b && v == w && r == s,
            (
                TooLong {
                    len: a,
                    max: m,
                    size: s,
                },
                TooLong {
                    len: b,
                    max: n,
                    size: t,
                },
            ) => a == b && m == n && s == t,
            (MissingRoot { path: a }, MissingRoot { path: b }) => a == b,
            (MultiLineCmdline { path: a, line: l }, MultiLineCmdline { path: b, line: m }) => {
                a == b && l == m
            }
            (
                ShellSyntax {
                    path: a,
                    line: l,
                    reason: r,
                },
                ShellSyntax {
                    path: b,
                    line: m,
                    reason: s,
                },
            ) => a == b && l == m && r == s,
            (
                NotLiteral {
                    path: a,
                    line: l,
                    var: v,
                    reason: r,
                },
                NotLiteral {
                    path: b,
                    line: m,
                    var: w,
                    reason: s,
                },
            ) => a == b && l == m && v == w && r == s,
            (
                UnclosedQuote {
                    path: a,
                    line: l,
                    var: v,
                },
                UnclosedQuote {
                    path: b,
                    line: m,
                    var: w,
                },
            ) => a == b && l == m && v == w,
            (NulByte { path: a, line: l }, NulByte { path: b, line: m }) => a == b && l == m,
            (
                SplitCharacter {
                    path: a,
                    character: c,
                    ..
                },
                SplitCharacter {
                    path: b,
                    character: d,
                    ..
                },
            ) => a == b && c == d,
            (
                UnknownBootSetup {
                    root: a,
                    reasons: r,
                },
                UnknownBootSetup {
                    root: b,
                    reasons: s,
                },
            ) => a == b && r == s,
            (ChangedSinceRead { path: a }, ChangedSinceRead { path: b }) => a == b,
            (NotRegularFile { path: a, kind: k }, NotRegularFile { path: b, kind: l }) => {
                a == b && k == l
            }
            (Read { path: a, source: e }, Read { path: b, source: f }) => {
                a == b && e.kind() == f.kind()
            }
            (
                Write {
                    path: a,
                    step: s,
                    source: e,
                },
                Write {
                    path: b,
                    step: t,
                    source: f,
                },
            ) => a == b && s == t && e.kind() == f.kind(),
            _ => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
