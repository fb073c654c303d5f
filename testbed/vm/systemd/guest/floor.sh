#!/bin/bash
# The kernel floor of the guide's layout (testbed/vm/guest/configs/guide.toml
# with the PF up, as the bed's config has it), run by tb-floor.service at the
# place sriov-vfs.service has in the boot, on the first boot of a run (before
# sriov-cli is installed). The same kernel work as `sriov-cli setup` with the
# least user space: sysfs writes from the shell and two `ip -batch` runs of
# iproute2, in the order setup uses (VF attributes before the VF drivers probe,
# VF 6 straight to vfio-pci, renames once udev is idle: on a host with udev a
# rename before that is undone by udev's own).
# Writes /var/lib/tb/floor: "<floor us> <its parts>". The driver undoes the layout.
set -u
exec >/var/lib/tb/floor.log 2>&1
PCI=0000:01:00.0
DEV=/sys/bus/pci/devices/$PCI
# Times: ${EPOCHREALTIME/./}, microseconds, without a subshell.
# Polling without a process per step (under TCG a fork+exec costs tens of
# milliseconds): a 2 ms sleep is a read timeout on a pipe nobody writes to.
exec 9<> <(:)
nap() { read -r -t 0.002 -u 9 _; }
carrier_of() { local c; read -r c <"/sys/class/net/$1/carrier" 2>/dev/null; [ "$c" = 1 ]; }

# Not timed: the PF's driver and udev's name for it (sriov-vfs.service waits
# for the same before it starts: its device dependency).
for _ in $(seq 600); do
    pf=$(ls "$DEV/net" 2>/dev/null | head -n1)
    if [ -n "$pf" ] && [ -e "/run/udev/data/n$(cat "$DEV/net/$pf/ifindex")" ]; then break; fi
    pf=""
    sleep 0.05
done
[ -n "$pf" ] || { echo "no PF netdev at $PCI"; exit 1; }
echo "PF $pf"

wait_carrier() { local n; for ((n = 0; n < 5000; n++)); do carrier_of "$pf" && break; nap; done; }
t0=${EPOCHREALTIME/./}
# The phases of `sriov-cli setup` (sriov-cli/src/apply/phases.rs), each with
# the least user space. Links: the PF up (the config's `up = true`), a wait
# for its carrier.
ip link set "$pf" up
wait_carrier
t1=${EPOCHREALTIME/./}
# Counts: autoprobe off around the write (the VFs get no driver yet), then
# the wait for the PF's link, which the count write resets.
echo 0 >"$DEV/sriov_drivers_autoprobe"
echo 7 >"$DEV/sriov_numvfs" || exit 1
echo 1 >"$DEV/sriov_drivers_autoprobe"
wait_carrier
t2=${EPOCHREALTIME/./}
# PF-side VF attributes: one batch.
ip -batch - <<EOF || exit 1
link set $pf vf 0 trust on
link set $pf vf 1 vlan 50
link set $pf vf 1 mac 02:00:00:01:00:50
link set $pf vf 2 vlan 60 qos 3
link set $pf vf 3 vlan 70
link set $pf vf 4 vlan 50
link set $pf vf 4 spoofchk on
link set $pf vf 5 vlan 70 qos 5
link set $pf vf 5 mac 02:00:00:01:00:70
link set $pf vf 5 spoofchk off
link set $pf vf 6 vlan 50
link set $pf vf 6 mac 02:00:00:01:06:50
EOF
t3=${EPOCHREALTIME/./}
# Drivers: VF 6 to vfio-pci, all seven probed at once.
vfs=()
for i in 0 1 2 3 4 5 6; do x=$(readlink "$DEV/virtfn$i"); vfs[$i]=${x##*/}; done
echo vfio-pci >"/sys/bus/pci/devices/${vfs[6]}/driver_override"
for i in 0 1 2 3 4 5 6; do
    (echo "${vfs[$i]}" >/sys/bus/pci/drivers_probe) &
done
wait
t4=${EPOCHREALTIME/./}
# The VF netdevs, then udev idle: renamed by udev, not under our feet. (A
# netdev's udev database entry, /run/udev/data/n<ifindex>, is not enough: this
# script saw udev rename a VF netdev after its entry existed, "Cannot find
# device" on the rename below.)
names=()
for ((n = 0; n < 10000; n++)); do
    ok=1
    for i in 0 1 2 3 4; do
        x=("$DEV/virtfn$i/net"/*)
        [ -e "${x[0]}" ] || { ok=0; break; }
    done
    [ $ok = 1 ] && break
    nap
done
udevadm settle -t 30
for i in 0 1 2 3 4; do x=("$DEV/virtfn$i/net"/*); names[$i]=${x[0]##*/}; done
t5=${EPOCHREALTIME/./}
want=(eth0pve0 eth0pve050 eth0pve060 eth0pve070 eth1lxc9999v050)
{
    for i in 0 1 2 3 4; do
        echo "link set dev ${names[$i]} name ${want[$i]}"
    done
    cat <<EOF
link set dev eth0pve0 promisc on
link set dev eth0pve070 mtu 9000
link set dev eth0pve0 up
link set dev eth0pve050 up
link set dev eth0pve060 up
link set dev eth0pve070 up
link set dev eth1lxc9999v050 up
address add 10.0.50.100/24 dev eth0pve050
address add 10.2.60.100/24 dev eth0pve060
address add 10.2.70.100/24 dev eth0pve070
route add default via 10.0.50.1
EOF
} >/run/tb-floor.batch
ip -batch /run/tb-floor.batch || exit 1
t6=${EPOCHREALTIME/./}
echo "$((t6 - t0)) pf_link=$((t1 - t0)) numvfs+link=$((t2 - t1)) vf_attrs=$((t3 - t2)) probe=$((t4 - t3)) netdevs+udev=$((t5 - t4)) links=$((t6 - t5))" >/var/lib/tb/floor
cat /var/lib/tb/floor
# Not verified as the checks verify sriov-vfs.service's result (the floor is a
# timing), but shown: the names and VF 6's driver it ended with.
for i in 0 1 2 3 4 5 6; do echo "vf $i: $(ls "$DEV/virtfn$i/net" 2>/dev/null) $(basename "$(readlink "$DEV/virtfn$i/driver")")"; done
