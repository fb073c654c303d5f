//! `status`, `check-iommu` and `enable-iommu`.

use std::io::Write;

use serde::Serialize;

use crate::host::{chain, LiveHost};
use crate::render::table;
use crate::state::{PfState, VfState};
use crate::{CliError, Ctx};

/// `status --json`: the same structs the table shows.
#[derive(Serialize)]
struct StatusJson<'a> {
    /// Whether netlink-backed fields were read.
    netlink: bool,
    /// The PFs.
    pfs: Vec<&'a PfState>,
}

const NA: &str = "n/a";

fn onoff(b: Option<bool>) -> String {
    b.map_or_else(
        || NA.to_string(),
        |b| if b { "on" } else { "off" }.to_string(),
    )
}

fn vf_row(v: &VfState) -> Vec<String> {
    let a = v.attrs.as_ref();
    let na = || NA.to_string();
    vec![
        v.index.to_string(),
        v.address.clone(),
        v.netdev.clone().unwrap_or_default(),
        v.driver.clone().unwrap_or_else(|| "(none)".into()),
        a.map_or_else(na, |a| a.mac.map_or_else(na, |m| m.to_string())),
        a.map_or_else(na, |a| {
            a.vlan.map_or_else(na, |v| {
                let mut s = if v.vlan == 0 {
                    "-".to_string()
                } else {
                    v.vlan.to_string()
                };
                if v.qos != 0 {
                    s.push_str(&format!(" qos {}", v.qos));
                }
                if v.proto == crate::config::VlanProto::Dot1Ad {
                    s.push_str(" 802.1ad");
                }
                s
            })
        }),
        onoff(a.and_then(|a| a.trust)),
        onoff(a.and_then(|a| a.spoofchk)),
        a.and_then(|a| a.link_state)
            .map_or_else(na, |s| s.to_string()),
        a.map_or_else(na, |a| match (a.min_tx_rate, a.max_tx_rate) {
            (None, None) => NA.to_string(),
            (lo, hi) => format!("{}/{}", lo.unwrap_or(0), hi.unwrap_or(0)),
        }),
        v.iommu_group.map(|g| g.to_string()).unwrap_or_default(),
        v.vfio_dev.clone().unwrap_or_default(),
    ]
}

/// The PF's heading line: identity, driver (with its version when readable),
/// ids, VF count, IOMMU group and firmware version (`n/a` when unreadable:
/// under `--root`, or a driver that does not answer `ethtool -i`).
fn pf_heading(p: &PfState) -> String {
    let name = match (&p.vendor_name, &p.device_name) {
        (Some(v), Some(d)) => format!("{v} {d}"),
        (None, Some(d)) => d.clone(),
        _ => String::new(),
    };
    let driver = match (&p.driver, &p.driver_version) {
        (Some(d), Some(v)) => format!("{d} {v}"),
        (Some(d), None) => d.clone(),
        (None, _) => "(none)".to_string(),
    };
    let mut head = format!(
        "PF {}  {}  driver {driver}  {name} [{:04x}:{:04x}]  VFs {} of {}",
        p.label(),
        p.address,
        p.vendor_id,
        p.device_id,
        p.num_vfs,
        p.total_vfs
    );
    if let Some(g) = p.iommu_group {
        head.push_str(&format!("  IOMMU group {g}"));
    }
    head.push_str(&format!(
        "  firmware {}",
        p.firmware.as_deref().unwrap_or(NA)
    ));
    // Known only through netlink (not under --root).
    match (p.up, p.carrier) {
        (Some(false), _) => head.push_str("  link down"),
        (Some(true), Some(true)) => head.push_str("  link up"),
        (Some(true), _) => head.push_str("  link up, no carrier"),
        (None, _) => {}
    }
    head
}

