//! The TOML configuration: parsing with exact `file:line:col` errors, node
//! selection by hostname, VF ranges, and `mac = "auto"`.
//!
//! Layout (see README.md for the full reference):
//!
//! ```toml
//! cluster = "homelab"        # seeds the "auto" MAC prefix (default "sriov-cli")
//! node_id = 1                # node byte of "auto" MACs for single-node files
//!
//! [[pf]]                     # applies on every node
//! name = "eno1"              # or pci = "0000:02:00.0"
//! num_vfs = 8
//!
//! [[pf.vf]]
//! range = "4-7"              # or index = 3, or indices = [1, 2]
//! spoofchk = true
//!
//! [node.pve1]                # only on the host whose hostname is pve1
//! id = 1
//! [[node.pve1.pf]]
//! name = "enp2s0f1"
//! num_vfs = 4
//! ```
//!
//! Several `[[pf.vf]]` entries may cover the same VF as long as they set
//! different keys (a range with shared defaults plus per-VF details); a key set
//! twice for one VF is an error naming both places.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::addr::{check_ifname, IpNet, Mac};

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
struct Src<'a> {
    text: &'a str,
    /// Byte offset of the start of every line (the first is 0).
    line_starts: Vec<usize>,
}

impl<'a> Src<'a> {
    fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Src { text, line_starts }
    }

    /// The 1-based line and column (in characters) of byte `offset`.
    fn loc(&self, offset: usize) -> Loc {
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

// ---------------------------------------------------------------- raw serde

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cluster: Option<S<String>>,
    node_id: Option<S<i64>>,
    #[serde(default)]
    pf: Vec<S<RawPf>>,
    #[serde(default)]
    node: BTreeMap<String, S<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: Option<S<i64>>,
    #[serde(default)]
    pf: Vec<S<RawPf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPf {
    name: Option<S<String>>,
    pci: Option<S<String>>,
    num_vfs: Option<S<i64>>,
    up: Option<S<bool>>,
    #[serde(default)]
    vf: Vec<S<RawVf>>,
}

macro_rules! raw_vf {
    ($($field:ident : $ty:ty),* $(,)?) => {
        #[derive(Deserialize, Default, Clone)]
        #[serde(deny_unknown_fields)]
        struct RawVf {
            index: Option<S<i64>>,
            range: Option<S<String>>,
            indices: Option<S<Vec<i64>>>,
            $($field: Option<S<$ty>>,)*
        }

        impl RawVf {
            /// Folds `other` into `self`; a key both set is reported.
            fn merge(&mut self, other: &RawVf, src: &Src<'_>, index: u32, diags: &mut Vec<Diag>) {
                $(
                    if let Some(v) = &other.$field {
                        if let Some(old) = &self.$field {
                            diags.push(Diag {
                                loc: Some(src.loc(v.span().start)),
                                msg: format!(
                                    "VF {index}: `{}` is already set at {} (each key may be set once per VF)",
                                    stringify!($field),
                                    src.loc(old.span().start)
                                ),
                            });
                        } else {
                            self.$field = Some(v.clone());
                        }
                    }
                )*
            }
        }
    };
}

raw_vf! {
    mac: String,
    vlan: i64,
    qos: i64,
    vlan_proto: String,
    trust: bool,
    spoofchk: bool,
    link_state: String,
    min_tx_rate: i64,
    max_tx_rate: i64,
    query_rss: bool,
    name: String,
    up: bool,
    promisc: bool,
    mtu: i64,
    addresses: Vec<S<String>>,
    gateway: String,
    driver: String,
    lxc: i64,
    vm: String,
    mapping: String,
    description: String,
}

// ---------------------------------------------------------------- resolved

/// How a PF is named in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfKey {
    /// By netdev name (`name = "eno1"`).
    Name(String),
    /// By PCI address (`pci = "0000:02:00.0"`), as written.
    Pci(String),
}

impl fmt::Display for PfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfKey::Name(n) => f.write_str(n),
            PfKey::Pci(p) => f.write_str(p),
        }
    }
}

/// 802.1Q or 802.1ad VLAN tagging, and the VF link state: netlink-vf's types
/// (same `Display`, `FromStr` and serde strings: `802.1Q`/`802.1ad`,
/// `auto`/`enable`/`disable`).
pub use netlink_vf::{LinkState, VlanProto};

/// Which driver a VF should be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverSpec {
    /// `vfio-pci`, for passthrough to a VM.
    VfioPci,
    /// `default`: the VF's own network driver (iavf, igbvf, ...), whatever the
    /// kernel matches.
    Default,
    /// Any other driver, by name.
    Named(String),
}

impl fmt::Display for DriverSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverSpec::VfioPci => f.write_str("vfio-pci"),
            DriverSpec::Default => f.write_str("default"),
            DriverSpec::Named(n) => f.write_str(n),
        }
    }
}

/// The wanted VLAN setting of a VF (one kernel attribute carries all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VlanSpec {
    /// 0 means untagged (no VLAN filter: a trunk).
    pub vlan: u16,
    /// 802.1p priority, 0..=7.
    pub qos: u8,
    /// Tag protocol.
    pub proto: VlanProto,
}

