//! `stats`: per-VF counters from the PFs' netlink VF stats, as a table or in
//! node_exporter's textfile format (Proxmox shows no traffic metrics for
//! passed-through VFs; this fills the gap).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use netlink_vf::{LinkStats, VfStats};

use crate::cli::StatsFormat;
use crate::host::{Detail, Host};
use crate::render::table;
use crate::state::{HostState, VfState};
use crate::{CliError, Ctx};

/// Where a VF's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The PF's IFLA_VF_STATS: the PF's own count of the VF's traffic (also
    /// for VFs on vfio-pci or in a container's namespace).
    Pf(VfStats),
    /// The VF netdev's own IFLA_STATS64, where the PF driver keeps no
    /// per-VF counters and the netdev is in this network namespace.
    Netdev(LinkStats),
    /// The same, read in the network namespace that holds the netdev (a
    /// container's, `ip netns`').
    Netns(LinkStats),
}

impl Source {
    /// The `source` label and the table's SOURCE column.
    fn name(self) -> &'static str {
        match self {
            Self::Pf(_) => "pf",
            Self::Netdev(_) => "netdev",
            Self::Netns(_) => "netns",
        }
    }

    /// A PF's count, or a netdev's own (here or in another namespace).
    fn get(
        self,
        pf: fn(&VfStats) -> Option<u64>,
        link: fn(&LinkStats) -> Option<u64>,
    ) -> Option<u64> {
        match self {
            Self::Pf(c) => pf(&c),
            Self::Netdev(c) | Self::Netns(c) => link(&c),
        }
    }
}

/// The figures of VF `v`: the PF's counters where it keeps them, else its
/// netdev's own, here or in the namespace that holds it; `None` when none is
/// available.
fn source(v: &VfState) -> Option<Source> {
    if let Some(s) = v.attrs.as_ref().and_then(|a| a.stats) {
        return Some(Source::Pf(s));
    }
    if let Some(s) = v.link.as_ref().and_then(|l| l.stats) {
        return Some(Source::Netdev(s));
    }
    v.netns_link
        .as_ref()
        .and_then(|l| l.stats)
        .map(Source::Netns)
}

/// VF `v`'s netdev name (here, or in the namespace that holds it) and that
/// namespace's label.
fn netdev(v: &VfState) -> (&str, Option<&str>) {
    match (&v.netdev, &v.netns_link) {
        (Some(n), _) => (n, None),
        (None, Some(l)) => (&l.name, Some(&l.netns)),
        (None, None) => ("", None),
    }
}

/// A counter: its metric name, help text, and its value from each source
/// (`None` when that source does not count it: no sample, never a 0).
type Field = (&'static str, &'static str, fn(Source) -> Option<u64>);

const FIELDS: [Field; 8] = [
    ("rx_packets", "Packets received by the VF", |s| {
        s.get(|c| Some(c.rx_packets), |c| Some(c.rx_packets))
    }),
    ("tx_packets", "Packets sent by the VF", |s| {
        s.get(|c| Some(c.tx_packets), |c| Some(c.tx_packets))
    }),
    ("rx_bytes", "Bytes received by the VF", |s| {
        s.get(|c| Some(c.rx_bytes), |c| Some(c.rx_bytes))
    }),
    ("tx_bytes", "Bytes sent by the VF", |s| {
        s.get(|c| Some(c.tx_bytes), |c| Some(c.tx_bytes))
    }),
    (
        "rx_broadcast",
        "Broadcast packets received by the VF",
        // A netdev counts no broadcasts of their own.
        |s| s.get(|c| Some(c.broadcast), |_| None),
    ),
    (
        "rx_multicast",
        "Multicast packets received by the VF",
        |s| s.get(|c| Some(c.multicast), |c| Some(c.multicast)),
    ),
    ("rx_dropped", "Received packets dropped for the VF", |s| {
        s.get(|c| c.rx_dropped, |c| Some(c.rx_dropped))
    }),
    ("tx_dropped", "Sent packets dropped for the VF", |s| {
        s.get(|c| c.tx_dropped, |c| Some(c.tx_dropped))
    }),
];

