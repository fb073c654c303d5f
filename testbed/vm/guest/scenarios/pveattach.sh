# shellcheck shell=sh
# Attachments written into Proxmox VE guest configs against real igb VFs (no
# PVE here: /etc/pve is a plain directory, qm is examples/qm-double.rs):
# `generate lxc --ctid 101 --write` keeps every other byte of the container's
# config and a second run leaves it byte-identical; `generate hostpci --vm
# router0 --vmid 200 --write` attaches one VF by its resource mapping and one
# by address through the qm double, and a second run makes no qm call (the
# double's own log counts them).
old_host=$(hostname)
hostname pve1
cat >/tmp/pveattach.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 3

[[pf.vf]]
index = 0
vlan = 50
name = "eth1lxc101v050"
lxc = 101
addresses = ["10.0.50.100/24"]

[[pf.vf]]
index = 1
vlan = 60
driver = "vfio-pci"
vm = "router0"

[[pf.vf]]
index = 2
vlan = 70
driver = "vfio-pci"
vm = "router0"
TOML
cli setup --config /tmp/pveattach.toml
expect_rc pveattach.setup 0
require_vfs pveattach.precondition 3 || { hostname "$old_host"; return 0; }

# --- the container's config: description, net0, a raw key, a snapshot.
mkdir -p /etc/pve/lxc /etc/pve/qemu-server /etc/pve/mapping /run/lock
printf '%s\n' '#ct notes' 'arch: amd64' 'net0: name=eth0,bridge=vmbr0,type=veth' 'lxc.apparmor.profile: unconfined' '' '[snap1]' 'arch: amd64' >/etc/pve/lxc/101.conf
printf '%s\n' '#ct notes' 'arch: amd64' 'net0: name=eth0,bridge=vmbr0,type=veth' 'lxc.apparmor.profile: unconfined' \
    'lxc.net.1.type: phys' 'lxc.net.1.link: eth1lxc101v050' 'lxc.net.1.flags: up' 'lxc.net.1.ipv4.address: 10.0.50.100/24' \
    '' '[snap1]' 'arch: amd64' >/tmp/101.expected
chmod 0640 /etc/pve/lxc/101.conf
cli --config /tmp/pveattach.toml generate lxc --ctid 101 --write
expect_rc pveattach.lxc_exit 0
if cmp -s /etc/pve/lxc/101.conf /tmp/101.expected; then pass pveattach.lxc_bytes "every other byte kept"; else
    fail pveattach.lxc_bytes "$(diff /tmp/101.expected /etc/pve/lxc/101.conf | tr '\n' ' ' | cut -c1-200)"; fi
expect_eq pveattach.lxc_mode "$(stat -c %a /etc/pve/lxc/101.conf)" 640
[ -f /run/lock/lxc/pve-config-101.lock ] && pass pveattach.lxc_lock "/run/lock/lxc/pve-config-101.lock" || fail pveattach.lxc_lock "no lock file"
ino=$(stat -c %i /etc/pve/lxc/101.conf)
cli --config /tmp/pveattach.toml generate lxc --ctid 101 --write
expect_rc pveattach.lxc_again_exit 0
expect_match pveattach.lxc_again_says "$(cat "$CLI_OUT")" 'unchanged'
if cmp -s /etc/pve/lxc/101.conf /tmp/101.expected && [ "$(stat -c %i /etc/pve/lxc/101.conf)" = "$ino" ]; then
    pass pveattach.lxc_idempotent "byte-identical, not rewritten"; else fail pveattach.lxc_idempotent "changed on the second run"; fi

# --- the VM: q35, hostpci0 taken; VF 1 mapped on this node, VF 2 not.
a1=$(vf_addr 1) a2=$(vf_addr 2)
printf '%s\n' 'hostpci0: 0000:99:00.0,pcie=1' 'machine: q35' 'memory: 1024' >/etc/pve/qemu-server/200.conf
printf 'router0-v060\n\tmap node=pve1,path=%s,id=8086:10ca\n' "$a1" >/etc/pve/mapping/pci.cfg
export SRIOV_CLI_QM=/tb/bin/qm-double QM_DOUBLE_ROOT=/ QM_DOUBLE_LOG=/tmp/qm.log
rm -f /tmp/qm.log
cli --config /tmp/pveattach.toml generate hostpci --vm router0 --vmid 200 --write
expect_rc pveattach.qm_exit 0
expect_eq pveattach.qm_calls "$(grep -c -- '-> ok$' /tmp/qm.log 2>/dev/null)" 2 "(qm double's log)"
expect_eq pveattach.qm_conf "$(grep '^hostpci' /etc/pve/qemu-server/200.conf | tr '\n' ' ')" \
    "hostpci0: 0000:99:00.0,pcie=1 hostpci1: mapping=router0-v060,pcie=1 hostpci2: $a2,pcie=1 "
cli --config /tmp/pveattach.toml generate hostpci --vm router0 --vmid 200 --write
expect_rc pveattach.qm_again_exit 0
expect_eq pveattach.qm_again_calls "$(wc -l </tmp/qm.log)" 2 "(no new qm call)"
unset SRIOV_CLI_QM QM_DOUBLE_ROOT QM_DOUBLE_LOG
rm -rf /etc/pve /run/lock/lxc /run/lock/qemu-server
hostname "$old_host"