/// The desired settings of one VF; `None` means "leave as it is".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VfSpec {
    /// VF number on its PF.
    pub index: u32,
    /// Where the (first) `[[pf.vf]]` entry covering this VF starts.
    pub loc: Option<Loc>,
    /// Where `name` is set.
    pub name_loc: Option<Loc>,
    /// Where `driver` is set.
    pub driver_loc: Option<Loc>,
    /// Where each of `addresses` is written (same order).
    pub address_locs: Vec<Option<Loc>>,
    /// Where `gateway` is set.
    pub gateway_loc: Option<Loc>,
    /// MAC address; `mac_auto` says it was computed.
    pub mac: Option<Mac>,
    /// Whether `mac = "auto"` produced `mac`.
    pub mac_auto: bool,
    /// VLAN, QoS and protocol.
    pub vlan: Option<VlanSpec>,
    /// Trust (needed for promiscuous trunks).
    pub trust: Option<bool>,
    /// MAC/VLAN spoof checking.
    pub spoofchk: Option<bool>,
    /// Administrative link state.
    pub link_state: Option<LinkState>,
    /// Minimum TX rate in Mbit/s.
    pub min_tx_rate: Option<u32>,
    /// Maximum TX rate in Mbit/s (0 = unlimited).
    pub max_tx_rate: Option<u32>,
    /// RSS query permission.
    pub query_rss: Option<bool>,
    /// VF netdev name.
    pub name: Option<String>,
    /// Bring the VF netdev up (or down).
    pub up: Option<bool>,
    /// Promiscuous mode on the VF netdev.
    pub promisc: Option<bool>,
    /// MTU of the VF netdev.
    pub mtu: Option<u32>,
    /// Addresses to add on the VF netdev (for an `lxc` VF: inside the container).
    pub addresses: Vec<IpNet>,
    /// Default gateway through this VF.
    pub gateway: Option<IpAddr>,
    /// Driver binding.
    pub driver: Option<DriverSpec>,
    /// LXC container id this VF is for (`generate lxc`).
    pub lxc: Option<u32>,
    /// VM name this VF is for (`generate pve-mapping`, `hostpci`).
    pub vm: Option<String>,
    /// Resource mapping name (default `<vm>-v<vlan>`).
    pub mapping: Option<String>,
    /// Free text, used as the mapping description.
    pub description: Option<String>,
}

impl VfSpec {
    /// A trunk: untagged and promiscuous, or untagged and handed to a VM.
    pub fn is_trunk(&self) -> bool {
        let untagged = self.vlan.is_none_or(|v| v.vlan == 0);
        untagged && (self.promisc == Some(true) || self.driver == Some(DriverSpec::VfioPci))
    }
}

/// The desired state of one PF.
#[derive(Debug, Clone, PartialEq)]
pub struct PfSpec {
    /// How the config names it.
    pub key: PfKey,
    /// Where the `[[pf]]` table starts.
    pub loc: Option<Loc>,
    /// Where `name` or `pci` is set.
    pub key_loc: Option<Loc>,
    /// Where `num_vfs` is set.
    pub num_vfs_loc: Option<Loc>,
    /// Wanted VF count.
    pub num_vfs: u32,
    /// Wanted PF link state (`up = true`: bring the PF up before creating
    /// VFs, as igb/ixgbe VFs need); `None` leaves it alone.
    pub up: Option<bool>,
    /// Where `up` is set.
    pub up_loc: Option<Loc>,
    /// Per-VF settings, sorted by index, one per index.
    pub vfs: Vec<VfSpec>,
}

/// A loaded config, already narrowed to this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Path shown in messages.
    pub path: PathBuf,
    /// The `[node.NAME]` section that was selected, if any.
    pub node: Option<String>,
    /// Node id (the `yy` byte of auto MACs).
    pub node_id: Option<u8>,
    /// Cluster name (seeds auto MACs).
    pub cluster: String,
    /// PFs to configure, in file order (common ones first).
    pub pfs: Vec<PfSpec>,
}

/// Where the config lives on the target system (under `--root`).
pub const DEFAULT_PATH: &str = "/etc/sriov-cli/sriov.toml";

/// Default cluster seed when the file names none.
pub const DEFAULT_CLUSTER: &str = "sriov-cli";

/// Reads and resolves a config file for the node `hostname`.
///
/// # Errors
/// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Invalid`]
/// listing every problem with its line and column.
pub fn load(path: &Path, shown: &Path, hostname: &str) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.to_path_buf(),
        source,
    })?;
    parse(&text, shown, hostname)
}

/// Parses config text for the node `hostname`.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem with its line and column.
pub fn parse(text: &str, path: &Path, hostname: &str) -> Result<Config, ConfigError> {
    let invalid = |diags| ConfigError::Invalid {
        path: path.to_path_buf(),
        diags,
    };
    let src = Src::new(text);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let loc = e.span().map(|s| src.loc(s.start));
        let msg = e.message().trim_end().replace('\n', " ");
        invalid(vec![Diag { loc, msg }])
    })?;
    let mut diags = Vec::new();

    let cluster = raw
        .cluster
        .as_ref()
        .map_or_else(|| DEFAULT_CLUSTER.to_string(), |c| c.get_ref().clone());
    let mut node_id = None;
    if let Some(id) = &raw.node_id {
        node_id = check_node_id(id, &src, &mut diags);
    }

    let mut raw_pfs: Vec<&S<RawPf>> = raw.pf.iter().collect();
    let mut node = None;
    if let Some(n) = raw.node.get(hostname) {
        node = Some(hostname.to_string());
        if let Some(id) = &n.get_ref().id {
            node_id = check_node_id(id, &src, &mut diags);
        }
        raw_pfs.extend(n.get_ref().pf.iter());
    } else if !raw.node.is_empty() && raw.pf.is_empty() {
        let known: Vec<&str> = raw.node.keys().map(String::as_str).collect();
        diags.push(Diag {
            loc: None,
            msg: format!(
                "no [node.{hostname}] section for this host (sections: {}); pass --node NAME to pick one",
                known.join(", ")
            ),
        });
    }

    let mut pfs = Vec::new();
    for rp in raw_pfs {
        if let Some(pf) = resolve_pf(rp, &src, &cluster, node_id, &mut diags) {
            pfs.push(pf);
        }
    }
    check_cross_pf(&pfs, &mut diags);
    if diags.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            node,
            node_id,
            cluster,
            pfs,
        })
    } else {
        diags.sort_by_key(|d| d.loc);
        Err(invalid(diags))
    }
}

