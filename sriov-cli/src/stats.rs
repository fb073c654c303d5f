//! `stats`: per-VF counters from the PFs' netlink VF stats, as a table or in
//! node_exporter's textfile format (Proxmox shows no traffic metrics for
//! passed-through VFs; this fills the gap).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::cli::StatsFormat;
use crate::host::LiveHost;
use crate::render::table;
use crate::state::{HostState, VfCounters};
use crate::{CliError, Ctx};

type Field = (&'static str, &'static str, fn(&VfCounters) -> u64);

const FIELDS: [Field; 8] = [
    ("rx_packets", "Packets received by the VF", |c| c.rx_packets),
    ("tx_packets", "Packets sent by the VF", |c| c.tx_packets),
    ("rx_bytes", "Bytes received by the VF", |c| c.rx_bytes),
    ("tx_bytes", "Bytes sent by the VF", |c| c.tx_bytes),
    (
        "rx_broadcast",
        "Broadcast packets received by the VF",
        |c| c.broadcast,
    ),
    (
        "rx_multicast",
        "Multicast packets received by the VF",
        |c| c.multicast,
    ),
    ("rx_dropped", "Received packets dropped for the VF", |c| {
        c.rx_dropped
    }),
    ("tx_dropped", "Sent packets dropped for the VF", |c| {
        c.tx_dropped
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
            esc(p.label()),
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
            esc(p.label()),
            p.address,
            p.num_vfs
        );
    }
    for (name, help, get) in FIELDS {
        let _ = writeln!(
            o,
            "# HELP sriov_vf_{name}_total {help} (IFLA_VF_STATS, counted by the PF)."
        );
        let _ = writeln!(o, "# TYPE sriov_vf_{name}_total counter");
        for p in &st.pfs {
            for v in &p.vfs {
                let Some(c) = v.attrs.as_ref().and_then(|a| a.stats.as_ref()) else {
                    continue;
                };
                let _ = writeln!(
                    o,
                    "sriov_vf_{name}_total{{pf=\"{}\",pf_address=\"{}\",vf=\"{}\",vf_address=\"{}\",netdev=\"{}\",driver=\"{}\"}} {}",
                    esc(p.label()),
                    p.address,
                    v.index,
                    v.address,
                    esc(v.netdev.as_deref().unwrap_or("")),
                    esc(v.driver.as_deref().unwrap_or("")),
                    get(c)
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
            let c = v.attrs.as_ref().and_then(|a| a.stats.as_ref());
            let mut row = vec![
                p.label().to_string(),
                v.index.to_string(),
                v.netdev.clone().unwrap_or_default(),
            ];
            for (_, _, get) in FIELDS {
                row.push(c.map_or_else(|| "n/a".to_string(), |c| get(c).to_string()));
            }
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
        ],
        &rows,
        style,
    )
}

pub(crate) fn stats(
    ctx: &Ctx,
    out: &mut dyn Write,
    format: StatsFormat,
    output: Option<&Path>,
) -> Result<u8, CliError> {
    let mut host = LiveHost::new(&ctx.root);
    host.with_stats = true;
    if let Some(n) = &host.nl_note {
        ctx.note(n);
    }
    let st = host.read_state().map_err(CliError::Host)?;
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
        Some(path) => write_atomic(path, body.as_bytes())
            .map_err(|e| CliError::Host(format!("writing {}: {e}", path.display())))?,
    }
    Ok(0)
}

/// Writes `path` so that readers see the old or the new file, never half of one.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
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
            stats: Some(VfCounters {
                rx_packets: 5,
                tx_bytes: 7,
                ..VfCounters::default()
            }),
            ..VfAttrs::default()
        });
        let p = prometheus(&st);
        assert!(p.contains("# TYPE sriov_vf_rx_packets_total counter\nsriov_vf_rx_packets_total{pf=\"eno1\",pf_address=\"0000:01:00.0\",vf=\"1\",vf_address=\"0000:01:10.2\",netdev=\"eth2\",driver=\"igbvf\"} 5\n"), "{p}");
        assert!(p.contains("sriov_pf_num_vfs{pf=\"eno1\",pf_address=\"0000:01:00.0\"} 2\n"));
        // VF 0 has no counters: no sample for it.
        assert!(!p.contains("vf=\"0\""));
        assert_eq!(esc("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }

    #[test]
    fn atomic_write() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sriov.prom");
        write_atomic(&p, b"x 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x 1\n");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
