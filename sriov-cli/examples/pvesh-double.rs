//! A stand-in for Proxmox VE's `pvesh`, for the PCI resource mapping calls
//! `sriov-cli pve sync-mappings` and `status` make, over a `pci.cfg` on disk.
//! Not Proxmox: a test double that copies the behaviour of the PVE sources
//! named at each step (pve-manager, pve-guest-common, pve-common,
//! pve-cluster; 2025-2026 snapshots).
//!
//! ```text
//! PVE_DOUBLE_ETC=/tmp/etc-pve pvesh-double get /cluster/mapping/pci --output-format json
//! PVE_DOUBLE_ETC=... pvesh-double get /cluster/mapping/pci/<id> --output-format json
//! PVE_DOUBLE_ETC=... pvesh-double create /cluster/mapping/pci --id <id> --map <m> [--map ..] [--description <d>]
//! PVE_DOUBLE_ETC=... pvesh-double set /cluster/mapping/pci/<id> [--map <m> ..] [--description <d>] [--digest <sha1>]
//! ```
//!
//! Environment:
//! - `PVE_DOUBLE_ETC`: the `/etc/pve` stand-in; the file is
//!   `$PVE_DOUBLE_ETC/mapping/pci.cfg`, the lock
//!   `$PVE_DOUBLE_ETC/priv/lock/file-mapping_pci_cfg`.
//! - `PVE_DOUBLE_EDIT_AFTER_GET=<n>`: the first `n` reads of one mapping
//!   (`get .../<id>`) are each followed by another writer's edit of the file
//!   (a section `double-edit-<k>` added), so the digest they returned is
//!   stale: the count is kept in `$PVE_DOUBLE_ETC/double-edits`.
//!
//! Every call appends one line to `$PVE_DOUBLE_ETC/pvesh-double.log`:
//! `read ...`, `write create <id>`, `write set <id>`, `refused ...`, `edit ...`:
//! tests count the writes there, independently of what sriov-cli says.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One section of `pci.cfg`: its id and its `key value` lines in file order
/// (`map` repeats).
#[derive(Debug, Clone)]
struct Section {
    id: String,
    keys: Vec<(String, String)>,
}

/// A failed call: pvesh prints the API's error on stderr and exits non-zero
/// (pve-common `PVE/CLIHandler.pm`; the exit code 255 of a Perl `die` is
/// this double's choice: sriov-cli only relies on it being non-zero).
struct Fail(String);

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Fail(msg)) => {
            eprint!("{msg}");
            if !msg.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(255)
        }
    }
}

fn etc() -> Result<PathBuf, Fail> {
    std::env::var_os("PVE_DOUBLE_ETC")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            Fail("pvesh-double: PVE_DOUBLE_ETC is not set (the /etc/pve stand-in)".into())
        })
}

fn log(etc: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(etc.join("pvesh-double.log"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// `--key value` options, in order (`--map` repeats).
fn options(args: &[String]) -> Result<Vec<(String, String)>, Fail> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(k) = a.strip_prefix("--") else {
            return Err(Fail(format!(
                "400 unable to parse option\n{a}: not an option\n"
            )));
        };
        let Some(v) = it.next() else {
            return Err(Fail(format!(
                "400 unable to parse option\n{k}: missing value\n"
            )));
        };
        out.push((k.to_string(), v.clone()));
    }
    Ok(out)
}

fn run() -> Result<String, Fail> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let etc = etc()?;
    let (verb, path) = match (args.first(), args.get(1)) {
        (Some(v), Some(p)) => (v.as_str(), p.as_str()),
        _ => {
            return Err(Fail(
                "pvesh-double: usage: get|create|set PATH [OPTIONS]".into(),
            ))
        }
    };
    let mut opts = options(&args[2..])?;
    // pve-common `PVE/CLIFormatter.pm`: --output-format json prints one line
    // of canonical JSON; only json is implemented here.
    if let Some(pos) = opts.iter().position(|(k, _)| k == "output-format") {
        let (_, f) = opts.remove(pos);
        if f != "json" {
            return Err(Fail(format!(
                "pvesh-double: --output-format {f} is not implemented"
            )));
        }
    }
    let id = match path.strip_prefix("/cluster/mapping/pci") {
        Some("") | Some("/") => None,
        Some(rest) => Some(rest.trim_start_matches('/').to_string()),
        None => return Err(Fail(format!("no such resource '{path}'\n"))),
    };
    let cfg = etc.join("mapping/pci.cfg");
    match (verb, id) {
        ("get", None) => {
            let (raw, sections) = read(&cfg)?;
            log(&etc, "read index");
            Ok(index_json(&raw, &sections))
        }
        ("get", Some(id)) => {
            check_configid(&id)?;
            // pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`, `get`: the
            // section with the file's digest (a read takes no lock).
            let (raw, sections) = read(&cfg)?;
            let Some(s) = sections.iter().find(|s| s.id == id) else {
                log(&etc, &format!("read {id} not-found"));
                return Err(Fail(format!("mapping '{id}' not found\n")));
            };
            let out = section_json(s, Some(&digest(&raw)), false);
            log(&etc, &format!("read {id}"));
            maybe_edit(&etc, &cfg)?;
            Ok(out)
        }
        ("create", None) => create(&etc, &cfg, opts),
        ("set", Some(id)) => set(&etc, &cfg, &id, opts),
        _ => Err(Fail(format!(
            "pvesh-double: `{verb} {path}` is not implemented (only get, create and set of /cluster/mapping/pci)"
        ))),
    }
}

