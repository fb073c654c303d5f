# shellcheck shell=sh
# reset: VF count back to 0; everything hanging off the VFs goes with them.
CFG=/tb/guest/configs/guide.toml
cli setup --config "$CFG"
expect_rc reset.setup 0
require_vfs reset.precondition 7 || return 0
g6=$(vf_group 6)
cli reset eth0
if [ "$CLI_RC" != 0 ]; then
    note "plain reset refused (exit $CLI_RC); retrying with --allow-recreate"
    expect_eq reset.refusal_changed_nothing "$(numvfs)" 7
    cli reset eth0 --allow-recreate
fi
expect_rc reset.exit 0
expect_eq reset.numvfs "$(numvfs) $([ -e "$PFDEV/virtfn0" ] && echo virtfn0 || echo none)" "0 none" "(sysfs)"
expect_eq reset.vf_netdevs_gone "$(ip -br link | grep -c 'eth0pve\|eth1lxc')" 0 "(ip -br link)"
expect_eq reset.vfs_gone_from_ip "$(ip -j -d link show dev "$PF" | jq '.[0].vfinfo_list | length')" 0
expect_eq reset.route_gone "$(ip -j route show default | jq length)" 0
expect_eq reset.vfio_node_gone "$([ -n "$g6" ] && [ -e "/dev/vfio/$g6" ] && echo present || echo gone)" gone
cli reset eth0
expect_rc reset.again_is_noop 0
cli reset 0000:01:00.0
expect_rc reset.by_pci 0
cli reset eth9
if [ "$CLI_RC" != 0 ]; then pass reset.unknown_pf "exit $CLI_RC"; else fail reset.unknown_pf "exit 0"; fi

# On a terminal, setup shows progress while it waits for the VFs; with stderr
# in a file it stays quiet.
if [ -x /tb/bin/script ] && [ -e /dev/pts/ptmx ]; then
    timeout 120 /tb/bin/script -q -e -c "/tb/bin/sriov-cli setup --config $CFG" /dev/null >/tmp/tty.out 2>&1
    rc=$?
    expect_eq reset.tty_setup_exit "$rc" 0
    expect_eq reset.tty_numvfs "$(numvfs)" 7 "(sysfs)"
    expect_eq reset.tty_progress "$(tr '\r' '\n' </tmp/tty.out | grep -c 'waiting for the VFs of .*: 7/7 ready')" 1 "(stderr on a pty)"
else
    fail reset.tty_progress "no script(1) or devpts in the guest"
fi
cli reset eth0 --allow-recreate
expect_rc reset.after_tty 0
cli setup --config "$CFG"
expect_rc reset.quiet_setup_exit 0
expect_eq reset.quiet_numvfs "$(numvfs)" 7 "(sysfs)"
expect_eq reset.no_progress_off_tty "$(grep -c 'waiting for the VFs' "$CLI_ERR")" 0 "(stderr in a file)"
cli reset eth0 --allow-recreate
expect_rc reset.final 0
expect_eq reset.final_numvfs "$(numvfs)" 0 "(sysfs)"
