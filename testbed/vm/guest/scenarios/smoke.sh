# shellcheck shell=sh
# Kernel-level smoke test of the bed itself, no sriov-cli: the raw sysfs and
# iproute2 interfaces behave as vm-testbed.md describes.

expect_eq smoke.pf_driver "$(basename "$(readlink "$PFDEV/driver")")" igb
expect_eq smoke.totalvfs "$(cat "$PFDEV/sriov_totalvfs")" 7
expect_eq smoke.numvfs_zero "$(numvfs)" 0

t0=$(date +%s)
if echo 7 >"$PFDEV/sriov_numvfs"; then pass smoke.write_numvfs "echo 7 > sriov_numvfs"; else fail smoke.write_numvfs "write failed"; fi
if wait_until 20 all_vf_netdevs 7; then
    pass smoke.vf_netdevs "7 igbvf netdevs in $(( $(date +%s) - t0 )) s"
else
    fail smoke.vf_netdevs "only $(count_vf_netdevs) VF netdevs after 20 s"
fi
addrs=""
i=0
while [ $i -lt 7 ]; do addrs="$addrs $(vf_addr $i)"; i=$((i + 1)); done
expect_eq smoke.virtfn_links "$(echo $addrs)" "0000:01:10.0 0000:01:10.2 0000:01:10.4 0000:01:10.6 0000:01:11.0 0000:01:11.2 0000:01:11.4"
expect_eq smoke.vf_driver "$(vf_driver 0)" igbvf
expect_eq smoke.physfn "$(basename "$(readlink "$PFDEV/virtfn3/physfn")")" "$(basename "$(readlink "$PFDEV")")"

ip -d link show dev "$PF" | indent 20
if ip link set "$PF" vf 0 vlan 5 qos 2; then pass smoke.ip_set_vlan "ip link set $PF vf 0 vlan 5 qos 2"; else fail smoke.ip_set_vlan "ip refused"; fi
expect_eq smoke.ip_read_vlan "$(vf_info 0 '.vlan_list[0].vlan')/$(vf_info 0 '.vlan_list[0].qos')" "5/2" "(ip -j -d link)"
ip link set "$PF" vf 1 mac 02:00:00:00:01:01
expect_eq smoke.ip_read_mac "$(vf_info 1 '.address')" "02:00:00:00:01:01"

if [ "$TB_VARIANT" = none ]; then
    expect_eq smoke.iommu_groups "$(vf_group 0)" "" "(no IOMMU: no groups)"
else
    g0=$(vf_group 0) g6=$(vf_group 6)
    if [ -n "$g0" ] && [ -n "$g6" ] && [ "$g0" != "$g6" ]; then
        pass smoke.iommu_groups "VF0 group $g0, VF6 group $g6"
    else
        fail smoke.iommu_groups "VF0 group '$g0', VF6 group '$g6'"
    fi
fi

echo 0 >"$PFDEV/sriov_numvfs"
expect_eq smoke.numvfs_back_to_zero "$(numvfs)/$([ -e "$PFDEV/virtfn0" ] && echo virtfn0 || echo none)" "0/none"
