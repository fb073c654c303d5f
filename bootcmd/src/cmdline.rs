//! The kernel command line, tokenized exactly like the kernel does it.
//!
//! The rules follow `next_arg()` in the kernel's `lib/cmdline.c` and the loop in
//! `parse_args()` (`kernel/params.c`):
//!
//! * tokens are separated by runs of `isspace()` bytes outside double quotes; the
//!   kernel's `isspace()` (`lib/ctype.c`) is true for `\t \n \v \f \r`, space and the
//!   Latin-1 byte `0xA0`, so this module works on bytes;
//! * there is no escape character; a `"` toggles "inside quotes" wherever it appears;
//! * a token starting with `"` has that quote dropped, and a trailing `"` dropped too;
//!   a value starting with `"` (`key="a b"`) has its opening and closing quote dropped;
//! * the name ends at the first `=` that is not the first byte of the token
//!   (`next_arg` records `equals == 0` as "no `=` yet"); no `=` means a bare flag
//!   (`quiet`), `key=` means an empty value;
//! * `-` and `_` are the same in names (`parameq()`);
//! * the first bare `--` ends the kernel's parameters; what follows goes to init;
//! * the kernel stops at the first NUL byte; we keep whatever follows it untouched.
//!
//! [`Cmdline`] keeps every byte of the text it parsed (separators included), so
//! printing an unedited command line gives back the input byte for byte, and edits
//! touch only the tokens they change.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use crate::error::{Error, Result};

/// `COMMAND_LINE_SIZE` on x86 (`arch/x86/include/uapi/asm/setup.h`), including the
/// terminating NUL: at most 2047 bytes of text survive.
pub const COMMAND_LINE_SIZE: usize = 2048;

/// The kernel's `isspace()` (`lib/ctype.c`): `\t \n \v \f \r`, space, and `0xA0`.
pub fn is_kernel_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0xa0)
}

/// Compare two parameter names the way the kernel's `parameq()` does (`-` == `_`).
pub fn keys_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}

fn norm(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b
    }
}

/// Normalized form of a name: every `-` turned into `_`.
pub fn normalize_key(key: &str) -> String {
    key.replace('-', "_")
}

/// One token of a command line, as the kernel splits it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    raw: Vec<u8>,
    key: Range<usize>,
    value: Option<Range<usize>>,
}

impl Param {
    /// Split one token the way `next_arg()` does. `raw` must be a whole token.
    fn from_raw(raw: Vec<u8>) -> Param {
        let quoted = raw.first() == Some(&b'"');
        let off = usize::from(quoted);
        let args = &raw[off..];
        let i = args.len();
        // `equals` starts at 0 and 0 means "not found", so a `=` at index 0 is skipped.
        let equals = args
            .iter()
            .enumerate()
            .skip(1)
            .find(|&(_, &b)| b == b'=')
            .map(|(n, _)| n);
        let mut key_end = i;
        let mut value = None;
        if let Some(e) = equals {
            key_end = e;
            let mut vs = e + 1;
            let mut ve = i;
            if args.get(vs) == Some(&b'"') {
                vs += 1;
                if args[i - 1] == b'"' {
                    ve = i - 1;
                }
            }
            value = Some((vs, ve));
        }
        if quoted && i > 0 && args[i - 1] == b'"' {
            match value.as_mut() {
                Some((_, ve)) => *ve = (*ve).min(i - 1),
                None => key_end = key_end.min(i - 1),
            }
        }
        let key = off..off + key_end;
        let value = value.map(|(vs, ve)| off + vs..off + ve.max(vs));
        Param { raw, key, value }
    }

    /// Build a token from a name and an optional value, quoting the value when it
    /// holds whitespace.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] / [`Error::InvalidValue`] when the kernel could not read
    /// the result back as the same name and value.
    pub fn new(key: &str, value: Option<&str>) -> Result<Param> {
        Param::with_value_bytes(key, value.map(str::as_bytes))
    }

    /// [`Param::new`] with the value as bytes, so a rewrite keeps the bytes of
    /// an existing value exactly (a command line need not be UTF-8).
    fn with_value_bytes(key: &str, value: Option<&[u8]>) -> Result<Param> {
        validate_key(key)?;
        let mut raw = key.as_bytes().to_vec();
        if let Some(v) = value {
            validate_value(key, v)?;
            raw.push(b'=');
            if v.iter().copied().any(is_kernel_space) {
                raw.push(b'"');
                raw.extend_from_slice(v);
                raw.push(b'"');
            } else {
                raw.extend_from_slice(v);
            }
        }
        Ok(Param::from_raw(raw))
    }

