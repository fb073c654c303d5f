# shellcheck shell=sh
# enable-iommu --yes on a real (guest) root: the GRUB defaults file edited in
# place, the boot loader's refresh command really run (a stub on PATH that
# records its arguments), a second run changing nothing; then the same for a
# Proxmox host (proxmox-boot-tool on legacy BIOS keeps GRUB).
LOG=/tmp/refresh.log
stub() { # PATH-NAME: a refresh command that records how it was called
    mkdir -p "$(dirname "$1")"
    printf '#!/bin/sh\necho "%s $*" >>%s\n' "$(basename "$1")" "$LOG" >"$1"
    chmod +x "$1"
}
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | sed 's/.*: //')
want="iommu=pt"
[ "$vendor" = GenuineIntel ] && want="intel_iommu=on iommu=pt"
cleanup() {
    rm -rf /etc/default/grub /etc/kernel /usr/sbin/update-grub /usr/sbin/proxmox-boot-tool "$LOG" /etc/default/grub.*
}
cleanup

# 1. Plain Debian GRUB.
mkdir -p /etc/default
printf 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n' >/etc/default/grub
cp /etc/default/grub /tmp/grub.before
stub /usr/sbin/update-grub
cli enable-iommu --dry-run
expect_rc bootcfg.grub_dry_run_exit 0
if cmp -s /etc/default/grub /tmp/grub.before && [ ! -e "$LOG" ]; then pass bootcfg.grub_dry_run_changed_nothing ""; else
    fail bootcfg.grub_dry_run_changed_nothing "$(diff /tmp/grub.before /etc/default/grub | tr '\n' ' ') $(cat "$LOG" 2>/dev/null)"; fi
cli enable-iommu --yes
expect_rc bootcfg.grub_yes_exit 0
expect_eq bootcfg.grub_line "$(grep '^GRUB_CMDLINE_LINUX_DEFAULT=' /etc/default/grub)" "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet $want\"" "(vendor $vendor)"
expect_eq bootcfg.grub_rest_kept "$(grep -v '^GRUB_CMDLINE_LINUX_DEFAULT=' /etc/default/grub | md5sum)" "$(grep -v '^GRUB_CMDLINE_LINUX_DEFAULT=' /tmp/grub.before | md5sum)" "(every other line byte for byte)"
expect_eq bootcfg.grub_refresh_ran "$(cat "$LOG" 2>&1)" "update-grub " "(the stub's record)"
cp /etc/default/grub /tmp/grub.after
cli enable-iommu --yes
expect_rc bootcfg.grub_again_exit 0
if cmp -s /etc/default/grub /tmp/grub.after && [ "$(wc -l <"$LOG")" = 1 ]; then
    pass bootcfg.grub_again_changed_nothing "file unchanged, refresh not run again (the running kernel has the options)"
else
    fail bootcfg.grub_again_changed_nothing "$(diff /tmp/grub.after /etc/default/grub | tr '\n' ' ') log: $(tr '\n' ';' <"$LOG")"
fi
cleanup

# 2. Proxmox VE on legacy BIOS: proxmox-boot-tool with GRUB.
mkdir -p /etc/default /etc/kernel
printf 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="Proxmox VE"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="root=ZFS=rpool/ROOT/pve-1 boot=zfs"\n' >/etc/default/grub
echo "ABCD-1234" >/etc/kernel/proxmox-boot-uuids
stub /usr/sbin/proxmox-boot-tool
cli enable-iommu --yes
expect_rc bootcfg.pve_yes_exit 0
expect_eq bootcfg.pve_line "$(grep '^GRUB_CMDLINE_LINUX_DEFAULT=' /etc/default/grub)" "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet $want\""
expect_eq bootcfg.pve_refresh_ran "$(cat "$LOG" 2>&1)" "proxmox-boot-tool refresh" "(the stub's record)"
cleanup
