//! Reading and writing single sysfs attribute files and links.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::pci::PciAddress;

pub(crate) fn io_err(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn parse_err(path: &Path, content: &str, expected: &'static str) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        content: content.chars().take(64).collect(),
        expected,
    }
}

/// Sysfs attributes are at most a page; `if_inet6` can be longer. Anything beyond
/// this is not a kernel file (a fixture pointing at `/dev/zero`, say).
const READ_LIMIT: u64 = 1 << 20;

/// `path` opened for reading without blocking and checked after opening: a
/// FIFO planted at an attribute's path (which would wait for a writer
/// forever) or a device is refused, not read.
pub(crate) fn open_regular(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file, as every sysfs attribute is",
        ));
    }
    Ok(f)
}

/// An attribute's trimmed text, read from [`open_regular`], at most
/// [`READ_LIMIT`] bytes.
fn read_bounded(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let f = open_regular(path)?;
    let mut buf = Vec::new();
    f.take(READ_LIMIT + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > READ_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB, which no sysfs attribute is",
                READ_LIMIT >> 20
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&buf).trim().to_string())
}

/// The trimmed content of `path`, `None` when it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match read_bounded(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path, e)),
    }
}

/// The trimmed content of `path`.
pub(crate) fn read(path: &Path) -> Result<String> {
    read_bounded(path).map_err(|e| io_err("reading", path, e))
}

/// An integer type a sysfs attribute is read into, with its range in words
/// (a number out of it is named as such, not as "not a number").
pub(crate) trait Dec: std::str::FromStr {
    /// "a decimal number of at most 65535", ...
    const EXPECTED: &'static str;
}

macro_rules! dec {
    ($($t:ty => $e:literal),* $(,)?) => {
        $(impl Dec for $t { const EXPECTED: &'static str = $e; })*
    };
}
dec! {
    u8 => "a decimal number of at most 255",
    u16 => "a decimal number of at most 65535 (the PCI field is 16 bits)",
    u32 => "a decimal number of at most 4294967295",
    i32 => "a decimal number from -2147483648 to 2147483647",
}

fn parse_dec<T: Dec>(path: &Path, s: &str) -> Result<T> {
    s.parse().map_err(|_| {
        let digits = !s.is_empty()
            && s.trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit());
        parse_err(
            path,
            s,
            if digits {
                T::EXPECTED
            } else {
                "a decimal number"
            },
        )
    })
}

/// A decimal number (`sriov_totalvfs`, `ifindex`, `numa_node`, ...).
pub(crate) fn read_dec<T: Dec>(path: &Path) -> Result<T> {
    let s = read(path)?;
    parse_dec(path, &s)
}

/// A decimal number, `None` when the file does not exist.
pub(crate) fn read_dec_opt<T: Dec>(path: &Path) -> Result<Option<T>> {
    match read_opt(path)? {
        None => Ok(None),
        Some(s) => parse_dec(path, &s).map(Some),
    }
}

/// A 16-bit hex id, with (`vendor`: `0x8086`) or without (`sriov_vf_device`: `154c`)
/// the `0x` prefix.
pub(crate) fn read_hex_u16(path: &Path) -> Result<u16> {
    let s = read(path)?;
    parse_hex_u16(&s).ok_or_else(|| parse_err(path, &s, "a hex id such as 0x8086"))
}

/// A hex id such as `0x8086`, `None` when the file does not exist.
pub(crate) fn read_hex_u16_opt(path: &Path) -> Result<Option<u16>> {
    match read_opt(path)? {
        None => Ok(None),
        Some(s) => parse_hex_u16(&s)
            .map(Some)
            .ok_or_else(|| parse_err(path, &s, "a hex id such as 0x8086")),
    }
}

pub(crate) fn parse_hex_u16(s: &str) -> Option<u16> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if h.is_empty() || h.len() > 4 {
        return None;
    }
    u16::from_str_radix(h, 16).ok()
}

/// A 32-bit hex value with or without `0x` (`class`, netdev `flags`).
pub(crate) fn read_hex_u32_opt(path: &Path) -> Result<Option<u32>> {
    let Some(s) = read_opt(path)? else {
        return Ok(None);
    };
    let h = s.strip_prefix("0x").unwrap_or(&s);
    u32::from_str_radix(h, 16)
        .map(Some)
        .map_err(|_| parse_err(path, &s, "a hex number such as 0x1003"))
}

/// The last component of the target of symlink `path`, `None` when there is no
/// such link.
pub(crate) fn link_name(path: &Path) -> Result<Option<String>> {
    match fs::read_link(path) {
        Ok(t) => match t.file_name().and_then(|n| n.to_str()) {
            Some(n) => Ok(Some(n.to_string())),
            None => Err(parse_err(
                path,
                &t.to_string_lossy(),
                "a link to a named entry",
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading link", path, e)),
    }
}

/// The PCI address a symlink (`virtfnN`, `physfn`, netdev `device`) points to.
pub(crate) fn link_address(path: &Path) -> Result<Option<PciAddress>> {
    match link_name(path)? {
        None => Ok(None),
        Some(n) => n
            .parse()
            .map(Some)
            .map_err(|_| parse_err(path, &n, "a link to a PCI device")),
    }
}

/// The names in directory `path`, sorted; empty when it does not exist.
pub(crate) fn list_dir(path: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("listing", path, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| io_err("listing", path, e))?;
        if let Some(n) = ent.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `value` to an existing attribute in one `write(2)`, the way
/// `echo value > file` does. Never creates a file. Errors from opening are mapped
/// here (a missing file is [`Error::Io`], never confused with an errno the kernel
/// returns from the attribute's store function); errors from the write itself go
/// through `map`, so callers can say what the errno means for that file.
pub(crate) fn write_with(
    path: &Path,
    value: &str,
    map: impl FnOnce(io::Error) -> Error,
) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io_err("opening", path, e),
            _ => write_error(path, value, e, ""),
        })?;
    f.write_all(value.as_bytes()).map_err(map)
}

/// Maps an errno from writing `value` to `path` for the cases every attribute
/// shares: `EPERM`/`EACCES`, `EINVAL`, and anything else as [`Error::Io`].
pub(crate) fn write_error(path: &Path, value: &str, e: io::Error, hint: &str) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::EROFS) => Error::PermissionDenied {
            path: path.to_path_buf(),
            source: e,
        },
        Some(libc::EINVAL) => Error::InvalidValue {
            path: path.to_path_buf(),
            value: value.trim_end().to_string(),
            hint: hint.to_string(),
        },
        _ => io_err("writing", path, e),
    }
}

/// Writes an attribute with the generic errno mapping.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_with(path, value, |e| write_error(path, value, e, ""))
}
