# shellcheck shell=sh
# vfio-pci binding and unbinding through setup, read back in sysfs and /dev/vfio.
cat >/tmp/vfio-on.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 3

[[pf.vf]]
index = 0
name = "hostvf0"

[[pf.vf]]
index = 1
vlan = 50
driver = "vfio-pci"

[[pf.vf]]
index = 2
driver = "vfio-pci"
TOML
sed 's/^driver = "vfio-pci"$/driver = "default"/' /tmp/vfio-on.toml >/tmp/vfio-off.toml

cli setup --config /tmp/vfio-on.toml
expect_rc vfio.bind_exit 0
require_vfs vfio.precondition 3 || return 0
g1=$(vf_group 1) g2=$(vf_group 2)
expect_eq vfio.bound "$(vf_driver 0) $(vf_driver 1) $(vf_driver 2)" "igbvf vfio-pci vfio-pci" "(sysfs driver links)"
if [ -n "$g1" ] && [ -c "/dev/vfio/$g1" ] && [ -c "/dev/vfio/$g2" ]; then pass vfio.nodes "/dev/vfio/$g1 /dev/vfio/$g2"; else
    fail vfio.nodes "groups '$g1' '$g2', /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"; fi
expect_eq vfio.netdevs "$(vf_netdev 0) [$(vf_netdev 1)] [$(vf_netdev 2)]" "hostvf0 [] []"
expect_eq vfio.vlan_kept "$(vf_info 1 '.vlan_list[0].vlan // 0')" 50 "(PF-side VLAN of a vfio VF)"

cli setup --config /tmp/vfio-on.toml --json
expect_rc vfio.bind_idempotent 0
json_true "$CLI_OUT" '.changes | length == 0' && pass vfio.bind_idempotent_json "" || fail vfio.bind_idempotent_json "$(head -c 200 "$CLI_OUT")"

cli setup --config /tmp/vfio-off.toml
expect_rc vfio.unbind_exit 0
expect_eq vfio.unbound "$(vf_driver 0) $(vf_driver 1) $(vf_driver 2)" "igbvf igbvf igbvf"
wait_until 5 test -n "$(vf_netdev 2)"
if [ -n "$(vf_netdev 1)" ] && [ -n "$(vf_netdev 2)" ]; then pass vfio.netdevs_back "$(vf_netdev 1) $(vf_netdev 2)"; else
    fail vfio.netdevs_back "VF1 '$(vf_netdev 1)' VF2 '$(vf_netdev 2)'"; fi
expect_eq vfio.nodes_gone "$([ -e "/dev/vfio/$g1" ] && echo "$g1 ")$([ -e "/dev/vfio/$g2" ] && echo "$g2")" "" "(/dev/vfio)"
expect_eq vfio.override_cleared "$(cat "$PFDEV/virtfn1/driver_override")" "(null)" "(driver_override)"

cli setup --config /tmp/vfio-on.toml
expect_rc vfio.rebind_exit 0
expect_eq vfio.rebound "$(vf_driver 1) $(vf_driver 2)" "vfio-pci vfio-pci"

# A driver change for a VF whose netdev is in use (up, with an address) is
# refused before anything changes, naming the VF, its netdev, why and
# --force-unbind; --force-unbind then does it. The config also carries a valid
# change (VF 2 to VLAN 77) so that a partial apply would show in the snapshot.
cat >/tmp/vfio-busy.toml <<'TOML'
[[pf]]
name = "eth0"
num_vfs = 3

[[pf.vf]]
index = 0
driver = "vfio-pci"

[[pf.vf]]
index = 1
vlan = 50
driver = "vfio-pci"

