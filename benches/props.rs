//! Property functions shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! the corpus replay test (`tests/fuzz_corpus.rs`).
//!
//! Each takes arbitrary bytes and panics (through `assert!`) exactly when an
//! invariant of the parser under test is broken; a panic inside the parser
//! itself is a finding too. None of them touches the host.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

use bootcmd::grub::{self, GrubDefaults};
use bootcmd::{iommu_edits, key_kind, Cmdline, CpuVendor, Edit, KeyKind};
use netlink_vf::{MacAddr, Qos, VfConfig, VlanConfig, VlanId};
use sysfs_sriov::fixture::Host;
use sysfs_sriov::PciAddress;

/// Runs the property of fuzz target `target` (one of [`crate::TARGETS`]) on `data`.
/// Returns `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "cmdline" => cmdline(data),
        "grub" => grub(data),
        "netlink" => netlink(data),
        "config" => config(data),
        "pci" => pci(data),
        _ => return false,
    }
    true
}

/// Edit sets applied to every fuzzed command line and GRUB file: what
/// `sriov-cli enable-iommu` applies, plus one edit of each other kind.
pub fn edit_sets() -> Vec<Vec<Edit>> {
    vec![
        iommu_edits(CpuVendor::Intel),
        iommu_edits(CpuVendor::Amd),
        vec![Edit::flag("quiet")],
        vec![Edit::remove("quiet")],
        vec![Edit::ensure("console", "ttyS0,115200")],
        vec![Edit::ensure(
            "pcie_acs_override",
            "downstream,multifunction",
        )],
        vec![Edit::remove_option("intel_iommu", "off")],
    ]
}

/// Asserts that `c` shows the effect of every edit in `edits`.
fn assert_effect(c: &Cmdline, edits: &[Edit], ctx: &str) {
    for e in edits {
        match e {
            Edit::Ensure { key, value: None } => {
                assert!(c.contains(key), "{ctx}: flag {key} missing after `{e}`");
            }
            Edit::Ensure {
                key,
                value: Some(v),
            } => match key_kind(key) {
                KeyKind::OptionList => {
                    let have = c.options(key);
                    for o in v.split(',').filter(|o| !o.is_empty()) {
                        assert!(
                            have.iter().any(|h| h == o),
                            "{ctx}: option {o} of {key} not effective after `{e}` (have {have:?})"
                        );
                    }
                }
                KeyKind::Repeatable => assert!(
                    c.get_all(key)
                        .iter()
                        .any(|p| p.value().as_deref() == Some(v.as_str())),
                    "{ctx}: no {key}={v} after `{e}`"
                ),
                _ => assert_eq!(
                    c.value(key).as_deref(),
                    Some(v.as_str()),
                    "{ctx}: {key} after `{e}`"
                ),
            },
            Edit::Remove { key } => {
                assert!(!c.contains(key), "{ctx}: {key} still present after `{e}`");
            }
            Edit::RemoveOption { key, option } => assert!(
                !c.has_option(key, option),
                "{ctx}: option {option} of {key} still effective after `{e}`"
            ),
            _ => {}
        }
    }
}

/// Kernel command-line parser and editor (`bootcmd::Cmdline`):
/// * byte-exact round trip: `to_bytes(from_bytes(x)) == x`;
/// * after any successful edit, re-parsing the printed text gives the same
///   tokens (an edit never shifts token boundaries), the edit's effect is
///   visible, and applying the same edits again changes nothing;
/// * `remove` is idempotent;
/// * the `/etc/kernel/cmdline` file editor shows the same edits and is idempotent.
pub fn cmdline(data: &[u8]) {
    let c = Cmdline::from_bytes(data);
    assert_eq!(c.to_bytes(), data, "round trip");
    // Display is the lossy UTF-8 view of the same bytes.
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(c.to_string(), s, "Display of valid UTF-8");
        assert_eq!(Cmdline::parse(s), c, "parse(&str) == from_bytes");
    }
    for edits in edit_sets() {
        let mut e = c.clone();
        if e.apply(&edits).is_err() {
            continue;
        }
        let printed = e.to_bytes();
        let reparsed = Cmdline::from_bytes(&printed);
        assert_eq!(
            reparsed,
            e,
            "re-parse after {edits:?} moved token boundaries: {:?}",
            String::from_utf8_lossy(&printed)
        );
        assert_effect(&reparsed, &edits, "cmdline");
        let mut again = e.clone();
        let changed = again.apply(&edits);
        assert!(
            matches!(changed, Ok(false)),
            "second apply of {edits:?} returned {changed:?}"
        );
        assert_eq!(again.to_bytes(), printed, "second apply changed bytes");
    }
    // `/etc/kernel/cmdline` (proxmox-boot-tool, kernel-install): the same edits
    // through its file editor: the result shows them and a second edit is a no-op.
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/etc/kernel/cmdline");
        for edits in edit_sets() {
            let Ok(new) = bootcmd::kernel_cmdline::edit(path, text, &edits) else {
                continue;
            };
            assert_effect(
                &bootcmd::kernel_cmdline::parse(&new),
                &edits,
                &format!("/etc/kernel/cmdline {new:?}"),
            );
            let again = bootcmd::kernel_cmdline::edit(path, &new, &edits);
            assert!(
                again.as_deref() == Ok(new.as_str()),
                "second /etc/kernel/cmdline edit of {edits:?} not a no-op: {again:?} vs {new:?}"
            );
        }
    }
    for key in ["quiet", "iommu", "intel_iommu", "console", "root"] {
        let mut r = c.clone();
        r.remove(key);
        let once = r.to_bytes();
        assert!(!r.contains(key), "{key} present after remove");
        assert_eq!(r.remove(key), 0, "second remove of {key} removed something");
        assert_eq!(r.to_bytes(), once, "second remove of {key} changed bytes");
    }
}

