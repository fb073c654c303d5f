//! Proxmox VE guest configs: what `generate lxc --write` and `generate
//! hostpci --write` read and change. The parsing follows PVE's own parsers
//! line by line (named at each function); everything here is pure text in,
//! text out, except [`lock`] (PVE's per-guest flock) and [`qm`] (the one
//! spawned program).

pub(crate) mod lock;
pub(crate) mod lxc;
pub(crate) mod qm;
pub(crate) mod vm;

/// The smallest and largest guest id PVE accepts (`pve-vmid`:
/// PVE/JSONSchema.pm, 100..=999999999); the id becomes a path component.
pub(crate) const VMID_MIN: u32 = 100;
/// See [`VMID_MIN`].
pub(crate) const VMID_MAX: u32 = 999_999_999;

/// Checks a container or VM id given on the command line (`what` is the
/// flag).
pub(crate) fn check_vmid(what: &str, id: u32) -> Result<(), String> {
    if (VMID_MIN..=VMID_MAX).contains(&id) {
        Ok(())
    } else {
        Err(format!(
            "{what} {id}: Proxmox VE guest ids are {VMID_MIN} to {VMID_MAX}"
        ))
    }
}

/// A section header line of a guest config (`[snapname]`, `[pve:pending]`,
/// `[PENDING]`, `[special:cloudinit]`): the name inside the brackets.
/// Both parsers (pve-container src/PVE/LXC/Config.pm `parse_pct_config`,
/// qemu-server src/PVE/QemuServer.pm `parse_vm_config`) start a new
/// section at `^\[...\]\s*$`.
pub(crate) fn section_header(line: &str) -> Option<&str> {
    line.trim_end()
        .strip_prefix('[')?
        .strip_suffix(']')
        .filter(|s| !s.contains(']'))
}

/// A PVE `key: value` line (`^([a-z][a-z_]*\d*):\s*(.+?)\s*$`, both
/// parsers): key and trimmed value.
pub(crate) fn pve_key(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let mut chars = key.chars();
    if !chars.next()?.is_ascii_lowercase() {
        return None;
    }
    let letters = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if !letters.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return None;
    }
    let value = value.trim();
    (!value.is_empty()).then_some((key, value))
}

/// `key` is `prefix<N>` (`net3`, `hostpci0`): N.
pub(crate) fn numbered(key: &str, prefix: &str) -> Option<u32> {
    let n = key.strip_prefix(prefix)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// A line diff of `old` and `new` (one hunk: the common first and last
/// lines are left out), for `--dry-run`; empty when they are equal.
pub(crate) fn diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let post = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ra, rb) = (&a[pre..a.len() - post], &b[pre..b.len() - post]);
    let mut o = format!(
        "--- {path}\n+++ {path}\n@@ -{},{} +{},{} @@\n",
        pre + 1,
        ra.len(),
        pre + 1,
        rb.len()
    );
    for (sign, lines) in [('-', ra), ('+', rb)] {
        for l in lines {
            o.push(sign);
            o.push_str(l.trim_end_matches('\n'));
            o.push('\n');
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_sections_as_pve_parses_them() {
        assert_eq!(pve_key("net0: name=eth0"), Some(("net0", "name=eth0")));
        assert_eq!(
            pve_key("hostpci10:  mapping=a  "),
            Some(("hostpci10", "mapping=a"))
        );
        assert_eq!(pve_key("lxc.net.1.type: phys"), None);
        assert_eq!(pve_key("#net0: x"), None);
        assert_eq!(pve_key("net0:"), None);
        assert_eq!(section_header("[snap1]\n"), Some("snap1"));
        assert_eq!(section_header("[pve:pending]"), Some("pve:pending"));
        assert_eq!(section_header(" [x]"), None);
        assert_eq!(numbered("net12", "net"), Some(12));
        assert_eq!(numbered("network", "net"), None);
        assert!(check_vmid("--ctid", 99).is_err());
        assert!(check_vmid("--ctid", 1_000_000_000).is_err());
        assert!(check_vmid("--ctid", 100).is_ok());
    }

    #[test]
    fn diff_is_one_hunk_around_the_change() {
        let d = diff("/c", "a\nb\nc\n", "a\nx\ny\nc\n");
        assert_eq!(d, "--- /c\n+++ /c\n@@ -2,1 +2,2 @@\n-b\n+x\n+y\n");
        assert_eq!(diff("/c", "a\n", "a\n"), "");
    }
}
