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
