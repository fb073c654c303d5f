//! The TOML configuration: parsing with exact `file:line:col` errors, node
//! selection by hostname, VF ranges, and `mac = "auto"`.
//!
//! The flow is `raw` (serde, with spans) -> `resolve` (checked values, one
//! [`VfSpec`] per VF) -> [`Config`]; every problem is a `diag`nostic with its
//! position, all of them reported at once.
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

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use netlink_vf::{IfName, IpPrefix, MacAddr, VlanConfig};
use sysfs_sriov::PciAddress;

mod addr;
mod diag;
mod raw;
mod resolve;
mod vf;
pub(crate) use vf::check_mapping_id;

pub use addr::{is_link_local, parse_prefix, prefix_contains};
use diag::Src;
pub use diag::{ConfigError, Diag, Loc};
use raw::{RawFile, RawPf, S};
pub use resolve::auto_mac;
#[cfg(test)]
use resolve::parse_range;
use resolve::{check_cross_pf, check_node_id, resolve_pf};

/// How a PF is named in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfKey {
    /// By netdev name (`name = "eno1"`).
    Name(String),
    /// By PCI address (`pci = "0000:02:00.0"`).
    Pci {
        /// The address.
        address: PciAddress,
        /// As written in the config (what messages and `mac = "auto"` use).
        written: String,
    },
}

impl fmt::Display for PfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfKey::Name(n) => f.write_str(n),
            PfKey::Pci { written, .. } => f.write_str(written),
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
    pub mac: Option<MacAddr>,
    /// Whether `mac = "auto"` produced `mac`.
    pub mac_auto: bool,
    /// VLAN, QoS and protocol.
    pub vlan: Option<VlanConfig>,
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
    pub name: Option<IfName>,
    /// Bring the VF netdev up (or down).
    pub up: Option<bool>,
    /// Promiscuous mode on the VF netdev.
    pub promisc: Option<bool>,
    /// MTU of the VF netdev.
    pub mtu: Option<u32>,
    /// Addresses to add on the VF netdev (for an `lxc` VF: inside the container).
    pub addresses: Vec<IpPrefix>,
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
        let untagged = self.vlan.is_none_or(|v| v.id.is_none());
        untagged && (self.promisc == Some(true) || self.driver == Some(DriverSpec::VfioPci))
    }

    /// Whether the config sets something that needs the VF's netdev.
    pub fn wants_netdev(&self) -> bool {
        self.name.is_some()
            || self.up.is_some()
            || self.promisc.is_some()
            || self.mtu.is_some()
            || !self.addresses.is_empty()
    }

    /// The trust value setup applies: explicit, or on for promiscuous trunks.
    pub fn wanted_trust(&self) -> Option<bool> {
        self.trust
            .or(if self.is_trunk() && self.promisc == Some(true) {
                Some(true)
            } else {
                None
            })
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
    let read = |source| ConfigError::Read {
        path: shown.to_path_buf(),
        source,
    };
    let bytes = read_regular(path, MAX_SIZE).map_err(read)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // Where the first bad byte is, as a position in the valid text
            // before it.
            let good = e.utf8_error().valid_up_to();
            let head = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            let loc = Src::new(&head).loc(good);
            return Err(ConfigError::Invalid {
                path: shown.to_path_buf(),
                diags: vec![Diag {
                    loc: Some(loc),
                    msg: format!(
                        "not UTF-8: byte 0x{:02x} at byte offset {good} (save the file as UTF-8)",
                        e.as_bytes()[good]
                    ),
                }],
            });
        }
    };
    parse(&text, shown, hostname)
}

/// The largest config read, in bytes (a cluster file of a few hundred VFs is
/// a few tens of KiB).
pub const MAX_SIZE: u64 = 4 << 20;

/// Reads a regular file of at most `max` bytes: opened without blocking (a
/// FIFO would wait for a writer forever) and checked after opening, so a
/// FIFO, a device or `/dev/zero` is refused instead of read. Every file
/// sriov-cli reads by itself goes through here (the libraries have their own
/// bounded readers for sysfs, proc and boot files).
pub(crate) fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory is not read)",
        ));
    }
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than the limit of {} MiB", max >> 20),
        ));
    }
    Ok(buf)
}