    /// The name, as the kernel sees it (quotes removed).
    pub fn key(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.key_bytes())
    }

    /// The name as bytes.
    pub fn key_bytes(&self) -> &[u8] {
        &self.raw[self.key.clone()]
    }

    /// The value (`None` for a bare flag, `Some("")` for `key=`).
    pub fn value(&self) -> Option<Cow<'_, str>> {
        self.value_bytes().map(String::from_utf8_lossy)
    }

    /// The value as bytes.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.clone().map(|r| &self.raw[r])
    }

    /// The token exactly as written.
    pub fn raw(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }

    /// The token exactly as written, as bytes.
    pub fn raw_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// True for a bare `key` (no `=`).
    pub fn is_flag(&self) -> bool {
        self.value.is_none()
    }

    /// True when the name equals `key` (with `-` == `_`).
    pub fn key_matches(&self, key: &str) -> bool {
        keys_equal(self.key_bytes(), key.as_bytes())
    }

    /// The comma-separated sub-options of the value (`on,sm_on` -> `["on", "sm_on"]`),
    /// empty items skipped like the kernel's option loops do.
    pub fn options(&self) -> Vec<String> {
        lossy(self.option_bytes())
    }

    /// [`Param::options`] as the bytes written.
    fn option_bytes(&self) -> Vec<&[u8]> {
        self.value_bytes()
            .map(|v| v.split(|&b| b == b',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// True for the bare `--` that ends kernel parameters.
    pub fn is_separator(&self) -> bool {
        self.value.is_none() && self.key_bytes() == b"--"
    }

    /// True when the token has an unclosed `"`: the kernel would swallow everything
    /// after it into this token.
    fn open_quote(&self) -> bool {
        self.raw.iter().filter(|&&b| b == b'"').count() % 2 == 1
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw())
    }
}

fn validate_key(key: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key == "--" {
        return bad("`--` ends the kernel parameters, it is not a parameter");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("only printable ASCII without spaces is allowed");
    }
    if key.contains('=') {
        return bad("contains `=`");
    }
    if key.contains('"') {
        return bad("contains `\"`");
    }
    Ok(())
}

fn validate_value(key: &str, value: &[u8]) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidValue {
            key: key.to_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            reason,
        })
    };
    if value.contains(&b'"') {
        return bad("the kernel has no way to escape `\"`");
    }
    if value.iter().any(|b| b.is_ascii_control()) {
        return bad("control characters (newline, tab, NUL, ...) are not allowed");
    }
    Ok(())
}

/// The edited bytes of a command line that came from `original` (UTF-8 text of
/// the file `path`) as text again. Edits keep every byte they do not rewrite, so
/// the only way they produce something that is not UTF-8 is by separating the
/// two halves of a character the kernel splits at its `0xA0` byte; that is
/// refused, naming the character.
pub(crate) fn edited_text(path: &Path, original: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        let character = original
            .chars()
            .find(|c| c.len_utf8() > 1 && c.to_string().bytes().any(is_kernel_space))
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        Error::SplitCharacter {
            path: path.to_owned(),
            character,
            code: u32::from(character),
        }
    })
}

/// How repeated occurrences of a parameter combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// Last occurrence wins; `ensure` leaves exactly one (most parameters).
    Single,
    /// Every occurrence counts (`console=`, `hugepagesz=`, `ip=`, ...); `ensure` adds.
    Repeatable,
    /// A comma-separated option list whose occurrences accumulate
    /// (`intel_iommu=on,sm_on`, `iommu=pt`); `ensure` merges options.
    OptionList,
}

const REPEATABLE: &[&str] = &[
    "console",
    "hugepagesz",
    "hugepages",
    "memmap",
    "video",
    "ip",
    "nameserver",
    "rd.route",
    "rd.luks.uuid",
    "rd.luks.name",
    "rd.lvm.lv",
    "rd.lvm.vg",
    "rd.md.uuid",
    "bond",
    "vlan",
    "bridge",
    "systemd.setenv",
    "systemd.mount_extra",
];

const OPTION_LISTS: &[&str] = &[
    "intel_iommu",
    "amd_iommu",
    "iommu",
    "intremap",
    "pci",
    "pcie_acs_override",
];

/// Pairs of options of one option-list parameter that cancel each other: the later
/// one wins in the kernel, and `ensure` drops the other.
const CONFLICTS: &[(&str, &str, &str)] = &[
    ("intel_iommu", "on", "off"),
    ("intel_iommu", "sm_on", "sm_off"),
    ("amd_iommu", "pgtbl_v1", "pgtbl_v2"),
    ("iommu", "pt", "nopt"),
    ("iommu", "pt", "off"),
    ("iommu", "pt", "soft"),
    ("iommu", "force", "noforce"),
    ("iommu", "force", "off"),
    ("iommu", "merge", "nomerge"),
    ("iommu", "panic", "nopanic"),
    ("intremap", "on", "off"),
    // drivers/pci/pci.c pci_setup(): `realloc` is `realloc=on`.
    ("pci", "realloc", "realloc=off"),
    ("pci", "realloc=on", "realloc=off"),
];

