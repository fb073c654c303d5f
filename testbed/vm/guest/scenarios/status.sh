# shellcheck shell=sh
# status and stats agree with sysfs and iproute2.
CFG=/tb/guest/configs/guide.toml
cli setup --config "$CFG"
expect_rc status.setup 0
require_vfs status.precondition 7 || return 0

cli status --json
expect_rc status.json_exit 0
cp "$CLI_OUT" /tmp/status.json
# The VF objects, wherever they sit: objects with an index and a VF PCI address.
vfs_json='[.. | objects | select(has("index") and ((.address? // "") | tostring | startswith("0000:01:1")))]'
sj() { jq -r "$vfs_json | map(select(.index == $1)) | first | $2" /tmp/status.json 2>/dev/null; }
n=$(jq "$vfs_json | length" /tmp/status.json 2>/dev/null)
expect_eq status.vf_count "$n" 7 "(VFs in status --json)"

for field in address driver netdev iommu_group vfio_dev mac vlan trust spoofchk; do
    got="" want=""
    i=0
    while [ $i -lt 7 ]; do
        case $field in
            address) g=$(sj $i .address); w=$(vf_addr $i) ;;
            driver) g=$(sj $i '.driver // ""'); w=$(vf_driver $i) ;;
            netdev) g=$(sj $i '(.netdev // .netdevs[0]?) // ""'); w=$(vf_netdev $i) ;;
            iommu_group) g=$(sj $i '.iommu_group // ""'); w=$(vf_group $i) ;;
            vfio_dev) g=$(sj $i '.vfio_dev // ""')
                      w=""; [ "$(vf_driver $i)" = vfio-pci ] && w=/dev/vfio/$(vf_group $i) ;;
            mac) g=$(sj $i '((.attrs // .).mac // "") | ascii_downcase'); w=$(vf_info $i .address) ;;
            vlan) g=$(sj $i '((.attrs // .).vlan) as $v | if ($v | type) == "object" then "\($v.vlan)/\($v.qos // 0)" elif $v == null then "0/0" else "\($v)/?" end')
                  w="$(vf_info $i '.vlan_list[0].vlan // 0')/$(vf_info $i '.vlan_list[0].qos // 0')" ;;
            trust) g=$(sj $i '(.attrs // .).trust'); w=$(vf_info $i .trust) ;;
            spoofchk) g=$(sj $i '(.attrs // .).spoofchk'); w=$(vf_info $i .spoofchk) ;;
        esac
        got="$got $i=$g" want="$want $i=$w"
        i=$((i + 1))
    done
    expect_eq "status.vf_$field" "$(echo $got)" "$(echo $want)" "(status --json vs sysfs/ip)"
done

cli status
expect_rc_out status.text_exit 0
missing=""
i=0
while [ $i -lt 7 ]; do grep -q "$(vf_addr $i | cut -c6-)" "$CLI_OUT" || missing="$missing $(vf_addr $i)"; i=$((i + 1)); done
grep -q eth1lxc9999v050 "$CLI_OUT" || missing="$missing eth1lxc9999v050"
grep -q "/dev/vfio/$(vf_group 6)" "$CLI_OUT" || missing="$missing /dev/vfio/$(vf_group 6)"
expect_eq status.text_table "$missing" "" "(every VF address, a renamed netdev and the vfio node in the table)"
cli status eth0
expect_rc_out status.pf_arg_exit 0
cli status eth9
if [ "$CLI_RC" != 0 ]; then pass status.unknown_pf "exit $CLI_RC"; else fail status.unknown_pf "exit 0 for a PF that does not exist"; fi

# stats vs the PF's netlink VF stats, read by ip -s.
ip -s -j -d link show dev "$PF" >/tmp/ipstats.json
cli stats
expect_rc_out stats.text_exit 0
cli stats --format prometheus
expect_rc_out stats.prometheus_exit 0
bad=$(grep -vE '^#|^$' "$CLI_OUT" | grep -vE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+(\s+[0-9]+)?$' | head -n 3)
if [ -s "$CLI_OUT" ] && [ -z "$bad" ]; then pass stats.prometheus_format "$(grep -vc '^#' "$CLI_OUT") samples"; else
    fail stats.prometheus_format "malformed or empty: $bad"; fi
# igb keeps no per-VF counters (no ndo_get_vf_stats in igb_netdev_ops; the
# kernel's rtnl_fill_vfinfo sends IFLA_VF_STATS zeroed, which ip -s shows as
# 0): no per-VF sample at all, never a 0, and a note naming the PF.
zeros=$(jq -r '[.[0].vfinfo_list[] | .stats.rx.packets, .stats.tx.tx_packets] | map(select(. != 0)) | length' /tmp/ipstats.json)
# The VF netdevs' own counters may stand in (source="netdev"); the PF's
# zeroed ones never show (no source="pf" sample).
samples=$(grep -E '^sriov_vf_(rx|tx)_(packets|bytes)_total\{' "$CLI_OUT" | grep -c 'source="pf"')
expect_eq stats.uncounted_has_no_sample "$samples (ip -s: $zeros non-zero VF counters)" "0 (ip -s: 0 non-zero VF counters)" "(per-VF packet and byte samples from the PF)"
expect_match stats.uncounted_said "$(cat "$CLI_ERR")" "PF $PF \\(igb\\) keeps no per-VF counters"
expect_match stats.pf_gauges "$(cat "$CLI_OUT")" "sriov_pf_num_vfs\\{pf=\"$PF\",pf_address=\"[0-9a-f:.]+\"\\} [0-9]+"
