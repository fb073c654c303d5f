//! Property functions shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! the corpus replay test (`tests/fuzz_corpus.rs`).
//!
//! Each takes arbitrary bytes and panics (through `assert!`) exactly when an
//! invariant of the parser under test is broken; a panic inside the parser
//! itself is a finding too. None of them touches the host.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bootcmd::grub::{self, GrubDefaults};
use bootcmd::{iommu_edits, key_kind, Cmdline, CpuVendor, Edit, KeyKind};
use netlink_vf::IpPrefix;
use netlink_vf::{MacAddr, Qos, VfConfig, VlanConfig, VlanId};
use sriov_cli::api::{self, HostState, LinkInfo, Options, PfState, Status, VfAttrs, VfState};
use sysfs_sriov::{InUse, PciAddress};

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

/// Node names the fuzzed config is parsed for: none (top-level `[[pf]]` only,
/// [`sriov_cli::api::parse_config`]), and the `[node.NAME]` sections of the
/// seeds (`node-sections.toml`, `pve1-example.toml`).
const CONFIG_NODES: &[&str] = &["", "fuzz", "pve1"];

/// The path shown in config and plan messages.
const CONFIG_PATH: &str = "fuzz.toml";

/// The fixed in-memory hosts [`config`] plans against: the same PFs, read
/// with netlink (VF attributes, links, routes known) and without (as under
/// `--root`). Built once.
pub fn config_hosts() -> &'static [HostState; 2] {
    static HOSTS: OnceLock<[HostState; 2]> = OnceLock::new();
    HOSTS.get_or_init(|| [config_host(true), config_host(false)])
}