/// GRUB defaults editor (`bootcmd::grub`): never panics; after a successful
/// edit the re-parsed file shows the edit's effect, the edited file still
/// tokenizes, and editing again is a no-op.
pub fn grub(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = PathBuf::from("/etc/default/grub");
    let Ok(g) = GrubDefaults::from_texts(vec![(path.clone(), text.to_string())]) else {
        return;
    };
    let _ = g.cmdline();
    let _ = g.effective(grub::LINUX_DEFAULT);
    for edits in edit_sets() {
        let Ok(new) = grub::edit_text(&text, &edits) else {
            continue;
        };
        let g2 = GrubDefaults::from_texts(vec![(path.clone(), new.clone())]);
        assert!(
            g2.is_ok(),
            "edited file no longer tokenizes after {edits:?}: {g2:?}\n{new}"
        );
        if let Ok(Ok(c)) = g2.as_ref().map(GrubDefaults::cmdline) {
            assert_effect(&c, &edits, &format!("grub {new:?}"));
        }
        let again = grub::edit_text(&new, &edits);
        assert!(
            again.as_deref() == Ok(new.as_str()),
            "second edit of {edits:?} not a no-op: {again:?} vs {new:?}"
        );
    }
}

/// Netlink link and VFINFO parsers (`netlink_vf::parse_link`,
/// `parse_vfinfo_list`): never panic on any bytes. Also a round trip through
/// our own encoder: VF configurations derived from the input, encoded as the
/// RTM_SETLINK we send, parse back (IFLA_VFINFO_LIST) to the same values.
pub fn netlink(data: &[u8]) {
    let _ = netlink_vf::parse_link(data);
    let _ = netlink_vf::parse_vfinfo_list(data);
    if data.len() >= 16 {
        let _ = netlink_vf::parse_vfinfo_list(&data[16..]);
    }

    let configs: Vec<VfConfig> = data.chunks_exact(12).take(64).map(config_from).collect();
    let msg = netlink_vf::set_vfs_request_bytes(7, &configs, 1);
    // nlmsghdr (16) + ifinfomsg (16), then attributes.
    let list = msg
        .get(32..)
        .and_then(|attrs| find_nla(attrs, 22))
        .unwrap_or_default();
    if configs.iter().all(VfConfig::is_empty) {
        return;
    }
    let parsed = netlink_vf::parse_vfinfo_list(list);
    assert!(
        parsed.is_ok(),
        "our own VF request does not parse: {parsed:?}"
    );
    let parsed = parsed.unwrap_or_default();
    let sent: Vec<&VfConfig> = configs.iter().filter(|c| !c.is_empty()).collect();
    assert_eq!(
        parsed.len(),
        sent.len(),
        "one IFLA_VF_INFO per non-empty config"
    );
    for (st, cfg) in parsed.iter().zip(sent) {
        let vf = cfg.index;
        assert_eq!(st.index, vf, "vf index");
        if cfg.mac.is_some() {
            assert_eq!(st.mac, cfg.mac, "mac of vf {vf}");
        }
        if let Some(v) = cfg.vlan {
            assert_eq!(st.vlan, v.id, "vlan of vf {vf}");
            assert_eq!(st.qos, Some(v.qos), "qos of vf {vf}");
        }
        if cfg.spoofchk.is_some() {
            assert_eq!(st.spoofchk, cfg.spoofchk, "spoofchk of vf {vf}");
        }
        if cfg.trust.is_some() {
            assert_eq!(st.trust, cfg.trust, "trust of vf {vf}");
        }
        if cfg.max_tx_rate.is_some() {
            assert_eq!(st.max_tx_rate, cfg.max_tx_rate, "max_tx_rate of vf {vf}");
        }
    }
}

fn config_from(b: &[u8]) -> VfConfig {
    let mut c = VfConfig::new(u32::from(b[0] % 64));
    let flags = b[1];
    if flags & 1 != 0 {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[2..8]);
        c = c.mac(MacAddr(m));
    }
    if flags & 2 != 0 {
        let id = u16::from_ne_bytes([b[8], b[9]]);
        if let Ok(v) = VlanId::new(id) {
            let mut vc = VlanConfig::new(v);
            if let Ok(q) = Qos::new(b[10] % 8) {
                vc = vc.qos(q);
            }
            c = c.vlan(vc);
        }
    }
    if flags & 4 != 0 {
        c = c.spoofchk(b[11] & 1 != 0);
    }
    if flags & 8 != 0 {
        c = c.trust(b[11] & 2 != 0);
    }
    if flags & 16 != 0 {
        c = c.max_tx_rate(u32::from(b[10]) * 10);
    }
    c
}

