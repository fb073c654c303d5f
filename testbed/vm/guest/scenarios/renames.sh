# shellcheck shell=sh
# A VF count change with --allow-recreate keeps the config's names: the VFs
# that carry them are destroyed with the old count, so the names are free again
# and must not count as "taken by another network interface". The recreated
# host must equal a fresh setup of the same config from 0 VFs, and a second run
# must change nothing. Everything is read back with sysfs and iproute2.
cat >/tmp/ren4.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 4

[[pf.vf]]
index = 0
name = "eth0pve0"
mac = "02:00:00:00:60:00"
up = true

[[pf.vf]]
index = 1
name = "eth0pve1"
vlan = 60
mac = "02:00:00:00:60:01"
up = true
addresses = ["10.0.60.100/24"]

[[pf.vf]]
index = 2
name = "eth0pve2"
vlan = 70
qos = 2
mac = "02:00:00:00:60:02"
up = true

[[pf.vf]]
index = 3
name = "eth0pve3"
mac = "02:00:00:00:60:03"
up = true
TOML
sed 's/^num_vfs = 4$/num_vfs = 6/' /tmp/ren4.toml >/tmp/ren6.toml
expect_eq renames.config "$(grep -c '^num_vfs = 6$' /tmp/ren6.toml) $(grep -c '^\[\[pf.vf\]\]$' /tmp/ren6.toml)" "1 4" "(/tmp/ren6.toml: the same 4 VF entries, 6 VFs)"

# ren_state FILE: what the config decides, per VF index (sysfs + ip -j -d link).
# VFs 4 and 5 are not in the config: their names are the kernel's (ethN, in
# probe order) and their MACs random (igbvf picks one when the PF set none),
# so for them only "has a netdev" and the link flags count.
ren_state() {
    {
        echo "numvfs $(numvfs)"
        _i=0
        while [ -e "$PFDEV/virtfn$_i" ]; do
            _n=$(vf_netdev "$_i")
            _pfside="vlan=$(vf_info "$_i" '.vlan_list[0].vlan // 0')/$(vf_info "$_i" '.vlan_list[0].qos // 0') spoofchk=$(vf_info "$_i" .spoofchk) trust=$(vf_info "$_i" .trust)"
            if [ -z "$_n" ]; then
                _net="net=(none)"
            else
                _up=$(link_info "$_n" '(.flags | index("UP")) != null')
                _v4=$(ip -j addr show dev "$_n" | jq -r '[.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"] | join(",")')
                case $_i in
                    0|1|2|3) _net="net=$_n mac=$(vf_info "$_i" .address) netdev_mac=$(cat "/sys/class/net/$_n/address")" ;;
                    *) _net="net=(kernel name)" ;;
                esac
                _net="$_net up=$_up inet=[$_v4]"
            fi
            echo "vf$_i drv=$(vf_driver "$_i") $_pfside $_net"
            _i=$((_i + 1))
        done
        # no interface left over with one of the config's names or addresses
        echo "names: $(ip -br link | awk '$1 ~ /^eth0pve/ { print $1 }' | sort | tr '\n' ' ')"
        echo "10.0.60.100 on: $(ip -j addr | jq -r '[.[] | select(any(.addr_info[]; .local == "10.0.60.100")) | .ifname] | join(",")')"
    } >"$1"
}

pf_up_with_carrier renames.pf_carrier  # VFs get their MACs only from a PF that is up; down again at the end
cli setup --config /tmp/ren4.toml
expect_rc_errors renames.setup4_exit 0
if require_vfs renames.precondition 4; then
    expect_eq renames.setup4_names "$(vf_netdev 0) $(vf_netdev 1) $(vf_netdev 2) $(vf_netdev 3)" "eth0pve0 eth0pve1 eth0pve2 eth0pve3" "(sysfs virtfnN/net)"
    expect_eq renames.setup4_addr "$(ip -4 -br addr show dev eth0pve1 2>&1 | awk '{ print $3 }')" "10.0.60.100/24" "(ip -4 -br addr)"

    # 4 -> 6 with the same names: the old VFs (and their names) go first.
    cli setup --config /tmp/ren6.toml --allow-recreate
    expect_rc_errors renames.recreate_exit 0
    expect_eq renames.recreate_numvfs "$(numvfs)" 6 "(sysfs sriov_numvfs)"
    expect_eq renames.recreate_names "$(vf_netdev 0) $(vf_netdev 1) $(vf_netdev 2) $(vf_netdev 3)" "eth0pve0 eth0pve1 eth0pve2 eth0pve3" "(sysfs virtfnN/net)"
    ren_state /tmp/ren.recreated
    indent <"/tmp/ren.recreated"

    # A second run on the recreated host changes nothing.
    cli setup --config /tmp/ren6.toml --json
    expect_rc_errors renames.recreated_second_exit 0
    if json_true "$CLI_OUT" '(.changes | length == 0) and ((.errors // []) | length == 0)'; then
        pass renames.recreated_second_json_empty '{"changes": []}'
    else
        fail renames.recreated_second_json_empty "$(jq -c '[.changes[]? | {vf, attr, from, to, status}] + [.errors[]?]' "$CLI_OUT" 2>&1 | cut -c1-250) $(head -c 100 "$CLI_OUT")"
    fi
    ren_state /tmp/ren.second
    if cmp -s /tmp/ren.recreated /tmp/ren.second; then pass renames.recreated_second_nothing_changed "sysfs + ip view identical"; else
        fail renames.recreated_second_nothing_changed "$(diff /tmp/ren.recreated /tmp/ren.second | grep '^[-+][^-+]' | tr '\n' ' ')"; fi

    # The reference: the same 6-VF config set up from 0 VFs (reset through sysfs).
    echo 0 >"$PFDEV/sriov_numvfs"
    expect_eq renames.reset_sysfs "$(numvfs) $(ip -br link | grep -c '^eth0pve')" "0 0" "(sysfs sriov_numvfs, ip -br link)"
    cli setup --config /tmp/ren6.toml
    expect_rc_errors renames.fresh_exit 0
    ren_state /tmp/ren.fresh
    indent <"/tmp/ren.fresh"
    expect_eq renames.fresh_numvfs "$(numvfs)" 6 "(sysfs: the reference itself is sound)"
    if cmp -s /tmp/ren.recreated /tmp/ren.fresh; then pass renames.recreated_equals_fresh "per-VF names, VLAN/QoS, MACs, flags, addresses"; else
        diff /tmp/ren.fresh /tmp/ren.recreated | sed 's/^/  | /'
        fail renames.recreated_equals_fresh "(- fresh, + recreated) $(diff /tmp/ren.fresh /tmp/ren.recreated | grep '^[-+][^-+]' | tr '\n' ' ')"; fi
    # Control: a second run after the fresh setup changes nothing either.
    cli setup --config /tmp/ren6.toml --json
    expect_rc_errors renames.fresh_second_exit 0
    if json_true "$CLI_OUT" '(.changes | length == 0) and ((.errors // []) | length == 0)'; then
        pass renames.fresh_second_json_empty '{"changes": []}'
    else
        fail renames.fresh_second_json_empty "$(jq -c '[.changes[]? | {vf, attr, from, to, status}] + [.errors[]?]' "$CLI_OUT" 2>&1 | cut -c1-250) $(head -c 100 "$CLI_OUT")"
    fi
fi
echo 0 >"$PFDEV/sriov_numvfs"
ip link set "$PF" down
