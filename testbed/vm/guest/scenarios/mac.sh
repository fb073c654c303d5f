# shellcheck shell=sh
# A VF netdev whose driver kept an older MAC: igbvf reads the MAC the PF set
# only when it loads. Changing a configured MAC on a running host makes setup
# reload the VF driver (only with --force-unbind when the netdev is in use) and
# restore the netdev's name and link settings from the config.
NEW=02:00:00:01:04:51
# The PF starts down; the config's PF-level `up = true` brings it up (and waits
# for its carrier) before the VFs are created.
CFG=/tmp/pfup.toml
awk '{ print } /^num_vfs = 7/ { print "up = true" }' /tb/guest/configs/guide.toml >"$CFG"
ip link set "$PF" down
# Without `up = true` the plan says why a PF that is down is a problem for igb.
cli setup --config /tb/guest/configs/guide.toml --dry-run --json
if json_true "$CLI_OUT" '[.warnings[] | select(contains("is down: igb gives its VFs no MAC address") and contains("up = true"))] | length == 1'; then
    pass mac.pf_down_warned "$(jq -r '.warnings[] | select(contains("is down"))' "$CLI_OUT" | cut -c1-120)"
else
    fail mac.pf_down_warned "want the PF-down warning: $(jq -c .warnings "$CLI_OUT" 2>&1 | cut -c1-250)"
fi
cli setup --config "$CFG" --dry-run --json
expect_eq mac.pf_down_not_warned_with_up "$(jq '[.warnings[] | select(contains("is down"))] | length' "$CLI_OUT")" 0 "(dry run of the config with up = true)"
cli setup --config "$CFG" --json
expect_rc mac.first_run 0
if json_true "$CLI_OUT" '[.changes[] | select(.step == "pf_link" and .attr == "up" and .from == "down" and .to == "up" and .status == "applied")] | length == 1'; then
    pass mac.pf_link_applied "pf_link up: down -> up"
else
    fail mac.pf_link_applied "$(jq -c '[.changes[] | select(.step == "pf_link")]' "$CLI_OUT" 2>&1 | cut -c1-200)"
fi
expect_eq mac.pf_carrier "$(cat "/sys/class/net/$PF/carrier" 2>&1)" 1 "(the PF's link after setup)"
if require_vfs mac.precondition 7; then
    expect_eq mac.vf1_netdev_mac "$(cat /sys/class/net/eth0pve050/address 2>&1)" "02:00:00:01:00:50" "(VFs created by setup: MAC set before igbvf probed)"
    OLD=$(cat /sys/class/net/eth1lxc9999v050/address 2>&1)
    # VF 4 (eth1lxc9999v050, up) gets a MAC in a copy of the config.
    awk -v m="$NEW" '{ print } /^name = "eth1lxc9999v050"/ { print "mac = \"" m "\"" }' "$CFG" >/tmp/mac.toml
    expect_eq mac.config_changed "$(grep -c "$NEW" /tmp/mac.toml)" 1 "(/tmp/mac.toml)"

    cli setup --config /tmp/mac.toml
    expect_rc mac.busy_exit 1
    if grep -q -- '--force-unbind' "$CLI_OUT" && grep -q 'eth1lxc9999v050' "$CLI_OUT"; then
        pass mac.busy_says_how "$(grep -m1 -- '--force-unbind' "$CLI_OUT" | cut -c1-160)"
    else
        fail mac.busy_says_how "$(head -c 300 "$CLI_OUT")"
    fi
    expect_eq mac.busy_pf_side "$(vf_info 4 .address)" "$NEW" "(ip -d link: the PF has the new MAC)"
    expect_eq mac.busy_netdev_untouched "$(cat /sys/class/net/eth1lxc9999v050/address 2>&1) $(vf_driver 4)" "$OLD igbvf" "(netdev not reloaded without --force-unbind)"

    cli status
    expect_rc mac.status_exit 0
    if grep -q "VF 4: netdev eth1lxc9999v050 uses MAC $OLD, but the PF set $NEW" "$CLI_ERR"; then
        pass mac.status_names_stale_mac "$(grep -m1 'VF 4: netdev' "$CLI_ERR" | cut -c1-150)"
    else
        fail mac.status_names_stale_mac "stderr: $(cli_err_line)"
    fi
    if head -n1 "$CLI_OUT" | grep -q '  link up$'; then pass mac.status_pf_link "$(head -n1 "$CLI_OUT" | cut -c1-150)"; else
        fail mac.status_pf_link "$(head -n1 "$CLI_OUT")"; fi
    cli setup --config /tmp/mac.toml --force-unbind
    expect_rc mac.forced_exit 0
    expect_eq mac.forced_netdev_mac "$(cat /sys/class/net/eth1lxc9999v050/address 2>&1)" "$NEW" "(igbvf reloaded, netdev renamed back)"
    if ip -br link show dev eth1lxc9999v050 2>/dev/null | grep -q '[<,]UP[,>]'; then
        pass mac.forced_up_again "$(ip -br link show dev eth1lxc9999v050)"
    else
        fail mac.forced_up_again "$(ip -br link show dev eth1lxc9999v050 2>&1)"
    fi
    cli setup --config /tmp/mac.toml --json
    expect_rc mac.converged_exit 0
    if json_true "$CLI_OUT" '.changes | length == 0'; then pass mac.converged '{"changes": []}'; else
        fail mac.converged "$(jq -c '[.changes[]? | {vf, attr, from, to, status}]' "$CLI_OUT" 2>&1 | cut -c1-250)"; fi
fi
# On a terminal, bringing the PF up says that setup waits for its carrier.
cli reset "$PF" --allow-recreate
ip link set "$PF" down
if [ -x /tb/bin/script ] && [ -e /dev/pts/ptmx ]; then
    timeout 120 /tb/bin/script -q -e -c "/tb/bin/sriov-cli setup --config $CFG" /dev/null >/tmp/tty.out 2>&1
    expect_eq mac.tty_exit "$?" 0
    expect_eq mac.tty_carrier_progress "$(tr '\r' '\n' </tmp/tty.out | grep -c "bringing PF $PF up, waiting for its carrier")" 1 "(stderr on a pty)"
else
    fail mac.tty_carrier_progress "no script(1) or devpts in the guest"
fi
ip link set "$PF" down
