//! Benchmark and seed inputs, built from constants (never read from the host).

use netlink_vf::{MacAddr, Qos, VfConfig, VlanConfig, VlanId};
use sysfs_sriov::fixture::{Host, HostBuilder, PfSpec};
use sysfs_sriov::PciAddress;

// include/uapi/linux/if_link.h
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_NUM_VF: u16 = 21;
const IFLA_VFINFO_LIST: u16 = 22;
const IFLA_VF_INFO: u16 = 1;
const IFLA_VF_MAC: u16 = 1;
const IFLA_VF_VLAN: u16 = 2;
const IFLA_VF_TX_RATE: u16 = 3;
const IFLA_VF_SPOOFCHK: u16 = 4;
const IFLA_VF_LINK_STATE: u16 = 5;
const IFLA_VF_RATE: u16 = 6;
const IFLA_VF_RSS_QUERY_EN: u16 = 7;
const IFLA_VF_STATS: u16 = 8;
const IFLA_VF_TRUST: u16 = 9;
const IFLA_VF_VLAN_LIST: u16 = 12;
const IFLA_VF_BROADCAST: u16 = 13;
const IFLA_VF_VLAN_INFO: u16 = 1;

/// Appends one netlink attribute (`struct nlattr` + payload, padded to 4 bytes).
///
/// # Panics
/// Never for payloads below 64 KiB; larger ones are truncated in the length
/// field (the fixtures here stay far below).
pub fn put_nla(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn u32s(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// The MAC of VF `i` in the fixtures: `02:00:00:00:HH:LL` (locally administered).
pub fn vf_mac(i: u32) -> [u8; 6] {
    let [_, _, h, l] = i.to_be_bytes();
    [0x02, 0, 0, 0, h, l]
}

/// The VLAN of VF `i` in the fixtures (1..=4094).
pub fn vf_vlan(i: u32) -> u16 {
    u16::try_from(100 + i % 3000).unwrap_or(1)
}

/// One IFLA_VF_INFO nest for VF `i`, attribute for attribute in the order
/// `rtnl_fill_vfinfo()` (net/core/rtnetlink.c, Linux 6.x) emits them for a
/// driver that reports everything: MAC, broadcast, VLAN, rates, spoofchk,
/// link state, RSS query, trust, the VLAN list and, with `stats`, IFLA_VF_STATS
/// (u64 counters; no pad attributes on x86-64, which has efficient unaligned
/// access).
pub fn vf_info_nest(i: u32, stats: bool) -> Vec<u8> {
    let mut vf = Vec::new();
    // struct ifla_vf_mac { __u32 vf; __u8 mac[32]; }
    let mut mac = i.to_ne_bytes().to_vec();
    mac.extend_from_slice(&vf_mac(i));
    mac.resize(4 + 32, 0);
    put_nla(&mut vf, IFLA_VF_MAC, &mac);
    // struct ifla_vf_broadcast { __u8 broadcast[32]; }
    let mut bc = vec![0xff; 6];
    bc.resize(32, 0);
    put_nla(&mut vf, IFLA_VF_BROADCAST, &bc);
    let vlan = u32::from(vf_vlan(i));
    put_nla(&mut vf, IFLA_VF_VLAN, &u32s(&[i, vlan, i % 8]));
    put_nla(&mut vf, IFLA_VF_RATE, &u32s(&[i, 0, 1000]));
    put_nla(&mut vf, IFLA_VF_TX_RATE, &u32s(&[i, 1000]));
    put_nla(&mut vf, IFLA_VF_SPOOFCHK, &u32s(&[i, 1]));
    put_nla(&mut vf, IFLA_VF_LINK_STATE, &u32s(&[i, 0]));
    put_nla(&mut vf, IFLA_VF_RSS_QUERY_EN, &u32s(&[i, u32::MAX]));
    put_nla(&mut vf, IFLA_VF_TRUST, &u32s(&[i, i % 2]));
    // struct ifla_vf_vlan_info { __u32 vf, vlan, qos; __be16 vlan_proto; } (16 bytes)
    let mut vi = u32s(&[i, vlan, i % 8]);
    vi.extend_from_slice(&0x8100u16.to_be_bytes());
    vi.extend_from_slice(&[0, 0]);
    let mut list = Vec::new();
    put_nla(&mut list, IFLA_VF_VLAN_INFO, &vi);
    put_nla(&mut vf, IFLA_VF_VLAN_LIST, &list);
    if stats {
        let mut st = Vec::new();
        let base = u64::from(i) * 1000;
        // RX_PACKETS .. MULTICAST are 0..=5; 6 is PAD; RX_DROPPED 7, TX_DROPPED 8.
        for (kind, v) in [
            (0u16, base + 1),
            (1, base + 2),
            (2, base * 64 + 3),
            (3, base * 64 + 4),
            (4, 5),
            (5, 6),
            (7, 7),
            (8, 8),
        ] {
            put_nla(&mut st, kind, &v.to_ne_bytes());
        }
        put_nla(&mut vf, IFLA_VF_STATS, &st);
    }
    vf
}

/// The value of an IFLA_VFINFO_LIST attribute for `n` VFs (see [`vf_info_nest`]).
pub fn vfinfo_list(n: u32, stats: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        put_nla(&mut out, IFLA_VF_INFO, &vf_info_nest(i, stats));
    }
    out
}

/// A complete RTM_NEWLINK payload (`struct ifinfomsg` + attributes) of a PF
/// named `name` with `n` VFs, as a `RTM_GETLINK` with `RTEXT_FILTER_VF`
/// returns it (only the attributes `netlink-vf` models, plus the VF table).
pub fn pf_link_payload(name: &str, n: u32, stats: bool) -> Vec<u8> {
    // struct ifinfomsg { family, pad, type, index, flags, change }
    let mut out = vec![0u8, 0];
    out.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
    out.extend_from_slice(&2i32.to_ne_bytes());
    out.extend_from_slice(&(0x1u32 | 0x1_0000).to_ne_bytes()); // IFF_UP | IFF_LOWER_UP
    out.extend_from_slice(&0u32.to_ne_bytes());
    let mut nm = name.as_bytes().to_vec();
    nm.push(0);
    put_nla(&mut out, IFLA_IFNAME, &nm);
    put_nla(&mut out, IFLA_MTU, &1500u32.to_ne_bytes());
    put_nla(&mut out, IFLA_ADDRESS, &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    put_nla(&mut out, IFLA_OPERSTATE, &[6]); // IF_OPER_UP
    put_nla(&mut out, IFLA_NUM_VF, &n.to_ne_bytes());
    put_nla(&mut out, IFLA_VFINFO_LIST, &vfinfo_list(n, stats));
    out
}

/// `n` VF configurations setting what a guide-style setup sets per VF: MAC,
/// VLAN + QoS, spoofchk, trust and a max TX rate.
///
/// # Errors
/// Never in practice (every value is in range); propagated rather than unwrapped.
pub fn vf_configs(n: u32) -> Result<Vec<VfConfig>, netlink_vf::Error> {
    (0..n)
        .map(|i| {
            let qos = Qos::new(u8::try_from(i % 8).unwrap_or(0))?;
            Ok(VfConfig::new(i)
                .mac(MacAddr(vf_mac(i)))
                .vlan(VlanConfig::new(VlanId::new(vf_vlan(i))?).qos(qos))
                .spoofchk(true)
                .trust(i % 2 == 0)
                .max_tx_rate(1000))
        })
        .collect()
}

/// A fixture sysfs tree with one Intel X710-like PF at `0000:3b:00.0`
/// (netdev `enp59s0f0`) carrying `n` VFs (total_vfs raised to `n` when above
/// the X710's 64), each with its igbvf-style netdev, driver and IOMMU group.
///
/// # Errors
/// The fixture builder's I/O error.
pub fn sysfs_host(n: u16) -> std::io::Result<(Host, PciAddress)> {
    let pf: PciAddress = "0000:3b:00.0"
        .parse()
        .map_err(|e| std::io::Error::other(format!("{e}")))?;
    let spec = PfSpec::intel_x710(pf)
        .netdev("enp59s0f0")
        .total_vfs(n.max(64))
        .vfs(n);
    let host = HostBuilder::new().pf(spec).build()?;
    Ok((host, pf))
}

/// A `sriov-cli` config for the PF of [`sysfs_host`]: `n` VFs, each with a
/// MAC, a VLAN with QoS, trust, spoofchk, a rate limit, a netdev name, up and
/// one address (the guide's per-VLAN VF, `n` times).
pub fn cli_config(n: u32) -> String {
    let mut s = format!("[[pf]]\nname = \"enp59s0f0\"\nnum_vfs = {n}\n");
    for i in 0..n {
        let m = vf_mac(i);
        let [_, _, h, l] = i.to_be_bytes();
        s.push_str(&format!(
            "\n[[pf.vf]]\nindex = {i}\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nvlan = {}\nqos = {}\ntrust = {}\nspoofchk = true\nmax_tx_rate = 1000\nname = \"lan{i}\"\nup = true\naddresses = [\"10.{h}.{l}.1/24\"]\n",
            m[0], m[1], m[2], m[3], m[4], m[5],
            vf_vlan(i),
            i % 8,
            i % 2 == 0,
        ));
    }
    s
}

/// Real-world kernel command lines (Proxmox VE on GRUB and on systemd-boot, a
/// Debian cloud image, one with init arguments after `--`).
pub const CMDLINES: &[&str] = &[
    "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet\n",
    "initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-cloud-amd64 root=PARTUUID=5c8d7b3a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0\n",
    "root=/dev/sda1 ro quiet splash intel_iommu=on,sm_on iommu=pt pcie_acs_override=downstream,multifunction \"dyndbg=file drivers/pci/* +p\" -- single\n",
];

/// Debian bookworm's stock `/etc/default/grub` (grub2-common), as on a fresh
/// Proxmox VE install.
pub const GRUB_DEBIAN: &str = r#"# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""

# If your computer has multiple operating systems installed, then you
# probably want to run os-prober. However, if your computer is a host
# for guest OSes installed via LVM or raw disk devices, running
# os-prober can cause damage to those guest OSes as it mounts
# filesystems to look for things.
#GRUB_DISABLE_OS_PROBER=false

# Uncomment to enable BadRAM filtering, modify to suit your needs
# This works with Linux (no patch required) and with any kernel that obtains
# the memory map information from GRUB (GNU Mach, kernel of FreeBSD ...)
#GRUB_BADRAM="0x01234567,0xfefefefe,0x89abcdef,0xefefefef"

# Uncomment to disable graphical terminal
#GRUB_TERMINAL=console

# The resolution used on graphical terminal
# note that you can use only modes which your graphic card supports via VBE
# you can see them in real GRUB with the command `vbeinfo'
#GRUB_GFXMODE=640x480

# Uncomment if you don't want GRUB to pass "root=UUID=xxx" parameter to Linux
#GRUB_DISABLE_LINUX_UUID=true

# Uncomment to disable generation of recovery mode menu entries
#GRUB_DISABLE_RECOVERY="true"

# Uncomment to get a beep at grub start
#GRUB_INIT_TUNE="480 440 1"
"#;

/// A hand-edited `/etc/default/grub` of the kind admins leave behind: an
/// older assignment commented out, a line continuation inside the value,
/// single quotes, and a conditional assignment of another variable.
pub const GRUB_EDITED: &str = r#"GRUB_DEFAULT=saved
GRUB_SAVEDEFAULT=true
GRUB_TIMEOUT=3
GRUB_DISTRIBUTOR="Proxmox VE"
#GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX_DEFAULT="quiet \
  intel_iommu=off nomodeset"
GRUB_CMDLINE_LINUX='root=ZFS=rpool/ROOT/pve-1 boot=zfs'
if [ -e /etc/default/grub.local ]; then
    GRUB_TIMEOUT=10
fi
GRUB_DISABLE_OS_PROBER=true
"#;