fn check_node_id(id: &S<i64>, src: &Src<'_>, diags: &mut Vec<Diag>) -> Option<u8> {
    match u8::try_from(*id.get_ref()) {
        Ok(v) => Some(v),
        Err(_) => {
            diags.push(Diag {
                loc: Some(src.loc(id.span().start)),
                msg: format!("node id {} out of range 0-255", id.get_ref()),
            });
            None
        }
    }
}

/// Parses `"0-3,8,10-11"` into indices.
fn parse_range(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| format!("range `{s}`: `{part}` is not N or N-M"))?;
        let b: u32 = b
            .parse()
            .map_err(|_| format!("range `{s}`: `{part}` is not N or N-M"))?;
        if b < a {
            return Err(format!("range `{s}`: `{part}` runs backwards"));
        }
        if b - a > 65535 {
            return Err(format!("range `{s}` is too large"));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

fn resolve_pf(
    rp: &S<RawPf>,
    src: &Src<'_>,
    cluster: &str,
    node_id: Option<u8>,
    diags: &mut Vec<Diag>,
) -> Option<PfSpec> {
    let loc = Some(src.loc(rp.span().start));
    let p = rp.get_ref();
    let d0 = diags.len();
    let key_loc = p
        .name
        .as_ref()
        .map(|n| n.span().start)
        .or(p.pci.as_ref().map(|a| a.span().start))
        .map(|o| src.loc(o));
    let num_vfs_loc = p.num_vfs.as_ref().map(|n| src.loc(n.span().start));
    let key = match (&p.name, &p.pci) {
        (Some(n), None) => {
            if let Err(e) = check_ifname(n.get_ref()) {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: format!("PF name: {e}"),
                });
            }
            PfKey::Name(n.get_ref().clone())
        }
        (None, Some(a)) => {
            if !is_pci_address(a.get_ref()) {
                diags.push(Diag {
                    loc: Some(src.loc(a.span().start)),
                    msg: format!(
                        "`{}` is not a PCI address (want DDDD:BB:DD.F like 0000:02:00.0)",
                        a.get_ref()
                    ),
                });
            }
            PfKey::Pci(a.get_ref().clone())
        }
        (Some(_), Some(a)) => {
            diags.push(Diag {
                loc: Some(src.loc(a.span().start)),
                msg: "set either `name` or `pci` for a PF, not both".into(),
            });
            return None;
        }
        (None, None) => {
            diags.push(Diag {
                loc,
                msg: "[[pf]] needs `name = \"<netdev>\"` or `pci = \"0000:02:00.0\"`".into(),
            });
            return None;
        }
    };
    let num_vfs = match &p.num_vfs {
        None => {
            diags.push(Diag {
                loc,
                msg: format!("PF {key}: `num_vfs` is required"),
            });
            return None;
        }
        Some(n) => match u32::try_from(*n.get_ref()).ok().filter(|v| *v <= 65535) {
            Some(v) => v,
            None => {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: format!("num_vfs {} out of range 0-65535", n.get_ref()),
                });
                return None;
            }
        },
    };

    // Expand selectors, merge entries per index.
    let mut merged: BTreeMap<u32, (RawVf, usize)> = BTreeMap::new();
    for entry in &p.vf {
        let v = entry.get_ref();
        let eloc = src.loc(entry.span().start);
        let sel = [v.index.is_some(), v.range.is_some(), v.indices.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let idx: Vec<u32> = if sel != 1 {
            diags.push(Diag {
                loc: Some(eloc),
                msg: "[[pf.vf]] needs exactly one of `index`, `range` or `indices`".into(),
            });
            continue;
        } else if let Some(i) = &v.index {
            match u32::try_from(*i.get_ref()) {
                Ok(i) => vec![i],
                Err(_) => {
                    diags.push(Diag {
                        loc: Some(src.loc(i.span().start)),
                        msg: format!("VF index {} is negative", i.get_ref()),
                    });
                    continue;
                }
            }
        } else if let Some(r) = &v.range {
            match parse_range(r.get_ref()) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(Diag {
                        loc: Some(src.loc(r.span().start)),
                        msg: e,
                    });
                    continue;
                }
            }
        } else if let Some(list) = &v.indices {
            match list
                .get_ref()
                .iter()
                .map(|i| u32::try_from(*i))
                .collect::<Result<Vec<u32>, _>>()
            {
                Ok(v) => v,
                Err(_) => {
                    diags.push(Diag {
                        loc: Some(src.loc(list.span().start)),
                        msg: "VF indices must not be negative".into(),
                    });
                    continue;
                }
            }
        } else {
            continue;
        };
        let selector_loc = v
            .index
            .as_ref()
            .map(|s| s.span().start)
            .or(v.range.as_ref().map(|s| s.span().start))
            .or(v.indices.as_ref().map(|s| s.span().start))
            .unwrap_or(entry.span().start);
        let many = idx.len() > 1;
        for field in [
            (
                "mac",
                v.mac
                    .as_ref()
                    .filter(|m| m.get_ref() != "auto")
                    .map(|m| m.span().start),
            ),
            ("addresses", v.addresses.as_ref().map(|a| a.span().start)),
            ("gateway", v.gateway.as_ref().map(|a| a.span().start)),
        ] {
            if let (true, Some(off)) = (many, field.1) {
                diags.push(Diag {
                    loc: Some(src.loc(off)),
                    msg: format!(
                        "`{}` cannot be shared by several VFs; set it in a per-VF entry",
                        field.0
                    ),
                });
            }
        }
        if let (true, Some(n)) = (many, &v.name) {
            if !n.get_ref().contains("{index}") {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: "a `name` shared by several VFs must contain `{index}`".into(),
                });
            }
        }
        for i in idx {
            if i >= num_vfs {
                diags.push(Diag {
                    loc: Some(src.loc(selector_loc)),
                    msg: format!("VF index {i} is not below num_vfs = {num_vfs} of PF {key}"),
                });
                continue;
            }
            match merged.get_mut(&i) {
                Some((acc, _)) => acc.merge(v, src, i, diags),
                None => {
                    let mut acc = RawVf::default();
                    acc.merge(v, src, i, diags);
                    merged.insert(i, (acc, entry.span().start));
                }
            }
        }
    }

    let mut vfs = Vec::new();
    for (index, (raw, start)) in merged {
        if let Some(vf) = resolve_vf(&key, index, &raw, start, src, cluster, node_id, diags) {
            vfs.push(vf);
        }
    }
    if diags.len() > d0 {
        return None;
    }
    Some(PfSpec {
        key,
        loc,
        key_loc,
        num_vfs_loc,
        num_vfs,
        up: p.up.as_ref().map(|u| *u.get_ref()),
        up_loc: p.up.as_ref().map(|u| src.loc(u.span().start)),
        vfs,
    })
}

