# shellcheck shell=sh
# VF netdevs that are bridge ports: the bridge holds a promiscuity reference on
# each port (ip -d: "promiscuity 1") without setting the port's own PROMISC
# flag. `promisc` in the config is that own flag (what `ip link set X promisc
# on|off` sets and `ip -j link` lists in "flags"): a promisc = false port of a
# bridge has converged, and a promisc = true port that lost its own flag must
# get it back although the bridge keeps it promiscuous anyway.
# Needs the bridge module (and its dependencies), loaded here on demand.
P0=pvbrport0 P2=pvbrport2
cat >/tmp/promisc.toml <<TOML
[[pf]]
name = "eth0"
num_vfs = 3

[[pf.vf]]
index = 0
name = "$P0"
promisc = false
up = true

[[pf.vf]]
index = 2
name = "$P2"
promisc = true
up = true
TOML

modfail=""
if [ -f /tb/modules/order.bridge ]; then
    while read -r m rest; do
        case $m in '#'*|'') continue ;; MISSING) modfail="$modfail $rest(missing)"; continue ;; esac
        grep -q "^${m%.ko} " /proc/modules || out=$(insmod "/tb/modules/$m" 2>&1) || modfail="$modfail $m($out)"
    done </tb/modules/order.bridge
else
    modfail="no /tb/modules/order.bridge in the image"
fi
ip link del br0 >/dev/null 2>&1
if [ -z "$modfail" ] && ip link add br0 type bridge vlan_default_pvid 0 && ip link set br0 up &&
    [ "$(link_info br0 '.linkinfo.info_kind')" = bridge ]; then
    pass promisc.bridge "br0 (ip -d: kind bridge, vlan_default_pvid 0)"
else
    fail promisc.bridge "no bridge: modules:$modfail; $(ip -d link show br0 2>&1 | tr '\n' ' ')"
fi

own_promisc() { link_info "$1" '(.flags | index("PROMISC")) != null'; }
promiscuity() { link_info "$1" '.promiscuity'; }

pf_up_with_carrier promisc.pf_carrier  # as on a Proxmox host; down again at the end
cli setup --config /tmp/promisc.toml
expect_rc_errors promisc.setup_exit 0
if require_vfs promisc.precondition 3; then
    expect_eq promisc.setup_names "$(vf_netdev 0) $(vf_netdev 2)" "$P0 $P2" "(sysfs virtfnN/net)"
    expect_eq promisc.setup_flags "$P0:$(own_promisc "$P0") $P2:$(own_promisc "$P2")" "$P0:false $P2:true" "(PROMISC in ip -j link flags, before bridging)"

    ip link set "$P0" master br0 && ip link set "$P2" master br0
    expect_eq promisc.ports "$(link_info "$P0" '.master // "-"') $(link_info "$P2" '.master // "-"') $(promiscuity "$P0")" "br0 br0 1" "(ip -d -j: master, and the bridge's promiscuity reference on $P0)"
    expect_eq promisc.port_own_flag "$(own_promisc "$P0")" false "(ip -j flags of $P0 as a bridge port: the bridge's reference is not the own flag)"

    # Bridged: setup converges, nothing accepted-but-ignored.
    cli setup --config /tmp/promisc.toml --json
    expect_rc_errors promisc.bridged_exit 0
    if json_true "$CLI_OUT" '[.changes[]? | select(.status != "applied")] | length == 0'; then
        pass promisc.bridged_nothing_unapplied "$(jq -c '[.changes[] | {vf, attr, status}]' "$CLI_OUT" | cut -c1-200)"
    else
        fail promisc.bridged_nothing_unapplied "$(jq -c '[.changes[] | select(.status != "applied") | {vf, attr, from, to, status, detail}]' "$CLI_OUT" 2>&1 | cut -c1-250)"
    fi
    expect_eq promisc.bridged_vf0_flags "$(own_promisc "$P0") $(link_info "$P0" '.master // "-"')" "false br0" "(ip -d -j link show $P0: PROMISC not in flags, still a port)"
    cli setup --config /tmp/promisc.toml --json
    expect_rc_errors promisc.bridged_second_exit 0
    if json_true "$CLI_OUT" '(.changes | length == 0) and ((.errors // []) | length == 0)'; then
        pass promisc.bridged_converged '{"changes": []}'
    else
        fail promisc.bridged_converged "$(jq -c '[.changes[]? | {vf, attr, from, to, status}] + [.errors[]?]' "$CLI_OUT" 2>&1 | cut -c1-250)"
    fi

    # VF 2 loses its own flag; the bridge keeps it promiscuous (promiscuity 1).
    ip link set "$P2" promisc off
    expect_eq promisc.vf2_flag_dropped "$(own_promisc "$P2") $(promiscuity "$P2") $(link_info "$P2" '.master // "-"')" "false 1 br0" "(ip -d -j: own flag off, bridge reference kept, still a port)"
    cli setup --config /tmp/promisc.toml
    expect_rc_errors promisc.restore_exit 0
    expect_eq promisc.vf2_flag_restored "$(own_promisc "$P2") $(link_info "$P2" '.master // "-"')" "true br0" "(PROMISC back in ip -j flags of $P2, still a port)"
    expect_eq promisc.vf0_still_off "$(own_promisc "$P0")" false "(ip -j flags of $P0)"
    cli setup --config /tmp/promisc.toml --json
    expect_rc_errors promisc.restored_second_exit 0
    if json_true "$CLI_OUT" '(.changes | length == 0) and ((.errors // []) | length == 0)'; then
        pass promisc.restored_converged '{"changes": []}'
    else
        fail promisc.restored_converged "$(jq -c '[.changes[]? | {vf, attr, from, to, status}] + [.errors[]?]' "$CLI_OUT" 2>&1 | cut -c1-250)"
    fi
fi
ip link del br0 >/dev/null 2>&1
expect_eq promisc.cleanup "$(ip -br link show type bridge | wc -l)" 0 "(br0 deleted)"
echo 0 >"$PFDEV/sriov_numvfs"
ip link set "$PF" down