/// The payload of the first attribute of type `kind` in `b` (flags masked).
fn find_nla(mut b: &[u8], kind: u16) -> Option<&[u8]> {
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        if ty == kind {
            return Some(&b[4..len]);
        }
        let next = (len + 3) & !3;
        b = b.get(next..)?;
    }
    None
}

/// A fixture root for [`config`] (an 8-VF X710-like PF) and the path the
/// fuzzed config is written to; built on first use, removed at exit.
/// The mutex also serializes [`config`]: `sriov_cli::run` writes to the
/// process's stdout.
static CLI_ROOT: Mutex<Option<(Host, PathBuf)>> = Mutex::new(None);
static CLI_ATEXIT: Once = Once::new();

/// Removes the fixture tree of [`config`] (statics are never dropped, and
/// fuzzers leave through `exit`).
extern "C" fn drop_cli_root() {
    CLI_ROOT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
}

fn cli_root() -> Option<(Host, PathBuf)> {
    let (host, _) = crate::fixtures::sysfs_host(8).ok()?;
    // The node name `[node.<name>]` sections are matched against.
    std::fs::create_dir_all(host.root().join("etc")).ok()?;
    std::fs::write(host.root().join("etc/hostname"), "fuzz\n").ok()?;
    let cfg = host.root().join("fuzz.toml");
    Some((host, cfg))
}

/// Sends fd 1 to `/dev/null` while alive (the plan diff of a valid config
/// would flood the fuzzer's output).
struct QuietStdout(Option<OwnedFd>);

impl QuietStdout {
    fn new() -> Self {
        let saved = nix::unistd::dup(std::io::stdout()).ok();
        if let Ok(null) = File::options().write(true).open("/dev/null") {
            let _ = std::io::stdout().flush();
            let _ = nix::unistd::dup2_stdout(&null);
        }
        QuietStdout(saved)
    }
}

impl Drop for QuietStdout {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        if let Some(fd) = &self.0 {
            let _ = nix::unistd::dup2_stdout(fd);
        }
    }
}

/// `sriov-cli` config parser, through its only public entry point: the
/// input, written as the config file, goes through
/// `sriov-cli --root <fixture> setup --config FILE --dry-run` (node name `fuzz`)
/// (parse, node selection, validation, planning against a fixture PF,
/// rendering). It must never panic, and the exit code is 0, 1 or 2.
pub fn config(data: &[u8]) {
    let mut guard = CLI_ROOT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.is_none() {
        *guard = cli_root();
        CLI_ATEXIT.call_once(|| {
            // SAFETY: `drop_cli_root` is a plain `extern "C" fn()` that only
            // takes a mutex and drops a temporary directory; it is registered once.
            unsafe { libc::atexit(drop_cli_root) };
        });
    }
    let Some((host, cfg)) = guard.as_ref() else {
        return;
    };
    if std::fs::write(cfg, data).is_err() {
        return;
    }
    let args: [&OsStr; 7] = [
        "sriov-cli".as_ref(),
        "--root".as_ref(),
        host.root().as_os_str(),
        "setup".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        "--dry-run".as_ref(),
    ];
    let r = {
        let _quiet = QuietStdout::new();
        sriov_cli::run(args)
    };
    assert!(matches!(r, Ok(()) | Err(1 | 2)), "exit code {r:?}");
}

/// PCI address parsing (`sysfs_sriov::PciAddress`): whatever parses prints in
/// the canonical `DDDD:BB:DD.F` form and parses back to the same address;
/// the routing id round-trips; addresses built from parts round-trip too.
pub fn pci(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(a) = s.parse::<PciAddress>() {
            check_pci(a);
            if is_full_form(s) {
                assert_eq!(
                    s.to_ascii_lowercase(),
                    a.to_string(),
                    "full-form input prints as itself"
                );
            }
        }
    }
    if data.len() >= 7 {
        let domain = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
        match PciAddress::new(domain, data[4], data[5], data[6]) {
            Ok(a) => {
                assert!(data[5] < 32 && data[6] < 8, "accepted {a}");
                check_pci(a);
            }
            Err(_) => assert!(data[5] >= 32 || data[6] >= 8, "refused a valid address"),
        }
    }
}

/// `DDDD:BB:DD.F` with exactly those field widths (hex, any case).
fn is_full_form(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b':',
            10 => *c == b'.',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_pci(a: PciAddress) {
    let s = a.to_string();
    let back: Result<PciAddress, _> = s.parse();
    assert!(
        matches!(back, Ok(b) if b == a),
        "{s} parses back as {back:?}"
    );
    assert_eq!(
        PciAddress::from_routing_id(a.domain(), a.routing_id()),
        a,
        "routing id round trip"
    );
    if a.domain() == 0 {
        let short = &s[5..];
        assert!(
            matches!(short.parse::<PciAddress>(), Ok(b) if b == a),
            "short form {short}"
        );
    }
}