/// pve-common `PVE/JSONSchema.pm`, `pve-configid`: a letter, then letters,
/// digits, `-` and `_`.
fn check_configid(id: &str) -> Result<(), Fail> {
    let mut c = id.chars();
    let ok = c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && id.len() >= 2;
    if ok {
        Ok(())
    } else {
        Err(Fail(format!(
            "400 Parameter verification failed.\nid: invalid format - invalid configuration ID '{id}'\n"
        )))
    }
}

/// pve-guest-common `src/PVE/Mapping/PCI.pm`, `$map_fmt`: `node`, `path`
/// and `id` required; `id` and `subsystem-id` `XXXX:XXXX`; `iommugroup` an
/// integer; no other key.
fn check_map(m: &str) -> Result<(), Fail> {
    let bad = |why: String| {
        Fail(format!(
            "400 Parameter verification failed.\nmap: invalid format - {why}\n"
        ))
    };
    let mut keys = BTreeMap::new();
    for part in m.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("missing value in '{part}'")))?;
        if keys.insert(k.to_string(), v.to_string()).is_some() {
            return Err(bad(format!(
                "duplicate key in comma-separated list property: {k}"
            )));
        }
    }
    let hex4 = |s: &str| {
        s.split_once(':').is_some_and(|(a, b)| {
            a.len() == 4
                && b.len() == 4
                && a.chars().chain(b.chars()).all(|c| c.is_ascii_hexdigit())
        })
    };
    for (k, v) in &keys {
        match k.as_str() {
            "node" | "path" | "description" => {}
            "id" | "subsystem-id" if hex4(v) => {}
            "iommugroup" if v.parse::<i64>().is_ok() => {}
            "id" | "subsystem-id" | "iommugroup" => {
                return Err(bad(format!("{k}: value does not match the regex pattern")))
            }
            _ => return Err(bad(format!("property is not defined in schema: {k}"))),
        }
    }
    for k in ["node", "path", "id"] {
        if !keys.contains_key(k) {
            return Err(bad(format!(
                "{k}: property is missing and it is not optional"
            )));
        }
    }
    Ok(())
}

fn create(etc: &Path, cfg: &Path, opts: Vec<(String, String)>) -> Result<String, Fail> {
    let mut id = None;
    let mut keys = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "id" => id = Some(v),
            "map" => {
                check_map(&v)?;
                keys.push((k, v));
            }
            "description" | "mdev" => keys.push((k, v)),
            _ => {
                return Err(Fail(format!(
                    "400 Parameter verification failed.\n{k}: property is not defined in schema and the schema does not allow additional properties\n"
                )))
            }
        }
    }
    let Some(id) = id else {
        return Err(Fail(
            "400 Parameter verification failed.\nid: property is missing and it is not optional\n"
                .into(),
        ));
    };
    check_configid(&id)?;
    // pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`, `create`: under the
    // lock (pve-guest-common `lock_pci_config`), the file read again; an
    // existing id is refused.
    let lock = lock(etc)?;
    let (_, mut sections) = read(cfg)?;
    if sections.iter().any(|s| s.id == id) {
        log(etc, &format!("refused create {id} exists"));
        return Err(Fail(format!(
            "create hardware mapping failed: error during cfs-locked 'file-mapping_pci_cfg' operation: pci ID '{id}' already defined\n"
        )));
    }
    sections.push(Section {
        id: id.clone(),
        keys,
    });
    write(cfg, &sections)?;
    log(etc, &format!("write create {id}"));
    drop(lock);
    Ok(String::new())
}