/// VFs whose netdev uses another MAC than the one the PF set for the VF: the
/// PF drops their traffic as spoofed until the VF driver reloads.
fn stale_macs(p: &PfState) -> Vec<String> {
    p.vfs
        .iter()
        .filter_map(|v| {
            let set = v.attrs.as_ref()?.mac.filter(|m| !m.is_zero())?;
            let used = v.link.as_ref()?.mac?;
            (used != set).then(|| {
                format!(
                    "VF {}: netdev {} uses MAC {used}, but the PF set {set} for the VF, so the PF may drop its traffic; reload its driver ({}): `sriov-cli setup` does when the config sets this MAC (--force-unbind if the netdev is in use)",
                    v.index,
                    v.netdev.as_deref().unwrap_or("?"),
                    v.driver.as_deref().unwrap_or("?")
                )
            })
        })
        .collect()
}

pub(crate) fn status(
    ctx: &Ctx,
    out: &mut dyn Write,
    pf: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    let mut host = LiveHost::new(&ctx.root);
    if let Some(n) = &host.nl_note {
        if ctx.verbose > 0 || !json {
            ctx.note(n);
        }
    }
    let st = host.read_state().map_err(CliError::Host)?;
    let pfs: Vec<&PfState> = match pf {
        None => st.pfs.iter().collect(),
        Some(spec) => {
            let found = host
                .sysfs()
                .find_pf(spec)
                .map_err(|e| CliError::Usage(chain(&e)))?;
            let addr = found.address.to_string();
            st.pfs.iter().filter(|p| p.address == addr).collect()
        }
    };
    if json {
        out.write_all(
            crate::render::json(&StatusJson {
                netlink: st.netlink,
                pfs,
            })
            .as_bytes(),
        )?;
        return Ok(0);
    }
    if pfs.is_empty() {
        writeln!(
            out,
            "No SR-IOV capable PCI devices found under {}.",
            ctx.root.display()
        )?;
        return Ok(0);
    }
    let s = ctx.out_style;
    for (i, p) in pfs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let head = pf_heading(p);
        writeln!(out, "{}", s.bold(&head))?;
        if p.vfs.is_empty() {
            writeln!(out, "  no VFs")?;
            continue;
        }
        let rows: Vec<Vec<String>> = p.vfs.iter().map(vf_row).collect();
        out.write_all(
            table(
                &[
                    "VF", "PCI", "NETDEV", "DRIVER", "MAC", "VLAN", "TRUST", "SPOOFCHK", "STATE",
                    "RATE", "IOMMU", "VFIO",
                ],
                &rows,
                s,
            )
            .as_bytes(),
        )?;
        for w in stale_macs(p) {
            ctx.warn(&w);
        }
    }
    Ok(0)
}

pub(crate) fn check_iommu(ctx: &Ctx, out: &mut dyn Write, json: bool) -> Result<u8, CliError> {
    let report = iommu_check::check(&ctx.root).map_err(|e| CliError::Usage(chain(&e)))?;
    if json {
        out.write_all(crate::render::json(&report).as_bytes())?;
    } else {
        let opts = iommu_check::RenderOptions::new(ctx.out_style.color).verbose(ctx.verbose > 0);
        out.write_all(iommu_check::render(&report, opts).as_bytes())?;
    }
    Ok(if report.verdict.is_ready() { 0 } else { 1 })
}