/// Escapes a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The node_exporter textfile format for `st`.
pub(crate) fn prometheus(st: &HostState) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# HELP sriov_pf_total_vfs VFs the PF supports (sriov_totalvfs)."
    );
    let _ = writeln!(o, "# TYPE sriov_pf_total_vfs gauge");
    for p in &st.pfs {
        let _ = writeln!(
            o,
            "sriov_pf_total_vfs{{pf=\"{}\",pf_address=\"{}\"}} {}",
            esc(&p.label()),
            p.address,
            p.total_vfs
        );
    }
    let _ = writeln!(
        o,
        "# HELP sriov_pf_num_vfs VFs currently enabled on the PF (sriov_numvfs)."
    );
    let _ = writeln!(o, "# TYPE sriov_pf_num_vfs gauge");
    for p in &st.pfs {
        let _ = writeln!(
            o,
            "sriov_pf_num_vfs{{pf=\"{}\",pf_address=\"{}\"}} {}",
            esc(&p.label()),
            p.address,
            p.num_vfs
        );
    }
    for (name, help, get) in FIELDS {
        let _ = writeln!(
            o,
            "# HELP sriov_vf_{name}_total {help} (source=\"pf\": IFLA_VF_STATS, counted by the PF; source=\"netdev\": the VF netdev's own IFLA_STATS64, where the PF keeps no per-VF counters; source=\"netns\": the same, read in the network namespace named by the netns label, a container's)."
        );
        let _ = writeln!(o, "# TYPE sriov_vf_{name}_total counter");
        for p in &st.pfs {
            for v in &p.vfs {
                let Some(src) = source(v) else {
                    continue;
                };
                let Some(n) = get(src) else {
                    continue;
                };
                let (dev, netns) = netdev(v);
                let _ = writeln!(
                    o,
                    "sriov_vf_{name}_total{{pf=\"{}\",pf_address=\"{}\",vf=\"{}\",vf_address=\"{}\",netdev=\"{}\",driver=\"{}\",source=\"{}\"{}}} {}",
                    esc(&p.label()),
                    p.address,
                    v.index,
                    v.address,
                    esc(dev),
                    esc(v.driver.as_deref().unwrap_or("")),
                    src.name(),
                    netns.map(|n| format!(",netns=\"{}\"", esc(n))).unwrap_or_default(),
                    n
                );
            }
        }
    }
    o
}

