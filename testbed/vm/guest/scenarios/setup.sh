# shellcheck shell=sh
# sriov-cli setup of the guide's layout; every claim read back with iproute2 and sysfs.
CFG=/tb/guest/configs/guide.toml

cli setup --config "$CFG" --dry-run --json
expect_rc setup.dry_run_exit 0
if json_true "$CLI_OUT" '((.changes | length) > 0) and ([.changes[] | select(.status != "planned")] | length == 0)'; then
    pass setup.dry_run_plan "$(jq '.changes | length' "$CLI_OUT") planned changes"
else
    fail setup.dry_run_plan "want a non-empty list of planned changes: $(head -c 200 "$CLI_OUT")"
fi
expect_eq setup.dry_run_changed_nothing "$(numvfs)" 0 "(sriov_numvfs after --dry-run)"
cli setup --config "$CFG" --dry-run
expect_rc_out setup.dry_run_text 0

pf_up_with_carrier setup.pf_carrier  # down again at the end, for the other scenarios
cli setup --config "$CFG" --json --timings
expect_rc setup.exit 0
# --timings: on stderr, after everything else, the phases and each kernel
# operation under its phase; the VFs for the host's driver are probed one by
# one after their PF-side settings, VF 6 goes straight to vfio-pci.
tl() { grep -Ec "^ +[0-9]+\.[0-9] ms  ($1)\$" "$CLI_ERR"; }
expect_eq setup.timings "$(tail -n1 "$CLI_ERR" | sed 's/^ *[0-9]*\.[0-9] ms  //') $(grep -c '^timings:$' "$CLI_ERR") $(tl 'num_vfs|driver|link') $(tl '  eth0: sriov_numvfs 7') $(tl '  eth0 vf [0-5]: probe') $(tl '  eth0 vf 6: driver vfio-pci') $(tl '  [a-z0-9]+: up') $(tl '  [a-z0-9]+: rename to [a-z0-9]+')" \
    "in all 1 3 1 6 1 5 5" "(stderr of setup --timings: total, header, 3 phases, count write, 6 probes, 1 vfio-pci bind, 5 ups, 5 renames)"

if json_true "$CLI_OUT" '(.changes | length) > 0'; then
    pass setup.json_changes "$(jq '.changes | length' "$CLI_OUT") changes"
else
    fail setup.json_changes "no changes listed on a fresh host: $(head -c 200 "$CLI_OUT")"
fi
if json_true "$CLI_OUT" '[.changes[] | select(.status != "applied")] | length == 0'; then
    pass setup.json_all_applied "every change applied"
else
    fail setup.json_all_applied "$(jq -c '[.changes[] | select(.status != "applied") | {vf, attr, status, detail}]' "$CLI_OUT" 2>&1 | cut -c1-250)"
fi

expect_eq setup.numvfs "$(numvfs)" 7 "(sysfs sriov_numvfs)"
vlanqos() { echo "$(vf_info "$1" '.vlan_list[0].vlan // 0')/$(vf_info "$1" '.vlan_list[0].qos // 0')"; }
expect_eq setup.vf0_trunk "$(vlanqos 0) trust=$(vf_info 0 .trust)" "0/0 trust=true" "(ip -d link)"
expect_eq setup.vf1_vlan_mac "$(vlanqos 1) $(vf_info 1 .address)" "50/0 02:00:00:01:00:50"
# The VF's own netdev uses the MAC the PF gave it: setup sets PF-side
# attributes before the VF driver first probes (igbvf reads the MAC once, at
# reset; a MAC set later needs the driver reloaded).
expect_eq setup.vf1_netdev_mac "$(cat /sys/class/net/eth0pve050/address 2>&1)" "02:00:00:01:00:50" "(sysfs address of eth0pve050)"
expect_eq setup.vf2_vlan_qos "$(vlanqos 2)" "60/3"
expect_eq setup.vf3_vlan "$(vlanqos 3)" "70/0"
expect_eq setup.vf4_vlan_spoofchk "$(vlanqos 4) spoofchk=$(vf_info 4 .spoofchk)" "50/0 spoofchk=true"
expect_eq setup.vf5_vlan_qos_spoofchk "$(vlanqos 5) spoofchk=$(vf_info 5 .spoofchk)" "70/5 spoofchk=false"
expect_match setup.vf5_auto_mac "$(vf_info 5 .address)" '^[0-9a-f][26ae]:[0-9a-f]{2}:[0-9a-f]{2}:01:00:70$' "(locally administered, node 01, VLAN 00:70)"
expect_eq setup.vf6_vlan_mac "$(vlanqos 6) $(vf_info 6 .address)" "50/0 02:00:00:01:06:50"

names="0:eth0pve0 1:eth0pve050 2:eth0pve060 3:eth0pve070 4:eth1lxc9999v050"
got="" want=""
for p in $names; do
    got="$got ${p%%:*}:$(vf_netdev "${p%%:*}")"; want="$want $p"
done
expect_eq setup.vf_names "$(echo $got)" "$(echo $want)" "(sysfs virtfnN/net)"
up=""
for n in eth0pve0 eth0pve050 eth0pve060 eth0pve070 eth1lxc9999v050; do
    up="$up $n:$(link_info "$n" '(.flags | index("UP")) != null')"
done
expect_eq setup.vf_up "$(echo $up)" "eth0pve0:true eth0pve050:true eth0pve060:true eth0pve070:true eth1lxc9999v050:true" "(ip -j link flags)"
expect_eq setup.trunk_promisc "$(link_info eth0pve0 '(.flags | index("PROMISC")) != null')" true
expect_eq setup.mtu "$(link_info eth0pve070 .mtu)" 9000
addrs=""
for n in eth0pve050 eth0pve060 eth0pve070; do
    addrs="$addrs $(ip -j addr show dev "$n" | jq -r '[.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"] | join(",")')"
done
expect_eq setup.addresses "$(echo $addrs)" "10.0.50.100/24 10.2.60.100/24 10.2.70.100/24" "(ip -j addr)"
expect_eq setup.default_route "$(ip -j route show default | jq -r '.[] | "\(.gateway) \(.dev)"')" "10.0.50.1 eth0pve050" "(ip -j route)"

expect_eq setup.vfio_driver "$(vf_driver 6)" vfio-pci "(sysfs virtfn6/driver)"
g=$(vf_group 6)
if [ -n "$g" ] && [ -c "/dev/vfio/$g" ]; then pass setup.vfio_node "/dev/vfio/$g"; else fail setup.vfio_node "group '$g', /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"; fi
expect_eq setup.vfio_no_netdev "$([ -e "$PFDEV/virtfn6" ] && echo virtfn6) [$(vf_netdev 6)]" "virtfn6 []" "(a vfio-pci VF has no netdev)"
expect_eq setup.other_vfs_igbvf "$(vf_driver 0) $(vf_driver 5)" "igbvf igbvf"

# The boot unit for this config waits for the PF's interface (its driver may
# load after the unit could start), named the way systemd names device units.
cli generate systemd-unit --config "$CFG"
expect_eq setup.unit_waits_for_pf "$(grep -c "^After=sys-subsystem-net-devices-$PF.device\$\|^Wants=sys-subsystem-net-devices-$PF.device\$" "$CLI_OUT")/$CLI_RC" 2/0 "(After= and Wants= on the PF's device unit, exit 0)"
ip link set "$PF" down