/// How the kernel combines repeated occurrences of `key`.
pub fn key_kind(key: &str) -> KeyKind {
    let k = normalize_key(key);
    if OPTION_LISTS.iter().any(|o| *o == k) {
        KeyKind::OptionList
    } else if REPEATABLE.iter().any(|o| normalize_key(o) == k) {
        KeyKind::Repeatable
    } else {
        KeyKind::Single
    }
}

/// True when options `a` and `b` of parameter `key` cancel each other.
pub fn options_conflict(key: &str, a: &str, b: &str) -> bool {
    let k = normalize_key(key);
    CONFLICTS
        .iter()
        .any(|&(ck, x, y)| ck == k && ((x == a && y == b) || (x == b && y == a)))
}

/// [`options_conflict`] on option bytes (an option that is not UTF-8 conflicts
/// with nothing).
fn options_conflict_bytes(key: &str, a: &[u8], b: &[u8]) -> bool {
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => options_conflict(key, a, b),
        _ => false,
    }
}

/// Fold occurrences' option lists in order: a later option replaces an equal or
/// conflicting earlier one.
fn fold_options<'a>(key: &str, lists: impl Iterator<Item = Vec<&'a [u8]>>) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for list in lists {
        for opt in list {
            out.retain(|o| *o != opt && !options_conflict_bytes(key, o, opt));
            out.push(opt);
        }
    }
    out
}

fn lossy(options: Vec<&[u8]>) -> Vec<String> {
    options
        .into_iter()
        .map(|o| String::from_utf8_lossy(o).into_owned())
        .collect()
}

/// A token edit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Edit {
    /// Make `key` (or `key=value`) present; see [`Cmdline::ensure_param`].
    Ensure {
        /// Parameter name.
        key: String,
        /// `None` for a bare flag.
        value: Option<String>,
    },
    /// Remove every occurrence of `key`.
    Remove {
        /// Parameter name.
        key: String,
    },
    /// Remove one option from `key`'s comma list (the token goes when the list empties).
    RemoveOption {
        /// Parameter name.
        key: String,
        /// The option to drop.
        option: String,
    },
}

impl Edit {
    /// `key=value`.
    pub fn ensure(key: &str, value: &str) -> Edit {
        Edit::Ensure {
            key: key.to_owned(),
            value: Some(value.to_owned()),
        }
    }
    /// Bare `key`.
    pub fn flag(key: &str) -> Edit {
        Edit::Ensure {
            key: key.to_owned(),
            value: None,
        }
    }
    /// Remove `key`.
    pub fn remove(key: &str) -> Edit {
        Edit::Remove {
            key: key.to_owned(),
        }
    }
    /// Remove `option` from `key`'s comma list.
    pub fn remove_option(key: &str, option: &str) -> Edit {
        Edit::RemoveOption {
            key: key.to_owned(),
            option: option.to_owned(),
        }
    }
    /// The parameter name this edit is about.
    pub fn key(&self) -> &str {
        match self {
            Edit::Ensure { key, .. } | Edit::Remove { key } | Edit::RemoveOption { key, .. } => key,
        }
    }
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::Ensure { key, value: None } => write!(f, "add {key}"),
            Edit::Ensure {
                key,
                value: Some(v),
            } => write!(f, "set {key}={v}"),
            Edit::Remove { key } => write!(f, "remove {key}"),
            Edit::RemoveOption { key, option } => write!(f, "remove {option} from {key}="),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Item {
    param: Param,
    /// Whitespace after the token (may be empty for the last one).
    trail: Vec<u8>,
}

/// A parsed kernel command line that remembers every byte.
///
/// ```
/// use bootcmd::Cmdline;
///
/// let mut c = Cmdline::parse("root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet\n");
/// assert_eq!(c.get("boot").and_then(|p| p.value()).as_deref(), Some("zfs"));
/// assert!(c.ensure("intel_iommu", "on").unwrap());
/// assert!(!c.ensure("intel-iommu", "on").unwrap()); // `-` == `_`, already there
/// assert_eq!(c.to_string(), "root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet intel_iommu=on\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cmdline {
    lead: Vec<u8>,
    items: Vec<Item>,
    /// From the first NUL byte on: the kernel never sees it; kept verbatim.
    tail: Vec<u8>,
}

impl Cmdline {
    /// Parse text. Never fails: the kernel accepts any bytes.
    pub fn parse(text: &str) -> Cmdline {
        Cmdline::from_bytes(text.as_bytes())
    }

    /// Parse bytes (the kernel works on bytes; `0xA0` is a separator to it).
    pub fn from_bytes(bytes: &[u8]) -> Cmdline {
        let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let (text, tail) = bytes.split_at(cut);
        let n = text.len();
        let mut pos = 0;
        while pos < n && is_kernel_space(text[pos]) {
            pos += 1;
        }
        let lead = text[..pos].to_vec();
        let mut items = Vec::new();
        while pos < n {
            let start = pos;
            let mut in_quote = false;
            while pos < n {
                let b = text[pos];
                if is_kernel_space(b) && !in_quote {
                    break;
                }
                if b == b'"' {
                    in_quote = !in_quote;
                }
                pos += 1;
            }
            let end = pos;
            while pos < n && is_kernel_space(text[pos]) {
                pos += 1;
            }
            items.push(Item {
                param: Param::from_raw(text[start..end].to_vec()),
                trail: text[end..pos].to_vec(),
            });
        }
        Cmdline {
            lead,
            items,
            tail: tail.to_vec(),
        }
    }

