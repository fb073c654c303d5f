//! Checks for names that become path components, done before any path is built.

use crate::error::Error;

/// Longest netdev name: `IFNAMSIZ - 1`.
pub const IFNAME_MAX: usize = 15;

/// Longest single path component (`NAME_MAX`).
pub const COMPONENT_MAX: usize = 255;

fn err(kind: &'static str, name: &str, reason: &'static str) -> Error {
    Error::InvalidName {
        kind,
        name: name.chars().take(64).collect(),
        reason,
    }
}

/// Checks that `name` is one harmless path component: not empty, not `.`/`..`, no
/// `/`, no NUL, no control characters, at most `max` bytes.
pub(crate) fn check_component(kind: &'static str, name: &str, max: usize) -> Result<(), Error> {
    if name.is_empty() {
        return Err(err(kind, name, "empty"));
    }
    if name.len() > max {
        return Err(err(kind, name, "too long"));
    }
    if name == "." || name == ".." {
        return Err(err(kind, name, "`.` and `..` are not names"));
    }
    if name.contains('/') {
        return Err(err(kind, name, "contains `/`"));
    }
    if name.contains('\0') {
        return Err(err(kind, name, "contains NUL"));
    }
    if name.chars().any(char::is_control) {
        return Err(err(kind, name, "contains a control character"));
    }
    Ok(())
}

/// Checks that a network interface name is safe to use as a path component under
/// `sys/class/net`: not empty, at most [`IFNAME_MAX`] (15) bytes, not `.`/`..`, no
/// `/`, no NUL, no control characters.
///
/// This is only what this crate needs before building a path. The kernel's full
/// rule for interface names (`dev_valid_name()` in `net/core/dev.c`, which also
/// refuses `:` and whitespace) lives in one place, `netlink_vf::IfName`; parse a
/// name there before creating or renaming an interface.
///
/// # Errors
/// [`Error::InvalidName`] naming the rule broken.
pub fn check_netdev_name(name: &str) -> Result<(), Error> {
    check_component("netdev", name, IFNAME_MAX)
}

/// Checks a PCI driver name (a directory under `/sys/bus/pci/drivers`): one path
/// component without whitespace.
///
/// # Errors
/// [`Error::InvalidName`] naming the rule broken.
pub fn check_driver_name(name: &str) -> Result<(), Error> {
    check_component("driver", name, COMPONENT_MAX)?;
    if name.chars().any(char::is_whitespace) {
        return Err(err("driver", name, "contains whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_names() {
        // Not all of these are valid kernel interface names (`:` and whitespace
        // are refused by dev_valid_name(), see netlink_vf::IfName), but each is
        // one safe path component.
        for ok in [
            "eth0",
            "enp2s0f0v63",
            "a",
            "x23456789012345",
            "eth0:1",
            "eth 0",
            "...",
            "ünï",
        ] {
            assert!(check_netdev_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../eth0",
            "eth/0",
            "/",
            "eth0\0",
            "x234567890123456",
            "eth\n",
            "eth\t0",
            "e\u{7f}",
            // 16 bytes in 8 characters.
            "éééééééé",
        ] {
            assert!(
                matches!(
                    check_netdev_name(bad),
                    Err(Error::InvalidName { kind: "netdev", .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn driver_names() {
        assert!(check_driver_name("vfio-pci").is_ok());
        assert!(check_driver_name("mlx5_core").is_ok());
        for bad in ["", "..", "a/b", "a\0", "a b", &"x".repeat(256)] {
            assert!(check_driver_name(bad).is_err(), "{bad:?}");
        }
    }
}