pub(crate) fn enable_iommu(
    ctx: &Ctx,
    out: &mut dyn Write,
    dry_run: bool,
    yes: bool,
) -> Result<u8, CliError> {
    if yes && dry_run {
        return Err(CliError::Usage(
            "--dry-run and --yes contradict each other".into(),
        ));
    }
    if yes && !ctx.live() {
        return Err(CliError::Usage(format!(
            "--yes runs the boot loader refresh command of this machine, which does not act on --root {}; run it inside that system",
            ctx.root.display()
        )));
    }
    let setup = bootcmd::detect(&ctx.root).map_err(|e| CliError::Host(chain(&e)))?;
    let cpuinfo = std::fs::read_to_string(ctx.under_root("/proc/cpuinfo")).unwrap_or_default();
    let vendor = bootcmd::CpuVendor::from_cpuinfo(&cpuinfo).ok_or_else(|| {
        CliError::Host(format!(
            "cannot tell whether this is an Intel or AMD CPU ({} has no vendor_id)",
            ctx.under_root("/proc/cpuinfo").display()
        ))
    })?;
    let edits = bootcmd::iommu_edits(vendor);
    let plan = setup
        .plan(&ctx.root, &edits)
        .map_err(|e| CliError::Host(chain(&e)))?;
    let file = setup.cmdline_file.display().to_string();
    let refresh = setup.refresh_command();
    let loader = match setup.loader {
        bootcmd::Loader::Grub => "GRUB".to_string(),
        bootcmd::Loader::SystemdBoot => "systemd-boot".to_string(),
        other => format!("{other:?}"),
    };
    let firmware = match setup.firmware {
        bootcmd::Firmware::Efi => "UEFI".to_string(),
        bootcmd::Firmware::Bios => "legacy BIOS".to_string(),
        other => format!("{other:?}"),
    };
    let tool = if setup.proxmox_boot_tool {
        ", kept in sync by proxmox-boot-tool"
    } else {
        ""
    };
    writeln!(
        out,
        "Boot setup: {loader} ({firmware}{tool}); the command line lives in {file}."
    )?;
    if ctx.verbose > 0 {
        for w in &setup.why {
            writeln!(out, "  {w}")?;
        }
    }
    for n in &plan.notes {
        ctx.note(n);
    }
    if plan.is_noop() {
        writeln!(
            out,
            "{file} already has the IOMMU options: {}",
            plan.configured.to_string().trim_end()
        )?;
        let (msg, run) = noop_next_step(
            &refresh,
            !setup.refresh.is_empty(),
            plan.reboot_pending(),
            dry_run,
            yes,
        );
        if let Some(msg) = msg {
            writeln!(out, "{msg}")?;
        }
        if !run {
            return Ok(0);
        }
        return run_refresh(out, &setup.refresh, &refresh, &file);
    }
    out.write_all(plan.diff().as_bytes())?;
    if dry_run {
        writeln!(out, "Dry run: nothing was written. Without --dry-run, {file} is changed; then run `{refresh}` and reboot.")?;
        return Ok(0);
    }
    plan.apply().map_err(|e| CliError::Host(chain(&e)))?;
    writeln!(out, "Wrote {file}.")?;
    if !yes {
        writeln!(
            out,
            "Now run `{refresh}` and reboot (or re-run with --yes to run it)."
        )?;
        return Ok(0);
    }
    if setup.refresh.is_empty() {
        writeln!(
            out,
            "No refresh command is needed; reboot to use the new command line."
        )?;
        return Ok(0);
    }
    run_refresh(out, &setup.refresh, &refresh, &file)
}

/// What `enable-iommu` says (and whether it runs the refresh command) when the
/// file already holds the options. When the running kernel lacks them the
/// refresh may never have run: `--yes` runs it anyway (it is idempotent).
fn noop_next_step(
    refresh: &str,
    has_refresh: bool,
    reboot_pending: bool,
    dry_run: bool,
    yes: bool,
) -> (Option<String>, bool) {
    if !reboot_pending {
        return (None, false);
    }
    if !has_refresh {
        return (
            Some("The running kernel does not have them yet: reboot.".to_string()),
            false,
        );
    }
    if dry_run {
        return (Some(format!("The running kernel does not have them yet. Dry run: without --dry-run, --yes would run `{refresh}` (idempotent, in case it never ran); then reboot.")), false);
    }
    if yes {
        return (Some(format!("The running kernel does not have them yet: running `{refresh}` anyway (idempotent, in case it never ran).")), true);
    }
    (Some(format!("The running kernel does not have them yet: reboot (after `{refresh}` if you have not run it, or re-run with --yes to run it).")), false)
}

