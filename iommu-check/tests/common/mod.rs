//! Fixture hosts: temp-dir trees shaped like the files the real kernel shows.
//!
//! Shapes come from the QEMU test bed (../shared/vm-testbed.md: q35 + intel-iommu
//! with intremap=on, EPYC + amd-iommu with intremap=off, no IOMMU) and from Proxmox
//! hosts (ZFS root on systemd-boot, `intel_iommu=on iommu=pt`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

pub struct Host {
    root: PathBuf,
    /// Owns the temp dir (ours or the sysfs-sriov fixture's).
    _keep: Box<dyn std::any::Any>,
}

impl Host {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Host {
            root: dir.path().to_path_buf(),
            _keep: Box::new(dir),
        }
    }

    /// A host whose PCI tree comes from sysfs-sriov's fixture builder.
    pub fn with_pci(builder: HostBuilder) -> Self {
        let host = builder.build().expect("fixture");
        Host {
            root: host.root().to_path_buf(),
            _keep: Box::new(host),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Rewrites every group's `type` (the fixture writes `DMA`).
    pub fn group_types(&self, kind: &str) -> &Self {
        for e in fs::read_dir(self.path("sys/kernel/iommu_groups")).unwrap() {
            fs::write(e.unwrap().path().join("type"), format!("{kind}\n")).unwrap();
        }
        self
    }

    /// Adds PCI device `addr` (no driver) to IOMMU group `group`.
    pub fn add_to_group(&self, group: u32, addr: &str, class: &str) -> &Self {
        let dev = format!("sys/devices/pci0000:00/{addr}");
        self.file(&format!("{dev}/class"), format!("{class}\n"))
            .file(&format!("{dev}/vendor"), "0x8086\n")
            .file(&format!("{dev}/device"), "0xa382\n")
            .symlink(
                &format!("sys/bus/pci/devices/{addr}"),
                &format!("../../../devices/pci0000:00/{addr}"),
            )
            .symlink(
                &format!("{dev}/iommu_group"),
                &format!("../../../kernel/iommu_groups/{group}"),
            )
            .symlink(
                &format!("sys/kernel/iommu_groups/{group}/devices/{addr}"),
                &format!("../../../../devices/pci0000:00/{addr}"),
            )
    }

    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Self {
        fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        if fs::symlink_metadata(&p).is_ok() {
            fs::remove_file(&p).unwrap();
        }
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Self {
        let p = self.path(rel);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
        self
    }

    // --- CPU -----------------------------------------------------------------

    pub fn cpu(&self, vendor: &str, model: &str, flags: &str) -> &Self {
        let mut text = String::new();
        for n in 0..2 {
            text.push_str(&format!(
                "processor\t: {n}\nvendor_id\t: {vendor}\ncpu family\t: 6\nmodel name\t: {model}\nflags\t\t: {flags}\n\n"
            ));
        }
        self.file("proc/cpuinfo", text)
    }

    pub fn intel_cpu(&self) -> &Self {
        self.cpu(
            "GenuineIntel",
            "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz",
            "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx smx est x2apic",
        )
    }

    pub fn amd_cpu(&self) -> &Self {
        self.cpu(
            "AuthenticAMD",
            "AMD EPYC Processor",
            "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr svm hypervisor",
        )
    }

    // --- Firmware ------------------------------------------------------------

    pub fn acpi_tables(&self) -> &Self {
        self.file("sys/firmware/acpi/tables/APIC", b"APIC\0\0\0\0")
            .file("sys/firmware/acpi/tables/FACP", b"FACP\0\0\0\0")
    }

    /// A DMAR table header with the given flags byte (offset 37).
    pub fn dmar(&self, flags: u8) -> &Self {
        let mut t = vec![0u8; 48];
        t[..4].copy_from_slice(b"DMAR");
        t[4..8].copy_from_slice(&48u32.to_le_bytes());
        t[36] = 38; // host address width - 1
        t[37] = flags;
        self.acpi_tables().file("sys/firmware/acpi/tables/DMAR", t)
    }

    pub fn ivrs(&self) -> &Self {
        let mut t = vec![0u8; 48];
        t[..4].copy_from_slice(b"IVRS");
        self.acpi_tables().file("sys/firmware/acpi/tables/IVRS", t)
    }

    // --- Kernel IOMMU ----------------------------------------------------------

    pub fn iommu_unit(&self, name: &str) -> &Self {
        self.dir(&format!("sys/devices/virtual/iommu/{name}"))
            .symlink(
                &format!("sys/class/iommu/{name}"),
                &format!("../../devices/virtual/iommu/{name}"),
            )
    }

    /// An Intel unit with its `ecap` register (bit 3: interrupt remapping).
    pub fn dmar_unit(&self, name: &str, ecap: &str) -> &Self {
        self.iommu_unit(name).file(
            &format!("sys/devices/virtual/iommu/{name}/intel-iommu/ecap"),
            format!("{ecap}\n"),
        )
    }

    pub fn empty_iommu(&self) -> &Self {
        self.dir("sys/class/iommu").dir("sys/kernel/iommu_groups")
    }

    /// Group `n` with default domain `kind` and the given device names.
    pub fn group(&self, n: u32, kind: &str, devices: &[&str]) -> &Self {
        let g = format!("sys/kernel/iommu_groups/{n}");
        if self.path(&g).exists() {
            self.remove(&g);
        }
        self.file(&format!("{g}/type"), format!("{kind}\n"));
        self.dir(&format!("{g}/devices"));
        for d in devices {
            self.symlink(
                &format!("{g}/devices/{d}"),
                &format!("../../../../devices/pci0000:00/{d}"),
            );
        }
        self
    }

    // --- /proc -----------------------------------------------------------------

    pub fn cmdline(&self, text: &str) -> &Self {
        self.file("proc/cmdline", format!("{text}\n"))
    }

    /// `/proc/interrupts` of the q35 guest with intel-iommu,intremap=on.
    pub fn interrupts_remapped(&self) -> &Self {
        self.file(
            "proc/interrupts",
            "           CPU0       CPU1       \n  0:         41          0   IR-IO-APIC    2-edge      timer\n  4:          0        312   IR-IO-APIC    4-edge      ttyS0\n 24:          0          0   DMAR-MSI    0-edge      dmar0\n 25:          0         17   IR-PCI-MSIX-0000:01:00.0    0-edge      eth0\nNMI:          0          0   Non-maskable interrupts\nLOC:       1000       1000   Local timer interrupts\n",
        )
    }

    /// `/proc/interrupts` without remapping (no IOMMU, or `intremap=off`).
    pub fn interrupts_plain(&self) -> &Self {
        self.file(
            "proc/interrupts",
            "           CPU0       CPU1       \n  0:         41          0   IO-APIC    2-edge      timer\n  4:          0        312   IO-APIC    4-edge      ttyS0\n 25:          0         17   PCI-MSIX-0000:01:00.0    0-edge      eth0\nNMI:          0          0   Non-maskable interrupts\n",
        )
    }

    /// vfio, vfio_pci, vfio_iommu_type1 loaded (as after the test bed's insmod).
    pub fn vfio_loaded(&self) -> &Self {
        self.file(
            "proc/modules",
            "vfio_pci 16384 0 - Live 0x0000000000000000\nvfio_pci_core 86016 1 vfio_pci, Live 0x0000000000000000\nvfio_iommu_type1 45056 0 - Live 0x0000000000000000\nvfio 61440 3 vfio_pci_core,vfio_iommu_type1,vfio_pci, Live 0x0000000000000000\nigb 286720 0 - Live 0x0000000000000000\n",
        );
        for m in ["vfio", "vfio_pci", "vfio_iommu_type1"] {
            self.file(&format!("sys/module/{m}/initstate"), "live\n");
        }
        self.file(
            "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            "N\n",
        )
        .file("dev/vfio/vfio", "")
    }

    /// Modules installed for the running kernel but not loaded.
    pub fn vfio_installed(&self) -> &Self {
        self.file("proc/sys/kernel/osrelease", "6.8.12-4-pve\n")
            .file("proc/modules", "igb 286720 0 - Live 0x0000000000000000\n")
            .file(
                "lib/modules/6.8.12-4-pve/modules.dep",
                "kernel/drivers/vfio/vfio.ko: kernel/drivers/vfio/iommufd.ko\nkernel/drivers/vfio/vfio_iommu_type1.ko: kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/pci/vfio-pci-core.ko kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/pci/vfio-pci-core.ko: kernel/drivers/vfio/vfio.ko\n",
            )
            .file("lib/modules/6.8.12-4-pve/modules.builtin", "kernel/drivers/pci/pci-stub.ko\n")
    }

    /// vfio compiled in: `/sys/module/<m>` (parameters) without `initstate`.
    pub fn vfio_builtin(&self) -> &Self {
        self.file("proc/modules", "")
            .file(
                "sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
                "N\n",
            )
            .file("sys/module/vfio_pci/parameters/ids", "\n")
            .file(
                "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
                "N\n",
            )
    }

    // --- boot configuration ----------------------------------------------------

    /// Proxmox VE on UEFI + ZFS: proxmox-boot-tool with systemd-boot, the command line
    /// in /etc/kernel/cmdline (one line).
    pub fn proxmox_systemd_boot(&self, configured: &str) -> &Self {
        self.dir("sys/firmware/efi/efivars")
            .file("etc/kernel/proxmox-boot-uuids", "3C1D-5F2A\n")
            .file("etc/kernel/cmdline", format!("{configured}\n"))
    }

    /// Debian/Proxmox with GRUB on legacy BIOS.
    pub fn grub(&self, default_line: &str) -> &Self {
        self.file(
            "etc/default/grub",
            format!(
                "# If you change this file, run 'update-grub' afterwards.\nGRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT=\"{default_line}\"\nGRUB_CMDLINE_LINUX=\"\"\n"
            ),
        )
    }

    // --- containers ----------------------------------------------------------

    pub fn lxc(&self) -> &Self {
        self.file("proc/1/environ", "container=lxc\0PATH=/usr/bin\0")
            .file("run/systemd/container", "lxc\n")
            .file("proc/1/cgroup", "0::/init.scope\n")
    }

    // --- whole hosts -----------------------------------------------------------

    /// Proxmox on Intel, VT-d with interrupt remapping, `intel_iommu=on iommu=pt`.
    pub fn intel_pt() -> Self {
        let h = Host::new();
        h.intel_pt_base()
            .group(0, "identity", &["0000:00:00.0"])
            .group(1, "identity", &["0000:00:01.0"])
            .group(2, "identity", &["0000:00:1f.0", "0000:00:1f.3"]);
        h
    }

    /// [`Host::intel_pt`] with the PCI devices of a sysfs-sriov fixture.
    pub fn intel_pt_sriov(builder: HostBuilder) -> Self {
        let h = Host::with_pci(builder);
        h.intel_pt_base().group_types("identity");
        h
    }

    /// An X710 with `vfs` VFs at 0000:02:00.0 (netdev enp2s0f0), VF `vfio` on vfio-pci.
    pub fn x710(vfs: u16, vfio: &[u32]) -> HostBuilder {
        let mut spec = PfSpec::intel_x710("0000:02:00.0".parse().unwrap())
            .netdev("enp2s0f0")
            .vfs(vfs);
        for i in vfio {
            spec = spec.vf_driver_at(*i, VfDriver::VfioPci);
        }
        HostBuilder::new().pf(spec)
    }

    fn intel_pt_base(&self) -> &Self {
        self.intel_cpu()
            .dmar(0x01)
            .dmar_unit("dmar0", "f0205e")
            .dmar_unit("dmar1", "f0205e")
            .cmdline("BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 ro boot=zfs intel_iommu=on iommu=pt quiet")
            .interrupts_remapped()
            .vfio_loaded()
            .file("proc/1/cgroup", "0::/init.scope\n")
    }

    /// The test bed's AMD guest: EPYC, amd-iommu, booted with `intremap=off`.
    pub fn amd_no_ir() -> Self {
        let h = Host::new();
        h.amd_cpu()
            .ivrs()
            .iommu_unit("ivhd0")
            .group(0, "identity", &["0000:00:00.0"])
            .group(1, "identity", &["0000:01:00.0"])
            .cmdline("console=ttyS0 iommu=pt intremap=off panic=-1 quiet")
            .interrupts_plain()
            .vfio_loaded();
        h
    }

    /// No IOMMU in firmware or kernel (the test bed without an iommu device).
    pub fn no_iommu() -> Self {
        let h = Host::new();
        h.intel_cpu()
            .acpi_tables()
            .empty_iommu()
            .cmdline("BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet")
            .interrupts_plain()
            .vfio_installed();
        h
    }
}