fn set(etc: &Path, cfg: &Path, id: &str, opts: Vec<(String, String)>) -> Result<String, Fail> {
    check_configid(id)?;
    let mut digest_given = None;
    let mut maps = Vec::new();
    let mut other = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "digest" => digest_given = Some(v),
            "map" => {
                check_map(&v)?;
                maps.push(v);
            }
            "description" | "mdev" => other.push((k, v)),
            _ => {
                return Err(Fail(format!(
                    "400 Parameter verification failed.\n{k}: property is not defined in schema and the schema does not allow additional properties\n"
                )))
            }
        }
    }
    // pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`, `update`: under the
    // lock, the digest checked against the file as it is now (pve-common
    // `PVE/Tools.pm`, `assert_if_modified`), then each given key replaces
    // the section's (a given `map` replaces the whole list).
    let lock = lock(etc)?;
    let (raw, mut sections) = read(cfg)?;
    if let Some(d) = &digest_given {
        if *d != digest(&raw) {
            log(etc, &format!("refused set {id} digest"));
            return Err(Fail(
                "update hardware mapping failed: error during cfs-locked 'file-mapping_pci_cfg' operation: detected modified configuration - file changed by other user? Try again.\n".into(),
            ));
        }
    }
    let Some(s) = sections.iter_mut().find(|s| s.id == id) else {
        log(etc, &format!("refused set {id} missing"));
        return Err(Fail(format!(
            "update hardware mapping failed: error during cfs-locked 'file-mapping_pci_cfg' operation: pci ID '{id}' does not exist\n"
        )));
    };
    if !maps.is_empty() {
        s.keys.retain(|(k, _)| k != "map");
        s.keys
            .extend(maps.into_iter().map(|m| ("map".to_string(), m)));
    }
    for (k, v) in other {
        s.keys.retain(|(key, _)| *key != k);
        s.keys.push((k, v));
    }
    write(cfg, &sections)?;
    log(etc, &format!("write set {id}"));
    drop(lock);
    Ok(String::new())
}

/// `PVE_DOUBLE_EDIT_AFTER_GET`: another writer edits the file right after
/// our read (under the lock, as its own API call would).
fn maybe_edit(etc: &Path, cfg: &Path) -> Result<(), Fail> {
    let Some(n) = std::env::var("PVE_DOUBLE_EDIT_AFTER_GET")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let count_file = etc.join("double-edits");
    let done: u64 = fs::read_to_string(&count_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if done >= n {
        return Ok(());
    }
    let k = done + 1;
    let lock = lock(etc)?;
    let (raw, _) = read(cfg)?;
    let mut text = raw;
    text.push_str(&format!(
        "double-edit-{k}\n\tmap node=elsewhere,path=0000:00:1f.{},id=8086:0000\n\n",
        k % 8
    ));
    atomic_write(cfg, text.as_bytes())?;
    fs::write(&count_file, format!("{k}\n")).map_err(|e| Fail(format!("pvesh-double: {e}")))?;
    log(etc, &format!("edit double-edit-{k}"));
    drop(lock);
    Ok(())
}

/// The cluster lock: pmxcfs's `priv/lock/file-mapping_pci_cfg` (pve-cluster
/// `PVE/Cluster.pm`, `cfs_lock_file`), here an flock on a file of that name.
fn lock(etc: &Path) -> Result<nix::fcntl::Flock<File>, Fail> {
    let dir = etc.join("priv/lock");
    fs::create_dir_all(&dir).map_err(|e| Fail(format!("pvesh-double: {}: {e}", dir.display())))?;
    let p = dir.join("file-mapping_pci_cfg");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Fail(format!("pvesh-double: {}: {e}", p.display())))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Fail(format!("pvesh-double: lock {}: {e}", p.display())))
}