[[pf.vf]]
index = 2
vlan = 77
driver = "vfio-pci"
TOML
busy_line=$(grep -n '^driver' /tmp/vfio-busy.toml | head -n1 | cut -d: -f1)
a0=$(vf_addr 0) n0=$(vf_netdev 0)
ip link set dev "$n0" up && ip address add 10.9.0.1/24 dev "$n0"
if [ "$n0" = hostvf0 ] && [ "$(vf_driver 0)" = igbvf ] && [ "$(link_info "$n0" '(.flags | index("UP")) != null')" = true ] &&
    [ "$(ip -j addr show dev "$n0" | jq -r '.[0].addr_info[] | select(.family == "inet") | .local')" = 10.9.0.1 ]; then
    pass vfio.busy_precondition "VF 0 $a0 on igbvf, $n0 up with 10.9.0.1/24 (ip)"
else
    fail vfio.busy_precondition "VF 0 $a0 driver '$(vf_driver 0)' netdev '$n0': $(ip -br addr show dev "$n0" 2>&1)"
fi

busy_refused() { # PHASE WHY-REGEX: setup without --force-unbind exits 2, changes nothing, says why
    snapshot /tmp/busy.a
    cli setup --config /tmp/vfio-busy.toml
    snapshot /tmp/busy.b
    expect_rc "vfio.busy_$1.refused" 2
    if cmp -s /tmp/busy.a /tmp/busy.b; then pass "vfio.busy_$1.nothing_changed" "ip -d link, ip -br link/addr, routes, sysfs drivers, /dev/vfio"; else
        fail "vfio.busy_$1.nothing_changed" "$(diff /tmp/busy.a /tmp/busy.b | grep '^[-+][^-+]' | tr '\n' ' ')"; fi
    expect_eq "vfio.busy_$1.still_igbvf" "$(vf_driver 0) $(vf_netdev 0) $(vf_info 2 '.vlan_list[0].vlan // 0')" "igbvf $n0 0" "(sysfs driver, netdev; VF 2 VLAN not applied)"
    err=$(grep -m1 '^error:' "$CLI_ERR")
    expect_match "vfio.busy_$1.points_at_driver" "$err" "^error: /tmp/vfio-busy\\.toml:$busy_line:[0-9]+: " "(first error line starts with the VF 0 driver key's file:line:col)"
    expect_match "vfio.busy_$1.names_vf_netdev" "$err" "VF 0 .*$a0.*$n0" "(VF index, PCI address, netdev)"
    expect_match "vfio.busy_$1.says_why" "$err" "$2"
    expect_match "vfio.busy_$1.hint" "$err" '--force-unbind'
}
busy_refused up_addr "$n0 is up.*10\\.9\\.0\\.1|10\\.9\\.0\\.1.*$n0 is up"
# Down, but still with an address: still in use.
ip link set dev "$n0" down
busy_refused addr_only "$n0 has addresses.*10\\.9\\.0\\.1"
if grep -m1 '^error:' "$CLI_ERR" | grep -q "$n0 is up"; then fail vfio.busy_addr_only.accurate "says $n0 is up while it is down: $(cli_err_line)"; else
    pass vfio.busy_addr_only.accurate "does not claim $n0 is up"; fi
ip link set dev "$n0" up

cli setup --config /tmp/vfio-busy.toml --force-unbind
expect_rc vfio.force_unbind_exit 0
g0=$(vf_group 0)
expect_eq vfio.force_unbind_bound "$(vf_driver 0) $(vf_driver 1) $(vf_driver 2) [$(vf_netdev 0)]" "vfio-pci vfio-pci vfio-pci []" "(sysfs driver links, VF 0 netdev)"
if [ -n "$g0" ] && [ -c "/dev/vfio/$g0" ]; then pass vfio.force_unbind_node "/dev/vfio/$g0"; else
    fail vfio.force_unbind_node "group '$g0', /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"; fi
expect_eq vfio.force_unbind_netdev_gone "$(ip -br link | grep -c "^$n0 ")" 0 "(ip -br link)"
expect_eq vfio.force_unbind_rest_applied "$(vf_info 2 '.vlan_list[0].vlan // 0')" 77 "(VF 2 VLAN, ip -d link)"
expect_match vfio.force_unbind_warns "$(cat "$CLI_ERR" "$CLI_OUT")" "$n0" "(says which netdev it took away)"
cli setup --config /tmp/vfio-busy.toml
expect_rc vfio.force_unbind_idempotent 0
