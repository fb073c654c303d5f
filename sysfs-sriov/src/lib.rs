//! `sysfs-sriov`: work in progress.
