//! `qm`, Proxmox VE's VM tool: the one program this crate spawns for VMs.
//! Spawned without a shell (arguments as a list), so no value is ever
//! interpreted by one. `qm set` takes the VM's config lock and validates
//! the value itself (qemu-server src/PVE/API2/Qemu.pm `update_vm`).

use std::ffi::OsString;
use std::process::Command;

/// The environment variable naming the `qm` binary (tests, a wrapper).
pub(crate) const ENV: &str = "SRIOV_CLI_QM";

/// The binary: `$SRIOV_CLI_QM`, else `qm` looked up on PATH.
pub(crate) fn program() -> OsString {
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "qm".into())
}

/// The arguments of `qm set <vmid> --hostpci<index> <value>`.
pub(crate) fn set_args(vmid: u32, index: u32, value: &str) -> Vec<String> {
    vec![
        "set".into(),
        vmid.to_string(),
        format!("--hostpci{index}"),
        value.to_string(),
    ]
}

/// Runs `qm set <vmid> --hostpci<index> <value>`.
///
/// # Errors
/// A message with the command and what qm said (or why it did not run).
pub(crate) fn set(vmid: u32, index: u32, value: &str) -> Result<(), String> {
    let prog = program();
    let args = set_args(vmid, index, value);
    let shown = format!("{} {}", prog.to_string_lossy(), args.join(" "));
    let out = Command::new(&prog).args(&args).output().map_err(|e| {
        format!("cannot run `{shown}`: {e} (is this a Proxmox VE host? qm is in the qemu-server package; ${ENV} names another binary)")
    })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "`{shown}` failed ({}): {}",
        out.status,
        crate::render::one_line(err.trim())
    ))
}