    /// The full text, byte for byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.lead.clone();
        for it in &self.items {
            out.extend_from_slice(&it.param.raw);
            out.extend_from_slice(&it.trail);
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// Length in bytes of the part the kernel reads (up to a NUL), trailing
    /// whitespace excluded.
    pub fn kernel_len(&self) -> usize {
        let mut len = self.lead.len();
        let last = self.items.len().saturating_sub(1);
        for (i, it) in self.items.iter().enumerate() {
            len += it.param.raw.len();
            if i != last {
                len += it.trail.len();
            }
        }
        len
    }

    /// Fail when the text would not fit the kernel's `COMMAND_LINE_SIZE` (2048 on
    /// x86, NUL included). `extra` accounts for what the boot loader adds (GRUB
    /// prepends `BOOT_IMAGE=... root=... ro`).
    ///
    /// # Errors
    ///
    /// [`Error::TooLong`].
    pub fn check_size(&self, extra: usize) -> Result<()> {
        let len = self.kernel_len() + extra;
        let max = COMMAND_LINE_SIZE - 1;
        if len > max {
            return Err(Error::TooLong {
                len,
                max,
                size: COMMAND_LINE_SIZE,
            });
        }
        Ok(())
    }

    fn separator_index(&self) -> Option<usize> {
        self.items.iter().position(|it| it.param.is_separator())
    }

    fn kernel_items(&self) -> &[Item] {
        let end = self.separator_index().unwrap_or(self.items.len());
        &self.items[..end]
    }

    /// True when there is no token at all (only whitespace, or nothing).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Kernel parameters: every token before the first bare `--`.
    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.kernel_items().iter().map(|it| &it.param)
    }

    /// Arguments for init: every token after the first bare `--`.
    pub fn init_args(&self) -> impl Iterator<Item = &Param> {
        let start = self.separator_index().map_or(self.items.len(), |i| i + 1);
        self.items[start..].iter().map(|it| &it.param)
    }

    /// Every token, `--` and init arguments included.
    pub fn tokens(&self) -> impl Iterator<Item = &Param> {
        self.items.iter().map(|it| &it.param)
    }

    /// True when a bare `--` is present.
    pub fn has_separator(&self) -> bool {
        self.separator_index().is_some()
    }

    /// The effective (last) occurrence of kernel parameter `key`.
    pub fn get(&self, key: &str) -> Option<&Param> {
        self.params().filter(|p| p.key_matches(key)).last()
    }

    /// Every occurrence of kernel parameter `key`, in order.
    pub fn get_all(&self, key: &str) -> Vec<&Param> {
        self.params().filter(|p| p.key_matches(key)).collect()
    }