fn text(st: &HostState, style: crate::render::Style) -> String {
    let mut rows = Vec::new();
    for p in &st.pfs {
        for v in &p.vfs {
            let src = source(v);
            let (dev, netns) = netdev(v);
            let mut row = vec![p.label().to_string(), v.index.to_string(), dev.to_string()];
            for (_, _, get) in FIELDS {
                row.push(
                    src.and_then(get)
                        .map_or_else(|| "n/a".to_string(), |n| n.to_string()),
                );
            }
            row.push(match (src, netns) {
                (Some(s @ Source::Netns(_)), Some(n)) => format!("{}:{n}", s.name()),
                (s, _) => s.map_or("-", Source::name).to_string(),
            });
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return "No VFs.\n".to_string();
    }
    table(
        &[
            "PF",
            "VF",
            "NETDEV",
            "RX_PACKETS",
            "TX_PACKETS",
            "RX_BYTES",
            "TX_BYTES",
            "RX_BCAST",
            "RX_MCAST",
            "RX_DROP",
            "TX_DROP",
            "SOURCE",
        ],
        &rows,
        style,
    )
}

pub(crate) fn stats(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    format: StatsFormat,
    output: Option<&Path>,
) -> Result<u8, CliError> {
    // `-` and /dev/stdout mean stdout: never replace a device node by a file.
    let output = output.filter(|p| *p != Path::new("-") && *p != Path::new("/dev/stdout"));
    if let Some(n) = host.netlink_note() {
        ctx.note(&n);
    }
    let st = host.read(Detail::Stats)?;
    for n in &st.notes {
        ctx.note(n);
    }
    for p in &st.pfs {
        if let Some(d) = p.driver.as_deref() {
            if st.netlink && p.num_vfs > 0 && !netlink_vf::driver_counts_vf_stats(d) {
                ctx.note(&format!(
                    "PF {} ({d}) keeps no per-VF counters (the kernel reports them as 0 for drivers without ndo_get_vf_stats): its VFs' figures are their own netdevs' counters, read in this network namespace (source \"netdev\") or in the one that holds the netdev (source \"netns\", a container's); VFs on vfio-pci have none (the guest's driver counts their traffic)",
                    p.label()
                ));
            }
        }
    }
    let body = match format {
        StatsFormat::Prometheus => prometheus(&st),
        StatsFormat::Text => text(
            &st,
            if output.is_some() {
                crate::render::Style::default()
            } else {
                ctx.out_style
            },
        ),
    };
    match output {
        None => out.write_all(body.as_bytes())?,
        // bootcmd's careful writer: a random temp name opened with
        // O_EXCL|O_NOFOLLOW, fsync of the file and the directory, rename; and
        // only onto a regular file or a new name (a device, FIFO or symlink
        // is refused).
        Some(path) => bootcmd::replace_file(path, body.as_bytes(), 0o644).map_err(|e| {
            CliError::Usage(format!(
                "--output {}: {}",
                path.display(),
                crate::host::chain(&e)
            ))
        })?,
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::state::VfAttrs;

    #[test]
    fn prometheus_format() {
        let mut st = crate::plan::tests::host(2, true);
        st.pfs[0].vfs[1].attrs = Some(VfAttrs {
            stats: Some({
                let mut s = VfStats::default();
                s.rx_packets = 5;
                s.tx_bytes = 7;
                s
            }),
            ..VfAttrs::default()
        });
        let p = prometheus(&st);
        assert!(p.contains("# TYPE sriov_vf_rx_packets_total counter\nsriov_vf_rx_packets_total{pf=\"eno1\",pf_address=\"0000:01:00.0\",vf=\"1\",vf_address=\"0000:01:10.2\",netdev=\"eth2\",driver=\"igbvf\",source=\"pf\"} 5\n"), "{p}");
        assert!(p.contains("sriov_pf_num_vfs{pf=\"eno1\",pf_address=\"0000:01:00.0\"} 2\n"));
        // VF 0 has no counters: no sample for it.
        assert!(!p.contains("vf=\"0\""));
        assert_eq!(esc("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }

    #[test]
    fn a_counter_the_driver_does_not_report_has_no_sample() {
        let mut st = crate::plan::tests::host(1, true);
        let mut c = VfStats::default();
        c.rx_packets = 5;
        c.rx_dropped = None;
        c.tx_dropped = Some(0);
        st.pfs[0].vfs[0].attrs = Some(VfAttrs {
            stats: Some(c),
            ..VfAttrs::default()
        });
        let p = prometheus(&st);
        assert!(!p.contains("sriov_vf_rx_dropped_total{"), "{p}");
        assert!(p.contains("sriov_vf_tx_dropped_total{pf=\"eno1\""), "{p}");
        let t = text(&st, crate::render::Style::default());
        let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[row.len() - 3..], ["n/a", "0", "pf"], "{row:?}");
    }

    #[test]
    fn where_the_pf_keeps_no_vf_counters_the_netdev_s_own_are_used_and_named() {
        // igb: the reading drops the PF's zeroed IFLA_VF_STATS (no
        // ndo_get_vf_stats); VF 0's netdev is here with its IFLA_STATS64,
        // VF 1 (on vfio-pci, say) has no netdev.
        let mut st = crate::plan::tests::host(2, true);
        for v in &mut st.pfs[0].vfs {
            v.attrs = Some(VfAttrs::default());
        }
        let mut c = LinkStats::default();
        c.rx_packets = 10;
        c.tx_packets = 20;
        c.multicast = 3;
        st.pfs[0].vfs[0]
            .link
            .get_or_insert_with(Default::default)
            .stats = Some(c);
        st.pfs[0].vfs[1].link = None;
        let p = prometheus(&st);
        assert!(p.contains("sriov_vf_tx_packets_total{pf=\"eno1\",pf_address=\"0000:01:00.0\",vf=\"0\",vf_address=\"0000:01:10.0\",netdev=\"eth1\",driver=\"igbvf\",source=\"netdev\"} 20\n"), "{p}");
        assert!(p.contains(",source=\"netdev\"} 3\n"), "multicast: {p}");
        // A netdev counts no broadcasts: no sample rather than a 0.
        assert!(!p.contains("sriov_vf_rx_broadcast_total{"), "{p}");
        assert!(!p.contains("vf=\"1\""), "VF 1 has no source: {p}");
        let t = text(&st, crate::render::Style::default());
        let rows: Vec<Vec<&str>> = t
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0][3..],
            ["10", "20", "0", "0", "n/a", "3", "0", "0", "netdev"],
            "{t}"
        );
        assert_eq!(rows[1].last(), Some(&"-"), "{t}");
        assert!(rows[1].iter().filter(|c| **c == "n/a").count() == 8, "{t}");
    }

    #[test]
    fn a_vf_netdev_in_another_namespace_is_counted_there_and_named() {
        // igb (no PF counters): VF 0's netdev is in a container's namespace,
        // VF 1 is on vfio-pci (nothing anywhere).
        let mut st = crate::plan::tests::host(2, true);
        for v in &mut st.pfs[0].vfs {
            v.attrs = Some(VfAttrs::default());
            v.link = None;
            v.netdev = None;
        }
        let mut c = LinkStats::default();
        c.rx_packets = 4;
        c.tx_packets = 9;
        st.pfs[0].vfs[0].netns_link = Some(crate::state::NetnsLink {
            netns: "pid:4242".into(),
            name: "eth0".into(),
            stats: Some(c),
        });
        st.pfs[0].vfs[1].driver = Some("vfio-pci".into());
        let p = prometheus(&st);
        assert!(p.contains("sriov_vf_tx_packets_total{pf=\"eno1\",pf_address=\"0000:01:00.0\",vf=\"0\",vf_address=\"0000:01:10.0\",netdev=\"eth0\",driver=\"igbvf\",source=\"netns\",netns=\"pid:4242\"} 9\n"), "{p}");
        assert!(!p.contains("vf=\"1\""), "VF 1 has no source: {p}");
        assert!(
            p.contains("source=\"netns\": the same, read in the network namespace"),
            "{p}"
        );
        let t = text(&st, crate::render::Style::default());
        let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[2], "eth0", "{t}");
        assert_eq!(row[3..5], ["4", "9"], "{t}");
        assert_eq!(row.last(), Some(&"netns:pid:4242"), "{t}");
    }
}