fn is_pci_address(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom_ok, rest) = match parts.as_slice() {
        [d, b, df] => (hex(d, 4), (*b, *df)),
        [b, df] => (true, (*b, *df)),
        _ => return false,
    };
    let Some((dev, func)) = rest.1.split_once('.') else {
        return false;
    };
    dom_ok
        && hex(rest.0, 2)
        && hex(dev, 2)
        && u8::from_str_radix(dev, 16).is_ok_and(|d| d < 32)
        && func.len() == 1
        && func.chars().all(|c| ('0'..='7').contains(&c))
}

/// The guide's MAC scheme: `xx:xx:xx:yy:VV:VV`, `xx` from a hash of the cluster
/// name and PF, locally administered and unicast; `yy` the node id; the VLAN
/// written so that it reads as decimal (VLAN 50 -> `00:50`, 1234 -> `12:34`).
pub fn auto_mac(cluster: &str, pf: &str, node_id: u8, vlan: u16) -> Mac {
    // FNV-1a 64: stable across versions and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cluster.bytes().chain([0u8]).chain(pf.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    let hi = vlan / 100;
    let lo = vlan % 100;
    let bcd = |n: u16| -> u8 {
        let n = u8::try_from(n).unwrap_or(0);
        ((n / 10) << 4) | (n % 10)
    };
    Mac([(b[0] & 0xfc) | 0x02, b[1], b[2], node_id, bcd(hi), bcd(lo)])
}