/// Where a "recursion limit" error most likely is: the line with the most
/// dots, brackets and braces.
fn deepest_line(src: &Src<'_>) -> Loc {
    let mut best = (0, 0);
    let mut off = 0;
    for l in src.text.lines() {
        let depth = l.chars().filter(|c| ".[{".contains(*c)).count();
        if depth > best.0 {
            best = (depth, off);
        }
        off += l.len() + 1;
    }
    src.loc(best.1)
}

/// Checks a node name (`[node.NAME]`, `--node`) as Proxmox's `pve-node`
/// format does (pve-common `src/PVE/JSONSchema.pm`, `pve_verify_node_name`):
/// letters, digits and inner `-`, as a host name's first label.
///
/// # Errors
/// Why the name is not one, and what a node name looks like.
pub fn check_node_name(n: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if n.is_empty() {
        Err("a node name cannot be empty (it is the host name, as `hostname -s` prints it)".into())
    } else if n.len() > 63 {
        Err(format!(
            "a node name has at most 63 characters (a host name label), this one has {}",
            n.chars().count()
        ))
    } else if !n.chars().all(ok_char) || n.starts_with('-') || n.ends_with('-') {
        Err("a node name holds only letters, digits and `-` (not first or last), as `hostname -s` prints it".into())
    } else {
        Ok(())
    }
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
        let loc = loc.or_else(|| (e.message() == "recursion limit").then(|| deepest_line(&src)));
        let msg = diag::toml_message(e.message(), e.span(), &src);
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

    for (name, n) in &raw.node {
        if let Err(why) = check_node_name(name) {
            diags.push(Diag {
                loc: Some(src.loc(n.span().start)),
                msg: format!("[node.{name:?}]: {why}"),
            });
        }
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
        assert_eq!(
            c.pfs[0].vfs[2]
                .vlan
                .unwrap()
                .id
                .map(netlink_vf::VlanId::get),
            Some(50)
        );
        assert_eq!(
            c.pfs[0].vfs[2]
                .name
                .as_ref()
                .map(netlink_vf::IfName::as_str),
            Some("eno1vf2")
        );
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

    /// Issue 17: a name with ESC (which clears the terminal in `--dry-run`)
    /// or a description with a bidi override (which goes into the `pvesh`
    /// command lines) is refused with its position.
    #[test]
    fn names_and_descriptions_with_controls_or_bidi_overrides_are_refused() {
        let e = parse(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 0\nname = \"x\\u001b[2J\"\n[[pf.vf]]\nindex = 1\ndescription = \"vm \\u202e gnp.exe\"\n",
            Path::new("s.toml"),
            "h",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "s.toml:6:8: VF 0: name \"x\\u{1b}[2J\" contains U+001B (a control character), which a terminal or a command line would not show as written\n\
             s.toml:9:15: VF 1: description contains U+202E (a bidirectional-text control), which a terminal or the pvesh command line would not show as written"
        );
    }

    /// Issue 17: an index above u32 is out of range, not "negative".
    #[test]
    fn a_huge_vf_index_is_out_of_range() {
        let e = parse(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 4294967296\n",
            Path::new("s.toml"),
            "h",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "s.toml:5:9: VF index 4294967296 is out of range 0-4294967295"
        );
    }

    /// Issue 17: `ethà` (bytes `c3 a0`) passed the plan and failed halfway
    /// through setup; the kernel's isspace(0xa0) makes it invalid, and the
    /// config now says so at the name's position.
    #[test]
    fn a_name_the_kernel_refuses_byte_by_byte_is_a_config_error() {
        let e = parse(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 1\n[[pf.vf]]\nindex = 0\nname = \"ethà\"\n",
            Path::new("s.toml"),
            "h",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml:6:8: VF 0: "), "{e}");
        assert!(e.contains("0xa0"), "{e}");
    }
}
