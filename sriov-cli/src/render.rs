//! Text rendering: the plan as a diff, apply reports, tables, colour.
//!
//! Everything here returns strings; `run` decides where they go. Colour is
//! used only when the caller says stdout is a terminal (and `NO_COLOR` is unset).

use std::fmt::Write as _;

use serde::Serialize;

use crate::plan::{Change, Status, Step};

/// ANSI colour, or none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Emit ANSI escapes.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Red.
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Green.
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Yellow.
    pub fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Cyan.
    pub fn cyan(self, s: &str) -> String {
        self.paint("36", s)
    }
    /// Bold.
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// The plan as a unified-diff-like text: `-` the live value (omitted when
/// unknown), `+` the wanted one, grouped by PF and VF in application order.
pub fn diff(changes: &[Change], target: &str, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.bold("--- live"));
    let _ = writeln!(out, "{}", style.bold(&format!("+++ {target}")));
    let mut last: Option<(&str, String)> = None;
    for c in changes {
        let head = c.subject();
        let group = match c.step() {
            Step::PfLink => "PF link",
            Step::NumVfs => "VF count",
            Step::VfAttrs => "vf attributes",
            Step::Driver => "driver",
            Step::Link => "link",
            Step::Address => "addresses",
            Step::Route => "routes",
        };
        let key = (group, head.clone());
        if last.as_ref() != Some(&key) {
            let _ = writeln!(out, "{}", style.cyan(&format!("@@ {head}: {group} @@")));
            last = Some(key);
        }
        if let Some(f) = c.op.from_text() {
            let _ = writeln!(out, "{}", style.red(&format!("-{} {f}", c.label())));
        }
        let _ = writeln!(
            out,
            "{}",
            style.green(&format!("+{} {}", c.label(), c.op.to_text()))
        );
    }
    out
}

/// One line per change after apply: status, the change, detail.
pub fn report(changes: &[Change], style: Style) -> String {
    let mut out = String::new();
    for c in changes {
        let st = format!("{:<8}", c.status.to_string());
        let st = match c.status {
            Status::Applied => style.green(&st),
            Status::Planned | Status::Skipped => style.yellow(&st),
            _ => style.red(&st),
        };
        let _ = write!(out, "{st} {c}");
        if let Some(d) = &c.detail {
            let _ = write!(out, ": {d}");
        }
        out.push('\n');
    }
    out
}

/// `--json` output of `setup`.
#[derive(Debug, Serialize)]
pub struct ChangesJson<'a> {
    /// One entry per change; empty when converged.
    pub changes: &'a [Change],
    /// Warnings (also printed on stderr).
    pub warnings: &'a [String],
    /// Validation errors (exit 2, nothing applied).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub errors: &'a [String],
}

/// Serializes `v` as pretty JSON with a trailing newline.
/// `setup --timings`: one line per phase and per kernel operation (indented
/// under its phase), milliseconds right-aligned, then the whole run.
pub fn timings(lines: &[crate::apply::Timing], total: std::time::Duration) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut s = String::from("timings:\n");
    for t in lines {
        let indent = "  ".repeat(usize::from(t.depth));
        let _ = writeln!(s, "{:>10.1} ms  {indent}{}", ms(t.took), t.what);
    }
    let _ = writeln!(s, "{:>10.1} ms  in all", ms(total));
    s
}

pub fn json<T: Serialize>(v: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// A left-aligned text table with a header row; empty cells show as `-`.
pub fn table(header: &[&str], rows: &[Vec<String>], style: Style) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count().max(1));
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            let c = if c.is_empty() { "-".to_string() } else { c };
            if i + 1 == n {
                out.push_str(&c);
            } else {
                let pad = width
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                out.push_str(&c);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    let h: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let hs = {
        let mut s = String::new();
        line(h, &mut s);
        s
    };
    out.push_str(&style.bold(hs.trim_end()));
    out.push('\n');
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// `msg` with control characters escaped (`\n`, `\u{1b}`), so that a
/// value from the user (a PF argument, a config string) keeps its message on
/// one line and cannot drive the terminal.
pub(crate) fn one_line(msg: &str) -> std::borrow::Cow<'_, str> {
    if !msg.chars().any(char::is_control) {
        return msg.into();
    }
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn timings_indent_operations_under_their_phase() {
        use crate::apply::Timing;
        use std::time::Duration;
        let t = |depth, what: &str, us| Timing {
            depth,
            what: what.into(),
            took: Duration::from_micros(us),
        };
        let s = timings(
            &[
                t(0, "num_vfs", 495_100),
                t(1, "eth0: sriov_numvfs 7", 495_049),
            ],
            Duration::from_millis(1207),
        );
        assert_eq!(
            s,
            "timings:\n     495.1 ms  num_vfs\n     495.0 ms    eth0: sriov_numvfs 7\n    1207.0 ms  in all\n"
        );
    }

    use crate::plan::Op;
    use netlink_vf::{VlanConfig, VlanId};

    fn ch(vf: Option<u32>, op: Op) -> Change {
        Change::new("eno1", "0000:01:00.0".parse().unwrap(), vf, op)
    }

    fn vlan50() -> VlanConfig {
        VlanConfig::new(VlanId::new(50).unwrap())
    }

    #[test]
    fn diff_groups_by_subject() {
        let c = [
            ch(None, Op::NumVfs { from: 0, to: 4 }),
            ch(
                Some(1),
                Op::Vlan {
                    from: None,
                    to: vlan50(),
                },
            ),
            ch(
                Some(1),
                Op::Trust {
                    from: Some(false),
                    to: true,
                },
            ),
            ch(
                Some(1),
                Op::Rename {
                    from: Some("eth2".into()),
                    to: netlink_vf::IfName::new("eth0pve050").unwrap(),
                },
            ),
        ];
        assert_eq!(
            diff(&c, "s.toml", Style::default()),
            "--- live\n+++ s.toml\n\
             @@ PF eno1 (0000:01:00.0): VF count @@\n-num_vfs 0\n+num_vfs 4\n\
             @@ PF eno1 VF 1: vf attributes @@\n+vlan 50\n-trust off\n+trust on\n\
             @@ PF eno1 VF 1: link @@\n-name eth2\n+name eth0pve050\n"
        );
    }

    #[test]
    fn report_lines() {
        let mut c = ch(
            Some(2),
            Op::QueryRss {
                from: Some(false),
                to: true,
            },
        );
        c.status = Status::Refused;
        c.detail = Some("Operation not supported (EOPNOTSUPP)".into());
        assert_eq!(
            report(&[c], Style::default()),
            "refused  PF eno1 VF 2: query_rss off -> on: Operation not supported (EOPNOTSUPP)\n"
        );
    }

    #[test]
    fn json_shape() {
        let c = [ch(
            Some(1),
            Op::Vlan {
                from: None,
                to: vlan50(),
            },
        )];
        let s = json(&ChangesJson {
            changes: &c,
            warnings: &[],
            errors: &[],
        });
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["changes"][0]["status"], "planned");
        assert_eq!(v["changes"][0]["from"], serde_json::Value::Null);
        assert_eq!(v["changes"][0]["step"], "vf_attrs");
        assert!(v.get("errors").is_none());
    }

    #[test]
    fn table_aligns() {
        let t = table(
            &["A", "LONGER"],
            &[vec!["xyz".into(), String::new()]],
            Style::default(),
        );
        assert_eq!(t, "A    LONGER\nxyz  -\n");
    }

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Style { color: true }.red("x"), "\x1b[31mx\x1b[0m");
        assert_eq!(Style { color: false }.red("x"), "x");
    }
}