#[allow(clippy::too_many_arguments)]
fn resolve_vf(
    key: &PfKey,
    index: u32,
    v: &RawVf,
    start: usize,
    src: &Src<'_>,
    cluster: &str,
    node_id: Option<u8>,
    diags: &mut Vec<Diag>,
) -> Option<VfSpec> {
    let d0 = diags.len();
    let at = |off: usize| Some(src.loc(off));
    let mut err = |off: usize, msg: String| diags.push(Diag { loc: at(off), msg });
    let mut out = VfSpec {
        index,
        loc: at(start),
        ..VfSpec::default()
    };
    let num = |x: &Option<S<i64>>,
               lo: i64,
               hi: i64,
               what: &str,
               err: &mut dyn FnMut(usize, String)|
     -> Option<i64> {
        let x = x.as_ref()?;
        let n = *x.get_ref();
        if n < lo || n > hi {
            err(
                x.span().start,
                format!("VF {index}: {what} {n} out of range {lo}-{hi}"),
            );
            None
        } else {
            Some(n)
        }
    };

    let vlan = num(&v.vlan, 0, 4094, "vlan", &mut err).map(|n| u16::try_from(n).unwrap_or(0));
    let qos = num(&v.qos, 0, 7, "qos", &mut err).map(|n| u8::try_from(n).unwrap_or(0));
    let proto = match &v.vlan_proto {
        None => None,
        Some(p) => match p.get_ref().to_ascii_lowercase().as_str() {
            "802.1q" => Some(VlanProto::Dot1Q),
            "802.1ad" => Some(VlanProto::Dot1Ad),
            other => {
                err(
                    p.span().start,
                    format!("VF {index}: vlan_proto `{other}` is not \"802.1Q\" or \"802.1ad\""),
                );
                None
            }
        },
    };
    if v.vlan.as_ref().is_none_or(|x| *x.get_ref() == 0) {
        if let Some(q) = v.qos.as_ref().filter(|q| *q.get_ref() != 0) {
            err(
                q.span().start,
                format!("VF {index}: qos needs a vlan (1-4094)"),
            );
        }
        if let Some(p) = v
            .vlan_proto
            .as_ref()
            .filter(|_| proto == Some(VlanProto::Dot1Ad))
        {
            err(
                p.span().start,
                format!("VF {index}: vlan_proto 802.1ad needs a vlan (1-4094)"),
            );
        }
    }
    if let Some(vl) = vlan {
        out.vlan = Some(VlanSpec {
            vlan: vl,
            qos: qos.unwrap_or(0),
            proto: proto.unwrap_or(VlanProto::Dot1Q),
        });
    }

    if let Some(m) = &v.mac {
        if m.get_ref() == "auto" {
            match node_id {
                Some(id) => {
                    out.mac = Some(auto_mac(cluster, &key.to_string(), id, vlan.unwrap_or(0)));
                    out.mac_auto = true;
                }
                None => err(
                    m.span().start,
                    format!("VF {index}: mac = \"auto\" needs a node id (`node_id = N` at the top, or `id = N` in [node.<hostname>])"),
                ),
            }
        } else {
            match m.get_ref().parse::<Mac>() {
                Ok(mac) if mac.is_multicast() => err(
                    m.span().start,
                    format!("VF {index}: MAC {mac} is a multicast address (first byte odd); a VF needs a unicast MAC"),
                ),
                Ok(mac) if mac.is_zero() => err(m.span().start, format!("VF {index}: MAC 00:00:00:00:00:00 is not an address")),
                Ok(mac) => out.mac = Some(mac),
                Err(e) => err(m.span().start, format!("VF {index}: {e}")),
            }
        }
    }
    out.trust = v.trust.as_ref().map(|b| *b.get_ref());
    out.spoofchk = v.spoofchk.as_ref().map(|b| *b.get_ref());
    out.query_rss = v.query_rss.as_ref().map(|b| *b.get_ref());
    out.up = v.up.as_ref().map(|b| *b.get_ref());
    out.promisc = v.promisc.as_ref().map(|b| *b.get_ref());
    if let Some(ls) = &v.link_state {
        out.link_state = match ls.get_ref().as_str() {
            "auto" => Some(LinkState::Auto),
            "enable" => Some(LinkState::Enable),
            "disable" => Some(LinkState::Disable),
            other => {
                err(ls.span().start, format!("VF {index}: link_state `{other}` is not \"auto\", \"enable\" or \"disable\""));
                None
            }
        };
    }
    let rate_max = i64::from(u32::MAX);
    out.min_tx_rate = num(&v.min_tx_rate, 0, rate_max, "min_tx_rate", &mut err)
        .map(|n| u32::try_from(n).unwrap_or(0));
    out.max_tx_rate = num(&v.max_tx_rate, 0, rate_max, "max_tx_rate", &mut err)
        .map(|n| u32::try_from(n).unwrap_or(0));
    if let (Some(lo), Some(hi), Some(s)) = (out.min_tx_rate, out.max_tx_rate, &v.min_tx_rate) {
        if hi != 0 && lo > hi {
            err(
                s.span().start,
                format!("VF {index}: min_tx_rate {lo} is above max_tx_rate {hi}"),
            );
        }
    }
    out.mtu = num(&v.mtu, 68, 65535, "mtu", &mut err).map(|n| u32::try_from(n).unwrap_or(0));
    if let Some(n) = &v.name {
        let name = n.get_ref().replace("{index}", &index.to_string());
        match check_ifname(&name) {
            Ok(()) => {
                out.name = Some(name);
                out.name_loc = at(n.span().start);
            }
            Err(e) => err(n.span().start, format!("VF {index}: {e}")),
        }
    }
    if let Some(list) = &v.addresses {
        for a in list.get_ref() {
            match a.get_ref().parse::<IpNet>() {
                Ok(n) => {
                    if out.addresses.contains(&n) {
                        err(
                            a.span().start,
                            format!("VF {index}: address {n} listed twice"),
                        );
                    } else {
                        out.addresses.push(n);
                        out.address_locs.push(at(a.span().start));
                    }
                }
                Err(e) => err(a.span().start, format!("VF {index}: {e}")),
            }
        }
    }
    if let Some(g) = &v.gateway {
        match g.get_ref().parse::<IpAddr>() {
            Ok(ip) => {
                if let Some(i) = out.addresses.iter().position(|a| a.addr == ip) {
                    let own = out.address_locs.get(i).copied().flatten();
                    err(
                        g.span().start,
                        format!(
                            "VF {index}: gateway {ip} is this VF's own address{} (the gateway is another host on the subnet, e.g. the router)",
                            own.map_or_else(String::new, |l| format!(" (at {l})"))
                        ),
                    );
                } else if !out.addresses.iter().any(|a| a.contains(&ip)) {
                    err(
                        g.span().start,
                        format!(
                            "VF {index}: gateway {ip} is not in the subnet of any of its addresses"
                        ),
                    );
                } else {
                    out.gateway = Some(ip);
                    out.gateway_loc = at(g.span().start);
                }
            }
            Err(_) => err(
                g.span().start,
                format!("VF {index}: gateway `{}` is not an IP address", g.get_ref()),
            ),
        }
    }
    if let Some(d) = &v.driver {
        out.driver_loc = at(d.span().start);
        let name = d.get_ref();
        out.driver = match name.as_str() {
            "vfio-pci" => Some(DriverSpec::VfioPci),
            "default" => Some(DriverSpec::Default),
            n if !n.is_empty()
                && n.len() < 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Some(DriverSpec::Named(n.to_string()))
            }
            n => {
                err(
                    d.span().start,
                    format!("VF {index}: `{n}` is not a driver name"),
                );
                None
            }
        };
    }
    if out.driver == Some(DriverSpec::VfioPci) {
        let netdev_keys: [(&str, Option<usize>); 7] = [
            ("name", v.name.as_ref().map(|s| s.span().start)),
            ("up", v.up.as_ref().map(|s| s.span().start)),
            ("promisc", v.promisc.as_ref().map(|s| s.span().start)),
            ("mtu", v.mtu.as_ref().map(|s| s.span().start)),
            ("addresses", v.addresses.as_ref().map(|s| s.span().start)),
            ("gateway", v.gateway.as_ref().map(|s| s.span().start)),
            ("lxc", v.lxc.as_ref().map(|s| s.span().start)),
        ];
        for (k, off) in netdev_keys {
            if let Some(off) = off {
                err(off, format!("VF {index}: `{k}` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host"));
            }
        }
    }
    if let Some(c) = &v.lxc {
        match u32::try_from(*c.get_ref()).ok().filter(|c| *c >= 100) {
            Some(c) => out.lxc = Some(c),
            None => err(
                c.span().start,
                format!(
                    "VF {index}: lxc = {} is not a container id (100 or more)",
                    c.get_ref()
                ),
            ),
        }
        if out.name.is_none() {
            err(
                c.span().start,
                format!("VF {index}: `lxc` needs `name` (the link the container takes)"),
            );
        }
    }
    for (what, s) in [("vm", &v.vm), ("mapping", &v.mapping)] {
        if let Some(s) = s {
            let t = s.get_ref();
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                err(
                    s.span().start,
                    format!(
                        "VF {index}: {what} `{t}` may only hold letters, digits, `-`, `_` and `.`"
                    ),
                );
            }
        }
    }
    out.vm = v.vm.as_ref().map(|s| s.get_ref().clone());
    out.mapping = v.mapping.as_ref().map(|s| s.get_ref().clone());
    out.description = v.description.as_ref().map(|s| s.get_ref().clone());
    if diags.len() > d0 {
        None
    } else {
        Some(out)
    }
}