    /// The value of the last occurrence of `key` (`None` if absent or a bare flag).
    pub fn value(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).and_then(Param::value)
    }

    /// True when kernel parameter `key` appears at all.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The effective comma options of `key` over all its occurrences, in kernel
    /// order (a later option replaces an equal or conflicting earlier one).
    pub fn options(&self, key: &str) -> Vec<String> {
        lossy(self.option_bytes(key))
    }

    /// [`Cmdline::options`] as the bytes written.
    fn option_bytes(&self, key: &str) -> Vec<&[u8]> {
        fold_options(key, self.get_all(key).into_iter().map(Param::option_bytes))
    }

    /// True when `option` is among `key`'s effective options.
    pub fn has_option(&self, key: &str, option: &str) -> bool {
        self.option_bytes(key).contains(&option.as_bytes())
    }

    fn indices(&self, key: &str) -> Vec<usize> {
        self.kernel_items()
            .iter()
            .enumerate()
            .filter(|(_, it)| it.param.key_matches(key))
            .map(|(i, _)| i)
            .collect()
    }

    /// Ensure `key=value` is in effect. See [`Cmdline::ensure_param`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] / [`Error::InvalidValue`].
    pub fn ensure(&mut self, key: &str, value: &str) -> Result<bool> {
        self.ensure_param(key, Some(value))
    }

    /// Ensure the bare flag `key` is present. See [`Cmdline::ensure_param`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`].
    pub fn ensure_flag(&mut self, key: &str) -> Result<bool> {
        self.ensure_param(key, None)
    }

    /// Ensure `key` (with `value`, or bare when `None`) is in effect, changing as
    /// few tokens as possible. Returns whether anything changed.
    ///
    /// * [`KeyKind::Single`]: afterwards exactly one occurrence, with this value
    ///   (an occurrence that already has it is kept, otherwise the first one is
    ///   rewritten in place; the others are removed);
    /// * [`KeyKind::Repeatable`]: added unless an occurrence has this value;
    /// * [`KeyKind::OptionList`]: nothing changes when every option of `value` is
    ///   already effective; otherwise the occurrences merge into the first one,
    ///   options conflicting with the new ones are dropped, the new ones appended.
    ///
    /// New tokens go before `--`, or at the end.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] / [`Error::InvalidValue`] when the parameter could not
    /// be written so the kernel reads it back unchanged.
    pub fn ensure_param(&mut self, key: &str, value: Option<&str>) -> Result<bool> {
        let fresh = Param::new(key, value)?;
        let idx = self.indices(key);
        let want = value.map(str::as_bytes);
        let kind = match (key_kind(key), value) {
            (KeyKind::OptionList, None) => KeyKind::Single,
            (k, _) => k,
        };
        match kind {
            KeyKind::Repeatable => {
                if idx
                    .iter()
                    .any(|&i| self.items[i].param.value_bytes() == want)
                {
                    return Ok(false);
                }
                self.insert(fresh);
                Ok(true)
            }
            KeyKind::OptionList => {
                // Bytes, not strings: the options already written are kept
                // exactly, even when they are not UTF-8.
                let wanted: Vec<&[u8]> = value
                    .unwrap_or_default()
                    .as_bytes()
                    .split(|&b| b == b',')
                    .filter(|s| !s.is_empty())
                    .collect();
                let have: Vec<Vec<u8>> = self
                    .option_bytes(key)
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect();
                if !idx.is_empty() && wanted.iter().all(|w| have.iter().any(|h| h == w)) {
                    return Ok(false);
                }
                let Some(&first) = idx.first() else {
                    self.insert(fresh);
                    return Ok(true);
                };
                let mut merged: Vec<&[u8]> = have
                    .iter()
                    .map(Vec::as_slice)
                    .filter(|o| {
                        !wanted
                            .iter()
                            .any(|w| w == o || options_conflict_bytes(key, o, w))
                    })
                    .collect();
                merged.extend(wanted);
                let joined = merged.join(&b',');
                let new = Param::with_value_bytes(&self.spelling(first, key), Some(&joined))?;
                self.items[first].param = new;
                self.remove_indices(&idx[1..]);
                Ok(true)
            }
            _ => {
                if idx.len() == 1 && self.items[idx[0]].param.value_bytes() == want {
                    return Ok(false);
                }
                let Some(&first) = idx.first() else {
                    self.insert(fresh);
                    return Ok(true);
                };
                // Keep an occurrence that already has the value, if any.
                let keep = idx
                    .iter()
                    .rev()
                    .copied()
                    .find(|&i| self.items[i].param.value_bytes() == want);
                let keep = match keep {
                    Some(k) => k,
                    None => {
                        let new = Param::new(&self.spelling(first, key), value)?;
                        self.items[first].param = new;
                        first
                    }
                };
                let others: Vec<usize> = idx.into_iter().filter(|&i| i != keep).collect();
                self.remove_indices(&others);
                Ok(true)
            }
        }
    }

    /// The name as already written at item `i` when it is written plainly, so a
    /// rewrite keeps the admin's spelling (`intel-iommu` stays `intel-iommu`).
    fn spelling(&self, i: usize, fallback: &str) -> String {
        let p = &self.items[i].param;
        if p.raw.first() != Some(&b'"') {
            if let Ok(k) = std::str::from_utf8(p.key_bytes()) {
                if validate_key(k).is_ok() {
                    return k.to_owned();
                }
            }
        }
        fallback.to_owned()
    }

    /// Remove every kernel-parameter occurrence of `key` (init arguments after `--`
    /// are left alone). Returns how many tokens went.
    pub fn remove(&mut self, key: &str) -> usize {
        let idx = self.indices(key);
        self.remove_indices(&idx);
        idx.len()
    }

    /// Remove `option` from every occurrence of `key`'s comma list; a token whose
    /// list becomes empty is removed. Returns whether anything changed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] / [`Error::InvalidValue`] (only for names or values that
    /// could not be written back, which parsed tokens never are in practice).
    pub fn remove_option(&mut self, key: &str, option: &str) -> Result<bool> {
        let idx = self.indices(key);
        let mut drop = Vec::new();
        let mut changed = false;
        for &i in &idx {
            let opts = self.items[i].param.option_bytes();
            if !opts.contains(&option.as_bytes()) {
                continue;
            }
            changed = true;
            let rest: Vec<&[u8]> = opts
                .into_iter()
                .filter(|o| *o != option.as_bytes())
                .collect();
            if rest.is_empty() {
                drop.push(i);
            } else {
                let joined = rest.join(&b',');
                let new = Param::with_value_bytes(&self.spelling(i, key), Some(&joined))?;
                self.items[i].param = new;
            }
        }
        self.remove_indices(&drop);
        Ok(changed)
    }

    /// Apply edits in order. Returns whether anything changed.
    ///
    /// # Errors
    ///
    /// The first failing edit's error; earlier edits stay applied.
    pub fn apply(&mut self, edits: &[Edit]) -> Result<bool> {
        let mut changed = false;
        for e in edits {
            changed |= match e {
                Edit::Ensure { key, value } => self.ensure_param(key, value.as_deref())?,
                Edit::Remove { key } => self.remove(key) > 0,
                Edit::RemoveOption { key, option } => self.remove_option(key, option)?,
            };
        }
        Ok(changed)
    }

    fn remove_indices(&mut self, idx: &[usize]) {
        let mut sorted = idx.to_vec();
        sorted.sort_unstable();
        for &i in sorted.iter().rev() {
            self.remove_item(i);
        }
    }

    fn remove_item(&mut self, i: usize) {
        if i >= self.items.len() {
            return;
        }
        let item = self.items.remove(i);
        if i == self.items.len() {
            // It was the last token: its trailing bytes (often "\n") stay at the end.
            match self.items.last_mut() {
                Some(prev) => prev.trail = item.trail,
                None => self.lead.extend_from_slice(&item.trail),
            }
        }
    }

    fn insert(&mut self, param: Param) {
        if let Some(sep) = self.separator_index() {
            self.items.insert(
                sep,
                Item {
                    param,
                    trail: b" ".to_vec(),
                },
            );
            return;
        }
        match self.items.last() {
            // An unclosed quote swallows whatever follows it: go before that token.
            Some(last) if last.param.open_quote() => {
                let at = self.items.len() - 1;
                self.items.insert(
                    at,
                    Item {
                        param,
                        trail: b" ".to_vec(),
                    },
                );
            }
            Some(_) => {
                let last = self.items.len() - 1;
                let trail = std::mem::replace(&mut self.items[last].trail, b" ".to_vec());
                self.items.push(Item { param, trail });
            }
            None => {
                let trail = std::mem::take(&mut self.lead);
                self.items.push(Item { param, trail });
            }
        }
    }
}

