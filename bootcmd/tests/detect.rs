//! Boot-setup detection on fixture roots built in temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use bootcmd::{detect, CmdlineSource, Error, Firmware, Loader};

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

const SB_VAR: &str = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e42b9f8e5d8a";

#[test]
fn proxmox_secure_boot_means_grub() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "etc/kernel/proxmox-boot-uuids", b"A1B2-C3D4\n");
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n",
    );
    put(r, SB_VAR, &[6, 0, 0, 0, 1]);
    let s = detect(r).unwrap();
    assert_eq!(
        (s.firmware, s.loader, s.secure_boot),
        (Firmware::Efi, Loader::Grub, true)
    );
    assert_eq!(s.source, CmdlineSource::GrubDefaults);
    assert_eq!(s.refresh_command(), "proxmox-boot-tool refresh");
    assert!(s.certain);
    assert!(
        s.why.iter().any(|w| w.contains("Secure Boot")),
        "{:?}",
        s.why
    );
}

#[test]
fn proxmox_secure_boot_off_and_no_evidence_is_a_guess() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(
        r,
        "etc/kernel/proxmox-boot-uuids",
        b"# comment only lines do not count\nA1B2-C3D4\n",
    );
    put(r, SB_VAR, &[6, 0, 0, 0, 0]);
    let s = detect(r).unwrap();
    assert_eq!(s.loader, Loader::SystemdBoot);
    assert!(!s.certain, "{:?}", s.why);
}

#[test]
fn proxmox_grub_seen_on_mounted_esp() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "etc/kernel/proxmox-boot-uuids", b"A1B2-C3D4\n");
    put(
        r,
        "etc/kernel/cmdline",
        b"root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    );
    put(r, "sys/firmware/efi/runtime", b"");
    put(
        r,
        "var/tmp/espmounts/A1B2-C3D4/EFI/proxmox/grubx64.efi",
        b"",
    );
    let s = detect(r).unwrap();
    assert_eq!(s.loader, Loader::Grub, "{:?}", s.why);
    assert!(s
        .why
        .iter()
        .any(|w| w.contains("/var/tmp/espmounts/A1B2-C3D4/EFI/proxmox/grubx64.efi")));
}

#[test]
fn running_cmdline_beats_guesses() {
    // GRUB booted this proxmox-boot-tool EFI system even though /etc/kernel/cmdline exists.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "etc/kernel/proxmox-boot-uuids", b"A1B2-C3D4\n");
    put(
        r,
        "etc/kernel/cmdline",
        b"root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    );
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n",
    );
    put(r, "sys/firmware/efi/runtime", b"");
    put(
        r,
        "proc/cmdline",
        b"BOOT_IMAGE=/ROOT/pve-1@/boot/vmlinuz-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 ro quiet\n",
    );
    let s = detect(r).unwrap();
    assert_eq!(s.loader, Loader::Grub);
    assert!(s.why.iter().any(|w| w.contains("BOOT_IMAGE=")));
}

#[test]
fn plain_grub_on_efi_and_grub2_mkconfig() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX=\"rhgb quiet\"\n",
    );
    put(r, "sys/firmware/efi/runtime", b"");
    put(r, "usr/sbin/grub2-mkconfig", b"");
    put(r, "boot/grub2/grub.cfg", b"");
    let s = detect(r).unwrap();
    assert_eq!((s.loader, s.proxmox_boot_tool), (Loader::Grub, false));
    assert_eq!(
        s.refresh_command(),
        "grub2-mkconfig -o /boot/grub2/grub.cfg"
    );
    put(r, "usr/sbin/update-grub", b"");
    assert_eq!(detect(r).unwrap().refresh_command(), "update-grub");
}

#[test]
fn kernel_cmdline_without_efi_is_not_systemd_boot() {
    // A BIOS machine with a stray /etc/kernel/cmdline and GRUB: GRUB.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "etc/kernel/cmdline", b"root=/dev/sda1\n");
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n",
    );
    assert_eq!(detect(r).unwrap().loader, Loader::Grub);
}

#[test]
fn nothing_is_an_error_with_reasons() {
    let d = tempfile::tempdir().unwrap();
    match detect(d.path()) {
        Err(Error::UnknownBootSetup { reasons, .. }) => {
            assert!(reasons.contains("legacy BIOS"), "{reasons}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn plan_dry_run_writes_nothing_and_diffs() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n",
    );
    let s = detect(r).unwrap();
    let plan = s
        .plan(r, &bootcmd::iommu_edits(bootcmd::CpuVendor::Intel))
        .unwrap();
    assert_eq!(
        plan.diff(),
        "--- a/etc/default/grub\n+++ b/etc/default/grub\n@@ -1,2 +1,2 @@\n-GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n+GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"\n GRUB_CMDLINE_LINUX=\"\"\n"
    );
    assert_eq!(
        fs::read_to_string(r.join("etc/default/grub")).unwrap(),
        "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n"
    );
    assert!(plan.pending.is_none());
}

#[test]
fn loader_info_efi_variable_means_systemd_boot() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(r, "etc/kernel/proxmox-boot-uuids", b"A1B2-C3D4\n");
    put(
        r,
        "etc/kernel/cmdline",
        b"root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    );
    put(
        r,
        "etc/default/grub",
        b"GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n",
    );
    let mut var = vec![6u8, 0, 0, 0];
    for u in "systemd-boot 252.33".encode_utf16().chain([0]) {
        var.extend_from_slice(&u.to_le_bytes());
    }
    put(
        r,
        "sys/firmware/efi/efivars/LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f",
        &var,
    );
    let s = detect(r).unwrap();
    assert_eq!(s.loader, Loader::SystemdBoot);
    assert!(s.certain);
    assert!(
        s.why.iter().any(|w| w.contains("systemd-boot 252.33")),
        "{:?}",
        s.why
    );
}

#[test]
fn exported_assignment_is_edited() {
    let t = "export GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n";
    let out = bootcmd::grub::edit_text(t, &[bootcmd::Edit::ensure("iommu", "pt")]).unwrap();
    assert_eq!(
        out,
        "export GRUB_CMDLINE_LINUX_DEFAULT=\"quiet iommu=pt\"\n"
    );
}