/// Rules across PFs: one PF listed twice, VF names used twice, MACs used twice,
/// several default gateways of one family.
fn check_cross_pf(pfs: &[PfSpec], diags: &mut Vec<Diag>) {
    for (i, a) in pfs.iter().enumerate() {
        if let Some(b) = pfs.iter().take(i).find(|b| b.key == a.key) {
            diags.push(Diag {
                loc: a.loc,
                msg: format!(
                    "PF {} is already configured at {}",
                    a.key,
                    b.loc.map_or_else(String::new, |l| l.to_string())
                ),
            });
        }
    }
    let mut names: BTreeMap<&str, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut macs: BTreeMap<Mac, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut gw: BTreeMap<bool, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut addrs: BTreeMap<IpAddr, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    for pf in pfs {
        for vf in &pf.vfs {
            for (i, a) in vf.addresses.iter().enumerate() {
                let loc = vf.address_locs.get(i).copied().flatten().or(vf.loc);
                if let Some((k, j, l)) = addrs.get(&a.addr) {
                    diags.push(Diag {
                        loc,
                        msg: format!(
                            "VF {} of {}: address {} is already used by VF {j} of {k}{}; an address belongs on one interface",
                            vf.index,
                            pf.key,
                            a.addr,
                            at(*l)
                        ),
                    });
                } else {
                    addrs.insert(a.addr, (&pf.key, vf.index, loc));
                }
            }
            if let Some(n) = &vf.name {
                if let Some((k, i, l)) = names.get(n.as_str()) {
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: name `{n}` is already used by VF {i} of {k}{}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    names.insert(n, (&pf.key, vf.index, vf.loc));
                }
            }
            if let Some(m) = vf.mac {
                if let Some((k, i, l)) = macs.get(&m) {
                    let hint = if vf.mac_auto {
                        " (auto MACs differ only by node and VLAN: set `mac` explicitly for one of them)"
                    } else {
                        ""
                    };
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: MAC {m} is already used by VF {i} of {k}{}{hint}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    macs.insert(m, (&pf.key, vf.index, vf.loc));
                }
            }
            if let Some(g) = vf.gateway.filter(|_| vf.lxc.is_none()) {
                if let Some((k, i, l)) = gw.get(&g.is_ipv4()) {
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: a default gateway is already set on VF {i} of {k}{}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    gw.insert(g.is_ipv4(), (&pf.key, vf.index, vf.loc));
                }
            }
        }
    }
}