/// PFs the corpus seeds name: `enp59s0f0` (X710, 4 VFs: one on iavf and
/// idle, one on vfio-pci, one up with an address, one without a driver),
/// `enp2s0f0` and `enp2s0f1` (X710, no VFs yet), `eth0` (82576/igb, 2 of 7 VFs), and a PF
/// with no driver bound (so no netdev; `pci = "0000:5e:00.0"`).
// The addresses below are literals of this file, not outside data.
#[allow(clippy::expect_used)]
fn config_host(netlink: bool) -> HostState {
    let addr = |s: &str| -> Option<std::net::IpAddr> { s.parse().ok() };
    let net = |s: &str| -> Option<IpPrefix> { s.parse().ok() };
    let attrs = |vlan: u16, trust: bool| {
        netlink.then(|| VfAttrs {
            mac: "02:00:00:00:00:01".parse::<MacAddr>().ok(),
            vlan: Some(match VlanId::new(vlan) {
                Ok(id) => VlanConfig::new(id),
                Err(_) => VlanConfig::none(),
            }),
            trust: Some(trust),
            spoofchk: Some(true),
            max_tx_rate: Some(0),
            ..VfAttrs::default()
        })
    };
    // The netdevs use another MAC than the PF set (02:00:00:00:00:01), so a
    // config setting that MAC plans a driver reload (busy or not).
    let link = |ifindex: u32, up: bool, addresses: Vec<IpPrefix>| {
        netlink.then(|| LinkInfo {
            ifindex,
            up,
            mtu: Some(1500),
            addresses,
            mac: "02:00:00:00:00:99".parse::<MacAddr>().ok(),
            ..LinkInfo::default()
        })
    };
    let x710_vfs = vec![
        VfState {
            driver: Some("iavf".into()),
            netdev: Some("enp59s0f0v0".into()),
            iommu_group: Some(60),
            attrs: attrs(0, false),
            link: link(20, false, Vec::new()),
            ..VfState::new(0, "0000:3b:02.0".parse().expect("a PCI address"))
        },
        VfState {
            driver: Some("vfio-pci".into()),
            iommu_group: Some(61),
            vfio_dev: Some("/dev/vfio/61".into()),
            attrs: attrs(50, false),
            in_use: vec![InUse::Passthrough {
                driver: "vfio-pci".into(),
            }],
            ..VfState::new(1, "0000:3b:02.1".parse().expect("a PCI address"))
        },
        VfState {
            driver: Some("iavf".into()),
            netdev: Some("lan2".into()),
            iommu_group: Some(62),
            attrs: attrs(100, true),
            link: link(22, true, net("10.0.0.2/24").into_iter().collect()),
            in_use: vec![
                InUse::NetdevUp {
                    netdev: "lan2".into(),
                },
                InUse::HasAddresses {
                    netdev: "lan2".into(),
                    addresses: addr("10.0.0.2").into_iter().collect(),
                },
            ],
            ..VfState::new(2, "0000:3b:02.2".parse().expect("a PCI address"))
        },
        VfState {
            iommu_group: Some(63),
            attrs: attrs(0, false),
            ..VfState::new(3, "0000:3b:02.3".parse().expect("a PCI address"))
        },
    ];
    let igb_vfs = (0..2)
        .map(|i| VfState {
            driver: Some("igbvf".into()),
            netdev: Some(format!("eth{}", i + 1)),
            attrs: attrs(0, false),
            link: link(30 + i, false, Vec::new()),
            ..VfState::new(
                i,
                format!("0000:00:10.{}", i * 2)
                    .parse()
                    .expect("a PCI address"),
            )
        })
        .collect();
    let pf = |address: &str, netdev: Option<&str>, driver: Option<&str>, total_vfs, vfs| {
        let vfs: Vec<VfState> = vfs;
        PfState {
            netdevs: netdev.map(String::from).into_iter().collect(),
            ifindex: netlink.then_some(2),
            up: netlink.then_some(true),
            carrier: netlink.then_some(true),
            driver: driver.map(String::from),
            total_vfs,
            num_vfs: u32::try_from(vfs.len()).unwrap_or(0),
            vendor_id: 0x8086,
            device_id: 0x1572,
            vfs,
            ..PfState::new(address.parse().expect("a PCI address"))
        }
    };
    let pfs = vec![
        pf("0000:00:03.0", Some("eth0"), Some("igb"), 7, igb_vfs),
        pf(
            "0000:02:00.0",
            Some("enp2s0f0"),
            Some("i40e"),
            64,
            Vec::new(),
        ),
        pf(
            "0000:02:00.1",
            Some("enp2s0f1"),
            Some("i40e"),
            64,
            Vec::new(),
        ),
        pf(
            "0000:3b:00.0",
            Some("enp59s0f0"),
            Some("i40e"),
            64,
            x710_vfs,
        ),
        pf("0000:5e:00.0", None, None, 8, Vec::new()),
    ];
    let links = [
        "lo",
        "eth0",
        "eth1",
        "eth2",
        "enp2s0f0",
        "enp2s0f1",
        "enp59s0f0",
        "enp59s0f0v0",
        "lan2",
        "vmbr0",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    HostState {
        pfs,
        links,
        netlink,
        default_routes: netlink
            .then(|| addr("10.0.0.254").map(|gw| vec![(gw, "vmbr0".to_string())]))
            .flatten(),
        notes: Vec::new(),
    }
}

/// `sriov-cli` config parser and planner, through `sriov_cli::api` (pure,
/// in memory: no files, no fixture root, no output). For the input as text
/// (lossy UTF-8) and each node of `CONFIG_NODES` (none, `fuzz`, `pve1`; the
/// named ones only when the text says `node` somewhere):
/// * parsing never panics and is deterministic (twice -> same `Debug` output,
///   for the config and for the error alike);
/// * a config that parses is planned against both [`config_hosts`], with
///   and without `--allow-recreate --force-unbind`: planning never panics and
///   is deterministic; every change is `planned` and on a PF of the host;
///   a plan without errors renders a dry-run diff with one `+attr value`
///   line per change.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(CONFIG_PATH);
    for node in CONFIG_NODES {
        // Without a `node` key anywhere the named nodes parse like "" (saves
        // two thirds of the parsing, which is most of the time per input).
        if !node.is_empty() && !text.contains("node") {
            continue;
        }
        let parse = || {
            if node.is_empty() {
                api::parse_config(&text, path)
            } else {
                api::parse_config_for_node(&text, path, node)
            }
        };
        let first = parse();
        let second = parse();
        assert_eq!(
            format!("{first:?}"),
            format!("{second:?}"),
            "parse (node {node:?}) is not deterministic"
        );
        let Ok(cfg) = first else {
            continue;
        };
        for host in config_hosts() {
            for opts in config_options() {
                check_plan(&cfg, host, opts, node);
            }
        }
    }
}

/// No flags, and `--allow-recreate --force-unbind --prune`.
fn config_options() -> [Options; 2] {
    [
        Options::default(),
        Options {
            allow_recreate: true,
            force_unbind: true,
            prune: true,
        },
    ]
}

fn check_plan(cfg: &api::Config, host: &HostState, opts: Options, node: &str) {
    let ctx = format!("node {node:?}, netlink {}, {opts:?}", host.netlink);
    let p = api::plan(cfg, host, opts);
    let again = api::plan(cfg, host, opts);
    assert_eq!(
        format!("{p:?}"),
        format!("{again:?}"),
        "plan is not deterministic ({ctx})"
    );
    for c in &p.changes {
        assert!(
            host.pfs.iter().any(|pf| pf.address == c.pf_address),
            "change on a PF the host does not have ({ctx}): {c:?}"
        );
        assert_eq!(c.status, Status::Planned, "unplanned status ({ctx}): {c:?}");
    }
    if !p.errors.is_empty() {
        return;
    }
    let diff = api::diff(&p.changes, CONFIG_PATH);
    let plus = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++ "))
        .count();
    assert_eq!(
        plus,
        p.changes.len(),
        "dry-run diff has {plus} `+` lines for {} changes ({ctx}):\n{diff}",
        p.changes.len()
    );
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