impl fmt::Display for Cmdline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Serialized as its text.
impl serde::Serialize for Cmdline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl std::str::FromStr for Cmdline {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Cmdline::parse(s))
    }
}

/// Parameters boot loaders add on their own; never compared.
pub const LOADER_KEYS: &[&str] = &["BOOT_IMAGE", "initrd"];

/// What the configured command line asks for compared with the running one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pending {
    /// Configured tokens the running kernel does not have: a reboot is pending.
    pub missing: Vec<String>,
    /// Running tokens the configuration does not ask for (boot loaders add some,
    /// e.g. `root=` and `ro` with GRUB; informational).
    pub extra: Vec<String>,
}

impl Pending {
    /// True when the configuration asks for something the running kernel lacks.
    pub fn reboot_pending(&self) -> bool {
        !self.missing.is_empty()
    }
}

/// Compare the configured command line with the running one (`/proc/cmdline`),
/// ignoring `BOOT_IMAGE=` and `initrd=`. Option lists compare by effective options,
/// repeatable keys by every occurrence, other keys by their last occurrence.
pub fn compare(configured: &Cmdline, running: &Cmdline) -> Pending {
    Pending {
        missing: unmet(configured, running),
        extra: unmet(running, configured),
    }
}

fn unmet(want: &Cmdline, have: &Cmdline) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for p in want.params() {
        let key = p.key().into_owned();
        if LOADER_KEYS.iter().any(|k| p.key_matches(k)) {
            continue;
        }
        match key_kind(&key) {
            KeyKind::Repeatable => {
                if !have
                    .get_all(&key)
                    .iter()
                    .any(|h| h.value_bytes() == p.value_bytes())
                {
                    out.push(p.raw().into_owned());
                }
            }
            kind => {
                let norm = normalize_key(&key);
                if seen.contains(&norm) {
                    continue;
                }
                seen.push(norm);
                let ok = if kind == KeyKind::OptionList
                    && want.get(&key).is_some_and(|q| !q.is_flag())
                {
                    let have_opts = have.options(&key);
                    want.options(&key).iter().all(|o| have_opts.contains(o)) && have.contains(&key)
                } else {
                    match (want.get(&key), have.get(&key)) {
                        (Some(w), Some(h)) => w.value_bytes() == h.value_bytes(),
                        _ => false,
                    }
                };
                if !ok {
                    if let Some(w) = want.get(&key) {
                        out.push(w.raw().into_owned());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn kv(c: &Cmdline) -> Vec<(String, Option<String>)> {
        c.tokens()
            .map(|p| (p.key().into_owned(), p.value().map(|v| v.into_owned())))
            .collect()
    }

    fn s(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn pci_realloc_joins_the_pci_options_and_replaces_realloc_off() {
        let mut c = Cmdline::parse("root=/dev/sda1 pci=nocrs,realloc=off quiet");
        assert!(c.ensure_param("pci", Some("realloc")).unwrap());
        assert_eq!(c.to_string(), "root=/dev/sda1 pci=nocrs,realloc quiet");
        // Already there: nothing changes.
        assert!(!c.ensure_param("pci", Some("realloc")).unwrap());
        let mut c = Cmdline::parse("quiet");
        assert!(c.ensure_param("pci", Some("realloc")).unwrap());
        assert_eq!(c.to_string(), "quiet pci=realloc");
    }

    #[test]
    fn splits_like_next_arg() {
        let c = Cmdline::parse("  quiet  root=/dev/sda1\tfoo= \"bar baz\" x=\"a b\"c\n");
        assert_eq!(
            kv(&c),
            vec![
                s("quiet", None),
                s("root", Some("/dev/sda1")),
                s("foo", Some("")),
                s("bar baz", None),
                s("x", Some("a b\"c")),
            ]
        );
    }

    #[test]
    fn quote_rules() {
        // Leading quote of a token, value quote, both.
        let c = Cmdline::parse(r#""k=v" k2="v2" "k3="v3"" "=x" =y a=b=c "#);
        assert_eq!(
            kv(&c),
            vec![
                s("k", Some("v")),
                s("k2", Some("v2")),
                s("k3", Some("v3\"")),
                s("=x", None),
                s("=y", None),
                s("a", Some("b=c")),
            ]
        );
        // `=` at index 0 is skipped, the next one counts.
        let c = Cmdline::parse("=a=b");
        assert_eq!(kv(&c), vec![s("=a", Some("b"))]);
        // A quote toggles wherever it is; an unclosed one swallows the rest.
        let c = Cmdline::parse("\" a=\"b c");
        assert_eq!(kv(&c), vec![s(" a", Some("b")), s("c", None)]);
        let c = Cmdline::parse("k=\"b c");
        assert_eq!(kv(&c), vec![s("k", Some("b c"))]);
        let c = Cmdline::parse("k=\"");
        assert_eq!(kv(&c), vec![s("k", Some(""))]);
        let c = Cmdline::parse("\"");
        assert_eq!(kv(&c), vec![s("", None)]);
    }

    #[test]
    fn nbsp_byte_separates() {
        let c = Cmdline::from_bytes(b"a\xa0b");
        assert_eq!(c.tokens().count(), 2);
        let c = Cmdline::parse("caf\u{e0} x"); // U+00E0 is C3 A0 in UTF-8
        assert_eq!(c.tokens().count(), 2);
        assert_eq!(c.to_string(), "caf\u{e0} x");
    }

    #[test]
    fn nul_ends_the_line() {
        let c = Cmdline::from_bytes(b"a b\0c d");
        assert_eq!(c.tokens().count(), 2);
        assert_eq!(c.to_bytes(), b"a b\0c d");
    }

    #[test]
    fn dashes() {
        let c = Cmdline::parse("ro quiet -- single x=1");
        assert_eq!(c.params().count(), 2);
        assert_eq!(c.init_args().count(), 2);
        assert!(c.get("x").is_none());
        let mut c = c;
        assert!(c.ensure("iommu", "pt").unwrap());
        assert_eq!(c.to_string(), "ro quiet iommu=pt -- single x=1");
        // A quoted "--" is a separator too; `--=x` is not.
        let c = Cmdline::parse("a \"--\" b");
        assert_eq!(c.init_args().count(), 1);
        let c = Cmdline::parse("a --=x b");
        assert_eq!(c.init_args().count(), 0);
    }

    #[test]
    fn keys_dash_underscore() {
        let c = Cmdline::parse("intel-iommu=on vfio-pci.ids=8086:10ca");
        assert_eq!(c.value("intel_iommu").as_deref(), Some("on"));
        assert!(c.contains("vfio_pci.ids"));
    }

    #[test]
    fn flag_vs_empty() {
        let c = Cmdline::parse("quiet quiet=");
        let all = c.get_all("quiet");
        assert!(all[0].is_flag());
        assert_eq!(all[1].value().as_deref(), Some(""));
    }

    #[test]
    fn ensure_single_replaces_others() {
        let mut c = Cmdline::parse("root=/dev/sda1 iommu=soft quiet iommu=nopt splash");
        assert!(c.ensure("iommu", "pt").unwrap());
        assert_eq!(c.to_string(), "root=/dev/sda1 iommu=pt quiet splash");
        assert!(!c.ensure("iommu", "pt").unwrap());
        let mut c = Cmdline::parse("mitigations=off mitigations=auto");
        assert!(c.ensure("mitigations", "auto").unwrap());
        assert_eq!(c.to_string(), "mitigations=auto");
    }

    #[test]
    fn ensure_keeps_spelling_and_substrings() {
        let mut c = Cmdline::parse("nosplash intel-iommu=off nomodeset\n");
        assert!(c.ensure("intel_iommu", "on").unwrap());
        assert_eq!(c.to_string(), "nosplash intel-iommu=on nomodeset\n");
        assert!(c.remove("splash") == 0);
        assert_eq!(c.to_string(), "nosplash intel-iommu=on nomodeset\n");
    }

    #[test]
    fn ensure_repeatable_adds() {
        let mut c = Cmdline::parse("console=tty0");
        assert!(c.ensure("console", "ttyS0,115200").unwrap());
        assert!(!c.ensure("console", "tty0").unwrap());
        assert_eq!(c.to_string(), "console=tty0 console=ttyS0,115200");
    }

    #[test]
    fn ensure_option_lists() {
        let mut c = Cmdline::parse("intel_iommu=on,sm_on quiet");
        assert!(!c.ensure("intel_iommu", "on").unwrap());
        let mut c = Cmdline::parse("intel_iommu=sm_on,off quiet intel_iommu=igfx_off");
        assert!(c.ensure("intel_iommu", "on").unwrap());
        assert_eq!(c.to_string(), "intel_iommu=sm_on,igfx_off,on quiet");
        assert!(!c.ensure("intel_iommu", "on").unwrap());
        // later "off" defeats an earlier "on"
        let c = Cmdline::parse("intel_iommu=on intel_iommu=off");
        assert!(!c.has_option("intel_iommu", "on"));
    }

    #[test]
    fn option_edits_keep_existing_bytes() {
        // Options that are not UTF-8 survive a merge and a removal byte for byte.
        let mut c = Cmdline::from_bytes(b"iommu=x\xff,pt pcie_acs_override=id:\xc2");
        assert!(c.ensure("iommu", "force").unwrap());
        assert!(c.remove_option("iommu", "pt").unwrap());
        assert!(c.ensure("pcie_acs_override", "downstream").unwrap());
        assert_eq!(
            c.to_bytes(),
            b"iommu=x\xff,force pcie_acs_override=id:\xc2,downstream".to_vec()
        );
        assert!(!c.ensure("iommu", "force").unwrap());
    }

    #[test]
    fn remove_keeps_layout() {
        let mut c = Cmdline::parse("a b c\n");
        assert_eq!(c.remove("c"), 1);
        assert_eq!(c.to_string(), "a b\n");
        assert_eq!(c.remove("a"), 1);
        assert_eq!(c.to_string(), "b\n");
        assert_eq!(c.remove("b"), 1);
        assert_eq!(c.to_string(), "\n");
        assert!(c.ensure_flag("quiet").unwrap());
        assert_eq!(c.to_string(), "quiet\n");
    }

    #[test]
    fn remove_option() {
        let mut c = Cmdline::parse("amd_iommu=on iommu=pt amd_iommu=on,force_isolation");
        assert!(c.remove_option("amd_iommu", "on").unwrap());
        assert_eq!(c.to_string(), "iommu=pt amd_iommu=force_isolation");
    }

    #[test]
    fn open_quote_is_not_swallowing_new_params() {
        let mut c = Cmdline::parse("root=x foo=\"bar baz");
        assert!(c.ensure("iommu", "pt").unwrap());
        assert_eq!(c.to_string(), "root=x iommu=pt foo=\"bar baz");
        assert_eq!(c.value("iommu").as_deref(), Some("pt"));
    }

    #[test]
    fn values_with_spaces_are_quoted() {
        let mut c = Cmdline::parse("");
        assert!(c.ensure("dyndbg", "module vfio +p").unwrap());
        assert_eq!(c.to_string(), "dyndbg=\"module vfio +p\"");
        assert_eq!(c.value("dyndbg").as_deref(), Some("module vfio +p"));
    }

    #[test]
    fn rejects_unwritable() {
        let mut c = Cmdline::default();
        assert_eq!(
            c.ensure("a b", "x"),
            Err(Error::InvalidKey {
                key: "a b".into(),
                reason: "only printable ASCII without spaces is allowed"
            })
        );
        assert!(matches!(
            c.ensure("k", "a\"b"),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            c.ensure("k", "a\nb"),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(c.ensure_flag("--"), Err(Error::InvalidKey { .. })));
    }

    #[test]
    fn size() {
        let c = Cmdline::parse(&"a".repeat(2047));
        assert!(c.check_size(0).is_ok());
        assert_eq!(
            c.check_size(1),
            Err(Error::TooLong {
                len: 2048,
                max: 2047,
                size: 2048
            })
        );
    }

    #[test]
    fn pending_reboot() {
        let running = Cmdline::parse(
            "BOOT_IMAGE=/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on,sm_on\n",
        );
        let conf = Cmdline::parse("root=/dev/mapper/pve-root ro quiet intel_iommu=on iommu=pt");
        let p = compare(&conf, &running);
        assert_eq!(p.missing, vec!["iommu=pt".to_owned()]);
        assert!(p.reboot_pending());
        let conf = Cmdline::parse("quiet intel-iommu=sm_on");
        assert!(!compare(&conf, &running).reboot_pending());
    }
}