fn at(l: Option<Loc>) -> String {
    l.map_or_else(String::new, |l| format!(" (at {l})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn errs(text: &str) -> String {
        match parse(text, Path::new("s.toml"), "pve1") {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn ok(text: &str) -> Config {
        parse(text, Path::new("s.toml"), "pve1").unwrap()
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\nvlna = 5\n");
        assert!(e.starts_with("s.toml:4:1: unknown field `vlna`"), "{e}");
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 0\n  colour = 1\n");
        assert!(e.starts_with("s.toml:6:3: unknown field `colour`"), "{e}");
    }

    #[test]
    fn wrong_type_has_line_and_column() {
        let e =
            errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 0\ntrust = \"yes\"\n");
        assert!(
            e.starts_with("s.toml:6:9: invalid type: string \"yes\", expected a boolean"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = errs("[[pf]]\nname = eno1\n");
        assert!(e.starts_with("s.toml:2:8: "), "{e}");
    }

    #[test]
    fn value_errors_point_at_the_value() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nvlan = 4095\nqos = 9\nmac = \"03:00:00:00:00:01\"\n");
        assert_eq!(
            e,
            "s.toml:6:8: VF 1: vlan 4095 out of range 0-4094\n\
             s.toml:7:7: VF 1: qos 9 out of range 0-7\n\
             s.toml:8:7: VF 1: MAC 03:00:00:00:00:01 is a multicast address (first byte odd); a VF needs a unicast MAC"
        );
    }

    #[test]
    fn index_must_be_below_num_vfs() {
        let e = errs(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nrange = \"2-5\"\nspoofchk = true\n",
        );
        assert_eq!(
            e,
            "s.toml:5:9: VF index 4 is not below num_vfs = 4 of PF eno1\n\
             s.toml:5:9: VF index 5 is not below num_vfs = 4 of PF eno1"
        );
    }

    #[test]
    fn vfio_forbids_netdev_keys() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\ndriver = \"vfio-pci\"\nname = \"x\"\nup = true\n");
        assert_eq!(
            e,
            "s.toml:7:8: VF 1: `name` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host\n\
             s.toml:8:6: VF 1: `up` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host"
        );
    }

    #[test]
    fn ranges_merge_and_conflicts_are_named() {
        let c = ok("node_id = 2\n[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nrange = \"0-3\"\nspoofchk = false\nname = \"eno1vf{index}\"\n[[pf.vf]]\nindex = 2\nvlan = 50\n");
        assert_eq!(c.pfs[0].vfs.len(), 4);
        assert_eq!(c.pfs[0].vfs[2].vlan.unwrap().vlan, 50);
        assert_eq!(c.pfs[0].vfs[2].name.as_deref(), Some("eno1vf2"));
        assert_eq!(c.pfs[0].vfs[3].spoofchk, Some(false));
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindices = [0, 1]\nvlan = 5\n[[pf.vf]]\nindex = 1\nvlan = 6\n");
        assert_eq!(
            e,
            "s.toml:9:8: VF 1: `vlan` is already set at 6:8 (each key may be set once per VF)"
        );
    }

    #[test]
    fn shared_name_needs_placeholder() {
        let e = errs(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nrange = \"0-1\"\nname = \"fixed\"\n",
        );
        assert_eq!(
            e,
            "s.toml:6:8: a `name` shared by several VFs must contain `{index}`"
        );
    }

    #[test]
    fn auto_mac_follows_the_guide() {
        let m = auto_mac("homelab", "eno1", 1, 50);
        let s = m.to_string();
        assert!(s.ends_with(":01:00:50"), "{s}");
        assert_eq!(m.0[0] & 0x03, 0x02, "locally administered unicast");
        assert!(auto_mac("homelab", "eno1", 7, 1234)
            .to_string()
            .ends_with(":07:12:34"));
        assert!(auto_mac("homelab", "eno1", 7, 4094)
            .to_string()
            .ends_with(":07:40:94"));
        assert_eq!(auto_mac("homelab", "eno1", 1, 50), m, "deterministic");
        assert_ne!(auto_mac("other", "eno1", 1, 50).0[..3], m.0[..3]);
    }

    #[test]
    fn auto_mac_needs_node_id_and_collisions_are_errors() {
        let e =
            errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nmac = \"auto\"\n");
        assert!(
            e.starts_with("s.toml:6:7: VF 1: mac = \"auto\" needs a node id"),
            "{e}"
        );
        let e = errs("node_id = 1\n[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nrange = \"1-2\"\nmac = \"auto\"\nvlan = 50\n");
        assert!(e.starts_with("s.toml:5:1: VF 2 of eno1: MAC "), "{e}");
        assert!(e.contains("already used by VF 1 of eno1 (at 5:1)"), "{e}");
    }

    #[test]
    fn node_sections_selected_by_hostname() {
        let text = "cluster = \"c\"\n[[pf]]\nname = \"eno1\"\nnum_vfs = 1\n[node.pve1]\nid = 1\n[[node.pve1.pf]]\nname = \"eno2\"\nnum_vfs = 2\n[node.pve2]\nid = 2\n[[node.pve2.pf]]\nname = \"eno3\"\nnum_vfs = 3\n";
        let c = ok(text);
        assert_eq!(c.node.as_deref(), Some("pve1"));
        assert_eq!(c.node_id, Some(1));
        let keys: Vec<String> = c.pfs.iter().map(|p| p.key.to_string()).collect();
        assert_eq!(keys, ["eno1", "eno2"]);
        let c = parse(text, Path::new("s.toml"), "pve3").unwrap();
        assert_eq!(c.pfs.len(), 1);
        let e = parse("[node.a]\nid = 1\n", Path::new("s.toml"), "b")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "s.toml: no [node.b] section for this host (sections: a); pass --node NAME to pick one"
        );
    }

    #[test]
    fn duplicate_names_and_gateways() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 0\nname = \"a\"\naddresses = [\"10.0.0.2/24\"]\ngateway = \"10.0.0.1\"\n[[pf.vf]]\nindex = 1\nname = \"a\"\naddresses = [\"10.0.1.2/24\"]\ngateway = \"10.0.1.1\"\n");
        assert_eq!(
            e,
            "s.toml:9:1: VF 1 of eno1: name `a` is already used by VF 0 of eno1 (at 4:1)\n\
             s.toml:9:1: VF 1 of eno1: a default gateway is already set on VF 0 of eno1 (at 4:1)"
        );
    }

    #[test]
    fn same_address_on_two_vfs_names_both_places() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\naddresses = [\"10.0.50.100/24\"]\n[[pf]]\nname = \"eno2\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 2\naddresses = [\"10.0.60.1/24\", \"10.0.50.100/16\"]\n");
        assert_eq!(
            e,
            "s.toml:12:30: VF 2 of eno2: address 10.0.50.100 is already used by VF 1 of eno1 (at 6:14); an address belongs on one interface"
        );
    }

    #[test]
    fn gateway_must_not_be_the_vfs_own_address() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\naddresses = [\"10.0.50.100/24\"]\ngateway = \"10.0.50.100\"\n");
        assert_eq!(
            e,
            "s.toml:7:11: VF 1: gateway 10.0.50.100 is this VF's own address (at 6:14) (the gateway is another host on the subnet, e.g. the router)"
        );
    }

    #[test]
    fn gateway_must_be_on_link() {
        let e = errs("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 0\naddresses = [\"10.0.0.2/24\"]\ngateway = \"10.9.0.1\"\n");
        assert_eq!(
            e,
            "s.toml:7:11: VF 0: gateway 10.9.0.1 is not in the subnet of any of its addresses"
        );
    }

    #[test]
    fn pf_needs_a_key() {
        assert_eq!(
            errs("[[pf]]\nnum_vfs = 1\n"),
            "s.toml:1:1: [[pf]] needs `name = \"<netdev>\"` or `pci = \"0000:02:00.0\"`"
        );
        assert_eq!(
            errs("[[pf]]\npci = \"0000:02:20.0\"\nnum_vfs = 1\n"),
            "s.toml:2:7: `0000:02:20.0` is not a PCI address (want DDDD:BB:DD.F like 0000:02:00.0)"
        );
    }

    #[test]
    fn loc_counts_characters() {
        assert_eq!(Src::new("ab\ncé d").loc(7), Loc { line: 2, col: 4 });
        assert_eq!(Src::new("").loc(5), Loc { line: 1, col: 1 });
        let src = Src::new("ab\ncd\n\nx");
        assert_eq!(src.loc(0), Loc { line: 1, col: 1 });
        assert_eq!(src.loc(2), Loc { line: 1, col: 3 }, "the newline itself");
        assert_eq!(src.loc(3), Loc { line: 2, col: 1 });
        assert_eq!(src.loc(6), Loc { line: 3, col: 1 }, "an empty line");
        assert_eq!(src.loc(7), Loc { line: 4, col: 1 });
        assert_eq!(src.loc(99), Loc { line: 4, col: 2 }, "past the end");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Outside data never panics the parser, and every error has a
            /// position inside the text.
            #[test]
            fn parse_never_panics(text in "(\\[\\[pf(\\.vf)?\\]\\]\n|[a-z_]{1,10} = (\"[^\"\n]{0,20}\"|-?[0-9]{1,12}|true|\\[[0-9, ]{0,10}\\])\n|[ -~\n]{0,5}){0,12}") {
                if let Err(ConfigError::Invalid { diags, .. }) = parse(&text, Path::new("s.toml"), "h") {
                    let lines = text.lines().count().max(1) + 1;
                    for d in diags {
                        if let Some(l) = d.loc {
                            prop_assert!(l.line >= 1 && l.line <= lines && l.col >= 1);
                        }
                    }
                }
            }

            /// Auto MACs are locally administered unicast and read as the
            /// node and VLAN.
            #[test]
            fn auto_mac_shape(cluster in ".{0,20}", pf in "[a-z0-9]{1,15}", node in any::<u8>(), vlan in 0u16..=4094) {
                let m = auto_mac(&cluster, &pf, node, vlan);
                prop_assert_eq!(m.0[0] & 0x03, 0x02);
                prop_assert_eq!(m.0[3], node);
                let s = m.to_string();
                let tail = format!("{:02}:{:02}", vlan / 100, vlan % 100);
                prop_assert!(s.ends_with(&tail), "{} {}", s, tail);
            }

            /// Ranges expand to exactly the indices written.
            #[test]
            fn ranges_expand(a in 0u32..100, len in 0u32..20) {
                let r = parse_range(&format!("{a}-{}", a + len)).unwrap();
                prop_assert_eq!(r, (a..=a + len).collect::<Vec<_>>());
            }
        }
    }
}
