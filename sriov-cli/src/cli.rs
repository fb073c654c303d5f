//! Command-line grammar (clap derive). The names here are the contract of
//! issue 7: extend, never rename.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Declarative SR-IOV virtual function setup for Linux and Proxmox VE hosts.
#[derive(Debug, Parser)]
#[command(name = "sriov-cli", version, about, long_about = None)]
pub struct Cli {
    /// Prefix for every file path read or written (a fixture sysfs tree, a
    /// mounted image); netlink is not affected and is not used when not `/`.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Config file [default: <root>/etc/sriov-cli/sriov.toml]. An explicit path
    /// is used as given, not under --root.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node name selecting a `[node.NAME]` section [default: the hostname].
    #[arg(long, global = true, value_name = "NAME")]
    pub node: Option<String>,
    /// How long a command that changes the host (setup, reset,
    /// enable-iommu) waits for another such run to finish before it gives
    /// up (exit 2, nothing changed). A boot-time setup of many VFs takes
    /// seconds: a minute covers it with room.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the host match the config: VF counts, VF attributes, drivers,
    /// names, links, addresses and routes.
    Setup {
        /// Print the plan as a diff and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print {"changes": [...]} on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Allow changing a non-zero VF count to another non-zero count (the
        /// kernel needs 0 first, which destroys every existing VF).
        #[arg(long)]
        allow_recreate: bool,
        /// Allow binding a VF whose netdev is up or has addresses to another
        /// driver (e.g. vfio-pci); without it such a plan is refused before
        /// anything changes.
        #[arg(long)]
        force_unbind: bool,
        /// Also remove addresses the config does not list from the VF netdevs
        /// whose `addresses` it sets (link-local addresses are kept).
        #[arg(long)]
        prune: bool,
        /// Print on stderr how long each phase and each kernel operation took
        /// (where a slow boot spends its time).
        #[arg(long)]
        timings: bool,
    },
    /// Show PFs and their VFs.
    Status {
        /// Only this PF (netdev name or PCI address).
        pf: Option<String>,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Set PFs' VF counts back to 0 (several PFs: all checked first, then
    /// reset at the same time).
    Reset {
        /// The PF (netdev name or PCI address); more than one may be given.
        #[arg(required = true)]
        pf: Vec<String>,
        /// Also when VFs are in use (bound to vfio-pci, up, or renamed).
        #[arg(long)]
        allow_recreate: bool,
    },
    /// Is this host ready for VF passthrough? Exit 0 ready, 1 not ready, 2 error.
    CheckIommu {
        /// JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Can this host create VFs and pass them through? check-iommu's verdict
    /// plus a line per SR-IOV device (firmware, driver, VF BARs, ARI, bus
    /// numbers), each problem with its fix. Exit 0 ready, 1 not ready, 2 error.
    Check {
        /// JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Add the IOMMU options to the kernel command line where the boot loader
    /// keeps it, and print (or with --yes run) the refresh command.
    EnableIommu {
        /// Show what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run the boot loader refresh command after editing.
        #[arg(long)]
        yes: bool,
        /// Also add `pci=realloc`: the kernel then re-sizes the PCI bridge
        /// windows to fit VF BARs the firmware left no room for (`check`
        /// says "VF BARs ... could not be placed"; the count write fails
        /// with ENOMEM).
        #[arg(long)]
        pci_realloc: bool,
    },
    /// Print configuration for other tools, derived from the config.
    #[command(subcommand)]
    Generate(Generate),
    /// Proxmox VE: the cluster's copy of the config, and the cluster's PCI
    /// resource mappings kept in line with this node's VFs (through `pvesh`).
    #[command(subcommand)]
    Pve(Pve),
    /// Per-VF traffic counters from the PFs' netlink VF stats.
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
        format: StatsFormat,
        /// Write to FILE atomically (write a temp file, rename it) instead of
        /// stdout, as node_exporter's textfile collector wants.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `generate` targets.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// A oneshot `sriov-vfs.service` running `sriov-cli setup` before the network.
    SystemdUnit {
        /// Path of the binary in ExecStart.
        #[arg(long, value_name = "PATH", default_value = "/usr/local/sbin/sriov-cli")]
        bin: PathBuf,
    },
    /// `lxc.net.N.*` lines for the VFs of one container.
    Lxc {
        /// Container id.
        #[arg(long)]
        ctid: u32,
        /// Write them into /etc/pve/lxc/<ctid>.conf (under PVE's config
        /// lock, atomically), replacing the entries an earlier --write put
        /// there and leaving every other line as it is.
        #[arg(long)]
        write: bool,
        /// With --write: print the change to the container's config as a
        /// diff and write nothing.
        #[arg(long, requires = "write")]
        dry_run: bool,
    },
    /// `pvesh create /cluster/mapping/pci ...` commands for vfio-pci VFs.
    PveMapping,
    /// `hostpciN:` lines for direct attachment of vfio-pci VFs.
    Hostpci {
        /// Only VFs with this `vm` name.
        #[arg(long)]
        vm: Option<String>,
        /// The VM id: number the lines above the hostpciN entries of
        /// /etc/pve/qemu-server/<vmid>.conf (read only), and add `pcie=1` on
        /// q35 machines.
        #[arg(long, requires = "vm")]
        vmid: Option<u32>,
        /// Attach the VFs with `qm set <vmid> --hostpciN ...` (`mapping=<id>`
        /// for VFs with a `mapping`, else the PCI address); VFs the VM has
        /// already are left alone. The qm binary: $SRIOV_CLI_QM, else `qm`
        /// on PATH.
        #[arg(long, requires = "vmid")]
        write: bool,
        /// With --write: print the `qm set` commands and run none.
        #[arg(long, requires = "write")]
        dry_run: bool,
    },
    /// The `sriov-vfs-pve.service` unit for Proxmox VE hosts: after
    /// pve-cluster, before the guests start, it runs `pve pull-config` and
    /// `pve sync-mappings`.
    PveUnit {
        /// Path of the binary in ExecStart.
        #[arg(long, value_name = "PATH", default_value = "/usr/local/sbin/sriov-cli")]
        bin: PathBuf,
    },
}

/// `pve` subcommands (Proxmox VE hosts).
#[derive(Debug, Subcommand)]
pub enum Pve {
    /// Take the cluster's copy of the config: when it is valid for this node
    /// and differs from the local copy, replace the local copy (atomically)
    /// and run setup. An invalid cluster copy changes nothing (exit 2).
    PullConfig {
        /// The cluster's copy [default: <root>/etc/pve/sriov-cli/sriov.toml].
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Say whether the local copy would be replaced, and show the diff;
        /// write nothing and run no setup.
        #[arg(long)]
        dry_run: bool,
    },
    /// Give every VF whose config names a `vm` or a `mapping` exactly one
    /// entry for this node in its PCI resource mapping (current path, id,
    /// subsystem-id, iommugroup): a missing mapping is created, this node's
    /// entries are replaced, other nodes' entries are kept. Through `pvesh`
    /// (the cluster lock and the digest); nothing is written when all match.
    /// Exit 0 in line, 1 a pvesh call failed, 2 nothing changed (no pvesh,
    /// bad config, a VF missing).
    SyncMappings {
        /// Print what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `stats --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    /// A table.
    Text,
    /// node_exporter textfile collector format.
    Prometheus,
}