/// Runs the boot loader refresh command directly (no shell), inheriting
/// stdout/stderr.
fn run_refresh(
    out: &mut dyn Write,
    cmd: &[String],
    refresh: &str,
    file: &str,
) -> Result<u8, CliError> {
    let Some((prog, args)) = cmd.split_first() else {
        return Ok(0);
    };
    out.flush()?;
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .map_err(|e| CliError::Host(format!("running `{refresh}`: {e}")))?;
    if !status.success() {
        return Err(CliError::Host(format!("`{refresh}` failed ({status}); {file} is already changed, fix the cause and run it again")));
    }
    writeln!(out, "Ran `{refresh}`. Reboot to use the new command line.")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_with_a_pending_reboot_runs_the_refresh_with_yes() {
        let r = "proxmox-boot-tool refresh";
        // --yes: run it anyway, and say so.
        let (m, run) = noop_next_step(r, true, true, false, true);
        let m = m.unwrap();
        assert!(run);
        assert!(
            m.contains("running `proxmox-boot-tool refresh` anyway"),
            "{m}"
        );
        // --dry-run: say what would run, run nothing.
        let (m, run) = noop_next_step(r, true, true, true, false);
        let m = m.unwrap();
        assert!(!run);
        assert!(
            m.contains("--yes would run `proxmox-boot-tool refresh`"),
            "{m}"
        );
        // Neither: the hint.
        let (m, run) = noop_next_step(r, true, true, false, false);
        let m = m.unwrap();
        assert!(!run && m.contains("re-run with --yes"), "{m}");
        // Running kernel already has them, or no refresh command: nothing runs.
        assert!(!noop_next_step(r, true, false, false, true).1);
        assert!(!noop_next_step("", false, true, false, true).1);
    }

    #[test]
    fn heading_shows_driver_and_firmware_versions_where_readable() {
        let mut p = PfState {
            address: "0000:02:00.0".into(),
            netdevs: vec!["enp2s0f0".into()],
            driver: Some("i40e".into()),
            total_vfs: 64,
            vendor_id: 0x8086,
            device_id: 0x1572,
            device_name: Some("X710".into()),
            ..PfState::default()
        };
        assert_eq!(
            pf_heading(&p),
            "PF enp2s0f0  0000:02:00.0  driver i40e  X710 [8086:1572]  VFs 0 of 64  firmware n/a"
        );
        p.driver_version = Some("6.8.12-4-pve".into());
        p.firmware = Some("9.20 0x8000d95e 1.3146.0".into());
        p.iommu_group = Some(20);
        assert_eq!(
            pf_heading(&p),
            "PF enp2s0f0  0000:02:00.0  driver i40e 6.8.12-4-pve  X710 [8086:1572]  VFs 0 of 64  IOMMU group 20  firmware 9.20 0x8000d95e 1.3146.0"
        );
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["driver_version"], "6.8.12-4-pve");
        assert_eq!(j["firmware"], "9.20 0x8000d95e 1.3146.0");
        // Link state, only when netlink saw it.
        assert!(j.get("up").is_none());
        p.up = Some(true);
        p.carrier = Some(false);
        assert!(pf_heading(&p).ends_with("  link up, no carrier"));
        p.carrier = Some(true);
        assert!(pf_heading(&p).ends_with("  link up"));
        p.up = Some(false);
        assert!(pf_heading(&p).ends_with("  link down"));
    }

    #[test]
    fn a_netdev_mac_other_than_the_pf_set_one_is_named() {
        use crate::state::{LinkInfo, VfAttrs, VfState};
        let vf = |i: u32, set: &str, used: &str| VfState {
            index: i,
            netdev: Some(format!("eth{i}")),
            driver: Some("igbvf".into()),
            attrs: Some(VfAttrs {
                mac: Some(set.parse().unwrap()),
                ..VfAttrs::default()
            }),
            link: Some(LinkInfo {
                mac: Some(used.parse().unwrap()),
                ..LinkInfo::default()
            }),
            ..VfState::default()
        };
        let p = PfState {
            vfs: vec![
                vf(0, "02:00:00:00:00:01", "02:00:00:00:00:01"),
                vf(1, "02:00:00:00:00:02", "7e:11:22:33:44:55"),
                // No MAC set by the PF (zero): nothing to compare.
                vf(2, "00:00:00:00:00:00", "7e:11:22:33:44:56"),
            ],
            ..PfState::default()
        };
        let w = stale_macs(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "VF 1: netdev eth1 uses MAC 7e:11:22:33:44:55, but the PF set 02:00:00:00:00:02"
            ),
            "{}",
            w[0]
        );
    }
}
