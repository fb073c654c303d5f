//! `sriov-cli`: declarative SR-IOV VF setup for Linux and Proxmox VE hosts.
//!
//! All the work happens in [`sriov_cli::run`]; this file only maps its result
//! to the process exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match sriov_cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}
