//! The human renderer: one aligned line per check, evidence and remedy under the
//! checks that need attention. Colour is the caller's decision (pass `color: true`
//! only when stdout is a terminal); this module never looks at the terminal.

use std::fmt::Write as _;
use std::io;

use crate::report::{Check, Report, Status, Verdict};

/// How to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// ANSI colours (only when the caller knows the output is a terminal).
    pub color: bool,
    /// Evidence for every check, not only for warnings and failures.
    pub verbose: bool,
}

impl RenderOptions {
    /// Options with colour on or off, not verbose.
    #[must_use]
    pub fn new(color: bool) -> Self {
        RenderOptions {
            color,
            verbose: false,
        }
    }

    /// Also print the evidence of passing checks.
    #[must_use]
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

fn status_color(s: Status) -> &'static str {
    match s {
        Status::Pass => "\x1b[32m",
        Status::Info | Status::Skip => "\x1b[36m",
        Status::Warn => "\x1b[33m",
        Status::Fail => "\x1b[31m",
    }
}

fn label(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Info => "INFO",
        Status::Skip => "SKIP",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    }
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn render_check(out: &mut String, c: &Check, width: usize, opts: RenderOptions, p: &Painter) {
    let _ = writeln!(
        out,
        "{}  {:<width$}  {}",
        p.paint(status_color(c.status), label(c.status)),
        c.title,
        c.summary,
    );
    let indent = " ".repeat(4 + 2);
    let detailed = opts.verbose || c.status.severity() > 0;
    for f in &c.findings {
        if opts.verbose || f.status.severity() > 0 || f.status == Status::Info {
            let _ = writeln!(
                out,
                "{indent}{} {}: {}",
                p.paint(status_color(f.status), &format!("{:<4}", f.status.as_str())),
                f.subject,
                f.message
            );
        }
    }
    if detailed {
        for e in &c.evidence {
            let _ = writeln!(
                out,
                "{indent}{}",
                p.paint(DIM, &format!("{}: {}", e.source, e.observed))
            );
        }
    }
    if c.status.severity() > 0 {
        if let Some(r) = &c.remedy {
            let _ = writeln!(out, "{indent}{} {r}", p.paint(BOLD, "fix:"));
        }
    }
}

/// Renders the report as text (ends with a newline).
#[must_use]
pub fn render(report: &Report, opts: RenderOptions) -> String {
    let p = Painter { color: opts.color };
    let width = report
        .checks
        .iter()
        .map(|c| c.title.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        render_check(&mut out, c, width, opts, &p);
    }
    let verdict = match report.verdict {
        Verdict::Ready => p.paint(status_color(Status::Pass), "READY"),
        _ => p.paint(status_color(Status::Fail), "NOT READY"),
    };
    let mut tail = Vec::new();
    if report.counts.fail > 0 {
        tail.push(plural(report.counts.fail, "failure"));
    }
    if report.counts.warn > 0 {
        tail.push(plural(report.counts.warn, "warning"));
    }
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!(" ({})", tail.join(", "))
    };
    let scope = match &report.container {
        Some(m) => format!(", limited: inside a container ({m})"),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "\n{} {verdict}{tail}{scope}",
        p.paint(BOLD, "PCI passthrough:")
    );
    out
}

/// Writes [`render`]'s text to `w`.
///
/// # Errors
///
/// [`crate::Error::Write`] when the writer fails (a closed pipe, a full disk).
pub fn write_report(
    w: &mut dyn io::Write,
    report: &Report,
    opts: RenderOptions,
) -> crate::Result<()> {
    w.write_all(render(report, opts).as_bytes())
        .map_err(crate::Error::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, CheckId};

    fn sample() -> Report {
        let mut cmd = Check::new(CheckId::Cmdline, Status::Warn, "attention: intremap=off")
            .with_evidence("/proc/cmdline", "iommu=pt intremap=off")
            .with_remedy("Remove `intremap=off`.");
        cmd.push_finding(Status::Warn, "intremap=off", "disables interrupt remapping");
        Report::from_checks(
            vec![
                Check::new(
                    CheckId::Cpu,
                    Status::Pass,
                    "GenuineIntel with Intel VT-x (vmx)",
                )
                .with_evidence("/proc/cpuinfo", "vendor_id: GenuineIntel"),
                cmd,
                Check::new(CheckId::InterruptRemapping, Status::Fail, "off")
                    .with_evidence("/proc/interrupts", "no IR- chip")
                    .with_remedy("Enable it."),
            ],
            None,
        )
    }

    #[test]
    fn plain_text_is_aligned_with_remedies_under_problems() {
        let text = render(&sample(), RenderOptions::new(false));
        assert_eq!(
            text,
            "PASS  CPU                  GenuineIntel with Intel VT-x (vmx)\n\
             WARN  Kernel command line  attention: intremap=off\n\
             \x20     warn intremap=off: disables interrupt remapping\n\
             \x20     /proc/cmdline: iommu=pt intremap=off\n\
             \x20     fix: Remove `intremap=off`.\n\
             FAIL  Interrupt remapping  off\n\
             \x20     /proc/interrupts: no IR- chip\n\
             \x20     fix: Enable it.\n\
             \n\
             PCI passthrough: NOT READY (1 failure, 1 warning)\n"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn verbose_shows_evidence_of_passing_checks() {
        let text = render(&sample(), RenderOptions::new(false).verbose(true));
        assert!(text.contains("      /proc/cpuinfo: vendor_id: GenuineIntel\n"));
    }

    #[test]
    fn colour_only_when_asked() {
        let text = render(&sample(), RenderOptions::new(true));
        assert!(text.starts_with("\x1b[32mPASS\x1b[0m  CPU"));
        assert!(text.contains("\x1b[31mNOT READY\x1b[0m"));
    }

    #[test]
    fn writes_to_any_writer() {
        let mut out = Vec::new();
        write_report(&mut out, &sample(), RenderOptions::default()).unwrap();
        assert_eq!(
            out,
            render(&sample(), RenderOptions::default()).into_bytes()
        );
    }
}
