//! Prints the readiness report for a root directory (default `/`):
//! `cargo run -p iommu-check --example check -- [ROOT] [--json]`.

use std::io::{IsTerminal, Write};

fn main() -> std::process::ExitCode {
    let mut root = "/".to_owned();
    let mut json = false;
    for arg in std::env::args().skip(1) {
        if arg == "--json" {
            json = true;
        } else {
            root = arg;
        }
    }
    let report = match iommu_check::check(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => writeln!(out, "{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    } else {
        let opts = iommu_check::RenderOptions::new(std::io::stdout().is_terminal());
        iommu_check::write_report(&mut out, &report, opts).map_err(std::io::Error::other)
    };
    if report.verdict.is_ready() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}