/// Reads and parses the file as pve-common `PVE/SectionConfig.pm`
/// `parse_config` with pve-guest-common's header (`parse_section_header`: a
/// line holding only the id): `#` lines skipped, a section runs to the first
/// empty line, its lines are `<whitespace>key value`. No file: empty.
fn read(cfg: &Path) -> Result<(String, Vec<Section>), Fail> {
    let raw = match fs::read(cfg) {
        Ok(b) => String::from_utf8(b)
            .map_err(|_| Fail(format!("pvesh-double: {}: not UTF-8", cfg.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Fail(format!("pvesh-double: {}: {e}", cfg.display()))),
    };
    let mut sections: Vec<Section> = Vec::new();
    let mut cur: Option<Section> = None;
    for line in raw.split('\n') {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if let Some(s) = cur.take() {
                sections.push(s);
            }
            continue;
        }
        match &mut cur {
            None => {
                let id = line.trim();
                if !id.contains(char::is_whitespace) {
                    cur = Some(Section {
                        id: id.to_string(),
                        keys: Vec::new(),
                    });
                }
            }
            Some(s) if line.starts_with(char::is_whitespace) => {
                let l = line.trim();
                let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                s.keys.push((k.to_string(), v.trim().to_string()));
            }
            Some(_) => {}
        }
    }
    if let Some(s) = cur {
        sections.push(s);
    }
    Ok((raw, sections))
}

/// Writes the file as pve-common `PVE/SectionConfig.pm` `write_config`
/// does: every section in order, its header (pve-guest-common
/// `format_section_header`: the id alone), the required keys (`map`), then
/// the optional ones sorted, each `\tkey value`, and an empty line.
fn write(cfg: &Path, sections: &[Section]) -> Result<(), Fail> {
    let mut out = String::new();
    for s in sections {
        out.push_str(&s.id);
        out.push('\n');
        for (k, v) in s.keys.iter().filter(|(k, _)| k == "map") {
            out.push_str(&format!("\t{k} {v}\n"));
        }
        let mut rest: Vec<&(String, String)> = s.keys.iter().filter(|(k, _)| k != "map").collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in rest {
            out.push_str(&format!("\t{k} {v}\n"));
        }
        out.push('\n');
    }
    atomic_write(cfg, out.as_bytes())
}

fn atomic_write(cfg: &Path, bytes: &[u8]) -> Result<(), Fail> {
    let dir = cfg.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Fail(format!("pvesh-double: {}: {e}", dir.display())))?;
    let tmp = dir.join(".pci.cfg.tmp");
    fs::write(&tmp, bytes).map_err(|e| Fail(format!("pvesh-double: {}: {e}", tmp.display())))?;
    fs::rename(&tmp, cfg).map_err(|e| Fail(format!("pvesh-double: {}: {e}", cfg.display())))
}

/// A section as the API returns it: its keys (`map` a list, as
/// SectionConfig parses array properties), `type` = `pci`, and the digest.
fn section_json(s: &Section, digest: Option<&str>, with_id: bool) -> String {
    let mut obj = serde_json::Map::new();
    let maps: Vec<serde_json::Value> = s
        .keys
        .iter()
        .filter(|(k, _)| k == "map")
        .map(|(_, v)| serde_json::Value::String(v.clone()))
        .collect();
    obj.insert("map".into(), serde_json::Value::Array(maps));
    for (k, v) in s.keys.iter().filter(|(k, _)| k != "map") {
        obj.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    obj.insert("type".into(), "pci".into());
    if let Some(d) = digest {
        obj.insert("digest".into(), d.into());
    }
    if with_id {
        obj.insert("id".into(), s.id.clone().into());
    }
    // Canonical (sorted keys), one line, as pvesh prints.
    let sorted: BTreeMap<String, serde_json::Value> = obj.into_iter().collect();
    let mut out = serde_json::to_string(&sorted).unwrap_or_default();
    out.push('\n');
    out
}

/// pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`, `index`: every section
/// with its `id` and the file's digest.
fn index_json(raw: &str, sections: &[Section]) -> String {
    let d = digest(raw);
    let items: Vec<serde_json::Value> = sections
        .iter()
        .filter_map(|s| serde_json::from_str(section_json(s, Some(&d), true).trim()).ok())
        .collect();
    let mut out = serde_json::to_string(&items).unwrap_or_default();
    out.push('\n');
    out
}

/// pve-common `PVE/SectionConfig.pm`, `parse_config`:
/// `Digest::SHA::sha1_hex($raw)` of the whole file.
fn digest(raw: &str) -> String {
    sha1_hex(raw.as_bytes())
}

/// SHA-1 (FIPS 180-4), hex: the double needs no crate for it.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}
