//! The running kernel's parameters as key/value pairs, for the checks to query.
//!
//! Parsing is `bootcmd`'s job (kernel `next_arg` rules); this only indexes the result.

/// One parameter: key with `-` folded to `_` (the kernel treats them alike), and the
/// value (`None` for a bare `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

/// Parameters in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KernelArgs {
    pub(crate) args: Vec<Arg>,
}

pub(crate) fn normalize_key(key: &str) -> String {
    key.replace('-', "_")
}

impl KernelArgs {
    pub(crate) fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Self {
        KernelArgs {
            args: pairs
                .into_iter()
                .map(|(k, v)| Arg {
                    key: normalize_key(k.as_ref()),
                    value: v.map(|v| v.as_ref().to_owned()),
                })
                .collect(),
        }
    }

    /// Every occurrence of `key`, in order.
    pub(crate) fn all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Arg> + 'a {
        let key = normalize_key(key);
        self.args.iter().filter(move |a| a.key == key)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.all(key).next().is_some()
    }

    /// The value of the last occurrence (the one the kernel ends up with for
    /// single-valued parameters).
    pub(crate) fn last_value(&self, key: &str) -> Option<&str> {
        self.all(key).last().and_then(|a| a.value.as_deref())
    }

    /// The effective on/off state of a comma-list switch such as `intel_iommu=` where
    /// the kernel applies options left to right across all occurrences.
    pub(crate) fn last_option_among(&self, key: &str, options: &[&str]) -> Option<String> {
        let mut found = None;
        for a in self.all(key) {
            if let Some(v) = &a.value {
                for opt in v.split(',') {
                    if options.contains(&opt) {
                        found = Some(opt.to_owned());
                    }
                }
            }
        }
        found
    }

    /// `key=value` text of the last occurrence, for messages.
    pub(crate) fn show_last(&self, key: &str) -> Option<String> {
        self.all(key).last().map(|a| match &a.value {
            Some(v) => format!("{}={v}", a.key),
            None => a.key.clone(),
        })
    }

    /// The kernel parameter that switches the IOMMU off, if any.
    ///
    /// `intel_iommu=off` (dmar_disabled), `amd_iommu=off`, and `iommu=off` (no_iommu,
    /// which both drivers honour): arch/x86/kernel/pci-dma.c, drivers/iommu/intel/iommu.c,
    /// drivers/iommu/amd/init.c.
    pub(crate) fn iommu_disabled_by(&self) -> Option<String> {
        if self
            .last_option_among("intel_iommu", &["on", "off"])
            .as_deref()
            == Some("off")
        {
            return Some("intel_iommu=off".to_owned());
        }
        if self.last_option_among("amd_iommu", &["off"]).is_some() {
            return Some("amd_iommu=off".to_owned());
        }
        if self
            .last_option_among("iommu", &["off", "on", "force", "pt", "nopt"])
            .as_deref()
            == Some("off")
        {
            return Some("iommu=off".to_owned());
        }
        None
    }

    /// `intremap=off` or `nointremap`: interrupt remapping switched off by the command line.
    pub(crate) fn intremap_disabled_by(&self) -> Option<String> {
        if self.has("nointremap") {
            return Some("nointremap".to_owned());
        }
        match self
            .last_option_among("intremap", &["on", "off"])
            .as_deref()
        {
            Some("off") => Some("intremap=off".to_owned()),
            _ => None,
        }
    }

    /// `vfio_iommu_type1.allow_unsafe_interrupts=1` (or `Y`) on the command line.
    pub(crate) fn unsafe_interrupts(&self) -> bool {
        matches!(
            self.last_value("vfio_iommu_type1.allow_unsafe_interrupts"),
            Some("1" | "Y" | "y" | "on" | "true")
        ) || self
            .all("vfio_iommu_type1.allow_unsafe_interrupts")
            .last()
            .is_some_and(|a| a.value.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Option<&str>)]) -> KernelArgs {
        KernelArgs::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn last_intel_iommu_option_wins() {
        let a = args(&[
            ("intel_iommu", Some("on,sm_on")),
            ("intel_iommu", Some("off")),
        ]);
        assert_eq!(a.iommu_disabled_by().as_deref(), Some("intel_iommu=off"));
        let a = args(&[
            ("intel_iommu", Some("off")),
            ("intel-iommu", Some("igfx_off,on")),
        ]);
        assert_eq!(a.iommu_disabled_by(), None);
        let a = args(&[("iommu", Some("pt")), ("iommu", Some("off"))]);
        assert_eq!(a.iommu_disabled_by().as_deref(), Some("iommu=off"));
    }

    #[test]
    fn intremap_and_unsafe() {
        assert_eq!(
            args(&[("intremap", Some("off"))])
                .intremap_disabled_by()
                .as_deref(),
            Some("intremap=off")
        );
        assert_eq!(
            args(&[("intremap", Some("on"))]).intremap_disabled_by(),
            None
        );
        assert!(
            args(&[("vfio-iommu-type1.allow_unsafe_interrupts", Some("1"))]).unsafe_interrupts()
        );
        assert!(
            !args(&[("vfio_iommu_type1.allow_unsafe_interrupts", Some("0"))]).unsafe_interrupts()
        );
    }
}
