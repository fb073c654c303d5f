//! A stand-in for Proxmox VE's `qm`, for tests: only `qm set <vmid>
//! --hostpci<N> <value>`, with the behaviour of qemu-server that sriov-cli
//! relies on. Each rule names the qemu-server source it copies.
//!
//! Environment: `QM_DOUBLE_ROOT` (default `/`): the tree holding
//! `etc/pve/qemu-server/<vmid>.conf` and `run/lock/qemu-server/`;
//! `QM_DOUBLE_LOG`: a file that gets one line per call (`<args> -> ok` or
//! `<args> -> error: ...`), so tests count writes independently of the
//! program under test.
//!
//! - The config lock: an exclusive flock on
//!   `/var/lock/qemu-server/lock-<vmid>.conf` (= `/run/lock/...`; src/PVE/QemuConfig.pm
//!   `config_file_lock`), waited for at most 10 s (pve-guest-common
//!   src/PVE/AbstractConfig.pm `lock_config`).
//! - A missing config is an error (src/PVE/API2/Qemu.pm `update_vm`: the
//!   config is loaded inside the lock).
//! - `lock: <x>` in the config refuses the change (AbstractConfig.pm `check_lock`).
//! - Only `hostpci0` to `hostpci15` exist (src/PVE/QemuServer/PCI.pm
//!   `$MAX_HOSTPCI_DEVICES`); the value has `host` (default key) or `mapping`,
//!   not both (PCI.pm `parse_hostpci`).
//! - The written main section lists `#` description lines first, then the keys
//!   sorted (src/PVE/QemuServer.pm `write_vm_config`); other sections are kept.
//!   The file is replaced by a temp file and rename (pve-common
//!   `file_set_contents`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = run(&args);
    if let Ok(log) = std::env::var("QM_DOUBLE_LOG") {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let outcome = match &res {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("error: {}", e.replace('\n', " ")),
        };
        writeln!(f, "{} -> {outcome}", args.join(" ")).unwrap();
    }
    if let Err(e) = res {
        eprintln!("{e}");
        std::process::exit(255);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [cmd, vmid, opt, value] = args else {
        return Err("qm-double: only `qm set <vmid> --hostpci<N> <value>`".into());
    };
    if cmd != "set" {
        return Err(format!("qm-double: unknown command '{cmd}'"));
    }
    let id: u32 = vmid
        .parse()
        .ok()
        .filter(|n| (100..=999_999_999).contains(n))
        .ok_or_else(|| {
            "400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID".to_string()
        })?;
    let key = opt.strip_prefix("--").unwrap_or("");
    let n: Option<u32> = key
        .strip_prefix("hostpci")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok());
    if n.is_none_or(|n| n >= 16) {
        return Err(format!(
            "400 Parameter verification failed.\n{key}: property is not defined in schema and the schema does not allow additional properties"
        ));
    }
    let has = |k: &str| {
        value
            .split(',')
            .any(|p| p.split_once('=').map(|x| x.0) == Some(k))
    };
    let host = value.split(',').next().is_some_and(|p| !p.contains('=')) || has("host");
    if host && has("mapping") {
        return Err("Cannot set both 'host' and 'mapping'.".into());
    }
    if !host && !has("mapping") {
        return Err("Either 'host' or 'mapping' must be set.".into());
    }
    let root = PathBuf::from(std::env::var("QM_DOUBLE_ROOT").unwrap_or_else(|_| "/".into()));
    let lock_dir = root.join("run/lock/qemu-server");
    std::fs::create_dir_all(&lock_dir).map_err(|e| e.to_string())?;
    let lock_path = lock_dir.join(format!("lock-{id}.conf"));
    let lock = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(|e| format!("can't open file - {e}"))?;
    let t0 = Instant::now();
    // SAFETY: flock on an fd owned by `lock`, alive for the call.
    while unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "can't lock file '{}' - got timeout",
                lock_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let conf_path = root.join(format!("etc/pve/qemu-server/{id}.conf"));
    let conf = std::fs::read_to_string(&conf_path).map_err(|_| {
        format!("Configuration file 'nodes/localhost/qemu-server/{id}.conf' does not exist")
    })?;
    let split = conf
        .lines()
        .position(|l| l.starts_with('['))
        .unwrap_or(conf.lines().count());
    let lines: Vec<&str> = conf.lines().collect();
    let mut descr = Vec::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for l in &lines[..split] {
        if l.starts_with('#') {
            descr.push(l.to_string());
        } else if let Some((k, v)) = l.split_once(':') {
            keys.insert(k.to_string(), v.trim().to_string());
        }
    }
    if let Some(l) = keys.get("lock") {
        return Err(format!("VM is locked ({l})"));
    }
    keys.insert(key.to_string(), value.clone());
    let mut out = String::new();
    for d in descr {
        out.push_str(&d);
        out.push('\n');
    }
    for (k, v) in &keys {
        out.push_str(&format!("{k}: {v}\n"));
    }
    // write_vm_config: a blank line before each section.
    if split < lines.len() {
        out.push('\n');
    }
    for l in &lines[split..] {
        out.push_str(l);
        out.push('\n');
    }
    let tmp = conf_path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, out).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &conf_path).map_err(|e| e.to_string())?;
    drop(lock);
    Ok(())
}
